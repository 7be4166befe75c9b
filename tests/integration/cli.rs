//! Command-line behaviour: exit codes, formats, errors with positions, configuration, ignores.

use std::fs;
use std::path::Path;

use crate::common::{check_json, fixtures, repo, stackfix, stderr, stdout};

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

#[test]
fn exit_codes() {
    let clean = fixtures().join("no-restart-policy/good/policies");
    assert_eq!(stackfix(&clean, &["check", ".", "--select", "no-restart-policy"]).status.code(), Some(0));
    let bad = fixtures().join("no-restart-policy/bad/basic");
    assert_eq!(stackfix(&bad, &["check"]).status.code(), Some(1));
    let out = stackfix(&bad, &["check", "does-not-exist"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("does-not-exist: no such file or directory"), "{}", stderr(&out));
    let out = stackfix(&bad, &["check", "--select", "no-such-rule"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unknown rule `no-such-rule`"));
    assert_eq!(stackfix(&bad, &["check", "--format", "yaml"]).status.code(), Some(2));
}

/// `fix` and `bootstrap` accept, and their help lists, only the formats they write.
#[test]
fn write_commands_offer_only_their_formats() {
    let bad = fixtures().join("no-restart-policy/bad/basic");
    for command in ["fix", "bootstrap"] {
        let help = stdout(&stackfix(&bad, &[command, "--help"]));
        let values = help.split("--format <FORMAT>").nth(1).unwrap().split("[default").next().unwrap();
        assert!(values.contains("- text:") && values.contains("- json:"), "{values}");
        assert!(!values.contains("sarif") && !values.contains("github") && !values.contains("gitlab"), "{values}");
        for format in ["sarif", "github", "gitlab"] {
            let out = stackfix(&bad, &[command, "--diff", "--format", format]);
            assert_eq!(out.status.code(), Some(2), "{command} --format {format}");
            assert!(stderr(&out).contains("[possible values: text, json]"), "{}", stderr(&out));
        }
    }
}

#[test]
fn bad_yaml_is_exit_2_with_file_line_col() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "docker-compose.yml", "services:\n  web:\n    image:\tnginx\n");
    let out = stackfix(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("docker-compose.yml:3:11:"), "{err}");
    assert!(err.contains("help:") && err.contains("tab"), "{err}");

    write(dir.path(), "docker-compose.yml", "services:\n  web: [unclosed\n");
    let out = stackfix(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("docker-compose.yml:"), "{}", stderr(&out));

    write(dir.path(), "docker-compose.yml", "services:\n  web:\n    image: a\n    image: b\n");
    let out = stackfix(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("docker-compose.yml:4:5: duplicate key `image`"), "{}", stderr(&out));
}

#[test]
fn a_bad_file_does_not_stop_the_others() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "docker-compose.yml", "services:\n  api:\n    image: ghcr.io/acme/api:1\n");
    write(dir.path(), "docker-compose.prod.yml", "services:\n  api: {image: [\n");
    let out = stackfix(dir.path(), &["check", "--format", "json"]);
    assert_eq!(out.status.code(), Some(2));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["errors"][0]["file"], "docker-compose.prod.yml");
    assert!(json["errors"][0]["line"].as_u64().is_some());
    assert!(json["findings"].as_array().unwrap().iter().any(|f| f["rule"] == "no-healthcheck"));
}

