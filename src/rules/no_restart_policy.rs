use serde_json::json;

use super::{Applicability, Context, Finding, FixEdit, Rule, RuleMeta, Site};
use super::{EditOp, Target};
use crate::fix::render::template as tpl;

declare_rule! {
    /// ## What it does
    /// Reports production services with neither `restart:` nor `deploy.restart_policy`.
    ///
    /// ## Why it matters
    /// Without a restart policy a crashed container stays down until someone notices, and a host
    /// reboot leaves the stack stopped.
    ///
    /// ## When it does not apply
    /// Development configurations next to a production file, one-shot jobs, and command-line
    /// tools run on demand: a service with the word `cli` in its name (`airflow-cli`, `wp-cli`)
    /// that publishes no port and has no health check of its own runs a command and exits, and
    /// restarted it would run again and again.
    ///
    /// ## Example
    /// ```yaml
    ///   api:
    ///     image: ghcr.io/acme/api:1.4.2
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    ///     restart: unless-stopped
    /// ```
    ///
    /// ## Fix safety
    /// Safe: it adds a missing setting.
    pub struct NoRestartPolicy => "no-restart-policy" {
        summary: "service has no restart policy",
        severity: Warning,
        area: Resources,
        scope: Production,
        fix: Always,
        applicability: Safe,
        seeds: ["001", "003"],
    }
}

impl Rule for NoRestartPolicy {
    fn meta(&self) -> &'static RuleMeta {
        &Self::META
    }

    fn check(&self, ctx: &Context) -> Vec<Finding> {
        ctx.config
            .services
            .iter()
            .filter(|s| s.restart.is_none() && s.restart_policy.is_none() && !ctx.config.is_one_shot(s))
            .filter(|s| !command_line_tool(s))
            .map(|s| {
                let site = s.production_site();
                Finding::new(&Self::META, site, format!("service `{}` has no restart policy", s.name))
                    .service(&s.name)
                    .help("a crashed container stays down; production services usually use `restart: unless-stopped`")
                    .with_fix(ctx.fix(
                        "add `restart: unless-stopped`",
                        Applicability::Safe,
                        vec![restart_edit(ctx.production_site(s))],
                    ))
            })
            .collect()
    }
}

/// Whether `service` is a command-line tool run on demand: `cli` is a word of its name, and it
/// serves nothing (no published port, no health check of its own).
fn command_line_tool(service: &crate::stack::Service) -> bool {
    let named = service.name.split(|c: char| !c.is_ascii_alphanumeric()).any(|w| w.eq_ignore_ascii_case("cli"));
    named && service.ports.is_empty() && !service.has_own_probe()
}

/// `restart: unless-stopped` at `site`.
pub(super) fn restart_edit(site: Site) -> FixEdit {
    FixEdit::new(Target::Service(site), EditOp::Merge, tpl::NO_RESTART_POLICY, json!({ "policy": "unless-stopped" }))
}
