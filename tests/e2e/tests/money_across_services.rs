//! Money crossing services, read back from every side it touches: an order
//! or a subscription placed through billing, then what credit says
//! (exposure, reserved, available credit, reservations and their accounts),
//! what billing says (orders, invoices, balances) and what accounts allows.
//! One scenario per way the suite once lost track of money: payers, card
//! orders, subscriptions, deletion and cancellation.

use bss_e2e::{
    TestApp, amount, billing_balance, create_account, create_product, credit_settles, credit_status, eur, generate,
    order_request, ordering_account, place, reasons, reservations, set_credit_policy, set_credit_terms,
    subscription_request, today,
};
use bss_platform::auth::Role;
use bss_proto::accounts::account_service_client::AccountServiceClient;
use bss_proto::accounts::group_service_client::GroupServiceClient;
use bss_proto::accounts::{Account, AddGroupMemberRequest, DeleteAccountRequest, Funding, FundingScope};
use bss_proto::billing::invoice_service_client::InvoiceServiceClient;
use bss_proto::billing::order_service_client::OrderServiceClient;
use bss_proto::billing::payment_service_client::PaymentServiceClient;
use bss_proto::billing::subscription_service_client::SubscriptionServiceClient;
use bss_proto::billing::*;
use bss_proto::credit::credit_service_client::CreditServiceClient;
use bss_proto::credit::credit_settings_service_client::CreditSettingsServiceClient;
use bss_proto::credit::{
    CreateOverrideRuleRequest, CreditAction, CreditPolicy, EventKind, OverrideRule, PutOnHoldRequest,
    ReleaseHoldRequest, ReservationState,
};
use bss_proto::types::PaymentType;
use bss_testkit::authorized;
use tonic::Code;
use tonic::transport::Channel;

/// An account that may order with every payment type.
fn paying_every_way(code: &str) -> Account {
    Account {
        payment_types: vec![
            PaymentType::OnAccount as i32,
            PaymentType::CreditCard as i32,
            PaymentType::Paypal as i32,
            PaymentType::DirectDeposit as i32,
            PaymentType::RunningQuote as i32,
        ],
        ..ordering_account(code)
    }
}

fn status(order: &Order) -> OrderStatus {
    OrderStatus::try_from(order.status).unwrap_or_default()
}

/// (payer, amount, whether reserved) of each payer of an order.
fn payers(payers: &[OrderPayer]) -> Vec<(String, String, bool)> {
    payers
        .iter()
        .map(|payer| (payer.account_id.clone(), amount(&payer.amount).to_owned(), !payer.reservation_id.is_empty()))
        .collect()
}

async fn add_member(channel: &Channel, admin: &str, parent: &str, member: &str, funding: Funding) {
    let add = AddGroupMemberRequest {
        parent_account_id: parent.to_owned(),
        member_account_id: member.to_owned(),
        funding: Some(funding),
        request_id: String::new(),
    };
    GroupServiceClient::new(channel.clone()).add_group_member(authorized(add, admin)).await.expect("member");
}

#[tokio::test]
async fn the_payers_credit_decides_and_its_invoice_captures_what_it_reserved() {
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Payer Books", "EUR").await;
    let clerk = bss_testkit::token(tenant_id, &[Role::BillingClerk]);
    let channel = suite.gateway().await;
    create_product(&channel, &admin, "WIDGET", "40.00", "TOOLS").await;
    create_product(&channel, &admin, "PHONE", "100.00", "PHONES").await;

    // A child billed to its parent has no credit of its own (limit 0); the
    // parent has 500.
    let parent = create_account(&channel, &admin, ordering_account("PARENT")).await;
    set_credit_terms(&channel, &admin, &parent, "500", None).await;
    let child =
        create_account(&channel, &admin, Account { parent_account_id: parent.clone(), ..ordering_account("CHILD") })
            .await;
    let order = place(&channel, &clerk, order_request(&child, &[("WIDGET", "2")], PaymentType::OnAccount)).await;
    assert_eq!(status(&order), OrderStatus::Executed, "{order:?}");
    assert_eq!(payers(&order.payers), vec![(parent.clone(), "80.00".to_owned(), true)], "the parent's credit decided");
    let parent_status = credit_status(&channel, &clerk, &parent).await;
    assert_eq!((amount(&parent_status.reserved), amount(&parent_status.available_credit)), ("80.00", "420.00"));
    let child_status = credit_status(&channel, &clerk, &child).await;
    assert_eq!((amount(&child_status.reserved), amount(&child_status.exposure)), ("0.00", "0.00"), "counted once");
    let held = reservations(&channel, &clerk, &parent).await;
    assert_eq!(held.len(), 1);
    assert_eq!((held[0].order_reference.as_str(), amount(&held[0].open_amount)), (order.reference.as_str(), "80.00"));

    // More than the parent has left: refused on the parent's limit, the
    // reason naming the parent.
    let big = place(&channel, &clerk, order_request(&child, &[("WIDGET", "11")], PaymentType::OnAccount)).await;
    assert_eq!(status(&big), OrderStatus::Rejected);
    assert_eq!(reasons(&big.reasons), vec![(parent.clone(), "CREDIT_LIMIT_EXCEEDED".to_owned(), CreditAction::Block)]);

    // The child's own hold still applies although its parent pays.
    let hold = PutOnHoldRequest { account_id: child.clone(), reason: "dispute".to_owned(), request_id: String::new() };
    CreditServiceClient::new(channel.clone()).put_on_hold(authorized(hold, &admin)).await.expect("on hold");
    let on_hold = place(&channel, &clerk, order_request(&child, &[("WIDGET", "1")], PaymentType::OnAccount)).await;
    assert_eq!(status(&on_hold), OrderStatus::Rejected);
    assert_eq!(reasons(&on_hold.reasons), vec![(child.clone(), "ACCOUNT_ON_HOLD".to_owned(), CreditAction::Block)]);
    let release = ReleaseHoldRequest { account_id: child.clone(), request_id: String::new() };
    CreditServiceClient::new(channel.clone()).release_hold(authorized(release, &admin)).await.expect("released");

    // Invoiced on the parent: the parent's invoice captures the parent's
    // reservation; the books of billing and credit agree on both accounts.
    let invoices = generate(&channel, &clerk, &child, &today(), true).await;
    assert_eq!(invoices.len(), 1);
    assert_eq!((invoices[0].account_id.as_str(), amount(&invoices[0].total)), (parent.as_str(), "80.00"));
    credit_settles(&channel, &clerk, &parent, "80.00", "0.00").await;
    credit_settles(&channel, &clerk, &child, "0.00", "0.00").await;
    assert_eq!(amount(&billing_balance(&channel, &clerk, &parent).await.balance), "80.00");
    assert_eq!(amount(&billing_balance(&channel, &clerk, &child).await.balance), "0.00");
    let captured = reservations(&channel, &clerk, &parent).await;
    assert_eq!(captured[0].state, ReservationState::Captured as i32);
    assert_eq!(amount(&captured[0].open_amount), "0.00");

    // A partly funded group member: the group parent pays its phones, the
    // member its widgets; each share reserved on its payer, each payer
    // invoiced for its part.
    let group = create_account(&channel, &admin, ordering_account("GROUP")).await;
    let member = create_account(&channel, &admin, ordering_account("MEMBER")).await;
    let phones = Funding {
        scope: FundingScope::Partial as i32,
        product_families: vec!["PHONES".to_owned()],
        ..Funding::default()
    };
    add_member(&channel, &admin, &group, &member, phones).await;
    set_credit_terms(&channel, &admin, &group, "1000", None).await;
    set_credit_terms(&channel, &admin, &member, "50", None).await;
    let split =
        place(&channel, &clerk, order_request(&member, &[("PHONE", "1"), ("WIDGET", "1")], PaymentType::OnAccount))
            .await;
    assert_eq!(status(&split), OrderStatus::Executed, "{split:?}");
    assert_eq!(
        payers(&split.payers),
        vec![(group.clone(), "100.00".to_owned(), true), (member.clone(), "40.00".to_owned(), true)]
    );
    assert_eq!(amount(&credit_status(&channel, &clerk, &group).await.reserved), "100.00");
    assert_eq!(amount(&credit_status(&channel, &clerk, &member).await.reserved), "40.00");
    // The member's own share decides on the member's limit, however much
    // room its parent has.
    let short = place(&channel, &clerk, order_request(&member, &[("WIDGET", "1")], PaymentType::OnAccount)).await;
    assert_eq!(status(&short), OrderStatus::Rejected);
    assert_eq!(
        reasons(&short.reasons),
        vec![(member.clone(), "CREDIT_LIMIT_EXCEEDED".to_owned(), CreditAction::Block)]
    );
    let invoiced = generate(&channel, &clerk, &member, &today(), true).await;
    let mut billed: Vec<(String, String)> =
        invoiced.iter().map(|invoice| (invoice.account_id.clone(), amount(&invoice.total).to_owned())).collect();
    billed.sort();
    let mut expected = vec![(group.clone(), "100.00".to_owned()), (member.clone(), "40.00".to_owned())];
    expected.sort();
    assert_eq!(billed, expected);
    credit_settles(&channel, &clerk, &group, "100.00", "0.00").await;
    credit_settles(&channel, &clerk, &member, "40.00", "0.00").await;
}

