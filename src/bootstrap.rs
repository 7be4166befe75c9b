//! `stackfix bootstrap`: the production file of a development stack, written by the fix engine.
//! Every production fix stackfix has is applied to it (unsafe ones included: a production file is
//! where they belong), each explained by a comment that names its rule. An existing production
//! file is updated in place, so a second run changes nothing and a person's edits stay.

use std::path::{Path, PathBuf};

use crate::fix::render::template as tpl;
use crate::fix::render::Renderer;
use crate::fix::{self, FileChange, FixError, FixOptions, Outcome};
use crate::rules::RuleSettings;
use crate::stack::FileKey;
use crate::stack::{LoadError, LoadOptions};

/// The default name of the production file.
pub const DEFAULT_OUTPUT: &str = "docker-compose.prod.yml";

/// What kind of production file to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Only what production changes, merged over the base files
    /// (`docker compose -f base -f prod`): `!reset` / `!override` where a base value must go.
    #[default]
    Overlay,
    /// A complete file, deployed alone: a copy of the base file with the fixes made in place.
    Standalone,
}

/// Infrastructure a bootstrap may add besides per-service fixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extra {
    /// A backup service for each database (the `no-backup` fixes).
    Backups,
    /// Prometheus with alert rules, exporters for the databases and an Alertmanager
    /// (`no-monitoring`, then the `missing-exporter` and `alerts-without-alertmanager` fixes).
    Monitoring,
    /// Traefik in front of the web services: TLS, HTTPS redirect, security headers, rate limits
    /// (`no-reverse-proxy`).
    Traefik,
}

/// How to bootstrap.
#[derive(Debug, Clone, Default)]
pub struct BootstrapOptions {
    /// The compose files production starts from, in order.
    pub base: Vec<PathBuf>,
    /// The production file to write or update.
    pub output: PathBuf,
    pub mode: Mode,
    pub extras: Vec<Extra>,
    /// Template parameters and templates (the rest is set by bootstrap).
    pub fix: FixOptions,
}

/// The production file to write when none is named: the directory's existing production file,
/// else `docker-compose.prod.yml`.
pub fn default_output(dir: &Path) -> PathBuf {
    crate::stack::load::production_files(dir).into_iter().next().unwrap_or_else(|| dir.join(DEFAULT_OUTPUT))
}

/// The mode a bootstrap runs in: the one asked for, except that an existing production file
/// that restates every service of the base whole (see [`Deployment::Alone`]; its header aside)
/// is always fixed as [`Mode::Standalone`].
pub fn effective_mode(load: &LoadOptions, options: &BootstrapOptions) -> Mode {
    match options.mode {
        Mode::Overlay if options.output.is_file() && by_files(load, options) == Deployment::Alone => Mode::Standalone,
        mode => mode,
    }
}

/// The mode a bootstrap runs in when the person may not have chosen one (`asked`: `None`): as
/// [`effective_mode`], and without a choice, the way an existing production file is deployed
/// ([`Mode::Overlay`] when there is none).
///
/// # Errors
/// No mode was asked for and the files do not tell how the existing production file is deployed
/// ([`Deployment::Unknown`]): the message says what it leaves out of the base and how to choose.
pub fn resolve_mode(load: &LoadOptions, options: &BootstrapOptions, asked: Option<Mode>) -> Result<Mode, String> {
    if let Some(mode) = asked {
        return Ok(effective_mode(load, &BootstrapOptions { mode, ..options.clone() }));
    }
    if !options.output.is_file() {
        return Ok(Mode::Overlay);
    }
    match deployment(load, options) {
        Deployment::Alone => Ok(Mode::Standalone),
        Deployment::Over => Ok(Mode::Overlay),
        Deployment::Unknown(left_out) => {
            let name = |path: &Path| crate::fix::display_new(load, path);
            let (prod, base) = (name(&options.output), name(&options.base[0]));
            let mut listed: Vec<String> = left_out
                .iter()
                .take(3)
                .map(|(service, keys)| match keys.is_empty() {
                    true => format!("`{service}` (all of it)"),
                    false => format!("`{service}` ({})", keys.join(", ")),
                })
                .collect();
            if left_out.len() > 3 {
                listed.push(format!("{} more services", left_out.len() - 3));
            }
            Err(format!(
                "{prod}: every service it defines has an image or a build, so `check` reads it alone, but it \
                 leaves out what {base} gives {}: stackfix cannot tell whether it is deployed alone or over \
                 {base}, and the fixes differ\n  help: pass --mode standalone to fix it in place as deployed \
                 alone (`docker compose -f {prod}`), or --mode overlay to write it over the base (`docker compose \
                 -f {base} -f {prod}`)",
                listed.join(", ")
            ))
        }
    }
}

