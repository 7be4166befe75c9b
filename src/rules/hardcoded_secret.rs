use serde_json::json;

use super::{Applicability, Context, Finding, Fix, FixEdit, Rule, RuleMeta};
use crate::stack::interpolate;
use crate::stack::service::EnvVar;
use crate::stack::{Service, ValueKind};

/// Name words that make a variable a secret.
const SECRET_WORDS: &[&str] =
    &["PASSWORD", "PASSWD", "PASS", "SECRET", "TOKEN", "APIKEY", "CREDENTIALS", "SALT", "PRIVATEKEY"];
/// `<word>_KEY` pairs that name a secret.
const KEY_PREFIXES: &[&str] = &[
    "API",
    "ACCESS",
    "PRIVATE",
    "ENCRYPTION",
    "SIGNING",
    "MASTER",
    "AUTH",
    "SECRET",
    "APP",
    "JWT",
    "SESSION",
    "CLIENT",
];
/// Last words that make a secret-looking name a setting about the secret, not the secret.
const NOT_SECRET_SUFFIXES: &[&str] = &[
    "FILE",
    "PATH",
    "DIR",
    "LENGTH",
    "MIN",
    "MAX",
    "EXPIRE",
    "EXPIRES",
    "EXPIRY",
    "TTL",
    "TIMEOUT",
    "ROUNDS",
    "ALGORITHM",
    "ALG",
    "ENABLED",
    "HOST",
    "PORT",
    "USER",
    "USERNAME",
    "TYPE",
    "METHOD",
    "NAME",
    "ID",
    "MINUTES",
    "SECONDS",
    "HOURS",
    "DAYS",
    "LIFETIME",
    "HEADER",
    "PREFIX",
    "LOCATION",
    "URL",
    "URI",
    "ENDPOINT",
    "POLICY",
    "REQUIRED",
    "RESET",
    "HASH",
];

declare_rule! {
    /// ## What it does
    /// Reports secrets written into compose files: environment variables named like secrets
    /// (`*_PASSWORD`, `SECRET_KEY`, `*_TOKEN`, `API_KEY`, …) with a literal value or a literal
    /// `${VAR:-default}`, connection strings with an embedded password, and `--requirepass` /
    /// `--password` arguments. The value is never printed.
    ///
    /// ## Why it matters
    /// Anything in the compose file is in git history and in every clone. Seed 001: "Hardcoded
    /// secrets in docker-compose.yml: SECRET_KEY=your-secret-key-…, POSTGRES_PASSWORD=postgres";
    /// seed 000: "Development secrets hardcoded in compose file".
    ///
    /// ## When it does not apply
    /// `${VAR}` and `${VAR:?error}` references, `*_FILE` variables and Docker secrets, empty values,
    /// numbers and booleans.
    ///
    /// ## Example
    /// ```yaml
    ///     environment:
    ///       POSTGRES_PASSWORD: postgres
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    ///     environment:
    ///       POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}
    /// ```
    /// and the name (never the value) added to `.env.example`.
    ///
    /// ## Fix safety
    /// Unsafe: the stack no longer starts until the variable is set.
    pub struct HardcodedSecret => "hardcoded-secret" {
        summary: "secret written in the compose file",
        severity: Error,
        scope: Any,
        fix: Sometimes,
        applicability: Unsafe,
        seeds: ["000", "001", "002"],
    }
}

/// `${NAME:?set NAME}` where the value was, its name in `.env.example`. The value goes nowhere.
fn fix(ctx: &Context, var: &EnvVar) -> Option<Fix> {
    let mut chars = var.name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return None;
    }
    let edits = vec![
        super::env_value_edit(ctx, var, "hardcoded-secret", json!({ "name": var.name })),
        FixEdit::EnvExample { name: var.name.clone() },
    ];
    Some(Fix::new(format!("read `{}` from the environment", var.name), Applicability::Unsafe, edits))
}

