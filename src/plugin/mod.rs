//! `ikp serve`: the InterLink plugin. The HTTP API ([`serve`]) takes pods from the InterLink API
//! server, [`offload`] decides what to create in the remote cluster (with [`mesh`] for the
//! service-mesh wrapper of a pod) and creates it, and [`tunnel`] installs a bastion release per
//! tunnelled port through `deploy`. [`config`] is the plugin's configuration file and flags;
//! [`permissions`] what the plugin needs on the remote cluster, and the check of it.
//!
//! Nothing outside this folder (except the `ikp serve` command) uses it.

pub mod config;
pub mod mesh;
pub mod offload;
pub mod permissions;
pub mod serve;
pub mod tunnel;
