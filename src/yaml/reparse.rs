//! Parsing a file again after edits by parsing only the entries the edits touch.
//!
//! A fix changes a few services of a compose file; parsing the whole file again after each pass
//! costs what the file holds, not what changed. [`Tree::reparse`] places each edit in the deepest
//! block mapping whose entries hold it (the document's, `services`, a service, a service's
//! `deploy`…): the run of entries it falls in, or the new entries it inserts between two, is
//! parsed alone, as a document indented as the run is. Every other node is taken from the old
//! tree, its offsets moved by what the edits before it added or removed. A run's aliases name
//! anchors defined before it: each is parsed after an entry that defines that anchor
//! (`x-stackfix-anchor-0: &name ~`), and then names the old node the anchor is on.
//!
//! The result is the tree [`Tree::parse`] makes of the new text, node for node (the tests compare
//! them, and test builds compare every reparsed tree with a whole parse). Whatever this cannot
//! show to be so is parsed whole: an anchor in a run (aliases after it may name it), an alias to
//! an anchor not defined before the run, text compose and yaml-rust2 read differently, a line
//! indented less than the run's keys, document markers, a flow collection's closer at the start
//! of a line, tabs in indentation, an edit before the first key of a mapping, an anchor or tag
//! written before one, an explicit key (`?`) anywhere, a run left without entries, edits that
//! overlap across levels, an edit after new last entries that the old text places deeper.
//!
//! New entries after a mapping's last entry may go before the blank lines and comments that
//! follow it, or at the end of a text without a final line break: they are parsed alone too.

use super::source::Source;
use super::tree::{build_nested, unusual_chars, Entry, Node, NodeId, NodeKind, ParseError, Tree, MAX_NODES};

/// One edit of a text: the bytes `start..end` of the old text replaced by `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextEdit {
    pub start: usize,
    pub end: usize,
    pub len: usize,
}

impl Tree {
    /// The tree of `text`, which is this tree's text with `edits` made (sorted by `start`, not
    /// overlapping, offsets in this tree's text): [`Tree::parse_within`] of `text`, parsing again
    /// only the entries the edits touch when it can tell the result is the same.
    ///
    /// # Errors
    /// As [`Tree::parse_within`]: `text` does not parse, or holds more than `max_nodes` nodes.
    pub fn reparse(&self, edits: &[TextEdit], text: String, max_nodes: usize) -> Result<Tree, ParseError> {
        let max_nodes = max_nodes.min(MAX_NODES);
        match incremental(self, edits, &text, max_nodes) {
            Some((nodes, root)) => {
                // Test builds check every such tree against a whole parse.
                #[cfg(debug_assertions)]
                match Tree::parse_within(text.clone(), max_nodes) {
                    Ok(whole) => {
                        assert!(whole.nodes == nodes && whole.root == root, "reparsed tree differs from a whole parse")
                    }
                    Err(e) => panic!("reparsed a text a whole parse refuses: {e:?}"),
                }
                Ok(Tree::from_parts(Source::new(text), nodes, root))
            }
            None => Tree::parse_within(text, max_nodes),
        }
    }
}

/// Where the entries of one block mapping start: the line of each key, and its column.
struct Units {
    mapping: NodeId,
    /// Collections around the mapping, itself included (the document's mapping is 1 deep).
    depth: usize,
    /// Start of the line each entry's key is on.
    lines: Vec<usize>,
    /// Where the first entry's key (its properties included) starts.
    first_key: usize,
    /// Where the last entry's text ends: the next line a key of an enclosing mapping starts, or
    /// the end of the text.
    end: usize,
    /// Where the lines after the last entry's content start, when only blank lines and comments
    /// follow it up to `end` (else `end`): new entries may be inserted anywhere from here to
    /// `end` without touching the last entry. Found when an edit falls after the last key.
    tail: std::cell::OnceCell<usize>,
    /// The last entry.
    last: Entry,
    /// Column (in bytes, spaces only) of every key.
    column: usize,
}

/// Where an edit goes in a mapping's entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// Within entries `first..=last`.
    Within(usize, usize),
    /// New entries before entry `k` (after the last when `k` is their count), inserted at an
    /// offset of the old text: where entry `k`'s line starts, or for new last entries, from where
    /// the last entry's content ends to where its text does.
    Between(usize, usize),
}

impl Units {
    /// The entries of block mapping `mapping` of `tree`, `depth` collections deep, when each key
    /// starts its own line after spaces, all in one column; `end` is where the last entry's
    /// text ends.
    fn of(tree: &Tree, mapping: NodeId, depth: usize, end: usize) -> Option<Units> {
        let NodeKind::Mapping { entries, flow: false } = &tree.node(mapping).kind else { return None };
        let bytes = tree.source.text().as_bytes();
        let mut lines = Vec::with_capacity(entries.len());
        let mut column = None;
        for entry in entries {
            let key = tree.node(entry.key).props_start;
            let line = tree.source.line_start(tree.source.line_index(key));
            if !bytes[line..key].iter().all(|&b| b == b' ') || *column.get_or_insert(key - line) != key - line {
                return None;
            }
            lines.push(line);
        }
        let first_key = tree.node(entries.first()?.key).props_start;
        let last = *entries.last()?;
        Some(Units { mapping, depth, lines, first_key, end, tail: Default::default(), last, column: column? })
    }

    /// Where entry `i`'s text ends: where the next one's line starts.
    fn end_of(&self, i: usize) -> usize {
        self.lines.get(i + 1).copied().unwrap_or(self.end)
    }

    /// Where `edit` goes, when it lies within the entries and leaves where the mapping starts
    /// alone; `indent` is the column of the first line an insertion writes.
    fn place(&self, tree: &Tree, edit: &TextEdit, indent: usize) -> Option<Place> {
        if edit.start < self.first_key || edit.end > self.end {
            return None;
        }
        if edit.start == edit.end {
            let boundary = match self.lines.binary_search(&edit.start) {
                Ok(k) => Some(k),
                Err(_) if edit.start == self.end => Some(self.lines.len()),
                // After the last entry's content, before blank lines and comments: new entries
                // when as indented as the keys (else as before).
                Err(k)
                    if k == self.lines.len()
                        && edit.start < self.end
                        && indent == self.column
                        && edit.start >= self.tail(tree) =>
                {
                    return Some(Place::Between(self.lines.len(), edit.start));
                }
                Err(_) => None,
            };
            if let Some(k) = boundary {
                return match indent.cmp(&self.column) {
                    std::cmp::Ordering::Equal => Some(Place::Between(k, edit.start)),
                    // Deeper: the end of the entry before.
                    std::cmp::Ordering::Greater => k.checked_sub(1).map(|k| Place::Within(k, k)),
                    std::cmp::Ordering::Less => None,
                };
            }
        }
        // Lines written less indented than the keys belong to a mapping around this one.
        if edit.start == edit.end && indent < self.column {
            return None;
        }
        let first = self.lines.partition_point(|&l| l <= edit.start).checked_sub(1)?;
        let last = self.lines.partition_point(|&l| l < edit.end.max(edit.start + 1)).checked_sub(1)?;
        Some(Place::Within(first, last.max(first)))
    }

    /// [`Units::tail`], found once.
    fn tail(&self, tree: &Tree) -> usize {
        *self.tail.get_or_init(|| tail(tree, &self.last, self.end))
    }

    /// Entry `i`'s value as units of its own, when it is a block mapping.
    fn inner(&self, tree: &Tree, i: usize) -> Option<Units> {
        let value = tree.entries(self.mapping)[i].value;
        if self.depth + 1 >= super::tree::MAX_DEPTH {
            return None;
        }
        Units::of(tree, value, self.depth + 1, self.end_of(i))
    }
}

/// A run of entries parsed again: `place` in the mapping of `units`.
struct Region {
    units: std::rc::Rc<Units>,
    place: Place,
    /// The mappings around it, outermost first (its own last).
    holders: Vec<NodeId>,
    /// Its text in the old file and in the new one.
    old: (usize, usize),
    new: (usize, usize),
    /// Its nodes in the old tree (ids `from..to`; empty for new entries).
    ids: (NodeId, NodeId),
    /// What the edits before it grew the text by, and what its own edits did (bytes).
    before: isize,
    grown: isize,
    /// Its nodes as parsed alone: a mapping (id 0) and the rest; spans in its text.
    nodes: Vec<Node>,
    /// Its aliases (index in `nodes`) and the old node each names.
    aliases: Vec<(usize, NodeId)>,
    /// New entries appended to a text without a final line break: a node the old text ends with
    /// (an empty scalar at its end) stays before them.
    appended: bool,
}

