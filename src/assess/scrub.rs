//! Redaction of credentials in the text a report shows (diff lines, messages, titles): the
//! literal secrets the `hardcoded-secret` rule finds, as parsed and as written (quoted, escaped,
//! `$$`), and whatever has the shape of a credential wherever it is written — the value of a
//! secret-named variable or key (`POSTGRES_PASSWORD: …`, `API_TOKEN=…`), a secret-named
//! variable's fallback (`${DB_PASSWORD:-…}`), the password of a URL (`scheme://user:…@host`), the
//! value of a secret-named flag (`--token …`, `--requirepass=…`), `-u user:…` (curl), `-p…`
//! glued to a MySQL client, `redis-cli -a …` and `mongosh -p …`, the fallback of a reference
//! after a secret flag (`--requirepass ${REDIS_AUTH:-…}`), the `requirepass` / `masterauth`
//! directives of a Redis configuration file, JSON Web Tokens and htpasswd password hashes
//! (`admin:$apr1$…`, Traefik's `basicauth.users`). A literal shorter than [`SHORT_LITERAL`] is
//! hidden only where it stands as a word. A report may hide more than a secret; it never shows
//! one it can tell.

use std::borrow::Cow;

use crate::rules::is_secret_name;

/// What replaces a credential.
pub const REDACTED: &str = "<redacted>";

/// Flags and directives whose value is a credential although their name has no secret word.
const CREDENTIAL_FLAGS: &[&str] = &["requirepass", "masterauth", "pass", "pw", "auth-token"];

/// Redacts credentials in the text of one report.
pub struct Scrubber {
    /// Literal secrets and the ways each is written, longest first (one may hold another);
    /// shared with the scrubbers [`Scrubber::fresh`] makes.
    literals: std::sync::Arc<Vec<String>>,
    /// Finds any of `literals` in one pass (`None` without any).
    finder: Option<std::sync::Arc<aho_corasick::AhoCorasick>>,
    /// Lines already redacted, as given → as shown (`None`: unchanged). A report shows the same
    /// lines many times (the context of each fix's diff in one service).
    seen: std::sync::Mutex<rustc_hash::FxHashMap<Box<str>, Option<Box<str>>>>,
}

impl Scrubber {
    /// A scrubber for `secrets` (values as parsed, see [`crate::rules::guarded_secrets`]).
    pub fn new(secrets: &[String]) -> Scrubber {
        let mut literals: Vec<String> = Vec::new();
        for secret in secrets.iter().filter(|s| !s.is_empty()) {
            literals.push(secret.clone());
            // As written in YAML: single-quoted (`''`), double-quoted (escapes), and with the
            // `$$` compose reads as `$`.
            literals.push(secret.replace('\'', "''"));
            literals.push(secret.replace('\\', "\\\\").replace('"', "\\\""));
            literals.push(secret.replace('$', "$$"));
        }
        literals.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        literals.dedup();
        // A literal that cannot be searched for (too many, too long) is searched for each time.
        let finder = match literals.is_empty() {
            true => None,
            false => aho_corasick::AhoCorasick::new(&literals).ok().map(std::sync::Arc::new),
        };
        Scrubber { literals: std::sync::Arc::new(literals), finder, seen: Default::default() }
    }

    /// A scrubber for the same secrets whose cache of lines starts empty (one for each thread
    /// of a report made in parallel), without building the search again.
    pub fn fresh(&self) -> Scrubber {
        Scrubber { literals: self.literals.clone(), finder: self.finder.clone(), seen: Default::default() }
    }

    /// `text` with every credential replaced by [`REDACTED`], line by line.
    pub fn text(&self, text: &str) -> String {
        // The literals are looked for in the whole text once, and line by line only when found
        // (a line of a text without one holds none: its redaction is the same either way).
        let literals = self.holds_literal(text);
        let mut out = String::with_capacity(text.len());
        let mut seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for line in text.split_inclusive('\n') {
            match seen.get(line) {
                Some(Some(shown)) => out.push_str(shown),
                Some(None) => out.push_str(line),
                None => {
                    let shown = self.line(line, literals);
                    out.push_str(&shown);
                    seen.insert(line.into(), (shown != line).then(|| shown.into_boxed_str()));
                }
            }
        }
        out
    }

