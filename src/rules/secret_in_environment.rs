use serde_json::json;

use super::hardcoded_secret::is_secret_name;
use super::{Applicability, Context, EditOp, Finding, Fix, FixEdit, Rule, RuleMeta, Severity, Site, Target};
use crate::fix::render::template as tpl;
use crate::stack::catalog::{BothSet, Catalog, FileVariables, ImageEntry};
use crate::stack::interpolate;
use crate::stack::service::EnvVar;
use crate::stack::Service;

declare_rule! {
    /// ## What it does
    /// Reports secrets a production service passes in its environment (`POSTGRES_PASSWORD`,
    /// `MYSQL_ROOT_PASSWORD`, …) where its image's entrypoint also reads them from a file
    /// (`POSTGRES_PASSWORD_FILE`): the official `postgres` (10 and later), `mysql` (8.0 and later)
    /// and `mariadb` (10.6 and later) images and `prodrigestivill/postgres-backup-local` (the
    /// job `no-backup` adds), as the image catalog lists them with the entrypoint that reads
    /// them. A service that sets both `NAME` and `NAME_FILE` is reported too: the official
    /// images' entrypoints stop at start when both are set (an error), the backup job's reads
    /// the file and ignores `NAME`, which its environment still shows.
    ///
    /// ## Why it matters
    /// A container's environment is part of its configuration: `docker inspect` shows it to
    /// anyone who can reach the Docker API, `docker compose config` prints it, and it is copied
    /// into every process the container starts. A compose secret is mounted as a file in
    /// `/run/secrets/` instead, and is not in the container's configuration
    /// (https://docs.docker.com/compose/how-tos/use-secrets/). The entrypoint still exports the
    /// value to the server it starts.
    ///
    /// ## When it does not apply
    /// Images the catalog does not know to read `*_FILE` variables, built images, variables that
    /// are not secrets (`POSTGRES_USER`), and development configurations next to a production
    /// file.
    ///
    /// ## Example
    /// ```yaml
    ///   db:
    ///     image: postgres:16.4
    ///     environment:
    ///       POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    ///   db:
    ///     image: postgres:16.4
    ///     environment:
    ///       POSTGRES_PASSWORD_FILE: /run/secrets/postgres_password
    ///     secrets:
    ///       - postgres_password
    /// secrets:
    ///   postgres_password:
    ///     environment: POSTGRES_PASSWORD
    /// ```
    /// The secret reads the same variable the value came from (`.env` or the shell), so every
    /// other place that interpolates it (a client's connection string) keeps the same value, and
    /// nothing is written to a file. The value must not be empty at deploy time: compose creates
    /// no secret for an empty value (and the entrypoint then stops). An `environment` source needs
    /// Docker Compose v2: 2.6.1 or later reads it (docker/compose 005fc25), 2.20.0 or later writes
    /// the file readable by every user (fd0e0a2, which images that start as another user, such as
    /// the `-ubi` MariaDB images, need); not Compose v1 nor `docker stack deploy`. Offered only where the value is a reference to one variable
    /// (`${VAR}`, `${VAR:?…}`): a literal is `hardcoded-secret`'s to move first. Not offered when
    /// the service replaces the image's entrypoint, user or server command (the entrypoint reads
    /// the file only when it starts the server), has `read_only: true` (compose copies an
    /// `environment` secret into the container, which a read-only root refuses) or can get it
    /// from `writable-root-filesystem` (the read-only root comes first, whichever rules a run
    /// selects: set `read_only: false` to take this fix instead), sets the
    /// variable in an `env_file` too (or one it names cannot be read here), extends another
    /// service or is extended, another configuration sets the variable too, the value is empty in
    /// `.env`, has a health check that reads it or runs a script (a health check runs with
    /// the container's configured environment, not the one the entrypoint exports), or when a
    /// top-level secret of that name already exists with another source.
    ///
    /// ## Fix safety
    /// Unsafe: it changes where the value comes from, and `docker compose up` then refuses to
    /// start the service until the variable is set (rather than passing an empty value); the
    /// variable's name (never its value) is added to `.env.example`.
    pub struct SecretInEnvironment => "secret-in-environment" {
        summary: "secret passed in the environment where the image reads it from a file",
        severity: Info,
        area: Security,
        scope: Production,
        fix: Sometimes,
        applicability: Unsafe,
        seeds: ["000", "001"],
    }
}

