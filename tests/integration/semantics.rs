//! Compose's own semantics (issue 14): stackfix reads `.env`, project directories, merge keys,
//! interpolation and legacy fields as `docker compose` does, and its fixes change what compose
//! will run only where they meant to — checked against the real `compose config` output.

use std::path::Path;
use std::process::Command;

use crate::common::*;
use crate::validators::compose;

/// `compose config --format json` of the project in `dir` (its default files).
fn compose_json(compose: &Path, dir: &Path) -> Result<serde_json::Value, String> {
    let out = Command::new(compose)
        .current_dir(dir)
        .env_remove("DOCKER_HOST")
        .env_remove("COMPOSE_FILE")
        .args(["--profile", "*", "config", "--format", "json"])
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())
}

#[test]
fn dotenv_is_read_as_compose_reads_it() {
    let lines = [
        "\u{feff}BOM=first",
        "PLAIN=1",
        "DQ=\"x\\ny\" # a comment",
        "SQ='sq $PLAIN'",
        "COMMENTED=unq # comment",
        "HASH=a#b",
        "export EXPORTED=${PLAIN}2",
        "MULTI=\"multi",
        "line\"",
        "SPACED= spaced ",
        "DEFAULTED=${UNSET_IN_THIS_TEST:-def}",
        "ESCAPED=\"a \\\"quote\\\" and \\\\ slash\"",
        "   # indented comment",
        "TABBED=v\t# tab comment",
        "SAME_A=\"x\" SAME_B=2",
        "SQESC='it\\'s'",
        "export\tTABEXP=4",
    ];
    let text = lines.join("\n") + "\n";
    let parsed = stackfix::stack::interpolate::parse_dotenv(&text);
    let names = [
        "SAME_A",
        "SAME_B",
        "SQESC",
        "TABEXP",
        "BOM",
        "PLAIN",
        "DQ",
        "SQ",
        "COMMENTED",
        "HASH",
        "EXPORTED",
        "MULTI",
        "SPACED",
        "DEFAULTED",
        "ESCAPED",
        "TABBED",
    ];
    for name in names {
        assert!(parsed.contains_key(name), "{name} not parsed: {parsed:?}");
    }
    let Some(compose) = compose() else { return };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env"), &text).unwrap();
    let mut yaml = String::from("services:\n  s:\n    image: busybox:1.37\n    environment:\n");
    for name in names {
        yaml.push_str(&format!("      {name}: \"${{{name}}}\"\n"));
    }
    std::fs::write(dir.path().join("docker-compose.yml"), yaml).unwrap();
    let json = compose_json(&compose, dir.path()).unwrap();
    for name in names {
        // compose prints a literal `$` as `$$`.
        let theirs = json["services"]["s"]["environment"][name].as_str().unwrap().replace("$$", "$");
        assert_eq!(parsed[name], theirs, "{name}");
    }
}

/// A stack of one compose file (and, when given, a `.env`) in a temporary directory.
fn project(compose: &str, env: Option<&[u8]>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("docker-compose.yml"), compose).unwrap();
    if let Some(env) = env {
        std::fs::write(dir.path().join(".env"), env).unwrap();
    }
    dir
}

/// The YAML files directly in `dir`.
fn yaml_files_in(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    files.sort();
    files
}

/// Fixes the stack in `dir` with `args`, snapshots the diff, and asserts with the real `compose
/// config` that what compose runs changed only under `allowed` (paths like `.services.api.deploy`).
fn fix_changes_only(dir: &Path, args: &[&str], snapshot: &str, allowed: &[&str]) {
    let mut diff_args = vec!["fix", "--diff", "--color", "never"];
    diff_args.extend_from_slice(args);
    let diff = stdout(&stackfix(dir, &diff_args));
    assert_snapshot(&repo().join("tests/integration/snapshots").join(format!("semantics__{snapshot}.snap")), &diff);
    let compose = compose();
    let before = compose.as_ref().map(|c| compose_json(c, dir).unwrap());
    let mut fix_args = vec!["fix"];
    fix_args.extend_from_slice(args);
    let out = stackfix(dir, &fix_args);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}{}", stdout(&out), stderr(&out));
    let (Some(compose), Some(before)) = (compose, before) else { return };
    // Variables the fixes now require are set, to anything.
    let files: Vec<std::path::PathBuf> = yaml_files_in(dir);
    let text: String = files.iter().map(|f| std::fs::read_to_string(f).unwrap_or_default()).collect();
    let mut cmd = Command::new(&compose);
    for name in crate::validators::variables(&files) {
        if text.contains(&format!("${{{name}:?")) {
            cmd.env(&name, "set-by-test");
        }
    }
    let out = cmd
        .current_dir(dir)
        .env_remove("DOCKER_HOST")
        .args(["--profile", "*", "config", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "compose refuses the fixed stack: {}", String::from_utf8_lossy(&out.stderr));
    let after: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut changed = Vec::new();
    stackfix::fuzzing::model_changes(&before, &after, "", &mut changed);
    let changed: Vec<String> = changed.into_iter().map(|p| format!(".{p}")).collect();
    assert!(!changed.is_empty(), "the fix changed nothing compose runs");
    // Extension fields (`x-…`) are not run; what their anchors give a service shows in it.
    for path in changed.iter().filter(|p| !p.starts_with(".x-")) {
        assert!(
            allowed.iter().any(|a| path.starts_with(a)),
            "`{path}` changed in what compose runs; only {allowed:?} were to change (all: {changed:?})"
        );
    }
}

/// Input 1: a merge key gives `deploy`; the limits go into a local copy, so `replicas` and the
/// merged CPU limit stay what compose ran before.
#[test]
fn limits_keep_what_a_merge_key_gave_deploy() {
    let dir = project(
        "x-defaults: &defaults\n  deploy:\n    replicas: 2\n    resources:\n      limits:\n        cpus: \"2\"\nservices:\n  api:\n    <<: *defaults\n    image: nginx:1.27\n",
        None,
    );
    fix_changes_only(
        dir.path(),
        &["--select", "no-resource-limits"],
        "merge-key-deploy",
        &[".services.api.deploy.resources.limits.memory", ".services.api.deploy.resources.reservations"],
    );
    // `api` is the anchor's only user: the anchor itself gets the limit.
    let text = std::fs::read_to_string(dir.path().join("docker-compose.yml")).unwrap();
    assert!(text.starts_with("x-defaults: &defaults\n  deploy:\n    replicas: 2\n"), "{text}");
    assert_eq!(text.matches("memory: 256M").count(), 1, "{text}");
}

/// Input 1 with several users of the anchor: what every user needs alike (log rotation) is
/// written once in the anchor; what they need differently (limits by image) goes into local
/// copies that keep what the merge gave.
#[test]
fn an_anchor_is_edited_once_where_its_users_agree_and_copied_where_they_differ() {
    let dir = project(
        "x-defaults: &defaults\n  deploy:\n    replicas: 2\n    resources:\n      limits:\n        cpus: \"2\"\n  logging:\n    driver: json-file\nservices:\n  api:\n    <<: *defaults\n    image: nginx:1.27\n  web:\n    <<: *defaults\n    image: nginx:1.27\n  app:\n    <<: *defaults\n    image: myorg/app:1.0\n",
        None,
    );
    let mut allowed = Vec::new();
    for service in ["api", "web", "app"] {
        allowed.push(format!(".services.{service}.logging.options"));
        allowed.push(format!(".services.{service}.deploy.resources.limits.memory"));
        allowed.push(format!(".services.{service}.deploy.resources.reservations"));
    }
    let allowed: Vec<&str> = allowed.iter().map(String::as_str).collect();
    // `app`'s limit is unsafe (its image is not one stackfix knows): taken too.
    let args = ["--select", "no-resource-limits,no-log-rotation", "--unsafe-fixes"];
    fix_changes_only(dir.path(), &args, "anchor-users-differ", &allowed);
    let text = std::fs::read_to_string(dir.path().join("docker-compose.yml")).unwrap();
    assert_eq!(text.matches("max-size: 10m").count(), 1, "written once, in the anchor: {text}");
    assert_eq!(text.matches("replicas: 2").count(), 4, "each copy keeps the replicas: {text}");
}

/// Input 2: two merge keys in one mapping are refused, as compose refuses them.
#[test]
fn two_merge_keys_in_one_mapping_are_a_located_error() {
    let dir = project(
        "x-a: &a\n  restart: always\nx-b: &b\n  image: nginx:1.27\nservices:\n  api:\n    <<: *a\n    <<: *b\n",
        None,
    );
    let out = stackfix(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("docker-compose.yml:8:5: mapping key `<<` already defined"), "{}", stderr(&out));
}

/// Input 3: legacy resource fields on the service: the limit goes there too (compose refuses
/// distinct values in both spellings).
#[test]
fn legacy_resource_fields_get_legacy_limits() {
    let dir = project("services:\n  api:\n    image: nginx:1.27\n    cpus: 2\n    mem_reservation: 1g\n", None);
    fix_changes_only(dir.path(), &["--select", "no-resource-limits"], "legacy-resources", &[".services.api.mem_limit"]);
    let text = std::fs::read_to_string(dir.path().join("docker-compose.yml")).unwrap();
    assert!(!text.contains("deploy"), "{text}");
}

/// Input 4: a published port written with a variable and a default is read as compose reads it,
/// shown as written, and bound to the loopback with the variable kept.
#[test]
fn ports_with_variables_are_read_and_fixed_as_written() {
    let dir = project(
        "services:\n  db:\n    image: postgres:16\n    environment:\n      POSTGRES_PASSWORD_FILE: /run/secrets/pg\n    ports: [\"${PG_PORT:-5432}:5432\"]\n",
        None,
    );
    let (_, json) = check_json(dir.path(), &["--select", "database-port-published"]);
    let message = json["findings"][0]["message"].as_str().unwrap().to_string();
    assert!(message.contains("publishes port ${PG_PORT:-5432} on all host interfaces"), "{message}");
    fix_changes_only(
        dir.path(),
        &["--select", "database-port-published", "--unsafe-fixes"],
        "port-variable",
        &[".services.db.ports.0.host_ip"],
    );
    let text = std::fs::read_to_string(dir.path().join("docker-compose.yml")).unwrap();
    assert!(text.contains("\"127.0.0.1:${PG_PORT:-5432}:5432\""), "{text}");
}

/// A container port without a published one (`"5432"`, `target:` alone) is published by the
/// engine on a port it picks, on every host interface: reported, and bound to the loopback with
/// the published port left for the engine to pick (`127.0.0.1::5432`).
#[test]
fn container_ports_the_engine_publishes_are_reported_and_bound_to_the_loopback() {
    let dir = project(
        "services:\n  db:\n    image: postgres:16\n    environment:\n      POSTGRES_PASSWORD_FILE: /run/secrets/pg\n    ports:\n      - \"5432\"\n      - \"0.0.0.0::5433\"\n      - target: 5434\n      - \"127.0.0.1::5435\"\n",
        None,
    );
    let (_, json) = check_json(dir.path(), &["--select", "database-port-published"]);
    let messages: Vec<&str> =
        json["findings"].as_array().unwrap().iter().filter_map(|f| f["message"].as_str()).collect();
    assert_eq!(
        messages,
        [5432, 5433, 5434].map(|p| format!(
            "postgres `db` publishes container port {p} on a random host port on all host interfaces"
        )),
        "{json:#}"
    );
    fix_changes_only(
        dir.path(),
        &["--select", "database-port-published", "--unsafe-fixes"],
        "container-ports",
        &[".services.db.ports.0.host_ip", ".services.db.ports.1.host_ip", ".services.db.ports.2.host_ip"],
    );
    let text = std::fs::read_to_string(dir.path().join("docker-compose.yml")).unwrap();
    assert!(text.contains("- \"127.0.0.1::5432\"\n      - \"127.0.0.1::5433\"\n"), "{text}");
    let (code, json) = check_json(dir.path(), &["--select", "database-port-published"]);
    assert_eq!(code, 0, "{json:#}");
    // A variable that writes several fields is read as compose reads it, interpolated; the
    // entry, and one whose address is a variable, are left for a person.
    let text = "services:\n  db:\n    image: postgres:16\n    environment:\n      POSTGRES_PASSWORD_FILE: /run/secrets/pg\n    ports:\n      - \"${PG_PORTS:-5432:5432}\"\n      - \"${HOST_IP}:5434:5432\"\n      - \"${LOCAL_SPEC:-127.0.0.1:5435:5432}\"\n";
    let dir = project(text, None);
    let (_, json) = check_json(dir.path(), &["--select", "database-port-published"]);
    let findings = json["findings"].as_array().unwrap();
    let messages: Vec<&str> = findings.iter().filter_map(|f| f["message"].as_str()).collect();
    assert_eq!(
        messages,
        [
            "postgres `db` publishes port 5432 on all host interfaces",
            "postgres `db` publishes port 5434 on all host interfaces"
        ],
        "{json:#}"
    );
    assert!(findings.iter().all(|f| f["fix"]["available"] == false), "{json:#}");
    let out = stackfix(dir.path(), &["fix", "--unsafe-fixes", "--select", "database-port-published"]);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(dir.path().join("docker-compose.yml")).unwrap(), text);
}

