use super::{Applicability, Context, Finding, Rule, RuleMeta};

declare_rule! {
    /// ## What it does
    /// Reports databases, caches, search engines and brokers (postgres, mysql, mongo, redis,
    /// elasticsearch, rabbitmq, …) that publish a port on every host interface in production.
    ///
    /// ## Why it matters
    /// A published database port is reachable from the internet unless a firewall happens to be in
    /// front; Docker's iptables rules bypass ufw. Seed 002: "External port exposure for internal
    /// services"; seed 004 lists PostgreSQL and Redis as "Internal" in production.
    ///
    /// ## When it does not apply
    /// Ports bound to `127.0.0.1`/`::1`, `expose:` entries, and development configurations next to a
    /// production file.
    ///
    /// ## Example
    /// ```yaml
    ///   postgres:
    ///     ports: ["5432:5432"]
    /// ```
    ///
    /// ## Fix
    /// In place: `"127.0.0.1:5432:5432"`; in a production overlay: `ports: !reset []`.
    ///
    /// ## Fix safety
    /// Unsafe: clients outside the host lose access.
    pub struct DatabasePortPublished => "database-port-published" {
        summary: "database port published on all interfaces",
        severity: Error,
        scope: Production,
        fix: Always,
        applicability: Unsafe,
        seeds: ["002", "004"],
    }
}

impl Rule for DatabasePortPublished {
    fn meta(&self) -> &'static RuleMeta {
        &Self::META
    }

    fn check(&self, ctx: &Context) -> Vec<Finding> {
        let mut out = Vec::new();
        for service in &ctx.config.services {
            if !ctx.stack.profiles.kind(&service.kind).is_some_and(|k| k.is_data_store()) {
                continue;
            }
            for port in service.ports.iter().filter(|p| p.is_public()) {
                let published = port.published.as_deref().unwrap_or("");
                out.push(
                    Finding::new(
                        &Self::META,
                        port.loc,
                        format!(
                            "{} `{}` publishes port {published} on all host interfaces",
                            service.kind, service.name
                        ),
                    )
                    .service(&service.name)
                    .help("bind it to 127.0.0.1, or drop the port and reach it over the compose network")
                    .fix_at(
                        port.loc,
                        format!("services.{}.ports", service.name),
                        Applicability::Unsafe,
                    ),
                );
            }
        }
        out
    }
}
