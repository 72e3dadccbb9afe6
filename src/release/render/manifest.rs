//! From rendered template text to Helm's output: documents split on `---` lines, trimmed, ordered by
//! template path then by Helm's kind install order, and framed with `# Source:` lines — exactly as
//! `helm template` prints them, including `--show-only` and `--output-dir`.

use std::collections::BTreeMap;

/// One document of the release.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// `<chart>/templates/<file>`, the `# Source:` path.
    pub source: String,
    /// The document text, trimmed, without the `---` line.
    pub content: String,
    /// The document as Kubernetes reads it (YAML 1.1), filled in by the object check.
    pub object: serde_json::Value,
    /// `kind`, or "" when the document has none.
    pub kind: String,
}

/// Go's `\s` (RE2's Perl class): ASCII white space without `\v`.
fn go_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | b'\x0c' | b'\r' | b' ')
}

/// The matches of Helm's separator regex `(?:^|\s*\n)---\s*`, leftmost first and not overlapping,
/// as byte ranges.
fn separators(text: &str) -> Vec<std::ops::Range<usize>> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut from = 0;
    let dashes_end = |at: usize| {
        let mut end = at + 3;
        while end < bytes.len() && go_space(bytes[end]) {
            end += 1;
        }
        end
    };
    if text.starts_with("---") {
        from = dashes_end(0);
        found.push(0..from);
    }
    while let Some(offset) = text[from..].find("\n---") {
        let newline = from + offset;
        let mut start = newline;
        while start > from && go_space(bytes[start - 1]) {
            start -= 1;
        }
        let end = dashes_end(newline + 1);
        found.push(start..end);
        from = end;
    }
    found
}

/// Go's `strings.TrimSpace` (Unicode white space).
pub fn trim_space(text: &str) -> &str {
    text.trim_matches(|c: char| c.is_whitespace())
}

/// Splits one rendered template into documents as Helm does (pkg/releaseutil SplitManifests).
fn split_documents(text: &str) -> Vec<String> {
    let trimmed = trim_space(text);
    let mut pieces = Vec::new();
    let mut last = 0;
    for range in separators(trimmed) {
        pieces.push(&trimmed[last..range.start]);
        last = range.end;
    }
    pieces.push(&trimmed[last..]);
    pieces
        .into_iter()
        .filter(|piece| !piece.is_empty())
        .map(|piece| trim_space(piece).to_owned())
        .collect()
}

/// Documents of all manifest templates, in template path order (byte order), then file order.
/// Whitespace-only files and partials (`_*`) give nothing.
pub(super) fn collect_documents(
    chart_name: &str,
    files: &BTreeMap<String, String>,
) -> Vec<Manifest> {
    let mut manifests = Vec::new();
    for (path, text) in files {
        if super::engine::is_partial(path) || trim_space(text).is_empty() {
            continue;
        }
        for content in split_documents(text) {
            manifests.push(Manifest {
                source: format!("{chart_name}/{path}"),
                content,
                object: serde_json::Value::Null,
                kind: String::new(),
            });
        }
    }
    manifests
}

/// Helm's InstallOrder (pkg/releaseutil/kind_sorter.go).
const INSTALL_ORDER: &[&str] = &[
    "PriorityClass",
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

/// Stable sort by kind: known kinds in install order, unknown kinds after them by name.
pub(super) fn sort_by_kind(manifests: &mut [Manifest]) {
    let rank = |kind: &str| INSTALL_ORDER.iter().position(|known| *known == kind);
    manifests.sort_by(|a, b| match (rank(&a.kind), rank(&b.kind)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.kind.cmp(&b.kind),
    });
}

/// `helm template` stdout: every document as `---\n# Source: ...\n<doc>\n`, trimmed, one final newline.
pub fn format_stream(manifests: &[Manifest]) -> String {
    let mut out = String::new();
    for manifest in manifests {
        push_framed(&mut out, manifest);
    }
    let mut text = trim_space(&out).to_owned();
    text.push('\n');
    text
}

fn push_framed(out: &mut String, manifest: &Manifest) {
    out.push_str("---\n# Source: ");
    out.push_str(&manifest.source);
    out.push('\n');
    out.push_str(&manifest.content);
    out.push('\n');
}

/// A `--show-only` pattern that matched no document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("could not find template {pattern} in chart")]
pub struct ShowOnlyNotFound {
    /// The pattern as given.
    pub pattern: String,
}

/// `--show-only`: for each pattern, in flag order, the documents whose path inside the chart
/// (`templates/service.yaml`) matches it as a glob. A pattern that matches nothing is an error.
pub fn select_show_only(
    manifests: &[Manifest],
    patterns: &[String],
) -> Result<Vec<Manifest>, ShowOnlyNotFound> {
    let mut selected = Vec::new();
    for pattern in patterns {
        let pattern_text = pattern.replace('\\', "/");
        let before = selected.len();
        selected.extend(
            manifests
                .iter()
                .filter(|manifest| {
                    manifest
                        .source
                        .split_once('/')
                        .is_some_and(|(_, path_in_chart)| glob_match(&pattern_text, path_in_chart))
                })
                .cloned(),
        );
        if selected.len() == before {
            return Err(ShowOnlyNotFound {
                pattern: pattern.clone(),
            });
        }
    }
    Ok(selected)
}

/// `--show-only` output: every document framed as `---\n# Source: ...\n<doc>\n`, untrimmed.
pub fn format_framed(manifests: &[Manifest]) -> String {
    let mut out = String::new();
    for manifest in manifests {
        push_framed(&mut out, manifest);
    }
    out
}

/// One file `--output-dir` writes: its path and full content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFile {
    /// `<dir>/<chart>/templates/<file>` (or `<dir>/<release>/<chart>/...`), joined with `/` as
    /// Helm prints it.
    pub path: String,
    /// Every document of that template, each framed as on stdout.
    pub content: String,
}

