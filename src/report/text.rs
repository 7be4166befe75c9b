use std::io::{self, Write};

use super::{counts, finding_position, Checked};
use crate::rules::{Applicability, Finding, Severity};
use crate::stack::Stack;

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";
const CYAN: &str = "\x1b[36m";

fn severity_color(s: Severity) -> &'static str {
    match s {
        Severity::Error => "\x1b[1;31m",
        Severity::Warning => "\x1b[1;33m",
        Severity::Info => "\x1b[1;34m",
    }
}

/// `path:line:col: rule-name: message`, like rustc and ruff, with help lines, and a summary of
/// all the stacks' findings unless `summary` is false.
pub fn text(out: &mut dyn Write, checked: &[Checked], color: bool, summary: bool) -> io::Result<()> {
    let paint = |code: &'static str| if color { code } else { "" };
    for (stack, f) in Checked::all(checked) {
        let p = finding_position(stack, f);
        writeln!(
            out,
            "{}{}:{}:{}:{} {}{}{}: {} {}[{}]{}",
            paint(BOLD),
            p.path,
            p.line,
            p.column,
            paint(RESET),
            paint(severity_color(f.severity)),
            linked(f.rule, color),
            paint(RESET),
            f.message,
            paint(CYAN),
            f.severity.as_str(),
            paint(RESET),
        )?;
        if let Some(help) = &f.help {
            writeln!(out, "  {}help{}: {help}", paint(CYAN), paint(RESET))?;
        }
        if let Some(fix) = &f.fix {
            let how = match fix.applicability {
                _ if !stack.errors.is_empty() => "once every file of the stack loads",
                Applicability::Safe => "safe, `stackfix fix`",
                Applicability::Unsafe => "unsafe, `stackfix fix --unsafe-fixes`",
                Applicability::DisplayOnly => "shown by `stackfix fix --diff` only",
            };
            writeln!(out, "  {}fix{}: {} ({how})", paint(CYAN), paint(RESET), fix.title)?;
        }
        for r in &f.related {
            let rp = super::position(stack, r.file, r.span);
            writeln!(
                out,
                "  {}note{}: {}:{}:{}: {}",
                paint(CYAN),
                paint(RESET),
                rp.path,
                rp.line,
                rp.column,
                r.message
            )?;
        }
    }
    let findings: Vec<(&Stack, &Finding)> = Checked::all(checked).collect();
    if summary && !findings.is_empty() {
        let count = |s| findings.iter().filter(|(_, f)| f.severity == s).count();
        let fixable = |a| findings.iter().filter(|(stack, f)| super::fix_now(stack, f) == Some(a)).count();
        writeln!(
            out,
            "Found {} finding{} ({} error, {} warning, {} info).",
            findings.len(),
            if findings.len() == 1 { "" } else { "s" },
            count(Severity::Error),
            count(Severity::Warning),
            count(Severity::Info)
        )?;
        match (fixable(Applicability::Safe), fixable(Applicability::Unsafe)) {
            (0, 0) => {}
            (safe, 0) => writeln!(out, "{safe} fixable with `stackfix fix`.")?,
            (0, unsafe_) => writeln!(out, "{unsafe_} fixable with `stackfix fix --unsafe-fixes`.")?,
            (safe, unsafe_) => {
                writeln!(out, "{safe} fixable with `stackfix fix`, {unsafe_} more with `--unsafe-fixes`.")?
            }
        }
    }
    Ok(())
}

/// `--statistics`: one line per rule, most findings first: the count, the rule, the highest
/// severity among its findings, and how many `stackfix fix` fixes and how many more
/// `--unsafe-fixes` does (`12  no-resource-limits  error    10 fixable, 2 unsafe`).
pub fn statistics(out: &mut dyn Write, checked: &[Checked]) -> io::Result<()> {
    let rows = counts(checked);
    let width = rows.iter().map(|c| c.rule.len()).max().unwrap_or(0);
    let count_width = rows.iter().map(|c| c.count.to_string().len()).max().unwrap_or(0);
    for c in rows {
        let fixes = match (c.safe, c.unsafe_) {
            (0, 0) => String::new(),
            (safe, 0) => format!("  {safe} fixable"),
            (0, unsafe_) => format!("  {unsafe_} unsafe"),
            (safe, unsafe_) => format!("  {safe} fixable, {unsafe_} unsafe"),
        };
        let line = format!("{:>count_width$}  {:<width$}  {:<7}{fixes}", c.count, c.rule, c.severity.as_str());
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// The rule's name, on a terminal that shows colours also a link to its page (OSC 8, which
/// terminals without hyperlinks ignore).
fn linked(rule: &str, color: bool) -> String {
    match color {
        true => format!("\x1b]8;;{}/{rule}.md\x1b\\{rule}\x1b]8;;\x1b\\", super::sarif::RULE_DOCS),
        false => rule.to_string(),
    }
}
