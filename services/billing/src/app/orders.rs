//! Orders: placed (the account checked, the lines priced by pricing, each
//! charge billed to its payer, the whole authorized by credit whatever the
//! payment type but a running quote, stored with its charges and events),
//! read and listed, their back orders shipped or cancelled, or cancelled
//! whole before they are invoiced.

use bss_platform::auth::Caller;
use bss_platform::client;
use bss_platform::error::Violations;
use bss_platform::idempotency::RequestKey;
use bss_platform::money::{Currency, decimal_to_wire, money_to_wire, parse_decimal};
use bss_platform::payment::PaymentType;
use bss_platform::peers::PEER_TIMEOUT;
use bss_platform::time::{now, parse_date};
use bss_proto::accounts::Account;
use bss_proto::billing::billing_event::Payload;
use bss_proto::billing::{OrderCancelled, OrderPayer};
use bss_proto::credit::credit_service_client::CreditServiceClient;
use bss_proto::credit::{AuthorizeOrderRequest, Decision, EventKind, PayerShare};
use bss_proto::pricing::quote_service_client::QuoteServiceClient;
use bss_proto::pricing::{QuoteLineRequest, QuoteRequest};
use chrono::NaiveDate;
use prost::Message;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::locations::{give_back_stock, lock_order_products, take_stock};
use super::{Billing, priced_amount, publish, rule_name, unreadable, upstream};
use super::{assets, held_orders, wallets};
use crate::domain::asset::{Goods, check_units};
use crate::domain::bill_to::BillTo;
use crate::domain::checkout::TryState;
use crate::domain::collection::Use;
use crate::domain::error::BillingError;
use crate::domain::location::surcharge_line;
use crate::domain::order::{
    CreditReason, CreditVerdict, Line, Order, OrderState, Payer, PaymentStatus, PricedBy, backordered, charges,
    check_cancellable, check_orderer, check_payer, credit_reference, paid_at_checkout, payer_shares,
};
use crate::domain::settings::payment_instructions;
use crate::domain::wallet::{Movement, can_prepay};
use crate::repo::wallets::Move;
use crate::repo::{self, checkout, locations, orders};
use crate::wire;

/// A new order as the caller asks for it.
pub struct NewOrder {
    pub account_id: Uuid,
    pub payment_type: PaymentType,
    pub delivery_date: Option<NaiveDate>,
    /// Each line's product (id or code), quantity and what of it the
    /// caller's stock can ship now (none: all of it, or the location's
    /// stock decides).
    pub lines: Vec<(String, Decimal, Option<Decimal>)>,
    /// The location it ships from (one of the account's); none: the
    /// account's primary location, if any.
    pub location_id: Option<Uuid>,
    /// The account's addresses it is billed and delivered to (ids); none:
    /// the account's own choice (see `choose_address`).
    pub billing_address_id: Option<String>,
    pub delivery_address_id: Option<String>,
    /// The saved method to pay a card or PayPal order with; none: the
    /// account's (see `choose_method`).
    pub payment_method_id: Option<String>,
    /// The oldest pricing book version that may price it (0: the newest
    /// pricing has heard of).
    pub min_pricing_version: i64,
}

/// What pricing said of a set of lines.
pub(crate) struct Priced {
    pub total: Decimal,
    pub currency: Currency,
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
    /// The account's wallet can pay the whole order now if it would exceed
    /// the credit limit (`domain::wallet::can_prepay`).
    pub prepay_over_limit: bool,
}

