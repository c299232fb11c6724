//! Test helpers: build a [`Workflow`] in code, without a file.

use std::sync::Arc;
use std::time::Duration;

use crate::expr::{Classified, classify};
use crate::model::{
    Expression, OutputDecl, PollGate, PollPolicy, RetryPolicy, StepIndex, StepPlan, TextTemplate,
    ValueTemplate, Workflow,
};
use crate::source::{SourceFile, Span};

/// Builds a workflow step by step; `needs` name earlier steps.
pub(crate) struct FlowBuilder {
    name: String,
    steps: Vec<(StepPlan, Vec<String>)>,
    outputs: Vec<OutputDecl>,
    timeout: Option<Duration>,
}

impl FlowBuilder {
    pub(crate) fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            steps: Vec::new(),
            outputs: Vec::new(),
            timeout: None,
        }
    }

    /// Adds a step with defaults (no `if`, empty `with`, no retry), then
    /// lets `edit` change it.
    pub(crate) fn step(
        mut self,
        id: &str,
        uses: &str,
        needs: &[&str],
        edit: impl FnOnce(&mut StepPlan),
    ) -> Self {
        let index = StepIndex(u32::try_from(self.steps.len()).expect("few steps"));
        let mut plan = StepPlan {
            id: id.to_owned(),
            index,
            uses: uses.to_owned(),
            description: None,
            needs: Vec::new(),
            dependents: Vec::new(),
            condition: None,
            with: ValueTemplate::Literal(serde_json::json!({})),
            secret_inputs: Vec::new(),
            retry: RetryPolicy::NONE,
            timeout: None,
            gate: None,
            continue_on_error: false,
            span: Span::default(),
        };
        edit(&mut plan);
        self.steps
            .push((plan, needs.iter().map(|need| (*need).to_owned()).collect()));
        self
    }

    pub(crate) fn output(mut self, name: &str, value: ValueTemplate) -> Self {
        self.outputs.push(OutputDecl {
            name: name.to_owned(),
            value,
            sensitive: false,
        });
        self
    }

    /// Adds a run output that passes a secret through (shown redacted
    /// unless revealed).
    pub(crate) fn sensitive_output(mut self, name: &str, value: ValueTemplate) -> Self {
        self.outputs.push(OutputDecl {
            name: name.to_owned(),
            value,
            sensitive: true,
        });
        self
    }

    pub(crate) fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Resolves `needs`, fills `dependents` and a topological `order`
    /// (ties in written order).
    pub(crate) fn build(self) -> Arc<Workflow> {
        let index_of = |id: &str| {
            self.steps
                .iter()
                .position(|(plan, _)| plan.id == id)
                .map_or_else(
                    || panic!("unknown step `{id}`"),
                    |i| StepIndex(u32::try_from(i).expect("few steps")),
                )
        };
        let mut steps: Vec<StepPlan> = self
            .steps
            .iter()
            .map(|(plan, needs)| {
                let mut plan = plan.clone();
                plan.needs = needs.iter().map(|need| index_of(need)).collect();
                plan
            })
            .collect();
        for i in 0..steps.len() {
            for need in steps[i].needs.clone() {
                let me = steps[i].index;
                steps[need.get()].dependents.push(me);
            }
        }
        let mut left: Vec<usize> = steps.iter().map(|step| step.needs.len()).collect();
        let mut order = Vec::new();
        while order.len() < steps.len() {
            let next = (0..steps.len())
                .find(|&i| left[i] == 0 && !order.contains(&steps[i].index))
                .expect("no cycle");
            order.push(steps[next].index);
            for dependent in &steps[next].dependents {
                left[dependent.get()] -= 1;
            }
        }
        Arc::new(Workflow {
            name: self.name,
            description: None,
            source: SourceFile::new("<test>", ""),
            inputs: Vec::new(),
            secrets: Vec::new(),
            steps,
            order,
            outputs: self.outputs,
            timeout: self.timeout,
        })
    }
}

pub(crate) fn expr(source: &str) -> Expression {
    Expression {
        source: source.to_owned(),
        span: Span::default(),
    }
}

/// A value as a workflow would write it: plain text, one `${{ }}`, or text
/// with `${{ }}` parts.
pub(crate) fn text(source: &str) -> ValueTemplate {
    match classify(source) {
        Classified::Plain => ValueTemplate::Literal(serde_json::Value::String(source.to_owned())),
        Classified::Single(inner, _) => ValueTemplate::Expression(expr(inner)),
        Classified::Mixed(_) | Classified::Unclosed(_) => ValueTemplate::Text(TextTemplate {
            source: source.to_owned(),
            span: Span::default(),
        }),
    }
}

/// A `with` map.
pub(crate) fn with(entries: &[(&str, ValueTemplate)]) -> ValueTemplate {
    ValueTemplate::Map(
        entries
            .iter()
            .map(|(key, value)| ((*key).to_owned(), value.clone()))
            .collect(),
    )
}

/// A status gate.
pub(crate) fn gate(
    until: &str,
    interval: Duration,
    factor: f64,
    max: Duration,
    timeout: Duration,
) -> PollGate {
    PollGate {
        until: expr(until),
        poll: PollPolicy {
            interval,
            backoff_factor: factor,
            max_interval: max,
            timeout,
        },
        deadline: None,
    }
}

/// A runner of `yaml` through the real validator, with `registry`'s step
/// types (panics with the diagnostics when the file is invalid).
pub(crate) fn validated_runner(
    yaml: &str,
    registry: &idflow_core::StepRegistry,
) -> crate::run::Runner {
    let engine = Arc::new(crate::expr::ExprEngine::new());
    let validated =
        crate::validate::validate(SourceFile::new("test.yaml", yaml), registry, &engine);
    let workflow = Arc::new(
        validated
            .workflow
            .unwrap_or_else(|| panic!("{:#?}", validated.diagnostics)),
    );
    crate::run::Runner::with_engine(workflow, registry, engine)
        .expect("the step types are registered")
}

/// A registry of the `core.*` steps.
pub(crate) fn core_registry() -> idflow_core::StepRegistry {
    let mut registry = idflow_core::StepRegistry::new();
    idflow_steps::register(&mut registry).expect("the core steps register");
    registry
}
