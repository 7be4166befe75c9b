//! The checks a fixed stack passes before anything is written: every fixed finding is gone, every
//! comment of every file survives, and each file's meaning changed only under the routes the
//! fixes aimed at. A fix that fails is excluded and the run starts again without it.

use std::collections::{HashMap, HashSet};

use super::{Attempt, FindingKey};
use crate::rules::Finding;
use crate::stack::load::normalize;
use crate::stack::{Stack, Value, ValueKind};
use crate::yaml::tree::code_end;
use crate::yaml::{NodeId, NodeKind, Route, Segment, Tree};

/// Fixes that failed, with why.
pub(crate) fn check(original: &Stack, attempt: &Attempt, remaining: &[Finding]) -> HashMap<FindingKey, String> {
    let mut failures = HashMap::new();
    let fixed = attempt.stack.as_ref().unwrap_or(original);
    let left: HashSet<FindingKey> = remaining.iter().map(|f| super::key(fixed, f)).collect();
    for applied in &attempt.applied {
        if left.contains(&applied.key) {
            failures.insert(
                applied.key.clone(),
                "the fix did not close the finding (another file or a merge still sets it)".to_string(),
            );
        }
    }
    for (path, after) in &attempt.texts {
        let Some(before_file) = original.files.iter().find(|f| normalize(&f.path) == *path) else { continue };
        let before = before_file.source().text();
        // The trees of both sides are already parsed: the original stack's and the last pass's.
        let after_tree = fixed.files.iter().find(|f| normalize(&f.path) == *path).and_then(|f| f.tree.as_ref());
        let aimed = attempt.intended.get(path).map(Vec::as_slice).unwrap_or_default();
        let blame = |reason: String, failures: &mut HashMap<FindingKey, String>| {
            for (_, key) in aimed {
                failures.entry(key.clone()).or_insert_with(|| reason.clone());
            }
        };
        if let Some(lost) = lost_comment(before, after) {
            // The fixes that edited where the comment was; all of the file's when none did.
            let near = before.find(&lost).zip(before_file.tree.as_ref()).map(|(at, tree)| route_near(tree, at));
            let related =
                |route: &Route| near.as_ref().is_some_and(|n| n.0.starts_with(&route.0) || route.0.starts_with(&n.0));
            let culprits: Vec<&FindingKey> = match aimed.iter().filter(|(r, _)| related(r)).count() {
                0 => aimed.iter().map(|(_, k)| k).collect(),
                _ => aimed.iter().filter(|(r, _)| related(r)).map(|(_, k)| k).collect(),
            };
            for key in culprits {
                failures.entry(key.clone()).or_insert_with(|| format!("a comment would be lost: `{lost}`"));
            }
        }
        let aimed_at: HashSet<&[Segment]> = aimed.iter().map(|(route, _)| route.0.as_slice()).collect();
        for changed in changed_paths(before_file.tree.as_ref(), after_tree) {
            if !(0..=changed.0.len()).any(|len| aimed_at.contains(&changed.0[..len])) {
                blame(format!("the edit changed `{changed}`, which the fix did not aim at"), &mut failures);
            }
        }
    }
    failures
}

/// The route of the deepest node whose text, or the rest of the line it ends on, holds `offset`.
fn route_near(tree: &Tree, offset: usize) -> Route {
    let mut route = Route::default();
    let Some(mut id) = tree.root() else { return route };
    let holds = |child: NodeId| {
        let node = tree.node(child);
        let end = tree.source.line_content_end(tree.source.line_index(node.span.end));
        node.props_start <= offset && offset <= end.max(node.span.end)
    };
    loop {
        let next = match &tree.node(id).kind {
            NodeKind::Mapping { entries, .. } => entries.iter().find(|e| holds(e.value)).and_then(|e| {
                let key = tree.node(e.key).as_str()?;
                Some((Segment::Key(key.to_string()), e.value))
            }),
            NodeKind::Sequence { items, .. } => {
                items.iter().enumerate().find(|(_, &item)| holds(item)).map(|(i, &item)| (Segment::Index(i), item))
            }
            _ => None,
        };
        let Some((segment, child)) = next else { return route };
        route.0.push(segment);
        id = child;
    }
}

