use serde_json::json;

use super::{Applicability, Context, Finding, Fix, FixEdit, Rule, RuleMeta};
use crate::stack::service::Dependency;
use crate::stack::Service;

/// Whether a dependency can be waited on with `service_healthy`.
#[derive(PartialEq)]
enum Health {
    /// It has a health check (its own or its image's).
    Reports,
    /// It will once `no-healthcheck` adds its profile's probe.
    Gets,
    No,
}

fn health(ctx: &Context, target: &Service) -> Health {
    if ctx.config.is_one_shot(target) {
        Health::No
    } else if target.has_healthcheck() || target.image_healthcheck {
        Health::Reports
    } else if ctx.stack.profiles.kind(&target.kind).is_some_and(|k| k.healthcheck.is_some()) {
        Health::Gets
    } else {
        Health::No
    }
}

/// The long form with a health condition; a dependency that gets its health check from
/// `no-healthcheck` makes the fix require that one.
fn fix(ctx: &Context, service: &Service, dep: &Dependency) -> Option<Fix> {
    let title = format!("wait for `{}` to be healthy", dep.service);
    let mut requires = Vec::new();
    let mut healthy = |name: &str| {
        let target = ctx.config.service(name)?;
        match health(ctx, target) {
            Health::Reports => Some(true),
            Health::Gets => {
                requires.push((super::no_healthcheck::NoHealthcheck::META.id, name.to_string()));
                Some(true)
            }
            Health::No => Some(false),
        }
    };
    let edit = if let Some(condition) = &dep.condition {
        if healthy(&dep.service) != Some(true) {
            return None;
        }
        FixEdit::ReplaceAt {
            file: condition.loc.file,
            at: condition.loc.span,
            template: "depends-on-without-health-condition.condition",
            context: json!({ "condition": "service_healthy" }),
        }
    } else {
        // The short form: rewrite the whole list, written in this file, in the long form.
        let list = service.value.get("depends_on").filter(|l| l.loc.file == dep.loc.file)?;
        let deps: Vec<_> = service
            .depends_on
            .iter()
            .filter(|d| d.loc.file == list.loc.file && d.condition.is_none())
            .map(|d| {
                let condition = if healthy(&d.service) == Some(true) { "service_healthy" } else { "service_started" };
                json!({ "name": d.service, "condition": condition })
            })
            .collect();
        FixEdit::ReplaceAt {
            file: list.loc.file,
            at: list.loc.span,
            template: "depends-on-without-health-condition",
            context: json!({ "dependencies": deps }),
        }
    };
    let mut fix = Fix::new(title, Applicability::Safe, vec![edit]);
    fix.requires = requires;
    Some(fix)
}

declare_rule! {
    /// ## What it does
    /// Reports `depends_on` entries that only wait for a dependency to *start* (the short list form,
    /// or `condition: service_started`) when the dependency has, or can get, a health check.
    ///
    /// ## Why it matters
    /// A started database is not a ready one: the dependent service races it and crashes or logs
    /// connection errors on every deploy. Seed 002 asks for `condition: service_healthy` on every
    /// dependency; seeds 001 and 003 count "`depends_on` with `service_healthy` conditions" as
    /// strengths.
    ///
    /// ## When it does not apply
    /// Dependencies that are one-shot jobs (they need `service_completed_successfully`), and
    /// dependencies with no health check and no known probe.
    ///
    /// ## Example
    /// ```yaml
    ///   api:
    ///     depends_on: [postgres]
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    ///     depends_on:
    ///       postgres:
    ///         condition: service_healthy
    /// ```
    ///
    /// ## Fix safety
    /// Safe: the long form restates the dependency and adds the condition.
    pub struct DependsOnWithoutHealthCondition => "depends-on-without-health-condition" {
        summary: "depends_on waits for start, not health",
        severity: Warning,
        scope: Any,
        fix: Sometimes,
        applicability: Safe,
        seeds: ["001", "002", "003"],
    }
}

impl Rule for DependsOnWithoutHealthCondition {
    fn meta(&self) -> &'static RuleMeta {
        &Self::META
    }

    fn check(&self, ctx: &Context) -> Vec<Finding> {
        let mut out = Vec::new();
        for service in &ctx.config.services {
            for dep in &service.depends_on {
                if dep.condition.as_ref().is_some_and(|c| c.value != "service_started") {
                    continue;
                }
                let Some(target) = ctx.config.service(&dep.service) else {
                    continue;
                };
                if health(ctx, target) == Health::No {
                    continue;
                }
                let loc = dep.condition.as_ref().map_or(dep.loc, |c| c.loc);
                let wording = if dep.condition.is_some() { "`condition: service_started`" } else { "the short form" };
                out.push(
                    Finding::new(
                        &Self::META,
                        loc,
                        format!(
                            "service `{}` waits only for `{}` to start ({wording}); use `condition: service_healthy`",
                            service.name, dep.service
                        ),
                    )
                    .service(&service.name)
                    .with_fix_opt(fix(ctx, service, dep)),
                );
            }
        }
        out
    }
}
