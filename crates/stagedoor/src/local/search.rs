//! Document search over a local catalog: the `search` tool's answers, with the shape
//! Backstage's search engine gives them, from a tantivy index (BM25, English stemming and
//! stop words) held in memory.
//!
//! Documents: one `software-catalog` document per entity (title, description, kind,
//! namespace, lifecycle, type), and one `techdocs` document per section of every page of the
//! entity's `dir:` TechDocs sources (the text before the first heading, then each heading).
//! The index is built at the first search and kept up to date incrementally: each search
//! first compares the served snapshot's entities (by a hash of their JSON) and every docs
//! site's newest modification time with what was indexed, and re-indexes only the entities
//! and sites that changed, so an edit is searchable at the next call.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;

use backstage_client::{EntityRef, Highlight, SearchQuery, SearchResult, SearchResultSet};
use serde_json::{Value, json};
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{AllQuery, BooleanQuery, Occur, Query, QueryParser, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value as _,
};
use tantivy::snippet::SnippetGenerator;
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
};
use tantivy::{Index, IndexReader, IndexWriter, TantivyDocument, Term, doc};

use super::LocalCatalog;
use super::docs::REF_ANNOTATION;

const ANALYZER: &str = "en_words";
/// Memory for the index writer (tantivy's minimum is 15 MB per thread).
const WRITER_BYTES: usize = 16_000_000;
/// Longest extract per hit.
const SNIPPET_CHARS: usize = 240;
/// Filters the local search applies (field of the `filters` argument → index field).
pub(super) const FILTERS: [&str; 4] = ["kind", "namespace", "lifecycle", "type"];

struct Fields {
    key: Field,
    owner_key: Field,
    doc_type: Field,
    title: Field,
    text: Field,
    location: Field,
    entity_ref: Field,
    path: Field,
    filters: [Field; 4],
}

struct State {
    index: Index,
    writer: IndexWriter,
    reader: IndexReader,
    f: Fields,
    /// Indexed entities: lowercase ref → hash of its JSON.
    entities: HashMap<String, u64>,
    /// Indexed docs sites: lowercase ref → newest modification time.
    sites: HashMap<String, Option<u64>>,
}

/// The document index of a local catalog (built at the first search).
#[derive(Default)]
pub(super) struct DocIndex {
    state: Mutex<Option<State>>,
}

impl std::fmt::Debug for DocIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DocIndex")
    }
}

fn hash_of(s: &str) -> u64 {
    let mut h = DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

fn new_state() -> Result<State, String> {
    let mut b = Schema::builder();
    let text = TextOptions::default()
        .set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(ANALYZER)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        )
        .set_stored();
    let f = Fields {
        key: b.add_text_field("key", STRING),
        owner_key: b.add_text_field("owner", STRING),
        doc_type: b.add_text_field("type", STRING | STORED),
        title: b.add_text_field("title", text.clone()),
        text: b.add_text_field("text", text),
        location: b.add_text_field("location", STORED),
        entity_ref: b.add_text_field("entityRef", STORED),
        path: b.add_text_field("path", STORED),
        filters: [
            b.add_text_field("f_kind", STRING),
            b.add_text_field("f_namespace", STRING),
            b.add_text_field("f_lifecycle", STRING),
            b.add_text_field("f_type", STRING),
        ],
    };
    let index = Index::create_in_ram(b.build());
    let analyzer = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(StopWordFilter::new(Language::English).ok_or("no English stop words")?)
        .filter(Stemmer::new(Language::English))
        .build();
    index.tokenizers().register(ANALYZER, analyzer);
    let writer = index
        .writer_with_num_threads(1, WRITER_BYTES)
        .map_err(|e| e.to_string())?;
    let reader = index.reader().map_err(|e| e.to_string())?;
    Ok(State {
        index,
        writer,
        reader,
        f,
        entities: HashMap::new(),
        sites: HashMap::new(),
    })
}

/// `/catalog/<ns>/<kind>/<name>` (or `/docs/...`), lowercase kind as Backstage writes it.
fn entity_path(root: &str, r: &EntityRef) -> String {
    format!(
        "/{root}/{}/{}/{}",
        r.namespace,
        r.kind.to_lowercase(),
        r.name
    )
}

