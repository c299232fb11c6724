//! The viewer's pages and assets (`assets/ui/`, embedded with
//! `include_str!`) and the headers they carry: a content security policy
//! that allows this origin only (no inline script anywhere; the sign-in
//! page's one inline stylesheet is allowed by its hash), no framing, no
//! sniffing, no caching of pages.

use std::sync::LazyLock;

use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine as _;
use sha2::{Digest as _, Sha256};

/// The runs page.
pub(super) const RUNS_PAGE: &str = include_str!("../../assets/ui/runs.html");
/// A run's page.
pub(super) const RUN_PAGE: &str = include_str!("../../assets/ui/run.html");
const LOGIN_PAGE: &str = include_str!("../../assets/ui/login.html");
const STYLE: &str = include_str!("../../assets/ui/viewer.css");
const COMMON_SCRIPT: &str = include_str!("../../assets/ui/common.js");
const RUNS_SCRIPT: &str = include_str!("../../assets/ui/runs.js");
const RUN_SCRIPT: &str = include_str!("../../assets/ui/run.js");

/// Scripts, styles and requests from this origin only.
const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// The sign-in page's policy: no script at all; its stylesheet inline
/// (so the page works before there is a session), allowed by its hash.
static LOGIN_POLICY: LazyLock<HeaderValue> = LazyLock::new(|| {
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(STYLE));
    HeaderValue::from_str(&format!(
        "default-src 'none'; style-src 'sha256-{hash}'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"))
});

/// A static asset of the viewer.
#[derive(Debug, Clone, Copy)]
pub(super) enum Asset {
    Style,
    Common,
    RunsScript,
    RunScript,
}

/// Headers every viewer answer carries.
pub(super) fn common_headers(headers: &mut HeaderMap) {
    headers.insert(
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        HeaderName::from_static("referrer-policy"),
        HeaderValue::from_static("same-origin"),
    );
    headers
        .entry(CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(PAGE_POLICY));
}

/// A page of the viewer.
pub(super) fn page(html: &'static str) -> Response {
    let mut response = Html(html).into_response();
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// An asset with its media type (revalidated at each use, so a new
/// server's assets are picked up).
pub(super) fn asset(asset: Asset) -> Response {
    let (body, media_type) = match asset {
        Asset::Style => (STYLE, "text/css; charset=utf-8"),
        Asset::Common => (COMMON_SCRIPT, "text/javascript; charset=utf-8"),
        Asset::RunsScript => (RUNS_SCRIPT, "text/javascript; charset=utf-8"),
        Asset::RunScript => (RUN_SCRIPT, "text/javascript; charset=utf-8"),
    };
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(media_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// 404 for a viewer path that is no page.
pub(super) fn no_such_page() -> Response {
    (
        StatusCode::NOT_FOUND,
        Html(
            "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>Not found · idflow</title>\
             <main><h1>No such page</h1><p><a href=\"/ui\">See all runs</a></p></main></html>",
        ),
    )
        .into_response()
}

/// The sign-in form, with `error` shown above it, coming back to `next`
/// after signing in.
pub(super) fn login_page(status: StatusCode, error: Option<&str>, next: Option<&str>) -> Response {
    let error = error.map_or_else(String::new, |error| {
        format!(
            "<p class=\"notice notice-error\" role=\"alert\" id=\"login-error\">{}</p>",
            escape(error)
        )
    });
    let next = next
        .filter(|next| super::session::is_viewer_path(next))
        .map_or_else(String::new, |next| {
            format!(
                "<input type=\"hidden\" name=\"next\" value=\"{}\">",
                escape(next)
            )
        });
    let html = LOGIN_PAGE
        .replace("{{style}}", STYLE)
        .replace("{{error}}", &error)
        .replace("{{next}}", &next);
    let mut response = (status, Html(html)).into_response();
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(CONTENT_SECURITY_POLICY, LOGIN_POLICY.clone());
    common_headers(headers);
    response
}

/// `text` safe inside HTML text and quoted attributes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sign_in_page_escapes_what_it_shows_and_allows_only_its_own_style() {
        let response = login_page(
            StatusCode::UNAUTHORIZED,
            Some("<b>bad</b>"),
            Some("/ui/runs/x\"y"),
        );
        let policy = response.headers()[CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(policy.contains("style-src 'sha256-"), "{policy}");
        assert!(!policy.contains("script-src"), "{policy}");
        assert!(!policy.contains("unsafe"), "{policy}");
        let html = LOGIN_PAGE
            .replace("{{style}}", STYLE)
            .replace("{{error}}", "")
            .replace("{{next}}", "");
        assert!(!html.contains("{{"), "every placeholder is filled");
        assert_eq!(escape("<b>\"x\"&'"), "&lt;b&gt;&quot;x&quot;&amp;&#39;");
    }
}