    /// Whether `text` holds one of the literal secrets.
    fn holds_literal(&self, text: &str) -> bool {
        match &self.finder {
            Some(finder) => finder.is_match(text),
            None => self.literals.iter().any(|s| text.contains(s.as_str())),
        }
    }

    fn line(&self, line: &str, literals: bool) -> String {
        let mut out = std::borrow::Cow::Borrowed(line);
        if literals && self.holds_literal(&out) {
            let mut replaced = line.to_string();
            for secret in self.literals.iter() {
                replaced = replace_literal(&replaced, secret);
            }
            out = replaced.into();
        }
        // Each shape is looked for only in a line holding what it starts with (most lines hold
        // none of a reference, an assignment, a URL or a flag).
        let passes: [(Holds, Redaction); 8] = [
            (|l| l.contains("${"), fallbacks),
            (|l| l.contains(':'), key_values),
            (|l| l.contains('='), assignments),
            (|l| l.contains("://"), url_passwords),
            (|l| l.contains('-'), flags),
            (|_| true, directives),
            (|l| l.contains("eyJ"), json_web_tokens),
            (|l| l.contains('$') || l.contains("{SHA}"), password_hashes),
        ];
        for (holds, redact) in passes {
            if let Some(redacted) = holds(&out).then(|| redact(&out)).flatten() {
                out = redacted.into();
            }
        }
        out.into_owned()
    }
}

/// A literal this short is a word too (`test`, `admin`): it is hidden only where it stands as a
/// word of its own, so that `perf-tests.yml` or `latest` are not shown half hidden (which would
/// break a diff's paths and tell the value). A longer one is hidden wherever it is.
const SHORT_LITERAL: usize = 16;

/// `line` with each occurrence of `secret` replaced by [`REDACTED`]: every one, or, for a
/// [`SHORT_LITERAL`], those not inside a word (letters, digits, `_` on neither side).
fn replace_literal(line: &str, secret: &str) -> String {
    if secret.len() >= SHORT_LITERAL {
        return line.replace(secret, REDACTED);
    }
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    let mut out = String::with_capacity(line.len());
    let mut at = 0;
    for (start, _) in line.match_indices(secret) {
        if start < at {
            continue;
        }
        let end = start + secret.len();
        // The secret's own first and last characters decide nothing: only what is around it.
        let before = line[..start].chars().next_back();
        let after = line[end..].chars().next();
        let inside = |edge: Option<char>, c: Option<char>| word(edge) && word(c);
        if inside(before, secret.chars().next()) || inside(after, secret.chars().next_back()) {
            continue;
        }
        // A key of a block mapping (`test:` of a health check) is a name, not the value.
        let rest = &line[end..];
        let key = line[..start].trim_start_matches([' ', '\t', '+', '-']).is_empty()
            && rest.starts_with(':')
            && rest[1..].starts_with([' ', '\t', '\n', '\r']);
        if key {
            continue;
        }
        out.push_str(&line[at..start]);
        out.push_str(REDACTED);
        at = end;
    }
    out.push_str(&line[at..]);
    out
}

/// Whether a value as written is a credential to hide: not empty, not only references
/// (`${NAME}`, `${NAME:?message}`, `$NAME`, or what is already redacted), not a path, a number
/// or a boolean. A reference with a fallback (`${NAME:-value}`) holds a literal.
fn is_literal(value: &str) -> bool {
    let v = value.trim().trim_matches(|c| c == '"' || c == '\'').trim();
    if v.is_empty() || (v.starts_with('/') && !v.contains(char::is_whitespace)) {
        return false;
    }
    let lower = v.to_ascii_lowercase();
    if v.parse::<f64>().is_ok() || matches!(lower.as_str(), "true" | "false" | "yes" | "no" | "null" | "~") {
        return false;
    }
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut rest = v;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix(REDACTED) {
            rest = after;
        } else if let Some(after) = rest.strip_prefix("${") {
            let Some(end) = after.find('}') else { return true };
            let inner = &after[..end];
            let op = &inner[inner.find(|c: char| !ident(c)).unwrap_or(inner.len())..];
            let fallback = op.strip_prefix(":-").or_else(|| op.strip_prefix('-'));
            let required = op.is_empty() || op.starts_with(":?") || op.starts_with('?');
            if !(required || fallback.is_some_and(|f| f == REDACTED || f.starts_with('$'))) {
                return true;
            }
            rest = &after[end + 1..];
        } else if let Some(after) = rest.strip_prefix('$') {
            let name_len = after.find(|c: char| !ident(c)).unwrap_or(after.len());
            if name_len == 0 {
                return true;
            }
            rest = &after[name_len..];
        } else {
            return true;
        }
    }
    false
}

