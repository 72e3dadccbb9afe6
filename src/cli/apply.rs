//! `ikp apply|diff|status|list|history|uninstall`: releases applied with server-side apply.
//!
//! Rendering happens first and without any cluster call; only a valid plan reaches the cluster.
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use ikp::deploy::{
    self, ApplyError, ApplyOptions, DiffOptions, ObjectChange, ObjectRef, ReleasePlan, Reporter,
    UninstallOptions, WaitStrategy, inventory,
};
use ikp::k8s::client::ClientArgs;
use ikp::release::pipeline::Release;
use ikp::release::render::Manifest;
use ikp::release::render::stamp::{ExtraMetadata, add_metadata};
use ikp::release::values::compose_over;

use super::UsageError;
use super::args::{DEFAULT_NAMESPACE, DryRunMode, NamePolicy, OutputArgs, ReleaseArgs};
use super::output::{
    DiffObject, DiffView, ObjectState, OutputFormat, ReleaseEntry, RevisionEntry, StatusView,
    table, write_document,
};
use super::render::{emit, print_computed_values};

/// Flags of `ikp apply`: `render`'s flags (same meaning; the printing ones shape the
/// `--dry-run=client` output) plus the cluster's.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
Examples:
  # Install or upgrade the gateway as release msoff in namespace myservice, and wait for it
  ikp apply msoff gateway -n myservice --create-namespace \\
    --set-file ssh.publicKey=examples/id_ed25519.pub --wait --timeout 2m

  # What would be applied, with the labels apply adds; no cluster needed
  ikp apply msoff gateway --set-file ssh.publicKey=examples/id_ed25519.pub --dry-run=client

  # Ask the API server to check every object without storing anything
  ikp apply msoff gateway --set-file ssh.publicKey=examples/id_ed25519.pub --dry-run=server

  # Upgrade; restore the previous revision if it is not ready within 5 minutes
  ikp apply msoff gateway -n myservice --set-file ssh.publicKey=examples/id_ed25519.pub \\
    --set tunnel.service.sourcePort=8181 --set tunnel.service.sourceNodePort=30181 \\
    --rollback-on-failure --description \"tunnel on node port 30181\"

  # Take over a release that helm install made
  ikp apply msoff gateway -n myservice --set-file ssh.publicKey=examples/id_ed25519.pub \\
    --take-ownership")]
pub(super) struct ApplyCmd {
    #[command(flatten)]
    release: ReleaseArgs,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    client: ClientArgs,
    /// Create the release namespace if it does not exist.
    #[arg(long)]
    create_namespace: bool,
    /// Simulate: `client` prints what `render` prints plus the labels and annotations apply adds
    /// (Secret data redacted), `server` asks the API server; `none` applies (also true/false, as in Helm).
    #[arg(long, value_name = "MODE", num_args = 0..=1, default_missing_value = "client", require_equals = true)]
    dry_run: Option<DryRunMode>,
    #[command(flatten)]
    wait: WaitArgs,
    /// Always `true`: ikp applies with server-side apply only (its field ownership, prune and take-over
    /// rely on it); `--server-side=false` is refused.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    server_side: Option<bool>,
    /// Refused: Helm's replacement strategy (PUT instead of patch) has no server-side apply equivalent;
    /// `--force-recreate` deletes and re-creates objects whose immutable fields change.
    #[arg(long)]
    force_replace: bool,
    /// Description of the new revision in the history (instead of `install`/`upgrade`); at most 1024
    /// characters on one line.
    #[arg(long, value_name = "TEXT")]
    description: Option<String>,
    /// Take ownership of fields that other field managers own.
    #[arg(long)]
    force_conflicts: bool,
    /// Delete and re-create objects whose immutable fields (e.g. a Deployment selector) change.
    #[arg(long)]
    force_recreate: bool,
    /// On failure (including a `--wait` timeout), restore the previous revision or remove a first install.
    /// Implies `--wait` (`watcher` unless `--wait` says otherwise). `--rollback-on-failure` is Helm 4's name.
    #[arg(long, visible_alias = "rollback-on-failure")]
    atomic: bool,
    /// Take over objects that exist but are not this release's: objects of another release, objects
    /// nobody's release made, and a Helm release of the same name (its objects are taken over in place
    /// and Helm's record is retired; see README, Coming from Helm).
    #[arg(long)]
    take_ownership: bool,
    /// Revisions kept in the release history; 0 keeps every revision (as in Helm).
    #[arg(long, value_name = "N", default_value_t = inventory::DEFAULT_HISTORY_MAX as u16)]
    history_max: u16,
}

