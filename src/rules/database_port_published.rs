use serde_json::json;

use super::{Applicability, Context, Finding, Fix, FixEdit, Rule, RuleMeta};
use super::{EditOp, Target};
use crate::fix::render::template as tpl;
use crate::stack::service::Port;
use crate::stack::Service;

/// In a production overlay the ports go (`ports: !reset []`), or, where the overlay publishes
/// ports of its own (which compose adds to the base's), the overlay's list becomes `!override`
/// with its private entries alone; in a standalone production file they are taken out of the
/// list; where development uses the same file the port is bound to 127.0.0.1 where it is written.
fn fix(ctx: &Context, service: &Service, port: &Port) -> Option<Fix> {
    if let Some(overlay) = ctx.overlay() {
        // The overlay's own entries; with its tree at hand (a fix run), only those of its own
        // `services.<service>.ports` (not of a service it `extends`), and an empty list too.
        let list = overlay_ports(ctx, service, overlay);
        let own: Vec<&Port> = service
            .ports
            .iter()
            .filter(|p| p.loc.file == overlay && list.is_none_or(|l| l.contains(p.loc.span)))
            .collect();
        let target = match (own.first(), list) {
            (Some(first), _) => Some(Target::Parent { file: overlay, at: first.loc.span }),
            (None, Some(list)) => Some(Target::Node { file: overlay, at: list }),
            (None, None) => None,
        };
        if let Some(target) = target {
            // Kept: the overlay's entries bound to the loopback as written, without a variable
            // that could publish elsewhere.
            let kept: Vec<&str> = own
                .iter()
                .filter(|p| p.published.is_some() && p.host_ip.is_some() && !p.is_public())
                .map(|p| ctx.stack.text(p.loc.file, p.loc.span))
                .filter(|text| !text.contains('$'))
                .collect();
            // Written as a flow sequence: an entry in block style (long syntax over several
            // lines) is left to a person.
            if kept.iter().any(|k| k.contains(['\n', '\r'])) {
                return None;
            }
            let edit =
                FixEdit::new(target, EditOp::Replace, tpl::DATABASE_PORT_PUBLISHED_OVERRIDE, json!({ "ports": kept }));
            let title = match kept.is_empty() {
                true => "drop the published ports in production (`ports: !override []`)",
                false => "keep only the production file's ports bound to the loopback (`ports: !override`)",
            };
            return Some(ctx.fix(title, Applicability::Unsafe, vec![edit]));
        }
    }
    if ctx.has_overlay() {
        let edit = FixEdit::new(
            Target::Service(ctx.production_site(service)),
            EditOp::Merge,
            tpl::DATABASE_PORT_PUBLISHED_RESET,
            json!({}),
        );
        return Some(ctx.fix(
            "drop the published ports in production (`ports: !reset []`)",
            Applicability::Unsafe,
            vec![edit],
        ));
    }
    if let Some(edit) = over_a_base(ctx, service) {
        let title = "bind the published ports to 127.0.0.1 in a list that overrides the base's (`ports: !override`)";
        return Some(ctx.fix(title, Applicability::Unsafe, vec![edit]));
    }
    if ctx.is_dedicated() {
        let edit = super::keep_private_ports(ctx, service, tpl::DATABASE_PORT_PUBLISHED_KEPT)?;
        return Some(ctx.fix("drop the published ports", Applicability::Unsafe, vec![edit]));
    }
    let title = format!("bind port {} to 127.0.0.1", port.published.as_deref().unwrap_or(&port.target));
    if port.loc.key.is_some() || ctx.stack.text(port.loc.file, port.loc.span).trim_start().starts_with(['{', '[']) {
        return None;
    }
    let written = ctx.stack.text(port.loc.file, port.loc.span);
    if written.contains("target") {
        let edit = FixEdit::new(
            Target::Node { file: port.loc.file, at: port.loc.span },
            EditOp::Merge,
            tpl::DATABASE_PORT_PUBLISHED_HOST_IP,
            json!({}),
        );
        return Some(ctx.fix(title, Applicability::Unsafe, vec![edit]));
    }
    let quote = written.chars().next().filter(|c| *c == '"' || *c == '\'').map(String::from).unwrap_or_default();
    let inner = written.trim_matches(|c| c == '"' || c == '\'');
    let bound = port.bound_to_loopback(inner)?;
    let edit = FixEdit::new(
        Target::Node { file: port.loc.file, at: port.loc.span },
        EditOp::Replace,
        tpl::DATABASE_PORT_PUBLISHED_LOOPBACK,
        json!({ "text": format!("{quote}{bound}{quote}") }),
    );
    Some(ctx.fix(title, Applicability::Unsafe, vec![edit]))
}

