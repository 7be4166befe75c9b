use std::path::{Path, PathBuf};

use super::{Applicability, Context, Finding, Rule, RuleMeta};
use crate::stack::interpolate;
use crate::stack::load::normalize;
use crate::stack::service::MountKind;
use crate::stack::FileId;

/// Directories under a code path that hold data or configuration, not code.
const DATA_DIRS: &[&str] = &[
    "data",
    "uploads",
    "media",
    "logs",
    "log",
    "storage",
    "cache",
    "tmp",
    "backups",
    "certs",
    "ssl",
    "config",
    "letsencrypt",
    "acme",
];

/// Where images usually keep their application code.
const CODE_DIRS: &[&str] = &[
    "/app",
    "/code",
    "/src",
    "/usr/src/app",
    "/var/www",
    "/var/www/html",
    "/srv/app",
    "/home/node/app",
    "/opt/app",
    "/workspace",
];

declare_rule! {
    /// ## What it does
    /// Reports production services that bind-mount a repository directory over the image's code:
    /// on the WORKDIR of the Dockerfile the service builds from, or on a usual code path (`/app`,
    /// `/code`, `/usr/src/app`, `/var/www/html`, …) or below it.
    ///
    /// ## Why it matters
    /// The container then runs whatever is checked out on the host, not the image that was built and
    /// tested. Seed 001: "Development volumes in production: `./backend:/app` allows live code
    /// changes".
    ///
    /// ## When it does not apply
    /// Single configuration files (`./nginx.conf:/etc/nginx/nginx.conf:ro`), configuration and data
    /// directories elsewhere (`./logstash/pipeline:/usr/share/logstash/pipeline`), named volumes,
    /// proxies serving static files, and development configurations next to a production file.
    ///
    /// ## Example
    /// ```yaml
    ///   backend:
    ///     build: ./backend
    ///     volumes:
    ///       - ./backend:/app
    /// ```
    ///
    /// ## Fix
    /// In the production overlay, drop the mount (`volumes: !override [...]` without it).
    ///
    /// ## Fix safety
    /// Unsafe: it removes a mount.
    pub struct SourceBindMount => "source-bind-mount" {
        summary: "source code bind-mounted in production",
        severity: Warning,
        scope: Production,
        fix: Always,
        applicability: Unsafe,
        seeds: ["001"],
    }
}

fn host_path(ctx: &Context, file: FileId, written: &str) -> PathBuf {
    let written = interpolate::resolve(written, &ctx.stack.env);
    let base = ctx.stack.file(file).path.parent().map(Path::to_path_buf).unwrap_or_default();
    normalize(&base.join(written))
}

fn is_directory(path: &Path) -> bool {
    if path.exists() {
        return path.is_dir();
    }
    path.extension().is_none()
}

impl Rule for SourceBindMount {
    fn meta(&self) -> &'static RuleMeta {
        &Self::META
    }

    fn check(&self, ctx: &Context) -> Vec<Finding> {
        let mut out = Vec::new();
        for service in &ctx.config.services {
            if ctx.stack.profiles.kind(&service.kind).is_some_and(|k| k.category == "proxy") {
                continue;
            }
            let code_dirs: Vec<&str> = CODE_DIRS.iter().copied().chain(service.workdir.as_deref()).collect();
            for mount in &service.volumes {
                let Some(source) = mount.source.as_deref() else { continue };
                if mount.kind != MountKind::Bind
                    || !source.starts_with('.')
                    || !is_directory(&host_path(ctx, mount.loc.file, source))
                {
                    continue;
                }
                let target = mount.target.trim_end_matches('/');
                let over_code = code_dirs
                    .iter()
                    .map(|d| d.trim_end_matches('/'))
                    .any(|d| !d.is_empty() && (target == d || target.starts_with(&format!("{d}/"))));
                let holds_data = target.rsplit('/').next().is_some_and(|last| DATA_DIRS.contains(&last));
                if !over_code || holds_data {
                    continue;
                }
                out.push(
                    Finding::new(
                        &Self::META,
                        mount.loc,
                        format!(
                            "service `{}` mounts source `{source}` over `{}` in production",
                            service.name, mount.target
                        ),
                    )
                    .service(&service.name)
                    .help("the container runs the checked-out files instead of the built image")
                    .fix_at(
                        service.production_site(),
                        format!("services.{}.volumes", service.name),
                        Applicability::Unsafe,
                    ),
                );
            }
        }
        out
    }
}
