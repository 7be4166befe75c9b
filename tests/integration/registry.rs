//! The registry is consistent: every rule has bad and good fixtures, documented sections, a module
//! and type named after its id; every fixture directory belongs to a rule.

use crate::common::{fixtures, repo, subdirs};
use stackfix::rules::{by_id, REGISTRY};

const SECTIONS: &[&str] =
    &["## What it does", "## Why it matters", "## When it does not apply", "## Example", "## Fix", "## Fix safety"];

fn camel(id: &str) -> String {
    id.split('-').map(|w| w[..1].to_ascii_uppercase() + &w[1..]).collect()
}

#[test]
fn every_rule_is_complete_and_consistently_named() {
    assert_eq!(REGISTRY.len(), 18);
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
