use super::{Context, Finding, Rule, RuleMeta};

declare_rule! {
    /// ## What it does
    /// Reports services that share one of the host's namespaces: `network_mode: host`,
    /// `pid: host`, `ipc: host`, `uts: host`, `userns_mode: host` or `cgroup: host`.
    ///
    /// ## Why it matters
    /// Namespaces are what make a container a container
    /// (https://docs.docker.com/engine/containers/run/#network-settings): with the host's network
    /// it reaches every port bound to the host's loopback and listens on the host's interfaces
    /// past any firewall rule Docker writes for published ports; with the host's PIDs it sees
    /// (and, as root, signals) every process of the host; with the host's IPC it reads the host's
    /// shared memory; with the host's user namespace, user-namespace remapping is off for it.
    ///
    /// ## When it does not apply
    /// Sharing another container's namespace (`network_mode: service:vpn`, `pid: container:x`),
    /// which keeps the host out.
    ///
    /// ## Example
    /// ```yaml
    ///     network_mode: host
    ///     pid: host
    /// ```
    ///
    /// ## Fix
    /// Publish the ports the service serves (`ports:`) and put it on the stack's networks. Some
    /// host agents need the host's namespaces by design (Prometheus's node exporter documents
    /// `pid: host` and the host network); keep those, apart from the rest of the stack, with a
    /// suppression comment saying why. stackfix cannot tell, so this rule only reports.
    ///
    /// ## Fix safety
    /// No fix.
    pub struct HostNamespace => "host-namespace" {
        summary: "container shares a namespace of the host",
        severity: Warning,
        area: Security,
        scope: Any,
        fix: Never,
        applicability: DisplayOnly,
        seeds: ["000"],
    }
}

/// The keys that take `host`, with what sharing the host's namespace gives the container.
/// With what to do instead.
const KEYS: &[(&str, &str, &str)] = &[
    (
        "network_mode",
        "the host's network: every host port and interface, no published-port rules",
        "publish the ports it serves and keep it on the stack's networks",
    ),
    (
        "pid",
        "the host's processes: it sees them all, and as root can signal them",
        "drop it, or share only another container's processes (`pid: service:NAME`)",
    ),
    ("ipc", "the host's shared memory and semaphores", "drop it, or share another container's (`ipc: service:NAME`)"),
    ("uts", "the host's hostname, which it can change as root", "drop it and set `hostname:` if it needs a name"),
    (
        "userns_mode",
        "the host's user namespace: user-namespace remapping is off for it",
        "drop it, so the daemon's remapping applies",
    ),
    ("cgroup", "the host's cgroup namespace: it sees the host's cgroup tree", "drop it (`cgroup: private`)"),
];

impl Rule for HostNamespace {
    fn meta(&self) -> &'static RuleMeta {
        &Self::META
    }

    fn check(&self, ctx: &Context) -> Vec<Finding> {
        let mut out = Vec::new();
        for service in &ctx.config.services {
            for (key, gives, instead) in KEYS {
                let Some(value) = service.value.get(key).filter(|v| v.as_str() == Some("host")) else { continue };
                out.push(
                    Finding::new(
                        &Self::META,
                        value.loc,
                        format!("service `{}` uses `{key}: host`: {gives}", service.name),
                    )
                    .service(&service.name)
                    .help(format!("{instead}, unless it is a host agent that documents this")),
                );
            }
        }
        out
    }
}
