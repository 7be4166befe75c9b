use serde_json::json;

use super::{Applicability, Context, EditOp, Finding, FixEdit, Rule, RuleMeta, Target};
use crate::fix::render::template as tpl;
use crate::stack::catalog::Catalog;
use crate::stack::service::{MountKind, Service};
use crate::stack::value::Value;

declare_rule! {
    /// ## What it does
    /// Reports production services without a limit on their tasks (processes and threads): no
    /// `pids_limit` and no `deploy.resources.limits.pids`, or one that is 0 or negative
    /// (unlimited).
    ///
    /// ## Why it matters
    /// The kernel's pids controller counts every process and thread of the container
    /// (https://docs.kernel.org/admin-guide/cgroup-v2.html#pid). Without a limit, a fork bomb or a
    /// thread leak in one container takes the host's process table, and every other container
    /// fails to start processes; Docker sets none by default
    /// (https://docs.docker.com/reference/cli/docker/container/run/#pids-limit), and systemd's
    /// default per unit is a share of the kernel's `pid_max`, which recent kernels set in the
    /// millions. OWASP's Docker Security Cheat Sheet, rule 7 (limit resources).
    ///
    /// ## When it does not apply
    /// A positive `pids_limit` or `deploy.resources.limits.pids`, one-shot jobs, development
    /// configurations next to a production file.
    ///
    /// ## Example
    /// ```yaml
    ///   db:
    ///     image: postgres:16.4
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    ///     deploy:
    ///       resources:
    ///         limits:
    ///           pids: 272
    /// ```
    /// (`pids_limit: 272` where the service writes its resources in compose's top-level
    /// spelling, `mem_limit`, `cpus`, and has no `deploy.resources.limits`: compose refuses
    /// `pids_limit` beside such a block without the same `pids`) in the production
    /// configuration, only for servers whose process count their vendor's documentation and
    /// source give: PostgreSQL 10 to 17 reserves one semaphore per backend slot and auxiliary
    /// process (`max_connections + autovacuum_max_workers + max_wal_senders +
    /// max_worker_processes + 7`, 128 with the defaults), read with the values the service's
    /// command sets (`-c max_connections=300`, `-N 300`), and its postmaster keeps up to twice
    /// its backend slots as live children while connections authenticate. The limit is twice
    /// the count and 16 more (the postmaster, its logger and statistics processes, the
    /// entrypoint and health checks), rounded up to a multiple of 8. Not when a configuration
    /// file (`config_file`, `include_dir`, a mounted `*.conf`) or `POSTGRES_INITDB_ARGS` may set
    /// those values. Other services (and
    /// PostgreSQL 18, whose count the documentation no longer gives as a formula) are reported
    /// with what a person must decide: how many processes and threads they run at their peak.
    ///
    /// ## Fix safety
    /// Unsafe: the 16 above the counted processes are stackfix's choice; settings stored in the
    /// data volume (`ALTER SYSTEM`, a postgresql.conf an initialisation script edited) are not
    /// read, and an extension may run more; a limit that is too low makes `fork` fail and the
    /// server refuse connections.
    pub struct NoPidsLimit => "no-pids-limit" {
        summary: "no limit on the container's processes and threads (`pids_limit`)",
        severity: Info,
        area: Resources,
        scope: Production,
        fix: Sometimes,
        applicability: Unsafe,
        seeds: ["004"],
    }
}

/// The service's task limit: `pids_limit`, else `deploy.resources.limits.pids`, with the key
/// that sets it and its number; `None` when neither is set.
fn limit(service: &Service) -> Option<(&Value, &'static str, i64)> {
    let (value, key) = match service.value.get("pids_limit") {
        Some(v) => (v, "pids_limit"),
        None => (limits(service)?.get("pids")?, "deploy.resources.limits.pids"),
    };
    // A value compose cannot read as a number is compose's to refuse; it is not reported here.
    let number = value.as_str().and_then(|s| s.trim().parse::<i64>().ok()).unwrap_or(1);
    Some((value, key, number))
}

/// The service's `deploy.resources.limits` mapping, when it has one.
fn limits(service: &Service) -> Option<&Value> {
    service.value.get("deploy")?.get("resources")?.get("limits")
}

/// The value `command` gives a server setting: `-c name=value`, `-cname=value`,
/// `--name=value`, or `-N value` for `max_connections` (PostgreSQL's spellings; names in any
/// case, `-` and `_` alike). The last one counts.
fn command_setting<'a>(command: &'a [String], name: &str) -> Option<&'a str> {
    let same = |key: &str| key.replace('-', "_").eq_ignore_ascii_case(name);
    let mut words = command.iter().map(String::as_str);
    let mut found = None;
    while let Some(word) = words.next() {
        if name == "max_connections" {
            if word == "-N" {
                found = words.next().or(found);
                continue;
            }
            if let Some(value) = word.strip_prefix("-N").filter(|v| !v.is_empty()) {
                found = Some(value);
                continue;
            }
        }
        let pair = match word {
            "-c" => words.next(),
            w if w.starts_with("--") => Some(&w[2..]),
            w if w.starts_with("-c") => Some(&w[2..]),
            _ => None,
        };
        if let Some((key, value)) = pair.and_then(|p| p.split_once('=')) {
            if same(key) {
                found = Some(value);
            }
        }
    }
    found
}

