//! `stackfix report`: a production-readiness assessment made from a stack's files and its
//! findings, deterministically (the same files give the same bytes): the stack in numbers, scores
//! per area now and after the fixes, what the stack already does right (each with its evidence),
//! the issues by priority with the fix each has, a checklist, the order to apply the fixes, and
//! a picture of the stack. Rendered as Markdown ([`markdown`]) or JSON (the [`Assessment`]
//! serialised), or as a self-contained HTML page ([`html`]). No credential is shown: the values
//! the `hardcoded-secret` rule finds and whatever has a credential's shape are replaced by
//! `<redacted>` in every message and diff ([`scrub`]), and strengths show programs, never their
//! arguments.

pub mod graph;
pub mod html;
pub mod markdown;
pub mod score;
pub mod scrub;
mod strengths;

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::rules::{self, Applicability, Area, Finding, Severity};
use crate::stack::{Config, Stack};

pub use graph::Graph;
pub use strengths::Strength;

/// The format version of the JSON report (`{"version": 1, "stacks": [assessment, …]}`); raised
/// when a field changes meaning or goes.
pub const FORMAT_VERSION: u32 = 1;

/// A stack named for the report that could not be assessed: it does not load (its errors, as
/// `check` prints them).
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub stack: String,
    pub errors: Vec<String>,
}

/// The JSON report of several stacks' assessments, and of the stacks that could not be assessed
/// (`not_assessed`, present only when there are some).
pub fn json(assessments: &[Assessment], failures: &[Failure]) -> String {
    let mut doc = serde_json::json!({ "version": FORMAT_VERSION, "stacks": assessments });
    if !failures.is_empty() {
        doc["not_assessed"] = serde_json::json!(failures);
    }
    format!("{}\n", serde_json::to_string_pretty(&doc).unwrap_or_default())
}

/// One stack's assessment.
#[derive(Debug, Clone, Serialize)]
pub struct Assessment {
    /// The stack as named on the command line (its directory).
    pub stack: String,
    pub summary: Summary,
    pub scores: Scores,
    pub strengths: Vec<Strength>,
    /// Most urgent first: by priority, then by rule, then by file and line.
    pub issues: Vec<Issue>,
    pub checklist: Vec<ChecklistItem>,
    /// Rules that would judge the stack but were switched off (`--ignore`, `stackfix.toml`):
    /// neither ticked nor open in the checklist, and their findings are not in the scores.
    pub not_checked: Vec<&'static str>,
    pub order: Vec<Step>,
    pub graph: Graph,
    /// The rules of the issues, by id: what each looks for, why it matters and its
    /// documentation page.
    pub rules: BTreeMap<&'static str, RuleInfo>,
}

/// A rule of the assessment's issues.
#[derive(Debug, Clone, Serialize)]
pub struct RuleInfo {
    /// What the rule looks for (one line).
    pub summary: &'static str,
    /// The "Why it matters" section of its documentation, when it has one.
    pub why: Option<String>,
    /// Its documentation page (`docs/rules/<rule>.md` in stackfix's repository).
    pub docs: String,
}

impl RuleInfo {
    /// The rule `id`'s summary, why it matters and its page; `None` for an id no rule has.
    pub fn of(id: &str) -> Option<RuleInfo> {
        let meta = rules::by_id(id)?.meta();
        Some(RuleInfo {
            summary: meta.summary,
            why: why_it_matters(id).map(str::to_string),
            docs: format!("{}/{id}.md", crate::report::RULE_DOCS),
        })
    }
}

/// The "Why it matters" section of the documentation of rule `id` (`None` for an id no rule has,
/// or documentation without it); every rule's is read once per process.
pub(crate) fn why_it_matters(id: &str) -> Option<&'static str> {
    static WHY: std::sync::OnceLock<HashMap<&'static str, String>> = std::sync::OnceLock::new();
    WHY.get_or_init(|| {
        rules::REGISTRY
            .iter()
            .map(|r| r.meta())
            .filter_map(|m| Some((m.id, markdown::section(&m.documentation(), "Why it matters")?)))
            .collect()
    })
    .get(id)
    .map(String::as_str)
}

/// The stack in numbers.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Every file read (compose files and the files they mount), as shown in findings.
    pub files: Vec<String>,
    /// Each configuration: its compose files in load order, and whether production rules judge it.
    pub configurations: Vec<Configuration>,
    /// Services by kind (the profile kind: `postgres`, `backend`, …), kinds and names sorted.
    pub services_by_kind: BTreeMap<String, Vec<String>>,
    pub services: usize,
    /// Findings by severity.
    pub errors: usize,
    pub warnings: usize,
    pub infos: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Configuration {
    pub files: Vec<String>,
    pub production: bool,
}

/// Scores from 0 to 100 (see [`score`] for the formula).
#[derive(Debug, Clone, Serialize)]
pub struct Scores {
    pub overall: ScoreRow,
    pub areas: Vec<ScoreRow>,
}

