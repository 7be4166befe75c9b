use super::{Context, Finding, Rule, RuleMeta};
use crate::stack::profiles::image_tag;

declare_rule! {
    /// ## What it does
    /// Reports production images without a tag, with `:latest`, or whose tag interpolates to
    /// nothing or `latest`.
    ///
    /// ## Why it matters
    /// An unpinned image changes under you at the next pull: deploys stop being reproducible and a
    /// rollback does not roll back. A pinned tag (`postgres:15.7-alpine`) or a digest keeps what
    /// runs what was tested.
    ///
    /// ## When it does not apply
    /// Services that also `build:` (the image names the build result), images pinned by digest,
    /// development configurations next to a production file.
    ///
    /// ## Example
    /// ```yaml
    ///     image: edoburu/pgbouncer:latest
    /// ```
    ///
    /// ## Fix
    /// Pin the version you run (`edoburu/pgbouncer:1.22.1`). stackfix cannot know it, so this rule
    /// only reports.
    ///
    /// ## Fix safety
    /// No fix.
    pub struct UnpinnedImage => "unpinned-image" {
        summary: "image without a pinned version",
        severity: Warning,
        area: Deployment,
        scope: Production,
        fix: Never,
        applicability: DisplayOnly,
        seeds: ["002", "003"],
    }
}

impl Rule for UnpinnedImage {
    fn meta(&self) -> &'static RuleMeta {
        &Self::META
    }

    fn check(&self, ctx: &Context) -> Vec<Finding> {
        let mut out = Vec::new();
        for service in &ctx.config.services {
            let Some(image) = &service.image else {
                continue;
            };
            if service.build.is_some() || image.value.is_empty() {
                continue;
            }
            let problem = match image_tag(&image.value) {
                None => "has no tag (pulls `latest`)",
                Some("latest") => "uses `:latest`",
                Some(_) => continue,
            };
            out.push(
                Finding::new(
                    &Self::META,
                    image.loc,
                    format!("image `{}` of service `{}` {problem}", image.value, service.name),
                )
                .service(&service.name)
                .help("pin the version you deploy, or a digest"),
            );
        }
        out
    }
}
