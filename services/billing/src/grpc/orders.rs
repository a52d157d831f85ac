//! OrderService: orders checked against the account and its payers, priced
//! by pricing, authorized by credit whatever their payment type (but a
//! running quote), and cancelled, whole or a back order's part, before they
//! are invoiced.

use bss_platform::auth::{Caller, Role, authorize};
use bss_platform::client;
use bss_platform::error::Violations;
use bss_platform::idempotency::Opened;
use bss_platform::input::{parse_id, required_id, required_text};
use bss_platform::money::{Currency, decimal_from_wire, decimal_to_wire, money_to_wire, parse_decimal};
use bss_platform::paging::Page;
use bss_platform::payment::PaymentType;
use bss_platform::time::{now, parse_date, timestamp};
use bss_proto::accounts::{Account, AccountStatus};
use bss_proto::billing::billing_event::Payload;
use bss_proto::billing::order_service_server::OrderService;
use bss_proto::billing::*;
use bss_proto::credit::credit_service_client::CreditServiceClient;
use bss_proto::credit::{AuthorizeOrderRequest, Decision, DecisionReason, EventKind, PayerShare};
use bss_proto::pricing::quote_service_client::QuoteServiceClient;
use bss_proto::pricing::{QuoteLineRequest, QuoteRequest};
use chrono::NaiveDate;
use prost::Message;
use rust_decimal::Decimal;
use sqlx::PgConnection;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{BillingApi, PEER_TIMEOUT, READERS, order_outcome, publish};
use crate::credit_feed;
use crate::domain::bill_to::BillTo;
use crate::domain::error::BillingError;
use crate::domain::order::{
    CreditVerdict, OrderState, backordered, check_cancellable, check_executed, credit_reference, payer_shares,
    split_total, take_back_order,
};
use crate::repo::{self, ChargeRow, Stored};

/// Roles that may place and cancel orders (a sales rep for its own
/// accounts).
const PLACERS: &[Role] =
    &[Role::TenantAdmin, Role::BillingClerk, Role::AccountManager, Role::SalesRep, Role::Integration];

/// Most lines on one order.
const MAX_LINES: usize = 500;
/// Longest reason of a cancellation.
const MAX_REASON: usize = 500;

/// A suspended or terminated account takes no new orders or
/// subscriptions: the refusal, with `suspended` or `terminated` as its
/// reason, `who` in its description.
fn check_status(
    account: &Account,
    (suspended, terminated): (&'static str, &'static str),
    who: &str,
) -> Result<(), BillingError> {
    match AccountStatus::try_from(account.status) {
        Ok(AccountStatus::Suspended) => Err(BillingError::precondition(suspended, format!("{who} is suspended"))),
        Ok(AccountStatus::Terminated) => Err(BillingError::precondition(terminated, format!("{who} is terminated"))),
        _ => Ok(()),
    }
}

/// The account rules an order must pass, each with its reason.
pub(crate) fn check_account(account: &Account, payment_type: PaymentType) -> Result<(), BillingError> {
    let refuse = |reason: &'static str, why: &str| Err(BillingError::precondition(reason, why.to_owned()));
    check_status(account, ("ACCOUNT_SUSPENDED", "ACCOUNT_TERMINATED"), "the account")?;
    if account.managed_by.is_some() {
        return refuse("MANAGED_BY_RESELLER", "the account is a copy managed by its reseller: orders are placed there");
    }
    if !account.enable_ordering {
        return refuse("ORDERING_DISABLED", "ordering is not enabled for the account");
    }
    if account.payment_types.is_empty() {
        return refuse("NO_PAYMENT_TYPE", "the account has no payment type enabled");
    }
    if !account.payment_types.contains(&(payment_type.to_wire() as i32)) {
        return refuse(
            "PAYMENT_TYPE_NOT_ALLOWED",
            &format!("the account does not allow {} orders", payment_type.code()),
        );
    }
    Ok(())
}

/// A payer's own standing: a suspended or terminated payer takes no new
/// orders or subscriptions for the accounts it pays for.
pub(crate) fn check_payer(payer: &Account) -> Result<(), BillingError> {
    let who = format!("account {} that pays for the account", payer.id);
    check_status(payer, ("PAYER_SUSPENDED", "PAYER_TERMINATED"), &who)
}

/// What pricing said of an order's lines.
pub(crate) struct Priced {
    pub total: bss_proto::types::Money,
    pub currency: Currency,
    /// Each line's product as (id, code).
    pub products: Vec<(String, String)>,
}

