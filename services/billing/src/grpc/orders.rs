//! OrderService: orders checked against the account, priced by pricing and
//! authorized by credit.

use bss_platform::auth::{Caller, Role, authorize};
use bss_platform::client;
use bss_platform::error::Violations;
use bss_platform::idempotency::Opened;
use bss_platform::input::{parse_id, required_id};
use bss_platform::money::{Currency, decimal_from_wire, decimal_to_wire, parse_decimal};
use bss_platform::paging::Page;
use bss_platform::payment::PaymentType;
use bss_platform::time::{now, parse_date, timestamp};
use bss_proto::accounts::{Account, AccountStatus};
use bss_proto::billing::order_service_server::OrderService;
use bss_proto::billing::*;
use bss_proto::credit::credit_service_client::CreditServiceClient;
use bss_proto::credit::{AuthorizeOrderRequest, Decision, EventKind};
use bss_proto::pricing::quote_service_client::QuoteServiceClient;
use bss_proto::pricing::{QuoteLineRequest, QuoteRequest};
use chrono::NaiveDate;
use prost::Message;
use rust_decimal::Decimal;
use tonic::{Code, Request, Response, Status};
use uuid::Uuid;

use super::{BillingApi, PEER_TIMEOUT, READERS, order_outcome, publish};
use crate::domain::bill_to::BillTo;
use crate::domain::error::BillingError;
use crate::repo::{self, ChargeRow, Stored};

/// Roles that may place orders (a sales rep for its own accounts).
const PLACERS: &[Role] =
    &[Role::TenantAdmin, Role::BillingClerk, Role::AccountManager, Role::SalesRep, Role::Integration];

/// Most lines on one order.
const MAX_LINES: usize = 500;

