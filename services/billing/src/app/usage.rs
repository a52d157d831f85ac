//! Metered usage: events recorded against the metrics a subscription
//! meters, each once by its idempotency key, and the running usage of the
//! period open today.

use std::collections::{BTreeMap, BTreeSet};

use bss_platform::auth::Caller;
use bss_platform::time::now;
use chrono::{NaiveDate, NaiveTime};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::Billing;
use crate::domain::cycle::Span;
use crate::domain::error::BillingError;
use crate::domain::usage::Metered;
use crate::repo::usage::{self, NewEvent};

impl Billing {
    /// Records a batch of usage events in one transaction, each once:
    /// answers (recorded now, recorded already). Every event's subscription
    /// is the tenant's and the caller's to see (NOT_FOUND otherwise) and
    /// meters its metric (FAILED_PRECONDITION METRIC_NOT_METERED); nothing
    /// is recorded unless all are.
    pub async fn ingest_usage(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        events: &[NewEvent],
    ) -> Result<(u64, u64), BillingError> {
        let ids: Vec<Uuid> =
            events.iter().map(|event| event.subscription_id).collect::<BTreeSet<_>>().into_iter().collect();
        let mut tx = self.db.begin().await?;
        let found: BTreeMap<Uuid, (Uuid, Vec<Metered>, bool)> = usage::metered_of(&mut tx, tenant_id, &ids)
            .await?
            .into_iter()
            .map(|(id, account_id, metered, started)| (id, (account_id, metered, started)))
            .collect();
        for id in &ids {
            let Some((account_id, _, started)) = found.get(id) else {
                return Err(BillingError::not_found("subscription", *id));
            };
            self.check_own(caller, &[*account_id], ("subscription", *id)).await?;
            if !started {
                return Err(BillingError::precondition(
                    "SUBSCRIPTION_NOT_ACTIVE",
                    format!("subscription {id} was never active (held or refused by credit): it records no usage"),
                ));
            }
        }
        for event in events {
            let meters = found
                .get(&event.subscription_id)
                .is_some_and(|(_, metered, _)| metered.iter().any(|metered| metered.metric == event.metric));
            if !meters {
                return Err(BillingError::precondition(
                    "METRIC_NOT_METERED",
                    format!("subscription {} meters no metric {:?}", event.subscription_id, event.metric),
                ));
            }
        }
        let recorded = usage::insert(&mut tx, tenant_id, events).await?;
        tx.commit().await?;
        Ok((recorded, events.len() as u64 - recorded))
    }

    /// The period running today of the subscription and, for each metric it
    /// meters, what its events so far aggregate to and how many there are.
    /// FAILED_PRECONDITION NO_PERIOD_RUNNING when none runs (not started,
    /// paused, cancelled).
    pub async fn current_usage(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        id: Uuid,
    ) -> Result<(Span, Vec<(Metered, Decimal, i64)>), BillingError> {
        let subscription = self.subscription_for(caller, tenant_id, id).await?;
        let period = subscription.current_period(now().date_naive()).ok_or_else(|| {
            BillingError::precondition("NO_PERIOD_RUNNING", format!("subscription {id} has no period running today"))
        })?;
        let instant = |day: NaiveDate| day.and_time(NaiveTime::MIN).and_utc();
        let mut conn = self.db.acquire().await?;
        let mut metrics = Vec::with_capacity(subscription.metered.len());
        for metered in subscription.metered {
            let (quantity, events) = usage::aggregate(
                &mut conn,
                (tenant_id, id),
                (&metered.metric, metered.aggregation),
                (instant(period.start), instant(period.end)),
            )
            .await?;
            metrics.push((metered, quantity, events));
        }
        Ok((period, metrics))
    }
}