#[tokio::test]
async fn card_and_paypal_orders_pass_the_hold_and_terms_policies_and_reserve_nothing() {
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Card Books", "EUR").await;
    let clerk = bss_testkit::token(tenant_id, &[Role::BillingClerk]);
    let channel = suite.gateway().await;
    create_product(&channel, &admin, "WIDGET", "40.00", "").await;
    let account = create_account(&channel, &admin, paying_every_way("CARDS")).await;
    bss_e2e::save_card(&channel, &admin, &account, "tok_visa").await;
    let mut credit = CreditServiceClient::new(channel.clone());
    let hold =
        PutOnHoldRequest { account_id: account.clone(), reason: "dispute".to_owned(), request_id: String::new() };
    credit.put_on_hold(authorized(hold, &admin)).await.expect("on hold");
    let order_by = |payment_type| order_request(&account, &[("WIDGET", "1")], payment_type);
    let on_hold = |action| vec![(account.clone(), "ACCOUNT_ON_HOLD".to_owned(), action)];

    // On hold, BLOCK (the tenant's default): every order is refused.
    for payment_type in [PaymentType::CreditCard, PaymentType::Paypal] {
        let refused = place(&channel, &clerk, order_by(payment_type)).await;
        assert_eq!(status(&refused), OrderStatus::Rejected, "{payment_type:?}");
        assert_eq!(reasons(&refused.reasons), on_hold(CreditAction::Block));
    }

    // WARN, ONLY ALLOW CREDIT CARD: card accepted with the warning, PayPal
    // refused.
    let card_only = CreditPolicy { on_hold_action: CreditAction::WarnCreditCardOnly as i32, ..CreditPolicy::default() };
    set_credit_policy(&channel, &admin, &account, "0", card_only).await;
    let card = place(&channel, &clerk, order_by(PaymentType::CreditCard)).await;
    assert_eq!(status(&card), OrderStatus::Executed);
    assert_eq!(reasons(&card.reasons), on_hold(CreditAction::WarnCreditCardOnly));
    assert_eq!(
        payers(&card.payers),
        vec![(account.clone(), "40.00".to_owned(), false)],
        "a card order reserves nothing"
    );
    let paypal = place(&channel, &clerk, order_by(PaymentType::Paypal)).await;
    assert_eq!(status(&paypal), OrderStatus::Rejected);
    assert_eq!(reasons(&paypal.reasons), on_hold(CreditAction::WarnCreditCardOnly));

    // WARN: PayPal goes through with the warning on the order.
    let warn = CreditPolicy { on_hold_action: CreditAction::Warn as i32, ..CreditPolicy::default() };
    set_credit_policy(&channel, &admin, &account, "0", warn).await;
    let warned = place(&channel, &clerk, order_by(PaymentType::Paypal)).await;
    assert_eq!(status(&warned), OrderStatus::Executed);
    assert_eq!(reasons(&warned.reasons), on_hold(CreditAction::Warn));

    // A running quote is recorded, never decided.
    let quote = place(&channel, &clerk, order_by(PaymentType::RunningQuote)).await;
    assert_eq!((status(&quote), quote.reasons.len(), quote.payers.len()), (OrderStatus::RunningQuote, 0, 0));

    // Card and PayPal orders are paid at submission: credit reserved
    // nothing, billing invoices nothing.
    let after = credit_status(&channel, &clerk, &account).await;
    assert_eq!((amount(&after.reserved), amount(&after.balance)), ("0.00", "0.00"));
    assert!(reservations(&channel, &clerk, &account).await.is_empty());
    assert!(generate(&channel, &clerk, &account, &today(), false).await.is_empty());
}

