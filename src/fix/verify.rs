//! The checks a fixed stack passes before anything is written: every fixed finding is gone, every
//! comment of every file survives, what compose runs (each configuration's merged model: files
//! merged, `<<` expanded, `extends` and `include` resolved, list spellings normalised) changed only
//! where the fixes aimed, and every other file's document likewise. A change reached through an
//! anchor, `extends` or another file counts as aimed only for the service whose fix edited the
//! place it is written. A fix that fails is excluded and the run starts again without it.

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

use std::sync::Arc;

use super::{Aim, Attempt, FindingKey};
use crate::rules::Finding;
use crate::stack::{FileKey, Stack, Value, ValueKind};
use crate::yaml::tree::code_end;
use crate::yaml::{NodeId, NodeKind, Route, Segment, Tree};

/// Fixes that failed, with why.
pub(crate) fn check(original: &Stack, attempt: &Attempt, remaining: &[Finding]) -> HashMap<FindingKey, String> {
    let mut failures = HashMap::new();
    let fixed = attempt.stack.as_ref().unwrap_or(original);
    // The same finding is still there: at the same place with the same message (ranks among
    // findings at one place shift as some of them close).
    let left: HashSet<_> = super::places_and_messages(fixed, remaining).collect();
    // A finding its fix left open fails alone, not the findings that share its fix.
    let mut own = HashSet::new();
    for applied in &attempt.applied {
        if left.contains(&applied.key.place_and_message()) {
            failures.insert(
                applied.key.clone(),
                "the fix did not close the finding (another file or a merge still sets it)".to_string(),
            );
            own.insert(applied.key.clone());
        }
    }
    let after_tree = |key: &FileKey| fixed.file_by_key(key).and_then(|f| f.tree.as_deref());
    // Every file's aims, inserted keys taken down to the values the fix wrote.
    let aims: HashMap<&FileKey, Vec<(Route, Aimers)>> =
        attempt.intended.iter().map(|(path, aimed)| (path, expand(after_tree(path), aimed))).collect();
    // The files of configurations found on both sides, which `check_effective` compares whole.
    let files_of = |stack: &Stack, config: &crate::stack::Config| -> Vec<FileKey> {
        config.files.iter().map(|&f| stack.file(f).key.clone()).collect()
    };
    let before_configs: HashSet<Vec<FileKey>> = original.configs.iter().map(|c| files_of(original, c)).collect();
    let judged_whole: HashSet<FileKey> = fixed
        .configs
        .iter()
        .map(|c| files_of(fixed, c))
        .filter(|files| before_configs.contains(files))
        .flatten()
        .collect();
    for (path, after) in attempt.fs.edits() {
        let Some(before_file) = original.file_by_key(path) else { continue };
        let before = before_file.source().text();
        // The trees of both sides are already parsed: the original stack's and the last pass's.
        let after_tree = after_tree(path);
        let aimed = aims.get(path).map(Vec::as_slice).unwrap_or_default();
        if let Some(lost) = lost_comment(before, after) {
            // The fixes that edited where the comment was; all of the file's when none did.
            let near = before.find(&lost).zip(before_file.tree.as_ref()).map(|(at, tree)| route_near(tree, at));
            let related =
                |route: &Route| near.as_ref().is_some_and(|n| n.0.starts_with(&route.0) || route.0.starts_with(&n.0));
            let culprits: Vec<&FindingKey> = match aimed.iter().any(|(r, _)| related(r)) {
                false => aimed.iter().flat_map(|(_, k)| k.iter().copied()).collect(),
                true => aimed.iter().filter(|(r, _)| related(r)).flat_map(|(_, k)| k.iter().copied()).collect(),
            };
            for key in culprits {
                failures.entry(key.clone()).or_insert_with(|| format!("a comment would be lost: `{lost}`"));
            }
        }
        // A compose file of a configuration is judged by what compose runs (below); other
        // files (Prometheus, Traefik, Alertmanager…) by their own documents.
        if judged_whole.contains(path) {
            continue;
        }
        let trie = AimTrie::new(aimed.iter().map(|(route, _)| route));
        for changed in changed_paths(before_file.tree.as_deref(), after_tree, &trie) {
            if !trie.covers(&changed) {
                let reason =
                    format!("the edit changed `{changed}` in {}, which the fix did not aim at", before_file.display);
                for key in blamed(aimed.iter(), &changed) {
                    failures.entry(key.clone()).or_insert_with(|| reason.clone());
                }
            }
        }
    }
    // The services whose findings follow each fix shared by several (its aims are the leader's).
    let followed: HashMap<&FindingKey, HashSet<&str>> = attempt
        .followers
        .iter()
        .map(|(leader, keys)| (leader, keys.iter().filter_map(|k| k.service.as_deref()).collect()))
        .collect();
    check_effective(original, fixed, &aims, &followed, &mut failures);
    // A large stack's fixes aim at hundreds of thousands of routes: freed off the caller's path.
    let routes: Vec<Route> = aims.into_values().flatten().map(|(route, _)| route).collect();
    super::drop_in_background(routes);
    check_starts(original, fixed, attempt, &mut failures);
    // The findings that share a failed fix fail with it.
    let shared: Vec<(FindingKey, String)> = failures
        .iter()
        .filter(|(k, _)| !own.contains(*k))
        .flat_map(|(k, reason)| attempt.followers.get(k).into_iter().flatten().map(|f| (f.clone(), reason.clone())))
        .collect();
    for (key, reason) in shared {
        failures.entry(key).or_insert(reason);
    }
    failures
}

