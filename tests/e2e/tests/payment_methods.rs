//! Saved payment methods and automatic collection, through the gateway,
//! read back from every side: a customer's own user saves cards and a
//! wallet (credit), pays orders with the one it chooses or its default
//! (billing, at the sandbox provider); an account whose method is opted in
//! for subscriptions has its posted invoices collected: the invoice shows
//! the collection and is settled (billing), and credit's balance follows
//! the payment. A declined collection is recorded on the invoice, which
//! stays owed; a provider asking to retry is asked again.

#![allow(clippy::expect_used)]

use std::time::Duration;

use bss_e2e::{
    TestApp, amount, billing_balance, create_account, create_product, create_user, credit_settles, generate,
    order_request, ordering_account, place, subscription_request, today,
};
use bss_proto::billing::invoice_service_client::InvoiceServiceClient;
use bss_proto::billing::subscription_service_client::SubscriptionServiceClient;
use bss_proto::billing::{GetInvoiceRequest, Invoice, InvoiceCollectionStatus, OrderPaymentStatus, OrderStatus};
use bss_proto::credit::credit_service_client::CreditServiceClient;
use bss_proto::credit::*;
use bss_proto::types::PaymentType;
use bss_testkit::{authorized, customer_user_token, reason};
use tonic::Code;
use tonic::transport::Channel;

fn method(kind: PaymentMethodKind, token: &str, purchases: bool, subscriptions: bool) -> PaymentMethod {
    PaymentMethod {
        kind: kind as i32,
        token_reference: token.to_owned(),
        label: format!("method {token}"),
        use_for_purchases: purchases,
        use_for_subscriptions: subscriptions,
        ..PaymentMethod::default()
    }
}

async fn save(gateway: &Channel, token: &str, account_id: &str, method: PaymentMethod) -> PaymentMethod {
    let request =
        SavePaymentMethodRequest { account_id: account_id.to_owned(), method: Some(method), request_id: String::new() };
    let saved = CreditServiceClient::new(gateway.clone()).save_payment_method(authorized(request, token)).await;
    saved.expect("saved").into_inner().method.expect("method")
}

/// The account's methods as `token` sees them: (label, token, default).
async fn methods(gateway: &Channel, token: &str, account_id: &str) -> Vec<(String, String, bool)> {
    let request = ListPaymentMethodsRequest { account_id: account_id.to_owned() };
    let listed = CreditServiceClient::new(gateway.clone()).list_payment_methods(authorized(request, token)).await;
    let listed = listed.expect("methods").into_inner().methods;
    listed.into_iter().map(|m| (m.label, m.token_reference, m.is_default)).collect()
}

fn row(label: &str, token: &str, default: bool) -> (String, String, bool) {
    (label.to_owned(), token.to_owned(), default)
}

/// An account that may pay by card and PayPal too.
fn paying_account(code: &str) -> bss_proto::accounts::Account {
    let mut account = ordering_account(code);
    account.payment_types.push(PaymentType::Paypal as i32);
    account
}

