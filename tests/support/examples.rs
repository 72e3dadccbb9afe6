//! Reads the `Examples:` section that ends every command's `--help`; shared by the unit test that checks
//! clap's command tree (src/cli/examples_tests.rs) and tests/cli_help.rs, which runs the examples.

/// The command lines of a long help's closing `Examples:` section, continuation lines joined; `None`
/// when the help does not end with one. A line of the section that is neither a comment nor starts
/// `ikp ` fails it too: that is either text after the examples or an example clap wrapped (over 100
/// columns).
pub fn examples(help: &str) -> Option<Vec<String>> {
    let (_, section) = help.rsplit_once("\nExamples:\n")?;
    let mut lines = Vec::new();
    let mut pending = String::new();
    for line in section.lines() {
        let text = line.trim();
        if pending.is_empty() && (text.is_empty() || text.starts_with('#')) {
            continue;
        }
        if pending.is_empty() && !text.starts_with("ikp ") {
            return None;
        }
        match text.strip_suffix('\\') {
            Some(start) => pending.push_str(start),
            None => {
                pending.push_str(text);
                lines.push(std::mem::take(&mut pending));
            }
        }
    }
    (pending.is_empty() && !lines.is_empty()).then_some(lines)
}
