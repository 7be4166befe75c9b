use std::collections::{HashMap, HashSet};

use serde_json::json;

use super::{Applicability, Context, Finding, Fix, FixEdit, Rule, RuleMeta};
use super::{EditOp, Target};
use crate::fix::render::template as tpl;
use crate::stack::interpolate;
use crate::stack::service::EnvVar;
use crate::stack::{Service, Value, ValueKind};

/// Name words that make a variable a secret.
const SECRET_WORDS: &[&str] =
    &["PASSWORD", "PASSWD", "PASS", "PWD", "SECRET", "TOKEN", "APIKEY", "CREDENTIALS", "SALT", "PRIVATEKEY"];
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
    /// `${VAR:-default}`, connection strings with an embedded password, `--requirepass` /
    /// `--password` arguments, and a password hash written as the value or fallback of a
    /// variable named for one (`ADMIN_PASSWORD_HASH=$$2a$$14$$…`: a default credential for
    /// whoever knows the password it was made from). The value is never printed.
    ///
    /// ## Why it matters
    /// Anything in the compose file is in git history and in every clone, and a development
    /// default (`POSTGRES_PASSWORD=postgres`, `SECRET_KEY=change-me`) tends to reach production
    /// unchanged.
    ///
    /// ## When it does not apply
    /// `${VAR}` and `${VAR:?error}` references, `*_FILE` variables and Docker secrets, empty values,
    /// numbers and booleans, and a value the container's shell computes at start
    /// (`--requirepass "$$(cat /run/secrets/redis_pw)"`).
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
    /// and the name (never the value) added to `.env.example`. A credential written in several
    /// places (a client's connection string to the database, the database's own variable) reads
    /// one variable everywhere, the server's; so does a client's literal that is the fallback of
    /// the server's variable (`${POSTGRES_PASSWORD:-postgres}` and `postgres://u:postgres@db`),
    /// which a fix of either alone would split into two. Not offered when the same value
    /// is in a variable an `env_file` of a service sets (a client's `DATABASE_URL`): stackfix does
    /// not edit `env_file`s, and moving the value in the compose file alone would break that
    /// login. A server's root and user passwords (`MARIADB_ROOT_PASSWORD`, `MARIADB_PASSWORD`)
    /// are two accounts even when their literals are alike: each gets a variable of its own, and
    /// where a client writes the same value too, which one it logs in with is not known, so
    /// none of them is moved.
    ///
    /// ## Fix safety
    /// Unsafe: the stack no longer starts until the variable is set.
    pub struct HardcodedSecret => "hardcoded-secret" {
        summary: "secret written in the compose file",
        severity: Error,
        area: Security,
        scope: Any,
        fix: Sometimes,
        applicability: Unsafe,
        seeds: ["000", "001", "002"],
    }
}

/// The variable the fix of `var` alone reads: the one a `${NAME:-fallback}` already reads
/// (other services or a `.env` may set it; only the fallback goes), else the variable's own name.
fn single_name(var: &EnvVar) -> String {
    let written = var.written().unwrap_or_default();
    let refs = interpolate::references(written);
    match refs.as_slice() {
        [only] if !interpolate::has_literal(written) => only.name.clone(),
        _ => var.name.clone(),
    }
}

/// `${NAME:?set NAME}` where the value was, its name in `.env.example` (`name`, else
/// [`single_name`]). The value goes nowhere.
fn fix(ctx: &Context, var: &EnvVar, name: Option<String>) -> Option<Fix> {
    let name = name.unwrap_or_else(|| single_name(var));
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    // A value an anchor shares with other services is fixed there when every user's fix is the
    // same (settled by `rules::check`), else left for a person.
    if !valid {
        return None;
    }
    let edits = vec![
        super::env_value_edit(ctx, var, tpl::HARDCODED_SECRET, json!({ "name": name })),
        FixEdit::env_example(name.clone()),
    ];
    Some(ctx.fix(format!("read `{name}` from the environment"), Applicability::Unsafe, edits))
}

/// The variable a redis password flag's value moves to.
fn flag_variable(flag: &str) -> &'static str {
    if flag == "--masterauth" {
        "REDIS_MASTERAUTH"
    } else {
        "REDIS_PASSWORD"
    }
}

/// A redis password flag's literal value in `command` replaced by a required variable
/// (`REDIS_PASSWORD`, `REDIS_MASTERAUTH`): the list item that holds it, or the word in a one-line
/// command string. Scripts (`sh -c`) and values written more than once are left for a person.
fn command_fix(ctx: &Context, service: &Service, flag: &str, literal: &str, name: Option<String>) -> Option<Fix> {
    let name = name.unwrap_or_else(|| flag_variable(flag).to_string());
    let edits = vec![command_edit(ctx, service, flag, literal, &name)?, FixEdit::env_example(name.clone())];
    Some(ctx.fix(format!("read `{flag}` from `{name}`"), Applicability::Unsafe, edits))
}