/// A decimal of the wire, zero when absent or bad (inputs are validated
/// before).
fn decimal(value: &Option<bss_proto::types::Decimal>) -> Decimal {
    value.as_ref().and_then(|value| parse_decimal(&value.value).ok()).unwrap_or_default()
}

/// An amount of the wire, zero when absent or bad (priced by pricing).
fn amount(value: &Option<bss_proto::types::Money>) -> Decimal {
    value.as_ref().and_then(|money| parse_decimal(&money.amount).ok()).unwrap_or_default()
}

impl Priced {
    /// The charges of the priced lines, each billed as `bill_to` says: what
    /// ships now dated today, what is back-ordered undated (not billable
    /// until it ships). The parts of a line add up to its total.
    pub(crate) fn charges(
        &self,
        account_id: Uuid,
        lines: &[OrderLine],
        bill_to: &[BillTo],
        order: Option<(Uuid, &str)>,
    ) -> Vec<ChargeRow> {
        let mut charges = Vec::with_capacity(lines.len());
        for (index, ((line, (product_id, code)), bill_to)) in lines.iter().zip(&self.products).zip(bill_to).enumerate()
        {
            let unit_price = amount(&line.unit_price);
            let quantity = decimal(&line.quantity);
            let waiting = decimal(&line.backordered_quantity);
            let total = amount(&line.total);
            let shipped = quantity - waiting;
            let (shipped_total, waiting_total) = split_total(total, quantity, unit_price, shipped, self.currency);
            let charge = |quantity: Decimal, total: Decimal, charge_date: Option<NaiveDate>| ChargeRow {
                id: Uuid::now_v7(),
                account_id,
                bill_to_account_id: bill_to.account_id,
                separate: bill_to.separate,
                order_id: order.map(|(id, _)| id),
                order_reference: order.map(|(_, reference)| reference.to_owned()),
                order_line: order.map(|_| index as i32 + 1),
                product_id: product_id.clone(),
                description: match order {
                    Some((_, reference)) => format!("{code} ({reference})"),
                    None => code.clone(),
                },
                currency: self.currency.code.to_owned(),
                quantity,
                unit_price,
                total,
                charge_date,
            };
            if shipped > Decimal::ZERO {
                charges.push(charge(shipped, shipped_total, Some(now().date_naive())));
            }
            if waiting > Decimal::ZERO {
                charges.push(charge(waiting, waiting_total, None));
            }
        }
        charges
    }
}

/// What billing asks credit about an order or a subscription's activation.
pub(crate) struct CreditAsk<'a> {
    pub account_id: Uuid,
    pub reference: &'a str,
    pub currency: Currency,
    /// Who pays what (payer, amount), as the charges are billed.
    pub shares: &'a [(Uuid, Decimal)],
    pub payment_type: PaymentType,
    pub event_kind: EventKind,
}

/// What credit decided.
pub(crate) struct Credited {
    pub state: OrderState,
    pub reasons: Vec<DecisionReason>,
    /// Each payer with its amount and reservation.
    pub payers: Vec<OrderPayer>,
    pub held_order_id: String,
}

fn verdict(decision: i32) -> CreditVerdict {
    match Decision::try_from(decision) {
        Ok(Decision::Approved) => CreditVerdict::Approved,
        Ok(Decision::ApprovedWithWarning) => CreditVerdict::ApprovedWithWarning,
        Ok(Decision::CreditCardOnly) => CreditVerdict::CreditCardOnly,
        Ok(Decision::HeldForApproval) => CreditVerdict::HeldForApproval,
        // Blocked, or a verdict this build does not know: not executed.
        _ => CreditVerdict::Blocked,
    }
}

impl BillingApi {
    /// Prices the lines with pricing's Quote, for the caller.
    pub(crate) async fn price(
        &self,
        caller: &Caller,
        account_id: Uuid,
        lines: &mut [OrderLine],
    ) -> Result<Priced, BillingError> {
        let channel = self.peer("pricing", &self.peers.pricing)?;
        let quote = QuoteRequest {
            account_id: account_id.to_string(),
            lines: lines
                .iter()
                .map(|line| QuoteLineRequest { product: line.product.clone(), quantity: line.quantity.clone() })
                .collect(),
            ..QuoteRequest::default()
        };
        let answer = QuoteServiceClient::new(channel)
            .quote(client::request(quote, caller, PEER_TIMEOUT))
            .await
            .map_err(upstream("pricing"))?
            .into_inner();
        let mut products = Vec::with_capacity(lines.len());
        for (line, priced) in lines.iter_mut().zip(&answer.lines) {
            line.unit_price = priced.unit_price.clone();
            line.total = priced.total.clone();
            products.push((priced.product_id.clone(), priced.product_code.clone()));
        }
        let currency = Currency::parse(&answer.currency_code).map_err(|_| BillingError::Unavailable {
            what: "pricing",
            cause: "a quote without a currency".to_owned(),
        })?;
        Ok(Priced { total: answer.total.unwrap_or_default(), currency, products })
    }