/// One area's score now, after `stackfix fix` (every finding with a safe fix closed) and after
/// `stackfix fix --unsafe-fixes` (every finding with a fix closed), and its open findings.
#[derive(Debug, Clone, Serialize)]
pub struct ScoreRow {
    /// `overall`, or the area (`resources`, `health`, …).
    pub area: &'static str,
    pub now: Option<u32>,
    pub after_fix: Option<u32>,
    pub after_unsafe_fixes: Option<u32>,
    pub findings: usize,
}

impl ScoreRow {
    /// The row's three scores as shown: the number, or `n/a` for a stack with no service.
    pub fn shown(&self) -> [String; 3] {
        [self.now, self.after_fix, self.after_unsafe_fixes]
            .map(|s| s.map_or_else(|| "n/a".to_string(), |s| s.to_string()))
    }
}

/// How urgent an issue is: from its severity and its area (security and data protection come
/// first: a leaked secret or a lost queue is not undone by a restart).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Priority {
    Critical,
    High,
    Medium,
    Low,
}

impl Priority {
    /// Error in security or data protection: critical; any other error, or a warning there:
    /// high; any other warning: medium; info: low.
    pub fn of(severity: Severity, area: Area) -> Priority {
        let grave = matches!(area, Area::Security | Area::DataProtection);
        match (severity, grave) {
            (Severity::Error, true) => Priority::Critical,
            (Severity::Error, false) | (Severity::Warning, true) => Priority::High,
            (Severity::Warning, false) => Priority::Medium,
            (Severity::Info, _) => Priority::Low,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Critical => "critical",
            Priority::High => "high",
            Priority::Medium => "medium",
            Priority::Low => "low",
        }
    }
}

/// One finding, as the assessment lists it.
#[derive(Debug, Clone, Serialize)]
pub struct Issue {
    pub priority: Priority,
    pub rule: &'static str,
    pub area: &'static str,
    pub severity: &'static str,
    pub service: Option<String>,
    /// `file:line:col`.
    pub location: String,
    /// The service runs only in a development configuration (no production file has it): the
    /// issue is listed at low priority and not scored.
    pub development_only: bool,
    pub message: String,
    /// What a person must decide or know, when the rule says (always when there is no fix).
    pub help: Option<String>,
    pub fix: Option<IssueFix>,
}

/// The fix `stackfix fix` offers for an issue.
#[derive(Debug, Clone, Serialize)]
pub struct IssueFix {
    pub title: String,
    /// `safe` or `unsafe` (ruff's Applicability).
    pub applicability: &'static str,
    /// The fix alone, planned on the files as they are, as a unified diff; `None` when it cannot
    /// be shown alone or would show a literal secret. What `stackfix fix` writes applies every
    /// fix together and may differ where two fixes meet.
    pub diff: Option<String>,
}

/// One line of the readiness checklist: a rule that judges this stack, and whether it is clear.
#[derive(Debug, Clone, Serialize)]
pub struct ChecklistItem {
    pub area: &'static str,
    pub rule: &'static str,
    /// The rule's summary (what it looks for).
    pub summary: &'static str,
    /// No open finding, and something to judge (see `nothing_to_judge`).
    pub done: bool,
    /// Why the rule had nothing to judge in this stack (`no Traefik`): it is neither ticked nor
    /// open. `None` when the stack runs what the rule judges (or the rule judges every stack).
    pub nothing_to_judge: Option<String>,
    /// Open findings of the rule.
    pub open: usize,
    /// Findings of the rule a person silenced (`# stackfix: ignore[…]`, `stackfix.toml`): a
    /// rule ticked with findings silenced says so.
    pub silenced: usize,
}

impl ChecklistItem {
    /// ` (2 open)`, ` (1 silenced)`, ` (2 open, 1 silenced)`, or nothing.
    pub fn counts(&self) -> String {
        let mut parts = Vec::new();
        if self.open > 0 {
            parts.push(format!("{} open", self.open));
        }
        if self.silenced > 0 {
            parts.push(format!("{} silenced", self.silenced));
        }
        match parts.is_empty() {
            true => String::new(),
            false => format!(" ({})", parts.join(", ")),
        }
    }
}

/// Why the rule `meta` has nothing to judge in `stack`: it judges only kinds of service
/// ([`rules::RuleMeta::judges`]) no configuration of the stack runs. A checklist that ticked it
/// would read as a pass.
fn nothing_to_judge(stack: &Stack, meta: &rules::RuleMeta) -> Option<String> {
    if meta.judges.is_empty() {
        return None;
    }
    let runs = stack.configs.iter().flat_map(|c| &c.services).any(|s| meta.judges.contains(&s.kind.as_str()));
    (!runs).then(|| format!("no `{}` service", meta.judges.join("` or `")))
}

