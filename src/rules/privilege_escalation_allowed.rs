use serde_json::json;

use super::{Applicability, Context, Finding, FixEdit, Rule, RuleMeta};
use super::{EditOp, Target};
use crate::fix::render::template as tpl;
use crate::stack::catalog::Catalog;
use crate::stack::service::{HealthTest, Service};

declare_rule! {
    /// ## What it does
    /// Reports production services that may gain privileges at `execve`: no
    /// `no-new-privileges` in `security_opt` (the last entry counts; `no-new-privileges`,
    /// `no-new-privileges:true` and `no-new-privileges=true` set it, `:false` turns it off).
    ///
    /// ## Why it matters
    /// With `no-new-privileges`, the kernel refuses to raise a process's privileges when it runs a
    /// setuid or setgid program or one with file capabilities
    /// (https://docs.kernel.org/userspace-api/no_new_privs.html): a compromised process in the
    /// container cannot use such a program to become root. Docker sets it per container with
    /// `--security-opt no-new-privileges`
    /// (https://docs.docker.com/reference/cli/docker/container/run/#security-opt). OWASP's Docker
    /// Security Cheat Sheet, rule 4.
    ///
    /// ## When it does not apply
    /// Privileged containers (`privileged-container` reports them), one-shot jobs (migrations,
    /// setup), development configurations next to a production file. A Docker daemon started with `no-new-privileges` sets it for
    /// every container; stackfix cannot see the daemon's settings.
    ///
    /// ## Example
    /// ```yaml
    ///   db:
    ///     image: postgres:16.4
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    ///     security_opt:
    ///       - no-new-privileges:true
    /// ```
    /// added in the production configuration, only for images the catalog knows start without
    /// gaining privileges: the image's Dockerfile adds no setuid, setgid or file-capability
    /// program, and its entrypoint and process run none (the base system's `su` or `mount` may be
    /// there, unused) and at most step down from root (`gosu`, `su-exec` run as root), as the
    /// image's Dockerfile and entrypoint show (the official `postgres`, `redis` up to 7.4, `nginx`), when the
    /// service keeps the image's entrypoint, its health check calls no `sudo`, `su` or `ping`, and
    /// it has no `security_opt` yet. Other services are reported with what a person must check.
    /// A service that `extends` another whose entry is written shares its fix: compose appends
    /// the `security_opt` of both (two equal entries, which it refuses), and the one entry reaches
    /// both.
    ///
    /// ## Fix safety
    /// Safe: it is written only where every fact it relies on is known.
    pub struct PrivilegeEscalationAllowed => "privilege-escalation-allowed" {
        summary: "process in the container may gain privileges (no `no-new-privileges`)",
        severity: Info,
        area: Security,
        scope: Production,
        fix: Sometimes,
        applicability: Safe,
        seeds: ["004"],
    }
}

/// The last `no-new-privileges` entry of `security_opt`: whether it turns it on (Docker reads its
/// value with Go's `strconv.ParseBool`; the bare option means true). `None` when none is there.
fn no_new_privileges(service: &Service) -> Option<bool> {
    let options = service.value.get("security_opt")?;
    options.items().iter().filter_map(|item| item.as_str()).fold(None, |last, entry| {
        let (option, value) = super::unconfined_security_profile::security_option(entry);
        if option != "no-new-privileges" {
            return last;
        }
        Some(matches!(value, "" | "1" | "t" | "T" | "true" | "TRUE" | "True"))
    })
}

/// Programs that gain privileges by being setuid or having file capabilities, which a health
/// check run under `no-new-privileges` would break.
const SETUID_PROGRAMS: &[&str] = &["sudo", "su", "doas", "ping", "ping6", "newgrp", "passwd", "chsh", "mount"];

