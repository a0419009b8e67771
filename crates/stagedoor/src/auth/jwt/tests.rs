//! JWT verification with a test-only key pair (generated for these tests, never used elsewhere).

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::json;

use super::*;

const TEST_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgxcBAbSpG/Njn6ASv
cdEG5i8U9kTHNf2Qf7BiuIFqtc6hRANCAASvYk9N+EE+s8PqYO0L+mfqR/RGMMm4
LiBeulyZaqbcuF5b8oc/eEf9+1xRLaI10FG0yiVP4aylyXnMdoALKjcw
-----END PRIVATE KEY-----
";
const OTHER_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg9qRY2E53bB3xa4dv
EEJsVLzRrf+hhOqSkI0ALMytBPmhRANCAAT68b/ZLVTn11pTUWWIzTHMVLKG+WJ3
Sg2MMooRN6TGRAkxfGIr9KR3agf3SekZZ/aSy4/fWMz1K0YwHwpqJvm6
-----END PRIVATE KEY-----
";
const ISSUER: &str = "http://127.0.0.1:7007/api/auth";

fn verifier() -> Arc<JwtVerifier> {
    let keys: JwkSet = serde_json::from_value(json!({"keys": [{
        "kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256",
        "x": "r2JPTfhBPrPD6mDtC_pn6kf0RjDJuC4gXrpcmWqm3Lg",
        "y": "Xlvyhz94R_37XFEtojXQUbTKJU_hrKXJecx2gAsqNzA"
    }]}))
    .unwrap();
    JwtVerifier::with_keys(ISSUER.into(), keys)
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn sign(key: &str, kid: &str, typ: &str, claims: serde_json::Value) -> String {
    let mut h = Header::new(Algorithm::ES256);
    h.kid = Some(kid.into());
    h.typ = Some(typ.into());
    encode(
        &h,
        &claims,
        &EncodingKey::from_ec_pem(key.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn claims(iss: &str, exp: u64) -> serde_json::Value {
    json!({"iss": iss, "sub": "user:default/guest", "aud": "backstage", "iat": now(), "exp": exp})
}

#[tokio::test]
async fn a_valid_user_token_is_accepted() {
    let t = sign(TEST_KEY, "k1", USER_TOKEN_TYPE, claims(ISSUER, now() + 600));
    let c = verifier().verify(&t).await.unwrap();
    assert_eq!(c.sub, "user:default/guest");
}

#[tokio::test]
async fn expired_tampered_foreign_and_wrong_type_are_refused() {
    let v = verifier();
    let expired = sign(
        TEST_KEY,
        "k1",
        USER_TOKEN_TYPE,
        claims(ISSUER, now() - 3600),
    );
    assert_eq!(
        v.verify(&expired).await.unwrap_err(),
        JwtError::Invalid("expired".into())
    );

    let good = sign(TEST_KEY, "k1", USER_TOKEN_TYPE, claims(ISSUER, now() + 600));
    let mut parts: Vec<String> = good.split('.').map(str::to_string).collect();
    let evil = claims(ISSUER, now() + 600)
        .to_string()
        .replace("guest", "admin");
    parts[1] = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, evil);
    let tampered = parts.join(".");
    assert!(matches!(
        v.verify(&tampered).await,
        Err(JwtError::Invalid(_))
    ));

    let foreign_issuer = sign(
        TEST_KEY,
        "k1",
        USER_TOKEN_TYPE,
        claims("https://evil.example/api/auth", now() + 600),
    );
    assert_eq!(
        v.verify(&foreign_issuer).await.unwrap_err(),
        JwtError::Invalid("issued by another issuer".into())
    );

    let other_key = sign(
        OTHER_KEY,
        "k1",
        USER_TOKEN_TYPE,
        claims(ISSUER, now() + 600),
    );
    assert_eq!(
        v.verify(&other_key).await.unwrap_err(),
        JwtError::Invalid("bad signature".into())
    );

    let unknown_kid = sign(
        OTHER_KEY,
        "k2",
        USER_TOKEN_TYPE,
        claims(ISSUER, now() + 600),
    );
    assert_eq!(
        v.verify(&unknown_kid).await.unwrap_err(),
        JwtError::UnknownKey
    );

    let plugin = sign(
        TEST_KEY,
        "k1",
        "vnd.backstage.plugin",
        claims(ISSUER, now() + 600),
    );
    assert!(matches!(
        v.verify(&plugin).await,
        Err(JwtError::WrongType(_))
    ));

    assert_eq!(
        v.verify("not-a-jwt").await.unwrap_err(),
        JwtError::Malformed
    );
}

#[tokio::test]
async fn a_token_minted_for_another_audience_is_refused() {
    let v = verifier();
    let with_aud = |aud: serde_json::Value| {
        let mut c = claims(ISSUER, now() + 600);
        c["aud"] = aud;
        sign(TEST_KEY, "k1", USER_TOKEN_TYPE, c)
    };
    for aud in [
        json!("https://other.example/mcp"),
        json!(["https://127.0.0.1:9999/mcp"]),
        json!("backstage-other"),
    ] {
        assert_eq!(
            v.verify(&with_aud(aud.clone())).await.unwrap_err(),
            JwtError::Invalid("minted for another audience (not `backstage`)".into()),
            "aud {aud}"
        );
    }
    let mut no_aud = claims(ISSUER, now() + 600);
    no_aud.as_object_mut().unwrap().remove("aud");
    assert_eq!(
        v.verify(&sign(TEST_KEY, "k1", USER_TOKEN_TYPE, no_aud))
            .await
            .unwrap_err(),
        JwtError::Invalid("no `aud` claim".into())
    );
    // Among several audiences, Backstage's own is enough.
    let both = with_aud(json!(["https://other.example/mcp", "backstage"]));
    assert_eq!(v.verify(&both).await.unwrap().sub, "user:default/guest");
}
