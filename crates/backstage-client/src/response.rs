//! Reading and interpreting answers: capped bodies, JSON decoding, Backstage error JSON.

use reqwest::StatusCode;
use serde_json::Value;
use url::Url;

use crate::error::BackstageError;

/// Same-origin redirects followed before giving up (other origins are never followed).
pub(crate) const MAX_REDIRECTS: usize = 5;
/// Body bytes read from an error answer (or a probe answer); the rest is dropped.
pub(crate) const ERROR_BODY_CAP: usize = 64 * 1024;
/// Characters of a body kept in an error message.
const SNIPPET_CHARS: usize = 200;
/// Longest Backstage error message kept (zod issue lists can be long).
const MAX_MESSAGE_CHARS: usize = 2000;

/// How reading a body ended.
pub(crate) enum BodyEnd {
    Complete,
    /// The body was larger than the cap (or announced so by `Content-Length`).
    Overflow,
    /// The connection failed mid-body.
    Failed(reqwest::Error),
}

/// One attempt's answer: status, (capped) body and redirect target.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) body: Vec<u8>,
    pub(crate) end: BodyEnd,
    pub(crate) location: Option<String>,
}

/// Reads the body, keeping at most `cap` bytes. Never fails: how it ended is reported.
pub(crate) async fn read_capped(
    response: &mut reqwest::Response,
    cap: usize,
) -> (Vec<u8>, BodyEnd) {
    if response
        .content_length()
        .is_some_and(|len| usize::try_from(len).map_or(true, |len| len > cap))
    {
        return (Vec::new(), BodyEnd::Overflow);
    }
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = cap - body.len();
                if chunk.len() > room {
                    body.extend_from_slice(&chunk[..room]);
                    return (body, BodyEnd::Overflow);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return (body, BodyEnd::Complete),
            Err(e) => return (body, BodyEnd::Failed(e)),
        }
    }
}

/// Decodes a 2xx body as JSON; an empty body is `null`.
pub(crate) fn parse_json(url: &Url, body: &[u8]) -> Result<Value, BackstageError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body).map_err(|e| BackstageError::Decode {
        url: url.to_string(),
        message: format!(
            "response is not valid JSON ({e}); it starts with {:?}",
            snippet(body)
        ),
    })
}

/// `(name, message)` for a non-2xx answer: Backstage error JSON if present, otherwise
/// the redirect target, a body snippet, or the status reason.
pub(crate) fn describe_failure(url: &Url, answer: &Answer) -> (Option<String>, String) {
    if answer.status.is_redirection() {
        let target = answer
            .location
            .as_deref()
            .and_then(|l| url.join(l).ok())
            .map_or_else(
                || "an unknown location".to_owned(),
                |t| t.origin().ascii_serialization(),
            );
        return (
            None,
            format!(
                "redirect to {target} was not followed (only up to {MAX_REDIRECTS} redirects within {} are followed)",
                url.origin().ascii_serialization()
            ),
        );
    }
    let reason = || {
        answer
            .status
            .canonical_reason()
            .unwrap_or("unknown status")
            .to_owned()
    };
    if let Ok(json) = serde_json::from_slice::<Value>(&answer.body) {
        let mut error = json.get("error").filter(|e| e.is_object()).unwrap_or(&json);
        // A plugin that failed calling another plugin answers a `ResponseError` whose
        // `cause` is the other plugin's error: report the root cause, as Backstage's own
        // MCP plugin does (`extractCause` in its `handleErrors`).
        while error.get("name").and_then(Value::as_str) == Some("ResponseError") {
            match error.get("cause") {
                Some(cause) if cause.get("name").and_then(Value::as_str).is_some() => {
                    error = cause;
                }
                _ => break,
            }
        }
        let text = |key: &str| {
            error
                .get(key)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(|s| truncate(s, MAX_MESSAGE_CHARS))
        };
        let name = text("name");
        if let Some(message) = text("message") {
            return (name, message);
        }
        if name.is_some() {
            return (name, reason());
        }
    }
    let snippet = snippet(&answer.body);
    (
        None,
        if snippet.is_empty() {
            reason()
        } else {
            snippet
        },
    )
}

