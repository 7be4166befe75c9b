//! Fix templates: every fix's YAML comes from a Tera template in `templates/`, embedded in the
//! binary and overridable by name from a directory. Values are data, never template code: the
//! `yaml` filter writes any value as a YAML scalar or flow collection that reads back unchanged.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::yaml::emit::Fragment;

use tera::{Context, Tera, Value};

/// A built-in template: its name, its file under `templates/` (where `templates export` writes
/// it and `--templates DIR` overrides it) and its text.
pub struct Builtin {
    pub name: &'static str,
    pub file: &'static str,
    pub text: &'static str,
}

/// A fix fragment, `templates/fixes/<name>.yml.tera`.
macro_rules! fragment {
    ($name:literal) => {
        Builtin {
            name: $name,
            file: concat!("fixes/", $name, ".yml.tera"),
            text: include_str!(concat!("../../templates/fixes/", $name, ".yml.tera")),
        }
    };
}

/// A whole file stackfix creates or extends, `templates/files/<file>`.
macro_rules! whole_file {
    ($name:literal, $file:literal) => {
        Builtin {
            name: $name,
            file: concat!("files/", $file),
            text: include_str!(concat!("../../templates/files/", $file)),
        }
    };
}

/// A built-in template's identity. Only the constants of [`template`] exist (the field is
/// private), so every template a rule or the engine names is checked at compile time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TemplateId(&'static str);

impl TemplateId {
    /// The template's name (`no-backup.volume`): what `--templates DIR` overrides and errors show.
    pub fn name(self) -> &'static str {
        self.0
    }

    /// The rule whose fixes render it (a template is named after its rule: `no-backup.volume`).
    pub fn rule(self) -> &'static str {
        self.0.split('.').next().unwrap_or(self.0)
    }
}

impl std::fmt::Display for TemplateId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// Declares the built-in templates: one [`TemplateId`] constant in [`template`] and one
/// [`Builtin`] (its file embedded; a missing file is a compile error) for each.
macro_rules! builtins {
    ($($id:ident: $kind:ident $name:literal $(, $file:literal)?;)*) => {
        /// The built-in templates' ids.
        pub mod template {
            use super::TemplateId;
            $(pub const $id: TemplateId = TemplateId($name);)*
        }

        /// The built-in templates.
        pub const BUILTIN: &[Builtin] = &[$($kind!($name $(, $file)?)),*];
    };
}

