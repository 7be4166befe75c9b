//! The pre-commit hooks (`.pre-commit-hooks.yaml`), run by the real `pre-commit` on a scratch
//! repository: pre-commit builds stackfix from this repository (`language: rust`) and passes the
//! changed compose files. `try-repo` takes this repository's committed files and its changes
//! to tracked ones: a new source file must be staged (`git add`) for a local run to build.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use crate::common::{quick_release_build, repo, validator};

const STACK: &str = "services:\n  api:\n    image: ghcr.io/acme/api:1.2\n    restart: unless-stopped\n";

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

fn output(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn the_hooks_check_and_fix_the_changed_compose_files() {
    let Some(pre_commit) = validator("pre-commit") else { return };
    let scratch = tempfile::tempdir().unwrap();
    let work = scratch.path().join("work");
    fs::create_dir_all(work.join("deploy")).unwrap();
    git(&work, &["init", "-q"]);
    fs::write(work.join("deploy/docker-compose.yml"), STACK).unwrap();
    // Not a name compose finds: no hook gets it.
    fs::write(work.join("notes.yml"), STACK).unwrap();
    // no-healthcheck has no fix for an image stackfix does not know: it is left for a person.
    fs::write(work.join("stackfix.toml"), "select = [\"no-log-rotation\", \"no-healthcheck\"]\n").unwrap();
    fs::copy(work.join("stackfix.toml"), work.join("deploy/stackfix.toml")).unwrap();
    git(&work, &["add", "."]);
    // pre-commit installs the hook with `cargo install`: into a target directory kept between
    // runs, so only the first run builds everything.
    let run = || {
        quick_release_build(
            Command::new(&pre_commit)
                .args(["try-repo", repo().to_str().unwrap(), "--all-files", "--verbose", "--color", "never"])
                .current_dir(&work)
                .env("PRE_COMMIT_HOME", scratch.path().join("cache"))
                .env_remove("NO_COLOR"),
        )
        .output()
        .unwrap()
    };
    let out = run();
    let text = output(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    // The check hook reports the finding where it is, and fails.
    assert!(text.contains("deploy/docker-compose.yml:2:3:") && text.contains("no-log-rotation"), "{text}");
    assert!(!text.contains("notes.yml"), "{text}");
    assert!(status_in(&text, "stackfix check").ends_with("Failed"), "{text}");
    // The fix hook writes the fix, and pre-commit fails it because files changed.
    assert!(status_in(&text, "stackfix fix").ends_with("Failed"), "{text}");
    assert!(text.contains("files were modified by this hook"), "{text}");
    let fixed = fs::read_to_string(work.join("deploy/docker-compose.yml")).unwrap();
    assert!(fixed.contains("max-size"), "{fixed}");
    assert_eq!(fs::read_to_string(work.join("notes.yml")).unwrap(), STACK);
    // Fixed and staged: the fix hook passes (what is left for a person does not block it);
    // the check hook still reports the finding without a fix.
    git(&work, &["add", "."]);
    let out = run();
    let text = output(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(status_in(&text, "stackfix check").ends_with("Failed"), "{text}");
    assert!(text.contains("no-healthcheck"), "{text}");
    assert!(status_in(&text, "stackfix fix").ends_with("Passed"), "{text}");
}

fn status_in(text: &str, hook: &str) -> String {
    text.lines().find(|l| l.starts_with(hook)).map(|l| l.trim_end().to_string()).unwrap_or_default()
}
