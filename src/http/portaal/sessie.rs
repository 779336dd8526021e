//! The Leveranciersportaal's sign-in: sessions kept in the store, their cookie, and the CSRF
//! tokens of its forms.
//!
//! A session's cookie holds a token of 256 random bits; the store keeps only its SHA-256
//! ([`Portaal::put_sessie`]), so a copy of the store opens no session. A form's CSRF token is
//! derived from the same token (`SHA-256(purpose ++ 0 ++ token)`): only a page that was served
//! with the cookie can carry it, and nothing more is stored. Before signing in, the sign-in form
//! gets a token of its own from a short-lived cookie (`portaal_aanmelden`), so a sign-in cannot
//! be forged from another site either (a "login CSRF").
//!
//! A session ends after `portaal.inactief_minuten` without a request, at the latest
//! `portaal.max_uren` after it began, at sign-out, when its API key is revoked, when its
//! afnemer is made inactive, or when API keys are switched off (`tls.api_keys = false`) for a
//! session begun with a key. A verified client certificate decides over any cookie: its OIN is
//! the afnemer, and a session is made for it on its first page.

use std::sync::Arc;

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use berichtenbox_actors::store::{Aanmelding, AfnemerRecord, Portaal, SessieRecord};
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

use super::PAD;
use crate::http::AppState;
use crate::http::problem::ApiError;

/// The session cookie.
pub const SESSIE_COOKIE: &str = "portaal_sessie";
/// The sign-in form's cookie (its CSRF token's source).
pub const AANMELD_COOKIE: &str = "portaal_aanmelden";

/// A session's use moves its end on only when at least this much of its inactivity period has
/// passed since the last move: one store write a minute at most, not one a request.
const TOUCH_AFTER: jiff::SignedDuration = jiff::SignedDuration::from_secs(60);

/// A cookie's token: 32 random bytes, base64url without padding (43 characters).
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(…)")
    }
}

impl Token {
    pub fn random() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// A token as a cookie carries it; `None` for anything else (so a forged value is never
    /// looked up in any form but a hash).
    pub fn parse(text: &str) -> Option<Self> {
        let decoded = URL_SAFE_NO_PAD.decode(text).ok()?;
        (decoded.len() == 32).then(|| Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What the store keys the session by.
    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.0.as_bytes()).into()
    }

    /// The CSRF token of the forms for `purpose`, derived from this token.
    pub fn csrf(&self, purpose: &str) -> String {
        let mut digest = Sha256::new();
        digest.update(purpose.as_bytes());
        digest.update([0]);
        digest.update(self.0.as_bytes());
        URL_SAFE_NO_PAD.encode(digest.finalize())
    }

    /// Whether `given` is this token's CSRF token for `purpose`. Compared as digests, so the
    /// comparison's timing says nothing about the expected value.
    pub fn csrf_matches(&self, purpose: &str, given: &str) -> bool {
        let expected: [u8; 32] = Sha256::digest(self.csrf(purpose).as_bytes()).into();
        let given: [u8; 32] = Sha256::digest(given.as_bytes()).into();
        expected == given
    }
}

/// The purposes of CSRF tokens: the sign-in form (before a session), and every form of a
/// session (sign-out).
pub const CSRF_AANMELDEN: &str = "aanmelden";
pub const CSRF_SESSIE: &str = "sessie";

/// A signed-in afnemer: its record, the session and its token, and the cookie to send when the
/// session is new (a client certificate's first page).
#[derive(Debug, Clone)]
pub struct Aangemeld {
    pub afnemer: AfnemerRecord,
    pub token: Token,
    pub sessie: SessieRecord,
    pub nieuw_cookie: Option<Cookie<'static>>,
}

/// Why no one is signed in, for the sign-in page to say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Afgemeld {
    /// No session cookie, or one the store does not know (forged, or signed out).
    Geen,
    /// The session's time is up.
    Verlopen,
    /// The session's key was revoked, its afnemer made inactive or removed, or keys switched off.
    Ingetrokken,
}

/// A cookie of the portal: `HttpOnly`, `SameSite=Strict`, its path the portal's, `Secure`
/// under TLS.
pub fn cookie(name: &'static str, value: String, state: &AppState) -> Cookie<'static> {
    Cookie::build(name, value)
        .path(PAD)
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.config.tls.enabled())
        .finish()
}

