//! API tokens: `idf_` and 43 characters of base64url (256 random bits),
//! shown once when made and kept only as their SHA-256.
//!
//! A presented token is hashed and compared with every kept hash in
//! constant time (no early exit, so timing tells nothing about how close a
//! guess came). The kept hashes are read again at most once a second, so
//! a token revoked by another process (`idflow token revoke`) stops
//! working within a second.
//!
//! Every `/api/v1` route goes through [`require_token`]; a token comes as
//! `Authorization: Bearer TOKEN`, or from the run viewer's session cookie,
//! which unsafe methods accept only from the same origin (no cross-site
//! request forgery).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine as _;
use idflow_engine::run::StoreError;
use idflow_store::{ApiStore, TokenRecord};
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use time::OffsetDateTime;

use crate::ServerState;
use crate::error::ApiError;

/// The prefix of every token (recognisable in a leaked config, for
/// secret scanners).
pub const TOKEN_PREFIX: &str = "idf_";

/// The cookie of a run viewer session (it holds the token).
pub const SESSION_COOKIE: &str = "idflow_session";

/// How long kept hashes are trusted before they are read again.
const REFRESH: Duration = Duration::from_secs(1);

/// Why a token could not be made or revoked.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The name is not usable.
    #[error(
        "`{0}` is not a usable token name: use 1 to 64 letters, digits, `.`, `_` or `-` (for example `signup-service`)"
    )]
    InvalidName(String),
    /// A token of that name exists.
    #[error(
        "a token named `{0}` exists already; revoke it first (`idflow token revoke {0}`) or choose another name"
    )]
    NameTaken(String),
    /// No token of that name.
    #[error("there is no token named `{0}` (`idflow token list` shows them)")]
    Unknown(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The SHA-256 of a token, in hex: what is kept.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Makes a token named `name`, keeps its hash, and returns it (the only
/// time it is seen).
pub async fn create(store: &dyn ApiStore, name: &str) -> Result<String, TokenError> {
    let usable = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-'));
    if !usable {
        return Err(TokenError::InvalidName(name.to_owned()));
    }
    let mut secret = [0_u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let token = format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
    );
    if store
        .create_token(name, &hash(&token), OffsetDateTime::now_utc())
        .await?
    {
        Ok(token)
    } else {
        Err(TokenError::NameTaken(name.to_owned()))
    }
}

/// Revokes the token `name`.
pub async fn revoke(store: &dyn ApiStore, name: &str) -> Result<(), TokenError> {
    if store.revoke_token(name).await? {
        Ok(())
    } else {
        Err(TokenError::Unknown(name.to_owned()))
    }
}

/// Every token (names and dates; never the tokens).
pub async fn list(store: &dyn ApiStore) -> Result<Vec<TokenRecord>, TokenError> {
    Ok(store.tokens().await?)
}

/// Token names with the SHA-256 of each token.
type KeptHashes = Arc<Vec<(String, [u8; 32])>>;

/// Checks presented tokens against the kept hashes.
pub struct Tokens {
    store: Arc<dyn ApiStore>,
    refresh: Duration,
    kept: Mutex<Option<(Instant, KeptHashes)>>,
    /// The minute each token's use was last noted.
    noted: Mutex<HashMap<String, i64>>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens").finish_non_exhaustive()
    }
}

impl Tokens {
    /// Checks against the tokens kept in `store`, read again at most
    /// once a second.
    pub fn new(store: Arc<dyn ApiStore>) -> Self {
        Self::refreshed_every(store, REFRESH)
    }

    /// Checks against the tokens kept in `store`, read again when they
    /// are older than `refresh`.
    pub fn refreshed_every(store: Arc<dyn ApiStore>, refresh: Duration) -> Self {
        Self {
            store,
            refresh,
            kept: Mutex::new(None),
            noted: Mutex::new(HashMap::new()),
        }
    }

    /// The name of the token `presented` is, if it is one.
    pub async fn check(&self, presented: &str) -> Result<Option<String>, StoreError> {
        let kept = self.kept().await?;
        let presented: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = None;
        for (name, hash) in kept.iter() {
            if bool::from(hash.ct_eq(&presented)) {
                found = Some(name.clone());
            }
        }
        if let Some(name) = &found {
            self.note_use(name).await;
        }
        Ok(found)
    }

    async fn kept(&self) -> Result<KeptHashes, StoreError> {
        if let Some((read_at, kept)) = lock(&self.kept).as_ref()
            && read_at.elapsed() < self.refresh
        {
            return Ok(Arc::clone(kept));
        }
        let kept: Vec<(String, [u8; 32])> = self
            .store
            .token_hashes()
            .await?
            .into_iter()
            .filter_map(|(name, hash)| {
                let bytes: [u8; 32] = hex::decode(hash).ok()?.try_into().ok()?;
                Some((name, bytes))
            })
            .collect();
        let kept = Arc::new(kept);
        *lock(&self.kept) = Some((Instant::now(), Arc::clone(&kept)));
        Ok(kept)
    }

    /// Notes a token's use, at most once a minute (a failure to note it
    /// is logged, not fatal).
    async fn note_use(&self, name: &str) {
        let now = OffsetDateTime::now_utc();
        let minute = now.unix_timestamp() / 60;
        {
            let mut noted = lock(&self.noted);
            if noted.get(name) == Some(&minute) {
                return;
            }
            noted.insert(name.to_owned(), minute);
        }
        if let Err(error) = self.store.note_token_use(name, now).await {
            tracing::warn!(%error, token = name, "the token's use could not be noted");
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Where a request's token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Presented {
    Bearer,
    Cookie,
}

/// The token a request presents: the bearer token, else the session
/// cookie.
fn presented(headers: &HeaderMap) -> Option<(&str, Presented)> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| (token.trim(), Presented::Bearer));
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == SESSION_COOKIE).then_some((value, Presented::Cookie))
        })
}

