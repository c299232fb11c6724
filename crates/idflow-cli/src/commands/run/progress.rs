//! Live progress of a run and the logging setup.
//!
//! In a terminal: one line per step (state, attempt, elapsed time) redrawn
//! as the run goes, with log lines printed above them. Otherwise: one plain
//! log line per state change. `--log-format json` gives structured logs
//! (the engine's spans carry run id, step id and attempt): every line on
//! stderr is then a JSON object, diagnostics and errors included.

use std::io::{IsTerminal as _, Write as _};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use idflow_engine::diagnostic::Report;
use idflow_engine::model::Workflow;
use idflow_engine::run::{Progress, RunObserver, StepState, WaitReason};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How logs are written on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// Lines for people.
    Text,
    /// One JSON object per line.
    Json,
}

/// Draws progress and owns the log output.
pub(crate) struct Display {
    inner: Arc<Inner>,
}

struct Inner {
    bars: Option<(MultiProgress, Vec<ProgressBar>)>,
    /// Keeps plain progress lines whole when steps report at once.
    lines: Mutex<()>,
}

impl Display {
    /// Sets up logging and, in a terminal, a line per step.
    pub(crate) fn start(workflow: &Workflow, format: LogFormat) -> Self {
        let interactive = std::io::stderr().is_terminal() && format == LogFormat::Text;
        let bars = interactive.then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template("{spinner} {prefix:20} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
            let bars = workflow
                .steps
                .iter()
                .map(|step| {
                    let bar = multi.add(ProgressBar::new_spinner().with_style(style.clone()));
                    bar.set_prefix(step.id.clone());
                    bar.set_message("pending");
                    bar
                })
                .collect();
            (multi, bars)
        });
        init_logging(format, bars.as_ref().map(|(multi, _)| multi.clone()));
        Self {
            inner: Arc::new(Inner {
                bars,
                lines: Mutex::new(()),
            }),
        }
    }

    /// What the run reports progress to.
    pub(crate) fn observer(&self) -> impl RunObserver + 'static {
        let inner = Arc::clone(&self.inner);
        move |progress: &Progress| inner.show(progress)
    }

    /// Stops drawing (the lines stay on screen).
    pub(crate) fn finish(&self) {
        if let Some((_, bars)) = &self.inner.bars {
            for bar in bars {
                if !bar.is_finished() {
                    bar.finish();
                }
            }
        }
    }
}

fn describe(progress: &Progress) -> String {
    let state = match progress.state {
        StepState::Pending => "pending",
        StepState::Running => "running",
        StepState::Waiting => match progress.wait {
            Some(WaitReason::Retry) => "waiting to retry",
            Some(WaitReason::Poll) => "waiting to poll again",
            None => "waiting",
        },
        StepState::Succeeded => "succeeded",
        StepState::Failed => "failed",
        StepState::Skipped => "skipped",
        StepState::Cancelled => "cancelled",
    };
    let mut text = state.to_owned();
    if progress.attempt > 1
        || matches!(progress.state, StepState::Running | StepState::Waiting) && progress.attempt > 0
    {
        text.push_str(&format!(" (attempt {})", progress.attempt));
    }
    if progress.elapsed > Duration::ZERO {
        text.push_str(&format!(" {:.2}s", progress.elapsed.as_secs_f64()));
    }
    if let Some(error) = &progress.error {
        text.push_str(&format!(": {error}"));
    }
    text
}

impl Inner {
    fn show(&self, progress: &Progress) {
        let text = describe(progress);
        if let Some((_, bars)) = &self.bars {
            if let Some(bar) = bars.get(progress.step.get()) {
                bar.set_message(text);
                match progress.state {
                    StepState::Running | StepState::Waiting => {
                        bar.enable_steady_tick(Duration::from_millis(120));
                    }
                    StepState::Succeeded
                    | StepState::Failed
                    | StepState::Skipped
                    | StepState::Cancelled => bar.finish(),
                    StepState::Pending => {}
                }
            }
        } else {
            let _guard = self.lines.lock();
            tracing::info!(
                target: "idflow::progress",
                step = %progress.step_id,
                attempt = progress.attempt,
                at = format!("{:.3}s", progress.at.as_secs_f64()),
                "{}: {text}",
                progress.step_id
            );
        }
    }
}
/// Set once the JSON log format is in place: from then on every line on
/// stderr, errors included, is a JSON object.
static JSON_LOGS: AtomicBool = AtomicBool::new(false);

/// Whether stderr carries JSON logs (`--log-format json`).
pub(crate) fn json_logs() -> bool {
    JSON_LOGS.load(Ordering::Relaxed)
}

/// Shows a diagnostic of the workflow: rendered with its source line for
/// people, one log event with its place and code in JSON.
pub(crate) fn diagnostic(report: &Report, format: LogFormat, color: bool) -> std::io::Result<()> {
    if format == LogFormat::Text {
        return write!(std::io::stderr().lock(), "{}", report.render(color));
    }
    let found = report.to_json();
    let help = found.help.as_deref().unwrap_or_default();
    if report.diagnostic.is_error() {
        tracing::error!(file = %found.file, line = found.line, column = found.column, code = found.code, help, "{}", found.message);
    } else {
        tracing::warn!(file = %found.file, line = found.line, column = found.column, code = found.code, help, "{}", found.message);
    }
    Ok(())
}

/// Says something to the user on stderr: plain lines, or one error event
/// per line in JSON.
pub(crate) fn say(format: LogFormat, lines: &[String]) -> std::io::Result<()> {
    let mut err = std::io::stderr().lock();
    for line in lines {
        match format {
            LogFormat::Text => writeln!(err, "{line}")?,
            LogFormat::Json => tracing::error!("{line}"),
        }
    }
    Ok(())
}

/// Logs go to stderr; in a terminal with progress lines, above them. Only
/// the first call sets them up.
pub(crate) fn init_logging(format: LogFormat, multi: Option<MultiProgress>) {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::fmt::MakeWriter;

    #[derive(Clone)]
    struct AboveBars(MultiProgress);
    struct LineWriter(MultiProgress, Vec<u8>);
    impl std::io::Write for LineWriter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.1.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    impl Drop for LineWriter {
        fn drop(&mut self) {
            let text = String::from_utf8_lossy(&self.1);
            let _ = self.0.println(text.trim_end());
        }
    }
    impl<'a> MakeWriter<'a> for AboveBars {
        type Writer = LineWriter;
        fn make_writer(&'a self) -> Self::Writer {
            LineWriter(self.0.clone(), Vec::new())
        }
    }

    let filter = EnvFilter::try_from_env("IDFLOW_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi && format == LogFormat::Text);
    let _ = match (format, multi) {
        (LogFormat::Json, _) => {
            let done = builder
                .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
                .event_format(super::json_log::FlatJson)
                .with_writer(std::io::stderr)
                .try_init();
            if done.is_ok() {
                JSON_LOGS.store(true, Ordering::Relaxed);
            }
            done
        }
        (LogFormat::Text, Some(multi)) => builder
            .compact()
            .without_time()
            .with_writer(AboveBars(multi))
            .try_init(),
        (LogFormat::Text, None) => builder.compact().with_writer(std::io::stderr).try_init(),
    };
}
