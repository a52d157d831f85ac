//! Orders paid by other accounts (bill-to parents, funding group parents):
//! each payer's credit decides its share and holds its reservation, held
//! orders reserve each share on approval, racing children never take their
//! parent past its limit; reservations are captured and released in part;
//! billing's cancellations and refunds move what credit holds; and credit
//! says what it holds open for an account.

use bss_proto::billing::billing_event::Payload as Billing;
use bss_proto::billing::{InvoicePosted, OrderAmount, OrderCancelled, OrderPayer, RefundPosted, SubscriptionCancelled};
use bss_proto::credit::*;
use bss_proto::types::PaymentType;
use bss_testapp::credit::*;
use bss_testkit::authorized;
use rust_decimal::Decimal;
use tonic::Code;
use uuid::Uuid;

fn share(account_id: &str, value: &str) -> PayerShare {
    PayerShare { account_id: account_id.to_owned(), amount: Some(money(value, "EUR")) }
}

fn paid_by(ordering: &str, value: &str, payers: Vec<PayerShare>) -> AuthorizeOrderRequest {
    AuthorizeOrderRequest { payers, ..order(ordering, value, "EUR", PaymentType::OnAccount) }
}

#[tokio::test]
async fn each_payers_share_is_decided_and_reserved_on_that_payer() {
    let mut app = spawn().await;
    let (tenant_id, admin) = app.tenant("EUR").await;
    let clerk = billing_clerk(tenant_id);
    let parent = app.account_with_limit(&admin, "100", CreditAction::Block).await;
    let child = app.account(&admin).await; // the tenant's default limit: 0

    let both = app
        .credit
        .authorize_order(authorized(paid_by(&child, "100.00", vec![share(&parent, "100.00")]), &clerk))
        .await
        .expect("decided")
        .into_inner();
    assert_eq!(both.decision, Decision::Approved as i32, "{both:?}");
    assert_eq!(both.shares.len(), 1);
    let decided = &both.shares[0];
    assert_eq!(decided.account_id, parent);
    assert_eq!((amount(&decided.available_before), amount(&decided.available_after)), ("100.00", "0.00"));
    let reservation = decided.reservation.clone().expect("reserved");
    assert_eq!(reservation.account_id, parent);
    assert_eq!(amount(&app.status(&clerk, &parent).await.reserved), "100.00");
    assert_eq!(amount(&app.status(&clerk, &child).await.reserved), "0.00");

    // A child paying part itself: both limits decide, both reserve.
    let split = paid_by(&child, "30.00", vec![share(&parent, "20.00"), share(&child, "10.00")]);
    let refused = app.credit.authorize_order(authorized(split, &clerk)).await.expect("decided").into_inner();
    assert_eq!(refused.decision, Decision::Blocked as i32);
    let named: Vec<(&str, &str)> =
        refused.reasons.iter().map(|reason| (reason.account_id.as_str(), reason.code.as_str())).collect();
    assert_eq!(named, vec![(child.as_str(), "CREDIT_LIMIT_EXCEEDED"), (parent.as_str(), "CREDIT_LIMIT_EXCEEDED")]);
    assert!(refused.shares.iter().all(|share| share.reservation.is_none()), "nothing reserved when refused");
    assert_eq!(amount(&app.status(&clerk, &parent).await.reserved), "100.00");

    // The ordering account's hold applies although it pays nothing.
    let hold = PutOnHoldRequest { account_id: child.clone(), reason: "dispute".to_owned(), request_id: String::new() };
    app.credit.put_on_hold(authorized(hold, &admin)).await.expect("on hold");
    let big_parent = app.account_with_limit(&admin, "1000", CreditAction::Block).await;
    let held = paid_by(&child, "5.00", vec![share(&big_parent, "5.00")]);
    let held = app.credit.authorize_order(authorized(held, &clerk)).await.expect("decided").into_inner();
    assert_eq!(held.decision, Decision::Blocked as i32);
    assert_eq!(
        (held.reasons[0].account_id.as_str(), held.reasons[0].code.as_str()),
        (child.as_str(), "ACCOUNT_ON_HOLD")
    );
}

