//! `stackfix fix`: plan and verify fixes, then print them as a diff or write them.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::path::Path;

use stackfix::fix::{self, diff, FixOptions, Outcome, Placement};
use stackfix::report;

use super::check::print_notes;
use super::{
    config, print, use_color, CommonArgs, FixArgs, IntoArg, WriteFormat, EXIT_CLEAN, EXIT_ERROR, EXIT_FINDINGS,
};

pub fn run(args: &FixArgs) -> io::Result<u8> {
    let mut skipped = Vec::new();
    let targets = config::targets(&args.common, args.walk.recursive, &args.walk.exclude, &mut skipped);
    for note in &skipped {
        eprintln!("note: {note}");
    }
    let targets = match targets {
        Ok(targets) => targets,
        Err(e) => {
            // `--branch NAME` reads NAME as a stack: the name goes after `=`.
            let hint = match &args.branch {
                Some(_) if e.contains("no such file or directory") => {
                    " (a branch name goes after `=`: `--branch=NAME`)"
                }
                _ => "",
            };
            eprintln!("error: {e}{hint}");
            return Ok(EXIT_ERROR);
        }
    };
    if targets.is_empty() {
        // As `check`: --exclude skipping every PATH leaves nothing to do; a walk that finds
        // nothing is an error.
        if args.walk.recursive {
            eprintln!("error: no compose file found below the paths walked");
            return Ok(EXIT_ERROR);
        }
        eprintln!("note: --exclude skips every PATH; nothing to fix");
        return Ok(EXIT_CLEAN);
    }
    if targets.len() > 1 {
        if let Err(e) = services_in_some_stack(args, &targets) {
            eprintln!("error: {e}");
            return Ok(EXIT_ERROR);
        }
        let single = if args.interactive {
            Some("-i")
        } else if args.branch_per_rule {
            Some("--branch-per-rule")
        } else if args.branch.is_some() {
            // One branch, one commit for every stack.
            return branch_many(args, &targets);
        } else if args.commit {
            Some("--commit")
        } else if args.pr_body.is_some() {
            Some("--pr-body")
        } else if args.format == WriteFormat::Json {
            Some("--format json")
        } else {
            None
        };
        if let Some(flag) = single {
            eprintln!("error: {flag} works on one stack at a time, and the paths name {} stacks", targets.len());
            return Ok(EXIT_ERROR);
        }
    }
    // Each stack is fixed as if alone, one after the other (each holds its own project's lock
    // while it plans and writes); the exit code is the worst of theirs.
    let mut code = EXIT_CLEAN;
    for target in &targets {
        code = super::worst(code, run_stack(args, target, targets.len() > 1)?);
    }
    Ok(code)
}

/// Over several stacks, each service `--service` or `--set SERVICE.KEY=…` names must be in one
/// of them (not in each): a name in none is an error with the closest name.
fn services_in_some_stack(args: &FixArgs, targets: &[config::Target]) -> Result<(), String> {
    let mut wanted: Vec<&str> = args.services.iter().map(String::as_str).collect();
    wanted.extend(args.sets.iter().filter_map(|s| s.split_once('=')?.0.rsplit_once('.').map(|(service, _)| service)));
    if wanted.is_empty() {
        return Ok(());
    }
    let mut names: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    for target in targets {
        let Ok(prepared) = config::prepare_target(&args.common, target) else { continue };
        let stack = stackfix::stack::load(&prepared.load);
        names.extend(stack.configs.iter().flat_map(|c| &c.services).map(|s| s.name.clone()));
    }
    match wanted.into_iter().find(|w| !names.contains(*w)) {
        Some(missing) => {
            let closest = fix::did_you_mean(names.iter().map(String::as_str), missing);
            Err(format!("service `{missing}` is in none of the {} stacks{closest}", targets.len()))
        }
        None => Ok(()),
    }
}

/// `fix --branch` over several stacks of one repository: one commit with all their fixes.
fn branch_many(args: &FixArgs, targets: &[config::Target]) -> io::Result<u8> {
    let mut stacks = Vec::with_capacity(targets.len());
    for target in targets {
        match prepare_stack(args, target, true) {
            Ok(stack) => stacks.push(stack),
            Err(code) => return Ok(code),
        }
    }
    let refs: Vec<super::branch::Stack> = stacks.iter().map(|(p, o)| (p, o)).collect();
    super::branch::run(args, &refs)
}