#[test]
fn json_has_the_documented_fields() {
    let (_, json) = check_json(&fixtures().join("no-resource-limits/bad/overlay"), &[]);
    let f = json["findings"].as_array().unwrap().iter().find(|f| f["rule"] == "no-resource-limits").unwrap();
    // Exactly the fields README documents.
    let keys: Vec<&str> = f.as_object().unwrap().keys().map(String::as_str).collect();
    let mut documented = vec![
        "rule",
        "severity",
        "file",
        "line",
        "column",
        "end_line",
        "end_column",
        "service",
        "message",
        "help",
        "url",
        "related",
        "fix",
    ];
    documented.sort();
    assert_eq!(keys, documented);
    let fix_keys: Vec<&str> = f["fix"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(fix_keys, ["applicability", "available", "file", "title"]);
    assert_eq!(f["url"], "https://github.com/stackfix/stackfix/blob/main/docs/rules/no-resource-limits.md");
    assert_eq!(f["file"], "docker-compose.prod.yml", "production rules point at the overlay");
    assert_eq!((f["line"].as_u64(), f["column"].as_u64()), (Some(2), Some(3)));
    assert_eq!(f["service"], "api");
    // `api`'s image is not one stackfix knows: the figure is a guess.
    assert_eq!(f["fix"]["applicability"], "unsafe");
    assert_eq!(f["fix"]["available"], true);
    assert_eq!(f["fix"]["file"], "docker-compose.prod.yml");
    assert!(f["fix"]["title"].as_str().unwrap().starts_with("add resource limits"));
}

#[test]
fn sarif_is_2_1_0_with_located_results() {
    let dir = fixtures().join("hardcoded-secret/bad/literals");
    let out = stackfix(&dir, &["check", ".", "--format", "sarif"]);
    assert_eq!(out.status.code(), Some(1));
    let sarif: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let run = &sarif["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "stackfix");
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let results = run["results"].as_array().unwrap();
    assert!(!results.is_empty());
    for r in results {
        let index = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index]["id"], r["ruleId"]);
        assert!(matches!(r["level"].as_str(), Some("error" | "warning" | "note")));
        let region = &r["locations"][0]["physicalLocation"]["region"];
        assert!(region["startLine"].as_u64().unwrap() >= 1 && region["startColumn"].as_u64().unwrap() >= 1);
        // Relative to the repository holding the stack, whatever the working directory.
        let location = &r["locations"][0]["physicalLocation"]["artifactLocation"];
        assert_eq!(location["uri"], "fixtures/hardcoded-secret/bad/literals/docker-compose.yml");
        assert_eq!(location["uriBaseId"], "%SRCROOT%");
    }
}

/// Annotations name files relative to the repository (GitHub places them so), whatever the
/// working directory: the git work tree's top, or `GITHUB_WORKSPACE` in a workflow.
#[test]
fn github_annotations() {
    let dir = fixtures().join("no-restart-policy/bad/basic");
    let text = stdout(&stackfix(&dir, &["check", ".", "--format", "github"]));
    let line = text.lines().find(|l| l.contains("title=no-restart-policy")).unwrap();
    let file = "file=fixtures/no-restart-policy/bad/basic/docker-compose.yml,line=3,col=3,";
    assert!(line.starts_with(&format!("::warning title=no-restart-policy,{file}")), "{line}");
    let workspace = tempfile::tempdir().unwrap();
    write(workspace.path(), "deploy/docker-compose.yml", "services:\n  api:\n    image: nginx:1.27\n");
    write(workspace.path(), "deploy/broken/docker-compose.yml", "services:\n  api: [\n");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_stackfix"))
        .args(["check", ".", "broken", "--format", "github", "--select", "no-restart-policy"])
        .current_dir(workspace.path().join("deploy"))
        .env("GITHUB_WORKSPACE", workspace.path())
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(text.contains("::error title=stackfix,file=deploy/broken/docker-compose.yml,line=3,"), "{text}");
    assert!(text.contains("::warning title=no-restart-policy,file=deploy/docker-compose.yml,line=2,"), "{text}");
}

#[test]
fn secrets_are_never_printed() {
    let dir = fixtures().join("hardcoded-secret/bad/literals");
    for format in ["text", "json", "sarif", "github"] {
        let out = stackfix(&dir, &["check", ".", "--format", format]);
        let all = format!("{}{}", stdout(&out), stderr(&out));
        for secret in ["your-secret-key-change-in-production", "hunter2", "dev-secret", "redis123"] {
            assert!(!all.contains(secret), "{format} output shows a secret");
        }
        assert!(all.contains("hardcoded-secret"));
    }
}

#[test]
fn text_is_uncolored_off_a_terminal_and_colored_on_request() {
    let dir = fixtures().join("no-restart-policy/bad/basic");
    let plain = stdout(&stackfix(&dir, &["check"]));
    assert!(!plain.contains('\x1b'));
    assert!(
        plain
            .lines()
            .any(|l| l == "docker-compose.yml:3:3: no-restart-policy: service `api` has no restart policy [warning]"),
        "{plain}"
    );
    let colored = stdout(&stackfix(&dir, &["check", "--color", "always"]));
    assert!(colored.contains("\x1b["));
    // The rule's name links to its page (OSC 8).
    let link = "\x1b]8;;https://github.com/stackfix/stackfix/blob/main/docs/rules/no-restart-policy.md\x1b\\no-restart-policy\x1b]8;;\x1b\\";
    assert!(colored.contains(link), "{colored:?}");
}

