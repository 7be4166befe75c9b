//! Every stack and every compose file in ../shared/corpus: loading and checking never panics, every
//! finding points inside its file at the start of a YAML node (the key or value a user edits), and
//! files that do not parse are reported with a position.

use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use stackfix::rules::{self, RuleSettings};
use stackfix::stack::{self, LoadOptions, Profiles, Stack};
use stackfix::yaml::{NodeKind, Segment, Tree};

use crate::common::{check_json, copy_tree, shared, stackfix, stderr, stdout};

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().filter_map(|e| e.ok()) {
        let path = entry.path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
            out.push(path);
        }
    }
}

fn is_compose(path: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    let Ok(tree) = Tree::parse(text) else {
        return false;
    };
    tree.root()
        .and_then(|r| tree.entry(r, "services"))
        .is_some_and(|e| matches!(tree.node(e.value).kind, NodeKind::Mapping { .. }))
}

/// Checks every finding's location; returns how many findings there were.
fn verify(stack: &Stack, label: &str) -> usize {
    let findings = rules::check(stack, &RuleSettings::default());
    for f in &findings {
        let file = stack.file(f.file);
        let text = file.source().text();
        assert!(f.span.start <= f.span.end && f.span.end <= text.len(), "{label}: {} span out of range", f.rule);
        let (line, col) = stack.line_col(f.file, f.span.start);
        assert!(line >= 1 && line <= file.source().line_count() && col >= 1, "{label}: {} at {line}:{col}", f.rule);
        if let Some(tree) = &file.tree {
            let starts: HashSet<usize> = (0..tree.len()).map(|i| tree.node(i).span.start).collect();
            assert!(
                starts.contains(&f.span.start),
                "{label}: {} at {}:{line}:{col} is not on a key or value",
                f.rule,
                file.display
            );
        }
    }
    for err in &stack.errors {
        if err.message.contains("cannot read") || err.message.contains("no compose file") {
            continue;
        }
        assert!(err.position.is_some(), "{label}: error without a position: {err}");
    }
    findings.len()
}

fn load(dir: &Path, files: Vec<PathBuf>) -> Stack {
    let options = LoadOptions::new(dir.to_path_buf(), files, Profiles::builtin());
    catch_unwind(AssertUnwindSafe(|| stack::load(&options)))
        .unwrap_or_else(|_| panic!("panic loading {}", dir.display()))
}

#[test]
fn corpus_stacks_and_files() {
    let Some(corpus) = shared("corpus") else {
        return;
    };
    let mut dirs = vec![corpus.clone()];
    let mut files = Vec::new();
    yaml_files(&corpus, &mut files);
    dirs.extend(files.iter().filter_map(|f| f.parent().map(Path::to_path_buf)));
    dirs.sort();
    dirs.dedup();
    let mut configs = 0;
    let mut findings = 0;
    for dir in &dirs {
        let stack = load(dir, Vec::new());
        configs += stack.configs.len();
        findings += catch_unwind(AssertUnwindSafe(|| verify(&stack, &dir.display().to_string())))
            .unwrap_or_else(|_| panic!("panic checking {}", dir.display()));
    }
    let compose_files: Vec<&PathBuf> = files.iter().filter(|f| is_compose(f)).collect();
    for file in &compose_files {
        let stack = load(file.parent().unwrap(), vec![(*file).clone()]);
        assert!(stack.configs.len() == 1 || !stack.errors.is_empty(), "{}: not loaded", file.display());
        findings += verify(&stack, &file.display().to_string());
    }
    assert!(compose_files.len() > 100, "corpus has {} compose files", compose_files.len());
    assert!(configs > 40 && findings > 1000, "{configs} configurations, {findings} findings");
}

/// The located tree on every corpus YAML file, through the fuzz target's checks: spans inside the
/// text, and each plain or quoted scalar's span re-reads to the same value.
#[test]
fn corpus_spans_reparse_to_their_values() {
    let Some(corpus) = shared("corpus") else { return };
    let mut files = Vec::new();
    yaml_files(&corpus, &mut files);
    let mut scalars = 0;
    for path in files {
        let data = std::fs::read(&path).unwrap();
        scalars += std::panic::catch_unwind(|| stackfix::fuzzing::tree(&data))
            .unwrap_or_else(|_| panic!("{}", path.display()));
    }
    assert!(scalars > 10_000, "{scalars} scalars checked");
}

