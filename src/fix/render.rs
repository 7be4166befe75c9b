//! Fix templates: every fix's YAML comes from a Tera template in `templates/`, embedded in the
//! binary and overridable by name from a directory. Values are data, never template code: the
//! `yaml` filter writes any value as a YAML scalar or flow collection that reads back unchanged.

use std::collections::HashMap;
use std::path::Path;

use tera::{Context, Tera, Value};

/// The built-in templates: (name, text). A missing file is a compile error.
pub const BUILTIN: &[(&str, &str)] = &[
    ("no-resource-limits", include_str!("../../templates/fixes/no-resource-limits.yml.tera")),
    ("no-restart-policy", include_str!("../../templates/fixes/no-restart-policy.yml.tera")),
    ("no-log-rotation", include_str!("../../templates/fixes/no-log-rotation.yml.tera")),
    ("no-healthcheck", include_str!("../../templates/fixes/no-healthcheck.yml.tera")),
    (
        "depends-on-without-health-condition",
        include_str!("../../templates/fixes/depends-on-without-health-condition.yml.tera"),
    ),
    (
        "depends-on-without-health-condition.condition",
        include_str!("../../templates/fixes/depends-on-without-health-condition.condition.yml.tera"),
    ),
    ("database-port-published.reset", include_str!("../../templates/fixes/database-port-published.reset.yml.tera")),
    ("database-port-published.host-ip", include_str!("../../templates/fixes/database-port-published.host-ip.yml.tera")),
    (
        "database-port-published.loopback",
        include_str!("../../templates/fixes/database-port-published.loopback.yml.tera"),
    ),
    ("docker-socket-mount", include_str!("../../templates/fixes/docker-socket-mount.yml.tera")),
    ("docker-socket-mount.long", include_str!("../../templates/fixes/docker-socket-mount.long.yml.tera")),
    ("source-bind-mount", include_str!("../../templates/fixes/source-bind-mount.yml.tera")),
    ("hardcoded-secret", include_str!("../../templates/fixes/hardcoded-secret.yml.tera")),
    ("redis-no-maxmemory.command", include_str!("../../templates/fixes/redis-no-maxmemory.command.yml.tera")),
    ("redis-no-maxmemory.text", include_str!("../../templates/fixes/redis-no-maxmemory.text.yml.tera")),
    ("redis-no-maxmemory.variable", include_str!("../../templates/fixes/redis-no-maxmemory.variable.yml.tera")),
    ("redis-no-maxmemory.words", include_str!("../../templates/fixes/redis-no-maxmemory.words.yml.tera")),
    ("redis-no-maxmemory.conf", include_str!("../../templates/files/redis-conf.tera")),
    ("traefik-no-rate-limit.labels", include_str!("../../templates/fixes/traefik-no-rate-limit.labels.yml.tera")),
    ("traefik-no-rate-limit.value", include_str!("../../templates/fixes/traefik-no-rate-limit.value.yml.tera")),
    (
        "traefik-no-rate-limit.file-middleware",
        include_str!("../../templates/fixes/traefik-no-rate-limit.file-middleware.yml.tera"),
    ),
    (
        "traefik-no-rate-limit.file-router",
        include_str!("../../templates/fixes/traefik-no-rate-limit.file-router.yml.tera"),
    ),
    (
        "alerts-without-alertmanager.service",
        include_str!("../../templates/fixes/alerts-without-alertmanager.service.yml.tera"),
    ),
    (
        "alerts-without-alertmanager.secret",
        include_str!("../../templates/fixes/alerts-without-alertmanager.secret.yml.tera"),
    ),
    (
        "alerts-without-alertmanager.prometheus",
        include_str!("../../templates/fixes/alerts-without-alertmanager.prometheus.yml.tera"),
    ),
    ("alerts-without-alertmanager.config", include_str!("../../templates/files/alertmanager.yml.tera")),
    ("missing-exporter.service", include_str!("../../templates/fixes/missing-exporter.service.yml.tera")),
    ("missing-exporter.scrape-job", include_str!("../../templates/fixes/missing-exporter.scrape-job.yml.tera")),
    ("missing-exporter.rule-file", include_str!("../../templates/fixes/missing-exporter.rule-file.yml.tera")),
    ("missing-exporter.rules-mount", include_str!("../../templates/fixes/missing-exporter.rules-mount.yml.tera")),
    ("missing-exporter.rules", include_str!("../../templates/files/exporter-rules.yml.tera")),
    ("scrape-target-missing.cadvisor", include_str!("../../templates/fixes/scrape-target-missing.cadvisor.yml.tera")),
    (
        "scrape-target-missing.node-exporter",
        include_str!("../../templates/fixes/scrape-target-missing.node-exporter.yml.tera"),
    ),
    ("no-backup", include_str!("../../templates/fixes/no-backup.yml.tera")),
    ("no-backup.volume", include_str!("../../templates/fixes/no-backup.volume.yml.tera")),
    ("traefik-insecure-api", include_str!("../../templates/fixes/traefik-insecure-api.yml.tera")),
    ("traefik-insecure-api.text", include_str!("../../templates/fixes/traefik-insecure-api.text.yml.tera")),
    ("traefik-no-https-redirect.args", include_str!("../../templates/fixes/traefik-no-https-redirect.args.yml.tera")),
    (
        "traefik-no-https-redirect.static",
        include_str!("../../templates/fixes/traefik-no-https-redirect.static.yml.tera"),
    ),
    ("env-example", include_str!("../../templates/files/env-example.tera")),
];

/// The file a template is exported to and overridden from.
pub fn file_name(name: &str) -> String {
    if name == "env-example" {
        "files/env-example.tera".to_string()
    } else if name == "redis-no-maxmemory.conf" {
        "files/redis-conf.tera".to_string()
    } else if name == "alerts-without-alertmanager.config" {
        "files/alertmanager.yml.tera".to_string()
    } else if name == "missing-exporter.rules" {
        "files/exporter-rules.yml.tera".to_string()
    } else {
        format!("fixes/{name}.yml.tera")
    }
}

/// Renders fix templates.
pub struct Renderer {
    tera: Tera,
}

impl Renderer {
    /// The built-in templates, each replaced by `<dir>/<file_name>` when that file exists.
    pub fn new(overrides: Option<&Path>) -> Result<Renderer, String> {
        let mut tera = Tera::default();
        tera.autoescape_on(vec![]);
        tera.register_filter("yaml", yaml_filter);
        for (name, builtin) in BUILTIN {
            let text = match overrides.map(|d| d.join(file_name(name))).filter(|p| p.is_file()) {
                Some(path) => std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?,
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
