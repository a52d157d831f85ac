//! Payment preferences (a card token reference, suggested when credit does
//! not reach) and the external credit check, over gRPC.

use bss_proto::credit::*;
use bss_proto::provider::credit_check_provider_service_server::{
    CreditCheckProviderService, CreditCheckProviderServiceServer,
};
use bss_proto::provider::{CheckOrderRequest, CheckOrderResponse};
use bss_proto::types::PaymentType;
use bss_testapp::credit::*;
use bss_testkit::authorized;
use rust_decimal::Decimal;
use tonic::{Code, Request, Response, Status};

#[tokio::test]
async fn a_payment_preference_keeps_a_token_never_a_card_number_and_is_suggested_when_credit_does_not_reach() {
    let mut app = spawn().await;
    let (tenant_id, admin) = app.tenant("EUR").await;
    let clerk = billing_clerk(tenant_id);
    let account_id = app.account_with_limit(&admin, "100", CreditAction::Block).await;
    let set = |preference: PaymentPreference| SetPaymentPreferenceRequest {
        account_id: account_id.clone(),
        preference: Some(preference),
        request_id: String::new(),
    };
    let card = app
        .credit
        .set_payment_preference(authorized(
            set(PaymentPreference { card_token_reference: "4242 4242 4242 4242".to_owned(), ..Default::default() }),
            &clerk,
        ))
        .await
        .expect_err("a card number");
    assert_eq!(violated_fields(&card), vec!["preference.card_token_reference"]);
    let none = app
        .credit
        .get_payment_preference(authorized(GetPaymentPreferenceRequest { account_id: account_id.clone() }, &clerk))
        .await
        .expect_err("none yet");
    assert_eq!(none.code(), Code::NotFound);

    let stored = app
        .credit
        .set_payment_preference(authorized(
            set(PaymentPreference {
                card_token_reference: "tok_1NaB2c3D".to_owned(),
                card_label: "Visa ending 4242".to_owned(),
                use_for_purchases: true,
                use_for_subscriptions: false,
                ..Default::default()
            }),
            &clerk,
        ))
        .await
        .expect("stored")
        .into_inner()
        .preference
        .expect("preference");
    assert_eq!(stored.card_token_reference, "tok_1NaB2c3D");

    let within = app.authorize(&clerk, &account_id, "80", "EUR", PaymentType::OnAccount).await.expect("approved");
    assert_eq!(within.suggested_payment_preference, None, "credit reaches");
    let over = app.authorize(&clerk, &account_id, "30", "EUR", PaymentType::OnAccount).await.expect("blocked");
    assert_eq!(over.decision, Decision::Blocked as i32);
    assert_eq!(over.suggested_payment_preference.expect("suggested").card_label, "Visa ending 4242");
    let activation = AuthorizeOrderRequest {
        event_kind: EventKind::SubscriptionActivation as i32,
        ..order(&account_id, "30", "EUR", PaymentType::OnAccount)
    };
    let not_opted_in = app.credit.authorize_order(authorized(activation, &clerk)).await.expect("decided").into_inner();
    assert_eq!(not_opted_in.suggested_payment_preference, None, "not opted in for subscriptions");
}

/// A third party's credit check: refuses orders over 500.
struct Bureau;

#[tonic::async_trait]
impl CreditCheckProviderService for Bureau {
    async fn check_order(&self, request: Request<CheckOrderRequest>) -> Result<Response<CheckOrderResponse>, Status> {
        let amount = request.get_ref().amount.as_ref().and_then(|money| money.amount.parse::<Decimal>().ok());
        let veto = amount.is_none_or(|amount| amount > Decimal::from(500));
        Ok(Response::new(CheckOrderResponse {
            veto,
            reason: if veto { "bureau score too low".to_owned() } else { String::new() },
        }))
    }
}

#[tokio::test]
async fn the_external_credit_check_can_veto_an_order_and_its_absence_fails_closed() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("port");
    let address = listener.local_addr().expect("bound");
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(CreditCheckProviderServiceServer::new(Bureau))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let mut app = spawn_with(Some(format!("http://{address}"))).await;
    let (tenant_id, admin) = app.tenant("EUR").await;
    let clerk = billing_clerk(tenant_id);
    let account_id = app.account_with_limit(&admin, "10000", CreditAction::Block).await;

    let fine = app.authorize(&clerk, &account_id, "400", "EUR", PaymentType::OnAccount).await.expect("approved");
    assert_eq!(fine.decision, Decision::Approved as i32);
    let vetoed = app.authorize(&clerk, &account_id, "600", "EUR", PaymentType::OnAccount).await.expect("decided");
    assert_eq!(vetoed.decision, Decision::Blocked as i32);
    assert_eq!(vetoed.reasons.len(), 1);
    assert_eq!(
        (vetoed.reasons[0].code.as_str(), vetoed.reasons[0].message.as_str()),
        ("EXTERNAL_CREDIT_CHECK", "bureau score too low")
    );
    assert_eq!(amount(&app.status(&clerk, &account_id).await.reserved), "400.00", "nothing reserved for the veto");
    let card = app.authorize(&clerk, &account_id, "600", "EUR", PaymentType::CreditCard).await.expect("card");
    assert_eq!(card.decision, Decision::Approved as i32, "orders without credit are not checked");

    // A provider that does not answer: no order goes through unchecked.
    let mut unreachable = spawn_with(Some("http://127.0.0.1:9".to_owned())).await;
    let (tenant_id, admin) = unreachable.tenant("EUR").await;
    let account_id = unreachable.account_with_limit(&admin, "10000", CreditAction::Block).await;
    let refused = unreachable
        .authorize(&billing_clerk(tenant_id), &account_id, "1", "EUR", PaymentType::OnAccount)
        .await
        .expect_err("unchecked");
    assert_eq!(refused.code(), Code::Unavailable);
}
