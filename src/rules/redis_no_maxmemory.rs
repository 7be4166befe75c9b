use serde_json::json;

use super::{Applicability, Context, Finding, Fix, FixEdit, Rule, RuleMeta};
use super::{EditOp, Target};
use crate::fix::render::template as tpl;
use crate::stack::facts::memory_bytes;
use crate::stack::profiles::image_repository;
use crate::stack::service::shell_split;
use crate::stack::side::redis_server_words;
use crate::stack::{RedisRole, Service, Value, ValueKind};

/// The server programs whose flags and directives this rule knows.
const SERVERS: &[&str] = &["redis-server", "valkey-server", "keydb-server"];

/// A server setting: (name without dashes, value).
type Setting = (String, String);

/// Images that take extra server flags from an environment variable (their entrypoint builds the
/// command line).
const FLAG_VARIABLES: &[(&str, &str)] = &[
    ("bitnami/redis", "REDIS_EXTRA_FLAGS"),
    ("bitnami/valkey", "VALKEY_EXTRA_FLAGS"),
    ("redis/redis-stack", "REDIS_ARGS"),
    ("redis/redis-stack-server", "REDIS_ARGS"),
];

/// Images whose default command is the bare server, so adding `command:` changes nothing else.
const PLAIN_SERVER_IMAGES: &[(&str, &str)] = &[("redis", "redis-server"), ("valkey/valkey", "valkey-server")];

declare_rule! {
    /// ## What it does
    /// Reports redis (valkey, keydb) services without `maxmemory`, a cache with `maxmemory` but no
    /// `maxmemory-policy`, or an evicting policy on a redis that serves as a job queue or broker.
    /// It reads the server's command line (`--maxmemory`, also inside `sh -c`, and a `.conf` file
    /// given as the first argument, as the official images' entrypoint runs it) and a mounted
    /// `redis.conf`. What the redis is for comes from the whole stack: a queue when its name says
    /// so, a client's variable naming it is about queues (`CELERY_BROKER_URL`, `QUEUE_URL`…), or a
    /// queue worker (Celery, RQ, Sidekiq, BullMQ, Resque, Dramatiq, Huey, arq…) reaches it through
    /// `environment`, `env_file`, `depends_on` or a URL on its command line; a cache when only
    /// caching names it (`CACHE_URL`, a `cache` service name).
    ///
    /// ## Why it matters
    /// Without `maxmemory`, redis grows until the kernel kills it or the container limit does. A
    /// `maxmemory-policy` says what happens at the limit. A job queue must not
    /// evict: an LRU policy silently drops queued jobs, so it needs `noeviction`; a cache wants
    /// `allkeys-lru`.
    ///
    /// ## When it does not apply
    /// A redis with `maxmemory` and a policy that suits its use (a policy chosen for a redis whose
    /// use is unknown stands); development configurations next to a production file.
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
    ///     command: redis-server --appendonly yes --maxmemory 384mb --maxmemory-policy noeviction
    /// ```
    /// `maxmemory` is 75% of the memory limit, leaving headroom for fragmentation and forks; a
    /// redis without a limit gets the one `no-resource-limits` would give it in the same fix. The
    /// policy is `allkeys-lru` only on evidence that caching alone uses it, `noeviction`
    /// otherwise (the fix title names the evidence); queues also get `appendonly yes` with
    /// `appendfsync everysec` so queued jobs survive a restart. Settings go where the server is
    /// configured: a flag already on the command line is changed in place, otherwise a mounted
    /// redis.conf gets the directives (comments kept), otherwise the flags are appended to
    /// `command:` (a string, a list, or the script of `sh -c`), or a `command:` is added for the
    /// official redis and valkey images; Bitnami and redis-stack images get them in the variable
    /// their entrypoint reads (`REDIS_EXTRA_FLAGS`, `REDIS_ARGS`).
    ///
    /// ## Fix safety
    /// Safe when `maxmemory` is sized from a memory limit (the service's, or the one the fix adds):
    /// it bounds memory the limit bounds anyway, with the policy that loses nothing unless only a
    /// cache is at stake. Unsafe when there is no limit to size from, when it replaces a policy
    /// the authors chose (a queue's evicting one: writes then fail when memory is full), and when
    /// it sets `allkeys-lru` on the redis's name alone (what its clients keep there is unknown). A command stackfix cannot edit
    /// safely (a block scalar, a shell string, a third-party image's own entrypoint) is left for a
    /// person.
    pub struct RedisNoMaxmemory => "redis-no-maxmemory" {
        summary: "redis has no maxmemory or a policy unfit for its use",
        severity: Warning,
        area: DataProtection,
        scope: Production,
        fix: Sometimes,
        applicability: Safe,
        seeds: ["002", "004"],
        judges: ["redis"],
    }
}

