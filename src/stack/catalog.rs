//! The image catalog: what is known about container images, each fact with its source.
//!
//! `templates/catalog.yml` (embedded in the binary) lists image families — the repositories that
//! publish them, their variants (selected by tag: Debian, Alpine, distroless, …) with the programs
//! each variant ships, the image's own `HEALTHCHECK`, its listening ports, working health probes
//! and what they need enabled first, and the default JVM heap. Every fact names where it comes
//! from: the upstream Dockerfile (repository and path) or the vendor's documentation page. A fact
//! without a source is not in the catalog: what is not there is unknown, and stackfix does not
//! guess it (see `probe` for how choices are made from these facts).
//!
//! The types reject unknown keys, so a misspelt fact is an error in the tests, not a silent gap.

use std::sync::LazyLock;

use serde::Deserialize;

use super::value::{Value, ValueKind};
use crate::yaml::Tree;

/// The catalog file, where its facts and their sources are kept (the tests read it; the binary
/// reads [`BUILTIN_JSON`]).
#[cfg(test)]
const BUILTIN: &str = include_str!("../../templates/catalog.yml");

/// `templates/catalog.yml` as JSON, converted by the build script (`build.rs`): read at start in a fraction of
/// the time the YAML takes (a test keeps the two equal).
const BUILTIN_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/catalog.json"));

static CATALOG: LazyLock<Catalog> = LazyLock::new(|| {
    // The embedded file is checked by the tests; failing here is an internal error.
    Catalog::from_json(BUILTIN_JSON).unwrap_or_else(|e| panic!("internal error: built-in image catalog: {e}"))
});

/// What a service is for. Shared by the catalog and the service profiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    Database,
    Cache,
    Search,
    Broker,
    Proxy,
    Monitoring,
    Exporter,
    Worker,
    Scheduler,
    Backup,
    Admin,
    #[default]
    App,
    /// A language runtime or base image applications are built from (node, python, debian, …).
    Runtime,
    Mail,
    Storage,
    Auth,
    Other,
}

impl Category {
    /// Databases, caches, search engines and brokers: services that keep data others rely on.
    pub fn is_data_store(self) -> bool {
        matches!(self, Category::Database | Category::Cache | Category::Search | Category::Broker)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Database => "database",
            Category::Cache => "cache",
            Category::Search => "search",
            Category::Broker => "broker",
            Category::Proxy => "proxy",
            Category::Monitoring => "monitoring",
            Category::Exporter => "exporter",
            Category::Worker => "worker",
            Category::Scheduler => "scheduler",
            Category::Backup => "backup",
            Category::Admin => "admin",
            Category::App => "app",
            Category::Runtime => "runtime",
            Category::Mail => "mail",
            Category::Storage => "storage",
            Category::Auth => "auth",
            Category::Other => "other",
        }
    }
}

impl std::str::FromStr for Category {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).map_err(|_| format!("unknown category `{s}`"))
    }
}

/// The distribution an image variant is built on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Base {
    Debian,
    Ubuntu,
    Alpine,
    Busybox,
    Distroless,
    Scratch,
    Rhel,
    Wolfi,
    Other,
}

/// Something a probe needs switched on in the service before it can pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Requirement {
    /// Traefik answers `traefik healthcheck --ping` only with `ping` enabled (`--ping=true` or
    /// `ping: {}` in the static configuration).
    TraefikPing,
    /// Elasticsearch's HTTP API answers plain, unauthenticated HTTP only with security turned off
    /// (`xpack.security.enabled=false`); 8.x turns it on by default.
    ElasticsearchHttp,
    /// Elasticsearch answers HTTPS only with security and its HTTP TLS on (the 8.x default;
    /// https://www.elastic.co/guide/en/elasticsearch/reference/8.5/docker.html).
    ElasticsearchHttps,
    /// Keycloak serves its health endpoints only with `KC_HEALTH_ENABLED=true`.
    KeycloakHealth,
    /// `redis-cli ping` answers `PONG` only without a password: with `requirepass` set, an
    /// unauthenticated client gets `NOAUTH Authentication required`
    /// (https://redis.io/docs/latest/commands/auth/).
    RedisNoPassword,
    /// memcached's text protocol (`stats`) is refused with SASL on (`-S`), which requires the
    /// binary protocol (https://github.com/memcached/memcached/wiki/SASLHowto).
    MemcachedAscii,
    /// OpenSearch answers plain HTTP only with its security plugin disabled
    /// (`DISABLE_SECURITY_PLUGIN=true` or `plugins.security.disabled=true`).
    OpensearchHttp,
}

/// A list of values and where it is written down.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sourced<T> {
    pub values: T,
    pub source: String,
}