builtins! {
    NO_RESOURCE_LIMITS: fragment "no-resource-limits";
    NO_RESOURCE_LIMITS_LEGACY: fragment "no-resource-limits.legacy";
    NO_RESTART_POLICY: fragment "no-restart-policy";
    NO_LOG_ROTATION: fragment "no-log-rotation";
    NO_HEALTHCHECK: fragment "no-healthcheck";
    NO_HEALTHCHECK_TRAEFIK_PING: fragment "no-healthcheck.traefik-ping";
    NO_HEALTHCHECK_TRAEFIK_PING_ENV: fragment "no-healthcheck.traefik-ping-env";
    DEPENDS_ON_WITHOUT_HEALTH_CONDITION: fragment "depends-on-without-health-condition";
    DEPENDS_ON_WITHOUT_HEALTH_CONDITION_CONDITION: fragment "depends-on-without-health-condition.condition";
    DATABASE_PORT_PUBLISHED_RESET: fragment "database-port-published.reset";
    DATABASE_PORT_PUBLISHED_HOST_IP: fragment "database-port-published.host-ip";
    DATABASE_PORT_PUBLISHED_LOOPBACK: fragment "database-port-published.loopback";
    DATABASE_PORT_PUBLISHED_KEPT: fragment "database-port-published.kept";
    DATABASE_PORT_PUBLISHED_OVERRIDE: fragment "database-port-published.override";
    PRIVILEGE_ESCALATION_ALLOWED: fragment "privilege-escalation-allowed";
    CAPABILITIES_NOT_DROPPED: fragment "capabilities-not-dropped";
    NO_PIDS_LIMIT: fragment "no-pids-limit";
    SOURCE_BIND_MOUNT: fragment "source-bind-mount";
    WRITABLE_ROOT_FILESYSTEM: fragment "writable-root-filesystem";
    SOURCE_BIND_MOUNT_KEPT: fragment "source-bind-mount.kept";
    HARDCODED_SECRET: fragment "hardcoded-secret";
    HARDCODED_SECRET_TEXT: fragment "hardcoded-secret.text";
    ROOT_USER: fragment "root-user";
    SECRET_IN_ENVIRONMENT: fragment "secret-in-environment";
    SECRET_IN_ENVIRONMENT_ITEM: fragment "secret-in-environment.item";
    SECRET_IN_ENVIRONMENT_SERVICE: fragment "secret-in-environment.service";
    SECRET_IN_ENVIRONMENT_SECRET: fragment "secret-in-environment.secret";
    REDIS_NO_MAXMEMORY_COMMAND: fragment "redis-no-maxmemory.command";
    REDIS_NO_MAXMEMORY_TEXT: fragment "redis-no-maxmemory.text";
    REDIS_NO_MAXMEMORY_VARIABLE: fragment "redis-no-maxmemory.variable";
    REDIS_NO_MAXMEMORY_WORDS: fragment "redis-no-maxmemory.words";
    REDIS_NO_MAXMEMORY_CONF: whole_file "redis-no-maxmemory.conf", "redis-conf.tera";
    TRAEFIK_NO_RATE_LIMIT_LABELS: fragment "traefik-no-rate-limit.labels";
    TRAEFIK_NO_RATE_LIMIT_VALUE: fragment "traefik-no-rate-limit.value";
    TRAEFIK_NO_RATE_LIMIT_FILE_MIDDLEWARE: fragment "traefik-no-rate-limit.file-middleware";
    TRAEFIK_NO_RATE_LIMIT_FILE_ROUTER: fragment "traefik-no-rate-limit.file-router";
    TRAEFIK_NO_RATE_LIMIT_FILE_LIST: fragment "traefik-no-rate-limit.file-list";
    ALERTS_WITHOUT_ALERTMANAGER_SERVICE: fragment "alerts-without-alertmanager.service";
    ALERTS_WITHOUT_ALERTMANAGER_SECRET: fragment "alerts-without-alertmanager.secret";
    ALERTS_WITHOUT_ALERTMANAGER_PROMETHEUS: fragment "alerts-without-alertmanager.prometheus";
    ALERTS_WITHOUT_ALERTMANAGER_TARGETS: fragment "alerts-without-alertmanager.targets";
    ALERTS_WITHOUT_ALERTMANAGER_CONFIG: whole_file "alerts-without-alertmanager.config", "alertmanager.yml.tera";
    MISSING_EXPORTER_SERVICE: fragment "missing-exporter.service";
    MISSING_EXPORTER_SCRAPE_JOB: fragment "missing-exporter.scrape-job";
    MISSING_EXPORTER_RULE_FILE: fragment "missing-exporter.rule-file";
    MISSING_EXPORTER_RULES_MOUNT: fragment "missing-exporter.rules-mount";
    MISSING_EXPORTER_RULES: whole_file "missing-exporter.rules", "exporter-rules.yml.tera";
    SCRAPE_TARGET_MISSING_CADVISOR: fragment "scrape-target-missing.cadvisor";
    SCRAPE_TARGET_MISSING_NODE_EXPORTER: fragment "scrape-target-missing.node-exporter";
    DEV_BUILD_TARGET: fragment "dev-build-target";
    DEVELOPMENT_MODE: fragment "development-mode";
    DEVELOPMENT_MODE_COMMAND: fragment "development-mode.command";
    DEVELOPMENT_MODE_ENVIRONMENT: fragment "development-mode.environment";
    NO_BACKUP: fragment "no-backup";
    NO_BACKUP_VOLUME: fragment "no-backup.volume";
    NO_REVERSE_PROXY_TRAEFIK: fragment "no-reverse-proxy.traefik";
    NO_REVERSE_PROXY_VOLUME: fragment "no-reverse-proxy.volume";
    NO_REVERSE_PROXY_PORTS: fragment "no-reverse-proxy.ports";
    NO_REVERSE_PROXY_KEPT_PORTS: fragment "no-reverse-proxy.kept-ports";
    NO_REVERSE_PROXY_LABELS: fragment "no-reverse-proxy.labels";
    NO_MONITORING_SERVICE: fragment "no-monitoring.service";
    NO_MONITORING_VOLUME: fragment "no-monitoring.volume";
    NO_MONITORING_CONFIG: whole_file "no-monitoring.config", "prometheus.yml.tera";
    NO_MONITORING_RULES: whole_file "no-monitoring.rules", "alert-rules.yml.tera";
    TRAEFIK_INSECURE_API: fragment "traefik-insecure-api";
    TRAEFIK_INSECURE_API_TEXT: fragment "traefik-insecure-api.text";
    TRAEFIK_NO_HTTPS_REDIRECT_ARGS: fragment "traefik-no-https-redirect.args";
    TRAEFIK_NO_HTTPS_REDIRECT_STATIC: fragment "traefik-no-https-redirect.static";
    ENV_EXAMPLE: whole_file "env-example", "env-example.tera";
    BOOTSTRAP_OVERLAY: whole_file "bootstrap.overlay", "bootstrap-overlay.yml.tera";
    BOOTSTRAP_STANDALONE: whole_file "bootstrap.standalone", "bootstrap-standalone.yml.tera";
}

