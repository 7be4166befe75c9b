//! `stackfix report`: the assessment of each seed stack (snapshotted Markdown), the critical
//! issues each seed report names, the evidence where a seed's claim is contradicted by its files,
//! determinism, JSON that says the same as Markdown, no literal secret shown, and nothing written
//! for a stack that does not load.

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use stackfix::stack::{self, LoadOptions, Profiles};

use crate::common::{assert_snapshot, copy_tree, fixtures, repo, stackfix, stderr, stdout};

/// Each seed stack's directory (where its compose files are; see `args`).
fn seed_dirs() -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = crate::common::subdirs(&fixtures().join("stacks"))
        .into_iter()
        .map(|stack| {
            let name = stack.file_name().unwrap().to_string_lossy().into_owned();
            let dir = match std::fs::read_to_string(stack.join("args")) {
                Ok(args) => stack.join(args.trim()),
                Err(_) => stack,
            };
            (name, dir)
        })
        .collect();
    out.sort();
    out
}

fn report(dir: &Path, args: &[&str]) -> String {
    let mut all = vec!["report", "."];
    all.extend_from_slice(args);
    let out = stackfix(dir, &all);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    stdout(&out)
}

/// The Markdown section starting at `## {name}`, up to the next `## `.
fn section<'a>(markdown: &'a str, name: &str) -> &'a str {
    let start = markdown.find(&format!("\n## {name}\n")).unwrap_or_else(|| panic!("no section {name}"));
    let rest = &markdown[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
    &rest[..end]
}

/// The critical issues each seed report names, as the rules that report them (fixtures/stacks/README.md).
const SEED_CRITICAL: &[(&str, &[&str])] = &[
    ("000-plinto", &["hardcoded-secret", "no-resource-limits", "no-backup", "no-healthcheck"]),
    (
        "001-plugin-platform",
        &[
            "hardcoded-secret",
            "source-bind-mount",
            "dev-build-target",
            "no-resource-limits",
            "no-restart-policy",
            "no-backup",
        ],
    ),
    (
        "002-roi-systems-poc",
        &[
            "no-resource-limits",
            "redis-no-maxmemory",
            "elasticsearch-security-disabled",
            "no-healthcheck",
            "dev-build-target",
            "database-port-published",
            "docker-socket-mount",
            "no-backup",
        ],
    ),
    (
        "004-commandcenter",
        &["alerts-without-alertmanager", "scrape-target-missing", "traefik-no-rate-limit", "no-backup"],
    ),
];

#[test]
fn seed_reports_are_snapshotted_and_name_their_critical_issues() {
    for (name, dir) in seed_dirs() {
        let markdown = report(&dir, &[]);
        assert_snapshot(&repo().join(format!("tests/integration/snapshots/report__{name}.md.snap")), &markdown);
        let issues = section(&markdown, "Issues by priority");
        for (_, rules) in SEED_CRITICAL.iter().filter(|(seed, _)| *seed == name) {
            for rule in *rules {
                // Named with its location: `#### [`rule`](its page)` then `- `file:line:col``.
                let heading = format!("#### [`{rule}`]({}/{rule}.md)", stackfix::report::RULE_DOCS);
                let at = issues.find(&heading).unwrap_or_else(|| panic!("{name}: {rule} not among the issues"));
                assert!(issues[at..].contains("\n- `"), "{name}: {rule} without a location");
            }
        }
        // Every section is there, and the picture names every service of the checked stack.
        for s in ["Summary", "Strengths", "Issues by priority", "Checklist", "Order of the fixes", "The stack"] {
            section(&markdown, s);
        }
        assert!(markdown.contains("```mermaid\nflowchart LR\n"), "{name}");
    }
}

/// Seed 003 says "Critical Issues Found: 0" for its production file; the files say otherwise
/// (Watchtower mounts the Docker socket): the report shows it as critical, with where.
#[test]
fn a_seed_claim_the_files_contradict_is_shown_with_its_evidence() {
    let dir = fixtures().join("stacks/003-bookreader-ai");
    let markdown = report(&dir, &[]);
    let issues = section(&markdown, "Issues by priority");
    let critical = issues.split("\n### ").find(|s| s.starts_with("Critical")).expect("a Critical section");
    assert!(critical.contains("#### [`docker-socket-mount`]("), "{critical}");
    let socket = std::fs::read_to_string(dir.join("docker-compose.production.yml")).unwrap();
    let line = socket.lines().position(|l| l.contains("/var/run/docker.sock")).unwrap() + 1;
    assert!(critical.contains(&format!("`docker-compose.production.yml:{line}:")), "{critical}");
    assert!(critical.contains("watchtower"), "{critical}");
}

