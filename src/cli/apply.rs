//! `ikp apply|diff|status|list|history|uninstall`: releases applied with server-side apply.
use std::process::ExitCode;

/// Flags of `ikp apply`.
#[derive(Debug, clap::Args)]
pub struct ApplyCmd {}
/// Flags of `ikp diff`.
#[derive(Debug, clap::Args)]
pub struct DiffCmd {}
/// Flags of `ikp status`.
#[derive(Debug, clap::Args)]
pub struct StatusCmd {}
/// Flags of `ikp list`.
#[derive(Debug, clap::Args)]
pub struct ListCmd {}
/// Flags of `ikp history`.
#[derive(Debug, clap::Args)]
pub struct HistoryCmd {}
/// Flags of `ikp uninstall`.
#[derive(Debug, clap::Args)]
pub struct UninstallCmd {}

/// Runs `ikp apply`.
pub fn run_apply(_cmd: ApplyCmd) -> anyhow::Result<ExitCode> {
    anyhow::bail!("ikp apply is not built yet")
}
/// Runs `ikp diff`.
pub fn run_diff(_cmd: DiffCmd) -> anyhow::Result<ExitCode> {
    anyhow::bail!("ikp diff is not built yet")
}
/// Runs `ikp status`.
pub fn run_status(_cmd: StatusCmd) -> anyhow::Result<ExitCode> {
    anyhow::bail!("ikp status is not built yet")
}
/// Runs `ikp list`.
pub fn run_list(_cmd: ListCmd) -> anyhow::Result<ExitCode> {
    anyhow::bail!("ikp list is not built yet")
}
/// Runs `ikp history`.
pub fn run_history(_cmd: HistoryCmd) -> anyhow::Result<ExitCode> {
    anyhow::bail!("ikp history is not built yet")
}
/// Runs `ikp uninstall`.
pub fn run_uninstall(_cmd: UninstallCmd) -> anyhow::Result<ExitCode> {
    anyhow::bail!("ikp uninstall is not built yet")
}
