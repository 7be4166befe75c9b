//! Comment-preserving edits: symbolic operations (insert a key, replace a scalar or a node, append
//! an item) resolved on the current text, lowered to one byte-range splice, re-parsed before the
//! next. New lines are whole lines in the file's own style; every byte outside the splice stays.

use std::collections::HashMap;
use std::fmt;

use super::emit::{column, Fragment, Style};
use super::route::{resolve, Route};
use super::tree::{NodeId, NodeKind, Tree};

/// What to do at a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Add `key: value` to the mapping at the route (after the entry `after`, or at the end).
    InsertKey { key: String, value: String, after: Option<String> },
    /// Replace the scalar at the route with `value`, written exactly as given.
    ReplaceScalar { value: String },
    /// Add `value` as the last item of the sequence at the route.
    AppendItem { value: String },
    /// Replace the whole value at the route.
    ReplaceNode { value: String },
    /// Replace the mapping entry whose value is at the route with `key: value` (a renamed key and
    /// a single-line scalar), written where the entry's key and value were.
    ReplaceEntry { key: String, value: String },
    /// Merge a mapping into the mapping at the route: keys that exist are descended into when
    /// both sides are mappings and skipped when they already hold the same text; missing keys are
    /// inserted. A different existing value is a conflict.
    Merge { value: String },
}

/// An operation at a route. Values are YAML text written at column 0 in block style.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patch {
    pub route: Route,
    pub op: Op,
}

/// Why a patch was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchError {
    pub route: String,
    pub message: String,
}

impl fmt::Display for PatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.route.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "at `{}`: {}", self.route, self.message)
        }
    }
}

/// One splice of the text, computed on a parsed tree, and what it adds (so that splices of
/// different patches on the same tree can be checked for conflicts and applied together).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Splice {
    pub start: usize,
    pub end: usize,
    pub text: String,
    /// The collection node an entry is added to, and the key added (empty for an item).
    pub adds_to: Option<(NodeId, String)>,
    /// Nothing else may add to the same collection in the same batch (an empty flow collection).
    pub exclusive: bool,
    /// Column of the lines it inserts: of two insertions at one offset, the deeper goes first, so
    /// that a key added to an inner mapping stays inside it.
    pub depth: usize,
    /// The route whose value the splice creates or changes (set by [`splices`]).
    pub aims: Route,
}

impl Splice {
    /// Replaces `start..end` with `text` (an insertion when they are equal).
    pub fn new(start: usize, end: usize, text: String) -> Splice {
        Splice { start, end, text, adds_to: None, exclusive: false, depth: 0, aims: Route::default() }
    }

    /// The whole text of a new file: it conflicts with any other creation of the same file.
    pub fn new_file(text: String) -> Splice {
        Splice::new(0, 0, text).adding(NodeId::MAX, "", true)
    }

    fn adding(mut self, node: NodeId, key: &str, exclusive: bool) -> Splice {
        self.adds_to = Some((node, key.to_string()));
        self.exclusive = exclusive;
        self
    }
}

/// Applies one patch to a text; the result is re-parsed before it is returned.
pub fn apply(text: &str, patch: &Patch) -> Result<String, PatchError> {
    let fail = |message: String| PatchError { route: patch.route.to_string(), message };
    let tree = Tree::parse(text.to_string()).map_err(|e| fail(format!("the file does not parse: {e}")))?;
    let splices = splices(&tree, patch)?;
    let out = splice_text(text, &splices);
    Tree::parse(out.clone()).map_err(|e| fail(format!("internal error: the edit produced invalid YAML ({e})")))?;
    Ok(out)
}

/// Applies patches one after the other, each on the result of the previous.
pub fn apply_all(text: &str, patches: &[Patch]) -> Result<String, PatchError> {
    patches.iter().try_fold(text.to_string(), |current, patch| apply(&current, patch))
}

/// The splices a patch makes on the text `tree` was parsed from; the text is not changed.
pub fn splices(tree: &Tree, patch: &Patch) -> Result<Vec<Splice>, PatchError> {
    let fail = |message: String| PatchError { route: patch.route.to_string(), message };
    if let Op::Merge { value } = &patch.op {
        return merge_splices(tree, &patch.route, &fragment(value).map_err(fail)?);
    }
    let target = resolve(tree, &patch.route).map_err(|e| fail(e.to_string()))?;
    let style = tree.style();
    let splice = match &patch.op {
        Op::InsertKey { key, value, after } => {
            fragment(value).and_then(|value| insert_key(tree, target, key, &value, after.as_deref(), &style))
        }
        Op::ReplaceScalar { value } => replace_scalar(tree, target, value),
        Op::AppendItem { value } => append_item(tree, target, value, &style),
        Op::ReplaceNode { value } => replace_node(tree, target, value, &style),
        Op::ReplaceEntry { key, value } => replace_entry(tree, target, key, value),
        Op::Merge { .. } => unreachable!("handled above"),
    }
    .map_err(fail)?;
    let aims = match &patch.op {
        Op::InsertKey { key, .. } => patch.route.clone().key(key),
        // Two keys of the mapping change: the one that goes and the one that comes.
        Op::ReplaceEntry { .. } => Route(patch.route.0[..patch.route.0.len().saturating_sub(1)].to_vec()),
        _ => patch.route.clone(),
    };
    Ok(vec![Splice { aims, ..splice }])
}

/// Applies splices that do not conflict; insertions at one offset keep their order.
pub fn splice_text(text: &str, splices: &[Splice]) -> String {
    spliced(text, splices).0
}

