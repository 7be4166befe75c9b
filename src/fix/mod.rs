//! The fix engine: findings' symbolic fixes rendered from templates, lowered to YAML patches on
//! the current text, applied in memory pass after pass until nothing changes, and verified before
//! anything is written: every file parses, its meaning changed only where the fixes aimed, every
//! comment survived, each fixed finding is gone, and a further pass changes nothing.

pub mod diff;
mod lift;
mod propose;
pub mod render;
mod verify;
pub mod write;

pub use propose::{propose, propose_from, propose_with, settle, settle_with};

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::fix::render::template as tpl;
use crate::rules::{self, Applicability, EditOp, Finding, Fix, FixEdit, RuleSettings, Site, Target};
use crate::stack::load::read_text;
use crate::stack::{self, FileId, FileKey, LoadOptions, ProjectFs, Stack};
use crate::yaml::emit::Fragment;
use crate::yaml::patch::key_text;
use crate::yaml::route::route_to;
use crate::yaml::route::Segment;
use crate::yaml::{splices, NodeKind, Op, Patch, Route, Splice};
use render::{Renderer, TemplateId};

/// Passes before the engine gives up: fixes enable each other (a health check, then the
/// dependency condition that waits for it), but never this many times.
const MAX_PASSES: usize = 10;

/// Where production-only settings go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Placement {
    /// The production overlay when the configuration has one, else the base.
    #[default]
    Auto,
    /// Always where the service is defined.
    Base,
}

/// How to fix.
#[derive(Debug, Clone, Default)]
pub struct FixOptions {
    /// Also apply fixes that change behaviour.
    pub unsafe_fixes: bool,
    /// Only fix these services (all when empty).
    pub services: Vec<String>,
    /// Template parameters: (service or none for all, key, value).
    pub sets: Vec<(Option<String>, String, String)>,
    pub into: Placement,
    /// A directory whose templates replace the built-in ones by name.
    pub templates: Option<PathBuf>,
    /// Bootstrap: the production overlay every fix goes into. The other compose files are not
    /// changed: an edit of one of their services is written into the overlay instead, as compose
    /// merges it.
    pub production_file: Option<PathBuf>,
    /// Write a comment naming the rule above what each fix adds (so a person reviewing a
    /// bootstrapped file knows why each setting is there).
    pub explain: bool,
    /// Rules whose findings are reported but not fixed.
    pub report_only: Vec<String>,
    /// Only the fixes of these (rule, service) pairs (all when `None`): the ones a person picked.
    pub only: Option<Vec<(String, Option<String>)>>,
    /// The run covers several stacks, so a service named in `services` or `sets` need only be in
    /// one of them (the caller checked it is): a stack without it is not an error.
    pub services_in_any_stack: bool,
    /// Render each change's unified diff ([`diff::unified`]) into [`Outcome::diffs`], for a caller
    /// that shows them (`fix --diff`, JSON output): rendered on another core while the fixed
    /// texts are loaded again to be checked, rather than after the run.
    pub diffs: bool,
}

/// A file the fixes change or create.
#[derive(Debug, Clone)]
pub struct FileChange {
    pub path: PathBuf,
    pub display: String,
    /// `None` for a new file.
    pub before: Option<String>,
    pub after: String,
}

/// A fix that was applied.
#[derive(Debug, Clone)]
pub struct Applied {
    key: FindingKey,
    pub rule: &'static str,
    pub service: Option<String>,
    /// The message of the finding it fixes.
    pub message: String,
    /// Where the finding was (`file:line`) in the files as they were; for a finding on what
    /// another fix of the run added (a service it added), where that is in the files as fixed.
    pub location: String,
    pub title: String,
    pub applicability: Applicability,
}

/// A fix that was not applied, and why.
#[derive(Debug, Clone)]
pub struct Skipped {
    pub rule: &'static str,
    pub service: Option<String>,
    pub message: String,
    pub reason: String,
}

/// What a fix run produced.
#[derive(Debug)]
pub struct Outcome {
    pub changes: Vec<FileChange>,
    pub applied: Vec<Applied>,
    pub skipped: Vec<Skipped>,
    /// The stack as fixed (in memory) and its findings: what is left for a person.
    pub stack: Stack,
    pub remaining: Vec<Finding>,
    pub passes: usize,
    /// The services the fixes add (a backup job, an exporter, an Alertmanager), sorted: in some
    /// configuration of the fixed stack and in none of the stack as it was.
    pub added_services: Vec<String>,
    /// Each change's unified diff, in the order of `changes`, when the run was asked for them
    /// ([`FixOptions::diffs`]); empty otherwise. Read through [`Outcome::diff`].
    diffs: Vec<RenderedDiff>,
}

/// A change's unified diff as a run rendered it, with a hash of the texts it was rendered from
/// ([`texts_hash`]), to tell a change a caller replaced since.
type RenderedDiff = (u64, String);

/// A hash of a change's texts (its path, before and after).
fn texts_hash(change: &FileChange) -> u64 {
    std::hash::BuildHasher::hash_one(
        &foldhash::fast::FixedState::default(),
        (&change.path, &change.before, &change.after),
    )
}

impl Outcome {
    /// The unified diff of `changes[i]` ([`diff::unified`]): the one the run rendered, else (not
    /// asked for, or a change a caller added or replaced since) rendered now.
    pub fn diff(&self, i: usize) -> std::borrow::Cow<'_, str> {
        let change = &self.changes[i];
        match self.diffs.get(i) {
            Some((texts, diff)) if *texts == texts_hash(change) => diff.as_str().into(),
            _ => diff::unified(change).into(),
        }
    }
}

#[derive(Debug)]
pub enum FixError {
    /// The stack does not load cleanly; nothing is fixed in files that do not parse.
    Input(Vec<stack::LoadError>),
    Template(String),
    /// A parameter names a service the stack does not have.
    Parameter(String),
    /// The fixes kept changing the stack: a bug, and nothing is written.
    NoConvergence(usize),
    /// Verification kept rejecting fixes after several rounds: a bug, and nothing is written.
    Unverified(Vec<String>),
}

impl fmt::Display for FixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FixError::Input(errors) => {
                write!(f, "the stack does not load; fix these first:")?;
                for e in errors {
                    write!(f, "\n  {e}")?;
                }
                Ok(())
            }
            FixError::Template(e) | FixError::Parameter(e) => write!(f, "{e}"),
            FixError::NoConvergence(n) => {
                write!(f, "internal error: fixes did not converge after {n} passes; nothing was written")
            }
            FixError::Unverified(reasons) => {
                write!(f, "internal error: fixes kept failing verification; nothing was written")?;
                for r in reasons {
                    write!(f, "\n  {r}")?;
                }
                Ok(())
            }
        }
    }
}

/// The form of a template parameter's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// Bytes with an optional unit (`512M`, `1gb`, `1GiB`), as compose reads memory sizes
    /// ([`crate::stack::units::ram_in_bytes`]).
    Size,
    /// A positive number of CPUs (`0.5`, `2`).
    Cpus,
    /// A positive whole number.
    Count,
    /// A Go duration (`30s`, `1m30s`, `1.5h`), as compose and Traefik read them
    /// ([`crate::stack::units::go_duration`]).
    Duration,
    /// One of a fixed set of words.
    OneOf(&'static [&'static str]),
    /// Any one-line text (a cron schedule).
    Text,
}

/// A template parameter a person may set (`--set`, `stackfix.toml`, the interactive session):
/// its name, the rules whose templates read it, its form, what it is.
#[derive(Debug)]
pub struct Parameter {
    pub name: &'static str,
    pub rules: &'static [&'static str],
    pub form: Form,
    pub about: &'static str,
}

/// Every parameter a person may set; any other key is refused, so a value never reaches a
/// template that happens to use the same name for something else.
pub const PARAMETERS: &[Parameter] = &[
    Parameter { name: "memory", rules: &["no-resource-limits"], form: Form::Size, about: "memory limit, at least 6M" },
    Parameter { name: "cpus", rules: &["no-resource-limits"], form: Form::Cpus, about: "CPU limit" },
    Parameter {
        name: "reservation_memory",
        rules: &["no-resource-limits"],
        form: Form::Size,
        about: "memory reservation, at least 6M",
    },
    Parameter { name: "reservation_cpus", rules: &["no-resource-limits"], form: Form::Cpus, about: "CPU reservation" },
    Parameter {
        name: "average",
        rules: &["traefik-no-rate-limit", "no-reverse-proxy"],
        form: Form::Count,
        about: "Traefik rate limit: requests per period",
    },
    Parameter {
        name: "burst",
        rules: &["traefik-no-rate-limit", "no-reverse-proxy"],
        form: Form::Count,
        about: "Traefik rate limit: burst",
    },
    Parameter {
        name: "period",
        rules: &["traefik-no-rate-limit", "no-reverse-proxy"],
        form: Form::Duration,
        about: "Traefik rate limit: period",
    },
    Parameter { name: "interval", rules: &["no-healthcheck"], form: Form::Duration, about: "health check interval" },
    Parameter { name: "timeout", rules: &["no-healthcheck"], form: Form::Duration, about: "health check timeout" },
    Parameter {
        name: "start_period",
        rules: &["no-healthcheck"],
        form: Form::Duration,
        about: "health check start period",
    },
    Parameter { name: "retries", rules: &["no-healthcheck"], form: Form::Count, about: "health check retries" },
    Parameter {
        name: "test",
        rules: &["no-healthcheck"],
        form: Form::Text,
        about: "health check command, run with the image's shell",
    },
    Parameter { name: "schedule", rules: &["no-backup"], form: Form::Text, about: "backup schedule (cron)" },
    Parameter { name: "keep_days", rules: &["no-backup"], form: Form::Count, about: "daily backups kept" },
    Parameter { name: "keep_weeks", rules: &["no-backup"], form: Form::Count, about: "weekly backups kept" },
    Parameter { name: "keep_months", rules: &["no-backup"], form: Form::Count, about: "monthly backups kept" },
    Parameter { name: "max_size", rules: &["no-log-rotation"], form: Form::Size, about: "json-file log size" },
    Parameter { name: "max_file", rules: &["no-log-rotation"], form: Form::Count, about: "json-file logs kept" },
    Parameter {
        name: "policy",
        rules: &["no-restart-policy"],
        form: Form::OneOf(&["no", "always", "on-failure", "unless-stopped"]),
        about: "restart policy",
    },
];

/// A fix's title, followed by the `--set` parameters its rule reads for its service, which the
/// title (written from the defaults) does not show: `…, with --set memory=3G`.
fn with_sets_named(title: &str, options: &FixOptions, rule: &str, service: Option<&str>) -> String {
    let given: Vec<String> = options
        .sets
        .iter()
        .filter(|(only, key, _)| {
            parameter(key).is_some_and(|p| p.rules.contains(&rule)) && (only.is_none() || only.as_deref() == service)
        })
        .map(|(_, key, value)| format!("{key}={value}"))
        .collect();
    match given.is_empty() {
        true => title.to_string(),
        false => format!("{title}, with --set {}", given.join(" ")),
    }
}

/// The smallest memory limit or reservation Docker accepts, in bytes: moby refuses less
/// ("Minimum memory limit allowed is 6MB", "Minimum memory reservation allowed is 6MB";
/// `linuxMinMemory` in moby's daemon/daemon_unix.go).
pub const DOCKER_MIN_MEMORY: u64 = 6 * 1024 * 1024;

/// The declared parameter `key`.
pub fn parameter(key: &str) -> Option<&'static Parameter> {
    PARAMETERS.iter().find(|p| p.name == key)
}

/// Checks a template parameter a person sets (`--set`, the interactive session): the key must be
/// a declared [`Parameter`] (else the error names the closest one) and the value of its form.
pub fn check_parameter(key: &str, value: &str) -> Result<(), String> {
    let Some(parameter) = parameter(key) else {
        let names: Vec<&str> = PARAMETERS.iter().map(|p| p.name).collect();
        let closest = did_you_mean(names.iter().copied(), key);
        return Err(format!("unknown parameter `{key}`{closest}; the fixes take {}", names.join(", ")));
    };
    let number = |s: &str| !s.is_empty() && s.parse::<f64>().is_ok_and(|n| n > 0.0 && n.is_finite());
    let (ok, example) = match parameter.form {
        Form::Size => {
            (crate::stack::units::ram_in_bytes(value).is_ok_and(|bytes| bytes > 0), "512M, 1gb or 1GiB".to_string())
        }
        Form::Cpus => (number(value), "0.5 or 2".to_string()),
        Form::Count => (value.parse::<u64>().is_ok_and(|n| n > 0), "100".to_string()),
        Form::Duration => {
            (crate::stack::units::go_duration(value).is_ok_and(|d| !d.is_zero()), "30s or 1m30s".to_string())
        }
        Form::OneOf(words) => (words.contains(&value), words.join(", ")),
        Form::Text => (!value.is_empty() && !value.contains(['\n', '\r']), "@daily".to_string()),
    };
    if !ok {
        return Err(format!("`{value}` is not a valid {key} ({}; e.g. {example})", parameter.about));
    }
    Ok(())
}

/// [`check_parameter`], and what Docker accepts beyond the form (which the configuration schema
/// describes): a memory limit or reservation of at least [`DOCKER_MIN_MEMORY`].
pub fn check_setting(key: &str, value: &str) -> Result<(), String> {
    check_parameter(key, value)?;
    let memory = matches!(key, "memory" | "reservation_memory");
    if memory && crate::stack::units::ram_in_bytes(value).is_ok_and(|bytes| bytes < DOCKER_MIN_MEMORY) {
        return Err(format!("{key} `{value}` is below 6M, the least Docker accepts (it refuses the container)"));
    }
    Ok(())
}

/// Identifies a finding across passes and attempts: its rule, file and service, where in the
/// file it is (the route of the entry it is reported at, which lines inserted elsewhere do not
/// move), and its rank among the rule's findings at that place. The message only labels it (a
/// message may change as other fixes apply); in a file that is not YAML it stands for the place.
#[derive(Debug, Clone)]
pub(crate) struct FindingKey {
    pub(crate) rule: &'static str,
    pub(crate) file: Arc<str>,
    pub(crate) service: Option<Arc<str>>,
    /// A hash of the route of the entry it is reported at ([`crate::yaml::route::route_hash_at`]),
    /// or of its message in a file that is not YAML.
    at: u64,
    rank: usize,
    /// Shared by every copy of the key (a fix's key is kept with each route it aims at).
    pub(crate) message: Arc<str>,
}

impl PartialEq for FindingKey {
    fn eq(&self, other: &Self) -> bool {
        (self.rule, &self.file, &self.service, &self.at, self.rank)
            == (other.rule, &other.file, &other.service, &other.at, other.rank)
    }
}

impl Eq for FindingKey {}