/// One variant of an image family: the images whose tag matches one of `tags`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// Globs over the tag (`*` matches any run of characters); an untagged image is `latest`.
    pub tags: Vec<String>,
    /// The first versions with these facts, one per release series (see [`version_at_least`]):
    /// a tag whose version is older does not select the variant. Empty: every version.
    #[serde(default)]
    pub min_version: Vec<String>,
    /// What the images these tags select hold was not checked: they select no variant, so
    /// what they contain is unknown (rather than taken from a later variant the tags also
    /// match). `programs` is empty then.
    #[serde(default)]
    pub unchecked: bool,
    pub base: Base,
    /// Programs a health probe may call that this variant has (`sh`, `bash`, `curl`, `wget` (GNU),
    /// `busybox-wget`, `nc`, `busybox-nc`, `python`, `node`, or the service's own tools).
    pub programs: Vec<String>,
    /// The Dockerfile (or documentation) that shows it.
    pub source: String,
}

impl Variant {
    pub fn has(&self, program: &str) -> bool {
        self.programs.iter().any(|p| p == program)
    }

    /// Whether `tag` selects this variant.
    pub fn matches(&self, tag: &str) -> bool {
        self.tags.iter().any(|glob| glob_matches(glob, tag)) && version_at_least(tag, &self.min_version)
    }
}

/// The `HEALTHCHECK` an image's Dockerfile declares.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageHealthcheck {
    pub test: Vec<String>,
    /// The first versions that declare it, as for [`Variant::min_version`].
    #[serde(default)]
    pub min_version: Vec<String>,
    pub source: String,
}

/// The leading version of a tag (`1.27.3-alpine` → [1, 27, 3], `v2.11` → [2, 11]); `None` for
/// tags that name no version (`latest`, `alpine`, `stable`).
fn tag_version(tag: &str) -> Option<smallvec::SmallVec<[u64; 4]>> {
    let tag = tag.strip_prefix('v').unwrap_or(tag);
    let end = tag.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(tag.len());
    let parts: smallvec::SmallVec<[u64; 4]> =
        tag[..end].split('.').take_while(|p| !p.is_empty()).map_while(|p| p.parse().ok()).collect();
    (!parts.is_empty()).then_some(parts)
}

/// Whether `tag`'s version is at least the minimum of its release series in `minimums` (each
/// `major.minor[.patch]`; the series is its first two numbers). A tag that names no version, or
/// leaves parts out (`1.27`, `10`), is the newest of what it names; a series newer than every
/// listed one passes, one older than all of them does not. A minimum with a part of
/// [`NEVER`] or more (`10.7.9999`) says no release of its series has the fact: no tag of the
/// series passes, however short.
/// A version part that no release reaches: a minimum holding it marks a release series that
/// never has the fact (see [`version_at_least`]).
pub const NEVER: u64 = 9999;

pub fn version_at_least(tag: &str, minimums: &[String]) -> bool {
    if minimums.is_empty() {
        return true;
    }
    let Some(version) = tag_version(tag) else { return true };
    let mins: smallvec::SmallVec<[smallvec::SmallVec<[u64; 4]>; 4]> =
        minimums.iter().filter_map(|m| tag_version(m)).collect();
    // Missing parts of the tag are the newest: compare only what it says.
    let at_least = |min: &[u64]| {
        for (v, m) in version.iter().zip(min) {
            if v != m {
                return v > m;
            }
        }
        true
    };
    let series = |v: &[u64]| (v.first().copied(), v.get(1).copied());
    if version.len() >= 2 {
        if let Some(min) = mins.iter().find(|m| series(m) == series(&version)) {
            return !min.iter().any(|&p| p >= NEVER) && at_least(min);
        }
    }
    // A series not listed: newer than the oldest listed minimum passes.
    mins.iter().any(|m| at_least(m))
}

/// A health probe known to work for an image family.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct HealthProbe {
    /// The compose `healthcheck.test` (`["CMD", …]` or `["CMD-SHELL", "…"]`).
    pub test: Vec<String>,
    /// Every program it runs (`sh` for `CMD-SHELL`).
    pub programs: Vec<String>,
    /// What must be enabled in the service first.
    #[serde(default)]
    pub requires: Option<Requirement>,
    /// The first versions whose image meets what the probe relies on beyond its programs (the
    /// user it logs in as), one per release series as for [`Variant::min_version`]. An older
    /// tag does not take the probe, and neither does an unknown one (a variable, a digest).
    /// Empty: every version.
    #[serde(default)]
    pub min_version: Vec<String>,
    /// What else it relies on that the files cannot show (what a data volume holds): a fix with
    /// it is unsafe unless the service's environment settles it.
    #[serde(default)]
    pub caveat: Option<Caveat>,
    /// Why it works: the documentation of the endpoint or command.
    pub source: String,
}

/// A condition a probe needs that stackfix cannot see in the files (the state of a data
/// volume). The probe is offered as an unsafe fix, its reason saying `why`, unless one of
/// `unless_environment` is set in the service's environment to a value other than empty or `0`
/// (which makes the image meet it at start).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Caveat {
    /// What a person must make sure of, as the fix's reason shows it.
    pub why: String,
    #[serde(default)]
    pub unless_environment: Vec<String>,
    /// The first versions in which `unless_environment` settles it, as for
    /// [`Variant::min_version`] (an unknown tag: in none). Empty: every version.
    #[serde(default)]
    pub unless_min_version: Vec<String>,
    /// Where the image's behaviour is written down.
    pub source: String,
}

