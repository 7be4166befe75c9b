//! Facts about one service from the stack and the image catalog: which image (or, for a service
//! built here, which final `FROM`) it runs and what the catalog knows of it — computed once by the
//! loader ([`ImageFacts`]) — and the programs it has and its JVM heap, read from those. Rules read
//! these instead of guessing from names; what is not known is `None`.

use super::catalog::{Catalog, ImageMatch};
use super::service::Service;

/// Where the image a service runs comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageOrigin {
    /// `image:` of a service that is not built.
    Pulled(String),
    /// The base of the stage a service is built from (`FROM`, ARG defaults and stages followed).
    Built(String),
    /// Neither is known (a Dockerfile stackfix could not read, a variable without a default).
    Unknown,
}

/// The image facts of a service.
#[derive(Debug, Clone)]
pub struct ImageFacts {
    pub origin: ImageOrigin,
    /// The catalog entry and variant of that image.
    pub matched: Option<ImageMatch>,
    /// Packages the service's Dockerfile installs in the stage it runs (`curl`, `wget`, …).
    pub installed: Vec<String>,
    /// That Dockerfile declares a HEALTHCHECK (other than `NONE`).
    pub dockerfile_healthcheck: bool,
}

impl Default for ImageFacts {
    fn default() -> Self {
        ImageFacts { origin: ImageOrigin::Unknown, matched: None, installed: Vec::new(), dockerfile_healthcheck: false }
    }
}

impl ImageFacts {
    /// From the service's `image:` or, when it is built, the resolved base of its stage.
    pub(crate) fn new(service: &Service, built: Option<(Option<String>, Vec<String>, bool)>) -> ImageFacts {
        let catalog = Catalog::builtin();
        let (origin, installed, dockerfile_healthcheck) = match built {
            Some((Some(base), installed, hc)) => (ImageOrigin::Built(base), installed, hc),
            Some((None, installed, hc)) => (ImageOrigin::Unknown, installed, hc),
            None => match &service.image {
                Some(image) => (ImageOrigin::Pulled(image.value.clone()), Vec::new(), false),
                None => (ImageOrigin::Unknown, Vec::new(), false),
            },
        };
        let matched = match &origin {
            ImageOrigin::Pulled(i) | ImageOrigin::Built(i) if i != "scratch" => catalog.lookup(i),
            _ => None,
        };
        ImageFacts { origin, matched, installed, dockerfile_healthcheck }
    }

    /// Whether the service has `program`: `Some(true)` when its variant ships it (or its
    /// Dockerfile installs it), `Some(false)` when the variant is known and lacks it, `None` when
    /// the variant is unknown. A service built `FROM scratch` has nothing.
    pub fn has(&self, program: &str) -> Option<bool> {
        // A package installs the program of its name (`curl`, `wget`, `python3`); others are not
        // guessed.
        if self.installed.iter().any(|p| p == program) {
            return Some(true);
        }
        if self.origin == ImageOrigin::Built("scratch".into()) {
            return Some(false);
        }
        let matched = self.matched?;
        if let Some(variant) = matched.variant {
            return Some(variant.has(program));
        }
        // An unknown tag (a variable, a digest) still has what every variant has; a known tag
        // that selects no variant (older than the catalog's facts) is unknown.
        (!matched.tag_known && matched.entry.all_variants_have(program)).then_some(true)
    }

    /// The image reference the facts are about: the `image:` pulled, or the base built from.
    pub fn image(&self) -> Option<&str> {
        match &self.origin {
            ImageOrigin::Pulled(image) | ImageOrigin::Built(image) => Some(image),
            ImageOrigin::Unknown => None,
        }
    }

    /// The image named in findings: `nginx:1.27`, or `node:20-alpine (FROM in the Dockerfile)`.
    pub fn describe(&self) -> String {
        match &self.origin {
            ImageOrigin::Pulled(i) => format!("`{i}`"),
            ImageOrigin::Built(i) => format!("`{i}` (the Dockerfile's FROM)"),
            ImageOrigin::Unknown => "an unknown image".to_string(),
        }
    }

