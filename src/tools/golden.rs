//! Golden files of rendered output, for users' CI and for ikp's own tests: a case is a directory
//! with an `args` file (the `ikp render` arguments, one per line) and any values files it names;
//! the expected output is `expected.yaml` beside it. `check` compares and shows a unified diff per
//! mismatch; `update` rewrites the expected files. How a case is rendered is up to the caller.
//!
//! A render that fails is never an expected output: `check` counts it as a failure, and `update`
//! writes nothing when any case fails to render.

use std::path::{Path, PathBuf};

/// The file that holds a case's render arguments.
const ARGS_FILE: &str = "args";
/// The file that holds a case's expected output.
pub const EXPECTED_FILE: &str = "expected.yaml";

/// One golden case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoldenCase {
    /// The case directory.
    pub dir: PathBuf,
    /// A short name for reports (the directory relative to the searched root).
    pub name: String,
    /// The render arguments, in order.
    pub args: Vec<String>,
}

impl GoldenCase {
    /// Where the expected output is stored.
    fn expected_path(&self) -> PathBuf {
        self.dir.join(EXPECTED_FILE)
    }
}

/// Why golden cases could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum GoldenError {
    /// The directory does not exist or cannot be listed.
    #[error("cannot read {path}: {error}")]
    Read {
        /// The path.
        path: PathBuf,
        /// The I/O error (part of the message, so not also chained as `source()`).
        error: std::io::Error,
    },
    /// No case was found.
    #[error("{path} holds no golden case (a directory with an `{ARGS_FILE}` file)")]
    NoCases {
        /// The searched directory.
        path: PathBuf,
    },
    /// An args file with no arguments.
    #[error("{path}: no render arguments (one per line; `#` starts a comment line)")]
    EmptyArgs {
        /// The args file.
        path: PathBuf,
    },
    /// Some cases failed to render, so no expected file was written.
    #[error("{} failed to render, nothing was written: {}", case_count(failures.len()), failure_list(failures))]
    RenderFailed {
        /// (case name, render error) of every failing case.
        failures: Vec<(String, String)>,
    },
    /// An expected file could not be written.
    #[error("cannot write {path}: {error}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error (part of the message, so not also chained as `source()`).
        error: std::io::Error,
    },
}

fn case_count(n: usize) -> String {
    if n == 1 {
        "golden case".to_owned()
    } else {
        format!("{n} golden cases")
    }
}

