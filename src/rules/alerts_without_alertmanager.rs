use super::{Context, Finding, Rule, RuleMeta};
use crate::stack::{FileId, Value};

declare_rule! {
    /// ## What it does
    /// Reports a Prometheus that evaluates alerting rules (`rule_files` with `alert:` rules) or
    /// sends to `alerting.alertmanagers` targets while no Alertmanager runs in the stack, and a
    /// Prometheus with alert rules and an Alertmanager service but no `alerting:` section.
    ///
    /// ## Why it matters
    /// Alerts then fire into nothing: nobody is paged. Seed 004: "AlertManager Not Deployed: Alert
    /// rules configured, No AlertManager service — Alerts not routed/delivered".
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
    /// Not automated yet (the fix above is what to do by hand); stackfix reports only.
    pub struct AlertsWithoutAlertmanager => "alerts-without-alertmanager" {
        summary: "alert rules but no Alertmanager",
        severity: Error,
        scope: Any,
        fix: Never,
        applicability: DisplayOnly,
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
                    for t in missing_targets {
                        f = f.related(t.loc, format!("alerts are sent to `{}`, which no service provides", t.host));
                    }
                    out.push(f);
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
