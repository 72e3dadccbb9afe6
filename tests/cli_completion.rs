//! `ikp completion bash|zsh|fish` scripts work in the real shells, and `ikp man` writes a readable page
//! for every command.
//!
//! bash: the script is sourced, `complete -p ikp` names its function, and the function is called with
//! `COMP_WORDS`/`COMP_CWORD` set as bash sets them for a TAB; it calls this build's `ikp` back (first on
//! `PATH`). fish: the script is checked with `fish --no-execute`, then `complete -C` completes a line
//! through it. zsh: `zsh -n` checks the script's syntax, and its completion function is called with
//! `words`/`CURRENT` set and compinit's `_describe` stubbed (the real one needs a terminal). A shell that is not installed is SKIPPED outside CI and a failure under `CI=true`
//! (`.ci/run` installs zsh and fish).

mod support;

use std::path::Path;
use std::process::{Command, Output};

fn ikp() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ikp"))
}

/// `PATH` with this build's `ikp` first.
fn path_with_ikp() -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_ikp"));
    format!(
        "{}:{}",
        bin.parent().expect("bin dir").display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Whether `program` runs; when it does not, a SKIPPED line outside CI, a failure under CI.
fn shell_available(program: &str) -> bool {
    let found = Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    if !found {
        assert!(!in_ci(), "{program} is not installed (.ci/run installs it)");
        eprintln!("SKIPPED ({program} is not installed: apt-get install -y {program})");
    }
    found
}

fn script(shell: &str) -> String {
    let out = ikp().args(["completion", shell]).output().expect("run ikp");
    support::logs::record(&format!("completion {shell}"), &out);
    assert!(out.status.success(), "ikp completion {shell}");
    String::from_utf8(out.stdout).expect("utf-8 script")
}

fn run(command: &mut Command) -> Output {
    let out = command
        .env("PATH", path_with_ikp())
        .output()
        .expect("run shell");
    assert!(
        out.status.success(),
        "{command:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The candidates bash's completion function gives for each line (its last word is the one
/// completed), in order, one list per line.
fn bash_candidates(lines: &[&[&str]]) -> (String, Vec<Vec<String>>) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("ikp.bash"), script("bash")).expect("write script");
    let mut shell = String::from(
        r#"source ./ikp.bash
complete -p ikp
# What bash sets before calling a -F function for a TAB at the end of the line.
comp() {
    COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
    COMP_TYPE=9; COMPREPLY=()
    _clap_complete_ikp ikp "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
    echo "=="; printf '%s\n' "${COMPREPLY[@]}"
}
"#,
    );
    for line in lines {
        shell.push_str("comp");
        for word in *line {
            shell.push_str(&format!(" '{word}'"));
        }
        shell.push('\n');
    }
    let out = run(Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &shell])
        .current_dir(dir.path()));
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let mut sections = text.split("==\n");
    let registration = sections.next().unwrap_or_default().to_owned();
    let lists = sections
        .map(|section| {
            section
                .lines()
                .filter(|line| !line.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .collect();
    (registration, lists)
}

#[test]
fn bash_completes_values_keys_of_the_chart_on_the_line_and_chart_names() {
    if !shell_available("bash") {
        return;
    }
    let (registration, lists) = bash_candidates(&[
        &[
            "ikp",
            "render",
            "r",
            "gateway",
            "--set",
            "tunnel.service.sou",
        ],
        &["ikp", "render", "r", ""],
        &[
            "ikp",
            "apply",
            "r",
            "bastion",
            "--set-string",
            "tunnel.gateway.h",
        ],
        &["ikp", "render", "--set-file", "ssh.pub"],
        &[
            "ikp",
            "render",
            "r",
            "gateway",
            "--set",
            "ssh.port=2,ssh.pub",
        ],
        &["ikp", "ren"],
        &["ikp", "completion", "z"],
    ]);
    assert!(
        registration.contains("-F _clap_complete_ikp ikp"),
        "complete -p ikp: {registration}"
    );
    assert_eq!(
        lists[0],
        ["tunnel.service.sourceNodePort", "tunnel.service.sourcePort"]
    );
    assert!(
        lists[1].starts_with(&["gateway".to_owned(), "bastion".to_owned()]),
        "{:?}",
        lists[1]
    );
    assert_eq!(lists[2], ["tunnel.gateway.host"]);
    // No chart on the line yet: both charts' keys (ssh.publicKey is the gateway's only).
    assert_eq!(lists[3], ["ssh.publicKey"]);
    assert_eq!(lists[4], ["ssh.port=2,ssh.publicKey"]);
    assert_eq!(lists[5], ["render"]);
    assert_eq!(lists[6], ["zsh"]);
}

#[test]
fn fish_script_is_valid_and_completes_values_keys() {
    if !shell_available("fish") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("ikp.fish");
    std::fs::write(&file, script("fish")).expect("write script");
    run(Command::new("fish").arg("--no-execute").arg(&file));
    let out = run(Command::new("fish")
        .arg("--no-config")
        .arg("-c")
        .arg(format!(
            "source {}; complete -C 'ikp render r gateway --set tunnel.service.sou'",
            file.display()
        )));
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let values: Vec<&str> = text
        .lines()
        .map(|line| line.split('\t').next().unwrap_or_default())
        .collect();
    assert_eq!(
        values,
        ["tunnel.service.sourceNodePort", "tunnel.service.sourcePort"],
        "{text}"
    );
    // fish shows the model's description beside each key.
    assert!(text.contains("\tGateway port"), "{text}");
}

#[test]
fn zsh_script_is_valid_and_its_function_gives_values_keys() {
    if !shell_available("zsh") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("_ikp");
    std::fs::write(&file, script("zsh")).expect("write script");
    run(Command::new("zsh").arg("-n").arg(&file));
    // The completion function, called as zsh's completion system would for a TAB after the 6th word
    // (`words`, `CURRENT`), with `compdef` and `_describe` (compinit's, which need a terminal) replaced
    // by stand-ins: `_describe` prints the `value:description` array it is given.
    let out = run(Command::new("zsh").arg("-fc").arg(format!(
        r#"compdef() {{ :; }}
source {}
_describe() {{ print -l -- "${{(@P)${{@[-1]}}}}"; }}
words=(ikp render r gateway --set tunnel.service.sou); CURRENT=6
_clap_dynamic_completer_ikp"#,
        file.display()
    )));
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let values: Vec<&str> = text
        .lines()
        .map(|line| line.split(':').next().unwrap_or_default())
        .collect();
    assert_eq!(
        values,
        ["tunnel.service.sourceNodePort", "tunnel.service.sourcePort"],
        "{text}"
    );
}

#[test]
fn a_completion_request_for_an_unknown_shell_is_refused() {
    let out = ikp().args(["completion", "tcsh"]).output().expect("run");
    support::logs::record("completion tcsh", &out);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("tcsh") && stderr.contains("bash"),
        "{stderr}"
    );
}

/// Every command `ikp --help` lists, recursively, as page names (`ikp-golden-check`).
fn page_names(words: &[String], out: &mut Vec<String>) {
    let help = ikp().args(words).arg("--help").output().expect("run ikp");
    let help = String::from_utf8(help.stdout).expect("utf-8");
    let mut name = vec!["ikp".to_owned()];
    name.extend(words.iter().cloned());
    out.push(name.join("-"));
    for sub in support::examples::subcommands(&help) {
        let mut sub_words = words.to_vec();
        sub_words.push(sub);
        page_names(&sub_words, out);
    }
}

#[test]
fn man_writes_a_readable_page_for_every_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = ikp()
        .args(["man", "--dir"])
        .arg(dir.path().join("man1"))
        .output()
        .expect("run ikp man");
    support::logs::record("man --dir", &out);
    assert!(out.status.success());
    let mut expected = Vec::new();
    page_names(&[], &mut expected);
    expected.sort();
    let mut written: Vec<String> = std::fs::read_dir(dir.path().join("man1"))
        .expect("man dir")
        .map(|entry| {
            let name = entry.expect("entry").file_name();
            let name = name.to_string_lossy();
            name.strip_suffix(".1").expect(".1 page").to_owned()
        })
        .collect();
    written.sort();
    assert_eq!(written, expected);
    let groff = Command::new("groff").arg("--version").output().is_ok();
    assert!(
        groff || !in_ci(),
        "groff is not installed (.ci/run installs it)"
    );
    if !groff {
        eprintln!("SKIPPED (groff is not installed): the pages' roff is checked by structure only");
    }
    for name in &written {
        let page = dir.path().join("man1").join(format!("{name}.1"));
        let text = std::fs::read_to_string(&page).expect("page");
        for section in [
            ".TH ",
            "\n.SH NAME\n",
            "\n.SH SYNOPSIS\n",
            "\n.SH EXAMPLES\n.nf\n",
        ] {
            assert!(text.contains(section), "{name}: no {section:?}");
        }
        if groff {
            // -ww: every warning; -z: no output. A roff error or warning fails the page.
            let out = Command::new("groff")
                .args(["-man", "-Tutf8", "-ww", "-z"])
                .arg(&page)
                .output()
                .expect("run groff");
            assert!(
                out.status.success() && out.stderr.is_empty(),
                "{name}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    // One page printed to stdout, formatted: its examples are readable text.
    let out = ikp()
        .args(["man", "golden", "check"])
        .output()
        .expect("run");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("ikp golden check golden/"));
    let out = ikp().args(["man", "golden", "chek"]).output().expect("run");
    support::logs::record("man golden chek", &out);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ikp golden chek") && stderr.contains("check, update"),
        "{stderr}"
    );
}