/// How an existing production file is deployed, as far as the files tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deployment {
    /// Alone, beyond doubt: `check` reads the directory so (a production configuration of that
    /// file alone), and the file restates every service of the base with every key the base
    /// gives it, or its `# Deploy with: docker compose -f FILE up -d` header names it alone.
    Alone,
    /// Over the base: `check` reads it so (a service it defines has no image, build or
    /// `extends`), the base is named with `-f` rather than the one `check` finds, or its
    /// `# Deploy with: …` header names the base files too.
    Over,
    /// Either: `check` reads it alone, but it leaves out what the base gives, as (service, the
    /// keys left out; none when the whole service is left out) in the base's order, and it has
    /// no `# Deploy with: …` header (as `bootstrap` writes) that says. Deployed alone, it runs
    /// without them; over the base, with them.
    Unknown(Vec<(String, Vec<String>)>),
}

/// How the existing production file of `options` is deployed (see [`Deployment`]): as its
/// `# Deploy with: …` header says when it has one, else as its files tell.
pub fn deployment(load: &LoadOptions, options: &BootstrapOptions) -> Deployment {
    // A file bootstrap wrote says in its header how it is deployed.
    match crate::stack::load::read_text(&options.output)
        .ok()
        .and_then(|text| crate::stack::load::deployed_with(&text, options.output.file_name()?.to_str()?))
    {
        Some(1) => Deployment::Alone,
        Some(_) => Deployment::Over,
        None => by_files(load, options),
    }
}

/// [`deployment`] from the files alone, without the header.
fn by_files(load: &LoadOptions, options: &BootstrapOptions) -> Deployment {
    let output = FileKey::new(&options.output);
    let discovered = crate::stack::load::base_file(&load.dir).map(|b| FileKey::new(&b));
    if options.base.len() != 1 || discovered != Some(FileKey::new(&options.base[0])) {
        return Deployment::Over;
    }
    let alone =
        |files: Vec<PathBuf>| crate::stack::load(&LoadOptions::new(load.dir.clone(), files, load.profiles.clone()));
    let stack = alone(Vec::new());
    let read_alone =
        stack.configs.iter().any(|c| c.is_production() && c.files.len() == 1 && stack.file(c.files[0]).key == output);
    if !read_alone {
        return Deployment::Over;
    }
    let (base, production) = (alone(options.base.clone()), alone(vec![options.output.clone()]));
    let (Some(base), Some(production)) = (base.configs.first(), production.configs.first()) else {
        return Deployment::Over;
    };
    let left_out = crate::stack::load::left_out(base, &[], production);
    match left_out.is_empty() {
        true => Deployment::Alone,
        false => Deployment::Unknown(left_out),
    }
}

