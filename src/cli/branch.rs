//! `stackfix fix --branch` / `--branch-per-rule` / `--commit`: the fixes committed with git2.

use std::io;
use std::path::{Path, PathBuf};

use stackfix::fix::{self, FixOptions, Outcome};
use stackfix::git::{self, NewFile};

use super::config::Prepared;
use super::fix::write_changes;
use super::{print, FixArgs, WriteFormat, EXIT_CLEAN, EXIT_ERROR};

/// What was committed to one branch.
struct Committed {
    branch: String,
    commit: String,
    state: &'static str,
    files: Vec<PathBuf>,
    /// One per stack fixed (several only with `--branch` over several stacks).
    outcomes: Vec<Outcome>,
    /// The directory the fixes were made in (HEAD's copy, or the work tree): paths are shown
    /// relative to it.
    root: PathBuf,
}

/// One stack to fix: its configuration and fix options.
pub type Stack<'a> = (&'a Prepared, &'a FixOptions);

/// `--branch`, `--branch-per-rule` or `--commit` on `stacks` (several only with `--branch`: one
/// commit for all of them).
pub fn run(args: &FixArgs, stacks: &[Stack]) -> io::Result<u8> {
    // The body is written after the commits: never over a file of a stack.
    if let Some(path) = &args.pr_body {
        for (prepared, _) in stacks {
            let stack = stackfix::stack::load(&prepared.load);
            if let Err(code) = super::refuse_overwriting("--pr-body", path, stack.inputs()) {
                return Ok(code);
            }
        }
    }
    let result = if args.commit { commit_here(args, stacks[0].0, stacks[0].1) } else { branches(args, stacks) };
    match result {
        Ok(committed) => {
            // What was committed is said first: a body that cannot be written changes nothing.
            let code = report(args, &committed)?;
            // One branch (or commit): its body. Nothing committed: the body says so.
            if let Some(path) = &args.pr_body {
                let written = match committed.first() {
                    Some(c) => {
                        let shown = |p: &str| -> String {
                            let p = Path::new(p);
                            p.strip_prefix(&c.root).unwrap_or(p).display().to_string()
                        };
                        let outcomes: Vec<&Outcome> = c.outcomes.iter().collect();
                        super::fix::write_pr_body(path, &outcomes, &shown)
                    }
                    None => super::write_whole(path, |out| {
                        io::Write::write_all(out, b"## stackfix: 0 fixes\n\nNothing to change.\n")
                    }),
                };
                if let Err(e) = written {
                    let what = if committed.is_empty() { "" } else { " (the fixes are committed)" };
                    eprintln!("error: {e}{what}");
                    return Ok(EXIT_ERROR);
                }
            }
            Ok(code)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(EXIT_ERROR)
        }
    }
}

