//! `$text`, `$json` and `$yaml` placeholders, resolved from local files only.
//!
//! Backstage's `PlaceholderProcessor` replaces a mapping whose only key is `$text`, `$json`
//! or `$yaml` with the content of the file (or URL) it names. Here only paths relative to the
//! entity's file are read, and only inside the catalog root: URLs are never fetched, and
//! absolute paths or paths that climb out of the root are refused, so catalog content cannot
//! make the server read arbitrary files.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::validate::Invalid;
use super::yaml;

/// Where placeholders may read from.
pub(crate) struct Scope<'a> {
    /// Directory of the entity's file.
    pub dir: &'a Path,
    /// Canonical catalog root; resolved files must be inside it.
    pub root: &'a Path,
    /// Largest file read.
    pub max_bytes: u64,
}

/// True if any mapping in `value` has a key starting with `$`.
fn has_placeholder(value: &Value) -> bool {
    match value {
        Value::Array(items) => items.iter().any(has_placeholder),
        Value::Object(map) => map
            .iter()
            .any(|(k, v)| k.starts_with('$') || has_placeholder(v)),
        _ => false,
    }
}

/// Replaces every placeholder in `value`; returns the files read (canonical paths).
pub(crate) fn resolve(value: &mut Value, scope: &Scope<'_>) -> Result<Vec<PathBuf>, Invalid> {
    if !has_placeholder(value) {
        return Ok(Vec::new());
    }
    let mut deps = Vec::new();
    let mut path = Vec::new();
    walk(value, scope, &mut path, &mut deps)?;
    Ok(deps)
}

fn walk(
    value: &mut Value,
    scope: &Scope<'_>,
    path: &mut Vec<String>,
    deps: &mut Vec<PathBuf>,
) -> Result<(), Invalid> {
    match value {
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                path.push(i.to_string());
                walk(item, scope, path, deps)?;
                path.pop();
            }
            Ok(())
        }
        Value::Object(map) => {
            if !map.keys().any(|k| k.starts_with('$')) {
                for (k, v) in map.iter_mut() {
                    path.push(k.clone());
                    walk(v, scope, path, deps)?;
                    path.pop();
                }
                return Ok(());
            }
            if map.len() != 1 {
                return Ok(());
            }
            let Some((key, arg)) = map.iter().next() else {
                return Ok(());
            };
            let kind = &key[1..];
            if !matches!(kind, "text" | "json" | "yaml") {
                return Ok(());
            }
            path.push(key.clone());
            let at: Vec<&str> = path.iter().map(String::as_str).collect();
            let fail = |msg: String| Invalid::at(&at, format!("Placeholder ${kind}: {msg}"));
            let Some(target) = arg.as_str() else {
                return Err(fail(
                    "expected a string value: a path relative to this file".into(),
                ));
            };
            let (file, content) = read(target, scope).map_err(fail)?;
            let replaced = match kind {
                "text" => Value::String(content),
                "json" => serde_json::from_str(&content)
                    .map_err(|e| fail(format!("{target} is not valid JSON: {e}")))?,
                _ => yaml::single_value(&content)
                    .map_err(|e| fail(format!("{target} is not valid YAML data: {e}")))?,
            };
            path.pop();
            deps.push(file);
            *value = replaced;
            Ok(())
        }
        _ => Ok(()),
    }
}

/// True for `https://...`, `file:...` and other URL forms, which are never fetched.
pub(crate) fn is_url(target: &str) -> bool {
    match target.split_once(':') {
        Some((scheme, _)) => {
            scheme.len() > 1
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        }
        None => false,
    }
}

