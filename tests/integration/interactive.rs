//! `stackfix fix --interactive`: the session flow with scripted answers, and the real binary in a
//! pseudo-terminal (`script` from util-linux): keystrokes in, files and branches checked after.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use stackfix::fix::FixOptions;
use stackfix::interactive::{self, Finish, Interrupted, Prompter, Review};
use stackfix::rules::RuleSettings;
use stackfix::stack::{LoadOptions, Profiles};

use crate::common::{copy_tree, fixtures, stackfix, stderr};

/// Answers from a script, and what was asked.
struct Scripted {
    picks: Vec<usize>,
    reviews: Vec<Review>,
    parameter: Option<&'static str>,
    value: &'static str,
    finish: Finish,
    shown: Vec<(String, String)>,
}

impl Prompter for Scripted {
    fn pick(&mut self, _: &str, items: &[String]) -> Result<Vec<usize>, Interrupted> {
        assert!(items.len() >= 3, "{items:?}");
        Ok(self.picks.clone())
    }
    fn review(&mut self, title: &str, diff: &str) -> Result<Review, Interrupted> {
        self.shown.push((title.to_string(), diff.to_string()));
        Ok(if self.reviews.is_empty() { Review::Accept } else { self.reviews.remove(0) })
    }
    fn parameter(&mut self, parameters: &[String]) -> Result<Option<usize>, Interrupted> {
        Ok(self.parameter.and_then(|p| parameters.iter().position(|l| l.starts_with(&format!("{p} = ")))))
    }
    fn value(&mut self, _: &str, _: &str) -> Result<String, Interrupted> {
        Ok(self.value.to_string())
    }
    fn finish(&mut self, summary: &str) -> Result<Finish, Interrupted> {
        self.shown.push(("summary".into(), summary.to_string()));
        Ok(self.finish)
    }
}

/// The session's flow is pinned over a fixed list of five fixes: the hardening rules that would
/// add more (postgres's `no-new-privileges`, read-only roots, a pids limit) are left out, here
/// and in [`settings`].
fn basic() -> tempfile::TempDir {
    let work = tempfile::tempdir().unwrap();
    copy_tree(&fixtures().join("no-resource-limits/bad/basic"), work.path());
    std::fs::write(
        work.path().join("stackfix.toml"),
        "ignore = [\"privilege-escalation-allowed\", \"capabilities-not-dropped\", \"writable-root-filesystem\", \"no-pids-limit\"]\n",
    )
    .unwrap();
    work
}

/// Unsafe fixes offered too: `api`'s limit is one (its image is not one stackfix knows).
fn with_unsafe() -> FixOptions {
    FixOptions { unsafe_fixes: true, ..FixOptions::default() }
}

fn settings() -> RuleSettings {
    let ignore =
        ["privilege-escalation-allowed", "capabilities-not-dropped", "writable-root-filesystem", "no-pids-limit"];
    RuleSettings { ignore: ignore.map(String::from).to_vec(), ..Default::default() }
}

#[test]
fn the_session_makes_exactly_the_accepted_fixes_with_edited_parameters() {
    let work = basic();
    let load = LoadOptions::new(work.path().to_path_buf(), Vec::new(), Profiles::builtin());
    // Items, in stack order: postgres health check, log rotation, limits; api log rotation, limits.
    let mut prompter = Scripted {
        picks: vec![0, 1, 2, 4],
        reviews: vec![Review::Accept, Review::Skip, Review::Edit, Review::Accept, Review::Accept],
        parameter: Some("memory"),
        value: "1536M",
        finish: Finish::Write,
        shown: Vec::new(),
    };
    let decision =
        interactive::run(&load, &settings(), &with_unsafe(), &mut prompter).unwrap().expect("fixes to offer");
    let accepted: Vec<(&str, Option<&str>)> =
        decision.accepted.iter().map(|i| (i.rule, i.service.as_deref())).collect();
    assert_eq!(
        accepted,
        [
            ("no-healthcheck", Some("postgres")),
            ("no-resource-limits", Some("postgres")),
            ("no-resource-limits", Some("api")),
        ]
    );
    assert_eq!(decision.finish, Finish::Write);
    let after = &decision.outcome.changes[0].after;
    assert!(after.contains("memory: 1536M"), "{after}");
    assert!(!after.contains("max-size"), "a skipped or unpicked fix was made:\n{after}");
    assert!(after.contains("memory: 512M"), "the api keeps its profile's limit:\n{after}");
    // Each review showed the diff that fix adds; the edit re-rendered it.
    let limits: Vec<&String> =
        prompter.shown.iter().filter(|(t, _)| t.starts_with("postgres: no-resource-limits")).map(|(_, d)| d).collect();
    assert_eq!(limits.len(), 2);
    assert!(limits[0].contains("+          memory: 2G") && limits[1].contains("+          memory: 1536M"));
    assert!(prompter.shown.last().unwrap().1.starts_with("3 fixes accepted:"));
    // Nothing was written by the session itself.
    let on_disk = std::fs::read_to_string(work.path().join("docker-compose.yml")).unwrap();
    assert!(!on_disk.contains("deploy:"));
}

