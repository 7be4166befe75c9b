use super::{Context, Finding, Rule, RuleMeta};

const DEV_WORDS: &[&str] = &["dev", "development", "develop", "debug", "test", "testing", "local"];

declare_rule! {
    /// ## What it does
    /// Reports production services built from a development stage (`build.target: development`,
    /// `dev`, `debug`, `test`, …) or a development Dockerfile (`Dockerfile.dev`, `dev.Dockerfile`,
    /// `Dockerfile.development`).
    ///
    /// ## Why it matters
    /// Development images carry dev servers, hot reload, debuggers and build tools, and skip the
    /// optimised build. Seed 001: "Development Dockerfile used: `Dockerfile.dev` not
    /// production-ready"; seed 002: "Development target used in production compose file".
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
    /// The production stage or Dockerfile that exists in the repository (`Dockerfile.prod`,
    /// `target: production`); when none exists stackfix says so rather than invent one.
    ///
    /// ## Fix safety
    /// Not automated yet (the fix above is what to do by hand); stackfix reports only.
    pub struct DevBuildTarget => "dev-build-target" {
        summary: "production builds a development stage or Dockerfile",
        severity: Warning,
        scope: Production,
        fix: Never,
        applicability: DisplayOnly,
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
            let stage = build.target.as_ref().filter(|t| is_dev_name(&t.value)).map(|t| (t, "the stage"));
            let dockerfile = build
                .dockerfile
                .as_ref()
                .filter(|d| is_dev_name(d.value.rsplit('/').next().unwrap_or(&d.value)))
                .map(|d| (d, "the Dockerfile"));
            for (written, what) in stage.into_iter().chain(dockerfile) {
                out.push(
                    Finding::new(
                        &Self::META,
                        written.loc,
                        format!("service `{}` builds {what} `{}` in production", service.name, written.value),
                    )
                    .service(&service.name),
                );
            }
        }
        out
    }
}
