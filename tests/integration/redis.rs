//! The redis fixes, checked by a real redis-server on a private unix socket: the fixed command
//! line (or mounted conf) starts it, and `CONFIG GET` returns what the fix set. Under CI=true a
//! missing redis-server fails the test.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use stackfix::stack::service::shell_split;
use stackfix::stack::side::redis_server_words;
use stackfix::stack::{self, LoadOptions, Profiles, RedisRole};

use crate::common::{copy_tree, fixtures, stackfix, stdout, subdirs, validator};

/// `redis-server` and `redis-cli`.
fn redis_tools() -> Option<(PathBuf, PathBuf)> {
    validator("redis-server").zip(validator("redis-cli"))
}

/// A redis-server with the given arguments, reachable only through a socket in `dir`.
struct Server {
    child: Child,
    socket: PathBuf,
    cli: PathBuf,
}

impl Server {
    fn start(server: &Path, cli: &Path, args: &[String], dir: &Path) -> Result<Server, String> {
        let socket = dir.join("redis.sock");
        // Ours come last so they win: no TCP, a private directory, no snapshots written.
        let dir_arg = dir.to_string_lossy().into_owned();
        let socket_arg = socket.to_string_lossy().into_owned();
        let safety = ["--port", "0", "--unixsocket", &socket_arg, "--dir", &dir_arg, "--daemonize", "no", "--save", ""];
        let mut child = Command::new(server)
            .args(args)
            .args(safety)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
        let deadline = Instant::now() + Duration::from_secs(60);
        while !socket.exists() {
            if Instant::now() > deadline || child.try_wait().map_err(|e| e.to_string())?.is_some() {
                let _ = child.kill();
                let out = child.wait_with_output().map_err(|e| e.to_string())?;
                return Err(format!(
                    "redis-server {args:?} did not start:\n{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Server { child, socket, cli: cli.to_path_buf() })
    }

    fn config_get(&self, name: &str) -> String {
        let out = Command::new(&self.cli)
            .arg("-s")
            .arg(&self.socket)
            .args(["--raw", "CONFIG", "GET", name])
            .output()
            .expect("redis-cli runs");
        String::from_utf8_lossy(&out.stdout).lines().nth(1).unwrap_or_default().to_string()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The server arguments of each redis service of a stack, with a mounted conf's path on the host,
/// and what the stack uses it for.
fn server_args(dir: &Path) -> Vec<(String, Vec<String>, RedisRole)> {
    let stack = stack::load(&LoadOptions::new(dir.to_path_buf(), Vec::new(), Profiles::builtin()));
    let mut out = Vec::new();
    for config in &stack.configs {
        for service in config.services.iter().filter(|s| s.kind == "redis") {
            // Bitnami and redis-stack images take the flags from a variable.
            let variable = service
                .environment
                .iter()
                .find(|e| matches!(e.name.as_str(), "REDIS_EXTRA_FLAGS" | "REDIS_ARGS"))
                .and_then(|e| e.value.as_deref());
            let words = match variable {
                Some(flags) => shell_split(flags),
                None => redis_server_words(service),
            };
            // The official images' entrypoint runs the server with flags given alone.
            let start = match words.iter().position(|w| w.ends_with("redis-server") || w.ends_with("valkey-server")) {
                Some(server) => server + 1,
                None if words.first().is_some_and(|w| w.starts_with("--")) => 0,
                None => continue,
            };
            let mut args: Vec<String> = words[start..].to_vec();
            if args.first().is_some_and(|a| !a.starts_with('-')) {
                let conf = config.redis_confs.iter().find(|c| c.service == service.name).expect("a mounted conf");
                args[0] = stack.file(conf.file).path.to_string_lossy().into_owned();
            }
            out.push((service.name.clone(), args, config.redis_role(service)));
        }
    }
    out
}

fn flag_value(args: &[String], flag: &str) -> Option<String> {
    args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned()
}

#[test]
fn fixed_redis_settings_are_what_a_real_server_reports() {
    let Some((server, cli)) = redis_tools() else { return };
    let mut checked = 0;
    for case in subdirs(&fixtures().join("redis-no-maxmemory/bad")) {
        let work = tempfile::tempdir().unwrap();
        copy_tree(&case, work.path());
        // A case whose settings are not known (an `include` stackfix does not read) has no fix
        // to run a server with.
        let (_, json) = crate::common::check_json(work.path(), &["--select", "redis-no-maxmemory"]);
        let fixable = json["findings"].as_array().unwrap().iter().any(|f| f["fix"]["available"] == true);
        if !fixable {
            continue;
        }
        // A cache keeps a policy it chose; everything else gets the one its use calls for.
        let chosen: Vec<(String, String)> = server_args(work.path())
            .into_iter()
            .filter_map(|(service, args, _)| Some((service, flag_value(&args, "--maxmemory-policy")?)))
            .collect();
        // Unsafe fixes too: a policy the authors chose, or one from a name alone, is one.
        let out = stackfix(work.path(), &["fix", ".", "--select", "redis-no-maxmemory", "--unsafe-fixes"]);
        assert!(matches!(out.status.code(), Some(0 | 1)), "{}: {}", case.display(), stdout(&out));
        for (service, args, role) in server_args(work.path()) {
            let broker = matches!(role, RedisRole::Queue(_));
            let run = tempfile::tempdir().unwrap();
            let redis = Server::start(&server, &cli, &args, run.path())
                .unwrap_or_else(|e| panic!("{} ({service}): {e}", case.display()));
            let maxmemory: u64 = redis.config_get("maxmemory").parse().unwrap_or_default();
            assert!(maxmemory > 0, "{} ({service}): maxmemory not set by {args:?}", case.display());
            let policy = redis.config_get("maxmemory-policy");
            let own = chosen.iter().find(|(s, _)| *s == service).map(|(_, p)| p.as_str());
            // A queue never evicts; a cache may; a redis whose use is unknown keeps its choice or
            // does not evict.
            let wanted = match role {
                RedisRole::Queue(_) => "noeviction",
                RedisRole::Cache(_) | RedisRole::CacheByName(_) => own.unwrap_or("allkeys-lru"),
                RedisRole::Unknown => own.unwrap_or("noeviction"),
            };
            assert_eq!(policy, wanted, "{} ({service}): {args:?}", case.display());
            if broker {
                assert_eq!(redis.config_get("appendonly"), "yes", "{} ({service})", case.display());
                assert_eq!(redis.config_get("appendfsync"), "everysec", "{} ({service})", case.display());
            }
            checked += 1;
        }
    }
    assert!(checked >= 9, "only {checked} redis services were started");
}

#[test]
fn maxmemory_follows_the_memory_limit() {
    let Some((server, cli)) = redis_tools() else { return };
    let work = tempfile::tempdir().unwrap();
    copy_tree(&fixtures().join("redis-no-maxmemory/bad/no-command"), work.path());
    stackfix(work.path(), &["fix", ".", "--select", "redis-no-maxmemory"]);
    let (_, args, _) = server_args(work.path()).into_iter().next().expect("the queue service");
    let run = tempfile::tempdir().unwrap();
    let redis = Server::start(&server, &cli, &args, run.path()).unwrap();
    // 75% of the 1G limit.
    assert_eq!(redis.config_get("maxmemory"), (768u64 << 20).to_string());
}

/// redis-server's first argument, when it is a path, is its configuration file (the official
/// images' entrypoint puts `redis-server` in front): the settings there are read, not reported
/// as missing, and a real server started that way reports the file's values.
#[test]
fn a_config_file_given_as_the_first_argument_is_read() {
    let case = fixtures().join("redis-no-maxmemory/good/config-file-first-arg");
    let (code, json) = crate::common::check_json(&case, &["--select", "redis-no-maxmemory"]);
    assert_eq!((code, json["findings"].as_array().unwrap().len()), (0, 0), "{json:#}");
    let Some((server, cli)) = redis_tools() else { return };
    let (_, args, _) = server_args(&case).into_iter().next().expect("the redis service");
    assert!(args[0].ends_with("redis.conf") && Path::new(&args[0]).is_file(), "{args:?}");
    let run = tempfile::tempdir().unwrap();
    let redis = Server::start(&server, &cli, &args, run.path()).unwrap();
    assert_eq!(redis.config_get("maxmemory"), (200u64 << 20).to_string());
    assert_eq!(redis.config_get("maxmemory-policy"), "noeviction");
}
