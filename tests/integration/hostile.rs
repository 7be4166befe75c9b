//! Hostile inputs end with a clear, located error or note — never a panic, a hang or a file read
//! outside the project. Time and memory bounds are measured by `cargo bench`, not asserted here.

use std::path::Path;

use crate::common::{check_json, stackfix, stderr};

fn project(files: &[(&str, String)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(".git")).unwrap();
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

fn expect_error(dir: &Path, needle: &str) {
    let out = stackfix(dir, &["check"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains(needle), "`{needle}` not in: {}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"));
}

#[test]
fn deep_nesting() {
    let dir = project(&[("docker-compose.yml", format!("services:\n  a:\n    image: {}\n", "[".repeat(100_000)))]);
    expect_error(dir.path(), "docker-compose.yml:3:");
}

#[test]
fn alias_bomb() {
    let mut text = String::from("x0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..12 {
        text.push_str(&format!("x{i}: &a{i} [{}]\n", vec![format!("*a{}", i - 1); 10].join(", ")));
    }
    text.push_str("services:\n  web:\n    image: nginx:1\n    command: *a11\n");
    let dir = project(&[("docker-compose.yml", text)]);
    expect_error(dir.path(), "alias bomb");
}

#[test]
fn too_many_nodes() {
    // Half a million one-character items: about 1 MB, five million at the 10 MB file limit.
    let items = vec!["a"; 500_001].join(",");
    let dir = project(&[("docker-compose.yml", format!("services:\n  a:\n    image: x:1\n    command: [{items}]\n"))]);
    expect_error(dir.path(), "more than 500000 YAML nodes in this file");
}

#[test]
fn long_extends_chains_are_refused_once_per_service_without_cascades() {
    let mut text = String::from("services:\n");
    for i in 0..40 {
        text.push_str(&format!("  s{i}:\n    image: x:1\n    extends: s{}\n", i + 1));
    }
    text.push_str("  s40:\n    image: x:1\n");
    let dir = project(&[("docker-compose.yml", text)]);
    expect_error(dir.path(), "`extends` chain of service `s0` is longer than 16 services");
    let err = stderr(&stackfix(dir.path(), &["check"]));
    assert!(!err.contains("cycle") && !err.contains("does not exist"), "{err}");
    // s24 … s39 reach s40 within 16 hops and load.
    assert_eq!(err.matches("is longer than").count(), 24, "{err}");
}

#[test]
fn include_chains_and_extends_cycles() {
    let mut files: Vec<(String, String)> =
        (0..40).map(|i| (format!("f{i}.yml"), format!("include: [f{}.yml]\nservices: {{}}\n", i + 1))).collect();
    files.push(("docker-compose.yml".into(), "include: [f0.yml]\nservices: {}\n".into()));
    files.push(("f40.yml".into(), "services: {}\n".into()));
    let refs: Vec<(&str, String)> = files.iter().map(|(n, t)| (n.as_str(), t.clone())).collect();
    let dir = project(&refs);
    expect_error(dir.path(), "includes nest deeper than");
    let dir = project(&[(
        "docker-compose.yml",
        "services:\n  a:\n    image: x:1\n    extends: b\n  b:\n    image: x:1\n    extends: a\n".into(),
    )]);
    expect_error(dir.path(), "`extends` cycle");
}

#[test]
fn oversized_file() {
    let dir = project(&[("docker-compose.yml", format!("# {}\nservices: {{}}\n", "x".repeat(11 * 1024 * 1024)))]);
    expect_error(dir.path(), "stackfix reads files up to");
}

#[test]
fn side_files_outside_the_project_are_not_read() {
    let outer = tempfile::tempdir().unwrap();
    std::fs::write(outer.path().join("secret.yml"), "rule_files: [x]\n").unwrap();
    let project = outer.path().join("p");
    std::fs::create_dir_all(project.join(".git")).unwrap();
    std::fs::write(
        project.join("docker-compose.yml"),
        "services:\n  prometheus:\n    image: prom/prometheus:v2.54.1\n    volumes:\n      - ../secret.yml:/etc/prometheus/prometheus.yml:ro\n",
    )
    .unwrap();
    let (_, json) = check_json(&project, &[]);
    let notes = json["notes"].as_array().unwrap();
    assert!(
        notes.iter().any(|n| n["message"].as_str().unwrap().contains("outside the project directory")),
        "{notes:#?}"
    );
    assert!(
        !json["findings"].as_array().unwrap().iter().any(|f| f["rule"] == "alerts-without-alertmanager"),
        "the outside file was read"
    );
}