/// What credit decided.
pub(crate) struct Credited {
    pub state: OrderState,
    pub reasons: Vec<CreditReason>,
    /// Each payer with its amount and reservation.
    pub payers: Vec<Payer>,
    pub held_order_id: Option<Uuid>,
    /// Approved as prepaid: the account's wallet pays it now.
    pub prepaid: bool,
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

impl Billing {
    /// Prices the lines with pricing's Quote, for the caller: each line's
    /// product id and code, unit price and total.
    pub(crate) async fn price(
        &self,
        caller: &Caller,
        (account_id, min_book_version): (Uuid, i64),
        lines: &mut [Line],
    ) -> Result<Priced, BillingError> {
        let channel = self.peer("pricing", &self.peers.pricing)?;
        let quote = QuoteRequest {
            account_id: account_id.to_string(),
            lines: lines
                .iter()
                .map(|line| QuoteLineRequest {
                    product: line.product.clone(),
                    quantity: Some(decimal_to_wire(line.quantity)),
                    ..QuoteLineRequest::default()
                })
                .collect(),
            min_book_version,
            ..QuoteRequest::default()
        };
        let answer = QuoteServiceClient::new(channel)
            .quote(client::request(quote, caller, PEER_TIMEOUT))
            .await
            .map_err(upstream("pricing"))?
            .into_inner();
        if answer.lines.len() != lines.len() {
            return Err(unreadable("pricing", format!("{} priced lines for {}", answer.lines.len(), lines.len())));
        }
        let day = parse_date(&answer.date).map_err(|_| unreadable("pricing", "a quote without its day"))?;
        for (line, priced) in lines.iter_mut().zip(&answer.lines) {
            line.unit_price = priced_amount(&priced.unit_price)?;
            line.total = priced_amount(&priced.total)?;
            line.product_id = priced.product_id.clone();
            line.product_code = priced.product_code.clone();
            line.priced_by = PricedBy {
                rule: rule_name(priced.rule),
                source_id: priced.source_id.clone(),
                on: Some(day),
                ..PricedBy::default()
            };
            line.goods = priced.physical_good.map(|good| Goods {
                traceable: good.traceable,
                warranty_months: u32::try_from(good.warranty_months).unwrap_or_default(),
            });
        }
        let currency =
            Currency::parse(&answer.currency_code).map_err(|_| unreadable("pricing", "a quote without a currency"))?;
        Ok(Priced { total: priced_amount(&answer.total)?, currency })
    }

