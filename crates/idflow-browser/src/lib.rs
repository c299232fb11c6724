//! # idflow-browser: pages in a real browser, for tests
//!
//! Test support shared by the browser tests of the verification page
//! (idflow-provider) and of the run viewer (the end-to-end tests): Debian's
//! headless Chromium driven through `chromedriver` (W3C WebDriver), waits
//! that poll the page with a bounded deadline (never fixed sleeps),
//! screenshots, and axe-core run in the page. A dev-dependency only.
//!
//! Needs `scripts/setup` (chromium, chromium-driver, axe-core from npm):
//! without them the helpers fail, naming it; tests using them never skip.
//!
//! ## Layout
//! - [`webdriver`]: [`Driver`] (a `chromedriver` process) and [`Browser`]
//!   (one session: open, click, type, evaluate, wait, screenshots, screen
//!   emulation).
//! - [`axe`]: [`axe::assert_no_violations`], axe-core's default rules.
//! - [`camera`]: a photo as the fake camera's video
//!   ([`camera::y4m_from_photo`]).

// Test support: a failed expectation is a failed test.
#![allow(clippy::missing_panics_doc, clippy::unwrap_used, clippy::expect_used)]

pub mod axe;
pub mod camera;
pub mod webdriver;

pub use webdriver::{Browser, Driver, WAIT_DEADLINE};
