//! Loading a stack like `docker compose` does: file discovery (base, `.override`, production files),
//! `-f` lists, `include:`, `extends`, merging, and which configurations the rules judge.

use std::collections::{HashMap, HashSet};
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use super::interpolate;
use super::merge::{merge_documents, normalize_service};
use super::service::Service;
use super::value::{FileId, Value, ValueKind};
use super::{side, Config, FileKey, FileRole, LoadError, Note, Profiles, Role, SourceFile, Stack};
use crate::yaml::{Source, TextEdit, Tree};

/// Files larger than this are refused rather than parsed.
pub const MAX_FILE_BYTES: u64 = 10 * 1024 * 1024;
const MAX_INCLUDE_DEPTH: usize = 16;
/// A stack's files together may hold no more than this (each one at most `MAX_FILE_BYTES`): with
/// `include:`, a stack could otherwise name any number of large files.
pub const MAX_STACK_BYTES: u64 = 32 * 1024 * 1024;
/// Longest `extends` chain followed (compose files use two or three).
const MAX_EXTENDS_DEPTH: usize = 16;

/// Why [`read_text`] read nothing.
#[derive(Debug)]
pub enum ReadError {
    Io(std::io::Error),
    TooLarge(u64),
    /// A device, FIFO, socket or directory: reading one may never end.
    NotRegular,
    /// Not UTF-8: the first byte that is not, 1-based at `line` and `column` (counted in
    /// characters of the valid text before it on its line).
    NotUtf8 {
        line: usize,
        column: usize,
        byte: u8,
    },
}

impl ReadError {
    /// Where in the file the error is (1-based line and column), when it is at one place.
    pub fn position(&self) -> Option<(usize, usize)> {
        match self {
            ReadError::NotUtf8 { line, column, .. } => Some((*line, *column)),
            _ => None,
        }
    }

    /// The error without its position (shown where the position is, as `file:line:col`).
    pub fn message_at(&self) -> String {
        match self {
            ReadError::NotUtf8 { byte, .. } => format!("not UTF-8 text: byte 0x{byte:02X} is not valid UTF-8 here"),
            other => other.to_string(),
        }
    }
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "cannot read: {e}"),
            ReadError::TooLarge(len) => {
                write!(f, "file is {len} bytes; stackfix reads files up to {MAX_FILE_BYTES} bytes")
            }
            ReadError::NotRegular => {
                write!(f, "not a regular file (a device, FIFO or directory); stackfix reads files only")
            }
            ReadError::NotUtf8 { line, column, byte } => {
                write!(f, "not UTF-8 text: byte 0x{byte:02X} at line {line}, column {column} is not valid UTF-8 here")
            }
        }
    }
}

/// Reads a regular file of at most [`MAX_FILE_BYTES`] as text. Every file stackfix reads goes
/// through here: a compose file, Dockerfile, `.env` or template that names `/dev/zero`, a FIFO
/// or a file growing while read ends in an error, not in a read without end.
pub fn read_text(path: &Path) -> Result<String, ReadError> {
    let bytes = read_bytes(path)?;
    String::from_utf8(bytes).map_err(|e| not_utf8(e.as_bytes(), e.utf8_error().valid_up_to()))
}

/// [`read_text`] of an env file (`.env`, an `env_file`, `.env.example`), whose bytes that are not
/// UTF-8 are read as U+FFFD: `docker compose` reads such a file (it passes the bytes on), so
/// its other variables count.
pub fn read_env_text(path: &Path) -> Result<String, ReadError> {
    let bytes = read_bytes(path)?;
    Ok(match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

/// The bytes of a regular file of at most [`MAX_FILE_BYTES`] (see [`read_text`]).
fn read_bytes(path: &Path) -> Result<Vec<u8>, ReadError> {
    use std::io::Read;
    // Checked before opening: opening a FIFO waits for a writer.
    let meta = std::fs::metadata(path).map_err(ReadError::Io)?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular);
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(ReadError::TooLarge(meta.len()));
    }
    let file = std::fs::File::open(path).map_err(ReadError::Io)?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(ReadError::Io)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(ReadError::TooLarge(bytes.len() as u64));
    }
    Ok(bytes)
}

/// [`ReadError::NotUtf8`] for `bytes`, valid UTF-8 up to `valid` (a line ends at `\n`).
fn not_utf8(bytes: &[u8], valid: usize) -> ReadError {
    let before = &bytes[..valid];
    let line_start = memchr::memrchr(b'\n', before).map_or(0, |i| i + 1);
    let line = 1 + memchr::memchr_iter(b'\n', before).count();
    // The bytes before it on its line are valid UTF-8 (a byte order mark is no column).
    let text = std::str::from_utf8(&before[line_start..]).unwrap_or("");
    let text = if line_start == 0 { text.strip_prefix('\u{feff}').unwrap_or(text) } else { text };
    let column = 1 + text.chars().count();
    ReadError::NotUtf8 { line, column, byte: bytes.get(valid).copied().unwrap_or(0) }
}

/// Top-level keys the compose specification allows (besides `x-*` extensions).
const TOP_LEVEL_KEYS: &[&str] =
    &["version", "name", "include", "services", "networks", "volumes", "secrets", "configs", "models"];

/// The base compose file names, in the order `docker compose` prefers them.
pub const BASE_NAMES: &[&str] = &["compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml"];

/// What to load.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Project directory.
    pub dir: PathBuf,
    /// Explicit compose files (`-f`), in order; empty to discover them.
    pub files: Vec<PathBuf>,
    pub profiles: Profiles,
    /// File contents to use instead of what is on disk (by path), so a fix can be checked before
    /// anything is written.
    pub overrides: HashMap<PathBuf, String>,
    /// The explicit files make a production configuration that no development one shares (a
    /// standalone production file): fixes may take out what only development needs.
    pub dedicated: bool,
}

impl LoadOptions {
    pub fn new(dir: PathBuf, files: Vec<PathBuf>, profiles: Profiles) -> LoadOptions {
        LoadOptions { dir, files, profiles, overrides: HashMap::new(), dedicated: false }
    }
}

pub fn load(options: &LoadOptions) -> Stack {
    load_with(options, HashMap::new(), HashMap::new(), None)
}

/// [`load`] again after a fix run changed some files in memory: `options` are the options
/// `before` was loaded with plus the run's texts (in [`LoadOptions::overrides`]). A file
/// `options` does not give in memory is taken as `before` read it (its tree, or its text)
/// instead of being read and parsed again; the stack is otherwise loaded as [`load`] loads it
/// (the same byte and node budgets, errors and notes). Files `before` did not read are read from
/// disk.
pub fn load_again(options: &LoadOptions, before: &Stack) -> Stack {
    load_edited(options, before, &HashMap::new())
}

/// [`load_again`], where `edits` are the edits (offsets in the text `before` holds) that made
/// each given file's text: a YAML file `before` parsed is parsed again only where they are (see
/// [`Tree::reparse`]); one given unchanged is taken as `before` parsed it.
pub fn load_edited(options: &LoadOptions, before: &Stack, edits: &HashMap<FileKey, Vec<TextEdit>>) -> Stack {
    // Each text given, by the absolute path it is given for (a file of project `.` is read as
    // `./docker-compose.yml` and may be given as `docker-compose.yml`).
    let given: HashMap<PathBuf, &String> = options.overrides.iter().map(|(p, text)| (absolute(p), text)).collect();
    let mut edited: HashMap<FileKey, (Arc<Tree>, Vec<TextEdit>)> = HashMap::new();
    for f in &before.files {
        let Some(tree) = &f.tree else { continue };
        let Some(&text) = given.get(&absolute(&f.path)) else { continue };
        match edits.get(&f.key) {
            Some(edits) => {
                edited.insert(f.key.clone(), (tree.clone(), edits.clone()));
            }
            None if text == tree.source.text() => {
                edited.insert(f.key.clone(), (tree.clone(), Vec::new()));
            }
            None => {}
        }
    }
    let earlier = before
        .files
        .iter()
        .filter(|f| !given.contains_key(&absolute(&f.path)))
        .map(|f| {
            let read = match &f.tree {
                Some(tree) => Earlier::Tree(tree.clone()),
                None => Earlier::Text(f.source().text().to_string()),
            };
            (f.key.clone(), read)
        })
        .collect();
    // The same project: its root and the paths resolved for `before` hold for this load.
    let known = (options.dir == before.root).then(|| before.resolved.clone());
    load_with(options, earlier, edited, known)
}

/// The kind of `service` among `profiles` (its profile's name).
fn classify(profiles: &Profiles, service: &Service) -> String {
    let dockerfile = service.build.as_ref().and_then(|b| b.dockerfile.as_ref()).map(|d| d.value.as_str());
    let command = service.command_line();
    let sig = super::profiles::ServiceSignature {
        name: &service.name,
        image: service.image.as_ref().map(|i| i.value.as_str()),
        command: &command,
        dockerfile,
        is_built: service.build.is_some(),
    };
    profiles.classify(&sig).name.clone()
}

/// Whether a YAML text may have a key `services` (and so be a compose file): it holds the word,
/// or a backslash (a double-quoted key may write it with escapes, `"\x73ervices"`). Every other
/// way to write a key (plain, quoted, block scalar, flow, explicit `?`, an anchored scalar an
/// alias repeats) writes the word itself; folded and multi-line flow scalars join their lines
/// with a space. A text without either is known not to be one without parsing it.
fn may_name_services(text: &str) -> bool {
    memchr::memmem::find(text.as_bytes(), b"services").is_some() || memchr::memchr(b'\\', text.as_bytes()).is_some()
}

/// A file as an earlier load of the stack read it from disk.
enum Earlier {
    /// A YAML file, parsed (shared with the earlier stack).
    Tree(Arc<Tree>),
    /// A file read as text.
    Text(String),
}

fn load_with(
    options: &LoadOptions,
    earlier: HashMap<FileKey, Earlier>,
    edited: HashMap<FileKey, (Arc<Tree>, Vec<TextEdit>)>,
    known: Option<Resolved>,
) -> Stack {
    let mut loader = Loader::new(options, known);
    loader.earlier = earlier;
    loader.edited = edited;
    let plans = match loader.plans(options) {
        Ok(plans) => plans,
        Err(err) => {
            loader.errors.push(err);
            Vec::new()
        }
    };
    for (paths, _) in &plans {
        for path in paths {
            *loader.pending_uses.entry(FileKey::new(path)).or_default() += 1;
        }
    }
    let mut configs = Vec::new();
    for (paths, role) in plans {
        if let Some(mut config) = loader.config(&paths, role) {
            config.dedicated = options.dedicated && !options.files.is_empty();
            configs.push(config);
        }
    }
    if options.files.is_empty() && loader.edited.is_empty() {
        let notes = standalone_production_notes(&configs, &loader.files);
        loader.notes.extend(notes);
    }
    Stack {
        root: loader.root,
        files: loader.files,
        configs,
        notes: loader.notes,
        errors: loader.errors,
        env: loader.env,
        profiles: options.profiles.clone(),
        also_read: {
            let mut read = loader.also_read;
            read.sort();
            read.dedup();
            read
        },
        defined_alike: loader.defined_alike,
        extends: {
            let mut pairs: Vec<_> = loader.extends.into_iter().collect();
            pairs.sort_unstable();
            pairs
        },
        resolved: Resolved {
            project: loader.root_abs,
            real_paths: loader.real_paths,
            not_compose: loader.not_compose,
            names: loader.names,
        },
    }
}

/// What a production file read alone leaves out of the base `base` gives its services, as
/// (service, the keys left out; none when the whole service is left out), in the base's order:
/// deployed alone it runs without them, over the base with them. Keys whose value comes from one
/// of `skipped` (a development `.override` file merged into the base) are not the base's.
pub fn left_out(base: &Config, skipped: &[FileId], production: &Config) -> Vec<(String, Vec<String>)> {
    base.services
        .iter()
        .filter_map(|b| match production.service(&b.name) {
            None => Some((b.name.clone(), Vec::new())),
            Some(p) => {
                let keys: Vec<String> = b
                    .value
                    .entries()
                    .iter()
                    .filter(|(key, value)| !skipped.contains(&value.loc.file) && p.value.get(key).is_none())
                    .map(|(k, _)| k.clone())
                    .collect();
                (!keys.is_empty()).then(|| (b.name.clone(), keys))
            }
        })
        .collect()
}

/// How many files the `# Deploy with: docker compose -f … -f FILE up -d` line in the leading
/// comments of `text` names (the header `stackfix bootstrap` writes), when the last of them is
/// named `own` (a file name); `None` without such a line, or when a word of it is neither an
/// option nor a file of one (`-f X`, `-fX`, `-f=X`, `--file X`, `--file=X`). A UTF-8 BOM is
/// skipped.
pub fn deployed_with(text: &str, own: &str) -> Option<usize> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let line = text
        .lines()
        .take_while(|l| l.trim_start().starts_with('#'))
        .find_map(|l| l.trim_start().strip_prefix("# Deploy with: docker compose "))?;
    let mut words = line.split_whitespace().take_while(|w| *w != "up");
    let mut files: Vec<&str> = Vec::new();
    while let Some(word) = words.next() {
        match word {
            "-f" | "--file" => files.push(words.next()?),
            _ => match word.strip_prefix("--file=").or_else(|| word.strip_prefix("-f")) {
                Some(file) => files.push(file.strip_prefix('=').unwrap_or(file)),
                // Another option (`-p NAME`, `--profile …`) says nothing of the files; a word
                // that is no option is a spelling this does not read.
                None if word.starts_with('-') => {}
                None => return None,
            },
        }
    }
    let last = Path::new(files.last()?).file_name()?.to_str()?;
    (last == own).then_some(files.len())
}

