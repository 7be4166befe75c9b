//! Compose variable interpolation: `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
//! `${VAR:?error}`, `${VAR?error}`, `${VAR:+alt}` and `$$`, plus the project's `.env` file.

use std::collections::HashMap;

/// One `${...}` reference in a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarRef {
    pub name: String,
    /// The default written after `:-` or `-`, if any.
    pub default: Option<String>,
    /// `:?` / `?`: the variable is required.
    pub required: bool,
    /// What follows the name: `:-`, `-`, `:?`, `?`, `:+`, `+`, or empty for a bare reference.
    pub operator: &'static str,
    /// The text after the operator (the default, the error message, or the alternative).
    pub argument: String,
    /// Written in a form compose refuses ("invalid interpolation format"): an empty name or one
    /// starting with a digit (`${}`, `${1A}`), or an unknown operator (`${A B}`, `${A:=x}`,
    /// `${A.B}`), or a `${` that is never closed.
    pub invalid: bool,
}

/// Splits a value into literal text and variable references, `$$` becoming `$`.
fn parse(text: &str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < text.len() {
        if bytes[i] != b'$' {
            let ch = text[i..].chars().next().unwrap_or(' ');
            literal.push(ch);
            i += ch.len_utf8();
            continue;
        }
        match bytes.get(i + 1) {
            Some(b'$') => {
                literal.push('$');
                i += 2;
            }
            Some(b'{') => {
                let Some(close) = matching_brace(text, i + 2) else {
                    if !literal.is_empty() {
                        pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                    }
                    let mut unclosed = parse_braced(&text[i + 2..]);
                    unclosed.invalid = true;
                    pieces.push(Piece::Var(unclosed));
                    break;
                };
                if !literal.is_empty() {
                    pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                }
                pieces.push(Piece::Var(parse_braced(&text[i + 2..close])));
                i = close + 1;
            }
            Some(b) if b.is_ascii_alphabetic() || *b == b'_' => {
                let start = i + 1;
                let mut end = start;
                while end < text.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
                    end += 1;
                }
                if !literal.is_empty() {
                    pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                }
                pieces.push(Piece::Var(VarRef {
                    name: text[start..end].to_string(),
                    default: None,
                    required: false,
                    operator: "",
                    argument: String::new(),
                    invalid: false,
                }));
                i = end;
            }
            _ => {
                literal.push('$');
                i += 1;
            }
        }
    }
    if !literal.is_empty() {
        pieces.push(Piece::Literal(literal));
    }
    pieces
}

enum Piece {
    Literal(String),
    Var(VarRef),
}

fn matching_brace(text: &str, from: usize) -> Option<usize> {
    let mut depth = 1;
    for (i, b) in text.as_bytes().iter().enumerate().skip(from) {
        match b {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

fn parse_braced(inner: &str) -> VarRef {
    let name_end = inner.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(inner.len());
    let name = inner[..name_end].to_string();
    let rest = &inner[name_end..];
    let operator = [":-", ":?", ":+", "-", "?", "+"].into_iter().find(|op| rest.starts_with(op));
    let argument = operator.map_or(rest, |op| &rest[op.len()..]).to_string();
    let invalid =
        name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) || (operator.is_none() && !rest.is_empty());
    let operator = operator.unwrap_or("");
    VarRef {
        default: matches!(operator, ":-" | "-").then(|| argument.clone()),
        required: matches!(operator, ":?" | "?"),
        name,
        operator,
        argument,
        invalid,
    }
}

/// How deeply references may nest in defaults (`${A:-${B:-…}}`): each level is read
/// recursively, so a hostile value must not exhaust the stack.
pub const MAX_NESTING: usize = 32;

/// The deepest nesting of `${` in `text` (`$$` escapes a dollar).
fn nesting(text: &str) -> usize {
    let bytes = text.as_bytes();
    let (mut depth, mut deepest, mut i) = (0usize, 0usize, 0);
    while i < bytes.len() {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'$') => i += 1,
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                deepest = deepest.max(depth);
                i += 1;
            }
            b'{' if depth > 0 => depth += 1,
            b'}' if depth > 0 => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    deepest
}

/// Whether any reference, or any reference inside a default, message or alternative (compose
/// reads those whether or not they are used), is invalid.
fn any_invalid(pieces: &[Piece]) -> bool {
    pieces.iter().any(|p| match p {
        Piece::Var(v) => v.invalid || (v.argument.contains('$') && any_invalid(&parse(&v.argument))),
        Piece::Literal(_) => false,
    })
}

/// Why compose refuses to interpolate a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterpolationError {
    /// "invalid interpolation format": see [`VarRef::invalid`].
    Invalid,
    /// References nested deeper than [`MAX_NESTING`] levels: refused rather than read.
    TooDeep,
    /// `${NAME:?message}` with NAME unset or empty, or `${NAME?message}` with NAME unset:
    /// "required variable NAME is missing a value[: message]".
    Required { name: String, message: String },
}

