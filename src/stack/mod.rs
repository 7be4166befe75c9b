//! The compose model: which files make a stack, how they merge, the normalised services of each
//! effective configuration, and the side files mounted into known images. It knows YAML (through
//! `crate::yaml`) and compose, never rules.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod catalog;
pub mod facts;
pub mod interpolate;
pub mod load;
pub mod merge;
pub mod probe;
pub mod profiles;
pub mod project;
pub mod service;
pub mod side;
pub mod suppress;
pub mod units;
pub mod value;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use crate::yaml::{Source, Span, Tree};
pub use load::{load, LoadOptions};
pub use profiles::Profiles;
pub use project::{FileKey, ProjectFs};
pub use service::Service;
pub use side::{PrometheusConfig, RedisConf, TraefikConfig};
pub use value::{FileId, Loc, Value, ValueKind};

/// What a file is to the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileRole {
    Compose,
    Prometheus,
    PrometheusRules,
    Alertmanager,
    TraefikStatic,
    TraefikDynamic,
    RedisConf,
}

/// A file read while loading, YAML or not.
#[derive(Debug)]
pub struct SourceFile {
    /// Path on disk.
    pub path: PathBuf,
    /// Its identity across loads.
    pub key: FileKey,
    /// Path as shown to the user.
    pub display: String,
    pub role: FileRole,
    /// The directory its relative paths are resolved against. For a compose file, as compose
    /// resolves them: the project directory for the files of a configuration (an overlay in a
    /// subdirectory included), an `include`'s `project_directory` (by default the included
    /// file's directory) for an included file and its own directory for a file `extends`
    /// reads. For any other file, its own directory.
    pub base_dir: PathBuf,
    /// Parsed tree (YAML files only).
    pub tree: Option<std::sync::Arc<Tree>>,
    text: Source,
    /// Spans of anchored nodes other nodes alias, and of the aliases (kept when the tree is
    /// dropped).
    pub shared_anchors: Vec<Span>,
    /// Each alias (by the start of its `*name`) → the span of the anchored node it stands for.
    pub alias_targets: HashMap<usize, Span>,
    /// Its suppression comments (`# stackfix: ignore[rule]`), in line order.
    pub suppressions: Vec<suppress::Suppression>,
}

impl SourceFile {
    /// Where a value is written: an alias's anchored node, else its own span.
    pub fn written_at(&self, span: Span) -> Span {
        self.alias_targets.get(&span.start).copied().unwrap_or(span)
    }
}

impl SourceFile {
    pub fn source(&self) -> &Source {
        self.tree.as_ref().map_or(&self.text, |t| &t.source)
    }

    fn drop_nodes(&mut self) {
        if let Some(tree) = self.tree.take() {
            // Shared with a stack loaded after this one (a fix pass's reload): its text copied.
            self.text = std::sync::Arc::try_unwrap(tree).map_or_else(|shared| shared.source.clone(), |t| t.source);
        }
    }
}

/// An input that stops a file from being analysed (exit code 2); other files still are.
#[derive(Debug, Clone)]
pub struct LoadError {
    pub path: String,
    /// 1-based line and column, when the error has a position.
    pub position: Option<(usize, usize)>,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((line, col)) => write!(f, "{}:{}:{}: {}", self.path, line, col, self.message),
            None => write!(f, "{}: {}", self.path, self.message),
        }
    }
}

/// Something the user should know that is not a finding (a side file that could not be read…).
#[derive(Debug, Clone)]
pub struct Note {
    pub at: Option<Loc>,
    pub message: String,
}

/// Which rules judge a configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Development configuration next to a production one: production rules do not apply.
    Development,
    /// A production configuration, or the only configuration of a stack without one.
    Production,
}

