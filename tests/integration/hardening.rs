//! The container-hardening rules on the inputs a review found them wrong on: compose's boolean
//! spellings, paths the kernel resolves, sources that depend on unset variables, severities that
//! follow what a path or capability reaches, and the `no-new-privileges` fix from the catalog.

use std::fs;

use crate::common::{check_json, stackfix, stdout};

fn findings(dir: &std::path::Path, rules: &str) -> Vec<(String, String, String)> {
    let (_, json) = check_json(dir, &["--select", rules]);
    json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let text = |k: &str| f[k].as_str().unwrap_or_default().to_string();
            (text("rule"), text("severity"), text("message"))
        })
        .collect()
}

fn stack(text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("docker-compose.yml"), text).unwrap();
    dir
}

#[test]
fn mounts_are_judged_as_docker_reads_them() {
    let dir = stack(
        "services:\n  app:\n    image: ghcr.io/acme/app:1\n    volumes:\n      - ${PWD}/etc:/app/etc\n      - $HOME/.kube:/kube\n      - ${DATA}:/hostetc\n      - /var/run/../../etc/shadow:/shadow:ro\n      - type: bind\n        source: /root\n        target: /r\n        read_only: True\n      - type: bind\n        source: /var/run/docker.sock/\n        target: /var/run/docker.sock\n      - /home/deploy/app/mysql:/var/lib/mysql\n      - /etc/letsencrypt:/etc/letsencrypt\n      - /dev/log:/dev/log\n",
    );
    fs::write(dir.path().join(".env"), "DATA=/etc\n").unwrap();
    let found = findings(dir.path(), "sensitive-host-mount,docker-socket-mount");
    let messages: Vec<String> = found.iter().map(|(r, s, m)| format!("{r} {s} {m}")).collect();
    let want = [
        "sensitive-host-mount error service `app` mounts `/etc` writable",
        "sensitive-host-mount warning service `app` mounts `/etc/shadow` read-only: the host's password hashes",
        "sensitive-host-mount warning service `app` mounts `/root` read-only",
        "docker-socket-mount error service `app` mounts the Docker socket (root on the host)",
        "sensitive-host-mount warning service `app` mounts `/etc/letsencrypt` writable",
    ];
    for w in want {
        assert!(messages.iter().any(|m| m.starts_with(w)), "missing `{w}` in {messages:#?}");
    }
    // Unset variables, a data directory in a home, the syslog socket.
    assert_eq!(messages.len(), want.len(), "{messages:#?}");
}

#[test]
fn capabilities_options_and_selection() {
    let dir = stack(
        "services:\n  db:\n    image: mysql:8.4\n    cap_add: [SYS_NICE]\n    security_opt:\n      - label=type:spc_t\n      - systempaths:unconfined\n",
    );
    let found = findings(dir.path(), "dangerous-capability,unconfined-security-profile");
    let got: Vec<(&str, &str)> = found.iter().map(|(r, s, _)| (r.as_str(), s.as_str())).collect();
    assert_eq!(got, [("dangerous-capability", "warning"), ("unconfined-security-profile", "error")], "{found:#?}");
    assert!(found[1].2.contains("unconfined SELinux type"), "{found:#?}");
    // `all` selects every rule and ignores every rule.
    let out = stackfix(dir.path(), &["check", "--select", "all", "--ignore", "all", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["findings"].as_array().unwrap().len(), 0);
}

/// What a new user's trial found: a tmpfs where a volume already mounts (compose refuses it),
/// a read-only root that would skip nginx's template rendering, privileged and one-shot services,
/// a read-only `/var/run`, a socket proxy told to use a socket proxy.
#[test]
fn read_only_roots_only_where_the_image_allows_them() {
    let dir = stack(
        "services:\n  cached:\n    image: nginx:1.27\n    volumes:\n      - nginx-cache:/var/cache/nginx\n  templated:\n    image: nginx:1.27\n    volumes:\n      - ./templates:/etc/nginx/templates:ro\n  tuned:\n    image: nginx:1.27\n    environment:\n      NGINX_ENTRYPOINT_WORKER_PROCESSES_AUTOTUNE: \"1\"\n  cadvisor:\n    image: gcr.io/cadvisor/cadvisor:v0.49.1\n    privileged: true\n    volumes:\n      - /var/run:/var/run:ro\n  migrate:\n    image: ghcr.io/acme/api:1.2\n    command: [\"alembic\", \"upgrade\", \"head\"]\n    restart: \"no\"\n  socket-proxy:\n    image: lscr.io/linuxserver/socket-proxy:1.26.2\n    volumes:\n      - /var/run/docker.sock:/var/run/docker.sock:ro\nvolumes:\n  nginx-cache:\n",
    );
    fs::create_dir(dir.path().join("templates")).unwrap();
    let (_, json) =
        check_json(dir.path(), &["--select", "writable-root-filesystem,sensitive-host-mount,docker-socket-mount"]);
    let found: Vec<(String, String, bool, String)> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let text = |k: &str| f[k].as_str().unwrap_or_default().to_string();
            (text("rule"), text("service"), f["fix"]["available"].as_bool().unwrap(), text("severity"))
        })
        .collect();
    let has = |rule: &str, service: &str, fix: bool| found.iter().any(|f| f.0 == rule && f.1 == service && f.2 == fix);
    assert!(has("writable-root-filesystem", "cached", true), "{found:#?}");
    assert!(has("writable-root-filesystem", "templated", false), "{found:#?}");
    assert!(has("writable-root-filesystem", "tuned", false), "{found:#?}");
    assert!(!found.iter().any(|f| f.0 == "writable-root-filesystem" && (f.1 == "cadvisor" || f.1 == "migrate")));
    let var_run = found.iter().find(|f| f.0 == "sensitive-host-mount" && f.1 == "cadvisor").unwrap();
    assert_eq!(var_run.3, "error", "{found:#?}");
    let proxy = &json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["service"] == "socket-proxy" && f["rule"] == "docker-socket-mount")
        .unwrap()["help"];
    assert!(proxy.as_str().unwrap().starts_with("a socket proxy: allow only the API sections"), "{proxy}");
    // The tmpfs goes only where no volume mounts, and compose accepts the result.
    let out = stackfix(dir.path(), &["fix", "--unsafe-fixes", "--select", "writable-root-filesystem"]);
    assert_eq!(out.status.code(), Some(1), "{}", crate::common::stderr(&out));
    let fixed = fs::read_to_string(dir.path().join("docker-compose.yml")).unwrap();
    assert!(
        fixed.contains("      - nginx-cache:/var/cache/nginx\n    read_only: true\n    tmpfs:\n      - /var/run\n"),
        "{fixed}"
    );
    if let Some(compose) = crate::common::validator("compose") {
        let ok = std::process::Command::new(compose).args(["config", "-q"]).current_dir(dir.path()).output().unwrap();
        assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    }
}
