//! Service profiles: image → kind (postgres, redis, traefik, celery worker, …) with the health probe,
//! production limits and exporter of each kind. The data lives in `templates/profiles.yml`, embedded
//! in the binary and overridable by kind name from a user file.

use std::collections::HashMap;

use super::catalog::{Catalog, Category};
use super::value::{Value, ValueKind};
use crate::yaml::Tree;

const BUILTIN: &str = include_str!("../../templates/profiles.yml");

static GENERIC: std::sync::LazyLock<Kind> =
    std::sync::LazyLock::new(|| Kind { name: "generic".into(), category: Category::App, ..Kind::default() });

/// Memory and CPU figures, as compose writes them (`512M`, `"0.5"`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Resources {
    pub memory: Option<String>,
    pub cpus: Option<String>,
}

/// One kind of service.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Kind {
    pub name: String,
    pub category: Category,
    pub images: Vec<String>,
    pub keywords: Vec<String>,
    pub commands: Vec<String>,
    /// For exporters: the kind they export metrics for.
    pub exports: Option<String>,
    /// For data stores: the exporter kind that watches them.
    pub exporter: Option<String>,
    /// A pinned image to use when stackfix adds a service of this kind.
    pub image: Option<String>,
    pub port: Option<u16>,
    /// Where the kind keeps its data inside the container.
    pub data: Option<String>,
    /// Its data needs backups.
    pub backup: bool,
    /// Its image declares a HEALTHCHECK (a user's profile may say so; the built-in knowledge of
    /// images is in the catalog, `super::catalog`).
    pub builtin_healthcheck: bool,
    /// A health probe a user's profile gives for the kind (built-in probes are in the catalog).
    pub healthcheck: Option<Vec<String>>,
    pub limits: Resources,
    pub reservations: Resources,
}

impl Kind {
    pub fn is_data_store(&self) -> bool {
        self.category.is_data_store()
    }
}

/// The ordered list of kinds.
#[derive(Debug, Clone)]
pub struct Profiles {
    /// Shared: every load of a run takes the same profiles, copied per stack.
    kinds: std::sync::Arc<[Kind]>,
    /// The kinds' keywords, to look a name's words up in (made with `kinds`).
    keywords: std::sync::Arc<Keywords>,
}

/// Which kinds list each keyword: a keyword of one word by that word, and those joining words
/// with `-` or `_` (found anywhere in a name), each with the index of its kind, in order.
#[derive(Debug, Default)]
struct Keywords {
    by_word: HashMap<String, Vec<usize>>,
    joined: Vec<(usize, String)>,
}

impl Keywords {
    fn of(kinds: &[Kind]) -> Keywords {
        let mut keywords = Keywords::default();
        for (i, kind) in kinds.iter().enumerate() {
            for keyword in &kind.keywords {
                match keyword.contains(['-', '_']) {
                    true => keywords.joined.push((i, keyword.clone())),
                    false => keywords.by_word.entry(keyword.clone()).or_default().push(i),
                }
            }
        }
        keywords
    }
}

/// What is known about a service when classifying it.
pub struct ServiceSignature<'a> {
    pub name: &'a str,
    pub image: Option<&'a str>,
    pub command: &'a str,
    pub dockerfile: Option<&'a str>,
    pub is_built: bool,
}

impl Profiles {
    /// The built-in profiles (templates/profiles.yml), parsed once per process.
    pub fn builtin() -> Profiles {
        static BUILT_IN: std::sync::LazyLock<Profiles> = std::sync::LazyLock::new(|| {
            // The embedded file is tested; failing here is an internal error, not an input error.
            Profiles::parse(BUILTIN).unwrap_or_else(|e| panic!("internal error: built-in profiles: {e}"))
        });
        BUILT_IN.clone()
    }

    /// Built-in kinds, with kinds from `text` replacing those of the same name (new ones go first).
    pub fn with_overrides(text: &str) -> Result<Profiles, String> {
        let user = Profiles::parse(text)?;
        let mut kinds = Vec::new();
        let mut builtin = Profiles::builtin().kinds.to_vec();
        for kind in user.kinds.iter().cloned() {
            match builtin.iter().position(|k| k.name == kind.name) {
                Some(i) => builtin[i] = kind,
                None => kinds.push(kind),
            }
        }
        kinds.extend(builtin);
        Ok(Profiles::of(kinds))
    }