/// The fixes computed from HEAD's files and committed to one branch, or one per rule. Several
/// stacks (of one repository) are fixed one after the other in HEAD's copy, each seeing what the
/// ones before it wrote, and committed together.
fn branches(args: &FixArgs, stacks: &[Stack]) -> Result<Vec<Committed>, String> {
    if let Some(name) = &args.branch {
        git::check_branch_name(name)?;
    }
    let (first, _) = stacks[0];
    let repo = git::open(&first.load.dir)?;
    let head = git::head_commit(&repo)?;
    let workdir = git::workdir(&repo)?;
    for (prepared, _) in stacks[1..].iter().copied() {
        let other = git::open(&prepared.load.dir).and_then(|r| git::workdir(&r))?;
        if other != workdir {
            return Err(format!(
                "{} is in another repository than {}; one branch holds the fixes of one repository",
                prepared.load.dir.display(),
                first.load.dir.display()
            ));
        }
    }
    let signature = git::signature(&repo, args.author.as_deref())?;
    // From here until the commits start, an interrupt removes HEAD's copy and ends the run.
    let guard = CopyGuard::new();
    let temp = guard.private_dir()?;
    let root = temp.path().canonicalize().map_err(|e| e.to_string())?;
    guard.exporting(|| git::export(&repo, &head, &root))?;
    let in_copy = |prepared: &Prepared| -> Result<stackfix::stack::LoadOptions, String> {
        let mut load = prepared.load.clone();
        load.dir = root.join(git::relative(&workdir, &prepared.load.dir)?);
        load.files = prepared
            .load
            .files
            .iter()
            .map(|f| git::relative(&workdir, f).map(|rel| root.join(rel)))
            .collect::<Result<_, _>>()?;
        Ok(load)
    };
    let mut plans: Vec<(String, Vec<Outcome>)> = Vec::new();
    if args.branch_per_rule {
        let (prepared, options) = stacks[0];
        let load = in_copy(prepared)?;
        let all = fix::run(&load, &prepared.settings, options).map_err(|e| e.to_string())?;
        let mut rules: Vec<&str> = Vec::new();
        for applied in &all.applied {
            if !rules.contains(&applied.rule) {
                rules.push(applied.rule);
            }
        }
        for rule in rules {
            let mut settings = prepared.settings.clone();
            settings.select = vec![rule.to_string()];
            let outcome = fix::run(&load, &settings, options).map_err(|e| e.to_string())?;
            plans.push((format!("stackfix/{rule}"), vec![outcome]));
        }
    } else {
        let mut outcomes = Vec::new();
        for (i, (prepared, options)) in stacks.iter().copied().enumerate() {
            let load = in_copy(prepared)?;
            let outcome = fix::run(&load, &prepared.settings, options).map_err(|e| e.to_string())?;
            // The next stack reads what this one changed (a file they share, an include).
            if i + 1 < stacks.len() {
                for change in &outcome.changes {
                    write_in_copy(&root, &change.path, &change.after)?;
                }
            }
            outcomes.push(outcome);
        }
        plans.push((args.branch.clone().unwrap_or_else(|| "stackfix/fixes".into()), outcomes));
    }
    let shown = |path: &str| -> String {
        let path = Path::new(path);
        path.strip_prefix(&root).map(|p| p.display().to_string()).unwrap_or_else(|_| path.display().to_string())
    };
    guard.committing();
    let mut out = Vec::new();
    for (branch, outcomes) in plans {
        if outcomes.iter().all(|o| o.changes.is_empty()) {
            continue;
        }
        // A file two stacks changed: the later stack's text holds both changes.
        let mut files: Vec<NewFile> = Vec::new();
        for outcome in &outcomes {
            for file in new_files(&repo, &root, outcome)? {
                match files.iter_mut().find(|f| f.path == file.path) {
                    Some(known) => *known = file,
                    None => files.push(file),
                }
            }
        }
        let listed: Vec<&Outcome> = outcomes.iter().collect();
        let message = git::message(&listed, &shown);
        let (oid, state) = git::update_branch(&repo, &branch, &head, &files, &message, &signature, args.force)?;
        let paths: Vec<PathBuf> = files.into_iter().map(|f| f.path).collect();
        for path in git::dirty(&repo, &paths) {
            eprintln!(
                "note: {} has uncommitted changes; `{branch}` was made from HEAD's version of it",
                path.display()
            );
        }
        out.push(Committed {
            branch,
            commit: oid.to_string(),
            state: state.as_str(),
            files: paths,
            outcomes,
            root: root.clone(),
        });
    }
    Ok(out)
}

/// Writes `text` to `path` in HEAD's copy at `root`, for the next stack to read. A path outside
/// the copy, or through a link in it (HEAD may hold links that lead anywhere), is refused: the
/// copy is the only thing written.
fn write_in_copy(root: &Path, path: &Path, text: &str) -> Result<(), String> {
    let normalized = stackfix::stack::load::normalize(path);
    let relative = normalized
        .strip_prefix(root)
        .map_err(|_| format!("{} is outside the repository; nothing was committed", path.display()))?;
    let mut at = root.to_path_buf();
    for component in relative.components() {
        at.push(component);
        if std::fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(format!(
                "{} is a link in the repository, which stackfix does not write through; nothing was committed",
                relative.display()
            ));
        }
    }
    if let Some(parent) = at.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    std::fs::write(&at, text).map_err(|e| format!("{}: {e}", at.display()))
}

