//! `stackfix check`: load each stack named, run the rules, report.

use std::io::{self, Write};
use std::path::Path;

use stackfix::fix::{self, FixOptions};
use stackfix::report::baseline::Baseline;
use stackfix::report::{self, Checked};
use stackfix::rules::{self, Finding};
use stackfix::stack::{self, Stack};

use super::config::{self, Target};
use super::{use_color, write_whole, CheckArgs, Format, EXIT_CLEAN, EXIT_ERROR, EXIT_FINDINGS};

/// One stack checked, or why it could not be prepared (its configuration file, say).
type Outcome = Result<(Stack, Vec<Finding>), String>;

pub fn run(args: &CheckArgs) -> io::Result<u8> {
    let mut skipped = Vec::new();
    let targets = config::targets(&args.common, args.walk.recursive, &args.walk.exclude, &mut skipped);
    // A file the walk did not check is said even with --quiet: a CI gate must not pass it
    // without a word.
    for note in &skipped {
        eprintln!("note: {note}");
    }
    let targets = match targets {
        Ok(targets) => targets,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_ERROR);
        }
    };
    if args.statistics && args.format.check_only() {
        eprintln!("error: --statistics prints text or json, not {}", args.format.name());
        return Ok(EXIT_ERROR);
    }
    let baseline = match &args.baseline {
        None => None,
        Some(path) => {
            match stackfix::stack::load::read_text(path).map_err(|e| e.to_string()).and_then(|t| Baseline::parse(&t)) {
                Ok(baseline) => Some(baseline),
                Err(e) => {
                    eprintln!("error: --baseline {}: {e}", path.display());
                    return Ok(EXIT_ERROR);
                }
            }
        }
    };
    if targets.is_empty() {
        // Without --recursive, only --exclude leaves nothing (pre-commit passing an excluded
        // file): nothing to check. A walk that finds nothing is an error.
        if !args.walk.recursive {
            if !args.quiet {
                eprintln!("note: --exclude skips every PATH; nothing to check");
            }
            return Ok(EXIT_CLEAN);
        }
        eprintln!("error: no compose file found below the paths walked");
        return Ok(EXIT_ERROR);
    }
    // The stacks are checked in parallel and reported in the order of their directories.
    let mut outcomes: Vec<Outcome> = {
        use rayon::prelude::*;
        targets.par_iter().map(|target| check(args, target)).collect()
    };
    if outcomes.len() > 1 {
        drop_repeats(&mut outcomes);
    }
    let baselined = baseline.as_ref().map_or(0, |baseline| hide_baselined(&mut outcomes, baseline, args));
    let mut failures = Vec::new();
    let mut checked = Vec::with_capacity(outcomes.len());
    for outcome in &outcomes {
        match outcome {
            Ok((stack, findings)) => {
                if !args.quiet && !args.statistics && (args.format == Format::Text || args.output_file.is_some()) {
                    print_notes(stack);
                }
                print_errors(stack);
                checked.push(Checked { stack, findings });
            }
            Err(e) => {
                eprintln!("error: {e}");
                failures.push(e.clone());
            }
        }
    }
    let outputs = [args.output_file.as_deref(), args.write_baseline.as_deref(), args.summary.as_deref()];
    for output in outputs.into_iter().flatten() {
        let inputs = checked.iter().flat_map(|c| c.stack.inputs());
        if let Some(input) = super::overwrites_input(output, inputs) {
            eprintln!(
                "error: {}: that is {}, a file of the stack; not overwriting it",
                output.display(),
                input.display()
            );
            return Ok(EXIT_ERROR);
        }
    }
    if let Some(path) = &args.write_baseline {
        return write_baseline(path, &checked, &failures);
    }
    let color = use_color(args.common.color);
    let run = Report { checked: &checked, failures: &failures, baselined };
    let written = match &args.output_file {
        None => print_report(&mut io::stdout().lock(), args, args.format, &run, color),
        Some(path) => write_report_file(path, args, &run)
            .and_then(|()| print_report(&mut io::stdout().lock(), args, Format::Text, &run, color)),
    };
    let written = written.and_then(|()| match &args.summary {
        Some(path) => append_summary(path, &run),
        None => Ok(()),
    });
    // A reader that stopped early (`| head`) does not change what the check found.
    match written {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => return Err(e),
        _ => {}
    }
    let failing = checked.iter().flat_map(|c| c.findings).any(|f| args.fail_on.fails(f.severity));
    let failed = !failures.is_empty() || checked.iter().any(|c| !c.stack.errors.is_empty());
    // The process ends with the run: freeing every stack's nodes and findings one by one would
    // take a twentieth of the run for nothing (they hold no files or locks).
    drop(checked);
    std::mem::forget(outcomes);
    Ok(if failed {
        EXIT_ERROR
    } else if failing && !args.exit_zero {
        EXIT_FINDINGS
    } else {
        EXIT_CLEAN
    })
}

