//! Lays out a YAML fragment (written at column 0 in block style) at any indentation, in the target
//! file's style: its indentation unit, its sequence style (`- ` indented under the key or not) and
//! its line ending. Scalars, flow collections, keys, anchors and tags keep their exact text;
//! comment lines of the fragment stay with the entry they precede.

use std::sync::Arc;

use super::source::Source;
use super::tree::{NodeId, NodeKind, ParseError, ScalarStyle, Tree};

/// How a file writes its blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    /// Columns per nesting level of mappings.
    pub unit: usize,
    /// Whether a block sequence under a key is indented (`key:\n  - a`) or not (`key:\n- a`).
    pub indent_sequences: bool,
    pub eol: &'static str,
}

impl Style {
    /// The style of an existing file; a file with no nested mapping or no block sequence to learn
    /// from gets two-space units and indented sequences.
    pub fn of(tree: &Tree) -> Style {
        let mut unit = None;
        let mut indent_sequences = None;
        for id in 0..tree.len() {
            for entry in tree.entries(id) {
                let key_col = column(&tree.source, tree.node(entry.key).props_start);
                let value = tree.node(entry.value);
                let starts_below =
                    tree.source.line_index(value.span.start) > tree.source.line_index(tree.node(entry.key).span.start);
                if !starts_below || value.is_flow() {
                    continue;
                }
                let value_col = column(&tree.source, value.span.start);
                match &value.kind {
                    NodeKind::Mapping { .. } if unit.is_none() && value_col > key_col => {
                        unit = Some(value_col - key_col)
                    }
                    NodeKind::Sequence { .. } if indent_sequences.is_none() => {
                        indent_sequences = Some(value_col > key_col)
                    }
                    _ => {}
                }
            }
            if unit.is_some() && indent_sequences.is_some() {
                break;
            }
        }
        Style {
            unit: unit.unwrap_or(2),
            indent_sequences: indent_sequences.unwrap_or(true),
            eol: tree.source.line_ending().as_str(),
        }
    }
}

/// Column (in bytes, after a BOM) of an offset.
pub fn column(source: &Source, offset: usize) -> usize {
    let line = source.line_index(offset);
    let start = source.line_start(line) + if line == 0 { source.bom_len() } else { 0 };
    offset.saturating_sub(start)
}

/// A parsed fragment.
#[derive(Debug)]
pub struct Fragment {
    tree: Arc<Tree>,
    /// The lines [`Fragment::shared_entry_lines`] laid out, shared by the fragment and every
    /// part of it: one fragment of a fix is inserted into thousands of services at one indent.
    laid_out: Arc<LaidOut>,
    root: Option<NodeId>,
    /// The first line whose comments belong to the fragment.
    first_line: usize,
    /// For the value of a mapping entry: the line of its key, whose comment lines above it are
    /// written before `key:`.
    key_line: Option<usize>,
}

impl Fragment {
    pub fn parse(text: &str) -> Result<Fragment, ParseError> {
        let tree = Tree::parse(text.to_string())?;
        Ok(Fragment {
            root: tree.root(),
            tree: Arc::new(tree),
            laid_out: Arc::default(),
            first_line: 0,
            key_line: None,
        })
    }

    /// The node `id` of this fragment as a fragment of its own (sharing the parsed text), as
    /// if its text laid out at column 0 had been parsed.
    pub fn child(&self, id: NodeId) -> Fragment {
        let first_line = self.tree.source.line_index(self.tree.node(id).props_start);
        Fragment {
            tree: Arc::clone(&self.tree),
            laid_out: Arc::clone(&self.laid_out),
            root: Some(id),
            first_line,
            key_line: None,
        }
    }

    /// The value `value` of an entry of the mapping `map`, as a fragment that carries the comment
    /// lines written right above its key.
    pub fn entry_child(&self, map: NodeId, value: NodeId) -> Fragment {
        let Some(entry) = self.tree.entries(map).iter().find(|e| e.value == value) else {
            return self.child(value);
        };
        let source = &self.tree.source;
        let key_line = source.line_index(self.tree.node(entry.key).props_start);
        let mut first_line = key_line;
        while first_line > self.first_line && source.line_text(first_line - 1).trim_start().starts_with('#') {
            first_line -= 1;
        }
        Fragment {
            tree: Arc::clone(&self.tree),
            laid_out: Arc::clone(&self.laid_out),
            root: Some(value),
            first_line,
            key_line: Some(key_line),
        }
    }

