//! Paging a definition's raw text by byte range, and the continuation cursor of `get_api_spec`.
//!
//! Pages end on UTF-8 boundaries (preferably just after a newline) so that concatenating
//! every page gives back the exact original; the cursor carries a fingerprint of the text so a
//! definition that changed between pages is detected instead of spliced.

use serde::{Deserialize, Serialize};

use crate::tools::ToolError;
use crate::tools::shape::{bad_cursor, decode_opaque, encode_opaque};

/// The largest index `<= i` that is a char boundary of `s`.
pub(crate) fn floor_boundary(s: &str, i: usize) -> usize {
    if i >= s.len() {
        return s.len();
    }
    let mut i = i;
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// 1-based line and column (in characters) of byte offset `index`.
pub(crate) fn line_col(source: &str, index: usize) -> (usize, usize) {
    let before = &source[..floor_boundary(source, index)];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// The end of the page of `text` starting at byte `start` and at most `max_bytes` long:
/// just after the last newline in the window when that keeps at least half of it, else the
/// last char boundary. Always makes progress while `start < text.len()`.
pub(crate) fn page_end(text: &str, start: usize, max_bytes: usize) -> usize {
    let start = floor_boundary(text, start);
    let limit = start.saturating_add(max_bytes.max(1));
    if limit >= text.len() {
        return text.len();
    }
    let hard = floor_boundary(text, limit);
    let window = &text[start..hard];
    if let Some(nl) = window.rfind('\n')
        && nl + 1 >= window.len() / 2
    {
        return start + nl + 1;
    }
    if hard > start {
        return hard;
    }
    // A window smaller than one character: take the whole character.
    text[start..]
        .chars()
        .next()
        .map_or(text.len(), |c| start + c.len_utf8())
}

/// A 64-bit FNV-1a fingerprint of the text, as hex (stable across processes and builds).
pub(crate) fn fingerprint(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Where the next `get_api_spec` page starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SpecCursor {
    /// Format version.
    pub(crate) v: u8,
    /// The API's full reference.
    pub(crate) r: String,
    /// `full` (byte offset) or `summary` (operation offset).
    pub(crate) w: String,
    /// Offset to continue from.
    pub(crate) o: usize,
    /// Page size (bytes or operations).
    pub(crate) n: usize,
    /// Fingerprint of the definition the offsets refer to.
    pub(crate) h: String,
}

const RESTART: &str = "Call get_api_spec again without `cursor` to start from the beginning.";

impl SpecCursor {
    /// Encodes as an opaque string.
    pub(crate) fn encode(&self) -> String {
        encode_opaque(self)
    }

    /// Decodes a cursor and checks it belongs to `api_ref`.
    pub(crate) fn decode(s: &str, api_ref: &str) -> Result<Self, ToolError> {
        let c: SpecCursor = decode_opaque(s, RESTART)?;
        if c.v != 1 || !matches!(c.w.as_str(), "full" | "summary") || c.n == 0 {
            return Err(bad_cursor(RESTART));
        }
        if !c.r.eq_ignore_ascii_case(api_ref) {
            return Err(ToolError::invalid(format!(
                "This cursor belongs to {}, not {api_ref}. {RESTART}",
                c.r
            )));
        }
        Ok(c)
    }

    /// Checks the definition is the one the cursor was issued for.
    pub(crate) fn check(&self, text: &str) -> Result<(), ToolError> {
        if self.h != fingerprint(text) {
            return Err(ToolError::invalid(format!(
                "The API definition changed since the previous page (the catalog refreshed it). {RESTART}"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pages(text: &str, max: usize) -> Vec<&str> {
        let mut out = Vec::new();
        let mut start = 0;
        while start < text.len() {
            let end = page_end(text, start, max);
            assert!(end > start, "no progress at {start}");
            assert!(end - start <= max.max(4), "page too big: {}", end - start);
            out.push(&text[start..end]);
            start = end;
        }
        out
    }

    #[test]
    fn pages_concatenate_to_the_original_on_char_boundaries() {
        let text = "héllo wörld\n— ünïcödé 🚀🚀 line two\nshort\n".repeat(37);
        for max in [1, 2, 3, 5, 7, 16, 64, 100, 1000, 100_000] {
            let ps = pages(&text, max);
            assert_eq!(ps.concat(), text, "max {max}");
        }
    }

    #[test]
    fn pages_prefer_newlines() {
        let text = "aaaa\nbbbb\ncccc\n";
        assert_eq!(pages(text, 12), vec!["aaaa\nbbbb\n", "cccc\n"]);
        // A newline early in the window is not worth a tiny page.
        assert_eq!(page_end("a\nbbbbbbbbbbbbbbbbbbbbb", 0, 10), 10);
        assert_eq!(page_end("", 0, 10), 0);
    }

    #[test]
    fn line_and_column_count_characters() {
        assert_eq!(line_col("ab\ncdé f", 7), (2, 4));
        assert_eq!(line_col("ab\ncdé f", 8), (2, 5));
        assert_eq!(line_col("x", 99), (1, 2));
    }

    #[test]
    fn cursors_bind_to_the_api_and_the_text() {
        let c = SpecCursor {
            v: 1,
            r: "api:default/x".into(),
            w: "full".into(),
            o: 10,
            n: 100,
            h: fingerprint("abc"),
        };
        let s = c.encode();
        assert_eq!(SpecCursor::decode(&s, "API:default/x").unwrap(), c);
        assert!(SpecCursor::decode(&s, "api:default/y").is_err());
        assert!(SpecCursor::decode("garbage", "api:default/x").is_err());
        assert!(c.check("abc").is_ok());
        assert!(c.check("abd").is_err());
        assert_ne!(fingerprint("a"), fingerprint("b"));
    }
}