/// The image's `*_FILE` fact for `service`, when the catalog has one for its tag.
fn file_variables(service: &Service) -> Option<(&'static ImageEntry, &'static FileVariables)> {
    if service.build.is_some() {
        return None;
    }
    Catalog::builtin().file_variables(service.image.as_ref()?.value.as_str())
}

/// The entrypoint the fact cites (its first address).
fn cited(fact: &FileVariables) -> &str {
    fact.source.split_whitespace().find(|w| w.starts_with("https://")).unwrap_or(&fact.source)
}

/// The one variable `written` reads (`${VAR}`, `$VAR`, `${VAR:?message}`), with nothing else in
/// the value; `None` for a literal, a default (`${VAR:-x}`) or several references.
fn sole_reference(written: &str) -> Option<String> {
    let refs = interpolate::references(written);
    match refs.as_slice() {
        [only] if matches!(only.operator, "" | ":?" | "?") && !interpolate::has_literal(written) => {
            Some(only.name.clone())
        }
        _ => None,
    }
}

/// The fix for `var` of `service`, or why there is none.
fn fix(ctx: &Context, service: &Service, entry: &ImageEntry, var: &EnvVar, extends: &Extends) -> Result<Fix, String> {
    // A bare name passes the project's variable of that name (`.env` or the shell), which the
    // secret reads the same way.
    let variable = match var.written() {
        None => var.name.clone(),
        Some(written) => sole_reference(written).ok_or(
            "its value is not a reference to one variable; move a literal with `hardcoded-secret` first, then this fix \
             moves the variable",
        )?,
    };
    super::starts_as_image(service, entry)?;
    if service.value.get("read_only").is_some_and(|v| v.is_compose_true()) {
        return Err("it has `read_only: true`, and compose copies an `environment` secret into the container; \
                    give the secret a `file:` source by hand"
            .into());
    }
    // The read-only root `writable-root-filesystem` can give the service comes first: the two
    // cannot go together, and which one a run writes must not depend on the order of fixes.
    if super::is_hardening_candidate(ctx, service) && super::writable_root_filesystem::writes(ctx, service).is_ok() {
        return Err("its root filesystem can be made read-only (`writable-root-filesystem`), which cannot take an \
                    `environment` secret; set `read_only: false` to take this fix instead, or give the secret a \
                    `file:` source by hand"
            .into());
    }
    // A health check runs with the container's configured environment, not the one the
    // entrypoint exports to its server: one that reads the variable would lose it.
    let probe_reads = probe_text(service)
        .is_some_and(|t| t.contains(&format!("${}", var.name)) || t.contains(&format!("${{{}", var.name)));
    if probe_reads {
        return Err(format!("its health check reads `{}` from the container's environment", var.name));
    }
    // A script it runs (a mounted `/healthchecks/postgres.sh`) may read it too: not known.
    if let Some(script) = probe_script(service) {
        return Err(format!(
            "its health check runs `{script}`, which may read `{}` from the container's environment",
            var.name
        ));
    }
    let file = service.definition_site().file;
    if var.loc.file != file || var.loc.via_alias || !ctx.env_name_written(var) {
        return Err("the variable is set in another file, through an alias, or by interpolation".into());
    }
    if service.env_file.iter().any(|(name, _)| *name == var.name || *name == format!("{}_FILE", var.name)) {
        return Err(format!("an `env_file` of the service sets `{}` too", var.name));
    }
    if let Some(missing) = service.env_file_unread.first() {
        return Err(format!("its `env_file` `{missing}` could not be read here, and may set the variable too"));
    }
    // compose creates no secret from an empty value (docker/compose `injectFileReferences`), and
    // the entrypoint then finds no file and stops; an empty value passed in the environment
    // worked (with `POSTGRES_HOST_AUTH_METHOD=trust`, say).
    if ctx.stack.env.get(&variable).is_some_and(|v| v.is_empty()) {
        return Err(format!(
            "`{variable}` is empty in `.env`, and compose mounts no secret for an empty value: the entrypoint \
             would find no file"
        ));
    }
    if let Some(other) = extends.get(service.name.as_str()) {
        return Err(format!(
            "`{other}` extends it, or it extends `{other}`: the environments merge, and one would keep `{}` \
             beside `{}_FILE`",
            var.name, var.name
        ));
    }
    // Every place the edit reaches: other services that read the same entry (an anchor), and the
    // other configurations that load this file (a development override that sets the variable
    // itself would then set both).
    if ctx.stack.file(var.loc.file).shared_anchors.iter().any(|anchor| anchor.contains(var.loc.span)) {
        return Err("the variable is in a YAML anchor other places alias".into());
    }
    for config in ctx.stack.configs.iter().filter(|c| c.files.contains(&var.loc.file)) {
        if let Some(other) = config.service(&service.name) {
            let elsewhere =
                other.env(&var.name).is_some_and(|v| v.loc.file != var.loc.file || v.loc.span != var.loc.span);
            let file_set = other.variables().any(|(name, _)| name == format!("{}_FILE", var.name));
            if elsewhere || file_set {
                return Err(format!(
                    "another configuration of the stack sets `{}` or `{}_FILE` for it too, and would set both",
                    var.name, var.name
                ));
            }
        }
    }
    let secret = variable.to_ascii_lowercase();
    let mut edits = Vec::new();
    let same_source = |config: &crate::stack::Config| match config.doc.get("secrets").and_then(|s| s.get(&secret)) {
        Some(existing) => existing.get("environment").and_then(|e| e.as_str()) == Some(variable.as_str()),
        None => true,
    };
    if !ctx.stack.configs.iter().filter(|c| c.files.contains(&file)).all(same_source) {
        return Err(format!("a top-level secret `{secret}` exists already, with another source"));
    }
    // Written in this file even when another file defines it the same way: every configuration
    // that loads this file needs it (an equal entry here is left as it is).
    edits.push(FixEdit::new(
        Target::Root(file),
        EditOp::Merge,
        tpl::SECRET_IN_ENVIRONMENT_SECRET,
        json!({ "secret": secret, "variable": variable }),
    ));
    // Given already under another name (`target: pg_pass`): the file is not where this fix points.
    let retargeted = service.value.get("secrets").is_some_and(|s| {
        s.items().iter().any(|i| {
            secret_name(i) == Some(&secret)
                && i.get("target")
                    .and_then(|t| t.as_str())
                    .is_some_and(|t| t != secret && t != format!("/run/secrets/{secret}"))
        })
    });
    if retargeted {
        return Err(format!("it is given the secret `{secret}` at another path (`target:`)"));
    }
    let listed = service.value.get("secrets").map(|s| s.items().iter().any(|i| secret_name(i) == Some(&secret)));
    match (service.value.get("secrets"), listed) {
        (_, Some(true)) => {}
        (Some(list), _) if list.loc.file == file && !list.loc.via_alias && !list.items().is_empty() => {
            edits.push(FixEdit::new(
                Target::Node { file, at: list.loc.span },
                EditOp::Append,
                tpl::SECRET_IN_ENVIRONMENT_SERVICE,
                json!({ "secret": secret, "list": true }),
            ))
        }
        (Some(_), _) => return Err("its `secrets:` list is empty, written elsewhere or through an alias".into()),
        (None, _) => edits.push(FixEdit::new(
            Target::Service(Site::Definition { service: service.name.clone(), file }),
            EditOp::Merge,
            tpl::SECRET_IN_ENVIRONMENT_SERVICE,
            json!({ "secret": secret, "list": false }),
        )),
    }
    // `docker compose up` now needs the variable set (an unset one no longer passes as empty).
    edits.push(FixEdit::env_example(variable.clone()));
    let item = var.loc.key == Some(var.loc.span);
    edits.insert(
        0,
        if item {
            super::env_value_edit(
                ctx,
                var,
                tpl::SECRET_IN_ENVIRONMENT_ITEM,
                json!({ "name": var.name, "secret": secret }),
            )
        } else {
            FixEdit::new(
                Target::Node { file, at: var.loc.span },
                EditOp::ReplaceEntry(format!("{}_FILE", var.name)),
                tpl::SECRET_IN_ENVIRONMENT,
                json!({ "secret": secret }),
            )
        },
    );
    Ok(ctx.fix(
        format!("pass `{}` as the compose secret `{secret}` (`{}_FILE`), read from `{variable}`", var.name, var.name),
        Applicability::Unsafe,
        edits,
    ))
}