/// A setting from the command line (`--name value`, which Redis applies after its
/// configuration file) or redis.conf; `Err(argument)` when the file does not set it after an
/// `include` whose file stackfix does not read (the setting is not known).
fn setting(ctx: &Context, service: &Service, name: &str) -> Result<Option<String>, String> {
    let words = redis_server_words(service);
    let flag = format!("--{name}");
    if let Some(i) = words.iter().position(|w| w.eq_ignore_ascii_case(&flag)) {
        return Ok(words.get(i + 1).cloned());
    }
    if let Some(v) = service.environment.iter().filter_map(|e| e.value.as_deref()).find_map(|v| {
        let w: Vec<&str> = v.split_whitespace().collect();
        w.iter().position(|x| x.eq_ignore_ascii_case(&flag)).and_then(|i| w.get(i + 1).map(|s| s.to_string()))
    }) {
        return Ok(Some(v));
    }
    match ctx.config.redis_confs.iter().find(|c| c.service == service.name) {
        Some(conf) => conf.setting(name).map(|d| d.map(|d| d.args.clone())).map_err(str::to_string),
        None => Ok(None),
    }
}

impl Rule for RedisNoMaxmemory {
    fn meta(&self) -> &'static RuleMeta {
        &Self::META
    }

    fn check(&self, ctx: &Context) -> Vec<Finding> {
        let mut out = Vec::new();
        for service in ctx.config.services_of_kind("redis") {
            let role = ctx.config.redis_role(service);
            let (wanted, why) = match &role {
                RedisRole::Queue(e) => {
                    ("noeviction", format!("it is used as a queue/broker ({e}), so it must not evict"))
                }
                RedisRole::Cache(e) => {
                    ("allkeys-lru", format!("only caching uses it ({e}), so it can evict least-recently-used keys"))
                }
                RedisRole::CacheByName(e) => (
                    "allkeys-lru",
                    format!("only caching seems to use it ({e}, but not what its clients keep in it), so it could evict least-recently-used keys"),
                ),
                RedisRole::Unknown => (
                    "noeviction",
                    "nothing shows it is only a cache, and an evicting policy would lose queued jobs and sessions"
                        .to_string(),
                ),
            };
            let queue = matches!(role, RedisRole::Queue(_));
            let loc = service.value.get("command").map_or(service.production_site(), |c| c.loc);
            // A setting an unread `include` may make: not known, so nothing is changed.
            let known = |name: &str| setting(ctx, service, name);
            // Only a queue's durability is changed.
            let (appendonly, appendfsync) = match queue {
                true => (known("appendonly").map(|a| a.as_deref() == Some("yes")), known("appendfsync")),
                false => (Ok(true), Ok(None)),
            };
            let (maxmemory, policy) = (known("maxmemory"), known("maxmemory-policy"));
            // Whether some value the include may set leaves a finding: `maxmemory` unset, no
            // policy on a cache, an evicting one on a queue. Where none can, there is nothing
            // to report however the include reads.
            let cache = matches!(role, RedisRole::Cache(_) | RedisRole::CacheByName(_));
            let possible = match (&maxmemory, &policy) {
                (Err(_) | Ok(None), _) => true,
                (Ok(Some(_)), Err(_)) => cache || queue,
                (Ok(Some(_)), Ok(None)) => cache,
                (Ok(Some(_)), Ok(Some(p))) => queue && p != "noeviction",
            };
            if !possible {
                continue;
            }
            let (maxmemory, policy, durable, appendfsync) = match (maxmemory, policy, appendonly, appendfsync) {
                (Ok(m), Ok(p), Ok(d), Ok(f)) => (m, p, d, f),
                (Err(include), ..) | (_, Err(include), ..) | (_, _, Err(include), _) | (.., Err(include)) => {
                    out.push(
                        Finding::new(
                            &Self::META,
                            loc,
                            format!(
                                "redis `{}` reads a configuration file that includes `{include}`, which stackfix \
                                     does not read: whether it sets `maxmemory` and `maxmemory-policy` is not known",
                                service.name
                            ),
                        )
                        .service(&service.name)
                        .help(format!(
                            "check that the included file, or a directive after the `include`, sets `maxmemory` and \
                                 `maxmemory-policy {wanted}`: {why}"
                        )),
                    );
                    continue;
                }
            };
            let message = match (&maxmemory, &policy) {
                (None, _) => format!("redis `{}` has no `maxmemory` limit", service.name),
                (Some(_), None) if matches!(role, RedisRole::Cache(_) | RedisRole::CacheByName(_)) => {
                    format!(
                        "redis `{}` sets `maxmemory` without `maxmemory-policy` (writes fail when full)",
                        service.name
                    )
                }
                (Some(_), Some(p)) if queue && p != "noeviction" => {
                    format!("redis `{}` evicts keys (`maxmemory-policy {p}`) but is a queue/broker", service.name)
                }
                _ => continue,
            };
            let mut wanted_settings = Vec::new();
            let mut reasons = Vec::new();
            let mut limit_edit = None;
            let mut applicability = Applicability::Safe;
            let mut caveat = None;
            if maxmemory.is_none() {
                let sizing = maxmemory_for(ctx, service);
                reasons.push(format!("maxmemory {} ({})", sizing.size, sizing.basis));
                wanted_settings.push(("maxmemory", sizing.size));
                match sizing.source {
                    LimitSource::Own => {}
                    // The container limit it is sized from comes along.
                    LimitSource::Profile(edit) => {
                        // A limit whose figure is a guess makes the maxmemory sized from it one.
                        if !super::no_resource_limits::kind_is_known(ctx, service) {
                            applicability = Applicability::Unsafe;
                        }
                        limit_edit = Some(edit);
                    }
                    LimitSource::None => applicability = Applicability::Unsafe,
                }
            }
            // A policy already chosen stands, unless a queue's evicts.
            let set_policy = match &policy {
                None => maxmemory.is_none() || matches!(role, RedisRole::Cache(_) | RedisRole::CacheByName(_)),
                Some(p) => queue && p != "noeviction",
            };
            if set_policy {
                reasons.push(format!("maxmemory-policy {wanted} ({why})"));
                wanted_settings.push(("maxmemory-policy", wanted.to_string()));
                // An evicting policy on a name alone may drop what a client queues in it.
                if matches!(role, RedisRole::CacheByName(_)) {
                    applicability = Applicability::Unsafe;
                }
                // The authors chose their policy: with `noeviction` every write fails once
                // memory is full (a client caching there gets errors instead of evictions).
                if let Some(chosen) = &policy {
                    applicability = Applicability::Unsafe;
                    caveat = Some(format!(
                        "; the authors chose `{chosen}`: with `{wanted}`, writes fail once it is full, so a client caching there must cope with errors"
                    ));
                }
            }
            if queue && !durable {
                reasons.push("appendonly yes with appendfsync everysec (queued jobs survive a restart)".to_string());
                wanted_settings.push(("appendonly", "yes".to_string()));
                if appendfsync.is_none() {
                    wanted_settings.push(("appendfsync", "everysec".to_string()));
                }
            }
            let title = format!("set {}", reasons.join(", "));
            let fix = fix(ctx, service, &wanted_settings, title).map(|mut f| {
                f.applicability = applicability;
                f.take_along(ctx, limit_edit);
                f
            });
            out.push(
                Finding::new(&Self::META, loc, message)
                    .service(&service.name)
                    .help(format!("use `maxmemory-policy {wanted}`: {why}{}", caveat.unwrap_or_default()))
                    .with_fix_opt(fix),
            );
        }
        out
    }
}

