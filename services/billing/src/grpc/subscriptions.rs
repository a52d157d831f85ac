//! SubscriptionService: subscriptions priced once, at creation, and
//! authorized by credit as subscription activations against their payer.

use bss_platform::auth::{Role, authorize};
use bss_platform::error::PlatformError;
use bss_platform::error::Violations;
use bss_platform::idempotency::Opened;
use bss_platform::input::{parse_id, required_id};
use bss_platform::money::{decimal_from_wire, money_to_wire};
use bss_platform::paging::Page;
use bss_platform::payment::PaymentType;
use bss_platform::time::{format_date, now, timestamp};
use bss_proto::billing::billing_event::Payload;
use bss_proto::billing::subscription_service_server::SubscriptionService;
use bss_proto::billing::*;
use bss_proto::credit::EventKind;
use chrono::NaiveDate;
use prost::Message;
use rust_decimal::Decimal;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{BillingApi, READERS};
use crate::app::orders::CreditAsk;
use crate::app::publish;
use crate::app::subscriptions::{publish_if_first_paid, status_code};
use crate::credit_feed;
use crate::domain::error::BillingError;
use crate::domain::order::{Line, OrderState, charges, check_orderer, credit_reference, payer_shares};
use crate::repo::{self, Stored};
use crate::wire;

/// Roles that may create subscriptions.
const CREATORS: &[Role] = &[Role::TenantAdmin, Role::BillingClerk, Role::AccountManager, Role::Integration];

