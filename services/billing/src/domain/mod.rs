//! The billing rules, free of storage and transport.

pub mod asset;
pub mod bill_to;
pub mod change;
pub mod checkout;
pub mod collection;
pub mod cycle;
pub mod error;
pub mod invoice;
pub mod location;
pub mod order;
pub mod period;
pub mod rebate;
pub mod receivables;
pub mod settings;
pub mod settle;
pub mod subscription;
pub mod usage;
pub mod wallet;