/// Every comment of `before`, as many times as it occurs, must still be in `after`.
fn lost_comment(before: &str, after: &str) -> Option<String> {
    let mut available: HashMap<&str, usize> = HashMap::new();
    for c in comments(after) {
        *available.entry(c).or_default() += 1;
    }
    for c in comments(before) {
        match available.get_mut(c) {
            Some(n) if *n > 0 => *n -= 1,
            _ => return Some(c.to_string()),
        }
    }
    None
}

fn comments(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        let end = code_end(bytes, start);
        let comment = text[end..start + line.len()].trim_end();
        if comment.starts_with('#') {
            out.push(comment);
        }
        start += line.len();
    }
    out
}

/// Routes where the documents' values differ (aliases and merge keys applied).
fn changed_paths(before: Option<&Tree>, after: Option<&Tree>) -> Vec<Route> {
    let value = |tree: Option<&Tree>| -> Option<Value> {
        let tree = tree?;
        Value::from_tree(tree, tree.root()?, 0).ok()
    };
    let mut out = Vec::new();
    match (value(before), value(after)) {
        (Some(a), Some(b)) => diff(&a, &b, &mut Route::default(), &mut out),
        (None, None) => {}
        _ => out.push(Route::default()),
    }
    out
}

fn diff(a: &Value, b: &Value, at: &mut Route, out: &mut Vec<Route>) {
    match (&a.kind, &b.kind) {
        (ValueKind::Map(x), ValueKind::Map(y)) if a.tag == b.tag => {
            let in_b: HashMap<&str, &Value> = y.iter().map(|(k, v)| (k.as_str(), v)).collect();
            for (k, va) in x {
                at.0.push(Segment::Key(k.clone()));
                match in_b.get(k.as_str()) {
                    Some(vb) => diff(va, vb, at, out),
                    None => out.push(at.clone()),
                }
                at.0.pop();
            }
            let in_a: HashSet<&str> = x.iter().map(|(k, _)| k.as_str()).collect();
            for (k, _) in y.iter().filter(|(k, _)| !in_a.contains(k.as_str())) {
                out.push(at.clone().key(k));
            }
        }
        (ValueKind::Seq(x), ValueKind::Seq(y)) if x.len() == y.len() && a.tag == b.tag => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                at.0.push(Segment::Index(i));
                diff(va, vb, at, out);
                at.0.pop();
            }
        }
        _ if a.kind == b.kind && a.tag == b.tag => {}
        _ => out.push(at.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_must_survive() {
        assert_eq!(lost_comment("a: 1 # one\n# two\n", "# two\na: 2 # one\n"), None);
        assert_eq!(lost_comment("a: 1 # one\n", "a: 1\n").as_deref(), Some("# one"));
        assert_eq!(lost_comment("a: \"#no\"\n", "a: 2\n"), None);
    }

    #[test]
    fn a_lost_comment_is_found_where_it_was() {
        let text = "s:\n  v:\n    - a # one\n    - b\n  w: 1 # two\n";
        let tree = Tree::parse(text.to_string()).unwrap();
        assert_eq!(route_near(&tree, text.find("# one").unwrap()).to_string(), "s.v.0");
        assert_eq!(route_near(&tree, text.find("# two").unwrap()).to_string(), "s.w");
    }

    #[test]
    fn changed_paths_are_exact() {
        let before = Tree::parse("s:\n  a: {x: 1}\n  b: [1, 2]\n".to_string()).unwrap();
        let after = Tree::parse("s:\n  a: {x: 1, y: 2}\n  b: [1, 3]\n  c: 1\n".to_string()).unwrap();
        let paths = changed_paths(Some(&before), Some(&after));
        let shown: Vec<String> = paths.iter().map(|p| p.to_string()).collect();
        assert_eq!(shown, ["s.a.y", "s.b.1", "s.c"]);
    }
}
