//! Choosing a service's health probe from facts. One function, [`choose`], used by every rule
//! that adds or relies on a probe (`no-healthcheck`, `depends-on-without-health-condition`) and
//! so by the interactive session: a probe only calls programs the image is known to have (the
//! image catalog, or the service's Dockerfile); a probe the catalog cites is *known*, an HTTP
//! probe on a guessed endpoint is not; where nothing fits, no probe is invented and the reason
//! says what a person must add.

use super::catalog::{version_at_least, Catalog, Category, HealthProbe, Requirement};
use super::facts::ImageFacts;
use super::service::Service;
use super::value::{FileId, Loc, ValueKind};
use super::{Config, Profiles};

/// Ports of well-known protocols that are not HTTP: an application listening there gets no
/// guessed HTTP probe.
const NOT_HTTP_PORTS: &[&str] = &[
    "21", "22", "25", "53", "110", "143", "389", "1883", "2181", "3306", "4222", "5432", "5671", "5672", "6222",
    "6379", "7000", "7001", "8883", "9042", "9092", "11211", "27017", "61616",
    // HTTPS: an `http://` probe there fails.
    "443", "8443",
];

/// Where Traefik's `ping` gets switched on when a probe needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PingSite {
    /// `ping: {}` merged into the static configuration file.
    StaticFile(FileId),
    /// `--ping=true` appended to the command, a list written at this place.
    Command(Loc),
    /// `TRAEFIK_PING=true` in the environment (Traefik configured by variables).
    Environment,
}

/// A setting a probe needs switched on in the same fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enable {
    TraefikPing(PingSite),
}

/// A chosen probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The compose `healthcheck.test`.
    pub test: Vec<String>,
    /// Every fact it relies on is known (a cited probe with programs the image has); `false` for
    /// a guessed HTTP endpoint, or a cited probe on a port the service does not seem to use.
    pub known: bool,
    pub enable: Option<Enable>,
    /// Why this probe: the facts it stands on.
    pub basis: String,
}

/// The outcome of [`choose`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeChoice {
    Probe(Probe),
    /// No probe can be written from what is known; the text says why and what to add.
    Nothing(String),
}

impl ProbeChoice {
    pub fn probe(&self) -> Option<&Probe> {
        match self {
            ProbeChoice::Probe(p) => Some(p),
            ProbeChoice::Nothing(_) => None,
        }
    }
}

