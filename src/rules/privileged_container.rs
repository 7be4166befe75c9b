use super::{Context, Finding, Rule, RuleMeta};

declare_rule! {
    /// ## What it does
    /// Reports services that run with `privileged: true`.
    ///
    /// ## Why it matters
    /// A privileged container has every capability, every host device, and no seccomp, AppArmor
    /// or SELinux confinement: root in it is root on the host, one `mount` away. Docker's
    /// documentation: "the `--privileged` flag gives all capabilities to the container, and it
    /// also lifts all the limitations enforced by the device cgroup controller"
    /// (https://docs.docker.com/reference/cli/docker/container/run/#privileged).
    ///
    /// ## When it does not apply
    /// `privileged: false`, or no `privileged` key.
    ///
    /// ## Example
    /// ```yaml
    ///     privileged: true
    /// ```
    ///
    /// ## Fix
    /// Give the service what it needs instead: the capabilities (`cap_add`) and devices
    /// (`devices`) its software documents. stackfix does not know them, so this rule only reports.
    ///
    /// ## Fix safety
    /// No fix.
    pub struct PrivilegedContainer => "privileged-container" {
        summary: "container runs privileged",
        severity: Error,
        area: Security,
        scope: Any,
        fix: Never,
        applicability: DisplayOnly,
        seeds: ["004"],
    }
}

impl Rule for PrivilegedContainer {
    fn meta(&self) -> &'static RuleMeta {
        &Self::META
    }

    fn check(&self, ctx: &Context) -> Vec<Finding> {
        let mut out = Vec::new();
        for service in &ctx.config.services {
            let Some(value) = service.value.get("privileged").filter(|v| v.is_compose_true()) else { continue };
            out.push(
                Finding::new(
                    &Self::META,
                    value.loc,
                    format!(
                        "service `{}` runs privileged: every capability and host device, no seccomp or AppArmor",
                        service.name
                    ),
                )
                .service(&service.name)
                .help("grant only the capabilities (`cap_add`) and devices (`devices`) its software documents"),
            );
        }
        out
    }
}
