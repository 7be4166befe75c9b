//! Rules: each one reads a loaded stack and reports findings, with the place a fix would go. The
//! registry below is the only list of rules; a rule touches nothing else outside its own file, its
//! template and its fixtures.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, DefaultHasher};

pub use crate::fix::render::TemplateId;
use crate::stack::profiles::Kind;
use crate::stack::{Config, FileId, Loc, Service, Stack};
use crate::yaml::{Span, SpanSet};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// Whether a rule's findings come with a fix (as ruff's `FixAvailability`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FixAvailability {
    Never,
    Sometimes,
    Always,
}

/// How far a fix can be trusted (as ruff's `Applicability`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Applicability {
    DisplayOnly,
    Unsafe,
    Safe,
}

impl Applicability {
    pub fn as_str(self) -> &'static str {
        match self {
            Applicability::DisplayOnly => "display-only",
            Applicability::Unsafe => "unsafe",
            Applicability::Safe => "safe",
        }
    }
}

/// Which configurations a rule judges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Production files, or a stack without one.
    Production,
    /// Every configuration.
    Any,
    /// Production configurations, and only when asked for (`--select RULE`, `bootstrap --with`):
    /// the rule adds infrastructure a stack may well do without.
    Requested,
}

/// The part of production readiness a rule judges (the areas of an audit report's scores).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Area {
    /// Limits, reservations, restart policies, log rotation.
    Resources,
    /// Health checks and start-up order.
    Health,
    /// Secrets, the Docker socket, published databases, exposed dashboards, development modes.
    Security,
    /// Backups, Redis persistence and eviction.
    DataProtection,
    /// Prometheus, Alertmanager, exporters, scrape targets.
    Observability,
    /// The reverse proxy: rate limits, HTTPS redirects.
    Edge,
    /// Production files, pinned images, build targets, source mounts.
    Deployment,
}

impl Area {
    pub fn as_str(self) -> &'static str {
        match self {
            Area::Resources => "resources",
            Area::Health => "health",
            Area::Security => "security",
            Area::DataProtection => "data-protection",
            Area::Observability => "observability",
            Area::Edge => "edge",
            Area::Deployment => "deployment",
        }
    }
}

/// Static facts about a rule.
#[derive(Debug)]
pub struct RuleMeta {
    pub id: &'static str,
    pub summary: &'static str,
    pub severity: Severity,
    /// The part of production readiness the rule judges.
    pub area: Area,
    pub scope: Scope,
    pub fix: FixAvailability,
    /// Applicability of the rule's fix when it has one.
    pub applicability: Applicability,
    /// Seed audit reports the rule comes from.
    pub seeds: &'static [&'static str],
    /// The service kinds (profile names) the rule judges, when it judges only those (`traefik`):
    /// a stack that runs none has nothing for it to judge. Empty: every stack.
    pub judges: &'static [&'static str],
    /// User documentation (the doc comment on the rule's struct).
    pub docs: &'static str,
}

impl RuleMeta {
    /// The rule's documentation as Markdown: the doc comment with its one leading space per line
    /// taken off, trimmed.
    pub fn documentation(&self) -> String {
        let lines: Vec<&str> = self.docs.lines().map(|l| l.strip_prefix(' ').unwrap_or(l)).collect();
        lines.join("\n").trim().to_string()
    }

    /// Where the rule judges, in words.
    pub fn scope_text(&self) -> &'static str {
        match self.scope {
            Scope::Production => "production configurations",
            Scope::Any => "every configuration",
            Scope::Requested => "production configurations, when asked for (--select, bootstrap --with)",
        }
    }

    /// Whether the rule has a fix, in words (`sometimes, safe`).
    pub fn fix_text(&self) -> String {
        match self.fix {
            FixAvailability::Never => "none (detection only)".into(),
            FixAvailability::Sometimes => format!("sometimes, {}", self.applicability.as_str()),
            FixAvailability::Always => self.applicability.as_str().to_string(),
        }
    }

    /// The rule's page (`docs/rules/<rule>.md`, and `stackfix rules RULE`): title, summary, the
    /// facts a reader scans for, then the documentation.
    pub fn page(&self) -> String {
        format!(
            "# {}\n\n{}.\n\n| Severity | Area | Applies to | Fix |\n|---|---|---|---|\n| {} | {} | {} | {} |\n\n{}\n",
            self.id,
            self.summary,
            self.severity.as_str(),
            self.area.as_str(),
            self.scope_text(),
            self.fix_text(),
            self.documentation()
        )
    }
}

/// Declares a rule: its doc comment becomes `RuleMeta::docs`, so `stackfix rules ID`, rustdoc and the
/// README read one text.
macro_rules! declare_rule {
    (
        $(#[doc = $doc:literal])*
        pub struct $name:ident => $id:literal {
            summary: $summary:literal,
            severity: $severity:ident,
            area: $area:ident,
            scope: $scope:ident,
            fix: $fix:ident,
            applicability: $applicability:ident,
            seeds: [$($seed:literal),* $(,)?]
            $(, judges: [$($kind:literal),* $(,)?])? $(,)?
        }
    ) => {
        $(#[doc = $doc])*
        pub struct $name;

        impl $name {
            pub const META: $crate::rules::RuleMeta = $crate::rules::RuleMeta {
                id: $id,
                summary: $summary,
                severity: $crate::rules::Severity::$severity,
                area: $crate::rules::Area::$area,
                scope: $crate::rules::Scope::$scope,
                fix: $crate::rules::FixAvailability::$fix,
                applicability: $crate::rules::Applicability::$applicability,
                seeds: &[$($seed),*],
                judges: &[$($($kind),*)?],
                docs: concat!($($doc, "\n"),*),
            };
        }
    };
}

mod alerts_without_alertmanager;
mod capabilities_not_dropped;
mod dangerous_capability;
mod database_port_published;
mod depends_on_without_health_condition;
mod dev_build_target;
mod development_mode;
mod docker_socket_mount;
mod elasticsearch_security_disabled;
mod exporters;
mod hardcoded_secret;
pub use hardcoded_secret::{is_password_hash_name, is_secret_name, PASSWORD_HASH_PREFIXES};
mod host_namespace;
mod missing_exporter;
mod no_backup;
mod no_healthcheck;
mod no_log_rotation;
mod no_monitoring;
mod no_pids_limit;
mod no_resource_limits;
mod no_restart_policy;
mod no_reverse_proxy;
mod privilege_escalation_allowed;
mod privileged_container;
mod redis_no_maxmemory;
mod root_user;
mod scrape_target_missing;
mod secret_in_environment;
mod sensitive_host_mount;
mod source_bind_mount;
mod traefik_insecure_api;
mod traefik_no_https_redirect;
mod traefik_no_rate_limit;
mod unconfined_security_profile;
mod unpinned_image;
mod writable_root_filesystem;

/// The services the hardening rules that judge every service look at: not privileged (such a
/// container has every capability; `privileged-container` reports it) and not one-shot jobs
/// (migrations, setup), which run briefly and are not hardened the same way.
pub(crate) fn hardening_candidates<'a>(ctx: &'a Context) -> impl Iterator<Item = &'a crate::stack::Service> + 'a {
    ctx.config.services.iter().filter(move |s| is_hardening_candidate(ctx, s))
}

/// Whether `service` is one of [`hardening_candidates`].
pub(crate) fn is_hardening_candidate(ctx: &Context, service: &crate::stack::Service) -> bool {
    !service.value.get("privileged").is_some_and(|v| v.is_compose_true()) && !ctx.config.is_one_shot(service)
}

/// The capabilities Docker gives a container that is not privileged, without `CAP_`
/// (https://docs.docker.com/engine/containers/run/#runtime-privilege-and-linux-capabilities, the
/// table of capabilities kept by default; moby's `oci/caps/defaults.go`).
pub const DEFAULT_CAPABILITIES: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "NET_RAW",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// The image a catalog fact about `service` is looked up for; the reason there is none when it is
/// built here (`built`: what a person must check in its Dockerfile) or names no image.
pub(crate) fn catalog_image<'a>(service: &'a crate::stack::Service, built: &str) -> Result<&'a str, String> {
    if service.build.is_some() {
        return Err(format!("it is built here: {built}"));
    }
    service.image.as_ref().map(|i| i.value.as_str()).filter(|i| !i.is_empty()).ok_or_else(|| "it names no image".into())
}

