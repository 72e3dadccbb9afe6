//! Helpers shared by the integration tests; each test file pulls them in with `mod support;`.
//!
//! - [`cluster`]: a `kube::Client` for the project's test control plane (`tests/cluster/up`), a fresh
//!   namespace per test, the `ikp` binary preconfigured for that cluster, and `wait_for` to poll for
//!   state the cluster reaches asynchronously.

// Every test binary compiles this module but uses a different subset of it.
#![allow(dead_code)]

pub mod cluster;
