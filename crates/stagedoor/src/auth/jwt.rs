//! Verifies Backstage user tokens locally against Backstage's JWKS: signature, issuer,
//! expiry and token type, with the key set cached and refetched on an unknown key id.

use std::sync::Arc;
use std::time::{Duration, Instant};

use backstage_client::BackstageClient;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;
use tokio::sync::RwLock;

/// The JWT `typ` of Backstage user tokens.
pub const USER_TOKEN_TYPE: &str = "vnd.backstage.user";
/// Where Backstage's auth backend publishes its keys, relative to the base URL.
pub const JWKS_PATH: &str = "/api/auth/.well-known/jwks.json";
/// The audience of Backstage user tokens: Backstage itself, where stagedoor forwards them.
pub const BACKSTAGE_AUDIENCE: &str = "backstage";
/// Refetch the key set at most this often when an unknown key id shows up.
pub const MIN_REFRESH: Duration = Duration::from_secs(10);
/// Clock skew tolerated on `exp`.
pub const LEEWAY_SECS: u64 = 30;

/// The claims stagedoor uses.
#[derive(Debug, Clone, Deserialize)]
pub struct Claims {
    /// The user entity ref, e.g. `user:default/guest`.
    pub sub: String,
    /// Expiry (seconds since the epoch).
    pub exp: u64,
    /// Issuer.
    pub iss: String,
}

/// Why a token was refused (never includes the token).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Not a JWT at all.
    #[error("not a JWT")]
    Malformed,
    /// Not a Backstage user token.
    #[error("token type `{0}` is not a Backstage user token")]
    WrongType(String),
    /// No key with that id, even after refetching the key set.
    #[error("signed with an unknown key")]
    UnknownKey,
    /// Signature, issuer, expiry or audience check failed.
    #[error("{0}")]
    Invalid(String),
    /// The key set could not be fetched.
    #[error("cannot fetch Backstage's signing keys: {0}")]
    Jwks(String),
}

/// Key source: Backstage over HTTP, or a fixed set (tests).
enum Source {
    Backstage(BackstageClient),
    Fixed,
}

/// A verifier for one issuer.
pub struct JwtVerifier {
    issuer: String,
    source: Source,
    keys: RwLock<(Option<Instant>, JwkSet)>,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// A verifier fetching keys from the Backstage `client` points at (no credentials sent).
    pub fn new(issuer: String, client: &BackstageClient) -> Arc<Self> {
        Arc::new(Self {
            issuer,
            source: Source::Backstage(client.with_token(None)),
            keys: RwLock::new((None, JwkSet { keys: Vec::new() })),
        })
    }

    /// A verifier with a fixed key set (for tests).
    pub fn with_keys(issuer: String, keys: JwkSet) -> Arc<Self> {
        Arc::new(Self {
            issuer,
            source: Source::Fixed,
            keys: RwLock::new((Some(Instant::now()), keys)),
        })
    }

    /// The issuer accepted.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    async fn refresh(&self) -> Result<(), JwtError> {
        let Source::Backstage(client) = &self.source else {
            return Ok(());
        };
        {
            let keys = self.keys.read().await;
            if keys.0.is_some_and(|at| at.elapsed() < MIN_REFRESH) {
                return Ok(());
            }
        }
        let value = client
            .get_json(JWKS_PATH, &[])
            .await
            .map_err(|e| JwtError::Jwks(e.to_string()))?;
        let set: JwkSet =
            serde_json::from_value(value).map_err(|e| JwtError::Jwks(e.to_string()))?;
        tracing::debug!(keys = set.keys.len(), "Backstage signing keys fetched");
        *self.keys.write().await = (Some(Instant::now()), set);
        Ok(())
    }

    /// Verifies `token`; returns its claims.
    pub async fn verify(&self, token: &str) -> Result<Claims, JwtError> {
        let header = decode_header(token).map_err(|_| JwtError::Malformed)?;
        match header.typ.as_deref() {
            Some(USER_TOKEN_TYPE) => {}
            other => return Err(JwtError::WrongType(other.unwrap_or("none").to_string())),
        }
        let kid = header.kid.clone().ok_or(JwtError::UnknownKey)?;
        let mut jwk = self.keys.read().await.1.find(&kid).cloned();
        if jwk.is_none() {
            self.refresh().await?;
            jwk = self.keys.read().await.1.find(&kid).cloned();
        }
        let jwk = jwk.ok_or(JwtError::UnknownKey)?;
        let key = DecodingKey::from_jwk(&jwk).map_err(|e| JwtError::Invalid(e.to_string()))?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[self.issuer.as_str()]);
        // Backstage mints user tokens for itself (`aud: backstage`) and stagedoor forwards
        // them to that same Backstage, so that is the one audience accepted: a token minted
        // for any other resource (or with no audience) is refused.
        validation.set_audience(&[BACKSTAGE_AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
        validation.leeway = LEEWAY_SECS;
        let data = decode::<Claims>(token, &key, &validation).map_err(|e| {
            JwtError::Invalid(match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => "expired".to_string(),
                jsonwebtoken::errors::ErrorKind::InvalidIssuer => {
                    "issued by another issuer".to_string()
                }
                jsonwebtoken::errors::ErrorKind::InvalidSignature => "bad signature".to_string(),
                jsonwebtoken::errors::ErrorKind::InvalidAudience => {
                    format!("minted for another audience (not `{BACKSTAGE_AUDIENCE}`)")
                }
                jsonwebtoken::errors::ErrorKind::MissingRequiredClaim(claim) => {
                    format!("no `{claim}` claim")
                }
                other => format!("{other:?}"),
            })
        })?;
        Ok(data.claims)
    }
}

#[cfg(test)]
mod tests;
