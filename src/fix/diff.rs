//! Unified diffs of fixed files, with `a/` and `b/` headers that `git apply` accepts.

use similar::TextDiff;

use super::FileChange;

/// One file's unified diff (empty when nothing changed).
pub fn unified(change: &FileChange) -> String {
    unified_named(&patch_name(&change.path, &change.display), change.before.as_deref(), &change.after)
}

/// [`unified`] of a file named `name` in the headers (see [`patch_name`]), from `before` (`None`:
/// a new file) to `after`.
pub fn unified_named(name: &str, before: Option<&str>, after: &str) -> String {
    let is_new = before.is_none();
    let before = before.unwrap_or("");
    let old_header = if is_new { "/dev/null".to_string() } else { format!("a/{name}") };
    let new_header = format!("b/{name}");
    let diff = TextDiff::configure().algorithm(similar::Algorithm::Patience).diff_lines(before, after);
    let body =
        diff.unified_diff().context_radius(3).missing_newline_hint(true).header(&old_header, &new_header).to_string();
    if body.is_empty() {
        return body;
    }
    let mut out = format!("diff --git a/{name} b/{name}\n");
    if is_new {
        out.push_str("new file mode 100644\n");
    }
    out.push_str(&body);
    out
}

/// The name in the diff headers of the file at `path` shown as `display`: `display` when that is
/// a plain relative path; when it is absolute or climbs with `..` (the stack was named as
/// `/srv/app` or `../app`), relative to the top of the git work tree holding it (where `git
/// apply` takes paths from), else its absolute path without the leading `/` (as `git diff
/// --no-index` writes one: `a/srv/app/…`). Asks the file system (canonical path, `.git` of each
/// parent): a caller naming many files asks [`PatchNames`], which asks once per directory.
pub fn patch_name(path: &std::path::Path, display: &str) -> String {
    PatchNames::default().name(path, display)
}

/// [`patch_name`] for many files, each directory resolved and its git work tree looked for once.
#[derive(Debug, Default)]
pub struct PatchNames {
    /// A file's directory → that directory resolved and the top of the git work tree holding
    /// it (`None`: it cannot be resolved).
    dirs: std::collections::HashMap<std::path::PathBuf, Option<(std::path::PathBuf, Option<std::path::PathBuf>)>>,
}

