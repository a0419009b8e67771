//! Configuration that is refused (issue 17 F13), each error naming the file and the key, and
//! a YAML error in a file holding tokens that shows no token.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::collections::BTreeMap;
use std::path::PathBuf;

use stagedoor::config::{self, Overrides};

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("stagedoor-says-no-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn refused(yaml: &str, d: &std::path::Path) -> String {
    let file = d.join("stagedoor.yaml");
    std::fs::write(&file, yaml).unwrap();
    let mut env = BTreeMap::new();
    env.insert(
        "BACKSTAGE_BASE_URL".to_string(),
        "http://127.0.0.1:1".to_string(),
    );
    match config::load(&[file], &Overrides::default(), &env) {
        Ok(_) => panic!("accepted:\n{yaml}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_values_are_refused_with_file_and_key() {
    let d = dir("values");
    let tokens = d.join("tokens.yaml");
    std::fs::write(&tokens, "- token: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n  subject: a\n- token: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n  subject: b\n").unwrap();
    let fifo = d.join("fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let cases = [
        ("logging:\n  level: loud!!\n".to_string(), "logging.level"),
        ("server:\n  limits:\n    requestTimeout: 0s\n".to_string(), "server.limits.requestTimeout"),
        ("backstage:\n  timeout: 0s\n".to_string(), "backstage.timeout"),
        ("backstage:\n  connectTimeout: 0ms\n".to_string(), "backstage.connectTimeout"),
        (format!("auth:\n  tokensFile: {}\n", d.join("missing.yaml").display()), "auth.tokensFile"),
        (format!("auth:\n  tokensFile: {}\n", tokens.display()), "auth.tokensFile"),
        (format!("auth:\n  tokensFile: {}\n", fifo.display()), "auth.tokensFile"),
        (
            "auth:\n  tokens:\n    - token: bbbbbbbbbbbbbbbbbbbbbbbbbbbb\n      subject: a\n    - token: bbbbbbbbbbbbbbbbbbbbbbbbbbbb\n      subject: b\n".to_string(),
            "auth.tokens",
        ),
    ];
    for (yaml, key) in cases {
        let e = refused(&yaml, &d);
        assert!(e.contains("stagedoor.yaml"), "{key}: {e}");
        assert!(e.contains(key), "{key}: {e}");
        assert!(
            !e.contains("aaaaaaaa") && !e.contains("bbbbbbbb"),
            "{key}: {e}"
        );
    }
    let _ = std::fs::remove_dir_all(d);
}

#[test]
fn a_yaml_error_in_a_tokens_file_shows_no_token() {
    let d = dir("yaml");
    let tokens = d.join("tokens.yaml");
    let secret = "zzzz-secret-token-value-zzzz";
    std::fs::write(
        &tokens,
        format!("- token: \"{secret}\n  subject: a\n   bad: [\n"),
    )
    .unwrap();
    let e = refused(&format!("auth:\n  tokensFile: {}\n", tokens.display()), &d);
    assert!(e.contains("auth.tokensFile") && e.contains("line "), "{e}");
    assert!(!e.contains(secret), "{e}");
    let _ = std::fs::remove_dir_all(d);
}

#[test]
fn a_yaml_error_in_the_config_shows_no_source_line() {
    let d = dir("cfg-yaml");
    let secret = "yyyy-backstage-token-yyyy";
    let e = refused(
        &format!("backstage:\n  token: \"{secret}\n  baseUrl: [\n"),
        &d,
    );
    assert!(e.contains("stagedoor.yaml") && e.contains("line "), "{e}");
    assert!(!e.contains(secret), "{e}");
    let _ = std::fs::remove_dir_all(d);
}
