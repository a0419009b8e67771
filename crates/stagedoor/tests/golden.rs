//! The wire contract of `tools/list` (names, schemas, annotations) against a committed golden
//! file. Regenerate with `UPDATE_GOLDEN=1 cargo test -p stagedoor --test golden` and review
//! the diff.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::path::PathBuf;

#[test]
fn tools_list_matches_golden_file() {
    check("tools-list.json", &stagedoor::mcp::tool_list_json());
}

/// The tools listed when serving a local catalog (no Backstage-only tools).
#[test]
fn local_tools_list_matches_golden_file() {
    check(
        "tools-list-local.json",
        &stagedoor::mcp::tool_list_json_for(true),
    );
}

fn check(file: &str, value: &serde_json::Value) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(file);
    let actual = serde_json::to_string_pretty(value).unwrap() + "\n";
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}; run with UPDATE_GOLDEN=1 to create it",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "tools/list changed; if intended, run UPDATE_GOLDEN=1 cargo test -p stagedoor --test golden and commit the diff.\n--- actual ---\n{actual}"
    );
}
