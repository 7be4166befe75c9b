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
                    literal.push_str(&text[i..]);
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
                pieces.push(Piece::Var(VarRef { name: text[start..end].to_string(), default: None, required: false }));
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
    let (default, required) = if let Some(d) = rest.strip_prefix(":-").or_else(|| rest.strip_prefix('-')) {
        (Some(d.to_string()), false)
    } else if rest.starts_with(":?") || rest.starts_with('?') {
        (None, true)
    } else {
        (None, false)
    };
    VarRef { name, default, required }
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

/// Substitutes variables from `env`, falling back to defaults; unknown variables become empty,
/// as compose does.
pub fn resolve(text: &str, env: &HashMap<String, String>) -> String {
    if !text.contains('$') {
        return text.to_string();
    }
    let mut out = String::new();
    for piece in parse(text) {
        match piece {
            Piece::Literal(l) => out.push_str(&l),
            Piece::Var(v) => match (env.get(&v.name), v.default) {
                (Some(value), _) if !value.is_empty() => out.push_str(value),
                (_, Some(default)) => out.push_str(&resolve(&default, env)),
                (Some(value), None) => out.push_str(value),
                (None, None) => {}
            },
        }
    }
    out
}

/// Parses a `.env` file: `KEY=VALUE`, optional `export`, quotes, `#` comments.
pub fn parse_dotenv(text: &str) -> HashMap<String, String> {
    let mut env = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        let value = if let Some(v) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            v.to_string()
        } else if let Some(v) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
            v.to_string()
        } else {
            value.split(" #").next().unwrap_or("").trim().to_string()
        };
        env.insert(key.trim().to_string(), value);
    }
    env
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
    fn dotenv() {
        let env = parse_dotenv("# c\nA=1\nexport B=\"two words\"\nC=x # note\n");
        assert_eq!(env["A"], "1");
        assert_eq!(env["B"], "two words");
        assert_eq!(env["C"], "x");
    }
}
