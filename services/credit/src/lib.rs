//! The credit context: whether an order may use credit, and when an invoice
//! falls due. This first part holds the rules, free of storage and
//! transport; the service (schema `credit`, package `bss.credit.v1`) is
//! built on them.

pub mod domain;
