//! Command line: one subcommand per job; each submodule owns its flags and turns them into library calls.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod apply;
mod golden;
mod keygen;
mod render;
mod schema;
mod serve;
pub mod values_args;

/// ikp: render and apply the InterLink tunnel charts, and serve the InterLink Kubernetes plugin API.
#[derive(Debug, Parser)]
#[command(name = "ikp", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Render a chart's manifests, like `helm template`.
    Render(Box<render::RenderCmd>),
    /// Apply a release to a cluster with server-side apply (install or upgrade).
    Apply(apply::ApplyCmd),
    /// Show what `apply` would change in the cluster.
    Diff(apply::DiffCmd),
    /// Show a release's status.
    Status(apply::StatusCmd),
    /// List releases.
    List(apply::ListCmd),
    /// Show a release's revision history.
    History(apply::HistoryCmd),
    /// Delete every object of a release, then its record.
    Uninstall(apply::UninstallCmd),
    /// Check or update golden files of rendered output.
    #[command(subcommand)]
    Golden(golden::GoldenCmd),
    /// Generate an SSH key pair for the tunnel.
    Keygen(keygen::KeygenCmd),
    /// Print the JSON Schema of a chart's values.
    Schema(schema::SchemaCmd),
    /// Serve the InterLink plugin HTTP API.
    Serve(Box<serve::ServeCmd>),
}

/// Parses the process arguments, runs the command and maps its outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Render(cmd) => render::run(*cmd),
        Command::Apply(cmd) => apply::run_apply(cmd),
        Command::Diff(cmd) => apply::run_diff(cmd),
        Command::Status(cmd) => apply::run_status(cmd),
        Command::List(cmd) => apply::run_list(cmd),
        Command::History(cmd) => apply::run_history(cmd),
        Command::Uninstall(cmd) => apply::run_uninstall(cmd),
        Command::Golden(cmd) => golden::run(cmd),
        Command::Keygen(cmd) => keygen::run(cmd),
        Command::Schema(cmd) => schema::run(cmd),
        Command::Serve(cmd) => serve::run(*cmd),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}
