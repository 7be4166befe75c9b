use std::collections::HashMap;

use serde_json::json;

use super::{Applicability, Context, Finding, Fix, FixEdit, Rule, RuleMeta};
use super::{EditOp, Target};
use crate::fix::render::template as tpl;
use crate::stack::service::Located;
use crate::stack::side::{list_option, option, split_list, traefik_version};
use crate::stack::{Loc, Value};

declare_rule! {
    /// ## What it does
    /// Reports Traefik HTTP routers (from docker labels or file-provider dynamic configuration) with
    /// no rate-limit middleware: none on the router, none in a chain it uses, none on its
    /// entrypoint.
    ///
    /// ## Why it matters
    /// Without a rate limit one client (or one bot) can exhaust the backend: a rate limit at the
    /// proxy stops floods before they reach the application.
    ///
    /// ## When it does not apply
    /// Stacks without Traefik, routers on containers with `traefik.enable=false`, and routers
    /// whose every entry point has a rate limit in its `http.middlewares` (a router that names
    /// none uses the default entry points: those with `asDefault`, else all).
    ///
    /// ## Example
    /// ```yaml
    ///     labels:
    ///       - "traefik.http.routers.api.rule=Host(`api.example.com`)"
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    ///       - "traefik.http.middlewares.api-ratelimit.ratelimit.average=100"
    ///       - "traefik.http.middlewares.api-ratelimit.ratelimit.burst=200"
    ///       - "traefik.http.routers.api.middlewares=api-ratelimit"
    /// ```
    /// appended to the router's existing middlewares, in their order, in the labels' own spelling
    /// (a list of `"key=value"` or a mapping). A router defined in a file-provider configuration
    /// gets the middleware under `http.middlewares` of that file and in its `middlewares` list.
    /// `average`, `burst` and `period` come from `--set` or `stackfix.toml` (defaults 100, 200,
    /// 1s). The version comes from the Traefik image tag: the keys are the same in v2 and v3,
    /// `period` is left out before v2.2 (which lacks it), and a v1 Traefik (other labels
    /// altogether) is left for a person.
    ///
    /// ## Fix safety
    /// Safe: clients under the limit see no difference; a router whose middleware name is
    /// taken by something else is left for a person.
    pub struct TraefikNoRateLimit => "traefik-no-rate-limit" {
        summary: "Traefik router without rate limiting",
        severity: Warning,
        area: Edge,
        scope: Any,
        fix: Sometimes,
        applicability: Safe,
        seeds: ["000", "004"],
        judges: ["traefik"],
    }
}

/// What a middleware does, as far as rate limiting goes.
#[derive(Debug, Clone)]
enum Middleware {
    RateLimit,
    Chain(Vec<String>),
    Other,
}

struct Router {
    name: String,
    /// The provider that defines it (`docker` for labels, `file`): a middleware it names without
    /// `@provider` is that provider's.
    provider: &'static str,
    service: Option<String>,
    /// Its middlewares as written (a fix rewriting the list keeps them so), looked up qualified
    /// with its provider; names are case-sensitive in Traefik (`API-RateLimit` is not
    /// `api-ratelimit`).
    written: Vec<String>,
    /// The entry points it names (none: the default ones).
    entry_points: Vec<String>,
    loc: Loc,
    source: Source,
}

/// Where a router is defined, as far as editing it goes.
enum Source {
    /// Docker labels; the `middlewares` label when there is one.
    Labels { middlewares: Option<Located<String>> },
    /// A file provider's `http.routers.<name>` mapping, its `middlewares`, and the `http` mapping.
    File { spec: Loc, middlewares: Option<Loc>, http: Loc },
}

/// A middleware reference as `name@provider`, the provider of the one naming it by default
/// (Traefik keeps each provider's middlewares apart: `api-ratelimit@docker` is not
/// `api-ratelimit@file`).
fn qualified(reference: &str, provider: &str) -> String {
    if reference.contains('@') {
        reference.to_string()
    } else {
        format!("{reference}@{provider}")
    }
}

fn middleware_of(spec: &Value) -> Middleware {
    for (key, value) in spec.entries() {
        match key.to_ascii_lowercase().as_str() {
            "ratelimit" => return Middleware::RateLimit,
            "chain" => {
                return Middleware::Chain(
                    list_option(option(value, "middlewares")).iter().map(|m| qualified(m, "file")).collect(),
                )
            }
            _ => {}
        }
    }
    Middleware::Other
}

fn limits(name: &str, middlewares: &HashMap<String, Middleware>, depth: usize) -> bool {
    match middlewares.get(name) {
        Some(Middleware::RateLimit) => true,
        Some(Middleware::Chain(inner)) if depth < 8 => inner.iter().any(|m| limits(m, middlewares, depth + 1)),
        _ => false,
    }
}