#[tokio::test]
async fn subscriptions_are_authorized_as_activations_and_their_first_invoice_captures_them() {
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Plan Books", "EUR").await;
    let clerk = bss_testkit::token(tenant_id, &[Role::BillingClerk]);
    let channel = suite.gateway().await;
    create_product(&channel, &admin, "PLAN", "150.00", "").await;
    let account = create_account(&channel, &admin, ordering_account("PLANS")).await;
    set_credit_terms(&channel, &admin, &account, "100", None).await;
    let mut subscriptions = SubscriptionServiceClient::new(channel.clone());
    let subscribe = |payment_type| subscription_request(&account, "PLAN", "1", payment_type);

    // 150.00 a month on a limit of 100 with out of credit BLOCK: refused,
    // never charged, nothing reserved.
    let refused = subscriptions.create_subscription(authorized(subscribe(PaymentType::OnAccount), &clerk)).await;
    let refused = refused.expect("decided").into_inner().subscription.expect("subscription");
    assert_eq!(refused.status, SubscriptionStatus::Rejected as i32, "{refused:?}");
    assert_eq!(
        reasons(&refused.reasons),
        vec![(account.clone(), "CREDIT_LIMIT_EXCEEDED".to_owned(), CreditAction::Block)]
    );
    assert_eq!(amount(&credit_status(&channel, &clerk, &account).await.reserved), "0.00");

    // An override rule lifting the limit for subscription activations lets
    // it through; the first period is reserved.
    let rule = OverrideRule { event_kind: EventKind::SubscriptionActivation as i32, ..OverrideRule::default() };
    CreditSettingsServiceClient::new(channel.clone())
        .create_override_rule(authorized(
            CreateOverrideRuleRequest { rule: Some(rule), request_id: String::new() },
            &admin,
        ))
        .await
        .expect("rule");
    let active = subscriptions.create_subscription(authorized(subscribe(PaymentType::OnAccount), &clerk)).await;
    let active = active.expect("decided").into_inner().subscription.expect("subscription");
    assert_eq!(active.status, SubscriptionStatus::Active as i32, "{active:?}");
    assert_eq!(payers(&active.payers), vec![(account.clone(), "150.00".to_owned(), true)]);
    let reserved = credit_status(&channel, &clerk, &account).await;
    assert_eq!((amount(&reserved.reserved), amount(&reserved.available_credit)), ("150.00", "-50.00"));
    // The rule is for activations only: an order still meets the limit.
    let order = place(&channel, &clerk, order_request(&account, &[("PLAN", "1")], PaymentType::OnAccount)).await;
    assert_eq!(status(&order), OrderStatus::Rejected);

    // Its first invoice captures the reservation; billing and credit agree.
    let invoiced = generate(&channel, &clerk, &account, &today(), true).await;
    assert_eq!(invoiced.iter().map(|invoice| amount(&invoice.total).to_owned()).collect::<Vec<_>>(), vec!["150.00"]);
    assert!(invoiced[0].order_references.contains(&active.reference), "{invoiced:?}");
    credit_settles(&channel, &clerk, &account, "150.00", "0.00").await;
    assert_eq!(amount(&billing_balance(&channel, &clerk, &account).await.balance), "150.00");

    // Cancelled on its first day, a subscription charges nothing and frees
    // its reservation.
    let unlimited = bss_proto::credit::CreditTerms { unlimited: true, ..bss_proto::credit::CreditTerms::default() };
    let change = bss_proto::credit::ChangeCreditTermsRequest {
        account_id: account.clone(),
        terms: Some(unlimited),
        reason: "trusted".to_owned(),
        request_id: String::new(),
    };
    CreditServiceClient::new(channel.clone()).change_credit_terms(authorized(change, &admin)).await.expect("terms");
    let second = subscriptions.create_subscription(authorized(subscribe(PaymentType::OnAccount), &clerk)).await;
    let second = second.expect("decided").into_inner().subscription.expect("subscription");
    assert_eq!(second.status, SubscriptionStatus::Active as i32);
    credit_settles(&channel, &clerk, &account, "150.00", "150.00").await;
    let cancel = CancelSubscriptionRequest { id: second.id.clone(), request_id: String::new(), ..Default::default() };
    subscriptions.cancel_subscription(authorized(cancel, &clerk)).await.expect("cancelled");
    credit_settles(&channel, &clerk, &account, "150.00", "0.00").await;
    assert!(generate(&channel, &clerk, &account, &today(), false).await.is_empty(), "nothing charged");

    // A suspended account gets none.
    use bss_proto::accounts::SuspendAccountRequest;
    let suspend =
        SuspendAccountRequest { id: account.clone(), reason: "dispute".to_owned(), request_id: String::new() };
    AccountServiceClient::new(channel.clone()).suspend_account(authorized(suspend, &admin)).await.expect("suspended");
    let suspended = subscriptions.create_subscription(authorized(subscribe(PaymentType::OnAccount), &clerk)).await;
    assert_eq!(bss_testkit::reason(&suspended.expect_err("refused")), "ACCOUNT_SUSPENDED");
}

#[tokio::test]
async fn an_account_with_money_is_never_deleted_and_says_why() {
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Keeping Books", "EUR").await;
    let clerk = bss_testkit::token(tenant_id, &[Role::BillingClerk]);
    let channel = suite.gateway().await;
    create_product(&channel, &admin, "PLAN", "20.00", "").await;
    create_product(&channel, &admin, "WIDGET", "5.00", "").await;
    let account = create_account(&channel, &admin, ordering_account("KEEP")).await;
    set_credit_terms(&channel, &admin, &account, "1000", None).await;
    let mut accounts = AccountServiceClient::new(channel.clone());
    let delete = |id: &str| DeleteAccountRequest { id: id.to_owned(), etag: String::new(), request_id: String::new() };

    // An executed order not invoiced, an active subscription and the
    // reservations they hold: every reason is named.
    let order = place(&channel, &clerk, order_request(&account, &[("WIDGET", "2")], PaymentType::OnAccount)).await;
    assert_eq!(status(&order), OrderStatus::Executed);
    let subscription = SubscriptionServiceClient::new(channel.clone())
        .create_subscription(authorized(subscription_request(&account, "PLAN", "1", PaymentType::OnAccount), &clerk))
        .await
        .expect("subscribed")
        .into_inner()
        .subscription
        .expect("subscription");
    let refused = accounts.delete_account(authorized(delete(&account), &admin)).await.expect_err("refused");
    assert_eq!(refused.code(), Code::FailedPrecondition);
    let mut named = bss_testkit::precondition_types(&refused);
    named.sort();
    assert_eq!(named, vec!["CHARGES_NOT_INVOICED", "RESERVATIONS_OPEN", "SUBSCRIPTIONS_ACTIVE"]);

    // Invoiced and paid in full, the subscription cancelled: its posted
    // transactions keep it for good; its debt stays readable and payable.
    let cancel =
        CancelSubscriptionRequest { id: subscription.id.clone(), request_id: String::new(), ..Default::default() };
    SubscriptionServiceClient::new(channel.clone()).cancel_subscription(authorized(cancel, &clerk)).await.expect("c");
    let invoiced = generate(&channel, &clerk, &account, &today(), true).await;
    assert_eq!(invoiced.len(), 1);
    credit_settles(&channel, &clerk, &account, "10.00", "0.00").await;
    let refused = accounts.delete_account(authorized(delete(&account), &admin)).await.expect_err("refused");
    assert_eq!(bss_testkit::precondition_types(&refused), vec!["POSTED_TRANSACTIONS"]);
    let pay = RecordPaymentRequest {
        payment: Some(Payment { account_id: account.clone(), amount: eur("10.00"), ..Payment::default() }),
        invoice_id: String::new(),
        request_id: String::new(),
    };
    PaymentServiceClient::new(channel.clone()).record_payment(authorized(pay, &clerk)).await.expect("paid");
    let refused = accounts.delete_account(authorized(delete(&account), &admin)).await.expect_err("refused");
    assert_eq!(bss_testkit::precondition_types(&refused), vec!["POSTED_TRANSACTIONS"]);
    assert_eq!(amount(&billing_balance(&channel, &clerk, &account).await.balance), "0.00");
    credit_settles(&channel, &clerk, &account, "0.00", "0.00").await;

    // A parent that pays for a child's charges is not deleted either, nor
    // is an account without any money.
    let parent = create_account(&channel, &admin, ordering_account("PAYS")).await;
    set_credit_terms(&channel, &admin, &parent, "1000", None).await;
    let child =
        create_account(&channel, &admin, Account { parent_account_id: parent.clone(), ..ordering_account("KID") })
            .await;
    let kid_order = place(&channel, &clerk, order_request(&child, &[("WIDGET", "1")], PaymentType::OnAccount)).await;
    assert_eq!(status(&kid_order), OrderStatus::Executed);
    let refused = accounts.delete_account(authorized(delete(&parent), &admin)).await.expect_err("refused");
    let named = bss_testkit::precondition_types(&refused);
    assert!(
        named.contains(&"RESERVATIONS_OPEN".to_owned()) && named.contains(&"CHARGES_NOT_INVOICED".to_owned()),
        "{named:?}"
    );
    let empty = create_account(&channel, &admin, ordering_account("EMPTY")).await;
    accounts.delete_account(authorized(delete(&empty), &admin)).await.expect("deleted");
}