#[tokio::test]
async fn bad_payers_name_each_bad_field() {
    let mut app = spawn().await;
    let (tenant_id, admin) = app.tenant("EUR").await;
    let clerk = billing_clerk(tenant_id);
    let parent = app.account(&admin).await;
    let child = app.account(&admin).await;
    // Another tenant's account is no payer.
    let (_, other_admin) = app.tenant("EUR").await;
    let stranger = app.account(&other_admin).await;
    let client = app.credit.clone();
    let refused = |request: AuthorizeOrderRequest| {
        let mut credit = client.clone();
        let clerk = clerk.clone();
        async move { credit.authorize_order(authorized(request, &clerk)).await.expect_err("refused") }
    };
    let sum = refused(paid_by(&child, "10.00", vec![share(&parent, "9.99")])).await;
    assert_eq!(violated_fields(&sum), vec!["payers"]);
    let twice = refused(paid_by(&child, "10.00", vec![share(&parent, "5.00"), share(&parent, "5.00")])).await;
    assert_eq!(violated_fields(&twice), vec!["payers[1].account_id"]);
    let zero = refused(paid_by(&child, "10.00", vec![share(&parent, "0"), share(&child, "10.00")])).await;
    assert_eq!(violated_fields(&zero), vec!["payers[0].amount.amount"]);
    let currency = PayerShare { account_id: parent.clone(), amount: Some(money("10.00", "USD")) };
    let currency = refused(paid_by(&child, "10.00", vec![currency])).await;
    assert_eq!(violated_fields(&currency), vec!["payers[0].amount.currency_code"]);
    let unknown = refused(paid_by(&child, "10.00", vec![share(&Uuid::now_v7().to_string(), "10.00")])).await;
    assert_eq!(violated_fields(&unknown), vec!["payers[0].account_id"]);
    let many: Vec<PayerShare> = (0..11).map(|_| share(&parent, "1.00")).collect();
    let many = refused(paid_by(&child, "11.00", many)).await;
    assert_eq!(violated_fields(&many), vec!["payers"]);
    let stranger = refused(paid_by(&child, "10.00", vec![share(&stranger, "10.00")])).await;
    assert_eq!(violated_fields(&stranger), vec!["payers[0].account_id"]);
}

#[tokio::test]
async fn a_held_order_of_two_payers_reserves_each_share_when_approved() {
    let mut app = spawn().await;
    let (tenant_id, admin) = app.tenant("EUR").await;
    let clerk = billing_clerk(tenant_id);
    let manager = credit_manager(tenant_id);
    let parent = app.account_with_limit(&admin, "50", CreditAction::HoldForApproval).await;
    let child = app.account_with_limit(&admin, "500", CreditAction::Block).await;
    let request = paid_by(&child, "100.00", vec![share(&parent, "80.00"), share(&child, "20.00")]);
    let held = app.credit.authorize_order(authorized(request, &clerk)).await.expect("decided").into_inner();
    assert_eq!(held.decision, Decision::HeldForApproval as i32);
    let held_order = held.held_order.expect("held order");
    let shares: Vec<(String, String)> =
        held_order.payers.iter().map(|payer| (payer.account_id.clone(), amount(&payer.amount).to_owned())).collect();
    assert_eq!(shares, vec![(parent.clone(), "80.00".to_owned()), (child.clone(), "20.00".to_owned())]);

    let approve = ApproveHeldOrderRequest {
        held_order_id: held_order.id.clone(),
        note: "paid".to_owned(),
        request_id: String::new(),
    };
    let approved = app.credit.approve_held_order(authorized(approve, &manager)).await.expect("approved").into_inner();
    let reserved: Vec<(String, String)> = approved
        .reservations
        .iter()
        .map(|reservation| (reservation.account_id.clone(), amount(&reservation.amount).to_owned()))
        .collect();
    assert_eq!(reserved, shares, "each share on its payer");
    assert_eq!(approved.held_order.expect("held").reservation_ids.len(), 2);
    assert_eq!(amount(&app.status(&clerk, &parent).await.reserved), "80.00");
    assert_eq!(amount(&app.status(&clerk, &child).await.reserved), "20.00");
}

