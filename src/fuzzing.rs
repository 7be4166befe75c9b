//! Invariant checks shared by the cargo-fuzz targets (`fuzz/`) and the regression test that replays
//! their saved inputs (`fuzz/regressions/`). Each function panics when an invariant breaks; any
//! other outcome (including a refused input) is fine.

use crate::bootstrap::{self, BootstrapOptions, Extra, Mode};
use crate::fix::{self, FixOptions};
use crate::rules::{self, RuleSettings};
use crate::stack::{self, LoadOptions, Profiles};
use crate::yaml::route::Segment;
use crate::yaml::{apply, NodeKind, Op, Patch, Route, ScalarStyle, Tree};

/// The located tree on any text: spans inside the input, and every plain or quoted scalar's text
/// parses on its own to the same value. Returns how many scalars were re-read.
pub fn tree(data: &[u8]) -> usize {
    let Ok(text) = std::str::from_utf8(data) else { return 0 };
    let Ok(tree) = Tree::parse(text.to_string()) else { return 0 };
    let mut reread_count = 0;
    for id in 0..tree.len() {
        let node = tree.node(id);
        assert!(node.props_start <= node.span.start && node.span.start <= node.span.end && node.span.end <= text.len());
        assert!(text.is_char_boundary(node.span.start) && text.is_char_boundary(node.span.end));
        if let NodeKind::Scalar { value, style } = &node.kind {
            if value.is_empty() || matches!(style, ScalarStyle::Literal | ScalarStyle::Folded) {
                continue;
            }
            // A key or value parsed alone may read differently only if it was a multi-line plain
            // scalar inside a flow collection; skip those.
            let own = tree.text_of(id);
            if own.contains(['\n', '\r']) {
                continue;
            }
            // Re-read as a mapping value (at the document level `--- x` would start a document),
            // as a flow item (the parser takes `>` or `|` as a plain scalar inside `{…}`, where a
            // block value would start a block scalar), and as a key (a plain key may end in `:`,
            // as `a:` in `a:: 1`, which no value position accepts).
            let block = reread(&format!("k: {own}\n"), |t, root| t.entry(root, "k").map(|e| e.value));
            let flow = reread(&format!("k: [{own}]\n"), |t, root| {
                t.entry(root, "k").and_then(|e| t.items(e.value).first().copied())
            });
            let key = reread(&format!("{own}: v\n"), |t, root| t.entries(root).first().map(|e| e.key));
            if block.is_some() || flow.is_some() || key.is_some() {
                assert!(
                    [&block, &flow, &key].iter().any(|r| r.as_deref() == Some(value.as_str())),
                    "span text {own:?} reads as {block:?} / {flow:?} / {key:?}"
                );
                reread_count += 1;
            }
        }
    }
    reread_count
}

/// The scalar `pick` finds in `text` parsed alone, if it parses.
fn reread(text: &str, pick: impl Fn(&Tree, usize) -> Option<usize>) -> Option<String> {
    let tree = Tree::parse(text.to_string()).ok()?;
    let root = tree.root()?;
    let id = pick(&tree, root)?;
    tree.node(id).as_str().map(str::to_string)
}

/// Patch operations chosen by the input's first bytes on the YAML text that follows: the result
/// parses, and an insertion changes no line besides the inserted ones.
pub fn patch(data: &[u8]) {
    let (choices, rest) = data.split_at(data.len().min(4));
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let Ok(tree) = Tree::parse(text.to_string()) else { return };
    let Some(root) = tree.root() else { return };
    let targets = collections(&tree, root, usize::MAX);
    if targets.is_empty() {
        return;
    }
    let pick = |i: usize| choices.get(i).copied().unwrap_or(0) as usize;
    let (route, is_mapping) = targets[pick(0) % targets.len()].clone();
    let values = ["x", "\"a: #b\"", "k: v\nl: [1]\n", "- 1\n- 2\n", "t: |\n  ü\n", "{f: 1}"];
    let value = values[pick(1) % values.len()].to_string();
    let op = if is_mapping {
        Op::InsertKey { key: format!("fuzz-{}", pick(2)), value, after: None }
    } else {
        Op::AppendItem { value }
    };
    let route = Route(route);
    // A flow collection is edited inside its own lines; a block one only gains whole lines.
    let is_flow = crate::yaml::route::resolve(&tree, &route).is_ok_and(|t| tree.node(t.node).is_flow());
    let Ok(out) = apply(text, &Patch { route, op }) else { return };
    Tree::parse(out.clone()).expect("a patch produced invalid YAML");
    assert!(is_flow || only_lines_inserted(text, &out), "a line outside the insertion changed");
}