#[test]
fn reports_are_deterministic_and_json_says_the_same() {
    let (_, dir) = seed_dirs().into_iter().find(|(n, _)| n == "004-commandcenter").unwrap();
    assert_eq!(report(&dir, &[]), report(&dir, &[]));
    let json_text = report(&dir, &["--format", "json"]);
    assert_eq!(json_text, report(&dir, &["--format", "json"]));
    let json: serde_json::Value = serde_json::from_str(&json_text).unwrap();
    assert_eq!(json["version"], 1);
    let stack = &json["stacks"][0];
    // As many issues as `check` has findings, with the same rules.
    let check = stackfix(&dir, &["check", ".", "--format", "json"]);
    let findings: serde_json::Value = serde_json::from_slice(&check.stdout).unwrap();
    let mut checked: Vec<&str> =
        findings["findings"].as_array().unwrap().iter().map(|f| f["rule"].as_str().unwrap()).collect();
    let mut issued: Vec<&str> =
        stack["issues"].as_array().unwrap().iter().map(|i| i["rule"].as_str().unwrap()).collect();
    checked.sort_unstable();
    issued.sort_unstable();
    assert_eq!(checked, issued);
    // Each issue's rule is described once: what it looks for, why it matters, its page.
    for rule in &issued {
        let info = &stack["rules"][rule];
        assert!(info["summary"].as_str().is_some_and(|s| !s.is_empty()), "{rule}: {info}");
        assert!(info["why"].as_str().is_some_and(|s| !s.is_empty()), "{rule}: {info}");
        assert_eq!(info["docs"], format!("{}/{rule}.md", stackfix::report::RULE_DOCS), "{rule}");
    }
    // The Markdown shows the JSON's overall scores.
    let overall = &stack["scores"]["overall"];
    let row = format!(
        "| **overall** | **{}** | **{}** | **{}** | **{}** |",
        overall["now"], overall["after_fix"], overall["after_unsafe_fixes"], overall["findings"]
    );
    assert!(report(&dir, &[]).contains(&row), "{row}");
}

/// The scores "after" are those of the stack `fix` leaves: each seed stack is fixed for real (a
/// copy, with and without `--unsafe-fixes`) and assessed again, and its scores now are the ones
/// the first report gave after the fix; the by-hand step counts what both runs leave.
#[test]
fn scores_after_the_fixes_are_those_of_the_fixed_stack() {
    let scores = |json: &serde_json::Value, column: &str| -> Vec<serde_json::Value> {
        let s = &json["stacks"][0]["scores"];
        std::iter::once(&s["overall"]).chain(s["areas"].as_array().unwrap()).map(|r| r[column].clone()).collect()
    };
    let mut moved = 0;
    for (name, dir) in seed_dirs() {
        let before: serde_json::Value = serde_json::from_str(&report(&dir, &["--format", "json"])).unwrap();
        let order = before["stacks"][0]["order"].as_array().unwrap();
        let by_hand = order.iter().find(|s| s["command"] == "by hand").map_or(0, |s| s["closes"].as_u64().unwrap());
        for (flags, column) in [(&[][..], "after_fix"), (&["--unsafe-fixes"][..], "after_unsafe_fixes")] {
            let copy = tempfile::tempdir().unwrap();
            copy_tree(&dir, copy.path());
            let fixed = stackfix(copy.path(), &[&["fix", "."][..], flags].concat());
            assert!(fixed.status.code().is_some_and(|c| c <= 1), "{name}: {}", String::from_utf8_lossy(&fixed.stderr));
            let after: serde_json::Value = serde_json::from_str(&report(copy.path(), &["--format", "json"])).unwrap();
            assert_eq!(scores(&before, column), scores(&after, "now"), "{name}: {column}");
            moved += usize::from(scores(&before, column) != scores(&before, "now"));
            // What both runs leave is the by-hand step: today's findings and those on what the
            // fixes add.
            if column == "after_unsafe_fixes" {
                let left = after["stacks"][0]["issues"].as_array().unwrap().len() as u64;
                assert_eq!(left, by_hand, "{name}: the by-hand step is what `fix --unsafe-fixes` leaves");
            }
        }
    }
    // Every seed stack has fixes that move its scores, with and without unsafe fixes.
    assert_eq!(moved, 2 * seed_dirs().len());
}