/// A short, single-line preview of a body for error messages.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(SNIPPET_CHARS * 4)]);
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    truncate(&collapsed, SNIPPET_CHARS)
}

/// `s` cut to at most `max` characters, with an ellipsis when cut.
fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_owned(),
    }
}

/// The error's source chain, joined (skipping reqwest's top line, which repeats the URL).
pub(crate) fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut source = err.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = e.source();
    }
    if parts.is_empty() {
        err.to_string()
    } else {
        parts.join(": ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body: body.as_bytes().to_vec(),
            end: BodyEnd::Complete,
            location: None,
        }
    }

    fn url() -> Url {
        match Url::parse("http://backstage.test/api/catalog/x") {
            Ok(u) => u,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn backstage_error_json_is_parsed() {
        let body = r#"{"error":{"name":"NotFoundError","message":"No entity named 'x' found"},"request":{"method":"GET","url":"/entities/by-name/component/default/x"},"response":{"statusCode":404}}"#;
        let (name, message) = describe_failure(&url(), &answer(404, body));
        assert_eq!(name.as_deref(), Some("NotFoundError"));
        assert_eq!(message, "No entity named 'x' found");
    }

    #[test]
    fn a_response_error_is_reported_by_its_root_cause() {
        let body = r#"{"error":{"name":"ResponseError","message":"Request failed with 404 Not Found","cause":{"name":"ResponseError","message":"inner","cause":{"name":"NotFoundError","message":"No task with id 'x' found"}}},"response":{"statusCode":404}}"#;
        let (name, message) = describe_failure(&url(), &answer(404, body));
        assert_eq!(name.as_deref(), Some("NotFoundError"));
        assert_eq!(message, "No task with id 'x' found");
        let body =
            r#"{"error":{"name":"ResponseError","message":"Request failed","cause":"text"}}"#;
        let (name, message) = describe_failure(&url(), &answer(500, body));
        assert_eq!(name.as_deref(), Some("ResponseError"));
        assert_eq!(message, "Request failed");
    }

    #[test]
    fn non_json_error_bodies_become_snippets_or_reasons() {
        let (name, message) = describe_failure(
            &url(),
            &answer(502, "<html>\n  <b>Bad   gateway</b></html>"),
        );
        assert_eq!(name, None);
        assert_eq!(message, "<html> <b>Bad gateway</b></html>");
        let (_, message) = describe_failure(&url(), &answer(503, ""));
        assert_eq!(message, "Service Unavailable");
        let (_, message) = describe_failure(&url(), &answer(500, &"x".repeat(5000)));
        assert!(message.chars().count() <= SNIPPET_CHARS + 1, "{message}");
        let (name, message) = describe_failure(&url(), &answer(400, r#"{"message":"plain"}"#));
        assert_eq!((name, message.as_str()), (None, "plain"));
    }

    #[test]
    fn redirect_answers_name_the_target_origin_only() {
        let mut a = answer(302, "");
        a.location = Some("https://evil.example:8443/steal?token=abc".into());
        let (name, message) = describe_failure(&url(), &a);
        assert_eq!(name, None);
        assert!(message.contains("https://evil.example:8443"), "{message}");
        assert!(!message.contains("steal"), "{message}");
    }

    #[test]
    fn empty_success_body_is_null_and_garbage_is_decode() {
        assert!(matches!(parse_json(&url(), b" \n"), Ok(Value::Null)));
        match parse_json(&url(), b"<!DOCTYPE html><p>login</p>") {
            Err(BackstageError::Decode { message, url }) => {
                assert!(message.contains("<!DOCTYPE html>"), "{message}");
                assert!(url.ends_with("/api/catalog/x"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("ééé", 2), "éé…");
        assert_eq!(truncate("abc", 3), "abc");
    }
}
