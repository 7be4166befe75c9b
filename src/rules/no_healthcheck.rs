use serde_json::json;

use super::{Applicability, Context, Finding, Fix, FixEdit, Rule, RuleMeta};
use super::{EditOp, Target};
use crate::fix::render::template as tpl;
use crate::stack::probe::{self, Enable, PingSite, Probe};
use crate::stack::service::HealthTest;
use crate::stack::{Service, ValueKind};

declare_rule! {
    /// ## What it does
    /// Reports long-running services without a health check: no `healthcheck:` in compose, no
    /// HEALTHCHECK in the Dockerfile they build from, and an image not known to declare one.
    ///
    /// ## Why it matters
    /// Without a probe, `depends_on` cannot wait for readiness, restarts do not catch hung processes
    /// and `docker ps` shows "Up" for a dead service.
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
    /// A probe from the image catalog that calls only programs the image's variant has
    /// (`pg_isready`, `redis-cli ping`, curl on Debian-based nginx, BusyBox `wget` on Alpine,
    /// bash's `/dev/tcp` where that is all there is, `traefik healthcheck --ping` together with
    /// `ping` enabled where Traefik is configured); for an application built here, an HTTP probe on
    /// its port with a program its base image has (curl, wget, python, node). Where a file of the
    /// configuration takes the health check out (`healthcheck: !reset null` in a production
    /// overlay), it was taken out on purpose: nothing is written. Where no program
    /// is known to be there, nothing is written and the finding says what to add:
    /// ```yaml
    ///     healthcheck:
    ///       test: ["CMD-SHELL", "pg_isready -U $${POSTGRES_USER:-postgres}"]
    ///       interval: 10s
    ///       timeout: 5s
    ///       retries: 5
    /// ```
    ///
    /// ## Fix safety
    /// Safe when every fact the probe relies on is known: the catalog cites the probe, the image's
    /// variant has its programs and the service uses its port. Unsafe when the endpoint is a guess
    /// (an application's HTTP port and path, a proxy that mounts its own configuration). No fix
    /// when the service declares ports (`ports`, `expose`) without the one the probe calls, or
    /// its command names another: the server was moved there, a probe on the image's port would
    /// never pass, and every `service_healthy` dependant would wait for ever.
    pub struct NoHealthcheck => "no-healthcheck" {
        summary: "service has no health check",
        severity: Warning,
        area: Health,
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
            if !needs_probe(ctx, service) {
                continue;
            }
            let site = service.definition_site();
            let choice = probe::choose(service, ctx.config, &ctx.stack.profiles);
            let finding = Finding::new(&Self::META, site, format!("service `{}` has no health check", service.name))
                .service(&service.name);
            if let Some(file) = super::reset_by(service, "healthcheck") {
                out.push(finding.help(format!(
                    "not fixed: {} takes its health check out (`healthcheck: !reset`); where this configuration \
                     should have one, write it there in place of the reset",
                    ctx.stack.file(file).display
                )));
                continue;
            }
            out.push(match choice {
                probe::ProbeChoice::Probe(probe) => match ping_split(ctx, service, &probe) {
                    Some(why) => finding.help(why),
                    None => {
                        let help = probe.basis.clone();
                        finding.help(help).with_fix_opt(fix(ctx, service, &probe))
                    }
                },
                probe::ProbeChoice::Nothing(why) => finding.help(why),
            });
        }
        out
    }
}

/// A long-running service without a probe of its own, its image's or its Dockerfile's, and not
/// disabled on purpose.
pub(super) fn needs_probe(ctx: &Context, service: &Service) -> bool {
    let declared = matches!(&service.healthcheck, Some(h) if h.value != HealthTest::Inherit);
    !(declared || service.image_healthcheck || ctx.config.is_one_shot(service))
}

