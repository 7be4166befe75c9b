use std::io::{self, Write};

use super::{finding_position, Checked};
use crate::rules::Severity;

/// GitHub Actions workflow commands (`::error file=…,line=…::message`).
pub fn github(out: &mut dyn Write, checked: &[Checked]) -> io::Result<()> {
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
            property(&p.path),
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