    /// The parsed text.
    pub fn tree(&self) -> &Tree {
        &self.tree
    }

    /// The text the fragment was parsed from.
    pub fn source_text(&self) -> &str {
        self.tree.source.text()
    }

    fn root(&self) -> Option<NodeId> {
        self.root
    }

    /// The root node (none for an empty fragment).
    pub fn root_node(&self) -> Option<NodeId> {
        self.root
    }

    /// Whether `id` is a block mapping.
    pub fn is_block_mapping(&self, id: NodeId) -> bool {
        matches!(self.tree.node(id).kind, NodeKind::Mapping { flow: false, .. })
    }

    /// The (key, value) entries of a block mapping node.
    pub fn entries(&self, id: NodeId) -> Result<Vec<(String, NodeId)>, String> {
        if !self.is_block_mapping(id) && !self.tree.node(id).is_null() {
            return Err("the value to merge must be a block mapping".into());
        }
        Ok(self
            .tree
            .entries(id)
            .iter()
            .map(|e| (self.tree.node(e.key).as_str().unwrap_or_else(|| self.tree.text_of(e.key)).to_string(), e.value))
            .collect())
    }

    /// The node laid out on its own at column 0, as text another operation can take.
    pub fn text_at_zero(&self, id: NodeId) -> String {
        let node = self.tree.node(id);
        let inline = node.is_flow() || matches!(node.kind, NodeKind::Alias { .. }) || is_inline_scalar(&self.tree, id);
        if inline {
            return self.text(node.props_start, node.span.end).to_string();
        }
        let style = Style { unit: 2, indent_sequences: true, eol: "\n" };
        let props = self.text(node.props_start, node.span.start).trim_end();
        let mut out = Vec::new();
        let mut cursor = self.tree.source.line_index(node.props_start);
        if matches!(&node.kind, NodeKind::Scalar { .. }) {
            self.block_scalar("", id, 2, &mut out, &mut cursor);
            return out.join("\n");
        }
        self.block(id, 0, &style, &mut out, &mut cursor);
        let body = out.join("\n");
        if props.is_empty() {
            body
        } else {
            format!("{props}\n{body}")
        }
    }

    /// The fragment fits on one line inside another (a scalar, alias or one-line flow collection).
    pub fn is_inline(&self) -> bool {
        match self.root() {
            None => true,
            Some(root) => {
                let node = self.tree.node(root);
                let one_line = !self.tree.source.text()[node.props_start..node.span.end].contains('\n');
                one_line
                    && (node.is_flow()
                        || matches!(node.kind, NodeKind::Alias { .. })
                        || is_inline_scalar(&self.tree, root))
            }
        }
    }

    /// The fragment's text when it is inline (properties included).
    pub fn inline_text(&self) -> &str {
        match self.root() {
            None => "",
            Some(root) => {
                let node = self.tree.node(root);
                &self.tree.source.text()[node.props_start..node.span.end]
            }
        }
    }

    /// The items of a sequence fragment, each laid out at column 0.
    pub fn items(&self) -> Option<Vec<String>> {
        match &self.tree.node(self.root?).kind {
            NodeKind::Sequence { items, .. } => Some(items.iter().map(|&item| self.text_at_zero(item)).collect()),
            _ => None,
        }
    }

    /// The fragment is a `|` or `>` block scalar.
    pub fn is_block_scalar(&self) -> bool {
        self.root().is_some_and(|r| {
            matches!(self.tree.node(r).kind, NodeKind::Scalar { style: ScalarStyle::Literal | ScalarStyle::Folded, .. })
        })
    }

    pub fn is_sequence(&self) -> bool {
        self.root().is_some_and(|r| matches!(self.tree.node(r).kind, NodeKind::Sequence { .. }))
    }

