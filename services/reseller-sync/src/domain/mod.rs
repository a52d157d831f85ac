//! The sync's rules, free of storage and transport: what a copy of a
//! reseller customer is, what changed between a customer and its copy, how
//! a status is mirrored, and how a kept copy is explained (`copy`); who may
//! be linked and what a link takes (`link`); how far behind its sources the
//! sync runs (`health`).

pub mod copy;
pub mod error;
pub mod health;
pub mod link;