impl Rule for TraefikNoRateLimit {
    fn meta(&self) -> &'static RuleMeta {
        &Self::META
    }

    fn check(&self, ctx: &Context) -> Vec<Finding> {
        if ctx.config.traefik.is_empty() {
            return Vec::new();
        }
        let mut middlewares: HashMap<String, Middleware> = HashMap::new();
        let mut routers: Vec<Router> = Vec::new();
        for service in &ctx.config.services {
            let disabled = service.label("traefik.enable").is_some_and(|v| v.value.eq_ignore_ascii_case("false"));
            let mut own_routers: HashMap<String, Router> = HashMap::new();
            // Traefik reads a container's labels as it reads flags: option names in any case,
            // and router or middleware names differing only in case as one (named by the
            // spelling that sorts first); a reference to a middleware must match that name
            // exactly. The root is `traefik` as written (`Traefik.…` is refused).
            let mut spelled: HashMap<(String, String), &str> = HashMap::new();
            for (key, _) in &service.labels {
                let parts: Vec<&str> = key.split('.').collect();
                if let ["traefik", http, kind, name, ..] = parts.as_slice() {
                    if http.eq_ignore_ascii_case("http") {
                        let slot =
                            spelled.entry((kind.to_ascii_lowercase(), name.to_ascii_lowercase())).or_insert(name);
                        if *name < *slot {
                            *slot = name;
                        }
                    }
                }
            }
            for (key, value) in &service.labels {
                if !key.starts_with("traefik.") {
                    continue;
                }
                let lower = key.to_ascii_lowercase();
                let mut parts: Vec<&str> = lower.split('.').collect();
                let canonical = match (parts.get(2), parts.get(3)) {
                    (Some(kind), Some(name)) => {
                        spelled.get(&(kind.to_string(), name.to_string())).copied().unwrap_or_default()
                    }
                    _ => "",
                };
                if let Some(name) = parts.get_mut(3) {
                    *name = canonical;
                }
                let original_name = canonical;
                match parts.as_slice() {
                    ["traefik", "http", "middlewares", name, kind, ..] => {
                        let entry = middlewares.entry(qualified(name, "docker")).or_insert(Middleware::Other);
                        match *kind {
                            "ratelimit" => *entry = Middleware::RateLimit,
                            "chain" if parts.get(5) == Some(&"middlewares") => {
                                *entry = Middleware::Chain(
                                    split_list(&value.value).iter().map(|m| qualified(m, "docker")).collect(),
                                )
                            }
                            _ => {}
                        }
                    }
                    ["traefik", "http", "routers", name, field] if !disabled => {
                        let router = own_routers.entry(name.to_string()).or_insert_with(|| Router {
                            name: original_name.to_string(),
                            provider: "docker",
                            service: Some(service.name.clone()),
                            written: Vec::new(),
                            entry_points: Vec::new(),
                            loc: value.loc,
                            source: Source::Labels { middlewares: None },
                        });
                        match *field {
                            "rule" => router.loc = value.loc,
                            "entrypoints" => router.entry_points = split_list(&value.value),
                            "middlewares" => {
                                router.written = split_list(&value.value);
                                router.source = Source::Labels { middlewares: Some(value.clone()) };
                            }
                            _ => {}
                        }
                    }
                    _ => {}
                }
            }
            routers.extend(own_routers.into_values());
        }
        for traefik in &ctx.config.traefik {
            for (_, doc) in &traefik.dynamic {
                let http = option(doc, "http");
                for (name, spec) in http.and_then(|h| option(h, "middlewares")).map(Value::entries).unwrap_or_default()
                {
                    middlewares.insert(qualified(name, "file"), middleware_of(spec));
                }
                let Some(http) = http else { continue };
                for (name, spec) in option(http, "routers").map(Value::entries).unwrap_or_default() {
                    let listed = option(spec, "middlewares");
                    routers.push(Router {
                        name: name.clone(),
                        provider: "file",
                        service: None,
                        written: list_option(listed),
                        entry_points: list_option(option(spec, "entryPoints")),
                        loc: spec.loc,
                        source: Source::File { spec: spec.loc, middlewares: listed.map(|m| m.loc), http: http.loc },
                    });
                }
            }
        }
        // A router is limited by its entry points when every entry point it uses limits; a
        // middleware an entry point names without `@provider` is, for each router, the one of
        // that router's provider (as Traefik resolves it).
        let from_entrypoints = |router: &Router| {
            ctx.config.traefik.iter().all(|traefik| {
                traefik.router_entry_points(&router.entry_points).is_some_and(|eps| {
                    eps.iter().all(|ep| {
                        ep.middlewares.iter().any(|m| limits(&qualified(m, router.provider), &middlewares, 0))
                    })
                })
            })
        };
        routers.sort_by_key(|r| (r.loc.file, r.loc.span.start));
        routers
            .into_iter()
            .filter(|r| {
                !from_entrypoints(r) && !r.written.iter().any(|m| limits(&qualified(m, r.provider), &middlewares, 0))
            })
            .map(|r| {
                let fix = fix(ctx, &r, &middlewares);
                let mut f = Finding::new(
                    &Self::META,
                    r.loc,
                    format!("Traefik router `{}` has no rate-limit middleware", r.name),
                )
                .help("add a `ratelimit` middleware (average/burst) to the router's middlewares")
                .with_fix_opt(fix);
                if let Some(s) = &r.service {
                    f = f.service(s);
                }
                f
            })
            .collect()
    }
}