/// The command line of the service's own health check: a string `test`, or the words of a list
/// after `CMD`/`CMD-SHELL`, joined.
fn probe_text(service: &Service) -> Option<String> {
    let test = service.value.get("healthcheck")?.get("test")?;
    Some(match test.items() {
        [] => test.as_str()?.to_string(),
        items => {
            let words: Vec<&str> = items.iter().filter_map(|i| i.as_str()).collect();
            match words.split_first() {
                Some((&("CMD" | "CMD-SHELL"), args)) => args.join(" "),
                _ => words.join(" "),
            }
        }
    })
}

/// A script the service's own health check runs (a program named by a path, or a file with a
/// script's extension handed to an interpreter), whose reading of the environment is not known.
/// Arguments (`curl http://…/health`, `test -f /tmp/ready`) are not programs.
fn probe_script(service: &Service) -> Option<String> {
    let text = probe_text(service)?;
    let interpreters = ["sh", "bash", "ash", "dash", "python", "python3", "perl", "ruby", "node", "source", "."];
    let is_script = |w: &str| {
        let w = w.trim_matches(|c| c == '"' || c == '\'' || c == '(' || c == ')');
        w.contains('/') || [".sh", ".bash", ".py", ".pl", ".rb", ".js"].iter().any(|e| w.ends_with(e))
    };
    for command in text.split([';', '|', '&', '\n']) {
        let mut words = command.split_whitespace().filter(|w| !w.contains('='));
        let Some(program) = words.next() else { continue };
        if is_script(program) {
            return Some(program.to_string());
        }
        let name = program.rsplit('/').next().unwrap_or(program);
        if interpreters.contains(&name) {
            if let Some(script) = words.find(|w| !w.starts_with('-')).filter(|w| is_script(w)) {
                return Some(script.to_string());
            }
        }
    }
    None
}