/// A stack's configuration and the fix options the command line and its configuration give;
/// the exit code when they are wrong (the error printed).
fn prepare_stack(args: &FixArgs, target: &config::Target, several: bool) -> Result<(config::Prepared, FixOptions), u8> {
    let (prepared, sets) = prepare_target(&args.common, target, &args.sets)?;
    let templates = match templates(&prepared, args.templates.as_ref()) {
        Ok(templates) => templates,
        Err(e) => {
            eprintln!("error: {e}");
            return Err(EXIT_ERROR);
        }
    };
    let options = FixOptions {
        unsafe_fixes: args.unsafe_fixes,
        services: args.services.clone(),
        sets,
        into: match args.into {
            IntoArg::Overlay => Placement::Auto,
            IntoArg::Base => Placement::Base,
        },
        templates,
        services_in_any_stack: several,
        // Shown by a plain run (a branch, a commit or a session shows none): rendered while the
        // fixed texts are checked.
        diffs: (args.diff || args.format == WriteFormat::Json)
            && args.branch.is_none()
            && !args.branch_per_rule
            && !args.commit
            && !args.interactive,
        ..FixOptions::default()
    };
    Ok((prepared, options))
}

/// `fix` on one stack.
fn run_stack(args: &FixArgs, target: &config::Target, several: bool) -> io::Result<u8> {
    let (prepared, options) = match prepare_stack(args, target, several) {
        Ok(ready) => ready,
        Err(code) => return Ok(code),
    };
    // A run that writes holds the project's lock from reading to writing: another run waits,
    // then reads what this one wrote.
    let _lock = match args.diff {
        true => None,
        false => match lock_project(&prepared.load.dir) {
            Some(lock) => Some(lock),
            None => return Ok(EXIT_ERROR),
        },
    };
    if args.interactive && !args.yes {
        return super::interactive::run(args, &prepared, &options);
    }
    if args.branch.is_some() || args.branch_per_rule || args.commit {
        return super::branch::run(args, &[(&prepared, &options)]);
    }
    let outcome = match fix::run(&prepared.load, &prepared.settings, &options) {
        // Left to the process's exit, as `check` leaves its stacks: freeing a large stack's
        // texts, nodes and findings one by one takes a tenth of the run for nothing (they hold
        // no files or locks; the project's lock is released as before).
        Ok(o) => std::mem::ManuallyDrop::new(o),
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_ERROR);
        }
    };
    let outcome: &fix::Outcome = &outcome;
    if let Some(path) = &args.pr_body {
        // Not over a file of the stack, nor one the fixes write.
        let written = outcome.changes.iter().map(|c| c.path.as_path());
        if let Err(code) = super::refuse_overwriting("--pr-body", path, outcome.stack.inputs().chain(written)) {
            return Ok(code);
        }
    }
    let color = use_color(args.common.color);
    if args.diff {
        if let Some(path) = &args.pr_body {
            if let Err(e) = write_pr_body(path, &[outcome], &|p: &str| p.to_string()) {
                eprintln!("error: {e}");
                return Ok(EXIT_ERROR);
            }
        }
        return preview(outcome, args.format, color);
    }
    if !write_changes(&prepared.load.dir, outcome, args.write_read_only) {
        return Ok(EXIT_ERROR);
    }
    // The body describes what was written: only once it is.
    if let Some(path) = &args.pr_body {
        if let Err(e) = write_pr_body(path, &[outcome], &|p: &str| p.to_string()) {
            let files: Vec<&str> = outcome.changes.iter().map(|c| c.display.as_str()).collect();
            eprintln!("error: {e}; the fixes were written: {}", files.join(", "));
            return Ok(EXIT_ERROR);
        }
    }
    let code = if args.exit_non_zero_on_fix && !outcome.applied.is_empty() {
        EXIT_FINDINGS
    } else if args.exit_zero {
        EXIT_CLEAN
    } else {
        left_code(outcome)
    };
    if let Err(e) = print_written(outcome, args.format, color) {
        return Ok(written_but_unreported(outcome, e, code));
    }
    Ok(code)
}

/// 1 when findings are left for a person, else 0.
fn left_code(outcome: &Outcome) -> u8 {
    if outcome.remaining.is_empty() {
        EXIT_CLEAN
    } else {
        EXIT_FINDINGS
    }
}

