//! Link settings of the `ikp` executable, both for a short `ikp render` process, where starting
//! up is most of the time. The library, tests and benches are unaffected.
//!
//! - Linked at a fixed address (not position-independent), as Go links `helm` and `kubectl`. A
//!   position-independent executable makes the dynamic loader write the address of every pointer
//!   in its read-only data at start-up (some 38,000 relocations over 160 pages here), a page fault
//!   and a copy per page in every process; at a fixed address those pages are only read, and only
//!   when used. Only a dynamically linked executable here: a statically linked one (`crt-static`,
//!   the musl build of the Dockerfile) compiled position-independent starts with code that
//!   relocates the executable itself, and linked at a fixed address it crashes before `main`
//!   ([`fixed_address_args`]); the musl build is compiled for a fixed address instead
//!   (`-C relocation-model=static` in `.cargo/config.toml`), and rustc links it so.
//! - The functions a render runs are laid out first and together (`src/link-order.txt`, made by
//!   `benches/link-order.sh`), so the few MiB of code a render touches are a few dozen contiguous
//!   windows of the file instead of pages scattered over all of it. Only LLD takes such a file
//!   (Rust's linker for x86-64 Linux since 1.90, unless another one is configured; the musl build
//!   runs Rust's LLD directly, `.cargo/config.toml`): a one-line program is linked with the option
//!   first, and the option is left out if that fails. Names the linker does not find are ignored.
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/link-order.txt");
    println!("cargo:rerun-if-env-changed=RUSTC_LINKER");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        return;
    }
    let target_env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    let rustflags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    let rustflags: Vec<&str> = rustflags.split('\x1f').collect();
    let crt_static = links_statically(&target_env, &rustflags);
    for arg in fixed_address_args(crt_static) {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
    if !crt_static && target_env == "gnu" && linker_takes(&["-l:libgcc_eh.a".to_owned()]) {
        // The unwinder from GCC's static library instead of `libgcc_s.so`: one shared library
        // fewer to find, map and relocate at every start (what `gcc -static-libgcc` does).
        println!("cargo:rustc-link-lib=static:-bundle=gcc_eh");
    }
    // The checkout being built, read when the script runs: `env!` would give the directory the script
    // was compiled in, and a target directory shared by two checkouts reuses one compiled script.
    let Some(manifest_dir) = std::env::var_os("CARGO_MANIFEST_DIR") else {
        return;
    };
    let order = Path::new(&manifest_dir).join("src/link-order.txt");
    let lld_args = [
        format!("--symbol-ordering-file={}", order.display()),
        "--no-warn-symbol-ordering".to_owned(),
    ];
    // Through the C compiler (the default) the options are passed on with `-Wl,`; a build that
    // runs LLD itself (the musl build, `.cargo/config.toml`) takes them as they are.
    let through_cc = lld_args.clone().map(|arg| format!("-Wl,{arg}"));
    if let Some(order_args) = [through_cc, lld_args]
        .into_iter()
        .find(|args| linker_takes(args))
    {
        for arg in order_args {
            println!("cargo:rustc-link-arg-bins={arg}");
        }
    }
}

/// Whether the executable is linked statically (`crt-static`): a musl build is unless the flags
/// turn it off, others only when the flags turn it on. Cargo's `CARGO_CFG_TARGET_FEATURE` never
/// lists `crt-static` (it asks rustc about every crate type, a dylib among them), so the target's
/// C library and the rustflags decide; the last `target-feature` naming it wins, as in rustc.
pub fn links_statically(target_env: &str, rustflags: &[&str]) -> bool {
    let mut crt_static = target_env == "musl";
    let mut flags = rustflags.iter();
    while let Some(flag) = flags.next() {
        let codegen = match *flag {
            "-C" | "--codegen" => flags.next().copied(),
            other => other
                .strip_prefix("-C")
                .or_else(|| other.strip_prefix("--codegen=")),
        };
        let Some(features) = codegen.and_then(|option| option.strip_prefix("target-feature="))
        else {
            continue;
        };
        for feature in features.split(',') {
            match feature {
                "+crt-static" => crt_static = true,
                "-crt-static" => crt_static = false,
                _ => {}
            }
        }
    }
    crt_static
}

/// The link arguments that put the executable at a fixed address: `-no-pie` when it is linked
/// dynamically, none when it is linked statically (its start files, `rcrt1.o` for glibc and musl,
/// are those of a static position-independent executable and need it to stay so).
/// `tests/static_link.rs` links and runs a program both ways with these arguments.
pub fn fixed_address_args(crt_static: bool) -> &'static [&'static str] {
    if crt_static { &[] } else { &["-no-pie"] }
}

/// Whether the linker of this build accepts `link_args`: an empty program is compiled for the same
/// target with the same flags and linked with them.
fn linker_takes(link_args: &[String]) -> bool {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let Some(out_dir) = std::env::var_os("OUT_DIR").map(PathBuf::from) else {
        return false;
    };
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let mut probe = Command::new(rustc);
    probe
        .args(["-", "--crate-name", "link_probe", "--crate-type", "bin"])
        .arg("--target")
        .arg(var("TARGET"))
        .arg("-o")
        .arg(out_dir.join("link-probe"));
    let linker = var("RUSTC_LINKER");
    if !linker.is_empty() {
        probe.arg(format!("-Clinker={linker}"));
    }
    let flags = var("CARGO_ENCODED_RUSTFLAGS");
    probe.args(flags.split('\x1f').filter(|flag| !flag.is_empty()));
    for arg in link_args {
        probe.arg(format!("-Clink-arg={arg}"));
    }
    probe
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let Ok(mut child) = probe.spawn() else {
        return false;
    };
    if let Some(mut stdin) = child.stdin.take() {
        // A failed write shows as a failed compile below.
        let _ = stdin.write_all(b"fn main() {}\n");
    }
    child.wait().is_ok_and(|status| status.success())
}