/// One step of the order in which to apply the fixes.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// The command to run, or `by hand`.
    pub command: String,
    /// Findings it closes, and how many per rule (rules sorted); by hand: every finding both
    /// fix runs leave.
    pub closes: usize,
    pub rules: BTreeMap<&'static str, usize>,
    /// By hand: how many of those are on what the fixes add (a service a fix adds has findings
    /// of its own); 0 for the other steps.
    pub added: usize,
}

impl Assessment {
    /// The issues by priority, most urgent first, each priority's issues in groups of one rule
    /// (as they are sorted); priorities without issues are left out.
    pub fn issue_groups(&self) -> Vec<(Priority, Vec<Vec<&Issue>>)> {
        let mut out = Vec::new();
        for priority in [Priority::Critical, Priority::High, Priority::Medium, Priority::Low] {
            let mut groups: Vec<Vec<&Issue>> = Vec::new();
            for issue in self.issues.iter().filter(|i| i.priority == priority) {
                match groups.last_mut() {
                    Some(group) if group[0].rule == issue.rule => group.push(issue),
                    _ => groups.push(vec![issue]),
                }
            }
            if !groups.is_empty() {
                out.push((priority, groups));
            }
        }
        out
    }
}

impl Priority {
    /// `Critical`, `High`, … (a heading).
    pub fn title(self) -> &'static str {
        match self {
            Priority::Critical => "Critical",
            Priority::High => "High",
            Priority::Medium => "Medium",
            Priority::Low => "Low",
        }
    }
}

impl Step {
    /// What the step is, in words, with the command as `code` by `code` (Markdown backticks or
    /// an HTML `<code>` element).
    pub fn describe(&self, code: impl Fn(&str) -> String) -> String {
        match self.command.as_str() {
            "by hand" if self.added > 0 => format!(
                "by hand (no fix: each issue says what to decide; {} of these are on what the fixes add, found \
                 by `stackfix check` once they are applied)",
                self.added
            ),
            "by hand" => "by hand (no fix: each issue says what to decide)".to_string(),
            "stackfix fix --unsafe-fixes" => {
                format!("{} (changes behaviour: review each diff)", code("stackfix fix --unsafe-fixes"))
            }
            command => code(command),
        }
    }
}

/// The configuration the assessment pictures and takes strengths from: the first production
/// one (the only one of a stack without a production file), else the first.
pub fn primary(stack: &Stack) -> Option<&Config> {
    stack.configs.iter().find(|c| c.is_production()).or_else(|| stack.configs.first())
}

/// What `stackfix fix` and `stackfix fix --unsafe-fixes` would leave of a stack, each run in
/// memory on it ([`crate::fix::run_loaded`]): the stack as fixed and its findings.
pub struct Fixes<'a> {
    pub safe: (&'a Stack, &'a [Finding]),
    pub all: (&'a Stack, &'a [Finding]),
}

/// Everything `stackfix report` computes for one stack, `stack` loaded without errors from
/// `load`: its findings (checked with `settings`); `fix --unsafe-fixes` and `fix` run in memory
/// with `options` (templates, `--set` values), for the scores after them and the order of the
/// fixes (a fix the unsafe run skips is shown without one, with the reason); each fix planned
/// alone on the files as they are, for its diff. `name` is the stack as the command line named
/// it.
///
/// Errors, in words: a fix run that fails as `stackfix fix` would (a template, a `--set` value,
/// an internal error).
pub fn evaluate(
    stack: &Stack,
    load: &crate::stack::LoadOptions,
    settings: &rules::RuleSettings,
    options: &crate::fix::FixOptions,
    name: &str,
) -> Result<Assessment, String> {
    // On the pool: the two fix runs go side by side there (see `crate::on_pool`).
    crate::on_pool(|| evaluate_here(stack, load, settings, options, name))
}