    /// Who pays each of the account's products (id and code), read as
    /// billing itself; a suspended or terminated payer refuses.
    pub(crate) async fn payers_of(
        &self,
        tenant_id: Uuid,
        account: &Account,
        products: &[(String, String)],
    ) -> Result<Vec<BillTo>, BillingError> {
        let service = self.as_service(tenant_id)?;
        let payer = self.payer(&service, account).await?;
        let bill_to = self.bill_to(&service, &payer, products).await?;
        let mut checked = Vec::new();
        for paying in bill_to.iter().map(|bill_to| bill_to.account_id) {
            if paying.to_string() == account.id || checked.contains(&paying) {
                continue;
            }
            check_payer(&self.fetch_account(&service, paying).await?)?;
            checked.push(paying);
        }
        Ok(bill_to)
    }

    /// Asks credit, as billing itself (billing authorized its caller), to
    /// authorize an order or activation against its payers. The reference
    /// is the request id too: a retry decides and reserves once.
    pub(crate) async fn authorize_credit(&self, tenant_id: Uuid, ask: CreditAsk<'_>) -> Result<Credited, BillingError> {
        let money = |amount: Decimal| Some(money_to_wire(amount, ask.currency));
        let total: Decimal = ask.shares.iter().map(|(_, share)| *share).sum();
        let alone = ask.shares.iter().all(|(payer, _)| *payer == ask.account_id);
        let request = AuthorizeOrderRequest {
            request_id: ask.reference.to_owned(),
            account_id: ask.account_id.to_string(),
            order_reference: ask.reference.to_owned(),
            amount: money(total),
            payment_type: ask.payment_type.to_wire() as i32,
            event_kind: ask.event_kind as i32,
            // Billing invoices or cancels what credit reserves for it.
            keep_until_invoiced: true,
            payers: if alone {
                Vec::new()
            } else {
                ask.shares
                    .iter()
                    .map(|(payer, share)| PayerShare { account_id: payer.to_string(), amount: money(*share) })
                    .collect()
            },
        };
        let channel = self.peer("credit", &self.peers.credit)?;
        let service = self.as_service(tenant_id)?;
        let decision = CreditServiceClient::new(channel)
            .authorize_order(client::request(request, &service, PEER_TIMEOUT))
            .await
            .map_err(upstream("credit"))?
            .into_inner();
        let payers = decision
            .shares
            .iter()
            .map(|share| OrderPayer {
                account_id: share.account_id.clone(),
                amount: share.amount.clone(),
                reservation_id: share
                    .reservation
                    .as_ref()
                    .map(|reservation| reservation.id.clone())
                    .unwrap_or_default(),
            })
            .collect();
        Ok(Credited {
            state: OrderState::after(verdict(decision.decision)),
            reasons: decision.reasons,
            payers,
            held_order_id: decision.held_order.map(|held| held.id).unwrap_or_default(),
        })
    }

    /// The order, locked, with its stored status; NOT_FOUND for another
    /// tenant's, or one of an account a sales rep may not act for.
    async fn lock_order(
        &self,
        tx: &mut PgConnection,
        tenant_id: Uuid,
        order_id: Uuid,
    ) -> Result<(Order, OrderState), BillingError> {
        let row: Option<(Vec<u8>, String)> =
            sqlx::query_as("SELECT body, status FROM billing.orders WHERE tenant_id = $1 AND id = $2 FOR UPDATE")
                .bind(tenant_id)
                .bind(order_id)
                .fetch_optional(&mut *tx)
                .await?;
        let (body, status) = row.ok_or_else(|| BillingError::not_found("order", order_id))?;
        let order = Order::decode(body.as_slice())
            .map_err(|error| BillingError::Platform(bss_platform::error::PlatformError::Corrupt(error.to_string())))?;
        let state = state_of(&status)
            .ok_or_else(|| BillingError::Platform(bss_platform::error::PlatformError::Corrupt(status.clone())))?;
        Ok((order, state))
    }