/// Input 5: a `.env` with a byte order mark keeps its first variable.
#[test]
fn a_dotenv_byte_order_mark_does_not_hide_the_first_variable() {
    let dir = project(
        "services:\n  web:\n    image: \"nginx:${NGINX_TAG:?set NGINX_TAG}\"\n",
        Some(b"\xef\xbb\xbfNGINX_TAG=latest\n"),
    );
    let (_, json) = check_json(dir.path(), &["--select", "unpinned-image"]);
    let messages: Vec<&str> =
        json["findings"].as_array().unwrap().iter().filter_map(|f| f["message"].as_str()).collect();
    assert!(messages.iter().any(|m| m.contains("`nginx:latest`")), "{messages:?}");
}

/// Input 6: characters Go's YAML reads differently (line separators) or refuses (controls) are
/// located errors, not silently read otherwise.
#[test]
fn line_separators_and_control_characters_are_located_errors() {
    for (text, expected) in [
        (
            "services:\n  web:\n    image: nginx:1.27\n    # note\u{2028}restart: \"no\"\n",
            "docker-compose.yml:4:11: U+2028",
        ),
        (
            "services:\n  web:\n    image: nginx:1.27\n    # note\u{85}restart: \"no\"\n",
            "docker-compose.yml:4:11: U+0085",
        ),
        ("services:\n  web:\n    image: nginx:1.27 # a\0b\n", "docker-compose.yml:3:26: control character U+0000"),
    ] {
        let dir = project(text, None);
        for command in ["check", "fix"] {
            let out = stackfix(dir.path(), &[command]);
            assert_eq!(out.status.code(), Some(2), "{command}: {}", stdout(&out));
            assert!(stderr(&out).contains(expected), "{command}: {}", stderr(&out));
        }
        assert_eq!(std::fs::read_to_string(dir.path().join("docker-compose.yml")).unwrap(), text);
    }
    // Inside quotes compose keeps the character as text, and so does stackfix.
    let dir = project("services:\n  web:\n    image: nginx:1.27\n    labels: {a: \"x\u{2028}y\"}\n", None);
    let out = stackfix(dir.path(), &["check"]);
    assert_ne!(out.status.code(), Some(2), "{}", stderr(&out));
}

/// Input 7: a dependency on a service the project does not define is refused, as compose does.
#[test]
fn a_dependency_on_an_undefined_service_is_a_located_error() {
    let dir = project(
        "services:\n  web:\n    image: nginx:1.27\n    depends_on:\n      ghost:\n        condition: service_started\n        required: false\n",
        None,
    );
    let out = stackfix(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("docker-compose.yml:5:7: service `web` depends on undefined service `ghost`"),
        "{}",
        stderr(&out)
    );
    // A name made by a variable that is not set: the error says what was written.
    let dir = project("services:\n  web:\n    image: nginx:1.27\n    depends_on:\n      - ${DB_ENGINE}\n", None);
    let out = stackfix(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("depends on undefined service `` (written `${DB_ENGINE}`"), "{}", stderr(&out));
}

