//! `ikp golden check|update DIR`: golden files of rendered output.
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use ikp::tools::golden::{self, CaseResult, GoldenCase, Summary};

use super::render::{RenderCmd, render_in_dir};

/// Golden-file subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum GoldenCmd {
    /// Render every case under DIR and compare with its expected.yaml; print a unified diff per
    /// mismatch. Exit 1 on any mismatch or missing expected file.
    Check {
        /// A case directory (holding an `args` file) or a directory of cases.
        dir: PathBuf,
    },
    /// Render every case under DIR and write its expected.yaml.
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

/// Renders one case; a render error becomes the case's text, so expected failures can be golden.
fn render_case(case: &GoldenCase) -> String {
    let result = CaseArgs::try_parse_from(&case.args)
        .map_err(|err| err.to_string())
        .and_then(|parsed| {
            render_in_dir(&parsed.render, &case.dir).map_err(|err| format!("{err:#}"))
        });
    golden::rendered_text(result)
}

/// Runs `ikp golden`.
pub fn run(cmd: GoldenCmd, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    match cmd {
        GoldenCmd::Check { dir } => {
            let cases = golden::discover(&dir)?;
            let mut summary = Summary::default();
            for case in &cases {
                let result = golden::check_case(case, &render_case(case));
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
            let cases = golden::discover(&dir)?;
            let mut changed = 0;
            for case in &cases {
                if golden::update_case(case, &render_case(case))? {
                    changed += 1;
                    writeln!(out, "updated {}", case.name)?;
                }
            }
            writeln!(
                out,
                "golden: {} cases, {changed} updated, {} unchanged",
                cases.len(),
                cases.len() - changed
            )?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
