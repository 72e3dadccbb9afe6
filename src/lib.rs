//! ikp: the InterLink SSH tunnel's charts rendered and applied without Helm, and the InterLink
//! Kubernetes plugin.
//!
//! Two products share one bottom layer. Dependencies point down this list only (a test checks
//! that no module imports one above it):
//!
//! - [`plugin`]: `ikp serve`. HTTP → [`plugin::serve`] → [`plugin::offload`] → kube; for a
//!   tunnelled port, [`plugin::tunnel`] renders a bastion release ([`release`]) and applies it
//!   ([`deploy`]).
//! - [`tools`]: golden files and SSH key pairs, beside the products.
//! - [`deploy`]: a rendered release applied to, compared with or removed from a cluster.
//! - [`release`]: the pure core, values → render → checked manifests; `ikp render` prints its
//!   output, `ikp apply` hands it to [`deploy`].
//! - [`k8s`]: Kubernetes syntax (pure) and client building.
//! - [`compat`]: Go, Helm and YAML 1.1 text semantics.
//!
//! The command line (`src/cli`, in the binary) parses flags into value layers for [`release`] and
//! calls the layer it needs.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod compat;
pub mod deploy;
pub mod k8s;
pub mod plugin;
pub mod release;
pub mod tools;
