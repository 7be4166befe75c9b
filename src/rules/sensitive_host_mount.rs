use super::{Context, Finding, Rule, RuleMeta, Severity};
use crate::stack::service::MountKind;

declare_rule! {
    /// ## What it does
    /// Reports bind mounts of the host's sensitive paths:
    /// - at or below `/root`, `/boot`, `/proc`, `/sys`, `/dev` (but `/dev/null`, `/dev/zero`,
    ///   `/dev/full`, `/dev/random`, `/dev/urandom`), `/var/lib/docker` and `/var/lib/containerd`;
    /// - the root `/`, `/etc`, `/run`, `/var/run`, `/home` and a home below it (`~` too), and what
    ///   is below them when mounted writable;
    /// - the host's programs (`/usr`, `/bin`, `/sbin`, `/lib`, `/lib64`, `/lib/modules`) mounted
    ///   writable;
    /// - credential directories anywhere (`.ssh`, `.aws`, `.docker`, `.kube`, `.gnupg`);
    /// - the sockets of container runtimes other than Docker's (containerd, CRI-O, Podman;
    ///   Docker's is `docker-socket-mount`'s).
    ///
    /// Writable mounts are errors, read-only ones warnings.
    ///
    /// ## Why it matters
    /// A writable `/etc` or `/root` lets the container add a user, an SSH key or a cron job to the
    /// host; `/proc` and `/sys` hold the kernel's controls; `/var/lib/docker` holds every other
    /// container's files; a runtime's socket starts containers as root on the host. Even read
    /// only, these paths show the host's secrets (`/etc/shadow`, `/root/.ssh`) to whoever gets into
    /// the container.
    ///
    /// ## When it does not apply
    /// Read-only mounts below `/etc`, `/run` or a home (`/etc/localtime:/etc/localtime:ro`), the
    /// host's programs read-only, other host paths, named volumes.
    ///
    /// ## Example
    /// ```yaml
    ///     volumes:
    ///       - /etc:/host/etc
    /// ```
    ///
    /// ## Fix
    /// Mount only the file the service needs, read-only (`/etc/localtime:/etc/localtime:ro`).
    /// Host agents (Prometheus's node exporter, cAdvisor) document read-only mounts of `/`,
    /// `/proc` and `/sys`; keep those read-only. stackfix does not know what a service writes, so
    /// this rule only reports.
    ///
    /// ## Fix safety
    /// No fix.
    pub struct SensitiveHostMount => "sensitive-host-mount" {
        summary: "sensitive host path mounted",
        severity: Error,
        area: Security,
        scope: Any,
        fix: Never,
        applicability: DisplayOnly,
        seeds: ["004"],
    }
}

/// Host paths reported whatever is below them, read-only or not, with what they hold.
const WHOLE: &[(&str, &str)] = &[
    ("/root", "root's home on the host (SSH keys, shell history, credentials)"),
    ("/boot", "the host's kernels and boot loader"),
    ("/var/lib/docker", "a container runtime's data: every container's files"),
    ("/var/lib/containerd", "a container runtime's data: every container's files"),
    ("/proc", "the host's processes and kernel settings"),
    ("/sys", "the host's kernel and device controls"),
    ("/dev", "the host's devices"),
];
/// Host paths reported when mounted themselves, and below them when writable.
const TOP: &[(&str, &str)] = &[
    ("/etc", "the host's configuration (users, passwords, services)"),
    ("/run", "the host's runtime state and sockets"),
    ("/var/run", "the host's runtime state and sockets"),
    ("/home", "the host users' homes"),
];
/// Host paths reported when mounted writable, at or below them: the host's programs.
const PROGRAMS: &[&str] = &["/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib/modules"];
/// Devices any container has (Docker creates them), harmless to mount.
const HARMLESS_DEVICES: &[&str] = &["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"];
/// Directories that hold a user's credentials, wherever they are.
const CREDENTIALS: &[&str] = &[".ssh", ".aws", ".docker", ".kube", ".gnupg"];
/// Sockets of container runtimes (Docker's is `docker-socket-mount`'s).
const RUNTIME_SOCKETS: &[&str] = &["containerd.sock", "crio.sock", "podman.sock"];