/// The service keys production rules judge (health, restart, logs, resources, hardening) that a
/// production file meant to run alone keeps when the base gives them (unlike `cap_add`,
/// `security_opt` or `user`, which a base may set for debugging).
const PRODUCTION_SETTINGS: &[&str] = &[
    "healthcheck",
    "restart",
    "logging",
    "deploy",
    "mem_limit",
    "memswap_limit",
    "mem_reservation",
    "cpus",
    "pids_limit",
    "cap_drop",
    "read_only",
];

/// The keys that set a service's resources, one of which stands for the others (compose's
/// `deploy.resources` and the top-level spelling).
const RESOURCE_SETTINGS: &[&str] = &["deploy", "mem_limit", "memswap_limit", "mem_reservation", "cpus", "pids_limit"];

/// A note for each production file of a directory that is read alone next to a base file (every
/// service it defines has an image, a build or `extends`) but leaves out [`PRODUCTION_SETTINGS`]
/// the base gives its services: it may as well be deployed over the base, which the files do
/// not say (unless its `# Deploy with: …` header does), and then its findings are not those of
/// what runs.
fn standalone_production_notes(configs: &[Config], files: &[SourceFile]) -> Vec<Note> {
    let Some(base) = configs.iter().find(|c| c.role == Role::Development) else { return Vec::new() };
    let Some(&base_file) = base.files.first() else { return Vec::new() };
    let mut notes = Vec::new();
    for production in configs.iter().filter(|c| c.is_production() && c.files.len() == 1 && c.files[0] != base_file) {
        let file = &files[production.files[0]];
        let own = file.path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if deployed_with(file.source().text(), own) == Some(1) {
            continue;
        }
        // Only what production rules judge: a file meant to run alone drops ports, source
        // mounts, builds and development services on purpose, but not these.
        let left: Vec<(String, Vec<String>)> = left_out(base, &base.files[1..], production)
            .into_iter()
            .filter_map(|(service, keys)| {
                let sized = production
                    .service(&service)
                    .is_some_and(|p| RESOURCE_SETTINGS.iter().any(|k| p.value.get(k).is_some()));
                let keys: Vec<String> = keys
                    .into_iter()
                    .filter(|k| PRODUCTION_SETTINGS.contains(&k.as_str()))
                    .filter(|k| !(sized && RESOURCE_SETTINGS.contains(&k.as_str())))
                    .collect();
                (!keys.is_empty()).then_some((service, keys))
            })
            .collect();
        if left.is_empty() {
            continue;
        }
        const SHOWN: usize = 5;
        let mut named: Vec<String> =
            left.iter().take(SHOWN).map(|(service, keys)| format!("`{service}` ({})", keys.join(", "))).collect();
        if left.len() > SHOWN {
            named.push(format!("and {} more", left.len() - SHOWN));
        }
        let base_name = &files[base_file].display;
        notes.push(Note {
            at: None,
            message: format!(
                "{prod} is checked alone, as every service in it has an image or a build, but it leaves out \
                 production settings {base_name} gives: {}; if it is deployed over {base_name}, the findings \
                 about them are not what runs: check it as deployed with `stackfix check -f {base_name} -f {prod}`",
                named.join(", "),
                prod = file.display,
            ),
        });
    }
    notes
}

/// A compose file after `include:`, `extends` and normalisation.
struct ComposeDoc {
    file: FileId,
    doc: Value,
}

pub(crate) struct Loader {
    pub(crate) root: PathBuf,
    /// The directory the relative paths of a configuration's files resolve from: `root`, or the
    /// directory of the first file `COMPOSE_FILE` names.
    project_dir: PathBuf,
    pub(crate) files: Vec<SourceFile>,
    by_path: HashMap<FileKey, FileId>,
    docs: HashMap<FileId, Option<Rc<ComposeDoc>>>,
    /// How many configurations still to load name each compose file: after the last, its cached
    /// document is moved into the configuration instead of copied.
    pending_uses: HashMap<FileKey, usize>,
    /// What the stack may still read: bytes, and YAML nodes.
    bytes_read: u64,
    nodes_left: usize,
    /// Dockerfiles already read, by the path they were named with.
    dockerfiles: HashMap<PathBuf, DockerfileFacts>,
    loading: Vec<FileKey>,
    pub(crate) notes: Vec<Note>,
    pub(crate) errors: Vec<LoadError>,
    pub(crate) env: HashMap<String, String>,
    /// Required variables `.env` does not set, already noted (each once, where first read), and
    /// from the start those `.env.example` names (the environment is documented to set them).
    missing_required: HashSet<String>,
    pub(crate) profiles: Profiles,
    /// Every `extends` applied, as (service, the service it extends).
    extends: HashSet<(String, String)>,
    /// A resource an included file defines alike in the including file or another include.
    defined_alike: bool,
    overrides: HashMap<PathBuf, String>,
    /// Files read and parsed to learn whether they are compose files (a directory without a
    /// compose file's usual name), kept for when the stack reads them: each is parsed once.
    probed: HashMap<FileKey, Arc<Tree>>,
    /// Files an earlier load read from disk, taken instead of reading them again
    /// ([`load_again`]).
    earlier: HashMap<FileKey, Earlier>,
    /// Files given in memory that an earlier load parsed, with the edits that made their text
    /// from the one it parsed ([`load_edited`]).
    edited: HashMap<FileKey, (Arc<Tree>, Vec<TextEdit>)>,
    /// What else was read (see [`Stack::also_read`]).
    also_read: Vec<PathBuf>,
    display_base: PathBuf,
    /// `display_base` with every link resolved (when it exists), once per load.
    display_real: PathBuf,
    root_abs: PathBuf,
    /// Paths with every link resolved, once per load (each configuration reads the same mounts
    /// again, and every path shares the project's directories).
    real_paths: RealPaths,
    /// YAML files an earlier load found not to be compose files ([`Resolved::not_compose`]).
    known_not_compose: HashSet<PathBuf>,
    /// Those this load found so (or took as found).
    not_compose: HashSet<PathBuf>,
    /// The names of the files in the project directory, sorted, as listed by this load or an
    /// earlier one (see [`Resolved::names`]).
    names: Option<Vec<String>>,
}

/// What a load found out about where the project is on disk, which a later load of the same
/// project directory in the same run takes as found (a fix pass reloads the stack it edited).
#[derive(Debug, Clone, Default)]
pub(crate) struct Resolved {
    /// The project root (see [`project_root`]).
    pub(crate) project: PathBuf,
    /// The paths resolved.
    pub(crate) real_paths: RealPaths,
    /// YAML files of the directory found not to be compose files (see
    /// [`Loader::looks_like_compose`]), unless a later load is given their text.
    pub(crate) not_compose: HashSet<PathBuf>,
    /// The names of the files in the project directory, sorted (`None`: not listed).
    pub(crate) names: Option<Vec<String>>,
}

/// Absolute paths with every symbolic link resolved, as [`std::fs::canonicalize`] gives them,
/// remembered. On Linux a path is its resolved parent joined with its name unless that name is a
/// link, so each directory is resolved once and each path under it costs one `lstat`
/// (`canonicalize` reads every component of every path); Linux's `realpath` keeps each name's
/// spelling, so the two agree. Elsewhere `canonicalize` also gives the spelling on disk (a
/// case-insensitive macOS or Windows volume), so each path is canonicalised, once.
#[derive(Debug, Clone, Default)]
pub(crate) struct RealPaths {
    /// Absolute, normalised path → resolved (`None`: nothing there).
    known: HashMap<PathBuf, Option<PathBuf>>,
}

impl RealPaths {
    /// `path` (made absolute against the working directory and normalised) with every link
    /// resolved; `None` when it does not exist (or a component is not a directory).
    pub(crate) fn get(&mut self, path: &Path) -> Option<PathBuf> {
        // `..` after a link climbs from where the link leads, not lexically: the path up to its
        // last `..` is resolved by the system (once: a project named `../stack` has `..` in
        // every path under it), the names after it as any other path's.
        let parent_dir = |c: &std::path::Component| *c == std::path::Component::ParentDir;
        if path.components().any(|c| parent_dir(&c)) {
            let written = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
            let components: Vec<std::path::Component> = written.components().collect();
            let last = components.iter().rposition(parent_dir).unwrap_or(0);
            let prefix: PathBuf = components[..=last].iter().collect();
            let rest: PathBuf = components[last + 1..].iter().collect();
            // A trailing `/` or `/.` (which components drop) asks for a directory: the system
            // says whether there is one.
            let bytes = path.as_os_str().as_encoded_bytes();
            let trailing = |end: &[u8]| bytes.ends_with(end);
            if !rest.as_os_str().is_empty() && [&b"/"[..], b"/.", b"\\", b"\\."].into_iter().any(trailing) {
                return path.canonicalize().ok();
            }
            let base = match self.known.get(&prefix) {
                Some(known) => known.clone(),
                None => {
                    let real = prefix.canonicalize().ok();
                    self.known.insert(prefix, real.clone());
                    real
                }
            }?;
            return match rest.as_os_str().is_empty() {
                true => Some(base),
                false => self.of(&base.join(rest)),
            };
        }
        self.of(&absolute(path))
    }

    fn of(&mut self, path: &Path) -> Option<PathBuf> {
        if let Some(known) = self.known.get(path) {
            return known.clone();
        }
        let real = if cfg!(target_os = "linux") { self.walk(path) } else { path.canonicalize().ok() };
        self.known.insert(path.to_path_buf(), real.clone());
        real
    }

    /// `path` resolved from its parent's resolution (see [`RealPaths`]).
    fn walk(&mut self, path: &Path) -> Option<PathBuf> {
        match (path.parent(), path.file_name()) {
            (Some(parent), Some(name)) => self.of(parent).and_then(|dir| {
                let joined = dir.join(name);
                match std::fs::symlink_metadata(&joined) {
                    Ok(meta) if meta.file_type().is_symlink() => joined.canonicalize().ok(),
                    Ok(_) => Some(joined),
                    Err(_) => None,
                }
            }),
            // The root (or a path `normalize` left with `..` at its start).
            _ => path.canonicalize().ok(),
        }
    }
}

impl Loader {
    /// A loader for `options`, taking `known` (from an earlier load of the same directory) as
    /// found rather than asking the file system again.
    fn new(options: &LoadOptions, known: Option<Resolved>) -> Loader {
        let root = options.dir.clone();
        let (mut real_paths, project, known_not_compose, names) = match known {
            Some(Resolved { project, real_paths, not_compose, names }) => {
                (real_paths, Some(project), not_compose, names)
            }
            None => (RealPaths::default(), None, HashSet::new(), None),
        };
        let root_real = real_paths.get(&root);
        let root_abs = project.unwrap_or_else(|| project_root_of(root_real.clone().unwrap_or_else(|| absolute(&root))));
        let mut notes = Vec::new();
        // `.env` values reach findings through interpolation: one linked from outside the project
        // (a CI runner's credentials) must not be read.
        let mut also_read = Vec::new();
        let env = match real_paths.get(&root.join(".env")) {
            Some(real) if real.starts_with(&root_abs) => {
                also_read.push(real.clone());
                read_env_text(&real).map(|t| interpolate::parse_dotenv(&t)).unwrap_or_default()
            }
            Some(_) => {
                let message = "`.env` links outside the project directory; stackfix does not read it".to_string();
                notes.push(Note { at: None, message });
                HashMap::new()
            }
            None => HashMap::new(),
        };
        let example = real_paths.get(&root.join(".env.example"));
        also_read.extend(example.clone().filter(|e| e.starts_with(&root_abs)));
        let missing_required = documented_variables(example, &root_abs);
        Loader {
            root_abs,
            display_real: root_real.unwrap_or_else(|| root.clone()),
            real_paths,
            display_base: root.clone(),
            project_dir: root.clone(),
            root,
            files: Vec::new(),
            by_path: HashMap::new(),
            docs: HashMap::new(),
            pending_uses: HashMap::new(),
            bytes_read: 0,
            nodes_left: crate::yaml::tree::MAX_NODES,
            dockerfiles: HashMap::new(),
            loading: Vec::new(),
            notes,
            errors: Vec::new(),
            env,
            missing_required,
            profiles: options.profiles.clone(),
            extends: HashSet::new(),
            defined_alike: false,
            overrides: options.overrides.iter().map(|(p, t)| (absolute(p), t.clone())).collect(),
            probed: HashMap::new(),
            earlier: HashMap::new(),
            edited: HashMap::new(),
            also_read,
            known_not_compose,
            not_compose: HashSet::new(),
            names,
        }
    }

    /// A path as the user should see it: under the directory they named when it is inside.
    fn display(&self, path: &Path) -> String {
        let mut shown = path.to_path_buf();
        if path.is_absolute() {
            if let Ok(rest) = path.strip_prefix(&self.display_real) {
                shown = self.display_base.join(rest);
            }
        }
        let shown = shown.strip_prefix(".").map(Path::to_path_buf).unwrap_or(shown);
        if shown.as_os_str().is_empty() {
            return ".".into();
        }
        shown.to_string_lossy().into_owned()
    }