/// The edit replacing a password flag's literal value with `${name:?set name}`.
fn command_edit(ctx: &Context, service: &Service, flag: &str, literal: &str, name: &str) -> Option<FixEdit> {
    let reference = format!("${{{name}:?set {name}}}");
    let command = service.value.get("command").filter(|c| !c.loc.via_alias)?;
    let plain = |text: &str| !text.is_empty() && !text.contains(['\'', '"', '$', ' ', '\\', '#', '\n']);
    if !plain(literal) {
        return None;
    }
    let (at, text) = match &command.kind {
        ValueKind::Seq(items) => {
            let item = items.iter().find(|i| {
                i.written().is_some_and(|t| {
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
    Some(FixEdit::new(
        Target::Node { file: at.file, at: at.span },
        EditOp::Replace,
        tpl::HARDCODED_SECRET_TEXT,
        json!({ "text": text }),
    ))
}

/// Whether a variable name denotes a secret value.
/// Words are compared ignoring ASCII case, without copying the name (it is asked of every key and
/// variable of a stack, and of every line a report shows).
pub fn is_secret_name(name: &str) -> bool {
    // Every secret word, `<word>_KEY` pair and glued password holds one of these (most names hold
    // none: answered in one pass over the name).
    static PARTS: std::sync::LazyLock<Option<aho_corasick::AhoCorasick>> =
        std::sync::LazyLock::new(|| any_case(&["PASS", "PWD", "SECRET", "TOKEN", "KEY", "CREDENTIALS", "SALT"]));
    may_hold(&PARTS, name) && names_a_secret(name)
}

/// How the password hashes of crypt(3), htpasswd and Argon2 start (bcrypt, Apache MD5, MD5,
/// SHA-256 and SHA-512 crypt, yescrypt, `{SHA}`, Argon2's PHC strings), with `$` as read
/// (compose files write `$$`).
pub const PASSWORD_HASH_PREFIXES: &[&str] = &[
    "$apr1$",
    "$2y$",
    "$2a$",
    "$2b$",
    "$2x$",
    "{SHA}",
    "$1$",
    "$5$",
    "$6$",
    "$y$",
    "$argon2id$",
    "$argon2i$",
    "$argon2d$",
];

/// Whether `name` names a password's hash: a secret name followed by the word `HASH`
/// (`ADMIN_PASSWORD_HASH`). Its value is no secret by name ([`is_secret_name`] reads a `*_HASH`
/// as a setting about one), but a literal hash is a default credential: whoever knows the
/// password it was made from logs in wherever it is not overridden.
pub fn is_password_hash_name(name: &str) -> bool {
    let Some(cut) = name.len().checked_sub(4) else { return false };
    let (Some(stem), Some(last)) = (name.get(..cut), name.get(cut..)) else { return false };
    if !last.eq_ignore_ascii_case("HASH") {
        return false;
    }
    let stem = stem.trim_end_matches(['_', '-', '.']);
    !stem.is_empty() && is_secret_name(stem)
}

/// The password hash `value` (as written: `$$` for `$`) holds, and whether it is the fallback of
/// a reference (`${ADMIN_PASSWORD_HASH:-$$2a$$14$$…}`) rather than the whole value.
fn literal_password_hash(value: &str) -> Option<(String, bool)> {
    let unescaped = value.replace("$$", "$");
    let trimmed = unescaped.trim();
    let is_hash = |text: &str| PASSWORD_HASH_PREFIXES.iter().any(|p| text.starts_with(p));
    if is_hash(trimmed) {
        return Some((trimmed.to_string(), false));
    }
    interpolate::references(trimmed)
        .into_iter()
        .filter_map(|r| r.default)
        .find(|d| is_hash(d))
        .map(|d| (d.to_string(), true))
}

/// A search for any of `words`, ignoring ASCII case (`None` if it cannot be built).
fn any_case(words: &[&str]) -> Option<aho_corasick::AhoCorasick> {
    aho_corasick::AhoCorasick::builder().ascii_case_insensitive(true).build(words).ok()
}

/// Whether `text` may hold one of the words `finder` looks for (`true` without a finder).
fn may_hold(finder: &Option<aho_corasick::AhoCorasick>, text: &str) -> bool {
    finder.as_ref().is_none_or(|f| f.is_match(text))
}

/// [`is_secret_name`] word by word.
fn names_a_secret(name: &str) -> bool {
    let words: smallvec::SmallVec<[&str; 8]> =
        name.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()).collect();
    let Some(last) = words.last() else {
        return false;
    };
    let one_of = |word: &str, list: &[&str]| list.iter().any(|w| w.eq_ignore_ascii_case(word));
    // `PWD` alone is the shell's working directory.
    if one_of(last, NOT_SECRET_SUFFIXES) || (words.len() == 1 && last.eq_ignore_ascii_case("PWD")) {
        return false;
    }
    words.iter().any(|w| one_of(w, SECRET_WORDS))
        || words.windows(2).any(|p| p[1].eq_ignore_ascii_case("KEY") && one_of(p[0], KEY_PREFIXES))
        || words.iter().any(|w| glued_password(w))
}

/// Who a password is for, written onto it in one word (`DBPASS`, `MYSQLPWD`): `PASS` and `PWD`
/// glued to other words are mostly something else (`BYPASS`, `COMPASS`).
const GLUED_OWNERS: &[&str] =
    &["DB", "SQL", "PG", "MYSQL", "MARIADB", "MONGO", "REDIS", "SMTP", "MAIL", "ADMIN", "ROOT", "USER"];

/// A word that is a password with its owner glued on: anything before `PASSWORD` or `PASSWD`
/// (`PGPASSWORD`, `DBPASSWORD`), or one of [`GLUED_OWNERS`] before `PASS` or `PWD`
/// (`PAPERLESS_DBPASS`).
fn glued_password(word: &str) -> bool {
    let bytes = word.as_bytes();
    // Every suffix ends in `D` or `S` (most words do not: checked first, as every key is asked).
    if !matches!(bytes.last(), Some(b'D' | b'd' | b'S' | b's')) {
        return false;
    }
    let owner = |suffix: &str| {
        (bytes.len() > suffix.len() && bytes[bytes.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes()))
            .then(|| &word[..word.len() - suffix.len()])
    };
    ["PASSWORD", "PASSWD"].iter().any(|s| owner(s).is_some())
        || ["PASS", "PWD"]
            .iter()
            .filter_map(|s| owner(s))
            .any(|o| GLUED_OWNERS.iter().any(|g| g.eq_ignore_ascii_case(o)))
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
    // The container's shell computes it (`--requirepass "$$(cat /run/secrets/redis_pw)"`):
    // command substitution reads the secret from where it is, at start.
    if value.contains("$$(") {
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

/// Where the password of a connection string is in `value`, as a byte range: the `password` of
/// `scheme://user:password@host`, or the value of a `password=` / `pwd=` parameter (PDO
/// `mysql:host=db;dbname=app;password=…`, libpq `host=db password=…`, ADO.NET
/// `Server=db;Password=…;`, JDBC `jdbc:postgresql://db/app?user=app&password=…`). A quoted
/// parameter value (libpq `password='a b'`) is not read.
fn connection_password(value: &str) -> Option<std::ops::Range<usize>> {
    if let Some(range) = userinfo_password(value) {
        return Some(range);
    }
    // A `password` or `pwd` parameter (any case) is written with both (most values hold neither:
    // answered in one pass, without reading the parameters).
    static KEYS: std::sync::LazyLock<Option<aho_corasick::AhoCorasick>> =
        std::sync::LazyLock::new(|| any_case(&["PASSWORD", "PWD"]));
    if !value.contains('=') || !may_hold(&KEYS, value) {
        return None;
    }
    parameter_password(value)
}

/// The password of a URL's user information (`scheme://user:…@host`).
fn userinfo_password(value: &str) -> Option<std::ops::Range<usize>> {
    let scheme_end = value.find("://")?;
    let rest_at = scheme_end + 3;
    // The user information ends before the path or query (`jdbc:…://db:5432/app?password=p@ss`
    // has none).
    let authority =
        value[rest_at..].find(['/', '?', ';']).map_or(&value[rest_at..], |end| &value[rest_at..rest_at + end]);
    let at = authority.rfind('@')?;
    let userinfo = &value[rest_at..rest_at + at];
    // The separator is the first `:` outside `${…}` (a default such as `${USER:-app}` has its
    // own).
    let mut depth = 0usize;
    let (i, _) = userinfo.char_indices().find(|&(_, c)| {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ':' if depth == 0 => return true,
            _ => {}
        }
        false
    })?;
    Some(rest_at + i + 1..rest_at + at)
}

/// The value of a connection string's `password` or `pwd` parameter, unquoted and not empty.
fn parameter_password(value: &str) -> Option<std::ops::Range<usize>> {
    let (_, range) = parameters(value).find(|(key, _)| key == "password" || key == "pwd")?;
    let password = &value[range.clone()];
    (!password.is_empty() && !password.starts_with(['\'', '"'])).then_some(range)
}

/// The `key=value` parameters of a connection string, as (key lowercased, value's byte range):
/// separated by `;` where the string has one (ADO.NET, PDO: values may hold spaces), else by
/// `&`, `?` or spaces (libpq, a URL's query). A quoted value (libpq `name='a b'`) is stepped
/// over and yields an empty range. A value that runs into a word without `=` (`x=my pass`) ends
/// the reading: where it ends is not known.
fn parameters(value: &str) -> impl Iterator<Item = (String, std::ops::Range<usize>)> + '_ {
    let semicolons = value.contains(';');
    let delimiter = move |c: char| if semicolons { c == ';' } else { matches!(c, '&' | '?') || c.is_whitespace() };
    let mut start = 0;
    std::iter::from_fn(move || {
        let rest = value.get(start..)?;
        let key_end = rest.find('=')?;
        let head = rest[..key_end].rsplit(|c: char| delimiter(c) || c == ':').next().unwrap_or_default().trim();
        let key = head.to_ascii_lowercase();
        let from = start + key_end + 1;
        if let Some(quote @ ('\'' | '"')) = value[from..].chars().next().filter(|_| !semicolons) {
            // The closing quote not escaped by a backslash.
            let mut escaped = false;
            let close = value[from + 1..].char_indices().find(|&(_, c)| {
                let closes = c == quote && !escaped;
                escaped = c == '\\' && !escaped;
                closes
            });
            let Some((i, _)) = close else {
                start = value.len() + 1;
                return Some((key, from..from));
            };
            start = from + 1 + i + 1;
            return Some((key, from..from));
        }
        let len = value[from..].find(delimiter).unwrap_or(value.len() - from);
        let after = &value[from + len..];
        if !semicolons && after.starts_with(char::is_whitespace) {
            let next = after.trim_start();
            let word = &next[..next.find(|c: char| c == '&' || c.is_whitespace()).unwrap_or(next.len())];
            if !word.is_empty() && !word.contains('=') {
                start = value.len() + 1;
                return Some((String::new(), from..from));
            }
        }
        start = from;
        Some((key, from..from + len))
    })
}

/// A connection string with a literal password.
fn url_with_password(value: &str) -> bool {
    connection_password(value).is_some_and(|r| literal_secret(&value[r]).is_some())
}

/// The edits that make `store` read each of `names` (secret-named variables it writes
/// literally) from a required variable of that name — the same edits this rule's fix makes,
/// including every other place the credential is written — for a fix that adds a service reading
/// those variables. `None` when one of them cannot be moved that way.
pub(super) fn store_secret_edits(ctx: &Context, store: &Service, names: &[String]) -> Option<Vec<FixEdit>> {
    let occurrences = occurrences(ctx);
    let groups = credential_groups(ctx, &occurrences);
    // A variable two credentials would read is named after each service by the fix: not the
    // one the added service reads.
    let group_names: Vec<Option<String>> =
        groups.iter().map(|g| group_name(ctx, &occurrences, g).map(|(n, _)| n)).collect();
    let group_of: HashMap<usize, usize> =
        groups.iter().enumerate().flat_map(|(k, g)| g.iter().map(move |&i| (i, k))).collect();
    let shared = shared_variables(ctx, |i| group_names[*group_of.get(&i)?].clone()).shared;
    let env_files = EnvFileValues::of(ctx);
    let mut edits = Vec::new();
    for name in names {
        let i = occurrences.iter().position(|o| {
            o.service.name == store.name
                && match &o.place {
                    Place::Var(var) => var.name == *name,
                    Place::Flag(flag) => flag_variable(flag) == name,
                    Place::Url(_) => false,
                }
        })?;
        // The same value in an `env_file`, which no fix edits: that login would break.
        if occurrences[i].secret.as_deref().is_some_and(|s| env_files.holding(s).is_some()) {
            return None;
        }
        match groups.iter().find(|g| g.len() > 1 && g.contains(&i)) {
            Some(group) if two_accounts(&occurrences, group).is_some() => return None,
            Some(group) => {
                let (variable, group_edits) = group_edits(ctx, &occurrences, group, None)?;
                // The group reads one variable; the added service must read the same.
                if variable != *name || shared.contains(&variable) {
                    return None;
                }
                edits.extend(group_edits);
            }
            None if shared.contains(&single_variable(&occurrences[i])) => return None,
            None => edits.extend(single_fix(&ctx.keeping_edits(), &occurrences[i], None)?.edits.iter().cloned()),
        }
    }
    Some(edits)
}

/// Where a literal secret is written.
#[derive(Clone)]
enum Place<'a> {
    /// The value of a secret-named variable.
    Var(&'a EnvVar),
    /// The password of a connection string in a variable (the rest of the value stays).
    Url(&'a EnvVar),
    /// The value of a redis password flag (`--requirepass`) in the command.
    Flag(&'static str),
}

/// One literal secret.
#[derive(Clone)]
struct Occurrence<'a> {
    service: &'a Service,
    place: Place<'a>,
    what: &'static str,
    /// The secret itself when it is written plainly: the whole value of a secret-named variable,
    /// the password of a connection string, the flag's value. `None` for a `${VAR:-fallback}`.
    secret: Option<std::borrow::Cow<'a, str>>,
    /// The value as written when it holds a reference (`${REDIS_AUTH:-fallback}`): the literal
    /// fallbacks in it are secrets too.
    referencing: Option<std::borrow::Cow<'a, str>>,
}

impl Occurrence<'_> {
    /// The variable it is written in (a flag's: the variable a fix names after it); none for a
    /// connection string.
    fn variable(&self) -> Option<&str> {
        match &self.place {
            Place::Var(var) => Some(&var.name),
            Place::Flag(flag) => Some(flag_variable(flag)),
            Place::Url(_) => None,
        }
    }

    fn loc(&self) -> crate::stack::Loc {
        match &self.place {
            Place::Var(v) | Place::Url(v) => v.loc,
            Place::Flag(_) => self.service.value.get("command").map_or(self.service.definition_site(), |c| c.loc),
        }
    }
}

/// Every literal secret of the configuration, in order, to `visit` (a stack may hold hundreds of
/// thousands: they are produced, not stored).
fn each_occurrence<'a>(ctx: &Context<'a>, mut visit: impl FnMut(Occurrence<'a>)) {
    for service in &ctx.config.services {
        // A variable whose name comes from interpolation (`- ${LINE}`) is not written here.
        for var in service.environment.iter().filter(|v| ctx.env_name_written(v)) {
            let Some(value) = var.written() else { continue };
            if is_secret_name(&var.name) {
                if let Some(what) = literal_secret(value) {
                    let plain = (what == "a literal value" && !value.contains('$')).then_some(value.into());
                    let referencing = value.contains('$').then_some(value.into());
                    visit(Occurrence { service, place: Place::Var(var), what, secret: plain, referencing });
                }
            } else if let Some((hash, fallback)) =
                is_password_hash_name(&var.name).then(|| literal_password_hash(value)).flatten()
            {
                let (what, secret, referencing) = match fallback {
                    true => ("a literal password hash as its fallback (`${VAR:-…}`)", None, Some(value.into())),
                    false => ("a literal password hash", Some(hash.into()), None),
                };
                visit(Occurrence { service, place: Place::Var(var), what, secret, referencing });
            } else if url_with_password(value) {
                let password = url_password(value);
                let secret = password.filter(|p| !p.contains('$')).map(Into::into);
                let referencing = password.filter(|p| p.contains('$')).map(Into::into);
                visit(Occurrence {
                    service,
                    place: Place::Url(var),
                    what: "a connection string with a literal password",
                    secret,
                    referencing,
                });
            }
        }
        // Every word of the server's command line is in the written text of `command` or
        // `entrypoint`: most services name no password flag there, and are not split into words.
        let flags = ["--requirepass", "--password", "--masterauth"];
        let written = |key: &str| -> bool {
            let Some(v) = service.value.get(key) else { return false };
            let has = |v: &Value| v.written().is_some_and(|t| flags.iter().any(|f| t.contains(f)));
            has(v) || v.items().iter().any(has)
        };
        if !written("command") && !written("entrypoint") {
            continue;
        }
        let words = crate::stack::side::written_redis_server_words(service);
        for (i, word) in words.iter().enumerate() {
            let (flag, value) = match word.split_once('=') {
                Some((f, v)) => (f, Some(v.to_string())),
                None => (word.as_str(), words.get(i + 1).cloned()),
            };
            if !matches!(flag, "--requirepass" | "--password" | "--masterauth") {
                continue;
            }
            let Some(value) = value.filter(|v| literal_secret(v).is_some()) else { continue };
            let (secret, referencing) = match value.contains('$') {
                false => (Some(value.into()), None),
                true => (None, Some(value.into())),
            };
            let flag = match flag {
                "--requirepass" => "--requirepass",
                "--masterauth" => "--masterauth",
                _ => "--password",
            };
            visit(Occurrence { service, place: Place::Flag(flag), what: "a literal secret", secret, referencing });
        }
    }
}

/// The occurrences whose secret value is written more than once (the only ones that can share a
/// credential), as (index among all occurrences, occurrence). Values are compared by hash first,
/// so only candidates are kept.
fn repeated_occurrences<'a>(ctx: &Context<'a>) -> Vec<(usize, Occurrence<'a>)> {
    use std::hash::BuildHasher;
    let hasher = std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default();
    let mut hashes: Vec<(u64, usize)> = Vec::new();
    let mut count = 0;
    each_occurrence(ctx, |o| {
        if let Some(secret) = linked_value(&o) {
            hashes.push((hasher.hash_one(&*secret), count));
        }
        count += 1;
    });
    hashes.sort_unstable();
    let mut wanted: Vec<usize> =
        hashes.chunk_by(|a, b| a.0 == b.0).filter(|run| run.len() > 1).flatten().map(|&(_, i)| i).collect();
    drop(hashes);
    wanted.sort_unstable();
    let mut out = Vec::with_capacity(wanted.len());
    let mut i = 0;
    each_occurrence(ctx, |o| {
        if wanted.binary_search(&i).is_ok() {
            out.push((i, o));
        }
        i += 1;
    });
    out
}

/// The literal secret values of every occurrence (see [`super::literal_secrets`]), and the
/// literal fallbacks of the references a secret is written with (`${REDIS_AUTH:-fallback}`).
pub(super) fn literal_values(ctx: &Context) -> Vec<String> {
    let mut out = Vec::new();
    each_occurrence(ctx, |o| {
        out.extend(o.secret.map(|s| s.into_owned()));
        if let Some(written) = o.referencing {
            // A password hash has `$` in it.
            let hash = |d: &str| PASSWORD_HASH_PREFIXES.iter().any(|p| d.starts_with(p));
            let fallbacks = interpolate::references(&written.replace("$$", "$"))
                .into_iter()
                .filter_map(|r| r.default)
                .filter(|d| !d.trim().is_empty() && (!d.contains('$') || hash(d)))
                .collect::<Vec<_>>();
            out.extend(fallbacks);
        }
    });
    out
}

/// The value an occurrence is linked to others by: its secret, or a server's variable's literal
/// fallback (`POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:-postgres}`), which is the password a
/// client's connection string to that server holds when it writes the same literal.
fn linked_value<'a>(o: &Occurrence<'a>) -> Option<std::borrow::Cow<'a, str>> {
    o.secret.clone().or_else(|| fallback_secret(o).map(Into::into))
}

/// Every occurrence (for the few callers that need them all at hand).
fn occurrences<'a>(ctx: &Context<'a>) -> Vec<Occurrence<'a>> {
    let mut out = Vec::new();
    each_occurrence(ctx, |o| out.push(o));
    out
}

