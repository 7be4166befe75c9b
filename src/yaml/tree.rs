//! A located YAML tree built from yaml-rust2 events. Every node knows its kind, style, byte span
//! (start and end), the start of its properties (anchor, tag), its anchor name and its tag; aliases
//! know the node they refer to. Comments are not in the tree; the text still holds them.
//!
//! yaml-rust2 markers are unreliable for ends (block end markers point at the next token) and for
//! several starts (empty scalars, block scalars, indentless sequences), so spans are computed by
//! scanning the text forward from each node's context (after the `:` or `-` that introduces it).
//! Nothing here knows about compose.

use foldhash::{HashMap, HashMapExt};
use std::fmt;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use super::source::Source;

/// Index of a node in its [`Tree`].
pub type NodeId = usize;

/// Nesting deeper than this is refused: no compose file needs it, and it bounds every walk.
pub const MAX_DEPTH: usize = 256;

/// More nodes than this in one file (or a stack's files together) is refused: it bounds the memory
/// of a tree and of everything built from it (a 10 MB file of one-character items would otherwise
/// hold five million nodes). The largest real compose files have a few thousand; 20,000 services
/// take about 360,000.
pub const MAX_NODES: usize = 400_000;

/// Whether an error is a node limit's rather than a YAML error.
pub fn is_node_limit(message: &str) -> bool {
    message.contains(&format!("{MAX_NODES} YAML nodes"))
}

/// A half-open byte range `[start, end)` in the file's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

/// A set of spans answering "does one of them contain this span?" in O(log n): the spans
/// sorted by start, with the greatest end among each prefix (a span `[s, e)` is contained in one
/// of the set exactly when some span starting at or before `s` ends at or after `e`).
#[derive(Debug, Clone, Default)]
pub struct SpanSet {
    /// (start, greatest end of the spans starting here or before), sorted by start.
    reach: Vec<(usize, usize)>,
}

impl SpanSet {
    pub fn new(spans: impl IntoIterator<Item = Span>) -> SpanSet {
        let mut spans: Vec<Span> = spans.into_iter().collect();
        spans.sort_unstable_by_key(|s| s.start);
        let mut reach = Vec::with_capacity(spans.len());
        let mut furthest = 0;
        for span in spans {
            furthest = furthest.max(span.end);
            reach.push((span.start, furthest));
        }
        SpanSet { reach }
    }

    /// Whether the set has no span.
    pub fn is_empty(&self) -> bool {
        self.reach.is_empty()
    }

    /// Whether a span of the set contains `span` (or is it).
    pub fn contains(&self, span: Span) -> bool {
        let starting = self.reach.partition_point(|&(start, _)| start <= span.start);
        starting > 0 && self.reach[starting - 1].1 >= span.end
    }
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }

    pub fn contains(&self, other: Span) -> bool {
        self.start <= other.start && other.end <= self.end
    }
}

/// How a scalar is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarStyle {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
    Folded,
}

impl From<TScalarStyle> for ScalarStyle {
    fn from(style: TScalarStyle) -> Self {
        match style {
            TScalarStyle::Plain => ScalarStyle::Plain,
            TScalarStyle::SingleQuoted => ScalarStyle::SingleQuoted,
            TScalarStyle::DoubleQuoted => ScalarStyle::DoubleQuoted,
            TScalarStyle::Literal => ScalarStyle::Literal,
            TScalarStyle::Folded => ScalarStyle::Folded,
        }
    }
}

/// One key/value pair of a mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub key: NodeId,
    pub value: NodeId,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    Scalar { value: String, style: ScalarStyle },
    Mapping { entries: Vec<Entry>, flow: bool },
    Sequence { items: Vec<NodeId>, flow: bool },
    Alias { name: String, target: Option<NodeId> },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    /// The node's own text: a scalar with its quotes or block header, a collection from its first
    /// token to the end of its last item. Properties are not included.
    pub span: Span,
    /// Where the node's properties (anchor, tag) start; equals `span.start` without properties.
    pub props_start: usize,
    /// Boxed: few nodes have properties, and a large file holds hundreds of thousands of nodes.
    pub(super) props: Option<Box<Properties>>,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Properties {
    anchor: Option<Box<str>>,
    /// As written in short form (`!reset`, `!!merge`, `!override`).
    tag: Option<Box<str>>,
}

impl Node {
    fn new(kind: NodeKind, span: Span, props_start: usize, anchor: Option<Box<str>>, tag: Option<String>) -> Node {
        let props = (anchor.is_some() || tag.is_some())
            .then(|| Box::new(Properties { anchor, tag: tag.map(String::into_boxed_str) }));
        Node { kind, span, props_start, props }
    }

    pub fn anchor(&self) -> Option<&str> {
        self.props.as_ref().and_then(|p| p.anchor.as_deref())
    }

    /// The tag as written in short form (`!reset`, `!!merge`, `!override`).
    pub fn tag(&self) -> Option<&str> {
        self.props.as_ref().and_then(|p| p.tag.as_deref())
    }