/// The first secret or config `service` uses whose top-level definition in `config` has an
/// `environment` or `content` source, as (`secret` or `config`, name): `docker compose up` copies
/// those into the container after creating it, and refuses for a `read_only` one ("cannot create
/// secret … in read-only service: `file` is the sole supported option", docker/compose
/// `pkg/compose/secrets.go`, injectFileReferences).
pub fn copied_into_container<'a>(config: &'a Config, service: &'a Service) -> Option<(&'static str, &'a str)> {
    for (field, kind) in [("secrets", "secret"), ("configs", "config")] {
        let Some(used) = service.value.get(field) else { continue };
        for item in used.items() {
            let Some(name) = item.as_str().or_else(|| item.get("source").and_then(|s| s.as_str())) else { continue };
            let defined = config.doc.get(field).and_then(|d| d.get(name));
            if defined.is_some_and(|d| d.get("environment").is_some() || d.get("content").is_some()) {
                return Some((kind, name));
            }
        }
    }
    None
}

/// Why `service` does not start its image as the catalog's facts describe it: with the image's
/// own entrypoint and user, and a command (if any) the entrypoint runs as the server
/// ([`crate::stack::catalog::ImageEntry::runs_server`]). `Ok` when it does.
pub(crate) fn starts_as_image(
    service: &crate::stack::Service,
    entry: &crate::stack::catalog::ImageEntry,
) -> Result<(), String> {
    if service.value.get("entrypoint").is_some() {
        return Err("it replaces the image's entrypoint, which the catalog's facts are about".into());
    }
    if service.value.get("user").is_some() {
        return Err("it sets `user:`, and the catalog's facts are about the image's own user".into());
    }
    let first = service.command.first().map(String::as_str);
    if !entry.runs_server(first) {
        let servers = entry.server_commands.as_ref().map(|c| c.values.join(", ")).unwrap_or_else(|| "not known".into());
        return Err(format!(
            "its command `{}` is not one the image's entrypoint runs as its server ({servers})",
            first.unwrap_or_default()
        ));
    }
    Ok(())
}

/// A rule: static metadata and one check over a configuration.
pub trait Rule: Sync {
    fn meta(&self) -> &'static RuleMeta;
    fn check(&self, ctx: &Context) -> Vec<Finding>;
}

/// Every rule, in the order `stackfix rules` lists them.
pub static REGISTRY: &[&dyn Rule] = &[
    &no_resource_limits::NoResourceLimits,
    &no_healthcheck::NoHealthcheck,
    &depends_on_without_health_condition::DependsOnWithoutHealthCondition,
    &no_restart_policy::NoRestartPolicy,
    &no_log_rotation::NoLogRotation,
    &redis_no_maxmemory::RedisNoMaxmemory,
    &hardcoded_secret::HardcodedSecret,
    &database_port_published::DatabasePortPublished,
    &docker_socket_mount::DockerSocketMount,
    &privileged_container::PrivilegedContainer,
    &dangerous_capability::DangerousCapability,
    &unconfined_security_profile::UnconfinedSecurityProfile,
    &host_namespace::HostNamespace,
    &sensitive_host_mount::SensitiveHostMount,
    &root_user::RootUser,
    &privilege_escalation_allowed::PrivilegeEscalationAllowed,
    &capabilities_not_dropped::CapabilitiesNotDropped,
    &writable_root_filesystem::WritableRootFilesystem,
    &no_pids_limit::NoPidsLimit,
    &secret_in_environment::SecretInEnvironment,
    &elasticsearch_security_disabled::ElasticsearchSecurityDisabled,
    &unpinned_image::UnpinnedImage,
    &source_bind_mount::SourceBindMount,
    &dev_build_target::DevBuildTarget,
    &development_mode::DevelopmentMode,
    &traefik_no_rate_limit::TraefikNoRateLimit,
    &traefik_insecure_api::TraefikInsecureApi,
    &traefik_no_https_redirect::TraefikNoHttpsRedirect,
    &alerts_without_alertmanager::AlertsWithoutAlertmanager,
    &scrape_target_missing::ScrapeTargetMissing,
    &missing_exporter::MissingExporter,
    &no_backup::NoBackup,
    &no_monitoring::NoMonitoring,
    &no_reverse_proxy::NoReverseProxy,
];

