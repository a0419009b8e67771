use std::collections::BTreeMap;

use serde_json::json;

use super::*;

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn substitutes_variables_and_defaults() {
    let e = env(&[("A", "alpha"), ("EMPTY", "")]);
    assert_eq!(substitute_str("x${A}y", &e).unwrap(), "xalphay");
    assert_eq!(substitute_str("${B:-beta}", &e).unwrap(), "beta");
    assert_eq!(substitute_str("${EMPTY:-dflt}", &e).unwrap(), "dflt");
    assert_eq!(substitute_str("$${A} $5", &e).unwrap(), "${A} $5");
    let err = substitute_str("${MISSING}", &e).unwrap_err();
    assert!(err.contains("MISSING"), "{err}");
    assert!(
        substitute_str("${A", &e)
            .unwrap_err()
            .contains("unterminated")
    );
    assert!(
        substitute_str("${a-b}", &e)
            .unwrap_err()
            .contains("not a valid")
    );
}

#[test]
fn unknown_key_names_file_key_and_suggestion() {
    let err = parse_yaml("a.yaml", "backstage:\n  baseURL: http://x\n", &env(&[])).unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("a.yaml: backstage.baseURL:"), "{text}");
    assert!(text.contains("did you mean `baseUrl`"), "{text}");
}

#[test]
fn wrong_type_names_the_key() {
    let err = parse_yaml("b.yaml", "backstage:\n  retries: lots\n", &env(&[])).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("b.yaml"), "{text}");
    assert!(text.contains("backstage.retries"), "{text}");
}

#[test]
fn missing_variable_names_the_key() {
    let err = parse_yaml("c.yaml", "backstage:\n  token: ${NOPE}\n", &env(&[])).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("c.yaml: backstage.token"), "{text}");
    assert!(text.contains("NOPE"), "{text}");
}

#[test]
fn non_mapping_top_level_is_rejected() {
    let err = parse_yaml("d.yaml", "- a\n- b\n", &env(&[])).unwrap_err();
    assert!(err.to_string().contains("mapping"));
    assert!(parse_yaml("e.yaml", "", &env(&[])).is_ok());
    assert!(parse_yaml("f.yaml", "key: [unclosed", &env(&[])).is_err());
}

#[test]
fn later_layers_win_and_maps_merge() {
    let mut lower =
        json!({"backstage": {"baseUrl": "http://a", "token": "t"}, "server": {"listen": "x"}});
    merge(
        &mut lower,
        json!({"backstage": {"baseUrl": "http://b"}, "cache": {"ttl": "0s"}}),
    );
    assert_eq!(
        lower,
        json!({"backstage": {"baseUrl": "http://b", "token": "t"}, "server": {"listen": "x"}, "cache": {"ttl": "0s"}})
    );
}

#[test]
fn node_server_environment_is_honoured() {
    let e = env(&[
        ("BACKSTAGE_BASE_URL", "http://bs:7007"),
        ("BACKSTAGE_TOKEN", "tok"),
        ("MCP_TRANSPORT", "http"),
        ("PORT", "3000"),
        ("CACHE_TTL_SECONDS", "0"),
        ("REQUEST_TIMEOUT_MS", "2500"),
    ]);
    let layer = env_layer(&e).unwrap();
    assert_eq!(
        layer.value,
        json!({
            "backstage": {"baseUrl": "http://bs:7007", "token": "tok", "timeout": "2500ms"},
            "server": {"transport": "http", "listen": "127.0.0.1:3000"},
            "cache": {"ttl": "0s"}
        })
    );
    let bad = env_layer(&env(&[("REQUEST_TIMEOUT_MS", "soon")])).unwrap_err();
    assert!(bad.to_string().contains("REQUEST_TIMEOUT_MS"));
    let v6 = env_layer(&env(&[("HOST", "::1")])).unwrap();
    assert_eq!(v6.value["server"]["listen"], json!("[::1]:7008"));
}

#[test]
fn did_you_mean_only_for_close_names() {
    assert_eq!(did_you_mean("tokn", &["token", "timeout"]), Some("token"));
    assert_eq!(did_you_mean("zzz", &["token", "timeout"]), None);
}