/// Longest `--description` accepted.
const MAX_DESCRIPTION_CHARS: usize = 1024;

impl ApplyCmd {
    /// Refuses Helm 4 flags ikp has no equivalent for, and a bad `--description`, with the reason.
    fn check_helm_flags(&self) -> Result<(), UsageError> {
        if self.server_side == Some(false) {
            return Err(UsageError(
                "--server-side=false: ikp applies only with server-side apply (its field ownership, prune \
                 and --take-ownership rely on it); drop the flag or pass --server-side=true"
                    .into(),
            ));
        }
        if self.force_replace {
            return Err(UsageError(
                "--force-replace: Helm's replacement strategy (PUT instead of patch) has no server-side apply \
                 equivalent; use --force-recreate to delete and re-create objects whose immutable fields change, \
                 or --force-conflicts to take over fields of other managers"
                    .into(),
            ));
        }
        if let Some(text) = &self.description {
            let chars = text.chars().count();
            if chars > MAX_DESCRIPTION_CHARS || text.contains(['\n', '\r']) {
                return Err(UsageError(format!(
                    "--description: {chars} characters{}; expected one line of at most {MAX_DESCRIPTION_CHARS} characters",
                    if text.contains(['\n', '\r']) {
                        " with a line break"
                    } else {
                        ""
                    }
                )));
            }
        }
        Ok(())
    }

    /// Refuses the printing flags that cannot apply to a real apply or a server dry run, with the reason.
    fn check_output_flags(&self) -> Result<(), UsageError> {
        if self.dry_run == Some(DryRunMode::Client) {
            return Ok(());
        }
        let flag = if !self.output.show_only.is_empty() {
            "-s/--show-only"
        } else if self.output.output_dir.is_some() {
            "--output-dir"
        } else {
            return Ok(());
        };
        Err(UsageError(format!(
            "{flag} selects what a render prints and applies only with --dry-run=client (or `ikp render`): \
             applying part of a release would prune the rest"
        )))
    }
}

/// Flags of `ikp diff`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
Examples:
  # What ikp apply would change, as a unified diff (exit 1 when something would)
  ikp diff msoff gateway -n myservice --set-file ssh.publicKey=examples/id_ed25519.pub \\
    --set tunnel.service.sourcePort=8181 --set tunnel.service.sourceNodePort=30181

  # The changed objects and fields as JSON, Secret values shown
  ikp diff msoff gateway -n myservice --set-file ssh.publicKey=examples/id_ed25519.pub \\
    --show-secrets -o json

  # Preview taking over a release installed by Helm (see apply --take-ownership)
  ikp diff msoff gateway -n myservice --set-file ssh.publicKey=examples/id_ed25519.pub \\
    --take-ownership")]
pub(super) struct DiffCmd {
    #[command(flatten)]
    release: ReleaseArgs,
    #[command(flatten)]
    client: ClientArgs,
    /// Show Secret values instead of `***`.
    #[arg(long)]
    show_secrets: bool,
    /// Diff as `apply --force-conflicts` would apply (fields owned by other managers taken over).
    #[arg(long)]
    force_conflicts: bool,
    /// Diff as `apply --take-ownership` would apply: objects of a Helm release, of another release or of
    /// nobody are shown taken over (with a note saying from whom) instead of refused.
    #[arg(long)]
    take_ownership: bool,
    /// Output format: `table` (the unified diff), `json` or `yaml` (changed objects with their action,
    /// changed fields and diff; field names in the README).
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Table)]
    output: OutputFormat,
}

/// Flags of `ikp status`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
Examples:
  # The release's revision and the readiness of each of its objects
  ikp status msoff -n myservice

  # The same as JSON, from another kubeconfig context
  ikp status msoff -n myservice -o json --kube-context staging")]
pub(super) struct StatusCmd {
    /// Output format: `table` (aligned columns), `json` or `yaml` (field names in the README).
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Table)]
    output: OutputFormat,
    /// Release name.
    #[arg(value_name = "NAME")]
    name: String,
    /// Namespace of the release.
    #[arg(short = 'n', long, value_name = "NS", default_value = DEFAULT_NAMESPACE)]
    namespace: String,
    #[command(flatten)]
    client: ClientArgs,
}

