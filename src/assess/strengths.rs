//! What a stack already does right, each with the place that shows it. Only settings a person
//! wrote count (a health check in the compose file, not one the image may have), and a strength
//! never quotes a value beyond a program's name, a size or a policy: no secret can show.

use serde::Serialize;

use crate::rules::{Area, Finding};
use crate::stack::service::HealthTest;
use crate::stack::{Config, Loc, Service, Stack, Value};

/// Health check commands that pass whatever the service's state (`true`, `exit 0`).
const NO_OP_PROBES: &[&str] = &["true", ":", "exit", "echo", "printf", "sleep"];

/// Whether a shell probe's command line ends in a way that makes it succeed whatever the check
/// before says: `… || true`, `… || exit 0`, `…; echo $?`, `…; exit 0` (the status of the line is
/// that of its last command).
fn always_succeeds(line: &str) -> bool {
    let no_op = |command: &str| {
        let command = command.trim();
        if command.split_whitespace().next() == Some(":") {
            return true;
        }
        let program = command.split_whitespace().next().map(program_name).unwrap_or_default();
        match program.as_str() {
            "exit" => matches!(command.split_whitespace().nth(1), None | Some("0")),
            _ => NO_OP_PROBES.contains(&program.as_str()) && program != "sleep",
        }
    };
    let after_or = line.rsplit_once("||").map(|(_, last)| last);
    let after_sequence = line.rsplit_once(';').map(|(_, last)| last).filter(|l| !l.trim().is_empty());
    after_or.is_some_and(|l| !l.contains("&&") && !l.contains(';') && no_op(l))
        || after_sequence.is_some_and(|l| !l.contains("&&") && !l.contains("||") && no_op(l))
}

/// The programs the image catalog tracks for every variant (whether it ships them): only for
/// these does a known image's lacking one mean the probe cannot run (an image's own tools, such
/// as `pg_isready`, or what a Dockerfile installs with pip or npm, are not tracked).
const PROBE_PROGRAMS: &[&str] = &["curl", "wget", "nc", "sh", "bash", "python", "python3", "node"];

/// One thing the stack does right.
#[derive(Debug, Clone, Serialize)]
pub struct Strength {
    pub area: &'static str,
    pub service: Option<String>,
    /// What it is, in a sentence (`postgres` has a `pg_isready` health check).
    pub text: String,
    /// `file:line` where it is written.
    pub location: String,
}

