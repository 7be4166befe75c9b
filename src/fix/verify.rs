//! The checks a fixed stack passes before anything is written: every fixed finding is gone, every
//! comment of every file survives, and each file's meaning changed only under the routes the
//! fixes aimed at. A fix that fails is excluded and the run starts again without it.

use std::collections::{HashMap, HashSet};

use super::{Attempt, FindingKey};
use crate::rules::Finding;
use crate::stack::load::normalize;
use crate::stack::{Stack, Value, ValueKind};
use crate::yaml::tree::code_end;
use crate::yaml::{Route, Segment, Tree};

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
            blame(format!("a comment would be lost: `{lost}`"), &mut failures);
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
    fn changed_paths_are_exact() {
        let before = Tree::parse("s:\n  a: {x: 1}\n  b: [1, 2]\n".to_string()).unwrap();
        let after = Tree::parse("s:\n  a: {x: 1, y: 2}\n  b: [1, 3]\n  c: 1\n".to_string()).unwrap();
        let paths = changed_paths(Some(&before), Some(&after));
        let shown: Vec<String> = paths.iter().map(|p| p.to_string()).collect();
        assert_eq!(shown, ["s.a.y", "s.b.1", "s.c"]);
    }
}
