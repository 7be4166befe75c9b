//! Files mounted into known images, resolved through the compose volume mounts (container path →
//! host path): prometheus.yml with its rule files and targets, alertmanager.yml, Traefik static and
//! dynamic configuration, redis.conf. A side file that is missing or unreadable becomes a note.

use std::path::{Path, PathBuf};

use super::load::Loader;
use super::service::{shell_split, MountKind, Service};
use super::value::{FileId, Loc, Value};
use super::{Config, FileRole, Note};

/// A `host:port` target written in prometheus.yml.
#[derive(Debug, Clone)]
pub struct Target {
    pub job: Option<String>,
    pub host: String,
    pub port: Option<String>,
    pub loc: Loc,
}

/// A `rule_files` entry and the files it matched.
#[derive(Debug, Clone)]
pub struct RuleFiles {
    pub pattern: String,
    pub loc: Loc,
    pub files: Vec<FileId>,
}

#[derive(Debug, Clone)]
pub struct PrometheusConfig {
    pub service: String,
    pub file: FileId,
    pub doc: Value,
    pub rule_files: Vec<RuleFiles>,
    /// The `rule_files:` key.
    pub rule_files_key: Option<Loc>,
    pub alertmanager_targets: Vec<Target>,
    pub scrape_targets: Vec<Target>,
}

#[derive(Debug, Clone)]
pub struct TraefikConfig {
    pub service: String,
    /// `--flag=value` arguments, flag lowercased without dashes.
    pub args: Vec<(String, String)>,
    pub static_file: Option<FileId>,
    pub static_doc: Option<Value>,
    pub dynamic: Vec<(FileId, Value)>,
    /// The entry points of the static configuration Traefik reads (the file when it finds one,
    /// else the flags), in order.
    pub entry_points: Vec<EntryPoint>,
}

/// A Traefik entry point (static configuration `entryPoints.<name>`). Traefik reads option names
/// case-insensitively and entry point names as written: a router naming `web` does not use an
/// entry point defined as `Web` (Traefik v3.1: "entryPoint \"web\" doesn't exist").
#[derive(Debug, Clone, Default)]
pub struct EntryPoint {
    pub name: String,
    /// `address` (`:443`, `0.0.0.0:80/tcp`), as written.
    pub address: Option<String>,
    /// The `entryPoints.<name>` mapping of the static file; none for flags.
    pub spec: Option<Loc>,
    /// `http.middlewares`, as written (`name` or `name@provider`).
    pub middlewares: Vec<String>,
    /// `asDefault`: a router that names no entry point uses the default ones, which are those
    /// with `asDefault: true`, or every entry point when none has it
    /// (<https://doc.traefik.io/traefik/routing/entrypoints/#asdefault>).
    pub as_default: bool,
}

impl TraefikConfig {
    /// The entry points a router naming `names` uses (`names` empty: the default ones). `None`
    /// when Traefik would use one this configuration does not define (then what it applies is
    /// not known here).
    pub fn router_entry_points(&self, names: &[String]) -> Option<Vec<&EntryPoint>> {
        if names.is_empty() {
            // Never a default: the API's own `traefik` entry point, and UDP entry points
            // (checked with Traefik v3: a router naming none is not on them).
            let http = self.entry_points.iter().filter(|e| {
                e.name != "traefik" && !e.address.as_deref().is_some_and(|a| a.to_ascii_lowercase().ends_with("/udp"))
            });
            let defaults: Vec<&EntryPoint> = http.clone().filter(|e| e.as_default).collect();
            let chosen = if defaults.is_empty() { http.collect() } else { defaults };
            return (!chosen.is_empty()).then_some(chosen);
        }
        names.iter().map(|n| self.entry_points.iter().find(|e| &e.name == n)).collect()
    }
}

