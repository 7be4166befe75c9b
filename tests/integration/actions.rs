//! The GitHub Action (`action.yml`) and the workflows shipped with it: valid against the GitHub
//! Actions schemas (check-jsonschema's vendored ones), and the action's shell steps run here as
//! the runner would run them (bash with `-eo pipefail`, the step's `env`, the runner's files),
//! installing stackfix from this repository with cargo.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use yaml_rust2::{Yaml, YamlLoader};

use crate::common::{quick_release_build, repo, stackfix, stderr, validator};

fn load(path: &Path) -> Yaml {
    let text = fs::read_to_string(path).unwrap();
    YamlLoader::load_from_str(&text).unwrap().remove(0)
}

/// The workflows a user copies (docs/github) and the reusable one (.github/workflows).
fn workflows() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in [repo().join("docs/github"), repo().join(".github/workflows")] {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn the_action_and_workflows_are_valid_against_the_github_schemas() {
    let Some(check) = validator("check-jsonschema") else { return };
    let run = |schema: &str, files: &[PathBuf]| {
        let out = Command::new(&check).args(["--builtin-schema", schema]).args(files).output().unwrap();
        assert!(out.status.success(), "{schema}: {}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    };
    run("vendor.github-actions", &[repo().join("action.yml")]);
    let workflows = workflows();
    assert!(workflows.len() >= 3, "{workflows:?}");
    run("vendor.github-workflows", &workflows);
    // The schemas refuse what they must: a composite step without a shell.
    let broken = tempfile::tempdir().unwrap();
    let path = broken.path().join("action.yml");
    fs::write(&path, "name: x\ndescription: x\nruns:\n  using: composite\n  steps:\n    - run: echo\n").unwrap();
    let out = Command::new(&check).args(["--builtin-schema", "vendor.github-actions"]).arg(&path).output().unwrap();
    assert!(!out.status.success());
}

/// `${{ … }}` in a step's `env` or `if`, for what action.yml uses: `inputs.NAME`,
/// `steps.ID.outputs.NAME`, `github.action_path`, `==`/`!=` against a quoted literal, `&&`, and
/// `hashFiles(…)` (true when the file exists).
struct Expressions<'a> {
    inputs: &'a HashMap<String, String>,
    workspace: &'a Path,
    /// The `$GITHUB_OUTPUT` file the steps write (`steps.ID.outputs.NAME`: its last `NAME=`).
    outputs: PathBuf,
}

impl Expressions<'_> {
    fn value(&self, term: &str) -> String {
        let term = term.trim();
        if let Some(name) = term.strip_prefix("inputs.") {
            return self.inputs.get(name).unwrap_or_else(|| panic!("no input {name}")).clone();
        }
        if let Some(rest) = term.strip_prefix("steps.") {
            let name = rest.split_once(".outputs.").map(|(_, n)| n).unwrap_or_else(|| panic!("`{term}`"));
            let text = fs::read_to_string(&self.outputs).unwrap_or_default();
            let prefix = format!("{name}=");
            return text.lines().rev().find_map(|l| l.strip_prefix(&prefix)).unwrap_or("").to_string();
        }
        if term == "github.action_path" {
            return repo().display().to_string();
        }
        if let Some(literal) = term.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')) {
            return literal.to_string();
        }
        if let Some(arg) = term.strip_prefix("hashFiles(").and_then(|t| t.strip_suffix(')')) {
            let file = self.value(arg);
            return if self.workspace.join(file).is_file() { "hash".into() } else { String::new() };
        }
        panic!("expression `{term}` is not one this test evaluates");
    }

    fn condition(&self, text: &str) -> bool {
        let inner = text.trim().trim_start_matches("${{").trim_end_matches("}}");
        inner.split("&&").all(|part| {
            if let Some((a, b)) = part.split_once("!=") {
                self.value(a) != self.value(b)
            } else if let Some((a, b)) = part.split_once("==") {
                self.value(a) == self.value(b)
            } else {
                panic!("condition `{part}` is not one this test evaluates")
            }
        })
    }

    fn substitute(&self, text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${{") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find("}}").unwrap() + start;
            out.push_str(&self.value(&rest[start + 3..end]));
            rest = &rest[end + 2..];
        }
        out.push_str(rest);
        out
    }
}

/// The runner's files for one job.
struct Runner {
    temp: tempfile::TempDir,
}

impl Runner {
    fn file(&self, name: &str) -> PathBuf {
        self.temp.path().join(name)
    }
    fn read(&self, name: &str) -> String {
        fs::read_to_string(self.file(name)).unwrap_or_default()
    }
}

