//! Unit tests of the secrecy analysis, through `validate` with the core
//! steps and two test step types: one with a sensitive output, one with a
//! credential input.

use async_trait::async_trait;
use idflow_core::{Outputs, Step, StepContext, StepError, StepMetadata, StepRegistry};

use crate::diagnostic::{Code, Diagnostic};
use crate::expr::ExprEngine;
use crate::model::Workflow;
use crate::source::SourceFile;
use crate::validate::validate;

struct Declared(StepMetadata);

#[async_trait]
impl Step for Declared {
    fn metadata(&self) -> &StepMetadata {
        &self.0
    }

    async fn run(&self, _: &StepContext, _: serde_json::Value) -> Result<Outputs, StepError> {
        Ok(Outputs::new())
    }
}

fn registry() -> StepRegistry {
    let mut registry = StepRegistry::new();
    idflow_steps::register(&mut registry).expect("core steps register");
    let meta = |name: &str| StepMetadata::new::<serde_json::Value>(name, "a test step");
    registry
        .register(Declared(
            meta("test.link")
                .output("id", "An id.")
                .sensitive_output("url", "A link."),
        ))
        .unwrap();
    registry
        .register(Declared(meta("test.send").credential_input("link")))
        .unwrap();
    registry
}

/// Validates a workflow with a secret `K`, a `link` step (test.link) and
/// the given steps (YAML under `steps:`, indented by 2) and outputs.
fn check(steps: &str, outputs: &str) -> (Vec<Diagnostic>, Option<Workflow>) {
    let text = format!(
        "name: probe\nsecrets: [K]\nsteps:\n  link:\n    uses: test.link\n{steps}{}",
        if outputs.is_empty() {
            String::new()
        } else {
            format!("outputs:\n{outputs}")
        }
    );
    let validated = validate(
        SourceFile::new("probe.yaml", text),
        &registry(),
        &ExprEngine::new(),
    );
    let flows = validated
        .diagnostics
        .iter()
        .filter(|d| d.code == Code::SecretFlow)
        .cloned()
        .collect();
    (flows, validated.workflow)
}

fn log_step(message: &str) -> String {
    format!(
        "  say:\n    uses: core.log\n    needs: [link]\n    with:\n      message: \"{message}\"\n"
    )
}

#[test]
fn any_computation_on_a_secret_is_secret() {
    for message in [
        "${{ secrets.K }}",
        "${{ secrets.K | upper }}",
        "${{ secrets.K | reverse }}",
        "${{ secrets.K[1:] }}",
        "${{ secrets.K[0] }}",
        "${{ secrets.K | list | join(' ') }}",
        "${{ '%.15s' | format(secrets.K) }}",
        "${{ secrets | tojson }}",
        "${{ secrets['K'] }}",
        "${{ {'a': [secrets.K]} }}",
        "${{ secrets.K.upper() }}",
        "key: ${{ secrets.K ~ '' }}",
        "${{ 1 }} ${%% for c in secrets.K %%}${{ c }}${%% endfor %%}",
        "${{ 1 }} ${%% set x = secrets.K %%}${{ x }}",
        "${{ 1 }} ${%% if secrets.K == 'a' %%}a${%% endif %%}",
        "${{ steps.link.outputs.url | replace('http', 'hxxp') }}",
        "${{ steps.link.outputs | tojson }}",
        "${{ steps.link | tojson }}",
        "${{ steps['li' ~ 'nk'].outputs.id }}",
    ] {
        let (flows, workflow) = check(&log_step(message), "");
        assert!(workflow.is_none(), "{message} was accepted");
        assert_eq!(flows.len(), 1, "{message}: {flows:?}");
        assert!(
            flows[0].message.contains("`message` of step `say`")
                && flows[0].message.contains("core.log would show it"),
            "{}",
            flows[0].message
        );
    }
}

#[test]
fn values_that_read_no_secret_are_not_secret() {
    for message in [
        "${{ steps.link.outputs.id }}",
        "${{ steps.link.status }}",
        "${{ 'secrets.K' }}",
        "plain text",
    ] {
        let (flows, workflow) = check(&log_step(message), "");
        assert!(flows.is_empty(), "{message}: {flows:?}");
        assert!(workflow.is_some(), "{message}");
    }
}

