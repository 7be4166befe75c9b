//! `cargo bench`: times `check` (load + every rule, as the `check` command runs them) over ../shared/corpus and over generated
//! 2,000- and 20,000-service files, next to the bare yaml-rust2 parse of the same bytes and
//! stackfix's located tree alone, and `fix --diff` (plan, apply in memory, verify, diff) on the
//! same inputs, and `report` over the corpus against its `check`. Then runs the `stackfix check` binary on hostile inputs up to the 10 MB file limit
//! and prints each one's wall time and peak resident memory (GNU time) against the stated
//! bounds: 1 s and 200 MB. Reference: dclint takes 38.9 s on a 540-file corpus and 3.76 s on 2,000 services
//! on this machine class (two orders of magnitude less is the target), and 5.14 s for `--fix` on
//! 2,000 services (target under 50 ms). `cargo bench --bench check -- corpus` (or `services`,
//! `hostile`) runs only the parts named.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use stackfix::rules::{self, RuleSettings};
use stackfix::stack::{self, LoadOptions, Profiles};
use stackfix::yaml::Tree;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

// As in the binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Discard;
impl MarkedEventReceiver for Discard {
    fn on_event(&mut self, _: Event, _: Marker) {}
}

/// What a timed run leaves (a stack, its findings, a fix run's outcome): freed after its time is
/// taken, as the commands leave theirs to the process's exit.
type Left = Box<dyn Send>;

/// Nothing left.
fn nothing() -> Left {
    Box::new(())
}

/// Runs `f` `runs` times, each without the fix fragments an earlier run rendered; returns the
/// median. What a run leaves is freed after its time is taken.
fn time(runs: usize, mut f: impl FnMut() -> Left + Send) -> Duration {
    let mut samples: Vec<Duration> = (0..runs)
        .map(|_| {
            // Every run starts cold: no fix fragment rendered by an earlier one.
            stackfix::fix::render::Renderer::forget_built_in_fragments();
            // On rayon's pool, as the binary runs every analysis (and the bare parse too, so
            // that both run on the same kind of thread).
            let (took, left) = stackfix::on_pool(|| {
                let start = Instant::now();
                let left = f();
                (start.elapsed(), left)
            });
            drop(left);
            took
        })
        .collect();
    samples.sort();
    samples[runs / 2]
}

/// What `stackfix check` computes: the stack loaded and every rule's findings, each fix kept as
/// the report shows it (title, applicability), as `rules::report` gives them, and where merge keys
/// are, the fixes `fix` could not write settled (a `fix` run, as the command does); the count of
/// findings, and the stack and findings, which the command leaves to the process's exit.
fn check(dir: &Path, files: Vec<PathBuf>) -> (usize, Left) {
    let load = LoadOptions::new(dir.to_path_buf(), files, Profiles::builtin());
    let stack = stack::load(&load);
    let settings = RuleSettings::default();
    if stack.errors.is_empty() && stack.needs_settling() {
        let mut findings = rules::check(&stack, &settings);
        stackfix::fix::settle(&load, &settings, None, &stack, &mut findings);
        return (findings.len(), Box::new((stack, findings)));
    }
    let findings = rules::report(&stack, &settings);
    (findings.len(), Box::new((stack, findings)))
}

/// `fix --diff` minus the printing: plan, apply in memory, verify, render the diffs; their length,
/// and the outcome, which the command leaves to the process's exit.
fn fix_diff(dir: &Path) -> (usize, Left) {
    let load = LoadOptions::new(dir.to_path_buf(), Vec::new(), Profiles::builtin());
    // As `fix --diff` asks: the diffs rendered while the fixed texts are checked.
    let options = stackfix::fix::FixOptions { unsafe_fixes: true, diffs: true, ..Default::default() };
    match stackfix::fix::run(&load, &RuleSettings::default(), &options) {
        Ok(outcome) => ((0..outcome.changes.len()).map(|i| outcome.diff(i).len()).sum(), Box::new(outcome)),
        Err(_) => (0, nothing()),
    }
}