/// Occurrences of one credential, by index: the same literal written under the same variable
/// name in several services, in several variables of one service, in a secret-named variable of
/// a service that `depends_on` one holding it, or as the password of a connection string whose
/// host is a service that holds it. Equal values that are not linked
/// so are different credentials (two services that both use `changeme`) and stay apart.
fn credential_groups(ctx: &Context, occurrences: &[Occurrence]) -> Vec<Vec<usize>> {
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut parent: Vec<usize> = (0..occurrences.len()).collect();
    let union = |parent: &mut Vec<usize>, a: usize, b: usize| {
        let (ra, rb) = (root(parent, a), root(parent, b));
        if ra != rb {
            parent[ra] = rb;
        }
    };
    // Occurrences by secret (or fallback), sorted: one run per value (no map entry per value).
    let values: Vec<Option<std::borrow::Cow<str>>> = occurrences.iter().map(linked_value).collect();
    let mut keyed: Vec<(&str, usize)> =
        values.iter().enumerate().filter_map(|(i, v)| v.as_deref().map(|s| (s, i))).collect();
    keyed.sort_unstable();
    // A value written once is nobody else's credential.
    let buckets: Vec<Vec<usize>> = keyed
        .chunk_by(|a, b| a.0 == b.0)
        .filter(|run| run.len() > 1)
        .map(|run| run.iter().map(|&(_, i)| i).collect())
        .collect();
    drop(keyed);
    for members in &buckets {
        let mut by_name: HashMap<&str, usize> = HashMap::new();
        let mut by_service: HashMap<&str, usize> = HashMap::new();
        let mut by_loc: HashMap<(crate::stack::FileId, usize), usize> = HashMap::new();
        // A server's variables whose literal fallback is the value, by service (`None`: more
        // than one, and which one a client logs in with is not known). A fallback is linked to a
        // client's literal only (a connection string to the server, a variable of a service
        // that waits for it; below): two `${SALT:-mysalt}` stay apart, each fixed alone.
        let mut fallbacks: HashMap<&str, Option<usize>> = HashMap::new();
        let members: Vec<usize> = members
            .iter()
            .copied()
            .filter(|&i| match occurrences[i].secret {
                Some(_) => true,
                None => {
                    fallbacks.entry(&occurrences[i].service.name).and_modify(|one| *one = None).or_insert(Some(i));
                    false
                }
            })
            .collect();
        let members = &members;
        for &i in members {
            let o = &occurrences[i];
            let loc = o.loc();
            if let Some(&j) = by_loc.get(&(loc.file, loc.span.start)) {
                union(&mut parent, i, j);
            }
            by_loc.insert((loc.file, loc.span.start), i);
            let name = match &o.place {
                Place::Var(var) => var.name.as_str(),
                Place::Flag(flag) => flag_variable(flag),
                Place::Url(_) => continue,
            };
            if let Some(&j) = by_name.get(name) {
                union(&mut parent, i, j);
            }
            by_name.insert(name, i);
            by_service.entry(&o.service.name).or_insert(i);
        }
        // The places of each service (a value written in thousands of services is a few
        // places in each): pairs are compared within a service, or with a dependency's.
        let mut in_service: HashMap<&str, Vec<usize>> = HashMap::new();
        for &i in members {
            in_service.entry(occurrences[i].service.name.as_str()).or_default().push(i);
        }
        // Two variables of one service holding the same literal are one credential when their
        // names say so (`POSTGRES_PASSWORD` and `POSTGRES_PWD`, `--requirepass` and
        // `REDIS_PASSWORD`); `SMTP_PASSWORD` equal to `DB_PASSWORD` is a coincidence, and each
        // keeps a variable of its own. So are a server's root and user passwords
        // (`MARIADB_ROOT_PASSWORD` and `MARIADB_PASSWORD`, both `changeme`): two accounts.
        for places in in_service.values().filter(|p| p.len() > 1) {
            for (x, &i) in places.iter().enumerate() {
                for &j in &places[x + 1..] {
                    let (Some(a), Some(b)) = (occurrences[i].variable(), occurrences[j].variable()) else { continue };
                    if share_a_word(a, b) && names_root(a) == names_root(b) {
                        union(&mut parent, i, j);
                    }
                }
            }
        }
        // A variable of a service that waits for another, holding the same literal under a name
        // that says whose it is (`POSTGRES_PWD` of a client started after its database's
        // `POSTGRES_PASSWORD`, or `DB_PASSWORD`): not `SMTP_PASSWORD` or `ADMIN_PASSWORD`.
        for &i in members {
            let o = &occurrences[i];
            let Place::Var(var) = &o.place else { continue };
            for dep in o.service.depends_on.iter().filter(|d| d.service != o.service.name) {
                // The dependency's literal places, and a variable whose fallback is the value.
                let places = in_service.get(dep.service.as_str()).into_iter().flatten();
                let fallback = fallbacks.get(dep.service.as_str()).copied().flatten();
                for j in places.copied().chain(fallback) {
                    if matches!(&occurrences[j].place, Place::Var(v) if names_one_credential(&var.name, &v.name)) {
                        union(&mut parent, i, j);
                    }
                }
            }
        }
        for &i in members {
            let Place::Url(var) = &occurrences[i].place else { continue };
            let host = var.value.as_deref().and_then(url_host);
            let server = host.and_then(|h| ctx.config.service_by_host(h)).map(|s| s.name.as_str());
            if let Some(&j) = server.and_then(|s| by_service.get(s).or(fallbacks.get(s).and_then(Option::as_ref))) {
                union(&mut parent, i, j);
            }
        }
    }
    let mut groups: HashMap<usize, Vec<usize>> = HashMap::new();
    for &i in buckets.iter().flatten() {
        let r = root(&mut parent, i);
        groups.entry(r).or_default().push(i);
    }
    groups.retain(|_, members| members.len() > 1);
    groups.values_mut().for_each(|members| members.sort_unstable());
    let mut out: Vec<Vec<usize>> = groups.into_values().collect();
    out.sort();
    out
}

