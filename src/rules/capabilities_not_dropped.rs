use super::{Context, Finding, Rule, RuleMeta};

declare_rule! {
    /// ## What it does
    /// Reports production services that keep Docker's default capabilities: no `ALL` in
    /// `cap_drop` (written with or without `CAP_`, in any case).
    ///
    /// ## Why it matters
    /// Docker starts every container with 14 capabilities, among them `CHOWN`,
    /// `DAC_OVERRIDE`, `FOWNER`, `SETUID`, `SETGID`, `NET_RAW` and `MKNOD`
    /// (https://docs.docker.com/engine/containers/run/#runtime-privilege-and-linux-capabilities).
    /// Most services need none or one or two of them once started; a process that is taken over
    /// keeps the rest (`NET_RAW` forges packets on the container's network, `DAC_OVERRIDE` ignores
    /// file permissions). OWASP's Docker Security Cheat Sheet, rule 3: drop all, add back what is
    /// needed.
    ///
    /// ## When it does not apply
    /// `cap_drop: [ALL]` (with `cap_add` of what the service needs), privileged containers
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
    /// `cap_drop: [ALL]` and `cap_add` of exactly what the image's entrypoint and process use (the
    /// official postgres entrypoint changes file owners and switches user; nginx binds port 80
    /// and switches its workers' user). Which capabilities an image needs is not in stackfix's
    /// catalog yet, so this rule only reports.
    ///
    /// ## Fix safety
    /// No fix.
    pub struct CapabilitiesNotDropped => "capabilities-not-dropped" {
        summary: "container keeps Docker's default capabilities",
        severity: Info,
        area: Security,
        scope: Production,
        fix: Never,
        applicability: DisplayOnly,
        seeds: ["004"],
    }
}

impl Rule for CapabilitiesNotDropped {
    fn meta(&self) -> &'static RuleMeta {
        &Self::META
    }

    fn check(&self, ctx: &Context) -> Vec<Finding> {
        let mut out = Vec::new();
        for service in super::hardening_candidates(ctx) {
            let dropped = service.value.get("cap_drop").is_some_and(|d| {
                d.items()
                    .iter()
                    .filter_map(|i| i.as_str())
                    .any(|c| super::dangerous_capability::capability_name(c) == "ALL")
            });
            if dropped {
                continue;
            }
            out.push(
                Finding::new(
                    &Self::META,
                    service.production_site(),
                    format!("service `{}` keeps Docker's default capabilities (no `cap_drop: [ALL]`)", service.name),
                )
                .service(&service.name)
                .help("drop ALL and add back with `cap_add` only what its software needs"),
            );
        }
        out
    }
}
