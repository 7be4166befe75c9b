use serde_json::json;

use super::{Applicability, Context, Finding, Fix, FixEdit, Rule, RuleMeta};
use super::{EditOp, Target};
use crate::fix::render::template as tpl;
use crate::stack::side::PrometheusConfig;
use crate::stack::{FileId, Value};

/// The compose secret and environment variable that carry the receiver's webhook URL.
const SECRET: &str = "alertmanager_slack_webhook";
const WEBHOOK_VARIABLE: &str = "ALERTMANAGER_SLACK_WEBHOOK_URL";

declare_rule! {
    /// ## What it does
    /// Reports a Prometheus that evaluates alerting rules (`rule_files` with `alert:` rules) or
    /// sends to `alerting.alertmanagers` targets while no Alertmanager runs in the stack, and a
    /// Prometheus with alert rules and an Alertmanager service but no `alerting:` section.
    ///
    /// ## Why it matters
    /// Prometheus evaluates the rules and marks alerts firing, but only Alertmanager routes them to
    /// people: without it an alert fires into nothing and nobody is paged.
    ///
    /// ## When it does not apply
    /// Rule files with only recording rules; stacks whose Alertmanager receives the alerts.
    ///
    /// ## Example
    /// ```yaml
    /// # prometheus.yml
    /// rule_files:
    ///   - alerts.yml
    /// ```
    ///
    /// ## Fix
    /// An `alertmanager` service (pinned image, config mount, health check, limits), an
    /// `alertmanager.yml` whose receiver comes from an environment variable, and
    /// `alerting.alertmanagers` pointing at it.
    ///
    /// ## Fix safety
    /// Safe: it adds a service and a file, and sets `alerting` only where Prometheus has none;
    /// alerts reach Slack once `ALERTMANAGER_SLACK_WEBHOOK_URL` is set.
    pub struct AlertsWithoutAlertmanager => "alerts-without-alertmanager" {
        summary: "alert rules but no Alertmanager",
        severity: Error,
        area: Observability,
        scope: Any,
        fix: Sometimes,
        applicability: Safe,
        seeds: ["004"],
    }
}

/// Whether a rules file holds at least one `alert:` rule.
fn has_alert_rule(ctx: &Context, file: FileId) -> bool {
    let Some(tree) = ctx.stack.file(file).tree.as_ref() else {
        return false;
    };
    let Some(root) = tree.root() else {
        return false;
    };
    let Ok(doc) = Value::from_tree(tree, root, file) else {
        return false;
    };
    doc.get("groups")
        .map(Value::items)
        .unwrap_or_default()
        .iter()
        .any(|g| g.get("rules").map(Value::items).unwrap_or_default().iter().any(|r| r.get("alert").is_some()))
}

impl Rule for AlertsWithoutAlertmanager {
    fn meta(&self) -> &'static RuleMeta {
        &Self::META
    }

    fn check(&self, ctx: &Context) -> Vec<Finding> {
        let mut out = Vec::new();
        let has_alertmanager = ctx.config.services_of_kind("alertmanager").next().is_some();
        for prom in &ctx.config.prometheus {
            let alerting_files: Vec<FileId> = prom
                .rule_files
                .iter()
                .flat_map(|r| r.files.iter().copied())
                .filter(|f| has_alert_rule(ctx, *f))
                .collect();
            let unresolved = prom.rule_files.iter().any(|r| r.files.is_empty());
            let has_alerts = !alerting_files.is_empty() || unresolved;
            let key = prom.rule_files_key.unwrap_or(prom.doc.loc);
            if !has_alertmanager {
                let missing_targets: Vec<_> = prom
                    .alertmanager_targets
                    .iter()
                    .filter(|t| ctx.config.service_by_host(&t.host).is_none())
                    .collect();
                if has_alerts {
                    let mut f = Finding::new(
                        &Self::META,
                        key,
                        format!("Prometheus `{}` loads alert rules but the stack has no Alertmanager: alerts are never delivered", prom.service),
                    )
                    .service(&prom.service);
                    for file in &alerting_files {
                        let doc_loc =
                            crate::stack::Loc { file: *file, span: Default::default(), key: None, via_alias: false };
                        f = f.related(doc_loc, "alert rules defined here");
                    }
                    let target = missing_targets.first().map(|t| (t.host.clone(), t.port.clone()));
                    for t in missing_targets {
                        f = f.related(t.loc, format!("alerts are sent to `{}`, which no service provides", t.host));
                    }
                    out.push(f.with_fix_opt(fix(ctx, prom, target)));
                } else if let Some(t) = missing_targets.first() {
                    out.push(
                        Finding::new(
                            &Self::META,
                            t.loc,
                            format!(
                                "Prometheus `{}` sends alerts to `{}`, which no service provides",
                                prom.service, t.host
                            ),
                        )
                        .service(&prom.service),
                    );
                }
            } else if has_alerts
                && prom.alertmanager_targets.is_empty()
                && prom.doc.path(&["alerting", "alertmanagers"]).is_none()
            {
                out.push(
                    Finding::new(
                        &Self::META,
                        key,
                        format!("Prometheus `{}` has alert rules but no `alerting.alertmanagers`: the Alertmanager never receives them", prom.service),
                    )
                    .service(&prom.service),
                );
            }
        }
        out
    }
}

