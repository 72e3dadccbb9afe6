//! Offloading InterLink pods to the remote cluster: what to create ([`transform`]), how it is named
//! ([`names`]), the InterLink wire types ([`interlink`]), status mapping ([`status`]) and the service doing
//! the remote calls ([`service`]), with per-pod serialisation and background cleanup ([`cleanup`]).

pub mod bounded;
pub mod capacity;
pub mod cleanup;
pub mod interlink;
pub mod leader;
pub mod names;
pub mod service;
pub mod status;
pub mod transform;

/// Locks `mutex`, poisoned or not: every lock of this layer guards plain data (maps, counters, the
/// last error) that each critical section leaves consistent, so a panic elsewhere does not spoil it.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