/// The health probe for `service` (which has none of its own), from the user's profile for its
/// kind, else the catalog's probes for its image (the first whose programs its variant has and
/// whose requirement can be met), else, for an application of its own on an HTTP port, a guessed
/// HTTP probe with a program its image has.
pub fn choose(service: &Service, config: &Config, profiles: &Profiles) -> ProbeChoice {
    if let Some(test) = profiles.kind(&service.kind).and_then(|k| k.healthcheck.clone()) {
        return ProbeChoice::Probe(Probe {
            test,
            known: true,
            enable: None,
            basis: format!("the `{}` profile's probe", service.kind),
        });
    }
    let facts = &service.image_facts;
    let is_app = profiles.kind(&service.kind).is_some_and(|k| k.category == Category::App && k.name != "generic");
    // The image's probes check its own server: a job that runs something else on it (a dump
    // loop on the database's image) has no such server to ask.
    let job = profiles
        .kind(&service.kind)
        .is_some_and(|k| matches!(k.category, Category::Backup | Category::Worker | Category::Scheduler));
    let runs_own_server =
        |m: &super::catalog::ImageMatch| !job || m.entry.kind.as_deref().is_none_or(|k| k == service.kind);
    if let Some(matched) = facts.matched.filter(|m| !m.entry.probes.is_empty()) {
        if !runs_own_server(&matched) {
            return ProbeChoice::Nothing(format!(
                "`{}` runs its own command on {}, not the server its known probes check; add a probe by hand",
                service.name,
                facts.describe()
            ));
        }
        let entry = matched.entry;
        let tag = facts.image().and_then(|i| Catalog::builtin().known_tag(i));
        let mut missing: Vec<&str> = Vec::new();
        let mut unknown = false;
        let mut blocked = None;
        // The service declares ports without the one a known probe calls.
        let mut moved = false;
        for probe in &entry.probes {
            let has: Vec<Option<bool>> = probe.programs.iter().map(|p| facts.has(p)).collect();
            if has.contains(&Some(false)) {
                missing.extend(
                    probe.programs.iter().zip(&has).filter(|(_, h)| **h == Some(false)).map(|(p, _)| p.as_str()),
                );
                continue;
            }
            if has.contains(&None) {
                unknown = true;
                continue;
            }
            let cited = probe.source.split_whitespace().find(|w| w.starts_with("https://")).unwrap_or(&probe.source);
            if !probe.min_version.is_empty() {
                match tag {
                    None => {
                        unknown = true;
                        continue;
                    }
                    Some(t) if !version_at_least(t, &probe.min_version) => {
                        blocked = Some(format!(
                            "{} is older than the images its known probe `{}` works with (from {} in each series, per {cited}); add a probe by hand",
                            facts.describe(),
                            probe.test.iter().skip(1).map(String::as_str).collect::<Vec<_>>().join(" "),
                            probe.min_version.join(", ")
                        ));
                        continue;
                    }
                    Some(_) => {}
                }
            }
            let enable = match probe.requires.or(entry.requires) {
                None => None,
                Some(requirement) => match requirement_met(service, config, requirement) {
                    Ok(enable) => enable,
                    Err(why) => {
                        blocked = Some(why);
                        continue;
                    }
                },
            };
            let variant = matched.variant.map(|v| format!(" ({:?})", v.base).to_lowercase()).unwrap_or_default();
            let mut basis =
                format!("{}{variant} has {}; probe per {cited}", facts.describe(), probe.programs.join(", "));
            let mut known = true;
            let port = probe_port(probe).or_else(|| entry.ports().first().map(u16::to_string));
            if let (Some(port), Some(own)) = (&port, command_port(service)) {
                if *port != own {
                    blocked = Some(format!(
                        "{} listens on port {own} (its command says so), and the known probes call {port}; add a probe by hand",
                        service.name
                    ));
                    continue;
                }
            }
            if let Some(caveat) = &probe.caveat {
                let in_version = caveat.unless_min_version.is_empty()
                    || tag.is_some_and(|t| version_at_least(t, &caveat.unless_min_version));
                let settled = in_version
                    && service.environment.iter().any(|e| {
                        caveat.unless_environment.iter().any(|n| n == &e.name)
                            && e.value.as_deref().is_some_and(|v| !v.is_empty() && v != "0")
                    });
                if !settled {
                    known = false;
                    basis = format!("{basis}; but {}", caveat.why);
                }
            }
            let http = probe.test.iter().any(|w| w.contains("http://"));
            if http && entry.category == Category::Proxy && mounts_configuration(service) {
                known = false;
                basis =
                    format!("{basis}; but the service mounts its own configuration, which decides what answers there");
            }
            // Declared ports none of which is the image's say the server was moved (its own
            // configuration, a flag): a probe on the image's port would never pass, and every
            // `service_healthy` dependant would wait for ever. A port left unpublished (Caddy's
            // admin API, RabbitMQ's AMQP beside its published management UI) says nothing, but
            // the probe is then not known to answer.
            if let Some(port) = port {
                let declared = container_ports(service);
                let own: Vec<String> = entry.ports().iter().map(u16::to_string).collect();
                if !declared.is_empty() && !declared.contains(&port) {
                    if !own.is_empty() && !declared.iter().any(|d| own.contains(d)) {
                        moved = true;
                        blocked = Some(format!(
                            "service `{}` declares port(s) {} and none of its image's ({}), which the known probes \
                             call: what listens where is the service's own configuration's; add a probe by hand",
                            service.name,
                            declared.join(", "),
                            own.join(", ")
                        ));
                        continue;
                    }
                    known = false;
                    basis = format!("{basis}; but the service declares port(s) {} and not {port}", declared.join(", "));
                }
            }
            let test = tailor(probe, probe.requires.or(entry.requires), service, config);
            return ProbeChoice::Probe(Probe { test, known, enable, basis });
        }
        // An application built here on the image, moved to a port of its own, gets the guess
        // an application gets (below); anything else gets no probe.
        if !(moved && is_app && service.build.is_some()) {
            return ProbeChoice::Nothing(unprobed(facts, blocked, unknown, missing));
        }
    }
    if !is_app {
        return ProbeChoice::Nothing(format!("no probe is known for {}; add one by hand", facts.describe()));
    }
    // The first declared port that may speak plain HTTP (`25, 80, 443` probes 80).
    let declared = container_ports(service);
    let Some(port) = declared.iter().find(|p| !NOT_HTTP_PORTS.contains(&p.as_str())).cloned() else {
        return ProbeChoice::Nothing(match declared.is_empty() {
            true => "no known probe for this image and no HTTP port to probe".to_string(),
            false => format!(
                "no known probe for this image, and none of its ports ({}) serves plain HTTP to probe",
                declared.join(", ")
            ),
        });
    };
    match http_probe(facts, &port) {
        Some((test, program)) => ProbeChoice::Probe(Probe {
            test,
            known: false,
            enable: None,
            basis: format!(
                "a guess: HTTP on port {port}, path `/`, with {program}, which {} has",
                facts.describe()
            ),
        }),
        None => ProbeChoice::Nothing(format!(
            "no program known to be in {} can probe HTTP on port {port} (curl, wget, python, node); add a probe by hand",
            facts.describe()
        )),
    }
}

