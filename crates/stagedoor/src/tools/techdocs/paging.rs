//! Page paths as a model may write them, and long Markdown served in bounded slices with
//! a continuation cursor (never cut silently).

use backstage_client::EntityRef;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use percent_encoding::percent_decode_str;
use serde::{Deserialize, Serialize};

use super::super::ToolError;

/// A page path parsed from user input: the files it may name, best first, and the
/// `#anchor` it carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PagePath {
    /// Site files the path may stand for, e.g. `["runbook/index.html", "runbook.html"]`.
    pub candidates: Vec<String>,
    /// The fragment, when the path had one (`runbook/#alerts`).
    pub fragment: Option<String>,
}

/// Parses a page path as listed by `get_techdocs` (`runbook/index.html`) or as a person or
/// a link would write it: `runbook/`, `runbook`, `/runbook/`, `runbook.md`, `""` (home),
/// `/docs/<ns>/<kind>/<name>/runbook/` (a Backstage docs URL or search hit), with an
/// optional `#anchor`. Paths climbing out of the site (`..`) are refused.
pub(crate) fn parse_page_path(input: &str, entity: &EntityRef) -> Result<PagePath, ToolError> {
    let raw = input.trim();
    if raw.chars().any(char::is_control) || raw.contains('\\') {
        return Err(ToolError::invalid(format!(
            "`path` {raw:?} contains control characters or backslashes"
        )));
    }
    // A full URL: keep its path and fragment.
    let raw = match raw.find("://") {
        Some(i) => {
            let rest = &raw[i + 3..];
            rest.find('/').map_or("", |j| &rest[j..])
        }
        None => raw,
    };
    let (raw, fragment) = match raw.split_once('#') {
        Some((p, f)) => (p, Some(f.to_string()).filter(|f| !f.is_empty())),
        None => (raw, None),
    };
    let raw = raw.split('?').next().unwrap_or_default();
    let decoded = percent_decode_str(raw).decode_utf8_lossy().into_owned();
    let directory = decoded.is_empty() || decoded.ends_with('/');
    let mut segments: Vec<&str> = decoded
        .split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .collect();
    if segments.contains(&"..") {
        return Err(ToolError::invalid(format!(
            "`path` {input:?} must stay inside the site (no `..`)"
        )));
    }
    strip_site_prefix(&mut segments, entity);
    let joined = segments.join("/");
    let Some(last) = segments.last().copied() else {
        return Ok(PagePath {
            candidates: vec!["index.html".into()],
            fragment,
        });
    };
    let parent = match segments.len() {
        1 => String::new(),
        n => format!("{}/", segments[..n - 1].join("/")),
    };
    let candidates = if directory {
        vec![format!("{joined}/index.html")]
    } else if last.to_ascii_lowercase().ends_with(".html") {
        vec![joined]
    } else if let Some(stem) = last.strip_suffix(".md") {
        if stem.eq_ignore_ascii_case("index") || stem.eq_ignore_ascii_case("readme") {
            vec![format!("{parent}index.html")]
        } else {
            vec![
                format!("{parent}{stem}/index.html"),
                format!("{parent}{stem}.html"),
            ]
        }
    } else {
        vec![format!("{joined}/index.html"), format!("{joined}.html")]
    };
    Ok(PagePath {
        candidates,
        fragment,
    })
}

/// Drops a leading `docs/<ns>/<kind>/<name>` (a Backstage docs URL) or
/// `api/techdocs/static/docs/<ns>/<kind>/<name>` when it names `entity`.
fn strip_site_prefix(segments: &mut Vec<&str>, entity: &EntityRef) {
    let triplet = [
        entity.namespace.as_str(),
        entity.kind.as_str(),
        entity.name.as_str(),
    ];
    for prefix in [&["docs"][..], &["api", "techdocs", "static", "docs"][..]] {
        let n = prefix.len();
        if segments.len() >= n + 3
            && segments[..n] == *prefix
            && segments[n..n + 3]
                .iter()
                .zip(triplet)
                .all(|(a, b)| a.eq_ignore_ascii_case(b))
        {
            segments.drain(..n + 3);
            return;
        }
    }
}

/// The slice of `text` starting at character `offset` with at most `max` characters, cut
/// after a blank line or a line break in its second half when there is one, and the
/// character offset of the rest (`None` when this slice reaches the end).
pub(crate) fn slice_chars(text: &str, offset: usize, max: usize) -> (&str, Option<usize>) {
    let start = text
        .char_indices()
        .nth(offset)
        .map_or(text.len(), |(i, _)| i);
    let rest = &text[start..];
    let Some((hard_end, _)) = rest.char_indices().nth(max.max(1)) else {
        return (rest, None);
    };
    let window = &rest[..hard_end];
    let half = window.len() / 2;
    let cut = window
        .rfind("\n\n")
        .filter(|i| *i >= half)
        .map(|i| i + 2)
        .or_else(|| window.rfind('\n').filter(|i| *i >= half).map(|i| i + 1))
        .unwrap_or(hard_end);
    let slice = &rest[..cut];
    (slice, Some(offset + slice.chars().count()))
}

/// Where the next slice of a page starts, carried opaquely between calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PageCursor {
    /// Version of this format.
    pub v: u8,
    /// The docs entity's reference.
    pub r: String,
    /// Site file of the page.
    pub p: String,
    /// Section anchor, if one was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s: Option<String>,
    /// Character offset of the next slice.
    pub o: usize,
    /// Slice size in characters.
    pub m: usize,
    /// Build timestamp of the site the offsets refer to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub b: Option<u64>,
}

