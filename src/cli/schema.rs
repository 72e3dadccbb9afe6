//! `ikp schema gateway|bastion`: the JSON Schema of a chart's values.
use std::process::ExitCode;

/// Flags of `ikp schema`.
#[derive(Debug, clap::Args)]
pub struct SchemaCmd {}

/// Runs `ikp schema`.
pub fn run(_cmd: SchemaCmd) -> anyhow::Result<ExitCode> {
    anyhow::bail!("ikp schema is not built yet")
}
