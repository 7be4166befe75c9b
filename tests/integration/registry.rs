//! The registry is consistent: every rule has bad and good fixtures, documented sections, a module
//! and type named after its id; every fixture directory belongs to a rule.

use crate::common::{fixtures, repo, subdirs};
use stackfix::rules::{by_id, FixAvailability, REGISTRY};

const SECTIONS: &[&str] =
    &["## What it does", "## Why it matters", "## When it does not apply", "## Example", "## Fix", "## Fix safety"];

fn camel(id: &str) -> String {
    id.split('-').map(|w| w[..1].to_ascii_uppercase() + &w[1..]).collect()
}

#[test]
fn every_rule_is_complete_and_consistently_named() {
    assert_eq!(REGISTRY.len(), 34);
    for rule in REGISTRY {
        let m = rule.meta();
        for kind in ["bad", "good"] {
            assert!(!subdirs(&fixtures().join(m.id).join(kind)).is_empty(), "{}: no {kind} fixture", m.id);
        }
        for section in SECTIONS {
            assert!(m.docs.contains(section), "{}: docs lack `{section}`", m.id);
        }
        let module = repo().join("src/rules").join(format!("{}.rs", m.id.replace('-', "_")));
        let source = std::fs::read_to_string(&module).unwrap_or_else(|_| panic!("{} missing", module.display()));
        assert!(source.contains(&format!("pub struct {} => \"{}\"", camel(m.id), m.id)), "{}: type name", m.id);
        assert!(!m.seeds.is_empty() && !m.summary.is_empty());
        let has_template = std::fs::read_dir(repo().join("templates/fixes")).unwrap().filter_map(|e| e.ok()).any(|e| {
            e.file_name().to_string_lossy().starts_with(&format!("{}.", m.id))
                || e.file_name().to_string_lossy().starts_with(&format!("{}.yml", m.id))
        });
        // scrape-target-missing adds exporters with missing-exporter's shared builder and templates.
        let shared_builder = source.contains("exporters::");
        assert_eq!(
            has_template || shared_builder,
            m.fix != FixAvailability::Never,
            "{}: a template exists exactly when the rule has a fix",
            m.id
        );
    }
}

#[test]
fn every_template_belongs_to_a_rule_and_is_embedded() {
    for entry in std::fs::read_dir(repo().join("templates/fixes")).unwrap().filter_map(|e| e.ok()) {
        let name = entry.file_name().to_string_lossy().trim_end_matches(".yml.tera").to_string();
        let id = name.split('.').next().unwrap();
        assert!(by_id(id).is_some(), "templates/fixes/{name} belongs to no rule");
        assert!(stackfix::fix::render::BUILTIN.iter().any(|b| b.name == name), "{name} is not embedded");
    }
}

#[test]
fn every_fixture_belongs_to_a_rule() {
    for dir in subdirs(&fixtures()) {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name == "stacks" || by_id(&name).is_some(), "fixtures/{name} belongs to no rule");
    }
    for case in subdirs(&fixtures())
        .iter()
        .filter(|d| !d.ends_with("stacks"))
        .flat_map(|d| subdirs(d))
        .flat_map(|d| subdirs(&d))
    {
        let compose = std::fs::read_to_string(case.join("docker-compose.yml")).unwrap_or_default();
        assert!(compose.starts_with("# "), "{}: first line must say what the case exercises", case.display());
    }
}

/// `docs/rules/<rule>.md` is each rule's page as `stackfix rules RULE` prints it, and nothing
/// else is there (`UPDATE_SNAPSHOTS=1` rewrites them).
#[test]
fn rule_pages_are_the_rules_documentation() {
    let dir = repo().join("docs/rules");
    for rule in REGISTRY {
        let m = rule.meta();
        crate::common::assert_snapshot(&dir.join(format!("{}.md", m.id)), &m.page());
    }
    let mut pages: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    let mut expected: Vec<String> = REGISTRY.iter().map(|r| format!("{}.md", r.meta().id)).collect();
    expected.sort();
    assert_eq!(pages, expected, "a page for each rule and no other");
}

/// README's table of rules lists every rule, in registry order, as the registry says it, each
/// linked to its page.
#[test]
fn the_readme_rule_table_matches_the_registry() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let rows: Vec<&str> = readme
        .lines()
        .skip_while(|l| !l.starts_with("| Rule | Severity | Area | Applies to | Fix |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .collect();
    assert_eq!(rows.len(), REGISTRY.len(), "one row per rule");
    for (row, rule) in rows.iter().zip(REGISTRY) {
        let m = rule.meta();
        let applies = match m.scope {
            stackfix::rules::Scope::Production => "production",
            stackfix::rules::Scope::Any => "all",
            stackfix::rules::Scope::Requested => "production, when asked for",
        };
        let fix = match m.fix {
            FixAvailability::Never => "never".to_string(),
            FixAvailability::Sometimes => format!("sometimes ({})", m.applicability.as_str()),
            FixAvailability::Always => format!("always ({})", m.applicability.as_str()),
        };
        let expected = format!(
            "| [{id}](docs/rules/{id}.md) | {} | {} | {applies} | {fix} |",
            m.severity.as_str(),
            m.area.as_str(),
            id = m.id
        );
        assert_eq!(*row, expected);
    }
}