impl TraefikConfig {
    pub fn arg(&self, name: &str) -> Option<&str> {
        self.args.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Traefik's (major, minor) version from its image tag (`traefik:v2.11`, `traefik:3.1.4`,
/// `traefik:v3`); `None` for `latest`, digests and anything else.
pub fn traefik_version(service: &Service) -> Option<(u32, u32)> {
    let tag = crate::stack::profiles::image_tag(&service.image.as_ref()?.value)?;
    let mut parts = tag.trim_start_matches('v').split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().and_then(|m| m.parse().ok()).unwrap_or(u32::MAX);
    Some((major, minor))
}

/// One directive of redis.conf.
#[derive(Debug, Clone)]
pub struct Directive {
    pub name: String,
    pub args: String,
    /// The file it is written in (the configuration file, or a file it includes), and its line
    /// there (from 1).
    pub file: FileId,
    pub line: usize,
}

/// The configuration file a Redis server is started with (`redis-server /path/redis.conf`).
#[derive(Debug, Clone)]
pub struct RedisConf {
    pub service: String,
    /// The file named on the command line: the one a fix edits.
    pub file: FileId,
    /// Its directives in the order Redis reads them (the last of a name wins), with those of
    /// each file an `include` directive names in its place, when stackfix reads that file.
    pub directives: Vec<Directive>,
    /// The `include` directives whose files stackfix does not read (a path relative to the
    /// server's working directory, a pattern, which Redis 7 expands, a file under no mount, one
    /// past [`MAX_REDIS_INCLUDES`] deep): how many directives come before each, and its
    /// argument. What they set is not known.
    pub unread_includes: Vec<(usize, String)>,
}

/// How deep `include` directives of Redis configuration files are followed.
pub const MAX_REDIS_INCLUDES: usize = 8;

impl RedisConf {
    /// The directive `name` as Redis reads it (the last one wins), when it is known:
    /// `Err(argument)` names an `include` stackfix does not read after which it is not set.
    pub fn setting(&self, name: &str) -> Result<Option<&Directive>, &str> {
        let last = self.directives.iter().rposition(|d| d.name.eq_ignore_ascii_case(name));
        let after = last.map_or(0, |i| i + 1);
        match self.unread_includes.iter().rev().find(|(before, _)| *before >= after) {
            Some((_, include)) => Err(include),
            None => Ok(last.map(|i| &self.directives[i])),
        }
    }

    /// The directive `name` read last, `None` when it is not set or [`RedisConf::setting`]
    /// does not know it.
    pub fn get(&self, name: &str) -> Option<&Directive> {
        self.setting(name).ok().flatten()
    }
}

/// Finds and reads the side files of a configuration's services.
pub(crate) fn attach(loader: &mut Loader, config: &mut Config) {
    for i in 0..config.services.len() {
        let service = &config.services[i];
        match service.kind.as_str() {
            "prometheus" => {
                if let Some(p) = prometheus(loader, service) {
                    config.prometheus.push(p);
                }
            }
            "alertmanager" => {
                let path = flag(&service.command, "config.file")
                    .unwrap_or_else(|| "/etc/alertmanager/alertmanager.yml".into());
                if let Some(host) = mounted(loader, service, &path, true) {
                    if let Some(id) = loader.read(&host, FileRole::Alertmanager, true) {
                        config.alertmanager_files.push(id);
                    }
                }
            }
            "traefik" => config.traefik.push(traefik(loader, service)),
            "redis" => {
                if let Some(conf) = redis_conf(loader, service) {
                    config.redis_confs.push(conf);
                }
            }
            _ => {}
        }
    }
}

/// `--name=value` or `--name value` among command words.
fn flag(words: &[String], name: &str) -> Option<String> {
    let long = format!("--{name}");
    let prefix = format!("--{name}=");
    words.iter().enumerate().find_map(|(i, w)| {
        if let Some(v) = w.strip_prefix(&prefix) {
            Some(v.to_string())
        } else if *w == long {
            words.get(i + 1).cloned()
        } else {
            None
        }
    })
}

/// The host path of a container path, through the service's bind mounts (longest target wins).
/// `required` adds a note when no mount provides it or the file is missing.
fn mounted(loader: &mut Loader, service: &Service, container_path: &str, required: bool) -> Option<PathBuf> {
    // A mount's target as Docker reads it: cleaned (`/etc/prometheus/`, `/etc/x/../prometheus`).
    // The path a program is given is read by the kernel: `.` and doubled `/` are nothing, but
    // `..` goes up from what the path before it is (a link, or nothing at all), which is not
    // known here. A relative one starts at the service's working directory when that is known.
    let absolute = match container_path.starts_with('/') {
        true => container_path.to_string(),
        false => format!("{}/{container_path}", working_dir(service)?),
    };
    if absolute.split('/').any(|name| name == "..") {
        return None;
    }
    let wanted = clean_container_path(&absolute);
    let (best, target) = service
        .volumes
        .iter()
        .filter(|m| m.kind == MountKind::Bind && m.source.is_some())
        .map(|m| (m, clean_container_path(&m.target)))
        .filter(|(_, t)| {
            let t = t.trim_end_matches('/');
            wanted == t || wanted.strip_prefix(t).is_some_and(|r| r.starts_with('/'))
        })
        .max_by_key(|(_, t)| t.len())?;
    let best = best.clone();
    let rest = wanted[target.trim_end_matches('/').len()..].trim_start_matches('/');
    let source = best.source.as_deref().unwrap_or("");
    let host = loader.host_path(best.loc.file, source, best.loc)?;
    let host = if rest.is_empty() { host } else { host.join(rest) };
    if required && !host.exists() && !loader.is_file(&host) {
        loader.notes.push(Note {
            at: Some(best.loc),
            message: format!("service `{}` mounts `{}`, which does not exist", service.name, host.display()),
        });
        return None;
    }
    Some(host)
}

fn prometheus(loader: &mut Loader, service: &Service) -> Option<PrometheusConfig> {
    let container = flag(&service.command, "config.file").unwrap_or_else(|| "/etc/prometheus/prometheus.yml".into());
    // Rule files are found from the configuration file's directory: a relative path starts at
    // the working directory.
    let container = match container.starts_with('/') {
        true => container,
        false => format!("{}/{container}", working_dir(service)?),
    };
    let host = mounted(loader, service, &container, true)?;
    let file = loader.read(&host, FileRole::Prometheus, true)?;
    let tree = loader.files[file].tree.as_ref()?;
    let root = tree.root()?;
    let doc = match Value::from_tree(tree, root, file) {
        Ok(v) => v,
        Err(e) => {
            loader.notes.push(Note { at: None, message: format!("{}: {}", loader.files[file].display, e.message) });
            return None;
        }
    };
    if doc.get("services").is_some() {
        loader.notes.push(Note {
            at: Some(doc.loc),
            message: format!(
                "`{}` is mounted as Prometheus's config but is a compose file",
                loader.files[file].display
            ),
        });
        return None;
    }
    let config_dir = Path::new(&container).parent().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
    let mut rule_files = Vec::new();
    for item in doc.get("rule_files").map(Value::items).unwrap_or_default() {
        let Some(pattern) = item.as_str() else {
            continue;
        };
        let container_rule =
            if pattern.starts_with('/') { pattern.to_string() } else { format!("{config_dir}/{pattern}") };
        // Cleaned as Prometheus cleans it (`./rules/*.yml`, `../rules/*.yml`).
        let container_rule = clean_container_path(&container_rule);
        let mut files = Vec::new();
        for path in glob(loader, service, &container_rule) {
            files.extend(loader.read(&path, FileRole::PrometheusRules, true));
        }
        if files.is_empty() {
            loader.notes.push(Note {
                at: Some(item.loc),
                message: format!("rule file `{pattern}` not found through the mounts of `{}`", service.name),
            });
        }
        rule_files.push(RuleFiles { pattern: pattern.to_string(), loc: item.loc, files });
    }
    let targets = |configs: &[Value], job: Option<String>| -> Vec<Target> {
        configs
            .iter()
            .flat_map(|sc| sc.get("targets").map(Value::items).unwrap_or_default())
            .filter_map(|t| {
                let text = t.as_str()?;
                let (host, port) = match text.rsplit_once(':') {
                    Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (h.to_string(), Some(p.to_string())),
                    _ => (text.to_string(), None),
                };
                Some(Target { job: job.clone(), host, port, loc: t.loc })
            })
            .collect()
    };
    let mut alertmanager_targets = Vec::new();
    for am in doc.path(&["alerting", "alertmanagers"]).map(Value::items).unwrap_or_default() {
        alertmanager_targets.extend(targets(am.get("static_configs").map(Value::items).unwrap_or_default(), None));
    }
    let mut scrape_targets = Vec::new();
    for job in doc.get("scrape_configs").map(Value::items).unwrap_or_default() {
        let name = job.str_at("job_name").map(str::to_string);
        scrape_targets.extend(targets(job.get("static_configs").map(Value::items).unwrap_or_default(), name));
    }
    Some(PrometheusConfig {
        service: service.name.clone(),
        file,
        rule_files_key: doc.get("rule_files").map(|v| v.loc),
        doc,
        rule_files,
        alertmanager_targets,
        scrape_targets,
    })
}

/// The directory a service's relative paths start from: its `working_dir`, else the `WORKDIR`
/// of the Dockerfile it builds from; `None` when neither is known (an image's own `WORKDIR`).
fn working_dir(service: &Service) -> Option<String> {
    let set = service.value.get("working_dir").and_then(Value::as_str).map(str::to_string);
    set.or_else(|| service.workdir.clone()).filter(|dir| dir.starts_with('/') && !dir.contains('$'))
}

/// Host files matching a container path whose last component may hold `*` and `?`.
fn glob(loader: &mut Loader, service: &Service, container: &str) -> Vec<PathBuf> {
    let (dir, name) = container.rsplit_once('/').unwrap_or(("", container));
    if !name.contains(['*', '?']) {
        return mounted(loader, service, container, false).filter(|p| loader.is_file(p)).into_iter().collect();
    }
    // What the container sees in `dir`, by name: the files of the host directory mounted there
    // (or above), and over them the bind mounts whose target is a name in `dir` itself
    // (`./alerts.yml:/etc/prometheus/rules/alerts.yml`).
    let mut seen: std::collections::BTreeMap<String, Option<PathBuf>> = std::collections::BTreeMap::new();
    if let Some(host_dir) = mounted(loader, service, dir, false) {
        for entry in std::fs::read_dir(&host_dir).into_iter().flatten().filter_map(|e| e.ok()) {
            if let Ok(file_name) = entry.file_name().into_string() {
                let path = entry.path();
                seen.insert(file_name, path.is_file().then_some(path));
            }
        }
    }
    let dir = dir.trim_end_matches('/');
    let placed: Vec<String> = service
        .volumes
        .iter()
        .filter(|m| m.kind == MountKind::Bind && m.source.is_some())
        .filter_map(|m| {
            let target = clean_container_path(&m.target);
            let (parent, file_name) = target.trim_end_matches('/').rsplit_once('/')?;
            (parent == dir && !file_name.is_empty()).then(|| file_name.to_string())
        })
        .collect();
    for file_name in placed {
        let host = mounted(loader, service, &format!("{dir}/{file_name}"), false);
        let file = host.filter(|p| loader.is_file(p));
        seen.insert(file_name, file);
    }
    // In name order, as Prometheus' glob gives them.
    seen.into_iter().filter(|(n, _)| wildcard(name, n)).filter_map(|(_, file)| file).collect()
}

/// A container path (`/`-separated, absolute) with `.` and empty names dropped and each `..`
/// taking out the name before it, as Go's `filepath.Clean` gives it.
fn clean_container_path(path: &str) -> String {
    let mut names: Vec<&str> = Vec::new();
    for name in path.split('/') {
        match name {
            "" | "." => {}
            ".." => {
                names.pop();
            }
            other => names.push(other),
        }
    }
    format!("/{}", names.join("/"))
}

fn wildcard(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

fn traefik(loader: &mut Loader, service: &Service) -> TraefikConfig {
    let args: Vec<(String, String)> = service
        .command
        .iter()
        .filter_map(|w| w.strip_prefix("--"))
        .map(|w| match w.split_once('=') {
            Some((k, v)) => (k.to_ascii_lowercase(), v.to_string()),
            None => (w.to_ascii_lowercase(), "true".to_string()),
        })
        .collect();
    let mut config = TraefikConfig {
        service: service.name.clone(),
        args,
        static_file: None,
        static_doc: None,
        dynamic: Vec::new(),
        entry_points: Vec::new(),
    };
    let static_path = config.arg("configfile").map(str::to_string);
    // Traefik reads one source of static configuration: a file when it finds one (flags are then
    // ignored), else flags, else the environment.
    let explicit = static_path.is_some();
    let candidates: Vec<String> = match static_path {
        Some(p) => vec![p],
        None => vec![
            "/etc/traefik/traefik.toml".into(),
            "/etc/traefik/traefik.yml".into(),
            "/etc/traefik/traefik.yaml".into(),
            "/traefik.toml".into(),
            "/traefik.yml".into(),
            "/traefik.yaml".into(),
        ],
    };
    // A static file stackfix does not read (TOML): what it sets, the flags included (Traefik
    // ignores them then), is not known.
    let mut unread = false;
    for candidate in candidates {
        let host = mounted(loader, service, &candidate, false).filter(|p| loader.is_file(p));
        if candidate.ends_with(".toml") {
            if explicit || host.is_some() {
                loader.notes.push(Note {
                    at: None,
                    message: format!("`{}`: Traefik TOML configuration is not analysed", service.name),
                });
                unread = true;
                break;
            }
            continue;
        }
        if let Some(host) = host {
            if let Some(id) = loader.read(&host, FileRole::TraefikStatic, true) {
                config.static_doc = yaml_value(loader, id);
                config.static_file = Some(id);
                break;
            }
        }
    }
    config.entry_points = match (&config.static_doc, unread) {
        (Some(doc), _) => static_entry_points(doc),
        (None, false) => flag_entry_points(&service.command),
        (None, true) => Vec::new(),
    };
    let from_static = |key: &str| {
        config
            .static_doc
            .as_ref()
            .and_then(|d| d.path(&["providers", "file", key]))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let directory = config.arg("providers.file.directory").map(str::to_string).or_else(|| from_static("directory"));
    let filename = config.arg("providers.file.filename").map(str::to_string).or_else(|| from_static("filename"));
    let mut dynamic_paths = Vec::new();
    if let Some(dir) = directory {
        if let Some(host) = mounted(loader, service, &dir, true) {
            let mut files: Vec<PathBuf> = std::fs::read_dir(&host)
                .map(|rd| {
                    rd.filter_map(|e| e.ok())
                        .map(|e| e.path())
                        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
                        .collect()
                })
                .unwrap_or_default();
            files.sort();
            dynamic_paths.extend(files);
        }
    }
    if let Some(file) = filename {
        dynamic_paths.extend(mounted(loader, service, &file, true));
    }
    for path in dynamic_paths {
        if let Some(id) = loader.read(&path, FileRole::TraefikDynamic, true) {
            if let Some(doc) = yaml_value(loader, id) {
                config.dynamic.push((id, doc));
            }
        }
    }
    config
}

/// A mapping's value under `key`, the key compared as Traefik compares option names
/// (case-insensitively).
pub fn option<'a>(map: &'a Value, key: &str) -> Option<&'a Value> {
    map.entries().iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v)
}

/// A list option: a sequence of strings or one comma-separated string.
pub fn list_option(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(v) if v.as_str().is_some() => split_list(v.as_str().unwrap_or("")),
        Some(v) => v.items().iter().filter_map(Value::as_str).flat_map(split_list).collect(),
        None => Vec::new(),
    }
}

