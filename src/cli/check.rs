//! `stackfix check`: load, run the rules, report.

use std::io::{self, Write};

use stackfix::report;
use stackfix::rules;
use stackfix::stack::{self, Stack};

use super::{config, use_color, CheckArgs, Format, EXIT_CLEAN, EXIT_ERROR, EXIT_FINDINGS};

pub fn run(args: &CheckArgs) -> io::Result<u8> {
    let prepared = match config::prepare(&args.common) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_ERROR);
        }
    };
    let mut stack = stack::load(&prepared.load);
    stack.drop_compose_nodes();
    let findings = rules::report(&stack, &prepared.settings);
    if args.format == Format::Text {
        print_notes(&stack);
    }
    print_errors(&stack);
    let mut out = io::BufWriter::new(io::stdout().lock());
    match args.format {
        Format::Text => report::text(&mut out, &stack, &findings, use_color(args.common.color))?,
        Format::Json => report::json(&mut out, &stack, &findings)?,
        Format::Sarif => report::sarif(&mut out, &stack, &findings)?,
        Format::Github => report::github(&mut out, &stack, &findings)?,
    }
    out.flush()?;
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
