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

/// A project `p` (a git work tree) inside `outer`, where files outside the project go.
fn inner_project(outer: &tempfile::TempDir) -> std::path::PathBuf {
    let project = outer.path().join("p");
    std::fs::create_dir_all(project.join(".git")).unwrap();
    project
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

/// Variable references nested without end (each level read recursively) are refused, in a
/// compose file and in `.env`, instead of overflowing the stack.
#[test]
fn deeply_nested_variable_references() {
    let n = 50_000;
    let value = format!("{}x{}", "${A:-".repeat(n), "}".repeat(n));
    let compose = format!("services:\n  a:\n    image: nginx:1.27\n    environment:\n      X: \"{value}\"\n");
    let dir = project(&[("docker-compose.yml", compose)]);
    expect_error(dir.path(), "docker-compose.yml:5:10: variable references nest more than 32 levels deep");
    let dir = project(&[
        ("docker-compose.yml", "services:\n  a:\n    image: \"nginx:${TAG}\"\n".to_string()),
        (".env", format!("TAG={value}\n")),
    ]);
    let out = stackfix(dir.path(), &["check"]);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
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
    // 400,001 one-character items: about 800 KB; five million fit in the 10 MB file limit.
    let items = vec!["a"; 400_001].join(",");
    let dir = project(&[("docker-compose.yml", format!("services:\n  a:\n    image: x:1\n    command: [{items}]\n"))]);
    expect_error(dir.path(), "more than 400000 YAML nodes in this file");
}

#[test]
fn a_stack_reads_at_most_400000_nodes_and_32_mb_together() {
    let items = vec!["a"; 300_000].join(",");
    let dir = project(&[
        ("docker-compose.yml", format!("services:\n  a:\n    image: x:1\n    command: [{items}]\n")),
        ("docker-compose.override.yml", format!("services:\n  a:\n    entrypoint: [{items}]\n")),
    ]);
    expect_error(dir.path(), "docker-compose.override.yml:3:");
    expect_error(dir.path(), "with this file the stack's files hold more than 400000 YAML nodes");

    let comment = format!("# {}\n", "x".repeat(9 * 1024 * 1024));
    let mut files: Vec<(&str, String)> = vec![(
        "docker-compose.yml",
        "include: [a.yml, b.yml, c.yml, d.yml]\nservices:\n  web:\n    image: nginx:1.27\n".into(),
    )];
    for name in ["a.yml", "b.yml", "c.yml", "d.yml"] {
        files.push((name, format!("{comment}services: {{}}\n")));
    }
    let dir = project(&files);
    expect_error(dir.path(), "d.yml: with this file the stack's files exceed 33554432 bytes");
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
    let project = inner_project(&outer);
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

/// Runs `stackfix check` in `dir` for at most 60 s (a read without end must fail the test, not
/// hang it): its exit code and stderr.
fn check_within_a_minute(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_stackfix"))
        .arg("check")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > std::time::Duration::from_secs(60) {
            let _ = child.kill();
            panic!("stackfix check {args:?} still ran after 60 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    (out.status.code(), stderr(&out))
}

#[cfg(unix)]
#[test]
fn devices_and_fifos_are_not_read() {
    let dir = project(&[("docker-compose.yml", "services:\n  web:\n    image: nginx:1.27\n".into())]);
    std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero.yml")).unwrap();
    let (code, err) = check_within_a_minute(dir.path(), &["-f", "zero.yml"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("zero.yml: not a regular file"), "{err}");
    let fifo = dir.path().join("fifo.yml");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let (code, err) = check_within_a_minute(dir.path(), &["-f", "fifo.yml"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("fifo.yml: not a regular file"), "{err}");
    // `.env` and a Dockerfile are read by name too.
    std::os::unix::fs::symlink("/dev/zero", dir.path().join(".env")).unwrap();
    std::fs::write(
        dir.path().join("docker-compose.yml"),
        "services:\n  web:\n    build: {context: ., dockerfile: Dockerfile.dev}\n",
    )
    .unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.path().join("Dockerfile.dev")).unwrap();
    let (code, err) = check_within_a_minute(dir.path(), &[]);
    assert_eq!(code, Some(1), "{err}");
}

#[test]
fn dockerfiles_outside_the_project_are_not_read() {
    let outer = tempfile::tempdir().unwrap();
    std::fs::write(outer.path().join("Dockerfile"), "FROM nginx:1.27\nHEALTHCHECK CMD curl -f http://localhost/\n")
        .unwrap();
    let project = inner_project(&outer);
    std::fs::write(
        project.join("docker-compose.yml"),
        "services:\n  web:\n    build:\n      context: .\n      dockerfile: ../Dockerfile\n    restart: unless-stopped\n",
    )
    .unwrap();
    let (_, json) = check_json(&project, &["--select", "no-healthcheck"]);
    let notes = json["notes"].as_array().unwrap();
    assert!(
        notes.iter().any(|n| n["message"].as_str().unwrap().contains("`../Dockerfile` is outside the project")),
        "{notes:#?}"
    );
    // The outside Dockerfile's HEALTHCHECK was not read, so the service has none.
    assert_eq!(json["findings"].as_array().unwrap().len(), 1, "{json:#}");
}

#[cfg(unix)]
#[test]
fn a_dotenv_linked_from_outside_the_project_is_not_read() {
    let outer = tempfile::tempdir().unwrap();
    std::fs::write(outer.path().join("credentials"), "LEAKED=s3cr3t-from-the-runner\n").unwrap();
    let project = inner_project(&outer);
    std::fs::write(project.join("docker-compose.yml"), "services:\n  web:\n    image: ${LEAKED:-nginx}\n").unwrap();
    std::os::unix::fs::symlink(outer.path().join("credentials"), project.join(".env")).unwrap();
    let out = stackfix(&project, &["check", ".", "--format", "json", "--select", "unpinned-image"]);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(!stdout.contains("s3cr3t") && !stderr.contains("s3cr3t"), "{stdout}\n{stderr}");
    assert!(stdout.contains("`.env` links outside the project directory"), "{stdout}");
    // Read, the value would be printed as the image name; the default applies instead.
    assert!(stdout.contains("\"unpinned-image\""), "{stdout}");
}

#[test]
fn includes_and_extends_files_outside_the_project_are_not_read() {
    let outer = tempfile::tempdir().unwrap();
    std::fs::write(outer.path().join("other.yml"), "services:\n  stolen:\n    image: registry.internal/secret-app\n")
        .unwrap();
    let project = inner_project(&outer);
    std::fs::write(
        project.join("docker-compose.yml"),
        "include: [../other.yml]\nservices:\n  web:\n    image: nginx:1.27\n    extends: {file: ../other.yml, service: stolen}\n",
    )
    .unwrap();
    let out = stackfix(&project, &["check", ".", "--format", "json"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("secret-app") && !stdout.contains("stolen"), "{stdout}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let outside = json["notes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["message"].as_str().unwrap().contains("`../other.yml` is outside the project directory"))
        .count();
    assert_eq!(outside, 2, "{stdout}");
}

/// `stackfix.toml` comes with the repository: the templates and profiles it names must lie inside
/// the project, and no template file may link out of its directory (templates end up in fixed
/// files, so a linked credentials file would be written into a fix).
#[cfg(unix)]
#[test]
fn configured_templates_and_profiles_stay_inside_the_project() {
    let outer = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(outer.path().join("elsewhere/fixes")).unwrap();
    std::fs::write(outer.path().join("elsewhere/fixes/no-restart-policy.yml.tera"), "restart: always # outside\n")
        .unwrap();
    std::fs::write(outer.path().join("credentials"), "restart: always # s3cr3t\n").unwrap();
    let project = inner_project(&outer);
    std::fs::write(project.join("docker-compose.yml"), "services:\n  web:\n    image: nginx:1.27\n").unwrap();
    let fix = |project: &Path| stackfix(project, &["fix", "--diff", "--select", "no-restart-policy"]);

    std::fs::write(project.join("stackfix.toml"), "templates = \"../elsewhere\"\n").unwrap();
    let out = fix(&project);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("`templates` (") && stderr(&out).contains("is outside the project"));

    std::fs::create_dir_all(project.join("tpl/fixes")).unwrap();
    std::os::unix::fs::symlink(outer.path().join("credentials"), project.join("tpl/fixes/no-restart-policy.yml.tera"))
        .unwrap();
    std::fs::write(project.join("stackfix.toml"), "templates = \"tpl\"\n").unwrap();
    let out = fix(&project);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("links outside the templates directory"), "{}", stderr(&out));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("s3cr3t"));

    std::fs::write(project.join("stackfix.toml"), "profiles = \"/etc/hostname\"\n").unwrap();
    let out = stackfix(&project, &["check"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("`profiles` (/etc/hostname) is outside the project"), "{}", stderr(&out));
}