    fn parse(text: &str) -> Result<Profiles, String> {
        let tree = Tree::parse(text.to_string()).map_err(|e| e.to_string())?;
        let root = tree.root().ok_or("empty profiles file")?;
        let value = Value::from_tree(&tree, root, 0).map_err(|e| e.message)?;
        let kinds = value.get("kinds").ok_or("profiles file has no `kinds:` mapping")?;
        let mut out = Vec::new();
        for (name, spec) in kinds.entries() {
            out.push(Kind {
                name: name.clone(),
                category: spec.str_at("category").unwrap_or("app").parse()?,
                images: strings(spec.get("images")),
                keywords: strings(spec.get("keywords")),
                commands: strings(spec.get("commands")),
                exports: spec.str_at("exports").map(str::to_string),
                exporter: spec.str_at("exporter").map(str::to_string),
                image: spec.str_at("image").map(str::to_string),
                port: spec.str_at("port").and_then(|p| p.parse().ok()),
                data: spec.str_at("data").map(str::to_string),
                backup: spec.str_at("backup") == Some("true"),
                builtin_healthcheck: spec.str_at("builtin_healthcheck") == Some("true"),
                healthcheck: spec.get("healthcheck").map(|h| strings(Some(h))),
                limits: resources(spec.get("limits")),
                reservations: resources(spec.get("reservations")),
            });
        }
        Ok(Profiles::of(out))
    }

    fn of(kinds: Vec<Kind>) -> Profiles {
        let keywords = std::sync::Arc::new(Keywords::of(&kinds));
        Profiles { kinds: kinds.into(), keywords }
    }

    pub fn kind(&self, name: &str) -> Option<&Kind> {
        self.kinds.iter().find(|k| k.name == name)
    }

    pub fn kinds(&self) -> &[Kind] {
        &self.kinds
    }

    /// The kind of a service: a backup command first, then the exact image, then command words,
    /// then keywords, then `app` for built services and `generic` for the rest.
    /// The kind an image's repository is known as: listed by a profile, or by the catalog's
    /// family of the repository (an image chosen by a variable is the catalog's only when the
    /// profiles list it as written). `None` for an image neither knows.
    pub fn kind_of_image(&self, image: &str) -> Option<&Kind> {
        let (full, short) = image_repository(image);
        if let Some(k) = self.kinds.iter().find(|k| k.images.iter().any(|i| i == full || i == short)) {
            return Some(k);
        }
        if image.contains('$') {
            return None;
        }
        // The catalog knows more repositories of a kind than the profiles list.
        Catalog::builtin().family(short).and_then(|e| e.kind.as_deref()).and_then(|k| self.kind(k))
    }

    pub fn classify(&self, sig: &ServiceSignature) -> &Kind {
        // Each word as written and without its quotes.
        let command: Vec<(&str, &str)> =
            sig.command.split_whitespace().map(|w| (w, w.trim_matches(|c| c == '"' || c == '\''))).collect();
        // A dump job often runs on its database's own image: what it runs decides.
        let backup = self
            .kinds
            .iter()
            .find(|k| k.category == Category::Backup && k.commands.iter().any(|c| words_in_order(&command, c)));
        if let Some(k) = backup {
            return k;
        }
        if let Some(k) = sig.image.and_then(|image| self.kind_of_image(image)) {
            return k;
        }
        if let Some(k) = self.kinds.iter().find(|k| k.commands.iter().any(|c| words_in_order(&command, c))) {
            return k;
        }
        let image_name = sig.image.map(|i| {
            let (_, short) = image_repository(i);
            short.rsplit('/').next().unwrap_or("").to_string()
        });
        // A pulled image is known by its name; the service name only speaks for what is built here
        // (or an image chosen by a variable): `redis-webui` running phpredisadmin is no redis.
        let image_decides = sig.image.is_some_and(|i| !i.contains('$')) && !sig.is_built;
        let names = if image_decides {
            [image_name.as_deref(), None, None]
        } else {
            [image_name.as_deref(), Some(sig.name), sig.dockerfile]
        };
        let candidates: Vec<Candidate> = names.into_iter().flatten().map(Candidate::new).collect();
        if let Some(k) = self.by_keyword(&candidates, sig.is_built) {
            return k;
        }
        let fallback = if sig.is_built { "app" } else { "generic" };
        self.kind(fallback).or_else(|| self.kind("generic")).unwrap_or(&GENERIC)
    }
}