/// [`evaluate`] on the calling thread.
fn evaluate_here(
    stack: &Stack,
    load: &crate::stack::LoadOptions,
    settings: &rules::RuleSettings,
    options: &crate::fix::FixOptions,
    name: &str,
) -> Result<Assessment, String> {
    use crate::fix::{run_loaded, FirstPass, FirstPlans, FixOptions};
    let (mut findings, silenced) = rules::check_counting_silenced(stack, settings);
    let every = FixOptions { unsafe_fixes: true, ..options.clone() };
    let safe_only = FixOptions { unsafe_fixes: false, ..options.clone() };
    let offers_unsafe =
        findings.iter().any(|f| f.fix.as_ref().is_some_and(|x| x.applicability == Applicability::Unsafe));
    // Each finding's issue, its fix's diff as the unsafe run's first pass planned it alone on the
    // files as they are: built as soon as that pass has planned, while the runs go on.
    let listed: std::sync::Mutex<Option<Result<Listed, String>>> = std::sync::Mutex::new(None);
    let list = |plans: FirstPass| {
        let mut proposed = findings.clone();
        let secrets = rules::guarded_secrets(stack);
        crate::fix::propose_with(stack, &load.dir, &every, &plans, &mut proposed, &secrets)
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(issue_list(stack, &proposed, &secrets))
    };
    let (all, safe) = rayon::scope(|scope| {
        let (findings, listed, list) = (&findings, &listed, &list);
        let hand = move |plans: FirstPass| {
            scope.spawn(move |_| {
                let made = list(plans);
                if let Ok(mut listed) = listed.lock() {
                    *listed = Some(made);
                }
            })
        };
        let all = || run_loaded(load, settings, &every, stack, findings, FirstPlans::Hand(&hand));
        let safe = || run_loaded(load, settings, &safe_only, stack, findings, FirstPlans::Drop);
        if offers_unsafe {
            // Both runs are needed: made side by side.
            let (all, safe) = rayon::join(all, safe);
            (all, Some(safe))
        } else {
            // Without an unsafe fix offered now, `fix` makes the same passes as `fix
            // --unsafe-fixes` unless a later pass offers one (on what a fix adds).
            let all = all();
            let applied_unsafe =
                all.as_ref().is_ok_and(|r| r.applied.iter().any(|a| a.applicability == Applicability::Unsafe));
            (all, applied_unsafe.then(safe))
        }
    });
    let all = all.map_err(|e| e.to_string())?;
    let safe = safe.transpose().map_err(|e| e.to_string())?;
    // A run that succeeded planned its first pass and handed it on, so the listing is there;
    // were it not (a bug), the fixes are listed without diffs rather than lost.
    let listed = match listed.into_inner().ok().flatten() {
        Some(listed) => listed,
        None => list(FirstPass::default()),
    };
    let (mut issues, scrubber) = listed?;
    // The fixes the unsafe run skipped are no fix: their issues say why instead.
    let fixed: Vec<bool> = findings.iter().map(|f| f.fix.is_some()).collect();
    crate::fix::settle_with(&all.skipped, &mut findings);
    for ((issue, _), (finding, had)) in issues.iter_mut().zip(findings.iter().zip(fixed)) {
        if had && finding.fix.is_none() {
            issue.fix = None;
            issue.help = finding.help.as_ref().map(|h| scrubber.text(h));
        }
    }
    let safe_run = safe.as_ref().unwrap_or(&all);
    let fixes = Fixes { safe: (safe_run.stack(stack), &safe_run.remaining), all: (all.stack(stack), &all.remaining) };
    let assessment = assess_with(stack, &findings, sorted(issues), name, settings, &fixes, &silenced);
    // The fixed stacks are freed on the thread pool, not on the way to the output.
    crate::fix::drop_in_background((all, safe));
    Ok(assessment)
}

/// Each finding's issue with where the finding is (file, offset), in the findings' order, and
/// the scrubber that redacted them.
type Listed = (Vec<(Issue, (usize, usize))>, scrub::Scrubber);

/// Assesses `stack` from its `findings` (as `stackfix check` reports them, checked with
/// `settings`; each fix's replacements filled by [`crate::fix::propose`] or
/// [`crate::fix::propose_from`] to show diffs) and what the fixes would leave (`fixes`);
/// `silenced` counts the findings of each rule a person silenced (shown in the checklist). `name` is the stack as the command line named it. Rules
/// `settings` switches off are listed as not checked rather than ticked. Every text taken from
/// the files passes through the redaction of [`rules::guarded_secrets`].
pub fn assess(
    stack: &Stack,
    findings: &[Finding],
    name: &str,
    settings: &rules::RuleSettings,
    fixes: &Fixes,
    silenced: &BTreeMap<&'static str, usize>,
) -> Assessment {
    let listed = issue_list(stack, findings, &rules::guarded_secrets(stack)).0;
    assess_with(stack, findings, sorted(listed), name, settings, fixes, silenced)
}

