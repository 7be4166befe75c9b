//! Unified diffs of fixed files, with `a/` and `b/` headers that `git apply` accepts.

use similar::TextDiff;

use super::FileChange;

/// One file's unified diff (empty when nothing changed).
pub fn unified(change: &FileChange) -> String {
    let name = patch_name(change);
    let before = change.before.as_deref().unwrap_or("");
    let old_header = if change.before.is_some() { format!("a/{name}") } else { "/dev/null".to_string() };
    let new_header = format!("b/{name}");
    let diff = TextDiff::configure().algorithm(similar::Algorithm::Patience).diff_lines(before, change.after.as_str());
    let body =
        diff.unified_diff().context_radius(3).missing_newline_hint(true).header(&old_header, &new_header).to_string();
    if body.is_empty() {
        return body;
    }
    let mut out = format!("diff --git a/{name} b/{name}\n");
    if change.before.is_none() {
        out.push_str("new file mode 100644\n");
    }
    out.push_str(&body);
    out
}

/// The file's name in the headers: as shown when that is a plain relative path; when it is
/// absolute or climbs with `..` (the stack was named as `/srv/app` or `../app`), relative to the
/// top of the git work tree holding it (where `git apply` takes paths from), else its absolute
/// path without the leading `/` (as `git diff --no-index` writes one: `a/srv/app/…`).
fn patch_name(change: &FileChange) -> String {
    let shown = std::path::Path::new(&change.display);
    let plain = shown.components().all(|c| matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir));
    if plain {
        return change.display.clone();
    }
    let real = change
        .path
        .parent()
        .and_then(|dir| dir.canonicalize().ok())
        .and_then(|dir| Some(dir.join(change.path.file_name()?)));
    let Some(real) = real else { return change.display.clone() };
    let top = real.ancestors().skip(1).find(|a| a.join(".git").exists());
    match top.and_then(|top| real.strip_prefix(top).ok()) {
        Some(relative) => relative.to_string_lossy().into_owned(),
        None => {
            let from_root: std::path::PathBuf = real
                .components()
                .filter(|c| !matches!(c, std::path::Component::RootDir | std::path::Component::Prefix(_)))
                .collect();
            from_root.to_string_lossy().into_owned()
        }
    }
}

/// Colors a diff for a terminal: additions green, removals red, hunk headers cyan.
pub fn colorize(diff: &str) -> String {
    diff.split_inclusive('\n')
        .map(|line| {
            let color = if line.starts_with("+++") || line.starts_with("---") || line.starts_with("diff ") {
                "\x1b[1m"
            } else if line.starts_with('+') {
                "\x1b[32m"
            } else if line.starts_with('-') {
                "\x1b[31m"
            } else if line.starts_with("@@") {
                "\x1b[36m"
            } else {
                return line.to_string();
            };
            let (text, eol) = line.strip_suffix('\n').map_or((line, ""), |t| (t, "\n"));
            format!("{color}{text}\x1b[0m{eol}")
        })
        .collect()
}