/// Whether a variable name names a root account's password (`MARIADB_ROOT_PASSWORD`).
fn names_root(name: &str) -> bool {
    name.split(|c: char| !c.is_ascii_alphanumeric()).any(|w| w.eq_ignore_ascii_case("ROOT"))
}

/// Whether a group of places one credential is written in holds a root password and another
/// account's password of the same service (a client tied to both, the value alike): which one
/// the client logs in with is not known, and moving either could break its login.
fn two_accounts(occurrences: &[Occurrence], group: &[usize]) -> Option<String> {
    for &i in group {
        let Some(a) = occurrences[i].variable() else { continue };
        for &j in group {
            let Some(b) = occurrences[j].variable() else { continue };
            if occurrences[i].service.name == occurrences[j].service.name && names_root(a) && !names_root(b) {
                return Some(format!(
                    "the same value is `{a}` and `{b}` of `{}`, two accounts, and a client writes it too: which one it \
                     logs in with is not known; move them to variables by hand",
                    occurrences[i].service.name
                ));
            }
        }
    }
    None
}

/// The words of a variable name besides the secret words (`POSTGRES_PWD`: `POSTGRES`).
/// A secret word written onto another (`PGPASSWORD`) counts apart, and `PG` and `POSTGRESQL`
/// are `POSTGRES` (libpq's `PGPASSWORD` is the postgres image's `POSTGRES_PASSWORD`).
fn name_words(name: &str) -> Vec<String> {
    name.to_ascii_uppercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .map(|w| SECRET_WORDS.iter().find_map(|s| w.strip_suffix(s).filter(|rest| !rest.is_empty())).unwrap_or(w))
        .filter(|w| !w.is_empty() && !SECRET_WORDS.contains(w) && *w != "ROOT" && *w != "USER")
        .map(|w| if w == "PG" || w == "POSTGRESQL" { "POSTGRES".to_string() } else { w.to_string() })
        .collect()
}

