use super::{Applicability, Context, Finding, Rule, RuleMeta};
use crate::stack::service::HealthTest;

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
        fix: Always,
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
            let probe = ctx.stack.profiles.kind(&service.kind).and_then(|k| k.healthcheck.clone());
            let (applicability, help) = match probe {
                Some(test) => {
                    (Applicability::Safe, format!("the `{}` profile probes with `{}`", service.kind, test.join(" ")))
                }
                None => (
                    Applicability::Unsafe,
                    "no known probe for this image; an HTTP probe on its port would be a guess".to_string(),
                ),
            };
            out.push(
                Finding::new(&Self::META, site, format!("service `{}` has no health check", service.name))
                    .service(&service.name)
                    .help(help)
                    .fix_at(site, service.route(), applicability),
            );
        }
        out
    }
}