/// Why a service whose image has known probes gets none of them: what `blocked` one, else that
/// the image's contents are `unknown`, else the programs it lacks (`missing`).
fn unprobed(facts: &ImageFacts, blocked: Option<String>, unknown: bool, mut missing: Vec<&str>) -> String {
    missing.sort_unstable();
    missing.dedup();
    if let Some(why) = blocked {
        why
    } else if unknown {
        format!(
            "what {} contains is not known (its tag is unknown, or older than the catalog's facts), so neither is whether it has the programs a probe needs; add a probe by hand",
            facts.describe()
        )
    } else {
        format!(
            "{} lacks what its known probes need ({}); add a probe with a program the image has",
            facts.describe(),
            missing.join(", ")
        )
    }
}

/// The catalog probe's test adjusted to the service: Traefik's health check reads the same
/// static configuration as the server, so a `--configFile` or the ping entry point's flags go
/// along.
fn tailor(probe: &HealthProbe, requires: Option<Requirement>, service: &Service, config: &Config) -> Vec<String> {
    let mut test = probe.test.clone();
    if requires == Some(Requirement::TraefikPing) && test.iter().any(|w| w == "healthcheck") {
        if let Some(traefik) = config.traefik.iter().find(|t| t.service == service.name) {
            match traefik_source(service, traefik) {
                // The health check finds the same file (named when the server is told where).
                TraefikSource::File => {
                    if let Some(file) = traefik.arg("configfile") {
                        test.retain(|w| w != "--ping");
                        test.push(format!("--configFile={file}"));
                    }
                }
                // Flags are the health check's own: the ping entry point's go along.
                TraefikSource::Flags => {
                    let entry_point = traefik.arg("ping.entrypoint").unwrap_or("traefik").to_ascii_lowercase();
                    for (flag, value) in &traefik.args {
                        if flag.starts_with("ping.") || flag.starts_with(&format!("entrypoints.{entry_point}.")) {
                            test.push(format!("--{flag}={value}"));
                        }
                    }
                }
                // A flag would make it ignore the variables it inherits.
                TraefikSource::Environment => test.retain(|w| w != "--ping"),
                TraefikSource::Nothing => {}
            }
        }
    }
    test
}

/// Whether a probe's requirement is met, or what enables it in the same fix; `Err` with the
/// reason when it can be neither.
fn requirement_met(service: &Service, config: &Config, requirement: Requirement) -> Result<Option<Enable>, String> {
    let env_is = |name: &str, value: &str| {
        service.environment.iter().any(|e| {
            e.name.eq_ignore_ascii_case(name) && e.value.as_deref().is_some_and(|v| v.eq_ignore_ascii_case(value))
        })
    };
    // Elasticsearch turns security (and its HTTP TLS) on by default from 8.0; before, only when
    // enabled.
    let major = service
        .image
        .as_ref()
        .and_then(|i| super::profiles::image_tag(&i.value))
        .and_then(|t| t.split(['.', '-']).next())
        .and_then(|m| m.parse::<u32>().ok());
    let security = if major.is_some_and(|m| m < 8) {
        env_is("xpack.security.enabled", "true")
    } else {
        !env_is("xpack.security.enabled", "false")
    };
    let http_tls = security
        && if major.is_some_and(|m| m < 8) {
            env_is("xpack.security.http.ssl.enabled", "true")
        } else {
            !env_is("xpack.security.http.ssl.enabled", "false")
        };
    // A mounted elasticsearch.yml may set security either way; only the environment is read.
    let es_config_mounted = service.volumes.iter().any(|m| m.target.starts_with("/usr/share/elasticsearch/config"));
    let es_env_says = service.environment.iter().any(|e| e.name.starts_with("xpack.security."));
    if matches!(requirement, Requirement::ElasticsearchHttp | Requirement::ElasticsearchHttps)
        && es_config_mounted
        && !es_env_says
    {
        return Err("the mounted Elasticsearch configuration decides whether security and HTTPS are on, and stackfix does not read it; add a probe by hand".to_string());
    }
    match requirement {
        Requirement::ElasticsearchHttps => {
            if http_tls {
                Ok(None)
            } else {
                Err("Elasticsearch here serves plain HTTP with security on; a probe must authenticate, with credentials a person must choose".to_string())
            }
        }
        Requirement::ElasticsearchHttp => {
            if !security {
                Ok(None)
            } else {
                Err("Elasticsearch serves plain, unauthenticated HTTP only with `xpack.security.enabled=false` (on by default since 8.0); a probe must use its TLS certificate and credentials, which a person must choose".to_string())
            }
        }
        Requirement::OpensearchHttp => {
            if env_is("DISABLE_SECURITY_PLUGIN", "true") || env_is("plugins.security.disabled", "true") {
                Ok(None)
            } else {
                Err("OpenSearch serves plain, unauthenticated HTTP only with its security plugin disabled (`DISABLE_SECURITY_PLUGIN=true`); a probe must use its TLS and admin credentials, which a person must choose".to_string())
            }
        }
        Requirement::KeycloakHealth => {
            // The management interface inherits the relative path and HTTPS of the server
            // (https://www.keycloak.org/server/management-interface).
            let moved = service.environment.iter().any(|e| {
                matches!(
                    e.name.as_str(),
                    "KC_HTTP_RELATIVE_PATH"
                        | "KC_HTTP_MANAGEMENT_RELATIVE_PATH"
                        | "KC_HTTPS_CERTIFICATE_FILE"
                        | "KC_HTTP_MANAGEMENT_PORT"
                )
            });
            if moved {
                Err("Keycloak's management interface is moved (relative path, HTTPS or port) in its environment; add a probe by hand".to_string())
            } else if env_is("KC_HEALTH_ENABLED", "true") {
                Ok(None)
            } else {
                Err("Keycloak serves its health endpoints only with `KC_HEALTH_ENABLED=true`; enable it, then probe the management port".to_string())
            }
        }
        Requirement::TraefikPing => traefik_ping(service, config),
        Requirement::RedisNoPassword => {
            let words = super::side::redis_server_words(service);
            let in_command = words.iter().any(|w| w.starts_with("--requirepass"));
            // `requirepass`, or ACL users (`user default on >pw`, `aclfile`) in the mounted file.
            let in_conf = config.redis_confs.iter().any(|c| {
                c.service == service.name && ["requirepass", "user", "aclfile"].iter().any(|d| c.get(d).is_some())
            });
            let in_env = service.environment.iter().any(|e| {
                e.name.ends_with("PASSWORD") || e.value.as_deref().is_some_and(|v| v.contains("--requirepass"))
            });
            if in_command || in_conf || in_env {
                Err("redis requires a password, and an unauthenticated `redis-cli ping` gets NOAUTH and never passes; add a probe that authenticates (REDISCLI_AUTH) by hand".to_string())
            } else {
                Ok(None)
            }
        }
        Requirement::MemcachedAscii => {
            let words: Vec<&str> =
                service.entrypoint.iter().chain(&service.command).flat_map(|w| w.split_whitespace()).collect();
            if words.iter().any(|w| *w == "-S" || *w == "--enable-sasl") {
                Err("memcached runs with SASL (`-S`), which refuses the text protocol's `stats`; add a probe that authenticates by hand".to_string())
            } else {
                Ok(None)
            }
        }
    }
}