#[tokio::test]
async fn a_cancelled_order_frees_its_reservation_and_its_charges_exactly_once() {
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Cancel Books", "EUR").await;
    let clerk = bss_testkit::token(tenant_id, &[Role::BillingClerk]);
    let channel = suite.gateway().await;
    create_product(&channel, &admin, "WIDGET", "10.00", "").await;
    create_product(&channel, &admin, "GADGET", "60.00", "").await;
    let account = create_account(&channel, &admin, ordering_account("UNDO")).await;
    set_credit_terms(&channel, &admin, &account, "100", None).await;
    let mut orders = OrderServiceClient::new(channel.clone());

    let order = place(&channel, &clerk, order_request(&account, &[("GADGET", "1")], PaymentType::OnAccount)).await;
    credit_settles(&channel, &clerk, &account, "0.00", "60.00").await;
    let cancel =
        CancelOrderRequest { id: order.id.clone(), reason: "changed mind".to_owned(), request_id: "undo-1".to_owned() };
    let cancelled = orders.cancel_order(authorized(cancel.clone(), &clerk)).await.expect("cancelled").into_inner();
    let cancelled = cancelled.order.expect("order");
    assert_eq!((status(&cancelled), cancelled.cancel_reason.as_str()), (OrderStatus::Cancelled, "changed mind"));
    let again = orders.cancel_order(authorized(cancel, &clerk)).await.expect("the same request").into_inner();
    assert_eq!(again.order.expect("order").status, OrderStatus::Cancelled as i32, "a retry answers the same");
    let twice = CancelOrderRequest { id: order.id.clone(), reason: "again".to_owned(), request_id: String::new() };
    assert_eq!(
        bss_testkit::reason(&orders.cancel_order(authorized(twice, &clerk)).await.expect_err("once")),
        "ORDER_CANCELLED"
    );
    // Released exactly once, and nothing left to invoice: the next order
    // has the whole limit again.
    let status_now = credit_settles(&channel, &clerk, &account, "0.00", "0.00").await;
    assert_eq!(amount(&status_now.available_credit), "100.00");
    let released = reservations(&channel, &clerk, &account).await;
    assert_eq!(released[0].state, ReservationState::Released as i32);
    assert!(generate(&channel, &clerk, &account, &today(), false).await.is_empty());

    // A back order's unshipped part: 3 widgets, one ships now; cancelling
    // the two waiting releases their 20.00 of the reservation.
    let mut request = order_request(&account, &[("WIDGET", "3")], PaymentType::OnAccount);
    if let Some(order) = request.order.as_mut() {
        order.lines[0].available_quantity = bss_e2e::decimal("1");
    }
    let back = place(&channel, &clerk, request).await;
    assert_eq!((status(&back), amount(&back.total)), (OrderStatus::Executed, "30.00"));
    credit_settles(&channel, &clerk, &account, "0.00", "30.00").await;
    let cancel_back = CancelBackOrderRequest {
        order_id: back.id.clone(),
        line_number: 1,
        quantity: None,
        reason: "discontinued".to_owned(),
        request_id: String::new(),
    };
    let after = orders.cancel_back_order(authorized(cancel_back.clone(), &clerk)).await.expect("cancelled");
    let line = after.into_inner().order.expect("order").lines.remove(0);
    assert_eq!((line.backordered_quantity, line.cancelled_quantity.map(|q| q.value)), (None, Some("2".to_owned())));
    credit_settles(&channel, &clerk, &account, "0.00", "10.00").await;
    let nothing = orders.cancel_back_order(authorized(cancel_back, &clerk)).await.expect_err("nothing waits");
    assert_eq!(bss_testkit::reason(&nothing), "NOTHING_BACK_ORDERED");

    // Invoiced, the shipped part captures what is left; then the order can
    // no longer be cancelled.
    let invoiced = generate(&channel, &clerk, &account, &today(), true).await;
    assert_eq!(invoiced.iter().map(|invoice| amount(&invoice.total).to_owned()).collect::<Vec<_>>(), vec!["10.00"]);
    credit_settles(&channel, &clerk, &account, "10.00", "0.00").await;
    let late = CancelOrderRequest { id: back.id.clone(), reason: "too late".to_owned(), request_id: String::new() };
    assert_eq!(
        bss_testkit::reason(&orders.cancel_order(authorized(late, &clerk)).await.expect_err("invoiced")),
        "ORDER_INVOICED"
    );

    // A held order cancelled: its held order is withdrawn in credit, and an
    // approval afterwards finds nothing to approve.
    let policy = CreditPolicy { out_of_credit_action: CreditAction::HoldForApproval as i32, ..CreditPolicy::default() };
    set_credit_policy(&channel, &admin, &account, "100", policy).await;
    let held = place(&channel, &clerk, order_request(&account, &[("GADGET", "2")], PaymentType::OnAccount)).await;
    assert_eq!(status(&held), OrderStatus::HeldForApproval);
    let cancel = CancelOrderRequest { id: held.id.clone(), reason: "not needed".to_owned(), request_id: String::new() };
    orders.cancel_order(authorized(cancel, &clerk)).await.expect("cancelled");
    let approve = bss_proto::credit::ApproveHeldOrderRequest {
        held_order_id: held.held_order_id.clone(),
        note: "paid".to_owned(),
        request_id: String::new(),
    };
    // Credit withdrew it (HELD_ORDER_DECIDED), or had not seen the
    // cancellation yet and approved: then it releases what the approval
    // reserved as soon as it does. Either way nothing stays reserved.
    let answer = CreditServiceClient::new(channel.clone()).approve_held_order(authorized(approve, &admin)).await;
    if let Err(status) = answer {
        assert_eq!(bss_testkit::reason(&status), "HELD_ORDER_DECIDED");
    }
    credit_settles(&channel, &clerk, &account, "10.00", "0.00").await;
    let order_now = orders.get_order(authorized(GetOrderRequest { id: held.id.clone() }, &clerk)).await;
    assert_eq!(order_now.expect("order").into_inner().order.expect("order").status, OrderStatus::Cancelled as i32);
}