    /// The lines of `key: <fragment>` at column `indent`.
    pub fn entry_lines(&self, key: &str, indent: usize, style: &Style) -> Vec<String> {
        let mut out = Vec::new();
        match self.root() {
            None => out.push(format!("{}{key}:", pad(indent))),
            Some(root) => {
                let mut cursor = self.first_line;
                if let Some(line) = self.key_line {
                    self.comments(line, indent, &mut out, &mut cursor);
                }
                self.entry(key, root, indent, style, &mut out, &mut cursor);
            }
        }
        out
    }

    /// [`Fragment::entry_lines`], laid out once for each key, indent and style and shared after
    /// that (up to [`MAX_LAID_OUT`] layouts a fragment; more are laid out each time).
    pub fn shared_entry_lines(&self, key: &str, indent: usize, style: &Style) -> Arc<[String]> {
        let at = LayoutKey {
            root: self.root,
            first_line: self.first_line,
            key_line: self.key_line,
            key: key.to_string(),
            indent,
            unit: style.unit,
            indent_sequences: style.indent_sequences,
        };
        if let Some(lines) = crate::stack::project::lock(&self.laid_out.0).get(&at) {
            return Arc::clone(lines);
        }
        let lines: Arc<[String]> = self.entry_lines(key, indent, style).into();
        let mut laid_out = crate::stack::project::lock(&self.laid_out.0);
        if laid_out.len() < MAX_LAID_OUT {
            laid_out.entry(at).or_insert_with(|| Arc::clone(&lines));
        }
        lines
    }

    /// The lines of `- <fragment>` at column `indent`.
    pub fn item_lines(&self, indent: usize, style: &Style) -> Vec<String> {
        let mut out = Vec::new();
        match self.root() {
            None => out.push(format!("{}-", pad(indent))),
            Some(root) => {
                let mut cursor = self.first_line;
                self.item(root, indent, style, &mut out, &mut cursor);
            }
        }
        out
    }

