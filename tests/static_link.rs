//! The link arguments build.rs gives the `ikp` executable, applied to a one-line program linked
//! both ways ikp is built — dynamically (`cargo build`) and statically (`crt-static`, as the
//! Dockerfile's musl build is) — which must then run. A static executable linked with `-no-pie`
//! crashed at its first instruction: its start files relocate a position-independent executable.
//!
//! Relies on: `rustc` (the one cargo runs, `$RUSTC`) and the static C library of the host target
//! (glibc's `libc.a`, in the same package as its headers).

use std::path::PathBuf;
use std::process::Command;

#[allow(dead_code)]
#[path = "../build.rs"]
mod build_script;

const PROGRAM: &str = "fn main() { println!(\"linked and started\"); }\n";

/// Links [`PROGRAM`] with the target features and link arguments given, runs it and returns what
/// it printed (or why it did not run).
fn link_and_run(
    name: &str,
    target_features: &[&str],
    link_args: &[&str],
) -> Result<String, String> {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("static_link");
    std::fs::create_dir_all(&dir).map_err(|err| format!("{}: {err}", dir.display()))?;
    let source = dir.join(format!("{name}.rs"));
    std::fs::write(&source, PROGRAM).map_err(|err| format!("{}: {err}", source.display()))?;
    let executable = dir.join(name);
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let mut compile = Command::new(rustc);
    compile.arg(&source).arg("-o").arg(&executable);
    for feature in target_features {
        compile.arg(format!("-Ctarget-feature={feature}"));
    }
    for arg in link_args {
        compile.arg(format!("-Clink-arg={arg}"));
    }
    let compiled = compile.output().map_err(|err| format!("rustc: {err}"))?;
    if !compiled.status.success() {
        return Err(format!(
            "rustc failed: {}",
            String::from_utf8_lossy(&compiled.stderr)
        ));
    }
    let ran = Command::new(&executable)
        .output()
        .map_err(|err| format!("{}: {err}", executable.display()))?;
    if !ran.status.success() {
        return Err(format!(
            "{} exited with {}",
            executable.display(),
            ran.status
        ));
    }
    Ok(String::from_utf8_lossy(&ran.stdout).into_owned())
}

#[test]
fn a_statically_linked_executable_with_the_build_link_args_starts() {
    let printed = link_and_run(
        "static",
        &["+crt-static"],
        build_script::fixed_address_args(true),
    );
    assert_eq!(printed.as_deref(), Ok("linked and started\n"));
}

#[test]
fn a_dynamically_linked_executable_with_the_build_link_args_starts() {
    let args = build_script::fixed_address_args(false);
    assert!(
        args.contains(&"-no-pie"),
        "a dynamic ikp is linked at a fixed address: {args:?}"
    );
    let printed = link_and_run("dynamic", &[], args);
    assert_eq!(printed.as_deref(), Ok("linked and started\n"));
}

#[test]
fn static_linking_is_read_from_the_target_and_the_rustflags() {
    let cases: [(&str, &[&str], bool); 8] = [
        ("gnu", &[], false),
        ("musl", &[], true),
        ("gnu", &["-C", "target-feature=+crt-static"], true),
        ("gnu", &["-Ctarget-feature=+sse4.2,+crt-static"], true),
        ("gnu", &["--codegen=target-feature=+crt-static"], true),
        ("musl", &["-C", "target-feature=-crt-static"], false),
        (
            "musl",
            &[
                "-Ctarget-feature=-crt-static",
                "-Ctarget-feature=+crt-static",
            ],
            true,
        ),
        (
            "gnu",
            &["-C", "opt-level=3", "-Clink-arg=+crt-static"],
            false,
        ),
    ];
    for (target_env, rustflags, expected) in cases {
        assert_eq!(
            build_script::links_statically(target_env, rustflags),
            expected,
            "{target_env} {rustflags:?}"
        );
    }
}
