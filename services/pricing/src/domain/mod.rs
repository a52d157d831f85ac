//! The pricing rules, free of storage and transport.

pub mod book;
pub mod catalog;
pub mod contract;
pub mod error;
pub mod price;
pub mod rebate;