#[test]
fn inline_ignore_comments() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "docker-compose.yml",
        "services:\n  api: # stackfix: ignore[no-healthcheck, no-restart-policy]\n    image: ghcr.io/acme/api:1\n    environment:\n      API_TOKEN: abc123 # stackfix: ignore[hardcoded-secret]\n",
    );
    let (_, json) = check_json(dir.path(), &[]);
    let rules: Vec<&str> = json["findings"].as_array().unwrap().iter().map(|f| f["rule"].as_str().unwrap()).collect();
    assert!(
        !rules.contains(&"no-healthcheck")
            && !rules.contains(&"no-restart-policy")
            && !rules.contains(&"hardcoded-secret"),
        "{rules:?}"
    );
    assert!(rules.contains(&"no-resource-limits"));
}

/// Suppressions without the space after `#` (or after `stackfix:`) count too; a name that is no
/// rule is noted with the closest one; `--unused-suppressions` notes those that silenced nothing
/// (of the rules that ran).
#[test]
fn suppression_comments_spelled_loosely_unknown_names_and_unused_ones() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "docker-compose.yml",
        "services:\n  api: #stackfix:ignore[no-restart-policy] restarted by systemd\n    image: ghcr.io/acme/api:1\n    healthcheck: # stackfix: ignore[no-healthcheck]\n      test: [CMD, /bin/probe]\n  worker: # stackfix: ignore[no-helthcheck, no-log-rotation]\n    image: ghcr.io/acme/worker:1\n",
    );
    let select = "no-restart-policy,no-healthcheck,no-log-rotation";
    let (_, json) = check_json(dir.path(), &["--select", select]);
    let found: Vec<(&str, &str)> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["rule"].as_str().unwrap(), f["service"].as_str().unwrap()))
        .collect();
    assert!(!found.contains(&("no-restart-policy", "api")), "{found:?}");
    assert!(found.contains(&("no-restart-policy", "worker")), "{found:?}");
    assert!(!found.contains(&("no-log-rotation", "worker")), "{found:?}");
    let notes: Vec<&str> = json["notes"].as_array().unwrap().iter().map(|n| n["message"].as_str().unwrap()).collect();
    assert!(
        notes.iter().any(|n| n.contains("names `no-helthcheck`, which is no rule (did you mean `no-healthcheck`?)")),
        "{notes:?}"
    );
    assert!(!notes.iter().any(|n| n.contains("unused suppression")), "only on request: {notes:?}");
    let (_, json) = check_json(dir.path(), &["--select", select, "--unused-suppressions"]);
    let unused: Vec<(u64, &str)> = json["notes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["message"].as_str().unwrap().starts_with("unused suppression"))
        .map(|n| (n["line"].as_u64().unwrap(), n["message"].as_str().unwrap()))
        .collect();
    // The health check line's suppression silenced nothing (api has a health check).
    assert_eq!(unused, [(4, "unused suppression: no finding of `no-healthcheck` here to silence")]);
    // A rule that did not run is not called unused.
    let (_, json) = check_json(dir.path(), &["--select", "no-log-rotation", "--unused-suppressions"]);
    let text = json["notes"].to_string();
    assert!(!text.contains("unused suppression"), "{text}");
}

#[test]
fn config_file_selects_ignores_and_sets_severity() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "docker-compose.yml",
        "services:\n  api:\n    image: ghcr.io/acme/api:1\n  db:\n    image: postgres:16\n",
    );
    write(
        dir.path(),
        "stackfix.toml",
        "ignore = [\"no-log-rotation\"]\n[severity]\nno-restart-policy = \"error\"\n[services.db]\nignore = [\"no-backup\", \"no-healthcheck\"]\n",
    );
    let (_, json) = check_json(dir.path(), &[]);
    let findings = json["findings"].as_array().unwrap();
    assert!(!findings.iter().any(|f| f["rule"] == "no-log-rotation"));
    assert!(!findings
        .iter()
        .any(|f| f["service"] == "db" && (f["rule"] == "no-backup" || f["rule"] == "no-healthcheck")));
    assert!(findings.iter().any(|f| f["service"] == "api" && f["rule"] == "no-healthcheck"));
    assert!(findings.iter().filter(|f| f["rule"] == "no-restart-policy").all(|f| f["severity"] == "error"));

    write(dir.path(), "stackfix.toml", "ignore = [\"not-a-rule\"]\n");
    let out = stackfix(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(2));
    write(dir.path(), "stackfix.toml", "selct = []\n");
    let out = stackfix(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("stackfix.toml:1:1"), "{}", stderr(&out));
}