/// What compose runs must still start: `docker compose up` refuses a read-only container a secret
/// or config it would copy in (an `environment` or `content` source), which two fixes can make
/// together (one makes the root read-only, the other moves a variable to such a secret). The
/// fix that moved the secret fails; if none did, every fix of that service.
fn check_starts(original: &Stack, fixed: &Stack, attempt: &Attempt, failures: &mut HashMap<FindingKey, String>) {
    let read_only = |s: &crate::stack::Service| s.value.get("read_only").is_some_and(|v| v.is_compose_true());
    let files = |stack: &Stack, c: &crate::stack::Config| -> Vec<FileKey> {
        c.files.iter().map(|&f| stack.file(f).key.clone()).collect()
    };
    for config in &fixed.configs {
        // The same configuration before (the one loading the same files).
        let same = original.configs.iter().find(|c| files(original, c) == files(fixed, config));
        for service in config.services.iter().filter(|s| read_only(s)) {
            let Some((kind, name)) = crate::rules::copied_into_container(config, service) else { continue };
            let before = same.and_then(|c| c.service(&service.name).map(|s| (c, s)));
            if before.is_some_and(|(c, s)| read_only(s) && crate::rules::copied_into_container(c, s).is_some()) {
                continue;
            }
            let of_service: Vec<_> =
                attempt.applied.iter().filter(|a| a.service.as_deref() == Some(service.name.as_str())).collect();
            let movers: Vec<_> = of_service.iter().filter(|a| a.rule == "secret-in-environment").collect();
            let reason = format!(
                "`{}` would be read-only with the {kind} `{name}` compose copies into it, and `docker compose up` \
                 refuses that",
                service.name
            );
            let blamed = if movers.is_empty() { of_service.iter().collect() } else { movers };
            for applied in blamed {
                failures.entry(applied.key.clone()).or_insert_with(|| reason.clone());
            }
        }
    }
}

