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
        "sensitive-host-mount error service `app` mounts `~/.kube` writable: a host user's credentials",
    ];
    for w in want {
        assert!(messages.iter().any(|m| m.starts_with(w)), "missing `{w}` in {messages:#?}");
    }
    // Unset variables (`HOME` is a home), a data directory in a home, the syslog socket.
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

/// Every stack of ../shared/corpus: a hardening fix is offered only for an image not built here
/// whose catalog entry holds the fact it relies on (for the image's tag), and marked safe only
/// where the rule allows it: never for a read-only root, whose written paths are the image's
/// defaults only.
#[test]
fn corpus_hardening_fixes_rest_on_catalog_facts() {
    use stackfix::rules::{self, Applicability, RuleSettings};
    use stackfix::stack::catalog::Catalog;
    use stackfix::stack::{self as st, LoadOptions, Profiles};
    let Some(corpus) = crate::common::shared("corpus") else { return };
    let catalog = Catalog::builtin();
    let mut dirs = Vec::new();
    let mut pending = vec![corpus];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).unwrap().filter_map(|e| e.ok()) {
            if entry.path().is_dir() {
                pending.push(entry.path());
            }
        }
        dirs.push(dir);
    }
    let settings = RuleSettings {
        select: [
            "privilege-escalation-allowed",
            "capabilities-not-dropped",
            "writable-root-filesystem",
            "secret-in-environment",
            "root-user",
        ]
        .map(String::from)
        .to_vec(),
        ..Default::default()
    };
    let (mut fixes, mut safe, mut unfixed) = (0, 0, 0);
    for dir in dirs {
        let stack = st::load(&LoadOptions::new(dir.clone(), Vec::new(), Profiles::builtin()));
        for finding in rules::check(&stack, &settings) {
            let Some(fix) = finding.fix.as_ref().filter(|f| f.refused.is_none()) else {
                unfixed += 1;
                continue;
            };
            let name = finding.service.as_deref().unwrap();
            // The services the finding may come from: in the configurations holding its file.
            let services: Vec<&st::Service> = stack
                .configs
                .iter()
                .filter(|c| c.files.contains(&finding.file))
                .filter_map(|c| c.service(name))
                .collect();
            if finding.rule == "root-user" {
                // Only built images, to the user their Dockerfile names.
                assert!(
                    services
                        .iter()
                        .any(|s| s.build.is_some() && s.build_user.as_deref().is_some_and(|u| !u.contains('$'))),
                    "{}: root-user fix for `{name}` without a Dockerfile USER",
                    dir.display()
                );
                assert_eq!(fix.applicability, Applicability::Unsafe);
                fixes += 1;
                continue;
            }
            let images: Vec<&str> = stack
                .configs
                .iter()
                .filter(|c| c.files.contains(&finding.file))
                .filter_map(|c| c.service(name))
                .filter(|s| s.build.is_none())
                .filter_map(|s| s.image.as_ref().map(|i| i.value.as_str()))
                .collect();
            let known = |image: &&str| match finding.rule {
                "privilege-escalation-allowed" => catalog.no_new_privileges(image).is_some(),
                "capabilities-not-dropped" => catalog.capabilities(image).is_some(),
                "secret-in-environment" => catalog.file_variables(image).is_some(),
                _ => catalog.lookup(image).is_some_and(|m| m.entry.writes.is_some()),
            };
            assert!(
                images.iter().any(known),
                "{}: {} fix for `{name}` ({images:?}) without the catalog's fact",
                dir.display(),
                finding.rule
            );
            if fix.applicability == Applicability::Safe {
                assert!(
                    !["writable-root-filesystem", "secret-in-environment"].contains(&finding.rule),
                    "{}: {name}",
                    dir.display()
                );
                safe += 1;
            }
            fixes += 1;
        }
    }
    assert!(fixes > 10 && safe > 5 && unfixed > 1000, "{fixes} fixes ({safe} safe), {unfixed} unfixed");
}

/// compose refuses a legacy resource field beside a `deploy.resources` block that leaves its
/// spelling out (read as 0), as it refuses distinct values; a block of the other kind is fine.
#[test]
fn legacy_resource_fields_beside_a_deploy_block_are_refused_as_compose_refuses_them() {
    let dir = stack(
        "services:\n  a:\n    image: nginx:1.27\n    pids_limit: 100\n    deploy:\n      resources:\n        limits:\n          memory: 1g\n  b:\n    image: nginx:1.27\n    pids_limit: 100\n    mem_limit: 1g\n    deploy:\n      resources:\n        reservations:\n          memory: 512m\n",
    );
    let out = stackfix(dir.path(), &["check", "."]);
    assert_eq!(out.status.code(), Some(2));
    let text = crate::common::stderr(&out);
    assert!(
        text.contains("service `a` sets distinct values on `pids_limit` and `deploy.resources.limits.pids`"),
        "{text}"
    );
    assert!(!text.contains("service `b`"), "{text}");
    if let Some(compose) = crate::common::validator("compose") {
        let out = std::process::Command::new(compose).args(["config", "-q"]).current_dir(dir.path()).output().unwrap();
        assert!(String::from_utf8_lossy(&out.stderr).contains("services.a: can't set distinct values on 'pids_limit'"));
    }
}