/// [`splice_text`], and the edits it made to `text` (sorted, not overlapping; splices at one
/// place made one edit), for [`Tree::reparse`](super::tree::Tree::reparse).
pub fn spliced(text: &str, splices: &[Splice]) -> (String, Vec<super::TextEdit>) {
    let mut order: Vec<&Splice> = splices.iter().collect();
    order.sort_by_key(|s| (s.start, std::cmp::Reverse(s.depth)));
    let mut out = String::with_capacity(text.len() + splices.iter().map(|s| s.text.len()).sum::<usize>());
    let mut edits: Vec<super::TextEdit> = Vec::with_capacity(order.len());
    let mut at = 0;
    for s in order {
        let start = s.start.max(at);
        out.push_str(&text[at..start]);
        out.push_str(&s.text);
        let end = at.max(s.end);
        match edits.last_mut() {
            Some(last) if last.end == start => {
                last.end = end;
                last.len += s.text.len();
            }
            _ => edits.push(super::TextEdit { start, end, len: s.text.len() }),
        }
        at = end;
    }
    out.push_str(&text[at..]);
    (out, edits)
}

/// The splices of [`Op::Merge`] with a fragment already parsed (one fragment can be merged
/// into many places).
pub fn merge_splices(tree: &Tree, route: &Route, fragment: &Fragment) -> Result<Vec<Splice>, PatchError> {
    merge_splices_with(tree, route, fragment, &|_| false)
}

/// The splice of [`Op::InsertKey`] with the value already parsed: `key` added to the mapping at
/// `route` (after its last entry), aiming at `route.key`.
///
/// # Errors
/// The route does not lead to a mapping, or the key is there already.
pub fn insert_splices(tree: &Tree, route: &Route, key: &str, value: &Fragment) -> Result<Vec<Splice>, PatchError> {
    let fail = |message: String| PatchError { route: route.to_string(), message };
    let target = resolve(tree, route).map_err(|e| fail(e.to_string()))?;
    let splice = insert_key(tree, target, key, value, None, &tree.style()).map_err(fail)?;
    Ok(vec![Splice { aims: route.clone().key(key), ..splice }])
}

/// The splice of [`Op::ReplaceNode`] with the value already parsed.
///
/// # Errors
/// As [`splices`] gives them for the operation.
pub fn replace_splices(tree: &Tree, route: &Route, value: &Fragment) -> Result<Vec<Splice>, PatchError> {
    let fail = |message: String| PatchError { route: route.to_string(), message };
    let target = resolve(tree, route).map_err(|e| fail(e.to_string()))?;
    let splice = replace_node_with(tree, target, value, &tree.style()).map_err(fail)?;
    Ok(vec![Splice { aims: route.clone(), ..splice }])
}

/// [`merge_splices`], where a key a merge key (`<<`) gives the mapping is edited in the node that
/// gives it when `in_place` allows that node (every user of the anchor needs the same edit);
/// otherwise the mapping gets a local copy of it. Splices made in place aim at the route the key
/// has in the mapping merged into (`services.api.deploy…`), not at the anchor's own route.
pub fn merge_splices_with(
    tree: &Tree,
    route: &Route,
    fragment: &Fragment,
    in_place: &dyn Fn(NodeId) -> bool,
) -> Result<Vec<Splice>, PatchError> {
    let mut out = Vec::new();
    merge(tree, route, fragment, fragment.root_node(), &mut out, in_place)?;
    Ok(out)
}

/// Splices merging the fragment mapping `node` into the mapping at `route`: missing keys are
/// inserted whole, mappings on both sides are descended into, equal values are left alone.
fn merge(
    tree: &Tree,
    route: &Route,
    fragment: &Fragment,
    node: Option<NodeId>,
    out: &mut Vec<Splice>,
    in_place: &dyn Fn(NodeId) -> bool,
) -> Result<(), PatchError> {
    let fail = |message: String| PatchError { route: route.to_string(), message };
    let Some(node) = node else { return Ok(()) };
    let style = tree.style();
    if route.0.is_empty() && tree.root().is_none() {
        return append_document(tree, fragment, node, &style, out).map_err(fail);
    }
    let target = resolve(tree, route).map_err(|e| fail(e.to_string()))?;
    for (key, value) in fragment.entries(node).map_err(fail)? {
        let here = route.clone().key(&key);
        match tree.entry(target.node, &key) {
            None => match merged_value(tree, target.node, &key, 0) {
                // A merge key gives the key a value, and merge keys are shallow: a local key would
                // replace all of it. The local key starts as a copy of what the merge gave, and
                // the fragment merges into that.
                Some(given) => {
                    let given_node = tree.node(given);
                    let at = |message: String| PatchError { route: here.to_string(), message };
                    if let Some(splices) = merge_in_anchor(tree, given, fragment, value, &here, in_place) {
                        out.extend(splices);
                        continue;
                    }
                    if fragment.is_block_mapping(value) && matches!(given_node.kind, NodeKind::Mapping { .. }) {
                        let (base, aliases) = copied(tree, given).map_err(|m| {
                            at(format!("is given by a merge key (`<<`), and its value cannot be copied here: {m}"))
                        })?;
                        let base_tree = Tree::parse(base.clone()).map_err(|e| at(e.to_string()))?;
                        let mut inner = Vec::new();
                        merge(&base_tree, &Route::default(), fragment, Some(value), &mut inner, &|_| false).map_err(
                            |e| {
                                at(format!(
                                    "is given by a merge key (`<<`), and the fix does not merge into a copy of it: {}",
                                    e.message
                                ))
                            },
                        )?;
                        let local = Fragment::parse(&splice_text(&base, &inner)).map_err(|e| at(e.to_string()))?;
                        let mut splice = insert_key(tree, target, &key, &local, None, &style).map_err(fail)?;
                        // Last first: `…-1` is a prefix of `…-10`.
                        for (placeholder, alias) in aliases.iter().rev() {
                            splice.text = splice.text.replace(placeholder.as_str(), alias);
                        }
                        out.push(Splice { aims: here, ..splice });
                    } else if !same_value(tree, given, fragment, value) {
                        return Err(at("is given a different value by a merge key (`<<`); not overriding it".into()));
                    }
                }
                None => {
                    let value = fragment.entry_child(node, value);
                    let splice = insert_key(tree, target, &key, &value, None, &style).map_err(fail)?;
                    out.push(Splice { aims: here, ..splice });
                }
            },
            Some(existing) => {
                let existing_node = tree.node(existing.value);
                if let NodeKind::Alias { target: Some(target), .. } = existing_node.kind {
                    // An alias whose anchor every reader needs the same edit in: edit it there.
                    if let Some(splices) = merge_in_anchor(tree, target, fragment, value, &here, in_place) {
                        out.extend(splices);
                        continue;
                    }
                }
                if matches!(existing_node.kind, NodeKind::Alias { .. }) {
                    return Err(PatchError {
                        route: here.to_string(),
                        message: "is an alias: editing it would change every user of the anchor".into(),
                    });
                }
                if fragment.is_block_mapping(value)
                    && (matches!(existing_node.kind, NodeKind::Mapping { .. }) || existing_node.is_null())
                {
                    let mut inner = Vec::new();
                    match merge(tree, &here, fragment, Some(value), &mut inner, in_place) {
                        Ok(()) => out.extend(inner),
                        // A one-line flow mapping the block fragment cannot go into is rewritten in
                        // block style with the fragment merged in, every value as written.
                        Err(err) if existing_node.is_flow() => {
                            out.push(reblock(tree, existing, fragment, value, &here, &style).map_err(|_| err)?);
                        }
                        Err(err) => return Err(err),
                    }
                } else if !same_value(tree, existing.value, fragment, value) {
                    return Err(PatchError {
                        route: here.to_string(),
                        message: "already has a different value; not overwriting it".into(),
                    });
                }
            }
        }
    }
    Ok(())
}