impl Profiles {
    /// The first kind (in order) one of whose keywords one of `candidates` holds (`app` only for
    /// what is `built` here), found from the names' words rather than by trying every keyword
    /// of every kind.
    fn by_keyword(&self, candidates: &[Candidate], built: bool) -> Option<&Kind> {
        let mut first: Option<usize> = None;
        let mut consider = |i: usize| {
            let app_unbuilt = self.kinds[i].name == "app" && !built;
            if !app_unbuilt && first.is_none_or(|f| i < f) {
                first = Some(i);
            }
        };
        for c in candidates {
            for word in &c.words {
                for &i in self.keywords.by_word.get(&c.text[word.clone()]).into_iter().flatten() {
                    consider(i);
                }
            }
            for (i, keyword) in &self.keywords.joined {
                if c.matches(keyword) {
                    consider(*i);
                }
            }
        }
        first.map(|i| &self.kinds[i])
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v.map(|v| &v.kind) {
        Some(ValueKind::Seq(items)) => items.iter().filter_map(|i| i.as_str().map(str::to_string)).collect(),
        Some(ValueKind::Scalar { text, .. }) => vec![text.clone()],
        _ => Vec::new(),
    }
}

fn resources(v: Option<&Value>) -> Resources {
    Resources {
        memory: v.and_then(|v| v.str_at("memory")).map(str::to_string),
        cpus: v.and_then(|v| v.str_at("cpus")).map(str::to_string),
    }
}

/// An image reference without tag or digest: (as written, without registry and `library/`),
/// borrowed from `image` (`localhost:5000/library/redis:7@sha256:…` gives
/// (`localhost:5000/library/redis`, `redis`)).
pub fn image_repository(image: &str) -> (&str, &str) {
    let no_digest = image.split('@').next().unwrap_or(image);
    let last_slash = no_digest.rfind('/').map_or(0, |i| i + 1);
    let repo = match no_digest[last_slash..].find(':') {
        Some(i) => &no_digest[..last_slash + i],
        None => no_digest,
    };
    let mut short = repo;
    if let Some((first, rest)) = short.split_once('/') {
        if first.contains('.') || first.contains(':') || first == "localhost" {
            short = rest;
        }
    }
    let short = short.strip_prefix("library/").unwrap_or(short);
    (repo, short)
}

/// The tag of an image reference (`None` without one); the digest is returned as `@sha256:…`.
pub fn image_tag(image: &str) -> Option<&str> {
    if let Some(i) = image.find('@') {
        return Some(&image[i..]);
    }
    let last_slash = image.rfind('/').map_or(0, |i| i + 1);
    image[last_slash..].find(':').map(|i| &image[last_slash + i + 1..])
}

fn words_in_order(command: &[(&str, &str)], pattern: &str) -> bool {
    let mut words = command.iter();
    pattern
        .split_whitespace()
        .all(|p| words.any(|(w, unquoted)| *unquoted == p || w.strip_suffix(p).is_some_and(|rest| rest.ends_with('/'))))
}

/// A name a service's kind may be known by (its image's, its own, its Dockerfile's), lowercase,
/// with its words (split at every character but ASCII letters and digits).
struct Candidate {
    text: String,
    /// The words, as ranges of `text`.
    words: Vec<std::ops::Range<usize>>,
}

impl Candidate {
    fn new(name: &str) -> Candidate {
        let text = name.to_ascii_lowercase();
        let mut words = Vec::new();
        let mut start = 0;
        for (i, c) in text.char_indices() {
            if !c.is_ascii_alphanumeric() {
                words.push(start..i);
                start = i + c.len_utf8();
            }
        }
        words.push(start..text.len());
        Candidate { text, words }
    }

