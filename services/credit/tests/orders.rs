//! AuthorizeOrder and what follows it: decisions and their reasons,
//! reservations (made, released, captured by an invoice, expired), held
//! orders and their approval, billing's transactions moving the balance,
//! retries by request id, and bad input.

use bss_proto::billing::billing_event::Payload as Billing;
use bss_proto::billing::{InvoiceOverdue, InvoicePosted, InvoiceSettled, PaymentPosted};
use bss_proto::credit::*;
use bss_proto::types::PaymentType;
use bss_testapp::credit::*;
use bss_testkit::authorized;
use tonic::Code;

#[tokio::test]
async fn an_order_within_the_limit_reserves_its_amount_and_one_over_it_is_blocked() {
    let mut app = spawn().await;
    let (tenant_id, admin) = app.tenant("EUR").await;
    let clerk = billing_clerk(tenant_id);
    let account_id = app.account_with_limit(&admin, "1000", CreditAction::Block).await;

    let approved = app.authorize(&clerk, &account_id, "600.00", "EUR", PaymentType::OnAccount).await.expect("approved");
    assert_eq!(approved.decision, Decision::Approved as i32);
    assert!(approved.reasons.is_empty());
    assert_eq!((amount(&approved.available_before), amount(&approved.available_after)), ("1000.00", "400.00"));
    let reservation = approved.reservation.expect("a reservation");
    assert_eq!((reservation.state, amount(&reservation.amount)), (ReservationState::Open as i32, "600.00"));

    let blocked =
        app.authorize(&clerk, &account_id, "400.01", "EUR", PaymentType::DirectDeposit).await.expect("decided");
    assert_eq!(blocked.decision, Decision::Blocked as i32);
    assert_eq!(blocked.reasons[0].code, "CREDIT_LIMIT_EXCEEDED");
    assert_eq!(blocked.reservation, None);
    assert_eq!(amount(&blocked.available_after), "400.00", "nothing reserved");

    // Card orders use no credit; exactly the rest of the limit still fits.
    let card = app.authorize(&clerk, &account_id, "5000", "EUR", PaymentType::CreditCard).await.expect("card");
    assert_eq!((card.decision, card.reservation), (Decision::Approved as i32, None));
    let rest = app.authorize(&clerk, &account_id, "400", "EUR", PaymentType::OnAccount).await.expect("rest");
    assert_eq!(rest.decision, Decision::Approved as i32);

    let status = app.status(&clerk, &account_id).await;
    assert_eq!((amount(&status.reserved), amount(&status.available_credit)), ("1000.00", "0.00"));
    assert_eq!(status.credit_limit_status, CreditLimitStatus::NotExceeded as i32);
}

#[tokio::test]
async fn a_retried_authorization_returns_the_first_decision_and_reserves_once() {
    let mut app = spawn().await;
    let (tenant_id, admin) = app.tenant("EUR").await;
    let clerk = billing_clerk(tenant_id);
    let account_id = app.account_with_limit(&admin, "100", CreditAction::Block).await;
    let request = AuthorizeOrderRequest {
        request_id: "order-77".to_owned(),
        ..order(&account_id, "60", "EUR", PaymentType::OnAccount)
    };
    let first = app.credit.authorize_order(authorized(request.clone(), &clerk)).await.expect("first").into_inner();
    let again = app.credit.authorize_order(authorized(request.clone(), &clerk)).await.expect("retry").into_inner();
    assert_eq!(first, again);
    assert_eq!(amount(&app.status(&clerk, &account_id).await.reserved), "60.00");
    let reused = app
        .credit
        .authorize_order(authorized(AuthorizeOrderRequest { amount: Some(money("1", "EUR")), ..request }, &clerk))
        .await
        .expect_err("same id, another request");
    assert_eq!(reason(&reused), "REQUEST_ID_REUSED");
}

