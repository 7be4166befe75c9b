//! Fix branches in temporary real git repositories: the branch holds exactly the fixed files,
//! the working tree and the index stay byte for byte, re-runs are idempotent, a branch is rebuilt
//! when HEAD moves and refused when someone else committed on it; `--commit` commits on the
//! current branch; every git failure is a clear error with exit code 2.

use std::path::Path;
use std::process::Command;

use crate::common::{copy_tree, fixtures, stackfix, stderr, stdout};

/// Runs git in `dir` with a fixed identity; panics when it fails.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=Dev", "-c", "user.email=dev@example.test", "-c", "init.defaultBranch=main"])
        .args(args)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A repository holding seed 001's stack in one commit, with an identity configured.
fn repo() -> tempfile::TempDir {
    let work = tempfile::tempdir().unwrap();
    copy_tree(&fixtures().join("stacks/001-plugin-platform"), work.path());
    git(work.path(), &["init", "-q"]);
    git(work.path(), &["config", "user.name", "Stack Owner"]);
    git(work.path(), &["config", "user.email", "owner@example.test"]);
    git(work.path(), &["add", "-A"]);
    git(work.path(), &["commit", "-qm", "stack"]);
    work
}

/// Every file of the working tree and the index file, byte for byte.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).unwrap().filter_map(|e| e.ok()) {
            let path = entry.path();
            let rel = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                if rel != ".git" {
                    walk(root, &path, out);
                }
            } else {
                out.push((rel, std::fs::read(&path).unwrap()));
            }
        }
    }
    walk(dir, dir, &mut out);
    out.push((".git/index".into(), std::fs::read(dir.join(".git/index")).unwrap()));
    out.sort();
    out
}

fn rev(dir: &Path, name: &str) -> String {
    git(dir, &["rev-parse", name]).trim().to_string()
}

#[test]
fn a_fix_branch_holds_the_fixes_of_head_and_leaves_the_work_tree_and_index_alone() {
    let work = repo();
    let dir = work.path();
    // What `fix` makes of HEAD's files, in a plain copy.
    let expected = tempfile::tempdir().unwrap();
    copy_tree(dir, expected.path());
    std::fs::remove_dir_all(expected.path().join(".git")).unwrap();
    assert_eq!(stackfix(expected.path(), &["fix", ".", "--unsafe-fixes"]).status.code(), Some(1));
    // An uncommitted edit and a staged file must not leak into the branch, and must stay.
    let mut compose = std::fs::read_to_string(dir.join("docker-compose.yml")).unwrap();
    compose.push_str("# work in progress\n");
    std::fs::write(dir.join("docker-compose.yml"), compose).unwrap();
    std::fs::write(dir.join("staged.txt"), "staged\n").unwrap();
    git(dir, &["add", "staged.txt"]);
    let before = snapshot(dir);
    let head = rev(dir, "HEAD");
    let out = stackfix(dir, &["fix", ".", "--unsafe-fixes", "--branch"]);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    assert!(stderr(&out).contains("docker-compose.yml has uncommitted changes"), "{}", stderr(&out));
    assert_eq!(snapshot(dir), before, "the working tree or the index changed");
    assert_eq!(rev(dir, "HEAD"), head);
    assert_eq!(rev(dir, "stackfix/fixes~1"), head, "the branch is one commit on HEAD");
    for file in ["docker-compose.yml", ".env.example"] {
        let on_branch = git(dir, &["show", &format!("stackfix/fixes:{file}")]);
        assert_eq!(on_branch, std::fs::read_to_string(expected.path().join(file)).unwrap(), "{file}");
    }
    let changed = git(dir, &["diff", "--name-only", "HEAD", "stackfix/fixes"]);
    assert_eq!(changed, ".env.example\ndocker-compose.yml\n");
    // The message names the fixes, lists each with file:line, service and rule, and what is left.
    let message = git(dir, &["log", "-1", "--format=%B", "stackfix/fixes"]);
    assert!(message.starts_with("stackfix: fix 21 findings ("), "{message}");
    assert!(message.contains("- docker-compose.yml:5 postgres no-resource-limits: "), "{message}");
    assert!(message.contains("Left for a person:\n- docker-compose.yml:"), "{message}");
    assert!(message.trim_end().ends_with(&format!("Generated-by: stackfix {}", env!("CARGO_PKG_VERSION"))));
    assert_eq!(
        git(dir, &["log", "-1", "--format=%an <%ae>", "stackfix/fixes"]).trim(),
        "Stack Owner <owner@example.test>"
    );
    // Secret values never reach the message.
    for secret in ["your-secret-key-change-in-production", "postgres:postgres@"] {
        assert!(!message.contains(secret), "{secret} in the commit message");
    }
}