/// Flags of `ikp list`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
Examples:
  # The releases in namespace myservice
  ikp list -n myservice

  # Every namespace's releases, with the Helm releases ikp can take over, as YAML
  ikp list -A --all -o yaml")]
pub(super) struct ListCmd {
    /// Output format: `table` (aligned columns), `json` or `yaml` (field names in the README).
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Table)]
    output: OutputFormat,
    /// Namespace to list releases in.
    #[arg(short = 'n', long, value_name = "NS", default_value = DEFAULT_NAMESPACE, conflicts_with = "all_namespaces")]
    namespace: String,
    /// List releases in every namespace.
    #[arg(short = 'A', long)]
    all_namespaces: bool,
    /// Also list the Helm releases (Helm 3 and 4 record Secrets) that `ikp apply --take-ownership` can
    /// take over; their MANAGER column says `helm`.
    #[arg(short = 'a', long)]
    all: bool,
    #[command(flatten)]
    client: ClientArgs,
}

/// Flags of `ikp history`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
Examples:
  # The recorded revisions of release msoff
  ikp history msoff -n myservice

  # The same as JSON, from the cluster of another kubeconfig file
  ikp history msoff -n myservice -o json --kubeconfig staging.yaml")]
pub(super) struct HistoryCmd {
    /// Output format: `table` (aligned columns), `json` or `yaml` (field names in the README).
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Table)]
    output: OutputFormat,
    /// Release name.
    #[arg(value_name = "NAME")]
    name: String,
    /// Namespace of the release.
    #[arg(short = 'n', long, value_name = "NS", default_value = DEFAULT_NAMESPACE)]
    namespace: String,
    #[command(flatten)]
    client: ClientArgs,
}

/// Flags of `ikp uninstall`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
Examples:
  # Delete release msoff's objects and its record
  ikp uninstall msoff -n myservice

  # And wait, at most a minute, until every object is gone
  ikp uninstall msoff -n myservice --wait --timeout 1m")]
pub(super) struct UninstallCmd {
    /// Release name.
    #[arg(value_name = "NAME")]
    name: String,
    /// Namespace of the release.
    #[arg(short = 'n', long, value_name = "NS", default_value = DEFAULT_NAMESPACE)]
    namespace: String,
    #[command(flatten)]
    wait: WaitArgs,
    #[command(flatten)]
    client: ClientArgs,
}

/// `--wait` and `--timeout`, as `apply`, `rollback` and `uninstall` take them.
#[derive(Debug, Clone, Copy, clap::Args)]
pub(super) struct WaitArgs {
    /// Wait for the objects before declaring success: until they are ready (`apply`, `rollback`) or
    /// gone (`uninstall`). `watcher` (the default of a bare `--wait`, as in Helm 4): every object by
    /// kstatus' rules (workloads available, Pods ready, Jobs complete, claims bound, custom resources
    /// `Ready=True`); `legacy`: Deployments, StatefulSets and DaemonSets only (Helm 3's `--wait`);
    /// both wait for deleted objects to be gone; `hookOnly`: nothing (the charts have no hooks).
    #[arg(long, value_name = "STRATEGY", num_args = 0..=1, default_missing_value = "watcher", require_equals = true)]
    wait: Option<WaitStrategy>,
    /// How long the whole command, `--wait` included, may take (e.g. `90s`, `5m`, `1h30m`); every API
    /// call stops by then.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    timeout: Duration,
}

impl WaitArgs {
    /// Whether to wait for objects: what the `--wait` strategy says, `unflagged` without `--wait`.
    pub(super) fn waits_for_objects(&self, unflagged: bool) -> bool {
        self.wait.map_or(unflagged, WaitStrategy::waits_for_objects)
    }

    /// The `--wait` strategy (the default one without `--wait`).
    pub(super) fn strategy(&self) -> WaitStrategy {
        self.wait.unwrap_or_default()
    }

    /// `--timeout`.
    pub(super) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// When the command must be done: `--timeout` from now (call it first, so that the timeout
    /// bounds the whole command, rendering and connecting included).
    pub(super) fn deadline(&self) -> tokio::time::Instant {
        tokio::time::Instant::now() + self.timeout
    }
}

