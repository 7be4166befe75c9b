//! `stackfix bootstrap`: plan the production file with the fix engine, then preview or write it.

use std::io;

use stackfix::bootstrap::{self, BootstrapOptions, Extra, Mode};
use stackfix::fix::FixOptions;

use super::fix::{lock_project, prepare, preview, print_written, templates, write_changes};
use super::{print, use_color, BootstrapArgs, ExtraArg, ModeArg, WriteFormat, EXIT_CLEAN, EXIT_ERROR};

pub fn run(args: &BootstrapArgs) -> io::Result<u8> {
    let (prepared, sets) = match prepare(&args.common, &args.sets) {
        Ok(ready) => ready,
        Err(code) => return Ok(code),
    };
    let dir = &prepared.load.dir;
    let base = if args.common.files.is_empty() {
        match stackfix::stack::load::base_file(dir) {
            Some(base) => vec![base],
            None => {
                eprintln!(
                    "error: {}: no base compose file (compose.yaml, docker-compose.yml, …); pass it with -f FILE",
                    dir.display()
                );
                return Ok(EXIT_ERROR);
            }
        }
    } else {
        args.common.files.clone()
    };
    let asked = args.mode.map(|m| match m {
        ModeArg::Overlay => Mode::Overlay,
        ModeArg::Standalone => Mode::Standalone,
    });
    let templates = match templates(&prepared, args.templates.as_ref()) {
        Ok(templates) => templates,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_ERROR);
        }
    };
    let options = BootstrapOptions {
        base,
        output: args.output.clone().unwrap_or_else(|| bootstrap::default_output(dir)),
        mode: asked.unwrap_or_default(),
        extras: args
            .extras
            .iter()
            .map(|e| match e {
                ExtraArg::Backups => Extra::Backups,
                ExtraArg::Monitoring => Extra::Monitoring,
                ExtraArg::Traefik => Extra::Traefik,
            })
            .collect(),
        fix: FixOptions { sets, templates, ..FixOptions::default() },
    };
    let _lock = match args.diff {
        true => None,
        false => match lock_project(dir) {
            Some(lock) => Some(lock),
            None => return Ok(EXIT_ERROR),
        },
    };
    // An existing production file deployed alone stays one (bootstrap fixes it in place); one
    // that the files do not say how it is deployed waits for the person to say.
    let mode = match bootstrap::resolve_mode(&prepared.load, &options, asked) {
        Ok(mode) => mode,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_ERROR);
        }
    };
    // Resolved once: `run` takes a standalone mode as given.
    let options = bootstrap::BootstrapOptions { mode, ..options };
    let outcome = match bootstrap::run(&prepared.load, &prepared.settings, &options) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_ERROR);
        }
    };
    let color = use_color(args.common.color);
    if args.diff {
        return preview(&outcome, args.format, color);
    }
    if !write_changes(dir, &outcome, false) {
        return Ok(EXIT_ERROR);
    }
    let report = || -> io::Result<()> {
        print_written(&outcome, args.format, color)?;
        if args.format == WriteFormat::Json {
            return Ok(());
        }
        let files: Vec<String> =
            options.base.iter().chain([&options.output]).map(|f| format!("-f {}", f.display())).collect();
        let deploy = match mode {
            Mode::Overlay => files.join(" "),
            Mode::Standalone => format!("-f {}", options.output.display()),
        };
        print(&format!("Deploy with: docker compose {deploy} up -d\n"))
    };
    if let Err(e) = report() {
        return Ok(super::fix::written_but_unreported(&outcome, e, EXIT_CLEAN));
    }
    Ok(EXIT_CLEAN)
}
