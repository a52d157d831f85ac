//! SubscriptionService: converts the wire to billing's subscriptions and
//! back; the use cases are in `app::subscriptions`.

use bss_platform::auth::{Role, authorize};
use bss_platform::error::Violations;
use bss_platform::idempotency::RequestKey;
use bss_platform::input::parse_id;
use bss_platform::money::decimal_from_wire;
use bss_platform::paging::Page;
use bss_platform::payment::PaymentType;
use bss_proto::billing::subscription_service_server::SubscriptionService;
use bss_proto::billing::*;
use rust_decimal::Decimal;
use tonic::{Request, Response, Status};

use super::{BillingApi, ENQUIRERS, min_pricing_version, ordering_account};
use crate::app::subscriptions::NewSubscription;
use crate::domain::error::BillingError;
use crate::wire;

/// Roles that may create and cancel subscriptions (a customer's own user
/// for its own account).
const CREATORS: &[Role] =
    &[Role::TenantAdmin, Role::BillingClerk, Role::AccountManager, Role::Integration, Role::CustomerUser];

/// The new subscription a request asks for, each bad field named.
fn new_subscription(
    input: &Subscription,
    own: Option<uuid::Uuid>,
    pricing_version: i64,
) -> Result<NewSubscription, BillingError> {
    let mut v = Violations::new();
    let min_pricing_version = min_pricing_version(&mut v, pricing_version);
    let account_id = ordering_account(&mut v, "subscription.account_id", &input.account_id, own)?;
    let payment_type = v.keep("subscription.payment_type", PaymentType::from_wire(input.payment_type));
    if input.product.is_empty() {
        v.add("subscription.product", "is required: a product id or code");
    }
    let quantity = decimal_from_wire(&mut v, "subscription.quantity", input.quantity.as_ref(), None);
    if quantity.is_some_and(|quantity| quantity <= Decimal::ZERO) {
        v.add("subscription.quantity", "must be greater than zero");
    }
    let (Some(account_id), Some(payment_type), Some(quantity)) = (account_id, payment_type, quantity) else {
        return Err(v.into());
    };
    v.into_result()?;
    Ok(NewSubscription { account_id, payment_type, product: input.product.clone(), quantity, min_pricing_version })
}

#[tonic::async_trait]
impl SubscriptionService for BillingApi {
    async fn create_subscription(
        &self,
        request: Request<CreateSubscriptionRequest>,
    ) -> Result<Response<CreateSubscriptionResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, CREATORS)?;
        let mut request = request.into_inner();
        let run = async {
            let own = self.own_account(&caller).await?;
            // The request id's answer is its account's (see PlaceOrder).
            if let (Some(own), Some(subscription)) = (own, request.subscription.as_mut())
                && subscription.account_id.is_empty()
            {
                subscription.account_id = own.to_string();
            }
            let new = new_subscription(
                request.subscription.as_ref().unwrap_or(&Subscription::default()),
                own,
                request.min_pricing_version,
            )?;
            let key = RequestKey::of_caller(&caller, tenant_id, "CreateSubscription", &request.request_id, &request)?;
            self.create_subscription(&caller, tenant_id, key, new, |subscription| CreateSubscriptionResponse {
                subscription: Some(wire::subscription(subscription)),
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn get_subscription(
        &self,
        request: Request<GetSubscriptionRequest>,
    ) -> Result<Response<GetSubscriptionResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, ENQUIRERS)?;
        let run = async {
            let id = parse_id("id", &request.get_ref().id)?;
            let subscription = self.subscription_for(&caller, tenant_id, id).await?;
            Ok::<_, BillingError>(GetSubscriptionResponse { subscription: Some(wire::subscription(&subscription)) })
        };
        Ok(Response::new(run.await?))
    }

    async fn list_subscriptions(
        &self,
        request: Request<ListSubscriptionsRequest>,
    ) -> Result<Response<ListSubscriptionsResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, ENQUIRERS)?;
        let request = request.into_inner();
        let run = async {
            let account_id = parse_id("account_id", &request.account_id)?;
            let filters = ListSubscriptionsRequest { page_size: 0, page_token: String::new(), ..request.clone() };
            let page = Page::parse(request.page_size, &request.page_token, &filters)?;
            let listed =
                self.subscriptions_of(&caller, tenant_id, account_id, (page.after_uuid()?, page.fetch_limit())).await?;
            let (listed, next_page_token) = page.finish(listed, |subscription| subscription.id.as_bytes().to_vec());
            Ok::<_, BillingError>(ListSubscriptionsResponse {
                subscriptions: listed.iter().map(wire::subscription).collect(),
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
            let key = RequestKey::of_caller(&caller, tenant_id, "CancelSubscription", &request.request_id, &request)?;
            self.cancel_subscription(&caller, tenant_id, key, id, |subscription| CancelSubscriptionResponse {
                subscription: Some(wire::subscription(subscription)),
            })
            .await
        };
        Ok(Response::new(run.await?))
    }
}