/// Whether two variable names share a word besides the secret words.
fn share_a_word(a: &str, b: &str) -> bool {
    let theirs = name_words(b);
    name_words(a).iter().any(|w| theirs.contains(w))
}

/// Whether a client's variable `client` names the credential its server holds as `server`: they
/// share a word besides the secret words (`POSTGRES_PWD` and `POSTGRES_PASSWORD`), or the client
/// calls it the database's (`DB_PASSWORD`, `DATABASE_PASS`).
fn names_one_credential(client: &str, server: &str) -> bool {
    let (mine, theirs) = (name_words(client), name_words(server));
    mine.iter().any(|w| theirs.contains(w) || w == "DB" || w == "DATABASE")
}

/// The host a connection string names: `scheme://user:password@host:port/…`,
/// `jdbc:postgresql://host:port/…`, or a `host=` / `server=` / `data source=` parameter.
fn url_host(value: &str) -> Option<&str> {
    let end = |s: &str| s.find([':', '/', '?', ',', ';', '&', ' ']).unwrap_or(s.len());
    if let Some((_, rest)) = value.split_once("://") {
        let authority = &rest[..rest.find(['/', '?', ';']).unwrap_or(rest.len())];
        let after = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
        return Some(&after[..end(after)]).filter(|h| !h.is_empty());
    }
    let (_, range) =
        parameters(value).find(|(key, _)| matches!(key.as_str(), "host" | "hostname" | "server" | "data source"))?;
    let host = &value[range];
    let host = host.strip_prefix("tcp:").unwrap_or(host);
    Some(&host[..end(host)]).filter(|h| !h.is_empty())
}

/// The variables two different literal secrets would both read (`POSTGRES_PASSWORD` of two
/// databases with different passwords): one value would then serve two credentials, and one login
/// would break. `group_variable` gives the variable an occurrence's group reads (by its index
/// among all occurrences), `None` for one fixed alone.
fn shared_variables(ctx: &Context, group_variable: impl Fn(usize) -> Option<String>) -> Variables {
    use std::hash::BuildHasher;
    let hasher = std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default();
    let mut held: HashMap<String, u64> = HashMap::new();
    let mut shared = HashSet::new();
    let mut others = HashSet::new();
    let mut i = 0;
    each_occurrence(ctx, |o| {
        let name = group_variable(i).unwrap_or_else(|| single_variable(&o));
        // A `${NAME:-fallback}` is the fallback's credential as much as a literal is: another
        // secret moved into `NAME` would share the variable with it.
        let secret = o.secret.clone().or_else(|| fallback_secret(&o).map(Into::into));
        if o.secret.is_none() {
            others.insert(name.clone());
        }
        if let Some(secret) = secret.as_deref() {
            let hash = hasher.hash_one(secret);
            match held.get(&name) {
                Some(first) if *first != hash => {
                    shared.insert(name);
                }
                Some(_) => {}
                None => {
                    held.insert(name, hash);
                }
            }
        }
        i += 1;
    });
    others.extend(held.into_keys());
    Variables { shared, used: others }
}

/// The literal fallback of a variable written as one reference with a default
/// (`${API_KEY:-pk_value}`): the secret the service runs with when nothing sets the variable.
fn fallback_secret<'a>(o: &Occurrence<'a>) -> Option<String> {
    let Place::Var(var) = &o.place else { return None };
    let written = var.written()?;
    if interpolate::has_literal(written) {
        return None;
    }
    match interpolate::references(written).as_slice() {
        [only] => only.default.clone().filter(|d| !d.is_empty() && !d.contains('$')),
        _ => None,
    }
}

/// What [`shared_variables`] found.
struct Variables {
    /// Variables two different secrets would read.
    shared: HashSet<String>,
    /// Every variable a fix would read.
    used: HashSet<String>,
}

impl Variables {
    /// The variable a fix of `secret` of `service` reads instead of `name`: `name` itself, or,
    /// when two secrets would read it or the project gives it another meaning ([`Foreign`]),
    /// one named after `service` (`None` when that one is taken too: no fix then, rather than two
    /// credentials in one variable). `own`: the fixed value reads `name` already (a
    /// `${NAME:-fallback}`), so whatever the project sets it to is what the service reads now.
    fn for_service<'f>(
        &self,
        service: &str,
        name: &str,
        secret: Option<&str>,
        own: bool,
        foreign: &dyn Fn() -> &'f Foreign<'f>,
    ) -> Option<String> {
        if !self.shared.contains(name) && (own || !foreign().collides(name, secret)) {
            return Some(name.to_string());
        }
        let own = service_variable(service, name);
        (!self.used.contains(&own) && !foreign().collides(&own, secret)).then_some(own)
    }
}