/// Lines as YAML reads them: split at LF, CRLF or a lone CR.
fn yaml_lines(text: &str) -> Vec<&str> {
    text.split('\n').flat_map(|l| l.strip_suffix('\r').unwrap_or(l).split('\r')).collect()
}

/// Whether `after` is `before` with one block of whole lines inserted (a last line without a
/// line break may gain one).
pub fn only_lines_inserted(before: &str, after: &str) -> bool {
    let (a, b) = (yaml_lines(before), yaml_lines(after));
    if b.len() < a.len() {
        return false;
    }
    let first = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    b[first + b.len() - a.len()..] == a[first..]
}

/// Routes to the mappings (`true`) and sequences (`false`) of a tree, not through aliases, at
/// most `limit` of them.
pub fn collections(tree: &Tree, root: usize, limit: usize) -> Vec<(Vec<Segment>, bool)> {
    let mut out = Vec::new();
    walk_collections(tree, root, Vec::new(), limit, &mut out);
    out
}

fn walk_collections(tree: &Tree, id: usize, route: Vec<Segment>, limit: usize, out: &mut Vec<(Vec<Segment>, bool)>) {
    if out.len() >= limit {
        return;
    }
    match &tree.node(id).kind {
        NodeKind::Mapping { entries, .. } => {
            out.push((route.clone(), true));
            for e in entries {
                if let Some(k) = tree.node(e.key).as_str().filter(|k| *k != "<<") {
                    let mut r = route.clone();
                    r.push(Segment::Key(k.to_string()));
                    walk_collections(tree, e.value, r, limit, out);
                }
            }
        }
        NodeKind::Sequence { items, .. } => {
            out.push((route.clone(), false));
            for (i, &item) in items.iter().enumerate() {
                let mut r = route.clone();
                r.push(Segment::Index(i));
                walk_collections(tree, item, r, limit, out);
            }
        }
        _ => {}
    }
}

