//! `ikp rollback NAME [REVISION]`: applies the manifest recorded for an earlier revision again (server-side
//! apply, prune of what that revision did not have) as a new revision `Rollback to N`.
use std::io::Write;
use std::process::ExitCode;

use ikp::deploy::{self, ApplyOptions, inventory};
use ikp::k8s::client::ClientArgs;

use super::apply::{TermReporter, WaitArgs, connect, one_line, print_verdicts, runtime};
use super::args::DEFAULT_NAMESPACE;

/// Flags of `ikp rollback`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
Examples:
  # Back to the revision before the newest
  ikp rollback gw -n tunnel

  # Back to revision 1, waiting at most 2 minutes for its objects to be ready
  ikp rollback gw 1 --wait --timeout 2m

  # What going back to revision 1 would do, asked of the API server; nothing changes
  ikp rollback gw 1 --dry-run")]
pub(super) struct RollbackCmd {
    /// Release name.
    #[arg(value_name = "NAME")]
    name: String,
    /// The revision to go back to (default: the one before the newest; `ikp history` lists them).
    #[arg(value_name = "REVISION")]
    revision: Option<u32>,
    /// Namespace of the release.
    #[arg(short = 'n', long, value_name = "NS", default_value = DEFAULT_NAMESPACE)]
    namespace: String,
    /// Ask the API server what the rollback would do (`dryRun=All`); nothing changes or is recorded.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    wait: WaitArgs,
    /// Take ownership of fields that other field managers own.
    #[arg(long)]
    force_conflicts: bool,
    /// Delete and re-create objects whose immutable fields changed since the target revision.
    #[arg(long)]
    force_recreate: bool,
    /// Revisions kept in the release history; 0 keeps every revision.
    #[arg(long, value_name = "N", default_value_t = inventory::DEFAULT_HISTORY_MAX as u16)]
    history_max: u16,
    #[command(flatten)]
    client: ClientArgs,
}

/// Runs `ikp rollback`.
pub(super) fn run(cmd: RollbackCmd, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let deadline = cmd.wait.deadline();
    let options = ApplyOptions {
        force_conflicts: cmd.force_conflicts,
        force_recreate: cmd.force_recreate,
        wait: cmd.wait.waits_for_objects(false),
        wait_strategy: cmd.wait.strategy(),
        timeout: cmd.wait.timeout(),
        history_max: match cmd.history_max {
            0 => usize::MAX,
            n => usize::from(n),
        },
        ..ApplyOptions::default()
    };
    runtime()?.block_on(async {
        let client = connect(&cmd.client).await?;
        if cmd.dry_run {
            return dry_run(&client, &cmd, &options, out).await;
        }
        let mut reporter = TermReporter::new();
        let outcome = deploy::rollback_release(
            &client,
            &cmd.namespace,
            &cmd.name,
            cmd.revision,
            &options,
            &mut reporter,
            deadline,
        )
        .await
        .map_err(one_line)?;
        writeln!(
            out,
            "release {:?} in namespace {:?}: rolled back to revision {} as revision {} ({} objects, {} pruned)",
            cmd.name,
            cmd.namespace,
            outcome.target,
            outcome.applied.revision,
            outcome.applied.changes.len(),
            outcome.applied.pruned.len()
        )?;
        Ok(ExitCode::SUCCESS)
    })
}

/// `--dry-run`: the server's verdict on each object of the target revision, and what would be pruned.
async fn dry_run(
    client: &kube::Client,
    cmd: &RollbackCmd,
    options: &ApplyOptions,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let (target, plan) = deploy::rollback_plan(client, &cmd.namespace, &cmd.name, cmd.revision)
        .await
        .map_err(one_line)?;
    let verdicts = deploy::dry_run_server(client, &plan, options)
        .await
        .map_err(one_line)?;
    writeln!(out, "rollback to revision {target}:")?;
    print_verdicts(&verdicts, out)?;
    Ok(ExitCode::SUCCESS)
}
