use serde_json::json;

use super::{Applicability, Context, Finding, Fix, FixEdit, Rule, RuleMeta, Site};
use super::{EditOp, Target};
use crate::fix::render::template as tpl;
use crate::stack::{FileId, Service};

/// The variable holding the e-mail address Let's Encrypt registers.
const ACME_EMAIL: &str = "ACME_EMAIL";
const PROXY: &str = "traefik";
const CERTIFICATES: &str = "traefik-letsencrypt";

/// The flags that make a Traefik like the one this rule adds (the labels it writes rely on them).
const PROXY_FLAGS: &[&str] = &[
    "--providers.docker.exposedbydefault=false",
    "--entrypoints.websecure.address=:443",
    "--certificatesresolvers.letsencrypt.acme.tlschallenge=true",
];

declare_rule! {
    /// ## What it does
    /// Reports production web services (API, backend, frontend, app servers, and services built
    /// from the repository) that publish their port straight to the internet with no reverse
    /// proxy in the stack to terminate TLS. Runs only when asked for
    /// (`stackfix bootstrap --with traefik`, or `--select no-reverse-proxy`): TLS may well end
    /// at a load balancer outside the stack.
    ///
    /// ## Why it matters
    /// Plain HTTP exposes sessions and credentials, and each service reimplements (or forgets)
    /// security headers and rate limits. A reverse proxy terminates TLS and applies them once, in
    /// front of every service.
    ///
    /// ## When it does not apply
    /// Stacks with a reverse proxy (Traefik, nginx, Caddy), ports bound to 127.0.0.1, databases
    /// and other internal services (`database-port-published` covers those), development
    /// configurations next to a production file.
    ///
    /// ## Example
    /// ```yaml
    ///   web:
    ///     build: ./web
    ///     ports:
    ///       - "3000:3000"
    /// ```
    ///
    /// ## Fix
    /// A pinned Traefik v3 (docker provider, nothing exposed by default, HTTP redirected to HTTPS,
    /// Let's Encrypt certificates for `${ACME_EMAIL}`, ping health check, certificates on their own
    /// volume) and, on each web service, labels routing `Host(${<SERVICE>_HOST})` over HTTPS to
    /// its port through security headers (HSTS, nosniff, frame deny, referrer policy) and a rate
    /// limit; in a production overlay or standalone production file the service's own published
    /// ports go. The host names and the e-mail come from variables listed in `.env.example`.
    ///
    /// ## Fix safety
    /// Unsafe: the services are then reached through Traefik on 80/443 only.
    pub struct NoReverseProxy => "no-reverse-proxy" {
        summary: "production web service without a TLS-terminating reverse proxy",
        severity: Warning,
        area: Edge,
        scope: Requested,
        fix: Sometimes,
        applicability: Unsafe,
        seeds: ["000"],
    }
}

/// A web service: an application server by profile, a service built from the repository, or an
/// unknown image whose service or image name says it serves the application (`api`, `web`, …).
fn is_web(ctx: &Context, service: &Service) -> bool {
    let app_words = ctx.stack.profiles.kind("app").map(|k| k.keywords.as_slice()).unwrap_or_default();
    let image =
        service.image.as_ref().map(|i| i.value.rsplit('/').next().unwrap_or("").split(':').next().unwrap_or(""));
    let named_app = [Some(service.name.as_str()), image].into_iter().flatten().any(|name| {
        name.to_ascii_lowercase().split(|c: char| !c.is_ascii_alphanumeric()).any(|w| app_words.iter().any(|k| k == w))
    });
    let web = service.kind == "app" || (service.kind == "generic" && (service.build.is_some() || named_app));
    web && !ctx.config.is_one_shot(service)
}

/// A Traefik configured like the one this rule adds.
fn is_stackfix_proxy(service: &Service) -> bool {
    service.kind == PROXY && PROXY_FLAGS.iter().all(|flag| service.command.iter().any(|w| w == flag))
}

