//! The sandbox payment provider keeps its books in billing's database: a
//! provider started again (a restart of billing) refunds what an earlier
//! one captured, answers every reference as it was first answered, and
//! never refunds more than was captured, whatever races.

#![allow(clippy::expect_used)]

use bss_billing::sandbox::SandboxPaymentProvider;
use bss_proto::provider::payment_provider_service_server::PaymentProviderService;
use bss_proto::provider::*;
use bss_testapp::{TestApp, eur};
use rust_decimal::Decimal;
use tonic::Request;

fn authorize(token: &str, reference: &str, amount: &str) -> Request<AuthorizeRequest> {
    Request::new(AuthorizeRequest {
        payment_method_token: token.to_owned(),
        amount: eur(amount),
        reference: reference.to_owned(),
        ..AuthorizeRequest::default()
    })
}

fn refund(capture_id: &str, reference: &str, amount: &str) -> Request<RefundRequest> {
    Request::new(RefundRequest {
        capture_id: capture_id.to_owned(),
        amount: eur(amount),
        reference: reference.to_owned(),
    })
}

/// A capture of `amount` under references starting with `reference`.
async fn captured(provider: &SandboxPaymentProvider, reference: &str, amount: &str) -> (String, String) {
    let held = provider.authorize(authorize("tok_visa", reference, amount)).await.expect("authorized").into_inner();
    assert_eq!(held.outcome(), PaymentOutcome::Approved);
    let capture = CaptureRequest {
        authorization_id: held.authorization_id.clone(),
        amount: eur(amount),
        reference: format!("{reference}:capture"),
    };
    let taken = provider.capture(Request::new(capture)).await.expect("captured").into_inner();
    assert_eq!(taken.outcome(), PaymentOutcome::Approved);
    (held.authorization_id, taken.capture_id)
}

#[tokio::test]
async fn a_restarted_sandbox_refunds_what_it_captured_before_and_answers_each_reference_once() {
    let app = TestApp::start().await;
    let pool = sqlx::PgPool::connect(app.database_url()).await.expect("database");
    let reference = format!("restart-{}", uuid::Uuid::now_v7());
    let before = SandboxPaymentProvider::new(pool.clone());
    let (authorization_id, capture_id) = captured(&before, &reference, "30.00").await;
    let retry = before.authorize(authorize("tok_retry_visa", &format!("{reference}:r"), "5.00")).await;
    assert_eq!(retry.expect("answered").into_inner().outcome(), PaymentOutcome::Retry);
    drop(before);

    let after = SandboxPaymentProvider::new(pool.clone());
    let first = after.refund(refund(&capture_id, &format!("{reference}:refund-1"), "10.00")).await;
    let first = first.expect("refunded").into_inner();
    assert_eq!(first.outcome(), PaymentOutcome::Approved, "{first:?}");
    let again = after.refund(refund(&capture_id, &format!("{reference}:refund-1"), "10.00")).await;
    assert_eq!(again.expect("answered").into_inner(), first, "a repeated refund is answered as the first");
    let too_much = after.refund(refund(&capture_id, &format!("{reference}:refund-2"), "20.01")).await;
    assert_eq!(too_much.expect("answered").into_inner().outcome(), PaymentOutcome::Declined);
    let repeated = after.authorize(authorize("tok_visa", &reference, "30.00")).await.expect("answered").into_inner();
    assert_eq!(repeated.authorization_id, authorization_id, "an authorization is answered once");
    let retried = after.authorize(authorize("tok_retry_visa", &format!("{reference}:r"), "5.00")).await;
    assert_eq!(retried.expect("answered").into_inner().outcome(), PaymentOutcome::Approved, "told to retry once");
    let void = VoidRequest { authorization_id, reference: format!("{reference}:void") };
    let void = after.void(Request::new(void)).await.expect("answered").into_inner();
    assert_eq!(void.outcome(), PaymentOutcome::Declined, "a captured authorization is not voided");

    let refunded: Decimal = sqlx::query_scalar("SELECT refunded FROM billing.sandbox_captures WHERE id = $1")
        .bind(&capture_id)
        .fetch_one(&pool)
        .await
        .expect("the capture");
    assert_eq!(refunded, Decimal::new(1000, 2));
}

#[tokio::test]
async fn racing_refunds_never_give_back_more_than_was_captured() {
    let app = TestApp::start().await;
    let pool = sqlx::PgPool::connect(app.database_url()).await.expect("database");
    let provider = std::sync::Arc::new(SandboxPaymentProvider::new(pool.clone()));
    let reference = format!("race-{}", uuid::Uuid::now_v7());
    let (_, capture_id) = captured(&provider, &reference, "30.00").await;
    let refunds = (0..10).map(|n| {
        let (provider, capture_id, reference) = (provider.clone(), capture_id.clone(), format!("{reference}:{n}"));
        tokio::spawn(async move { provider.refund(refund(&capture_id, &reference, "5.00")).await })
    });
    let mut approved = 0;
    for answer in futures::future::join_all(refunds).await {
        let answer = answer.expect("joined").expect("answered").into_inner();
        if answer.outcome() == PaymentOutcome::Approved {
            approved += 1;
        }
    }
    assert_eq!(approved, 6, "30.00 refunded in parts of 5.00");
    let refunded: Decimal = sqlx::query_scalar("SELECT refunded FROM billing.sandbox_captures WHERE id = $1")
        .bind(&capture_id)
        .fetch_one(&pool)
        .await
        .expect("the capture");
    assert_eq!(refunded, Decimal::new(3000, 2));
}
