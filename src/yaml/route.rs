//! Symbolic routes (`services.web.ports.0`) resolved to nodes of a located tree. A route never
//! passes through an alias: editing there would change every user of the anchor.

use std::fmt;

use super::tree::{NodeId, NodeKind, Tree};

/// One step of a route: a mapping key or a sequence index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// A path from the document root.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Route(pub Vec<Segment>);

impl Route {
    /// Parses `a.b.0.c`; numbers select sequence items. Keys containing dots need [`Route::key`].
    pub fn parse(text: &str) -> Route {
        Route(
            text.split('.')
                .filter(|s| !s.is_empty())
                .map(|s| match s.parse::<usize>() {
                    Ok(i) => Segment::Index(i),
                    Err(_) => Segment::Key(s.to_string()),
                })
                .collect(),
        )
    }

    /// This route extended by a mapping key (which may contain dots).
    pub fn key(mut self, key: &str) -> Route {
        self.0.push(Segment::Key(key.to_string()));
        self
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|s| match s {
                Segment::Key(k) => k.clone(),
                Segment::Index(i) => i.to_string(),
            })
            .collect();
        write!(f, "{}", parts.join("."))
    }
}

/// Where a route ends: the node, and the key it is written under (if it is a mapping value).
#[derive(Debug, Clone, Copy)]
pub struct Located {
    pub node: NodeId,
    pub key: Option<NodeId>,
}

/// Why a route does not lead to an editable node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    Missing(String),
    ThroughAlias(String),
    Empty,
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteError::Missing(at) => write!(f, "`{at}` does not exist"),
            RouteError::ThroughAlias(at) => {
                write!(f, "`{at}` is an alias: editing it would change every user of the anchor")
            }
            RouteError::Empty => write!(f, "the document is empty"),
        }
    }
}

/// Resolves a route; refuses to pass through or end at an alias.
pub fn resolve(tree: &Tree, route: &Route) -> Result<Located, RouteError> {
    let mut node = tree.root().ok_or(RouteError::Empty)?;
    let mut key = None;
    // The route up to and including segment `i`, named only in an error.
    let walked = |i: usize| Route(route.0[..i].to_vec()).to_string();
    for (i, segment) in route.0.iter().enumerate() {
        if matches!(tree.node(node).kind, NodeKind::Alias { .. }) {
            return Err(RouteError::ThroughAlias(walked(i)));
        }
        (node, key) = match segment {
            Segment::Key(k) => {
                let entry = tree.entry(node, k).ok_or_else(|| RouteError::Missing(walked(i + 1)))?;
                (entry.value, Some(entry.key))
            }
            Segment::Index(index) => {
                (*tree.items(node).get(*index).ok_or_else(|| RouteError::Missing(walked(i + 1)))?, None)
            }
        };
    }
    if matches!(tree.node(node).kind, NodeKind::Alias { .. }) {
        return Err(RouteError::ThroughAlias(walked(route.0.len())));
    }
    Ok(Located { node, key })
}

/// The route of the node written at `start` (its properties or its text), found without passing
/// through an alias.
pub fn route_to(tree: &Tree, start: usize) -> Option<Route> {
    fn walk(tree: &Tree, id: NodeId, start: usize, route: &mut Route) -> bool {
        let node = tree.node(id);
        if node.span.start == start || node.props_start == start {
            return true;
        }
        if start < node.props_start || start > node.span.end {
            return false;
        }
        // Children are in document order and do not overlap: skip to the first that can hold
        // `start`, and stop at the first that begins after it.
        let holds = |child: NodeId| tree.node(child).props_start <= start;
        let ends_before = |child: NodeId| tree.node(child).span.end < start;
        match &node.kind {
            NodeKind::Mapping { entries, .. } => {
                let first = entries.partition_point(|e| ends_before(e.value));
                for entry in entries[first..].iter().take_while(|e| holds(e.value)) {
                    let Some(key) = tree.node(entry.key).as_str() else { continue };
                    route.0.push(Segment::Key(key.to_string()));
                    if walk(tree, entry.value, start, route) {
                        return true;
                    }
                    route.0.pop();
                }
                false
            }
            NodeKind::Sequence { items, .. } => {
                let first = items.partition_point(|&item| ends_before(item));
                for (i, &item) in items.iter().enumerate().skip(first).take_while(|(_, &item)| holds(item)) {
                    route.0.push(Segment::Index(i));
                    if walk(tree, item, start, route) {
                        return true;
                    }
                    route.0.pop();
                }
                false
            }
            _ => false,
        }
    }
    let mut route = Route::default();
    walk(tree, tree.root()?, start, &mut route).then_some(route)
}

