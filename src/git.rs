//! Fix branches: fixes computed from HEAD's content and committed with git2 to a branch made from
//! HEAD, without touching the working tree or the index; or, when asked, committed on the current
//! branch after being written to the working tree.

use std::path::{Path, PathBuf};

use git2::{Commit, ErrorCode, FileMode, ObjectType, Oid, Repository, Signature, Status, TreeWalkMode, TreeWalkResult};

use crate::fix::Outcome;

/// The trailer every stackfix commit carries; a branch whose own commits all carry it is
/// stackfix's to rebuild.
pub const TRAILER: &str = "Generated-by: stackfix";

/// The repository holding `dir`, with a work tree.
pub fn open(dir: &Path) -> Result<Repository, String> {
    let repo = Repository::discover(dir).map_err(|e| match e.code() {
        ErrorCode::NotFound => format!("{}: not inside a git repository", dir.display()),
        _ => format!("{}: cannot open the git repository: {}", dir.display(), e.message()),
    })?;
    if repo.is_bare() {
        return Err(format!("{}: a bare repository has no work tree to find the stack in", dir.display()));
    }
    // The work tree is the directory holding `.git` (a directory, or a file naming a separate git
    // directory: `git init --separate-git-dir`, submodules, worktrees), as `git rev-parse
    // --show-toplevel` finds it; libgit2 may take the git directory's parent instead.
    let top =
        dir.canonicalize().ok().and_then(|d| d.ancestors().find(|a| a.join(".git").exists()).map(Path::to_path_buf));
    if let Some(top) = top {
        let current = repo.workdir().and_then(|w| w.canonicalize().ok());
        if current.as_deref() != Some(top.as_path()) {
            repo.set_workdir(&top, false)
                .map_err(|e| format!("{}: cannot use it as the work tree: {}", top.display(), e.message()))?;
        }
    }
    Ok(repo)
}

/// The commit HEAD points at (attached or detached).
pub fn head_commit(repo: &Repository) -> Result<Commit<'_>, String> {
    let head = repo.head().map_err(|e| match e.code() {
        ErrorCode::UnbornBranch => "the repository has no commit yet (unborn HEAD); commit the stack first".to_string(),
        _ => format!("cannot read HEAD: {}", e.message()),
    })?;
    head.peel_to_commit().map_err(|e| format!("HEAD is not a commit: {}", e.message()))
}

/// The repository's work tree, resolved.
pub fn workdir(repo: &Repository) -> Result<PathBuf, String> {
    let dir = repo.workdir().ok_or("the repository has no work tree")?;
    dir.canonicalize().map_err(|e| format!("{}: {e}", dir.display()))
}

/// `path` relative to the work tree (it must lie inside it).
pub fn relative(workdir: &Path, path: &Path) -> Result<PathBuf, String> {
    let resolved = crate::stack::load::resolve(path).ok_or_else(|| format!("{}: cannot resolve", path.display()))?;
    resolved
        .strip_prefix(workdir)
        .map(Path::to_path_buf)
        .map_err(|_| format!("{} is outside the repository's work tree", path.display()))
}

/// Writes the files and symlinks of `commit`'s tree under `into` (submodules are skipped), and
/// marks `into` as a work tree root, so the stack loads from HEAD's content alone. Every file is
/// written, even one larger than stackfix reads: a fix must see that it exists (and refuse to
/// read it) rather than create it anew over what the commit holds.
pub fn export(repo: &Repository, commit: &Commit, into: &Path) -> Result<(), String> {
    let tree = commit.tree().map_err(|e| e.message().to_string())?;
    let mut failure = None;
    tree.walk(TreeWalkMode::PreOrder, |root, entry| {
        let Some(name) = entry.name() else { return TreeWalkResult::Skip };
        let path = into.join(root).join(name);
        let result = match (entry.kind(), entry.filemode()) {
            (Some(ObjectType::Tree), _) => std::fs::create_dir_all(&path).map_err(|e| e.to_string()),
            (Some(ObjectType::Blob), mode) => repo
                .find_blob(entry.id())
                .map_err(|e| e.message().to_string())
                .and_then(|blob| write_entry(&path, blob.content(), mode == i32::from(FileMode::Link))),
            _ => Ok(()),
        };
        match result {
            Ok(()) => TreeWalkResult::Ok,
            Err(e) => {
                failure = Some(format!("{}: {e}", path.display()));
                TreeWalkResult::Abort
            }
        }
    })
    .map_err(|e| failure.clone().unwrap_or_else(|| e.message().to_string()))?;
    std::fs::create_dir_all(into.join(".git")).map_err(|e| e.to_string())
}

