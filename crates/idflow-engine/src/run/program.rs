//! What the machine needs to know about a workflow beyond the workflow
//! itself, computed once and shared by every run of it.
//!
//! Per step: whether its `if` calls a status function, which steps its
//! expressions read (`steps.<id>...`), so that an evaluation converts only
//! those steps for the expression engine instead of the whole run, and
//! whether what it reports may quote a credential (it received a secret, or
//! reads a step that may quote one): then it is redacted strictly.

use std::collections::HashMap;
use std::sync::Arc;

use crate::expr::{Classified, ExprEngine, classify};
use crate::model::{Expression, StepIndex, ValueTemplate, Workflow};

/// A workflow made ready to run: share it (`Arc`) between its runs.
#[derive(Debug)]
pub struct Program {
    workflow: Arc<Workflow>,
    engine: Arc<ExprEngine>,
    steps: Vec<StepFacts>,
    roots: Vec<StepIndex>,
    outputs_reads: StepReads,
    outputs_strict: bool,
}

/// Facts about one step.
#[derive(Debug, Clone)]
pub(crate) struct StepFacts {
    /// Its `if` calls `success()`, `failure()`, `always()` or `cancelled()`.
    pub(crate) status_condition: bool,
    /// The steps its `if`, `with` and `until` read.
    pub(crate) reads: StepReads,
    /// Some expression reads `steps.<this step>`.
    pub(crate) read_by_others: bool,
    /// What the step reports may quote a credential: it received a secret
    /// value, or its expressions read a step whose outputs may quote one
    /// (a service that echoed a header). Redacted strictly.
    pub(crate) strict: bool,
}

/// The steps an expression reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StepReads {
    /// These (possibly none).
    Listed(Vec<StepIndex>),
    /// Possibly any (`steps[...]` with a computed key, or a reference that
    /// could not be read).
    All,
}

impl StepReads {
    fn add(&mut self, step: StepIndex) {
        if let StepReads::Listed(steps) = self
            && !steps.contains(&step)
        {
            steps.push(step);
        }
    }
}

impl Program {
    /// Prepares `workflow` (validated) for running.
    pub fn new(workflow: Arc<Workflow>, engine: Arc<ExprEngine>) -> Self {
        let by_id: HashMap<&str, StepIndex> = workflow
            .steps
            .iter()
            .map(|step| (step.id.as_str(), step.index))
            .collect();
        let reader = Reader {
            engine: &engine,
            by_id: &by_id,
        };
        let mut steps: Vec<StepFacts> = workflow
            .steps
            .iter()
            .map(|step| {
                let mut reads = StepReads::Listed(Vec::new());
                if let Some(condition) = &step.condition {
                    reader.expression(condition, &mut reads);
                }
                reader.template(&step.with, &mut reads);
                if let Some(gate) = &step.gate {
                    reader.expression(&gate.until, &mut reads);
                }
                StepFacts {
                    status_condition: step
                        .condition
                        .as_ref()
                        .is_some_and(|condition| engine.uses_status_function(condition)),
                    reads,
                    read_by_others: false,
                    strict: !step.secret_inputs.is_empty(),
                }
            })
            .collect();
        let any_secret_inputs = steps.iter().any(|facts| facts.strict);
        for index in &workflow.order {
            let strict = steps[index.get()].strict
                || reads_strict(&steps, &steps[index.get()].reads, any_secret_inputs);
            steps[index.get()].strict = strict;
        }
        let mut outputs_reads = StepReads::Listed(Vec::new());
        for output in &workflow.outputs {
            reader.template(&output.value, &mut outputs_reads);
        }
        let outputs_strict = reads_strict(&steps, &outputs_reads, any_secret_inputs);
        let all_reads: Vec<StepReads> = steps
            .iter()
            .map(|facts| facts.reads.clone())
            .chain([outputs_reads.clone()])
            .collect();
        for reads in all_reads {
            match reads {
                StepReads::All => steps
                    .iter_mut()
                    .for_each(|facts| facts.read_by_others = true),
                StepReads::Listed(listed) => {
                    for step in listed {
                        if let Some(facts) = steps.get_mut(step.get()) {
                            facts.read_by_others = true;
                        }
                    }
                }
            }
        }
        let roots = workflow
            .order
            .iter()
            .copied()
            .filter(|index| {
                workflow
                    .steps
                    .get(index.get())
                    .is_some_and(|step| step.needs.is_empty())
            })
            .collect();
        Self {
            workflow,
            engine,
            steps,
            roots,
            outputs_reads,
            outputs_strict,
        }
    }

    /// The workflow.
    pub fn workflow(&self) -> &Workflow {
        &self.workflow
    }

    /// The shared workflow.
    pub fn workflow_arc(&self) -> &Arc<Workflow> {
        &self.workflow
    }

    /// The expression engine runs evaluate with.
    pub fn engine(&self) -> &ExprEngine {
        &self.engine
    }

    pub(crate) fn facts(&self, step: StepIndex) -> &StepFacts {
        &self.steps[step.get()]
    }

    /// Steps that need nothing, in topological (then written) order.
    pub(crate) fn roots(&self) -> &[StepIndex] {
        &self.roots
    }

    pub(crate) fn outputs_reads(&self) -> &StepReads {
        &self.outputs_reads
    }

    /// Whether the run's outputs read a step whose outputs may quote a
    /// credential (redacted strictly).
    pub(crate) fn outputs_strict(&self) -> bool {
        self.outputs_strict
    }
}