/// One effective configuration: compose files merged in order, with their services and side files.
#[derive(Debug)]
pub struct Config {
    pub files: Vec<FileId>,
    pub role: Role,
    /// Production only, shared with no development configuration (see `LoadOptions::dedicated`).
    pub dedicated: bool,
    /// The merged document without `services` (they are in [`Config::services`]).
    pub doc: Value,
    pub services: Vec<Service>,
    pub prometheus: Vec<PrometheusConfig>,
    pub traefik: Vec<TraefikConfig>,
    pub redis_confs: Vec<RedisConf>,
    /// Side files of alertmanager services.
    pub alertmanager_files: Vec<FileId>,
    index: Index,
    /// What each redis is used for, found once from the whole configuration.
    redis_roles: HashMap<String, RedisRole>,
}

/// Lookups rules make for every service, computed once so checks stay linear in stack size.
#[derive(Debug, Default)]
struct Index {
    by_name: foldhash::HashMap<String, usize>,
    by_host: foldhash::HashMap<String, usize>,
    /// Services another one waits for with `service_completed_successfully`.
    awaited: foldhash::HashSet<String>,
    /// Service index → (client service index, environment variable index) naming one of its hosts.
    clients: foldhash::HashMap<usize, Vec<(usize, usize)>>,
    /// The same for variables of `env_file:` files: (client index, index in its `env_file`).
    env_file_clients: foldhash::HashMap<usize, Vec<(usize, usize)>>,
    /// Service index → indexes of the services whose command line names one of its hosts
    /// (`rq worker --url redis://cache:6379`).
    command_clients: foldhash::HashMap<usize, Vec<usize>>,
    /// Service name → indexes of the services that list it in `depends_on`.
    dependents: foldhash::HashMap<String, Vec<usize>>,
    /// Service index → [`Config::is_one_shot`].
    one_shot: Vec<bool>,
}

impl Index {
    fn build(services: &[Service]) -> Index {
        let mut index = Index::default();
        for (i, s) in services.iter().enumerate() {
            index.by_name.insert(s.name.clone(), i);
            for host in &s.hostnames {
                index.by_host.entry(host.clone()).or_insert(i);
            }
        }
        for (i, s) in services.iter().enumerate() {
            for d in &s.depends_on {
                if d.condition.as_ref().is_some_and(|c| c.value == "service_completed_successfully") {
                    index.awaited.insert(d.service.clone());
                }
            }
            for d in &s.depends_on {
                index.dependents.entry(d.service.clone()).or_default().push(i);
            }
            let targets = |value: &str| {
                let mut targets: Vec<usize> = host_words(value)
                    .filter_map(|w| index.by_host.get(w).copied())
                    .filter(|&t| t != i && services[t].hostnames.iter().any(|h| references_host(value, h)))
                    .collect();
                targets.sort_unstable();
                targets.dedup();
                targets
            };
            let mut found = Vec::new();
            for (e, var) in s.environment.iter().enumerate() {
                let Some(value) = var.value.as_deref() else { continue };
                found.extend(targets(value).into_iter().map(|t| (t, e, false)));
            }
            for (e, (_, value)) in s.env_file.iter().enumerate() {
                found.extend(targets(value).into_iter().map(|t| (t, e, true)));
            }
            let on_command_line = targets(&s.command_line());
            for (t, e, from_file) in found {
                let map = if from_file { &mut index.env_file_clients } else { &mut index.clients };
                map.entry(t).or_default().push((i, e));
            }
            for t in on_command_line {
                index.command_clients.entry(t).or_default().push(i);
            }
        }
        index
    }
}

/// The words of a value that could be host names.
fn host_words(value: &str) -> impl Iterator<Item = &str> {
    value.split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))).filter(|w| !w.is_empty())
}

impl Config {
    pub(crate) fn new(files: Vec<FileId>, role: Role, doc: Value, services: Vec<Service>) -> Config {
        let index = Index::build(&services);
        let mut config = Config {
            files,
            role,
            dedicated: false,
            doc,
            services,
            prometheus: Vec::new(),
            traefik: Vec::new(),
            redis_confs: Vec::new(),
            alertmanager_files: Vec::new(),
            index,
            redis_roles: HashMap::new(),
        };
        config.index.one_shot = config.services.iter().map(|s| config.compute_one_shot(s)).collect();
        config.redis_roles = config
            .services
            .iter()
            .filter(|s| s.kind == "redis")
            .map(|s| (s.name.clone(), config.find_redis_role(s)))
            .collect();
        config
    }