/// Where a maxmemory figure comes from.
enum LimitSource {
    /// The service's own memory limit.
    Own,
    /// The limit `no-resource-limits` adds (its edit, which the fix takes along).
    Profile(FixEdit),
    /// Nothing: a fixed guess.
    None,
}

struct MaxmemorySizing {
    size: String,
    basis: String,
    source: LimitSource,
}

/// 75% of the service's memory limit (or of the one `no-resource-limits` gives it, whose edit
/// the fix then takes along), in megabytes, and what it is based on.
fn maxmemory_for(ctx: &Context, service: &Service) -> MaxmemorySizing {
    if service.memory_limit.as_ref().is_some_and(|m| ctx.has_reference(m.loc)) {
        return MaxmemorySizing {
            size: "256mb".to_string(),
            basis: "a guess: the memory limit comes from a variable, which the environment may set otherwise"
                .to_string(),
            source: LimitSource::None,
        };
    }
    let own = service.memory_limit.as_ref().map(|m| (m.value.clone(), "the memory limit", LimitSource::Own));
    let added = || {
        let (edit, limit) = super::no_resource_limits::limits_for(ctx, service)?;
        Some((limit, "the memory limit it gets", LimitSource::Profile(edit)))
    };
    match own.or_else(added).and_then(|(limit, what, source)| Some((memory_bytes(&limit)?, limit, what, source))) {
        Some((limit_bytes, limit, what, source)) => {
            let mb = (limit_bytes / 4 * 3 / (1 << 20)).max(1);
            MaxmemorySizing { size: format!("{mb}mb"), basis: format!("75% of {what}, {limit}"), source }
        }
        None => MaxmemorySizing {
            size: "256mb".to_string(),
            basis: "a guess: no memory limit to size it from".to_string(),
            source: LimitSource::None,
        },
    }
}