/// A secret, config, network or named volume the top level does not define: compose refuses the
/// project (`refers to undefined secret`), and so does stackfix, at the reference; a service in a
/// profile that is not enabled is not judged (compose does not either).
#[test]
fn a_reference_to_an_undefined_secret_config_network_or_volume_is_a_located_error() {
    let text = "services:\n  web:\n    image: nginx:1.27\n    secrets: [db_pw]\n    configs:\n      - source: site\n        target: /etc/site\n    networks: [default, backend]\n    volumes:\n      - data:/data\n      - ./html:/usr/share/nginx/html\n      - /srv\n  tool:\n    image: nginx:1.27\n    profiles: [tools]\n    secrets: [other]\n";
    let dir = project(text, None);
    let out = stackfix(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    for expected in [
        "docker-compose.yml:4:15: service `web` refers to undefined secret `db_pw`",
        "docker-compose.yml:6:9: service `web` refers to undefined config `site`",
        "docker-compose.yml:8:25: service `web` refers to undefined network `backend`",
        "docker-compose.yml:10:9: service `web` refers to undefined volume `data`",
    ] {
        assert!(err.contains(expected), "{expected}:\n{err}");
    }
    assert!(!err.contains("`default`") && !err.contains("`other`") && !err.contains("html"), "{err}");
    // The fix path refuses the same project, writing nothing.
    let out = stackfix(dir.path(), &["fix"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(dir.path().join("docker-compose.yml")).unwrap(), text);
    // Defined, it loads (as compose reads it, when compose is here).
    let defined = format!("{text}secrets:\n  db_pw:\n    file: ./pw.txt\nconfigs:\n  site:\n    file: ./site.conf\nnetworks:\n  backend:\nvolumes:\n  data:\n");
    let dir = project(&defined, None);
    let out = stackfix(dir.path(), &["check"]);
    assert_ne!(out.status.code(), Some(2), "{}", stderr(&out));
    // A profile `.env` enables (`COMPOSE_PROFILES`) is judged as compose judges it.
    let enabled = project(text, Some(b"COMPOSE_PROFILES=tools\n"));
    let out = stackfix(enabled.path(), &["check"]);
    assert!(stderr(&out).contains("service `tool` refers to undefined secret `other`"), "{}", stderr(&out));
    // Defined only by the default override: the base alone is refused, and the error says so.
    let split = project("services:\n  web:\n    image: nginx:1.27\n    secrets: [s]\n", None);
    std::fs::write(split.path().join("docker-compose.override.yml"), "secrets:\n  s:\n    file: ./s.txt\n").unwrap();
    let out = stackfix(split.path(), &["check"]);
    assert!(
        stderr(&out)
            .contains("service `web` refers to undefined secret `s` (when the stack runs with `docker-compose.yml`)"),
        "{}",
        stderr(&out)
    );
    // compose agrees on both.
    if let Some(compose) = crate::validators::compose() {
        let config =
            |d: &Path| std::process::Command::new(&compose).current_dir(d).args(["config", "-q"]).output().unwrap();
        let out = config(dir.path());
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let undefined = project(text, None);
        let out = config(undefined.path());
        assert!(String::from_utf8_lossy(&out.stderr).contains("refers to undefined"), "{out:?}");
    }
}

/// Input 8: `-f` names the project directory (the first file's), as compose takes it; so does
/// `--project-directory`.
#[test]
fn the_first_compose_file_names_the_project_directory() {
    let dir = tempfile::tempdir().unwrap();
    let stack = dir.path().join("stack");
    std::fs::create_dir_all(stack.join("monitoring")).unwrap();
    std::fs::write(
        stack.join("docker-compose.prod.yml"),
        "services:\n  prometheus:\n    image: prom/prometheus:v2.53.0\n    volumes:\n      - ./monitoring/prometheus.yml:/etc/prometheus/prometheus.yml:ro\n",
    )
    .unwrap();
    std::fs::write(
        stack.join("monitoring/prometheus.yml"),
        "scrape_configs:\n  - job_name: redis\n    static_configs: [{targets: [\"redis-exporter:9121\"]}]\n",
    )
    .unwrap();
    let file = stack.join("docker-compose.prod.yml");
    let file = file.to_str().unwrap();
    for extra in [&[][..], &["--project-directory", stack.to_str().unwrap()][..]] {
        let mut args = vec!["check", "--select", "scrape-target-missing", "-f", file];
        args.extend_from_slice(extra);
        let out = stackfix(dir.path(), &args);
        assert!(stdout(&out).contains("scrape target `redis-exporter`"), "{}{}", stdout(&out), stderr(&out));
        assert!(!stderr(&out).contains("outside the project"), "{}", stderr(&out));
    }
}

/// Input 9: an anchored environment with a literal password and an anchored short-form
/// `depends_on`, shared alike by their users, are fixed once in the anchors.
#[test]
fn anchored_blocks_every_user_needs_alike_are_fixed_in_the_anchor() {
    let dir = project(
        "x-common-env: &common-env\n  DATABASE_URL: postgres://app:hunter2secret@postgres:5432/app\n  POSTGRES_PASSWORD: hunter2secret\nx-app: &app\n  image: myorg/app:1.2.3\n  environment: *common-env\n  depends_on: [postgres, redis]\nservices:\n  web:\n    <<: *app\n  worker:\n    <<: *app\n    command: worker\n  postgres:\n    image: postgres:16\n    environment: *common-env\n  redis:\n    image: redis:7.2\n",
        None,
    );
    let mut allowed = Vec::new();
    for service in ["web", "worker", "postgres"] {
        allowed.push(format!(".services.{service}.environment.DATABASE_URL"));
        allowed.push(format!(".services.{service}.environment.POSTGRES_PASSWORD"));
    }
    for service in ["web", "worker"] {
        allowed.push(format!(".services.{service}.depends_on"));
    }
    // The health checks the conditions wait for come along.
    allowed.push(".services.postgres.healthcheck".into());
    allowed.push(".services.redis.healthcheck".into());
    let allowed: Vec<&str> = allowed.iter().map(String::as_str).collect();
    fix_changes_only(
        dir.path(),
        &["--unsafe-fixes", "--select", "hardcoded-secret,depends-on-without-health-condition"],
        "anchored-blocks",
        &allowed,
    );
    let text = std::fs::read_to_string(dir.path().join("docker-compose.yml")).unwrap();
    assert_eq!(text.matches("${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}").count(), 2, "{text}");
    assert!(!text.contains("hunter2secret"), "{text}");
}

/// Inputs 1 and 3 through `bootstrap`: the overlay merges deeply onto the base, so what a merge
/// key gave the service stays, and a service using legacy fields gets legacy limits there too.
#[test]
fn bootstrapped_overlays_keep_merged_and_legacy_resources() {
    let Some(compose) = compose() else { return };
    for (text, expect) in [
        (
            "x-defaults: &defaults\n  deploy:\n    replicas: 2\n    resources:\n      limits:\n        cpus: \"2\"\nservices:\n  api:\n    <<: *defaults\n    image: nginx:1.27\n",
            &[("deploy", "replicas", "2"), ("deploy", "cpus", "2")][..],
        ),
        ("services:\n  api:\n    image: nginx:1.27\n    cpus: 2\n    mem_reservation: 1g\n", &[("", "cpus", "2")][..]),
    ] {
        let dir = project(text, None);
        let out = stackfix(dir.path(), &["bootstrap", "."]);
        assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
        let out = Command::new(&compose)
            .current_dir(dir.path())
            .env_remove("DOCKER_HOST")
            .args(["-f", "docker-compose.yml", "-f", "docker-compose.prod.yml", "config", "--format", "json"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let api = &json["services"]["api"];
        assert!(api["mem_limit"].is_string() || api["deploy"]["resources"]["limits"]["memory"].is_string(), "{api:#}");
        for (section, key, value) in expect {
            let found = match (*section, *key) {
                ("deploy", "replicas") => api["deploy"]["replicas"].to_string(),
                ("deploy", "cpus") => api["deploy"]["resources"]["limits"]["cpus"].to_string(),
                _ => api[*key].to_string(),
            };
            assert_eq!(found.trim_matches('"'), *value, "{key} in {api:#}");
        }
        if expect.iter().any(|(section, _, _)| section.is_empty()) {
            assert!(api["deploy"].is_null(), "legacy fields and deploy.resources together: {api:#}");
        }
    }
}

/// A value a service gets through `extends` is fixed where it is written, and the verifier takes
/// the change in the extending service as the one aimed at; a `${…}` written into a flow mapping is
/// quoted (unquoted it would end the mapping).
#[test]
fn values_from_extends_are_fixed_where_written() {
    let dir = project("services:\n  api:\n    extends: {file: common.yml, service: base}\n", None);
    std::fs::write(
        dir.path().join("common.yml"),
        "services:\n  base:\n    image: nginx:1.27\n    environment: {POSTGRES_PASSWORD: hunter2secretvalue}\n",
    )
    .unwrap();
    fix_changes_only(
        dir.path(),
        &["--unsafe-fixes", "--select", "hardcoded-secret"],
        "extends-flow-secret",
        &[".services.api.environment.POSTGRES_PASSWORD"],
    );
    let common = std::fs::read_to_string(dir.path().join("common.yml")).unwrap();
    assert!(common.contains("{POSTGRES_PASSWORD: \"${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}\"}"), "{common}");
}

/// `--set` takes only the declared parameters, each reaching only the templates of the rules that
/// read it, and only services the stack has; a typo gets a suggestion, exit 2 and no change.
#[test]
fn parameters_are_declared_scoped_and_checked() {
    let text =
        "services:\n  db:\n    image: postgres:16\n    environment:\n      POSTGRES_PASSWORD_FILE: /run/secrets/pg\n";
    let dir = project(text, None);
    for (args, expected) in [
        (&["--set", "memroy=1G"][..], "unknown parameter `memroy` (did you mean `memory`?)"),
        (&["--set", "image=evil:latest"][..], "unknown parameter `image`"),
        (&["--set", "dbx.memory=1G"][..], "names service `dbx`, which the stack does not have (did you mean `db`?)"),
        (&["--set", "policy=sometimes"][..], "`sometimes` is not a valid policy"),
        (&["--set", "memory=1gig"][..], "`1gig` is not a valid memory"),
        (&["--set", "interval=1m30"][..], "`1m30` is not a valid interval"),
        (&["--service", "dbx"][..], "--service `dbx`: the stack has no such service (did you mean `db`?)"),
    ] {
        let mut all = vec!["fix"];
        all.extend_from_slice(args);
        let out = stackfix(dir.path(), &all);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stdout(&out));
        assert!(stderr(&out).contains(expected), "{args:?}: {}", stderr(&out));
        assert_eq!(std::fs::read_to_string(dir.path().join("docker-compose.yml")).unwrap(), text);
    }
    // The health check's interval (a duration) does not reach the backup job's (seconds).
    let out = stdout(&stackfix(
        dir.path(),
        &["fix", "--diff", "--unsafe-fixes", "--select", "no-healthcheck,no-backup", "--set", "interval=10s"],
    ));
    assert!(out.contains("      interval: 10s"), "{out}");
    assert_eq!(out.matches("10s").count(), 1, "{out}");
}

/// Sizes and durations are taken in every spelling compose reads (go-units' `RAMInBytes`, Go's
/// `time.ParseDuration`), and what they produce passes `compose config`.
#[test]
fn parameters_take_sizes_and_durations_as_compose_does() {
    let text = "services:\n  api:\n    image: nginx:1.27\n";
    for (set, written) in [
        (["memory=1GiB", "interval=1m30s"], ["memory: 1GiB", "interval: 1m30s"]),
        (["memory=1gb", "interval=1.5s"], ["memory: 1gb", "interval: 1.5s"]),
        (["memory=512m", "max_size=20mb"], ["memory: 512m", "max-size: 20mb"]),
    ] {
        let dir = project(text, None);
        let mut args = vec!["fix", "--select", "no-resource-limits,no-healthcheck,no-log-rotation"];
        for s in &set {
            args.extend(["--set", s]);
        }
        let out = stackfix(dir.path(), &args);
        assert_eq!(out.status.code(), Some(0), "{set:?}: {}", stderr(&out));
        let fixed = std::fs::read_to_string(dir.path().join("docker-compose.yml")).unwrap();
        for w in written {
            assert!(fixed.contains(w), "{set:?}: {fixed}");
        }
        if let Some(compose) = compose() {
            let files = yaml_files_in(dir.path());
            crate::validators::compose_config_ok(&compose, dir.path(), &files)
                .unwrap_or_else(|e| panic!("{set:?}: {e}"));
        }
    }
}

/// A legacy resource field and its `deploy.resources` spelling with distinct values: compose
/// refuses the project, so stackfix reports it where it is written (equal values pass).
#[test]
fn distinct_legacy_and_deploy_resources_are_a_located_error() {
    let dir = project(
        "services:\n  a:\n    image: nginx:1.27\n    mem_limit: 1g\n    deploy:\n      resources:\n        limits:\n          memory: 512M\n",
        None,
    );
    let out = stackfix(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(
            "docker-compose.yml:4:5: service `a` sets distinct values on `mem_limit` and `deploy.resources.limits.memory`"
        ),
        "{}",
        stderr(&out)
    );
    let dir = project(
        "services:\n  a:\n    image: nginx:1.27\n    mem_limit: 1g\n    cpus: 2\n    deploy:\n      resources:\n        limits:\n          memory: 1G\n          cpus: \"2.0\"\n",
        None,
    );
    let out = stackfix(dir.path(), &["check"]);
    assert_ne!(out.status.code(), Some(2), "{}", stderr(&out));
}

/// What a review found (each a stack that once leaked a fix into another service or broke):
/// an anchor nested in a merged block and aliased by another service, a shared anchor with only
/// one user in the run, a quoted value equal to the fix's.
#[test]
fn fixes_never_leak_through_anchors_to_services_they_were_not_for() {
    // web merges x-base, whose `deploy` is anchored and aliased whole by db: web's limit must not
    // land in db (nor db's in web).
    let dir = project(
        "x-base: &base\n  restart: always\n  deploy: &deploy\n    replicas: 2\n    resources:\n      limits:\n        cpus: \"1\"\nservices:\n  web:\n    <<: *base\n    image: nginx:1.25\n  db:\n    image: postgres:16\n    restart: always\n    deploy: *deploy\n",
        None,
    );
    fix_changes_only(
        dir.path(),
        &["--select", "no-resource-limits,no-log-rotation"],
        "nested-anchor",
        &[
            ".services.web.logging",
            ".services.db.logging",
            // web's own copy of the merged `deploy`, with its limit; db keeps the anchor's.
            ".services.web.deploy.resources.limits.memory",
            ".services.web.deploy.resources.reservations",
        ],
    );
    // `--service db1` cannot change db2 through their shared anchors.
    let text = "x-pg-env: &pgenv\n  POSTGRES_PASSWORD: hunter2hunter2\n  POSTGRES_USER: app\nx-ports: &ports\n  - \"5432:5432\"\nservices:\n  db1:\n    image: postgres:16\n    environment: *pgenv\n    ports: *ports\n  db2:\n    image: postgres:16\n    environment: *pgenv\n    ports: *ports\n";
    let dir = project(text, None);
    let out = stackfix(
        dir.path(),
        &["fix", "--unsafe-fixes", "--select", "hardcoded-secret,database-port-published", "--service", "db1"],
    );
    assert_eq!(std::fs::read_to_string(dir.path().join("docker-compose.yml")).unwrap(), text);
    assert!(stdout(&out).contains("this run does not fix `db2`"), "{}", stdout(&out));
    // Without the filter both are fixed, once, in the anchors.
    fix_changes_only(
        dir.path(),
        &["--unsafe-fixes", "--select", "hardcoded-secret,database-port-published"],
        "shared-anchors-both-users",
        &[
            ".services.db1.environment.POSTGRES_PASSWORD",
            ".services.db2.environment.POSTGRES_PASSWORD",
            ".services.db1.ports.0.host_ip",
            ".services.db2.ports.0.host_ip",
        ],
    );
    // A quoted value equal to the fix's is the same value.
    let dir = project("services:\n  db:\n    image: postgres:16\n    logging:\n      driver: \"json-file\"\n", None);
    fix_changes_only(
        dir.path(),
        &["--select", "no-log-rotation"],
        "quoted-equal-value",
        &[".services.db.logging.options"],
    );
}

/// Flow-style mappings (`deploy: {replicas: 1}`, a flow anchor merged with `<<`) take block
/// fragments: the mapping is rewritten in block style with every value as written, and nothing
/// else in what compose runs changes.
#[test]
fn flow_mappings_take_block_fixes() {
    let dir = project(
        "x-a: &a {restart: always, deploy: {replicas: 2, resources: {limits: {cpus: \"0.5\"}}}}\nservices:\n  web:\n    <<: *a\n    image: nginx:1.25\n  db:\n    image: postgres:16\n    deploy: {replicas: 1}\n    logging: {driver: \"json-file\"}   # kept\n",
        None,
    );
    fix_changes_only(
        dir.path(),
        &["--select", "no-resource-limits,no-log-rotation"],
        "flow-mappings",
        &[
            ".services.web.deploy.resources.limits.memory",
            ".services.web.deploy.resources.reservations",
            ".services.web.logging",
            ".services.db.deploy.resources",
            ".services.db.logging.options",
        ],
    );
    let text = std::fs::read_to_string(dir.path().join("docker-compose.yml")).unwrap();
    assert!(text.contains("    deploy:\n      replicas: 1\n"), "{text}");
    assert!(text.contains("# kept"), "{text}");
}

/// `fix --help` names every declared parameter (the list is written there by hand).
#[test]
fn help_lists_every_parameter() {
    let dir = tempfile::tempdir().unwrap();
    let help = stdout(&stackfix(dir.path(), &["fix", "--help"]));
    for parameter in stackfix::fix::PARAMETERS {
        assert!(help.contains(parameter.name), "`fix --help` does not name `{}`", parameter.name);
    }
}

/// The common `logging: *default-logging` pattern: every service reading the anchor (through an
/// alias or a merge key) needs the same rotation, so the anchor gets it once.
#[test]
fn an_aliased_block_every_reader_needs_alike_is_fixed_in_its_anchor() {
    let dir = project(
        "x-logging: &logging\n  driver: json-file\nx-base: &base\n  restart: always\n  logging: *logging\nservices:\n  web:\n    <<: *base\n    image: nginx:1.25\n  db:\n    image: postgres:16\n    logging: *logging\n",
        None,
    );
    fix_changes_only(
        dir.path(),
        &["--select", "no-log-rotation"],
        "aliased-logging",
        &[".services.web.logging.options", ".services.db.logging.options"],
    );
    let text = std::fs::read_to_string(dir.path().join("docker-compose.yml")).unwrap();
    assert!(text.starts_with("x-logging: &logging\n  driver: json-file\n  options:\n"), "{text}");
    assert_eq!(text.matches("max-size").count(), 1, "{text}");
}

/// Interpolation as compose does it, expression by expression against `compose config`: the
/// value, or the same refusal (an invalid reference, a missing required variable).
#[test]
fn interpolation_is_read_as_compose_reads_it() {
    use stackfix::stack::interpolate::{interpolate, InterpolationError};
    let dotenv = "SFX_SET=v\nSFX_EMPTY=\n";
    let env = stackfix::stack::interpolate::parse_dotenv(dotenv);
    let expressions = [
        "${SFX_SET}",
        "$SFX_SET.x",
        "${SFX_UNSET:-d}",
        "${SFX_EMPTY:-d}",
        "${SFX_EMPTY-d}",
        "${SFX_UNSET-d}",
        "${SFX_SET:+alt}",
        "${SFX_EMPTY:+alt}",
        "${SFX_EMPTY+alt}",
        "${SFX_UNSET+alt}",
        "${SFX_UNSET:-${SFX_SET}}",
        "${SFX_UNSET-{a}}",
        "${SFX_SET-a}}",
        "${SFX_UNSET:-a:b}",
        "$$SFX_SET",
        "a$",
        "$1",
        "$ {X}",
        "${SFX_SET:?m}",
        "${SFX_EMPTY?m}",
        "${SFX_EMPTY:?m}",
        "${SFX_UNSET?}",
        "${SFX_UNSET:?set ${SFX_SET}}",
        "${}",
        "${SFX A}",
        "${SFX_SET",
        "${1A}",
        "${SFX:=x}",
        "${SFX.B}",
        "x${SFX_SET}${",
        "${SFX_SET:-${A B}}",
        "${SFX_UNSET:+${A B}}",
        "${SFX_SET-${}}",
    ];
    for text in expressions {
        let ours = interpolate(text, &env);
        match &ours {
            Ok(_) => {}
            Err(InterpolationError::Invalid) => assert!(!text.contains("SFX_UNSET?") && !text.contains(":?")),
            Err(InterpolationError::Required { name, .. }) => assert!(name.starts_with("SFX_")),
            Err(InterpolationError::TooDeep) => panic!("{text}: nests too deeply"),
        }
        let Some(compose) = compose() else { continue };
        let quoted = text.replace('\\', "\\\\").replace('"', "\\\"");
        let dir = project(
            &format!("services:\n  s:\n    image: busybox:1.37\n    environment:\n      X: \"{quoted}\"\n"),
            Some(dotenv.as_bytes()),
        );
        match compose_json(&compose, dir.path()) {
            Ok(json) => {
                let theirs = json["services"]["s"]["environment"]["X"].as_str().unwrap().replace("$$", "$");
                assert_eq!(ours, Ok(theirs), "{text}");
            }
            Err(e) if e.contains("invalid interpolation format") => {
                assert_eq!(ours, Err(InterpolationError::Invalid), "{text}: {e}")
            }
            Err(e) if e.contains("required variable") => {
                assert!(matches!(ours, Err(InterpolationError::Required { .. })), "{text}: {ours:?} vs {e}");
                assert!(e.contains(&ours.unwrap_err().to_string()), "{text}: {e}");
            }
            Err(e) => panic!("{text}: {e}"),
        }
    }
}

/// Values are judged as compose runs them: interpolated everywhere they are read, literal
/// secrets found where they are written, and what compose refuses refused with a location.
#[test]
fn values_are_interpolated_wherever_they_are_read() {
    // Equal once interpolated: compose accepts the legacy and `deploy` limits together.
    let dir = project(
        "services:\n  a:\n    image: nginx:1.27\n    mem_limit: ${MEM:-1g}\n    deploy:\n      resources:\n        limits:\n          memory: 1g\n",
        None,
    );
    let out = stackfix(dir.path(), &["check"]);
    assert_ne!(out.status.code(), Some(2), "{}", stderr(&out));
    // A reference to `.env` is no literal secret, even though `.env` holds one.
    let dir = project(
        "services:\n  cache:\n    image: redis:7.4\n    command: [\"redis-server\", \"--requirepass\", \"${REDIS_PASSWORD}\"]\n    environment:\n      DB_PASSWORD: ${DB_PASSWORD}\n",
        Some(b"REDIS_PASSWORD=s3cr3t-value\nDB_PASSWORD=hunter2-value\n"),
    );
    let (_, json) = check_json(dir.path(), &["--select", "hardcoded-secret"]);
    assert!(json["findings"].as_array().unwrap().is_empty(), "{json}");
    let out = stackfix(dir.path(), &["check"]);
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(!all.contains("s3cr3t") && !all.contains("hunter2"), "{all}");
    // A development flag behind a default is what compose runs.
    let dir = project(
        "services:\n  api:\n    image: node:22\n    environment:\n      NODE_ENV: ${NODE_ENV:-development}\n",
        None,
    );
    let (_, json) = check_json(dir.path(), &["--select", "development-mode"]);
    assert_eq!(json["findings"].as_array().unwrap().len(), 1, "{json}");
    // An invalid reference: compose refuses the file whatever the environment; so does stackfix.
    let text = "services:\n  a:\n    image: nginx:1.27\n    environment:\n      X: \"${A B}\"\n";
    let dir = project(text, None);
    for command in ["check", "fix"] {
        let out = stackfix(dir.path(), &[command]);
        assert_eq!(out.status.code(), Some(2), "{command}: {}", stdout(&out));
        assert!(
            stderr(&out).contains("docker-compose.yml:5:10: invalid interpolation format"),
            "{command}: {}",
            stderr(&out)
        );
    }
    assert_eq!(std::fs::read_to_string(dir.path().join("docker-compose.yml")).unwrap(), text);
    // A required variable `.env` does not set may come from the environment: a located note,
    // once per variable.
    let dir = project(
        "services:\n  a:\n    image: \"nginx:${TAG:?set TAG}\"\n    restart: always\n    environment:\n      V: ${TAG:?set TAG}\n",
        None,
    );
    let out = stackfix(dir.path(), &["check"]);
    assert_ne!(out.status.code(), Some(2), "{}", stderr(&out));
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(all.contains("docker-compose.yml:3:5: required variable TAG is missing a value: set TAG"), "{all}");
    assert_eq!(all.matches("required variable TAG").count(), 1, "{all}");
}

/// What a review found: values a variable gives (from `.env` here, maybe from the environment
/// where the stack runs) were copied into files as literals, replaced by literals, or used to
/// size a safe fix. A fix keeps the reference, or leaves the value to a person.
#[test]
fn fixes_never_turn_variables_into_literals() {
    let run = |compose: &str, env: &str, args: &[&str]| {
        let dir = project(compose, Some(env.as_bytes()));
        let out = stackfix(dir.path(), args);
        assert!(matches!(out.status.code(), Some(0 | 1)), "{args:?}: {}{}", stdout(&out), stderr(&out));
        let text = std::fs::read_to_string(dir.path().join("docker-compose.yml")).unwrap();
        let example = std::fs::read_to_string(dir.path().join(".env.example")).unwrap_or_default();
        (dir, text, example)
    };
    // A whole environment item from `.env`: its password is neither reported as written here
    // nor copied into the backup service.
    let compose = "services:\n  db:\n    image: postgres:16\n    environment: [POSTGRES_USER=app, \"${PG_LINE}\"]\n    volumes: [pgdata:/var/lib/postgresql/data]\nvolumes:\n  pgdata:\n";
    let env = "PG_LINE='POSTGRES_PASSWORD=Pa$$SEKRIT'\n";
    let (dir, text, _) = run(compose, env, &["fix", "--select", "no-backup,hardcoded-secret", "--unsafe-fixes"]);
    assert!(!text.contains("SEKRIT"), "{text}");
    let (_, json) = check_json(dir.path(), &["--select", "hardcoded-secret"]);
    assert!(json["findings"].as_array().unwrap().is_empty(), "{json}");
    // A name made by interpolation is not the name to write back.
    let compose =
        "services:\n  api:\n    image: nginx:1.27\n    environment:\n      - ${SVC}_DB_PASSWORD=changeme123\n";
    let (_, text, example) = run(compose, "SVC=billing\n", &["fix", "--select", "hardcoded-secret", "--unsafe-fixes"]);
    assert!(!text.contains("billing") && !example.contains("billing"), "{text}\n{example}");
    // A memory limit a variable sets sizes no safe maxmemory.
    let compose = "services:\n  cache:\n    image: redis:7.4\n    deploy:\n      resources:\n        limits:\n          memory: ${REDIS_MEM:-512m}\n";
    let (_, text, _) = run(compose, "REDIS_MEM=2g\n", &["fix", "--select", "redis-no-maxmemory"]);
    assert!(!text.contains("1536mb"), "{text}");
    // A container port a variable chooses is not written as a number.
    let compose = "services:\n  app:\n    image: nginx:1.27\n    ports: [\"8080:${APP_PORT}\"]\n";
    let (_, text, _) =
        run(compose, "APP_PORT=3000\n", &["fix", "--select", "no-healthcheck,no-reverse-proxy", "--unsafe-fixes"]);
    assert!(!text.contains("3000"), "{text}");
    // Development settings a variable gives are reported and left where the variable is set.
    let compose = "services:\n  api:\n    image: node:22\n    environment:\n      DEBUG: ${DEBUG}\n      NODE_ENV: ${NODE_ENV:-production}\n";
    let (dir, text, _) =
        run(compose, "DEBUG=1\nNODE_ENV=development\n", &["fix", "--select", "development-mode", "--unsafe-fixes"]);
    assert!(text.contains("DEBUG: ${DEBUG}") && text.contains("NODE_ENV: ${NODE_ENV:-production}"), "{text}");
    let (_, json) = check_json(dir.path(), &["--select", "development-mode"]);
    assert_eq!(json["findings"].as_array().unwrap().len(), 2, "{json}");
}

/// An included file reads the `.env` beside it, under the including project's variables; and a
/// required variable `.env.example` documents is expected from the environment, not noted.
#[test]
fn included_files_read_their_own_dotenv() {
    let dir = project(
        "include:\n  - sub/compose.yaml\nservices:\n  a:\n    image: nginx:1.27\n",
        Some(b"BOTH=root\nSECRET_KEY_NAME=x\n"),
    );
    std::fs::create_dir_all(dir.path().join("sub")).unwrap();
    std::fs::write(
        dir.path().join("sub/compose.yaml"),
        "services:\n  b:\n    image: \"nginx:${SUB_TAG:?set it}\"\n    environment:\n      Y: ${BOTH:-none}\n      Z: ${DOCUMENTED:?set it}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("sub/.env"), "SUB_TAG=1.27\nBOTH=sub\n").unwrap();
    std::fs::write(dir.path().join(".env.example"), "DOCUMENTED=\n").unwrap();
    let out = stackfix(dir.path(), &["check"]);
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(!all.contains("SUB_TAG") && !all.contains("DOCUMENTED"), "{all}");
    let (_, json) = check_json(dir.path(), &["--select", "unpinned-image"]);
    assert!(json["findings"].as_array().unwrap().is_empty(), "{json}");
    let options =
        stackfix::stack::LoadOptions::new(dir.path().to_path_buf(), Vec::new(), stackfix::stack::Profiles::builtin());
    let stack = stackfix::stack::load(&options);
    let b = stack.configs[0].service("b").unwrap();
    assert_eq!(b.env("Y").and_then(|v| v.value.as_deref()), Some("root"));
    assert_eq!(b.image.as_ref().unwrap().value, "nginx:1.27");
}

/// A merged block holding aliases is copied with them (they read the same anchors from the
/// copy), so `check`'s fix is the one `fix` makes; one with an alias whose anchor is defined
/// again later, or with a merge key inside (a local `reservations` would hide the merged one),
/// is not copied.
#[test]
fn merged_blocks_with_aliases_are_copied() {
    let text = "x-labels: &labels\n  team: core\nx-placement: &placement\n  max_replicas_per_node: 1\nx-defaults: &defaults\n  deploy:\n    replicas: 2\n    labels: *labels\n    placement: *placement\nservices:\n  api:\n    <<: *defaults\n    image: nginx:1.27\n  db:\n    <<: *defaults\n    image: postgres:16\n";
    let dir = project(text, None);
    let allowed = [".services.api.deploy.resources", ".services.db.deploy.resources"];
    fix_changes_only(dir.path(), &["--select", "no-resource-limits"], "merged-block-with-aliases", &allowed);
    let (_, json) = check_json(dir.path(), &["--select", "no-resource-limits"]);
    assert!(json["findings"].as_array().unwrap().is_empty(), "{json}");
    // `&labels` defined again after the alias: a copy would read the second one.
    let text = "x-labels: &labels\n  team: core\nx-defaults: &defaults\n  deploy:\n    labels: *labels\nx-other: &labels\n  team: other\nservices:\n  api:\n    <<: *defaults\n    image: nginx:1.27\n  db:\n    <<: *defaults\n    image: postgres:16\n";
    let dir = project(text, None);
    let out = stackfix(dir.path(), &["fix", "--select", "no-resource-limits"]);
    assert!(stdout(&out).contains("holds an alias whose anchor is defined again after it"), "{}", stdout(&out));
    assert_eq!(std::fs::read_to_string(dir.path().join("docker-compose.yml")).unwrap(), text);
    let text = "x-res: &res\n  reservations:\n    memory: 64M\nx-defaults: &defaults\n  deploy:\n    resources:\n      <<: *res\nservices:\n  api:\n    <<: *defaults\n    image: nginx:1.27\n  db:\n    <<: *defaults\n    image: postgres:16\n";
    let dir = project(text, None);
    let out = stackfix(dir.path(), &["fix", "--select", "no-resource-limits"]);
    assert!(stdout(&out).contains("defines anchors or merge keys"), "{}", stdout(&out));
    assert_eq!(std::fs::read_to_string(dir.path().join("docker-compose.yml")).unwrap(), text);
}

/// `-f` files are merged in order, but only a production file (`docker-compose.prod.yml`) is the
/// overlay production-only settings go into: with an add-on last, each service's settings go
/// where it is defined.
#[test]
fn only_a_production_file_takes_production_settings() {
    let dir = project("services:\n  api:\n    image: nginx:1.27\n", None);
    std::fs::write(dir.path().join("addon.yml"), "services:\n  cron:\n    image: alpine:3.20\n").unwrap();
    let out =
        stackfix(dir.path(), &["fix", "-f", "docker-compose.yml", "-f", "addon.yml", "--select", "no-restart-policy"]);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}{}", stdout(&out), stderr(&out));
    let base = std::fs::read_to_string(dir.path().join("docker-compose.yml")).unwrap();
    let addon = std::fs::read_to_string(dir.path().join("addon.yml")).unwrap();
    assert!(base.contains("restart: unless-stopped") && !addon.contains("api"), "{base}\n---\n{addon}");
    assert_eq!(addon.matches("restart:").count(), 1, "{addon}");
    let dir = project("services:\n  api:\n    image: nginx:1.27\n", None);
    std::fs::write(dir.path().join("docker-compose.prod.yml"), "services:\n  api:\n    ports: [\"80:80\"]\n").unwrap();
    let out = stackfix(
        dir.path(),
        &["fix", "-f", "docker-compose.yml", "-f", "docker-compose.prod.yml", "--select", "no-restart-policy"],
    );
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}{}", stdout(&out), stderr(&out));
    let prod = std::fs::read_to_string(dir.path().join("docker-compose.prod.yml")).unwrap();
    assert!(prod.contains("restart: unless-stopped"), "{prod}");
    // The production file in the middle of the list, an add-on after it.
    std::fs::write(dir.path().join("docker-compose.prod.yml"), "services:\n  api:\n    ports: [\"80:80\"]\n").unwrap();
    std::fs::write(dir.path().join("addon.yml"), "services:\n  cron:\n    image: alpine:3.20\n    restart: always\n")
        .unwrap();
    let args = ["fix", "-f", "docker-compose.yml", "-f", "docker-compose.prod.yml", "-f", "addon.yml"];
    let out = stackfix(dir.path(), &[&args[..], &["--select", "no-restart-policy"]].concat());
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}{}", stdout(&out), stderr(&out));
    let prod = std::fs::read_to_string(dir.path().join("docker-compose.prod.yml")).unwrap();
    let base = std::fs::read_to_string(dir.path().join("docker-compose.yml")).unwrap();
    assert!(prod.contains("restart: unless-stopped") && !base.contains("restart"), "{prod}\n---\n{base}");
}

#[test]
fn an_unknown_rule_gets_the_closest_name() {
    let dir = project("services:\n  a:\n    image: nginx:1.27\n", None);
    let out = stackfix(dir.path(), &["check", "--select", "no-healthchek"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unknown rule `no-healthchek` (did you mean `no-healthcheck`?)"), "{}", stderr(&out));
}

/// A memory or CPU limit set below the profile's reservation takes the reservation down to half
/// of it (Docker refuses a reservation above the limit); a reservation set above the limit is
/// refused with the reason, and nothing is written.
#[test]
fn a_limit_set_below_the_reservation_keeps_them_in_order() {
    let text = "services:\n  api:\n    image: postgres:16.4\n";
    let dir = project(text, None);
    let out = stackfix(
        dir.path(),
        &["fix", "--select", "no-resource-limits", "--set", "api.memory=512m", "--set", "cpus=0.1"],
    );
    assert_ne!(out.status.code(), Some(2), "{}", stderr(&out));
    let fixed = std::fs::read_to_string(dir.path().join("docker-compose.yml")).unwrap();
    assert!(fixed.contains("memory: 512m") && fixed.contains("memory: 256M"), "{fixed}");
    assert!(fixed.contains("cpus: \"0.1\"") && fixed.contains("cpus: \"0.05\""), "{fixed}");
    if let Some(compose) = compose() {
        crate::validators::compose_config_ok(&compose, dir.path(), &yaml_files_in(dir.path())).unwrap();
    }
    let dir = project(text, None);
    let out = stackfix(
        dir.path(),
        &["fix", "--select", "no-resource-limits", "--set", "memory=256m", "--set", "reservation_memory=1g"],
    );
    assert!(stdout(&out).contains("reservation_memory 1g is above memory 256m"), "{}", stdout(&out));
    assert_eq!(std::fs::read_to_string(dir.path().join("docker-compose.yml")).unwrap(), text);
}

/// A fix sized from the limit it adds (redis `maxmemory`: 75% of the memory limit) follows a
/// limit `--set` changes: it waits for the limit fix and sizes itself from what that wrote; alone
/// (the limit fix not in the run) it is left with the reason, never sized for another limit.
#[test]
fn redis_maxmemory_follows_a_set_memory_limit() {
    let text = "services:\n  store:\n    image: redis:7.4\n";
    let dir = project(text, None);
    let out = stackfix(dir.path(), &["fix", "--set", "store.memory=256m"]);
    assert_ne!(out.status.code(), Some(2), "{}", stderr(&out));
    let fixed = std::fs::read_to_string(dir.path().join("docker-compose.yml")).unwrap();
    assert!(fixed.contains("memory: 256m") && fixed.contains("--maxmemory 192mb"), "{fixed}");
    let (_, json) = check_json(dir.path(), &[]);
    let findings = json["findings"].as_array().unwrap();
    assert!(!findings.iter().any(|f| f["rule"] == "no-resource-limits"), "{findings:?}");
    let dir = project(text, None);
    let out = stackfix(dir.path(), &["fix", "--select", "redis-no-maxmemory", "--set", "memory=256m"]);
    assert!(stdout(&out).contains("sized from the resource limit it adds"), "{}", stdout(&out));
    assert_eq!(std::fs::read_to_string(dir.path().join("docker-compose.yml")).unwrap(), text);
}

/// A value a service gets from the service it `extends` (in the same file or another) is not
/// edited there for the extending service's fix: that would change the base service, and every
/// other service extending it. The fix is left for a person, with the reason.
#[test]
fn what_extends_brings_is_not_edited_in_the_base_service() {
    let dir = project(
        "services:\n  redis:\n    image: redis:7.4\n    command: redis-server --appendonly yes\n    mem_limit: 2g\n  queue:\n    extends: redis\n    mem_limit: 256m\n  db:\n    image: postgres:16\n    environment:\n      POSTGRES_PASSWORD_FILE: /run/secrets/pg\n    ports: [\"5432:5432\"]\n  db2:\n    extends: db\n",
        None,
    );
    std::fs::write(
        dir.path().join("base.yml"),
        "services:\n  redis:\n    image: redis:7.4\n    command: redis-server --appendonly yes\n",
    )
    .unwrap();
    let before = std::fs::read_to_string(dir.path().join("docker-compose.yml")).unwrap();
    for (service, rule) in [("queue", "redis-no-maxmemory"), ("db2", "database-port-published")] {
        let json = fix_json(dir.path(), &["--service", service, "--select", rule, "--unsafe-fixes"]);
        let skipped = json["skipped"].as_array().unwrap();
        let reason = skipped.iter().find(|s| s["service"] == service).map(|s| s["reason"].to_string());
        assert!(reason.as_deref().is_some_and(|r| r.contains("through `extends`")), "{service}: {json:#}");
        let out = stackfix(dir.path(), &["fix", "--service", service, "--select", rule, "--unsafe-fixes"]);
        assert_eq!(out.status.code(), Some(1), "{service}: {}{}", stdout(&out), stderr(&out));
        // `check` says so too: the fix is no fix there.
        let (_, json) = check_json(dir.path(), &["--select", rule]);
        let finding = json["findings"].as_array().unwrap().iter().find(|f| f["service"] == service).cloned();
        assert!(finding.as_ref().is_some_and(|f| f["fix"]["available"] == false), "{service}: {json:#}");
        assert_eq!(std::fs::read_to_string(dir.path().join("docker-compose.yml")).unwrap(), before);
    }
    // From another file: the file every extending service reads is left as it is.
    std::fs::write(
        dir.path().join("docker-compose.yml"),
        "services:\n  cache:\n    extends: {file: base.yml, service: redis}\n    mem_limit: 1g\n  queue:\n    extends: {file: base.yml, service: redis}\n    mem_limit: 256m\n",
    )
    .unwrap();
    let json = fix_json(dir.path(), &["--select", "redis-no-maxmemory", "--unsafe-fixes"]);
    assert_eq!(json["skipped"].as_array().unwrap().len(), 2, "{json:#}");
    stackfix(dir.path(), &["fix", "--select", "redis-no-maxmemory", "--unsafe-fixes"]);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("base.yml")).unwrap(),
        "services:\n  redis:\n    image: redis:7.4\n    command: redis-server --appendonly yes\n"
    );
}

/// Compose appends `security_opt` (and `group_add`, `external_links`, `volumes_from`) from an
/// overlay without dropping an item the base has, and refuses the list then: stackfix reads it
/// so, and a fix that would write that conflict into the base is skipped with the reason, while
/// the other services' fixes (of the same pass) are written.
#[test]
fn an_item_an_overlay_appends_twice_is_refused_and_not_written() {
    let dir = project("services:\n  web:\n    image: nginx:1.25\n    security_opt: [no-new-privileges:true]\n", None);
    std::fs::write(
        dir.path().join("docker-compose.override.yml"),
        "services:\n  web:\n    security_opt: [no-new-privileges:true]\n",
    )
    .unwrap();
    let out = stackfix(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("docker-compose.override.yml:3:20: services.web.security_opt items at 0 and 1 are equal"),
        "{}",
        stderr(&out)
    );
    let text = "services:\n  web:\n    image: nginx:1.25\n  cache:\n    image: redis:7.4\n";
    std::fs::write(dir.path().join("docker-compose.yml"), text).unwrap();
    let json = fix_json(dir.path(), &["--select", "privilege-escalation-allowed"]);
    let skipped = json["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{json:#}");
    assert_eq!(skipped[0]["service"], "web");
    assert!(skipped[0]["reason"].as_str().unwrap().starts_with("with it, compose would refuse the stack"), "{json:#}");
    let applied: Vec<&str> = json["applied"].as_array().unwrap().iter().filter_map(|a| a["service"].as_str()).collect();
    assert_eq!(applied, ["cache"], "{json:#}");
    stackfix(dir.path(), &["fix", "--select", "privilege-escalation-allowed"]);
    let (code, _) = check_json(dir.path(), &["--select", "privilege-escalation-allowed"]);
    assert_ne!(code, 2);
    if let Some(compose) = compose() {
        compose_json(&compose, dir.path()).unwrap();
    }
}

/// A file read alone does not have what it tags `!reset` (compose drops it, in a mapping and in a
/// list): `restart: !reset always` sets no restart policy. The fix does not write over the
/// tagged entry.
#[test]
fn what_a_file_read_alone_resets_is_not_there() {
    let text =
        "services:\n  web:\n    image: nginx:1.25\n    restart: !reset always\n    dns: [!reset 1.1.1.1, 8.8.8.8]\n";
    let dir = project(text, None);
    let (code, json) = check_json(dir.path(), &["--select", "no-restart-policy"]);
    assert_eq!(code, 1, "{json:#}");
    assert_eq!(json["findings"][0]["message"], "service `web` has no restart policy", "{json:#}");
    let out = stackfix(dir.path(), &["fix", "--select", "no-restart-policy"]);
    assert!(stdout(&out).contains("already has a different value"), "{}", stdout(&out));
    assert_eq!(std::fs::read_to_string(dir.path().join("docker-compose.yml")).unwrap(), text);
    if let Some(compose) = compose() {
        let model = compose_json(&compose, dir.path()).unwrap();
        assert!(model["services"]["web"].get("restart").is_none(), "{model:#}");
    }
}

/// A literal secret moved to a variable never takes a value the project means for something
/// else: a variable `.env` sets to another value, or one another place of the stack reads, is
/// not reused (the fix reads one named after the service, which nothing sets yet, so compose
/// asks for it); a `.env` that sets it to this very secret changes nothing when it is reused.
#[test]
fn a_secret_never_moves_into_a_variable_the_project_sets_otherwise() {
    let stack = |other: &str| {
        format!("services:\n  app:\n    image: nginx:1.27\n    environment:\n      API_KEY: \"sk_live_abcdef123456\"\n  other:\n    image: nginx:1.27\n    environment:\n      OTHER_API_KEY: {other}\n")
    };
    let titles = |dir: &Path| -> Vec<String> {
        let (_, json) = check_json(dir, &["--select", "hardcoded-secret"]);
        json["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["service"] == "app")
            .map(|f| f["fix"]["title"].as_str().unwrap_or("no fix").to_string())
            .collect()
    };
    // `.env` sets the name to another credential; unset there, another service reads it (with
    // a fallback of its own or without).
    let cases = [
        ("${API_KEY}", Some(&b"API_KEY=pk_other_service_value\n"[..])),
        ("${API_KEY}", None),
        ("${API_KEY:-pk_unset}", None),
    ];
    for (other, env) in cases {
        let dir = project(&stack(other), env);
        assert_eq!(titles(dir.path()), ["read `APP_API_KEY` from the environment"]);
        let out = stackfix(dir.path(), &["fix", "--unsafe-fixes", "--select", "hardcoded-secret"]);
        assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
        let text = std::fs::read_to_string(dir.path().join("docker-compose.yml")).unwrap();
        assert!(text.contains("API_KEY: \"${APP_API_KEY:?set APP_API_KEY}\""), "{text}");
        // compose refuses to run the service without the new variable, rather than give it
        // the other credential.
        // (`API_KEY` set in the environment: the other service's own reference is guarded by a
        // fix of its own, and compose reports the missing variables in no fixed order.)
        if let Some(compose) = compose() {
            let out = Command::new(&compose)
                .current_dir(dir.path())
                .env_remove("DOCKER_HOST")
                .env_remove("COMPOSE_FILE")
                .env("API_KEY", "pk_from_the_environment")
                .args(["config", "--format", "json"])
                .output()
                .unwrap();
            assert!(!out.status.success());
            assert!(stderr(&out).contains("required variable APP_API_KEY is missing"), "{}", stderr(&out));
        }
    }
    // `.env` holds this very secret: reading `API_KEY` changes nothing compose runs.
    let dir = project(&stack("${API_KEY}"), Some(b"API_KEY=sk_live_abcdef123456\n"));
    assert_eq!(titles(dir.path()), ["read `API_KEY` from the environment"]);
    let Some(compose) = compose() else { return };
    let before = compose_json(&compose, dir.path()).unwrap();
    let out = stackfix(dir.path(), &["fix", "--unsafe-fixes", "--select", "hardcoded-secret"]);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    assert_eq!(compose_json(&compose, dir.path()).unwrap()["services"], before["services"]);
}

/// A service added for another (a dump job or an exporter for a database) runs when that one runs
/// and only then: it gets the database's profiles. A database in another network namespace
/// (`network_mode`) gets none, since a new service could not reach it by its name.
#[test]
fn services_added_for_a_store_follow_its_profiles_and_its_network() {
    let text = "services:\n  db:\n    image: postgres:16.4\n    profiles: [data]\n    environment:\n      POSTGRES_PASSWORD: ${PG_PASSWORD:?set PG_PASSWORD}\n    volumes:\n      - pgdata:/var/lib/postgresql/data\n  hostdb:\n    image: postgres:16.4\n    network_mode: host\n    environment:\n      POSTGRES_PASSWORD: ${PG_PASSWORD:?set PG_PASSWORD}\n    volumes:\n      - hostdata:/var/lib/postgresql/data\n  prometheus:\n    image: prom/prometheus:v2.54.1\n    volumes:\n      - ./prometheus.yml:/etc/prometheus/prometheus.yml:ro\nvolumes:\n  pgdata:\n  hostdata:\n";
    let dir = project(text, None);
    std::fs::write(
        dir.path().join("prometheus.yml"),
        "scrape_configs:\n  - job_name: prometheus\n    static_configs:\n      - targets: [\"localhost:9090\"]\n",
    )
    .unwrap();
    let (_, json) = check_json(dir.path(), &["--select", "no-backup,missing-exporter"]);
    let findings = json["findings"].as_array().unwrap();
    let of = |rule: &str, service: &str| {
        findings
            .iter()
            .find(|f| f["rule"] == rule && f["service"] == service)
            .unwrap_or_else(|| panic!("{rule} {service}: {json:#}"))
    };
    for rule in ["no-backup", "missing-exporter"] {
        assert_eq!(of(rule, "db")["fix"]["available"], true, "{rule}");
        assert_eq!(of(rule, "hostdb")["fix"]["available"], false, "{rule}");
    }
    assert!(of("no-backup", "hostdb")["help"].as_str().unwrap().contains("`network_mode: host`"), "{json:#}");
    let out = stackfix(dir.path(), &["fix", "--unsafe-fixes", "--select", "no-backup,missing-exporter"]);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    let Some(compose) = compose() else { return };
    let services = |profile: Option<&str>| {
        let mut cmd = Command::new(&compose);
        cmd.current_dir(dir.path()).env_remove("DOCKER_HOST").env_remove("COMPOSE_FILE").env("PG_PASSWORD", "x");
        if let Some(p) = profile {
            cmd.args(["--profile", p]);
        }
        let out = cmd.args(["config", "--services"]).output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let mut names: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
        names.sort();
        names
    };
    assert_eq!(services(None), ["hostdb", "prometheus"]);
    assert_eq!(services(Some("data")), ["db", "db-backup", "db-exporter", "hostdb", "prometheus"]);
}

/// `condition: service_healthy` is not written into a file another configuration reads where
/// the dependency's health check is disabled: compose would refuse to start the dependant there.
#[test]
fn a_health_condition_is_not_written_where_another_configuration_disables_the_check() {
    let base = "services:\n  api:\n    image: nginx:1.27\n    depends_on: [db]\n  db:\n    image: postgres:16.4\n    healthcheck:\n      test: [\"CMD\", \"pg_isready\"]\n";
    // Disabled there, or reset to none.
    for overlay in ["healthcheck:\n      disable: true\n", "healthcheck: !reset null\n"] {
        let dir = project(base, None);
        std::fs::write(dir.path().join("docker-compose.prod.yml"), format!("services:\n  db:\n    {overlay}")).unwrap();
        let (_, json) = check_json(dir.path(), &["--select", "depends-on-without-health-condition"]);
        // The base with the overlay gets no condition (with `!reset` it may offer a probe of its
        // own in the overlay, which cannot be written where the reset is: below, nothing is).
        let findings = json["findings"].as_array().unwrap();
        let blocked: Vec<_> = findings
            .iter()
            .filter(|f| f["help"].as_str().unwrap().contains("docker-compose.yml + docker-compose.prod.yml"))
            .collect();
        assert_eq!(blocked.len(), 1, "{json:#}");
        assert_eq!(blocked[0]["fix"]["available"], false, "{json:#}");
        let out = stackfix(dir.path(), &["fix", "--unsafe-fixes", "--select", "depends-on-without-health-condition"]);
        assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
        assert_eq!(std::fs::read_to_string(dir.path().join("docker-compose.yml")).unwrap(), base);
        // The base read alone (its health check there) gets the fix.
        let (_, json) =
            check_json(dir.path(), &["--select", "depends-on-without-health-condition", "-f", "docker-compose.yml"]);
        assert_eq!(json["findings"][0]["fix"]["available"], true, "{json:#}");
    }
}

/// An overlay's `build: ./app` is `build: {context: ./app}` merged over the base, which keeps
/// the base's `target`, as compose keeps it: the development stage still runs in production.
#[test]
fn an_overlay_build_string_keeps_the_base_target() {
    let dir = project("services:\n  web:\n    build:\n      context: ./app\n      target: dev\n", None);
    std::fs::create_dir_all(dir.path().join("app")).unwrap();
    std::fs::write(dir.path().join("app/Dockerfile"), "FROM nginx:1.27 AS dev\nFROM nginx:1.27 AS prod\n").unwrap();
    std::fs::write(dir.path().join("docker-compose.prod.yml"), "services:\n  web:\n    build: ./app\n").unwrap();
    let files = ["-f", "docker-compose.yml", "-f", "docker-compose.prod.yml"];
    let (_, json) = check_json(dir.path(), &[&["--select", "dev-build-target"][..], &files[..]].concat());
    let findings = json["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{json:#}");
    assert!(findings[0]["message"].as_str().unwrap().contains("stage `dev`"), "{json:#}");
    if let Some(compose) = compose() {
        let out = Command::new(&compose)
            .current_dir(dir.path())
            .env_remove("DOCKER_HOST")
            .env_remove("COMPOSE_FILE")
            .args(files)
            .args(["config", "--format", "json"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let model: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(model["services"]["web"]["build"]["target"], "dev");
    }
}

/// The other places that read a variable include the `env_file` files (compose interpolates
/// them) and the rest of the very value a literal is in.
#[test]
fn a_secret_never_moves_into_a_variable_an_env_file_or_its_own_command_reads() {
    let title = |dir: &Path| {
        let (_, json) = check_json(dir, &["--select", "hardcoded-secret"]);
        json["findings"][0]["fix"]["title"].as_str().unwrap_or("no fix").to_string()
    };
    let dir = project(
        "services:\n  app:\n    image: nginx:1.27\n    environment:\n      STRIPE_API_KEY: sk_live_4eC39HqLyjWDarjtT1zdp7dc\n  worker:\n    image: nginx:1.27\n    env_file: worker.env\n",
        None,
    );
    std::fs::write(dir.path().join("worker.env"), "LEGACY_STRIPE_KEY=${STRIPE_API_KEY:-sk_test_legacy}\n").unwrap();
    assert_eq!(title(dir.path()), "read `APP_STRIPE_API_KEY` from the environment");
    let dir = project(
        "services:\n  cache:\n    image: redis:7.4\n    command: redis-server --requirepass Sup3rS3cretPw --masterauth ${REDIS_PASSWORD}\n",
        None,
    );
    assert_eq!(title(dir.path()), "read `--requirepass` from `CACHE_REDIS_PASSWORD`");
}

/// An added service copies the profiles as written: a variable stays one for compose to read.
#[test]
fn added_services_copy_profiles_as_written() {
    let dir = project(
        "services:\n  db:\n    image: postgres:16.4\n    profiles: [\"${DB_PROFILE:-data}\"]\n    environment:\n      POSTGRES_PASSWORD: ${PG_PASSWORD:?set PG_PASSWORD}\n    volumes:\n      - pgdata:/var/lib/postgresql/data\nvolumes:\n  pgdata:\n",
        None,
    );
    let out = stackfix(dir.path(), &["fix", "--select", "no-backup"]);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    let text = std::fs::read_to_string(dir.path().join("docker-compose.yml")).unwrap();
    assert!(text.contains("    profiles:\n      - \"${DB_PROFILE:-data}\"\n"), "{text}");
}

/// `stackfix check` in `dir` refuses the project (exit 2) with `error`, as compose refuses it.
fn refused_as_compose_refuses(dir: &Path, error: &str) {
    let out = stackfix(dir, &["check"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains(error), "{}", stderr(&out));
    if let Some(compose) = compose() {
        assert!(compose_json(&compose, dir).is_err(), "compose accepts what stackfix refuses: {error}");
    }
}

/// Writes `files` (path relative to `dir`, text) into `dir`, making directories.
fn write_files(dir: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

/// An `include:` item as compose reads it: its `path` list merged in order (later files
/// override), relative paths from its `project_directory`, variables from that directory's
/// `.env`; stackfix's model and the real `compose config` agree.
#[test]
fn include_items_merge_their_files_in_the_project_directory_they_name() {
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[
            (
                "compose.yaml",
                "include:\n  - path: [sub/a.yaml, sub/b.yaml]\n    project_directory: other\nservices:\n  web:\n    image: nginx:1.27\n",
            ),
            (
                "sub/a.yaml",
                "services:\n  db:\n    image: postgres:${PGV}\n    volumes: [\"./data:/var/lib/postgresql/data\"]\n    environment: {A: \"1\"}\n",
            ),
            ("sub/b.yaml", "services:\n  db:\n    environment: {B: \"2\"}\n    restart: always\n"),
            ("other/.env", "PGV=16.4\n"),
            ("sub/.env", "PGV=latest\n"),
        ],
    );
    let options =
        stackfix::stack::LoadOptions::new(dir.path().to_path_buf(), Vec::new(), stackfix::stack::Profiles::builtin());
    let stack = stackfix::stack::load(&options);
    assert!(stack.errors.is_empty(), "{:?}", stack.errors);
    let db = stack.configs[0].service("db").unwrap();
    assert_eq!(db.image.as_ref().unwrap().value, "postgres:16.4");
    assert_eq!(db.value.str_at("restart"), Some("always"));
    assert_eq!(db.env("A").and_then(|v| v.value.as_deref()), Some("1"));
    assert_eq!(db.env("B").and_then(|v| v.value.as_deref()), Some("2"));
    let (_, json) = check_json(dir.path(), &["--select", "no-restart-policy,unpinned-image"]);
    let services: Vec<&str> =
        json["findings"].as_array().unwrap().iter().filter_map(|f| f["service"].as_str()).collect();
    assert_eq!(services, ["web"], "{json}");
    let Some(compose) = compose() else { return };
    let model = compose_json(&compose, dir.path()).unwrap();
    let db = &model["services"]["db"];
    assert_eq!(db["image"], "postgres:16.4");
    assert_eq!(db["restart"], "always");
    let source = db["volumes"][0]["source"].as_str().unwrap();
    assert!(Path::new(source).ends_with("other/data"), "{source}");
}

/// An include's `env_file` interpolates the included files (instead of the `.env` beside
/// them); one that does not exist is a located error, as compose refuses the project.
#[test]
fn include_env_files_interpolate_and_must_exist() {
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[
            ("compose.yaml", "include:\n  - path: inc/a.yaml\n    env_file: vars.env\n"),
            ("inc/a.yaml", "services:\n  a:\n    image: nginx:${T}\n"),
            ("vars.env", "T=1.27\n"),
            ("inc/.env", "T=latest\n"),
        ],
    );
    let (code, json) = check_json(dir.path(), &["--select", "unpinned-image"]);
    assert_eq!(code, 0, "{json}");
    if let Some(compose) = compose() {
        assert_eq!(compose_json(&compose, dir.path()).unwrap()["services"]["a"]["image"], "nginx:1.27");
    }
    std::fs::remove_file(dir.path().join("vars.env")).unwrap();
    refused_as_compose_refuses(dir.path(), "compose.yaml:3:15: include `env_file` `vars.env` does not exist");
}

/// A resource both the including file and an included one define (or two included files) is
/// refused as compose refuses it, unless the definitions are the same. (Compose also refuses
/// some the same in content but written otherwise, such as `ports` in the short syntax: it
/// compares the included file's canonical form with the including file as written. stackfix
/// does not refuse those.)
#[test]
fn included_resources_defined_otherwise_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "include:\n  - sub/a.yaml\nservices:\n  db:\n    image: redis:6\n",
            "services:\n  db:\n    image: redis:7\n",
            Some("compose.yaml:4:3: services.db conflicts with imported resource"),
        ),
        (
            "include:\n  - sub/a.yaml\nservices:\n  db:\n    image: redis:7.4\n    environment: [A=1]\n",
            "services:\n  db:\n    environment: [A=1]\n    image: \"redis:7.4\"\n",
            None,
        ),
        (
            "include:\n  - sub/a.yaml\nservices:\n  web:\n    image: nginx:1.27\nvolumes:\n  v: {}\n",
            "services:\n  db:\n    image: redis:7.4\nvolumes:\n  v:\n    driver: local\n",
            Some("compose.yaml:7:3: volumes.v conflicts with imported resource"),
        ),
    ];
    for (top, included, error) in cases {
        write_files(dir.path(), &[("compose.yaml", top), ("sub/a.yaml", included)]);
        let out = stackfix(dir.path(), &["check"]);
        match error {
            Some(error) => {
                assert_eq!(out.status.code(), Some(2), "{top}");
                assert!(stderr(&out).contains(error), "{top}\n{}", stderr(&out));
            }
            None => assert!(!stderr(&out).contains("conflicts"), "{top}\n{}", stderr(&out)),
        }
        if let Some(compose) = compose() {
            assert_eq!(compose_json(&compose, dir.path()).is_err(), error.is_some(), "{top}");
        }
    }
}

/// Compose resolves the relative paths of every file of a configuration against the project
/// directory (an overlay in a subdirectory too), and those of a service `extends` reads from
/// another file against that file's directory.
#[test]
fn relative_paths_resolve_as_compose_resolves_them() {
    let dir = tempfile::tempdir().unwrap();
    let prometheus = "global: {scrape_interval: 15s}\nscrape_configs: []\n";
    write_files(
        dir.path(),
        &[
            ("compose.yaml", "services:\n  web:\n    image: nginx:1.27\n  prom:\n    extends: {file: common/base.yaml, service: p}\n"),
            (
                "deploy/prod.yaml",
                "services:\n  web:\n    volumes: [\"./prometheus.yml:/etc/prometheus/prometheus.yml:ro\"]\n    image: prom/prometheus:v2.53.0\n",
            ),
            ("prometheus.yml", prometheus),
            ("common/base.yaml", "services:\n  p:\n    image: prom/prometheus:v2.53.0\n    volumes: [\"./prometheus.yml:/etc/prometheus/prometheus.yml:ro\"]\n"),
            ("common/prometheus.yml", prometheus),
        ],
    );
    let files = vec![dir.path().join("compose.yaml"), dir.path().join("deploy/prod.yaml")];
    let options = stackfix::stack::LoadOptions::new(
        dir.path().to_path_buf(),
        files.clone(),
        stackfix::stack::Profiles::builtin(),
    );
    let stack = stackfix::stack::load(&options);
    assert!(stack.errors.is_empty(), "{:?}", stack.errors);
    let notes: Vec<&str> = stack.notes.iter().map(|n| n.message.as_str()).collect();
    assert!(notes.iter().all(|n| !n.contains("does not exist")), "{notes:?}");
    let read: Vec<&Path> = stack.files.iter().map(|f| f.path.as_path()).collect();
    for side in ["prometheus.yml", "common/prometheus.yml"] {
        let side = std::fs::canonicalize(dir.path().join(side)).unwrap();
        assert!(read.iter().any(|p| std::fs::canonicalize(p).is_ok_and(|p| p == side)), "{side:?} not in {read:?}");
    }
    let Some(compose) = compose() else { return };
    let model = crate::validators::compose_json(&compose, dir.path(), &files).unwrap();
    let source = |s: &str| model["services"][s]["volumes"][0]["source"].as_str().unwrap().to_string();
    assert!(source("web").ends_with("/prometheus.yml") && !source("web").contains("deploy"), "{model}");
    assert!(source("prom").ends_with("common/prometheus.yml"), "{model}");
}

/// Without `-f`, compose reads the files `COMPOSE_FILE` names when the project's `.env` sets
/// it (split at `COMPOSE_PATH_SEPARATOR`); stackfix reads the same configuration, and a named
/// file that does not exist is a located error.
#[test]
fn compose_file_in_dotenv_names_the_files_read() {
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[
            ("docker-compose.yml", "services:\n  web:\n    image: nginx:1.27\n"),
            ("docker-compose.override.yml", "services:\n  web:\n    restart: \"no\"\n"),
            ("deploy/prod.yml", "services:\n  web:\n    restart: always\n"),
        ],
    );
    for env in [
        "COMPOSE_FILE=docker-compose.yml:deploy/prod.yml\n",
        "COMPOSE_PATH_SEPARATOR=,\nexport COMPOSE_FILE=docker-compose.yml,deploy/prod.yml\n",
    ] {
        std::fs::write(dir.path().join(".env"), env).unwrap();
        let options = stackfix::stack::LoadOptions::new(
            dir.path().to_path_buf(),
            Vec::new(),
            stackfix::stack::Profiles::builtin(),
        );
        let stack = stackfix::stack::load(&options);
        assert!(stack.errors.is_empty(), "{:?}", stack.errors);
        assert_eq!(stack.configs.len(), 1, "{env}");
        assert_eq!(stack.configs[0].service("web").unwrap().value.str_at("restart"), Some("always"), "{env}");
        let (_, json) = check_json(dir.path(), &["--select", "no-restart-policy"]);
        assert!(json["findings"].as_array().unwrap().is_empty(), "{env}: {json}");
        if let Some(compose) = compose() {
            assert_eq!(compose_json(&compose, dir.path()).unwrap()["services"]["web"]["restart"], "always", "{env}");
        }
    }
    std::fs::write(dir.path().join(".env"), "A=1\nCOMPOSE_FILE=docker-compose.yml:missing.yml\n").unwrap();
    refused_as_compose_refuses(dir.path(), ".env:2:1: `COMPOSE_FILE` names `missing.yml`, which does not exist");
}