    /// Whether the caller may act on the order: a sales rep only on its own
    /// accounts' (asked of accounts before any row is locked).
    async fn check_order_visible(&self, caller: &Caller, tenant_id: Uuid, order_id: Uuid) -> Result<(), BillingError> {
        if caller.sales_rep_limit().is_none() {
            return Ok(());
        }
        let order: Option<Order> = repo::stored(&self.db, Stored::Orders, tenant_id, order_id).await?;
        let order = order.ok_or_else(|| BillingError::not_found("order", order_id))?;
        let account_id = order.account_id.parse().map_err(|_| BillingError::not_found("order", order_id))?;
        match self.fetch_account(caller, account_id).await {
            Ok(account) if caller.sales_rep_limit() == Some(account.sales_rep_id.as_str()) => Ok(()),
            Ok(_) | Err(BillingError::NotFound { .. }) => Err(BillingError::not_found("order", order_id)),
            Err(other) => Err(other),
        }
    }
}

/// The state of a stored status name.
pub(crate) fn state_of(status: &str) -> Option<OrderState> {
    Some(match OrderStatus::from_str_name(status)? {
        OrderStatus::Executed => OrderState::Executed,
        OrderStatus::HeldForApproval => OrderState::HeldForApproval,
        OrderStatus::Rejected => OrderState::Rejected,
        OrderStatus::RunningQuote => OrderState::RunningQuote,
        OrderStatus::Cancelled => OrderState::Cancelled,
        OrderStatus::Unspecified => return None,
    })
}

/// The wire status of a state.
pub(crate) fn status_of(state: OrderState) -> OrderStatus {
    match state {
        OrderState::Executed => OrderStatus::Executed,
        OrderState::HeldForApproval => OrderStatus::HeldForApproval,
        OrderState::Rejected => OrderStatus::Rejected,
        OrderState::RunningQuote => OrderStatus::RunningQuote,
        OrderState::Cancelled => OrderStatus::Cancelled,
    }
}

/// A peer's refusal goes back to the caller as it came; a peer that cannot
/// answer is UNAVAILABLE.
pub(crate) fn upstream(what: &'static str) -> impl Fn(Status) -> BillingError {
    move |status| client::peer_error(what, status).into()
}

/// The parsed input of a new order.
struct NewOrder {
    account_id: Uuid,
    payment_type: PaymentType,
}

fn new_order(input: &Order) -> Result<NewOrder, BillingError> {
    let mut v = Violations::new();
    let account_id = v.keep("order.account_id", required_id(&input.account_id));
    let payment_type = v.keep("order.payment_type", PaymentType::from_wire(input.payment_type));
    if !input.delivery_date.is_empty() {
        v.keep("order.delivery_date", parse_date(&input.delivery_date));
    }
    if input.lines.is_empty() || input.lines.len() > MAX_LINES {
        v.add("order.lines", format!("give 1 to {MAX_LINES} lines"));
    }
    for (index, line) in input.lines.iter().enumerate() {
        if line.product.is_empty() {
            v.add(format!("order.lines[{index}].product"), "is required: a product id or code");
        }
        let field = format!("order.lines[{index}].quantity");
        let quantity = decimal_from_wire(&mut v, &field, line.quantity.as_ref(), None);
        if quantity.is_some_and(|q| q <= Decimal::ZERO) {
            v.add(field, "must be greater than zero");
        }
        if line.available_quantity.is_some() {
            let field = format!("order.lines[{index}].available_quantity");
            let available = decimal_from_wire(&mut v, &field, line.available_quantity.as_ref(), None);
            if let (Some(available), Some(quantity)) = (available, quantity)
                && (available < Decimal::ZERO || available > quantity)
            {
                v.add(field, "must be from zero to the line's quantity");
            }
        }
    }
    let (Some(account_id), Some(payment_type)) = (account_id, payment_type) else {
        return Err(v.into());
    };
    v.into_result()?;
    Ok(NewOrder { account_id, payment_type })
}

