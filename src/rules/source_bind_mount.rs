use std::path::{Path, PathBuf};

use super::{Applicability, Context, Finding, Rule, RuleMeta};
use crate::stack::interpolate;
use crate::stack::load::normalize;
use crate::stack::service::MountKind;
use crate::stack::FileId;

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
    /// Reports production services that bind-mount source code from the repository over the image:
    /// a directory inside the service's build context, or a repository directory mounted on a usual
    /// code path (`/app`, `/code`, `/usr/src/app`, `/var/www/html`, …).
    ///
    /// ## Why it matters
    /// The container then runs whatever is checked out on the host, not the image that was built and
    /// tested. Seed 001: "Development volumes in production: `./backend:/app` allows live code
    /// changes".
    ///
    /// ## When it does not apply
    /// Single configuration files (`./nginx.conf:/etc/nginx/nginx.conf:ro`), data directories, named
    /// volumes, and development configurations next to a production file.
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
            let serves_files = ctx.stack.profiles.kind(&service.kind).is_some_and(|k| k.category == "proxy");
            let context = service.build.as_ref().and_then(|b| {
                b.context.as_deref().filter(|c| !c.contains("://")).map(|c| host_path(ctx, b.loc.file, c))
            });
            for mount in &service.volumes {
                let Some(source) = mount.source.as_deref() else {
                    continue;
                };
                if mount.kind != MountKind::Bind || !source.starts_with('.') {
                    continue;
                }
                let host = host_path(ctx, mount.loc.file, source);
                if !is_directory(&host) {
                    continue;
                }
                let in_context = context.as_ref().is_some_and(|c| host.starts_with(c));
                let on_code_path = !serves_files && CODE_DIRS.iter().any(|d| mount.target.trim_end_matches('/') == *d);
                if !in_context && !on_code_path {
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