/// The strengths of `config` (a configuration of `stack`), service by service in the
/// configuration's order, then the stack's own. A service with a finding of a rule is given no
/// strength that rule judges (`findings`).
pub fn of(stack: &Stack, config: &Config, findings: &[Finding]) -> Vec<Strength> {
    let at = |loc: &Loc| {
        let (line, _) = stack.line_col(loc.file, loc.primary().start);
        format!("{}:{line}", stack.file(loc.file).display)
    };
    let flagged = |service: &Service, rule: &str| {
        findings.iter().any(|f| f.rule == rule && f.service.as_deref() == Some(service.name.as_str()))
    };
    let mut out = Vec::new();
    let mut add = |area: Area, service: Option<&Service>, text: String, loc: &Loc| {
        out.push(Strength { area: area.as_str(), service: service.map(|s| s.name.clone()), text, location: at(loc) });
    };
    for s in &config.services {
        let name = &s.name;
        if let Some(test) = s.healthcheck.as_ref().filter(|_| !flagged(s, "no-healthcheck")) {
            let program = match &test.value {
                HealthTest::Exec(words) => words.first().map(|w| program_name(w)),
                HealthTest::Shell(line) => line.split_whitespace().next().map(program_name),
                HealthTest::Disabled | HealthTest::Inherit => None,
            };
            // A probe that always passes proves nothing, and one calling a program the image is
            // known to lack never passes: neither is a strength.
            let probes = |p: &String| {
                // Busybox's applets answer to the same names (`wget` on Alpine).
                let busybox = format!("busybox-{p}");
                let lacks = PROBE_PROGRAMS.contains(&p.as_str())
                    && s.image_facts.has(p) == Some(false)
                    && (!matches!(p.as_str(), "wget" | "nc") || s.image_facts.has(&busybox) == Some(false));
                !p.is_empty() && !NO_OP_PROBES.contains(&p.as_str()) && !lacks
            };
            let forced = matches!(&test.value, HealthTest::Shell(line) if always_succeeds(line));
            if let Some(program) = program.filter(probes).filter(|_| !forced) {
                add(Area::Health, Some(s), format!("`{name}` has a `{program}` health check"), &test.loc);
            }
        }
        for dep in &s.depends_on {
            let Some(condition) = &dep.condition else { continue };
            // Only a dependency with a health check can become healthy (`docker compose up`
            // fails the dependant otherwise).
            let checked =
                config.service(&dep.service).is_some_and(|d| match d.healthcheck.as_ref().map(|t| &t.value) {
                    Some(HealthTest::Disabled) => false,
                    Some(_) => true,
                    None => d.image_facts.declares_healthcheck(),
                });
            if condition.value == "service_healthy" && checked {
                let text = format!("`{name}` starts once `{}` is healthy (`service_healthy`)", dep.service);
                add(Area::Health, Some(s), text, &condition.loc);
            }
        }
        if let Some(limit) = s.memory_limit.as_ref().filter(|_| !flagged(s, "no-resource-limits")) {
            if plain(&limit.value) {
                add(Area::Resources, Some(s), format!("`{name}` has a memory limit ({})", limit.value), &limit.loc);
            }
        }
        if let Some(restart) = s.restart.as_ref().filter(|r| matches!(r.value.as_str(), "always" | "unless-stopped")) {
            add(Area::Resources, Some(s), format!("`{name}` restarts `{}`", restart.value), &restart.loc);
        }
        if let Some(logging) = s.logging.as_ref().filter(|_| !flagged(s, "no-log-rotation")) {
            if let Some(size) = logging.options.get("max-size").filter(|v| plain(v)) {
                add(Area::Resources, Some(s), format!("`{name}` rotates its logs (max-size {size})"), &logging.loc);
            }
        }
        if let Some(secrets) = s.value.get("secrets").filter(|v| !v.items().is_empty()) {
            add(Area::Security, Some(s), format!("`{name}` reads secrets from files (`secrets:`)"), &secrets.loc);
        }
        if let Some(read_only) = s.value.get("read_only").filter(|v| v.is_compose_true()) {
            add(Area::Security, Some(s), format!("`{name}` has a read-only root filesystem"), &read_only.loc);
        }
        if let Some(drop) = s
            .value
            .get("cap_drop")
            .filter(|v| has_item(v, |i| i.eq_ignore_ascii_case("all")))
            .filter(|_| !flagged(s, "dangerous-capability"))
        {
            let text = match s.value.get("cap_add").is_some_and(|v| !v.items().is_empty()) {
                true => format!("`{name}` drops every capability it does not add back (`cap_drop: [ALL]`)"),
                false => format!("`{name}` drops every capability (`cap_drop: [ALL]`)"),
            };
            add(Area::Security, Some(s), text, &drop.loc);
        }
        let no_new = |i: &str| {
            let i = i.replace('=', ":");
            i == "no-new-privileges" || i == "no-new-privileges:true"
        };
        if let Some(opts) = s.value.get("security_opt").filter(|v| has_item(v, no_new)) {
            add(Area::Security, Some(s), format!("`{name}` cannot gain privileges (`no-new-privileges`)"), &opts.loc);
        }
        if let Some(image) = s.image.as_ref().filter(|_| !flagged(s, "unpinned-image")) {
            if let Some((_, digest)) = image.value.split_once("@sha256:").filter(|(_, d)| !d.is_empty()) {
                let _ = digest;
                add(Area::Deployment, Some(s), format!("`{name}` runs an image pinned by digest"), &image.loc);
            }
        }
    }
    for prometheus in &config.prometheus {
        if !prometheus.scrape_targets.is_empty() {
            let service = config.service(&prometheus.service);
            let text = format!(
                "`{}` scrapes {} target{}",
                prometheus.service,
                prometheus.scrape_targets.len(),
                if prometheus.scrape_targets.len() == 1 { "" } else { "s" }
            );
            add(Area::Observability, service, text, &prometheus.scrape_targets[0].loc);
        }
        // Alerts reach an Alertmanager only when one runs in the stack.
        let alertmanager = config.services_of_kind("alertmanager").next().is_some();
        if let Some(target) = prometheus.alertmanager_targets.first().filter(|_| alertmanager) {
            let service = config.service(&prometheus.service);
            let text = format!("`{}` sends alerts to Alertmanager at `{}`", prometheus.service, target.host);
            add(Area::Observability, service, text, &target.loc);
        }
    }
    // An overlay on the base files, or a standalone production file beside a development
    // configuration: either way a file only production loads.
    let only_production = |file: crate::stack::FileId| {
        let mut others = stack.configs.iter().filter(|c| !std::ptr::eq(*c, config));
        (config.files.len() > 1 || stack.configs.len() > 1) && others.all(|c| !c.files.contains(&file))
    };
    if config.is_production() {
        if let Some(&overlay) = config.files.last().filter(|&&f| only_production(f)) {
            let file = stack.file(overlay);
            out.push(Strength {
                area: Area::Deployment.as_str(),
                service: None,
                text: format!("production settings live in their own file (`{}`)", file.display),
                location: format!("{}:1", file.display),
            });
        }
    }
    // By area, in the order the scores show them (stable: services in order within one).
    out.sort_by_key(|s| super::score::AREAS.iter().position(|a| a.as_str() == s.area));
    out
}

/// The program a health-check word names, without its directory (`/usr/bin/curl` → `curl`);
/// empty for a word that is not a plain program name (a variable, a quoted script).
fn program_name(word: &str) -> String {
    let name = word.rsplit('/').next().unwrap_or(word);
    let plain = name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if plain && name.len() <= 40 {
        name.to_string()
    } else {
        String::new()
    }
}

/// A short value that is a size or a word, safe to quote.
fn plain(value: &str) -> bool {
    value.len() <= 20 && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

fn has_item(value: &Value, pred: impl Fn(&str) -> bool) -> bool {
    value.items().iter().any(|i| i.as_str().is_some_and(&pred))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_that_end_in_a_command_that_cannot_fail_always_succeed() {
        for line in [
            "curl -f http://localhost:8080/ || exit 0",
            "curl -f http://localhost:8080/ || true",
            "curl -sf http://localhost/health >/dev/null; echo $?",
            "wget -q -O- http://x/ ; exit 0",
            "pg_isready || :",
        ] {
            assert!(always_succeeds(line), "{line}");
        }
        for line in [
            "curl -f http://localhost:8080/ || exit 1",
            "pg_isready -U postgres",
            "redis-cli ping | grep PONG",
            "test -f /x || (echo missing; exit 1)",
            "a || b && c",
            "curl -f http://x/; ",
        ] {
            assert!(!always_succeeds(line), "{line}");
        }
    }
}
