//! Each finding's fix as replacements in the files as they are, for reports that carry fixes
//! (SARIF's `fixes`): planned alone, as `fix` plans its first pass.

use std::collections::{HashMap, VecDeque};
use std::path::Path;

use super::{env_example, plan_fix, wanted, Env, FixError, FixOptions, Peers};
use crate::fix::render::Renderer;
use crate::rules::{self, Finding, Replacement, RuleSettings};
use crate::stack::{self, FileKey, LoadOptions, ProjectFs};
use crate::yaml::source::Source;
use crate::yaml::splice_text;

/// Fills [`crate::rules::Fix::replacements`] of `findings` (a report of the stack `load` names,
/// made with `settings`): each fixable finding's fix, planned alone on the files as they are, as
/// one replacement per file it changes (the changed stretch between what stays the same before
/// and after). A finding is matched to its fix by rule, service and message, in order (the
/// report and the plan run the same rules on the same stack).
///
/// What one fix does alone is not always what `fix` writes: `fix` applies the fixes together,
/// in passes, and verifies the result. A fix that cannot be planned alone gets no replacements.
///
/// # Errors
/// The stack does not load, or the templates do not parse.
pub fn propose(
    load: &LoadOptions,
    settings: &RuleSettings,
    options: &FixOptions,
    findings: &mut [Finding],
) -> Result<(), FixError> {
    let renderer = Renderer::new(options.templates.as_deref()).map_err(FixError::Template)?;
    let stack = stack::load(load);
    if !stack.errors.is_empty() {
        return Err(FixError::Input(stack.errors.clone()));
    }
    let env = Env { dir: &load.dir, options, renderer: &renderer, rendered: Default::default() };
    let fs = ProjectFs::new(&load.dir);
    let planned = rules::check(&stack, settings);
    let peers: Peers =
        planned.iter().filter(|f| wanted(f, options)).filter_map(|f| Some(((f.rule, f.service.clone()?), f))).collect();
    let mut proposals: HashMap<FindingId, VecDeque<Vec<Replacement>>> = HashMap::new();
    for finding in &planned {
        let Some(fix) = finding.fix.as_ref().filter(|_| wanted(finding, options)) else { continue };
        let users_fixed = fix.anchor_users().iter().all(|u| peers.contains_key(&(finding.rule, (*u).clone())));
        let replacements = match users_fixed.then(|| plan_fix(&env, &stack, &fs, finding, fix, &peers)) {
            Some(Ok(plan)) => {
                let mut out = Vec::new();
                for (key, splices) in &plan.edits {
                    let before = original(&stack, &fs, key);
                    out.extend(replacements(key.path(), &before, &splice_text(&before, splices)));
                }
                if !plan.env_names.is_empty() {
                    let path = load.dir.join(".env.example");
                    let current = fs.read(&path).ok();
                    let before = current.clone().unwrap_or_default();
                    if let Ok(after) = env_example(&renderer, current, &plan.env_names) {
                        out.extend(replacements(&path, &before, &after));
                    }
                }
                out
            }
            _ => Vec::new(),
        };
        let id = (finding.rule, finding.service.as_deref(), finding.message.as_str());
        proposals.entry(id).or_default().push_back(replacements);
    }
    for finding in findings.iter_mut() {
        let id = (finding.rule, finding.service.as_deref(), finding.message.as_str());
        let next = proposals.get_mut(&id).and_then(VecDeque::pop_front);
        if let (Some(fix), Some(replacements)) = (finding.fix.as_mut(), next) {
            fix.replacements = replacements;
        }
    }
    Ok(())
}

/// A finding as a report and a plan both know it: rule, service, message.
type FindingId<'a> = (&'a str, Option<&'a str>, &'a str);

/// A file's text as loaded, or as on disk for a file the stack does not hold (empty when it does
/// not exist: the fix creates it).
fn original(stack: &stack::Stack, fs: &ProjectFs, key: &FileKey) -> String {
    match stack.file_by_key(key) {
        Some(file) => file.source().text().to_string(),
        None => fs.read(key.path()).unwrap_or_default(),
    }
}

/// The lines of `before` that `after` changes, as replacements of whole lines (a line diff, so
/// a reader sees each stretch the fix adds or changes, not one span from the first to the last).
fn replacements(path: &Path, before: &str, after: &str) -> Vec<Replacement> {
    let diff = similar::TextDiff::from_lines(before, after);
    let mut offsets = vec![0];
    for line in diff.iter_old_slices() {
        offsets.push(offsets.last().copied().unwrap_or(0) + line.len());
    }
    let source = Source::new(before.to_string());
    diff.ops()
        .iter()
        .map(similar::DiffOp::as_tag_tuple)
        .filter(|(tag, _, _)| *tag != similar::DiffTag::Equal)
        .map(|(_, old, new)| Replacement {
            path: path.to_path_buf(),
            start: source.line_col(offsets[old.start]),
            end: source.line_col(offsets[old.end]),
            text: new.filter_map(|i| diff.new_slice(i)).collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replacements_are_the_changed_lines() {
        let path = Path::new("a");
        let text = |r: &[Replacement]| r.iter().map(|r| (r.start, r.end, r.text.clone())).collect::<Vec<_>>();
        let r = replacements(path, "x: 1\ny: 2\n", "x: 1\nz: 3\ny: 2\n");
        assert_eq!(text(&r), [((2, 1), (2, 1), "z: 3\n".to_string())]);
        let r = replacements(path, "a: 1\nb: 2\nc: 3\n", "a: 0\nb: 2\nc: 4\n");
        assert_eq!(text(&r), [((1, 1), (2, 1), "a: 0\n".to_string()), ((3, 1), (4, 1), "c: 4\n".to_string())]);
        let r = replacements(path, "é: 1", "é: 2");
        assert_eq!(text(&r), [((1, 1), (1, 5), "é: 2".to_string())]);
        assert!(replacements(path, "same\n", "same\n").is_empty());
        let r = replacements(path, "", "NEW=\n");
        assert_eq!(text(&r), [((1, 1), (1, 1), "NEW=\n".to_string())]);
    }
}