    pub fn service(&self, name: &str) -> Option<&Service> {
        self.index.by_name.get(name).map(|&i| &self.services[i])
    }

    pub fn is_production(&self) -> bool {
        self.role == Role::Production
    }

    /// A service answering to `host` (service name, container_name, hostname or network alias).
    pub fn service_by_host(&self, host: &str) -> Option<&Service> {
        self.index.by_host.get(host).map(|&i| &self.services[i])
    }

    /// A one-shot job: another service waits for it with `service_completed_successfully`, its
    /// restart policy is `no`/`on-failure` and it serves nothing (no health check of its own, no
    /// published port, not an image the catalog knows as a data store or proxy: a database
    /// restarted only on failure is still a database), or its name or command is a migration,
    /// init, seed….
    pub fn is_one_shot(&self, service: &Service) -> bool {
        // A service of this configuration is found by where it is (no lookup by name); any
        // other (a copy, or services changed since the index was built) is judged anew.
        let range = self.services.as_ptr_range();
        let at = service as *const Service;
        let index = range.contains(&at).then(|| (at as usize - range.start as usize) / std::mem::size_of::<Service>());
        index
            .filter(|&i| std::ptr::eq(&self.services[i], service))
            .and_then(|i| self.index.one_shot.get(i).copied())
            .unwrap_or_else(|| self.compute_one_shot(service))
    }

    fn compute_one_shot(&self, service: &Service) -> bool {
        let runs_once = service.restart.as_ref().is_some_and(|r| r.value == "no" || r.value.starts_with("on-failure"));
        let serves = || {
            let probe = service.has_own_probe();
            let server = service
                .image_facts
                .matched
                .as_ref()
                .is_some_and(|m| m.entry.category.is_data_store() || m.entry.category == catalog::Category::Proxy);
            probe || !service.ports.is_empty() || server
        };
        self.index.awaited.contains(&service.name) || (runs_once && !serves()) || service.looks_one_shot()
    }

    /// Another service waits for `name` with `condition: service_completed_successfully`.
    pub fn is_awaited(&self, name: &str) -> bool {
        self.index.awaited.contains(name)
    }