/// The effective model of every configuration (files merged, `<<` expanded, `extends` and
/// `include` resolved, list spellings normalised) before and after the fixes: a value that
/// changed where no fix aimed fails the fixes closest to it. This catches a local key that hides
/// one a merge key or another file gave the service, whichever rule wrote it. Values are compared
/// as written, before interpolation (the fixes never change `.env`).
fn check_effective(
    original: &Stack,
    fixed: &Stack,
    aims: &HashMap<&FileKey, Vec<(Route, Aimers)>>,
    followed: &HashMap<&FindingKey, HashSet<&str>>,
    failures: &mut HashMap<FindingKey, String>,
) {
    let paths = |stack: &Stack, config: &crate::stack::Config| -> Vec<FileKey> {
        config.files.iter().map(|&f| stack.file(f).key.clone()).collect()
    };
    let compose_files: Vec<&FileKey> =
        fixed.files.iter().filter(|f| f.role == crate::stack::FileRole::Compose).map(|f| &f.key).collect();
    for after in &fixed.configs {
        let files = paths(fixed, after);
        let Some(before) = original.configs.iter().find(|c| paths(original, c) == files) else { continue };
        // The compose files' aims (included files too), as routes of the merged model.
        let aimed: Vec<&(Route, Aimers)> = compose_files.iter().filter_map(|p| aims.get(*p)).flatten().collect();
        let mut changed = Vec::new();
        let trie = AimTrie::new(aimed.iter().map(|(route, _)| route));
        diff(&before.doc, &after.doc, &Route::default(), Some(&trie), &mut changed);
        let by_name: HashMap<&str, &crate::stack::Service> =
            before.services.iter().map(|s| (s.name.as_str(), s)).collect();
        let seen: HashSet<&str> = after.services.iter().map(|s| s.name.as_str()).collect();
        let compared = |service: &crate::stack::Service| {
            let mut changed = Vec::new();
            let at = Route::default().key("services").key(&service.name);
            let aims = trie.child(Step::Key("services")).and_then(|t| t.child(Step::Key(&service.name)));
            match by_name.get(service.name.as_str()) {
                Some(old) => diff(&old.value, &service.value, &at, aims, &mut changed),
                None => leaves(&service.value, &at, aims, &mut changed),
            }
            changed
        };
        // Each service compared on its own (in parallel in a large stack), in order.
        if after.services.len() > 64 {
            use rayon::prelude::*;
            let each: Vec<Vec<Route>> = after.services.par_iter().with_min_len(16).map(compared).collect();
            changed.extend(each.into_iter().flatten());
        } else {
            changed.extend(after.services.iter().flat_map(compared));
        }
        for old in before.services.iter().filter(|s| !seen.contains(s.name.as_str())) {
            let aims = trie.child(Step::Key("services")).and_then(|t| t.child(Step::Key(&old.name)));
            leaves(&old.value, &Route::default().key("services").key(&old.name), aims, &mut changed);
        }
        for route in changed {
            if trie.covers(&route) {
                continue;
            }
            // Written elsewhere (through `extends`, an anchor, another file): aimed at when a fix
            // for this very service edited it there; otherwise the fixes that edited it there
            // changed this service without meaning to.
            let writers = written_where_aimed(fixed, after, &route, aims);
            let service = match route.0.get(1) {
                Some(Segment::Key(name)) => Some(name.as_str()),
                _ => None,
            };
            // A fix shared by several findings writes for each of their services.
            let for_service = |key: &&FindingKey| {
                key.service.as_deref() == service
                    || service.is_some_and(|name| followed.get(*key).is_some_and(|s| s.contains(name)))
            };
            if writers.iter().any(for_service) {
                continue;
            }
            let reason = format!("`{route}` would change in what compose runs, and no fix for it aimed there");
            let culprits = if writers.is_empty() { blamed(aimed.iter().copied(), &route) } else { writers };
            for key in culprits {
                failures.entry(key.clone()).or_insert_with(|| reason.clone());
            }
        }
    }
}

/// The fixes that aimed at the place where the value now at `route` of the merged model is
/// written (through `extends`, an anchor or another file).
fn written_where_aimed<'a>(
    fixed: &Stack,
    config: &crate::stack::Config,
    route: &Route,
    aims: &HashMap<&FileKey, Vec<(Route, Aimers<'a>)>>,
) -> Vec<&'a FindingKey> {
    let [Segment::Key(services), Segment::Key(name), rest @ ..] = route.0.as_slice() else { return Vec::new() };
    if services != "services" {
        return Vec::new();
    }
    let Some(service) = config.services.iter().find(|s| s.name == *name) else { return Vec::new() };
    let mut value = &service.value;
    for segment in rest {
        let next = match segment {
            Segment::Key(k) => value.get(k),
            Segment::Index(i) => value.items().get(*i),
        };
        match next {
            Some(v) => value = v,
            None => return Vec::new(),
        }
    }
    let file = fixed.file(value.loc.file);
    let Some(tree) = file.tree.as_ref() else { return Vec::new() };
    // A value written as an alias is written where its anchor is.
    let start = file.written_at(value.loc.span).start;
    let Some(at) = crate::yaml::route::route_to(tree, start) else { return Vec::new() };
    let at = effective_route(at);
    let Some(aimed) = aims.get(&file.key) else { return Vec::new() };
    aimed.iter().filter(|(aim, _)| at.0.starts_with(&aim.0)).flat_map(|(_, keys)| keys.iter().copied()).collect()
}

/// The aimed routes, for lookups by prefix (a stack's fixes aim at tens of thousands).
/// The routes fixes aimed at, as a tree: a comparison walks it alongside the values and skips
/// what lies at or below an aim, so only unaimed changes are collected.
#[derive(Default)]
struct AimTrie<'a> {
    aimed: bool,
    keys: rustc_hash::FxHashMap<&'a str, AimTrie<'a>>,
    items: rustc_hash::FxHashMap<usize, AimTrie<'a>>,
}