/// Lowers the settings to edits where the server is configured; `None` when that place cannot
/// be edited safely.
fn fix(ctx: &Context, service: &Service, settings: &[(&str, String)], title: String) -> Option<Fix> {
    if settings.is_empty() {
        return None;
    }
    let words = redis_server_words(service);
    let on_command_line = |name: &str| words.iter().any(|w| w.eq_ignore_ascii_case(&format!("--{name}")));
    let conf = ctx.config.redis_confs.iter().find(|c| c.service == service.name);
    let mut replace = Vec::new();
    let mut append = Vec::new();
    let mut directives = Vec::new();
    for (name, value) in settings {
        if on_command_line(name) {
            replace.push((name.to_string(), value.clone()));
        } else if conf.is_some() {
            directives.push((name.to_string(), value.clone()));
        } else {
            append.push((name.to_string(), value.clone()));
        }
    }
    let mut edits = Vec::new();
    if let Some(conf) = conf.filter(|_| !directives.is_empty()) {
        edits.push(FixEdit::new(
            Target::File(conf.file),
            EditOp::SetDirectives(directives),
            tpl::REDIS_NO_MAXMEMORY_CONF,
            json!({ "service": service.name }),
        ));
    }
    if !replace.is_empty() || !append.is_empty() {
        let flags_variable = flags_variable(service).filter(|_| service.value.get("command").is_none());
        match flags_variable {
            Some(variable) => edits.push(variable_edit(ctx, service, variable, settings)?),
            None => edits.extend(command_edits(ctx, service, &replace, &append)?),
        }
    }
    Some(ctx.fix(title, Applicability::Safe, edits))
}

/// The environment variable an image reads extra server flags from, for images whose own
/// entrypoint must not be replaced by a `command:`.
fn flags_variable(service: &Service) -> Option<&'static str> {
    let image = service.image.as_ref()?;
    let (_, repository) = image_repository(&image.value);
    FLAG_VARIABLES.iter().find(|(r, _)| *r == repository).map(|(_, v)| *v)
}