impl State {
    /// Brings the index up to date with the catalog; true when something changed.
    fn sync(&mut self, catalog: &LocalCatalog) -> Result<(), String> {
        let snap = catalog.snapshot();
        let mut changed = false;
        let mut seen: HashMap<String, ()> = HashMap::with_capacity(snap.len());
        let mut docs_refs = Vec::new();
        for s in snap.all() {
            let key = s.key.to_string();
            let h = hash_of(&s.json);
            seen.insert(key.clone(), ());
            if s.json.contains(REF_ANNOTATION) {
                docs_refs.push(key.clone());
            }
            if self.entities.get(&key) == Some(&h) {
                continue;
            }
            let entity = s.value();
            let Some(r) = EntityRef::from_entity(&entity) else {
                continue;
            };
            self.writer
                .delete_term(Term::from_field_text(self.f.key, &format!("e:{key}")));
            self.writer
                .add_document(self.entity_doc(&key, &r, &entity))
                .map_err(|e| e.to_string())?;
            self.entities.insert(key, h);
            changed = true;
        }
        let gone: Vec<String> = self
            .entities
            .keys()
            .filter(|k| !seen.contains_key(*k))
            .cloned()
            .collect();
        for key in gone {
            self.writer
                .delete_term(Term::from_field_text(self.f.key, &format!("e:{key}")));
            self.writer
                .delete_term(Term::from_field_text(self.f.owner_key, &format!("d:{key}")));
            self.entities.remove(&key);
            self.sites.remove(&key);
            changed = true;
        }
        for key in docs_refs {
            let Ok(r) = EntityRef::parse(&key, None, None) else {
                continue;
            };
            let site = catalog.site_of(&r).ok();
            let newest = site.as_ref().and_then(|s| s.newest);
            if site.is_some() && self.sites.get(&key) == Some(&newest) {
                continue;
            }
            if site.is_none() && !self.sites.contains_key(&key) {
                continue;
            }
            self.writer
                .delete_term(Term::from_field_text(self.f.owner_key, &format!("d:{key}")));
            changed = true;
            let Some(site) = site else {
                self.sites.remove(&key);
                continue;
            };
            let entity = snap.stored(&key).map(|s| s.value()).unwrap_or(Value::Null);
            for section in site.sections() {
                let location = format!(
                    "{}/{}{}",
                    entity_path("docs", &r),
                    section.page,
                    section
                        .anchor
                        .as_ref()
                        .map(|a| format!("#{a}"))
                        .unwrap_or_default()
                );
                let path = format!(
                    "{}{}",
                    section.page,
                    section
                        .anchor
                        .as_ref()
                        .map(|a| format!("#{a}"))
                        .unwrap_or_default()
                );
                let mut d = doc!(
                    self.f.owner_key => format!("d:{key}"),
                    self.f.doc_type => "techdocs",
                    self.f.title => section.title,
                    self.f.text => section.text,
                    self.f.location => location,
                    self.f.entity_ref => r.to_string_ref(),
                    self.f.path => path,
                );
                self.add_filters(&mut d, &entity);
                self.writer.add_document(d).map_err(|e| e.to_string())?;
            }
            self.sites.insert(key, newest);
        }
        if changed {
            self.writer.commit().map_err(|e| e.to_string())?;
            self.reader.reload().map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn add_filters(&self, d: &mut TantivyDocument, entity: &Value) {
        let values = [
            entity["kind"].as_str(),
            Some(
                entity["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or("default"),
            ),
            entity["spec"]["lifecycle"].as_str(),
            entity["spec"]["type"].as_str(),
        ];
        for (field, v) in self.f.filters.iter().zip(values) {
            if let Some(v) = v {
                d.add_text(*field, v.to_lowercase());
            }
        }
    }

    fn entity_doc(&self, key: &str, r: &EntityRef, entity: &Value) -> TantivyDocument {
        let meta = &entity["metadata"];
        let title = meta["title"]
            .as_str()
            .or(meta["name"].as_str())
            .unwrap_or_default();
        let mut d = doc!(
            self.f.key => format!("e:{key}"),
            self.f.doc_type => "software-catalog",
            self.f.title => title,
            self.f.text => meta["description"].as_str().unwrap_or_default(),
            self.f.location => entity_path("catalog", r),
            self.f.entity_ref => r.to_string_ref(),
        );
        // The name's words are searchable too (as Backstage's collator indexes the title).
        d.add_text(self.f.title, meta["name"].as_str().unwrap_or_default());
        self.add_filters(&mut d, entity);
        d
    }

    fn query(&self, q: &SearchQuery) -> Result<SearchResultSet, String> {
        let mut parser = QueryParser::for_index(&self.index, vec![self.f.title, self.f.text]);
        parser.set_field_boost(self.f.title, 2.0);
        let term = q.term.trim();
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        if term.is_empty() {
            clauses.push((Occur::Must, Box::new(AllQuery)));
        } else {
            // Words only: the query syntax (fields, quotes, operators) is not exposed.
            let words: String = term
                .chars()
                .map(|c| if c.is_alphanumeric() { c } else { ' ' })
                .collect();
            let (query, _) = parser.parse_query_lenient(&words);
            clauses.push((Occur::Must, query));
        }
        let any_of = |field: Field, values: Vec<String>| -> Box<dyn Query> {
            Box::new(BooleanQuery::new(
                values
                    .into_iter()
                    .map(|v| {
                        let t = Term::from_field_text(field, &v);
                        (
                            Occur::Should,
                            Box::new(TermQuery::new(t, IndexRecordOption::Basic)) as Box<dyn Query>,
                        )
                    })
                    .collect(),
            ))
        };
        if !q.types.is_empty() {
            clauses.push((Occur::Must, any_of(self.f.doc_type, q.types.clone())));
        }
        for (k, v) in &q.filters {
            let Some(i) = FILTERS.iter().position(|f| f == k) else {
                return Err(format!(
                    "the local catalog's search filters on {} only, not `{k}`",
                    FILTERS.join(", ")
                ));
            };
            let values: Vec<String> = match v {
                Value::Array(a) => a.iter().map(scalar).collect(),
                other => vec![scalar(other)],
            };
            clauses.push((Occur::Must, any_of(self.f.filters[i], values)));
        }
        let query = BooleanQuery::new(clauses);
        let offset: usize = match &q.page_cursor {
            Some(c) => c
                .parse()
                .map_err(|_| "Malformed cursor, could not be parsed".to_string())?,
            None => 0,
        };
        let limit = q.page_limit.unwrap_or(25).max(1) as usize;
        let searcher = self.reader.searcher();
        let (total, top) = searcher
            .search(
                &query,
                &(
                    Count,
                    TopDocs::with_limit(limit)
                        .and_offset(offset)
                        .order_by_score(),
                ),
            )
            .map_err(|e| e.to_string())?;
        let mut snippets =
            SnippetGenerator::create(&searcher, &query, self.f.text).map_err(|e| e.to_string())?;
        snippets.set_max_num_chars(SNIPPET_CHARS);
        let (pre, post) = ("<stagedoor-match>", "</stagedoor-match>");
        let mut results = Vec::with_capacity(top.len());
        for (rank, (_, addr)) in top.into_iter().enumerate() {
            let d: TantivyDocument = searcher.doc(addr).map_err(|e| e.to_string())?;
            let get = |f: Field| {
                d.get_first(f)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string()
            };
            let mut snippet = snippets.snippet_from_doc(&d);
            snippet.set_snippet_prefix_postfix(pre, post);
            let mut highlighted = snippet.to_html();
            if highlighted.is_empty() {
                highlighted = get(self.f.text);
            }
            let doc_type = get(self.f.doc_type);
            let mut document = json!({
                "title": get(self.f.title),
                "text": get(self.f.text),
                "location": get(self.f.location),
            });
            let r = get(self.f.entity_ref);
            if let Ok(er) = EntityRef::parse(&r, None, None) {
                document["kind"] = json!(er.kind);
                document["namespace"] = json!(er.namespace);
                document["name"] = json!(er.name);
            }
            if doc_type == "techdocs" {
                document["path"] = json!(get(self.f.path));
            }
            results.push(SearchResult {
                doc_type,
                document,
                rank: Some((offset + rank + 1) as u64),
                highlight: Some(Highlight {
                    pre_tag: pre.into(),
                    post_tag: post.into(),
                    fields: [("text".to_string(), unescape(&highlighted))].into(),
                }),
            });
        }
        let next = offset + results.len();
        Ok(SearchResultSet {
            next_page_cursor: (next < total && !results.is_empty()).then(|| next.to_string()),
            previous_page_cursor: None,
            number_of_results: Some(total as u64),
            results,
        })
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_lowercase(),
        other => other.to_string(),
    }
}

/// Undoes the HTML escaping of a tantivy snippet (the tool shows plain text).
fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&amp;", "&")
}

impl DocIndex {
    /// One page of a search, after bringing the index up to date.
    pub(crate) fn search(
        &self,
        catalog: &LocalCatalog,
        q: &SearchQuery,
    ) -> Result<SearchResultSet, String> {
        let mut guard = match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if guard.is_none() {
            *guard = Some(new_state()?);
        }
        let Some(state) = guard.as_mut() else {
            return Err("the search index could not be created".into());
        };
        state.sync(catalog)?;
        state.query(q)
    }
}

impl LocalCatalog {
    /// One page of document search over the entities and their TechDocs sources.
    pub fn search(
        &self,
        q: &SearchQuery,
    ) -> Result<SearchResultSet, backstage_client::BackstageError> {
        self.doc_index.search(self, q).map_err(super::input_error)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use super::*;
    use crate::local::tests::Dir;
    use crate::local::{CatalogConfig, LoadOptions, glob_set};

    fn load(path: &Path) -> Arc<LocalCatalog> {
        Arc::new(LocalCatalog::load(CatalogConfig {
            load: LoadOptions {
                paths: vec![path.to_path_buf()],
                include: glob_set(&["**/*.yaml".into()]).unwrap(),
                exclude: glob_set(&[]).unwrap(),
                max_file_bytes: 1 << 20,
            },
            watch: false,
            debounce: std::time::Duration::from_millis(50),
        }))
    }

    fn q(term: &str) -> SearchQuery {
        SearchQuery {
            term: term.into(),
            page_limit: Some(10),
            ..Default::default()
        }
    }

    #[test]
    fn finds_a_techdocs_section_by_words_of_its_body_and_follows_edits() {
        let d = Dir::new("docsearch");
        d.write(
            "svc/catalog-info.yaml",
            "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: checkout\n  description: Takes payments\n  annotations:\n    backstage.io/techdocs-ref: dir:.\nspec:\n  type: service\n  lifecycle: production\n  owner: team-a\n",
        );
        d.write("svc/mkdocs.yml", "site_name: Checkout\n");
        d.write("svc/docs/index.md", "# Checkout\n\nIntro text.\n");
        let page = d.write(
            "svc/docs/runbook.md",
            "# Runbook\n\nGeneral notes.\n\n## Card failures\n\nWhen card charges are failing, restart the settlement daemon.\n",
        );
        let c = load(&d.0);
        let r = c.search(&q("charge failed")).unwrap();
        let hit = &r.results[0];
        assert_eq!(hit.doc_type, "techdocs", "{r:?}");
        assert_eq!(hit.document["path"], "runbook/#card-failures");
        assert_eq!(hit.document["title"], "Card failures");
        assert_eq!(
            hit.document["location"],
            "/docs/default/component/checkout/runbook/#card-failures"
        );
        let h = hit.highlight.as_ref().unwrap();
        assert!(
            h.fields["text"].contains("<stagedoor-match>charges</stagedoor-match>"),
            "{h:?}"
        );
        // Entities are documents too.
        let r = c.search(&q("payments")).unwrap();
        assert_eq!(r.results[0].doc_type, "software-catalog");
        assert_eq!(
            r.results[0].document["location"],
            "/catalog/default/component/checkout"
        );
        // An edit to a docs file is searchable at the next call.
        std::fs::write(
            &page,
            "# Runbook\n\n## Pager\n\nEscalate to the harbourmaster.\n",
        )
        .unwrap();
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(2);
        let f = std::fs::File::options().write(true).open(&page).unwrap();
        f.set_modified(later).unwrap();
        let r = c.search(&q("harbourmaster")).unwrap();
        assert_eq!(r.results.len(), 1);
        assert_eq!(r.results[0].document["path"], "runbook/#pager");
        assert!(
            c.search(&q("settlement daemon"))
                .unwrap()
                .results
                .is_empty()
        );
        // Filters and types narrow; paging by cursor.
        let mut all = q("");
        all.types = vec!["techdocs".into()];
        all.page_limit = Some(1);
        let first = c.search(&all).unwrap();
        assert_eq!(first.number_of_results, Some(3));
        all.page_cursor = first.next_page_cursor.clone();
        let second = c.search(&all).unwrap();
        assert_ne!(first.results[0].document, second.results[0].document);
        let mut bad = q("x");
        bad.filters.insert("owner".into(), json!("team-a"));
        assert!(c.search(&bad).is_err());
    }
}
