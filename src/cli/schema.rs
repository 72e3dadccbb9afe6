//! `ikp schema gateway|bastion`: the JSON Schema of a chart's values.
use std::io::Write;
use std::process::ExitCode;

use ikp::release::values::ChartKind;
use ikp::release::values::model::schema_text;

/// Flags of `ikp schema`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
Examples:
  # The gateway's values schema, for an editor or Helm's values.schema.json
  ikp schema gateway > gateway.values.schema.json

  # The bastion's, keys sorted
  ikp schema bastion | python3 -m json.tool --sort-keys")]
pub(super) struct SchemaCmd {
    /// The chart whose values schema to print (JSON Schema draft-07, usable as Helm's values.schema.json).
    #[arg(value_parser = ["gateway", "bastion"])]
    chart: String,
}

/// Runs `ikp schema`.
pub(super) fn run(cmd: SchemaCmd, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let kind: ChartKind = cmd.chart.parse()?;
    out.write_all(schema_text(kind).as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
