//! `stackfix.toml`: rule selection, severities, per-service ignores and the profiles file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use stackfix::rules::{self, RuleSettings, Severity};
use stackfix::stack::load::read_text;
use stackfix::stack::{LoadOptions, Profiles};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub select: Vec<String>,
    #[serde(default)]
    pub ignore: Vec<String>,
    #[serde(default)]
    pub severity: HashMap<String, Severity>,
    #[serde(default)]
    pub services: HashMap<String, ServiceConfig>,
    /// Service profiles overriding the built-in ones (relative to the config file).
    pub profiles: Option<PathBuf>,
    /// Fix templates overriding the built-in ones by name (relative to the config file).
    pub templates: Option<PathBuf>,
    /// Fix template parameters for every service (`memory = "1G"`).
    #[serde(default)]
    pub set: HashMap<String, toml::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    #[serde(default)]
    pub ignore: Vec<String>,
    /// Fix template parameters for this service.
    #[serde(default)]
    pub set: HashMap<String, toml::Value>,
}

impl ConfigFile {
    /// Template parameters from the file: (service or none for all, key, value), global first.
    pub fn sets(&self) -> Vec<(Option<String>, String, String)> {
        let text = |v: &toml::Value| v.as_str().map_or_else(|| v.to_string(), str::to_string);
        let mut out: Vec<_> = self.set.iter().map(|(k, v)| (None, k.clone(), text(v))).collect();
        for (service, config) in &self.services {
            out.extend(config.set.iter().map(|(k, v)| (Some(service.clone()), k.clone(), text(v))));
        }
        out
    }
}

/// Reads the configuration: the explicit file, else `stackfix.toml` in `dir` if it exists.
pub fn load(explicit: Option<&Path>, dir: &Path) -> Result<(ConfigFile, Option<PathBuf>), String> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => {
            let default = dir.join("stackfix.toml");
            if !default.is_file() {
                return Ok((ConfigFile::default(), None));
            }
            default
        }
    };
    let text = read_text(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let config: ConfigFile = toml::from_str(&text).map_err(|e| {
        let position = e.span().map(|s| {
            let line = text[..s.start].matches('\n').count() + 1;
            let col = text[..s.start].rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("{line}:{col}: ")
        });
        format!("{}:{}{}", path.display(), position.unwrap_or_default(), e.message())
    })?;
    Ok((config, Some(path)))
}

/// Command line and file settings combined, every rule name checked.
pub fn settings(file: &ConfigFile, select: &[String], ignore: &[String]) -> Result<RuleSettings, String> {
    let select = if select.is_empty() { file.select.clone() } else { select.to_vec() };
    let mut all_ignore = file.ignore.clone();
    all_ignore.extend(ignore.iter().cloned());
    let names = select
        .iter()
        .chain(&all_ignore)
        .chain(file.severity.keys())
        .chain(file.services.values().flat_map(|s| &s.ignore));
    for name in names {
        if name != "all" && rules::by_id(name).is_none() {
            let hint = stackfix::fix::did_you_mean(rules::REGISTRY.iter().map(|r| r.meta().id), name);
            return Err(format!("unknown rule `{name}`{hint} (see `stackfix rules`)"));
        }
    }
    Ok(RuleSettings {
        select,
        ignore: all_ignore,
        severity: file.severity.clone(),
        service_ignore: file.services.iter().map(|(k, v)| (k.clone(), v.ignore.clone())).collect(),
        requested: Vec::new(),
    })
}

/// `path`, named by key `key` of the configuration file, if it resolves inside the project of
/// `dir`: the configuration file comes with the repository, so it may not point elsewhere.
pub fn inside_project(dir: &Path, path: PathBuf, key: &str) -> Result<PathBuf, String> {
    let root = stackfix::stack::load::project_root(dir);
    match stackfix::stack::load::resolve(&path) {
        Some(real) if real.starts_with(&root) => Ok(path),
        _ => Err(format!(
            "stackfix.toml: `{key}` ({}) is outside the project; pass it with --{key} to use it",
            path.display()
        )),
    }
}

/// Everything `check` and `fix` need before loading: the project directory, rule settings,
/// profiles and the configuration file's directory (for its relative paths).
pub struct Prepared {
    pub load: LoadOptions,
    pub settings: RuleSettings,
    pub file: ConfigFile,
    pub config_dir: PathBuf,
}

/// The project directory as compose finds it: the one named, else the first compose file's
/// directory, else the current one.
pub fn project_directory(args: &super::CommonArgs) -> PathBuf {
    if let Some(dir) = args.dir.clone().or_else(|| args.project_directory.clone()) {
        return dir;
    }
    match args.files.first().and_then(|f| f.parent()) {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

pub fn prepare(args: &super::CommonArgs) -> Result<Prepared, String> {
    let dir = project_directory(args);
    if !dir.is_dir() {
        return Err(format!("{}: not a directory", dir.display()));
    }
    let (file, path) = load(args.config.as_deref(), &dir)?;
    let settings = settings(&file, &args.select, &args.ignore)?;
    let config_dir = path.as_deref().and_then(Path::parent).map(Path::to_path_buf).unwrap_or_else(|| dir.clone());
    let profiles_path = match (&args.profiles, &file.profiles) {
        (Some(given), _) => Some(given.clone()),
        (None, Some(configured)) => Some(inside_project(&dir, config_dir.join(configured), "profiles")?),
        (None, None) => None,
    };
    let profiles = match profiles_path {
        None => Profiles::builtin(),
        Some(p) => read_text(&p)
            .map_err(|e| e.to_string())
            .and_then(|t| Profiles::with_overrides(&t))
            .map_err(|e| format!("{}: {e}", p.display()))?,
    };
    Ok(Prepared { load: LoadOptions::new(dir, args.files.clone(), profiles), settings, file, config_dir })
}
