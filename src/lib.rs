//! ikp: the InterLink Kubernetes plugin.
//!
//! Data flows one way:
//! `cli` → [`values`] → [`render`] → (print | [`apply`]);
//! HTTP → [`serve`] → [`offload`] → kube.
#![forbid(unsafe_code)]

pub mod compat;
pub mod deploy;
pub mod k8s;
pub mod plugin;
pub mod release;
pub mod tools;