/// Where Traefik takes its static configuration from: a file when it finds one (flags are then
/// ignored), else flags, else `TRAEFIK_*` variables
/// (https://doc.traefik.io/traefik/getting-started/configuration-overview/#the-static-configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TraefikSource {
    File,
    Flags,
    Environment,
    Nothing,
}

fn traefik_source(service: &Service, traefik: &super::TraefikConfig) -> TraefikSource {
    if traefik.static_file.is_some() {
        TraefikSource::File
    } else if !traefik.args.is_empty() {
        TraefikSource::Flags
    } else if service.environment.iter().any(|e| e.name.to_ascii_uppercase().starts_with("TRAEFIK_")) {
        TraefikSource::Environment
    } else {
        TraefikSource::Nothing
    }
}

fn traefik_ping(service: &Service, config: &Config) -> Result<Option<Enable>, String> {
    let Some(traefik) = config.traefik.iter().find(|t| t.service == service.name) else {
        return Err("Traefik's configuration was not found".to_string());
    };
    let source = traefik_source(service, traefik);
    let enabled = match source {
        TraefikSource::File => {
            traefik.static_doc.as_ref().and_then(|d| d.get("ping")).is_some_and(|p| p.as_str() != Some("false"))
        }
        TraefikSource::Flags => traefik
            .args
            .iter()
            .any(|(k, v)| (k == "ping" && !v.eq_ignore_ascii_case("false")) || k.starts_with("ping.")),
        TraefikSource::Environment => service.environment.iter().any(|e| {
            let name = e.name.to_ascii_uppercase();
            (name == "TRAEFIK_PING" && !e.value.as_deref().is_some_and(|v| v.eq_ignore_ascii_case("false")))
                || name.starts_with("TRAEFIK_PING_")
        }),
        TraefikSource::Nothing => false,
    };
    // The ping entry point defaults to `traefik` on :8080; an entry point of another name on
    // that port would clash with it.
    if source == TraefikSource::Flags && traefik.arg("ping.entrypoint").is_none() {
        let clash = traefik.args.iter().find(|(k, v)| {
            k.starts_with("entrypoints.")
                && k.ends_with(".address")
                && !k.starts_with("entrypoints.traefik.")
                && v.ends_with(":8080")
        });
        if let Some((k, _)) = clash {
            return Err(format!(
                "Traefik's ping would listen on its `traefik` entry point (:8080), which `--{k}` already uses; set `--ping.entrypoint` by hand"
            ));
        }
    }
    if enabled {
        return Ok(None);
    }
    match source {
        TraefikSource::File => Ok(traefik.static_file.map(|f| Enable::TraefikPing(PingSite::StaticFile(f)))),
        TraefikSource::Environment => Ok(Some(Enable::TraefikPing(PingSite::Environment))),
        TraefikSource::Flags => match service.value.get("command") {
            Some(command) if matches!(command.kind, ValueKind::Seq(_)) && !command.loc.via_alias => {
                Ok(Some(Enable::TraefikPing(PingSite::Command(command.loc))))
            }
            _ => Err("Traefik's command is not a list stackfix can add `--ping=true` to; enable ping by hand".to_string()),
        },
        TraefikSource::Nothing => Err(
            "Traefik's static configuration was not found (no flags, no mounted traefik.yml, no TRAEFIK_ variables); enable ping where it is configured"
                .to_string(),
        ),
    }
}

