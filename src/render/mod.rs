//! Rendering: minijinja templates with Helm-compatible functions, Helm output framing and ordering.
