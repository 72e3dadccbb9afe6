//! Releases applied to a cluster with server-side apply: the release plan, the per-release
//! inventory (revision history), apply in install order with field manager `ikp`, prune,
//! readiness waits, atomic rollback, diff against the live state, and uninstall.
//!
//! The render path hands over a [`ReleasePlan`]; nothing here renders templates.

mod decide;
mod diff;
mod engine;
mod error;
mod fields;
pub mod helm;
pub mod inventory;
pub mod plan;
mod resolve;
mod rollback;
pub mod stored;
mod wait;

pub use diff::{
    DiffAction, DiffEntry, DiffOptions, DiffReport, changed_fields, diff_release,
    redact_secret_data,
};
pub use engine::{
    ApplyOptions, ApplyOutcome, DryRunVerdict, ObjectChange, Reporter, UninstallOptions,
    apply_release, apply_release_by, dry_run_server, release_status, uninstall_release,
    uninstall_release_by,
};
pub use error::{ApplyError, FieldConflict, WaitBlocker};
pub use inventory::{ReleaseRecord, Revision, RevisionStatus};
pub use plan::{ObjectKey, ObjectRef, PlanMeta, PlanValues, ReleasePlan, RenderedManifest};
pub use rollback::{RollbackOutcome, rollback_plan, rollback_release};
pub use stored::{RevisionData, revision_data};
pub use wait::{Readiness, WaitStrategy};

/// Field manager name used for every server-side apply.
pub(crate) const FIELD_MANAGER: &str = "ikp";
/// Annotation on every applied object naming the release that owns it.
pub const RELEASE_NAME_ANNOTATION: &str = "ikp.io/release-name";
/// Annotation on every applied object naming the namespace of the release that owns it.
const RELEASE_NAMESPACE_ANNOTATION: &str = "ikp.io/release-namespace";