impl Rule for NoReverseProxy {
    fn meta(&self) -> &'static RuleMeta {
        &Self::META
    }

    fn check(&self, ctx: &Context) -> Vec<Finding> {
        let proxies: Vec<&Service> = ctx
            .config
            .services
            .iter()
            .filter(|s| {
                ctx.stack.profiles.kind(&s.kind).is_some_and(|k| k.category == crate::stack::catalog::Category::Proxy)
            })
            .collect();
        let ours = proxies.iter().find(|s| is_stackfix_proxy(s)).copied();
        if !proxies.is_empty() && ours.is_none() {
            return Vec::new();
        }
        let web: Vec<&Service> = ctx
            .config
            .services
            .iter()
            .filter(|s| is_web(ctx, s) && s.ports.iter().any(|p| p.is_public()))
            .filter(|s| s.label("traefik.enable").is_none_or(|v| v.value != "true"))
            .collect();
        // The proxy a fix adds is the same for every web service defined in one file: built once
        // per file, not per service.
        let mut proxies: Vec<(FileId, Option<Vec<FixEdit>>)> = Vec::new();
        let mut out = Vec::new();
        for service in &web {
            let Some(port) = service.ports.iter().find(|p| p.is_public()) else { continue };
            let finding = Finding::new(
                &Self::META,
                port.loc,
                format!(
                    "service `{}` publishes {} straight to the internet: no reverse proxy terminates TLS",
                    service.name,
                    port.described()
                ),
            )
            .service(&service.name)
            .help("put a reverse proxy with TLS, security headers and rate limits in front of it");
            let file = service.definition_site().file;
            let at = match proxies.iter().position(|(f, _)| *f == file) {
                Some(at) => at,
                None => {
                    let edits = if ours.is_some() { Some(Vec::new()) } else { proxy_edits(ctx, file, &web) };
                    proxies.push((file, edits));
                    proxies.len() - 1
                }
            };
            let fix = proxies[at].1.as_deref().and_then(|proxy| fix(ctx, service, &port.target, proxy));
            out.push(finding.with_fix_opt(fix));
        }
        out
    }
}

/// `web` becomes `WEB_HOST`, `api.v2` `API_V2_HOST`.
fn host_variable(service: &str) -> String {
    let upper: String =
        service.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
    format!("{upper}_HOST")
}

/// The edits that add the Traefik service, its certificate volume and `ACME_EMAIL` to `file`
/// (where the web service is defined); `None` when a service already has the proxy's name (the
/// fix cannot add it).
fn proxy_edits(ctx: &Context, file: FileId, web: &[&Service]) -> Option<Vec<FixEdit>> {
    if ctx.config.service(PROXY).is_some() {
        return None;
    }
    let kind = ctx.stack.profiles.kind(PROXY)?;
    // Traefik joins every network a web service is on.
    let networks = super::shared_networks(web.iter().copied());
    let mut edits = vec![FixEdit::new(
        Target::Service(Site::Definition { service: PROXY.to_string(), file }),
        EditOp::Merge,
        tpl::NO_REVERSE_PROXY_TRAEFIK,
        json!({ "image": kind.image, "email": ACME_EMAIL, "volume": CERTIFICATES, "networks": networks }),
    )];
    edits.extend(ctx.production_settings(PROXY, kind, file));
    edits.push(FixEdit::new(
        Target::Root(file),
        EditOp::Merge,
        tpl::NO_REVERSE_PROXY_VOLUME,
        json!({ "volume": CERTIFICATES }),
    ));
    edits.push(FixEdit::env_example(ACME_EMAIL.to_string()));
    Some(edits)
}

/// The fix for one web service: `proxy` (from [`proxy_edits`], empty when the stack has the
/// proxy already), then the service's labels, ports and host variable.
fn fix(ctx: &Context, service: &Service, port: &str, proxy: &[FixEdit]) -> Option<Fix> {
    let container_port: String = port.split('/').next()?.rsplit(':').next()?.to_string();
    if !super::is_service_name(&service.name) || !container_port.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let router = service.name.replace('.', "-");
    let variable = host_variable(&service.name);
    let mut edits = proxy.to_vec();
    let context = json!({ "router": router, "variable": variable, "port": container_port });
    // Labels are normalised to a mapping; how they are written decides how to add to them.
    match service.value.get("labels") {
        Some(labels) if ctx.stack.text(labels.loc.file, labels.loc.span).trim_start().starts_with(['-', '[']) => {
            let mut context = context;
            context["list"] = json!(true);
            edits.push(FixEdit::new(
                Target::Node { file: labels.loc.file, at: labels.loc.span },
                EditOp::Append,
                tpl::NO_REVERSE_PROXY_LABELS,
                context,
            ));
        }
        _ => edits.push(FixEdit::new(
            Target::Service(ctx.definition_site(service)),
            EditOp::Merge,
            tpl::NO_REVERSE_PROXY_LABELS,
            json!({ "labels": true, "router": router, "variable": variable, "port": container_port }),
        )),
    }
    if ctx.has_overlay() {
        edits.push(FixEdit::new(
            Target::Service(ctx.production_site(service)),
            EditOp::Merge,
            tpl::NO_REVERSE_PROXY_PORTS,
            json!({}),
        ));
    } else if ctx.is_dedicated() {
        edits.push(super::keep_private_ports(ctx, service, tpl::NO_REVERSE_PROXY_KEPT_PORTS)?);
    }
    edits.push(FixEdit::env_example(variable.clone()));
    Some(ctx.fix(
        format!(
            "route `{}` through Traefik over HTTPS (host from `{variable}`), with security headers and a rate limit",
            service.name
        ),
        Applicability::Unsafe,
        edits,
    ))
}