/// Whether a line may hold a shape (what the shape starts with).
type Holds = fn(&str) -> bool;

/// One shape's redaction of a line: the line redacted, or `None` when it holds none.
type Redaction = fn(&str) -> Option<String>;

/// The redacted line, when a redaction changed it.
fn changed(line: Cow<str>) -> Option<String> {
    match line {
        Cow::Borrowed(_) => None,
        Cow::Owned(line) => Some(line),
    }
}

/// Replaces `line[range]` with [`REDACTED`].
fn splice(line: &str, start: usize, end: usize) -> String {
    format!("{}{REDACTED}{}", &line[..start], &line[end..])
}

/// `${NAME:-fallback}` (and `-`, `:+`, `+`) of a secret-named variable: the fallback.
fn fallbacks(line: &str) -> Option<String> {
    let mut out = Cow::Borrowed(line);
    let mut from = 0;
    while let Some(found) = out[from..].find("${") {
        let at = from + found;
        from = at + 2;
        let Some((name, start, end)) = reference_argument(&out, at, &[":-", ":+", "-", "+"]) else { continue };
        if is_secret_name(name) && is_fallback_literal(&out[start..end]) {
            out = splice(&out, start, end).into();
            from = start + REDACTED.len();
        }
    }
    changed(out)
}

/// The reference that starts at `at` in `line` (`${NAME<op>argument}`, `op` one of `ops`): the
/// variable's name and where its argument is, as a byte range up to the brace that closes the
/// reference (or the end of the line).
fn reference_argument<'a>(line: &'a str, at: usize, ops: &[&str]) -> Option<(&'a str, usize, usize)> {
    let start = at + 2;
    let name_len = line[start..].find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(0);
    let after = start + name_len;
    let op = ops.iter().find(|op| line[after..].starts_with(**op))?;
    let value_start = after + op.len();
    let mut depth = 1;
    for (i, c) in line[value_start..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some((&line[start..after], value_start, value_start + i));
                }
            }
            _ => {}
        }
    }
    Some((&line[start..after], value_start, line.len()))
}

/// Whether a reference's fallback as written is a literal to hide (not empty, not another
/// reference, not already hidden).
fn is_fallback_literal(value: &str) -> bool {
    !value.is_empty() && !value.starts_with('$') && value != REDACTED
}

/// A YAML entry of a secret-named key (`  DB_PASSWORD: value`, `- "API_TOKEN": value`): its
/// value, up to a comment.
fn key_values(line: &str) -> Option<String> {
    let body = line.trim_end_matches(['\n', '\r']);
    let lead = body.len() - body.trim_start_matches([' ', '\t', '+', '-']).len();
    let rest = &body[lead..];
    let unquoted = rest.trim_start_matches(['"', '\'']);
    let key_len = unquoted.find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))).unwrap_or(0);
    let key = &unquoted[..key_len];
    let after_key = lead + (rest.len() - unquoted.len()) + key_len;
    let after_quote = after_key + body[after_key..].len() - body[after_key..].trim_start_matches(['"', '\'']).len();
    if key.is_empty() || !is_secret_name(key) || !body[after_quote..].starts_with(':') {
        return None;
    }
    let value_start = after_quote + 1;
    let value = &body[value_start..];
    if !value.is_empty() && !value.starts_with([' ', '\t']) {
        return None;
    }
    let value_end = value.find(" #").map_or(body.len(), |i| value_start + i);
    let written = body[value_start..value_end].trim();
    if !is_literal(written) || written.starts_with(['|', '>', '&', '*', '{', '[']) {
        return None;
    }
    let start = value_start + body[value_start..].len() - body[value_start..].trim_start().len();
    let end = start + written.len();
    Some(splice(line, start, end))
}

