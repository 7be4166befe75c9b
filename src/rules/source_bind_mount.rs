use std::path::{Path, PathBuf};

use serde_json::json;

use super::{Applicability, Context, Finding, Fix, FixEdit, Rule, RuleMeta};
use super::{EditOp, Target};
use crate::fix::render::template as tpl;
use crate::stack::load::normalize;
use crate::stack::service::{Mount, MountKind};
use crate::stack::FileId;
use crate::stack::Service;

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
    "conf",
    "secrets",
    "credentials",
    "keys",
];

/// Words in a mounted directory's name that say it holds credentials or settings, not code
/// (`google-credentials`, `service-keys`, `app-config`).
const DATA_WORDS: &[&str] =
    &["credential", "credentials", "secret", "secrets", "key", "keys", "cert", "certs", "config", "conf"];

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
    /// tested: a `./backend:/app` mount lets a change on the host go live without a build.
    ///
    /// ## When it does not apply
    /// Single configuration files (`./nginx.conf:/etc/nginx/nginx.conf:ro`), configuration and data
    /// directories elsewhere (`./logstash/pipeline:/usr/share/logstash/pipeline`), directories
    /// under a code path named for data, settings or credentials (`/app/uploads`,
    /// `/app/google-credentials`) or holding a path the service's environment names
    /// (`GOOGLE_APPLICATION_CREDENTIALS=/app/creds/key.json`), named volumes, proxies serving
    /// static files, and development configurations next to a production file.
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
    /// In the production overlay, drop the mount (`volumes: !override [...]` without it); in a
    /// production file no development configuration uses (`stackfix bootstrap --mode
    /// standalone`), take it out of the list.
    ///
    /// ## Fix safety
    /// Unsafe: it removes a mount.
    pub struct SourceBindMount => "source-bind-mount" {
        summary: "source code bind-mounted in production",
        severity: Warning,
        area: Deployment,
        scope: Production,
        fix: Sometimes,
        applicability: Unsafe,
        seeds: ["001"],
    }
}

/// In the production overlay, the service's volumes without the source mounts
/// (`volumes: !override [...]`); in a standalone production file, the list without them. Where
/// development uses the same file the mount stays.
fn fix(ctx: &Context, service: &Service, kept: &[&Mount]) -> Option<Fix> {
    let texts: Vec<&str> = kept.iter().map(|m| ctx.stack.text(m.loc.file, m.loc.span)).collect();
    if texts.iter().any(|t| t.contains('\n')) {
        return None;
    }
    if ctx.is_dedicated() {
        let volumes = service.value.get("volumes")?;
        let edit = FixEdit::new(
            Target::Node { file: volumes.loc.file, at: volumes.loc.span },
            EditOp::Replace,
            tpl::SOURCE_BIND_MOUNT_KEPT,
            json!({ "volumes": texts }),
        );
        return Some(ctx.fix("drop the source mounts", Applicability::Unsafe, vec![edit]));
    }
    if !ctx.has_overlay() {
        return None;
    }
    let edit = FixEdit::new(
        Target::Service(ctx.production_site(service)),
        EditOp::Merge,
        tpl::SOURCE_BIND_MOUNT,
        json!({ "volumes": texts }),
    );
    let how = if texts.is_empty() { "`volumes: !reset []`" } else { "`volumes: !override`" };
    Some(ctx.fix(format!("drop the source mounts in production ({how})"), Applicability::Unsafe, vec![edit]))
}

fn host_path(ctx: &Context, file: FileId, written: &str) -> PathBuf {
    normalize(&ctx.stack.file(file).base_dir.join(written))
}

fn is_directory(path: &Path) -> bool {
    // One `stat`: the rule asks it of every bind mount, in every pass of a fix run.
    match std::fs::metadata(path) {
        Ok(meta) => meta.is_dir(),
        Err(_) => path.extension().is_none(),
    }
}

impl Rule for SourceBindMount {
    fn meta(&self) -> &'static RuleMeta {
        &Self::META
    }

    fn check(&self, ctx: &Context) -> Vec<Finding> {
        let mut out = Vec::new();
        for service in &ctx.config.services {
            if ctx
                .stack
                .profiles
                .kind(&service.kind)
                .is_some_and(|k| k.category == crate::stack::catalog::Category::Proxy)
            {
                continue;
            }
            let code_dirs: Vec<&str> = CODE_DIRS.iter().copied().chain(service.workdir.as_deref()).collect();
            let is_source = |mount: &Mount| {
                let Some(source) = mount.source.as_deref() else { return false };
                if mount.kind != MountKind::Bind
                    || !source.starts_with('.')
                    || !is_directory(&host_path(ctx, mount.loc.file, source))
                {
                    return false;
                }
                let target = mount.target.trim_end_matches('/');
                let over_code = code_dirs
                    .iter()
                    .map(|d| d.trim_end_matches('/'))
                    .any(|d| !d.is_empty() && (target == d || target.starts_with(&format!("{d}/"))));
                let last = target.rsplit('/').next().unwrap_or("");
                let holds_data = DATA_DIRS.contains(&last)
                    || last
                        .split(|c: char| !c.is_ascii_alphanumeric())
                        .any(|w| DATA_WORDS.contains(&w.to_ascii_lowercase().as_str()));
                // A path inside it that the service's environment names is a file the program
                // reads (`GOOGLE_APPLICATION_CREDENTIALS=/app/creds/key.json`): data it needs.
                // Not for the code path itself (`PYTHONPATH=/app` says nothing of a `.:/app`), and
                // only from a variable named for such a file.
                let is_code_dir = code_dirs.iter().any(|d| d.trim_end_matches('/') == target);
                let data_variable = |name: &str| {
                    let name = name.to_ascii_uppercase();
                    ["CREDENTIAL", "KEY", "CERT", "CONFIG", "SECRET", "TOKEN", "FILE"].iter().any(|w| name.contains(w))
                };
                let inside = format!("{target}/");
                let named = !target.is_empty()
                    && !is_code_dir
                    && service
                        .environment
                        .iter()
                        .filter(|e| data_variable(&e.name))
                        .filter_map(|e| e.value.as_deref())
                        .any(|v| v.split([' ', ',', ':', '=']).any(|p| p.starts_with(&inside)));
                over_code && !holds_data && !named
            };
            let (sources, kept): (Vec<&Mount>, Vec<&Mount>) = service.volumes.iter().partition(|m| is_source(m));
            let fix = fix(ctx, service, &kept);
            for mount in sources {
                out.push(
                    Finding::new(
                        &Self::META,
                        mount.loc,
                        format!(
                            "service `{}` mounts source `{}` over `{}` in production",
                            service.name,
                            mount.source.as_deref().unwrap_or(""),
                            mount.target
                        ),
                    )
                    .service(&service.name)
                    .help("the container runs the checked-out files instead of the built image")
                    .with_fix_opt(fix.clone()),
                );
            }
        }
        out
    }
}