#[tonic::async_trait]
impl OrderService for BillingApi {
    async fn place_order(&self, request: Request<PlaceOrderRequest>) -> Result<Response<PlaceOrderResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, PLACERS)?;
        let request = request.into_inner();
        let run = async {
            let input = request.order.clone().unwrap_or_default();
            let NewOrder { account_id, payment_type } = new_order(&input)?;
            if let Some(stored) = self.replayed(tenant_id, "PlaceOrder", &request.request_id, &request).await? {
                return Ok(stored);
            }
            let account = self.fetch_account(&caller, account_id).await?;
            if let Some(limit) = caller.sales_rep_limit()
                && account.sales_rep_id != limit
            {
                return Err(BillingError::not_found("account", account_id));
            }
            check_account(&account, payment_type)?;
            let mut lines = input.lines.clone();
            for line in &mut lines {
                let available = line.available_quantity.as_ref().map(|_| decimal(&line.available_quantity));
                line.backordered_quantity = backordered(decimal(&line.quantity), available).map(decimal_to_wire);
                line.cancelled_quantity = None;
            }
            let back_ordered = lines.iter().any(|line| line.backordered_quantity.is_some());
            let priced = self.price(&caller, account_id, &mut lines).await?;
            let id = Uuid::now_v7();
            // A retried request keeps its reference, so credit decides and
            // reserves once.
            let reference = credit_reference("order", &request.request_id, id);
            let mut order = Order {
                id: id.to_string(),
                account_id: account_id.to_string(),
                reference: reference.clone(),
                lines,
                payment_type: payment_type.to_wire() as i32,
                delivery_date: input.delivery_date.clone(),
                placed_by: caller.subject.clone(),
                status: OrderStatus::RunningQuote as i32,
                total: Some(priced.total.clone()),
                create_time: Some(timestamp(now())),
                ..Order::default()
            };
            // A running quote is recorded only: never dispatched, invoiced
            // or authorized.
            let mut state = OrderState::RunningQuote;
            let mut charges = Vec::new();
            if payment_type != PaymentType::RunningQuote {
                let bill_to = self.payers_of(tenant_id, &account, &priced.products).await?;
                charges = priced.charges(account_id, &order.lines, &bill_to, Some((id, &reference)));
                let shares = payer_shares(charges.iter().map(|charge| (charge.bill_to_account_id, charge.total)));
                let ask = CreditAsk {
                    account_id,
                    reference: &reference,
                    currency: priced.currency,
                    shares: &shares,
                    payment_type,
                    event_kind: EventKind::Order,
                };
                let credited = self.authorize_credit(tenant_id, ask).await?;
                state = credited.state;
                order.reasons = credited.reasons;
                order.reservation_id =
                    credited.payers.first().map(|payer| payer.reservation_id.clone()).unwrap_or_default();
                order.payers = credited.payers;
                order.held_order_id = credited.held_order_id;
            }
            order.status = status_of(state) as i32;
            let (mut tx, pending) = match self.begin(tenant_id, "PlaceOrder", &request.request_id, &request).await? {
                Opened::Replayed(response) => return Ok(response),
                Opened::Fresh(tx, pending) => (tx, pending),
            };
            let held_order_id = order.held_order_id.parse::<Uuid>().ok();
            if let Some(held_order_id) = held_order_id {
                credit_feed::lock_held(&mut tx, held_order_id).await?;
            }
            sqlx::query(
                "INSERT INTO billing.orders (tenant_id, id, account_id, status, body, held_order_id, back_ordered)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(tenant_id)
            .bind(id)
            .bind(account_id)
            .bind(status_of(state).as_str_name())
            .bind(order.encode_to_vec())
            .bind(order.held_order_id.parse::<Uuid>().ok())
            .bind(back_ordered)
            .execute(&mut *tx)
            .await?;
            // On account and direct deposit are invoiced (once executed: a
            // held order's charges wait for credit's approval); card and
            // PayPal orders are paid at submission.
            if state.keeps_charges() && payment_type.uses_credit() {
                repo::insert_charges(&mut tx, tenant_id, &charges).await?;
            }
            publish(&mut tx, tenant_id, &caller.subject, order_outcome(&order)).await?;
            // Credit may have decided the held order already (a retry, or a
            // quick credit manager): its decision applies now.
            if let Some(held_order_id) = held_order_id
                && credit_feed::apply_recorded(&mut tx, tenant_id, held_order_id).await?
            {
                let (decided, _) = self.lock_order(&mut tx, tenant_id, id).await?;
                order = decided;
            }
            let response = PlaceOrderResponse { order: Some(order) };
            self.commit(tx, pending, &response).await?;
            Ok::<_, BillingError>(response)
        };
        Ok(Response::new(run.await?))
    }

    async fn get_order(&self, request: Request<GetOrderRequest>) -> Result<Response<GetOrderResponse>, Status> {
        let (_, tenant_id) = authorize(&request, READERS)?;
        let run = async {
            let id = parse_id("id", &request.get_ref().id)?;
            let order = repo::stored(&self.db, Stored::Orders, tenant_id, id).await?;
            Ok::<_, BillingError>(GetOrderResponse {
                order: Some(order.ok_or_else(|| BillingError::not_found("order", id))?),
            })
        };
        Ok(Response::new(run.await?))
    }

    async fn list_orders(&self, request: Request<ListOrdersRequest>) -> Result<Response<ListOrdersResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, READERS)?;
        let request = request.into_inner();
        let run = async {
            let account_id = parse_id("account_id", &request.account_id)?;
            // Another tenant's account is NOT_FOUND, not an empty list.
            self.fetch_account(&caller, account_id).await?;
            let filters = ListOrdersRequest { page_size: 0, page_token: String::new(), ..request.clone() };
            let page = Page::parse(request.page_size, &request.page_token, &filters)?;
            let kind = if request.back_ordered_only { Stored::BackOrders } else { Stored::Orders };
            let rows =
                repo::stored_of_account(&self.db, kind, tenant_id, account_id, page.after_uuid()?, page.fetch_limit())
                    .await?;
            let (rows, next_page_token) = page.finish(rows, |(id, _)| id.as_bytes().to_vec());
            Ok::<_, BillingError>(ListOrdersResponse {
                orders: rows.into_iter().map(|(_, order)| order).collect(),
                next_page_token,
            })
        };
        Ok(Response::new(run.await?))
    }

    async fn ship_back_order(
        &self,
        request: Request<ShipBackOrderRequest>,
    ) -> Result<Response<ShipBackOrderResponse>, Status> {
        let (_, tenant_id) = authorize(&request, super::WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let mut v = Violations::new();
            let order_id = v.keep("order_id", required_id(&request.order_id));
            if request.line_number < 1 {
                v.add("line_number", "must be 1 or more");
            }
            let quantity = decimal_from_wire(&mut v, "quantity", request.quantity.as_ref(), None);
            if quantity.is_some_and(|quantity| quantity <= Decimal::ZERO) {
                v.add("quantity", "must be greater than zero");
            }
            let (Some(order_id), Some(quantity)) = (order_id, quantity) else {
                return Err(v.into());
            };
            v.into_result()?;
            let (mut tx, pending) = match self.begin(tenant_id, "ShipBackOrder", &request.request_id, &request).await? {
                Opened::Replayed(response) => return Ok(response),
                Opened::Fresh(tx, pending) => (tx, pending),
            };
            let (mut order, state) = self.lock_order(&mut tx, tenant_id, order_id).await?;
            check_executed(state, order_id)?;
            let line = back_order_line(&mut order, request.line_number)?;
            let left = take_back_order(request.line_number, decimal(&line.backordered_quantity), quantity)?;
            line.backordered_quantity = (left > Decimal::ZERO).then(|| decimal_to_wire(left));
            // The line's waiting charge gives what ships: the shipped part
            // is dated today, the rest waits.
            if let Some(waiting) = waiting_charge(&mut tx, tenant_id, order_id, request.line_number).await? {
                let (shipped, rest) = waiting.split(quantity)?;
                waiting.ship(&mut tx, tenant_id, quantity, shipped, rest).await?;
            }
            save_order(&mut tx, tenant_id, order_id, &order).await?;
            let response = ShipBackOrderResponse { order: Some(order) };
            self.commit(tx, pending, &response).await?;
            Ok::<_, BillingError>(response)
        };
        Ok(Response::new(run.await?))
    }

    async fn cancel_order(
        &self,
        request: Request<CancelOrderRequest>,
    ) -> Result<Response<CancelOrderResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, PLACERS)?;
        let request = request.into_inner();
        let run = async {
            let mut v = Violations::new();
            let order_id = v.keep("id", required_id(&request.id));
            let reason = v.keep("reason", required_text(&request.reason, MAX_REASON));
            let (Some(order_id), Some(reason)) = (order_id, reason) else {
                return Err(v.into());
            };
            self.check_order_visible(&caller, tenant_id, order_id).await?;
            let (mut tx, pending) = match self.begin(tenant_id, "CancelOrder", &request.request_id, &request).await? {
                Opened::Replayed(response) => return Ok(response),
                Opened::Fresh(tx, pending) => (tx, pending),
            };
            let (mut order, state) = self.lock_order(&mut tx, tenant_id, order_id).await?;
            // Its charges go first (waiting for a draft that holds them to
            // commit), then what is invoiced is checked: a cancellation and
            // an invoice never both take the same charge.
            repo::delete_open_charges(&mut tx, tenant_id, order_id).await?;
            let invoice: Option<Uuid> = sqlx::query_scalar(
                "SELECT invoice_id FROM billing.charges
                 WHERE tenant_id = $1 AND order_id = $2 AND invoice_id IS NOT NULL LIMIT 1",
            )
            .bind(tenant_id)
            .bind(order_id)
            .fetch_optional(&mut *tx)
            .await?;
            check_cancellable(state, order_id, invoice)?;
            // Nothing of it waits any more: what was back-ordered is
            // cancelled.
            for line in &mut order.lines {
                if let Some(waiting) = line.backordered_quantity.take() {
                    let cancelled = decimal(&line.cancelled_quantity) + decimal(&Some(waiting));
                    line.cancelled_quantity = Some(decimal_to_wire(cancelled));
                }
            }
            order.status = OrderStatus::Cancelled as i32;
            order.cancel_reason = reason.clone();
            order.cancel_time = Some(timestamp(now()));
            save_order(&mut tx, tenant_id, order_id, &order).await?;
            let cancelled = OrderCancelled {
                order_id: order.id.clone(),
                account_id: order.account_id.clone(),
                reference: order.reference.clone(),
                whole: true,
                released: order.payers.clone(),
                reason,
            };
            publish(&mut tx, tenant_id, &caller.subject, Payload::OrderCancelled(cancelled)).await?;
            publish(&mut tx, tenant_id, &caller.subject, order_outcome(&order)).await?;
            let response = CancelOrderResponse { order: Some(order) };
            self.commit(tx, pending, &response).await?;
            Ok::<_, BillingError>(response)
        };
        Ok(Response::new(run.await?))
    }

    async fn cancel_back_order(
        &self,
        request: Request<CancelBackOrderRequest>,
    ) -> Result<Response<CancelBackOrderResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, PLACERS)?;
        let request = request.into_inner();
        let run = async {
            let mut v = Violations::new();
            let order_id = v.keep("order_id", required_id(&request.order_id));
            if request.line_number < 1 {
                v.add("line_number", "must be 1 or more");
            }
            let quantity = match &request.quantity {
                None => Some(None),
                Some(_) => {
                    let quantity = decimal_from_wire(&mut v, "quantity", request.quantity.as_ref(), None);
                    if quantity.is_some_and(|quantity| quantity <= Decimal::ZERO) {
                        v.add("quantity", "must be greater than zero");
                    }
                    quantity.map(Some)
                }
            };
            let reason = v.keep("reason", required_text(&request.reason, MAX_REASON));
            let (Some(order_id), Some(quantity), Some(reason)) = (order_id, quantity, reason) else {
                return Err(v.into());
            };
            v.into_result()?;
            self.check_order_visible(&caller, tenant_id, order_id).await?;
            let (mut tx, pending) =
                match self.begin(tenant_id, "CancelBackOrder", &request.request_id, &request).await? {
                    Opened::Replayed(response) => return Ok(response),
                    Opened::Fresh(tx, pending) => (tx, pending),
                };
            let (mut order, state) = self.lock_order(&mut tx, tenant_id, order_id).await?;
            check_executed(state, order_id)?;
            let line = back_order_line(&mut order, request.line_number)?;
            let waiting_quantity = decimal(&line.backordered_quantity);
            let quantity = quantity.unwrap_or(waiting_quantity);
            let left = take_back_order(request.line_number, waiting_quantity, quantity)?;
            if quantity.is_zero() {
                return Err(BillingError::precondition(
                    "NOTHING_BACK_ORDERED",
                    format!("line {} has nothing back-ordered", request.line_number),
                ));
            }
            line.backordered_quantity = (left > Decimal::ZERO).then(|| decimal_to_wire(left));
            line.cancelled_quantity = Some(decimal_to_wire(decimal(&line.cancelled_quantity) + quantity));
            let mut released = Vec::new();
            if let Some(waiting) = waiting_charge(&mut tx, tenant_id, order_id, request.line_number).await? {
                let (cancelled, rest) = waiting.split(quantity)?;
                if waiting.quantity > quantity {
                    waiting.keep(&mut tx, tenant_id, waiting.quantity - quantity, rest).await?;
                } else {
                    sqlx::query("DELETE FROM billing.charges WHERE tenant_id = $1 AND id = $2")
                        .bind(tenant_id)
                        .bind(waiting.id)
                        .execute(&mut *tx)
                        .await?;
                }
                if cancelled > Decimal::ZERO {
                    released.push(OrderPayer {
                        account_id: waiting.bill_to_account_id.to_string(),
                        amount: Some(money_to_wire(cancelled, waiting.currency()?)),
                        reservation_id: String::new(),
                    });
                }
            }
            save_order(&mut tx, tenant_id, order_id, &order).await?;
            if !released.is_empty() {
                let cancelled = OrderCancelled {
                    order_id: order.id.clone(),
                    account_id: order.account_id.clone(),
                    reference: order.reference.clone(),
                    whole: false,
                    released,
                    reason,
                };
                publish(&mut tx, tenant_id, &caller.subject, Payload::OrderCancelled(cancelled)).await?;
            }
            let response = CancelBackOrderResponse { order: Some(order) };
            self.commit(tx, pending, &response).await?;
            Ok::<_, BillingError>(response)
        };
        Ok(Response::new(run.await?))
    }
}