/// The items of a comma-separated option value (`a, b,`: `a`, `b`), as written.
pub fn split_list(text: &str) -> Vec<String> {
    text.split(',').map(str::trim).filter(|m| !m.is_empty()).map(str::to_string).collect()
}

fn is_true(text: &str) -> bool {
    text.eq_ignore_ascii_case("true")
}

fn static_entry_points(doc: &Value) -> Vec<EntryPoint> {
    let Some(eps) = option(doc, "entryPoints") else { return Vec::new() };
    eps.entries()
        .iter()
        .map(|(name, ep)| EntryPoint {
            name: name.clone(),
            address: option(ep, "address").and_then(Value::as_str).map(str::to_string),
            spec: Some(ep.loc),
            middlewares: list_option(option(ep, "http").and_then(|h| option(h, "middlewares"))),
            as_default: option(ep, "asDefault").and_then(Value::as_str).is_some_and(is_true),
        })
        .collect()
}

/// Entry points from `--entrypoints.<name>.<option>[=value]` flags (a flag without a value is
/// `true`).
///
/// Checked with Traefik v3: `--entrypoints.Web.address` with `--entrypoints.web.http.middlewares`
/// is one entry point `Web`.
fn flag_entry_points(command: &[String]) -> Vec<EntryPoint> {
    let mut out: Vec<EntryPoint> = Vec::new();
    for word in command.iter().filter_map(|w| w.strip_prefix("--")) {
        let (key, value) = word.split_once('=').unwrap_or((word, "true"));
        let mut parts = key.splitn(3, '.');
        let (Some(head), Some(name), rest) = (parts.next(), parts.next(), parts.next()) else { continue };
        if !head.eq_ignore_ascii_case("entrypoints") || name.is_empty() {
            continue;
        }
        // Flags naming `Web` and `web` are one entry point, named by the spelling that sorts
        // first (as Traefik merges them).
        let at = match out.iter().position(|e| e.name.eq_ignore_ascii_case(name)) {
            Some(at) => {
                if name < out[at].name.as_str() {
                    out[at].name = name.to_string();
                }
                at
            }
            None => {
                out.push(EntryPoint { name: name.to_string(), ..Default::default() });
                out.len() - 1
            }
        };
        let option = rest.unwrap_or_default().to_ascii_lowercase();
        if option == "http.middlewares" {
            out[at].middlewares = split_list(value);
        } else if option == "asdefault" {
            out[at].as_default = is_true(value);
        } else if option == "address" {
            out[at].address = Some(value.to_string());
        }
    }
    out
}