/// The port a catalog probe calls (`127.0.0.1:9090`, `localhost:80`).
fn probe_port(probe: &HealthProbe) -> Option<String> {
    let text = probe.test.join(" ");
    for host in ["127.0.0.1:", "localhost:"] {
        if let Some(i) = text.find(host) {
            let digits: String = text[i + host.len()..].chars().take_while(char::is_ascii_digit).collect();
            if !digits.is_empty() {
                return Some(digits);
            }
        }
    }
    None
}

/// The port a server's command line moves it to (`--port 6380`, `--port=6380`, and memcached's
/// `-p 11311`), read from the words after the server program or an `sh -c` script's.
fn command_port(service: &Service) -> Option<String> {
    let words = super::side::redis_server_words(service);
    let memcached = words.iter().any(|w| w.rsplit('/').next() == Some("memcached"));
    let postgres = words.iter().any(|w| w.rsplit('/').next() == Some("postgres"));
    let mut found = None;
    for (i, word) in words.iter().enumerate() {
        let value = if let Some(v) = word.strip_prefix("--port=") {
            Some(v.to_string())
        } else if word == "--port" || ((memcached || postgres) && word == "-p") {
            words.get(i + 1).cloned()
        } else if postgres && word == "-c" {
            words.get(i + 1).and_then(|s| s.strip_prefix("port=")).map(str::to_string)
        } else if postgres && word.starts_with("-cport=") {
            Some(word["-cport=".len()..].to_string())
        } else if memcached && word.starts_with("-p") && word[2..].chars().all(|c| c.is_ascii_digit()) && word.len() > 2
        {
            Some(word[2..].to_string())
        } else {
            None
        };
        if let Some(v) = value.filter(|v| v.parse::<u16>().is_ok()) {
            found = Some(v);
        }
    }
    found
}

/// Whether the service mounts files into a web server's configuration directory.
fn mounts_configuration(service: &Service) -> bool {
    const CONFIG_DIRS: &[&str] = &[
        "/etc/nginx",
        "/usr/local/apache2/conf",
        "/etc/caddy",
        "/usr/local/etc/haproxy",
        "/etc/traefik",
        "/usr/local/openresty",
    ];
    service.volumes.iter().any(|m| CONFIG_DIRS.iter().any(|d| m.target == *d || m.target.starts_with(&format!("{d}/"))))
}

/// The container ports a service says it uses (`expose` and published targets).
fn container_ports(service: &Service) -> Vec<String> {
    let mut out: Vec<String> = service
        .value
        .get("expose")
        .map(|e| e.items().iter().filter_map(|p| p.as_str()).map(str::to_string).collect())
        .unwrap_or_default();
    out.extend(service.ports.iter().map(|p| p.target.clone()));
    out.iter_mut().for_each(|p| *p = p.split(['/', '-']).next().unwrap_or("").to_string());
    out.retain(|p| p.parse::<u16>().is_ok());
    out.dedup();
    out
}

