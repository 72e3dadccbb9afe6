//! `ikp show values|chart|readme CHART`: a built-in chart's files, as `helm show` prints a chart's.
use std::io::Write;
use std::process::ExitCode;

use ikp::release::chart::builtin_files;

/// What `ikp show` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ShowWhat {
    /// The chart's `values.yaml`, byte for byte.
    Values,
    /// The chart's `Chart.yaml`.
    Chart,
    /// The chart's `README.md`.
    Readme,
}

/// Flags of `ikp show`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
Examples:
  # The gateway's default values, to edit and pass back with -f
  ikp show values gateway > my-values.yaml

  # The bastion's Chart.yaml and README
  ikp show chart bastion
  ikp show readme bastion")]
pub(super) struct ShowCmd {
    /// Which file to print.
    #[arg(value_enum)]
    what: ShowWhat,
    /// A built-in chart.
    #[arg(value_parser = ["gateway", "bastion"])]
    chart: String,
}

/// Runs `ikp show`.
pub(super) fn run(cmd: ShowCmd, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let path = match cmd.what {
        ShowWhat::Values => "values.yaml",
        ShowWhat::Chart => "Chart.yaml",
        ShowWhat::Readme => "README.md",
    };
    let content = builtin_files(&cmd.chart)
        .and_then(|files| files.iter().find(|(p, _)| *p == path))
        .map(|(_, content)| *content)
        .ok_or_else(|| anyhow::anyhow!("chart {:?} has no {path}", cmd.chart))?;
    out.write_all(content.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