/// The splices merging the fragment mapping `value` into the anchored block mapping `node` itself
/// (a merge key gives it, or an alias stands for it), when `in_place` allows that node; they aim
/// at `here`, the route the key has where it is read. `None` when it is not allowed or fails (the
/// caller copies instead, or refuses).
fn merge_in_anchor(
    tree: &Tree,
    node: NodeId,
    fragment: &Fragment,
    value: NodeId,
    here: &Route,
    in_place: &dyn Fn(NodeId) -> bool,
) -> Option<Vec<Splice>> {
    let anchored = tree.node(node);
    let block = matches!(anchored.kind, NodeKind::Mapping { .. }) && !anchored.is_flow();
    if !(fragment.is_block_mapping(value) && block && in_place(node)) {
        return None;
    }
    let at = super::route::route_to(tree, anchored.span.start)?;
    let mut inner = Vec::new();
    merge(tree, &at, fragment, Some(value), &mut inner, in_place).ok()?;
    Some(
        inner
            .into_iter()
            .map(|splice| {
                let mut aims = here.clone();
                aims.0.extend(splice.aims.0.get(at.0.len()..).unwrap_or_default().iter().cloned());
                Splice { aims, ..splice }
            })
            .collect(),
    )
}

/// Whether a node already holds the fragment's value: the same text, or the same scalar however
/// it is quoted (`driver: "json-file"` is `driver: json-file`).
fn same_value(tree: &Tree, existing: NodeId, fragment: &Fragment, value: NodeId) -> bool {
    if fragment.text_at_zero(value).trim() == tree.text_of(existing).trim() {
        return true;
    }
    let theirs = fragment.tree().node(value);
    let ours = tree.node(existing);
    match (&ours.kind, &theirs.kind) {
        (NodeKind::Scalar { value: a, .. }, NodeKind::Scalar { value: b, .. }) => {
            a == b && !ours.is_null() && !theirs.is_null()
        }
        _ => false,
    }
}

/// The node a merge key (`<<`) of the mapping `map` gives `key`, as YAML merges: the sources of
/// a list in order, each with its own keys before those its merge keys give.
pub fn merged_value(tree: &Tree, map: NodeId, key: &str, depth: usize) -> Option<NodeId> {
    if depth > 16 {
        return None;
    }
    for entry in tree.entries(map).iter().filter(|e| tree.is_merge_key(e.key)) {
        let source = tree.resolve(entry.value);
        let sources: Vec<NodeId> = match &tree.node(source).kind {
            NodeKind::Sequence { items, .. } => items.iter().map(|&i| tree.resolve(i)).collect(),
            _ => vec![source],
        };
        for source in sources {
            if let Some(found) = tree.entry(source, key) {
                return Some(tree.resolve(found.value));
            }
            if let Some(found) = merged_value(tree, source, key, depth + 1) {
                return Some(found);
            }
        }
    }
    None
}

