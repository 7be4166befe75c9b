//! The fix engine: findings' symbolic fixes rendered from templates, lowered to YAML patches on
//! the current text, applied in memory pass after pass until nothing changes, and verified before
//! anything is written: every file parses, its meaning changed only where the fixes aimed, every
//! comment survived, each fixed finding is gone, and a further pass changes nothing.

pub mod diff;
pub mod render;
mod verify;
pub mod write;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use crate::rules::{self, Applicability, Finding, Fix, FixEdit, RuleSettings, Site};
use crate::stack::load::normalize;
use crate::stack::{self, LoadOptions, Stack};
use crate::yaml::patch::key_text;
use crate::yaml::route::route_to;
use crate::yaml::{apply, Op, Patch, Route};
use render::Renderer;

/// Passes before the engine gives up: fixes enable each other (a health check, then the
/// dependency condition that waits for it), but never this many times.
const MAX_PASSES: usize = 6;

/// Where production-only settings go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Into {
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
    pub into: Into,
    /// A directory whose templates replace the built-in ones by name.
    pub templates: Option<PathBuf>,
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
}

#[derive(Debug)]
pub enum FixError {
    /// The stack does not load cleanly; nothing is fixed in files that do not parse.
    Input(Vec<stack::LoadError>),
    Template(String),
    /// The fixes kept changing the stack: a bug, and nothing is written.
    NoConvergence(usize),
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
            FixError::Template(e) => write!(f, "{e}"),
            FixError::NoConvergence(n) => {
                write!(f, "internal error: fixes did not converge after {n} passes; nothing was written")
            }
        }
    }
}

/// Identifies a finding across passes (its position moves as lines are inserted, its file does
/// not): rule, file, service, message.
type FindingKey = (&'static str, String, Option<String>, String);

fn key(stack: &Stack, f: &Finding) -> FindingKey {
    (f.rule, stack.file(f.file).display.clone(), f.service.clone(), f.message.clone())
}

/// Plans, applies in memory and verifies the fixes for a stack.
pub fn run(load: &LoadOptions, settings: &RuleSettings, options: &FixOptions) -> Result<Outcome, FixError> {
    let renderer = Renderer::new(options.templates.as_deref()).map_err(FixError::Template)?;
    let original = stack::load(load);
    if !original.errors.is_empty() {
        return Err(FixError::Input(original.errors.clone()));
    }
    let mut excluded: HashMap<FindingKey, String> = HashMap::new();
    // A fix that fails verification is excluded and the run starts over from the original text.
    for _ in 0..4 {
        let attempt = attempt(load, settings, options, &renderer, &excluded)?;
        let remaining = rules::check(&attempt.stack, settings);
        let failures = verify::check(&original, &attempt, &remaining);
        if failures.is_empty() {
            let Attempt { texts, applied, mut skipped, stack: fixed_stack, passes, .. } = attempt;
            for (k, reason) in excluded {
                skipped.push(Skipped { rule: k.0, service: k.2, message: k.3, reason });
            }
            let changes = changes(&original, load, texts);
            return Ok(Outcome { changes, applied, skipped, stack: fixed_stack, remaining, passes });
        }
        excluded.extend(failures);
    }
    Err(FixError::NoConvergence(MAX_PASSES))
}

/// What one run of the passes produced.
pub(crate) struct Attempt {
    /// New texts by (normalised) path.
    texts: HashMap<PathBuf, String>,
    /// Per file, the routes the fixes aimed at and the finding each was for.
    intended: HashMap<PathBuf, Vec<(Route, FindingKey)>>,
    applied: Vec<Applied>,
    skipped: Vec<Skipped>,
    /// The stack as fixed, loaded from the new texts.
    stack: Stack,
    passes: usize,
}

fn attempt(
    load: &LoadOptions,
    settings: &RuleSettings,
    options: &FixOptions,
    renderer: &Renderer,
    excluded: &HashMap<FindingKey, String>,
) -> Result<Attempt, FixError> {
    let mut texts: HashMap<PathBuf, String> = HashMap::new();
    let mut intended: HashMap<PathBuf, Vec<(Route, FindingKey)>> = HashMap::new();
    let mut applied = Vec::new();
    let mut skipped: Vec<Skipped> = Vec::new();
    let mut given_up: HashSet<FindingKey> = excluded.keys().cloned().collect();
    for pass in 1..=MAX_PASSES {
        let current = stack::load(&with_overrides(load, &texts));
        let findings = rules::check(&current, settings);
        let mut progress = false;
        for finding in findings.iter().filter(|f| wanted(f, options)) {
            let Some(fix) = &finding.fix else { continue };
            if given_up.contains(&key(&current, finding)) {
                continue;
            }
            let before = texts.clone();
            let mut aimed = Vec::new();
            let env = Env { load, options, renderer };
            match apply_fix(&env, &current, finding, fix, &mut texts, &mut aimed) {
                Ok(true) => {
                    for (path, route) in aimed {
                        intended.entry(path).or_default().push((route, key(&current, finding)));
                    }
                    progress = true;
                    applied.push(Applied {
                        key: key(&current, finding),
                        rule: finding.rule,
                        service: finding.service.clone(),
                        message: finding.message.clone(),
                        title: fix.title.clone(),
                        applicability: fix.applicability,
                    });
                }
                Ok(false) => {
                    texts = before;
                    given_up.insert(key(&current, finding));
                    skipped.push(skip(
                        finding,
                        "nothing to change where the fix goes (a value there differs); left as is".into(),
                    ));
                }
                Err(reason) => {
                    texts = before;
                    given_up.insert(key(&current, finding));
                    skipped.push(skip(finding, reason));
                }
            }
        }
        if !progress {
            return Ok(Attempt { texts, intended, applied, skipped, stack: current, passes: pass });
        }
    }
    Err(FixError::NoConvergence(MAX_PASSES))
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
    allowed && in_scope
}

fn with_overrides(load: &LoadOptions, texts: &HashMap<PathBuf, String>) -> LoadOptions {
    let mut options = load.clone();
    options.overrides.extend(texts.iter().map(|(p, t)| (p.clone(), t.clone())));
    options
}

/// The current text of a file: edited in memory, or as on disk.
fn text_of(texts: &HashMap<PathBuf, String>, path: &Path) -> Option<String> {
    texts.get(&normalize(path)).cloned().or_else(|| std::fs::read_to_string(path).ok())
}

/// What every fix of a run shares.
struct Env<'a> {
    load: &'a LoadOptions,
    options: &'a FixOptions,
    renderer: &'a Renderer,
}