    /// The image declares a HEALTHCHECK (catalog) or the Dockerfile does.
    pub fn declares_healthcheck(&self) -> bool {
        self.dockerfile_healthcheck || self.matched.is_some_and(|m| m.healthcheck)
    }
}

/// Environment variables the JVM itself reads, whatever the image's scripts do: `_JAVA_OPTIONS`
/// overrides the command line, `JAVA_TOOL_OPTIONS` is overridden by it
/// (https://docs.oracle.com/en/java/javase/21/troubleshoot/environment-variables-and-system-properties.html).
const JVM_OVERRIDE: &str = "_JAVA_OPTIONS";
const JVM_DEFAULTS: &str = "JAVA_TOOL_OPTIONS";
/// Variables start scripts commonly read, for images the catalog does not know.
const SCRIPT_VARIABLES: &[&str] = &["JAVA_OPTS", "JVM_OPTS", "HEAP_OPTS"];
/// Variables that all reach the one JVM a launcher starts: start scripts' ([`SCRIPT_VARIABLES`]),
/// Tomcat's `CATALINA_OPTS`, and the `java` launcher's own `JDK_JAVA_OPTIONS` (JDK 9 and later).
const ONE_LAUNCHER: &[&str] =
    &["JAVA_OPTS", "JVM_OPTS", "HEAP_OPTS", "JAVA_OPTIONS", "CATALINA_OPTS", "JDK_JAVA_OPTIONS"];

/// The JVM heap a service runs with, and what says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeapFact {
    pub bytes: u64,
    /// `ES_JAVA_OPTS=-Xmx4g`, or the catalog's default with its source.
    pub evidence: String,
}

/// The service's maximum heap: `-Xmx` (else `-Xms`) where the JVM takes it from — `_JAVA_OPTIONS`,
/// then the variables the image's start script reads (the catalog's, or common ones for an
/// image it does not know), the command, then `JAVA_TOOL_OPTIONS` — else the image's default
/// heap from the catalog. `None` when nothing sets it and the image is no known JVM, or sizes the
/// heap from the container's memory.
pub fn heap(service: &Service) -> Option<HeapFact> {
    let catalog_heap = service.image_facts.matched.and_then(|m| m.entry.heap.as_ref());
    let script_variables: Vec<&str> = match catalog_heap {
        Some(h) => h.variables.iter().map(String::as_str).collect(),
        None => {
            let mut names: Vec<&str> = SCRIPT_VARIABLES.to_vec();
            names.extend(
                service
                    .environment
                    .iter()
                    .map(|e| e.name.as_str())
                    .filter(|n| n.ends_with("JAVA_OPTS") || n.ends_with("HEAP_OPTS")),
            );
            names
        }
    };
    let from_variable = |name: &str| {
        let var = service.environment.iter().find(|e| e.name == name)?;
        // A bare `NAME` passes what `.env` gives it (unless the shell sets it).
        let value = var.value.as_deref().or(var.from_dotenv.as_deref())?;
        if let Some(bytes) = heap_flag(value) {
            return Some(HeapFact { bytes, evidence: format!("`{}` sets `{}`", var.name, flag_text(value)) });
        }
        // A variable the image's script turns into -Xmx holds a bare size (`ELASTICSEARCH_HEAP_SIZE=2g`).
        let listed = catalog_heap.is_some_and(|h| h.variables.iter().any(|v| v == name));
        let bytes = java_size(value).filter(|_| listed)?;
        Some(HeapFact { bytes, evidence: format!("`{}` sets the heap to {value}", var.name) })
    };
    if let Some(fact) = from_variable(JVM_OVERRIDE) {
        return Some(fact);
    }
    if catalog_heap.is_some() {
        if let Some(fact) = script_variables.iter().find_map(|n| from_variable(n)) {
            return Some(fact);
        }
    } else {
        // An image the catalog does not know: every variable holding heap flags, whatever its
        // name (SonarQube's `SONAR_WEB_JAVAOPTS`). Several may each start a JVM (SonarQube's web
        // server, compute engine and search), so their heaps add up.
        // The variables one launcher reads (a start script, Tomcat, the `java` launcher) set
        // the same JVM: the largest counts once. Any other variable holding heap flags is taken
        // for a JVM of its own.
        let mut launcher: Option<HeapFact> = None;
        let mut own: Vec<HeapFact> = Vec::new();
        for var in service.environment.iter().filter(|e| !matches!(e.name.as_str(), JVM_OVERRIDE | JVM_DEFAULTS)) {
            let fact = var.value.as_deref().filter(|v| heap_flag(v).is_some()).and_then(|_| from_variable(&var.name));
            let Some(fact) = fact else { continue };
            if ONE_LAUNCHER.contains(&var.name.as_str()) {
                if launcher.as_ref().is_none_or(|l| fact.bytes > l.bytes) {
                    launcher = Some(fact);
                }
            } else {
                own.push(fact);
            }
        }
        let mut facts: Vec<HeapFact> = launcher.into_iter().chain(own).collect();
        if facts.len() > 1 {
            let bytes = facts.iter().map(|f| f.bytes).sum();
            let each: Vec<&str> = facts.iter().map(|f| f.evidence.as_str()).collect();
            return Some(HeapFact { bytes, evidence: format!("{} (a JVM each, added up)", each.join(", ")) });
        }
        if let Some(fact) = facts.pop() {
            return Some(fact);
        }
    }
    let command = service.command_line();
    if let Some(bytes) = heap_flag(&command) {
        return Some(HeapFact { bytes, evidence: format!("the command sets `{}`", flag_text(&command)) });
    }
    if let Some(fact) = from_variable(JVM_DEFAULTS) {
        return Some(fact);
    }
    let heap = catalog_heap?;
    // A variable of the image's script passed from the shell compose runs in (a bare `NAME`
    // `.env` does not set): the heap is the shell's, not the default.
    if shell_variable(service, heap).is_some() {
        return None;
    }
    let default = heap.default.as_deref().filter(|d| *d != "auto")?;
    Some(HeapFact {
        bytes: memory_bytes(default)?,
        evidence: format!(
            "the image's default heap is {default} ({})",
            heap.source.split_whitespace().find(|w| w.starts_with("https://")).unwrap_or(&heap.source)
        ),
    })
}