/// The text of a block mapping moved to column 0 (or of a one-line flow one), to start a local
/// copy from (placed later in the document, where the merge key that gives it is). Refused when
/// it defines anchors (a copy would define one again, and later aliases would read the copy), an
/// alias in it could read a different node from the copy (an anchor of its name is defined again
/// after it), a merge key is inside (the fix merged into the copy would not see what it gives),
/// a plain or quoted scalar spans several lines, or a line is less indented than the mapping.
/// Aliases otherwise read the same node from the copy.
///
/// Aliases in the text stand as placeholders (a fragment does not parse with an alias whose
/// anchor it lacks), returned with the alias each stands for, to be put back in what is written.
fn copied(tree: &Tree, node: NodeId) -> Result<(String, Vec<(String, String)>), String> {
    let span = tree.node(node).span;
    // The aliases inside, in document order (nodes are numbered in document order, so what is
    // inside follows the node).
    let aliases: Vec<NodeId> = (node..tree.len())
        .take_while(|&id| tree.node(id).props_start <= span.end)
        .filter(|&id| matches!(tree.node(id).kind, NodeKind::Alias { .. }))
        .filter(|&id| span.start <= tree.node(id).span.start && tree.node(id).span.end <= span.end)
        .collect();
    // The last anchor of each name in the document (only needed when aliases are inside): an
    // alias reads the same node from a copy placed later exactly when the anchor it reads is
    // still the last of its name.
    let mut last_anchor: HashMap<&str, NodeId> = HashMap::new();
    if !aliases.is_empty() {
        for id in 0..tree.len() {
            if let Some(name) = tree.node(id).anchor() {
                last_anchor.insert(name, id);
            }
        }
    }
    let last = &last_anchor;
    fn copyable(tree: &Tree, id: NodeId, last: &HashMap<&str, NodeId>) -> bool {
        let node = tree.node(id);
        node.anchor().is_none()
            && match &node.kind {
                NodeKind::Alias { name, target } => target.is_some() && last.get(name.as_str()) == target.as_ref(),
                NodeKind::Mapping { entries, .. } => entries.iter().all(|e| copyable_entry(tree, e, last)),
                NodeKind::Sequence { items, .. } => items.iter().all(|&i| copyable(tree, i, last)),
                // A quoted or plain scalar over several lines is re-read by the fragment engine,
                // which does not keep its line breaks where they were.
                NodeKind::Scalar { style, .. } => {
                    matches!(style, super::tree::ScalarStyle::Literal | super::tree::ScalarStyle::Folded)
                        || !tree.text_of(id).contains(['\n', '\r'])
                }
            }
    }
    // A merge key inside is not copied: the fix merged into the copy would not see what it
    // gives, and a local key would hide it.
    fn copyable_entry(tree: &Tree, e: &super::tree::Entry, last: &HashMap<&str, NodeId>) -> bool {
        !tree.is_merge_key(e.key) && copyable(tree, e.key, last) && copyable(tree, e.value, last)
    }
    // The node's own anchor does not matter (its content is copied, the anchor stays where it
    // is); anything inside it does.
    let inside = match &tree.node(node).kind {
        NodeKind::Mapping { entries, .. } => entries.iter().all(|e| copyable_entry(tree, e, last)),
        _ => copyable(tree, node, last),
    };
    if !inside {
        return Err(
            "it defines anchors or merge keys, holds an alias whose anchor is defined again after it, or a plain \
             or quoted scalar over several lines"
                .into(),
        );
    }
    let text = tree.source.text();
    if tree.node(node).is_flow() {
        let written = &text[span.start..span.end];
        if written.contains(['\n', '\r']) {
            return Err("it is a flow mapping written over several lines".into());
        }
        if !aliases.is_empty() {
            return Err("it is a flow mapping holding aliases".into());
        }
        // Written in block style, so a block fragment can merge into the copy; every scalar and
        // flow sequence keeps its text.
        let mut block = String::new();
        let text = if flow_to_block(tree, node, 0, &mut block) { block } else { format!("{written}\n") };
        return Ok((text, Vec::new()));
    }
    let line_start = text[..span.start].rfind(['\n', '\r']).map_or(0, |i| i + 1);
    if !text[line_start..span.start].chars().all(|c| c == ' ') {
        return Err("it does not start on its own line".into());
    }
    const PLACEHOLDER: &str = "stackfix-alias-placeholder-";
    if text.contains(PLACEHOLDER) {
        return Err("it holds text stackfix uses to copy aliases".into());
    }
    let mut substituted = String::new();
    let mut placeholders = Vec::new();
    let mut from = line_start;
    for (i, &alias) in aliases.iter().enumerate() {
        let alias_span = tree.node(alias).span;
        let placeholder = format!("{PLACEHOLDER}{i}");
        substituted.push_str(&text[from..alias_span.start]);
        substituted.push_str(&placeholder);
        placeholders.push((placeholder, text[alias_span.start..alias_span.end].to_string()));
        from = alias_span.end;
    }
    substituted.push_str(&text[from..span.end]);
    let col = span.start - line_start;
    let mut out = String::new();
    for line in substituted.split('\n') {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            out.push('\n');
            continue;
        }
        let indent = line.len() - line.trim_start_matches(' ').len();
        if indent < col {
            return Err("a line in it is less indented than the mapping".into());
        }
        out.push_str(&line[col..]);
        out.push('\n');
    }
    Ok((out, placeholders))
}

/// The splice replacing the one-line flow mapping of `entry` with its block form, the fragment
/// mapping `value` merged into it.
fn reblock(
    tree: &Tree,
    entry: super::tree::Entry,
    fragment: &Fragment,
    value: NodeId,
    here: &Route,
    style: &Style,
) -> Result<Splice, String> {
    let written = tree.text_of(entry.value);
    if written.contains(['\n', '\r']) {
        return Err("written over several lines".into());
    }
    let mut base = String::new();
    if !flow_to_block(tree, entry.value, 0, &mut base) {
        return Err("not a mapping of plain keys".into());
    }
    let base_tree = Tree::parse(base.clone()).map_err(|e| e.to_string())?;
    let mut inner = Vec::new();
    merge(&base_tree, &Route::default(), fragment, Some(value), &mut inner, &|_| false).map_err(|e| e.message)?;
    let merged = splice_text(&base, &inner);
    let located = super::route::Located { node: entry.value, key: Some(entry.key) };
    let splice = replace_node(tree, located, &merged, style)?;
    Ok(Splice { aims: here.clone(), ..splice })
}