/// Parses a Go-style duration: one or more `<integer><unit>` with units `h`, `m`, `s`, `ms`
/// (`90s`, `5m`, `1h30m`); a bare integer means seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let expected = "expected a duration such as 90s, 5m or 1h30m";
    let text = text.trim();
    if text.is_empty() {
        return Err(format!("empty duration; {expected}"));
    }
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return Err(format!("invalid duration {text:?}: {expected}"));
        }
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("invalid duration {text:?}: number too large"))?;
        rest = &rest[digits..];
        let unit_len = rest.len()
            - rest
                .trim_start_matches(|c: char| c.is_ascii_alphabetic())
                .len();
        let part = match &rest[..unit_len] {
            "h" => number.checked_mul(3600).map(Duration::from_secs),
            "m" => number.checked_mul(60).map(Duration::from_secs),
            "s" => Some(Duration::from_secs(number)),
            "ms" => Some(Duration::from_millis(number)),
            unit => {
                return Err(format!(
                    "invalid duration {text:?}: unknown unit {unit:?}; {expected}"
                ));
            }
        };
        total = part
            .and_then(|p| total.checked_add(p))
            .ok_or_else(|| format!("invalid duration {text:?}: too large"))?;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

/// Prints apply progress on stderr; on a terminal the wait line is rewritten in place.
pub(super) struct TermReporter {
    tty: bool,
    wait_line_open: bool,
    last_wait: Option<String>,
}

impl TermReporter {
    pub(super) fn new() -> Self {
        TermReporter {
            tty: std::io::stderr().is_terminal(),
            wait_line_open: false,
            last_wait: None,
        }
    }

    fn line(&mut self, text: &str) {
        let mut err = std::io::stderr().lock();
        if self.wait_line_open {
            let _ = write!(err, "\r\x1b[K");
            self.wait_line_open = false;
        }
        let _ = writeln!(err, "{text}");
    }
}

impl Reporter for TermReporter {
    fn changed(&mut self, object: &ObjectRef, change: ObjectChange) {
        self.line(&format!("{object} {change}"));
    }