    /// The compose files of each configuration and its role.
    fn plans(&mut self, options: &LoadOptions) -> Result<Vec<(Vec<PathBuf>, Role)>, LoadError> {
        if !options.files.is_empty() {
            return Ok(vec![(options.files.clone(), Role::Production)]);
        }
        if let Some(files) = self.files_from_env()? {
            // Compose's project directory is then the first file's.
            self.project_dir = files[0].parent().map(Path::to_path_buf).unwrap_or_default();
            return Ok(vec![(files, Role::Production)]);
        }
        let dir = &options.dir;
        let names = match self.names.take() {
            Some(names) => names,
            None => file_names(dir).map_err(|e| LoadError {
                path: self.display(dir),
                position: None,
                message: format!("cannot read directory: {e}"),
                hint: None,
            })?,
        };
        // Kept for a later load of the directory (a fix pass's).
        self.names = Some(names.clone());
        let base = BASE_NAMES.iter().find(|n| names.iter().any(|x| x == *n)).map(|n| dir.join(n));
        let mut dev = Vec::new();
        if let Some(base) = &base {
            dev.push(base.clone());
            let name = base.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let (stem, _) = name.rsplit_once('.').unwrap_or((name, ""));
            for ext in ["yaml", "yml"] {
                let candidate = format!("{stem}.override.{ext}");
                if names.contains(&candidate) {
                    dev.push(dir.join(candidate));
                    break;
                }
            }
        }
        let prods: Vec<PathBuf> = names.iter().filter(|n| is_production_name(n)).map(|n| dir.join(n)).collect();
        let mut plans = Vec::new();
        if prods.is_empty() {
            if let Some(base) = &base {
                // `.override` files customise a developer's machine; production is the base alone.
                if dev.len() > 1 {
                    plans.push((dev, Role::Development));
                    plans.push((vec![base.clone()], Role::Production));
                } else {
                    plans.push((dev, Role::Production));
                }
            } else {
                for name in &names {
                    let path = dir.join(name);
                    if is_yaml_name(name) && self.looks_like_compose(&path) {
                        plans.push((vec![path], Role::Production));
                    }
                }
            }
        } else {
            if base.is_some() {
                plans.push((dev, Role::Development));
            }
            for prod in prods {
                let is_overlay = base.is_some() && self.is_overlay(&prod);
                match (&base, is_overlay) {
                    (Some(base), true) => plans.push((vec![base.clone(), prod], Role::Production)),
                    _ => plans.push((vec![prod], Role::Production)),
                }
            }
        }
        if plans.is_empty() {
            return Err(LoadError {
                path: self.display(dir),
                position: None,
                message: "no compose file found (compose.yaml, docker-compose.yml, a production file, or a YAML file with `services:`)".into(),
                hint: Some("pass the files with -f FILE".into()),
            });
        }
        Ok(plans)
    }

    /// The compose files `COMPOSE_FILE` names when the project's `.env` sets it (separated by
    /// `COMPOSE_PATH_SEPARATOR`, `:` by default; relative to the project directory): without
    /// `-f`, compose reads those and no others. (The variable set in the environment stackfix
    /// runs in is not read: what stackfix reports depends on the files alone.)
    ///
    /// # Errors
    /// A named file that does not exist or is a directory (an empty entry), located at the
    /// variable in `.env`.
    fn files_from_env(&self) -> Result<Option<Vec<PathBuf>>, LoadError> {
        let Some(list) = self.env.get("COMPOSE_FILE").filter(|v| !v.trim().is_empty()) else {
            return Ok(None);
        };
        let separator = self.env.get("COMPOSE_PATH_SEPARATOR").map(String::as_str).filter(|s| !s.is_empty());
        let files: Vec<PathBuf> = list
            .split(separator.unwrap_or(":"))
            .map(|f| match Path::new(f).is_absolute() {
                true => PathBuf::from(f),
                false => self.root.join(f),
            })
            .collect();
        // An empty entry names the directory itself, which compose refuses to read.
        if let Some(missing) = files.iter().find(|f| !f.is_file()) {
            let env = self.root.join(".env");
            // Where `.env` sets it (the last assignment wins, as compose reads it).
            let position = read_env_text(&env).ok().and_then(|text| {
                let sets = |l: &str| {
                    let l = l.trim_start();
                    let l = l.strip_prefix("export").filter(|r| r.starts_with([' ', '\t'])).map_or(l, str::trim_start);
                    l.strip_prefix("COMPOSE_FILE").is_some_and(|r| r.trim_start().starts_with('='))
                };
                let (at, _) = text.lines().enumerate().filter(|(_, l)| sets(l)).last()?;
                Some((at + 1, 1))
            });
            return Err(LoadError {
                path: self.display(&env),
                position,
                message: match missing.is_dir() {
                    true => format!(
                        "`COMPOSE_FILE` names the directory `{}` (an empty entry?), not a file (compose refuses the project)",
                        self.display(missing)
                    ),
                    false => format!(
                        "`COMPOSE_FILE` names `{}`, which does not exist (compose refuses the project)",
                        self.display(missing)
                    ),
                },
                hint: None,
            });
        }
        Ok(Some(files))
    }

    /// A production file deployed over the base: when it only partially defines some service (no
    /// image, build or extends) or defines none, else when its `# Deploy with: docker compose -f
    /// … up -d` header names other files before it ([`deployed_with`]).
    fn is_overlay(&mut self, path: &Path) -> bool {
        let Some(doc) = self.compose_doc(path) else {
            return false;
        };
        let services = doc.doc.get("services").map(Value::entries).unwrap_or_default();
        if services.is_empty()
            || services
                .iter()
                .any(|(_, s)| s.get("image").is_none() && s.get("build").is_none() && s.get("extends").is_none())
        {
            return true;
        }
        // Every service could run alone: as its `# Deploy with: …` header says, when it has one
        // (`stackfix bootstrap` writes it).
        let own = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        deployed_with(self.files[doc.file].source().text(), own).is_some_and(|files| files > 1)
    }

    /// Whether the YAML file at `path` (its text in memory when given so) has a `services:`
    /// mapping. The tree is kept for [`Loader::read`] when it is.
    fn looks_like_compose(&mut self, path: &Path) -> bool {
        // As an earlier load of the directory found it, unless given in memory now.
        let given = self.overrides.contains_key(&absolute(path));
        if !given && self.known_not_compose.contains(path) {
            self.not_compose.insert(path.to_path_buf());
            return false;
        }
        let compose = self.reads_as_compose(path);
        if !compose && !given {
            self.not_compose.insert(path.to_path_buf());
        }
        compose
    }

    /// [`Loader::looks_like_compose`], read.
    fn reads_as_compose(&mut self, path: &Path) -> bool {
        let text = match self.overrides.get(&absolute(path)) {
            Some(text) => text.clone(),
            None => match self.earlier.remove(&FileKey::new(path)) {
                Some(Earlier::Tree(tree)) => {
                    // Not a compose file: still the side file it may be, as read before.
                    let given_back = self.probe(path, tree);
                    let compose = given_back.is_none();
                    if let Some(tree) = given_back {
                        self.earlier.insert(FileKey::new(path), Earlier::Tree(tree));
                    }
                    return compose;
                }
                Some(Earlier::Text(text)) => {
                    // As read before, it stays for the read that follows whatever it is.
                    let parsed = may_name_services(&text).then(|| Tree::parse(text.clone()));
                    let Some(Ok(tree)) = parsed else {
                        self.earlier.insert(FileKey::new(path), Earlier::Text(text));
                        return false;
                    };
                    let given_back = self.probe(path, Arc::new(tree));
                    if given_back.is_some() {
                        self.earlier.insert(FileKey::new(path), Earlier::Text(text));
                    }
                    return given_back.is_none();
                }
                None => match read_text(path) {
                    Ok(text) => text,
                    Err(_) => return false,
                },
            },
        };
        if !may_name_services(&text) {
            return false;
        }
        // A file given in memory may be one the last load parsed, edited since.
        let key = FileKey::new(path);
        let Ok(tree) = self.parse_given(&key, text, crate::yaml::tree::MAX_NODES) else {
            return false;
        };
        let compose = self.probe(path, tree).is_none();
        if compose {
            // Its tree is kept for `read`, which does not parse it again.
            self.edited.remove(&key);
        }
        compose
    }

    /// Keeps `tree` (the file at `path`) for [`Loader::read`] when it has a `services:` mapping;
    /// gives it back when it has none.
    fn probe(&mut self, path: &Path, tree: Arc<Tree>) -> Option<Arc<Tree>> {
        let compose = tree
            .root()
            .and_then(|root| tree.entry(root, "services"))
            .is_some_and(|e| matches!(tree.node(e.value).kind, crate::yaml::NodeKind::Mapping { .. }));
        if !compose {
            return Some(tree);
        }
        self.probed.insert(FileKey::new(path), tree);
        None
    }

    /// Reads a file into the stack (once). YAML files get a tree; errors are recorded.
    pub(crate) fn read(&mut self, path: &Path, role: FileRole, yaml: bool) -> Option<FileId> {
        let key = FileKey::new(path);
        if let Some(&id) = self.by_path.get(&key) {
            return self.files[id].tree.is_some().then_some(id).or((!yaml).then_some(id));
        }
        let display = self.display(path);
        // A file parsed when the directory was searched: the same text, parsed once. (Its tree
        // fits the node budget left then; another file read since may have used some of it.)
        if let Some(tree) = self.probed.remove(&key).filter(|t| yaml && t.len() <= self.nodes_left) {
            if !self.overrides.contains_key(&absolute(path)) {
                self.bytes_read += tree.source.len() as u64;
                if self.bytes_read > MAX_STACK_BYTES {
                    let message = format!(
                        "with this file the stack's files exceed {MAX_STACK_BYTES} bytes, the most stackfix reads"
                    );
                    self.errors.push(LoadError { path: display, position: None, message, hint: None });
                    return None;
                }
            }
            self.nodes_left -= tree.len();
            return Some(self.add_entry(path, key, display, role, Some(tree), Source::new(String::new())));
        }
        if let Some(text) = self.overrides.get(&absolute(path)).cloned() {
            return self.add_file(path, key, display, role, yaml, text);
        }
        let fail = |this: &mut Loader, position, message: String, hint| {
            this.errors.push(LoadError { path: display.clone(), position, message, hint });
            None
        };
        let text = match self.earlier.remove(&key) {
            // As an earlier load parsed it: the same text, within the same budgets.
            Some(Earlier::Tree(tree)) if yaml && tree.len() <= self.nodes_left => {
                self.bytes_read += tree.source.len() as u64;
                if self.bytes_read > MAX_STACK_BYTES {
                    let message = format!(
                        "with this file the stack's files exceed {MAX_STACK_BYTES} bytes, the most stackfix reads"
                    );
                    return fail(self, None, message, None);
                }
                self.nodes_left -= tree.len();
                return Some(self.add_entry(path, key, display, role, Some(tree), Source::new(String::new())));
            }
            Some(Earlier::Tree(tree)) => tree.source.text().to_string(),
            Some(Earlier::Text(text)) => text,
            None => match read_text(path) {
                Ok(text) => text,
                Err(e) => return fail(self, e.position(), e.message_at(), None),
            },
        };
        self.bytes_read += text.len() as u64;
        if self.bytes_read > MAX_STACK_BYTES {
            let message =
                format!("with this file the stack's files exceed {MAX_STACK_BYTES} bytes, the most stackfix reads");
            return fail(self, None, message, None);
        }
        self.add_file(path, key, display, role, yaml, text)
    }

    fn add_file(
        &mut self,
        path: &Path,
        key: FileKey,
        display: String,
        role: FileRole,
        yaml: bool,
        text: String,
    ) -> Option<FileId> {
        let (tree, source) = if yaml {
            let parsed = self.parse_given(&key, text, self.nodes_left);
            self.edited.remove(&key);
            match parsed {
                Ok(tree) => {
                    self.nodes_left -= tree.len();
                    (Some(tree), Source::new(String::new()))
                }
                Err(e) => {
                    let shared_budget = self.nodes_left < crate::yaml::tree::MAX_NODES;
                    let message = if shared_budget && e.message.contains("YAML nodes") {
                        format!(
                            "with this file the stack's files hold more than {} YAML nodes, the most stackfix reads",
                            crate::yaml::tree::MAX_NODES
                        )
                    } else {
                        e.message
                    };
                    self.errors.push(LoadError {
                        path: display,
                        position: Some((e.line, e.col)),
                        message,
                        hint: e.hint,
                    });
                    return None;
                }
            }
        } else {
            (None, Source::new(text))
        };
        Some(self.add_entry(path, key, display, role, tree, source))
    }

    /// `text`, the text of the file `key` as given now, parsed within `budget` nodes: from the
    /// tree of the last load and the edits made to it since, when the caller gave them.
    fn parse_given(&self, key: &FileKey, text: String, budget: usize) -> Result<Arc<Tree>, crate::yaml::ParseError> {
        match self.edited.get(key) {
            // Unchanged since the last load: its tree as it is (shared, not copied).
            Some((before, edits)) if edits.is_empty() && before.source.text() == text => match before.len() <= budget {
                true => Ok(Arc::clone(before)),
                false => Tree::parse_within(text, budget).map(Arc::new),
            },
            Some((before, edits)) => before.reparse(edits, text, budget).map(Arc::new),
            None => Tree::parse_within(text, budget).map(Arc::new),
        }
    }

    /// Adds a file read (`tree` for YAML, else `text` holds it) to the stack; its id.
    fn add_entry(
        &mut self,
        path: &Path,
        key: FileKey,
        display: String,
        role: FileRole,
        tree: Option<Arc<Tree>>,
        source: Source,
    ) -> FileId {
        let id = self.files.len();
        let shared_anchors = tree.as_deref().map(shared_anchors).unwrap_or_default();
        let alias_targets = tree.as_deref().map(alias_targets).unwrap_or_default();
        let suppressions = match &tree {
            Some(tree) => super::suppress::parse_yaml(tree),
            None => super::suppress::parse(source.text()),
        };
        for s in &suppressions {
            for rule in s.rules.iter().filter(|r| *r != "all" && crate::rules::by_id(r).is_none()) {
                let hint = crate::fix::did_you_mean(crate::rules::REGISTRY.iter().map(|r| r.meta().id), rule);
                self.notes.push(Note {
                    at: Some(super::Loc { file: id, span: s.span, key: None, via_alias: false }),
                    message: format!(
                        "`# stackfix: ignore[…]` names `{rule}`, which is no rule{hint}; it silences nothing"
                    ),
                });
            }
        }
        self.files.push(SourceFile {
            path: path.to_path_buf(),
            key: key.clone(),
            display,
            role,
            base_dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
            tree,
            text: source,
            shared_anchors,
            alias_targets,
            suppressions,
        });
        self.by_path.insert(key, id);
        id
    }

