use std::io::{self, Write};

use super::locate::Locator;
use super::{finding_position, Checked};
use crate::rules::Severity;

/// GitHub Actions workflow commands (`::error file=…,line=…::message`): the files that could not
/// be read first (as errors titled `stackfix`), then the findings. Files are named relative to
/// the repository (`GITHUB_WORKSPACE` in a workflow), as GitHub places annotations, whatever
/// directory stackfix runs in.
pub fn github(out: &mut dyn Write, checked: &[Checked]) -> io::Result<()> {
    let locator = Locator::new(checked);
    for e in checked.iter().flat_map(|c| &c.stack.errors) {
        let (line, col) = e.position.unwrap_or((1, 1));
        let mut message = e.message.clone();
        if let Some(hint) = &e.hint {
            message.push_str("\nhelp: ");
            message.push_str(hint);
        }
        writeln!(
            out,
            "::error title=stackfix,file={},line={line},col={col}::{}",
            property(&locator.path(std::path::Path::new(&e.path))),
            data(&message)
        )?;
    }
    for (stack, f) in Checked::all(checked) {
        let p = finding_position(stack, f);
        let command = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "notice",
        };
        let mut message = f.message.clone();
        if let Some(help) = &f.help {
            message.push_str("\nhelp: ");
            message.push_str(help);
        }
        writeln!(
            out,
            "::{command} title={},file={},line={},col={},endLine={},endColumn={}::{}",
            property(f.rule),
            property(&locator.path(&stack.file(f.file).path)),
            p.line,
            p.column,
            p.end_line,
            p.end_column,
            data(&message)
        )?;
    }
    Ok(())
}

fn data(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

fn property(text: &str) -> String {
    data(text).replace(':', "%3A").replace(',', "%2C")
}
