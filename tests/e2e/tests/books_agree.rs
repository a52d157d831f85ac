//! The books of billing and credit agree, always: a model-based test.
//!
//! Random sequences of what users do are driven through the gateway over
//! several accounts: orders of every payment type (some back-ordered),
//! subscriptions, a bill-to child, a fully and a partly funded group
//! member, held orders approved, rejected and expired, cancellations of
//! orders, back orders and subscriptions, invoicing, payments, credit
//! notes, refunds and write-offs. A model of the rules (who pays, what
//! credit decides, what is reserved, owed and held as credit) predicts each
//! answer; after each step, once the event streams settle, every account's
//! figures are read back from both services:
//!
//! - credit's balance equals billing's balance equals the model's;
//! - credit's reserved amount equals the open (executed or approved, not
//!   invoiced, not cancelled) orders and subscription first periods it
//!   authorized, per payer;
//! - no reservation stays open for an invoiced or cancelled order (checked
//!   reservation by reservation every few steps and at the end).
//!
//! `BOOKS_AGREE_SEED` replays a sequence (the seed is printed on failure);
//! `BOOKS_AGREE_STEPS` sets its length (`make test` runs the default).

use std::collections::BTreeMap;
use std::time::Duration;

use bss_e2e::{
    TestApp, amount, billing_balance, create_account, create_product, credit_status, decimal, generate, order_request,
    ordering_account, place, reservations, set_credit_policy, subscription_request, today,
};
use bss_platform::auth::Role;
use bss_proto::accounts::group_service_client::GroupServiceClient;
use bss_proto::accounts::{Account, AddGroupMemberRequest, Funding, FundingScope};
use bss_proto::billing::order_service_client::OrderServiceClient;
use bss_proto::billing::payment_service_client::PaymentServiceClient;
use bss_proto::billing::subscription_service_client::SubscriptionServiceClient;
use bss_proto::billing::*;
use bss_proto::credit::credit_service_client::CreditServiceClient;
use bss_proto::credit::{
    ApproveHeldOrderRequest, CreditAction, CreditPolicy, RejectHeldOrderRequest, ReservationState,
};
use bss_proto::types::PaymentType;
use bss_testkit::authorized;
use rust_decimal::Decimal;
use tonic::transport::Channel;

const DEFAULT_STEPS: usize = 150;
const DEFAULT_SEED: u64 = 0xB00C_5A9E_E000_0015;

/// A deterministic generator (xorshift).
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }

    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() { None } else { Some(&items[self.below(items.len())]) }
    }

    /// Whole euros from `low` to `high`, as cents.
    fn euros(&mut self, low: usize, high: usize) -> Decimal {
        Decimal::new((low + self.below(high - low + 1)) as i64 * 100, 2)
    }
}

/// The products: code, price, family (the partly funded member's parent
/// funds the PHONES family).
const PRODUCTS: [(&str, &str, &str); 2] = [("WIDGET", "10.00", "TOOLS"), ("PHONE", "25.00", "PHONES")];

fn price(product: usize) -> Decimal {
    PRODUCTS[product].1.parse().expect("price")
}

/// An account as the model keeps it.
struct Books {
    id: String,
    code: &'static str,
    limit: Decimal,
    /// Out of credit holds for approval (else blocks).
    holds: bool,
    balance: Decimal,
    reserved: Decimal,
    /// Posted invoices not settled.
    unsettled: Decimal,
    /// Money no invoice took (payments and credit notes left over).
    credit_held: Decimal,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Executed,
    Held,
    Rejected,
    Cancelled,
    Quote,
}

