use serde_json::json;

use super::{Applicability, Context, Finding, FixEdit, Rule, RuleMeta, Site};
use super::{EditOp, Target};
use crate::fix::render::template as tpl;
use crate::stack::facts::{self, memory_bytes, memory_text};
use crate::stack::profiles::Resources;
use crate::stack::Service;

declare_rule! {
    /// ## What it does
    /// Reports production services without a memory limit (`deploy.resources.limits.memory`, or the
    /// legacy `mem_limit`; `0` and `-1` there are no limit, and are reported where they are
    /// written, without a fix), JVM services whose limit is at or below their heap (`-Xmx` in
    /// `ES_JAVA_OPTS`, `KAFKA_HEAP_OPTS`, `JAVA_OPTS`…, or the image's default heap), and services
    /// whose limit is under what their settings make them use (redis `maxmemory`, memcached
    /// `-m`, Node's `--max-old-space-size`, postgres `shared_buffers`).
    ///
    /// ## Why it matters
    /// One leaking or overloaded container can take the host's memory and kill its neighbours;
    /// production-readiness audits rank a stack without limits critical.
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
    /// backend 4G/1G, celery worker 2G/1G, beat 512M), in the production overlay when there is one.
    /// A JVM service's limit is at least its heap plus what the JVM needs besides (the heap from
    /// `-Xmx` in `ES_JAVA_OPTS`, `KAFKA_HEAP_OPTS`, `JAVA_OPTS`…, else the image's default from the
    /// catalog: twice the heap for Elasticsearch and OpenSearch, whose documentation keeps the
    /// heap at most half the memory; one and a half times for other JVMs), and at least what the
    /// server is set to use (redis `maxmemory` plus a third, memcached `-m` and Node's
    /// `--max-old-space-size` plus half, four times postgres's `shared_buffers`), in every
    /// configuration that reads the file the limit goes into (a default override that sets redis
    /// to `--maxmemory 1gb` over the base's `512mb` sizes it for 1gb). It is never below a
    /// reservation already set, keeps what is set (a `cpus` limit, a reservation) and is written
    /// in the spelling the service already uses (`mem_limit` next to `cpus` or `mem_reservation`,
    /// which compose refuses to combine with `deploy.resources`):
    /// ```yaml
    ///     deploy:
    ///       resources:
    ///         limits: {memory: 2G, cpus: "2.0"}
    ///         reservations: {memory: 1G, cpus: "1.0"}
    /// ```
    ///
    /// ## Fix safety
    /// Safe when the service's kind comes from its image (a pulled image a profile or the catalog
    /// knows): it adds settings that were missing and keeps every comment; the figures are policy
    /// (the profile's), bounded below by the facts that would make a limit kill the service.
    /// Unsafe when the kind comes from the service's name, its command or a Dockerfile built here,
    /// or is the generic default: what the process needs is then not known, and a limit under it
    /// is an OOM kill.
    pub struct NoResourceLimits => "no-resource-limits" {
        summary: "service has no memory limit",
        severity: Error,
        area: Resources,
        scope: Production,
        fix: Sometimes,
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
            if let Some(limit) = &service.memory_limit {
                // A limit at or under what the process is set to use (a JVM heap, redis
                // maxmemory, …) is an OOM kill waiting for it to fill.
                let bytes = memory_bytes(&limit.value);
                if let (Some(bytes), Some(need)) = (bytes, facts::memory_need(service, redis_conf(ctx, service))) {
                    if bytes <= need.uses {
                        out.push(
                            Finding::new(
                                &Self::META,
                                limit.loc,
                                format!(
                                    "service `{}` has a memory limit of {} at or below what it is set to use ({}): it is killed when that fills",
                                    service.name,
                                    limit.value,
                                    memory_text(need.uses)
                                ),
                            )
                            .service(&service.name)
                            .help(format!("{}; raise the limit or lower the setting", need.evidence)),
                        );
                    }
                }
                continue;
            }
            if ctx.config.is_one_shot(service) {
                continue;
            }
            let site = service.production_site();
            let kind = ctx.stack.profiles.kind(&service.kind);
            let limits = kind.map(|k| k.limits.clone()).unwrap_or_default();
            let reservations = kind.map(|k| k.reservations.clone()).unwrap_or_default();
            // A limit written as `0` or `-1` is none: it is reported where it is written, and
            // left to a person to set (a fix does not overwrite what is written).
            if let Some((key, value)) = written_unlimited(service) {
                let written = value.written().unwrap_or_default();
                out.push(
                    Finding::new(
                        &Self::META,
                        value.loc,
                        format!("service `{}` sets `{key}: {written}`, which is no memory limit", service.name),
                    )
                    .service(&service.name)
                    .help("write the memory the service may use in its place (`0` and `-1` mean no limit)"),
                );
                continue;
            }
            let mut finding = Finding::new(
                &Self::META,
                site,
                format!("service `{}` has no memory limit (`deploy.resources.limits.memory`)", service.name),
            )
            .service(&service.name);
            if let Some(why) = facts::heap_unknown(service) {
                out.push(finding.help(format!("not fixed: {why}; set the limit above the heap by hand")));
                continue;
            }
            if let Some(sizing) = size(service, widest_need(ctx, service), &limits, &reservations) {
                let (applicability, caveat) = match kind_is_known(ctx, service) {
                    true => (Applicability::Safe, String::new()),
                    false => (Applicability::Unsafe, format!("; but what `{}` needs is not known (its kind, `{}`, does not come from a known image), so the figure is a default to check against its use", service.name, service.kind)),
                };
                finding = finding.help(format!("{}{caveat}", sizing.why)).with_fix(ctx.fix(
                    title(sizing.limits.memory.as_deref().unwrap_or("")),
                    applicability,
                    vec![service_limits_edit(ctx, service, &sizing)],
                ));
            }
            out.push(finding);
        }
        out
    }
}