/// The JVM heap an image runs with.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Heap {
    /// The heap when nothing sets it (`1G`), or `auto` when the start script sizes it from the
    /// container's memory; absent when unknown.
    #[serde(default)]
    pub default: Option<String>,
    /// Environment variables whose `-Xmx` (or `-Xms`) sets the heap.
    #[serde(default)]
    pub variables: Vec<String>,
    /// The vendor asks for the heap to be at most half the container's memory.
    #[serde(default)]
    pub half_of_memory: bool,
    pub source: String,
}

/// A fact that holds for some versions of an image family.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionedFact {
    /// The release series it holds for, as leading version numbers (`"7.2"` holds for `7.2.5` and
    /// `7.2-alpine`, `"16"` for every 16.x), every series up to the newest one checked (a tag
    /// such as `7` holds when a listed series starts with it); empty: every version.
    #[serde(default)]
    pub series: Vec<String>,
    /// It holds for tags that name no version (`latest`, `alpine`, `bookworm`): the release they
    /// follow is one it holds for.
    #[serde(default)]
    pub latest: bool,
    /// The Dockerfile, entrypoint or documentation that shows it.
    pub source: String,
}

impl VersionedFact {
    /// Whether it holds for `tag`; `None` (a variable, a digest) never does.
    pub fn holds(&self, tag: Option<&str>) -> bool {
        series_holds(&self.series, self.latest, tag)
    }
}

/// Whether a fact that lists `series` (empty: every version), and holds for version-less tags
/// when `latest`, holds for `tag`; `None` (a variable, a digest) never does.
fn series_holds(series: &[String], latest: bool, tag: Option<&str>) -> bool {
    let Some(tag) = tag else { return false };
    let Some(version) = tag_version(tag) else { return latest };
    // A tag that names fewer numbers than a series (`redis:7`) follows the newest release it
    // names, which the listed series include when they name it at all (they list every series
    // up to the newest one checked).
    series.is_empty()
        || series
            .iter()
            .filter_map(|s| tag_version(s))
            .any(|series| version.starts_with(&series) || series.starts_with(&version))
}

/// A list of names that holds for some versions of an image family: [`Capabilities`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionedList {
    /// The names (capabilities, variables); empty: none.
    pub values: Vec<String>,
    /// As [`VersionedFact::series`].
    #[serde(default)]
    pub series: Vec<String>,
    /// As [`VersionedFact::latest`].
    #[serde(default)]
    pub latest: bool,
    /// The Dockerfile, entrypoint or server source that shows it.
    pub source: String,
}

impl VersionedList {
    /// Whether it holds for `tag` (as [`VersionedFact::holds`]).
    pub fn holds(&self, tag: Option<&str>) -> bool {
        series_holds(&self.series, self.latest, tag)
    }
}

/// The Linux capabilities an image needs, for some of its versions (names without `CAP_`, upper
/// case: `CHOWN`, `NET_BIND_SERVICE`): what its entrypoint and server use when the container
/// starts as the image's own user with the image's entrypoint and server
/// ([`ImageEntry::server_commands`]). With `cap_drop: [ALL]` and `cap_add` of exactly these, its
/// entrypoint and server start and serve as with Docker's default set (a root `docker exec`
/// session in the container has only these too).
pub type Capabilities = VersionedList;

/// The variables an image's entrypoint also reads from a file, for some of its versions (names
/// without `_FILE`: `POSTGRES_PASSWORD`): for `NAME` it reads the file `NAME_FILE` names
/// (`file_env` of the official database images: `POSTGRES_PASSWORD_FILE=/run/secrets/db_password`),
/// when the container starts with the image's entrypoint and server
/// ([`ImageEntry::server_commands`]). What it does when both are set is [`FileVariables::both`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileVariables {
    /// The names, without `_FILE`.
    pub values: Vec<String>,
    /// As [`VersionedFact::series`].
    #[serde(default)]
    pub series: Vec<String>,
    /// As [`VersionedFact::latest`].
    #[serde(default)]
    pub latest: bool,
    /// What the entrypoint does when both `NAME` and `NAME_FILE` are set (`refused` when the
    /// catalog does not say: `file_env`'s behaviour).
    #[serde(default)]
    pub both: BothSet,
    /// The entrypoint source that shows it.
    pub source: String,
}

impl FileVariables {
    /// Whether it holds for `tag` (as [`VersionedFact::holds`]).
    pub fn holds(&self, tag: Option<&str>) -> bool {
        series_holds(&self.series, self.latest, tag)
    }
}

/// What an entrypoint does with a variable set both as `NAME` and as `NAME_FILE`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BothSet {
    /// It stops with an error (`file_env`: "both NAME and NAME_FILE are set (but are
    /// exclusive)").
    #[default]
    Refused,
    /// It reads the file and ignores `NAME`.
    FileWins,
}