#[tokio::test]
async fn bad_orders_name_each_bad_field() {
    let mut app = spawn().await;
    let (tenant_id, admin) = app.tenant("EUR").await;
    let clerk = billing_clerk(tenant_id);
    let account_id = app.account(&admin).await;
    let bad = AuthorizeOrderRequest {
        keep_until_invoiced: false,
        payers: Vec::new(),
        request_id: String::new(),
        account_id: "not-an-id".to_owned(),
        order_reference: String::new(),
        amount: Some(money("-5", "EUR")),
        payment_type: 42,
        event_kind: 9,
        prepay_over_limit: false,
    };
    let refused = app.credit.authorize_order(authorized(bad, &clerk)).await.expect_err("bad");
    assert_eq!(refused.code(), Code::InvalidArgument);
    let mut fields = violated_fields(&refused);
    fields.sort();
    assert_eq!(fields, vec!["account_id", "amount.amount", "event_kind", "order_reference", "payment_type"]);

    // Only billing takes money in advance: a clerk asking to prepay would
    // pass the limit with nothing behind it.
    let prepay = AuthorizeOrderRequest {
        prepay_over_limit: true,
        ..bss_testapp::credit::order(&account_id, "10", "EUR", PaymentType::OnAccount)
    };
    let refused = app.credit.authorize_order(authorized(prepay, &clerk)).await.expect_err("not billing");
    assert_eq!(violated_fields(&refused), vec!["prepay_over_limit"]);

    let wrong_currency =
        app.authorize(&clerk, &account_id, "10", "USD", PaymentType::OnAccount).await.expect_err("USD");
    assert_eq!(violated_fields(&wrong_currency), vec!["amount.currency_code"]);
    let too_precise =
        app.authorize(&clerk, &account_id, "10.001", "EUR", PaymentType::OnAccount).await.expect_err("cents");
    assert_eq!(violated_fields(&too_precise), vec!["amount.amount"]);
    let unspecified =
        app.authorize(&clerk, &account_id, "10", "EUR", PaymentType::Unspecified).await.expect_err("type");
    assert_eq!(violated_fields(&unspecified), vec!["payment_type"]);
    // A free order reserves nothing but still meets the hold policy.
    let free = app.authorize(&clerk, &account_id, "0", "EUR", PaymentType::OnAccount).await.expect("free");
    assert_eq!((free.decision, free.reservation), (Decision::Approved as i32, None));
    let hold =
        PutOnHoldRequest { account_id: account_id.clone(), reason: "dispute".to_owned(), request_id: String::new() };
    app.credit.put_on_hold(authorized(hold, &admin)).await.expect("on hold");
    let free = app.authorize(&clerk, &account_id, "0", "EUR", PaymentType::OnAccount).await.expect("decided");
    assert_eq!(free.decision, Decision::Blocked as i32);
    assert_eq!(amount(&app.status(&clerk, &account_id).await.reserved), "0.00");

    let manager_only =
        app.authorize(&credit_manager(tenant_id), &account_id, "10", "EUR", PaymentType::OnAccount).await;
    assert_eq!(manager_only.expect_err("not an order checker").code(), Code::PermissionDenied);
}

