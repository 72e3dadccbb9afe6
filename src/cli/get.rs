//! `ikp get values|manifest|notes NAME [--revision N]`: what a revision recorded, as `helm get`
//! prints it. Secret values (the typed values model's secret fields, and Secret data in the manifest)
//! are redacted unless `--show-secrets`.
use std::io::Write;
use std::process::ExitCode;

use ikp::compat::toyaml::{YamlNode, to_yaml};
use ikp::deploy::{self, RevisionData};
use ikp::k8s::client::ClientArgs;
use ikp::release::render::redact::redact_values;
use serde_json::Value;

use super::UsageError;
use super::apply::{connect, one_line, runtime};
use super::args::DEFAULT_NAMESPACE;
use super::output::{OutputFormat, write_document};

/// What `ikp get` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum GetWhat {
    /// The values the user gave (`-f`, `--set`...), merged; `--all` for the computed values.
    Values,
    /// The objects as applied, each after `# Source:` with its template path.
    Manifest,
    /// The rendered NOTES.txt.
    Notes,
}

/// Flags of `ikp get`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
Examples:
  # The values release gw was applied with, as the user gave them (secrets redacted)
  ikp get values gw -n tunnel

  # The computed values, chart defaults included, as JSON
  ikp get values gw --all -o json

  # The objects revision 2 applied, and the newest revision's notes
  ikp get manifest gw --revision 2
  ikp get notes gw")]
pub(super) struct GetCmd {
    /// Which part of the revision to print.
    #[arg(value_enum)]
    what: GetWhat,
    /// Release name.
    #[arg(value_name = "NAME")]
    name: String,
    /// Namespace of the release.
    #[arg(short = 'n', long, value_name = "NS", default_value = DEFAULT_NAMESPACE)]
    namespace: String,
    /// The revision (default: the newest).
    #[arg(long, value_name = "N")]
    revision: Option<u32>,
    /// `values`: the computed values (chart defaults included) instead of the user's.
    #[arg(short = 'a', long)]
    all: bool,
    /// Print secret values (private keys, Secret data) instead of redaction markers.
    #[arg(long)]
    show_secrets: bool,
    /// `values` only: `table` (YAML under a heading, as Helm prints it), `json` or `yaml`.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Table)]
    output: OutputFormat,
    #[command(flatten)]
    client: ClientArgs,
}

impl GetCmd {
    /// Refuses flags that mean nothing for what is asked, with the reason.
    fn check_flags(&self) -> Result<(), UsageError> {
        if self.what != GetWhat::Values && (self.all || self.output != OutputFormat::Table) {
            return Err(UsageError(format!(
                "{} apply only to `ikp get values`",
                if self.all { "--all" } else { "-o/--output" }
            )));
        }
        Ok(())
    }
}

/// Runs `ikp get`.
pub(super) fn run(cmd: GetCmd, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    cmd.check_flags()?;
    let data = runtime()?.block_on(async {
        let client = connect(&cmd.client).await?;
        let (_, data) = deploy::revision_data(&client, &cmd.namespace, &cmd.name, cmd.revision)
            .await
            .map_err(one_line)?;
        anyhow::Ok(data)
    })?;
    match cmd.what {
        GetWhat::Values => print_values(&cmd, &data, out)?,
        GetWhat::Manifest => out.write_all(manifest_text(&data, cmd.show_secrets).as_bytes())?,
        GetWhat::Notes => {
            if let Some(notes) = &data.notes {
                writeln!(out, "NOTES:\n{}", notes.trim_end())?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The values `get values` prints: the user's or (with `all`) the computed ones, redacted unless
/// `show_secrets`; `{}` when the user gave none.
fn shown_values(data: &RevisionData, all: bool, show_secrets: bool) -> Value {
    let values = if all {
        &data.values.computed
    } else {
        &data.values.user
    };
    let values = match values {
        Value::Null => Value::Object(Default::default()),
        other => other.clone(),
    };
    if show_secrets {
        values
    } else {
        redact_values(&values)
    }
}

fn print_values(cmd: &GetCmd, data: &RevisionData, out: &mut dyn Write) -> anyhow::Result<()> {
    let values = shown_values(data, cmd.all, cmd.show_secrets);
    if cmd.output != OutputFormat::Table {
        return write_document(cmd.output, &values, out);
    }
    let heading = if cmd.all {
        "COMPUTED VALUES:"
    } else {
        "USER-SUPPLIED VALUES:"
    };
    writeln!(out, "{heading}\n{}", yaml_text(&values))?;
    Ok(())
}

/// The manifest as Helm's `get manifest` lays it out: `---`, `# Source:`, the object; Secret `data`
/// and `stringData` values shown as `***` unless `show_secrets`.
fn manifest_text(data: &RevisionData, show_secrets: bool) -> String {
    let mut text = String::new();
    for stored in &data.manifest {
        let mut object = stored.object.clone();
        if !show_secrets {
            deploy::redact_secret_data(Some(&mut object), None);
        }
        text.push_str("---\n");
        if !stored.source.is_empty() {
            text.push_str(&format!("# Source: {}\n", stored.source));
        }
        text.push_str(&yaml_text(&object));
    }
    text
}

/// A value as block YAML ending in one newline.
fn yaml_text(value: &Value) -> String {
    match YamlNode::from_json(value) {
        Ok(node) => format!("{}\n", to_yaml(&node).trim_end_matches('\n')),
        Err(_) => format!("{value}\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ikp::deploy::PlanValues;
    use ikp::deploy::stored::StoredObject;

    fn data() -> RevisionData {
        RevisionData {
            values: PlanValues {
                user: serde_json::json!({"tunnel": {"gateway": {"ssh": {"privateKey": "S3CRET"}}}}),
                computed: serde_json::json!({"a": 1, "tunnel": {"gateway": {"ssh": {"privateKey": "S3CRET"}}}}),
            },
            manifest: vec![StoredObject {
                source: "bastion/templates/secret.yaml".into(),
                object: serde_json::json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"KEY": "UzNDUkVU"}}),
            }],
            notes: None,
        }
    }

    #[test]
    fn values_hide_the_private_key_unless_show_secrets() {
        let shown = shown_values(&data(), false, false).to_string();
        assert!(!shown.contains("S3CRET"), "{shown}");
        assert!(shown.contains("redacted:sha256:"), "{shown}");
        let all = shown_values(&data(), true, false);
        assert_eq!(all["a"], 1);
        assert!(!all.to_string().contains("S3CRET"));
        let plain = shown_values(&data(), false, true).to_string();
        assert!(plain.contains("S3CRET"), "{plain}");
    }

    #[test]
    fn manifest_hides_secret_data_unless_show_secrets() {
        let text = manifest_text(&data(), false);
        assert!(
            text.starts_with("---\n# Source: bastion/templates/secret.yaml\n"),
            "{text}"
        );
        assert!(!text.contains("UzNDUkVU"), "{text}");
        assert!(manifest_text(&data(), true).contains("UzNDUkVU"));
    }

    #[test]
    fn no_user_values_print_as_an_empty_map() {
        let mut d = data();
        d.values.user = Value::Null;
        assert_eq!(shown_values(&d, false, false), serde_json::json!({}));
    }
}
