//! Build script: records the commit stackfix is built from, for `stackfix --version`
//! (`0.1.0 (3d45b21 2026-11-30)`; the package version alone outside a git checkout).

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok().filter(|o| o.status.success())?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (!text.is_empty()).then_some(text)
}

fn main() {
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let full = match git(&["log", "-1", "--format=%h %cs"]) {
        Some(commit) => format!("{version} ({commit})"),
        None => version,
    };
    println!("cargo:rustc-env=STACKFIX_VERSION={full}");
    // Built again when HEAD moves: HEAD itself, the branch it names, and packed refs.
    if let (Some(dir), Some(common)) = (git(&["rev-parse", "--git-dir"]), git(&["rev-parse", "--git-common-dir"])) {
        println!("cargo:rerun-if-changed={}", Path::new(&dir).join("HEAD").display());
        println!("cargo:rerun-if-changed={}", Path::new(&common).join("packed-refs").display());
        if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
            println!("cargo:rerun-if-changed={}", Path::new(&common).join(branch).display());
        }
    } else {
        println!("cargo:rerun-if-changed=build.rs");
    }
}