/// `stackfix report` minus the printing: check, `fix` and `fix --unsafe-fixes` in memory, each
/// fix planned alone for its diff, the assessment rendered as Markdown; its length, and the
/// stack, which the command leaves to the process's exit.
fn report(dir: &Path) -> (usize, Left) {
    let load = LoadOptions::new(dir.to_path_buf(), Vec::new(), Profiles::builtin());
    let stack = stack::load(&load);
    if !stack.errors.is_empty() {
        return (0, Box::new(stack));
    }
    let options = stackfix::fix::FixOptions::default();
    let name = dir.to_string_lossy();
    let bytes = match stackfix::assess::evaluate(&stack, &load, &RuleSettings::default(), &options, &name) {
        Ok(assessment) => stackfix::assess::markdown::render(&assessment).len(),
        Err(_) => 0,
    };
    (bytes, Box::new(stack))
}

/// The compose file as `fix` would leave it (not the other files it writes, `.env.example`).
fn fixed_text(dir: &Path) -> Option<String> {
    let load = LoadOptions::new(dir.to_path_buf(), Vec::new(), Profiles::builtin());
    let options = stackfix::fix::FixOptions { unsafe_fixes: true, ..Default::default() };
    let outcome = stackfix::fix::run(&load, &RuleSettings::default(), &options).ok()?;
    outcome.changes.into_iter().find(|c| c.path.ends_with("docker-compose.yml")).map(|c| c.after)
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().filter_map(|e| e.ok()) {
        let path = entry.path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
            out.push(path);
        }
    }
}

/// Runs each of `fs` in turn, `runs` rounds (each run cold, as [`time`]; each round starts with
/// the next one, so none always follows the same other); returns their medians in order. Taken
/// in turn, the ratios between them are measured under the same load of the machine (a shared
/// machine's speed drifts over seconds).
fn time_each(runs: usize, fs: &mut [&mut (dyn FnMut() -> Left + Send)]) -> Vec<Duration> {
    let n = fs.len();
    let mut samples: Vec<Vec<Duration>> = vec![Vec::with_capacity(runs); n];
    for round in 0..runs {
        for i in (0..n).map(|k| (round + k) % n) {
            samples[i].push(time(1, &mut fs[i]));
        }
    }
    samples
        .into_iter()
        .map(|mut s| {
            s.sort();
            s[runs / 2]
        })
        .collect()
}

/// Prints how many times `time` is `floor`, against `target`.
fn print_ratio(label: &str, time: Duration, floor: Duration, target: f64, of: &str) {
    let ratio = time.as_secs_f64() / floor.as_secs_f64().max(f64::EPSILON);
    let verdict = if ratio <= target { "within" } else { "NOT within" };
    println!("{label:<34} {ratio:>11.1}x   ({verdict} the {target}x target, {of})");
}

/// A compose file with `n` services of varied shapes (databases, apps with depends_on, env, ports,
/// healthchecks, labels).
fn generated(n: usize) -> String {
    let mut out =
        String::from("x-logging: &logging\n  driver: json-file\n  options:\n    max-size: \"10m\"\n\nservices:\n");
    for i in 0..n {
        match i % 4 {
            0 => out.push_str(&format!(
                "  db{i}:\n    image: postgres:16.4-alpine\n    environment:\n      POSTGRES_PASSWORD: ${{DB{i}_PASSWORD:?set it}}\n    volumes:\n      - db{i}:/var/lib/postgresql/data\n    healthcheck:\n      test: [\"CMD-SHELL\", \"pg_isready -U postgres\"]\n      interval: 10s\n"
            )),
            1 => out.push_str(&format!(
                "  cache{i}:\n    image: redis:7.4-alpine\n    command: redis-server --maxmemory 256mb --maxmemory-policy allkeys-lru\n    logging: *logging\n"
            )),
            2 => out.push_str(&format!(
                "  api{i}:\n    image: ghcr.io/acme/api:1.{i}\n    restart: unless-stopped\n    ports:\n      - \"{}:8000\"\n    environment:\n      - DATABASE_URL=postgresql://app:${{DB_PASSWORD}}@db{}:5432/app\n      - REDIS_URL=redis://cache{}:6379/0\n    depends_on:\n      - db{}\n      - cache{}\n    labels:\n      traefik.http.routers.api{i}.rule: Host(`api{i}.example.com`)\n",
                10000 + i,
                i - 2,
                i - 1,
                i - 2,
                i - 1
            )),
            _ => out.push_str(&format!(
                "  worker{i}:\n    build:\n      context: ./worker\n      target: production\n    command: [\"celery\", \"-A\", \"app\", \"worker\"]\n    deploy:\n      resources:\n        limits: {{memory: 2G}}\n"
            )),
        }
    }
    out.push_str("volumes:\n");
    for i in (0..n).step_by(4) {
        out.push_str(&format!("  db{i}:\n"));
    }
    out
}