/// `NAME=value` of a secret-named variable or parameter anywhere in the line (an `environment`
/// item, a command's `--env`, a connection string's `password=`): its value, up to a quote,
/// blank, `;`, `&` or `,`.
fn assignments(line: &str) -> Option<String> {
    let mut out = Cow::Borrowed(line);
    let mut from = 0;
    while let Some(found) = out[from..].find('=') {
        let eq = from + found;
        from = eq + 1;
        let name_start =
            out[..eq].rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-')).map_or(0, |i| i + 1);
        let name = out[name_start..eq].trim_start_matches('-');
        if name.is_empty() || !(is_secret_name(name) || CREDENTIAL_FLAGS.contains(&name.to_ascii_lowercase().as_str()))
        {
            continue;
        }
        let value_start = eq + 1;
        // In a quoted item (`"API_TOKEN=a b"`) the value runs to the closing quote.
        let quote = out[..name_start].chars().last().filter(|c| matches!(c, '"' | '\''));
        let end = match quote {
            Some(q) => out[value_start..].find(q),
            None => out[value_start..]
                .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ';' | '&' | ',' | ']' | '}')),
        }
        .map_or(out.len(), |i| value_start + i);
        let value = &out[value_start..end];
        // A reference with a fallback is left to `fallbacks`; its closing brace ends it here.
        if value.starts_with("${") || !is_literal(value) {
            continue;
        }
        out = splice(&out, value_start, end).into();
        from = value_start + REDACTED.len();
    }
    changed(out)
}

/// The password of every `scheme://user:password@host` in the line.
fn url_passwords(line: &str) -> Option<String> {
    let mut out = Cow::Borrowed(line);
    let mut from = 0;
    while let Some(found) = out[from..].find("://") {
        let start = from + found + 3;
        from = start;
        let authority_end = out[start..]
            .find(|c: char| c.is_whitespace() || matches!(c, '/' | '"' | '\'' | '`' | ',' | ']'))
            .map_or(out.len(), |i| start + i);
        let Some(at) = out[start..authority_end].rfind('@') else { continue };
        let userinfo = &out[start..start + at];
        let Some(colon) = userinfo.find(':') else { continue };
        let (pw_start, pw_end) = (start + colon + 1, start + at);
        let password = &out[pw_start..pw_end];
        if password.is_empty() || !is_literal(password) || password.starts_with("${") {
            continue;
        }
        out = splice(&out, pw_start, pw_end).into();
        from = pw_start + REDACTED.len();
    }
    changed(out)
}

/// The value after a secret-named flag (`--password x`, `--token=x`, `"--requirepass", "x"`),
/// after curl's `-u user:` / `--user user:`, and glued to a MySQL client's `-p`.
fn flags(line: &str) -> Option<String> {
    let mut out = Cow::Borrowed(line);
    let mut from = 0;
    // Asked only for a short flag that may take a password.
    let lowered = std::cell::OnceCell::new();
    let lower = || lowered.get_or_init(|| line.to_ascii_lowercase()).as_str();
    let mysql = || lower().contains("mysql") || lower().contains("mariadb");
    while let Some(found) = out[from..].find('-') {
        let dash = from + found;
        from = dash + 1;
        // A flag starts a word.
        if dash > 0 && !out[..dash].ends_with([' ', '\t', '"', '\'', '[', ',']) {
            continue;
        }
        let name_start = dash + out[dash..].len() - out[dash..].trim_start_matches('-').len();
        let name_end = out[name_start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .map_or(out.len(), |i| name_start + i);
        let name = &out[name_start..name_end];
        let dashes = name_start - dash;
        if dashes == 1 && name.len() > 1 && name.starts_with('p') && mysql() {
            // `-psecret`: the password glued to the flag.
            let value = &out[name_start + 1..name_end];
            let end = out[name_start + 1..]
                .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ',' | ']'))
                .map_or(out.len(), |i| name_start + 1 + i);
            if is_literal(value) || is_literal(&out[name_start + 1..end]) {
                out = splice(&out, name_start + 1, end).into();
                from = name_start + 1 + REDACTED.len();
            }
            continue;
        }
        let user = (dashes == 1 && name == "u") || (dashes == 2 && name == "user");
        // `redis-cli -a password`, `mongosh -p password` (a MySQL client's `-p` takes no word
        // after it: that word is a database).
        let short_password = dashes == 1
            && ((name == "a" && lower().contains("redis-cli")) || (name == "p" && lower().contains("mongo")));
        let secret = short_password
            || dashes == 2 && (is_secret_name(name) || CREDENTIAL_FLAGS.contains(&name.to_ascii_lowercase().as_str()));
        if !(user || secret) {
            continue;
        }
        // The value: after `=`, or the next word (past quotes, commas and blanks).
        let mut value_start = name_end;
        if out[value_start..].starts_with('=') {
            value_start += 1;
        } else {
            let skipped = out[value_start..].len()
                - out[value_start..]
                    .trim_start_matches(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ','))
                    .len();
            if skipped == 0 {
                continue;
            }
            value_start += skipped;
        }
        let end = out[value_start..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ',' | ']'))
            .map_or(out.len(), |i| value_start + i);
        let value = &out[value_start..end];
        // A reference: its fallback is the secret, whatever the variable is named.
        if secret && value.starts_with("${") {
            if let Some((start, end)) = reference_fallback(&out, value_start) {
                out = splice(&out, start, end).into();
                from = start + REDACTED.len();
            }
            continue;
        }
        // Another flag, or a reference (a fallback in it is left to `fallbacks`).
        if value.starts_with(['-', '$']) {
            continue;
        }
        let value_start = match user {
            // `user:password`: the password only (a user alone is no secret).
            true => match value.find(':') {
                Some(colon) => value_start + colon + 1,
                None => continue,
            },
            false => value_start,
        };
        if value_start < end && is_literal(&out[value_start..end]) {
            out = splice(&out, value_start, end).into();
            from = value_start + REDACTED.len();
        }
    }
    changed(out)
}