    fn waiting(&mut self, object: &ObjectRef, waiting_for: &str, elapsed: Duration) {
        let text = format!("waiting for {object}: {waiting_for}");
        if self.tty {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[K{text} ({}s)", elapsed.as_secs());
            let _ = err.flush();
            self.wait_line_open = true;
        } else if self.last_wait.as_deref() != Some(&text) {
            // Off a terminal, print only changes so logs stay short.
            self.line(&format!("{text} ({}s)", elapsed.as_secs()));
            self.last_wait = Some(text);
        }
    }

    fn ready(&mut self, object: &ObjectRef, elapsed: Duration) {
        self.line(&format!("{object} ready after {}s", elapsed.as_secs()));
    }

    fn note(&mut self, message: &str) {
        self.line(message);
    }
}

/// The error as its own (complete) message: `ApplyError` messages already carry the useful part of their
/// source chain, which `main` would otherwise print a second time.
pub(super) fn one_line(err: ApplyError) -> anyhow::Error {
    anyhow::anyhow!("{err}")
}

pub(super) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

pub(super) async fn connect(client: &ClientArgs) -> anyhow::Result<kube::Client> {
    Ok(client.client().await?)
}

/// Renders the release through the render pipeline (exactly what `ikp render` renders) and makes
/// it a plan; never calls the cluster. A release must be named, as with `helm install`.
fn plan_release(args: &ReleaseArgs) -> anyhow::Result<(Release, ReleasePlan)> {
    let request = args.resolve(NamePolicy::Required, None)?;
    let metadata = request.chart.metadata.clone();
    // What `ikp get values` shows: the user's layers merged over nothing (no chart defaults).
    let user_values = compose_over(&Default::default(), &request.layers)?.tree;
    let release = request.render()?;
    let plan = ReleasePlan::from_release(&release, &metadata)
        .map_err(one_line)?
        .with_user_values(user_values);
    Ok((release, plan))
}

/// `--dry-run=client`: what `render` prints with the same flags, plus the labels and annotations
/// the plan puts on every object, Secret data always redacted.
fn print_client_dry_run(
    release: &Release,
    plan: &ReleasePlan,
    output: &OutputArgs,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let labels = plan.tracking_labels();
    let annotations = plan.tracking_annotations();
    let extra = ExtraMetadata {
        labels: &labels,
        annotations: &annotations,
    };
    let manifests: Vec<Manifest> = release
        .rendered
        .manifests
        .iter()
        .map(|manifest| Manifest {
            content: add_metadata(&manifest.content, &manifest.object, extra),
            ..manifest.clone()
        })
        .collect();
    let output = OutputArgs {
        redact_secrets: true,
        ..output.clone()
    };
    emit(release, &manifests, &output)?.write(out)
}

/// A server dry run's verdict per object, one line each (`<object> <change> (server dry run)` or
/// `<object> refused: <reason>`); fails when the server refused any.
pub(super) fn print_verdicts(
    verdicts: &[deploy::DryRunVerdict],
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let mut refused = 0;
    for verdict in verdicts {
        match &verdict.outcome {
            Ok(change) => writeln!(out, "{} {change} (server dry run)", verdict.object)?,
            Err(err) => {
                refused += 1;
                writeln!(out, "{} refused: {err}", verdict.object)?;
            }
        }
    }
    if refused > 0 {
        anyhow::bail!("the API server refused {refused} object(s) in the dry run");
    }
    Ok(())
}

fn print_notes(plan: &ReleasePlan, out: &mut dyn Write) -> std::io::Result<()> {
    if let Some(notes) = &plan.notes {
        writeln!(out, "NOTES:\n{}", notes.trim_end())?;
    }
    Ok(())
}

/// Runs `ikp apply`.
pub(super) fn run_apply(cmd: ApplyCmd, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let deadline = cmd.wait.deadline();
    cmd.check_output_flags()?;
    cmd.check_helm_flags()?;
    let (release, plan) = plan_release(&cmd.release)?;
    if cmd.dry_run == Some(DryRunMode::Client) {
        print_client_dry_run(&release, &plan, &cmd.output, out)?;
        return Ok(ExitCode::SUCCESS);
    }
    if cmd.output.debug {
        print_computed_values(&release);
    }
    let options = ApplyOptions {
        create_namespace: cmd.create_namespace,
        force_conflicts: cmd.force_conflicts,
        force_recreate: cmd.force_recreate,
        wait: cmd.wait.waits_for_objects(cmd.atomic),
        wait_strategy: cmd.wait.strategy(),
        description: cmd.description.clone(),
        timeout: cmd.wait.timeout(),
        atomic: cmd.atomic,
        history_max: match cmd.history_max {
            0 => usize::MAX,
            n => usize::from(n),
        },
        take_ownership: cmd.take_ownership,
        keep_revision_data: true,
    };
    runtime()?.block_on(async {
        let client = connect(&cmd.client).await?;
        if cmd.dry_run == Some(DryRunMode::Server) {
            let verdicts = deploy::dry_run_server(&client, &plan, &options)
                .await
                .map_err(one_line)?;
            print_verdicts(&verdicts, out)?;
            return Ok(ExitCode::SUCCESS);
        }
        let mut reporter = TermReporter::new();
        let outcome = deploy::apply_release_by(&client, &plan, &options, &mut reporter, deadline)
            .await
            .map_err(one_line)?;
        writeln!(
            out,
            "release {:?} in namespace {:?}: revision {} deployed ({} objects, {} pruned)",
            plan.meta.name,
            plan.meta.namespace,
            outcome.revision,
            outcome.changes.len(),
            outcome.pruned.len()
        )?;
        print_notes(&plan, out)?;
        Ok(ExitCode::SUCCESS)
    })
}

/// Runs `ikp diff`: exit 0 when nothing would change, 1 when something would (an error exits 2,
/// see `main`).
pub(super) fn run_diff(cmd: DiffCmd, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let (_, plan) = plan_release(&cmd.release)?;
    let options = DiffOptions {
        show_secrets: cmd.show_secrets,
        force_conflicts: cmd.force_conflicts,
        take_ownership: cmd.take_ownership,
    };
    runtime()?.block_on(async {
        let client = connect(&cmd.client).await?;
        let report = deploy::diff_release(&client, &plan, &options)
            .await
            .map_err(one_line)?;
        let mut text = String::new();
        if cmd.output == OutputFormat::Table {
            for entry in &report.changed {
                if let Some(note) = &entry.note {
                    text.push_str(&format!("# {}: {note}\n", entry.object));
                }
                text.push_str(&entry.unified);
            }
        } else {
            let view = DiffView {
                changed: report
                    .changed
                    .iter()
                    .map(|e| DiffObject {
                        object: e.object.clone(),
                        action: e.action.to_string(),
                        fields: e.fields.clone(),
                        note: e.note.clone(),
                        diff: e.unified.clone(),
                    })
                    .collect(),
                unchanged: report.unchanged.clone(),
                errors: report.errors.iter().map(ToString::to_string).collect(),
            };
            let mut buffer = Vec::new();
            write_document(cmd.output, &view, &mut buffer)?;
            text = String::from_utf8_lossy(&buffer).into_owned();
        }
        match out.write_all(text.as_bytes()) {
            // The exit code is diff's answer, not a report on its output: a reader that stopped
            // early (`ikp diff ... | head`) still gets "changes found".
            Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => {}
            written => written?,
        }
        if !report.errors.is_empty() {
            let messages: Vec<String> = report.errors.iter().map(ToString::to_string).collect();
            anyhow::bail!(
                "the API server refused the dry run:\n  {}",
                messages.join("\n  ")
            );
        }
        Ok(if report.has_changes() {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        })
    })
}

/// Runs `ikp status`.
pub(super) fn run_status(cmd: StatusCmd, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let client = connect(&cmd.client).await?;
        let (record, objects) = deploy::release_status(&client, &cmd.namespace, &cmd.name)
            .await
            .map_err(one_line)?;
        let latest = record.latest().context("the release has no revisions")?;
        if cmd.output != OutputFormat::Table {
            let view = StatusView {
                name: record.name.clone(),
                namespace: record.namespace.clone(),
                latest: revision_entry(latest),
                objects: objects
                    .iter()
                    .map(|(object, state)| ObjectState {
                        object: object.clone(),
                        state: state.clone(),
                    })
                    .collect(),
            };
            write_document(cmd.output, &view, out)?;
            return Ok(ExitCode::SUCCESS);
        }
        writeln!(out, "NAME: {}", record.name)?;
        writeln!(out, "NAMESPACE: {}", record.namespace)?;
        writeln!(out, "REVISION: {}", latest.revision)?;
        writeln!(out, "STATUS: {}", latest.status)?;
        writeln!(out, "CHART: {}-{}", latest.chart_name, latest.chart_version)?;
        writeln!(out, "UPDATED: {}", latest.updated)?;
        writeln!(out, "DESCRIPTION: {}", latest.description)?;
        writeln!(out, "OBJECTS:")?;
        for (object, state) in &objects {
            writeln!(out, "  {object}: {state}")?;
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Runs `ikp list`.
pub(super) fn run_list(cmd: ListCmd, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let client = connect(&cmd.client).await?;
        let namespace = (!cmd.all_namespaces).then_some(cmd.namespace.as_str());
        let records = inventory::list(&client, namespace)
            .await
            .map_err(one_line)?;
        let helm_releases = if cmd.all {
            deploy::helm::list_releases(&client, namespace)
                .await
                .map_err(one_line)?
        } else {
            Vec::new()
        };
        let mut entries: Vec<ReleaseEntry> = records
            .iter()
            .filter_map(|record| {
                let latest = record.latest()?;
                Some(ReleaseEntry {
                    name: record.name.clone(),
                    namespace: record.namespace.clone(),
                    revision: latest.revision,
                    status: latest.status.to_string(),
                    chart: latest.chart_name.clone(),
                    chart_version: latest.chart_version.clone(),
                    app_version: latest.app_version.clone(),
                    updated: latest.updated.clone(),
                    manager: "ikp".to_string(),
                })
            })
            .collect();
        entries.extend(helm_releases.iter().map(|release| ReleaseEntry {
            name: release.name.clone(),
            namespace: release.namespace.clone(),
            revision: release.revision,
            status: release.status.clone(),
            chart: release.chart_name.clone(),
            chart_version: release.chart_version.clone(),
            app_version: release.app_version.clone(),
            updated: release.updated.clone(),
            manager: "helm".to_string(),
        }));
        if cmd.output != OutputFormat::Table {
            write_document(cmd.output, &entries, out)?;
            return Ok(ExitCode::SUCCESS);
        }
        let mut headers = vec![
            "NAME",
            "NAMESPACE",
            "REVISION",
            "STATUS",
            "CHART",
            "UPDATED",
        ];
        if cmd.all {
            headers.push("MANAGER");
        }
        let rows: Vec<Vec<String>> = entries
            .iter()
            .map(|e| {
                let mut row = vec![
                    e.name.clone(),
                    e.namespace.clone(),
                    e.revision.to_string(),
                    e.status.clone(),
                    format!("{}-{}", e.chart, e.chart_version),
                    e.updated.clone(),
                ];
                if cmd.all {
                    row.push(e.manager.clone());
                }
                row
            })
            .collect();
        out.write_all(table(&headers, &rows).as_bytes())?;
        Ok(ExitCode::SUCCESS)
    })
}

/// A revision as `history` and `status` print it.
fn revision_entry(r: &deploy::Revision) -> RevisionEntry {
    RevisionEntry {
        revision: r.revision,
        updated: r.updated.clone(),
        status: r.status.to_string(),
        chart: r.chart_name.clone(),
        chart_version: r.chart_version.clone(),
        app_version: r.app_version.clone(),
        values_digest: r.values_digest.clone(),
        description: r.description.clone(),
    }
}

/// Runs `ikp history`.
pub(super) fn run_history(cmd: HistoryCmd, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let client = connect(&cmd.client).await?;
        let record = inventory::load_existing(&client, &cmd.namespace, &cmd.name)
            .await
            .map_err(one_line)?;
        let entries: Vec<RevisionEntry> = record.revisions.iter().map(revision_entry).collect();
        if cmd.output != OutputFormat::Table {
            write_document(cmd.output, &entries, out)?;
            return Ok(ExitCode::SUCCESS);
        }
        let rows: Vec<Vec<String>> = entries
            .iter()
            .map(|r| {
                vec![
                    r.revision.to_string(),
                    r.updated.clone(),
                    r.status.clone(),
                    format!("{}-{}", r.chart, r.chart_version),
                    format!(
                        "sha256:{}",
                        r.values_digest.get(..12).unwrap_or(&r.values_digest)
                    ),
                    r.description.clone(),
                ]
            })
            .collect();
        let headers = [
            "REVISION",
            "UPDATED",
            "STATUS",
            "CHART",
            "VALUES",
            "DESCRIPTION",
        ];
        out.write_all(table(&headers, &rows).as_bytes())?;
        Ok(ExitCode::SUCCESS)
    })
}