/// No value `hardcoded-secret` finds is shown, in Markdown or JSON, for any seed stack.
#[test]
fn reports_never_show_a_literal_secret() {
    for (name, dir) in seed_dirs() {
        let stack = stack::load(&LoadOptions::new(dir.clone(), Vec::new(), Profiles::builtin()));
        // Values that are also names of the stack (`postgres`) show as those names.
        let secrets: Vec<String> =
            stackfix::rules::guarded_secrets(&stack).into_iter().filter(|s| s.len() >= 6).collect();
        for text in [report(&dir, &[]), report(&dir, &["--format", "json"])] {
            for secret in &secrets {
                assert!(!text.contains(secret.as_str()), "{name}: the report shows the secret `{secret}`");
            }
        }
        if name.starts_with("001") {
            assert!(!secrets.is_empty(), "{name}: the seed has literal secrets to keep out");
        }
    }
}

/// Credentials written where no rule reads them as values (quoted, escaped, `$$`, a fallback, a
/// command line, a health check, a URL, a mounted Redis configuration, part of an image name)
/// are redacted in every format, though the diffs around them show those lines.
#[test]
fn credentials_in_any_shape_are_redacted_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let compose = r#"services:
  db:
    image: postgres:16.4-alpine
    environment:
      POSTGRES_PASSWORD: 'it''s-Hunter2x'
      JWT_SECRET: "abc$$defSecretZ"
      GITEA_ADMIN_PASSWORD: ${GITEA_ADMIN_PASSWORD:-FallbackPw7}
    healthcheck:
      test: ["CMD-SHELL", "curl -fsS -u admin:CurlPw9 http://localhost/ && mysqladmin ping -pMysqlHc1"]
  worker:
    image: ghcr.io/acme/worker:1.2.3
    command: ["worker", "--broker", "amqp://guest:AmqpCmd2@rabbit:5672/", "--token", "TokenFlag3"]
  pgadmin:
    image: dpage/pgadmin4:8.6
    environment:
      PGADMIN_DEFAULT_PASSWORD: admin4
  redis:
    image: redis:7.4.1
    command: ["redis-server", "/usr/local/etc/redis/redis.conf"]
    volumes:
      - ./redis.conf:/usr/local/etc/redis/redis.conf:ro
"#;
    std::fs::write(dir.path().join("docker-compose.yml"), compose).unwrap();
    std::fs::write(dir.path().join("redis.conf"), "port 6379\nrequirepass RedisConf8888\n").unwrap();
    let secrets =
        ["Hunter2x", "defSecretZ", "FallbackPw7", "CurlPw9", "MysqlHc1", "AmqpCmd2", "TokenFlag3", "RedisConf8888"];
    for format in ["markdown", "json", "html"] {
        let text = report(dir.path(), &["--format", format]);
        assert!(text.contains("<redacted>") || text.contains("&lt;redacted&gt;"), "{format}: nothing redacted");
        for secret in secrets {
            assert!(!text.contains(secret), "{format}: the report shows `{secret}`");
        }
        // `admin4` is only part of the image's name `pgadmin4`: still a secret.
        assert!(!text.contains(": admin4") && !text.contains("`admin4`"), "{format}: the report shows `admin4`");
    }
}

/// Credentials in the shapes clients and proxies take them (a reference's fallback after a
/// secret flag, whatever the variable is named; `redis-cli -a`; `mongosh -p`; a JSON Web Token; an
/// htpasswd hash in a label and in a Traefik file) are redacted in every format; a short literal
/// secret (`test`) is hidden where it stands alone, not inside names and paths (`perf-tests`,
/// `latest`).
#[test]
fn credentials_of_clients_tokens_and_hashes_are_redacted_and_short_secrets_stay_words() {
    let dir = tempfile::tempdir().unwrap();
    let compose = r#"services:
  cache:
    image: redis:7.2
    command: ["redis-server", "--requirepass", "${REDIS_X:-PlantFallback12}"]
    healthcheck:
      test: ["CMD", "redis-cli", "-a", "PlantCliA1", "ping"]
  mongo:
    image: mongo:7.0
    healthcheck:
      test: mongosh -u root -p PlantMongoB2 --eval "db.adminCommand('ping')"
  perf-tests:
    image: myorg/runner:latest
    environment:
      POSTGRES_PASSWORD: test
      JWT: eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJQTEFOVCJ9.PlantSigC3
  traefik:
    image: traefik:v3.1
    command: ["--providers.docker=true", "--providers.file.filename=/etc/traefik/dynamic.yml"]
    labels:
      - traefik.http.middlewares.auth.basicauth.users=admin:$$apr1$$PlantSalt$$PlantHashLabel9
    volumes:
      - ./dynamic.yml:/etc/traefik/dynamic.yml:ro
"#;
    std::fs::write(dir.path().join("docker-compose.yml"), compose).unwrap();
    std::fs::write(
        dir.path().join("dynamic.yml"),
        "http:\n  middlewares:\n    auth:\n      basicAuth:\n        users: [\"admin:$apr1$PlantSalt$PlantHashFile8\"]\n  routers:\n    app:\n      rule: Host(`a.example.com`)\n      service: app\n  services:\n    app:\n      loadBalancer:\n        servers: [{url: \"http://app:80\"}]\n",
    )
    .unwrap();
    let secrets = ["PlantFallback12", "PlantCliA1", "PlantMongoB2", "PlantSigC3", "PlantHashLabel9", "PlantHashFile8"];
    for format in ["markdown", "json", "html"] {
        let text = report(dir.path(), &["--format", format]);
        for secret in secrets {
            assert!(!text.contains(secret), "{format}: the report shows `{secret}`");
        }
        assert!(!text.contains(": test\n") && !text.contains("`test`"), "{format}: the report shows `test`");
        assert!(text.contains("perf-tests") && text.contains("runner:latest"), "{format}: names broken");
        assert!(!text.contains("perf-<redacted>") && !text.contains("&lt;redacted&gt;s"), "{format}: names broken");
    }
}