/// Where the fallback of the reference at `at` (`${NAME:-fallback}`, `${NAME-fallback}`) is in
/// `line`, as a byte range, when it is a literal.
fn reference_fallback(line: &str, at: usize) -> Option<(usize, usize)> {
    let (_, start, end) = reference_argument(line, at, &[":-", "-"])?;
    is_fallback_literal(&line[start..end]).then_some((start, end))
}

/// Characters of a JSON Web Token's base64url parts.
fn base64url(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// Every JSON Web Token in the line (`eyJ…` header, `.` payload, `.` signature): a bearer
/// credential, whatever the key holding it is named.
fn json_web_tokens(line: &str) -> Option<String> {
    let mut out = Cow::Borrowed(line);
    let mut from = 0;
    while let Some(found) = out[from..].find("eyJ") {
        let start = from + found;
        from = start + 3;
        if out[..start].chars().next_back().is_some_and(base64url) {
            continue;
        }
        let end = out[start..].find(|c: char| !(base64url(c) || c == '.')).map_or(out.len(), |i| start + i);
        let token = out[start..end].trim_end_matches('.');
        let parts: Vec<&str> = token.split('.').collect();
        if parts.len() != 3 || parts[0].len() < 10 || parts[1].is_empty() {
            continue;
        }
        let end = start + token.len();
        out = splice(&out, start, end).into();
        from = start + REDACTED.len();
    }
    changed(out)
}

// The prefixes of the password hashes an htpasswd file (Traefik's `basicAuth.users`, nginx)
// holds, and of crypt(3) and Argon2 hashes (the ones `hardcoded-secret` knows).
use crate::rules::PASSWORD_HASH_PREFIXES as HASH_PREFIXES;

/// Each password hash prefix as written, and with compose's `$$` for each `$` (made once).
fn written_hash_prefixes() -> &'static [String] {
    static WRITTEN: std::sync::LazyLock<Vec<String>> =
        std::sync::LazyLock::new(|| HASH_PREFIXES.iter().flat_map(|p| [p.to_string(), p.replace('$', "$$")]).collect());
    &WRITTEN
}