/// [`assess`] with the `issues` of `findings` made already ([`issue_list`], [`sorted`]).
fn assess_with(
    stack: &Stack,
    findings: &[Finding],
    issues: Vec<Issue>,
    name: &str,
    settings: &rules::RuleSettings,
    fixes: &Fixes,
    silenced: &BTreeMap<&'static str, usize>,
) -> Assessment {
    let area_of = |f: &Finding| rules::by_id(f.rule).map_or(Area::Deployment, |r| r.meta().area);
    // Every service name of every configuration, once.
    let mut services: Vec<&str> = stack.configs.iter().flat_map(|c| &c.services).map(|s| s.name.as_str()).collect();
    services.sort_unstable();
    services.dedup();
    // Each service under the kind the pictured configuration gives it (a development file may
    // classify it otherwise), then those only other configurations have.
    let mut by_kind: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut placed: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for config in primary(stack).into_iter().chain(&stack.configs) {
        for s in &config.services {
            if placed.insert(s.name.as_str()) {
                by_kind.entry(s.kind.clone()).or_default().push(s.name.clone());
            }
        }
    }
    by_kind.values_mut().for_each(|v| v.sort());
    let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
    let summary = Summary {
        files: stack.files.iter().map(|f| f.display.clone()).collect(),
        configurations: stack
            .configs
            .iter()
            .map(|c| Configuration {
                files: c.files.iter().map(|&f| stack.file(f).display.clone()).collect(),
                production: c.is_production(),
            })
            .collect(),
        services_by_kind: by_kind,
        services: services.len(),
        errors: count(Severity::Error),
        warnings: count(Severity::Warning),
        infos: count(Severity::Info),
    };
    let now = score_of(stack, findings.iter());
    // After each run: the fixed stack as checked again (a service a fix adds counts, with its
    // findings), and which of today's findings each leaves open.
    let after_fix = score_of(fixes.safe.0, fixes.safe.1.iter());
    let after_unsafe = score_of(fixes.all.0, fixes.all.1.iter());
    let mut open_after = crate::fix::still_open(stack, findings, &[fixes.safe, fixes.all]).into_iter();
    let (open_after_fix, open_after_unsafe) =
        (open_after.next().unwrap_or_default(), open_after.next().unwrap_or_default());
    let row = |area: &'static str, i: Option<usize>, findings: usize| {
        let pick = |scores: &Option<([u32; 7], u32)>| scores.map(|(areas, overall)| i.map_or(overall, |i| areas[i]));
        ScoreRow {
            area,
            now: pick(&now),
            after_fix: pick(&after_fix),
            after_unsafe_fixes: pick(&after_unsafe),
            findings,
        }
    };
    let scores = Scores {
        overall: row("overall", None, findings.len()),
        areas: score::AREAS
            .iter()
            .enumerate()
            .map(|(i, area)| row(area.as_str(), Some(i), findings.iter().filter(|f| area_of(f) == *area).count()))
            .collect(),
    };
    let production = stack.configs.iter().any(|c| c.is_production());
    let mut open: HashMap<&str, usize> = HashMap::new();
    for f in findings {
        *open.entry(f.rule).or_default() += 1;
    }
    let (judging, switched_off): (Vec<_>, Vec<_>) = rules::REGISTRY
        .iter()
        .map(|r| r.meta())
        .filter(|m| match m.scope {
            rules::Scope::Any => true,
            rules::Scope::Production => production,
            rules::Scope::Requested => open.contains_key(m.id),
        })
        .partition(|m| settings.is_enabled(m.id) || open.contains_key(m.id));
    let mut not_checked: Vec<&'static str> = switched_off.iter().map(|m| m.id).collect();
    not_checked.sort_unstable();
    let mut checklist: Vec<ChecklistItem> = judging
        .into_iter()
        .map(|m| {
            let open = open.get(m.id).copied().unwrap_or(0);
            let silenced = silenced.get(m.id).copied().unwrap_or(0);
            let nothing_to_judge = nothing_to_judge(stack, m).filter(|_| open == 0);
            let done = open == 0 && nothing_to_judge.is_none();
            ChecklistItem {
                area: m.area.as_str(),
                rule: m.id,
                summary: m.summary,
                done,
                nothing_to_judge,
                open,
                silenced,
            }
        })
        .collect();
    checklist.sort_by_key(|c| (score::AREAS.iter().position(|a| a.as_str() == c.area), c.rule));
    // Each of today's findings in the step that closes it: `fix`, `fix --unsafe-fixes`, or by hand
    // when both runs leave it open.
    let step = |command: &str, keep: &dyn Fn(usize) -> bool| {
        let mut rules: BTreeMap<&'static str, usize> = BTreeMap::new();
        for (_, f) in findings.iter().enumerate().filter(|(i, _)| keep(*i)) {
            *rules.entry(f.rule).or_default() += 1;
        }
        Step { command: command.to_string(), closes: rules.values().sum(), rules, added: 0 }
    };
    // By hand: whatever both runs leave, today's findings and those on what the fixes add.
    let mut left: BTreeMap<&'static str, usize> = BTreeMap::new();
    for f in fixes.all.1 {
        *left.entry(f.rule).or_default() += 1;
    }
    let still_here = open_after_unsafe.iter().filter(|&&open| open).count();
    let by_hand = Step {
        command: "by hand".to_string(),
        closes: fixes.all.1.len(),
        rules: left,
        added: fixes.all.1.len().saturating_sub(still_here),
    };
    let order = [
        step("stackfix fix", &|i| !open_after_fix[i]),
        step("stackfix fix --unsafe-fixes", &|i| open_after_fix[i] && !open_after_unsafe[i]),
        by_hand,
    ]
    .into_iter()
    .filter(|s| s.closes > 0)
    .collect();
    let graph = primary(stack).map(|c| Graph::of(stack, c)).unwrap_or_default();
    let strengths = primary(stack).map(|c| strengths::of(stack, c, findings)).unwrap_or_default();
    let mut rules = BTreeMap::new();
    for issue in &issues {
        if !rules.contains_key(issue.rule) {
            if let Some(info) = RuleInfo::of(issue.rule) {
                rules.insert(issue.rule, info);
            }
        }
    }
    Assessment {
        stack: name.to_string(),
        summary,
        scores,
        strengths,
        issues,
        checklist,
        not_checked,
        order,
        graph,
        rules,
    }
}

