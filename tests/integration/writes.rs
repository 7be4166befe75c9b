//! How `fix` writes: through links, keeping owners and modes, refusing what it would split or
//! was not allowed to change, all of a run's files or none, one run at a time, and never leaving
//! temporary files behind when interrupted.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::common::{fixtures, stackfix, stderr};

const STACK: &str = "services:\n  web:\n    image: nginx:1.27\n";

fn project(text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("docker-compose.yml"), text).unwrap();
    dir
}

/// `fix --select RULE` started in `dir`, its output discarded.
fn spawn_fix(dir: &Path, rule: &str) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_stackfix"))
        .args(["fix", ".", "--select", rule])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn fix(dir: &Path) -> std::process::Output {
    stackfix(dir, &["fix", ".", "--select", "no-restart-policy"])
}

/// A stack of `n` web services without restart policies or log rotation.
fn generated(n: usize) -> String {
    let mut text = String::from("services:\n");
    for i in 0..n {
        text.push_str(&format!("  web{i}:\n    image: nginx:1.27\n    environment:\n      ID: \"{i}\"\n"));
    }
    text
}

#[test]
fn a_linked_compose_file_is_written_through_the_link() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("conf")).unwrap();
    std::fs::write(dir.path().join("conf/compose.yml"), STACK).unwrap();
    std::os::unix::fs::symlink("conf/compose.yml", dir.path().join("docker-compose.yml")).unwrap();
    let out = fix(dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let link = std::fs::symlink_metadata(dir.path().join("docker-compose.yml")).unwrap();
    assert!(link.file_type().is_symlink(), "the link stays a link");
    let target = std::fs::read_to_string(dir.path().join("conf/compose.yml")).unwrap();
    assert!(target.contains("restart: unless-stopped"), "{target}");
}

