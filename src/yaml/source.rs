//! Source text of one YAML file: byte offsets, the line-start table, line:column conversion and the
//! file's own style (line ending, indentation unit, BOM). Everything else in `yaml` measures in bytes;
//! only this module knows that yaml-rust2 counts characters.

/// The line ending a file uses; new lines written into it must use the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineEnding {
    Lf,
    CrLf,
    /// A lone CR (classic Mac OS), which YAML also reads as a line break.
    Cr,
}

impl LineEnding {
    pub fn as_str(self) -> &'static str {
        match self {
            LineEnding::Lf => "\n",
            LineEnding::CrLf => "\r\n",
            LineEnding::Cr => "\r",
        }
    }
}

/// A file's text with a line-start table.
#[derive(Debug, Clone)]
pub struct Source {
    text: String,
    bom_len: usize,
    line_starts: Vec<usize>,
    /// Empty for ASCII text; otherwise the number of characters before every `CHUNK`-th byte, so
    /// characters and bytes convert in constant time even on a line of megabytes.
    char_checkpoints: Vec<usize>,
}

const BOM: char = '\u{feff}';
const CHUNK: usize = 64;

fn count_chars(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| !is_continuation(b)).count()
}

fn is_continuation(byte: u8) -> bool {
    byte & 0xC0 == 0x80
}

impl Source {
    pub fn new(text: String) -> Self {
        let bom_len = if text.starts_with(BOM) { BOM.len_utf8() } else { 0 };
        let bytes = text.as_bytes();
        let mut line_starts = Vec::with_capacity(bytes.len() / 32 + 1);
        line_starts.push(0);
        for i in memchr::memchr2_iter(b'\n', b'\r', bytes) {
            // A lone CR is a line break for the YAML scanner too.
            if bytes[i] == b'\n' || bytes.get(i + 1) != Some(&b'\n') {
                line_starts.push(i + 1);
            }
        }
        let char_checkpoints = if text.is_ascii() {
            Vec::new()
        } else {
            let mut chars = 0;
            let mut checkpoints = Vec::with_capacity(bytes.len() / CHUNK + 1);
            for chunk in bytes.chunks(CHUNK) {
                checkpoints.push(chars);
                chars += count_chars(chunk);
            }
            checkpoints.push(chars);
            checkpoints
        };
        Source { text, bom_len, line_starts, char_checkpoints }
    }

    /// Characters before byte `offset`.
    fn chars_before(&self, offset: usize) -> usize {
        if self.char_checkpoints.is_empty() {
            return offset;
        }
        let chunk = offset / CHUNK;
        self.char_checkpoints[chunk] + count_chars(&self.text.as_bytes()[chunk * CHUNK..offset])
    }

    /// The whole text, BOM included.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The text the parser sees: without the BOM (yaml-rust2 would make it part of the first key).
    pub fn body(&self) -> &str {
        &self.text[self.bom_len..]
    }

    pub fn bom_len(&self) -> usize {
        self.bom_len
    }

    pub fn len(&self) -> usize {
        self.text.len()
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    pub fn line_count(&self) -> usize {
        self.line_starts.len()
    }

    /// Byte offset of a yaml-rust2 marker (1-based line, 0-based character column) measured on `body()`.
    pub fn offset_of_marker(&self, line: usize, col: usize) -> usize {
        let idx = line.saturating_sub(1).min(self.line_starts.len() - 1);
        let mut start = self.line_starts[idx];
        if idx == 0 {
            start += self.bom_len;
        }
        let end = self.line_content_end(idx);
        if self.char_checkpoints.is_empty() {
            return (start + col).min(end);
        }
        let target = self.chars_before(start) + col;
        // The character starts in the last chunk that begins with at most `target` characters before it.
        let chunk = self.char_checkpoints.partition_point(|&c| c <= target).saturating_sub(1);
        let mut pos = (chunk * CHUNK).max(start).min(end);
        let mut chars = self.chars_before(pos);
        let bytes = self.text.as_bytes();
        while pos < end {
            if !is_continuation(bytes[pos]) {
                if chars == target {
                    return pos;
                }
                chars += 1;
            }
            pos += 1;
        }
        end
    }

    /// 0-based line index containing byte `offset`.
    pub fn line_index(&self, offset: usize) -> usize {
        match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        }
    }

