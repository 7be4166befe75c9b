//! Bootstrap keeps the base compose files as they are: an edit a fix would make in a base file is
//! made on a scratch copy, and what it changed under `services.<name>.<key>` is written into the
//! production overlay the way `docker compose -f base -f overlay` merges it — changed mapping
//! entries merged, sequences and scalars replaced (`!override`), removed keys `!reset`.

use crate::yaml::emit::Fragment;
use crate::yaml::route::resolve;
use crate::yaml::tree::{NodeId, NodeKind};
use crate::yaml::{splice_text, Route, Segment, Splice, Tree};

/// A service setting written for the overlay: `(service, fragment text for its mapping)`.
pub(crate) type Lifted = (String, String);

/// The overlay fragments equivalent to applying `splices` to the base file `base`.
pub(crate) fn lift(base: &Tree, splices: &[Splice]) -> Result<Vec<Lifted>, String> {
    let scratch = Fragment::parse(&splice_text(base.source.text(), splices))
        .map_err(|e| format!("internal error: the edit broke the base file ({e})"))?;
    let mut keys: Vec<(String, String)> = Vec::new();
    for splice in splices {
        let (service, key) = match splice.aims.0.as_slice() {
            [Segment::Key(services), Segment::Key(service), Segment::Key(key), ..] if services == "services" => {
                (service.clone(), key.clone())
            }
            _ => {
                return Err(format!(
                    "the fix edits `{}` of a base file, which bootstrap does not change; left for `stackfix fix`",
                    splice.aims
                ))
            }
        };
        if !keys.contains(&(service.clone(), key.clone())) {
            keys.push((service, key));
        }
    }
    let mut out: Vec<Lifted> = Vec::new();
    for (service, key) in keys {
        let route = Route::default().key("services").key(&service).key(&key);
        let old = resolve(base, &route).ok().map(|l| l.node);
        let text = match resolve(scratch.tree(), &route) {
            Ok(new) => {
                let side = Sides { old: base, new: &scratch };
                let mut lines = Vec::new();
                side.entry(&key, old, new.node, 0, &mut lines)?;
                lines.join("\n")
            }
            Err(_) => format!("{}: !reset null", crate::yaml::patch::key_text(&key)),
        };
        match out.iter_mut().find(|(s, _)| *s == service) {
            Some((_, all)) => all.push_str(&format!("\n{text}")),
            None => out.push((service, text)),
        }
    }
    Ok(out)
}

/// The base file before the edit and the scratch copy after it.
struct Sides<'a> {
    old: &'a Tree,
    new: &'a Fragment,
}

impl Sides<'_> {
    /// `key: value` lines at `indent` that turn the old value into the new one when merged.
    fn entry(
        &self,
        key: &str,
        old: Option<NodeId>,
        new: NodeId,
        indent: usize,
        out: &mut Vec<String>,
    ) -> Result<(), String> {
        let tree = self.new.tree();
        refuse_anchors(tree, new)?;
        let pad = " ".repeat(indent);
        let key_text = crate::yaml::patch::key_text(key);
        let node = tree.node(new);
        let old_mapping = old.filter(|&o| {
            let o = self.old.node(o);
            matches!(o.kind, NodeKind::Mapping { .. }) && o.tag().is_none()
        });
        match (&node.kind, old_mapping) {
            (NodeKind::Mapping { .. }, Some(old)) if node.tag().is_none() => {
                let mut children = Vec::new();
                for entry in tree.entries(new) {
                    let name = tree.node(entry.key).as_str().ok_or("a mapping key is not a plain scalar")?;
                    let before = self.old.entry(old, name).map(|e| e.value);
                    if before.is_some_and(|b| same(self.old, b, tree, entry.value)) {
                        continue;
                    }
                    self.entry(name, before, entry.value, indent + 2, &mut children)?;
                }
                for entry in self.old.entries(old) {
                    let name = self.old.node(entry.key).as_str().ok_or("a mapping key is not a plain scalar")?;
                    if tree.entry(new, name).is_none() {
                        children.push(format!("{pad}  {}: !reset null", crate::yaml::patch::key_text(name)));
                    }
                }
                out.push(format!("{pad}{key_text}:"));
                out.extend(children);
            }
            _ => {
                if node.tag().is_some() {
                    return Err(format!("`{key}` carries a tag in the base file; left for a person"));
                }
                let sequence = matches!(node.kind, NodeKind::Sequence { .. });
                let tag = if sequence { " !override" } else { "" };
                let text = self.new.text_at_zero(new);
                let inline = node.is_flow() || !text.contains('\n') && !matches!(node.kind, NodeKind::Mapping { .. });
                if inline {
                    out.push(format!("{pad}{key_text}:{tag} {text}"));
                } else {
                    out.push(format!("{pad}{key_text}:{tag}"));
                    out.extend(text.lines().map(|l| format!("{pad}  {l}")));
                }
            }
        }
        Ok(())
    }
}