/// A template rendered and parsed as a YAML fragment, or why it could not be.
pub type Rendered = Result<Arc<Fragment>, String>;

/// Fragments rendered by one set of templates: by template and a hash of the context
/// ([`json_hash`]), the contexts of that hash (compared whole: a hash alone never decides) with
/// what each rendered, and how many contexts are held.
#[derive(Default)]
struct Fragments {
    by_key: HashMap<(TemplateId, u64), Vec<(Value, Rendered)>>,
    held: usize,
}

/// The most contexts [`Fragments`] holds; past it, it starts afresh, so a process that fixes or
/// reports on many stacks keeps the fragments of a few (a fragment is a few kilobytes at most:
/// tens of megabytes at worst, as a large stack's run holds while it lasts).
const MAX_FRAGMENTS: usize = 1 << 14;

/// Renders fix templates.
pub struct Renderer {
    tera: Arc<Tera>,
    /// What [`Renderer::fragment`] rendered, since a rendering depends on the template and the
    /// context only: for the built-in templates, shared by every renderer of the process (every
    /// run of `fix`, `fix --unsafe-fixes` and every stack of one `report`); a renderer of a
    /// person's templates (`--templates DIR`) has its own.
    fragments: Arc<Mutex<Fragments>>,
}

impl Renderer {
    /// The built-in templates, each replaced by `<dir>/<its file>` when that file exists. A file
    /// that links outside `dir` is refused: what a template holds ends up in fixed files.
    /// Without overrides, the templates are parsed once per process and shared.
    pub fn new(overrides: Option<&Path>) -> Result<Renderer, String> {
        type Shared = (Arc<Tera>, Arc<Mutex<Fragments>>);
        static BUILT_IN: std::sync::OnceLock<Result<Shared, String>> = std::sync::OnceLock::new();
        let (tera, fragments) = match overrides {
            None => BUILT_IN.get_or_init(|| Self::parse(None).map(|t| (Arc::new(t), Default::default()))).clone()?,
            Some(dir) => (Arc::new(Self::parse(Some(dir))?), Default::default()),
        };
        Ok(Renderer { tera, fragments })
    }

