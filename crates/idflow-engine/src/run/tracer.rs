//! A hook that ties each run's `run` span to a trace of the run's own, for
//! a tracing backend the engine does not know (the `idflow` binary's
//! OpenTelemetry exporter). The engine only makes `tracing` spans (one per
//! run each time a process drives it, one per attempt inside it); a
//! [`RunTracer`] given to the [`Executor`](super::Executor) or a
//! [`RunRequest`](super::RunRequest) places the run span in a trace and
//! names that trace, and the run's result says which (`trace_id`).
//!
//! A run may be driven many times (a start, then after each park, crash or
//! restart, perhaps by other processes): a tracer that derives the trace
//! from the run id puts every one of those drives in the same trace.

/// Places run spans in traces.
pub trait RunTracer: Send + Sync + 'static {
    /// The id of the trace the run's spans belong to, as it is shown
    /// (for OpenTelemetry, 32 lowercase hex digits); `None`: not traced.
    fn trace_id(&self, run_id: &str) -> Option<String>;

    /// Puts `span`, the `run` span of one drive of the run, into the
    /// run's trace. Called before anything happens inside it.
    fn attach(&self, run_id: &str, span: &tracing::Span);
}
