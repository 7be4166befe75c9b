use super::exporters::{add_exporter, add_host_exporter, Extras};
use super::{Context, Finding, Rule, RuleMeta};

declare_rule! {
    /// ## What it does
    /// Reports `static_configs` targets in prometheus.yml whose host is not a service, container
    /// name, hostname or network alias of the stack.
    ///
    /// ## Why it matters
    /// The job is down from the first scrape: the dashboards for it stay empty and its alerts
    /// cannot fire (an exporter named in `prometheus.yml` but missing from the production file is
    /// the usual case).
    ///
    /// ## When it does not apply
    /// `localhost`, IP addresses, fully qualified names (with a dot), `host.docker.internal`,
    /// variables, and a Prometheus attached to an external network (its targets may live in
    /// another stack).
    ///
    /// ## Example
    /// ```yaml
    ///   - job_name: redis
    ///     static_configs:
    ///       - targets: ['redis-exporter:9121']
    /// ```
    ///
    /// ## Fix
    /// When the host names a known exporter (redis-exporter, postgres-exporter, mysqld-exporter,
    /// node-exporter, cadvisor, …), add that exporter service wired to its database.
    ///
    /// ## Fix safety
    /// Safe for node-exporter (read-only host mounts); unsafe for cAdvisor, which runs privileged.
    pub struct ScrapeTargetMissing => "scrape-target-missing" {
        summary: "Prometheus scrapes a host no service provides",
        severity: Warning,
        area: Observability,
        scope: Any,
        fix: Sometimes,
        applicability: Safe,
        seeds: ["004"],
        judges: ["prometheus"],
    }
}

fn is_external_host(host: &str) -> bool {
    host.is_empty()
        || host == "localhost"
        || host == "host.docker.internal"
        || host.contains('.')
        || host.contains('$')
        || host.starts_with('[')
        || host.parse::<std::net::IpAddr>().is_ok()
}

impl Rule for ScrapeTargetMissing {
    fn meta(&self) -> &'static RuleMeta {
        &Self::META
    }

    fn check(&self, ctx: &Context) -> Vec<Finding> {
        let mut out = Vec::new();
        let external_networks: Vec<&str> = ctx
            .config
            .doc
            .get("networks")
            .map(|n| n.entries())
            .unwrap_or_default()
            .iter()
            .filter(|(_, v)| v.get("external").is_some_and(|e| e.as_str() != Some("false")))
            .map(|(k, _)| k.as_str())
            .collect();
        for prom in &ctx.config.prometheus {
            let on_external = ctx.config.service(&prom.service).is_some_and(|s| {
                s.value
                    .get("networks")
                    .map(|n| n.entries())
                    .unwrap_or_default()
                    .iter()
                    .any(|(n, _)| external_networks.contains(&n.as_str()))
                    || s.value.str_at("network_mode").is_some_and(|m| m == "host")
            });
            if on_external {
                continue;
            }
            for target in &prom.scrape_targets {
                if is_external_host(&target.host) || ctx.config.service_by_host(&target.host).is_some() {
                    continue;
                }
                let exporter = ctx.stack.profiles.kinds().iter().find(|k| {
                    k.category == crate::stack::catalog::Category::Exporter
                        && k.keywords.iter().any(|kw| target.host.to_ascii_lowercase() == *kw)
                });
                let job = target.job.as_deref().map(|j| format!(" (job `{j}`)")).unwrap_or_default();
                let mut f = Finding::new(
                    &Self::META,
                    target.loc,
                    format!("scrape target `{}`{job} names no service in this stack", target.host),
                )
                .service(&prom.service);
                if let Some(kind) = exporter {
                    f = f.help(format!("add a `{}` service", kind.name));
                    let port_matches =
                        target.port.as_deref().is_none_or(|p| Some(p) == kind.port.map(|k| k.to_string()).as_deref());
                    let store = kind.exports.as_deref().and_then(|exports| ctx.config.services_of_kind(exports).next());
                    if let Some(store) = store.filter(|_| port_matches) {
                        let extras = Extras { scrape_job: false, alert_rules: false };
                        f = f.with_fix_opt(add_exporter(ctx, prom, store, kind, &target.host, extras));
                    } else if port_matches {
                        f = f.with_fix_opt(add_host_exporter(ctx, prom, kind, &target.host));
                    }
                }
                out.push(f);
            }
        }
        out
    }
}