    /// Forgets every fragment the built-in templates rendered, so that the next renderings start
    /// cold: for a measurement (`cargo bench`) that repeats the same work in one process.
    pub fn forget_built_in_fragments() {
        if let Ok(built_in) = Self::new(None) {
            let forgotten = std::mem::take(&mut *crate::stack::project::lock(&built_in.fragments));
            drop(forgotten);
        }
    }

    fn parse(overrides: Option<&Path>) -> Result<Tera, String> {
        let mut tera = Tera::default();
        tera.autoescape_on(vec![]);
        tera.register_filter("yaml", yaml_filter);
        let dir = overrides.map(|d| d.canonicalize().unwrap_or_else(|_| d.to_path_buf()));
        for Builtin { name, file, text: builtin } in BUILTIN {
            let text = match overrides.map(|d| d.join(file)).filter(|p| p.is_file()) {
                Some(path) => {
                    let real = path.canonicalize().map_err(|e| format!("{}: {e}", path.display()))?;
                    if dir.as_ref().is_some_and(|d| !real.starts_with(d)) {
                        return Err(format!("{}: links outside the templates directory; not read", path.display()));
                    }
                    crate::stack::load::read_text(&real).map_err(|e| format!("{}: {e}", path.display()))?
                }
                None => builtin.to_string(),
            };
            tera.add_raw_template(name, &text).map_err(|e| format!("template `{name}`: {}", error_chain(&e)))?;
        }
        Ok(tera)
    }

    /// Template `id` rendered with `context` (the person's parameters already in it) and parsed as
    /// a YAML fragment. Each template and context is rendered once while the renderer's fragments
    /// hold it (two threads asking at once may both render; both get the one kept), and every
    /// caller gets the same fragment.
    ///
    /// # Errors
    /// The template's error (`template `name`: …`), or the YAML it rendered does not parse.
    pub fn fragment(&self, id: TemplateId, context: std::borrow::Cow<'_, Value>) -> Rendered {
        let key = (id, json_hash(&context));
        let held = |fragments: &Fragments| {
            fragments.by_key.get(&key)?.iter().find(|(c, _)| *c == *context).map(|(_, result)| result.clone())
        };
        if let Some(result) = held(&crate::stack::project::lock(&self.fragments)) {
            return result;
        }
        // Rendered without the lock held: the fix runs' threads render other fragments meanwhile.
        let result = self.render(id, &context).and_then(|text| {
            Fragment::parse(&text).map(Arc::new).map_err(|e| format!("template `{id}` rendered invalid YAML ({e})"))
        });
        let mut fragments = crate::stack::project::lock(&self.fragments);
        // Another thread may have rendered the same meanwhile: every caller gets the one kept.
        if let Some(kept) = held(&fragments) {
            return kept;
        }
        let full = (fragments.held >= MAX_FRAGMENTS).then(|| std::mem::take(&mut *fragments));
        fragments.held += 1;
        fragments.by_key.entry(key).or_default().push((context.into_owned(), result.clone()));
        drop(fragments);
        // Freed without the lock held.
        drop(full);
        result
    }

    pub fn render(&self, id: TemplateId, context: &serde_json::Value) -> Result<String, String> {
        let name = id.name();
        // A copy of the value, without going through serde's serializer as `from_serialize` does.
        let context = Context::from_value(context.clone()).map_err(|e| format!("template `{name}`: {e}"))?;
        self.tera.render(name, &context).map_err(|e| format!("template `{name}`: {}", error_chain(&e)))
    }
}