/// The variables the project already gives a meaning to, besides the secrets this rule fixes:
/// those its `.env` sets (compose interpolates every file with them) and those referenced
/// anywhere else in its compose files (`OTHER_API_KEY: ${API_KEY}`: what the environment sets
/// there is another credential, or an unknown one). A fix that made a secret read one of them
/// would give the service that value: a login that breaks at run time, which the `:?` guard does
/// not catch since the variable is set.
pub(super) struct Foreign<'a> {
    env: &'a HashMap<String, String>,
    referenced: HashSet<String>,
}

impl<'a> Foreign<'a> {
    /// The variables of the stack's `.env` and those its compose files reference outside the
    /// places this rule reports (in any configuration: a fix of a file several share is the
    /// same in each). A reference in a comment counts too: a name written there may be meant.
    fn of(ctx: &Context<'a>) -> Foreign<'a> {
        let stack = ctx.stack;
        let mut reported: HashMap<usize, Vec<crate::yaml::Span>> = HashMap::new();
        for config in &stack.configs {
            let ctx = Context { stack, config, building: ctx.building, keep_edits: false };
            // Only a variable's own reference is the secret's; other references in a value a
            // literal is part of (`--requirepass pw --masterauth ${REDIS_PASSWORD}`) are not.
            each_occurrence(&ctx, |o| {
                if matches!(o.place, Place::Var(_)) {
                    let loc = o.loc();
                    reported.entry(loc.file).or_default().push(loc.span);
                }
            });
        }
        let mut referenced = HashSet::new();
        // Compose interpolates `env_file` contents with the same variables.
        for config in &stack.configs {
            referenced.extend(config.services.iter().flat_map(|s| s.env_file_references.iter().cloned()));
        }
        let compose = stack.files.iter().enumerate().filter(|(_, f)| f.role == crate::stack::FileRole::Compose);
        for (id, file) in compose {
            let text = file.source().text();
            if !text.contains('$') {
                continue;
            }
            let mut spans = reported.remove(&id).unwrap_or_default();
            spans.sort_by_key(|s| s.start);
            let mut from = 0;
            for span in spans.iter().chain(std::iter::once(&crate::yaml::Span { start: text.len(), end: text.len() })) {
                if span.start > from {
                    interpolate::names_referenced(&text[from..span.start], &mut referenced);
                }
                from = from.max(span.end);
            }
        }
        Foreign { env: &stack.env, referenced }
    }

    /// Whether a secret `secret` read from `name` would take a value the project means for
    /// something else: `.env` sets `name` to another value, or (not set there) the stack reads
    /// `name` elsewhere. `.env` setting it to this very value changes nothing.
    fn collides(&self, name: &str, secret: Option<&str>) -> bool {
        match self.env.get(name) {
            Some(value) => secret != Some(value.as_str()),
            None => self.referenced.contains(name),
        }
    }
}

/// The fix of one occurrence alone, reading `name` when given.
fn single_fix(ctx: &Context, o: &Occurrence, name: Option<String>) -> Option<Fix> {
    match &o.place {
        Place::Var(var) | Place::Url(var) => fix(ctx, var, name),
        Place::Flag(flag) => command_fix(ctx, o.service, flag, o.secret.as_deref()?, name),
    }
}

/// The variable the fix of one occurrence alone reads.
fn single_variable(o: &Occurrence) -> String {
    match &o.place {
        Place::Var(var) | Place::Url(var) => single_name(var),
        Place::Flag(flag) => flag_variable(flag).to_string(),
    }
}

/// `name` prefixed with `service`'s name (`alpha-db`, `POSTGRES_PASSWORD`:
/// `ALPHA_DB_POSTGRES_PASSWORD`): the variable of one credential among several that would
/// otherwise read the same one.
fn service_variable(service: &str, name: &str) -> String {
    let prefix: String =
        service.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
    let prefix = if prefix.starts_with(|c: char| c.is_ascii_digit()) { format!("_{prefix}") } else { prefix };
    format!("{prefix}_{name}")
}

/// `written` (a variable as written: a value, `KEY=value`, quoted or not) with the password of
/// its connection string, which must be `secret`, replaced by `reference`.
fn replace_url_password(written: &str, secret: &str, reference: &str) -> Option<String> {
    let quote =
        written.chars().next().filter(|c| matches!(c, '"' | '\'') && written.len() > 1 && written.ends_with(*c));
    let (inner, offset) = match quote {
        Some(_) => (&written[1..written.len() - 1], 1),
        None => (written, 0),
    };
    // In the list form `KEY=value`, the connection string starts after the first `=`.
    let (value, offset) = match inner.split_once('=') {
        Some((key, value)) if !key.contains(['/', ':', ';', ' ']) && connection_password(value).is_some() => {
            (value, offset + key.len() + 1)
        }
        _ => (inner, offset),
    };
    let range = connection_password(value)?;
    (&value[range.clone()] == secret)
        .then(|| format!("{}{reference}{}", &written[..offset + range.start], &written[offset + range.end..]))
}

/// The password of a connection string ([`connection_password`]), as written.
fn url_password(value: &str) -> Option<&str> {
    connection_password(value).map(|r| &value[r])
}

/// One variable for every place a credential is written: secret-named variables get
/// `${NAME:?set NAME}`, connection strings keep their user, host and database with the
/// password replaced by the reference. All places change or none does: `None` when one of them
/// cannot be edited by words (an escape sequence in a quoted value, the secret twice in it).
fn group_fix(ctx: &Context, occurrences: &[Occurrence], group: &[usize], name: Option<String>) -> Option<Fix> {
    let (name, edits) = group_edits(ctx, occurrences, group, name)?;
    Some(ctx.fix(
        format!("read `{name}` from the environment in all {} places this credential is written", group.len()),
        Applicability::Unsafe,
        edits,
    ))
}

/// The variable a group of occurrences reads: the server's own setting names the credential (a
/// password flag, else the variable a server's `${NAME:-fallback}` already reads, which the
/// project may set, else a data store's variable, else the first variable, else one named after
/// the first connection string); with the service of the member it comes from.
fn group_name<'a>(ctx: &Context, occurrences: &[Occurrence<'a>], group: &[usize]) -> Option<(String, &'a str)> {
    let members: Vec<&Occurrence> = group.iter().map(|&i| &occurrences[i]).collect();
    let profiles = &ctx.stack.profiles;
    let var_name = |o: &&Occurrence<'a>| match &o.place {
        Place::Var(v) => Some((v.name.clone(), o.service.name.as_str())),
        _ => None,
    };
    let flag = members.iter().find_map(|o| match &o.place {
        Place::Flag(f) => Some((flag_variable(f).to_string(), o.service.name.as_str())),
        _ => None,
    });
    let referenced = members.iter().find_map(|o| match &o.place {
        Place::Var(v) if o.secret.is_none() => Some((single_name(v), o.service.name.as_str())),
        _ => None,
    });
    let store =
        members.iter().filter(|o| profiles.kind(&o.service.kind).is_some_and(|k| k.is_data_store())).find_map(var_name);
    flag.or(referenced).or(store).or_else(|| members.iter().find_map(var_name)).or_else(|| {
        let first = members.first()?;
        let url = match &first.place {
            Place::Url(v) => v.name.to_ascii_uppercase(),
            _ => return None,
        };
        let stem = ["_URL", "_URI", "_DSN", "_CONNECTION_STRING"].iter().find_map(|s| url.strip_suffix(s));
        Some((format!("{}_PASSWORD", stem.unwrap_or(&url)), first.service.name.as_str()))
    })
}