/// The whole pipeline on a project holding the input as its compose file: load, check, fix with
/// every fix allowed, and bootstrap in both modes with every extra, without panicking; a run that
/// succeeds is idempotent.
pub fn pipeline(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let dir = scratch_dir("pipeline");
    let _ = std::fs::create_dir_all(&dir);
    let compose = dir.join("docker-compose.yml");
    if std::fs::write(&compose, text).is_err() {
        return;
    }
    let load = LoadOptions::new(dir.clone(), Vec::new(), Profiles::builtin());
    let loaded = stack::load(&load);
    let _ = rules::check(&loaded, &RuleSettings::default());
    let options = FixOptions { unsafe_fixes: true, ..FixOptions::default() };
    if let Ok(outcome) = fix::run(&load, &RuleSettings::default(), &options) {
        let mut again = load.clone();
        again.overrides.extend(outcome.changes.iter().map(|c| (c.path.clone(), c.after.clone())));
        if let Ok(second) = fix::run(&again, &RuleSettings::default(), &options) {
            let changed: Vec<_> = second
                .changes
                .iter()
                .filter(|c| outcome.changes.iter().find(|o| o.path == c.path).map(|o| &o.after) != Some(&c.after))
                .collect();
            assert!(
                changed.is_empty(),
                "a second fix run changed {:?}",
                changed.iter().map(|c| &c.display).collect::<Vec<_>>()
            );
        }
    }
    for mode in [Mode::Overlay, Mode::Standalone] {
        bootstrap_twice(&load, &compose, mode);
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// A directory of its own for one call (tests call the targets from several threads at once).
fn scratch_dir(target: &str) -> std::path::PathBuf {
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!("stackfix-fuzz-{target}-{}-{call}", std::process::id()))
}

/// Bootstrap with every extra: the base file is not among the changes, and once its files are
/// written a second run changes nothing. The files are removed again.
fn bootstrap_twice(load: &LoadOptions, compose: &std::path::Path, mode: Mode) {
    let options = BootstrapOptions {
        base: vec![compose.to_path_buf()],
        output: load.dir.join("docker-compose.prod.yml"),
        mode,
        extras: vec![Extra::Backups, Extra::Monitoring, Extra::Traefik],
        fix: FixOptions::default(),
    };
    let Ok(outcome) = bootstrap::run(load, &RuleSettings::default(), &options) else { return };
    assert!(outcome.changes.iter().all(|c| c.path != *compose), "bootstrap changed the base file");
    for change in &outcome.changes {
        if let Some(parent) = change.path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let _ = std::fs::write(&change.path, &change.after);
    }
    if let Ok(second) = bootstrap::run(load, &RuleSettings::default(), &options) {
        let changed: Vec<&str> = second.changes.iter().map(|c| c.display.as_str()).collect();
        assert!(changed.is_empty(), "a second bootstrap changed {changed:?}");
    }
    for change in &outcome.changes {
        let _ = std::fs::remove_file(&change.path);
    }
}

/// Reads choices from fuzz input bytes; once they run out every choice is 0.
struct Choices<'a>(&'a [u8]);

impl Choices<'_> {
    fn pick(&mut self, n: usize) -> usize {
        let Some((&first, rest)) = self.0.split_first() else { return 0 };
        self.0 = rest;
        first as usize % n.max(1)
    }
}

/// Service-level fragments an anchored block or a service may hold: (key, lines under the
/// service, at two spaces per level from the key).
const FRAGMENTS: &[(&str, &str)] = &[
    ("deploy", "deploy:\n  replicas: 2\n  resources:\n    limits:\n      cpus: \"1\""),
    ("logging", "logging:\n  driver: json-file"),
    ("environment", "environment:\n  POSTGRES_PASSWORD: changeme\n  APP_MODE: production"),
    ("depends_on", "depends_on: [db, cache]"),
    ("restart", "restart: always"),
    ("ports", "ports:\n  - \"5432:5432\""),
    ("labels", "labels:\n  traefik.enable: \"true\""),
    ("deploy", "deploy: {replicas: 1}"),
    ("environment", "environment:\n  - DB_PASSWORD=s3cret-pass\n  - LOG_LEVEL=info"),
    ("mem_limit", "mem_limit: 512m"),
    ("healthcheck", "healthcheck:\n  test: [\"CMD\", \"true\"]\n  interval: 30s"),
    ("command", "command: [\"redis-server\", \"--appendonly\", \"yes\"]"),
    ("depends_on", "depends_on:\n  - db"),
];

/// Blocks an alias may stand for as a whole value: (key, lines of the block itself).
const BLOCKS: &[(&str, &str)] = &[
    ("logging", "driver: json-file\noptions:\n  max-file: \"2\""),
    ("environment", "POSTGRES_PASSWORD: changeme\nDEBUG: \"false\""),
    ("deploy", "resources:\n  limits:\n    memory: 256M"),
    ("depends_on", "- db"),
    ("healthcheck", "test: [\"CMD\", \"true\"]"),
];

const IMAGES: &[&str] = &["nginx:1.27", "python:3.12-slim", "postgres:16", "redis:7.4", "node:22", "*img"];

fn indent(text: &str, by: usize) -> String {
    let pad = " ".repeat(by);
    text.lines().map(|l| format!("{pad}{l}\n")).collect()
}

