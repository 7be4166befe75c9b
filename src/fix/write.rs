//! Writing a run's files: all of them or none, each through a temporary file renamed over it, as
//! the file was (a link stays a link and its target is written; owner, group and mode are kept),
//! and only while nothing else changed it since the run read it.
//!
//! What this guarantees: a file is never half-written; a run's files are all written or, when
//! one cannot be, none is (a rename that fails puts back those renamed before it); a file another
//! program changed after the run read it is not overwritten; two runs that hold the project lock
//! ([`ProjectLock`]) never interleave; SIGINT, SIGTERM, SIGHUP and SIGQUIT wait until the writes
//! are done or undone, so no temporary file is left behind; every file and its directory are
//! `fsync`ed before success is reported. What it does not: survive power loss on filesystems
//! that do not honour `fsync`, or lock against writers on network filesystems (`flock` may not
//! reach other hosts). Extended attributes (ACLs, SELinux labels) are copied to the new file.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// One file a run writes.
pub struct Planned<'a> {
    /// The path as the stack names it (a link is followed to the file it names).
    pub path: &'a Path,
    /// The path as the user should see it.
    pub display: &'a str,
    /// What the run read there (`None`: the file did not exist and must not now).
    pub before: Option<&'a str>,
    pub after: &'a str,
}

/// Why a run's files were not written. `written` names files that stay changed (only when
/// putting one back failed too); empty means the project is as it was.
#[derive(Debug)]
pub struct WriteFailure {
    pub message: String,
    pub written: Vec<String>,
}

impl std::fmt::Display for WriteFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.written.as_slice() {
            [] => write!(f, "{}; nothing was written", self.message),
            written => write!(
                f,
                "{}; these files stay written and could not be put back: {}",
                self.message,
                written.join(", ")
            ),
        }
    }
}

/// An exclusive lock on a project for a run that writes (`flock` on its root directory, held
/// until dropped): a second run waits for the first to finish, then plans on what it wrote.
pub struct ProjectLock {
    _lock: nix::fcntl::Flock<File>,
}

impl ProjectLock {
    /// Locks the project whose root is `root`; `waiting` is called once when another run holds
    /// the lock, before waiting for it.
    pub fn acquire(root: &Path, waiting: impl FnOnce()) -> std::io::Result<ProjectLock> {
        use nix::fcntl::{Flock, FlockArg};
        let dir = File::open(root)?;
        let lock = match Flock::lock(dir, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => lock,
            Err((dir, nix::errno::Errno::EWOULDBLOCK)) => {
                waiting();
                Flock::lock(dir, FlockArg::LockExclusive).map_err(|(_, e)| std::io::Error::from(e))?
            }
            Err((_, e)) => return Err(e.into()),
        };
        Ok(ProjectLock { _lock: lock })
    }
}

/// Why a rename failed, with the text another program left in the file when it must be put back.
type RenameError = (String, Option<Vec<u8>>);

/// A file of the run, checked and ready to be written.
struct Target<'a> {
    planned: &'a Planned<'a>,
    /// The file written: the path, or the file a link there names.
    file: PathBuf,
    /// Owner, group and mode of the file replaced (`None`: a new file).
    kept: Option<(u32, u32, u32)>,
    temp: Option<PathBuf>,
}

