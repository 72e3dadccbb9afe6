//! Command line: one subcommand per job; each submodule owns its flags and turns them into library calls.
//!
//! Every command writes its output to the `out` it is given and returns its errors; `main` maps both to
//! the exit code and prints the one `error: ` line, so a closed pipe or a failure is handled the same way
//! for all of them.

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod apply;
mod args;
mod completion;
#[cfg(test)]
mod examples_tests;
mod get;
mod golden;
mod keygen;
mod man;
mod output;
mod render;
mod rollback;
mod schema;
mod serve;
mod show;

/// ikp: render and apply the InterLink tunnel charts, and serve the InterLink Kubernetes plugin API.
///
/// Exit status: 0 success, 1 a values, render or cluster error, 2 a usage error; `ikp diff` exits
/// 0 when nothing would change, 1 when something would, 2 on any error. Errors are one line on stderr,
/// starting `error: `.
#[derive(Debug, Parser)]
#[command(
    name = "ikp",
    version,
    about,
    long_about,
    propagate_version = true,
    after_long_help = "\
Examples:
  # Render the gateway chart, then install it
  ikp render msoff gateway --set-file ssh.publicKey=examples/id_ed25519.pub
  ikp apply msoff gateway -n myservice --create-namespace \\
    --set-file ssh.publicKey=examples/id_ed25519.pub

  # A command's flags and examples
  ikp render --help"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// One variant per subcommand; each variant's doc comment is the subcommand's description.
#[derive(Debug, Subcommand)]
enum Command {
    /// Render a chart's manifests, like `helm template`.
    Render(Lazy<Box<render::RenderCmd>>),
    /// Apply a release to a cluster with server-side apply (install or upgrade).
    Apply(Lazy<Box<apply::ApplyCmd>>),
    /// Show what `apply` would change in the cluster.
    ///
    /// Exit status, as with `kubectl diff`: 0 nothing would change, 1 something would, 2 an error
    /// (values, render, cluster or usage).
    Diff(Lazy<Box<apply::DiffCmd>>),
    /// Show a release's status.
    Status(Lazy<apply::StatusCmd>),
    /// List releases.
    List(Lazy<apply::ListCmd>),
    /// Show a release's revision history.
    History(Lazy<apply::HistoryCmd>),
    /// Print a revision's values, manifest or notes, like `helm get`.
    Get(Lazy<get::GetCmd>),
    /// Apply an earlier revision's recorded manifest again, as a new revision.
    Rollback(Lazy<rollback::RollbackCmd>),
    /// Delete every object of a release, then its record.
    Uninstall(Lazy<apply::UninstallCmd>),
    /// Check or update golden files of rendered output.
    #[command(
        subcommand,
        after_long_help = "\
Examples:
  # In CI: fail when a chart change alters the rendered output of a case under golden/
  ikp golden check golden/

  # After a deliberate change: rewrite the expected output
  ikp golden update golden/"
    )]
    Golden(golden::GoldenCmd),
    /// Generate an SSH key pair for the tunnel.
    Keygen(Lazy<keygen::KeygenCmd>),
    /// Print the JSON Schema of a chart's values.
    Schema(Lazy<schema::SchemaCmd>),
    /// Print a built-in chart's values.yaml, Chart.yaml or README.md, like `helm show`.
    Show(Lazy<show::ShowCmd>),
    /// Serve the InterLink plugin HTTP API.
    Serve(Lazy<Box<serve::ServeCmd>>),
    /// Print the shell completion script for bash, zsh or fish.
    Completion(Lazy<completion::CompletionCmd>),
    /// Print a command's manual page (roff), or write every command's into a directory.
    Man(Lazy<man::ManCmd>),
}

/// A subcommand's arguments, added to its `clap::Command` only when that subcommand is parsed or
/// its help shown (clap's `defer`): an `ikp render` process does not build the flags of every
/// other command.
#[derive(Debug)]
struct Lazy<T>(T);

impl<T: clap::Args> clap::Args for Lazy<T> {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        cmd.defer(|cmd| keep_description(cmd, T::augment_args))
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        cmd.defer(|cmd| keep_description(cmd, T::augment_args_for_update))
    }

    fn group_id() -> Option<clap::Id> {
        T::group_id()
    }
}