/// A compose file whose services share settings through anchors, chosen by `data`: `x-` blocks
/// merged with `<<` (one or a list), blocks and scalars used through aliases, anchors nested in
/// merged blocks, and local keys beside merged ones. Services `db` and `cache` always exist (the
/// dependencies the fragments name).
pub fn anchored_stack(data: &[u8]) -> String {
    let mut c = Choices(data);
    let mut out = String::from("x-img: &img postgres:16\n");
    // Mergeable anchors: their fragment indices.
    let mut merged: Vec<Vec<usize>> = Vec::new();
    for i in 0..1 + c.pick(3) {
        out.push_str(&format!("x-m{i}: &m{i}\n"));
        let mut keys = Vec::new();
        let mut fragments = Vec::new();
        for _ in 0..1 + c.pick(3) {
            let f = c.pick(FRAGMENTS.len());
            if keys.contains(&FRAGMENTS[f].0) {
                continue;
            }
            keys.push(FRAGMENTS[f].0);
            let mut text = FRAGMENTS[f].1.to_string();
            // Sometimes an anchor nested inside the merged block.
            if c.pick(4) == 0 {
                if let Some((first, rest)) = text.split_once('\n') {
                    text = format!("{first} &n{i}\n{rest}");
                }
            }
            out.push_str(&indent(&text, 2));
            fragments.push(f);
        }
        merged.push(fragments);
    }
    let blocks: Vec<usize> = (0..c.pick(3)).map(|_| c.pick(BLOCKS.len())).collect();
    for (i, &b) in blocks.iter().enumerate() {
        out.push_str(&format!("x-b{i}: &b{i}\n"));
        out.push_str(&indent(BLOCKS[b].1, 2));
    }
    out.push_str("services:\n");
    let services = 2 + c.pick(4);
    for s in 0..services {
        let name = match s {
            0 => "db".to_string(),
            1 => "cache".to_string(),
            _ => format!("app{s}"),
        };
        out.push_str(&format!("  {name}:\n"));
        let image = match s {
            0 => IMAGES[[2, 5][c.pick(2)]],
            1 => "redis:7.4",
            _ => IMAGES[c.pick(IMAGES.len())],
        };
        out.push_str(&format!("    image: {image}\n"));
        // The dependencies themselves take no `depends_on` (compose refuses a cycle).
        let usable = |fragments: &[usize]| s >= 2 || fragments.iter().all(|&f| FRAGMENTS[f].0 != "depends_on");
        let mut keys: Vec<&str> = vec!["image"];
        match c.pick(3) {
            1 => {
                let m = c.pick(merged.len());
                if usable(&merged[m]) {
                    out.push_str(&format!("    <<: *m{m}\n"));
                }
            }
            2 => {
                let (a, b) = (c.pick(merged.len()), c.pick(merged.len()));
                if a != b && usable(&merged[a]) && usable(&merged[b]) {
                    out.push_str(&format!("    <<: [*m{a}, *m{b}]\n"));
                }
            }
            _ => {}
        }
        for (i, &b) in blocks.iter().enumerate() {
            let key = BLOCKS[b].0;
            if c.pick(2) == 0 && !keys.contains(&key) && (s >= 2 || key != "depends_on") {
                out.push_str(&format!("    {key}: *b{i}\n"));
                keys.push(key);
            }
        }
        for _ in 0..c.pick(3) {
            let f = c.pick(FRAGMENTS.len());
            let key = FRAGMENTS[f].0;
            if keys.contains(&key) || (s < 2 && key == "depends_on") {
                continue;
            }
            keys.push(key);
            out.push_str(&indent(FRAGMENTS[f].1, 4));
        }
    }
    out
}

