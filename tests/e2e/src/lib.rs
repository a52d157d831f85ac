//! The end-to-end scenarios' library: the suite in the test process and its
//! helpers (`bss-testapp`, re-exported), the suite as separate processes
//! for the fault tests (`cluster`), a well-behaved client (`patient`) and a
//! codec for raw bytes (`raw`).

#![allow(clippy::expect_used)]

pub mod cluster;
pub mod patient;
pub mod raw;

pub use bss_testapp::*;

/// The repository's root folder.
pub fn repository_root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}