/// Every password hash of an htpasswd line (`user:$apr1$…`, and as compose files write them,
/// `$$apr1$$…`): it can be cracked offline. The user stays.
fn password_hashes(line: &str) -> Option<String> {
    let mut out = Cow::Borrowed(line);
    let mut from = 0;
    loop {
        // The first hash prefix after `from`, as written or with compose's `$$`.
        let found = written_hash_prefixes().iter().filter_map(|p| out[from..].find(p.as_str()).map(|i| from + i)).min();
        let Some(start) = found else { break };
        from = start + 1;
        // A hash follows the user's name and its colon.
        if !out[..start].ends_with(':') {
            continue;
        }
        let end = out[start..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ',' | ']' | '}'))
            .map_or(out.len(), |i| start + i);
        out = splice(&out, start, end).into();
        from = start + REDACTED.len();
    }
    changed(out)
}

/// `requirepass value` / `masterauth value` as a Redis configuration file writes them.
fn directives(line: &str) -> Option<String> {
    let body = line.trim_end_matches(['\n', '\r']);
    // A diff line's first character is its kind (` `, `+`, `-`).
    let (prefix, rest) = match body.starts_with([' ', '+', '-']) {
        true => body.split_at(1),
        false => ("", body),
    };
    let trimmed = rest.trim_start();
    let lead = prefix.len() + rest.len() - trimmed.len();
    let word_len = trimmed.find(char::is_whitespace).unwrap_or(trimmed.len());
    let word = &trimmed[..word_len];
    if !(word.eq_ignore_ascii_case("requirepass") || word.eq_ignore_ascii_case("masterauth")) {
        return None;
    }
    let value_start = lead + word_len + (trimmed[word_len..].len() - trimmed[word_len..].trim_start().len());
    let value_end = body.trim_end().len();
    if value_start >= value_end || !is_literal(&body[value_start..value_end]) {
        return None;
    }
    Some(splice(line, value_start, value_end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrub(line: &str) -> String {
        Scrubber::new(&["hunter2".to_string(), "it's-x".to_string(), "a$b".to_string()]).text(line)
    }

    #[test]
    fn lines_seen_before_are_redacted_the_same() {
        // One scrubber for a whole report: lines come back in texts with and without a literal.
        let scrubber = Scrubber::new(&["hunter2".to_string()]);
        let texts = ["  image: redis\n  X: hunter2\n", "  image: redis\n", "  X: hunter2\n  DB_PASSWORD: open\n"];
        let once: Vec<String> = texts.iter().map(|t| scrubber.text(t)).collect();
        let again: Vec<String> = texts.iter().map(|t| scrubber.text(t)).collect();
        assert_eq!(once, again);
        assert_eq!(once[0], "  image: redis\n  X: <redacted>\n");
        assert_eq!(once[1], "  image: redis\n");
        assert_eq!(once[2], "  X: <redacted>\n  DB_PASSWORD: <redacted>\n");
        for text in texts {
            assert_eq!(Scrubber::new(&["hunter2".to_string()]).text(text), scrubber.text(text));
        }
    }

    #[test]
    fn literal_secrets_as_parsed_and_as_written() {
        assert_eq!(scrub("  X: hunter2\n"), "  X: <redacted>\n");
        assert_eq!(scrub("  X: 'it''s-x'\n"), "  X: '<redacted>'\n");
        assert_eq!(scrub("  X: a$$b\n"), "  X: <redacted>\n");
    }

    #[test]
    fn credential_shapes_wherever_they_are_written() {
        let cases = [
            ("-      POSTGRES_PASSWORD: postgres\n", "-      POSTGRES_PASSWORD: <redacted>\n"),
            ("       - \"API_TOKEN=abc def\"\n", "       - \"API_TOKEN=<redacted>\"\n"),
            (
                "-      - GITEA_ADMIN_PASSWORD=${GITEA_ADMIN_PASSWORD:-password}\n",
                "-      - GITEA_ADMIN_PASSWORD=${GITEA_ADMIN_PASSWORD:-<redacted>}\n",
            ),
            (
                "  DATABASE_URL: postgresql://app:s3cret@db:5432/app\n",
                "  DATABASE_URL: postgresql://app:<redacted>@db:5432/app\n",
            ),
            (
                "  command: [\"worker\", \"--broker\", \"amqp://guest:Amqp2@rabbit:5672/\"]\n",
                "  command: [\"worker\", \"--broker\", \"amqp://guest:<redacted>@rabbit:5672/\"]\n",
            ),
            ("  command: [\"--token\", \"abc123\"]\n", "  command: [\"--token\", \"<redacted>\"]\n"),
            (
                "  command: redis-server --requirepass=abc --appendonly yes\n",
                "  command: redis-server --requirepass=<redacted> --appendonly yes\n",
            ),
            (
                "  test: mysqladmin ping -h localhost -pMysqlHc1\n",
                "  test: mysqladmin ping -h localhost -p<redacted>\n",
            ),
            (
                "  test: curl -fsS -u admin:pw http://x/health\n",
                "  test: curl -fsS -u admin:<redacted> http://x/health\n",
            ),
            (" requirepass RedisConfPw8888\n", " requirepass <redacted>\n"),
            ("  host=db password=pw1 dbname=app\n", "  host=db password=<redacted> dbname=app\n"),
            (
                "  command: [\"redis-server\", \"--requirepass\", \"${REDIS_X:-Fallback12}\"]\n",
                "  command: [\"redis-server\", \"--requirepass\", \"${REDIS_X:-<redacted>}\"]\n",
            ),
            ("  --requirepass ${REDIS_PW-x1} --port 1\n", "  --requirepass ${REDIS_PW-<redacted>} --port 1\n"),
            (
                "  test: [\"CMD\", \"redis-cli\", \"-a\", \"CliPw1\", \"ping\"]\n",
                "  test: [\"CMD\", \"redis-cli\", \"-a\", \"<redacted>\", \"ping\"]\n",
            ),
            (
                "  test: mongosh -u root -p MongoPw2 --eval 'db.ping'\n",
                "  test: mongosh -u root -p <redacted> --eval 'db.ping'\n",
            ),
            ("  JWT: eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl\n", "  JWT: <redacted>\n"),
            (
                "  - traefik.http.middlewares.a.basicauth.users=admin:$$apr1$$epoKf5li$$QfTMJZ,bob:$$2y$$05$$abc\n",
                "  - traefik.http.middlewares.a.basicauth.users=admin:<redacted>,bob:<redacted>\n",
            ),
            ("      users: [\"admin:$apr1$salt$hash123\"]\n", "      users: [\"admin:<redacted>\"]\n"),
        ];
        for (line, want) in cases {
            assert_eq!(scrub(line), want, "{line}");
        }
    }

    #[test]
    fn short_literals_are_hidden_where_they_are_words() {
        let scrubber = Scrubber::new(&["test".to_string(), "a-long-secret-value".to_string()]);
        for (line, want) in [
            ("  POSTGRES_PASSWORD: test\n", "  POSTGRES_PASSWORD: <redacted>\n"),
            ("  X: \"test\"\n", "  X: \"<redacted>\"\n"),
            ("--- a/perf-tests.yml\n", "--- a/perf-tests.yml\n"),
            ("  image: runner:latest\n", "  image: runner:latest\n"),
            ("  e2e-tests:\n", "  e2e-tests:\n"),
            ("       test: [\"CMD\", \"true\"]\n", "       test: [\"CMD\", \"true\"]\n"),
            ("+  - test: test\n", "+  - test: <redacted>\n"),
            ("  URL: redis://:test@cache\n", "  URL: redis://:<redacted>@cache\n"),
            ("  Y: xa-long-secret-valuex\n", "  Y: x<redacted>x\n"),
        ] {
            assert_eq!(scrubber.text(line), want, "{line}");
        }
    }

    #[test]
    fn references_and_settings_are_kept() {
        for line in [
            "  POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:?set it}\n",
            "  POSTGRES_PASSWORD_FILE: /run/secrets/db\n",
            "  - DATABASE_URL=postgresql://app:${DB_PASSWORD}@db:5432/app\n",
            "  command: redis-server --requirepass ${REDIS_PASSWORD:?set it}\n",
            "  ports: [\"5432:5432\"]\n",
            "  test: [\"CMD-SHELL\", \"pg_isready -U postgres\"]\n",
            "  image: mysql:8.4\n",
            "  PASSWORD_MIN_LENGTH: 12\n",
            "  test: [\"CMD\", \"redis-cli\", \"ping\"]\n",
            "  command: mysql -p appdb\n",
            "  image: registry.example.com/eyJ:1.0\n",
            "  command: echo $HOME:$PATH\n",
        ] {
            assert_eq!(scrub(line), line);
        }
    }
}