    pub fn is_null(&self) -> bool {
        match &self.kind {
            NodeKind::Scalar { value, style } => {
                *style == ScalarStyle::Plain && matches!(value.as_str(), "" | "~" | "null" | "Null" | "NULL")
            }
            _ => false,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    pub fn is_flow(&self) -> bool {
        matches!(self.kind, NodeKind::Mapping { flow: true, .. } | NodeKind::Sequence { flow: true, .. })
    }
}

/// A YAML syntax error with its position (1-based line and character column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub col: usize,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.col, self.message)
    }
}

/// A parsed file: its source and the located nodes of its (single) document.
#[derive(Debug, Clone)]
pub struct Tree {
    pub source: Source,
    pub(super) nodes: Vec<Node>,
    pub(super) root: Option<NodeId>,
    /// The file's writing style, learned once (see [`Tree::style`]).
    style: std::sync::OnceLock<super::emit::Style>,
    /// Key → entry position for large mappings, built on first lookup.
    key_index: std::sync::OnceLock<HashMap<NodeId, HashMap<String, usize>>>,
}

/// Mappings with more entries than this get a key index.
const INDEXED_MAPPING: usize = 32;

impl Tree {
    /// Parses one YAML document. An empty file (or one holding only comments) has no root.
    pub fn parse(text: String) -> Result<Tree, ParseError> {
        Tree::parse_within(text, MAX_NODES)
    }

    /// [`Tree::parse`], refusing more than `max_nodes` nodes (at most [`MAX_NODES`]).
    pub fn parse_within(text: String, max_nodes: usize) -> Result<Tree, ParseError> {
        let max_nodes = max_nodes.min(MAX_NODES);
        let source = Source::new(text);
        let breaks = match unusual_chars(source.text()) {
            Ok(breaks) => breaks,
            Err((offset, message)) => {
                let (line, col) = source.line_col(offset);
                return Err(ParseError { line, col, message, hint: None });
            }
        };
        let refuse_breaks = |source: &Source, nodes: &[Node]| match misread_break(source.text(), nodes, &breaks) {
            Some((offset, message)) => {
                let (line, col) = source.line_col(offset);
                Err(ParseError { line, col, message, hint: None })
            }
            None => Ok(()),
        };
        match build(&source, max_nodes) {
            Ok((nodes, root)) => {
                refuse_breaks(&source, &nodes)?;
                Ok(Tree { source, nodes, root, style: Default::default(), key_index: Default::default() })
            }
            Err(BuildError::Refused(err)) => Err(err),
            Err(BuildError::Syntax(err)) => {
                // yaml-rust2 rejects a flow collection closed at its key's indentation, which Go's
                // YAML (and so docker compose) accepts. Joining such a closing line onto the previous
                // one turns a newline into a space: every byte offset stays valid for the original.
                let Some((repaired, joined)) = join_flow_closers(source.text()) else {
                    return Err(err);
                };
                let repaired = Source::new(repaired);
                let Ok((nodes, root)) = build(&repaired, max_nodes) else {
                    return Err(err);
                };
                let touches_block_scalar = nodes.iter().any(|n| {
                    matches!(n.kind, NodeKind::Scalar { style: ScalarStyle::Literal | ScalarStyle::Folded, .. })
                        && joined.iter().any(|&j| n.span.start <= j && j < n.span.end)
                });
                if touches_block_scalar {
                    return Err(err);
                }
                refuse_breaks(&source, &nodes)?;
                Ok(Tree { source, nodes, root, style: Default::default(), key_index: Default::default() })
            }
        }
    }

    /// A tree of `nodes` (rooted at `root`) located in `source`'s text.
    pub(super) fn from_parts(source: Source, nodes: Vec<Node>, root: Option<NodeId>) -> Tree {
        Tree { source, nodes, root, style: Default::default(), key_index: Default::default() }
    }

    pub fn root(&self) -> Option<NodeId> {
        self.root
    }

    /// How the file writes its blocks (indentation unit, sequence style, line ending).
    pub fn style(&self) -> super::emit::Style {
        *self.style.get_or_init(|| super::emit::Style::of(self))
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id]
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The exact text of a node (without its properties).
    pub fn text_of(&self, id: NodeId) -> &str {
        let span = self.nodes[id].span;
        &self.source.text()[span.start..span.end]
    }

    /// Follows aliases to the node they name (bounded: an alias chain cannot loop).
    pub fn resolve(&self, mut id: NodeId) -> NodeId {
        for _ in 0..MAX_DEPTH {
            match &self.nodes[id].kind {
                NodeKind::Alias { target: Some(t), .. } => id = *t,
                _ => return id,
            }
        }
        id
    }

    /// The entries of a mapping node as written (merge keys not applied); empty for other kinds.
    pub fn entries(&self, id: NodeId) -> &[Entry] {
        match &self.nodes[id].kind {
            NodeKind::Mapping { entries, .. } => entries,
            _ => &[],
        }
    }