/// A name compose accepts for a service (`[a-zA-Z0-9][a-zA-Z0-9_.-]*`): fixes that add a service
/// named after, or pointing at, another one (in URLs, shell scripts) only use such names.
pub fn is_service_name(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// An edit giving an environment variable a new value where it is written: `template` renders
/// the new text from `context` plus `quote` (the quote the old value was written in) and
/// `prefix` (`NAME=` for a list item, which is replaced whole; empty for a mapping value).
pub fn env_value_edit(
    ctx: &Context,
    var: &crate::stack::service::EnvVar,
    template: TemplateId,
    mut context: serde_json::Value,
) -> FixEdit {
    let written = ctx.stack.text(var.loc.file, var.loc.span);
    let mut quote = written.chars().next().filter(|c| *c == '"' || *c == '\'').map(String::from).unwrap_or_default();
    // `${…}` unquoted inside `{…}` or `[…]` would end the flow collection.
    if quote.is_empty() && in_flow(ctx.stack, var.loc.file, var.loc.span.start) {
        quote = "\"".into();
    }
    let prefix = if var.loc.key == Some(var.loc.span) { format!("{}=", var.name) } else { String::new() };
    if let Some(map) = context.as_object_mut() {
        map.insert("quote".into(), quote.into());
        map.insert("prefix".into(), prefix.into());
    }
    FixEdit::new(Target::Node { file: var.loc.file, at: var.loc.span }, EditOp::Replace, template, context)
}

/// Whether the node written at `offset` is an item or value of a flow collection: read from the
/// tree when the file keeps it, else from the brackets left open on the text before it.
fn in_flow(stack: &Stack, file: FileId, offset: usize) -> bool {
    let source = stack.file(file);
    if let Some(tree) = source.tree.as_ref() {
        let Some(mut route) = crate::yaml::route::route_to(tree, offset) else { return false };
        route.0.pop();
        return crate::yaml::route::resolve(tree, &route).is_ok_and(|parent| tree.node(parent.node).is_flow());
    }
    let text = source.source().text();
    let mut depth = 0usize;
    for b in text[..offset].bytes().rev() {
        match b {
            b'}' | b']' => depth += 1,
            b'{' | b'[' if depth == 0 => return true,
            b'{' | b'[' => depth -= 1,
            // A multi-line flow collection is not followed back past a line break (nodes are
            // kept whenever a fix is planned, so this only decides what `check` shows).
            b'\n' if depth == 0 => return false,
            _ => {}
        }
    }
    false
}

/// In a production-only file, an edit replacing the service's `ports` with those bound to a
/// local address (rendered by `template` from `ports`, their texts as written).
pub fn keep_private_ports(ctx: &Context, service: &Service, template: TemplateId) -> Option<FixEdit> {
    let ports = service.value.get("ports")?;
    let kept: Vec<&str> =
        service.ports.iter().filter(|p| !p.is_public()).map(|p| ctx.stack.text(p.loc.file, p.loc.span)).collect();
    Some(FixEdit::new(
        Target::Node { file: ports.loc.file, at: ports.loc.span },
        EditOp::Replace,
        template,
        serde_json::json!({ "ports": kept }),
    ))
}

/// The networks a service must join to reach every one of `services`: their own networks, and
/// `default` for those that name none; empty when that is `default` alone (compose's implicit
/// network, joined without saying so).
pub fn shared_networks<'a>(services: impl IntoIterator<Item = &'a Service>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for service in services {
        let names: Option<Vec<String>> =
            service.value.get("networks").map(|n| n.entries().iter().map(|(k, _)| k.clone()).collect());
        for network in names.unwrap_or_else(|| vec!["default".to_string()]) {
            if !out.contains(&network) {
                out.push(network);
            }
        }
    }
    if out == ["default"] {
        out.clear();
    }
    out
}

/// Why a service added beside `service` (an exporter or a dump job for a store, Alertmanager or
/// a host exporter for Prometheus) could not reach it by its name, or be reached by it: it runs
/// in another network namespace (`network_mode`: the host's, another container's, none), where
/// compose's network aliases do not resolve, or it is a `provider` service, which an external
/// tool runs and no container is. `None` when a service on its networks can.
pub fn unreachable_by_name(service: &Service) -> Option<String> {
    if let Some(mode) = service.value.get("network_mode") {
        return Some(format!(
            "`{}` runs with `network_mode: {}`, where a service added beside it cannot reach it by its name",
            service.name,
            mode.as_str().unwrap_or("…")
        ));
    }
    if service.value.get("provider").is_some() {
        return Some(format!(
            "`{}` is a `provider` service, which an external tool runs: no container on the stack's networks",
            service.name
        ));
    }
    None
}

/// The file of the configuration that takes `key` out of `service` with `!reset`
/// (`healthcheck: !reset null` in a production overlay), if one does: what is not there was
/// taken out on purpose, and a fix adding it back would undo that (and be written where the
/// reset hides it).
pub fn reset_by(service: &Service, key: &str) -> Option<FileId> {
    service.reset_keys.iter().find(|(k, _)| k == key).map(|&(_, file)| file)
}

/// The `profiles` of a service added beside `service` and written into `file`: `service`'s own,
/// as written (a `${DB_PROFILE}` stays a reference for compose to interpolate), so that it runs
/// when `service` runs. `Err` when one is written in another file than `file` (an overlay's
/// profiles): the configurations that read `file` without it would run the added service under
/// other profiles than `service`.
/// Every other configuration of the stack that reads `file` must give `service` the same
/// profiles: the added service is in each of them (a development override that puts the
/// database under `profiles: [mariadb]` would leave a backup job running without it).
pub fn companion_profiles(ctx: &Context, service: &Service, file: FileId) -> Result<Vec<String>, String> {
    let written = |s: &Service| -> Vec<String> {
        let items = s.value.get("profiles").map(|p| p.items().to_vec()).unwrap_or_default();
        items.iter().filter_map(|p| p.written().map(str::to_string)).collect()
    };
    let elsewhere = |s: &Service| s.value.get("profiles").is_some_and(|p| p.items().iter().any(|i| i.loc.file != file));
    if elsewhere(service) {
        return Err(format!(
            "`{}`'s profiles are set in another file than the one the new service would be written in",
            service.name
        ));
    }
    let out = written(service);
    for config in ctx.stack.configs.iter().filter(|c| c.files.contains(&file)) {
        let Some(other) = config.service(&service.name) else { continue };
        if elsewhere(other) || written(other) != out {
            return Err(format!(
                "`{}` has other profiles when the stack runs with {}, which the new service would not share",
                service.name,
                config
                    .files
                    .iter()
                    .map(|&f| format!("`{}`", ctx.stack.file(f).display))
                    .collect::<Vec<_>>()
                    .join(" + ")
            ));
        }
    }
    Ok(out)
}

pub fn by_id(id: &str) -> Option<&'static dyn Rule> {
    REGISTRY.iter().copied().find(|r| r.meta().id == id)
}

/// What a rule sees: the whole stack (for side files and sources) and the configuration it judges.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    pub stack: &'a Stack,
    pub config: &'a Config,
    /// How fixes are built in this run (see [`Context::fix`]).
    building: &'a FixBuilding,
    /// Whether fixes keep their edits: a report shows none (they are most of a finding's
    /// memory), but a fix made to take its edits along into another keeps them there.
    keep_edits: bool,
}

/// What every fix of one [`check`] or [`report`] run is built against: the stack's shared
/// anchors, which decide where an edit may be made.
struct FixBuilding {
    anchors: SharedAnchors,
}

