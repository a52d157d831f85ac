//! The credit rules, free of storage and transport.

pub mod account;
pub mod decision;
pub mod error;
pub mod exposure;
pub mod preference;
pub mod terms;