    pub fn items(&self, id: NodeId) -> &[NodeId] {
        match &self.nodes[id].kind {
            NodeKind::Sequence { items, .. } => items,
            _ => &[],
        }
    }

    /// The entry written under `key` in a mapping (no alias or merge resolution).
    pub fn entry(&self, map: NodeId, key: &str) -> Option<Entry> {
        let entries = self.entries(map);
        if entries.len() > INDEXED_MAPPING {
            let index = self.key_index.get_or_init(|| self.build_key_index());
            return index.get(&map).and_then(|keys| keys.get(key)).map(|&i| entries[i]);
        }
        entries.iter().copied().find(|e| self.nodes[e.key].as_str() == Some(key))
    }

    fn build_key_index(&self) -> HashMap<NodeId, HashMap<String, usize>> {
        let mut index = HashMap::new();
        for (id, node) in self.nodes.iter().enumerate() {
            if let NodeKind::Mapping { entries, .. } = &node.kind {
                if entries.len() > INDEXED_MAPPING {
                    let mut keys = HashMap::with_capacity(entries.len());
                    for (i, e) in entries.iter().enumerate() {
                        if let Some(k) = self.nodes[e.key].as_str() {
                            keys.entry(k.to_string()).or_insert(i);
                        }
                    }
                    index.insert(id, keys);
                }
            }
        }
        index
    }

    /// Whether a key node is a YAML merge key (`<<` or `!!merge <<`).
    pub fn is_merge_key(&self, key: NodeId) -> bool {
        let node = &self.nodes[key];
        matches!(&node.kind, NodeKind::Scalar { value, style: ScalarStyle::Plain } if value == "<<")
    }
}

/// Why [`build`] failed.
enum BuildError {
    /// yaml-rust2 rejected the text.
    Syntax(ParseError),
    /// The text parses, but stackfix refuses what it holds (several documents, too deep, too large).
    Refused(ParseError),
}

fn build(source: &Source, max_nodes: usize) -> Result<(Vec<Node>, Option<NodeId>), BuildError> {
    build_at(source, max_nodes, 0)
}

/// The nodes of the document in `source` and its root, for a document whose collections sit
/// `depth` levels deep in a larger one (the nesting limit counts them); `None` when the text
/// does not parse or is refused.
pub(super) fn build_nested(source: &Source, max_nodes: usize, depth: usize) -> Option<(Vec<Node>, Option<NodeId>)> {
    build_at(source, max_nodes, depth).ok()
}

fn build_at(source: &Source, max_nodes: usize, depth: usize) -> Result<(Vec<Node>, Option<NodeId>), BuildError> {
    let mut builder = Builder::new(source, max_nodes);
    builder.depth = depth;
    let mut parser = Parser::new_from_str(source.body());
    // Driven event by event (not `Parser::load`) so a refusal stops the parse where it happens.
    loop {
        let (event, mark) =
            parser.next_token().map_err(|err| BuildError::Syntax(scan_error(source, err.marker(), err.info())))?;
        let end = event == Event::StreamEnd;
        builder.on_event(event, mark);
        if let Some(err) = builder.error.take() {
            return Err(BuildError::Refused(err));
        }
        if end {
            break;
        }
    }
    builder.nodes.shrink_to_fit();
    Ok((builder.nodes, builder.root))
}