/// What a run that wrote its fixes prints: JSON, or the notes, the summary and the findings left.
pub(super) fn print_written(outcome: &Outcome, format: WriteFormat, color: bool) -> io::Result<()> {
    if format == WriteFormat::Json {
        return print(&json(outcome, true));
    }
    print_notes(&outcome.stack);
    print(&summary(outcome, true))?;
    if !outcome.remaining.is_empty() {
        let checked = [report::Checked { stack: &outcome.stack, findings: &outcome.remaining }];
        report::text(&mut io::stdout().lock(), &checked, color, true)?;
    }
    Ok(())
}

/// After the files were written, the report could not be: says so (the files stay written) and
/// returns exit 2; a closed pipe (`| head`) is no error, and the exit code is the run's, `code`.
pub(super) fn written_but_unreported(outcome: &Outcome, error: io::Error, code: u8) -> u8 {
    if error.kind() == io::ErrorKind::BrokenPipe {
        return code;
    }
    let files: Vec<&str> = outcome.changes.iter().map(|c| c.display.as_str()).collect();
    eprintln!("error: the report could not be printed ({error}); these files were written: {}", files.join(", "));
    EXIT_ERROR
}

/// Prints the changes as a diff (or JSON) and the summary; exit 1 when there are changes.
pub(super) fn preview(outcome: &Outcome, format: WriteFormat, color: bool) -> io::Result<u8> {
    if format == WriteFormat::Json {
        print(&json(outcome, false))?;
    } else {
        let text: String = (0..outcome.changes.len()).map(|i| outcome.diff(i)).collect();
        print(&if color { diff::colorize(&text) } else { text })?;
        eprint!("{}", summary(outcome, false));
    }
    Ok(if outcome.changes.is_empty() { EXIT_CLEAN } else { EXIT_FINDINGS })
}

/// Writes every change of a run, all or none (see [`fix::write`]); says what went wrong, and
/// whether anything stays written, and returns false on failure.
pub(super) fn write_changes(dir: &std::path::Path, outcome: &Outcome, read_only: bool) -> bool {
    let project = stackfix::stack::ProjectFs::new(dir);
    let planned: Vec<fix::write::Planned> = outcome
        .changes
        .iter()
        .map(|c| fix::write::Planned {
            path: &c.path,
            display: &c.display,
            before: c.before.as_deref(),
            after: &c.after,
        })
        .collect();
    match fix::write::write_all(project.root(), &planned, read_only) {
        Ok(()) => true,
        Err(e) => {
            eprintln!("error: {e}");
            false
        }
    }
}

/// The project's write lock for a run that writes (held until dropped); `None` after saying
/// why it could not be taken.
pub(super) fn lock_project(dir: &std::path::Path) -> Option<fix::write::ProjectLock> {
    let project = stackfix::stack::ProjectFs::new(dir);
    let waiting = || eprintln!("note: another stackfix run is writing this project; waiting for it to finish");
    match fix::write::ProjectLock::acquire(project.root(), waiting) {
        Ok(lock) => Some(lock),
        Err(e) => {
            eprintln!("error: cannot lock the project {}: {e}", project.root().display());
            None
        }
    }
}

/// The configuration and the template parameters, or the exit code after saying what is wrong.
pub(super) fn prepare(common: &CommonArgs, given: &[String]) -> Result<(config::Prepared, Sets), u8> {
    with_sets(config::prepare(common), given)
}

/// [`prepare`] for one of the stacks the command line names.
fn prepare_target(
    common: &CommonArgs,
    target: &config::Target,
    given: &[String],
) -> Result<(config::Prepared, Sets), u8> {
    with_sets(config::prepare_target(common, target), given)
}

/// The template parameters added to a prepared stack, or exit 2 after saying what is wrong.
fn with_sets(prepared: Result<config::Prepared, String>, given: &[String]) -> Result<(config::Prepared, Sets), u8> {
    let fail = |e: String| {
        eprintln!("error: {e}");
        EXIT_ERROR
    };
    let prepared = prepared.map_err(fail)?;
    let sets = sets(&prepared, given).map_err(fail)?;
    Ok((prepared, sets))
}

/// Template parameters as (service or none for all, key, value).
type Sets = Vec<(Option<String>, String, String)>;