/// HEAD's copy removed on SIGINT, SIGTERM, SIGHUP and SIGQUIT while the fixes are planned (the
/// run then ends with exit 130 and nothing committed); once the commits start, an interrupt
/// waits for them (a branch is never left half-made).
struct CopyGuard {
    handle: Option<signal_hook::iterator::Handle>,
    /// While planning: where HEAD's copy is (once made); `None` once the commits start.
    planning: std::sync::Arc<std::sync::Mutex<Option<Option<PathBuf>>>>,
}

impl CopyGuard {
    fn new() -> CopyGuard {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
        let planning = std::sync::Arc::new(std::sync::Mutex::new(Some(None)));
        let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP, SIGQUIT]) else {
            return CopyGuard { handle: None, planning };
        };
        let handle = signals.handle();
        let state = planning.clone();
        std::thread::spawn(move || {
            for signal in signals.forever() {
                let Ok(planning) = state.lock() else { continue };
                if let Some(copy) = planning.as_ref() {
                    if let Some(copy) = copy {
                        let _ = std::fs::remove_dir_all(copy);
                    }
                    eprintln!("error: interrupted; nothing was committed");
                    std::process::exit(128 + signal);
                }
            }
        });
        CopyGuard { handle: Some(handle), planning }
    }

    /// A directory for HEAD's copy, private to this user (0700: the stack may hold secrets),
    /// made while interrupts wait, so one always finds it recorded.
    fn private_dir(&self) -> Result<tempfile::TempDir, String> {
        use std::os::unix::fs::PermissionsExt;
        let mut planning = self.planning.lock().map_err(|_| "internal error: a lock was poisoned".to_string())?;
        let dir = tempfile::Builder::new()
            .prefix("stackfix-head-")
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir()
            .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
        if planning.is_some() {
            *planning = Some(Some(dir.path().to_path_buf()));
        }
        Ok(dir)
    }

    /// Runs `export` (which writes HEAD's copy) while interrupts wait: removing the copy while it
    /// is being written would leave part of it behind.
    fn exporting<T>(&self, export: impl FnOnce() -> T) -> T {
        let _waiting = self.planning.lock();
        export()
    }

    /// The commits start: interrupts no longer end the run.
    fn committing(&self) {
        if let Ok(mut planning) = self.planning.lock() {
            *planning = None;
        }
    }
}

impl Drop for CopyGuard {
    fn drop(&mut self) {
        // An interrupt being handled holds the lock until the process exits (130): a planning
        // error it caused (HEAD's copy removed under the plan) is not reported in its place.
        let _handled_first = self.planning.lock();
        if let Some(handle) = self.handle.take() {
            handle.close();
        }
    }
}

/// The changed files as work-tree paths, without those the repository ignores (`.env`, …).
fn new_files(repo: &git2::Repository, root: &Path, outcome: &Outcome) -> Result<Vec<NewFile>, String> {
    let mut files = Vec::new();
    for change in &outcome.changes {
        let resolved = stackfix::stack::load::resolve(&change.path).unwrap_or_else(|| change.path.clone());
        let path = resolved
            .strip_prefix(root)
            .map_err(|_| format!("{} is outside the repository; nothing was committed", change.display))?
            .to_path_buf();
        if path.to_str().is_none() {
            return Err(format!(
                "{}: not a UTF-8 path, which stackfix does not commit; nothing was written",
                path.display()
            ));
        }
        if let Some(filter) = git::filter_of(repo, &path) {
            return Err(format!(
                "{} has a git filter (`filter={filter}`: git-crypt, git-lfs, …) that stackfix cannot apply; fix and \
                 commit it with git (nothing was written or committed)",
                path.display()
            ));
        }
        if git::is_ignored(repo, &path) {
            eprintln!("note: {} is ignored by the repository; it is not committed", path.display());
            continue;
        }
        files.push(NewFile { path, content: change.after.clone() });
    }
    Ok(files)
}