    /// Who pays each line's product, read as billing itself; a suspended or
    /// terminated payer refuses.
    pub(crate) async fn payers_of(
        &self,
        tenant_id: Uuid,
        account: &Account,
        lines: &[Line],
    ) -> Result<Vec<BillTo>, BillingError> {
        let service = self.as_service(tenant_id)?;
        let payer = self.payer(&service, account).await?;
        let products: Vec<(String, String)> =
            lines.iter().map(|line| (line.product_id.clone(), line.product_code.clone())).collect();
        let bill_to = self.bill_to(&service, &payer, &products).await?;
        let mut checked = Vec::new();
        for paying in bill_to.iter().map(|bill_to| bill_to.account_id) {
            if paying.to_string() == account.id || checked.contains(&paying) {
                continue;
            }
            check_payer(paying, wire::standing(&self.fetch_account(&service, paying).await?))?;
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
            prepay_over_limit: ask.prepay_over_limit && alone,
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
        let id = |value: &str| value.parse::<Uuid>().map_err(|_| unreadable("credit", format!("an id {value:?}")));
        let mut payers = Vec::with_capacity(decision.shares.len());
        for share in &decision.shares {
            let amount = share.amount.as_ref().map(|money| money.amount.as_str()).unwrap_or_default();
            payers.push(Payer {
                account_id: id(&share.account_id)?,
                amount: parse_decimal(amount).map_err(|_| unreadable("credit", format!("an amount {amount:?}")))?,
                reservation_id: share.reservation.as_ref().map(|reservation| id(&reservation.id)).transpose()?,
            });
        }
        Ok(Credited {
            state: OrderState::after(verdict(decision.decision)),
            reasons: decision.reasons.iter().map(wire::credit_reason).collect(),
            payers,
            held_order_id: decision.held_order.map(|held| id(&held.id)).transpose()?,
            prepaid: decision.prepaid,
        })
    }

    /// Places an order for the caller. The answer, made by `respond` of the
    /// order as placed, is what a retry with the same request id gets.
    pub async fn place_order<R: Message + Default>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        new: NewOrder,
        respond: impl FnOnce(&Order) -> R,
    ) -> Result<R, BillingError> {
        let mut lines: Vec<Line> = new
            .lines
            .into_iter()
            .map(|(product, quantity, available)| Line {
                product,
                quantity,
                available,
                backordered: backordered(quantity, available),
                ..Line::default()
            })
            .collect();
        // Everything the order is made of is read at once (no read depends
        // on another), then judged in order: a replay answers first.
        let (stored, account, location, addresses, priced, wallet) = tokio::join!(
            self.replay(&key),
            self.fetch_account(caller, new.account_id),
            self.shipping_location(tenant_id, new.account_id, new.location_id),
            self.order_addresses(
                tenant_id,
                new.account_id,
                new.billing_address_id.as_deref(),
                new.delivery_address_id.as_deref(),
            ),
            self.price(caller, (new.account_id, new.min_pricing_version), &mut lines),
            // Only an order on credit can be prepaid from the wallet.
            async {
                match new.payment_type.uses_credit() {
                    true => self.wallet_of(tenant_id, new.account_id).await,
                    false => Ok(None),
                }
            },
        );
        if let Some(stored) = stored? {
            return Ok(stored);
        }
        let account = account?;
        if let Some(limit) = caller.sales_rep_limit()
            && account.sales_rep_id != limit
        {
            return Err(BillingError::not_found("account", new.account_id));
        }
        check_orderer(&wire::orderer(&account), new.payment_type)?;
        let location = location?;
        if location.is_some()
            && let Some(index) = lines.iter().position(|line| line.available.is_some())
        {
            return Err(Violations::single(
                format!("order.lines[{index}].available_quantity"),
                "must be empty: the stock of the location the order ships from decides",
            )
            .into());
        }
        let (billing_address, delivery_address) = addresses?;
        let mut priced = priced?;
        let mut v = Violations::new();
        for (index, line) in lines.iter().enumerate() {
            if let Err(why) = check_units(line.quantity, line.goods) {
                v.add(format!("order.lines[{index}].quantity"), why);
            }
        }
        v.into_result()?;
        if let Some(location) = &location
            && let Some(surcharge) = surcharge_line(location, priced.currency.code)?
        {
            priced.total += surcharge.total;
            lines.push(surcharge);
        }
        let id = Uuid::now_v7();
        // A retried request keeps its reference, so credit decides and
        // reserves once.
        let request_id = key.as_ref().map(RequestKey::request_id).unwrap_or_default();
        let reference = credit_reference("order", request_id, id);
        let mut order = Order {
            id,
            account_id: new.account_id,
            reference: reference.clone(),
            lines,
            payment_type: new.payment_type,
            delivery_date: new.delivery_date,
            placed_by: caller.subject.clone(),
            // A running quote is recorded only: never dispatched, invoiced
            // or authorized.
            state: OrderState::RunningQuote,
            currency: priced.currency.code.to_owned(),
            total: priced.total,
            reasons: Vec::new(),
            payers: Vec::new(),
            held_order_id: None,
            reservation_id: None,
            created_at: now(),
            cancel_reason: String::new(),
            cancelled_at: None,
            payment_instructions: None,
            payment: None,
            location_id: location.as_ref().map(|location| location.id),
            billing_address,
            delivery_address,
            payment_method_id: new.payment_method_id,
        };
        // The method a card or PayPal order is paid with is known before
        // credit reserves anything; it and the payers are asked at once.
        let checkout = paid_at_checkout(order.payment_type) && order.total > Decimal::ZERO;
        let ordering = new.payment_type != PaymentType::RunningQuote;
        let (method, bill_to) = tokio::join!(
            async {
                match checkout {
                    true => {
                        let named = order.payment_method_id.as_deref();
                        let use_ = (Use::Purchases, order.payment_type, named);
                        let user = caller.customer_user();
                        self.payment_method(tenant_id, order.account_id, use_, user).await.map(Some)
                    }
                    false => Ok(None),
                }
            },
            async {
                match ordering {
                    true => self.payers_of(tenant_id, &account, &order.lines).await,
                    false => Ok(Vec::new()),
                }
            },
        );
        let (method, bill_to) = (method?, bill_to?);
        let mut prepaid = false;
        if ordering {
            let charged = order_charges(&order, &bill_to, priced.currency);
            let shares = payer_shares(charged.iter().map(|charge| (charge.bill_to_account_id, charge.total)));
            let alone = shares.iter().all(|(payer, _)| *payer == order.account_id);
            let ask = CreditAsk {
                account_id: order.account_id,
                reference: &reference,
                currency: priced.currency,
                shares: &shares,
                payment_type: new.payment_type,
                event_kind: EventKind::Order,
                prepay_over_limit: can_prepay(wallet?.as_ref(), new.payment_type, order.total, alone),
            };
            let credited = self.authorize_credit(tenant_id, ask).await?;
            prepaid = credited.prepaid && credited.state == OrderState::Executed;
            order.state = credited.state;
            order.reasons = credited.reasons;
            order.reservation_id = credited.payers.first().and_then(|payer| payer.reservation_id);
            order.payers = credited.payers;
            order.held_order_id = credited.held_order_id;
        }
        // A direct deposit order its wallet pays needs no transfer.
        if order.payment_type == PaymentType::DirectDeposit && !prepaid {
            let bank = self.billing_settings(tenant_id).await?.bank_details;
            order.payment_instructions = payment_instructions(&order, &bank);
        }
        // Card and PayPal orders credit let through are paid before they
        // are executed; a declined payment rejects the order.
        let mut paid_by = None;
        if order.state == OrderState::Executed
            && let Some(method) = &method
        {
            let (payment, by) = self.take_payment(tenant_id, &order, method).await?;
            paid_by = (payment.status == PaymentStatus::Captured).then_some(by);
            order.paid(payment);
        }
        let stored = self
            .write(key, async |tx| {
                // The try that paid it belongs to the order once it is
                // stored (unless the janitor took it to give back: then no
                // order; the retry pays anew).
                if let Some((base, number)) = &paid_by {
                    let used = (&TryState::PAID[..], TryState::Used);
                    if !checkout::transition(&mut *tx, tenant_id, (base, *number), used).await? {
                        return Err(BillingError::Platform(bss_platform::error::PlatformError::RequestInProgress));
                    }
                }
                if let Some(held_order_id) = order.held_order_id {
                    held_orders::lock_held(tx, held_order_id).await?;
                }
                // An order that is executed or waits for approval takes the
                // location's stock now: what is short waits as a back order.
                if let Some(location_id) = order.location_id
                    && order.state.keeps_charges()
                {
                    take_stock(tx, tenant_id, location_id, &mut order.lines).await?;
                }
                // Credit approved it as prepaid: the wallet pays it whole now
                // (WALLET_BALANCE_TOO_LOW when a racing payment took the money).
                if prepaid {
                    let payment = Move::of(order.account_id, Movement::OrderPayment, order.total, &caller.subject);
                    let new = Move { order_id: Some(order.id), ..payment };
                    let paid = wallets::move_money(tx, tenant_id, priced.currency, &new).await?;
                    order.prepaid_from_wallet(paid.id);
                }
                orders::insert(tx, tenant_id, &order).await?;
                // On account and direct deposit are invoiced (once executed: a held
                // order's charges wait for credit's approval) unless the wallet
                // paid them; card and PayPal orders are paid at submission.
                if order.invoiced() {
                    repo::insert_charges(tx, tenant_id, &order_charges(&order, &bill_to, priced.currency)).await?;
                }
                // What ships of its goods is the account's now.
                assets::shipped(tx, tenant_id, &order, &order.shipped_lines()).await?;
                publish(tx, tenant_id, &caller.subject, wire::order_outcome(&order)).await?;
                // Credit may have decided the held order already (a retry, or a
                // quick credit manager): its decision applies now.
                if let Some(held_order_id) = order.held_order_id
                    && held_orders::apply_recorded(tx, tenant_id, held_order_id).await?
                {
                    order =
                        orders::lock(tx, tenant_id, id).await?.ok_or_else(|| BillingError::not_found("order", id))?;
                }
                let response = respond(&order);
                Ok(response)
            })
            .await;
        // Money taken for an order that could not be stored: a retry priced
        // again gives it back.
        if stored.is_err()
            && let Some(by) = &paid_by
        {
            self.payment_unused(tenant_id, by).await;
        }
        stored
    }