/// `settings` written into the image's flags variable: the flags it already holds changed in
/// place, the others appended, the variable added when the service has none.
fn variable_edit(ctx: &Context, service: &Service, variable: &str, settings: &[(&str, String)]) -> Option<FixEdit> {
    let existing = service.environment.iter().find(|e| e.name == variable);
    let holds = |name: &str| {
        existing
            .and_then(|e| e.value.as_deref())
            .is_some_and(|v| shell_split(v).iter().any(|w| *w == format!("--{name}")))
    };
    let (replace, append): (Vec<Setting>, Vec<Setting>) =
        settings.iter().map(|(n, v)| (n.to_string(), v.clone())).partition(|(n, _)| holds(n));
    match existing {
        Some(var) => {
            let raw = ctx.stack.text(var.loc.file, var.loc.span);
            Some(FixEdit::new(
                Target::Node { file: var.loc.file, at: var.loc.span },
                EditOp::Replace,
                tpl::REDIS_NO_MAXMEMORY_TEXT,
                json!({ "text": edit_flags(raw, &replace, &append)? }),
            ))
        }
        None => {
            let flags: Vec<String> = append.iter().map(|(n, v)| format!("--{n} {v}")).collect();
            Some(FixEdit::new(
                Target::Service(ctx.definition_site(service)),
                EditOp::Merge,
                tpl::REDIS_NO_MAXMEMORY_VARIABLE,
                json!({ "name": variable, "value": flags.join(" ") }),
            ))
        }
    }
}

/// Edits of `command:` that change the flags in `replace` and add those in `append`.
fn command_edits(
    ctx: &Context,
    service: &Service,
    replace: &[(String, String)],
    append: &[(String, String)],
) -> Option<Vec<FixEdit>> {
    let Some(command) = service.value.get("command") else {
        // No command: the official images run the bare server, which the flags can follow.
        if !replace.is_empty() || !service.entrypoint.is_empty() {
            return None;
        }
        let image = service.image.as_ref().map(|i| i.value.as_str()).or(service.base_image.as_deref())?;
        let (_, repository) = image_repository(image);
        let server = PLAIN_SERVER_IMAGES.iter().find(|(r, _)| *r == repository).map(|(_, s)| *s)?;
        let flags: Vec<String> = append.iter().map(|(n, v)| format!("--{n} {v}")).collect();
        return Some(vec![FixEdit::new(
            Target::Service(ctx.definition_site(service)),
            EditOp::Merge,
            tpl::REDIS_NO_MAXMEMORY_COMMAND,
            json!({ "command": format!("{server} {}", flags.join(" ")) }),
        )]);
    };
    let raw_edit = |value: &Value| -> Option<FixEdit> {
        let raw = ctx.stack.text(value.loc.file, value.loc.span);
        Some(FixEdit::new(
            Target::Node { file: value.loc.file, at: value.loc.span },
            EditOp::Replace,
            tpl::REDIS_NO_MAXMEMORY_TEXT,
            json!({ "text": edit_flags(raw, replace, append)? }),
        ))
    };
    match &command.kind {
        ValueKind::Scalar { text, .. } => {
            let words = shell_split(text);
            let starts_server = words.first().is_some_and(|w| is_server(w) || w.starts_with('-'));
            (starts_server || (words.iter().any(|w| is_server(w)) && !words.iter().any(|w| w == "-c")))
                .then(|| raw_edit(command))?
                .map(|e| vec![e])
        }
        ValueKind::Seq(items) => {
            let word = |i: &Value| i.as_str().unwrap_or_default().to_string();
            // `sh -c "…"` (or `-ec`, `-euc`) after a shell.
            let shell = items.iter().position(|i| {
                let w = word(i);
                ["sh", "bash", "ash", "dash", "zsh"].contains(&w.rsplit('/').next().unwrap_or(&w))
            });
            let script_flag = shell.and_then(|s| {
                items[s + 1..]
                    .iter()
                    .position(|i| {
                        let w = word(i);
                        w.starts_with('-') && !w.starts_with("--") && w.contains('c')
                    })
                    .map(|i| s + 1 + i)
            });
            if let Some(dash_c) = script_flag {
                // `sh -c "redis-server …"`: the flags go into the script.
                let script = items.get(dash_c + 1)?;
                let text = word(script);
                // Flags appended to a script with several commands would land on the wrong one.
                let one_command = !text.contains([';', '&', '|', '\n', '`']) && !text.contains("$(");
                let words = shell_split(&text);
                let server = words.iter().find(|w| *w != "exec").is_some_and(|w| is_server(w));
                return (one_command && server).then(|| raw_edit(script))?.map(|e| vec![e]);
            }
            if !items.iter().any(|i| is_server(&word(i)) || word(i).starts_with('-')) {
                return None;
            }
            let quoted = items.iter().all(|i| matches!(i.kind, ValueKind::Scalar { quoted: true, .. }));
            let mut edits = Vec::new();
            for (name, value) in replace {
                let flag = items.iter().position(|i| word(i).eq_ignore_ascii_case(&format!("--{name}")))?;
                let target = items.get(flag + 1)?;
                edits.push(FixEdit::new(
                    Target::Node { file: target.loc.file, at: target.loc.span },
                    EditOp::Replace,
                    tpl::REDIS_NO_MAXMEMORY_WORDS,
                    json!({ "words": [value], "quoted": quoted, "inline": true }),
                ));
            }
            if !append.is_empty() {
                let words: Vec<&str> = append.iter().flat_map(|(n, v)| [n.as_str(), v.as_str()]).collect();
                let words: Vec<String> =
                    words.chunks(2).flat_map(|p| [format!("--{}", p[0]), p[1].to_string()]).collect();
                edits.push(FixEdit::new(
                    Target::Node { file: command.loc.file, at: command.loc.span },
                    EditOp::Append,
                    tpl::REDIS_NO_MAXMEMORY_WORDS,
                    json!({ "words": words, "quoted": quoted, "inline": false }),
                ));
            }
            Some(edits)
        }
        _ => None,
    }
}