impl std::hash::Hash for FindingKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (self.rule, &self.file, &self.service, &self.at, self.rank).hash(state);
    }
}

impl FindingKey {
    /// What identifies the finding without its rank: where it is, and what it says (as
    /// [`places_and_messages`] gives them).
    pub(crate) fn place_and_message(&self) -> (&'static str, &str, Option<&str>, u64, &str) {
        (self.rule, &self.file, self.service.as_deref(), self.at, &self.message)
    }
}

impl fmt::Display for FindingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.rule, self.file)
    }
}

/// The keys of `findings` (in order) on `stack`.
pub(crate) fn keys(stack: &Stack, findings: &[Finding]) -> Vec<FindingKey> {
    use rayon::prelude::*;
    let mut seen: rustc_hash::FxHashMap<(&'static str, FileId, Option<&str>, u64), usize> = Default::default();
    let names: Vec<Arc<str>> = stack.files.iter().map(|f| Arc::from(f.display.as_str())).collect();
    let at = |f: &Finding| place_hash(stack, f);
    let key = |(f, (at, rank)): (&Finding, (u64, usize))| FindingKey {
        rule: f.rule,
        file: names[f.file].clone(),
        service: f.service.as_deref().map(Arc::from),
        at,
        rank,
        message: Arc::from(f.message.as_str()),
    };
    // Each place is found in the tree and each key made on its own (thousands of findings in a
    // large stack: in parallel); ranks follow the findings' order.
    let parallel = findings.len() > 256;
    let places: Vec<u64> = match parallel {
        true => findings.par_iter().with_min_len(64).map(at).collect(),
        false => findings.iter().map(at).collect(),
    };
    let ranked: Vec<(u64, usize)> = findings
        .iter()
        .zip(places)
        .map(|(f, at)| {
            let rank = seen.entry((f.rule, f.file, f.service.as_deref(), at)).or_default();
            *rank += 1;
            (at, *rank - 1)
        })
        .collect();
    match parallel {
        true => findings.par_iter().zip(ranked).with_min_len(64).map(key).collect(),
        false => findings.iter().zip(ranked).map(key).collect(),
    }
}

/// Plans, applies in memory and verifies the fixes for a stack.
pub fn run(load: &LoadOptions, settings: &RuleSettings, options: &FixOptions) -> Result<Outcome, FixError> {
    // On the pool: each pass hands plans, a reload and diffs to it (see `crate::on_pool`).
    crate::on_pool(|| run_here(load, settings, options))
}

/// [`run`] on the calling thread.
fn run_here(load: &LoadOptions, settings: &RuleSettings, options: &FixOptions) -> Result<Outcome, FixError> {
    // The templates are parsed (the first time in a process) while the stack loads.
    let (renderer, original) = rayon::join(|| Renderer::new(options.templates.as_deref()), || stack::load(load));
    let renderer = renderer.map_err(FixError::Template)?;
    if !original.errors.is_empty() {
        return Err(FixError::Input(original.errors.clone()));
    }
    let (run, changes, diffs) = fix_in_memory(load, settings, options, &renderer, &original, None, FirstPlans::Drop)?;
    let InMemory { applied, skipped, remaining, passes, fixed, first_plans } = run;
    let added_services = match &fixed {
        Some(fixed) => {
            let names = |stack: &Stack| -> std::collections::BTreeSet<String> {
                stack.configs.iter().flat_map(|c| &c.services).map(|s| s.name.clone()).collect()
            };
            let before = names(&original);
            names(fixed).into_iter().filter(|n| !before.contains(n)).collect()
        }
        None => Vec::new(),
    };
    let stack = match fixed {
        Some(fixed) => {
            drop_in_background((original, first_plans));
            fixed
        }
        None => {
            drop_in_background(first_plans);
            original
        }
    };
    Ok(Outcome { changes, applied, skipped, stack, remaining, passes, added_services, diffs })
}

/// Frees `value` on the thread pool rather than in the caller: a large stack, or a pass's
/// thousands of findings with their fixes, takes milliseconds to free that the caller need not
/// wait for.
pub(crate) fn drop_in_background<T: Send + 'static>(value: T) {
    rayon::spawn(move || drop(value));
}

/// What a fix run leaves, in memory: [`Outcome`] without the file changes, on a stack the caller
/// keeps.
#[derive(Debug)]
pub struct InMemory {
    pub applied: Vec<Applied>,
    pub skipped: Vec<Skipped>,
    /// The findings of the stack as fixed: what is left for a person.
    pub remaining: Vec<Finding>,
    pub passes: usize,
    /// The stack as fixed; `None` when no fix changed it.
    pub fixed: Option<Stack>,
    /// Each finding's fix as the first pass planned it alone on the files as they are (in the
    /// order of the findings the run was given; `None` for a finding without one planned).
    /// Empty unless the run was asked to keep them ([`FirstPlans::Keep`]).
    first_plans: Vec<Option<Arc<FixPlan>>>,
}

impl InMemory {
    /// The stack as fixed: `original` (the stack the run was made on) when nothing changed.
    pub fn stack<'a>(&'a self, original: &'a Stack) -> &'a Stack {
        self.fixed.as_ref().unwrap_or(original)
    }
}

/// What a run made in memory does with each fix as its first pass planned it alone: keeps,
/// drops or hands on.
#[derive(Clone, Copy)]
pub enum FirstPlans<'a> {
    /// Kept, for [`propose_from`]'s per-fix diffs (a copy of every plan).
    Keep,
    /// Dropped: a caller that shows no per-fix diff does without the copy.
    Drop,
    /// Handed to the function as soon as the first pass has planned them, for per-fix diffs made
    /// while the run goes on (`stackfix report` hands them to [`propose_with`]); the run keeps
    /// none. The function is called at most once (never by a run that fails before its first
    /// pass plans), on the run's thread: it should hand its work on (`rayon::Scope::spawn`)
    /// rather than hold the run up.
    Hand(&'a (dyn Fn(FirstPass) + Sync)),
}

/// Each fix of a run's first pass as that pass planned it alone, on the files as they are: one
/// entry per finding the run started from, in their order (`None`: no plan, for a finding
/// without a fix, one not wanted, or one that cannot be planned alone).
#[derive(Debug, Clone, Default)]
pub struct FirstPass(Vec<Option<Arc<FixPlan>>>);

/// Where an attempt puts its first pass's plans.
enum Record<'a> {
    Keep(&'a mut Option<Vec<Option<Arc<FixPlan>>>>),
    Hand(&'a (dyn Fn(FirstPass) + Sync)),
}

/// [`run`] on a stack already loaded without errors from `load`, whose findings with `settings`
/// are `findings` (as [`rules::check`] gives them, fixes with their edits): the first pass uses
/// them rather than checking the stack again. For a caller that keeps the stack (`stackfix
/// report`, which scores what the fixes leave). `plans` says whether the run keeps its first
/// pass's plans.
///
/// # Errors
/// As [`run`].
pub fn run_loaded(
    load: &LoadOptions,
    settings: &RuleSettings,
    options: &FixOptions,
    original: &Stack,
    findings: &[Finding],
    plans: FirstPlans<'_>,
) -> Result<InMemory, FixError> {
    crate::on_pool(|| run_loaded_here(load, settings, options, original, findings, plans))
}

/// [`run_loaded`] on the calling thread.
fn run_loaded_here(
    load: &LoadOptions,
    settings: &RuleSettings,
    options: &FixOptions,
    original: &Stack,
    findings: &[Finding],
    plans: FirstPlans<'_>,
) -> Result<InMemory, FixError> {
    if !original.errors.is_empty() {
        return Err(FixError::Input(original.errors.clone()));
    }
    let renderer = Renderer::new(options.templates.as_deref()).map_err(FixError::Template)?;
    fix_in_memory(load, settings, options, &renderer, original, Some(findings), plans).map(|(run, ..)| run)
}

/// The passes, verified, from `original` (its findings `first` when the caller has them), the
/// changes they make to the files, and their diffs when `options` asks for them.
fn fix_in_memory(
    load: &LoadOptions,
    settings: &RuleSettings,
    options: &FixOptions,
    renderer: &Renderer,
    original: &Stack,
    first: Option<&[Finding]>,
    plans: FirstPlans<'_>,
) -> Result<(InMemory, Vec<FileChange>, Vec<RenderedDiff>), FixError> {
    check_services(original, options)?;
    let env = Env { dir: &load.dir, options, renderer };
    let mut excluded: HashMap<FindingKey, String> = HashMap::new();
    // A fix that fails verification is excluded and the run starts over from the original text.
    let mut last = Vec::new();
    // The first attempt's first pass: each fix planned alone on the files as they are (kept
    // here, or handed on).
    let mut first_plans: Option<Vec<Option<Arc<FixPlan>>>> = None;
    let mut record = match plans {
        FirstPlans::Keep => Some(Record::Keep(&mut first_plans)),
        FirstPlans::Drop => None,
        FirstPlans::Hand(hand) => Some(Record::Hand(hand)),
    };
    // Each round excludes at least one fix, so this ends; the cap only guards against a bug.
    for _ in 0..64 {
        let mut attempt = match attempt(load, settings, &env, original, first, &excluded, &mut record)? {
            Ok(attempt) => attempt,
            Err(broken) => {
                last = broken.iter().map(|(k, reason)| format!("{k}: {reason}")).collect();
                excluded.extend(broken);
                continue;
            }
        };
        let remaining = std::mem::take(&mut attempt.findings);
        let mut failures = verify::check(original, &attempt, &remaining);
        for (key, reason) in introduced_errors(original, &attempt, &remaining) {
            failures.entry(key).or_insert(reason);
        }
        if failures.is_empty() {
            let diffs = std::mem::take(&mut attempt.diffs);
            let Attempt { fs, applied, mut skipped, stack: fixed, passes, intended, followers, .. } = attempt;
            drop_in_background((intended, followers));
            let (edits, reads) = fs.into_edits_and_reads();
            let changes = changes(original, load, edits, &reads);
            // In the order of where the findings are, whatever order they were excluded in.
            let mut excluded: Vec<(FindingKey, String)> = excluded.into_iter().collect();
            excluded.sort_by(|(a, _), (b, _)| {
                (&a.file, a.rule, &a.service, a.at, a.rank).cmp(&(&b.file, b.rule, &b.service, b.at, b.rank))
            });
            for (k, reason) in excluded {
                skipped.push(Skipped {
                    rule: k.rule,
                    service: k.service.map(|s| s.to_string()),
                    message: k.message.to_string(),
                    reason,
                });
            }
            let first_plans = first_plans.unwrap_or_default();
            return Ok((InMemory { applied, skipped, remaining, passes, fixed, first_plans }, changes, diffs));
        }
        last = failures.iter().map(|(k, reason)| format!("{k}: {reason}")).collect();
        excluded.extend(failures);
    }
    Err(FixError::Unverified(last))
}

/// Where a splice meant to change a file.
#[derive(Debug, Clone)]
pub(crate) struct Aim {
    pub(crate) route: Route,
    /// The splice adds a key: it means to set the values it writes there, not to replace what a
    /// merge key or another file gave that key before (the verifier checks the leaves it wrote).
    pub(crate) inserted: bool,
}

impl Aim {
    fn of(splice: &Splice) -> Aim {
        let inserted = splice.adds_to.as_ref().is_some_and(|(_, key)| !key.is_empty());
        Aim { route: splice.aims.clone(), inserted }
    }
}

/// The findings left for a person by several stacks' outcomes, each with its outcome, and a
/// finding in a file two stacks share (an include) once: known by file, rule, service and message.
pub fn remaining_once<'a>(outcomes: &[&'a Outcome]) -> Vec<(&'a Outcome, &'a Finding)> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for outcome in outcomes {
        for f in &outcome.remaining {
            let id = (outcome.stack.file(f.file).key.clone(), f.rule, f.service.clone(), f.message.clone());
            if seen.insert(id) {
                out.push((*outcome, f));
            }
        }
    }
    out
}

/// Which of `findings` (checked on `stack`, the stack fix runs started from) are still open after
/// each run of `after`, each run given as the stack it left and that stack's findings: one of
/// those is of the same rule, file and service, at the same route of the file (a finding is known
/// across the run's edits by where it is, not by its line or message). Each remaining finding
/// answers for one finding. One list per run, in the order of `findings`.
pub fn still_open(stack: &Stack, findings: &[Finding], after: &[(&Stack, &[Finding])]) -> Vec<Vec<bool>> {
    let before = places(stack, findings);
    let mut answers: Vec<Vec<bool>> = Vec::with_capacity(after.len());
    for (i, &(fixed, remaining)) in after.iter().enumerate() {
        // Two runs that left the same stack (nothing unsafe to apply) answer alike.
        let same = after[..i].iter().position(|&(f, r)| std::ptr::eq(f, fixed) && std::ptr::eq(r, remaining));
        if let Some(j) = same {
            answers.push(answers[j].clone());
            continue;
        }
        let mut open: HashMap<_, usize> = HashMap::new();
        for place in places(fixed, remaining) {
            *open.entry(place).or_default() += 1;
        }
        let answer = before
            .iter()
            .map(|place| match open.get_mut(place) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    true
                }
                _ => false,
            })
            .collect();
        answers.push(answer);
    }
    answers
}

/// Where each of `findings` is on `stack`, as [`FindingKey`] knows it without its rank and
/// message: its rule, its file as shown, its service and the hash of its route (see
/// [`place_hash`]).
fn places<'a>(stack: &'a Stack, findings: &'a [Finding]) -> Vec<(&'static str, &'a str, Option<&'a str>, u64)> {
    use rayon::prelude::*;
    let place =
        |f: &'a Finding| (f.rule, stack.file(f.file).display.as_str(), f.service.as_deref(), place_hash(stack, f));
    // Thousands of findings in a large stack: their places found in parallel, as `keys` does.
    match findings.len() > 256 {
        true => findings.par_iter().with_min_len(64).map(place).collect(),
        false => findings.iter().map(place).collect(),
    }
}

/// Each of `findings` on `stack` as [`FindingKey::place_and_message`] identifies it.
pub(crate) fn places_and_messages<'a>(
    stack: &'a Stack,
    findings: &'a [Finding],
) -> impl Iterator<Item = (&'static str, &'a str, Option<&'a str>, u64, &'a str)> {
    places(stack, findings)
        .into_iter()
        .zip(findings)
        .map(|((rule, file, service, at), f)| (rule, file, service, at, f.message.as_str()))
}

/// Where a finding is, as a hash: of the route to its node in a YAML file, of its message in
/// another file.
fn place_hash(stack: &Stack, f: &Finding) -> u64 {
    match stack.file(f.file).tree.as_ref() {
        Some(tree) => crate::yaml::route::route_hash_at(tree, f.span.start),
        None => std::hash::BuildHasher::hash_one(
            &std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default(),
            &f.message,
        ),
    }
}

