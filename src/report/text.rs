use std::io::{self, Write};

use super::finding_position;
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

/// `path:line:col: rule-name: message`, like rustc and ruff, with help lines and a summary.
pub fn text(out: &mut dyn Write, stack: &Stack, findings: &[Finding], color: bool) -> io::Result<()> {
    let paint = |code: &'static str| if color { code } else { "" };
    for f in findings {
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
            f.rule,
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
    if !findings.is_empty() {
        let count = |s| findings.iter().filter(|f| f.severity == s).count();
        let fixable = |a| findings.iter().filter(|f| f.fix.as_ref().is_some_and(|x| x.applicability == a)).count();
        writeln!(
            out,
            "Found {} finding{} ({} error, {} warning, {} info).",
            findings.len(),
            if findings.len() == 1 { "" } else { "s" },
            count(Severity::Error),
            count(Severity::Warning),
            count(Severity::Info)
        )?;
        let (safe, unsafe_) = (fixable(Applicability::Safe), fixable(Applicability::Unsafe));
        if safe + unsafe_ > 0 {
            writeln!(out, "{safe} fixable with `stackfix fix`, {unsafe_} more with `--unsafe-fixes`.")?;
        }
    }
    Ok(())
}