#[tokio::test]
async fn a_customer_saves_cards_and_a_wallet_and_pays_with_the_one_it_chooses() {
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Wallet Books", "EUR").await;
    let gateway = suite.gateway().await;
    create_product(&gateway, &admin, "WIDGET", "10.00", "tools").await;
    let account = create_account(&gateway, &admin, paying_account("WALLETS")).await;
    let other = create_account(&gateway, &admin, paying_account("OTHERS")).await;
    let customer = customer_user_token(tenant_id, create_user(&gateway, &admin, &account, "me@wallets.example").await);

    // Its own methods: the first is the default.
    let visa = save(&gateway, &customer, "", method(PaymentMethodKind::Card, "tok_visa", true, false)).await;
    assert!(visa.is_default);
    assert_eq!(visa.account_id, account);
    let declining =
        save(&gateway, &customer, "", method(PaymentMethodKind::Card, "tok_decline_amex", true, false)).await;
    assert!(!declining.is_default);
    save(&gateway, &customer, "", method(PaymentMethodKind::Wallet, "tok_paypal", true, false)).await;
    // The customer never sees the provider's tokens; staff do.
    assert_eq!(
        methods(&gateway, &customer, "").await,
        [
            row("method tok_visa", "", true),
            row("method tok_decline_amex", "", false),
            row("method tok_paypal", "", false)
        ]
    );
    assert_eq!(
        methods(&gateway, &admin, &account).await.into_iter().map(|(_, token, _)| token).collect::<Vec<_>>(),
        ["tok_visa", "tok_decline_amex", "tok_paypal"]
    );
    // Another customer's methods are not its business.
    let mut credit = CreditServiceClient::new(gateway.clone());
    let theirs = ListPaymentMethodsRequest { account_id: other.clone() };
    let hidden = credit.list_payment_methods(authorized(theirs, &customer)).await.expect_err("another account");
    assert_eq!(hidden.code(), Code::NotFound);
    let foreign = SavePaymentMethodRequest {
        account_id: other.clone(),
        method: Some(method(PaymentMethodKind::Card, "tok_visa", true, true)),
        request_id: String::new(),
    };
    assert_eq!(
        credit.save_payment_method(authorized(foreign, &customer)).await.expect_err("theirs").code(),
        Code::NotFound
    );
    let card_number = SavePaymentMethodRequest {
        account_id: String::new(),
        method: Some(method(PaymentMethodKind::Card, "4242 4242 4242 4242", true, false)),
        request_id: String::new(),
    };
    let refused = credit.save_payment_method(authorized(card_number, &customer)).await.expect_err("card data");
    assert_eq!(refused.code(), Code::InvalidArgument);

    // A card order is paid with the default; the order may name another.
    let paid = place(&gateway, &customer, order_request("", &[("WIDGET", "1")], PaymentType::CreditCard)).await;
    assert_eq!(paid.status(), OrderStatus::Executed);
    assert_eq!(paid.payment.as_ref().map(|p| p.status()), Some(OrderPaymentStatus::Captured));
    let mut named = order_request("", &[("WIDGET", "1")], PaymentType::CreditCard);
    named.order.as_mut().expect("order").payment_method_id = declining.id.clone();
    let declined = place(&gateway, &customer, named).await;
    assert_eq!(declined.status(), OrderStatus::Rejected);
    assert_eq!(declined.payment.as_ref().map(|p| p.status()), Some(OrderPaymentStatus::Declined));
    // A PayPal order is paid with the wallet.
    let wallet = place(&gateway, &customer, order_request("", &[("WIDGET", "2")], PaymentType::Paypal)).await;
    assert_eq!(
        wallet.payment.as_ref().map(|p| (p.status(), amount(&p.amount).to_owned())),
        Some((OrderPaymentStatus::Captured, "20.00".to_owned()))
    );

    // The default moves; it cannot be unset but by making another the
    // default; removing the default makes the oldest left the default.
    let make_default = UpdatePaymentMethodRequest {
        method: Some(PaymentMethod { id: declining.id.clone(), is_default: true, ..PaymentMethod::default() }),
        update_mask: Some(prost_types::FieldMask { paths: vec!["is_default".to_owned()] }),
        request_id: String::new(),
    };
    credit.update_payment_method(authorized(make_default, &customer)).await.expect("made default");
    let preference = credit
        .get_payment_preference(authorized(GetPaymentPreferenceRequest { account_id: account.clone() }, &admin))
        .await
        .expect("preference");
    assert_eq!(preference.into_inner().preference.map(|p| p.card_token_reference), Some("tok_decline_amex".to_owned()));
    let unset = UpdatePaymentMethodRequest {
        method: Some(PaymentMethod { id: declining.id.clone(), is_default: false, ..PaymentMethod::default() }),
        update_mask: Some(prost_types::FieldMask { paths: vec!["is_default".to_owned()] }),
        request_id: String::new(),
    };
    let refused = credit.update_payment_method(authorized(unset, &customer)).await.expect_err("a default is kept");
    assert_eq!((refused.code(), reason(&refused)), (Code::FailedPrecondition, "DEFAULT_METHOD_REQUIRED".to_owned()));
    let remove = RemovePaymentMethodRequest { id: declining.id.clone(), request_id: String::new() };
    let left = credit.remove_payment_method(authorized(remove, &customer)).await.expect("removed").into_inner().methods;
    let left: Vec<(String, bool)> = left.into_iter().map(|m| (m.label, m.is_default)).collect();
    assert_eq!(left, [("method tok_visa".to_owned(), true), ("method tok_paypal".to_owned(), false)]);
}