/// An Alertmanager service (named after the host Prometheus already sends to, if any), its
/// alertmanager.yml next to prometheus.yml with a Slack receiver whose webhook URL comes from the
/// environment through a compose secret, and `alerting.alertmanagers` in prometheus.yml when it
/// has none. `None` when the files are not where stackfix can reason about them.
fn fix(ctx: &Context, prom: &PrometheusConfig, target: Option<(String, Option<String>)>) -> Option<Fix> {
    let (name, port) = match target {
        Some((host, port)) => (host, port.unwrap_or_else(|| "9093".into())),
        None => ("alertmanager".to_string(), "9093".to_string()),
    };
    if ctx.config.service(&name).is_some()
        || !super::is_service_name(&name)
        || !port.chars().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let prometheus = ctx.config.service(&prom.service)?;
    if super::unreachable_by_name(prometheus).is_some() {
        return None;
    }
    let profiles = super::companion_profiles(prometheus, prometheus.definition_site().file).ok()?;
    let compose = ctx.stack.file(prometheus.definition_site().file);
    let config = ctx.stack.file(prom.file).path.with_file_name("alertmanager.yml");
    let mount = super::exporters::relative_source(&compose.base_dir, &config)?;
    let kind = ctx.stack.profiles.kind("alertmanager")?;
    let networks: Vec<String> = prometheus
        .value
        .get("networks")
        .map(|n| n.entries().iter().map(|(k, _)| k.clone()).collect())
        .unwrap_or_default();
    let mut edits = vec![FixEdit::new(
        Target::Service(super::Site::Definition { service: name.clone(), file: prometheus.definition_site().file }),
        EditOp::Merge,
        tpl::ALERTS_WITHOUT_ALERTMANAGER_SERVICE,
        json!({
            "image": kind.image,
            "port": port,
            "config": mount,
            "secret": SECRET,
            "networks": networks,
            "profiles": profiles,
        }),
    )];
    edits.extend(ctx.production_settings(&name, kind, prometheus.definition_site().file));
    edits.push(FixEdit::new(
        Target::Root(prometheus.definition_site().file),
        EditOp::Merge,
        tpl::ALERTS_WITHOUT_ALERTMANAGER_SECRET,
        json!({ "secret": SECRET, "variable": WEBHOOK_VARIABLE }),
    ));
    if !config.exists() {
        edits.push(FixEdit::new(
            Target::NewFile(config),
            EditOp::Create,
            tpl::ALERTS_WITHOUT_ALERTMANAGER_CONFIG,
            json!({ "secret": SECRET, "variable": WEBHOOK_VARIABLE }),
        ));
    }
    if prom.alertmanager_targets.is_empty() && prom.doc.path(&["alerting", "alertmanagers"]).is_none() {
        edits.push(FixEdit::new(
            Target::Root(prom.file),
            EditOp::Merge,
            tpl::ALERTS_WITHOUT_ALERTMANAGER_PROMETHEUS,
            json!({ "target": format!("{name}:{port}") }),
        ));
    }
    edits.push(FixEdit::env_example(WEBHOOK_VARIABLE.to_string()));
    Some(ctx.fix(
        format!("add an `{name}` service, its alertmanager.yml (Slack webhook from `{WEBHOOK_VARIABLE}`) and Prometheus' alerting target"),
        Applicability::Safe,
        edits,
    ))
}
