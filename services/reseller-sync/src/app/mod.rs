//! The application layer of reseller sync: its use cases (links, the
//! copies made, the dry run of a copy, and the sync's health: status,
//! failures, retries), each taking the sync's own terms, asking the
//! accounts service through `sync` where it must (never with a transaction
//! open), applying the rules of `domain/` and storing through `repo`.
//! `grpc` only converts and calls these; the stream consumers (`feeds`)
//! call `sync` and `repo`, never `grpc`.

pub mod health;
pub mod links;

use std::sync::Arc;

use bss_platform::auth::Caller;
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::copy::Link;
use crate::domain::error::SyncError;
use crate::feeds::{AccountsFeed, BillingFeed};
use crate::repo;
use crate::sync::Syncer;

/// Everything the sync's RPCs work with.
pub struct ResellerSync {
    pub(crate) db: PgPool,
    /// The sync's hands on the accounts service.
    pub(crate) syncer: Syncer,
    /// The consumers of the two streams, for a retry of an event they set
    /// aside.
    pub(crate) billing: Arc<BillingFeed>,
    pub(crate) accounts: Arc<AccountsFeed>,
}

impl ResellerSync {
    pub fn new(db: PgPool, syncer: Syncer, billing: Arc<BillingFeed>, accounts: Arc<AccountsFeed>) -> ResellerSync {
        ResellerSync { db, syncer, billing, accounts }
    }

    /// The sync itself, acting in `tenant_id` (as the `integration` role).
    fn service_caller(&self, tenant_id: Uuid) -> Result<Caller, SyncError> {
        self.syncer.identity.caller(Some(tenant_id)).ok_or_else(|| SyncError::Unavailable {
            what: "accounts",
            cause: "the sync has no service token".to_owned(),
        })
    }

    /// The distributor's link of a reseller tenant (NOT_FOUND when the
    /// tenant is not linked, or linked to another distributor).
    pub async fn link(&self, distributor: Uuid, reseller_tenant: Uuid) -> Result<Link, SyncError> {
        match repo::link(&self.db, reseller_tenant).await? {
            Some(link) if link.distributor_tenant_id == distributor => Ok(link),
            _ => Err(SyncError::NotFound { kind: "link", id: reseller_tenant.to_string() }),
        }
    }
}