/// A service that waits for one only profiles it does not share enable is noted: compose
/// refuses the project whenever the first runs without them. Not when `.env` enables them,
/// the dependency is not required, or every profile of the service enables the dependency.
#[test]
fn dependencies_that_only_other_profiles_enable_are_noted() {
    // (compose file, .env, profile compose is run with, noted)
    let db = |profiles: &str| format!("  db:\n    image: postgres:16.4\n    profiles: [{profiles}]\n");
    let cases = [
        (format!("services:\n  web:\n    image: nginx:1.27\n    depends_on: [db]\n{}", db("debug")), "", None, true),
        (format!("services:\n  web:\n    image: nginx:1.27\n    depends_on: [db]\n{}", db("debug")), "COMPOSE_PROFILES=tools,debug\n", None, false),
        (
            format!("services:\n  web:\n    image: nginx:1.27\n    depends_on:\n      db: {{condition: service_started, required: false}}\n{}", db("debug")),
            "",
            None,
            false,
        ),
        (format!("services:\n  web:\n    image: nginx:1.27\n    profiles: [a]\n    depends_on: [db]\n{}", db("a, debug")), "", Some("a"), false),
        (format!("services:\n  web:\n    image: nginx:1.27\n    profiles: [a]\n    depends_on: [db]\n{}", db("debug")), "", Some("a"), true),
    ];
    for (text, env, profile, noted) in &cases {
        let dir = project(text, Some(env.as_bytes()));
        let (_, json) = check_json(dir.path(), &["--select", "no-restart-policy"]);
        let notes: Vec<&str> = json["notes"].as_array().unwrap().iter().filter_map(|n| n["message"].as_str()).collect();
        let found: Vec<&&str> = notes.iter().filter(|n| n.contains("depends on `db`, which only profile")).collect();
        assert_eq!(found.len(), usize::from(*noted), "{text}{env}: {notes:?}");
        if *noted {
            assert!(found[0].starts_with("service `web`"), "{found:?}");
            let at =
                json["notes"].as_array().unwrap().iter().find(|n| n["message"].as_str() == Some(found[0])).unwrap();
            assert_eq!(at["line"].as_u64(), Some(if profile.is_some() { 5 } else { 4 }), "{at}");
        }
        let Some(compose) = compose() else { continue };
        let mut cmd = Command::new(&compose);
        cmd.current_dir(dir.path()).env_remove("DOCKER_HOST").env_remove("COMPOSE_PROFILES");
        if let Some(p) = profile {
            cmd.args(["--profile", p]);
        }
        let out = cmd.args(["config", "-q"]).output().unwrap();
        assert_eq!(!out.status.success(), *noted, "{text}{env}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

/// An include item naming places outside the project (a `project_directory` above it, an
/// `env_file` of `/dev/null` that keeps `.env` out) keeps its files; an `env_file` at the top of
/// the repository, above the project's directory, is read.
#[test]
fn include_items_naming_places_outside_the_project_keep_their_files() {
    let top = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(top.path().join(".git")).unwrap();
    write_files(
        top.path(),
        &[
            (".env", "T=1.27\n"),
            (
                "app/compose.yaml",
                "include:\n  - path: inc/a.yaml\n    env_file: ../.env\n  - path: inc/b.yaml\n    env_file: /dev/null\n  - path: inc/c.yaml\n    project_directory: ../..\n",
            ),
            ("app/inc/a.yaml", "services:\n  a:\n    image: nginx:${T:-latest}\n"),
            ("app/inc/b.yaml", "services:\n  b:\n    image: nginx:${T:-1.26}\n"),
            ("app/inc/.env", "T=latest\n"),
            ("app/inc/c.yaml", "services:\n  c:\n    image: nginx:1.27\n"),
        ],
    );
    let app = top.path().join("app");
    let (code, json) = check_json(&app, &["--select", "no-restart-policy,unpinned-image"]);
    assert_eq!(code, 1, "{json}");
    let mut found: Vec<(&str, &str)> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["rule"].as_str().unwrap(), f["service"].as_str().unwrap()))
        .collect();
    found.sort_unstable();
    let expected = [("no-restart-policy", "a"), ("no-restart-policy", "b"), ("no-restart-policy", "c")];
    assert_eq!(found, expected, "{json}");
    let Some(compose) = compose() else { return };
    let model = compose_json(&compose, &app).unwrap();
    assert_eq!(model["services"]["a"]["image"], "nginx:1.27");
    assert_eq!(model["services"]["b"]["image"], "nginx:1.26");
}

/// The same resource written alike in the including file and an included one, where compose
/// resolves what stackfix does not compare (`extends`, relative paths from each file's
/// directory), is not refused.
#[test]
fn included_resources_alike_but_for_what_compose_resolves_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[
            (
                "compose.yaml",
                "include:\n  - sub/a.yaml\n  - other/b.yaml\nservices:\n  base:\n    image: redis:7.4\n  db:\n    extends: base\n",
            ),
            ("sub/a.yaml", "services:\n  base:\n    image: redis:7.4\n  db:\n    extends: base\n  web:\n    image: nginx:1.27\n    volumes: [\"./data:/data\"]\n"),
            ("other/b.yaml", "services:\n  web:\n    image: nginx:1.27\n    volumes: [\"../sub/data:/data\"]\n"),
        ],
    );
    let out = stackfix(dir.path(), &["check"]);
    assert!(!stderr(&out).contains("conflicts"), "{}", stderr(&out));
    assert_ne!(out.status.code(), Some(2), "{}", stderr(&out));
    if let Some(compose) = compose() {
        compose_json(&compose, dir.path()).unwrap();
    }
}

