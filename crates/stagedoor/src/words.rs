//! Word-wise free text, the same in both modes: a query is split into words, and an entity
//! matches when every word is a prefix of a word of its name, title, tags or description.
//! Matches are scored by where and how each word matched (name above title above tags above
//! description, exact above prefix) and ranked by score, then name, then ref.
//!
//! Also "did you mean": names and words close to a query by a real similarity
//! (normalized Damerau-Levenshtein), with a threshold so that no suggestion beats a wrong one.

use serde_json::Value;

/// Where a word of an entity comes from; higher ranks first.
pub type Tier = u8;
/// `metadata.name`.
pub const TIER_NAME: Tier = 4;
/// `metadata.title`.
pub const TIER_TITLE: Tier = 3;
/// `metadata.tags`.
pub const TIER_TAG: Tier = 2;
/// `metadata.description`.
pub const TIER_DESCRIPTION: Tier = 1;

/// The lowercase words of a text: runs of letters and digits.
pub fn tokenize(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// The query's words, deduplicated, in order.
pub fn query_words(query: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for w in tokenize(query) {
        if !out.contains(&w) {
            out.push(w);
        }
    }
    out
}

/// The searchable words of an entity with their best tier, sorted by word.
pub fn entity_terms(entity: &Value) -> Vec<(String, Tier)> {
    let meta = &entity["metadata"];
    let mut out: Vec<(String, Tier)> = Vec::new();
    let mut add = |text: &str, tier: Tier| out.extend(tokenize(text).map(|w| (w, tier)));
    if let Some(s) = meta["name"].as_str() {
        add(s, TIER_NAME);
    }
    if let Some(s) = meta["title"].as_str() {
        add(s, TIER_TITLE);
    }
    for t in meta["tags"].as_array().into_iter().flatten() {
        if let Some(s) = t.as_str() {
            add(s, TIER_TAG);
        }
    }
    if let Some(s) = meta["description"].as_str() {
        add(s, TIER_DESCRIPTION);
    }
    out.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    out.dedup_by(|b, a| a.0 == b.0);
    out
}

/// The score of one query word against one entity word of `tier`, if it matches.
pub fn word_score(query_word: &str, term: &str, tier: Tier) -> Option<u32> {
    if term == query_word {
        Some(u32::from(tier) * 2)
    } else if term.starts_with(query_word) {
        Some(u32::from(tier))
    } else {
        None
    }
}

/// The score of an entity for the query words (`None`: some word matches nothing).
pub fn score(words: &[String], terms: &[(String, Tier)]) -> Option<u32> {
    let mut total = 0;
    for w in words {
        let start = terms.partition_point(|(t, _)| t.as_str() < w.as_str());
        let best = terms[start..]
            .iter()
            .take_while(|(t, _)| t.starts_with(w.as_str()))
            .filter_map(|(t, tier)| word_score(w, t, *tier))
            .max()?;
        total += best;
    }
    Some(total)
}

/// Similarity of two lowercase strings, 0 to 1.
pub fn similarity(a: &str, b: &str) -> f64 {
    strsim::normalized_damerau_levenshtein(a, b)
}

/// How similar a name must be to be suggested.
pub const NAME_THRESHOLD: f64 = 0.75;
/// How similar a word must be to be suggested (and at least this long).
pub const WORD_THRESHOLD: f64 = 0.75;
const MIN_WORD: usize = 4;

/// Up to `max` of `candidates` close to `wanted` (case-insensitive), best first; a candidate
/// equal to `wanted` is not a suggestion.
pub fn closest<'a>(
    wanted: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    threshold: f64,
    max: usize,
) -> Vec<String> {
    let wanted = wanted.trim().to_lowercase();
    if wanted.chars().count() < MIN_WORD {
        return Vec::new();
    }
    let mut scored: Vec<(f64, String)> = candidates
        .into_iter()
        .map(|c| c.to_lowercase())
        .filter(|c| *c != wanted)
        .map(|c| (similarity(&wanted, &c), c))
        .filter(|(s, _)| *s >= threshold)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    scored.dedup_by(|b, a| a.1 == b.1);
    scored.into_iter().take(max).map(|(_, c)| c).collect()
}

/// The query with each word that matches nothing replaced by its closest known word, when
/// one is close enough; `None` when no word could be corrected.
pub fn corrected_query<'a>(
    words: &[String],
    unmatched: &[bool],
    vocabulary: impl Fn() -> Box<dyn Iterator<Item = &'a str> + 'a>,
) -> Option<String> {
    let mut changed = false;
    let mut out = Vec::with_capacity(words.len());
    for (w, missing) in words.iter().zip(unmatched) {
        if *missing && let Some(best) = closest(w, vocabulary(), WORD_THRESHOLD, 1).pop() {
            changed = true;
            out.push(best);
            continue;
        }
        out.push(w.clone());
    }
    changed.then(|| out.join(" "))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn words_match_prefixes_in_any_order_and_rank_by_field() {
        let e = json!({"metadata": {"name": "payments-service", "title": "Payments",
            "tags": ["java"], "description": "Charges cards for every booking"}});
        let terms = entity_terms(&e);
        let q = |s: &str| score(&query_words(s), &terms);
        assert!(q("payment service").is_some());
        assert!(q("service payment").is_some());
        assert!(q("payments-service").is_some());
        assert!(q("payment refunds").is_none(), "every word must match");
        assert!(q("ments").is_none(), "word prefixes, not substrings");
        // Exact above prefix; name above tag above description.
        assert!(q("payments") > q("payment"));
        assert!(q("java") > q("charges"));
        assert!(
            q("pay") > q("charges"),
            "a name prefix beats a description word"
        );
        assert_eq!(q(""), Some(0));
    }

    /// Misspellings → what is suggested (nothing rather than something wrong).
    const NAMES: [&str; 10] = [
        "payment-service",
        "order-service",
        "catalog-service",
        "payments",
        "payments-db",
        "inventory-api",
        "checkout-web",
        "platform-team",
        "shipping-worker",
        "fraud-detector",
    ];
    const MISSPELLINGS: [(&str, &[&str]); 10] = [
        ("paymnet-service", &["payment-service"]),
        ("payment-servce", &["payment-service"]),
        ("odrer-service", &["order-service"]),
        ("inventroy-api", &["inventory-api"]),
        ("checkout-wbe", &["checkout-web"]),
        ("platfrom-team", &["platform-team"]),
        ("shiping-worker", &["shipping-worker"]),
        ("fraud-detecter", &["fraud-detector"]),
        // Not close to anything: no suggestion beats a wrong one.
        ("booking-service", &[]),
        ("zzz", &[]),
    ];

    #[test]
    fn did_you_mean_suggests_close_names_only() {
        for (typo, expected) in MISSPELLINGS {
            let got = closest(typo, NAMES, NAME_THRESHOLD, 1);
            assert_eq!(got, expected, "{typo}");
        }
    }

    #[test]
    fn unmatched_words_are_corrected_from_the_vocabulary() {
        let vocab = ["payment", "service", "order", "checkout"];
        let words = query_words("paymnet service");
        let got = corrected_query(&words, &[true, false], || Box::new(vocab.into_iter()));
        assert_eq!(got.as_deref(), Some("payment service"));
        let words = query_words("quantum service");
        assert_eq!(
            corrected_query(&words, &[true, false], || Box::new(vocab.into_iter())),
            None
        );
    }
}