/// How many processes an image's server runs at once as its vendor documents them (PostgreSQL:
/// one semaphore per backend slot and auxiliary process), for some of its versions: `fixed` plus
/// the values of `settings`, each the server's default unless the service's command sets it.
/// Rules size a `pids_limit` from it with the headroom they document.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tasks {
    /// Server settings whose values add up to the count, with their defaults
    /// (`max_connections: 100`).
    pub settings: std::collections::BTreeMap<String, u64>,
    /// Tasks that do not depend on a setting.
    pub fixed: u64,
    /// As [`VersionedFact::series`].
    #[serde(default)]
    pub series: Vec<String>,
    /// As [`VersionedFact::latest`].
    #[serde(default)]
    pub latest: bool,
    /// The vendor's documentation (and source) of the count and the defaults.
    pub source: String,
}

/// One image family.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageEntry {
    pub family: String,
    /// The stackfix profile kind of its services (`templates/profiles.yml`).
    #[serde(default)]
    pub kind: Option<String>,
    pub category: Category,
    /// Repositories without registry host and `library/` (`nginx`, `bitnami/redis`).
    pub repositories: Vec<String>,
    #[serde(default)]
    pub ports: Option<Sourced<Vec<u16>>>,
    /// Tried in order; the first whose tags match wins.
    #[serde(default)]
    pub variants: Vec<Variant>,
    #[serde(default)]
    pub healthcheck: Option<ImageHealthcheck>,
    /// Working probes, best first.
    #[serde(default)]
    pub probes: Vec<HealthProbe>,
    /// What every probe of the family needs enabled first (a probe may say so itself).
    #[serde(default)]
    pub requires: Option<Requirement>,
    #[serde(default)]
    pub heap: Option<Heap>,
    /// The image starts and runs with `no-new-privileges` (`security_opt`): its Dockerfile adds
    /// no setuid, setgid or file-capability program, its entrypoint and process run none (the
    /// base system's `su` may be there, unused), and it gains no privilege at start (stepping down from root with `gosu` or `su-exec` run as root, or
    /// `setuid(2)` in the server itself, is not blocked by it).
    #[serde(default)]
    pub no_new_privileges: Option<VersionedFact>,
    /// Globs (`*` any run) for the first word of a `command:` the image's entrypoint runs as its
    /// server (`postgres`, `-*` for an option it hands to the server): the start the
    /// capability and written-path facts are about.
    #[serde(default)]
    pub server_commands: Option<Sourced<Vec<String>>>,
    /// The capabilities the image needs ([`Capabilities`]).
    #[serde(default)]
    pub capabilities: Option<Capabilities>,
    /// How many processes its server runs, per release series ([`Tasks`]); the first that holds
    /// for a tag counts.
    #[serde(default)]
    pub tasks: Vec<Tasks>,
    /// Every path the image writes with its default configuration (outside the volumes its
    /// Dockerfile declares), as the vendor documents it for a read-only root filesystem.
    #[serde(default)]
    pub writes: Option<Sourced<Vec<String>>>,
    /// What makes the image write beyond [`ImageEntry::writes`]: mount targets (paths, a mount at
    /// or below one counts) and environment variable names or prefixes (`NGINX_ENVSUBST_`).
    #[serde(default)]
    pub writes_also_with: Option<Sourced<Vec<String>>>,
    /// Environment variables naming a directory the image writes (`PGDATA`): harmless when a
    /// volume of the service covers the value, else the image writes outside [`ImageEntry::writes`].
    #[serde(default)]
    pub writes_variables: Option<Sourced<Vec<String>>>,
    /// The variables its entrypoint also reads from files ([`FileVariables`]).
    #[serde(default)]
    pub file_variables: Option<FileVariables>,
    /// Free-text remarks that are not facts stackfix acts on.
    #[serde(default)]
    pub notes: Option<String>,
}

impl ImageEntry {
    /// Whether a service whose `command:` starts with `first` (`None`: no command) keeps the
    /// image's start as its server: `false` when the catalog does not list the server's commands.
    pub fn runs_server(&self, first: Option<&str>) -> bool {
        first.is_none_or(|word| {
            self.server_commands.as_ref().is_some_and(|c| c.values.iter().any(|glob| glob_matches(glob, word)))
        })
    }

    /// The variant an image tag selects; `None` when no variant matches (or the tag is unknown).
    pub fn variant(&self, tag: &str) -> Option<&Variant> {
        self.variants.iter().find(|v| v.matches(tag)).filter(|v| !v.unchecked)
    }

    /// Whether every variant has `program` and every tag selects one (then an unknown tag does
    /// not matter).
    pub fn all_variants_have(&self, program: &str) -> bool {
        let covers_every_tag =
            self.variants.iter().any(|v| v.tags.iter().any(|t| t == "*") && v.min_version.is_empty());
        covers_every_tag && self.variants.iter().all(|v| v.has(program))
    }

    pub fn ports(&self) -> &[u16] {
        self.ports.as_ref().map_or(&[], |p| &p.values)
    }
}

/// The whole catalog, in file order.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    pub images: Vec<ImageEntry>,
    /// Each repository's family, as an index into `images` (the first family naming it).
    #[serde(skip)]
    by_repository: foldhash::HashMap<String, usize>,
}