#[tokio::test]
async fn drafts_are_voided_invoices_credited_by_line_and_credit_refunded() {
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Correction Books", "EUR").await;
    let clerk = bss_testkit::token(tenant_id, &[Role::BillingClerk]);
    let channel = suite.gateway().await;
    create_product(&channel, &admin, "WIDGET", "10.00", "").await;
    create_product(&channel, &admin, "GADGET", "25.00", "").await;
    let account = create_account(&channel, &admin, ordering_account("FIX")).await;
    set_credit_terms(&channel, &admin, &account, "1000", None).await;
    let mut invoices = InvoiceServiceClient::new(channel.clone());
    let mut payments = PaymentServiceClient::new(channel.clone());
    place(&channel, &clerk, order_request(&account, &[("WIDGET", "2"), ("GADGET", "1")], PaymentType::OnAccount)).await;

    // A draft voided gives its charges back: the next invoice bills them.
    let drafts = generate(&channel, &clerk, &account, &today(), false).await;
    let void =
        VoidInvoiceRequest { id: drafts[0].id.clone(), reason: "wrong date".to_owned(), request_id: String::new() };
    let voided = invoices.void_invoice(authorized(void.clone(), &clerk)).await.expect("voided").into_inner();
    assert_eq!(voided.invoice.expect("invoice").status, InvoiceStatus::Voided as i32);
    let post = PostInvoiceRequest { id: drafts[0].id.clone(), request_id: String::new() };
    assert_eq!(
        bss_testkit::reason(&invoices.post_invoice(authorized(post, &clerk)).await.expect_err("void")),
        "INVOICE_VOIDED"
    );
    credit_settles(&channel, &clerk, &account, "0.00", "45.00").await;
    let posted = generate(&channel, &clerk, &account, &today(), true).await;
    assert_eq!(amount(&posted[0].total), "45.00");
    credit_settles(&channel, &clerk, &account, "45.00", "0.00").await;
    let void_posted = VoidInvoiceRequest { id: posted[0].id.clone(), ..void };
    assert_eq!(
        bss_testkit::reason(&invoices.void_invoice(authorized(void_posted, &clerk)).await.expect_err("posted")),
        "INVOICE_POSTED"
    );

    // A credit note for the gadget line settles the invoice by its amount;
    // the same line cannot be credited again.
    let credit_line = |line_number| CreateCreditNoteRequest {
        account_id: account.clone(),
        reason: "returned".to_owned(),
        invoice_id: posted[0].id.clone(),
        lines: vec![CreditedLine { line_number, amount: None }],
        ..CreateCreditNoteRequest::default()
    };
    let gadget_line =
        1 + posted[0].lines.iter().position(|line| line.description.starts_with("GADGET")).expect("gadget") as i32;
    let note = payments.create_credit_note(authorized(credit_line(gadget_line), &clerk)).await.expect("note");
    assert_eq!(amount(&note.into_inner().credit_note.expect("note").amount), "25.00");
    let again = payments.create_credit_note(authorized(credit_line(gadget_line), &clerk)).await.expect_err("once");
    assert_eq!(bss_testkit::reason(&again), "LINE_ALREADY_CREDITED");
    credit_settles(&channel, &clerk, &account, "20.00", "0.00").await;

    // Paid, then the rest credited whole: 20.00 of credit the account holds,
    // refunded once and never beyond it.
    let pay = RecordPaymentRequest {
        payment: Some(Payment { account_id: account.clone(), amount: eur("20.00"), ..Payment::default() }),
        invoice_id: String::new(),
        request_id: String::new(),
    };
    payments.record_payment(authorized(pay, &clerk)).await.expect("paid");
    let whole = CreateCreditNoteRequest {
        account_id: account.clone(),
        reason: "goodwill".to_owned(),
        invoice_id: posted[0].id.clone(),
        whole_invoice: true,
        ..CreateCreditNoteRequest::default()
    };
    let whole = payments.create_credit_note(authorized(whole, &clerk)).await.expect("note").into_inner();
    let whole = whole.credit_note.expect("note");
    assert_eq!((amount(&whole.amount), amount(&whole.unallocated)), ("20.00", "20.00"));
    assert_eq!(amount(&billing_balance(&channel, &clerk, &account).await.balance), "-20.00");
    credit_settles(&channel, &clerk, &account, "-20.00", "0.00").await;
    let refund = |value: &str| RefundCreditRequest {
        account_id: account.clone(),
        amount: eur(value),
        reason: "bank transfer".to_owned(),
        request_id: format!("refund-{value}"),
    };
    let too_much = payments.refund_credit(authorized(refund("20.01"), &clerk)).await.expect_err("too much");
    assert_eq!(bss_testkit::reason(&too_much), "REFUND_EXCEEDS_CREDIT");
    let refunded = payments.refund_credit(authorized(refund("20.00"), &clerk)).await.expect("refunded").into_inner();
    let retried = payments.refund_credit(authorized(refund("20.00"), &clerk)).await.expect("retry").into_inner();
    assert_eq!(refunded.refund.expect("refund").id, retried.refund.expect("refund").id, "refunded once");
    assert_eq!(amount(&billing_balance(&channel, &clerk, &account).await.balance), "0.00");
    credit_settles(&channel, &clerk, &account, "0.00", "0.00").await;
    let listed = bss_proto::billing::ListTransactionsRequest { account_id: account.clone(), ..Default::default() };
    let transactions = bss_proto::billing::ledger_service_client::LedgerServiceClient::new(channel.clone())
        .list_transactions(authorized(listed, &clerk))
        .await
        .expect("enquiry")
        .into_inner()
        .transactions;
    let refunds: Vec<&str> = transactions
        .iter()
        .filter(|transaction| transaction.kind == TransactionKind::Refund as i32)
        .map(|transaction| amount(&transaction.amount))
        .collect();
    assert_eq!(refunds, vec!["20.00"], "a refund is a debit in the enquiry");
}

#[tokio::test]
async fn free_lines_long_request_ids_and_cancelled_back_orders_keep_reservations_right() {
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Corner Books", "EUR").await;
    let clerk = bss_testkit::token(tenant_id, &[Role::BillingClerk]);
    let channel = suite.gateway().await;
    create_product(&channel, &admin, "FREE", "0.00", "").await;
    create_product(&channel, &admin, "WIDGET", "10.00", "").await;
    let account = create_account(&channel, &admin, ordering_account("CORNER")).await;
    set_credit_terms(&channel, &admin, &account, "1000", None).await;

    // A 128-character request id: credit knows the order by a short
    // reference, and a retry reserves once.
    let mut request = order_request(&account, &[("FREE", "1"), ("WIDGET", "2")], PaymentType::OnAccount);
    request.request_id = "r".repeat(128);
    if let Some(order) = request.order.as_mut() {
        order.lines[1].available_quantity = bss_e2e::decimal("0");
    }
    let order = place(&channel, &clerk, request.clone()).await;
    assert_eq!(status(&order), OrderStatus::Executed, "{order:?}");
    assert!(order.reference.len() <= 100, "{}", order.reference);
    let again = place(&channel, &clerk, request).await;
    assert_eq!(again.id, order.id);
    credit_settles(&channel, &clerk, &account, "0.00", "20.00").await;

    // Only the free line ships: its invoice bills 0.00 of the order, and
    // credit keeps the 20.00 the back order still needs.
    let invoiced = generate(&channel, &clerk, &account, &today(), true).await;
    assert_eq!(invoiced.iter().map(|invoice| amount(&invoice.total).to_owned()).collect::<Vec<_>>(), vec!["0.00"]);
    credit_settles(&channel, &clerk, &account, "0.00", "20.00").await;

    // A cancelled back order is no back order any more.
    let mut orders = OrderServiceClient::new(channel.clone());
    let back_orders = |orders: &mut OrderServiceClient<Channel>| {
        let list = ListOrdersRequest { account_id: account.clone(), back_ordered_only: true, ..Default::default() };
        let mut orders = orders.clone();
        let clerk = clerk.clone();
        async move { orders.list_orders(authorized(list, &clerk)).await.expect("listed").into_inner().orders.len() }
    };
    assert_eq!(back_orders(&mut orders).await, 1);
    let cancel = CancelBackOrderRequest {
        order_id: order.id.clone(),
        line_number: 2,
        quantity: None,
        reason: "discontinued".to_owned(),
        request_id: String::new(),
    };
    orders.cancel_back_order(authorized(cancel, &clerk)).await.expect("cancelled");
    assert_eq!(back_orders(&mut orders).await, 0);
    credit_settles(&channel, &clerk, &account, "0.00", "0.00").await;
}