/// ` (did you mean `x`?)` for the candidate closest to `name`, when one is close (Jaro-Winkler
/// similarity above 0.8, as clap suggests); empty otherwise.
pub fn did_you_mean<'a>(candidates: impl Iterator<Item = &'a str>, name: &str) -> String {
    candidates
        .map(|c| (strsim::jaro_winkler(c, name), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default()
}

/// Every service the options name (`--service api`, `--set api.memory=1G`) is one of the
/// stack's: a name that matches nothing would make the run fix nothing, or less than asked.
fn check_services(stack: &Stack, options: &FixOptions) -> Result<(), FixError> {
    if options.services_in_any_stack {
        return Ok(());
    }
    let names: HashSet<&str> = stack.configs.iter().flat_map(|c| &c.services).map(|s| s.name.as_str()).collect();
    if let Some(service) = options.services.iter().find(|s| !names.contains(s.as_str())) {
        let closest = did_you_mean(names.iter().copied(), service);
        return Err(FixError::Parameter(format!("--service `{service}`: the stack has no such service{closest}")));
    }
    for (service, key, _) in &options.sets {
        let Some(service) = service.as_deref().filter(|s| !names.contains(s)) else { continue };
        let closest = did_you_mean(names.iter().copied(), service);
        return Err(FixError::Parameter(format!(
            "parameter `{service}.{key}` names service `{service}`, which the stack does not have{closest}"
        )));
    }
    Ok(())
}

/// What one run of the passes produced.
pub(crate) struct Attempt {
    /// The project's files, with the new texts.
    fs: ProjectFs,
    /// Per file, the routes the fixes aimed at and the finding each was for.
    intended: HashMap<FileKey, Vec<(Aim, FindingKey)>>,
    applied: Vec<Applied>,
    skipped: Vec<Skipped>,
    /// The stack as fixed, loaded from the new texts (none when nothing changed), and its
    /// findings.
    stack: Option<Stack>,
    findings: Vec<Finding>,
    passes: usize,
    /// Findings whose fix another finding's (the very same fix) made, by that finding: they
    /// fall with it, unless it failed for its own finding (left open).
    pub(crate) followers: HashMap<FindingKey, Vec<FindingKey>>,
    /// The diffs of the changes the passes make, as [`Outcome::diffs`] holds them, when the run
    /// was asked for them ([`FixOptions::diffs`]); empty otherwise.
    diffs: Vec<RenderedDiff>,
    /// The error findings of services on the files as they were, as (rule, service, message
    /// hash): to tell those the fixes brought ([`introduced_errors`]).
    errors_before: HashSet<(&'static str, Arc<str>, u64)>,
}

/// Runs the passes; `Ok(Err(..))` names the fixes whose combined edits broke a file (each
/// splice parses alone, so this is a bug), to be excluded from the next attempt.
fn attempt(
    load: &LoadOptions,
    settings: &RuleSettings,
    env: &Env,
    original: &Stack,
    first: Option<&[Finding]>,
    excluded: &HashMap<FindingKey, String>,
    record: &mut Option<Record<'_>>,
) -> Result<Result<Attempt, HashMap<FindingKey, String>>, FixError> {
    let options = env.options;
    let mut fs = ProjectFs::of_stack(original, env.dir);
    let mut intended: HashMap<FileKey, Vec<(Aim, FindingKey)>> = HashMap::new();
    let mut applied: Vec<Applied> = Vec::new();
    let mut skipped: Vec<Skipped> = Vec::new();
    let mut given_up: HashSet<FindingKey> = excluded.keys().cloned().collect();
    // The fixes of the previous pass and the files they edited.
    let mut previous: Vec<(FindingKey, Vec<String>)> = Vec::new();
    // Findings whose fix waited for the next pass (it conflicted with one taken).
    let mut deferred: HashSet<FindingKey> = HashSet::new();
    let mut followers: HashMap<FindingKey, Vec<FindingKey>> = HashMap::new();
    let mut errors_before = HashSet::new();
    // The edits the last pass made to each of its YAML files: the next load parses only what
    // they changed.
    let mut last_edits: std::collections::HashMap<FileKey, Vec<crate::yaml::TextEdit>> = Default::default();
    // The texts as the last pass left them, loaded again (`None`: the original), and their
    // diffs when the run shows them.
    let mut reloaded: (Option<Stack>, Vec<RenderedDiff>) = (None, Vec::new());
    // The edits each pass made to each file it changed (`None`: written whole), for where an
    // applied fix's finding is in the files as they were, or as fixed.
    let mut history: Vec<HashMap<FileKey, Option<Vec<crate::yaml::TextEdit>>>> = Vec::new();
    // Applied fixes of later passes whose finding is on text a fix of the run added: where it is
    // in the files as fixed is found when the last pass is done (index, file, offset, pass).
    let mut added_places: Vec<(usize, FileKey, usize, usize)> = Vec::new();
    for pass in 1..=MAX_PASSES {
        let (loaded, diffs) = std::mem::take(&mut reloaded);
        let current = loaded.as_ref().unwrap_or(original);
        if !current.errors.is_empty() {
            if previous.is_empty() {
                return Err(FixError::Input(current.errors.clone()));
            }
            return Ok(Err(broken_by(&previous, &current.errors)));
        }
        // The caller's findings are borrowed (copied only if they are what the run leaves).
        let findings: std::borrow::Cow<'_, [Finding]> = match (loaded.is_none(), first) {
            (true, Some(first)) => std::borrow::Cow::Borrowed(first),
            _ => std::borrow::Cow::Owned(rules::check(current, settings)),
        };
        if pass == 1 {
            errors_before = findings.iter().filter_map(error_identity).collect();
        }
        // Every fix of a pass is computed on the same texts; those that conflict with one
        // already taken wait for the next pass, as ruff does.
        let mut batch: HashMap<FileKey, Batch> = HashMap::new();
        let mut env_names: Vec<String> = Vec::new();
        let mut taken: Vec<Taken> = Vec::new();
        // Each service's fix of each rule, for a fix that would edit an anchor its users share.
        let peers: Peers = findings
            .iter()
            .filter(|f| wanted(f, options))
            .filter_map(|f| Some(((f.rule, f.service.clone()?), f)))
            .collect();
        // A fix that needs another's edits carries them itself (rules take them along), so
        // every fix stands alone here.
        let finding_keys = keys(current, &findings);
        if pass > 1 {
            // A fix put off for a conflict that the next pass no longer offers (another fix
            // changed what it needed): say so rather than leave it without a word.
            for (finding, key) in findings.iter().zip(&finding_keys) {
                if finding.fix.is_none() && deferred.remove(key) && given_up.insert(key.clone()) {
                    skipped.push(skip(
                        finding,
                        "another fix of this run changed what its fix needed, and none is offered now".into(),
                    ));
                }
            }
        }
        // A fix several findings share (one credential written in thousands of places is one fix
        // for all of them) is planned for the first of them, and the others follow it.
        let leaders = leaders(&findings, &finding_keys, options, &given_up);
        let led: HashSet<usize> = leaders.iter().flatten().copied().collect();
        // Every fix is planned on the same texts, so the plans are made in parallel (when there
        // are enough to outweigh handing them to the thread pool) and taken in the findings'
        // order below.
        let plan = |((finding, key), leader): ((&Finding, &FindingKey), &Option<usize>)| {
            let fix = finding
                .fix
                .as_ref()
                .filter(|_| leader.is_none() && wanted(finding, options) && !given_up.contains(key))?;
            let users_fixed = fix.anchor_users().iter().all(|u| peers.contains_key(&(finding.rule, (*u).clone())));
            users_fixed.then(|| plan_fix(env, current, &fs, finding, fix, &peers))
        };
        let mut plans: Vec<Option<Result<FixPlan, String>>> = if findings.len() > 32 {
            use rayon::prelude::*;
            findings.par_iter().zip(&finding_keys).zip(&leaders).map(plan).collect()
        } else {
            findings.iter().zip(&finding_keys).zip(&leaders).map(plan).collect()
        };
        if let Some(record) = record.take() {
            let mut recorded: Vec<Option<Arc<FixPlan>>> = Vec::with_capacity(plans.len());
            for (plan, leader) in plans.iter().zip(&leaders) {
                let own = plan.as_ref().and_then(|p| p.as_ref().ok().cloned().map(Arc::new));
                recorded.push(leader.map_or(own, |l| recorded[l].clone()));
            }
            match record {
                Record::Keep(kept) => *kept = Some(recorded),
                Record::Hand(hand) => hand(FirstPass(recorded)),
            }
        }
        // What became of each fix that others follow.
        let mut went: HashMap<usize, Went> = HashMap::new();
        for (i, ((finding, key), plan)) in
            findings.iter().zip(finding_keys).zip(&mut plans).enumerate().filter(|(_, ((f, _), _))| wanted(f, options))
        {
            let Some(fix) = &finding.fix else { continue };
            if given_up.contains(&key) {
                continue;
            }
            // A fix written once in a shared anchor changes every service reading it: all of
            // them must be in this run.
            if let Some(left_out) =
                fix.anchor_users().iter().find(|u| !peers.contains_key(&(finding.rule, (*u).clone())))
            {
                given_up.insert(key);
                skipped.push(skip(
                    finding,
                    format!(
                        "its fix edits a YAML anchor `{left_out}` also reads, and this run does not fix `{left_out}` \
                         (--service, a pick, or its fix is not applied); fix them together"
                    ),
                ));
                continue;
            }
            // A fix sized from a limit it adds (redis `maxmemory`: 75% of the memory limit) while
            // `--set` changes that limit would write numbers for another limit: it waits for the
            // pass after the limit fix, and sizes itself from the limit then written.
            if sized_from_a_set_limit(finding, fix, options) {
                let limits_fixed =
                    finding.service.as_ref().is_some_and(|s| peers.contains_key(&("no-resource-limits", s.clone())));
                if limits_fixed {
                    deferred.insert(key);
                } else {
                    given_up.insert(key);
                    skipped.push(skip(
                        finding,
                        "its settings are sized from the resource limit it adds, and --set changes that limit; fix \
                         no-resource-limits for this service in the same run, or first"
                            .into(),
                    ));
                }
                continue;
            }
            if let Some(leader) = leaders[i] {
                match went.get(&leader) {
                    Some(Went::Taken(t)) => {
                        taken.push(Taken { key, finding, fix, aimed: Vec::new(), follows: Some(*t) });
                        continue;
                    }
                    Some(Went::Deferred) => {
                        deferred.insert(key);
                        continue;
                    }
                    Some(Went::Skipped(reason)) => {
                        given_up.insert(key);
                        skipped.push(skip(finding, reason.clone()));
                        continue;
                    }
                    // Its leader went before planning: planned alone.
                    None => {}
                }
            }
            let leads = led.contains(&i);
            let plan = plan.take().unwrap_or_else(|| plan_fix(env, current, &fs, finding, fix, &peers));
            match plan {
                Ok(plan) if plan.is_empty() => {
                    given_up.insert(key);
                    let reason = "nothing to change where the fix goes; left as is".to_string();
                    if leads {
                        went.insert(i, Went::Skipped(reason.clone()));
                    }
                    skipped.push(skip(finding, reason));
                }
                Ok(plan)
                    if plan.edits.iter().all(|(path, splices)| batch.get(path).is_some_and(|b| b.has_all(splices))) =>
                {
                    // Another finding's fix makes exactly these edits (one rewrite closes both).
                    env_names.extend(plan.env_names);
                    if leads {
                        went.insert(i, Went::Taken(taken.len()));
                    }
                    taken.push(Taken { key, finding, fix, aimed: plan.aimed, follows: None });
                }
                Ok(plan) => {
                    // A splice another fix already placed (a health check a condition takes
                    // along, made by the finding of its own) is shared, not a conflict; one that
                    // adds a key another splice adds at the same place (two fixes' `deploy:`)
                    // is merged into it when the two agree on every value both write.
                    let mut merges: Vec<(FileKey, usize, usize, String)> = Vec::new();
                    let conflict = plan.edits.iter().any(|(path, splices)| {
                        let Some(b) = batch.get(path) else { return false };
                        splices.iter().enumerate().filter(|(_, s)| !b.has(s) && b.conflicts(s)).any(|(j, s)| {
                            match b.merged(s) {
                                Some((index, text)) => {
                                    merges.push((path.clone(), j, index, text));
                                    false
                                }
                                None => true,
                            }
                        })
                    });
                    // Two splices of one plan merged into the same one: not worth the care.
                    let mut targets: Vec<(&FileKey, usize)> = merges.iter().map(|(p, _, i, _)| (p, *i)).collect();
                    targets.sort_unstable();
                    targets.dedup();
                    if conflict || targets.len() < merges.len() {
                        deferred.insert(key);
                        if leads {
                            went.insert(i, Went::Deferred);
                        }
                        continue;
                    }
                    // The splices merged into placed ones, by file (few: most plans merge none).
                    let mut merged: Vec<(FileKey, usize)> = Vec::with_capacity(merges.len());
                    for (path, j, index, text) in merges {
                        batch.get_mut(&path).expect("merged into this batch").replace_text(index, text);
                        merged.push((path, j));
                    }
                    for (path, splices) in plan.edits {
                        let merged_here: Vec<usize> =
                            merged.iter().filter(|(p, _)| *p == path).map(|&(_, j)| j).collect();
                        let b = batch.entry(path).or_default();
                        for (j, s) in splices.into_iter().enumerate() {
                            if !b.has(&s) && !merged_here.contains(&j) {
                                b.add(s);
                            }
                        }
                    }
                    let aimed = plan.aimed;
                    env_names.extend(plan.env_names);
                    if leads {
                        went.insert(i, Went::Taken(taken.len()));
                    }
                    taken.push(Taken { key, finding, fix, aimed, follows: None });
                }
                Err(reason) => {
                    given_up.insert(key);
                    if leads {
                        went.insert(i, Went::Skipped(reason.clone()));
                    }
                    skipped.push(skip(finding, reason));
                }
            }
        }
        if taken.is_empty() {
            for (i, key, at, made_in) in added_places {
                let at = history[made_in - 1..].iter().try_fold(at, |at, edits| match edits.get(&key) {
                    Some(Some(edits)) => Some(offset_after(edits, at)),
                    Some(None) => None,
                    None => Some(at),
                });
                if let (Some(at), Some(file)) = (at, current.file_by_key(&key)) {
                    applied[i].location = format!("{}:{}", file.display, file.source().line_col(at).0);
                }
            }
            return Ok(Ok(Attempt {
                fs,
                intended,
                applied,
                skipped,
                findings: findings.into_owned(),
                stack: loaded,
                passes: pass,
                followers,
                diffs,
                errors_before,
            }));
        }
        let display = |key: &FileKey| current.file_by_key(key).map_or_else(|| key.to_string(), |f| f.display.clone());
        // The files each fix edits (a follower: its leader's).
        let files: Vec<Vec<String>> = taken
            .iter()
            .map(|t| match t.follows {
                Some(_) => Vec::new(),
                None => {
                    let mut files: Vec<String> = t.aimed.iter().map(|(path, _)| display(path)).collect();
                    files.sort_unstable();
                    files.dedup();
                    files
                }
            })
            .collect();
        previous = taken
            .iter()
            .zip(&files)
            .map(|(t, own)| (t.key.clone(), t.follows.map_or(own, |l| &files[l]).clone()))
            .collect();
        last_edits.clear();
        let mut made: HashMap<FileKey, Option<Vec<crate::yaml::TextEdit>>> = HashMap::new();
        for (key, Batch { splices, .. }) in batch {
            let parsed = current.file_by_key(&key).filter(|f| f.tree.is_some());
            let before = current.file_by_key(&key).map(|f| f.source().text().to_string());
            let before = before.or_else(|| fs.read(key.path()).ok()).unwrap_or_default();
            let (after, edits) = crate::yaml::patch::spliced(&before, &splices);
            made.insert(key.clone(), Some(edits.clone()));
            if parsed.is_some() {
                last_edits.insert(key.clone(), edits);
            }
            fs.edit(key, after);
        }
        if !env_names.is_empty() {
            let path = load.dir.join(".env.example");
            if let Some(current) = env_example_text(&fs, &path) {
                let text = env_example(env.renderer, current, &env_names).map_err(FixError::Template)?;
                made.insert(FileKey::new(&path), None);
                fs.edit(FileKey::new(&path), text);
            }
        }
        // The texts are loaded again, for the next pass to check; meanwhile, on the other core,
        // the fixes taken are recorded and, when the run shows diffs, the diffs are rendered
        // (kept when the next pass changes nothing more: they are the run's).
        // (After the last pass allowed, nothing is loaded: the run did not converge.)
        let reload = || {
            let edited = !fs.edits().is_empty() && pass < MAX_PASSES;
            edited.then(|| stack::load::load_edited(&with_overrides(load, fs.edits()), current, &last_edits))
        };
        let render = || -> Vec<RenderedDiff> {
            if !options.diffs || pass == MAX_PASSES {
                return Vec::new();
            }
            let (edits, reads) = fs.snapshot();
            let changes = changes(original, load, edits, &reads);
            changes.iter().map(|c| (texts_hash(c), diff::unified(c))).collect()
        };
        let record = || {
            record_taken(
                taken,
                pass,
                current,
                original,
                options,
                &history,
                Ledger {
                    applied: &mut applied,
                    intended: &mut intended,
                    followers: &mut followers,
                    added_places: &mut added_places,
                },
            )
        };
        let ((next, rendered), ()) = rayon::join(|| rayon::join(reload, render), record);
        reloaded = (next, rendered);
        history.push(made);
        // The pass's findings and plans (each fix's edits and context) are freed off the
        // path of the next pass; so is the stack it planned on.
        drop(peers);
        match findings {
            std::borrow::Cow::Owned(findings) => drop_in_background((findings, plans, loaded)),
            std::borrow::Cow::Borrowed(_) => drop_in_background((plans, loaded)),
        }
    }
    Err(FixError::NoConvergence(MAX_PASSES))
}

/// Where [`record_taken`] records a pass's fixes: the run's, kept by [`attempt`].
struct Ledger<'l> {
    applied: &'l mut Vec<Applied>,
    intended: &'l mut HashMap<FileKey, Vec<(Aim, FindingKey)>>,
    followers: &'l mut HashMap<FindingKey, Vec<FindingKey>>,
    /// Applied fixes of later passes whose finding is on text a fix of the run added: (index in
    /// `applied`, file, offset in the text the pass was made on, pass).
    added_places: &'l mut Vec<(usize, FileKey, usize, usize)>,
}

/// What a pass's fixes taken are, recorded once their edits are made: each fix's aims, the
/// followers of each leader, and each fix as [`Applied`], located in the files as they were (or,
/// on what a fix of the run added, in `added_places`, found when the last pass is done).
fn record_taken(
    taken: Vec<Taken<'_>>,
    pass: usize,
    current: &Stack,
    original: &Stack,
    options: &FixOptions,
    history: &[HashMap<FileKey, Option<Vec<crate::yaml::TextEdit>>>],
    ledger: Ledger<'_>,
) {
    let Ledger { applied, intended, followers, added_places } = ledger;
    let leader_keys: Vec<Option<FindingKey>> = taken.iter().map(|t| t.follows.map(|l| taken[l].key.clone())).collect();
    for (Taken { key, finding, fix, aimed, .. }, leader) in taken.into_iter().zip(leader_keys) {
        if let Some(leader) = leader {
            followers.entry(leader).or_default().push(key.clone());
        }
        for (path, aim) in aimed {
            intended.entry(path).or_default().push((aim, key.clone()));
        }
        // Where the finding was in the files as they were; on what a fix of the run added,
        // where that is in the files as fixed (below, once the last pass is done).
        let file = current.file(finding.file);
        let was =
            history[..pass - 1].iter().rev().try_fold(finding.span.start, |at, edits| match edits.get(&file.key) {
                Some(Some(edits)) => offset_before(edits, at),
                Some(None) => None,
                None => Some(at),
            });
        let line = match was.and_then(|at| Some(original.file_by_key(&file.key)?.source().line_col(at).0)) {
            Some(line) => line,
            None => {
                added_places.push((applied.len(), file.key.clone(), finding.span.start, pass));
                current.line_col(finding.file, finding.span.start).0
            }
        };
        applied.push(Applied {
            key,
            rule: finding.rule,
            service: finding.service.clone(),
            message: finding.message.clone(),
            location: format!("{}:{line}", file.display),
            title: with_sets_named(&fix.title, options, finding.rule, finding.service.as_deref()),
            applicability: fix.applicability,
        });
    }
}

/// A finding's identity across a run's passes for [`introduced_errors`]: (rule, service, hash of
/// the message), for an error of a service.
fn error_identity(f: &Finding) -> Option<(&'static str, Arc<str>, u64)> {
    if f.severity != rules::Severity::Error {
        return None;
    }
    let hash = std::hash::BuildHasher::hash_one(&foldhash::fast::FixedState::default(), &f.message);
    Some((f.rule, Arc::from(f.service.as_deref()?), hash))
}

/// The fixes of a rule applied to a service of the original stack that leave it with an error
/// finding of that rule it did not have (a memory limit under what the server is set to use), each
/// with why: a fix must not trade one error for another. Only the rule's own fix is held to it (a
/// finding another fix's edit reworded is not pinned on fixes that did not make it). Errors of
/// services the fixes add are theirs to report, not a fix's fault.
fn introduced_errors(original: &Stack, attempt: &Attempt, remaining: &[Finding]) -> Vec<(FindingKey, String)> {
    let existed = |s: &str| original.configs.iter().any(|c| c.service(s).is_some());
    let mut out = Vec::new();
    for f in remaining {
        let Some(identity) = error_identity(f) else { continue };
        if attempt.errors_before.contains(&identity) || !existed(&identity.1) {
            continue;
        }
        let own = |a: &&Applied| a.rule == f.rule && a.service.as_deref() == Some(&*identity.1);
        for applied in attempt.applied.iter().filter(own) {
            let reason = format!("applied, it leaves `{}` with a new error ({}): {}", identity.1, f.rule, f.message);
            out.push((applied.key.clone(), reason));
        }
    }
    out
}

/// The fixes of the last pass that edited a file that no longer loads (all of them when the
/// error names no file they edited), with the error.
fn broken_by(previous: &[(FindingKey, Vec<String>)], errors: &[stack::LoadError]) -> HashMap<FindingKey, String> {
    // A service defined alike in an included file and the file including it, now defined
    // otherwise: its fixes alone are to blame.
    let alike = |e: &stack::LoadError| {
        format!(
            "with it, compose would refuse the stack ({e}): the resource is defined alike in an included file and \
             the file including it, and this fix edits one of them; edit both by hand"
        )
    };
    if let Some(e) = errors.iter().find(|e| e.message.ends_with(" conflicts with imported resource")) {
        let service = e.message.strip_prefix("services.").and_then(|r| r.split(' ').next());
        let blamed: HashMap<FindingKey, String> = previous
            .iter()
            .filter(|(key, _)| service.is_some() && key.service.as_deref() == service)
            .map(|(key, _)| (key.clone(), alike(e)))
            .collect();
        if !blamed.is_empty() {
            return blamed;
        }
    }
    let blamed = |files: &[String]| errors.iter().find(|e| files.contains(&e.path));
    let any_named = previous.iter().any(|(_, files)| blamed(files).is_some());
    // An error in a file no fix edited (an overlay the edited base now conflicts with) that names
    // a service (`services.web.…`, "service `web`") is blamed on that service's fixes alone, when
    // it has some: the others' need not wait.
    let named_service = |key: &FindingKey| {
        key.service.as_deref().is_some_and(|service| {
            errors[0].message.contains(&format!("services.{service}."))
                || errors[0].message.contains(&format!("service `{service}`"))
        })
    };
    let by_service = !any_named && previous.iter().any(|(key, _)| named_service(key));
    previous
        .iter()
        .filter(|(key, _)| !by_service || named_service(key))
        .filter_map(|(key, files)| {
            let own = blamed(files);
            let error = own.or_else(|| (!any_named).then(|| &errors[0]))?;
            if crate::yaml::tree::is_node_limit(&error.message) {
                let reason = format!(
                    "the fixed {} would hold more than {} YAML nodes, the most stackfix reads; fix part of the \
                     stack at a time (--service, --select)",
                    error.path,
                    crate::yaml::tree::MAX_NODES
                );
                return Some((key.clone(), reason));
            }
            // An edited file that no longer loads is a bug of the patch engine; an error in a
            // file no fix edited is a conflict with what that file says.
            let reason = match own {
                // One of two definitions compose accepts only while they are alike.
                _ if error.message.ends_with(" conflicts with imported resource") => alike(error),
                Some(_) => format!("internal error: the combined edits broke the YAML ({error})"),
                None => format!("with it, compose would refuse the stack ({error})"),
            };
            Some((key.clone(), reason))
        })
        .collect()
}

/// The splices one pass makes in one file, indexed to find conflicts quickly: two splices
/// conflict when their ranges overlap, an insertion falls inside a replaced range, they add the
/// same key to the same mapping, or one adds to an empty flow collection another adds to.
#[derive(Default)]
struct Batch {
    splices: Vec<Splice>,
    /// Replaced (non-empty) ranges, start → end. No two overlap (a splice overlapping one is a
    /// conflict and is never added), so the ranges are ordered by their ends too.
    ranges: std::collections::BTreeMap<usize, usize>,
    /// Offsets of insertions.
    points: std::collections::BTreeSet<usize>,
    /// The keys splices add, by mapping.
    keys: HashMap<crate::yaml::NodeId, HashSet<String>>,
    /// Every splice by (start, end): the indexes of the splices there (their texts differ).
    placed: HashMap<(usize, usize), Vec<usize>>,
    adding: HashSet<crate::yaml::NodeId>,
    exclusive: HashSet<crate::yaml::NodeId>,
    /// The insertions that add a key, by (offset, mapping): the key and the index of the splice.
    inserting: HashMap<(usize, crate::yaml::NodeId), HashMap<String, usize>>,
    /// What [`Batch::merged`] made of each pair of texts (placed, added): the same fix made in
    /// many services merges the same texts.
    merges: std::cell::RefCell<HashMap<(String, String), Option<String>>>,
    /// The trees of texts [`Batch::merged`] parsed or made for the splice at each index (its text
    /// without the leading line break; the last two): thousands of fixes adding an entry to one
    /// new top-level `secrets:` grow one insertion, and each merge then parses again only the
    /// entries the last one added, not the whole insertion (which made the batch quadratic).
    trees: std::cell::RefCell<HashMap<usize, Vec<Arc<crate::yaml::Tree>>>>,
    /// The runs of merges that append to the splice at each index (see [`Appending`]).
    appending: std::cell::RefCell<HashMap<usize, Appending>>,
    /// What [`Batch::merged`] made last for the splice at each index, kept for when
    /// [`Batch::replace_text`] gives the splice that text: a run of appends to start, or one more
    /// append to a run.
    made: std::cell::RefCell<HashMap<usize, (String, Made)>>,
}

/// What a merge made besides its text.
enum Made {
    /// The tree of the text without its leading line break: a run of appends may start there.
    Tree(Arc<crate::yaml::Tree>),
    /// One more append to the run: the text it inserted, the keys it added, and the run's
    /// target (see [`Appending::target`]).
    Appended(String, Vec<String>, (crate::yaml::NodeId, usize)),
}

/// A run of merges into one insertion that each add new keys to the same block mapping of it,
/// and nothing else (a secret each into one new top-level `secrets:`). Each key goes after the
/// mapping's last entry, which is the last key the run added, laid out in the insertion's style
/// (which what the run adds, laid out in it, cannot change): merging into the text the last
/// merge made inserts what merging into the text the run began with inserts, where the last
/// insertion ended. So each is merged into the first text, whose tree the run keeps, and the text
/// is never parsed again (thousands of merges, each parsing what all before it added, made a
/// batch quadratic). A merge that would do anything else leaves the run.
struct Appending {
    /// The tree of the insertion's text when the run began, without its leading line break.
    base: Arc<crate::yaml::Tree>,
    /// The leading line break.
    eol: &'static str,
    /// The mapping the run adds to, and where in the base text each addition goes; set by the
    /// run's first append.
    target: Option<(crate::yaml::NodeId, usize)>,
    /// What the run inserted there so far, and the keys it added.
    inserted: String,
    keys: HashSet<String>,
}

impl Appending {
    /// Whether `text` is the insertion's text as the run made it.
    fn made(&self, text: &str) -> bool {
        let base = self.base.source.text();
        let at = self.target.map_or(base.len(), |(_, at)| at);
        let Some(rest) = text.strip_prefix(self.eol) else { return false };
        rest.len() == base.len() + self.inserted.len()
            && rest.starts_with(&base[..at])
            && rest[at..].starts_with(&self.inserted)
            && rest.ends_with(&base[at..])
    }

    /// The text of `added` (an insertion of the same key) merged into `placed`, the text the
    /// run made, with what it appended and the keys it added, when the merge only adds keys to
    /// the run's mapping; `None` otherwise.
    fn append(&self, placed: &str, added: &str) -> Option<(String, Made)> {
        // A comment of `added` would be placed by `with_comments_of`, which the run leaves to a
        // whole merge.
        let theirs = added.strip_prefix(self.eol).filter(|t| !t.contains('#'))?;
        if !self.made(placed) {
            return None;
        }
        let fragment = Fragment::parse(theirs).ok()?;
        let inner = crate::yaml::patch::merge_splices(&self.base, &Route::default(), &fragment).ok()?;
        let (node, at) = match self.target {
            Some(target) => target,
            None => {
                let first = inner.first()?;
                let node = first.adds_to.as_ref()?.0;
                // After the last entry of a block mapping (an empty flow mapping's first entry
                // is written unlike the next).
                let block = matches!(&self.base.node(node).kind, NodeKind::Mapping { flow: false, entries } if !entries.is_empty());
                block.then_some((node, first.start))?
            }
        };
        let mut keys = Vec::with_capacity(inner.len());
        let mut chunk = String::new();
        for splice in &inner {
            let (to, key) = splice.adds_to.as_ref()?;
            let fresh = !key.is_empty() && !self.keys.contains(key) && !keys.contains(key);
            if splice.start != at || splice.end != at || *to != node || splice.exclusive || !fresh {
                return None;
            }
            keys.push(key.clone());
            chunk.push_str(&splice.text);
        }
        if keys.is_empty() {
            return None;
        }
        let base = self.base.source.text();
        let mut text = String::with_capacity(placed.len() + chunk.len());
        text.push_str(self.eol);
        text.push_str(&base[..at]);
        text.push_str(&self.inserted);
        text.push_str(&chunk);
        text.push_str(&base[at..]);
        Some((text, Made::Appended(chunk, keys, (node, at))))
    }
}

impl Batch {
    fn conflicts(&self, s: &Splice) -> bool {
        // The placed range starting last before `below` (ranges do not overlap: no other can
        // reach further).
        let reaches =
            |below: usize, past: usize| self.ranges.range(..below).next_back().is_some_and(|(_, &b)| past < b);
        let in_range = if s.start < s.end {
            reaches(s.end, s.start) || self.points.range(s.start + 1..s.end).next().is_some()
        } else {
            reaches(s.start, s.start)
        };
        let same_entry = s.adds_to.as_ref().is_some_and(|(node, key)| {
            (!key.is_empty() && self.keys.get(node).is_some_and(|keys| keys.contains(key.as_str())))
                || self.exclusive.contains(node)
                || (s.exclusive && self.adding.contains(node))
        });
        in_range || same_entry
    }

    fn has_all(&self, splices: &[Splice]) -> bool {
        splices.iter().all(|s| self.has(s))
    }

    fn has(&self, s: &Splice) -> bool {
        self.placed.get(&(s.start, s.end)).is_some_and(|at| at.iter().any(|&i| self.splices[i].text == s.text))
    }

    /// The splice `s` merged into one already placed, as (its index, its new text): both insert
    /// the same new key into the same block mapping at the same place, and the values `s` writes
    /// under that key are missing from the other's or the same. `None` otherwise (a conflict).
    fn merged(&self, s: &Splice) -> Option<(usize, String)> {
        let (node, key) = s.adds_to.as_ref().filter(|(_, key)| !key.is_empty() && s.start == s.end && !s.exclusive)?;
        let index = *self.inserting.get(&(s.start, *node))?.get(key.as_str())?;
        let placed = &self.splices[index];
        let pair = (placed.text.clone(), s.text.clone());
        if let Some(made) = self.merges.borrow().get(&pair) {
            return made.clone().map(|text| (index, text));
        }
        let appended = self.appending.borrow().get(&index).and_then(|run| run.append(&placed.text, &s.text));
        if let Some((text, made)) = appended {
            self.made.borrow_mut().insert(index, (text.clone(), made));
            self.merges.borrow_mut().insert(pair, Some(text.clone()));
            return Some((index, text));
        }
        let known = self.trees.borrow().get(&index).and_then(|trees| {
            let ours = placed.text.trim_start_matches(['\r', '\n']);
            trees.iter().find(|t| t.source.text() == ours).cloned()
        });
        let made = merged_text(&placed.text, &s.text, known.as_deref());
        let made = made.map(|(text, tree)| {
            if let Some(tree) = tree {
                let tree = Arc::new(tree);
                let mut trees = self.trees.borrow_mut();
                let kept = trees.entry(index).or_default();
                kept.retain(|t| known.as_ref().is_some_and(|k| Arc::ptr_eq(k, t)));
                kept.push(tree.clone());
                self.made.borrow_mut().insert(index, (text.clone(), Made::Tree(tree)));
            }
            text
        });
        self.merges.borrow_mut().insert(pair, made.clone());
        made.map(|text| (index, text))
    }

    /// Gives the splice at `index` a new text (of the same insertion, see [`Batch::merged`]).
    fn replace_text(&mut self, index: usize, text: String) {
        let made = self.made.get_mut().remove(&index).filter(|(made, _)| *made == text);
        let appending = self.appending.get_mut();
        match made.map(|(_, made)| made) {
            Some(Made::Appended(chunk, keys, target)) => {
                if let Some(run) = appending.get_mut(&index) {
                    // The run's first append sets where the others go.
                    run.target = Some(target);
                    run.inserted.push_str(&chunk);
                    run.keys.extend(keys);
                }
            }
            Some(Made::Tree(tree)) => {
                let eol = ["\r\n", "\n"].into_iter().find(|eol| text.starts_with(eol));
                match eol {
                    Some(eol) => {
                        let run =
                            Appending { base: tree, eol, target: None, inserted: String::new(), keys: HashSet::new() };
                        appending.insert(index, run);
                    }
                    None => {
                        appending.remove(&index);
                    }
                }
            }
            None => {
                appending.remove(&index);
            }
        }
        self.splices[index].text = text;
    }

    fn add(&mut self, s: Splice) {
        self.placed.entry((s.start, s.end)).or_default().push(self.splices.len());
        if s.start < s.end {
            // Splices of one plan are not checked against each other: ranges that overlap are
            // kept as their union, which overlaps exactly what one of them overlaps.
            let (mut start, mut end) = (s.start, s.end);
            while let Some((&a, &b)) = self.ranges.range(..end).next_back().filter(|(_, &b)| start < b) {
                self.ranges.remove(&a);
                (start, end) = (start.min(a), end.max(b));
            }
            self.ranges.insert(start, end);
        } else {
            self.points.insert(s.start);
        }
        if let Some((node, key)) = &s.adds_to {
            self.adding.insert(*node);
            if !key.is_empty() {
                let keys = self.keys.entry(*node).or_default();
                if !keys.contains(key.as_str()) {
                    keys.insert(key.clone());
                }
                if s.start == s.end {
                    let inserting = self.inserting.entry((s.start, *node)).or_default();
                    if !inserting.contains_key(key.as_str()) {
                        inserting.insert(key.clone(), self.splices.len());
                    }
                }
            }
            if s.exclusive {
                self.exclusive.insert(*node);
            }
        }
        self.splices.push(s);
    }
}

/// The text of an insertion `placed` with the values of another insertion `added` of the same
/// key merged in (see [`Batch::merged`]); `None` when they differ on a value or the merge
/// would replace text. With the text, the tree of the merged text without its leading line
/// break, when made from `known` (the tree of `placed` without it, if the caller has it) by parsing
/// only what the merge added.
fn merged_text(
    placed: &str,
    added: &str,
    known: Option<&crate::yaml::Tree>,
) -> Option<(String, Option<crate::yaml::Tree>)> {
    let eol = ["\r\n", "\n"].into_iter().find(|eol| placed.starts_with(eol) && added.starts_with(eol))?;
    let (ours, theirs) = (&placed[eol.len()..], &added[eol.len()..]);
    let parsed;
    let tree = match known.filter(|t| t.source.text() == ours) {
        Some(tree) => tree,
        None => {
            parsed = crate::yaml::Tree::parse(ours.to_string()).ok()?;
            &parsed
        }
    };
    let fragment = Fragment::parse(theirs).ok()?;
    let inner = crate::yaml::patch::merge_splices(tree, &Route::default(), &fragment).ok()?;
    // Only additions: a value of `added` that differs is refused by the merge, and a rewritten
    // flow mapping is a replacement.
    if inner.iter().any(|i| i.start != i.end) {
        return None;
    }
    let (spliced, edits) = crate::yaml::patch::spliced(ours, &inner);
    let length = spliced.len();
    let merged = with_comments_of(theirs, spliced);
    // Comments put in too: the edits no longer say what changed (rare; parsed whole next time).
    let next = (merged.len() == length)
        .then(|| tree.reparse(&edits, merged.clone(), crate::yaml::tree::MAX_NODES).ok())
        .flatten();
    Some((format!("{eol}{merged}"), next))
}

/// `merged` (a fragment `theirs` was merged into) with the comment lines of `theirs` it lacks,
/// each put right above the line of `merged` that is the line `theirs` writes it above (when
/// that line is there once): a merged entry keeps every explaining comment (`# rule: title`,
/// see `FixEdit::origin`) of the fixes it comes from.
fn with_comments_of(theirs: &str, merged: String) -> String {
    let is_comment = |line: &str| line.trim_start().starts_with('#');
    let mut above: Vec<(&str, String)> = Vec::new();
    let mut pending = String::new();
    for line in theirs.split_inclusive('\n') {
        if is_comment(line) {
            if !merged.split_inclusive('\n').any(|l| l == line) {
                pending.push_str(line);
            }
        } else if !pending.is_empty() {
            above.push((line, std::mem::take(&mut pending)));
        }
    }
    let mut out = merged;
    for (line, comments) in above {
        let mut at = None;
        let mut offset = 0;
        for l in out.split_inclusive('\n') {
            if l == line {
                if at.is_some() {
                    at = None;
                    break;
                }
                at = Some(offset);
            }
            offset += l.len();
        }
        if let Some(at) = at {
            out.insert_str(at, &comments);
        }
    }
    out
}

/// Where offset `at` of a text `edits` made was in the text before them (`edits` sorted, not
/// overlapping, offsets in that text); `None` inside what they wrote.
fn offset_before(edits: &[crate::yaml::TextEdit], at: usize) -> Option<usize> {
    let mut delta: isize = 0;
    for e in edits {
        let start = e.start.checked_add_signed(delta)?;
        if at < start {
            break;
        }
        if at < start + e.len {
            return None;
        }
        delta += e.len as isize - (e.end - e.start) as isize;
    }
    at.checked_add_signed(-delta)
}

/// Where offset `at` of a text is in the text `edits` make of it (`edits` sorted, not
/// overlapping, offsets in that text): an offset inside a replaced range goes to the start of what
/// replaced it, one where text is inserted after it.
fn offset_after(edits: &[crate::yaml::TextEdit], at: usize) -> usize {
    let mut delta: isize = 0;
    for e in edits {
        if e.end <= at {
            delta += e.len as isize - (e.end - e.start) as isize;
        } else if e.start < at {
            return e.start.saturating_add_signed(delta);
        } else {
            break;
        }
    }
    at.saturating_add_signed(delta)
}

/// A fix taken into a pass's batch.
struct Taken<'a> {
    key: FindingKey,
    finding: &'a Finding,
    fix: &'a Fix,
    aimed: Vec<(FileKey, Aim)>,
    /// The fix taken earlier in the pass whose edits are this one's too (the same fix, shared):
    /// its index among those taken. Its aims are that fix's.
    follows: Option<usize>,
}