    /// Environment variables of other services that point at `target` (by any of its host names).
    pub fn clients_of<'a>(
        &'a self,
        target: &'a Service,
    ) -> impl Iterator<Item = (&'a Service, &'a service::EnvVar)> + 'a {
        let slots = self.index.by_name.get(&target.name).and_then(|i| self.index.clients.get(i));
        slots.into_iter().flatten().map(|&(s, e)| (&self.services[s], &self.services[s].environment[e]))
    }

    /// Why a redis looks like a job queue or broker (Celery, RQ, Sidekiq, BullMQ…), if it does.
    pub fn broker_evidence(&self, redis: &Service) -> Option<String> {
        match self.redis_role(redis) {
            RedisRole::Queue(why) => Some(why),
            _ => None,
        }
    }

    /// What a redis is used for, from the whole stack: a queue or broker when its name says so,
    /// a client's variable naming it is about queues (`CELERY_BROKER_URL`, `QUEUE_URL`…), or a
    /// queue worker (Celery, RQ, Sidekiq, BullMQ, Resque, Dramatiq, Huey, arq…) reaches it
    /// through `environment`, `env_file`, `depends_on` or a URL naming it on its command line;
    /// a cache when only caching names it (`CACHE_URL`; a name with `cache` alone is
    /// [`RedisRole::CacheByName`]); otherwise unknown.
    pub fn redis_role(&self, redis: &Service) -> RedisRole {
        match self.redis_roles.get(&redis.name) {
            Some(role) => role.clone(),
            None => self.find_redis_role(redis),
        }
    }

    fn find_redis_role(&self, redis: &Service) -> RedisRole {
        const QUEUE_WORDS: &[&str] = &[
            "BROKER", "CELERY", "QUEUE", "QUEUES", "RQ", "SIDEKIQ", "BULL", "BULLMQ", "JOBS", "JOB", "WORKER",
            "DRAMATIQ", "ARQ", "RESQUE", "HUEY", "KUE", "BEE", "TASKS", "TASK",
        ];
        const CACHE_WORDS: &[&str] = &["CACHE", "CACHES", "CACHING"];
        let words = |text: &str| -> Vec<String> {
            text.split(|c: char| !c.is_ascii_alphanumeric()).map(str::to_ascii_uppercase).collect()
        };
        if words(&redis.name).iter().any(|w| QUEUE_WORDS.contains(&w.as_str())) {
            return RedisRole::Queue(format!("its name `{}` says so", redis.name));
        }
        let mut cache = None;
        let named_cache = words(&redis.name).iter().any(|w| CACHE_WORDS.contains(&w.as_str()));
        // The services that reach it: through a variable (environment or env_file) or depends_on.
        let at = self.index.by_name.get(&redis.name).copied();
        let mut linked: Vec<usize> = Vec::new();
        let mut variables: Vec<(usize, &str, &'static str)> = Vec::new();
        if let Some(at) = at {
            for &(c, e) in self.index.clients.get(&at).into_iter().flatten() {
                variables.push((c, self.services[c].environment[e].name.as_str(), ""));
            }
            for &(c, e) in self.index.env_file_clients.get(&at).into_iter().flatten() {
                variables.push((c, self.services[c].env_file[e].0.as_str(), " (env_file)"));
            }
        }
        // A client that names it only on its command line (`rq worker --url redis://cache:6379`).
        if let Some(at) = at {
            linked.extend(self.index.command_clients.get(&at).into_iter().flatten().copied());
        }
        for &(c, name, origin) in &variables {
            let client = &self.services[c];
            let name_words = words(name);
            if name_words.iter().any(|w| QUEUE_WORDS.contains(&w.as_str())) {
                return RedisRole::Queue(format!("`{}` sets `{name}`{origin} to it", client.name));
            }
            if cache.is_none() && name_words.iter().any(|w| CACHE_WORDS.contains(&w.as_str())) {
                cache = Some(format!("`{}` sets `{name}`{origin} to it", client.name));
            }
            linked.push(c);
        }
        linked.extend(self.index.dependents.get(&redis.name).into_iter().flatten().copied());
        linked.sort_unstable();
        linked.dedup();
        for c in linked {
            let client = &self.services[c];
            if let Some(worker) = queue_worker(client) {
                return RedisRole::Queue(format!("`{}` runs {worker} and uses it", client.name));
            }
            // A client named for jobs (`worker`, `queue`, `jobs`) most likely queues in it.
            if words(&client.name).iter().any(|w| QUEUE_WORDS.contains(&w.as_str())) {
                return RedisRole::Queue(format!("`{}` uses it, and its name says it runs jobs", client.name));
            }
        }
        match cache {
            Some(why) => RedisRole::Cache(why),
            None if named_cache => RedisRole::CacheByName(format!("its name `{}` says so", redis.name)),
            None => RedisRole::Unknown,
        }
    }

    pub fn services_of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Service> + 'a {
        self.services.iter().filter(move |s| s.kind == kind)
    }
}

/// What a redis serves as (see [`Config::redis_role`]), with the evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisRole {
    /// Jobs or messages are queued in it: it must not evict.
    Queue(String),
    /// Only caching uses it, as a client's variable names it (`CACHE_URL`): it may evict.
    Cache(String),
    /// Only its own name speaks of caching (`cache`): what its clients keep in it is not known.
    CacheByName(String),
    Unknown,
}