/// Something owed and not invoiced yet (or invoiced), as the model keeps it.
#[derive(Clone, Debug)]
struct Charge {
    /// The account that bought.
    buyer: usize,
    bill_to: usize,
    amount: Decimal,
    /// Waiting quantity of a back-ordered line (not billable), or zero.
    waiting: Decimal,
    unit_price: Decimal,
    line: i32,
    /// Its order or subscription, and whether credit reserved it.
    owner: Owner,
    on_credit: bool,
    invoiced: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owner {
    Order(usize),
    Subscription(usize),
}

struct ModelOrder {
    id: String,
    reference: String,
    state: State,
    held_order_id: String,
    /// Who pays what (payer, amount).
    shares: Vec<(usize, Decimal)>,
}

struct ModelSubscription {
    id: String,
    buyer: usize,
    reference: String,
    state: State,
    held_order_id: String,
    payer: usize,
    amount: Decimal,
    charged: bool,
}

struct Model {
    accounts: Vec<Books>,
    orders: Vec<ModelOrder>,
    subscriptions: Vec<ModelSubscription>,
    charges: Vec<Charge>,
}

/// Indices of the accounts with a part in who pays (the first two stand
/// alone).
const PARENT: usize = 2;
const CHILD: usize = 3;
const GROUP: usize = 4;
const FUNDED: usize = 5;
const PARTLY: usize = 6;

impl Model {
    /// Who pays for `product` bought by `buyer`: a bill-to child's parent,
    /// a fully funded member's group parent, a partly funded member's group
    /// parent for phones.
    fn payer(&self, buyer: usize, product: usize) -> usize {
        match buyer {
            CHILD => PARENT,
            FUNDED => GROUP,
            PARTLY if PRODUCTS[product].2 == "PHONES" => GROUP,
            other => other,
        }
    }

    /// Credit's verdict on shares (payer, amount) with a payment type.
    fn decide(&self, shares: &[(usize, Decimal)], on_credit: bool) -> State {
        if !on_credit {
            return State::Executed;
        }
        let mut state = State::Executed;
        for (payer, share) in shares {
            let books = &self.accounts[*payer];
            if books.balance + books.reserved + share > books.limit {
                if !books.holds {
                    return State::Rejected;
                }
                state = State::Held;
            }
        }
        state
    }

    fn reserve(&mut self, shares: &[(usize, Decimal)], sign: Decimal) {
        for (payer, share) in shares {
            self.accounts[*payer].reserved += sign * share;
        }
    }

