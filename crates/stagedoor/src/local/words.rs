//! The local catalog's word index for `search_catalog` free text (see [`crate::words`]):
//! every word of every entity's name, title, tags and description, sorted, with posting
//! lists of (entity, tier). A query word is a binary search for its prefix range; the most
//! selective word goes first and the others only score its candidates.

use std::collections::HashMap;

use fixedbitset::FixedBitSet;

use super::index::Snapshot;
use super::query::{parse_filters, project};
use crate::words::{Tier, word_score};

/// Words → postings (entity id << 3 | tier), in one flat arena.
#[derive(Debug, Default)]
pub(crate) struct WordIndex {
    words: Vec<Box<str>>,
    /// `postings[starts[i]..starts[i + 1]]` belong to `words[i]`.
    starts: Vec<u32>,
    postings: Vec<u32>,
}

impl WordIndex {
    /// Builds the index from (final entity id, its terms).
    pub(crate) fn build<'a>(entities: impl Iterator<Item = (u32, &'a [(String, Tier)])>) -> Self {
        let mut map: HashMap<&'a str, Vec<u32>> = HashMap::new();
        for (id, terms) in entities {
            for (w, tier) in terms {
                map.entry(w.as_str())
                    .or_default()
                    .push((id << 3) | u32::from(*tier));
            }
        }
        let mut words: Vec<(&str, Vec<u32>)> = map.into_iter().collect();
        words.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let mut out = WordIndex {
            words: Vec::with_capacity(words.len()),
            starts: Vec::with_capacity(words.len() + 1),
            postings: Vec::with_capacity(words.iter().map(|(_, p)| p.len()).sum()),
        };
        for (w, p) in words {
            out.words.push(w.into());
            out.starts.push(out.postings.len() as u32);
            out.postings.extend(p);
        }
        out.starts.push(out.postings.len() as u32);
        out
    }

    /// Approximate heap bytes.
    pub(crate) fn bytes(&self) -> usize {
        self.words.iter().map(|w| w.len() + 16).sum::<usize>()
            + self.starts.len() * 4
            + self.postings.len() * 4
    }

    /// Indexes of the words starting with `prefix`.
    fn range(&self, prefix: &str) -> std::ops::Range<usize> {
        let start = self.words.partition_point(|w| &**w < prefix);
        let end = start
            + self.words[start..]
                .iter()
                .take_while(|w| w.starts_with(prefix))
                .count();
        start..end
    }

    /// Best score of `word` per entity (limited to `allowed`).
    fn scores(&self, word: &str, allowed: &dyn Fn(u32) -> bool) -> HashMap<u32, u32> {
        let mut best: HashMap<u32, u32> = HashMap::new();
        for wi in self.range(word) {
            let term = &*self.words[wi];
            let (a, b) = (self.starts[wi] as usize, self.starts[wi + 1] as usize);
            for p in &self.postings[a..b] {
                let (id, tier) = (p >> 3, (p & 7) as Tier);
                if !allowed(id) {
                    continue;
                }
                if let Some(s) = word_score(word, term, tier) {
                    let slot = best.entry(id).or_insert(0);
                    *slot = (*slot).max(s);
                }
            }
        }
        best
    }

    /// How many postings a word's prefix range holds (its selectivity).
    fn weight(&self, word: &str) -> usize {
        let r = self.range(word);
        if r.is_empty() {
            return 0;
        }
        (self.starts[r.end] - self.starts[r.start]) as usize
    }

    /// (entity id, score) of every entity in `allowed` matching every word.
    pub(crate) fn search(&self, words: &[String], allowed: &FixedBitSet) -> Vec<(u32, u32)> {
        let mut order: Vec<&String> = words.iter().collect();
        order.sort_by_key(|w| self.weight(w));
        let Some((first, rest)) = order.split_first() else {
            return Vec::new();
        };
        let mut acc = self.scores(first, &|id| allowed.contains(id as usize));
        for w in rest {
            if acc.is_empty() {
                break;
            }
            let s = self.scores(w, &|id| acc.contains_key(&id));
            acc.retain(|id, total| match s.get(id) {
                Some(x) => {
                    *total += x;
                    true
                }
                None => false,
            });
        }
        acc.into_iter().collect()
    }

    /// How many entities of `allowed` each word matches on its own.
    pub(crate) fn alone(&self, words: &[String], allowed: &FixedBitSet) -> Vec<u64> {
        words
            .iter()
            .map(|w| self.scores(w, &|id| allowed.contains(id as usize)).len() as u64)
            .collect()
    }
}

/// One page of a word search, ranked.
#[derive(Debug)]
pub struct WordPage {
    /// The entities of the page, projected to the requested fields.
    pub items: Vec<serde_json::Value>,
    /// How many entities match in all.
    pub total: u64,
    /// When nothing matches: how many entities each word matches on its own (same filters).
    pub alone: Vec<u64>,
}

impl Snapshot {
    /// Entities matching the filters and every word, ranked (score, then name, then ref);
    /// `offset`/`limit` select the page.
    pub(crate) fn search_words(
        &self,
        filters: &[String],
        words: &[String],
        fields: &[String],
        offset: usize,
        limit: usize,
    ) -> Result<WordPage, String> {
        let parsed = parse_filters(filters)?;
        let allowed = self.filter_set(&parsed);
        let mut hits = self.words.search(words, &allowed);
        hits.sort_unstable_by(|(a, sa), (b, sb)| {
            let (ea, eb) = (&self.entities[*a as usize], &self.entities[*b as usize]);
            sb.cmp(sa)
                .then_with(|| ea.name.cmp(&eb.name))
                .then_with(|| ea.key.cmp(&eb.key))
        });
        let items = hits
            .iter()
            .skip(offset)
            .take(limit)
            .map(|(i, _)| project(&self.entities[*i as usize].value(), fields))
            .collect();
        let alone = if hits.is_empty() && words.len() > 1 {
            self.words.alone(words, &allowed)
        } else {
            Vec::new()
        };
        Ok(WordPage {
            items,
            total: hits.len() as u64,
            alone,
        })
    }
}
