//! `stackfix check`: load, run the rules, report.

use std::io::{self, Write};

use stackfix::fix::{self, FixOptions};
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
    let merged = stack.errors.is_empty() && stack.has_merge_keys();
    stack.drop_compose_nodes();
    let mut findings = rules::report(&stack, &prepared.settings);
    // (A configured template directory `fix` would refuse leaves the fixes unsettled: that is
    // `fix`'s error to report, not `check`'s.)
    if let Some(templates) = merged.then(|| super::fix::templates(&prepared, None).ok()).flatten() {
        settle_fixes(&prepared, templates, &mut findings);
    }
    if args.format == Format::Text {
        print_notes(&stack);
    }
    print_errors(&stack);
    let mut out = io::BufWriter::new(io::stdout().lock());
    let written = match args.format {
        Format::Text => report::text(&mut out, &stack, &findings, use_color(args.common.color)),
        Format::Json => report::json(&mut out, &stack, &findings),
        Format::Sarif => report::sarif(&mut out, &stack, &findings),
        Format::Github => report::github(&mut out, &stack, &findings),
    }
    .and_then(|()| out.flush());
    // A reader that stopped early (`| head`) does not change what the check found.
    match written {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => return Err(e),
        _ => {}
    }
    Ok(if !stack.errors.is_empty() {
        EXIT_ERROR
    } else if findings.is_empty() {
        EXIT_CLEAN
    } else {
        EXIT_FINDINGS
    })
}

/// Where merge keys (`<<`) give services blocks, `fix` finds some fixes `check` builds
/// impossible to write (a merged block it cannot copy, an anchor whose users need different
/// edits): planned as `fix --unsafe-fixes` would plan them, those findings are reported without
/// a fix, with the reason. Stacks without merge keys are not planned (it costs what `fix` does).
fn settle_fixes(prepared: &config::Prepared, templates: Option<std::path::PathBuf>, findings: &mut [rules::Finding]) {
    let options = FixOptions { unsafe_fixes: true, templates, ..FixOptions::default() };
    let Ok(outcome) = fix::run(&prepared.load, &prepared.settings, &options) else { return };
    for skipped in outcome.skipped {
        let same = |f: &&mut rules::Finding| {
            f.fix.is_some() && f.rule == skipped.rule && f.service == skipped.service && f.message == skipped.message
        };
        for finding in findings.iter_mut().filter(|f| same(f)) {
            finding.fix = None;
            let help = finding.help.take().map(|h| format!("{h}; ")).unwrap_or_default();
            finding.help = Some(format!("{help}no fix: {}", skipped.reason).into());
        }
    }
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