/// Characters Go's YAML reader (and so docker compose) reads differently from yaml-rust2: `Err`
/// with the first control character, which it refuses ("control characters are not allowed");
/// else the offsets of NEL, LINE SEPARATOR and PARAGRAPH SEPARATOR, which it takes as line breaks
/// outside quoted scalars (a comment would end there, and what follows be read as YAML).
pub(super) fn unusual_chars(text: &str) -> Result<Vec<usize>, (usize, String)> {
    let suspect = |b: u8| b >= 0x7f || (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r'));
    let Some(first) = text.bytes().position(suspect) else { return Ok(Vec::new()) };
    let mut breaks = Vec::new();
    for (i, c) in text[first..].char_indices() {
        match c {
            '\u{85}' | '\u{2028}' | '\u{2029}' => breaks.push(first + i),
            '\t' | '\n' | '\r' | ' '..='~' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'.. => {}
            _ => {
                let message = format!(
                    "control character U+{:04X}: compose refuses it (\"control characters are not allowed\")",
                    c as u32
                );
                return Err((first + i, message));
            }
        }
    }
    Ok(breaks)
}

/// The first of `breaks` outside every quoted scalar of `nodes` (where compose and stackfix would
/// read different documents), with why.
fn misread_break(text: &str, nodes: &[Node], breaks: &[usize]) -> Option<(usize, String)> {
    let mut quoted: Vec<Span> = nodes
        .iter()
        .filter(|n| {
            matches!(n.kind, NodeKind::Scalar { style: ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted, .. })
        })
        .map(|n| n.span)
        .collect();
    quoted.sort_unstable_by_key(|s| s.start);
    let inside = |at: usize| {
        let i = quoted.partition_point(|s| s.start <= at);
        i > 0 && at < quoted[i - 1].end
    };
    let at = breaks.iter().copied().find(|&at| !inside(at))?;
    let c = text[at..].chars().next().unwrap_or(' ');
    let name = match c {
        '\u{85}' => "next line",
        '\u{2028}' => "line separator",
        _ => "paragraph separator",
    };
    Some((
        at,
        format!(
            "U+{:04X} ({name}): compose's YAML reader ends a line here, stackfix would not; replace it with a \
             newline or a space, or quote the text it is in",
            c as u32
        ),
    ))
}

/// Replaces the line break before each line that starts with `]` or `}` by spaces, unless the
/// previous line ends in a comment. Returns the new text and the replaced offsets.
fn join_flow_closers(text: &str) -> Option<(String, Vec<usize>)> {
    let mut bytes = text.as_bytes().to_vec();
    let mut joined = Vec::new();
    let mut line_start = 0;
    while line_start < text.len() {
        let line_end = text[line_start..].find('\n').map_or(text.len(), |i| line_start + i);
        let first = text[line_start..line_end].trim_start_matches([' ', '\t']).as_bytes().first().copied();
        if line_start > 0 && matches!(first, Some(b']' | b'}')) {
            let mut brk = line_start - 1;
            if brk > 0 && bytes[brk - 1] == b'\r' {
                brk -= 1;
            }
            let prev_start = text[..brk].rfind('\n').map_or(0, |i| i + 1);
            if code_end(text.as_bytes(), prev_start) == brk {
                for b in &mut bytes[brk..line_start] {
                    *b = b' ';
                }
                joined.push(brk);
            }
        }
        line_start = line_end + 1;
    }
    if joined.is_empty() {
        return None;
    }
    String::from_utf8(bytes).ok().map(|t| (t, joined))
}

fn scan_error(source: &Source, marker: &Marker, info: &str) -> ParseError {
    let mut offset = source.offset_of_marker(marker.line(), marker.col());
    // yaml-rust2 reports the character after a tab that follows `:`; point at the tab.
    if offset > 0 && source.text().as_bytes().get(offset - 1) == Some(&b'\t') {
        offset -= 1;
    }
    let (line, col) = source.line_col(offset);
    let line_text = source.line_text(line - 1);
    let hint = if line_text.contains('\t') {
        Some(
            "this line contains a tab; the YAML parser stackfix uses rejects a tab after `key:` and \
             in indentation, although YAML allows it after `:`: replace the tab with spaces"
                .to_string(),
        )
    } else {
        None
    };
    ParseError { line, col, message: info.to_string(), hint }
}

/// An open collection while events stream in.
struct Frame {
    node: NodeId,
    pending_key: Option<NodeId>,
    /// Where scanning for the next child starts (after the previous child).
    cursor: usize,
}

struct Builder<'s> {
    source: &'s Source,
    bytes: &'s [u8],
    nodes: Vec<Node>,
    stack: Vec<Frame>,
    root: Option<NodeId>,
    anchors: HashMap<usize, NodeId>,
    documents: usize,
    max_nodes: usize,
    /// Levels of collections around the document (see [`build_nested`]).
    depth: usize,
    error: Option<ParseError>,
}

impl<'s> Builder<'s> {
    fn new(source: &'s Source, max_nodes: usize) -> Self {
        // Compose files hold one to two nodes per line and a node takes a dozen bytes or more;
        // reserving that up front spares the copies (and the doubled peak) of growing a large
        // tree, and stays small for inputs made of empty lines.
        let lines = source.text().bytes().filter(|&b| b == b'\n').count();
        let expected_nodes = (lines * 5 / 2).min(source.text().len() / 8).min(max_nodes) + 16;
        Builder {
            source,
            bytes: source.text().as_bytes(),
            nodes: Vec::with_capacity(expected_nodes),
            stack: Vec::new(),
            root: None,
            anchors: HashMap::new(),
            documents: 0,
            max_nodes,
            depth: 0,
            error: None,
        }
    }

    fn fail(&mut self, offset: usize, message: &str) {
        if self.error.is_none() {
            let (line, col) = self.source.line_col(offset);
            self.error = Some(ParseError { line, col, message: message.to_string(), hint: None });
        }
    }

    fn offset(&self, mark: &Marker) -> usize {
        self.source.offset_of_marker(mark.line(), mark.col())
    }

    /// Where the text of the next node starts to be scanned: after `:` for a value, after `-` or
    /// `,` for an item, after the previous value for a key.
    fn context(&mut self) -> usize {
        let bytes = self.bytes;
        let Some(frame) = self.stack.last() else {
            return self.document_start();
        };
        let parent = &self.nodes[frame.node];
        match &parent.kind {
            NodeKind::Mapping { flow, .. } => {
                let flow = *flow;
                if frame.pending_key.is_none() {
                    let pos = skip_space_and_comments(bytes, frame.cursor);
                    if flow && bytes.get(pos) == Some(&b',') {
                        return skip_space_and_comments(bytes, pos + 1);
                    }
                    return pos;
                }
                let pos = skip_space_and_comments(bytes, frame.cursor);
                if bytes.get(pos) == Some(&b':') {
                    pos + 1
                } else {
                    frame.cursor
                }
            }
            NodeKind::Sequence { flow, items } => {
                let pos = skip_space_and_comments(bytes, frame.cursor);
                if *flow {
                    if !items.is_empty() && bytes.get(pos) == Some(&b',') {
                        return skip_space_and_comments(bytes, pos + 1);
                    }
                    pos
                } else if bytes.get(pos) == Some(&b'-') {
                    pos + 1
                } else {
                    frame.cursor
                }
            }
            _ => frame.cursor,
        }
    }

