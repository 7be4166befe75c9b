use serde_json::json;

use super::no_healthcheck;
use super::{Applicability, Context, Finding, Fix, FixEdit, Rule, RuleMeta};
use super::{EditOp, Target};
use crate::fix::render::template as tpl;
use crate::stack::probe::{self, ProbeChoice};
use crate::stack::service::{Dependency, HealthTest};
use crate::stack::Service;

/// What a dependency should be waited for with, and how sure that is.
enum Wait {
    /// `service_healthy`: it has a health check, or gets the probe `no-healthcheck` adds (whose
    /// edits the fix takes along, and is no safer than).
    Healthy { applicability: Applicability, probe: Option<Vec<FixEdit>> },
    /// `service_completed_successfully`: a one-shot job.
    Completed { applicability: Applicability, why: &'static str },
    /// `service_started`: it has no health check and none can be added; the reason says why.
    Started(String),
    /// Nothing to say: its health check is disabled on purpose.
    Chosen,
    /// It has or could get a health check here, but the condition cannot be written: the reason
    /// says why.
    Blocked(String),
}

/// The wait of every service some service depends on, by name (each worked out once: a fix
/// restates a whole list, and a stack may hold thousands of dependants).
type Waits<'a> = std::collections::HashMap<&'a str, Wait>;

fn wait(ctx: &Context, target: &Service) -> Wait {
    if matches!(&target.healthcheck, Some(h) if h.value == HealthTest::Disabled) {
        return Wait::Chosen;
    }
    if ctx.config.is_one_shot(target) {
        let awaited = ctx.config.is_awaited(&target.name);
        return if awaited {
            Wait::Completed { applicability: Applicability::Safe, why: "others wait for it to complete" }
        } else {
            Wait::Completed {
                applicability: Applicability::Unsafe,
                why: "its name, command or restart policy says it runs once",
            }
        };
    }
    if let Some(why) = unhealthy_elsewhere(ctx, target) {
        return Wait::Blocked(why);
    }
    if target.has_healthcheck() {
        return Wait::Healthy { applicability: Applicability::Safe, probe: None };
    }
    match probe::choose(target, ctx.config, &ctx.stack.profiles) {
        // Its edits are taken along: they are judged again as this fix's own.
        ProbeChoice::Probe(p) => match no_healthcheck::fix(&ctx.keeping_edits(), target, &p) {
            Some(fix) => {
                let rule = no_healthcheck::NoHealthcheck::META.id;
                let edits = fix.edits.iter().map(|e| e.clone().taken_from(rule, &fix.title)).collect();
                Wait::Healthy { applicability: fix.applicability, probe: Some(edits) }
            }
            None => Wait::Started("its probe cannot be added here".to_string()),
        },
        ProbeChoice::Nothing(why) => Wait::Started(why),
    }
}

/// Why `service_healthy` on `target` cannot be written into this configuration's files: another
/// configuration that reads one of them (the base under a production overlay) disables
/// `target`'s health check, or has none for it where this one has (an overlay's `!reset`), and
/// compose refuses to start a dependant that waits for the health of a service without one.
/// `None` when none does.
fn unhealthy_elsewhere(ctx: &Context, target: &Service) -> Option<String> {
    let this = ctx.config;
    ctx.stack.configs.iter().filter(|c| !std::ptr::eq(*c, this) && c.files.iter().any(|f| this.files.contains(f))).find_map(
        |other| {
            let there = other.service(&target.name)?;
            let disabled = matches!(&there.healthcheck, Some(h) if h.value == HealthTest::Disabled);
            (disabled || (target.has_healthcheck() && !there.has_healthcheck())).then(|| {
                let files: Vec<String> = other
                    .files
                    .iter()
                    .map(|&f| ctx.stack.file(f).path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned()))
                    .collect();
                format!(
                    "`{}` has no health check where it runs from {}, which reads the same file: a `service_healthy` written here would never be met there",
                    target.name,
                    files.join(" + ")
                )
            })
        },
    )
}

/// The short-form list written in this file rewritten in the long form, every dependency with
/// its condition; as safe as its least certain condition.
fn fix(ctx: &Context, service: &Service, dep: &Dependency, waits: &Waits) -> Option<Fix> {
    // A list an anchor shares is rewritten there when every user's rewrite is the same (settled by
    // `rules::check`); an alias standing for the whole list is not rewritten.
    let list = service.value.get("depends_on").filter(|l| {
        l.loc.file == dep.loc.file && !ctx.stack.text(l.loc.file, l.loc.span).trim_start().starts_with('*')
    })?;
    // Compose interpolates list items but not mapping keys: `${DB_HOST:-db}` cannot become a key.
    if service.depends_on.iter().any(|d| ctx.stack.text(d.loc.file, d.loc.primary()).contains('$')) {
        return None;
    }
    let mut probes = Vec::new();
    let mut applicability = Applicability::Safe;
    let mut deps = Vec::new();
    for d in service.depends_on.iter().filter(|d| d.loc.file == list.loc.file && d.condition.is_none()) {
        let condition = match waits.get(d.service.as_str()) {
            Some(Wait::Healthy { applicability: a, probe }) => {
                applicability = applicability.min(*a);
                probes.extend(probe.iter().flatten().cloned());
                "service_healthy"
            }
            Some(Wait::Completed { applicability: a, .. }) => {
                applicability = applicability.min(*a);
                "service_completed_successfully"
            }
            _ => "service_started",
        };
        deps.push(json!({ "name": d.service, "condition": condition }));
    }
    let title = format!("wait for `{}` in the long form, each dependency with its condition", dep.service);
    let edit = FixEdit::new(
        Target::Node { file: list.loc.file, at: list.loc.span },
        EditOp::Replace,
        tpl::DEPENDS_ON_WITHOUT_HEALTH_CONDITION,
        json!({ "dependencies": deps }),
    );
    let mut edits = vec![edit];
    edits.extend(probes);
    Some(ctx.fix(title, applicability, edits))
}