    /// The order; NOT_FOUND for another tenant's.
    /// An order as `caller` may see it: a customer's own user only its
    /// account's.
    pub async fn order_for(&self, caller: &Caller, tenant_id: Uuid, order_id: Uuid) -> Result<Order, BillingError> {
        let order = self.order(tenant_id, order_id).await?;
        self.check_own(caller, &[order.account_id], ("order", order_id)).await?;
        Ok(order)
    }

    pub async fn order(&self, tenant_id: Uuid, order_id: Uuid) -> Result<Order, BillingError> {
        orders::get(&self.db, tenant_id, order_id).await?.ok_or_else(|| BillingError::not_found("order", order_id))
    }

    /// An account's orders (with a back order only, when asked), oldest
    /// first, after `after`; NOT_FOUND when the caller may not see the
    /// account.
    pub async fn orders_of(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        account_id: Uuid,
        back_ordered_only: bool,
        (after, limit): (Option<Uuid>, i64),
    ) -> Result<Vec<Order>, BillingError> {
        // Another tenant's account is NOT_FOUND, not an empty list.
        self.fetch_account(caller, account_id).await?;
        orders::of_account(&self.db, tenant_id, account_id, back_ordered_only, after, limit).await
    }

    /// The order, locked; NOT_FOUND for another tenant's.
    async fn lock_order(
        &self,
        tx: &mut sqlx::PgConnection,
        tenant_id: Uuid,
        order_id: Uuid,
    ) -> Result<Order, BillingError> {
        orders::lock(tx, tenant_id, order_id).await?.ok_or_else(|| BillingError::not_found("order", order_id))
    }