#[tokio::test]
async fn hold_and_terms_policies_give_their_decisions_with_every_reason() {
    let mut app = spawn().await;
    let (tenant_id, admin) = app.tenant("EUR").await;
    let clerk = billing_clerk(tenant_id);
    let account_id = app.account(&admin).await;
    let terms = CreditTerms {
        credit_limit: decimal("100"),
        policy: Some(CreditPolicy {
            on_hold_action: CreditAction::WarnCreditCardOnly as i32,
            out_of_terms_action: CreditAction::Warn as i32,
            out_of_credit_action: CreditAction::Warn as i32,
        }),
        ..Default::default()
    };
    app.change_terms(&admin, &account_id, terms).await.expect("terms");

    // Out of terms (an overdue invoice) warns; the order still reserves.
    app.post(
        tenant_id,
        vec![Billing::InvoicePosted(InvoicePosted {
            invoice_id: uuid::Uuid::now_v7().to_string(),
            account_id: account_id.clone(),
            amount: Some(money("30", "EUR")),
            ..Default::default()
        })],
    )
    .await;
    let invoice_id = uuid::Uuid::now_v7().to_string();
    let overdue =
        Billing::InvoiceOverdue(InvoiceOverdue { invoice_id: invoice_id.clone(), account_id: account_id.clone() });
    app.post(tenant_id, vec![overdue.clone(), overdue]).await;
    assert!(app.status(&clerk, &account_id).await.out_of_terms);
    let warned = app.authorize(&clerk, &account_id, "50", "EUR", PaymentType::OnAccount).await.expect("decided");
    assert_eq!(warned.decision, Decision::ApprovedWithWarning as i32);
    assert_eq!(warned.reasons.iter().map(|r| r.code.as_str()).collect::<Vec<_>>(), vec!["ACCOUNT_OUT_OF_TERMS"]);
    assert!(warned.reservation.is_some());

    // Over the limit too, with WARN: accepted, both reasons, exposure over.
    let over = app.authorize(&clerk, &account_id, "50", "EUR", PaymentType::OnAccount).await.expect("decided");
    assert_eq!(over.decision, Decision::ApprovedWithWarning as i32);
    assert_eq!(over.reasons.len(), 2);
    let status = app.status(&clerk, &account_id).await;
    assert_eq!((status.out_of_credit, status.credit_limit_status), (true, CreditLimitStatus::Exceeded as i32));

    // On hold with card-only: on account is refused to card, card passes.
    app.credit
        .put_on_hold(authorized(
            PutOnHoldRequest { account_id: account_id.clone(), reason: "review".to_owned(), request_id: String::new() },
            &admin,
        ))
        .await
        .expect("hold");
    let card_only = app.authorize(&clerk, &account_id, "1", "EUR", PaymentType::OnAccount).await.expect("decided");
    assert_eq!(card_only.decision, Decision::CreditCardOnly as i32);
    assert_eq!(card_only.reservation, None);
    let by_card = app.authorize(&clerk, &account_id, "1", "EUR", PaymentType::CreditCard).await.expect("decided");
    assert_eq!(by_card.decision, Decision::ApprovedWithWarning as i32);
    let quote = app.authorize(&clerk, &account_id, "1", "EUR", PaymentType::RunningQuote).await.expect("decided");
    assert_eq!((quote.decision, quote.reasons.len()), (Decision::Approved as i32, 0));

    // Settling the invoice ends out of terms, once however often it is told.
    let settled = Billing::InvoiceSettled(InvoiceSettled { invoice_id, account_id: account_id.clone() });
    app.post(tenant_id, vec![settled.clone(), settled]).await;
    assert!(!app.status(&clerk, &account_id).await.out_of_terms);
}

#[tokio::test]
async fn an_override_rule_lifts_the_limit_for_its_event_kind_only() {
    let mut app = spawn().await;
    let (tenant_id, admin) = app.tenant("EUR").await;
    let clerk = billing_clerk(tenant_id);
    let account_id = app.account(&admin).await;
    let terms =
        CreditTerms { credit_limit: decimal("0"), classification: "GOVERNMENT".to_owned(), ..Default::default() };
    app.change_terms(&admin, &account_id, terms).await.expect("terms");
    app.settings
        .create_override_rule(authorized(
            CreateOverrideRuleRequest {
                rule: Some(OverrideRule {
                    event_kind: EventKind::SubscriptionActivation as i32,
                    classification: "GOVERNMENT".to_owned(),
                    ..Default::default()
                }),
                request_id: String::new(),
            },
            &admin,
        ))
        .await
        .expect("rule");
    let order_kind = app.authorize(&clerk, &account_id, "10", "EUR", PaymentType::OnAccount).await.expect("decided");
    assert_eq!(order_kind.decision, Decision::Blocked as i32, "a limit of 0: may never owe");
    let activation = AuthorizeOrderRequest {
        event_kind: EventKind::SubscriptionActivation as i32,
        ..order(&account_id, "10", "EUR", PaymentType::OnAccount)
    };
    let lifted = app.credit.authorize_order(authorized(activation, &clerk)).await.expect("decided").into_inner();
    assert_eq!(lifted.decision, Decision::Approved as i32);
    assert!(lifted.reservation.is_some());
}

