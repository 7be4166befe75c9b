//! SARIF as GitHub code scanning takes it: every log the suite makes is valid against the
//! official SARIF 2.1.0 schema (vendored in tests/schemas), fingerprints are unique and stable,
//! URIs are relative to the repository whatever the working directory, and a failed read says
//! the run was not successful.

use std::collections::HashSet;
use std::fs;
use std::path::Path;

use crate::common::{fixtures, repo, shared, stackfix, stderr, subdirs};

fn validator() -> jsonschema::Validator {
    let schema: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(repo().join("tests/schemas/sarif-schema-2.1.0.json")).unwrap())
            .unwrap();
    jsonschema::validator_for(&schema).expect("the SARIF schema compiles")
}

/// `check --format sarif ARGS` in `cwd`: the log, checked against the schema and for unique
/// fingerprints.
fn sarif(validator: &jsonschema::Validator, cwd: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["check", "--format", "sarif"];
    all.extend_from_slice(args);
    let out = stackfix(cwd, &all);
    let log: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?} in {}: {e}\n{}", cwd.display(), stderr(&out)));
    let errors: Vec<String> = validator.iter_errors(&log).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{args:?} in {}: not valid SARIF 2.1.0: {errors:#?}", cwd.display());
    let prints: Vec<&str> =
        results(&log).iter().map(|r| r["partialFingerprints"]["stackfix/v1"].as_str().unwrap()).collect();
    let unique: HashSet<&&str> = prints.iter().collect();
    assert_eq!(unique.len(), prints.len(), "{args:?} in {}: two results share a fingerprint", cwd.display());
    log
}

fn results(log: &serde_json::Value) -> &Vec<serde_json::Value> {
    log["runs"][0]["results"].as_array().unwrap()
}

#[test]
fn every_log_is_valid_sarif_with_unique_fingerprints() {
    let v = validator();
    // The schema rejects what it must (a driver without a name, an unknown level).
    let broken = serde_json::json!({"version": "2.1.0", "runs": [{"tool": {"driver": {}}}]});
    assert!(!v.is_valid(&broken));
    let broken = serde_json::json!({"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": [{"message": {"text": "m"}, "level": "bogus"}]}]});
    assert!(!v.is_valid(&broken));
    let mut logs = 0;
    for rule in stackfix::rules::REGISTRY {
        for kind in ["bad", "good"] {
            for case in subdirs(&fixtures().join(rule.meta().id).join(kind)) {
                sarif(&v, &case, &[]);
                logs += 1;
            }
        }
    }
    for stack in subdirs(&fixtures().join("stacks")) {
        sarif(&v, &stack, &[]);
        logs += 1;
    }
    // Many stacks in one log.
    let log = sarif(&v, &fixtures().join("stacks"), &["-r"]);
    assert!(results(&log).len() > 100);
    if let Some(corpus) = shared("corpus") {
        let log = sarif(&v, &corpus, &["-r"]);
        assert!(results(&log).len() > 1000);
    }
    assert!(logs >= 2 * stackfix::rules::REGISTRY.len(), "{logs} logs");
}

#[test]
fn rules_carry_their_page_documentation_and_security_severity() {
    let v = validator();
    let log = sarif(&v, &fixtures().join("stacks/004-commandcenter"), &[]);
    let rules = log["runs"][0]["tool"]["driver"]["rules"].as_array().unwrap();
    for (rule, meta) in rules.iter().zip(stackfix::rules::REGISTRY.iter().map(|r| r.meta())) {
        assert_eq!(rule["id"], meta.id);
        let page = rule["helpUri"].as_str().unwrap();
        assert!(page.ends_with(&format!("/docs/rules/{}.md", meta.id)), "{page}");
        assert!(repo().join(format!("docs/rules/{}.md", meta.id)).is_file());
        assert_eq!(rule["fullDescription"]["text"], meta.documentation());
        let security = meta.area == stackfix::rules::Area::Security;
        let score = rule["properties"]["security-severity"].as_str();
        assert_eq!(score.is_some(), security, "{}", meta.id);
        if let Some(score) = score {
            let score: f64 = score.parse().unwrap();
            assert!((0.1..=10.0).contains(&score));
        }
    }
}