/// The fixes written to the working tree and committed on the current branch (or detached HEAD).
fn commit_here(args: &FixArgs, prepared: &Prepared, options: &FixOptions) -> Result<Vec<Committed>, String> {
    let repo = git::open(&prepared.load.dir)?;
    let head = git::head_commit(&repo)?;
    let workdir = git::workdir(&repo)?;
    let signature = git::signature(&repo, args.author.as_deref())?;
    // `git commit` refuses in the middle of a merge, rebase, cherry-pick or revert.
    if repo.state() != git2::RepositoryState::Clean {
        use git2::RepositoryState as S;
        let what = match repo.state() {
            S::Merge => "merge",
            S::Revert | S::RevertSequence => "revert",
            S::CherryPick | S::CherryPickSequence => "cherry-pick",
            S::Bisect => "bisect",
            S::Rebase | S::RebaseInteractive | S::RebaseMerge | S::ApplyMailbox | S::ApplyMailboxOrRebase => "rebase",
            S::Clean => "clean state",
        };
        return Err(format!(
            "the repository is in the middle of a {what} (see `git status`); finish or abort it first (nothing was written)"
        ));
    }
    // The index is read before anything is written: one libgit2 cannot read (a split index) is
    // found while nothing has changed.
    let mut index = repo
        .index()
        .map_err(|e| format!("the repository's index cannot be read: {} (nothing was written)", e.message()))?;
    let outcome = fix::run(&prepared.load, &prepared.settings, options).map_err(|e| e.to_string())?;
    if outcome.changes.is_empty() {
        return Ok(Vec::new());
    }
    // The body is written after the commit: never over a file it commits.
    if let Some(body) = &args.pr_body {
        if let Some(written) = super::overwrites_input(body, outcome.changes.iter().map(|c| c.path.as_path())) {
            return Err(format!(
                "--pr-body {}: that is {}, a file the fixes write; not overwriting it (nothing was written)",
                body.display(),
                written.display()
            ));
        }
    }
    let files = new_files(&repo, &workdir, &outcome)?;
    let paths: Vec<PathBuf> = files.iter().map(|f| f.path.clone()).collect();
    // The files named, and the verb that fits their number.
    let listed = |paths: &[PathBuf], one: &str, many: &str| {
        let list: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        format!("{} {}", list.join(", "), if list.len() == 1 { one } else { many })
    };
    let hidden = git::hidden_changes(&index, &paths);
    if !hidden.is_empty() {
        return Err(format!(
            "{} marked assume-unchanged or skip-worktree in the index: local changes git does not show would be committed; clear the mark (`git update-index --no-skip-worktree --no-assume-unchanged`) or fix by hand (nothing was written)",
            listed(&hidden, "is", "are")
        ));
    }
    let dirty = git::dirty(&repo, &paths);
    if !dirty.is_empty() {
        return Err(format!(
            "{} uncommitted changes; commit or stash them first (nothing was written)",
            listed(&dirty, "has", "have")
        ));
    }
    if files.is_empty() {
        return Err("every file the fixes change is ignored by the repository; nothing was written or committed".into());
    }
    // The index is updated last; one another git process holds (an editor's `git status`) would
    // leave it staging the old text, which the next `git commit` would put back. So would a
    // locked branch leave the fixes written but not committed.
    if repo.path().join("index.lock").exists() {
        return Err("the index is locked (another git process is running?); nothing was written, try again".into());
    }
    if let Some(branch) = repo.head().ok().filter(|h| h.is_branch()).and_then(|h| h.name().map(str::to_string)) {
        if git::ref_locked(&repo, &branch) {
            return Err(format!(
                "{branch} is locked (another git process is running?); nothing was written, try again"
            ));
        }
    }
    // From the write to the index update, interrupts wait: a stop in between would leave the
    // fixes written but not committed, or committed with the index staging the old text.
    let _held = fix::write::hold_signals();
    if !write_changes(&prepared.load.dir, &outcome, args.write_read_only) {
        return Err("the fixes could not be written; nothing was committed".into());
    }
    let shown = |path: &str| -> String {
        git::relative(&workdir, Path::new(path)).map_or_else(|_| path.to_string(), |p| p.display().to_string())
    };
    let message = git::message(&[&outcome], &shown);
    // The written files staged as `git add` stages them (the repository's filters applied:
    // `core.autocrlf`, `.gitattributes`), and those blobs committed, so the index and the work
    // tree show no change afterwards.
    index.read(false).map_err(|e| format!("{} (the fixes are written but not committed)", e.message()))?;
    let mut blobs = Vec::with_capacity(paths.len());
    for path in &paths {
        index
            .add_path(path)
            .map_err(|e| format!("{}: {} (the fixes are written but not committed)", path.display(), e.message()))?;
        let entry = index.get_path(path, 0).ok_or_else(|| format!("{}: not staged", path.display()))?;
        blobs.push((path.clone(), entry.id));
    }
    let oid = git::commit_blobs(&repo, &head, &blobs, &message, &signature)?;
    let branch = match repo.head() {
        Ok(reference) if reference.is_branch() => {
            let name = reference.shorthand().unwrap_or("HEAD").to_string();
            git::move_branch(&repo, &name, oid, Some(head.id()), "stackfix: commit fixes")
                .map_err(|e| format!("{e} (the fixes are written but not committed)"))?;
            name
        }
        _ => {
            repo.set_head_detached(oid).map_err(|e| e.message().to_string())?;
            "HEAD".to_string()
        }
    };
    index.write().map_err(|e| {
        format!(
            "the fixes are written and committed as {} on {branch}, but the index could not be updated ({}); run \
             `git reset -q` to stage them as committed",
            &oid.to_string()[..12],
            e.message()
        )
    })?;
    Ok(vec![Committed {
        branch,
        commit: oid.to_string(),
        state: "committed",
        files: paths,
        outcomes: vec![outcome],
        root: workdir,
    }])
}