/// A YAML document as JSON, read by yaml-rust2 (not stackfix's own reader), with `<<` merge keys
/// applied (explicit keys win, then the sources in order): an independent view of what compose
/// reads. `None` when yaml-rust2 refuses the text.
pub fn independent_model(text: &str) -> Option<serde_json::Value> {
    use yaml_rust2::{Yaml, YamlLoader};
    fn convert(y: &Yaml) -> serde_json::Value {
        use serde_json::Value as J;
        match y {
            Yaml::Hash(h) => {
                let mut out = serde_json::Map::new();
                let mut merged = Vec::new();
                for (k, v) in h {
                    let key = match k {
                        Yaml::String(s) => s.clone(),
                        Yaml::Integer(i) => i.to_string(),
                        Yaml::Real(r) => r.clone(),
                        Yaml::Boolean(b) => b.to_string(),
                        _ => format!("{k:?}"),
                    };
                    if key == "<<" {
                        match v {
                            Yaml::Array(items) => merged.extend(items.iter().map(convert)),
                            other => merged.push(convert(other)),
                        }
                    } else {
                        out.insert(key, convert(v));
                    }
                }
                for source in merged {
                    if let J::Object(entries) = source {
                        for (k, v) in entries {
                            out.entry(k).or_insert(v);
                        }
                    }
                }
                J::Object(out)
            }
            Yaml::Array(items) => J::Array(items.iter().map(convert).collect()),
            Yaml::String(s) | Yaml::Real(s) => J::String(s.clone()),
            Yaml::Integer(i) => J::String(i.to_string()),
            Yaml::Boolean(b) => J::String(b.to_string()),
            _ => J::Null,
        }
    }
    let docs = YamlLoader::load_from_str(text).ok()?;
    Some(docs.first().map_or(serde_json::Value::Null, convert))
}

/// The service fields each rule's fixes write: their own service's, or those of the services a
/// fix takes along (a probe a condition needs, a moved secret). A change anywhere else in what
/// compose runs is drift.
pub fn fields_written(rule: &str) -> &'static [&'static str] {
    match rule {
        "no-resource-limits" => &["deploy.resources", "mem_limit", "mem_reservation", "cpus", "memswap_limit"],
        "no-healthcheck" => &["healthcheck", "command", "environment"],
        "depends-on-without-health-condition" => &["depends_on", "healthcheck", "command", "environment"],
        "no-restart-policy" => &["restart"],
        "no-log-rotation" => &["logging"],
        "redis-no-maxmemory" => &["command", "deploy.resources", "mem_limit", "mem_reservation", "cpus", "volumes"],
        "hardcoded-secret" => &["environment", "command", "healthcheck", "entrypoint", "secrets"],
        "database-port-published" => &["ports"],
        "privilege-escalation-allowed" => &["security_opt"],
        "capabilities-not-dropped" => &["cap_drop", "cap_add"],
        "no-pids-limit" => &["pids_limit", "deploy.resources"],
        "writable-root-filesystem" => &["read_only", "tmpfs"],
        "elasticsearch-security-disabled" => &["environment"],
        "source-bind-mount" | "dev-build-target" => &["volumes", "build"],
        "development-mode" => &["environment", "command"],
        "traefik-no-rate-limit" | "traefik-insecure-api" | "traefik-no-https-redirect" | "no-reverse-proxy" => {
            &["labels", "command", "environment", "volumes", "ports"]
        }
        "alerts-without-alertmanager"
        | "missing-exporter"
        | "scrape-target-missing"
        | "no-backup"
        | "no-monitoring" => &["volumes", "environment", "secrets", "depends_on", "networks"],
        _ => &[],
    }
}

/// The dotted paths (`services.api.deploy.replicas`) where two models differ, down to values.
pub fn model_changes(a: &serde_json::Value, b: &serde_json::Value, at: &str, out: &mut Vec<String>) {
    use serde_json::Value::{Array, Null, Object};
    match (a, b) {
        (Object(x), Object(y)) => {
            for key in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                let path = if at.is_empty() { key.clone() } else { format!("{at}.{key}") };
                model_changes(x.get(key).unwrap_or(&Null), y.get(key).unwrap_or(&Null), &path, out);
            }
        }
        (Array(x), Array(y)) if x.len() == y.len() => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                model_changes(va, vb, &format!("{at}.{i}"), out);
            }
        }
        (Object(x), Null) | (Null, Object(x)) => {
            for (key, v) in x {
                model_changes(v, &Null, &format!("{at}.{key}"), out);
            }
        }
        _ if a == b => {}
        _ => out.push(at.to_string()),
    }
}