    /// What credit should hold open per (payer, reference).
    fn open_reservations(&self) -> BTreeMap<(usize, String), Decimal> {
        let mut open = BTreeMap::new();
        for charge in self.charges.iter().filter(|charge| charge.on_credit && !charge.invoiced) {
            let reference = match charge.owner {
                Owner::Order(index) if self.orders[index].state == State::Executed => {
                    self.orders[index].reference.clone()
                }
                Owner::Subscription(index) if self.subscriptions[index].state == State::Executed => {
                    self.subscriptions[index].reference.clone()
                }
                _ => continue,
            };
            *open.entry((charge.bill_to, reference)).or_insert(Decimal::ZERO) += charge.amount;
        }
        // First periods not charged yet (billing charges them when it
        // invoices the subscription's account or payer).
        for subscription in self.subscriptions.iter().filter(|s| s.state == State::Executed && !s.charged) {
            *open.entry((subscription.payer, subscription.reference.clone())).or_insert(Decimal::ZERO) +=
                subscription.amount;
        }
        open
    }
}

struct World {
    channel: Channel,
    clerk: String,
    database_url: String,
    seed: u64,
}

impl World {
    fn context(&self, step: usize, what: &str) -> String {
        format!("seed {} (BOOKS_AGREE_SEED={}), step {step}: {what}", self.seed, self.seed)
    }
}

async fn set_up(suite: &TestApp, seed: u64) -> (World, Model) {
    let (tenant_id, admin) = suite.tenant("Model Books", "EUR").await;
    let clerk = bss_testkit::token(tenant_id, &[Role::BillingClerk, Role::CreditManager]);
    let channel = suite.gateway().await;
    for (code, price, family) in PRODUCTS {
        create_product(&channel, &admin, code, price, family).await;
    }
    let every_way = |code: &str| Account {
        payment_types: vec![
            PaymentType::OnAccount as i32,
            PaymentType::CreditCard as i32,
            PaymentType::Paypal as i32,
            PaymentType::DirectDeposit as i32,
            PaymentType::RunningQuote as i32,
        ],
        ..ordering_account(code)
    };
    let specs: [(&str, &str, bool); 7] = [
        ("S1", "400", false),
        ("S2", "300", true),
        ("PARENT", "600", true),
        ("CHILD", "0", false),
        ("GROUP", "700", false),
        ("FUNDED", "0", false),
        ("PARTLY", "150", true),
    ];
    let mut accounts = Vec::new();
    for (index, (code, limit, holds)) in specs.into_iter().enumerate() {
        let mut account = every_way(code);
        if index == CHILD {
            account.parent_account_id = accounts.get(PARENT).map(|books: &Books| books.id.clone()).unwrap_or_default();
        }
        let id = create_account(&channel, &admin, account).await;
        bss_e2e::save_card(&channel, &admin, &id, "tok_visa").await;
        let out_of_credit = if holds { CreditAction::HoldForApproval } else { CreditAction::Block };
        let policy = CreditPolicy { out_of_credit_action: out_of_credit as i32, ..CreditPolicy::default() };
        set_credit_policy(&channel, &admin, &id, limit, policy).await;
        accounts.push(Books {
            id,
            code,
            limit: limit.parse().expect("limit"),
            holds,
            balance: Decimal::ZERO,
            reserved: Decimal::ZERO,
            unsettled: Decimal::ZERO,
            credit_held: Decimal::ZERO,
        });
    }
    let mut groups = GroupServiceClient::new(channel.clone());
    for (member, funding) in [
        (FUNDED, Funding { scope: FundingScope::Full as i32, ..Funding::default() }),
        (
            PARTLY,
            Funding {
                scope: FundingScope::Partial as i32,
                product_families: vec!["PHONES".to_owned()],
                ..Funding::default()
            },
        ),
    ] {
        let add = AddGroupMemberRequest {
            parent_account_id: accounts[GROUP].id.clone(),
            member_account_id: accounts[member].id.clone(),
            funding: Some(funding),
            request_id: String::new(),
        };
        groups.add_group_member(authorized(add, &admin)).await.expect("member");
    }
    let world = World { channel, clerk, database_url: suite.database_url().to_owned(), seed };
    (world, Model { accounts, orders: Vec::new(), subscriptions: Vec::new(), charges: Vec::new() })
}

fn money(value: Decimal) -> Option<bss_proto::types::Money> {
    bss_e2e::eur(&format!("{value:.2}"))
}

fn parse(value: &Option<bss_proto::types::Money>) -> Decimal {
    amount(value).parse().expect("a decimal")
}

#[tokio::test]
async fn billing_and_credit_agree_after_every_step_of_random_sequences() {
    let seed = std::env::var("BOOKS_AGREE_SEED").ok().and_then(|seed| seed.parse().ok()).unwrap_or(DEFAULT_SEED);
    let steps = std::env::var("BOOKS_AGREE_STEPS").ok().and_then(|steps| steps.parse().ok()).unwrap_or(DEFAULT_STEPS);
    // The checks read every account after every step: a quota above what
    // they ask for.
    let suite = TestApp::start_with(|config| {
        config.rate_limit.default = bss_gateway::rate_limit::Quota { requests_per_second: 100_000, burst: 100_000 };
    })
    .await;
    let (world, mut model) = set_up(&suite, seed).await;
    let mut dice = Dice(seed);
    let mut done: BTreeMap<&str, usize> = BTreeMap::new();
    for step in 1..=steps {
        let what = match dice.below(20) {
            0..=6 => place_order(&world, &mut model, &mut dice, step).await,
            7 => subscribe(&world, &mut model, &mut dice, step).await,
            8 | 9 => decide_held(&world, &mut model, &mut dice, step).await,
            10 => cancel_order(&world, &mut model, &mut dice, step).await,
            11 => back_order(&world, &mut model, &mut dice, step).await,
            12 => cancel_subscription(&world, &mut model, &mut dice, step).await,
            13..=15 => invoice(&world, &mut model, &mut dice, step).await,
            16 | 17 => pay(&world, &mut model, &mut dice, step).await,
            18 => refund(&world, &mut model, &mut dice, step).await,
            _ => write_off(&world, &mut model, &mut dice, step).await,
        };
        *done.entry(what).or_default() += 1;
        settled(&world, &model, step, what).await;
        if matches!(what, "approve" | "reject" | "expire") || step == steps {
            orders_settled(&world, &model, step, what).await;
        }
        if step % 10 == 0 || step == steps {
            reservations_agree(&world, &model, step).await;
        }
    }
    println!("seed {seed}: {steps} steps: {done:?}");
    assert!(done.len() >= 8, "{}", world.context(steps, &format!("too few kinds of step ran: {done:?}")));
}

/// Places a random order; checks its status and payers against the model.
async fn place_order(world: &World, model: &mut Model, dice: &mut Dice, step: usize) -> &'static str {
    let buyer = dice.below(model.accounts.len());
    let payment_type = *dice
        .pick(&[
            PaymentType::OnAccount,
            PaymentType::OnAccount,
            PaymentType::DirectDeposit,
            PaymentType::CreditCard,
            PaymentType::Paypal,
            PaymentType::RunningQuote,
        ])
        .expect("a payment type");
    let count = 1 + dice.below(2);
    let mut lines = Vec::new();
    for _ in 0..count {
        let product = dice.below(PRODUCTS.len());
        let quantity = 1 + dice.below(8);
        let available = if dice.chance(4) { Some(dice.below(quantity)) } else { None };
        lines.push((product, quantity, available));
    }
    let mut request = order_request(&model.accounts[buyer].id, &[], payment_type);
    if let Some(order) = request.order.as_mut() {
        order.lines = lines
            .iter()
            .map(|(product, quantity, available)| OrderLine {
                product: PRODUCTS[*product].0.to_owned(),
                quantity: decimal(&quantity.to_string()),
                available_quantity: available.and_then(|available| decimal(&available.to_string())),
                ..OrderLine::default()
            })
            .collect();
    }
    request.request_id = format!("order-{step}");
    let order = place(&world.channel, &world.clerk, request).await;

