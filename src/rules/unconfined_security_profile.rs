use super::{Context, Finding, Rule, RuleMeta};

declare_rule! {
    /// ## What it does
    /// Reports `security_opt` entries that turn a confinement off: `seccomp=unconfined`,
    /// `apparmor=unconfined`, `label=disable` and the unconfined SELinux types
    /// (`label=type:spc_t`, `label=type:unconfined_t`), written with `=` or the older `:` as
    /// Docker reads them, and `systempaths=unconfined` (only with `=`).
    ///
    /// ## Why it matters
    /// Docker's default seccomp profile blocks about 44 system calls a container has no use for
    /// (https://docs.docker.com/engine/security/seccomp/), its AppArmor profile and SELinux labels
    /// keep the container off the host's files, and masked `/proc` and `/sys` paths hide the
    /// kernel's controls. Each is a layer a kernel exploit or a mistake in a mount has to get
    /// through; unconfined, it does not.
    ///
    /// ## When it does not apply
    /// A custom profile (`seccomp=./profile.json`, `apparmor=my-profile`), and other options
    /// (`no-new-privileges`).
    ///
    /// ## Example
    /// ```yaml
    ///     security_opt:
    ///       - seccomp:unconfined
    /// ```
    ///
    /// ## Fix
    /// Remove the entry, or write a profile that allows only the system calls the software needs.
    /// Which calls those are is not known to stackfix, so this rule only reports.
    ///
    /// ## Fix safety
    /// No fix.
    pub struct UnconfinedSecurityProfile => "unconfined-security-profile" {
        summary: "seccomp, AppArmor or SELinux confinement turned off",
        severity: Error,
        area: Security,
        scope: Any,
        fix: Never,
        applicability: DisplayOnly,
        seeds: ["004"],
    }
}

/// A `security_opt` entry as Docker reads it: the option and its value, split at the first `=`
/// or, in the older spelling, `:` (`seccomp:unconfined`).
pub(crate) fn security_option(entry: &str) -> (String, &str) {
    let at = entry.find(['=', ':']);
    match at {
        Some(at) => (entry[..at].trim().to_ascii_lowercase(), entry[at + 1..].trim()),
        None => (entry.trim().to_ascii_lowercase(), ""),
    }
}

impl Rule for UnconfinedSecurityProfile {
    fn meta(&self) -> &'static RuleMeta {
        &Self::META
    }

    fn check(&self, ctx: &Context) -> Vec<Finding> {
        let mut out = Vec::new();
        for service in &ctx.config.services {
            let Some(options) = service.value.get("security_opt") else { continue };
            for item in options.items() {
                let Some(entry) = item.as_str() else { continue };
                let (option, value) = security_option(entry);
                let what = match (option.as_str(), value) {
                    ("seccomp", "unconfined") => "runs without a seccomp profile (every system call allowed)",
                    ("apparmor", "unconfined") => "runs without an AppArmor profile",
                    ("label", "disable") => "runs without SELinux labels",
                    ("label", "type:spc_t" | "type:unconfined_t") => "runs as an unconfined SELinux type",
                    // Docker reads this one only with `=` (docker/cli `parseSecurityOpts`).
                    ("systempaths", "unconfined") if entry.trim_start().starts_with("systempaths=") => {
                        "sees /proc and /sys unmasked"
                    }
                    _ => continue,
                };
                out.push(
                    Finding::new(&Self::META, item.loc, format!("service `{}` {what}", service.name))
                        .service(&service.name)
                        .help("remove the entry, or write a profile that allows only what the software needs"),
                );
            }
        }
        out
    }
}