/// Why `no-new-privileges` cannot be written for `service` safely; `None` when it can (the source
/// of the fact it relies on is then `source`).
fn unknown(service: &Service) -> Result<&'static str, String> {
    let image =
        super::catalog_image(service, "check its Dockerfile for setuid programs, file capabilities and `sudo` first")?;
    let Some(source) = Catalog::builtin().no_new_privileges(image) else {
        return Err(format!(
            "whether `{image}` starts without setuid programs or file capabilities is not known; check its Dockerfile \
             and entrypoint first"
        ));
    };
    if service.value.get("entrypoint").is_some() {
        return Err("it replaces the image's entrypoint, which the catalog's fact is about".into());
    }
    if service.value.get("security_opt").is_some() {
        return Err("it has `security_opt` entries; add `no-new-privileges:true` to them".into());
    }
    if let Some(program) = privileged_health_program(service) {
        return Err(format!("its health check runs `{program}`, which needs to gain privileges"));
    }
    Ok(source)
}

/// A program `service`'s own health check runs that gains privileges when it starts (setuid, or
/// file capabilities such as Debian's `ping`): `no-new-privileges` or a smaller capability
/// bounding set makes it fail.
pub(super) fn privileged_health_program(service: &Service) -> Option<String> {
    let programs = match service.healthcheck.as_ref().map(|h| &h.value) {
        Some(HealthTest::Exec(words)) => exec_programs(words),
        Some(HealthTest::Shell(line)) => shell_programs(line),
        _ => Vec::new(),
    };
    programs.into_iter().find(|p| SETUID_PROGRAMS.contains(&p.as_str()))
}

/// The programs an exec-form command runs: its first word past wrappers that run another program
/// (`env`, `timeout 5`, `nice`, `busybox`), or those of the script it hands to a shell with `-c`
/// (also in a flag group, `-ec`). Names without their directory.
fn exec_programs(words: &[String]) -> Vec<String> {
    const WRAPPERS: &[&str] = &["env", "timeout", "nice", "nohup", "ionice", "stdbuf", "busybox", "chrt", "setsid"];
    let base = |w: &str| w.rsplit('/').next().unwrap_or(w).to_string();
    let mut programs = Vec::new();
    let mut rest = words.iter().map(String::as_str).peekable();
    while let Some(word) = rest.next() {
        let name = base(word);
        if WRAPPERS.contains(&name.as_str()) {
            programs.push(name.clone());
            // Its options and assignments, and `timeout`'s duration, come before the program.
            while let Some(option) = rest.next_if(|w| w.starts_with('-') || w.contains('=')) {
                // Options that take the next word (`timeout -s KILL`, `nice -n 5`).
                if ["-s", "-k", "-n", "--signal", "--kill-after", "--adjustment", "-u", "--unset"].contains(&option) {
                    rest.next();
                }
            }
            if name == "timeout" {
                rest.next();
            }
            continue;
        }
        programs.push(name.clone());
        if ["sh", "bash", "ash", "dash", "zsh"].contains(&name.as_str()) {
            let mut script_follows = false;
            for w in rest.by_ref() {
                if script_follows {
                    programs.extend(shell_programs(w));
                    break;
                }
                if !w.starts_with('-') {
                    break;
                }
                script_follows = !w.starts_with("--") && w[1..].contains('c');
            }
        }
        break;
    }
    programs
}

/// The programs a shell command line runs: the first word of each command (split at `;`, `&`,
/// `|`, parentheses, backquotes and newlines), past variable assignments and the shell's own
/// keywords. A rough reading: quoting is ignored, which can only find more programs, not fewer.
fn shell_programs(line: &str) -> Vec<String> {
    const SKIP: &[&str] = &[
        "if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!", "{", "}", "exec", "time", "command",
        "env",
    ];
    line.split([';', '&', '|', '(', ')', '`', '\n'])
        .filter_map(|command| {
            command
                .split_whitespace()
                .map(|w| w.trim_matches(|c| c == '"' || c == '\'' || c == '$'))
                .find(|w| !w.is_empty() && !SKIP.contains(w) && !w.contains('='))
                .map(|w| w.rsplit('/').next().unwrap_or(w).to_string())
        })
        .collect()
}