fn yaml_value(loader: &mut Loader, id: FileId) -> Option<Value> {
    let tree = loader.files[id].tree.as_ref()?;
    let root = tree.root()?;
    match Value::from_tree(tree, root, id) {
        Ok(v) => Some(v),
        Err(e) => {
            loader.notes.push(Note { at: None, message: format!("{}: {}", loader.files[id].display, e.message) });
            None
        }
    }
}

/// The server command words of a redis service (looking inside `sh -c "…"`). A command whose
/// first word is a flag or a `.conf` file gets the server in front, as the official images'
/// entrypoint does ("first arg is `-f` or `--some-option`, or first arg is `something.conf`":
/// https://github.com/docker-library/redis/blob/master/docker-entrypoint.sh, and the same in
/// https://github.com/valkey-io/valkey-container/blob/mainline/docker-entrypoint.sh).
pub fn redis_server_words(service: &Service) -> Vec<String> {
    server_words(service, service.entrypoint.clone(), service.command.clone())
}

/// [`redis_server_words`] as written in the file, before interpolation: where a literal secret
/// is written.
pub fn written_redis_server_words(service: &Service) -> Vec<String> {
    let word_list = |key: &str| super::service::written_words(service.value.get(key));
    server_words(service, word_list("entrypoint"), word_list("command"))
}

