//! The rules of the accounts context: no tonic, no sqlx, no prost.

pub mod account;
pub mod address;
pub mod contact;
pub mod error;
pub mod tenant;
pub mod text;