/// Loads one stack and runs the rules on it.
fn check(args: &CheckArgs, target: &Target) -> Outcome {
    let prepared = config::prepare_target(&args.common, target)?;
    // The parameters `fix` would refuse fail `check` too: a CI check must not pass a
    // configuration the fix job then rejects.
    for (_, key, value) in prepared.file.sets() {
        fix::check_setting(&key, &value).map_err(|e| format!("stackfix.toml: set {key}: {e}"))?;
    }
    let mut stack = stack::load(&prepared.load);
    // A service the configuration names that the stack lacks: its settings apply to nothing.
    if stack.errors.is_empty() {
        let names: std::collections::HashSet<&str> =
            stack.configs.iter().flat_map(|c| &c.services).map(|s| s.name.as_str()).collect();
        let mut unknown: Vec<&String> = prepared.file.services.keys().filter(|s| !names.contains(s.as_str())).collect();
        unknown.sort();
        let notes: Vec<String> = unknown
            .into_iter()
            .map(|service| {
                let closest = fix::did_you_mean(names.iter().copied(), service);
                format!("stackfix.toml names service `{service}`, which this stack does not have{closest}")
            })
            .collect();
        stack.notes.extend(notes.into_iter().map(|message| stack::Note { at: None, message }));
    }
    let merged = stack.errors.is_empty() && stack.needs_settling();
    // Where merge keys are, the fixes `fix` could not write are settled by a fix run on the
    // stack as loaded, which needs its nodes.
    // (A configured template directory `fix` would refuse leaves the fixes unsettled: that is
    // `fix`'s error to report, not `check`'s.)
    let settled = merged.then(|| super::fix::templates(&prepared, None).ok()).flatten().map(|templates| {
        let (mut findings, unused) = rules::check_with_unused(&stack, &prepared.settings);
        fix::settle(&prepared.load, &prepared.settings, templates, &stack, &mut findings);
        (findings, unused)
    });
    // A baseline knows findings by their YAML routes, and SARIF's fixes are planned on the
    // stack: both need the nodes.
    if args.baseline.is_none() && args.write_baseline.is_none() && args.format != Format::Sarif {
        stack.drop_compose_nodes();
    }
    let (mut findings, unused) = match settled {
        Some(settled) => settled,
        None => rules::report_with_unused(&stack, &prepared.settings),
    };
    if args.unused_suppressions {
        for u in unused {
            let names: Vec<String> = u.rules.iter().map(|r| format!("`{r}`")).collect();
            stack.notes.push(stack::Note {
                at: Some(stack::Loc { file: u.file, span: u.span, key: None, via_alias: false }),
                message: format!("unused suppression: no finding of {} here to silence", names.join(", ")),
            });
        }
    }
    // SARIF carries each fix's replacements (unsafe ones too: the description says which).
    if args.format == Format::Sarif {
        if let Ok(templates) = super::fix::templates(&prepared, None) {
            // The parameters stackfix.toml sets, as `fix` takes them.
            let sets = prepared.file.sets();
            let options = FixOptions { unsafe_fixes: true, templates, sets, ..FixOptions::default() };
            let _ = fix::propose(&stack, &prepared.load.dir, &prepared.settings, &options, &mut findings);
        }
    }
    Ok((stack, findings))
}

/// Stacks that share a file (an `include`d one, a stack named twice in two ways) find the same
/// thing there: each finding is reported once, with the first stack that found it.
fn drop_repeats(outcomes: &mut [Outcome]) {
    let mut seen = std::collections::HashSet::new();
    for (stack, findings) in outcomes.iter_mut().flatten() {
        let real: Vec<std::path::PathBuf> =
            stack.files.iter().map(|f| f.path.canonicalize().unwrap_or_else(|_| f.path.clone())).collect();
        findings.retain(|f| seen.insert((real[f.file].clone(), f.span.start, f.span.end, f.rule, f.message.clone())));
    }
}