    fn error_at(&mut self, file: FileId, offset: usize, message: String) {
        let f = &self.files[file];
        self.errors.push(LoadError {
            path: f.display.clone(),
            position: Some(f.source().line_col(offset)),
            message,
            hint: None,
        });
    }

    /// The variables of a `.env` file at `path` other than the project's own, when it exists and
    /// is inside the project.
    fn inside_env(&mut self, path: &Path) -> Option<HashMap<String, String>> {
        let real = self.real_paths.get(path)?;
        // The project's own `.env` is read already (its variables win anyway).
        let own = self.real_paths.get(&self.root.join(".env"));
        if !real.starts_with(&self.root_abs) || own.as_ref() == Some(&real) {
            return None;
        }
        let text = read_env_text(&real).ok()?;
        self.also_read.push(real);
        Some(interpolate::parse_dotenv(&text))
    }

    /// Interpolates a compose file's values with the project's `.env`, as compose does when it
    /// reads the file. A reference compose refuses to read is an error (false: the file is not
    /// used); a required variable `.env` does not set is a note, since the environment compose
    /// runs in may set it (stackfix does not read the process environment); each such variable is
    /// noted once, where it is first read.
    fn interpolate(&mut self, doc: &mut Value) -> bool {
        let errors = doc.interpolate(&self.env);
        let mut seen = HashSet::new();
        let mut usable = true;
        for (loc, error) in errors {
            if !seen.insert((loc.file, loc.span.start)) {
                continue;
            }
            match error {
                interpolate::InterpolationError::Invalid | interpolate::InterpolationError::TooDeep => {
                    usable = false;
                    self.error_at(loc.file, loc.span.start, error.to_string());
                }
                interpolate::InterpolationError::Required { ref name, .. }
                    if !self.missing_required.insert(name.clone()) => {}
                interpolate::InterpolationError::Required { .. } => self.notes.push(Note {
                    at: Some(loc),
                    message: format!(
                        "{error} (not in `.env`: `docker compose` refuses this file unless the environment \
                         sets it; stackfix reads it as empty)"
                    ),
                }),
            }
        }
        usable
    }

    /// A compose file of a configuration (its relative paths resolved against the project
    /// directory) with `include:` and `extends` applied and its services normalised.
    fn compose_doc(&mut self, path: &Path) -> Option<Rc<ComposeDoc>> {
        let project = self.project_dir.clone();
        self.compose_doc_in(path, &project)
    }

    /// [`Loader::compose_doc`] for a file whose relative paths compose resolves against `base`
    /// (an included file, one `extends` reads). A document is built once per load: the base it
    /// was first built with stays.
    fn compose_doc_in(&mut self, path: &Path, base: &Path) -> Option<Rc<ComposeDoc>> {
        let key = FileKey::new(path);
        if self.loading.contains(&key) {
            self.errors.push(LoadError {
                path: self.display(path),
                position: None,
                message: "include cycle: this file includes itself (directly or through others)".into(),
                hint: None,
            });
            return None;
        }
        if self.loading.len() > MAX_INCLUDE_DEPTH {
            self.errors.push(LoadError {
                path: self.display(path),
                position: None,
                message: format!("includes nest deeper than {MAX_INCLUDE_DEPTH} files"),
                hint: None,
            });
            return None;
        }
        let id = self.read(path, FileRole::Compose, true)?;
        if let Some(doc) = self.docs.get(&id) {
            return doc.clone();
        }
        self.files[id].base_dir = base.to_path_buf();
        self.loading.push(key);
        let doc = self.build_compose_doc(id).map(Rc::new);
        self.loading.pop();
        self.docs.insert(id, doc.clone());
        doc
    }

    fn build_compose_doc(&mut self, id: FileId) -> Option<ComposeDoc> {
        let tree = self.files[id].tree.as_ref()?;
        let Some(root) = tree.root() else {
            let empty = Value::new(
                ValueKind::Map(Vec::new()),
                super::Loc { file: id, span: Default::default(), key: None, via_alias: false },
            );
            return Some(ComposeDoc { file: id, doc: empty });
        };
        let mut doc = match Value::from_tree(tree, root, id) {
            Ok(v) => v,
            Err(e) => {
                self.error_at(id, e.span.start, e.message);
                return None;
            }
        };
        if !self.interpolate(&mut doc) {
            return None;
        }
        if !doc.is_map() {
            self.error_at(id, doc.loc.span.start, "not a compose file: the top level is not a mapping".into());
            return None;
        }
        if let Some((key, value)) =
            doc.entries().iter().find(|(k, _)| !TOP_LEVEL_KEYS.contains(&k.as_str()) && !k.starts_with("x-"))
        {
            let at = value.loc.key.unwrap_or(value.loc.span).start;
            self.error_at(
                id,
                at,
                format!("not a compose file: top-level key `{key}` is not part of the compose specification"),
            );
            return None;
        }
        if let Some(services) = doc.get("services") {
            if !services.is_map() && !services.is_null() {
                self.error_at(
                    id,
                    services.loc.span.start,
                    "`services` must be a mapping of service names to definitions".into(),
                );
                return None;
            }
        }
        // As compose: `extends` sees the file's own services, not those it includes.
        self.apply_extends(&mut doc);
        for include in includes(&doc) {
            self.include(id, &mut doc, include);
        }
        if let ValueKind::Map(entries) = &mut doc.kind {
            for (key, value) in entries.iter_mut() {
                if key == "services" {
                    if let ValueKind::Map(services) = &mut value.kind {
                        for (_, service) in services.iter_mut() {
                            let s = std::mem::replace(service, Value::null(service.loc));
                            *service = normalize_service(s);
                        }
                    }
                }
            }
        }
        Some(ComposeDoc { file: id, doc })
    }

    /// Applies one `include:` item of the compose file `id` to its document `doc`, as compose
    /// does: the files merged in order (each later one an overlay of those before), their
    /// relative paths resolved against the item's `project_directory` (by default the first
    /// file's directory; a relative one from the including file's base), interpolated with its
    /// `env_file`s (by default the `.env` of that directory; the including project's variables
    /// win), and their resources imported into `doc`. What compose refuses (an `env_file` that
    /// does not exist, a resource defined otherwise on both sides) is an error at where it is
    /// written; a path outside the project is left unread, with a note.
    fn include(&mut self, id: FileId, doc: &mut Value, include: Include) {
        let mut paths = Vec::with_capacity(include.paths.len());
        for (written, at) in &include.paths {
            match self.host_path(id, written, *at) {
                Some(path) if !path.exists() => {
                    let message =
                        format!("`include` names `{written}`, which does not exist (compose refuses the project)");
                    self.error_at(at.file, at.span.start, message);
                    return;
                }
                Some(path) => paths.push(path),
                None => return,
            }
        }
        // A directory to resolve paths from, and files of variables: read only inside the
        // project, but named anywhere (`env_file: /dev/null` keeps `.env` out).
        let project = match &include.project_directory {
            Some((written, _)) => self.resolve_written(id, written),
            None => paths[0].parent().map(Path::to_path_buf).unwrap_or_default(),
        };
        let mut env_files = Vec::new();
        for (written, at) in &include.env_files {
            let path = self.resolve_written(id, written);
            let problem = match std::fs::metadata(&path) {
                Err(_) => Some("does not exist"),
                Ok(meta) if meta.is_dir() => Some("is a directory"),
                Ok(_) => None,
            };
            if let Some(problem) = problem {
                let message = format!("include `env_file` `{written}` {problem} (compose refuses the project)");
                self.error_at(at.file, at.span.start, message);
                return;
            }
            if path.is_file() && self.real_paths.get(&path).is_none_or(|real| !real.starts_with(&self.root_abs)) {
                self.notes.push(Note {
                    at: Some(*at),
                    message: format!("`{written}` is outside the project directory; stackfix does not read it"),
                });
            }
            env_files.push(path);
        }
        if include.env_files.is_empty() {
            env_files.push(project.join(".env"));
        }
        // Later files' variables over earlier ones', the including project's over all.
        let mut own_env: Option<HashMap<String, String>> = None;
        for file in &env_files {
            if let Some(vars) = self.inside_env(file) {
                own_env.get_or_insert_with(HashMap::new).extend(vars);
            }
        }
        let outer = own_env.map(|mut env| {
            env.extend(self.env.iter().map(|(k, v)| (k.clone(), v.clone())));
            std::mem::replace(&mut self.env, env)
        });
        let docs: Vec<Option<Rc<ComposeDoc>>> = paths.iter().map(|p| self.compose_doc_in(p, &project)).collect();
        if let Some(outer) = outer {
            self.env = outer;
        }
        let mut merged: Option<Value> = None;
        for d in docs {
            let Some(d) = d else { return };
            let doc = d.doc.clone();
            merged = Some(match merged {
                None => super::merge::resolve_tags(doc),
                Some(base) => merge_documents(base, doc),
            });
        }
        let Some(merged) = merged else { return };
        match import_resources(doc, merged) {
            Ok(alike) => self.defined_alike |= alike,
            Err((loc, message)) => self.error_at(loc.file, loc.primary().start, message),
        }
    }

    /// Resolves `extends` in every service of a document. Each service is resolved once and
    /// written back, so a base shared by many services is not merged again for each; chains
    /// longer than `MAX_EXTENDS_DEPTH` and cycles are errors.
    fn apply_extends(&mut self, doc: &mut Value) {
        let Some(services) = doc.get("services") else {
            return;
        };
        let index: HashMap<String, usize> =
            services.entries().iter().enumerate().map(|(i, (name, _))| (name.clone(), i)).collect();
        let extending: Vec<String> =
            services.entries().iter().filter(|(_, s)| s.get("extends").is_some()).map(|(n, _)| n.clone()).collect();
        for name in extending {
            let mut chain = Vec::new();
            let _ = self.extended(doc, &index, &name, &mut chain);
        }
    }

    /// The service `name` of `doc` with its `extends` applied (and written back into `doc`);
    /// `Err` once an error has been reported.
    fn extended(
        &mut self,
        doc: &mut Value,
        index: &HashMap<String, usize>,
        name: &str,
        chain: &mut Vec<String>,
    ) -> Result<Option<Value>, ()> {
        let Some(service) =
            index.get(name).and_then(|&i| doc.get("services")?.entries().get(i)).map(|(_, s)| s.clone())
        else {
            return Ok(None);
        };
        let Some(ext) = service.get("extends") else {
            return Ok(Some(service));
        };
        if chain.iter().any(|c| c == name) {
            self.error_at(ext.loc.file, ext.loc.span.start, format!("`extends` cycle through service `{name}`"));
            return Err(());
        }
        if chain.len() >= MAX_EXTENDS_DEPTH {
            let message =
                format!("`extends` chain of service `{}` is longer than {MAX_EXTENDS_DEPTH} services", chain[0]);
            self.error_at(ext.loc.file, ext.loc.span.start, message);
            return Err(());
        }
        chain.push(name.to_string());
        let (base_name, file) = match ext.as_str() {
            Some(s) => (s.to_string(), None),
            None => (ext.str_at("service").unwrap_or("").to_string(), ext.str_at("file").map(str::to_string)),
        };
        let pair = (name.to_string(), base_name.clone());
        self.extends.insert(pair);
        let base = match file {
            Some(f) => {
                let Some(path) = self.host_path(ext.loc.file, &f, ext.loc) else { return Err(()) };
                if !path.exists() {
                    let at = ext.get("file").map_or(ext.loc, |v| v.loc);
                    let message = format!("`extends` names the file `{f}`, which does not exist (compose refuses it)");
                    self.error_at(at.file, at.span.start, message);
                    return Err(());
                }
                // Compose resolves the relative paths of a service read from another file
                // against that file's directory.
                let own_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
                let Some(other) = self.compose_doc_in(&path, &own_dir) else { return Err(()) };
                other.doc.path(&["services", &base_name]).cloned()
            }
            None => self.extended(doc, index, &base_name, chain)?,
        };
        let Some(base) = base else {
            self.error_at(
                ext.loc.file,
                ext.loc.span.start,
                format!("`extends` names service `{base_name}`, which does not exist"),
            );
            return Err(());
        };
        let mut own = service;
        if let ValueKind::Map(entries) = &mut own.kind {
            entries.retain(|(k, _)| k != "extends");
        }
        let mut merged = merge_documents(normalize_service(base), normalize_service(own.clone()));
        merged.loc = own.loc;
        if let Some(ValueKind::Map(services)) = doc_services_mut(doc) {
            if let Some((_, slot)) = index.get(name).and_then(|&i| services.get_mut(i)) {
                *slot = merged.clone();
            }
        }
        Ok(Some(merged))
    }