/// Template parameters: the configuration file's, then `--set` values in order.
fn sets(prepared: &config::Prepared, given: &[String]) -> Result<Sets, String> {
    let mut sets = prepared.file.sets();
    for (_, key, value) in &sets {
        fix::check_setting(key, value).map_err(|e| format!("stackfix.toml: set {key}: {e}"))?;
    }
    for set in given {
        let (key, value) =
            set.split_once('=').ok_or_else(|| format!("--set `{set}`: expected KEY=VALUE or SERVICE.KEY=VALUE"))?;
        let name = key.rsplit_once('.').map_or(key, |(_, k)| k);
        fix::check_setting(name, value).map_err(|e| format!("--set `{set}`: {e}"))?;
        match key.rsplit_once('.') {
            Some((service, key)) => sets.push((Some(service.to_string()), key.to_string(), value.to_string())),
            None => sets.push((None, key.to_string(), value.to_string())),
        }
    }
    Ok(sets)
}

/// The templates directory: `--templates`, else the configuration file's (which must lie inside
/// the project: the file comes with the repository, and templates end up in fixed files).
pub(super) fn templates(
    prepared: &config::Prepared,
    given: Option<&std::path::PathBuf>,
) -> Result<Option<std::path::PathBuf>, String> {
    match (given, &prepared.file.templates) {
        (Some(given), _) => Ok(Some(given.clone())),
        (None, Some(configured)) => {
            config::inside_project(&prepared.load.dir, prepared.config_dir.join(configured), "templates").map(Some)
        }
        (None, None) => Ok(None),
    }
}

/// Applied fixes listed one by one (what each does and why) before the rest are only counted.
const SHOWN_FIXES: usize = 20;
/// How many of the services the fixes add the summary names.
const SHOWN_ADDED: usize = 10;