/// Adds deferred arguments without changing the subcommand's description: the variant's doc
/// comment is set before they are added, and an argument struct's own doc comment would replace
/// it (added eagerly, the arguments come first and the variant's description last).
fn keep_description(
    cmd: clap::Command,
    augment: fn(clap::Command) -> clap::Command,
) -> clap::Command {
    let about = cmd.get_about().cloned();
    let long_about = cmd.get_long_about().cloned();
    let cmd = augment(cmd);
    let cmd = match about {
        Some(about) => cmd.about(about),
        None => cmd.about(None::<&'static str>),
    };
    match long_about {
        Some(long_about) => cmd.long_about(long_about),
        None => cmd.long_about(None::<&'static str>),
    }
}

impl<T: clap::FromArgMatches> clap::FromArgMatches for Lazy<T> {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches(matches).map(Lazy)
    }

    fn from_arg_matches_mut(matches: &mut clap::ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches_mut(matches).map(Lazy)
    }

    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches(matches)
    }

    fn update_from_arg_matches_mut(
        &mut self,
        matches: &mut clap::ArgMatches,
    ) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches_mut(matches)
    }
}

pub(crate) use completion::answer_if_requested as answer_completion_request;

/// Exit code of a command that failed.
const FAILURE: u8 = 1;
/// Exit code of a usage error, clap's or a [`UsageError`].
const USAGE: u8 = 2;
/// Exit code of `ikp diff` on an error: 1 means "changes found" there, as with `kubectl diff`.
const DIFF_FAILURE: u8 = 2;

impl Cli {
    /// Parses the process arguments `args` (program name first). Help and version are printed here
    /// (exit 0); a usage error is printed as one `error: ` line and its exit code (2) returned.
    pub(crate) fn parse_args(args: Vec<std::ffi::OsString>) -> Result<Cli, ExitCode> {
        Cli::try_parse_from(args).map_err(|err| report_usage_error(&err))
    }

    /// The exit code if the command fails with an error that is not a [`UsageError`].
    pub(crate) fn failure_code(&self) -> u8 {
        match self.command {
            Command::Diff(_) => DIFF_FAILURE,
            _ => FAILURE,
        }
    }

    /// For `ikp render` with `IKP_TIMINGS` set: an empty [`render::Timings`] counted from
    /// `started`, to pass to [`Cli::run`] and print afterwards.
    pub(crate) fn timings(&self, started: std::time::Instant) -> Option<render::Timings> {
        match self.command {
            Command::Render(_) => render::Timings::from_env(started),
            _ => None,
        }
    }

    /// Runs the command, writing its output to `out`; `ikp render` adds where its time went to
    /// `timings` when given (other commands leave it alone).
    pub(crate) fn run(
        self,
        out: &mut dyn Write,
        timings: Option<&mut render::Timings>,
    ) -> anyhow::Result<ExitCode> {
        match self.command {
            Command::Render(Lazy(cmd)) => render::run(*cmd, out, timings),
            Command::Apply(Lazy(cmd)) => apply::run_apply(*cmd, out),
            Command::Diff(Lazy(cmd)) => apply::run_diff(*cmd, out),
            Command::Status(Lazy(cmd)) => apply::run_status(cmd, out),
            Command::List(Lazy(cmd)) => apply::run_list(cmd, out),
            Command::History(Lazy(cmd)) => apply::run_history(cmd, out),
            Command::Get(Lazy(cmd)) => get::run(cmd, out),
            Command::Rollback(Lazy(cmd)) => rollback::run(cmd, out),
            Command::Uninstall(Lazy(cmd)) => apply::run_uninstall(cmd, out),
            Command::Golden(cmd) => golden::run(cmd, out),
            Command::Keygen(Lazy(cmd)) => keygen::run(cmd, out),
            Command::Schema(Lazy(cmd)) => schema::run(cmd, out),
            Command::Show(Lazy(cmd)) => show::run(cmd, out),
            Command::Serve(Lazy(cmd)) => serve::run(*cmd, out),
            Command::Completion(Lazy(cmd)) => completion::run(cmd, out),
            Command::Man(Lazy(cmd)) => man::run(cmd, out),
        }
    }
}

