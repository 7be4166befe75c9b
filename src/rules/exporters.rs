//! Adding a Prometheus exporter for a data store: the exporter service (from
//! `templates/fixes/missing-exporter.service.yml.tera`), wired to the store with its credentials taken by
//! reference from the store's own environment, on the networks of both the store and
//! Prometheus; optionally its scrape job, and an alert-rules file registered in `rule_files`
//! (and mounted into Prometheus when its configuration is mounted as a single file).

use std::path::{Path, PathBuf};

use serde_json::json;

use super::{Applicability, Context, Fix, FixEdit, Site};
use super::{EditOp, Target};
use crate::fix::render::template as tpl;
use crate::stack::interpolate;
use crate::stack::profiles::Kind;
use crate::stack::service::MountKind;
use crate::stack::side::PrometheusConfig;
use crate::stack::Service;

/// The alert that fires when an exporter reports its store down: (exporter kind, alert, metric).
const DOWN_ALERTS: &[(&str, &str, &str)] = &[
    ("postgres-exporter", "PostgresqlDown", "pg_up"),
    ("redis-exporter", "RedisDown", "redis_up"),
    ("mysqld-exporter", "MysqlDown", "mysql_up"),
    ("mongodb-exporter", "MongodbDown", "mongodb_up"),
    ("elasticsearch-exporter", "ElasticsearchDown", "elasticsearch_cluster_health_up"),
    ("memcached-exporter", "MemcachedDown", "memcached_up"),
];

/// What to add besides the service.
pub struct Extras {
    /// A scrape job in prometheus.yml.
    pub scrape_job: bool,
    /// An alert-rules file for the store, registered in `rule_files`.
    pub alert_rules: bool,
}

/// The fix adding exporter `name` (of `exporter` kind) for `store`; `None` when the exporter has
/// no template, or a file it needs is not where stackfix can reason about it.
pub fn add_exporter(
    ctx: &Context,
    prom: &PrometheusConfig,
    store: &Service,
    exporter: &Kind,
    name: &str,
    extras: Extras,
) -> Option<Fix> {
    let &(_, alert, metric) = DOWN_ALERTS.iter().find(|(kind, _, _)| *kind == exporter.name)?;
    let port = exporter.port?;
    if ctx.config.service(name).is_some() || !super::is_service_name(name) || !super::is_service_name(&store.name) {
        return None;
    }
    let prometheus = ctx.config.service(&prom.service)?;
    if super::unreachable_by_name(store).or_else(|| super::unreachable_by_name(prometheus)).is_some() {
        return None;
    }
    let compose_file = prometheus.definition_site().file;
    let profiles = super::companion_profiles(ctx, store, compose_file).ok()?;
    let mut new_variables = Vec::new();
    let credentials = credentials(ctx, store, &mut new_variables)?;
    let networks = super::shared_networks([store, prometheus]);
    let store_port = ctx.stack.profiles.kind(&store.kind).and_then(|k| k.port).unwrap_or_default();
    let mut edits = vec![FixEdit::new(
        Target::Service(Site::Definition { service: name.to_string(), file: compose_file }),
        EditOp::Merge,
        tpl::MISSING_EXPORTER_SERVICE,
        json!({
            "kind": exporter.name,
            "image": exporter.image,
            "store": store.name,
            "store_port": store_port,
            "credentials": credentials,
            "networks": networks,
            "port": port,
            "profiles": profiles,
        }),
    )];
    edits.extend(ctx.production_settings(name, exporter, compose_file));
    let target = format!("{name}:{port}");
    if extras.scrape_job {
        edits.push(match prom.doc.get("scrape_configs") {
            Some(jobs) => FixEdit::new(
                Target::Node { file: jobs.loc.file, at: jobs.loc.span },
                EditOp::Append,
                tpl::MISSING_EXPORTER_SCRAPE_JOB,
                json!({ "job": name, "target": target, "list": false, "flow": is_flow(ctx, jobs) }),
            ),
            None => FixEdit::new(
                Target::Root(prom.file),
                EditOp::Merge,
                tpl::MISSING_EXPORTER_SCRAPE_JOB,
                json!({ "job": name, "target": target, "list": true }),
            ),
        });
    }
    if extras.alert_rules {
        let rules_name = format!("{name}.rules.yml");
        let host_path = ctx.stack.file(prom.file).path.with_file_name(&rules_name);
        if host_path.exists() {
            return None;
        }
        let (container_dir, directory_mounted) = config_mount(ctx, prometheus, &ctx.stack.file(prom.file).path)?;
        edits.push(FixEdit::new(
            Target::NewFile(host_path.clone()),
            EditOp::Create,
            tpl::MISSING_EXPORTER_RULES,
            json!({ "group": name, "alert": alert, "metric": metric, "store": store.name, "job": name }),
        ));
        edits.push(match prom.doc.get("rule_files") {
            Some(list) => FixEdit::new(
                Target::Node { file: list.loc.file, at: list.loc.span },
                EditOp::Append,
                tpl::MISSING_EXPORTER_RULE_FILE,
                json!({ "file": rules_name, "list": false }),
            ),
            None => FixEdit::new(
                Target::Root(prom.file),
                EditOp::Merge,
                tpl::MISSING_EXPORTER_RULE_FILE,
                json!({ "file": rules_name, "list": true }),
            ),
        });
        if !directory_mounted {
            let volumes = prometheus.value.get("volumes")?;
            let source = relative_source(&ctx.stack.file(volumes.loc.file).base_dir, &host_path)?;
            edits.push(FixEdit::new(
                Target::Node { file: volumes.loc.file, at: volumes.loc.span },
                EditOp::Append,
                tpl::MISSING_EXPORTER_RULES_MOUNT,
                json!({ "mount": format!("{source}:{container_dir}/{rules_name}:ro") }),
            ));
        }
    }
    let applicability = if new_variables.is_empty() { Applicability::Safe } else { Applicability::Unsafe };
    edits.extend(secret_edits(ctx, store, &new_variables)?);
    let mut title = format!("add `{name}` ({}) for `{}`", exporter.name, store.name);
    if !new_variables.is_empty() {
        title.push_str(&format!(
            ", with its password from `{}`, which the store reads too (set it: it was a literal)",
            new_variables.join("`, `")
        ));
    }
    Some(ctx.fix(title, applicability, edits))
}