    /// After directives and an explicit `---`, where the root node is scanned from.
    fn document_start(&self) -> usize {
        let bytes = self.bytes;
        let mut pos = skip_space_and_comments(bytes, self.source.bom_len());
        while bytes.get(pos) == Some(&b'%') {
            pos = skip_space_and_comments(bytes, line_end(bytes, pos));
        }
        if bytes[pos..].starts_with(b"---")
            && bytes.get(pos + 3).is_none_or(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        {
            pos += 3;
        }
        pos
    }

    /// Reads properties (`&anchor`, `!tag`) from `pos`; returns (props start, anchor, content scan start).
    fn properties(&self, pos: usize) -> (usize, Option<Box<str>>, usize) {
        let bytes = self.bytes;
        let mut pos = skip_space_and_comments(bytes, pos);
        let start = pos;
        let mut anchor = None;
        for _ in 0..2 {
            match bytes.get(pos) {
                Some(b'&') => {
                    let end = token_end(bytes, pos + 1);
                    anchor = Some(self.source.text()[pos + 1..end].into());
                    pos = skip_space_and_comments(bytes, end);
                }
                Some(b'!') => {
                    let end = token_end(bytes, pos + 1);
                    pos = skip_space_and_comments(bytes, end);
                }
                _ => break,
            }
        }
        (start, anchor, pos)
    }

    fn push_node(&mut self, node: Node, anchor_id: usize) -> NodeId {
        let id = self.nodes.len();
        if id == self.max_nodes {
            let message = format!("more than {} YAML nodes in this file; refusing to read further", self.max_nodes);
            self.fail(node.span.start, &message);
        }
        self.nodes.push(node);
        if anchor_id != 0 {
            self.anchors.insert(anchor_id, id);
        }
        id
    }

    /// Links a finished node to its parent and moves the parent's cursor past it.
    fn attach(&mut self, id: NodeId) {
        let end = self.nodes[id].span.end;
        let Some(frame) = self.stack.last_mut() else {
            self.root = Some(id);
            return;
        };
        frame.cursor = end;
        match &mut self.nodes[frame.node].kind {
            NodeKind::Mapping { entries, .. } => match frame.pending_key.take() {
                None => frame.pending_key = Some(id),
                Some(key) => entries.push(Entry { key, value: id }),
            },
            NodeKind::Sequence { items, .. } => items.push(id),
            _ => {}
        }
    }

    fn on_scalar(
        &mut self,
        value: String,
        style: TScalarStyle,
        anchor_id: usize,
        has_tag: bool,
        tag: Option<String>,
        mark: &Marker,
    ) {
        let context = self.context();
        let style = ScalarStyle::from(style);
        let marker_pos = self.offset(mark);
        let (props_start, anchor, scan) = if anchor_id != 0 || has_tag {
            self.properties(context)
        } else {
            let pos = skip_space_and_comments(self.bytes, context);
            (pos, None, pos)
        };
        let bytes = self.bytes;
        let span = match style {
            ScalarStyle::Plain if value.is_empty() => {
                let at = if anchor_id != 0 || has_tag { trim_back_space(bytes, scan, props_start) } else { context };
                Span::new(at, at)
            }
            ScalarStyle::Plain => Span::new(marker_pos, plain_end(self.source.text(), marker_pos, &value)),
            ScalarStyle::SingleQuoted => Span::new(marker_pos, single_quoted_end(bytes, marker_pos)),
            ScalarStyle::DoubleQuoted => Span::new(marker_pos, double_quoted_end(bytes, marker_pos)),
            ScalarStyle::Literal | ScalarStyle::Folded => {
                let header = if matches!(bytes.get(scan), Some(b'|' | b'>')) { scan } else { marker_pos };
                Span::new(header, block_scalar_end(self.source, header, &value, marker_pos))
            }
        };
        let props_start = if anchor_id != 0 || has_tag { props_start } else { span.start };
        let id =
            self.push_node(Node::new(NodeKind::Scalar { value, style }, span, props_start, anchor, tag), anchor_id);
        self.attach(id);
    }

    fn on_collection_start(&mut self, is_mapping: bool, anchor_id: usize, tag: Option<String>, mark: &Marker) {
        if self.stack.len() + self.depth >= MAX_DEPTH {
            let at = self.offset(mark);
            self.fail(at, &format!("collections nested deeper than {MAX_DEPTH} levels"));
            return;
        }
        let context = self.context();
        let marker_pos = self.offset(mark);
        let (props_start, anchor, scan) = if anchor_id != 0 || tag.is_some() {
            self.properties(context)
        } else {
            let pos = skip_space_and_comments(self.bytes, context);
            (pos, None, pos)
        };
        let open = if is_mapping { b'{' } else { b'[' };
        let flow = self.bytes.get(marker_pos) == Some(&open);
        let start = if flow { marker_pos } else { scan };
        let props_start = if anchor_id != 0 || tag.is_some() { props_start } else { start };
        let kind = if is_mapping {
            NodeKind::Mapping { entries: Vec::new(), flow }
        } else {
            NodeKind::Sequence { items: Vec::new(), flow }
        };
        let id = self.push_node(Node::new(kind, Span::new(start, start), props_start, anchor, tag), anchor_id);
        let cursor = if flow { start + 1 } else { start };
        self.stack.push(Frame { node: id, pending_key: None, cursor });
    }

    fn on_collection_end(&mut self, mark: &Marker) {
        let Some(frame) = self.stack.pop() else {
            return;
        };
        let marker_pos = self.offset(mark);
        let node = &self.nodes[frame.node];
        let end = if node.is_flow() {
            let close = if matches!(node.kind, NodeKind::Mapping { .. }) { b'}' } else { b']' };
            if self.bytes.get(marker_pos) == Some(&close) {
                marker_pos + 1
            } else {
                frame.cursor
            }
        } else {
            frame.cursor
        };
        let node = &mut self.nodes[frame.node];
        node.span.end = end.max(node.span.start);
        self.attach(frame.node);
    }
}

impl MarkedEventReceiver for Builder<'_> {
    fn on_event(&mut self, event: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        match event {
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents > 1 {
                    let at = self.offset(&mark);
                    self.fail(at, "more than one YAML document in this file; stackfix reads a single document");
                }
            }
            Event::Scalar(value, style, anchor_id, tag) => {
                let has_tag = tag.is_some();
                let tag = tag.map(|t| short_tag(&t.handle, &t.suffix));
                self.on_scalar(value, style, anchor_id, has_tag, tag, &mark);
            }
            Event::Alias(anchor_id) => {
                let context = self.context();
                let start = skip_space_and_comments(self.bytes, context).max(self.offset(&mark));
                let end = token_end(self.bytes, start + 1);
                let name = self.source.text()[(start + 1).min(end)..end].to_string();
                let target = self.anchors.get(&anchor_id).copied();
                let span = Span::new(start, end);
                let id = self.push_node(Node::new(NodeKind::Alias { name, target }, span, start, None, None), 0);
                self.attach(id);
            }
            Event::MappingStart(anchor_id, tag) => {
                let tag = tag.map(|t| short_tag(&t.handle, &t.suffix));
                self.on_collection_start(true, anchor_id, tag, &mark);
            }
            Event::SequenceStart(anchor_id, tag) => {
                let tag = tag.map(|t| short_tag(&t.handle, &t.suffix));
                self.on_collection_start(false, anchor_id, tag, &mark);
            }
            Event::MappingEnd | Event::SequenceEnd => self.on_collection_end(&mark),
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
    }
}