    /// Ships `quantity` of a line's back order: the shipped part of its
    /// waiting charge is dated today (billable), the rest waits.
    pub async fn ship_back_order<R: Message + Default>(
        &self,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        (order_id, line_number, quantity): (Uuid, i32, Decimal),
        respond: impl FnOnce(&Order) -> R,
    ) -> Result<R, BillingError> {
        self.write(key, async |tx| {
            let mut order = self.lock_order(tx, tenant_id, order_id).await?;
            ship_line(tx, tenant_id, &mut order, line_number, quantity).await?;
            // A line the location's stock decided ships from it (the order
            // locked first, then the stock).
            if let Some(location_id) = order.location_id
                && let Some(line) = order.lines.get(usize::try_from(line_number - 1).unwrap_or(usize::MAX))
                && line.available.is_some()
            {
                take_exactly(tx, tenant_id, location_id, &line.product_id, quantity).await?;
            }
            orders::save(tx, tenant_id, &order).await?;
            let response = respond(&order);
            Ok(response)
        })
        .await
    }

    /// Gives back `amount` of a paid order's payment, the order locked in
    /// `tx`: a wallet's into the wallet (in the transaction), a provider's
    /// at the provider by `step`'s reference. The order stays locked while
    /// the provider answers, so two cancellations never give back the same
    /// money; a retry after a failed commit asks the same refund again,
    /// which the provider answers once. The refund's id.
    async fn give_back(
        &self,
        tx: &mut sqlx::PgConnection,
        (caller, tenant_id): (&Caller, Uuid),
        order: &Order,
        (amount, step): (Decimal, &str),
    ) -> Result<String, BillingError> {
        let Some(payment) = order.payment.as_ref().filter(|_| amount > Decimal::ZERO) else {
            return Ok(String::new());
        };
        if !payment.from_wallet {
            return self.refund_payment(tenant_id, order, (payment, amount, step)).await;
        }
        let refund = Move::of(order.account_id, Movement::OrderRefund, amount, &caller.subject);
        let new = Move { order_id: Some(order.id), ..refund };
        let currency = repo::stored_currency(&order.currency)?;
        Ok(wallets::move_money(tx, tenant_id, currency, &new).await?.id.to_string())
    }