#[tokio::test]
async fn a_period_on_a_draft_holds_its_cancellation_and_a_cancelled_subscription_owes_the_days_it_ran() {
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Period Books", "EUR").await;
    let clerk = bss_testkit::token(tenant_id, &[Role::BillingClerk]);
    let channel = suite.gateway().await;
    create_product(&channel, &admin, "PLAN", "30.00", "").await;
    let account = create_account(&channel, &admin, ordering_account("PERIOD")).await;
    set_credit_terms(&channel, &admin, &account, "1000", None).await;
    let mut subscriptions = SubscriptionServiceClient::new(channel.clone());
    let subscribe = || subscription_request(&account, "PLAN", "1", PaymentType::OnAccount);

    // Charged on a draft today: cancelling is refused while the draft
    // holds the period (nothing written, credit keeps the reservation);
    // posted, the draft captures it, and cancelled then, on the period's
    // first day, the period is credited whole.
    let first = subscriptions.create_subscription(authorized(subscribe(), &clerk)).await.expect("subscribed");
    let first = first.into_inner().subscription.expect("subscription");
    let drafts = generate(&channel, &clerk, &account, &today(), false).await;
    assert_eq!(drafts.len(), 1);
    let cancel = CancelSubscriptionRequest { id: first.id.clone(), request_id: String::new(), ..Default::default() };
    let refused = subscriptions.cancel_subscription(authorized(cancel.clone(), &clerk)).await;
    assert_eq!(bss_testkit::reason(&refused.expect_err("on a draft")), "SUBSCRIPTION_PERIOD_ON_DRAFT");
    credit_settles(&channel, &clerk, &account, "0.00", "30.00").await;
    let post = PostInvoiceRequest { id: drafts[0].id.clone(), request_id: String::new() };
    InvoiceServiceClient::new(channel.clone()).post_invoice(authorized(post, &clerk)).await.expect("posted");
    credit_settles(&channel, &clerk, &account, "30.00", "0.00").await;
    subscriptions.cancel_subscription(authorized(cancel, &clerk)).await.expect("cancelled");
    credit_settles(&channel, &clerk, &account, "0.00", "0.00").await;

    // A subscription started yesterday and cancelled today before any
    // invoice: the day it ran is still owed (its month's share, by the
    // day), so the account is not final and the reservation stays for that
    // invoice, which captures it whole.
    let second = subscriptions.create_subscription(authorized(subscribe(), &clerk)).await.expect("subscribed");
    let second = second.into_inner().subscription.expect("subscription");
    let database = sqlx::PgPool::connect(suite.database_url()).await.expect("database");
    sqlx::query("UPDATE billing.subscriptions SET start_date = current_date - 1 WHERE id = $1::uuid")
        .bind(&second.id)
        .execute(&database)
        .await
        .expect("started yesterday");
    let cancel = CancelSubscriptionRequest { id: second.id.clone(), request_id: String::new(), ..Default::default() };
    subscriptions.cancel_subscription(authorized(cancel, &clerk)).await.expect("cancelled");
    let delete = DeleteAccountRequest { id: account.clone(), etag: String::new(), request_id: String::new() };
    let refused = AccountServiceClient::new(channel.clone()).delete_account(authorized(delete, &admin)).await;
    let named = bss_testkit::precondition_types(&refused.expect_err("refused"));
    assert!(named.contains(&"CHARGES_NOT_INVOICED".to_owned()), "{named:?}");
    credit_settles(&channel, &clerk, &account, "0.00", "30.00").await;
    let invoiced = generate(&channel, &clerk, &account, &today(), true).await;
    let yesterday = bss_platform::time::now().date_naive() - chrono::Days::new(1);
    let month = (yesterday.checked_add_months(chrono::Months::new(1)).expect("date") - yesterday).num_days();
    let one_day = (rust_decimal::Decimal::new(3000, 2) / rust_decimal::Decimal::from(month))
        .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    assert_eq!(
        invoiced.iter().map(|invoice| amount(&invoice.total).to_owned()).collect::<Vec<_>>(),
        vec![one_day.to_string()]
    );
    credit_settles(&channel, &clerk, &account, &one_day.to_string(), "0.00").await;
}

#[tokio::test]
async fn a_held_order_decided_before_billing_stored_it_is_decided_as_it_is_stored() {
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Early Books", "EUR").await;
    let clerk = bss_testkit::token(tenant_id, &[Role::BillingClerk]);
    let channel = suite.gateway().await;
    create_product(&channel, &admin, "GADGET", "80.00", "").await;
    let account = create_account(&channel, &admin, ordering_account("EARLY")).await;
    let policy = CreditPolicy { out_of_credit_action: CreditAction::HoldForApproval as i32, ..CreditPolicy::default() };
    set_credit_policy(&channel, &admin, &account, "50", policy).await;

    // What billing asks credit for PlaceOrder "early-1", asked first (as a
    // PlaceOrder whose own commit failed did), then approved at once.
    let asked = bss_proto::credit::AuthorizeOrderRequest {
        request_id: "order:early-1".to_owned(),
        account_id: account.clone(),
        order_reference: "order:early-1".to_owned(),
        amount: eur("80.00"),
        payment_type: PaymentType::OnAccount as i32,
        event_kind: EventKind::Order as i32,
        payers: Vec::new(),
        keep_until_invoiced: true,
        prepay_over_limit: false,
    };
    let mut credit = CreditServiceClient::new(channel.clone());
    let held = credit.authorize_order(authorized(asked, &clerk)).await.expect("held").into_inner();
    let held_order = held.held_order.expect("held order");
    let approve = bss_proto::credit::ApproveHeldOrderRequest {
        held_order_id: held_order.id.clone(),
        note: "paid".to_owned(),
        request_id: String::new(),
    };
    credit.approve_held_order(authorized(approve, &admin)).await.expect("approved");
    // Billing has seen the approval when its stream got past it.
    let database = sqlx::PgPool::connect(suite.database_url()).await.expect("database");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let kept: Option<bool> =
            sqlx::query_scalar("SELECT approved FROM billing.held_decisions WHERE held_order_id = $1::uuid")
                .bind(&held_order.id)
                .fetch_optional(&database)
                .await
                .expect("read");
        if kept == Some(true) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "billing never kept the decision");
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }

    // The retried PlaceOrder gets credit's first answer (held) and the
    // approval that came meanwhile: the order is executed, reserved once.
    let mut request = order_request(&account, &[("GADGET", "1")], PaymentType::OnAccount);
    request.request_id = "early-1".to_owned();
    let order = place(&channel, &clerk, request).await;
    assert_eq!(status(&order), OrderStatus::Executed, "{order:?}");
    assert_eq!(order.held_order_id, held_order.id);
    assert!(order.payers.iter().all(|payer| !payer.reservation_id.is_empty()), "{order:?}");
    credit_settles(&channel, &clerk, &account, "0.00", "80.00").await;
    let invoiced = generate(&channel, &clerk, &account, &today(), true).await;
    assert_eq!(invoiced.len(), 1);
    credit_settles(&channel, &clerk, &account, "80.00", "0.00").await;
}