/// Why Traefik's ping, which `probe` needs, cannot be enabled for every configuration that
/// gets the probe, if it cannot: `--ping=true` goes onto the `command` a configuration runs; when
/// the configurations run commands written in different files (an override's), or one runs
/// none, one would run the probe without ping and never be healthy, holding back every
/// `service_healthy` dependant.
pub(super) fn ping_split(ctx: &Context, service: &Service, probe: &Probe) -> Option<String> {
    let Some(Enable::TraefikPing(PingSite::Command(loc))) = &probe.enable else { return None };
    let mut files: Vec<Option<crate::stack::FileId>> = ctx
        .stack
        .configs
        .iter()
        .flat_map(|c| c.services.iter().filter(|s| s.name == service.name))
        .map(|s| s.value.get("command").map(|c| c.loc.file))
        .collect();
    files.push(Some(loc.file));
    files.sort_unstable();
    files.dedup();
    // One command, written in one file, that every configuration runs: ping goes there.
    if let [Some(_)] = files.as_slice() {
        return None;
    }
    let written: Vec<&str> = files.iter().flatten().map(|&f| ctx.stack.file(f).display.as_str()).collect();
    Some(format!(
        "Traefik answers `traefik healthcheck --ping` only with ping enabled, and the command each configuration runs is written in {} (or missing): enable `--ping=true` in every one, then add the probe by hand",
        written.join(", ")
    ))
}

/// The fix adding `probe` (and what it needs enabled) to `service`; safe when the probe is known.
pub(super) fn fix(ctx: &Context, service: &Service, probe: &Probe) -> Option<Fix> {
    // Taken out on purpose: not put back (see `reset_by`).
    if super::reset_by(service, "healthcheck").is_some() {
        return None;
    }
    // A `healthcheck:` without `test:` keeps the timing it sets.
    let keep: Vec<&str> = service
        .value
        .get("healthcheck")
        .map(|h| h.entries().iter().map(|(k, _)| k.as_str()).collect())
        .unwrap_or_default();
    let mut edits = vec![FixEdit::new(
        Target::Service(ctx.definition_site(service)),
        EditOp::Merge,
        tpl::NO_HEALTHCHECK,
        json!({
            "test": probe.test,
            "interval": "30s",
            "timeout": "5s",
            "retries": 5,
            "start_period": "30s",
            "keep": keep,
        }),
    )];
    let mut title = format!("add a health check: {}", probe.test.iter().skip(1).cloned().collect::<Vec<_>>().join(" "));
    if let Some(Enable::TraefikPing(site)) = &probe.enable {
        edits.push(match site {
            PingSite::StaticFile(file) => {
                FixEdit::new(Target::Root(*file), EditOp::Merge, tpl::NO_HEALTHCHECK_TRAEFIK_PING, json!({}))
            }
            PingSite::Command(_) if ping_split(ctx, service, probe).is_some() => return None,
            PingSite::Command(loc) => {
                let command = service.value.get("command")?;
                let quoted = command.items().iter().all(|i| matches!(i.kind, ValueKind::Scalar { quoted: true, .. }));
                FixEdit::new(
                    Target::Node { file: loc.file, at: loc.span },
                    EditOp::Append,
                    tpl::REDIS_NO_MAXMEMORY_WORDS,
                    json!({ "words": ["--ping=true"], "quoted": quoted, "inline": false }),
                )
            }
            PingSite::Environment => {
                let var = service.environment.iter().find(|e| e.name.to_ascii_uppercase().starts_with("TRAEFIK_"))?;
                let list = var.loc.key == Some(var.loc.span);
                FixEdit::new(
                    Target::Parent { file: var.loc.file, at: var.loc.span },
                    EditOp::Extend,
                    tpl::NO_HEALTHCHECK_TRAEFIK_PING_ENV,
                    json!({ "list": list }),
                )
            }
        });
        title.push_str(", with Traefik's ping enabled");
    }
    let applicability = if probe.known { Applicability::Safe } else { Applicability::Unsafe };
    Some(ctx.fix(title, applicability, edits))
}