/// A cookie that removes `name` from the browser.
pub fn removal(name: &'static str, state: &AppState) -> Cookie<'static> {
    let mut cookie = cookie(name, String::new(), state);
    cookie.make_removal();
    cookie
}

fn token_of(request: &HttpRequest, name: &str) -> Option<Token> {
    request
        .cookie(name)
        .and_then(|cookie| Token::parse(cookie.value()))
}

/// The sign-in form's token: the one its cookie carries, or a new one (with the cookie to set).
pub fn aanmeld_token(request: &HttpRequest) -> (Token, bool) {
    match token_of(request, AANMELD_COOKIE) {
        Some(token) => (token, false),
        None => (Token::random(), true),
    }
}

/// The sign-in form's token as its cookie carries it, if any.
pub fn bestaand_aanmeld_token(request: &HttpRequest) -> Option<Token> {
    token_of(request, AANMELD_COOKIE)
}

/// Who is signed in on this request, or why no one is. Store reads and writes run on the
/// blocking pool. A verified client certificate decides (a session is made for its afnemer
/// when the cookie holds none of it); else the session cookie.
pub async fn aangemeld(
    request: &HttpRequest,
    state: &AppState,
) -> Result<Result<Aangemeld, Afgemeld>, ApiError> {
    let now = state.clock.now();
    let store: Arc<dyn Portaal> = state.store.clone();
    let from_cookie = token_of(request, SESSIE_COOKIE);
    if request
        .conn_data::<crate::tls::ClientCertificate>()
        .is_some()
    {
        // The certificate's OIN decides, as on the API: 401/403 when it is no active afnemer.
        let afnemer = crate::http::auth::afnemer(request, state)?;
        if let Some(token) = from_cookie {
            let hash = token.hash();
            let lookup = store.clone();
            let sessie = actix_web::web::block(move || lookup.sessie(&hash)).await??;
            if let Some(sessie) = sessie.filter(|s| s.oin == afnemer.oin && s.verloopt_op > now) {
                let sessie = touch(store, &token, sessie, state).await?;
                return Ok(Ok(Aangemeld {
                    afnemer,
                    token,
                    sessie,
                    nieuw_cookie: None,
                }));
            }
        }
        let (token, sessie) = begin(afnemer.oin.clone(), Aanmelding::Certificaat, state).await?;
        let nieuw_cookie = Some(cookie(SESSIE_COOKIE, token.as_str().to_owned(), state));
        return Ok(Ok(Aangemeld {
            afnemer,
            token,
            sessie,
            nieuw_cookie,
        }));
    }
    let Some(token) = from_cookie else {
        return Ok(Err(Afgemeld::Geen));
    };
    let hash = token.hash();
    let lookup = store.clone();
    let Some(sessie) = actix_web::web::block(move || lookup.sessie(&hash)).await?? else {
        return Ok(Err(Afgemeld::Geen));
    };
    if sessie.verloopt_op <= now {
        end(store, &token).await?;
        return Ok(Err(Afgemeld::Verlopen));
    }
    let still_valid = match &sessie.aanmelding {
        Aanmelding::Sleutel { id } => {
            state.config.tls.api_keys && state.catalog.has_key(&sessie.oin, id)
        }
        // A session begun with a certificate goes on only over a connection with one.
        Aanmelding::Certificaat => false,
    };
    let afnemer = state
        .catalog
        .afnemer(&sessie.oin)
        .filter(|afnemer| afnemer.actief && still_valid);
    let Some(afnemer) = afnemer else {
        end(store, &token).await?;
        return Ok(Err(Afgemeld::Ingetrokken));
    };
    let sessie = touch(store, &token, sessie, state).await?;
    Ok(Ok(Aangemeld {
        afnemer,
        token,
        sessie,
        nieuw_cookie: None,
    }))
}

/// Begins a session for an afnemer: a new token, stored (synced) by its hash.
pub async fn begin(
    oin: String,
    aanmelding: Aanmelding,
    state: &AppState,
) -> Result<(Token, SessieRecord), ApiError> {
    let now = state.clock.now();
    let token = Token::random();
    let sessie = SessieRecord {
        oin,
        aanmelding,
        aangemaakt_op: now,
        verloopt_op: plus(now, state.config.portaal.inactief()),
    };
    let store: Arc<dyn Portaal> = state.store.clone();
    let hash = token.hash();
    let stored = sessie.clone();
    actix_web::web::block(move || store.put_sessie(&hash, &stored)).await??;
    Ok((token, sessie))
}

/// Ends the session of a token (sign-out, or found expired or revoked).
pub async fn end(store: Arc<dyn Portaal>, token: &Token) -> Result<(), ApiError> {
    let hash = token.hash();
    actix_web::web::block(move || store.delete_sessie(&hash)).await??;
    Ok(())
}

/// Moves a session's end on after a request: to `inactief` from now, never past its longest
/// life; written at most once a [`TOUCH_AFTER`].
async fn touch(
    store: Arc<dyn Portaal>,
    token: &Token,
    sessie: SessieRecord,
    state: &AppState,
) -> Result<SessieRecord, ApiError> {
    let now = state.clock.now();
    let portaal = &state.config.portaal;
    let uiterlijk = plus(sessie.aangemaakt_op, portaal.max());
    let verloopt_op = plus(now, portaal.inactief()).min(uiterlijk);
    if verloopt_op.duration_since(sessie.verloopt_op) < TOUCH_AFTER {
        return Ok(sessie);
    }
    let moved = SessieRecord {
        verloopt_op,
        ..sessie
    };
    let hash = token.hash();
    let stored = moved.clone();
    actix_web::web::block(move || store.put_sessie(&hash, &stored)).await??;
    Ok(moved)
}

/// `at + period`, at the end of time rather than an error.
fn plus(at: jiff::Timestamp, period: jiff::SignedDuration) -> jiff::Timestamp {
    at.checked_add(period).unwrap_or(jiff::Timestamp::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_parse_only_in_their_own_shape() {
        let a = Token::random();
        let b = Token::random();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 43);
        assert_eq!(Token::parse(a.as_str()), Some(a.clone()));
        for forged in [
            "",
            "abc",
            &format!("{}A", a.as_str()),
            "!".repeat(43).as_str(),
        ] {
            assert_eq!(Token::parse(forged), None, "{forged}");
        }
    }

    #[test]
    fn csrf_tokens_belong_to_their_token_and_purpose() {
        let a = Token::random();
        let b = Token::random();
        let csrf = a.csrf(CSRF_SESSIE);
        assert!(a.csrf_matches(CSRF_SESSIE, &csrf));
        assert!(!a.csrf_matches(CSRF_AANMELDEN, &csrf));
        assert!(!b.csrf_matches(CSRF_SESSIE, &csrf));
        assert!(!a.csrf_matches(CSRF_SESSIE, ""));
        assert_ne!(a.hash(), b.hash());
    }
}