#[tokio::test]
async fn a_held_order_is_approved_whatever_the_limit_or_rejected_exactly_once() {
    let mut app = spawn().await;
    let (tenant_id, admin) = app.tenant("EUR").await;
    let clerk = billing_clerk(tenant_id);
    let manager = credit_manager(tenant_id);
    let account_id = app.account_with_limit(&admin, "100", CreditAction::HoldForApproval).await;

    let held = app.authorize(&clerk, &account_id, "250", "EUR", PaymentType::OnAccount).await.expect("decided");
    assert_eq!(held.decision, Decision::HeldForApproval as i32);
    assert_eq!(held.reservation, None, "nothing reserved while held");
    let held_order = held.held_order.expect("held order");
    assert_eq!(held_order.state, HeldOrderState::Pending as i32);
    assert_eq!(held_order.reasons[0].code, "CREDIT_LIMIT_EXCEEDED");
    let second = app.authorize(&clerk, &account_id, "10", "EUR", PaymentType::OnAccount).await.expect("within");
    assert_eq!(second.decision, Decision::Approved as i32);

    let pending = app
        .credit
        .list_held_orders(authorized(
            ListHeldOrdersRequest { state: HeldOrderState::Pending as i32, ..Default::default() },
            &manager,
        ))
        .await
        .expect("list")
        .into_inner()
        .held_orders;
    assert_eq!(pending.iter().map(|order| order.id.as_str()).collect::<Vec<_>>(), vec![held_order.id.as_str()]);

    // Approve and reject race: exactly one wins.
    let approve = ApproveHeldOrderRequest {
        held_order_id: held_order.id.clone(),
        note: "paid 150 by transfer".to_owned(),
        request_id: String::new(),
    };
    let reject = RejectHeldOrderRequest {
        held_order_id: held_order.id.clone(),
        note: "no".to_owned(),
        request_id: String::new(),
    };
    let (mut first, mut other) = (app.credit.clone(), app.credit.clone());
    let (approved, rejected) = tokio::join!(
        first.approve_held_order(authorized(approve.clone(), &manager)),
        other.reject_held_order(authorized(reject.clone(), &manager)),
    );
    let winners = [approved.is_ok(), rejected.is_ok()];
    assert_eq!(winners.iter().filter(|won| **won).count(), 1, "{approved:?} {rejected:?}");
    let loser = approved.as_ref().err().or(rejected.as_ref().err()).expect("one lost");
    assert_eq!((loser.code(), reason(loser).as_str()), (Code::FailedPrecondition, "HELD_ORDER_DECIDED"));

    let status = app.status(&clerk, &account_id).await;
    if let Ok(approved) = approved {
        let approved = approved.into_inner();
        assert_eq!(approved.held_order.expect("order").state, HeldOrderState::Approved as i32);
        assert_eq!(amount(&approved.reservation.expect("reservation").amount), "250.00");
        assert_eq!(amount(&status.reserved), "260.00", "reserved whatever the limit");
    } else {
        assert_eq!(amount(&status.reserved), "10.00");
    }
    let late = app.credit.approve_held_order(authorized(approve, &manager)).await.expect_err("decided already");
    assert_eq!(reason(&late), "HELD_ORDER_DECIDED");
}

