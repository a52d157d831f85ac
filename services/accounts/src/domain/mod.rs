//! The rules of the accounts context: no tonic, no sqlx, no prost.

pub mod account;
pub mod address;
pub mod address_check;
pub mod contact;
pub mod custom_fields;
pub mod error;
pub mod group;
pub mod history;
pub mod lifecycle;
pub mod managed;
pub mod residential;
pub mod tenant;
pub mod text;
pub mod user;
