//! Helpers shared by the integration tests; each test file pulls them in with `mod support;`.
//!
//! - [`cluster`]: a `kube::Client` for the project's test control plane (`tests/cluster/up`), a fresh
//!   namespace per test, the `ikp` binary preconfigured for that cluster, and `wait_for` to poll for
//!   state the cluster reaches asynchronously.
//! - [`identity`]: a ServiceAccount bound to exactly the roles of `deploy/remote-rbac*.yaml`, and a
//!   kubeconfig for it: the identity `ikp serve` runs as in the serve tests.
//! - [`faults`]: a private cluster per test whose kube-apiserver can be paused, killed and restarted.
//! - [`examples`]: reads the `Examples:` section of a command's `--help`.
//! - [`logs`]: keeps the stderr of the `ikp` commands a test runs under `target/test-logs/` for the
//!   suite's secret scan (`tests/secret_leaks.rs`).

// Every test binary compiles this module but uses a different subset of it.
#![allow(dead_code)]

pub mod cluster;
pub mod examples;
pub mod faults;
pub mod identity;
pub mod logs;