    let on_credit = matches!(payment_type, PaymentType::OnAccount | PaymentType::DirectDeposit);
    let index = model.orders.len();
    let mut charges = Vec::new();
    for (number, (product, quantity, available)) in lines.iter().enumerate() {
        let unit_price = price(*product);
        let bill_to = model.payer(buyer, *product);
        let waiting = Decimal::from(quantity - available.unwrap_or(*quantity));
        let charge = |amount: Decimal, waiting: Decimal| Charge {
            buyer,
            bill_to,
            amount,
            waiting,
            unit_price,
            line: number as i32 + 1,
            owner: Owner::Order(index),
            on_credit,
            invoiced: false,
        };
        let shipped = Decimal::from(*quantity) - waiting;
        if shipped > Decimal::ZERO {
            charges.push(charge(shipped * unit_price, Decimal::ZERO));
        }
        if waiting > Decimal::ZERO {
            charges.push(charge(waiting * unit_price, waiting));
        }
    }
    let mut shares: Vec<(usize, Decimal)> = Vec::new();
    for charge in &charges {
        match shares.iter_mut().find(|(payer, _)| *payer == charge.bill_to) {
            Some((_, sum)) => *sum += charge.amount,
            None => shares.push((charge.bill_to, charge.amount)),
        }
    }
    let state = if payment_type == PaymentType::RunningQuote { State::Quote } else { model.decide(&shares, on_credit) };
    let expected_status = match state {
        State::Executed => OrderStatus::Executed,
        State::Held => OrderStatus::HeldForApproval,
        State::Rejected => OrderStatus::Rejected,
        State::Quote => OrderStatus::RunningQuote,
        State::Cancelled => OrderStatus::Cancelled,
    };
    let context = world.context(step, &format!("order {order:?}"));
    assert_eq!(order.status, expected_status as i32, "{context}");
    if state != State::Quote {
        let payers: Vec<(String, Decimal)> =
            order.payers.iter().map(|payer| (payer.account_id.clone(), parse(&payer.amount))).collect();
        let expected: Vec<(String, Decimal)> =
            shares.iter().map(|(payer, share)| (model.accounts[*payer].id.clone(), *share)).collect();
        assert_eq!(payers, expected, "{context}");
    }
    if state == State::Executed && on_credit {
        model.reserve(&shares, Decimal::ONE);
    }
    if on_credit && matches!(state, State::Executed | State::Held) {
        model.charges.extend(charges);
    }
    model.orders.push(ModelOrder {
        id: order.id.clone(),
        reference: order.reference.clone(),
        state,
        held_order_id: order.held_order_id.clone(),
        shares,
    });
    "order"
}

async fn subscribe(world: &World, model: &mut Model, dice: &mut Dice, step: usize) -> &'static str {
    let buyer = dice.below(model.accounts.len());
    let quantity = 1 + dice.below(4);
    let payer = model.payer(buyer, 1);
    let amount = Decimal::from(quantity) * price(1);
    let mut request =
        subscription_request(&model.accounts[buyer].id, "PHONE", &quantity.to_string(), PaymentType::OnAccount);
    request.request_id = format!("subscription-{step}");
    let created = SubscriptionServiceClient::new(world.channel.clone())
        .create_subscription(authorized(request, &world.clerk))
        .await
        .expect("decided")
        .into_inner()
        .subscription
        .expect("subscription");
    let state = model.decide(&[(payer, amount)], true);
    let expected = match state {
        State::Executed => SubscriptionStatus::Active,
        State::Held => SubscriptionStatus::PendingApproval,
        _ => SubscriptionStatus::Rejected,
    };
    assert_eq!(created.status, expected as i32, "{}", world.context(step, &format!("{created:?}")));
    if state == State::Executed {
        model.reserve(&[(payer, amount)], Decimal::ONE);
    }
    model.subscriptions.push(ModelSubscription {
        id: created.id,
        buyer,
        reference: created.reference,
        state,
        held_order_id: created.held_order_id,
        payer,
        amount,
        charged: false,
    });
    "subscribe"
}