/// `COMPOSE_FILE` naming a file in a subdirectory makes that directory compose's project
/// directory: the file's relative paths resolve from it. An empty entry (`a.yml:`) is refused
/// as compose refuses it.
#[test]
fn compose_file_in_a_subdirectory_resolves_paths_from_there() {
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[
            (".env", "COMPOSE_FILE=deploy/compose.yml\n"),
            (
                "deploy/compose.yml",
                "services:\n  prometheus:\n    image: prom/prometheus:v2.53.0\n    volumes: [\"./prometheus.yml:/etc/prometheus/prometheus.yml:ro\"]\n",
            ),
            ("deploy/prometheus.yml", "global: {scrape_interval: 15s}\nscrape_configs: []\n"),
        ],
    );
    let options =
        stackfix::stack::LoadOptions::new(dir.path().to_path_buf(), Vec::new(), stackfix::stack::Profiles::builtin());
    let stack = stackfix::stack::load(&options);
    assert!(stack.errors.is_empty(), "{:?}", stack.errors);
    let notes: Vec<&str> = stack.notes.iter().map(|n| n.message.as_str()).collect();
    assert!(notes.iter().all(|n| !n.contains("does not exist")), "{notes:?}");
    let side = std::fs::canonicalize(dir.path().join("deploy/prometheus.yml")).unwrap();
    assert!(stack.files.iter().any(|f| std::fs::canonicalize(&f.path).is_ok_and(|p| p == side)));
    if let Some(compose) = compose() {
        let model = compose_json(&compose, dir.path()).unwrap();
        let source = model["services"]["prometheus"]["volumes"][0]["source"].as_str().unwrap().to_string();
        assert!(source.ends_with("deploy/prometheus.yml"), "{source}");
    }
    std::fs::write(dir.path().join(".env"), "COMPOSE_FILE=deploy/compose.yml:\n").unwrap();
    refused_as_compose_refuses(dir.path(), ".env:1:1: `COMPOSE_FILE` names the directory");
}