    /// 1-based line and 1-based character column of a byte offset (as rustc and editors show them).
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = self.floor_char_boundary(offset.min(self.text.len()));
        let idx = self.line_index(offset);
        let mut start = self.line_starts[idx];
        if idx == 0 {
            start = (start + self.bom_len).min(offset);
        }
        (idx + 1, self.chars_before(offset) - self.chars_before(start) + 1)
    }

    fn floor_char_boundary(&self, mut offset: usize) -> usize {
        while offset > 0 && !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        offset
    }

    /// Byte offset where line `idx` (0-based) starts.
    pub fn line_start(&self, idx: usize) -> usize {
        self.line_starts[idx.min(self.line_starts.len() - 1)]
    }

    /// Byte offset where line `idx` ends, before its line break.
    pub fn line_content_end(&self, idx: usize) -> usize {
        let bytes = self.text.as_bytes();
        let mut end = if idx + 1 < self.line_starts.len() { self.line_starts[idx + 1] } else { bytes.len() };
        if end > self.line_starts[idx] && bytes.get(end - 1) == Some(&b'\n') {
            end -= 1;
        }
        if end > self.line_starts[idx] && bytes.get(end - 1) == Some(&b'\r') {
            end -= 1;
        }
        end
    }

    /// The text of line `idx` without its line break.
    pub fn line_text(&self, idx: usize) -> &str {
        &self.text[self.line_start(idx)..self.line_content_end(idx)]
    }

    /// The line ending of the first line break (LF for a file without one).
    pub fn line_ending(&self) -> LineEnding {
        let bytes = self.text.as_bytes();
        match bytes.iter().position(|&b| b == b'\n' || b == b'\r') {
            Some(i) if bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n') => LineEnding::CrLf,
            Some(i) if bytes[i] == b'\r' => LineEnding::Cr,
            _ => LineEnding::Lf,
        }
    }

    pub fn has_final_newline(&self) -> bool {
        self.text.ends_with('\n')
    }

    /// The smallest positive step between the indentation of consecutive non-blank, non-comment
    /// lines; 2 when the file never nests.
    pub fn indent_unit(&self) -> usize {
        let mut best: Option<usize> = None;
        let mut prev = 0usize;
        for idx in 0..self.line_count() {
            let line = self.line_text(idx);
            let trimmed = line.trim_start_matches(' ');
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let indent = line.len() - trimmed.len();
            if indent > prev {
                let step = indent - prev;
                best = Some(best.map_or(step, |b| b.min(step)));
            }
            prev = indent;
        }
        best.unwrap_or(2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_convert_characters_to_bytes() {
        let src = Source::new("a: ü\nbé: x\n".to_string());
        assert_eq!(src.offset_of_marker(2, 4), "a: ü\nbé: ".len());
        assert_eq!(src.line_col("a: ü\nbé: ".len()), (2, 5));
    }

    #[test]
    fn long_non_ascii_lines_convert_both_ways() {
        let line: String = (0..500).map(|i| if i % 3 == 0 { 'é' } else { 'a' }).collect();
        let text = format!("x: 1\n{line}ü{line}\n");
        let src = Source::new(text.clone());
        for col in [0, 1, 63, 64, 500, 501, 999, 1000] {
            let expected = "x: 1\n".len() + format!("{line}ü{line}").char_indices().nth(col).unwrap().0;
            assert_eq!(src.offset_of_marker(2, col), expected, "column {col}");
            assert_eq!(src.line_col(expected), (2, col + 1));
        }
        assert_eq!(src.offset_of_marker(2, 5000), text.len() - 1, "past the end of the line");
    }

    #[test]
    fn bom_is_outside_the_body_and_columns() {
        let src = Source::new("\u{feff}a: 1\n".to_string());
        assert_eq!(src.body(), "a: 1\n");
        assert_eq!(src.offset_of_marker(1, 3), 6);
        assert_eq!(src.line_col(6), (1, 4));
    }

    #[test]
    fn crlf_and_missing_final_newline() {
        let src = Source::new("a: 1\r\nb: 2".to_string());
        assert_eq!(src.line_ending(), LineEnding::CrLf);
        assert_eq!(src.line_text(0), "a: 1");
        assert_eq!(src.line_text(1), "b: 2");
        assert!(!src.has_final_newline());
        assert_eq!(Source::new("a: 1\rb: 2\r".to_string()).line_ending(), LineEnding::Cr);
    }

    #[test]
    fn indent_unit_is_detected() {
        let src = Source::new("a:\n    b:\n        c: 1\n".to_string());
        assert_eq!(src.indent_unit(), 4);
    }
}
