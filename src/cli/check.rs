//! `stackfix check`: load, run the rules, report.

use std::io;
use std::path::{Path, PathBuf};

use stackfix::report;
use stackfix::rules;
use stackfix::stack::{self, LoadOptions, Profiles};

use super::{config, print, use_color, CheckArgs, Format, EXIT_CLEAN, EXIT_ERROR, EXIT_FINDINGS};

pub fn run(args: &CheckArgs) -> io::Result<u8> {
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from("."));
    if !dir.is_dir() {
        eprintln!("error: {}: not a directory", dir.display());
        return Ok(EXIT_ERROR);
    }
    let (file_config, config_path) = match config::load(args.config.as_deref(), &dir) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_ERROR);
        }
    };
    let settings = match config::settings(&file_config, &args.select, &args.ignore) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_ERROR);
        }
    };
    let profiles_path = args.profiles.clone().or_else(|| {
        let base = config_path.as_deref().and_then(Path::parent).unwrap_or(&dir);
        file_config.profiles.as_ref().map(|p| base.join(p))
    });
    let profiles = match profiles_path {
        None => Profiles::builtin(),
        Some(p) => {
            match std::fs::read_to_string(&p).map_err(|e| e.to_string()).and_then(|t| Profiles::with_overrides(&t)) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("error: {}: {e}", p.display());
                    return Ok(EXIT_ERROR);
                }
            }
        }
    };
    let stack = stack::load(&LoadOptions { dir, files: args.files.clone(), profiles });
    let findings = rules::check(&stack, &settings);
    let output = match args.format {
        Format::Text => report::text(&stack, &findings, use_color(args.color)),
        Format::Json => report::json(&stack, &findings),
        Format::Sarif => report::sarif(&stack, &findings),
        Format::Github => report::github(&stack, &findings),
    };
    if args.format == Format::Text {
        for note in &stack.notes {
            match note.at {
                Some(loc) => {
                    let (line, col) = stack.line_col(loc.file, loc.primary().start);
                    eprintln!("note: {}:{line}:{col}: {}", stack.file(loc.file).display, note.message);
                }
                None => eprintln!("note: {}", note.message),
            }
        }
    }
    for err in &stack.errors {
        eprintln!("error: {err}");
        if let Some(hint) = &err.hint {
            eprintln!("  help: {hint}");
        }
    }
    print(&output)?;
    Ok(if !stack.errors.is_empty() {
        EXIT_ERROR
    } else if findings.is_empty() {
        EXIT_CLEAN
    } else {
        EXIT_FINDINGS
    })
}
