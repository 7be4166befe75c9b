//! Many stacks in one run (`check PATH...`, `--recursive`) and the controls CI needs: exit
//! codes by severity, `--exit-zero`, `--statistics`, `--quiet`, `--output-file`.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::common::{shared, stackfix, stderr, stdout};

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

/// A service with only a `no-log-rotation` (info) and a `no-healthcheck` (warning) finding
/// under `--select`.
const WARNED: &str = "services:\n  api:\n    image: ghcr.io/acme/api:1.2\n    restart: unless-stopped\n";

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}{}", stdout(out), stderr(out)))
}

/// (file, rule) of every finding of a JSON report.
fn files_and_rules(report: &serde_json::Value) -> Vec<(String, String)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["file"].as_str().unwrap().to_string(), f["rule"].as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn several_paths_are_checked_in_one_run_in_the_order_of_their_directories() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "b/docker-compose.yml", WARNED);
    write(dir.path(), "a/compose.yaml", WARNED);
    let out = stackfix(dir.path(), &["check", "b", "a", "--select", "no-healthcheck", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let found = files_and_rules(&json(&out));
    assert_eq!(
        found,
        [
            ("a/compose.yaml".to_string(), "no-healthcheck".to_string()),
            ("b/docker-compose.yml".into(), "no-healthcheck".into())
        ]
    );
    // The same stack named twice (a directory and its compose file) is checked once.
    let out = stackfix(
        dir.path(),
        &["check", "a", "a/compose.yaml", "./a", "--select", "no-healthcheck", "--format", "json"],
    );
    assert_eq!(files_and_rules(&json(&out)).len(), 1, "{}", stdout(&out));
    // The text report ends with one summary for all the stacks.
    let out = stackfix(dir.path(), &["check", "a", "b", "--select", "no-healthcheck", "--color", "never"]);
    let text = stdout(&out);
    assert_eq!(text.matches("Found 2 findings").count(), 1, "{text}");
    assert!(text.find("a/compose.yaml").unwrap() < text.find("b/docker-compose.yml").unwrap(), "{text}");
}

#[test]
fn a_compose_file_stands_for_its_directorys_stack_or_for_itself() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "docker-compose.yml", WARNED);
    write(dir.path(), "docker-compose.prod.yml", "services:\n  api:\n    image: ghcr.io/acme/api:1.2\n");
    write(dir.path(), "staging.yml", "services:\n  worker:\n    image: ghcr.io/acme/worker:1.2\n");
    // A file `docker compose` finds by name: the directory's stack, production file included
    // (pre-commit passes the changed files).
    for name in ["docker-compose.yml", "docker-compose.prod.yml"] {
        let out = stackfix(dir.path(), &["check", name, "--select", "no-healthcheck", "--format", "json"]);
        let files: Vec<String> = files_and_rules(&json(&out)).into_iter().map(|(f, _)| f).collect();
        assert!(files.iter().any(|f| f == "docker-compose.prod.yml"), "{name}: {files:?}");
        assert!(!files.iter().any(|f| f == "staging.yml"), "{name}: {files:?}");
    }
    // Any other file: that file alone, as `docker compose -f staging.yml` loads it.
    let out = stackfix(dir.path(), &["check", "staging.yml", "--select", "no-healthcheck", "--format", "json"]);
    let found = files_and_rules(&json(&out));
    assert_eq!(found, [("staging.yml".to_string(), "no-healthcheck".to_string())]);
    // -f names one stack's files: not with several paths or a file path.
    let out = stackfix(dir.path(), &["check", "-f", "staging.yml", "docker-compose.yml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("-f names the files of one stack"), "{}", stderr(&out));
    let out = stackfix(dir.path(), &["check", "missing.yml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("missing.yml: no such file or directory"), "{}", stderr(&out));
}

/// `fix` takes compose files for their stacks and fixes several stacks one after the other;
/// what commits or asks (`--branch-per-rule`, `--commit`, `-i`) and `--format json` take one, as
/// `bootstrap` does (`--branch` makes one commit: see below).
#[test]
fn fix_takes_compose_files_and_several_stacks() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a/docker-compose.yml", WARNED);
    write(dir.path(), "b/docker-compose.yml", WARNED);
    let out = stackfix(dir.path(), &["fix", "--diff", "a/docker-compose.yml", "--select", "no-log-rotation"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stdout(&out).contains("+++ b/a/docker-compose.yml"), "{}", stdout(&out));
    let out = stackfix(dir.path(), &["fix", "--diff", "b", "a", "--select", "no-log-rotation"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let diff = stdout(&out);
    let (a, b) = (diff.find("+++ b/a/docker-compose.yml").unwrap(), diff.find("+++ b/b/docker-compose.yml").unwrap());
    assert!(a < b, "in the order of the directories: {diff}");
    for refused in [&["--branch-per-rule"][..], &["--commit"], &["-i"], &["--format", "json"], &["--pr-body", "b.md"]] {
        let mut args = vec!["fix", "a", "b"];
        args.extend_from_slice(refused);
        let out = stackfix(dir.path(), &args);
        assert_eq!(out.status.code(), Some(2), "{refused:?}");
        assert!(stderr(&out).contains("one stack at a time"), "{refused:?}: {}", stderr(&out));
    }
    assert_eq!(stackfix(dir.path(), &["bootstrap", "--diff", "a", "b"]).status.code(), Some(2));
    let out = stackfix(dir.path(), &["fix", "a", "b", "--select", "no-log-rotation"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for stack in ["a", "b"] {
        let text = fs::read_to_string(dir.path().join(stack).join("docker-compose.yml")).unwrap();
        assert!(text.contains("max-size"), "{stack}: {text}");
    }
    // --service over several stacks: a name one stack has is fine; a name none has is an error.
    write(dir.path(), "w/docker-compose.yml", "services:\n  web:\n    image: nginx:1.27\n");
    let out = stackfix(dir.path(), &["fix", "--diff", "a", "w", "--service", "web", "--select", "no-log-rotation"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("+++ b/w/docker-compose.yml") && !stdout(&out).contains("+++ b/a/"),
        "{}",
        stdout(&out)
    );
    let out = stackfix(dir.path(), &["fix", "--diff", "a", "w", "--service", "wbe"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("service `wbe` is in none of the 2 stacks"), "{}", stderr(&out));
    // An error in one stack does not stop the others; the exit code says it.
    write(dir.path(), "c/docker-compose.yml", "services: [\n");
    write(dir.path(), "d/docker-compose.yml", WARNED);
    let out = stackfix(dir.path(), &["fix", "c", "d", "--select", "no-log-rotation"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(fs::read_to_string(dir.path().join("d/docker-compose.yml")).unwrap().contains("max-size"));
}

#[test]
fn recursive_finds_every_stack_except_what_git_and_exclude_ignore() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for stack in ["apps/web", "apps/api", ".devcontainer", "ignored/by-git", "vendor/lib", "apps/web/nested"] {
        write(root, &format!("{stack}/docker-compose.yml"), WARNED);
    }
    write(root, "lonely/notes.yml", WARNED); // not a name compose finds: not a stack
    write(root, ".gitignore", "ignored/\n");
    write(root, ".git/compose.yaml", WARNED); // never walked into
    assert!(Command::new("git").args(["init", "-q"]).current_dir(root).status().unwrap().success());
    let run = |args: &[&str]| {
        let mut all = vec!["check", "--select", "no-healthcheck", "--format", "json"];
        all.extend_from_slice(args);
        let out = stackfix(root, &all);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        files_and_rules(&json(&out)).into_iter().map(|(f, _)| f).collect::<Vec<_>>()
    };
    let expected = [
        ".devcontainer/docker-compose.yml",
        "apps/api/docker-compose.yml",
        "apps/web/docker-compose.yml",
        "apps/web/nested/docker-compose.yml",
        "vendor/lib/docker-compose.yml",
    ];
    assert_eq!(run(&["-r"]), expected);
    assert_eq!(run(&["--recursive", "."]), expected);
    assert_eq!(run(&["-r", "--exclude", "vendor", "--exclude", "nested/"]), expected[..3]);
    assert_eq!(run(&["-r", "apps"]), expected[1..4]);
    // A walk that finds nothing is an error, not a clean run.
    let out = stackfix(root, &["check", "-r", "lonely"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no compose file found"), "{}", stderr(&out));
    // --exclude skips named paths too (pre-commit passes files); all of them skipped is no error.
    let out = stackfix(
        root,
        &[
            "check",
            "--select",
            "no-healthcheck",
            "--format",
            "json",
            "--exclude",
            "apps/web",
            "apps/web",
            "apps/api/docker-compose.yml",
        ],
    );
    assert_eq!(
        files_and_rules(&json(&out)),
        [("apps/api/docker-compose.yml".to_string(), "no-healthcheck".to_string())]
    );
    let out = stackfix(root, &["check", "--exclude", "./apps", "apps/web/docker-compose.yml"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn severity_threshold_and_exit_zero_decide_the_exit_code_not_the_report() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "docker-compose.yml", WARNED);
    let code = |args: &[&str]| {
        let mut all = vec!["check", "--select", "no-healthcheck,no-log-rotation"];
        all.extend_from_slice(args);
        let out = stackfix(dir.path(), &all);
        assert!(stdout(&out).contains("no-log-rotation"), "{args:?}: the report lists every finding");
        out.status.code()
    };
    assert_eq!(code(&[]), Some(1));
    assert_eq!(code(&["--fail-on", "info"]), Some(1));
    assert_eq!(code(&["--fail-on", "warning"]), Some(1)); // no-healthcheck is a warning
    assert_eq!(code(&["--fail-on", "error"]), Some(0));
    assert_eq!(code(&["--exit-zero"]), Some(0));
    // An input error is exit 2 whatever the flags.
    write(dir.path(), "docker-compose.yml", "services: [\n");
    let out = stackfix(dir.path(), &["check", "--exit-zero"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn statistics_count_findings_per_rule() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a/docker-compose.yml", WARNED);
    write(dir.path(), "b/docker-compose.yml", WARNED);
    let select = "no-healthcheck,no-log-rotation";
    let full = json(&stackfix(dir.path(), &["check", "a", "b", "--select", select, "--format", "json"]));
    let stats =
        json(&stackfix(dir.path(), &["check", "a", "b", "--select", select, "--statistics", "--format", "json"]));
    let rows = stats.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{stats}");
    for row in rows {
        let rule = row["rule"].as_str().unwrap();
        let of_rule: Vec<_> = full["findings"].as_array().unwrap().iter().filter(|f| f["rule"] == rule).collect();
        assert_eq!(row["count"].as_u64().unwrap() as usize, of_rule.len(), "{row}");
        let fixable = |kind: &str| of_rule.iter().filter(|f| f["fix"]["applicability"] == kind).count();
        assert_eq!(row["fixable"].as_u64().unwrap() as usize, fixable("safe"), "{row}");
        assert_eq!(row["unsafe_fixable"].as_u64().unwrap() as usize, fixable("unsafe"), "{row}");
        assert_eq!(row["severity"], of_rule[0]["severity"]);
    }
    let out = stackfix(dir.path(), &["check", "a", "b", "--select", select, "--statistics", "--color", "never"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(
        text.lines().any(|l| l.split_whitespace().collect::<Vec<_>>()[..3] == ["2", "no-healthcheck", "warning"]),
        "{text}"
    );
    assert_eq!(stackfix(dir.path(), &["check", "a", "--statistics", "--format", "sarif"]).status.code(), Some(2));
}

#[test]
fn quiet_prints_the_findings_only() {
    let dir = tempfile::tempdir().unwrap();
    // A required variable with no value makes a note.
    write(dir.path(), "docker-compose.yml", &format!("{WARNED}    environment:\n      TOKEN: ${{TOKEN:?set it}}\n"));
    let loud = stackfix(dir.path(), &["check", "--select", "no-healthcheck", "--color", "never"]);
    assert!(stdout(&loud).contains("Found 1 finding"));
    assert!(stderr(&loud).contains("note:"), "{}", stderr(&loud));
    let quiet = stackfix(dir.path(), &["check", "--select", "no-healthcheck", "--color", "never", "-q"]);
    assert_eq!(quiet.status.code(), Some(1));
    assert!(stdout(&quiet).contains("no-healthcheck") && !stdout(&quiet).contains("Found"), "{}", stdout(&quiet));
    assert_eq!(stderr(&quiet), "");
}

#[test]
fn output_file_gets_the_format_and_the_terminal_gets_text() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "docker-compose.yml", WARNED);
    let out = stackfix(
        dir.path(),
        &[
            "check",
            "--select",
            "no-healthcheck",
            "--format",
            "sarif",
            "--output-file",
            "out/report.sarif",
            "--color",
            "never",
        ],
    );
    // The directory of the file must exist: nothing is created but the file.
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--output-file out/report.sarif"), "{}", stderr(&out));
    fs::create_dir(dir.path().join("out")).unwrap();
    let path = dir.path().join("out/report.sarif");
    fs::write(&path, "old").unwrap();
    fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o640)).unwrap();
    let out = stackfix(
        dir.path(),
        &["check", "--select", "no-healthcheck", "--format", "sarif", "-o", "out/report.sarif", "--color", "never"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("docker-compose.yml:2:3:") && stdout(&out).contains("Found 1 finding"),
        "{}",
        stdout(&out)
    );
    let sarif: serde_json::Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(sarif["runs"][0]["results"][0]["ruleId"], "no-healthcheck");
    let mode = std::os::unix::fs::PermissionsExt::mode(&fs::metadata(&path).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o640, "the report keeps the mode of the file it replaces");
    let leftovers: Vec<_> = fs::read_dir(dir.path().join("out")).unwrap().filter_map(|e| e.ok()).collect();
    assert_eq!(leftovers.len(), 1, "no temporary file stays");
    // A new report is readable by all.
    let out = stackfix(dir.path(), &["check", "--select", "no-healthcheck", "--format", "json", "-o", "new.json"]);
    assert_eq!(out.status.code(), Some(1));
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&fs::metadata(dir.path().join("new.json")).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o644);
}

/// Over the shared corpus: one recursive run reports what one run per stack reports, in a
/// stable order, whatever the threads did.
#[test]
fn a_recursive_run_over_the_corpus_equals_one_run_per_stack() {
    let Some(corpus) = shared("corpus") else {
        eprintln!("skipped: ../shared/corpus not found");
        return;
    };
    let walked = stackfix(&corpus, &["check", "-r", "--format", "json"]);
    let again = stackfix(&corpus, &["check", "-r", "--format", "json"]);
    assert_eq!(walked.stdout, again.stdout, "two runs differ");
    let walked = json(&walked);
    let mut dirs: Vec<String> =
        files_and_rules(&walked).iter().map(|(f, _)| f.split('/').next().unwrap().to_string()).collect();
    dirs.dedup();
    assert!(dirs.len() > 20, "{dirs:?}");
    // Every stack (each top directory's walk) reports the same findings alone.
    let mut one_by_one = Vec::new();
    for dir in &dirs {
        let out = stackfix(&corpus, &["check", "-r", dir, "--format", "json"]);
        one_by_one.extend(files_and_rules(&json(&out)));
    }
    assert_eq!(files_and_rules(&walked), one_by_one);
}

/// Without a PATH, in a directory holding no compose file, the closest directory above that
/// holds one is the stack, as `docker compose` finds it.
#[test]
fn without_a_path_the_stack_is_found_above() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "docker-compose.yml", WARNED);
    write(dir.path(), "backend/app/main.py", "");
    let out = stackfix(&dir.path().join("backend/app"), &["check", "--select", "no-healthcheck", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(files_and_rules(&json(&out)), [("../../docker-compose.yml".to_string(), "no-healthcheck".to_string())]);
    // A compose file here wins, even a production file alone.
    write(
        dir.path(),
        "backend/app/docker-compose.prod.yml",
        "services:\n  worker:\n    image: ghcr.io/acme/worker:1\n",
    );
    let out = stackfix(&dir.path().join("backend/app"), &["check", "--select", "no-healthcheck", "--format", "json"]);
    assert_eq!(files_and_rules(&json(&out)), [("docker-compose.prod.yml".to_string(), "no-healthcheck".to_string())]);
}

#[test]
fn exit_non_zero_on_fix_reports_a_written_fix() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "docker-compose.yml", WARNED);
    let out = stackfix(dir.path(), &["fix", "--select", "no-log-rotation", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "fixed, nothing left: {}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["written"], true);
    assert_eq!(report["version"], env!("CARGO_PKG_VERSION"));
    write(dir.path(), "docker-compose.yml", WARNED);
    let out = stackfix(dir.path(), &["fix", "--select", "no-log-rotation", "--exit-non-zero-on-fix"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    // Nothing to fix: 0.
    let out = stackfix(dir.path(), &["fix", "--select", "no-log-rotation", "--exit-non-zero-on-fix"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stackfix(dir.path(), &["fix", "--diff", "--exit-non-zero-on-fix"]).status.code(), Some(2));
}

/// A baseline hides the findings of the day it was written, by rule, file, service and YAML
/// route: lines inserted above keep them hidden; a new finding is reported and fails.
#[test]
fn a_baseline_reports_only_new_findings_across_unrelated_edits() {
    let dir = tempfile::tempdir().unwrap();
    let stack =
        "services:\n  api:\n    image: ghcr.io/acme/api:1.2\n    environment:\n      DB_PASSWORD: hunter2hunter2\n";
    write(dir.path(), "docker-compose.yml", stack);
    let select = ["--select", "hardcoded-secret,no-healthcheck"];
    let out = stackfix(dir.path(), &[&["check", "--write-baseline", "baseline.json"][..], &select].concat());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("Wrote 2 findings to baseline.json"), "{}", stderr(&out));
    let baseline: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.path().join("baseline.json")).unwrap()).unwrap();
    assert_eq!(baseline["version"], 1);
    let ats: Vec<&str> = baseline["findings"].as_array().unwrap().iter().map(|f| f["at"].as_str().unwrap()).collect();
    assert!(ats.contains(&"services.api.environment.DB_PASSWORD"), "{ats:?}");
    let run = |extra: &[&str]| {
        let out = stackfix(
            dir.path(),
            &[&["check", "--baseline", "baseline.json", "--format", "json"][..], &select, extra].concat(),
        );
        (out.status.code(), files_and_rules(&json(&out)).into_iter().map(|(_, r)| r).collect::<Vec<_>>())
    };
    assert_eq!(run(&[]), (Some(0), vec![]));
    // Unrelated edits: a comment and a service above move every line.
    write(dir.path(), "docker-compose.yml", &stack.replace("services:\n", "# the api\nservices:\n  web:\n    image: nginx:1.27\n    healthcheck:\n      test: [CMD, curl, -f, http://localhost]\n"));
    assert_eq!(run(&[]), (Some(0), vec![]));
    // A second secret is new.
    write(dir.path(), "docker-compose.yml", &format!("{stack}      API_TOKEN: abcdefabcdef1234\n"));
    assert_eq!(run(&[]), (Some(1), vec!["hardcoded-secret".to_string()]));
    // The CI summary counts the new finding and says how many the baseline holds.
    let out = stackfix(
        dir.path(),
        &[&["check", "--baseline", "baseline.json", "--summary", "summary.md", "-q"][..], &select].concat(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let summary = fs::read_to_string(dir.path().join("summary.md")).unwrap();
    assert!(summary.starts_with("## stackfix: 1 finding in 1 stack"), "{summary}");
    assert!(summary.contains("2 more findings are in the baseline (`--baseline`) and not reported."), "{summary}");
    // A broken baseline is an error; the options do not go together.
    write(dir.path(), "bad.json", "{\"version\": 9, \"findings\": []}");
    let out = stackfix(dir.path(), &["check", "--baseline", "bad.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--baseline bad.json: baseline version 9"), "{}", stderr(&out));
    assert_eq!(
        stackfix(dir.path(), &["check", "--baseline", "bad.json", "--write-baseline", "x.json"]).status.code(),
        Some(2)
    );
}

/// What a review of the many-stacks work found, each pinned: a named compose file that the
/// directory's discovery would not load is checked itself; a compose file that is a link counts
/// in a walk, and so does a `*compose*.yml` alone in its directory; stacks sharing an included
/// file report its findings once; a `stackfix.toml` at the top of the repository configures the
/// stacks below; walking up stops at the git work tree's top.
#[test]
fn named_files_links_shared_includes_and_configuration_above() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    assert!(Command::new("git").args(["init", "-q"]).current_dir(root).status().unwrap().success());
    // compose.yaml wins discovery; docker-compose.yml named on the command line is checked itself.
    write(root, "a/compose.yaml", "services:\n  web:\n    image: nginx:1.27\n");
    write(root, "a/docker-compose.yml", "services:\n  db:\n    image: postgres:16\n");
    let out = stackfix(root, &["check", "a/docker-compose.yml", "--select", "no-healthcheck", "--format", "json"]);
    let files: Vec<String> = files_and_rules(&json(&out)).into_iter().map(|(f, _)| f).collect();
    assert!(files.iter().all(|f| f == "a/docker-compose.yml") && !files.is_empty(), "{files:?}");
    // A link to a compose file, and a compose-looking name alone in its directory.
    write(root, "shared/stack.yml", WARNED);
    std::os::unix::fs::symlink("../shared/stack.yml", root.join("linked-dir-compose.yaml")).ok();
    fs::create_dir_all(root.join("linked")).unwrap();
    std::os::unix::fs::symlink("../shared/stack.yml", root.join("linked/compose.yaml")).unwrap();
    write(root, "gateway/docker-compose-gateway.yml", WARNED);
    // Two stacks including one file.
    write(root, "common/extra.yml", "services:\n  cache:\n    image: ghcr.io/acme/cache:1\n");
    for stack in ["one", "two"] {
        write(
            root,
            &format!("{stack}/compose.yaml"),
            "include:\n  - ../common/extra.yml\nservices:\n  api:\n    image: ghcr.io/acme/api:1\n",
        );
    }
    // Overlays kept in directories of their own (docker-elk's extensions): skipped with a note.
    write(
        root,
        "extensions/beat/beat-compose.yml",
        "services:\n  beat:\n    image: ghcr.io/acme/beat:1\n    depends_on: [elasticsearch]\n",
    );
    write(root, "extensions/partial/partial-compose.yml", "services:\n  api:\n    restart: always\n");
    let out = stackfix(root, &["check", "-r", "--select", "no-healthcheck", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    for (dir, reason) in [
        (
            "extensions/beat",
            "in beat-compose.yml, service `beat` depends on `elasticsearch`, which no file there defines",
        ),
        ("extensions/partial", "in partial-compose.yml, service `api` has neither `image`, `build` nor `extends`"),
    ] {
        assert!(
            stderr(&out).contains(&format!("note: ./{dir}: not a stack of its own, skipped: {reason}")),
            "{}",
            stderr(&out)
        );
    }
    let found = files_and_rules(&json(&out));
    let files: Vec<&str> = found.iter().map(|(f, _)| f.as_str()).collect();
    assert!(!files.iter().any(|f| f.starts_with("extensions/")), "{files:?}");
    assert!(files.contains(&"linked/compose.yaml"), "{files:?}");
    assert!(files.contains(&"gateway/docker-compose-gateway.yml"), "{files:?}");
    assert_eq!(files.iter().filter(|f| f.ends_with("common/extra.yml")).count(), 1, "{files:?}");
    // The repository's stackfix.toml applies to a stack below it.
    write(root, "stackfix.toml", "select = [\"no-restart-policy\"]\n");
    let out = stackfix(root, &["check", "one", "--format", "json"]);
    let rules: Vec<String> = files_and_rules(&json(&out)).into_iter().map(|(_, r)| r).collect();
    assert!(!rules.is_empty() && rules.iter().all(|r| r == "no-restart-policy"), "{rules:?}");
    fs::remove_file(root.join("stackfix.toml")).unwrap();
    // Walking up from a directory without compose files stops at the work tree's top.
    write(root, "docs/notes.txt", "");
    let out = stackfix(&root.join("docs"), &["check"]);
    assert_eq!(out.status.code(), Some(2), "no compose file up to the repository's top: {}", stderr(&out));
}

/// A baseline knows a list item by what it says: an item added above one it holds is new.
#[test]
fn a_baseline_does_not_hide_a_new_list_item() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "docker-compose.yml",
        "services:\n  db:\n    image: postgres:16\n    ports:\n      - \"5432:5432\"\n",
    );
    let select = ["--select", "database-port-published"];
    let out = stackfix(dir.path(), &[&["check", "--write-baseline", "b.json"][..], &select].concat());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    write(
        dir.path(),
        "docker-compose.yml",
        "services:\n  db:\n    image: postgres:16\n    ports:\n      - \"6543:5432\"\n      - \"5432:5432\"\n",
    );
    let out = stackfix(dir.path(), &[&["check", "--baseline", "b.json", "--format", "json"][..], &select].concat());
    let report = json(&out);
    let messages: Vec<&str> =
        report["findings"].as_array().unwrap().iter().map(|f| f["message"].as_str().unwrap()).collect();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(messages[0].contains("6543"), "{messages:?}");
}

/// `fix --diff` on a stack named by an absolute path writes headers relative to the git work
/// tree, which `git apply` takes from its top.
#[test]
fn a_diff_of_a_stack_named_by_absolute_path_applies_with_git() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    assert!(Command::new("git").args(["init", "-q"]).current_dir(root).status().unwrap().success());
    write(root, "deploy/docker-compose.yml", WARNED);
    let absolute = root.join("deploy");
    let out = stackfix(Path::new("/"), &["fix", "--diff", "--select", "no-log-rotation", absolute.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let diff = stdout(&out);
    assert!(diff.contains("+++ b/deploy/docker-compose.yml"), "{diff}");
    fs::write(root.join("fix.diff"), &diff).unwrap();
    let applied = Command::new("git").args(["apply", "fix.diff"]).current_dir(root).output().unwrap();
    assert!(applied.status.success(), "{}", String::from_utf8_lossy(&applied.stderr));
    assert!(fs::read_to_string(root.join("deploy/docker-compose.yml")).unwrap().contains("max-size"));
}

/// `--format github` annotates a file that could not be read.
#[test]
fn github_annotations_name_files_that_do_not_parse() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "docker-compose.yml", "services:\n  api: [\n");
    let out = stackfix(dir.path(), &["check", "--format", "github"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout(&out).starts_with("::error title=stackfix,file=docker-compose.yml,line="), "{}", stdout(&out));
}

/// `fix --branch` over several stacks of one repository makes one commit holding every stack's
/// fixes (a file two stacks share holds both stacks' edits), with one message and one pull
/// request body; stacks of two repositories are refused.
#[test]
fn fix_branch_over_several_stacks_makes_one_commit() {
    let dir = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main"])
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    write(dir.path(), "a/docker-compose.yml", WARNED);
    write(dir.path(), "b/docker-compose.yml", WARNED);
    // c's stack includes a's file: both stacks judge it, and the commit holds its fix once.
    write(
        dir.path(),
        "c/compose.yaml",
        "include:\n  - ../a/docker-compose.yml\nservices:\n  web:\n    image: nginx:1.27\n",
    );
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-qm", "stacks"]);
    let body = dir.path().join("body.md");
    let out = stackfix(
        dir.path(),
        &[
            "fix",
            "a",
            "b",
            "c",
            "--branch",
            "--select",
            "no-log-rotation",
            "--author",
            "t <t@example.com>",
            "--pr-body",
            body.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // One commit on top of HEAD, changing the three compose files.
    assert_eq!(git(&["rev-list", "--count", "main..stackfix/fixes"]).trim(), "1");
    let changed = git(&["diff", "--name-only", "main", "stackfix/fixes"]);
    let changed: Vec<&str> = changed.lines().collect();
    assert_eq!(changed, ["a/docker-compose.yml", "b/docker-compose.yml", "c/compose.yaml"], "{changed:?}");
    for file in changed {
        let text = git(&["show", &format!("stackfix/fixes:{file}")]);
        assert!(text.contains("max-size"), "{file}: {text}");
    }
    let message = git(&["log", "-1", "--format=%B", "stackfix/fixes"]);
    assert!(message.starts_with("stackfix: fix 3 findings (no-log-rotation)"), "{message}");
    let body = fs::read_to_string(&body).unwrap();
    assert!(body.starts_with("## stackfix: 3 fixes"), "{body}");
    for file in ["`a/docker-compose.yml`", "`b/docker-compose.yml`", "`c/compose.yaml`"] {
        assert!(body.contains(file), "{file}: {body}");
    }
    // The working tree is untouched (the body is the one new file).
    assert_eq!(git(&["status", "--porcelain"]).trim(), "?? body.md");
    // A link HEAD holds is never written through, even in HEAD's copy: the file it names
    // outside the repository stays as it was.
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("envex"), "KEEP=1\n").unwrap();
    write(
        dir.path(),
        "s/docker-compose.yml",
        "services:\n  db:\n    image: postgres:16.4\n    environment:\n      POSTGRES_PASSWORD: hunter2hunter2\n",
    );
    std::os::unix::fs::symlink(outside.path().join("envex"), dir.path().join("s/.env.example")).unwrap();
    git(&["add", "."]);
    git(&["commit", "-qm", "secret stack"]);
    let out = stackfix(
        dir.path(),
        &[
            "fix",
            "s",
            "b",
            "--unsafe-fixes",
            "--select",
            "hardcoded-secret",
            "--branch=secrets",
            "--author",
            "t <t@example.com>",
        ],
    );
    assert_ne!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(fs::read_to_string(outside.path().join("envex")).unwrap(), "KEEP=1\n");
    // Stacks of two repositories: refused, nothing committed.
    let other = tempfile::tempdir().unwrap();
    write(other.path(), "docker-compose.yml", WARNED);
    for args in [&["init", "-q"][..], &["add", "."], &["commit", "-qm", "other"]] {
        let status = std::process::Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .current_dir(other.path())
            .status()
            .unwrap();
        assert!(status.success());
    }
    let out = stackfix(dir.path(), &["fix", "a", other.path().to_str().unwrap(), "--branch=other"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("is in another repository"), "{}", stderr(&out));
}

/// `fix -r` fixes every stack below the directory, as `check -r` finds them; `fix --exit-zero`
/// exits 0 with findings left for a person, and with `--exit-non-zero-on-fix` 1 only when it
/// wrote a fix (what the pre-commit fix hook runs).
#[test]
fn fix_recursive_and_exit_zero() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "deploy/a/docker-compose.yml", WARNED);
    write(dir.path(), "deploy/b/compose.yaml", WARNED);
    let args = ["fix", "-r", "--select", "no-log-rotation,no-healthcheck", "--exit-zero", "--exit-non-zero-on-fix"];
    let out = stackfix(dir.path(), &args);
    assert_eq!(out.status.code(), Some(1), "a fix was written: {}", stderr(&out));
    for file in ["deploy/a/docker-compose.yml", "deploy/b/compose.yaml"] {
        assert!(fs::read_to_string(dir.path().join(file)).unwrap().contains("max-size"), "{file}");
    }
    // Nothing more to write; no-healthcheck is left for a person (an image stackfix does not know).
    let out = stackfix(dir.path(), &args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = stackfix(dir.path(), &["fix", "-r", "--select", "no-healthcheck"]);
    assert_eq!(out.status.code(), Some(1), "findings left: {}", stderr(&out));
    let out = stackfix(&dir.path().join("deploy/a"), &["fix", "-r", "--exclude", "*.yml", "--exclude", "*.yaml"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}