/// Each of `findings` (of `stack`, each fix's replacements filled by [`crate::fix::propose`] or
/// its kin) as the report lists it (its priority, location, redacted texts and its fix's diff), in
/// their order, with where it is.
fn issue_list(stack: &Stack, findings: &[Finding], secrets: &[String]) -> Listed {
    let area_of = |f: &Finding| rules::by_id(f.rule).map_or(Area::Deployment, |r| r.meta().area);
    // Scored: the services that run in production (a service only a development file has does
    // not make production readier), and their findings and the stack's; findings of the others
    // are of low priority.
    let units = scored_units(stack);
    let counted = |f: &Finding| f.service.as_deref().is_none_or(|s| units.binary_search(&s).is_ok());
    // Literal secrets are redacted wherever a finding's text or a diff's context would show one.
    let mut scrubber = scrub::Scrubber::new(secrets);
    // Every file a fix's diff is made on, read once.
    let mut originals = Originals::new();
    let mut names = crate::fix::diff::PatchNames::default();
    for f in findings {
        for r in f.fix.iter().flat_map(|fix| &fix.replacements) {
            if !originals.contains_key(&r.path) {
                originals.insert(r.path.clone(), original(stack, &r.path, &mut names));
            }
        }
    }
    let issue = |scrubber: &mut scrub::Scrubber, f: &Finding| {
        let shown = |text: &str| scrubber.text(text);
        let (line, col) = stack.line_col(f.file, f.span.start);
        let fix = f.fix.as_ref().filter(|_| crate::report::fix_now(stack, f).is_some()).map(|fix| IssueFix {
            title: shown(&fix.title),
            applicability: fix.applicability.as_str(),
            diff: diff_of(&originals, &fix.replacements).map(|d| shown(&d)),
        });
        let development_only = !counted(f);
        let issue = Issue {
            priority: if development_only { Priority::Low } else { Priority::of(f.severity, area_of(f)) },
            development_only,
            rule: f.rule,
            area: area_of(f).as_str(),
            severity: f.severity.as_str(),
            service: f.service.clone(),
            location: format!("{}:{line}:{col}", stack.file(f.file).display),
            message: shown(&f.message),
            help: f.help.as_ref().map(|h| shown(h)),
            fix,
        };
        (issue, (f.file, f.span.start))
    };
    // Each finding's issue (its fix's diff, redacted) on its own: in parallel, in order, in
    // pieces a core that finished its fix run can take while the other run goes on (each piece
    // redacts with a scrubber of its own, whose cache of lines starts empty: for a few findings
    // that costs more than it saves).
    let issues: Vec<(Issue, (usize, usize))> = if findings.len() > PARALLEL_ISSUES {
        use rayon::prelude::*;
        findings.par_iter().with_min_len(PARALLEL_ISSUES / 2).map_init(|| scrubber.fresh(), issue).collect()
    } else {
        findings.iter().map(|f| issue(&mut scrubber, f)).collect()
    };
    (issues, scrubber)
}

/// `issues` (each with where its finding is) in order of priority, rule and place.
fn sorted(mut issues: Vec<(Issue, (usize, usize))>) -> Vec<Issue> {
    issues.sort_by(|(a, at), (b, bt)| (a.priority, a.rule, at).cmp(&(b.priority, b.rule, bt)));
    issues.into_iter().map(|(i, _)| i).collect()
}

/// More findings than this have their issues built on the thread pool, in pieces of at least
/// half as many.
const PARALLEL_ISSUES: usize = 16;

/// The units the scores count services of: the services that run in production (every
/// service of a stack without a production configuration), names sorted, each once.
fn scored_units(stack: &Stack) -> Vec<&str> {
    let production = stack.configs.iter().any(|c| c.is_production());
    let mut units: Vec<&str> = stack
        .configs
        .iter()
        .filter(|c| c.is_production() || !production)
        .flat_map(|c| &c.services)
        .map(|s| s.name.as_str())
        .collect();
    units.sort_unstable();
    units.dedup();
    units
}

/// The scores (each area's, in [`score::AREAS`] order, and overall) of `stack` with `findings`:
/// those of its scored units and of the stack itself; `None` for a stack with no service (no
/// unit to score).
fn score_of<'a>(stack: &Stack, findings: impl Iterator<Item = &'a Finding>) -> Option<([u32; 7], u32)> {
    let units = scored_units(stack);
    if units.is_empty() {
        return None;
    }
    let area_of = |f: &Finding| rules::by_id(f.rule).map_or(Area::Deployment, |r| r.meta().area);
    let counted = |f: &&Finding| f.service.as_deref().is_none_or(|s| units.binary_search(&s).is_ok());
    let scored = findings.filter(counted).map(|f| score::Scored {
        area: area_of(f),
        severity: f.severity,
        service: f.service.as_deref(),
    });
    Some(score::scores(units.len(), scored))
}