#[tokio::test]
async fn reservations_are_released_captured_or_expired_exactly_once() {
    let mut app = spawn().await;
    let (tenant_id, admin) = app.tenant("EUR").await;
    let clerk = billing_clerk(tenant_id);
    let account_id = app.account_with_limit(&admin, "1000", CreditAction::Block).await;
    let reserve = |request: AuthorizeOrderRequest| {
        let mut credit = app.credit.clone();
        let clerk = clerk.clone();
        async move {
            let response = credit.authorize_order(authorized(request, &clerk)).await.expect("approved").into_inner();
            response.reservation.expect("reservation")
        }
    };
    let cancelled = reserve(order(&account_id, "100", "EUR", PaymentType::OnAccount)).await;
    let invoiced_order = order(&account_id, "200", "EUR", PaymentType::OnAccount);
    let invoiced = reserve(invoiced_order.clone()).await;
    let forgotten = reserve(order(&account_id, "300", "EUR", PaymentType::OnAccount)).await;
    assert_eq!(amount(&app.status(&clerk, &account_id).await.reserved), "600.00");

    let release =
        ReleaseReservationRequest { amount: None, reservation_id: cancelled.id.clone(), request_id: String::new() };
    let released = app.credit.release_reservation(authorized(release.clone(), &clerk)).await.expect("released");
    assert_eq!(released.into_inner().reservation.expect("r").state, ReservationState::Released as i32);
    let twice = app.credit.release_reservation(authorized(release, &clerk)).await.expect_err("closed");
    assert_eq!(reason(&twice), "RESERVATION_CLOSED");

    // The invoice of the order moves its reservation into the balance.
    app.post(
        tenant_id,
        vec![Billing::InvoicePosted(InvoicePosted {
            order_amounts: Vec::new(),
            invoice_id: uuid::Uuid::now_v7().to_string(),
            account_id: account_id.clone(),
            amount: Some(money("210.50", "EUR")),
            due_date: "2026-12-23".to_owned(),
            order_references: vec![invoiced_order.order_reference.clone()],
        })],
    )
    .await;
    let status = app.status(&clerk, &account_id).await;
    assert_eq!((amount(&status.balance), amount(&status.reserved)), ("210.50", "300.00"));
    assert_eq!(amount(&status.available_credit), "489.50");
    let capture_again =
        ReleaseReservationRequest { amount: None, reservation_id: invoiced.id.clone(), request_id: String::new() };
    assert_eq!(
        reason(&app.credit.release_reservation(authorized(capture_again, &clerk)).await.expect_err("captured")),
        "RESERVATION_CLOSED"
    );

    // A payment lowers the balance; overpaying leaves it negative.
    app.post(
        tenant_id,
        vec![Billing::PaymentPosted(PaymentPosted {
            payment_id: uuid::Uuid::now_v7().to_string(),
            account_id: account_id.clone(),
            amount: Some(money("260.50", "EUR")),
        })],
    )
    .await;
    assert_eq!(amount(&app.status(&clerk, &account_id).await.balance), "-50.00");

    // The forgotten reservation expires once its time is up.
    sqlx::query("UPDATE credit.reservations SET expires_at = now() - interval '1 second' WHERE id = $1")
        .bind(forgotten.id.parse::<uuid::Uuid>().expect("uuid"))
        .execute(&app.db)
        .await
        .expect("aged");
    assert_eq!(bss_credit::expiry::expire_due(&app.db, &app.events).await.expect("swept"), 1);
    assert_eq!(bss_credit::expiry::expire_due(&app.db, &app.events).await.expect("swept"), 0, "once");
    let status = app.status(&clerk, &account_id).await;
    assert_eq!((amount(&status.reserved), amount(&status.available_credit)), ("0.00", "1050.00"));

    let listed = app
        .credit
        .list_reservations(authorized(
            ListReservationsRequest { account_id: account_id.clone(), ..Default::default() },
            &clerk,
        ))
        .await
        .expect("list")
        .into_inner()
        .reservations;
    let states: Vec<i32> = listed.iter().map(|reservation| reservation.state).collect();
    assert_eq!(
        states,
        vec![ReservationState::Expired as i32, ReservationState::Captured as i32, ReservationState::Released as i32],
        "newest first"
    );
}

#[tokio::test]
async fn thresholds_notify_once_per_crossing_and_passing_the_limit_suspends_the_account() {
    let mut app = spawn().await;
    let (tenant_id, admin) = app.tenant("EUR").await;
    let clerk = billing_clerk(tenant_id);
    let settings = CreditSettings {
        default_credit_period_days: 30,
        max_credit_period_days: 90,
        default_policy: Some(CreditPolicy {
            on_hold_action: CreditAction::Block as i32,
            out_of_terms_action: CreditAction::Warn as i32,
            out_of_credit_action: CreditAction::Warn as i32,
        }),
        notification_thresholds: ["50", "100"].into_iter().filter_map(decimal).collect(),
        auto_suspend_over_percent: decimal("10"),
        ..Default::default()
    };
    app.settings
        .update_credit_settings(authorized(
            UpdateCreditSettingsRequest { settings: Some(settings), request_id: String::new(), update_mask: None },
            &admin,
        ))
        .await
        .expect("settings");
    let account_id = app.account(&admin).await;
    app.change_terms(&admin, &account_id, CreditTerms { credit_limit: decimal("100"), ..Default::default() })
        .await
        .expect("terms");

    let first = app.authorize(&clerk, &account_id, "60", "EUR", PaymentType::OnAccount).await.expect("approved");
    let released = app
        .credit
        .release_reservation(authorized(
            ReleaseReservationRequest {
                amount: None,
                reservation_id: first.reservation.expect("r").id,
                request_id: String::new(),
            },
            &clerk,
        ))
        .await;
    released.expect("released");
    app.authorize(&clerk, &account_id, "55", "EUR", PaymentType::OnAccount).await.expect("approved");
    let crossed = |types: &[String]| types.iter().filter(|kind| kind.as_str() == "CreditThresholdCrossed").count();
    assert_eq!(crossed(&app.event_types(tenant_id).await), 2, "50 % crossed, fell back, crossed again");
    assert_eq!(app.suspender().run_due(&app.db).await.expect("swept"), 0, "nothing to suspend yet");

    // 55 + 55.01 passes 100 + 10 %: the 100 % notice and a suspension.
    let over = app.authorize(&clerk, &account_id, "55.01", "EUR", PaymentType::OnAccount).await.expect("warned");
    assert_eq!(over.decision, Decision::ApprovedWithWarning as i32);
    let types = app.event_types(tenant_id).await;
    assert_eq!(crossed(&types), 3);
    assert_eq!(types.iter().filter(|kind| kind.as_str() == "SuspensionRequested").count(), 1);
    assert_eq!(app.suspender().run_due(&app.db).await.expect("swept"), 1);
    assert_eq!(app.suspender().run_due(&app.db).await.expect("swept"), 0, "done once");
    let account = app
        .accounts
        .get_account(authorized(bss_proto::accounts::GetAccountRequest { id: account_id.clone() }, &admin))
        .await
        .expect("account")
        .into_inner()
        .account
        .expect("account");
    assert_eq!(account.status, bss_proto::accounts::AccountStatus::Suspended as i32);
}

