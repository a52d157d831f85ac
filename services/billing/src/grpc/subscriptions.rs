//! SubscriptionService: converts the wire to billing's subscriptions and
//! back; the use cases are in `app::subscriptions`.

use bss_platform::auth::{Role, authorize};
use bss_platform::error::Violations;
use bss_platform::idempotency::RequestKey;
use bss_platform::input::{optional_date, parse_id, required_id};
use bss_platform::money::decimal_from_wire;
use bss_platform::paging::Page;
use bss_platform::payment::PaymentType;
use bss_proto::billing::subscription_service_server::SubscriptionService;
use bss_proto::billing::*;
use rust_decimal::Decimal;
use tonic::{Request, Response, Status};

use super::{BillingApi, ENQUIRERS, min_pricing_version, ordering_account};
use crate::app::changes::ChangeAsk;
use crate::app::subscriptions::NewSubscription;
use crate::domain::cycle::AnchorDay;
use crate::domain::error::BillingError;
use crate::domain::subscription::{Term, Trial};
use crate::domain::usage::{Metered, check_metric};
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
    let cycle = v.keep("subscription.billing_cycle", wire::billing_cycle(input.billing_cycle));
    let anchor = v.keep("subscription.billing_anchor_day", anchor_day(input.billing_anchor_day));
    let timing = v.keep("subscription.billing_timing", wire::billing_timing(input.billing_timing));
    let start = optional_date(&mut v, "subscription.start_date", &input.start_date);
    let today = bss_platform::time::now().date_naive();
    if let Some(Some(start)) = start
        && today.checked_add_months(chrono::Months::new(12)).is_none_or(|last| start > last)
    {
        v.add("subscription.start_date", "must be at most a year after today");
    }
    let (trial, term) = phases(&mut v, input);
    let metered = metered(&mut v, input);
    let (Some(account_id), Some(payment_type), Some(quantity), Some(cycle), Some(anchor), Some(timing), Some(start)) =
        (account_id, payment_type, quantity, cycle, anchor, timing, start)
    else {
        return Err(v.into());
    };
    v.into_result()?;
    let product = input.product.clone();
    let billing = (cycle, anchor, timing);
    Ok(NewSubscription {
        account_id,
        payment_type,
        product,
        quantity,
        min_pricing_version,
        billing,
        start,
        trial,
        term,
        metered,
    })
}

/// The metrics a new subscription meters, each once, each bad field named.
fn metered(v: &mut Violations, input: &Subscription) -> Vec<Metered> {
    let mut metered: Vec<Metered> = Vec::with_capacity(input.metered.len());
    for (index, asked) in input.metered.iter().enumerate() {
        let field = |name: &str| format!("subscription.metered[{index}].{name}");
        let checked = check_metric(&asked.metric).map_err(str::to_owned);
        let metric = v.keep(&field("metric"), checked);
        let aggregation = v.keep(&field("aggregation"), wire::usage_aggregation(asked.aggregation));
        let rating = v.keep(&field("rating"), wire::rating(asked.rating));
        if asked.product.is_empty() {
            v.add(field("product"), "is required: the id or code of the product whose price rates the metric");
        }
        if metered.iter().any(|earlier| earlier.metric == asked.metric) {
            v.add(field("metric"), "is metered already: each metric once");
        }
        if let (Some(()), Some(aggregation), Some(rating)) = (metric, aggregation, rating) {
            let product = asked.product.clone();
            metered.push(Metered { metric: asked.metric.clone(), aggregation, product, rating });
        }
    }
    metered
}

/// The trial and fixed term a new subscription asks for, each bad field
/// named.
fn phases(v: &mut Violations, input: &Subscription) -> (Option<Trial>, Option<Term>) {
    let price = input
        .trial_price
        .as_ref()
        .and_then(|price| decimal_from_wire(v, "subscription.trial_price", Some(price), None));
    if price.is_some_and(|price| price < Decimal::ZERO) {
        v.add("subscription.trial_price", "must be zero or more");
    }
    if !(0..=366).contains(&input.trial_days) {
        v.add("subscription.trial_days", "must be 0 (no trial) to 366 days");
    } else if input.trial_days == 0 && input.trial_price.is_some() {
        v.add("subscription.trial_price", "needs a trial: set trial_days");
    }
    if !(0..=120).contains(&input.term_periods) {
        v.add("subscription.term_periods", "must be 0 (evergreen) to 120 periods");
    } else if input.term_periods == 0 && input.auto_renew {
        v.add("subscription.auto_renew", "renews a fixed term: set term_periods");
    }
    let trial =
        u32::try_from(input.trial_days).ok().filter(|days| (1..=366).contains(days)).map(|days| Trial { days, price });
    let term = u32::try_from(input.term_periods)
        .ok()
        .filter(|periods| (1..=120).contains(periods))
        .map(|periods| Term { periods, auto_renew: input.auto_renew });
    (trial, term)
}

/// An anchor day on the wire: 0 is none, else 1 to 31.
fn anchor_day(day: i32) -> Result<Option<AnchorDay>, String> {
    if day == 0 {
        return Ok(None);
    }
    u32::try_from(day)
        .ok()
        .and_then(|day| AnchorDay::new(day).ok())
        .map(Some)
        .ok_or_else(|| "must be a day of the month, 1 to 31, or 0 for none".to_owned())
}

