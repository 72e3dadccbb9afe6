//! Kubernetes itself, without any chart or plugin knowledge: the syntax of names and quantities
//! ([`syntax`], pure, also used by the render path), exact quantity arithmetic ([`quantity`]), building
//! a client for a cluster ([`client`]), and the API idioms every caller shares ([`api`]: not found,
//! conflict, delete by label, ensure namespace).

pub mod api;
pub mod client;
pub mod quantity;
pub mod syntax;
