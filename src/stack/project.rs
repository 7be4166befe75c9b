//! The project's files as stackfix identifies and reaches them: one identity per file
//! ([`FileKey`]), kept across the loads of a fix run (a [`super::FileId`] numbers the files of one
//! load only), and one place ([`ProjectFs`]) that reads files — the texts a fix run holds in
//! memory first, else the disk — and says whether a path is inside the project, outside which
//! nothing is written.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::load::{normalize, project_root, read_text, ReadError};

/// A file's identity: its path as the stack names it (a relative path joined to the project
/// directory), with `.` and `..` resolved lexically, as compose resolves relative paths.
/// Links are not followed: two keys may name one file through a link, which [`ProjectFs::inside`]
/// resolves where it matters (writing).
///
/// Shared (a clone is a count), and compared and hashed as the bytes of its normalised path: a
/// large stack's fix run looks keys up hundreds of thousands of times.
#[derive(Debug, Clone)]
pub struct FileKey(std::sync::Arc<Path>);

impl PartialEq for FileKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_os_str() == other.0.as_os_str()
    }
}

impl Eq for FileKey {}

impl std::hash::Hash for FileKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.as_os_str().hash(state);
    }
}

impl PartialOrd for FileKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for FileKey {
    /// As paths order (by component), which for normalised paths agrees with equality.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        match self == other {
            true => std::cmp::Ordering::Equal,
            false => self.0.cmp(&other.0),
        }
    }
}

impl FileKey {
    pub fn new(path: &Path) -> FileKey {
        FileKey(normalize(path).into())
    }

    /// The path the key stands for.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl std::fmt::Display for FileKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.display())
    }
}

/// Reading and resolving the files of one project for a fix run.
pub struct ProjectFs {
    /// The project root: the enclosing git work tree's top, else the project directory
    /// (canonical).
    root: PathBuf,
    /// Texts edited in memory by the run, which reads see instead of the disk.
    edited: HashMap<FileKey, String>,
    /// Paths already resolved against the root.
    inside: Mutex<HashMap<PathBuf, bool>>,
    /// Existing paths with their links resolved (those the stack's load resolved to start with).
    real_paths: Mutex<super::load::RealPaths>,
    /// What the first read of each file found on disk (`None`: no file there): what the run's
    /// plan was made from, which the file must still hold when it is written.
    disk: Mutex<HashMap<FileKey, Option<String>>>,
}

impl ProjectFs {
    /// The files of the project in directory `dir` (see [`project_root`]).
    pub fn new(dir: &Path) -> ProjectFs {
        Self::at(project_root(dir), Default::default())
    }

    /// The files of the project whose root (as [`project_root`] gives it) is `root`.
    fn at(root: PathBuf, real_paths: super::load::RealPaths) -> ProjectFs {
        ProjectFs {
            root,
            edited: HashMap::new(),
            inside: Mutex::default(),
            real_paths: Mutex::new(real_paths),
            disk: Mutex::default(),
        }
    }

    /// [`ProjectFs::new`] for `stack`, loaded from directory `dir`: the project root its load
    /// found, when it was loaded from `dir` (found again otherwise).
    pub(crate) fn of_stack(stack: &super::Stack, dir: &Path) -> ProjectFs {
        match stack.root == dir {
            true => Self::at(stack.resolved.project.clone(), stack.resolved.real_paths.clone()),
            false => Self::new(dir),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether `path`, links resolved (a file that does not exist yet: its directory's), lies
    /// inside the project root; resolved once per path and run, as the disk was when the stack
    /// was loaded (writing checks again on the disk as it is then).
    pub fn inside(&self, path: &Path) -> bool {
        if let Some(&known) = lock(&self.inside).get(path) {
            return known;
        }
        // An existing path as the load resolved it (one `lstat` per name not seen yet); a new
        // file by its closest existing directory.
        let real = lock(&self.real_paths).get(path);
        let inside = match real {
            Some(real) => real.starts_with(&self.root),
            None => is_inside(&self.root, path),
        };
        lock(&self.inside).insert(path.to_path_buf(), inside);
        inside
    }

    /// A file's text: as edited in memory, else as on disk ([`read_text`]'s limits and errors).
    pub fn read(&self, path: &Path) -> Result<String, ReadError> {
        let key = FileKey::new(path);
        if let Some(text) = self.edited.get(&key) {
            return Ok(text.clone());
        }
        // Read once: the run plans every fix on what the first read found.
        match lock(&self.disk).get(&key) {
            Some(Some(text)) => return Ok(text.clone()),
            // As the read said it (ENOENT; Windows' ERROR_FILE_NOT_FOUND is 2 as well).
            Some(None) => return Err(ReadError::Io(std::io::Error::from_raw_os_error(2))),
            None => {}
        }
        let result = read_text(path);
        let found = match &result {
            Ok(text) => Some(Some(text.clone())),
            Err(ReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => Some(None),
            Err(_) => None,
        };
        if let Some(found) = found {
            lock(&self.disk).entry(key).or_insert(found);
        }
        result
    }

    /// The text the run holds for `key`, if it edited it.
    pub fn edited(&self, key: &FileKey) -> Option<&str> {
        self.edited.get(key).map(String::as_str)
    }

    /// Every text the run edited, by file.
    pub fn edits(&self) -> &HashMap<FileKey, String> {
        &self.edited
    }

    /// Records the run's new text of a file.
    pub fn edit(&mut self, key: FileKey, text: String) {
        self.edited.insert(key, text);
    }

    /// A copy of what [`ProjectFs::into_edits_and_reads`] gives, the run going on.
    pub fn snapshot(&self) -> (HashMap<FileKey, String>, HashMap<FileKey, Option<String>>) {
        (self.edited.clone(), self.disk.lock().unwrap_or_else(PoisonError::into_inner).clone())
    }

    /// The edited texts and, for each file read from disk, what the first read found there
    /// (`None`: no file), the run done.
    pub fn into_edits_and_reads(self) -> (HashMap<FileKey, String>, HashMap<FileKey, Option<String>>) {
        (self.edited, self.disk.into_inner().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Whether `path`, with every symlink resolved (for a new file: its closest existing
/// directory's), lies in `root`.
pub fn is_inside(root: &Path, path: &Path) -> bool {
    super::load::resolve(path).is_some_and(|p| p.starts_with(root))
}

/// Locks a mutex, taking the value of one a panicking holder left (the caches it guards stay
/// consistent between operations).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