/// A health check a production overlay takes out (`healthcheck: !reset null`) was taken out on
/// purpose: `check` offers no fix putting one back (nor `service_healthy` on it), so that it
/// offers no fix `fix` would skip.
#[test]
fn health_checks_an_overlay_resets_are_not_put_back() {
    let dir = project(
        "services:\n  web:\n    image: nginx:1.27\n    depends_on: [db]\n  db:\n    image: postgres:16.4\n    healthcheck:\n      test: [\"CMD-SHELL\", \"pg_isready -U postgres\"]\n",
        None,
    );
    std::fs::write(dir.path().join("docker-compose.prod.yml"), "services:\n  db:\n    healthcheck: !reset null\n")
        .unwrap();
    let select = ["--select", "no-healthcheck,depends-on-without-health-condition"];
    let (_, json) = check_json(dir.path(), &select);
    let db = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "no-healthcheck" && f["service"] == "db")
        .unwrap_or_else(|| panic!("{json}"));
    assert_eq!(db["fix"]["available"], false, "{db}");
    assert!(db["help"].as_str().unwrap().contains("docker-compose.prod.yml takes its health check out"), "{db}");
    let fixable = json["findings"].as_array().unwrap().iter().filter(|f| f["fix"]["available"] == true).count();
    let fixed = fix_json(dir.path(), &select);
    assert!(fixed["skipped"].as_array().unwrap().is_empty(), "{fixed}");
    assert_eq!(fixed["applied"].as_array().unwrap().len(), fixable, "{fixed}");
}

