//! Credit follows billing's event stream over gRPC: a posted invoice
//! captures its order's reservation and raises the balance, a payment lowers
//! it, an overdue invoice sets the account out of terms; the consumer's
//! cursor moves in the transaction of each effect (applied exactly once).

use std::time::Duration;

use bss_proto::billing::billing_event::Payload as Billing;
use bss_proto::billing::{InvoiceOverdue, InvoicePosted, PaymentPosted};
use bss_proto::credit::*;
use bss_proto::types::PaymentType;
use bss_testapp::credit::*;
use bss_testkit::authorized;

/// Waits until the account's status satisfies `done`.
async fn until(app: &mut TestApp, token: &str, account_id: &str, done: impl Fn(&CreditStatus) -> bool) -> CreditStatus {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let status = app.status(token, account_id).await;
        if done(&status) {
            return status;
        }
        assert!(tokio::time::Instant::now() < deadline, "credit never applied billing's events: {status:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn credit_applies_billings_stream_exactly_once() {
    let mut app = spawn().await;
    let (tenant_id, admin) = app.tenant("EUR").await;
    let clerk = billing_clerk(tenant_id);
    let account_id = app.account_with_limit(&admin, "1000", CreditAction::Block).await;
    let request = order(&account_id, "300", "EUR", PaymentType::OnAccount);
    app.credit.authorize_order(authorized(request.clone(), &clerk)).await.expect("approved");

    let invoice_id = uuid::Uuid::now_v7().to_string();
    app.publish_billing(
        tenant_id,
        vec![
            Billing::InvoicePosted(InvoicePosted {
                order_amounts: Vec::new(),
                invoice_id: invoice_id.clone(),
                account_id: account_id.clone(),
                amount: Some(money("300.00", "EUR")),
                due_date: "2026-12-23".to_owned(),
                order_references: vec![request.order_reference.clone()],
            }),
            Billing::PaymentPosted(PaymentPosted {
                payment_id: uuid::Uuid::now_v7().to_string(),
                account_id: account_id.clone(),
                amount: Some(money("100", "EUR")),
            }),
            Billing::InvoiceOverdue(InvoiceOverdue { invoice_id, account_id: account_id.clone() }),
        ],
    )
    .await;
    let status = until(&mut app, &clerk, &account_id, |status| status.out_of_terms).await;
    assert_eq!((amount(&status.balance), amount(&status.reserved)), ("200.00", "0.00"));
    assert_eq!(amount(&status.available_credit), "800.00");

    // The cursor moved with each effect: a restart resumes after it.
    let cursor: i64 = sqlx::query_scalar("SELECT position FROM credit.consumer_cursors WHERE stream = 'billing'")
        .fetch_one(&app.db)
        .await
        .expect("cursor");
    assert_eq!(cursor, 3);
}

/// Events that arrive together are applied together, in one transaction;
/// one among them that can never apply is set aside as a dead letter while
/// the others before and after it take effect, each once.
#[tokio::test]
async fn a_dead_letter_among_events_arriving_together_spoils_none_of_the_others() {
    let mut app = spawn().await;
    let (tenant_id, admin) = app.tenant("EUR").await;
    let clerk = billing_clerk(tenant_id);
    let account_id = app.account_with_limit(&admin, "1000", CreditAction::Block).await;
    let payment = |amount: &str| {
        Billing::PaymentPosted(PaymentPosted {
            payment_id: uuid::Uuid::now_v7().to_string(),
            account_id: account_id.clone(),
            amount: Some(money(amount, "EUR")),
        })
    };
    let invoice = Billing::InvoicePosted(InvoicePosted {
        order_amounts: Vec::new(),
        invoice_id: uuid::Uuid::now_v7().to_string(),
        account_id: account_id.clone(),
        amount: Some(money("300.00", "EUR")),
        due_date: "2026-12-23".to_owned(),
        order_references: Vec::new(),
    });
    // One transaction: the sequencer numbers them at once and the stream
    // sends them together.
    let mut tx = app.billing_db.begin().await.expect("tx");
    let events = [invoice, payment("-5"), payment("100"), payment("50")];
    bss_platform::events::publish::<bss_proto::billing::BillingEvent>(&mut tx, tenant_id, "billing", events)
        .await
        .expect("published");
    tx.commit().await.expect("committed");
    app.billing_events.written();

    let status = until(&mut app, &clerk, &account_id, |status| amount(&status.balance) == "150.00").await;
    assert_eq!(amount(&status.available_credit), "850.00");
    let set_aside: Vec<(i64, String)> =
        sqlx::query_as("SELECT sequence, error FROM credit.dead_letters WHERE stream = 'billing'")
            .fetch_all(&app.db)
            .await
            .expect("dead letters");
    assert_eq!(set_aside.len(), 1, "{set_aside:?}");
    assert_eq!(set_aside[0].0, 2, "the negative payment");
    assert!(set_aside[0].1.contains("negative"), "{}", set_aside[0].1);
    let cursor: i64 = sqlx::query_scalar("SELECT position FROM credit.consumer_cursors WHERE stream = 'billing'")
        .fetch_one(&app.db)
        .await
        .expect("cursor");
    assert_eq!(cursor, 4);
}