/// The variable a group of occurrences reads (`name`, else [`group_name`]'s), and the edits of
/// [`group_fix`].
fn group_edits(
    ctx: &Context,
    occurrences: &[Occurrence],
    group: &[usize],
    name: Option<String>,
) -> Option<(String, Vec<FixEdit>)> {
    let members: Vec<&Occurrence> = group.iter().map(|&i| &occurrences[i]).collect();
    let name = match name {
        Some(name) => name,
        None => group_name(ctx, occurrences, group)?.0,
    };
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return None;
    }
    let reference = format!("${{{name}:?set {name}}}");
    // compose interpolates a reference in a default (`${DATABASE_URL:-postgresql://u:pw@db}`)
    // even when the outer variable is set: a required one there would stop every compose
    // command that sets `DATABASE_URL` but not the password. Written plain there when another
    // place requires it.
    let in_default = |o: &&Occurrence| match &o.place {
        Place::Url(var) => o.secret.as_deref().is_some_and(|secret| {
            let written = ctx.stack.text(var.loc.file, var.loc.span);
            replace_url_password(written, secret, "\u{0}").and_then(|r| r.find('\u{0}')).is_some_and(|at| {
                let before = &written[..at];
                before.matches("${").count() > before.matches('}').count()
            })
        }),
        _ => false,
    };
    let required_elsewhere = members.iter().any(|o| !in_default(o));
    let plain = format!("${{{name}}}");
    let mut edits = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for o in &members {
        // An anchored block shared by several services is written once.
        let loc = o.loc();
        if !seen.insert((loc.file, loc.span.start, loc.span.end)) {
            continue;
        }
        // A variable's whole value is replaced (a literal, or a reference with a literal
        // fallback); a connection string's and a flag's secret within it.
        let secret = o.secret.as_deref();
        edits.push(match &o.place {
            Place::Var(var) => super::env_value_edit(ctx, var, tpl::HARDCODED_SECRET, json!({ "name": name })),
            Place::Url(var) => {
                let secret = secret?;
                let written = ctx.stack.text(var.loc.file, var.loc.span);
                let escapes = written.starts_with('"') && written.contains('\\')
                    || written.starts_with('\'') && secret.contains('\'');
                if escapes {
                    return None;
                }
                let reference = if required_elsewhere && in_default(o) { &plain } else { &reference };
                FixEdit::new(
                    Target::Node { file: var.loc.file, at: var.loc.span },
                    EditOp::Replace,
                    tpl::HARDCODED_SECRET_TEXT,
                    json!({ "text": replace_url_password(written, secret, reference)? }),
                )
            }
            Place::Flag(flag) => command_edit(ctx, o.service, flag, secret?, &name)?,
        });
    }
    edits.push(FixEdit::env_example(name.clone()));
    Some((name, edits))
}

impl Rule for HardcodedSecret {
    fn meta(&self) -> &'static RuleMeta {
        &Self::META
    }

    fn check(&self, ctx: &Context) -> Vec<Finding> {
        // Only values written more than once can be one credential in several places.
        let repeated = repeated_occurrences(ctx);
        let candidates: Vec<Occurrence> = repeated.iter().map(|(_, o)| o.clone()).collect();
        let groups = credential_groups(ctx, &candidates);
        let named: Vec<Option<(String, &str)>> = groups.iter().map(|g| group_name(ctx, &candidates, g)).collect();
        let mut group_of: HashMap<usize, usize> = HashMap::new();
        for (k, group) in groups.iter().enumerate() {
            for &c in group {
                group_of.insert(repeated[c].0, k);
            }
        }
        let variables = shared_variables(ctx, |i| Some(named[*group_of.get(&i)?].as_ref()?.0.clone()));
        // Found once, and only for a stack with a literal secret to move.
        let foreign = std::cell::OnceCell::new();
        let foreign = || foreign.get_or_init(|| Foreign::of(ctx));
        // Each group's fix is built once and shared by its members (by index among all).
        // Groups no fix may move (two accounts a client is tied to), with why.
        let refused: Vec<Option<String>> = groups.iter().map(|g| two_accounts(&candidates, g)).collect();
        // The same value in an `env_file` (a client's `DATABASE_URL`), which no fix edits: moved
        // in the compose file alone, that login would break. A group with one such member is
        // not moved at all.
        let env_files = EnvFileValues::of(ctx);
        let env_held = |o: &Occurrence| linked_value(o).and_then(|v| env_files.holding(&v));
        let group_env_held: Vec<Option<(&str, &str)>> =
            groups.iter().map(|g| g.iter().find_map(|&m| env_held(&candidates[m]))).collect();
        let fixes: Vec<Option<Fix>> = groups
            .iter()
            .zip(&named)
            .zip(&refused)
            .zip(&group_env_held)
            .map(|(((group, named), refused), held)| match named {
                _ if refused.is_some() || held.is_some() => None,
                Some((n, service)) => {
                    let members = || group.iter().map(|&m| &candidates[m]);
                    let secret = members().find_map(|o| o.secret.as_deref());
                    let own = members().filter_map(|o| o.referencing.as_deref()).any(|r| {
                        let mut names = HashSet::new();
                        interpolate::names_referenced(r, &mut names);
                        names.contains(n)
                    });
                    let name = variables.for_service(service, n, secret, own, &foreign)?;
                    group_fix(ctx, &candidates, group, Some(name))
                }
                None => group_fix(ctx, &candidates, group, None),
            })
            .collect();
        drop(candidates);
        drop(repeated);
        let mut out = Vec::new();
        let mut i = 0;
        each_occurrence(ctx, |o| {
            let in_env_file = match group_of.get(&i) {
                Some(&g) => group_env_held[g],
                None => env_held(&o),
            };
            let fix = match group_of.get(&i) {
                _ if in_env_file.is_some() => None,
                Some(&g) => fixes[g].clone(),
                None if o.secret.is_none() => single_fix(ctx, &o, None),
                None => variables
                    .for_service(&o.service.name, &single_variable(&o), o.secret.as_deref(), false, &foreign)
                    .and_then(|name| single_fix(ctx, &o, Some(name))),
            };
            i += 1;
            let finding = match &o.place {
                Place::Var(var) | Place::Url(var) => Finding::new(
                    &Self::META,
                    var.loc,
                    format!("`{}` of service `{}` holds {} (value redacted)", var.name, o.service.name, o.what),
                )
                // Fixed texts: a stack can hold hundreds of thousands of these findings, and the
                // message names the variable already.
                .help("reference a required variable instead (`${NAME:?set NAME}`), its name listed in .env.example"),
                Place::Flag(flag) => Finding::new(
                    &Self::META,
                    o.loc(),
                    format!("`{flag}` of service `{}` is {} (value redacted)", o.service.name, o.what),
                ),
            };
            let refusal = group_of.get(&(i - 1)).and_then(|&g| refused[g].as_ref());
            let finding = match (in_env_file, refusal) {
                (Some((service, name)), _) => finding.help(format!(
                    "not fixed: the same value is in `{name}` of an `env_file` of `{service}`, which stackfix does not \
                     edit, and a login reading it would break; move both to one variable by hand"
                )),
                (None, Some(why)) => finding.help(format!("not fixed: {why}")),
                (None, None) => finding,
            };
            out.push(finding.service(&o.service.name).with_fix_opt(fix));
        });
        out
    }
}

/// The variables the services' `env_file`s set (in every configuration: a fix of a file several
/// share is the same in each), as (service, variable, value).
struct EnvFileValues<'a>(Vec<(&'a str, &'a str, &'a str)>);

