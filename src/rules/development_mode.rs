use serde_json::json;

use super::{Applicability, Context, Finding, FixEdit, Rule, RuleMeta};
use super::{EditOp, Target};
use crate::fix::render::template as tpl;
use crate::stack::service::EnvVar;
use crate::stack::{Service, ValueKind};

/// Variables that turn on a framework's debug mode, and what they read as on.
const DEBUG_VARIABLES: &[&str] = &["DEBUG", "APP_DEBUG", "FLASK_DEBUG", "DJANGO_DEBUG", "RAILS_DEBUG"];

/// Variables naming the environment an application runs in, the development values they take,
/// and the production value.
const ENVIRONMENT_VARIABLES: &[(&str, &[&str], &str)] = &[
    ("NODE_ENV", &["development", "dev"], "production"),
    ("FLASK_ENV", &["development"], "production"),
    ("RAILS_ENV", &["development"], "production"),
    ("RACK_ENV", &["development"], "production"),
    ("APP_ENV", &["development", "dev", "local"], "production"),
    ("ENVIRONMENT", &["development", "dev", "local"], "production"),
    ("MIX_ENV", &["dev"], "prod"),
    ("ASPNETCORE_ENVIRONMENT", &["Development"], "Production"),
    ("GIN_MODE", &["debug"], "release"),
];

/// Command-line flags of development servers (`uvicorn --reload`, `flask run --debug`).
const DEV_FLAGS: &[&str] = &["--reload", "--debug"];

declare_rule! {
    /// ## What it does
    /// Reports production services that run in development mode: a debug variable switched on
    /// (`DEBUG=1`, `FLASK_DEBUG=true`, `APP_DEBUG`, `DJANGO_DEBUG`), an environment variable naming
    /// development (`NODE_ENV=development`, `FLASK_ENV`, `RAILS_ENV`, `APP_ENV`, `MIX_ENV=dev`,
    /// `ASPNETCORE_ENVIRONMENT=Development`, `GIN_MODE=debug`), or a development server flag in the
    /// command (`--reload`, `--debug`).
    ///
    /// ## Why it matters
    /// Debug modes print stack traces and settings to anyone who triggers an error, and reloaders
    /// watch the file system and restart the process.
    ///
    /// ## When it does not apply
    /// Development configurations next to a production file; variables already set to production
    /// values or read from the environment (`${DEBUG}`).
    ///
    /// ## Example
    /// ```yaml
    ///   api:
    ///     command: uvicorn app.main:app --host 0.0.0.0 --reload
    ///     environment:
    ///       - DEBUG=1
    ///       - NODE_ENV=development
    /// ```
    ///
    /// ## Fix
    /// The production value (`DEBUG=0`, `NODE_ENV=production`, written as the original was:
    /// `1`→`0`, `true`→`false`, `yes`→`no`, `on`→`off`) and the command without the flag. In
    /// a configuration with a production overlay, a value the base sets goes into the overlay
    /// (`environment: {NODE_ENV: production}`, which compose merges by name) and the development
    /// configuration keeps its own (with `fix --into base`, it is set where the base writes it);
    /// an overlay writing `environment` as a list is left to a person.
    ///
    /// ## Fix safety
    /// Unsafe: the application behaves differently (that is the point, but check it starts).
    pub struct DevelopmentMode => "development-mode" {
        summary: "production runs in development or debug mode",
        severity: Warning,
        area: Security,
        scope: Production,
        fix: Sometimes,
        applicability: Unsafe,
        seeds: ["002"],
    }
}

/// The production value of a development setting, written the way the original was.
fn production_value(var: &EnvVar) -> Option<&'static str> {
    let value = var.value.as_deref()?;
    if DEBUG_VARIABLES.contains(&var.name.as_str()) {
        return match value {
            "1" => Some("0"),
            "true" => Some("false"),
            "True" => Some("False"),
            "TRUE" => Some("FALSE"),
            "yes" => Some("no"),
            "on" => Some("off"),
            _ => None,
        };
    }
    ENVIRONMENT_VARIABLES
        .iter()
        .find(|(name, dev, _)| *name == var.name && dev.contains(&value))
        .map(|(_, _, production)| *production)
}

