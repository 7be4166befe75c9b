//! Baselines for adopting stackfix on an existing repository: `check --write-baseline FILE`
//! records the findings of today, `check --baseline FILE` reports only the others.
//!
//! A finding is known by its rule, its file (relative to the repository holding the stack), its
//! service and where in the file it is as a YAML route (`services.api.environment.DB_PASSWORD`;
//! inside a list, `services.db.ports.[]` and the message; for a file that is not YAML, the
//! message): not by line numbers or list positions, so unrelated edits keep it.
//! Identical identities are counted: a baseline of two such findings hides two.

use std::collections::HashMap;
use std::io::{self, Write};

use serde::{Deserialize, Serialize};

use super::locate::Locator;
use super::{write_json, Checked};
use crate::rules::Finding;
use crate::stack::Stack;
use crate::yaml::Segment;

/// The baseline file's format version.
const VERSION: u32 = 1;

/// What identifies a finding across edits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Identity {
    pub rule: String,
    pub file: String,
    pub service: Option<String>,
    /// The YAML route of the finding (empty at the top of a file); inside a list, the route with
    /// `[]` for the position, `#` and the message; in a file that is not YAML, `#` and the message.
    pub at: String,
}

/// The file `--write-baseline` writes (JSON).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    pub version: u32,
    /// One entry per finding, sorted.
    pub findings: Vec<Identity>,
}

impl Baseline {
    /// Reads a baseline file's text. Errors: not JSON, not this format, another version.
    pub fn parse(text: &str) -> Result<Baseline, String> {
        let baseline: Baseline = serde_json::from_str(text).map_err(|e| format!("not a stackfix baseline: {e}"))?;
        if baseline.version != VERSION {
            return Err(format!("baseline version {} (this stackfix reads version {VERSION})", baseline.version));
        }
        Ok(baseline)
    }

    /// For each finding of `checked` (in report order), whether the baseline holds it; each
    /// entry holds one finding.
    pub fn holds(&self, checked: &[Checked]) -> Vec<bool> {
        let mut left: HashMap<&Identity, usize> = HashMap::new();
        for identity in &self.findings {
            *left.entry(identity).or_default() += 1;
        }
        identities(checked)
            .iter()
            .map(|identity| match left.get_mut(identity) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    true
                }
                _ => false,
            })
            .collect()
    }
}

/// Every finding's identity, in report order.
pub fn identities(checked: &[Checked]) -> Vec<Identity> {
    let locator = Locator::new(checked);
    Checked::all(checked).map(|(stack, f)| identity(&locator, stack, f)).collect()
}

fn identity(locator: &Locator, stack: &Stack, f: &Finding) -> Identity {
    let file = stack.file(f.file);
    let at = match &file.tree {
        Some(tree) => {
            let route = crate::yaml::route::route_at(tree, f.span.start);
            // A list item is known by what it says, not by its place: an item added above
            // must not take over the identity of one the baseline holds.
            let positional = route.0.iter().any(|s| matches!(s, Segment::Index(_)));
            let names: Vec<&str> = route
                .0
                .iter()
                .map(|s| match s {
                    Segment::Key(k) => k.as_str(),
                    Segment::Index(_) => "[]",
                })
                .collect();
            match positional {
                true => format!("{}#{}", names.join("."), f.message),
                false => names.join("."),
            }
        }
        None => format!("#{}", f.message),
    };
    Identity { rule: f.rule.to_string(), file: locator.path(&file.path), service: f.service.clone(), at }
}

/// Writes the baseline of `checked`: every finding's identity, sorted.
pub fn write_baseline(out: &mut dyn Write, checked: &[Checked]) -> io::Result<()> {
    let mut findings = identities(checked);
    findings.sort();
    write_json(out, &Baseline { version: VERSION, findings })
}