/// The invoice once its collection is no longer pending.
async fn collected(gateway: &Channel, token: &str, invoice_id: &str) -> Invoice {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let get = GetInvoiceRequest { id: invoice_id.to_owned() };
        let invoice = InvoiceServiceClient::new(gateway.clone()).get_invoice(authorized(get, token)).await;
        let invoice = invoice.expect("invoice").into_inner().invoice.expect("invoice");
        let status = invoice.collection.as_ref().map(|c| c.status());
        if status != Some(InvoiceCollectionStatus::Pending) {
            return invoice;
        }
        assert!(tokio::time::Instant::now() < deadline, "never collected: {invoice:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A card subscription of an account whose card is `card_token`, its
/// first period invoiced and posted; the invoice.
async fn subscribed(gateway: &Channel, admin: &str, code: &str, card_token: &str) -> (String, Invoice) {
    let account = create_account(gateway, admin, paying_account(code)).await;
    save(gateway, admin, &account, method(PaymentMethodKind::Card, card_token, false, true)).await;
    let subscription = subscription_request(&account, "PLAN", "1", PaymentType::CreditCard);
    let created =
        SubscriptionServiceClient::new(gateway.clone()).create_subscription(authorized(subscription, admin)).await;
    created.expect("subscribed");
    let invoices = generate(gateway, admin, &account, &today(), true).await;
    assert_eq!(invoices.len(), 1);
    (account, invoices.into_iter().next().expect("invoice"))
}

#[tokio::test]
async fn posted_invoices_of_an_opted_in_account_are_collected_and_a_failed_collection_is_recorded() {
    let suite = TestApp::start().await;
    let (_, admin) = suite.tenant("Collected Books", "EUR").await;
    let gateway = suite.gateway().await;
    create_product(&gateway, &admin, "PLAN", "30.00", "plans").await;

    // Collected: the payment settles the invoice; credit's balance follows.
    let (paying, invoice) = subscribed(&gateway, &admin, "PAYS", "tok_visa").await;
    let pending = invoice.collection.as_ref().expect("a collection is queued when it posts");
    assert_eq!((pending.status(), amount(&pending.amount)), (InvoiceCollectionStatus::Pending, "30.00"));
    let invoice = collected(&gateway, &admin, &invoice.id).await;
    let collection = invoice.collection.as_ref().expect("collection");
    assert_eq!(collection.status(), InvoiceCollectionStatus::Collected);
    assert!(!collection.payment_id.is_empty());
    assert_eq!(amount(&invoice.settled), "30.00");
    assert_eq!(amount(&billing_balance(&gateway, &admin, &paying).await.balance), "0.00");
    credit_settles(&gateway, &admin, &paying, "0.00", "0.00").await;

    // Declined: recorded with the provider's reason; the invoice is owed.
    let (refusing, invoice) = subscribed(&gateway, &admin, "REFUSES", "tok_decline_visa").await;
    let invoice = collected(&gateway, &admin, &invoice.id).await;
    let collection = invoice.collection.as_ref().expect("collection");
    assert_eq!(collection.status(), InvoiceCollectionStatus::Failed);
    assert!(!collection.decline_reason.is_empty());
    assert_eq!(amount(&invoice.settled), "0.00");
    assert_eq!(amount(&billing_balance(&gateway, &admin, &refusing).await.balance), "30.00");
    credit_settles(&gateway, &admin, &refusing, "30.00", "0.00").await;

    // The provider asked once to retry: asked again, collected once.
    let (retried, invoice) = subscribed(&gateway, &admin, "RETRIES", "tok_retry_visa").await;
    let invoice = collected(&gateway, &admin, &invoice.id).await;
    let collection = invoice.collection.as_ref().expect("collection");
    assert_eq!((collection.status(), collection.attempts), (InvoiceCollectionStatus::Collected, 2));
    credit_settles(&gateway, &admin, &retried, "0.00", "0.00").await;

    // A card subscription needs a method opted in for subscriptions.
    let purchases_only = create_account(&gateway, &admin, paying_account("NOSUB")).await;
    save(&gateway, &admin, &purchases_only, method(PaymentMethodKind::Card, "tok_visa", true, false)).await;
    let subscription = subscription_request(&purchases_only, "PLAN", "1", PaymentType::CreditCard);
    let refused = SubscriptionServiceClient::new(gateway.clone())
        .create_subscription(authorized(subscription, &admin))
        .await
        .expect_err("no method for subscriptions");
    assert_eq!((refused.code(), reason(&refused)), (Code::FailedPrecondition, "PAYMENT_METHOD_MISSING".to_owned()));
    // An account that opted in nothing has nothing collected.
    let on_account = create_account(&gateway, &admin, paying_account("PLAIN")).await;
    bss_e2e::set_credit_terms(&gateway, &admin, &on_account, "1000", None).await;
    let subscription = subscription_request(&on_account, "PLAN", "1", PaymentType::OnAccount);
    SubscriptionServiceClient::new(gateway.clone())
        .create_subscription(authorized(subscription, &admin))
        .await
        .expect("subscribed");
    let invoices = generate(&gateway, &admin, &on_account, &today(), true).await;
    assert_eq!(invoices.iter().map(|i| i.collection.is_some()).collect::<Vec<_>>(), [false]);
}

#[tokio::test]
async fn methods_billing_never_heard_of_are_announced_once_and_then_collected() {
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Announced Books", "EUR").await;
    let gateway = suite.gateway().await;
    create_product(&gateway, &admin, "PLAN", "30.00", "plans").await;
    let account = create_account(&gateway, &admin, paying_account("EARLIER")).await;
    save(&gateway, &admin, &account, method(PaymentMethodKind::Card, "tok_visa", false, true)).await;
    let subscription = subscription_request(&account, "PLAN", "1", PaymentType::CreditCard);
    let created =
        SubscriptionServiceClient::new(gateway.clone()).create_subscription(authorized(subscription, &admin)).await;
    created.expect("subscribed");

    // As an account whose method an earlier payment preference became
    // (credit's migration 0009): billing never heard of it, and credit
    // has it to announce (its migration 0010).
    let pool = sqlx::PgPool::connect(suite.database_url()).await.expect("database");
    let account_id: uuid::Uuid = account.parse().expect("account id");
    let known = "SELECT count(*) FROM billing.collection_methods WHERE tenant_id = $1 AND account_id = $2";
    let count = async |pool: &sqlx::PgPool| -> i64 {
        sqlx::query_scalar(known).bind(tenant_id).bind(account_id).fetch_one(pool).await.expect("count")
    };
    sqlx::query("DELETE FROM billing.collection_methods WHERE tenant_id = $1 AND account_id = $2")
        .bind(tenant_id)
        .bind(account_id)
        .execute(&pool)
        .await
        .expect("forgotten");
    assert_eq!(count(&pool).await, 0);
    sqlx::query("INSERT INTO credit.methods_to_announce (tenant_id, account_id) VALUES ($1, $2)")
        .bind(tenant_id)
        .bind(account_id)
        .execute(&pool)
        .await
        .expect("to announce");

    // Credit announces it within its sweep; billing keeps the method and
    // collects the next posted invoice with it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while count(&pool).await == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the method was never announced");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM credit.methods_to_announce WHERE tenant_id = $1")
        .bind(tenant_id)
        .fetch_one(&pool)
        .await
        .expect("left");
    assert_eq!(left, 0, "announced once");
    let invoices = generate(&gateway, &admin, &account, &today(), true).await;
    let invoice = collected(&gateway, &admin, &invoices[0].id).await;
    assert_eq!(invoice.collection.as_ref().map(|c| c.status()), Some(InvoiceCollectionStatus::Collected));
    assert_eq!(amount(&invoice.settled), "30.00");
    credit_settles(&gateway, &admin, &account, "0.00", "0.00").await;
}