/// `-o` never replaces a file of the stack it assesses, and writes into what is not a regular
/// file (`/dev/null`, a pipe) without replacing it.
#[test]
fn the_report_is_not_written_over_the_stack_or_a_device() {
    let dir = tempfile::tempdir().unwrap();
    let compose = "services:\n  api:\n    image: nginx:1.27.3\n";
    std::fs::write(dir.path().join("docker-compose.yml"), compose).unwrap();
    for target in ["docker-compose.yml", "./docker-compose.yml"] {
        let out = stackfix(dir.path(), &["report", ".", "-o", target]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains("a file of the stack; not overwriting it"), "{}", stderr(&out));
    }
    let out = stackfix(dir.path(), &["check", ".", "--format", "sarif", "--output-file", "docker-compose.yml"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(dir.path().join("docker-compose.yml")).unwrap(), compose);
    let fifo = dir.path().join("pipe");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let reader = std::thread::spawn({
        let fifo = fifo.clone();
        move || std::fs::read_to_string(fifo).unwrap()
    });
    let out = stackfix(dir.path(), &["report", ".", "-o", "pipe"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(reader.join().unwrap().starts_with("# Production readiness: `"));
    assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo(), "the pipe was replaced");
    let out = stackfix(dir.path(), &["report", ".", "-o", "missing/dir/report.md"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("the directory missing/dir does not exist"), "{}", stderr(&out));
}

/// Strengths are facts: a health check that always passes or calls a program the image lacks,
/// `service_healthy` on a service whose check is disabled, and alerts sent to an Alertmanager the
/// stack does not run are not strengths. Services only a development file has are not scored.
#[test]
fn strengths_and_scores_rest_on_facts() {
    let dir = tempfile::tempdir().unwrap();
    let compose = r#"services:
  db:
    image: postgres:16.4-alpine
    healthcheck:
      test: ["CMD", "curl", "-f", "http://localhost:5432"]
  cache:
    image: redis:7.4.1
    healthcheck:
      test: ["CMD-SHELL", "exit 0"]
  migrate:
    image: ghcr.io/acme/migrate:1.0.0
    healthcheck:
      disable: true
  app:
    image: ghcr.io/acme/app:1.0.0
    depends_on:
      migrate:
        condition: service_healthy
  prometheus:
    image: prom/prometheus:v2.54.1
    volumes:
      - ./prometheus.yml:/etc/prometheus/prometheus.yml:ro
"#;
    std::fs::write(dir.path().join("docker-compose.yml"), compose).unwrap();
    let prometheus = "alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: [\"alertmanager:9093\"]\n";
    std::fs::write(dir.path().join("prometheus.yml"), prometheus).unwrap();
    let json: serde_json::Value = serde_json::from_str(&report(dir.path(), &["--format", "json"])).unwrap();
    let strengths: Vec<String> = json["stacks"][0]["strengths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["text"].as_str().unwrap().to_string())
        .collect();
    for wrong in ["`curl` health check", "`exit` health check", "is healthy", "Alertmanager"] {
        assert!(!strengths.iter().any(|s| s.contains(wrong)), "a strength that is not one ({wrong}): {strengths:?}");
    }
    let overall = |json: &serde_json::Value| json["stacks"][0]["scores"]["overall"]["now"].as_u64().unwrap();
    let before = overall(&json);
    // Clean services in a development file change nothing in the production scores.
    let mut dev = String::from("services:\n");
    for i in 0..9 {
        dev.push_str(&format!("  tool{i}:\n    image: busybox:1.37.0\n    profiles: [tools]\n"));
    }
    std::fs::write(dir.path().join("docker-compose.override.yml"), dev).unwrap();
    let json: serde_json::Value = serde_json::from_str(&report(dir.path(), &["--format", "json"])).unwrap();
    assert_eq!(overall(&json), before, "development-only services moved the production score");
    // Their findings are listed, at low priority and marked.
    let issues = json["stacks"][0]["issues"].as_array().unwrap();
    let dev: Vec<_> = issues.iter().filter(|i| i["service"] == "tool0").collect();
    assert!(!dev.is_empty() && dev.iter().all(|i| i["priority"] == "low" && i["development_only"] == true));
    assert!(issues.iter().filter(|i| i["service"] == "db").all(|i| i["development_only"] == false));
}

/// A rule switched off is listed as not checked, never ticked as passed.
#[test]
fn switched_off_rules_are_not_ticked() {
    let dir = tempfile::tempdir().unwrap();
    let compose =
        "services:\n  db:\n    image: postgres:16.4-alpine\n    environment:\n      POSTGRES_PASSWORD: Hunter2x\n";
    std::fs::write(dir.path().join("docker-compose.yml"), compose).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&report(dir.path(), &["--format", "json", "--ignore", "hardcoded-secret"])).unwrap();
    let stack = &json["stacks"][0];
    assert!(!stack["checklist"].as_array().unwrap().iter().any(|c| c["rule"] == "hardcoded-secret"));
    assert_eq!(stack["not_checked"], serde_json::json!(["hardcoded-secret"]));
    let markdown = report(dir.path(), &["--ignore", "hardcoded-secret"]);
    assert!(markdown.contains("Not checked (switched off by the settings): `hardcoded-secret`"), "{markdown}");
    assert!(!markdown.contains("[x] **security** `hardcoded-secret`"));
}

#[test]
fn a_stack_that_does_not_load_gets_no_report() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("docker-compose.yml"), "services:\n  api: [\n").unwrap();
    let out = stackfix(dir.path(), &["report", ".", "-o", "report.md"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("docker-compose.yml:"), "{}", stderr(&out));
    assert!(!dir.path().join("report.md").exists());
    // A good stack: written whole to the file, nothing on stdout.
    std::fs::write(dir.path().join("docker-compose.yml"), "services:\n  api:\n    image: nginx:1.27.3\n").unwrap();
    let out = stackfix(dir.path(), &["report", ".", "-o", "report.md"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
    let written = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(written.starts_with("# Production readiness: `"), "{written}");
}

#[test]
fn stacks_that_do_not_load_are_named_in_a_report_of_the_others() {
    let root = tempfile::tempdir().unwrap();
    for (dir, text) in [("bad", "services:\n  api: [\n"), ("good", "services:\n  api:\n    image: nginx:1.27.3\n")] {
        std::fs::create_dir(root.path().join(dir)).unwrap();
        std::fs::write(root.path().join(dir).join("docker-compose.yml"), text).unwrap();
    }
    let out = stackfix(root.path(), &["report", "bad", "good"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("# Stacks not assessed\n"), "{text}");
    assert!(text.contains("- `bad`\n  - error: bad/docker-compose.yml:"), "{text}");
    assert!(text.contains("# Production readiness: `good`"), "{text}");
    let out = stackfix(root.path(), &["report", "bad", "good", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["not_assessed"][0]["stack"], "bad");
    assert_eq!(json["stacks"][0]["stack"], "good");
}

/// Every stack of the shared corpus: a report in one run, no panic, the same bytes twice, no
/// literal secret shown.
#[test]
fn corpus_reports_are_made_deterministically_without_secrets() {
    let Some(corpus) = crate::common::shared("corpus") else { return };
    let run = || stackfix(&corpus, &["report", "--recursive", "."]);
    let (first, second) = (run(), run());
    assert!(matches!(first.status.code(), Some(0 | 2)), "{}", stderr(&first));
    assert!(!stderr(&first).contains("panicked"), "{}", stderr(&first));
    let text = stdout(&first);
    if let Some((a, b)) = text.lines().zip(stdout(&second).lines()).find(|(a, b)| a != b) {
        panic!("two runs differ:\n{a}\n{b}");
    }
    assert_eq!(first.stdout.len(), second.stdout.len(), "two runs differ in length");
    assert!(text.matches("# Production readiness: `").count() > 60, "most corpus stacks are assessed");
    let mut checked = 0;
    for dir in stack_dirs(&corpus) {
        let stack = stack::load(&LoadOptions::new(dir.clone(), Vec::new(), Profiles::builtin()));
        // A secret that is a plain word (`password`, `changeme`) is in the report's own prose too.
        let word = |s: &str| s.chars().all(|c| c.is_ascii_alphabetic());
        for secret in stackfix::rules::guarded_secrets(&stack).into_iter().filter(|s| s.len() >= 8 && !word(s)) {
            checked += 1;
            assert!(!text.contains(&secret), "{}: the report shows the secret `{secret}`", dir.display());
        }
    }
    assert!(checked > 10, "only {checked} literal secrets in the corpus to look for");
}

/// Every directory at or below `dir` holding a compose file.
fn stack_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let is_compose = |p: &Path| {
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        (name.starts_with("docker-compose") || name.starts_with("compose"))
            && (name.ends_with(".yml") || name.ends_with(".yaml"))
    };
    let entries: Vec<PathBuf> = std::fs::read_dir(dir).into_iter().flatten().flatten().map(|e| e.path()).collect();
    if entries.iter().any(|p| p.is_file() && is_compose(p)) {
        out.push(dir.to_path_buf());
    }
    for sub in entries.iter().filter(|p| p.is_dir()) {
        out.extend(stack_dirs(sub));
    }
    out
}

/// Runs headless Chromium (the flags the machine needs: no sandbox as root, nothing from the
/// network) on `page` with `args`, in a fresh profile; returns stdout and stderr.
fn chromium(browser: &Path, page: &Path, args: &[&str]) -> (String, String) {
    let profile = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--allow-file-access-from-files",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// A PNG's width and height (its IHDR chunk).
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (be(16), be(20))
}

/// The HTML report opened in a real browser: it renders (a screenshot the size of a phone's
/// screen, not blank), the diagram is there with every service, no console message, and the page
/// loads nothing: no script, stylesheet, image or font from anywhere.
#[test]
fn the_html_report_renders_in_a_headless_browser() {
    let Some(browser) = crate::common::validator("chromium") else { return };
    let (_, dir) = seed_dirs().into_iter().find(|(n, _)| n == "004-commandcenter").unwrap();
    let html = report(&dir, &["--format", "html"]);
    assert_eq!(html, report(&dir, &["--format", "html"]), "the same files give the same bytes");
    for external in ["<script", "<link", " src=", "@import", "url(http", "@font-face"] {
        assert!(!html.contains(external), "the page loads something: {external}");
    }
    assert!(html.contains("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"));
    let work = tempfile::tempdir().unwrap();
    let page = work.path().join("report.html");
    std::fs::write(&page, &html).unwrap();
    // The DOM as the browser built it: the inline SVG with a box per service.
    let (dom, stderr) = chromium(&browser, &page, &["--enable-logging=stderr", "--v=0", "--dump-dom"]);
    assert!(!stderr.contains("CONSOLE"), "console messages: {stderr}");
    let svg_start = dom.find("<svg class=\"stack\"").expect("the diagram is in the page");
    let svg = &dom[svg_start..svg_start + dom[svg_start..].find("</svg>").unwrap()];
    for service in ["traefik", "postgres", "redis", "backend", "prometheus", "grafana"] {
        assert!(svg.contains(&format!(">{service}<")), "{service} is not in the diagram");
    }
    assert!(svg.contains("service_healthy"), "depends_on conditions label the arrows");
    // A phone-sized screenshot.
    let shot = work.path().join("report.png");
    let (_, stderr) =
        chromium(&browser, &page, &["--window-size=390,844", &format!("--screenshot={}", shot.display())]);
    let png = std::fs::read(&shot).unwrap_or_else(|_| panic!("no screenshot: {stderr}"));
    assert_eq!(png_size(&png), (390, 844));
    // Text and tables, not a blank page: a blank PNG of that size compresses to a few KB.
    assert!(png.len() > 20_000, "the screenshot is {} bytes: blank?", png.len());
    // Nothing makes the page wider than the phone (long URLs and names wrap; tables, diffs and
    // the diagram scroll in their own boxes): a probe copy of the page gives the body a phone's
    // width (headless Chromium's window is at least 500px wide) and measures what it holds.
    let probe = work.path().join("probe.html");
    let measure = "<script>var b=document.body;b.style.boxSizing='border-box';b.style.width='390px';\
                   b.style.maxWidth='390px';b.style.overflowX='auto';b.setAttribute('data-width',b.scrollWidth)</script>";
    std::fs::write(&probe, html.replace("</body>", &format!("{measure}</body>"))).unwrap();
    let (dom, _) = chromium(&browser, &probe, &["--window-size=390,844", "--dump-dom"]);
    let width: u32 = dom
        .split("data-width=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no width measured: {dom:.300}"));
    assert!(width <= 390, "the page is {width}px wide on a 390px screen: it scrolls sideways");
}

/// The Markdown report's Mermaid diagram, rendered by the real Mermaid library (npm, loaded from
/// disk) in the same headless browser, for every seed stack; a broken diagram fails there, so
/// the harness does see errors.
#[test]
fn the_markdown_diagrams_render_with_mermaid() {
    let Some(browser) = crate::common::validator("chromium") else { return };
    let Some(mermaid) = crate::common::validator("mermaid.min.js") else { return };
    let mermaid = mermaid.canonicalize().unwrap();
    let work = tempfile::tempdir().unwrap();
    let render = |name: &str, code: &str| -> String {
        let page = work.path().join(format!("{name}.html"));
        let html = format!(
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body><div id=\"out\"></div>\n\
             <script src=\"file://{}\"></script>\n<script>\nconst code = {};\n\
             mermaid.initialize({{ startOnLoad: false, securityLevel: 'strict' }});\n\
             mermaid.parse(code).then(() => mermaid.render('diagram', code)).then(r => {{\n\
               document.getElementById('out').innerHTML = r.svg;\n\
               document.body.setAttribute('data-result', 'ok');\n\
             }}).catch(e => document.body.setAttribute('data-result', 'error: ' + (e && e.message || e)));\n\
             </script></body></html>\n",
            mermaid.display(),
            serde_json::to_string(code).unwrap()
        );
        std::fs::write(&page, html).unwrap();
        chromium(&browser, &page, &["--virtual-time-budget=20000", "--dump-dom"]).0
    };
    let broken = render("broken", "flowchart LR\n  s0[\"unclosed\n");
    assert!(broken.contains("data-result=\"error"), "a broken diagram must fail: {broken}");
    for (name, dir) in seed_dirs() {
        let markdown = report(&dir, &[]);
        let start = markdown.find("```mermaid\n").expect("a diagram") + "```mermaid\n".len();
        let code = &markdown[start..start + markdown[start..].find("```").unwrap()];
        let dom = render(&name, code);
        assert!(dom.contains("data-result=\"ok\""), "{name}: Mermaid did not render the diagram: {dom}");
        assert!(dom.contains("<svg id=\"diagram\""), "{name}: no SVG");
    }
}

/// A stack too large to lay out quickly gets its network groups in words instead of a diagram
/// (layout-rs takes minutes on 100 services), and one too large for GitHub's Mermaid no diagram.
#[test]
fn large_stacks_are_described_not_drawn() {
    let dir = tempfile::tempdir().unwrap();
    let mut compose = String::from("services:\n");
    for i in 0..1000 {
        compose.push_str(&format!("  service-{i}:\n    image: nginx:1.27.3\n    networks: [net{}]\n", i % 3));
    }
    compose.push_str("networks:\n  net0:\n  net1:\n  net2:\n");
    std::fs::write(dir.path().join("docker-compose.yml"), compose).unwrap();
    let started = std::time::Instant::now();
    let html = report(dir.path(), &["--format", "html"]);
    assert!(html.contains("The stack has 1000 services: too many to draw here"), "no note");
    assert!(!html.contains("<svg"), "a diagram of 1000 services");
    assert!(html.contains("network net0: <code>service-0</code>"), "the groups are listed");
    let markdown = report(dir.path(), &[]);
    assert!(markdown.contains("characters of Mermaid, more than GitHub renders"));
    assert!(!markdown.contains("```mermaid"));
    // Seconds, not minutes (the layout is not attempted).
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
}

/// A stack with no service has nothing to score: `n/a`, not a perfect 100.
#[test]
fn a_stack_without_services_has_no_score() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("docker-compose.yml"), "services: {}\n").unwrap();
    let json: serde_json::Value = serde_json::from_str(&report(dir.path(), &["--format", "json"])).unwrap();
    let scores = &json["stacks"][0]["scores"];
    for row in std::iter::once(&scores["overall"]).chain(scores["areas"].as_array().unwrap()) {
        for column in ["now", "after_fix", "after_unsafe_fixes"] {
            assert!(row[column].is_null(), "{row}");
        }
    }
    assert!(report(dir.path(), &[]).contains("| **overall** | **n/a** | **n/a** | **n/a** | **0** |"));
}

/// `-o FILE` picks the format its extension names unless `--format` says otherwise.
#[test]
fn the_output_file_extension_picks_the_format() {
    let (_, dir) = seed_dirs().into_iter().find(|(n, _)| n == "004-commandcenter").unwrap();
    let out = tempfile::tempdir().unwrap();
    let written = |name: &str, extra: &[&str]| {
        let path = out.path().join(name);
        let path_text = path.to_str().unwrap().to_string();
        let run = stackfix(&dir, &[&["report", ".", "-o", path_text.as_str()][..], extra].concat());
        assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
        std::fs::read_to_string(path).unwrap()
    };
    assert!(written("r.html", &[]).starts_with("<!DOCTYPE html>"));
    assert!(written("r.HTM", &[]).starts_with("<!DOCTYPE html>"));
    assert!(serde_json::from_str::<serde_json::Value>(&written("r.json", &[])).is_ok());
    assert!(written("r.md", &[]).starts_with("# Production readiness"));
    assert!(written("r.txt", &[]).starts_with("# Production readiness"));
    assert!(written("r.html", &["--format", "markdown"]).starts_with("# Production readiness"));
}

/// A production file of its own is a strength, as an overlay or standalone beside a development
/// file; a stack of one file (production and development alike) has none.
#[test]
fn a_production_file_of_its_own_is_a_strength() {
    let has = |files: &[(&str, &str)]| {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let json: serde_json::Value = serde_json::from_str(&report(dir.path(), &["--format", "json"])).unwrap();
        json["stacks"][0]["strengths"].as_array().unwrap().iter().any(|s| {
            s["area"] == "deployment"
                && s["text"].as_str().unwrap().starts_with("production settings live in their own file")
        })
    };
    let dev = "services:\n  web:\n    image: nginx:1.27\n";
    let prod = "services:\n  web:\n    image: nginx:1.27\n    restart: unless-stopped\n";
    assert!(has(&[("docker-compose.yml", dev), ("docker-compose.prod.yml", prod)]), "standalone");
    assert!(!has(&[("docker-compose.yml", dev)]), "one file");
}

/// A rule whose findings a person silenced is ticked, and says how many it silenced.
#[test]
fn silenced_findings_are_counted_in_the_checklist() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("docker-compose.yml"),
        "services:\n  web:  # stackfix: ignore[no-healthcheck] probed by the load balancer\n    image: nginx:1.27\n",
    )
    .unwrap();
    let json: serde_json::Value = serde_json::from_str(&report(dir.path(), &["--format", "json"])).unwrap();
    let item =
        json["stacks"][0]["checklist"].as_array().unwrap().iter().find(|c| c["rule"] == "no-healthcheck").cloned();
    let item = item.expect("no-healthcheck judges the stack");
    assert_eq!(
        (item["done"].as_bool(), item["open"].as_u64(), item["silenced"].as_u64()),
        (Some(true), Some(0), Some(1))
    );
    assert!(report(dir.path(), &[]).contains("`no-healthcheck`: service has no health check (1 silenced)"));
}

