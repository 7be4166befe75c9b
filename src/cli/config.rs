//! `stackfix.toml`: rule selection, severities, per-service ignores and the profiles file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::Deserialize;

use stackfix::rules::{self, RuleSettings, Severity};
use stackfix::stack::load::read_text;
use stackfix::stack::{LoadOptions, Profiles};

/// `stackfix.toml`. Its JSON Schema ([`schema`], `stackfix schema`) is generated from these
/// types and kept in the repository as `stackfix.schema.json`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "stackfix.toml",
    description = "Configuration of stackfix: rules, severities, services and fix parameters"
)]
pub struct ConfigFile {
    /// Only these rules (default: all); `all` selects every rule. The command line's `--select`
    /// replaces this list.
    #[serde(default)]
    #[schemars(schema_with = "rule_names")]
    pub select: Vec<String>,
    /// Never these rules (added to `--ignore`).
    #[serde(default)]
    #[schemars(schema_with = "rule_names")]
    pub ignore: Vec<String>,
    /// A severity per rule, replacing the rule's own.
    #[serde(default)]
    #[schemars(schema_with = "severities")]
    pub severity: HashMap<String, Severity>,
    /// Per service (by its compose name): rules to ignore and fix parameters.
    #[serde(default)]
    pub services: HashMap<String, ServiceConfig>,
    /// Service profiles overriding the built-in ones (a YAML file, relative to this file, inside
    /// the project).
    pub profiles: Option<PathBuf>,
    /// Fix templates overriding the built-in ones by name (a directory, relative to this file,
    /// inside the project).
    pub templates: Option<PathBuf>,
    /// Fix template parameters for every service (`memory = "1G"`); `--set` wins.
    #[serde(default)]
    #[schemars(schema_with = "parameters")]
    pub set: HashMap<String, toml::Value>,
}

/// The settings of one service in `stackfix.toml`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// Rules whose findings on this service are not reported.
    #[serde(default)]
    #[schemars(schema_with = "rule_names")]
    pub ignore: Vec<String>,
    /// Fix template parameters for this service; `--set SERVICE.KEY=VALUE` wins.
    #[serde(default)]
    #[schemars(schema_with = "parameters")]
    pub set: HashMap<String, toml::Value>,
}

/// The JSON Schema (draft 2020-12) of `stackfix.toml`, as pretty-printed JSON with a final
/// newline: rule names and parameter keys are enumerated from the registry, so editors complete
/// and check them.
pub fn schema() -> String {
    let schema = schemars::schema_for!(ConfigFile);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

/// Every rule id, and `all`.
fn rule_ids() -> Vec<&'static str> {
    let mut ids: Vec<&str> = rules::REGISTRY.iter().map(|r| r.meta().id).collect();
    ids.push("all");
    ids
}

fn rule_names(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "array", "items": { "type": "string", "enum": rule_ids() } })
}

fn severities(_: &mut SchemaGenerator) -> Schema {
    let ids: Vec<&str> = rules::REGISTRY.iter().map(|r| r.meta().id).collect();
    json_schema!({
        "type": "object",
        "propertyNames": { "enum": ids },
        "additionalProperties": { "type": "string", "enum": ["error", "warning", "info"] },
    })
}