/// Runs the action's steps in `workspace` with `inputs` (the rest from their defaults), with
/// `path` as PATH: each `run` step as GitHub's composite runner does (`bash --noprofile --norc
/// -eo pipefail`), a step whose `if` is false or that `uses` another action skipped. Returns the
/// runner's files and, per step run, (name, exit code, stdout + stderr). Stops at a failing step.
fn run_action(workspace: &Path, inputs: &[(&str, &str)], path: &str) -> (Runner, Vec<(String, i32, String)>) {
    let action = load(&repo().join("action.yml"));
    let mut values: HashMap<String, String> = HashMap::new();
    for (name, spec) in action["inputs"].as_hash().unwrap() {
        let default = spec["default"].as_str().unwrap_or("").to_string();
        values.insert(name.as_str().unwrap().to_string(), default);
    }
    for (name, value) in inputs {
        assert!(values.contains_key(*name), "action.yml has no input {name}");
        values.insert(name.to_string(), value.to_string());
    }
    let runner = Runner { temp: tempfile::tempdir().unwrap() };
    for name in ["summary.md", "output", "path", "env"] {
        fs::write(runner.file(name), "").unwrap();
    }
    let expressions = Expressions { inputs: &values, workspace, outputs: runner.file("output") };
    let mut ran = Vec::new();
    for step in action["runs"]["steps"].as_vec().unwrap() {
        let name = step["name"].as_str().unwrap_or("step").to_string();
        if let Some(condition) = step["if"].as_str() {
            if !expressions.condition(condition) {
                continue;
            }
        }
        let Some(script) = step["run"].as_str() else {
            assert!(step["uses"].as_str().is_some(), "{name}: neither run nor uses");
            continue;
        };
        assert_eq!(step["shell"].as_str(), Some("bash"), "{name}: a composite step names its shell");
        assert!(!script.contains("${{"), "{name}: expressions go through env, not into the script");
        let mut cmd = Command::new("bash");
        cmd.args(["--noprofile", "--norc", "-eo", "pipefail", "-c", script])
            .current_dir(workspace)
            .env_clear()
            .env("PATH", path)
            .env("HOME", std::env::var("HOME").unwrap_or_default())
            .env("RUNNER_TEMP", runner.temp.path())
            .env("GITHUB_WORKSPACE", workspace)
            .env("GITHUB_STEP_SUMMARY", runner.file("summary.md"))
            .env("GITHUB_OUTPUT", runner.file("output"))
            .env("GITHUB_PATH", runner.file("path"))
            .env("GITHUB_ENV", runner.file("env"));
        // cargo install builds where the pre-commit test builds: once for both.
        quick_release_build(&mut cmd);
        for var in ["CARGO_HOME", "RUSTUP_HOME", "RUSTUP_TOOLCHAIN"] {
            if let Some(v) = std::env::var_os(var) {
                cmd.env(var, v);
            }
        }
        if let Some(env) = step["env"].as_hash() {
            for (k, v) in env {
                cmd.env(k.as_str().unwrap(), expressions.substitute(v.as_str().unwrap_or("")));
            }
        }
        let out = cmd.output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let code = out.status.code().unwrap_or(-1);
        ran.push((name, code, text));
        if code != 0 {
            break;
        }
    }
    (runner, ran)
}

fn step<'a>(ran: &'a [(String, i32, String)], name: &str) -> &'a (String, i32, String) {
    ran.iter().find(|(n, _, _)| n == name).unwrap_or_else(|| panic!("step {name} did not run: {ran:?}"))
}

/// A PATH with cargo and the usual tools but no stackfix: a directory that holds one is replaced
/// by a copy of its links without it (in `shadow`).
fn path_without_stackfix(shadow: &Path) -> String {
    let mut dirs = Vec::new();
    for (i, dir) in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).enumerate() {
        if !dir.join("stackfix").exists() {
            dirs.push(dir);
            continue;
        }
        let copy = shadow.join(i.to_string());
        fs::create_dir_all(&copy).unwrap();
        for entry in fs::read_dir(&dir).unwrap().flatten() {
            if entry.file_name() != "stackfix" {
                std::os::unix::fs::symlink(entry.path(), copy.join(entry.file_name())).unwrap();
            }
        }
        dirs.push(copy);
    }
    std::env::join_paths(dirs).unwrap().into_string().unwrap()
}