/// Writes every file of a run, all or none (see the module's guarantees). `root` is the project
/// root: a file outside it, through links too, is refused.
///
/// Refused before anything is written: a path outside the project, a link to a missing file, a
/// directory or device, a file with several hard links (a new file would split them), a
/// read-only file (no write bit) unless `read_only` allows it, a file whose owner cannot be
/// kept, and a file whose text is no longer what the run read.
pub fn write_all(root: &Path, planned: &[Planned], read_only: bool) -> Result<(), WriteFailure> {
    let refuse =
        |p: &Planned, reason: String| WriteFailure { message: format!("{}: {reason}", p.display), written: Vec::new() };
    let mut targets: Vec<Target> = Vec::with_capacity(planned.len());
    for p in planned {
        let file = match std::fs::symlink_metadata(p.path) {
            Ok(meta) if meta.file_type().is_symlink() => match std::fs::canonicalize(p.path) {
                Ok(file) => file,
                Err(_) => return Err(refuse(p, "is a link to a file that does not exist".into())),
            },
            _ => p.path.to_path_buf(),
        };
        if !crate::stack::project::is_inside(root, &file) {
            return Err(refuse(p, "resolves outside the project".into()));
        }
        if targets.iter().any(|t| same_file(&t.file, &file)) {
            return Err(refuse(p, "names the same file as another change of this run (through a link)".into()));
        }
        let kept = match std::fs::metadata(&file) {
            Ok(meta) => {
                if !meta.is_file() {
                    return Err(refuse(p, "is not a regular file".into()));
                }
                if meta.nlink() > 1 {
                    return Err(refuse(
                        p,
                        format!(
                            "has {} hard links, and writing it would split them (the other names would keep the old \
                             text); edit it by hand or make it a single file",
                            meta.nlink()
                        ),
                    ));
                }
                if meta.mode() & 0o222 == 0 && !read_only {
                    return Err(refuse(
                        p,
                        "is read-only; make it writable (`stackfix fix --write-read-only` replaces it, keeping its mode)"
                            .into(),
                    ));
                }
                Some((meta.uid(), meta.gid(), meta.mode() & 0o7777))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(refuse(p, e.to_string())),
        };
        unchanged(p, &file).map_err(|reason| refuse(p, reason))?;
        targets.push(Target { planned: p, file, kept, temp: None });
    }
    let _signals = SignalsHeld::hold();
    // Every temporary file first: a failure here leaves every file as it was.
    let mut created_dirs: Vec<PathBuf> = Vec::new();
    for i in 0..targets.len() {
        let after = targets[i].planned.after;
        if let Err(message) = prepare(&mut targets[i], after.as_bytes(), &mut created_dirs) {
            discard(&mut targets, &created_dirs);
            return Err(WriteFailure {
                message: format!("{}: {message}", targets[i].planned.display),
                written: Vec::new(),
            });
        }
    }
    // Then the renames, each just after checking the file is still what the run read: new
    // files first, so that a run killed between renames (SIGKILL, power loss) leaves at worst
    // unused new files, not a changed file naming a file that is not there yet.
    let order: Vec<usize> = (0..targets.len())
        .filter(|&i| targets[i].kept.is_none())
        .chain((0..targets.len()).filter(|&i| targets[i].kept.is_some()))
        .collect();
    let mut done: Vec<usize> = Vec::with_capacity(order.len());
    for &i in &order {
        let t = &targets[i];
        let result = rename_checked(t);
        if let Err((message, theirs)) = result {
            let message = format!("{}: {message}", t.planned.display);
            let mut back: Vec<(&Target, Option<Vec<u8>>)> = done.iter().map(|&j| (&targets[j], None)).collect();
            // A file another program wrote during its rename gets that program's text back.
            if let Some(theirs) = theirs {
                back.push((t, Some(theirs)));
            }
            let written = put_back(&back);
            discard(&mut targets, &created_dirs);
            return Err(WriteFailure { message, written });
        }
        targets[i].temp = None;
        done.push(i);
    }
    let mut dirs: Vec<&Path> = targets.iter().filter_map(|t| t.file.parent()).collect();
    dirs.sort();
    dirs.dedup();
    for dir in dirs {
        // A directory that cannot be opened for `fsync` (some filesystems) is left to the
        // kernel; the files themselves were synced.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Whether two paths name the same existing file (or are the same path).
fn same_file(a: &Path, b: &Path) -> bool {
    a == b
        || match (std::fs::metadata(a), std::fs::metadata(b)) {
            (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
            _ => false,
        }
}

/// The file still holds what the run read (or still does not exist).
fn unchanged(p: &Planned, file: &Path) -> Result<(), String> {
    match (p.before, std::fs::read(file)) {
        (Some(before), Ok(now)) if now == before.as_bytes() => Ok(()),
        (Some(_), Ok(_)) => Err("changed since stackfix read it (another program wrote it); run stackfix again".into()),
        (Some(_), Err(_)) => Err("was removed or became unreadable since stackfix read it".into()),
        (None, Err(e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        (None, _) => Err("was created by another program since stackfix planned to create it".into()),
    }
}

/// Writes the temporary file beside the target: the new text, the target's owner and mode,
/// synced.
fn prepare(t: &mut Target, content: &[u8], created_dirs: &mut Vec<PathBuf>) -> Result<(), String> {
    let dir = t.file.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf();
    // Directories the run creates for a new file, outermost first, to remove on failure.
    let mut missing = Vec::new();
    let mut at = dir.as_path();
    while !at.as_os_str().is_empty() && !at.exists() {
        missing.push(at.to_path_buf());
        at = at.parent().unwrap_or(Path::new(""));
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create its directory: {e}"))?;
    created_dirs.extend(missing.into_iter().rev());
    let name = t.file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut n = 0;
    let (temp, mut file) = loop {
        let temp = dir.join(format!(".{name}.stackfix-{}-{n}.tmp", std::process::id()));
        // Private until it is complete: the text may be a secret file's.
        match OpenOptions::new().write(true).create_new(true).mode(0o600).open(&temp) {
            Ok(file) => break (temp, file),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 100 => n += 1,
            Err(e) => return Err(format!("cannot create a temporary file beside it: {e}")),
        }
    };
    t.temp = Some(temp);
    file.write_all(content).map_err(|e| e.to_string())?;
    match t.kept {
        Some((uid, gid, mode)) => {
            // Owner first: changing it clears set-id bits, which the mode then puts back.
            let current = file.metadata().map_err(|e| e.to_string())?;
            if current.uid() != uid || current.gid() != gid {
                std::os::unix::fs::fchown(&file, Some(uid), Some(gid))
                    .map_err(|e| format!("cannot keep its owner {uid}:{gid} ({e}); run stackfix as that user"))?;
            }
            file.set_permissions(std::fs::Permissions::from_mode(mode)).map_err(|e| e.to_string())?;
            // Extended attributes last (POSIX ACLs are among them, and the mode set above
            // changed their mask).
            copy_xattrs(&t.file, &file)?;
        }
        None => {
            // A new file gets the mode a new file gets from this process (0666 less the umask).
            let umask = current_umask();
            file.set_permissions(std::fs::Permissions::from_mode(0o666 & !umask)).map_err(|e| e.to_string())?;
        }
    }
    file.sync_all().map_err(|e| e.to_string())
}

/// Every extended attribute of `from` (ACLs, SELinux labels, user attributes) set on `to`; a
/// filesystem without them has none to copy.
fn copy_xattrs(from: &Path, to: &File) -> Result<(), String> {
    use xattr::FileExt;
    let names = match xattr::list(from) {
        Ok(names) => names,
        Err(e) if e.raw_os_error() == Some(nix::errno::Errno::ENOTSUP as i32) => return Ok(()),
        Err(e) => return Err(format!("cannot read its extended attributes: {e}")),
    };
    for name in names {
        let Ok(Some(value)) = xattr::get(from, &name) else { continue };
        to.set_xattr(&name, &value)
            .map_err(|e| format!("cannot keep its extended attribute {} ({e})", name.to_string_lossy()))?;
    }
    Ok(())
}

/// The process's umask (read by setting it and setting it back).
fn current_umask() -> u32 {
    use nix::sys::stat::{umask, Mode};
    let old = umask(Mode::from_bits_truncate(0o022));
    umask(old);
    old.bits()
}

/// Renames the temporary file over the target; a new file only where none exists.
fn rename_into_place(t: &Target) -> std::io::Result<()> {
    let Some(temp) = &t.temp else { return Ok(()) };
    match t.kept {
        Some(_) => std::fs::rename(temp, &t.file),
        None => {
            use nix::fcntl::{renameat2, RenameFlags, AT_FDCWD};
            renameat2(AT_FDCWD, temp.as_path(), AT_FDCWD, t.file.as_path(), RenameFlags::RENAME_NOREPLACE)
                .map_err(std::io::Error::from)
        }
    }
}

/// Renames a target's temporary file into place after checking the file still holds what the
/// run read. An existing file is exchanged with the temporary file (`renameat2`
/// `RENAME_EXCHANGE`), so what was in place a moment before is then at the temporary path: when
/// another program wrote or replaced the file meanwhile, the two are exchanged back and its text
/// stays as it left it. Where the filesystem cannot exchange, a plain rename is checked through a
/// handle kept open on the old file, whose text is returned to be put back.
fn rename_checked(t: &Target) -> Result<(), RenameError> {
    use std::io::{Read, Seek};
    let changed = "changed since stackfix read it (another program wrote it); run stackfix again";
    let (Some(before), Some(temp)) = (t.planned.before, t.temp.as_deref()) else {
        unchanged(t.planned, &t.file).map_err(|m| (m, None))?;
        return rename_into_place(t).map_err(|e| (e.to_string(), None));
    };
    let mut old = File::open(&t.file)
        .map_err(|_| ("was removed or became unreadable since stackfix read it".to_string(), None))?;
    let mut now = Vec::new();
    old.read_to_end(&mut now).map_err(|e| (e.to_string(), None))?;
    if now != before.as_bytes() {
        return Err((changed.into(), None));
    }
    match exchange_checked(temp, &t.file, before.as_bytes()) {
        Some(result) => result,
        None => {
            // Replaced by another program (a save by rename) since the check: not ours to replace.
            let same = match (old.metadata(), std::fs::metadata(&t.file)) {
                (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
                _ => false,
            };
            if !same {
                return Err((changed.into(), None));
            }
            rename_into_place(t).map_err(|e| (e.to_string(), None))?;
            now.clear();
            let reread = old.rewind().and_then(|()| old.read_to_end(&mut now));
            match reread {
                Ok(_) if now == before.as_bytes() => Ok(()),
                _ => {
                    Err(("another program wrote it while stackfix replaced it; its text is put back".into(), Some(now)))
                }
            }
        }
    }
}

/// Exchanges `temp` and `file` and keeps the exchange only when what was in place is `before`;
/// otherwise exchanges them back (or, when that fails, returns what was in place to be put
/// back). `None` when the filesystem cannot exchange.
fn exchange_checked(temp: &Path, file: &Path, before: &[u8]) -> Option<Result<(), RenameError>> {
    use nix::fcntl::{renameat2, RenameFlags, AT_FDCWD};
    let exchange = RenameFlags::RENAME_EXCHANGE;
    Some(match renameat2(AT_FDCWD, temp, AT_FDCWD, file, exchange) {
        Ok(()) => {
            // What was in place is now at the temporary path.
            let replaced = std::fs::read(temp).unwrap_or_default();
            if replaced == before {
                let _ = std::fs::remove_file(temp);
                return Some(Ok(()));
            }
            let back = renameat2(AT_FDCWD, temp, AT_FDCWD, file, exchange);
            let message = "another program wrote it while stackfix replaced it; its text is left as it was";
            match back {
                Ok(()) => {
                    let _ = std::fs::remove_file(temp);
                    Err((message.into(), None))
                }
                Err(_) => Err((message.into(), Some(replaced))),
            }
        }
        Err(nix::errno::Errno::EINVAL | nix::errno::Errno::ENOSYS | nix::errno::Errno::EOPNOTSUPP) => return None,
        Err(e) => Err((std::io::Error::from(e).to_string(), None)),
    })
}

/// Puts back the files already renamed (their old text, or the text given, with their owner
/// and mode; a new file removed); returns those that could not be.
fn put_back(done: &[(&Target, Option<Vec<u8>>)]) -> Vec<String> {
    let mut failed = Vec::new();
    for (t, text) in done.iter().rev() {
        // Only a file that still holds what this run wrote is put back: one another program
        // changed since is left as it left it (and listed).
        let ours = t.planned.after.as_bytes();
        let holds_ours = || std::fs::read(&t.file).is_ok_and(|now| now == ours);
        let ok = match text.as_deref().or(t.planned.before.map(str::as_bytes)) {
            Some(restore) => {
                let mut back = Target { planned: t.planned, file: t.file.clone(), kept: t.kept, temp: None };
                let ok = prepare(&mut back, restore, &mut Vec::new()).is_ok()
                    && back.temp.as_ref().is_some_and(|temp| match exchange_checked(temp, &t.file, ours) {
                        Some(result) => result.is_ok(),
                        None => holds_ours() && std::fs::rename(temp, &t.file).is_ok(),
                    });
                if let Some(temp) = back.temp.filter(|temp| !ok && temp.exists()) {
                    let _ = std::fs::remove_file(temp);
                }
                ok
            }
            None => holds_ours() && std::fs::remove_file(&t.file).is_ok(),
        };
        if !ok {
            failed.push(t.planned.display.to_string());
        }
    }
    failed
}

/// Removes the temporary files still there and the directories the run created (innermost
/// first, only when empty).
fn discard(targets: &mut [Target], created_dirs: &[PathBuf]) {
    for t in targets.iter_mut() {
        if let Some(temp) = t.temp.take() {
            let _ = std::fs::remove_file(temp);
        }
    }
    for dir in created_dirs.iter().rev() {
        let _ = std::fs::remove_dir(dir);
    }
}

/// SIGINT, SIGTERM, SIGHUP and SIGQUIT held while the returned value lives (for steps that must
/// finish together, such as writing and committing); nested holds are fine. Held for the calling
/// thread: a program that runs other threads must keep them from taking these signals (see
/// [`start_worker_threads`]), or the kernel delivers them there instead.
pub fn hold_signals() -> impl Drop {
    SignalsHeld::hold()
}

/// Starts the worker threads the analysis runs on (rayon's global pool) with SIGINT, SIGTERM,
/// SIGHUP and SIGQUIT blocked in each, so that those signals reach only the main thread, where
/// [`hold_signals`] can hold them while files are written. Call it first thing in `main`.
///
/// The threads are started one at a time, each only once the one before it is running, and
/// each only when the address space has [`THREAD_HEADROOM`] to spare beyond its stack. A thread
/// that the system lets start but that cannot then set itself up (Rust's signal stack, the
/// allocator's thread data) aborts the whole process, which no error handling can catch; the
/// headroom check turns the last few threads that would run out into an error instead.
///
/// # Errors
/// The pool could not be started (a thread could not be created, or there is no headroom for
/// one, say under a low `ulimit -v` with many `RAYON_NUM_THREADS`), or it already exists (a
/// second call; the pool is then as it was). rayon makes its global pool once: after a failed
/// start none can be made, and the analysis, which needs it, cannot run.
pub fn start_worker_threads() -> Result<(), rayon::ThreadPoolBuildError> {
    rayon::ThreadPoolBuilder::new()
        .spawn_handler(|thread| {
            let stack = thread.stack_size().or_else(default_stack_size).unwrap_or(DEFAULT_STACK);
            if !room_to_map(stack.saturating_add(THREAD_HEADROOM)) {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::OutOfMemory,
                    format!(
                        "no room in the address space for another thread (its {} KiB stack and {} KiB to spare)",
                        stack / 1024,
                        THREAD_HEADROOM / 1024
                    ),
                ));
            }
            let mut builder = std::thread::Builder::new();
            if let Some(name) = thread.name() {
                builder = builder.name(name.to_owned());
            }
            if let Some(size) = thread.stack_size() {
                builder = builder.stack_size(size);
            }
            let (running, started) = std::sync::mpsc::sync_channel::<()>(1);
            builder.spawn(move || {
                // Held for the thread's whole life: the value is never dropped.
                std::mem::forget(SignalsHeld::hold());
                // The C library sets up what a thread's destructors of thread-local values need
                // (its allocation arena) the first time one is registered, and aborts the process
                // when it cannot. Done here, while the main thread waits, rather than as the pool
                // starts work (its queues register one) while the next thread is mapped.
                set_up_thread_local_destructors();
                let _ = running.send(());
                thread.run();
            })?;
            started.recv().map_err(|_| std::io::Error::other("a worker thread ended as it started"))
        })
        .build_global()
}

/// Registers a destructor for a thread-local value of the calling thread (which does nothing),
/// so that what the C library needs for them is set up now.
fn set_up_thread_local_destructors() {
    struct Registered;
    impl Drop for Registered {
        fn drop(&mut self) {}
    }
    thread_local! {
        static REGISTERED: Registered = const { Registered };
    }
    REGISTERED.with(|_| {});
}

/// Address space, in bytes, that must be free beyond a worker thread's stack before it is
/// started: room for what the thread maps as it starts, Rust's signal stack of a few pages and
/// the allocator's per-thread data. (Its allocations come from mimalloc's arena, reserved once
/// for all threads; a larger margin would refuse threads that would run.)
pub const THREAD_HEADROOM: usize = 1 << 20;

/// The stack, in bytes, Rust gives a spawned thread when `RUST_MIN_STACK` does not say.
const DEFAULT_STACK: usize = 2 << 20;

/// The stack size `RUST_MIN_STACK` asks for, in bytes, as `std::thread` reads it.
fn default_stack_size() -> Option<usize> {
    std::env::var("RUST_MIN_STACK").ok()?.parse().ok()
}

/// Whether `bytes` of address space can be mapped now (mapped without access and unmapped at
/// once: nothing is touched, but the mapping counts against `RLIMIT_AS` as a thread's would).
fn room_to_map(bytes: usize) -> bool {
    use nix::sys::mman::{mmap_anonymous, munmap, MapFlags, ProtFlags};
    let Some(len) = std::num::NonZeroUsize::new(bytes) else { return true };
    // SAFETY: a fresh private anonymous mapping at an address the kernel picks aliases nothing;
    // it is unmapped with its own address and length and never read or written.
    unsafe {
        match mmap_anonymous(None, len, ProtFlags::PROT_NONE, MapFlags::MAP_PRIVATE | MapFlags::MAP_NORESERVE) {
            Ok(addr) => {
                let _ = munmap(addr, bytes);
                true
            }
            Err(_) => false,
        }
    }
}

/// SIGINT, SIGTERM, SIGHUP and SIGQUIT held (blocked) while it lives: one that arrives meanwhile
/// is delivered when the writes are done or undone.
struct SignalsHeld {
    old: Option<nix::sys::signal::SigSet>,
}

impl SignalsHeld {
    fn hold() -> SignalsHeld {
        use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow, Signal};
        let mut set = SigSet::empty();
        for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP, Signal::SIGQUIT] {
            set.add(s);
        }
        let mut old = SigSet::empty();
        let held = pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut old)).is_ok();
        SignalsHeld { old: held.then_some(old) }
    }
}

impl Drop for SignalsHeld {
    fn drop(&mut self) {
        if let Some(old) = self.old.take() {
            let _ = nix::sys::signal::pthread_sigmask(nix::sys::signal::SigmaskHow::SIG_SETMASK, Some(&old), None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_all_rw(root: &Path, planned: &[Planned]) -> Result<(), WriteFailure> {
        write_all(root, planned, false)
    }

    fn planned<'a>(path: &'a Path, before: Option<&'a str>, after: &'a str) -> Planned<'a> {
        Planned { path, display: "f", before, after }
    }

    #[test]
    fn an_exchange_keeps_what_another_program_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let (file, temp) = (dir.path().join("a.yml"), dir.path().join(".a.tmp"));
        std::fs::write(&file, "theirs\n").unwrap();
        std::fs::write(&temp, "ours\n").unwrap();
        let Some(result) = exchange_checked(&temp, &file, b"read\n") else {
            eprintln!("skipped: the filesystem of the temporary directory cannot exchange files");
            return;
        };
        assert!(result.is_err());
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "theirs\n");
        assert!(!temp.exists());
        std::fs::write(&temp, "ours\n").unwrap();
        assert!(exchange_checked(&temp, &file, b"theirs\n").unwrap().is_ok());
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "ours\n");
        assert!(!temp.exists());
    }

    #[test]
    fn writes_all_or_none() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let a = root.join("a.yml");
        std::fs::write(&a, "one\n").unwrap();
        // A new file under a path whose directory is a regular file cannot be prepared: `a` stays.
        std::fs::write(root.join("blocker"), "").unwrap();
        let bad = root.join("blocker/b.yml");
        let result = write_all_rw(&root, &[planned(&a, Some("one\n"), "two\n"), planned(&bad, None, "new\n")]);
        assert!(result.is_err());
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "one\n");
        let c = root.join("new/c.yml");
        write_all_rw(&root, &[planned(&a, Some("one\n"), "two\n"), planned(&c, None, "new\n")]).unwrap();
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "two\n");
        assert_eq!(std::fs::read_to_string(&c).unwrap(), "new\n");
        let left: Vec<_> = std::fs::read_dir(&root).unwrap().filter_map(|e| e.ok()).map(|e| e.file_name()).collect();
        assert_eq!(left.len(), 3, "no temporary file left: {left:?}");
        // What the run read changed meanwhile: refused.
        let result = write_all_rw(&root, &[planned(&a, Some("one\n"), "three\n")]);
        assert!(result.unwrap_err().message.contains("changed since"));
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "two\n");
    }
}