declare_rule! {
    /// ## What it does
    /// Reports `depends_on` entries in the short (list) form, which only wait for a dependency to
    /// *start*: a long-running dependency should be waited for with `condition: service_healthy`,
    /// a one-shot job (a migration, an init container) with `service_completed_successfully`. An
    /// explicit `condition: service_started` onto a dependency that has a health check is
    /// reported without a fix: the authors chose it.
    ///
    /// ## Why it matters
    /// A started database is not a ready one: the dependent service races it and crashes or logs
    /// connection errors on every deploy. `condition: service_healthy` makes compose start it only
    /// once the dependency's health check passes.
    ///
    /// ## When it does not apply
    /// Conditions the authors wrote (`service_healthy`, `service_completed_successfully`), and
    /// dependencies whose health check is disabled on purpose (`disable: true`, `test: ["NONE"]`).
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
    /// The long form restates every dependency of the list with its condition. Safe when each
    /// condition stands on known facts: the dependency has a health check, or gets a known probe
    /// (the fix adds it, as `no-healthcheck` would). Unsafe when a probe it needs is a guess, or
    /// a job is taken for one-shot from its name or restart policy alone. A dependency that can
    /// get no probe keeps `service_started`, and is still reported: the startup race is the
    /// problem.
    pub struct DependsOnWithoutHealthCondition => "depends-on-without-health-condition" {
        summary: "depends_on waits for start, not health",
        severity: Warning,
        area: Health,
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
        let mut waits = Waits::new();
        for dep in ctx.config.services.iter().flat_map(|s| &s.depends_on) {
            if !waits.contains_key(dep.service.as_str()) {
                if let Some(target) = ctx.config.service(&dep.service) {
                    waits.insert(&dep.service, wait(ctx, target));
                }
            }
        }
        let mut out = Vec::new();
        for service in &ctx.config.services {
            for dep in &service.depends_on {
                let Some(wait) = waits.get(dep.service.as_str()) else { continue };
                if let Some(condition) = &dep.condition {
                    // The authors chose: reported only when a health check is already there.
                    let reportable =
                        condition.value == "service_started" && matches!(wait, Wait::Healthy { probe: None, .. });
                    if reportable {
                        out.push(
                            Finding::new(
                                &Self::META,
                                condition.loc,
                                format!(
                                    "service `{}` waits only for `{}` to start (`condition: service_started`), though it has a health check",
                                    service.name, dep.service
                                ),
                            )
                            .service(&service.name)
                            .help("the authors chose `service_started`; use `service_healthy` if the service needs it ready"),
                        );
                    }
                    continue;
                }
                let (message, help) = match wait {
                    Wait::Chosen => continue,
                    Wait::Blocked(why) => (
                        format!(
                            "service `{}` waits only for `{}` to start (the short form)",
                            service.name, dep.service
                        ),
                        format!("not fixed: {why}"),
                    ),
                    Wait::Completed { why, .. } => (
                        format!(
                            "service `{}` waits only for `{}` to start, but `{}` is a one-shot job; use `condition: service_completed_successfully`",
                            service.name, dep.service, dep.service
                        ),
                        format!("`{}` looks one-shot: {why}", dep.service),
                    ),
                    Wait::Healthy { .. } => (
                        format!(
                            "service `{}` waits only for `{}` to start (the short form); use `condition: service_healthy`",
                            service.name, dep.service
                        ),
                        format!("`{}` has or gets a health check to wait for", dep.service),
                    ),
                    Wait::Started(why) => (
                        format!(
                            "service `{}` waits only for `{}` to start (the short form), and `{}` has no health check to wait for",
                            service.name, dep.service, dep.service
                        ),
                        format!("add a health check to `{}` by hand ({why}), then `condition: service_healthy`", dep.service),
                    ),
                };
                let fixable = !matches!(wait, Wait::Started(_) | Wait::Blocked(_));
                out.push(
                    Finding::new(&Self::META, dep.loc, message)
                        .service(&service.name)
                        .help(help)
                        .with_fix_opt(fixable.then(|| fix(ctx, service, dep, &waits)).flatten()),
                );
            }
        }
        out
    }
}