impl Context<'_> {
    /// This context, with fixes that keep their edits: for a fix whose edits another fix takes
    /// along (a probe a health condition waits for), so that the taker is judged on them against
    /// the shared anchors in a report as in a check.
    pub fn keeping_edits(&self) -> Self {
        Context { keep_edits: true, ..*self }
    }

    /// Whether the value written at `loc` holds a variable reference (`${NODE_ENV:-production}`):
    /// what compose runs then depends on `.env` or the environment, so a fix may neither replace
    /// the reference with a literal nor size anything from it as a known fact.
    pub fn has_reference(&self, loc: Loc) -> bool {
        let text = self.stack.text(loc.file, loc.span);
        text.contains('$') && !crate::stack::interpolate::references(text).is_empty()
    }

    /// Whether an environment variable's name is written literally where it is set (a mapping
    /// key, or a list item's text before `=`), not produced by interpolation (`- ${LINE}`,
    /// `- ${PREFIX}_PASSWORD=x`): only then does an edit there change that variable.
    pub fn env_name_written(&self, var: &crate::stack::service::EnvVar) -> bool {
        if var.loc.key != Some(var.loc.span) {
            return true;
        }
        let item = self.stack.text(var.loc.file, var.loc.span).trim_matches(|c| c == '"' || c == '\'');
        item.split('=').next().is_some_and(|name| name.trim() == var.name)
    }

    /// Where a production-only setting of `service` goes.
    pub fn production_site(&self, service: &Service) -> Site {
        let overlay = self.overlay();
        Site::Production { service: service.name.clone(), definition: service.definition_site().file, overlay }
    }

    /// Where a setting that belongs to the service's definition goes.
    pub fn definition_site(&self, service: &Service) -> Site {
        Site::Definition { service: service.name.clone(), file: service.definition_site().file }
    }

    /// The production settings the rules ask of every service (restart policy, log rotation,
    /// limits sized by `kind`), for a service named `name` that a fix adds to `file`: made by
    /// those rules' own fixes, placed as they place them.
    pub fn production_settings(&self, name: &str, kind: &Kind, file: FileId) -> Vec<FixEdit> {
        let overlay = self.overlay();
        let site = || Site::Production { service: name.to_string(), definition: file, overlay };
        let mut edits = vec![no_restart_policy::restart_edit(site()), no_log_rotation::rotation_edit(site())];
        if kind.limits.memory.is_some() {
            edits.push(no_resource_limits::limits_edit(site(), &kind.limits, &kind.reservations));
        }
        edits
    }

    /// This configuration's files serve production alone (a standalone production file): what
    /// only development needs can be taken out where it is written.
    pub fn is_dedicated(&self) -> bool {
        self.config.dedicated && !self.has_overlay()
    }

    /// This configuration is a production overlay merged over a base (see [`Context::overlay`]).
    pub fn has_overlay(&self) -> bool {
        self.overlay().is_some()
    }

    /// The production overlay of a configuration of several files, where production-only
    /// settings go: its last production file (`docker-compose.prod.yml`, …) after the first. A
    /// list of `-f` files without one (a base and an optional add-on, a redis override) has
    /// none: settings go where each service is defined.
    pub fn overlay(&self) -> Option<FileId> {
        if !self.config.is_production() {
            return None;
        }
        self.config.files.iter().skip(1).rev().copied().find(|&f| {
            let path = &self.stack.file(f).path;
            path.file_name().and_then(|n| n.to_str()).is_some_and(crate::stack::load::is_production_name)
        })
    }
}

/// The file a service setting goes into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Site {
    /// Where the service is defined first: settings that belong to its definition.
    Definition { service: String, file: FileId },
    /// A production-only setting: the configuration's production overlay when it has one (unless
    /// the user asks for `--into base`), else where the service is defined.
    Production { service: String, definition: FileId, overlay: Option<FileId> },
}

/// Where an edit of a fix goes. Anchors, merge keys, overlays and legacy fields are resolved
/// from these by the engine, in one place (`fix::plan_fix`).
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// `services.<service>` in the file `site` names (its definition, or the production
    /// overlay).
    Service(Site),
    /// The node written at `at` in `file`.
    Node { file: FileId, at: Span },
    /// The collection that holds the node written at `at` in `file` (`labels` in either spelling).
    Parent { file: FileId, at: Span },
    /// The top-level mapping of `file`.
    Root(FileId),
    /// A side file that is not YAML (a `redis.conf`).
    File(FileId),
    /// A file to create, which must not exist.
    NewFile(std::path::PathBuf),
    /// The project's `.env.example`.
    EnvExample,
}

/// How an edit changes its [`Target`] with what its template renders.
#[derive(Debug, Clone, PartialEq)]
pub enum EditOp {
    /// Merge a rendered mapping into the target mapping (keys added, nested mappings merged).
    Merge,
    /// Replace the target node with the rendered node (keeping its `&anchor`).
    Replace,
    /// Replace the mapping entry whose value is the target node with `KEY: <rendered scalar>`:
    /// the key renamed (`POSTGRES_PASSWORD` becomes `POSTGRES_PASSWORD_FILE`) and its value.
    ReplaceEntry(String),
    /// Append the items of a rendered sequence to the target sequence.
    Append,
    /// Append to the target collection when it is a sequence, merge into it when a mapping.
    Extend,
    /// Create the target file from the rendered text.
    Create,
    /// Set `name value` directives in a redis.conf-style file (`name args` per line, `#`
    /// comments): the last line setting a name gets the new value; names not set yet are
    /// appended, rendered by the template from its context plus `directives: [{name, value}]`.
    SetDirectives(Vec<(String, String)>),
    /// Add `NAME=` (never a value) to `.env.example`.
    AddName(String),
}

/// One edit of a fix, symbolic: where it goes, how, and the template (with its context) that
/// renders what it writes. The planner renders templates and finds routes on the current text.
#[derive(Debug, Clone, PartialEq)]
pub struct FixEdit {
    pub target: Target,
    pub op: EditOp,
    pub template: TemplateId,
    /// The template's context: the rule's values plus declared parameters (`fix::PARAMETERS`).
    pub context: serde_json::Value,
    /// For an edit a fix takes along from another rule's fix (the health check a
    /// `service_healthy` condition needs): that fix's rule and title (`no-healthcheck: add a
    /// health check …`), which a fix that explains its edits writes above this one. `None`: the
    /// fix's own edit.
    pub origin: Option<std::sync::Arc<str>>,
    /// The edit made instead when `fix --into base` puts production settings in the base file
    /// (a value this edit sets in the production overlay, set where the base writes it). `None`:
    /// this edit in either case.
    pub in_base: Option<Box<FixEdit>>,
}

impl FixEdit {
    pub fn new(target: Target, op: EditOp, template: TemplateId, context: serde_json::Value) -> FixEdit {
        FixEdit { target, op, template, context, origin: None, in_base: None }
    }

    /// This edit, with `edit` made instead under `fix --into base` (see [`FixEdit::in_base`]).
    pub fn or_in_base(mut self, edit: FixEdit) -> FixEdit {
        self.in_base = Some(Box::new(edit));
        self
    }

    /// This edit as one taken along from the fix of rule `rule` titled `title` (see
    /// [`FixEdit::origin`]); an edit already taken from another keeps its origin.
    pub fn taken_from(mut self, rule: &str, title: &str) -> FixEdit {
        if self.origin.is_none() {
            self.origin = Some(format!("{rule}: {title}").into());
        }
        self
    }

    /// `NAME=` added to `.env.example` (the name of a variable a fix makes the stack read).
    pub fn env_example(name: impl Into<String>) -> FixEdit {
        FixEdit::new(
            Target::EnvExample,
            EditOp::AddName(name.into()),
            crate::fix::render::template::ENV_EXAMPLE,
            serde_json::json!({}),
        )
    }
}