/// Applies every edit of a fix to the in-memory texts, noting the routes it aims at;
/// `Ok(false)` when nothing changed.
fn apply_fix(
    env: &Env,
    stack: &Stack,
    finding: &Finding,
    fix: &Fix,
    texts: &mut HashMap<PathBuf, String>,
    aimed: &mut Vec<(PathBuf, Route)>,
) -> Result<bool, String> {
    let Env { load, options, renderer } = *env;
    let mut changed = false;
    for edit in &fix.edits {
        let (path, new_text) = match edit {
            FixEdit::EnvExample { name } => {
                let path = load.dir.join(".env.example");
                let current = text_of(texts, &path);
                if current.as_deref().is_some_and(|t| {
                    t.lines().any(|l| {
                        l.trim_start().strip_prefix(name.as_str()).is_some_and(|r| r.trim_start().starts_with('='))
                    })
                }) {
                    continue;
                }
                let mut text = match current {
                    Some(t) => t,
                    None => renderer.render("env-example", &serde_json::json!({}))?,
                };
                if !text.is_empty() && !text.ends_with('\n') {
                    text.push('\n');
                }
                text.push_str(&format!("{name}=\n"));
                (path, text)
            }
            FixEdit::MergeService { site, template, context } => {
                let (service, file) = match site {
                    Site::Definition { service, file } => (service, *file),
                    Site::Production { service, definition, overlay } => {
                        let file = match options.into {
                            Into::Base => *definition,
                            Into::Auto => overlay.unwrap_or(*definition),
                        };
                        (service, file)
                    }
                };
                let rendered = render(renderer, template, context, Some(service), options)?;
                let indented: String = rendered
                    .lines()
                    .map(|l| if l.is_empty() { "\n".to_string() } else { format!("    {l}\n") })
                    .collect();
                let fragment = format!("services:\n  {}:\n{indented}", key_text(service));
                let path = stack.file(file).path.clone();
                let current = text_of(texts, &path).ok_or("cannot read the file")?;
                let out = apply(&current, &Patch { route: Route::default(), op: Op::Merge { value: fragment } })
                    .map_err(|e| e.to_string())?;
                aimed.push((normalize(&path), Route::default().key("services").key(service)));
                (path, out)
            }
            FixEdit::MergeAt { file, at, template, context } | FixEdit::ReplaceAt { file, at, template, context } => {
                let source = stack.file(*file);
                let tree = source.tree.as_ref().ok_or("not a YAML file")?;
                let route = route_to(tree, at.start).ok_or("the place to edit is behind an alias or gone")?;
                let rendered = render(renderer, template, context, finding.service.as_deref(), options)?;
                let op = match edit {
                    FixEdit::MergeAt { .. } => Op::Merge { value: rendered },
                    _ => Op::ReplaceNode { value: rendered },
                };
                let current = text_of(texts, &source.path).ok_or("cannot read the file")?;
                let out = apply(&current, &Patch { route: route.clone(), op }).map_err(|e| e.to_string())?;
                aimed.push((normalize(&source.path), route));
                (source.path.clone(), out)
            }
        };
        let key = normalize(&path);
        if text_of(texts, &path).as_deref() != Some(new_text.as_str()) {
            changed = true;
            texts.insert(key, new_text);
        }
    }
    Ok(changed)
}

/// Renders a template with the rule's context and the user's `--set` values; the result must
/// parse on its own.
fn render(
    renderer: &Renderer,
    template: &str,
    context: &serde_json::Value,
    service: Option<&str>,
    options: &FixOptions,
) -> Result<String, String> {
    let mut context = context.clone();
    if let Some(map) = context.as_object_mut() {
        for (only, key, value) in &options.sets {
            if only.is_none() || only.as_deref() == service {
                map.insert(key.clone(), serde_json::Value::String(value.clone()));
            }
        }
    }
    let text = renderer.render(template, &context)?;
    crate::yaml::Tree::parse(text.clone()).map_err(|e| format!("template `{template}` rendered invalid YAML ({e})"))?;
    Ok(text)
}

fn changes(original: &Stack, load: &LoadOptions, texts: HashMap<PathBuf, String>) -> Vec<FileChange> {
    let mut out: Vec<FileChange> = texts
        .into_iter()
        .filter_map(|(path, after)| {
            let before = std::fs::read_to_string(&path).ok();
            if before.as_deref() == Some(after.as_str()) {
                return None;
            }
            let display = original
                .files
                .iter()
                .find(|f| normalize(&f.path) == path)
                .map(|f| f.display.clone())
                .unwrap_or_else(|| display_new(load, &path));
            Some(FileChange { path, display, before, after })
        })
        .collect();
    out.sort_by(|a, b| a.display.cmp(&b.display));
    out
}

fn display_new(load: &LoadOptions, path: &Path) -> String {
    let shown = if load.dir.as_os_str() == "." { path.strip_prefix(".").unwrap_or(path) } else { path };
    shown.to_string_lossy().into_owned()
}