fn short_tag(handle: &str, suffix: &str) -> String {
    if handle == "tag:yaml.org,2002:" {
        format!("!!{suffix}")
    } else {
        format!("{handle}{suffix}")
    }
}

/// Skips spaces, tabs, line breaks and `#` comments.
pub(crate) fn skip_space_and_comments(bytes: &[u8], mut pos: usize) -> usize {
    while let Some(&b) = bytes.get(pos) {
        match b {
            b' ' | b'\t' | b'\r' | b'\n' => pos += 1,
            b'#' => pos = line_end(bytes, pos),
            _ => break,
        }
    }
    pos
}

/// Moves back from `pos` over spaces and tabs, not before `floor`.
fn trim_back_space(bytes: &[u8], mut pos: usize, floor: usize) -> usize {
    while pos > floor && matches!(bytes[pos - 1], b' ' | b'\t' | b'\r' | b'\n') {
        pos -= 1;
    }
    pos
}

/// Offset of the line break ending the line that contains `pos` (or the end of text).
fn line_end(bytes: &[u8], pos: usize) -> usize {
    let mut i = pos;
    while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
        i += 1;
    }
    i
}

/// End of an anchor, alias or tag name: the next whitespace or flow indicator.
fn token_end(bytes: &[u8], mut pos: usize) -> usize {
    while let Some(&b) = bytes.get(pos) {
        if matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b',' | b'[' | b']' | b'{' | b'}') {
            break;
        }
        pos += 1;
    }
    pos
}