/// Whether what `service` is comes from its image (a pulled image a profile or the catalog
/// knows), so the profile's figures are about that server; a kind from its name, its command or
/// a Dockerfile built here is a guess about what runs.
pub(super) fn kind_is_known(ctx: &Context, service: &Service) -> bool {
    let pulled = service.build.is_none();
    let image = service.image.as_ref().map(|i| i.value.as_str());
    pulled && image.and_then(|i| ctx.stack.profiles.kind_of_image(i)).is_some_and(|k| k.name == service.kind)
}

/// The edit this rule's fix makes for `service` (which has no memory limit), with the limit it
/// sets: for a fix that needs the limit and takes it along (the edit names this rule's fix as
/// its origin).
pub(super) fn limits_for(ctx: &Context, service: &Service) -> Option<(FixEdit, String)> {
    if written_unlimited(service).is_some() {
        return None;
    }
    let kind = ctx.stack.profiles.kind(&service.kind)?;
    if facts::heap_unknown(service).is_some() {
        return None;
    }
    let sizing = size(service, widest_need(ctx, service), &kind.limits, &kind.reservations)?;
    let memory = sizing.limits.memory.clone()?;
    let edit = service_limits_edit(ctx, service, &sizing).taken_from(NoResourceLimits::META.id, &title(&memory));
    Some((edit, memory))
}

/// The memory limit a service without one writes as no limit (`0`, `-1`): its key and value.
fn written_unlimited(service: &Service) -> Option<(&'static str, &crate::stack::value::Value)> {
    if service.memory_limit.is_some() {
        return None;
    }
    ["deploy.resources.limits.memory", "mem_limit"].into_iter().find_map(|key| {
        let path: Vec<&str> = key.split('.').collect();
        service.value.path(&path).map(|v| (key, v))
    })
}

/// The title of the fix that adds a memory limit of `memory`.
fn title(memory: &str) -> String {
    format!("add resource limits ({memory}) and reservations")
}

/// The redis.conf mounted into `service`, if any.
fn redis_conf<'a>(ctx: &'a Context, service: &Service) -> Option<&'a crate::stack::RedisConf> {
    ctx.config.redis_confs.iter().find(|c| c.service == service.name)
}

