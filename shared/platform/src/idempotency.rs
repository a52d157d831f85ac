//! Idempotent mutations by client `request_id` (AIP-155).
//!
//! Inside the transaction of the mutation: `begin` either replays the stored
//! answer of an earlier call with the same id, or hands back a
//! [`PendingRequest`] whose `finish` stores this call's answer in the same
//! transaction. Same id and different request: REQUEST_ID_REUSED. Same id
//! while the first call still runs: ABORTED (REQUEST_IN_PROGRESS), detected
//! with a transaction-scoped advisory lock so the duplicate does not wait.

use prost::Message;
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::error::PlatformError;

/// Longest accepted request id.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// Outcome of [`begin`].
#[derive(Debug)]
pub enum Begun<R> {
    /// First time this request id is seen: do the work, then `finish`.
    Fresh(PendingRequest),
    /// The stored answer of the first call with this id.
    Replayed(R),
}

/// A request whose answer is not stored yet. Without a request id it stores
/// nothing.
#[derive(Debug)]
#[must_use = "call finish() in the same transaction as the mutation"]
pub struct PendingRequest {
    key: Option<(Uuid, String, Vec<u8>)>,
}

/// Outcome of [`open`].
pub enum Opened<R> {
    /// A transaction for the mutation, and the request to finish in it.
    Fresh(Transaction<'static, Postgres>, PendingRequest),
    /// The stored answer of the first call with this id.
    Replayed(R),
}

/// Begins the transaction of a mutation and runs [`begin`] in it.
pub async fn open<R: Message + Default>(
    pool: &PgPool,
    tenant_id: Uuid,
    method: &str,
    request_id: &str,
    request: &impl Message,
) -> Result<Opened<R>, PlatformError> {
    let mut tx = pool.begin().await?;
    match begin(&mut tx, tenant_id, method, request_id, request).await? {
        Begun::Replayed(response) => Ok(Opened::Replayed(response)),
        Begun::Fresh(pending) => Ok(Opened::Fresh(tx, pending)),
    }
}

/// Looks up `request_id` for `tenant_id`. `method` is part of the request's
/// fingerprint, so an id reused for another RPC is refused too.
pub async fn begin<R: Message + Default>(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    method: &str,
    request_id: &str,
    request: &impl Message,
) -> Result<Begun<R>, PlatformError> {
    if request_id.is_empty() {
        return Ok(Begun::Fresh(PendingRequest { key: None }));
    }
    if request_id.len() > MAX_REQUEST_ID_LEN {
        return Err(PlatformError::RequestIdTooLong);
    }
    let request_hash = fingerprint(method, request);

    // The key includes the schema: services sharing a database (and a
    // request id passed from one to the next) must not block each other.
    let locked: bool = sqlx::query_scalar(
        "SELECT pg_try_advisory_xact_lock(hashtextextended(current_schema() || ':' || $1::text || ':' || $2, 0))",
    )
    .bind(tenant_id)
    .bind(request_id)
    .fetch_one(&mut *connection)
    .await?;
    if !locked {
        return Err(PlatformError::RequestInProgress);
    }

    let stored: Option<(Vec<u8>, Vec<u8>)> = sqlx::query_as(
        "SELECT request_hash, response FROM idempotency_keys WHERE tenant_id = $1 AND request_id = $2",
    )
    .bind(tenant_id)
    .bind(request_id)
    .fetch_optional(&mut *connection)
    .await?;

    match stored {
        Some((stored_hash, _)) if stored_hash != request_hash => Err(PlatformError::RequestIdReused),
        Some((_, response)) => R::decode(response.as_slice())
            .map(Begun::Replayed)
            .map_err(|error| PlatformError::Corrupt(error.to_string())),
        None => Ok(Begun::Fresh(PendingRequest {
            key: Some((tenant_id, request_id.to_owned(), request_hash)),
        })),
    }
}

impl PendingRequest {
    /// Stores `response` as the answer to this request id. Call it in the
    /// transaction of the mutation, right before commit.
    pub async fn finish(self, connection: &mut PgConnection, response: &impl Message) -> Result<(), PlatformError> {
        let Some((tenant_id, request_id, request_hash)) = self.key else {
            return Ok(());
        };
        sqlx::query(
            "INSERT INTO idempotency_keys (tenant_id, request_id, request_hash, response) VALUES ($1, $2, $3, $4)",
        )
        .bind(tenant_id)
        .bind(request_id)
        .bind(request_hash)
        .bind(response.encode_to_vec())
        .execute(connection)
        .await?;
        Ok(())
    }
}

fn fingerprint(method: &str, request: &impl Message) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(method.as_bytes());
    hasher.update([0u8]);
    hasher.update(request.encode_to_vec());
    hasher.finalize().to_vec()
}
