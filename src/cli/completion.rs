//! `ikp completion bash|zsh|fish`: the shell script that completes `ikp` command lines, and the
//! completion requests that script makes.
//!
//! The script is small: at each TAB it calls `ikp` back with the words typed so far and
//! `IKP_COMPLETE=<shell>` in its environment (clap_complete's dynamic completion, as `helm __complete`
//! and `kubectl __complete` do), and `ikp` answers with the candidates before parsing anything else.
//! So the candidates come from the same command definition that parses the line — subcommands, flags,
//! enum values, file paths — plus two of ikp's own: the built-in chart names where a CHART goes, and
//! after `--set`, `--set-string`, `--set-file`, `--set-json` and `--set-literal` the values keys of
//! the chart named on the line (both charts' when none is yet), read from the typed values model.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use clap::CommandFactory as _;
use clap_complete::engine::{
    ArgValueCompleter, CompletionCandidate, PathCompleter, ValueCompleter as _,
};
use clap_complete::env::{Bash, CompleteEnv, EnvCompleter, Fish, Zsh};
use ikp::release::chart;
use ikp::release::values::ChartKind;
use ikp::release::values::model::value_keys;

use super::Cli;

/// The environment variable that turns an `ikp` run into a completion request.
const COMPLETE_VAR: &str = "IKP_COMPLETE";

/// The ids of the values flags whose keys are completed (the fields of `args::ValuesArgs`).
const SET_FLAGS: [&str; 5] = ["set", "set_string", "set_file", "set_json", "set_literal"];

/// The id of the `[NAME] CHART` positional of `render`, `apply` and `diff` (`args::ReleaseArgs`).
const RELEASE_ARGS: &str = "args";

/// A shell `ikp completion` writes a script for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Shell {
    /// bash 4.4 or newer (`complete -F`).
    Bash,
    /// zsh (`compdef`).
    Zsh,
    /// fish 3 or newer (`complete -c ikp`).
    Fish,
}

/// Flags of `ikp completion`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
Examples:
  # bash, this shell only
  source <(ikp completion bash)

  # bash, every new shell
  ikp completion bash > ~/.local/share/bash-completion/completions/ikp

  # zsh: a directory of your $fpath, then restart zsh
  ikp completion zsh > ~/.zfunc/_ikp

  # fish
  ikp completion fish > ~/.config/fish/completions/ikp.fish")]
pub(super) struct CompletionCmd {
    /// The shell to complete in.
    #[arg(value_enum)]
    shell: Shell,
}

/// Runs `ikp completion`: writes the script, which calls `ikp` (from `PATH`) back at each TAB.
pub(super) fn run(cmd: CompletionCmd, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let shell: &dyn EnvCompleter = match cmd.shell {
        Shell::Bash => &Bash,
        Shell::Zsh => &Zsh,
        Shell::Fish => &Fish,
    };
    shell.write_registration(COMPLETE_VAR, "ikp", "ikp", "ikp", out)?;
    Ok(ExitCode::SUCCESS)
}

/// Answers a completion request (`IKP_COMPLETE` set) for the process arguments `args` and exits;
/// returns at once otherwise.
pub(crate) fn answer_if_requested(args: &[OsString]) {
    // Checked here first: clap_complete reads the working directory before it looks at the
    // variable, in every process.
    if std::env::var_os(COMPLETE_VAR).is_none() {
        return;
    }
    let charts = charts_on_line(&words_before_cursor(args));
    let completed = CompleteEnv::with_factory(|| completing_command(&charts))
        .var(COMPLETE_VAR)
        .try_complete(args, std::env::current_dir().ok().as_deref())
        .unwrap_or_else(|err| err.exit());
    if completed {
        std::process::exit(0);
    }
}

/// The command line being completed, from the process arguments `args`: the words after the `--`
/// the script puts before them, up to (not including) the word under the cursor. bash says where
/// the cursor is (`_CLAP_COMPLETE_INDEX`); zsh and fish complete the last word.
fn words_before_cursor(args: &[OsString]) -> Vec<OsString> {
    let mut words: Vec<OsString> = args
        .iter()
        .skip_while(|arg| *arg != "--")
        .skip(1)
        .cloned()
        .collect();
    let cursor = std::env::var("_CLAP_COMPLETE_INDEX")
        .ok()
        .and_then(|index| index.parse::<usize>().ok())
        .unwrap_or(words.len().saturating_sub(1));
    words.truncate(cursor);
    words
}

/// The charts whose keys to offer after a values flag: the one the line names as CHART, else both.
fn charts_on_line(words: &[OsString]) -> Vec<ChartKind> {
    let both = vec![ChartKind::Gateway, ChartKind::Bastion];
    // Parsed leniently, as far as it goes: the line is unfinished.
    let Ok(mut matches) = Cli::command()
        .ignore_errors(true)
        .try_get_matches_from(words)
    else {
        return both;
    };
    while let Some((_, sub)) = matches.remove_subcommand() {
        matches = sub;
    }
    let chart_word = matches
        .try_get_many::<String>(RELEASE_ARGS)
        .ok()
        .flatten()
        .and_then(|mut values| values.next_back().cloned());
    match chart_word.as_deref().and_then(chart_kind) {
        Some(kind) => vec![kind],
        None => both,
    }
}

