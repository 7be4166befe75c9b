//! A Markdown summary of a run, for a CI job's summary page (GitHub's `$GITHUB_STEP_SUMMARY`)
//! or a pull request comment.

use std::io::{self, Write};

use super::{counts, Checked};
use crate::rules::Severity;

/// Writes the summary: a heading with the totals, a table of findings per rule (most first: the
/// rule linked to its page, the highest severity, the count, how many `stackfix fix` fixes and
/// how many more `--unsafe-fixes` does), what is left for a person, and every stack or file that
/// could not be checked (`failures` and the stacks' load errors).
pub fn summary(out: &mut dyn Write, checked: &[Checked], failures: &[String]) -> io::Result<()> {
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
                (n > 0).then(|| format!("{n} {}", s.as_str()))
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

/// A table cell: pipes escaped, lines joined.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// The body of a pull request for a fix run of one or more stacks (`fix --pr-body FILE`), in
/// Markdown: what was fixed, per file and rule, with each fix's applicability; the fixes not made,
/// with the reason; what is left for a person; and how to review the change. `shown` turns a
/// displayed path into the one the body gives (relative to the repository).
pub fn pull_request(outcomes: &[&crate::fix::Outcome], shown: &dyn Fn(&str) -> String) -> String {
    use crate::rules::Applicability;
    use std::fmt::Write as _;
    let docs = super::sarif::RULE_DOCS;
    let applied: Vec<&crate::fix::Applied> = outcomes.iter().flat_map(|o| &o.applied).collect();
    let skipped: Vec<&crate::fix::Skipped> = outcomes.iter().flat_map(|o| &o.skipped).collect();
    let remaining: Vec<(&crate::fix::Outcome, &crate::rules::Finding)> =
        outcomes.iter().flat_map(|o| o.remaining.iter().map(move |f| (*o, f))).collect();
    let n = applied.len();
    let mut out = String::new();
    let _ = writeln!(out, "## stackfix: {n} fix{}\n", if n == 1 { "" } else { "es" });
    let mut files: Vec<String> = Vec::new();
    for change in outcomes.iter().flat_map(|o| &o.changes) {
        let file = format!("`{}`", shown(&change.display));
        if !files.contains(&file) {
            files.push(file);
        }
    }
    if files.is_empty() {
        out.push_str("Nothing to change.\n\n");
    } else {
        let _ = writeln!(
            out,
            "[stackfix](https://github.com/stackfix/stackfix) {} changed {}.\n",
            env!("CARGO_PKG_VERSION"),
            files.join(", ")
        );
    }
    // Fixed, grouped by the file of the finding (in the order first met).
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
            let _ = writeln!(out, "`{file}`\n\n| Rule | Service | Fix | Applicability |\n|:--|:--|:--|:--|");
            for a in applied {
                if listed == ROWS {
                    break;
                }
                listed += 1;
                let _ = writeln!(
                    out,
                    "| [`{rule}`]({docs}/{rule}.md) | {} | {} | {} |",
                    a.service.as_deref().map_or("—".to_string(), |s| format!("`{}`", cell(s))),
                    cell(&a.title),
                    a.applicability.as_str(),
                    rule = a.rule,
                );
            }
            out.push('\n');
        }
        if n > listed {
            let _ = writeln!(out, "… and {} more (the commit message lists them).\n", n - listed);
        }
    }
    if !skipped.is_empty() {
        let _ =
            writeln!(out, "### Not fixed ({})\n\n| Rule | Service | Finding | Why |\n|:--|:--|:--|:--|", skipped.len());
        for s in skipped.iter().take(ROWS) {
            let _ = writeln!(
                out,
                "| [`{rule}`]({docs}/{rule}.md) | {} | {} | {} |",
                s.service.as_deref().map_or("—".to_string(), |s| format!("`{}`", cell(s))),
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
            "### Left for a person ({})\n\n| Rule | Service | Where | Finding |\n|:--|:--|:--|:--|",
            remaining.len()
        );
        for (outcome, f) in remaining.iter().take(ROWS) {
            let (line, _) = outcome.stack.line_col(f.file, f.span.start);
            let _ = writeln!(
                out,
                "| [`{rule}`]({docs}/{rule}.md) | {} | `{}:{line}` | {} |",
                f.service.as_deref().map_or("—".to_string(), |s| format!("`{}`", cell(s))),
                cell(&shown(&outcome.stack.file(f.file).display)),
                cell(&f.message),
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
        "- `docker compose config` on this branch shows the configuration as compose will run it; \
         `stackfix check` lists what is left, and each rule's page (linked above) explains it.\n",
    );
    out
}