/// Inputs up to the 10 MB file limit that each stress one resource, as (name, compose file).
fn hostile_inputs() -> Vec<(&'static str, String)> {
    const LIMIT: usize = 10 * 1024 * 1024 - 4096;
    let head = "services:\n  a:\n    image: x:1\n";
    let fill = |unit: &str, sep: &str| vec![unit; (LIMIT - 100) / (unit.len() + sep.len())].join(sep);
    let nested = format!("{}{}", "[".repeat(250), "]".repeat(250));
    let mut bomb = String::from("x0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..12 {
        bomb.push_str(&format!("x{i}: &a{i} [{}]\n", vec![format!("*a{}", i - 1); 10].join(", ")));
    }
    bomb.push_str("services:\n  web:\n    image: nginx:1\n    command: *a11\n");
    let mut secrets = format!("{head}    environment:\n");
    for i in 0..199_000 {
        secrets.push_str(&format!("      K{i}_PASSWORD: v{i}\n"));
    }
    let dense: String = (0..14_000)
        .map(|i| format!("  s{i}: {{image: postgres, ports: [\"5432:5432\"], environment: {{POSTGRES_PASSWORD: x{i}, API_TOKEN: z}}, volumes: [./a:/b, /var/run/docker.sock:/var/run/docker.sock], depends_on: [s0]}}\n"))
        .collect();
    let mut extends = String::from("services:\n");
    for i in 0..20_000 {
        extends.push_str(&format!("  s{i}:\n    image: x:1\n    extends: s{}\n", i + 1));
    }
    extends.push_str("  s20000:\n    image: x:1\n");
    vec![
        ("22,000 services", generated(22_000)),
        ("25,000 services", generated(25_000)),
        ("one-character flow items", format!("{head}    command: [{}]\n", fill("a", ","))),
        ("block sequence items", format!("{head}    command:\n{}", fill("      - a\n", ""))),
        ("anchors on every item", format!("{head}    command: [{}]\n", fill("&a x", ","))),
        ("aliases on every item", format!("x: &a [1]\n{head}    command: [{}]\n", fill("*a", ","))),
        ("nesting 250 deep, repeated", format!("{head}    x-n: [{}]\n", fill(&nested, ","))),
        ("alias bomb", bomb),
        ("a 10 MB line", format!("{head}    command: {}\n", "x".repeat(LIMIT - 100))),
        ("10 MB of line breaks", format!("{}services: {{}}\n", "\n".repeat(LIMIT - 100))),
        ("199,000 literal secrets", secrets),
        ("14,000 services, 8 findings each", format!("services:\n{dense}")),
        ("extends chain of 20,000", extends),
    ]
}

