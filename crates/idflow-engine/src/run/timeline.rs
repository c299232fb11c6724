//! A run's history for people: every attempt of every step with when it
//! started and ended and how, and the waits between attempts (a retry's
//! backoff, a poll gate's interval), read from the run's log. What a run
//! viewer draws as a timeline.
//!
//! It carries no step outputs (they may be credentials): only times,
//! outcomes and errors, which the driver redacted before recording them.

use std::collections::HashMap;
use std::time::Duration;

use idflow_core::ErrorClass;
use serde::Serialize;
use time::OffsetDateTime;

use super::event::{Event, EventKind};
use crate::model::{StepIndex, Workflow};

/// A run's attempts and waits, in the order they began.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timeline {
    /// Attempts and waits, ordered by start.
    pub entries: Vec<TimelineEntry>,
}

/// One attempt of a step, or one wait between two attempts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelineEntry {
    /// The step's id.
    pub step: String,
    /// What it is.
    pub kind: EntryKind,
    /// The attempt (for a wait: the attempt it waits to start).
    pub attempt: u32,
    /// When it began.
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// When it ended (none: it goes on, or the run stopped first).
    #[serde(with = "time::serde::rfc3339::option")]
    pub ended_at: Option<OffsetDateTime>,
    /// How an attempt ended: `succeeded`, `failed`, `timed_out`,
    /// `interrupted`; none while it runs, and for waits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<&'static str>,
    /// A failed attempt's error (redacted when it was recorded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<EntryError>,
}

/// What a timeline entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// A step attempt.
    Attempt,
    /// Waiting to try again after a failed attempt.
    RetryWait,
    /// Waiting to poll again after an attempt whose `until` said not yet.
    PollWait,
}

/// An error of a failed attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntryError {
    /// Its stable code.
    pub code: String,
    /// What happened (redacted).
    pub message: String,
    /// Whether a retry may help.
    pub retryable: bool,
}

impl Timeline {
    /// The timeline of a run of `workflow` that started at `started_at`,
    /// from its decoded log.
    pub fn of(workflow: &Workflow, started_at: OffsetDateTime, events: &[Event]) -> Self {
        let at = |offset: Duration| started_at + offset;
        let id = |step: StepIndex| {
            workflow
                .steps
                .get(step.get())
                .map_or_else(|| format!("#{}", step.0), |plan| plan.id.clone())
        };
        let mut entries: Vec<TimelineEntry> = Vec::new();
        // The attempt running now, and the last attempt, of each step.
        let mut open: HashMap<StepIndex, usize> = HashMap::new();
        let mut last: HashMap<StepIndex, usize> = HashMap::new();
        let close = |entries: &mut Vec<TimelineEntry>,
                     open: &mut HashMap<StepIndex, usize>,
                     step: StepIndex,
                     when: Duration,
                     outcome: &'static str,
                     error: Option<EntryError>| {
            if let Some(index) = open.remove(&step) {
                let entry = &mut entries[index];
                entry.ended_at = Some(at(when));
                entry.outcome = Some(outcome);
                entry.error = error;
            }
        };
        for event in events {
            match &event.kind {
                EventKind::AttemptStarted { step, attempt } => {
                    open.insert(*step, entries.len());
                    last.insert(*step, entries.len());
                    entries.push(TimelineEntry {
                        step: id(*step),
                        kind: EntryKind::Attempt,
                        attempt: *attempt,
                        started_at: at(event.at),
                        ended_at: None,
                        outcome: None,
                        error: None,
                    });
                }
                EventKind::AttemptSucceeded { step, .. } => {
                    close(&mut entries, &mut open, *step, event.at, "succeeded", None);
                }
                EventKind::AttemptFailed { step, error, .. } => {
                    let error = EntryError {
                        code: error.code.clone(),
                        message: error.message.clone(),
                        retryable: error.class == ErrorClass::Retryable,
                    };
                    close(
                        &mut entries,
                        &mut open,
                        *step,
                        event.at,
                        "failed",
                        Some(error),
                    );
                }
                EventKind::AttemptTimedOut { step, .. } => {
                    close(&mut entries, &mut open, *step, event.at, "timed_out", None);
                }
                EventKind::AttemptInterrupted { step, .. } => {
                    close(
                        &mut entries,
                        &mut open,
                        *step,
                        event.at,
                        "interrupted",
                        None,
                    );
                }
                EventKind::TimerFired { timer } => {
                    // The timer ends a wait that began when the step's last
                    // attempt ended.
                    let Some(previous) = last
                        .get(&timer.step)
                        .map(|&index| &entries[index])
                        .filter(|previous| previous.outcome.is_some())
                    else {
                        continue;
                    };
                    let kind = if previous.outcome == Some("succeeded") {
                        EntryKind::PollWait
                    } else {
                        EntryKind::RetryWait
                    };
                    let wait = TimelineEntry {
                        step: previous.step.clone(),
                        kind,
                        attempt: previous.attempt + 1,
                        started_at: previous.ended_at.unwrap_or(previous.started_at),
                        ended_at: Some(at(event.at)),
                        outcome: None,
                        error: None,
                    };
                    entries.push(wait);
                }
                EventKind::RunStarted { .. }
                | EventKind::RunTimedOut
                | EventKind::CancelRequested { .. } => {}
            }
        }
        entries.sort_by_key(|entry| entry.started_at);
        Self { entries }
    }
}
