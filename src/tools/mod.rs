//! Helpers around the products rather than part of them: golden files of rendered output for CI
//! ([`golden`]) and the tunnel's SSH key pair ([`keygen`]).

pub mod golden;
pub mod keygen;
