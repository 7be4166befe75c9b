//! Unified diffs of fixed files, with `a/` and `b/` headers that `git apply` accepts.

use similar::TextDiff;

use super::FileChange;

/// One file's unified diff (empty when nothing changed).
pub fn unified(change: &FileChange) -> String {
    let before = change.before.as_deref().unwrap_or("");
    let old_header = if change.before.is_some() { format!("a/{}", change.display) } else { "/dev/null".to_string() };
    let new_header = format!("b/{}", change.display);
    let diff = TextDiff::configure().algorithm(similar::Algorithm::Patience).diff_lines(before, change.after.as_str());
    let body =
        diff.unified_diff().context_radius(3).missing_newline_hint(true).header(&old_header, &new_header).to_string();
    if body.is_empty() {
        return body;
    }
    let mut out = format!("diff --git a/{0} b/{0}\n", change.display);
    if change.before.is_none() {
        out.push_str("new file mode 100644\n");
    }
    out.push_str(&body);
    out
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