#[test]
fn owner_group_mode_and_extended_attributes_are_kept() {
    let dir = project(STACK);
    let file = dir.path().join("docker-compose.yml");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    // As root (CI), the file can belong to another user; otherwise the owner is ours.
    let chowned = std::os::unix::fs::chown(&file, Some(1234), Some(1234)).is_ok();
    // An extended attribute, where the filesystem has them.
    let tagged = xattr::set(&file, "user.stackfix-test", b"kept").is_ok();
    let before = std::fs::metadata(&file).unwrap();
    let out = fix(dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let after = std::fs::metadata(&file).unwrap();
    assert!(std::fs::read_to_string(&file).unwrap().contains("restart:"));
    assert_eq!(after.mode() & 0o7777, 0o640);
    assert_eq!((after.uid(), after.gid()), (before.uid(), before.gid()));
    if chowned {
        assert_eq!(after.uid(), 1234);
    }
    if tagged {
        assert_eq!(xattr::get(&file, "user.stackfix-test").unwrap().as_deref(), Some(&b"kept"[..]));
    }
}

#[test]
fn a_file_with_two_names_or_no_write_bit_is_refused_and_left_alone() {
    let dir = project(STACK);
    let file = dir.path().join("docker-compose.yml");
    std::fs::hard_link(&file, dir.path().join("other-name.yml")).unwrap();
    let out = fix(dir.path());
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("hard links") && stderr(&out).contains("nothing was written"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), STACK);
    assert_eq!(std::fs::read_to_string(dir.path().join("other-name.yml")).unwrap(), STACK);
    let dir = project(STACK);
    let file = dir.path().join("docker-compose.yml");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o444)).unwrap();
    let out = fix(dir.path());
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("read-only"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), STACK);
    // Asked to, it replaces the file and keeps its mode.
    let out = stackfix(dir.path(), &["fix", ".", "--select", "no-restart-policy", "--write-read-only"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(std::fs::read_to_string(&file).unwrap().contains("restart:"));
    assert_eq!(std::fs::metadata(&file).unwrap().mode() & 0o777, 0o444);
}

/// A fix that writes three files (the compose file, a new Alertmanager configuration and
/// `.env.example`) writes none of them when one cannot be written.
#[test]
fn a_run_writes_all_its_files_or_none() {
    let dir = tempfile::tempdir().unwrap();
    crate::common::copy_tree(&fixtures().join("alerts-without-alertmanager/bad/rules-no-alertmanager"), dir.path());
    let compose = std::fs::read_to_string(dir.path().join("docker-compose.yml")).unwrap();
    // `.env.example` is a link to nowhere: it cannot be written.
    std::os::unix::fs::symlink("missing/env", dir.path().join(".env.example")).unwrap();
    let out = stackfix(dir.path(), &["fix", ".", "--select", "alerts-without-alertmanager", "--unsafe-fixes"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("nothing was written"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(dir.path().join("docker-compose.yml")).unwrap(), compose);
    assert!(!dir.path().join("monitoring/alertmanager.yml").exists());
    // With the link gone, all three are written.
    std::fs::remove_file(dir.path().join(".env.example")).unwrap();
    let out = stackfix(dir.path(), &["fix", ".", "--select", "alerts-without-alertmanager", "--unsafe-fixes"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(dir.path().join("monitoring/alertmanager.yml").exists());
    assert!(dir.path().join(".env.example").exists());
}

/// Two runs at once, fixing different things: the second waits for the first and keeps both
/// runs' edits (without the lock, the later rename dropped the other run's edits).
#[test]
fn concurrent_runs_keep_both_runs_edits() {
    let text = generated(3_000);
    for _ in 0..3 {
        let dir = project(&text);
        let spawn = |rule: &str| {
            Command::new(env!("CARGO_BIN_EXE_stackfix"))
                .args(["fix", ".", "--select", rule])
                .current_dir(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let a = spawn("no-restart-policy");
        let b = spawn("no-log-rotation");
        for child in [a, b] {
            let out = child.wait_with_output().unwrap();
            assert!(matches!(out.status.code(), Some(0 | 1)), "{}", String::from_utf8_lossy(&out.stderr));
        }
        let fixed = std::fs::read_to_string(dir.path().join("docker-compose.yml")).unwrap();
        assert_eq!(fixed.matches("restart: unless-stopped").count(), 3_000);
        assert_eq!(fixed.matches("max-file:").count(), 3_000);
    }
}

/// SIGINT at any moment: the file is as it was or completely fixed, and no temporary file stays.
/// Half of the runs are interrupted at moments spread around the end of a run; the other half
/// the moment a temporary file appears (the write itself: before the writes held the signals,
/// that left the temporary file behind).
#[test]
fn an_interrupted_run_leaves_the_file_whole_and_no_temporary_files() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let text = generated(3_000);
    let dir = project(&text);
    let file = dir.path().join("docker-compose.yml");
    let reference = project(&text);
    let start = std::time::Instant::now();
    let out = fix(reference.path());
    let took = start.elapsed();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let fixed = std::fs::read_to_string(reference.path().join("docker-compose.yml")).unwrap();
    let temporaries = || -> Vec<String> {
        std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".stackfix-"))
            .collect()
    };
    let mut outcomes = [0usize; 2];
    let tries = 24;
    for i in 0..tries {
        std::fs::write(&file, &text).unwrap();
        let mut child = spawn_fix(dir.path(), "no-restart-policy");
        let pid = Pid::from_raw(child.id() as i32);
        let when = if i % 2 == 0 {
            // From 60% to 110% of an uninterrupted run.
            let delay = took.mul_f64(0.6 + 0.5 * i as f64 / tries as f64);
            std::thread::sleep(delay);
            format!("{delay:?}")
        } else {
            let deadline = std::time::Instant::now() + took * 4;
            while temporaries().is_empty()
                && child.try_wait().unwrap().is_none()
                && std::time::Instant::now() < deadline
            {
                std::thread::yield_now();
            }
            "a temporary file appeared".to_string()
        };
        let _ = kill(pid, Signal::SIGINT);
        let _ = child.wait();
        let now = std::fs::read_to_string(&file).unwrap();
        assert!(now == text || now == fixed, "a half-fixed file after SIGINT when {when}");
        outcomes[usize::from(now == fixed)] += 1;
        let left = temporaries();
        assert!(left.is_empty(), "temporary files left after SIGINT when {when}: {left:?}");
    }
    eprintln!(
        "interrupted runs ({took:?} uninterrupted): {} left the file as it was, {} completed the fix",
        outcomes[0], outcomes[1]
    );
}

/// A full or closed output stream never panics (exit 101): with stderr full the run goes on;
/// with stdout full after the files were written, the exit code is 2 and stderr says the files
/// were written.
#[test]
fn full_output_streams_do_not_panic_and_say_what_was_written() {
    let full = || Stdio::from(std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap());
    let run = |dir: &Path, args: &[&str], stdout: Stdio, stderr: Stdio| {
        Command::new(env!("CARGO_BIN_EXE_stackfix"))
            .args(args)
            .current_dir(dir)
            .stdout(stdout)
            .stderr(stderr)
            .output()
            .unwrap()
    };
    let dir = project(STACK);
    // Errors and notes to a full stderr.
    let out = run(dir.path(), &["check", "missing-dir"], Stdio::piped(), full());
    assert_eq!(out.status.code(), Some(2));
    let out = run(dir.path(), &["fix", ".", "--select", "no-restart-policy"], Stdio::piped(), full());
    assert_eq!(out.status.code(), Some(0));
    assert!(std::fs::read_to_string(dir.path().join("docker-compose.yml")).unwrap().contains("restart:"));
    // The report to a full stdout, after writing.
    let dir = project(STACK);
    let out = run(dir.path(), &["fix", ".", "--select", "no-restart-policy"], full(), Stdio::piped());
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("these files were written: docker-compose.yml"), "{err}");
}

/// `bootstrap` whose production file is a link out of the project refuses (exit 2) rather than
/// print "Deploy with: …" over nothing written.
#[test]
fn bootstrap_into_a_link_out_of_the_project_is_refused() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("prod.yml"), "").unwrap();
    for target in [outside.path().join("prod.yml"), outside.path().join("missing.yml")] {
        let dir = project(STACK);
        std::os::unix::fs::symlink(&target, dir.path().join("docker-compose.prod.yml")).unwrap();
        let out = stackfix(dir.path(), &["bootstrap", "."]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(!crate::common::stdout(&out).contains("Deploy with"));
    }
    assert_eq!(std::fs::read_to_string(outside.path().join("prod.yml")).unwrap(), "");
    assert!(!outside.path().join("missing.yml").exists());
}

/// Another program appends to the compose file while a run plans: the line is never lost (the
/// run is refused, exit 2, or it read the file after the append). Before, the run compared the
/// file with a second read made after planning and overwrote the append.
#[test]
fn an_edit_made_while_a_run_plans_is_never_overwritten() {
    use std::io::Write as _;
    let text = generated(300);
    let dir = project(&text);
    let file = dir.path().join("docker-compose.yml");
    let start = std::time::Instant::now();
    let out = fix(dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let took = start.elapsed();
    let mut refused = 0;
    for i in 0..40u64 {
        std::fs::write(&file, &text).unwrap();
        let child = spawn_fix(dir.path(), "no-restart-policy");
        // Spread over the run, from 10% to 90% of an uninterrupted one.
        std::thread::sleep(took.mul_f64(0.1 + 0.8 * i as f64 / 40.0));
        std::fs::OpenOptions::new().append(true).open(&file).unwrap().write_all(b"# teammate\n").unwrap();
        let out = child.wait_with_output().unwrap();
        let now = std::fs::read_to_string(&file).unwrap();
        assert!(now.contains("# teammate"), "run {i} (exit {:?}) lost the appended line", out.status.code());
        if out.status.code() == Some(2) {
            refused += 1;
        }
    }
    eprintln!("{refused} of 40 runs refused a file changed while they planned");
}

/// A reader that stops early (`check | head -1`) does not change the exit code: findings are
/// still exit 1.
#[test]
fn a_closed_pipe_keeps_the_exit_code() {
    use std::io::{BufRead, BufReader};
    let dir = project(&generated(3_000));
    let mut child = Command::new(env!("CARGO_BIN_EXE_stackfix"))
        .args(["check", "."])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(1), "{first}");
}

/// An output option never writes over a file the stack is made of: its compose files, the `.env`
/// and `env_file:` files it reads, its Dockerfiles, a hard link to one of them, or a file a fix
/// writes. Each is refused with exit 2 and left as it was.
#[test]
fn outputs_never_overwrite_a_file_the_stack_reads() {
    let dir = project(
        "services:\n  api:\n    build: ./api\n    env_file: [app.env]\n    environment:\n      TOKEN: ${TOKEN:?set it}\n",
    );
    std::fs::create_dir_all(dir.path().join("api")).unwrap();
    let files = [
        ("docker-compose.yml", None),
        (".env", Some("TOKEN=real-secret\n")),
        ("app.env", Some("DB_PASSWORD=kept\n")),
        ("api/Dockerfile", Some("FROM python:3.12-slim\nCMD [\"python\", \"-m\", \"app\"]\n")),
    ];
    for (name, text) in files {
        if let Some(text) = text {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
    }
    std::fs::hard_link(dir.path().join(".env"), dir.path().join("linked.md")).unwrap();
    let before: Vec<Vec<u8>> = files.iter().map(|(n, _)| std::fs::read(dir.path().join(n)).unwrap()).collect();
    let attempts: Vec<Vec<&str>> = vec![
        vec!["report", ".", "-o", ".env"],
        vec!["report", ".", "-o", "api/Dockerfile"],
        vec!["check", ".", "--output-file", "app.env", "--format", "json"],
        vec!["check", ".", "--summary", "linked.md"],
        vec!["check", ".", "--write-baseline", "docker-compose.yml"],
        vec!["fix", ".", "--pr-body", "docker-compose.yml"],
        vec!["fix", ".", "--pr-body", ".env"],
    ];
    for args in attempts {
        let out = stackfix(dir.path(), &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("a file of the stack; not overwriting it"), "{args:?}: {}", stderr(&out));
        let now: Vec<Vec<u8>> = files.iter().map(|(n, _)| std::fs::read(dir.path().join(n)).unwrap()).collect();
        assert_eq!(now, before, "{args:?} changed a file of the stack");
    }
    // Elsewhere, the body is written once the fixes are.
    let body = dir.path().join("body.md");
    let out = stackfix(dir.path(), &["fix", ".", "--pr-body", "body.md"]);
    assert_ne!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(std::fs::read_to_string(&body).unwrap().starts_with("## stackfix"));
}