/// What `service` is set to use ([`facts::memory_need`]), the most of it in every configuration
/// that reads the file its limit goes into: a limit written there holds in each of them (a
/// development override that gives redis `--maxmemory 1gb` over the base's `512mb` is killed
/// under a limit sized for the base).
fn widest_need(ctx: &Context, service: &Service) -> Option<facts::MemoryNeed> {
    let file = match ctx.production_site(service) {
        Site::Production { definition, overlay, .. } => overlay.unwrap_or(definition),
        Site::Definition { file, .. } => file,
    };
    let mut need = facts::memory_need(service, redis_conf(ctx, service));
    for config in ctx.stack.configs.iter().filter(|c| !std::ptr::eq(*c, ctx.config) && c.files.contains(&file)) {
        let Some(other) = config.service(&service.name) else { continue };
        let conf = config.redis_confs.iter().find(|c| c.service == other.name);
        let Some(theirs) = facts::memory_need(other, conf) else { continue };
        if need.as_ref().is_none_or(|n| theirs.bytes > n.bytes) {
            let files: Vec<String> = config.files.iter().map(|&f| format!("`{}`", ctx.stack.file(f).display)).collect();
            let evidence = format!("with {}, {}", files.join(" + "), theirs.evidence);
            need = Some(facts::MemoryNeed { evidence, ..theirs });
        }
    }
    need
}

/// The limits and reservations a service gets, and why.
struct Sizing {
    limits: Resources,
    reservations: Resources,
    why: String,
}

/// The profile's figures, raised to fit the JVM heap and any reservation already set, without
/// the settings the service already has.
fn size(
    service: &Service,
    need: Option<facts::MemoryNeed>,
    profile: &Resources,
    reservations: &Resources,
) -> Option<Sizing> {
    let profile_bytes = memory_bytes(profile.memory.as_deref()?)?;
    let mut limit = profile_bytes;
    let mut why = format!("the `{}` profile suggests a {} limit", service.kind, profile.memory.as_deref()?);
    let mut needed = 0;
    if let Some(need) = need {
        needed = need.bytes;
        if need.bytes > limit {
            limit = need.bytes;
            why = format!("{}: the limit leaves it room", need.evidence);
        }
    }
    // Docker refuses a memory limit above `memswap_limit` (memory plus swap).
    let memswap = service.memswap_limit.as_ref().and_then(|m| memory_bytes(&m.value));
    if let Some(memswap) = memswap.filter(|m| *m > 0 && *m < limit) {
        if memswap < needed {
            return None;
        }
        limit = memswap;
        why = format!("{why}; held to `memswap_limit`");
    }
    let set_reservation = service.memory_reservation.as_ref().and_then(|r| memory_bytes(&r.value));
    if let Some(r) = set_reservation.filter(|r| *r > limit) {
        limit = r;
        why = format!("{why}; raised to the reservation already set");
    }
    let limit_text = if limit == profile_bytes { profile.memory.clone()? } else { memory_text(limit) };
    let mut reservation = reservations.memory.clone().filter(|_| service.memory_reservation.is_none());
    if reservation.as_deref().and_then(memory_bytes).is_some_and(|r| r > limit) {
        reservation = Some(limit_text.clone());
    }
    Some(Sizing {
        limits: Resources {
            memory: Some(limit_text),
            cpus: profile.cpus.clone().filter(|_| service.cpu_limit.is_none()),
        },
        reservations: Resources {
            memory: reservation,
            cpus: reservations
                .cpus
                .clone()
                .filter(|_| service.value.path(&["deploy", "resources", "reservations", "cpus"]).is_none()),
        },
        why,
    })
}

/// The edit writing `sizing` into the service, in the spelling it already uses.
fn service_limits_edit(ctx: &Context, service: &Service, sizing: &Sizing) -> FixEdit {
    if service.legacy_resources {
        return FixEdit::new(
            Target::Service(ctx.production_site(service)),
            EditOp::Merge,
            tpl::NO_RESOURCE_LIMITS_LEGACY,
            json!({
                "memory": sizing.limits.memory,
                "cpus": sizing.limits.cpus,
                "reservation_memory": sizing.reservations.memory,
            }),
        );
    }
    limits_edit(ctx.production_site(service), &sizing.limits, &sizing.reservations)
}

/// Limits and reservations (a profile's figures) at `site`.
pub(super) fn limits_edit(site: Site, limits: &Resources, reservations: &Resources) -> FixEdit {
    FixEdit::new(
        Target::Service(site),
        EditOp::Merge,
        tpl::NO_RESOURCE_LIMITS,
        json!({
            "memory": limits.memory,
            "cpus": limits.cpus,
            "reservation_memory": reservations.memory,
            "reservation_cpus": reservations.cpus,
        }),
    )
}