/// What became of a fix other findings share, in a pass.
enum Went {
    /// Taken: its index among those taken.
    Taken(usize),
    Deferred,
    Skipped(String),
}

/// For each finding, the earlier finding whose fix is the very same (its edits shared, not
/// copied: a credential written in many places is one fix for each place), among the fixes
/// wanted and not given up; `None` for the first of each.
fn leaders(
    findings: &[Finding],
    keys: &[FindingKey],
    options: &FixOptions,
    given_up: &HashSet<FindingKey>,
) -> Vec<Option<usize>> {
    let mut first: HashMap<*const [FixEdit], usize> = HashMap::new();
    findings
        .iter()
        .zip(keys)
        .enumerate()
        .map(|(i, (finding, key))| {
            let fix = finding.fix.as_ref().filter(|x| {
                !x.edits.is_empty()
                    && x.anchor_users().is_empty()
                    && !sized_from_a_set_limit(finding, x, options)
                    && wanted(finding, options)
                    && !given_up.contains(key)
            })?;
            match first.entry(Arc::as_ptr(&fix.edits)) {
                std::collections::hash_map::Entry::Occupied(e) => {
                    let leader = findings[*e.get()].fix.as_ref()?;
                    (leader.title == fix.title && leader.applicability == fix.applicability).then_some(*e.get())
                }
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(i);
                    None
                }
            }
        })
        .collect()
}