    /// Loads, merges and analyses one configuration.
    fn config(&mut self, paths: &[PathBuf], role: Role) -> Option<Config> {
        let mut docs = Vec::new();
        for path in paths {
            docs.push(self.compose_doc(path)?);
        }
        for (path, doc) in paths.iter().zip(&docs) {
            let uses = self.pending_uses.entry(FileKey::new(path)).or_default();
            *uses = uses.saturating_sub(1);
            if *uses == 0 {
                self.docs.remove(&doc.file);
            }
        }
        let files: Vec<FileId> = docs.iter().map(|d| d.file).collect();
        // Where each file defines each service, for findings that point at the file to edit.
        let mut sites: HashMap<String, Vec<super::Loc>> = HashMap::new();
        for d in &docs {
            for (name, v) in d.doc.get("services").map(Value::entries).unwrap_or_default() {
                sites.entry(name.clone()).or_default().push(super::Loc { via_alias: false, ..v.loc });
            }
        }
        // The keys each file takes out of a service with `!reset`.
        let mut resets: HashMap<String, Vec<(String, FileId)>> = HashMap::new();
        for d in &docs {
            for (name, v) in d.doc.get("services").map(Value::entries).unwrap_or_default() {
                for (key, _) in v.entries().iter().filter(|(_, x)| x.is_reset()) {
                    resets.entry(name.clone()).or_default().push((key.clone(), d.file));
                }
            }
        }
        let mut merged: Option<Value> = None;
        for d in docs {
            let doc = Rc::try_unwrap(d).map_or_else(|shared| shared.doc.clone(), |owned| owned.doc);
            merged = Some(match merged {
                None => super::merge::resolve_tags(doc),
                Some(base) => merge_documents(base, doc),
            });
        }
        let mut doc = merged?;
        // Compose refuses a project whose files hold nothing at all ("empty compose file"),
        // though an empty file among others is fine.
        if doc.entries().is_empty() {
            let first = files[0];
            self.error_at(first, 0, "empty compose file: it defines nothing (compose refuses it)".into());
            return None;
        }
        let service_values = match &mut doc.kind {
            ValueKind::Map(entries) => match entries.iter().position(|(k, _)| k == "services") {
                Some(i) => entries.remove(i).1,
                None => Value::null(doc.loc),
            },
            _ => Value::null(doc.loc),
        };
        let ValueKind::Map(service_entries) = service_values.kind else {
            return Some(Config::new(files, role, doc, Vec::new()));
        };
        let mut defined = Vec::with_capacity(service_entries.len());
        for (name, value) in service_entries {
            if !value.is_map() {
                if !value.is_null() {
                    self.error_at(value.loc.file, value.loc.span.start, format!("service `{name}` must be a mapping"));
                }
                continue;
            }
            // Compose refuses a list that must hold each item once (`uniqueItems`) with an item
            // twice, as the files wrote it or as an overlay appended it.
            for field in super::merge::APPENDED_SEQUENCES {
                let items = value.get(field).map(Value::items).unwrap_or_default();
                let twice = items.iter().enumerate().find_map(|(j, item)| {
                    let text = item.as_str()?;
                    items[..j].iter().position(|earlier| earlier.as_str() == Some(text)).map(|i| (i, j, item))
                });
                if let Some((i, j, item)) = twice {
                    self.error_at(
                        item.loc.file,
                        item.loc.span.start,
                        format!("services.{name}.{field} items at {i} and {j} are equal (compose refuses the list)"),
                    );
                }
            }
            let service_sites = sites.remove(&name).unwrap_or_default();
            let reset_keys = resets.remove(&name).unwrap_or_default();
            defined.push((name, value, service_sites, reset_keys));
        }
        // Each service read from its definition and classified, on its own: in parallel in a
        // large stack (a fix pass reloads thousands), in order.
        let (env, profiles) = (&self.env, &self.profiles);
        let read = |(name, value, sites, reset_keys): (String, Value, Vec<super::Loc>, Vec<(String, FileId)>)| {
            let mut service = Service::from_value(&name, value, sites, env);
            service.reset_keys = reset_keys;
            service.kind = classify(profiles, &service);
            service
        };
        let read: Vec<Service> = match defined.len() > 64 {
            true => {
                use rayon::prelude::*;
                defined.into_par_iter().with_min_len(32).map(read).collect()
            }
            false => defined.into_iter().map(read).collect(),
        };
        let mut services = Vec::with_capacity(read.len());
        for mut service in read {
            let dockerfile = self.dockerfile(&service);
            let target = service.build.as_ref().and_then(|b| b.target.as_ref()).map(|t| t.value.as_str());
            service.build_user = dockerfile.stage(target).and_then(|s| s.user.clone());
            let built = service.build.as_ref().map(|_| match dockerfile.stage(target) {
                Some(stage) => (stage.base.clone(), stage.installed.clone(), stage.healthcheck == Some(true)),
                None => (None, Vec::new(), false),
            });
            service.image_facts = super::facts::ImageFacts::new(&service, built);
            service.image_healthcheck = self.profiles.kind(&service.kind).is_some_and(|k| k.builtin_healthcheck)
                || service.image_facts.declares_healthcheck();
            (service.env_file, service.env_file_unread, service.env_file_references) = self.env_file(&service);
            service.workdir = dockerfile.workdir;
            service.base_image = dockerfile.base_image;
            service.build_stages = dockerfile.stages.into_iter().map(|s| s.name).collect();
            service.build_dir = dockerfile.context_dir;
            services.push(service);
        }
        // Compose refuses a project whose services wait for one it does not define, even with
        // `required: false`.
        let names: HashSet<&str> = services.iter().map(|s| s.name.as_str()).collect();
        let mut refused = Vec::new();
        let mut reported: HashSet<String> = self.errors.iter().map(|e| e.message.clone()).collect();
        // A service in a profile is checked only when its profile is enabled (compose's default
        // enables none), so it is not judged here.
        for s in services.iter().filter(|s| s.profiles.is_empty()) {
            // A list item is a value, which compose interpolates (`- ${DB_HOST:-db}`); the
            // loader has.
            let defined = |d: &&super::service::Dependency| names.contains(d.service.as_str());
            for d in s.depends_on.iter().filter(|d| !defined(d)) {
                let at = d.loc.key.unwrap_or(d.loc.span).start;
                let span = d.loc.key.unwrap_or(d.loc.span);
                let written = self.files[d.loc.file].source().text().get(span.start..span.end).unwrap_or("").trim();
                // A name made by interpolation: say from what (`${PMA_DB_ENGINE}` unset gives ``).
                let from = match written.contains('$') {
                    true => format!(" (written `{written}`: a variable that is not set here, or set otherwise)"),
                    false => String::new(),
                };
                refused.push((
                    d.loc.file,
                    at,
                    format!("service `{}` depends on undefined service `{}`{from}", s.name, d.service),
                ));
            }
        }
        // A service waiting for one that only profiles it does not share enable: compose refuses
        // the project whenever the first runs without them (`depends on undefined service`),
        // unless `.env` enables them (`COMPOSE_PROFILES`) or the dependency is not `required`.
        let enabled: Vec<&str> = self
            .env
            .get("COMPOSE_PROFILES")
            .map(|p| p.split(',').map(str::trim).filter(|p| !p.is_empty()).collect())
            .unwrap_or_default();
        // Compose refuses a project whose enabled services name a secret, config, network or
        // named volume the top level does not define (`refers to undefined secret`).
        // (Each section's names in a set: a large stack's thousands of services name hundreds of
        // secrets and volumes.)
        let defined_in: HashMap<&str, HashSet<&str>> = ["secrets", "configs", "networks", "volumes"]
            .into_iter()
            .map(|section| (section, doc.get(section).map(Value::entries).unwrap_or_default()))
            .map(|(section, entries)| (section, entries.iter().map(|(k, _)| k.as_str()).collect()))
            .collect();
        let defines = |section: &str, name: &str| defined_in.get(section).is_some_and(|d| d.contains(name));
        // Enabled: no profile, or one `.env` enables (`COMPOSE_PROFILES`).
        let is_enabled = |s: &&super::service::Service| {
            s.profiles.is_empty() || s.profiles.iter().any(|p| enabled.contains(&"*") || enabled.contains(&p.as_str()))
        };
        for s in services.iter().filter(is_enabled) {
            let mut undefined: Vec<(&str, String, super::Loc)> = Vec::new();
            for (section, what) in [("secrets", "secret"), ("configs", "config")] {
                for item in s.value.get(section).map(Value::items).unwrap_or_default() {
                    let name = item.as_str().or_else(|| item.get("source").and_then(Value::as_str));
                    if let Some(name) = name.filter(|n| !defines(section, n)) {
                        undefined.push((what, name.to_string(), item.loc));
                    }
                }
            }
            if let Some(networks) = s.value.get("networks") {
                let named: Vec<(String, super::Loc)> = match networks.items() {
                    [] => networks.entries().iter().map(|(k, v)| (k.clone(), v.loc)).collect(),
                    items => items.iter().filter_map(|i| Some((i.as_str()?.to_string(), i.loc))).collect(),
                };
                for (name, loc) in named.into_iter().filter(|(n, _)| n != "default" && !defines("networks", n)) {
                    undefined.push(("network", name, loc));
                }
            }
            for m in s.volumes.iter().filter(|m| m.kind == super::service::MountKind::Volume) {
                if let Some(name) = m.source.as_deref().filter(|n| !n.is_empty() && !defines("volumes", n)) {
                    undefined.push(("volume", name.to_string(), m.loc));
                }
            }
            for (what, name, loc) in undefined {
                let at = loc.key.unwrap_or(loc.span).start;
                refused.push((loc.file, at, format!("service `{}` refers to undefined {what} `{name}`", s.name)));
            }
        }
        let profiles_of: HashMap<&str, &[String]> =
            services.iter().map(|s| (s.name.as_str(), s.profiles.as_slice())).collect();
        let mut waits_for_profiles = Vec::new();
        for s in &services {
            for d in &s.depends_on {
                let Some(&theirs) = profiles_of.get(d.service.as_str()) else { continue };
                let on = |p: &String| enabled.contains(&"*") || enabled.contains(&p.as_str());
                if theirs.is_empty() || theirs.iter().any(on) {
                    continue;
                }
                // Every profile that enables this service enables the dependency too.
                if !s.profiles.is_empty() && s.profiles.iter().all(|p| theirs.contains(p)) {
                    continue;
                }
                let required = s.value.path(&["depends_on", &d.service, "required"]).and_then(Value::as_str);
                if required.is_some_and(|r| r.eq_ignore_ascii_case("false")) {
                    continue;
                }
                let when = match s.profiles.as_slice() {
                    [] => String::new(),
                    mine => format!(" (enabled by {})", quoted_list(mine)),
                };
                let (which, it) = match theirs.len() {
                    1 => (format!("profile {} enables", quoted_list(theirs)), "it"),
                    _ => (format!("profiles {} enable", quoted_list(theirs)), "one of them"),
                };
                let message = format!(
                    "service `{}`{when} depends on `{}`, which only {which}: `docker compose` refuses the project \
                     when `{}` runs without {it} (`depends on undefined service`); enable {it} with `--profile` or \
                     `COMPOSE_PROFILES`, or mark the dependency `required: false`",
                    s.name, d.service, s.name,
                );
                let at = super::Loc { span: d.loc.key.unwrap_or(d.loc.span), key: None, ..d.loc };
                waits_for_profiles.push(Note { at: Some(at), message });
            }
        }
        // Once, though every configuration holding the service finds it.
        for note in waits_for_profiles {
            let place = |n: &Note| n.at.map(|a| (a.file, a.span));
            if !self.notes.iter().any(|n| n.message == note.message && place(n) == place(&note)) {
                self.notes.push(note);
            }
        }
        // Compose refuses distinct values in a legacy resource field and its `deploy.resources`
        // spelling (equal ones, `1g` and `1G`, it accepts), and a legacy field beside a
        // `limits` or `reservations` block that leaves its spelling out (read as 0 there).
        for s in &services {
            let pairs: [(&str, &[&str], Unit); 4] = [
                ("cpus", &["deploy", "resources", "limits", "cpus"], Unit::Number),
                ("mem_limit", &["deploy", "resources", "limits", "memory"], Unit::Bytes),
                ("mem_reservation", &["deploy", "resources", "reservations", "memory"], Unit::Bytes),
                ("pids_limit", &["deploy", "resources", "limits", "pids"], Unit::Number),
            ];
            for (legacy, path, unit) in pairs {
                let (Some(a), Some(block)) = (s.value.get(legacy), s.value.path(&path[..3])) else { continue };
                let Some(x) = a.as_str().filter(|x| !x.contains('$')) else { continue };
                let read = |text: &str| match unit {
                    Unit::Bytes => super::facts::memory_bytes(text).map(|b| b as f64),
                    Unit::Number => text.trim().parse::<f64>().ok(),
                };
                let Some(x) = read(x) else { continue };
                let y = match block.get(path[3]) {
                    None => Some(0.0),
                    Some(b) => match b.as_str() {
                        Some(y) if !y.contains('$') => read(y),
                        _ => None,
                    },
                };
                // compose compares only a legacy value that is set (not 0).
                if x != 0.0 && y.is_some_and(|y| y != x) {
                    let at = a.loc.key.unwrap_or(a.loc.span).start;
                    let message = format!(
                        "service `{}` sets distinct values on `{legacy}` and `{}`, which compose refuses",
                        s.name,
                        path.join(".")
                    );
                    refused.push((a.loc.file, at, message));
                }
            }
        }
        // A stack run with several combinations of files (the base alone, the base with its
        // override) says with which one compose refuses.
        let others = self.pending_uses.keys().any(|k| !paths.iter().any(|p| FileKey::new(p) == *k));
        let with = match others {
            true => {
                let names: Vec<String> = files.iter().map(|&f| format!("`{}`", self.files[f].display)).collect();
                format!(" (when the stack runs with {})", names.join(" + "))
            }
            false => String::new(),
        };
        for (file, at, message) in refused {
            let message = format!("{message}{with}");
            if reported.insert(message.clone()) {
                self.error_at(file, at, message);
            }
        }
        let mut config = Config::new(files, role, doc, services);
        side::attach(self, &mut config);
        Some(config)
    }

