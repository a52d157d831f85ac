//! What every service of the suite shares. Each module has one job:
//!
//! - [`config`]: typed configuration from the environment and a file;
//! - [`telemetry`]: logs, spans, OTLP export and W3C trace context;
//! - [`server`]: the gRPC server with health, reflection, limits and shutdown;
//! - [`auth`]: bearer-token verification and the caller's identity;
//! - [`db`]: the pool and migrations of the service's own schema;
//! - [`error`]: domain errors to `tonic::Status` with `google.rpc` details;
//! - [`client`], [`peers`]: calls to other services, typed per peer;
//! - [`metrics`]: Prometheus RED metrics per RPC, pools, outbox and consumer lag;
//! - [`idempotency`]: mutations that are safe to retry by `request_id`;
//! - [`text_guard`]: text Postgres cannot store (NUL) refused before SQL;
//! - [`fairness`]: a bounded share of each server per tenant;
//! - [`tenancy`]: calls of unknown or suspended tenants refused;
//! - [`paging`], [`money`], [`time`]: wire conventions of the contracts.

pub mod access;
pub mod auth;
pub mod client;
pub mod config;
pub mod db;
pub mod error;
pub mod etag;
pub mod events;
pub mod fairness;
pub mod fieldmask;
pub mod idempotency;
pub mod input;
pub mod metrics;
pub mod money;
pub mod paging;
pub mod payment;
pub mod peers;
pub mod server;
pub mod shutdown;
pub mod telemetry;
pub mod tenancy;
pub mod text_guard;
pub mod time;
