//! Installing without a Rust toolchain: the Python wheel that ships the binary (maturin,
//! `bindings = "bin"`), built here and installed into a fresh virtualenv, and the `cargo binstall`
//! metadata, which must name the archives the release workflow makes.

use std::fs;
use std::process::Command;

use crate::common::{fixtures, quick_release_build, repo, validator};

#[test]
fn the_wheel_installs_a_working_stackfix_into_a_fresh_virtualenv() {
    let Some(maturin) = validator("maturin") else { return };
    let scratch = tempfile::tempdir().unwrap();
    let dist = scratch.path().join("dist");
    // Built where the pre-commit and action tests build: the dependencies once for all three.
    let out = quick_release_build(
        Command::new(&maturin)
            .args(["build", "--release", "--locked", "--compatibility", "linux", "--auditwheel", "skip", "--out"])
            .arg(&dist)
            .current_dir(repo()),
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let wheels: Vec<_> = fs::read_dir(&dist).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(wheels.len(), 1, "{wheels:?}");
    let name = wheels[0].file_name().unwrap().to_string_lossy().into_owned();
    // The distribution is stackfix-cli (`stackfix` on PyPI is another project's); the command is
    // stackfix.
    assert!(name.starts_with(&format!("stackfix_cli-{}-py3-none-", env!("CARGO_PKG_VERSION"))), "{name}");

    let venv = scratch.path().join("venv");
    let ok = Command::new("python3").args(["-m", "venv"]).arg(&venv).status().unwrap().success();
    assert!(ok, "python3 -m venv");
    let out = Command::new(venv.join("bin/python"))
        .args(["-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--disable-pip-version-check"])
        .arg(&wheels[0])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stackfix = venv.join("bin/stackfix");
    let out = Command::new(&stackfix).arg("--version").output().unwrap();
    let version = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(version.starts_with(&format!("stackfix {}", env!("CARGO_PKG_VERSION"))), "{version}");
    let out = Command::new(&stackfix)
        .args(["check", "--color", "never"])
        .arg(fixtures().join("no-restart-policy/bad/basic"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("no-restart-policy: service `api` has no restart policy"));
}

#[test]
fn binstall_metadata_names_the_release_archives() {
    let manifest: toml::Value = toml::from_str(&fs::read_to_string(repo().join("Cargo.toml")).unwrap()).unwrap();
    let binstall = &manifest["package"]["metadata"]["binstall"];
    assert_eq!(manifest["package"]["repository"].as_str(), Some("https://github.com/stackfix/stackfix"));
    assert_eq!(
        binstall["pkg-url"].as_str(),
        Some("{ repo }/releases/download/v{ version }/{ name }-{ target }.tar.gz")
    );
    assert_eq!(binstall["bin-dir"].as_str(), Some("{ name }-{ target }/{ bin }{ binary-ext }"));
    assert_eq!(binstall["pkg-fmt"].as_str(), Some("tgz"));
    // The release workflow packs `stackfix-<target>/stackfix` as `stackfix-<target>.tar.gz` and
    // attaches it to the release of tag `v<version>`.
    let release = fs::read_to_string(repo().join(".github/workflows/release.yml")).unwrap();
    for needed in [
        "tags: [\"v*\"]",
        "cp \"target/$TARGET/release/stackfix\"",
        "\"stackfix-$TARGET/\"",
        "tar czf \"stackfix-$TARGET.tar.gz\" \"stackfix-$TARGET\"",
        "gh release upload \"$TAG\" \"stackfix-$TARGET.tar.gz\"",
    ] {
        assert!(release.contains(needed), "release.yml lacks {needed}");
    }
    // The wheel takes its version from Cargo.toml.
    let pyproject: toml::Value = toml::from_str(&fs::read_to_string(repo().join("pyproject.toml")).unwrap()).unwrap();
    assert_eq!(pyproject["project"]["dynamic"].as_array().unwrap()[0].as_str(), Some("version"));
    assert_eq!(pyproject["tool"]["maturin"]["bindings"].as_str(), Some("bin"));
    assert_eq!(pyproject["project"]["name"].as_str(), Some("stackfix-cli"));
}