impl PatchNames {
    /// [`patch_name`] of the file at `path` shown as `display`.
    pub fn name(&mut self, path: &std::path::Path, display: &str) -> String {
        let shown = std::path::Path::new(display);
        let plain =
            shown.components().all(|c| matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir));
        if plain {
            return display.to_string();
        }
        let (Some(dir), Some(file_name)) = (path.parent(), path.file_name()) else { return display.to_string() };
        // A relative path's directory may be empty (`docker-compose.yml`): the current one.
        let dir = if dir.as_os_str().is_empty() { std::path::Path::new(".") } else { dir };
        let found = self.dirs.entry(dir.to_path_buf()).or_insert_with(|| {
            let real = dir.canonicalize().ok()?;
            let top = real.ancestors().find(|a| a.join(".git").exists()).map(std::path::Path::to_path_buf);
            Some((real, top))
        });
        let Some((real_dir, top)) = found.as_ref() else { return display.to_string() };
        let real = real_dir.join(file_name);
        match top.as_deref().and_then(|top| real.strip_prefix(top).ok()) {
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
}

/// The unified diff of `spans` — (start, end, replacement) byte ranges of `before`, sorted and
/// not overlapping — made on the lines around them only (three lines of context), so a change
/// to a large file costs what it changes: the same hunks as [`unified`] on the whole file.
/// `lines` is `before`'s line index; `name` is the file's name in the headers (see
/// [`patch_name`]). Empty when the spans change nothing.
pub fn unified_spans(
    name: &str,
    before: &str,
    lines: &crate::yaml::source::Source,
    spans: &[(usize, usize, &str)],
) -> String {
    let end_line = |span: &(usize, usize, &str)| lines.line_index(span.1.max(span.0));
    let mut body = String::new();
    // Lines the hunks before add (or remove, when negative).
    let mut delta: isize = 0;
    // Spans far enough apart to make separate hunks are diffed apart: a fix that edits the top
    // and the bottom of a large file costs what it changes, not the lines between.
    let mut i = 0;
    while i < spans.len() {
        let mut last = end_line(&spans[i]);
        let mut j = i + 1;
        while j < spans.len() && lines.line_index(spans[j].0) <= last + 2 * CONTEXT + 2 {
            last = last.max(end_line(&spans[j]));
            j += 1;
        }
        delta = hunks(&mut body, before, lines, &spans[i..j], delta);
        i = j;
    }
    if body.is_empty() {
        return body;
    }
    format!("diff --git a/{name} b/{name}\n--- a/{name}\n+++ b/{name}\n{body}")
}

/// Lines of context around a change in a hunk.
const CONTEXT: usize = 3;

/// Appends to `body` the hunks of `spans` (close to each other), diffed on the lines around them;
/// `delta` is what earlier hunks added to the line count. Returns it with these hunks' added.
fn hunks(
    body: &mut String,
    before: &str,
    lines: &crate::yaml::source::Source,
    spans: &[(usize, usize, &str)],
    delta: isize,
) -> isize {
    let (Some(first), Some(last)) = (spans.first(), spans.last()) else { return delta };
    let count = lines.line_count();
    let first_line = lines.line_index(first.0).saturating_sub(CONTEXT);
    let last_line = lines.line_index(last.1.max(last.0)) + CONTEXT + 1;
    let lo = lines.line_start(first_line);
    let hi = if last_line >= count { before.len() } else { lines.line_start(last_line) };
    let region = &before[lo..hi.max(lo)];
    let mut after = String::with_capacity(region.len() + spans.iter().map(|s| s.2.len()).sum::<usize>());
    let mut at = lo;
    for &(start, end, text) in spans {
        after.push_str(&before[at..start]);
        after.push_str(text);
        at = end;
    }
    after.push_str(&before[at..hi.max(at)]);
    let diff = TextDiff::configure().algorithm(similar::Algorithm::Patience).diff_lines(region, after.as_str());
    for group in diff.grouped_ops(CONTEXT) {
        let (Some(head), Some(tail)) = (group.first(), group.last()) else { continue };
        let (old, new) = (head.old_range().start..tail.old_range().end, head.new_range().start..tail.new_range().end);
        // A range of no lines is written at the line before it.
        let start = |range: &std::ops::Range<usize>| first_line + range.start + usize::from(!range.is_empty());
        let new_start = start(&new).saturating_add_signed(delta);
        body.push_str(&format!("@@ -{},{} +{},{} @@\n", start(&old), old.len(), new_start, new.len()));
        for op in &group {
            for change in diff.iter_changes(op) {
                let sign = match change.tag() {
                    similar::ChangeTag::Equal => ' ',
                    similar::ChangeTag::Delete => '-',
                    similar::ChangeTag::Insert => '+',
                };
                body.push(sign);
                body.push_str(change.value());
                if change.missing_newline() {
                    body.push_str("\n\\ No newline at end of file\n");
                }
            }
        }
    }
    let (old_lines, new_lines) = diff.ops().last().map_or((0, 0), |op| (op.old_range().end, op.new_range().end));
    delta + new_lines as isize - old_lines as isize
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

#[cfg(test)]
mod spans_tests {
    use super::*;

    /// Names asked of one [`PatchNames`] for several files are each file's own: relative to the
    /// top of the git work tree holding its directory (links resolved), else from the root, and
    /// a plain relative name as it is.
    #[cfg(unix)]
    #[test]
    fn patch_names_of_many_files_are_each_files_own() {
        let tmp = tempfile::tempdir().unwrap();
        let top = tmp.path().canonicalize().unwrap();
        let repo = top.join("repo");
        std::fs::create_dir_all(repo.join(".git")).unwrap();
        std::fs::create_dir_all(repo.join("app/monitoring")).unwrap();
        std::fs::create_dir_all(top.join("loose")).unwrap();
        std::os::unix::fs::symlink(repo.join("app"), top.join("link")).unwrap();
        let mut names = PatchNames::default();
        let cases = [
            (repo.join("app/compose.yaml"), "app/compose.yaml".to_string()),
            (repo.join("app/monitoring/prometheus.yml"), "app/monitoring/prometheus.yml".to_string()),
            (top.join("link/compose.yaml"), "app/compose.yaml".to_string()),
            (top.join("loose/compose.yaml"), top.join("loose/compose.yaml").to_string_lossy()[1..].to_string()),
        ];
        for _ in 0..2 {
            for (path, want) in &cases {
                let display = path.to_string_lossy().into_owned();
                assert_eq!(&names.name(path, &display), want, "{display}");
                assert_eq!(&patch_name(path, &display), want, "{display}");
            }
        }
        assert_eq!(names.name(&repo.join("app/compose.yaml"), "compose.yaml"), "compose.yaml");
        assert_eq!(names.dirs.len(), 4);
    }

    /// Hunks made on the lines around the spans are the hunks of the whole file's diff.
    #[test]
    fn span_diffs_match_whole_file_diffs() {
        let before: String = (1..=40).map(|i| format!("line {i}\n")).collect();
        let cases: Vec<Vec<(usize, usize, &str)>> = vec![
            vec![(0, 0, "new first\n")],
            vec![(before.len(), before.len(), "new last\n")],
            vec![(before.find("line 10").unwrap(), before.find("line 11").unwrap(), "ten\n")],
            vec![
                (before.find("line 5\n").unwrap(), before.find("line 5\n").unwrap(), "x\n"),
                (before.find("line 30").unwrap(), before.find("line 31").unwrap(), ""),
            ],
            // Three groups far apart, each changing the line count; two changes close together.
            vec![
                (0, 0, "a\nb\n"),
                (before.find("line 15").unwrap(), before.find("line 17").unwrap(), "fifteen\n"),
                (before.find("line 22").unwrap(), before.find("line 22").unwrap(), "c\nd\ne\n"),
                (before.find("line 29").unwrap(), before.find("line 30").unwrap(), "x\n"),
                (before.len(), before.len(), "end\n"),
            ],
            // Gaps of exactly the context lines on both sides, and one more.
            vec![
                (before.find("line 10").unwrap(), before.find("line 11").unwrap(), "10\n"),
                (before.find("line 17").unwrap(), before.find("line 18").unwrap(), "17\n"),
                (before.find("line 25").unwrap(), before.find("line 26").unwrap(), "25\n"),
                (before.find("line 34").unwrap(), before.find("line 35").unwrap(), "34\n"),
            ],
        ];
        for spans in cases {
            let mut after = String::new();
            let mut at = 0;
            for &(s, e, t) in &spans {
                after.push_str(&before[at..s]);
                after.push_str(t);
                at = e;
            }
            after.push_str(&before[at..]);
            let change = FileChange {
                path: "f.yml".into(),
                display: "f.yml".into(),
                before: Some(before.clone()),
                after: after.clone(),
            };
            let source = crate::yaml::source::Source::new(before.clone());
            let whole = unified(&change);
            let near = unified_spans("f.yml", &before, &source, &spans);
            // `unified` writes `diff --git`, then the headers, the same way.
            assert_eq!(near, whole, "{spans:?}");
        }
    }
}