/// Drops the findings the baseline holds, and says how many (unless --quiet); returns how many.
fn hide_baselined(outcomes: &mut [Outcome], baseline: &Baseline, args: &CheckArgs) -> usize {
    let held = {
        let checked: Vec<Checked> =
            outcomes.iter().flatten().map(|(stack, findings)| Checked { stack, findings }).collect();
        baseline.holds(&checked)
    };
    let mut held = held.into_iter();
    let mut hidden = 0;
    for (_, findings) in outcomes.iter_mut().flatten() {
        findings.retain(|_| {
            let drop = held.next().unwrap_or(false);
            hidden += usize::from(drop);
            !drop
        });
    }
    if hidden > 0 && !args.quiet {
        let path = args.baseline.as_deref().map(Path::display);
        eprintln!(
            "note: {hidden} finding{} in the baseline {} not reported",
            if hidden == 1 { "" } else { "s" },
            path.map(|p| p.to_string()).unwrap_or_default()
        );
    }
    hidden
}

/// `--write-baseline`: every finding's identity to `path` (whole, or left as it was); exit 0,
/// or 2 when a stack could not be read (its findings would be missing from the baseline).
fn write_baseline(path: &Path, checked: &[Checked], failures: &[String]) -> io::Result<u8> {
    if !failures.is_empty() || checked.iter().any(|c| !c.stack.errors.is_empty()) {
        eprintln!("error: --write-baseline {}: not written, some files could not be read", path.display());
        return Ok(EXIT_ERROR);
    }
    write_whole(path, |out| report::baseline::write_baseline(out, checked))
        .map_err(|e| io::Error::new(e.kind(), format!("--write-baseline {e}")))?;
    let count: usize = checked.iter().map(|c| c.findings.len()).sum();
    eprintln!(
        "Wrote {count} finding{} to {}; `stackfix check --baseline {}` reports only the others.",
        if count == 1 { "" } else { "s" },
        path.display(),
        path.display()
    );
    Ok(EXIT_CLEAN)
}

/// What a run reports: the stacks checked, and why the others could not be.
struct Report<'a> {
    checked: &'a [Checked<'a>],
    failures: &'a [String],
    /// Findings the `--baseline` file held, not reported.
    baselined: usize,
}

/// The report (or the statistics) in `format`.
fn print_report(out: &mut dyn Write, args: &CheckArgs, format: Format, run: &Report, color: bool) -> io::Result<()> {
    let checked = run.checked;
    let mut out = io::BufWriter::new(out);
    match (format, args.statistics) {
        (Format::Text, true) => report::statistics(&mut out, checked),
        (Format::Json, true) => report::statistics_json(&mut out, checked),
        (Format::Text, false) => report::text(&mut out, checked, color, !args.quiet),
        (Format::Json, false) => report::json(&mut out, checked),
        (Format::Sarif, _) => report::sarif(&mut out, checked, run.failures),
        (Format::Github, _) => report::github(&mut out, checked),
        (Format::Gitlab, _) => report::gitlab(&mut out, checked),
    }?;
    out.flush()
}

/// Appends the Markdown summary to `path` (created if missing): a CI summary file collects what
/// every step appends.
fn append_summary(path: &Path, run: &Report) -> io::Result<()> {
    let fail = |e: io::Error| io::Error::new(e.kind(), format!("--summary {}: {e}", path.display()));
    let mut text = Vec::new();
    report::summary(&mut text, run.checked, run.failures, run.baselined)?;
    let mut file = std::fs::OpenOptions::new().append(true).create(true).open(path).map_err(fail)?;
    file.write_all(&text).map_err(fail)
}

/// Writes the report in `--format` to `path` (see [`write_whole`]).
fn write_report_file(path: &Path, args: &CheckArgs, run: &Report) -> io::Result<()> {
    write_whole(path, |out| print_report(out, args, args.format, run, false))
        .map_err(|e| io::Error::new(e.kind(), format!("--output-file {e}")))
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
