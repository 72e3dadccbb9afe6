//! `ikp schema gateway|bastion`: the JSON Schema of a chart's values.
use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use ikp::values::ChartKind;
use ikp::values::model::schema_text;

/// Flags of `ikp schema`.
#[derive(Debug, clap::Args)]
pub struct SchemaCmd {
    /// The chart whose values schema to print (JSON Schema draft-07, usable as Helm's values.schema.json).
    #[arg(value_parser = ["gateway", "bastion"])]
    chart: String,
}

/// Runs `ikp schema`.
pub fn run(cmd: SchemaCmd) -> anyhow::Result<ExitCode> {
    let kind: ChartKind = cmd.chart.parse()?;
    let mut out = std::io::stdout().lock();
    match out
        .write_all(schema_text(kind).as_bytes())
        .and_then(|()| out.flush())
    {
        Ok(()) => Ok(ExitCode::SUCCESS),
        // A closed pipe (`ikp schema gateway | head`) is not a failure.
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(err) => Err(err).context("writing the schema to stdout"),
    }
}