/// Whether `fix` (of a rule other than no-resource-limits) adds the resource limits its own
/// settings are sized from, while a `--set` of `memory` or `cpus` changes them for its service.
fn sized_from_a_set_limit(finding: &Finding, fix: &Fix, options: &FixOptions) -> bool {
    // (The settings first: most runs have none, and every fix of a pass asks.)
    options.sets.iter().any(|(service, key, _)| {
        matches!(key.as_str(), "memory" | "cpus") && (service.is_none() || *service == finding.service)
    }) && finding.rule != "no-resource-limits"
        && fix.edits.iter().any(|e| e.template.rule() == "no-resource-limits")
}

fn skip(finding: &Finding, reason: String) -> Skipped {
    Skipped { rule: finding.rule, service: finding.service.clone(), message: finding.message.clone(), reason }
}

/// The fix is allowed (applicability) and in scope (`--service`).
fn wanted(finding: &Finding, options: &FixOptions) -> bool {
    let Some(fix) = &finding.fix else { return false };
    let allowed = match fix.applicability {
        Applicability::Safe => true,
        Applicability::Unsafe => options.unsafe_fixes,
        Applicability::DisplayOnly => false,
    };
    let in_scope =
        options.services.is_empty() || finding.service.as_ref().is_some_and(|s| options.services.contains(s));
    let picked = options
        .only
        .as_ref()
        .is_none_or(|only| only.iter().any(|(rule, service)| rule == finding.rule && *service == finding.service));
    allowed && in_scope && picked && !options.report_only.iter().any(|r| r == finding.rule)
}

fn with_overrides(load: &LoadOptions, texts: &std::collections::HashMap<FileKey, String>) -> LoadOptions {
    let mut options = load.clone();
    options.overrides.retain(|path, _| !texts.contains_key(&FileKey::new(path)));
    options.overrides.extend(texts.iter().map(|(k, t)| (k.path().to_path_buf(), t.clone())));
    options
}

