//! `stackfix templates export DIR`: the built-in fix templates, to edit and pass back with
//! `--templates DIR` (or `templates = "DIR"` in stackfix.toml).

use std::io;
use std::path::Path;

use stackfix::fix::render::{Builtin, BUILTIN};

use super::{print, EXIT_CLEAN, EXIT_ERROR};

pub fn export(dir: &Path) -> io::Result<u8> {
    let mut written = Vec::new();
    for Builtin { file, text, .. } in BUILTIN {
        let path = dir.join(file);
        if path.exists() {
            eprintln!("skipped {} (exists)", path.display());
            continue;
        }
        let result = path.parent().map_or(Ok(()), std::fs::create_dir_all).and_then(|_| std::fs::write(&path, text));
        if let Err(e) = result {
            eprintln!("error: {}: {e}", path.display());
            return Ok(EXIT_ERROR);
        }
        written.push(path.display().to_string());
    }
    print(&format!("wrote {} templates to {}\n", written.len(), dir.display()))?;
    Ok(EXIT_CLEAN)
}
