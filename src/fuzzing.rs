//! Invariant checks shared by the cargo-fuzz targets (`fuzz/`) and the regression test that replays
//! their saved inputs (`fuzz/regressions/`). Each function panics when an invariant breaks; any
//! other outcome (including a refused input) is fine.

use crate::bootstrap::{self, BootstrapOptions, Extra, Mode};
use crate::fix::{self, FixOptions};
use crate::rules::{self, RuleSettings};
use crate::stack::{self, LoadOptions, Profiles};
use crate::yaml::route::Segment;
use crate::yaml::{apply, NodeKind, Op, Patch, Route, ScalarStyle, Tree};

/// The located tree on any text: spans inside the input, and every plain or quoted scalar's text
/// parses on its own to the same value. Returns how many scalars were re-read.
pub fn tree(data: &[u8]) -> usize {
    let Ok(text) = std::str::from_utf8(data) else { return 0 };
    let Ok(tree) = Tree::parse(text.to_string()) else { return 0 };
    let mut reread_count = 0;
    for id in 0..tree.len() {
        let node = tree.node(id);
        assert!(node.props_start <= node.span.start && node.span.start <= node.span.end && node.span.end <= text.len());
        assert!(text.is_char_boundary(node.span.start) && text.is_char_boundary(node.span.end));
        if let NodeKind::Scalar { value, style } = &node.kind {
            if value.is_empty() || matches!(style, ScalarStyle::Literal | ScalarStyle::Folded) {
                continue;
            }
            // A key or value parsed alone may read differently only if it was a multi-line plain
            // scalar inside a flow collection; skip those.
            let own = tree.text_of(id);
            if own.contains(['\n', '\r']) {
                continue;
            }
            // Re-read as a mapping value (at the document level `--- x` would start a document),
            // as a flow item (the parser takes `>` or `|` as a plain scalar inside `{…}`, where a
            // block value would start a block scalar), and as a key (a plain key may end in `:`,
            // as `a:` in `a:: 1`, which no value position accepts).
            let block = reread(&format!("k: {own}\n"), |t, root| t.entry(root, "k").map(|e| e.value));
            let flow = reread(&format!("k: [{own}]\n"), |t, root| {
                t.entry(root, "k").and_then(|e| t.items(e.value).first().copied())
            });
            let key = reread(&format!("{own}: v\n"), |t, root| t.entries(root).first().map(|e| e.key));
            if block.is_some() || flow.is_some() || key.is_some() {
                assert!(
                    [&block, &flow, &key].iter().any(|r| r.as_deref() == Some(value.as_str())),
                    "span text {own:?} reads as {block:?} / {flow:?} / {key:?}"
                );
                reread_count += 1;
            }
        }
    }
    reread_count
}

/// The scalar `pick` finds in `text` parsed alone, if it parses.
fn reread(text: &str, pick: impl Fn(&Tree, usize) -> Option<usize>) -> Option<String> {
    let tree = Tree::parse(text.to_string()).ok()?;
    let root = tree.root()?;
    let id = pick(&tree, root)?;
    tree.node(id).as_str().map(str::to_string)
}

/// Patch operations chosen by the input's first bytes on the YAML text that follows: the result
/// parses, and an insertion changes no line besides the inserted ones.
pub fn patch(data: &[u8]) {
    let (choices, rest) = data.split_at(data.len().min(4));
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let Ok(tree) = Tree::parse(text.to_string()) else { return };
    let Some(root) = tree.root() else { return };
    let targets = collections(&tree, root, usize::MAX);
    if targets.is_empty() {
        return;
    }
    let pick = |i: usize| choices.get(i).copied().unwrap_or(0) as usize;
    let (route, is_mapping) = targets[pick(0) % targets.len()].clone();
    let values = ["x", "\"a: #b\"", "k: v\nl: [1]\n", "- 1\n- 2\n", "t: |\n  ü\n", "{f: 1}"];
    let value = values[pick(1) % values.len()].to_string();
    let op = if is_mapping {
        Op::InsertKey { key: format!("fuzz-{}", pick(2)), value, after: None }
    } else {
        Op::AppendItem { value }
    };
    let route = Route(route);
    // A flow collection is edited inside its own lines; a block one only gains whole lines.
    let is_flow = crate::yaml::route::resolve(&tree, &route).is_ok_and(|t| tree.node(t.node).is_flow());
    let Ok(out) = apply(text, &Patch { route, op }) else { return };
    Tree::parse(out.clone()).expect("a patch produced invalid YAML");
    assert!(is_flow || only_lines_inserted(text, &out), "a line outside the insertion changed");
}