#[test]
fn the_action_installs_stackfix_reports_and_annotates() {
    let workspace = tempfile::tempdir().unwrap();
    fs::write(
        workspace.path().join("docker-compose.yml"),
        "services:\n  api:\n    image: ghcr.io/acme/api:1.2\n    restart: unless-stopped\n",
    )
    .unwrap();
    // Installed from this repository with cargo: no stackfix on PATH.
    let shadow = tempfile::tempdir().unwrap();
    let without = path_without_stackfix(shadow.path());
    let (runner, ran) = run_action(workspace.path(), &[("args", "--select no-log-rotation")], &without);
    let (_, code, text) = step(&ran, "Install stackfix");
    assert_eq!(*code, 0, "{text}");
    assert!(text.contains("stackfix: installed stackfix"), "{text}");
    assert!(runner.read("path").contains("stackfix/bin"), "{}", runner.read("path"));
    let (_, code, text) = step(&ran, "Report");
    assert_eq!(*code, 0, "{text}");
    // The job summary, the SARIF log and the step outputs.
    let summary = runner.read("summary.md");
    assert!(summary.starts_with("## stackfix: 1 finding in 1 stack"), "{summary}");
    assert!(summary.contains("| [`no-log-rotation`]("), "{summary}");
    let sarif: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(workspace.path().join("stackfix.sarif")).unwrap()).unwrap();
    assert_eq!(sarif["runs"][0]["results"].as_array().unwrap().len(), 1);
    // Annotations, then the findings fail the last step (and the action).
    let (_, code, text) = step(&ran, "Annotate");
    assert_eq!(*code, 0, "{text}");
    assert!(text.contains("::notice title=no-log-rotation,file=docker-compose.yml,line=2,"), "{text}");
    assert_eq!(step(&ran, "Result").1, 1, "{ran:?}");
    let outputs = runner.read("output");
    assert!(outputs.contains("sarif-file=stackfix.sarif") && outputs.contains("exit-code=1"), "{outputs}");

    // With stackfix on PATH, the install step uses it; `--fail-on warning` passes an info finding.
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_stackfix"));
    let path = format!("{}:{without}", bin.parent().unwrap().display());
    let (runner, ran) = run_action(workspace.path(), &[("args", "--select no-log-rotation --fail-on warning")], &path);
    assert!(step(&ran, "Install stackfix").2.contains("stackfix: using"), "{ran:?}");
    assert_eq!(step(&ran, "Result").1, 0, "{ran:?}");
    assert!(runner.read("output").contains("exit-code=0"));
    // `check: false` only installs.
    let (_, ran) = run_action(workspace.path(), &[("check", "false")], &path);
    assert_eq!(ran.len(), 1, "{ran:?}");
}