#[test]
fn a_health_check_command_is_edited_as_the_command_it_runs() {
    let work = basic();
    let load = LoadOptions::new(work.path().to_path_buf(), Vec::new(), Profiles::builtin());
    let mut prompter = Scripted {
        picks: vec![0],
        reviews: vec![Review::Edit, Review::Accept],
        parameter: Some("test"),
        value: "pg_isready -U app -d app",
        finish: Finish::Write,
        shown: Vec::new(),
    };
    let decision =
        interactive::run(&load, &settings(), &with_unsafe(), &mut prompter).unwrap().expect("fixes to offer");
    let after = &decision.outcome.changes[0].after;
    assert!(after.contains("      test: pg_isready -U app -d app\n"), "{after}");
    assert!(prompter.shown[1].1.contains("+      test: pg_isready -U app -d app"), "{:?}", prompter.shown);
}

/// The real binary in a pseudo-terminal: output collected as it comes, keys sent when a prompt
/// appears.
struct Pty {
    child: Child,
    output: Arc<Mutex<Vec<u8>>>,
    /// How much of the output earlier expectations consumed.
    seen: usize,
}

impl Pty {
    fn start(dir: &Path, args: &str) -> Pty {
        // Unsafe fixes offered too, as in [`with_unsafe`].
        let args = args.replacen("fix ", "fix --unsafe-fixes ", 1);
        let command = format!("{} {args}", env!("CARGO_BIN_EXE_stackfix"));
        let mut child = Command::new("script")
            .args(["-qfec", &command, "/dev/null"])
            .current_dir(dir)
            .env("TERM", "xterm")
            .env("NO_COLOR", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("script (util-linux) runs");
        let mut stdout = child.stdout.take().unwrap();
        let output = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&output);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Pty { child, output, seen: 0 }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().unwrap()).into_owned()
    }

    /// Waits until `text` appears after what earlier expectations consumed, and consumes it; then
    /// gives the prompt a moment to read the terminal.
    fn expect(&mut self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let all = self.text();
            if let Some(at) = all.get(self.seen..).and_then(|rest| rest.find(text)) {
                self.seen += at + text.len();
                break;
            }
            assert!(Instant::now() < deadline, "no `{text}` after:\n{}", &all[self.seen.min(all.len())..]);
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(150));
    }

    fn send(&mut self, keys: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(keys.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    fn wait(mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "the session did not end:\n{}", self.text());
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(100));
        self.text()
    }
}

const DOWN: &str = "\x1b[B";

/// The review prompts of the `basic` fixture, in order.
const POSTGRES_HEALTH: &str = "postgres: no-healthcheck —";
const POSTGRES_LOGS: &str = "postgres: no-log-rotation —";
const POSTGRES_LIMITS: &str = "postgres: no-resource-limits —";
const API_LOGS: &str = "api: no-log-rotation —";
const API_LIMITS: &str = "api: no-resource-limits —";