/// What a finding's fix does, before anything is rendered.
#[derive(Debug, Clone, PartialEq)]
pub struct Fix {
    /// Says what the fix does ("add healthcheck: pg_isready").
    pub title: String,
    pub applicability: Applicability,
    /// Shared: one fix can close many findings (a credential written in thousands of places is
    /// one fix, the same for each of them), and a copy of the fix must not copy its edits.
    pub edits: std::sync::Arc<[FixEdit]>,
    /// The file the fix edits first (kept when a report drops the edits).
    pub file: Option<FileId>,
    /// Why the fix cannot be applied (it would edit inside a shared anchor): [`check`] then
    /// reports the finding without it, so what `check` calls fixable is what `fix` applies.
    pub refused: Option<&'static str>,
    /// What the fix does inside shared YAML anchors, for the few fixes that edit there (boxed:
    /// a report may hold hundreds of thousands of fixes).
    anchors: Option<Box<AnchorEdits>>,
    /// The fix alone as replacements in the files as they are, for reports that carry fixes
    /// (SARIF); empty unless [`crate::fix::propose`] filled it.
    pub replacements: Vec<Replacement>,
}

/// One stretch of a file that a fix replaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replacement {
    /// The file, as the stack names it (a file the fix creates: where it would be).
    pub path: std::path::PathBuf,
    /// 1-based line and column (Unicode code points) where the replaced text starts.
    pub start: (usize, usize),
    /// Where it ends (exclusive); equal to `start` for an insertion.
    pub end: (usize, usize),
    /// What takes its place.
    pub text: String,
}

/// A fix's edits inside YAML anchors other places alias.
#[derive(Debug, Clone, PartialEq, Default)]
struct AnchorEdits {
    /// The edited nodes (file, span), still to be judged by [`check`] once every finding is known.
    pending: Vec<(FileId, Span)>,
    /// The edited nodes, once judged.
    nodes: Vec<(FileId, Span)>,
    /// The fix edits inside shared anchors, and every service that uses them gets the same edit
    /// from its own fix: the routes of the merged model (`services.<name>.…`) it means to change
    /// for its service.
    through: Vec<(FileId, crate::yaml::Route)>,
    /// Judged so: the engine writes it in the anchor, once.
    approved: bool,
    /// The services that read those anchors.
    users: Vec<String>,
    /// A hash of the edits (from the first one inside an anchor), kept when a report drops the
    /// edits: two fixes with equal signatures make the same edits.
    signature: u64,
}

impl Fix {
    /// The fix was judged to edit inside shared anchors, every user agreeing.
    pub fn edits_anchors(&self) -> bool {
        self.anchors.as_ref().is_some_and(|a| a.approved)
    }

    /// The routes of the merged model it means to change for its service through the anchors.
    pub fn through_anchor(&self) -> &[(FileId, crate::yaml::Route)] {
        self.anchors.as_ref().map_or(&[], |a| a.through.as_slice())
    }

    /// The services that read the anchors it edits: a run that leaves one of them out
    /// (`--service`) cannot make the fix.
    pub fn anchor_users(&self) -> &[String] {
        self.anchors.as_ref().map_or(&[], |a| a.users.as_slice())
    }

    fn pending_anchors(&self) -> &[(FileId, Span)] {
        self.anchors.as_ref().map_or(&[], |a| a.pending.as_slice())
    }
}

/// Where the stack being checked has anchors other nodes alias, for [`Context::fix`] to refuse
/// edits inside them (as the fix engine would).
#[derive(Default)]
struct SharedAnchors {
    /// Per file, the spans of shared anchors.
    spans: Vec<SpanSet>,
    /// Per file, the spans of the aliases among them (`*name`): a value written as an alias
    /// cannot be edited where the service reads it.
    aliases: Vec<SpanSet>,
    /// (file, service) → the span of the service's mapping in that file.
    services: HashMap<(FileId, String), Span>,
    /// Whether any file has a shared anchor (most stacks have none).
    any: bool,
}

impl SharedAnchors {
    fn new(stack: &Stack) -> SharedAnchors {
        let spans: Vec<SpanSet> = stack.files.iter().map(|f| SpanSet::new(f.shared_anchors.iter().copied())).collect();
        // Without a shared anchor, no edit lies inside one: nothing else is needed.
        if spans.iter().all(SpanSet::is_empty) {
            return SharedAnchors { spans, any: false, ..SharedAnchors::default() };
        }
        let mut services = HashMap::new();
        for config in &stack.configs {
            for service in &config.services {
                for site in &service.sites {
                    services.insert((site.file, service.name.clone()), site.span);
                }
            }
        }
        let aliases = stack
            .files
            .iter()
            .map(|f| SpanSet::new(f.shared_anchors.iter().copied().filter(|s| f.alias_targets.contains_key(&s.start))))
            .collect();
        SharedAnchors { spans, aliases, services, any: true }
    }

    /// Whether an edit lies inside a shared anchor: `Err` with the reason when it can never be
    /// made there (a service mapping that is itself shared), `Ok(Some(..))` with the edited node
    /// when it may be, if every user of the anchor gets the same edit.
    fn inside(&self, edit: &FixEdit) -> Result<Option<(FileId, Span)>, &'static str> {
        // The spans of the aliases are among the shared anchors' (the common case: none).
        if !self.any {
            return Ok(None);
        }
        let (file, span, service_edit) = match &edit.target {
            Target::Node { file, at } | Target::Parent { file, at } => (*file, *at, false),
            Target::Service(site) => {
                let (service, file) = match site {
                    Site::Definition { service, file } => (service, *file),
                    Site::Production { service, definition, overlay } => (service, overlay.unwrap_or(*definition)),
                };
                match self.services.get(&(file, service.clone())) {
                    Some(span) => (file, *span, true),
                    None => return Ok(None),
                }
            }
            _ => return Ok(None),
        };
        if !service_edit && self.aliases.get(file).is_some_and(|a| a.contains(span)) {
            return Err(ALIAS_VALUE);
        }
        let Some(spans) = self.spans.get(file) else { return Ok(None) };
        let inside = spans.contains(span);
        match (inside, service_edit) {
            (false, _) => Ok(None),
            (true, true) => Err(SHARED_SERVICE),
            (true, false) => Ok(Some((file, span))),
        }
    }
}

/// Configurations with this many services or more have their rules checked in parallel.
const PARALLEL_RULES_FROM: usize = 64;

const ALIAS_VALUE: &str =
    "the value is written as an alias of a YAML anchor (`*name`): its fix would change the anchor for every user of it, so it is left for a person";

const SHARED_SERVICE: &str =
    "the service's mapping is itself a YAML anchor other places alias (or an alias of one): its fix would change every user of it, so it is left for a person";

