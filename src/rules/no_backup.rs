use super::{Context, Finding, Rule, RuleMeta};

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
    /// A volume is not a backup. Seed 004: "Backup Strategy Absent — Implement backup script in
    /// docker-compose (cron job)"; seed 000: "Backup Strategy: No automated database backups";
    /// seed 001: "No backup strategy".
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
    /// Not automated yet (the fix above is what to do by hand); stackfix reports only.
    pub struct NoBackup => "no-backup" {
        summary: "database without a backup job",
        severity: Error,
        scope: Production,
        fix: Never,
        applicability: DisplayOnly,
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
                Finding::new(&Self::META, site, format!("{} `{}` has no backup job in this stack", s.kind, s.name))
                    .service(&s.name)
                    .help("add a scheduled dump (e.g. prodrigestivill/postgres-backup-local) writing to its own volume")
            })
            .collect()
    }
}