/// The files the fixes' diffs are made on, each read and line-indexed once (`None`: a file
/// the fix creates), with its name in the diff headers (see [`crate::fix::diff::patch_name`]).
type Originals = HashMap<std::path::PathBuf, (Option<crate::yaml::source::Source>, String)>;

/// The fix's replacements as a unified diff of each file it changes (files in the order the
/// replacements name them), made on the lines around them; `None` without replacements, or
/// when they do not fit the file.
fn diff_of(originals: &Originals, replacements: &[rules::Replacement]) -> Option<String> {
    if replacements.is_empty() {
        return None;
    }
    let mut paths: Vec<&std::path::Path> = Vec::new();
    for r in replacements {
        if !paths.contains(&r.path.as_path()) {
            paths.push(&r.path);
        }
    }
    let mut out = String::new();
    for path in paths {
        let (source, name) = originals.get(path)?;
        let ours: Vec<&rules::Replacement> = replacements.iter().filter(|r| r.path == path).collect();
        let Some(source) = source.as_ref() else {
            // A new file: the replacements are its whole text.
            let after: String = ours.iter().map(|r| r.text.as_str()).collect();
            out.push_str(&crate::fix::diff::unified_named(name, None, &after));
            continue;
        };
        let text = source.text();
        let offset = |(line, col): (usize, usize)| -> Option<usize> {
            let start = source.line_start(line.checked_sub(1)?);
            let rest = text.get(start..)?;
            let within = rest.char_indices().nth(col.checked_sub(1)?).map_or(rest.len(), |(i, _)| i);
            Some(start + within)
        };
        let mut spans: Vec<(usize, usize, &str)> = Vec::new();
        for r in ours {
            spans.push((offset(r.start)?, offset(r.end)?, r.text.as_str()));
        }
        spans.sort_by_key(|&(start, end, _)| (start, end));
        if spans.windows(2).any(|w| w[1].0 < w[0].1) || spans.iter().any(|&(s, e, _)| e < s || e > text.len()) {
            return None;
        }
        out.push_str(&crate::fix::diff::unified_spans(name, text, source, &spans));
    }
    Some(out)
}

/// A file a fix's diff is made on: its text as the stack holds it (or as read; `None` for one
/// the fix creates), line-indexed, and its name in the diff headers.
fn original(
    stack: &Stack,
    path: &std::path::Path,
    names: &mut crate::fix::diff::PatchNames,
) -> (Option<crate::yaml::source::Source>, String) {
    let file = stack.file_by_key(&crate::stack::FileKey::new(path));
    let display = file.map_or_else(|| shown(stack, path), |f| f.display.clone());
    let text = match file {
        Some(f) => Some(f.source().text().to_string()),
        None => crate::stack::load::read_text(path).ok(),
    };
    (text.map(crate::yaml::source::Source::new), names.name(path, &display))
}