/// Plans the production file (and the files its fixes create) without writing anything.
pub fn run(load: &LoadOptions, settings: &RuleSettings, options: &BootstrapOptions) -> Result<Outcome, FixError> {
    let refuse = |message: String| {
        FixError::Input(vec![LoadError {
            path: options.output.display().to_string(),
            position: None,
            message,
            hint: None,
        }])
    };
    let output = FileKey::new(&options.output);
    if options.base.is_empty() {
        return Err(refuse("no base compose file to start from (pass it with -f FILE)".into()));
    }
    if !crate::stack::ProjectFs::new(&load.dir).inside(&options.output) {
        return Err(refuse("resolves outside the project (through a link?); stackfix writes only inside it".into()));
    }
    if options.base.iter().any(|b| FileKey::new(b) == output) {
        return Err(refuse("the production file would overwrite a base file; name another with -o FILE".into()));
    }
    if options.mode == Mode::Standalone {
        if options.base.len() != 1 {
            return Err(refuse("--mode standalone starts from one base file; pass one -f FILE".into()));
        }
        let dir = |path: &Path| crate::stack::load::resolve(path).and_then(|p| p.parent().map(Path::to_path_buf));
        if dir(&options.output) != dir(&options.base[0]) {
            return Err(refuse(
                "--mode standalone writes next to the base file, so that its relative paths still hold".into(),
            ));
        }
    }
    let existing = match crate::stack::load::read_text(&options.output) {
        Ok(text) => Some(text),
        Err(crate::stack::load::ReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(refuse(e.to_string())),
    };
    // An existing production file that defines its services whole is deployed alone (as `check`
    // reads the directory): it is fixed in place, alone, never merged over the base as an overlay
    // (partial services added to it would leave it without their images).
    let mode = match existing {
        Some(_) => effective_mode(load, options),
        None => options.mode,
    };
    // An existing file the files do not say how to deploy, fixed as `--mode` says: its header
    // records how, so that `check` and the next bootstrap read it so.
    let recorded = match &existing {
        Some(text) if matches!(deployment(load, options), Deployment::Unknown(_)) => {
            Some(with_header(text, &deploy_header(load, options, mode)))
        }
        _ => None,
    };
    let start = match (&existing, recorded) {
        (None, _) => Some(initial_text(load, options)?),
        (Some(_), recorded) => recorded,
    };
    let mut load = load.clone();
    load.files = match mode {
        Mode::Overlay => options.base.iter().cloned().chain([options.output.clone()]).collect(),
        Mode::Standalone => vec![options.output.clone()],
    };
    load.dedicated = true;
    if let Some(text) = &start {
        load.overrides.insert(output.path().to_path_buf(), text.clone());
    }
    let mut fix_options = options.fix.clone();
    fix_options.unsafe_fixes = true;
    fix_options.explain = true;
    fix_options.production_file = (mode == Mode::Overlay).then(|| options.output.clone());
    if !options.extras.contains(&Extra::Backups) {
        fix_options.report_only.push("no-backup".into());
    }
    let mut settings = settings.clone();
    if options.extras.contains(&Extra::Monitoring) {
        settings.requested.push("no-monitoring".into());
    }
    if options.extras.contains(&Extra::Traefik) {
        settings.requested.push("no-reverse-proxy".into());
    }
    let mut outcome = fix::run(&load, &settings, &fix_options)?;
    if let Some(text) = start {
        // The text the plan was made from is given in memory, so the change has no `before`;
        // an existing file's is what it holds on disk (the writer refuses it if that changed).
        match outcome.changes.iter_mut().find(|c| FileKey::new(&c.path) == output) {
            Some(change) => change.before = existing,
            None => {
                let display = fix::display_new(&load, output.path());
                let path = output.path().to_path_buf();
                outcome.changes.push(FileChange { path, display, before: existing, after: text });
            }
        }
    }
    Ok(outcome)
}

/// The `# Deploy with: docker compose -f … up -d` line for the production file of `options`
/// deployed in `mode`, its files named from the project directory (as the new file's header
/// names them).
fn deploy_header(load: &LoadOptions, options: &BootstrapOptions, mode: Mode) -> String {
    let name = |path: &Path| path.strip_prefix(&load.dir).unwrap_or(path).to_string_lossy().into_owned();
    let files: Vec<&PathBuf> = match mode {
        Mode::Overlay => options.base.iter().chain([&options.output]).collect(),
        Mode::Standalone => vec![&options.output],
    };
    let named: String = files.iter().map(|f| format!(" -f {}", name(f))).collect();
    format!("# Deploy with: docker compose{named} up -d")
}

/// `text` with `line` put first (after a UTF-8 BOM), ended as the text's first line is.
fn with_header(text: &str, line: &str) -> String {
    let (bom, rest) = match text.strip_prefix('\u{feff}') {
        Some(rest) => ("\u{feff}", rest),
        None => ("", text),
    };
    let eol = match rest.find('\n') {
        Some(i) if rest[..i].ends_with('\r') => "\r\n",
        _ => "\n",
    };
    format!("{bom}{line}{eol}{rest}")
}

/// The production file before any fix: an empty overlay, or a copy of the base file; each with
/// a header saying where it comes from and how to deploy it.
fn initial_text(load: &LoadOptions, options: &BootstrapOptions) -> Result<String, FixError> {
    let renderer = Renderer::new(options.fix.templates.as_deref()).map_err(FixError::Template)?;
    let name = |path: &Path| path.strip_prefix(&load.dir).unwrap_or(path).to_string_lossy().into_owned();
    let base: Vec<String> = options.base.iter().map(|b| name(b)).collect();
    let output = name(&options.output);
    match options.mode {
        Mode::Overlay => renderer
            .render(tpl::BOOTSTRAP_OVERLAY, &serde_json::json!({ "base": base, "output": output }))
            .map_err(FixError::Template),
        Mode::Standalone => {
            let header = renderer
                .render(tpl::BOOTSTRAP_STANDALONE, &serde_json::json!({ "base": base[0], "output": output }))
                .map_err(FixError::Template)?;
            let text = crate::stack::load::read_text(&options.base[0]).map_err(|e| {
                FixError::Input(vec![LoadError {
                    path: options.base[0].display().to_string(),
                    position: None,
                    message: e.to_string(),
                    hint: None,
                }])
            })?;
            Ok(format!("{}{text}", header.trim_end_matches('\n').to_string() + "\n"))
        }
    }
}