impl Rule for DevelopmentMode {
    fn meta(&self) -> &'static RuleMeta {
        &Self::META
    }

    fn check(&self, ctx: &Context) -> Vec<Finding> {
        let mut out = Vec::new();
        for service in &ctx.config.services {
            for var in &service.environment {
                let Some(production) = production_value(var) else { continue };
                let finding = Finding::new(
                    &Self::META,
                    var.loc,
                    format!(
                        "service `{}` sets `{}={}` in production",
                        service.name,
                        var.name,
                        var.value.as_deref().unwrap_or("")
                    ),
                )
                .service(&service.name);
                // A value a variable gives (`${NODE_ENV:-development}` with `.env`) is set
                // where the variable is: the reference stays.
                if ctx.has_reference(var.loc) || !ctx.env_name_written(var) {
                    out.push(finding.help(format!(
                        "the value comes from a variable: set it to `{production}` where the variable is set (`.env` or the environment)"
                    )));
                    continue;
                }
                let in_place =
                    || super::env_value_edit(ctx, var, tpl::DEVELOPMENT_MODE, json!({ "value": production }));
                let edit = match production_overlay_edit(ctx, service, var, production) {
                    // With `--into base`, where the base writes it.
                    Overlay::Merge(edit) => edit.or_in_base(in_place()),
                    Overlay::InPlace => in_place(),
                    Overlay::Unwritable => {
                        out.push(finding.help(format!(
                            "add `{}={production}` to the production overlay's `environment` of `{}`",
                            var.name, service.name
                        )));
                        continue;
                    }
                };
                out.push(finding.with_fix(ctx.fix(
                    format!("set `{}={production}`", var.name),
                    Applicability::Unsafe,
                    vec![edit],
                )));
            }
            if let Some(finding) = dev_flag(ctx, service) {
                out.push(finding);
            }
        }
        out
    }
}

/// Where the production value of a variable goes.
enum Overlay {
    /// Merged into the production overlay's service (`environment: {NAME: value}`).
    Merge(FixEdit),
    /// Written where the variable is (no overlay, or the overlay writes it).
    InPlace,
    /// The overlay writes `environment` as a list, which a mapping cannot be merged into.
    Unwritable,
}

/// In a configuration with a production overlay, a variable the base sets goes into the overlay
/// (compose merges `environment` by name, whichever form each file writes): set in place, the
/// development configuration would run in production mode too.
fn production_overlay_edit(ctx: &Context, service: &Service, var: &EnvVar, production: &str) -> Overlay {
    let Some(overlay) = ctx.overlay() else { return Overlay::InPlace };
    if var.loc.file == overlay {
        return Overlay::InPlace;
    }
    // A list item is its own key (`- NAME=value`); known from the variables, whether or not the
    // files' trees are kept.
    if service.environment.iter().any(|e| e.loc.file == overlay && e.loc.key == Some(e.loc.span)) {
        return Overlay::Unwritable;
    }
    Overlay::Merge(FixEdit::new(
        Target::Service(ctx.production_site(service)),
        EditOp::Merge,
        tpl::DEVELOPMENT_MODE_ENVIRONMENT,
        json!({ "name": var.name, "value": production }),
    ))
}

/// A development server flag in the command, and the command without it.
fn dev_flag(ctx: &Context, service: &Service) -> Option<Finding> {
    let flag = service.command.iter().find(|w| DEV_FLAGS.contains(&w.as_str()))?;
    let command = service.value.get("command")?;
    let finding = Finding::new(
        &DevelopmentMode::META,
        command.loc,
        format!("service `{}` runs its command with `{flag}` in production", service.name),
    )
    .service(&service.name)
    .help("development servers reload on file changes and print debug pages");
    let context = match &command.kind {
        ValueKind::Seq(items) => {
            let kept: Vec<&str> = items
                .iter()
                .filter(|item| !matches!(&item.kind, ValueKind::Scalar { text, .. } if text == flag))
                .map(|item| ctx.stack.text(item.loc.file, item.loc.span))
                .collect();
            let written = ctx.stack.text(command.loc.file, command.loc.span);
            json!({ "items": kept, "flow": written.starts_with('[') })
        }
        ValueKind::Scalar { .. } => {
            // Only a flag written once, as its own word, is taken out of a one-string command
            // (as written: the fix keeps its variables).
            let text = command.written()?;
            let words: Vec<&str> = text.split(' ').collect();
            if text.matches(flag.as_str()).count() != 1 || words.iter().filter(|w| *w == flag).count() != 1 {
                return Some(finding);
            }
            json!({ "command": words.into_iter().filter(|w| w != flag).collect::<Vec<_>>().join(" ") })
        }
        _ => return Some(finding),
    };
    let edit = FixEdit::new(
        Target::Node { file: command.loc.file, at: command.loc.span },
        EditOp::Replace,
        tpl::DEVELOPMENT_MODE_COMMAND,
        context,
    );
    Some(finding.with_fix(ctx.fix(format!("run the command without `{flag}`"), Applicability::Unsafe, vec![edit])))
}