/// The variable of the image's start script (the catalog's [`super::catalog::Heap::variables`])
/// the service passes bare (`- VIDEOBRIDGE_MAX_MEMORY`) with no value in `.env`: compose passes
/// what the shell it runs in sets.
fn shell_variable<'s>(service: &'s Service, heap: &super::catalog::Heap) -> Option<&'s str> {
    let bare = |e: &&super::service::EnvVar| e.value.is_none() && e.from_dotenv.is_none();
    service.environment.iter().filter(bare).find(|e| heap.variables.contains(&e.name)).map(|e| e.name.as_str())
}

/// Why the heap of `service` is not known, when [`heap`] finds none because the image's start
/// script takes it from a variable the shell compose runs in passes: a limit sized from the
/// image's default could be under it.
pub fn heap_unknown(service: &Service) -> Option<String> {
    let catalog_heap = service.image_facts.matched.and_then(|m| m.entry.heap.as_ref())?;
    let name = shell_variable(service, catalog_heap)?;
    heap(service).is_none().then(|| {
        format!(
            "its JVM heap is `{name}`, which compose takes from the shell it runs in (`.env` does not set it): not known here"
        )
    })
}

/// The `-Xmx` (else `-Xms`) size among JVM flags, in bytes.
fn heap_flag(text: &str) -> Option<u64> {
    let find = |prefix: &str| {
        text.split_whitespace()
            .filter_map(|w| w.trim_matches(['"', '\'']).strip_prefix(prefix))
            .filter_map(java_size)
            .next_back()
    };
    find("-Xmx").or_else(|| find("-Xms"))
}

fn flag_text(text: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().filter(|w| w.starts_with("-Xmx") || w.starts_with("-Xms")).collect();
    words.join(" ")
}

