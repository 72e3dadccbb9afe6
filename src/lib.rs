//! ikp: the InterLink Kubernetes plugin.
//!
//! Data flows one way:
//! `cli` → [`values`] → [`render`] → (print | [`apply`]);
//! HTTP → [`serve`] → [`offload`] → kube.
#![forbid(unsafe_code)]

pub mod apply;
pub mod chart;
pub mod compat;
pub mod config;
pub mod k8s;
pub mod mesh;
pub mod offload;
pub mod pipeline;
pub mod render;
pub mod serve;
pub mod tools;
pub mod tunnel;
pub mod values;
