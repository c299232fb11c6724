//! `idflow completions SHELL` and `idflow man`: shell completions
//! (clap_complete) and the manual pages (clap_mangen), both made from the
//! command-line definition itself, so they cannot drift from it.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;

use crate::Outcome;

/// Arguments of `idflow completions`.
#[derive(Debug, clap::Args)]
pub(crate) struct CompletionsArgs {
    /// The shell. Bash: `idflow completions bash >
    /// ~/.local/share/bash-completion/completions/idflow`; zsh: into a folder
    /// of `$fpath` as `_idflow`; fish: `~/.config/fish/completions/idflow.fish`.
    shell: clap_complete::Shell,
}

/// Arguments of `idflow man`.
#[derive(Debug, clap::Args)]
pub(crate) struct ManArgs {
    /// Write one page per command (`idflow.1`, `idflow-run.1`, ...) into
    /// this folder instead of printing the page of `idflow` on stdout.
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
}

pub(crate) fn completions(
    args: &CompletionsArgs,
    mut command: clap::Command,
) -> anyhow::Result<Outcome> {
    // Made in memory first: clap_complete panics when its writer fails,
    // and a closed stdout is not an error (`super::stdout`).
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "idflow", &mut script);
    super::stdout().write_all(&script)?;
    Ok(Outcome::Success)
}

pub(crate) fn man(args: &ManArgs, command: clap::Command) -> anyhow::Result<Outcome> {
    if let Some(dir) = &args.out_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        clap_mangen::generate_to(command, dir)
            .with_context(|| format!("cannot write the manual pages into {}", dir.display()))?;
        return Ok(Outcome::Success);
    }
    let mut page = Vec::new();
    clap_mangen::Man::new(command).render(&mut page)?;
    super::stdout().write_all(&page)?;
    Ok(Outcome::Success)
}