/// Lines as YAML reads them: split at LF, CRLF or a lone CR.
fn yaml_lines(text: &str) -> Vec<&str> {
    text.split('\n').flat_map(|l| l.strip_suffix('\r').unwrap_or(l).split('\r')).collect()
}

/// Whether `after` is `before` with one block of whole lines inserted (a last line without a
/// line break may gain one).
pub fn only_lines_inserted(before: &str, after: &str) -> bool {
    let (a, b) = (yaml_lines(before), yaml_lines(after));
    if b.len() < a.len() {
        return false;
    }
    let first = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    b[first + b.len() - a.len()..] == a[first..]
}

/// Routes to the mappings (`true`) and sequences (`false`) of a tree, not through aliases, at
/// most `limit` of them.
pub fn collections(tree: &Tree, root: usize, limit: usize) -> Vec<(Vec<Segment>, bool)> {
    let mut out = Vec::new();
    walk_collections(tree, root, Vec::new(), limit, &mut out);
    out
}

fn walk_collections(tree: &Tree, id: usize, route: Vec<Segment>, limit: usize, out: &mut Vec<(Vec<Segment>, bool)>) {
    if out.len() >= limit {
        return;
    }
    match &tree.node(id).kind {
        NodeKind::Mapping { entries, .. } => {
            out.push((route.clone(), true));
            for e in entries {
                if let Some(k) = tree.node(e.key).as_str().filter(|k| *k != "<<") {
                    let mut r = route.clone();
                    r.push(Segment::Key(k.to_string()));
                    walk_collections(tree, e.value, r, limit, out);
                }
            }
        }
        NodeKind::Sequence { items, .. } => {
            out.push((route.clone(), false));
            for (i, &item) in items.iter().enumerate() {
                let mut r = route.clone();
                r.push(Segment::Index(i));
                walk_collections(tree, item, r, limit, out);
            }
        }
        _ => {}
    }
}

/// The whole pipeline on a project holding the input as its compose file: load, check, fix with
/// every fix allowed, and bootstrap in both modes with every extra, without panicking; a run that
/// succeeds is idempotent.
pub fn pipeline(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let dir = std::env::temp_dir().join(format!("stackfix-fuzz-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let compose = dir.join("docker-compose.yml");
    if std::fs::write(&compose, text).is_err() {
        return;
    }
    let load = LoadOptions::new(dir.clone(), Vec::new(), Profiles::builtin());
    let loaded = stack::load(&load);
    let _ = rules::check(&loaded, &RuleSettings::default());
    let options = FixOptions { unsafe_fixes: true, ..FixOptions::default() };
    if let Ok(outcome) = fix::run(&load, &RuleSettings::default(), &options) {
        let mut again = load.clone();
        again.overrides.extend(outcome.changes.iter().map(|c| (c.path.clone(), c.after.clone())));
        if let Ok(second) = fix::run(&again, &RuleSettings::default(), &options) {
            let changed: Vec<_> = second
                .changes
                .iter()
                .filter(|c| outcome.changes.iter().find(|o| o.path == c.path).map(|o| &o.after) != Some(&c.after))
                .collect();
            assert!(
                changed.is_empty(),
                "a second fix run changed {:?}",
                changed.iter().map(|c| &c.display).collect::<Vec<_>>()
            );
        }
    }
    for mode in [Mode::Overlay, Mode::Standalone] {
        bootstrap_twice(&load, &compose, mode);
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// Bootstrap with every extra: the base file is not among the changes, and once its files are
/// written a second run changes nothing. The files are removed again.
fn bootstrap_twice(load: &LoadOptions, compose: &std::path::Path, mode: Mode) {
    let options = BootstrapOptions {
        base: vec![compose.to_path_buf()],
        output: load.dir.join("docker-compose.prod.yml"),
        mode,
        extras: vec![Extra::Backups, Extra::Monitoring, Extra::Traefik],
        fix: FixOptions::default(),
    };
    let Ok(outcome) = bootstrap::run(load, &RuleSettings::default(), &options) else { return };
    assert!(outcome.changes.iter().all(|c| c.path != *compose), "bootstrap changed the base file");
    for change in &outcome.changes {
        if let Some(parent) = change.path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let _ = std::fs::write(&change.path, &change.after);
    }
    if let Ok(second) = bootstrap::run(load, &RuleSettings::default(), &options) {
        let changed: Vec<&str> = second.changes.iter().map(|c| c.display.as_str()).collect();
        assert!(changed.is_empty(), "a second bootstrap changed {changed:?}");
    }
    for change in &outcome.changes {
        let _ = std::fs::remove_file(&change.path);
    }
}
