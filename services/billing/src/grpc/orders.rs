//! OrderService: orders checked against the account, priced by pricing and
//! authorized by credit.

use bss_platform::auth::{Caller, Role, authorize};
use bss_platform::client;
use bss_platform::error::Violations;
use bss_platform::idempotency::Opened;
use bss_platform::input::{parse_id, required_id};
use bss_platform::money::{decimal_from_wire, parse_decimal};
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
use prost::Message;
use rust_decimal::Decimal;
use tonic::{Code, Request, Response, Status};
use uuid::Uuid;

use super::{BillingApi, PEER_TIMEOUT, READERS};
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

impl Priced {
    /// The charges of the priced lines, each billed as `bill_to` says.
    pub(crate) fn charges(
        &self,
        account_id: Uuid,
        lines: &[OrderLine],
        bill_to: &[BillTo],
        order: Option<(Uuid, &str)>,
    ) -> Vec<ChargeRow> {
        let amount = |money: &Option<bss_proto::types::Money>| {
            money.as_ref().and_then(|money| parse_decimal(&money.amount).ok()).unwrap_or_default()
        };
        lines
            .iter()
            .zip(&self.products)
            .zip(bill_to)
            .map(|((line, (product_id, code)), bill_to)| ChargeRow {
                id: Uuid::now_v7(),
                account_id,
                bill_to_account_id: bill_to.account_id,
                separate: bill_to.separate,
                order_id: order.map(|(id, _)| id),
                order_reference: order.map(|(_, reference)| reference.to_owned()),
                product_id: product_id.clone(),
                description: match order {
                    Some((_, reference)) => format!("{code} ({reference})"),
                    None => code.clone(),
                },
                currency: self.currency.clone(),
                quantity: line
                    .quantity
                    .as_ref()
                    .and_then(|quantity| parse_decimal(&quantity.value).ok())
                    .unwrap_or_default(),
                unit_price: amount(&line.unit_price),
                total: amount(&line.total),
                charge_date: now().date_naive(),
            })
            .collect()
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
                if decimal_from_wire(&mut v, &field, line.quantity.as_ref(), None).is_some_and(|q| q <= Decimal::ZERO) {
                    v.add(field, "must be greater than zero");
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
                "INSERT INTO billing.orders (tenant_id, id, account_id, status, body, held_order_id)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(tenant_id)
            .bind(id)
            .bind(account_id)
            .bind(status)
            .bind(order.encode_to_vec())
            .bind(order.held_order_id.parse::<Uuid>().ok())
            .execute(&mut *tx)
            .await?;
            // Billable once executed (a held order when credit approves it).
            let billable =
                matches!(OrderStatus::try_from(order.status), Ok(OrderStatus::Executed | OrderStatus::HeldForApproval));
            if billable && !bill_to.is_empty() {
                let charges = priced.charges(account_id, &order.lines, &bill_to, Some((id, &order.reference)));
                repo::insert_charges(&mut tx, tenant_id, &charges).await?;
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
        let (_, tenant_id) = authorize(&request, READERS)?;
        let request = request.into_inner();
        let run = async {
            let account_id = parse_id("account_id", &request.account_id)?;
            let filters = ListOrdersRequest { page_size: 0, page_token: String::new(), ..request.clone() };
            let page = Page::parse(request.page_size, &request.page_token, &filters)?;
            let rows = repo::stored_of_account(
                &self.db,
                Stored::Orders,
                tenant_id,
                account_id,
                page.after_uuid()?,
                page.fetch_limit(),
            )
            .await?;
            let (rows, next_page_token) = page.finish(rows, |(id, _)| id.as_bytes().to_vec());
            Ok::<_, BillingError>(ListOrdersResponse {
                orders: rows.into_iter().map(|(_, order)| order).collect(),
                next_page_token,
            })
        };
        Ok(Response::new(run.await?))
    }
}
