//! The shared edit vectors (../shared/edit-vectors): each operation applied by the patch engine
//! gives exactly the expected text (in every declared encoding: CRLF, BOM, no final newline), or is
//! refused with the required word in its message. The located tree is checked on the way: every
//! input parses and every route resolves to a node inside the text.

use stackfix::yaml::{apply, NodeKind, Op, Patch, Route, Tree};

use crate::common::shared;

struct Vector {
    name: String,
    headers: Vec<(String, String)>,
    sections: Vec<(String, String)>,
}

fn parse(name: &str, text: &str) -> Vector {
    let mut headers = Vec::new();
    let mut sections: Vec<(String, String)> = Vec::new();
    for line in text.split_inclusive('\n') {
        if let Some(section) = line.strip_prefix("--- ") {
            sections.push((section.trim().to_string(), String::new()));
        } else if let Some((_, body)) = sections.last_mut() {
            body.push_str(line);
        } else if let Some(h) = line.strip_prefix("# ") {
            let (k, v) = h.split_once(':').unwrap_or((h, ""));
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    Vector { name: name.to_string(), headers, sections }
}

impl Vector {
    fn header(&self, key: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    fn section(&self, name: &str) -> Option<&str> {
        self.sections.iter().find(|(n, _)| n == name).map(|(_, b)| b.as_str())
    }

    /// Applies the header's encoding directives to a section.
    fn encode(&self, body: &str) -> String {
        let mut text = body.to_string();
        if self.header("final-newline") == Some("no") {
            text.pop();
        }
        if self.header("line-ending") == Some("crlf") {
            text = text.replace('\n', "\r\n");
        }
        if self.header("bom") == Some("yes") {
            text.insert(0, '\u{feff}');
        }
        text
    }
}

/// Walks a dotted route; returns the node and whether an alias was passed on the way.
fn resolve(tree: &Tree, route: &str) -> Option<(usize, bool)> {
    let mut id = tree.root()?;
    let mut through_alias = false;
    for part in route.split('.').filter(|p| !p.is_empty()) {
        if matches!(tree.node(id).kind, NodeKind::Alias { .. }) {
            through_alias = true;
            id = tree.resolve(id);
        }
        id = match part.parse::<usize>() {
            Ok(i) => *tree.items(id).get(i)?,
            Err(_) => tree.entry(id, part)?.value,
        };
    }
    if matches!(tree.node(id).kind, NodeKind::Alias { .. }) {
        through_alias = true;
    }
    Some((id, through_alias))
}

fn patch(v: &Vector) -> Patch {
    let value =
        v.header("value").map(str::to_string).or_else(|| v.section("value").map(str::to_string)).unwrap_or_default();
    let op = match v.header("op").unwrap_or("") {
        "insert_key" => Op::InsertKey {
            key: v.header("key").expect("insert_key needs a key").to_string(),
            value,
            after: v.header("after").map(str::to_string),
        },
        "replace_scalar" => Op::ReplaceScalar { value },
        "append_item" => Op::AppendItem { value },
        "replace_node" => Op::ReplaceNode { value },
        other => panic!("{}: unknown op `{other}`", v.name),
    };
    Patch { route: Route::parse(v.header("route").unwrap_or("")), op }
}

#[test]
fn every_edit_vector() {
    let Some(dir) = shared("edit-vectors") else { return };
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "vec"))
        .collect();
    paths.sort();
    assert_eq!(paths.len(), 30);
    for path in paths {
        let v = parse(&path.file_name().unwrap().to_string_lossy(), &std::fs::read_to_string(&path).unwrap());
        let input = v.encode(v.section("input").unwrap_or_else(|| panic!("{}: no input", v.name)));
        let tree = Tree::parse(input.clone()).unwrap_or_else(|e| panic!("{}: {e}", v.name));
        let route = v.header("route").unwrap_or("");
        let (node, through_alias) =
            resolve(&tree, route).unwrap_or_else(|| panic!("{}: route `{route}` does not resolve", v.name));
        let span = tree.node(node).span;
        assert!(span.start <= span.end && span.end <= input.len(), "{}: span out of range", v.name);
        let result = apply(&input, &patch(&v));
        match (v.section("expected"), v.section("error")) {
            (Some(expected), _) => {
                let expected = v.encode(expected);
                assert_eq!(result.as_deref(), Ok(expected.as_str()), "{}", v.name);
            }
            (None, Some(word)) => {
                let err = result.expect_err(&format!("{}: must be refused", v.name));
                let word = word.trim().to_ascii_lowercase();
                assert!(err.to_string().to_ascii_lowercase().contains(&word), "{}: `{err}` lacks `{word}`", v.name);
                assert_eq!(through_alias, word == "alias", "{}: alias detection", v.name);
            }
            (None, None) => panic!("{}: neither expected nor error", v.name),
        }
    }
}
