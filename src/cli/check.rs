//! `stackfix check`: load, run the rules, report.

use std::io;

use stackfix::report;
use stackfix::rules;
use stackfix::stack::{self, Stack};

use super::{config, print, use_color, CheckArgs, Format, EXIT_CLEAN, EXIT_ERROR, EXIT_FINDINGS};

pub fn run(args: &CheckArgs) -> io::Result<u8> {
    let prepared = match config::prepare(&args.common) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_ERROR);
        }
    };
    let stack = stack::load(&prepared.load);
    let findings = rules::check(&stack, &prepared.settings);
    let output = match args.format {
        Format::Text => report::text(&stack, &findings, use_color(args.common.color)),
        Format::Json => report::json(&stack, &findings),
        Format::Sarif => report::sarif(&stack, &findings),
        Format::Github => report::github(&stack, &findings),
    };
    if args.format == Format::Text {
        print_notes(&stack);
    }
    print_errors(&stack);
    print(&output)?;
    Ok(if !stack.errors.is_empty() {
        EXIT_ERROR
    } else if findings.is_empty() {
        EXIT_CLEAN
    } else {
        EXIT_FINDINGS
    })
}

pub fn print_notes(stack: &Stack) {
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

pub fn print_errors(stack: &Stack) {
    for err in &stack.errors {
        eprintln!("error: {err}");
        if let Some(hint) = &err.hint {
            eprintln!("  help: {hint}");
        }
    }
}