/// Runs `stackfix check`, then `stackfix fix --diff --unsafe-fixes` (no bound stated; capped at
/// 120 s), on each hostile input under GNU time.
fn limits() {
    let time = Path::new("/usr/bin/time");
    if !time.exists() {
        println!("hostile inputs: /usr/bin/time (GNU time) not found, skipped");
        return;
    }
    println!(
        "\n{:<36} {:>9} {:>9} {:>9} {:>5}  first error",
        "hostile input (check; fix)", "size", "wall", "peak", "exit"
    );
    for (name, text) in hostile_inputs() {
        let dir = std::env::temp_dir().join(format!("stackfix-limits-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("worker")).unwrap_or_default();
        std::fs::write(dir.join("docker-compose.yml"), &text).unwrap_or_default();
        let run = |args: &[&str]| {
            let output = std::process::Command::new(time)
                .args(["-f", "stackfix-limits %e %M", "timeout", "120"])
                .arg(env!("CARGO_BIN_EXE_stackfix"))
                .args(args)
                .arg(&dir)
                .output()
                .ok()?;
            let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
            let measured = stderr.lines().rev().find_map(|l| l.strip_prefix("stackfix-limits ")).unwrap_or("? ?");
            let (wall, kb) = measured.split_once(' ').unwrap_or(("?", "?"));
            let mb = kb.parse::<f64>().map_or("?".to_string(), |kb| format!("{:.0} MB", kb / 1024.0));
            let error = stderr.lines().find(|l| l.starts_with("error:")).map_or(String::new(), |l| {
                let message = l.split_once(".yml:").map_or(l, |(_, m)| m);
                message.chars().take(70).collect()
            });
            let exit = match output.status.code() {
                Some(124) => "124 (timed out)".to_string(),
                Some(c) => c.to_string(),
                None => "?".to_string(),
            };
            Some((wall.to_string(), kb.parse::<f64>().ok(), mb, exit, error))
        };
        if let Some((wall, kb, mb, exit, error)) = run(&["check", "--color", "never"]) {
            // The stated bounds: 1 s and 200 MB per input.
            let over_time = wall.parse::<f64>().is_ok_and(|s| s > 1.0);
            let over_memory = kb.is_some_and(|kb| kb / 1024.0 > 200.0);
            let verdict = match (over_time, over_memory) {
                (false, false) => "",
                (true, false) => "OVER 1 s  ",
                (false, true) => "OVER 200 MB  ",
                (true, true) => "OVER 1 s, 200 MB  ",
            };
            println!("{name:<36} {:>6} KB {:>7} s {mb:>9} {exit:>5}  {verdict}{error}", text.len() / 1024, wall);
        }
        if let Some((wall, _, mb, exit, _)) = run(&["fix", "--diff", "--unsafe-fixes", "--color", "never"]) {
            println!("{:<36} {:>9} {:>7} s {mb:>9} {exit:>5}", "  fix --diff --unsafe-fixes", "", wall);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn main() {
    // As the binary starts: the analysis runs on rayon's pool (see `start_worker_threads`).
    let _ = stackfix::fix::write::start_worker_threads();
    // `cargo bench --bench check -- corpus` runs only the named parts (corpus, services,
    // hostile); without names, all of them.
    let named: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    const PARTS: [&str; 3] = ["corpus", "services", "hostile"];
    if let Some(unknown) = named.iter().find(|n| !PARTS.contains(&n.as_str())) {
        eprintln!("unknown part `{unknown}`: the parts are {}", PARTS.join(", "));
        std::process::exit(2);
    }
    let runs = |part: &str| named.is_empty() || named.iter().any(|n| n == part);
    println!("{:<34} {:>12} {:>12} {:>12} {:>9}", "input", "check", "tree only", "yaml-rust2", "findings");
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    if runs("corpus") && corpus.is_dir() {
        let mut files = Vec::new();
        yaml_files(&corpus, &mut files);
        let mut dirs: Vec<PathBuf> = files.iter().filter_map(|f| f.parent().map(Path::to_path_buf)).collect();
        dirs.sort();
        dirs.dedup();
        // The bare parse reads the YAML files `check` parses, each once: the stacks' compose
        // files and the side files they mount, and every YAML file of a directory without a
        // compose file's usual name (each is parsed to learn whether it is one).
        let mut read: Vec<PathBuf> = dirs
            .iter()
            .flat_map(|d| {
                let stack = stack::load(&LoadOptions::new(d.clone(), Vec::new(), Profiles::builtin()));
                let mut read: Vec<PathBuf> =
                    stack.files.iter().filter(|f| f.tree.is_some()).map(|f| f.path.clone()).collect();
                if stack::load::base_file(d).is_none() && stack::load::production_files(d).is_empty() {
                    read.extend(files.iter().filter(|f| f.parent() == Some(d.as_path())).cloned());
                }
                read
            })
            .collect();
        read.sort();
        read.dedup();
        let texts: Vec<String> = read.iter().filter_map(|f| std::fs::read_to_string(f).ok()).collect();
        let (mut findings, mut bytes) = (0, 0);
        // `check` is compared with the bare parse and `report` with `check`: all are timed in turn.
        let times = time_each(
            7,
            &mut [
                &mut || {
                    let (counts, left): (Vec<usize>, Vec<Left>) = dirs.iter().map(|d| check(d, Vec::new())).unzip();
                    findings = counts.iter().sum();
                    Box::new(left)
                },
                &mut || Box::new(texts.iter().map(|t| Tree::parse(t.clone())).collect::<Vec<_>>()),
                &mut || {
                    for t in &texts {
                        let _ = Parser::new_from_str(t).load(&mut Discard, true);
                    }
                    nothing()
                },
                &mut || {
                    let (counts, left): (Vec<usize>, Vec<Left>) = dirs.iter().map(|d| report(d)).unzip();
                    bytes = counts.iter().sum();
                    Box::new(left)
                },
            ],
        );
        let (check_time, tree_time, bare, report_time) = (times[0], times[1], times[2], times[3]);
        let label = format!("corpus ({} dirs, {} YAML files read)", dirs.len(), texts.len());
        println!("{label:<34} {:>12.2?} {:>12.2?} {:>12.2?} {findings:>9}", check_time, tree_time, bare);
        print_ratio("  check / yaml-rust2", check_time, bare, 2.5, "issue 16");
        let mut diff_bytes = 0;
        let fix_time = time(3, || {
            let (counts, left): (Vec<usize>, Vec<Left>) = dirs.iter().map(|d| fix_diff(d)).unzip();
            diff_bytes = counts.iter().sum();
            Box::new(left)
        });
        println!("{:<34} {:>12.2?}   ({} bytes of diff)", "  fix --diff --unsafe-fixes", fix_time, diff_bytes);
        println!("{:<34} {:>12.2?}   ({bytes} bytes)", "  report (markdown)", report_time);
        print_ratio("  report / check", report_time, check_time, 3.0, "issue 18");
    } else if runs("corpus") {
        println!("corpus: ../shared/corpus not found, skipped");
    }
    for n in [2_000, 20_000].into_iter().filter(|_| runs("services")) {
        let dir = std::env::temp_dir().join(format!("stackfix-bench-{n}-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("worker")).unwrap_or_default();
        let text = generated(n);
        std::fs::write(dir.join("docker-compose.yml"), &text).unwrap_or_default();
        let mut findings = 0;
        let runs = if n > 10_000 { 3 } else { 7 };
        let times = time_each(
            runs,
            &mut [
                &mut || {
                    let left;
                    (findings, left) = check(&dir, Vec::new());
                    left
                },
                &mut || Box::new(Tree::parse(text.clone())),
                &mut || {
                    let _ = Parser::new_from_str(&text).load(&mut Discard, true);
                    nothing()
                },
            ],
        );
        let (check_time, tree_time, bare) = (times[0], times[1], times[2]);
        let label = format!("{n} services ({} KiB)", text.len() / 1024);
        println!("{label:<34} {:>12.2?} {:>12.2?} {:>12.2?} {findings:>9}", check_time, tree_time, bare);
        print_ratio("  check / yaml-rust2", check_time, bare, 2.5, "issue 16");
        if n <= 2_000 {
            // Verification must parse the fixed text: the two parses bound what `fix` can take.
            match fixed_text(&dir) {
                Some(fixed) => {
                    let mut bytes = 0;
                    let times = time_each(
                        5,
                        &mut [
                            &mut || {
                                let left;
                                (bytes, left) = fix_diff(&dir);
                                left
                            },
                            &mut || {
                                let _ = Parser::new_from_str(&text).load(&mut Discard, true);
                                let _ = Parser::new_from_str(&fixed).load(&mut Discard, true);
                                nothing()
                            },
                        ],
                    );
                    let (fix_time, floor) = (times[0], times[1]);
                    println!("{:<34} {:>12.2?}   ({} bytes of diff)", "  fix --diff --unsafe-fixes", fix_time, bytes);
                    let label = format!("  floor: yaml-rust2 in + out ({} KiB)", fixed.len() / 1024);
                    println!("{label:<34} {floor:>12.2?}");
                    print_ratio("  fix --diff / floor", fix_time, floor, 2.5, "issue 14");
                }
                None => {
                    let mut bytes = 0;
                    let fix_time = time(5, || {
                        let left;
                        (bytes, left) = fix_diff(&dir);
                        left
                    });
                    let label = "  fix --diff --unsafe-fixes";
                    println!("{label:<34} {fix_time:>12.2?}   (nothing fixed, no floor: {bytes} bytes of diff)");
                }
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    if let Some(mb) = peak_rss_mb() {
        println!("peak resident memory: {mb:.1} MiB");
    }
    if runs("hostile") {
        limits();
    }
}
