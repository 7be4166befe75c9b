//! The shared edit vectors (../shared/edit-vectors) against the located tree: every input parses in
//! every declared encoding (CRLF, BOM, no final newline), every route resolves to a node whose
//! span lies inside the text, and the refusal vectors that are about aliases are detected as such.
//! TODO(#3): apply each operation and compare with the expected text once the patch engine exists.

use stackfix::yaml::{NodeKind, Tree};

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

#[test]
fn every_vector_input_parses_and_its_route_resolves() {
    let Some(dir) = shared("edit-vectors") else {
        return;
    };
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
        let refusal = v.section("error").map(|e| e.trim().to_ascii_lowercase());
        assert_eq!(through_alias, refusal.as_deref() == Some("alias"), "{}: alias detection", v.name);
        if let Some(expected) = v.section("expected") {
            Tree::parse(v.encode(expected)).unwrap_or_else(|e| panic!("{}: expected text does not parse: {e}", v.name));
        }
    }
}
