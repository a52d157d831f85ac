//! SubscriptionService: subscriptions priced once, at creation.

use bss_platform::auth::{Role, authorize};
use bss_platform::error::PlatformError;
use bss_platform::error::Violations;
use bss_platform::idempotency::Opened;
use bss_platform::input::{parse_id, required_id};
use bss_platform::money::decimal_from_wire;
use bss_platform::paging::Page;
use bss_platform::payment::PaymentType;
use bss_platform::time::{format_date, now, timestamp};
use bss_proto::billing::billing_event::Payload;
use bss_proto::billing::subscription_service_server::SubscriptionService;
use bss_proto::billing::*;
use prost::Message;
use rust_decimal::Decimal;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::orders::check_account;
use super::{BillingApi, READERS, publish};
use crate::domain::error::BillingError;
use crate::repo::{self, Stored};

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
            let account = self.fetch_account(&caller, account_id).await?;
            check_account(&account, payment_type)?;
            // Priced now, once: later price changes apply to new subscriptions.
            let mut line = [OrderLine {
                product: input.product.clone(),
                quantity: input.quantity.clone(),
                ..OrderLine::default()
            }];
            let priced = self.price(&caller, account_id, &mut line).await?;
            let payer = self.payer(&caller, &account).await?;
            let bill_to = self.bill_to(&caller, &payer, &priced.products).await?;
            let Some(charge) = priced.charges(account_id, &line, &bill_to, None).pop() else {
                return Err(BillingError::Unavailable {
                    what: "pricing",
                    cause: "a quote without its line".to_owned(),
                });
            };
            let unit_price = line[0].unit_price.clone().unwrap_or_default();
            let paid = charge.unit_price > Decimal::ZERO && payment_type != PaymentType::RunningQuote;
            let (mut tx, pending) =
                match self.begin(tenant_id, "CreateSubscription", &request.request_id, &request).await? {
                    Opened::Replayed(response) => return Ok(response),
                    Opened::Fresh(tx, pending) => (tx, pending),
                };
            let id = Uuid::now_v7();
            let subscription = Subscription {
                id: id.to_string(),
                account_id: account_id.to_string(),
                product: input.product.clone(),
                quantity: input.quantity.clone(),
                payment_type: payment_type.to_wire() as i32,
                unit_price: Some(unit_price),
                paid,
                create_time: Some(timestamp(now())),
                status: SubscriptionStatus::Active as i32,
                cancel_date: String::new(),
            };
            // A running quote is recorded, never charged.
            let start_date = if payment_type == PaymentType::RunningQuote { None } else { charge.charge_date };
            sqlx::query(
                "INSERT INTO billing.subscriptions (tenant_id, id, account_id, body, bill_to_account_id, separate,
                     product_id, description, currency, quantity, unit_price, total, start_date, charged_periods)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, coalesce($13, 'infinity'::date), 0)",
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
            .execute(&mut *tx)
            .await?;
            if paid {
                let first = sqlx::query(
                    "INSERT INTO billing.first_paid_subscriptions (tenant_id, account_id, subscription_id)
                     VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                )
                .bind(tenant_id)
                .bind(account_id)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                if first.rows_affected() == 1 {
                    let event = FirstPaidSubscriptionCreated {
                        account_id: account_id.to_string(),
                        subscription_id: id.to_string(),
                    };
                    publish(&mut tx, tenant_id, &caller.subject, Payload::FirstPaidSubscriptionCreated(event)).await?;
                }
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
        let (_, tenant_id) = authorize(&request, READERS)?;
        let request = request.into_inner();
        let run = async {
            let account_id = parse_id("account_id", &request.account_id)?;
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
        let (_, tenant_id) = authorize(&request, CREATORS)?;
        let request = request.into_inner();
        let run = async {
            let id = parse_id("id", &request.id)?;
            let (mut tx, pending) =
                match self.begin(tenant_id, "CancelSubscription", &request.request_id, &request).await? {
                    Opened::Replayed(response) => return Ok(response),
                    Opened::Fresh(tx, pending) => (tx, pending),
                };
            let body: Option<Vec<u8>> = sqlx::query_scalar(
                "SELECT body FROM billing.subscriptions WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
            )
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            let body = body.ok_or_else(|| BillingError::not_found("subscription", id))?;
            let mut subscription = Subscription::decode(body.as_slice())
                .map_err(|error| BillingError::Platform(PlatformError::Corrupt(error.to_string())))?;
            if subscription.status == SubscriptionStatus::Cancelled as i32 {
                return Err(BillingError::precondition(
                    "SUBSCRIPTION_CANCELLED",
                    format!("subscription {id} was cancelled on {}", subscription.cancel_date),
                ));
            }
            let today = now().date_naive();
            subscription.status = SubscriptionStatus::Cancelled as i32;
            subscription.cancel_date = format_date(today);
            sqlx::query(
                "UPDATE billing.subscriptions SET body = $3, cancelled_on = $4 WHERE tenant_id = $1 AND id = $2",
            )
            .bind(tenant_id)
            .bind(id)
            .bind(subscription.encode_to_vec())
            .bind(today)
            .execute(&mut *tx)
            .await?;
            let response = CancelSubscriptionResponse { subscription: Some(subscription) };
            self.commit(tx, pending, &response).await?;
            Ok::<_, BillingError>(response)
        };
        Ok(Response::new(run.await?))
    }
}