#[test]
fn rerunning_is_idempotent_rebuilds_when_head_moves_and_refuses_foreign_commits() {
    let work = repo();
    let dir = work.path();
    let run = |extra: &[&str]| {
        let mut args = vec!["fix", ".", "--unsafe-fixes", "--branch", "fixes/prod", "--format", "json"];
        args.extend_from_slice(extra);
        let out = stackfix(dir, &args);
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        (out.status.code(), json, stderr(&out))
    };
    let (code, json, _) = run(&[]);
    assert_eq!(code, Some(0));
    assert_eq!(json["branches"][0]["state"], "created");
    let first = rev(dir, "fixes/prod");
    assert_eq!(json["branches"][0]["commit"], first);
    assert_eq!(json["branches"][0]["files"], serde_json::json!([".env.example", "docker-compose.yml"]));
    let (_, json, _) = run(&[]);
    assert_eq!(json["branches"][0]["state"], "unchanged");
    assert_eq!(rev(dir, "fixes/prod"), first, "an idempotent run made a commit");
    // HEAD moves: the branch is rebuilt on it.
    std::fs::write(dir.join("README.md"), "docs\n").unwrap();
    git(dir, &["add", "README.md"]);
    git(dir, &["commit", "-qm", "docs"]);
    let (_, json, _) = run(&[]);
    assert_eq!(json["branches"][0]["state"], "updated");
    assert_eq!(rev(dir, "fixes/prod~1"), rev(dir, "HEAD"));
    // Someone commits on the branch: refused, then replaced with --force.
    git(dir, &["checkout", "-q", "fixes/prod"]);
    std::fs::write(dir.join("tweak.txt"), "mine\n").unwrap();
    git(dir, &["add", "tweak.txt"]);
    git(dir, &["commit", "-qm", "a person's tweak"]);
    let theirs = rev(dir, "fixes/prod");
    git(dir, &["checkout", "-q", "main"]);
    let (code, _, err) = run(&[]);
    assert_eq!(code, Some(2));
    assert!(err.contains("has a commit stackfix did not make") && err.contains("a person's tweak"), "{err}");
    assert_eq!(rev(dir, "fixes/prod"), theirs, "a refused run moved the branch");
    let (code, json, _) = run(&["--force"]);
    assert_eq!(code, Some(0));
    assert_eq!(json["branches"][0]["state"], "updated");
    assert_eq!(rev(dir, "fixes/prod~1"), rev(dir, "HEAD"));
}

