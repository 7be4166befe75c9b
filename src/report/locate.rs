//! Where a report says a file is, for consumers that track results across runs and machines
//! (SARIF, GitLab Code Quality, baselines): paths relative to the repository the run is about,
//! whatever directory stackfix ran in, and fingerprints that survive unrelated edits.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use serde_json::{json as value, Value};

use super::Checked;

/// Names files relative to one root for the whole report.
pub(crate) struct Locator {
    /// Canonical; none for a report without stacks outside any repository.
    root: Option<PathBuf>,
}

impl Locator {
    /// The root: the CI checkout (`GITHUB_WORKSPACE`, `CI_PROJECT_DIR`) when set, else the top
    /// of the git work tree holding the current directory, else the repository (or directory)
    /// of the first stack. One root for every stack of a run, so a stack in a submodule is named
    /// by its path in the repository the run is about.
    pub(crate) fn new(checked: &[Checked]) -> Locator {
        let from_env = ["GITHUB_WORKSPACE", "CI_PROJECT_DIR"]
            .iter()
            .filter_map(std::env::var_os)
            .map(PathBuf::from)
            .find(|p| p.is_dir())
            .and_then(|p| p.canonicalize().ok());
        let from_cwd = || {
            let cwd = std::env::current_dir().ok()?.canonicalize().ok()?;
            cwd.ancestors().find(|a| a.join(".git").exists()).map(Path::to_path_buf)
        };
        let root = from_env
            .or_else(from_cwd)
            .or_else(|| checked.first().map(|c| crate::stack::load::project_root(&c.stack.root)));
        Locator { root }
    }

    fn relative<'p>(&self, path: &'p Path) -> Option<&'p Path> {
        self.root.as_deref().and_then(|root| path.strip_prefix(root).ok())
    }

    /// The root as a `file://` URI ending in `/`.
    pub(crate) fn root_uri(&self) -> Option<String> {
        self.root.as_deref().map(|root| {
            let uri = file_uri(root);
            if uri.ends_with('/') {
                uri
            } else {
                format!("{uri}/")
            }
        })
    }

    /// A SARIF artifact location: `{"uri": "deploy/docker-compose.yml", "uriBaseId":
    /// "%SRCROOT%"}`, or an absolute `file://` URI for a file outside the root.
    pub(crate) fn artifact(&self, path: &Path) -> Value {
        let path = absolute(path);
        match self.relative(&path) {
            Some(relative) => value!({"uri": relative_uri(relative), "uriBaseId": "%SRCROOT%"}),
            None => value!({"uri": file_uri(&path)}),
        }
    }

    /// The path itself, relative to the root with `/` between names (absolute outside it).
    pub(crate) fn path(&self, path: &Path) -> String {
        let path = absolute(path);
        match self.relative(&path) {
            Some(relative) => names(relative).join("/"),
            None => path.to_string_lossy().into_owned(),
        }
    }
}

/// A path made absolute and canonical (links resolved) when it exists, else lexically.
fn absolute(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| {
        crate::stack::load::normalize(&std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()))
    })
}

fn names(path: &Path) -> Vec<String> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect()
}

/// Characters a URI path segment cannot hold as they are (RFC 3986), percent-encoded.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}')
    .add(b'/');

fn encoded_segments(path: &Path) -> Vec<String> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(percent_encoding::percent_encode(s.as_encoded_bytes(), SEGMENT).to_string()),
            _ => None,
        })
        .collect()
}

fn relative_uri(path: &Path) -> String {
    encoded_segments(path).join("/")
}

fn file_uri(path: &Path) -> String {
    format!("file:///{}", encoded_segments(path).join("/"))
}

/// FNV-1a, 64 bits: a hash that stays the same across Rust versions and platforms.
fn fnv1a(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.bytes().chain([0xff]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

/// Every finding's fingerprint, in report order: 16 hex digits hashing its rule, file (as
/// [`Locator::path`] names it), service and message (no line numbers, so an unrelated edit
/// keeps it), then `:n` for the n-th finding sharing all four, so no two findings of a report
/// share one.
pub(crate) fn fingerprints(checked: &[Checked], locator: &Locator) -> Vec<String> {
    let mut seen: HashMap<u64, usize> = HashMap::new();
    Checked::all(checked)
        .map(|(stack, f)| {
            let file = locator.path(&stack.file(f.file).path);
            let hash = fnv1a(&[f.rule, &file, f.service.as_deref().unwrap_or(""), &f.message]);
            let n = seen.entry(hash).or_default();
            *n += 1;
            match *n {
                1 => format!("{hash:016x}"),
                n => format!("{hash:016x}:{n}"),
            }
        })
        .collect()
}