#[test]
fn a_file_that_is_not_yaml_is_exit_2_with_a_position() {
    let Some(corpus) = shared("corpus") else {
        return;
    };
    let dir = corpus.join("dimzrio__docker-compose/prometheus-grafana-alertmanager/prometheusdata");
    let out = stackfix(&dir, &["check", ".", "-f", "prometheus.rules"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("prometheus.rules:17:1:"), "{}", stderr(&out));
}

/// Routes to the non-empty block collections of a tree (at most `limit`): where an edit inserts
/// whole lines only.
fn block_collections(tree: &Tree, limit: usize) -> Vec<(Vec<Segment>, bool)> {
    let Some(root) = tree.root() else { return Vec::new() };
    stackfix::fuzzing::collections(tree, root, usize::MAX)
        .into_iter()
        .filter(|(route, _)| {
            stackfix::yaml::route::resolve(tree, &stackfix::yaml::Route(route.clone())).is_ok_and(|t| {
                let node = tree.node(t.node);
                let empty = tree.entries(t.node).is_empty() && tree.items(t.node).is_empty();
                !node.is_flow() && !empty
            })
        })
        .take(limit)
        .collect()
}

#[test]
fn patches_on_corpus_files_keep_them_valid_and_untouched_lines_identical() {
    use stackfix::yaml::{apply, Op, Patch, Route};
    let Some(corpus) = shared("corpus") else { return };
    let mut files = Vec::new();
    yaml_files(&corpus, &mut files);
    let mut applied = 0;
    for path in files {
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        let Ok(tree) = Tree::parse(text.clone()) else { continue };
        for (segments, is_mapping) in block_collections(&tree, 16) {
            let route = Route(segments);
            let op = if is_mapping {
                Op::InsertKey {
                    key: "stackfix-probe".into(),
                    value: "probe: \"a: #b\"\nlist:\n  - 1\n".into(),
                    after: None,
                }
            } else {
                Op::AppendItem { value: "stackfix-probe".into() }
            };
            let Ok(out) = apply(&text, &Patch { route: route.clone(), op }) else { continue };
            let label = format!("{}: {route}", path.display());
            let reparsed = Tree::parse(out.clone()).unwrap_or_else(|e| panic!("{label}: {e}"));
            assert!(
                stackfix::fuzzing::only_lines_inserted(&text, &out),
                "{label}: lines other than the inserted ones changed"
            );
            let probe = if is_mapping { route.clone().key("stackfix-probe").key("probe") } else { route.clone() };
            let found = stackfix::yaml::route::resolve(&reparsed, &probe).unwrap_or_else(|e| panic!("{label}: {e}"));
            if is_mapping {
                assert_eq!(reparsed.node(found.node).as_str(), Some("a: #b"), "{label}");
            } else {
                let last = *reparsed.items(found.node).last().unwrap();
                assert_eq!(reparsed.node(last).as_str(), Some("stackfix-probe"), "{label}");
            }
            applied += 1;
        }
    }
    assert!(applied > 1500, "{applied} patches applied");
}

#[test]
fn fixes_on_corpus_stacks_stay_valid_idempotent_and_keep_comments() {
    use crate::common::validator;
    use crate::monitoring::validated_monitoring_files;
    use crate::validators::{compose, compose_config_ok};
    let Some(corpus) = shared("corpus") else { return };
    let Some(compose) = compose() else { return };
    let (Some(promtool), Some(amtool)) = (validator("promtool"), validator("amtool")) else { return };
    let mut monitoring_checked = 0;
    let mut drift_checked = 0;
    let work = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    yaml_files(&corpus, &mut files);
    let mut dirs: Vec<PathBuf> = files.iter().filter_map(|f| f.parent().map(Path::to_path_buf)).collect();
    dirs.sort();
    dirs.dedup();
    let (mut fixed_dirs, mut validated) = (0, 0);
    for dir in dirs {
        let relative = dir.strip_prefix(&corpus).unwrap();
        let Some(top) = relative.components().next() else { continue };
        let copy_root = work.path().join(top);
        if !copy_root.exists() {
            copy_tree(&corpus.join(top), &copy_root);
        }
        let here = work.path().join(relative);
        let stack = load(&here, Vec::new());
        if stack.configs.is_empty() || !stack.errors.is_empty() {
            continue;
        }
        let configs: Vec<Vec<PathBuf>> =
            stack.configs.iter().map(|c| c.files.iter().map(|&f| stack.file(f).path.clone()).collect()).collect();
        let valid_before: Vec<bool> =
            configs.iter().map(|files| compose_config_ok(&compose, &here, files).is_ok()).collect();
        let models_before: Vec<Option<serde_json::Value>> =
            configs.iter().map(|files| crate::validators::compose_json(&compose, &here, files).ok()).collect();
        let texts_before: Vec<(PathBuf, String)> =
            stack.files.iter().map(|f| (f.path.clone(), f.source().text().to_string())).collect();
        let monitoring_before = validated_monitoring_files(&here, &promtool, &amtool);
        let out = stackfix(&here, &["fix", ".", "--unsafe-fixes", "--color", "never", "--format", "json"]);
        assert!(matches!(out.status.code(), Some(0 | 1)), "{}: {}", here.display(), stderr(&out));
        let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        let rules_applied: HashSet<String> = report["applied"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a["rule"].as_str().map(str::to_string))
            .collect();
        // What compose runs changed only in the fields the applied rules write (no value of
        // another kind drifted: a merged `replicas`, an image, a port).
        for (files, before) in configs.iter().zip(&models_before) {
            let (Some(before), Ok(after)) = (before, crate::validators::compose_json(&compose, &here, files)) else {
                continue;
            };
            let mut changed = Vec::new();
            stackfix::fuzzing::model_changes(before, &after, "", &mut changed);
            let rules: Vec<&str> = rules_applied.iter().map(String::as_str).collect();
            for path in changed {
                assert!(
                    stackfix::fuzzing::drift_allowed(&path, before, &rules),
                    "{}: `{path}` changed in what compose runs, which no applied rule ({rules_applied:?}) writes",
                    here.display()
                );
                drift_checked += 1;
            }
        }
        // Monitoring files the real tools accepted stay accepted; files stackfix created must be.
        for (file, result) in validated_monitoring_files(&here, &promtool, &amtool) {
            let before = monitoring_before.iter().find(|(f, _)| *f == file).map(|(_, r)| r.is_ok());
            if before != Some(false) {
                result.unwrap_or_else(|e| panic!("{}: {e}", here.display()));
                monitoring_checked += 1;
            }
        }
        // What `check` calls fixable, `fix` fixed, for every rule it ran.
        let (_, left) = check_json(&here, &["--select", ALL_RULES]);
        for finding in left["findings"].as_array().into_iter().flatten() {
            assert_ne!(finding["fix"]["available"], true, "{}: fixable finding left: {finding:#}", here.display());
        }
        let mut changed = false;
        for (path, before) in &texts_before {
            let after = std::fs::read_to_string(here.join(path.strip_prefix(".").unwrap_or(path)))
                .or_else(|_| std::fs::read_to_string(path))
                .unwrap();
            if after == *before {
                continue;
            }
            changed = true;
            for line in before.lines().filter(|l| l.trim_start().starts_with('#')) {
                assert!(after.contains(line.trim()), "{}: comment `{}` lost", path.display(), line.trim());
            }
        }
        for (files, ok) in configs.iter().zip(&valid_before) {
            if *ok {
                compose_config_ok(&compose, &here, files).unwrap_or_else(|e| {
                    panic!("{}: the fixed stack no longer passes compose config: {e}", here.display())
                });
                validated += 1;
            }
        }
        let again = stackfix(&here, &["fix", ".", "--unsafe-fixes", "--diff", "--color", "never"]);
        assert_eq!(stdout(&again), "", "{}: a second run changes something", here.display());
        fixed_dirs += usize::from(changed);
    }
    assert!(fixed_dirs > 60 && validated > 40, "{fixed_dirs} stacks fixed, {validated} configurations validated");
    assert!(monitoring_checked > 10, "only {monitoring_checked} monitoring files validated");
    assert!(drift_checked > 1000, "only {drift_checked} changed values checked against compose config");
}

/// Every rule `fix` runs unless asked for more.
const ALL_RULES: &str = "no-resource-limits,no-healthcheck,depends-on-without-health-condition,no-restart-policy,\
    no-log-rotation,redis-no-maxmemory,hardcoded-secret,database-port-published,docker-socket-mount,\
    elasticsearch-security-disabled,unpinned-image,source-bind-mount,dev-build-target,development-mode,\
    traefik-no-rate-limit,traefik-insecure-api,traefik-no-https-redirect,alerts-without-alertmanager,\
    scrape-target-missing,missing-exporter,no-backup";

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

#[test]
fn random_edit_sequences_keep_files_parseable_and_untouched_lines_intact() {
    use stackfix::yaml::{apply, Op, Patch, Route};
    let Some(corpus) = shared("corpus") else { return };
    let mut files = Vec::new();
    yaml_files(&corpus, &mut files);
    files.sort();
    let values =
        ["x", "\"quoted: #x\"", "a: 1\nb: [1, 2]\n", "- one\n- two\n", "k: |\n  block ü\n", "{flow: 1}", "&a anchored"];
    let mut steps = 0;
    for (n, path) in files.iter().enumerate() {
        let Ok(mut text) = std::fs::read_to_string(path) else { continue };
        if Tree::parse(text.clone()).is_err() {
            continue;
        }
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (n as u64 + 1));
        for step in 0..8 {
            let tree = Tree::parse(text.clone()).unwrap();
            let routes = block_collections(&tree, usize::MAX);
            if routes.is_empty() {
                break;
            }
            let (segments, is_mapping) = routes[rng.next(routes.len())].clone();
            let value = values[rng.next(values.len())].to_string();
            let op = if is_mapping {
                Op::InsertKey { key: format!("probe-{step}"), value, after: None }
            } else {
                Op::AppendItem { value }
            };
            let route = Route(segments);
            let Ok(out) = apply(&text, &Patch { route: route.clone(), op }) else { continue };
            let label = format!("{} step {step} at `{route}`", path.display());
            Tree::parse(out.clone()).unwrap_or_else(|e| panic!("{label}: {e}"));
            assert!(
                stackfix::fuzzing::only_lines_inserted(&text, &out),
                "{label}: lines other than the inserted ones changed"
            );
            text = out;
            steps += 1;
        }
    }
    assert!(steps > 1000, "{steps} random edits applied");
}

