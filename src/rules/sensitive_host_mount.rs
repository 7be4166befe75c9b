use super::{Context, Finding, Rule, RuleMeta, Severity};

declare_rule! {
    /// ## What it does
    /// Reports bind mounts of the host's sensitive paths:
    /// - at or below `/root`, `/boot`, `/proc`, `/sys`, `/dev` (but `/dev/null`, `/dev/zero`,
    ///   `/dev/full`, `/dev/random`, `/dev/urandom` and the syslog socket `/dev/log`),
    ///   `/var/lib/docker`, `/var/lib/containerd`, and the host's secrets in `/etc` (`shadow`,
    ///   `gshadow`, `sudoers`, `ssh`);
    /// - the root `/`, `/etc`, `/run`, `/var/run`, `/home` and a home (`/home/<user>`, `~`), and
    ///   what is below `/etc`, `/run` and `/var/run` when mounted writable;
    /// - the host's programs (`/usr`, `/bin`, `/sbin`, `/lib`, `/lib64`, `/lib/modules`) mounted
    ///   writable;
    /// - a home's credential directories (`.ssh`, `.aws`, `.docker`, `.kube`, `.gnupg`);
    /// - the sockets of container runtimes other than Docker's (containerd, CRI-O, Podman;
    ///   Docker's is `docker-socket-mount`'s).
    ///
    /// Paths are resolved as the kernel walks them (`/var/run/../etc` is `/etc`). `/run` and
    /// `/var/run`, which hold the Docker socket, are errors even read-only. Other writable mounts
    /// are errors (writable paths below `/etc`, `/run` and `/var/run`, such as a certbot's
    /// `/etc/letsencrypt`, warnings), read-only ones warnings, runtime sockets errors. A source
    /// that starts with a variable the project's `.env` does not set is not judged: its path is
    /// not known.
    ///
    /// ## Why it matters
    /// A writable `/etc` or `/root` lets the container add a user, an SSH key or a cron job to the
    /// host; `/proc` and `/sys` hold the kernel's controls; `/var/lib/docker` holds every other
    /// container's files; a runtime's socket starts containers as root on the host. Even read
    /// only, these paths show the host's secrets (`/etc/shadow`, `/root/.ssh`) to whoever gets into
    /// the container.
    ///
    /// ## When it does not apply
    /// Read-only mounts below `/etc` and `/run` (`/etc/localtime:/etc/localtime:ro`), what is below
    /// a home but its credentials (`/home/deploy/app/data`), the host's programs read-only, other
    /// host paths, named volumes (a volume whose driver binds a host directory is not judged).
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
    ("/etc/shadow", "the host's password hashes"),
    ("/etc/gshadow", "the host's group password hashes"),
    ("/etc/sudoers", "who may become root on the host"),
    ("/etc/sudoers.d", "who may become root on the host"),
    ("/etc/ssh", "the host's SSH keys and configuration"),
];
/// Host paths reported when mounted themselves, and below them when writable (as warnings).
const TOP: &[(&str, &str)] = &[
    ("/etc", "the host's configuration (users, passwords, services)"),
    ("/run", "the host's runtime state and sockets"),
    ("/var/run", "the host's runtime state and sockets"),
];
/// Host paths reported when mounted writable, at or below them: the host's programs.
const PROGRAMS: &[&str] = &["/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib/modules"];
/// Devices and sockets any container may have: Docker creates the devices, and `/dev/log` is
/// the host's syslog socket, which only takes log lines.
const HARMLESS: &[&str] = &["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/log"];
/// Whether what a path holds is a secret (keys, tokens, password hashes): no host agent needs it.
fn secret(what: &str) -> bool {
    ["credentials", "password hashes", "SSH keys"].iter().any(|w| what.contains(w))
}

/// Directories of a home that hold its user's credentials.
const CREDENTIALS: &[&str] = &[".ssh", ".aws", ".docker", ".kube", ".gnupg"];
/// Sockets of container runtimes (Docker's is `docker-socket-mount`'s).
const RUNTIME_SOCKETS: &[&str] = &["containerd.sock", "crio.sock", "podman.sock"];

