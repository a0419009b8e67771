//! Request URLs: a path joined under the base URL, checked to stay on the base origin and prefix.
//!
//! This is the one place that builds URLs the bearer token is sent to, so every check
//! that keeps credentials on the configured Backstage lives here.

use url::Url;

use crate::error::BackstageError;

/// Validates a configured base URL: `http`/`https`, a host, no credentials, query or fragment.
pub(crate) fn validate_base(base: &Url) -> Result<(), BackstageError> {
    let shown = || format!("{}://{}", base.scheme(), base.host_str().unwrap_or(""));
    if !matches!(base.scheme(), "http" | "https") {
        return Err(BackstageError::Config(format!(
            "base URL scheme must be http or https, got {:?}",
            base.scheme()
        )));
    }
    if base.host_str().is_none_or(str::is_empty) {
        return Err(BackstageError::Config("base URL has no host".into()));
    }
    if !base.username().is_empty() || base.password().is_some() {
        // Do not echo the URL: it holds credentials.
        return Err(BackstageError::Config(format!(
            "base URL {} must not contain credentials; set the token instead",
            shown()
        )));
    }
    if base.query().is_some() || base.fragment().is_some() {
        return Err(BackstageError::Config(format!(
            "base URL {base} must not have a query or fragment"
        )));
    }
    Ok(())
}

/// The base path without its trailing slash ("" for the root).
fn prefix(base: &Url) -> &str {
    base.path().trim_end_matches('/')
}