#[tokio::test]
async fn an_account_manager_decides_held_orders_unless_the_tenant_keeps_them_to_credit_managers() {
    let mut app = spawn().await;
    let (tenant_id, admin) = app.tenant("EUR").await;
    let clerk = billing_clerk(tenant_id);
    let account_manager = account_manager(tenant_id);
    let account_id = app.account_with_limit(&admin, "100", CreditAction::HoldForApproval).await;
    let held =
        |decided: Result<AuthorizeOrderResponse, tonic::Status>| decided.expect("decided").held_order.expect("held").id;
    let first = held(app.authorize(&clerk, &account_id, "150", "EUR", PaymentType::OnAccount).await);
    let second = held(app.authorize(&clerk, &account_id, "160", "EUR", PaymentType::OnAccount).await);

    // As the documents have it: a BSS account manager approves after a
    // payment is arranged; who and why are kept on the held order.
    let approve = |id: &str| ApproveHeldOrderRequest {
        held_order_id: id.to_owned(),
        note: "paid 150 by transfer".to_owned(),
        request_id: String::new(),
    };
    let approved = app.credit.approve_held_order(authorized(approve(&first), &account_manager)).await;
    let approved = approved.expect("an account manager approves").into_inner().held_order.expect("held order");
    assert_eq!(approved.state, HeldOrderState::Approved as i32);
    assert_eq!(
        (approved.decided_by.as_str(), approved.note.as_str()),
        ("user:account_manager", "paid 150 by transfer")
    );
    assert_eq!(amount(&app.status(&clerk, &account_id).await.reserved), "150.00");

    // A tenant that keeps the decision to credit managers refuses it.
    let only = CreditSettings { held_orders_credit_managers_only: true, ..CreditSettings::default() };
    let mask = prost_types::FieldMask { paths: vec!["held_orders_credit_managers_only".to_owned()] };
    let update =
        UpdateCreditSettingsRequest { settings: Some(only), request_id: String::new(), update_mask: Some(mask) };
    let stored = app.settings.update_credit_settings(authorized(update, &admin)).await.expect("updated");
    assert!(stored.into_inner().settings.expect("settings").held_orders_credit_managers_only);
    let refused = app
        .credit
        .approve_held_order(authorized(approve(&second), &account_manager))
        .await
        .expect_err("kept to credit managers");
    assert_eq!((refused.code(), reason(&refused).as_str()), (Code::PermissionDenied, "HELD_ORDER_DECIDER"));
    assert_eq!(amount(&app.status(&clerk, &account_id).await.reserved), "150.00", "nothing reserved");
    let manager = credit_manager(tenant_id);
    let approved = app.credit.approve_held_order(authorized(approve(&second), &manager)).await;
    assert_eq!(
        approved.expect("a credit manager approves").into_inner().held_order.expect("held").decided_by,
        "user:credit_manager"
    );
    // A billing clerk never decides.
    let third = held(app.authorize(&clerk, &account_id, "170", "EUR", PaymentType::OnAccount).await);
    let refused = app.credit.approve_held_order(authorized(approve(&third), &clerk)).await.expect_err("a clerk");
    assert_eq!(refused.code(), Code::PermissionDenied);
}
