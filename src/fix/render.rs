//! Fix templates: every fix's YAML comes from a Tera template in `templates/`, embedded in the
//! binary and overridable by name from a directory. Values are data, never template code: the
//! `yaml` filter writes any value as a YAML scalar or flow collection that reads back unchanged.

use std::collections::HashMap;
use std::path::Path;

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

/// The built-in templates. A missing file is a compile error.
pub const BUILTIN: &[Builtin] = &[
    fragment!("no-resource-limits"),
    fragment!("no-resource-limits.legacy"),
    fragment!("no-restart-policy"),
    fragment!("no-log-rotation"),
    fragment!("no-healthcheck"),
    fragment!("no-healthcheck.traefik-ping"),
    fragment!("no-healthcheck.traefik-ping-env"),
    fragment!("depends-on-without-health-condition"),
    fragment!("depends-on-without-health-condition.condition"),
    fragment!("database-port-published.reset"),
    fragment!("database-port-published.host-ip"),
    fragment!("database-port-published.loopback"),
    fragment!("database-port-published.kept"),
    fragment!("docker-socket-mount"),
    fragment!("docker-socket-mount.long"),
    fragment!("source-bind-mount"),
    fragment!("source-bind-mount.kept"),
    fragment!("hardcoded-secret"),
    fragment!("hardcoded-secret.text"),
    fragment!("redis-no-maxmemory.command"),
    fragment!("redis-no-maxmemory.text"),
    fragment!("redis-no-maxmemory.variable"),
    fragment!("redis-no-maxmemory.words"),
    whole_file!("redis-no-maxmemory.conf", "redis-conf.tera"),
    fragment!("traefik-no-rate-limit.labels"),
    fragment!("traefik-no-rate-limit.value"),
    fragment!("traefik-no-rate-limit.file-middleware"),
    fragment!("traefik-no-rate-limit.file-router"),
    fragment!("traefik-no-rate-limit.file-list"),
    fragment!("alerts-without-alertmanager.service"),
    fragment!("alerts-without-alertmanager.secret"),
    fragment!("alerts-without-alertmanager.prometheus"),
    whole_file!("alerts-without-alertmanager.config", "alertmanager.yml.tera"),
    fragment!("missing-exporter.service"),
    fragment!("missing-exporter.scrape-job"),
    fragment!("missing-exporter.rule-file"),
    fragment!("missing-exporter.rules-mount"),
    whole_file!("missing-exporter.rules", "exporter-rules.yml.tera"),
    fragment!("scrape-target-missing.cadvisor"),
    fragment!("scrape-target-missing.node-exporter"),
    fragment!("dev-build-target"),
    fragment!("development-mode"),
    fragment!("development-mode.command"),
    fragment!("no-backup"),
    fragment!("no-backup.volume"),
    fragment!("no-reverse-proxy.traefik"),
    fragment!("no-reverse-proxy.volume"),
    fragment!("no-reverse-proxy.ports"),
    fragment!("no-reverse-proxy.kept-ports"),
    fragment!("no-reverse-proxy.labels"),
    fragment!("no-monitoring.service"),
    fragment!("no-monitoring.volume"),
    whole_file!("no-monitoring.config", "prometheus.yml.tera"),
    whole_file!("no-monitoring.rules", "alert-rules.yml.tera"),
    fragment!("traefik-insecure-api"),
    fragment!("traefik-insecure-api.text"),
    fragment!("traefik-no-https-redirect.args"),
    fragment!("traefik-no-https-redirect.static"),
    whole_file!("env-example", "env-example.tera"),
    whole_file!("bootstrap.overlay", "bootstrap-overlay.yml.tera"),
    whole_file!("bootstrap.standalone", "bootstrap-standalone.yml.tera"),
];

/// Renders fix templates.
pub struct Renderer {
    tera: Tera,
}

impl Renderer {
    /// The built-in templates, each replaced by `<dir>/<its file>` when that file exists. A file
    /// that links outside `dir` is refused: what a template holds ends up in fixed files.
    pub fn new(overrides: Option<&Path>) -> Result<Renderer, String> {
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
        Ok(Renderer { tera })
    }

    pub fn render(&self, name: &str, context: &serde_json::Value) -> Result<String, String> {
        let context = Context::from_serialize(context).map_err(|e| format!("template `{name}`: {e}"))?;
        self.tera.render(name, &context).map_err(|e| format!("template `{name}`: {}", error_chain(&e)))
    }
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
    fn builtins_render() {
        let r = Renderer::new(None).unwrap();
        let out = r
            .render(
                "no-resource-limits",
                &serde_json::json!({"memory": "2G", "cpus": "2.0", "reservation_memory": "1G"}),
            )
            .unwrap();
        assert_eq!(out, "deploy:\n  resources:\n    limits:\n      memory: 2G\n      cpus: \"2.0\"\n    reservations:\n      memory: 1G\n");
        let out = r
            .render("hardcoded-secret", &serde_json::json!({"name": "DB_PASSWORD", "quote": "", "prefix": ""}))
            .unwrap();
        assert_eq!(out.trim(), "${DB_PASSWORD:?set DB_PASSWORD}");
        let out = r.render("no-healthcheck", &serde_json::json!({"test": ["CMD", "pg_isready"], "interval": "30s", "timeout": "5s", "retries": 5, "start_period": "30s"})).unwrap();
        assert!(out.contains("test: [CMD, pg_isready]"), "{out}");
    }
}