impl<'a> EnvFileValues<'a> {
    fn of(ctx: &Context<'a>) -> EnvFileValues<'a> {
        let services = ctx.stack.configs.iter().flat_map(|c| &c.services);
        let values =
            services.flat_map(|s| s.env_file.iter().map(move |(n, v)| (s.name.as_str(), n.as_str(), v.as_str())));
        EnvFileValues(values.collect())
    }

    /// The first (service, variable) whose value is `secret`, or holds it as the password of a
    /// connection string.
    fn holding(&self, secret: &str) -> Option<(&'a str, &'a str)> {
        let holds = |value: &str| value == secret || url_password(value) == Some(secret);
        self.0.iter().find(|(_, _, value)| holds(value)).map(|&(service, name, _)| (service, name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-pass filter answers as the word-by-word test does: on every name of every word
    /// list, alone, in pairs, glued, in any case, and on the keys and variables of the corpus.
    #[test]
    fn the_name_filter_never_hides_a_secret_name() {
        let lists = [SECRET_WORDS, KEY_PREFIXES, NOT_SECRET_SUFFIXES, GLUED_OWNERS, &["KEY", "DB", "APP", "X"]];
        let words: Vec<&str> = lists.iter().flat_map(|l| l.iter().copied()).collect();
        let mut names: Vec<String> = Vec::new();
        for a in &words {
            names.push(a.to_string());
            names.push(a.to_ascii_lowercase());
            for b in &words {
                names.extend([format!("{a}_{b}"), format!("{a}{b}"), format!("{}-{b}", a.to_ascii_lowercase())]);
            }
        }
        let mut lines: Vec<String> = Vec::new();
        let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
        for entry in ignore::WalkBuilder::new(&corpus).build().flatten() {
            if entry.path().extension().is_some_and(|e| e == "yml" || e == "yaml" || e == "env") {
                let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                for line in text.lines() {
                    let key = line.trim_start_matches([' ', '-']).split([':', '=']).next().unwrap_or("");
                    names.push(key.trim().to_string());
                    lines.push(line.trim().to_string());
                    lines.extend(line.split_once([':', '=']).map(|(_, value)| value.trim().to_string()));
                }
            }
        }
        // Connection strings: the filter before the parameters answers as reading them does.
        let mut passwords = 0;
        for value in names.iter().chain(&lines) {
            let read = userinfo_password(value).or_else(|| parameter_password(value));
            passwords += usize::from(read.is_some());
            assert_eq!(connection_password(value), read, "{value}");
        }
        for value in
            ["Server=db;Password=x;", "host=db PWD = y", "jdbc:postgresql://db/app?user=a&password=p@ss", "a=b"]
        {
            assert_eq!(connection_password(value), userinfo_password(value).or_else(|| parameter_password(value)));
        }
        assert!(passwords > 20, "{passwords} connection strings with a password");
        let mut secret = 0;
        for name in &names {
            assert_eq!(is_secret_name(name), names_a_secret(name), "{name}");
            secret += usize::from(names_a_secret(name));
        }
        assert!(secret > 1000, "{secret} secret names of {}", names.len());
    }

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
            "POSTGRES_PWD",
            "MYSQL_PWD",
            // Any case, as written.
            "db_password",
            "Api_Key",
            "rootPassword",
            // A password with its owner glued on.
            "PAPERLESS_DBPASS",
            "PGPASSWORD",
            "ADMIN_DBPASSWORD",
            "MYSQLPWD",
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
            "pwd",
            "password_file",
            "monkey",
            "BYPASS_CACHE",
            "COMPASS_URL",
            "CACHE_BYPASS",
        ] {
            assert!(!is_secret_name(n), "{n}");
        }
    }

    #[test]
    fn password_hashes_by_name_and_value() {
        for n in ["ADMIN_PASSWORD_HASH", "admin_password_hash", "DB_PASS-HASH", "API_TOKEN_HASH"] {
            assert!(is_password_hash_name(n), "{n}");
        }
        for n in ["PASSWORD_HASH_ALGORITHM", "HASH", "FILE_HASH", "COMMIT_HASH", "ADMIN_PASSWORD_FILE"] {
            assert!(!is_password_hash_name(n), "{n}");
        }
        let bcrypt = "$2a$14$1l.IozJx7xQRVmlkEQ32OeEEfP5mRxTpbDTCTcXRqn19gXD8YK1pO";
        let written = bcrypt.replace('$', "$$");
        assert_eq!(literal_password_hash(&written), Some((bcrypt.to_string(), false)));
        let fallback = format!("${{ADMIN_PASSWORD_HASH:-{written}}}");
        assert_eq!(literal_password_hash(&fallback), Some((bcrypt.to_string(), true)));
        let argon = "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG";
        assert_eq!(literal_password_hash(&argon.replace('$', "$$")), Some((argon.to_string(), false)));
        for not in ["sha256", "${ADMIN_PASSWORD_HASH}", "${ADMIN_PASSWORD_HASH:?set it}", ""] {
            assert_eq!(literal_password_hash(not), None, "{not}");
        }
    }

    #[test]
    fn connection_strings_without_a_url() {
        let pw = |v: &str| url_password(v).map(str::to_string);
        assert_eq!(pw("mysql:host=db;dbname=app;password=hunter2"), Some("hunter2".into()));
        assert_eq!(pw("host=db port=5432 user=app password=hunter2 dbname=app"), Some("hunter2".into()));
        assert_eq!(pw("Server=db;Database=app;User Id=sa;Password=Str0ng!;"), Some("Str0ng!".into()));
        assert_eq!(pw("jdbc:postgresql://db:5432/app?user=app&password=hunter2"), Some("hunter2".into()));
        // `;` separates values that hold spaces; a quoted libpq value is stepped over, not read.
        assert_eq!(pw("Server=db;Password=my pass;"), Some("my pass".into()));
        assert_eq!(pw("Server=mssql;Database=My App;User Id=sa;Password=Str0ng;"), Some("Str0ng".into()));
        assert_eq!(pw("host=db application_name='nightly report' password=hunter2"), Some("hunter2".into()));
        assert_eq!(pw("host=db password='a b'"), None);
        assert_eq!(pw("host=db x=my pass password=hunter2"), None);
        // An `@` in the query is no user information.
        assert_eq!(pw("jdbc:postgresql://db:5432/app?user=app&password=p@ssw0rd"), Some("p@ssw0rd".into()));
        assert_eq!(url_host("jdbc:postgresql://db/app?user=app&password=p@ss"), Some("db"));
        assert!(!url_with_password("host=db password=${DB_PASSWORD}"));
        assert!(!url_with_password("--max-connections=10"));
        assert_eq!(url_host("mysql:host=db;dbname=app;password=x"), Some("db"));
        assert_eq!(url_host("Data Source=mssql,1433;Password=x"), Some("mssql"));
        assert_eq!(url_host("Server=tcp:sql;Password=x"), Some("sql"));
        assert_eq!(url_host("jdbc:postgresql://db:5432/app?password=x"), Some("db"));
        let r = "${DB_PASSWORD:?set DB_PASSWORD}";
        assert_eq!(
            replace_url_password("DSN=mysql:host=db;password=hunter2", "hunter2", r).as_deref(),
            Some("DSN=mysql:host=db;password=${DB_PASSWORD:?set DB_PASSWORD}")
        );
        assert_eq!(
            replace_url_password("\"host=db password=hunter2 dbname=app\"", "hunter2", r).as_deref(),
            Some("\"host=db password=${DB_PASSWORD:?set DB_PASSWORD} dbname=app\"")
        );
    }

    #[test]
    fn url_passwords_are_replaced_in_place() {
        let r = "${DB:?set DB}";
        assert_eq!(
            replace_url_password("postgresql://postgres:postgres@postgres:5432/postgres", "postgres", r).as_deref(),
            Some("postgresql://postgres:${DB:?set DB}@postgres:5432/postgres")
        );
        assert_eq!(
            replace_url_password("DATABASE_URL=redis://:pw@redis:6379/0", "pw", r).as_deref(),
            Some("DATABASE_URL=redis://:${DB:?set DB}@redis:6379/0")
        );
        assert_eq!(replace_url_password("\"postgres://u:x@h/d\"", "y", r), None);
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