    /// What the Dockerfile a service builds from declares (read once per file).
    fn dockerfile(&mut self, service: &Service) -> DockerfileFacts {
        let Some(build) = &service.build else { return DockerfileFacts::default() };
        let context = build.context.clone().unwrap_or_else(|| ".".into());
        if context.contains("://") || context.starts_with("git@") {
            return DockerfileFacts::default();
        }
        // `dockerfile_inline` is the Dockerfile itself (compose builds from it, not from a file).
        let inline = service.value.get("build").and_then(|b| b.get("dockerfile_inline")).and_then(|d| d.as_str());
        if let Some(text) = inline {
            let mut facts = DockerfileFacts::parse(text);
            facts.context_dir = self.host_path(build.loc.file, &context, build.loc);
            return facts;
        }
        let dockerfile = build.dockerfile.as_ref().map_or("Dockerfile".to_string(), |d| d.value.clone());
        let written_in = self.files[build.loc.file].base_dir.clone();
        let key = written_in.join(&context).join(&dockerfile);
        if let Some(known) = self.dockerfiles.get(&key) {
            return known.clone();
        }
        let context_dir = self.host_path(build.loc.file, &context, build.loc);
        let dockerfile_path = match (&context_dir, &build.dockerfile) {
            (Some(_), Some(written)) => {
                let path = if context == "." {
                    PathBuf::from(&written.value)
                } else {
                    Path::new(&context).join(&written.value)
                };
                self.host_path(build.loc.file, &path.to_string_lossy(), written.loc)
            }
            (Some(dir), None) => Some(dir.join("Dockerfile")),
            (None, _) => None,
        };
        let text = dockerfile_path.and_then(|path| read_text(&path).ok().map(|text| (path, text)));
        let mut facts = match text {
            Some((path, text)) => {
                self.also_read.push(path);
                DockerfileFacts::parse(&text)
            }
            None => DockerfileFacts::default(),
        };
        facts.context_dir = context_dir;
        self.dockerfiles.insert(key, facts.clone());
        facts
    }

    /// The variables of a service's `env_file:` files (short or long syntax), read inside the
    /// project, the entries that could not be read, as written (compose would fail on a
    /// required one), and the variables the files reference.
    fn env_file(&mut self, service: &Service) -> (Vec<(String, String)>, Vec<String>, Vec<String>) {
        let Some(value) = service.value.get("env_file") else { return Default::default() };
        let entries: Vec<&Value> = match &value.kind {
            ValueKind::Seq(items) => items.iter().collect(),
            _ => vec![value],
        };
        let (mut out, mut unread, mut references) = (Vec::new(), Vec::new(), Vec::new());
        for entry in entries {
            let written = entry.as_str().or_else(|| entry.str_at("path"));
            let Some(written) = written else { continue };
            let text = self
                .host_path(entry.loc.file, written, entry.loc)
                .and_then(|path| read_env_text(&path).ok().map(|text| (path, text)));
            match text {
                Some((path, text)) => {
                    self.also_read.push(path);
                    if text.contains('$') {
                        interpolate::names_referenced(&text, &mut references);
                    }
                    let mut vars: Vec<(String, String)> = interpolate::parse_dotenv(&text).into_iter().collect();
                    vars.sort();
                    out.extend(vars);
                }
                None => unread.push(written.to_string()),
            }
        }
        (out, unread, references)
    }

    /// A path written in `file`, made absolute from its [`SourceFile::base_dir`] and normalised;
    /// wherever it leads (nothing is read from it here).
    fn resolve_written(&self, file: FileId, written: &str) -> PathBuf {
        let path = self.files[file].base_dir.join(written);
        normalize(&std::path::absolute(&path).unwrap_or(path))
    }

    /// Host path of a path (interpolated) given in file `file` (relative to its
    /// [`SourceFile::base_dir`]), or `None` with a note when it leaves the project root.
    pub(crate) fn host_path(&mut self, file: FileId, given: &str, at: super::Loc) -> Option<PathBuf> {
        let base = self.files[file].base_dir.clone();
        let path = if Path::new(given).is_absolute() || given.starts_with('~') {
            PathBuf::from(given)
        } else {
            base.join(given)
        };
        let mut norm = normalize(&std::path::absolute(&path).unwrap_or(path));
        if let Some(real) = self.real_paths.get(&norm) {
            norm = real;
        }
        if !norm.starts_with(&self.root_abs) {
            self.notes.push(Note {
                at: Some(at),
                message: format!("`{given}` is outside the project directory; stackfix does not read it"),
            });
            return None;
        }
        Some(norm)
    }
}

/// The spans of the anchored nodes of `tree` that an alias refers to, and of the aliases: editing
/// inside one would change every user of the anchor.
fn shared_anchors(tree: &Tree) -> Vec<crate::yaml::Span> {
    let mut nodes: Vec<usize> = Vec::new();
    for id in 0..tree.len() {
        if let crate::yaml::NodeKind::Alias { target: Some(t), .. } = &tree.node(id).kind {
            nodes.extend([*t, id]);
        }
    }
    nodes.sort_unstable();
    nodes.dedup();
    nodes.into_iter().map(|t| tree.node(t).span).collect()
}

/// Each alias's start → the span of the node it stands for.
fn alias_targets(tree: &Tree) -> HashMap<usize, crate::yaml::Span> {
    (0..tree.len())
        .filter_map(|id| match &tree.node(id).kind {
            crate::yaml::NodeKind::Alias { target: Some(t), .. } => {
                Some((tree.node(id).span.start, tree.node(*t).span))
            }
            _ => None,
        })
        .collect()
}

/// `path` with every symlink resolved; for a path that does not exist yet, its closest existing
/// ancestor's, with the rest appended (`None` when the rest climbs with `..`).
pub fn resolve(path: &Path) -> Option<PathBuf> {
    let path = if path.as_os_str().is_empty() { Path::new(".") } else { path };
    if let Ok(resolved) = path.canonicalize() {
        return Some(resolved);
    }
    let mut missing = Vec::new();
    let mut at = path;
    loop {
        match at.file_name() {
            Some(name) => missing.push(name),
            None => return None,
        }
        at = at.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if let Ok(existing) = at.canonicalize() {
            return Some(missing.iter().rev().fold(existing, |p, name| p.join(name)));
        }
    }
}

/// `path` made absolute (against the working directory) and normalised, without touching the
/// file system.
fn absolute(path: &Path) -> PathBuf {
    normalize(&std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()))
}

impl Loader {
    /// Whether `path` is a file: one given in memory, or one on disk.
    pub(crate) fn is_file(&self, path: &Path) -> bool {
        self.overrides.contains_key(&absolute(path)) || path.is_file()
    }
}

/// The project: the enclosing git work tree, else `dir` itself. Side files are read and fixes
/// written only inside it.
pub fn project_root(dir: &Path) -> PathBuf {
    let dir = dir.canonicalize().unwrap_or_else(|_| normalize(&std::path::absolute(dir).unwrap_or(dir.to_path_buf())));
    project_root_of(dir)
}

/// [`project_root`] of a directory already resolved.
fn project_root_of(dir: PathBuf) -> PathBuf {
    dir.ancestors().find(|a| a.join(".git").exists()).map(Path::to_path_buf).unwrap_or(dir)
}

/// What stackfix reads from a Dockerfile.
#[derive(Debug, Clone, Default)]
pub(crate) struct DockerfileFacts {
    /// A HEALTHCHECK other than `HEALTHCHECK NONE` (in the last stage that says either).
    pub(crate) healthcheck: bool,
    /// The last WORKDIR (the final stage's, in the usual layout).
    pub(crate) workdir: Option<String>,
    /// The image of the last FROM (the final stage), as written.
    pub(crate) base_image: Option<String>,
    /// Each FROM's stage name (`AS name`), in order.
    pub(crate) stages: Vec<Stage>,
    /// The build context on the host, inside the project.
    pub(crate) context_dir: Option<PathBuf>,
}

/// One build stage of a Dockerfile.
#[derive(Debug, Clone, Default)]
pub(crate) struct Stage {
    pub(crate) name: Option<String>,
    /// The image it starts from, with global `ARG` defaults substituted and earlier stages
    /// followed to the image they start from; `None` when a variable has no default.
    pub(crate) base: Option<String>,
    /// Packages its `RUN` lines install and do not remove again (apk, apt-get, yum, dnf,
    /// microdnf), including those of the stage it starts from.
    pub(crate) installed: Vec<String>,
    /// apk virtual packages: (name, the packages it pulled in).
    pub(crate) groups: Vec<(String, Vec<String>)>,
    pub(crate) healthcheck: Option<bool>,
    /// Its last `USER` (inherited from the stage it starts from), as written.
    pub(crate) user: Option<String>,
}

impl DockerfileFacts {
    pub(crate) fn parse(text: &str) -> DockerfileFacts {
        let mut facts = DockerfileFacts::default();
        let mut args: HashMap<String, String> = HashMap::new();
        for line in logical_lines(text) {
            let line = line.trim_start();
            let mut words = line.split_whitespace();
            let Some(instruction) = words.next().map(str::to_ascii_uppercase) else { continue };
            match instruction.as_str() {
                "HEALTHCHECK" => {
                    let on = !words.next().is_some_and(|w| w.eq_ignore_ascii_case("NONE"));
                    facts.healthcheck = on;
                    if let Some(stage) = facts.stages.last_mut() {
                        stage.healthcheck = Some(on);
                    }
                }
                "WORKDIR" => facts.workdir = words.next().map(str::to_string),
                // Only ARGs before the first FROM may be used in FROM lines.
                "ARG" if facts.stages.is_empty() => {
                    for word in words {
                        if let Some((name, value)) = word.split_once('=') {
                            args.insert(name.to_string(), value.trim_matches(['"', '\'']).to_string());
                        }
                    }
                }
                "FROM" => {
                    let words: Vec<&str> = words.filter(|w| !w.starts_with("--")).collect();
                    facts.base_image = words.first().map(|w| w.to_string());
                    let name = match words.as_slice() {
                        [_, as_word, name, ..] if as_word.eq_ignore_ascii_case("as") => Some(name.to_string()),
                        _ => None,
                    };
                    let written = words.first().map(|w| substitute_args(w, &args)).unwrap_or_default();
                    let earlier = written.as_deref().and_then(|w| {
                        facts.stages.iter().rev().find(|s| s.name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(w)))
                    });
                    let stage = match earlier {
                        Some(from) => Stage {
                            name,
                            base: from.base.clone(),
                            installed: from.installed.clone(),
                            groups: from.groups.clone(),
                            healthcheck: from.healthcheck,
                            user: from.user.clone(),
                        },
                        None => Stage { name, base: written, ..Stage::default() },
                    };
                    facts.stages.push(stage);
                }
                "RUN" => {
                    if let Some(stage) = facts.stages.last_mut() {
                        packages(line, &mut stage.installed, &mut stage.groups);
                    }
                }
                "USER" => {
                    if let Some(stage) = facts.stages.last_mut() {
                        stage.user = words.next().map(str::to_string);
                    }
                }
                _ => {}
            }
        }
        facts
    }

    /// The stage an image is built from: `target`, else the last.
    pub(crate) fn stage(&self, target: Option<&str>) -> Option<&Stage> {
        match target {
            Some(t) => self.stages.iter().find(|s| s.name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(t))),
            None => self.stages.last(),
        }
    }
}