/// `true` if `url` has the base URL's origin and its path is under the base path prefix.
pub(crate) fn is_under(base: &Url, url: &Url) -> bool {
    if url.origin() != base.origin() {
        return false;
    }
    let prefix = prefix(base);
    match url.path().strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// Joins `path` (e.g. `/api/catalog/entity-facets`) under the base URL, keeping the base
/// path prefix, and appends `query` pairs (form-encoded, repeated keys kept in order).
///
/// `path` is used as given (already-encoded `%XX` stay as they are); it must not contain
/// `?` or `#`, and must not climb out of the base prefix with `..`.
pub(crate) fn join(
    base: &Url,
    path: &str,
    query: &[(&str, String)],
) -> Result<Url, BackstageError> {
    if path.contains(['?', '#']) {
        return Err(BackstageError::Config(format!(
            "path {path:?} must not contain '?' or '#'; pass query parameters separately"
        )));
    }
    if path.chars().any(char::is_control) {
        return Err(BackstageError::Config(format!(
            "path {path:?} contains control characters"
        )));
    }
    let mut url = base.clone();
    url.set_path(&format!(
        "{}/{}",
        prefix(base),
        path.trim_start_matches('/')
    ));
    finish(base, url, path, query)
}

/// Joins raw path segments under the base URL; each segment is percent-encoded (so `/`,
/// `?`, `#` and `%` inside a segment cannot change the URL's structure).
pub(crate) fn join_segments(
    base: &Url,
    segments: &[&str],
    query: &[(&str, String)],
) -> Result<Url, BackstageError> {
    if let Some(bad) = segments.iter().find(|s| matches!(**s, "" | "." | "..")) {
        return Err(BackstageError::Config(format!(
            "URL path segment {bad:?} is not allowed (empty, \".\" or \"..\")"
        )));
    }
    let mut url = base.clone();
    url.path_segments_mut()
        .map_err(|()| BackstageError::Config(format!("base URL {base} cannot have a path")))?
        .pop_if_empty()
        .extend(segments);
    let shown = segments.join("/");
    finish(base, url, &shown, query)
}

fn finish(
    base: &Url,
    mut url: Url,
    path: &str,
    query: &[(&str, String)],
) -> Result<Url, BackstageError> {
    url.set_query(None);
    url.set_fragment(None);
    if !query.is_empty() {
        let mut pairs = url.query_pairs_mut();
        for (key, value) in query {
            pairs.append_pair(key, value);
        }
    }
    if !is_under(base, &url) {
        return Err(BackstageError::Config(format!(
            "path {path:?} would leave the configured Backstage base URL {base}"
        )));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        match Url::parse(s) {
            Ok(u) => u,
            Err(e) => panic!("bad test URL {s}: {e}"),
        }
    }

    #[test]
    fn keeps_the_base_path_prefix() -> Result<(), BackstageError> {
        for base in ["http://h/backstage", "http://h/backstage/"] {
            let u = join(&url(base), "/api/catalog/entity-facets", &[])?;
            assert_eq!(u.as_str(), "http://h/backstage/api/catalog/entity-facets");
        }
        let u = join(&url("http://h:7007"), "api/x", &[])?;
        assert_eq!(u.as_str(), "http://h:7007/api/x");
        Ok(())
    }

    #[test]
    fn appends_repeated_query_pairs_in_order() -> Result<(), BackstageError> {
        let q = [
            ("facet", "kind".to_owned()),
            ("facet", "spec.lifecycle".to_owned()),
            ("filter", "kind=component,spec.type=service".to_owned()),
            ("term", "a b&c".to_owned()),
        ];
        let u = join(&url("http://h/bs"), "/api/catalog/entity-facets", &q)?;
        assert_eq!(
            u.query(),
            Some(
                "facet=kind&facet=spec.lifecycle&filter=kind%3Dcomponent%2Cspec.type%3Dservice&term=a+b%26c"
            )
        );
        let pairs: Vec<(String, String)> = u.query_pairs().into_owned().collect();
        assert_eq!(pairs[2].1, "kind=component,spec.type=service");
        assert_eq!(pairs[3].1, "a b&c");
        Ok(())
    }

    #[test]
    fn refuses_paths_that_leave_the_prefix_or_origin() {
        let base = url("http://h/backstage");
        for bad in [
            "/../admin",
            "/api/../../x",
            "/%2e%2e/x",
            "/api?x=1",
            "/api#frag",
            "/api\n",
        ] {
            assert!(
                matches!(join(&base, bad, &[]), Err(BackstageError::Config(_))),
                "{bad}"
            );
        }
        // An absolute URL or scheme-relative path is only ever a path under the base.
        for tricky in ["//evil.example/x", "http://evil.example/x"] {
            match join(&base, tricky, &[]) {
                Ok(u) => {
                    assert_eq!(u.host_str(), Some("h"), "{tricky}");
                    assert!(u.path().starts_with("/backstage/"), "{tricky}");
                }
                Err(e) => assert!(matches!(e, BackstageError::Config(_)), "{tricky}"),
            }
        }
    }

    #[test]
    fn prefix_match_is_on_segment_boundaries() {
        let base = url("http://h/backstage");
        assert!(is_under(&base, &url("http://h/backstage/api")));
        assert!(is_under(&base, &url("http://h/backstage")));
        assert!(!is_under(&base, &url("http://h/backstage-evil/api")));
        assert!(!is_under(&base, &url("https://h/backstage/api")));
        assert!(!is_under(&base, &url("http://h:8080/backstage/api")));
        assert!(!is_under(&base, &url("http://other/backstage/api")));
        assert!(is_under(&url("http://h/"), &url("http://h/anything")));
    }

    #[test]
    fn segments_are_percent_encoded() -> Result<(), BackstageError> {
        let base = url("http://h/bs/");
        let u = join_segments(
            &base,
            &[
                "api",
                "catalog",
                "entities",
                "by-name",
                "component",
                "default",
                "a/b?c#d%e f",
            ],
            &[],
        )?;
        assert_eq!(
            u.as_str(),
            "http://h/bs/api/catalog/entities/by-name/component/default/a%2Fb%3Fc%23d%25e%20f"
        );
        for bad in ["..", ".", ""] {
            assert!(matches!(
                join_segments(&base, &["api", bad], &[]),
                Err(BackstageError::Config(_))
            ));
        }
        Ok(())
    }

    #[test]
    fn validates_the_base() {
        assert!(validate_base(&url("https://backstage.example.com/x")).is_ok());
        for bad in [
            "ftp://h/",
            "http://user:pw@h/",
            "http://h/?a=1",
            "http://h/#f",
            "file:///etc",
        ] {
            match validate_base(&url(bad)) {
                Err(BackstageError::Config(m)) => assert!(!m.contains("pw"), "{m}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }
}