#[test]
fn the_message_names_the_source_and_points_at_the_expression() {
    let (flows, _) = check(&log_step("token ${{ secrets.K | lower }}!"), "");
    assert_eq!(flows.len(), 1);
    assert!(
        flows[0].message.contains("the secret `K`"),
        "{}",
        flows[0].message
    );
    let (flows, _) = check(&log_step("${{ steps.link.outputs.url | reverse }}"), "");
    assert!(
        flows[0]
            .message
            .contains("the sensitive output `url` of step `link`"),
        "{}",
        flows[0].message
    );
    let text = format!(
        "name: probe\nsecrets: [K]\nsteps:\n  link:\n    uses: test.link\n{}",
        log_step("token ${{ secrets.K | lower }}!")
    );
    let span = flows_span(&text);
    assert_eq!(&text[span.0..span.1], "secrets.K | lower");
}

fn flows_span(text: &str) -> (usize, usize) {
    let validated = validate(
        SourceFile::new("probe.yaml", text),
        &registry(),
        &ExprEngine::new(),
    );
    let diagnostic = &validated.diagnostics[0];
    (diagnostic.span.start, diagnostic.span.end)
}

#[test]
fn credential_inputs_take_secrets_and_record_where_they_are() {
    let steps = "  send:\n    uses: test.send\n    needs: [link]\n    with:\n      link: ${{ steps.link.outputs.url }}\n  http:\n    uses: core.http\n    with:\n      url: https://example.com/a\n      headers:\n        Authorization: \"Bearer ${{ secrets.K }}\"\n        Accept: application/json\n        X-Both: \"${{ secrets.K | lower }}\"\n      query:\n        key: ${{ secrets.K }}\n";
    let (flows, workflow) = check(steps, "");
    assert!(flows.is_empty(), "{flows:?}");
    let workflow = workflow.unwrap();
    assert_eq!(workflow.step("send").unwrap().secret_inputs, ["/link"]);
    assert_eq!(
        workflow.step("http").unwrap().secret_inputs,
        ["/headers/Authorization", "/headers/X-Both", "/query/key"]
    );
    assert!(workflow.step("link").unwrap().secret_inputs.is_empty());
}

#[test]
fn other_inputs_of_a_step_with_credential_inputs_are_refused() {
    let steps = "  http:\n    uses: core.http\n    with:\n      url: \"https://example.com/?k=${{ secrets.K }}\"\n";
    let (flows, _) = check(steps, "");
    assert_eq!(flows.len(), 1, "{flows:?}");
    assert!(flows[0].message.contains("`url` of step `http`"));
    let help = flows[0].help.as_deref().unwrap();
    assert!(
        help.contains("`headers`, `query`, `json`, `form`, `body`"),
        "{help}"
    );
}

#[test]
fn conditions_may_not_read_secrets() {
    let steps = "  gated:\n    uses: core.log\n    needs: [link]\n    if: secrets.K[0] == 'a'\n    with:\n      message: hi\n  polled:\n    uses: test.link\n    until: outputs.url | length > 3\n";
    let (flows, _) = check(steps, "");
    assert_eq!(flows.len(), 2, "{flows:?}");
    assert!(
        flows
            .iter()
            .any(|f| f.message.contains("the `if` of step `gated`"))
    );
    assert!(flows.iter().any(|f| {
        f.message
            .contains("the `until` of step `polled` reads this step's sensitive output `url`")
    }));
    // A gate on outputs that are not sensitive is fine.
    let (flows, _) = check(
        "  polled:\n    uses: test.link\n    until: outputs.id == 'x'\n",
        "",
    );
    assert!(flows.is_empty(), "{flows:?}");
}

#[test]
fn outputs_pass_secrets_through_marked_sensitive_but_never_compute_on_them() {
    let outputs = "  link: ${{ steps.link.outputs.url }}\n  key: ${{ secrets.K }}\n  id: ${{ steps.link.outputs.id }}\n";
    let (flows, workflow) = check("", outputs);
    assert!(flows.is_empty(), "{flows:?}");
    let workflow = workflow.unwrap();
    let sensitive: Vec<(&str, bool)> = workflow
        .outputs
        .iter()
        .map(|output| (output.name.as_str(), output.sensitive))
        .collect();
    assert_eq!(sensitive, [("link", true), ("key", true), ("id", false)]);
    assert_eq!(
        workflow.plan_json()["sensitive_outputs"],
        serde_json::json!(["link", "key"])
    );
    for computed in [
        "${{ steps.link.outputs.url | reverse }}",
        "\"url: ${{ steps.link.outputs.url }}\"",
        "${{ [secrets.K] }}",
        "\n    nested: ${{ secrets.K }}",
    ] {
        let (flows, workflow) = check("", &format!("  leak: {computed}\n"));
        assert!(workflow.is_none(), "{computed}");
        assert_eq!(flows.len(), 1, "{computed}: {flows:?}");
        assert!(flows[0].message.contains("the output `leak`"));
    }
}