fn is_server(word: &str) -> bool {
    SERVERS.iter().any(|s| word.rsplit('/').next() == Some(*s))
}

/// A command line written as a plain or one-line quoted scalar, with the value after each
/// `--name` in `replace` changed and `--name value` added for each in `append`; `None` for
/// block scalars and anything else it cannot edit by words.
fn edit_flags(raw: &str, replace: &[(String, String)], append: &[(String, String)]) -> Option<String> {
    let body = raw.trim_end();
    let (open, inner, close) = match raw.chars().next()? {
        q @ ('"' | '\'') if body.len() >= 2 && body.ends_with(q) && !body.contains('\n') => {
            (&body[..1], &body[1..body.len() - 1], &raw[body.len() - 1..])
        }
        '"' | '\'' => return None,
        _ => ("", body, &raw[body.len()..]),
    };
    // A block scalar (`>` or `|`): compose splits its lines like spaces, so a flag can go on a
    // line of its own at the block's indentation.
    let block_indent = match raw.chars().next()? {
        '|' | '>' => {
            let first = inner.lines().nth(1)?;
            Some(first.len() - first.trim_start().len())
        }
        _ => None,
    };
    let mut inner = inner.to_string();
    for (name, value) in replace {
        let tokens = tokens(&inner);
        let flag = tokens.iter().position(|&(s, e)| inner[s..e].eq_ignore_ascii_case(&format!("--{name}")))?;
        let &(s, e) = tokens.get(flag + 1)?;
        inner.replace_range(s..e, value);
    }
    for (name, value) in append {
        match block_indent {
            Some(indent) => inner.push_str(&format!("\n{}--{name} {value}", " ".repeat(indent))),
            None => inner.push_str(&format!(" --{name} {value}")),
        }
    }
    Some(format!("{open}{inner}{close}"))
}

/// Byte ranges of the whitespace-separated tokens of a text.
fn tokens(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                out.push((s, i));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, text.len()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_edited_by_words() {
        let set = |n: &str, v: &str| vec![(n.to_string(), v.to_string())];
        assert_eq!(
            edit_flags("redis-server --appendonly yes", &[], &set("maxmemory", "384mb")).as_deref(),
            Some("redis-server --appendonly yes --maxmemory 384mb")
        );
        assert_eq!(
            edit_flags("\"redis-server --maxmemory-policy allkeys-lru\"", &set("maxmemory-policy", "noeviction"), &[])
                .as_deref(),
            Some("\"redis-server --maxmemory-policy noeviction\"")
        );
        assert_eq!(
            edit_flags(">\n  --requirepass x\n  --maxmemory-policy noeviction\n", &[], &set("maxmemory", "1mb"))
                .as_deref(),
            Some(">\n  --requirepass x\n  --maxmemory-policy noeviction\n  --maxmemory 1mb\n")
        );
        assert_eq!(edit_flags("'unterminated\n  x'", &[], &set("maxmemory", "1mb")), None);
        assert_eq!(edit_flags("redis-server", &set("maxmemory", "1mb"), &[]), None);
    }
}
