use super::{Context, Finding, Rule, RuleMeta};

declare_rule! {
    /// ## What it does
    /// Reports services that mount the Docker socket (`/var/run/docker.sock`, `/run/docker.sock`,
    /// any path ending in `docker.sock`), read-only or not.
    ///
    /// ## Why it matters
    /// The Docker API is root on the host: whoever controls the container controls the machine
    /// (OWASP Docker Security Cheat Sheet, rule 1:
    /// https://cheatsheetseries.owasp.org/cheatsheets/Docker_Security_Cheat_Sheet.html). Mounting
    /// it `:ro` does not help: the kernel refuses writes through a read-only mount only to
    /// regular files, directories and links, not to sockets, so a client still connects and
    /// drives the whole API (shown in
    /// https://amf3.github.io/articles/virtualization/docker_socket). Tools that need the API
    /// (Traefik's Docker provider, Portainer, CI runners, LocalStack) are the usual way in.
    ///
    /// ## When it does not apply
    /// Other sockets (container runtimes' sockets are `sensitive-host-mount`'s), a socket proxy's
    /// TCP endpoint (`DOCKER_HOST=tcp://socket-proxy:2375`).
    ///
    /// ## Example
    /// ```yaml
    ///     volumes:
    ///       - /var/run/docker.sock:/var/run/docker.sock:ro
    /// ```
    ///
    /// ## Fix
    /// Put a Docker socket proxy with an allow-list of the API calls the service makes in front
    /// of the socket (for Traefik's provider: containers, networks and events, read only), and
    /// point the service at it. Which calls a service makes stackfix does not know, so this rule
    /// only reports.
    ///
    /// ## Fix safety
    /// No fix.
    pub struct DockerSocketMount => "docker-socket-mount" {
        summary: "Docker socket mounted into a container",
        severity: Error,
        area: Security,
        scope: Any,
        fix: Never,
        applicability: DisplayOnly,
        seeds: ["002"],
    }
}

impl Rule for DockerSocketMount {
    fn meta(&self) -> &'static RuleMeta {
        &Self::META
    }

    fn check(&self, ctx: &Context) -> Vec<Finding> {
        let mut out = Vec::new();
        for service in &ctx.config.services {
            for mount in &service.volumes {
                let path = mount.host_path(&ctx.stack.env);
                if path.is_none_or(|p| p.rsplit('/').next() != Some("docker.sock")) {
                    continue;
                }
                let message = match mount.read_only {
                    true => format!(
                        "service `{}` mounts the Docker socket (root on the host; `:ro` does not limit the API)",
                        service.name
                    ),
                    false => format!("service `{}` mounts the Docker socket (root on the host)", service.name),
                };
                let proxy = service.image.as_ref().is_some_and(|i| i.value.contains("socket-proxy"));
                out.push(Finding::new(&Self::META, mount.loc, message).service(&service.name).help(match proxy {
                    true => {
                        "a socket proxy: allow only the API sections its clients use, keep it on an internal network, \
                             and suppress this finding with the reason"
                    }
                    false => {
                        "put a socket proxy that allows only the API calls it makes in front of the socket, and \
                              point the service at it"
                    }
                }));
            }
        }
        out
    }
}
