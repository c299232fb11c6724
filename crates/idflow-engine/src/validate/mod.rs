//! Validation: a workflow file in, a [`Workflow`] (or every problem in it)
//! out, in one pass.
//!
//! The stages, each collecting diagnostics instead of stopping:
//! 1. [`crate::yaml`] parses the text into spanned nodes;
//! 2. [`structure`] checks the shape (keys, types, names, durations,
//!    policies);
//! 3. step types and `needs` are resolved and [`graph`] finds cycles, the
//!    order and what runs before what;
//! 4. expressions are parsed and their references checked against the
//!    inputs, secrets and upstream steps ([`references`]), and each `with`
//!    against its step type's schema ([`with_schema`]);
//! 5. [`secrecy`]: values computed from secrets or sensitive outputs go
//!    only into credential inputs;
//! 6. warnings: steps that never run, inputs and secrets nothing reads.

mod graph;
pub mod reader;
mod references;
mod secrecy;
pub(crate) mod structure;
mod with_schema;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use fixedbitset::FixedBitSet;
use idflow_core::{StepMetadata, StepRegistry};

use crate::diagnostic::{Code, Diagnostic, Diagnostics, Report, did_you_mean};
use crate::expr::ExprEngine;
use crate::model::{
    Expression, InputDecl, OutputDecl, PollGate, PollPolicy, StepIndex, StepPlan, ValueTemplate,
    Workflow,
};
use crate::source::SourceFile;
use crate::yaml;
use reader::Reader;
use references::{Place, RefChecker};
use secrecy::Secrecy;
use structure::{Draft, DraftStep};

/// The outcome of validating one file.
#[derive(Debug)]
pub struct Validated {
    /// The file.
    pub file: Arc<SourceFile>,
    /// The workflow, when there was no error (warnings allowed).
    pub workflow: Option<Workflow>,
    /// Every problem found, sorted by position.
    pub diagnostics: Vec<Diagnostic>,
}

impl Validated {
    /// Whether the file has errors.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// The diagnostics with their file, ready to render.
    pub fn reports(&self) -> Vec<Report> {
        self.diagnostics
            .iter()
            .map(|diagnostic| Report {
                file: Arc::clone(&self.file),
                diagnostic: diagnostic.clone(),
            })
            .collect()
    }
}

/// Reads a workflow file from disk: a regular file, as text. A device, a
/// pipe or a folder, and a file that is not UTF-8 are I/O errors that say
/// so; nothing unbounded is read (a file larger than
/// [`yaml::MAX_FILE_BYTES`] becomes the IDF0002 diagnostic).
pub fn read_source(path: &Path) -> std::io::Result<Arc<SourceFile>> {
    let metadata = std::fs::metadata(path)?;
    if metadata.is_file() && metadata.len() > yaml::MAX_FILE_BYTES as u64 {
        // Reported as a located IDF0002 diagnostic, like any other limit.
        return Ok(SourceFile::new(
            path.display().to_string(),
            " ".repeat(yaml::MAX_FILE_BYTES + 1),
        ));
    }
    let text = crate::source::read_regular_file(path, yaml::MAX_FILE_BYTES)?;
    Ok(SourceFile::new(path.display().to_string(), text))
}

/// Validates one workflow file against the registered step types.
pub fn validate(file: Arc<SourceFile>, registry: &StepRegistry, engine: &ExprEngine) -> Validated {
    let root = match yaml::parse(&file) {
        Ok(root) => root,
        Err(diagnostic) => {
            return Validated {
                file,
                workflow: None,
                diagnostics: vec![diagnostic],
            };
        }
    };
    let mut reader = Reader::default();
    let draft = structure::read_workflow(&mut reader, &root);
    let mut checker = Checker {
        file: &file,
        registry,
        engine,
        diagnostics: reader.diagnostics,
    };
    let workflow = checker.check(&draft);
    let has_errors = checker.diagnostics.has_errors();
    Validated {
        workflow: if has_errors { None } else { workflow },
        diagnostics: checker.diagnostics.into_sorted(),
        file,
    }
}

struct Checker<'a> {
    file: &'a Arc<SourceFile>,
    registry: &'a StepRegistry,
    engine: &'a ExprEngine,
    diagnostics: Diagnostics,
}

