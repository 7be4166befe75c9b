use super::{Context, Finding, Rule, RuleMeta};

declare_rule! {
    /// ## What it does
    /// Reports Elasticsearch with `xpack.security.enabled=false` and OpenSearch with
    /// `DISABLE_SECURITY_PLUGIN=true` or `plugins.security.disabled=true` in production.
    ///
    /// ## Why it matters
    /// Without security anyone who reaches port 9200 can read and delete every index, and nothing
    /// records who did.
    ///
    /// ## When it does not apply
    /// Development configurations next to a production file.
    ///
    /// ## Example
    /// ```yaml
    ///     environment:
    ///       - xpack.security.enabled=false
    /// ```
    ///
    /// ## Fix
    /// `xpack.security.enabled=true` with `ELASTIC_PASSWORD: ${ELASTIC_PASSWORD:?set ELASTIC_PASSWORD}`.
    ///
    /// ## Fix safety
    /// Not automated yet (the fix above is what to do by hand); stackfix reports only.
    pub struct ElasticsearchSecurityDisabled => "elasticsearch-security-disabled" {
        summary: "Elasticsearch/OpenSearch security disabled",
        severity: Error,
        area: Security,
        scope: Production,
        fix: Never,
        applicability: DisplayOnly,
        seeds: ["002"],
        judges: ["elasticsearch"],
    }
}

/// (variable, value meaning "off")
const SWITCHES: &[(&str, &str)] =
    &[("xpack.security.enabled", "false"), ("DISABLE_SECURITY_PLUGIN", "true"), ("plugins.security.disabled", "true")];

impl Rule for ElasticsearchSecurityDisabled {
    fn meta(&self) -> &'static RuleMeta {
        &Self::META
    }

    fn check(&self, ctx: &Context) -> Vec<Finding> {
        let mut out = Vec::new();
        for service in ctx.config.services_of_kind("elasticsearch") {
            for (name, off) in SWITCHES {
                let Some(var) = service.env(name) else {
                    continue;
                };
                if !var.value.as_deref().is_some_and(|v| v.trim().eq_ignore_ascii_case(off)) {
                    continue;
                }
                out.push(
                    Finding::new(
                        &Self::META,
                        var.loc,
                        format!("service `{}` disables security (`{name}={off}`)", service.name),
                    )
                    .service(&service.name)
                    .help("anyone who reaches the HTTP port can read and delete every index"),
                );
            }
        }
        out
    }
}