/// Runs `ikp uninstall`.
pub(super) fn run_uninstall(cmd: UninstallCmd, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let deadline = cmd.wait.deadline();
    runtime()?.block_on(async {
        let client = connect(&cmd.client).await?;
        let mut reporter = TermReporter::new();
        let options = UninstallOptions {
            wait: cmd.wait.waits_for_objects(false),
            timeout: cmd.wait.timeout(),
        };
        let deleted = match deploy::uninstall_release_by(
            &client,
            &cmd.namespace,
            &cmd.name,
            &options,
            &mut reporter,
            deadline,
        )
        .await
        {
            Ok(deleted) => deleted,
            Err(err @ ApplyError::ReleaseNotFound { .. }) => {
                anyhow::bail!("{err}; nothing to uninstall")
            }
            Err(err) => return Err(one_line(err)),
        };
        writeln!(
            out,
            "release {:?} in namespace {:?} uninstalled ({} objects deleted)",
            cmd.name,
            cmd.namespace,
            deleted.len()
        )?;
        Ok(ExitCode::SUCCESS)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn durations_in_go_syntax() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("42"), Ok(Duration::from_secs(42)));
    }

    #[test]
    fn bad_durations_name_the_value() {
        for bad in ["", "5x", "m", "1h-3m", "99999999999999999999h"] {
            let err = parse_duration(bad).unwrap_err();
            assert!(err.contains("duration"), "{bad}: {err}");
        }
    }

    proptest! {
        #[test]
        fn any_text_parses_or_errors_without_panicking(text in ".{0,16}") {
            let _ = parse_duration(&text);
        }

        #[test]
        fn hours_minutes_seconds_add_up(h in 0u64..100, m in 0u64..100, s in 0u64..100) {
            let text = format!("{h}h{m}m{s}s");
            prop_assert_eq!(parse_duration(&text), Ok(Duration::from_secs(h * 3600 + m * 60 + s)));
        }
    }
}
