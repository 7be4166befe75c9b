//! Located values: a YAML tree with aliases and `<<` merge keys applied, where every value still knows
//! the file and span it came from. Compose merging and normalisation work on these; rules read them.
//! Expansion is bounded, so an alias bomb ends in an error instead of exhausting memory.

use std::collections::{HashMap, HashSet};

use super::interpolate::InterpolationError;

use crate::yaml::{NodeId, NodeKind, ScalarStyle, Span, Tree};

/// Index of a file in [`super::Stack::files`].
pub type FileId = usize;

/// Where a value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loc {
    pub file: FileId,
    /// The value's own text.
    pub span: Span,
    /// The key this value is written under, when it is a mapping value (or a normalised list item).
    pub key: Option<Span>,
    /// The value reached this place through an alias or a merge key: editing it here would change
    /// every user of the anchor.
    pub via_alias: bool,
}

impl Loc {
    /// The span a user would look at: the key when there is one, else the value.
    pub fn primary(&self) -> Span {
        self.key.unwrap_or(self.span)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ValueKind {
    Null,
    /// `text` is the value compose runs (interpolated with the project's `.env` once the loader
    /// has called [`Value::interpolate`]; [`Value::written`] gives the text in the file).
    Scalar {
        text: String,
        quoted: bool,
    },
    Seq(Vec<Value>),
    Map(Vec<(String, Value)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    pub kind: ValueKind,
    pub loc: Loc,
    /// What few values carry, boxed so that the many without cost one pointer.
    pub(super) extra: Option<Box<Extra>>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct Extra {
    /// Short tag as written (`!reset`, `!override`).
    tag: Option<String>,
    /// A scalar's text as written, when interpolation changed it.
    written: Option<String>,
}

/// Maximum number of values one file may expand to through aliases: no more than a file without
/// aliases may hold.
pub const EXPANSION_BUDGET: usize = crate::yaml::tree::MAX_NODES;
const MAX_ALIAS_DEPTH: usize = 64;

/// Why a tree could not become values.
#[derive(Debug, Clone)]
pub struct ValueError {
    pub span: Span,
    pub message: String,
}

impl Value {
    pub fn null(loc: Loc) -> Value {
        Value { kind: ValueKind::Null, loc, extra: None }
    }

    pub fn scalar(text: impl Into<String>, loc: Loc) -> Value {
        Value { kind: ValueKind::Scalar { text: text.into(), quoted: false }, loc, extra: None }
    }

    /// A value of `kind` at `loc`, untagged.
    pub fn new(kind: ValueKind, loc: Loc) -> Value {
        Value { kind, loc, extra: None }
    }

    /// The short tag as written (`!reset`, `!override`).
    pub fn tag(&self) -> Option<&str> {
        self.extra.as_ref().and_then(|e| e.tag.as_deref())
    }

    /// The value without its tag (what a merge leaves of an overriding value).
    pub fn untagged(mut self) -> Value {
        if let Some(extra) = self.extra.as_deref_mut() {
            extra.tag = None;
            if extra.written.is_none() {
                self.extra = None;
            }
        }
        self
    }

    /// A scalar with its text as written in the file, when that differs from `text`.
    pub fn with_written(mut self, written: Option<String>) -> Value {
        if written.is_some() {
            self.extra.get_or_insert_with(Default::default).written = written;
        }
        self
    }

    /// Converts the node `id` of `tree` (from file `file`), applying aliases and merge keys.
    pub fn from_tree(tree: &Tree, id: NodeId, file: FileId) -> Result<Value, ValueError> {
        let mut budget = EXPANSION_BUDGET;
        convert(tree, id, file, None, false, 0, &mut budget)
    }

    /// Whether `self` and `other` hold the same content, as compose compares two definitions
    /// of one resource: scalars by `same_text` on their text (interpolated), sequences item by
    /// item, mappings key by key in any order; where either is written, tags and quoting do not
    /// count.
    pub fn same_as_with(&self, other: &Value, same_text: &dyn Fn(&str, &str) -> bool) -> bool {
        match (&self.kind, &other.kind) {
            (ValueKind::Null, ValueKind::Null) => true,
            (ValueKind::Scalar { text: a, .. }, ValueKind::Scalar { text: b, .. }) => same_text(a, b),
            (ValueKind::Seq(a), ValueKind::Seq(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same_as_with(y, same_text))
            }
            (ValueKind::Map(a), ValueKind::Map(b)) => {
                a.len() == b.len()
                    && a.iter().all(|(k, v)| {
                        b.iter().find(|(bk, _)| bk == k).is_some_and(|(_, w)| v.same_as_with(w, same_text))
                    })
            }
            _ => false,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            ValueKind::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// Whether a compose boolean field holds true: compose casts the values of its boolean
    /// fields as YAML 1.1 reads booleans (`y`, `yes`, `true`, `on`, in any case), interpolated or
    /// not (compose-go, `loader/interpolate.go`, `toBoolean`:
    /// https://github.com/compose-spec/compose-go/blob/main/loader/interpolate.go).
    pub fn is_compose_true(&self) -> bool {
        self.as_str().is_some_and(|s| matches!(s.to_ascii_lowercase().as_str(), "y" | "yes" | "true" | "on"))
    }

    /// A scalar's text as written in the file, before interpolation (`${PG_PORT:-5432}`).
    pub fn written(&self) -> Option<&str> {
        match &self.kind {
            ValueKind::Scalar { text, .. } => {
                Some(self.extra.as_ref().and_then(|e| e.written.as_deref()).unwrap_or(text))
            }
            _ => None,
        }
    }

    /// Interpolates every scalar below this value (mapping keys excepted, as in compose) with
    /// `env`, as compose does when it reads a file; each changed scalar keeps its written text.
    /// Values compose would refuse are left as written and returned with where they are.
    pub fn interpolate(&mut self, env: &HashMap<String, String>) -> Vec<(Loc, InterpolationError)> {
        let mut errors = Vec::new();
        interpolate_into(self, env, &mut errors);
        errors
    }

    pub fn is_null(&self) -> bool {
        matches!(self.kind, ValueKind::Null)
    }

    pub fn entries(&self) -> &[(String, Value)] {
        match &self.kind {
            ValueKind::Map(entries) => entries,
            _ => &[],
        }
    }

    pub fn items(&self) -> &[Value] {
        match &self.kind {
            ValueKind::Seq(items) => items,
            _ => &[],
        }
    }

    pub fn is_map(&self) -> bool {
        matches!(self.kind, ValueKind::Map(_))
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entries().iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Follows a dotted path of mapping keys.
    pub fn path(&self, path: &[&str]) -> Option<&Value> {
        path.iter().try_fold(self, |v, key| v.get(key))
    }

    /// The scalar at `key` as text (numbers and booleans too).
    pub fn str_at(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }

    /// Whether the value was tagged `!reset`.
    pub fn is_reset(&self) -> bool {
        self.tag() == Some("!reset")
    }

    pub fn is_override(&self) -> bool {
        self.tag() == Some("!override")
    }
}

fn interpolate_into(value: &mut Value, env: &HashMap<String, String>, errors: &mut Vec<(Loc, InterpolationError)>) {
    match &mut value.kind {
        ValueKind::Scalar { text, .. }
            if text.contains('$') && value.extra.as_ref().is_none_or(|e| e.written.is_none()) =>
        {
            let resolved = match super::interpolate::interpolate(text, env) {
                Ok(resolved) => resolved,
                Err(e) => {
                    // A missing required variable reads as empty, as if the environment set it
                    // so; an invalid reference stays as written.
                    let resolved = matches!(e, InterpolationError::Required { .. })
                        .then(|| super::interpolate::resolve(text, env));
                    errors.push((value.loc, e));
                    match resolved {
                        Some(resolved) => resolved,
                        None => return,
                    }
                }
            };
            if resolved != *text {
                let written = std::mem::replace(text, resolved);
                value.extra.get_or_insert_with(Default::default).written = Some(written);
            }
        }
        ValueKind::Seq(items) => items.iter_mut().for_each(|v| interpolate_into(v, env, errors)),
        // The entries of a large mapping (thousands of services) in parallel, their errors in order.
        ValueKind::Map(entries) if entries.len() >= PARALLEL_ENTRIES => {
            use rayon::prelude::*;
            let found: Vec<Vec<(Loc, InterpolationError)>> = entries
                .par_iter_mut()
                .with_min_len(64)
                .map(|(_, v)| {
                    let mut errors = Vec::new();
                    interpolate_into(v, env, &mut errors);
                    errors
                })
                .collect();
            errors.extend(found.into_iter().flatten());
        }
        ValueKind::Map(entries) => entries.iter_mut().for_each(|(_, v)| interpolate_into(v, env, errors)),
        _ => {}
    }
}

fn convert(
    tree: &Tree,
    id: NodeId,
    file: FileId,
    key: Option<Span>,
    via_alias: bool,
    depth: usize,
    budget: &mut usize,
) -> Result<Value, ValueError> {
    let node = tree.node(id);
    if *budget == 0 {
        return Err(ValueError {
            span: node.span,
            message: format!(
                "aliases expand to more than {EXPANSION_BUDGET} values (an alias bomb?); refusing to expand"
            ),
        });
    }
    *budget -= 1;
    if depth > crate::yaml::tree::MAX_DEPTH + MAX_ALIAS_DEPTH {
        return Err(ValueError { span: node.span, message: "aliases nest too deeply (an alias cycle?)".into() });
    }
    let loc = Loc { file, span: node.span, key, via_alias };
    let tag = node.tag().map(str::to_string);
    let kind = match &node.kind {
        NodeKind::Alias { target, name } => {
            let Some(target) = target else {
                return Err(ValueError { span: node.span, message: format!("alias `*{name}` has no anchor") });
            };
            let mut value = convert(tree, *target, file, key, true, depth + 1, budget)?;
            value.loc.span = node.span;
            return Ok(value);
        }
        NodeKind::Scalar { value, style } => {
            if node.is_null() {
                ValueKind::Null
            } else {
                ValueKind::Scalar { text: value.clone(), quoted: *style != ScalarStyle::Plain }
            }
        }
        NodeKind::Sequence { items, .. } => {
            let mut out = Vec::with_capacity(items.len());
            for &item in items {
                out.push(convert(tree, item, file, None, via_alias, depth + 1, budget)?);
            }
            ValueKind::Seq(out)
        }
        NodeKind::Mapping { entries, .. } => {
            let at = Mapping { tree, file, via_alias, depth };
            match convert_in_parallel(at, entries, budget) {
                Some(kind) => kind,
                None => convert_mapping(at, entries, budget)?,
            }
        }
    };
    Ok(Value { kind, loc, extra: tag.map(|tag| Box::new(Extra { tag: Some(tag), written: None })) })
}

/// The mapping whose entries [`convert_mapping`] and [`convert_in_parallel`] convert: its tree and
/// file, whether it was reached through an alias, and how deep it is.
#[derive(Clone, Copy)]
struct Mapping<'t> {
    tree: &'t Tree,
    file: FileId,
    via_alias: bool,
    depth: usize,
}

/// Entries of a mapping from which [`convert_in_parallel`] converts each entry on its own.
pub(crate) const PARALLEL_ENTRIES: usize = 256;

/// A large mapping's entries (a stack's thousands of services) converted each on its own, in
/// parallel: what [`convert_mapping`] makes of them when they have no merge key, no key twice, and
/// convert within `budget` together (which is then spent); `None` otherwise, for the caller to
/// convert them in order (and report the error where it is).
fn convert_in_parallel(at: Mapping<'_>, entries: &[crate::yaml::Entry], budget: &mut usize) -> Option<ValueKind> {
    use rayon::prelude::*;
    let Mapping { tree, file, via_alias, depth } = at;
    if entries.len() < PARALLEL_ENTRIES || entries.iter().any(|e| tree.is_merge_key(e.key)) {
        return None;
    }
    let name = |e: &crate::yaml::Entry| key_name(tree, e);
    let mut seen: HashSet<&str> = HashSet::with_capacity(entries.len());
    if !entries.iter().all(|e| seen.insert(name(e))) {
        return None;
    }
    // What the entries converted so far spent: each entry may spend what is left when it starts,
    // so an alias bomb costs a few budgets at most (one per thread), not one per entry.
    let available = *budget;
    let spent = std::sync::atomic::AtomicUsize::new(0);
    let converted: Vec<(String, Value)> = entries
        .par_iter()
        .with_min_len(64)
        .map(|e| {
            let start = available.checked_sub(spent.load(std::sync::atomic::Ordering::Relaxed))?;
            let mut left = start;
            let key = tree.node(e.key).span;
            let value = convert(tree, e.value, file, Some(key), via_alias, depth + 1, &mut left).ok()?;
            spent.fetch_add(start - left, std::sync::atomic::Ordering::Relaxed);
            Some((name(e).to_string(), value))
        })
        .collect::<Option<_>>()?;
    *budget = available.checked_sub(spent.into_inner())?;
    Some(ValueKind::Map(converted))
}

/// The key of a mapping entry: a key written as an alias or collection is its text.
fn key_name<'t>(tree: &'t Tree, entry: &crate::yaml::Entry) -> &'t str {
    tree.node(entry.key).as_str().unwrap_or_else(|| tree.text_of(entry.key))
}

/// A mapping's entries, in order: merge keys (`<<`) applied, explicit keys winning, a key twice
/// refused.
fn convert_mapping(
    at: Mapping<'_>,
    entries: &[crate::yaml::Entry],
    budget: &mut usize,
) -> Result<ValueKind, ValueError> {
    let Mapping { tree, file, via_alias, depth } = at;
    let mut explicit: Vec<(String, Value)> = Vec::with_capacity(entries.len());
    // Keys seen so far; hashed only for large mappings, where a scan would be quadratic.
    let mut seen: HashSet<&str> = HashSet::new();
    let large = entries.len() > 16;
    let mut merged: Vec<(String, Value)> = Vec::new();
    let mut merged_keys: HashSet<String> = HashSet::new();
    let mut merge_seen = false;
    for entry in entries {
        let key_node = tree.node(entry.key);
        if tree.is_merge_key(entry.key) {
            // Go's YAML (compose) refuses a second merge key in one mapping.
            if std::mem::replace(&mut merge_seen, true) {
                return Err(ValueError {
                    span: key_node.span,
                    message: "mapping key `<<` already defined: write one merge key with a list \
                              (`<<: [*a, *b]`)"
                        .into(),
                });
            }
            let source = convert(tree, entry.value, file, None, true, depth + 1, budget)?;
            let sources: Vec<Value> = match source.kind {
                ValueKind::Seq(items) => items,
                _ => vec![source],
            };
            for src in sources {
                for (k, mut v) in match src.kind {
                    ValueKind::Map(e) => e,
                    _ => continue,
                } {
                    if merged_keys.insert(k.clone()) {
                        v.loc.via_alias = true;
                        merged.push((k, v));
                    }
                }
            }
            continue;
        }
        let name = key_name(tree, entry);
        let duplicate = if large { !seen.insert(name) } else { explicit.iter().any(|(k, _)| k == name) };
        if duplicate {
            return Err(ValueError { span: key_node.span, message: format!("duplicate key `{name}` in this mapping") });
        }
        let value = convert(tree, entry.value, file, Some(key_node.span), via_alias, depth + 1, budget)?;
        explicit.push((name.to_string(), value));
    }
    if !merged.is_empty() {
        let written: HashSet<String> = explicit.iter().map(|(k, _)| k.clone()).collect();
        explicit.extend(merged.into_iter().filter(|(k, _)| !written.contains(k)));
    }
    Ok(ValueKind::Map(explicit))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(yaml: &str) -> Result<Value, ValueError> {
        let tree = Tree::parse(yaml.to_string()).unwrap();
        Value::from_tree(&tree, tree.root().unwrap(), 0)
    }

    #[test]
    fn merge_keys_apply_with_explicit_keys_winning() {
        let v =
            value("x: &d {restart: always, image: a}\ny: &e {init: true}\ns:\n  <<: [*d, *e]\n  image: b\n").unwrap();
        let s = v.get("s").unwrap();
        assert_eq!(s.str_at("image"), Some("b"));
        assert_eq!(s.str_at("restart"), Some("always"));
        assert!(s.get("restart").unwrap().loc.via_alias);
        assert_eq!(s.str_at("init"), Some("true"));
    }

    #[test]
    fn tagged_merge_keys_apply() {
        let v = value("x: &d {restart: always}\ns:\n  !!merge <<: *d\n  image: b\n").unwrap();
        assert_eq!(v.get("s").unwrap().str_at("restart"), Some("always"));
        assert!(v.get("s").unwrap().get("<<").is_none());
    }

    #[test]
    fn alias_bomb_is_bounded() {
        let mut yaml = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let prev = i - 1;
            yaml.push_str(&format!("a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"));
        }
        let err = value(&yaml).unwrap_err();
        assert!(err.message.contains("alias bomb"));
    }

    /// A mapping large enough to convert in parallel gives what converting its entries in order
    /// gives, spends the same budget, and fails as that does: a key twice, an alias bomb spread
    /// over its entries.
    #[test]
    fn mappings_converted_in_parallel_equal_those_converted_in_order() {
        let services: String = (0..600)
            .map(|i| format!("  s{i}:\n    image: app:{i}\n    logging: *l\n    ports: [\"{i}:80\"]\n"))
            .collect();
        let yaml = format!("x-l: &l {{driver: json-file, options: {{max-size: 10m}}}}\nservices:\n{services}");
        let tree = Tree::parse(yaml.clone()).unwrap();
        let root = tree.root().unwrap();
        let services = tree.entry(root, "services").unwrap().value;
        let crate::yaml::NodeKind::Mapping { entries, .. } = &tree.node(services).kind else { panic!() };
        let (mut parallel_budget, mut ordered_budget) = (EXPANSION_BUDGET, EXPANSION_BUDGET);
        let at = Mapping { tree: &tree, file: 0, via_alias: false, depth: 1 };
        let parallel = convert_in_parallel(at, entries, &mut parallel_budget).expect("in parallel");
        let ordered = convert_mapping(at, entries, &mut ordered_budget).unwrap();
        assert_eq!(format!("{parallel:?}"), format!("{ordered:?}"));
        assert_eq!(parallel_budget, ordered_budget);
        assert!(value(&yaml).is_ok());
        // A key twice: the error of the entries in order, at the second.
        let twice = format!("{yaml}  s7:\n    image: other\n");
        let err = value(&twice).unwrap_err();
        assert!(err.message.contains("duplicate key `s7`"), "{}", err.message);
        assert_eq!(err.span.start, twice.rfind("s7:").unwrap());
        // Aliases that expand past the budget only together: refused as in order.
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..4 {
            let p = i - 1;
            bomb.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let spread: String = (0..400).map(|i| format!("  s{i}: [*a3, *a3]\n")).collect();
        let err = value(&format!("{bomb}services:\n{spread}")).unwrap_err();
        assert!(err.message.contains("alias bomb"), "{}", err.message);
    }

    #[test]
    fn large_mappings_convert_and_interpolate_as_small_ones_do() {
        let n = 192;
        let services: String =
            (0..n).map(|i| format!("  s{i}:\n    image: app:${{TAG_{i}:?set it}}\n    x: *d\n")).collect();
        let yaml = format!("x-d: &d {{a: 1}}\nservices:\n{services}");
        let mut v = value(&yaml).unwrap();
        let services = v.get("services").unwrap();
        assert_eq!(services.entries().len(), n);
        for (i, (name, service)) in services.entries().iter().enumerate() {
            assert_eq!(name, &format!("s{i}"));
            assert_eq!(service.loc.key.map(|k| &yaml[k.start..k.end]), Some(name.as_str()));
            assert_eq!(service.get("x").unwrap().str_at("a"), Some("1"));
            assert!(service.get("x").unwrap().loc.via_alias);
        }
        // Every missing variable is an error, in the order of the entries.
        let env: HashMap<String, String> =
            (0..n).filter(|i| i % 2 == 0).map(|i| (format!("TAG_{i}"), "1".into())).collect();
        let errors = v.interpolate(&env);
        let at: Vec<usize> = errors.iter().map(|(loc, _)| loc.span.start).collect();
        assert_eq!(errors.len(), n / 2);
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{at:?}");
        assert_eq!(v.get("services").unwrap().get("s2").unwrap().str_at("image"), Some("app:1"));
    }

    #[test]
    fn a_large_mapping_reports_its_first_error_in_order() {
        let n = 128;
        // `a4` expands to 111,111 values; four of them are more than the budget left.
        let mut anchors = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..5 {
            anchors.push_str(&format!("a{i}: &a{i} [{}]\n", vec![format!("*a{}", i - 1); 10].join(", ")));
        }
        let entries = |bomb_at: usize, duplicate_at: usize| -> String {
            (0..n)
                .map(|i| match i {
                    _ if (bomb_at..bomb_at + 4).contains(&i) => format!("  s{i}: *a4\n"),
                    _ if i == duplicate_at => "  s0: 1\n".to_string(),
                    _ => format!("  s{i}: {{image: x}}\n"),
                })
                .collect()
        };
        assert!(value(&format!("{anchors}services:\n{}", entries(n, n))).is_ok());
        // The alias bomb comes first: it is the error.
        let err = value(&format!("{anchors}services:\n{}", entries(10, n - 10))).unwrap_err();
        assert!(err.message.contains("alias bomb"), "{}", err.message);
        // The duplicate key comes first.
        let err = value(&format!("{anchors}services:\n{}", entries(n - 10, 10))).unwrap_err();
        assert!(err.message.contains("duplicate key `s0`"), "{}", err.message);
        // Aliases that together expand past the budget, each entry's within it.
        let many: String = (0..n).map(|i| format!("  s{i}: *a3\n")).collect();
        let err = value(&format!("{anchors}services:\n{many}")).unwrap_err();
        assert!(err.message.contains("alias bomb"), "{}", err.message);
    }

    #[test]
    fn duplicate_keys_are_errors() {
        assert!(value("a: 1\na: 2\n").unwrap_err().message.contains("duplicate key `a`"));
        let two_merges = value("x: &x {a: 1}\ny: &y {b: 2}\ns:\n  <<: *x\n  <<: *y\n").unwrap_err();
        assert!(two_merges.message.contains("`<<` already defined"), "{}", two_merges.message);
    }
}
