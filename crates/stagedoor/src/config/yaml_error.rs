//! YAML errors for files that may hold secrets: line and column, and the parser's message
//! with every quoted fragment removed — never the source lines around the error.

/// `line L, column C: message`, with quoted text replaced by `…`.
pub fn describe(e: &serde_saphyr::Error) -> String {
    let inner = e.without_snippet();
    let message = inner.to_string();
    let first = message.lines().next().unwrap_or("").trim();
    let message = redact_quoted(first);
    match inner.location().or_else(|| e.location()) {
        Some(l) => format!("line {}, column {}: {message}", l.line(), l.column()),
        None => message,
    }
}

/// Replaces text between matching quotes (`"`, `'`, `` ` ``) with `…`.
fn redact_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut open: Option<char> = None;
    for c in s.chars() {
        match open {
            Some(q) if c == q => {
                out.push('…');
                out.push(c);
                open = None;
            }
            Some(_) => {}
            None => {
                out.push(c);
                if matches!(c, '"' | '\'' | '`') {
                    open = Some(c);
                }
            }
        }
    }
    if open.is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_source_text_in_yaml_errors() {
        let secret = "s3cr3t-tok3n-value";
        let mut library_quotes_it = false;
        for text in [
            format!("- token: {secret}\n  subject: a\n   bad: indent\n"),
            format!("- token: \"{secret}\n"),
            format!("- token: {secret}\n  subject: [a\n"),
            format!("- {{token: {secret}, subject: a\n"),
            format!("token: {secret}\n- x\n"),
        ] {
            let Err(e) = serde_saphyr::from_str::<serde_json::Value>(&text) else {
                continue;
            };
            let shown = describe(&e);
            assert!(!shown.contains(secret), "{shown}");
            assert!(shown.starts_with("line "), "{shown}");
            library_quotes_it |= e.to_string().contains(secret);
        }
        // The parser's own message does show the source: that is what is kept out.
        assert!(library_quotes_it);
    }
}
