//! UsageService: converts the wire to billing's usage events and back; the
//! use cases are in `app::usage`.

use bss_platform::auth::{Role, authorize};
use bss_platform::error::Violations;
use bss_platform::input::{NUL_IN_TEXT, parse_id, required_id};
use bss_platform::money::{Currency, decimal_from_wire, decimal_to_wire};
use bss_platform::time::format_date;
use bss_proto::billing::usage_service_server::UsageService;
use bss_proto::billing::*;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use tonic::{Request, Response, Status, Streaming};
use uuid::Uuid;

use super::{BillingApi, ENQUIRERS};
use crate::domain::error::BillingError;
use crate::domain::usage::check_metric;
use crate::repo::usage::NewEvent;
use crate::wire;

/// Roles that may record usage.
const INGESTERS: &[Role] = &[Role::TenantAdmin, Role::BillingClerk, Role::AccountManager, Role::Integration];

/// The most events in one batch.
const MOST_EVENTS: usize = 1_000;
/// The largest quantity of one event, and its most decimals: a period's
/// aggregate of any number of them stays exact in a `Decimal` (28 digits).
const MOST_QUANTITY: Decimal =
    Decimal::from_parts(1_000_000_000_000u64 as u32, (1_000_000_000_000u64 >> 32) as u32, 0, false, 0);
const MOST_DECIMALS: u32 = 6;

/// The events a batch asks to record, each bad field named
/// (`events[3].quantity`).
fn new_events(asked: &[UsageEvent]) -> Result<Vec<(Option<Uuid>, NewEvent)>, BillingError> {
    let mut v = Violations::new();
    if asked.is_empty() || asked.len() > MOST_EVENTS {
        v.add("events", format!("must hold 1 to {MOST_EVENTS} events"));
    }
    let latest = Utc::now() + chrono::Duration::days(1);
    let mut events = Vec::with_capacity(asked.len());
    for (index, event) in asked.iter().enumerate() {
        let field = |name: &str| format!("events[{index}].{name}");
        // A subscription's, or an account's (resolved to its subscription).
        let (subscription_id, account_id) = match (event.subscription_id.as_str(), event.account_id.as_str()) {
            (subscription, "") => (v.keep(&field("subscription_id"), required_id(subscription)), None),
            ("", account) => (Some(Uuid::nil()), v.keep(&field("account_id"), required_id(account)).map(Some)),
            _ => {
                v.add(field("account_id"), "give the subscription or the account, not both");
                (None, None)
            }
        };
        if let Err(problem) = check_metric(&event.metric) {
            v.add(field("metric"), problem);
        }
        let quantity = decimal_from_wire(&mut v, &field("quantity"), event.quantity.as_ref(), Some(Decimal::ONE));
        if quantity.is_some_and(|quantity| quantity < Decimal::ZERO) {
            v.add(field("quantity"), "must be zero or more");
        } else if quantity.is_some_and(|quantity| quantity > MOST_QUANTITY) {
            v.add(field("quantity"), "must be at most 1000000000000");
        } else if quantity.is_some_and(|quantity| quantity.normalize().scale() > MOST_DECIMALS) {
            v.add(field("quantity"), format!("must have at most {MOST_DECIMALS} decimals"));
        }
        // At Postgres's precision (microseconds), so what is stored is what
        // was read.
        let at = event.time.as_ref().and_then(|time| {
            DateTime::from_timestamp(time.seconds, u32::try_from(time.nanos).ok()?)
                .and_then(|at| DateTime::from_timestamp_micros(at.timestamp_micros()))
        });
        match at {
            None => v.add(field("time"), "is required: a valid instant"),
            Some(at) if at > latest => v.add(field("time"), "must be at most a day ahead"),
            Some(_) => {}
        }
        if event.idempotency_key.is_empty() || event.idempotency_key.chars().count() > 200 {
            v.add(field("idempotency_key"), "must be 1 to 200 characters");
        } else if event.idempotency_key.contains('\0') {
            v.add(field("idempotency_key"), NUL_IN_TEXT);
        }
        if event.property.chars().count() > 200 {
            v.add(field("property"), "must be at most 200 characters");
        } else if event.property.contains('\0') {
            v.add(field("property"), NUL_IN_TEXT);
        }
        if let (Some(subscription_id), Some(quantity), Some(at)) = (subscription_id, quantity, at) {
            events.push((
                account_id.flatten(),
                NewEvent {
                    subscription_id,
                    metric: event.metric.clone(),
                    key: event.idempotency_key.clone(),
                    quantity,
                    at,
                    property: event.property.clone(),
                },
            ));
        }
    }
    v.into_result()?;
    Ok(events)
}

#[tonic::async_trait]
impl UsageService for BillingApi {
    async fn ingest_usage(
        &self,
        request: Request<Streaming<IngestUsageRequest>>,
    ) -> Result<Response<IngestUsageResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, INGESTERS)?;
        let mut stream = request.into_inner();
        let mut answer = IngestUsageResponse::default();
        // Each batch stored whole, in the order sent: a stream cut short
        // keeps the batches before (sending them again counts nothing twice).
        while let Some(batch) = stream.message().await? {
            let events = new_events(&batch.events)?;
            let (recorded, duplicates) = self.ingest_usage(&caller, tenant_id, events).await?;
            answer.accepted += recorded as i64;
            answer.duplicates += duplicates as i64;
        }
        Ok(Response::new(answer))
    }

    async fn ingest_usage_batch(
        &self,
        request: Request<IngestUsageBatchRequest>,
    ) -> Result<Response<IngestUsageBatchResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, INGESTERS)?;
        let run = async {
            let events = new_events(&request.get_ref().events)?;
            let (recorded, duplicates) = self.ingest_usage(&caller, tenant_id, events).await?;
            Ok::<_, BillingError>(IngestUsageBatchResponse { accepted: recorded as i64, duplicates: duplicates as i64 })
        };
        Ok(Response::new(run.await?))
    }

    async fn get_current_usage(
        &self,
        request: Request<GetCurrentUsageRequest>,
    ) -> Result<Response<GetCurrentUsageResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, ENQUIRERS)?;
        let run = async {
            let id = parse_id("subscription_id", &request.get_ref().subscription_id)?;
            let (period, currency, metrics) = self.current_usage(&caller, tenant_id, id).await?;
            let amount: Decimal = metrics.iter().map(|(_, rated, _)| rated.amount).sum();
            // To the currency's minor unit ("0.00" for a metric not used).
            let scaled = |amount: Decimal| Currency::parse(&currency).map_or(amount, |code| code.round(amount));
            Ok::<_, BillingError>(GetCurrentUsageResponse {
                period_start: format_date(period.start),
                period_end: format_date(period.end),
                metrics: metrics
                    .into_iter()
                    .map(|(metered, rated, events)| MetricUsage {
                        aggregation: wire::usage_aggregation_to_wire(metered.aggregation) as i32,
                        metric: metered.metric,
                        quantity: Some(decimal_to_wire(rated.quantity)),
                        events,
                        amount: wire::money(scaled(rated.amount), &currency),
                        tiers: rated.tiers.iter().map(|tier| wire::tier_to_wire(tier, &currency)).collect(),
                    })
                    .collect(),
                amount: wire::money(scaled(amount), &currency),
            })
        };
        Ok(Response::new(run.await?))
    }
}