#[tonic::async_trait]
impl SubscriptionService for BillingApi {
    async fn create_subscription(
        &self,
        request: Request<CreateSubscriptionRequest>,
    ) -> Result<Response<CreateSubscriptionResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, CREATORS)?;
        let request = request.into_inner();
        let run = async {
            let input = request.subscription.clone().unwrap_or_default();
            let mut v = Violations::new();
            let account_id = v.keep("subscription.account_id", required_id(&input.account_id));
            let payment_type = v.keep("subscription.payment_type", PaymentType::from_wire(input.payment_type));
            if input.product.is_empty() {
                v.add("subscription.product", "is required: a product id or code");
            }
            let quantity = decimal_from_wire(&mut v, "subscription.quantity", input.quantity.as_ref(), None);
            if quantity.is_some_and(|quantity| quantity <= Decimal::ZERO) {
                v.add("subscription.quantity", "must be greater than zero");
            }
            let (Some(account_id), Some(payment_type)) = (account_id, payment_type) else {
                return Err(v.into());
            };
            v.into_result()?;
            if let Some(stored) = self.replayed(tenant_id, "CreateSubscription", &request.request_id, &request).await? {
                return Ok(stored);
            }
            let account = self.fetch_account(&caller, account_id).await?;
            check_orderer(&wire::orderer(&account), payment_type)?;
            // Priced now, once: later price changes apply to new subscriptions.
            let mut line =
                [Line { product: input.product.clone(), quantity: quantity.unwrap_or_default(), ..Line::default() }];
            let priced = self.price(&caller, account_id, &mut line).await?;
            let id = Uuid::now_v7();
            // A retried request keeps its reference, so credit decides and
            // reserves once.
            let reference = credit_reference("subscription", &request.request_id, id);
            let bill_to = self.payers_of(tenant_id, &account, &line).await?;
            let Some(charge) = charges(account_id, &line, &bill_to, None, priced.currency, now().date_naive()).pop()
            else {
                return Err(BillingError::Unavailable {
                    what: "pricing",
                    cause: "a quote without its line".to_owned(),
                });
            };
            let mut subscription = Subscription {
                id: id.to_string(),
                account_id: account_id.to_string(),
                product: input.product.clone(),
                quantity: input.quantity.clone(),
                payment_type: payment_type.to_wire() as i32,
                unit_price: Some(money_to_wire(line[0].unit_price, priced.currency)),
                paid: charge.unit_price > Decimal::ZERO && payment_type != PaymentType::RunningQuote,
                create_time: Some(timestamp(now())),
                status: SubscriptionStatus::Active as i32,
                reference: reference.clone(),
                ..Subscription::default()
            };
            // A running quote is recorded, never authorized or charged.
            let mut start_date: Option<NaiveDate> = None;
            if payment_type != PaymentType::RunningQuote {
                let shares = payer_shares([(charge.bill_to_account_id, charge.total)]);
                let ask = CreditAsk {
                    account_id,
                    reference: &reference,
                    currency: priced.currency,
                    shares: &shares,
                    payment_type,
                    event_kind: EventKind::SubscriptionActivation,
                };
                let credited = self.authorize_credit(tenant_id, ask).await?;
                subscription.status = match credited.state {
                    OrderState::Executed => {
                        start_date = charge.charge_date;
                        SubscriptionStatus::Active
                    }
                    OrderState::HeldForApproval => SubscriptionStatus::PendingApproval,
                    _ => SubscriptionStatus::Rejected,
                } as i32;
                subscription.reasons = credited.reasons.iter().map(wire::reason).collect();
                subscription.payers =
                    credited.payers.iter().map(|payer| wire::order_payer(payer, priced.currency.code)).collect();
                subscription.held_order_id = credited.held_order_id.map(|id| id.to_string()).unwrap_or_default();
            }
            let (mut tx, pending) =
                match self.begin(tenant_id, "CreateSubscription", &request.request_id, &request).await? {
                    Opened::Replayed(response) => return Ok(response),
                    Opened::Fresh(tx, pending) => (tx, pending),
                };
            let status = SubscriptionStatus::try_from(subscription.status).unwrap_or_default();
            let held_order_id = subscription.held_order_id.parse::<Uuid>().ok();
            if let Some(held_order_id) = held_order_id {
                credit_feed::lock_held(&mut tx, held_order_id).await?;
            }
            sqlx::query(
                "INSERT INTO billing.subscriptions (tenant_id, id, account_id, body, bill_to_account_id, separate,
                     product_id, description, currency, quantity, unit_price, total, start_date, charged_periods,
                     status, reference, held_order_id)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, coalesce($13, 'infinity'::date), 0,
                     $14, $15, $16)",
            )
            .bind(tenant_id)
            .bind(id)
            .bind(account_id)
            .bind(subscription.encode_to_vec())
            .bind(charge.bill_to_account_id)
            .bind(charge.separate)
            .bind(&charge.product_id)
            .bind(format!("{} subscription", charge.description))
            .bind(&charge.currency)
            .bind(charge.quantity)
            .bind(charge.unit_price)
            .bind(charge.total)
            .bind(start_date)
            .bind(status_code(status))
            .bind(&reference)
            .bind(subscription.held_order_id.parse::<Uuid>().ok())
            .execute(&mut *tx)
            .await?;
            if status == SubscriptionStatus::Active {
                publish_if_first_paid(&mut tx, tenant_id, &caller.subject, &subscription).await?;
            }
            // Credit may have decided the held activation already: its
            // decision applies now.
            if let Some(held_order_id) = held_order_id
                && credit_feed::apply_recorded(&mut tx, tenant_id, held_order_id).await?
            {
                let body: Vec<u8> =
                    sqlx::query_scalar("SELECT body FROM billing.subscriptions WHERE tenant_id = $1 AND id = $2")
                        .bind(tenant_id)
                        .bind(id)
                        .fetch_one(&mut *tx)
                        .await?;
                subscription = Subscription::decode(body.as_slice())
                    .map_err(|error| BillingError::Platform(PlatformError::Corrupt(error.to_string())))?;
            }
            let response = CreateSubscriptionResponse { subscription: Some(subscription) };
            self.commit(tx, pending, &response).await?;
            Ok::<_, BillingError>(response)
        };
        Ok(Response::new(run.await?))
    }

    async fn get_subscription(
        &self,
        request: Request<GetSubscriptionRequest>,
    ) -> Result<Response<GetSubscriptionResponse>, Status> {
        let (_, tenant_id) = authorize(&request, READERS)?;
        let run = async {
            let id = parse_id("id", &request.get_ref().id)?;
            let subscription = repo::stored(&self.db, Stored::Subscriptions, tenant_id, id).await?;
            let subscription = subscription.ok_or_else(|| BillingError::not_found("subscription", id))?;
            Ok::<_, BillingError>(GetSubscriptionResponse { subscription: Some(subscription) })
        };
        Ok(Response::new(run.await?))
    }

    async fn list_subscriptions(
        &self,
        request: Request<ListSubscriptionsRequest>,
    ) -> Result<Response<ListSubscriptionsResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, READERS)?;
        let request = request.into_inner();
        let run = async {
            let account_id = parse_id("account_id", &request.account_id)?;
            // Another tenant's account is NOT_FOUND, not an empty list.
            self.fetch_account(&caller, account_id).await?;
            let filters = ListSubscriptionsRequest { page_size: 0, page_token: String::new(), ..request.clone() };
            let page = Page::parse(request.page_size, &request.page_token, &filters)?;
            let after = page.after_uuid()?;
            let rows = repo::stored_of_account(
                &self.db,
                Stored::Subscriptions,
                tenant_id,
                account_id,
                after,
                page.fetch_limit(),
            )
            .await?;
            let (rows, next_page_token) = page.finish(rows, |(id, _)| id.as_bytes().to_vec());
            Ok::<_, BillingError>(ListSubscriptionsResponse {
                subscriptions: rows.into_iter().map(|(_, subscription)| subscription).collect(),
                next_page_token,
            })
        };
        Ok(Response::new(run.await?))
    }

    async fn cancel_subscription(
        &self,
        request: Request<CancelSubscriptionRequest>,
    ) -> Result<Response<CancelSubscriptionResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, CREATORS)?;
        let request = request.into_inner();
        let run = async {
            let id = parse_id("id", &request.id)?;
            let (mut tx, pending) =
                match self.begin(tenant_id, "CancelSubscription", &request.request_id, &request).await? {
                    Opened::Replayed(response) => return Ok(response),
                    Opened::Fresh(tx, pending) => (tx, pending),
                };
            // Nothing of it is or will be charged when no period was
            // charged and none started before today (a subscription never
            // activated starts at 'infinity', a date chrono cannot hold:
            // Postgres compares it).
            let row: Option<(Vec<u8>, bool)> = sqlx::query_as(
                "SELECT body, charged_periods = 0 AND start_date >= current_date FROM billing.subscriptions
                 WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
            )
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            let (body, nothing_started) = row.ok_or_else(|| BillingError::not_found("subscription", id))?;
            let mut subscription = Subscription::decode(body.as_slice())
                .map_err(|error| BillingError::Platform(PlatformError::Corrupt(error.to_string())))?;
            match SubscriptionStatus::try_from(subscription.status) {
                Ok(SubscriptionStatus::Cancelled) => {
                    return Err(BillingError::precondition(
                        "SUBSCRIPTION_CANCELLED",
                        format!("subscription {id} was cancelled on {}", subscription.cancel_date),
                    ));
                }
                Ok(SubscriptionStatus::Rejected) => {
                    return Err(BillingError::precondition(
                        "SUBSCRIPTION_REJECTED",
                        format!("subscription {id} was refused by credit: it was never charged"),
                    ));
                }
                _ => {}
            }
            let today = now().date_naive();
            subscription.status = SubscriptionStatus::Cancelled as i32;
            subscription.cancel_date = format_date(today);
            sqlx::query(
                "UPDATE billing.subscriptions SET body = $3, cancelled_on = $4, status = $5
                 WHERE tenant_id = $1 AND id = $2",
            )
            .bind(tenant_id)
            .bind(id)
            .bind(subscription.encode_to_vec())
            .bind(today)
            .bind(status_code(SubscriptionStatus::Cancelled))
            .execute(&mut *tx)
            .await?;
            // No period starting today or later is charged: one never
            // charged frees what credit holds for the activation (a charged
            // or started first period is still invoiced, and its invoice
            // captures it).
            if nothing_started {
                let cancelled = SubscriptionCancelled {
                    subscription_id: subscription.id.clone(),
                    account_id: subscription.account_id.clone(),
                    reference: subscription.reference.clone(),
                    payers: subscription.payers.clone(),
                };
                publish(&mut tx, tenant_id, &caller.subject, Payload::SubscriptionCancelled(cancelled)).await?;
            }
            let response = CancelSubscriptionResponse { subscription: Some(subscription) };
            self.commit(tx, pending, &response).await?;
            Ok::<_, BillingError>(response)
        };
        Ok(Response::new(run.await?))
    }
}