/// Settles the fixes that edit inside shared anchors once every finding is known: a fix is kept
/// when every service using the anchor has a finding of the same rule whose fix makes exactly
/// the same edits (so the anchor, edited once, gives each what its own fix would), and refused
/// otherwise, naming a user that differs.
fn settle_anchored(stack: &Stack, findings: &mut [Finding]) {
    if !findings.iter().any(|f| f.fix.as_ref().is_some_and(|x| !x.pending_anchors().is_empty())) {
        return;
    }
    // The services whose merged model reads each node, by (file, span): the service that writes
    // it and those that reach it through an alias or a merge key, with the route each reaches it
    // at.
    let mut nodes: Vec<(FileId, Span)> =
        findings.iter().filter_map(|f| f.fix.as_ref()).flat_map(|x| x.pending_anchors().iter().copied()).collect();
    nodes.sort_unstable_by_key(|(file, span)| (*file, span.start, span.end));
    nodes.dedup();
    let routes: HashMap<(FileId, Span), HashMap<String, crate::yaml::Route>> = nodes
        .iter()
        .copied()
        .zip(stack.readers(&nodes))
        .map(|(node, readers)| (node, readers.into_iter().collect()))
        .collect();
    // Which services have a fix making each set of edits.
    let signature = |rule: &str, fix: &Fix| format!("{rule}\u{0}{}", fix.anchors.as_ref().map_or(0, |a| a.signature));
    let mut makers: HashMap<String, HashSet<String>> = HashMap::new();
    for f in findings.iter() {
        if let (Some(fix), Some(service)) = (&f.fix, &f.service) {
            if !fix.pending_anchors().is_empty() {
                makers.entry(signature(f.rule, fix)).or_default().insert(service.clone());
            }
        }
    }
    let mut differs: HashMap<((FileId, Span), String), Option<String>> = HashMap::new();
    for f in findings.iter_mut() {
        let Some(fix) = f.fix.as_deref_mut() else { continue };
        if fix.pending_anchors().is_empty() {
            continue;
        }
        let sig = signature(f.rule, fix);
        let same = makers.get(&sig);
        let mut aims = Vec::new();
        let mut refusal = None;
        for node in fix.pending_anchors() {
            let users = routes.get(node);
            let own = f.service.as_deref().and_then(|s| users.and_then(|u| u.get(s)));
            // The first user without the same fix, found once per anchor and set of edits.
            let differing = differs
                .entry((*node, sig.clone()))
                .or_insert_with(|| {
                    let mut names: Vec<&String> = users
                        .into_iter()
                        .flat_map(HashMap::keys)
                        .filter(|u| !same.is_some_and(|m| m.contains(*u)))
                        .collect();
                    names.sort();
                    names.first().map(|n| (*n).clone())
                })
                .clone();
            match (own, differing) {
                (Some(route), None) => aims.push((node.0, route.clone())),
                (_, Some(other)) => {
                    refusal = Some(other.clone());
                    break;
                }
                // The service does not read the anchor itself (a credential written there for
                // the services that do, all of which make the same edit): nothing of its own to aim
                // at there; their fixes name theirs.
                (None, None) if users.is_some_and(|u| !u.is_empty()) => {}
                (None, None) => {
                    refusal = Some(String::new());
                    break;
                }
            }
        }
        let Some(anchors) = fix.anchors.as_deref_mut() else { continue };
        anchors.nodes = std::mem::take(&mut anchors.pending);
        match refusal {
            None => {
                anchors.through = aims;
                anchors.approved = true;
                let mut users: Vec<String> =
                    anchors.nodes.iter().filter_map(|n| routes.get(n)).flat_map(HashMap::keys).cloned().collect();
                users.sort();
                users.dedup();
                anchors.users = users;
            }
            Some(other) => {
                let reason = if other.is_empty() {
                    "its fix would edit a YAML anchor other places alias, which stackfix cannot trace to this service, so it is left for a person".to_string()
                } else {
                    format!(
                        "its fix would edit a YAML anchor that `{other}` also uses, and `{other}` needs a different edit there (or none): editing the anchor would change it too, so it is left for a person"
                    )
                };
                f.fix = None;
                f.help = Some(reason.into());
            }
        }
    }
}

impl Context<'_> {
    /// A finding's fix: `title` says what it does; `edits` are judged against the stack's shared
    /// anchors (an edit inside one is kept only if every service reading it gets the same edit,
    /// settled once every finding is known) and dropped in a report.
    pub fn fix(&self, title: impl Into<String>, applicability: Applicability, edits: Vec<FixEdit>) -> Fix {
        let file = edits.iter().find_map(FixEdit::file);
        let mut fix = Fix {
            title: title.into(),
            applicability,
            edits: std::sync::Arc::default(),
            file,
            refused: None,
            anchors: None,
            replacements: Vec::new(),
        };
        fix.take_along(self, edits);
        fix
    }
}

impl Fix {
    /// Adds edits another rule's fix would make, which this one takes along (a limit a maxmemory
    /// is sized from, a probe a health condition waits for), judged as [`Context::fix`] judges
    /// its own.
    pub fn take_along(&mut self, ctx: &Context, edits: impl IntoIterator<Item = FixEdit>) {
        let edits: Vec<FixEdit> = edits.into_iter().collect();
        for edit in &edits {
            match ctx.building.anchors.inside(edit) {
                Ok(Some(node)) => self.anchors.get_or_insert_with(Default::default).pending.push(node),
                Ok(None) => {}
                Err(reason) => self.refused = self.refused.or(Some(reason)),
            }
        }
        // Only fixes that edit inside shared anchors are compared (from the edits that made them
        // so on), the same way whether a report drops the edits or not.
        if let Some(anchors) = self.anchors.as_deref_mut() {
            let text = format!("{}\u{0}{:?}", anchors.signature, edits);
            anchors.signature = std::hash::BuildHasher::hash_one(&BuildHasherDefault::<DefaultHasher>::default(), text);
        }
        if ctx.keep_edits {
            self.edits = match self.edits.is_empty() {
                true => edits.into(),
                false => self.edits.iter().cloned().chain(edits).collect(),
            };
        }
    }
}

impl FixEdit {
    /// The compose or side file the edit changes, if it changes one that exists.
    fn file(&self) -> Option<FileId> {
        match &self.target {
            Target::Service(Site::Definition { file, .. }) => Some(*file),
            Target::Service(Site::Production { definition, overlay, .. }) => Some(overlay.unwrap_or(*definition)),
            Target::Node { file, .. } | Target::Parent { file, .. } | Target::Root(file) | Target::File(file) => {
                Some(*file)
            }
            Target::EnvExample | Target::NewFile(_) => None,
        }
    }
}

/// A second place that explains a finding (e.g. the rule file that has no Alertmanager).
#[derive(Debug, Clone)]
pub struct Related {
    pub file: FileId,
    pub span: Span,
    pub message: String,
}

/// One problem found.
#[derive(Debug, Clone)]
pub struct Finding {
    pub rule: &'static str,
    pub severity: Severity,
    pub message: String,
    pub file: FileId,
    pub span: Span,
    pub service: Option<String>,
    /// Most rules' help is a fixed text, not copied into every finding.
    pub help: Option<Cow<'static, str>>,
    pub related: Vec<Related>,
    /// Boxed: most of a large report's findings are held at once, and most have a fix.
    pub fix: Option<Box<Fix>>,
}