/// `.env.example` with `NAME=` lines for the names it lacks (created from its template).
/// The text of `.env.example` at `path` as a fix may extend it: `Some(None)` when there is none
/// (a fix creates it), `None` when one is there that cannot be read (too large, not UTF-8),
/// which is left as it is: never created anew over what it holds (its variables go
/// undocumented).
pub(crate) fn env_example_text(fs: &ProjectFs, path: &Path) -> Option<Option<String>> {
    match fs.read(path) {
        Ok(text) => Some(Some(text)),
        Err(stack::load::ReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => Some(None),
        Err(_) => None,
    }
}

fn env_example(renderer: &Renderer, current: Option<String>, names: &[String]) -> Result<String, String> {
    let mut text = match current {
        Some(t) => t,
        None => renderer.render(tpl::ENV_EXAMPLE, &serde_json::json!({}))?,
    };
    // The names set already, read once (a stack can add hundreds of thousands).
    let mut present: HashSet<String> = text
        .lines()
        .filter_map(|l| l.trim_start().split_once('=').map(|(name, _)| name.trim_end().to_string()))
        .collect();
    for name in names {
        if present.insert(name.clone()) {
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&format!("{name}=\n"));
        }
    }
    Ok(text)
}

/// A limit key, its reservation key, how to read a value, and half a limit as text.
type LimitPair = (&'static str, &'static str, fn(&str) -> Option<f64>, fn(f64) -> String);

/// What every fix of a run shares.
struct Env<'a> {
    /// The project directory.
    dir: &'a Path,
    options: &'a FixOptions,
    /// Renders and parses fragments, each template and context once (services of one kind share
    /// them, and with the built-in templates every run of the process).
    renderer: &'a Renderer,
}

/// A fix lowered to splices on the current texts.
#[derive(Debug, Default, Clone)]
struct FixPlan {
    /// Splices per file.
    edits: Vec<(FileKey, Vec<Splice>)>,
    /// The routes the splices aim at, per file.
    aimed: Vec<(FileKey, Aim)>,
    /// Names for `.env.example`.
    env_names: Vec<String>,
}

impl FixPlan {
    fn is_empty(&self) -> bool {
        self.edits.iter().all(|(_, s)| s.is_empty()) && self.env_names.is_empty()
    }
}

/// Lowers every edit of a fix to splices on the stack's current texts.
/// `fs` holds the files edited or created by earlier passes (a file created there exists).
fn plan_fix(
    env: &Env,
    stack: &Stack,
    fs: &ProjectFs,
    finding: &Finding,
    fix: &Fix,
    peers: &Peers,
) -> Result<FixPlan, String> {
    let options = env.options;
    let mut plan = FixPlan::default();
    // Each lowered edit with the comment that explains it (see `FixEdit::origin`).
    let mut lowered_edits: Vec<(FileId, Lowered, Cow<'_, str>)> = Vec::new();
    // Services a fix adds to a file, with every fragment for them: added as one entry, since
    // each fragment alone would add the service anew.
    let mut new_services: Vec<NewService> = Vec::new();
    // Bootstrap: the overlay, and the compose files it leaves as they are.
    let overlay = options.production_file.as_ref().and_then(|path| {
        let key = FileKey::new(path);
        stack.files.iter().position(|f| f.key == key)
    });
    let read_only =
        |file: FileId| overlay.is_some_and(|o| o != file) && stack.file(file).role == stack::FileRole::Compose;
    // A title is one line of a comment, whatever the names in it hold.
    let one_line = |title: &str| title.replace(|c: char| c.is_control(), " ");
    let own = format!("# {}: {}", finding.rule, one_line(&fix.title));
    let explain_with = |comment: &str, text: &str| match options.explain {
        true => format!("{comment}\n{}", text.trim_start_matches(['\n', '\r'])),
        false => text.to_string(),
    };
    for edit in fix.edits.iter() {
        // Production settings put in the base file: an edit may have its own way to go there.
        let edit = match (&edit.in_base, options.into) {
            (Some(in_base), Placement::Base) => &**in_base,
            _ => edit,
        };
        let (template, context) = (edit.template, &edit.context);
        // An edit taken along from another rule's fix is explained as that fix.
        let comment: Cow<'_, str> = match &edit.origin {
            Some(origin) => Cow::Owned(format!("# {}", one_line(origin))),
            None => Cow::Borrowed(own.as_str()),
        };
        let explained = |text: &str| explain_with(&comment, text);
        let (file, lowered) = match (&edit.target, &edit.op) {
            (Target::EnvExample, EditOp::AddName(name)) => {
                plan.env_names.push(name.clone());
                continue;
            }
            (Target::Service(site), EditOp::Merge) => {
                let (service, file) = match site {
                    Site::Definition { service, file } => (service, *file),
                    Site::Production { service, definition, overlay } => {
                        let file = match options.into {
                            Placement::Base => *definition,
                            Placement::Auto => overlay.unwrap_or(*definition),
                        };
                        (service, file)
                    }
                };
                let file = if read_only(file) { overlay.unwrap_or(file) } else { file };
                let rendered = env.render(template, context, Some(service))?;
                let route = Route::default().key("services").key(service);
                let tree = stack.file(file).tree.as_ref().ok_or("not a YAML file")?;
                if !fix.edits_anchors() {
                    refuse_shared_anchor(tree, &route)?;
                }
                if crate::yaml::route::resolve(tree, &route).is_ok() {
                    let in_place = match options.production_file {
                        None => anchor_in_place(env, stack, file, &route, &rendered, finding, fix, peers),
                        Some(_) => HashSet::new(),
                    };
                    (file, Lowered::Merge(route, explain(rendered, &explained)?, in_place))
                } else {
                    let text = rendered.source_text();
                    let parsed = Some(&rendered);
                    add_to_new_service(&mut new_services, file, service, text, parsed, &comment, &explained);
                    continue;
                }
            }
            (Target::Node { file, at }, EditOp::Append) => {
                let (_, route) = edit_route(stack, *file, at.start, false, fix, finding)?;
                let rendered = env.render(template, context, finding.service.as_deref())?;
                let items = rendered.items().ok_or_else(|| format!("template `{template}` must render a sequence"))?;
                let patches = items
                    .into_iter()
                    .map(|value| Patch { route: route.clone(), op: Op::AppendItem { value } })
                    .collect();
                (*file, Lowered::Patches(patches))
            }
            (Target::NewFile(path), EditOp::Create) => {
                let key = FileKey::new(path);
                let text = env.render_text(template, context, finding.service.as_deref())?;
                crate::yaml::Tree::parse(text.clone())
                    .map_err(|e| format!("template `{template}` rendered invalid YAML ({e})"))?;
                // The file may exist already: created by an earlier pass (for another
                // configuration of the stack), or by a person.
                let existing = fs
                    .edited(&key)
                    .or_else(|| stack.file_by_key(&key).map(|f| f.source().text()))
                    .map(str::to_string)
                    .or_else(|| fs.read(path).ok());
                match existing {
                    Some(existing) if existing == text => continue,
                    Some(_) => return Err(format!("{} already exists; not overwriting it", path.display())),
                    None if path.exists() || plan.edits.iter().any(|(p, _)| *p == key) => {
                        return Err(format!("{} already exists; not overwriting it", path.display()))
                    }
                    None => {}
                }
                if !fs.inside(path) {
                    return Err(format!("{} is outside the project; stackfix does not write there", path.display()));
                }
                plan.edits.push((key, vec![Splice::new_file(text)]));
                continue;
            }
            (Target::Root(file), EditOp::Merge) => {
                let file = if read_only(*file) { overlay.unwrap_or(*file) } else { *file };
                let rendered = env.render(template, context, finding.service.as_deref())?;
                (file, Lowered::Merge(Route::default(), rendered, HashSet::new()))
            }
            (Target::Parent { file, at }, EditOp::Extend) => {
                let (tree, route) = edit_route(stack, *file, at.start, true, fix, finding)?;
                let parent = crate::yaml::route::resolve(tree, &route).map_err(|e| e.to_string())?;
                let rendered = env.render(template, context, finding.service.as_deref())?;
                match tree.node(parent.node).kind {
                    crate::yaml::NodeKind::Sequence { .. } => {
                        let items = rendered
                            .items()
                            .ok_or_else(|| format!("template `{template}` must render a sequence here"))?;
                        let patches = items
                            .into_iter()
                            .map(|value| Patch { route: route.clone(), op: Op::AppendItem { value } })
                            .collect();
                        (*file, Lowered::Patches(patches))
                    }
                    _ => (*file, Lowered::Merge(route, rendered, HashSet::new())),
                }
            }
            (Target::File(file), EditOp::SetDirectives(directives)) => {
                let text = stack.file(*file).source().text();
                let eol = stack.file(*file).source().line_ending().as_str();
                let (mut splices, missing) = set_directives(text, directives);
                if !missing.is_empty() {
                    let mut context = context.clone();
                    let listed: Vec<_> = missing
                        .iter()
                        .map(|(name, value)| serde_json::json!({ "name": name, "value": value }))
                        .collect();
                    if let Some(map) = context.as_object_mut() {
                        map.insert("directives".into(), listed.into());
                    }
                    let block = env.render_text(template, &context, finding.service.as_deref())?;
                    let lead = if text.is_empty() || text.ends_with('\n') || text.ends_with('\r') { "" } else { eol };
                    let block: String = block.lines().map(|l| format!("{l}{eol}")).collect();
                    splices.push(Splice::new(text.len(), text.len(), format!("{lead}{block}")));
                }
                (*file, Lowered::Text(splices))
            }
            (Target::Node { file, at }, EditOp::ReplaceEntry(key)) => {
                let (_, route) = edit_route(stack, *file, at.start, false, fix, finding)?;
                let rendered = env.render(template, context, finding.service.as_deref())?;
                let value = rendered.source_text().trim().to_string();
                (*file, Lowered::Patch(Patch { route, op: Op::ReplaceEntry { key: key.clone(), value } }))
            }
            (Target::Node { file, at }, op @ (EditOp::Merge | EditOp::Replace)) => {
                let (_, route) = edit_route(stack, *file, at.start, false, fix, finding)?;
                let rendered = env.render(template, context, finding.service.as_deref())?;
                match op {
                    EditOp::Merge => (*file, Lowered::Merge(route, rendered, HashSet::new())),
                    _ => (*file, Lowered::Replace(route, rendered)),
                }
            }
            (Target::Parent { file, at }, EditOp::Replace) => {
                let (_, route) = edit_route(stack, *file, at.start, true, fix, finding)?;
                let rendered = env.render(template, context, finding.service.as_deref())?;
                (*file, Lowered::Replace(route, rendered))
            }
            (target, op) => return Err(format!("internal error: no fix does {op:?} on {target:?}")),
        };
        lowered_edits.push((file, lowered, comment));
    }
    if let Some(overlay) = overlay {
        let (based, kept): (Vec<_>, Vec<_>) = lowered_edits.into_iter().partition(|(file, ..)| read_only(*file));
        lowered_edits = kept;
        lowered_edits.extend(lift_into_overlay(stack, overlay, based, &mut new_services, &explain_with)?);
    }
    // One `services:` entry per file for all the services added to it: two would be two keys
    // where the file has no `services` yet.
    let mut files: Vec<FileId> = new_services.iter().map(|n| n.file).collect();
    files.sort_unstable();
    files.dedup();
    for file in files {
        let adding: Vec<&NewService> = new_services.iter().filter(|n| n.file == file).collect();
        // One service from one fragment, into a `services` mapping written out: the fragment
        // already parsed is inserted as it is (a fix that adds a service with nothing else for
        // it in that file, as in an overlay).
        if let ([NewService { service, parsed: Some(fragment), .. }], Some(route)) =
            (adding.as_slice(), plain_services(stack, file))
        {
            lowered_edits
                .insert(0, (file, Lowered::Insert(route, service.clone(), fragment.clone()), Cow::Borrowed(&own)));
            continue;
        }
        let mut value = String::from("services:\n");
        for NewService { service, text: fragments, .. } in adding {
            value.push_str(&format!("  {}:\n", key_text(service)));
            for line in fragments.lines() {
                value.push_str(&if line.is_empty() { "\n".to_string() } else { format!("    {line}\n") });
            }
        }
        // First, so that a file that is still empty gets `services:` before other sections.
        let merge = Lowered::Patch(Patch { route: Route::default(), op: Op::Merge { value } });
        lowered_edits.insert(0, (file, merge, Cow::Borrowed(&own)));
    }
    for (file, lowered, comment) in lowered_edits {
        if !fs.inside(&stack.file(file).path) {
            return Err(format!("{} is outside the project; stackfix does not write there", stack.file(file).display));
        }
        let replaces = matches!(&lowered, Lowered::Replace(..));
        let mut splices = lowered_splices(stack, file, lowered)?;
        if replaces && options.explain {
            annotate(stack.file(file).source().text(), &mut splices, explain_with(&comment, "").trim_end());
        }
        let key = &stack.file(file).key;
        plan.aimed.extend(splices.iter().map(|s| (key.clone(), Aim::of(s))));
        match plan.edits.iter_mut().find(|(k, _)| k == key) {
            Some((_, existing)) => existing.extend(splices),
            None => plan.edits.push((key.clone(), splices)),
        }
    }
    // A fix written once in a shared anchor means to change its own service there (the other
    // users' fixes, taken in the same pass, name theirs); the verifier holds it to these routes.
    for (file, route) in fix.through_anchor() {
        plan.aimed.push((stack.file(*file).key.clone(), Aim { route: route.clone(), inserted: false }));
    }
    // A replacement with the text already there changes nothing.
    for (key, splices) in &mut plan.edits {
        if let Some(file) = stack.file_by_key(key) {
            let text = file.source().text();
            splices.retain(|s| text[s.start..s.end] != s.text);
        }
    }
    Ok(plan)
}

/// Each service's finding of each rule in a pass: (rule, service) → finding.
type Peers<'a> = HashMap<(&'static str, String), &'a Finding>;