/// A one-line flow mapping as block lines at `indent`: its keys and scalar or flow-sequence
/// values as written, nested flow mappings as nested blocks. `false` (and `out` unusable) for an
/// empty mapping, or a key that is not a plain one-line scalar.
fn flow_to_block(tree: &Tree, id: NodeId, indent: usize, out: &mut String) -> bool {
    let NodeKind::Mapping { entries, .. } = &tree.node(id).kind else { return false };
    if entries.is_empty() {
        return false;
    }
    for entry in entries {
        let key = tree.node(entry.key);
        if !matches!(key.kind, NodeKind::Scalar { .. }) || key.is_null() {
            return false;
        }
        let pad = " ".repeat(indent);
        let value = tree.node(entry.value);
        match &value.kind {
            NodeKind::Mapping { entries: inner, .. } if !inner.is_empty() => {
                out.push_str(&format!("{pad}{}:\n", tree.text_of(entry.key)));
                if !flow_to_block(tree, entry.value, indent + 2, out) {
                    return false;
                }
            }
            _ if value.is_null() => out.push_str(&format!("{pad}{}:\n", tree.text_of(entry.key))),
            _ => out.push_str(&format!("{pad}{}: {}\n", tree.text_of(entry.key), tree.text_of(entry.value))),
        }
    }
    true
}

/// A document with no content yet (empty, or only comments) gets the fragment's entries after
/// its last line; nothing else may add to it in the same batch.
fn append_document(
    tree: &Tree,
    fragment: &Fragment,
    node: NodeId,
    style: &Style,
    out: &mut Vec<Splice>,
) -> Result<(), String> {
    let text = tree.source.text();
    let mut added = String::new();
    if !text.is_empty() && !text.ends_with('\n') {
        added.push_str(style.eol);
    }
    for (key, value) in fragment.entries(node)? {
        for line in fragment.entry_child(node, value).entry_lines(&key_text(&key), 0, style) {
            added.push_str(&line);
            added.push_str(style.eol);
        }
    }
    let splice = Splice::new(text.len(), text.len(), added).adding(NodeId::MAX, "", true);
    out.push(Splice { aims: Route::default(), ..splice });
    Ok(())
}

/// Whether a comment starts in `start..end` (a comment line, or one after an item's text).
fn has_comment(tree: &Tree, start: usize, end: usize) -> bool {
    let bytes = tree.source.text().as_bytes();
    let mut line = tree.source.line_index(start);
    loop {
        let from = tree.source.line_start(line).max(start);
        if from >= end {
            return false;
        }
        let code = crate::yaml::tree::code_end(bytes, from);
        if code < end && bytes.get(code) == Some(&b'#') {
            return true;
        }
        line += 1;
        if line >= tree.source.line_count() {
            return false;
        }
    }
}

fn fragment(value: &str) -> Result<Fragment, String> {
    Fragment::parse(value).map_err(|e| format!("the value is not valid YAML: {e}"))
}

/// `offset` moved back over trailing line breaks and spaces (a block scalar's span can end on
/// the line after its content).
fn trim_back_to_content(tree: &Tree, offset: usize) -> usize {
    tree.source.text()[..offset].trim_end().len()
}

/// Offset where the line holding `offset` ends (before its line break).
fn line_end(tree: &Tree, offset: usize) -> usize {
    tree.source.line_content_end(tree.source.line_index(offset))
}

/// Whole lines inserted after the line holding `offset`.
fn lines_after(tree: &Tree, offset: usize, lines: &[String], style: &Style) -> Splice {
    let at = line_end(tree, offset);
    let mut text = String::new();
    for line in lines {
        text.push_str(style.eol);
        text.push_str(line);
    }
    // Nesting decides the order of insertions at one offset: deeper first. A sequence item is
    // inside its key even when written at the key's column (`key:\n- item`).
    let depth = lines.first().map_or(0, |l| {
        let content = l.trim_start_matches(' ');
        2 * (l.len() - content.len()) + usize::from(content == "-" || content.starts_with("- "))
    });
    Splice { depth, ..Splice::new(at, at, text) }
}

