//! The sync's rules, free of storage and transport: what a copy of a
//! reseller customer is, what changed between a customer and its copy, how
//! a status is mirrored, and how a kept copy is explained.

pub mod copy;
pub mod error;