/// The nodes a merge key (`<<`) gives the service at `route` that a fix's fragment may be merged
/// into in place: when every key of the fragment is given by a merge key, and every other service
/// reading each of those nodes has a fix of the same rule rendering the very same fragment (so the
/// anchor, edited once, gives each what its own fix would). Empty otherwise: the service then gets
/// a local copy of what the merge gave it.
#[allow(clippy::too_many_arguments)]
fn anchor_in_place(
    env: &Env,
    stack: &Stack,
    file: FileId,
    route: &Route,
    rendered: &Fragment,
    finding: &Finding,
    fix: &Fix,
    peers: &Peers,
) -> HashSet<crate::yaml::NodeId> {
    let none = HashSet::new();
    let (Some(own), [FixEdit { target: Target::Service(_), op: EditOp::Merge, template, .. }]) =
        (finding.service.as_deref(), &fix.edits[..])
    else {
        return none;
    };
    let Some(tree) = stack.file(file).tree.as_ref() else { return none };
    let Ok(target) = crate::yaml::route::resolve(tree, route) else { return none };
    let Some(Ok(entries)) = rendered.root_node().map(|root| rendered.entries(root)) else { return none };
    let mut allowed = HashSet::new();
    for (key, _) in entries {
        // The node the key's value is written in: an alias's anchor, or what a merge key gives;
        // a value written in the mapping itself is edited there, not in place.
        let given = match tree.entry(target.node, &key) {
            Some(entry) => match tree.node(entry.value).kind {
                crate::yaml::NodeKind::Alias { target: Some(anchored), .. } => Some(anchored),
                _ => return none,
            },
            None => crate::yaml::patch::merged_value(tree, target.node, &key, 0),
        };
        let Some(given) = given else { return none };
        // Every service reading the node (or anything in it, through any alias), not only those
        // merging it at this key.
        let readers = stack.readers(&[(file, tree.node(given).span)]).pop().unwrap_or_default();
        let users: Vec<&str> = readers.iter().map(|(name, _)| name.as_str()).collect();
        if !users.contains(&own) {
            return none;
        }
        // Each must read it where this service does (the same key of its own mapping).
        let own_route = readers.iter().find(|(name, _)| name == own).map(|(_, r)| r.0[2..].to_vec());
        if readers.iter().any(|(_, r)| Some(r.0[2..].to_vec()) != own_route) {
            return none;
        }
        for user in users.into_iter().filter(|u| *u != own) {
            let same =
                peers.get(&(finding.rule, user.to_string())).and_then(|peer| match peer.fix.as_deref() {
                    Some(Fix { edits, .. }) => match &edits[..] {
                        [FixEdit {
                            target: Target::Service(_), op: EditOp::Merge, template: theirs, context, ..
                        }] if theirs == template => env.render(*theirs, context, Some(user)).ok(),
                        _ => None,
                    },
                    None => None,
                });
            if same.is_none_or(|theirs| theirs.source_text() != rendered.source_text()) {
                return none;
            }
        }
        allowed.insert(given);
    }
    allowed
}

/// Edits of read-only base files made on a scratch copy, and what they changed written into the
/// overlay instead: merged into services it has, added to `new_services` for those it lacks.
fn lift_into_overlay<'c>(
    stack: &Stack,
    overlay: FileId,
    based: Vec<(FileId, Lowered, Cow<'c, str>)>,
    new_services: &mut Vec<NewService>,
    explain_with: &dyn Fn(&str, &str) -> String,
) -> Result<Vec<(FileId, Lowered, Cow<'c, str>)>, String> {
    // Lifted per file and per explaining comment: each edit written under its own.
    let mut per_file: Vec<(FileId, Cow<'c, str>, Vec<Splice>)> = Vec::new();
    for (file, lowered, comment) in based {
        let splices = lowered_splices(stack, file, lowered)?;
        match per_file.iter_mut().find(|(f, c, _)| *f == file && *c == comment) {
            Some((.., all)) => all.extend(splices),
            None => per_file.push((file, comment, splices)),
        }
    }
    let overlay_tree = stack.file(overlay).tree.as_ref().ok_or("not a YAML file")?;
    let mut out = Vec::new();
    for (file, comment, splices) in per_file {
        let tree = stack.file(file).tree.as_ref().ok_or("not a YAML file")?;
        let explained = |text: &str| explain_with(&comment, text);
        for (service, text) in lift::lift(tree, &splices)? {
            let route = Route::default().key("services").key(&service);
            if crate::yaml::route::resolve(overlay_tree, &route).is_ok() {
                let fragment = Fragment::parse(&explained(&text)).map_err(|e| e.to_string())?;
                out.push((overlay, Lowered::Merge(route, Arc::new(fragment), HashSet::new()), comment.clone()));
            } else {
                add_to_new_service(new_services, overlay, &service, &text, None, &comment, &explained);
            }
        }
    }
    Ok(out)
}

/// Adds a fragment (`text`; `parsed`, when the caller has it parsed) to the entry a fix writes for
/// a service the file does not have yet. A fragment is written with its explaining comment
/// (`comment`, as `explained` writes it) unless the fragment before it has the same one.
fn add_to_new_service(
    new_services: &mut Vec<NewService>,
    file: FileId,
    service: &str,
    text: &str,
    parsed: Option<&Arc<Fragment>>,
    comment: &str,
    explained: &dyn Fn(&str) -> String,
) {
    match new_services.iter_mut().find(|n| n.file == file && n.service == service) {
        Some(adding) => {
            let written = match adding.comment == comment {
                true => text.to_string(),
                false => explained(text),
            };
            adding.text.push_str(&format!("\n{}", written.trim_end()));
            adding.comment = comment.to_string();
            adding.parsed = None;
        }
        None => {
            let written = explained(text);
            // Kept parsed when it is the text to write (no comment added to it) and the emitter
            // lays every line of it out anew.
            let parsed = parsed.filter(|f| written == text && !spans_lines_inline(f)).map(Arc::clone);
            new_services.push(NewService {
                file,
                service: service.to_string(),
                text: written.trim_end().to_string(),
                comment: comment.to_string(),
                parsed,
            })
        }
    }
}

/// Whether a node of the fragment written inline (a scalar that is not a block scalar, a flow
/// collection) runs over several lines: the emitter copies such text as written, so its
/// continuation lines keep the indentation they had in the fragment.
fn spans_lines_inline(fragment: &Fragment) -> bool {
    use crate::yaml::{NodeKind, ScalarStyle};
    let tree = fragment.tree();
    (0..tree.len()).any(|id| {
        let node = tree.node(id);
        let inline = match &node.kind {
            NodeKind::Scalar { style, .. } => !matches!(style, ScalarStyle::Literal | ScalarStyle::Folded),
            _ => node.is_flow(),
        };
        inline && tree.source.text()[node.props_start..node.span.end].contains(['\n', '\r'])
    })
}

/// A service a fix adds to a file that does not have it.
struct NewService {
    file: FileId,
    service: String,
    /// Every fragment for it, one after another.
    text: String,
    /// The comment that explains the last fragment.
    comment: String,
    /// The one fragment, parsed, while it is the whole text.
    parsed: Option<Arc<Fragment>>,
}

/// The route of `file`'s `services` when it is a block mapping written out there, with entries
/// and without a merge key (a service added to it goes after its last entry).
fn plain_services(stack: &Stack, file: FileId) -> Option<Route> {
    let tree = stack.file(file).tree.as_ref()?;
    let route = Route::default().key("services");
    let found = crate::yaml::route::resolve(tree, &route).ok()?;
    let key = found.key?;
    let entries = tree.entries(found.node);
    let plain = matches!(tree.node(found.node).kind, crate::yaml::NodeKind::Mapping { flow: false, .. })
        && !entries.is_empty()
        && !entries.iter().any(|e| tree.is_merge_key(e.key))
        && tree.entries(tree.root()?).iter().any(|e| e.key == key);
    plain.then_some(route)
}

/// Ends a one-line replacement with `comment` when nothing follows it on its line (a comment
/// there would end a flow collection or a line that continues).
fn annotate(text: &str, splices: &mut [Splice], comment: &str) {
    for splice in splices {
        let rest = text[splice.end..].split(['\n', '\r']).next().unwrap_or("");
        if !splice.text.contains('\n') && rest.trim().is_empty() && !splice.text.contains(" #") {
            splice.text.push_str(&format!("  {comment}"));
        }
    }
}

/// A rendered fragment with the comment that explains it, when the run asks for one.
fn explain(rendered: Arc<Fragment>, explained: &dyn Fn(&str) -> String) -> Result<Arc<Fragment>, String> {
    let text = explained(rendered.source_text());
    if text == rendered.source_text() {
        return Ok(rendered);
    }
    Fragment::parse(&text).map(Arc::new).map_err(|e| e.to_string())
}

/// The splices of one lowered edit on the current text of `file`.
fn lowered_splices(stack: &Stack, file: FileId, lowered: Lowered) -> Result<Vec<Splice>, String> {
    if let Lowered::Text(splices) = lowered {
        return Ok(splices);
    }
    let tree = stack.file(file).tree.as_ref().ok_or("not a YAML file")?;
    match lowered {
        Lowered::Patch(patch) => splices(tree, &patch),
        Lowered::Patches(patches) => {
            patches.iter().map(|p| splices(tree, p)).collect::<Result<Vec<_>, _>>().map(|s| s.concat())
        }
        Lowered::Merge(route, fragment, in_place) => {
            crate::yaml::patch::merge_splices_with(tree, &route, &fragment, &|n| in_place.contains(&n))
        }
        Lowered::Insert(route, key, fragment) => crate::yaml::patch::insert_splices(tree, &route, &key, &fragment),
        Lowered::Replace(route, fragment) => crate::yaml::patch::replace_splices(tree, &route, &fragment),
        Lowered::Text(_) => unreachable!("returned above"),
    }
    .map_err(|e| e.to_string())
}

/// An edit of a fix as the patch engine takes it.
enum Lowered {
    Patch(Patch),
    /// Patches made together on the same text (items appended in order).
    Patches(Vec<Patch>),
    /// Splices on a file that is not YAML.
    Text(Vec<Splice>),
    /// A parsed fragment merged at a route.
    /// The nodes a merge key gives that the fragment is merged into in place (see
    /// [`anchor_in_place`]).
    Merge(Route, Arc<Fragment>, HashSet<crate::yaml::NodeId>),
    /// A parsed fragment as the value of a key added to the mapping at a route.
    Insert(Route, String, Arc<Fragment>),
    /// A parsed fragment replacing the node at a route.
    Replace(Route, Arc<Fragment>),
}

/// Splices giving the last `name args` line of each directive its new value, and the
/// directives no line sets yet.
fn set_directives(text: &str, directives: &[(String, String)]) -> (Vec<Splice>, Vec<(String, String)>) {
    let mut splices = Vec::new();
    let mut missing = Vec::new();
    for (name, value) in directives {
        let mut last = None;
        let mut start = 0;
        for line in text.split_inclusive('\n') {
            let content = line.trim_end_matches(['\n', '\r']);
            let indent = content.len() - content.trim_start().len();
            let mut words = content[indent..].splitn(2, char::is_whitespace);
            if words.next().is_some_and(|w| w.eq_ignore_ascii_case(name)) {
                let args_start = start + indent + name.len();
                last = Some((args_start, start + content.len()));
            }
            start += line.len();
        }
        match last {
            Some((from, to)) => splices.push(Splice::new(from, to, format!(" {value}"))),
            None => missing.push((name.clone(), value.clone())),
        }
    }
    (splices, missing)
}

/// Editing a node that is (or lies inside) an anchor other nodes alias would change them all:
/// refuse, and say so, rather than edit a shared definition.
/// The YAML tree of `file` and the route to the node at offset `at` in it (to that node's parent
/// when `parent`), for `finding`'s fix to edit there; refused when the route goes through an
/// anchor that others share and `fix` does not edit anchors, or when the node is in the
/// definition of a service that `finding`'s service `extends` (editing it there would change that
/// service, and every other extending it).
///
/// # Errors
/// The file is not YAML, the node is behind an alias or gone (or has no parent), the route goes
/// through a shared anchor, or the node is what `extends` brings.
fn edit_route<'a>(
    stack: &'a Stack,
    file: FileId,
    at: usize,
    parent: bool,
    fix: &Fix,
    finding: &Finding,
) -> Result<(&'a crate::yaml::Tree, Route), String> {
    let tree = stack.file(file).tree.as_ref().ok_or("not a YAML file")?;
    let mut route = route_to(tree, at).ok_or("the place to edit is behind an alias or gone")?;
    if parent {
        route.0.pop().ok_or("the place to edit has no parent")?;
    }
    if !fix.edits_anchors() {
        refuse_shared_anchor(tree, &route)?;
    }
    if let (Some(service), [Segment::Key(services), Segment::Key(base), ..]) = (&finding.service, route.0.as_slice()) {
        if services == "services" && base != service && extends_from(stack, service, base) {
            if let Some(other) = changed_with(stack, service, base) {
                return Err(format!(
                    "`{route}` is what service `{service}` gets from `{base}` through `extends`; editing it there would change `{other}` too, so it is left for a person"
                ));
            }
        }
    }
    Ok((tree, route))
}

/// A service of the stack other than `service` that an edit of `base`'s definition would change:
/// `base` itself, or another that extends it (directly or through others). `None` when `base`
/// is only a definition `service` reads (in a file of definitions no other service extends).
fn changed_with<'a>(stack: &'a Stack, service: &str, base: &'a str) -> Option<&'a str> {
    let mut readers: Vec<&str> = vec![base];
    let mut at = 0;
    while let Some(&name) = readers.get(at) {
        for (child, parent) in &stack.extends {
            if parent == name && !readers.contains(&child.as_str()) {
                readers.push(child);
            }
        }
        at += 1;
    }
    let is_service = |name: &str| stack.configs.iter().any(|c| c.services.iter().any(|s| s.name == name));
    readers.into_iter().find(|name| *name != service && is_service(name))
}

/// Whether service `service` extends `base`, directly or through others (by name, as
/// [`Stack::extends`] records them).
fn extends_from(stack: &Stack, service: &str, base: &str) -> bool {
    let mut seen: Vec<&str> = vec![service];
    let mut at = 0;
    while let Some(&name) = seen.get(at) {
        for (child, parent) in &stack.extends {
            if child == name && !seen.contains(&parent.as_str()) {
                if parent == base {
                    return true;
                }
                seen.push(parent);
            }
        }
        at += 1;
    }
    false
}

fn refuse_shared_anchor(tree: &crate::yaml::Tree, route: &Route) -> Result<(), String> {
    for len in 1..=route.0.len() {
        let prefix = Route(route.0[..len].to_vec());
        let Ok(found) = crate::yaml::route::resolve(tree, &prefix) else { return Ok(()) };
        let Some(anchor) = tree.node(found.node).anchor() else { continue };
        let shared = (0..tree.len()).any(
            |id| matches!(&tree.node(id).kind, crate::yaml::NodeKind::Alias { target: Some(t), .. } if *t == found.node),
        );
        if shared {
            return Err(format!(
                "`{prefix}` is anchored as `&{anchor}` and aliased elsewhere; editing it would change every user, so it is left for a person"
            ));
        }
    }
    Ok(())
}

