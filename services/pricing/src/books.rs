//! The price books this replica holds, one per tenant, each with the
//! version it was read at.
//!
//! Every pricing write bumps the tenant's version in its transaction; a
//! quote reads the current version (in the same round trip as the account)
//! and uses the book held only when it is at least that version, reloading
//! it otherwise. So a quote never sees pricing older than a write that
//! returned before it began, on this replica or any other.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::book::PriceBook;
use crate::domain::error::PricingError;
use crate::repo;

/// A tenant's book as read at `version`.
#[derive(Debug)]
pub struct Loaded {
    pub version: i64,
    pub book: PriceBook,
}

#[derive(Default)]
struct Slot {
    current: RwLock<Option<Arc<Loaded>>>,
    /// One load per tenant at a time; the others wait for it.
    loading: tokio::sync::Mutex<()>,
}

impl Slot {
    fn at_least(&self, version: i64) -> Option<Arc<Loaded>> {
        let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
        current.as_ref().filter(|loaded| loaded.version >= version).cloned()
    }
}

pub struct Books {
    db: PgPool,
    slots: RwLock<HashMap<Uuid, Arc<Slot>>>,
}

impl Books {
    pub fn new(db: PgPool) -> Books {
        Books { db, slots: RwLock::new(HashMap::new()) }
    }

    /// The tenant's book at `version` or later.
    pub async fn at(&self, tenant_id: Uuid, version: i64) -> Result<Arc<Loaded>, PricingError> {
        let slot = self.slot(tenant_id);
        if let Some(loaded) = slot.at_least(version) {
            return Ok(loaded);
        }
        let _loading = slot.loading.lock().await;
        if let Some(loaded) = slot.at_least(version) {
            return Ok(loaded);
        }
        let (version, book) = repo::book::load(&self.db, tenant_id).await?;
        let loaded = Arc::new(Loaded { version, book });
        *slot.current.write().unwrap_or_else(PoisonError::into_inner) = Some(loaded.clone());
        tracing::debug!(%tenant_id, version, "price book loaded");
        Ok(loaded)
    }

    /// The tenant's current book.
    pub async fn current(&self, tenant_id: Uuid) -> Result<Arc<Loaded>, PricingError> {
        let version = repo::book::version(&self.db, tenant_id).await?;
        self.at(tenant_id, version).await
    }

    fn slot(&self, tenant_id: Uuid) -> Arc<Slot> {
        if let Some(slot) = self.slots.read().unwrap_or_else(PoisonError::into_inner).get(&tenant_id) {
            return slot.clone();
        }
        self.slots.write().unwrap_or_else(PoisonError::into_inner).entry(tenant_id).or_default().clone()
    }
}