/// Aliases and anchors belong to the base file: a copy in the overlay would not resolve.
fn refuse_anchors(tree: &Tree, id: NodeId) -> Result<(), String> {
    let node = tree.node(id);
    if node.anchor().is_some() || matches!(node.kind, NodeKind::Alias { .. }) {
        return Err("the value uses YAML anchors of the base file; left for `stackfix fix`".into());
    }
    match &node.kind {
        NodeKind::Mapping { entries, .. } => entries.iter().try_for_each(|e| {
            if tree.is_merge_key(e.key) {
                return Err("the value uses a merge key of the base file; left for `stackfix fix`".into());
            }
            refuse_anchors(tree, e.value)
        }),
        NodeKind::Sequence { items, .. } => items.iter().try_for_each(|&i| refuse_anchors(tree, i)),
        _ => Ok(()),
    }
}

/// Same value written the same way (scalars compare as written).
fn same(a: &Tree, x: NodeId, b: &Tree, y: NodeId) -> bool {
    let (n, m) = (a.node(x), b.node(y));
    if n.tag() != m.tag() {
        return false;
    }
    match (&n.kind, &m.kind) {
        (NodeKind::Scalar { .. }, NodeKind::Scalar { .. }) => a.text_of(x) == b.text_of(y),
        (NodeKind::Sequence { items: i, .. }, NodeKind::Sequence { items: j, .. }) => {
            i.len() == j.len() && i.iter().zip(j).all(|(&p, &q)| same(a, p, b, q))
        }
        (NodeKind::Mapping { entries: e, .. }, NodeKind::Mapping { entries: f, .. }) => {
            e.len() == f.len()
                && e.iter().zip(f).all(|(p, q)| a.text_of(p.key) == b.text_of(q.key) && same(a, p.value, b, q.value))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::{splices, Op, Patch};

    fn lifted(base: &str, route: &str, op: Op) -> Result<Vec<Lifted>, String> {
        let tree = Tree::parse(base.to_string()).unwrap();
        let patch = Patch { route: Route::parse(route), op };
        lift(&tree, &splices(&tree, &patch).unwrap())
    }

    #[test]
    fn changed_mapping_entries_are_merged_sequences_replaced() {
        let base = "services:\n  db:\n    image: postgres:16\n    environment:\n      POSTGRES_USER: app\n      POSTGRES_PASSWORD: secret\n    command: [\"postgres\"]\n";
        let out = lifted(
            base,
            "services.db.environment.POSTGRES_PASSWORD",
            Op::ReplaceScalar { value: "${POSTGRES_PASSWORD:?}".into() },
        )
        .unwrap();
        assert_eq!(out, [("db".to_string(), "environment:\n  POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:?}".to_string())]);
        let out = lifted(base, "services.db.command", Op::AppendItem { value: "-c".into() }).unwrap();
        assert_eq!(out, [("db".to_string(), "command: !override [\"postgres\", -c]".to_string())]);
    }

    #[test]
    fn block_sequences_keep_their_text_and_anchors_are_refused() {
        let base = "services:\n  web:\n    ports:\n      - \"8080:80\" # public\n";
        let out = lifted(base, "services.web.ports", Op::AppendItem { value: "\"9090:90\"".into() }).unwrap();
        assert_eq!(out[0].1, "ports: !override\n  - \"8080:80\" # public\n  - \"9090:90\"");
        let anchored = "x: &env\n  A: 1\nservices:\n  web:\n    environment: *env\n    command: [a]\n";
        assert!(lifted(anchored, "services.web.command", Op::AppendItem { value: "b".into() }).is_ok());
        let merged = "services:\n  web:\n    environment:\n      <<: {A: 1}\n      B: 2\n";
        assert!(lifted(merged, "services.web.environment.B", Op::ReplaceScalar { value: "3".into() }).is_err());
    }
}