/// Approves, rejects or expires a pending held order or subscription.
async fn decide_held(world: &World, model: &mut Model, dice: &mut Dice, step: usize) -> &'static str {
    let orders: Vec<usize> =
        (0..model.orders.len()).filter(|index| model.orders[*index].state == State::Held).collect();
    let subscriptions: Vec<usize> =
        (0..model.subscriptions.len()).filter(|index| model.subscriptions[*index].state == State::Held).collect();
    let pick_order = !orders.is_empty() && (subscriptions.is_empty() || dice.chance(2));
    let (held_order_id, shares) = if pick_order {
        let index = *dice.pick(&orders).expect("a held order");
        (model.orders[index].held_order_id.clone(), model.orders[index].shares.clone())
    } else if let Some(index) = dice.pick(&subscriptions).copied() {
        let subscription = &model.subscriptions[index];
        (subscription.held_order_id.clone(), vec![(subscription.payer, subscription.amount)])
    } else {
        return place_order(world, model, dice, step).await;
    };
    let mut credit = CreditServiceClient::new(world.channel.clone());
    let roll = dice.below(5);
    let approved = roll < 3;
    let what = if approved {
        let approve = ApproveHeldOrderRequest {
            held_order_id: held_order_id.clone(),
            note: "paid".to_owned(),
            request_id: String::new(),
        };
        credit.approve_held_order(authorized(approve, &world.clerk)).await.expect("approved");
        model.reserve(&shares, Decimal::ONE);
        "approve"
    } else if roll == 3 {
        let reject = RejectHeldOrderRequest {
            held_order_id: held_order_id.clone(),
            note: "no".to_owned(),
            request_id: String::new(),
        };
        credit.reject_held_order(authorized(reject, &world.clerk)).await.expect("rejected");
        "reject"
    } else {
        // Its time is up: the expiry sweeper finds it due.
        let pool = sqlx::PgPool::connect(&world.database_url).await.expect("database");
        sqlx::query("UPDATE credit.held_orders SET expires_at = now() WHERE id = $1::uuid")
            .bind(&held_order_id)
            .execute(&pool)
            .await
            .expect("due now");
        pool.close().await;
        "expire"
    };
    let state = if approved { State::Executed } else { State::Rejected };
    if pick_order {
        if let Some(order) = model.orders.iter_mut().find(|order| order.held_order_id == held_order_id) {
            order.state = state;
        }
        if !approved {
            let rejected = model.orders.iter().position(|order| order.held_order_id == held_order_id);
            model.charges.retain(|charge| !matches!(charge.owner, Owner::Order(index) if Some(index) == rejected));
        }
    } else if let Some(subscription) =
        model.subscriptions.iter_mut().find(|subscription| subscription.held_order_id == held_order_id)
    {
        subscription.state = state;
    }
    what
}

async fn cancel_order(world: &World, model: &mut Model, dice: &mut Dice, step: usize) -> &'static str {
    let candidates: Vec<usize> = (0..model.orders.len())
        .filter(|index| matches!(model.orders[*index].state, State::Executed | State::Held))
        .collect();
    let Some(index) = dice.pick(&candidates).copied() else {
        return place_order(world, model, dice, step).await;
    };
    let invoiced = model.charges.iter().any(|charge| charge.owner == Owner::Order(index) && charge.invoiced);
    let cancel = CancelOrderRequest {
        id: model.orders[index].id.clone(),
        reason: "model".to_owned(),
        request_id: format!("cancel-{step}"),
    };
    let answer = OrderServiceClient::new(world.channel.clone()).cancel_order(authorized(cancel, &world.clerk)).await;
    let context = world.context(step, &format!("cancel {}: {answer:?}", model.orders[index].id));
    if invoiced {
        assert_eq!(bss_testkit::reason(&answer.expect_err(&context)), "ORDER_INVOICED", "{context}");
        return "cancel refused";
    }
    assert_eq!(
        answer.unwrap_or_else(|error| panic!("{context}: {error:?}")).into_inner().order.expect("order").status,
        OrderStatus::Cancelled as i32
    );
    if model.orders[index].state == State::Executed {
        let open: Vec<(usize, Decimal)> = model
            .charges
            .iter()
            .filter(|charge| charge.owner == Owner::Order(index) && charge.on_credit)
            .map(|charge| (charge.bill_to, charge.amount))
            .collect();
        model.reserve(&open, -Decimal::ONE);
    }
    model.orders[index].state = State::Cancelled;
    model.charges.retain(|charge| charge.owner != Owner::Order(index));
    "cancel"
}

