//! Accrual: every few seconds, subscriptions cancelled at a period's end
//! whose day has come are ended, and the periods of subscriptions after
//! their first that are due to be billed (on their first day, or in
//! arrears the day after their last) and not charged yet are charged, each
//! priced by pricing on its first day, and credit is told of each (SubscriptionPeriodCharged) so it reserves the amount on the
//! payer until the invoice that bills it captures it: available credit
//! counts what a subscription owes for its current period before any
//! invoice does. Batches of bill-to accounts per tenant, one transaction
//! each; a tenant whose batch fails (pricing unavailable) is tried again
//! on the next pass and never holds up another. The periods of metered
//! subscriptions that ended are billed their usage the same way, and the
//! running usage of those with events recorded since they were last rated
//! is rated again, so credit holds what it comes to (UsageReserved).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bss_platform::shutdown::Shutdown;
use bss_platform::time::{format_date, now};
use bss_proto::billing::SubscriptionTrialEnded;
use bss_proto::billing::billing_event::Payload;
use chrono::NaiveDate;
use uuid::Uuid;

use crate::app::{Billing, publish};
use crate::domain::error::BillingError;
use crate::overdue::ACTOR;
use crate::repo;

/// How often started periods are looked for.
const EVERY: Duration = Duration::from_secs(5);
/// Bill-to accounts charged per transaction.
const BATCH: i64 = 500;

/// Charges every later period started by `today`; returns how many
/// periods it charged and the tenants it could not charge.
pub async fn accrue(api: &Billing, today: NaiveDate) -> Result<(usize, Vec<(Uuid, BillingError)>), BillingError> {
    let mut charged = 0;
    let mut failed: Vec<(Uuid, BillingError)> = Vec::new();
    // Each pass pages on from the last account of the one before: one
    // whose usage pricing cannot rate yet stays due, and is tried again
    // on the next round, not before the accounts after it.
    let mut after = (Uuid::nil(), Uuid::nil());
    loop {
        let skipped: Vec<Uuid> = failed.iter().map(|(tenant_id, _)| *tenant_id).collect();
        let due = repo::charges::accounts_with_later_periods_due(&api.db, today, &skipped, (after, BATCH)).await?;
        let Some(last) = due.last() else {
            return Ok((charged, failed));
        };
        after = *last;
        let mut by_tenant: BTreeMap<Uuid, Vec<Uuid>> = BTreeMap::new();
        for (tenant_id, account_id) in due {
            by_tenant.entry(tenant_id).or_default().push(account_id);
        }
        for (tenant_id, accounts) in by_tenant {
            let mut tx = api.db.begin().await?;
            match api.charge_subscriptions(&mut tx, tenant_id, &accounts, false, today).await {
                Ok(periods) => {
                    tx.commit().await?;
                    charged += periods;
                    api.events.written();
                }
                Err(error) => failed.push((tenant_id, error)),
            }
        }
    }
}

/// Publishes SubscriptionTrialEnded, once, for every trial that ended by
/// `today` with its subscription active (it converts); returns how many.
pub async fn announce_trials(api: &Billing, today: NaiveDate) -> Result<usize, BillingError> {
    let mut tx = api.db.begin().await?;
    let ended = repo::subscriptions::trials_ended(&mut tx, today).await?;
    for (tenant_id, subscription_id, account_id, ends) in &ended {
        let event = SubscriptionTrialEnded {
            subscription_id: subscription_id.to_string(),
            account_id: account_id.to_string(),
            trial_end_date: format_date(*ends),
        };
        publish(&mut tx, *tenant_id, ACTOR, Payload::SubscriptionTrialEnded(event)).await?;
    }
    tx.commit().await?;
    if !ended.is_empty() {
        api.events.written();
    }
    Ok(ended.len())
}

/// Rates again the running usage of up to [`BATCH`] metered subscriptions
/// with events recorded since they were last rated, and moves what credit
/// holds for each; returns how many it rated and the tenants it could not
/// rate (tried again on the next pass).
pub async fn rate_recorded_usage(
    api: &Billing,
    today: NaiveDate,
) -> Result<(usize, Vec<(Uuid, BillingError)>), BillingError> {
    let mut by_tenant: BTreeMap<Uuid, Vec<Uuid>> = BTreeMap::new();
    for (tenant_id, id) in repo::usage::dirty(&api.db, BATCH).await? {
        by_tenant.entry(tenant_id).or_default().push(id);
    }
    let (mut rated, mut failed) = (0, Vec::new());
    for (tenant_id, ids) in by_tenant {
        let mut tx = api.db.begin().await?;
        let subscriptions = repo::usage::locked(&mut tx, tenant_id, &ids).await?;
        match api.reserve_usage(&mut tx, tenant_id, &subscriptions, today).await {
            Ok(()) => {
                tx.commit().await?;
                api.events.written();
                rated += subscriptions.len();
            }
            Err(error) => failed.push((tenant_id, error)),
        }
    }
    Ok((rated, failed))
}

/// Accrues every few seconds until shutdown.
pub async fn run(api: Arc<Billing>, shutdown: Shutdown) {
    loop {
        tokio::select! {
            () = shutdown.wait() => return,
            () = tokio::time::sleep(EVERY) => {}
        }
        let today = now().date_naive();
        // Cancelled at a period's end whose day has come: ended first, so
        // no later period of theirs is charged below.
        if let Err(error) = crate::repo::subscriptions::end_cancelled(&api.db, today).await {
            tracing::warn!(%error, "ending subscriptions cancelled at their period's end failed; retrying");
        }
        if let Err(error) = announce_trials(&api, today).await {
            tracing::warn!(%error, "announcing the trials that ended failed; retrying");
        }
        match accrue(&api, today).await {
            Ok((_, failed)) => {
                for (tenant_id, error) in failed {
                    tracing::warn!(%tenant_id, %error, "charging started subscription periods failed; retrying");
                }
            }
            Err(error) => tracing::warn!(%error, "charging started subscription periods failed; retrying"),
        }
        match rate_recorded_usage(&api, today).await {
            Ok((_, failed)) => {
                for (tenant_id, error) in failed {
                    tracing::warn!(%tenant_id, %error, "rating recorded usage failed; retrying");
                }
            }
            Err(error) => tracing::warn!(%error, "rating recorded usage failed; retrying"),
        }
    }
}