    /// The lines of a block fragment whose first line starts at column `indent`.
    pub fn block_lines(&self, indent: usize, style: &Style) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(root) = self.root() {
            let mut cursor = self.first_line;
            self.block(root, indent, style, &mut out, &mut cursor);
        }
        out
    }

    fn text(&self, from: usize, to: usize) -> &str {
        &self.tree.source.text()[from..to]
    }

    /// Comment-only lines of the fragment before `line`, laid out at `indent`.
    fn comments(&self, line: usize, indent: usize, out: &mut Vec<String>, cursor: &mut usize) {
        for idx in *cursor..line {
            let text = self.tree.source.line_text(idx).trim();
            if text.starts_with('#') {
                out.push(format!("{}{text}", pad(indent)));
            }
        }
        *cursor = (*cursor).max(line);
    }

    /// A comment written after a node on its last line.
    fn trailing_comment(&self, id: NodeId) -> &str {
        let source = &self.tree.source;
        let end = self.tree.node(id).span.end;
        let rest = &source.text()[end..source.line_content_end(source.line_index(end))];
        if rest.trim_start().starts_with('#') {
            rest
        } else {
            ""
        }
    }

    fn block(&self, id: NodeId, indent: usize, style: &Style, out: &mut Vec<String>, cursor: &mut usize) {
        match &self.tree.node(id).kind {
            NodeKind::Mapping { entries, flow: false } => {
                for entry in entries {
                    let key = self.tree.node(entry.key);
                    let key_text = self.text(key.props_start, key.span.end).to_string();
                    self.comments(self.tree.source.line_index(key.props_start), indent, out, cursor);
                    self.entry(&key_text, entry.value, indent, style, out, cursor);
                }
            }
            NodeKind::Sequence { items, flow: false } => {
                for &item in items {
                    self.item(item, indent, style, out, cursor);
                }
            }
            _ => {
                let node = self.tree.node(id);
                out.push(format!(
                    "{}{}{}",
                    pad(indent),
                    self.text(node.props_start, node.span.end),
                    self.trailing_comment(id)
                ));
                *cursor = self.tree.source.line_index(node.span.end) + 1;
            }
        }
    }

    fn entry(&self, key: &str, value: NodeId, indent: usize, style: &Style, out: &mut Vec<String>, cursor: &mut usize) {
        let node = self.tree.node(value);
        let props = self.text(node.props_start, node.span.start).trim_end();
        let props = if props.is_empty() { String::new() } else { format!(" {props}") };
        match &node.kind {
            NodeKind::Mapping { flow: false, .. } => {
                out.push(format!("{}{key}:{props}", pad(indent)));
                self.block(value, indent + style.unit, style, out, cursor);
            }
            NodeKind::Sequence { flow: false, .. } => {
                out.push(format!("{}{key}:{props}", pad(indent)));
                let nested = if style.indent_sequences { indent + style.unit } else { indent };
                self.block(value, nested, style, out, cursor);
            }
            NodeKind::Scalar { style: ScalarStyle::Literal | ScalarStyle::Folded, .. } => {
                self.block_scalar(&format!("{}{key}:{props} ", pad(indent)), value, indent + style.unit, out, cursor);
            }
            _ => {
                let text = self.text(node.props_start, node.span.end);
                let sep = if text.is_empty() { "" } else { " " };
                out.push(format!("{}{key}:{sep}{text}{}", pad(indent), self.trailing_comment(value)));
                *cursor = self.tree.source.line_index(node.span.end) + 1;
            }
        }
    }

    fn item(&self, id: NodeId, indent: usize, style: &Style, out: &mut Vec<String>, cursor: &mut usize) {
        let node = self.tree.node(id);
        self.comments(self.tree.source.line_index(node.props_start), indent, out, cursor);
        match &node.kind {
            NodeKind::Mapping { flow: false, .. } | NodeKind::Sequence { flow: false, .. } => {
                let mut nested = Vec::new();
                self.block(id, indent + 2, style, &mut nested, cursor);
                let first = nested.iter().position(|l| !l.trim_start().starts_with('#')).unwrap_or(0);
                for (i, line) in nested.into_iter().enumerate() {
                    if i == first {
                        out.push(format!("{}- {}", pad(indent), &line[(indent + 2).min(line.len())..]));
                    } else {
                        out.push(line);
                    }
                }
            }
            NodeKind::Scalar { style: ScalarStyle::Literal | ScalarStyle::Folded, .. } => {
                self.block_scalar(&format!("{}- ", pad(indent)), id, indent + 2, out, cursor);
            }
            _ => {
                out.push(format!(
                    "{}- {}{}",
                    pad(indent),
                    self.text(node.props_start, node.span.end),
                    self.trailing_comment(id)
                ));
                *cursor = self.tree.source.line_index(node.span.end) + 1;
            }
        }
    }

    /// A block scalar: its header after `lead`, its content re-indented to `indent`.
    fn block_scalar(&self, lead: &str, id: NodeId, indent: usize, out: &mut Vec<String>, cursor: &mut usize) {
        let source = &self.tree.source;
        let node = self.tree.node(id);
        let header_line = source.line_index(node.span.start);
        let header = source.line_text(header_line)[column(source, node.props_start)..].trim_end();
        out.push(format!("{lead}{header}").trim_end().to_string());
        let last = source.line_index(node.span.end);
        let lines: Vec<&str> = (header_line + 1..=last).map(|i| source.line_text(i)).collect();
        let strip = lines
            .iter()
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.len() - l.trim_start_matches(' ').len())
            .min()
            .unwrap_or(0);
        for line in lines {
            if line.trim().is_empty() {
                out.push(String::new());
            } else {
                out.push(format!("{}{}", pad(indent), &line[strip..]));
            }
        }
        *cursor = last + 1;
    }
}

/// How many layouts of one fragment [`Fragment::shared_entry_lines`] keeps.
pub const MAX_LAID_OUT: usize = 256;

/// Layouts of a fragment's parts, by where and how each was laid out.
#[derive(Debug, Default)]
struct LaidOut(std::sync::Mutex<std::collections::HashMap<LayoutKey, Arc<[String]>, foldhash::fast::RandomState>>);