/// A rule about a kind of service the stack does not run is neither ticked nor open: it had
/// nothing to judge, and the checklist says why.
#[test]
fn rules_with_nothing_to_judge_are_not_ticked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("docker-compose.yml"),
        "services:\n  db:\n    image: postgres:16.4\n    environment:\n      POSTGRES_PASSWORD: ${PG:?set PG}\n  cache:\n    image: redis:7.4\n",
    )
    .unwrap();
    let json: serde_json::Value = serde_json::from_str(&report(dir.path(), &["--format", "json"])).unwrap();
    let item = |rule: &str| {
        json["stacks"][0]["checklist"].as_array().unwrap().iter().find(|c| c["rule"] == rule).cloned().unwrap()
    };
    for (rule, why) in
        [("missing-exporter", "no `prometheus` service"), ("traefik-no-rate-limit", "no `traefik` service")]
    {
        let item = item(rule);
        assert_eq!((item["done"].as_bool(), item["nothing_to_judge"].as_str()), (Some(false), Some(why)), "{item}");
    }
    // A redis is there: its rule judges it.
    assert!(item("redis-no-maxmemory")["nothing_to_judge"].is_null());
    let markdown = report(dir.path(), &[]);
    assert!(
        markdown.contains("- n/a **observability** `missing-exporter`: data store without a Prometheus exporter (nothing to judge: no `prometheus` service)"),
        "{markdown}"
    );
    assert!(!markdown.contains("[x] **edge** `traefik-no-rate-limit`"), "{markdown}");
}

/// A password hash written as a default credential (`ADMIN_PASSWORD_HASH=$$2a$$14$$…`, as a
/// literal or a fallback) is shown in no format of the report.
#[test]
fn password_hashes_are_redacted_in_every_format() {
    let dir = fixtures().join("hardcoded-secret/bad/password-hash");
    for format in ["markdown", "json", "html"] {
        let text = report(&dir, &["--format", format]);
        for body in [
            "1l.IozJx7xQRVmlkEQ32OeEEfP5mRxTpbDTCTcXRqn19gXD8YK1pO",
            "KIXQJ1Gq0p0e8s5y1zJr4uGq3g5q1n7b3Wn8cJ0VxQm4oYb9n1a2S",
        ] {
            assert!(!text.contains(body), "{format}: the report shows a password hash");
        }
        assert!(text.contains("ADMIN_PASSWORD_HASH"), "{format}: the finding is not reported");
    }
}