/// The declared fix parameters ([`stackfix::fix::PARAMETERS`]), each with its form: sizes and
/// durations as compose reads them ([`stackfix::stack::units`]).
fn parameters(_: &mut SchemaGenerator) -> Schema {
    use stackfix::fix::Form;
    let properties: serde_json::Map<String, serde_json::Value> = stackfix::fix::PARAMETERS
        .iter()
        .map(|p| {
            let description = format!("{} (read by {})", p.about, p.rules.join(", "));
            let form = match p.form {
                Form::Size => serde_json::json!({ "anyOf": [
                    { "type": "string", "pattern": SIZE_PATTERN, "examples": ["512M", "1gb", "1GiB"] },
                    { "type": "integer", "minimum": 1, "description": "bytes" },
                ] }),
                Form::Cpus => serde_json::json!({ "anyOf": [
                    { "type": "number", "exclusiveMinimum": 0 },
                    { "type": "string", "pattern": POSITIVE_PATTERN },
                ] }),
                Form::Count => serde_json::json!({ "anyOf": [
                    { "type": "integer", "minimum": 1 },
                    { "type": "string", "pattern": "^[0-9]*[1-9][0-9]*$" },
                ] }),
                Form::Duration => {
                    serde_json::json!({ "type": "string", "pattern": DURATION_PATTERN, "examples": ["30s", "1m30s"] })
                }
                Form::OneOf(words) => serde_json::json!({ "type": "string", "enum": words }),
                Form::Text => serde_json::json!({ "type": "string", "pattern": "^[^\\r\\n]+$" }),
            };
            let mut entry = serde_json::json!({ "description": description });
            if let (Some(entry), Some(form)) = (entry.as_object_mut(), form.as_object()) {
                entry.extend(form.clone());
            }
            (p.name.to_string(), entry)
        })
        .collect();
    json_schema!({ "type": "object", "properties": properties, "additionalProperties": false })
}

/// go-units' `RAMInBytes` syntax ([`stackfix::stack::units::ram_in_bytes`]) for at least one
/// byte: a number of at least one byte (the fraction is dropped, as compose drops it), or a
/// number above zero with a unit.
const SIZE_PATTERN: &str = r"^(0*[1-9][0-9]*(\.[0-9]*)? ?[bB]?|(0*[1-9][0-9]*(\.[0-9]*)?|0*\.[0-9]*[1-9][0-9]*) ?[kKmMgGtTpP]([bB]|[iI][bB])?)$";
/// A number above zero.
const POSITIVE_PATTERN: &str = r"^(0*[1-9][0-9]*(\.[0-9]*)?|0*\.[0-9]*[1-9][0-9]*)$";
/// Go's `time.ParseDuration` syntax ([`stackfix::stack::units::go_duration`]), without a sign,
/// longer than zero.
const DURATION_PATTERN: &str = r"^(?=.*[1-9])(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+$";

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

/// Reads the configuration: the explicit file, else the closest `stackfix.toml` in `dir` or a
/// directory above it, up to the project root (the git work tree's top, else `dir`), so one file
/// at the top of a repository configures every stack in it.
pub fn load(explicit: Option<&Path>, dir: &Path) -> Result<(ConfigFile, Option<PathBuf>), String> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => match find_config(dir) {
            Some(found) => found,
            None => return Ok((ConfigFile::default(), None)),
        },
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

/// The closest `stackfix.toml` at or above `dir`, not above the project root. Shown as `dir`
/// with `../` steps, as the user named the directory.
fn find_config(dir: &Path) -> Option<PathBuf> {
    let root = stackfix::stack::load::project_root(dir);
    let real = dir.canonicalize().ok()?;
    let mut shown = dir.to_path_buf();
    for ancestor in real.ancestors() {
        let candidate = shown.join("stackfix.toml");
        if ancestor.join("stackfix.toml").is_file() {
            return Some(stackfix::stack::load::normalize(&candidate));
        }
        if ancestor == root {
            break;
        }
        shown.push("..");
    }
    None
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

/// One stack to load: its project directory and its compose files (`-f`; empty: found in the
/// directory as `docker compose` finds them).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Target {
    pub dir: PathBuf,
    pub files: Vec<PathBuf>,
}