impl Finding {
    /// A finding of `meta` at the key (or value) of `loc`.
    pub fn new(meta: &'static RuleMeta, loc: Loc, message: String) -> Finding {
        Finding {
            rule: meta.id,
            severity: meta.severity,
            message,
            file: loc.file,
            span: loc.primary(),
            service: None,
            help: None,
            related: Vec::new(),
            fix: None,
        }
    }

    pub fn service(mut self, name: &str) -> Finding {
        self.service = Some(name.to_string());
        self
    }

    pub fn help(mut self, help: impl Into<Cow<'static, str>>) -> Finding {
        self.help = Some(help.into());
        self
    }

    pub fn related(mut self, loc: Loc, message: impl Into<String>) -> Finding {
        self.related.push(Related { file: loc.file, span: loc.primary(), message: message.into() });
        self
    }

    pub fn with_fix(mut self, fix: Fix) -> Finding {
        self.fix = Some(Box::new(fix));
        self
    }

    pub fn with_fix_opt(mut self, fix: Option<Fix>) -> Finding {
        self.fix = fix.map(Box::new);
        self
    }
}

/// Which rules run and how they are reported (from stackfix.toml and the command line).
#[derive(Debug, Clone, Default)]
pub struct RuleSettings {
    /// Only these rules (all when empty).
    pub select: Vec<String>,
    pub ignore: Vec<String>,
    pub severity: HashMap<String, Severity>,
    /// Rules ignored for one service.
    pub service_ignore: HashMap<String, Vec<String>>,
    /// Rules of [`Scope::Requested`] to run besides the selected ones.
    pub requested: Vec<String>,
}

impl RuleSettings {
    /// Whether rule `id` runs: selected (by name, or by `all`, which selects every rule, those
    /// that run only when asked for included), or not selecting means the default set; and not
    /// ignored (by name, or by `all`).
    pub fn is_enabled(&self, id: &str) -> bool {
        let requested = by_id(id).is_some_and(|r| r.meta().scope == Scope::Requested);
        let named = |s: &String| s == id || s == "all";
        let selected = if requested {
            self.select.iter().chain(&self.requested).any(named)
        } else {
            self.select.is_empty() || self.select.iter().any(named)
        };
        selected && !self.ignore.iter().any(named)
    }
}

/// Runs the enabled rules over every configuration of the stack: findings deduplicated (a base file
/// is judged in more than one configuration), inline and configured ignores applied, sorted by file
/// and position.
pub fn check(stack: &Stack, settings: &RuleSettings) -> Vec<Finding> {
    collect(stack, settings, false).0
}

/// [`check`], and how many findings of each rule a person silenced (an inline
/// `# stackfix: ignore[…]` comment or `stackfix.toml`'s `[services.NAME] ignore`), rules sorted.
pub fn check_counting_silenced(
    stack: &Stack,
    settings: &RuleSettings,
) -> (Vec<Finding>, std::collections::BTreeMap<&'static str, usize>) {
    let (findings, _, silenced) = collect(stack, settings, false);
    (findings, silenced)
}

/// [`check`], and the suppression comments that silenced nothing (as [`report_with_unused`]).
pub fn check_with_unused(stack: &Stack, settings: &RuleSettings) -> (Vec<Finding>, Vec<Unused>) {
    let (findings, unused, _) = collect(stack, settings, false);
    (findings, unused)
}

/// Findings as [`check`] gives them made what [`report`] gives: each fix without its edits.
pub fn drop_edits(findings: &mut [Finding]) {
    for fix in findings.iter_mut().filter_map(|f| f.fix.as_mut()) {
        fix.edits = std::sync::Arc::default();
    }
}

/// [`check`] for a report: each fix keeps what a report shows (title, applicability, file) but not
/// its edits, which hold most of a finding's memory.
pub fn report(stack: &Stack, settings: &RuleSettings) -> Vec<Finding> {
    collect(stack, settings, true).0
}

/// [`report`], and the suppression comments that silenced nothing: for each, the rule names in
/// it (of the rules this run ran, or `all`) that no finding of the run was silenced by.
pub fn report_with_unused(stack: &Stack, settings: &RuleSettings) -> (Vec<Finding>, Vec<Unused>) {
    let (findings, unused, _) = collect(stack, settings, true);
    (findings, unused)
}

/// A suppression comment naming rules that silenced nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unused {
    pub file: FileId,
    /// The comment.
    pub span: Span,
    /// The names in it that silenced nothing.
    pub rules: Vec<String>,
}

/// The suppression comments of a stack by file and line, and which of their names silenced a
/// finding.
struct Silencer<'s> {
    by_line: HashMap<(FileId, usize), Vec<usize>>,
    all: Vec<(FileId, &'s crate::stack::suppress::Suppression)>,
    /// Per suppression, per name: used.
    used: Vec<Vec<bool>>,
}