fn write_entry(path: &Path, content: &[u8], symlink: bool) -> Result<(), String> {
    if symlink {
        let target = String::from_utf8_lossy(content).into_owned();
        return std::os::unix::fs::symlink(target, path).map_err(|e| e.to_string());
    }
    std::fs::write(path, content).map_err(|e| e.to_string())
}

/// Who commits: `--author "Name <email>"`, else git's `user.name` and `user.email`.
pub fn signature(repo: &Repository, author: Option<&str>) -> Result<Signature<'static>, String> {
    if let Some(text) = author {
        let (name, rest) = text.split_once('<').ok_or_else(|| format!("--author `{text}`: expected `Name <email>`"))?;
        let email = rest.strip_suffix('>').ok_or_else(|| format!("--author `{text}`: expected `Name <email>`"))?;
        return Signature::now(name.trim(), email.trim()).map_err(|e| format!("--author `{text}`: {}", e.message()));
    }
    repo.signature().map_err(|_| {
        "no author: set `git config user.name` and `git config user.email`, or pass --author 'Name <email>'".to_string()
    })
}

/// A file a commit writes: its path in the work tree and its new content.
pub struct NewFile {
    pub path: PathBuf,
    pub content: String,
}

/// The commit (not referenced by anything yet) that puts `files` on top of `parent`.
pub fn commit_files(
    repo: &Repository,
    parent: &Commit,
    files: &[NewFile],
    message: &str,
    signature: &Signature,
) -> Result<Oid, String> {
    let mut blobs = Vec::with_capacity(files.len());
    for file in files {
        let blob = repo.blob(file.content.as_bytes()).map_err(|e| e.message().to_string())?;
        blobs.push((file.path.clone(), blob));
    }
    commit_blobs(repo, parent, &blobs, message, signature)
}

/// The commit (not referenced by anything yet) that puts blobs at their work-tree paths on top
/// of `parent` (an executable file stays executable).
pub fn commit_blobs(
    repo: &Repository,
    parent: &Commit,
    blobs: &[(PathBuf, Oid)],
    message: &str,
    signature: &Signature,
) -> Result<Oid, String> {
    let base = parent.tree().map_err(|e| e.message().to_string())?;
    let mut update = git2::build::TreeUpdateBuilder::new();
    for (path, blob) in blobs {
        let mode = match base.get_path(path) {
            Ok(entry) if entry.filemode() == i32::from(FileMode::BlobExecutable) => FileMode::BlobExecutable,
            _ => FileMode::Blob,
        };
        let name = path.to_str().ok_or_else(|| format!("{}: not a UTF-8 path", path.display()))?;
        update.upsert(name, *blob, mode);
    }
    let tree_id = update.create_updated(repo, &base).map_err(|e| e.message().to_string())?;
    let tree = repo.find_tree(tree_id).map_err(|e| e.message().to_string())?;
    repo.commit(None, signature, signature, message, &tree, &[parent]).map_err(|e| e.message().to_string())
}

/// What happened to a branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BranchState {
    Created,
    /// Rebuilt on the current HEAD (HEAD moved, or the fixes changed).
    Updated,
    /// It already held exactly these fixes on top of HEAD.
    Unchanged,
}

impl BranchState {
    pub fn as_str(self) -> &'static str {
        match self {
            BranchState::Created => "created",
            BranchState::Updated => "updated",
            BranchState::Unchanged => "unchanged",
        }
    }
}

/// A name git accepts for a branch, as `git check-ref-format --branch` does (and not one that
/// reads as an option): `HEAD` and `@` are refused, and so is anything with `@{`.
pub fn check_branch_name(name: &str) -> Result<(), String> {
    let refused = name.starts_with('-')
        || name.starts_with("refs/")
        || name == "HEAD"
        || name == "@"
        || name.contains("@{")
        || !git2::Reference::is_valid_name(&format!("refs/heads/{name}"));
    if refused {
        return Err(format!("`{name}` is not a valid branch name"));
    }
    Ok(())
}

