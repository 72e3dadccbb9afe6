//! `ikp man [COMMAND]`: the manual page of `ikp` or of one of its commands, in roff, made from the
//! same command definition as `--help` (clap_mangen) — its examples become the page's EXAMPLES.
//! `ikp man --dir DIR` writes every command's page instead.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::CommandFactory as _;
use clap_mangen::Man;

use super::{Cli, UsageError};

/// Flags of `ikp man`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
Examples:
  # The page of ikp render, to read with: man -l ikp-render.1
  ikp man render > ikp-render.1

  # The page of ikp golden check
  ikp man golden check > ikp-golden-check.1

  # Every page into a directory of MANPATH (then: man ikp-golden-check)
  ikp man --dir ~/.local/share/man/man1")]
pub(super) struct ManCmd {
    /// The command whose page to print (`render`, `golden check`); none: the page of `ikp` itself.
    #[arg(value_name = "COMMAND")]
    command: Vec<String>,
    /// Write the pages of `ikp` and of every command into DIR (created if missing) as `ikp.1`,
    /// `ikp-render.1`, `ikp-golden-check.1`, ..., and print their paths.
    #[arg(long, value_name = "DIR", conflicts_with = "command")]
    dir: Option<PathBuf>,
}

/// Runs `ikp man`.
pub(super) fn run(cmd: ManCmd, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let mut root = Cli::command().disable_help_subcommand(true);
    root.build();
    if let Some(dir) = cmd.dir {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        for page in pages(&root) {
            let path = dir.join(format!("{}.1", page_name(page)));
            let mut text = Vec::new();
            render(page, &mut text)?;
            std::fs::write(&path, text)
                .with_context(|| format!("cannot write {}", path.display()))?;
            writeln!(out, "wrote {}", path.display())?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut page = &root;
    for (depth, word) in cmd.command.iter().enumerate() {
        page = page.find_subcommand(word).ok_or_else(|| {
            let known: Vec<&str> = page.get_subcommands().map(|sub| sub.get_name()).collect();
            UsageError(format!(
                "no command `ikp {}`: `ikp {}` has {}",
                cmd.command[..=depth].join(" "),
                cmd.command[..depth].join(" "),
                if known.is_empty() {
                    "no commands".to_owned()
                } else {
                    known.join(", ")
                }
            ))
        })?;
    }
    render(page, out)?;
    Ok(ExitCode::SUCCESS)
}

/// `cmd` and every command below it, hidden ones left out.
fn pages(cmd: &clap::Command) -> Vec<&clap::Command> {
    let mut all = vec![cmd];
    for sub in cmd.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        all.extend(pages(sub));
    }
    all
}

/// The page's name: `ikp`, `ikp-render`, `ikp-golden-check`.
fn page_name(cmd: &clap::Command) -> &str {
    cmd.get_display_name().unwrap_or_else(|| cmd.get_name())
}

/// Writes the page of `cmd`: clap_mangen's sections, with the examples of its long help as EXAMPLES.
fn render(cmd: &clap::Command, out: &mut dyn Write) -> std::io::Result<()> {
    let mut page = Vec::new();
    render_sections(cmd, &mut page)?;
    // Each section clap_mangen renders repeats the same two-line string definition; once is enough.
    let text = String::from_utf8_lossy(&page);
    let mut seen = std::collections::HashSet::new();
    for line in text.lines() {
        if (line.starts_with(".ie ") || line.starts_with(".el ")) && !seen.insert(line) {
            continue;
        }
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// The sections of the page of `cmd`, as [`render`] describes.
fn render_sections(cmd: &clap::Command, out: &mut dyn Write) -> std::io::Result<()> {
    let man = Man::new(cmd.clone()).source(concat!("ikp ", env!("CARGO_PKG_VERSION")));
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    if cmd.get_arguments().any(|arg| !arg.is_hide_set()) {
        man.render_options_section(out)?;
    }
    if cmd.get_subcommands().any(|sub| !sub.is_hide_set()) {
        man.render_subcommands_section(out)?;
    }
    if let Some(help) = cmd.get_after_long_help().or_else(|| cmd.get_after_help()) {
        let text = help.to_string();
        let examples = text.strip_prefix("Examples:\n").unwrap_or(&text);
        // Verbatim (no filling or hyphenation), as a terminal shows them.
        writeln!(out, ".SH EXAMPLES\n.nf")?;
        for line in examples.lines() {
            writeln!(out, "{}", roff_line(line))?;
        }
        writeln!(out, ".fi")?;
    }
    man.render_version_section(out)
}

/// One line of text for roff: backslashes and hyphens escaped, a leading `.` or `'` made text.
fn roff_line(line: &str) -> String {
    let escaped = line.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with(['.', '\'']) {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roff_lines_escape_what_roff_would_read() {
        assert_eq!(roff_line("  ikp a \\"), "  ikp a \\e");
        assert_eq!(roff_line("--set x"), "\\-\\-set x");
        assert_eq!(roff_line(".hidden"), "\\&.hidden");
    }

    #[test]
    fn every_command_has_a_page_with_its_examples() {
        let mut root = Cli::command().disable_help_subcommand(true);
        root.build();
        let all = pages(&root);
        let names: Vec<&str> = all.iter().map(|page| page_name(page)).collect();
        for expected in ["ikp", "ikp-render", "ikp-golden-check", "ikp-completion"] {
            assert!(names.contains(&expected), "{expected} not in {names:?}");
        }
        for page in all {
            let mut text = Vec::new();
            render(page, &mut text).expect("render");
            let text = String::from_utf8(text).expect("utf-8");
            assert!(text.contains("\n.TH "), "{}", page_name(page));
            assert_eq!(text.matches(".el .ds Aq").count(), 1, "{}", page_name(page));
            assert!(
                text.contains("\n.SH EXAMPLES\n.nf\n"),
                "{}",
                page_name(page)
            );
        }
    }
}