/// Whether `at` starts a line of `text` (or is its end).
fn line_start(text: &str, at: usize) -> bool {
    let bytes = text.as_bytes();
    match at {
        0 => true,
        _ if at == bytes.len() => true,
        _ if at > bytes.len() => false,
        _ => bytes[at - 1] == b'\n' || (bytes[at - 1] == b'\r' && bytes[at] != b'\n'),
    }
}

/// The column of the first line of `inserted` that holds more than spaces and a comment.
fn first_indent(inserted: &str) -> Option<usize> {
    inserted.split(['\n', '\r']).find_map(|line| {
        let content = line.trim_start_matches(' ');
        (!content.is_empty() && !content.starts_with('#')).then(|| line.len() - content.len())
    })
}

/// An edit placed: the mapping, where in it, the mappings around it (outermost first), what the
/// edits before it grew the text by, and what it grows it by.
type Placed = (std::rc::Rc<Units>, Place, Vec<NodeId>, isize, isize);

/// The new tree's nodes and root, when the edits can be parsed entry by entry.
fn incremental(old: &Tree, edits: &[TextEdit], new: &str, max_nodes: usize) -> Option<(Vec<Node>, Option<NodeId>)> {
    use std::rc::Rc;
    let text = old.source.text();
    let mut at = 0;
    let mut size = text.len() as isize;
    for e in edits {
        if e.start < at || e.end < e.start || e.end > text.len() {
            return None;
        }
        at = e.end;
        size += e.len as isize - (e.end - e.start) as isize;
    }
    if size != new.len() as isize {
        return None;
    }
    if text.len() == new.len() && text == new {
        return Some((old.nodes.clone(), old.root));
    }
    // Document markers after the first key, and lone CR line breaks (read alike only in part),
    // are left to a whole parse.
    if [text, new].iter().any(|t| markers_or_lone_cr(t) || explicit_keys(t)) {
        return None;
    }
    let edits = split_at_dedents(&slid(edits, text, new), text, new);
    let root = old.root?;
    // A block scalar without content, or one that keeps its trailing line breaks (`|+`), has a
    // span that reaches over the lines after it, wherever they are edited: parsed whole.
    if old.nodes.iter().any(|n| reaches_on(text, n)) {
        return None;
    }
    let top = Rc::new(Units::of(old, root, 1, text.len())?);
    let mut known: std::collections::HashMap<NodeId, Option<Rc<Units>>> = std::collections::HashMap::new();
    // Each edit placed in the deepest mapping that holds it; then the places merged.
    let mut delta: isize = 0;
    let mut placed: Vec<Placed> = Vec::new();
    for e in edits.iter().filter(|e| e.start != e.end || e.len != 0) {
        let new_start = shift(e.start, delta)?;
        let inserted = new.get(new_start..new_start + e.len)?;
        // Lines inserted at a line start are placed by their indentation; text inserted within a
        // line, or of comments only, stays with what is around it.
        let indent = match e.start == e.end && line_start(text, e.start) {
            true => first_indent(inserted).unwrap_or(usize::MAX),
            false => usize::MAX,
        };
        let grown = e.len as isize - (e.end - e.start) as isize;
        let mut units = top.clone();
        let mut holders = vec![root];
        let mut place = units.place(old, e, indent)?;
        while let Place::Within(i, j) = place {
            if i != j {
                break;
            }
            let value = old.entries(units.mapping)[i].value;
            let inner = known.entry(value).or_insert_with(|| units.inner(old, i).map(Rc::new)).clone();
            let Some(inner) = inner else { break };
            let Some(deeper) = inner.place(old, e, indent) else { break };
            holders.push(value);
            units = inner;
            place = deeper;
        }
        placed.push((units, place, holders, delta, grown));
        delta += grown;
    }
    // Edits in the same entries of one mapping make one region; a region that holds others
    // (a mapping's entry, and edits deeper in it) takes them in.
    let mut regions: Vec<Region> = Vec::new();
    'edits: for (units, place, holders, before, grown) in placed {
        let (mut before, mut grown) = (before, grown);
        let (mut units, mut place, mut holders) = (units, place, holders);
        loop {
            let (old_range, _) = span_of(old, &units, place)?;
            let Some(last) = regions.last_mut() else { break };
            let same = Rc::ptr_eq(&last.units, &units);
            if let (true, Place::Within(f, l), Place::Within(f2, l2)) = (same, last.place, place) {
                if f2 <= l + 1 && old_range.0 < last.old.1 {
                    last.place = Place::Within(f.min(f2), l.max(l2));
                    last.grown += grown;
                    (last.old, last.ids) = span_of(old, &last.units, last.place)?;
                    continue 'edits;
                }
            }
            // New entries right after a run in a deeper mapping of the entry before them (a
            // service edited, then a new service after it): that entry is parsed again with them.
            // So are new entries among the blank lines and comments after that entry, when the run
            // reaches the end of its text.
            if let Place::Between(k, _) = place {
                let in_tail = k == units.lines.len() && last.old.1 == units.end && old_range.0 < units.end;
                let after_last = old_range.0 == old_range.1 && (old_range.0 == last.old.1 || in_tail);
                if after_last && last.units.depth > units.depth && k > 0 && units.lines[k - 1] <= last.old.0 {
                    place = Place::Within(k - 1, k - 1);
                    continue;
                }
            }
            // Two insertions at one offset placed in different mappings: which text ends up in
            // which mapping depends on both (parsed whole).
            if last.old.0 == last.old.1 && old_range.0 == old_range.1 && last.old.0 == old_range.0 && !same {
                return None;
            }
            if last.old.1 <= old_range.0 && !(last.old.0 == last.old.1 && last.old.1 == old_range.0 && same) {
                break;
            }
            if last.old.0 <= old_range.0 && old_range.1 <= last.old.1 && matches!(last.place, Place::Within(..)) {
                // Within the region before: made with it.
                last.grown += grown;
                place = last.place;
                units = last.units.clone();
                holders = last.holders.clone();
                before = last.before;
                grown = last.grown;
                regions.pop();
                continue;
            }
            if old_range.0 <= last.old.0 && last.old.1 <= old_range.1 && matches!(place, Place::Within(..)) {
                // It holds the region before.
                before = last.before;
                grown += last.grown;
                regions.pop();
                continue;
            }
            return None;
        }
        let (old_range, ids) = span_of(old, &units, place)?;
        regions.push(Region {
            units,
            place,
            holders,
            old: old_range,
            new: (0, 0),
            ids,
            before,
            grown,
            nodes: Vec::new(),
            aliases: Vec::new(),
            appended: false,
        });
    }
    for region in &mut regions {
        region.new = (shift(region.old.0, region.before)?, shift(region.old.1, region.before + region.grown)?);
    }
    for w in regions.windows(2) {
        if w[1].old.0 < w[0].old.1 || w[1].new.0 < w[0].new.1 {
            return None;
        }
    }
    // New entries put before a mapping's blank lines and comments come before what an edit
    // after them inserts: one placed deeper (in the last entry, as the old text reads) would be
    // in them instead (parsed whole).
    for (k, r) in regions.iter().enumerate() {
        if let Place::Between(_, at) = r.place {
            let end = r.units.end;
            if at < end && regions[k + 1..].iter().any(|n| n.old.0 <= end && n.units.depth > r.units.depth) {
                return None;
            }
        }
    }
    // Every anchored node of the old tree, in document order.
    let anchors: Vec<(NodeId, &str)> =
        old.nodes.iter().enumerate().filter_map(|(id, n)| n.anchor().map(|a| (id, a))).collect();
    // Each run parses alone: on the thread pool when there are many (a fix of every service).
    let runs: Vec<Run> = regions
        .iter()
        .map(|r| Run { old: r.old, new: r.new, ids: r.ids, column: r.units.column, depth: r.units.depth })
        .collect();
    // Runs are prepared each on its own; the text of each distinct one parsed once (a fix made
    // alike in many services inserts the same lines into each).
    let prepared: Vec<Option<Prepared<'_>>> = runs.iter().map(|run| prepare_run(old, new, &anchors, run)).collect();
    let mut first_of: rustc_hash::FxHashMap<(&str, &[&str], usize, usize), usize> = Default::default();
    let mut shapes: Vec<(&str, &[&str], usize, usize)> = Vec::new();
    let mut uses: Vec<usize> = Vec::new();
    let shape_of: Vec<Option<usize>> = prepared
        .iter()
        .map(|p| {
            let p = p.as_ref()?;
            let shape = (p.text, p.names.as_slice(), p.column, p.depth);
            let at = *first_of.entry(shape).or_insert_with(|| {
                shapes.push(shape);
                uses.push(0);
                shapes.len() - 1
            });
            uses[at] += 1;
            Some(at)
        })
        .collect();
    let parse = |&(text, names, column, depth): &(&str, &[&str], usize, usize)| {
        parse_alone(text, names, column, depth, max_nodes)
    };
    let mut parsed: Vec<Option<Alone>> = if shapes.len() >= PARALLEL_RUNS {
        use rayon::prelude::*;
        shapes.par_iter().with_min_len(PARALLEL_RUNS / 2).map(parse).collect()
    } else {
        shapes.iter().map(parse).collect()
    };
    // The last run of a text takes its nodes; the others a copy, made first (in parallel when
    // there are many: a fix made alike in thousands of services).
    let takes: Vec<bool> = shape_of
        .iter()
        .map(|shape| {
            shape.is_some_and(|shape| {
                uses[shape] -= 1;
                uses[shape] == 0
            })
        })
        .collect();
    let copy = |(shape, takes): (&Option<usize>, &bool)| match (shape, takes) {
        (Some(shape), false) => parsed[*shape].clone(),
        _ => None,
    };
    let mut copies: Vec<Option<Alone>> = match takes.iter().filter(|t| !**t).count() >= PARALLEL_RUNS {
        true => {
            use rayon::prelude::*;
            shape_of.par_iter().zip(&takes).with_min_len(PARALLEL_RUNS / 2).map(copy).collect()
        }
        false => shape_of.iter().zip(&takes).map(copy).collect(),
    };
    let parsed: Vec<Option<Parsed>> = prepared
        .into_iter()
        .zip(shape_of)
        .zip(takes)
        .zip(&mut copies)
        .map(|(((p, shape), takes), copy)| {
            let (p, shape) = (p?, shape?);
            let (aliases, nodes) = match takes {
                true => parsed[shape].take()?,
                false => copy.take()?,
            };
            let aliases = aliases.into_iter().map(|(at, k)| (at, p.defined[k])).collect();
            Some((p.appended, aliases, nodes))
        })
        .collect();
    for (region, parsed) in regions.iter_mut().zip(parsed) {
        (region.appended, region.aliases, region.nodes) = parsed?;
    }
    assemble(old, &mut regions, max_nodes)
}