/// `extends` sees the file's own services, not those it includes (compose resolves it first):
/// extending an included-only service is refused, as compose refuses it.
#[test]
fn extends_does_not_see_included_services() {
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[
            ("compose.yaml", "include:\n  - sub/a.yaml\nservices:\n  web:\n    extends: base\n"),
            ("sub/a.yaml", "services:\n  base:\n    image: nginx:1.27\n"),
        ],
    );
    refused_as_compose_refuses(dir.path(), "compose.yaml:5:14: `extends` names service `base`, which does not exist");
}

/// A service defined alike in an included file and the file including it (compose accepts
/// that while the two stay alike) gets no fix editing one of them: `check` says so, and `fix`
/// skips it for that reason while fixing the other services.
#[test]
fn services_defined_alike_on_both_sides_of_an_include_are_not_fixed_on_one() {
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[
            (
                "compose.yaml",
                "include:\n  - sub/a.yaml\nservices:\n  db:\n    image: redis:7.4\n  web:\n    image: nginx:1.27\n",
            ),
            ("sub/a.yaml", "services:\n  db:\n    image: redis:7.4\n"),
        ],
    );
    let select = ["--select", "no-restart-policy"];
    let (_, json) = check_json(dir.path(), &select);
    let findings = json["findings"].as_array().unwrap();
    let of = |s: &str| findings.iter().find(|f| f["service"] == s).unwrap_or_else(|| panic!("{json}"));
    assert_eq!(of("db")["fix"]["available"], false, "{json}");
    assert!(of("db")["help"].as_str().unwrap().contains("defined alike in an included file"), "{json}");
    assert_eq!(of("web")["fix"]["available"], true, "{json}");
    let fixed = fix_json(dir.path(), &select);
    let applied: Vec<&str> =
        fixed["applied"].as_array().unwrap().iter().filter_map(|a| a["service"].as_str()).collect();
    assert_eq!(applied, ["web"], "{fixed}");
    if let Some(compose) = compose() {
        compose_json(&compose, dir.path()).unwrap();
    }
}

