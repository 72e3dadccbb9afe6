//! Go, Helm and YAML 1.1 semantics, in one bottom layer that knows nothing of charts or clusters.
//!
//! Everything here reproduces what a Go program does with text, so that ikp prints and reads the
//! same bytes as Helm and kubectl: `--set` parsing ([`strvals`], Helm's `pkg/strvals`), reading a
//! values file or a rendered document as go-yaml v2 does ([`yaml`], [`readback`]), writing YAML
//! as `toYaml` does ([`toyaml`]), and Go's number and string text ([`gofmt`], [`gojson`]).
//! [`keypath`] is the `a.b[0].c` path that both the parsers and the error messages use.
//!
//! It sits below `release` (values, render, chart) and imports nothing from the rest of the crate.

mod blockyaml;
pub mod gofmt;
pub mod gojson;
pub mod keypath;
pub mod limits;
pub mod readback;
pub mod strvals;
#[cfg(test)]
mod testing;
pub mod toyaml;
pub mod yaml;