/// Why mounting `path` (normalized) is reported, and how severely, when it is.
fn sensitivity(path: &str, writable: bool) -> Option<(&'static str, Severity)> {
    let at_or_below = |top: &str| path == top || path.strip_prefix(top).is_some_and(|rest| rest.starts_with('/'));
    let access = if writable { Severity::Error } else { Severity::Warning };
    if path.rsplit('/').next().is_some_and(|name| RUNTIME_SOCKETS.contains(&name)) {
        return Some(("a container runtime's socket: root on the host", Severity::Error));
    }
    if path == "/" {
        return Some(("the host's whole filesystem", access));
    }
    // `/home`, a home, and the credentials below a home.
    let home: Vec<&str> = path.split('/').skip(1).collect();
    if home.first() == Some(&"home") {
        match home.as_slice() {
            ["home"] | ["home", _] => return Some(("the host users' homes", access)),
            ["home", _, dir, ..] if CREDENTIALS.contains(dir) => {
                return Some(("a host user's credentials (keys, tokens)", access))
            }
            _ => return None,
        }
    }
    if HARMLESS.contains(&path) {
        return None;
    }
    if let Some((_, what)) = WHOLE.iter().rev().find(|(w, _)| at_or_below(w)) {
        return Some((what, access));
    }
    if path == "/run" || path == "/var/run" {
        return Some((
            "the host's runtime sockets, the Docker socket among them (read-only does not limit a socket)",
            Severity::Error,
        ));
    }
    if let Some((top, what)) = TOP.iter().find(|(t, _)| at_or_below(t)) {
        return match (path == *top, writable) {
            (true, _) => Some((*what, access)),
            (false, true) => Some((*what, Severity::Warning)),
            (false, false) => None,
        };
    }
    (writable && PROGRAMS.iter().any(|p| at_or_below(p)))
        .then_some(("the host's programs and libraries", Severity::Error))
}

impl Rule for SensitiveHostMount {
    fn meta(&self) -> &'static RuleMeta {
        &Self::META
    }

    fn check(&self, ctx: &Context) -> Vec<Finding> {
        let mut out = Vec::new();
        for service in &ctx.config.services {
            for mount in &service.volumes {
                let (Some(path), Some(written)) = (mount.host_path(&ctx.stack.env), mount.source.as_deref()) else {
                    continue;
                };
                if path.ends_with("/docker.sock") {
                    continue;
                }
                let Some((what, severity)) = sensitivity(&path, !mount.read_only) else { continue };
                // A home compose expands (`~`, `$HOME`) is shown as `~`.
                let home = path.strip_prefix("/home/~").map(|rest| format!("~{rest}"));
                let shown = if written.starts_with('~') {
                    written.trim_end_matches('/')
                } else {
                    home.as_deref().unwrap_or(&path)
                };
                let access = if mount.read_only { "read-only" } else { "writable" };
                let mut finding = Finding::new(
                    &Self::META,
                    mount.loc,
                    format!("service `{}` mounts `{shown}` {access}: {what}", service.name),
                )
                .service(&service.name)
                .help(match (mount.read_only, secret(what)) {
                    (true, true) => "give the service its own credential (a compose `secrets:` entry) instead of the host's",
                    (true, false) => "mount only the files the service needs; a host agent that documents this mount (node exporter, cAdvisor) keeps it, with a suppression comment saying why",
                    (false, _) => "mount only the files the service needs, read-only where it only reads them",
                });
                finding.severity = severity;
                out.push(finding);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::service::resolve_host_path as normalized;

    #[test]
    fn paths() {
        assert_eq!(normalized("//etc/"), Some("/etc".into()));
        assert_eq!(normalized("./etc"), None);
        assert_eq!(normalized("/a/../etc"), Some("/etc".into()));
        assert_eq!(normalized("/var/run/../../etc/shadow"), Some("/etc/shadow".into()));
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
        assert!(sensitivity("/home/app/project", true).is_none());
        assert!(sensitivity("/etc/shadow", false).is_some());
        assert_eq!(sensitivity("/etc/letsencrypt", true).map(|s| s.1), Some(Severity::Warning));
        assert_eq!(sensitivity("/etc", true).map(|s| s.1), Some(Severity::Error));
        assert!(sensitivity("/dev/log", true).is_none());
        assert!(sensitivity("/dev/null", true).is_none());
        assert!(sensitivity("/dev/snd", false).is_some());
        assert!(sensitivity("/sys/fs/cgroup", false).is_some());
        assert!(sensitivity("/usr/local/bin", true).is_some());
        assert!(sensitivity("/usr/share/zoneinfo", false).is_none());
        assert_eq!(normalized("~/.ssh"), Some("/home/~/.ssh".into()));
        assert!(sensitivity(&normalized("~/.aws").unwrap(), false).is_some());
        assert!(sensitivity("/srv/app/.docker", false).is_none());
        assert!(sensitivity("/home/deploy/.docker", false).is_some());
    }
}
