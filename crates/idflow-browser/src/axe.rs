//! axe-core in the page: the accessibility engine from the npm registry
//! (`scripts/setup` installs it into `<assets>/npm`), injected through
//! WebDriver (which the page's content security policy does not govern)
//! and run with its default rules (WCAG 2 A and AA, WCAG 2.2 target size,
//! best practices). Fails, naming `scripts/setup`, when it is missing.

use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::Value;

use crate::webdriver::Browser;

/// Where `scripts/setup` puts axe-core's browser build.
fn axe_path() -> PathBuf {
    idflow_vision::assets::assets_dir().join("npm/node_modules/axe-core/axe.min.js")
}

fn axe_source() -> &'static str {
    static SOURCE: OnceLock<String> = OnceLock::new();
    SOURCE.get_or_init(|| {
        let path = axe_path();
        std::fs::read_to_string(&path).unwrap_or_else(|error| {
            panic!(
                "the accessibility checks need axe-core at {} ({error}); run `scripts/setup`",
                path.display()
            )
        })
    })
}

/// Runs axe on the page as it is now and fails listing every violation
/// (rule, impact, elements and why) found in `state`.
pub async fn assert_no_violations(browser: &Browser, state: &str) {
    let loaded = browser.eval("return typeof window.axe;", &[]).await;
    if loaded != "object" {
        browser
            .eval(&format!("{}\nreturn true;", axe_source()), &[])
            .await;
    }
    let violations = browser
        .eval(
            "return axe.run(document, { resultTypes: ['violations'] }).then((results) => \
               results.violations.map((v) => ({ rule: v.id, impact: v.impact, help: v.help, \
                 nodes: v.nodes.map((n) => n.target.join(' ') + ': ' + n.failureSummary) })));",
            &[],
        )
        .await;
    let list = violations.as_array().cloned().unwrap_or_default();
    assert!(
        violations.is_array() && list.is_empty(),
        "axe-core found {} violation(s) in {state}: {}",
        list.len(),
        serde_json::to_string_pretty(&Value::Array(list)).unwrap_or_default()
    );
}