/// Runs of at least this many make the parsing of each one a task on the thread pool.
const PARALLEL_RUNS: usize = 32;

/// A run parsed alone: whether it appends to a text without a final line break, its aliases
/// (index in its nodes, and the old node each names) and its nodes; `None` when it cannot be
/// shown to parse as in the whole text (see the module's documentation).
type Parsed = (bool, Vec<(usize, NodeId)>, Vec<Node>);

/// What parsing a [`Region`] alone reads of it.
struct Run {
    old: (usize, usize),
    new: (usize, usize),
    ids: (NodeId, NodeId),
    /// The column of its mapping's keys, and how many collections deep that mapping is.
    column: usize,
    depth: usize,
}

/// A run ready to be parsed alone: whether it appends to a text without a final line break,
/// its text, the names of the anchors defined before it that its aliases name (and the old node
/// of each), its mapping's column and depth.
struct Prepared<'a> {
    appended: bool,
    text: &'a str,
    names: Vec<&'a str>,
    defined: Vec<NodeId>,
    column: usize,
    depth: usize,
}

/// A run's text parsed alone: its aliases (index in its nodes, and which of the names it was
/// given each names) and its nodes.
type Alone = (Vec<(usize, usize)>, Vec<Node>);

/// Run `run` of `new`, ready to be parsed alone; `anchors` are the old tree's anchored nodes in
/// document order. `None` when what is around it in the old tree cannot be shown to read as in
/// the whole text (see the module's documentation).
fn prepare_run<'a>(old: &Tree, new: &'a str, anchors: &[(NodeId, &'a str)], run: &Run) -> Option<Prepared<'a>> {
    let text = old.source.text();
    // A run starts a line; so do new entries appended to a text without a final line break
    // (their text starts with the break the old text lacks).
    let appended = run.old.0 == text.len() && new[run.new.0..].starts_with(['\n', '\r']);
    if !line_start(text, run.old.0)
        || !line_start(text, run.old.1)
        || !(line_start(new, run.new.0) || appended)
        || !line_start(new, run.new.1)
    {
        return None;
    }
    // A node whose span or value depends on the lines after it (a block scalar; an empty
    // scalar with an anchor or tag, whose properties may run on) must not sit just before a
    // run, nor end one.
    if run.ids.0.checked_sub(1).is_none_or(|before| reads_on(&old.nodes[before])) {
        return None;
    }
    // Anchors in the run could be named after it: parsed whole.
    if old.nodes[run.ids.0..run.ids.1].iter().any(|n| n.anchor().is_some()) {
        return None;
    }
    let region_text = new.get(run.new.0..run.new.1)?;
    // The anchors its aliases may name, defined before it.
    let (names, defined) = alias_names(region_text)
        .into_iter()
        .filter_map(|name| {
            let at = anchors.partition_point(|&(id, _)| id < run.ids.0);
            anchors[..at].iter().rev().find(|(_, n)| *n == name).map(|&(id, n)| (n, id))
        })
        .unzip();
    Some(Prepared { appended, text: region_text, names, defined, column: run.column, depth: run.depth })
}

/// A run's text (`region_text`, its mapping's keys in `column`, that mapping `depth`
/// collections deep) parsed alone, its aliases naming the anchors `names` (defined before it);
/// `None` when it cannot be shown to parse as in the whole text.
fn parse_alone(region_text: &str, names: &[&str], column: usize, depth: usize, max_nodes: usize) -> Option<Alone> {
    // Text elsewhere is as the last parse accepted it.
    if !matches!(unusual_chars(region_text), Ok(breaks) if breaks.is_empty()) {
        return None;
    }
    if !plain_lines(region_text, column) {
        return None;
    }
    // An entry for each anchor ahead of its text (`name: &name ~`), so that it parses alone;
    // its aliases then name the anchors' nodes.
    let indent = " ".repeat(column);
    let mut prelude = String::new();
    for (k, name) in names.iter().enumerate() {
        prelude.push_str(&format!("{indent}x-stackfix-anchor-{k}: &{name} ~\n"));
    }
    let source = Source::new(format!("{prelude}{region_text}"));
    let (mut nodes, region_root) = build_nested(&source, max_nodes, depth - 1)?;
    // Properties before the run's first key would be the mapping's (an anchor or tag the
    // old mapping does not have): parsed whole.
    if region_root != Some(0) || nodes[0].props.is_some() {
        return None;
    }
    let given = 2 * names.len();
    if nodes.iter().skip(given + 1).any(|n| n.anchor().is_some()) {
        return None;
    }
    let NodeKind::Mapping { entries: parsed, flow: false } = &mut nodes[0].kind else { return None };
    if parsed.len() <= names.len() {
        return None;
    }
    parsed.drain(..names.len());
    // Every entry parsed is an entry of the mapping: its key in the mapping's column.
    let NodeKind::Mapping { entries: parsed, .. } = &nodes[0].kind else { return None };
    let keys_in_column = parsed.iter().all(|e| {
        let key = nodes[e.key].props_start;
        let line = source.line_start(source.line_index(key));
        key - line == column && source.text().as_bytes()[line..key].iter().all(|&b| b == b' ')
    });
    if !keys_in_column {
        return None;
    }
    // Without the entries ahead: ids and offsets as if the run had been parsed alone, and
    // each alias naming the old node its anchor is on (`aliases`).
    let mut own: Vec<Node> = Vec::with_capacity(nodes.len() - given);
    let mut aliases: Vec<(usize, usize)> = Vec::new();
    let back = prelude.len();
    for (i, mut node) in nodes.into_iter().enumerate() {
        if (1..=given).contains(&i) {
            continue;
        }
        if i > 0 {
            node.span.start = node.span.start.checked_sub(back)?;
            node.span.end = node.span.end.checked_sub(back)?;
            node.props_start = node.props_start.checked_sub(back)?;
        }
        let renumber = |id: NodeId| id.checked_sub(given).filter(|&id| id > 0);
        match &mut node.kind {
            NodeKind::Mapping { entries, .. } => {
                for e in entries.iter_mut() {
                    *e = Entry { key: renumber(e.key)?, value: renumber(e.value)? };
                }
            }
            NodeKind::Sequence { items, .. } => {
                for item in items.iter_mut() {
                    *item = renumber(*item)?;
                }
            }
            NodeKind::Alias { target, .. } => {
                // The value of entry k ahead is node 2k + 2.
                let k = target.and_then(|t| t.checked_sub(2)).filter(|t| t % 2 == 0 && t / 2 < names.len())?;
                aliases.push((own.len(), k / 2));
                *target = None;
            }
            NodeKind::Scalar { .. } => {}
        }
        own.push(node);
    }
    // A block scalar without content takes its indentation from a later line: its span may
    // reach past the run.
    let empty_block = |n: &Node| matches!(&n.kind, NodeKind::Scalar { value, style: super::tree::ScalarStyle::Literal | super::tree::ScalarStyle::Folded } if value.is_empty());
    if own.len() > 1 && (own.last().is_some_and(reads_on) || own.iter().any(empty_block)) {
        return None;
    }
    Some((aliases, own))
}

/// `edits` with each insertion that starts with the line break it is made before moved past
/// that break: the same new text, the insertion then starting a line (`key: 1|\n` + `\n  b: 2`
/// is `key: 1\n|` + `  b: 2\n`).
fn slid(edits: &[TextEdit], old: &str, new: &str) -> Vec<TextEdit> {
    let (old_bytes, new_bytes) = (old.as_bytes(), new.as_bytes());
    let mut out: Vec<TextEdit> = Vec::with_capacity(edits.len());
    let mut delta: isize = 0;
    for (i, e) in edits.iter().enumerate() {
        let mut e = *e;
        let limit = edits.get(i + 1).map_or(old.len(), |next| next.start);
        if e.start == e.end && e.len > 0 {
            let mut at = (e.start as isize + delta) as usize;
            while e.start < limit
                && !line_start(old, e.start)
                && matches!(old_bytes[e.start], b'\n' | b'\r')
                && new_bytes.get(at) == Some(&old_bytes[e.start])
            {
                e.start += 1;
                e.end += 1;
                at += 1;
            }
        }
        delta += e.len as isize - (e.end - e.start) as isize;
        out.push(e);
    }
    out
}

/// `edits` with each insertion of whole lines made at a line start split before every line less
/// indented than the lines before it, each part an insertion at the same offset: lines for the
/// end of one entry and new entries after it (`    restart: always\n  backup:\n ...`) are placed
/// each in its own mapping.
fn split_at_dedents(edits: &[TextEdit], old: &str, new: &str) -> Vec<TextEdit> {
    let mut out = Vec::with_capacity(edits.len());
    let mut delta: isize = 0;
    for e in edits {
        let at = e.start as isize + delta;
        delta += e.len as isize - (e.end - e.start) as isize;
        let inserted = usize::try_from(at).ok().and_then(|at| new.get(at..at + e.len));
        let Some(inserted) = inserted.filter(|i| e.start == e.end && i.ends_with('\n') && line_start(old, e.start))
        else {
            out.push(*e);
            continue;
        };
        let (mut part_start, mut indent, mut line_at) = (0, None::<usize>, 0);
        for line in inserted.split_inclusive('\n') {
            let content = line.trim_start_matches(' ');
            if !content.trim_end().is_empty() && !content.starts_with('#') {
                let column = line.len() - content.len();
                match indent {
                    Some(i) if column < i => {
                        out.push(TextEdit { start: e.start, end: e.start, len: line_at - part_start });
                        part_start = line_at;
                        indent = Some(column);
                    }
                    Some(_) => {}
                    None => indent = Some(column),
                }
            }
            line_at += line.len();
        }
        out.push(TextEdit { start: e.start, end: e.start, len: inserted.len() - part_start });
    }
    out
}

/// The old text and node ids of `place` in the mapping of `units`.
fn span_of(old: &Tree, units: &Units, place: Place) -> Option<((usize, usize), (NodeId, NodeId))> {
    let entries = old.entries(units.mapping);
    Some(match place {
        Place::Within(first, last) => (
            (units.lines[first], units.end_of(last)),
            (entries.get(first)?.key, subtree_end(old, entries.get(last)?.value)),
        ),
        Place::Between(k, at) => {
            let id = match entries.get(k) {
                Some(e) => e.key,
                None => subtree_end(old, entries.last()?.value),
            };
            ((at, at), (id, id))
        }
    })
}

/// Whether `node` (of a tree of `text`) is a block scalar whose span may reach over lines after
/// its own: one without content (its indentation comes from a later line), or one with the keep
/// chomping indicator (`|+`, `>2+`: the blank lines after it are its value).
fn reaches_on(text: &str, node: &Node) -> bool {
    use super::tree::ScalarStyle::{Folded, Literal};
    let NodeKind::Scalar { value, style: Literal | Folded } = &node.kind else { return false };
    let header = text.get(node.span.start..).and_then(|t| t.lines().next()).unwrap_or("");
    let header = header.split(" #").next().unwrap_or(header);
    value.is_empty() || header.contains('+')
}

/// Whether `node`'s span or value depends on the lines after it: a block scalar (its chomping
/// and indentation), or an empty scalar with properties (scanned past line ends).
fn reads_on(node: &Node) -> bool {
    match &node.kind {
        NodeKind::Scalar { style: super::tree::ScalarStyle::Literal | super::tree::ScalarStyle::Folded, .. } => true,
        NodeKind::Scalar { value, .. } => value.is_empty() && node.props_start != node.span.start,
        _ => false,
    }
}

/// Whether `text` has a document marker (`---`, `...`) at a line start after its first line
/// of content, or a CR not followed by LF.
fn markers_or_lone_cr(text: &str) -> bool {
    let bytes = text.as_bytes();
    let lone_cr = memchr::memchr_iter(b'\r', bytes).any(|i| bytes.get(i + 1) != Some(&b'\n'));
    lone_cr || text.contains("\n...") || text.contains("\n---")
}

/// Whether `text` may have an explicit key (`? key` in block style, whose key can start the next
/// line): a `?` after only spaces, tabs and `-` on its line, followed by a blank or a line end.
/// Where the key and its entry start is read differently: parsed whole.
fn explicit_keys(text: &str) -> bool {
    let bytes = text.as_bytes();
    memchr::memchr_iter(b'?', bytes).any(|at| {
        let line = bytes[..at].iter().rposition(|&b| b == b'\n' || b == b'\r').map_or(0, |i| i + 1);
        let lead = bytes[line..at].iter().all(|&b| matches!(b, b' ' | b'\t' | b'-'));
        lead && bytes.get(at + 1).is_none_or(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
    })
}

/// The names `text` may use as aliases (`*name` after a space, a flow indicator or a line
/// start), each once.
fn alias_names(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut names: Vec<&str> = Vec::new();
    for i in memchr::memchr_iter(b'*', bytes) {
        if i > 0 && !matches!(bytes[i - 1], b' ' | b'\t' | b'\n' | b'\r' | b'[' | b'{' | b',') {
            continue;
        }
        let end = bytes[i + 1..]
            .iter()
            .position(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b',' | b'[' | b']' | b'{' | b'}'))
            .map_or(bytes.len(), |n| i + 1 + n);
        if let Some(name) = text.get(i + 1..end).filter(|n| !n.is_empty()) {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    names
}

/// `offset` moved by `delta`.
fn shift(offset: usize, delta: isize) -> Option<usize> {
    usize::try_from(offset as isize + delta).ok()
}

/// Whether every line of a run's text is one the run can be parsed alone with: blank, a comment,
/// or indented with spaces at least to the keys' `column`, without document markers or a flow
/// collection's closer starting it; and the first line with content starts a key in `column` (a
/// deeper line first, left over by an edit that removed the key above it, reads on from the
/// entry before the run).
fn plain_lines(text: &str, column: usize) -> bool {
    let mut first = true;
    text.split(['\n', '\r']).all(|line| {
        let content = line.trim_start_matches(' ');
        let indent = line.len() - content.len();
        if content.is_empty() || content.starts_with('#') {
            return true;
        }
        if content.starts_with(['\t', ']', '}']) || indent < column || (first && indent != column) {
            return false;
        }
        first = false;
        !(indent == 0 && (content.starts_with("---") || content.starts_with("...") || content.starts_with('%')))
    })
}

/// Where the lines after `last`'s content start (a mapping's last entry, whose text ends at
/// `end`), when from there to `end` there are only blank lines and comments; else `end`. Its
/// content ends where its last scalar, alias or flow collection does; a block scalar (whose
/// content may look like comments) or a block collection's end (yaml-rust2 places it at the
/// next token) is not relied on.
fn tail(tree: &Tree, last: &Entry, end: usize) -> usize {
    let text = tree.source.text();
    let mut content_end = 0;
    for node in &tree.nodes[last.key..subtree_end(tree, last.value)] {
        match &node.kind {
            NodeKind::Scalar {
                style: super::tree::ScalarStyle::Literal | super::tree::ScalarStyle::Folded, ..
            } => return end,
            NodeKind::Scalar { .. } | NodeKind::Alias { .. } | NodeKind::Mapping { flow: true, .. } => {}
            NodeKind::Sequence { flow: true, .. } => {}
            NodeKind::Mapping { .. } | NodeKind::Sequence { .. } => continue,
        }
        content_end = content_end.max(node.span.end);
    }
    let Some(rest) = text.get(content_end..end) else { return end };
    // The start of the line after the one the content ends on.
    let Some(newline) = rest.find('\n') else { return end };
    let tail = content_end + newline + 1;
    let quiet = text[tail..end].split_inclusive('\n').all(|line| {
        let content = line.trim_start_matches([' ', '\t']);
        content.trim_end_matches(['\n', '\r']).is_empty() || content.starts_with('#')
    });
    if quiet && tail < end {
        tail
    } else {
        end
    }
}

/// One past the last node id of the subtree at `id` (nodes are numbered in document order,
/// parents first).
fn subtree_end(tree: &Tree, mut id: NodeId) -> NodeId {
    loop {
        let next = match &tree.node(id).kind {
            NodeKind::Mapping { entries, .. } => entries.last().map(|e| e.value),
            NodeKind::Sequence { items, .. } => items.last().copied(),
            _ => None,
        };
        match next {
            Some(child) => id = child,
            None => return id + 1,
        }
    }
}

/// The old nodes around the regions, moved, and each region's nodes in their place.
fn assemble(old: &Tree, regions: &mut [Region], max_nodes: usize) -> Option<(Vec<Node>, Option<NodeId>)> {
    // Each region's nodes, moved into the new tree after its mapping (node 0), whose entries
    // are read when the mapping holding the region is copied.
    let mut bodies: Vec<Vec<Node>> = regions.iter_mut().map(|r| std::mem::take(&mut r.nodes)).collect();
    // Every region parsed to its mapping at least (see `parse_alone`); anything else is parsed whole.
    if bodies.iter().any(Vec::is_empty) {
        return None;
    }
    let firsts: Vec<Vec<Entry>> = bodies
        .iter_mut()
        .map(|b| match b.first_mut().map(|n| &mut n.kind) {
            Some(NodeKind::Mapping { entries, .. }) => std::mem::take(entries),
            _ => Vec::new(),
        })
        .collect();
    let regions = &*regions;
    // After region k: how many more nodes and bytes there are than before it.
    let mut id_shift: Vec<isize> = Vec::with_capacity(regions.len());
    let mut byte_shift: Vec<isize> = Vec::with_capacity(regions.len());
    let (mut ids, mut bytes) = (0isize, 0isize);
    for (r, body) in regions.iter().zip(&bodies) {
        ids += (body.len() - 1) as isize - (r.ids.1 - r.ids.0) as isize;
        bytes += (r.new.1 - r.new.0) as isize - (r.old.1 - r.old.0) as isize;
        id_shift.push(ids);
        byte_shift.push(bytes);
    }
    let total = old.nodes.len() as isize + ids;
    if total < 1 || total as usize > max_nodes {
        return None;
    }
    // Regions whose old ids are empty (new entries) sit at their id: one at `id` comes before the
    // node `id`.
    // Each takes a `hint`: the region the answer most likely is before (nodes are copied in
    // document order, and most of what a node names is in the same gap between regions).
    let map_id = |id: NodeId, hint: usize| -> Option<NodeId> {
        let before = partition_near(regions, hint, |r| r.ids.1 <= id && (r.ids.0 < r.ids.1 || r.ids.0 <= id));
        if regions.get(before).is_some_and(|r| r.ids.0 <= id && id < r.ids.1) {
            return None;
        }
        shift(id, before.checked_sub(1).map_or(0, |k| id_shift[k]))
    };
    // An old offset outside every region (or inside one, before its edits), in the new text:
    // where a node starts (text inserted there comes before it) and where one ends (text
    // inserted there comes after it).
    let moved = |at: usize, regions_before: usize| -> usize {
        shift(at, regions_before.checked_sub(1).map_or(0, |k| byte_shift[k])).unwrap_or(at)
    };
    let map_start = |at: usize, hint: usize| {
        moved(at, partition_near(regions, hint, |r| r.old.1 < at || (r.old.1 == at && !r.appended)))
    };
    let map_end = |at: usize, hint: usize| {
        moved(at, partition_near(regions, hint, |r| r.old.1 < at || (r.old.0 < r.old.1 && r.old.1 <= at)))
    };
    // Where region k's parsed nodes (after their own mapping) start in the new tree.
    let region_base =
        |k: usize| -> Option<NodeId> { shift(regions[k].ids.0, k.checked_sub(1).map_or(0, |j| id_shift[j])) };
    // The regions of each mapping, in order.
    let mut of_mapping: rustc_hash::FxHashMap<NodeId, Vec<usize>> = Default::default();
    for (k, r) in regions.iter().enumerate() {
        of_mapping.entry(r.units.mapping).or_default().push(k);
    }
    let parsed_entries = |k: usize| -> Option<Vec<Entry>> {
        let base = region_base(k)?;
        let entries = &firsts[k];
        Some(entries.iter().map(|e| Entry { key: base + e.key - 1, value: base + e.value - 1 }).collect())
    };
    let mut nodes: Vec<Node> = Vec::with_capacity(total as usize);
    let copy = |node: &Node, nodes: &mut Vec<Node>, old_id: NodeId, hint: usize| -> Option<()> {
        let mut node = node.clone();
        node.span.start = map_start(node.span.start, hint);
        node.span.end = map_end(node.span.end, hint);
        node.props_start = map_start(node.props_start, hint);
        match &mut node.kind {
            NodeKind::Mapping { entries, .. } => match of_mapping.get(&old_id) {
                Some(own) => {
                    let mut out: Vec<Entry> = Vec::with_capacity(entries.len());
                    let mut own = own.iter().copied().peekable();
                    let mut i = 0;
                    while i <= entries.len() {
                        match own.peek().map(|&k| (k, regions[k].place)) {
                            Some((k, Place::Between(at, _))) if at == i => {
                                out.extend(parsed_entries(k)?);
                                own.next();
                                continue;
                            }
                            Some((k, Place::Within(first, last))) if first == i => {
                                out.extend(parsed_entries(k)?);
                                own.next();
                                i = last + 1;
                                continue;
                            }
                            _ => {}
                        }
                        if let Some(e) = entries.get(i) {
                            out.push(Entry { key: map_id(e.key, hint)?, value: map_id(e.value, hint)? });
                        }
                        i += 1;
                    }
                    if own.next().is_some() {
                        return None;
                    }
                    *entries = out;
                }
                None => {
                    for e in entries.iter_mut() {
                        *e = Entry { key: map_id(e.key, hint)?, value: map_id(e.value, hint)? };
                    }
                }
            },
            NodeKind::Sequence { items, .. } => {
                for item in items.iter_mut() {
                    *item = map_id(*item, hint)?;
                }
            }
            NodeKind::Alias { target, .. } => {
                if let Some(t) = target {
                    *t = map_id(*t, hint)?;
                }
            }
            NodeKind::Scalar { .. } => {}
        }
        nodes.push(node);
        Some(())
    };
    let mut next = 0;
    for (k, r) in regions.iter().enumerate() {
        for id in next..r.ids.0 {
            copy(&old.nodes[id], &mut nodes, id, k)?;
        }
        let base = region_base(k)?;
        if base != nodes.len() {
            return None;
        }
        for mut node in std::mem::take(&mut bodies[k]).into_iter().skip(1) {
            node.span.start += r.new.0;
            node.span.end += r.new.0;
            node.props_start += r.new.0;
            match &mut node.kind {
                NodeKind::Mapping { entries, .. } => {
                    for e in entries.iter_mut() {
                        *e = Entry { key: base + e.key - 1, value: base + e.value - 1 };
                    }
                }
                NodeKind::Sequence { items, .. } => {
                    for item in items.iter_mut() {
                        *item = base + *item - 1;
                    }
                }
                NodeKind::Alias { .. } => {}
                NodeKind::Scalar { .. } => {}
            }
            nodes.push(node);
        }
        for &(at, anchor) in &r.aliases {
            let target = map_id(anchor, k)?;
            let NodeKind::Alias { target: t, .. } = &mut nodes[base + at - 1].kind else { return None };
            *t = Some(target);
        }
        next = r.ids.1;
    }
    for id in next..old.nodes.len() {
        copy(&old.nodes[id], &mut nodes, id, regions.len())?;
    }
    // A block mapping ends where its last value does: every mapping around a region, deepest
    // first.
    let mut holders: Vec<(usize, NodeId)> =
        regions.iter().flat_map(|r| r.holders.iter().enumerate().map(|(depth, &id)| (depth, id))).collect();
    holders.sort_unstable_by(|a, b| b.cmp(a));
    holders.dedup();
    // It starts at its first key (its own properties before), and ends where its last value does.
    for (_, holder) in holders {
        let was = old.node(holder);
        let holder = map_id(holder, 0)?;
        let NodeKind::Mapping { entries, .. } = &nodes[holder].kind else { return None };
        let first = &nodes[entries.first()?.key];
        // A mapping with an anchor or tag whose first key has one too: where its span starts
        // is read differently (parsed whole).
        if was.props_start != was.span.start && first.props_start != first.span.start {
            return None;
        }
        let start = first.props_start;
        let end = nodes[entries.last()?.value].span.end;
        let node = &mut nodes[holder];
        node.span.start = start;
        if was.props_start == was.span.start {
            node.props_start = start;
        }
        node.span.end = end.max(start);
    }
    Some((nodes, Some(map_id(old.root?, 0)?)))
}

/// `slice.partition_point(pred)` (`pred` true for a prefix of `slice`), answered without a
/// search when it is `hint`.
fn partition_near<T>(slice: &[T], hint: usize, pred: impl Fn(&T) -> bool) -> usize {
    let hint = hint.min(slice.len());
    if (hint == 0 || pred(&slice[hint - 1])) && slice.get(hint).is_none_or(|x| !pred(x)) {
        return hint;
    }
    slice.partition_point(pred)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Edits `text` with `(start, end, replacement)` splices and reparses: the tree must be the one
    /// a whole parse makes.
    fn check(text: &str, splices: &[(usize, usize, &str)]) -> bool {
        let old = Tree::parse(text.to_string()).expect("parses");
        let mut new = String::new();
        let mut at = 0;
        let mut edits = Vec::new();
        for &(start, end, with) in splices {
            new.push_str(&text[at..start]);
            new.push_str(with);
            at = end;
            edits.push(TextEdit { start, end, len: with.len() });
        }
        new.push_str(&text[at..]);
        let whole = Tree::parse(new.clone());
        let incremental = incremental(&old, &edits, &new, MAX_NODES);
        let again = old.reparse(&edits, new, MAX_NODES);
        match (whole, again) {
            (Ok(whole), Ok(again)) => {
                assert_eq!(whole.nodes, again.nodes, "{splices:?}");
                assert_eq!(whole.root, again.root);
            }
            (Err(a), Err(b)) => assert_eq!(a, b),
            (a, b) => panic!("whole {a:?} vs reparsed {b:?}"),
        }
        incremental.is_some()
    }

    const STACK: &str = "x-logging: &log\n  driver: json-file\n\nservices:\n  api:\n    image: nginx:1.27\n    ports:\n      - \"80:80\"\n  # the database\n  db:\n    image: postgres:16\n    environment:\n      POSTGRES_DB: app\n\n  cache:\n    image: redis:7\n    logging: *log\nvolumes:\n  data: {}\n";

    fn at(text: &str, needle: &str) -> usize {
        text.find(needle).expect("needle")
    }

    #[test]
    fn an_edit_in_one_service_parses_that_service_only() {
        let p = at(STACK, "    ports:");
        assert!(check(STACK, &[(p, p, "    restart: unless-stopped\n")]));
        let v = at(STACK, "postgres:16");
        assert!(check(STACK, &[(v, v + "postgres:16".len(), "postgres:16.4-alpine")]));
        // Two edits in one service, one in a mapping of it: one run.
        let e = at(STACK, "      POSTGRES_DB");
        assert!(check(STACK, &[(v, v + "postgres:16".len(), "postgres:17"), (e, e, "      PGPORT: \"5433\"\n")]));
        let c = at(STACK, "  cache:");
        assert!(check(STACK, &[(v, v, "docker.io/"), (c, c, "    init: true\n")]));
    }

    #[test]
    fn a_run_with_aliases_names_the_anchors_before_it() {
        let c = at(STACK, "    image: redis:7");
        assert!(check(STACK, &[(c, c, "    restart: always\n")]));
        let text = "x-app: &app\n  restart: always\nx-env: &env\n  A: 1\nservices:\n  web:\n    <<: *app\n    environment: *env\n    image: a:1\n  worker:\n    <<: [*app]\n    image: b:1\n";
        let w = at(text, "    image: a:1");
        let k = at(text, "    image: b:1");
        assert!(check(text, &[(w, w, "    init: true\n"), (k, k, "    labels: {x: *app}\n")]));
    }

    #[test]
    fn the_same_lines_inserted_in_many_places_are_parsed_once_and_placed_in_each() {
        // Two anchors of one name: an alias names the last one defined before it, so the same
        // inserted text names a different node in each service.
        let mut text = String::from("x-a: &log\n  driver: json-file\nservices:\n");
        for i in 0..40 {
            if i == 20 {
                text.push_str("  mid:\n    logging: &log\n      driver: local\n");
            }
            text.push_str(&format!("  s{i}:\n    image: app:{i}\n"));
        }
        let inserted = "    logging: *log\n    restart: always\n    deploy:\n      resources: {limits: {memory: 1G}}\n";
        let mut splices = Vec::new();
        for i in 0..40 {
            let end = at(&text, &format!("    image: app:{i}\n")) + format!("    image: app:{i}\n").len();
            splices.push((end, end, inserted));
        }
        // More runs than are parsed on the thread pool one by one, with a single text among them.
        assert!(splices.len() >= PARALLEL_RUNS);
        assert!(check(&text, &splices));
        // Each run's alias names the anchor before it, not the one of the run parsed first.
        let old = Tree::parse(text.clone()).unwrap();
        let edits: Vec<TextEdit> =
            splices.iter().map(|&(s, e, t)| TextEdit { start: s, end: e, len: t.len() }).collect();
        let new = splice_all(&text, &splices);
        let tree = old.reparse(&edits, new.clone(), MAX_NODES).unwrap();
        let targets: Vec<&str> = tree
            .nodes
            .iter()
            .filter_map(|n| match n.kind {
                NodeKind::Alias { target: Some(t), .. } => Some(&new[tree.nodes[t].span.start..tree.nodes[t].span.end]),
                _ => None,
            })
            .collect();
        assert_eq!(targets.len(), 40);
        assert!(targets[..20].iter().all(|t| t.contains("json-file")), "{targets:?}");
        assert!(targets[20..].iter().all(|t| t.contains("local")), "{targets:?}");
    }

    fn splice_all(text: &str, splices: &[(usize, usize, &str)]) -> String {
        let mut new = String::new();
        let mut at = 0;
        for &(start, end, with) in splices {
            new.push_str(&text[at..start]);
            new.push_str(with);
            at = end;
        }
        new.push_str(&text[at..]);
        new
    }

    #[test]
    fn edits_in_several_services_and_new_entries() {
        let p = at(STACK, "  # the database");
        let d = at(STACK, "      POSTGRES_DB");
        let end = at(STACK, "  cache:");
        assert!(check(
            STACK,
            &[
                (p, p, "    deploy:\n      resources:\n        limits: {memory: 256M}\n"),
                (d, d, "      PGDATA: /data\n"),
                (end, end, "  exporter:\n    image: prom/exporter:1\n"),
            ]
        ));
        // A service edited (a value, keys added at its end and deeper) and a new service right
        // after it: that service is parsed again with the new one.
        let i = at(STACK, "postgres:16");
        assert!(check(
            STACK,
            &[
                (i, i + "postgres:16".len(), "postgres:17"),
                (d, d, "      PGDATA: /data\n"),
                (end, end, "    init: true\n"),
                (end, end, "  db-backup:\n    image: backup:1\n"),
            ]
        ));
        assert!(check(STACK, &[(d, d, "      PGDATA: /data\n"), (end, end, "  db-backup:\n    image: backup:1\n")]));
        // The same written as one insertion (`fix` joins splices at one offset).
        let both = "      PGDATA: /data\n    init: true\n  # its backups\n  db-backup:\n    image: backup:1\n";
        assert!(check(STACK, &[(end, end, both)]));
        assert!(check(STACK, &[(i, i + "postgres:16".len(), "postgres:17"), (end, end, both)]));
        let e = at(STACK, "      POSTGRES_DB: app\n") + "      POSTGRES_DB: app\n".len();
        assert!(check(STACK, &[(e, e, "      PGDATA: /data\n"), (end, end, "  db-backup:\n    image: backup:1\n")]));
        // The other way round (the new service first, then lines for the one before it) is
        // read by both: parsed whole.
        assert!(!check(STACK, &[(end, end, "  db-backup:\n    image: backup:1\n"), (end, end, "    init: true\n")]));
        // A new top-level key at the end of the file.
        assert!(check(STACK, &[(STACK.len(), STACK.len(), "networks:\n  edge: {}\n")]));
    }

    #[test]
    fn new_last_entries_before_blank_lines_and_comments_leave_the_last_entry_alone() {
        // The service's last entry holds an anchor: parsed again, it would make the run whole.
        let text = "services:\n  db:\n    image: postgres:16\n    environment: &env\n      POSTGRES_DB: app\n\n  # the cache\n\n  cache:\n    image: redis:7\n    environment: *env\n";
        let after = at(text, "\n\n  # the cache") + 1;
        assert!(check(text, &[(after, after, "    restart: always\n")]));
        // After the blank line, or the comment: still new entries of `db`.
        let comment = at(text, "  # the cache");
        assert!(check(text, &[(comment, comment, "    restart: always\n")]));
        let cache = at(text, "  cache:");
        assert!(check(text, &[(cache, cache, "    restart: always\n")]));
        // As indented as the keys of the last entry's mapping: a new entry of that mapping.
        assert!(check(text, &[(after, after, "      PGDATA: /data\n")]));
        // Deeper than any key there: the last entry of `environment` is parsed again with it.
        assert!(check(text, &[(after, after, "        more\n")]));
        // A block scalar's lines after a blank line are its content, `#` included: the last
        // entry is parsed again with the new one (which ends the scalar there).
        let script =
            "services:\n  job:\n    command: |\n      run\n\n      # still the script\n  web:\n    image: nginx\n";
        let blank = at(script, "\n\n      # still") + 1;
        assert!(check(script, &[(blank, blank, "    init: true\n")]));
        // After it (its chomping reads the lines after it): parsed whole.
        let last = at(script, "  web:");
        assert!(!check(script, &[(last, last, "    init: true\n")]));
        // A block sequence last: its end is where its last item's text does.
        let list =
            "services:\n  api:\n    image: a\n    networks:\n      - front\n      - back\n\n  web:\n    image: b\n";
        let end = at(list, "\n\n  web:") + 1;
        assert!(check(list, &[(end, end, "    logging:\n      driver: local\n")]));
        assert!(check(
            list,
            &[(end, end, "    logging:\n      driver: local\n"), (at(list, "b\n"), at(list, "b\n") + 1, "c")]
        ));
        let crlf = list.replace('\n', "\r\n");
        let end = at(&crlf, "\r\n\r\n  web:") + 2;
        assert!(check(&crlf, &[(end, end, "    init: true\r\n")]));
    }

    /// Found by review: new entries put before a mapping's blank lines or comments, with an
    /// insertion after those lines (which the old text places deeper, in the last entry, and the
    /// new text in the new entries): read as a whole parse reads it.
    #[test]
    fn new_entries_before_blank_lines_then_an_insertion_after_them() {
        // `x: {y: 2}` in a whole parse.
        assert!(!check("a:\n  b: 1\n\n", &[(10, 10, "x:\n"), (11, 11, "  y: 2\n")]));
        let text = "services:\n  web:\n    image: nginx\n\n# end\n";
        let (tail, end) = (at(text, "\n# end") + 1, text.len());
        assert!(!check(text, &[(tail, tail, "  cache:\n    image: redis\n"), (end, end, "    init: true\n")]));
        // What a whole parse refuses is refused.
        assert!(!check("a:\n  b: 1\n  c: 2\n# c\n", &[(17, 17, "y: 2\n"), (21, 21, "  x: {a: 1}\n")]));
        // A value edited in the last service and a new service after it (as `fix` writes them):
        // that service is parsed again with the new one.
        let i = at(text, "nginx");
        assert!(check(text, &[(i, i + 5, "nginx:1.27"), (tail, tail, "  cache:\n    image: redis\n")]));
    }

    /// An anchor or tag written before a mapping's first key by an edit is the mapping's:
    /// parsed whole.
    #[test]
    fn properties_before_a_first_key_are_the_mappings() {
        assert!(!check("a:\r\n  b:\r\n  # c\r\nz: 1\r\n", &[(0, 2, "&a "), (4, 6, "y: 2\n")]));
        assert!(!check("services:\n  web:\n    image: x\n", &[(0, 0, "&root\n")]));
    }

    /// An explicit key (`? key`, the key maybe on the next line): parsed whole.
    #[test]
    fn explicit_keys_are_parsed_whole() {
        assert!(!check("a:\n  ?\n    b\n  # c\nz: 1\n", &[(13, 13, "    x: 1\n")]));
        assert!(!check("a:\n  ? b\n  : 1\nz: 1\n", &[(17, 17, "y: 2\n")]));
        // A `?` elsewhere is text.
        let text = "services:\n  web:\n    command: [\"a?\", \"?\"]\n    image: x\n";
        let i = at(text, "image: x") + "image: ".len();
        assert!(check(text, &[(i, i + 1, "nginx")]));
    }

    #[test]
    fn new_entries_appended_to_a_text_without_a_final_line_break() {
        for text in [
            "services:\n  a:\n    image: x\nvolumes:\n  d1:\n  d2:",
            "services:\n  a:\n    image: x\nvolumes:\n  d1:\n  d2: {}",
            "services:\n  a:\n    image: x\n  b:\n    image: y",
            "services:\r\n  a:\r\n    image: x\r\nvolumes:\r\n  d1:\r\n  d2:",
        ] {
            let end = text.len();
            let br = if text.contains('\r') { "\r\n" } else { "\n" };
            for appended in [format!("{br}  d3:"), format!("{br}  d3:{br}"), format!("{br}x-new: 1{br}")] {
                assert!(check(text, &[(end, end, &appended)]), "{text:?} + {appended:?}");
            }
            // Deeper: the value of the last entry (parsed again with it), or what does not
            // parse, reported as a whole parse reports it.
            check(text, &[(end, end, &format!("{br}    init: true{br}"))]);
            // With an edit before it.
            let x = at(text, "image: x") + "image: ".len();
            assert!(check(text, &[(x, x + 1, "nginx:1.27"), (end, end, &format!("{br}  d3:{br}"))]));
        }
        // After a block scalar (its chomping reads what follows): parsed whole, alike.
        let script = "services:\n  a:\n    command: |\n      run";
        assert!(!check(script, &[(script.len(), script.len(), "\n    init: true\n")]));
    }

    #[test]
    fn what_cannot_be_shown_the_same_is_parsed_whole() {
        // An alias to an anchor that is not defined before the run (compose would refuse it).
        let c = at(STACK, "    image: redis:7");
        assert!(!check(STACK, &[(c, c, "    labels: *nowhere\n")]));
        // An anchor in a run that aliases after it name.
        let x = at(STACK, "  driver: json-file");
        assert!(!check(STACK, &[(x, x, "  max-size: 10m\n")]));
        // A line less indented than the run's keys.
        let p = at(STACK, "    ports:");
        assert!(!check(STACK, &[(p, p, "other: 1\n")]));
        // A document marker, a tab, a new anchor.
        assert!(!check(STACK, &[(p, p, "---\n")]));
        assert!(!check(STACK, &[(p, p, "    x: &a 1\n")]));
        // An edit that breaks the YAML is reported as a whole parse reports it.
        assert!(!check(STACK, &[(p, p, "    bad: [\n")]));
    }

    #[test]
    fn an_edit_before_a_mappings_first_key_or_across_levels() {
        let stack = STACK.replace("    logging: *log\n", "");
        let stack = stack.as_str();
        // Before the first service's key: the services entry is parsed again.
        let a = at(stack, "  api:");
        assert!(check(stack, &[(a, a, "  web:\n    image: caddy:2\n")]));
        // On the `services:` line itself, and in a service.
        let s = at(stack, "services:") + "services:".len();
        let p = at(stack, "    ports:");
        assert!(check(stack, &[(s, s, " # ours"), (p, p, "    init: true\n")]));
        // Every byte before the first top-level key is left alone, or the file is parsed whole.
        assert!(!check(stack, &[(0, 0, "# header\n")]));
        // An edit across two services, and one that removes a whole service.
        let d = at(stack, "    image: postgres");
        let c = at(stack, "    image: redis");
        assert!(check(stack, &[(d, c, "    image: mariadb:11\n  cache:\n")]));
        // A service removed whole leaves its run empty: parsed whole.
        let db = at(stack, "  db:");
        assert!(!check(stack, &[(db, at(stack, "  cache:"), "")]));
    }

    /// Divergences a generated probe of ten million edits found (each read alike by both now).
    #[test]
    fn keep_chomping_tags_on_anchored_mappings_and_left_over_lines() {
        // An empty or keep-chomping block scalar reaches over the lines after it.
        let t = "services:\n  db:\n    command: >+\n  cache:\n    image: r\n";
        let c = at(t, "  cache:");
        assert!(!check(t, &[(c, c, "  backup:\n    image: b\n")]));
        let t = "services:\n  db:\n    command: |+\n  cache:\n    image: r\n";
        let c = at(t, "  cache:");
        assert!(!check(t, &[(c, c, "\n"), (c, c, "  backup:\n    image: b\n")]));
        let t = "services:\n  db:\n    image: x\n    command: |+\n      run\n  cache:\n    image: r\n";
        let (s, c) = (at(t, "      run\n"), at(t, "  cache:"));
        assert!(!check(t, &[(s, c, "\n"), (c, c, "  backup:\n    image: b\n")]));
        check(" svc0:\n       k1: |+\n\n svc3:\n", &[(21, 21, "\n       n39: a\n")]);
        // A tag on the first key of an anchored mapping.
        check("x-a: &a\n  restart: always\nservices:\n  db:\n    <<: *a\n", &[(10, 10, "!!str ")]);
        // A key line removed, its deeper lines left at the start of the run.
        let t =
            "x-a: &a 1\nservices:\n  db:\n    image: x\n    command: |\n      run\n    # end\n  cache:\n    image: r\n";
        let (s, c) = (at(t, "    command: |\n"), at(t, "    # end"));
        assert!(!check(t, &[(s, s + "    command: |\n".len(), ""), (c, c, "    labels: *a\n")]));
        let t = "x-a: &a 1\nservices:\n   k1: 's'\n   k2: |2\n     line 5\n\n";
        check(t, &[(31, 41, ""), (53, 53, "   <<: *a\n")]);
    }

    /// Every real compose file, edited where fixes edit (an entry added at the end of each
    /// mapping, a value replaced, an entry removed), parses again to the tree a whole parse makes.
    #[test]
    fn corpus_files_reparse_as_they_parse() {
        let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
        let Ok(walk) = std::fs::read_dir(&corpus) else { return };
        let mut files = Vec::new();
        let mut dirs: Vec<std::path::PathBuf> = walk.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().filter_map(|e| e.ok()) {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
                    files.push(path);
                }
            }
        }
        let (mut tried, mut incremental) = (0, 0);
        for path in files {
            let Ok(text) = std::fs::read_to_string(&path) else { continue };
            let Ok(tree) = Tree::parse(text.clone()) else { continue };
            for id in 0..tree.len() {
                let NodeKind::Mapping { entries, flow: false } = &tree.node(id).kind else { continue };
                let Some(last) = entries.last() else { continue };
                let key = tree.node(entries[0].key).props_start;
                let column = key - tree.source.line_start(tree.source.line_index(key));
                let end = tree.node(last.value).span.end;
                // After the last value's line.
                let after = text[end..].find('\n').map_or(text.len(), |i| end + i + 1);
                let line = format!("{}x-stackfix: {{a: 1}}\n", " ".repeat(column));
                let mut edits: Vec<(usize, usize, String)> = vec![(after, after, line)];
                if let NodeKind::Scalar { .. } = tree.node(last.value).kind {
                    let v = tree.node(last.value).span;
                    if v.start < v.end && after > v.end {
                        edits = vec![(v.start, v.end, "\"changed\"".to_string()), (after, after, edits[0].2.clone())];
                    }
                }
                let splices: Vec<(usize, usize, &str)> = edits.iter().map(|(s, e, t)| (*s, *e, t.as_str())).collect();
                tried += 1;
                incremental += usize::from(check(&text, &splices));
                // Before a blank line after the value, written as an entry of this mapping.
                if text[after..].starts_with('\n') {
                    let line = format!("{}x-stackfix: 3\n", " ".repeat(column));
                    tried += 1;
                    incremental += usize::from(check(&text, &[(after, after, line.as_str())]));
                }
                // As the patch engine writes it: after the last value, before its line break.
                if text[end..].starts_with('\n') {
                    let line = format!("\n{}x-stackfix: 2", " ".repeat(column));
                    tried += 1;
                    incremental += usize::from(check(&text, &[(end, end, line.as_str())]));
                }
            }
        }
        // Most edits are parsed entry by entry (the rest: anchors, aliases, unusual layouts).
        assert!(tried == 0 || incremental * 2 > tried, "{incremental} of {tried}");
    }

    /// Spans that depend on the lines after a node (block scalars, empty scalars with
    /// properties), insertions at one offset meant for different mappings, document markers and
    /// lone CR line breaks: each is parsed as a whole parse reads it.
    #[test]
    fn nodes_that_read_the_lines_after_them() {
        type Case<'a> = (&'a str, &'a [(usize, usize, &'a str)]);
        let cases: &[Case] = &[
            ("a: |+\n  keep\n\nb: 1\n", &[(8, 12, "kept")]),
            ("a:\r  b: 1\rc: 1\r", &[(3, 3, "k: |+\r  x\r\r")]),
            ("a: |\n  keep\nb: 1\n", &[(12, 12, "  # note\nc: 2\n")]),
            ("a: |\n  keep\nb: 1\n", &[(12, 13, "  # note\nb")]),
            ("a: |+\n  keep\nb: 1\n", &[(13, 13, "\nc: 2\n")]),
            ("a: |+\n  keep\n", &[(13, 13, "\nb: 1\n")]),
            ("x:\n  a: |\n    text\ny: 1\n", &[(19, 19, "    # c\nz: 1\n")]),
            ("a: |\n  x\nb: |+\n  y\n\n", &[(0, 1, "w"), (20, 20, "n: 1\n")]),
            ("a: !reset\nb: 1\n", &[(10, 10, "# added\nc: 2\n")]),
            ("a: &x\nb: 1\n", &[(6, 6, "# added\nc: 2\n")]),
            ("s: &s\n  k: 1\nt:\n  <<: *s\n  !!merge <<: *s\n  u: v\n", &[(25, 25, "  k: !reset\n")]),
            ("a:\n  x: 1\n", &[(10, 10, "n:\n"), (10, 10, "  m: 2\n")]),
            ("a: 1\n...\n", &[(9, 9, "b: 2\n")]),
            ("a: |+\n  keep\n\n\nb: |-\n  strip\n\nc: >2\n   ind\n  x\nd: 1\n", &[(0, 1, "w"), (6, 6, "n: 1\n")]),
        ];
        for (text, splices) in cases {
            check(text, splices);
        }
    }

    #[test]
    fn crlf_and_unicode_texts() {
        let text = STACK.replace('\n', "\r\n").replace("the database", "la base de données");
        let p = at(&text, "    ports:");
        assert!(check(&text, &[(p, p, "    init: true\r\n")]));
        let e = at(&text, "  data: {}");
        assert!(check(&text, &[(e, e + "  data: {}".len(), "  data:\r\n    driver: local")]));
    }
}
