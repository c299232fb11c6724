//! `idflow events send KEY`: sends an outside event to the run step that
//! waits for KEY (`core.await_event`, a face gate), through an idflow
//! server (`--server URL`, token in IDFLOW_TOKEN) or straight into the
//! local data directory's run store (a server or worker on that store
//! goes on with the woken run).

use std::io::Write as _;

use anyhow::Context as _;
use serde_json::Value;

use super::data::{self, DataArgs};
use super::remote::ServerArgs;
use crate::Outcome;

/// Arguments of `idflow events`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: EventsCommand,
}

#[derive(Debug, clap::Subcommand)]
enum EventsCommand {
    /// Send an event: delivered to the step waiting for KEY, or kept for
    /// the first one that waits (7 days, IDFLOW_EVENT_RETENTION).
    Send {
        /// The key the waiting step names.
        key: String,
        /// What the step receives as `outputs.payload` (JSON; default null).
        #[arg(long, value_name = "JSON")]
        payload: Option<String>,
        /// Send it safely more than once: a key seen before is ignored.
        #[arg(long, value_name = "KEY")]
        idempotency_key: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
        #[command(flatten)]
        data: DataArgs,
    },
}

pub(crate) fn run(args: &Args) -> anyhow::Result<Outcome> {
    let EventsCommand::Send {
        key,
        payload,
        idempotency_key,
        server,
        data,
    } = &args.command;
    let payload: Value = match payload {
        Some(text) => serde_json::from_str(text).context("--payload is not JSON")?,
        None => Value::Null,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let answer = runtime.block_on(async {
        if let Some(client) = server.client()? {
            return client
                .send_event(key, &payload, idempotency_key.as_deref())
                .await;
        }
        let data_dir = data.resolve()?;
        let executor = data::executor(&data_dir, idflow_cli::registry::build()?).await?;
        let delivery = executor
            .deliver_event(key, &payload, idempotency_key.as_deref())
            .await?;
        Ok(serde_json::to_value(idflow_server::api::inbox::accepted(
            delivery,
        ))?)
    })?;
    let mut out = crate::commands::stdout();
    let line = match answer["status"].as_str() {
        Some("delivered") => format!(
            "delivered to step `{}` of run {}",
            answer["step"].as_str().unwrap_or_default(),
            answer["run_id"].as_str().unwrap_or_default()
        ),
        Some("kept") => format!(
            "kept: no run waits for `{key}` yet; the first step that waits for it receives it"
        ),
        Some("duplicate") => {
            "ignored: an event with this idempotency key was sent before".to_owned()
        }
        _ => format!("the server answered {answer}"),
    };
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(Outcome::Success)
}