/// A host-level exporter named `name` on Prometheus' networks: node-exporter reading the host's
/// /proc, /sys and root file system read-only (safe), or cAdvisor, which needs a privileged
/// container and the host's Docker state read-only (unsafe: it is root on the host).
pub fn add_host_exporter(ctx: &Context, prom: &PrometheusConfig, kind: &Kind, name: &str) -> Option<Fix> {
    let (template, applicability, what) = match kind.name.as_str() {
        "node-exporter" => {
            (tpl::SCRAPE_TARGET_MISSING_NODE_EXPORTER, Applicability::Safe, "host file systems read-only")
        }
        "cadvisor" => (tpl::SCRAPE_TARGET_MISSING_CADVISOR, Applicability::Unsafe, "privileged, host state read-only"),
        _ => return None,
    };
    if ctx.config.service(name).is_some() || !super::is_service_name(name) {
        return None;
    }
    let prometheus = ctx.config.service(&prom.service)?;
    if super::unreachable_by_name(prometheus).is_some() {
        return None;
    }
    let file = prometheus.definition_site().file;
    let profiles = super::companion_profiles(ctx, prometheus, file).ok()?;
    let mut edits = vec![FixEdit::new(
        Target::Service(Site::Definition { service: name.to_string(), file }),
        EditOp::Merge,
        template,
        json!({
            "image": kind.image,
            "networks": super::shared_networks([prometheus]),
            "profiles": profiles,
        }),
    )];
    edits.extend(ctx.production_settings(name, kind, file));
    Some(ctx.fix(format!("add `{name}` ({}, {what})", kind.name), applicability, edits))
}

/// The value is written in flow style (`[…]`, `{…}`): what is added to it must be too.
fn is_flow(ctx: &Context, value: &crate::stack::Value) -> bool {
    ctx.stack.text(value.loc.file, value.loc.span).starts_with(['[', '{'])
}

/// When an added service reads a store's literal password from a new variable, the store must
/// read it too, or the two passwords could differ: the edits of the `hardcoded-secret` fix that
/// moves the store's literal to that variable (every place the credential is written), which the
/// adding fix takes along. `None` when that cannot be done; an empty list when nothing is needed.
pub fn secret_edits(ctx: &Context, store: &Service, new_variables: &[String]) -> Option<Vec<FixEdit>> {
    if new_variables.is_empty() {
        return Some(Vec::new());
    }
    super::hardcoded_secret::store_secret_edits(ctx, store, new_variables)
}

