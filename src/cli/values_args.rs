//! The values flags shared by `render`, `apply` and `diff` (`-f`, `--set`, `--set-string`, ...).

/// Values flags, exactly as `helm template` takes them.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ValuesArgs {}
