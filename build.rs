//! Link settings of the `ikp` executable, both for a short `ikp render` process, where starting
//! up is most of the time. The library, tests and benches are unaffected.
//!
//! - Linked at a fixed address (not position-independent), as Go links `helm` and `kubectl`. A
//!   position-independent executable makes the dynamic loader write the address of every pointer
//!   in its read-only data at start-up (some 38,000 relocations over 160 pages here), a page fault
//!   and a copy per page in every process; at a fixed address those pages are only read, and only
//!   when used.
//! - The functions a render runs are laid out first and together (`src/link-order.txt`, made by
//!   `benches/link-order.sh`), so the few MiB of code a render touches are a few dozen contiguous
//!   windows of the file instead of pages scattered over all of it. Only LLD takes such a file
//!   (Rust's linker for x86-64 Linux since 1.90, unless another one is configured): a one-line
//!   program is linked with the option first, and the option is left out if that fails. Names
//!   the linker does not find are ignored.
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
    println!("cargo:rustc-link-arg-bins=-no-pie");
    let order = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/link-order.txt");
    let order_args = [
        format!("-Wl,--symbol-ordering-file={}", order.display()),
        "-Wl,--no-warn-symbol-ordering".to_owned(),
    ];
    if linker_takes(&order_args) {
        for arg in order_args {
            println!("cargo:rustc-link-arg-bins={arg}");
        }
    }
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