#[tokio::test]
async fn a_started_period_counts_against_available_credit_until_its_invoice_captures_it() {
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Accrual Books", "EUR").await;
    let clerk = bss_testkit::token(tenant_id, &[Role::BillingClerk]);
    let channel = suite.gateway().await;
    create_product(&channel, &admin, "PLAN", "30.00", "").await;
    let account = create_account(&channel, &admin, ordering_account("ACCRUE")).await;
    set_credit_terms(&channel, &admin, &account, "100", None).await;
    let request = subscription_request(&account, "PLAN", "1", PaymentType::OnAccount);
    let mut subscriptions = SubscriptionServiceClient::new(channel.clone());
    let subscription = subscriptions.create_subscription(authorized(request, &clerk)).await;
    let subscription = subscription.expect("subscribed").into_inner().subscription.expect("subscription");
    credit_settles(&channel, &clerk, &account, "0.00", "30.00").await;

    // A month on (the subscription's start moved back a month): its second
    // period started today. Billing charges it within seconds and credit
    // reserves it, before any invoice: 100 - 60 leaves 40 to spend.
    let pool = sqlx::PgPool::connect(suite.database_url()).await.expect("database");
    sqlx::query(
        "UPDATE billing.subscriptions SET start_date = start_date - interval '1 month'
         WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant_id)
    .bind(subscription.id.parse::<uuid::Uuid>().expect("id"))
    .execute(&pool)
    .await
    .expect("a month on");
    let position = credit_settles(&channel, &clerk, &account, "0.00", "60.00").await;
    assert_eq!(amount(&position.available_credit), "40.00");
    let reserved = reservations(&channel, &clerk, &account).await;
    let references: Vec<String> = reserved.iter().map(|reservation| reservation.order_reference.clone()).collect();
    assert_eq!(references, vec![format!("{}#1", subscription.reference), subscription.reference.clone()]);

    // What the subscription owes cannot be spent: an order of 50.00 is
    // refused, one of 30.00 goes through.
    let over = place(&channel, &clerk, order_request(&account, &[("PLAN", "2")], PaymentType::OnAccount)).await;
    assert_eq!(status(&over), OrderStatus::Rejected);
    let within = place(&channel, &clerk, order_request(&account, &[("PLAN", "1")], PaymentType::OnAccount)).await;
    assert_eq!(status(&within), OrderStatus::Executed);

    credit_settles(&channel, &clerk, &account, "0.00", "90.00").await;

    // Cancelled on the period's first day, the subscription owes that period
    // no more: its charge is taken back and credit frees its reservation.
    let cancel =
        CancelSubscriptionRequest { id: subscription.id.clone(), request_id: String::new(), ..Default::default() };
    subscriptions.cancel_subscription(authorized(cancel, &clerk)).await.expect("cancelled");
    credit_settles(&channel, &clerk, &account, "0.00", "60.00").await;

    // The invoice bills the first period and the order, capturing both
    // reservations: billing and credit agree, nothing is counted twice.
    let invoiced = generate(&channel, &clerk, &account, &today(), true).await;
    assert_eq!(invoiced.iter().map(|invoice| amount(&invoice.total).to_owned()).collect::<Vec<_>>(), vec!["60.00"]);
    credit_settles(&channel, &clerk, &account, "60.00", "0.00").await;
    assert_eq!(amount(&billing_balance(&channel, &clerk, &account).await.balance), "60.00");
}

/// The account's wallet as billing shows it: (balance, transactions as
/// (kind, amount, balance after), newest first).
async fn wallet_of(
    channel: &Channel,
    token: &str,
    account_id: &str,
) -> (String, Vec<(WalletTransactionKind, String, String)>) {
    use bss_proto::billing::wallet_service_client::WalletServiceClient;
    let mut wallets = WalletServiceClient::new(channel.clone());
    let get = GetWalletRequest { account_id: account_id.to_owned() };
    let wallet = wallets.get_wallet(authorized(get, token)).await.expect("wallet").into_inner().wallet.expect("wallet");
    let list = ListWalletTransactionsRequest { account_id: account_id.to_owned(), ..Default::default() };
    let listed = wallets.list_wallet_transactions(authorized(list, token)).await.expect("transactions").into_inner();
    let moves = listed
        .transactions
        .iter()
        .map(|moved| {
            let kind = WalletTransactionKind::try_from(moved.kind).unwrap_or_default();
            (kind, amount(&moved.amount).to_owned(), amount(&moved.balance_after).to_owned())
        })
        .collect();
    (amount(&wallet.balance).to_owned(), moves)
}

