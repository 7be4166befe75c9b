//! The normalised service view. Compose spells many things several ways (short and long ports and
//! volumes, list and map environment/labels/depends_on, string and list commands, four healthcheck
//! test forms, `deploy.resources` and legacy `mem_limit`/`cpus`); rules see one spelling, and every
//! field keeps the location it was written at.

use std::collections::HashMap;

use super::interpolate;
use super::value::{Loc, Value, ValueKind};

/// A scalar and where it is written.
#[derive(Debug, Clone, PartialEq)]
pub struct Located<T> {
    pub value: T,
    pub loc: Loc,
}

#[derive(Debug, Clone)]
pub struct EnvVar {
    pub name: String,
    /// The value compose passes (interpolated with the project's `.env`); `None` for a bare
    /// `NAME` taken from the shell.
    pub value: Option<String>,
    /// The value as written in the file (`${DB_PASSWORD:?}`), when interpolation changed it
    /// (see [`EnvVar::written`]; most values are written as they are passed).
    written_differs: Option<String>,
    /// For a bare `NAME`: the value the project's `.env` gives it, which compose passes unless
    /// the shell it runs in sets `NAME` (`None`: only the shell may).
    pub from_dotenv: Option<String>,
    pub loc: Loc,
}

impl EnvVar {
    /// The value as written in the file (`${DB_PASSWORD:?}`), before interpolation; `None` for a
    /// bare `NAME` taken from the shell.
    pub fn written(&self) -> Option<&str> {
        self.written_differs.as_deref().or(self.value.as_deref())
    }
}

#[derive(Debug, Clone)]
pub struct Port {
    pub host_ip: Option<String>,
    pub published: Option<String>,
    pub target: String,
    /// A variable writes more than one field (`"${PG_PORTS:-5432:5432}"`): the fields are read
    /// from the interpolated text, as compose reads them, and none is written where it is.
    pub from_variable: bool,
    pub loc: Loc,
}

impl Port {
    /// Published on every host interface (no `127.0.0.1:` in front). A port without a published
    /// one (`"5432"`, or long syntax with `target` alone) is published too: on a port the engine
    /// picks, on every interface ("If host port isn't set, Docker will automatically assign a
    /// random port", compose spec, `ports`, short syntax).
    pub fn is_public(&self) -> bool {
        !matches!(self.host_ip.as_deref(), Some(ip) if ip.starts_with("127.") || ip == "::1" || ip == "[::1]" || ip == "localhost")
    }

    /// The short-syntax entry `written` (this port, as written, quotes off) bound to
    /// `127.0.0.1`: `"5432:5432"` → `127.0.0.1:5432:5432`, `"5432"` → `127.0.0.1::5432` (an
    /// empty published port, which the engine picks), `0.0.0.0:…` → `127.0.0.1:…`. `None` when
    /// another address is written (an IPv6 one, or a variable however it resolves) or a variable
    /// writes several fields.
    pub fn bound_to_loopback(&self, written: &str) -> Option<String> {
        if self.from_variable {
            return None;
        }
        if let Some(rest) = written.strip_prefix("0.0.0.0:") {
            return Some(format!("127.0.0.1:{rest}"));
        }
        if written.starts_with('[') {
            return None;
        }
        match split_outside_braces(written, ':').len() {
            1 => Some(format!("127.0.0.1::{written}")),
            2 => Some(format!("127.0.0.1:{written}")),
            _ => None,
        }
    }

