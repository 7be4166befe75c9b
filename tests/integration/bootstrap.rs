//! `stackfix bootstrap` on the seed stacks and every corpus stack with a base file: the production
//! file passes `docker compose -f base -f prod config`, monitoring files it creates pass
//! promtool/amtool, `check` on base + prod reports no production finding that has a fix, the base
//! files stay byte for byte, and a second run changes nothing.

use std::path::{Path, PathBuf};

use stackfix::rules::{by_id, Scope};
use stackfix::stack::load::base_file;

use crate::common::{check_json, copy_tree, fixtures, shared, stackfix, stderr, stdout, subdirs, validator};
use crate::monitoring::validated_monitoring_files;
use crate::validators::{compose, compose_config_ok};

/// Production findings with a fix that `check -f FILE…` still reports.
fn fixable_production_findings(dir: &Path, files: &[PathBuf]) -> Vec<serde_json::Value> {
    let names: Vec<String> = files.iter().map(|f| f.to_string_lossy().into_owned()).collect();
    let mut args = Vec::new();
    for name in &names {
        args.extend(["-f", name.as_str()]);
    }
    let (_, json) = check_json(dir, &args);
    json["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["fix"]["available"] == true)
        .filter(|f| by_id(f["rule"].as_str().unwrap_or("")).is_some_and(|r| r.meta().scope == Scope::Production))
        .cloned()
        .collect()
}

/// What one bootstrap of `dir` was checked for.
struct Checked {
    validated: bool,
    monitoring_files: usize,
}

/// Bootstraps `dir` in `mode` (its existing production files removed first unless `keep`),
/// checks every promise, and runs it again.
fn bootstrap_and_check(dir: &Path, mode: &str, compose: &Path, tools: Option<(&Path, &Path)>, keep: bool) -> Checked {
    let base = base_file(dir).unwrap_or_else(|| panic!("{}: no base file", dir.display()));
    if !keep {
        for prod in stackfix::stack::load::production_files(dir) {
            std::fs::remove_file(prod).unwrap();
        }
    }
    let prod = stackfix::bootstrap::default_output(dir);
    let base_before = std::fs::read_to_string(&base).unwrap();
    let prod_before = std::fs::read_to_string(&prod).ok();
    let base_valid = compose_config_ok(compose, dir, std::slice::from_ref(&base)).is_ok();
    let monitoring_before = tools.map(|(p, a)| validated_monitoring_files(dir, p, a)).unwrap_or_default();
    let out =
        stackfix(dir, &["bootstrap", ".", "--mode", mode, "--with", "backups,monitoring,traefik", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}: {}{}", dir.display(), stdout(&out), stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // What bootstrap could not do, it says: (rule, service) of each fix it skipped, with a reason.
    let skipped: Vec<(String, String)> = report["skipped"]
        .as_array()
        .into_iter()
        .flatten()
        .inspect(|s| assert!(s["reason"].as_str().is_some_and(|r| !r.is_empty()), "{s:#}"))
        .map(|s| (s["rule"].as_str().unwrap_or("").to_string(), s["service"].as_str().unwrap_or("-").to_string()))
        .collect();
    assert_eq!(std::fs::read_to_string(&base).unwrap(), base_before, "{}: the base file changed", dir.display());
    let prod_after = std::fs::read_to_string(&prod).unwrap();
    if let Some(before) = &prod_before {
        for line in before.lines().filter(|l| l.trim_start().starts_with('#')) {
            assert!(prod_after.contains(line.trim()), "{}: comment `{}` lost", prod.display(), line.trim());
        }
    }
    let files = if mode == "standalone" { vec![prod.clone()] } else { vec![base.clone(), prod.clone()] };
    if base_valid {
        compose_config_ok(compose, dir, &files)
            .unwrap_or_else(|e| panic!("{}: {files:?} fail compose config: {e}\n{prod_after}", dir.display()));
    }
    let mut monitoring_files = 0;
    if let Some((promtool, amtool)) = tools {
        for (file, result) in validated_monitoring_files(dir, promtool, amtool) {
            let before = monitoring_before.iter().find(|(f, _)| *f == file).map(|(_, r)| r.is_ok());
            if before != Some(false) {
                result.unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
                monitoring_files += 1;
            }
        }
    }
    // A standalone file edits services in place, where an anchor other services alias is refused
    // (and said so); an overlay leaves the base and its anchors alone, so nothing may be left.
    let left: Vec<_> = fixable_production_findings(dir, &files)
        .into_iter()
        .filter(|f| {
            let key = (f["rule"].as_str().unwrap_or("").to_string(), f["service"].as_str().unwrap_or("-").to_string());
            mode == "overlay" || !skipped.contains(&key)
        })
        .collect();
    assert!(left.is_empty(), "{}: fixable production findings left: {left:#?}", dir.display());
    let again = stackfix(
        dir,
        &["bootstrap", ".", "--mode", mode, "--with", "backups,monitoring,traefik", "--diff", "--color", "never"],
    );
    assert_eq!(again.status.code(), Some(0), "{}: a second run changes something:\n{}", dir.display(), stdout(&again));
    assert_eq!(stdout(&again), "");
    Checked { validated: base_valid, monitoring_files }
}

/// The seed stacks, with the directory their compose files are in.
fn seed_stacks() -> Vec<PathBuf> {
    subdirs(&fixtures().join("stacks"))
}

fn stack_dir(copy: &Path, original: &Path) -> PathBuf {
    match std::fs::read_to_string(original.join("args")) {
        Ok(sub) => copy.join(sub.trim()),
        Err(_) => copy.to_path_buf(),
    }
}

#[test]
fn seed_stacks_bootstrap_from_development() {
    let Some(compose) = compose() else { return };
    let (Some(promtool), Some(amtool)) = (validator("promtool"), validator("amtool")) else { return };
    for seed in seed_stacks() {
        let work = tempfile::tempdir().unwrap();
        copy_tree(&seed, work.path());
        let dir = stack_dir(work.path(), &seed);
        let secrets = literal_secrets(&dir);
        let checked = bootstrap_and_check(&dir, "overlay", &compose, Some((&promtool, &amtool)), false);
        assert!(checked.validated, "{}: the seed's base file must pass compose config", seed.display());
        let prod = std::fs::read_to_string(stackfix::bootstrap::default_output(&dir)).unwrap();
        for secret in secrets {
            assert!(
                !prod.contains(&secret),
                "{}: a literal secret of the base file is in the production file",
                seed.display()
            );
        }
    }
}

/// Literal secrets of the base file as they would be written: `NAME: value`, `NAME=value`,
/// `--requirepass value`.
fn literal_secrets(dir: &Path) -> Vec<String> {
    let base = base_file(dir).unwrap();
    let stack = stackfix::stack::load(&stackfix::stack::LoadOptions::new(
        dir.to_path_buf(),
        vec![base],
        stackfix::stack::Profiles::builtin(),
    ));
    let mut out = Vec::new();
    for service in &stack.configs[0].services {
        for var in &service.environment {
            let secret_name = ["PASSWORD", "SECRET", "TOKEN"].iter().any(|w| var.name.contains(w));
            match var.value.as_deref() {
                Some(v) if secret_name && !v.contains('$') && v.len() >= 4 => out.extend([
                    format!("{}: {v}", var.name),
                    format!("{}={v}", var.name),
                    format!("{}: \"{v}\"", var.name),
                ]),
                _ => {}
            }
        }
        if let Some(i) = service.command.iter().position(|w| w == "--requirepass") {
            out.extend(service.command.get(i + 1).filter(|v| !v.contains('$')).map(|v| format!("--requirepass {v}")));
        }
    }
    out
}

#[test]
fn seed_stacks_bootstrap_standalone_files() {
    let Some(compose) = compose() else { return };
    for seed in seed_stacks() {
        let work = tempfile::tempdir().unwrap();
        copy_tree(&seed, work.path());
        let dir = stack_dir(work.path(), &seed);
        let checked = bootstrap_and_check(&dir, "standalone", &compose, None, false);
        assert!(checked.validated, "{}", seed.display());
        let prod = std::fs::read_to_string(stackfix::bootstrap::default_output(&dir)).unwrap();
        assert!(prod.starts_with("# Production compose file made from docker-compose.yml"), "{prod}");
    }
}

#[test]
fn existing_production_files_are_updated_in_place() {
    let Some(compose) = compose() else { return };
    let mut updated = 0;
    for seed in seed_stacks() {
        let work = tempfile::tempdir().unwrap();
        copy_tree(&seed, work.path());
        let dir = stack_dir(work.path(), &seed);
        if stackfix::stack::load::production_files(&dir).is_empty() {
            continue;
        }
        bootstrap_and_check(&dir, "overlay", &compose, None, true);
        updated += 1;
    }
    assert!(updated >= 2, "only {updated} seed stacks have a production file");
}

#[test]
fn each_setting_names_its_rule_and_the_file_says_how_to_deploy() {
    let work = tempfile::tempdir().unwrap();
    copy_tree(&fixtures().join("stacks/001-plugin-platform"), work.path());
    let out = stackfix(work.path(), &["bootstrap", ".", "--color", "never"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("Deploy with: docker compose -f ./docker-compose.yml -f ./docker-compose.prod.yml"));
    let prod = std::fs::read_to_string(work.path().join("docker-compose.prod.yml")).unwrap();
    assert!(prod.starts_with("# Production overlay for docker-compose.yml"), "{prod}");
    for rule in ["no-resource-limits", "no-restart-policy", "no-log-rotation", "hardcoded-secret", "source-bind-mount"]
    {
        assert!(prod.contains(&format!("# {rule}: ")), "no comment names {rule}:\n{prod}");
    }
    // Source mounts go, secrets come from variables listed in .env.example, no literal is copied.
    assert!(prod.contains("volumes: !reset []"), "{prod}");
    assert!(prod.contains("${SECRET_KEY:?set SECRET_KEY}"), "{prod}");
    let example = std::fs::read_to_string(work.path().join(".env.example")).unwrap();
    assert!(example.lines().any(|l| l == "SECRET_KEY="), "{example}");
    // Without --with backups the backup rule is reported, not fixed.
    assert!(!prod.contains("postgres-backup"), "{prod}");
}

#[test]
fn diff_previews_without_writing_and_bad_input_is_exit_2() {
    let work = tempfile::tempdir().unwrap();
    copy_tree(&fixtures().join("stacks/001-plugin-platform"), work.path());
    let out = stackfix(work.path(), &["bootstrap", ".", "--diff", "--color", "never"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stdout(&out).contains("+++ b/docker-compose.prod.yml"), "{}", stdout(&out));
    assert!(!work.path().join("docker-compose.prod.yml").exists());
    let out = stackfix(work.path(), &["bootstrap", ".", "-o", "docker-compose.yml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("would overwrite a base file"), "{}", stderr(&out));
    let empty = tempfile::tempdir().unwrap();
    let out = stackfix(empty.path(), &["bootstrap", "."]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no base compose file"), "{}", stderr(&out));
}

/// Bootstraps every corpus stack with a base file that loads, in `mode`.
fn corpus_stacks_bootstrap(mode: &str) {
    let Some(corpus) = shared("corpus") else { return };
    let Some(compose) = compose() else { return };
    let (Some(promtool), Some(amtool)) = (validator("promtool"), validator("amtool")) else { return };
    let work = tempfile::tempdir().unwrap();
    copy_tree(&corpus, work.path());
    let mut dirs = Vec::new();
    collect_dirs(work.path(), &mut dirs);
    let (mut bootstrapped, mut validated, mut monitoring) = (0, 0, 0);
    for dir in dirs.iter().filter(|d| base_file(d).is_some()) {
        let stack = stackfix::stack::load(&stackfix::stack::LoadOptions::new(
            dir.clone(),
            Vec::new(),
            stackfix::stack::Profiles::builtin(),
        ));
        if !stack.errors.is_empty() {
            continue;
        }
        let checked = bootstrap_and_check(dir, mode, &compose, Some((&promtool, &amtool)), false);
        bootstrapped += 1;
        validated += usize::from(checked.validated);
        monitoring += checked.monitoring_files;
    }
    eprintln!("{mode}: {bootstrapped} corpus stacks bootstrapped, {validated} validated by compose, {monitoring} monitoring files");
    assert!(bootstrapped > 40 && validated > 30, "{bootstrapped} bootstrapped, {validated} validated");
    assert!(monitoring > 5, "only {monitoring} monitoring files validated");
}

#[test]
fn corpus_stacks_bootstrap_overlays() {
    corpus_stacks_bootstrap("overlay");
}

#[test]
fn corpus_stacks_bootstrap_standalone_files() {
    corpus_stacks_bootstrap("standalone");
}

fn collect_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    out.push(dir.to_path_buf());
    for sub in subdirs(dir) {
        collect_dirs(&sub, out);
    }
}

#[test]
fn a_persons_edits_to_the_production_file_survive_a_rerun() {
    let work = tempfile::tempdir().unwrap();
    copy_tree(&fixtures().join("stacks/001-plugin-platform"), work.path());
    assert_eq!(stackfix(work.path(), &["bootstrap", "."]).status.code(), Some(0));
    let path = work.path().join("docker-compose.prod.yml");
    let generated = std::fs::read_to_string(&path).unwrap();
    // A person tunes a limit, drops a setting they do not want and explains it.
    let edited = generated
        .replacen("          memory: 4G\n", "          memory: 1536M # measured under load\n", 1)
        .replacen("    restart: unless-stopped\n", "    restart: always # ops policy\n", 1);
    assert_ne!(edited, generated);
    std::fs::write(&path, &edited).unwrap();
    let out = stackfix(work.path(), &["bootstrap", ".", "--diff", "--color", "never"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(stdout(&out), "");
    assert_eq!(stackfix(work.path(), &["bootstrap", "."]).status.code(), Some(0));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), edited);
}

/// A production file already there that restates every service of the base whole is deployed
/// alone: bootstrap fixes it in place, alone, says to deploy it alone, and compose accepts it
/// alone. One that relies on the base (only pins images) stays an overlay.
#[test]
fn an_existing_standalone_production_file_stays_standalone() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("docker-compose.yml"),
        "services:\n  web:\n    image: nginx:1.27\n  db:\n    image: postgres:16.4\n    environment:\n      POSTGRES_PASSWORD: ${DB_PASSWORD:?set it}\n",
    )
    .unwrap();
    // It pins an image for each service and nothing else: it relies on the base, an overlay.
    std::fs::write(
        dir.path().join("docker-compose.prod.yml"),
        "services:\n  web:\n    image: nginx:1.27.3\n  db:\n    image: postgres:16.4\n",
    )
    .unwrap();
    std::fs::write(dir.path().join(".env"), "DB_PASSWORD=x\n").unwrap();
    // Every service it defines could run alone (`check` reads it so), but it leaves out the
    // base's `environment` of `db`: the files do not tell how it is deployed, so bootstrap asks.
    let before = std::fs::read_to_string(dir.path().join("docker-compose.prod.yml")).unwrap();
    let out = stackfix(dir.path(), &["bootstrap", "."]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    for part in
        ["`db` (environment)", "--mode standalone", "--mode overlay", "docker compose -f docker-compose.prod.yml"]
    {
        assert!(stderr(&out).contains(part), "{part}: {}", stderr(&out));
    }
    assert_eq!(std::fs::read_to_string(dir.path().join("docker-compose.prod.yml")).unwrap(), before);
    let out = stackfix(dir.path(), &["bootstrap", ".", "--mode", "overlay"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let deploy = "Deploy with: docker compose -f ./docker-compose.yml -f ./docker-compose.prod.yml up -d";
    assert!(stdout(&out).contains(deploy), "{}", stdout(&out));
    // It restates every service of the base whole: deployed alone.
    std::fs::write(
        dir.path().join("docker-compose.prod.yml"),
        "services:\n  web:\n    image: nginx:1.27\n  db:\n    image: postgres:16.4\n    environment:\n      POSTGRES_PASSWORD: ${DB_PASSWORD:?set it}\n  extra:\n    image: nginx:1.27\n",
    )
    .unwrap();
    let out = stackfix(dir.path(), &["bootstrap", "."]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("Deploy with: docker compose -f ./docker-compose.prod.yml up -d"),
        "{}",
        stdout(&out)
    );
    let text = std::fs::read_to_string(dir.path().join("docker-compose.prod.yml")).unwrap();
    assert!(text.contains("restart: unless-stopped") && text.contains("\n  extra:"), "{text}");
    if let Some(compose) = compose() {
        compose_config_ok(&compose, dir.path(), &[dir.path().join("docker-compose.prod.yml")]).unwrap();
    }
}

/// Every setting is written under the comment of the rule whose fix it comes from, including
/// the edits a fix takes along from another rule's (the health check a `service_healthy`
/// condition needs, the memory limit a redis `maxmemory` is sized from) and a fix's second
/// fragment for a service the overlay adds.
#[test]
fn taken_along_settings_are_written_under_their_own_rules_comment() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("docker-compose.yml"),
        "services:\n  web:\n    image: nginx:1.27\n    depends_on:\n      - db\n      - cache\n  db:\n    image: postgres:16.4\n    environment:\n      POSTGRES_PASSWORD: ${DB_PASSWORD:?set it}\n    volumes:\n      - db:/var/lib/postgresql/data\n  cache:\n    image: redis:7.4\n    command: redis-server --appendonly yes\nvolumes:\n  db:\n",
    )
    .unwrap();
    std::fs::write(dir.path().join(".env"), "DB_PASSWORD=x\n").unwrap();
    let out = stackfix(dir.path(), &["bootstrap", "."]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let prod = std::fs::read_to_string(dir.path().join("docker-compose.prod.yml")).unwrap();
    // Each service key with the rule of the nearest comment above it, per service.
    let mut service = String::new();
    let mut rule = String::new();
    let mut labelled: Vec<(String, String, String)> = Vec::new();
    for line in prod.lines() {
        if let Some(name) = line.strip_prefix("  ").and_then(|l| l.strip_suffix(':')).filter(|l| !l.starts_with(' ')) {
            service = name.to_string();
        } else if let Some(comment) = line.strip_prefix("    # ") {
            rule = comment.split(':').next().unwrap().to_string();
        } else if let Some(key) = line.strip_prefix("    ").filter(|l| !l.starts_with([' ', '-', '#'])) {
            let key = key.split(':').next().unwrap().to_string();
            labelled.push((service.clone(), key, rule.clone()));
        }
    }
    let rule_of = |service: &str, key: &str| {
        labelled.iter().find(|(s, k, _)| s == service && k == key).map(|(.., r)| r.as_str()).unwrap_or("(missing)")
    };
    for service in ["web", "db", "cache"] {
        assert_eq!(rule_of(service, "healthcheck"), "no-healthcheck", "{service}:\n{prod}");
        assert_eq!(rule_of(service, "deploy"), "no-resource-limits", "{service}:\n{prod}");
        assert_eq!(rule_of(service, "restart"), "no-restart-policy", "{service}:\n{prod}");
    }
    assert_eq!(rule_of("web", "depends_on"), "depends-on-without-health-condition", "{prod}");
    assert_eq!(rule_of("cache", "command"), "redis-no-maxmemory", "{prod}");
    // Two fixes' settings merged into one `deploy` keep both comments.
    let db = &prod[prod.find("\n  db:\n").unwrap()..];
    let above: Vec<&str> = db[..db.find("\n    deploy:\n").unwrap()].lines().rev().take(2).collect();
    for rule in ["no-pids-limit", "no-resource-limits"] {
        assert!(above.iter().any(|l| l.starts_with(&format!("    # {rule}: "))), "{rule}:\n{prod}");
    }
    if let Some(compose) = compose() {
        let files = [dir.path().join("docker-compose.yml"), dir.path().join("docker-compose.prod.yml")];
        compose_config_ok(&compose, dir.path(), &files).unwrap();
    }
}

/// A production file deployed alone that leaves out the base's development settings (its own
/// build, no `--reload` command, no source mount): told `--mode standalone`, bootstrap fixes it in
/// place and copies nothing from the base; without a mode it asks, and writes nothing.
#[test]
fn a_production_file_that_could_run_alone_is_fixed_as_the_person_says() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("docker-compose.yml"),
        "services:\n  api:\n    build: .\n    command: uvicorn app.main:app --host 0.0.0.0 --reload\n    volumes:\n      - ./app:/app/app\n",
    )
    .unwrap();
    let prod =
        "services:\n  api:\n    build:\n      context: .\n      dockerfile: Dockerfile.prod\n    image: api:1.0\n";
    std::fs::write(dir.path().join("docker-compose.prod.yml"), prod).unwrap();
    std::fs::write(dir.path().join("Dockerfile"), "FROM python:3.12-slim\n").unwrap();
    std::fs::write(dir.path().join("Dockerfile.prod"), "FROM python:3.12-slim\n").unwrap();
    let out = stackfix(dir.path(), &["bootstrap", "."]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("`api` (command, volumes)"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(dir.path().join("docker-compose.prod.yml")).unwrap(), prod);
    let out = stackfix(dir.path(), &["bootstrap", ".", "--mode", "standalone"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("Deploy with: docker compose -f ./docker-compose.prod.yml up -d"),
        "{}",
        stdout(&out)
    );
    let text = std::fs::read_to_string(dir.path().join("docker-compose.prod.yml")).unwrap();
    assert!(!text.contains("command:") && !text.contains("./app:/app/app"), "{text}");
    assert!(text.contains("restart: unless-stopped"), "{text}");
    // The choice is recorded in the header: the next run and `check` read it so.
    assert!(text.starts_with("# Deploy with: docker compose -f docker-compose.prod.yml up -d\n"), "{text}");
    let again = stackfix(dir.path(), &["bootstrap", ".", "--diff"]);
    assert_eq!((again.status.code(), stdout(&again)), (Some(0), String::new()), "{}", stderr(&again));
    assert_eq!(stderr(&stackfix(dir.path(), &["check", "."])), "");
    if let Some(compose) = compose() {
        compose_config_ok(&compose, dir.path(), &[dir.path().join("docker-compose.prod.yml")]).unwrap();
    }
    // Told to write it over the base, the header names the base too, and the development
    // `command` it leaves out, the base's, which runs, is fixed in it.
    std::fs::write(dir.path().join("docker-compose.prod.yml"), format!("\u{feff}{}", prod.replace('\n', "\r\n")))
        .unwrap();
    let out = stackfix(dir.path(), &["bootstrap", ".", "--mode", "overlay"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = std::fs::read_to_string(dir.path().join("docker-compose.prod.yml")).unwrap();
    let header = "\u{feff}# Deploy with: docker compose -f docker-compose.yml -f docker-compose.prod.yml up -d\r\n";
    assert!(text.starts_with(header), "{text:?}");
    let again = stackfix(dir.path(), &["bootstrap", ".", "--diff"]);
    assert_eq!((again.status.code(), stdout(&again)), (Some(0), String::new()), "{}", stderr(&again));
    let command = text.lines().find(|l| l.trim_start().starts_with("command:"));
    assert!(command.is_some_and(|c| !c.contains("--reload")), "{text}");
    let (_, json) = check_json(dir.path(), &["--select", "development-mode"]);
    assert_eq!(json["findings"].as_array().unwrap().len(), 0, "{json:#}");
}

/// A production file bootstrap wrote says in its header how it is deployed, and a re-run reads
/// it so, also when the file is named with `-o` and leaves out what the base gives: a standalone
/// file a person took the development `command` out of gets no `command` back.
#[test]
fn a_rerun_reads_how_the_file_is_deployed_from_its_header() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("docker-compose.yml"),
        "services:\n  api:\n    image: python:3.12-slim\n    command: uvicorn app:app --reload\n",
    )
    .unwrap();
    let out = stackfix(dir.path(), &["bootstrap", ".", "--mode", "standalone", "-o", "prod.yml"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let path = dir.path().join("prod.yml");
    let written = std::fs::read_to_string(&path).unwrap();
    assert!(written.contains("# Deploy with: docker compose -f prod.yml up -d"), "{written}");
    let edited: String =
        written.lines().filter(|l| !l.trim_start().starts_with("command:")).map(|l| format!("{l}\n")).collect();
    assert_ne!(edited, written);
    std::fs::write(&path, &edited).unwrap();
    let out = stackfix(dir.path(), &["bootstrap", ".", "-o", "prod.yml", "--diff", "--color", "never"]);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    assert!(!stdout(&out).contains("command:"), "{}", stdout(&out));
    // A header that names the base too is an overlay's.
    let overlay = edited.replace(
        "# Deploy with: docker compose -f prod.yml up -d",
        "# Deploy with: docker compose -f docker-compose.yml -f prod.yml up -d",
    );
    std::fs::write(&path, &overlay).unwrap();
    let out = stackfix(dir.path(), &["bootstrap", ".", "-o", "prod.yml", "--diff", "--color", "never"]);
    assert!(out.status.code() == Some(0) || out.status.code() == Some(1), "{}", stderr(&out));
    assert!(stdout(&out).contains("command:"), "{}", stdout(&out));
}
