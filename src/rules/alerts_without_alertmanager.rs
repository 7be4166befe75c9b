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
    /// Prometheus with alert rules and an Alertmanager service but no Alertmanager target: no
    /// `alerting:` section, or one whose `targets` lists none (`targets: []`).
    ///
    /// ## Why it matters
    /// Prometheus evaluates the rules and marks alerts firing, but only Alertmanager routes them to
    /// people: without it an alert fires into nothing and nobody is paged.
    ///
    /// ## When it does not apply
    /// Rule files with only recording rules; stacks whose Alertmanager receives the alerts, or
    /// whose Prometheus finds Alertmanagers by a service discovery (`dns_sd_configs`, …).
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
    /// `alerting.alertmanagers` pointing at it: added where Prometheus has none, or the address
    /// written into an empty `targets: []`. No fix where a service discovery or an
    /// `alertmanagers` entry without `targets` decides where alerts go, nor where the stack
    /// runs an Alertmanager already (the finding says what to list).
    ///
    /// ## Fix safety
    /// Safe: it adds a service and a file, and sets `alerting` only where Prometheus sends alerts
    /// nowhere;
    /// alerts reach Slack once `ALERTMANAGER_SLACK_WEBHOOK_URL` is set.
    pub struct AlertsWithoutAlertmanager => "alerts-without-alertmanager" {
        summary: "alert rules but no Alertmanager",
        severity: Error,
        area: Observability,
        scope: Any,
        fix: Sometimes,
        applicability: Safe,
        seeds: ["004"],
        judges: ["prometheus"],
    }
}

/// Where a Prometheus sends its alerts, as its `alerting.alertmanagers` says.
enum Alerting {
    /// No `alerting.alertmanagers` key.
    Missing,
    /// Static targets, and nothing else, all empty sequences (`targets: []`): alerts go nowhere.
    /// The first such `targets` value.
    EmptyTargets(crate::stack::Loc),
    /// At least one static target.
    Targets,
    /// A service discovery (`dns_sd_configs`, `kubernetes_sd_configs`, …) finds them: where
    /// they go is not in the files.
    Discovery,
    /// Neither a target nor a discovery (`alertmanagers: []`, `targets:` left empty).
    Nowhere,
}

impl Alerting {
    fn of(prom: &PrometheusConfig) -> Alerting {
        let Some(managers) = prom.doc.path(&["alerting", "alertmanagers"]) else { return Alerting::Missing };
        if !prom.alertmanager_targets.is_empty() {
            return Alerting::Targets;
        }
        let discovery =
            |m: &Value| m.entries().iter().any(|(k, v)| k.ends_with("_sd_configs") && !v.items().is_empty());
        if managers.items().iter().any(discovery) {
            return Alerting::Discovery;
        }
        let statics =
            managers.items().iter().flat_map(|m| m.get("static_configs").map(Value::items).unwrap_or_default());
        let empty = statics
            .filter_map(|c| c.get("targets"))
            .find(|t| matches!(&t.kind, crate::stack::ValueKind::Seq(items) if items.is_empty()) && !t.loc.via_alias);
        match empty {
            Some(targets) => Alerting::EmptyTargets(targets.loc),
            None => Alerting::Nowhere,
        }
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
                    let alerting = Alerting::of(prom);
                    if let Alerting::Discovery | Alerting::Nowhere = alerting {
                        f = f.help(
                            "not fixed: `alerting.alertmanagers` names no target stackfix can point at a new \
                             Alertmanager (a service discovery, or no `targets:` list); add the service and list \
                             its address there",
                        );
                    }
                    out.push(f.with_fix_opt(fix(ctx, prom, target, &alerting)));
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
            } else if has_alerts {
                match Alerting::of(prom) {
                    Alerting::Missing => out.push(
                        Finding::new(
                            &Self::META,
                            key,
                            format!("Prometheus `{}` has alert rules but no `alerting.alertmanagers`: the Alertmanager never receives them", prom.service),
                        )
                        .service(&prom.service),
                    ),
                    Alerting::EmptyTargets(at) => out.push(
                        Finding::new(
                            &Self::META,
                            at,
                            format!("Prometheus `{}` has alert rules but `alerting.alertmanagers` lists no target: the Alertmanager never receives them", prom.service),
                        )
                        .service(&prom.service)
                        .help("list the Alertmanager's address (`host:port`, 9093 by default) in `targets`"),
                    ),
                    Alerting::Nowhere => out.push(
                        Finding::new(
                            &Self::META,
                            prom.doc.path(&["alerting", "alertmanagers"]).map_or(key, |v| v.loc),
                            format!("Prometheus `{}` has alert rules but `alerting.alertmanagers` lists no target: the Alertmanager never receives them", prom.service),
                        )
                        .service(&prom.service)
                        .help("list the Alertmanager's address (`host:port`, 9093 by default) in a `static_configs` entry's `targets`"),
                    ),
                    Alerting::Targets | Alerting::Discovery => {}
                }
            }
        }
        out
    }
}

/// An Alertmanager service (named after the host Prometheus already sends to, if any), its
/// alertmanager.yml next to prometheus.yml with a Slack receiver whose webhook URL comes from the
/// environment through a compose secret, and `alerting.alertmanagers` in prometheus.yml when it
/// has none, or the service's address in its empty `targets: []` (`alerting`). `None` when the
/// files are not where stackfix can reason about them, or Prometheus' `alerting` leaves no
/// target to write (a service discovery, no `targets` list).
fn fix(
    ctx: &Context,
    prom: &PrometheusConfig,
    target: Option<(String, Option<String>)>,
    alerting: &Alerting,
) -> Option<Fix> {
    // Where alerts go must be a target this fix names (or already names the new service).
    if let Alerting::Discovery | Alerting::Nowhere = alerting {
        return None;
    }
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
    let profiles = super::companion_profiles(ctx, prometheus, prometheus.definition_site().file).ok()?;
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
    match alerting {
        Alerting::Missing => edits.push(FixEdit::new(
            Target::Root(prom.file),
            EditOp::Merge,
            tpl::ALERTS_WITHOUT_ALERTMANAGER_PROMETHEUS,
            json!({ "target": format!("{name}:{port}") }),
        )),
        // `targets: []`: the new service's address in it.
        Alerting::EmptyTargets(at) => edits.push(FixEdit::new(
            Target::Node { file: at.file, at: at.span },
            EditOp::Replace,
            tpl::ALERTS_WITHOUT_ALERTMANAGER_TARGETS,
            json!({ "target": format!("{name}:{port}") }),
        )),
        Alerting::Targets | Alerting::Discovery | Alerting::Nowhere => {}
    }
    edits.push(FixEdit::env_example(WEBHOOK_VARIABLE.to_string()));
    Some(ctx.fix(
        format!("add an `{name}` service, its alertmanager.yml (Slack webhook from `{WEBHOOK_VARIABLE}`) and Prometheus' alerting target"),
        Applicability::Safe,
        edits,
    ))
}