/// The programs a health check test starts: the exec form's program, or `sh` and the first
/// command of a shell form. BusyBox applets answer to their plain names.
fn probe_programs(test: &[String]) -> Vec<String> {
    let base = |w: &str| w.rsplit('/').next().unwrap_or(w).to_string();
    match test.first().map(String::as_str) {
        Some("CMD") => test.get(1).map(|w| vec![base(w)]).unwrap_or_default(),
        Some("CMD-SHELL") => {
            // Shell builtins are the shell's own.
            const BUILTINS: &[&str] = &["printf", "echo", "exec", "test", "[", "true", "false", "set", "cd"];
            let first = test.get(1).and_then(|s| s.split_whitespace().next()).map(base);
            std::iter::once("sh".to_string()).chain(first.filter(|w| !BUILTINS.contains(&w.as_str()))).collect()
        }
        _ => Vec::new(),
    }
}

/// Whether a service's image has `program`, as the catalog and its Dockerfile say.
fn image_has(service: &stack::Service, program: &str) -> Option<bool> {
    let facts = &service.image_facts;
    let busybox = format!("busybox-{program}");
    match (facts.has(program), facts.has(&busybox)) {
        (Some(true), _) | (_, Some(true)) => Some(true),
        (Some(false), Some(false)) => Some(false),
        (Some(false), None) | (None, Some(false)) if ["wget", "nc"].contains(&program) => None,
        (Some(false), _) => Some(false),
        _ => None,
    }
}

