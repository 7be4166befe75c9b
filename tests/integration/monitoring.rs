//! Monitoring files stackfix writes or edits, checked by the real tools: `promtool check config`
//! and `promtool check rules` (Debian prometheus) and `amtool check-config` (Debian
//! prometheus-alertmanager), on every bad fixture of the monitoring rules and every seed stack
//! after `stackfix fix --unsafe-fixes`. Under CI=true a missing tool fails the test.

use std::path::{Path, PathBuf};
use std::process::Command;

use stackfix::stack::{self, LoadOptions, Profiles};

use crate::common::{copy_tree, fixtures, stackfix, stdout, subdirs, validator};

pub fn run(tool: &Path, args: &[&str], file: &Path) -> Result<(), String> {
    let out = Command::new(tool).args(args).arg(file).output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} {args:?} {}:\n{}{}",
            tool.display(),
            file.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The Prometheus configs, rule files and Alertmanager configs of a stack.
pub fn monitoring_files(dir: &Path) -> (Vec<PathBuf>, Vec<PathBuf>, Vec<PathBuf>) {
    let stack = stack::load(&LoadOptions::new(dir.to_path_buf(), Vec::new(), Profiles::builtin()));
    let (mut prometheus, mut rules, mut alertmanager) = (Vec::new(), Vec::new(), Vec::new());
    for config in &stack.configs {
        for prom in &config.prometheus {
            prometheus.push(stack.file(prom.file).path.clone());
            for rule_files in &prom.rule_files {
                rules.extend(rule_files.files.iter().map(|&f| stack.file(f).path.clone()));
            }
        }
        alertmanager.extend(config.alertmanager_files.iter().map(|&f| stack.file(f).path.clone()));
    }
    for list in [&mut prometheus, &mut rules, &mut alertmanager] {
        list.sort();
        list.dedup();
    }
    (prometheus, rules, alertmanager)
}

/// Each monitoring file of a stack with whether its validator accepts it.
pub fn validated_monitoring_files(dir: &Path, promtool: &Path, amtool: &Path) -> Vec<(PathBuf, Result<(), String>)> {
    let (prometheus, rules, alertmanager) = monitoring_files(dir);
    let mut out = Vec::new();
    out.extend(prometheus.into_iter().map(|f| (f.clone(), run(promtool, &["check", "config"], &f))));
    out.extend(rules.into_iter().map(|f| (f.clone(), run(promtool, &["check", "rules"], &f))));
    out.extend(alertmanager.into_iter().map(|f| (f.clone(), run(amtool, &["check-config"], &f))));
    out
}

/// Every case whose fix writes monitoring files, and every seed stack.
fn cases() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for rule in ["alerts-without-alertmanager", "missing-exporter", "scrape-target-missing"] {
        out.extend(subdirs(&fixtures().join(rule).join("bad")));
    }
    out.extend(subdirs(&fixtures().join("stacks")));
    out
}

#[test]
fn fixed_monitoring_files_pass_promtool_and_amtool() {
    let (Some(promtool), Some(amtool)) = (validator("promtool"), validator("amtool")) else { return };
    let mut alertmanagers = 0;
    for case in cases() {
        let work = tempfile::tempdir().unwrap();
        copy_tree(&case, work.path());
        // A seed stack may live in a subdirectory named by its `args` file.
        let sub = std::fs::read_to_string(case.join("args")).unwrap_or_default();
        let dir = work.path().join(sub.trim());
        let out = stackfix(&dir, &["fix", ".", "--unsafe-fixes"]);
        assert!(matches!(out.status.code(), Some(0 | 1)), "{}: {}", case.display(), stdout(&out));
        let (prometheus, rules, alertmanager) = monitoring_files(&dir);
        for file in &prometheus {
            run(&promtool, &["check", "config"], file).unwrap_or_else(|e| panic!("{}: {e}", case.display()));
        }
        for file in &rules {
            run(&promtool, &["check", "rules"], file).unwrap_or_else(|e| panic!("{}: {e}", case.display()));
        }
        for file in &alertmanager {
            run(&amtool, &["check-config"], file).unwrap_or_else(|e| panic!("{}: {e}", case.display()));
        }
        alertmanagers += alertmanager.len();
    }
    assert!(alertmanagers > 0, "no Alertmanager configuration was checked");
}

/// A `rule_files` glob matches what Prometheus sees in the directory: the files of a directory
/// mounted there and, over them, files mounted one by one into it (`./alerts.yml:
/// /etc/prometheus/rules/alerts.yml`), in name order; names the pattern does not match are not
/// read.
#[test]
fn rule_file_globs_match_files_mounted_one_by_one() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("mon/rules")).unwrap();
    std::fs::write(
        root.join("docker-compose.yml"),
        "services:\n  prometheus:\n    image: prom/prometheus:v2.54.1\n    volumes:\n      \
         - ./mon/prometheus.yml:/etc/prometheus/prometheus.yml:ro\n      \
         - ./mon/rules:/etc/prometheus/rules:ro\n      \
         - ./mon/alerts.yml:/etc/prometheus/rules/b-alerts.yml:ro\n      \
         - ./mon/notes.txt:/etc/prometheus/rules/notes.txt:ro\n",
    )
    .unwrap();
    std::fs::write(root.join("mon/prometheus.yml"), "rule_files:\n  - /etc/prometheus/rules/*.yml\n").unwrap();
    let rules = "groups:\n  - name: a\n    rules:\n      - alert: Down\n        expr: up == 0\n";
    std::fs::write(root.join("mon/alerts.yml"), rules).unwrap();
    std::fs::write(root.join("mon/rules/a-recorded.yml"), "groups: []\n").unwrap();
    // Shadowed by the file mounted at the same name.
    std::fs::write(root.join("mon/rules/b-alerts.yml"), "not: read\n").unwrap();
    std::fs::write(root.join("mon/notes.txt"), "not a rule file\n").unwrap();
    let stack = stack::load(&LoadOptions::new(root.to_path_buf(), Vec::new(), Profiles::builtin()));
    assert!(stack.errors.is_empty(), "{:?}", stack.errors);
    let prom = &stack.configs[0].prometheus[0];
    let read: Vec<String> = prom.rule_files[0]
        .files
        .iter()
        .map(|&f| stack.file(f).path.strip_prefix(root).unwrap().display().to_string())
        .collect();
    assert_eq!(read, ["mon/rules/a-recorded.yml", "mon/alerts.yml"]);
    assert!(stack.notes.iter().all(|n| !n.message.contains("not found through the mounts")), "{:?}", stack.notes);
    // A relative pattern is cleaned as Prometheus cleans it.
    std::fs::write(root.join("mon/prometheus.yml"), "rule_files:\n  - ./rules/../rules/*.yml\n").unwrap();
    let stack = stack::load(&LoadOptions::new(root.to_path_buf(), Vec::new(), Profiles::builtin()));
    assert_eq!(stack.configs[0].prometheus[0].rule_files[0].files.len(), 2, "{:?}", stack.notes);
}
