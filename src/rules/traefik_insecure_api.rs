use serde_json::json;

use super::{Applicability, Context, Finding, FixEdit, Rule, RuleMeta};
use super::{EditOp, Target};
use crate::fix::render::template as tpl;
use crate::stack::{Loc, Value};

declare_rule! {
    /// ## What it does
    /// Reports Traefik started with `--api.insecure=true` (or `api: {insecure: true}` in its
    /// static configuration).
    ///
    /// ## Why it matters
    /// The insecure API serves the dashboard and the whole routing configuration on port 8080 with
    /// no authentication. A dashboard belongs behind a router with authentication (basic auth or
    /// forward auth).
    ///
    /// ## When it does not apply
    /// A dashboard exposed through a router on `api@internal` (with its own middlewares), and
    /// development configurations next to a production file.
    ///
    /// ## Example
    /// ```yaml
    ///     command:
    ///       - --api.insecure=true
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    ///       - --api.insecure=false
    /// ```
    /// (`insecure: false` in a static file). The same flag in Traefik v2 and v3.
    ///
    /// ## Fix safety
    /// Unsafe: the dashboard on port 8080 goes away; expose it through an authenticated router if
    /// you need it.
    pub struct TraefikInsecureApi => "traefik-insecure-api" {
        summary: "Traefik API and dashboard served without authentication",
        severity: Error,
        area: Security,
        scope: Production,
        fix: Sometimes,
        applicability: Unsafe,
        seeds: ["004"],
        judges: ["traefik"],
    }
}

impl Rule for TraefikInsecureApi {
    fn meta(&self) -> &'static RuleMeta {
        &Self::META
    }

    fn check(&self, ctx: &Context) -> Vec<Finding> {
        let mut out = Vec::new();
        for traefik in &ctx.config.traefik {
            let Some(service) = ctx.config.service(&traefik.service) else { continue };
            // Traefik reads its flags only when it finds no static configuration file
            // (https://doc.traefik.io/traefik/getting-started/configuration-overview/#the-static-configuration):
            // with one mounted, `--api.insecure` is ignored and the file decides.
            let from_args = traefik.static_file.is_none()
                && traefik.arg("api.insecure").is_some_and(|v| v.eq_ignore_ascii_case("true"));
            let in_file = traefik
                .static_doc
                .as_ref()
                .and_then(|d| d.path(&["api", "insecure"]))
                .filter(|v| v.as_str().is_some_and(|s| s.eq_ignore_ascii_case("true")));
            let (loc, fix, title) = if from_args {
                let command = service.value.get("command");
                let item = command_item(command, "--api.insecure");
                let fix = match item {
                    // A variable turns it on: it is turned off where the variable is set.
                    Some(item) if ctx.has_reference(item) => None,
                    Some(item) => Some(FixEdit::new(
                        Target::Node { file: item.file, at: item.span },
                        EditOp::Replace,
                        tpl::TRAEFIK_INSECURE_API,
                        json!({ "text": "--api.insecure=false" }),
                    )),
                    None => command.and_then(|c| string_command_fix(ctx, c)),
                };
                let at = item.or(command.map(|c| c.loc)).unwrap_or(service.definition_site());
                (at, fix, "turn off the insecure API (`--api.insecure=false`)")
            } else if let Some(value) = in_file {
                let fix = FixEdit::new(
                    Target::Node { file: value.loc.file, at: value.loc.span },
                    EditOp::Replace,
                    tpl::TRAEFIK_INSECURE_API,
                    json!({ "text": false }),
                );
                (value.loc, Some(fix), "turn off the insecure API (`api.insecure: false` in the static configuration)")
            } else {
                continue;
            };
            out.push(
                Finding::new(
                    &Self::META,
                    loc,
                    format!("Traefik `{}` serves its API and dashboard without authentication", traefik.service),
                )
                .service(&traefik.service)
                .help("turn `api.insecure` off; expose the dashboard through a router on `api@internal` with auth")
                .with_fix_opt(fix.map(|e| ctx.fix(title, Applicability::Unsafe, vec![e]))),
            );
        }
        out
    }
}

/// A command written as one string: its `--api.insecure=true` word turned to `false`, the rest
/// as written.
fn string_command_fix(ctx: &Context, command: &Value) -> Option<FixEdit> {
    let raw = ctx.stack.text(command.loc.file, command.loc.span);
    if raw.starts_with(['|', '>']) || raw.matches("--api.insecure=true").count() != 1 {
        return None;
    }
    Some(FixEdit::new(
        Target::Node { file: command.loc.file, at: command.loc.span },
        EditOp::Replace,
        tpl::TRAEFIK_INSECURE_API_TEXT,
        json!({ "text": raw.replace("--api.insecure=true", "--api.insecure=false") }),
    ))
}

/// The command list item that sets `flag` (`--flag` or `--flag=value`).
pub fn command_item(command: Option<&Value>, flag: &str) -> Option<Loc> {
    command?.items().iter().find_map(|item| {
        let text = item.as_str()?;
        (text == flag || text.strip_prefix(flag).is_some_and(|r| r.starts_with('='))).then_some(item.loc)
    })
}
