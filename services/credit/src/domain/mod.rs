//! The credit rules, free of storage and transport.

pub mod account;
pub mod authorization;
pub mod decision;
pub mod error;
pub mod exposure;
pub mod overrides;
pub mod preference;
pub mod terms;