/// Whether a change at `path` (as [`model_changes`] names it) is one the applied `rules` make: a
/// new service, a top-level volume, secret, config or network, an `x-` extension, or a field of a
/// service an applied rule writes.
pub fn drift_allowed(path: &str, before: &serde_json::Value, rules: &[&str]) -> bool {
    let parts: Vec<&str> = path.trim_start_matches('.').splitn(3, '.').collect();
    match parts.as_slice() {
        ["volumes" | "secrets" | "configs" | "networks", ..] => true,
        [extension, ..] if extension.starts_with("x-") => true,
        ["services", service, rest] => {
            before["services"].get(*service).is_none()
                || rules
                    .iter()
                    .any(|r| fields_written(r).iter().any(|f| *rest == *f || rest.starts_with(&format!("{f}."))))
        }
        ["services", service] => before["services"].get(*service).is_none(),
        _ => false,
    }
}

/// What [`anchors`] fixed: the compose file before and after, and the rules applied.
#[derive(Debug)]
pub struct AnchorRun {
    pub before: String,
    pub after: String,
    pub rules: Vec<String>,
}

/// Edits through anchors on the stack [`anchored_stack`] builds from `data`: `fix` with every fix
/// allowed either refuses (a finding left for a person) or writes a file yaml-rust2 reads, in
/// which what every service gets — merge keys and aliases applied by yaml-rust2 and
/// [`independent_model`], not by stackfix — changed only in fields the applied rules write;
/// a second run changes nothing; the engine never gives up unconverged or unverified.
pub fn anchors(data: &[u8]) -> Option<AnchorRun> {
    let text = anchored_stack(data);
    let dir = scratch_dir("anchors");
    let _ = std::fs::create_dir_all(&dir);
    let compose = dir.join("docker-compose.yml");
    std::fs::write(&compose, &text).ok()?;
    let load = LoadOptions::new(dir.clone(), Vec::new(), Profiles::builtin());
    let options = FixOptions { unsafe_fixes: true, ..FixOptions::default() };
    let outcome = match fix::run(&load, &RuleSettings::default(), &options) {
        Ok(outcome) => outcome,
        Err(e @ (fix::FixError::NoConvergence(_) | fix::FixError::Unverified(_))) => {
            panic!("fix gave up on\n{text}\n{e}")
        }
        Err(_) => {
            let _ = std::fs::remove_dir_all(&dir);
            return None;
        }
    };
    let after = outcome.changes.iter().find(|c| c.path == compose).map_or_else(|| text.clone(), |c| c.after.clone());
    let before_model = independent_model(&text)?;
    let after_model =
        independent_model(&after).unwrap_or_else(|| panic!("yaml-rust2 refuses the fixed file:\n{after}"));
    let mut rules: Vec<String> = outcome.applied.iter().map(|a| a.rule.to_string()).collect();
    rules.sort();
    rules.dedup();
    let names: Vec<&str> = rules.iter().map(String::as_str).collect();
    let mut changed = Vec::new();
    model_changes(&before_model, &after_model, "", &mut changed);
    for path in changed {
        assert!(
            drift_allowed(&path, &before_model, &names),
            "`{path}` changed, which no applied rule ({names:?}) writes:\n{text}\n---- fixed:\n{after}"
        );
    }
    // Idempotent: the fixed stack needs nothing more.
    let mut again = load.clone();
    again.overrides.extend(outcome.changes.iter().map(|c| (c.path.clone(), c.after.clone())));
    if let Ok(second) = fix::run(&again, &RuleSettings::default(), &options) {
        let changed: Vec<&str> = second
            .changes
            .iter()
            .filter(|c| outcome.changes.iter().find(|o| o.path == c.path).map(|o| &o.after) != Some(&c.after))
            .map(|c| c.display.as_str())
            .collect();
        assert!(changed.is_empty(), "a second fix run changed {changed:?}:\n{after}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    Some(AnchorRun { before: text, after, rules })
}
