use super::{Context, Finding, Rule, RuleMeta};
use crate::stack::side::redis_server_words;
use crate::stack::Service;

declare_rule! {
    /// ## What it does
    /// Reports redis (valkey, keydb) services without `maxmemory`, without a `maxmemory-policy`, or
    /// with an evicting policy while they serve as a job queue or broker. It reads the server's
    /// command line (`--maxmemory`, also inside `sh -c`) and a mounted `redis.conf`.
    ///
    /// ## Why it matters
    /// Without `maxmemory`, redis grows until the kernel kills it or the container limit does. Seed
    /// 002: "No maxmemory policy defined", "Set up Redis maxmemory policies". A Celery, RQ, Sidekiq or
    /// BullMQ broker must not evict: an LRU policy silently drops queued jobs, so it needs
    /// `noeviction`; a cache wants `allkeys-lru`.
    ///
    /// ## When it does not apply
    /// A redis with `maxmemory` and a policy that suits its use; development configurations next to
    /// a production file.
    ///
    /// ## Example
    /// ```yaml
    ///   redis:
    ///     image: redis:7-alpine
    ///     command: redis-server --appendonly yes
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    ///     command: redis-server --appendonly yes --maxmemory 384mb --maxmemory-policy allkeys-lru
    /// ```
    /// `maxmemory` is 75% of the memory limit (or of the profile's); the policy is `noeviction` for
    /// brokers.
    ///
    /// ## Fix safety
    /// Not automated yet (the fix above is what to do by hand); stackfix reports only.
    pub struct RedisNoMaxmemory => "redis-no-maxmemory" {
        summary: "redis has no maxmemory or a policy unfit for its use",
        severity: Warning,
        scope: Production,
        fix: Never,
        applicability: DisplayOnly,
        seeds: ["002", "004"],
    }
}

/// A setting from the command line (`--name value`) or redis.conf.
fn setting(ctx: &Context, service: &Service, name: &str) -> Option<String> {
    let words = redis_server_words(service);
    let flag = format!("--{name}");
    if let Some(i) = words.iter().position(|w| w.eq_ignore_ascii_case(&flag)) {
        return words.get(i + 1).cloned();
    }
    if let Some(v) = service.environment.iter().filter_map(|e| e.value.as_deref()).find_map(|v| {
        let w: Vec<&str> = v.split_whitespace().collect();
        w.iter().position(|x| x.eq_ignore_ascii_case(&flag)).and_then(|i| w.get(i + 1).map(|s| s.to_string()))
    }) {
        return Some(v);
    }
    ctx.config
        .redis_confs
        .iter()
        .filter(|c| c.service == service.name)
        .find_map(|c| c.get(name).map(|d| d.args.clone()))
}

impl Rule for RedisNoMaxmemory {
    fn meta(&self) -> &'static RuleMeta {
        &Self::META
    }

    fn check(&self, ctx: &Context) -> Vec<Finding> {
        let mut out = Vec::new();
        for service in ctx.config.services_of_kind("redis") {
            let broker = ctx.config.broker_evidence(service);
            let wanted = if broker.is_some() { "noeviction" } else { "allkeys-lru" };
            let why = match &broker {
                Some(e) => format!("it is used as a queue/broker ({e}), so it must not evict"),
                None => "nothing uses it as a queue or broker, so it can evict least-recently-used keys".to_string(),
            };
            let loc = service.value.get("command").map_or(service.production_site(), |c| c.loc);
            let maxmemory = setting(ctx, service, "maxmemory");
            let policy = setting(ctx, service, "maxmemory-policy");
            let message = match (&maxmemory, &policy) {
                (None, _) => format!("redis `{}` has no `maxmemory` limit", service.name),
                (Some(_), None) if broker.is_none() => {
                    format!(
                        "redis `{}` sets `maxmemory` without `maxmemory-policy` (writes fail when full)",
                        service.name
                    )
                }
                (Some(_), Some(p)) if broker.is_some() && p != "noeviction" => {
                    format!("redis `{}` evicts keys (`maxmemory-policy {p}`) but is a queue/broker", service.name)
                }
                _ => continue,
            };
            out.push(
                Finding::new(&Self::META, loc, message)
                    .service(&service.name)
                    .help(format!("use `maxmemory-policy {wanted}`: {why}")),
            );
        }
        out
    }
}