/// A `middlewares` label's text (`a,b`, or the whole `key=a,b` of a list item) with `name` put
/// first: a rate limit after `auth` would let password guessing through.
fn rate_limit_first(text: &str, name: &str) -> String {
    let (key, value) = match text.split_once('=') {
        Some((key, value)) if key.trim_start().to_ascii_lowercase().starts_with("traefik.") => (Some(key), value),
        _ => (None, text),
    };
    let value = value.trim_matches(',');
    let value = if value.is_empty() { name.to_string() } else { format!("{name},{value}") };
    match key {
        Some(key) => format!("{key}={value}"),
        None => value,
    }
}

/// A `<router>-ratelimit` middleware, defined next to the router and put first in its
/// middlewares (before `auth`, so password guessing is limited too); `None` when that name already means something else.
fn fix(ctx: &Context, router: &Router, middlewares: &HashMap<String, Middleware>) -> Option<Fix> {
    let name = format!("{}-ratelimit", router.name);
    // A name that differs only in case is taken too: labels of one container would merge with it.
    let taken = qualified(&name, router.provider);
    if middlewares.keys().any(|k| k.eq_ignore_ascii_case(&taken)) {
        return None;
    }
    // The version from the proxy's image tag: v1 has none of these keys, `period` came in v2.2.
    let version = ctx.config.traefik.first().and_then(|t| ctx.config.service(&t.service)).and_then(traefik_version);
    if version.is_some_and(|(major, _)| major < 2) {
        return None;
    }
    let with_period = version.is_none_or(|v| v >= (2, 2));
    let title = format!("add rate-limit middleware `{name}` to router `{}`", router.name);
    let mut edits = Vec::new();
    match &router.source {
        Source::Labels { middlewares: existing } => {
            let label = |loc: &Loc| {
                let raw = ctx.stack.text(loc.file, loc.span);
                let quoted = raw.starts_with(['"', '\'']);
                let unquoted = raw.trim_matches(|c| c == '"' || c == '\'');
                (unquoted.to_ascii_lowercase().starts_with("traefik."), quoted)
            };
            let (list, quoted) = label(&router.loc);
            if let Some(existing) = existing {
                // The label as written (a `${VAR}` in it stays a reference), with the middleware
                // appended; an escape sequence would have to be re-encoded, so that is left alone.
                let raw = ctx.stack.text(existing.loc.file, existing.loc.span);
                let quoted = raw.starts_with(['"', '\'']);
                let inner = if quoted { raw.get(1..raw.len().saturating_sub(1))? } else { raw };
                if (raw.starts_with('"') && inner.contains('\\')) || (raw.starts_with('\'') && inner.contains('\'')) {
                    return None;
                }
                edits.push(FixEdit::new(
                    Target::Node { file: existing.loc.file, at: existing.loc.span },
                    EditOp::Replace,
                    tpl::TRAEFIK_NO_RATE_LIMIT_VALUE,
                    json!({ "text": rate_limit_first(inner, &name), "quoted": quoted }),
                ));
            }
            edits.push(FixEdit::new(
                Target::Parent { file: router.loc.file, at: router.loc.span },
                EditOp::Extend,
                tpl::TRAEFIK_NO_RATE_LIMIT_LABELS,
                json!({
                    "middleware": name,
                    "with_period": with_period,
                    "router_middlewares": existing
                        .is_none()
                        .then(|| format!("traefik.http.routers.{}.middlewares", router.name)),
                    "list": list,
                    "quoted": quoted,
                }),
            ));
        }
        Source::File { spec, middlewares: existing, http } => {
            edits.push(FixEdit::new(
                Target::Node { file: http.file, at: http.span },
                EditOp::Merge,
                tpl::TRAEFIK_NO_RATE_LIMIT_FILE_MIDDLEWARE,
                json!({ "middleware": name, "with_period": with_period }),
            ));
            match existing {
                Some(list) => {
                    let mut names = vec![name.clone()];
                    names.extend(router.written.iter().cloned());
                    edits.push(FixEdit::new(
                        Target::Node { file: list.file, at: list.span },
                        EditOp::Replace,
                        tpl::TRAEFIK_NO_RATE_LIMIT_FILE_LIST,
                        json!({ "middlewares": names }),
                    ))
                }
                None => edits.push(FixEdit::new(
                    Target::Node { file: spec.file, at: spec.span },
                    EditOp::Merge,
                    tpl::TRAEFIK_NO_RATE_LIMIT_FILE_ROUTER,
                    json!({ "middleware": name, "items": false }),
                )),
            }
        }
    }
    Some(ctx.fix(title, Applicability::Safe, edits))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_limit_goes_first() {
        assert_eq!(rate_limit_first("auth", "app-ratelimit"), "app-ratelimit,auth");
        assert_eq!(
            rate_limit_first("traefik.http.routers.app.middlewares=auth,gzip", "r"),
            "traefik.http.routers.app.middlewares=r,auth,gzip"
        );
        assert_eq!(rate_limit_first("", "r"), "r");
    }
}