/// `fix --pr-body FILE` with `--branch`: the pull request body lists the fixes per file and
/// rule, what is left for a person, and how to review, with paths relative to the repository.
#[test]
fn the_pull_request_body_says_what_was_fixed_and_what_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| {
        let ok = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .current_dir(dir.path())
            .status()
            .unwrap()
            .success();
        assert!(ok, "git {args:?}");
    };
    git(&["init", "-q"]);
    fs::create_dir(dir.path().join("deploy")).unwrap();
    fs::write(
        dir.path().join("deploy/docker-compose.yml"),
        "services:\n  api:\n    image: ghcr.io/acme/api:1.2\n    volumes:\n      - /var/run/docker.sock:/var/run/docker.sock\n",
    )
    .unwrap();
    git(&["add", "."]);
    git(&["commit", "-qm", "init"]);
    let body = dir.path().join("body.md");
    let out = stackfix(
        dir.path(),
        &["fix", "deploy", "--branch", "--pr-body", body.to_str().unwrap(), "--author", "t <t@example.com>"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = fs::read_to_string(&body).unwrap();
    assert!(text.starts_with("## stackfix: "), "{text}");
    assert!(text.contains("`deploy/docker-compose.yml`\n\n| Rule | Service | Fix | Applicability |"), "{text}");
    assert!(text.contains("| [`no-restart-policy`]("), "{text}");
    // Its memory limit among them: an unsafe fix (its image is not one stackfix knows).
    assert!(text.contains("### Left for a person (7)"), "{text}");
    assert!(text.contains("| [`docker-socket-mount`]("), "{text}");
    assert!(text.contains("`deploy/docker-compose.yml:5`"), "{text}");
    assert!(text.contains("### How to review"), "{text}");
    assert!(!text.contains("/tmp/"), "paths are relative to the repository: {text}");
    // A stack too large for one body: cut to what GitHub takes, the review notes kept.
    let big = tempfile::tempdir().unwrap();
    let mut compose = String::from("services:\n");
    for i in 0..400 {
        compose.push_str(&format!(
            "  api{i}:\n    image: ghcr.io/acme/api:1.2\n    ports: [\"{}:80\"]\n    volumes:\n      - /var/run/docker.sock:/var/run/docker.sock\n",
            10000 + i
        ));
    }
    fs::write(big.path().join("docker-compose.yml"), compose).unwrap();
    let big_body = big.path().join("body.md");
    let out = stackfix(big.path(), &["fix", "--diff", "--pr-body", big_body.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = fs::read_to_string(&big_body).unwrap();
    assert!(text.chars().count() <= 65_536, "{} characters", text.chars().count());
    assert!(text.contains("cut here") && text.contains("### How to review"), "{}", &text[text.len() - 500..]);
    // Several stacks: one body cannot describe them.
    fs::create_dir(dir.path().join("other")).unwrap();
    fs::write(dir.path().join("other/compose.yaml"), "services:\n  a:\n    image: nginx:1.27\n").unwrap();
    let out = stackfix(dir.path(), &["fix", "deploy", "other", "--pr-body", body.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--pr-body works on one stack at a time"), "{}", stderr(&out));
}

/// The fix workflow's "Fix on a branch" step, run as the runner runs it in a checkout with an
/// `origin`: it makes the branch, the body and the `changed` output; run again after the branch
/// was pushed, it rebuilds the branch from what it fetched.
#[test]
fn the_fix_workflow_step_makes_the_branch_and_the_body() {
    if Command::new("jq").arg("--version").output().is_err() {
        eprintln!("skipping: jq not found (GitHub's runners have it)");
        return;
    }
    let workflow = load(&repo().join("docs/github/stackfix-fix.yml"));
    let steps = workflow["jobs"]["fix"]["steps"].as_vec().unwrap();
    let script = steps
        .iter()
        .find(|s| s["name"].as_str() == Some("Fix on a branch"))
        .and_then(|s| s["run"].as_str())
        .unwrap()
        .to_string();
    let scratch = tempfile::tempdir().unwrap();
    let (origin, work, temp) =
        (scratch.path().join("origin.git"), scratch.path().join("work"), scratch.path().join("tmp"));
    fs::create_dir_all(work.join("deploy")).unwrap();
    fs::create_dir_all(&temp).unwrap();
    fs::write(work.join("deploy/docker-compose.yml"), "services:\n  api:\n    image: ghcr.io/acme/api:1.2\n").unwrap();
    let git = |dir: &Path, args: &[&str]| {
        let out = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main"])
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    git(scratch.path(), &["init", "-q", "--bare", origin.to_str().unwrap()]);
    git(&work, &["init", "-q"]);
    git(&work, &["add", "."]);
    git(&work, &["commit", "-qm", "stack"]);
    git(&work, &["remote", "add", "origin", origin.to_str().unwrap()]);
    git(&work, &["push", "-q", "origin", "main"]);
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_stackfix"));
    let path = format!("{}:{}", bin.parent().unwrap().display(), std::env::var("PATH").unwrap_or_default());
    let run = || {
        for name in ["output", "env"] {
            fs::write(temp.join(name), "").unwrap();
        }
        let out = Command::new("bash")
            .args(["--noprofile", "--norc", "-eo", "pipefail", "-c", &script])
            .current_dir(&work)
            .env("PATH", &path)
            .env("RUNNER_TEMP", &temp)
            .env("GITHUB_OUTPUT", temp.join("output"))
            .env("GITHUB_ENV", temp.join("env"))
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
        assert!(out.status.success(), "{text}");
        (fs::read_to_string(temp.join("output")).unwrap(), fs::read_to_string(temp.join("env")).unwrap())
    };
    let (output, env) = run();
    assert_eq!(output.trim(), "changed=true");
    assert_eq!(env.trim(), "before=", "no branch on origin yet");
    let body = fs::read_to_string(temp.join("pr-body.md")).unwrap();
    assert!(body.contains("`deploy/docker-compose.yml`"), "{body}");
    // Pushed as the next step would (the lease: no branch yet), then run again: the branch is
    // fetched and rebuilt as stackfix's own.
    git(&work, &["push", "-q", "--force-with-lease=stackfix/fixes:", "origin", "stackfix/fixes"]);
    git(&work, &["branch", "-D", "stackfix/fixes"]);
    let (output, env) = run();
    assert_eq!(output.trim(), "changed=true");
    assert!(env.trim().starts_with("before=") && env.trim().len() > "before=".len(), "{env}");
}
