//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixtures() -> PathBuf {
    repo().join("fixtures")
}

/// `../shared/<name>`, next to the repository (where CI provides it).
pub fn shared(name: &str) -> Option<PathBuf> {
    let path = repo().join("..").join("shared").join(name);
    if path.is_dir() {
        return Some(path);
    }
    assert!(!is_ci(), "CI=true but {} is missing", path.display());
    eprintln!("skipping: {} not found", path.display());
    None
}

pub fn is_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Runs the stackfix binary in `cwd`.
pub fn stackfix(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stackfix"))
        .args(args)
        .current_dir(cwd)
        .env_remove("NO_COLOR")
        // Reports name files relative to a CI checkout when one is set; the tests make their own.
        .env_remove("GITHUB_WORKSPACE")
        .env_remove("CI_PROJECT_DIR")
        .output()
        .expect("run stackfix")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `check --format json` in `dir` (relative paths in the output), parsed.
pub fn check_json(dir: &Path, extra: &[&str]) -> (i32, serde_json::Value) {
    let mut args = vec!["check", ".", "--format", "json"];
    args.extend_from_slice(extra);
    let out = stackfix(dir, &args);
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("invalid JSON from {}: {e}\n{}", dir.display(), stderr(&out)));
    (out.status.code().unwrap_or(-1), json)
}

/// `stackfix fix . --format json --diff EXTRA…` in `dir` (nothing written): the parsed report.
pub fn fix_json(dir: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["fix", ".", "--format", "json", "--diff"];
    args.extend_from_slice(extra);
    let out = stackfix(dir, &args);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("invalid JSON from {}: {e}\n{}", dir.display(), stderr(&out)))
}

/// Sub-directories of `dir`, sorted.
pub fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_dir()).collect())
        .unwrap_or_default();
    out.sort();
    out
}

/// Compares `actual` with the snapshot file; `UPDATE_SNAPSHOTS=1` (never set in CI) rewrites it.
pub fn assert_snapshot(path: &Path, actual: &str) {
    if std::env::var("UPDATE_SNAPSHOTS").is_ok_and(|v| v == "1") && !is_ci() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_else(|_| {
        panic!("snapshot {} is missing; run with UPDATE_SNAPSHOTS=1 and review it", path.display())
    });
    assert_eq!(expected, actual, "snapshot {} differs (UPDATE_SNAPSHOTS=1 to accept after review)", path.display());
}

/// Copies the directory `from` into `to` (created if missing), recursively.
/// A working copy of a stack, its files writable by their owner as in a checkout (the shared
/// corpus is read-only, and stackfix refuses to replace a file without a write bit).
pub fn copy_tree(from: &Path, to: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().filter_map(|e| e.ok()) {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
            let mode = std::fs::metadata(&target).unwrap().permissions().mode();
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode | 0o200)).unwrap();
        }
    }
}

/// A validator binary: on PATH or where `.ci/run` installs it. Under CI=true a missing one fails.
pub fn validator(name: &str) -> Option<PathBuf> {
    let home = PathBuf::from(std::env::var("VALIDATORS_HOME").unwrap_or_else(|_| "/opt/stackfix-validators".into()));
    let found = std::env::var_os("PATH")
        .and_then(|p| std::env::split_paths(&p).map(|d| d.join(name)).find(|c| c.is_file()))
        .or_else(|| Some(home.join("bin").join(name)).filter(|c| c.is_file()));
    if found.is_none() {
        assert!(!is_ci(), "CI=true but {name} is missing (run .ci/run)");
        eprintln!("skipping: {name} not found");
    }
    found
}

/// A TCP port on 127.0.0.1 nothing listened on a moment ago: bound to port 0 and released, so
/// another process may take it before the caller binds it (callers retry with a fresh one).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A program started in the background with its standard output and error kept in a file,
/// killed (and waited for) on drop: a Traefik a test talks to.
pub struct Logged {
    child: Child,
    log: tempfile::NamedTempFile,
}

impl Logged {
    /// `binary` started with `args`. Panics when it cannot be started.
    pub fn spawn(binary: &Path, args: &[String]) -> Logged {
        let log = tempfile::NamedTempFile::new().unwrap();
        let append = || std::fs::OpenOptions::new().append(true).open(log.path()).unwrap();
        let child = Command::new(binary).args(args).stdout(append()).stderr(append()).spawn().expect("it starts");
        Logged { child, log }
    }

    pub fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// Its standard output and error so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Points a command that builds stackfix in release mode (`cargo install`, `maturin build
/// --release`, through pre-commit or the action's steps) at the target directory the install
/// tests share, so the dependencies are built once for all of them, and builds that release
/// profile unoptimised: these tests check how stackfix is installed and wired, not its code, and
/// an optimised build from scratch takes 5 minutes on two cores against 2 for this one.
/// (`CARGO_PROFILE_RELEASE_*` reaches cargo through pre-commit and maturin, which pass the
/// environment on.)
pub fn quick_release_build(cmd: &mut Command) -> &mut Command {
    cmd.env("CARGO_TARGET_DIR", repo().join("target").join("pre-commit"))
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "0")
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "256")
        .env("CARGO_PROFILE_RELEASE_LTO", "off")
}
