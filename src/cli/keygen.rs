//! `ikp keygen`: an SSH key pair for the tunnel.
use std::process::ExitCode;

/// Flags of `ikp keygen`.
#[derive(Debug, clap::Args)]
pub struct KeygenCmd {}

/// Runs `ikp keygen`.
pub fn run(_cmd: KeygenCmd) -> anyhow::Result<ExitCode> {
    anyhow::bail!("ikp keygen is not built yet")
}
