//! `stackfix report`: each stack named is loaded and checked as `check` does, fixed in memory as
//! `fix` and `fix --unsafe-fixes` would fix it (for the scores after them and the order of the
//! fixes), its fixes planned alone on the files as they are (for the diffs), and the assessment
//! is written whole.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use stackfix::assess::{self, Assessment};
use stackfix::fix::FixOptions;
use stackfix::stack;

use super::config::{self, Target};
use super::{overwrites_input, write_whole, ReportArgs, ReportFormat, EXIT_CLEAN, EXIT_ERROR};

pub fn run(args: &ReportArgs) -> io::Result<u8> {
    let mut skipped = Vec::new();
    let targets = config::targets(&args.common, args.walk.recursive, &args.walk.exclude, &mut skipped);
    for note in &skipped {
        eprintln!("note: {note}");
    }
    let targets = match targets {
        Ok(targets) if targets.is_empty() => {
            eprintln!("error: no compose file found below the paths walked");
            return Ok(EXIT_ERROR);
        }
        Ok(targets) => targets,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_ERROR);
        }
    };
    let assessed: Vec<Result<(Assessment, Vec<PathBuf>), String>> = {
        use rayon::prelude::*;
        targets.par_iter().map(|t| assess_target(args, t)).collect()
    };
    let mut assessments = Vec::with_capacity(assessed.len());
    let mut read: Vec<PathBuf> = Vec::new();
    let mut failures: Vec<assess::Failure> = Vec::new();
    for (outcome, target) in assessed.into_iter().zip(&targets) {
        match outcome {
            Ok((a, files)) => {
                assessments.push(a);
                read.extend(files);
            }
            Err(e) => {
                eprintln!("{e}");
                failures.push(assess::Failure {
                    stack: name(&target.dir),
                    errors: e.lines().map(str::to_string).collect(),
                });
            }
        }
    }
    // Nothing to assess: no report (an empty one would read as a clean stack).
    if assessments.is_empty() {
        return Ok(EXIT_ERROR);
    }
    if let Some(input) =
        args.output_file.as_deref().and_then(|o| overwrites_input(o, read.iter().map(PathBuf::as_path)))
    {
        eprintln!("error: -o {}: that is {}, a file of the stack; not overwriting it", shown(args), input.display());
        return Ok(EXIT_ERROR);
    }
    // Stacks that did not load are named in the report, which the exit code marks as incomplete.
    let text = match args.format() {
        ReportFormat::Json => assess::json(&assessments, &failures),
        ReportFormat::Html => assess::html::render(&assessments, &failures),
        ReportFormat::Markdown => {
            let mut text = assess::markdown::failures(&failures);
            let reports: Vec<String> = assessments.iter().map(assess::markdown::render).collect();
            text.push_str(&reports.join("\n---\n\n"));
            text
        }
    };
    let written = match &args.output_file {
        Some(path) => write_whole(path, |out| out.write_all(text.as_bytes())),
        None => io::stdout()
            .lock()
            .write_all(text.as_bytes())
            .map_err(|e| io::Error::new(e.kind(), format!("writing the report to standard output: {e}"))),
    };
    match written {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(e),
        _ if !failures.is_empty() => Ok(EXIT_ERROR),
        _ => Ok(EXIT_CLEAN),
    }
}

/// One stack's assessment, or the errors that keep it from loading (as `check` prints them).
fn assess_target(args: &ReportArgs, target: &Target) -> Result<(Assessment, Vec<PathBuf>), String> {
    let prepared = config::prepare_target(&args.common, target).map_err(|e| format!("error: {e}"))?;
    // Left to the process's exit, as `check` leaves its stacks (they hold no files or locks).
    let stack = std::mem::ManuallyDrop::new(stack::load(&prepared.load));
    if !stack.errors.is_empty() {
        let errors: Vec<String> = stack
            .errors
            .iter()
            .map(|e| match &e.hint {
                Some(hint) => format!("error: {e}\n  help: {hint}"),
                None => format!("error: {e}"),
            })
            .collect();
        return Err(errors.join("\n"));
    }
    let templates = super::fix::templates(&prepared, None).map_err(|e| format!("error: {e}"))?;
    let options = FixOptions { templates, sets: prepared.file.sets(), ..FixOptions::default() };
    let name = name(&target.dir);
    let assessment = assess::evaluate(&stack, &prepared.load, &prepared.settings, &options, &name)
        .map_err(|e| format!("error: {name}: {e}"))?;
    let files = stack.inputs().map(Path::to_path_buf).collect();
    Ok((assessment, files))
}

/// The `-o` path as given.
fn shown(args: &ReportArgs) -> String {
    args.output_file.as_deref().map(|p| p.display().to_string()).unwrap_or_default()
}

/// The stack as the report names it: the directory as given, or its own name for `.`.
fn name(dir: &Path) -> String {
    let shown = dir.to_string_lossy();
    if shown.is_empty() || shown == "." {
        let real = dir.canonicalize().ok();
        return real
            .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| ".".into());
    }
    shown.trim_end_matches('/').to_string()
}