impl<'a> Checker<'a> {
    fn push(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    fn check(&mut self, draft: &Draft<'_>) -> Option<Workflow> {
        let ids: HashMap<&str, usize> = draft
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.value.as_str(), i))
            .collect();
        let metadata: Vec<Option<&StepMetadata>> = draft
            .steps
            .iter()
            .map(|step| self.resolve_type(step))
            .collect();
        let needs: Vec<Vec<usize>> = draft
            .steps
            .iter()
            .map(|step| self.resolve_needs(step, &ids))
            .collect();
        let plan = graph::plan(draft.steps.len(), &needs);
        for cycle in &plan.cycles {
            self.report_cycle(draft, &needs, cycle);
        }

        let mut refs = RefChecker::new(self.file, self.engine, draft, &ids, &metadata);
        refs.set_all_ancestors(
            (0..draft.steps.len())
                .map(|i| plan.ancestors.get(i))
                .collect(),
        );
        let secrecy = Secrecy::new(self.file, self.engine, &ids, &metadata);
        let mut steps = Vec::with_capacity(draft.steps.len());
        for (index, step) in draft.steps.iter().enumerate() {
            let ancestors = plan.ancestors.get(index);
            steps.push(self.check_step(
                &mut refs,
                &secrecy,
                index,
                step,
                metadata[index],
                ancestors,
                &needs[index],
            ));
        }
        let mut secret_flows = Vec::new();
        let outputs: Vec<OutputDecl> = draft
            .outputs
            .iter()
            .map(|(name, node)| {
                let value = refs.template(node, Place::WorkflowOutput);
                let sensitive = secrecy.check_output(&name.value, &value, &mut secret_flows);
                OutputDecl {
                    name: name.value.clone(),
                    value,
                    sensitive,
                }
            })
            .collect();
        self.diagnostics.extend(secret_flows);
        let used = refs.finish();
        self.diagnostics.extend(used.diagnostics);
        self.warn_unused(draft, &used.inputs, &used.secrets);
        if let Some(order) = &plan.order {
            self.warn_dead_steps(draft, &steps, &needs, order);
        }