impl<'s> Silencer<'s> {
    fn new(stack: &'s Stack) -> Silencer<'s> {
        let all: Vec<_> =
            stack.files.iter().enumerate().flat_map(|(id, f)| f.suppressions.iter().map(move |s| (id, s))).collect();
        let mut by_line: HashMap<(FileId, usize), Vec<usize>> = HashMap::new();
        for (i, (file, s)) in all.iter().enumerate() {
            by_line.entry((*file, s.line)).or_default().push(i);
        }
        let used = all.iter().map(|(_, s)| vec![false; s.rules.len()]).collect();
        Silencer { by_line, all, used }
    }

    /// Whether a comment on the line holding `offset` silences `rule`; marks the name used.
    fn silences(&mut self, stack: &Stack, file: FileId, offset: usize, rule: &str) -> bool {
        if self.all.is_empty() {
            return false;
        }
        let source = stack.file(file).source();
        let Some(ids) = self.by_line.get(&(file, source.line_index(offset))) else { return false };
        for &i in ids {
            let names = &self.all[i].1.rules;
            if let Some(n) = names.iter().position(|r| r == rule).or_else(|| names.iter().position(|r| r == "all")) {
                self.used[i][n] = true;
                return true;
            }
        }
        false
    }

    /// The names that silenced nothing, of the rules enabled in `settings` (and `all`).
    fn unused(&self, settings: &RuleSettings) -> Vec<Unused> {
        self.all
            .iter()
            .zip(&self.used)
            .filter_map(|((file, s), used)| {
                let rules: Vec<String> = s
                    .rules
                    .iter()
                    .zip(used)
                    .filter(|(name, used)| {
                        !**used && (*name == "all" || (by_id(name).is_some() && settings.is_enabled(name)))
                    })
                    .map(|(name, _)| name.clone())
                    .collect();
                (!rules.is_empty()).then_some(Unused { file: *file, span: s.span, rules })
            })
            .collect()
    }
}

/// The literal secrets ([`literal_secrets`]) a report must not show: all of them but a value
/// that is a whole public name of the stack (a service, a path segment of an image's
/// repository, a variable: the password `postgres` of the `postgres` image), which reveals
/// nothing a text about that name would not (guarding it would hide every text that names the
/// image). A value that is only part of a name (`admin4` in `pgadmin4`) is guarded.
pub fn guarded_secrets(stack: &Stack) -> Vec<String> {
    let services = || stack.configs.iter().flat_map(|c| &c.services);
    let public: HashSet<&str> = services()
        .flat_map(|s| {
            let image = s.image.as_ref().map(|i| i.value.as_str()).unwrap_or_default();
            let repository = image.split(['@', ':']).next().unwrap_or_default().split('/');
            std::iter::once(s.name.as_str()).chain(repository).chain(s.environment.iter().map(|e| e.name.as_str()))
        })
        .collect();
    literal_secrets(stack)
        .into_iter()
        .filter(|secret| !secret.is_empty() && !public.contains(secret.as_str()))
        .collect()
}

/// Every literal secret value the `hardcoded-secret` rule finds in the stack (the whole value of
/// a secret-named variable, a connection string's password, a secret flag's value), in every
/// configuration: what a report must never show, whatever rule's fix rewrites the text holding it.
pub fn literal_secrets(stack: &Stack) -> Vec<String> {
    let building = FixBuilding { anchors: SharedAnchors::new(stack) };
    let mut out: Vec<String> = Vec::new();
    for config in &stack.configs {
        let ctx = Context { stack, config, building: &building, keep_edits: false };
        out.extend(hardcoded_secret::literal_values(&ctx));
    }
    out.sort();
    out.dedup();
    out
}

/// The findings, the suppression comments that silenced nothing, and how many findings of each
/// rule were silenced.
fn collect(
    stack: &Stack,
    settings: &RuleSettings,
    drop_edits: bool,
) -> (Vec<Finding>, Vec<Unused>, std::collections::BTreeMap<&'static str, usize>) {
    let mut silenced: std::collections::BTreeMap<&'static str, usize> = Default::default();
    let building = FixBuilding { anchors: SharedAnchors::new(stack) };
    let mut findings = Vec::new();
    // Only a stack judged in several configurations repeats findings. The message is kept as a
    // hash: a copy of every message would double a large report.
    let dedupe = stack.configs.len() > 1;
    let mut seen = HashSet::new();
    let mut silencer = Silencer::new(stack);
    for config in &stack.configs {
        let ctx = Context { stack, config, building: &building, keep_edits: !drop_edits };
        let enabled = |rule: &&&dyn Rule| {
            let meta = rule.meta();
            settings.is_enabled(meta.id) && (meta.scope == Scope::Any || config.is_production())
        };
        // The rules of a large configuration run in parallel; their findings are taken in the
        // registry's order. A small one's are checked on this thread: handing them to the
        // thread pool and waiting for it costs more than checking them.
        let per_rule: Vec<Vec<Finding>> = if config.services.len() >= PARALLEL_RULES_FROM {
            use rayon::prelude::*;
            REGISTRY.par_iter().filter(|r| enabled(r)).map(|rule| rule.check(&ctx)).collect()
        } else {
            REGISTRY.iter().filter(|r| enabled(r)).map(|rule| rule.check(&ctx)).collect()
        };
        let mut per_rule = per_rule;
        for found in &mut per_rule {
            found.retain_mut(|finding| {
                let message = || {
                    std::hash::BuildHasher::hash_one(&BuildHasherDefault::<DefaultHasher>::default(), &finding.message)
                };
                if dedupe && !seen.insert((finding.rule, finding.file, finding.span.start, message())) {
                    return false;
                }
                if is_ignored(stack, config, finding, settings, &mut silencer) {
                    *silenced.entry(finding.rule).or_default() += 1;
                    return false;
                }
                if let Some(sev) = settings.severity.get(finding.rule) {
                    finding.severity = *sev;
                }
                if let Some(reason) = finding.fix.as_ref().and_then(|f| f.refused) {
                    finding.fix = None;
                    finding.help = Some(reason.into());
                }
                true
            });
        }
        // Moved into one vector without holding a rule's findings twice: into a rule's own
        // vector when it has room for all (the order is the sort's below), else into one
        // reserved once (grown by doubling, it would hold its old and new buffers at once).
        let total = findings.len() + per_rule.iter().map(Vec::len).sum::<usize>();
        if findings.is_empty() {
            if let Some(roomy) = per_rule.iter().position(|found| found.capacity() >= total) {
                findings = std::mem::take(&mut per_rule[roomy]);
            }
        }
        findings.reserve(total - findings.len());
        for mut found in per_rule {
            findings.append(&mut found);
        }
    }
    settle_anchored(stack, &mut findings);
    // Unstable (no scratch copy of a large report) but total: findings left are distinct in
    // (rule, file, position, message).
    // Files ranked by their displayed name once, not compared by name per comparison.
    let mut by_name: Vec<usize> = (0..stack.files.len()).collect();
    by_name.sort_by(|&a, &b| stack.files[a].display.cmp(&stack.files[b].display));
    let mut rank = vec![0; stack.files.len()];
    for (r, &file) in by_name.iter().enumerate() {
        // Files of the same name (none in practice) share a rank, as the names compared did.
        rank[file] = match r {
            0 => 0,
            _ if stack.files[by_name[r - 1]].display == stack.files[file].display => rank[by_name[r - 1]],
            _ => r,
        };
    }
    findings.sort_unstable_by(|a, b| {
        (rank[a.file], a.span.start, a.rule)
            .cmp(&(rank[b.file], b.span.start, b.rule))
            .then_with(|| a.message.cmp(&b.message))
    });
    let unused = silencer.unused(settings);
    (findings, unused, silenced)
}

/// Whether the configuration file (`[services.NAME] ignore`) or a suppression comment on the
/// finding's line or on its service's key line silences the finding.
fn is_ignored(
    stack: &Stack,
    config: &Config,
    finding: &Finding,
    settings: &RuleSettings,
    silencer: &mut Silencer,
) -> bool {
    // Comments first, so that one the configuration file makes redundant still counts as used.
    if silencer.silences(stack, finding.file, finding.span.start, finding.rule) {
        return true;
    }
    let Some(name) = &finding.service else { return false };
    if let Some(service) = config.service(name) {
        for site in &service.sites {
            if silencer.silences(stack, site.file, site.primary().start, finding.rule) {
                return true;
            }
        }
    }
    settings.service_ignore.get(name).is_some_and(|rules| rules.iter().any(|r| r == finding.rule || r == "all"))
}

#[cfg(test)]
mod settings_tests {
    use super::RuleSettings;

    #[test]
    fn all_selects_every_rule() {
        let all = RuleSettings { select: vec!["all".into()], ignore: vec!["root-user".into()], ..Default::default() };
        assert!(all.is_enabled("no-healthcheck") && all.is_enabled("no-monitoring"));
        assert!(!all.is_enabled("root-user"));
        let none = RuleSettings { ignore: vec!["all".into()], ..Default::default() };
        assert!(!none.is_enabled("no-healthcheck"));
        let default = RuleSettings::default();
        assert!(default.is_enabled("no-healthcheck") && !default.is_enabled("no-monitoring"));
        let one = RuleSettings { select: vec!["no-backup".into()], ..Default::default() };
        assert!(one.is_enabled("no-backup") && !one.is_enabled("no-healthcheck"));
    }
}
