use serde_json::json;

use super::exporters::credentials;
use super::{Applicability, Context, Finding, Fix, FixEdit, Rule, RuleMeta, Site};
use super::{EditOp, Target};
use crate::fix::render::template as tpl;
use crate::stack::profiles::{image_repository, image_tag};
use crate::stack::service::MountKind;
use crate::stack::Service;

/// Command words of a backup job.
const BACKUP_COMMANDS: &[&str] = &[
    "pg_dump",
    "pg_dumpall",
    "pg_basebackup",
    "mysqldump",
    "mariadb-dump",
    "mongodump",
    "wal-g",
    "pgbackrest",
    "restic",
    "borg",
];

declare_rule! {
    /// ## What it does
    /// Reports production databases (postgres, mysql/mariadb, mongo) when nothing in the stack backs
    /// them up: no backup service (postgres-backup-local, db-backup, docker-volume-backup, …), no
    /// job running `pg_dump`/`mysqldump`/`mongodump`, no WAL archiving.
    ///
    /// ## Why it matters
    /// A volume is not a backup: a dropped table, a corrupted file or a deleted volume takes the
    /// data with it, and a backup nobody scheduled is never there when it is needed.
    ///
    /// ## When it does not apply
    /// Stacks with a backup service or job, and development configurations next to a production
    /// file.
    ///
    /// ## Example
    /// ```yaml
    ///   postgres:
    ///     image: postgres:16
    ///     volumes: [pgdata:/var/lib/postgresql/data]
    /// ```
    ///
    /// ## Fix
    /// A backup service for the database (`prodrigestivill/postgres-backup-local` with a schedule and
    /// retention) writing to its own volume, credentials by reference.
    ///
    /// ## Fix safety
    /// Safe when the database's credentials are references: it adds a service and a volume. When the
    /// database writes its password literally, the fix also moves that literal to a required
    /// variable (as `hardcoded-secret` does, at every place the credential is written) so both
    /// read the same one; it is then unsafe: the stack needs that variable to start.
    pub struct NoBackup => "no-backup" {
        summary: "database without a backup job",
        severity: Error,
        area: DataProtection,
        scope: Production,
        fix: Sometimes,
        applicability: Safe,
        seeds: ["000", "001", "002", "004"],
    }
}

impl Rule for NoBackup {
    fn meta(&self) -> &'static RuleMeta {
        &Self::META
    }

    fn check(&self, ctx: &Context) -> Vec<Finding> {
        let profiles = &ctx.stack.profiles;
        let backed_up = ctx.config.services.iter().any(|s| {
            let command = s.command_line();
            s.kind == "backup"
                || command
                    .split(|c: char| c.is_whitespace() || c == ';' || c == '&' || c == '|')
                    .any(|w| BACKUP_COMMANDS.iter().any(|b| w.ends_with(b)))
                || command.contains("archive_command")
                || s.labels.iter().any(|(k, _)| k.starts_with("docker-volume-backup."))
        });
        if backed_up {
            return Vec::new();
        }
        ctx.config
            .services
            .iter()
            .filter(|s| profiles.kind(&s.kind).is_some_and(|k| k.backup))
            .map(|s| {
                let site = s.production_site();
                let finding =
                    Finding::new(&Self::META, site, format!("{} `{}` has no backup job in this stack", s.kind, s.name))
                        .service(&s.name);
                match fix(ctx, s) {
                    Ok(fix) => finding
                        .help("add a scheduled dump job (pg_dump, mysqldump, mongodump) writing to its own volume")
                        .with_fix(fix),
                    Err(reason) => finding.help(format!(
                        "not fixed: {reason}; add a scheduled dump job (pg_dump, mysqldump, mongodump) by hand"
                    )),
                }
            })
            .collect()
    }
}