impl<'a> AimTrie<'a> {
    fn new(aimed: impl Iterator<Item = &'a Route>) -> AimTrie<'a> {
        let mut root = AimTrie::default();
        for route in aimed {
            let mut node = &mut root;
            for segment in &route.0 {
                node = match segment {
                    Segment::Key(k) => node.keys.entry(k.as_str()).or_default(),
                    Segment::Index(i) => node.items.entry(*i).or_default(),
                };
            }
            node.aimed = true;
        }
        root
    }

    fn child(&self, step: Step<'_>) -> Option<&AimTrie<'a>> {
        match step {
            Step::Key(k) => self.keys.get(k),
            Step::Index(i) => self.items.get(&i),
        }
    }

    /// Whether an aim is `route` or lies above it. Top-level extension fields (`x-…`) are not
    /// run by compose: what an anchor there gives a service shows in the service.
    fn covers(&self, route: &Route) -> bool {
        if matches!(route.0.first(), Some(Segment::Key(k)) if k.starts_with("x-")) {
            return true;
        }
        let mut node = self;
        for segment in &route.0 {
            if node.aimed {
                return true;
            }
            let step = match segment {
                Segment::Key(k) => Step::Key(k),
                Segment::Index(i) => Step::Index(*i),
            };
            match node.child(step) {
                Some(next) => node = next,
                None => return false,
            }
        }
        node.aimed
    }
}

/// The fixes to blame for an unaimed change at `route`: those that aimed closest to it (sharing
/// the longest leading part of the route), else all of them.
fn blamed<'a, 'r>(aimed: impl Iterator<Item = &'r (Route, Aimers<'a>)> + Clone, route: &Route) -> Vec<&'a FindingKey>
where
    'a: 'r,
{
    let keys = |(_, keys): &'r (Route, Aimers<'a>)| keys.iter().copied();
    let shared = |aim: &Route| aim.0.iter().zip(&route.0).take_while(|(a, b)| a == b).count();
    let best = aimed.clone().map(|(aim, _)| shared(aim)).max().unwrap_or(0);
    let floor = if route.0.first() == Some(&Segment::Key("services".into())) { 2 } else { 1 };
    if best >= floor {
        return aimed.filter(|(aim, _)| shared(aim) == best).flat_map(keys).collect();
    }
    // Nothing aimed near it: a change that reached it through an anchor, made by a fix that
    // edited an extension field, if one did.
    let in_extension = |aim: &Route| matches!(aim.0.first(), Some(Segment::Key(k)) if k.starts_with("x-"));
    let anchored: Vec<&FindingKey> = aimed.clone().filter(|(aim, _)| in_extension(aim)).flat_map(keys).collect();
    if anchored.is_empty() {
        aimed.flat_map(keys).collect()
    } else {
        anchored
    }
}

/// The fixes that aimed at one route: every fix that inserts into one key a fix added (thousands
/// of secrets written into one new top-level `secrets:`) aims at all of it, so the route is
/// expanded once and shared, not once per fix.
type Aimers<'a> = Arc<[&'a FindingKey]>;