/// The path of the work tree (this repository's or a linked worktree's) that has `refname`
/// checked out, if any: git refuses to move such a branch.
fn checked_out_in(repo: &Repository, refname: &str) -> Option<PathBuf> {
    let head_of = |r: &Repository| r.head().ok().and_then(|h| h.name().map(str::to_string));
    if head_of(repo).as_deref() == Some(refname) {
        return repo.workdir().map(Path::to_path_buf);
    }
    // The main work tree, seen from a linked one (its HEAD lives in the common directory).
    if let Ok(main) = Repository::open(repo.commondir()) {
        if !main.is_bare() && main.path() != repo.path() && head_of(&main).as_deref() == Some(refname) {
            return main.workdir().map(Path::to_path_buf).or_else(|| Some(repo.commondir().to_path_buf()));
        }
    }
    let names = repo.worktrees().ok()?;
    names.iter().flatten().find_map(|name| {
        let worktree = repo.find_worktree(name).ok()?;
        let other = Repository::open_from_worktree(&worktree).ok()?;
        (head_of(&other).as_deref() == Some(refname)).then(|| worktree.path().to_path_buf())
    })
}

/// Points branch `name` at a commit of `files` on top of `head`: created when missing, left as it
/// is when it already holds exactly that, rebuilt when it holds only stackfix's commits, refused
/// when someone else committed on it (unless `force`). The ref moves only if it still points
/// where it was read (compare and swap).
pub fn update_branch(
    repo: &Repository,
    name: &str,
    head: &Commit,
    files: &[NewFile],
    message: &str,
    signature: &Signature,
    force: bool,
) -> Result<(Oid, BranchState), String> {
    check_branch_name(name)?;
    let refname = format!("refs/heads/{name}");
    if repo.head().ok().and_then(|h| h.name().map(str::to_string)).as_deref() == Some(refname.as_str()) {
        return Err(format!(
            "`{name}` is the branch checked out here; moving it would leave the working tree behind (use --commit)"
        ));
    }
    if let Some(elsewhere) = checked_out_in(repo, &refname) {
        return Err(format!(
            "`{name}` is checked out in the worktree {}; git does not move a branch checked out elsewhere",
            elsewhere.display()
        ));
    }
    let commit = commit_files(repo, head, files, message, signature)?;
    let tree = repo.find_commit(commit).map_err(|e| e.message().to_string())?.tree_id();
    let log = format!("stackfix: fixes on {}", head.id());
    let existing = match repo.find_reference(&refname) {
        Ok(reference) => reference.target(),
        Err(e) if e.code() == ErrorCode::NotFound => None,
        Err(e) => return Err(format!("{refname}: {}", e.message())),
    };
    let Some(tip) = existing else {
        move_branch(repo, name, commit, None, &log)?;
        return Ok((commit, BranchState::Created));
    };
    let tip_commit = repo.find_commit(tip).map_err(|e| e.message().to_string())?;
    if tip_commit.parent_count() == 1 && tip_commit.parent_id(0).ok() == Some(head.id()) && tip_commit.tree_id() == tree
    {
        return Ok((tip, BranchState::Unchanged));
    }
    if !force {
        if let Some(foreign) = foreign_commit(repo, tip, head.id())? {
            return Err(format!(
                "branch `{name}` has a commit stackfix did not make ({foreign}); not rebuilding it (--force replaces it)"
            ));
        }
    }
    move_branch(repo, name, commit, Some(tip), &log)?;
    Ok((commit, BranchState::Updated))
}

/// Points branch `name` at `to` only if it still points at `expected` (`None`: only if it does
/// not exist yet), so a change made meanwhile by someone else is reported, not overwritten.
pub fn move_branch(repo: &Repository, name: &str, to: Oid, expected: Option<Oid>, log: &str) -> Result<(), String> {
    let refname = format!("refs/heads/{name}");
    let result = match expected {
        None => repo.reference(&refname, to, false, log),
        Some(old) => repo.reference_matching(&refname, to, true, old, log),
    };
    result.map(|_| ()).map_err(|e| ref_error(name, &e))
}

