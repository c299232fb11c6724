//! What the cases reached, per workflow: steps that never ran, and `if`
//! conditions that were never true or never false (a branch no case took).

use std::path::{Path, PathBuf};

use idflow_engine::model::Workflow;
use idflow_engine::run::StepState;
use serde::Serialize;

use crate::trace::Trace;

/// Coverage of every workflow the suite tested, in the order first tested.
#[derive(Debug, Clone, Default)]
pub struct Coverage {
    workflows: Vec<Tally>,
}

#[derive(Debug, Clone)]
struct Tally {
    path: PathBuf,
    cases: usize,
    /// Per step: id, has an `if`.
    steps: Vec<(String, bool)>,
    /// Per step: has an `if` that can be false.
    can_be_false: Vec<bool>,
    ran: Vec<bool>,
    if_true: Vec<bool>,
    if_false: Vec<bool>,
}

/// What the cases of one workflow did not reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkflowCoverage {
    /// The workflow's path.
    pub workflow: String,
    /// Cases that ran it to the end.
    pub cases: usize,
    /// Steps no case ran (no attempt started).
    pub steps_never_run: Vec<String>,
    /// Steps whose `if` no case found true.
    pub if_never_true: Vec<String>,
    /// Steps whose `if` no case found false.
    pub if_never_false: Vec<String>,
}

impl WorkflowCoverage {
    /// Whether every step ran and every `if` went both ways.
    pub fn is_complete(&self) -> bool {
        self.steps_never_run.is_empty()
            && self.if_never_true.is_empty()
            && self.if_never_false.is_empty()
    }
}

impl Coverage {
    /// Counts one case's run of `workflow` (at `path`).
    pub fn add(&mut self, path: &Path, workflow: &Workflow, trace: &Trace) {
        let position = self.workflows.iter().position(|tally| tally.path == path);
        let position = if let Some(position) = position {
            position
        } else {
            let count = workflow.steps.len();
            self.workflows.push(Tally {
                path: path.to_path_buf(),
                cases: 0,
                steps: workflow
                    .steps
                    .iter()
                    .map(|step| (step.id.clone(), step.condition.is_some()))
                    .collect(),
                can_be_false: workflow
                    .steps
                    .iter()
                    // `if: always()` is never false: no case can make it so.
                    .map(|step| {
                        step.condition
                            .as_ref()
                            .is_some_and(|condition| condition.source.trim() != "always()")
                    })
                    .collect(),
                ran: vec![false; count],
                if_true: vec![false; count],
                if_false: vec![false; count],
            });
            self.workflows.len() - 1
        };
        let tally = &mut self.workflows[position];
        tally.cases += 1;
        for (index, (id, _)) in tally.steps.iter().enumerate() {
            let Some(step) = trace.steps.get(id) else {
                continue;
            };
            if !step.attempts.is_empty() {
                tally.ran[index] = true;
            }
            if step.condition_held {
                tally.if_true[index] = true;
            }
            if step.status == StepState::Skipped && step.why == Some(crate::trace::SKIPPED_BY_IF) {
                tally.if_false[index] = true;
            }
        }
    }

    /// What each workflow's cases did not reach.
    pub fn report(&self) -> Vec<WorkflowCoverage> {
        self.workflows
            .iter()
            .map(|tally| {
                let has_if: Vec<bool> = tally.steps.iter().map(|(_, has_if)| *has_if).collect();
                let every = vec![true; tally.steps.len()];
                let pick = |seen: &[bool], counted: &[bool]| -> Vec<String> {
                    tally
                        .steps
                        .iter()
                        .zip(seen.iter().zip(counted))
                        .filter(|(_, (seen, counted))| **counted && !**seen)
                        .map(|((id, _), _)| id.clone())
                        .collect()
                };
                WorkflowCoverage {
                    workflow: tally.path.display().to_string(),
                    cases: tally.cases,
                    steps_never_run: pick(&tally.ran, &every),
                    if_never_true: pick(&tally.if_true, &has_if),
                    if_never_false: pick(&tally.if_false, &tally.can_be_false),
                }
            })
            .collect()
    }
}