fn failure_list(failures: &[(String, String)]) -> String {
    failures
        .iter()
        .map(|(name, message)| format!("{name}: {}", one_line(message)))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A render error on one line (clap's usage errors span several).
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Reads an args file: one argument per line, blank lines and lines starting with `#` skipped.
pub fn parse_args(text: &str) -> Vec<String> {
    text.lines()
        .filter(|line| !line.trim().is_empty() && !line.trim_start().starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// Finds the cases under `root` (or `root` itself when it is a case), sorted by path.
pub fn discover(root: &Path) -> Result<Vec<GoldenCase>, GoldenError> {
    let mut dirs = Vec::new();
    collect_case_dirs(root, &mut dirs)?;
    dirs.sort();
    if dirs.is_empty() {
        return Err(GoldenError::NoCases {
            path: root.to_owned(),
        });
    }
    dirs.into_iter()
        .map(|dir| {
            let args_path = dir.join(ARGS_FILE);
            let text = std::fs::read_to_string(&args_path).map_err(|error| GoldenError::Read {
                path: args_path.clone(),
                error,
            })?;
            let args = parse_args(&text);
            if args.is_empty() {
                return Err(GoldenError::EmptyArgs { path: args_path });
            }
            let name = match dir.strip_prefix(root) {
                Ok(rel) if !rel.as_os_str().is_empty() => rel.display().to_string(),
                _ => dir.display().to_string(),
            };
            Ok(GoldenCase { dir, name, args })
        })
        .collect()
}

fn collect_case_dirs(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), GoldenError> {
    let entries = std::fs::read_dir(dir).map_err(|error| GoldenError::Read {
        path: dir.to_owned(),
        error,
    })?;
    if dir.join(ARGS_FILE).is_file() {
        out.push(dir.to_owned());
    }
    for entry in entries {
        let entry = entry.map_err(|error| GoldenError::Read {
            path: dir.to_owned(),
            error,
        })?;
        if entry.path().is_dir() {
            collect_case_dirs(&entry.path(), out)?;
        }
    }
    Ok(())
}

/// The verdict on one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseResult {
    /// Output equals the expected file.
    Same,
    /// Output differs; the unified diff from expected to rendered.
    Differs(String),
    /// No expected file yet.
    Missing,
    /// The case did not render; the error, on one line.
    RenderFailed(String),
}

/// Compares a case's render (its output, or the render error) with its expected file.
pub fn check_case(case: &GoldenCase, rendered: Result<&str, &str>) -> CaseResult {
    let rendered = match rendered {
        Ok(output) => output,
        Err(message) => return CaseResult::RenderFailed(one_line(message)),
    };
    let Ok(expected) = std::fs::read_to_string(case.expected_path()) else {
        return CaseResult::Missing;
    };
    if expected == rendered {
        return CaseResult::Same;
    }
    let diff = similar::TextDiff::from_lines(expected.as_str(), rendered)
        .unified_diff()
        .context_radius(3)
        .header(
            &format!("{}/{EXPECTED_FILE} (expected)", case.name),
            &format!("{} (rendered)", case.name),
        )
        .to_string();
    CaseResult::Differs(diff)
}

/// Writes the expected file of every case, or none when any case failed to render; returns the names
/// of the cases whose file changed.
pub fn update_cases(
    rendered: &[(GoldenCase, Result<String, String>)],
) -> Result<Vec<String>, GoldenError> {
    let failures: Vec<(String, String)> = rendered
        .iter()
        .filter_map(|(case, result)| {
            result
                .as_ref()
                .err()
                .map(|message| (case.name.clone(), message.clone()))
        })
        .collect();
    if !failures.is_empty() {
        return Err(GoldenError::RenderFailed { failures });
    }
    let mut changed = Vec::new();
    for (case, result) in rendered {
        if let Ok(output) = result
            && update_case(case, output)?
        {
            changed.push(case.name.clone());
        }
    }
    Ok(changed)
}

/// Writes a case's expected file; returns whether it changed.
fn update_case(case: &GoldenCase, rendered: &str) -> Result<bool, GoldenError> {
    let path = case.expected_path();
    if std::fs::read_to_string(&path).is_ok_and(|old| old == rendered) {
        return Ok(false);
    }
    std::fs::write(&path, rendered).map_err(|error| GoldenError::Write { path, error })?;
    Ok(true)
}

/// Counts for the closing summary line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Cases whose output matched.
    pub passed: usize,
    /// Cases whose output differed or that failed to render.
    pub failed: usize,
    /// Cases without an expected file.
    pub missing: usize,
}

impl Summary {
    /// Adds one verdict.
    pub fn record(&mut self, result: &CaseResult) {
        match result {
            CaseResult::Same => self.passed += 1,
            CaseResult::Differs(_) | CaseResult::RenderFailed(_) => self.failed += 1,
            CaseResult::Missing => self.missing += 1,
        }
    }

    /// Whether every case matched.
    pub fn all_passed(&self) -> bool {
        self.failed == 0 && self.missing == 0
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "golden: {} passed, {} failed, {} missing",
            self.passed, self.failed, self.missing
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_skip_comments_and_blank_lines() {
        assert_eq!(
            parse_args("# a comment\nmsoff\n\ngateway\n--set\nssh.userName=a b\n"),
            vec!["msoff", "gateway", "--set", "ssh.userName=a b"]
        );
    }

    #[test]
    fn discover_check_and_update() {
        let root = tempfile::tempdir().unwrap();
        let case_dir = root.path().join("one");
        std::fs::create_dir_all(&case_dir).unwrap();
        std::fs::write(case_dir.join(ARGS_FILE), "msoff\ngateway\n").unwrap();
        let cases = discover(root.path()).unwrap();
        assert_eq!(cases.len(), 1);
        assert_eq!(cases[0].name, "one");
        assert_eq!(check_case(&cases[0], Ok("out\n")), CaseResult::Missing);
        assert!(update_case(&cases[0], "out\n").unwrap());
        assert!(!update_case(&cases[0], "out\n").unwrap());
        assert_eq!(check_case(&cases[0], Ok("out\n")), CaseResult::Same);
        match check_case(&cases[0], Ok("changed\n")) {
            CaseResult::Differs(diff) => {
                assert!(diff.contains("-out"), "{diff}");
                assert!(diff.contains("+changed"), "{diff}");
            }
            other => panic!("expected a diff, got {other:?}"),
        }
    }

    #[test]
    fn empty_tree_has_no_cases() {
        let root = tempfile::tempdir().unwrap();
        assert!(matches!(
            discover(root.path()),
            Err(GoldenError::NoCases { .. })
        ));
    }

    #[test]
    fn render_error_is_a_failed_check_even_against_a_recorded_error() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join(ARGS_FILE), "msoff\nbastion\n").unwrap();
        std::fs::write(root.path().join(EXPECTED_FILE), "ERROR: bad value\n").unwrap();
        let case = &discover(root.path()).unwrap()[0];
        let result = check_case(case, Err("bad value\n  more\n"));
        assert_eq!(result, CaseResult::RenderFailed("bad value more".into()));
        let mut summary = Summary::default();
        summary.record(&CaseResult::Same);
        summary.record(&CaseResult::Missing);
        summary.record(&result);
        assert!(!summary.all_passed());
        assert_eq!(summary.to_string(), "golden: 1 passed, 1 failed, 1 missing");
    }

    #[test]
    fn update_refuses_to_record_a_failed_render_and_writes_nothing() {
        let root = tempfile::tempdir().unwrap();
        for name in ["good", "bad"] {
            std::fs::create_dir_all(root.path().join(name)).unwrap();
            std::fs::write(root.path().join(name).join(ARGS_FILE), "x\n").unwrap();
        }
        let cases = discover(root.path()).unwrap();
        let rendered: Vec<_> = cases
            .into_iter()
            .map(|case| {
                let result = if case.name == "bad" {
                    Err("unexpected argument '--bogus'".to_owned())
                } else {
                    Ok("out\n".to_owned())
                };
                (case, result)
            })
            .collect();
        let err = update_cases(&rendered).unwrap_err();
        assert_eq!(
            err.to_string(),
            "golden case failed to render, nothing was written: bad: unexpected argument '--bogus'"
        );
        for (case, _) in &rendered {
            assert!(!case.expected_path().exists(), "{} written", case.name);
        }
        let good: Vec<_> = rendered
            .into_iter()
            .filter(|(c, _)| c.name == "good")
            .collect();
        assert_eq!(update_cases(&good).unwrap(), vec!["good".to_owned()]);
    }
}
