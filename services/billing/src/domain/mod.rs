//! The billing rules, free of storage and transport.

pub mod error;
pub mod settle;