/// Instruction lines with `\` continuations joined, comment lines dropped, and the bodies of
/// here-documents (`COPY <<EOF /etc/app.conf` … `EOF`, `RUN <<-'EOT'` …) skipped: their lines are
/// file contents or script, not instructions.
fn logical_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    // The delimiters of the here-documents still open, in order, and whether tabs are stripped.
    let mut heredocs: std::collections::VecDeque<(String, bool)> = std::collections::VecDeque::new();
    for line in text.lines() {
        if let Some((word, strip)) = heredocs.front() {
            let body = if *strip { line.trim_start_matches('\t') } else { line };
            if body == word {
                heredocs.pop_front();
            }
            continue;
        }
        let trimmed = line.trim_start();
        if !trimmed.starts_with('#') {
            heredocs.extend(heredoc_words(line));
        }
        if trimmed.starts_with('#') && !current.is_empty() {
            continue;
        }
        match line.trim_end().strip_suffix('\\') {
            Some(head) => {
                current.push_str(head);
                current.push(' ');
            }
            None => {
                current.push_str(line);
                out.push(std::mem::take(&mut current));
            }
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// The here-documents a Dockerfile line opens (`<<EOF`, `<<-EOF`, `<<"EOF"`, `<<'EOF'`), as
/// (delimiter, tabs stripped); `<<` followed by anything else (a shell's `<<<`, a space) opens none.
fn heredoc_words(line: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("<<") {
        let mut after = &rest[at + 2..];
        let strip = after.starts_with('-');
        if strip {
            after = &after[1..];
        }
        let unquoted = after.trim_start_matches(['"', '\'']);
        let word: String = unquoted.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        if !word.is_empty() && !after.starts_with('<') {
            out.push((word, strip));
        }
        rest = &rest[at + 2..];
    }
    out
}

/// `$NAME`, `${NAME}` and `${NAME:-default}` in a FROM image replaced from ARG defaults; `None`
/// when one has no value.
fn substitute_args(word: &str, args: &HashMap<String, String>) -> Option<String> {
    if !word.contains('$') {
        return Some(word.to_string());
    }
    let mut out = String::new();
    let mut rest = word;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        rest = &rest[i + 1..];
        let (name, default, len) = if let Some(body) = rest.strip_prefix('{') {
            let end = body.find('}')?;
            let inner = &body[..end];
            match inner.split_once(":-").or_else(|| inner.split_once('-')) {
                Some((n, d)) => (n, Some(d), end + 2),
                None => (inner, None, end + 2),
            }
        } else {
            let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
            (&rest[..end], None, end)
        };
        let value = args.get(name).filter(|v| !v.is_empty()).map(String::as_str).or(default)?;
        out.push_str(value);
        rest = &rest[len..];
    }
    out.push_str(rest);
    Some(out)
}

/// Updates `installed` with the packages a `RUN` line installs or removes. apk's virtual packages
/// (`apk add --virtual .deps curl`, later `apk del .deps`) are followed through `groups`.
fn packages(line: &str, installed: &mut Vec<String>, groups: &mut Vec<(String, Vec<String>)>) {
    for command in line.split(['&', ';', '|']) {
        let words: Vec<&str> = command.split_whitespace().collect();
        let verb_at =
            words.iter().position(|w| matches!(*w, "add" | "install" | "del" | "remove" | "purge" | "autoremove"));
        let Some(at) = verb_at else { continue };
        let manager = words[..at].iter().rev().find(|w| !w.starts_with('-')).copied().unwrap_or("");
        let manager = manager.rsplit('/').next().unwrap_or(manager);
        if !matches!(manager, "apk" | "apt-get" | "apt" | "yum" | "dnf" | "microdnf") {
            continue;
        }
        let adds = matches!(words[at], "add" | "install");
        let mut names = Vec::new();
        let mut group = None;
        let mut rest = words[at + 1..].iter();
        while let Some(word) = rest.next() {
            if let Some(name) = word.strip_prefix("--virtual=") {
                group = Some(name.to_string());
            } else if *word == "--virtual" || *word == "-t" {
                group = rest.next().map(|n| n.to_string());
            } else if !word.starts_with('-') && !word.contains('$') {
                names.push(word.split(['=', '>', '<']).next().unwrap_or(word).to_string());
            }
        }
        if adds {
            match group {
                Some(group) => groups.push((group, names)),
                None => {
                    installed.retain(|p| !names.contains(p));
                    installed.extend(names);
                }
            }
        } else {
            for name in names {
                // Deleting a virtual package removes what it pulled in.
                let members: Vec<String> =
                    groups.iter().filter(|(g, _)| *g == name).flat_map(|(_, m)| m.clone()).collect();
                groups.retain(|(g, _)| *g != name);
                installed.retain(|p| *p != name && !members.contains(p));
            }
        }
    }
    // What a virtual group still holds is installed.
    for (_, members) in groups.iter() {
        for m in members {
            if !installed.contains(m) {
                installed.push(m.clone());
            }
        }
    }
}

fn doc_services_mut(doc: &mut Value) -> Option<&mut ValueKind> {
    match &mut doc.kind {
        ValueKind::Map(entries) => entries.iter_mut().find(|(k, _)| k == "services").map(|(_, v)| &mut v.kind),
        _ => None,
    }
}

/// The names `.env.example` lists (`real`: its path resolved; nothing unless it is inside the
/// project): variables the project documents as set by the environment it runs in.
fn documented_variables(real: Option<PathBuf>, root_abs: &Path) -> HashSet<String> {
    let Some(real) = real else { return HashSet::new() };
    if !real.starts_with(root_abs) {
        return HashSet::new();
    }
    read_env_text(&real).map(|t| interpolate::parse_dotenv(&t).into_keys().collect()).unwrap_or_default()
}

/// The items of a document's `include:` (short and long syntax), as written, each with where it
/// is written; items without a path are left out.
fn includes(doc: &Value) -> Vec<Include> {
    let text = |v: &Value| v.as_str().map(|t| (t.to_string(), v.loc));
    // A string, or a list of them.
    let texts = |v: Option<&Value>| -> Vec<(String, super::Loc)> {
        match v {
            Some(v) if v.as_str().is_some() => text(v).into_iter().collect(),
            Some(v) => v.items().iter().filter_map(text).collect(),
            None => Vec::new(),
        }
    };
    let mut out = Vec::new();
    for item in doc.get("include").map(Value::items).unwrap_or_default() {
        let include = match item.as_str() {
            Some(_) => Include { paths: text(item).into_iter().collect(), ..Include::default() },
            None => Include {
                paths: texts(item.get("path")),
                project_directory: item.get("project_directory").and_then(text),
                env_files: texts(item.get("env_file")),
            },
        };
        if !include.paths.is_empty() {
            out.push(include);
        }
    }
    out
}

/// One item of a compose file's `include:` (each text with where it is written).
#[derive(Default)]
struct Include {
    /// The files, merged in order as overlays of the first.
    paths: Vec<(String, super::Loc)>,
    /// The directory the included files' relative paths resolve against (default: the first
    /// file's directory).
    project_directory: Option<(String, super::Loc)>,
    /// The files of variables interpolating them (default: `.env` in the project directory).
    env_files: Vec<(String, super::Loc)>,
}

/// Adds an included document's services, volumes, networks, secrets and configs to the
/// including document, as compose imports them; `Ok(true)` when both define one alike.
///
/// # Errors
/// A resource both define otherwise: its name and where the including document defines it.
/// Definitions are compared as [`Value::same_as_with`] does, a service's lists normalised as the
/// included one's are; relative paths, which compose resolves from each file's directory before
/// it compares, count as the same (compose refuses a few more).
fn import_resources(doc: &mut Value, included: Value) -> Result<bool, (super::Loc, String)> {
    let mut alike = false;
    let ValueKind::Map(entries) = &mut doc.kind else {
        return Ok(alike);
    };
    let ValueKind::Map(sections) = included.kind else {
        return Ok(alike);
    };
    for (section, inc) in sections {
        if !["services", "volumes", "networks", "secrets", "configs"].contains(&section.as_str()) {
            continue;
        }
        match entries.iter_mut().find(|(k, _)| *k == section) {
            Some((_, own)) => {
                if own.is_null() {
                    *own = inc;
                    continue;
                }
                let ValueKind::Map(own_entries) = &mut own.kind else { continue };
                let ValueKind::Map(inc_entries) = inc.kind else { continue };
                for (k, v) in inc_entries {
                    match own_entries.iter().find(|(ok, _)| *ok == k) {
                        Some((_, mine)) => {
                            // Relative paths compose resolves before it compares (from each
                            // file's directory) are not resolved here: texts that may be such
                            // paths count as the same. (`extends` is applied on both sides.)
                            let relative = |t: &str| t.starts_with('.') || t.contains(":.");
                            let same_text = |a: &str, b: &str| a == b || (relative(a) && relative(b));
                            let same = match section.as_str() {
                                "services" => normalize_service(mine.clone()).same_as_with(&v, &same_text),
                                _ => mine.same_as_with(&v, &same_text),
                            };
                            if !same {
                                return Err((mine.loc, format!("{section}.{k} conflicts with imported resource")));
                            }
                            alike = true;
                        }
                        None => own_entries.push((k, v)),
                    }
                }
            }
            None => entries.push((section, inc)),
        }
    }
    Ok(alike)
}

/// The base compose file of a project directory (`compose.yaml`, …, `docker-compose.yml`), as
/// `docker compose` picks it.
pub fn base_file(dir: &Path) -> Option<PathBuf> {
    BASE_NAMES.iter().map(|n| dir.join(n)).find(|p| p.is_file())
}

/// Whether a directory entry is a regular file, or a link to one, as [`Path::is_file`] says:
/// from the type the directory listing gives (no `stat` of each entry) unless it is a link or
/// the file system gives no type.
fn is_file_entry(entry: &std::fs::DirEntry) -> bool {
    match entry.file_type() {
        Ok(kind) if !kind.is_symlink() => kind.is_file(),
        _ => entry.path().is_file(),
    }
}

/// The production files of a project directory, by name, sorted.
pub fn production_files(dir: &Path) -> Vec<PathBuf> {
    let names = file_names(dir).unwrap_or_default();
    names.iter().filter(|n| is_production_name(n)).map(|n| dir.join(n)).collect()
}

/// The names of the files in `dir` (links to files included; names that are not UTF-8 left
/// out), sorted.
///
/// # Errors
/// The directory cannot be read.
fn file_names(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter(is_file_entry)
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    Ok(names)
}

/// The compose files found in a project directory by name, as stackfix loads them there: the
/// base file `docker compose` picks, that base file's `.override` file, and the production files.
pub fn discovered_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(base) = base_file(dir) {
        let name = base.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let stem = name.rsplit_once('.').map_or(name, |(stem, _)| stem);
        let over = ["yaml", "yml"].iter().map(|ext| dir.join(format!("{stem}.override.{ext}"))).find(|p| p.is_file());
        out.push(base);
        out.extend(over);
    }
    out.extend(production_files(dir));
    out
}

/// Whether `docker compose` (and stackfix) finds a file of this name in a project directory: a
/// base file (`compose.yaml`, `compose.yml`, `docker-compose.yaml`, `docker-compose.yml`), its
/// `.override` file, or a production file ([`is_production_name`]).
pub fn is_discovered_name(name: &str) -> bool {
    let is_override = BASE_NAMES.iter().any(|base| {
        let stem = base.rsplit_once('.').map_or(*base, |(stem, _)| stem);
        name.strip_prefix(stem).is_some_and(|rest| rest == ".override.yaml" || rest == ".override.yml")
    });
    BASE_NAMES.contains(&name) || is_override || is_production_name(name)
}

/// `docker-compose.prod.yml`, `compose.production.yaml`, `docker-compose-prod.yml`, …
pub fn is_production_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let Some(stem) = lower.strip_suffix(".yml").or_else(|| lower.strip_suffix(".yaml")) else {
        return false;
    };
    let Some(rest) = stem.strip_prefix("docker-compose").or_else(|| stem.strip_prefix("compose")) else {
        return false;
    };
    matches!(rest, ".prod" | ".production" | "-prod" | "-production" | "_prod" | "_production")
}

fn is_yaml_name(name: &str) -> bool {
    name.ends_with(".yml") || name.ends_with(".yaml")
}

