use serde_json::json;

use super::{Applicability, Context, Finding, Fix, FixEdit, Rule, RuleMeta};
use crate::stack::service::Mount;

/// `:ro` on a short-syntax mount (replacing `:rw`), `read_only: true` on a long one.
fn fix(ctx: &Context, mount: &Mount) -> Option<Fix> {
    let written = ctx.stack.text(mount.loc.file, mount.loc.span);
    let edit = if written.contains("target") {
        FixEdit::new(
            Target::Node { file: mount.loc.file, at: mount.loc.span },
            EditOp::Merge,
            tpl::DOCKER_SOCKET_MOUNT_LONG,
            json!({}),
        )
    } else {
        let quote = written.chars().next().filter(|c| *c == '"' || *c == '\'').map(String::from).unwrap_or_default();
        let inner = written.trim_matches(|c| c == '"' || c == '\'');
        let parts: Vec<&str> = inner.splitn(3, ':').collect();
        let read_only = match parts.as_slice() {
            [source, target] => format!("{source}:{target}:ro"),
            [source, target, mode] => {
                let mut modes: Vec<&str> = mode.split(',').filter(|m| *m != "rw").collect();
                modes.insert(0, "ro");
                format!("{source}:{target}:{}", modes.join(","))
            }
            _ => return None,
        };
        FixEdit::new(
            Target::Node { file: mount.loc.file, at: mount.loc.span },
            EditOp::Replace,
            tpl::DOCKER_SOCKET_MOUNT,
            json!({ "text": format!("{quote}{read_only}{quote}") }),
        )
    };
    Some(ctx.fix("mount the Docker socket read-only", Applicability::Unsafe, vec![edit]))
}
use super::{EditOp, Target};
use crate::fix::render::template as tpl;
use crate::stack::service::MountKind;

declare_rule! {
    /// ## What it does
    /// Reports services that mount the Docker socket (`/var/run/docker.sock`) read-write.
    ///
    /// ## Why it matters
    /// The Docker API is root on the host: whoever controls the container controls the machine.
    /// Tools that need it (LocalStack, CI runners, Traefik's Docker provider) are the usual way in.
    ///
    /// ## When it does not apply
    /// Mounts with `:ro` / `read_only: true`.
    ///
    /// ## Example
    /// ```yaml
    ///     volumes:
    ///       - /var/run/docker.sock:/var/run/docker.sock
    /// ```
    ///
    /// ## Fix
    /// `- /var/run/docker.sock:/var/run/docker.sock:ro` for services that only read the API
    /// (Traefik, Prometheus service discovery, promtail, cAdvisor); services that manage containers
    /// need a socket proxy instead, which stackfix does not invent.
    ///
    /// ## Fix safety
    /// Unsafe: a service that writes to the API stops working.
    pub struct DockerSocketMount => "docker-socket-mount" {
        summary: "Docker socket mounted read-write",
        severity: Warning,
        area: Security,
        scope: Any,
        fix: Sometimes,
        applicability: Unsafe,
        seeds: ["002"],
    }
}

/// Kinds that only read the Docker API.
const READ_ONLY_CATEGORIES: &[&str] = &["proxy", "monitoring", "exporter"];

impl Rule for DockerSocketMount {
    fn meta(&self) -> &'static RuleMeta {
        &Self::META
    }

    fn check(&self, ctx: &Context) -> Vec<Finding> {
        let mut out = Vec::new();
        for service in &ctx.config.services {
            for mount in &service.volumes {
                let is_socket = mount.kind == MountKind::Bind
                    && mount.source.as_deref().is_some_and(|s| s.trim_start_matches('/').ends_with("docker.sock"));
                if !is_socket || mount.read_only {
                    continue;
                }
                let reads_only = ctx
                    .stack
                    .profiles
                    .kind(&service.kind)
                    .is_some_and(|k| READ_ONLY_CATEGORIES.contains(&k.category.as_str()));
                let mut finding = Finding::new(
                    &Self::META,
                    mount.loc,
                    format!("service `{}` mounts the Docker socket read-write (root on the host)", service.name),
                )
                .service(&service.name);
                if reads_only {
                    finding =
                        finding.help("it only reads the Docker API: mount it `:ro`").with_fix_opt(fix(ctx, mount));
                } else {
                    finding = finding.help(
                        "if it manages containers, put a Docker socket proxy with a minimal API allow-list in front",
                    );
                }
                out.push(finding);
            }
        }
        out
    }
}