/// The built-in chart a CHART argument stands for: a chart name, or a chart directory of that name.
fn chart_kind(word: &str) -> Option<ChartKind> {
    word.parse().ok().or_else(|| {
        Path::new(word)
            .is_dir()
            .then(|| chart::load_dir(Path::new(word)).ok())
            .flatten()
            .and_then(|chart| chart.metadata.name.parse().ok())
    })
}

/// Values keys starting with what is typed after the last `,` of a `key=value[,key=value]` list (the
/// earlier pairs kept in front); none once the `=` of the last pair is typed.
fn key_candidates(charts: &[ChartKind], current: &OsStr) -> Vec<CompletionCandidate> {
    let current = current.to_string_lossy();
    let (done, typed) = match current.rsplit_once(',') {
        Some((done, typed)) => (format!("{done},"), typed),
        None => (String::new(), current.as_ref()),
    };
    if typed.contains('=') {
        return Vec::new();
    }
    let mut seen = std::collections::BTreeSet::new();
    charts
        .iter()
        .flat_map(|&kind| value_keys(kind))
        .filter(|key| key.path.starts_with(typed) && seen.insert(key.path.clone()))
        .map(|key| {
            CompletionCandidate::new(format!("{done}{}", key.path))
                .help(key.description.map(Into::into))
        })
        .collect()
}

/// The built-in chart names starting with `current`, then the directories (a chart directory).
fn chart_candidates(current: &OsStr) -> Vec<CompletionCandidate> {
    let typed = current.to_string_lossy();
    let names = [ChartKind::Gateway, ChartKind::Bastion]
        .into_iter()
        .filter(|kind| kind.to_string().starts_with(typed.as_ref()))
        .map(|kind| CompletionCandidate::new(kind.to_string()).help(Some("built-in chart".into())));
    // The current directory itself (`.`, offered when it has no subdirectory) is no chart.
    let dirs = PathCompleter::dir()
        .complete(current)
        .into_iter()
        .filter(|dir| dir.get_value() != ".");
    names.chain(dirs).collect()
}

/// The command definition with ikp's own candidates attached: chart names on `[NAME] CHART`, values
/// keys of `charts` (those of the line being completed) on the values flags.
fn completing_command(charts: &[ChartKind]) -> clap::Command {
    // Subcommands' arguments are deferred until built; the completers go on every one of them.
    let mut cmd = Cli::command();
    cmd.build();
    attach(cmd, charts)
}

/// Attaches the completers to `cmd` and every subcommand below it.
fn attach(cmd: clap::Command, charts: &[ChartKind]) -> clap::Command {
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|sub| sub.get_name().to_owned())
        .collect();
    let mut cmd = cmd;
    for name in names {
        cmd = cmd.mut_subcommand(name, |sub| attach(sub, charts));
    }
    let ids: Vec<String> = cmd
        .get_arguments()
        .map(|arg| arg.get_id().to_string())
        .collect();
    for id in ids {
        if SET_FLAGS.contains(&id.as_str()) {
            let charts = charts.to_vec();
            cmd = cmd.mut_arg(id, move |arg| {
                arg.add(ArgValueCompleter::new(move |current: &OsStr| {
                    key_candidates(&charts, current)
                }))
            });
        } else if id == RELEASE_ARGS {
            cmd = cmd.mut_arg(id, |arg| arg.add(ArgValueCompleter::new(chart_candidates)));
        }
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(candidates: Vec<CompletionCandidate>) -> Vec<String> {
        candidates
            .iter()
            .map(|c| c.get_value().to_string_lossy().into_owned())
            .collect()
    }

    fn words(line: &str) -> Vec<OsString> {
        line.split_whitespace().map(OsString::from).collect()
    }

    #[test]
    fn keys_complete_from_the_model_and_keep_earlier_pairs() {
        let gateway = [ChartKind::Gateway];
        assert_eq!(
            values(key_candidates(&gateway, OsStr::new("tunnel.service.sou"))),
            ["tunnel.service.sourceNodePort", "tunnel.service.sourcePort"]
        );
        assert_eq!(
            values(key_candidates(&gateway, OsStr::new("ssh.port=2,ssh.pub"))),
            ["ssh.port=2,ssh.publicKey"]
        );
        assert!(key_candidates(&gateway, OsStr::new("ssh.port=2")).is_empty());
        assert!(key_candidates(&gateway, OsStr::new("tunnel.gateway.h")).is_empty());
        let both = [ChartKind::Gateway, ChartKind::Bastion];
        assert_eq!(
            values(key_candidates(&both, OsStr::new("tunnel.gateway.h"))),
            ["tunnel.gateway.host"]
        );
    }

    #[test]
    fn the_chart_is_read_from_the_line() {
        assert_eq!(
            charts_on_line(&words("ikp render r gateway --set")),
            [ChartKind::Gateway]
        );
        assert_eq!(
            charts_on_line(&words("ikp apply -n ns r bastion -f x.yaml --set-string")),
            [ChartKind::Bastion]
        );
        // A namespace named like a chart is not the chart.
        assert_eq!(
            charts_on_line(&words("ikp render -n gateway r --set")),
            [ChartKind::Gateway, ChartKind::Bastion]
        );
        assert_eq!(
            charts_on_line(&words("ikp render --set")),
            [ChartKind::Gateway, ChartKind::Bastion]
        );
        let chart_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/charts/bastion");
        assert_eq!(
            charts_on_line(&words(&format!("ikp diff r {chart_dir} --set"))),
            [ChartKind::Bastion]
        );
    }
}