/// `stackfix.schema.json` is what `stackfix schema` prints (generated from the config types), and
/// it agrees with stackfix: the README's example and a config stackfix reads are valid, the
/// configs stackfix refuses are not, and every parameter value is valid exactly when `--set`
/// takes it.
#[test]
fn config_schema_is_kept_and_agrees_with_stackfix() {
    let dir = tempfile::tempdir().unwrap();
    let printed = stdout(&stackfix(dir.path(), &["schema"]));
    crate::common::assert_snapshot(&repo().join("stackfix.schema.json"), &printed);
    let schema: serde_json::Value = serde_json::from_str(&printed).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let valid = |toml_text: &str| {
        let value: serde_json::Value = toml::from_str(toml_text).unwrap();
        validator.is_valid(&value)
    };
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let example = readme.split("```toml\n").nth(1).and_then(|b| b.split("```").next()).unwrap();
    assert!(valid(example), "{example}");
    write(dir.path(), "docker-compose.yml", "services:\n  api:\n    image: ghcr.io/acme/api:1\n");
    for (config, accepted) in [
        ("select = [\"all\"]\n[set]\nmemory = \"1GiB\"\ninterval = \"1m30s\"\nretries = 3\n", true),
        ("[services.api]\nignore = [\"no-backup\"]\nset = { cpus = 0.5, policy = \"always\" }\n", true),
        ("[severity]\nno-restart-policy = \"error\"\n", true),
        ("selct = []\n", false),
        ("ignore = [\"not-a-rule\"]\n", false),
        ("[severity]\nno-restart-policy = \"fatal\"\n", false),
        ("[set]\nmemroy = \"1G\"\n", false),
        ("[set]\nmemory = \"1gig\"\n", false),
        ("[services.api.set]\ninterval = \"90\"\n", false),
    ] {
        assert_eq!(valid(config), accepted, "schema on {config}");
        write(dir.path(), "stackfix.toml", config);
        for command in ["fix", "check"] {
            let out = stackfix(dir.path(), &[command, if command == "fix" { "--diff" } else { "-q" }]);
            assert_eq!(out.status.code() != Some(2), accepted, "{command} on {config}: {}", stderr(&out));
        }
    }
    let samples = [
        "512M",
        "1gb",
        "1GiB",
        "2 G",
        "1.5g",
        "0",
        "-1",
        "1gig",
        "30s",
        "1m30s",
        "1.5h",
        "90",
        "0s",
        "1x",
        "2",
        "0.5",
        ".5",
        "always",
        "sometimes",
        "@daily",
        "100",
        "3.5",
    ];
    for parameter in stackfix::fix::PARAMETERS {
        for value in samples {
            let config = serde_json::json!({ "set": { parameter.name: value } });
            assert_eq!(
                validator.is_valid(&config),
                stackfix::fix::check_parameter(parameter.name, value).is_ok(),
                "{} = {value:?}",
                parameter.name
            );
        }
    }
}

#[test]
fn explicit_files_include_and_extends() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "base.yml", "services:\n  common:\n    image: ghcr.io/acme/api:1\n    restart: always\n");
    write(dir.path(), "db/compose.yml", "services:\n  db:\n    image: postgres:16\n    restart: always\n");
    write(
        dir.path(),
        "stack.yml",
        "include:\n  - db/compose.yml\nservices:\n  api:\n    extends:\n      file: base.yml\n      service: common\n",
    );
    let (_, json) = check_json(dir.path(), &["-f", "stack.yml", "--select", "no-restart-policy,no-backup"]);
    let findings = json["findings"].as_array().unwrap();
    assert!(!findings.iter().any(|f| f["rule"] == "no-restart-policy"), "extends brought restart: {findings:#?}");
    let backup = findings.iter().find(|f| f["rule"] == "no-backup").expect("included db is analysed");
    assert_eq!(backup["file"], "db/compose.yml");
}