/// Across every real stack: no probe calls a program its image lacks, no safe probe relies on a
/// program not known to be there, no memory limit is below a JVM heap the stack sets or the
/// image defaults to, and no redis that a queue consumer uses gets an evicting policy.
#[test]
fn fixes_rely_only_on_known_facts_across_the_corpus() {
    use stackfix::rules::{Applicability, FixEdit, Site, Target};
    let Some(corpus) = shared("corpus") else { return };
    let mut files = Vec::new();
    yaml_files(&corpus, &mut files);
    let mut dirs: Vec<PathBuf> =
        files.iter().filter(|f| is_compose(f)).filter_map(|f| f.parent().map(Path::to_path_buf)).collect();
    dirs.sort();
    dirs.dedup();
    let (mut probes, mut safe_probes, mut limits, mut redis) = (0, 0, 0, 0);
    for dir in dirs {
        let stack = load(&dir, Vec::new());
        let findings =
            rules::check(&stack, &RuleSettings { requested: vec!["no-monitoring".into()], ..RuleSettings::default() });
        // A fix is made in one configuration; the service may look different in another (an
        // overlay that sets no image), so a fact holds when it holds in one of them.
        let services = |name: &str| stack.configs.iter().filter_map(|c| c.service(name)).collect::<Vec<_>>();
        for finding in &findings {
            let Some(fix) = &finding.fix else { continue };
            for edit in fix.edits.iter() {
                let FixEdit { target: Target::Service(site), template, context, .. } = edit else { continue };
                let name = match site {
                    Site::Definition { service, .. } | Site::Production { service, .. } => service.as_str(),
                };
                let targets = services(name);
                if targets.is_empty() {
                    continue;
                }
                let label = format!("{}: {} {name}", dir.display(), finding.rule);
                match template.name() {
                    "no-healthcheck" => {
                        let test: Vec<String> = serde_json::from_value(context["test"].clone()).unwrap();
                        let programs = probe_programs(&test);
                        let lacks = |t: &&stack::Service| programs.iter().any(|p| image_has(t, p) == Some(false));
                        let knows = |t: &&stack::Service| programs.iter().all(|p| image_has(t, p) == Some(true));
                        assert!(!targets.iter().all(lacks), "{label}: {test:?} calls a program the image lacks");
                        if fix.applicability == Applicability::Safe {
                            assert!(
                                targets.iter().any(knows),
                                "{label}: a safe probe {test:?} relies on an unknown program"
                            );
                        }
                        probes += 1;
                        safe_probes += usize::from(fix.applicability == Applicability::Safe);
                    }
                    "no-resource-limits" | "no-resource-limits.legacy" => {
                        let memory = context["memory"].as_str().and_then(stackfix::stack::facts::memory_bytes);
                        for target in &targets {
                            if let (Some(memory), Some(heap)) = (memory, stackfix::stack::facts::heap(target)) {
                                assert!(
                                    memory > heap.bytes,
                                    "{label}: limit {memory} under the heap ({})",
                                    heap.evidence
                                );
                                limits += 1;
                            }
                        }
                    }
                    _ => {}
                }
            }
            if finding.rule == "redis-no-maxmemory" {
                let Some(name) = finding.service.as_deref() else { continue };
                let queue = stack.configs.iter().any(|c| {
                    c.service(name).is_some_and(|t| matches!(c.redis_role(t), stackfix::stack::RedisRole::Queue(_)))
                });
                if queue {
                    assert!(
                        !fix.title.contains("allkeys-") && !fix.title.contains("volatile-"),
                        "{}: {name}: {}",
                        dir.display(),
                        fix.title
                    );
                    redis += 1;
                }
            }
        }
    }
    eprintln!("corpus facts: {probes} probes ({safe_probes} safe), {limits} limits above a heap, {redis} queue redis");
    assert!(probes > 50 && safe_probes > 20, "{probes} probes, {safe_probes} safe");
    assert!(limits > 0 && redis > 0, "{limits} JVM limits, {redis} queue redis");
}