impl Env<'_> {
    /// Renders a template with the rule's context and the user's `--set` values.
    fn render_text(
        &self,
        template: TemplateId,
        context: &serde_json::Value,
        service: Option<&str>,
    ) -> Result<String, String> {
        self.renderer.render(template, &self.with_sets(template, context, service)?)
    }

    /// The context with the person's parameters for `service` that the template's rule reads.
    ///
    /// A limit set below the rule's reservation takes the reservation down to half of it (Docker
    /// refuses a reservation above the limit); a reservation the person set above the limit is an
    /// error.
    fn with_sets(
        &self,
        template: TemplateId,
        context: &serde_json::Value,
        service: Option<&str>,
    ) -> Result<serde_json::Value, String> {
        let mut context = context.clone();
        let rule = template.rule();
        let mut given: Vec<&str> = Vec::new();
        if let Some(map) = context.as_object_mut() {
            for (only, key, value) in &self.options.sets {
                let reads = parameter(key).is_some_and(|p| p.rules.contains(&rule));
                if reads && (only.is_none() || only.as_deref() == service) {
                    map.insert(key.clone(), serde_json::Value::String(value.clone()));
                    given.push(key);
                }
            }
            let text = |map: &serde_json::Map<String, serde_json::Value>, key: &str| {
                map.get(key).and_then(|v| v.as_str().map(str::to_string).or_else(|| v.as_f64().map(|n| n.to_string())))
            };
            let pairs: [LimitPair; 2] = [
                (
                    "memory",
                    "reservation_memory",
                    |t| crate::stack::facts::memory_bytes(t).map(|b| b as f64),
                    // Half the limit, but no less than Docker accepts (the limit is at least that).
                    |b| crate::stack::facts::memory_text(((b / 2.0) as u64).max(DOCKER_MIN_MEMORY)),
                ),
                (
                    "cpus",
                    "reservation_cpus",
                    |t| t.parse::<f64>().ok(),
                    |c| format!("{}", (c / 2.0 * 100.0).round() / 100.0),
                ),
            ];
            for (limit_key, reservation_key, read, half) in pairs {
                let (Some(limit), Some(reservation)) = (text(map, limit_key), text(map, reservation_key)) else {
                    continue;
                };
                let (Some(l), Some(r)) = (read(&limit), read(&reservation)) else { continue };
                if r <= l {
                    continue;
                }
                if given.contains(&reservation_key) {
                    return Err(format!(
                        "{reservation_key} {reservation} is above {limit_key} {limit}; Docker refuses a reservation above \
                         the limit"
                    ));
                }
                map.insert(reservation_key.to_string(), serde_json::Value::String(half(l)));
            }
        }
        Ok(context)
    }

    /// Renders a template with the rule's context and the user's `--set` values; the result must
    /// parse on its own.
    fn render(
        &self,
        template: TemplateId,
        context: &serde_json::Value,
        service: Option<&str>,
    ) -> Result<Arc<Fragment>, String> {
        // Copied only when a parameter applies: most runs set none, and most fixes render once.
        let context = match self.options.sets.is_empty() {
            true => std::borrow::Cow::Borrowed(context),
            false => std::borrow::Cow::Owned(self.with_sets(template, context, service)?),
        };
        self.renderer.fragment(template, context)
    }
}

/// The run's changes, each with the text its plan was made from (`before`): the original load's
/// text of a file it read, what the run first read of another (`.env.example`), and none for a
/// file that did not exist or that the load was given in memory (bootstrap's new production
/// file). The writer refuses a file that no longer holds `before`, so an edit another program
/// made while the run planned is never overwritten.
fn changes(
    original: &Stack,
    load: &LoadOptions,
    texts: std::collections::HashMap<FileKey, String>,
    reads: &std::collections::HashMap<FileKey, Option<String>>,
) -> Vec<FileChange> {
    let given: HashSet<FileKey> = load.overrides.keys().map(|p| FileKey::new(p)).collect();
    let mut out: Vec<FileChange> = texts
        .into_iter()
        .filter_map(|(key, after)| {
            let path = key.path().to_path_buf();
            let before = if given.contains(&key) {
                None
            } else if let Some(file) = original.file_by_key(&key) {
                Some(file.source().text().to_string())
            } else if let Some(read) = reads.get(&key) {
                read.clone()
            } else {
                read_text(&path).ok()
            };
            if before.as_deref() == Some(after.as_str()) {
                return None;
            }
            let display =
                original.file_by_key(&key).map(|f| f.display.clone()).unwrap_or_else(|| display_new(load, &path));
            Some(FileChange { path, display, before, after })
        })
        .collect();
    out.sort_by(|a, b| a.display.cmp(&b.display));
    out
}

/// A new file's path as the user should see it: under the directory they named when it is inside.
pub(crate) fn display_new(load: &LoadOptions, path: &Path) -> String {
    let under_dir = load
        .dir
        .canonicalize()
        .ok()
        .and_then(|dir| path.strip_prefix(dir).ok().map(|rest| load.dir.join(rest)))
        .unwrap_or_else(|| path.to_path_buf());
    let shown = under_dir.strip_prefix(".").map(Path::to_path_buf).unwrap_or(under_dir);
    shown.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fix of a later pass says where its finding is: in the files as they were, or, on what a
    /// fix of the run added (a backup job's password, moved into a secret in the second pass),
    /// in the files as fixed, not in the text the pass was made on.
    #[test]
    fn applied_fixes_say_where_their_finding_was_or_is() {
        let dir = tempfile::tempdir().unwrap();
        let db = |n: usize| {
            format!(
                "  db{n}:\n    image: postgres:16.4-alpine\n    environment:\n      POSTGRES_PASSWORD: ${{DB{n}_PASSWORD:?set it}}\n    volumes:\n      - db{n}:/var/lib/postgresql/data\n"
            )
        };
        let text = format!("services:\n{}{}volumes:\n  db1:\n  db2:\n", db(1), db(2));
        std::fs::write(dir.path().join("docker-compose.yml"), &text).unwrap();
        let load = LoadOptions::new(dir.path().to_path_buf(), Vec::new(), stack::profiles::Profiles::builtin());
        let options = FixOptions { unsafe_fixes: true, ..Default::default() };
        let outcome = run(&load, &RuleSettings::default(), &options).unwrap();
        let fixed = &outcome.changes.iter().find(|c| c.path.ends_with("docker-compose.yml")).unwrap().after;
        let line_of = |a: &Applied| -> usize { a.location.rsplit_once(':').unwrap().1.parse().unwrap() };
        let (before, after): (Vec<&str>, Vec<&str>) = (text.lines().collect(), fixed.lines().collect());
        let mut moved = 0;
        for a in &outcome.applied {
            let line = line_of(a);
            match a.service.as_deref() {
                Some(s @ ("db1" | "db2")) => {
                    let start = before.iter().position(|l| *l == format!("  {s}:")).unwrap() + 1;
                    assert!((start..start + 6).contains(&line), "{}: {} not in `{s}` as written", a.rule, a.location);
                }
                Some(s) => {
                    let start = after.iter().position(|l| *l == format!("  {s}:")).unwrap() + 1;
                    assert!(line >= start, "{}: {} is before `{s}` in the fixed file", a.rule, a.location);
                    if a.rule == "secret-in-environment" {
                        assert!(after[line - 1].contains("POSTGRES_PASSWORD"), "{}: {}", a.rule, a.location);
                        moved += 1;
                    }
                }
                None => {}
            }
        }
        assert_eq!(moved, 2, "both backup jobs' passwords moved in a later pass");
    }

    #[test]
    fn offsets_across_edits() {
        use crate::yaml::TextEdit;
        // "abcdef": "XY" inserted at 2, "de" replaced by "Z": "abXYcZf".
        let edits = [TextEdit { start: 2, end: 2, len: 2 }, TextEdit { start: 3, end: 5, len: 1 }];
        let new = "abXYcZf";
        assert_eq!(new.len(), 6 + 2 - 1);
        assert_eq!([0, 1, 4, 6].map(|at| offset_before(&edits, at)), [Some(0), Some(1), Some(2), Some(5)]);
        assert_eq!([2, 3, 5].map(|at| offset_before(&edits, at)), [None, None, None]);
        assert_eq!([0, 2, 3, 4, 5, 6].map(|at| offset_after(&edits, at)), [0, 4, 5, 5, 6, 7]);
    }

    /// Merging many insertions of one key, each into the text the last made: from the tree the
    /// last merge made (parsing only what it added) or parsing the whole text, the same texts.
    #[test]
    fn merges_from_the_last_tree_equal_merges_from_a_whole_parse() {
        let entry = |i: usize| format!("\nsecrets:\n  db{i}_password:\n    environment: DB{i}_PASSWORD\n");
        let (mut whole, mut known) = (entry(0), entry(0));
        let mut tree: Option<crate::yaml::Tree> = None;
        let mut reused = 0;
        for i in 1..60 {
            // Every third one adds a volume too: the inserted key grows a sequence.
            let added = match i % 3 {
                0 => format!("{}    volumes:\n      - v{i}:/v\n", entry(i)),
                _ => entry(i),
            };
            let (text, _) = merged_text(&whole, &added, None).expect("merges");
            whole = text;
            reused += usize::from(tree.is_some());
            let (text, next) = merged_text(&known, &added, tree.as_ref()).expect("merges");
            known = text;
            tree = next;
            assert_eq!(known, whole, "after merge {i}");
        }
        assert!(reused > 50, "the tree of the last merge was reused {reused} times");
        // A different value for a key already written is not merged.
        assert!(merged_text(&whole, &entry(5).replace("DB5_PASSWORD", "OTHER"), tree.as_ref()).is_none());
    }

    /// A batch's merges into one placed insertion, as many fixes make them (appended to the text
    /// the run began with where they can be, else merged whole), give the texts that merging
    /// each into the text the last one made gives; a merge that would change a value is still
    /// refused, and one that adds below an existing key still merges.
    #[test]
    fn a_batch_appends_what_merging_each_into_the_last_text_gives() {
        let shapes = [
            "\nsecrets:\n  s{i}:\n    environment: S{i}\n",
            "\nvolumes:\n  v{i}:\n",
            "\nvolumes:\n  v{i}: {}\n",
            "\nservices:\n  job{i}:\n    image: busybox:1.36\n    command: [\"sh\", \"-c\", \"echo {i}\"]\n    volumes:\n      - data{i}:/data\n    deploy:\n      resources:\n        limits: {memory: 64M}\n",
            "\r\nsecrets:\r\n    s{i}:\r\n        file: ./s{i}.txt\r\n",
            "\nx-keys:\n  k{i}:\n  - a\n  - b # with a comment\n",
        ];
        for shape in shapes {
            let text = |i: usize| shape.replace("{i}", &i.to_string());
            let key = text(0).trim_start().split(':').next().unwrap().to_string();
            let mut batch = Batch::default();
            let at = |text: String| Splice { adds_to: Some((3, key.clone())), ..Splice::new(7, 7, text) };
            batch.add(at(text(0)));
            let mut whole = text(0);
            for i in 1..40 {
                // Every fifth writes again what the last one did: no append, a whole merge.
                let added = match i % 5 {
                    0 => text(i - 1),
                    _ => text(i),
                };
                let s = at(added.clone());
                let exact = merged_text(&whole, &added, None).map(|(t, _)| t);
                let made = batch.merged(&s);
                assert_eq!(made.as_ref().map(|(_, t)| t), exact.as_ref(), "{shape:?}, merge {i}");
                if let Some((index, text)) = made {
                    batch.replace_text(index, text.clone());
                    whole = text;
                }
            }
            let appended = batch.appending.borrow().values().map(|run| run.keys.len()).sum::<usize>();
            assert_eq!(appended > 0, !shape.contains('#'), "{shape:?}: {appended} appended");
            let conflicting = text(3).replace("3", "33").replacen("33", "3", 1);
            let s = at(conflicting.clone());
            assert_eq!(batch.merged(&s).map(|(_, t)| t), merged_text(&whole, &conflicting, None).map(|(t, _)| t));
        }
    }

    #[test]
    fn env_example_adds_each_missing_name_once() {
        let renderer = Renderer::new(None).unwrap();
        let current = "# set these\nA=1\n  B = 2\nBC=\n# C=\nD".to_string();
        let names: Vec<String> = ["A", "B", "C", "D", "E", "E", "BC"].iter().map(|n| n.to_string()).collect();
        let text = env_example(&renderer, Some(current), &names).unwrap();
        // A commented-out `# C=` does not set C; `D` without `=` does not set D.
        assert_eq!(text, "# set these\nA=1\n  B = 2\nBC=\n# C=\nD\nC=\nD=\nE=\n");
        let many: Vec<String> = (0..50_000).map(|i| format!("K{i}_PASSWORD")).collect();
        let text = env_example(&renderer, Some(String::new()), &many).unwrap();
        assert_eq!(text.lines().count(), 50_000);
        assert!(text.starts_with("K0_PASSWORD=\nK1_PASSWORD=\n") && text.ends_with("K49999_PASSWORD=\n"));
    }

    #[test]
    fn diffs_rendered_during_the_run_are_those_of_its_changes() {
        let dir = tempfile::tempdir().unwrap();
        // Two files changed (one new), over two passes (the secret's fix adds `.env.example`).
        let compose = "services:\n  db:\n    image: postgres:16.4\n    environment:\n      POSTGRES_PASSWORD: hunter2hunter2\n  web:\n    image: nginx:1.27\n    depends_on: [db]\n";
        std::fs::write(dir.path().join("docker-compose.yml"), compose).unwrap();
        let load = LoadOptions::new(dir.path().to_path_buf(), Vec::new(), crate::stack::Profiles::builtin());
        let settings = RuleSettings::default();
        let asked = FixOptions { unsafe_fixes: true, diffs: true, ..FixOptions::default() };
        let outcome = run(&load, &settings, &asked).unwrap();
        assert!(outcome.changes.len() >= 2, "{:?}", outcome.changes.iter().map(|c| &c.display).collect::<Vec<_>>());
        assert!(outcome.passes >= 2, "{}", outcome.passes);
        assert_eq!(outcome.diffs.len(), outcome.changes.len());
        for (i, change) in outcome.changes.iter().enumerate() {
            assert_eq!(outcome.diffs[i].1, diff::unified(change));
            assert_eq!(outcome.diff(i), diff::unified(change));
        }
        // Not asked: none rendered, and each is rendered when wanted.
        let plain = run(&load, &settings, &FixOptions { unsafe_fixes: true, ..FixOptions::default() }).unwrap();
        assert!(plain.diffs.is_empty());
        let rendered: Vec<String> = (0..plain.changes.len()).map(|i| plain.diff(i).into_owned()).collect();
        assert_eq!(rendered, outcome.diffs.iter().map(|d| d.1.clone()).collect::<Vec<_>>());
        // A change a caller replaces (here by text of the same length) gets its own diff, not
        // the one rendered for the old text.
        let mut replaced = outcome;
        let after = &mut replaced.changes[0].after;
        let last = after.len() - 1;
        after.replace_range(last - 1..last, "X");
        assert_eq!(replaced.diff(0), diff::unified(&replaced.changes[0]));
        assert_ne!(replaced.diff(0), replaced.diffs[0].1);
    }
}
