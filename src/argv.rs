//! The command line as the C runtime hands it to `main`.
//!
//! `ikp` starts at a C `main` (`#![no_main]`), so Rust's start-up, which records the arguments for
//! `std::env::args_os`, never runs. With glibc the standard library records them anyway, from an
//! initialiser glibc calls with `argc` and `argv`; musl calls initialisers without arguments, and
//! there `std::env::args_os()` is empty: the statically linked musl build (the Dockerfile's) saw
//! every command line as a bare `ikp`. The arguments are read from `main`'s own parameters instead,
//! on every target. `tests/static_link.rs` compiles this file into a `#![no_main]` program for the
//! musl target and checks that the arguments arrive.

use std::ffi::{CStr, OsString, c_char, c_int};
use std::os::unix::ffi::OsStrExt as _;

/// The arguments in `argv[0..argc]`, program name first, as `std::env::args_os` would give them.
///
/// # Safety
/// `argv` must point to `argc` pointers to NUL-terminated strings that stay valid during the call
/// (as C's `main` receives them); a negative `argc` or a null `argv` gives no arguments.
#[allow(unsafe_code)]
pub unsafe fn from_c_main(argc: c_int, argv: *const *const c_char) -> Vec<OsString> {
    let Ok(count) = usize::try_from(argc) else {
        return Vec::new();
    };
    if argv.is_null() {
        return Vec::new();
    }
    (0..count)
        .map_while(|index| {
            // SAFETY: the caller guarantees `argc` readable pointers behind `argv`.
            let arg = unsafe { *argv.add(index) };
            // SAFETY: a non-null one points to a NUL-terminated string (C's `argv[argc]` is the
            // null that ends the list; an earlier null ends it too).
            (!arg.is_null()).then(|| unsafe { CStr::from_ptr(arg) })
        })
        .map(|arg| std::ffi::OsStr::from_bytes(arg.to_bytes()).to_owned())
        .collect()
}