#[test]
fn include_cycles_are_errors_not_hangs() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "docker-compose.yml", "include: [a.yml]\nservices: {}\n");
    write(dir.path(), "a.yml", "include: [docker-compose.yml]\nservices: {}\n");
    let out = stackfix(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("include cycle"), "{}", stderr(&out));
}

#[test]
fn rules_command_lists_and_explains() {
    let dir = fixtures();
    let list = stdout(&stackfix(&dir, &["rules"]));
    for rule in stackfix::rules::REGISTRY {
        assert!(list.contains(rule.meta().id));
    }
    let one = stdout(&stackfix(&dir, &["rules", "redis-no-maxmemory"]));
    assert!(one.contains("## Why it matters") && one.contains("noeviction"));
    assert_eq!(stackfix(&dir, &["rules", "nope"]).status.code(), Some(2));
    let help = stdout(&stackfix(&dir, &["check", "--help"]));
    assert!(help.contains("--format") && help.contains("--select"));
}

/// `script` run by bash in a corpus-like stack's directory, `$BIN` the stackfix binary.
fn bash_in_stack(script: &str) -> std::process::Output {
    std::process::Command::new("bash")
        .arg("-c")
        .arg(script)
        .env("BIN", env!("CARGO_BIN_EXE_stackfix"))
        .current_dir(fixtures().join("stacks/002-roi-systems-poc"))
        .output()
        .unwrap()
}

#[test]
fn broken_pipe_exits_cleanly() {
    let out = bash_in_stack(r#""$BIN" check . | head -c 1 >/dev/null; echo ${PIPESTATUS[0]}"#);
    let status = stdout(&out).trim().to_string();
    assert!(status == "0" || status == "1", "exit {status}: {}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"));
}

/// Threads the system refuses (more than the address space allows): a clear error and exit 2,
/// not a panic when the analysis first asks for its pool, and not an abort when the address
/// space runs out between a thread's stack and what the thread sets up as it starts (before
/// threads were started one at a time, 1 or 2 of these 150 limits aborted in each sweep).
#[test]
fn worker_threads_refused_are_a_clear_error() {
    let limits: Vec<String> = (0..150).map(|i| (150_000 + i * 19_013).to_string()).collect();
    let out = bash_in_stack(&format!(
        r#"err=$(mktemp); for v in {}; do (ulimit -v $v; RAYON_NUM_THREADS=4096 "$BIN" check . >/dev/null 2>"$err"; echo "$v $? $(head -c 300 "$err" | tr '\n' ' ')"); done; rm -f "$err""#,
        limits.join(" ")
    ));
    let report = stdout(&out);
    assert_eq!(report.lines().count(), limits.len(), "{report}{}", stderr(&out));
    for line in report.lines() {
        let mut words = line.splitn(3, ' ');
        let (limit, code, error) = (words.next(), words.next(), words.next().unwrap_or(""));
        assert_eq!(code, Some("2"), "ulimit -v {limit:?}: {line}");
        assert!(error.starts_with("error: cannot start the worker threads"), "ulimit -v {limit:?}: {line}");
    }
}