/// The queue framework a service runs as a worker (from its command, entrypoint or image), if any.
pub fn queue_worker(service: &Service) -> Option<&'static str> {
    const WORKERS: &[(&str, &str)] = &[
        ("sidekiq", "Sidekiq"),
        ("celery", "Celery"),
        ("rq", "RQ"),
        ("rqworker", "RQ"),
        ("rqscheduler", "RQ"),
        ("bullmq", "BullMQ"),
        ("resque", "Resque"),
        ("dramatiq", "Dramatiq"),
        ("huey_consumer", "Huey"),
        ("huey_consumer.py", "Huey"),
        ("arq", "arq"),
        ("faktory", "Faktory"),
        ("good_job", "GoodJob"),
        ("solid_queue", "Solid Queue"),
    ];
    let image = service.image.as_ref().map(|i| i.value.to_ascii_lowercase()).unwrap_or_default();
    let line = service.command_line().to_ascii_lowercase();
    for word in line.split(|c: char| c.is_whitespace() || matches!(c, ';' | '&' | '|' | '"' | '\'')) {
        let word = word.rsplit('/').next().unwrap_or(word);
        if let Some((_, name)) = WORKERS.iter().find(|(w, _)| *w == word) {
            return Some(name);
        }
    }
    // `rake resque:work`, `manage.py rqworker`, `npm run worker` with a queue word.
    if line.contains("resque:work") {
        return Some("Resque");
    }
    let (_, repo) = profiles::image_repository(&image);
    WORKERS.iter().find(|(w, _)| repo.split(['/', '-', '_']).any(|p| p == *w)).map(|(_, n)| *n)
}

/// Whether a connection string or host setting names `host` (`redis://host:6379/0`, `host:5432`,
/// `user:pass@host`, or exactly `host`).
pub fn references_host(value: &str, host: &str) -> bool {
    if value == host {
        return true;
    }
    let mut rest = value;
    while let Some(i) = rest.find(host) {
        let before = rest[..i].chars().last();
        let after = rest[i + host.len()..].chars().next();
        let starts = matches!(before, None | Some('/' | '@' | ',' | ' ' | '='));
        let ends = matches!(after, None | Some(':' | '/' | ',' | ' ' | '?'));
        if starts && ends && (before.is_some() || after == Some(':')) {
            return true;
        }
        rest = &rest[i + host.len()..];
    }
    false
}

/// A loaded stack: every file read, the configurations they make, notes and per-file errors.
#[derive(Debug)]
pub struct Stack {
    pub root: PathBuf,
    pub files: Vec<SourceFile>,
    pub configs: Vec<Config>,
    pub notes: Vec<Note>,
    pub errors: Vec<LoadError>,
    pub env: HashMap<String, String>,
    pub profiles: Profiles,
    /// Every `extends` the configurations apply, as (service, the service it extends), sorted.
    pub extends: Vec<(String, String)>,
    /// Some resource is defined alike in an included file and the including file (or another
    /// include): compose accepts that while the two stay alike, so a fix editing one of them
    /// makes compose refuse the stack; `check` settles such fixes ([`Stack::needs_settling`]).
    pub defined_alike: bool,
    /// The files read besides [`Stack::files`]: `.env` and `.env.example`, `env_file:` files and
    /// Dockerfiles (sorted, each once). An output written over one of them destroys the stack.
    pub also_read: Vec<PathBuf>,
    /// Where the project is on disk, as the load found it.
    pub(crate) resolved: load::Resolved,
}

impl Stack {
    /// Every file of the stack on disk: [`Stack::files`], then [`Stack::also_read`].
    pub fn inputs(&self) -> impl Iterator<Item = &Path> + '_ {
        self.files.iter().map(|f| f.path.as_path()).chain(self.also_read.iter().map(PathBuf::as_path))
    }
}

impl Stack {
    /// Whether a fix `check` builds may be one `fix` cannot write, to be settled by planning it:
    /// a compose file holds a merge key ([`Stack::has_merge_keys`]), or a service `extends`
    /// another (a value it gets from there is not edited in the base service).
    pub fn needs_settling(&self) -> bool {
        !self.extends.is_empty() || self.defined_alike || self.has_merge_keys()
    }