    /// Whether the candidate holds the keyword (as a word, or anywhere for `a-b` keywords).
    fn matches(&self, keyword: &str) -> bool {
        // Names and keywords are a few dozen bytes: compared in place, without a searcher.
        let keyword = keyword.as_bytes();
        if keyword.iter().any(|&b| b == b'-' || b == b'_') {
            return !keyword.is_empty() && self.text.as_bytes().windows(keyword.len()).any(|w| w == keyword);
        }
        self.words.iter().any(|w| self.text.as_bytes()[w.clone()] == *keyword)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The keyword lookup finds the kind trying every keyword of every kind in order finds, for
    /// names made of every keyword (alone, joined to other words, in capitals, as a part of a
    /// word) and of every image, built here or not.
    #[test]
    fn keywords_are_looked_up_as_every_kind_is_tried_in_order() {
        let p = Profiles::builtin();
        let tried = |candidates: &[Candidate], built: bool| -> Option<String> {
            p.kinds
                .iter()
                .find(|k| {
                    (built || k.name != "app") && candidates.iter().any(|c| k.keywords.iter().any(|kw| c.matches(kw)))
                })
                .map(|k| k.name.clone())
        };
        let mut names: Vec<String> = Vec::new();
        for k in p.kinds.iter() {
            for word in k.keywords.iter().chain(&k.images).chain([&k.name]) {
                names.extend([
                    word.clone(),
                    format!("my-{word}"),
                    format!("{word}_2"),
                    word.to_ascii_uppercase(),
                    format!("x{word}"),
                    format!("{word}-{}", k.name),
                ]);
            }
        }
        names.extend(["", "-", "a--b", "web", "api-worker", "celery-beat", "redis-commander"].map(String::from));
        let mut compared = 0;
        for (i, name) in names.iter().enumerate() {
            let other = &names[(i * 7 + 3) % names.len()];
            for candidates in [vec![Candidate::new(name)], vec![Candidate::new(name), Candidate::new(other)]] {
                for built in [false, true] {
                    assert_eq!(
                        p.by_keyword(&candidates, built).map(|k| k.name.clone()),
                        tried(&candidates, built),
                        "{name} / {other}"
                    );
                    compared += 1;
                }
            }
        }
        assert!(compared > 1000, "{compared}");
    }

    fn kind_of(image: Option<&str>, name: &str, command: &str, built: bool) -> String {
        let p = Profiles::builtin();
        p.classify(&ServiceSignature { name, image, command, dockerfile: None, is_built: built }).name.clone()
    }

    #[test]
    fn keywords_match_as_words_or_anywhere_with_a_dash() {
        // What `Candidate::matches` does, without splitting once.
        fn old(candidate: &str, keyword: &str) -> bool {
            if keyword.contains(['-', '_']) {
                return candidate.contains(keyword);
            }
            candidate.split(|c: char| !c.is_ascii_alphanumeric()).any(|w| w == keyword)
        }
        let names = ["", "Redis", "my-redis_exporter", "x--y", "-x", "pg.exporter", "grafana/loki", "élan-db", "a b"];
        let keywords =
            ["", "redis", "redis-exporter", "redis_exporter", "x", "y", "-x", "exporter", "db", "loki", "élan"];
        for name in names {
            let candidate = Candidate::new(name);
            for keyword in keywords {
                assert_eq!(
                    candidate.matches(keyword),
                    old(&name.to_ascii_lowercase(), keyword),
                    "{name:?} {keyword:?}"
                );
            }
        }
    }

    #[test]
    fn classification() {
        assert_eq!(kind_of(Some("postgres:15-alpine"), "db", "", false), "postgres");
        assert_eq!(kind_of(Some("docker.io/library/redis:7"), "cache", "", false), "redis");
        assert_eq!(kind_of(Some("prometheuscommunity/postgres-exporter"), "x", "", false), "postgres-exporter");
        assert_eq!(kind_of(Some("commandcenter-postgres:latest"), "postgres", "", true), "postgres");
        assert_eq!(kind_of(None, "worker", "celery -A app worker -l info", true), "celery-worker");
        assert_eq!(kind_of(None, "celery-beat", "celery -A app beat", true), "celery-beat");
        assert_eq!(kind_of(None, "backend", "uvicorn main:app", true), "app");
        assert_eq!(kind_of(Some("mailhog/mailhog"), "mail", "", false), "generic");
        assert_eq!(kind_of(Some("gcr.io/cadvisor/cadvisor:v0.47.0"), "c", "", false), "cadvisor");
        assert_eq!(kind_of(Some("mongo-express:1.0"), "mongo-express", "", false), "db-admin");
        assert_eq!(kind_of(Some("erikdubbelboer/phpredisadmin"), "redis-webui", "", false), "db-admin");
        assert_eq!(kind_of(Some("mailhog/mailhog"), "redis-mail", "", false), "generic");
        assert_eq!(kind_of(Some("registry.example.com/infra/postgres:15"), "db", "", false), "postgres");
    }

    #[test]
    fn image_parts() {
        assert_eq!(image_repository("localhost:5000/a/b:1").1, "a/b");
        assert_eq!(image_tag("redis:7-alpine"), Some("7-alpine"));
        assert_eq!(image_tag("localhost:5000/redis"), None);
        assert_eq!(image_tag("redis@sha256:abc"), Some("@sha256:abc"));
    }

    #[test]
    fn user_overrides_replace_by_name() {
        let p = Profiles::with_overrides(
            "kinds:\n  redis:\n    category: cache\n    images: [my/redis]\n    limits: {memory: 1G}\n",
        )
        .unwrap();
        assert_eq!(p.kind("redis").unwrap().limits.memory.as_deref(), Some("1G"));
        assert!(p.kind("postgres").is_some());
    }
}