/// The aims of a file with every inserted key replaced by the routes of the values under it in
/// the fixed file (a splice that adds `deploy` means the leaves it wrote, not all of `deploy`),
/// each with the fixes that aimed there: the aims of one route (and kind) together, in the order
/// their first fix aimed.
fn expand<'a>(tree: Option<&Tree>, aimed: &'a [(Aim, FindingKey)]) -> Vec<(Route, Aimers<'a>)> {
    use rayon::prelude::*;
    let mut index: HashMap<(&Route, bool), usize> = HashMap::new();
    let mut groups: Vec<(&Aim, Vec<&'a FindingKey>)> = Vec::new();
    for (aim, key) in aimed {
        match index.entry((&aim.route, aim.inserted)) {
            std::collections::hash_map::Entry::Occupied(at) => groups[*at.get()].1.push(key),
            std::collections::hash_map::Entry::Vacant(at) => {
                at.insert(groups.len());
                groups.push((aim, vec![key]));
            }
        }
    }
    let one = |(aim, keys): (&Aim, Vec<&'a FindingKey>)| -> Vec<(Route, Aimers<'a>)> {
        let keys: Aimers<'a> = keys.into();
        let node = tree.filter(|_| aim.inserted).and_then(|t| crate::yaml::route::resolve(t, &aim.route).ok());
        match (tree, node) {
            (Some(tree), Some(found)) => {
                let mut leaves = Vec::new();
                leaf_routes(tree, found.node, &mut aim.route.clone(), &mut leaves);
                leaves.into_iter().map(|r| (effective_route(r), keys.clone())).collect()
            }
            _ => vec![(effective_route(aim.route.clone()), keys)],
        }
    };
    // Thousands of aims in a large stack: expanded in parallel, kept in order.
    match groups.len() > 256 {
        true => groups.into_par_iter().with_min_len(64).flat_map_iter(one).collect(),
        false => groups.into_iter().flat_map(one).collect(),
    }
}

fn leaf_routes(tree: &Tree, id: NodeId, at: &mut Route, out: &mut Vec<Route>) {
    match &tree.node(id).kind {
        NodeKind::Mapping { entries, .. } if !entries.is_empty() => {
            for entry in entries {
                // What a merge key gives is not written by the fix: a change there is drift.
                if tree.is_merge_key(entry.key) {
                    continue;
                }
                let Some(key) = tree.node(entry.key).as_str() else {
                    out.push(at.clone());
                    continue;
                };
                at.0.push(Segment::Key(key.to_string()));
                leaf_routes(tree, entry.value, at, out);
                at.0.pop();
            }
        }
        _ => out.push(at.clone()),
    }
}

/// A compose file's route as a route of the merged model: an item of a list spelling of a field
/// compose normalises to a mapping (`environment: [A=1]`) is the whole field there.
fn effective_route(mut route: Route) -> Route {
    if let [Segment::Key(s), Segment::Key(_), Segment::Key(field), Segment::Index(_), ..] = route.0.as_slice() {
        if s == "services" && crate::stack::merge::LIST_OR_MAP.contains(&field.as_str()) {
            route.0.truncate(3);
        }
    }
    route
}

/// The route of the deepest node whose text, or the rest of the line it ends on, holds `offset`.
fn route_near(tree: &Tree, offset: usize) -> Route {
    let mut route = Route::default();
    let Some(mut id) = tree.root() else { return route };
    let holds = |child: NodeId| {
        let node = tree.node(child);
        let end = tree.source.line_content_end(tree.source.line_index(node.span.end));
        node.props_start <= offset && offset <= end.max(node.span.end)
    };
    loop {
        let next = match &tree.node(id).kind {
            NodeKind::Mapping { entries, .. } => entries.iter().find(|e| holds(e.value)).and_then(|e| {
                let key = tree.node(e.key).as_str()?;
                Some((Segment::Key(key.to_string()), e.value))
            }),
            NodeKind::Sequence { items, .. } => {
                items.iter().enumerate().find(|(_, &item)| holds(item)).map(|(i, &item)| (Segment::Index(i), item))
            }
            _ => None,
        };
        let Some((segment, child)) = next else { return route };
        route.0.push(segment);
        id = child;
    }
}

/// Every comment of `before`, as many times as it occurs, must still be in `after`.
fn lost_comment(before: &str, after: &str) -> Option<String> {
    let mut available: HashMap<&str, usize> = HashMap::new();
    for c in comments(after) {
        *available.entry(c).or_default() += 1;
    }
    for c in comments(before) {
        match available.get_mut(c) {
            Some(n) if *n > 0 => *n -= 1,
            _ => return Some(c.to_string()),
        }
    }
    None
}

fn comments(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    // Only a line holding a `#` may hold a comment: the lines are found from the `#`s (most lines
    // of a file have none), each line once.
    let mut done = 0;
    for hash in memchr::memchr_iter(b'#', bytes) {
        if hash < done {
            continue;
        }
        let start = memchr::memrchr(b'\n', &bytes[..hash]).map_or(0, |i| i + 1);
        let end_of_line = memchr::memchr(b'\n', &bytes[hash..]).map_or(bytes.len(), |i| hash + i + 1);
        let comment = text[code_end(bytes, start)..end_of_line].trim_end();
        if comment.starts_with('#') {
            out.push(comment);
        }
        done = end_of_line;
    }
    out
}

/// Routes where the documents' values differ (aliases and merge keys applied).
fn changed_paths(before: Option<&Tree>, after: Option<&Tree>, aims: &AimTrie) -> Vec<Route> {
    // Services as compose normalises them (list spellings of mappings become mappings), so a
    // file's routes compare with the merged model's.
    let value = |tree: Option<&Tree>| -> Option<Value> {
        let tree = tree?;
        let mut value = Value::from_tree(tree, tree.root()?, 0).ok()?;
        if let ValueKind::Map(entries) = &mut value.kind {
            for (_, services) in entries.iter_mut().filter(|(k, _)| k == "services") {
                if let ValueKind::Map(services) = &mut services.kind {
                    for (_, service) in services.iter_mut() {
                        *service = crate::stack::merge::normalize_service(std::mem::replace(
                            service,
                            Value::null(service.loc),
                        ));
                    }
                }
            }
        }
        Some(value)
    };
    let mut out = Vec::new();
    match (value(before), value(after)) {
        (Some(a), Some(b)) => diff(&a, &b, &Route::default(), Some(aims), &mut out),
        (None, None) => {}
        _ => out.push(Route::default()),
    }
    out
}

/// A route segment borrowed from the documents compared (a route is built only for a change).
#[derive(Clone, Copy)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// Where a comparison is: the route it started at, then the steps below.
struct At<'r, 'a> {
    base: &'r Route,
    steps: Vec<Step<'a>>,
}

impl At<'_, '_> {
    fn route(&self) -> Route {
        let mut route = self.base.clone();
        route.0.extend(self.steps.iter().map(|s| match s {
            Step::Key(k) => Segment::Key((*k).to_string()),
            Step::Index(i) => Segment::Index(*i),
        }));
        route
    }
}

/// Routes where `a` and `b` differ, down to the values: a key one side lacks (or holds null
/// at) counts at every value the other side holds under it. `aims` (the aimed routes below
/// `at`) prunes: nothing at or below an aim is collected.
fn diff(a: &Value, b: &Value, at: &Route, aims: Option<&AimTrie>, out: &mut Vec<Route>) {
    diff_at(a, b, &mut At { base: at, steps: Vec::new() }, aims, out);
}

fn diff_at<'a>(a: &'a Value, b: &'a Value, at: &mut At<'_, 'a>, aims: Option<&AimTrie>, out: &mut Vec<Route>) {
    if aims.is_some_and(|t| t.aimed) {
        return;
    }
    let below = |step: Step<'_>| aims.and_then(|t| t.child(step));
    match (&a.kind, &b.kind) {
        (ValueKind::Map(x), ValueKind::Map(y)) if a.tag() == b.tag() => {
            // Most mappings keep their keys in order: compared pairwise without an index.
            let same_keys = x.len() == y.len() && x.iter().zip(y).all(|((ka, _), (kb, _))| ka == kb);
            if same_keys {
                for ((k, va), (_, vb)) in x.iter().zip(y) {
                    at.steps.push(Step::Key(k));
                    diff_at(va, vb, at, below(Step::Key(k)), out);
                    at.steps.pop();
                }
                return;
            }
            let in_b: HashMap<&str, &Value> = y.iter().map(|(k, v)| (k.as_str(), v)).collect();
            for (k, va) in x {
                at.steps.push(Step::Key(k));
                match in_b.get(k.as_str()) {
                    Some(vb) => diff_at(va, vb, at, below(Step::Key(k)), out),
                    None => leaves_at(va, at, below(Step::Key(k)), out),
                }
                at.steps.pop();
            }
            let in_a: HashSet<&str> = x.iter().map(|(k, _)| k.as_str()).collect();
            for (k, vb) in y.iter().filter(|(k, _)| !in_a.contains(k.as_str())) {
                at.steps.push(Step::Key(k));
                leaves_at(vb, at, below(Step::Key(k)), out);
                at.steps.pop();
            }
        }
        (ValueKind::Seq(x), ValueKind::Seq(y)) if x.len() == y.len() && a.tag() == b.tag() => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                at.steps.push(Step::Index(i));
                diff_at(va, vb, at, below(Step::Index(i)), out);
                at.steps.pop();
            }
        }
        // Equal as written, so equal in any environment compose runs in (and so as interpolated).
        (ValueKind::Scalar { text: x, .. }, ValueKind::Scalar { text: y, .. })
            if x == y && a.written() == b.written() && a.tag() == b.tag() => {}
        (ValueKind::Null, ValueKind::Null) if a.tag() == b.tag() => {}
        (ValueKind::Null, ValueKind::Map(_)) if a.tag().is_none() && b.tag().is_none() => leaves_at(b, at, aims, out),
        (ValueKind::Map(_), ValueKind::Null) if a.tag().is_none() && b.tag().is_none() => leaves_at(a, at, aims, out),
        (ValueKind::Map(_), _) | (_, ValueKind::Map(_)) => {
            leaves_at(a, at, aims, out);
            leaves_at(b, at, aims, out);
        }
        _ => out.push(at.route()),
    }
}

