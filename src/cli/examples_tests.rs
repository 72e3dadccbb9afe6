//! Every command's `--help` ends with examples, and every example is a command line `ikp` accepts.
//! tests/cli_help.rs runs them.

use clap::{CommandFactory, Parser};

use super::Cli;

// Its `subcommands` walks help texts from outside, which this test does not need.
#[allow(dead_code)]
#[path = "../../tests/support/examples.rs"]
mod examples_text;
use examples_text::{examples, ikp_command};

/// Every command under `cmd` with its words (`["golden", "check"]`), clap's own `help` left out.
fn commands(cmd: &clap::Command, words: &[String], out: &mut Vec<(Vec<String>, clap::Command)>) {
    out.push((words.to_vec(), cmd.clone()));
    for sub in cmd.get_subcommands() {
        if sub.get_name() == "help" {
            continue;
        }
        let mut sub_words = words.to_vec();
        sub_words.push(sub.get_name().to_owned());
        commands(sub, &sub_words, out);
    }
}

/// The words of a shell command line up to its first unquoted `|`, `>`, `&&`, `;` or comment: quotes removed,
/// as bash would pass them (the examples use no expansions).
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' => words.extend(word.take()),
            '#' if word.is_none() => break,
            '|' | '>' | ';' => break,
            '&' if chars.peek() == Some(&'&') => break,
            '\'' => {
                let current = word.get_or_insert_with(String::new);
                current.extend(chars.by_ref().take_while(|&q| q != '\''));
            }
            '"' => {
                let current = word.get_or_insert_with(String::new);
                while let Some(q) = chars.next() {
                    match q {
                        '"' => break,
                        '\\' => current.extend(chars.next()),
                        other => current.push(other),
                    }
                }
            }
            other => word.get_or_insert_with(String::new).push(other),
        }
    }
    words.extend(word);
    words
}

#[test]
fn every_command_help_ends_with_examples() {
    let mut all = Vec::new();
    commands(&Cli::command(), &[], &mut all);
    let missing: Vec<String> = all
        .iter()
        .filter(|(_, cmd)| {
            let help = cmd.clone().render_long_help().to_string();
            examples(&help).is_none()
        })
        .map(|(words, _)| format!("ikp {}", words.join(" ")))
        .collect();
    assert!(
        missing.is_empty(),
        "commands whose --help does not end with an `Examples:` section of `ikp ...` lines \
         (add `#[command(after_long_help = ...)]`): {missing:?}"
    );
    // The walk saw the whole tree, nested commands included.
    assert!(all.iter().any(|(words, _)| words == &["golden", "check"]));
}

#[test]
fn every_example_is_a_command_line_of_its_command() {
    let mut all = Vec::new();
    commands(&Cli::command(), &[], &mut all);
    let mut checked = 0;
    for (words, cmd) in &all {
        let help = cmd.clone().render_long_help().to_string();
        for example in examples(&help).unwrap_or_default() {
            let argv = shell_words(ikp_command(&example).unwrap_or_default());
            if let Err(err) = Cli::try_parse_from(&argv)
                && err.kind() != clap::error::ErrorKind::DisplayHelp
            {
                panic!(
                    "example of `ikp {}` does not parse: {example}\n{err}",
                    words.join(" ")
                );
            }
            // A command's examples show that command (the top level's may show any).
            assert!(
                words.is_empty() || argv[1..].starts_with(words),
                "example of `ikp {}` runs another command: {example}",
                words.join(" ")
            );
            checked += 1;
        }
    }
    assert!(checked >= all.len(), "only {checked} examples");
}

#[test]
fn examples_section_is_read_as_the_shell_would() {
    let help = "About.\n\nExamples:\n  # one\n  ikp render a \\\n    --set x=1\n\n  ikp show chart gateway\n";
    assert_eq!(
        examples(help),
        Some(vec![
            "ikp render a --set x=1".to_owned(),
            "ikp show chart gateway".to_owned()
        ])
    );
    assert_eq!(examples("Examples:\n  ikp x\n\nMore text.\n"), None);
    assert_eq!(examples("No examples.\n"), None);
    assert_eq!(
        ikp_command("source <(ikp completion bash) && x"),
        Some("ikp completion bash")
    );
    assert_eq!(ikp_command("ikp a (b)"), Some("ikp a (b)"));
    assert_eq!(ikp_command("source x"), None);
    assert_eq!(
        shell_words(r#"ikp a 'b c' "d \"e\"" f=g > out | grep x"#),
        vec!["ikp", "a", "b c", "d \"e\"", "f=g"]
    );
    assert_eq!(
        shell_words("ikp golden update g/ && git diff"),
        vec!["ikp", "golden", "update", "g/"]
    );
}
