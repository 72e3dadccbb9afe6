//! Chart loading: the built-in `gateway` and `bastion` charts embedded in the binary, or a chart
//! directory in the same layout (`Chart.yaml`, `values.yaml`, `templates/`). As with Helm, a chart
//! argument that names an existing directory is that directory; otherwise a built-in chart's name.
//!
//! Chart directories are written in ikp's template dialect (minijinja with Helm's functions as filters,
//! `docs/charts.md`), not in Helm's Go templates. A directory whose templates read like Go templates is
//! refused with an error saying so, instead of failing on the first `.` with a parser message.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::compat::limits::{LimitError, MAX_FILE_BYTES};
use crate::compat::readback::read_document;

/// `Chart.yaml` fields the templates and the output use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartMetadata {
    /// `name`: the `# Source:` prefix and `Chart.Name`.
    pub name: String,
    /// `version`.
    pub version: String,
    /// `appVersion`, if set.
    pub app_version: Option<String>,
    /// `description`, if set.
    pub description: Option<String>,
}

/// One template file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartFile {
    /// Path inside the chart with `/` separators (`templates/service.yaml`).
    pub path: String,
    /// The template source.
    pub source: String,
}

/// Where a chart came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChartOrigin {
    /// Built into the binary.
    Embedded,
    /// Read from this directory.
    Directory(PathBuf),
}

/// A loaded chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chart {
    /// From `Chart.yaml`.
    pub metadata: ChartMetadata,
    /// The text of `values.yaml` (the defaults); empty when the chart has none.
    pub values_yaml: String,
    /// Every file under `templates/`, sorted by path.
    pub templates: Vec<ChartFile>,
    /// Embedded or directory.
    pub origin: ChartOrigin,
}

/// Why a chart could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    /// Neither a directory nor a built-in chart.
    #[error(
        "chart {argument:?} not found: it is neither a chart directory nor a built-in chart (gateway, bastion)"
    )]
    NotFound {
        /// The chart argument as given.
        argument: String,
    },
    /// A file of the chart could not be read.
    #[error("cannot read {path}: {error}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error (part of the message, so not also chained as `source()`).
        error: std::io::Error,
    },
    /// A chart file over the size limit.
    #[error("{path}: {error}")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit.
        error: LimitError,
    },
    /// A chart file is not UTF-8 text.
    #[error("{path} is not UTF-8 text")]
    NotText {
        /// The file.
        path: PathBuf,
    },
    /// `Chart.yaml` is not valid YAML.
    #[error("{path}: {message}")]
    BadChartYaml {
        /// The Chart.yaml file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// `Chart.yaml` lacks a required field.
    #[error("{path}: field {field} is required and must be a string")]
    MissingField {
        /// The Chart.yaml file.
        path: PathBuf,
        /// The field name.
        field: &'static str,
    },
    /// A template is written in Helm's Go-template syntax, which ikp does not render.
    #[error(
        "{path}:{line}: `{snippet}` is Helm Go-template syntax; ikp renders chart directories written in its \
         minijinja dialect (`{{{{ Values.x }}}}`, `{{% if %}}`, `include(\"name\", root)` of macros): see docs/charts.md, \
         or use one of the built-in charts (gateway, bastion)"
    )]
    GoTemplate {
        /// The template file.
        path: PathBuf,
        /// 1-based line of the first Go-template action.
        line: usize,
        /// That action, shortened.
        snippet: String,
    },
    /// The chart has subcharts, which ikp does not render.
    #[error("{path}: subcharts (a non-empty charts/ directory) are not supported by ikp")]
    Subcharts {
        /// The chart directory.
        path: PathBuf,
    },
}

