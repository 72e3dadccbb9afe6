//! Reads `--help` texts: the `Examples:` section that ends every command's (shared by the unit test that
//! checks clap's command tree, src/cli/examples_tests.rs, and tests/cli_help.rs, which runs the examples)
//! and the `Commands:` section, to walk the command tree from outside.

/// The command lines of a long help's closing `Examples:` section, continuation lines joined; `None`
/// when the help does not end with one. A line of the section that is neither a comment nor an `ikp`
/// command (see [`ikp_command`]) fails it too: that is either text after the examples or an example clap wrapped (over 100
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
        if pending.is_empty() && ikp_command(text).is_none() {
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

/// The `ikp` command of an example line: the line itself, or the `ikp ...` of a process substitution
/// (`source <(ikp completion bash)`).
pub fn ikp_command(line: &str) -> Option<&str> {
    if line.starts_with("ikp ") {
        return Some(line);
    }
    let (_, inner) = line.split_once("(ikp ")?;
    let (args, _) = inner.split_once(')')?;
    Some(&line[line.len() - inner.len() - "ikp ".len()..][..args.len() + "ikp ".len()])
}

/// The subcommand names listed in the `Commands:` section of a help text, clap's `help` left out.
pub fn subcommands(help: &str) -> Vec<String> {
    let Some((_, section)) = help.split_once("\nCommands:\n") else {
        return Vec::new();
    };
    section
        .lines()
        .take_while(|line| !line.trim().is_empty())
        .filter(|line| line.starts_with("  ") && !line.starts_with("   "))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}