/// A commit that makes the branch at `tip` someone else's: its tip when the tip lacks stackfix's
/// trailer (a branch that is only an ancestor of HEAD, such as `release`, is not stackfix's to
/// fast-forward), else the first commit on `tip` but not on `head` that lacks it.
fn foreign_commit(repo: &Repository, tip: Oid, head: Oid) -> Result<Option<String>, String> {
    let ours = |commit: &Commit| commit.message().is_some_and(|m| m.lines().any(|l| l.starts_with(TRAILER)));
    let tip_commit = repo.find_commit(tip).map_err(|e| e.message().to_string())?;
    if !ours(&tip_commit) {
        let id = tip.to_string();
        return Ok(Some(format!("{} {}", &id[..7], tip_commit.summary().unwrap_or(""))));
    }
    let mut walk = repo.revwalk().map_err(|e| e.message().to_string())?;
    walk.push(tip).map_err(|e| e.message().to_string())?;
    walk.hide(head).map_err(|e| e.message().to_string())?;
    for oid in walk {
        let oid = oid.map_err(|e| e.message().to_string())?;
        let commit = repo.find_commit(oid).map_err(|e| e.message().to_string())?;
        let ours = commit.message().is_some_and(|m| m.lines().any(|l| l.starts_with(TRAILER)));
        if !ours {
            let id = oid.to_string();
            return Ok(Some(format!("{} {}", &id[..7], commit.summary().unwrap_or(""))));
        }
    }
    Ok(None)
}

fn ref_error(name: &str, e: &git2::Error) -> String {
    match e.code() {
        ErrorCode::Locked => format!("branch `{name}` is locked (another git process is running?); try again"),
        ErrorCode::Modified | ErrorCode::Exists => {
            format!("branch `{name}` changed while stackfix ran; nothing was overwritten, run it again")
        }
        _ => format!("branch `{name}`: {}", e.message()),
    }
}

/// Files of `paths` (work-tree relative) that differ from HEAD in the work tree or the index.
pub fn dirty(repo: &Repository, paths: &[PathBuf]) -> Vec<PathBuf> {
    let changed = Status::WT_MODIFIED
        | Status::WT_DELETED
        | Status::WT_RENAMED
        | Status::WT_TYPECHANGE
        | Status::INDEX_MODIFIED
        | Status::INDEX_DELETED
        | Status::INDEX_RENAMED
        | Status::INDEX_TYPECHANGE
        | Status::INDEX_NEW
        | Status::WT_NEW;
    paths.iter().filter(|p| repo.status_file(p).is_ok_and(|s| s.intersects(changed))).cloned().collect()
}

/// The `filter` attribute git gives `path` (work-tree relative), if any: a clean/smudge driver
/// (git-crypt, git-lfs) that libgit2 does not run, so stackfix cannot commit the file as git
/// would.
pub fn filter_of(repo: &Repository, path: &Path) -> Option<String> {
    let value = repo.get_attr(path, "filter", git2::AttrCheckFlags::FILE_THEN_INDEX).ok()??;
    match git2::AttrValue::from_string(Some(value)) {
        git2::AttrValue::String(name) => Some(name.to_string()),
        git2::AttrValue::True => Some("set".to_string()),
        _ => None,
    }
}

/// Whether another git process holds the lock of `refname` (`refs/heads/x.lock`).
pub fn ref_locked(repo: &Repository, refname: &str) -> bool {
    repo.commondir().join(format!("{refname}.lock")).exists() || repo.path().join(format!("{refname}.lock")).exists()
}

/// Whether `path` (work-tree relative) is ignored as git ignores it: untracked (neither in the
/// index nor in HEAD) and matched by the ignore rules. A tracked file is never ignored.
pub fn is_ignored(repo: &Repository, path: &Path) -> bool {
    if !repo.is_path_ignored(path).unwrap_or(false) {
        return false;
    }
    let in_index = repo.index().ok().is_some_and(|i| i.get_path(path, 0).is_some());
    let in_head = repo.head().ok().and_then(|h| h.peel_to_tree().ok()).is_some_and(|t| t.get_path(path).is_ok());
    !(in_index || in_head)
}

