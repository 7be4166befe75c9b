use serde_json::json;

use super::{Applicability, Context, EditOp, Finding, FixEdit, Rule, RuleMeta, Target};
use crate::fix::render::template as tpl;
use crate::stack::catalog::{Capabilities, Catalog};
use crate::stack::service::{MountKind, Service};

declare_rule! {
    /// ## What it does
    /// Reports production services that keep Docker's default capabilities: no `ALL` in
    /// `cap_drop` (in any case; `CAP_ALL`, which Docker refuses, is reported as such).
    ///
    /// ## Why it matters
    /// Docker starts every container with 14 capabilities, among them `CHOWN`,
    /// `DAC_OVERRIDE`, `FOWNER`, `SETUID`, `SETGID`, `NET_RAW` and `MKNOD`
    /// (https://docs.docker.com/engine/containers/run/#runtime-privilege-and-linux-capabilities).
    /// Most services need none or one or two of them once started; a process that is taken over
    /// keeps the rest (`NET_RAW` forges packets on the container's network, `DAC_OVERRIDE` ignores
    /// file permissions). OWASP's Docker Security Cheat Sheet, rule 3: drop all, add back what is
    /// needed.
    ///
    /// ## When it does not apply
    /// `cap_drop: [ALL]` (with `cap_add` of what the service needs), privileged containers
    /// (`privileged-container` reports them), one-shot jobs, development configurations next to a
    /// production file.
    ///
    /// ## Example
    /// ```yaml
    ///   web:
    ///     image: nginx:1.27
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    ///     cap_drop:
    ///       - ALL
    ///     cap_add:
    ///       - CHOWN
    ///       - KILL
    ///       - NET_BIND_SERVICE
    ///       - SETGID
    ///       - SETUID
    /// ```
    /// in the production configuration: `cap_add` lists exactly what the image's entrypoint and
    /// server use, as the catalog records it from their source (the official `nginx` binds port
    /// 80, chowns its temporary directories, switches its workers' user and signals them; the
    /// official `postgres` chowns its data as root and steps down with `gosu`;
    /// `nginxinc/nginx-unprivileged` needs none), with `KILL` where an init process run as root
    /// (`init: true`) must forward stop signals to a server running as another user. Only when
    /// the service keeps the image's entrypoint and user, runs one of the commands the fact is
    /// about (for postgres: `postgres` or an option), has no `cap_add` or `cap_drop` yet, and its
    /// health check runs no setuid or file-capability program (`ping`, `sudo`). Other services
    /// are reported with what a person must decide. The capabilities are what the server needs
    /// to start and serve; a root `docker exec` session in the container has only these too.
    ///
    /// ## Fix safety
    /// Safe when every fact it relies on is known. Unsafe when the image's root processes lose
    /// `DAC_OVERRIDE` (nginx) and the service gives them files the image did not create (volumes,
    /// `volumes_from`, `configs`, `secrets`) or its own health check: those are then read by their
    /// permission bits, which stackfix cannot see, and a configuration may need more (nginx's
    /// `proxy_bind ... transparent` needs `NET_RAW`).
    pub struct CapabilitiesNotDropped => "capabilities-not-dropped" {
        summary: "container keeps Docker's default capabilities",
        severity: Info,
        area: Security,
        scope: Production,
        fix: Sometimes,
        applicability: Safe,
        seeds: ["004"],
    }
}

