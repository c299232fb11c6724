//! Signing in and out of the viewer. `GET /ui/login` shows a form asking
//! for an API token; `POST /ui/login` checks it with the server's
//! [`Tokens`](crate::Tokens) and keeps it in the `idflow_session` cookie
//! (HttpOnly, SameSite=Strict, Path=/, Secure behind https), which the
//! pages then use for the API; `POST /ui/logout` clears it.
//!
//! Both posts are accepted only from this origin's own pages (the
//! browser's `Sec-Fetch-Site` or `Origin`), so another site can neither
//! sign a visitor in with its own token nor out.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::pages;
use super::{LOGIN_PATH, UI_PREFIX};
use crate::ServerState;
use crate::error::ApiError;
use crate::tokens::{SESSION_COOKIE, cross_site, same_origin};

/// Where to go after signing in.
#[derive(Debug, Deserialize)]
pub(super) struct Next {
    next: Option<String>,
}

/// What the sign-in form sends.
#[derive(Debug, Deserialize)]
pub(super) struct SignIn {
    token: String,
    next: Option<String>,
}

/// Whether `path` is a page of the viewer (so safe to send a browser to:
/// never another site).
pub(super) fn is_viewer_path(path: &str) -> bool {
    let rest = path.strip_prefix(UI_PREFIX);
    rest.is_some_and(|rest| rest.is_empty() || rest.starts_with('/') || rest.starts_with('?'))
        && !path.contains("//")
        && !path.contains('\\')
        && path.bytes().all(|byte| byte.is_ascii_graphic())
}

/// `GET /ui/login`: the form.
pub(super) async fn login_form(
    query: Result<Query<Next>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let next = query.ok().and_then(|Query(query)| query.next);
    pages::login_page(StatusCode::OK, None, next.as_deref())
}

/// `POST /ui/login`: a good token sets the session and goes on to the
/// viewer; a bad one shows the form again with 401.
pub(super) async fn login(
    State(state): State<ServerState>,
    headers: HeaderMap,
    form: Result<Form<SignIn>, axum::extract::rejection::FormRejection>,
) -> Response {
    if !same_origin(&headers) {
        return cross_site().into_response();
    }
    let Ok(Form(form)) = form else {
        return pages::login_page(StatusCode::BAD_REQUEST, Some("Enter an API token."), None);
    };
    let token = form.token.trim();
    let next = form.next.as_deref();
    let checked = if token.is_empty() {
        Ok(None)
    } else {
        state.tokens().check(token).await
    };
    let cookie = match checked {
        Ok(Some(name)) => match session_cookie(token, is_https(&headers)) {
            Some(cookie) => {
                tracing::info!(token = name, "signed in to the run viewer");
                cookie
            }
            None => return refused(next),
        },
        Ok(None) => return refused(next),
        Err(error) => return ApiError::unavailable(&error).into_response(),
    };
    let target = next
        .filter(|next| is_viewer_path(next))
        .unwrap_or(UI_PREFIX);
    let mut response = Redirect::to(target).into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    response
}

fn refused(next: Option<&str>) -> Response {
    pages::login_page(
        StatusCode::UNAUTHORIZED,
        Some(
            "That token is not valid. Check it, or make a new one with `idflow token create NAME`.",
        ),
        next,
    )
}

/// `POST /ui/logout`: clears the session and shows the sign-in page.
pub(super) async fn logout(headers: HeaderMap) -> Response {
    let mut response = Redirect::to(LOGIN_PATH).into_response();
    let cookie = format!(
        "{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{}",
        if is_https(&headers) { "; Secure" } else { "" }
    );
    if let Ok(cookie) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

/// The session cookie holding `token` (none if the token cannot be a
/// cookie value, which no real token is).
fn session_cookie(token: &str, secure: bool) -> Option<HeaderValue> {
    let cookie_safe = token
        .bytes()
        .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-'));
    if !cookie_safe {
        return None;
    }
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/{secure}"
    ))
    .ok()
}

/// Whether the browser reached us over https (through a proxy that says
/// so in `X-Forwarded-Proto`).
fn is_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(',').next())
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_viewer_paths_are_places_to_go_back_to() {
        for good in ["/ui", "/ui/runs/0190-a", "/ui?status=failed"] {
            assert!(is_viewer_path(good), "{good}");
        }
        for bad in [
            "/uix",
            "//evil.example",
            "/ui//evil.example",
            "https://evil.example/ui",
            "/ui/\\evil",
            "/ui/a b",
            "/api/v1/runs",
        ] {
            assert!(!is_viewer_path(bad), "{bad}");
        }
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_behind_https() {
        let cookie = session_cookie("idf_abc-_9", false).unwrap();
        assert_eq!(
            cookie,
            "idflow_session=idf_abc-_9; HttpOnly; SameSite=Strict; Path=/"
        );
        let cookie = session_cookie("idf_abc", true).unwrap();
        assert!(cookie.to_str().unwrap().ends_with("; Secure"));
        assert!(session_cookie("a;b", false).is_none());
        let mut headers = HeaderMap::new();
        assert!(!is_https(&headers));
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https, http"));
        assert!(is_https(&headers));
    }
}