/// An absolute host path with `.`, empty and trailing components removed (`//etc/` → `/etc`);
/// `~` stands for a home below `/home` (compose expands it to the user's home). `None` for a
/// relative path or one with `..`.
fn normalized(source: &str) -> Option<String> {
    let source = match source.strip_prefix('~') {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => format!("/home/~{rest}"),
        _ => source.to_string(),
    };
    if !source.starts_with('/') {
        return None;
    }
    let mut parts = Vec::new();
    for part in source.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            p => parts.push(p),
        }
    }
    Some(format!("/{}", parts.join("/")))
}

/// Why mounting `path` (normalized) is reported, when it is.
fn sensitivity(path: &str, writable: bool) -> Option<&'static str> {
    let at_or_below = |top: &str| path == top || path.strip_prefix(top).is_some_and(|rest| rest.starts_with('/'));
    if path.rsplit('/').next().is_some_and(|name| RUNTIME_SOCKETS.contains(&name)) {
        return Some("a container runtime's socket: root on the host");
    }
    if path == "/" {
        return Some("the host's whole filesystem");
    }
    if path.split('/').any(|part| CREDENTIALS.contains(&part)) {
        return Some("a host user's credentials (keys, tokens)");
    }
    if HARMLESS_DEVICES.contains(&path) {
        return None;
    }
    if let Some((_, what)) = WHOLE.iter().find(|(w, _)| at_or_below(w)) {
        return Some(what);
    }
    if let Some((top, what)) = TOP.iter().find(|(t, _)| at_or_below(t)) {
        let home = *top == "/home" && path.matches('/').count() == 2;
        return (path == *top || home || writable).then_some(*what);
    }
    (writable && PROGRAMS.iter().any(|p| at_or_below(p))).then_some("the host's programs and libraries")
}

impl Rule for SensitiveHostMount {
    fn meta(&self) -> &'static RuleMeta {
        &Self::META
    }

    fn check(&self, ctx: &Context) -> Vec<Finding> {
        let mut out = Vec::new();
        for service in &ctx.config.services {
            for mount in service.volumes.iter().filter(|m| m.kind == MountKind::Bind) {
                let Some(path) = mount.source.as_deref().and_then(normalized) else { continue };
                if path.ends_with("docker.sock") {
                    continue;
                }
                let Some(what) = sensitivity(&path, !mount.read_only) else { continue };
                let access = if mount.read_only { "read-only" } else { "writable" };
                let mut finding = Finding::new(
                    &Self::META,
                    mount.loc,
                    format!("service `{}` mounts `{path}` {access}: {what}", service.name),
                )
                .service(&service.name)
                .help("mount only the files the service needs, read-only");
                if mount.read_only {
                    finding.severity = Severity::Warning;
                }
                out.push(finding);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(normalized("//etc/"), Some("/etc".into()));
        assert_eq!(normalized("./etc"), None);
        assert_eq!(normalized("/a/../etc"), None);
        assert!(sensitivity("/", false).is_some());
        assert!(sensitivity("/etc", false).is_some());
        assert!(sensitivity("/etc/localtime", false).is_none());
        assert!(sensitivity("/etc/nginx", true).is_some());
        assert!(sensitivity("/etcetera", true).is_none());
        assert!(sensitivity("/root/.ssh", false).is_some());
        assert!(sensitivity("/var/lib/docker/volumes", false).is_some());
        assert!(sensitivity("/run/containerd/containerd.sock", false).is_some());
        assert!(sensitivity("/srv/data", true).is_none());
        assert!(sensitivity("/home/app", false).is_some());
        assert!(sensitivity("/home/app/project", false).is_none());
        assert!(sensitivity("/home/app/project", true).is_some());
        assert!(sensitivity("/dev/null", true).is_none());
        assert!(sensitivity("/dev/snd", false).is_some());
        assert!(sensitivity("/sys/fs/cgroup", false).is_some());
        assert!(sensitivity("/usr/local/bin", true).is_some());
        assert!(sensitivity("/usr/share/zoneinfo", false).is_none());
        assert_eq!(normalized("~/.ssh"), Some("/home/~/.ssh".into()));
        assert!(sensitivity(&normalized("~/.aws").unwrap(), false).is_some());
        assert!(sensitivity("/srv/app/.docker", false).is_some());
    }
}
