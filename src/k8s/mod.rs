//! Kubernetes itself, without any chart or plugin knowledge: the syntax of names and quantities
//! ([`syntax`], pure, also used by the render path) and building a client for a cluster ([`client`]).

pub mod client;
pub mod syntax;