/// The multiplier of a size unit (`k`, `m`, `g`, `t`, or none), binary as Docker and the JVM
/// count.
fn unit(suffix: &str) -> Option<u64> {
    Some(match suffix {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return None,
    })
}

/// A JVM size (`4g`, `512m`, `1024k`, bytes) in bytes: whole numbers only, as the JVM takes.
fn java_size(text: &str) -> Option<u64> {
    let text = text.trim().to_ascii_lowercase();
    let (digits, suffix) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    digits.parse::<u64>().ok()?.checked_mul(unit(suffix)?)
}

/// A compose memory size (`512M`, `1g`, `1.5GB`, `1GiB`, `1073741824`, `300mb`) in bytes, as
/// compose reads it ([`super::units::ram_in_bytes`]); `None` when compose would refuse it.
pub fn memory_bytes(size: &str) -> Option<u64> {
    super::units::ram_in_bytes(size).ok()
}

/// A size in bytes as compose writes it, rounded up to whole mebibytes (`1536M`, `2G`).
pub fn memory_text(bytes: u64) -> String {
    let mib = bytes.div_ceil(1 << 20);
    if mib % 1024 == 0 {
        format!("{}G", mib / 1024)
    } else {
        format!("{mib}M")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(java_size("4g"), Some(4 << 30));
        assert_eq!(java_size("512M"), Some(512 << 20));
        assert_eq!(java_size("1.5g"), None);
        assert_eq!(heap_flag("-Xms4g -Xmx4g"), Some(4 << 30));
        assert_eq!(heap_flag("-Xms2g"), Some(2 << 30));
        assert_eq!(heap_flag("-Dx=1"), None);
        assert_eq!(memory_bytes("1.5g"), Some(3 << 29));
        assert_eq!(memory_bytes("lots"), None);
        assert_eq!(memory_text(6 << 30), "6G");
        assert_eq!(memory_text(1536 << 20), "1536M");
    }
}

/// Memory a server is configured to use and the container limit that needs, with the evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryNeed {
    /// What the process is set to use: a limit at or below it is an OOM kill.
    pub uses: u64,
    /// The smallest container limit that leaves the process room.
    pub bytes: u64,
    pub evidence: String,
}

impl MemoryNeed {
    /// `uses` plus half again (`half`: the vendor keeps it at most half the memory: twice).
    fn with_room(uses: u64, half: bool, evidence: String) -> MemoryNeed {
        let bytes = if half { uses * 2 } else { uses + uses / 2 };
        MemoryNeed { uses, bytes, evidence }
    }
}