/// A database restarted only on failure is still a server: its dependants wait for it to be
/// healthy, not to exit (which it never does), and it gets the production rules.
#[test]
fn a_server_restarted_on_failure_is_not_a_one_shot_job() {
    let dir = stack(
        "services:\n  db:\n    image: postgres:16.4\n    restart: on-failure\n    healthcheck:\n      test: [\"CMD\", \"pg_isready\"]\n  migrations:\n    image: ghcr.io/acme/app:1.0.0\n    command: app migrate\n    restart: on-failure\n    depends_on: [db]\n",
    );
    let out = stackfix(dir.path(), &["fix", "--diff", "--select", "depends-on-without-health-condition", "."]);
    let diff = stdout(&out);
    assert!(diff.contains("condition: service_healthy"), "{diff}");
    assert!(!diff.contains("service_completed_successfully"), "{diff}");
    let rules: Vec<String> = findings(dir.path(), "capabilities-not-dropped").into_iter().map(|f| f.2).collect();
    assert!(rules.iter().any(|m| m.contains("`db`")), "{rules:?}");
    assert!(!rules.iter().any(|m| m.contains("`migrations`")), "{rules:?}");
}

/// `secret-in-environment` and the fixes it meets: a literal becomes a variable first
/// (hardcoded-secret) and then a secret in the next pass; a read-only root and an `environment`
/// secret cannot go together (`docker compose up` refuses to copy it in), whichever rule comes
/// first; a health check that reads the variable keeps it.
#[test]
fn secrets_move_to_files_only_where_the_container_still_starts() {
    let run = |dir: &std::path::Path, rules: &str| {
        let out = stackfix(dir, &["fix", ".", "--select", rules, "--unsafe-fixes", "--color", "never"]);
        let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (fs::read_to_string(dir.join("docker-compose.yml")).unwrap(), said)
    };
    let literal =
        stack("services:\n  maria:\n    image: mariadb:11.4\n    environment:\n      MARIADB_ROOT_PASSWORD: example\n");
    let (text, _) = run(literal.path(), "hardcoded-secret,secret-in-environment");
    assert!(!text.contains("example"), "{text}");
    assert!(text.contains("MARIADB_ROOT_PASSWORD_FILE: /run/secrets/mariadb_root_password"), "{text}");
    assert!(text.contains("  mariadb_root_password:\n    environment: MARIADB_ROOT_PASSWORD\n"), "{text}");
    assert!(fs::read_to_string(literal.path().join(".env.example")).unwrap().contains("MARIADB_ROOT_PASSWORD="));

    // Both fixes in one run: the read-only root comes first, the secret is left with the reason.
    let postgres = "services:\n  db:\n    image: postgres:16.4\n    environment:\n      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}\n";
    let both = stack(postgres);
    let (text, said) = run(both.path(), "secret-in-environment,writable-root-filesystem");
    assert!(text.contains("read_only: true") && text.contains("POSTGRES_PASSWORD: ${"), "{text}");
    assert!(!text.contains("secrets:"), "{text}");
    assert!(said.contains("it has `read_only: true`, and compose copies"), "{said}");
    // With `read_only: false` the secret moves; a service with such a secret gets no read-only
    // root.
    let writable = stack(&postgres.replace("    environment:", "    read_only: false\n    environment:"));
    let (text, _) = run(writable.path(), "secret-in-environment");
    assert!(text.contains("POSTGRES_PASSWORD_FILE"), "{text}");
    let moved = stack(
        "services:\n  db:\n    image: postgres:16.4\n    environment:\n      POSTGRES_PASSWORD_FILE: /run/secrets/postgres_password\n    secrets: [postgres_password]\nsecrets:\n  postgres_password:\n    environment: POSTGRES_PASSWORD\n",
    );
    let (_, json) = check_json(moved.path(), &["--select", "writable-root-filesystem"]);
    let help = json["findings"][0]["help"].as_str().unwrap_or_default().to_string();
    assert!(help.contains("compose copies its secret `postgres_password`"), "{help}");
    assert!(json["findings"][0]["fix"]["available"] != true, "{json:#}");

    // A health check reading the variable from the container's environment keeps it.
    let probed = stack(
        "services:\n  db:\n    image: mysql:8.4\n    environment:\n      MYSQL_ROOT_PASSWORD: ${MYSQL_ROOT_PASSWORD:?set it}\n    healthcheck:\n      test: [\"CMD-SHELL\", \"mysqladmin ping -uroot -p$$MYSQL_ROOT_PASSWORD\"]\n",
    );
    let (text, _) = run(probed.path(), "secret-in-environment");
    assert!(!text.contains("_FILE"), "{text}");
    let out =
        stdout(&stackfix(probed.path(), &["check", ".", "--select", "secret-in-environment", "--color", "never"]));
    assert!(out.contains("its health check reads `MYSQL_ROOT_PASSWORD`"), "{out}");
}

