use super::{Applicability, Context, Finding, Rule, RuleMeta};
use crate::stack::service::MountKind;

declare_rule! {
    /// ## What it does
    /// Reports services that mount the Docker socket (`/var/run/docker.sock`) read-write.
    ///
    /// ## Why it matters
    /// The Docker API is root on the host: whoever controls the container controls the machine.
    /// Seed 002: "Docker socket mounting (security risk)" for LocalStack.
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
                    finding = finding.help("it only reads the Docker API: mount it `:ro`").fix_at(
                        mount.loc,
                        format!("services.{}.volumes", service.name),
                        Applicability::Unsafe,
                    );
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