/// A redis password flag's literal value in `command` replaced by a required variable
/// (`REDIS_PASSWORD`, `REDIS_MASTERAUTH`): the list item that holds it, or the word in a one-line
/// command string. Scripts (`sh -c`) and values written more than once are left for a person.
fn command_fix(ctx: &Context, service: &Service, flag: &str, literal: &str) -> Option<Fix> {
    let name = if flag == "--masterauth" { "REDIS_MASTERAUTH" } else { "REDIS_PASSWORD" };
    let reference = format!("${{{name}:?set {name}}}");
    let command = service.value.get("command").filter(|c| !c.loc.via_alias)?;
    let plain = |text: &str| !text.is_empty() && !text.contains(['\'', '"', '$', ' ', '\\', '#', '\n']);
    if !plain(literal) {
        return None;
    }
    let (at, text) = match &command.kind {
        ValueKind::Seq(items) => {
            let item = items.iter().find(|i| {
                i.as_str().is_some_and(|t| {
                    t == literal || t.strip_prefix(flag).and_then(|r| r.strip_prefix('=')) == Some(literal)
                })
            })?;
            let written = ctx.stack.text(item.loc.file, item.loc.span);
            (item.loc, written.replacen(literal, &reference, 1))
        }
        ValueKind::Scalar { .. } => {
            let written = ctx.stack.text(command.loc.file, command.loc.span);
            if written.contains('\n') || written.matches(literal).count() != 1 || written.contains("-c ") {
                return None;
            }
            (command.loc, written.replacen(literal, &reference, 1))
        }
        _ => return None,
    };
    if ctx.stack.text(at.file, at.span).matches(literal).count() != 1 {
        return None;
    }
    let edits = vec![
        FixEdit::ReplaceAt {
            file: at.file,
            at: at.span,
            template: "hardcoded-secret.text",
            context: json!({ "text": text }),
        },
        FixEdit::EnvExample { name: name.to_string() },
    ];
    Some(Fix::new(format!("read `{flag}` from `{name}`"), Applicability::Unsafe, edits))
}

/// Whether a variable name denotes a secret value.
pub fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    let words: Vec<&str> = upper.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()).collect();
    let Some(last) = words.last() else {
        return false;
    };
    if NOT_SECRET_SUFFIXES.contains(last) {
        return false;
    }
    words.iter().any(|w| SECRET_WORDS.contains(w))
        || words.windows(2).any(|p| p[1] == "KEY" && KEY_PREFIXES.contains(&p[0]))
        || (words.len() == 1 && words[0].ends_with("PASSWORD"))
}

/// Why a written value holds a literal secret, if it does.
fn literal_secret(value: &str) -> Option<&'static str> {
    // `$$NAME` passes `$NAME` to the container's shell: a reference, not a literal.
    let unescaped = value.replace("$$", "$");
    let trimmed = unescaped.trim();
    if trimmed.is_empty()
        || trimmed.parse::<f64>().is_ok()
        || matches!(trimmed.to_ascii_lowercase().as_str(), "true" | "false" | "yes" | "no" | "null")
    {
        return None;
    }
    // A path names where the secret is (a mounted file), not the secret itself.
    if trimmed.starts_with('/') && !trimmed.contains(char::is_whitespace) {
        return None;
    }
    if interpolate::has_literal(trimmed) {
        return Some("a literal value");
    }
    let defaults = interpolate::references(trimmed)
        .into_iter()
        .any(|r| r.default.is_some_and(|d| !d.trim().is_empty() && !d.contains('$')));
    defaults.then_some("a literal fallback (`${VAR:-…}`)")
}