        let name = draft.name.as_ref()?.value.clone();
        let order = plan.order?;
        let steps = steps.into_iter().collect::<Option<Vec<StepPlan>>>()?;
        let mut steps = steps;
        for index in 0..steps.len() {
            let needs = steps[index].needs.clone();
            for need in needs {
                steps[need.get()]
                    .dependents
                    .push(StepIndex(index_u32(index)));
            }
        }
        Some(Workflow {
            name,
            description: draft.description.clone(),
            source: Arc::clone(self.file),
            inputs: draft
                .inputs
                .iter()
                .map(|input| InputDecl {
                    name: input.name.value.clone(),
                    kind: input.kind,
                    required: input.required,
                    default: input.default.clone(),
                    description: input.description.clone(),
                })
                .collect(),
            secrets: draft.secrets.iter().map(|s| s.value.clone()).collect(),
            steps,
            order: order.into_iter().map(|i| StepIndex(index_u32(i))).collect(),
            outputs,
            timeout: draft.timeout,
        })
    }

    fn resolve_type(&mut self, step: &DraftStep<'_>) -> Option<&'a StepMetadata> {
        let uses = step.uses.as_ref()?;
        if let Some(metadata) = self.registry.metadata(&uses.value) {
            return Some(metadata);
        }
        let mut diagnostic = Diagnostic::new(
            Code::UnknownStepType,
            uses.span,
            format!(
                "step `{}` uses `{}`, which is not a known step type",
                step.id.value, uses.value
            ),
        )
        .label("unknown step type");
        diagnostic = match did_you_mean(&uses.value, self.registry.names()) {
            Some(close) => diagnostic.help(format!(
                "did you mean `{close}`? (`idflow steps` lists them all)"
            )),
            None => diagnostic.help("run `idflow steps` to list the step types you can use"),
        };
        self.push(diagnostic);
        None
    }

    fn resolve_needs(&mut self, step: &DraftStep<'_>, ids: &HashMap<&str, usize>) -> Vec<usize> {
        let mut resolved = Vec::with_capacity(step.needs.len());
        for need in &step.needs {
            if let Some(&index) = ids.get(need.value.as_str()) {
                if !resolved.contains(&index) {
                    resolved.push(index);
                }
            } else {
                let mut diagnostic = Diagnostic::new(
                    Code::UnknownNeed,
                    need.span,
                    format!(
                        "step `{}` needs `{}`, but there is no step `{}`",
                        step.id.value, need.value, need.value
                    ),
                )
                .label("no such step");
                diagnostic = match did_you_mean(&need.value, ids.keys().copied()) {
                    Some(close) => diagnostic.help(format!("did you mean `{close}`?")),
                    None => diagnostic.help("`needs` lists ids of other steps in this workflow"),
                };
                self.push(diagnostic);
            }
        }
        resolved
    }

    fn report_cycle(&mut self, draft: &Draft<'_>, needs: &[Vec<usize>], cycle: &[usize]) {
        let first = &draft.steps[cycle[0]];
        let next = cycle.get(1).copied().unwrap_or(cycle[0]);
        // Point at the `needs` entry that starts the cycle.
        let span = first
            .needs
            .iter()
            .find(|need| need.value == draft.steps[next].id.value)
            .map_or(first.id.span, |need| need.span);
        let names: Vec<&str> = cycle
            .iter()
            .map(|&i| draft.steps[i].id.value.as_str())
            .collect();
        let message = if cycle.len() == 1 {
            format!("step `{}` needs itself", names[0])
        } else {
            let mut path = names.join(" → ");
            path.push_str(" → ");
            path.push_str(names[0]);
            format!(
                "steps {} need each other in a cycle: {path}",
                reader::list(&names).replace(" or ", " and ")
            )
        };
        let mut diagnostic = Diagnostic::new(Code::Cycle, span, message)
            .label("this need closes the cycle")
            .help("a step can only need steps that can finish without it: remove one of these `needs`");
        for &index in &cycle[1..] {
            let step = &draft.steps[index];
            let wanted =
                cycle[(cycle.iter().position(|&i| i == index).unwrap_or(0) + 1) % cycle.len()];
            if let Some(need) = step
                .needs
                .iter()
                .find(|n| n.value == draft.steps[wanted].id.value)
            {
                diagnostic = diagnostic.related(
                    need.span,
                    format!("`{}` needs `{}`", step.id.value, need.value),
                );
            }
        }
        let _ = needs;
        self.push(diagnostic);
    }

    #[allow(clippy::too_many_arguments)]
    fn check_step<'r>(
        &mut self,
        refs: &mut RefChecker<'r>,
        secrecy: &Secrecy<'_>,
        index: usize,
        step: &DraftStep<'_>,
        metadata: Option<&StepMetadata>,
        ancestors: Option<&'r FixedBitSet>,
        needs: &[usize],
    ) -> Option<StepPlan> {
        refs.set_step(index, ancestors);
        let condition = step.condition.map(|node| refs.condition(node, Place::If));
        let with = step.with.map_or(
            ValueTemplate::Literal(serde_json::Value::Object(serde_json::Map::new())),
            |node| refs.template(node, Place::With),
        );
        if let (Some(metadata), Some(uses), false) = (metadata, &step.uses, step.with_invalid) {
            let mut found = Vec::new();
            let anchor = step.with_key.unwrap_or(step.id.span);
            with_schema::check_with(
                &metadata.input_schema,
                step.with,
                anchor,
                &step.id.value,
                &uses.value,
                &mut found,
            );
            self.diagnostics.extend(found);
        }
        let gate = self.gate(refs, step, metadata);
        let mut secret_flows = Vec::new();
        let secret_inputs = secrecy.check_step(
            &step.id.value,
            metadata,
            condition.as_ref().and_then(Option::as_ref),
            &with,
            gate.as_ref()
                .filter(|_| step.until.is_some())
                .map(|gate| &gate.until),
            &mut secret_flows,
        );
        self.diagnostics.extend(secret_flows);
        Some(StepPlan {
            id: step.id.value.clone(),
            index: StepIndex(index_u32(index)),
            uses: step.uses.as_ref()?.value.clone(),
            description: step.description.clone(),
            needs: needs.iter().map(|&i| StepIndex(index_u32(i))).collect(),
            dependents: Vec::new(),
            condition: condition.flatten(),
            with,
            secret_inputs,
            retry: step.retry,
            timeout: step.timeout,
            gate,
            continue_on_error: step.continue_on_error,
            span: step.id.span,
        })
    }

    /// The status gate: the workflow's `until`/`poll` over the step type's
    /// default gate over the engine's default policy.
    fn gate(
        &mut self,
        refs: &mut RefChecker<'_>,
        step: &DraftStep<'_>,
        metadata: Option<&StepMetadata>,
    ) -> Option<PollGate> {
        let default_until = metadata.and_then(|m| m.default_until.as_deref());
        let until = match step.until {
            Some(node) => refs.condition(node, Place::Until),
            None => default_until.map(|source| Expression {
                source: source.to_owned(),
                span: step.id.span,
            }),
        };
        let Some(until) = until else {
            if let Some(poll) = step.poll
                && step.until.is_none()
            {
                self.push(
                        Diagnostic::new(Code::MissingKey, poll.key, format!("step `{}` has `poll` but no `until`", step.id.value))
                            .help("`poll` says how often to re-run the step until a condition holds; add `until:` with that condition, e.g. `until: outputs.status != 'pending'`"),
                    );
            }
            return None;
        };
        let defaults = metadata
            .and_then(|m| m.default_poll)
            .map_or(PollPolicy::DEFAULT, |d| PollPolicy {
                interval: d.interval,
                backoff_factor: d.backoff_factor,
                max_interval: d.max_interval,
                timeout: d.timeout,
            });
        let poll = match step.poll {
            Some(poll) => {
                let interval = poll.interval.unwrap_or(defaults.interval);
                PollPolicy {
                    interval,
                    backoff_factor: poll.backoff_factor.unwrap_or(defaults.backoff_factor),
                    max_interval: poll
                        .max_interval
                        .unwrap_or(defaults.max_interval.max(interval)),
                    timeout: poll.timeout.unwrap_or(defaults.timeout),
                }
            }
            None => defaults,
        };
        Some(PollGate {
            until,
            poll,
            deadline: metadata.and_then(|m| m.gate_deadline.clone()),
        })
    }

    fn warn_unused(
        &mut self,
        draft: &Draft<'_>,
        used_inputs: &std::collections::HashSet<String>,
        used_secrets: &std::collections::HashSet<String>,
    ) {
        for input in &draft.inputs {
            if !used_inputs.contains(&input.name.value) {
                self.push(
                    Diagnostic::new(
                        Code::UnusedInput,
                        input.name.span,
                        format!("nothing reads the input `{}`", input.name.value),
                    )
                    .help(format!(
                        "use it in an expression (`${{{{ inputs.{} }}}}`) or remove it",
                        input.name.value
                    )),
                );
            }
        }
        for secret in &draft.secrets {
            if !used_secrets.contains(&secret.value) {
                self.push(
                    Diagnostic::new(Code::UnusedSecret, secret.span, format!("nothing reads the secret `{}`", secret.value))
                        .help(format!("use it in an expression (`${{{{ secrets.{} }}}}`) or remove it from `secrets`", secret.value)),
                );
            }
        }
    }

    /// A step whose `if` is always false never runs; nor does a step that
    /// needs it, unless its own `if` calls a status function.
    /// Steps are visited in topological order, so whether a step's needs
    /// never run is known when the step is reached: one pass.
    fn warn_dead_steps(
        &mut self,
        draft: &Draft<'_>,
        steps: &[Option<StepPlan>],
        needs: &[Vec<usize>],
        order: &[usize],
    ) {
        let mut dead = vec![false; draft.steps.len()];
        for &index in order {
            let Some(step) = &steps[index] else { continue };
            let constant_false = step
                .condition
                .as_ref()
                .is_some_and(|c| self.is_constant_false(c));
            let diagnostic = if constant_false {
                let span = step.condition.as_ref().map_or(step.span, |c| c.span);
                Diagnostic::new(
                    Code::DeadStep,
                    span,
                    format!("step `{}` never runs: its `if` is always false", step.id),
                )
                .help("remove the step, or fix the condition")
            } else {
                let status_aware = step
                    .condition
                    .as_ref()
                    .is_some_and(|c| self.engine.uses_status_function(c));
                let Some(&need) = needs[index]
                    .iter()
                    .find(|&&n| dead[n])
                    .filter(|_| !status_aware)
                else {
                    continue;
                };
                let need = draft.steps[need].id.value.as_str();
                Diagnostic::new(Code::DeadStep, step.span, format!("step `{}` never runs: it needs `{need}`, which never runs", step.id))
                    .help("a step whose dependency is skipped is skipped too; use `if: always()` to run it anyway, or remove it")
            };
            dead[index] = true;
            self.push(diagnostic);
        }
    }

    fn is_constant_false(&self, condition: &Expression) -> bool {
        self.engine
            .references(&condition.source)
            .is_ok_and(|refs| refs.is_empty())
            && !self.engine.uses_status_function(condition)
            && self
                .engine
                .eval_condition(condition, &crate::expr::Scope::new())
                .is_ok_and(|holds| !holds)
    }
}

fn index_u32(index: usize) -> u32 {
    u32::try_from(index).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests;