impl std::fmt::Display for InterpolationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InterpolationError::Invalid => {
                write!(f, "invalid interpolation format (compose refuses it; write `$$` for a literal `$`)")
            }
            InterpolationError::TooDeep => {
                write!(f, "variable references nest more than {MAX_NESTING} levels deep; stackfix does not read them")
            }
            InterpolationError::Required { name, message } if message.is_empty() => {
                write!(f, "required variable {name} is missing a value")
            }
            InterpolationError::Required { name, message } => {
                write!(f, "required variable {name} is missing a value: {message}")
            }
        }
    }
}

/// Substitutes variables from `env` exactly as compose does (compose-go's `template` package,
/// checked against `compose config` by the tests): `${A:-d}` / `${A-d}` fall back when A is
/// unset or empty / unset; `${A:+x}` / `${A+x}` give `x` when A is set and non-empty / set;
/// `${A:?m}` / `${A?m}` are errors when A is unset or empty / unset; defaults and messages are
/// interpolated in turn; `$$` is a literal `$`; an unknown variable is empty.
///
/// # Errors
/// [`InterpolationError::Invalid`] for a reference compose refuses to read (checked before any
/// variable is looked up, so the answer does not depend on the environment), else the first
/// required variable that is missing.
pub fn interpolate(text: &str, env: &HashMap<String, String>) -> Result<String, InterpolationError> {
    substitute(text, env, true)
}

/// [`interpolate`], or with `strict` false, a missing required variable read as empty.
fn substitute(text: &str, env: &HashMap<String, String>, strict: bool) -> Result<String, InterpolationError> {
    if !text.contains('$') {
        return Ok(text.to_string());
    }
    if nesting(text) > MAX_NESTING {
        return Err(InterpolationError::TooDeep);
    }
    let pieces = parse(text);
    if any_invalid(&pieces) {
        return Err(InterpolationError::Invalid);
    }
    let mut out = String::new();
    for piece in pieces {
        match piece {
            Piece::Literal(l) => out.push_str(&l),
            Piece::Var(v) => {
                let value = env.get(&v.name);
                let set = value.is_some();
                let non_empty = value.is_some_and(|x| !x.is_empty());
                let own = || value.cloned().unwrap_or_default();
                let missing = match v.operator {
                    ":?" => !non_empty,
                    "?" => !set,
                    _ => false,
                };
                out.push_str(&match v.operator {
                    ":-" if non_empty => own(),
                    "-" if set => own(),
                    ":-" | "-" => substitute(&v.argument, env, strict)?,
                    ":+" if non_empty => substitute(&v.argument, env, strict)?,
                    "+" if set => substitute(&v.argument, env, strict)?,
                    ":+" | "+" => String::new(),
                    _ if missing && strict => {
                        return Err(InterpolationError::Required {
                            name: v.name,
                            message: substitute(&v.argument, env, false).unwrap_or(v.argument),
                        })
                    }
                    _ => own(),
                });
            }
        }
    }
    Ok(out)
}

/// Adds the names `text` references to `out`, in defaults and alternatives too (`${A:-${B}}`:
/// both).
pub fn names_referenced<C: Extend<String>>(text: &str, out: &mut C) {
    for reference in references(text) {
        if reference.argument.contains('$') {
            names_referenced(&reference.argument, out);
        }
        out.extend(std::iter::once(reference.name));
    }
}

/// Every variable referenced in `text`.
pub fn references(text: &str) -> Vec<VarRef> {
    parse(text)
        .into_iter()
        .filter_map(|p| match p {
            Piece::Var(v) => Some(v),
            Piece::Literal(_) => None,
        })
        .collect()
}

/// Whether `text` contains literal characters besides variable references.
pub fn has_literal(text: &str) -> bool {
    parse(text).iter().any(|p| matches!(p, Piece::Literal(l) if !l.trim().is_empty()))
}

/// [`interpolate`] without errors, for values compose has already accepted and for `.env`
/// files: a value with an invalid reference stays as written and a missing required variable is
/// empty.
pub fn resolve(text: &str, env: &HashMap<String, String>) -> String {
    substitute(text, env, false).unwrap_or_else(|_| text.to_string())
}

