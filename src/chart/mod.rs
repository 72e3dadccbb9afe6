//! Chart loading: embedded and on-disk charts (Chart.yaml, values.yaml, templates).
