//! `ikp serve`: the InterLink plugin HTTP API.
use std::process::ExitCode;

/// Flags of `ikp serve`.
#[derive(Debug, clap::Args)]
pub struct ServeCmd {}

/// Runs `ikp serve`.
pub fn run(_cmd: ServeCmd) -> anyhow::Result<ExitCode> {
    anyhow::bail!("ikp serve is not built yet")
}
