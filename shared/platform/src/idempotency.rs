//! Idempotent mutations by client `request_id` (AIP-155).
//!
//! A request id is *claimed* in the transaction of the mutation: a row in
//! the service's `idempotency_keys` table, inserted only while holding a
//! transaction-scoped advisory lock on the id. Then:
//!
//! - first call: the claim succeeds, the work runs, the answer is stored in
//!   the same transaction (or the whole transaction rolls back);
//! - a retry after the first call committed: the claim finds the row, and
//!   the stored answer is replayed;
//! - the same id with a different request: REQUEST_ID_REUSED;
//! - the same id while the first call still runs: the advisory lock is taken,
//!   the duplicate does not wait and gets ABORTED (REQUEST_IN_PROGRESS).
//!
//! Three ways to use it: [`once`] runs a write's work in a transaction that
//! claims, replays or stores and commits around it (what almost every write
//! wants); [`open`] hands out the transaction itself, for the few writes
//! that must do something of their own with a replayed answer; and
//! [`claim_cte!`] claims inside the single statement of a hot path, with
//! [`resolve`] when that statement claimed nothing.

use prost::Message;
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::error::PlatformError;

/// Longest accepted request id.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// A request id with the fingerprint of the request it came with.
#[derive(Clone, Debug)]
pub struct RequestKey {
    tenant_id: Uuid,
    request_id: String,
    request_hash: Vec<u8>,
}

impl RequestKey {
    /// The key of `request`, or `None` when the caller sent no request id.
    /// `method` is part of the fingerprint, so an id reused for another RPC
    /// is refused too.
    pub fn new(
        tenant_id: Uuid,
        method: &str,
        request_id: &str,
        request: &impl Message,
    ) -> Result<Option<RequestKey>, PlatformError> {
        if request_id.is_empty() {
            return Ok(None);
        }
        if request_id.len() > MAX_REQUEST_ID_LEN {
            return Err(PlatformError::RequestIdTooLong);
        }
        if request_id.contains('\0') {
            return Err(PlatformError::RequestIdNul);
        }
        let mut hasher = Sha256::new();
        hasher.update(method.as_bytes());
        hasher.update([0u8]);
        hasher.update(request.encode_to_vec());
        Ok(Some(RequestKey { tenant_id, request_id: request_id.to_owned(), request_hash: hasher.finalize().to_vec() }))
    }

    /// The key of `request` made by `caller`: a customer's own user (or a
    /// sales rep) is part of its fingerprint, so another user of a shared
    /// account (a generic account for guests or registered shoppers), or
    /// another rep, reusing its request id is REQUEST_ID_REUSED, never
    /// answered with the first caller's result.
    pub fn of_caller(
        caller: &crate::auth::Caller,
        tenant_id: Uuid,
        method: &str,
        request_id: &str,
        request: &impl Message,
    ) -> Result<Option<RequestKey>, PlatformError> {
        // Limited callers act apart: a customer's own user, a sales rep.
        match (caller.customer_user(), caller.sales_rep_limit()) {
            (Some(user), _) => RequestKey::new(tenant_id, &format!("{method}/{user}"), request_id, request),
            (None, Some(rep)) => RequestKey::new(tenant_id, &format!("{method}/rep:{rep}"), request_id, request),
            (None, None) => RequestKey::new(tenant_id, method, request_id, request),
        }
    }

    pub fn tenant_id(&self) -> Uuid {
        self.tenant_id
    }

    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    pub fn request_hash(&self) -> &[u8] {
        &self.request_hash
    }
}

/// A common table expression named `claim` that claims a request id inside
/// a larger statement. It binds `$1` tenant id (uuid), `$2` request id (text,
/// empty for none), `$3` request hash (bytea) and `$4` the answer to store
/// (bytea); it yields one row when the id was claimed. The statement's own
/// work should run `WHERE $2 = '' OR EXISTS (SELECT 1 FROM claim)`.
#[macro_export]
macro_rules! claim_cte {
    () => {
        "claim AS (
            INSERT INTO idempotency_keys (tenant_id, request_id, request_hash, response)
            SELECT $1, $2, $3, $4
            WHERE CASE WHEN $2 = '' THEN false
                  ELSE pg_try_advisory_xact_lock(hashtextextended(current_schema() || ':' || $1::text || ':' || $2, 0))
                  END
            ON CONFLICT DO NOTHING
            RETURNING 1
        )"
    };
}

