//! `ikp golden check|update DIR`: golden files of rendered output.
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use ikp::tools::golden::{self, CaseResult, GoldenCase, Summary};

use super::render::{RenderCmd, render_in_dir};

/// Golden-file subcommands.
#[derive(Debug, clap::Subcommand)]
pub(super) enum GoldenCmd {
    /// Render every case under DIR and compare with its expected.yaml; print a unified diff per
    /// mismatch. Exit 1 on any mismatch, render error or missing expected file.
    #[command(after_long_help = "\
Examples:
  # Every case under golden/ (each a directory with an args file and expected.yaml)
  ikp golden check golden/

  # One case
  ikp golden check golden/seed-gateway")]
    Check {
        /// A case directory (holding an `args` file) or a directory of cases.
        dir: PathBuf,
    },
    /// Render every case under DIR and write its expected.yaml. Writes nothing and exits 1 when any
    /// case fails to render.
    #[command(after_long_help = "\
Examples:
  # Rewrite every case's expected.yaml after a chart change (then review them with git diff)
  ikp golden update golden/

  # One case
  ikp golden update golden/seed-bastion")]
    Update {
        /// A case directory (holding an `args` file) or a directory of cases.
        dir: PathBuf,
    },
}

/// A case's `args` parsed as the arguments of `ikp render`.
#[derive(Debug, Parser)]
#[command(name = "ikp render", no_binary_name = true)]
struct CaseArgs {
    #[command(flatten)]
    render: RenderCmd,
}

/// Renders one case: its output, or the render (or argument) error.
fn render_case(case: &GoldenCase) -> Result<String, String> {
    CaseArgs::try_parse_from(&case.args)
        .map_err(|err| err.to_string())
        .and_then(|parsed| {
            render_in_dir(&parsed.render, &case.dir).map_err(|err| format!("{err:#}"))
        })
}

/// Runs `ikp golden`.
pub(super) fn run(cmd: GoldenCmd, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    match cmd {
        GoldenCmd::Check { dir } => {
            let cases = golden::discover(&dir)?;
            let mut summary = Summary::default();
            for case in &cases {
                let rendered = render_case(case);
                let result = golden::check_case(case, rendered.as_deref().map_err(String::as_str));
                match &result {
                    CaseResult::Same => writeln!(out, "ok      {}", case.name)?,
                    CaseResult::Differs(diff) => {
                        writeln!(
                            out,
                            "FAILED  {} (output differs from {})",
                            case.name,
                            golden::EXPECTED_FILE
                        )?;
                        write!(out, "{diff}")?;
                    }
                    CaseResult::RenderFailed(message) => {
                        writeln!(out, "FAILED  {} (render error: {message})", case.name)?;
                    }
                    CaseResult::Missing => writeln!(
                        out,
                        "MISSING {}: no {} (run `ikp golden update {}`)",
                        case.name,
                        golden::EXPECTED_FILE,
                        dir.display()
                    )?,
                }
                summary.record(&result);
            }
            writeln!(out, "{summary}")?;
            Ok(if summary.all_passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        GoldenCmd::Update { dir } => {
            let rendered: Vec<_> = golden::discover(&dir)?
                .into_iter()
                .map(|case| {
                    let result = render_case(&case);
                    (case, result)
                })
                .collect();
            let changed = golden::update_cases(&rendered)?;
            for name in &changed {
                writeln!(out, "updated {name}")?;
            }
            writeln!(
                out,
                "golden: {} cases, {} updated, {} unchanged",
                rendered.len(),
                changed.len(),
                rendered.len() - changed.len()
            )?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