macro_rules! embedded_chart {
    ($dir:literal, [$($file:literal),* $(,)?]) => {
        &[$(($file, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/charts/", $dir, "/", $file)))),*]
    };
}

/// The built-in charts' files: (path inside the chart, content).
const EMBEDDED_GATEWAY: &[(&str, &str)] = embedded_chart!(
    "gateway",
    [
        "Chart.yaml",
        "values.yaml",
        "README.md",
        "templates/_helpers.tpl",
        "templates/configMap.yaml",
        "templates/service.yaml",
        "templates/deployment.yaml",
        "templates/NOTES.txt",
    ]
);
const EMBEDDED_BASTION: &[(&str, &str)] = embedded_chart!(
    "bastion",
    [
        "Chart.yaml",
        "values.yaml",
        "README.md",
        "templates/_helpers.tpl",
        "templates/secret.yaml",
        "templates/configMap.yaml",
        "templates/deployment.yaml",
        "templates/NOTES.txt",
    ]
);

/// Names of the charts built into the binary.
pub const BUILTIN_CHARTS: &[&str] = &["gateway", "bastion"];

/// The files of a built-in chart, as (path inside the chart, content).
pub fn builtin_files(name: &str) -> Option<&'static [(&'static str, &'static str)]> {
    match name {
        "gateway" => Some(EMBEDDED_GATEWAY),
        "bastion" => Some(EMBEDDED_BASTION),
        _ => None,
    }
}

/// A built-in chart by name.
pub fn builtin(name: &str) -> Option<Chart> {
    let files = builtin_files(name)?;
    let lookup = |path: &str| files.iter().find(|(p, _)| *p == path).map(|(_, c)| *c);
    let chart_yaml = lookup("Chart.yaml")?;
    // The embedded Chart.yaml is tested; a failure here is a build defect, reported as not found.
    let metadata = parse_chart_yaml(chart_yaml, Path::new("Chart.yaml")).ok()?;
    let mut templates: Vec<ChartFile> = files
        .iter()
        .filter(|(path, _)| path.starts_with("templates/"))
        .map(|(path, source)| ChartFile {
            path: (*path).to_owned(),
            source: (*source).to_owned(),
        })
        .collect();
    templates.sort_by(|a, b| a.path.cmp(&b.path));
    Some(Chart {
        metadata,
        values_yaml: lookup("values.yaml").unwrap_or_default().to_owned(),
        templates,
        origin: ChartOrigin::Embedded,
    })
}

/// Resolves a chart argument as Helm does for local charts: an existing directory wins, then a
/// built-in chart's name.
pub fn resolve(argument: &str) -> Result<Chart, ChartError> {
    let path = Path::new(argument);
    if path.is_dir() {
        return load_dir(path);
    }
    builtin(argument).ok_or_else(|| ChartError::NotFound {
        argument: argument.to_owned(),
    })
}

/// Reads a chart file, at most [`MAX_FILE_BYTES`] of it (a chart directory is user input too).
fn read_text(path: &Path) -> Result<String, ChartError> {
    let read_error = |error| ChartError::Read {
        path: path.to_owned(),
        error,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(ChartError::TooLarge {
            path: path.to_owned(),
            error: LimitError::FileTooLarge,
        });
    }
    String::from_utf8(bytes).map_err(|_| ChartError::NotText {
        path: path.to_owned(),
    })
}

/// Loads a chart directory.
pub fn load_dir(dir: &Path) -> Result<Chart, ChartError> {
    let chart_yaml_path = dir.join("Chart.yaml");
    let metadata = parse_chart_yaml(&read_text(&chart_yaml_path)?, &chart_yaml_path)?;
    let values_path = dir.join("values.yaml");
    let values_yaml = if values_path.is_file() {
        read_text(&values_path)?
    } else {
        String::new()
    };
    let subcharts = dir.join("charts");
    if subcharts.is_dir()
        && std::fs::read_dir(&subcharts)
            .map(|mut entries| entries.next().is_some())
            .unwrap_or(false)
    {
        return Err(ChartError::Subcharts {
            path: dir.to_owned(),
        });
    }
    let mut templates = Vec::new();
    let templates_dir = dir.join("templates");
    if templates_dir.is_dir() {
        collect_templates(&templates_dir, "templates", &mut templates)?;
    }
    templates.sort_by(|a, b| a.path.cmp(&b.path));
    for template in &templates {
        if let Some((line, snippet)) = find_go_template_action(&template.source) {
            return Err(ChartError::GoTemplate {
                path: dir.join(&template.path),
                line,
                snippet,
            });
        }
    }
    Ok(Chart {
        metadata,
        values_yaml,
        templates,
        origin: ChartOrigin::Directory(dir.to_owned()),
    })
}

fn collect_templates(dir: &Path, prefix: &str, out: &mut Vec<ChartFile>) -> Result<(), ChartError> {
    let entries = std::fs::read_dir(dir).map_err(|error| ChartError::Read {
        path: dir.to_owned(),
        error,
    })?;
    for entry in entries {
        let entry = entry.map_err(|error| ChartError::Read {
            path: dir.to_owned(),
            error,
        })?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let inner = format!("{prefix}/{name}");
        if path.is_dir() {
            collect_templates(&path, &inner, out)?;
        } else {
            out.push(ChartFile {
                path: inner,
                source: read_text(&path)?,
            });
        }
    }
    Ok(())
}

/// Words that start a Go-template action but are never the start of a minijinja expression: Go's control
/// keywords take their argument after a space (minijinja writes `{% if %}`), and Helm's `include`/`template`
/// calls take a quoted name after a space (a minijinja call needs parentheses).
const GO_ACTION_WORDS: &[&str] = &[
    "include", "template", "define", "block", "if", "else", "end", "range", "with", "toYaml",
    "tpl", "required", "default", "quote", "printf",
];

/// Helm's built-in objects as Go templates name them, with the leading dot minijinja never writes.
const GO_BUILTIN_OBJECTS: &[&str] = &[
    ".Values",
    ".Release",
    ".Chart",
    ".Capabilities",
    ".Files",
    ".Template",
];

/// The first `{{ ... }}` action of `source` that is Go-template syntax: (1-based line, the action).
/// `{{/* ... */}}` comments, `{{ .Values.x }}`, `{{ $var }}`, `{{- include "x" . }}`, `{{ end }}` and
/// `.Values` after a space or `(` all count; ikp's own `{{ Values.x }}` and `{{ root.Values.x }}` do not.
fn find_go_template_action(source: &str) -> Option<(usize, String)> {
    let mut rest = source;
    let mut offset = 0;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after.find("}}").unwrap_or(after.len());
        let inner = after[..end].trim_start_matches('-').trim_start();
        let first_word: &str = inner
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .next()
            .unwrap_or_default();
        let after_word = inner[first_word.len()..].chars().next();
        let go = inner.starts_with('.')
            || inner.starts_with('$')
            || inner.starts_with("/*")
            || (GO_ACTION_WORDS.contains(&first_word)
                && matches!(after_word, None | Some(' ' | '\t' | '-' | '}')))
            || GO_BUILTIN_OBJECTS.iter().any(|object| {
                [" ", "(", "\t"]
                    .iter()
                    .any(|before| inner.contains(&format!("{before}{object}")))
            });
        if go {
            let line = source[..offset + start].matches('\n').count() + 1;
            let action: String = rest[start..]
                .lines()
                .next()
                .unwrap_or_default()
                .chars()
                .take(60)
                .collect();
            return Some((line, action.trim_end().to_owned()));
        }
        let consumed = start + 2 + end;
        offset += consumed;
        rest = &rest[consumed..];
    }
    None
}

/// A Chart.yaml field as text: strings as they are, numbers as YAML wrote them.
fn field_text(value: Option<&serde_json::Value>) -> Option<String> {
    match value? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn parse_chart_yaml(text: &str, path: &Path) -> Result<ChartMetadata, ChartError> {
    let document = read_document(text).map_err(|err| ChartError::BadChartYaml {
        path: path.to_owned(),
        message: err.to_string(),
    })?;
    let name = field_text(document.get("name"))
        .filter(|n| !n.is_empty())
        .ok_or(ChartError::MissingField {
            path: path.to_owned(),
            field: "name",
        })?;
    let version = field_text(document.get("version")).ok_or(ChartError::MissingField {
        path: path.to_owned(),
        field: "version",
    })?;
    Ok(ChartMetadata {
        name,
        version,
        app_version: field_text(document.get("appVersion")),
        description: field_text(document.get("description")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_charts_load_with_their_metadata() {
        for name in BUILTIN_CHARTS {
            let chart = builtin(name).expect("built-in chart");
            assert_eq!(chart.metadata.name, *name);
            assert_eq!(chart.metadata.version, "1.0.0");
            assert_eq!(chart.metadata.app_version.as_deref(), Some("1.0.0"));
            assert!(
                chart
                    .templates
                    .iter()
                    .any(|t| t.path == "templates/NOTES.txt")
            );
        }
    }

    /// The embedded list must hold exactly the files of `charts/<name>/`.
    #[test]
    fn embedded_files_are_the_chart_directories() {
        for name in BUILTIN_CHARTS {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("charts")
                .join(name);
            let on_disk = load_dir(&dir).expect("chart directory");
            let embedded = builtin(name).expect("built-in chart");
            assert_eq!(on_disk.templates, embedded.templates, "templates of {name}");
            assert_eq!(on_disk.values_yaml, embedded.values_yaml);
            assert_eq!(on_disk.metadata, embedded.metadata);
        }
    }

    /// A Helm chart directory failed with minijinja's `unexpected '.'`, which never said the directory is
    /// read in another dialect.
    #[test]
    fn go_template_chart_directory_is_refused_as_such() {
        let helm_twin = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/helm-gateway");
        let err = load_dir(&helm_twin).unwrap_err();
        let message = err.to_string();
        assert!(
            matches!(&err, ChartError::GoTemplate { path, .. } if path.ends_with("templates/_helpers.tpl")),
            "{message}"
        );
        assert!(message.contains("Helm Go-template syntax"), "{message}");
        assert!(message.contains("docs/charts.md"), "{message}");
    }

    #[test]
    fn go_template_actions_are_told_apart_from_the_ikp_dialect() {
        for go in [
            "name: {{ .Release.Name }}",
            "{{- include \"x.labels\" . | nindent 4 }}",
            "{{ toYaml .Values.resources }}",
            "{{- if .Values.service }}",
            "{{- end }}",
            "{{ $name := 1 }}",
            "{{/* comment */}}",
            "{{ default \"a\" (.Values.x) }}",
        ] {
            assert!(find_go_template_action(go).is_some(), "{go}");
        }
        for ikp in [
            "name: {{ Values.name }}",
            "{{- labels | nindent(4) }}",
            "{{ root.Values.x | default(root.Chart.Name) }}",
            "{{ printf(\"%s-%s\", a, b) }}",
            "{%- if Values.service %}x{%- endif %}",
            "{{ toYaml(Values.resources) }}",
            "{{ range(3) }}",
        ] {
            assert_eq!(find_go_template_action(ikp), None, "{ikp}");
        }
        assert_eq!(
            find_go_template_action("a: 1\nb: {{ Values.b }}\nc: {{ .Values.c }}\n"),
            Some((3, "{{ .Values.c }}".to_owned()))
        );
    }

    #[test]
    fn unknown_chart_is_not_found() {
        let err = resolve("no-such-chart-here").unwrap_err();
        assert!(matches!(err, ChartError::NotFound { .. }));
    }
}