/// The routes of the values under `v` (a sequence or scalar is one value).
fn leaves(v: &Value, at: &Route, aims: Option<&AimTrie>, out: &mut Vec<Route>) {
    leaves_at(v, &mut At { base: at, steps: Vec::new() }, aims, out);
}

fn leaves_at<'a>(v: &'a Value, at: &mut At<'_, 'a>, aims: Option<&AimTrie>, out: &mut Vec<Route>) {
    if aims.is_some_and(|t| t.aimed) {
        return;
    }
    match &v.kind {
        ValueKind::Map(entries) if !entries.is_empty() => {
            for (k, child) in entries {
                at.steps.push(Step::Key(k));
                leaves_at(child, at, aims.and_then(|t| t.child(Step::Key(k))), out);
                at.steps.pop();
            }
        }
        _ => out.push(at.route()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_are_found_as_line_by_line() {
        // The lines, one by one: what `comments` finds from the `#`s.
        fn by_lines(text: &str) -> Vec<&str> {
            let mut out = Vec::new();
            let mut start = 0;
            for line in text.split_inclusive('\n') {
                let comment = text[code_end(text.as_bytes(), start)..start + line.len()].trim_end();
                if comment.starts_with('#') {
                    out.push(comment);
                }
                start += line.len();
            }
            out
        }
        let texts = [
            "",
            "#",
            "# top\na: 1 # one # two\nb: \"x#y\" # three\nc: 'q # r'\n",
            "a: 1\r\n# crlf\r\nb: 2 # end\r\n",
            "a: 1\r# cr only\rb: 2\r",
            "x: é # ü\ny: [1, 2] #no-space\nz: a#b\n  # indented\n# last, no line break",
            "k: |\n  # in a block scalar\n  text\n",
        ];
        for text in texts {
            assert_eq!(comments(text), by_lines(text), "{text:?}");
        }
    }

    #[test]
    fn comments_must_survive() {
        assert_eq!(lost_comment("a: 1 # one\n# two\n", "# two\na: 2 # one\n"), None);
        assert_eq!(lost_comment("a: 1 # one\n", "a: 1\n").as_deref(), Some("# one"));
        assert_eq!(lost_comment("a: \"#no\"\n", "a: 2\n"), None);
    }

    #[test]
    fn a_lost_comment_is_found_where_it_was() {
        let text = "s:\n  v:\n    - a # one\n    - b\n  w: 1 # two\n";
        let tree = Tree::parse(text.to_string()).unwrap();
        assert_eq!(route_near(&tree, text.find("# one").unwrap()).to_string(), "s.v.0");
        assert_eq!(route_near(&tree, text.find("# two").unwrap()).to_string(), "s.w");
    }

    #[test]
    fn changed_paths_are_exact() {
        let before = Tree::parse("s:\n  a: {x: 1}\n  b: [1, 2]\n".to_string()).unwrap();
        let after = Tree::parse("s:\n  a: {x: 1, y: 2}\n  b: [1, 3]\n  c: 1\n".to_string()).unwrap();
        let paths = changed_paths(Some(&before), Some(&after), &AimTrie::default());
        let shown: Vec<String> = paths.iter().map(|p| p.to_string()).collect();
        assert_eq!(shown, ["s.a.y", "s.b.1", "s.c"]);
        // A key that hides what a merge key gave it: every value it drops or adds counts.
        let before = Tree::parse("x: &d {deploy: {replicas: 2}}\ns:\n  <<: *d\n".to_string()).unwrap();
        let after =
            Tree::parse("x: &d {deploy: {replicas: 2}}\ns:\n  <<: *d\n  deploy: {resources: {m: 1}}\n".to_string())
                .unwrap();
        let shown: Vec<String> =
            changed_paths(Some(&before), Some(&after), &AimTrie::default()).iter().map(|p| p.to_string()).collect();
        assert_eq!(shown, ["s.deploy.replicas", "s.deploy.resources.m"]);
    }
}
