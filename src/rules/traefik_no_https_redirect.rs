use serde_json::json;

use super::{Applicability, Context, Finding, FixEdit, Rule, RuleMeta};
use super::{EditOp, Target};
use crate::fix::render::template as tpl;
use crate::stack::side::{traefik_version, TraefikConfig};
use crate::stack::{Loc, Value};

declare_rule! {
    /// ## What it does
    /// Reports a Traefik whose plain-HTTP entrypoint (`:80`) serves requests as they come while
    /// TLS is set up (an entrypoint on `:443` or a certificate resolver), with no redirection to
    /// HTTPS on the entrypoint and no `redirectscheme` middleware anywhere.
    ///
    /// ## Why it matters
    /// Clients that type `http://` keep talking in clear text, cookies included. A production
    /// Traefik redirects its HTTP entry point to the HTTPS one.
    ///
    /// ## When it does not apply
    /// Stacks without TLS, and stacks that redirect with a `redirectscheme` middleware.
    ///
    /// ## Example
    /// ```yaml
    ///     command:
    ///       - --entrypoints.web.address=:80
    ///       - --entrypoints.websecure.address=:443
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    ///       - --entrypoints.web.http.redirections.entrypoint.to=websecure
    ///       - --entrypoints.web.http.redirections.entrypoint.scheme=https
    /// ```
    /// appended to the command list, or `http.redirections.entryPoint` under the entrypoint in a
    /// static file. The same keys in Traefik v2 (from v2.2, read from the image tag) and v3;
    /// older versions are left for a person.
    ///
    /// ## Fix safety
    /// Unsafe: plain-HTTP clients (a load balancer's health check, say) now get a redirect.
    pub struct TraefikNoHttpsRedirect => "traefik-no-https-redirect" {
        summary: "HTTP entrypoint not redirected to HTTPS",
        severity: Warning,
        area: Edge,
        scope: Production,
        fix: Sometimes,
        applicability: Unsafe,
        seeds: ["004"],
        judges: ["traefik"],
    }
}

/// Entrypoints as (name, address, where the address is written, from a static file), names as
/// written (Traefik's are case-sensitive: a redirection to `websecure` does not reach
/// `WebSecure`).
fn entrypoints(traefik: &TraefikConfig, command: Option<&Value>) -> Vec<(String, String, Option<Loc>, bool)> {
    traefik
        .entry_points
        .iter()
        .filter_map(|ep| {
            let address = ep.address.clone()?;
            let loc = match ep.spec {
                Some(spec) => Some(spec),
                None => command_item_ignoring_case(command, &format!("--entrypoints.{}.address", ep.name)),
            };
            Some((ep.name.clone(), address, loc, ep.spec.is_some()))
        })
        .collect()
}

/// The command item `--flag=…` (or `--flag`) where the flag's option names may be written in any
/// case (`--entryPoints.web.address`) and the entry point's name as it is.
fn command_item_ignoring_case(command: Option<&Value>, flag: &str) -> Option<Loc> {
    let parts: Vec<&str> = flag.split('.').collect();
    command?.items().iter().find_map(|item| {
        let text = item.as_str()?;
        let written = text.split_once('=').map_or(text, |(k, _)| k);
        let theirs: Vec<&str> = written.split('.').collect();
        let same = theirs.len() == parts.len()
            && theirs
                .iter()
                .zip(&parts)
                .enumerate()
                .all(|(i, (a, b))| if i == 1 { a == b } else { a.eq_ignore_ascii_case(b) });
        same.then_some(item.loc)
    })
}

fn redirects_somewhere(ctx: &Context, traefik: &TraefikConfig) -> bool {
    let in_args = traefik.args.iter().any(|(k, _)| k.contains(".http.redirections."));
    let in_file = traefik.static_doc.as_ref().is_some_and(|d| {
        d.get("entryPoints")
            .map(Value::entries)
            .unwrap_or_default()
            .iter()
            .any(|(_, s)| s.path(&["http", "redirections"]).is_some())
    });
    let middleware = ctx
        .config
        .services
        .iter()
        .flat_map(|s| &s.labels)
        .any(|(k, _)| k.starts_with("traefik.") && k.to_ascii_lowercase().contains(".redirectscheme."))
        || traefik.dynamic.iter().any(|(_, doc)| {
            doc.path(&["http", "middlewares"])
                .map(Value::entries)
                .unwrap_or_default()
                .iter()
                .any(|(_, m)| m.entries().iter().any(|(k, _)| k.eq_ignore_ascii_case("redirectScheme")))
        });
    in_args || in_file || middleware
}

impl Rule for TraefikNoHttpsRedirect {
    fn meta(&self) -> &'static RuleMeta {
        &Self::META
    }

    fn check(&self, ctx: &Context) -> Vec<Finding> {
        let mut out = Vec::new();
        for traefik in &ctx.config.traefik {
            let Some(service) = ctx.config.service(&traefik.service) else { continue };
            let command = service.value.get("command");
            let points = entrypoints(traefik, command);
            let port_of = |address: &str| address.rsplit(':').next().unwrap_or_default().to_string();
            let Some(secure) = points.iter().find(|p| port_of(&p.1) == "443") else { continue };
            let Some(web) = points.iter().find(|p| port_of(&p.1) == "80") else { continue };
            if redirects_somewhere(ctx, traefik) {
                continue;
            }
            // Entrypoint redirections exist from Traefik v2.2 on.
            let supported = traefik_version(service).is_none_or(|v| v >= (2, 2));
            let (web_name, _, loc, in_file) = web;
            let edit = match (loc.filter(|_| supported), in_file) {
                (Some(loc), true) => Some(FixEdit::new(
                    Target::Node { file: loc.file, at: loc.span },
                    EditOp::Merge,
                    tpl::TRAEFIK_NO_HTTPS_REDIRECT_STATIC,
                    json!({ "to": secure.0 }),
                )),
                (Some(_), false) => command.filter(|c| !c.items().is_empty()).map(|c| {
                    FixEdit::new(
                        Target::Node { file: c.loc.file, at: c.loc.span },
                        EditOp::Append,
                        tpl::TRAEFIK_NO_HTTPS_REDIRECT_ARGS,
                        json!({ "entrypoint": web_name, "to": secure.0 }),
                    )
                }),
                (None, _) => None,
            };
            let title = format!("redirect entrypoint `{web_name}` to `{}` (https)", secure.0);
            out.push(
                Finding::new(
                    &Self::META,
                    loc.unwrap_or(service.definition_site()),
                    format!(
                        "Traefik `{}` serves plain HTTP on `{web_name}` although `{}` has TLS; it does not redirect",
                        traefik.service, secure.0
                    ),
                )
                .service(&traefik.service)
                .help("redirect the HTTP entrypoint to the HTTPS one (`http.redirections.entryPoint`)")
                .with_fix_opt(edit.map(|e| ctx.fix(title, Applicability::Unsafe, vec![e]))),
            );
        }
        out
    }
}
