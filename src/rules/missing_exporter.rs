use super::exporters::{add_exporter, Extras};
use super::{Context, Finding, Rule, RuleMeta};

declare_rule! {
    /// ## What it does
    /// In a stack that runs Prometheus, reports databases and caches (postgres, redis, mysql, mongo,
    /// elasticsearch, memcached) that no exporter watches.
    ///
    /// ## Why it matters
    /// The database is the part most likely to fail and the one without metrics: no connection,
    /// memory or replication alerts, and dashboards that show everything but the database.
    ///
    /// ## When it does not apply
    /// Stacks without Prometheus; data stores with an exporter service of their kind, or whose
    /// exporter is already a (missing) scrape target (`scrape-target-missing` reports that).
    ///
    /// ## Example
    /// ```yaml
    ///   redis:
    ///     image: redis:7-alpine
    ///   prometheus:
    ///     image: prom/prometheus:v2.48.0
    /// ```
    ///
    /// ## Fix
    /// The exporter service (`oliver006/redis_exporter`, `prometheuscommunity/postgres-exporter`, …)
    /// wired to the database with credentials by reference, its scrape job in prometheus.yml, and a
    /// small alert-rules file (RedisDown, PostgresqlDown).
    ///
    /// ## Fix safety
    /// Safe when the store's credentials are references: the exporter only reads. When the store
    /// writes its password literally, the exporter reads a new required variable and the fix is
    /// unsafe (the stack needs that variable to start).
    pub struct MissingExporter => "missing-exporter" {
        summary: "data store without a Prometheus exporter",
        severity: Warning,
        area: Observability,
        scope: Any,
        fix: Sometimes,
        applicability: Safe,
        seeds: ["002", "004"],
        judges: ["prometheus"],
    }
}

impl Rule for MissingExporter {
    fn meta(&self) -> &'static RuleMeta {
        &Self::META
    }

    fn check(&self, ctx: &Context) -> Vec<Finding> {
        if ctx.config.services_of_kind("prometheus").next().is_none() {
            return Vec::new();
        }
        let profiles = &ctx.stack.profiles;
        let mut out = Vec::new();
        for service in &ctx.config.services {
            let Some(exporter_name) = profiles.kind(&service.kind).and_then(|k| k.exporter.as_deref()) else {
                continue;
            };
            let Some(exporter) = profiles.kind(exporter_name) else {
                continue;
            };
            let has_service =
                ctx.config.services.iter().any(|s| {
                    profiles.kind(&s.kind).is_some_and(|k| k.exports.as_deref() == Some(service.kind.as_str()))
                });
            let scraped = ctx.config.prometheus.iter().flat_map(|p| &p.scrape_targets).any(|t| {
                let host = t.host.to_ascii_lowercase();
                exporter.keywords.iter().any(|kw| host.contains(kw.as_str()))
                    || service.hostnames.iter().any(|h| {
                        *h == t.host
                            && t.port.as_deref() != exporter.port.map(|p| p.to_string()).as_deref()
                            && t.port.is_some()
                    })
            });
            if has_service || scraped {
                continue;
            }
            let site = service.definition_site();
            out.push(
                Finding::new(
                    &Self::META,
                    site,
                    format!("{} `{}` has no Prometheus exporter", service.kind, service.name),
                )
                .service(&service.name)
                .help(format!("add a `{}` service and a scrape job for it", exporter.name))
                .with_fix_opt(ctx.config.prometheus.first().and_then(|prom| {
                    let extras = Extras { scrape_job: true, alert_rules: true };
                    add_exporter(ctx, prom, service, exporter, &format!("{}-exporter", service.name), extras)
                })),
            );
        }
        out
    }
}