/// An image reference matched against the catalog.
#[derive(Debug, Clone, Copy)]
pub struct ImageMatch {
    pub entry: &'static ImageEntry,
    /// `None` when the tag is unknown (a variable, a digest) or no variant matches.
    pub variant: Option<&'static Variant>,
    /// The image declares its family's HEALTHCHECK: the family has one and the tag is known to
    /// be recent enough (every tag when no first version is given).
    pub healthcheck: bool,
    /// The tag is known (not a variable or a digest), though it may select no variant.
    pub tag_known: bool,
}

impl Catalog {
    /// The built-in catalog.
    pub fn builtin() -> &'static Catalog {
        &CATALOG
    }

    /// Parses a catalog file (YAML), rejecting unknown keys.
    pub fn parse(text: &str) -> Result<Catalog, String> {
        let tree = Tree::parse(text.to_string()).map_err(|e| e.to_string())?;
        let root = tree.root().ok_or("empty catalog")?;
        let value = Value::from_tree(&tree, root, 0).map_err(|e| e.message)?;
        let catalog: Catalog = serde_json::from_value(to_json(&value)).map_err(|e| e.to_string())?;
        Ok(catalog.indexed())
    }

    /// A catalog from its JSON form (as the build script writes `templates/catalog.yml`), rejecting unknown
    /// keys.
    fn from_json(text: &str) -> Result<Catalog, String> {
        serde_json::from_str::<Catalog>(text).map(Catalog::indexed).map_err(|e| e.to_string())
    }

    /// The catalog with its index of repositories built.
    fn indexed(mut self) -> Catalog {
        let catalog = &mut self;
        for (i, entry) in catalog.images.iter().enumerate() {
            for repository in &entry.repositories {
                catalog.by_repository.entry(repository.clone()).or_insert(i);
            }
        }
        self
    }

    /// The family publishing `repository` (as [`super::profiles::image_repository`] shortens it).
    pub fn family(&self, repository: &str) -> Option<&ImageEntry> {
        self.by_repository.get(repository).map(|&i| &self.images[i])
    }

    /// The family of an image reference and its tag: `latest` when it has none, `None` when the
    /// tag is unknown (a digest only, or a variable compose left unset, `memcached:${TAG}`).
    fn entry_and_tag<'i>(&'static self, image: &'i str) -> Option<(&'static ImageEntry, Option<&'i str>)> {
        let (full, short) = super::profiles::image_repository(image);
        let entry = self.family(short).or_else(|| self.family(full))?;
        let tag = match super::profiles::image_tag(image) {
            None => Some("latest"),
            Some(t) if t.starts_with('@') => None,
            Some(t) => Some(t.split('@').next().unwrap_or(t)),
        };
        Some((entry, tag.filter(|t| !t.is_empty() && !t.contains('$') && !image.contains('$'))))
    }

    /// The source of the fact that `image` starts and runs with `no-new-privileges`
    /// ([`ImageEntry::no_new_privileges`]), when the catalog knows it for the image's tag.
    pub fn no_new_privileges(&'static self, image: &str) -> Option<&'static str> {
        let (entry, tag) = self.entry_and_tag(image)?;
        entry.no_new_privileges.as_ref().filter(|f| f.holds(tag)).map(|f| f.source.as_str())
    }

    /// The capabilities `image` needs ([`ImageEntry::capabilities`]), when the catalog knows them
    /// for the image's tag.
    pub fn capabilities(&'static self, image: &str) -> Option<&'static Capabilities> {
        let (entry, tag) = self.entry_and_tag(image)?;
        entry.capabilities.as_ref().filter(|f| f.holds(tag))
    }

    /// The variables `image`'s entrypoint also reads from files ([`ImageEntry::file_variables`]),
    /// with its entry, when the catalog knows them for the image's tag.
    pub fn file_variables(&'static self, image: &str) -> Option<(&'static ImageEntry, &'static FileVariables)> {
        let (entry, tag) = self.entry_and_tag(image)?;
        entry.file_variables.as_ref().filter(|f| f.holds(tag)).map(|f| (entry, f))
    }

    /// How many processes `image`'s server runs ([`ImageEntry::tasks`]), when the catalog knows
    /// it for the image's tag.
    pub fn tasks(&'static self, image: &str) -> Option<&'static Tasks> {
        let (entry, tag) = self.entry_and_tag(image)?;
        entry.tasks.iter().find(|t| series_holds(&t.series, t.latest, tag))
    }

    /// The tag of `image` (`latest` when it names none) when its family is in the catalog and
    /// the tag is known: not a variable, not only a digest.
    pub fn known_tag<'i>(&'static self, image: &'i str) -> Option<&'i str> {
        self.entry_and_tag(image)?.1
    }

    /// Looks up an image reference (`nginx:1.27-alpine`, `docker.io/library/redis`,
    /// `quay.io/prometheus/node-exporter:v1.8.2@sha256:…`). An image without a tag is `latest`;
    /// a reference still holding `$` (an unset variable) or only a digest has no known variant.
    pub fn lookup(&'static self, image: &str) -> Option<ImageMatch> {
        let (entry, tag) = self.entry_and_tag(image)?;
        let variant = tag.and_then(|t| entry.variant(t));
        let healthcheck = entry.healthcheck.as_ref().is_some_and(|h| match tag {
            Some(t) => version_at_least(t, &h.min_version),
            None => h.min_version.is_empty(),
        });
        Some(ImageMatch { entry, variant, healthcheck, tag_known: tag.is_some() })
    }
}

/// Whether `text` matches `glob`, where `*` matches any run of characters (also empty).
pub fn glob_matches(glob: &str, text: &str) -> bool {
    let parts: Vec<&str> = glob.split('*').collect();
    if parts.len() == 1 {
        return glob == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

/// A located value as JSON for serde: plain scalars that read as integers or booleans become
/// numbers and booleans, `null`/`~` null; quoted scalars stay strings.
fn to_json(value: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match &value.kind {
        ValueKind::Null => J::Null,
        ValueKind::Scalar { text, quoted: true, .. } => J::String(text.clone()),
        ValueKind::Scalar { text, quoted: false, .. } => match text.as_str() {
            "true" => J::Bool(true),
            "false" => J::Bool(false),
            "null" | "~" => J::Null,
            t => t.parse::<i64>().map(J::from).unwrap_or_else(|_| J::String(t.to_string())),
        },
        ValueKind::Seq(items) => J::Array(items.iter().map(to_json).collect()),
        ValueKind::Map(entries) => J::Object(entries.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_json_is_the_yaml_file() {
        // What `build.rs` wrote is what this module reads from the YAML, value for value.
        let tree = Tree::parse(BUILTIN.to_string()).unwrap();
        let from_yaml = to_json(&Value::from_tree(&tree, tree.root().unwrap(), 0).unwrap());
        let from_build: serde_json::Value = serde_json::from_str(BUILTIN_JSON).unwrap();
        assert_eq!(from_build, from_yaml);
        assert_eq!(Catalog::builtin().images.len(), Catalog::parse(BUILTIN).unwrap().images.len());
        assert!(Catalog::builtin().family("postgres").is_some());
    }

    #[test]
    fn globs() {
        assert!(glob_matches("*", "1.27"));
        assert!(glob_matches("*alpine*", "1.27-alpine3.20"));
        assert!(glob_matches("4.*", "4.4.29"));
        assert!(!glob_matches("4.*", "14.1"));
        assert!(glob_matches("latest", "latest"));
        assert!(!glob_matches("*-slim", "1-slim-x"));
        assert!(glob_matches("a*b*c", "abc"));
        assert!(!glob_matches("a*a", "a"));
    }

    #[test]
    fn versions() {
        let min = |m: &[&str]| m.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(version_at_least("1.27-alpine", &min(&["1.17.10"])));
        assert!(version_at_least("1.17.10", &min(&["1.17.10"])));
        assert!(!version_at_least("1.15-alpine", &min(&["1.17.10"])));
        assert!(!version_at_least("1.17.9", &min(&["1.17.10"])));
        assert!(version_at_least("1.17", &min(&["1.17.10"])));
        assert!(version_at_least("latest", &min(&["1.17.10"])));
        assert!(version_at_least("mainline-alpine", &min(&["1.17.10"])));
        let mariadb = min(&["10.2.43", "10.3.34", "10.4.24", "10.5.15", "10.6.7"]);
        assert!(!version_at_least("10.6.4-focal", &mariadb));
        assert!(version_at_least("10.6", &mariadb));
        assert!(version_at_least("10.6.7", &mariadb));
        assert!(version_at_least("11.4", &mariadb));
        assert!(version_at_least("10", &mariadb));
        assert!(!version_at_least("10.1.48", &mariadb));
        assert!(version_at_least("v1.16.0", &min(&["1.15.0"])));
        assert!(!version_at_least("v1.13.0", &min(&["1.15.0"])));
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = Catalog::parse("images:\n  - family: x\n    category: app\n    repositories: [x]\n    colour: red\n")
            .unwrap_err();
        assert!(err.contains("colour"), "{err}");
        let err = Catalog::parse("images:\n  - family: x\n    category: blue\n    repositories: [x]\n").unwrap_err();
        assert!(err.contains("blue"), "{err}");
    }
}

#[cfg(test)]
mod builtin_tests {
    use super::*;

    fn cited(source: &str) -> bool {
        source.contains("https://")
    }

    #[test]
    fn every_fact_has_a_source_and_every_probe_fits_a_variant() {
        let catalog = Catalog::builtin();
        assert!(catalog.images.len() > 40, "{} families", catalog.images.len());
        let mut repositories = std::collections::HashSet::new();
        for entry in &catalog.images {
            let id = &entry.family;
            assert!(!entry.repositories.is_empty(), "{id}: no repositories");
            for r in &entry.repositories {
                assert!(repositories.insert(r.clone()), "{id}: repository {r} listed twice");
                assert!(!r.contains(':') && !r.starts_with("library/"), "{id}: {r} is not a bare repository");
            }
            let versions = |list: &[String]| list.iter().all(|m| tag_version(m).is_some_and(|v| v.len() >= 2));
            for v in &entry.variants {
                assert!(cited(&v.source), "{id}: variant {:?} has no source", v.tags);
                assert!(!v.tags.is_empty(), "{id}: a variant without tags");
                assert!(!v.unchecked || v.programs.is_empty(), "{id}: an unchecked variant lists programs");
                assert!(versions(&v.min_version), "{id}: min_version {:?}", v.min_version);
            }
            if let Some(p) = &entry.ports {
                assert!(cited(&p.source), "{id}: ports without a source");
            }
            if let Some(h) = &entry.healthcheck {
                assert!(cited(&h.source), "{id}: HEALTHCHECK without a source");
            }
            if let Some(h) = &entry.heap {
                assert!(cited(&h.source), "{id}: heap without a source");
            }
            if let Some(w) = &entry.writes_also_with {
                assert!(cited(&w.source) && entry.writes.is_some(), "{id}: writes_also_with");
            }
            if let Some(c) = &entry.server_commands {
                assert!(cited(&c.source) && !c.values.is_empty(), "{id}: server_commands");
            }
            if let Some(w) = &entry.writes_variables {
                assert!(cited(&w.source) && entry.writes.is_some(), "{id}: writes_variables");
            }
            if let Some(w) = &entry.writes {
                assert!(cited(&w.source), "{id}: writes without a source");
                assert!(w.values.iter().all(|p| p.starts_with('/')), "{id}: writes {:?}", w.values);
            }
            if let Some(f) = &entry.no_new_privileges {
                assert!(cited(&f.source), "{id}: no_new_privileges without a source");
                assert!(f.series.iter().all(|s| tag_version(s).is_some()), "{id}: series {:?}", f.series);
            }
            if let Some(c) = &entry.capabilities {
                assert!(cited(&c.source), "{id}: capabilities without a source");
                assert!(c.series.iter().all(|s| tag_version(s).is_some()), "{id}: series {:?}", c.series);
                assert!(entry.server_commands.is_some(), "{id}: capabilities for no server command");
                for cap in &c.values {
                    assert!(
                        crate::rules::DEFAULT_CAPABILITIES.contains(&cap.as_str()),
                        "{id}: {cap} is not one of Docker's default capabilities"
                    );
                }
            }
            if let Some(f) = &entry.file_variables {
                assert!(cited(&f.source), "{id}: file_variables without a source");
                assert!(f.series.iter().all(|s| tag_version(s).is_some()), "{id}: series {:?}", f.series);
                assert!(entry.server_commands.is_some(), "{id}: file_variables for no server command");
                let name = |n: &String| {
                    !n.is_empty()
                        && !n.ends_with("_FILE")
                        && n.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                };
                assert!(!f.values.is_empty() && f.values.iter().all(name), "{id}: file_variables {:?}", f.values);
            }
            for t in &entry.tasks {
                assert!(cited(&t.source), "{id}: tasks without a source");
                assert!(t.series.iter().all(|s| tag_version(s).is_some()), "{id}: series {:?}", t.series);
                assert!(!t.settings.is_empty() || t.fixed > 0, "{id}: tasks counting nothing");
            }
            for probe in &entry.probes {
                assert!(cited(&probe.source), "{id}: probe {:?} has no source", probe.test);
                assert!(versions(&probe.min_version), "{id}: min_version {:?}", probe.min_version);
                if let Some(caveat) = &probe.caveat {
                    assert!(cited(&caveat.source), "{id}: caveat without a source");
                    assert!(versions(&caveat.unless_min_version), "{id}: {:?}", caveat.unless_min_version);
                    assert!(
                        caveat.unless_min_version.is_empty() || !caveat.unless_environment.is_empty(),
                        "{id}: unless_min_version without unless_environment"
                    );
                }
                assert!(
                    matches!(probe.test.first().map(String::as_str), Some("CMD" | "CMD-SHELL")),
                    "{id}: {:?}",
                    probe.test
                );
                let first = probe.test.get(1).and_then(|w| w.split_whitespace().next()).unwrap_or("");
                let first = first.rsplit('/').next().unwrap_or(first);
                if probe.test[0] == "CMD-SHELL" {
                    assert!(probe.programs.iter().any(|p| p == "sh"), "{id}: a CMD-SHELL probe runs sh");
                } else {
                    // BusyBox applets are called by their plain names.
                    let runs = |p: &String| p == first || p.strip_prefix("busybox-") == Some(first);
                    assert!(probe.programs.iter().any(runs), "{id}: {first} is not among {:?}", probe.programs);
                }
                // A probe the catalog offers is usable by at least one variant.
                assert!(
                    entry.variants.iter().any(|v| probe.programs.iter().all(|p| v.has(p))),
                    "{id}: no variant has every program of {:?}",
                    probe.test
                );
            }
        }
    }

    #[test]
    fn every_profile_image_has_a_catalog_entry() {
        let catalog = Catalog::builtin();
        let profiles = crate::stack::Profiles::builtin();
        let missing: Vec<&str> = profiles
            .kinds()
            .iter()
            .flat_map(|k| k.images.iter())
            .filter(|image| catalog.family(crate::stack::profiles::image_repository(image).1).is_none())
            .map(String::as_str)
            .collect();
        assert!(missing.is_empty(), "images of templates/profiles.yml without a catalog entry: {missing:?}");
    }

    #[test]
    fn lookups_pick_the_variant_by_tag() {
        let catalog = Catalog::builtin();
        let base = |image: &str| catalog.lookup(image).and_then(|m| m.variant).map(|v| v.base);
        assert_eq!(base("nginx:1.27"), Some(Base::Debian));
        assert_eq!(base("nginx:1.27-alpine"), Some(Base::Alpine));
        assert_eq!(base("docker.io/library/nginx"), Some(Base::Debian));
        assert_eq!(base("nginx:${TAG}"), None);
        assert_eq!(base("nginx:"), None);
        assert_eq!(base("nginx@sha256:0123"), None);
        assert!(catalog.lookup("example.com/unknown/thing:1").is_none());
        let nginx = catalog.lookup("nginx:1.27").unwrap().variant.unwrap();
        assert!(nginx.has("curl") && !nginx.has("wget") && !nginx.has("busybox-wget"));
        // Facts that hold from a version on.
        let has = |image: &str, program: &str| catalog.lookup(image).and_then(|m| m.variant).map(|v| v.has(program));
        assert_eq!(has("nginx:1.15-alpine", "curl"), Some(false));
        assert_eq!(has("nginx:1.27-alpine", "curl"), Some(true));
        assert_eq!(has("mongo:4", "mongosh"), Some(false));
        assert_eq!(has("mongo:3.6", "mongo"), Some(true));
        assert_eq!(has("mariadb:10.6.4-focal", "healthcheck.sh"), None);
        assert_eq!(has("mariadb:10.6", "healthcheck.sh"), Some(true));
        assert!(!catalog.lookup("axllent/mailpit:v1.13.0").unwrap().healthcheck);
        assert!(catalog.lookup("axllent/mailpit:v1.20.0").unwrap().healthcheck);
        assert!(catalog.lookup("axllent/mailpit").unwrap().healthcheck);
        // Facts that hold for some release series only.
        assert!(catalog.no_new_privileges("postgres:16.4-alpine").is_some());
        assert!(catalog.no_new_privileges("postgres").is_some());
        assert!(catalog.no_new_privileges("redis:7.2.5-alpine").is_some());
        assert!(catalog.no_new_privileges("redis:7").is_some());
        assert!(catalog.no_new_privileges("redis:8.0").is_none());
        assert!(catalog.no_new_privileges("redis:latest").is_none());
        assert!(catalog.no_new_privileges("redis:${TAG}").is_none());
        assert!(catalog.no_new_privileges("nginx@sha256:0123").is_none());
        assert!(catalog.no_new_privileges("example.com/app:1").is_none());
        // Tags older than the checked images, or of a kind not checked, select no variant.
        assert_eq!(has("grafana/grafana:9.4.7-ubuntu", "busybox-wget"), None);
        assert_eq!(has("grafana/grafana:9.5.0-ubuntu", "curl"), Some(true));
        assert_eq!(has("grafana/grafana:9.4.7", "busybox-wget"), Some(true));
        assert_eq!(has("grafana/grafana:6.3.6", "busybox-wget"), None);
        // A series that never has the fact: no tag of it passes, however short.
        let never = |m: &[&str]| m.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        for tag in ["10.7", "10.7.8", "10.7-focal", "10.7.9999"] {
            assert!(!version_at_least(tag, &never(&["10.6.14", "10.7.9999", "10.11.4"])), "{tag}");
        }
        assert!(version_at_least("10.11", &never(&["10.6.14", "10.7.9999", "10.11.4"])));
        assert_eq!(has("bitnami/elasticsearch:7.17.20", "healthcheck.sh"), None);
        assert_eq!(has("bitnami/elasticsearch:8.15.0", "healthcheck.sh"), Some(true));
        assert_eq!(has("bitnami/mongodb:4.4.15", "mongosh"), None);
        assert_eq!(has("bitnami/mongodb:6.0", "mongosh"), Some(true));
        assert_eq!(has("bitnami/mariadb:10.3.39", "mariadb-admin"), None);
        assert_eq!(has("bitnami/mariadb:10.11.6-debian-12-r3", "mariadb-admin"), Some(true));
        assert!(!catalog.lookup("supabase/postgres:15.1.0.38").unwrap().healthcheck);
        assert!(!catalog.lookup("supabase/postgres:14.1.0.89").unwrap().healthcheck);
        assert!(catalog.lookup("supabase/postgres:15.1.0.39").unwrap().healthcheck);
        assert!(catalog.lookup("supabase/postgres:15.8.1.060").unwrap().healthcheck);
        let memcached = catalog.lookup("memcached:1.6.29").unwrap().variant.unwrap();
        assert!(!memcached.has("nc") && !memcached.has("busybox-nc") && memcached.has("bash"));
    }
}
