//! Suppression comments: `# stackfix: ignore[rule-a, rule-b] why` (or `#stackfix:ignore[all]`)
//! on a line silences those rules' findings reported on that line, or on the key line of the
//! service they are about.

use crate::yaml::Span;

/// One suppression comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppression {
    /// The 0-based line it is on.
    pub line: usize,
    /// The comment, from `#` to the end of the line.
    pub span: Span,
    /// The rule ids (or `all`) between the brackets, as written.
    pub rules: Vec<String>,
    /// The text after the brackets, if any.
    pub reason: Option<String>,
}

impl Suppression {
    /// Whether it silences `rule`.
    pub fn covers(&self, rule: &str) -> bool {
        self.rules.iter().any(|r| r == rule || r == "all")
    }
}

/// The suppression comments of a file's text: a `#` that starts a comment (outside quotes),
/// then optional spaces, `stackfix:`, optional spaces, `ignore[…]`. A comment that names no rule
/// (`ignore[]`) is no suppression. Files without `stackfix:` are not scanned.
pub fn parse(text: &str) -> Vec<Suppression> {
    let mut out = Vec::new();
    if !text.contains("stackfix:") {
        return out;
    }
    let bytes = text.as_bytes();
    let mut start = 0;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let end = crate::yaml::tree::code_end(bytes, start);
        let comment = text[end..start + line.len()].trim_end();
        if let Some(found) = directive(comment) {
            out.push(Suppression {
                line: index,
                span: Span::new(end, end + comment.len()),
                rules: found.0,
                reason: found.1,
            });
        }
        start += line.len();
    }
    out
}

/// [`parse`] for a file whose YAML tree is known: text inside a quoted or block scalar (an
/// escaped quote, a script in `command: |`) is a value, not a comment, whatever it says.
pub fn parse_yaml(tree: &crate::yaml::Tree) -> Vec<Suppression> {
    let mut found = parse(tree.source.text());
    if found.is_empty() {
        return found;
    }
    use crate::yaml::{NodeKind, ScalarStyle};
    let source = &tree.source;
    let values = crate::yaml::SpanSet::new((0..tree.len()).filter_map(|id| {
        let node = tree.node(id);
        match &node.kind {
            NodeKind::Scalar { style: ScalarStyle::Plain, .. } => None,
            // A block scalar's text starts on the line after its header (`| # a comment`).
            NodeKind::Scalar { style: ScalarStyle::Literal | ScalarStyle::Folded, .. } => {
                let body = source.line_content_end(source.line_index(node.span.start));
                Some(Span::new(body, node.span.end.max(body)))
            }
            NodeKind::Scalar { .. } => Some(node.span),
            _ => None,
        }
    }));
    found.retain(|s| !values.contains(Span::new(s.span.start, s.span.start + 1)));
    found
}

/// The rules and the reason of a comment that is a suppression.
fn directive(comment: &str) -> Option<(Vec<String>, Option<String>)> {
    let rest = comment.strip_prefix('#')?.trim_start();
    let rest = rest.strip_prefix("stackfix:")?.trim_start();
    let rest = rest.strip_prefix("ignore[")?;
    let (list, after) = rest.split_once(']')?;
    let rules: Vec<String> = list.split(',').map(str::trim).filter(|r| !r.is_empty()).map(String::from).collect();
    let reason = after.trim();
    (!rules.is_empty()).then(|| (rules, (!reason.is_empty()).then(|| reason.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_inside_quoted_and_block_scalars_is_no_comment() {
        let text = "a: \"p\\\"ss # stackfix: ignore[all]\"\n\
                    b: 'it''s # stackfix: ignore[all]'\n\
                    c: | # stackfix: ignore[no-healthcheck]\n  echo # stackfix: ignore[all]\n\
                    d: 1 # stackfix: ignore[no-restart-policy]\n";
        let tree = crate::yaml::Tree::parse(text.to_string()).unwrap();
        let found = parse_yaml(&tree);
        let lines: Vec<usize> = found.iter().map(|s| s.line).collect();
        assert_eq!(lines, [2, 4], "{found:?}");
    }

    #[test]
    fn comments_with_or_without_spaces_and_quotes_are_told_apart() {
        let text = "a: 1 # stackfix: ignore[no-healthcheck] a sidecar\n\
                    b: 2 #stackfix:ignore[no-restart-policy, no-log-rotation]\n\
                    c: \"# stackfix: ignore[all]\"\n\
                    # stackfix: ignore[all]\n\
                    d: 4 # stackfix: ignore[]\n\
                    e: 5 # see stackfix: ignore[all]\n";
        let found = parse(text);
        assert_eq!(found.len(), 3, "{found:?}");
        assert_eq!((found[0].line, found[0].rules.clone()), (0, vec!["no-healthcheck".to_string()]));
        assert_eq!(found[0].reason.as_deref(), Some("a sidecar"));
        assert_eq!(&text[found[0].span.start..found[0].span.end], "# stackfix: ignore[no-healthcheck] a sidecar");
        assert_eq!(found[1].rules, ["no-restart-policy", "no-log-rotation"]);
        assert!(found[1].covers("no-log-rotation") && !found[1].covers("no-healthcheck"));
        assert_eq!(found[2].line, 3);
        assert!(found[2].covers("anything"));
    }
}