fn server_words(service: &Service, entrypoint: Vec<String>, command: Vec<String>) -> Vec<String> {
    let entrypoint_empty = entrypoint.is_empty();
    let mut words = entrypoint;
    words.extend(command);
    // `sh -c "…"` (or `-ec`, `-euc`): the server is in the script. A `-c` of the server itself
    // (postgres's `-c name=value`) is no script.
    const SHELLS: &[&str] = &["sh", "bash", "ash", "dash", "zsh"];
    if let Some(shell) = words.iter().position(|w| SHELLS.contains(&w.rsplit('/').next().unwrap_or(w))) {
        let option = words[shell + 1..]
            .iter()
            .position(|w| w.starts_with('-') && !w.starts_with("--") && w.contains('c'))
            .map(|i| shell + 1 + i);
        if let Some(script) = option.and_then(|i| words.get(i + 1)) {
            return shell_split(script);
        }
    }
    if entrypoint_empty && words.first().is_some_and(|w| w.starts_with('-') || w.ends_with(".conf")) {
        let server = if service.image.as_ref().is_some_and(|i| i.value.contains("valkey")) {
            "valkey-server"
        } else {
            "redis-server"
        };
        words.insert(0, server.to_string());
    }
    words
}

fn redis_conf(loader: &mut Loader, service: &Service) -> Option<RedisConf> {
    let words = redis_server_words(service);
    let server =
        words.iter().position(|w| ["redis-server", "valkey-server", "keydb-server"].iter().any(|s| w.ends_with(s)))?;
    let conf = words.get(server + 1).filter(|w| !w.starts_with("--"))?;
    let host = mounted(loader, service, conf, true)?;
    let file = loader.read(&host, FileRole::RedisConf, false)?;
    let mut conf =
        RedisConf { service: service.name.clone(), file, directives: Vec::new(), unread_includes: Vec::new() };
    redis_directives(loader, service, file, &mut vec![file], &mut conf);
    Some(conf)
}