/// End of a plain scalar: walk the text matching the value's non-space characters (folding turned
/// line breaks into spaces, so only the characters themselves can be matched).
fn plain_end(text: &str, start: usize, value: &str) -> usize {
    let rest = &text[start..];
    let mut chars = rest.char_indices().peekable();
    let mut end = start;
    for want in value.chars() {
        if matches!(want, ' ' | '\t' | '\n') {
            continue;
        }
        while let Some(&(_, c)) = chars.peek() {
            if matches!(c, ' ' | '\t' | '\r' | '\n') {
                chars.next();
            } else {
                break;
            }
        }
        match chars.next() {
            Some((i, c)) if c == want => end = start + i + c.len_utf8(),
            _ => break,
        }
    }
    end
}

fn single_quoted_end(bytes: &[u8], start: usize) -> usize {
    let mut pos = start + 1;
    while pos < bytes.len() {
        if bytes[pos] == b'\'' {
            if bytes.get(pos + 1) == Some(&b'\'') {
                pos += 2;
                continue;
            }
            return pos + 1;
        }
        pos += 1;
    }
    bytes.len()
}

fn double_quoted_end(bytes: &[u8], start: usize) -> usize {
    let mut pos = start + 1;
    while pos < bytes.len() {
        match bytes[pos] {
            b'\\' => pos += 2,
            b'"' => return pos + 1,
            _ => pos += 1,
        }
    }
    bytes.len()
}

/// End of a block scalar whose header (`|`, `>`) is at `header`. Content lines are those indented at
/// least as far as the first content line (the marker's column); keep chomping (`+`) also owns the
/// trailing blank lines.
fn block_scalar_end(source: &Source, header: usize, value: &str, marker_pos: usize) -> usize {
    let bytes = source.text().as_bytes();
    let header_line = source.line_index(header);
    let mut pos = header + 1;
    let mut keep = false;
    while let Some(&b) = bytes.get(pos) {
        match b {
            b'+' => keep = true,
            b'-' | b'0'..=b'9' => {}
            _ => break,
        }
        pos += 1;
    }
    let header_end = trim_back_space(bytes, code_end(bytes, pos), pos);
    let marker_line = source.line_index(marker_pos);
    if value.trim_matches('\n').is_empty() && !keep || marker_line <= header_line {
        return header_end;
    }
    let indent = marker_pos - source.line_start(marker_line);
    let mut end = header_end;
    let mut blank_end = None;
    for idx in header_line + 1..source.line_count() {
        let line = source.line_text(idx);
        let spaces = line.len() - line.trim_start_matches(' ').len();
        if line.trim().is_empty() {
            blank_end = Some(source.line_content_end(idx));
            continue;
        }
        if spaces < indent {
            break;
        }
        end = source.line_content_end(idx);
        blank_end = None;
    }
    if keep {
        if let Some(b) = blank_end {
            // The last "line" of a file ending in a newline is empty and not part of the scalar.
            if b < bytes.len() || !source.has_final_newline() {
                end = b;
            }
        }
    }
    end
}

