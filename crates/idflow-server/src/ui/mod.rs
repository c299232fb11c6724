//! The run viewer under `/ui`: a sign-in page, the runs page and a run's
//! page, plain HTML, CSS and JavaScript embedded in the binary (nothing
//! is fetched from another origin; the pages read the runs API with the
//! session cookie).
//!
//! Every route is in [`ROUTES`], and the router is built from that table
//! only, so a route cannot exist without saying whether it needs a
//! session (the tests walk the table). Only the sign-in form and its
//! submission are public; everything else goes through
//! [`require_session`]: a browser without a session is sent to the
//! sign-in page, anything else gets the API's 401.
//!
//! - `session`: sign-in and sign-out, the session cookie.
//! - `pages`: the pages and their assets, with their security headers.

mod pages;
mod session;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{MethodFilter, MethodRouter, on};

use crate::ServerState;
use crate::tokens::authenticate;

/// Where the viewer lives.
pub const UI_PREFIX: &str = "/ui";

/// The sign-in page.
pub const LOGIN_PATH: &str = "/ui/login";

/// Who may use a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (the sign-in page).
    Public,
    /// A session cookie or a bearer token.
    Session,
}

/// One route of the viewer.
#[derive(Debug, Clone, Copy)]
pub struct UiRoute {
    /// `GET`, `POST`, or `*` for any method.
    pub method: &'static str,
    /// The path, with axum's `{param}` and `{*rest}` captures.
    pub path: &'static str,
    /// Who may use it.
    pub access: Access,
    page: Page,
}

/// What a route answers.
#[derive(Debug, Clone, Copy)]
enum Page {
    LoginForm,
    Login,
    Logout,
    Runs,
    Run,
    Asset(pages::Asset),
    Missing,
}

const fn route(method: &'static str, path: &'static str, access: Access, page: Page) -> UiRoute {
    UiRoute {
        method,
        path,
        access,
        page,
    }
}

/// Every route of the viewer: the router is made of these and nothing
/// else.
pub const ROUTES: &[UiRoute] = &[
    route("GET", LOGIN_PATH, Access::Public, Page::LoginForm),
    route("POST", LOGIN_PATH, Access::Public, Page::Login),
    route("POST", "/ui/logout", Access::Session, Page::Logout),
    route("GET", UI_PREFIX, Access::Session, Page::Runs),
    route("GET", "/ui/runs/{run_id}", Access::Session, Page::Run),
    route(
        "GET",
        "/ui/assets/viewer.css",
        Access::Session,
        Page::Asset(pages::Asset::Style),
    ),
    route(
        "GET",
        "/ui/assets/common.js",
        Access::Session,
        Page::Asset(pages::Asset::Common),
    ),
    route(
        "GET",
        "/ui/assets/runs.js",
        Access::Session,
        Page::Asset(pages::Asset::RunsScript),
    ),
    route(
        "GET",
        "/ui/assets/run.js",
        Access::Session,
        Page::Asset(pages::Asset::RunScript),
    ),
    route("*", "/ui/{*rest}", Access::Session, Page::Missing),
];

impl UiRoute {
    fn method_router(&self) -> MethodRouter<ServerState> {
        let filter = match self.method {
            "GET" => MethodFilter::GET,
            "POST" => MethodFilter::POST,
            _ => MethodFilter::GET
                .or(MethodFilter::HEAD)
                .or(MethodFilter::POST)
                .or(MethodFilter::PUT)
                .or(MethodFilter::PATCH)
                .or(MethodFilter::DELETE)
                .or(MethodFilter::OPTIONS),
        };
        match self.page {
            Page::LoginForm => on(filter, session::login_form),
            Page::Login => on(filter, session::login),
            Page::Logout => on(filter, session::logout),
            Page::Runs => on(filter, || async { pages::page(pages::RUNS_PAGE) }),
            Page::Run => on(filter, || async { pages::page(pages::RUN_PAGE) }),
            Page::Asset(asset) => on(filter, move || async move { pages::asset(asset) }),
            Page::Missing => on(filter, || async { pages::no_such_page() }),
        }
    }
}

/// The viewer's routes, those needing a session behind
/// [`require_session`].
pub fn router(state: ServerState) -> Router<ServerState> {
    let mut public = Router::new();
    let mut private = Router::new();
    for route in ROUTES {
        match route.access {
            Access::Public => public = public.route(route.path, route.method_router()),
            Access::Session => private = private.route(route.path, route.method_router()),
        }
    }
    private = private.layer(axum::middleware::from_fn_with_state(state, require_session));
    public.merge(private)
}

/// Lets through a request with a session (or a bearer token); sends a
/// browser without one to the sign-in page, and answers anything else as
/// the API does (401, or 403 for a cross-site write).
pub async fn require_session(
    State(state): State<ServerState>,
    mut request: Request,
    next: Next,
) -> Response {
    match authenticate(&state, request.method(), request.headers()).await {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            let mut response = next.run(request).await;
            pages::common_headers(response.headers_mut());
            response
        }
        Err(error) if error.status == StatusCode::UNAUTHORIZED && wants_html(request.headers()) => {
            let back = (*request.method() == Method::GET)
                .then(|| {
                    request
                        .uri()
                        .path_and_query()
                        .map(|p| p.as_str().to_owned())
                })
                .flatten();
            to_login(back.as_deref())
        }
        Err(error) => error.into_response(),
    }
}

/// Whether the request is a browser asking for a page.
fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

/// 303 to the sign-in page, which comes back to `back` (a viewer path).
fn to_login(back: Option<&str>) -> Response {
    let target = match back.filter(|back| session::is_viewer_path(back)) {
        Some(back) if back != UI_PREFIX => format!("{LOGIN_PATH}?next={}", percent_encode(back)),
        _ => LOGIN_PATH.to_owned(),
    };
    Redirect::to(&target).into_response()
}

/// Percent-encodes everything but unreserved characters and `/`.
fn percent_encode(text: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_way_back_is_kept_only_for_viewer_paths() {
        let location = |back| to_login(back).headers()[header::LOCATION].clone();
        assert_eq!(
            location(Some("/ui/runs/a-b?x=1")),
            "/ui/login?next=/ui/runs/a-b%3Fx%3D1"
        );
        assert_eq!(location(Some("/ui")), "/ui/login");
        assert_eq!(location(Some("//evil.example/ui")), "/ui/login");
        assert_eq!(location(None), "/ui/login");
    }

    #[test]
    fn every_public_route_is_the_sign_in_page() {
        let public: Vec<(&str, &str)> = ROUTES
            .iter()
            .filter(|route| route.access == Access::Public)
            .map(|route| (route.method, route.path))
            .collect();
        assert_eq!(public, [("GET", LOGIN_PATH), ("POST", LOGIN_PATH)]);
    }
}
