//! Overdue detection: every few seconds, posted invoices past their due
//! date and not settled are flagged, once each, and published as
//! InvoiceOverdue (credit's out-of-terms flag) in the same transaction.

use std::time::Duration;

use bss_platform::events::EventLog;
use bss_platform::shutdown::Shutdown;
use bss_platform::time::now;
use bss_proto::billing::InvoiceOverdue;
use bss_proto::billing::billing_event::Payload;
use sqlx::PgPool;

use crate::app::publish;
use crate::domain::error::BillingError;
use crate::repo;

/// How often invoices are checked.
const EVERY: Duration = Duration::from_secs(5);
/// Invoices flagged per transaction.
const BATCH: i64 = 500;
/// The actor of the service's own changes.
pub const ACTOR: &str = "billing";

/// Flags what is overdue today; returns how many invoices it flagged.
pub async fn flag_due(db: &PgPool, events: &EventLog) -> Result<usize, BillingError> {
    let mut flagged = 0;
    loop {
        let mut tx = db.begin().await?;
        let due = repo::flag_overdue(&mut tx, now().date_naive(), BATCH).await?;
        for (tenant_id, invoice_id, account_id) in &due {
            let event = InvoiceOverdue { invoice_id: invoice_id.to_string(), account_id: account_id.to_string() };
            publish(&mut tx, *tenant_id, ACTOR, Payload::InvoiceOverdue(event)).await?;
        }
        tx.commit().await?;
        flagged += due.len();
        if !due.is_empty() {
            events.written();
        }
        if (due.len() as i64) < BATCH {
            return Ok(flagged);
        }
    }
}

/// Checks every few seconds until shutdown.
pub async fn run(db: PgPool, events: EventLog, shutdown: Shutdown) {
    loop {
        tokio::select! {
            () = shutdown.wait() => return,
            () = tokio::time::sleep(EVERY) => {}
        }
        if let Err(error) = flag_due(&db, &events).await {
            tracing::warn!(%error, "flagging overdue invoices failed; retrying");
        }
    }
}