/// An `include` or `extends` file that does not exist is an error where the file is named, as
/// compose refuses the project.
#[test]
fn missing_include_and_extends_files_are_located_errors() {
    for (text, error) in [
        (
            "include:\n  - nope.yaml\nservices:\n  web:\n    image: nginx:1.27\n",
            "compose.yaml:2:5: `include` names `nope.yaml`, which does not exist",
        ),
        (
            "services:\n  web:\n    image: nginx:1.27\n    extends: {file: gone.yaml, service: x}\n",
            "compose.yaml:4:21: `extends` names the file `gone.yaml`, which does not exist",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        write_files(dir.path(), &[("compose.yaml", text)]);
        refused_as_compose_refuses(dir.path(), error);
    }
}

/// A compose file that is not UTF-8 is refused (exit 2), as compose refuses it, at the line and
/// column of its first byte that is not: in a value, and a sequence the file ends inside.
#[test]
fn text_that_is_not_utf8_is_refused_where_it_stops_being_utf8() {
    for (bytes, at, byte) in [
        (&b"services:\n  web:\n    image: nginx:1.27\n    environment:\n      NAME: caf\xe9\n"[..], ":5:16:", "0xE9"),
        (
            &b"services:\n  web:\n    image: nginx:1.27\n    labels:\n      - \"\xc3\xa9t\xc3\xa9 \xc3"[..],
            ":5:14:",
            "0xC3",
        ),
        // A byte order mark is no column.
        (&b"\xef\xbb\xbf\xffservices:\n"[..], ":1:1:", "0xFF"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("docker-compose.yml"), bytes).unwrap();
        refused_as_compose_refuses(dir.path(), &format!("docker-compose.yml{at} not UTF-8 text: byte {byte}"));
    }
}

/// A `.env` holding bytes that are not UTF-8 is read as compose reads it: its other variables
/// count (`nginx:${TAG}` is `nginx:1.27`), rather than the whole file being dropped.
#[test]
fn dotenv_with_bytes_that_are_not_utf8_still_sets_its_variables() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("docker-compose.yml", "services:\n  web:\n    image: \"nginx:${TAG}\"\n")]);
    std::fs::write(dir.path().join(".env"), b"TAG=1.27\nNAME=caf\xe9\n").unwrap();
    let out = stackfix(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("`nginx:1.27`"), "{text}");
    if let Some(compose) = compose() {
        let model = compose_json(&compose, dir.path()).unwrap();
        assert_eq!(model["services"]["web"]["image"], "nginx:1.27");
    }
}