/// The catalog's capability fact for `service` and the reason the fix is unsafe, if any; why there
/// is no fix when it cannot be written.
fn needed(service: &Service) -> Result<(&'static Capabilities, Option<String>), String> {
    let image = super::catalog_image(service, "which capabilities its entrypoint and process use is not known")?;
    let Some(fact) = Catalog::builtin().capabilities(image) else {
        return Err(format!("which capabilities `{image}` needs is not known; read its Dockerfile and entrypoint"));
    };
    if let Some(entry) = Catalog::builtin().lookup(image).map(|m| m.entry) {
        super::starts_as_image(service, entry)?;
    }
    if service.value.get("cap_add").is_some() || service.value.get("cap_drop").is_some() {
        return Err(format!(
            "it has `cap_add` or `cap_drop` entries; drop ALL and add back {} with what it adds",
            list(&fact.values)
        ));
    }
    if let Some(program) = super::privilege_escalation_allowed::privileged_health_program(service) {
        return Err(format!("its health check runs `{program}`, which needs capabilities of its own"));
    }
    if fact.values.iter().any(|c| c == "DAC_OVERRIDE") {
        return Ok((fact, None));
    }
    // Files the image did not create: their owners and modes are not known.
    let mut given = Vec::new();
    if service.volumes.iter().any(|m| m.kind != MountKind::Tmpfs) {
        given.push("volumes");
    }
    for key in ["volumes_from", "configs", "secrets"] {
        if service.value.get(key).is_some() {
            given.push(key);
        }
    }
    if service.has_own_probe() {
        given.push("own health check");
    }
    let unsafe_reason = (!given.is_empty()).then(|| {
        format!(
            "without DAC_OVERRIDE its root processes read its {} by their permission bits, and its own configuration \
             may need more",
            given.join(", ")
        )
    });
    Ok((fact, unsafe_reason))
}

/// `values` as the help text lists them (`none` when empty).
fn list(values: &[String]) -> String {
    match values.is_empty() {
        true => "none".into(),
        false => values.join(", "),
    }
}

impl Rule for CapabilitiesNotDropped {
    fn meta(&self) -> &'static RuleMeta {
        &Self::META
    }

    fn check(&self, ctx: &Context) -> Vec<Finding> {
        let mut out = Vec::new();
        for service in super::hardening_candidates(ctx) {
            // Docker upper-cases each entry and takes only `ALL` itself as every capability; it
            // refuses `CAP_ALL` (or ` ALL`) as an unknown capability (moby's
            // `oci/caps.NormalizeLegacyCapabilities`).
            let items = service.value.get("cap_drop").map(|d| d.items()).unwrap_or_default();
            if items.iter().filter_map(|i| i.as_str()).any(|c| c.eq_ignore_ascii_case("ALL")) {
                continue;
            }
            if let Some(item) = items
                .iter()
                .find(|i| i.as_str().is_some_and(|c| super::dangerous_capability::capability_name(c) == "ALL"))
            {
                out.push(
                    Finding::new(
                        &Self::META,
                        item.loc,
                        format!(
                            "service `{}` drops `{}`, which Docker refuses as an unknown capability",
                            service.name,
                            item.as_str().unwrap_or_default()
                        ),
                    )
                    .service(&service.name)
                    .help("write `ALL`: Docker reads only that spelling (in any case) as every capability"),
                );
                continue;
            }
            let finding = Finding::new(
                &Self::META,
                service.production_site(),
                format!("service `{}` keeps Docker's default capabilities (no `cap_drop: [ALL]`)", service.name),
            )
            .service(&service.name);
            let finding = match needed(service) {
                Ok((fact, unsafe_reason)) => {
                    let title = match fact.values.is_empty() {
                        true => "drop every capability (`cap_drop: [ALL]`)".to_string(),
                        false => {
                            format!("drop every capability but {} (`cap_drop: [ALL]`, `cap_add`)", list(&fact.values))
                        }
                    };
                    let applicability = match unsafe_reason {
                        Some(_) => Applicability::Unsafe,
                        None => Applicability::Safe,
                    };
                    finding
                        .help(format!(
                            "the image's entrypoint and process need {} ({}){}",
                            list(&fact.values),
                            fact.source,
                            unsafe_reason.map(|r| format!("; {r}")).unwrap_or_default()
                        ))
                        .with_fix(ctx.fix(
                            &title,
                            applicability,
                            vec![FixEdit::new(
                                Target::Service(ctx.production_site(service)),
                                EditOp::Merge,
                                tpl::CAPABILITIES_NOT_DROPPED,
                                json!({ "capabilities": fact.values }),
                            )],
                        ))
                }
                Err(reason) => finding.help(format!(
                    "not fixed: {reason}; drop ALL and add back with `cap_add` only what its software needs"
                )),
            };
            out.push(finding);
        }
        out
    }
}
