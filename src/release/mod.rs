//! One release of a built-in chart, from values to checked manifests, with no I/O beyond reading
//! files named on the command line and no async or cluster code (a test keeps it so):
//! [`chart`] (the built-in charts and their files), [`values`] (layers, merge, origins, the typed
//! model and its checks), [`render`] (templates, output framing, object checks) and [`pipeline`]
//! (all of it behind one `Renderer`).
//!
//! `deploy` and `plugin` use it; it uses only `compat` and `k8s::syntax`.

pub mod chart;
pub mod pipeline;
pub mod render;
pub mod values;