/// Files of `paths` (work-tree relative) the index marks `assume-unchanged` or `skip-worktree`:
/// local changes git does not show (`git status` is silent about them), which a commit of the
/// file would take along.
pub fn hidden_changes(index: &git2::Index, paths: &[PathBuf]) -> Vec<PathBuf> {
    // The entry flags as git writes them (read-cache.c: CE_VALID, CE_SKIP_WORKTREE).
    const ASSUME_UNCHANGED: u16 = 0x8000;
    const SKIP_WORKTREE: u16 = 1 << 14;
    paths
        .iter()
        .filter(|p| {
            index
                .get_path(p, 0)
                .is_some_and(|e| e.flags & ASSUME_UNCHANGED != 0 || e.flags_extended & SKIP_WORKTREE != 0)
        })
        .cloned()
        .collect()
}

/// Findings listed one per line in a commit body, before the rest are only counted.
const LISTED: usize = 50;

/// The commit message for the outcomes of one or more stacks fixed together: a subject naming
/// the fixes, the findings fixed (file:line, service, rule) and those left for a person, and the
/// `Generated-by` trailer. `shown` turns a displayed path into the one the message gives.
pub fn message(outcomes: &[&Outcome], shown: &dyn Fn(&str) -> String) -> String {
    let applied: Vec<&crate::fix::Applied> = outcomes.iter().flat_map(|o| &o.applied).collect();
    let remaining = crate::fix::remaining_once(outcomes);
    let mut rules: Vec<&str> = Vec::new();
    for a in &applied {
        if !rules.contains(&a.rule) {
            rules.push(a.rule);
        }
    }
    let count = applied.len();
    let mut subject = format!("stackfix: fix {count} finding{}", if count == 1 { "" } else { "s" });
    let mut named = Vec::new();
    for rule in &rules {
        if subject.len() + named.iter().map(|r: &&str| r.len() + 2).sum::<usize>() + rule.len() + 4 > 72 {
            break;
        }
        named.push(*rule);
    }
    if !named.is_empty() {
        let more = if named.len() < rules.len() { ", …" } else { "" };
        subject.push_str(&format!(" ({}{more})", named.join(", ")));
    }
    let mut body = String::from("Fixed:\n");
    for a in applied.iter().take(LISTED) {
        body.push_str(&format!(
            "- {} {} {}: {}\n",
            shown(&a.location),
            a.service.as_deref().unwrap_or("-"),
            a.rule,
            a.title
        ));
    }
    if count > LISTED {
        body.push_str(&format!("- … and {} more\n", count - LISTED));
    }
    if !remaining.is_empty() {
        body.push_str("\nLeft for a person:\n");
        for (outcome, f) in remaining.iter().take(LISTED) {
            let (line, _) = outcome.stack.line_col(f.file, f.span.start);
            body.push_str(&format!(
                "- {}:{line} {} {}: {}\n",
                shown(&outcome.stack.file(f.file).display),
                f.service.as_deref().unwrap_or("-"),
                f.rule,
                f.message
            ));
        }
        if remaining.len() > LISTED {
            body.push_str(&format!("- … and {} more\n", remaining.len() - LISTED));
        }
    }
    format!("{subject}\n\n{body}\n{TRAILER} {}\n", env!("CARGO_PKG_VERSION"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_branch_moved_meanwhile_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        let signature = Signature::now("Test", "test@example.test").unwrap();
        let tree = repo.find_tree(repo.treebuilder(None).unwrap().write().unwrap()).unwrap();
        let commit = |message: &str| repo.commit(None, &signature, &signature, message, &tree, &[]).unwrap();
        let (first, theirs, ours) = (commit("first"), commit("someone else's"), commit("stackfix's"));
        move_branch(&repo, "fixes", first, None, "test").unwrap();
        // Someone moves the branch after stackfix read it at `first`.
        repo.reference("refs/heads/fixes", theirs, true, "test").unwrap();
        let err = move_branch(&repo, "fixes", ours, Some(first), "test").unwrap_err();
        assert!(err.contains("changed while stackfix ran"), "{err}");
        assert_eq!(repo.find_reference("refs/heads/fixes").unwrap().target(), Some(theirs));
        // Created meanwhile: not overwritten either.
        repo.reference("refs/heads/new", theirs, true, "test").unwrap();
        assert!(move_branch(&repo, "new", ours, None, "test").unwrap_err().contains("changed while stackfix ran"));
        move_branch(&repo, "fixes", ours, Some(theirs), "test").unwrap();
        assert_eq!(repo.find_reference("refs/heads/fixes").unwrap().target(), Some(ours));
    }
}
