//! The sync's health: where each stream stands, the events set aside, and
//! an operator's retry of one.

use bss_platform::error::PlatformError;
use bss_platform::events::{HandlerError, Subscription};
use bss_platform::paging::{Page, text_and_number};
use prost::Message;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::ResellerSync;
use crate::domain::error::SyncError;
use crate::domain::health::{Failure, StreamState};
use crate::repo;

/// How the sync stands for a distributor.
#[derive(Clone, Debug)]
pub struct SyncStatus {
    /// Each stream the sync follows.
    pub streams: Vec<StreamState>,
    /// How many events of the distributor's resellers are set aside.
    pub failures: i64,
}

/// What a retry of an event set aside came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Retried {
    /// Applied at last: it is no longer set aside.
    Applied,
    /// It failed again, with this error (kept with the event).
    FailedAgain(String),
}

impl ResellerSync {
    /// Where each stream stands, and how many events of the distributor's
    /// resellers are set aside.
    pub async fn status(&self, distributor: Uuid) -> Result<SyncStatus, SyncError> {
        let streams = repo::streams(&self.db).await?;
        let failures = repo::failure_count(&self.db, distributor).await?;
        Ok(SyncStatus { streams, failures })
    }

    /// A page of the events of the distributor's resellers set aside, by
    /// stream and sequence, and the next page's token.
    pub async fn failures(&self, distributor: Uuid, page: &Page) -> Result<(Vec<Failure>, String), SyncError> {
        let failures = repo::failures(&self.db, distributor, page.after_text_and_number()?, page.fetch_limit()).await?;
        Ok(page.finish(failures, |failure| text_and_number(&failure.stream, failure.sequence)))
    }

    /// Applies an event of one of the distributor's resellers set aside
    /// again (NOT_FOUND when there is none): its calls to accounts first,
    /// then one transaction for what they did and the event's removal; when
    /// it fails again, the event stays with the new error.
    pub async fn retry(&self, distributor: Uuid, stream: &str, sequence: i64) -> Result<Retried, SyncError> {
        let Some(payload) = repo::failure_payload(&self.db, distributor, stream, sequence).await? else {
            return Err(SyncError::NotFound { kind: "sync failure", id: format!("{stream}/{sequence}") });
        };
        let corrupt = |error: prost::DecodeError| SyncError::Platform(PlatformError::Corrupt(error.to_string()));
        let applied = if stream == self.billing.stream_name() {
            let event = bss_proto::billing::BillingEvent::decode(payload.as_slice()).map_err(corrupt)?;
            apply_again(&self.db, &*self.billing, &event).await?
        } else {
            let event = bss_proto::accounts::AccountEvent::decode(payload.as_slice()).map_err(corrupt)?;
            apply_again(&self.db, &*self.accounts, &event).await?
        };
        match applied {
            Ok(mut tx) => {
                repo::forget_failure(&mut tx, stream, sequence).await?;
                tx.commit().await?;
                Ok(Retried::Applied)
            }
            Err(error) => {
                repo::failed_again(&self.db, stream, sequence, &error).await?;
                Ok(Retried::FailedAgain(error))
            }
        }
    }
}

/// Applies a set-aside event again, as its consumer would: its calls
/// first, then its transaction, left open for the caller to finish; the
/// error when it fails again.
async fn apply_again<S: Subscription>(
    db: &PgPool,
    feed: &S,
    event: &S::Event,
) -> Result<Result<Transaction<'static, Postgres>, String>, SyncError> {
    let prepared = match feed.prepare(event).await {
        Ok(prepared) => prepared,
        Err(HandlerError::Retry(error) | HandlerError::DeadLetter(error)) => return Ok(Err(error)),
    };
    let mut tx = db.begin().await?;
    match feed.apply(&mut tx, event, prepared).await {
        Ok(()) => Ok(Ok(tx)),
        Err(HandlerError::Retry(error) | HandlerError::DeadLetter(error)) => Ok(Err(error)),
    }
}
