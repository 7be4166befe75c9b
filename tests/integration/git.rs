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

/// Whether `refs/heads/NAME` exists in the repository at `dir`.
fn branch_exists(dir: &Path, name: &str) -> bool {
    let out = Command::new("git")
        .args(["rev-parse", "--verify", "-q", &format!("refs/heads/{name}")])
        .current_dir(dir)
        .output()
        .unwrap();
    !out.stdout.is_empty()
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
    assert!(message.starts_with("stackfix: fix 27 findings ("), "{message}");
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
        let mut args = vec!["fix", ".", "--unsafe-fixes", "--branch=fixes/prod", "--format", "json"];
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
    expect(dir, &["fix", ".", "--branch=bad..name"], "not a valid branch name");
    expect(dir, &["fix", ".", "--branch=main"], "checked out here");
    expect(dir, &["fix", ".", "--branch", "--author", "nobody"], "expected `Name <email>`");
    // A locked ref: another git process holds it.
    git(dir, &["branch", "stackfix/fixes"]);
    std::fs::write(dir.join(".git/refs/heads/stackfix/fixes.lock"), "").unwrap();
    // (`--force`: a branch made by hand at HEAD is someone else's, refused before the lock.)
    expect(dir, &["fix", ".", "--branch"], "has a commit stackfix did not make");
    expect(dir, &["fix", ".", "--branch", "--force"], "branch `stackfix/fixes` is locked");
    std::fs::remove_file(dir.join(".git/refs/heads/stackfix/fixes.lock")).unwrap();
    // A detached HEAD is fine for a branch.
    git(dir, &["checkout", "-q", "--detach"]);
    let out = stackfix(dir, &["fix", ".", "--branch=from-detached"]);
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

/// A small stack in a fresh repository made by `init` (extra `git init` arguments), committed.
fn small_repo(init: &[&str], text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let base = tempfile::tempdir().unwrap();
    let work = base.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let mut args = vec!["init", "-q"];
    args.extend_from_slice(init);
    git(&work, &args);
    std::fs::write(work.join("docker-compose.yml"), text).unwrap();
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-qm", "stack"]);
    (base, work)
}

const SMALL: &str = "services:\n  web:\n    image: nginx:1.27\n";

#[test]
fn a_separate_git_directory_is_followed_to_the_real_work_tree() {
    let outside = tempfile::tempdir().unwrap();
    let gitdir = outside.path().join("repo.git");
    let (_base, work) = small_repo(&["--separate-git-dir", gitdir.to_str().unwrap()], SMALL);
    let out = stackfix(&work, &["fix", ".", "--select", "no-restart-policy", "--branch"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(git(&work, &["show", "stackfix/fixes:docker-compose.yml"]).contains("restart: unless-stopped"));
    let out = stackfix(&work, &["fix", ".", "--select", "no-restart-policy", "--commit"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(git(&work, &["show", "--name-only", "--format=", "HEAD"]).trim(), "docker-compose.yml");
    assert_eq!(git(&work, &["status", "--porcelain"]), "");
}

#[test]
fn commits_go_through_the_repositorys_filters_and_links() {
    // core.autocrlf: the work tree holds CRLF, the repository LF; `git status` stays clean.
    let base = tempfile::tempdir().unwrap();
    let work = base.path().to_path_buf();
    git(&work, &["init", "-q"]);
    git(&work, &["config", "core.autocrlf", "true"]);
    std::fs::write(work.join("docker-compose.yml"), SMALL.replace('\n', "\r\n")).unwrap();
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-qm", "stack"]);
    assert_eq!(git(&work, &["status", "--porcelain"]), "", "the CRLF copy is what git has");
    let out = stackfix(&work, &["fix", ".", "--select", "no-restart-policy", "--commit"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(git(&work, &["status", "--porcelain"]), "");
    assert!(!git(&work, &["show", "HEAD:docker-compose.yml"]).contains('\r'));
    // A compose file that is a link: the target is fixed and committed, the link stays.
    let (_base, work) = small_repo(&[], SMALL);
    std::fs::create_dir(work.join("conf")).unwrap();
    git(&work, &["mv", "docker-compose.yml", "conf/compose.yml"]);
    std::os::unix::fs::symlink("conf/compose.yml", work.join("docker-compose.yml")).unwrap();
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-qm", "link"]);
    let out = stackfix(&work, &["fix", ".", "--select", "no-restart-policy", "--commit"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(std::fs::symlink_metadata(work.join("docker-compose.yml")).unwrap().file_type().is_symlink());
    assert!(git(&work, &["show", "HEAD:conf/compose.yml"]).contains("restart:"));
    assert_eq!(git(&work, &["status", "--porcelain"]), "");
}

#[test]
fn branches_git_would_not_move_are_refused() {
    let (_base, work) = small_repo(&["-b", "main"], SMALL);
    // Checked out in another worktree.
    let other = work.parent().unwrap().join("other");
    git(&work, &["worktree", "add", "-q", "-b", "elsewhere", other.to_str().unwrap()]);
    let out = stackfix(&work, &["fix", ".", "--select", "no-restart-policy", "--branch=elsewhere"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("checked out in the worktree"), "{}", stderr(&out));
    // The main work tree's branch, seen from the linked worktree.
    let out = stackfix(&other, &["fix", ".", "--select", "no-restart-policy", "--branch=main", "--force"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("checked out in the worktree"), "{}", stderr(&out));
    // Someone else's branch behind HEAD is not fast-forwarded without --force.
    git(&work, &["branch", "release"]);
    let release = rev(&work, "release");
    let out = stackfix(&work, &["fix", ".", "--select", "no-restart-policy", "--branch=release"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(rev(&work, "release"), release);
    // Names git refuses, as `git check-ref-format --branch` judges them.
    for name in ["HEAD", "@", "a@{1}", "bad..name", "x.lock", "/lead", "ok/name", "fixes-1", "refs/heads/x"] {
        // `@` passes `git check-ref-format --branch` (it reads as HEAD) but names no branch, and
        // `refs/heads/x` would make `refs/heads/refs/heads/x`.
        let git_accepts = name != "@"
            && !name.starts_with("refs/")
            && Command::new("git")
                .args(["check-ref-format", "--branch", name])
                .current_dir(&work)
                .output()
                .unwrap()
                .status
                .success()
            && name != "HEAD";
        let out = stackfix(&work, &["fix", ".", "--select", "no-restart-policy", &format!("--branch={name}")]);
        assert_eq!(out.status.code() == Some(0), git_accepts, "{name}: {}", stderr(&out));
        if !git_accepts {
            assert!(!branch_exists(&work, name));
        }
    }
}

/// `--branch` takes its name after `=`: `fix --branch DIR` and `fix DIR --branch` both fix the
/// stack in DIR on the default branch, from the repository root.
#[test]
fn the_stack_directory_is_never_taken_for_a_branch_name() {
    let base = tempfile::tempdir().unwrap();
    let work = base.path().to_path_buf();
    git(&work, &["init", "-q"]);
    std::fs::create_dir(work.join("sub")).unwrap();
    std::fs::write(work.join("sub/docker-compose.yml"), SMALL).unwrap();
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-qm", "stack"]);
    for args in [
        ["fix", "--select", "no-restart-policy", "--branch", "sub"],
        ["fix", "sub", "--select", "no-restart-policy", "--branch"],
    ] {
        let out = stackfix(&work, &args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert!(git(&work, &["show", "stackfix/fixes:sub/docker-compose.yml"]).contains("restart:"), "{args:?}");
        assert!(!branch_exists(&work, "sub"));
    }
}

/// Two `fix --branch` runs at once on one stack: one creates the branch, the other finds it
/// already holding the fixes (the project lock serialises them); the branch has exactly one
/// commit on HEAD.
#[test]
fn concurrent_branch_runs_tell_the_truth() {
    let (_base, work) = small_repo(&[], SMALL);
    let head = rev(&work, "HEAD");
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_stackfix"))
            .args(["fix", ".", "--select", "no-restart-policy", "--branch", "--format", "json"])
            .current_dir(&work)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let mut states = Vec::new();
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        states.push(doc["branches"][0]["state"].as_str().unwrap().to_string());
    }
    states.sort();
    assert_eq!(states, ["created", "unchanged"]);
    assert_eq!(git(&work, &["rev-list", "--count", &format!("{head}..stackfix/fixes")]).trim(), "1");
}

/// `--commit` refuses before writing when git's index is locked (the index would be left
/// staging the old text) or a file to commit has a name git2 cannot commit (not UTF-8).
#[test]
fn commit_refuses_before_writing_what_it_could_not_commit() {
    let (_base, work) = small_repo(&[], SMALL);
    std::fs::write(work.join(".git/index.lock"), "").unwrap();
    let out = stackfix(&work, &["fix", ".", "--select", "no-restart-policy", "--commit"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("index is locked"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(work.join("docker-compose.yml")).unwrap(), SMALL);
    std::fs::remove_file(work.join(".git/index.lock")).unwrap();
    use std::os::unix::ffi::OsStrExt;
    let odd = std::ffi::OsStr::from_bytes(b"c\xff.yml");
    let (_base, work) = small_repo(&[], SMALL);
    std::fs::rename(work.join("docker-compose.yml"), work.join(odd)).unwrap();
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-qm", "odd name"]);
    let out = Command::new(env!("CARGO_BIN_EXE_stackfix"))
        .arg("fix")
        .arg("-f")
        .arg(odd)
        .args(["--select", "no-restart-policy", "--commit"])
        .current_dir(&work)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not a UTF-8 path") && stderr(&out).contains("nothing was written"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_to_string(work.join(odd)).unwrap(), SMALL);
}

/// An interrupt while `--branch` plans removes its copy of HEAD (kept private in TMPDIR) and
/// commits nothing (exit 130).
#[test]
fn an_interrupted_branch_run_leaves_no_copy_of_head() {
    use nix::sys::signal::{kill, Signal};
    let mut text = String::from("services:\n");
    for i in 0..4_000 {
        text.push_str(&format!("  web{i}:\n    image: nginx:1.27\n"));
    }
    let (_base, work) = small_repo(&[], &text);
    let tmp = tempfile::tempdir().unwrap();
    let copies = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(tmp.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("stackfix-head-")))
            .collect()
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_stackfix"))
        .args(["fix", ".", "--select", "no-restart-policy", "--branch"])
        .current_dir(&work)
        .env("TMPDIR", tmp.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while copies().is_empty() && child.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
        std::thread::yield_now();
    }
    let copy = copies();
    assert_eq!(copy.len(), 1, "the run made its copy of HEAD");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&copy[0]).unwrap().permissions().mode() & 0o777, 0o700);
    kill(nix::unistd::Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(copies().is_empty(), "the copy of HEAD stayed behind");
    assert!(!branch_exists(&work, "stackfix/fixes"), "nothing is committed");
}

/// `--commit` refuses before writing: a file with a git filter driver (libgit2 does not run
/// them: git-crypt would commit a secret in clear), a branch whose ref another git process
/// holds, and a run whose every changed file is ignored.
#[test]
fn commit_refuses_filters_locked_branches_and_ignored_files() {
    let (_base, work) = small_repo(&["-b", "main"], SMALL);
    git(&work, &["config", "filter.b64.clean", "base64"]);
    git(&work, &["config", "filter.b64.smudge", "base64 -d"]);
    std::fs::write(work.join(".gitattributes"), "docker-compose.yml filter=b64\n").unwrap();
    let out = stackfix(&work, &["fix", ".", "--select", "no-restart-policy", "--commit"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("git filter"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(work.join("docker-compose.yml")).unwrap(), SMALL);
    let (_base, work) = small_repo(&["-b", "main"], SMALL);
    std::fs::write(work.join(".git/refs/heads/main.lock"), "").unwrap();
    let out = stackfix(&work, &["fix", ".", "--select", "no-restart-policy", "--commit"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("is locked"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(work.join("docker-compose.yml")).unwrap(), SMALL);
    // An untracked stack the ignore rules match: nothing to commit.
    let (_base, work) = small_repo(&["-b", "main"], SMALL);
    std::fs::write(work.join(".gitignore"), "local/\n").unwrap();
    std::fs::create_dir_all(work.join("local")).unwrap();
    std::fs::write(work.join("local/docker-compose.yml"), SMALL).unwrap();
    let out = stackfix(&work, &["fix", "local", "--select", "no-restart-policy", "--commit"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("ignored by the repository"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(work.join("local/docker-compose.yml")).unwrap(), SMALL);
    // A tracked file is never ignored, whatever `.gitignore` says (as git treats it): committed.
    let (_base, work) = small_repo(&["-b", "main"], SMALL);
    std::fs::write(work.join(".gitignore"), "docker-compose.yml\n").unwrap();
    let out = stackfix(&work, &["fix", ".", "--select", "no-restart-policy", "--commit"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let status = git(&work, &["status", "--porcelain", "--", "docker-compose.yml"]);
    assert!(status.trim().is_empty(), "committed, nothing left modified: {status}");
}

/// `--commit` refuses, before writing, what `git commit` would refuse or what would commit more
/// than the fixes: a merge in progress, a file marked skip-worktree (local changes git hides).
#[test]
fn commit_refuses_a_merge_in_progress_and_hidden_local_changes() {
    let (_base, work) = small_repo(&["-b", "main"], SMALL);
    std::fs::write(work.join("docker-compose.yml"), format!("{SMALL}# local only\n")).unwrap();
    git(&work, &["update-index", "--skip-worktree", "docker-compose.yml"]);
    let out = stackfix(&work, &["fix", ".", "--select", "no-restart-policy", "--commit"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("skip-worktree"), "{}", stderr(&out));
    assert!(std::fs::read_to_string(work.join("docker-compose.yml")).unwrap().ends_with("# local only\n"));
    let (_base, work) = small_repo(&["-b", "main"], SMALL);
    std::fs::write(work.join(".git/MERGE_HEAD"), format!("{}\n", git(&work, &["rev-parse", "HEAD"]).trim())).unwrap();
    let out = stackfix(&work, &["fix", ".", "--select", "no-restart-policy", "--commit"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("in the middle of a merge"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(work.join("docker-compose.yml")).unwrap(), SMALL);
}

/// A patch `fix --diff` prints for a stack named `sub/..` (a path whose cleaned directory is the
/// current one) names its files from the repository's top, as for `.`: `git apply` takes it.
#[test]
fn a_diff_for_a_stack_named_through_a_parent_is_a_patch_git_applies() {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&fixtures().join("redis-no-maxmemory/bad/conf-file"), dir.path());
    std::fs::create_dir_all(dir.path().join("sub")).unwrap();
    git(dir.path(), &["init", "-q"]);
    git(dir.path(), &["add", "-A"]);
    git(dir.path(), &["commit", "-qm", "stack"]);
    let out = stackfix(dir.path(), &["fix", "--diff", "--select", "redis-no-maxmemory", "sub/.."]);
    let patch = stdout(&out);
    assert!(patch.contains("+++ b/redis/valkey.conf"), "{patch}\n{}", stderr(&out));
    let mut headers =
        patch.lines().filter(|l| l.starts_with("--- ") || l.starts_with("+++ ") || l.starts_with("diff "));
    assert!(headers.all(|l| !l.contains("..")), "{patch}");
    std::fs::write(dir.path().join("fix.patch"), &patch).unwrap();
    git(dir.path(), &["apply", "--check", "fix.patch"]);
}
