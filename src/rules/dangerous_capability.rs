use super::{Context, Finding, Rule, RuleMeta};

declare_rule! {
    /// ## What it does
    /// Reports capabilities in `cap_add` that give a container power over the host or the other
    /// containers: `ALL`, `SYS_ADMIN`, `NET_ADMIN`, `SYS_PTRACE`, `SYS_MODULE`, `SYS_RAWIO`,
    /// `SYS_BOOT`, `SYS_TIME`, `DAC_READ_SEARCH`, `BPF`, `PERFMON`, `SYSLOG`, `SYS_NICE`,
    /// `IPC_LOCK` and `LEASE` (written with or without `CAP_`, in any case, as Docker reads them).
    /// The last four are warnings: they reach the host's availability or its log, and some
    /// software documents a need for them (Elasticsearch and Vault lock memory with `IPC_LOCK`).
    ///
    /// ## Why it matters
    /// Docker starts containers with a short default set of capabilities
    /// (https://docs.docker.com/engine/containers/run/#runtime-privilege-and-linux-capabilities).
    /// Each of these lifts a boundary between the container and the host (capabilities(7),
    /// https://man7.org/linux/man-pages/man7/capabilities.7.html): `SYS_ADMIN` allows mounts and
    /// namespace changes (most container escapes start there), `SYS_MODULE` loads code into the
    /// host kernel, `SYS_PTRACE` reads the memory of other processes, `DAC_READ_SEARCH` opens host
    /// files by handle, `NET_ADMIN` rewrites the network (firewall rules, routes, interfaces).
    ///
    /// ## When it does not apply
    /// Other capabilities (`NET_BIND_SERVICE`, `CHOWN`, …), and capabilities in `cap_drop`.
    ///
    /// ## Example
    /// ```yaml
    ///     cap_add:
    ///       - SYS_ADMIN
    /// ```
    ///
    /// ## Fix
    /// Keep a capability only when the software documents that it needs it (a VPN client needs
    /// `NET_ADMIN`), and then run it apart from the rest of the stack. stackfix cannot know, so this
    /// rule only reports.
    ///
    /// ## Fix safety
    /// No fix.
    pub struct DangerousCapability => "dangerous-capability" {
        summary: "capability that reaches the host added",
        severity: Error,
        area: Security,
        scope: Any,
        fix: Never,
        applicability: DisplayOnly,
        seeds: ["004"],
    }
}

/// The capabilities reported, with what each allows (capabilities(7)); the last four are
/// warnings: they reach the host's availability or its log, not its control.
const DANGEROUS: &[(&str, &str)] = &[
    ("ALL", "every capability"),
    ("SYS_ADMIN", "mounts, namespaces and most administration: the usual start of a container escape"),
    ("NET_ADMIN", "network administration: interfaces, routes, firewall rules"),
    ("SYS_PTRACE", "tracing other processes and reading their memory"),
    ("SYS_MODULE", "loading modules into the host kernel"),
    ("SYS_RAWIO", "raw I/O to devices and ports"),
    ("SYS_BOOT", "rebooting and loading a new kernel"),
    ("SYS_TIME", "setting the host's clock"),
    ("DAC_READ_SEARCH", "reading any file, and opening host files by handle (open_by_handle_at)"),
    ("BPF", "loading BPF programs into the kernel"),
    ("PERFMON", "kernel performance monitoring"),
    ("SYSLOG", "reading the kernel log, which shows kernel addresses"),
    ("SYS_NICE", "real-time priorities that can starve the host's processes"),
    ("IPC_LOCK", "locking memory the kernel cannot reclaim"),
    ("LEASE", "file leases that stall other processes' opens"),
];

/// A capability as Docker reads it: upper case, without the `CAP_` prefix.
pub(crate) fn capability_name(written: &str) -> String {
    let upper = written.trim().to_ascii_uppercase();
    upper.strip_prefix("CAP_").map(str::to_string).unwrap_or(upper)
}

impl Rule for DangerousCapability {
    fn meta(&self) -> &'static RuleMeta {
        &Self::META
    }

    fn check(&self, ctx: &Context) -> Vec<Finding> {
        let mut out = Vec::new();
        for service in &ctx.config.services {
            let Some(added) = service.value.get("cap_add") else { continue };
            for item in added.items() {
                let Some(name) = item.as_str().map(capability_name) else { continue };
                let Some((name, allows)) = DANGEROUS.iter().find(|(n, _)| *n == name) else { continue };
                let mut finding = Finding::new(
                    &Self::META,
                    item.loc,
                    format!("service `{}` adds capability `{name}`: {allows}", service.name),
                )
                .service(&service.name)
                .help("keep it only if the software documents that it needs it, and run that service apart");
                if matches!(*name, "SYSLOG" | "SYS_NICE" | "IPC_LOCK" | "LEASE") {
                    finding.severity = super::Severity::Warning;
                }
                out.push(finding);
            }
        }
        out
    }
}