/// Ships or cancels part of a waiting back order.
async fn back_order(world: &World, model: &mut Model, dice: &mut Dice, step: usize) -> &'static str {
    let waiting: Vec<usize> = (0..model.charges.len())
        .filter(|index| {
            let charge = &model.charges[*index];
            charge.waiting > Decimal::ZERO
                && matches!(charge.owner, Owner::Order(order) if model.orders[order].state == State::Executed)
        })
        .collect();
    let Some(index) = dice.pick(&waiting).copied() else {
        return place_order(world, model, dice, step).await;
    };
    let charge = model.charges[index].clone();
    let Owner::Order(order) = charge.owner else { unreachable!("a back order belongs to an order") };
    let quantity = Decimal::from(1 + dice.below(charge.waiting.try_into().unwrap_or(1)));
    let part = quantity * charge.unit_price;
    let mut orders = OrderServiceClient::new(world.channel.clone());
    let context = world.context(step, &format!("back order of {}", model.orders[order].id));
    let what = if dice.chance(2) {
        let ship = ShipBackOrderRequest {
            order_id: model.orders[order].id.clone(),
            line_number: charge.line,
            quantity: decimal(&quantity.to_string()),
            request_id: format!("ship-{step}"),
        };
        orders
            .ship_back_order(authorized(ship, &world.clerk))
            .await
            .unwrap_or_else(|error| panic!("{context}: {error:?}"));
        model.charges.push(Charge { amount: part, waiting: Decimal::ZERO, ..charge.clone() });
        "ship back order"
    } else {
        let cancel = CancelBackOrderRequest {
            order_id: model.orders[order].id.clone(),
            line_number: charge.line,
            quantity: decimal(&quantity.to_string()),
            reason: "model".to_owned(),
            request_id: format!("cancel-back-{step}"),
        };
        orders
            .cancel_back_order(authorized(cancel, &world.clerk))
            .await
            .unwrap_or_else(|error| panic!("{context}: {error:?}"));
        model.reserve(&[(charge.bill_to, part)], -Decimal::ONE);
        "cancel back order"
    };
    let left = &mut model.charges[index];
    left.waiting -= quantity;
    left.amount -= part;
    if left.waiting.is_zero() {
        model.charges.remove(index);
    }
    what
}

async fn cancel_subscription(world: &World, model: &mut Model, dice: &mut Dice, step: usize) -> &'static str {
    let candidates: Vec<usize> = (0..model.subscriptions.len())
        .filter(|index| matches!(model.subscriptions[*index].state, State::Executed | State::Held))
        .collect();
    let Some(index) = dice.pick(&candidates).copied() else {
        return subscribe(world, model, dice, step).await;
    };
    let cancel = CancelSubscriptionRequest {
        id: model.subscriptions[index].id.clone(),
        request_id: format!("end-{step}"),
        ..Default::default()
    };
    SubscriptionServiceClient::new(world.channel.clone())
        .cancel_subscription(authorized(cancel, &world.clerk))
        .await
        .unwrap_or_else(|error| panic!("{}: {error:?}", world.context(step, "cancel subscription")));
    let subscription = &model.subscriptions[index];
    // Cancelled on its first day, it ran no day: not charged yet, what
    // credit held for its first period is released; charged (and so
    // posted, as the model invoices), a credit note gives it back whole.
    if subscription.state == State::Executed {
        let (payer, amount, charged) = (subscription.payer, subscription.amount, subscription.charged);
        match charged {
            false => model.accounts[payer].reserved -= amount,
            true => credit(&mut model.accounts[payer], amount),
        }
    }
    model.subscriptions[index].state = State::Cancelled;
    "cancel subscription"
}