impl PageCursor {
    /// Encodes as an opaque URL-safe string.
    pub(crate) fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Decodes a cursor given back by a client.
    pub(crate) fn decode(s: &str) -> Result<Self, ToolError> {
        let bad = || {
            ToolError::invalid(
                "The cursor is not one get_techdocs_page issued (or it was altered). Read the page again without `cursor`.",
            )
        };
        let bytes = URL_SAFE_NO_PAD.decode(s.trim()).map_err(|_| bad())?;
        let c: PageCursor = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        if c.v != 1 || c.p.is_empty() || c.m == 0 {
            return Err(bad());
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entity() -> EntityRef {
        EntityRef {
            kind: "component".into(),
            namespace: "default".into(),
            name: "payment-service".into(),
        }
    }

    fn candidates(input: &str) -> Vec<String> {
        match parse_page_path(input, &entity()) {
            Ok(p) => p.candidates,
            Err(e) => panic!("{input}: {e}"),
        }
    }

    #[test]
    fn page_paths_normalize_to_site_files() {
        for home in [
            "",
            "/",
            "./",
            "index.html",
            "/index.html",
            "index.md",
            "README.md",
        ] {
            assert_eq!(candidates(home), vec!["index.html"], "{home:?}");
        }
        for runbook in ["runbook/", "/runbook/", "runbook/index.html", "./runbook/"] {
            assert_eq!(
                candidates(runbook),
                vec!["runbook/index.html"],
                "{runbook:?}"
            );
        }
        assert_eq!(
            candidates("runbook"),
            vec!["runbook/index.html", "runbook.html"]
        );
        assert_eq!(
            candidates("guides/setup.md"),
            vec!["guides/setup/index.html", "guides/setup.html"]
        );
        assert_eq!(candidates("guides/index.md"), vec!["guides/index.html"]);
        assert_eq!(candidates("my%20page/"), vec!["my page/index.html"]);
        // Backstage docs URLs and search hits name the entity first.
        for url in [
            "/docs/default/component/payment-service/runbook/",
            "https://backstage.example.com/docs/default/Component/payment-service/runbook/",
            "/api/techdocs/static/docs/default/component/payment-service/runbook/index.html",
        ] {
            assert_eq!(candidates(url), vec!["runbook/index.html"], "{url}");
        }
        // A docs folder of another entity is not stripped.
        assert_eq!(
            candidates("docs/default/component/other/x/"),
            vec!["docs/default/component/other/x/index.html"]
        );
    }

    #[test]
    fn fragments_are_split_off_and_escapes_refused() {
        let p = parse_page_path("runbook/#acquirer-outage", &entity()).ok();
        assert_eq!(
            p,
            Some(PagePath {
                candidates: vec!["runbook/index.html".into()],
                fragment: Some("acquirer-outage".into()),
            })
        );
        for bad in ["../other/index.html", "a/../../b", "a\\b", "a\u{0}b"] {
            assert!(parse_page_path(bad, &entity()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn slices_cover_the_text_exactly_and_respect_utf8() {
        let text = "ééé ü\n\n".repeat(40) + &"日本語テキスト".repeat(30);
        let total = text.chars().count();
        for max in [1, 7, 10, 33, 100, 1000] {
            let mut offset = 0;
            let mut joined = String::new();
            let mut steps = 0;
            loop {
                let (slice, next) = slice_chars(&text, offset, max);
                assert!(slice.chars().count() <= max, "max {max}");
                assert!(!slice.is_empty() || total == 0);
                joined.push_str(slice);
                steps += 1;
                match next {
                    Some(n) => {
                        assert!(n > offset);
                        offset = n;
                    }
                    None => break,
                }
                assert!(steps <= total + 1, "paging does not end");
            }
            assert_eq!(joined, text, "max {max}");
        }
    }

    #[test]
    fn slices_prefer_paragraph_breaks() {
        let text = format!(
            "{}\n\n{}\nline\n{}",
            "a".repeat(60),
            "b".repeat(20),
            "c".repeat(50)
        );
        let (first, next) = slice_chars(&text, 0, 90);
        assert_eq!(first, format!("{}\n\n", "a".repeat(60)));
        assert_eq!(next, Some(62));
        // No blank line in the second half of the window: cut after a line break.
        let (second, next) = slice_chars(&text, 62, 40);
        assert_eq!(second, format!("{}\nline\n", "b".repeat(20)));
        assert_eq!(next, Some(62 + 26));
        let (whole, none) = slice_chars(&text, 0, 10_000);
        assert_eq!((whole, none), (text.as_str(), None));
        assert_eq!(slice_chars(&text, 10_000, 10), ("", None));
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = PageCursor {
            v: 1,
            r: "component:default/x".into(),
            p: "index.html".into(),
            s: Some("alerts".into()),
            o: 20_000,
            m: 20_000,
            b: Some(17),
        };
        assert_eq!(PageCursor::decode(&c.encode()).ok(), Some(c));
        assert!(PageCursor::decode("nope!").is_err());
        assert!(PageCursor::decode(&URL_SAFE_NO_PAD.encode(b"{\"v\":2}")).is_err());
    }
}