/// The limit to write for `service` and how it was counted; why there is none otherwise.
fn sized(service: &Service) -> Result<(u64, String, &'static str), String> {
    let image = super::catalog_image(service, "how many processes and threads it runs is not known")?;
    let Some(tasks) = Catalog::builtin().tasks(image) else {
        return Err(format!("how many processes and threads `{image}` runs at most is not known"));
    };
    if ["config_file", "include", "include_dir", "include_if_exists"]
        .iter()
        .any(|name| command_setting(&service.command, name).is_some())
    {
        return Err("its command names a configuration file, which may set how many processes it runs".into());
    }
    if service.variables().any(|(name, _)| name == "POSTGRES_INITDB_ARGS") {
        return Err("`POSTGRES_INITDB_ARGS` may write settings into postgresql.conf (initdb `-c`)".into());
    }
    if service.volumes.iter().any(|m| m.kind == MountKind::Bind && m.target.ends_with(".conf")) {
        return Err("it mounts a configuration file, which may set how many processes it runs".into());
    }
    let mut count = tasks.fixed;
    let mut terms = Vec::new();
    for (name, default) in &tasks.settings {
        let value = match command_setting(&service.command, name) {
            Some(text) => text
                .trim()
                .parse::<u64>()
                .map_err(|_| format!("its command sets `{name}` to `{text}`, which is not a number"))?,
            None => *default,
        };
        count += value;
        terms.push(format!("{name} {value}"));
    }
    // The postmaster keeps up to twice its backend slots as live children (connections still
    // authenticating); the postmaster itself, its logger and statistics collector, the
    // entrypoint and health checks come on top.
    let limit = (2 * count + 16).div_ceil(8) * 8;
    let how = format!(
        "{count} server processes ({} + {}), twice that while connections authenticate, and 16 for the postmaster, \
         its logger and statistics processes and health checks: {limit}; values stored in the data volume \
         (`ALTER SYSTEM`, an edited postgresql.conf) are not read",
        terms.join(" + "),
        tasks.fixed
    );
    Ok((limit, how, tasks.source.as_str()))
}

impl Rule for NoPidsLimit {
    fn meta(&self) -> &'static RuleMeta {
        &Self::META
    }

    fn check(&self, ctx: &Context) -> Vec<Finding> {
        let mut out = Vec::new();
        for service in ctx.config.services.iter().filter(|s| !ctx.config.is_one_shot(s)) {
            let set = limit(service);
            if set.is_some_and(|(_, _, n)| n > 0) {
                continue;
            }
            let (site, message) = match set {
                Some((value, key, n)) => {
                    (value.loc, format!("service `{}` sets an unlimited task count (`{key}: {n}`)", service.name))
                }
                None => (
                    service.production_site(),
                    format!("service `{}` has no limit on its processes and threads (no `pids_limit`)", service.name),
                ),
            };
            let finding = Finding::new(&Self::META, site, message).service(&service.name);
            let finding = match (set, sized(service)) {
                (None, Ok((limit, how, source))) => {
                    // Compose refuses `pids_limit` beside a `deploy.resources.limits` without the
                    // same `pids`, so the limit goes into that block when there is one, and
                    // where `no-resource-limits` writes the service's resources otherwise.
                    let legacy = service.legacy_resources && limits(service).is_none();
                    let key = if legacy { "pids_limit" } else { "deploy.resources.limits.pids" };
                    finding.help(format!("{how} ({source})")).with_fix(ctx.fix(
                        format!("add `{key}: {limit}`"),
                        Applicability::Unsafe,
                        vec![FixEdit::new(
                            Target::Service(ctx.production_site(service)),
                            EditOp::Merge,
                            tpl::NO_PIDS_LIMIT,
                            json!({ "limit": limit, "legacy": legacy }),
                        )],
                    ))
                }
                (Some(_), _) => finding.help("set a positive limit above the most processes and threads it runs"),
                (None, Err(reason)) => finding.help(format!(
                    "not fixed: {reason}; set `pids_limit` above the most processes and threads it runs"
                )),
            };
            out.push(finding);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::command_setting;

    #[test]
    fn settings_are_read_in_every_spelling_postgres_takes() {
        let words = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        assert_eq!(command_setting(&words("postgres -c max_connections=300"), "max_connections"), Some("300"));
        assert_eq!(
            command_setting(&words("-cmax_connections=50 -c shared_buffers=1GB"), "max_connections"),
            Some("50")
        );
        assert_eq!(command_setting(&words("postgres --max-connections=20"), "max_connections"), Some("20"));
        assert_eq!(command_setting(&words("postgres -N 500"), "max_connections"), Some("500"));
        assert_eq!(command_setting(&words("postgres -N500"), "max_connections"), Some("500"));
        assert_eq!(command_setting(&words("postgres -c MAX_CONNECTIONS=500"), "max_connections"), Some("500"));
        assert_eq!(command_setting(&words("postgres -c max_wal_senders=0"), "max_connections"), None);
        assert_eq!(
            command_setting(&words("-c max_connections=1 -c max_connections=2"), "max_connections"),
            Some("2"),
            "the last one counts"
        );
    }
}
