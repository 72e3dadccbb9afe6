//! Links the `ikp` executable at a fixed address (not position-independent), as Go links `helm` and
//! `kubectl`. A position-independent executable makes the dynamic loader write the address of
//! every pointer in its read-only data at start-up (some 38,000 relocations over 160 pages here),
//! a page fault and a copy per page in every process; at a fixed address those pages are only read,
//! and only when used. `ikp render` is a short process where that start-up is a third of its
//! time. The library, tests and benches are unaffected.
fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