/// A `<store>-backup` service with its own named volume, for a store with a named data
/// volume: for postgres, prodrigestivill/postgres-backup-local tagged with the server's major
/// version (pg_dump cannot dump a newer server), on a cron `schedule` (default daily) keeping
/// `keep_days`/`keep_weeks`/`keep_months` (7/4/6); for mysql/mariadb and mongo, the store's own
/// pinned image (the dump tool matches the server) running `mysqldump`/`mariadb-dump`/`mongodump`
/// every `interval` seconds (default a day) and deleting dumps older than `keep_days`.
/// Credentials by reference.
/// Why there is none, when there is none.
fn fix(ctx: &Context, store: &Service) -> Result<Fix, String> {
    if !store.volumes.iter().any(|m| m.kind == MountKind::Volume) {
        return Err("it keeps no data in a named volume, which the job would read through the server".into());
    }
    if !super::is_service_name(&store.name) {
        return Err("its name cannot name the job's service".into());
    }
    if let Some(why) = super::unreachable_by_name(store) {
        return Err(why);
    }
    let name = format!("{}-backup", store.name);
    let volume = format!("{}-backups", store.name);
    let declared = ctx.config.doc.get("volumes").is_some_and(|v| v.get(&volume).is_some());
    if ctx.config.service(&name).is_some() || declared {
        return Err(format!("a service `{name}` or a volume `{volume}` exists already"));
    }
    let unpinned =
        "its image's tag is not pinned (`latest`, none, or a variable), and the dump tool must match the server";
    // A store built here runs what its Dockerfile starts from.
    let pulled = match &store.image_facts.origin {
        crate::stack::facts::ImageOrigin::Built(base) => Some(base.clone()),
        // A tag a variable chooses is not known (the environment may choose another).
        _ => store.image.as_ref().filter(|i| !ctx.has_reference(i.loc)).map(|i| i.value.clone()),
    };
    let store_image = pulled.filter(|i| image_tag(i).is_some_and(|t| t != "latest"));
    let (image, tool) = match store.kind.as_str() {
        "postgres" => {
            // pg_dump refuses a server newer than itself: the backup image's major version must
            // be the server's, so an unknown one (`latest`, a variable) gets no backup.
            let major = postgres_major(store_image.as_deref().ok_or(unpinned)?)
                .ok_or("its image's tag does not name the server's major version, which pg_dump must match")?;
            (format!("prodrigestivill/postgres-backup-local:{major}"), "pg_dump")
        }
        "mysql" => {
            let image = store_image.ok_or(unpinned)?;
            let tool = if image_repository(&image).1.contains("mariadb") { "mariadb-dump" } else { "mysqldump" };
            (image, tool)
        }
        "mongo" => (store_image.ok_or(unpinned)?, "mongodump"),
        kind => return Err(format!("no dump job is known for {kind}")),
    };
    let mut new_variables = Vec::new();
    let credentials = credentials(ctx, store, &mut new_variables).ok_or(
        "its credentials come from an `env_file`, from files (`*_PASSWORD_FILE`), from names built by \
             interpolation, or have a literal fallback (`${VAR:-x}`): a job must be given them by hand",
    )?;
    let file = store.definition_site().file;
    let profiles = super::companion_profiles(ctx, store, file)?;
    let networks: Vec<String> =
        store.value.get("networks").map(|n| n.entries().iter().map(|(k, _)| k.clone()).collect()).unwrap_or_default();
    let mut edits = vec![
        FixEdit::new(
            Target::Service(Site::Definition { service: name.clone(), file }),
            EditOp::Merge,
            tpl::NO_BACKUP,
            json!({
                "image": image,
                "tool": tool,
                "store": store.name,
                "credentials": credentials,
                "volume": volume,
                "networks": networks,
                "profiles": profiles,
            }),
        ),
        FixEdit::new(Target::Root(file), EditOp::Merge, tpl::NO_BACKUP_VOLUME, json!({ "volume": volume })),
    ];
    if let Some(kind) = ctx.stack.profiles.kind("backup") {
        edits.extend(ctx.production_settings(&name, kind, file));
    }
    let applicability = if new_variables.is_empty() { Applicability::Safe } else { Applicability::Unsafe };
    edits.extend(
        super::exporters::secret_edits(ctx, store, &new_variables)
            .ok_or("its literal credentials cannot be moved to variables for the job to read")?,
    );
    let mut title = format!("add `{name}`: daily {tool} of `{}` into volume `{volume}`", store.name);
    if !new_variables.is_empty() {
        title.push_str(&format!(", both reading `{}` (set it: it was a literal)", new_variables.join("`, `")));
    }
    Ok(ctx.fix(title, applicability, edits))
}

/// The major version of a postgres image from its tag: `16`, `16.4-alpine`, `pg17` (pgvector),
/// `2.17.2-pg17` (timescaledb); `None` when the tag does not say.
fn postgres_major(image: &str) -> Option<u32> {
    let tag = image_tag(image)?;
    let major = |t: &str| t.split(['.', '-']).next()?.parse::<u32>().ok().filter(|m| (10..100).contains(m));
    if let Some(i) = tag.find("pg") {
        return major(&tag[i + 2..]);
    }
    let (_, repository) = image_repository(image);
    // Images whose own version leads the tag name no server version there.
    if matches!(repository, "timescale/timescaledb" | "timescale/timescaledb-ha") {
        return None;
    }
    major(tag)
}

#[cfg(test)]
mod tests {
    use super::postgres_major;

    #[test]
    fn postgres_majors() {
        assert_eq!(postgres_major("postgres:16.4-alpine"), Some(16));
        assert_eq!(postgres_major("postgres:16"), Some(16));
        assert_eq!(postgres_major("pgvector/pgvector:pg17"), Some(17));
        assert_eq!(postgres_major("timescale/timescaledb:2.17.2-pg17"), Some(17));
        assert_eq!(postgres_major("timescale/timescaledb:latest-pg17"), Some(17));
        assert_eq!(postgres_major("timescale/timescaledb:2.17.2"), None);
        assert_eq!(postgres_major("postgres:latest"), None);
        assert_eq!(postgres_major("postgres"), None);
    }
}