/// GenerateInvoices (posted) for a random account: what it buys and what
/// it pays for, grouped by payer.
async fn invoice(world: &World, model: &mut Model, dice: &mut Dice, step: usize) -> &'static str {
    let account = dice.below(model.accounts.len());
    // First periods start the day a subscription is active: invoicing the
    // account it is bought by or billed to charges them now.
    for index in 0..model.subscriptions.len() {
        let subscription = &model.subscriptions[index];
        let in_scope = subscription.payer == account || subscription.buyer == account;
        if subscription.state != State::Executed || subscription.charged || !in_scope {
            continue;
        }
        model.charges.push(Charge {
            buyer: subscription.buyer,
            bill_to: subscription.payer,
            amount: subscription.amount,
            waiting: Decimal::ZERO,
            unit_price: subscription.amount,
            line: 0,
            owner: Owner::Subscription(index),
            on_credit: true,
            invoiced: false,
        });
        model.subscriptions[index].charged = true;
    }
    let invoices = generate(&world.channel, &world.clerk, &model.accounts[account].id, &today(), true).await;
    let mut billed: BTreeMap<usize, Decimal> = BTreeMap::new();
    for charge_index in 0..model.charges.len() {
        let charge = &model.charges[charge_index];
        let billable = !charge.invoiced
            && charge.waiting.is_zero()
            && (charge.bill_to == account || charge.buyer == account)
            && match charge.owner {
                Owner::Order(index) => model.orders[index].state == State::Executed,
                Owner::Subscription(_) => true,
            };
        if !billable {
            continue;
        }
        let (bill_to, amount, on_credit) = (charge.bill_to, charge.amount, charge.on_credit);
        model.charges[charge_index].invoiced = true;
        *billed.entry(bill_to).or_default() += amount;
        let books = &mut model.accounts[bill_to];
        books.balance += amount;
        books.unsettled += amount;
        if on_credit {
            books.reserved -= amount;
        }
    }
    let mut got: Vec<(String, Decimal)> =
        invoices.iter().map(|invoice| (invoice.account_id.clone(), parse(&invoice.total))).collect();
    got.sort();
    let mut expected: Vec<(String, Decimal)> =
        billed.iter().map(|(payer, amount)| (model.accounts[*payer].id.clone(), *amount)).collect();
    expected.sort();
    assert_eq!(got, expected, "{}", world.context(step, &format!("invoicing {}", model.accounts[account].code)));
    "invoice"
}

/// A payment or a credit note of a random amount.
async fn pay(world: &World, model: &mut Model, dice: &mut Dice, step: usize) -> &'static str {
    let account = dice.below(model.accounts.len());
    let value = dice.euros(5, 200);
    let mut payments = PaymentServiceClient::new(world.channel.clone());
    let id = model.accounts[account].id.clone();
    let what = if dice.chance(3) {
        let note = CreateCreditNoteRequest {
            account_id: id,
            amount: money(value),
            reason: "model".to_owned(),
            request_id: format!("note-{step}"),
            ..CreateCreditNoteRequest::default()
        };
        payments
            .create_credit_note(authorized(note, &world.clerk))
            .await
            .unwrap_or_else(|error| panic!("{}: {error:?}", world.context(step, "credit note")));
        "credit note"
    } else {
        let payment = RecordPaymentRequest {
            payment: Some(Payment { account_id: id, amount: money(value), ..Payment::default() }),
            invoice_id: String::new(),
            request_id: format!("payment-{step}"),
        };
        payments
            .record_payment(authorized(payment, &world.clerk))
            .await
            .unwrap_or_else(|error| panic!("{}: {error:?}", world.context(step, "payment")));
        "payment"
    };
    credit(&mut model.accounts[account], value);
    what
}

/// A payment or credit note of `value`: it settles what posted invoices
/// owe, and the rest is credit the account holds.
fn credit(books: &mut Books, value: Decimal) {
    let settled = value.min(books.unsettled);
    books.unsettled -= settled;
    books.credit_held += value - settled;
    books.balance -= value;
}