/// The memory a service's own settings make it use: its JVM heap (twice it for Elasticsearch and
/// OpenSearch, whose documentation keeps the heap at most half the memory; half again for other
/// JVMs, for metaspace, threads, buffers and the collector), redis/valkey `maxmemory`
/// (the data set; the container needs a third more for fragmentation and forks, as stackfix's
/// own maxmemory is 75% of the limit), memcached's `-m` (megabytes of cache, plus half again for
/// connections and the hash table), Node's `--max-old-space-size` (megabytes of heap, plus half
/// again), and postgres's `shared_buffers` (a quarter of the memory, as the PostgreSQL
/// documentation suggests: https://www.postgresql.org/docs/current/runtime-config-resource.html).
pub fn memory_need(service: &Service, redis_conf: Option<&super::RedisConf>) -> Option<MemoryNeed> {
    let words = super::side::redis_server_words(service);
    let program = |name: &str| words.iter().any(|w| w.rsplit('/').next() == Some(name));
    let flag_value = |flags: &[&str]| {
        words.iter().enumerate().find_map(|(i, w)| {
            flags.iter().find_map(|f| {
                w.strip_prefix(&format!("{f}="))
                    .map(str::to_string)
                    .or_else(|| (w == f).then(|| words.get(i + 1).cloned()).flatten())
            })
        })
    };
    let mut needs: Vec<MemoryNeed> = Vec::new();
    if let Some(HeapFact { bytes, evidence }) = heap(service) {
        let half = service.image_facts.matched.is_some_and(|m| m.entry.heap.as_ref().is_some_and(|h| h.half_of_memory));
        needs.push(MemoryNeed::with_room(bytes, half, format!("{evidence} (a JVM heap)")));
    }
    if service.kind == "redis" {
        let set = flag_value(&["--maxmemory"])
            .or_else(|| redis_conf.and_then(|c| c.get("maxmemory")).map(|d| d.args.clone()));
        if let Some(bytes) = set.as_deref().and_then(memory_bytes).filter(|b| *b > 0) {
            needs.push(MemoryNeed {
                uses: bytes,
                bytes: bytes / 3 * 4,
                evidence: format!("redis is set to `maxmemory {}`", set.unwrap_or_default()),
            });
        }
    }
    if program("memcached") || service.kind == "memcached" {
        // memcached reads `-m` with atoi(3): its leading digits, in megabytes, whatever follows
        // (`256M` is 256, `1G` is 1; https://github.com/memcached/memcached/blob/2d51e364799bc9698bd4b11728ea978cea12da6e/memcached.c#L5041).
        let atoi = |v: &str| {
            let v = v.trim_start();
            let v = v.strip_prefix('+').unwrap_or(v);
            let digits: String = v.chars().take_while(char::is_ascii_digit).collect();
            digits.parse::<u64>().ok()
        };
        // getopt also takes the value glued to the option (`-m256`).
        let glued = || words.iter().find_map(|w| w.strip_prefix("-m").filter(|v| !v.is_empty()).map(str::to_string));
        if let Some(mb) = flag_value(&["-m", "--memory-limit"]).or_else(glued).and_then(|v| atoi(&v)) {
            needs.push(MemoryNeed::with_room(mb << 20, false, format!("memcached is set to `-m {mb}`")));
        }
    }
    let node_options = service.environment.iter().filter(|e| e.name == "NODE_OPTIONS").filter_map(|e| e.value.clone());
    for text in node_options.chain(std::iter::once(service.command_line())) {
        let mb = text
            .split_whitespace()
            .filter_map(|w| w.trim_matches(['"', '\'']).strip_prefix("--max-old-space-size="))
            .filter_map(|v| v.parse::<u64>().ok())
            .next_back();
        if let Some(mb) = mb {
            needs.push(MemoryNeed::with_room(mb << 20, false, format!("Node is set to `--max-old-space-size={mb}`")));
        }
    }
    // `/dev/shm` is a tmpfs whose pages count against the container's memory
    // (https://docs.kernel.org/admin-guide/cgroup-v2.html, memory.stat `shmem`): a limit at or
    // under `shm_size` is an OOM kill when it fills.
    let shm = service.value.get("shm_size").and_then(|v| v.as_str().map(str::to_string));
    if let Some(bytes) = shm.as_deref().and_then(memory_bytes).filter(|b| *b > 0) {
        needs.push(MemoryNeed::with_room(
            bytes,
            false,
            format!("`shm_size: {}` is memory the container holds", shm.unwrap_or_default()),
        ));
    }
    if service.kind == "postgres" {
        let shared = words.iter().enumerate().find_map(|(i, w)| {
            let setting = if w == "-c" { words.get(i + 1)?.as_str() } else { w.strip_prefix("-c")? };
            setting.strip_prefix("shared_buffers=").map(str::to_string)
        });
        if let Some(bytes) = shared.as_deref().and_then(postgres_size) {
            needs.push(MemoryNeed {
                uses: bytes,
                bytes: bytes * 4,
                evidence: format!("postgres is set to `shared_buffers={}`", shared.unwrap_or_default()),
            });
        }
    }
    needs.into_iter().max_by_key(|n| n.bytes)
}

/// A postgres memory setting (`4GB`, `512MB`, `128kB`, or a number of 8 kB pages) in bytes.
fn postgres_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let n: u64 = text[..digits].parse().ok()?;
    let unit: u64 = match &text[digits..] {
        "" => 8 << 10,
        "kB" => 1 << 10,
        "MB" => 1 << 20,
        "GB" => 1 << 30,
        "TB" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(unit)
}