/// Fixes left for a person because they would edit a YAML anchor: each names a real conflict
/// between the anchor's users (a service mapping other services alias, a user that needs another
/// edit). The count is printed and may only go down (issue 14 started from 52 in 7 stacks).
#[test]
fn anchored_fixes_left_for_a_person_stay_at_the_floor() {
    const FLOOR: usize = 4;
    let Some(corpus) = shared("corpus") else { return };
    let mut files = Vec::new();
    yaml_files(&corpus, &mut files);
    let mut dirs: Vec<PathBuf> = files.iter().filter_map(|f| f.parent().map(Path::to_path_buf)).collect();
    dirs.sort();
    dirs.dedup();
    let mut left = Vec::new();
    for dir in &dirs {
        let stack = load(dir, Vec::new());
        for f in rules::check(&stack, &RuleSettings::default()) {
            if f.help.as_deref().is_some_and(|h| h.contains("YAML anchor")) {
                left.push(format!("{} {} {:?}", dir.display(), f.rule, f.service));
            }
        }
    }
    left.sort();
    left.dedup();
    eprintln!("anchored fixes left for a person: {} in {} stacks", left.len(), dirs.len());
    assert!(left.len() <= FLOOR, "more anchored fixes left than the floor ({FLOOR}): {left:#?}");
}