/// The directives of Redis configuration file `file` into `conf`, each `include` replaced by the
/// directives of the file it names when that file is reached through a mount of `service` (as
/// Redis reads it: in place, so that what follows overrides it); `within` are the files being
/// read, outermost first (a file that includes itself is not read again).
fn redis_directives(
    loader: &mut Loader,
    service: &Service,
    file: FileId,
    within: &mut Vec<FileId>,
    conf: &mut RedisConf,
) {
    let text = loader.files[file].source().text().to_string();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, args) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let args = args.trim();
        if name.eq_ignore_ascii_case("include") {
            // Redis reads the path as written (quotes aside), relative to its working
            // directory, and from Redis 7 expands a pattern.
            let path = args.trim_matches(|c| c == '"' || c == '\'');
            let plain = path.starts_with('/') && !path.contains(['*', '?', '[']);
            let host = plain.then(|| mounted(loader, service, path, false)).flatten().filter(|h| loader.is_file(h));
            let included = host.and_then(|h| loader.read(&h, FileRole::RedisConf, false));
            match included {
                Some(id) if within.len() <= MAX_REDIS_INCLUDES && !within.contains(&id) => {
                    within.push(id);
                    redis_directives(loader, service, id, within, conf);
                    within.pop();
                }
                _ => conf.unread_includes.push((conf.directives.len(), args.to_string())),
            }
            continue;
        }
        conf.directives.push(Directive { name: name.to_string(), args: args.to_string(), file, line: i + 1 });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file in the container is found through the mount that holds it: a mount's target read
    /// as Docker cleans it (`/etc/prometheus/./`, `/etc/other/../prometheus`), the path the
    /// program opens without `.` and doubled `/`, from the service's `working_dir` when relative.
    #[test]
    fn container_paths_are_cleaned_before_they_are_matched_to_mounts() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("prom/rules")).unwrap();
        std::fs::write(dir.path().join("prom/prometheus.yml"), "rule_files: [\"rules/*.yml\"]\n").unwrap();
        std::fs::write(dir.path().join("prom/rules/alerts.yml"), "groups: []\n").unwrap();
        let load = |target: &str, flag: &str, extra: &str| {
            let compose = format!(
                "services:\n  p:\n    image: prom/prometheus:v2.53.0\n    command: [\"{flag}\"]\n{extra}    volumes:\n      - ./prom/prometheus.yml:{target}/prometheus.yml\n      - ./prom/rules/alerts.yml:{target}/rules//alerts.yml\n"
            );
            std::fs::write(dir.path().join("docker-compose.yml"), compose).unwrap();
            let options =
                crate::stack::LoadOptions::new(dir.path().to_path_buf(), Vec::new(), crate::stack::Profiles::builtin());
            crate::stack::load(&options)
        };
        let read = |target: &str, flag: &str, extra: &str| -> Vec<(String, usize)> {
            let stack = load(target, flag, extra);
            let config = &stack.configs[0];
            config
                .prometheus
                .iter()
                .map(|p| {
                    let name = stack.file(p.file).path.file_name().unwrap().to_string_lossy().into_owned();
                    (name, p.rule_files.iter().map(|r| r.files.len()).sum())
                })
                .collect()
        };
        let found = vec![("prometheus.yml".to_string(), 1)];
        let config = "--config.file=/etc/prometheus/prometheus.yml";
        assert_eq!(read("/etc/prometheus", config, ""), found);
        assert_eq!(read("/etc/prometheus/.", config, ""), found);
        assert_eq!(read("/etc/other/../prometheus", config, ""), found);
        assert_eq!(read("/etc/prometheus", "--config.file=/etc/prometheus//./prometheus.yml", ""), found);
        assert!(read("/etc/prometheusx", config, "").is_empty());
        // `..` in the path a program opens goes up from what the kernel finds before it (in
        // this image, no `/etc/x` at all): not known here.
        assert!(read("/etc/prometheus", "--config.file=/etc/x/../prometheus/prometheus.yml", "").is_empty());
        // A relative path starts at the service's working directory; the image's own is not
        // known.
        assert_eq!(
            read("/etc/prometheus", "--config.file=prometheus.yml", "    working_dir: /etc/prometheus\n"),
            found
        );
        assert!(read("/etc/prometheus", "--config.file=prometheus.yml", "").is_empty());
    }

    /// A Redis setting is known when it is written after every `include` stackfix does not read
    /// (Redis reads the file in order, the last directive wins).
    #[test]
    fn redis_settings_after_unread_includes_are_known() {
        let d = |name: &str, args: &str| Directive { name: name.into(), args: args.into(), file: 0, line: 1 };
        let conf = RedisConf {
            service: "redis".into(),
            file: 0,
            directives: vec![d("maxmemory", "1gb"), d("maxmemory", "256mb"), d("port", "6379")],
            unread_includes: vec![(1, "/etc/redis/local.conf".into())],
        };
        assert_eq!(conf.setting("maxmemory").map(|d| d.map(|d| d.args.as_str())), Ok(Some("256mb")));
        assert_eq!(conf.setting("maxmemory-policy").map(|d| d.is_some()), Err("/etc/redis/local.conf"));
        assert!(conf.get("maxmemory-policy").is_none());
        let before = RedisConf { unread_includes: vec![(3, "x.conf".into())], ..conf.clone() };
        assert_eq!(before.setting("port").map(|d| d.is_some()), Err("x.conf"));
        let after = RedisConf { unread_includes: vec![(0, "x.conf".into())], ..conf };
        assert_eq!(after.setting("port").map(|d| d.map(|d| d.args.as_str())), Ok(Some("6379")));
        assert_eq!(after.setting("appendonly").map(|d| d.is_some()), Err("x.conf"));
    }

    #[test]
    fn wildcards() {
        assert!(wildcard("*.yml", "alerts.yml"));
        assert!(wildcard("alert?.rules", "alert1.rules"));
        assert!(!wildcard("*.yml", "alerts.yaml"));
    }

    #[test]
    fn traefik_versions_from_image_tags() {
        let version = |image: &str| {
            let yaml = format!("image: {image}\n");
            let tree = crate::yaml::Tree::parse(yaml).unwrap();
            let value = Value::from_tree(&tree, tree.root().unwrap(), 0).unwrap();
            traefik_version(&Service::from_value("traefik", value, Vec::new(), &Default::default()))
        };
        assert_eq!(version("traefik:v2.1.9"), Some((2, 1)));
        assert_eq!(version("traefik:3.1"), Some((3, 1)));
        assert_eq!(version("traefik:v3"), Some((3, u32::MAX)));
        assert_eq!(version("traefik:latest"), None);
        assert_eq!(version("traefik"), None);
    }

    #[test]
    fn flags() {
        let w: Vec<String> = ["--config.file=/x.yml", "--web.enable-lifecycle"].iter().map(|s| s.to_string()).collect();
        assert_eq!(flag(&w, "config.file").as_deref(), Some("/x.yml"));
        let w: Vec<String> = ["--config.file", "/y.yml"].iter().map(|s| s.to_string()).collect();
        assert_eq!(flag(&w, "config.file").as_deref(), Some("/y.yml"));
    }
}