#[test]
fn one_branch_per_rule_holds_only_that_rules_fixes() {
    let work = repo();
    let dir = work.path();
    let out = stackfix(dir, &["fix", ".", "--branch-per-rule", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let branches: Vec<&str> =
        json["branches"].as_array().unwrap().iter().map(|b| b["branch"].as_str().unwrap()).collect();
    for rule in ["no-resource-limits", "no-restart-policy", "no-log-rotation"] {
        let branch = format!("stackfix/{rule}");
        assert!(branches.contains(&branch.as_str()), "{branches:?}");
        let message = git(dir, &["log", "-1", "--format=%B", &branch]);
        let fixed: Vec<&str> = message.lines().filter(|l| l.starts_with("- docker-compose.yml:")).collect();
        assert!(!fixed.is_empty());
        let section = message.split("Left for a person:").next().unwrap();
        for line in section.lines().filter(|l| l.starts_with("- ")) {
            assert!(line.contains(&format!(" {rule}: ")), "{branch}: {line}");
        }
    }
}

#[test]
fn commit_writes_and_commits_on_the_current_branch_unless_a_file_is_dirty() {
    let work = repo();
    let dir = work.path();
    std::fs::write(dir.join("docker-compose.yml"), {
        let mut t = std::fs::read_to_string(dir.join("docker-compose.yml")).unwrap();
        t.push_str("# unfinished\n");
        t
    })
    .unwrap();
    let head = rev(dir, "HEAD");
    let out = stackfix(dir, &["fix", ".", "--commit"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("docker-compose.yml has uncommitted changes"), "{}", stderr(&out));
    assert_eq!(rev(dir, "HEAD"), head);
    assert!(std::fs::read_to_string(dir.join("docker-compose.yml")).unwrap().ends_with("# unfinished\n"));
    git(dir, &["checkout", "-q", "--", "docker-compose.yml"]);
    std::fs::write(dir.join("unrelated.txt"), "not mine\n").unwrap();
    let out = stackfix(dir, &["fix", ".", "--commit"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(rev(dir, "HEAD~1"), head);
    assert_eq!(git(dir, &["status", "--porcelain"]), "?? unrelated.txt\n", "fixed files are committed and clean");
    let again = stackfix(dir, &["fix", ".", "--commit"]);
    assert_eq!(stdout(&again), "Nothing to fix; no commit made.\n");
}

#[test]
fn ignored_files_are_never_committed() {
    let work = repo();
    let dir = work.path();
    std::fs::write(dir.join(".gitignore"), ".env*\n").unwrap();
    git(dir, &["add", ".gitignore"]);
    git(dir, &["commit", "-qm", "ignore env files"]);
    let out = stackfix(dir, &["fix", ".", "--unsafe-fixes", "--branch"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains(".env.example is ignored by the repository"), "{}", stderr(&out));
    assert_eq!(git(dir, &["diff", "--name-only", "HEAD", "stackfix/fixes"]), "docker-compose.yml\n");
}

#[test]
fn git_failures_are_clear_errors() {
    let expect = |dir: &Path, args: &[&str], wanted: &str| {
        let out = stackfix(dir, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stdout(&out));
        assert!(stderr(&out).contains(wanted), "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).contains("panicked"));
    };
    let plain = tempfile::tempdir().unwrap();
    copy_tree(&fixtures().join("stacks/001-plugin-platform"), plain.path());
    expect(plain.path(), &["fix", ".", "--branch"], "not inside a git repository");
    git(plain.path(), &["init", "-q"]);
    expect(plain.path(), &["fix", ".", "--branch"], "no commit yet");
    let bare = tempfile::tempdir().unwrap();
    git(bare.path(), &["init", "-q", "--bare"]);
    expect(bare.path(), &["fix", ".", "--branch"], "bare repository");
    let work = repo();
    let dir = work.path();
    expect(dir, &["fix", ".", "--branch", "bad..name"], "not a valid branch name");
    expect(dir, &["fix", ".", "--branch", "main"], "checked out here");
    expect(dir, &["fix", ".", "--branch", "--author", "nobody"], "expected `Name <email>`");
    // A locked ref: another git process holds it.
    git(dir, &["branch", "stackfix/fixes"]);
    std::fs::write(dir.join(".git/refs/heads/stackfix/fixes.lock"), "").unwrap();
    expect(dir, &["fix", ".", "--branch"], "branch `stackfix/fixes` is locked");
    std::fs::remove_file(dir.join(".git/refs/heads/stackfix/fixes.lock")).unwrap();
    // A detached HEAD is fine for a branch.
    git(dir, &["checkout", "-q", "--detach"]);
    let out = stackfix(dir, &["fix", ".", "--branch", "from-detached"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(rev(dir, "from-detached~1"), rev(dir, "HEAD"));
}

#[test]
fn without_an_identity_the_author_must_be_given() {
    let work = repo();
    let dir = work.path();
    git(dir, &["config", "--unset", "user.name"]);
    git(dir, &["config", "--unset", "user.email"]);
    let isolated = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_stackfix"))
            .current_dir(dir)
            .args(args)
            .env("HOME", dir)
            .env("XDG_CONFIG_HOME", dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env_remove("GIT_AUTHOR_NAME")
            .env_remove("GIT_AUTHOR_EMAIL")
            .env_remove("EMAIL")
            .output()
            .unwrap()
    };
    let out = isolated(&["fix", ".", "--branch"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no author"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = isolated(&["fix", ".", "--branch", "--author", "Bot <bot@example.test>"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(git(dir, &["log", "-1", "--format=%an <%ae>", "stackfix/fixes"]).trim(), "Bot <bot@example.test>");
}