/// The route of the innermost mapping entry or sequence item whose text holds `offset` (a key
/// counts as its entry's), not through aliases: where something reported at `offset` is, in
/// terms that survive lines inserted before it. Empty at the top level or outside the document.
pub fn route_at(tree: &Tree, offset: usize) -> Route {
    let mut route = Route::default();
    walk_at(tree, offset, |key, index| {
        route.0.push(match key {
            Some(key) => Segment::Key(key.to_string()),
            None => Segment::Index(index),
        })
    });
    route
}

/// A hash of [`route_at`] (equal routes hash alike), without building the route.
pub fn route_hash_at(tree: &Tree, offset: usize) -> u64 {
    use std::hash::Hasher;
    let mut hasher = rustc_hash::FxHasher::default();
    walk_at(tree, offset, |key, index| match key {
        Some(key) => {
            hasher.write_u8(0);
            hasher.write(key.as_bytes());
            hasher.write_u8(0xff);
        }
        None => {
            hasher.write_u8(1);
            hasher.write_usize(index);
        }
    });
    hasher.finish()
}

/// Visits the segments of [`route_at`]: a mapping key, or (`None`) a sequence index.
fn walk_at(tree: &Tree, offset: usize, mut visit: impl FnMut(Option<&str>, usize)) {
    let Some(mut id) = tree.root() else { return };
    loop {
        let next = match &tree.node(id).kind {
            NodeKind::Mapping { entries, .. } => {
                // The last entry starting at or before `offset`, if its value ends after it.
                let i = entries.partition_point(|e| tree.node(e.key).props_start <= offset);
                let found = i.checked_sub(1).map(|i| &entries[i]).filter(|e| {
                    let end = tree.node(e.value).span.end.max(tree.node(e.key).span.end);
                    offset <= end
                });
                found.and_then(|e| Some((tree.node(e.key).as_str()?, 0, e.value)))
            }
            NodeKind::Sequence { items, .. } => {
                let i = items.partition_point(|&item| tree.node(item).props_start <= offset);
                i.checked_sub(1).filter(|&i| offset <= tree.node(items[i]).span.end).map(|i| ("", i, items[i]))
            }
            _ => None,
        };
        match next {
            Some((key, index, child)) => {
                let is_item = matches!(tree.node(id).kind, NodeKind::Sequence { .. });
                visit((!is_item).then_some(key), index);
                id = child;
            }
            None => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_at_offsets() {
        let text = "a:\n  b: [x, y]\n  c:\n    - k: v\nd: 1\n";
        let tree = Tree::parse(text.to_string()).unwrap();
        let at = |needle: &str| route_at(&tree, text.find(needle).unwrap()).to_string();
        assert_eq!(at("b:"), "a.b");
        assert_eq!(at("y]"), "a.b.1");
        assert_eq!(at("k:"), "a.c.0.k");
        assert_eq!(at("c:"), "a.c");
        assert_eq!(at("d:"), "d");
        assert_eq!(route_at(&tree, 0).to_string(), "a");
        // The hash follows the route: equal where the route is, apart where it is not.
        let hash = |needle: &str| route_hash_at(&tree, text.find(needle).unwrap());
        assert_eq!(hash("b:"), hash("[x"));
        assert_ne!(hash("b:"), hash("c:"));
        assert_ne!(hash("x,"), hash("y]"));
    }

    #[test]
    fn routes_to_offsets() {
        let text = "a:\n  b: [x, y]\n  c:\n    - k: v\n";
        let tree = Tree::parse(text.to_string()).unwrap();
        assert_eq!(route_to(&tree, text.find('y').unwrap()), Some(Route::parse("a.b.1")));
        assert_eq!(route_to(&tree, text.find("v\n").unwrap()), Some(Route::parse("a.c.0.k")));
        assert_eq!(route_to(&tree, text.find("- k").unwrap()), Some(Route::parse("a.c")));
    }
}