/// Offset where a line's code ends: before a ` #` comment (outside quotes), or at the line break.
pub(crate) fn code_end(bytes: &[u8], pos: usize) -> usize {
    let end = line_end(bytes, pos);
    let mut quote: Option<u8> = None;
    let mut i = pos;
    while i < end {
        let b = bytes[i];
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None => match b {
                b'\'' | b'"' if i == pos || matches!(bytes[i - 1], b' ' | b'\t' | b'[' | b'{' | b',' | b':') => {
                    quote = Some(b)
                }
                b'#' if i == pos || matches!(bytes[i - 1], b' ' | b'\t') => return i,
                _ => {}
            },
        }
        i += 1;
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_set_answers_containment_as_a_scan_would() {
        // Nested, disjoint and touching spans, compared with the linear scan on every span of
        // a small range.
        let spans = [Span::new(2, 9), Span::new(3, 5), Span::new(12, 14), Span::new(14, 20), Span::new(15, 16)];
        let set = SpanSet::new(spans);
        for start in 0..22 {
            for end in start..22 {
                let probe = Span::new(start, end);
                let scan = spans.iter().any(|s| s.contains(probe));
                assert_eq!(set.contains(probe), scan, "{probe:?}");
            }
        }
        assert!(!SpanSet::default().contains(Span::new(0, 0)));
    }

    fn text_at<'a>(tree: &'a Tree, route: &[&str]) -> &'a str {
        let mut id = tree.root().unwrap();
        for key in route {
            id = match key.parse::<usize>() {
                Ok(i) => tree.items(id)[i],
                Err(_) => tree.entry(id, key).unwrap().value,
            };
        }
        tree.text_of(id)
    }

    #[test]
    fn spans_of_every_scalar_style() {
        let yaml = "a: plain text\nb: 'it''s'\nc: \"q\\\"x\"\nd: |\n  one\n  ünï\n\ne: >-\n  folded\n  more\nf:\n";
        let tree = Tree::parse(yaml.to_string()).unwrap();
        assert_eq!(text_at(&tree, &["a"]), "plain text");
        assert_eq!(text_at(&tree, &["b"]), "'it''s'");
        assert_eq!(text_at(&tree, &["c"]), "\"q\\\"x\"");
        assert_eq!(text_at(&tree, &["d"]), "|\n  one\n  ünï");
        assert_eq!(text_at(&tree, &["e"]), ">-\n  folded\n  more");
        assert_eq!(text_at(&tree, &["f"]), "");
        let root = tree.root().unwrap();
        assert_eq!(tree.text_of(root), yaml.trim_end_matches('\n'));
    }

    #[test]
    fn multi_line_plain_scalar_and_flow_collections() {
        let yaml = "x: first\n   second # c\ny: [a, {b: c}, \"d\"]  # tail\nz: {k: v}\n";
        let tree = Tree::parse(yaml.to_string()).unwrap();
        assert_eq!(text_at(&tree, &["x"]), "first\n   second");
        assert_eq!(text_at(&tree, &["y"]), "[a, {b: c}, \"d\"]");
        assert_eq!(text_at(&tree, &["y", "1"]), "{b: c}");
        assert_eq!(text_at(&tree, &["z"]), "{k: v}");
    }

    #[test]
    fn block_sequences_indented_and_not() {
        let yaml = "a:\n  - x\n  -\n  - y\nb:\n- p\n- q: 1\n  r: 2\n";
        let tree = Tree::parse(yaml.to_string()).unwrap();
        assert_eq!(text_at(&tree, &["a"]), "- x\n  -\n  - y");
        assert_eq!(text_at(&tree, &["b"]), "- p\n- q: 1\n  r: 2");
        assert_eq!(text_at(&tree, &["b", "1"]), "q: 1\n  r: 2");
    }

    #[test]
    fn anchors_aliases_tags_and_merge_keys() {
        let yaml = "x-env:\n  &env\n  A: 1\nbase: &b {k: v}\ns:\n  <<: *b\n  e: *env\n  p: !reset []\n  q: !!merge\n";
        let tree = Tree::parse(yaml.to_string()).unwrap();
        let root = tree.root().unwrap();
        let env = tree.entry(root, "x-env").unwrap().value;
        assert_eq!(tree.node(env).anchor(), Some("env"));
        assert_eq!(tree.text_of(env), "A: 1");
        let s = tree.entry(root, "s").unwrap().value;
        let merge = tree.entries(s)[0];
        assert!(tree.is_merge_key(merge.key));
        let b = tree.entry(root, "base").unwrap().value;
        assert_eq!(tree.resolve(merge.value), b);
        assert_eq!(tree.text_of(merge.value), "*b");
        let p = tree.entry(s, "p").unwrap().value;
        assert_eq!(tree.node(p).tag(), Some("!reset"));
        assert_eq!(tree.text_of(p), "[]");
        let q = tree.entry(s, "q").unwrap().value;
        assert_eq!(tree.node(q).tag(), Some("!!merge"));
    }

    #[test]
    fn keep_chomping_owns_trailing_blank_lines() {
        let yaml = "a: |+\n  keep\n\nb: 1\n";
        let tree = Tree::parse(yaml.to_string()).unwrap();
        assert_eq!(text_at(&tree, &["a"]), "|+\n  keep\n");
    }

    #[test]
    fn crlf_bom_and_no_final_newline() {
        let yaml = "\u{feff}services:\r\n  web:\r\n    image: x # c\r\n    ports: [\"80:80\"]";
        let tree = Tree::parse(yaml.to_string()).unwrap();
        let root = tree.root().unwrap();
        assert!(tree.entry(root, "services").is_some());
        assert_eq!(text_at(&tree, &["services", "web", "image"]), "x");
        assert_eq!(text_at(&tree, &["services", "web", "ports"]), "[\"80:80\"]");
        let web = tree.entry(tree.entry(root, "services").unwrap().value, "web").unwrap();
        assert_eq!(tree.source.line_col(tree.node(web.key).span.start), (2, 3));
    }

    #[test]
    fn tab_after_colon_gets_a_hint() {
        let err = Tree::parse("a:\t1\n".to_string()).unwrap_err();
        assert_eq!((err.line, err.col), (1, 3));
        assert!(err.hint.unwrap().contains("tab"));
    }

    #[test]
    fn flow_closer_at_key_indentation_is_accepted() {
        let yaml = "a:\n  command: [\n    \"run\",\n    \"x\",\n  ]\n  b: 1\n";
        let tree = Tree::parse(yaml.to_string()).unwrap();
        assert_eq!(text_at(&tree, &["a", "command"]), "[\n    \"run\",\n    \"x\",\n  ]");
        assert_eq!(tree.source.text(), yaml);
        assert_eq!(text_at(&tree, &["a", "b"]), "1");
    }

    #[test]
    fn multiple_documents_are_refused() {
        let err = Tree::parse("a: 1\n---\nb: 2\n".to_string()).unwrap_err();
        assert!(err.message.contains("more than one"));
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let yaml = "[".repeat(10_000);
        assert!(Tree::parse(yaml).is_err());
    }

    #[test]
    fn empty_and_comment_only_files_have_no_root() {
        assert!(Tree::parse(String::new()).unwrap().root().is_none());
        assert!(Tree::parse("# only\n".to_string()).unwrap().root().is_none());
    }
}