impl Rule for PrivilegeEscalationAllowed {
    fn meta(&self) -> &'static RuleMeta {
        &Self::META
    }

    fn check(&self, ctx: &Context) -> Vec<Finding> {
        let mut out = Vec::new();
        for service in super::hardening_candidates(ctx) {
            let set = no_new_privileges(service);
            if set == Some(true) {
                continue;
            }
            let finding = Finding::new(
                &Self::META,
                service.production_site(),
                match set {
                    Some(false) => format!("service `{}` turns `no-new-privileges` off", service.name),
                    _ => format!(
                        "service `{}` may gain privileges through setuid programs (no `no-new-privileges`)",
                        service.name
                    ),
                },
            )
            .service(&service.name);
            let finding = match (set, unknown(service)) {
                (None, Ok(source)) => {
                    finding.help(format!("the image starts without gaining privileges ({source})")).with_fix(ctx.fix(
                        "add `security_opt: [no-new-privileges:true]`",
                        Applicability::Safe,
                        vec![FixEdit::new(
                            Target::Service(ctx.production_site(service)),
                            EditOp::Merge,
                            tpl::PRIVILEGE_ESCALATION_ALLOWED,
                            json!({}),
                        )],
                    ))
                }
                (Some(false), _) => {
                    finding.help("remove `no-new-privileges:false` unless the service runs setuid programs")
                }
                (_, Err(reason)) => finding.help(format!("not fixed: {reason}")),
                (Some(true), Ok(_)) => continue,
            };
            out.push(finding);
        }
        share_with_extended(ctx, &mut out);
        out
    }
}

/// Gives each finding of a service that `extends` (directly or through others) a service of this
/// configuration whose own finding is fixed that fix instead of its own: compose appends the
/// `security_opt` of both, so two fixes would write the entry twice (compose refuses a list with
/// two equal items), while the one written in the service extended reaches both. The furthest
/// such service extended is the one fixed.
fn share_with_extended(ctx: &Context, findings: &mut [Finding]) {
    if ctx.stack.extends.is_empty() {
        return;
    }
    let fixed: std::collections::HashMap<String, super::Fix> =
        findings.iter().filter_map(|f| Some((f.service.as_deref()?.to_string(), f.fix.as_deref()?.clone()))).collect();
    for finding in findings.iter_mut().filter(|f| f.fix.is_some()) {
        let Some(service) = finding.service.as_deref() else { continue };
        let mut at = service;
        let mut furthest = None;
        // (A chain of `extends` is at most 16 long: the loader refuses longer ones, and cycles.)
        for _ in 0..32 {
            let Some((_, parent)) = ctx.stack.extends.iter().find(|(child, _)| child == at) else { break };
            if fixed.contains_key(parent) {
                furthest = Some(parent.as_str());
            }
            at = parent;
        }
        if let Some(fix) = furthest.and_then(|name| fixed.get(name)) {
            finding.fix = Some(Box::new(fix.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(items: &[&str]) -> Vec<String> {
        items.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn health_programs_are_the_commands_run_not_their_arguments() {
        assert_eq!(exec_programs(&words(&["redis-cli", "ping"])), ["redis-cli"]);
        assert_eq!(exec_programs(&words(&["/bin/ping", "-c1", "db"])), ["ping"]);
        assert_eq!(exec_programs(&words(&["sh", "-c", "redis-cli ping | grep PONG"])), ["sh", "redis-cli", "grep"]);
        assert_eq!(shell_programs("redis-cli -a $P ping || exit 1"), ["redis-cli", "exit"]);
        assert_eq!(shell_programs("X=1 sudo -u app check && ping -c1 $(hostname)"), ["sudo", "ping", "hostname"]);
        assert_eq!(shell_programs("if ! /usr/bin/su app -c true; then exit 1; fi"), ["su", "exit"]);
        assert_eq!(exec_programs(&words(&["bash", "-ec", "ping -c1 db"])), ["bash", "ping"]);
        assert_eq!(exec_programs(&words(&["sh", "-e", "-c", "sudo true"])), ["sh", "sudo"]);
        assert_eq!(exec_programs(&words(&["timeout", "-s", "KILL", "5", "ping", "db"])), ["timeout", "ping"]);
        assert_eq!(exec_programs(&words(&["env", "A=1", "/bin/ping", "db"])), ["env", "ping"]);
    }
}
