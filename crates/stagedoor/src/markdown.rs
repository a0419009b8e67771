//! Markdown line helpers shared by the TechDocs renderer (mkdocs sources) and the TechDocs
//! HTML-to-Markdown conversion.

/// Tracks CommonMark fenced code blocks (```` ``` ```` / `~~~`) line by line.
#[derive(Debug, Default)]
pub(crate) struct Fences {
    /// The fence character and length of the open block.
    open: Option<(char, usize)>,
}

impl Fences {
    /// True if `line` opens, continues or closes a fenced code block.
    pub(crate) fn in_code(&mut self, line: &str) -> bool {
        let t = line.trim_start();
        if let Some((c, n)) = self.open {
            let closing = t.trim_end();
            if closing.chars().count() >= n && closing.chars().all(|x| x == c) {
                self.open = None;
            }
            return true;
        }
        if let Some(c @ ('`' | '~')) = t.chars().next() {
            let n = t.chars().take_while(|x| *x == c).count();
            if n >= 3 {
                self.open = Some((c, n));
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fences_open_and_close_with_the_same_marker() {
        let mut f = Fences::default();
        let lines = [
            "a",
            "````md",
            "```",
            "!!! not a block",
            "````",
            "b",
            "~~~",
            "x",
            "~~~~",
            "c",
        ];
        let seen: Vec<bool> = lines.iter().map(|l| f.in_code(l)).collect();
        assert_eq!(
            seen,
            [
                false, true, true, true, true, false, true, true, true, false
            ]
        );
    }
}