/// The account rules an order must pass, each with its reason.
pub(crate) fn check_account(account: &Account, payment_type: PaymentType) -> Result<(), BillingError> {
    let refuse = |reason: &'static str, why: &str| Err(BillingError::precondition(reason, why.to_owned()));
    match AccountStatus::try_from(account.status) {
        Ok(AccountStatus::Suspended) => return refuse("ACCOUNT_SUSPENDED", "the account is suspended"),
        Ok(AccountStatus::Terminated) => return refuse("ACCOUNT_TERMINATED", "the account is terminated"),
        _ => {}
    }
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

/// What pricing said of an order's lines.
pub(crate) struct Priced {
    pub total: bss_proto::types::Money,
    pub currency: String,
    /// Each line's product as (id, code).
    pub products: Vec<(String, String)>,
}

/// A decimal of the wire, zero when absent or bad (inputs are validated
/// before).
fn decimal(value: &Option<bss_proto::types::Decimal>) -> Decimal {
    value.as_ref().and_then(|value| parse_decimal(&value.value).ok()).unwrap_or_default()
}

impl Priced {
    /// The charges of the priced lines, each billed as `bill_to` says: what
    /// ships now dated today, what is back-ordered undated (not billable
    /// until it ships).
    pub(crate) fn charges(
        &self,
        account_id: Uuid,
        lines: &[OrderLine],
        bill_to: &[BillTo],
        order: Option<(Uuid, &str)>,
    ) -> Vec<ChargeRow> {
        let currency = Currency::parse(&self.currency).ok();
        let mut charges = Vec::with_capacity(lines.len());
        for (index, ((line, (product_id, code)), bill_to)) in lines.iter().zip(&self.products).zip(bill_to).enumerate()
        {
            let unit_price =
                line.unit_price.as_ref().and_then(|money| parse_decimal(&money.amount).ok()).unwrap_or_default();
            let quantity = decimal(&line.quantity);
            let backordered = decimal(&line.backordered_quantity);
            let charge = |quantity: Decimal, charge_date: Option<NaiveDate>| ChargeRow {
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
                currency: self.currency.clone(),
                quantity,
                unit_price,
                total: currency.map_or(quantity * unit_price, |currency| currency.round(quantity * unit_price)),
                charge_date,
            };
            let shipped = quantity - backordered;
            if shipped > Decimal::ZERO {
                charges.push(charge(shipped, Some(now().date_naive())));
            }
            if backordered > Decimal::ZERO {
                charges.push(charge(backordered, None));
            }
        }
        charges
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
        Ok(Priced { total: answer.total.unwrap_or_default(), currency: answer.currency_code, products })
    }
}

/// A peer's refusal goes back to the caller as it came; a peer that cannot
/// answer is UNAVAILABLE.
pub(crate) fn upstream(what: &'static str) -> impl Fn(Status) -> BillingError {
    move |status| match status.code() {
        Code::InvalidArgument | Code::FailedPrecondition | Code::NotFound | Code::PermissionDenied => {
            BillingError::Upstream(status)
        }
        _ => BillingError::Unavailable { what, cause: status.message().to_owned() },
    }
}

#[tonic::async_trait]
impl OrderService for BillingApi {
    async fn place_order(&self, request: Request<PlaceOrderRequest>) -> Result<Response<PlaceOrderResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, PLACERS)?;
        let request = request.into_inner();
        let run = async {
            let input = request.order.clone().unwrap_or_default();
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
            let key =
                bss_platform::idempotency::RequestKey::new(tenant_id, "PlaceOrder", &request.request_id, &request)?;
            if let Some(key) = &key {
                let mut connection = self.db.acquire().await?;
                if let Ok(stored) = bss_platform::idempotency::resolve::<PlaceOrderResponse>(&mut connection, key).await
                {
                    return Ok(stored);
                }
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
                line.backordered_quantity = None;
                if line.available_quantity.is_some() {
                    let backordered = decimal(&line.quantity) - decimal(&line.available_quantity);
                    if backordered > Decimal::ZERO {
                        line.backordered_quantity = Some(decimal_to_wire(backordered));
                    }
                }
            }
            let back_ordered = lines.iter().any(|line| line.backordered_quantity.is_some());
            let priced = self.price(&caller, account_id, &mut lines).await?;
            let total = priced.total.clone();
            // On-account and direct-deposit orders are invoiced; card and
            // PayPal orders are paid at submission.
            let bill_to = if payment_type.uses_credit() {
                let payer = self.payer(&caller, &account).await?;
                self.bill_to(&caller, &payer, &priced.products).await?
            } else {
                Vec::new()
            };
            let id = Uuid::now_v7();
            // A retried request keeps its reference, so credit reserves once.
            let reference = if request.request_id.is_empty() {
                format!("order:{id}")
            } else {
                format!("order:{}", request.request_id)
            };
            let mut order = Order {
                id: id.to_string(),
                account_id: account_id.to_string(),
                reference: reference.clone(),
                lines,
                payment_type: payment_type.to_wire() as i32,
                delivery_date: input.delivery_date.clone(),
                placed_by: caller.subject.clone(),
                status: OrderStatus::Executed as i32,
                total: Some(total.clone()),
                reasons: Vec::new(),
                reservation_id: String::new(),
                held_order_id: String::new(),
                create_time: Some(timestamp(now())),
            };
            if payment_type == PaymentType::RunningQuote {
                order.status = OrderStatus::RunningQuote as i32;
            } else if payment_type.uses_credit() {
                let authorize = AuthorizeOrderRequest {
                    request_id: reference.clone(),
                    account_id: account_id.to_string(),
                    order_reference: reference,
                    amount: Some(total),
                    payment_type: payment_type.to_wire() as i32,
                    event_kind: EventKind::Order as i32,
                };
                let channel = self.peer("credit", &self.peers.credit)?;
                let decision = CreditServiceClient::new(channel)
                    .authorize_order(client::request(authorize, &caller, PEER_TIMEOUT))
                    .await
                    .map_err(upstream("credit"))?
                    .into_inner();
                order.status = match Decision::try_from(decision.decision) {
                    Ok(Decision::Approved | Decision::ApprovedWithWarning) => OrderStatus::Executed,
                    Ok(Decision::HeldForApproval) => OrderStatus::HeldForApproval,
                    _ => OrderStatus::Rejected,
                } as i32;
                order.reasons = decision.reasons;
                order.reservation_id = decision.reservation.map(|reservation| reservation.id).unwrap_or_default();
                order.held_order_id = decision.held_order.map(|held| held.id).unwrap_or_default();
            }
            let (mut tx, pending) = match self.begin(tenant_id, "PlaceOrder", &request.request_id, &request).await? {
                Opened::Replayed(response) => return Ok(response),
                Opened::Fresh(tx, pending) => (tx, pending),
            };
            let status = OrderStatus::try_from(order.status).unwrap_or(OrderStatus::Unspecified).as_str_name();
            sqlx::query(
                "INSERT INTO billing.orders (tenant_id, id, account_id, status, body, held_order_id, back_ordered)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(tenant_id)
            .bind(id)
            .bind(account_id)
            .bind(status)
            .bind(order.encode_to_vec())
            .bind(order.held_order_id.parse::<Uuid>().ok())
            .bind(back_ordered)
            .execute(&mut *tx)
            .await?;
            // Billable once executed (a held order when credit approves it).
            let billable =
                matches!(OrderStatus::try_from(order.status), Ok(OrderStatus::Executed | OrderStatus::HeldForApproval));
            if billable && !bill_to.is_empty() {
                let charges = priced.charges(account_id, &order.lines, &bill_to, Some((id, &order.reference)));
                repo::insert_charges(&mut tx, tenant_id, &charges).await?;
            }
            publish(&mut tx, tenant_id, &caller.subject, order_outcome(&order)).await?;
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
        let (_, tenant_id) = authorize(&request, READERS)?;
        let request = request.into_inner();
        let run = async {
            let account_id = parse_id("account_id", &request.account_id)?;
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
            let row: Option<(Vec<u8>, String)> =
                sqlx::query_as("SELECT body, status FROM billing.orders WHERE tenant_id = $1 AND id = $2 FOR UPDATE")
                    .bind(tenant_id)
                    .bind(order_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let (body, status) = row.ok_or_else(|| BillingError::not_found("order", order_id))?;
            if status != OrderStatus::Executed.as_str_name() {
                return Err(BillingError::precondition("ORDER_NOT_EXECUTED", format!("order {order_id} is {status}")));
            }
            let mut order = Order::decode(body.as_slice()).map_err(|error| {
                BillingError::Platform(bss_platform::error::PlatformError::Corrupt(error.to_string()))
            })?;
            let index = usize::try_from(request.line_number - 1).unwrap_or(usize::MAX);
            let Some(line) = order.lines.get_mut(index) else {
                return Err(
                    Violations::single("line_number", format!("the order has {} lines", order.lines.len())).into()
                );
            };
            let backordered = decimal(&line.backordered_quantity);
            if quantity > backordered {
                return Err(BillingError::precondition(
                    "NOTHING_BACK_ORDERED",
                    format!("line {} has {backordered} back-ordered", request.line_number),
                ));
            }
            let left = backordered - quantity;
            line.backordered_quantity = (left > Decimal::ZERO).then(|| decimal_to_wire(left));
            // The line's waiting charge gives what ships: the shipped part is
            // dated today, the rest waits.
            let waiting: Option<(Uuid, Decimal, Decimal)> = sqlx::query_as(
                "SELECT id, quantity, unit_price FROM billing.charges
                 WHERE tenant_id = $1 AND order_id = $2 AND order_line = $3 AND charge_date IS NULL",
            )
            .bind(tenant_id)
            .bind(order_id)
            .bind(request.line_number)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some((charge_id, waiting_quantity, unit_price)) = waiting {
                let rest = waiting_quantity - quantity;
                if rest > Decimal::ZERO {
                    let code = order.total.as_ref().map(|total| total.currency_code.clone()).unwrap_or_default();
                    let currency = Currency::parse(&code).ok();
                    let round = |amount: Decimal| currency.map_or(amount, |currency| currency.round(amount));
                    sqlx::query(
                        "INSERT INTO billing.charges (tenant_id, id, account_id, bill_to_account_id, separate, order_id,
                             order_reference, order_line, product_id, description, currency, quantity, unit_price,
                             total, charge_date)
                         SELECT tenant_id, $3, account_id, bill_to_account_id, separate, order_id, order_reference,
                             order_line, product_id, description, currency, $4, unit_price, $5, current_date
                         FROM billing.charges WHERE tenant_id = $1 AND id = $2",
                    )
                    .bind(tenant_id)
                    .bind(charge_id)
                    .bind(Uuid::now_v7())
                    .bind(quantity)
                    .bind(round(quantity * unit_price))
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query(
                        "UPDATE billing.charges SET quantity = $3, total = $4 WHERE tenant_id = $1 AND id = $2",
                    )
                    .bind(tenant_id)
                    .bind(charge_id)
                    .bind(rest)
                    .bind(round(rest * unit_price))
                    .execute(&mut *tx)
                    .await?;
                } else {
                    sqlx::query(
                        "UPDATE billing.charges SET charge_date = current_date WHERE tenant_id = $1 AND id = $2",
                    )
                    .bind(tenant_id)
                    .bind(charge_id)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            let still = order.lines.iter().any(|line| line.backordered_quantity.is_some());
            sqlx::query("UPDATE billing.orders SET body = $3, back_ordered = $4 WHERE tenant_id = $1 AND id = $2")
                .bind(tenant_id)
                .bind(order_id)
                .bind(order.encode_to_vec())
                .bind(still)
                .execute(&mut *tx)
                .await?;
            let response = ShipBackOrderResponse { order: Some(order) };
            self.commit(tx, pending, &response).await?;
            Ok::<_, BillingError>(response)
        };
        Ok(Response::new(run.await?))
    }
}
