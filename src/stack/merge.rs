//! Compose merge semantics (compose-spec `merge.md`): how an override or production file changes the
//! base. Mappings merge recursively; shell commands are replaced; ports, volumes, secrets and configs
//! merge by their unique key; other sequences append; `!reset` removes and `!override` replaces.
//! List spellings (environment, labels, depends_on, networks, …) are normalised to mappings first,
//! keeping each item's location.

use std::collections::HashMap;

use super::value::{Value, ValueKind};

/// Sequences that replace rather than append (compose-spec: shell commands).
const REPLACED_SEQUENCES: &[&str] = &["command", "entrypoint", "healthcheck.test"];

/// Service fields that are written as a list or a mapping and mean the same either way.
pub(crate) const LIST_OR_MAP: &[&str] =
    &["environment", "labels", "annotations", "sysctls", "extra_hosts", "depends_on", "networks"];

/// Turns list spellings of a service's mapping fields into mappings.
pub fn normalize_service(mut service: Value) -> Value {
    if let ValueKind::Map(entries) = &mut service.kind {
        for (key, value) in entries.iter_mut() {
            if LIST_OR_MAP.contains(&key.as_str()) {
                list_to_map(key, value);
            }
        }
    }
    service
}

fn list_to_map(field: &str, value: &mut Value) {
    let ValueKind::Seq(items) = &value.kind else {
        return;
    };
    let mut entries: Vec<(String, Value)> = Vec::with_capacity(items.len());
    for item in items {
        let Some(text) = item.as_str() else { continue };
        let separator = match field {
            "extra_hosts" => text.find(['=', ':']),
            "depends_on" | "networks" => None,
            _ => text.find('='),
        };
        let (name, val) = match separator {
            Some(i) => (text[..i].trim().to_string(), Some(text[i + 1..].to_string())),
            None => (text.trim().to_string(), None),
        };
        let mut loc = item.loc;
        loc.key = Some(item.loc.span);
        // The value as written: what follows the separator (outside `${…}`) in the item's own
        // text. When the name itself came from a variable (`- ${LINE}`, `- ${P}_KEY=x`), the
        // whole item as written stands for the value: nothing of it is written literally.
        let written = item.written().filter(|w| *w != text).map(|w| {
            let at = match field {
                "extra_hosts" => outside_braces(w, &['=', ':']),
                _ => outside_braces(w, &['=']),
            };
            match at {
                Some(at) if w[..at].trim() == name => w[at + 1..].into(),
                _ => w.into(),
            }
        });
        let v = match val {
            Some(v) => Value::new(ValueKind::Scalar { text: v, quoted: false }, loc).with_written(written),
            None => Value::null(loc),
        };
        entries.retain(|(k, _)| *k != name);
        entries.push((name, v));
    }
    value.kind = ValueKind::Map(entries);
}

/// The first of `separators` in `text` outside `${…}`.
fn outside_braces(text: &str, separators: &[char]) -> Option<usize> {
    let mut depth = 0usize;
    let mut previous = '\0';
    for (i, c) in text.char_indices() {
        match c {
            '{' if previous == '$' || depth > 0 => depth += 1,
            '}' if depth > 0 => depth -= 1,
            c if depth == 0 && separators.contains(&c) => return Some(i),
            _ => {}
        }
        previous = c;
    }
    None
}

/// Merges a whole compose document `over` onto `base`.
/// The first compose file of a configuration as compose reads it before merging anything into
/// it: an entry or item tagged `!reset` is not there, and `!override` only marks its value
/// (`restart: !reset always` in a file read alone sets no restart policy).
pub fn resolve_tags(mut value: Value) -> Value {
    resolve_tags_in(&mut value);
    value
}

/// [`resolve_tags`] in place: a value without tags is only read (most are), and the entries of
/// a large mapping (thousands of services) are resolved in parallel.
fn resolve_tags_in(value: &mut Value) {
    if value.is_override() {
        *value = std::mem::replace(value, Value::null(value.loc)).untagged();
    }
    match &mut value.kind {
        ValueKind::Map(entries) => {
            if entries.iter().any(|(_, v)| v.is_reset()) {
                entries.retain(|(_, v)| !v.is_reset());
            }
            if entries.len() >= super::value::PARALLEL_ENTRIES {
                use rayon::prelude::*;
                entries.par_iter_mut().with_min_len(64).for_each(|(_, v)| resolve_tags_in(v));
            } else {
                entries.iter_mut().for_each(|(_, v)| resolve_tags_in(v));
            }
        }
        ValueKind::Seq(items) => {
            if items.iter().any(Value::is_reset) {
                items.retain(|v| !v.is_reset());
            }
            items.iter_mut().for_each(resolve_tags_in);
        }
        _ => {}
    }
}