/// What a review found `secret-in-environment` would break, each left for a person with why: an
/// empty value (compose mounts no secret for it), a development override that sets the variable
/// itself, a secret of that name with another source there, `extends` either way, a long-form
/// secret mounted elsewhere, a health check that runs a script, an `env_file` not readable here;
/// and `root-user` on an inline Dockerfile and on here-document bodies.
#[test]
fn secrets_and_users_are_not_moved_where_the_container_would_not_start() {
    let not_fixed = |files: &[(&str, &str)], rule: &str, why: &str| {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let path = dir.path().join(name);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
        let (_, json) = check_json(dir.path(), &["--select", rule]);
        let found = json["findings"].as_array().unwrap();
        assert!(!found.is_empty(), "{why}: no finding");
        for f in found {
            assert!(f["fix"]["available"] != true, "{why}: fixed {json:#}");
            assert!(f["help"].as_str().unwrap_or_default().contains(why), "{why}: {json:#}");
        }
    };
    let db = "services:\n  db:\n    image: postgres:16.4\n    read_only: false\n    environment:\n      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD}\n";
    let rule = "secret-in-environment";
    not_fixed(&[("docker-compose.yml", db), (".env", "POSTGRES_PASSWORD=\n")], rule, "is empty in `.env`");
    let prod = "services:\n  db:\n    restart: always\n";
    let dev = "services:\n  db:\n    environment:\n      POSTGRES_PASSWORD: devpassword\n";
    not_fixed(
        &[("docker-compose.yml", db), ("docker-compose.override.yml", dev), ("docker-compose.prod.yml", prod)],
        rule,
        "another configuration of the stack sets `POSTGRES_PASSWORD`",
    );
    let dev_secret = "secrets:\n  postgres_password:\n    file: ./dev.txt\n";
    not_fixed(
        &[
            ("docker-compose.yml", db),
            ("docker-compose.override.yml", dev_secret),
            ("docker-compose.prod.yml", prod),
            ("dev.txt", "x\n"),
        ],
        rule,
        "exists already, with another source",
    );
    let extended =
        format!("{db}  replica:\n    extends: db\n    environment:\n      POSTGRES_PASSWORD: ${{REPLICA_PASSWORD}}\n");
    not_fixed(&[("docker-compose.yml", &extended)], rule, "the environments merge");
    let target = format!(
        "{db}    secrets:\n      - source: postgres_password\n        target: pg_pass\nsecrets:\n  postgres_password:\n    environment: POSTGRES_PASSWORD\n"
    );
    not_fixed(&[("docker-compose.yml", &target)], rule, "at another path (`target:`)");
    let script = format!("{db}    healthcheck:\n      test: [\"CMD\", \"/healthchecks/postgres.sh\"]\n");
    not_fixed(&[("docker-compose.yml", &script)], rule, "runs `/healthchecks/postgres.sh`");
    let optional = format!("{db}    env_file:\n      - path: secrets.env\n        required: false\n");
    not_fixed(&[("docker-compose.yml", &optional)], rule, "could not be read here");

    let inline = "services:\n  tool:\n    build:\n      context: ./a\n      dockerfile_inline: \"FROM alpine:3.20\\nRUN apk add docker-cli\\n\"\n    user: root\n";
    not_fixed(
        &[("docker-compose.yml", inline), ("a/Dockerfile", "FROM alpine:3.20\nUSER app\n")],
        "root-user",
        "drop `user:`",
    );
    let heredoc = "FROM nginx:1.27\nCOPY <<CONF /etc/nginx/nginx.conf\nuser nginx;\nCONF\n";
    not_fixed(
        &[("docker-compose.yml", "services:\n  web:\n    build: ./web\n    user: root\n"), ("web/Dockerfile", heredoc)],
        "root-user",
        "drop `user:`",
    );
}