#[test]
fn keystrokes_in_a_terminal_pick_review_edit_and_write() {
    let work = basic();
    let mut pty = Pty::start(work.path(), "fix -i . --color never");
    pty.expect("Fixes to review");
    pty.send("\r");
    pty.expect("fixes picked");
    // postgres: health check accepted, log rotation skipped, limits edited then accepted.
    pty.expect(POSTGRES_HEALTH);
    pty.send("\r");
    pty.expect(POSTGRES_LOGS);
    pty.send(&format!("{DOWN}\r"));
    pty.expect(POSTGRES_LIMITS);
    pty.send(&format!("{DOWN}{DOWN}\r"));
    pty.expect("Parameter to change");
    pty.send(&format!("{DOWN}\r"));
    pty.expect("New value for memory");
    pty.send("1536M\r");
    pty.expect("memory: 1536M");
    pty.expect(POSTGRES_LIMITS);
    pty.send("\r");
    // api: both accepted.
    pty.expect(API_LOGS);
    pty.send("\r");
    pty.expect(API_LIMITS);
    pty.send("\r");
    pty.expect("What now?");
    pty.send("\r");
    let shown = pty.wait();
    assert!(shown.contains("wrote docker-compose.yml"), "{shown}");
    let text = std::fs::read_to_string(work.path().join("docker-compose.yml")).unwrap();
    assert!(text.contains("memory: 1536M") && text.contains("memory: 512M") && text.contains("healthcheck:"), "{text}");
    assert_eq!(text.matches("max-size").count(), 1, "only the api's log rotation:\n{text}");
}

#[test]
fn ctrl_c_or_quit_leaves_everything_as_it_was() {
    let work = basic();
    let before = std::fs::read_to_string(work.path().join("docker-compose.yml")).unwrap();
    let mut pty = Pty::start(work.path(), "fix -i . --color never");
    pty.expect("Fixes to review");
    pty.send("\r");
    pty.expect("fixes picked");
    pty.expect(POSTGRES_HEALTH);
    pty.send("\r");
    pty.expect(POSTGRES_LOGS);
    // Ctrl-C ends the process as SIGINT does; nothing is written before the last question.
    pty.send("\x03");
    let shown = pty.wait();
    assert!(!shown.contains("wrote") && !shown.contains("What now?"), "{shown}");
    assert_eq!(std::fs::read_to_string(work.path().join("docker-compose.yml")).unwrap(), before);
    assert!(!work.path().join(".env.example").exists());

    let mut pty = Pty::start(work.path(), "fix -i . --color never");
    pty.expect("Fixes to review");
    pty.send("\r");
    pty.expect("fixes picked");
    for prompt in [POSTGRES_HEALTH, POSTGRES_LOGS, POSTGRES_LIMITS, API_LOGS, API_LIMITS] {
        pty.expect(prompt);
        pty.send("\r");
    }
    pty.expect("What now?");
    pty.send(&format!("{DOWN}{DOWN}\r"));
    let shown = pty.wait();
    assert!(shown.contains("Nothing was changed."), "{shown}");
    assert_eq!(std::fs::read_to_string(work.path().join("docker-compose.yml")).unwrap(), before);
}

#[test]
fn the_session_can_end_with_a_fix_branch() {
    let work = basic();
    let dir = work.path();
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .current_dir(dir)
            .args(["-c", "user.name=Dev", "-c", "user.email=dev@example.test", "-c", "init.defaultBranch=main"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "stack"]);
    git(&["config", "user.name", "Dev"]);
    git(&["config", "user.email", "dev@example.test"]);
    let mut pty = Pty::start(dir, "fix -i . --color never");
    pty.expect("Fixes to review");
    // Only the first fix (postgres' health check) stays picked.
    pty.send(&format!("{DOWN} {DOWN} {DOWN} {DOWN} \r"));
    pty.expect("1 of 5 fixes picked");
    pty.expect(POSTGRES_HEALTH);
    pty.send("\r");
    pty.expect("What now?");
    pty.send(&format!("{DOWN}\r"));
    let shown = pty.wait();
    assert!(shown.contains("on `stackfix/fixes`"), "{shown}");
    assert_eq!(git(&["status", "--porcelain"]), "", "the working tree changed");
    let changed = git(&["diff", "HEAD", "stackfix/fixes", "--", "docker-compose.yml"]);
    assert!(changed.contains("+    healthcheck:") && !changed.contains("deploy:"), "{changed}");
}

#[test]
fn without_a_terminal_it_refuses_and_says_what_to_use() {
    let work = basic();
    let out = stackfix(work.path(), &["fix", "-i", "."]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("needs a terminal") && stderr(&out).contains("--diff"), "{}", stderr(&out));
    assert!(stderr(&out).contains("--yes"), "{}", stderr(&out));
    let before = std::fs::read_to_string(work.path().join("docker-compose.yml")).unwrap();
    // Like `fix`: 0 when nothing is left for a person, 1 when something is.
    let out = stackfix(work.path(), &["fix", "-i", "--yes", "."]);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    assert_ne!(std::fs::read_to_string(work.path().join("docker-compose.yml")).unwrap(), before);
}