/// The key as it must be written: plain when YAML reads it back unchanged, else single-quoted.
pub fn key_text(key: &str) -> String {
    let plain = !key.is_empty()
        && key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'))
        && !key.starts_with(['-', '.'])
        && !matches!(key, "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "~");
    if plain {
        key.to_string()
    } else if key.chars().any(char::is_control) {
        double_quoted(key)
    } else {
        format!("'{}'", key.replace('\'', "''"))
    }
}

/// A double-quoted YAML scalar that reads back as exactly `text`.
fn double_quoted(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn insert_key(
    tree: &Tree,
    target: super::route::Located,
    key: &str,
    value: &Fragment,
    after: Option<&str>,
    style: &Style,
) -> Result<Splice, String> {
    let node = tree.node(target.node);
    let key = key_text(key);
    let entries = tree.entries(target.node);
    if tree.entry(target.node, key.trim_matches('\'')).is_some() {
        return Err(format!("the key `{key}` already exists"));
    }
    let anchor = match after {
        Some(name) => Some(tree.entry(target.node, name).ok_or_else(|| format!("no key `{name}` to insert after"))?),
        None => entries.last().copied(),
    };
    match &node.kind {
        NodeKind::Mapping { flow: true, .. } => {
            if !value.is_inline() {
                return Err("the mapping is written in flow style (`{…}`) and the value is a block; refusing to rewrite the flow mapping".into());
            }
            let entry = format!("{key}: {}", value.inline_text());
            Ok(match anchor {
                Some(e) => {
                    let at = tree.node(e.value).span.end;
                    Splice::new(at, at, format!(", {entry}")).adding(target.node, &key, false)
                }
                None => Splice::new(node.span.start + 1, node.span.start + 1, entry).adding(target.node, &key, true),
            })
        }
        NodeKind::Mapping { flow: false, .. } => {
            let first = entries.first().ok_or("empty block mapping")?;
            let indent = column(&tree.source, tree.node(first.key).props_start);
            let at = anchor.map_or(node.span.end, |e| tree.node(e.value).span.end);
            Ok(lines_after(tree, at, &value.shared_entry_lines(&key, indent, style), style).adding(
                target.node,
                &key,
                false,
            ))
        }
        _ if node.is_null() && node.span.start == node.span.end => {
            let parent_key = target.key.ok_or("the document is empty")?;
            let indent = column(&tree.source, tree.node(parent_key).props_start) + style.unit;
            Ok(lines_after(tree, node.span.end, &value.shared_entry_lines(&key, indent, style), style).adding(
                target.node,
                &key,
                false,
            ))
        }
        _ => Err("not a mapping".into()),
    }
}

fn replace_scalar(tree: &Tree, target: super::route::Located, value: &str) -> Result<Splice, String> {
    let node = tree.node(target.node);
    if !matches!(node.kind, NodeKind::Scalar { .. }) {
        return Err("not a scalar".into());
    }
    let parsed = fragment(value)?;
    if !parsed.is_inline() || parsed.is_sequence() {
        return Err("the new value must be a single-line scalar".into());
    }
    let lead = if node.span.start == node.span.end { " " } else { "" };
    Ok(Splice::new(node.span.start, node.span.end, format!("{lead}{value}")))
}

fn replace_entry(tree: &Tree, target: super::route::Located, key: &str, value: &str) -> Result<Splice, String> {
    let key_node = tree.node(target.key.ok_or("not a mapping entry")?);
    let node = tree.node(target.node);
    if !matches!(key_node.kind, NodeKind::Scalar { .. }) || !matches!(node.kind, NodeKind::Scalar { .. }) {
        return Err("the entry's key and value must be scalars".into());
    }
    if key_node.props_start != key_node.span.start || node.props_start != node.span.start {
        return Err("the entry's key or value has an anchor or a tag".into());
    }
    let text = tree.source.text();
    let (start, end) = (key_node.span.start, node.span.end.max(key_node.span.end));
    if text[start..end].contains(['\n', '\r', '#']) {
        return Err("the entry spans several lines or holds a comment".into());
    }
    let parsed = fragment(value)?;
    if !parsed.is_inline() || parsed.is_sequence() {
        return Err("the new value must be a single-line scalar".into());
    }
    Ok(Splice::new(start, end, format!("{}: {value}", key_text(key))))
}

fn append_item(tree: &Tree, target: super::route::Located, value: &str, style: &Style) -> Result<Splice, String> {
    let node = tree.node(target.node);
    let value = fragment(value)?;
    match &node.kind {
        NodeKind::Sequence { flow: true, items } => {
            if !value.is_inline() {
                return Err("the sequence is written in flow style (`[…]`) and the value is a block; refusing to rewrite the flow sequence".into());
            }
            Ok(match items.last() {
                Some(&last) => {
                    let at = tree.node(last).span.end;
                    Splice::new(at, at, format!(", {}", value.inline_text())).adding(target.node, "", false)
                }
                None => Splice::new(node.span.start + 1, node.span.start + 1, value.inline_text().to_string()).adding(
                    target.node,
                    "",
                    true,
                ),
            })
        }
        NodeKind::Sequence { flow: false, .. } => {
            let indent = column(&tree.source, node.span.start);
            Ok(lines_after(tree, node.span.end, &value.item_lines(indent, style), style).adding(target.node, "", false))
        }
        _ if node.is_null() && node.span.start == node.span.end => {
            let parent_key = target.key.ok_or("the document is empty")?;
            let key_col = column(&tree.source, tree.node(parent_key).props_start);
            let indent = if style.indent_sequences { key_col + style.unit } else { key_col };
            Ok(lines_after(tree, node.span.end, &value.item_lines(indent, style), style).adding(target.node, "", false))
        }
        _ => Err("not a sequence".into()),
    }
}

fn replace_node(tree: &Tree, target: super::route::Located, value: &str, style: &Style) -> Result<Splice, String> {
    replace_node_with(tree, target, &fragment(value)?, style)
}

/// [`replace_node`] with the value already parsed.
fn replace_node_with(
    tree: &Tree,
    target: super::route::Located,
    value: &Fragment,
    style: &Style,
) -> Result<Splice, String> {
    let node = tree.node(target.node);
    // An anchored node keeps its anchor, so the aliases of it read the new value (the fix was
    // judged for every user of the anchor).
    if let Some(anchor) = node.anchor() {
        if !value.is_inline() {
            return Err(format!("the value is anchored as `&{anchor}`; refusing to replace it with a block"));
        }
        let props = &tree.source.text()[node.props_start..node.span.start];
        let tag = props.split_whitespace().find(|p| p.starts_with('!')).map(|t| format!("{t} ")).unwrap_or_default();
        return Ok(Splice::new(node.props_start, node.span.end, format!("&{anchor} {tag}{}", value.inline_text())));
    }
    let below_key = target
        .key
        .is_some_and(|key| tree.source.line_index(node.props_start) > tree.source.line_index(tree.node(key).span.end));
    if value.is_inline() && !below_key {
        let lead = if node.span.start == node.span.end { " " } else { "" };
        return Ok(Splice::new(node.props_start, node.span.end, format!("{lead}{}", value.inline_text())));
    }
    let Some(key) = target.key else {
        // A sequence item: the block continues at the item's column, after its `- `.
        let indent = column(&tree.source, node.props_start);
        let lines = value.block_lines(indent, style);
        let text = lines.join(style.eol);
        return Ok(Splice::new(node.props_start, node.span.end, text[indent.min(text.len())..].to_string()));
    };
    let key_node = tree.node(key);
    let key_col = column(&tree.source, key_node.props_start);
    let indent = if value.is_sequence() && !style.indent_sequences { key_col } else { key_col + style.unit };
    let key_line = tree.source.line_index(key_node.span.end);
    let start = if tree.source.line_index(node.props_start) == key_line {
        let colon =
            tree.source.text()[key_node.span.end..].find(':').map_or(key_node.span.end, |i| key_node.span.end + i + 1);
        colon
    } else {
        line_end(tree, key_node.span.end)
    };
    if value.is_block_scalar() && tree.source.line_index(node.props_start) == key_line {
        // `key: >` stays on the key's line, the content below it at the mapping's indentation.
        let lines = value.entry_lines("k", key_col, style);
        let mut text = lines[0].trim_start().strip_prefix("k:").unwrap_or_default().to_string();
        for line in &lines[1..] {
            text.push_str(style.eol);
            text.push_str(line);
        }
        let end = trim_back_to_content(tree, node.span.end);
        return Ok(Splice::new(start, end, text));
    }
    if has_comment(tree, start, node.span.end) {
        return Err("a comment sits inside the value; refusing to drop it".into());
    }
    if value.is_inline() {
        // A block value below its key becomes `key: value` on the key's line.
        let colon = tree.source.text()[key_node.span.end..].find(':').map_or(start, |i| key_node.span.end + i + 1);
        return Ok(Splice::new(colon, node.span.end, format!(" {}", value.inline_text())));
    }
    let mut text = String::new();
    for line in value.block_lines(indent, style) {
        text.push_str(style.eol);
        text.push_str(&line);
    }
    Ok(Splice::new(start, node.span.end, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str, route: &str, op: Op) -> Result<String, PatchError> {
        apply(text, &Patch { route: Route::parse(route), op })
    }

    #[test]
    fn an_entry_is_replaced_with_a_renamed_key() {
        let entry = |key: &str, value: &str| Op::ReplaceEntry { key: key.into(), value: value.into() };
        let text = "e:\n  A: x # keep\n  B: \"${B}\"\n";
        assert_eq!(
            run(text, "e.B", entry("B_FILE", "/run/secrets/b")).unwrap(),
            "e:\n  A: x # keep\n  B_FILE: /run/secrets/b\n"
        );
        assert_eq!(run("e: {A: 1, B: 2}\n", "e.A", entry("C", "3")).unwrap(), "e: {C: 3, B: 2}\n");
        assert_eq!(run("e:\n  A:\n", "e.A", entry("C", "3")).unwrap(), "e:\n  C: 3\n");
        // A value over several lines, or a comment inside the entry, is not rewritten.
        assert!(run("e:\n  A: |\n    x\n", "e.A", entry("C", "3")).is_err());
        assert!(run("e:\n  A: # c\n    x\n", "e.A", entry("C", "3")).is_err());
        assert!(run("e: [a]\n", "e.0", entry("C", "3")).is_err());
        let tree = Tree::parse(text.to_string()).unwrap();
        let made = splices(&tree, &Patch { route: Route::parse("e.B"), op: entry("B_FILE", "x") }).unwrap();
        assert_eq!(made[0].aims, Route::parse("e"));
    }

    #[test]
    fn an_item_appended_at_its_key_column_stays_in_its_sequence() {
        let text = "s:\n  a:\n  - x\n";
        let tree = Tree::parse(text.to_string()).unwrap();
        let mut all =
            splices(&tree, &Patch { route: Route::parse("s.a"), op: Op::AppendItem { value: "y".into() } }).unwrap();
        all.extend(splices(&tree, &Patch { route: Route::parse("s"), op: insert("b", "1") }).unwrap());
        all.reverse();
        assert_eq!(splice_text(text, &all), "s:\n  a:\n  - x\n  - y\n  b: 1\n");
    }

    #[test]
    fn a_comment_after_an_item_is_not_replaced_away() {
        let text = "s:\n  v:\n    - a # one\n    - b\n  w: 1\n";
        let err = run(text, "s.v", Op::ReplaceNode { value: "[]".into() }).unwrap_err();
        assert!(err.message.contains("comment"), "{err}");
        let quoted = "s:\n  v:\n    - \"a # not a comment\"\n    - b\n";
        assert_eq!(run(quoted, "s.v", Op::ReplaceNode { value: "[]".into() }).unwrap(), "s:\n  v: []\n");
    }

    #[test]
    fn a_block_value_replaced_by_an_inline_one_moves_to_its_key_line() {
        let text = "s:\n  v:\n    - a # one\n  w: 1\n";
        assert_eq!(run(text, "s.v", Op::ReplaceNode { value: "[]".into() }).unwrap(), "s:\n  v: [] # one\n  w: 1\n");
    }

    #[test]
    fn block_scalars_are_replaced_in_place() {
        let text = "s:\n  c: >\n    a\n    b\n  d: 1\n";
        let out = run(text, "s.c", Op::ReplaceNode { value: ">\n  a\n  b\n  x\n".into() }).unwrap();
        assert_eq!(out, "s:\n  c: >\n    a\n    b\n    x\n  d: 1\n");
    }

    fn insert(key: &str, value: &str) -> Op {
        Op::InsertKey { key: key.into(), value: value.into(), after: None }
    }

    #[test]
    fn tabs_inside_values_and_comments_between_keys_stay() {
        let text = "a:\n  b: \"x\\ty\"   # tab in a value\n  # between keys\n  c: 1\n";
        let out = run(text, "a", insert("d", "2")).unwrap();
        assert_eq!(out, "a:\n  b: \"x\\ty\"   # tab in a value\n  # between keys\n  c: 1\n  d: 2\n");
    }

    #[test]
    fn crlf_flow_sequence_append() {
        let out = run("x:\r\n  cmd: [a, b]\r\n", "x.cmd", Op::AppendItem { value: "c".into() }).unwrap();
        assert_eq!(out, "x:\r\n  cmd: [a, b, c]\r\n");
    }

    #[test]
    fn mapping_inside_a_sequence_item() {
        let text = "jobs:\n  - name: a\n    x: 1\n";
        assert_eq!(run(text, "jobs.0", insert("y", "2")).unwrap(), "jobs:\n  - name: a\n    x: 1\n    y: 2\n");
        let out = run(text, "jobs", Op::AppendItem { value: "name: b\nx: 2\n".into() }).unwrap();
        assert_eq!(out, "jobs:\n  - name: a\n    x: 1\n  - name: b\n    x: 2\n");
    }

    #[test]
    fn merge_descends_existing_keys_and_inserts_missing_ones() {
        let text = "services:\n  web:\n    image: x\n    deploy:\n      replicas: 2 # keep\n";
        let value = "services:\n  web:\n    deploy:\n      resources:\n        limits: {memory: 1G}\n    restart: always\n  db:\n    restart: always\n";
        let out = run(text, "", Op::Merge { value: value.into() }).unwrap();
        assert_eq!(
            out,
            "services:\n  web:\n    image: x\n    deploy:\n      replicas: 2 # keep\n      resources:\n        limits: {memory: 1G}\n    restart: always\n  db:\n    restart: always\n"
        );
        assert_eq!(run(&out, "", Op::Merge { value: value.into() }).unwrap(), out, "merging twice changes nothing");
        let conflict = run(text, "", Op::Merge { value: "services:\n  web:\n    image: y\n".into() }).unwrap_err();
        assert_eq!(conflict.route, "services.web.image");
        let alias = "x: &d {a: 1}\ns:\n  l: *d\n";
        assert!(run(alias, "", Op::Merge { value: "s:\n  l:\n    b: 2\n".into() })
            .unwrap_err()
            .message
            .contains("alias"));
    }

    #[test]
    fn insertions_at_one_offset_nest_correctly() {
        // `resources` goes into `deploy`, `logging` after it into the service: both at the end of
        // the same line.
        let text = "s:\n  w:\n    deploy:\n      mode: replicated\n";
        let tree = Tree::parse(text.to_string()).unwrap();
        let insert = |route: &str, key: &str, value: &str| {
            let op = Op::InsertKey { key: key.into(), value: value.into(), after: None };
            splices(&tree, &Patch { route: Route::parse(route), op }).unwrap()
        };
        let mut all = insert("s.w", "logging", "driver: local");
        all.extend(insert("s.w.deploy", "resources", "limits: {memory: 1G}"));
        assert_eq!(
            splice_text(text, &all),
            "s:\n  w:\n    deploy:\n      mode: replicated\n      resources:\n        limits: {memory: 1G}\n    logging:\n      driver: local\n"
        );
        assert_eq!(all[1].aims, Route::parse("s.w.deploy.resources"));
    }

    #[test]
    fn lone_cr_files_get_cr_lines() {
        assert_eq!(run("a:\r  b: 1\r", "a", insert("c", "2")).unwrap(), "a:\r  b: 1\r  c: 2\r");
    }

    #[test]
    fn refusals() {
        assert!(run("a:\n  b: 1\n", "a", insert("b", "2")).unwrap_err().message.contains("already exists"));
        assert!(run("a: x\n", "a", insert("b", "2")).unwrap_err().message.contains("not a mapping"));
        assert!(run("a: [1]\n", "a", Op::AppendItem { value: "k: v\nj: w\n".into() })
            .unwrap_err()
            .message
            .contains("flow"));
        let text = "a:\n  # keep\n  - x\n";
        assert!(run(text, "a", Op::ReplaceNode { value: "k: v\nj: w\n".into() })
            .unwrap_err()
            .message
            .contains("comment"));
        assert!(run("a: 1\n", "b", insert("c", "2")).unwrap_err().message.contains("does not exist"));
    }

    #[test]
    fn null_values_become_collections() {
        assert_eq!(run("a:\nb: 1\n", "a", Op::AppendItem { value: "x".into() }).unwrap(), "a:\n  - x\nb: 1\n");
        assert_eq!(run("a:\n", "a", Op::ReplaceScalar { value: "v".into() }).unwrap(), "a: v\n");
    }

    #[test]
    fn keys_that_yaml_would_misread_are_quoted() {
        assert_eq!(run("a:\n  b: 1\n", "a", insert("on", "x")).unwrap(), "a:\n  b: 1\n  'on': x\n");
        assert_eq!(run("a:\n  b: 1\n", "a", insert("k: v", "x")).unwrap(), "a:\n  b: 1\n  'k: v': x\n");
        let out = run("a:\n  b: 1\n", "a", insert("x\n\"y\"\t", "1")).unwrap();
        assert_eq!(out, "a:\n  b: 1\n  \"x\\n\\\"y\\\"\\t\": 1\n");
        let tree = Tree::parse(out).unwrap();
        let a = tree.entry(tree.root().unwrap(), "a").unwrap().value;
        assert!(tree.entry(a, "x\n\"y\"\t").is_some());
    }

    #[test]
    fn non_ascii_block_scalar_then_insert() {
        let text = "s:\n  w:\n    e: |\n      ünï ✓\n  z: 1\n";
        assert_eq!(run(text, "s.w", insert("r", "x")).unwrap(), "s:\n  w:\n    e: |\n      ünï ✓\n    r: x\n  z: 1\n");
    }
}
