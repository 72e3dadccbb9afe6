//! The process's memory allocator, chosen once per process, before its first allocation.
//!
//! Commands that stay up or render many times in one process — `ikp serve` (a multi-threaded
//! server: musl's allocator, in the Dockerfile's build, takes one lock for every thread) and
//! `ikp golden` (hundreds of renders) — run on mimalloc: a bastion render takes a third less time
//! on it than on glibc's allocator (`cargo bench --bench render`, which uses it too). The one-shot
//! commands keep the C library's allocator: mimalloc maps and touches some 6 MiB more per process
//! (peak RSS of an `ikp render`: 2.4 → 8.7 MiB) for less than it saves there.
//!
//! Every block must go back to the allocator that made it, so the choice can only be made while
//! nothing has been allocated: the first allocation fixes the C library's allocator unless
//! mimalloc was chosen before it, and [`ProcessAllocator::choose_mimalloc`] after that is refused.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU8, Ordering};

use mimalloc::MiMalloc;

/// No allocation yet, no choice made.
const UNDECIDED: u8 = 0;
/// The C library's allocator (`malloc`).
const SYSTEM: u8 = 1;
/// mimalloc.
const MIMALLOC: u8 = 2;

/// Which allocator this process uses; changes once, from [`UNDECIDED`].
static CHOICE: AtomicU8 = AtomicU8::new(UNDECIDED);

/// The commands (the first argument) that run on mimalloc.
const IN_PROCESS_COMMANDS: [&[u8]; 2] = [b"serve", b"golden"];

/// The global allocator of the `ikp` binary: the C library's or mimalloc, as chosen for the process.
pub struct ProcessAllocator;

impl ProcessAllocator {
    /// Chooses the allocator for the command named by the process's first argument (`None`: no
    /// argument), before anything is allocated: mimalloc for [`IN_PROCESS_COMMANDS`].
    pub fn choose_for_command(command: Option<&[u8]>) {
        if command.is_some_and(|command| IN_PROCESS_COMMANDS.contains(&command)) {
            // Refused only if something was allocated already; the C library's allocator then
            // serves the command, as correctly and a little slower.
            let _ = Self::choose_mimalloc();
        }
    }

    /// Makes mimalloc the process's allocator. `false` (and nothing changes) if an allocator was
    /// chosen already, as the first allocation does.
    pub fn choose_mimalloc() -> bool {
        CHOICE
            .compare_exchange(UNDECIDED, MIMALLOC, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Whether this process allocates with mimalloc.
    #[cfg(test)]
    pub fn uses_mimalloc() -> bool {
        CHOICE.load(Ordering::Acquire) == MIMALLOC
    }

    /// The allocator in use, fixing the C library's if none was chosen yet.
    #[inline]
    fn choice() -> u8 {
        match CHOICE.load(Ordering::Acquire) {
            UNDECIDED => match CHOICE.compare_exchange(
                UNDECIDED,
                SYSTEM,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => SYSTEM,
                Err(chosen) => chosen,
            },
            chosen => chosen,
        }
    }
}

// SAFETY: each call goes to one of two allocators that uphold `GlobalAlloc`'s contract, and to the
// same one for every call of the process: the choice is made before the first allocation (an
// allocation without a choice fixes it) and never changes after, so a block is always resized and
// freed by the allocator that made it.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for ProcessAllocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's guarantees are passed on.
        unsafe {
            if Self::choice() == MIMALLOC {
                MiMalloc.alloc(layout)
            } else {
                System.alloc(layout)
            }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's guarantees are passed on.
        unsafe {
            if Self::choice() == MIMALLOC {
                MiMalloc.alloc_zeroed(layout)
            } else {
                System.alloc_zeroed(layout)
            }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by this allocator, so by the one chosen (see above).
        unsafe {
            if Self::choice() == MIMALLOC {
                MiMalloc.dealloc(ptr, layout)
            } else {
                System.dealloc(ptr, layout)
            }
        }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`; the caller's guarantees on the sizes are passed on.
        unsafe {
            if Self::choice() == MIMALLOC {
                MiMalloc.realloc(ptr, layout, new_size)
            } else {
                System.realloc(ptr, layout, new_size)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The unit tests run under this allocator too (`main.rs`), and the test harness allocated
    /// long before a test runs: the choice is fixed, and switching now would free the harness's
    /// blocks with the wrong allocator.
    #[test]
    fn mimalloc_is_refused_once_anything_was_allocated() {
        let before = ProcessAllocator::uses_mimalloc();
        assert!(!ProcessAllocator::choose_mimalloc());
        ProcessAllocator::choose_for_command(Some(b"serve"));
        assert_eq!(ProcessAllocator::uses_mimalloc(), before);
        assert!(!before, "the harness allocated before any test chose");
        let block = vec![1_u8; 4096];
        assert_eq!(block.iter().map(|b| usize::from(*b)).sum::<usize>(), 4096);
    }
}