/// A hash of a JSON value (objects hashed in their keys' order, which serde_json keeps sorted).
fn json_hash(value: &serde_json::Value) -> u64 {
    use std::hash::{Hash, Hasher};
    fn walk(value: &serde_json::Value, h: &mut impl Hasher) {
        match value {
            serde_json::Value::Null => h.write_u8(0),
            serde_json::Value::Bool(b) => (1u8, b).hash(h),
            serde_json::Value::Number(n) => (2u8, n.as_f64().map(f64::to_bits), n.as_i64()).hash(h),
            serde_json::Value::String(s) => (3u8, s).hash(h),
            serde_json::Value::Array(items) => {
                (4u8, items.len()).hash(h);
                items.iter().for_each(|v| walk(v, h));
            }
            serde_json::Value::Object(map) => {
                (5u8, map.len()).hash(h);
                for (k, v) in map {
                    k.hash(h);
                    walk(v, h);
                }
            }
        }
    }
    // The contexts hold names from the stacks; seeded once per process, so that no stack can
    // choose values that share a bucket (each bucket is searched whole, under the lock).
    static SEED: std::sync::LazyLock<foldhash::fast::RandomState> = std::sync::LazyLock::new(Default::default);
    let mut hasher = std::hash::BuildHasher::build_hasher(&*SEED);
    walk(value, &mut hasher);
    hasher.finish()
}

fn error_chain(e: &tera::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// `{{ value | yaml }}`: a YAML scalar (plain when it reads back as the same string, else
/// double-quoted) or a flow collection of such scalars.
fn yaml_filter(value: &Value, _: &HashMap<String, Value>) -> tera::Result<Value> {
    Ok(Value::String(to_yaml(value)))
}

pub fn to_yaml(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => yaml_string(s),
        Value::Array(items) => format!("[{}]", items.iter().map(to_yaml).collect::<Vec<_>>().join(", ")),
        Value::Object(map) => {
            format!(
                "{{{}}}",
                map.iter().map(|(k, v)| format!("{}: {}", yaml_string(k), to_yaml(v))).collect::<Vec<_>>().join(", ")
            )
        }
    }
}

