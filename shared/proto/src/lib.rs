//! Generated code for the suite's contracts. This crate is the only place
//! code is generated; services depend on it and never on `.proto` files.
//! Beside it, [`envelope`]: what every event message shares, and
//! [`limits`]: one way to bound any generated server's messages.

#![allow(clippy::all, missing_docs, unreachable_pub)]

/// The encoded `FileDescriptorSet` of every contract (with imports and
/// comments), served by gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/bss_descriptor.bin"));

pub mod bss {
    pub mod r#type {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/bss.r#type.v1.rs"));
        }
    }
    pub mod accounts {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/bss.accounts.v1.rs"));
        }
    }
    pub mod billing {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/bss.billing.v1.rs"));
        }
    }
    pub mod credit {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/bss.credit.v1.rs"));
        }
    }
    pub mod pricing {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/bss.pricing.v1.rs"));
        }
    }
    pub mod provider {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/bss.provider.v1.rs"));
        }
    }
    pub mod resellersync {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/bss.resellersync.v1.rs"));
        }
    }
}

pub mod envelope;
pub mod limits;

pub use bss::accounts::v1 as accounts;
pub use bss::billing::v1 as billing;
pub use bss::credit::v1 as credit;
pub use bss::pricing::v1 as pricing;
pub use bss::provider::v1 as provider;
pub use bss::resellersync::v1 as resellersync;
pub use bss::r#type::v1 as types;
