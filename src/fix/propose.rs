//! Each finding's fix as replacements in the files as they are, for reports that carry fixes
//! (SARIF's `fixes`): planned alone, as `fix` plans its first pass.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::Arc;

use super::{env_example, plan_fix, wanted, Env, FixError, FixOptions, Peers};
use crate::fix::render::Renderer;
use crate::rules::{self, Finding, Replacement, RuleSettings};
use crate::stack::{FileKey, ProjectFs, Stack};
use crate::yaml::source::Source;
use crate::yaml::splice_text;

/// Fills [`crate::rules::Fix::replacements`] of `findings` (a report of `stack`, whose project
/// directory is `dir`, made with `settings`; the stack must keep its YAML nodes): each fixable finding's fix, planned alone on the files as they are, as
/// one replacement per stretch of lines it changes, narrowed to the characters that differ. A
/// finding is matched to its fix by rule, service and message, in order (the report and the plan
/// run the same rules on the same stack).
///
/// A fix whose replacements would show a literal secret (the `hardcoded-secret` rule's values,
/// except one equal to part of a service, image or variable name) gets none. What one fix does
/// alone is not always what `fix` writes: `fix` applies the fixes together, in passes, and
/// verifies the result. A fix that cannot be planned alone gets no replacements.
///
/// # Errors
/// The stack did not load cleanly, or the templates do not parse.
pub fn propose(
    stack: &Stack,
    dir: &Path,
    settings: &RuleSettings,
    options: &FixOptions,
    findings: &mut [Finding],
) -> Result<(), FixError> {
    if !stack.errors.is_empty() {
        return Err(FixError::Input(stack.errors.clone()));
    }
    let planned = rules::check(stack, settings);
    let mut proposals: HashMap<FindingId, VecDeque<Vec<Replacement>>> = HashMap::new();
    for (finding, replacements) in planned.iter().zip(plan_each(stack, dir, options, &planned)?) {
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

/// Each of `planned`'s fixes (findings holding their edits) planned alone on the files as they
/// are, as replacements, in the findings' order (empty for a finding without a fix, one not
/// wanted, one that cannot be planned alone, or one whose text would show a literal secret).
fn plan_each(
    stack: &Stack,
    dir: &Path,
    options: &FixOptions,
    planned: &[Finding],
) -> Result<Vec<Vec<Replacement>>, FixError> {
    let renderer = Renderer::new(options.templates.as_deref()).map_err(FixError::Template)?;
    let env = Env { dir, options, renderer: &renderer };
    let fs = ProjectFs::of_stack(stack, dir);
    let peers: Peers =
        planned.iter().filter(|f| wanted(f, options)).filter_map(|f| Some(((f.rule, f.service.clone()?), f))).collect();
    let plans = planned.iter().map(|finding| {
        let fix = finding.fix.as_ref().filter(|_| wanted(finding, options))?;
        let users_fixed = fix.anchor_users().iter().all(|u| peers.contains_key(&(finding.rule, (*u).clone())));
        users_fixed.then(|| plan_fix(&env, stack, &fs, finding, fix, &peers).ok().map(Arc::new)).flatten()
    });
    Ok(as_replacements(stack, dir, &renderer, &fs, plans, &rules::guarded_secrets(stack)))
}

/// The fixes of `findings` (a report of `stack`, fixes with their edits) as the first pass of
/// `run` planned each alone on the files as they are: what [`propose`] fills, without checking
/// the stack or planning them again. `run` must have been made on `stack` with `findings`
/// and `options`, keeping its plans ([`super::FirstPlans::Keep`]).
///
/// # Errors
/// The templates do not parse.
pub fn propose_from(
    stack: &Stack,
    dir: &Path,
    options: &FixOptions,
    run: &super::InMemory,
    findings: &mut [Finding],
) -> Result<(), FixError> {
    let plans = super::FirstPass(run.first_plans.clone());
    propose_with(stack, dir, options, &plans, findings, &rules::guarded_secrets(stack))
}

/// [`propose_from`] with the `plans` a run handed on ([`super::FirstPlans::Hand`]), which must
/// have been made on `stack` with `findings` and `options`; `secrets` are
/// [`rules::guarded_secrets`] of `stack` (a caller that redacts with them too finds them once).
///
/// # Errors
/// The templates do not parse.
pub fn propose_with(
    stack: &Stack,
    dir: &Path,
    options: &FixOptions,
    plans: &super::FirstPass,
    findings: &mut [Finding],
    secrets: &[String],
) -> Result<(), FixError> {
    let renderer = Renderer::new(options.templates.as_deref()).map_err(FixError::Template)?;
    let fs = ProjectFs::of_stack(stack, dir);
    let plans = plans.0.iter().cloned().chain(std::iter::repeat(None)).take(findings.len());
    let proposals = as_replacements(stack, dir, &renderer, &fs, plans, secrets);
    for (finding, replacements) in findings.iter_mut().zip(proposals) {
        if let Some(fix) = finding.fix.as_mut() {
            fix.replacements = replacements;
        }
    }
    Ok(())
}

/// Each plan (one per finding, `None` for a finding without one) as replacements of the files as
/// they are; none for a plan whose text would show a literal secret.
fn as_replacements(
    stack: &Stack,
    dir: &Path,
    renderer: &Renderer,
    fs: &ProjectFs,
    plans: impl Iterator<Item = Option<Arc<super::FixPlan>>>,
    secrets: &[String],
) -> Vec<Vec<Replacement>> {
    // Each file's text and line index, made once for all the fixes that change it.
    let mut originals: HashMap<FileKey, (String, Source)> = HashMap::new();
    // A replacement that would show a literal secret (a fix that rewrites the text holding one)
    // is left out: the report says the finding is fixable, without the text.
    let mut out = Vec::new();
    for plan in plans {
        let Some(plan) = plan else {
            out.push(Vec::new());
            continue;
        };
        let mut list = Vec::new();
        for (key, splices) in &plan.edits {
            let (before, source) = originals.entry(key.clone()).or_insert_with(|| {
                let text = original(stack, fs, key);
                (text.clone(), Source::new(text))
            });
            list.extend(spliced(key.path(), before, source, splices));
        }
        if !plan.env_names.is_empty() {
            let path = dir.join(".env.example");
            // As the fix run reads it: one that cannot be read is never proposed anew.
            if let Some(current) = super::env_example_text(fs, &path) {
                let before = current.clone().unwrap_or_default();
                if let Ok(after) = env_example(renderer, current, &plan.env_names) {
                    list.extend(replacements(&path, &before, &after));
                }
            }
        }
        if list.iter().any(|r| secrets.iter().any(|s| r.text.contains(s.as_str()))) {
            list.clear();
        }
        out.push(list);
    }
    out
}

/// A finding as a report and a plan both know it: rule, service, message.
type FindingId<'a> = (&'a str, Option<&'a str>, &'a str);

/// A file's text as loaded, or as on disk for a file the stack does not hold (empty when it does
/// not exist: the fix creates it).
fn original(stack: &Stack, fs: &ProjectFs, key: &FileKey) -> String {
    match stack.file_by_key(key) {
        Some(file) => file.source().text().to_string(),
        None => fs.read(key.path()).unwrap_or_default(),
    }
}

/// The replacements `splices` make in `before` (whose line index is `source`): the splices in
/// clusters of whole lines that touch, each cluster spliced and compared alone, so a fix costs
/// what it changes, not the size of the file.
fn spliced(path: &Path, before: &str, source: &Source, splices: &[crate::yaml::Splice]) -> Vec<Replacement> {
    let line_start = |at: usize| before[..at].rfind('\n').map_or(0, |i| i + 1);
    let line_end = |at: usize| before[at..].find('\n').map_or(before.len(), |i| at + i + 1);
    let mut order: Vec<&crate::yaml::Splice> = splices.iter().collect();
    order.sort_by_key(|s| s.start);
    let mut clusters: Vec<(usize, usize, Vec<&crate::yaml::Splice>)> = Vec::new();
    for splice in order {
        let (lo, hi) = (line_start(splice.start), line_end(splice.end.max(splice.start)));
        match clusters.last_mut() {
            Some((_, end, members)) if lo <= *end => {
                *end = (*end).max(hi);
                members.push(splice);
            }
            _ => clusters.push((lo, hi, vec![splice])),
        }
    }
    let mut out = Vec::new();
    for (lo, hi, members) in clusters {
        let shifted: Vec<crate::yaml::Splice> = members
            .into_iter()
            .map(|s| {
                let mut s = s.clone();
                s.start -= lo;
                s.end -= lo;
                s
            })
            .collect();
        let region = &before[lo..hi];
        for (start, end, text) in changed(region, &splice_text(region, &shifted)) {
            out.push(Replacement {
                path: path.to_path_buf(),
                start: source.line_col(lo + start),
                end: source.line_col(lo + end),
                text,
            });
        }
    }
    out
}

/// What `after` changes in `before`, as replacements: the changed lines (a line diff, so each
/// stretch a fix adds or changes is its own replacement), each narrowed to the characters that
/// differ (a line a fix extends keeps the rest of it, a secret on it included, out of the report).
fn replacements(path: &Path, before: &str, after: &str) -> Vec<Replacement> {
    let source = Source::new(before.to_string());
    changed(before, after)
        .into_iter()
        .map(|(start, end, text)| Replacement {
            path: path.to_path_buf(),
            start: source.line_col(start),
            end: source.line_col(end),
            text,
        })
        .collect()
}

/// [`replacements`] as byte ranges of `before` and the text that takes each one's place.
fn changed(before: &str, after: &str) -> Vec<(usize, usize, String)> {
    let diff = similar::TextDiff::from_lines(before, after);
    let mut offsets = vec![0];
    for line in diff.iter_old_slices() {
        offsets.push(offsets.last().copied().unwrap_or(0) + line.len());
    }
    let mut out = Vec::new();
    for op in diff.ops() {
        let (tag, old, new) = op.as_tag_tuple();
        if tag == similar::DiffTag::Equal {
            continue;
        }
        let (start, end) = (offsets[old.start], offsets[old.end]);
        let removed = &before[start..end];
        let added: String = new.filter_map(|i| diff.new_slice(i)).collect();
        let prefix = common_prefix(removed, &added);
        let suffix = common_suffix(&removed[prefix..], &added[prefix..]);
        out.push((start + prefix, end - suffix, added[prefix..added.len() - suffix].to_string()));
    }
    out
}

/// The length in bytes of the longest common prefix of `a` and `b`, on character boundaries.
fn common_prefix(a: &str, b: &str) -> usize {
    a.chars().zip(b.chars()).take_while(|(x, y)| x == y).map(|(x, _)| x.len_utf8()).sum()
}

/// The length in bytes of the longest common suffix of `a` and `b`, on character boundaries.
fn common_suffix(a: &str, b: &str) -> usize {
    a.chars().rev().zip(b.chars().rev()).take_while(|(x, y)| x == y).map(|(x, _)| x.len_utf8()).sum()
}

/// Where merge keys (`<<`) give services blocks, `fix` finds some fixes `check` builds
/// impossible to write (a merged block it cannot copy, an anchor whose users need different
/// edits): planned as `fix --unsafe-fixes` would plan `stack` (loaded from `load`, with its nodes;
/// templates from `templates`, else the built-in ones), those of `findings` (as
/// [`crate::rules::check`] gives them, fixes with their edits) are left without a fix, their help
/// saying why; then every fix drops its edits, as [`crate::rules::report`] gives them. The fix run
/// starts from the stack as loaded and these findings (neither is made again; findings without
/// their edits, as a report's, are checked again for it). Callers settle only stacks that need it
/// ([`Stack::needs_settling`]: merge keys, `extends`): it costs what `fix` does. A stack `fix` refuses leaves the
/// findings as they are, without their edits.
///
/// [`Stack::needs_settling`]: crate::stack::Stack::needs_settling
pub fn settle(
    load: &crate::stack::LoadOptions,
    settings: &RuleSettings,
    templates: Option<std::path::PathBuf>,
    stack: &crate::stack::Stack,
    findings: &mut [Finding],
) {
    crate::on_pool(|| settle_here(load, settings, templates, stack, findings))
}

/// [`settle`] on the calling thread.
fn settle_here(
    load: &crate::stack::LoadOptions,
    settings: &RuleSettings,
    templates: Option<std::path::PathBuf>,
    stack: &crate::stack::Stack,
    findings: &mut [Finding],
) {
    let options = FixOptions { unsafe_fixes: true, templates, ..FixOptions::default() };
    // Findings that lost their edits (a report's) cannot be planned: checked again for the run.
    let checked;
    let planned: &[Finding] = match findings.iter().any(|f| f.fix.as_ref().is_some_and(|x| x.edits.is_empty())) {
        true => {
            checked = crate::rules::check(stack, settings);
            &checked
        }
        false => findings,
    };
    if let Ok(run) = super::run_loaded(load, settings, &options, stack, planned, super::FirstPlans::Drop) {
        settle_with(&run.skipped, findings);
    }
    crate::rules::drop_edits(findings);
}

/// [`settle`] from the fixes a `fix --unsafe-fixes` run already made on the stack `findings` were
/// checked on skipped: their findings are left without a fix, their help saying why.
pub fn settle_with(skipped: &[super::Skipped], findings: &mut [Finding]) {
    for skipped in skipped {
        let same = |f: &&mut Finding| {
            f.fix.is_some() && f.rule == skipped.rule && f.service == skipped.service && f.message == skipped.message
        };
        for finding in findings.iter_mut().filter(|f| same(f)) {
            finding.fix = None;
            let help = finding.help.take().map(|h| format!("{h}; ")).unwrap_or_default();
            finding.help = Some(format!("{help}no fix: {}", skipped.reason).into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replacements_are_the_changed_characters_of_the_changed_lines() {
        let path = Path::new("a");
        let text = |r: &[Replacement]| r.iter().map(|r| (r.start, r.end, r.text.clone())).collect::<Vec<_>>();
        let r = replacements(path, "x: 1\ny: 2\n", "x: 1\nz: 3\ny: 2\n");
        assert_eq!(text(&r), [((2, 1), (2, 1), "z: 3\n".to_string())]);
        let r = replacements(path, "a: 1\nb: 2\nc: 3\n", "a: 0\nb: 2\nc: 4\n");
        assert_eq!(text(&r), [((1, 4), (1, 5), "0".to_string()), ((3, 4), (3, 5), "4".to_string())]);
        let r = replacements(path, "é: 1", "é: 2");
        assert_eq!(text(&r), [((1, 4), (1, 5), "2".to_string())]);
        // A line the fix extends: the rest of it (a password here) is not in the replacement.
        let r = replacements(
            path,
            "command: redis-server --requirepass s3cret\n",
            "command: redis-server --requirepass s3cret --maxmemory 1mb\n",
        );
        assert_eq!(text(&r), [((1, 43), (1, 43), " --maxmemory 1mb".to_string())]);
        assert!(replacements(path, "same\n", "same\n").is_empty());
        let r = replacements(path, "", "NEW=\n");
        assert_eq!(text(&r), [((1, 1), (1, 1), "NEW=\n".to_string())]);
    }
}