/// The stacks the command line names, sorted by directory and without repeats:
/// - no PATH: the `--project-directory`, else the first `-f` file's directory, else the current
///   directory (with `--recursive`: every stack below the current directory);
/// - a directory: the stack there (with `--recursive`: every stack at or below it);
/// - a compose file: the stack of its directory when `docker compose` would find the file there
///   (`compose.yaml`, `docker-compose.yml`, their `.override` files, production files), else
///   the file alone, as `docker compose -f FILE` loads it.
///
/// `-f` names the files of one stack: it takes at most one directory and no `--recursive`.
/// Errors: a PATH that does not exist, `-f` with several paths, a walk that fails. What a walk
/// skipped and why goes to `notes`.
pub fn targets(
    args: &super::CommonArgs,
    recursive: bool,
    exclude: &[String],
    notes: &mut Vec<String>,
) -> Result<Vec<Target>, String> {
    if !args.files.is_empty() {
        if recursive {
            return Err("-f names the files of one stack; it does not go with --recursive".into());
        }
        if args.paths.len() > 1 || args.paths.iter().any(|p| p.is_file()) {
            return Err("-f names the files of one stack; give at most one directory with it".into());
        }
    }
    let mut out = Vec::new();
    if args.paths.is_empty() {
        match recursive {
            true => out.extend(walk(Path::new("."), exclude, notes)?),
            false => out.push(Target { dir: project_directory(args), files: args.files.clone() }),
        }
        if !recursive && args.files.is_empty() && args.project_directory.is_none() {
            if let Some(up) = compose_above() {
                out[0].dir = up;
            }
        }
    }
    let skip = exclusions(Path::new("."), exclude)?;
    for path in args.paths.iter().filter(|p| !excluded(&skip, p)) {
        let meta = std::fs::metadata(path).map_err(|e| format!("{}: {}", path.display(), io_reason(&e)))?;
        if meta.is_dir() {
            match recursive {
                true => out.extend(walk(path, exclude, notes)?),
                false => out.push(Target { dir: path.clone(), files: args.files.clone() }),
            }
            continue;
        }
        let dir = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        // The directory's stack when its discovery loads this very file (not when a base file
        // compose prefers hides it: `docker-compose.yml` beside `compose.yaml`).
        let canonical = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
        let loaded = stackfix::stack::load::discovered_files(&dir).iter().any(|f| canonical(f) == canonical(path));
        match loaded {
            true => out.push(Target { dir, files: Vec::new() }),
            false => out.push(Target { dir, files: vec![path.clone()] }),
        }
    }
    // One stack named twice (`a`, `./a`, `a/compose.yaml`) is checked once, under the first
    // spelling in order.
    out.sort();
    let mut seen = std::collections::HashSet::new();
    let canonical = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    out.retain(|t| seen.insert((canonical(&t.dir), t.files.iter().map(|f| canonical(f)).collect::<Vec<_>>())));
    Ok(out)
}

/// When the current directory holds no compose file (by name, or a YAML file with a top-level
/// `services:` that stackfix would load), the closest directory above it that holds a base
/// compose file, as `docker compose` looks for one, up to the top of the git work tree if any:
/// `..`, `../..`, … (relative, so paths are shown from where stackfix runs). Says so on stderr.
fn compose_above() -> Option<PathBuf> {
    let here = Path::new(".");
    let files = |dir: &Path| -> Vec<String> {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_file())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect()
    };
    let local = files(here);
    if local.iter().any(|n| stackfix::stack::load::is_discovered_name(n)) || has_compose_yaml(here) {
        return None;
    }
    let cwd = std::env::current_dir().ok()?;
    // Inside a git work tree, not above its top; elsewhere up to the root, as compose goes.
    let top = cwd.ancestors().find(|a| a.join(".git").exists()).unwrap_or(Path::new("/")).to_path_buf();
    let mut up = PathBuf::new();
    for ancestor in cwd.ancestors().skip(1) {
        if !ancestor.starts_with(&top) {
            break;
        }
        up.push("..");
        if files(ancestor).iter().any(|n| stackfix::stack::load::BASE_NAMES.contains(&n.as_str())) {
            eprintln!(
                "note: no compose file in the current directory; using the stack in {} (the closest directory above \
                 with one, as docker compose does)",
                up.display()
            );
            return Some(up);
        }
    }
    None
}

/// The `--exclude` globs as a matcher of paths relative to `root` (gitignore syntax).
fn exclusions(root: &Path, exclude: &[String]) -> Result<ignore::overrides::Override, String> {
    let mut overrides = ignore::overrides::OverrideBuilder::new(root);
    for glob in exclude {
        // `./vendor` means `vendor` here, as a shell user writes it.
        let pattern = glob.strip_prefix("./").unwrap_or(glob);
        overrides.add(&format!("!{pattern}")).map_err(|e| format!("--exclude `{glob}`: {e}"))?;
    }
    overrides.build().map_err(|e| format!("--exclude: {e}"))
}