/// What the lines of [`Fragment::entry_lines`] depend on: the part of the fragment, the key,
/// the column and the style's indentation (not its line ends, added when the lines are joined).
#[derive(Debug, PartialEq, Eq, Hash)]
struct LayoutKey {
    root: Option<NodeId>,
    first_line: usize,
    key_line: Option<usize>,
    key: String,
    indent: usize,
    unit: usize,
    indent_sequences: bool,
}

fn is_inline_scalar(tree: &Tree, id: NodeId) -> bool {
    matches!(&tree.node(id).kind, NodeKind::Scalar { style, .. } if !matches!(style, ScalarStyle::Literal | ScalarStyle::Folded))
}

/// `n` spaces (borrowed for any indentation a compose file has).
fn pad(n: usize) -> std::borrow::Cow<'static, str> {
    const SPACES: &str = "                                                                                                                                ";
    match SPACES.get(..n) {
        Some(spaces) => std::borrow::Cow::Borrowed(spaces),
        None => std::borrow::Cow::Owned(" ".repeat(n)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: Style = Style { unit: 2, indent_sequences: true, eol: "\n" };

    #[test]
    fn re_indents_to_four_spaces_and_unindented_sequences() {
        let f = Fragment::parse("resources:\n  limits:\n    memory: 2G\nports:\n  - \"80:80\"\n").unwrap();
        let style = Style { unit: 4, indent_sequences: false, eol: "\n" };
        assert_eq!(
            f.entry_lines("deploy", 8, &style),
            [
                "        deploy:",
                "            resources:",
                "                limits:",
                "                    memory: 2G",
                "            ports:",
                "            - \"80:80\""
            ]
        );
    }

    #[test]
    fn mapping_items_continue_after_the_dash() {
        let f = Fragment::parse("job_name: redis\nstatic_configs:\n  - targets: [\"r:9121\"]\n").unwrap();
        assert_eq!(
            f.item_lines(2, &TWO),
            ["  - job_name: redis", "    static_configs:", "      - targets: [\"r:9121\"]"]
        );
    }

    #[test]
    fn comments_tags_and_block_scalars_survive() {
        let f = Fragment::parse("# why\nports: !reset []\ncommand: |\n  a\n    b\n").unwrap();
        assert_eq!(
            f.entry_lines("web", 2, &TWO),
            ["  web:", "    # why", "    ports: !reset []", "    command: |", "      a", "        b"]
        );
    }

    #[test]
    fn shared_layouts_are_the_layouts_and_laid_out_once() {
        let f = Fragment::parse("# why\nlogging:\n  driver: json-file\nports:\n  - \"80:80\"\n").unwrap();
        let four = Style { unit: 4, indent_sequences: false, eol: "\n" };
        let root = f.root_node().unwrap();
        for (key, value) in f.entries(root).unwrap() {
            // Each time a new part, as merging makes them; the layout is shared all the same.
            let part = || f.entry_child(root, value);
            for (indent, style) in [(4, &TWO), (8, &TWO), (4, &four)] {
                let shared = part().shared_entry_lines(&key, indent, style);
                assert_eq!(*shared, *part().entry_lines(&key, indent, style), "{key} at {indent}");
                assert!(Arc::ptr_eq(&shared, &part().shared_entry_lines(&key, indent, style)));
            }
        }
        // Two parts, two keys, three layouts each.
        assert_eq!(crate::stack::project::lock(&f.laid_out.0).len(), 6);
        // A full memo lays out anew, the same lines.
        let g = Fragment::parse("a: 1\n").unwrap();
        for indent in 0..MAX_LAID_OUT + 3 {
            assert_eq!(*g.shared_entry_lines("k", indent, &TWO), *g.entry_lines("k", indent, &TWO));
        }
        assert_eq!(crate::stack::project::lock(&g.laid_out.0).len(), MAX_LAID_OUT);
    }

    #[test]
    fn style_is_learned_from_the_file() {
        let tree = Tree::parse("a:\n    b:\n    - x\n".to_string()).unwrap();
        let style = Style::of(&tree);
        assert_eq!((style.unit, style.indent_sequences), (4, false));
    }
}