    /// The port as a finding names it: `port 5432`, or `container port 5432 on a random host
    /// port` when the engine picks the published one.
    pub fn described(&self) -> String {
        match &self.published {
            Some(published) => format!("port {published}"),
            None => format!("container port {} on a random host port", self.target),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountKind {
    Bind,
    Volume,
    Tmpfs,
    Other,
}

#[derive(Debug, Clone)]
pub struct Mount {
    pub kind: MountKind,
    pub source: Option<String>,
    pub target: String,
    pub read_only: bool,
    /// The variable the source starts with as written, when it has no default (`DATA` of
    /// `${DATA}/db`; `${DATA:-./data}/db` is `./data/db` unless the environment sets it): the
    /// host path depends on it.
    pub source_variable: Option<String>,
    /// The rest of a source written `$HOME/...` or `${HOME}/...` (`/.aws`): compose takes `HOME`
    /// from the shell it runs in, a home directory.
    pub home_relative: Option<String>,
    pub loc: Loc,
}

impl Mount {
    /// The host path of a bind mount as the kernel resolves it ([`resolve_host_path`]); `None`
    /// for other mounts, a relative source, or one that starts with a variable `env` (the
    /// project's `.env`) does not set: stackfix does not see the environment compose will run in,
    /// so that path is not known.
    pub fn host_path(&self, env: &HashMap<String, String>) -> Option<String> {
        if self.kind != MountKind::Bind {
            return None;
        }
        match (&self.source_variable, &self.home_relative) {
            (Some(v), Some(rest)) if v == "HOME" && !env.contains_key(v) => resolve_host_path(&format!("~{rest}")),
            (Some(v), _) if !env.contains_key(v) => None,
            _ => resolve_host_path(self.source.as_deref()?),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Dependency {
    pub service: String,
    /// `None` for the short (list) form, which means `service_started`.
    pub condition: Option<Located<String>>,
    pub loc: Loc,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthTest {
    /// `["CMD", ...]`
    Exec(Vec<String>),
    /// A string or `["CMD-SHELL", "..."]`
    Shell(String),
    /// `["NONE"]` or `disable: true`
    Disabled,
    /// A healthcheck without `test:` (inherits the image's).
    Inherit,
}

#[derive(Debug, Clone)]
pub struct Build {
    pub context: Option<String>,
    pub dockerfile: Option<Located<String>>,
    pub target: Option<Located<String>>,
    pub loc: Loc,
}

#[derive(Debug, Clone)]
pub struct Logging {
    pub driver: Option<String>,
    pub options: HashMap<String, String>,
    pub loc: Loc,
}

/// One service of an effective (merged) configuration.
#[derive(Debug, Clone)]
pub struct Service {
    pub name: String,
    /// The merged, normalised mapping.
    pub value: Value,
    /// The service's key in every file that defines it, in load order.
    pub sites: Vec<Loc>,
    /// Profile kind name (see `templates/profiles.yml`).
    pub kind: String,
    /// Image after interpolation.
    pub image: Option<Located<String>>,
    pub build: Option<Build>,
    /// Command words (a string command is split like a shell would).
    pub command: Vec<String>,
    pub entrypoint: Vec<String>,
    pub environment: Vec<EnvVar>,
    pub labels: Vec<(String, Located<String>)>,
    pub ports: Vec<Port>,
    pub volumes: Vec<Mount>,
    pub depends_on: Vec<Dependency>,
    pub healthcheck: Option<Located<HealthTest>>,
    pub restart: Option<Located<String>>,
    /// `deploy.restart_policy` (swarm spelling).
    pub restart_policy: Option<Loc>,
    pub memory_limit: Option<Located<String>>,
    pub cpu_limit: Option<Located<String>>,
    pub memory_reservation: Option<Located<String>>,
    /// `memswap_limit` (memory plus swap; Docker refuses a memory limit above it).
    pub memswap_limit: Option<Located<String>>,
    /// Resources are written in compose's top-level spelling (`mem_limit`, `mem_reservation`,
    /// `memswap_limit`, `cpus`, `pids_limit`): compose refuses distinct values there and in
    /// `deploy.resources`, so settings added to the service use that spelling too.
    pub legacy_resources: bool,
    pub logging: Option<Logging>,
    pub hostnames: Vec<String>,
    pub profiles: Vec<String>,
    /// Keys of the service a file of the configuration takes out with `!reset` (`healthcheck:
    /// !reset null` in a production overlay), each with that file: removed on purpose.
    pub reset_keys: Vec<(String, super::FileId)>,
    /// The image (by catalog or profile) or the service's Dockerfile declares a HEALTHCHECK.
    pub image_healthcheck: bool,
    /// What the image catalog and the Dockerfile say of the image the service runs.
    pub image_facts: super::facts::ImageFacts,
    /// Variables of the service's `env_file:` files (read inside the project), as (name, value).
    pub env_file: Vec<(String, String)>,
    /// The `env_file:` entries that could not be read (missing, outside the project, an optional
    /// file absent here), as written: they may set more variables.
    pub env_file_unread: Vec<String>,
    /// The variables the service's `env_file:` files reference (`${NAME}`, in defaults too):
    /// compose interpolates their values with the project's variables.
    pub env_file_references: Vec<String>,
    /// The WORKDIR of the Dockerfile the service builds from.
    pub workdir: Option<String>,
    /// The final `FROM` image of that Dockerfile.
    pub base_image: Option<String>,
    /// The stage names of that Dockerfile (`FROM … AS name`), one per FROM.
    pub build_stages: Vec<Option<String>>,
    /// The build context on the host (inside the project).
    pub build_dir: Option<std::path::PathBuf>,
    /// The user the image the service builds runs as: the last `USER` of the stage it builds
    /// (`target`, else the last), as written (`app`, `1000:1000`, `${UID}`); `None` when that
    /// stage names none (it runs as its base image's user) or the Dockerfile was not read.
    pub build_user: Option<String>,
}

impl Service {
    pub fn from_value(name: &str, value: Value, sites: Vec<Loc>, env: &HashMap<String, String>) -> Service {
        let scalar =
            |key: &str| value.get(key).and_then(|v| v.as_str().map(|s| Located { value: s.to_string(), loc: v.loc }));
        let image = scalar("image");
        let mut hostnames = vec![name.to_string()];
        hostnames.extend(scalar("container_name").map(|c| c.value));
        hostnames.extend(scalar("hostname").map(|c| c.value));
        for (_, net) in value.get("networks").map(Value::entries).unwrap_or_default() {
            for alias in net.get("aliases").map(Value::items).unwrap_or_default() {
                hostnames.extend(alias.as_str().map(str::to_string));
            }
        }
        Service {
            name: name.to_string(),
            image,
            build: build(&value),
            command: words(value.get("command")),
            entrypoint: words(value.get("entrypoint")),
            environment: environment(&value, env),
            labels: value
                .get("labels")
                .map(Value::entries)
                .unwrap_or_default()
                .iter()
                .map(|(k, v)| (k.clone(), Located { value: v.as_str().unwrap_or("").to_string(), loc: v.loc }))
                .collect(),
            ports: value
                .get("ports")
                .map(Value::items)
                .unwrap_or_default()
                .iter()
                .filter_map(|item| port(item, env))
                .collect(),
            volumes: value.get("volumes").map(Value::items).unwrap_or_default().iter().filter_map(mount).collect(),
            depends_on: value
                .get("depends_on")
                .map(Value::entries)
                .unwrap_or_default()
                .iter()
                .map(|(name, v)| Dependency {
                    service: name.clone(),
                    condition: v
                        .get("condition")
                        .and_then(|c| c.as_str().map(|s| Located { value: s.to_string(), loc: c.loc })),
                    loc: v.loc,
                })
                .collect(),
            healthcheck: value.get("healthcheck").map(|h| Located { value: health_test(h), loc: h.loc }),
            restart: scalar("restart"),
            restart_policy: value.path(&["deploy", "restart_policy"]).map(|v| v.loc),
            memory_limit: resource(&value, &["deploy", "resources", "limits", "memory"])
                .or_else(|| scalar("mem_limit"))
                .filter(|l| !is_unlimited(&l.value)),
            cpu_limit: resource(&value, &["deploy", "resources", "limits", "cpus"])
                .or_else(|| scalar("cpus"))
                .filter(|l| !is_unlimited(&l.value)),
            memory_reservation: resource(&value, &["deploy", "resources", "reservations", "memory"])
                .or_else(|| scalar("mem_reservation"))
                .filter(|l| !is_unlimited(&l.value)),
            memswap_limit: scalar("memswap_limit"),
            legacy_resources: ["mem_limit", "mem_reservation", "memswap_limit", "cpus", "pids_limit"]
                .iter()
                .any(|k| value.get(k).is_some()),
            logging: value.get("logging").map(|l| Logging {
                // As written: a driver chosen by a variable is not known (the environment may
                // choose one `max-size` does not apply to).
                driver: l.get("driver").and_then(Value::written).map(str::to_string),
                options: l
                    .get("options")
                    .map(Value::entries)
                    .unwrap_or_default()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                    .collect(),
                loc: l.loc,
            }),
            hostnames,
            profiles: value
                .get("profiles")
                .map(Value::items)
                .unwrap_or_default()
                .iter()
                .filter_map(|p| p.as_str().map(str::to_string))
                .collect(),
            kind: String::new(),
            reset_keys: Vec::new(),
            image_healthcheck: false,
            image_facts: super::facts::ImageFacts::default(),
            env_file: Vec::new(),
            env_file_unread: Vec::new(),
            env_file_references: Vec::new(),
            workdir: None,
            base_image: None,
            build_stages: Vec::new(),
            build_dir: None,
            build_user: None,
            value,
            sites,
        }
    }

    /// The symbolic route of the service in a compose file (`services.web`).
    pub fn route(&self) -> String {
        format!("services.{}", self.name)
    }

    /// Where a setting that belongs to the service's definition goes: the first file defining it.
    pub fn definition_site(&self) -> Loc {
        self.sites.first().copied().unwrap_or(self.value.loc)
    }

    /// Where a production setting goes: the last file defining the service (the overlay, if any).
    pub fn production_site(&self) -> Loc {
        self.sites.last().copied().unwrap_or(self.value.loc)
    }

    /// Command and entrypoint as one line, for matching.
    pub fn command_line(&self) -> String {
        let mut all = self.entrypoint.clone();
        all.extend(self.command.iter().cloned());
        all.join(" ")
    }

    pub fn env(&self, name: &str) -> Option<&EnvVar> {
        self.environment.iter().find(|e| e.name == name)
    }

    /// The variables the service sets, as (name, value): `environment:` (a bare name, taken from
    /// the shell, has no known value) and then its `env_file:` files.
    pub fn variables(&self) -> impl Iterator<Item = (&str, Option<&str>)> + '_ {
        self.environment
            .iter()
            .map(|v| (v.name.as_str(), v.value.as_deref()))
            .chain(self.env_file.iter().map(|(n, v)| (n.as_str(), Some(v.as_str()))))
    }

    /// The service's own health check runs a test (`CMD`/`CMD-SHELL`), rather than inheriting
    /// the image's or being disabled.
    pub fn has_own_probe(&self) -> bool {
        self.healthcheck.as_ref().is_some_and(|h| matches!(h.value, HealthTest::Exec(_) | HealthTest::Shell(_)))
    }

    pub fn label(&self, key: &str) -> Option<&Located<String>> {
        self.labels.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Name or command words of a one-shot job (migrations, init, seed, setup…).
    pub fn looks_one_shot(&self) -> bool {
        const JOB_WORDS: &[&str] = &[
            "migrate",
            "migrations",
            "migration",
            "migrator",
            "init",
            "setup",
            "seed",
            "seeder",
            "bootstrap",
            "createbuckets",
            "collectstatic",
            "upgrade",
            "genkeys",
            "keygen",
        ];
        let is_job_word = |w: &str| JOB_WORDS.iter().any(|j| j.eq_ignore_ascii_case(w));
        std::iter::once(&self.name)
            .chain(&self.entrypoint)
            .chain(&self.command)
            .flat_map(|part| part.split(|c: char| !c.is_ascii_alphanumeric()))
            .any(|w| !w.is_empty() && is_job_word(w))
    }

    /// Whether the service runs a health probe: a test of its own, or the image's (a
    /// `healthcheck:` without `test:` only tunes the image's, and there is none without one).
    pub fn has_healthcheck(&self) -> bool {
        match self.healthcheck.as_ref().map(|h| &h.value) {
            Some(HealthTest::Exec(_) | HealthTest::Shell(_)) => true,
            Some(HealthTest::Disabled) => false,
            Some(HealthTest::Inherit) | None => self.image_healthcheck,
        }
    }
}

/// Whether a memory or CPU amount as written sets no limit: `0` in any unit (`0`, `0.0`, `0m`,
/// `"0b"`), which compose drops from the model and the engine reads as unlimited (Docker's
/// `--memory`, `--cpus`: "0" is the default, no limit), or `-1`.
fn is_unlimited(amount: &str) -> bool {
    let amount = amount.trim();
    if amount == "-1" {
        return true;
    }
    let number = amount.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    !number.is_empty() && number.parse::<f64>().is_ok_and(|n| n == 0.0)
}

fn resource(value: &Value, path: &[&str]) -> Option<Located<String>> {
    value.path(path).and_then(|v| v.as_str().map(|s| Located { value: s.to_string(), loc: v.loc }))
}

fn environment(value: &Value, env: &HashMap<String, String>) -> Vec<EnvVar> {
    value
        .get("environment")
        .map(Value::entries)
        .unwrap_or_default()
        .iter()
        .map(|(k, v)| EnvVar {
            name: k.clone(),
            value: v.as_str().map(str::to_string),
            written_differs: v.written().filter(|w| Some(*w) != v.as_str()).map(str::to_string),
            from_dotenv: v.as_str().is_none().then(|| env.get(k).cloned()).flatten(),
            loc: v.loc,
        })
        .collect()
}

fn build(value: &Value) -> Option<Build> {
    let b = value.get("build")?;
    let located = |key: &str| b.get(key).and_then(|v| v.as_str().map(|s| Located { value: s.to_string(), loc: v.loc }));
    Some(match &b.kind {
        ValueKind::Scalar { text, .. } => {
            Build { context: Some(text.clone()), dockerfile: None, target: None, loc: b.loc }
        }
        _ => Build {
            context: b.str_at("context").map(str::to_string),
            dockerfile: located("dockerfile"),
            target: located("target"),
            loc: b.loc,
        },
    })
}

/// Words of a command written as a list or as a string (split like `sh` would, quotes removed),
/// interpolated as compose passes them.
pub fn words(v: Option<&Value>) -> Vec<String> {
    match v.map(|v| &v.kind) {
        Some(ValueKind::Seq(items)) => items.iter().filter_map(|i| i.as_str().map(str::to_string)).collect(),
        Some(ValueKind::Scalar { text, .. }) => shell_split(text),
        _ => Vec::new(),
    }
}

/// [`words`] as written in the file, before interpolation (`--requirepass ${REDIS_PASSWORD}`).
pub fn written_words(v: Option<&Value>) -> Vec<String> {
    match v.map(|v| &v.kind) {
        Some(ValueKind::Seq(items)) => items.iter().filter_map(|i| i.written().map(str::to_string)).collect(),
        Some(ValueKind::Scalar { .. }) => v.and_then(Value::written).map(shell_split).unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// Splits a command line into words, honouring single and double quotes and backslashes.
pub fn shell_split(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') => {
                if let Some(n) = chars.next() {
                    word.push(n);
                }
            }
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            // `${VAR:?message with spaces}` is interpolated by compose before any shell sees it.
            (None, '$') if chars.clone().next() == Some('{') => {
                word.push('$');
                in_word = true;
                let mut depth = 0;
                for n in chars.by_ref() {
                    word.push(n);
                    match n {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                }
            }
            (None, '\\') => {
                if let Some(n) = chars.next() {
                    if n != '\n' {
                        word.push(n);
                        in_word = true;
                    }
                }
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(word);
    }
    out
}

fn health_test(h: &Value) -> HealthTest {
    if h.str_at("disable") == Some("true") {
        return HealthTest::Disabled;
    }
    let Some(test) = h.get("test") else {
        return HealthTest::Inherit;
    };
    match &test.kind {
        ValueKind::Scalar { text, .. } => HealthTest::Shell(text.clone()),
        ValueKind::Seq(items) => {
            let words: Vec<String> = items.iter().filter_map(|i| i.as_str().map(str::to_string)).collect();
            match words.first().map(String::as_str) {
                Some("NONE") => HealthTest::Disabled,
                Some("CMD-SHELL") => HealthTest::Shell(words[1..].join(" ")),
                Some("CMD") => HealthTest::Exec(words[1..].to_vec()),
                _ => HealthTest::Exec(words),
            }
        }
        _ => HealthTest::Inherit,
    }
}

/// A port entry, split as written so colons inside `${…}` do not separate fields. The published
/// and target ports stay as written (`${PG_PORT:-5432}`), so findings show them and fixes keep
/// them (a port a variable chooses is not a known number); the host address is interpolated, as
/// compose decides with it where the port is published.
fn port(item: &Value, env: &HashMap<String, String>) -> Option<Port> {
    let host_ip = |ip: &str| Some(interpolate::resolve(ip, env)).filter(|ip| !ip.is_empty());
    if item.is_map() {
        return Some(Port {
            host_ip: item.get("host_ip").and_then(Value::written).and_then(host_ip),
            published: item.get("published").and_then(Value::written).map(str::to_string),
            target: item.get("target").and_then(Value::written).unwrap_or("").to_string(),
            from_variable: false,
            loc: item.loc,
        });
    }
    let text = item.written()?;
    let written = port_fields(text)?;
    // Compose interpolates before it splits: where a variable writes a colon the fields are
    // those of the interpolated text.
    if text.contains('$') {
        let resolved = interpolate::resolve(text, env);
        if split_outside_braces(&resolved, ':').len() != split_outside_braces(text, ':').len() {
            let (ip, published, target) = port_fields(&resolved)?;
            return Some(Port {
                host_ip: ip.filter(|ip| !ip.is_empty()),
                published,
                target,
                from_variable: true,
                loc: item.loc,
            });
        }
    }
    let (ip, published, target) = written;
    Some(Port { host_ip: ip.as_deref().and_then(host_ip), published, target, from_variable: false, loc: item.loc })
}

/// A short-syntax port's fields: (host address, published port, target port), as written.
fn port_fields(text: &str) -> Option<(Option<String>, Option<String>, String)> {
    let parts = split_outside_braces(text, ':');
    // The protocol suffix (`/udp`) ends the last part.
    let last = parts.last()?;
    let target = last.split('/').next().unwrap_or(last).to_string();
    let fields: Vec<&str> = parts[..parts.len() - 1].to_vec();
    let (ip, published) = match fields.as_slice() {
        [] => (None, None),
        [p] => (None, Some(p.to_string())),
        // An IPv6 host address is bracketed: `[::1]:5432:5432`.
        _ if text.starts_with('[') => {
            let close = text.find(']')?;
            let rest = split_outside_braces(text[close + 1..].trim_start_matches(':'), ':');
            match rest.as_slice() {
                [p, _] => (Some(text[1..close].to_string()), Some(p.to_string())),
                _ => return None,
            }
        }
        [ip, p] => (Some(ip.to_string()), Some(p.to_string())),
        _ => return None,
    };
    let published = published.filter(|p| !p.is_empty());
    Some((ip, published, target))
}

/// `text` split at `separator`, except inside `${…}`.
fn split_outside_braces(text: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0);
    let mut previous = '\0';
    for (i, c) in text.char_indices() {
        match c {
            '{' if previous == '$' || depth > 0 => depth += 1,
            '}' if depth > 0 => depth -= 1,
            c if c == separator && depth == 0 => {
                parts.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
        previous = c;
    }
    parts.push(&text[start..]);
    parts
}

/// Whether a short-syntax volume source is a host path (otherwise it names a volume).
pub fn is_host_path(source: &str) -> bool {
    source.starts_with(['.', '/', '~', '$']) || source.as_bytes().get(1) == Some(&b':')
}

fn mount(item: &Value) -> Option<Mount> {
    if item.is_map() {
        let kind = match item.str_at("type") {
            Some("bind") => MountKind::Bind,
            Some("volume") | None => MountKind::Volume,
            Some("tmpfs") => MountKind::Tmpfs,
            Some(_) => MountKind::Other,
        };
        return Some(Mount {
            kind,
            source: item.str_at("source").map(str::to_string),
            target: item.str_at("target").unwrap_or("").to_string(),
            read_only: item.get("read_only").is_some_and(Value::is_compose_true),
            source_variable: item.get("source").and_then(Value::written).and_then(leading_variable),
            home_relative: item.get("source").and_then(Value::written).and_then(home_relative),
            loc: item.loc,
        });
    }
    let text = item.as_str()?;
    let parts: Vec<&str> = split_volume(text);
    let (source, target, mode) = match parts.as_slice() {
        [t] => (None, t.to_string(), ""),
        [s, t] => (Some(s.to_string()), t.to_string(), ""),
        [s, t, m, ..] => (Some(s.to_string()), t.to_string(), *m),
        [] => return None,
    };
    let kind = match &source {
        Some(s) if is_host_path(s) => MountKind::Bind,
        _ => MountKind::Volume,
    };
    let source_variable = item.written().and_then(leading_variable);
    let home_relative = item.written().and_then(home_relative);
    let read_only = mode.split(',').any(|m| m == "ro");
    Some(Mount { kind, source, target, read_only, source_variable, home_relative, loc: item.loc })
}

/// An absolute host path with `.`, `..`, empty and trailing components resolved as the kernel
/// walks them (`/var/run/../etc/` → `/etc`); `~` stands for a home below `/home` (compose expands
/// it to the user's home). `None` for a relative path.
pub fn resolve_host_path(source: &str) -> Option<String> {
    let source = match source.strip_prefix('~') {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => format!("/home/~{rest}"),
        _ => source.to_string(),
    };
    if !source.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in source.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                // `/var/run` and `/var/lock` are links to `/run` and `/run/lock` on current
                // distributions (FHS 3.0 allows it; systemd's tmpfiles.d makes them): their
                // parent is the parent of what they name.
                match parts.as_slice() {
                    ["var", "run"] => parts = vec!["run"],
                    ["var", "lock"] => parts = vec!["run", "lock"],
                    _ => {}
                }
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    Some(format!("/{}", parts.join("/")))
}

/// The name of the variable `written` starts with (`$NAME` or `${NAME…}`).
fn leading_variable(written: &str) -> Option<String> {
    let rest = written.trim_start_matches(['"', '\'']).strip_prefix('$')?;
    let braced = rest.starts_with('{');
    let rest = rest.strip_prefix('{').unwrap_or(rest);
    let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    // `${NAME:-default}` and `${NAME-default}`: compose takes the default when it is unset.
    let after = &rest[name.len()..];
    if braced && (after.starts_with(":-") || after.starts_with('-')) {
        return None;
    }
    (!name.is_empty()).then_some(name)
}

/// What follows a leading `$HOME` or `${HOME}` in a written source (`/.aws` of `$HOME/.aws`).
fn home_relative(written: &str) -> Option<String> {
    let text = written.trim_start_matches(['"', '\'']);
    let rest = text.strip_prefix("${HOME}").or_else(|| {
        text.strip_prefix("$HOME").filter(|r| !r.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_'))
    })?;
    Some(rest.split(':').next().unwrap_or(rest).trim_end_matches(['"', '\'']).to_string())
}

/// Splits `src:dst:mode`, keeping a Windows drive letter (`C:\x`) in the source.
fn split_volume(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    if bytes.len() > 2 && bytes[1] == b':' && bytes[0].is_ascii_alphabetic() && matches!(bytes[2], b'\\' | b'/') {
        let mut rest = text[2..].splitn(3, ':');
        let first = rest.next().unwrap_or("");
        let mut out = vec![&text[..2 + first.len()]];
        out.extend(rest);
        return out;
    }
    text.splitn(3, ':').collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::merge::normalize_service;
    use crate::yaml::Tree;

    #[test]
    fn zero_and_minus_one_set_no_limit() {
        for amount in ["0", "0.0", "0m", "0b", " 0 ", "-1"] {
            assert!(is_unlimited(amount), "{amount}");
        }
        for amount in ["1", "0.5", "256m", "1g", "${MEM:-0}", "", "m"] {
            assert!(!is_unlimited(amount), "{amount}");
        }
    }

    #[test]
    fn host_paths_resolve_as_compose_and_the_kernel_read_them() {
        assert_eq!(resolve_host_path("/var/run/../etc").as_deref(), Some("/etc"));
        assert_eq!(resolve_host_path("/var/lock/../x").as_deref(), Some("/run/x"));
        assert_eq!(resolve_host_path("/srv/./a/../b/").as_deref(), Some("/srv/b"));
        assert_eq!(leading_variable("${DOCKER_SOCK:-/var/run/docker.sock}:/s"), None);
        assert_eq!(leading_variable("${DATA-./data}/db"), None);
        assert_eq!(leading_variable("${DATA}/db").as_deref(), Some("DATA"));
        assert_eq!(leading_variable("$DATA/db").as_deref(), Some("DATA"));
        assert_eq!(home_relative("$HOME/.aws:/root/.aws:ro").as_deref(), Some("/.aws"));
        assert_eq!(home_relative("${HOME}/.kube").as_deref(), Some("/.kube"));
        assert_eq!(home_relative("$HOMEDIR/x"), None);
        let s = service("volumes:\n  - $HOME/.ssh:/a\n  - ${DATA}/x:/b\n  - type: bind\n    source: ${HOME}/.kube\n    target: /c\n");
        let env = HashMap::new();
        assert_eq!(s.volumes[0].host_path(&env).as_deref(), Some("/home/~/.ssh"));
        assert_eq!(s.volumes[1].host_path(&env), None);
        assert_eq!(s.volumes[2].host_path(&env).as_deref(), Some("/home/~/.kube"));
        let env = HashMap::from([("DATA".to_string(), "/etc".to_string())]);
        assert_eq!(s.volumes[1].source_variable.as_deref(), Some("DATA"));
        assert!(s.volumes[1].host_path(&env).is_some(), "a variable .env sets makes the path known");
    }

    fn service(yaml: &str) -> Service {
        let tree = Tree::parse(yaml.to_string()).unwrap();
        let mut v = Value::from_tree(&tree, tree.root().unwrap(), 0).unwrap();
        assert!(v.interpolate(&HashMap::new()).is_empty());
        let v = normalize_service(v);
        Service::from_value("s", v, vec![], &HashMap::new())
    }

    #[test]
    fn spellings_are_normalised() {
        let s = service(
            "image: ${REG:-docker.io}/app:1\ncommand: sh -c 'redis-server --port 1'\nports:\n  - 127.0.0.1:5432:5432\n  - 80\n  - target: 443\n    published: 8443\n  - \"[::1]:6379:6379/tcp\"\nvolumes:\n  - ./src:/app:ro,z\n  - data:/data\n  - type: bind\n    source: /var/run/docker.sock\n    target: /var/run/docker.sock\nhealthcheck:\n  test: [\"CMD-SHELL\", \"pg_isready\"]\nmem_limit: 1g\ndepends_on: [db]\n",
        );
        assert_eq!(s.image.unwrap().value, "docker.io/app:1");
        assert_eq!(s.command, ["sh", "-c", "redis-server --port 1"]);
        assert_eq!(shell_split("a --x ${V:?set V} 'b c'"), ["a", "--x", "${V:?set V}", "b c"]);
        assert!(!s.ports[0].is_public());
        assert!(s.ports[1].published.is_none());
        assert_eq!(s.ports[2].published.as_deref(), Some("8443"));
        assert_eq!(s.ports[3].host_ip.as_deref(), Some("::1"));
        assert!(s.volumes[0].read_only && s.volumes[0].kind == MountKind::Bind);
        assert_eq!(s.volumes[1].kind, MountKind::Volume);
        assert_eq!(s.volumes[2].source.as_deref(), Some("/var/run/docker.sock"));
        assert_eq!(s.healthcheck.unwrap().value, HealthTest::Shell("pg_isready".into()));
        assert_eq!(s.memory_limit.unwrap().value, "1g");
        assert!(s.depends_on[0].condition.is_none());
    }

    #[test]
    fn healthcheck_forms() {
        assert_eq!(service("healthcheck:\n  test: [NONE]\n").healthcheck.unwrap().value, HealthTest::Disabled);
        assert_eq!(service("healthcheck:\n  disable: true\n").healthcheck.unwrap().value, HealthTest::Disabled);
        assert_eq!(
            service("healthcheck:\n  test: curl x\n").healthcheck.unwrap().value,
            HealthTest::Shell("curl x".into())
        );
        assert_eq!(
            service("healthcheck:\n  test: [CMD, redis-cli, ping]\n").healthcheck.unwrap().value,
            HealthTest::Exec(vec!["redis-cli".into(), "ping".into()])
        );
    }
}