async fn refund(world: &World, model: &mut Model, dice: &mut Dice, step: usize) -> &'static str {
    let account = dice.below(model.accounts.len());
    let books = &model.accounts[account];
    let refundable = books.credit_held.min(-books.balance).max(Decimal::ZERO);
    let value = if refundable > Decimal::ZERO && !dice.chance(4) { refundable } else { refundable + Decimal::ONE };
    let request = RefundCreditRequest {
        account_id: books.id.clone(),
        amount: money(value),
        reason: "model".to_owned(),
        request_id: format!("refund-{step}"),
    };
    let answer =
        PaymentServiceClient::new(world.channel.clone()).refund_credit(authorized(request, &world.clerk)).await;
    let context = world.context(step, &format!("refund {value} of {refundable}: {answer:?}"));
    if value > refundable {
        assert_eq!(bss_testkit::reason(&answer.expect_err(&context)), "REFUND_EXCEEDS_CREDIT", "{context}");
        return "refund refused";
    }
    answer.unwrap_or_else(|error| panic!("{context}: {error:?}"));
    let books = &mut model.accounts[account];
    books.credit_held -= value;
    books.balance += value;
    "refund"
}

async fn write_off(world: &World, model: &mut Model, dice: &mut Dice, step: usize) -> &'static str {
    let account = dice.below(model.accounts.len());
    let request = WriteOffAccountRequest {
        account_id: model.accounts[account].id.clone(),
        reason: "model".to_owned(),
        request_id: format!("write-off-{step}"),
    };
    let answer =
        PaymentServiceClient::new(world.channel.clone()).write_off_account(authorized(request, &world.clerk)).await;
    let books = &mut model.accounts[account];
    let context = world.context(step, &format!("write off {}: {answer:?}", books.code));
    if books.unsettled.is_zero() {
        assert_eq!(bss_testkit::reason(&answer.expect_err(&context)), "NOTHING_TO_WRITE_OFF", "{context}");
        return "write-off refused";
    }
    answer.unwrap_or_else(|error| panic!("{context}: {error:?}"));
    books.balance -= books.unsettled;
    books.unsettled = Decimal::ZERO;
    "write-off"
}

/// Waits until both services show the model's figures for every account;
/// fails with the seed after 30 seconds.
async fn settled(world: &World, model: &Model, step: usize, what: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut differences = Vec::new();
        for books in &model.accounts {
            let credit = credit_status(&world.channel, &world.clerk, &books.id).await;
            let billing = billing_balance(&world.channel, &world.clerk, &books.id).await;
            let seen = (parse(&credit.balance), parse(&billing.balance), parse(&credit.reserved));
            let expected = (books.balance, books.balance, books.reserved);
            if seen != expected {
                differences.push(format!(
                    "{}: (credit balance, billing balance, credit reserved) {seen:?}, expected {expected:?}",
                    books.code
                ));
            }
        }
        if differences.is_empty() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{}",
            world.context(step, &format!("after {what}, the books disagree:\n{}", differences.join("\n")))
        );
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
}

/// Waits until billing shows every order in the model's state: a held
/// order is decided through credit's stream.
async fn orders_settled(world: &World, model: &Model, step: usize, what: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut orders = OrderServiceClient::new(world.channel.clone());
    for order in &model.orders {
        let expected = match order.state {
            State::Executed => OrderStatus::Executed,
            State::Held => OrderStatus::HeldForApproval,
            State::Rejected => OrderStatus::Rejected,
            State::Cancelled => OrderStatus::Cancelled,
            State::Quote => OrderStatus::RunningQuote,
        };
        loop {
            let read = orders.get_order(authorized(GetOrderRequest { id: order.id.clone() }, &world.clerk)).await;
            let status = read.expect("order").into_inner().order.expect("order").status;
            if status == expected as i32 {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{}",
                world.context(step, &format!("after {what}, order {} is {status}, not {expected:?}", order.id))
            );
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
    }
}

/// Every open reservation belongs to an open order or first period, for
/// exactly what the model says is still open; none stays open for an
/// invoiced or cancelled one.
async fn reservations_agree(world: &World, model: &Model, step: usize) {
    let expected = model.open_reservations();
    let mut open: BTreeMap<(usize, String), Decimal> = BTreeMap::new();
    for (index, books) in model.accounts.iter().enumerate() {
        for reservation in reservations(&world.channel, &world.clerk, &books.id).await {
            if reservation.state == ReservationState::Open as i32 {
                *open.entry((index, reservation.order_reference.clone())).or_default() +=
                    parse(&reservation.open_amount);
            }
        }
    }
    assert_eq!(open, expected, "{}", world.context(step, "open reservations per (payer, reference)"));
}