pub fn merge_documents(base: Value, over: Value) -> Value {
    merge(base, over, "")
}

fn merge(base: Value, over: Value, path: &str) -> Value {
    if over.is_override() {
        return over.untagged();
    }
    let (base, over) = match service_field(path) {
        // `build: ./dir` is `build: {context: ./dir}`: an overlay's string keeps the base's
        // target, and a base's string takes the overlay's keys.
        "build" if base.is_map() != over.is_map() => (build_mapping(base), build_mapping(over)),
        // A logging driver other than the base's replaces the whole block, options and all
        // (compose-go `mergeLogging`); the same driver, or one left out, merges.
        "logging" if is_other_driver(&base, &over) => return over.untagged(),
        _ => (base, over),
    };
    match (base.kind, over.kind) {
        (ValueKind::Map(base_entries), ValueKind::Map(over_entries)) => {
            let mut out: Vec<Option<(String, Value)>> = base_entries.into_iter().map(Some).collect();
            let mut position: HashMap<String, usize> =
                out.iter().enumerate().filter_map(|(i, e)| e.as_ref().map(|(k, _)| (k.clone(), i))).collect();
            for (key, value) in over_entries {
                let child_path = child_path(path, &key);
                match (position.get(&key).copied(), value.is_reset()) {
                    (Some(i), true) => {
                        out[i] = None;
                        position.remove(&key);
                    }
                    (None, true) => {}
                    (Some(i), false) => {
                        if let Some((_, old)) = out[i].take() {
                            out[i] = Some((key, merge(old, value, &child_path)));
                        }
                    }
                    (None, false) => {
                        position.insert(key.clone(), out.len());
                        out.push(Some((key, value)));
                    }
                }
            }
            Value::new(ValueKind::Map(out.into_iter().flatten().collect()), over.loc)
        }
        (ValueKind::Seq(base_items), ValueKind::Seq(over_items)) => {
            let field = service_field(path);
            let items = if REPLACED_SEQUENCES.contains(&field) {
                over_items
            } else {
                merge_sequences(field, base_items, over_items)
            };
            Value::new(ValueKind::Seq(items), over.loc)
        }
        // A scalar (or a value replacing another kind) keeps what it was written as.
        (_, kind) => Value { kind, ..over }.untagged(),
    }
}

/// `build` written as a string, as the mapping it stands for (`{context: …}`).
fn build_mapping(build: Value) -> Value {
    if build.is_map() || build.as_str().is_none() {
        return build;
    }
    let loc = build.loc;
    Value::new(ValueKind::Map(vec![("context".to_string(), build)]), loc)
}

/// Both logging blocks name a driver, and not the same one.
fn is_other_driver(base: &Value, over: &Value) -> bool {
    match (base.get("driver").and_then(Value::as_str), over.get("driver").and_then(Value::as_str)) {
        (Some(b), Some(o)) => b != o,
        _ => false,
    }
}

fn child_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// The field path inside a service (`services.web.healthcheck.test` → `healthcheck.test`).
fn service_field(path: &str) -> &str {
    let Some(rest) = path.strip_prefix("services.") else {
        return path;
    };
    rest.split_once('.').map_or("", |(_, field)| field)
}

/// Sequences compose appends without dropping an item the base has: two equal items are then
/// an error (the schema's `uniqueItems`: "services.web.security_opt items at 0 and 1 are
/// equal"), where other lists (`cap_add`, `dns`, `tmpfs`, …) keep one of them.
pub(crate) const APPENDED_SEQUENCES: &[&str] = &["security_opt", "group_add", "external_links", "volumes_from"];

fn merge_sequences(field: &str, base: Vec<Value>, over: Vec<Value>) -> Vec<Value> {
    if APPENDED_SEQUENCES.contains(&field) {
        let mut out = base;
        out.extend(over);
        return out;
    }
    let unique_key: fn(&Value) -> Option<String> = match field {
        "volumes" => volume_target,
        "secrets" | "configs" => {
            |v: &Value| v.as_str().map(str::to_string).or_else(|| v.str_at("source").map(str::to_string))
        }
        _ => |v: &Value| v.as_str().map(str::to_string),
    };
    let mut out = base;
    for item in over {
        let key = unique_key(&item);
        match key.and_then(|k| out.iter().position(|o| unique_key(o).as_deref() == Some(k.as_str()))) {
            Some(i) => out[i] = item,
            None => out.push(item),
        }
    }
    out
}

