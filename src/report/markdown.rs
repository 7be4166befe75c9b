//! A Markdown summary of a run, for a CI job's summary page (GitHub's `$GITHUB_STEP_SUMMARY`)
//! or a pull request comment.

use std::io::{self, Write};

use super::{counts, Checked};
use crate::rules::Severity;

/// Writes the summary: a heading with the totals, a table of findings per rule (most first: the
/// rule linked to its page, the highest severity, the count, how many `stackfix fix` fixes and
/// how many more `--unsafe-fixes` does), what is left for a person, and every stack or file that
/// could not be checked (`failures` and the stacks' load errors). `baselined` findings were
/// found but held by the `--baseline` file: counted in a line of their own, not in the table.
pub fn summary(out: &mut dyn Write, checked: &[Checked], failures: &[String], baselined: usize) -> io::Result<()> {
    let rows = counts(checked);
    let total: usize = rows.iter().map(|r| r.count).sum();
    let safe: usize = rows.iter().map(|r| r.safe).sum();
    let unsafe_: usize = rows.iter().map(|r| r.unsafe_).sum();
    let stacks = match checked.len() {
        1 => "1 stack".to_string(),
        n => format!("{n} stacks"),
    };
    let errors: Vec<String> = checked
        .iter()
        .flat_map(|c| &c.stack.errors)
        .map(|e| match e.position {
            Some((line, column)) => format!("{}:{line}:{column}: {}", e.path, e.message),
            None => format!("{}: {}", e.path, e.message),
        })
        .chain(failures.iter().cloned())
        .collect();
    match total {
        0 => writeln!(out, "## stackfix: no findings in {stacks}\n")?,
        1 => writeln!(out, "## stackfix: 1 finding in {stacks}\n")?,
        n => writeln!(out, "## stackfix: {n} findings in {stacks}\n")?,
    }
    if total > 0 {
        let by_severity: Vec<String> = [Severity::Error, Severity::Warning, Severity::Info]
            .into_iter()
            .filter_map(|s| {
                let n: usize = checked.iter().flat_map(|c| c.findings).filter(|f| f.severity == s).count();
                let word = match (s, n) {
                    (_, 1) => s.as_str().to_string(),
                    (Severity::Info, _) => "info".to_string(),
                    _ => format!("{}s", s.as_str()),
                };
                (n > 0).then(|| format!("{n} {word}"))
            })
            .collect();
        writeln!(out, "{}.\n", by_severity.join(", "))?;
        writeln!(out, "| Rule | Severity | Findings | Fixable | Unsafe fixes |")?;
        writeln!(out, "|:-----|:---------|---------:|--------:|-------------:|")?;
        for r in &rows {
            writeln!(
                out,
                "| [`{rule}`]({docs}/{rule}.md) | {} | {} | {} | {} |",
                r.severity.as_str(),
                r.count,
                r.safe,
                r.unsafe_,
                rule = r.rule,
                docs = super::sarif::RULE_DOCS,
            )?;
        }
        writeln!(out)?;
        let mut fixes = Vec::new();
        if safe > 0 {
            fixes.push(format!("**{safe}** fixable with `stackfix fix`"));
        }
        if unsafe_ > 0 {
            fixes.push(format!("**{unsafe_}** more with `stackfix fix --unsafe-fixes` (review them)"));
        }
        let left = total - safe - unsafe_;
        if left > 0 {
            fixes.push(format!("**{left}** left for a person"));
        }
        writeln!(out, "{}.\n", fixes.join("; "))?;
    }
    match baselined {
        0 => {}
        1 => writeln!(out, "1 more finding is in the baseline (`--baseline`) and not reported.\n")?,
        n => writeln!(out, "{n} more findings are in the baseline (`--baseline`) and not reported.\n")?,
    }
    if !errors.is_empty() {
        writeln!(out, "**Not checked** (exit 2):\n")?;
        for e in errors {
            writeln!(out, "- `{}`", e.replace('`', "'").replace('\n', " "))?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// Rows a pull request body lists per table before it only counts the rest: GitHub refuses a
/// body over 65,536 characters.
const ROWS: usize = 150;

/// A table cell from text the stack supplies (messages quote names and values): lines joined,
/// pipes escaped, and outside its code spans the characters that would make HTML, links, images
/// or mentions (`<`, `>`, `&`, `[`, `]`, `!`, `@`) written as entities, so a name in a compose
/// file cannot put markup into a pull request.
fn cell(text: &str) -> String {
    let text = text.replace(['\n', '\r'], " ");
    let mut out = String::with_capacity(text.len());
    let mut in_code = false;
    for c in text.chars() {
        match c {
            '`' => {
                in_code = !in_code;
                out.push(c);
            }
            '|' => out.push_str("\\|"),
            '<' if !in_code => out.push_str("&lt;"),
            '>' if !in_code => out.push_str("&gt;"),
            '&' if !in_code => out.push_str("&amp;"),
            '[' if !in_code => out.push_str("&#91;"),
            ']' if !in_code => out.push_str("&#93;"),
            '!' if !in_code => out.push_str("&#33;"),
            '@' if !in_code => out.push_str("&#64;"),
            _ => out.push(c),
        }
    }
    // An odd backtick would open a code span that swallows the rest of the row.
    if in_code {
        out.push('`');
    }
    out
}

/// `text` as one code span, whatever backticks it holds (a fence longer than any run inside).
fn code(text: &str) -> String {
    let text = text.replace(['\n', '\r'], " ").replace('|', "\\|");
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') { " " } else { "" };
    format!("{fence}{pad}{text}{pad}{fence}")
}

/// Characters a pull request body may have: GitHub refuses a body over 65,536.
const BODY_LIMIT: usize = 60_000;

/// The body of a pull request for a fix run of one or more stacks (`fix --pr-body FILE`), in
/// Markdown: what was fixed, per file and rule, with each fix's applicability; the fixes not made,
/// with the reason; what is left for a person; and how to review the change. `shown` turns a
/// displayed path into the one the body gives (relative to the repository).
pub fn pull_request(outcomes: &[&crate::fix::Outcome], shown: &dyn Fn(&str) -> String) -> String {
    let body = pull_request_whole(outcomes, shown);
    if body.len() <= BODY_LIMIT {
        return body;
    }
    // Too long for GitHub: the tables are cut at a row, the review notes kept.
    let tail_at = body.find("### How to review").unwrap_or(body.len());
    let tail = &body[tail_at..];
    let note = "\n… (cut here: a pull request body holds at most 65,536 characters; `stackfix check` lists \
                every finding)\n\n";
    let mut keep = BODY_LIMIT.saturating_sub(tail.len() + note.len()).min(tail_at);
    while !body.is_char_boundary(keep) {
        keep -= 1;
    }
    let head = &body[..body[..keep].rfind('\n').map_or(0, |i| i + 1)];
    format!("{head}{note}{tail}")
}

/// [`pull_request`] before its length is bounded.
fn pull_request_whole(outcomes: &[&crate::fix::Outcome], shown: &dyn Fn(&str) -> String) -> String {
    use crate::rules::Applicability;
    use std::fmt::Write as _;
    let docs = super::sarif::RULE_DOCS;
    let applied: Vec<&crate::fix::Applied> = outcomes.iter().flat_map(|o| &o.applied).collect();
    let skipped: Vec<&crate::fix::Skipped> = outcomes.iter().flat_map(|o| &o.skipped).collect();
    let remaining = crate::fix::remaining_once(outcomes);
    let n = applied.len();
    let mut out = String::new();
    let _ = writeln!(out, "## stackfix: {n} fix{}\n", if n == 1 { "" } else { "es" });
    let mut files: Vec<String> = Vec::new();
    for change in outcomes.iter().flat_map(|o| &o.changes) {
        let file = code(&shown(&change.display));
        if !files.contains(&file) {
            files.push(file);
        }
    }
    if files.is_empty() {
        out.push_str("Nothing to change.\n\n");
    } else {
        let _ = writeln!(
            out,
            "The fixes of [stackfix](https://github.com/stackfix/stackfix) {} change {}.\n",
            env!("CARGO_PKG_VERSION"),
            files.join(", ")
        );
    }
    // Fixed, grouped by the file each finding was reported in (in the order first met; a fix may
    // change another file, listed above).
    let mut by_file: Vec<(String, Vec<&crate::fix::Applied>)> = Vec::new();
    for a in &applied {
        let file = a.location.rsplit_once(':').map_or(a.location.as_str(), |(f, _)| f);
        let file = shown(file);
        match by_file.iter_mut().find(|(f, _)| *f == file) {
            Some((_, list)) => list.push(a),
            None => by_file.push((file, vec![a])),
        }
    }
    if !by_file.is_empty() {
        out.push_str("### Fixed\n\n");
        let mut listed = 0;
        for (file, applied) in &by_file {
            let _ = writeln!(out, "{}\n\n| Rule | Service | Fix | Applicability |\n|:--|:--|:--|:--|", code(file));
            for a in applied {
                if listed == ROWS {
                    break;
                }
                listed += 1;
                let _ = writeln!(
                    out,
                    "| [`{rule}`]({docs}/{rule}.md) | {} | {} | {} |",
                    a.service.as_deref().map_or("—".to_string(), code),
                    cell(&a.title),
                    a.applicability.as_str(),
                    rule = a.rule,
                );
            }
            out.push('\n');
        }
        if n > listed {
            let _ = writeln!(out, "… and {} more.\n", n - listed);
        }
    }
    if !skipped.is_empty() {
        let _ =
            writeln!(out, "### Not fixed ({})\n\n| Rule | Service | Finding | Why |\n|:--|:--|:--|:--|", skipped.len());
        for s in skipped.iter().take(ROWS) {
            let _ = writeln!(
                out,
                "| [`{rule}`]({docs}/{rule}.md) | {} | {} | {} |",
                s.service.as_deref().map_or("—".to_string(), code),
                cell(&s.message),
                cell(&s.reason),
                rule = s.rule,
            );
        }
        if skipped.len() > ROWS {
            let _ = writeln!(out, "\n… and {} more.", skipped.len() - ROWS);
        }
        out.push('\n');
    }
    if !remaining.is_empty() {
        let _ = writeln!(
            out,
            "### Left for a person ({})\n\nWhere each is once the fixes are in.\n\n\
             | Rule | Service | Where | Finding | To decide |\n|:--|:--|:--|:--|:--|",
            remaining.len()
        );
        for (outcome, f) in remaining.iter().take(ROWS) {
            let (line, _) = outcome.stack.line_col(f.file, f.span.start);
            let decide = match (&f.fix, &f.help) {
                (Some(fix), _) if fix.applicability == Applicability::Unsafe => {
                    format!("an unsafe fix: {} (`stackfix fix --unsafe-fixes`)", fix.title)
                }
                (_, Some(help)) => help.to_string(),
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "| [`{rule}`]({docs}/{rule}.md) | {} | {} | {} | {} |",
                f.service.as_deref().map_or("—".to_string(), code),
                code(&format!("{}:{line}", shown(&outcome.stack.file(f.file).display))),
                cell(&f.message),
                cell(&decide),
                rule = f.rule,
            );
        }
        if remaining.len() > ROWS {
            let _ = writeln!(out, "\n… and {} more (`stackfix check` lists them).", remaining.len() - ROWS);
        }
        out.push('\n');
    }
    let safe = applied.iter().filter(|a| a.applicability == Applicability::Safe).count();
    let unsafe_ = n - safe;
    if n == 0 {
        return out;
    }
    out.push_str("### How to review\n\n");
    if safe > 0 {
        let _ = writeln!(
            out,
            "- {safe} safe fix{}: each relies only on known facts about the image and the stack, and changes \
             nothing else (stackfix compared the merged configuration before and after).",
            if safe == 1 { "" } else { "es" }
        );
    }
    if unsafe_ > 0 {
        let _ = writeln!(
            out,
            "- {unsafe_} unsafe fix{} (marked above) change{} behaviour, such as where a secret comes from or a \
             guessed health probe: check each against how the service runs.",
            if unsafe_ == 1 { "" } else { "es" },
            if unsafe_ == 1 { "s" } else { "" }
        );
    }
    out.push_str(
        "- `docker compose config` with these changes shows the configuration as compose will run it; \
         `stackfix check` lists what is left, and each rule's page (linked above) explains it.\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_carry_no_markup_from_the_stack() {
        let text = cell("service `x` @octocat <img src=y> [a](b) ![i](j) a|b");
        assert_eq!(text, "service `x` &#64;octocat &lt;img src=y&gt; &#91;a&#93;(b) &#33;&#91;i&#93;(j) a\\|b");
        // An unclosed code span is closed in the cell.
        assert_eq!(cell("a `b"), "a `b`");
        assert_eq!(code("x` @y"), "``x` @y``");
        assert_eq!(code("`x"), "`` `x ``");
        assert_eq!(code("plain"), "`plain`");
    }
}