/// Outcome of [`open`].
pub enum Opened<R> {
    /// A transaction for the mutation, and the request to finish in it.
    Fresh(Transaction<'static, Postgres>, PendingRequest),
    /// The stored answer of the first call with this id.
    Replayed(R),
}

/// A claimed request whose answer is not stored yet. Without a request id it
/// stores nothing.
#[derive(Debug)]
#[must_use = "call finish() in the same transaction as the mutation"]
pub struct PendingRequest {
    key: Option<RequestKey>,
}

/// Begins the transaction of a mutation and claims its request id, or
/// replays the stored answer of an earlier call with the same id.
pub async fn open<R: Message + Default>(pool: &PgPool, key: Option<RequestKey>) -> Result<Opened<R>, PlatformError> {
    let mut tx = pool.begin().await?;
    let Some(key) = key else {
        return Ok(Opened::Fresh(tx, PendingRequest { key: None }));
    };
    let claimed = sqlx::query(concat!("WITH ", claim_cte!(), " SELECT 1 FROM claim"))
        .bind(key.tenant_id)
        .bind(&key.request_id)
        .bind(&key.request_hash)
        .bind(Vec::<u8>::new())
        .fetch_optional(&mut *tx)
        .await?
        .is_some();
    if claimed {
        return Ok(Opened::Fresh(tx, PendingRequest { key: Some(key) }));
    }
    resolve(&mut tx, &key).await.map(Opened::Replayed)
}

/// Runs a write once per request id: claims `key` (or returns the stored
/// answer of the first call with it), runs `work` in the transaction,
/// stores the answer it returns and commits, so the change, its outbox
/// events and the answer land together or not at all. An error of `work`
/// rolls everything back and stores nothing: a retry runs it again.
pub async fn once<R, E>(
    pool: &PgPool,
    key: Option<RequestKey>,
    work: impl AsyncFnOnce(&mut PgConnection) -> Result<R, E>,
) -> Result<R, E>
where
    R: Message + Default,
    E: From<PlatformError>,
{
    let (mut tx, pending) = match open(pool, key).await? {
        Opened::Replayed(response) => return Ok(response),
        Opened::Fresh(tx, pending) => (tx, pending),
    };
    let response = work(&mut tx).await?;
    pending.commit(tx, &response).await?;
    Ok(response)
}

/// The stored answer of `key`'s request if it ran already (before a use
/// case asks other services or providers to repeat their work); `None`
/// when it has not, or cannot be told yet (the write decides then).
/// REQUEST_ID_REUSED when the id answered another request: nothing may run
/// for it.
pub async fn replay<R: Message + Default>(db: &PgPool, key: &Option<RequestKey>) -> Result<Option<R>, PlatformError> {
    let Some(key) = key else {
        return Ok(None);
    };
    let mut connection = db.acquire().await?;
    match resolve::<R>(&mut connection, key).await {
        Ok(stored) => Ok(Some(stored)),
        Err(PlatformError::RequestIdReused) => Err(PlatformError::RequestIdReused),
        Err(_) => Ok(None),
    }
}

/// After a claim found the id taken: the stored answer when the request is
/// the same, REQUEST_ID_REUSED when it differs, REQUEST_IN_PROGRESS when the
/// first call has not committed yet.
pub async fn resolve<R: Message + Default>(
    connection: &mut PgConnection,
    key: &RequestKey,
) -> Result<R, PlatformError> {
    let stored: Option<(Vec<u8>, Vec<u8>)> =
        sqlx::query_as("SELECT request_hash, response FROM idempotency_keys WHERE tenant_id = $1 AND request_id = $2")
            .bind(key.tenant_id)
            .bind(&key.request_id)
            .fetch_optional(connection)
            .await?;
    match stored {
        None => Err(PlatformError::RequestInProgress),
        Some((stored_hash, _)) if stored_hash != key.request_hash => Err(PlatformError::RequestIdReused),
        Some((_, response)) => {
            R::decode(response.as_slice()).map_err(|error| PlatformError::Corrupt(error.to_string()))
        }
    }
}

impl PendingRequest {
    /// Stores `response` as the answer to this request id and commits the
    /// mutation's transaction: the answer and the change land together.
    pub async fn commit(
        self,
        mut tx: Transaction<'static, Postgres>,
        response: &impl Message,
    ) -> Result<(), PlatformError> {
        self.finish(&mut tx, response).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores `response` as the answer to this request id. Call it in the
    /// transaction of the mutation, right before commit.
    pub async fn finish(self, connection: &mut PgConnection, response: &impl Message) -> Result<(), PlatformError> {
        let Some(key) = self.key else {
            return Ok(());
        };
        sqlx::query("UPDATE idempotency_keys SET response = $3 WHERE tenant_id = $1 AND request_id = $2")
            .bind(key.tenant_id)
            .bind(&key.request_id)
            .bind(response.encode_to_vec())
            .execute(connection)
            .await?;
        Ok(())
    }
}