/// `scheme://user:password@host` with a literal password.
fn url_with_password(value: &str) -> bool {
    let Some((_, rest)) = value.split_once("://") else {
        return false;
    };
    let Some(userinfo) = rest.rsplit_once('@').map(|(u, _)| u) else {
        return false;
    };
    // The separator is the first `:` outside `${…}` (a default such as `${USER:-app}` has its own).
    let mut depth = 0usize;
    let colon = userinfo.char_indices().find(|&(_, c)| {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ':' if depth == 0 => return true,
            _ => {}
        }
        false
    });
    let Some((i, _)) = colon else { return false };
    let password = &userinfo[i + 1..];
    !password.is_empty() && literal_secret(password).is_some()
}

impl Rule for HardcodedSecret {
    fn meta(&self) -> &'static RuleMeta {
        &Self::META
    }

    fn check(&self, ctx: &Context) -> Vec<Finding> {
        let mut out = Vec::new();
        for service in &ctx.config.services {
            for var in &service.environment {
                let Some(value) = var.value.as_deref() else {
                    continue;
                };
                let what = if is_secret_name(&var.name) {
                    literal_secret(value)
                } else if url_with_password(value) {
                    Some("a connection string with a literal password")
                } else {
                    None
                };
                let Some(what) = what else { continue };
                out.push(
                    Finding::new(
                        &Self::META,
                        var.loc,
                        format!("`{}` of service `{}` holds {what} (value redacted)", var.name, service.name),
                    )
                    .service(&service.name)
                    .help(format!("reference a variable instead: `${{{}:?set {}}}`", var.name, var.name))
                    .with_fix_opt(fix(ctx, var)),
                );
            }
            let words = crate::stack::side::redis_server_words(service);
            for (i, word) in words.iter().enumerate() {
                let (flag, value) = match word.split_once('=') {
                    Some((f, v)) => (f, Some(v.to_string())),
                    None => (word.as_str(), words.get(i + 1).cloned()),
                };
                if !matches!(flag, "--requirepass" | "--password" | "--masterauth") {
                    continue;
                }
                if value.as_deref().and_then(literal_secret).is_none() {
                    continue;
                }
                let loc = service.value.get("command").map_or(service.definition_site(), |c| c.loc);
                let fix = value.as_deref().and_then(|v| command_fix(ctx, service, flag, v));
                out.push(
                    Finding::new(
                        &Self::META,
                        loc,
                        format!("`{flag}` of service `{}` is a literal secret (value redacted)", service.name),
                    )
                    .service(&service.name)
                    .with_fix_opt(fix),
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names() {
        for n in [
            "POSTGRES_PASSWORD",
            "SECRET_KEY",
            "GITHUB_TOKEN",
            "OPENAI_API_KEY",
            "DB_PASS",
            "JWT_SECRET",
            "AWS_SECRET_ACCESS_KEY",
        ] {
            assert!(is_secret_name(n), "{n}");
        }
        for n in [
            "POSTGRES_PASSWORD_FILE",
            "ACCESS_TOKEN_EXPIRE_MINUTES",
            "POSTGRES_USER",
            "PWD",
            "PASSWORD_MIN_LENGTH",
            "POSTGRES_HOST_AUTH_METHOD",
        ] {
            assert!(!is_secret_name(n), "{n}");
        }
    }

    #[test]
    fn literal_values() {
        assert!(literal_secret("postgres").is_some());
        assert!(literal_secret("${DB_PASSWORD:-postgres}").is_some());
        assert!(literal_secret("${DB_PASSWORD:?set it}").is_none());
        assert!(literal_secret("${DB_PASSWORD}").is_none());
        assert!(literal_secret("").is_none());
        assert!(literal_secret("$$REDIS_PASSWORD").is_none());
        assert!(url_with_password("postgresql://app:hunter2@db:5432/app"));
        assert!(!url_with_password("postgresql://app:${DB_PASSWORD}@db:5432/app"));
        assert!(!url_with_password("postgresql://${USER:-app}:${DB_PASSWORD}@db/app"));
        assert!(url_with_password("redis://:redis123@redis:6379/0"));
    }
}