/// An HTTP probe of `http://127.0.0.1:{port}/` with a program the image is known to have, and
/// that program's name; `None` when no such program is known to be there.
pub fn http_probe(facts: &ImageFacts, port: &str) -> Option<(Vec<String>, &'static str)> {
    let url = format!("http://127.0.0.1:{port}/");
    let has = |p: &str| facts.has(p) == Some(true);
    let cmd = |words: &[&str]| words.iter().map(|w| w.to_string()).collect::<Vec<_>>();
    if has("curl") {
        return Some((cmd(&["CMD", "curl", "-fsS", "-o", "/dev/null", &url]), "curl"));
    }
    if has("wget") || has("busybox-wget") {
        let name = if has("wget") { "wget" } else { "BusyBox wget" };
        return Some((cmd(&["CMD", "wget", "-q", "-O", "/dev/null", &url]), name));
    }
    for python in ["python3", "python"] {
        if has(python) {
            let code = format!("import urllib.request; urllib.request.urlopen('{url}', timeout=4)");
            return Some((cmd(&["CMD", python, "-c", &code]), "python"));
        }
    }
    if has("node") {
        let code = format!(
            "require('http').get('{url}', r => process.exit(r.statusCode < 500 ? 0 : 1)).on('error', () => process.exit(1))"
        );
        return Some((cmd(&["CMD", "node", "-e", &code]), "node"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::{load, LoadOptions, Stack};

    /// Loads a project made of `files` (path, text) and chooses the probe of `service`.
    fn choice_with(files: &[(&str, &str)], service: &str, profiles: Profiles) -> ProbeChoice {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let stack: Stack = load(&LoadOptions::new(dir.path().to_path_buf(), Vec::new(), profiles.clone()));
        let config = &stack.configs[0];
        choose(config.service(service).unwrap(), config, &profiles)
    }

    fn choice(compose: &str, service: &str) -> ProbeChoice {
        choice_with(&[("docker-compose.yml", compose)], service, Profiles::builtin())
    }

    fn probe(c: &ProbeChoice) -> &Probe {
        c.probe().unwrap_or_else(|| panic!("no probe: {c:?}"))
    }

    fn nothing(c: &ProbeChoice) -> &str {
        match c {
            ProbeChoice::Nothing(why) => why,
            ProbeChoice::Probe(p) => panic!("a probe: {p:?}"),
        }
    }

    #[test]
    fn a_users_profile_probe_is_taken_as_given() {
        let profiles =
            Profiles::with_overrides("kinds:\n  mine:\n    images: [acme/thing]\n    healthcheck: [CMD, thing, ok]\n")
                .unwrap();
        let c = choice_with(&[("docker-compose.yml", "services:\n  t:\n    image: acme/thing:1\n")], "t", profiles);
        assert_eq!(probe(&c).test, ["CMD", "thing", "ok"]);
        assert!(probe(&c).known);
    }

    #[test]
    fn a_catalog_probe_uses_only_programs_of_the_variant() {
        let debian = choice("services:\n  web:\n    image: nginx:1.27\n", "web");
        assert!(probe(&debian).known && probe(&debian).test.contains(&"curl".to_string()));
        let slim = choice("services:\n  web:\n    image: nginx:1.27-alpine-slim\n", "web");
        assert!(probe(&slim).known && probe(&slim).test[1].starts_with("wget"), "{slim:?}");
    }

    #[test]
    fn a_probe_is_taken_only_where_the_image_makes_what_it_logs_in_with() {
        let mariadb =
            |tag: &str, env: &str| choice(&format!("services:\n  db:\n    image: mariadb:{tag}\n{env}"), "db");
        let innodb = ["CMD", "healthcheck.sh", "--connect", "--innodb_initialized"];
        // Before 2023-05 the image creates no `healthcheck` user: only `--connect` can pass.
        for tag in ["10.6.12", "10.11.3", "10.8.8", "10.8", "10.7", "10.3.39-focal", "10.3.31"] {
            let c = mariadb(tag, "");
            // (Older still, the image has no healthcheck.sh.)
            if tag == "10.3.31" {
                assert!(nothing(&c).contains("not known"), "{tag}: {c:?}");
                continue;
            }
            assert_eq!(probe(&c).test, ["CMD", "healthcheck.sh", "--connect"], "{tag}");
            assert!(probe(&c).known, "{tag}");
        }
        // From then on the user is made in a data directory the image initialises: unknown for
        // an older one, unless MARIADB_AUTO_UPGRADE makes it, which it does from 2024-01.
        let env = "    environment:\n      MARIADB_AUTO_UPGRADE: \"1\"\n";
        for (tag, env, known) in [
            ("10.6.14", "", false),
            ("10.6.14", env, false),
            ("10.6.16", env, true),
            ("11.4", env, true),
            ("10.10", env, false),
            ("latest", "", false),
        ] {
            let c = mariadb(tag, env);
            assert_eq!(probe(&c).test, innodb, "{tag}");
            assert_eq!(probe(&c).known, known, "{tag} {env}: {c:?}");
        }
    }

    #[test]
    fn a_catalog_probe_on_a_port_the_service_does_not_declare_is_not_offered() {
        let c = choice("services:\n  web:\n    image: nginx:1.27\n    expose: [\"8081\"]\n", "web");
        assert!(nothing(&c).contains("declares port(s) 8081 and none of its image's (80)"), "{c:?}");
        // One of the image's ports published, the probe's not: the probe is a guess.
        let c = choice("services:\n  web:\n    image: caddy:2.8-alpine\n    ports: [\"80:80\", \"443:443\"]\n", "web");
        assert!(!probe(&c).known, "{c:?}");
        // The image's port among those declared: its probe.
        let c = choice("services:\n  web:\n    image: nginx:1.27\n    expose: [\"8081\", \"80\"]\n", "web");
        assert!(probe(&c).known, "{c:?}");
    }

    #[test]
    fn a_variant_without_the_programs_gets_no_probe() {
        // distroless has no shell and no client: the catalog knows the exporter's own probes do
        // not fit, so nothing is invented.
        let c = choice("services:\n  x:\n    image: oliver006/redis_exporter:v1.62.0\n", "x");
        assert!(c.probe().is_none(), "{c:?}");
    }

    #[test]
    fn an_unknown_tag_is_an_unknown_variant_unless_every_variant_agrees() {
        let memcached = choice("services:\n  c:\n    image: memcached:${TAG}\n", "c");
        assert!(nothing(&memcached).contains("not known"), "{memcached:?}");
        let postgres = choice("services:\n  db:\n    image: postgres:${TAG}\n", "db");
        assert!(probe(&postgres).known && probe(&postgres).test[1].contains("pg_isready"), "{postgres:?}");
    }

    #[test]
    fn requirements_are_enabled_in_the_same_fix_or_block_the_probe() {
        let flags =
            choice("services:\n  t:\n    image: traefik:v3.1.2\n    command: [--entrypoints.web.address=:80]\n", "t");
        assert!(matches!(probe(&flags).enable, Some(Enable::TraefikPing(PingSite::Command(_)))), "{flags:?}");
        let enabled = choice(
            "services:\n  t:\n    image: traefik:v3.1.2\n    command: [--entrypoints.web.address=:80, --ping=true]\n",
            "t",
        );
        assert_eq!(probe(&enabled).enable, None);
        let env = choice("services:\n  t:\n    image: traefik:v3.1.2\n    environment:\n      TRAEFIK_ENTRYPOINTS_WEB_ADDRESS: \":80\"\n", "t");
        assert_eq!(probe(&env).enable, Some(Enable::TraefikPing(PingSite::Environment)), "{env:?}");
        let file = choice_with(
            &[
                ("docker-compose.yml", "services:\n  t:\n    image: traefik:v3.1.2\n    volumes: [./traefik.yml:/etc/traefik/traefik.yml]\n"),
                ("traefik.yml", "entryPoints:\n  web:\n    address: \":80\"\n"),
            ],
            "t",
            Profiles::builtin(),
        );
        assert!(matches!(probe(&file).enable, Some(Enable::TraefikPing(PingSite::StaticFile(_)))), "{file:?}");
        // One source counts: a file found beats flags, flags beat variables.
        let both = choice_with(
            &[
                ("docker-compose.yml", "services:\n  t:\n    image: traefik:v3.1.2\n    command: [--providers.docker=true]\n    volumes: [./traefik.yml:/etc/traefik/traefik.yml]\n"),
                ("traefik.yml", "entryPoints:\n  web:\n    address: \":80\"\n"),
            ],
            "t",
            Profiles::builtin(),
        );
        assert!(matches!(probe(&both).enable, Some(Enable::TraefikPing(PingSite::StaticFile(_)))), "{both:?}");
        let flags_env = choice("services:\n  t:\n    image: traefik:v3.1.2\n    command: [--providers.docker=true]\n    environment: [TRAEFIK_LOG_LEVEL=DEBUG]\n", "t");
        assert!(matches!(probe(&flags_env).enable, Some(Enable::TraefikPing(PingSite::Command(_)))), "{flags_env:?}");
        assert!(!probe(&env).test.contains(&"--ping".to_string()), "{env:?}");
        let clash =
            choice("services:\n  t:\n    image: traefik:v3.1.2\n    command: [--entrypoints.web.address=:8080]\n", "t");
        assert!(nothing(&clash).contains("8080"), "{clash:?}");
        let tailored = choice("services:\n  t:\n    image: traefik:v3.1.2\n    command: [--ping=true, --entrypoints.traefik.address=:9000]\n", "t");
        assert!(probe(&tailored).test.contains(&"--entrypoints.traefik.address=:9000".to_string()), "{tailored:?}");
        // Elasticsearch 8 serves plain HTTP only with security off; 7 does by default.
        let es8 = choice("services:\n  es:\n    image: docker.elastic.co/elasticsearch/elasticsearch:8.14.3\n", "es");
        assert!(probe(&es8).test[1].contains("https://"), "{es8:?}");
        let es8_off = choice("services:\n  es:\n    image: docker.elastic.co/elasticsearch/elasticsearch:8.14.3\n    environment: [xpack.security.enabled=false]\n", "es");
        assert!(probe(&es8_off).test[1].contains("http://127.0.0.1:9200/_cluster/health"), "{es8_off:?}");
        // A password or SASL makes the unauthenticated probes fail forever.
        let redis =
            choice("services:\n  r:\n    image: redis:7.4\n    command: redis-server --requirepass ${PW}\n", "r");
        assert!(nothing(&redis).contains("NOAUTH"), "{redis:?}");
        let open = choice("services:\n  r:\n    image: redis:7.4\n", "r");
        assert!(probe(&open).known);
        // A port moved on the command line is not the one the probes call.
        let moved =
            choice("services:\n  r:\n    image: redis:7.2\n    command: [redis-server, --port, \"6380\"]\n", "r");
        assert!(nothing(&moved).contains("6380"), "{moved:?}");
        let memcached =
            choice("services:\n  m:\n    image: memcached:1.6-alpine\n    command: [memcached, -p, \"11311\"]\n", "m");
        assert!(nothing(&memcached).contains("11311"), "{memcached:?}");
        let same =
            choice("services:\n  r:\n    image: redis:7.2\n    command: [redis-server, --port, \"6379\"]\n", "r");
        assert!(probe(&same).known);
        let sasl = choice("services:\n  m:\n    image: memcached:1.6.29\n    command: memcached -S\n", "m");
        assert!(nothing(&sasl).contains("SASL"), "{sasl:?}");
        let plain = choice("services:\n  es:\n    image: docker.elastic.co/elasticsearch/elasticsearch:8.14.3\n    environment: [xpack.security.http.ssl.enabled=false]\n", "es");
        assert!(nothing(&plain).contains("authenticate"), "{plain:?}");
        let es7_secure = choice("services:\n  es:\n    image: docker.elastic.co/elasticsearch/elasticsearch:7.17.22\n    environment: [xpack.security.enabled=true]\n", "es");
        assert!(es7_secure.probe().is_none(), "{es7_secure:?}");
        let es7 = choice("services:\n  es:\n    image: docker.elastic.co/elasticsearch/elasticsearch:7.17.22\n", "es");
        assert!(probe(&es7).test[1].contains("http://127.0.0.1:9200"), "{es7:?}");
    }

    #[test]
    fn an_unknown_image_that_is_no_application_gets_no_probe() {
        let c = choice("services:\n  n:\n    image: nats:2.10\n    ports: [\"4222:4222\"]\n", "n");
        assert!(nothing(&c).contains("no probe is known"), "{c:?}");
    }

    #[test]
    fn an_application_without_an_http_port_gets_no_probe() {
        let c = choice_with(
            &[("docker-compose.yml", "services:\n  api:\n    build: .\n"), ("Dockerfile", "FROM python:3.12-slim\n")],
            "api",
            Profiles::builtin(),
        );
        assert!(nothing(&c).contains("HTTP port"), "{c:?}");
    }

    #[test]
    fn an_application_is_probed_with_what_its_base_image_has() {
        let app = |dockerfile: &str| {
            choice_with(
                &[
                    ("docker-compose.yml", "services:\n  api:\n    build: .\n    expose: [\"3000\"]\n"),
                    ("Dockerfile", dockerfile),
                ],
                "api",
                Profiles::builtin(),
            )
        };
        let node = app("ARG NODE=20\nFROM node:${NODE}-alpine AS build\nRUN npm ci\nFROM build\nCMD node server.js\n");
        assert!(!probe(&node).known && probe(&node).test[1] == "wget", "{node:?}");
        let python = app("FROM python:3.12-slim\n");
        assert!(probe(&python).test[1].starts_with("python"), "{python:?}");
        let curl =
            app("FROM python:3.12-slim\nRUN apt-get update && apt-get install -y --no-install-recommends curl\n");
        assert_eq!(probe(&curl).test[1], "curl", "{curl:?}");
        let purged =
            app("FROM debian:bookworm-slim\nRUN apt-get install -y curl && do-things && apt-get purge -y curl\n");
        assert!(purged.probe().is_none(), "{purged:?}");
        let virtual_deps = app(
            "FROM nginx:1.27-alpine-slim\nRUN apk add --no-cache --virtual .fetch curl && fetch && apk del .fetch\n",
        );
        assert!(probe(&virtual_deps).test.join(" ").contains("wget"), "{virtual_deps:?}");
        let kept = app("FROM nginx:1.27-alpine-slim\nRUN apk add --no-cache --virtual .tools curl\n");
        assert!(probe(&kept).test.join(" ").contains("curl"), "{kept:?}");
        let distroless = app("FROM golang:1.22 AS build\nFROM gcr.io/distroless/static-debian12\n");
        assert!(distroless.probe().is_none(), "{distroless:?}");
        let scratch = app("FROM golang:1.22 AS build\nFROM scratch\n");
        assert!(scratch.probe().is_none(), "{scratch:?}");
        let unknown = app("ARG BASE\nFROM ${BASE}\n");
        assert!(unknown.probe().is_none(), "{unknown:?}");
    }
}
