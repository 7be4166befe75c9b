//! Fixes that hold when the stack runs (issue 13): each input that a fix used to break at run
//! time, with the right fix or the right refusal asserted, and the real tools where they exist
//! here (Traefik answering the health check stackfix writes).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use stackfix::stack::{self, LoadOptions, Profiles};

use crate::common::{check_json, copy_tree, fixtures, free_port, stackfix, stdout, validator, Logged};

fn fixed(case: &str, args: &[&str]) -> (tempfile::TempDir, String) {
    let work = tempfile::tempdir().unwrap();
    copy_tree(&fixtures().join(case), work.path());
    let mut all = vec!["fix", "."];
    all.extend_from_slice(args);
    let out = stackfix(work.path(), &all);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{case}: {}", stdout(&out));
    let text = std::fs::read_to_string(work.path().join("docker-compose.yml")).unwrap();
    (work, text)
}

fn findings(case: &str, select: &str) -> Vec<Value> {
    let (_, json) = check_json(&fixtures().join(case), &["--select", select]);
    json["findings"].as_array().unwrap().clone()
}

/// The service's healthcheck test and command after loading `dir`.
fn service_words(dir: &Path, name: &str) -> (Vec<String>, Vec<String>) {
    let loaded = stack::load(&LoadOptions::new(dir.to_path_buf(), Vec::new(), Profiles::builtin()));
    let service = loaded.configs[0].service(name).expect("service");
    let test = service
        .value
        .path(&["healthcheck", "test"])
        .map(|t| t.items().iter().filter_map(|i| i.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    (test, service.command.clone())
}

#[test]
fn a_debian_nginx_is_probed_with_curl_not_wget() {
    let found = findings("no-healthcheck/bad/nginx-debian", "no-healthcheck");
    assert_eq!(found[0]["fix"]["applicability"], "safe", "{found:#?}");
    let (_, text) = fixed("no-healthcheck/bad/nginx-debian", &["--select", "no-healthcheck"]);
    let probe = text.lines().find(|l| l.contains("test:")).unwrap_or_default();
    assert!(probe.contains("[CMD, curl,") && !probe.contains("wget"), "{text}");
}

#[test]
fn memcached_without_nc_is_probed_through_bash_and_its_dependant_waits_for_that() {
    let (_, text) = fixed("no-healthcheck/bad/memcached-debian", &[]);
    assert!(!text.contains(" nc ") && text.contains("bash, -c, exec 3<>/dev/tcp/127.0.0.1/11211"), "{text}");
    assert!(text.contains("      cache:\n        condition: service_healthy"), "{text}");
    // Without the health check rule, the condition still comes with its probe.
    let (_, alone) = fixed("no-healthcheck/bad/memcached-debian", &["--select", "depends-on-without-health-condition"]);
    assert!(alone.contains("condition: service_healthy") && alone.contains("/dev/tcp/127.0.0.1/11211"), "{alone}");
}

/// Runs `scenario` with two fresh ports (web, ping) until the Traefik it starts can bind them: a
/// port chosen by binding port 0 and releasing it can be taken before Traefik binds it.
/// `scenario` gives Traefik's output as `Err` when Traefik exited early; an exit for another
/// reason than a port in use fails at once, a port in use is tried again (four tries).
fn with_fresh_ports(mut scenario: impl FnMut(u16, u16) -> Result<(), String>) {
    let mut tries = Vec::new();
    for _ in 0..4 {
        match scenario(free_port(), free_port()) {
            Ok(()) => return,
            Err(output) if output.contains("address already in use") => tries.push(output),
            Err(output) => panic!("traefik exited before its health check passed:\n{output}"),
        }
    }
    panic!("traefik found a port in use four times:\n{}", tries.join("\n"));
}

/// Runs the health check `test` (`[CMD, traefik, …]`) with `extra` arguments against `server`
/// until it passes or 60 s go by (a loaded machine starts Traefik slowly); its last output and
/// whether it passed. `Err` with Traefik's output when `server` has exited (then a pass came from
/// another process on its port, not from it).
fn healthcheck(
    binary: &Path,
    test: &[String],
    extra: &[String],
    server: &mut Logged,
) -> Result<(bool, String), String> {
    assert_eq!(&test[..3], ["CMD", "traefik", "healthcheck"], "{test:?}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = Command::new(binary).args(&test[2..]).args(extra).output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        if server.exited() {
            return Err(server.output());
        }
        if out.status.success() || Instant::now() > deadline {
            return Ok((out.status.success(), text));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn traefik_configured_by_flags_answers_the_probe_stackfix_writes() {
    let Some(binary) = validator("traefik") else { return };
    with_fresh_ports(|web, ping| {
        let work = tempfile::tempdir().unwrap();
        std::fs::write(
            work.path().join("docker-compose.yml"),
            format!(
                "services:\n  proxy:\n    image: traefik:v3.1.2\n    command:\n      - --entrypoints.web.address=127.0.0.1:{web}\n      - --entrypoints.traefik.address=127.0.0.1:{ping}\n"
            ),
        )
        .unwrap();
        let (test_before, _) = service_words(work.path(), "proxy");
        assert!(test_before.is_empty());
        let out = stackfix(work.path(), &["fix", ".", "--select", "no-healthcheck"]);
        assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
        let (test, command) = service_words(work.path(), "proxy");
        assert!(command.iter().any(|w| w == "--ping=true"), "{command:?}");
        let mut server = Logged::spawn(&binary, &command);
        let (ok, text) = healthcheck(&binary, &test, &[], &mut server)?;
        assert!(ok && text.contains("OK"), "{test:?}: {text}\n{}", server.output());
        Ok(())
    });
}

#[test]
fn traefik_configured_by_a_static_file_answers_the_probe_stackfix_writes() {
    let Some(binary) = validator("traefik") else { return };
    with_fresh_ports(|web, ping| {
        let work = tempfile::tempdir().unwrap();
        std::fs::create_dir(work.path().join("traefik")).unwrap();
        let file = work.path().join("traefik/traefik.yml");
        std::fs::write(
            &file,
            format!(
                "entryPoints:\n  web:\n    address: \"127.0.0.1:{web}\"\n  traefik:\n    address: \"127.0.0.1:{ping}\"\n"
            ),
        )
        .unwrap();
        std::fs::write(
            work.path().join("docker-compose.yml"),
            "services:\n  proxy:\n    image: traefik:v3.1.2\n    volumes:\n      - ./traefik/traefik.yml:/etc/traefik/traefik.yml:ro\n",
        )
        .unwrap();
        // The container finds /etc/traefik/traefik.yml by itself; here the file is named.
        let config = vec![format!("--configFile={}", file.display())];
        {
            // Before the fix, the probe asks for `ping` (whether or not Traefik runs).
            let _before = Logged::spawn(&binary, &config);
            let test: Vec<String> = ["CMD", "traefik", "healthcheck", "--ping"].map(String::from).to_vec();
            let out = Command::new(&binary).args(&test[2..]).args(&config).output().unwrap();
            assert!(!out.status.success() && String::from_utf8_lossy(&out.stdout).contains("enable `ping`"));
        }
        let out = stackfix(work.path(), &["fix", ".", "--select", "no-healthcheck"]);
        assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
        assert!(std::fs::read_to_string(&file).unwrap().contains("ping: {}"));
        let (test, _) = service_words(work.path(), "proxy");
        let mut server = Logged::spawn(&binary, &config);
        let (ok, text) = healthcheck(&binary, &test, &config, &mut server)?;
        assert!(ok && text.contains("OK"), "{test:?}: {text}\n{}", server.output());
        Ok(())
    });
}

#[test]
fn jvm_limits_leave_room_beyond_the_heap_and_keep_the_spelling_in_use() {
    // `tuned`'s image is not one stackfix knows: its limit is an unsafe fix.
    let (_, text) = fixed("no-resource-limits/bad/jvm-heap", &["--select", "no-resource-limits", "--unsafe-fixes"]);
    let search = &text[text.find("  search:").unwrap()..text.find("  kafka:").unwrap()];
    let kafka = &text[text.find("  kafka:").unwrap()..text.find("  tuned:").unwrap()];
    let tuned = &text[text.find("  tuned:").unwrap()..];
    // -Xmx4g, and Elastic keeps the heap at most half the memory.
    assert!(search.contains("memory: 8G"), "{search}");
    // cp-kafka's start script defaults the heap to 1G.
    assert!(kafka.contains("memory: 1536M"), "{kafka}");
    // `cpus: "2"` is compose's top-level spelling: the limit follows it, `cpus` stays as it was.
    assert!(
        tuned.contains("mem_limit: 2G") && !tuned.contains("deploy:") && tuned.matches("cpus").count() == 1,
        "{tuned}"
    );
}

#[test]
fn a_redis_used_by_a_sidekiq_worker_never_evicts() {
    let found = findings("redis-no-maxmemory/bad/sidekiq-env-file", "redis-no-maxmemory");
    let title = found[0]["fix"]["title"].as_str().unwrap();
    assert!(title.contains("noeviction") && title.contains("Sidekiq"), "{title}");
    let (_, text) = fixed("redis-no-maxmemory/bad/sidekiq-env-file", &["--select", "redis-no-maxmemory"]);
    assert!(text.contains("--maxmemory-policy noeviction") && !text.contains("allkeys"), "{text}");
}

#[test]
fn a_backup_and_its_database_read_one_password() {
    let (work, text) = fixed("no-backup/bad/literal-password", &["--select", "no-backup", "--unsafe-fixes"]);
    assert!(!text.contains("s3cr3t-shop"), "{text}");
    assert_eq!(text.matches("${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}").count(), 2, "{text}");
    let example = std::fs::read_to_string(work.path().join(".env.example")).unwrap();
    assert_eq!(example.matches("POSTGRES_PASSWORD=").count(), 1, "{example}");
}

#[test]
fn a_mongo_without_credentials_gets_a_backup_compose_accepts() {
    let (_, text) = fixed("no-backup/bad/mongo-no-credentials", &["--select", "no-backup"]);
    let backup = &text[text.find("  mongo-backup:").unwrap()..];
    assert!(backup.contains("mongodump") && !backup.contains("environment:"), "{backup}");
}

#[test]
fn one_credential_becomes_one_variable_everywhere() {
    let (_, text) =
        fixed("hardcoded-secret/bad/shared-credential", &["--select", "hardcoded-secret", "--unsafe-fixes"]);
    assert!(!text.contains("Sh0pPassw0rd"), "{text}");
    assert!(text.contains("POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}"), "{text}");
    assert!(text.contains("postgres://shop:${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}@db:5432/shop"), "{text}");
}

#[test]
fn conditions_the_authors_chose_stay_and_jobs_are_awaited_to_completion() {
    let found =
        findings("depends-on-without-health-condition/bad/authors-conditions", "depends-on-without-health-condition");
    // `condition: service_started` onto a service with a health check: reported, no fix.
    let started: Vec<&Value> = found.iter().filter(|f| f["message"].as_str().unwrap().contains("`db`")).collect();
    assert_eq!(started.len(), 1);
    assert_eq!(started[0]["fix"]["available"], false);
    // Disabled health checks are nobody's `service_healthy`.
    assert!(found.iter().all(|f| !f["message"].as_str().unwrap().contains("`search`")), "{found:#?}");
    assert!(found.iter().all(|f| !f["message"].as_str().unwrap().contains("`legacy`")), "{found:#?}");
    let (_, text) = fixed(
        "depends-on-without-health-condition/bad/authors-conditions",
        &["--select", "depends-on-without-health-condition", "--unsafe-fixes"],
    );
    assert!(text.contains("      db:\n        condition: service_started"), "{text}");
    assert!(text.contains("      migrate:\n        condition: service_completed_successfully"), "{text}");
    assert!(text.contains("      search:\n        condition: service_started"), "{text}");
    assert!(!text.contains("service_healthy"), "{text}");
}

#[test]
fn a_redis_config_file_given_first_is_read_not_overridden() {
    assert!(findings("redis-no-maxmemory/good/config-file-first-arg", "redis-no-maxmemory").is_empty());
}

#[test]
fn the_rate_limit_comes_before_authentication() {
    let (_, text) = fixed("traefik-no-rate-limit/bad/auth-first", &["--select", "traefik-no-rate-limit"]);
    assert!(text.contains("traefik.http.routers.app.middlewares=app-ratelimit,auth"), "{text}");
}

#[test]
fn the_backup_dumps_the_database_the_application_uses() {
    let (_, text) = fixed("no-backup/bad/postgres-db-name", &["--select", "no-backup"]);
    let backup = &text[text.find("  db-backup:").unwrap()..];
    assert!(backup.contains("POSTGRES_DB: app_prod"), "{backup}");
}

/// A stack written to a temporary directory.
fn project(compose: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("docker-compose.yml"), compose).unwrap();
    dir
}

fn fix_text(dir: &Path, args: &[&str]) -> String {
    let mut all = vec!["fix", "."];
    all.extend_from_slice(args);
    let out = stackfix(dir, &all);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stdout(&out));
    std::fs::read_to_string(dir.join("docker-compose.yml")).unwrap()
}

#[test]
fn a_depends_on_list_with_variables_is_not_turned_into_keys_compose_would_not_interpolate() {
    let compose = "services:\n  postgresql:\n    image: postgres:16\n  redis:\n    image: redis:7.2\n  app:\n    image: nginx:1.27\n    depends_on: [\"${DB_HOST:-postgresql}\", redis]\n";
    let dir = project(compose);
    let text = fix_text(dir.path(), &["--select", "depends-on-without-health-condition"]);
    assert!(text.contains("depends_on: [\"${DB_HOST:-postgresql}\", redis]"), "{text}");
}

#[test]
fn unrelated_credentials_with_equal_values_stay_apart() {
    let compose = "services:\n  db:\n    image: postgres:16\n    environment:\n      POSTGRES_PASSWORD: changeme\n  mq:\n    image: rabbitmq:3.13\n    environment:\n      RABBITMQ_DEFAULT_PASS: changeme\n  api:\n    image: nginx:1.27\n    environment:\n      DATABASE_URL: postgres://app:changeme@db:5432/app\n";
    let dir = project(compose);
    let text = fix_text(dir.path(), &["--select", "hardcoded-secret", "--unsafe-fixes"]);
    assert!(text.contains("POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:?"), "{text}");
    assert!(text.contains("RABBITMQ_DEFAULT_PASS: ${RABBITMQ_DEFAULT_PASS:?"), "{text}");
    assert!(text.contains("postgres://app:${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}@db:5432/app"), "{text}");
}

#[test]
fn the_heap_is_read_where_the_image_reads_it_and_swap_limits_are_kept() {
    // Elasticsearch reads ES_JAVA_OPTS, not JAVA_OPTS.
    let compose = "services:\n  es:\n    image: docker.elastic.co/elasticsearch/elasticsearch:8.14.3\n    environment:\n      JAVA_OPTS: -Xmx256m\n      ES_JAVA_OPTS: -Xms4g -Xmx4g\n  db:\n    image: postgres:16\n    cpus: \"0.5\"\n    memswap_limit: 1G\n";
    let dir = project(compose);
    let text = fix_text(dir.path(), &["--select", "no-resource-limits"]);
    let es = &text[..text.find("  db:").unwrap()];
    assert!(es.contains("memory: 8G"), "{text}");
    // Docker refuses a memory limit above memswap_limit.
    let db = &text[text.find("  db:").unwrap()..];
    assert!(db.contains("mem_limit: 1G"), "{text}");
}

#[test]
fn a_redis_named_cache_that_a_worker_uses_is_a_queue() {
    let compose = "services:\n  cache:\n    image: redis:7.2\n  worker:\n    image: node:20-alpine\n    command: node dist/worker.js\n    environment:\n      REDIS_URL: redis://cache:6379\n";
    let dir = project(compose);
    let (_, json) = check_json(dir.path(), &["--select", "redis-no-maxmemory"]);
    let title = json["findings"][0]["fix"]["title"].as_str().unwrap().to_string();
    assert!(title.contains("noeviction") && !title.contains("allkeys"), "{title}");
}

#[test]
fn traefik_ignores_flags_when_it_finds_a_file_and_so_does_the_fix() {
    let dir = project("services:\n  proxy:\n    image: traefik:v3.1.2\n    command: [--providers.docker=true]\n    volumes:\n      - ./traefik.yml:/etc/traefik/traefik.yml:ro\n");
    std::fs::write(dir.path().join("traefik.yml"), "entryPoints:\n  web:\n    address: \":80\"\n").unwrap();
    let text = fix_text(dir.path(), &["--select", "no-healthcheck"]);
    assert!(!text.contains("--ping=true"), "{text}");
    assert!(std::fs::read_to_string(dir.path().join("traefik.yml")).unwrap().contains("ping: {}"));
}

#[test]
fn a_healthcheck_without_a_test_on_an_image_without_one_is_no_health_check() {
    // `service_healthy` on it would never be met: compose refuses a dependency without a test.
    let compose = "services:\n  cache:\n    image: memcached:1.6.29\n    healthcheck:\n      interval: 10s\n  app:\n    image: nginx:1.27\n    depends_on: [cache]\n";
    let dir = project(compose);
    let (_, json) = check_json(dir.path(), &["--select", "depends-on-without-health-condition"]);
    let finding = &json["findings"][0];
    // The fix takes a probe along: the one the catalog knows for memcached.
    assert_eq!(finding["fix"]["available"], true, "{json:#}");
    let text = fix_text(dir.path(), &["--select", "depends-on-without-health-condition"]);
    assert!(text.contains("/dev/tcp/127.0.0.1/11211") && text.contains("condition: service_healthy"), "{text}");
}

/// The memory limit `fix` wrote for `service` in `text`, in bytes.
fn limit_in(text: &str, service: &str) -> u64 {
    let at = text.find(&format!("  {service}:")).unwrap();
    let line = text[at..].lines().find(|l| l.trim_start().starts_with("memory:")).unwrap();
    stackfix::stack::facts::memory_bytes(line.trim_start().trim_start_matches("memory:").trim()).unwrap()
}

#[test]
fn limits_leave_room_for_what_servers_are_set_to_use() {
    let compose = "services:\n  cache:\n    image: redis:7.2\n    command: redis-server --maxmemory 2gb --maxmemory-policy allkeys-lru\n  mc:\n    image: memcached:1.6.29\n    command: memcached -m 2048\n  db:\n    image: postgres:16\n    command: postgres -c shared_buffers=1GB\n  web:\n    image: node:20-alpine\n    environment:\n      NODE_OPTIONS: --max-old-space-size=4096\n";
    let dir = project(compose);
    // `web`'s limit is unsafe (node's image says nothing of the service's use).
    let text = fix_text(dir.path(), &["--select", "no-resource-limits", "--unsafe-fixes"]);
    let limit = |service: &str| limit_in(&text, service);
    assert!(limit("cache") > 2 << 30, "{text}");
    assert!(limit("mc") > 2 << 30, "{text}");
    assert!(limit("db") >= 4 << 30, "{text}");
    assert!(limit("web") > 4 << 30, "{text}");
    // memcached reads `-m` as atoi(3) does: `3072M` and `-m3072` are 3072 megabytes.
    for command in ["memcached -m 3072M", "memcached -m3072", "memcached --memory-limit=3072"] {
        let dir = project(&format!("services:\n  mc:\n    image: memcached:1.6.29\n    command: {command}\n"));
        let text = fix_text(dir.path(), &["--select", "no-resource-limits"]);
        assert!(limit_in(&text, "mc") > 3 << 30, "{command}: {text}");
    }
    // A limit already set under what the server is set to use is reported.
    let dir = project(
        "services:\n  cache:\n    image: redis:7.2\n    command: redis-server --maxmemory 2gb\n    mem_limit: 1g\n",
    );
    let (_, json) = check_json(dir.path(), &["--select", "no-resource-limits"]);
    assert!(json["findings"][0]["message"].as_str().unwrap().contains("at or below what it is set to use"), "{json:#}");
}

#[test]
fn postgres_on_another_port_gets_no_probe_on_5432() {
    for command in ["[postgres, -c, port=5433]", "[postgres, -p, \"5434\"]"] {
        let dir = project(&format!("services:\n  db:\n    image: postgres:16\n    command: {command}\n"));
        let (_, json) = check_json(dir.path(), &["--select", "no-healthcheck"]);
        assert_eq!(json["findings"][0]["fix"]["available"], false, "{command}: {json:#}");
    }
}

#[test]
fn a_client_password_under_another_name_moves_with_its_database() {
    let compose = "services:\n  postgresql:\n    image: postgres:16\n    environment:\n      POSTGRES_PASSWORD: temporal\n  temporal:\n    image: temporalio/auto-setup:1.25\n    depends_on: [postgresql]\n    environment:\n      - POSTGRES_PWD=temporal\n      - PWD=/srv\n";
    let dir = project(compose);
    let text = fix_text(dir.path(), &["--select", "hardcoded-secret", "--unsafe-fixes"]);
    assert!(text.contains("POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}"), "{text}");
    assert!(text.contains("- POSTGRES_PWD=${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}"), "{text}");
    assert!(text.contains("- PWD=/srv"), "{text}");
}

/// Traefik keeps each provider's middlewares apart: a router named alike in labels and in a
/// dynamic file gets a rate limit in each provider, and a middleware of one provider does not
/// limit the other's router.
#[test]
fn routers_of_two_providers_are_limited_each_in_its_own() {
    let compose = "services:\n  traefik:\n    image: traefik:v3.1\n    command: [\"--providers.docker=true\", \"--providers.file.filename=/etc/traefik/dynamic.yml\"]\n    volumes:\n      - ./dynamic.yml:/etc/traefik/dynamic.yml:ro\n  web:\n    image: nginx:1.27\n    labels:\n      - traefik.http.routers.web.rule=Host(`a.example`)\n";
    let dir = project(compose);
    // Two file routers: their fixes both add `http.middlewares`, so one waits a pass, when the
    // labels' `web-ratelimit` already exists (in the other provider).
    let dynamic = "http:\n  routers:\n    api:\n      rule: Host(`c.example`)\n      service: web\n    web:\n      rule: Host(`b.example`)\n      service: web\n  services:\n    web:\n      loadBalancer:\n        servers:\n          - url: http://web:80\n";
    std::fs::write(dir.path().join("dynamic.yml"), dynamic).unwrap();
    let text = fix_text(dir.path(), &["--select", "traefik-no-rate-limit"]);
    assert!(text.contains("traefik.http.routers.web.middlewares=web-ratelimit"), "{text}");
    let file = std::fs::read_to_string(dir.path().join("dynamic.yml")).unwrap();
    assert!(file.contains("web-ratelimit:") && file.contains("- web-ratelimit"), "{file}");
    assert!(file.contains("api-ratelimit:") && file.contains("- api-ratelimit"), "{file}");
    let (_, json) = check_json(dir.path(), &["--select", "traefik-no-rate-limit"]);
    assert!(json["findings"].as_array().unwrap().is_empty(), "{json}");
}

/// Two findings of one rule at one place (two flags of one command): fixing the first while the
/// second stays (no safe fix) is not mistaken for the first staying open.
#[test]
fn a_finding_fixed_beside_one_left_at_the_same_place_counts_as_fixed() {
    let compose = "services:\n  cache:\n    image: redis:7.4\n    command: [\"redis-server\", \"--requirepass\", \"pa$$word\", \"--masterauth\", \"s3cret-a\"]\n";
    let dir = project(compose);
    let text = fix_text(dir.path(), &["--select", "hardcoded-secret", "--unsafe-fixes"]);
    assert!(text.contains("\"--masterauth\", \"${REDIS_MASTERAUTH:?set REDIS_MASTERAUTH}\""), "{text}");
    assert!(text.contains("\"--requirepass\", \"pa$$word\""), "{text}");
}

/// What a review found in the rate-limit fix and the credential groups: a router's middlewares
/// are rewritten as written (Traefik's names are case-sensitive: `myauth@file` is not `myAuth`);
/// an entry point's middleware named without a provider is the router's provider's; a client's
/// password of another purpose (`ADMIN_PASSWORD`) stays apart from its database's.
#[test]
fn review_rate_limits_and_credential_groups() {
    let compose = "services:\n  traefik:\n    image: traefik:v3.1\n    command: [\"--providers.file.filename=/etc/traefik/dynamic.yml\"]\n    volumes:\n      - ./dynamic.yml:/etc/traefik/dynamic.yml:ro\n";
    let dir = project(compose);
    let dynamic = "http:\n  routers:\n    r2:\n      rule: Host(`b.example`)\n      service: web\n      middlewares: [myAuth, \"Hdr@docker\"]\n  middlewares:\n    myAuth:\n      basicAuth:\n        users: [\"u:x\"]\n  services:\n    web:\n      loadBalancer:\n        servers:\n          - url: http://web:80\n";
    std::fs::write(dir.path().join("dynamic.yml"), dynamic).unwrap();
    fix_text(dir.path(), &["--select", "traefik-no-rate-limit"]);
    let file = std::fs::read_to_string(dir.path().join("dynamic.yml")).unwrap();
    assert!(file.contains("- r2-ratelimit\n        - myAuth\n        - Hdr@docker"), "{file}");
    // `rl` on the entry point exists only in the file provider: a Docker router is not limited.
    let compose = "services:\n  traefik:\n    image: traefik:v3.1\n    command: [\"--providers.docker=true\", \"--providers.file.filename=/etc/traefik/dynamic.yml\", \"--entrypoints.web.http.middlewares=rl\"]\n    volumes:\n      - ./dynamic.yml:/etc/traefik/dynamic.yml:ro\n  app:\n    image: nginx:1.27\n    labels:\n      - traefik.http.routers.app.rule=Host(`a.example`)\n";
    let dir = project(compose);
    std::fs::write(
        dir.path().join("dynamic.yml"),
        "http:\n  middlewares:\n    rl:\n      rateLimit:\n        average: 10\n",
    )
    .unwrap();
    let (_, json) = check_json(dir.path(), &["--select", "traefik-no-rate-limit"]);
    let messages: Vec<&str> =
        json["findings"].as_array().unwrap().iter().filter_map(|f| f["message"].as_str()).collect();
    assert_eq!(messages, ["Traefik router `app` has no rate-limit middleware"], "{json}");
    // Credentials.
    let compose = "services:\n  db:\n    image: postgres:16\n    environment:\n      POSTGRES_PASSWORD: hunter2secret\n  worker:\n    image: nginx:1.27\n    depends_on: [db]\n    environment:\n      ADMIN_PASSWORD: hunter2secret\n";
    let dir = project(compose);
    let text = fix_text(dir.path(), &["--select", "hardcoded-secret", "--unsafe-fixes"]);
    assert!(text.contains("ADMIN_PASSWORD: ${ADMIN_PASSWORD:?set ADMIN_PASSWORD}"), "{text}");
}

/// Traefik reads option names case-insensitively (`RATELIMIT:` is a rate limit) and middleware
/// names as written: a router naming `mixed-rl` for `Mixed-RL` is refused ("middleware
/// \"mixed-rl@file\" does not exist", Traefik v3.1, checked by hand), so it is not limited.
#[test]
fn middleware_names_are_case_sensitive_and_option_names_are_not() {
    let compose = "services:\n  traefik:\n    image: traefik:v3.1\n    command: [\"--providers.docker=true\", \"--providers.file.filename=/etc/traefik/dynamic.yml\"]\n    volumes:\n      - ./dynamic.yml:/etc/traefik/dynamic.yml:ro\n  app:\n    image: nginx:1.27\n    labels:\n      - traefik.http.middlewares.Edge-RL.RateLimit.average=5\n      - traefik.http.routers.exact.rule=Host(`a.example`)\n      - traefik.http.routers.exact.middlewares=Edge-RL\n      - traefik.http.routers.lower.rule=Host(`b.example`)\n      - traefik.http.routers.lower.middlewares=edge-rl\n";
    let dir = project(compose);
    let dynamic = "http:\n  middlewares:\n    Mixed-RL:\n      RATELIMIT:\n        average: 10\n  routers:\n    fexact:\n      rule: Host(`c.example`)\n      service: web\n      middlewares: [Mixed-RL]\n    flower:\n      rule: Host(`d.example`)\n      service: web\n      middlewares: [mixed-rl]\n  services:\n    web:\n      loadBalancer:\n        servers:\n          - url: http://app:80\n";
    std::fs::write(dir.path().join("dynamic.yml"), dynamic).unwrap();
    let (_, json) = check_json(dir.path(), &["--select", "traefik-no-rate-limit"]);
    let mut messages: Vec<&str> =
        json["findings"].as_array().unwrap().iter().filter_map(|f| f["message"].as_str()).collect();
    messages.sort();
    assert_eq!(
        messages,
        ["Traefik router `flower` has no rate-limit middleware", "Traefik router `lower` has no rate-limit middleware"],
        "{json}"
    );
    // The fix keeps the written name: `lower-ratelimit` first, then `edge-rl` as it was.
    fix_text(dir.path(), &["--select", "traefik-no-rate-limit"]);
    let file = std::fs::read_to_string(dir.path().join("dynamic.yml")).unwrap();
    assert!(file.contains("- flower-ratelimit\n        - mixed-rl"), "{file}");
}

/// An entry point's rate limit covers only the routers on it: a router on another entry point,
/// or one on the default entry points when one of them has no limit, is reported.
#[test]
fn an_entry_point_limit_covers_only_routers_on_it() {
    let compose = |default: &str| {
        format!(
            "services:\n  traefik:\n    image: traefik:v3.1\n    command:\n      - --providers.docker=true\n      - --entrypoints.web.address=:80\n      - --entrypoints.web.http.middlewares=rl@docker\n      - --entrypoints.Secure.address=:443\n{default}  app:\n    image: nginx:1.27\n    labels:\n      - traefik.http.middlewares.rl.ratelimit.average=5\n      - traefik.http.routers.onweb.rule=Host(`a.example`)\n      - traefik.http.routers.onweb.entrypoints=web\n      - traefik.http.routers.onsecure.rule=Host(`b.example`)\n      - traefik.http.routers.onsecure.entrypoints=Secure\n      - traefik.http.routers.wrongcase.rule=Host(`c.example`)\n      - traefik.http.routers.wrongcase.entrypoints=WEB\n      - traefik.http.routers.anywhere.rule=Host(`d.example`)\n"
        )
    };
    let reported = |compose: String| {
        let dir = project(&compose);
        let (_, json) = check_json(dir.path(), &["--select", "traefik-no-rate-limit"]);
        let mut names: Vec<String> = json["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|f| f["message"].as_str()?.split('`').nth(1).map(str::to_string))
            .collect();
        names.sort();
        names
    };
    assert_eq!(reported(compose("")), ["anywhere", "onsecure", "wrongcase"]);
    // `web` alone is the default: a router naming no entry point is on `web` only.
    assert_eq!(reported(compose("      - --entrypoints.web.asDefault=true\n")), ["onsecure", "wrongcase"]);
}

/// One literal in two variables of one service is one credential only when the names say so:
/// `SMTP_PASSWORD` equal to `DB_PASSWORD` keeps a variable of its own, while `REDIS_PASSWORD`
/// and `--requirepass` (a flag named after `REDIS_PASSWORD`) become one.
#[test]
fn one_literal_in_one_service_is_one_credential_only_when_named_so() {
    let compose = "services:\n  app:\n    image: nginx:1.27\n    environment:\n      DB_PASSWORD: hunter2secret\n      SMTP_PASSWORD: hunter2secret\n      DB_PASS: hunter2secret\n";
    let dir = project(compose);
    let text = fix_text(dir.path(), &["--select", "hardcoded-secret", "--unsafe-fixes"]);
    assert!(text.contains("SMTP_PASSWORD: ${SMTP_PASSWORD:?set SMTP_PASSWORD}"), "{text}");
    assert!(text.contains("DB_PASSWORD: ${DB_PASSWORD:?set DB_PASSWORD}"), "{text}");
    assert!(text.contains("DB_PASS: ${DB_PASSWORD:?set DB_PASSWORD}"), "{text}");
}

/// A credential also written in a connection string that is not a URL (PDO, libpq, ADO.NET) is
/// moved there too: left literal, a new value would break that login.
#[test]
fn a_credential_in_a_key_value_connection_string_moves_with_the_rest() {
    let compose = "services:\n  db:\n    image: mysql:8.4\n    environment:\n      MYSQL_PASSWORD: hunter2secret\n  app:\n    image: php:8.3-apache\n    depends_on: [db]\n    environment:\n      - DB_DSN=mysql:host=db;dbname=app;password=hunter2secret\n  report:\n    image: nginx:1.27\n    depends_on: [db]\n    environment:\n      PG_CONN: \"host=db user=app password=hunter2secret dbname=app\"\n";
    let dir = project(compose);
    let text = fix_text(dir.path(), &["--select", "hardcoded-secret", "--unsafe-fixes"]);
    assert!(!text.contains("hunter2secret"), "{text}");
    assert!(
        text.contains("- DB_DSN=mysql:host=db;dbname=app;password=${MYSQL_PASSWORD:?set MYSQL_PASSWORD}"),
        "{text}"
    );
    assert!(
        text.contains("PG_CONN: \"host=db user=app password=${MYSQL_PASSWORD:?set MYSQL_PASSWORD} dbname=app\""),
        "{text}"
    );
    if let Some(compose) = validator("compose") {
        let out = std::process::Command::new(compose)
            .args(["config", "-q"])
            .env("MYSQL_PASSWORD", "x")
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

/// From a review: labels of one container naming `myapp` and `myApp` are one router to Traefik
/// (it reads labels as flags), so the fix adds one middleware under one name; the API's
/// `traefik` entry point and UDP entry points are nobody's default; a `;`-separated connection
/// string keeps spaces in values; `PGPASSWORD` is the postgres password.
#[test]
fn review_label_names_default_entry_points_and_connection_strings() {
    let compose = "services:\n  traefik:\n    image: traefik:v3.1\n    command: [\"--providers.docker=true\"]\n  app:\n    image: nginx:1.27\n    labels:\n      - traefik.http.routers.myapp.rule=Host(`app.example.com`)\n      - traefik.http.routers.myApp.tls=true\n";
    let dir = project(compose);
    let text = fix_text(dir.path(), &["--select", "traefik-no-rate-limit"]);
    assert_eq!(text.matches("ratelimit.average").count(), 1, "{text}");
    assert!(text.contains("traefik.http.routers.myApp.middlewares=myApp-ratelimit"), "{text}");
    let compose = "services:\n  traefik:\n    image: traefik:v3.1\n    command:\n      - --api.insecure=true\n      - --providers.docker=true\n      - --entrypoints.web.address=:80\n      - --entrypoints.web.http.middlewares=rl@docker\n      - --entrypoints.traefik.address=:8080\n      - --entrypoints.dns.address=:53/udp\n  app:\n    image: nginx:1.27\n    labels:\n      - traefik.http.middlewares.rl.ratelimit.average=5\n      - traefik.http.routers.anywhere.rule=Host(`a.example`)\n";
    let dir = project(compose);
    let (_, json) = check_json(dir.path(), &["--select", "traefik-no-rate-limit"]);
    assert_eq!(json["findings"].as_array().unwrap().len(), 0, "{json}");
    // Flags naming `Web` and `web` are one entry point to Traefik.
    let dir = project(&compose.replace("--entrypoints.web.address", "--entrypoints.Web.address"));
    let (_, json) = check_json(dir.path(), &["--select", "traefik-no-rate-limit"]);
    assert_eq!(json["findings"].as_array().unwrap().len(), 0, "{json}");
    let compose = "services:\n  mssql:\n    image: mcr.microsoft.com/mssql/server:2022-latest\n    environment:\n      MSSQL_SA_PASSWORD: Str0ngPassw0rd\n  api:\n    image: mcr.microsoft.com/dotnet/aspnet:8.0\n    depends_on: [mssql]\n    environment:\n      ConnectionStrings__Default: \"Server=mssql;Database=My App;User Id=sa;Password=Str0ngPassw0rd;\"\n  db:\n    image: postgres:16\n    environment:\n      POSTGRES_PASSWORD: s3cretpw99\n      PGPASSWORD: s3cretpw99\n";
    let dir = project(compose);
    let text = fix_text(dir.path(), &["--select", "hardcoded-secret", "--unsafe-fixes"]);
    assert!(!text.contains("Str0ngPassw0rd") && !text.contains("s3cretpw99"), "{text}");
    assert!(text.contains("Password=${MSSQL_SA_PASSWORD:?set MSSQL_SA_PASSWORD};"), "{text}");
    assert!(text.contains("PGPASSWORD: ${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}"), "{text}");
}

/// Where merge keys are, `check` offers only the fixes `fix` can write: a block a merge key
/// gives that cannot be copied (an anchor inside) is reported without a fix, with the reason
/// `fix` gives for skipping it.
#[test]
fn check_offers_only_fixes_fix_can_write_through_merge_keys() {
    let compose = "x-defaults: &defaults\n  deploy:\n    replicas: 2\n    resources: &res\n      reservations:\n        memory: 64M\nservices:\n  api:\n    <<: *defaults\n    image: nginx:1.27\n  other:\n    image: nginx:1.27\n    deploy:\n      resources: *res\n  web:\n    image: nginx:1.27\n    deploy:\n      replicas: 1\n";
    let dir = project(compose);
    let (_, json) = check_json(dir.path(), &["--select", "no-resource-limits"]);
    let findings = json["findings"].as_array().unwrap();
    let of = |service: &str| findings.iter().find(|f| f["service"] == service).unwrap();
    assert_eq!(of("api")["fix"]["available"], false, "{json}");
    assert!(of("api")["help"].as_str().unwrap().contains("no fix: at `services.api.deploy`"), "{json}");
    // `web` writes its own `deploy`, with no anchor: its fix is offered.
    assert_eq!(of("web")["fix"]["available"], true, "{json}");
    let out = stackfix(dir.path(), &["fix", ".", "--select", "no-resource-limits", "--diff"]);
    assert!(crate::common::stderr(&out).contains("Would fix 1 finding"), "{}", crate::common::stderr(&out));
}

/// With a TOML static file (which stackfix does not read), Traefik ignores the flags: an entry
/// point rate limit given by flags covers nothing, and the router is reported.
#[test]
fn flags_beside_a_toml_static_file_do_not_count() {
    let compose = "services:\n  traefik:\n    image: traefik:v3.1\n    command:\n      - --providers.docker=true\n      - --entrypoints.web.address=:80\n      - --entrypoints.web.http.middlewares=rl@docker\n    volumes:\n      - ./traefik.toml:/etc/traefik/traefik.toml:ro\n  app:\n    image: nginx:1.27\n    labels:\n      - traefik.http.middlewares.rl.ratelimit.average=5\n      - traefik.http.routers.anywhere.rule=Host(`a.example`)\n";
    let dir = project(compose);
    let (_, json) = check_json(dir.path(), &["--select", "traefik-no-rate-limit"]);
    assert_eq!(json["findings"].as_array().unwrap().len(), 0, "without the file, the flags count: {json}");
    std::fs::write(dir.path().join("traefik.toml"), "[entryPoints.web]\n  address = \":80\"\n").unwrap();
    let (_, json) = check_json(dir.path(), &["--select", "traefik-no-rate-limit"]);
    assert_eq!(json["findings"].as_array().unwrap().len(), 1, "{json}");
}

/// Two databases with different literal passwords under one name: each reads a variable of its
/// own (one variable cannot hold both, and a database on an existing volume keeps its password),
/// and a client's connection string follows its database's. A password with its owner glued on
/// (`PAPERLESS_DBPASS`) moves with the database it is for.
#[test]
fn different_credentials_never_share_a_variable() {
    let compose = "services:\n  alpha:\n    image: postgres:16\n    environment:\n      POSTGRES_PASSWORD: alpha-secret-111\n  beta:\n    image: postgres:16\n    environment:\n      POSTGRES_PASSWORD: beta-secret-222\n  app:\n    image: ghcr.io/acme/api:1.0\n    depends_on: [alpha]\n    environment:\n      DATABASE_URL: postgres://app:alpha-secret-111@alpha:5432/app\n";
    let dir = project(compose);
    let text = fix_text(dir.path(), &["--select", "hardcoded-secret", "--unsafe-fixes"]);
    assert!(text.contains("POSTGRES_PASSWORD: ${ALPHA_POSTGRES_PASSWORD:?set ALPHA_POSTGRES_PASSWORD}"), "{text}");
    assert!(text.contains("POSTGRES_PASSWORD: ${BETA_POSTGRES_PASSWORD:?set BETA_POSTGRES_PASSWORD}"), "{text}");
    assert!(text.contains("postgres://app:${ALPHA_POSTGRES_PASSWORD:?set ALPHA_POSTGRES_PASSWORD}@alpha"), "{text}");
    assert!(!text.contains("secret-"), "{text}");
    let example = std::fs::read_to_string(dir.path().join(".env.example")).unwrap();
    assert!(example.contains("ALPHA_POSTGRES_PASSWORD=") && example.contains("BETA_POSTGRES_PASSWORD="), "{example}");
    let compose = "services:\n  db:\n    image: mariadb:11\n    environment:\n      MARIADB_PASSWORD: paperless\n  web:\n    image: ghcr.io/paperless-ngx/paperless-ngx:2.11\n    depends_on: [db]\n    environment:\n      PAPERLESS_DBPASS: paperless\n";
    let dir = project(compose);
    let text = fix_text(dir.path(), &["--select", "hardcoded-secret", "--unsafe-fixes"]);
    assert!(text.contains("PAPERLESS_DBPASS: ${MARIADB_PASSWORD:?set MARIADB_PASSWORD}"), "{text}");
}