/// Whether a request comes from a page of this same origin (browsers send
/// `Sec-Fetch-Site`, or at least `Origin`, with unsafe requests).
pub(crate) fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return site.as_bytes() == b"same-origin";
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    origin
        .split_once("://")
        .is_some_and(|(_, authority)| authority == host)
}

/// The name of the token that authenticated a request (an extension set
/// by [`require_token`]).
#[derive(Debug, Clone)]
pub struct Caller(pub String);

/// Refuses, with 401, a request without a valid token; lets the others
/// through with their [`Caller`].
pub async fn require_token(
    State(state): State<ServerState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let caller = authenticate(&state, request.method(), request.headers()).await?;
    request.extensions_mut().insert(caller);
    Ok(next.run(request).await)
}

/// Who a request comes from: its bearer token, or its session cookie
/// (for an unsafe method only from a page of this origin). 401 without a
/// valid token, 403 for a cross-site write with the cookie.
pub(crate) async fn authenticate(
    state: &ServerState,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Caller, ApiError> {
    let Some((token, how)) = presented(headers) else {
        return Err(ApiError::unauthorized());
    };
    if how == Presented::Cookie && is_unsafe(method) && !same_origin(headers) {
        return Err(cross_site());
    }
    let Some(name) = state
        .tokens()
        .check(token)
        .await
        .map_err(|error| ApiError::unavailable(&error))?
    else {
        return Err(ApiError::unauthorized());
    };
    Ok(Caller(name))
}

/// Whether a method may change something (so needs CSRF protection).
pub(crate) fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// 403 for a write with the session cookie from another site.
pub(crate) fn cross_site() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::FORBIDDEN,
        "cross_site_request",
        "a session cookie is accepted for this only from the run viewer's own pages; send `Authorization: Bearer TOKEN`",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_token_wins_over_the_cookie() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "a=b; idflow_session=fromcookie".parse().unwrap(),
        );
        assert_eq!(presented(&headers), Some(("fromcookie", Presented::Cookie)));
        headers.insert(
            header::AUTHORIZATION,
            "bearer  frombearer ".parse().unwrap(),
        );
        assert_eq!(presented(&headers), Some(("frombearer", Presented::Bearer)));
        headers.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(presented(&headers), None, "another scheme is no token");
    }

    #[test]
    fn same_origin_needs_the_browser_to_say_so() {
        let mut headers = HeaderMap::new();
        assert!(!same_origin(&headers));
        headers.insert(header::HOST, "127.0.0.1:8080".parse().unwrap());
        headers.insert(header::ORIGIN, "http://127.0.0.1:8080".parse().unwrap());
        assert!(same_origin(&headers));
        headers.insert(header::ORIGIN, "http://evil.example".parse().unwrap());
        assert!(!same_origin(&headers));
        headers.insert("sec-fetch-site", "cross-site".parse().unwrap());
        assert!(!same_origin(&headers));
        headers.insert("sec-fetch-site", "same-origin".parse().unwrap());
        assert!(same_origin(&headers));
    }

    #[tokio::test]
    async fn a_revoked_token_is_refused_once_the_kept_hashes_are_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(
            idflow_store::SqliteStore::open(dir.path(), idflow_store::Durability::Normal)
                .await
                .unwrap(),
        );
        let token = create(&*store, "ops").await.unwrap();
        let tokens =
            Tokens::refreshed_every(Arc::clone(&store) as Arc<dyn ApiStore>, Duration::ZERO);
        assert_eq!(tokens.check(&token).await.unwrap().as_deref(), Some("ops"));
        assert_eq!(tokens.check("idf_guess").await.unwrap(), None);
        assert!(matches!(
            create(&*store, "ops").await,
            Err(TokenError::NameTaken(_))
        ));
        assert!(matches!(
            create(&*store, "a b").await,
            Err(TokenError::InvalidName(_))
        ));
        revoke(&*store, "ops").await.unwrap();
        assert!(matches!(
            revoke(&*store, "ops").await,
            Err(TokenError::Unknown(_))
        ));
        assert_eq!(tokens.check(&token).await.unwrap(), None);
        let listed = list(&*store).await.unwrap();
        assert!(listed.is_empty(), "{listed:?}");
    }

    #[test]
    fn tokens_hash_to_sha256_hex() {
        assert_eq!(
            hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
