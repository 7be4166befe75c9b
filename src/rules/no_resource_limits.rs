use serde_json::json;

use super::{Applicability, Context, Finding, Fix, FixEdit, Rule, RuleMeta, Site};
use crate::stack::profiles::Resources;

declare_rule! {
    /// ## What it does
    /// Reports production services without a memory limit (`deploy.resources.limits.memory`, or the
    /// legacy `mem_limit`).
    ///
    /// ## Why it matters
    /// One leaking or overloaded container can take the host's memory and kill its neighbours; the
    /// audit reports rank this critical ("No resource limits defined for any service", seed 002;
    /// "Missing resource limits: No memory/CPU constraints", seed 001; "Resource Limits: No
    /// container resource constraints", seed 000).
    ///
    /// ## When it does not apply
    /// Development configurations next to a production file, and one-shot jobs (migrations, init
    /// containers, anything awaited with `service_completed_successfully` or `restart: "no"`).
    ///
    /// ## Example
    /// ```yaml
    /// services:
    ///   postgres:
    ///     image: postgres:16
    /// ```
    ///
    /// ## Fix
    /// Limits and reservations sized by the service's profile (postgres 2G/1G, redis 512M/256M,
    /// backend 4G/1G, celery worker 2G/1G, beat 512M), in the production overlay when there is one:
    /// ```yaml
    ///     deploy:
    ///       resources:
    ///         limits: {memory: 2G, cpus: "2.0"}
    ///         reservations: {memory: 1G, cpus: "1.0"}
    /// ```
    ///
    /// ## Fix safety
    /// Safe: it adds settings that were missing and keeps every comment.
    pub struct NoResourceLimits => "no-resource-limits" {
        summary: "service has no memory limit",
        severity: Error,
        scope: Production,
        fix: Always,
        applicability: Safe,
        seeds: ["000", "001", "002"],
    }
}

impl Rule for NoResourceLimits {
    fn meta(&self) -> &'static RuleMeta {
        &Self::META
    }

    fn check(&self, ctx: &Context) -> Vec<Finding> {
        let mut out = Vec::new();
        for service in &ctx.config.services {
            if service.memory_limit.is_some() || ctx.config.is_one_shot(service) {
                continue;
            }
            let site = service.production_site();
            let kind = ctx.stack.profiles.kind(&service.kind);
            let limits = kind.map(|k| k.limits.clone()).unwrap_or_default();
            let reservations = kind.map(|k| k.reservations.clone()).unwrap_or_default();
            let mut finding = Finding::new(
                &Self::META,
                site,
                format!("service `{}` has no memory limit (`deploy.resources.limits.memory`)", service.name),
            )
            .service(&service.name);
            if let Some(memory) = &limits.memory {
                finding = finding.help(format!("the `{}` profile suggests a {memory} limit", service.kind)).with_fix(
                    Fix::new(
                        format!("add resource limits ({memory}) and reservations"),
                        Applicability::Safe,
                        vec![limits_edit(ctx.production_site(service), &limits, &reservations)],
                    ),
                );
            }
            out.push(finding);
        }
        out
    }
}

/// Limits and reservations (a profile's figures) at `site`.
pub(super) fn limits_edit(site: Site, limits: &Resources, reservations: &Resources) -> FixEdit {
    FixEdit::MergeService {
        site,
        template: "no-resource-limits",
        context: json!({
            "memory": limits.memory,
            "cpus": limits.cpus,
            "reservation_memory": reservations.memory,
            "reservation_cpus": reservations.cpus,
        }),
    }
}