/// The order's line `line_number` (from 1).
fn back_order_line(order: &mut Order, line_number: i32) -> Result<&mut OrderLine, BillingError> {
    let count = order.lines.len();
    let index = usize::try_from(line_number - 1).unwrap_or(usize::MAX);
    order
        .lines
        .get_mut(index)
        .ok_or_else(|| Violations::single("line_number", format!("the order has {count} lines")).into())
}

/// Stores the order's body, its status and whether it has back-ordered
/// quantity.
async fn save_order(tx: &mut PgConnection, tenant_id: Uuid, order_id: Uuid, order: &Order) -> Result<(), BillingError> {
    let status = OrderStatus::try_from(order.status).unwrap_or(OrderStatus::Unspecified);
    let back_ordered = order.lines.iter().any(|line| line.backordered_quantity.is_some());
    sqlx::query("UPDATE billing.orders SET body = $3, status = $4, back_ordered = $5 WHERE tenant_id = $1 AND id = $2")
        .bind(tenant_id)
        .bind(order_id)
        .bind(order.encode_to_vec())
        .bind(status.as_str_name())
        .bind(back_ordered)
        .execute(tx)
        .await?;
    Ok(())
}

/// The back-ordered charge of an order line, waiting to ship.
#[derive(sqlx::FromRow)]
struct WaitingCharge {
    id: Uuid,
    bill_to_account_id: Uuid,
    currency: String,
    quantity: Decimal,
    unit_price: Decimal,
    total: Decimal,
}