/// `--output-dir`: the files to write and the stdout lines (`wrote <path>` per document, then an
/// empty line).
pub fn output_dir_files(
    manifests: &[Manifest],
    output_dir: &str,
    release_dir: Option<&str>,
) -> (Vec<OutputFile>, String) {
    // Helm joins the release directory with filepath.Join (which drops a trailing `/`) but the
    // file name with a plain "/" join.
    let base = match release_dir {
        Some(release) => format!("{}/{release}", output_dir.trim_end_matches('/')),
        None => output_dir.to_owned(),
    };
    let mut files: Vec<OutputFile> = Vec::new();
    let mut stdout = String::new();
    for manifest in manifests {
        let path = format!("{base}/{}", manifest.source);
        let mut framed = String::new();
        push_framed(&mut framed, manifest);
        match files.iter_mut().find(|file| file.path == path) {
            Some(file) => file.content.push_str(&framed),
            None => files.push(OutputFile {
                path: path.clone(),
                content: framed,
            }),
        }
        stdout.push_str("wrote ");
        stdout.push_str(&path);
        stdout.push('\n');
    }
    stdout.push('\n');
    (files, stdout)
}

/// Go's `filepath.Match` on `/`-separated paths: `*` and `?` do not cross `/`, `[...]` classes
/// (with `^` negation and ranges), `\` escapes.
fn glob_match(pattern: &str, name: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let name: Vec<char> = name.chars().collect();
    glob_from(&pattern, &name)
}

fn glob_from(pattern: &[char], name: &[char]) -> bool {
    match pattern.first() {
        None => name.is_empty(),
        Some('*') => {
            let rest = &pattern[1..];
            for split in 0..=name.len() {
                if split > 0 && name[split - 1] == '/' {
                    break;
                }
                if glob_from(rest, &name[split..]) {
                    return true;
                }
            }
            false
        }
        Some('?') => match name.first() {
            Some(&c) if c != '/' => glob_from(&pattern[1..], &name[1..]),
            _ => false,
        },
        Some('[') => {
            let Some(&c) = name.first() else {
                return false;
            };
            match match_class(&pattern[1..], c) {
                Some((matched, consumed)) if matched && c != '/' => {
                    glob_from(&pattern[1 + consumed..], &name[1..])
                }
                _ => false,
            }
        }
        Some('\\') if pattern.len() > 1 => {
            name.first() == Some(&pattern[1]) && glob_from(&pattern[2..], &name[1..])
        }
        Some(&literal) => name.first() == Some(&literal) && glob_from(&pattern[1..], &name[1..]),
    }
}

