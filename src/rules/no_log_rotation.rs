use serde_json::json;

use super::{Applicability, Context, Finding, FixEdit, Rule, RuleMeta, Site};
use super::{EditOp, Target};
use crate::fix::render::template as tpl;

/// Drivers that do not grow a file without bound (`local` rotates by default).
const BOUNDED_DRIVERS: &[&str] = &[
    "local",
    "none",
    "syslog",
    "journald",
    "gelf",
    "fluentd",
    "awslogs",
    "splunk",
    "etwlogs",
    "gcplogs",
    "logentries",
    "loki",
];

declare_rule! {
    /// ## What it does
    /// Reports production services whose logs go to the default `json-file` driver without
    /// `max-size`: the log file grows until the disk is full.
    ///
    /// ## Why it matters
    /// An unbounded container log is a classic way for a healthy stack to fill its disk: Docker's
    /// default `json-file` driver keeps every line until the container is removed.
    ///
    /// ## When it does not apply
    /// Services logging to a bounded driver (`local`, `syslog`, `journald`, `gelf`, `fluentd`,
    /// `loki`, …) or with `max-size` set; development configurations next to a production file.
    ///
    /// ## Example
    /// ```yaml
    ///   api:
    ///     image: ghcr.io/acme/api:1.4.2
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    ///     logging:
    ///       driver: json-file
    ///       options: {max-size: "10m", max-file: "3"}
    /// ```
    ///
    /// ## Fix safety
    /// Safe: it adds a missing setting.
    pub struct NoLogRotation => "no-log-rotation" {
        summary: "container logs grow without bound",
        severity: Info,
        area: Resources,
        scope: Production,
        fix: Always,
        applicability: Safe,
        seeds: ["003"],
    }
}

impl Rule for NoLogRotation {
    fn meta(&self) -> &'static RuleMeta {
        &Self::META
    }

    fn check(&self, ctx: &Context) -> Vec<Finding> {
        let mut out = Vec::new();
        for service in &ctx.config.services {
            let (loc, message) = match &service.logging {
                None => (
                    service.production_site(),
                    format!("service `{}` logs to json-file without `max-size`", service.name),
                ),
                Some(l) if l.driver.as_deref().is_some_and(|d| BOUNDED_DRIVERS.contains(&d) || d.contains('$')) => {
                    continue
                }
                Some(l) if l.options.contains_key("max-size") => continue,
                Some(l) => (l.loc, format!("service `{}` logs to json-file without `max-size`", service.name)),
            };
            out.push(Finding::new(&Self::META, loc, message).service(&service.name).with_fix(ctx.fix(
                "rotate json-file logs (max-size 10m, max-file 3)",
                Applicability::Safe,
                vec![rotation_edit(ctx.production_site(service))],
            )));
        }
        out
    }
}

/// json-file log rotation (10m × 3) at `site`.
pub(super) fn rotation_edit(site: Site) -> FixEdit {
    FixEdit::new(
        Target::Service(site),
        EditOp::Merge,
        tpl::NO_LOG_ROTATION,
        json!({ "max_size": "10m", "max_file": "3" }),
    )
}