/// Roles that may set an account's billing anchor.
const ANCHOR_SETTERS: &[Role] = &[Role::TenantAdmin, Role::BillingClerk, Role::AccountManager, Role::Integration];

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

    async fn set_billing_anchor(
        &self,
        request: Request<SetBillingAnchorRequest>,
    ) -> Result<Response<SetBillingAnchorResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, ANCHOR_SETTERS)?;
        let request = request.into_inner();
        let run = async {
            let mut v = Violations::new();
            let account_id = v.keep("account_id", required_id(&request.account_id));
            let anchor = v.keep("anchor_day", anchor_day(request.anchor_day));
            let (Some(account_id), Some(anchor)) = (account_id, anchor) else {
                return Err(v.into());
            };
            let key = RequestKey::of_caller(&caller, tenant_id, "SetBillingAnchor", &request.request_id, &request)?;
            self.set_billing_anchor(&caller, tenant_id, key, (account_id, anchor), |anchor| SetBillingAnchorResponse {
                anchor_day: anchor.map_or(0, |anchor| anchor.day() as i32),
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn get_billing_anchor(
        &self,
        request: Request<GetBillingAnchorRequest>,
    ) -> Result<Response<GetBillingAnchorResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, ENQUIRERS)?;
        let run = async {
            let account_id = parse_id("account_id", &request.get_ref().account_id)?;
            let anchor = self.billing_anchor(&caller, tenant_id, account_id).await?;
            Ok::<_, BillingError>(GetBillingAnchorResponse {
                anchor_day: anchor.map_or(0, |anchor| anchor.day() as i32),
            })
        };
        Ok(Response::new(run.await?))
    }

    async fn change_subscription(
        &self,
        request: Request<ChangeSubscriptionRequest>,
    ) -> Result<Response<ChangeSubscriptionResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, CREATORS)?;
        let request = request.into_inner();
        let run = async {
            let mut v = Violations::new();
            let id = v.keep("id", required_id(&request.id));
            let min_pricing_version = min_pricing_version(&mut v, request.min_pricing_version);
            let quantity = match request.quantity.as_ref() {
                None => Some(None),
                Some(_) => decimal_from_wire(&mut v, "quantity", request.quantity.as_ref(), None).map(Some),
            };
            if quantity.flatten().is_some_and(|quantity| quantity <= Decimal::ZERO) {
                v.add("quantity", "must be greater than zero");
            }
            if request.product.is_empty() && request.quantity.is_none() {
                v.add("product", "or quantity is required: the change's new product or quantity");
            }
            let (Some(id), Some(quantity)) = (id, quantity) else {
                return Err(v.into());
            };
            v.into_result()?;
            let key = RequestKey::of_caller(&caller, tenant_id, "ChangeSubscription", &request.request_id, &request)?;
            let ask = ChangeAsk {
                subscription_id: id,
                product: Some(request.product.clone()).filter(|product| !product.is_empty()),
                quantity,
                at_period_end: request.at_period_end,
                min_pricing_version,
            };
            self.change_subscription(&caller, tenant_id, key, ask, |subscription, change| ChangeSubscriptionResponse {
                subscription: Some(wire::subscription(subscription)),
                change: Some(wire::subscription_change(change, &subscription.currency)),
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn list_subscription_changes(
        &self,
        request: Request<ListSubscriptionChangesRequest>,
    ) -> Result<Response<ListSubscriptionChangesResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, ENQUIRERS)?;
        let request = request.into_inner();
        let run = async {
            let id = parse_id("id", &request.id)?;
            let filters = ListSubscriptionChangesRequest { page_size: 0, page_token: String::new(), ..request.clone() };
            let page = Page::parse(request.page_size, &request.page_token, &filters)?;
            let subscription = self.subscription_for(&caller, tenant_id, id).await?;
            let listed = self.subscription_history(tenant_id, id, (page.after_uuid()?, page.fetch_limit())).await?;
            let (listed, next_page_token) = page.finish(listed, |change| change.id.as_bytes().to_vec());
            Ok::<_, BillingError>(ListSubscriptionChangesResponse {
                changes: listed
                    .iter()
                    .map(|change| wire::subscription_change(change, &subscription.currency))
                    .collect(),
                next_page_token,
            })
        };
        Ok(Response::new(run.await?))
    }

    async fn pause_subscription(
        &self,
        request: Request<PauseSubscriptionRequest>,
    ) -> Result<Response<PauseSubscriptionResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, CREATORS)?;
        let request = request.into_inner();
        let run = async {
            let id = parse_id("id", &request.id)?;
            let key = RequestKey::of_caller(&caller, tenant_id, "PauseSubscription", &request.request_id, &request)?;
            self.pause_subscription(&caller, tenant_id, key, id, |subscription| PauseSubscriptionResponse {
                subscription: Some(wire::subscription(subscription)),
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn resume_subscription(
        &self,
        request: Request<ResumeSubscriptionRequest>,
    ) -> Result<Response<ResumeSubscriptionResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, CREATORS)?;
        let request = request.into_inner();
        let run = async {
            let id = parse_id("id", &request.id)?;
            let key = RequestKey::of_caller(&caller, tenant_id, "ResumeSubscription", &request.request_id, &request)?;
            self.resume_subscription(&caller, tenant_id, key, id, |subscription| ResumeSubscriptionResponse {
                subscription: Some(wire::subscription(subscription)),
            })
            .await
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
            let cancel = (id, request.at_period_end);
            self.cancel_subscription(&caller, tenant_id, key, cancel, |subscription| CancelSubscriptionResponse {
                subscription: Some(wire::subscription(subscription)),
            })
            .await
        };
        Ok(Response::new(run.await?))
    }
}