/// A production file read alone (its every service has an image) that leaves out production
/// settings the base gives may be deployed over the base: `check` says which, and how to check
/// it as deployed. Not when its `# Deploy with:` header says it runs alone, nor for what the
/// development `.override` file gives, nor for ports a file meant to run alone drops.
#[test]
fn a_production_file_read_alone_that_leaves_out_base_settings_is_noted() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "docker-compose.yml",
        "services:\n  api:\n    image: example/api:1.2\n    ports: [\"8000:8000\"]\n    healthcheck:\n      test: [CMD, /healthz]\n  worker:\n    image: example/api:1.2\n",
    );
    write(dir.path(), "docker-compose.override.yml", "services:\n  worker:\n    restart: \"no\"\n");
    let prod = "services:\n  api:\n    image: example/api:1.2\n    restart: unless-stopped\n  worker:\n    image: example/api:1.2\n";
    write(dir.path(), "docker-compose.prod.yml", prod);
    let out = stackfix(dir.path(), &["check", "."]);
    let expected = "note: docker-compose.prod.yml is checked alone, as every service in it has an image or a build, \
                    but it leaves out production settings docker-compose.yml gives: `api` (healthcheck); if it is \
                    deployed over docker-compose.yml, the findings about them are not what runs: check it as deployed \
                    with `stackfix check -f docker-compose.yml -f docker-compose.prod.yml`\n";
    assert_eq!(stderr(&out), expected);
    // Checked as the note says: the health check the base gives is there.
    let (_, json) = check_json(dir.path(), &["-f", "docker-compose.yml", "-f", "docker-compose.prod.yml"]);
    let findings = json["findings"].as_array().unwrap();
    assert!(!findings.iter().any(|f| f["service"] == "api" && f["rule"] == "no-healthcheck"), "{findings:#?}");
    write(
        dir.path(),
        "docker-compose.prod.yml",
        &format!("# Deploy with: docker compose -f docker-compose.prod.yml up -d\n{prod}"),
    );
    assert_eq!(stderr(&stackfix(dir.path(), &["check", "."])), "");
    // A header that names the base too: read over it, as `docker compose` will run it.
    let over = "# Deploy with: docker compose -f docker-compose.yml -f docker-compose.prod.yml up -d\n";
    write(dir.path(), "docker-compose.prod.yml", &format!("{over}{prod}"));
    let out = stackfix(dir.path(), &["check", ".", "--format", "json"]);
    assert_eq!(stderr(&out), "");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let findings = json["findings"].as_array().unwrap();
    assert!(!findings.iter().any(|f| f["rule"] == "no-healthcheck" && f["service"] == "api"), "{findings:#?}");
    assert!(findings.iter().any(|f| f["rule"] == "no-resource-limits" && f["service"] == "api"), "{findings:#?}");
}

#[test]
fn override_files_are_development_when_there_is_no_production_file() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "docker-compose.yml", "services:\n  api:\n    build: ./api\n    restart: always\n");
    write(
        dir.path(),
        "docker-compose.override.yml",
        "services:\n  api:\n    volumes:\n      - ./api:/app\n  mail:\n    image: mailhog/mailhog:v1.0.1\n",
    );
    std::fs::create_dir_all(dir.path().join("api")).unwrap();
    let (_, json) = check_json(dir.path(), &[]);
    let findings = json["findings"].as_array().unwrap();
    assert!(
        !findings.iter().any(|f| f["rule"] == "source-bind-mount"),
        "the override is not production: {findings:#?}"
    );
    assert!(!findings.iter().any(|f| f["service"] == "mail" && f["rule"] == "no-resource-limits"));
    assert!(findings.iter().any(|f| f["service"] == "mail" && f["rule"] == "no-healthcheck"));
    assert!(findings.iter().any(|f| f["service"] == "api" && f["rule"] == "no-resource-limits"));
}

#[test]
fn crlf_and_bom_files_report_exact_positions() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "docker-compose.yml",
        "\u{feff}services:\r\n  # the database\r\n  db:\r\n    image: postgres:16\r\n    ports: [\"5432:5432\"]",
    );
    let (_, json) = check_json(dir.path(), &["--select", "database-port-published,no-healthcheck"]);
    let findings = json["findings"].as_array().unwrap();
    let port = findings.iter().find(|f| f["rule"] == "database-port-published").unwrap();
    assert_eq!((port["line"].as_u64(), port["column"].as_u64()), (Some(5), Some(13)));
    let health = findings.iter().find(|f| f["rule"] == "no-healthcheck").unwrap();
    assert_eq!((health["line"].as_u64(), health["column"].as_u64()), (Some(3), Some(3)));
}

#[test]
fn a_file_that_is_not_compose_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "prometheus.yml", "global:\n  scrape_interval: 15s\nscrape_configs: []\n");
    let out = stackfix(dir.path(), &["check", "-f", "prometheus.yml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("prometheus.yml:1:1: not a compose file: top-level key `global`"),
        "{}",
        stderr(&out)
    );
}

/// `--color auto` follows the environment's conventions when stdout is not a terminal.
#[test]
fn colour_follows_clicolor_force_force_color_and_no_color() {
    let dir = fixtures().join("no-restart-policy/bad/basic");
    let run = |env: &[(&str, &str)]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_stackfix"));
        command.args(["check"]).current_dir(&dir);
        for name in ["NO_COLOR", "CLICOLOR", "CLICOLOR_FORCE", "FORCE_COLOR", "CI"] {
            command.env_remove(name);
        }
        command.envs(env.iter().copied());
        String::from_utf8_lossy(&command.output().unwrap().stdout).contains("\x1b[")
    };
    assert!(!run(&[]), "piped: no colour");
    assert!(run(&[("CLICOLOR_FORCE", "1")]));
    assert!(run(&[("FORCE_COLOR", "1")]));
    assert!(!run(&[("FORCE_COLOR", "0")]));
    assert!(!run(&[("NO_COLOR", "1"), ("CI", "true")]));
}

