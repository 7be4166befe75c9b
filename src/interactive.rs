//! `stackfix fix --interactive`: the fixes grouped by service and picked; each reviewed as the
//! diff it adds (accept, skip, or edit its parameters and see the diff again); then written,
//! committed to a branch, or dropped. Nothing is written during the session. Prompts go through
//! [`Prompter`], so the flow runs the same with a terminal and with scripted answers.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::fix::{self, diff, FileChange, FixError, FixOptions, Outcome};
use crate::rules::{self, FixEdit, RuleSettings};
use crate::stack::{self, LoadOptions};

/// The person pressed Ctrl-C (or closed the terminal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interrupted;

/// What to do with the fix on screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Review {
    Accept,
    Skip,
    /// Change one of its parameters, then review it again.
    Edit,
}

/// How the session ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    Write,
    Branch,
    Quit,
}

/// The questions a session asks.
pub trait Prompter {
    /// The items to go through (each chosen by default), by index.
    fn pick(&mut self, prompt: &str, items: &[String]) -> Result<Vec<usize>, Interrupted>;
    /// Shows a fix's diff and asks what to do with it.
    fn review(&mut self, title: &str, diff: &str) -> Result<Review, Interrupted>;
    /// Which of `parameters` (`key = value`) to change; `None` to go back.
    fn parameter(&mut self, parameters: &[String]) -> Result<Option<usize>, Interrupted>;
    /// A new value for `name`.
    fn value(&mut self, name: &str, current: &str) -> Result<String, Interrupted>;
    /// Shows the summary and asks how to end.
    fn finish(&mut self, summary: &str) -> Result<Finish, Interrupted>;
}

/// Why a session ended without a decision.
#[derive(Debug)]
pub enum SessionError {
    Fix(FixError),
    Interrupted,
}

impl From<FixError> for SessionError {
    fn from(e: FixError) -> Self {
        SessionError::Fix(e)
    }
}

impl From<Interrupted> for SessionError {
    fn from(_: Interrupted) -> Self {
        SessionError::Interrupted
    }
}

/// One fix the session offers: every finding of `rule` on `service`.
#[derive(Debug, Clone)]
pub struct Item {
    pub rule: &'static str,
    pub service: Option<String>,
    pub title: String,
    pub findings: usize,
    /// The template parameters its fix is rendered with (scalars only), `key = value`.
    pub parameters: Vec<(String, String)>,
}

impl Item {
    fn label(&self) -> String {
        let count = if self.findings > 1 { format!(" (×{})", self.findings) } else { String::new() };
        format!("{}: {} — {}{count}", self.service.as_deref().unwrap_or("(stack)"), self.rule, self.title)
    }

    fn key(&self) -> (String, Option<String>) {
        (self.rule.to_string(), self.service.clone())
    }
}

/// What the person decided: the options that make exactly the accepted fixes (with their edited
/// parameters), their outcome, and how to end.
pub struct Decision {
    pub options: FixOptions,
    pub outcome: Outcome,
    pub accepted: Vec<Item>,
    pub finish: Finish,
}

/// Runs a session; `Ok(None)` when there is nothing to fix.
pub fn run(
    load: &LoadOptions,
    settings: &RuleSettings,
    base: &FixOptions,
    prompter: &mut dyn Prompter,
) -> Result<Option<Decision>, SessionError> {
    let plan = fix::run(load, settings, base)?;
    let items = items(load, settings, &plan);
    if items.is_empty() {
        return Ok(None);
    }
    let labels: Vec<String> = items.iter().map(Item::label).collect();
    let picked = prompter.pick("Fixes to review (space toggles, enter confirms)", &labels)?;
    let mut options = FixOptions { only: Some(Vec::new()), ..base.clone() };
    let mut accepted: Vec<Item> = Vec::new();
    let mut current = fix::run(load, settings, &options)?;
    for index in picked.into_iter().filter(|&i| i < items.len()) {
        let mut item = items[index].clone();
        loop {
            let mut trial = options.clone();
            trial.only.get_or_insert_with(Vec::new).push(item.key());
            let with = fix::run(load, settings, &trial)?;
            let shown = match added_diff(&current, &with) {
                d if d.is_empty() => "(no change on its own: it needs a fix not accepted yet)\n".to_string(),
                d => d,
            };
            match prompter.review(&item.label(), &shown)? {
                Review::Accept => {
                    options = trial;
                    current = with;
                    accepted.push(item);
                    break;
                }
                Review::Skip => break,
                Review::Edit => {
                    let listed: Vec<String> = item.parameters.iter().map(|(k, v)| format!("{k} = {v}")).collect();
                    let Some(chosen) = prompter.parameter(&listed)? else { continue };
                    let Some((name, value)) = item.parameters.get(chosen).cloned() else { continue };
                    let new = prompter.value(&name, &value)?;
                    options.sets.push((item.service.clone(), name.clone(), new.clone()));
                    if let Some(p) = item.parameters.iter_mut().find(|(k, _)| *k == name) {
                        p.1 = new;
                    }
                    // Other accepted fixes of the service were rendered with the old value.
                    current = fix::run(load, settings, &options)?;
                }
            }
        }
    }
    let finish = prompter.finish(&summary(&accepted, &current))?;
    Ok(Some(Decision { options, outcome: current, accepted, finish }))
}

