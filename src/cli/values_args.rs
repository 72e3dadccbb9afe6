//! The values flags shared by `render`, `apply` and `diff` (`-f`, `--set`, `--set-string`, ...).

use std::io::Read;
use std::path::PathBuf;

use ikp::values::{SetKind, ValueLayers, ValuesError};

/// Values flags, exactly as `helm template` takes them. Helm applies them by type, not by
/// position: `-f` files, then `--set-json`, `--set`, `--set-string`, `--set-file`,
/// `--set-literal` (each type in the order given).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ValuesArgs {
    /// Values file (YAML); repeatable, comma-separated lists allowed, `-` reads stdin.
    #[arg(
        short = 'f',
        long = "values",
        value_name = "FILE",
        value_delimiter = ','
    )]
    pub values: Vec<PathBuf>,
    /// Set values: `key=value[,key=value]`, typed like Helm (`true`, `null`, ints, else strings).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Set string values: `key=value[,key=value]`, never converted.
    #[arg(long = "set-string", value_name = "KEY=VALUE")]
    pub set_string: Vec<String>,
    /// Set JSON values: `key=JSON[,key=JSON]` (numbers become floats, as in Helm).
    #[arg(long = "set-json", value_name = "KEY=JSON")]
    pub set_json: Vec<String>,
    /// Set values from files: `key=path[,key=path]`, read verbatim (relative to the current directory).
    #[arg(long = "set-file", value_name = "KEY=PATH")]
    pub set_file: Vec<String>,
    /// Set one literal string value: `key=value`; everything after the first `=`, commas included.
    #[arg(long = "set-literal", value_name = "KEY=VALUE")]
    pub set_literal: Vec<String>,
}

impl ValuesArgs {
    /// Reads the `-f` files (a missing file is an error naming it) and collects the flags into
    /// layers.
    pub fn to_layers(&self) -> Result<ValueLayers, ValuesError> {
        let mut layers = ValueLayers::new();
        for file in &self.values {
            let contents = if file.as_os_str() == "-" {
                let mut text = String::new();
                std::io::stdin()
                    .read_to_string(&mut text)
                    .map_err(|source| ValuesError::ValuesFileRead {
                        file: "stdin".into(),
                        source,
                    })?;
                text
            } else {
                std::fs::read_to_string(file).map_err(|source| ValuesError::ValuesFileRead {
                    file: file.display().to_string(),
                    source,
                })?
            };
            layers.push_values_file(file.clone(), contents)?;
        }
        let groups = [
            (SetKind::Json, &self.set_json),
            (SetKind::Set, &self.set),
            (SetKind::String, &self.set_string),
            (SetKind::File, &self.set_file),
            (SetKind::Literal, &self.set_literal),
        ];
        for (kind, args) in groups {
            for arg in args {
                layers.push_set(kind, arg)?;
            }
        }
        Ok(layers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Probe {
        #[command(flatten)]
        values: ValuesArgs,
    }

    #[test]
    fn flags_parse_and_keep_order() {
        let probe = Probe::try_parse_from([
            "probe",
            "--set-string",
            "a=S",
            "--set",
            "a=1",
            "-f",
            "x.yaml,y.yaml",
            "--values",
            "z.yaml",
            "--set",
            "b=2",
            "--set-literal",
            "c=1,2",
        ])
        .expect("parse");
        assert_eq!(probe.values.set, vec!["a=1", "b=2"]);
        assert_eq!(probe.values.set_string, vec!["a=S"]);
        assert_eq!(probe.values.set_literal, vec!["c=1,2"]);
        assert_eq!(
            probe.values.values,
            vec![
                PathBuf::from("x.yaml"),
                PathBuf::from("y.yaml"),
                PathBuf::from("z.yaml")
            ]
        );
    }

    #[test]
    fn missing_file_names_the_path() {
        let args = ValuesArgs {
            values: vec![PathBuf::from("/nonexistent/values.yaml")],
            ..Default::default()
        };
        let err = args.to_layers().expect_err("missing");
        assert!(
            err.to_string().contains("/nonexistent/values.yaml"),
            "{err}"
        );
    }
}