/// A file the stack does not hold (one a fix creates), named like the stack's files: relative to
/// the directory of its first file when inside it.
fn shown(stack: &Stack, path: &std::path::Path) -> String {
    let resolve = crate::stack::load::resolve;
    let base = stack.files.first().and_then(|f| {
        let dir = resolve(f.path.parent()?)?;
        let shown_dir = std::path::Path::new(&f.display).parent()?;
        Some((dir, shown_dir.to_path_buf()))
    });
    let real = resolve(path).unwrap_or_else(|| path.to_path_buf());
    match base.and_then(|(dir, shown_dir)| real.strip_prefix(&dir).ok().map(|rest| shown_dir.join(rest))) {
        Some(p) => p.to_string_lossy().into_owned(),
        None => path.to_string_lossy().into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_rendered_for_other_stacks_change_no_report() {
        use crate::fix::FixOptions;
        use crate::stack::{LoadOptions, Profiles};
        // Every directory of the seed stacks holding a compose file.
        fn stacks(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for path in std::fs::read_dir(dir).unwrap().filter_map(|e| Some(e.ok()?.path())) {
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                if path.is_dir() {
                    stacks(&path, out);
                } else if name.starts_with("docker-compose") && name.ends_with(".yml") {
                    out.push(dir.to_path_buf());
                }
            }
        }
        let mut dirs = Vec::new();
        stacks(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/stacks"), &mut dirs);
        dirs.sort();
        dirs.dedup();
        assert!(dirs.len() >= 5, "{dirs:?}");
        let settings = rules::RuleSettings::default();
        let memory = FixOptions { sets: vec![(None, "memory".into(), "1G".into())], ..FixOptions::default() };
        let runs = [FixOptions::default(), memory];
        let report = |dir: &std::path::Path, options: &FixOptions| {
            let load = LoadOptions::new(dir.to_path_buf(), Vec::new(), Profiles::builtin());
            let stack = crate::stack::load(&load);
            markdown::render(&evaluate(&stack, &load, &settings, options, "x").unwrap())
        };
        // One process reporting on every stack with each option set, fragments shared throughout…
        let warm: Vec<String> = runs.iter().flat_map(|o| dirs.iter().map(move |d| report(d, o))).collect();
        // …writes what each report writes from nothing rendered.
        let cold: Vec<String> = runs
            .iter()
            .flat_map(|o| {
                dirs.iter().map(move |d| {
                    crate::fix::render::Renderer::forget_built_in_fragments();
                    report(d, o)
                })
            })
            .collect();
        assert_eq!(warm.len(), cold.len());
        for (w, c) in warm.iter().zip(&cold) {
            assert_eq!(w, c);
        }
        // The parameter reached the reports.
        assert_ne!(warm[0], warm[dirs.len()]);
    }

    /// A fix `check` offers that the unsafe run skips (a redis setting sized from the memory limit
    /// its fix adds, while a `--set` changes that limit and the limits rule is off): `evaluate`,
    /// which builds the issues while the runs go on, gives the report that the same steps made
    /// one after the other give, and the issue says why it has no fix.
    #[test]
    fn issues_of_fixes_the_run_skips_match_the_sequential_assessment() {
        use crate::fix::{propose_from, run_loaded, settle_with, FirstPlans, FixOptions};
        use crate::stack::{LoadOptions, Profiles};
        let dir = tempfile::tempdir().unwrap();
        let compose = "services:\n  redis:\n    image: redis:7.2\n    restart: unless-stopped\n  db:\n    image: \
                       postgres:16\n    restart: unless-stopped\n    environment:\n      POSTGRES_PASSWORD: s3cretpw99\n";
        std::fs::write(dir.path().join("docker-compose.yml"), compose).unwrap();
        let load = LoadOptions::new(dir.path().to_path_buf(), Vec::new(), Profiles::builtin());
        let stack = crate::stack::load(&load);
        let settings = rules::RuleSettings { ignore: vec!["no-resource-limits".into()], ..Default::default() };
        let options = FixOptions { sets: vec![(None, "memory".into(), "1G".into())], ..FixOptions::default() };
        let got = evaluate(&stack, &load, &settings, &options, "x").unwrap();
        // The same, one step after the other.
        let (mut findings, silenced) = rules::check_counting_silenced(&stack, &settings);
        let every = FixOptions { unsafe_fixes: true, ..options.clone() };
        let all = run_loaded(&load, &settings, &every, &stack, &findings, FirstPlans::Keep).unwrap();
        let safe = run_loaded(&load, &settings, &options, &stack, &findings, FirstPlans::Drop).unwrap();
        assert!(!all.skipped.is_empty(), "the run skips a fix");
        let offered = findings.iter().filter(|f| f.fix.is_some()).count();
        propose_from(&stack, &load.dir, &every, &all, &mut findings).unwrap();
        settle_with(&all.skipped, &mut findings);
        assert!(findings.iter().filter(|f| f.fix.is_some()).count() < offered);
        let fixes = Fixes { safe: (safe.stack(&stack), &safe.remaining), all: (all.stack(&stack), &all.remaining) };
        let want = assess(&stack, &findings, "x", &settings, &fixes, &silenced);
        assert_eq!(markdown::render(&got), markdown::render(&want));
        assert_eq!(json(std::slice::from_ref(&got), &[]), json(&[want], &[]));
        // The skipped fix's issue has none, and says why; the password's keeps its fix.
        let redis = got.issues.iter().find(|i| i.service.as_deref() == Some("redis") && i.rule != "no-healthcheck");
        let redis = redis.unwrap_or_else(|| panic!("{:?}", got.issues));
        assert!(redis.fix.is_none(), "{redis:?}");
        assert!(redis.help.as_deref().is_some_and(|h| h.contains("no fix: its settings are sized")), "{redis:?}");
        assert!(got.issues.iter().any(|i| i.rule == "hardcoded-secret" && i.fix.is_some()), "{:?}", got.issues);
    }

    #[test]
    fn priorities_follow_severity_then_area() {
        assert_eq!(Priority::of(Severity::Error, Area::Security), Priority::Critical);
        assert_eq!(Priority::of(Severity::Error, Area::DataProtection), Priority::Critical);
        assert_eq!(Priority::of(Severity::Error, Area::Resources), Priority::High);
        assert_eq!(Priority::of(Severity::Warning, Area::Security), Priority::High);
        assert_eq!(Priority::of(Severity::Warning, Area::Edge), Priority::Medium);
        assert_eq!(Priority::of(Severity::Info, Area::Security), Priority::Low);
        assert!(Priority::Critical < Priority::Low);
    }

    #[test]
    fn secrets_are_redacted_longest_first() {
        let secrets = vec!["abc".to_string(), "abcdef".to_string()];
        let scrubber = scrub::Scrubber::new(&secrets);
        assert_eq!(scrubber.text("x: abcdef y abc\n"), "x: <redacted> y <redacted>\n");
        assert_eq!(scrubber.text("nothing"), "nothing");
    }
}