/// Resolves a relative path inside the root: the canonical file, or why not.
pub(crate) fn confine(target: &str, dir: &Path, root: &Path) -> Result<PathBuf, String> {
    if is_url(target) {
        return Err(format!(
            "`{target}` is a URL; the local catalog reads only files relative to the entity's file"
        ));
    }
    let rel = Path::new(target);
    if rel.is_absolute() {
        return Err(format!(
            "`{target}` is an absolute path; use a path relative to this file, inside the catalog root"
        ));
    }
    let joined = dir.join(rel);
    match super::confine::resolve_inside(&joined, &[root]) {
        Ok(canon) => Ok(canon),
        Err(super::confine::Refused::Unresolved(e)) => Err(format!(
            "cannot read `{target}` ({}): {e}",
            joined.display()
        )),
        Err(super::confine::Refused::Outside(_)) => Err(format!(
            "`{target}` resolves outside the catalog root {}; only files inside it are read",
            root.display()
        )),
    }
}

fn read(target: &str, scope: &Scope<'_>) -> Result<(PathBuf, String), String> {
    let canon = confine(target, scope.dir, scope.root)?;
    let meta = std::fs::metadata(&canon).map_err(|e| format!("cannot read `{target}`: {e}"))?;
    if !meta.is_file() {
        return Err(format!("`{target}` is not a file"));
    }
    if meta.len() > scope.max_bytes {
        return Err(format!(
            "`{target}` is {} bytes, more than catalog.maxFileBytes ({})",
            meta.len(),
            scope.max_bytes
        ));
    }
    let bytes = std::fs::read(&canon).map_err(|e| format!("cannot read `{target}`: {e}"))?;
    let text = String::from_utf8(bytes).map_err(|_| format!("`{target}` is not UTF-8 text"))?;
    Ok((canon, text))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("stagedoor-ph-{}-{name}", std::process::id()));
        std::fs::create_dir_all(d.join("sub")).unwrap();
        d.canonicalize().unwrap()
    }

    #[test]
    fn text_json_and_yaml_are_read_relative_to_the_file() {
        let root = tmp("ok");
        std::fs::write(root.join("sub/api.txt"), "openapi: 3.0.0\n").unwrap();
        std::fs::write(root.join("sub/a.json"), "{\"x\": [1]}").unwrap();
        std::fs::write(root.join("sub/b.yaml"), "y: 2\n").unwrap();
        let mut v = json!({"spec": {"definition": {"$text": "./api.txt"}, "j": {"$json": "a.json"},
                                    "list": [{"$yaml": "./b.yaml"}], "keep": {"$other": "x"}, "two": {"$text": "a", "b": 1}}});
        let scope = Scope {
            dir: &root.join("sub"),
            root: &root,
            max_bytes: 1 << 20,
        };
        let deps = resolve(&mut v, &scope).unwrap();
        assert_eq!(deps.len(), 3);
        assert_eq!(v["spec"]["definition"], "openapi: 3.0.0\n");
        assert_eq!(v["spec"]["j"], json!({"x": [1]}));
        assert_eq!(v["spec"]["list"][0], json!({"y": 2}));
        assert_eq!(v["spec"]["keep"], json!({"$other": "x"}));
        assert_eq!(v["spec"]["two"], json!({"$text": "a", "b": 1}));
        std::fs::remove_dir_all(&root).ok();
    }

    #[test]
    fn urls_absolute_paths_and_escapes_are_refused() {
        let root = tmp("bad");
        std::fs::write(root.join("outside.txt"), "secret").unwrap();
        let scope = Scope {
            dir: &root.join("sub"),
            root: &root.join("sub"),
            max_bytes: 1 << 20,
        };
        for (arg, want) in [
            ("https://example.com/api.yaml", "is a URL"),
            ("/etc/passwd", "absolute path"),
            ("../outside.txt", "outside the catalog root"),
            ("./missing.txt", "cannot read"),
        ] {
            let mut v = json!({"spec": {"definition": {"$text": arg}}});
            let e = resolve(&mut v, &scope).unwrap_err();
            assert!(e.message.contains(want), "{arg}: {}", e.message);
            assert_eq!(e.path, ["spec", "definition", "$text"]);
        }
        let mut v = json!({"a": {"$json": 5}});
        assert!(resolve(&mut v, &scope).is_err());
        std::fs::remove_dir_all(&root).ok();
    }
}