#[tokio::test]
async fn racing_children_never_take_their_parent_past_its_limit() {
    let mut app = spawn().await;
    let (tenant_id, admin) = app.tenant("EUR").await;
    let clerk = billing_clerk(tenant_id);
    let parent = app.account_with_limit(&admin, "1000", CreditAction::Block).await;
    let mut children = Vec::new();
    for _ in 0..4 {
        children.push(app.account_with_limit(&admin, "1000", CreditAction::Block).await);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for call in 0..64usize {
        let child = children[call % children.len()].clone();
        let (parent, clerk, mut credit) = (parent.clone(), clerk.clone(), app.credit.clone());
        tasks.spawn(async move {
            // 30.00 on the parent and 10.00 on the child: at most 33 fit the
            // parent's limit, whatever the order they arrive in.
            let request = paid_by(&child, "40.00", vec![share(&parent, "30.00"), share(&child, "10.00")]);
            let answer = credit.authorize_order(authorized(request, &clerk)).await.expect("decided").into_inner();
            answer.decision == Decision::Approved as i32
        });
    }
    let approved = tasks.join_all().await.into_iter().filter(|approved| *approved).count();
    assert_eq!(approved, 33, "1000 / 30 = 33 shares fit");
    assert_eq!(amount(&app.status(&clerk, &parent).await.reserved), "990.00");
    let mut children_reserved = Decimal::ZERO;
    for child in &children {
        children_reserved += amount(&app.status(&clerk, child).await.reserved).parse::<Decimal>().expect("decimal");
    }
    assert_eq!(children_reserved, Decimal::new(33_000, 2), "each approval reserved 10.00 on its child, once");
}

#[tokio::test]
async fn reservations_are_captured_and_released_in_parts_and_billings_events_move_them() {
    let mut app = spawn().await;
    let (tenant_id, admin) = app.tenant("EUR").await;
    let clerk = billing_clerk(tenant_id);
    let account_id = app.account_with_limit(&admin, "1000", CreditAction::Block).await;
    let request = order(&account_id, "100.00", "EUR", PaymentType::OnAccount);
    let reference = request.order_reference.clone();
    let approved = app.credit.authorize_order(authorized(request, &clerk)).await.expect("decided").into_inner();
    let reservation_id = approved.reservation.expect("reserved").id;

    // Released in part by a credit manager; never more than is open.
    let release = |value: &str| ReleaseReservationRequest {
        reservation_id: reservation_id.clone(),
        request_id: String::new(),
        amount: Some(money(value, "EUR")),
    };
    let too_much = app.credit.release_reservation(authorized(release("100.01"), &clerk)).await.expect_err("too much");
    assert_eq!(reason(&too_much), "RELEASE_EXCEEDS_OPEN");
    let part = app.credit.release_reservation(authorized(release("10.00"), &clerk)).await.expect("released");
    let part = part.into_inner().reservation.expect("reservation");
    assert_eq!((part.state, amount(&part.open_amount)), (ReservationState::Open as i32, "90.00"));

    // An invoice billing 60.00 of the order captures 60.00; a back order's
    // cancellation releases 20.00; a second invoice captures the rest.
    let invoice = |value: &str| {
        Billing::InvoicePosted(InvoicePosted {
            invoice_id: Uuid::now_v7().to_string(),
            account_id: account_id.clone(),
            amount: Some(money(value, "EUR")),
            due_date: "2030-01-01".to_owned(),
            order_references: vec![reference.clone()],
            order_amounts: vec![OrderAmount { reference: reference.clone(), amount: Some(money(value, "EUR")) }],
        })
    };
    app.post(tenant_id, vec![invoice("60.00")]).await;
    let status = app.status(&clerk, &account_id).await;
    assert_eq!((amount(&status.balance), amount(&status.reserved)), ("60.00", "30.00"));
    let cancelled = Billing::OrderCancelled(OrderCancelled {
        order_id: Uuid::now_v7().to_string(),
        account_id: account_id.clone(),
        reference: reference.clone(),
        whole: false,
        released: vec![OrderPayer {
            account_id: account_id.clone(),
            amount: Some(money("20.00", "EUR")),
            reservation_id: String::new(),
        }],
        reason: "discontinued".to_owned(),
    });
    app.post(tenant_id, vec![cancelled]).await;
    assert_eq!(amount(&app.status(&clerk, &account_id).await.reserved), "10.00");
    app.post(tenant_id, vec![invoice("10.00")]).await;
    let status = app.status(&clerk, &account_id).await;
    assert_eq!((amount(&status.balance), amount(&status.reserved)), ("70.00", "0.00"));
    let closed = app.credit.release_reservation(authorized(release("1.00"), &clerk)).await.expect_err("closed");
    assert_eq!(reason(&closed), "RESERVATION_CLOSED");

    // A whole order cancelled releases every payer's reservation and
    // withdraws its held order; a subscription's cancellation the same.
    let parent = app.account_with_limit(&admin, "1000", CreditAction::Block).await;
    let split = paid_by(&account_id, "50.00", vec![share(&parent, "30.00"), share(&account_id, "20.00")]);
    let split_reference = split.order_reference.clone();
    app.credit.authorize_order(authorized(split, &clerk)).await.expect("decided");
    assert_eq!(amount(&app.status(&clerk, &parent).await.reserved), "30.00");
    let payer = |account: &str, value: &str| OrderPayer {
        account_id: account.to_owned(),
        amount: Some(money(value, "EUR")),
        reservation_id: String::new(),
    };
    let whole = |reference: &str| {
        Billing::OrderCancelled(OrderCancelled {
            order_id: Uuid::now_v7().to_string(),
            account_id: account_id.clone(),
            reference: reference.to_owned(),
            whole: true,
            released: vec![payer(&parent, "30.00"), payer(&account_id, "20.00")],
            reason: "changed mind".to_owned(),
        })
    };
    app.post(tenant_id, vec![whole(&split_reference), whole(&split_reference)]).await;
    assert_eq!(amount(&app.status(&clerk, &parent).await.reserved), "0.00");
    assert_eq!(amount(&app.status(&clerk, &account_id).await.reserved), "0.00", "applied twice, released once");
    let small = app.account_with_limit(&admin, "10", CreditAction::HoldForApproval).await;
    let activation = AuthorizeOrderRequest {
        event_kind: EventKind::SubscriptionActivation as i32,
        ..order(&small, "25.00", "EUR", PaymentType::OnAccount)
    };
    let activation_reference = activation.order_reference.clone();
    let held = app.credit.authorize_order(authorized(activation, &clerk)).await.expect("held").into_inner();
    let held_id = held.held_order.expect("held").id;
    let gone = Billing::SubscriptionCancelled(SubscriptionCancelled {
        subscription_id: Uuid::now_v7().to_string(),
        account_id: small.clone(),
        reference: activation_reference,
        payers: Vec::new(),
    });
    app.post(tenant_id, vec![gone]).await;
    let approve =
        ApproveHeldOrderRequest { held_order_id: held_id, note: "late".to_owned(), request_id: String::new() };
    let late = app.credit.approve_held_order(authorized(approve, &credit_manager(tenant_id))).await.expect_err("gone");
    assert_eq!((late.code(), reason(&late).as_str()), (Code::FailedPrecondition, "HELD_ORDER_DECIDED"));

    // A refund of credit the account held raises its balance.
    let refund = Billing::RefundPosted(RefundPosted {
        refund_id: Uuid::now_v7().to_string(),
        account_id: account_id.clone(),
        amount: Some(money("5.00", "EUR")),
    });
    app.post(tenant_id, vec![refund]).await;
    assert_eq!(amount(&app.status(&clerk, &account_id).await.balance), "75.00");
}

#[tokio::test]
async fn credit_says_what_it_holds_open_for_an_account() {
    let mut app = spawn().await;
    let (tenant_id, admin) = app.tenant("EUR").await;
    let clerk = billing_clerk(tenant_id);
    let parent = app.account_with_limit(&admin, "50", CreditAction::HoldForApproval).await;
    let child = app.account(&admin).await;
    let quiet = app.account(&admin).await;
    app.authorize(&clerk, &parent, "10.00", "EUR", PaymentType::OnAccount).await.expect("reserved");
    let held = paid_by(&child, "80.00", vec![share(&parent, "80.00")]);
    let held = app.credit.authorize_order(authorized(held, &clerk)).await.expect("decided").into_inner();
    assert_eq!(held.decision, Decision::HeldForApproval as i32);
    let check = CheckAccountsSettledRequest { account_ids: vec![parent.clone(), child.clone(), quiet.clone()] };
    let unsettled = app.credit.check_accounts_settled(authorized(check, &clerk)).await.expect("checked").into_inner();
    let mut found: Vec<(String, String, i64)> =
        unsettled.unsettled.into_iter().map(|item| (item.account_id, item.reason, item.count)).collect();
    found.sort();
    let mut expected = vec![
        (parent.clone(), "HELD_ORDERS_PENDING".to_owned(), 1),
        (parent.clone(), "RESERVATIONS_OPEN".to_owned(), 1),
        (child.clone(), "HELD_ORDERS_PENDING".to_owned(), 1),
    ];
    expected.sort();
    assert_eq!(found, expected, "nothing for the quiet account");
    let bad = CheckAccountsSettledRequest { account_ids: vec!["nope".to_owned()] };
    let bad = app.credit.check_accounts_settled(authorized(bad, &clerk)).await.expect_err("bad id");
    assert_eq!(violated_fields(&bad), vec!["account_ids[0]"]);
}

#[tokio::test]
async fn a_cancellation_racing_an_approval_never_leaves_credit_reserved() {
    let mut app = spawn().await;
    let (tenant_id, admin) = app.tenant("EUR").await;
    let clerk = billing_clerk(tenant_id);
    let manager = credit_manager(tenant_id);
    let parent = app.account_with_limit(&admin, "10", CreditAction::HoldForApproval).await;
    let child = app.account_with_limit(&admin, "10", CreditAction::HoldForApproval).await;
    let mut outcomes = [0usize; 2];
    for _ in 0..20 {
        let request = paid_by(&child, "50.00", vec![share(&parent, "30.00"), share(&child, "20.00")]);
        let reference = request.order_reference.clone();
        let held = app.credit.authorize_order(authorized(request, &clerk)).await.expect("held").into_inner();
        let held_id = held.held_order.expect("held order").id;
        let approve =
            ApproveHeldOrderRequest { held_order_id: held_id, note: "paid".to_owned(), request_id: String::new() };
        let payer = |account: &str, value: &str| OrderPayer {
            account_id: account.to_owned(),
            amount: Some(money(value, "EUR")),
            reservation_id: String::new(),
        };
        let cancelled = Billing::OrderCancelled(OrderCancelled {
            order_id: Uuid::now_v7().to_string(),
            account_id: child.clone(),
            reference,
            whole: true,
            released: vec![payer(&parent, "30.00"), payer(&child, "20.00")],
            reason: "changed mind".to_owned(),
        });
        let mut credit = app.credit.clone();
        let (approved, ()) = tokio::join!(
            credit.approve_held_order(authorized(approve, &manager)),
            app.post(tenant_id, vec![cancelled])
        );
        outcomes[usize::from(approved.is_ok())] += 1;
        assert_eq!(amount(&app.status(&clerk, &parent).await.reserved), "0.00", "{approved:?}");
        assert_eq!(amount(&app.status(&clerk, &child).await.reserved), "0.00", "{approved:?}");
    }
    println!("approvals that won the race, then released: {}; withdrawn first: {}", outcomes[1], outcomes[0]);
}

#[tokio::test]
async fn an_invoice_names_what_it_bills_zero_included_and_unknown_payers_are_skipped() {
    let mut app = spawn().await;
    let (tenant_id, admin) = app.tenant("EUR").await;
    let clerk = billing_clerk(tenant_id);
    let account_id = app.account_with_limit(&admin, "1000", CreditAction::Block).await;
    let request = AuthorizeOrderRequest {
        keep_until_invoiced: true,
        ..order(&account_id, "50.00", "EUR", PaymentType::OnAccount)
    };
    let reference = request.order_reference.clone();
    let approved = app.credit.authorize_order(authorized(request, &clerk)).await.expect("decided").into_inner();
    let reservation = approved.reservation.expect("reserved");
    assert_eq!(reservation.expire_time, None, "kept until invoiced or cancelled");

    // A free line invoiced: nothing captured, not the whole reservation.
    let free = Billing::InvoicePosted(InvoicePosted {
        invoice_id: Uuid::now_v7().to_string(),
        account_id: account_id.clone(),
        amount: Some(money("0.00", "EUR")),
        due_date: "2030-01-01".to_owned(),
        order_references: vec![reference.clone()],
        order_amounts: vec![OrderAmount { reference: reference.clone(), amount: Some(money("0.00", "EUR")) }],
    });
    app.post(tenant_id, vec![free]).await;
    assert_eq!(amount(&app.status(&clerk, &account_id).await.reserved), "50.00");

    // A release naming an account credit never met is skipped, not retried
    // for ever.
    let unknown = Billing::OrderCancelled(OrderCancelled {
        order_id: Uuid::now_v7().to_string(),
        account_id: account_id.clone(),
        reference: reference.clone(),
        whole: false,
        released: vec![OrderPayer {
            account_id: Uuid::now_v7().to_string(),
            amount: Some(money("5.00", "EUR")),
            reservation_id: String::new(),
        }],
        reason: "gone".to_owned(),
    });
    app.post(tenant_id, vec![unknown]).await;
    assert_eq!(amount(&app.status(&clerk, &account_id).await.reserved), "50.00");

    // A whole cancellation releases only the ordering account's and its
    // payers' reservations of the reference: another account's reservation
    // under the same reference stays.
    let other = app.account_with_limit(&admin, "1000", CreditAction::Block).await;
    let same_reference = AuthorizeOrderRequest {
        order_reference: reference.clone(),
        ..order(&other, "7.00", "EUR", PaymentType::OnAccount)
    };
    app.credit.authorize_order(authorized(same_reference, &clerk)).await.expect("decided");
    let whole = Billing::OrderCancelled(OrderCancelled {
        order_id: Uuid::now_v7().to_string(),
        account_id: account_id.clone(),
        reference,
        whole: true,
        released: Vec::new(),
        reason: "changed mind".to_owned(),
    });
    app.post(tenant_id, vec![whole]).await;
    assert_eq!(amount(&app.status(&clerk, &account_id).await.reserved), "0.00");
    assert_eq!(amount(&app.status(&clerk, &other).await.reserved), "7.00");
}