/// Prints a clap outcome that is not a parsed command line and returns its exit code: help and
/// version as clap writes them, a usage error folded onto one `error: ` line.
fn report_usage_error(err: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let code = u8::try_from(err.exit_code()).unwrap_or(2);
    match err.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            // A closed stdout (`ikp --help | head -0`) leaves nothing to report.
            let _ = err.print();
        }
        _ => {
            let _ = writeln!(std::io::stderr(), "{}", usage_error_line(&err.to_string()));
        }
    }
    ExitCode::from(code)
}

/// clap's multi-line usage error as one line: the message with its tips and possible values, and the
/// command whose `--help` explains it (the usage block itself is left out).
fn usage_error_line(text: &str) -> String {
    let mut line = String::new();
    let mut command = None;
    for raw in text.lines() {
        let trimmed = raw.trim();
        if let Some(usage) = trimmed.strip_prefix("Usage:") {
            command.get_or_insert_with(|| {
                usage
                    .split_whitespace()
                    .take_while(|word| !word.starts_with(['[', '<', '-']))
                    .collect::<Vec<_>>()
                    .join(" ")
            });
            continue;
        }
        if trimmed.is_empty() || trimmed.starts_with("For more information") || command.is_some() {
            continue;
        }
        if line.is_empty() {
            line.push_str(trimmed);
        } else if trimmed.starts_with("tip:") {
            line.push_str("; ");
            line.push_str(trimmed);
        } else {
            line.push(' ');
            line.push_str(trimmed);
        }
    }
    if !line.starts_with("error:") {
        line.insert_str(0, "error: ");
    }
    match command {
        Some(command) if !command.is_empty() => format!("{line} (see '{command} --help')"),
        _ => line,
    }
}

/// A command line that parses but asks for something the command cannot do (a flag that does not
/// apply with another): exits 2, like clap's usage errors.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct UsageError(pub String);

/// The exit code of a failed command: 2 for a usage error, else the command's `failure` code.
pub(crate) fn exit_code_of(err: &anyhow::Error, failure: u8) -> ExitCode {
    if err.downcast_ref::<UsageError>().is_some() {
        ExitCode::from(USAGE)
    } else {
        ExitCode::from(failure)
    }
}

/// The error and its causes on one line, each cause once: a cause whose text an outer message already
/// includes (many errors quote their source) is not repeated.
pub(crate) fn error_line(err: &anyhow::Error) -> String {
    let mut line = err.to_string();
    for cause in err.chain().skip(1) {
        let text = cause.to_string();
        if text.is_empty() || line.contains(&text) {
            continue;
        }
        line.push_str(": ");
        line.push_str(&text);
    }
    line
}

/// Whether the error comes from writing to a closed pipe (`ikp ... | head`), which is not a failure.
pub(crate) fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read nope.pub (for ssh.publicKey): {source}")]
    struct Quoting {
        #[source]
        source: std::io::Error,
    }

    #[test]
    fn a_cause_quoted_by_its_error_is_printed_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory");
        let err = anyhow::Error::new(Quoting { source: io }).context("values");
        assert_eq!(
            error_line(&err),
            "values: cannot read nope.pub (for ssh.publicKey): No such file or directory"
        );
    }

    #[test]
    fn causes_not_quoted_are_appended() {
        let err = anyhow::anyhow!("inner").context("outer");
        assert_eq!(error_line(&err), "outer: inner");
    }

    #[test]
    fn broken_pipe_is_found_under_context() {
        let io = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        let err = anyhow::Error::new(io).context("cannot write to stdout");
        assert!(is_broken_pipe(&err));
        assert!(!is_broken_pipe(&anyhow::anyhow!("broken pipe")));
    }

    #[test]
    fn usage_errors_fold_onto_one_line_naming_the_help() {
        let text = "error: invalid value 'bogus' for '--dry-run[=<MODE>]'\n  [possible values: client, server]\n\nFor more information, try '--help'.\n";
        assert_eq!(
            usage_error_line(text),
            "error: invalid value 'bogus' for '--dry-run[=<MODE>]' [possible values: client, server]"
        );
        let text = "error: unexpected argument '--sett' found\n\n  tip: a similar argument exists: '--set'\n\nUsage: ikp render --set <KEY=VALUE> <[NAME] CHART>...\n\nFor more information, try '--help'.\n";
        assert_eq!(
            usage_error_line(text),
            "error: unexpected argument '--sett' found; tip: a similar argument exists: '--set' (see 'ikp render --help')"
        );
    }
}