    /// Cancels an order whole: its open charges go, what was paid at
    /// submission and is still held is given back, and credit releases
    /// what it reserved (on the OrderCancelled event).
    pub async fn cancel_order<R: Message + Default>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        (order_id, reason): (Uuid, String),
        respond: impl FnOnce(&Order) -> R,
    ) -> Result<R, BillingError> {
        // Another account's order is NOT_FOUND, even to a replay (a
        // customer's own user acts on its account's, a sales rep on its
        // accounts').
        let placed = self.order_for(caller, tenant_id, order_id).await?;
        self.write(key, async |tx| {
            // Locks in the order every transaction takes them: the held
            // order's (as credit's decision does), then the products' (as a
            // receipt does), then the order's row.
            if let Some(held_order_id) = placed.held_order_id {
                held_orders::lock_held(tx, held_order_id).await?;
            }
            lock_order_products(tx, tenant_id, &placed).await?;
            let mut order = self.lock_order(tx, tenant_id, order_id).await?;
            // A paid order: everything that could refuse the cancellation
            // is asked before any money goes back.
            if let Some(payment) = order.refundable().cloned() {
                check_cancellable(order.state, order_id, None)?;
                // Its assets locked: none changes hands while money goes back.
                assets::check_order_cancellable(tx, tenant_id, order_id).await?;
                let held = payment.held();
                let step = refund_step(&order);
                let refund_id = self.give_back(tx, (caller, tenant_id), &order, (held, &step)).await?;
                if let Some(payment) = order.payment.as_mut() {
                    payment.refund(held, refund_id, true);
                }
            }
            // Its charges go first (waiting for a draft that holds them to
            // commit), then what is invoiced is checked: a cancellation and an
            // invoice never both take the same charge.
            repo::delete_open_charges(tx, tenant_id, order_id).await?;
            check_cancellable(order.state, order_id, orders::invoice_of(tx, tenant_id, order_id).await?)?;
            if order.state.keeps_charges() {
                give_back_stock(tx, tenant_id, &order).await?;
            }
            // Its goods come back too, unless one changed hands.
            assets::cancelled(tx, &caller.subject, (tenant_id, &order), &reason).await?;
            order.cancel(reason.clone(), now());
            orders::save(tx, tenant_id, &order).await?;
            let cancelled = OrderCancelled {
                order_id: order.id.to_string(),
                account_id: order.account_id.to_string(),
                reference: order.reference.clone(),
                whole: true,
                released: order.payers.iter().map(|payer| wire::order_payer(payer, &order.currency)).collect(),
                reason,
            };
            publish(tx, tenant_id, &caller.subject, Payload::OrderCancelled(cancelled)).await?;
            publish(tx, tenant_id, &caller.subject, wire::order_outcome(&order)).await?;
            let response = respond(&order);
            Ok(response)
        })
        .await
    }

    /// Cancels `quantity` (all when none) of a line's back order: its
    /// waiting charge shrinks and credit releases the cancelled part; an
    /// order paid at submission gives back the cancelled part's share of
    /// the line at once.
    pub async fn cancel_back_order<R: Message + Default>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        (order_id, line_number, quantity, reason): (Uuid, i32, Option<Decimal>, String),
        respond: impl FnOnce(&Order) -> R,
    ) -> Result<R, BillingError> {
        self.order_for(caller, tenant_id, order_id).await?;
        self.write(key, async |tx| {
            let mut order = self.lock_order(tx, tenant_id, order_id).await?;
            let currency = repo::stored_currency(&order.currency)?;
            let before = refund_step(&order);
            let (quantity, refund) = order.cancel_back_order(line_number, quantity, currency)?;
            if let Some(amount) = refund {
                let step = format!("{before}-line-{line_number}-{quantity}");
                let refund_id = self.give_back(tx, (caller, tenant_id), &order, (amount, &step)).await?;
                if let Some(payment) = order.payment.as_mut().filter(|_| !refund_id.is_empty()) {
                    payment.refund_id = refund_id;
                }
            }
            let mut released = Vec::new();
            if let Some(waiting) = orders::waiting_charge(tx, tenant_id, order_id, line_number).await? {
                let (cancelled, rest) = split(&waiting, quantity)?;
                waiting.keep(tx, tenant_id, waiting.quantity - quantity, rest).await?;
                if cancelled > Decimal::ZERO {
                    released.push(OrderPayer {
                        account_id: waiting.bill_to_account_id.to_string(),
                        amount: Some(money_to_wire(cancelled, charge_currency(&waiting)?)),
                        reservation_id: String::new(),
                    });
                }
            }
            orders::save(tx, tenant_id, &order).await?;
            if !released.is_empty() {
                let cancelled = OrderCancelled {
                    order_id: order.id.to_string(),
                    account_id: order.account_id.to_string(),
                    reference: order.reference.clone(),
                    whole: false,
                    released,
                    reason,
                };
                publish(tx, tenant_id, &caller.subject, Payload::OrderCancelled(cancelled)).await?;
            }
            let response = respond(&order);
            Ok(response)
        })
        .await
    }
}