#[tokio::test]
async fn a_wallet_pays_what_would_pass_the_credit_limit_and_the_invoices_it_is_opted_in_for() {
    use WalletTransactionKind::{InvoicePayment, OrderPayment, OrderRefund, TopUp};
    use bss_proto::accounts::TerminateAccountRequest;
    use bss_proto::billing::wallet_service_client::WalletServiceClient;
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Wallet Books", "EUR").await;
    let clerk = bss_testkit::token(tenant_id, &[Role::BillingClerk]);
    let channel = suite.gateway().await;
    create_product(&channel, &admin, "WIDGET", "40.00", "TOOLS").await;
    let account = create_account(&channel, &admin, paying_every_way("SAVER")).await;
    set_credit_terms(&channel, &admin, &account, "100", None).await;
    let mut wallets = WalletServiceClient::new(channel.clone());

    // A wallet opened for both kinds of payment and topped up once, however
    // often the top-up is retried.
    let open = OpenWalletRequest {
        account_id: account.clone(),
        use_for_purchases: true,
        use_for_subscriptions: true,
        request_id: "open-1".to_owned(),
    };
    let opened = wallets.open_wallet(authorized(open.clone(), &clerk)).await.expect("opened").into_inner();
    assert_eq!(amount(&opened.wallet.expect("wallet").balance), "0.00");
    let again = OpenWalletRequest { request_id: "open-2".to_owned(), ..open };
    let refused = wallets.open_wallet(authorized(again, &clerk)).await.expect_err("one wallet");
    assert_eq!(refused.code(), Code::AlreadyExists);
    let top_up = |paid: &str, id: &str| TopUpWalletRequest {
        account_id: account.clone(),
        amount: eur(paid),
        reason: "cash at the counter".to_owned(),
        request_id: id.to_owned(),
    };
    let first = wallets.top_up_wallet(authorized(top_up("200.00", "top-up-1"), &clerk)).await.expect("topped up");
    let retried = wallets.top_up_wallet(authorized(top_up("200.00", "top-up-1"), &clerk)).await.expect("retried");
    assert_eq!(first.into_inner().transaction.expect("moved").id, retried.into_inner().transaction.expect("moved").id);
    assert_eq!(wallet_of(&channel, &clerk, &account).await.0, "200.00");
    let negative = wallets.top_up_wallet(authorized(top_up("-5.00", ""), &clerk)).await.expect_err("negative");
    assert_eq!(bss_testkit::violated_fields(&negative), vec!["amount.amount"]);
    assert!(format!("{negative:?}").contains("must be greater than zero"), "{negative:?}");
    let balance = billing_balance(&channel, &clerk, &account).await;
    assert_eq!(
        (amount(&balance.balance), amount(&balance.wallet_balance)),
        ("0.00", "200.00"),
        "a top-up owes nothing"
    );

    // Within the limit: credit as usual, the wallet untouched.
    let small = place(&channel, &clerk, order_request(&account, &[("WIDGET", "1")], PaymentType::OnAccount)).await;
    assert_eq!(status(&small), OrderStatus::Executed);
    assert_eq!(payers(&small.payers), vec![(account.clone(), "40.00".to_owned(), true)]);
    assert!(small.payment.is_none());

    // Past the limit: the wallet pays it whole at submission; credit
    // approves it as prepaid and reserves nothing.
    let big = place(&channel, &clerk, order_request(&account, &[("WIDGET", "3")], PaymentType::OnAccount)).await;
    assert_eq!(status(&big), OrderStatus::Executed, "{big:?}");
    assert_eq!(
        reasons(&big.reasons),
        vec![(account.clone(), "CREDIT_LIMIT_EXCEEDED".to_owned(), CreditAction::Prepaid)]
    );
    let paid = big.payment.clone().expect("paid");
    assert!(paid.from_wallet);
    assert_eq!((paid.status, amount(&paid.amount)), (OrderPaymentStatus::Captured as i32, "120.00"));
    assert_eq!(payers(&big.payers), vec![(account.clone(), "120.00".to_owned(), false)]);
    let credit = credit_status(&channel, &clerk, &account).await;
    assert_eq!((amount(&credit.reserved), amount(&credit.available_credit)), ("40.00", "60.00"), "no credit used");
    let (left, moves) = wallet_of(&channel, &clerk, &account).await;
    assert_eq!(left, "80.00");
    assert_eq!(moves[0], (OrderPayment, "120.00".to_owned(), "80.00".to_owned()));
    assert_eq!(moves[1], (TopUp, "200.00".to_owned(), "200.00".to_owned()));

    // More than the wallet holds: the credit policy decides as ever.
    let refused = place(&channel, &clerk, order_request(&account, &[("WIDGET", "3")], PaymentType::OnAccount)).await;
    assert_eq!(status(&refused), OrderStatus::Rejected);
    assert_eq!(
        reasons(&refused.reasons),
        vec![(account.clone(), "CREDIT_LIMIT_EXCEEDED".to_owned(), CreditAction::Block)]
    );
    assert_eq!(wallet_of(&channel, &clerk, &account).await.0, "80.00");

    // Invoiced with the prepaid order still standing: only the order on
    // credit; the wallet pays that invoice as it is posted, and credit
    // sees it settled.
    let invoices = generate(&channel, &clerk, &account, &today(), true).await;
    assert_eq!(invoices.len(), 1);
    assert_eq!(amount(&invoices[0].total), "40.00", "the prepaid order is never invoiced");
    credit_settles(&channel, &clerk, &account, "0.00", "0.00").await;
    let balance = billing_balance(&channel, &clerk, &account).await;
    assert_eq!((amount(&balance.balance), amount(&balance.wallet_balance)), ("0.00", "40.00"));
    let (_, moves) = wallet_of(&channel, &clerk, &account).await;
    assert_eq!(moves[0], (InvoicePayment, "40.00".to_owned(), "40.00".to_owned()));
    let nothing = PayFromWalletRequest { account_id: account.clone(), ..Default::default() };
    let refused = wallets.pay_from_wallet(authorized(nothing, &clerk)).await.expect_err("nothing owed");
    assert_eq!((refused.code(), bss_testkit::reason(&refused).as_str()), (Code::FailedPrecondition, "NOTHING_OWED"));

    // Cancelled, the prepaid order's money goes back into the wallet.
    let cancel =
        CancelOrderRequest { id: big.id.clone(), reason: "changed mind".to_owned(), request_id: String::new() };
    let cancelled = OrderServiceClient::new(channel.clone()).cancel_order(authorized(cancel, &clerk)).await;
    let cancelled = cancelled.expect("cancelled").into_inner().order.expect("order");
    assert_eq!(cancelled.payment.expect("payment").status, OrderPaymentStatus::Refunded as i32);
    let (left, moves) = wallet_of(&channel, &clerk, &account).await;
    assert_eq!((left.as_str(), &moves[0]), ("160.00", &(OrderRefund, "120.00".to_owned(), "160.00".to_owned())));
    assert_eq!(amount(&credit_status(&channel, &clerk, &account).await.reserved), "0.00");

    // A direct deposit order the wallet prepays asks for no transfer.
    let deposit =
        place(&channel, &clerk, order_request(&account, &[("WIDGET", "3")], PaymentType::DirectDeposit)).await;
    assert_eq!(status(&deposit), OrderStatus::Executed, "{deposit:?}");
    assert!(deposit.payment.as_ref().is_some_and(|payment| payment.from_wallet));
    assert!(deposit.payment_instructions.is_none(), "paid already: {:?}", deposit.payment_instructions);
    assert_eq!(wallet_of(&channel, &clerk, &account).await.0, "40.00");

    // Not opted in for subscriptions any more: the next invoice is owed
    // until the wallet is asked to pay it, never more than it owes.
    let prefs = SetWalletPreferencesRequest {
        account_id: account.clone(),
        use_for_purchases: true,
        use_for_subscriptions: false,
        request_id: String::new(),
    };
    let set = wallets.set_wallet_preferences(authorized(prefs, &clerk)).await.expect("set").into_inner();
    assert!(!set.wallet.expect("wallet").use_for_subscriptions);
    place(&channel, &clerk, order_request(&account, &[("WIDGET", "1")], PaymentType::OnAccount)).await;
    let owed = generate(&channel, &clerk, &account, &today(), true).await;
    assert_eq!(owed.len(), 1);
    credit_settles(&channel, &clerk, &account, "40.00", "0.00").await;
    let too_much = PayFromWalletRequest { account_id: account.clone(), amount: eur("40.01"), ..Default::default() };
    let refused = wallets.pay_from_wallet(authorized(too_much, &clerk)).await.expect_err("too much");
    assert_eq!(bss_testkit::reason(&refused), "AMOUNT_EXCEEDS_OWED");
    let pay =
        PayFromWalletRequest { account_id: account.clone(), request_id: "pay-1".to_owned(), ..Default::default() };
    let paid = wallets.pay_from_wallet(authorized(pay, &clerk)).await.expect("paid").into_inner();
    let payment = paid.payment.expect("payment");
    assert_eq!(payment.allocations.len(), 1);
    assert_eq!(
        (payment.allocations[0].invoice_id.as_str(), payment.allocations[0].settled),
        (owed[0].id.as_str(), true)
    );
    assert_eq!(paid.transaction.expect("moved").payment_id, payment.id);
    credit_settles(&channel, &clerk, &account, "0.00", "0.00").await;
    let balance = billing_balance(&channel, &clerk, &account).await;
    assert_eq!((amount(&balance.balance), amount(&balance.wallet_balance)), ("0.00", "0.00"));

    // Money left in a wallet keeps its account from being terminated.
    wallets.top_up_wallet(authorized(top_up("5.00", "top-up-2"), &clerk)).await.expect("topped up");
    let terminate =
        TerminateAccountRequest { id: account.clone(), reason: "closing".to_owned(), request_id: String::new() };
    let refused = AccountServiceClient::new(channel.clone()).terminate_account(authorized(terminate, &admin)).await;
    let refused = refused.expect_err("money in the wallet");
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(format!("{refused:?}").contains("WALLET_NOT_EMPTY"), "{refused:?}");
    // Paid back to the customer, the wallet is empty and the account can go.
    let pay_out = PayOutWalletRequest {
        account_id: account.clone(),
        reason: "paid back by transfer".to_owned(),
        ..Default::default()
    };
    let out = wallets.pay_out_wallet(authorized(pay_out, &clerk)).await.expect("paid out").into_inner();
    let out = out.transaction.expect("moved");
    assert_eq!((amount(&out.amount), amount(&out.balance_after)), ("5.00", "0.00"));
    let terminate =
        TerminateAccountRequest { id: account.clone(), reason: "closing".to_owned(), request_id: String::new() };
    AccountServiceClient::new(channel.clone())
        .terminate_account(authorized(terminate, &admin))
        .await
        .expect("terminated");
}