/// Fixes per rule and what each does, files, what was skipped and why, how much is left.
pub(super) fn summary(outcome: &Outcome, written: bool) -> String {
    let mut per_rule: BTreeMap<&str, usize> = BTreeMap::new();
    for a in &outcome.applied {
        *per_rule.entry(a.rule).or_default() += 1;
    }
    let verb = if written { "Fixed" } else { "Would fix" };
    let mut out =
        format!("{verb} {} finding{}", outcome.applied.len(), if outcome.applied.len() == 1 { "" } else { "s" });
    if !per_rule.is_empty() {
        let rules: Vec<String> = per_rule.iter().map(|(r, n)| format!("{r} ×{n}")).collect();
        out.push_str(&format!(" ({})", rules.join(", ")));
    }
    out.push_str(".\n");
    // A rule's fixes of services of one name in several configurations (a development and a
    // production file each defining `prometheus`) say where each is; one finding fixed in every
    // configuration that reads its file is one line, with how many.
    fn named(a: &stackfix::fix::Applied) -> (&str, Option<&str>) {
        (a.rule, a.service.as_deref())
    }
    fn is_unsafe(a: &stackfix::fix::Applied) -> bool {
        a.applicability == stackfix::rules::Applicability::Unsafe
    }
    // In the order fixes were applied: each line's fix, and in how many configurations.
    let mut lines: Vec<(&stackfix::fix::Applied, usize)> = Vec::new();
    let mut line_of: HashMap<(&str, Option<&str>, &str, &str), usize> = HashMap::new();
    // How many lines each (rule, service) has: more than one says where each is.
    let mut per_name: HashMap<(&str, Option<&str>), usize> = HashMap::new();
    for a in &outcome.applied {
        let (rule, service) = named(a);
        match line_of.entry((rule, service, a.location.as_str(), a.title.as_str())) {
            Entry::Occupied(line) => lines[*line.get()].1 += 1,
            Entry::Vacant(line) => {
                line.insert(lines.len());
                lines.push((a, 1));
                *per_name.entry((rule, service)).or_default() += 1;
            }
        }
    }
    for &(a, times) in lines.iter().take(SHOWN_FIXES) {
        let service = a.service.as_deref().unwrap_or("-");
        let repeated = per_name.get(&named(a)).is_some_and(|&n| n > 1);
        let place = if repeated { format!("{service}, {}", a.location) } else { service.to_string() };
        let times = if times > 1 { format!(" (in {times} configurations)") } else { String::new() };
        let unsafe_mark = if is_unsafe(a) { " (unsafe)" } else { "" };
        out.push_str(&format!("  {} ({place}): {}{unsafe_mark}{times}\n", a.rule, a.title));
    }
    if lines.len() > SHOWN_FIXES {
        // What is not listed may hold the fixes a reviewer most wants to see.
        let hidden_unsafe = lines[SHOWN_FIXES..].iter().filter(|(a, _)| is_unsafe(a)).count();
        let unsafe_note = match hidden_unsafe {
            0 => String::new(),
            n => format!("{n} unsafe; "),
        };
        out.push_str(&format!(
            "  … and {} more ({unsafe_note}`--format json` lists every fix)\n",
            lines.len() - SHOWN_FIXES
        ));
    }
    for change in &outcome.changes {
        let state = match (written, change.before.is_none()) {
            (true, true) => "created",
            (true, false) => "written",
            (false, true) => "would create",
            (false, false) => "would change",
        };
        out.push_str(&format!("  {state} {}\n", change.display));
    }
    for s in &outcome.skipped {
        out.push_str(&format!("  skipped {} ({}): {}\n", s.rule, s.service.as_deref().unwrap_or("-"), s.reason));
    }
    let unsafe_left = outcome
        .remaining
        .iter()
        .filter(|f| f.fix.as_ref().is_some_and(|x| x.applicability == stackfix::rules::Applicability::Unsafe))
        .count();
    if !outcome.remaining.is_empty() {
        out.push_str(&format!(
            "{} finding{} left for a person",
            outcome.remaining.len(),
            if outcome.remaining.len() == 1 { "" } else { "s" }
        ));
        // Findings on what the fixes add (a backup job without `cap_drop`) are new ones: said, so
        // that a count that does not go down is not read as fixes that did nothing.
        let added: HashSet<&str> = outcome.added_services.iter().map(String::as_str).collect();
        let on_added =
            outcome.remaining.iter().filter(|f| f.service.as_deref().is_some_and(|s| added.contains(s))).count();
        if on_added > 0 {
            let add = if written { "added" } else { "would add" };
            let mut names = outcome.added_services.iter().take(SHOWN_ADDED).cloned().collect::<Vec<_>>().join(", ");
            if outcome.added_services.len() > SHOWN_ADDED {
                names.push_str(&format!(" and {} more", outcome.added_services.len() - SHOWN_ADDED));
            }
            out.push_str(&format!(" ({on_added} on the services these fixes {add}: {names})"));
        }
        if unsafe_left > 0 {
            out.push_str(&format!(" ({unsafe_left} with an unsafe fix: --unsafe-fixes)"));
        }
        out.push_str(".\n");
    }
    out
}

pub(super) fn json(outcome: &Outcome, written: bool) -> String {
    let stack = &outcome.stack;
    let doc = serde_json::json!({
        "written": written,
        "changes": outcome.changes.iter().enumerate().map(|(i, c)| serde_json::json!({"file": c.display, "created": c.before.is_none(), "diff": outcome.diff(i)})).collect::<Vec<_>>(),
        "applied": outcome.applied.iter().map(|a| serde_json::json!({"rule": a.rule, "service": a.service, "title": a.title, "applicability": a.applicability.as_str()})).collect::<Vec<_>>(),
        "skipped": outcome.skipped.iter().map(|s| serde_json::json!({"rule": s.rule, "service": s.service, "message": s.message, "reason": s.reason})).collect::<Vec<_>>(),
        "remaining": outcome.remaining.iter().map(|f| report::finding_json(stack, f)).collect::<Vec<_>>(),
        "passes": outcome.passes,
        "version": env!("CARGO_PKG_VERSION"),
    });
    format!("{}\n", serde_json::to_string_pretty(&doc).unwrap_or_default())
}

/// `--pr-body FILE`: the pull request body for `outcome`, written whole (see
/// [`super::write_whole`]).
pub(super) fn write_pr_body(path: &Path, outcomes: &[&Outcome], shown: &dyn Fn(&str) -> String) -> io::Result<()> {
    let body = stackfix::report::pull_request(outcomes, shown);
    super::write_whole(path, |out| io::Write::write_all(out, body.as_bytes()))
        .map_err(|e| io::Error::new(e.kind(), format!("--pr-body {e}")))
}