/// A production file read alone (every service in it has an image or a build) whose service
/// the base file also defines with ports: deployed over the base, as it may be, compose adds the
/// base's entries to the file's own, so an entry bound in place leaves the base's public one
/// published (and both bind one host port). The file's own list is replaced by `!override` with
/// every entry bound to the loopback: the same ports read alone (compose reads the tag alike in a
/// file alone) and over the base. `None` when that case does not hold, or when an entry is not
/// a short one this can bind (a variable, another address, the long syntax).
fn over_a_base(ctx: &Context, service: &Service) -> Option<FixEdit> {
    let config = ctx.config;
    if !config.is_production() || config.files.len() != 1 || config.dedicated {
        return None;
    }
    let file = config.files[0];
    let base = ctx.stack.configs.iter().find(|c| c.role == crate::stack::Role::Development)?;
    if base.files.first() == Some(&file) {
        return None;
    }
    let in_base = base.service(&service.name)?;
    if in_base.ports.is_empty() {
        return None;
    }
    let list = overlay_ports(ctx, service, file)?;
    let own: Vec<&Port> = service.ports.iter().filter(|p| p.loc.file == file && list.contains(p.loc.span)).collect();
    if own.len() != service.ports.len() {
        return None;
    }
    let mut entries = Vec::with_capacity(own.len());
    for port in own {
        let written = ctx.stack.text(port.loc.file, port.loc.span);
        if port.loc.key.is_some() || written.contains(['\n', '\r', '{', '[']) || written.contains("target") {
            return None;
        }
        let quote = written.chars().next().filter(|c| *c == '"' || *c == '\'').map_or('"', |c| c);
        let inner = written.trim_matches(|c| c == '"' || c == '\'');
        let entry = match port.is_public() {
            true => port.bound_to_loopback(inner)?,
            false if inner.contains('$') => return None,
            false => inner.to_string(),
        };
        entries.push(format!("{quote}{entry}{quote}"));
    }
    Some(FixEdit::new(
        Target::Node { file, at: list },
        EditOp::Replace,
        tpl::DATABASE_PORT_PUBLISHED_OVERRIDE,
        json!({ "ports": entries }),
    ))
}

/// Where the production overlay writes `services.<service>.ports` itself (not through `extends`
/// or an alias), when it does.
fn overlay_ports(ctx: &Context, service: &Service, overlay: crate::stack::value::FileId) -> Option<crate::yaml::Span> {
    let tree = ctx.stack.file(overlay).tree.as_ref()?;
    let route = crate::yaml::Route::default().key("services").key(&service.name).key("ports");
    let found = crate::yaml::route::resolve(tree, &route).ok()?;
    Some(tree.node(found.node).span)
}

declare_rule! {
    /// ## What it does
    /// Reports databases, caches, search engines and brokers (postgres, mysql, mongo, redis,
    /// elasticsearch, rabbitmq, …) and Prometheus exporters that publish a port on every host
    /// interface in production, also a container port written without a published one
    /// (`"5432"`), which the engine publishes on a port it picks.
    ///
    /// ## Why it matters
    /// A published database port is reachable from the internet unless a firewall happens to be in
    /// front; Docker's iptables rules bypass ufw. Exporters are scraped over the compose network
    /// and tell anyone who asks what runs inside. In production, databases, caches and exporters
    /// are internal services: reached over the compose network only.
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
    /// In place: `"127.0.0.1:5432:5432"` (`"127.0.0.1::5432"` for `"5432"`); in a production
    /// overlay: `ports: !reset []`, or, where the overlay publishes ports of its own (compose adds
    /// them to the base's), its list becomes `!override` with its entries bound to one address
    /// alone (`ports: !override ["127.0.0.1:5433:5432"]`). A production file checked alone whose
    /// service the base file also gives ports may be deployed over the base too: its list
    /// becomes `!override` with every entry bound to `127.0.0.1`, which compose reads alike in
    /// both cases.
    ///
    /// ## Fix safety
    /// Unsafe: clients outside the host lose access.
    pub struct DatabasePortPublished => "database-port-published" {
        summary: "database port published on all interfaces",
        severity: Error,
        area: Security,
        scope: Production,
        fix: Sometimes,
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
            if !ctx
                .stack
                .profiles
                .kind(&service.kind)
                .is_some_and(|k| k.is_data_store() || k.category == crate::stack::catalog::Category::Exporter)
            {
                continue;
            }
            for port in service.ports.iter().filter(|p| p.is_public()) {
                out.push(
                    Finding::new(
                        &Self::META,
                        port.loc,
                        format!(
                            "{} `{}` publishes {} on all host interfaces",
                            service.kind,
                            service.name,
                            port.described()
                        ),
                    )
                    .service(&service.name)
                    .help("bind it to 127.0.0.1, or drop the port and reach it over the compose network")
                    .with_fix_opt(fix(ctx, service, port)),
                );
            }
        }
        out
    }
}
