//! YAML catalog files as documents with line numbers.
//!
//! A file is split into its documents (`---` / `...` at column 0) so that a syntax error in
//! one document is reported on its own line while the others still load, as Backstage's
//! `parseAllDocuments` does. Each document is parsed straight into JSON; only when a problem
//! must name a line is the document parsed again into a tree of source lines (serde-saphyr's
//! [`Spanned`]), which keeps loading a large catalog fast. Parsing follows YAML 1.2 like
//! Backstage's `yaml` package: only `true`/`false` are booleans, and `<<` is an ordinary key
//! (Backstage parses with `merge: false`).

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value};
use serde_saphyr::{MergeKeyPolicy, Options, Spanned};

/// One parsed YAML document.
#[derive(Debug)]
pub(crate) struct Document {
    /// 1-based line of the document's first node in the file.
    pub line: usize,
    /// The document as JSON.
    pub value: Value,
    /// The document's text and its 0-based line offset in the file (for [`Document::lines`]).
    text: String,
    offset: usize,
}

impl Document {
    /// Source lines of every node (parses the document again, with spans).
    pub(crate) fn lines(&self) -> Lines {
        match serde_saphyr::from_str_with_options::<Spanned<Tree>>(&self.text, options()) {
            Ok(tree) => Lines::from_tree(&tree, self.offset),
            Err(_) => Lines {
                line: self.line - self.offset,
                offset: self.offset,
                children: Vec::new(),
            },
        }
    }
}

/// What one document of a file turned out to be.
#[derive(Debug)]
pub(crate) enum Parsed {
    /// A document with content.
    Doc(Document),
    /// A syntax error, at a 1-based line of the file.
    Error {
        /// The line of the error.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// The source line of every node of a document, addressed by key path.
#[derive(Debug, Default)]
pub(crate) struct Lines {
    line: usize,
    offset: usize,
    children: Vec<(String, Lines)>,
}

impl Lines {
    /// The 1-based file line of the node at `path` (map keys or sequence indexes), or of the
    /// nearest ancestor that exists.
    pub(crate) fn at(&self, path: &[&str]) -> usize {
        let mut cur = self;
        for p in path {
            match cur.children.iter().find(|(k, _)| k == p) {
                Some((_, child)) => cur = child,
                None => break,
            }
        }
        cur.line + self.offset
    }

    fn from_tree(tree: &Spanned<Tree>, offset: usize) -> Self {
        let children = match &tree.value {
            Tree::Scalar => Vec::new(),
            Tree::Seq(items) => items
                .iter()
                .enumerate()
                .map(|(i, t)| (i.to_string(), Self::from_tree(t, 0)))
                .collect(),
            Tree::Map(entries) => entries
                .iter()
                .map(|(k, t)| {
                    // A key is reported at its own line (`spec:`), not its first child's.
                    let mut child = Self::from_tree(t, 0);
                    child.line = k.referenced.line() as usize;
                    (k.value.0.clone(), child)
                })
                .collect(),
        };
        Self {
            line: tree.referenced.line() as usize,
            offset,
            children,
        }
    }
}

/// The parser options shared by catalog files and `$yaml` placeholders.
fn options() -> Options {
    let mut o = Options::default();
    o.strict_booleans = true;
    o.merge_keys = MergeKeyPolicy::AsOrdinary;
    o.with_snippet = false;
    o
}

/// Splits `text` into documents and parses each one. Empty documents are skipped.
pub(crate) fn documents(text: &str) -> Vec<Parsed> {
    split(text)
        .into_iter()
        .filter_map(|(start, chunk)| parse_chunk(start, chunk))
        .collect()
}

/// Parses text that must hold exactly one document into JSON (for `$yaml` placeholders).
pub(crate) fn single_value(text: &str) -> Result<Value, String> {
    let docs = documents(text);
    let mut values = Vec::new();
    for d in docs {
        match d {
            Parsed::Doc(doc) => values.push(doc.value),
            Parsed::Error { line, message } => return Err(format!("line {line}: {message}")),
        }
    }
    match values.len() {
        1 => Ok(values.remove(0)),
        n => Err(format!("expected exactly one document of data, found {n}")),
    }
}

/// Document chunks: (0-based line offset of the chunk in the file, chunk text).
fn split(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut start = 0usize;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let bare = line.trim_end_matches(['\n', '\r']);
        let is_marker = |m: &str| {
            bare == m
                || bare
                    .strip_prefix(m)
                    .is_some_and(|r| r.starts_with([' ', '\t']))
        };
        if is_marker("---") {
            out.push((start, std::mem::take(&mut current)));
            start = i;
            // Keep what follows the marker (`--- {a: 1}`), column-aligned.
            current.push_str("   ");
            current.push_str(&line[3..]);
        } else if is_marker("...") {
            out.push((start, std::mem::take(&mut current)));
            start = i + 1;
        } else {
            current.push_str(line);
        }
    }
    out.push((start, current));
    out
}

/// The 1-based line of the first content line of a chunk, if it has content.
fn first_content_line(chunk: &str) -> Option<usize> {
    chunk.lines().position(|l| {
        let t = l.trim();
        !(t.is_empty() || t.starts_with('#') || l.starts_with('%'))
    })
}

fn parse_chunk(offset: usize, chunk: String) -> Option<Parsed> {
    let first = first_content_line(&chunk)?;
    match serde_saphyr::from_str_with_options::<Value>(&chunk, options()) {
        Ok(Value::Null) => None,
        Ok(value) => Some(Parsed::Doc(Document {
            line: offset + first + 1,
            value,
            text: chunk,
            offset,
        })),
        Err(e) => {
            let line = e.location().map(|l| l.line() as usize).unwrap_or(1) + offset;
            let message = e.to_string();
            // serde-saphyr appends " at line L, column C"; the file line is reported separately.
            let message = match message.rfind(" at line ") {
                Some(i) => message[..i].to_string(),
                None => message,
            };
            Some(Parsed::Error { line, message })
        }
    }
}

/// A YAML node with the source location of every child.
#[derive(Debug)]
enum Tree {
    Scalar,
    Seq(Vec<Spanned<Tree>>),
    Map(Vec<(Spanned<Key>, Spanned<Tree>)>),
}

impl<'de> Deserialize<'de> for Tree {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TreeVisitor)
    }
}

