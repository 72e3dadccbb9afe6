//! `ikp render`: flags of `helm template`, output of `helm template`.
use std::process::ExitCode;

/// Flags of `ikp render`.
#[derive(Debug, clap::Args)]
pub struct RenderCmd {}

/// Runs `ikp render`.
pub fn run(_cmd: RenderCmd) -> anyhow::Result<ExitCode> {
    anyhow::bail!("ikp render is not built yet")
}