/// The provider reference's step of the next refund of a paid order, from
/// what was given back so far (the order locked): a retry after a failed
/// commit finds the order as it was and asks the same refund again, which
/// the provider answers once; any refund after a committed one has a step
/// of its own.
fn refund_step(order: &Order) -> String {
    match order.payment.as_ref().map(|payment| payment.refunded).unwrap_or_default() {
        before if before.is_zero() => "refund".to_owned(),
        before => format!("refund-after-{before}"),
    }
}

/// An order's charges as its lines stand now: what ships dated today,
/// what waits undated.
fn order_charges(order: &Order, bill_to: &[BillTo], currency: Currency) -> Vec<crate::domain::order::Charge> {
    charges(order.account_id, &order.lines, bill_to, Some((order.id, &order.reference)), currency, now().date_naive())
}

/// Ships `quantity` of line `line_number`'s back order (the order
/// locked): the shipped part of its waiting charge is dated today
/// (billable), the rest waits. The caller saves the order.
pub(crate) async fn ship_line(
    tx: &mut sqlx::PgConnection,
    tenant_id: Uuid,
    order: &mut Order,
    line_number: i32,
    quantity: Decimal,
) -> Result<(), BillingError> {
    order.ship(line_number, quantity)?;
    if let Some(waiting) = orders::waiting_charge(tx, tenant_id, order.id, line_number).await? {
        let (shipped, rest) = split(&waiting, quantity)?;
        waiting.ship(tx, tenant_id, quantity, shipped, rest).await?;
    }
    assets::shipped(tx, tenant_id, order, &[(line_number, quantity)]).await
}

/// Takes exactly `quantity` of a product from a location's stock;
/// FAILED_PRECONDITION OUT_OF_STOCK when it holds less.
async fn take_exactly(
    tx: &mut sqlx::PgConnection,
    tenant_id: Uuid,
    location_id: Uuid,
    product_id: &str,
    quantity: Decimal,
) -> Result<(), BillingError> {
    let locked = locations::lock_stock(tx, tenant_id, location_id, &[product_id.to_owned()]).await?;
    let on_hand = locked.first().map(|(_, quantity)| *quantity).unwrap_or_default();
    if on_hand < quantity {
        return Err(BillingError::precondition(
            "OUT_OF_STOCK",
            format!("the location holds {on_hand} of the product, {quantity} cannot ship"),
        ));
    }
    locations::change_stock(tx, tenant_id, location_id, &[(product_id.to_owned(), -quantity)]).await
}

fn charge_currency(waiting: &orders::WaitingCharge) -> Result<Currency, BillingError> {
    repo::stored_currency(&waiting.currency)
}

/// What `part` of a waiting charge costs, and what the rest does
/// (together its total).
fn split(waiting: &orders::WaitingCharge, part: Decimal) -> Result<(Decimal, Decimal), BillingError> {
    Ok(crate::domain::order::split_total(
        waiting.total,
        waiting.quantity,
        waiting.unit_price,
        part,
        charge_currency(waiting)?,
    ))
}