struct TreeVisitor;

fn float(v: f64) -> Value {
    Number::from_f64(v)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

impl<'de> Visitor<'de> for TreeVisitor {
    type Value = Tree;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Tree, E> {
        Ok(Tree::Scalar)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Tree, E> {
        Ok(Tree::Scalar)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Tree, E> {
        Ok(Tree::Scalar)
    }
    fn visit_i128<E: de::Error>(self, _: i128) -> Result<Tree, E> {
        Ok(Tree::Scalar)
    }
    fn visit_u128<E: de::Error>(self, _: u128) -> Result<Tree, E> {
        Ok(Tree::Scalar)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Tree, E> {
        Ok(Tree::Scalar)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Tree, E> {
        Ok(Tree::Scalar)
    }
    fn visit_string<E: de::Error>(self, _: String) -> Result<Tree, E> {
        Ok(Tree::Scalar)
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Tree, E> {
        Ok(Tree::Scalar)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Tree, E> {
        Ok(Tree::Scalar)
    }
    fn visit_none<E: de::Error>(self) -> Result<Tree, E> {
        Ok(Tree::Scalar)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Tree, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Tree, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element::<Spanned<Tree>>()? {
            items.push(item);
        }
        Ok(Tree::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Tree, A::Error> {
        let mut entries: Vec<(Spanned<Key>, Spanned<Tree>)> =
            Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some(key) = map.next_key::<Spanned<Key>>()? {
            let value = map.next_value::<Spanned<Tree>>()?;
            entries.push((key, value));
        }
        Ok(Tree::Map(entries))
    }
}

/// A mapping key as JavaScript would stringify it (`1: x` has the key `"1"`).
#[derive(Debug)]
struct Key(String);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a scalar mapping key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Key, E> {
                Ok(Key(super::index::js_number(&float(v))))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Key, E> {
                Ok(Key(String::new()))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn docs(text: &str) -> Vec<Parsed> {
        documents(text)
    }

    #[test]
    fn documents_keep_their_file_lines() {
        let text = "# header\napiVersion: v1\nkind: A\nmetadata:\n  name: a\n---\n# c\nkind: B\nmetadata:\n  name: b\n  tags: [x, y]\n";
        let d = docs(text);
        assert_eq!(d.len(), 2);
        let Parsed::Doc(a) = &d[0] else {
            panic!("{d:?}")
        };
        assert_eq!(a.line, 2);
        assert_eq!(a.lines().at(&["metadata", "name"]), 5);
        assert_eq!(a.value["metadata"]["name"], "a");
        let Parsed::Doc(b) = &d[1] else {
            panic!("{d:?}")
        };
        assert_eq!(b.line, 8);
        assert_eq!(b.lines().at(&["metadata", "name"]), 10);
        assert_eq!(b.lines().at(&["metadata", "tags", "1"]), 11);
        // A missing path falls back to the nearest ancestor.
        assert_eq!(b.lines().at(&["metadata", "nope"]), 9);
    }

    #[test]
    fn a_syntax_error_stays_in_its_document() {
        let text = "a: 1\n---\nb: [1,\nc: 2\n---\nd: 4\n";
        let d = docs(text);
        assert_eq!(d.len(), 3, "{d:?}");
        assert!(matches!(&d[0], Parsed::Doc(x) if x.value == json!({"a": 1})));
        match &d[1] {
            Parsed::Error { line, message } => {
                assert_eq!(*line, 3, "{message}");
                assert!(message.contains("bracket"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(&d[2], Parsed::Doc(x) if x.value == json!({"d": 4}) && x.line == 6));
    }

    #[test]
    fn yaml_12_scalars_like_backstage() {
        let d = docs("a: yes\nb: on\nc: true\nd: 12\ne: 1.5\nf: ~\n<<: {k: 1}\n1: one\n");
        let Parsed::Doc(x) = &d[0] else {
            panic!("{d:?}")
        };
        assert_eq!(
            x.value,
            json!({"a": "yes", "b": "on", "c": true, "d": 12, "e": 1.5, "f": null, "<<": {"k": 1}, "1": "one"})
        );
    }

    #[test]
    fn empty_documents_and_markers_are_skipped() {
        assert!(docs("").is_empty());
        assert!(docs("---\n# only a comment\n---\n").is_empty());
        let d = docs("--- {a: 1}\n...\n---\nb: 2\n");
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(matches!(&d[0], Parsed::Doc(x) if x.value == json!({"a": 1})));
        assert!(single_value("a: 1\n").is_ok());
        assert!(single_value("a: 1\n---\nb: 2\n").is_err());
        assert!(single_value("").is_err());
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let d = docs("a: 1\na: 2\n");
        assert!(matches!(&d[0], Parsed::Error { line: 2, .. }), "{d:?}");
    }
}