/// Matches `c` against a class body starting after `[`; returns (matched, chars consumed incl. `]`).
fn match_class(body: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 0;
    let negated = body.first() == Some(&'^');
    if negated {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    while i < body.len() {
        if body[i] == ']' && !first {
            return Some((matched != negated, i + 1));
        }
        first = false;
        let mut low = body[i];
        if low == '\\' {
            i += 1;
            low = *body.get(i)?;
        }
        let mut high = low;
        if body.get(i + 1) == Some(&'-') && body.get(i + 2).is_some_and(|&h| h != ']') {
            high = body[i + 2];
            if high == '\\' {
                high = *body.get(i + 3)?;
                i += 1;
            }
            i += 2;
        }
        if low <= c && c <= high {
            matched = true;
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitting_follows_helm_regex() {
        assert_eq!(split_documents("a: 1\n---\nb: 2\n"), vec!["a: 1", "b: 2"]);
        assert_eq!(split_documents("---\na: 1"), vec!["a: 1"]);
        // The second `---` lost its line break to the first match, so it stays in the document (as in Go).
        assert_eq!(
            split_documents("a: 1\n---\n---\nb: 2"),
            vec!["a: 1", "---\nb: 2"]
        );
        assert_eq!(
            split_documents("a: 1\n---apiVersion: v1"),
            vec!["a: 1", "apiVersion: v1"]
        );
        assert_eq!(
            split_documents("a: 1\n--- # c\nb: 2"),
            vec!["a: 1", "# c\nb: 2"]
        );
        assert_eq!(split_documents("a: \n  b: x \n"), vec!["a: \n  b: x"]);
        assert!(split_documents("  \n ").is_empty());
    }

    proptest::proptest! {
        /// The hand-written matcher finds exactly the matches of Helm's regex (with Go's ASCII `\s`).
        #[test]
        fn separators_are_the_regex_matches(text in "[-a \t\n\r\x0c\x0b]{0,40}") {
            let regex = regex::Regex::new(r"(?:^|[\t\n\x0c\r ]*\n)---[\t\n\x0c\r ]*").unwrap();
            let expected: Vec<_> = regex.find_iter(&text).map(|m| m.range()).collect();
            proptest::prop_assert_eq!(separators(&text), expected);
        }
    }

    fn manifest(kind: &str, source: &str) -> Manifest {
        Manifest {
            source: source.to_owned(),
            content: format!("kind: {kind}"),
            object: serde_json::Value::Null,
            kind: kind.to_owned(),
        }
    }

    #[test]
    fn kind_sort_is_stable_with_unknown_kinds_last_by_name() {
        let mut list = vec![
            manifest("Deployment", "c/templates/d.yaml"),
            manifest("Foo", "c/templates/a.yaml"),
            manifest("Service", "c/templates/s1.yaml"),
            manifest("", "c/templates/e.yaml"),
            manifest("Service", "c/templates/s2.yaml"),
            manifest("Secret", "c/templates/x.yaml"),
            manifest("ConfigMap", "c/templates/y.yaml"),
        ];
        sort_by_kind(&mut list);
        let order: Vec<&str> = list.iter().map(|m| m.source.as_str()).collect();
        assert_eq!(
            order,
            vec![
                "c/templates/x.yaml",
                "c/templates/y.yaml",
                "c/templates/s1.yaml",
                "c/templates/s2.yaml",
                "c/templates/d.yaml",
                "c/templates/e.yaml",
                "c/templates/a.yaml"
            ]
        );
    }

    #[test]
    fn stream_framing() {
        let list = vec![
            manifest("A", "c/templates/a.yaml"),
            manifest("B", "c/templates/b.yaml"),
        ];
        assert_eq!(
            format_stream(&list),
            "---\n# Source: c/templates/a.yaml\nkind: A\n---\n# Source: c/templates/b.yaml\nkind: B\n"
        );
        assert_eq!(format_stream(&[]), "\n");
    }

    #[test]
    fn show_only_keeps_flag_order_and_reports_misses() {
        let list = vec![
            manifest("A", "c/templates/a.yaml"),
            manifest("B", "c/templates/b.yaml"),
        ];
        let selected = select_show_only(
            &list,
            &["templates/b.yaml".into(), "templates/a.yaml".into()],
        )
        .unwrap();
        let out = format_framed(&selected);
        assert!(out.starts_with("---\n# Source: c/templates/b.yaml\nkind: B\n---\n"));
        assert!(out.ends_with("kind: A\n"));
        let err = select_show_only(&list, &["c/templates/a.yaml".into()]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "could not find template c/templates/a.yaml in chart"
        );
        assert_eq!(
            select_show_only(&list, &["templates/*.yaml".into()])
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn glob_semantics_match_go_filepath_match() {
        assert!(glob_match("templates/*.yaml", "templates/service.yaml"));
        assert!(!glob_match("*", "templates/service.yaml"));
        assert!(glob_match(
            "templates/s?rvice.yaml",
            "templates/service.yaml"
        ));
        assert!(glob_match("templates/[cs]*", "templates/service.yaml"));
        assert!(!glob_match("templates/[^cs]*", "templates/service.yaml"));
        assert!(glob_match(
            "templates/[a-z]ervice.yaml",
            "templates/service.yaml"
        ));
    }

    #[test]
    fn output_dir_appends_documents_of_one_template() {
        let list = vec![
            manifest("Service", "c/templates/s.yaml"),
            manifest("Service", "c/templates/s.yaml"),
        ];
        let (files, stdout) = output_dir_files(&list, "out", None);
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].path, "out/c/templates/s.yaml");
        assert_eq!(files[0].content.matches("---\n# Source").count(), 2);
        assert_eq!(
            stdout,
            "wrote out/c/templates/s.yaml\nwrote out/c/templates/s.yaml\n\n"
        );
        let (files, _) = output_dir_files(&list, "out", Some("rel"));
        assert_eq!(files[0].path, "out/rel/c/templates/s.yaml");
    }
}
