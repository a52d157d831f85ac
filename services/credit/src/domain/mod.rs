//! The credit rules, free of storage and transport.

pub mod decision;
pub mod exposure;
pub mod terms;
