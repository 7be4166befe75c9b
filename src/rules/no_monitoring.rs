use serde_json::json;

use super::{Applicability, Context, Finding, Fix, FixEdit, Rule, RuleMeta, Site};
use super::{EditOp, Target};
use crate::fix::render::template as tpl;

/// Where the configuration files go, relative to the compose file that gets the service.
const MONITORING_DIR: &str = "monitoring";

declare_rule! {
    /// ## What it does
    /// Reports a production stack that runs no Prometheus: nothing collects metrics and nothing
    /// alerts when a service or database goes down. Runs only when asked for
    /// (`stackfix bootstrap --with monitoring`, or `--select no-monitoring`): small stacks may
    /// rightly rely on a hosted service instead.
    ///
    /// ## Why it matters
    /// Without metrics an outage is noticed by users first. A production stack usually carries
    /// Prometheus, alert rules, Alertmanager and an exporter per database.
    ///
    /// ## When it does not apply
    /// Stacks with a Prometheus service; development configurations next to a production file.
    ///
    /// ## Example
    /// ```yaml
    /// services:
    ///   api:
    ///     image: ghcr.io/acme/api:1.4.2
    ///   postgres:
    ///     image: postgres:16
    /// ```
    ///
    /// ## Fix
    /// A pinned `prometheus` service with health check, limits and a data volume, on the networks
    /// the stack's services use, reading a new `monitoring/prometheus.yml` (scrapes itself, loads
    /// `monitoring/alert-rules.yml` with a `TargetDown` alert). Once Prometheus runs, the
    /// `missing-exporter` and `alerts-without-alertmanager` fixes add the exporters for the
    /// stack's databases and an Alertmanager.
    ///
    /// ## Fix safety
    /// Safe: it only adds a service and files.
    pub struct NoMonitoring => "no-monitoring" {
        summary: "production stack without Prometheus",
        severity: Info,
        area: Observability,
        scope: Requested,
        fix: Sometimes,
        applicability: Safe,
        seeds: ["002", "004"],
    }
}

impl Rule for NoMonitoring {
    fn meta(&self) -> &'static RuleMeta {
        &Self::META
    }

    fn check(&self, ctx: &Context) -> Vec<Finding> {
        if ctx.config.services_of_kind("prometheus").next().is_some() {
            return Vec::new();
        }
        let Some(first) = ctx.config.services.first() else {
            return Vec::new();
        };
        let finding = Finding::new(
            &Self::META,
            first.definition_site(),
            "no Prometheus: nothing collects metrics or alerts when a service goes down".to_string(),
        )
        .help("run Prometheus with alert rules, exporters for the databases and an Alertmanager");
        vec![finding.with_fix_opt(fix(ctx, first.definition_site().file))]
    }
}

/// The Prometheus service in `file` and its configuration in `monitoring/` beside it.
fn fix(ctx: &Context, file: crate::stack::FileId) -> Option<Fix> {
    const NAME: &str = "prometheus";
    if ctx.config.service(NAME).is_some() {
        return None;
    }
    let kind = ctx.stack.profiles.kind(NAME)?;
    let dir = crate::stack::load::resolve(&ctx.stack.file(file).base_dir)?.join(MONITORING_DIR);
    // Prometheus reaches every service; the exporters added later join its networks.
    let networks = super::shared_networks(&ctx.config.services);
    let mut edits = vec![FixEdit::new(
        Target::Service(Site::Definition { service: NAME.to_string(), file }),
        EditOp::Merge,
        tpl::NO_MONITORING_SERVICE,
        json!({
            "image": kind.image,
            "config": format!("./{MONITORING_DIR}/prometheus.yml"),
            "rules": format!("./{MONITORING_DIR}/alert-rules.yml"),
            "volume": "prometheus-data",
            "networks": networks,
        }),
    )];
    edits.extend(ctx.production_settings(NAME, kind, file));
    edits.push(FixEdit::new(
        Target::Root(file),
        EditOp::Merge,
        tpl::NO_MONITORING_VOLUME,
        json!({ "volume": "prometheus-data" }),
    ));
    edits.push(FixEdit::new(
        Target::NewFile(dir.join("prometheus.yml")),
        EditOp::Create,
        tpl::NO_MONITORING_CONFIG,
        json!({ "rules": "alert-rules.yml" }),
    ));
    edits.push(FixEdit::new(
        Target::NewFile(dir.join("alert-rules.yml")),
        EditOp::Create,
        tpl::NO_MONITORING_RULES,
        json!({}),
    ));
    Some(ctx.fix(
        format!("add a `{NAME}` service with monitoring/prometheus.yml and alert rules"),
        Applicability::Safe,
        edits,
    ))
}