    /// Whether a compose file holds a merge key (`<<`): there, a fix `check` builds may be one
    /// `fix` cannot write (a merged block it cannot copy), settled by planning it. False once
    /// [`Stack::drop_compose_nodes`] ran.
    pub fn has_merge_keys(&self) -> bool {
        self.files.iter().filter(|f| f.role == FileRole::Compose).filter_map(|f| f.tree.as_ref()).any(|t| {
            (0..t.len()).any(|id| {
                matches!(&t.node(id).kind, crate::yaml::NodeKind::Mapping { entries, .. }
                    if entries.iter().any(|e| t.is_merge_key(e.key)))
            })
        })
    }

    /// Drops the located nodes of compose files, keeping their text: rules read values, which
    /// carry their own spans, and only edits need the nodes. A run that only reports holds a
    /// large stack in far less memory.
    pub fn drop_compose_nodes(&mut self) {
        for file in self.files.iter_mut().filter(|f| f.role == FileRole::Compose) {
            file.drop_nodes();
        }
    }

    /// The services that read each of `nodes` (file, span) in some configuration, each with the
    /// route of the merged model where it first reads it: a value written inside the node, or an
    /// alias of one, in the service's merged mapping (through `<<`, aliases, `extends`).
    pub fn readers(&self, nodes: &[(FileId, Span)]) -> Vec<Vec<(String, crate::yaml::Route)>> {
        let mut out: Vec<Vec<(String, crate::yaml::Route)>> = vec![Vec::new(); nodes.len()];
        if nodes.is_empty() {
            return out;
        }
        struct Walk<'a> {
            files: &'a [SourceFile],
            nodes: &'a [(FileId, Span)],
            out: Vec<Vec<(String, crate::yaml::Route)>>,
            /// Per node, the services recorded (each once, at the first route it reads the node).
            recorded: Vec<HashSet<String>>,
        }
        fn walk(v: &Value, service: &str, at: &mut crate::yaml::Route, w: &mut Walk) {
            let inside = |s: Span, n: Span| n.start <= s.start && s.end <= n.end;
            for (i, (file, span)) in w.nodes.iter().enumerate() {
                let reads = v.loc.file == *file && inside(w.files[v.loc.file].written_at(v.loc.span), *span);
                if reads && w.recorded[i].insert(service.to_string()) {
                    w.out[i].push((service.to_string(), at.clone()));
                }
            }
            match &v.kind {
                ValueKind::Map(entries) => {
                    for (k, child) in entries {
                        at.0.push(crate::yaml::Segment::Key(k.clone()));
                        walk(child, service, at, w);
                        at.0.pop();
                    }
                }
                ValueKind::Seq(items) => {
                    for (i, child) in items.iter().enumerate() {
                        at.0.push(crate::yaml::Segment::Index(i));
                        walk(child, service, at, w);
                        at.0.pop();
                    }
                }
                _ => {}
            }
        }
        let mut w = Walk {
            files: &self.files,
            nodes,
            out: std::mem::take(&mut out),
            recorded: vec![HashSet::new(); nodes.len()],
        };
        for config in &self.configs {
            for service in &config.services {
                let mut at = crate::yaml::Route::default().key("services").key(&service.name);
                walk(&service.value, &service.name, &mut at, &mut w);
            }
        }
        w.out
    }

    pub fn file(&self, id: FileId) -> &SourceFile {
        &self.files[id]
    }

    /// The file read as `key`, if this load read it.
    pub fn file_by_key(&self, key: &FileKey) -> Option<&SourceFile> {
        self.files.iter().find(|f| f.key == *key)
    }

    /// 1-based line and column of a byte offset in a file.
    pub fn line_col(&self, file: FileId, offset: usize) -> (usize, usize) {
        self.files[file].source().line_col(offset)
    }

    /// The text of a span.
    pub fn text(&self, file: FileId, span: Span) -> &str {
        &self.files[file].source().text()[span.start..span.end]
    }
}