/// A string as a YAML scalar that reads back as exactly this string.
pub fn yaml_string(s: &str) -> String {
    let reads_as_other_type = s.parse::<f64>().is_ok()
        || matches!(
            s.to_ascii_lowercase().as_str(),
            "true"
                | "false"
                | "yes"
                | "no"
                | "on"
                | "off"
                | "null"
                | "~"
                | "y"
                | "n"
                | ".inf"
                | "-.inf"
                | "+.inf"
                | ".nan"
        );
    // `--flag` is a plain scalar: a `-` followed by anything but a space does not start an item.
    let dash_word =
        s.len() > 1 && s.starts_with('-') && !s.starts_with("---") && !s[1..].starts_with(char::is_whitespace);
    let plain = !s.is_empty()
        && !reads_as_other_type
        && s.trim() == s
        && (dash_word || !s.starts_with('-'))
        && !s.starts_with(['?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`'])
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.ends_with(':')
        && !s.chars().any(|c| c.is_control() || matches!(c, ',' | '[' | ']' | '{' | '}'));
    if plain {
        s.to_string()
    } else {
        serde_json::to_string(s).unwrap_or_else(|_| format!("\"{}\"", s.escape_default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::Tree;

    use super::template as tpl;

    #[test]
    fn values_read_back_unchanged() {
        let strings = [
            "p@ss: #word",
            "3",
            "yes",
            "",
            " padded",
            "-dash",
            "a,b",
            "${VAR:?set VAR}",
            "2G",
            "line\nbreak",
            "ünï",
            "--maxmemory",
            "---",
            "- x",
            "-",
            "-.inf",
            "-1",
        ];
        for s in strings {
            let text = format!("k: {}\n", yaml_string(s));
            let tree = Tree::parse(text.clone()).unwrap_or_else(|e| panic!("{text}: {e}"));
            let v = tree.entry(tree.root().unwrap(), "k").unwrap().value;
            assert_eq!(tree.node(v).as_str(), Some(s), "{text}");
            let item = format!("- {}\n", yaml_string(s));
            let tree = Tree::parse(item.clone()).unwrap_or_else(|e| panic!("{item}: {e}"));
            assert_eq!(tree.node(tree.items(tree.root().unwrap())[0]).as_str(), Some(s), "{item}");
        }
        assert_eq!(yaml_string("--maxmemory"), "--maxmemory");
        assert_eq!(yaml_string("-.inf"), "\"-.inf\"");
    }

    #[test]
    fn fragments_are_rendered_once_per_template_and_context() {
        use std::borrow::Cow;
        let context = serde_json::json!({"memory": "2G", "cpus": "2.0", "reservation_memory": "1G"});
        let other = serde_json::json!({"memory": "1G", "cpus": "2.0", "reservation_memory": "512M"});
        let first = Renderer::new(None).unwrap().fragment(tpl::NO_RESOURCE_LIMITS, Cow::Borrowed(&context)).unwrap();
        // Another renderer of the built-in templates (another run of the process) shares it.
        let again = Renderer::new(None).unwrap().fragment(tpl::NO_RESOURCE_LIMITS, Cow::Borrowed(&context)).unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        let different = Renderer::new(None).unwrap().fragment(tpl::NO_RESOURCE_LIMITS, Cow::Owned(other)).unwrap();
        assert!(!Arc::ptr_eq(&first, &different));
        assert!(different.source_text().contains("memory: 1G"), "{}", different.source_text());
        // A person's templates are rendered by their own renderer: nothing shared with the
        // built-in ones.
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("fixes")).unwrap();
        std::fs::write(dir.path().join("fixes/no-resource-limits.yml.tera"), "deploy: {}\n").unwrap();
        let theirs = Renderer::new(Some(dir.path())).unwrap();
        let mine = theirs.fragment(tpl::NO_RESOURCE_LIMITS, Cow::Borrowed(&context)).unwrap();
        assert_eq!(mine.source_text(), "deploy: {}\n");
        // A template error is the same on every call.
        let broken =
            || Renderer::new(None).unwrap().fragment(tpl::NO_RESOURCE_LIMITS, Cow::Owned(serde_json::json!({})));
        let (first_error, second_error) = (broken().unwrap_err(), broken().unwrap_err());
        assert!(first_error.contains("no-resource-limits"), "{first_error}");
        assert_eq!(first_error, second_error);
    }

    #[test]
    fn threads_asking_at_once_get_the_same_fragment() {
        use std::borrow::Cow;
        // A context no other test renders.
        let context = serde_json::json!({"memory": "3G", "cpus": "3.0", "reservation_memory": "3M"});
        let got: Vec<Arc<Fragment>> = std::thread::scope(|scope| {
            let threads: Vec<_> = (0..8)
                .map(|_| {
                    scope.spawn(|| {
                        let renderer = Renderer::new(None).unwrap();
                        renderer.fragment(tpl::NO_RESOURCE_LIMITS, Cow::Borrowed(&context)).unwrap()
                    })
                })
                .collect();
            threads.into_iter().map(|t| t.join().unwrap()).collect()
        });
        assert!(got.iter().all(|f| Arc::ptr_eq(f, &got[0])));
        assert!(got[0].source_text().contains("memory: 3G"), "{}", got[0].source_text());
    }

    #[test]
    fn builtins_render() {
        let r = Renderer::new(None).unwrap();
        let out = r
            .render(
                tpl::NO_RESOURCE_LIMITS,
                &serde_json::json!({"memory": "2G", "cpus": "2.0", "reservation_memory": "1G"}),
            )
            .unwrap();
        assert_eq!(out, "deploy:\n  resources:\n    limits:\n      memory: 2G\n      cpus: \"2.0\"\n    reservations:\n      memory: 1G\n");
        let out = r
            .render(tpl::HARDCODED_SECRET, &serde_json::json!({"name": "DB_PASSWORD", "quote": "", "prefix": ""}))
            .unwrap();
        assert_eq!(out.trim(), "${DB_PASSWORD:?set DB_PASSWORD}");
        let out = r.render(tpl::NO_HEALTHCHECK, &serde_json::json!({"test": ["CMD", "pg_isready"], "interval": "30s", "timeout": "5s", "retries": 5, "start_period": "30s"})).unwrap();
        assert!(out.contains("test: [CMD, pg_isready]"), "{out}");
    }
}