/// Whether `--exclude` skips a PATH named on the command line (or a directory holding it).
fn excluded(matcher: &ignore::overrides::Override, path: &Path) -> bool {
    let relative = path.strip_prefix(".").unwrap_or(path);
    relative.ancestors().filter(|a| !a.as_os_str().is_empty()).any(|a| matcher.matched(a, a.is_dir()).is_ignore())
}

/// "no such file or directory", as a person reads an I/O error about a path.
fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        _ => e.to_string(),
    }
}

/// The stacks at or below `root`: every directory holding a file `docker compose` finds by name
/// (see [`stackfix::stack::load::is_discovered_name`]). Walked as git sees the tree: what
/// `.gitignore`, `.ignore` and git's exclude files ignore is skipped, and `.git` itself; hidden
/// directories (`.devcontainer`) are walked. `exclude` holds gitignore-style globs, matched
/// against paths relative to `root`.
fn walk(root: &Path, exclude: &[String], notes: &mut Vec<String>) -> Result<Vec<Target>, String> {
    let overrides = exclusions(root, exclude)?;
    let walker = ignore::WalkBuilder::new(root)
        .hidden(false)
        // A .gitignore counts outside a git repository too (a copied tree, an export).
        .require_git(false)
        .overrides(overrides)
        .filter_entry(|entry| entry.file_name() != ".git")
        .build();
    let mut dirs = std::collections::BTreeSet::new();
    let mut maybe = std::collections::BTreeSet::new();
    for entry in walker {
        let entry = entry.map_err(|e| format!("{}: {e}", root.display()))?;
        let path = entry.path();
        // A compose file that is a link to one counts (the walk itself does not follow links).
        if entry.file_type().is_some_and(|t| t.is_dir()) || !path.is_file() {
            continue;
        }
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else { continue };
        let dir = path.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let dir = if dir.as_os_str().is_empty() { PathBuf::from(".") } else { dir };
        if stackfix::stack::load::is_discovered_name(name) {
            dirs.insert(dir);
        } else if name.contains("compose") && (name.ends_with(".yml") || name.ends_with(".yaml")) {
            // `docker-compose-gateway.yml` alone in its directory: a stack when the directory has
            // no file compose finds by name (then stackfix loads each YAML file with `services:`).
            maybe.insert(dir);
        }
    }
    for dir in maybe {
        let by_name = stackfix::stack::load::discovered_files(&dir);
        if by_name.is_empty() && !dirs.contains(&dir) && has_compose_yaml(&dir) {
            match overlay_reason(&dir) {
                Some(reason) => notes.push(format!(
                    "{}: not a stack of its own, skipped: {reason}; it reads as an overlay of another stack (check \
                     it with `-f BASE -f FILE`)",
                    dir.display()
                )),
                None => {
                    dirs.insert(dir);
                }
            }
        }
    }
    Ok(dirs.into_iter().map(|dir| Target { dir, files: Vec::new() }).collect())
}