/// The fixes of a plan as items, grouped by service (in stack order) then rule, with the
/// parameters their templates take.
fn items(load: &LoadOptions, settings: &RuleSettings, plan: &Outcome) -> Vec<Item> {
    let mut grouped: BTreeMap<(Option<String>, &'static str), Item> = BTreeMap::new();
    for applied in &plan.applied {
        let entry = grouped.entry((applied.service.clone(), applied.rule)).or_insert_with(|| Item {
            rule: applied.rule,
            service: applied.service.clone(),
            title: applied.title.clone(),
            findings: 0,
            parameters: Vec::new(),
        });
        entry.findings += 1;
    }
    let original = stack::load(load);
    for finding in rules::check(&original, settings) {
        let Some(item) = grouped.get_mut(&(finding.service.clone(), finding.rule)) else { continue };
        for edit in finding.fix.iter().flat_map(|f| f.edits.iter()) {
            for (key, value) in parameters(edit) {
                if !item.parameters.iter().any(|(k, _)| *k == key) {
                    item.parameters.push((key, value));
                }
            }
        }
    }
    let mut items: Vec<Item> = grouped.into_values().collect();
    let order: Vec<Option<String>> =
        original.configs.iter().flat_map(|c| &c.services).map(|s| Some(s.name.clone())).collect();
    items.sort_by_key(|i| order.iter().position(|s| *s == i.service).unwrap_or(usize::MAX));
    items
}

/// The scalar values a fix's template is rendered with.
fn parameters(edit: &FixEdit) -> Vec<(String, String)> {
    if edit.target == crate::rules::Target::EnvExample {
        return Vec::new();
    }
    let (template, context) = (edit.template, &edit.context);
    let Some(map) = context.as_object() else { return Vec::new() };
    // Only the declared parameters the template's rule reads.
    let rule = template.rule();
    let declared = |key: &str| crate::fix::parameter(key).is_some_and(|p| p.rules.contains(&rule));
    map.iter()
        .filter(|(k, _)| declared(k))
        .filter_map(|(k, v)| match v {
            serde_json::Value::String(s) if !s.contains('\n') => Some((k.clone(), s.clone())),
            serde_json::Value::Number(n) => Some((k.clone(), n.to_string())),
            // A command (a health check's `test`) is edited as the shell command it runs; the new
            // value is written in compose's string form, which runs it with the image's shell.
            serde_json::Value::Array(items) => {
                let words: Vec<&str> = items.iter().map(serde_json::Value::as_str).collect::<Option<_>>()?;
                let command = match words.as_slice() {
                    ["CMD-SHELL", command] => command.to_string(),
                    ["CMD", rest @ ..] if !rest.is_empty() => rest.join(" "),
                    _ => return None,
                };
                Some((k.clone(), command))
            }
            _ => None,
        })
        .collect()
}

/// The diff that takes the files of `before` to those of `after`.
fn added_diff(before: &Outcome, after: &Outcome) -> String {
    let text = |o: &Outcome, path: &PathBuf| -> Option<(String, String)> {
        o.changes.iter().find(|c| c.path == *path).map(|c| (c.display.clone(), c.after.clone()))
    };
    let mut paths: Vec<&PathBuf> = after.changes.iter().map(|c| &c.path).collect();
    paths.extend(before.changes.iter().map(|c| &c.path));
    paths.sort();
    paths.dedup();
    let mut out = String::new();
    for path in paths {
        let disk = crate::stack::load::read_text(path).ok();
        let old = text(before, path);
        let new = text(after, path);
        let display = new.as_ref().or(old.as_ref()).map(|(d, _)| d.clone()).unwrap_or_default();
        let old_text = old.map(|(_, t)| t).or_else(|| disk.clone());
        let new_text = new.map(|(_, t)| t).or(disk);
        if old_text == new_text {
            continue;
        }
        let change = FileChange { path: path.clone(), display, before: old_text, after: new_text.unwrap_or_default() };
        out.push_str(&diff::unified(&change));
    }
    out
}

fn summary(accepted: &[Item], outcome: &Outcome) -> String {
    if accepted.is_empty() {
        return "No fix accepted.".to_string();
    }
    let mut out = format!("{} fix{} accepted:\n", accepted.len(), if accepted.len() == 1 { "" } else { "es" });
    for item in accepted {
        out.push_str(&format!("  {}\n", item.label()));
    }
    let files: Vec<&str> = outcome.changes.iter().map(|c| c.display.as_str()).collect();
    out.push_str(&format!("Files: {}", files.join(", ")));
    out
}
