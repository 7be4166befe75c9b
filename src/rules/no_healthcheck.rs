use serde_json::json;

use super::{Applicability, Context, Finding, Fix, FixEdit, Rule, RuleMeta};
use crate::stack::service::HealthTest;
use crate::stack::Service;

/// Ports of well-known protocols that are not HTTP.
const NOT_HTTP_PORTS: &[&str] = &[
    "21", "22", "25", "53", "110", "143", "389", "1883", "2181", "3306", "4222", "5432", "5671", "5672", "6222",
    "6379", "7000", "7001", "8883", "9042", "9092", "11211", "27017", "61616",
];

/// An HTTP probe with a tool the image has: its language runtime when the Dockerfile says which,
/// busybox `wget` on Alpine, else `curl`.
fn http_probe(service: &Service, port: &str) -> Vec<String> {
    let url = format!("http://127.0.0.1:{port}/");
    let base = service
        .base_image
        .as_deref()
        .or(service.image.as_ref().map(|i| i.value.as_str()))
        .unwrap_or("")
        .to_ascii_lowercase();
    let name = base.rsplit('/').next().unwrap_or("");
    if name.starts_with("python") {
        vec![
            "CMD".into(),
            "python".into(),
            "-c".into(),
            format!("import urllib.request; urllib.request.urlopen('{url}', timeout=4)"),
        ]
    } else if name.starts_with("node") {
        vec![
            "CMD".into(),
            "node".into(),
            "-e".into(),
            format!("fetch('{url}').then(r => process.exit(r.status < 500 ? 0 : 1), () => process.exit(1))"),
        ]
    } else if name.contains("alpine") {
        vec!["CMD-SHELL".into(), format!("wget -q --spider {url} || exit 1")]
    } else {
        vec!["CMD-SHELL".into(), format!("curl -fsS {url} || exit 1")]
    }
}

/// The container port a service listens on: its first `expose`, else its first published target.
fn service_port(service: &Service) -> Option<String> {
    let exposed = service.value.get("expose").and_then(|e| e.items().first()).and_then(|p| p.as_str());
    let port = exposed.map(str::to_string).or_else(|| service.ports.first().map(|p| p.target.clone()))?;
    let port = port.split(['/', '-']).next()?.to_string();
    port.parse::<u16>().is_ok().then_some(port)
}

declare_rule! {
    /// ## What it does
    /// Reports long-running services without a health check: no `healthcheck:` in compose, no
    /// HEALTHCHECK in the Dockerfile they build from, and an image not known to declare one.
    ///
    /// ## Why it matters
    /// Without a probe, `depends_on` cannot wait for readiness, restarts do not catch hung processes
    /// and `docker ps` shows "Up" for a dead service. Seed 002: "Missing health checks for
    /// application services (api, web, auth, documents, ml-api)", "No health check for nginx".
    ///
    /// ## When it does not apply
    /// One-shot jobs (migrations, init; `restart: "no"`; awaited with
    /// `service_completed_successfully`), images with a built-in HEALTHCHECK, services whose
    /// Dockerfile declares one, and health checks disabled on purpose (`disable: true`, `NONE`).
    ///
    /// ## Example
    /// ```yaml
    ///   postgres:
    ///     image: postgres:16
    /// ```
    ///
    /// ## Fix
    /// The profile's probe for the image (`pg_isready`, `redis-cli ping`, `mysqladmin ping`,
    /// `mongosh`), or an HTTP probe on the service's port:
    /// ```yaml
    ///     healthcheck:
    ///       test: ["CMD-SHELL", "pg_isready -U $${POSTGRES_USER:-postgres}"]
    ///       interval: 10s
    ///       timeout: 5s
    ///       retries: 5
    /// ```
    ///
    /// ## Fix safety
    /// Safe when the profile knows the probe; unsafe when the HTTP endpoint is a guess.
    pub struct NoHealthcheck => "no-healthcheck" {
        summary: "service has no health check",
        severity: Warning,
        scope: Any,
        fix: Sometimes,
        applicability: Safe,
        seeds: ["001", "002", "003"],
    }
}

impl Rule for NoHealthcheck {
    fn meta(&self) -> &'static RuleMeta {
        &Self::META
    }

    fn check(&self, ctx: &Context) -> Vec<Finding> {
        let mut out = Vec::new();
        for service in &ctx.config.services {
            let has_own = matches!(&service.healthcheck, Some(h) if h.value != HealthTest::Inherit);
            let disabled = matches!(&service.healthcheck, Some(h) if h.value == HealthTest::Disabled);
            let inherits =
                matches!(&service.healthcheck, Some(h) if h.value == HealthTest::Inherit) && service.image_healthcheck;
            if has_own || disabled || inherits || service.image_healthcheck || ctx.config.is_one_shot(service) {
                continue;
            }
            let site = service.definition_site();
            let kind = ctx.stack.profiles.kind(&service.kind);
            let probe = kind.and_then(|k| k.healthcheck.clone());
            // Only an application's own HTTP port is worth a guess; an unknown image on an unknown
            // protocol (NATS on 4222, say) would get a probe that always fails.
            let is_app = kind.is_some_and(|k| k.category == "app" && k.name != "generic");
            let port = service_port(service).filter(|p| is_app && !NOT_HTTP_PORTS.contains(&p.as_str()));
            let (test, applicability, help) = match (probe, port) {
                (Some(test), _) => {
                    let help = format!("the `{}` profile probes with `{}`", service.kind, test.join(" "));
                    (Some(test), Applicability::Safe, help)
                }
                (None, Some(port)) => (
                    Some(http_probe(service, &port)),
                    Applicability::Unsafe,
                    format!("no known probe for this image; an HTTP probe on port {port} is a guess"),
                ),
                (None, None) => {
                    (None, Applicability::Unsafe, "no known probe for this image and no port to probe".to_string())
                }
            };
            let mut finding =
                Finding::new(&Self::META, site, format!("service `{}` has no health check", service.name))
                    .service(&service.name)
                    .help(help);
            if let Some(test) = test {
                let title =
                    format!("add a health check: {}", test.iter().skip(1).cloned().collect::<Vec<_>>().join(" "));
                finding = finding.with_fix(Fix::new(
                    title,
                    applicability,
                    vec![FixEdit::MergeService {
                        site: ctx.definition_site(service),
                        template: "no-healthcheck",
                        context: json!({
                            "test": test,
                            "interval": "30s",
                            "timeout": "5s",
                            "retries": 5,
                            "start_period": "30s",
                        }),
                    }],
                ));
            }
            out.push(finding);
        }
        out
    }
}