/// The container path of a volume entry (short `src:dst[:mode]` or long `target:`).
pub fn volume_target(v: &Value) -> Option<String> {
    if let Some(t) = v.str_at("target") {
        return Some(t.to_string());
    }
    let text = v.as_str()?;
    let parts: Vec<&str> = text.split(':').collect();
    Some(match parts.len() {
        1 => parts[0].to_string(),
        _ => parts[1].to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::Tree;

    fn doc(yaml: &str, file: usize) -> Value {
        let tree = Tree::parse(yaml.to_string()).unwrap();
        Value::from_tree(&tree, tree.root().unwrap(), file).unwrap()
    }

    #[test]
    fn a_file_read_alone_drops_what_it_resets() {
        let read = resolve_tags(doc(
            "services:\n  web:\n    image: a\n    restart: !reset always\n    ports: !override ['80:80']\n    deploy:\n      resources: !reset {limits: {memory: 1g}}\n    dns: [!reset 1.1.1.1, 8.8.8.8]\n",
            0,
        ));
        let web = read.path(&["services", "web"]).unwrap();
        let keys: Vec<&str> = web.entries().iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["image", "ports", "deploy", "dns"]);
        assert!(!web.get("ports").unwrap().is_override());
        assert!(web.path(&["deploy", "resources"]).is_none());
        assert_eq!(web.get("dns").unwrap().items().len(), 1);
    }

    #[test]
    fn compose_merge_rules() {
        let base = doc(
            "services:\n  web:\n    image: a\n    command: [x, y]\n    ports: ['80:80']\n    volumes: ['./src:/app', 'data:/data']\n    environment: {A: '1'}\n    build: .\n",
            0,
        );
        let over = doc(
            "services:\n  web:\n    command: [z]\n    ports: ['443:443']\n    volumes: ['other:/data']\n    environment: {B: '2'}\n    build: !reset null\n    image: !override b\n",
            1,
        );
        let merged = merge_documents(base, over);
        let web = merged.path(&["services", "web"]).unwrap();
        assert_eq!(web.get("command").unwrap().items().len(), 1);
        assert_eq!(web.get("ports").unwrap().items().len(), 2);
        let volumes: Vec<_> = web.get("volumes").unwrap().items().iter().filter_map(Value::as_str).collect();
        assert_eq!(volumes, ["./src:/app", "other:/data"]);
        assert_eq!(web.get("environment").unwrap().entries().len(), 2);
        assert!(web.get("build").is_none());
        assert_eq!(web.str_at("image"), Some("b"));
        assert_eq!(web.get("image").unwrap().loc.file, 1);
    }

    /// As `docker compose -f a.yml -f b.yml config` merges them (checked with compose 2.x).
    #[test]
    fn build_strings_and_logging_drivers_merge_as_compose_merges_them() {
        let base = doc(
            "services:\n  web:\n    build: {context: ./base, target: prod}\n    logging: {driver: json-file, options: {max-size: 10m}}\n  two:\n    logging: {driver: json-file, options: {max-size: 10m}}\n  three:\n    build: ./base\n    logging: {options: {max-size: 10m}}\n",
            0,
        );
        let over = doc(
            "services:\n  web:\n    build: ./app\n    logging: {driver: syslog}\n  two:\n    logging: {options: {max-file: '3'}}\n  three:\n    build: {target: dev}\n    logging: {driver: local}\n",
            1,
        );
        let merged = merge_documents(base, over);
        let service = |name: &str| merged.path(&["services", name]).unwrap();
        let web = service("web");
        assert_eq!(web.path(&["build", "context"]).and_then(Value::as_str), Some("./app"));
        assert_eq!(web.path(&["build", "target"]).and_then(Value::as_str), Some("prod"));
        assert_eq!(web.path(&["logging", "driver"]).and_then(Value::as_str), Some("syslog"));
        assert!(web.path(&["logging", "options"]).is_none());
        assert_eq!(service("two").path(&["logging", "options"]).unwrap().entries().len(), 2);
        let three = service("three");
        assert_eq!(three.path(&["build", "context"]).and_then(Value::as_str), Some("./base"));
        assert_eq!(three.path(&["build", "target"]).and_then(Value::as_str), Some("dev"));
        assert_eq!(three.path(&["logging", "driver"]).and_then(Value::as_str), Some("local"));
        assert_eq!(three.path(&["logging", "options", "max-size"]).and_then(Value::as_str), Some("10m"));
    }

    #[test]
    fn list_spellings_become_maps_with_item_locations() {
        let v = normalize_service(doc("environment:\n  - A=1\n  - B\ndepends_on: [db]\n", 0));
        let env = v.get("environment").unwrap();
        assert_eq!(env.str_at("A"), Some("1"));
        assert!(env.get("B").unwrap().is_null());
        assert!(env.get("A").unwrap().loc.key.is_some());
        assert!(v.path(&["depends_on", "db"]).unwrap().is_null());
    }
}