/// Whether `reads` reaches a strict step (all of them: any step that
/// received a secret, `any_secret_inputs`).
fn reads_strict(steps: &[StepFacts], reads: &StepReads, any_secret_inputs: bool) -> bool {
    match reads {
        StepReads::All => any_secret_inputs,
        StepReads::Listed(listed) => listed
            .iter()
            .any(|step| steps.get(step.get()).is_some_and(|facts| facts.strict)),
    }
}

/// Finds the `steps.<id>` an expression reads.
struct Reader<'a> {
    engine: &'a ExprEngine,
    by_id: &'a HashMap<&'a str, StepIndex>,
}

impl Reader<'_> {
    fn expression(&self, expression: &Expression, reads: &mut StepReads) {
        self.source(&expression.source, reads);
    }

    fn template(&self, template: &ValueTemplate, reads: &mut StepReads) {
        match template {
            ValueTemplate::Literal(_) => {}
            ValueTemplate::Expression(expression) => self.expression(expression, reads),
            ValueTemplate::Text(text) => match classify(&text.source) {
                Classified::Plain => {}
                Classified::Single(inner, _) => self.source(inner, reads),
                Classified::Mixed(parts) => {
                    for part in parts {
                        self.source(&text.source[part], reads);
                    }
                }
                Classified::Unclosed(_) => *reads = StepReads::All,
            },
            ValueTemplate::List(items) => {
                for item in items {
                    self.template(item, reads);
                }
            }
            ValueTemplate::Map(entries) => {
                for (_, value) in entries {
                    self.template(value, reads);
                }
            }
        }
    }

    fn source(&self, source: &str, reads: &mut StepReads) {
        let Ok(references) = self.engine.references(source) else {
            *reads = StepReads::All;
            return;
        };
        for reference in references {
            let mut parts = reference.split('.');
            if parts.next() != Some("steps") {
                continue;
            }
            match parts.next().and_then(|id| self.by_id.get(id)) {
                Some(step) => reads.add(*step),
                None => *reads = StepReads::All,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::testkit::{FlowBuilder, expr, text};

    #[test]
    fn finds_status_conditions_and_the_steps_expressions_read() {
        let workflow = FlowBuilder::new("facts")
            .step("a", "test.noop", &[], |_| {})
            .step("b", "test.noop", &["a"], |step| {
                step.condition = Some(expr("steps.a.outputs.ok"));
                step.with = text("x ${{ steps.a.outputs.n }}");
            })
            .step("c", "test.noop", &["b"], |step| {
                step.condition = Some(expr("always()"));
            })
            .step("d", "test.noop", &["c"], |step| {
                step.with = text("${{ steps['c'].outputs }}");
            })
            .build();
        let program = Program::new(workflow, Arc::new(ExprEngine::new()));
        let b = program.facts(StepIndex(1));
        assert!(!b.status_condition);
        assert_eq!(b.reads, StepReads::Listed(vec![StepIndex(0)]));
        assert!(program.facts(StepIndex(2)).status_condition);
        assert_eq!(program.facts(StepIndex(3)).reads, StepReads::All);
        // `d` reads any step, so every step is read by others.
        assert!((0..4).all(|i| program.facts(StepIndex(i)).read_by_others));
        assert_eq!(program.roots(), [StepIndex(0)]);
    }

    #[test]
    fn what_may_quote_a_credential_is_strict_down_the_reads() {
        let workflow = FlowBuilder::new("strict")
            .step("plain", "test.noop", &[], |_| {})
            .step("send", "test.noop", &[], |step| {
                step.secret_inputs = vec!["/headers/Authorization".into()];
            })
            .step("relay", "test.noop", &["send"], |step| {
                step.with = text("${{ steps.send.outputs.body }}");
            })
            .step("relay2", "test.noop", &["relay", "plain"], |step| {
                step.with = text("${{ steps.relay.outputs.x }}");
            })
            .step("other", "test.noop", &["plain"], |step| {
                step.with = text("${{ steps.plain.outputs.x }}");
            })
            .output("x", text("${{ steps.other.outputs.x }}"))
            .build();
        let program = Program::new(workflow, Arc::new(ExprEngine::new()));
        let strict: Vec<bool> = (0..5).map(|i| program.facts(StepIndex(i)).strict).collect();
        assert_eq!(strict, [false, true, true, true, false]);
        assert!(!program.outputs_strict());
        let workflow = FlowBuilder::new("strict")
            .step("send", "test.noop", &[], |step| {
                step.secret_inputs = vec!["/body".into()];
            })
            .output("echo", text("${{ steps['se' ~ 'nd'].outputs }}"))
            .build();
        let program = Program::new(workflow, Arc::new(ExprEngine::new()));
        assert!(program.outputs_strict());
    }

    #[test]
    fn steps_nobody_reads_are_not_marked() {
        let workflow = FlowBuilder::new("facts")
            .step("a", "test.noop", &[], |_| {})
            .step("b", "test.noop", &["a"], |step| {
                step.with = text("${{ inputs.x }}");
            })
            .output("n", text("${{ steps.b.outputs.n }}"))
            .build();
        let program = Program::new(workflow, Arc::new(ExprEngine::new()));
        assert!(!program.facts(StepIndex(0)).read_by_others);
        assert!(program.facts(StepIndex(1)).read_by_others);
        assert_eq!(
            program.outputs_reads(),
            &StepReads::Listed(vec![StepIndex(1)])
        );
    }
}
