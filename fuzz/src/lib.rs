//! The input format shared by the fuzz targets, and the checks they make.
//!
//! A case is text: `ikp render`'s (and `helm template`'s) arguments one per line, as in the
//! reference cases' `cmd` files, then zero or more values documents, each after a line `===`.
//! `-f X` / `--values X` takes the next document (whatever `X` says), so a mutated case never
//! reads a real file. `--set-file` reads only the files under `fuzz/files/` (a path with `/` or
//! `..` is turned into a plain `--set`), so that a fuzzer cannot make it read a device or block
//! on stdin.

use std::path::PathBuf;

use ikp::release::values::{SetKind, ValueLayers, ValuesError};

/// One parsed case.
#[derive(Debug, Default)]
pub struct Case {
    /// The first positional argument (the release name), if any.
    pub release: Option<String>,
    /// The second positional argument (the chart), if any.
    pub chart: Option<String>,
    /// `-n`/`--namespace`.
    pub namespace: Option<String>,
    /// Values documents, in `-f` order.
    pub files: Vec<String>,
    /// The `--set` family, in command-line order.
    pub flags: Vec<(SetKind, String)>,
}

/// The directory `--set-file` reads from.
pub fn files_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("files")
}

/// Parses a case (bytes that are not UTF-8 are replaced).
pub fn parse_case(data: &[u8]) -> Case {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split("\n===\n");
    let args: Vec<&str> = parts.next().unwrap_or_default().lines().collect();
    let mut documents = parts.map(str::to_owned);
    let mut case = Case::default();
    let mut positional = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = args[i];
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_owned())),
            _ => (arg, None),
        };
        let kind = match flag {
            "--set" => Some(SetKind::Set),
            "--set-string" => Some(SetKind::String),
            "--set-json" => Some(SetKind::Json),
            "--set-file" => Some(SetKind::File),
            "--set-literal" => Some(SetKind::Literal),
            _ => None,
        };
        let takes_value = kind.is_some()
            || matches!(
                flag,
                "-f" | "--values" | "-n" | "--namespace" | "--name-template"
            );
        let value = if takes_value && inline.is_none() {
            i += 1;
            args.get(i).map(|v| (*v).to_owned())
        } else {
            inline
        };
        match (flag, kind, value) {
            (_, Some(SetKind::File), Some(v)) if v.contains('/') || v.contains("..") => {
                case.flags.push((SetKind::Set, v));
            }
            (_, Some(kind), Some(v)) => case.flags.push((kind, v)),
            ("-f" | "--values", _, Some(_)) => {
                case.files.push(documents.next().unwrap_or_default())
            }
            ("-n" | "--namespace", _, Some(v)) => case.namespace = Some(v),
            ("--name-template", _, Some(v)) => case.release = Some(v),
            ("template", _, _) if positional.is_empty() && i == 0 => {}
            (other, _, _) if !other.starts_with('-') => positional.push(other.to_owned()),
            _ => {}
        }
        i += 1;
    }
    let mut positional = positional.into_iter();
    match (positional.next(), positional.next()) {
        (Some(first), Some(second)) => {
            case.release.get_or_insert(first);
            case.chart = Some(second);
        }
        (Some(only), None) => case.chart = Some(only),
        _ => {}
    }
    case
}

impl Case {
    /// The value layers of the case (files read from [`files_dir`]).
    pub fn layers(&self) -> Result<ValueLayers, ValuesError> {
        let mut layers = ValueLayers::new();
        layers.set_file_base(files_dir());
        for (n, file) in self.files.iter().enumerate() {
            layers.push_values_file(format!("values-{n}.yaml").into(), file.clone())?;
        }
        for (kind, arg) in &self.flags {
            layers.push_set(*kind, arg);
        }
        Ok(layers)
    }
}

/// Panics unless `text` (an error message) is one line: user input must give one-line errors.
/// Validation lists one problem per line, each after `error: `.
pub fn assert_one_line_errors(text: &str) {
    for (n, line) in text.split('\n').enumerate() {
        assert!(
            n == 0 || line.starts_with("error: "),
            "an error message continues on a line of its own: {text:?}"
        );
    }
}

/// Panics unless `stream` (the render output) is a stream of Kubernetes objects that a
/// Kubernetes client reads: every document parses as kubectl reads it (YAML 1.1, then the JSON
/// step that makes whole numbers integers: ikp's `readback` reader), has apiVersion, kind and a
/// valid name, and deserializes into its typed API object.
pub fn assert_valid_kubernetes(manifests: &[ikp::release::render::manifest::Manifest]) {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};

    assert!(!manifests.is_empty(), "a release without objects");
    for manifest in manifests {
        let object = ikp::compat::readback::read_document(&manifest.content)
            .unwrap_or_else(|e| panic!("{}: not YAML: {e}\n{}", manifest.source, manifest.content));
        assert!(object.is_object(), "{}", manifest.content);
        let name = object
            .pointer("/metadata/name")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default();
        assert!(
            ikp::k8s::syntax::is_dns1123_subdomain(name),
            "object name {name:?}\n{}",
            manifest.content
        );
        let kind = object.get("kind").and_then(serde_json::Value::as_str);
        let typed = match kind {
            Some("ConfigMap") => serde_json::from_value::<ConfigMap>(object.clone()).map(drop),
            Some("Secret") => serde_json::from_value::<Secret>(object.clone()).map(drop),
            Some("Service") => serde_json::from_value::<Service>(object.clone()).map(drop),
            Some("Deployment") => serde_json::from_value::<Deployment>(object.clone()).map(drop),
            other => panic!("unexpected kind {other:?}\n{}", manifest.content),
        };
        if let Err(err) = typed {
            panic!(
                "{} does not read as {kind:?}: {err}\n{}",
                manifest.source, manifest.content
            );
        }
    }
}