/// For each service that extends another or is extended, one service on the other side.
type Extends<'a> = std::collections::HashMap<&'a str, &'a str>;

fn extends_of<'a>(ctx: &Context<'a>) -> Extends<'a> {
    let mut out = Extends::new();
    for (service, base) in &ctx.stack.extends {
        out.entry(service.as_str()).or_insert(base.as_str());
        out.entry(base.as_str()).or_insert(service.as_str());
    }
    out
}

/// The secret a `secrets:` item gives (`name`, or `source: name` in the long form).
fn secret_name(item: &crate::stack::Value) -> Option<&str> {
    item.as_str().or_else(|| item.get("source").and_then(|s| s.as_str()))
}

impl Rule for SecretInEnvironment {
    fn meta(&self) -> &'static RuleMeta {
        &Self::META
    }

    fn check(&self, ctx: &Context) -> Vec<Finding> {
        let mut out = Vec::new();
        let extends = extends_of(ctx);
        for service in &ctx.config.services {
            let Some((entry, fact)) = file_variables(service) else { continue };
            for var in &service.environment {
                let named = fact.values.contains(&var.name);
                if !named || !is_secret_name(&var.name) || var.written().is_some_and(|w| w.trim().is_empty()) {
                    continue;
                }
                let file_var = format!("{}_FILE", var.name);
                if service.variables().any(|(name, _)| name == file_var) {
                    let finding = match fact.both {
                        // A start failure, not a hardening remark.
                        BothSet::Refused => {
                            let mut finding = Finding::new(
                                &Self::META,
                                var.loc,
                                format!(
                                    "service `{}` sets both `{}` and `{file_var}`: the image's entrypoint stops at \
                                     start when both are set",
                                    service.name, var.name
                                ),
                            )
                            .help(format!("keep one of them ({})", cited(fact)));
                            finding.severity = Severity::Error;
                            finding
                        }
                        BothSet::FileWins => Finding::new(
                            &Self::META,
                            var.loc,
                            format!(
                                "service `{}` sets both `{}` and `{file_var}`: the image reads the file and ignores \
                                 `{}`, which `docker inspect` still shows",
                                service.name, var.name, var.name
                            ),
                        )
                        .help(format!("remove `{}` ({})", var.name, cited(fact))),
                    };
                    out.push(finding.service(&service.name));
                    continue;
                }
                let finding = Finding::new(
                    &Self::META,
                    var.loc,
                    format!(
                        "`{}` of service `{}` is passed in the container's environment, which `docker inspect` shows; \
                         the image reads it from a file (`{file_var}`)",
                        var.name, service.name
                    ),
                )
                .service(&service.name);
                out.push(match fix(ctx, service, entry, var, &extends) {
                    Ok(fix) => finding
                        .help(format!(
                            "pass it as a compose secret mounted in /run/secrets; the entrypoint reads `{file_var}` ({})",
                            cited(fact)
                        ))
                        .with_fix(fix),
                    Err(reason) => finding.help(format!("not fixed: {reason}")),
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::sole_reference;

    #[test]
    fn health_check_scripts() {
        use crate::stack::Service;
        let probe = |test: &str| {
            let text = format!("healthcheck:\n  test: {test}\n");
            let tree = crate::yaml::Tree::parse(text).unwrap();
            let value = crate::stack::Value::from_tree(&tree, tree.root().unwrap(), 0).unwrap();
            super::probe_script(&Service::from_value("db", value, Vec::new(), &Default::default()))
        };
        assert_eq!(probe(r#"["CMD", "/healthchecks/postgres.sh"]"#).as_deref(), Some("/healthchecks/postgres.sh"));
        assert_eq!(probe(r#"["CMD-SHELL", "bash -e check.sh || exit 1"]"#).as_deref(), Some("check.sh"));
        assert_eq!(probe(r#"["CMD-SHELL", "PGPASSWORD=x ./probe && true"]"#).as_deref(), Some("./probe"));
        assert_eq!(probe(r#"["CMD", "curl", "-f", "http://localhost/health"]"#), None);
        assert_eq!(probe(r#""test -f /tmp/ready""#), None);
        assert_eq!(probe(r#"["CMD-SHELL", "pg_isready -U postgres -h 127.0.0.1"]"#), None);
    }

    #[test]
    fn only_a_lone_reference_moves() {
        assert_eq!(sole_reference("${DB_PASSWORD}").as_deref(), Some("DB_PASSWORD"));
        assert_eq!(sole_reference("$DB_PASSWORD").as_deref(), Some("DB_PASSWORD"));
        assert_eq!(sole_reference("${DB_PASSWORD:?set it}").as_deref(), Some("DB_PASSWORD"));
        assert_eq!(sole_reference("${DB_PASSWORD:-postgres}"), None);
        assert_eq!(sole_reference("x${DB_PASSWORD}"), None);
        assert_eq!(sole_reference("${A}${B}"), None);
        assert_eq!(sole_reference("postgres"), None);
    }
}
