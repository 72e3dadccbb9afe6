//! `ikp golden check|update DIR`: golden files of rendered output.
use std::process::ExitCode;

/// Golden-file subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum GoldenCmd {}

/// Runs `ikp golden`.
pub fn run(cmd: GoldenCmd) -> anyhow::Result<ExitCode> {
    match cmd {}
}