/// The same stack checked from the repository root, from the stack's directory and through an
/// absolute path gives the same URIs and fingerprints; the base is the repository (git top).
#[test]
fn uris_and_fingerprints_do_not_depend_on_where_stackfix_runs() {
    let v = validator();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir_all(root.join("deploy/prod")).unwrap();
    assert!(std::process::Command::new("git").args(["init", "-q"]).current_dir(root).status().unwrap().success());
    // Two literal secrets in one service: two alerts.
    fs::write(
        root.join("deploy/prod/docker-compose.yml"),
        "services:\n  api:\n    image: ghcr.io/acme/api:1.2\n    environment:\n      DB_PASSWORD: hunter2hunter2\n      API_TOKEN: abcdefabcdef1234\n",
    )
    .unwrap();
    let absolute = root.join("deploy/prod");
    let runs = [
        sarif(&v, root, &["deploy/prod"]),
        sarif(&v, &root.join("deploy"), &["prod"]),
        sarif(&v, &root.join("deploy/prod"), &[]),
        sarif(&v, Path::new("/"), &[absolute.to_str().unwrap()]),
    ];
    let key = |log: &serde_json::Value| -> Vec<(String, String, String)> {
        results(log)
            .iter()
            .map(|r| {
                let location = &r["locations"][0]["physicalLocation"]["artifactLocation"];
                (
                    location["uri"].as_str().unwrap().to_string(),
                    location["uriBaseId"].as_str().unwrap_or("").to_string(),
                    r["partialFingerprints"]["stackfix/v1"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let first = key(&runs[0]);
    assert!(
        first.iter().all(|(uri, base, _)| uri == "deploy/prod/docker-compose.yml" && base == "%SRCROOT%"),
        "{first:?}"
    );
    let secrets: Vec<_> = results(&runs[0]).iter().filter(|r| r["ruleId"] == "hardcoded-secret").collect();
    assert_eq!(secrets.len(), 2, "two secrets, two alerts");
    for run in &runs[1..] {
        assert_eq!(key(run), first);
    }
    let base = runs[0]["runs"][0]["originalUriBaseIds"]["%SRCROOT%"]["uri"].as_str().unwrap().to_string();
    let canonical = root.canonicalize().unwrap();
    assert_eq!(base, format!("file://{}/", canonical.display()));
    // An edit elsewhere in the file (lines move) keeps the fingerprints.
    let path = root.join("deploy/prod/docker-compose.yml");
    let text = fs::read_to_string(&path).unwrap();
    fs::write(&path, format!("# comment\n\n{text}")).unwrap();
    assert_eq!(key(&sarif(&v, root, &["deploy/prod"])), first);
}

#[test]
fn a_file_that_does_not_parse_makes_the_run_unsuccessful() {
    let v = validator();
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("docker-compose.yml"), "services:\n  api:\n    image: ghcr.io/acme/api:1.2\n").unwrap();
    let log = sarif(&v, dir.path(), &[]);
    assert_eq!(log["runs"][0]["invocations"][0]["executionSuccessful"], true);
    fs::write(dir.path().join("docker-compose.prod.yml"), "services:\n  api: {image: [\n").unwrap();
    let log = sarif(&v, dir.path(), &[]);
    let invocation = &log["runs"][0]["invocations"][0];
    assert_eq!(invocation["executionSuccessful"], false);
    let note = &invocation["toolExecutionNotifications"][0];
    assert_eq!(note["level"], "error");
    assert_eq!(note["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], "docker-compose.prod.yml");
    // A stack that cannot be prepared (a bad stackfix.toml) is a notification too.
    let other = tempfile::tempdir().unwrap();
    fs::write(other.path().join("docker-compose.yml"), "services:\n  api:\n    image: ghcr.io/acme/api:1.2\n").unwrap();
    fs::write(other.path().join("stackfix.toml"), "nonsense = 1\n").unwrap();
    let log = sarif(&v, other.path(), &[]);
    assert_eq!(log["runs"][0]["invocations"][0]["executionSuccessful"], false);
}

/// GitLab Code Quality: an array of issues with exactly the documented fields (description,
/// check_name, fingerprint, severity, location.path, location.lines.begin), paths relative to
/// the repository, severities from GitLab's scale, fingerprints unique and shared with SARIF's
/// scheme.
#[test]
fn gitlab_code_quality_has_the_documented_fields() {
    let stacks = fixtures().join("stacks");
    let out = stackfix(&stacks, &["check", "-r", "--format", "gitlab"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let issues: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let issues = issues.as_array().unwrap();
    assert!(issues.len() > 100);
    let mut prints = HashSet::new();
    for issue in issues {
        let mut keys: Vec<&str> = issue.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(keys, ["check_name", "description", "fingerprint", "location", "severity"]);
        assert!(stackfix::rules::by_id(issue["check_name"].as_str().unwrap()).is_some());
        assert!(!issue["description"].as_str().unwrap().is_empty());
        assert!(matches!(issue["severity"].as_str(), Some("info" | "minor" | "major" | "critical" | "blocker")));
        let path = issue["location"]["path"].as_str().unwrap();
        assert!(path.starts_with("fixtures/stacks/") && repo().join(path).is_file(), "{path}");
        assert!(issue["location"]["lines"]["begin"].as_u64().unwrap() >= 1);
        assert!(prints.insert(issue["fingerprint"].as_str().unwrap().to_string()), "a fingerprint twice");
    }
    // The same findings as SARIF, with the same fingerprints.
    let sarif = stackfix(&stacks, &["check", "-r", "--format", "sarif"]);
    let sarif: serde_json::Value = serde_json::from_slice(&sarif.stdout).unwrap();
    let sarif_prints: HashSet<String> =
        results(&sarif).iter().map(|r| r["partialFingerprints"]["stackfix/v1"].as_str().unwrap().to_string()).collect();
    assert_eq!(prints, sarif_prints);
    // Security errors rank above other errors.
    assert!(issues.iter().any(|i| i["check_name"] == "hardcoded-secret" && i["severity"] == "critical"));
    assert!(issues.iter().any(|i| i["check_name"] == "no-resource-limits" && i["severity"] == "major"));
    // fix and bootstrap refuse the format.
    assert_eq!(stackfix(&stacks, &["fix", "--diff", "--format", "gitlab"]).status.code(), Some(2));
}

/// The byte offset of a 1-based line and column (Unicode code points) in `text`.
fn offset(text: &str, line: u64, column: u64) -> usize {
    let start: usize = text.split_inclusive('\n').take(line as usize - 1).map(str::len).sum();
    start + text[start..].chars().take(column as usize - 1).map(char::len_utf8).sum::<usize>()
}

/// Each result's `fixes` are the replacements its fix makes: applied to the files as they were,
/// they give exactly what `fix --select RULE` writes (a stack where each rule has one finding),
/// a file the fix creates included.
#[test]
fn fixes_are_the_replacements_fix_writes() {
    let v = validator();
    let mut checked = 0;
    for compose in [
        // A password equal to the image's name is no secret a fix's text could leak: the fixes
        // that name the image keep their replacements.
        "services:\n  pg:\n    image: postgres:16.4\n    environment:\n      POSTGRES_PASSWORD: postgres\n",
        "services:\n  web:\n    image: nginx:1.27\n",
        "services:\n  db:\n    image: postgres:16.4\n    environment:\n      POSTGRES_PASSWORD: hunter2hunter2\n",
    ] {
        checked += compare_fixes(&v, compose);
    }
    assert!(checked >= 11, "only {checked} fixes compared");
}

/// [`fixes_are_the_replacements_fix_writes`] on one stack: the number of fixes compared.
fn compare_fixes(v: &jsonschema::Validator, compose: &str) -> usize {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("docker-compose.yml"), compose).unwrap();
    let log = sarif(v, dir.path(), &[]);
    let mut checked = 0;
    for result in results(&log) {
        let Some(fixes) = result["fixes"].as_array() else { continue };
        let rule = result["ruleId"].as_str().unwrap();
        let same_rule = results(&log).iter().filter(|r| r["ruleId"] == rule).count();
        if same_rule > 1 {
            continue;
        }
        assert_eq!(fixes.len(), 1);
        let work = tempfile::tempdir().unwrap();
        fs::write(work.path().join("docker-compose.yml"), compose).unwrap();
        let mut expected: Vec<(std::path::PathBuf, String)> = Vec::new();
        for change in fixes[0]["artifactChanges"].as_array().unwrap() {
            let uri = change["artifactLocation"]["uri"].as_str().unwrap();
            let name = Path::new(uri).file_name().unwrap();
            let mut text = fs::read_to_string(dir.path().join(name)).unwrap_or_default();
            let mut edits: Vec<(usize, usize, String)> = change["replacements"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    let d = &r["deletedRegion"];
                    let at = |l: &str, c: &str| offset(&text, d[l].as_u64().unwrap(), d[c].as_u64().unwrap());
                    (
                        at("startLine", "startColumn"),
                        at("endLine", "endColumn"),
                        r["insertedContent"]["text"].as_str().unwrap().to_string(),
                    )
                })
                .collect();
            edits.sort_by_key(|e| std::cmp::Reverse(e.0));
            for (start, end, inserted) in edits {
                text.replace_range(start..end, &inserted);
            }
            expected.push((work.path().join(name), text));
        }
        let unsafe_fix = fixes[0]["description"]["text"].as_str().unwrap().ends_with("(unsafe)");
        let mut args = vec!["fix", "--select", rule];
        if unsafe_fix {
            args.push("--unsafe-fixes");
        }
        let out = stackfix(work.path(), &args);
        assert_ne!(out.status.code(), Some(2), "{rule}: {}", stderr(&out));
        for (path, text) in expected {
            assert_eq!(fs::read_to_string(&path).unwrap(), text, "{rule}: {}", path.display());
        }
        checked += 1;
    }
    checked
}

/// Several findings of one rule: each result carries its own service's fix (findings and fixes
/// are matched by rule, service and message, in order).
#[test]
fn each_result_carries_its_own_fix() {
    let v = validator();
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("docker-compose.yml"),
        "services:\n  one:\n    image: nginx:1.27\n  two:\n    image: nginx:1.27\n  three:\n    image: nginx:1.27\n",
    )
    .unwrap();
    let log = sarif(&v, dir.path(), &["--select", "no-restart-policy"]);
    let results = results(&log);
    assert_eq!(results.len(), 3);
    let mut lines = Vec::new();
    for r in results {
        let at = r["locations"][0]["physicalLocation"]["region"]["startLine"].as_u64().unwrap();
        let replacement = &r["fixes"][0]["artifactChanges"][0]["replacements"][0];
        let line = replacement["deletedRegion"]["startLine"].as_u64().unwrap();
        assert!(replacement["insertedContent"]["text"].as_str().unwrap().contains("restart: unless-stopped"));
        // Inside the finding's own service: after its key line, before the next service's.
        assert!(line > at && line <= at + 2, "finding at {at}, fix at {line}");
        lines.push(line);
    }
    lines.dedup();
    assert_eq!(lines.len(), 3, "{lines:?}");
}

/// A `.env.example` that is not UTF-8 is never proposed anew: the secret's fix in the log changes
/// the compose file alone (a consumer applying it would otherwise replace the file's bytes), as
/// `fix` leaves the file as it is.
#[test]
fn an_unreadable_env_example_is_not_proposed_anew() {
    let v = validator();
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("docker-compose.yml"),
        "services:\n  db:\n    image: postgres:16.4\n    environment:\n      POSTGRES_PASSWORD: hunter2hunter2\n",
    )
    .unwrap();
    let example = b"# caf\xe9\nOTHER=1\n";
    fs::write(dir.path().join(".env.example"), example).unwrap();
    let log = sarif(&v, dir.path(), &["--select", "hardcoded-secret"]);
    let results = results(&log);
    assert_eq!(results.len(), 1, "{log:#}");
    let fixes = results[0]["fixes"].as_array().expect("the secret's fix is in the log");
    let uris: Vec<&str> = fixes[0]["artifactChanges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["artifactLocation"]["uri"].as_str().unwrap())
        .collect();
    assert!(uris.iter().all(|u| !u.ends_with(".env.example")), "{uris:?}");
    assert!(uris.iter().any(|u| u.ends_with("docker-compose.yml")), "{uris:?}");
    let out = stackfix(dir.path(), &["fix", "--select", "hardcoded-secret", "--unsafe-fixes"]);
    assert_ne!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(fs::read(dir.path().join(".env.example")).unwrap(), example);
}
