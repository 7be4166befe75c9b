use serde_json::json;

use super::{Applicability, Context, Finding, Fix, FixEdit, Rule, RuleMeta};
use super::{EditOp, Target};
use crate::fix::render::template as tpl;
use crate::stack::service::Located;
use crate::stack::Service;

const DEV_WORDS: &[&str] = &["dev", "development", "develop", "debug", "test", "testing", "local"];

/// Stage names that mean "the production image", most explicit first.
const PRODUCTION_STAGES: &[&str] = &["production", "prod", "release", "runtime", "final", "deploy"];

/// Production Dockerfiles next to a development one, most explicit first.
const PRODUCTION_DOCKERFILES: &[&str] =
    &["Dockerfile.prod", "Dockerfile.production", "prod.Dockerfile", "production.Dockerfile", "Dockerfile"];

declare_rule! {
    /// ## What it does
    /// Reports production services built from a development stage (`build.target: development`,
    /// `dev`, `debug`, `test`, …) or a development Dockerfile (`Dockerfile.dev`, `dev.Dockerfile`,
    /// `Dockerfile.development`).
    ///
    /// ## Why it matters
    /// Development images carry dev servers, hot reload, debuggers and build tools, and skip the
    /// optimised build: a production file that builds them ships a bigger, slower and more
    /// exposed image than the one that was meant to run.
    ///
    /// ## When it does not apply
    /// Development configurations next to a production file.
    ///
    /// ## Example
    /// ```yaml
    ///     build:
    ///       context: ./frontend
    ///       dockerfile: Dockerfile.dev
    /// ```
    ///
    /// ## Fix
    /// The production stage or Dockerfile that exists in the repository: a stage of the same
    /// Dockerfile named `production`, `prod`, `release`, `runtime`, `final` or `deploy` (else
    /// its last stage when that is named and not a development one); a `Dockerfile.prod`,
    /// `Dockerfile.production`, `prod.Dockerfile`, `production.Dockerfile` or plain `Dockerfile`
    /// beside the development one. When none exists stackfix says so rather than invent one.
    ///
    /// ## Fix safety
    /// Unsafe: the image is built differently (check that the production stage runs the same
    /// application).
    pub struct DevBuildTarget => "dev-build-target" {
        summary: "production builds a development stage or Dockerfile",
        severity: Warning,
        area: Deployment,
        scope: Production,
        fix: Sometimes,
        applicability: Unsafe,
        seeds: ["001", "002"],
    }
}

fn is_dev_name(name: &str) -> bool {
    name.to_ascii_lowercase().split(|c: char| !c.is_ascii_alphanumeric()).any(|w| DEV_WORDS.contains(&w))
}

impl Rule for DevBuildTarget {
    fn meta(&self) -> &'static RuleMeta {
        &Self::META
    }

    fn check(&self, ctx: &Context) -> Vec<Finding> {
        let mut out = Vec::new();
        for service in &ctx.config.services {
            let Some(build) = &service.build else { continue };
            let stage = build
                .target
                .as_ref()
                .filter(|t| is_dev_name(&t.value))
                .map(|t| (t, "the stage", production_stage(service).ok_or("the Dockerfile has no production stage (`FROM … AS production`); add one, stackfix does not invent it")));
            let dockerfile = build
                .dockerfile
                .as_ref()
                .filter(|d| is_dev_name(d.value.rsplit('/').next().unwrap_or(&d.value)))
                .map(|d| (d, "the Dockerfile", production_dockerfile(service, &d.value).ok_or("there is no production Dockerfile (`Dockerfile.prod`, `Dockerfile`) beside it; write one, stackfix does not invent it")));
            for (written, what, replacement) in stage.into_iter().chain(dockerfile) {
                let finding = Finding::new(
                    &Self::META,
                    written.loc,
                    format!("service `{}` builds {what} `{}` in production", service.name, written.value),
                )
                .service(&service.name);
                out.push(match replacement {
                    // A variable chooses it: set where the variable is set.
                    _ if ctx.has_reference(written.loc) => finding.help(
                        "it comes from a variable: set it to the production one where the variable is set (`.env` or the environment)",
                    ),
                    Ok(replacement) => finding.with_fix(fix(ctx, written, what, replacement)),
                    Err(missing) => finding.help(missing),
                });
            }
        }
        out
    }
}

/// Builds `replacement` (a stage or Dockerfile name) instead of the development one.
fn fix(ctx: &Context, written: &Located<String>, what: &str, replacement: String) -> Fix {
    let edit = FixEdit::new(
        Target::Node { file: written.loc.file, at: written.loc.span },
        EditOp::Replace,
        tpl::DEV_BUILD_TARGET,
        json!({ "value": replacement }),
    );
    ctx.fix(format!("build {what} `{replacement}` instead"), Applicability::Unsafe, vec![edit])
}

/// The production stage of the Dockerfile the service builds.
fn production_stage(service: &Service) -> Option<String> {
    let named: Vec<&str> = service.build_stages.iter().flatten().map(String::as_str).collect();
    PRODUCTION_STAGES
        .iter()
        .find_map(|want| named.iter().find(|n| n.eq_ignore_ascii_case(want)))
        .map(|n| n.to_string())
        .or_else(|| service.build_stages.last().cloned().flatten().filter(|last| !is_dev_name(last)))
}

/// A production Dockerfile beside the development one `written` (as written, relative to the
/// build context), written the same way.
fn production_dockerfile(service: &Service, written: &str) -> Option<String> {
    let context = service.build_dir.as_ref()?;
    let (dir, _) = written.rsplit_once('/').unwrap_or(("", written));
    if dir.split('/').any(|part| part == "..") {
        return None;
    }
    PRODUCTION_DOCKERFILES.iter().find_map(|name| {
        let candidate = if dir.is_empty() { name.to_string() } else { format!("{dir}/{name}") };
        context.join(&candidate).is_file().then_some(candidate)
    })
}