fn report(args: &FixArgs, committed: &[Committed]) -> io::Result<u8> {
    if args.format == WriteFormat::Json {
        let branches: Vec<serde_json::Value> = committed
            .iter()
            .map(|c| {
                serde_json::json!({
                    "branch": c.branch,
                    "commit": c.commit,
                    "state": c.state,
                    "files": c.files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
                    "fixed": c.outcomes.iter().flat_map(|o| &o.applied).map(|a| serde_json::json!({"rule": a.rule, "service": a.service, "title": a.title})).collect::<Vec<_>>(),
                    "left": fix::remaining_once(&c.outcomes.iter().collect::<Vec<_>>()).len(),
                })
            })
            .collect();
        let doc = serde_json::json!({ "branches": branches });
        print(&format!("{}\n", serde_json::to_string_pretty(&doc).unwrap_or_default()))?;
        return Ok(EXIT_CLEAN);
    }
    if committed.is_empty() {
        print("Nothing to fix; no commit made.\n")?;
        return Ok(EXIT_CLEAN);
    }
    for c in committed {
        let n: usize = c.outcomes.iter().map(|o| o.applied.len()).sum();
        let left = fix::remaining_once(&c.outcomes.iter().collect::<Vec<_>>()).len();
        print(&format!(
            "{} {n} fix{} on `{}` ({}, {}): {}\n",
            if c.state == "unchanged" { "Already" } else { "Committed" },
            if n == 1 { "" } else { "es" },
            c.branch,
            &c.commit[..c.commit.len().min(12)],
            c.state,
            c.files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", ")
        ))?;
        if left > 0 {
            print(&format!("  {} finding(s) left for a person (listed in the commit message)\n", left))?;
        }
    }
    Ok(EXIT_CLEAN)
}
