//! The tokens file (`auth.tokensFile`): read bounded and without blocking on anything but a
//! regular file, parsed as a whole (one bad entry rejects the file), duplicate values
//! refused, and YAML errors shown without the file's text (it holds secrets).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::io::Read;
use std::path::Path;

use super::raw::RawToken;
use super::security::{self, StaticToken};

/// Largest tokens file read, in bytes.
pub const MAX_TOKENS_FILE_BYTES: u64 = 1024 * 1024;

/// Reads the file if it is a regular file of at most [`MAX_TOKENS_FILE_BYTES`]. A FIFO,
/// socket, device or directory is refused before it is opened, so reading never waits for a
/// writer.
pub fn read_bounded(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    if !meta.is_file() {
        return Err(
            "not a regular file (a FIFO, socket, device or directory is refused)".to_string(),
        );
    }
    if meta.len() > MAX_TOKENS_FILE_BYTES {
        return Err(format!(
            "{} bytes, more than the {MAX_TOKENS_FILE_BYTES} accepted",
            meta.len()
        ));
    }
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    let mut text = String::new();
    file.take(MAX_TOKENS_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read: {e}"))?;
    if text.len() as u64 > MAX_TOKENS_FILE_BYTES {
        return Err(format!(
            "more than the {MAX_TOKENS_FILE_BYTES} bytes accepted"
        ));
    }
    Ok(text)
}

/// A hash of the content, to see changes that keep size and modification time.
pub fn content_hash(text: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

/// Parses a tokens file: a YAML or JSON list of `{token, subject, servers?, tools?,
/// readOnly?}`. Any bad entry, or two entries with one value, rejects the whole file.
pub fn parse(text: &str, origin: &str) -> Result<Vec<StaticToken>, String> {
    let raw: Vec<RawToken> = if text.trim().is_empty() {
        Vec::new()
    } else {
        serde_saphyr::from_str(text)
            .map_err(|e| format!("not a list of tokens ({})", super::yaml_error::describe(&e)))?
    };
    let tokens: Vec<StaticToken> = raw
        .iter()
        .enumerate()
        .map(|(i, t)| security::token(t, &i.to_string(), origin).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    if let Some(d) = duplicate(&tokens, "entry") {
        return Err(d);
    }
    Ok(tokens)
}

/// Reads and parses the file.
pub fn load(path: &Path) -> Result<Vec<StaticToken>, String> {
    parse(&read_bounded(path)?, &path.display().to_string())
}

/// Names two positions (`<what> i` and `j`) holding the same token value, if any. The value
/// itself is never shown.
pub fn duplicate(tokens: &[StaticToken], what: &str) -> Option<String> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, t) in tokens.iter().enumerate() {
        if let Some(first) = seen.insert(t.token.expose(), i) {
            return Some(format!(
                "{what} {first} and {what} {i} have the same token value; each token must be unique"
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn duplicates_and_bad_yaml_reject_the_file_without_showing_tokens() {
        let dup = "- token: aaaaaaaaaaaaaaaaaaaaaaaa\n  subject: a\n- token: aaaaaaaaaaaaaaaaaaaaaaaa\n  subject: b\n";
        let e = parse(dup, "t.yaml").unwrap_err();
        assert!(e.contains("entry 0 and entry 1"), "{e}");
        assert!(!e.contains("aaaa"), "{e}");
        let bad = "- token: zzzzzzzzzzzzzzzzzzzzzz\n  subject: a\n   sub: [\n";
        let e = parse(bad, "t.yaml").unwrap_err();
        assert!(e.contains("line "), "{e}");
        assert!(!e.contains("zzzz"), "{e}");
    }

    #[test]
    fn fifos_directories_and_huge_files_are_refused_without_blocking() {
        let dir = std::env::temp_dir().join(format!("stagedoor-tf-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        // Opening a FIFO with no writer would wait forever; this returns at once.
        assert!(
            read_bounded(&fifo)
                .unwrap_err()
                .contains("not a regular file")
        );
        assert!(
            read_bounded(&dir)
                .unwrap_err()
                .contains("not a regular file")
        );
        let big = dir.join("big");
        std::fs::write(&big, vec![b'#'; (MAX_TOKENS_FILE_BYTES + 1) as usize]).unwrap();
        assert!(read_bounded(&big).unwrap_err().contains("accepted"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