/// The store's user, password and database as the exporter should write them: a variable
/// reference as the store writes it, a non-secret literal as is, or, for a literal secret, a new
/// required variable (`${NAME:?…}`) added to `new_variables`. `None` when the store reads its
/// credentials from files (`*_FILE`, secrets) or may from an `env_file`, names them by
/// interpolation, or gives one a literal fallback: a person wires those.
pub fn credentials(ctx: &Context, store: &Service, new_variables: &mut Vec<String>) -> Option<serde_json::Value> {
    // Credentials read from files, or variables whose names come from interpolation (which may
    // set any of them), are wired by a person.
    if store.environment.iter().any(|e| e.name.ends_with("_PASSWORD_FILE") || !ctx.env_name_written(e)) {
        return None;
    }
    // An `env_file` may set them (read or not here): a job given the defaults could not log in.
    if store.value.get("env_file").is_some() {
        return None;
    }
    // A value is copied only as references alone (`${PG_PASS}`) or as a literal that is no
    // secret; a literal secret becomes a new required variable; a reference with a literal
    // fallback (`${PG_PASS:-changeme}`) is left for a person (copying it spreads the fallback).
    let secret_names =
        ["POSTGRES_PASSWORD", "MYSQL_ROOT_PASSWORD", "MARIADB_ROOT_PASSWORD", "MONGO_INITDB_ROOT_PASSWORD"];
    let literal_fallback = |v: &str| {
        let refs = interpolate::references(v);
        !refs.is_empty()
            && (interpolate::has_literal(v)
                || refs.iter().any(|r| r.default.as_deref().is_some_and(|d| !d.trim().is_empty() && !d.contains('$'))))
    };
    if store.environment.iter().any(|e| {
        (secret_names.contains(&e.name.as_str()) || e.name == "ELASTIC_PASSWORD")
            && e.written().is_some_and(literal_fallback)
    }) {
        return None;
    }
    let mut reference = |names: &[&str], secret: bool| -> Option<String> {
        let var = store.environment.iter().find(|e| names.contains(&e.name.as_str()))?;
        Some(match var.written() {
            Some(v) if !interpolate::references(v).is_empty() => v.to_string(),
            Some(v) if !secret => v.to_string(),
            Some(_) => {
                new_variables.push(var.name.clone());
                format!("${{{0}:?set {0}}}", var.name)
            }
            None => format!("${{{}}}", var.name),
        })
    };
    Some(match ctx.stack.profiles.kind(&store.kind)?.name.as_str() {
        "postgres" => {
            let user = reference(&["POSTGRES_USER"], false).unwrap_or_else(|| "postgres".into());
            let database = reference(&["POSTGRES_DB"], false).unwrap_or_else(|| user.clone());
            json!({ "user": user, "password": reference(&["POSTGRES_PASSWORD"], true), "database": database })
        }
        "mysql" => json!({
            "user": "root",
            "password": reference(&["MYSQL_ROOT_PASSWORD", "MARIADB_ROOT_PASSWORD"], true),
        }),
        "mongo" => json!({
            "user": reference(&["MONGO_INITDB_ROOT_USERNAME"], false),
            "password": reference(&["MONGO_INITDB_ROOT_PASSWORD"], true),
        }),
        "redis" => json!({ "password": redis_password(ctx, store, new_variables) }),
        "elasticsearch" => json!({ "password": reference(&["ELASTIC_PASSWORD"], true) }),
        _ => json!({}),
    })
}

/// The password of a redis: `REDIS_PASSWORD` or `--requirepass` on the command line (a compose
/// reference kept as written), else `requirepass` in its mounted redis.conf. A literal is a
/// secret not to copy: the exporter then reads a new required variable.
fn redis_password(ctx: &Context, store: &Service, new_variables: &mut Vec<String>) -> Option<String> {
    if let Some(var) = store.environment.iter().find(|e| e.name == "REDIS_PASSWORD") {
        return Some(match var.written() {
            Some(v) if !interpolate::references(v).is_empty() && !interpolate::has_literal(v) => v.to_string(),
            _ => "${REDIS_PASSWORD}".to_string(),
        });
    }
    let mut new_variable = || {
        new_variables.push("REDIS_PASSWORD".into());
        Some("${REDIS_PASSWORD:?set REDIS_PASSWORD}".to_string())
    };
    let command = store.value.get("command");
    let raw = command.map(|c| ctx.stack.text(c.loc.file, c.loc.span));
    let Some(after) = raw.and_then(|r| r.split("--requirepass").nth(1)) else {
        let in_conf = ctx.config.redis_confs.iter().any(|c| c.service == store.name && c.get("requirepass").is_some());
        return if in_conf { new_variable() } else { None };
    };
    let word = after.trim_start_matches(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ',' | '\n'));
    // `$$NAME` is the container shell's variable, not one compose knows.
    if word.starts_with("${") {
        return word.find('}').map(|end| word[..=end].to_string());
    }
    if word.starts_with('$') && !word.starts_with("$$") {
        let name: String = word[1..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        return Some(format!("${{{name}}}"));
    }
    new_variable()
}

/// Where Prometheus sees its configuration's directory, and whether that whole directory is
/// mounted (so a new file next to prometheus.yml is visible without another mount).
fn config_mount(ctx: &Context, prometheus: &Service, config: &Path) -> Option<(String, bool)> {
    let config = crate::stack::load::resolve(config)?;
    for mount in prometheus.volumes.iter().filter(|m| m.kind == MountKind::Bind) {
        let base = &ctx.stack.file(mount.loc.file).base_dir;
        let Some(host) = mount.source.as_deref().and_then(|s| crate::stack::load::resolve(&base.join(s))) else {
            continue;
        };
        let target = mount.target.trim_end_matches('/');
        if host == config {
            return Some((Path::new(target).parent()?.to_str()?.to_string(), false));
        }
        if Some(host.as_path()) == config.parent() {
            return Some((target.to_string(), true));
        }
    }
    None
}

/// `./relative/path` of `file` from `base` (where a compose file's relative paths start, its
/// [`crate::stack::SourceFile::base_dir`]), when it lies below it.
pub fn relative_source(base: &Path, file: &Path) -> Option<String> {
    let base = crate::stack::load::resolve(base)?;
    let dir: PathBuf = crate::stack::load::resolve(file.parent()?)?;
    let rest = dir.strip_prefix(&base).ok()?.join(file.file_name()?);
    Some(format!("./{}", rest.to_str()?))
}