/// Completion scripts and the manual page come from the command definitions.
#[test]
fn completions_man_page_and_version() {
    let dir = fixtures();
    let bash = stackfix(&dir, &["completions", "bash"]);
    assert_eq!(bash.status.code(), Some(0));
    let script = tempfile::NamedTempFile::new().unwrap();
    fs::write(script.path(), &bash.stdout).unwrap();
    let syntax = std::process::Command::new("bash").arg("-n").arg(script.path()).status().unwrap();
    assert!(syntax.success(), "bash completion does not parse");
    assert!(stdout(&bash).contains("--recursive") && stdout(&bash).contains("bootstrap"));
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let out = stackfix(&dir, &["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        assert!(stdout(&out).contains("stackfix"), "{shell}");
    }
    let man = stdout(&stackfix(&dir, &["man"]));
    assert!(man.contains(".TH stackfix 1") && man.contains("bootstrap"), "{man}");
    let version = stdout(&stackfix(&dir, &["--version"]));
    assert!(version.starts_with(&format!("stackfix {}", env!("CARGO_PKG_VERSION"))), "{version}");
    // Built in a git checkout: the commit and its date.
    if repo().join(".git").exists() {
        assert!(version.trim_end().ends_with(')') && version.contains(" ("), "{version}");
    }
}

/// A stack with a file that does not load: `fix` refuses it, so `check` counts none of its
/// findings as fixable and says the fix waits for the file.
#[test]
fn findings_of_a_stack_that_does_not_load_are_not_counted_fixable() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "docker-compose.yml",
        "services:\n  prometheus:\n    image: prom/prometheus:v2.53.0\n    volumes:\n      - ./prom/prometheus.yml:/etc/prometheus/prometheus.yml:ro\n",
    );
    write(dir.path(), "prom/prometheus.yml", "scrape_configs: [\n");
    let out = stackfix(dir.path(), &["check", "--select", "no-restart-policy"]);
    assert_eq!(out.status.code(), Some(2));
    let text = stdout(&out);
    assert!(text.contains("fix: add `restart: unless-stopped` (once every file of the stack loads)"), "{text}");
    assert!(!text.contains("fixable"), "{text}");
    assert!(stderr(&out).contains("prom/prometheus.yml:2:1:"), "{}", stderr(&out));
    let out = stackfix(dir.path(), &["check", "--select", "no-restart-policy", "--statistics"]);
    assert_eq!(stdout(&out).trim(), "1  no-restart-policy  warning");
    let out = stackfix(dir.path(), &["fix", "--diff"]);
    assert_eq!(out.status.code(), Some(2));
}

/// A stack named by a path that climbs more than one directory (`../../proj`) is the same stack as
/// named from its own directory: `..` after `..` is kept, as compose cleans paths (it used to be
/// taken off, so the fixed file and the stack's own were two files and fixes never converged).
#[test]
fn a_stack_named_through_several_parent_directories_is_fixed() {
    let dir = tempfile::tempdir().unwrap();
    let text = fs::read_to_string(fixtures().join("no-restart-policy/bad/basic/docker-compose.yml")).unwrap();
    write(dir.path(), "proj/docker-compose.yml", &text);
    let nested = dir.path().join("x/y");
    fs::create_dir_all(&nested).unwrap();
    let out = stackfix(&nested, &["fix", "--diff", "--select", "no-restart-policy", "../../proj"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stdout(&out).contains("+    restart: unless-stopped"), "{}", stdout(&out));
    let out = stackfix(&nested, &["fix", "--select", "no-restart-policy", "../../proj"]);
    assert!(out.status.success() || out.status.code() == Some(1), "{}", stderr(&out));
    let fixed = fs::read_to_string(dir.path().join("proj/docker-compose.yml")).unwrap();
    assert!(fixed.contains("restart: unless-stopped"), "{fixed}");
    let again = stackfix(dir.path(), &["check", "proj", "--select", "no-restart-policy"]);
    assert_eq!(again.status.code(), Some(0), "{}", stdout(&again));
}
