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
//!   windows of the file instead of pages scattered over all of it. Only LLD takes such a file;
//!   it is the linker Rust uses for x86-64 Linux since 1.90, unless another one is configured, and
//!   names it does not find are ignored.
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/link-order.txt");
    println!("cargo:rerun-if-env-changed=RUSTC_LINKER");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        return;
    }
    println!("cargo:rustc-link-arg-bins=-no-pie");
    if links_with_default_lld() {
        let order = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/link-order.txt");
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            order.display()
        );
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}

/// Whether this build links with the LLD that rustc brings along: x86-64 GNU/Linux, rustc 1.90 or
/// later, and neither a configured linker nor flags that choose one.
fn links_with_default_lld() -> bool {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    if var("CARGO_CFG_TARGET_ARCH") != "x86_64" || var("CARGO_CFG_TARGET_ENV") != "gnu" {
        return false;
    }
    if !var("RUSTC_LINKER").is_empty() {
        return false;
    }
    let flags = var("CARGO_ENCODED_RUSTFLAGS");
    if ["linker", "link-self-contained", "fuse-ld"]
        .iter()
        .any(|flag| flags.contains(flag))
    {
        return false;
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let Ok(output) = Command::new(rustc).arg("--version").output() else {
        return false;
    };
    // "rustc 1.95.0 (…)": the minor version decides.
    let version = String::from_utf8_lossy(&output.stdout);
    let minor = version
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.split('.').nth(1))
        .and_then(|m| m.parse::<u32>().ok());
    matches!(minor, Some(m) if m >= 90)
}