impl WaitingCharge {
    fn currency(&self) -> Result<Currency, BillingError> {
        Currency::parse(&self.currency).map_err(|_| {
            BillingError::Platform(bss_platform::error::PlatformError::Corrupt(format!("currency {:?}", self.currency)))
        })
    }

    /// What `part` of it costs, and what the rest does (together its
    /// total).
    fn split(&self, part: Decimal) -> Result<(Decimal, Decimal), BillingError> {
        Ok(split_total(self.total, self.quantity, self.unit_price, part, self.currency()?))
    }

    /// Ships `quantity` of it for `shipped` (billable from today), leaving
    /// the rest waiting for `rest`; all of it when nothing is left.
    async fn ship(
        &self,
        tx: &mut PgConnection,
        tenant_id: Uuid,
        quantity: Decimal,
        shipped: Decimal,
        rest: Decimal,
    ) -> Result<(), BillingError> {
        if quantity >= self.quantity {
            sqlx::query("UPDATE billing.charges SET charge_date = current_date WHERE tenant_id = $1 AND id = $2")
                .bind(tenant_id)
                .bind(self.id)
                .execute(tx)
                .await?;
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO billing.charges (tenant_id, id, account_id, bill_to_account_id, separate, order_id,
                 order_reference, order_line, product_id, description, currency, quantity, unit_price, total,
                 charge_date)
             SELECT tenant_id, $3, account_id, bill_to_account_id, separate, order_id, order_reference, order_line,
                 product_id, description, currency, $4, unit_price, $5, current_date
             FROM billing.charges WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant_id)
        .bind(self.id)
        .bind(Uuid::now_v7())
        .bind(quantity)
        .bind(shipped)
        .execute(&mut *tx)
        .await?;
        self.keep(tx, tenant_id, self.quantity - quantity, rest).await
    }

    /// Leaves `quantity` of it waiting, for `total`.
    async fn keep(
        &self,
        tx: &mut PgConnection,
        tenant_id: Uuid,
        quantity: Decimal,
        total: Decimal,
    ) -> Result<(), BillingError> {
        sqlx::query("UPDATE billing.charges SET quantity = $3, total = $4 WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(self.id)
            .bind(quantity)
            .bind(total)
            .execute(tx)
            .await?;
        Ok(())
    }
}

async fn waiting_charge(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    order_id: Uuid,
    line_number: i32,
) -> Result<Option<WaitingCharge>, BillingError> {
    Ok(sqlx::query_as(
        "SELECT id, bill_to_account_id, currency, quantity, unit_price, total FROM billing.charges
         WHERE tenant_id = $1 AND order_id = $2 AND order_line = $3 AND charge_date IS NULL FOR UPDATE",
    )
    .bind(tenant_id)
    .bind(order_id)
    .bind(line_number)
    .fetch_optional(tx)
    .await?)
}