/// Why the compose files of `dir` (a directory compose discovers nothing in, whose YAML files
/// with `services:` stackfix would load) do not stand alone: a service depends on a service no
/// file there defines, or has neither `image`, `build` nor `extends` (`docker compose config`
/// refuses both). Such files are overlays, written to be merged over another stack's files
/// (docker-elk's `extensions/*/*-compose.yml`). None when they stand alone, or do not parse
/// (then loading reports the error).
fn overlay_reason(dir: &Path) -> Option<String> {
    use stackfix::yaml::{NodeKind, Tree};
    let mut trees = Vec::new();
    for entry in std::fs::read_dir(dir).ok()?.filter_map(|e| e.ok()) {
        let path = entry.path();
        if !path.extension().is_some_and(|x| x == "yml" || x == "yaml") || !path.is_file() {
            continue;
        }
        let Ok(text) = stackfix::stack::load::read_text(&path) else { continue };
        if !text.lines().any(|l| l.trim_end() == "services:") {
            continue;
        }
        let name = path.file_name()?.to_string_lossy().into_owned();
        trees.push((name, Tree::parse(text).ok()?));
    }
    trees.sort_by(|a, b| a.0.cmp(&b.0));
    let services = |tree: &Tree| -> Vec<(String, stackfix::yaml::NodeId)> {
        let Some(map) = tree.root().and_then(|r| tree.entry(r, "services")).map(|e| tree.resolve(e.value)) else {
            return Vec::new();
        };
        tree.entries(map)
            .iter()
            .filter_map(|e| Some((tree.node(e.key).as_str()?.to_string(), tree.resolve(e.value))))
            .collect()
    };
    let defined: std::collections::HashSet<String> =
        trees.iter().flat_map(|(_, t)| services(t)).map(|(name, _)| name).collect();
    for (file, tree) in &trees {
        for (name, service) in services(tree) {
            if !matches!(tree.node(service).kind, NodeKind::Mapping { .. }) {
                continue;
            }
            let has = |key: &str| tree.entry(service, key).is_some();
            if !has("image")
                && !has("build")
                && !has("extends")
                && !tree.entries(service).iter().any(|e| tree.is_merge_key(e.key))
            {
                return Some(format!("in {file}, service `{name}` has neither `image`, `build` nor `extends`"));
            }
            let Some(depends) = tree.entry(service, "depends_on").map(|e| tree.resolve(e.value)) else { continue };
            let named: Vec<String> = match matches!(tree.node(depends).kind, NodeKind::Mapping { .. }) {
                true => {
                    tree.entries(depends).iter().filter_map(|e| tree.node(e.key).as_str().map(str::to_string)).collect()
                }
                false => tree
                    .items(depends)
                    .iter()
                    .filter_map(|&i| tree.node(tree.resolve(i)).as_str().map(str::to_string))
                    .collect(),
            };
            // A name written with a variable is compose's to resolve.
            if let Some(missing) = named.iter().find(|d| !d.contains('$') && !defined.contains(*d)) {
                return Some(format!(
                    "in {file}, service `{name}` depends on `{missing}`, which no file there defines"
                ));
            }
        }
    }
    None
}

/// Whether `dir` holds a YAML file with a top-level `services:` line, which stackfix loads when
/// the directory has no file compose finds by name.
fn has_compose_yaml(dir: &Path) -> bool {
    std::fs::read_dir(dir).into_iter().flatten().filter_map(|e| e.ok()).any(|e| {
        let path = e.path();
        let yaml = path.extension().is_some_and(|x| x == "yml" || x == "yaml");
        yaml && path.is_file()
            && stackfix::stack::load::read_text(&path).is_ok_and(|t| t.lines().any(|l| l.trim_end() == "services:"))
    })
}

/// The project directory as compose finds it: the one named, else the first compose file's
/// directory, else the current one.
pub fn project_directory(args: &super::CommonArgs) -> PathBuf {
    if let Some(dir) = args.paths.first().cloned().or_else(|| args.project_directory.clone()) {
        return dir;
    }
    match args.files.first().and_then(|f| f.parent()) {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// [`prepare_target`] for a command that works on one stack: the command line must name one.
pub fn prepare(args: &super::CommonArgs) -> Result<Prepared, String> {
    let targets = targets(args, false, &[], &mut Vec::new())?;
    match targets.as_slice() {
        [target] => prepare_target(args, target),
        _ => Err(format!(
            "this command works on one stack at a time, and the paths name {} stacks; run it once per stack",
            targets.len()
        )),
    }
}

/// Everything needed to load one stack: its project directory and files, the rule settings and
/// profiles from the command line and its configuration file.
pub fn prepare_target(args: &super::CommonArgs, target: &Target) -> Result<Prepared, String> {
    let dir = target.dir.clone();
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
    Ok(Prepared { load: LoadOptions::new(dir, target.files.clone(), profiles), settings, file, config_dir })
}
