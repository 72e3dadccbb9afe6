//! The link arguments build.rs gives the `ikp` executable, applied to a one-line program linked
//! both ways ikp is built — dynamically (`cargo build`) and statically (`crt-static`, as the
//! Dockerfile's musl build is) — which must then run. A static executable linked with `-no-pie`
//! crashed at its first instruction: its start files relocate a position-independent executable.
//!
//! The musl build starts at ikp's C `main` too (`#![no_main]`), where the standard library never
//! learns the command line: `src/argv.rs`, which reads it from `main`'s `argv`, is compiled into a
//! `#![no_main]` musl program and must hand over every argument, byte for byte.
//!
//! Relies on: `rustc` (the one cargo runs, `$RUSTC`), the static C library of the host target
//! (glibc's `libc.a`, in the same package as its headers) and Rust's `x86_64-unknown-linux-musl`
//! target (`rustup target add x86_64-unknown-linux-musl`; it brings its own musl C library).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

#[allow(dead_code)]
#[path = "../build.rs"]
mod build_script;

const PROGRAM: &str = "fn main() { println!(\"linked and started\"); }\n";

/// A `#![no_main]` program with ikp's own entry (`src/argv.rs`) that prints each argument after the
/// program name, each followed by a NUL byte.
const NO_MAIN_PROGRAM: &str = r#"#![no_main]
#[path = "ARGV_RS"]
mod argv;
#[unsafe(no_mangle)]
extern "C" fn main(argc: std::ffi::c_int, argv: *const *const std::ffi::c_char) -> std::ffi::c_int {
    use std::io::Write as _;
    use std::os::unix::ffi::OsStrExt as _;
    let args = unsafe { argv::from_c_main(argc, argv) };
    let mut out = std::io::stdout().lock();
    for arg in args.iter().skip(1) {
        out.write_all(arg.as_bytes()).unwrap();
        out.write_all(b"\0").unwrap();
    }
    out.flush().unwrap();
    0
}
"#;

/// Compiles `source` into the executable `name` with `rustc_args`, runs it with `args` and returns
/// what it printed (or why it did not run).
fn compile_and_run(
    name: &str,
    source: &str,
    rustc_args: &[String],
    args: &[&OsStr],
) -> Result<Vec<u8>, String> {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("static_link");
    std::fs::create_dir_all(&dir).map_err(|err| format!("{}: {err}", dir.display()))?;
    let source_file = dir.join(format!("{name}.rs"));
    std::fs::write(&source_file, source)
        .map_err(|err| format!("{}: {err}", source_file.display()))?;
    let executable = dir.join(name);
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let compiled = Command::new(rustc)
        .args(["--edition", "2024"])
        .arg(&source_file)
        .arg("-o")
        .arg(&executable)
        .args(rustc_args)
        .output()
        .map_err(|err| format!("rustc: {err}"))?;
    if !compiled.status.success() {
        return Err(format!(
            "rustc failed: {}",
            String::from_utf8_lossy(&compiled.stderr)
        ));
    }
    let ran = Command::new(&executable)
        .args(args)
        .output()
        .map_err(|err| format!("{}: {err}", executable.display()))?;
    if !ran.status.success() {
        return Err(format!(
            "{} exited with {}",
            executable.display(),
            ran.status
        ));
    }
    Ok(ran.stdout)
}

/// Links [`PROGRAM`] with the target features and link arguments given, runs it and returns what
/// it printed (or why it did not run).
fn link_and_run(
    name: &str,
    target_features: &[&str],
    link_args: &[&str],
) -> Result<String, String> {
    let rustc_args: Vec<String> = target_features
        .iter()
        .map(|feature| format!("-Ctarget-feature={feature}"))
        .chain(link_args.iter().map(|arg| format!("-Clink-arg={arg}")))
        .collect();
    let printed = compile_and_run(name, PROGRAM, &rustc_args, &[])?;
    Ok(String::from_utf8_lossy(&printed).into_owned())
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

/// The musl build (the Dockerfile's, and the one `benches/vs-helm.sh` times with `TARGET=`) starts at
/// ikp's C `main`, and musl's start-up does not give the standard library the command line: with
/// `std::env::args_os()` every `ikp` command line was a bare `ikp`. Both ways a musl executable is
/// built: position-independent (the target's default) and as `.cargo/config.toml` builds ikp (at a
/// fixed address, linked by Rust's LLD run directly).
#[test]
fn the_musl_build_saw_every_command_line_as_a_bare_ikp() {
    let argv_rs = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/argv.rs");
    let source = NO_MAIN_PROGRAM.replace("ARGV_RS", &argv_rs.display().to_string());
    let args: [&OsStr; 5] = [
        OsStr::new("render"),
        OsStr::new("msoff"),
        OsStr::new(""),
        OsStr::new("--set=a b"),
        OsStr::from_bytes(b"not utf-8: \xff"),
    ];
    let expected: Vec<u8> = args
        .iter()
        .flat_map(|arg| arg.as_bytes().iter().copied().chain([0]))
        .collect();
    // How `.cargo/config.toml` builds for musl, checked to be what it says.
    let config =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(".cargo/config.toml"))
            .expect(".cargo/config.toml");
    for line in [
        r#"linker = "rust-lld""#,
        r#"rustflags = ["-C", "relocation-model=static", "-C", "linker-flavor=ld.lld"]"#,
    ] {
        assert!(
            config.lines().any(|l| l == line),
            ".cargo/config.toml: no line {line}"
        );
    }
    let configured: &[&str] = &[
        "-Crelocation-model=static",
        "-Clinker=rust-lld",
        "-Clinker-flavor=ld.lld",
    ];
    let default: &[&str] = &["-Crelocation-model=pie"];
    for (name, flags) in [("musl_pie", default), ("musl_configured", configured)] {
        let rustc_args: Vec<String> = std::iter::once("--target=x86_64-unknown-linux-musl")
            .chain(flags.iter().copied())
            .map(str::to_owned)
            .collect();
        let printed = compile_and_run(name, &source, &rustc_args, &args).unwrap_or_else(|err| {
            panic!(
                "{name}: {err}\n(the musl target is installed with \
                 `rustup target add x86_64-unknown-linux-musl`)"
            )
        });
        assert_eq!(printed, expected, "{name}");
    }
}