/// Lexical normalisation (`a/./b/../c` → `a/c`), without touching the file system.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            // As Go's `filepath.Clean` (compose): `..` takes a name off, stays at the root
            // (`/..` is `/`), and is kept after another `..` or at the start of a relative path.
            Component::ParentDir => match out.components().next_back() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(".."),
            },
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// `a`, `a` and `b`, `a`, `b` and `c`: each name in backticks.
fn quoted_list(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => quoted.concat(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deploy_headers_are_read_in_every_spelling_of_the_file_option() {
        let header =
            |line: &str| deployed_with(&format!("# made by hand\n# Deploy with: {line}\nservices: {{}}\n"), "prod.yml");
        assert_eq!(header("docker compose -f prod.yml up -d"), Some(1));
        assert_eq!(header("docker compose -f base.yml -f prod.yml up -d"), Some(2));
        assert_eq!(header("docker compose --file base.yml -f prod.yml up -d"), Some(2));
        assert_eq!(header("docker compose -f=base.yml --file=prod.yml up -d"), Some(2));
        assert_eq!(header("docker compose -fbase.yml -f ./prod.yml up -d"), Some(2));
        assert_eq!(header("docker compose -f prod.yml -f other.yml up -d"), None);
        // A word this does not read (a project name after `-p`): not read at all.
        assert_eq!(header("docker compose -p shop -f base.yml -f prod.yml up -d"), None);
        assert_eq!(deployed_with("\u{feff}# Deploy with: docker compose -f prod.yml up -d\n", "prod.yml"), Some(1));
        assert_eq!(deployed_with("services: {}\n# Deploy with: docker compose -f prod.yml up -d\n", "prod.yml"), None);
    }

    /// Compose files are found by the type the directory listing gives, and a link to a file
    /// counts as one (as `Path::is_file` says), a link to a directory or a dangling one does not.
    #[cfg(unix)]
    #[test]
    fn discovery_takes_files_and_links_to_files() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("conf");
        std::fs::create_dir(&conf).unwrap();
        std::fs::write(conf.join("prod.yml"), "services: {}\n").unwrap();
        std::fs::write(dir.path().join("compose.yaml"), "services: {}\n").unwrap();
        std::os::unix::fs::symlink(conf.join("prod.yml"), dir.path().join("docker-compose.prod.yml")).unwrap();
        std::os::unix::fs::symlink(&conf, dir.path().join("docker-compose.staging.yml")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("gone.yml"), dir.path().join("compose.production.yml")).unwrap();
        std::fs::create_dir(dir.path().join("compose.prod.yaml")).unwrap();
        let found: Vec<String> = discovered_files(dir.path())
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(found, ["compose.yaml", "docker-compose.prod.yml"]);
        assert_eq!(file_names(dir.path()).unwrap(), ["compose.yaml", "docker-compose.prod.yml"]);
    }

    /// A directory without a compose file's usual name: its YAML files with a `services`
    /// mapping make the stack, however the key is written (escapes included); the others are
    /// known not to be compose files without being parsed (they need not even parse).
    #[test]
    fn yaml_files_without_the_word_services_are_not_compose_files() {
        assert!(!may_name_services("name: ci\non: [push]\njobs: {}\n"));
        assert!(may_name_services("services:\n  a: {image: b}\n"));
        assert!(may_name_services("\"\\x73ervices\": {}\n"));
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a-app.yml"), "\"\\x73ervices\":\n  web:\n    image: nginx:1.27\n").unwrap();
        std::fs::write(dir.path().join("b-ci.yml"), "jobs: [unclosed\n").unwrap();
        std::fs::write(dir.path().join("c-lists.yml"), "services: [a, b]\n").unwrap();
        std::fs::write(dir.path().join("d-web.yaml"), "'services':\n  api:\n    image: caddy:2\n").unwrap();
        let stack = load(&LoadOptions::new(dir.path().to_path_buf(), Vec::new(), Profiles::builtin()));
        assert!(stack.errors.is_empty(), "{:?}", stack.errors);
        let files: Vec<String> =
            stack.files.iter().map(|f| f.path.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(files, ["a-app.yml", "d-web.yaml"]);
        let services: Vec<&str> = stack.configs.iter().flat_map(|c| &c.services).map(|s| s.name.as_str()).collect();
        assert_eq!(services, ["web", "api"]);
    }

    /// A reload takes the YAML files the first load found not to be compose files as found (the
    /// disk as it was at load, as for every path it resolved), unless given their text in memory.
    #[test]
    fn a_reload_takes_the_files_found_not_compose_as_found() {
        let dir = tempfile::tempdir().unwrap();
        let app = dir.path().join("app.yml");
        let other = dir.path().join("other.yml");
        std::fs::write(&app, "services:\n  web:\n    image: nginx:1.27\n").unwrap();
        std::fs::write(&other, "# no services here\nrule_files: []\n").unwrap();
        let options = LoadOptions::new(dir.path().to_path_buf(), Vec::new(), Profiles::builtin());
        let before = load(&options);
        assert_eq!(before.files.len(), 1);
        assert!(before.resolved.not_compose.contains(&other));
        let compose_now = "services:\n  api:\n    image: caddy:2\n";
        std::fs::write(&other, compose_now).unwrap();
        let mut given = options.clone();
        given.overrides.insert(app.clone(), "services:\n  web:\n    image: nginx:1.27\n    init: true\n".into());
        let again = load_again(&given, &before);
        assert_eq!(again.files.len(), 1, "{:?}", again.files.iter().map(|f| &f.path).collect::<Vec<_>>());
        assert!(again.resolved.not_compose.contains(&other));
        // Given in memory, it is read as given.
        given.overrides.insert(other.clone(), compose_now.into());
        assert_eq!(load_again(&given, &before).files.len(), 2);
        // A new load reads the disk.
        assert_eq!(load(&options).files.len(), 2);
    }

    /// Loading again after a fix changed a file in memory: the file given is read as given, every
    /// other file as the first load read it (not from disk again), and the stack is the one a
    /// fresh load of the same texts makes.
    #[test]
    fn loading_again_takes_the_files_not_given_as_read_before() {
        let dir = tempfile::tempdir().unwrap();
        let compose = dir.path().join("docker-compose.yml");
        let prometheus = dir.path().join("prometheus.yml");
        std::fs::write(
            &compose,
            "services:\n  prometheus:\n    image: prom/prometheus:v2.53.0\n    volumes:\n      - ./prometheus.yml:/etc/prometheus/prometheus.yml:ro\n",
        )
        .unwrap();
        std::fs::write(&prometheus, "rule_files: [alerts.yml]\n").unwrap();
        let options = LoadOptions::new(dir.path().to_path_buf(), Vec::new(), Profiles::builtin());
        let before = load(&options);
        assert!(before.errors.is_empty(), "{:?}", before.errors);
        // What the first load read stays what the stack is made of, whatever the disk holds now.
        std::fs::write(&prometheus, "rule_files: [changed.yml]\n").unwrap();
        let mut given = options.clone();
        let fixed = "services:\n  prometheus:\n    image: prom/prometheus:v2.53.0\n    restart: unless-stopped\n    volumes:\n      - ./prometheus.yml:/etc/prometheus/prometheus.yml:ro\n";
        given.overrides.insert(compose.clone(), fixed.to_string());
        let again = load_again(&given, &before);
        let text_of = |stack: &Stack, name: &str| {
            stack.files.iter().find(|f| f.path.ends_with(name)).map(|f| f.source().text().to_string())
        };
        assert_eq!(text_of(&again, "docker-compose.yml").as_deref(), Some(fixed));
        assert_eq!(text_of(&again, "prometheus.yml").as_deref(), Some("rule_files: [alerts.yml]\n"));
        assert!(again.files.iter().all(|f| f.tree.is_some()), "YAML files keep their trees");
        // The same stack a fresh load of those texts makes.
        std::fs::write(&prometheus, "rule_files: [alerts.yml]\n").unwrap();
        let fresh = load(&given);
        let shape = |stack: &Stack| {
            let files: Vec<(String, String)> =
                stack.files.iter().map(|f| (f.display.clone(), f.source().text().to_string())).collect();
            let services: Vec<String> =
                stack.configs.iter().flat_map(|c| &c.services).map(|s| format!("{}={:?}", s.name, s.value)).collect();
            (files, services, stack.errors.len(), stack.notes.len())
        };
        assert_eq!(shape(&again), shape(&fresh));
    }

    /// A compose file found by its content (no usual name), edited by a fix: loading it again
    /// with the edits parses only what they changed, and makes the stack a fresh load of the
    /// same text makes; an edit that leaves it without `services` makes it no compose file.
    #[test]
    fn an_edited_probed_compose_file_is_parsed_again_from_its_edits() {
        let dir = tempfile::tempdir().unwrap();
        let app = dir.path().join("app.yml");
        let text = "services:\n  web:\n    image: nginx:1.27\n  db:\n    image: postgres:16\n";
        std::fs::write(&app, text).unwrap();
        let options = LoadOptions::new(dir.path().to_path_buf(), Vec::new(), Profiles::builtin());
        let before = load(&options);
        assert_eq!(before.files.len(), 1);
        let at = text.find("  db:").unwrap();
        let inserted = "    restart: unless-stopped\n";
        let fixed = format!("{}{inserted}{}", &text[..at], &text[at..]);
        let mut given = options.clone();
        given.overrides.insert(app.clone(), fixed.clone());
        let key = before.files[0].key.clone();
        let edits = HashMap::from([(key, vec![TextEdit { start: at, end: at, len: inserted.len() }])]);
        let again = load_edited(&given, &before, &edits);
        let shape = |stack: &Stack| {
            let services: Vec<String> =
                stack.configs.iter().flat_map(|c| &c.services).map(|s| format!("{}={:?}", s.name, s.value)).collect();
            let trees: Vec<String> = stack.files.iter().map(|f| format!("{:?}", f.tree)).collect();
            (services, trees, stack.errors.len())
        };
        std::fs::write(&app, &fixed).unwrap();
        assert_eq!(shape(&again), shape(&load(&options)));
        assert!(again.configs[0].services[0].value.get("restart").is_some());
        // Edited into something that is no compose file: not read as one.
        let gone = "x-services: {}\n";
        given.overrides.insert(app.clone(), gone.into());
        let edits = HashMap::from([(
            before.files[0].key.clone(),
            vec![TextEdit { start: 0, end: text.len(), len: gone.len() }],
        )]);
        assert!(load_edited(&given, &before, &edits).files.is_empty());
    }

    /// A project named by a relative path (`stackfix fix` in the stack's directory reads
    /// `./docker-compose.yml`) with its files given by their normalized paths (as a fix run gives
    /// them): each is still found as the file the last load parsed, so an unchanged one keeps
    /// its tree (shared, not parsed again).
    #[test]
    fn files_given_under_a_relative_project_path_keep_their_trees() {
        std::fs::create_dir_all("target").unwrap();
        let dir = tempfile::tempdir_in("target").unwrap();
        let relative = Path::new(".").join("target").join(dir.path().file_name().unwrap());
        let text = "services:\n  web:\n    image: nginx:1.27\n";
        std::fs::write(relative.join("docker-compose.yml"), text).unwrap();
        let options = LoadOptions::new(relative.clone(), Vec::new(), Profiles::builtin());
        let before = load(&options);
        assert_eq!(before.files.len(), 1);
        assert!(before.files[0].path.starts_with("."), "{:?}", before.files[0].path);
        let mut given = options.clone();
        let key = before.files[0].key.clone();
        assert!(!key.path().starts_with("."), "{key:?}");
        given.overrides.insert(key.path().to_path_buf(), text.to_string());
        let again = load_edited(&given, &before, &HashMap::new());
        let (old, new) = (before.files[0].tree.as_ref().unwrap(), again.files[0].tree.as_ref().unwrap());
        assert!(Arc::ptr_eq(old, new), "parsed again");
    }

    /// A directory without a compose file's usual name: each YAML file is parsed to see whether
    /// it has `services:`, and the stack reads the text that probe parsed, from disk or given.
    #[test]
    fn a_probed_compose_file_is_read_as_probed() {
        let dir = tempfile::tempdir().unwrap();
        let stack_file = dir.path().join("stack.yml");
        std::fs::write(&stack_file, "services:\n  on_disk:\n    image: nginx:1.27\n").unwrap();
        std::fs::write(dir.path().join("other.yml"), "groups: []\n").unwrap();
        let names = |options: &LoadOptions| {
            let stack = load(options);
            let services: Vec<String> =
                stack.configs.iter().flat_map(|c| &c.services).map(|s| s.name.clone()).collect();
            let files: Vec<String> = stack.files.iter().map(|f| f.display.clone()).collect();
            (services, files, stack.errors.len())
        };
        let mut options = LoadOptions::new(dir.path().to_path_buf(), Vec::new(), Profiles::builtin());
        let (services, files, errors) = names(&options);
        assert_eq!((services, errors), (vec!["on_disk".to_string()], 0));
        assert_eq!(files.len(), 1, "{files:?}");
        // Given in memory (a fix's edit): the probe and the stack read the given text.
        options.overrides.insert(stack_file.clone(), "services:\n  given:\n    image: nginx:1.27\n".into());
        assert_eq!(names(&options).0, vec!["given".to_string()]);
        // A given text without `services:` makes no compose file of it, whatever the disk says.
        options.overrides.insert(stack_file, "groups: []\n".into());
        let stack = load(&options);
        assert!(stack.configs.is_empty());
        assert!(stack.errors.iter().any(|e| e.message.contains("no compose file found")), "{:?}", stack.errors);
    }

    #[cfg(unix)]
    #[test]
    fn real_paths_resolve_as_canonicalize_does() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::create_dir_all(root.join("elsewhere/c")).unwrap();
        std::fs::write(root.join("a/b/file.yml"), "x: 1\n").unwrap();
        std::fs::write(root.join("elsewhere/c/target.yml"), "y: 2\n").unwrap();
        std::os::unix::fs::symlink(root.join("elsewhere"), root.join("a/dirlink")).unwrap();
        std::os::unix::fs::symlink("../elsewhere/c/target.yml", root.join("a/filelink.yml")).unwrap();
        std::os::unix::fs::symlink(root.join("a/filelink.yml"), root.join("a/b/chain.yml")).unwrap();
        std::os::unix::fs::symlink(root.join("nowhere"), root.join("a/dangling")).unwrap();
        let mut real = RealPaths::default();
        for rel in [
            "a",
            "a/b/file.yml",
            "a/dirlink",
            "a/dirlink/c/target.yml",
            "a/filelink.yml",
            "a/b/chain.yml",
            "a/dangling",
            "a/missing.yml",
            "a/b/file.yml/below",
            "a/dirlink/../b/file.yml",
            "a/./b/file.yml",
            // Names after the last `..`: resolved from what the path up to it resolves to.
            "a/b/../dirlink/c/target.yml",
            "a/dirlink/../dirlink/c/../c/target.yml",
            "a/b/../filelink.yml",
            "a/b/../dangling",
            "a/b/../missing.yml",
            "a/missing/../b/file.yml",
            "a/b/file.yml/../file.yml",
            "a/dirlink/..",
            "a/b/../b/file.yml/",
            "a/b/../b/file.yml/.",
            "a/b/../dirlink/",
            "a/b/../dirlink/.",
        ] {
            let path = root.join(rel);
            // Twice: the second answer comes from what the first learnt.
            for _ in 0..2 {
                assert_eq!(real.get(&path), path.canonicalize().ok(), "{rel}");
            }
        }
    }

    #[test]
    fn production_names() {
        for n in ["docker-compose.prod.yml", "compose.production.yaml", "docker-compose-prod.yml"] {
            assert!(is_production_name(n), "{n}");
        }
        for n in ["docker-compose.yml", "docker-compose.product.yml", "prod.yml"] {
            assert!(!is_production_name(n), "{n}");
        }
    }

    #[test]
    fn the_user_of_each_stage() {
        let facts = DockerfileFacts::parse(
            "FROM node:20 AS base\nUSER node\nFROM base AS app\nFROM base AS debug\nuser root\nFROM alpine:3.20\n",
        );
        let user = |target: Option<&str>| facts.stage(target).and_then(|s| s.user.clone());
        assert_eq!(user(Some("base")).as_deref(), Some("node"));
        assert_eq!(user(Some("app")).as_deref(), Some("node"), "inherited from the stage it starts from");
        assert_eq!(user(Some("debug")).as_deref(), Some("root"));
        assert_eq!(user(None), None, "a stage from another image runs as that image's user");
    }

    #[test]
    fn here_document_bodies_are_not_instructions() {
        let facts = DockerfileFacts::parse(
            "FROM nginx:1.27\nCOPY <<CONF /etc/nginx/nginx.conf\nuser nginx;\nCONF\nRUN <<-'EOT' bash\n\tUSER x\n\tEOT\nWORKDIR /srv\n",
        );
        assert_eq!(facts.stage(None).and_then(|s| s.user.clone()), None);
        assert_eq!(facts.workdir.as_deref(), Some("/srv"));
        assert_eq!(heredoc_words("RUN cat <<<x"), Vec::new());
        let commented = DockerfileFacts::parse("FROM alpine:3.20\n# a <<EOF here\nUSER app\n");
        assert_eq!(commented.stage(None).and_then(|s| s.user.clone()).as_deref(), Some("app"));
        assert_eq!(heredoc_words("COPY <<A <<\"B\" /x/"), [("A".to_string(), false), ("B".to_string(), false)]);
    }

    #[test]
    fn normalize_paths() {
        assert_eq!(normalize(Path::new("a/./b/../c")), PathBuf::from("a/c"));
        assert_eq!(normalize(Path::new("./x/../../y")), PathBuf::from("../y"));
        // A `..` already there is not taken off by the next one; the root has no parent.
        assert_eq!(normalize(Path::new("../../x")), PathBuf::from("../../x"));
        assert_eq!(normalize(Path::new("a/../../b/../../x")), PathBuf::from("../../x"));
        assert_eq!(normalize(Path::new("/a/../../x")), PathBuf::from("/x"));
        assert_eq!(normalize(Path::new("/a/../../../x")), PathBuf::from("/x"));
        assert_eq!(normalize(Path::new("/..")), PathBuf::from("/"));
        assert_eq!(normalize(Path::new("..")), PathBuf::from(".."));
    }
}

/// How a resource value is read: a size (`1g`) or a plain number.
#[derive(Clone, Copy)]
enum Unit {
    Bytes,
    Number,
}
