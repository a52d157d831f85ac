//! OrderService: converts the wire to billing's orders and back; the use
//! cases are in `app::orders`.

use bss_platform::auth::{Role, authorize};
use bss_platform::error::Violations;
use bss_platform::idempotency::RequestKey;
use bss_platform::input::{parse_id, parse_optional_id, required_id, required_text};
use bss_platform::money::decimal_from_wire;
use bss_platform::paging::Page;
use bss_platform::payment::PaymentType;
use bss_platform::time::parse_date;
use bss_proto::billing::order_service_server::OrderService;
use bss_proto::billing::*;
use rust_decimal::Decimal;
use tonic::{Request, Response, Status};

use super::{BillingApi, ENQUIRERS, min_pricing_version, ordering_account};
use crate::app::orders::NewOrder;
use crate::domain::error::BillingError;
use crate::wire;

/// Roles that may place and cancel orders (a sales rep for its own
/// accounts, a customer's own user for its own account).
const PLACERS: &[Role] = &[
    Role::TenantAdmin,
    Role::BillingClerk,
    Role::AccountManager,
    Role::SalesRep,
    Role::Integration,
    Role::CustomerUser,
];

/// Most lines on one order.
const MAX_LINES: usize = 500;
/// Longest reason of a cancellation.
const MAX_REASON: usize = 500;

/// The new order a request asks for, each bad field named.
fn new_order(input: &Order, own: Option<uuid::Uuid>, pricing_version: i64) -> Result<NewOrder, BillingError> {
    let mut v = Violations::new();
    let min_pricing_version = min_pricing_version(&mut v, pricing_version);
    let account_id = ordering_account(&mut v, "order.account_id", &input.account_id, own)?;
    let payment_type = v.keep("order.payment_type", PaymentType::from_wire(input.payment_type));
    let delivery_date = match input.delivery_date.as_str() {
        "" => None,
        date => v.keep("order.delivery_date", parse_date(date)),
    };
    if input.lines.is_empty() || input.lines.len() > MAX_LINES {
        v.add("order.lines", format!("give 1 to {MAX_LINES} lines"));
    }
    let mut lines = Vec::with_capacity(input.lines.len());
    for (index, line) in input.lines.iter().enumerate() {
        if line.product.is_empty() {
            v.add(format!("order.lines[{index}].product"), "is required: a product id or code");
        }
        let field = format!("order.lines[{index}].quantity");
        let quantity = decimal_from_wire(&mut v, &field, line.quantity.as_ref(), None);
        if quantity.is_some_and(|q| q <= Decimal::ZERO) {
            v.add(field, "must be greater than zero");
        }
        let mut available = None;
        if line.available_quantity.is_some() {
            let field = format!("order.lines[{index}].available_quantity");
            available = decimal_from_wire(&mut v, &field, line.available_quantity.as_ref(), None);
            if let (Some(available), Some(quantity)) = (available, quantity)
                && (available < Decimal::ZERO || available > quantity)
            {
                v.add(field, "must be from zero to the line's quantity");
            }
        }
        lines.push((line.product.clone(), quantity.unwrap_or_default(), available));
    }
    let location_id = v.keep("order.location_id", parse_optional_id(&input.location_id)).flatten();
    let address = |id: &str| (!id.is_empty()).then(|| id.to_owned());
    let (Some(account_id), Some(payment_type)) = (account_id, payment_type) else {
        return Err(v.into());
    };
    v.into_result()?;
    Ok(NewOrder {
        account_id,
        payment_type,
        delivery_date,
        lines,
        location_id,
        billing_address_id: address(&input.billing_address_id),
        delivery_address_id: address(&input.delivery_address_id),
        payment_method_id: address(&input.payment_method_id),
        min_pricing_version,
    })
}

#[tonic::async_trait]
impl OrderService for BillingApi {
    async fn place_order(&self, request: Request<PlaceOrderRequest>) -> Result<Response<PlaceOrderResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, PLACERS)?;
        let mut request = request.into_inner();
        let run = async {
            let own = self.own_account(&caller).await?;
            // The request id's answer is its account's: the account a
            // customer's order is for counts in the request it repeats.
            if let (Some(own), Some(order)) = (own, request.order.as_mut())
                && order.account_id.is_empty()
            {
                order.account_id = own.to_string();
            }
            let new = new_order(request.order.as_ref().unwrap_or(&Order::default()), own, request.min_pricing_version)?;
            let key = RequestKey::of_caller(&caller, tenant_id, "PlaceOrder", &request.request_id, &request)?;
            self.place_order(&caller, tenant_id, key, new, |order| PlaceOrderResponse {
                order: Some(wire::order(order)),
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn get_order(&self, request: Request<GetOrderRequest>) -> Result<Response<GetOrderResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, ENQUIRERS)?;
        let run = async {
            let id = parse_id("id", &request.get_ref().id)?;
            let order = self.order_for(&caller, tenant_id, id).await?;
            Ok::<_, BillingError>(GetOrderResponse { order: Some(wire::order(&order)) })
        };
        Ok(Response::new(run.await?))
    }

    async fn list_orders(&self, request: Request<ListOrdersRequest>) -> Result<Response<ListOrdersResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, ENQUIRERS)?;
        let request = request.into_inner();
        let run = async {
            let account_id = parse_id("account_id", &request.account_id)?;
            let filters = ListOrdersRequest { page_size: 0, page_token: String::new(), ..request.clone() };
            let page = Page::parse(request.page_size, &request.page_token, &filters)?;
            let orders = self
                .orders_of(
                    &caller,
                    tenant_id,
                    account_id,
                    request.back_ordered_only,
                    (page.after_uuid()?, page.fetch_limit()),
                )
                .await?;
            let (orders, next_page_token) = page.finish(orders, |order| order.id.as_bytes().to_vec());
            Ok::<_, BillingError>(ListOrdersResponse {
                orders: orders.iter().map(wire::order).collect(),
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
            let key = RequestKey::new(tenant_id, "ShipBackOrder", &request.request_id, &request)?;
            self.ship_back_order(tenant_id, key, (order_id, request.line_number, quantity), |order| {
                ShipBackOrderResponse { order: Some(wire::order(order)) }
            })
            .await
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
            let key = RequestKey::of_caller(&caller, tenant_id, "CancelOrder", &request.request_id, &request)?;
            self.cancel_order(&caller, tenant_id, key, (order_id, reason), |order| CancelOrderResponse {
                order: Some(wire::order(order)),
            })
            .await
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
            let key = RequestKey::of_caller(&caller, tenant_id, "CancelBackOrder", &request.request_id, &request)?;
            let cut = (order_id, request.line_number, quantity, reason);
            self.cancel_back_order(&caller, tenant_id, key, cut, |order| CancelBackOrderResponse {
                order: Some(wire::order(order)),
            })
            .await
        };
        Ok(Response::new(run.await?))
    }
}