/// Parses a `.env` file as compose does (compose-go's dotenv reader, a fork of joho/godotenv,
/// checked against `compose config` by the tests): a leading UTF-8 byte order mark is skipped;
/// `export ` prefixes, blank lines and `#` comment lines are ignored; `KEY=value` and `KEY: value`
/// both assign; a single-quoted value is taken as written; a double-quoted value may span lines and
/// has `\n`, `\r`, `\t`, `\\`, `\"` and `\$` escapes; an unquoted value ends at ` #` and is
/// trimmed; unquoted and double-quoted values interpolate variables set earlier in the file
/// (defaults and `$$` as in compose files). Lines that assign nothing are skipped. The process
/// environment is not consulted: stackfix reads the project, not the machine it runs on.
pub fn parse_dotenv(text: &str) -> HashMap<String, String> {
    let mut env = HashMap::new();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut pos = 0;
    while pos < text.len() {
        let line_end = text[pos..].find('\n').map_or(text.len(), |i| pos + i);
        let line = &text[pos..line_end];
        let next = (line_end + 1).min(text.len());
        let trimmed = line.trim_start();
        if trimmed.trim_end().is_empty() || trimmed.starts_with('#') {
            pos = next;
            continue;
        }
        let assignment =
            trimmed.strip_prefix("export").filter(|r| r.starts_with([' ', '\t'])).map_or(trimmed, str::trim_start);
        let Some(split) = assignment.find(['=', ':']) else {
            pos = next;
            continue;
        };
        let key = assignment[..split].trim();
        if key.is_empty() || !key.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '[' | ']')) {
            pos = next;
            continue;
        }
        let value = assignment[split + 1..].trim_start_matches([' ', '\t']);
        // Where the value starts in `text` (it is a slice of it).
        let value_at = value.as_ptr() as usize - text.as_ptr() as usize;
        let parsed = match value.chars().next() {
            Some(quote @ ('"' | '\'')) => {
                // The value may continue on the next lines, up to the closing quote.
                let body_start = value_at + 1;
                let Some(close) = closing_quote(&text[body_start..], quote) else { break };
                let body = &text[body_start..body_start + close];
                // What follows the closing quote on its line is read as more of the file, as
                // compose reads it (`A="x" B=2` sets both; a comment is skipped).
                pos = body_start + close + 1;
                if quote == '\'' {
                    body.replace("\\'", "'")
                } else {
                    resolve(&unescape(body), &env)
                }
            }
            _ => {
                pos = next;
                let value = value.trim_end_matches('\r');
                let value = match value.find(" #") {
                    Some(comment) => &value[..comment],
                    None => value,
                };
                resolve(value.trim(), &env)
            }
        };
        env.insert(key.to_string(), parsed);
    }
    env
}

/// The offset of the quote that closes a value opened by `quote` (a backslash escapes the next
/// character inside double quotes).
fn closing_quote(text: &str, quote: char) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            c if c == quote => return Some(i),
            _ => {}
        }
    }
    None
}

/// Double-quoted escapes; `\$` stays escaped (as `$$`) so interpolation leaves it a dollar.
fn unescape(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('$') => out.push_str("$$"),
            Some(other @ ('"' | '\\')) => out.push(other),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_and_defaults() {
        let refs = references("${A:-x}-${B:?set B}-$C-$$D-${E}");
        assert_eq!(refs.len(), 4);
        assert_eq!(refs[0].default.as_deref(), Some("x"));
        assert!(refs[1].required);
        assert_eq!(refs[2].name, "C");
        let env = HashMap::from([("E".to_string(), "e".to_string())]);
        assert_eq!(resolve("${A:-x}-$$D-${E}", &env), "x-$D-e");
        assert!(!has_literal("${A:?x}"));
        assert!(has_literal("postgres://u:${P}@db"));
    }

    #[test]
    fn operators_and_refusals() {
        let env = HashMap::from([("S".to_string(), "v".to_string()), ("E".to_string(), String::new())]);
        let ok = |t: &str| interpolate(t, &env).unwrap();
        assert_eq!(ok("${S:+alt}|${E:+alt}|${E+alt}|${U+alt}"), "alt||alt|");
        assert_eq!(ok("${E:-d}|${E-d}|${U-${S}}|$$S"), "d||v|$S");
        assert_eq!(interpolate("${A B}", &env), Err(InterpolationError::Invalid));
        assert_eq!(interpolate("x ${S", &env), Err(InterpolationError::Invalid));
        assert_eq!(
            interpolate("${E:?need E}", &env),
            Err(InterpolationError::Required { name: "E".into(), message: "need E".into() })
        );
        assert_eq!(ok("${E?fine}"), "");
        // The lenient form keeps an invalid value as written.
        assert_eq!(resolve("${A B} $S", &env), "${A B} $S");
    }

    #[test]
    fn dotenv() {
        let env = parse_dotenv("# c\nA=1\nexport B=\"two words\"\nC=x # note\n");
        assert_eq!(env["A"], "1");
        assert_eq!(env["B"], "two words");
        assert_eq!(env["C"], "x");
    }

    #[test]
    fn dotenv_as_compose_reads_it() {
        let env = parse_dotenv(
            "\u{feff}A=1\nB=\"x\\ny\" # c\nC='sq $A'\nD=unq # comment\nE=a#b\nexport F=${A}2\nG=\"multi\nline\"\nH= spaced \nI=${UNSET:-def}\nJ: yaml\n",
        );
        assert_eq!(env["A"], "1");
        assert_eq!(env["B"], "x\ny");
        assert_eq!(env["C"], "sq $A");
        assert_eq!(env["D"], "unq");
        assert_eq!(env["E"], "a#b");
        assert_eq!(env["F"], "12");
        assert_eq!(env["G"], "multi\nline");
        assert_eq!(env["H"], "spaced");
        assert_eq!(env["I"], "def");
        assert_eq!(env["J"], "yaml");
        let env = parse_dotenv("A=\"x\" B=2\nC='it\\'s'\nexport\tD=4\nE[1]=5\n");
        assert_eq!((env["A"].as_str(), env["B"].as_str(), env["C"].as_str()), ("x", "2", "it's"));
        assert_eq!((env["D"].as_str(), env["E[1]"].as_str()), ("4", "5"));
    }
}
