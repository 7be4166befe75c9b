use serde_json::json;

use super::{Applicability, Context, Finding, FixEdit, Rule, RuleMeta};
use super::{EditOp, Target};
use crate::fix::render::template as tpl;
use crate::stack::catalog::Catalog;
use crate::stack::service::Service;

declare_rule! {
    /// ## What it does
    /// Reports production services whose root filesystem is writable: no `read_only: true`.
    ///
    /// ## Why it matters
    /// A read-only root filesystem keeps a process that is taken over from changing the programs
    /// and configuration of its container (dropping a tool, editing a script the entrypoint runs
    /// at the next start); the paths it must write get a `tmpfs` or a volume. Docker:
    /// https://docs.docker.com/reference/cli/docker/container/run/#read-only.
    ///
    /// ## When it does not apply
    /// `read_only: true` (in any spelling compose reads as true), privileged containers
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
    ///     read_only: true
    ///     tmpfs:
    ///       - /var/cache/nginx
    ///       - /var/run
    /// ```
    /// in the production configuration, only for images whose every written path the catalog
    /// records from the vendor's documentation or the image's Dockerfile and entrypoint (the
    /// official `nginx`: `/var/cache/nginx` and `/var/run`; the official `postgres`:
    /// `/var/run/postgresql` and `/tmp`, PGDATA being in its volume), without a tmpfs where a volume of the
    /// service already mounts, and not when the service uses what makes the image write elsewhere
    /// (nginx's `/etc/nginx/templates` and `NGINX_ENVSUBST_*`; postgres's
    /// `/docker-entrypoint-initdb.d` scripts, and `PGDATA` or `POSTGRES_INITDB_WALDIR` naming a
    /// directory outside the service's volumes), sets `user:`, replaces the entrypoint, or runs a
    /// command other than the image's server (`sh -c "envsubst ... && nginx"`). Images that write to their root filesystem otherwise
    /// fail at start when it is read-only, so elsewhere the rule only reports.
    ///
    /// ## Fix safety
    /// Unsafe. The documented paths are those of the image's default configuration: a service's
    /// own configuration may write elsewhere (nginx renders `/etc/nginx/templates` into
    /// `/etc/nginx/conf.d`), which then fails; and an entrypoint may skip what it cannot write
    /// (nginx's adds an IPv6 listener to its default server only when it can edit
    /// `/etc/nginx/conf.d/default.conf`, in a container that has IPv6:
    /// https://github.com/nginx/docker-nginx/blob/0d7f4380c735af5009aa364e27fafecd958fd4fa/entrypoint/10-listen-on-ipv6-by-default.sh).
    pub struct WritableRootFilesystem => "writable-root-filesystem" {
        summary: "container's root filesystem is writable",
        severity: Info,
        area: Security,
        scope: Production,
        fix: Sometimes,
        applicability: Unsafe,
        seeds: ["004"],
    }
}

/// Whether `path` is `top` or below it.
fn at_or_below(path: &str, top: &str) -> bool {
    let top = top.trim_end_matches('/');
    path == top || path.strip_prefix(top).is_some_and(|rest| rest.starts_with('/'))
}

/// The paths `service`'s image writes that need a tmpfs (those no volume of the service already
/// covers), with the source of the fact, when known and the fix can be written: no `read_only`
/// or `tmpfs` of its own, an image not built here, and nothing that makes the image write
/// elsewhere (the catalog's `writes_also_with`).
pub(super) fn writes(ctx: &Context, service: &Service) -> Result<(Vec<String>, &'static str), String> {
    if service.value.get("read_only").is_some() {
        return Err("it sets `read_only: false`".into());
    }
    if let Some((kind, name)) = super::copied_into_container(ctx.config, service) {
        return Err(format!(
            "compose copies its {kind} `{name}` (an `environment` or `content` source) into the container, which a \
             read-only root refuses; give it a `file:` source first"
        ));
    }
    let image = super::catalog_image(service, "which paths it writes is not known")?;
    let Some(entry) = Catalog::builtin().lookup(image).map(|m| m.entry) else {
        return Err(format!("the paths `{image}` writes are not known"));
    };
    let Some(writes) = entry.writes.as_ref() else {
        return Err(format!("the paths `{image}` writes are not known"));
    };
    if service.value.get("tmpfs").is_some() {
        return Err("it has `tmpfs` entries; add the paths it writes to them".into());
    }
    // The paths are those of the image's own start: a command of its own (a shell rendering a
    // configuration first) may write anywhere.
    super::starts_as_image(service, entry)?;
    let variables: Vec<(&str, Option<&str>)> = service.variables().collect();
    if let Some(also) = &entry.writes_also_with {
        for what in &also.values {
            let mounted = what.starts_with('/') && service.volumes.iter().any(|m| at_or_below(&m.target, what));
            let set = !what.starts_with('/') && variables.iter().any(|(name, _)| name.starts_with(what.as_str()));
            if mounted || set {
                return Err(format!(
                    "with `{what}` the image also writes outside the paths the catalog lists ({})",
                    also.source
                ));
            }
        }
    }
    // A variable naming a directory the image writes is harmless where a volume of the service
    // covers its value.
    let in_volume =
        |value: &str| value.starts_with('/') && service.volumes.iter().any(|m| at_or_below(value, &m.target));
    if let Some(named) = &entry.writes_variables {
        for (name, value) in variables.iter().filter(|(name, _)| named.values.iter().any(|n| n == name)) {
            if !value.is_some_and(in_volume) {
                return Err(format!(
                    "`{name}` names a directory the image writes that no volume of the service holds ({})",
                    named.source
                ));
            }
        }
    }
    // A path a volume already makes writable needs no tmpfs (compose refuses two mounts there).
    let needed: Vec<String> = writes
        .values
        .iter()
        .filter(|path| !service.volumes.iter().any(|m| at_or_below(path, &m.target)))
        .cloned()
        .collect();
    Ok((needed, writes.source.as_str()))
}

impl Rule for WritableRootFilesystem {
    fn meta(&self) -> &'static RuleMeta {
        &Self::META
    }

    fn check(&self, ctx: &Context) -> Vec<Finding> {
        let mut out = Vec::new();
        for service in super::hardening_candidates(ctx) {
            if service.value.get("read_only").is_some_and(|v| v.is_compose_true()) {
                continue;
            }
            let finding = Finding::new(
                &Self::META,
                service.production_site(),
                format!("service `{}` has a writable root filesystem (no `read_only: true`)", service.name),
            )
            .service(&service.name);
            let finding = match writes(ctx, service) {
                Ok((paths, source)) => {
                    let default = ["volumes", "environment", "env_file", "command", "entrypoint"]
                        .iter()
                        .all(|k| service.value.get(k).is_none());
                    let caveat = match default {
                        true => "",
                        false => "; its own mounts, environment or command may write elsewhere",
                    };
                    finding
                        .help(match paths.is_empty() {
                            true => format!("its volumes cover every path the image writes ({source}){caveat}"),
                            false => format!(
                                "the image writes {} with its default configuration ({source}){caveat}",
                                paths.join(" and ")
                            ),
                        })
                        .with_fix(ctx.fix(
                            "make the root filesystem read-only, with a tmpfs for each path the image writes",
                            Applicability::Unsafe,
                            vec![FixEdit::new(
                                Target::Service(ctx.production_site(service)),
                                EditOp::Merge,
                                tpl::WRITABLE_ROOT_FILESYSTEM,
                                json!({ "paths": paths }),
                            )],
                        ))
                }
                Err(reason) => finding.help(format!("not fixed: {reason}")),
            };
            out.push(finding);
        }
        out
    }
}
