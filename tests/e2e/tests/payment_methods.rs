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
    let request = ListPaymentMethodsRequest { account_id: account_id.to_owned(), ..Default::default() };
    let listed = CreditServiceClient::new(gateway.clone()).list_payment_methods(authorized(request, token)).await;
    let listed = listed.expect("methods").into_inner().methods;
    listed.into_iter().map(|m| (m.label, m.token_reference, m.is_default)).collect()
}

/// The id of the account's method labelled `label`, as staff list them.
async fn method_id_by_label(gateway: &Channel, admin: &str, account_id: &str, label: &str) -> String {
    let request = ListPaymentMethodsRequest { account_id: account_id.to_owned(), ..Default::default() };
    let listed = CreditServiceClient::new(gateway.clone()).list_payment_methods(authorized(request, admin)).await;
    let listed = listed.expect("methods").into_inner().methods;
    listed.into_iter().find(|m| m.label == label).expect("the method").id
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
    let theirs = ListPaymentMethodsRequest { account_id: other.clone(), ..Default::default() };
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

/// A shopper registered through `profile` (on its generic account): its
/// user id and token.
async fn shopper(gateway: &Channel, tenant_id: uuid::Uuid, profile: &str, email: &str) -> (String, String) {
    use bss_proto::accounts::RegisterUserRequest;
    use bss_proto::accounts::user_service_client::UserServiceClient;
    let guest = bss_testkit::token(tenant_id, &[bss_platform::auth::Role::Guest]);
    let register = RegisterUserRequest {
        profile: profile.to_owned(),
        email: email.to_owned(),
        display_name: String::new(),
        request_id: String::new(),
    };
    let user = UserServiceClient::new(gateway.clone()).register_user(authorized(register, &guest)).await;
    let user = user.expect("registered").into_inner().user.expect("user");
    let token = customer_user_token(tenant_id, user.id.parse().expect("user id"));
    (user.id, token)
}

#[tokio::test]
async fn the_shoppers_of_a_shared_account_keep_their_cards_to_themselves() {
    use bss_proto::accounts::SetRegistrationProfileRequest;
    use bss_proto::accounts::tenant_service_client::TenantServiceClient;

    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Shop Books", "EUR").await;
    let gateway = suite.gateway().await;
    create_product(&gateway, &admin, "WIDGET", "10.00", "tools").await;
    let retail = create_account(&gateway, &admin, paying_account("WEB_RETAIL")).await;
    let profile = SetRegistrationProfileRequest {
        profile: "WEB".to_owned(),
        account_id: retail.clone(),
        request_id: String::new(),
    };
    TenantServiceClient::new(gateway.clone()).set_registration_profile(authorized(profile, &admin)).await.expect("set");
    let (ann_id, ann) = shopper(&gateway, tenant_id, "WEB", "ann@shop.example").await;
    let (bob_id, bob) = shopper(&gateway, tenant_id, "WEB", "bob@shop.example").await;

    // Each shopper's card is its own, and its own default.
    let anns = save(&gateway, &ann, "", method(PaymentMethodKind::Card, "tok_visa", true, true)).await;
    let bobs = save(&gateway, &bob, "", method(PaymentMethodKind::Card, "tok_decline_visa", true, false)).await;
    assert_eq!((anns.owner_user_id.as_str(), anns.is_default), (ann_id.as_str(), true));
    assert_eq!((bobs.owner_user_id.as_str(), bobs.is_default), (bob_id.as_str(), true));
    assert_eq!(methods(&gateway, &ann, "").await, [row("method tok_visa", "", true)]);
    assert_eq!(methods(&gateway, &bob, "").await, [row("method tok_decline_visa", "", true)]);
    let request = ListPaymentMethodsRequest { account_id: retail.clone(), ..Default::default() };
    let mut credit = CreditServiceClient::new(gateway.clone());
    let staff_view = credit.list_payment_methods(authorized(request, &admin)).await.expect("listed").into_inner();
    let owners: Vec<(String, String)> =
        staff_view.methods.into_iter().map(|m| (m.token_reference, m.owner_user_id)).collect();
    assert_eq!(owners.len(), 2);
    assert!(owners.contains(&("tok_visa".to_owned(), ann_id.clone())));
    assert!(owners.contains(&("tok_decline_visa".to_owned(), bob_id.clone())));
    // Another shopper's card is not there to change or remove.
    let relabel = UpdatePaymentMethodRequest {
        method: Some(PaymentMethod { id: anns.id.clone(), label: "mine now".to_owned(), ..PaymentMethod::default() }),
        update_mask: Some(prost_types::FieldMask { paths: vec!["label".to_owned()] }),
        request_id: String::new(),
    };
    let refused = credit.update_payment_method(authorized(relabel, &bob)).await.expect_err("ann's");
    assert_eq!(refused.code(), Code::NotFound);
    let remove = RemovePaymentMethodRequest { id: anns.id.clone(), request_id: String::new() };
    let refused = credit.remove_payment_method(authorized(remove, &bob)).await.expect_err("ann's");
    assert_eq!(refused.code(), Code::NotFound);

    // A request id is a user's own: bob sending ann's request again gets
    // no answer of hers.
    let anns_request = SavePaymentMethodRequest {
        account_id: String::new(),
        method: Some(method(PaymentMethodKind::Card, "tok_amex", false, false)),
        request_id: "save-amex".to_owned(),
    };
    credit.save_payment_method(authorized(anns_request.clone(), &ann)).await.expect("saved");
    let reused = credit.save_payment_method(authorized(anns_request.clone(), &bob)).await.expect_err("ann's id");
    assert_eq!((reused.code(), reason(&reused)), (Code::InvalidArgument, "REQUEST_ID_REUSED".to_owned()));
    assert_eq!(methods(&gateway, &bob, "").await.len(), 1, "nothing saved for bob");
    let amex = method_id_by_label(&gateway, &admin, &retail, "method tok_amex").await;
    let remove = RemovePaymentMethodRequest { id: amex, request_id: String::new() };
    credit.remove_payment_method(authorized(remove, &ann)).await.expect("removed");

    // Each pays with its own card (the provider approves ann's, declines
    // bob's); bob cannot name ann's.
    let paid = place(&gateway, &ann, order_request("", &[("WIDGET", "1")], PaymentType::CreditCard)).await;
    assert_eq!(
        (paid.status(), paid.payment.as_ref().map(|p| p.status())),
        (OrderStatus::Executed, Some(OrderPaymentStatus::Captured))
    );
    let declined = place(&gateway, &bob, order_request("", &[("WIDGET", "1")], PaymentType::CreditCard)).await;
    assert_eq!(
        (declined.status(), declined.payment.as_ref().map(|p| p.status())),
        (OrderStatus::Rejected, Some(OrderPaymentStatus::Declined))
    );
    let mut named = order_request("", &[("WIDGET", "1")], PaymentType::CreditCard);
    named.order.as_mut().expect("order").payment_method_id = anns.id.clone();
    let refused = bss_proto::billing::order_service_client::OrderServiceClient::new(gateway.clone())
        .place_order(authorized(named, &bob))
        .await
        .expect_err("ann's card");
    assert_eq!((refused.code(), reason(&refused)), (Code::FailedPrecondition, "PAYMENT_METHOD_MISSING".to_owned()));
    // Staff's order for the account never takes a shopper's card.
    let staff_order = order_request(&retail, &[("WIDGET", "1")], PaymentType::CreditCard);
    let refused = bss_proto::billing::order_service_client::OrderServiceClient::new(gateway.clone())
        .place_order(authorized(staff_order, &admin))
        .await
        .expect_err("no card of the account's");
    assert_eq!((refused.code(), reason(&refused)), (Code::FailedPrecondition, "PAYMENT_METHOD_MISSING".to_owned()));

    // The shoppers' cards are not the account's: it has no preference yet.
    let none = credit
        .get_payment_preference(authorized(GetPaymentPreferenceRequest { account_id: retail.clone() }, &admin))
        .await
        .expect_err("no method of the account's own");
    assert_eq!(none.code(), Code::NotFound);

    // The account's own method is staff's: shoppers see it, cannot change
    // it; it alone collects the account's invoices (ann's card, opted in
    // for subscriptions, never does).
    let accounts =
        save(&gateway, &admin, &retail, method(PaymentMethodKind::Card, "tok_retry_visa", false, true)).await;
    assert_eq!((accounts.owner_user_id.as_str(), accounts.is_default), ("", true));
    assert_eq!(
        methods(&gateway, &ann, "").await,
        [row("method tok_retry_visa", "", true), row("method tok_visa", "", true)]
    );
    let remove = RemovePaymentMethodRequest { id: accounts.id.clone(), request_id: String::new() };
    let refused = credit.remove_payment_method(authorized(remove, &ann)).await.expect_err("the account's");
    assert_eq!((refused.code(), reason(&refused)), (Code::FailedPrecondition, "METHOD_OF_SHARED_ACCOUNT".to_owned()));
    let pool = sqlx::PgPool::connect(suite.database_url()).await.expect("database");
    let collecting = "SELECT method_id FROM billing.collection_methods WHERE tenant_id = $1 AND account_id = $2::uuid";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let method: Option<String> =
            sqlx::query_scalar(collecting).bind(tenant_id).bind(&retail).fetch_optional(&pool).await.expect("read");
        if method.as_deref() == Some(accounts.id.as_str()) {
            break;
        }
        assert_ne!(method.as_deref(), Some(anns.id.as_str()), "a shopper's card collects the account's invoices");
        assert!(tokio::time::Instant::now() < deadline, "billing never heard of the account's method");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A shopper's default moves among its own cards only: the account's
    // stays; removing the shopper's default makes its other card the
    // default again.
    let second = save(&gateway, &ann, "", method(PaymentMethodKind::Card, "tok_mastercard", true, false)).await;
    let make_default = UpdatePaymentMethodRequest {
        method: Some(PaymentMethod { id: second.id.clone(), is_default: true, ..PaymentMethod::default() }),
        update_mask: Some(prost_types::FieldMask { paths: vec!["is_default".to_owned()] }),
        request_id: String::new(),
    };
    credit.update_payment_method(authorized(make_default, &ann)).await.expect("made default");
    assert_eq!(
        methods(&gateway, &ann, "").await,
        [
            row("method tok_retry_visa", "", true),
            row("method tok_mastercard", "", true),
            row("method tok_visa", "", false)
        ]
    );
    let remove = RemovePaymentMethodRequest { id: second.id.clone(), request_id: String::new() };
    let left = credit.remove_payment_method(authorized(remove, &ann)).await.expect("removed").into_inner().methods;
    let left: Vec<(String, bool)> = left.into_iter().map(|m| (m.label, m.is_default)).collect();
    assert_eq!(left, [("method tok_retry_visa".to_owned(), true), ("method tok_visa".to_owned(), true)]);
    assert_eq!(methods(&gateway, &bob, "").await[1], row("method tok_decline_visa", "", true), "bob's untouched");
    // Credit's preference is the account's own default, not a shopper's.
    let preference = credit
        .get_payment_preference(authorized(GetPaymentPreferenceRequest { account_id: retail.clone() }, &admin))
        .await
        .expect("preference");
    assert_eq!(preference.into_inner().preference.map(|p| p.card_token_reference), Some("tok_retry_visa".to_owned()));
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

/// A real payment gateway plugs in through the contract
/// (`bss.provider.v1.PaymentProviderService` at `BSS_PAYMENT_PROVIDER_URL`):
/// here the sandbox's implementation, served over gRPC as a gateway's
/// adapter would be, counting the calls that reach it. Billing authorizes
/// and captures there before executing, takes a decline's reason from it,
/// and refunds there on cancel. With no provider at all, card orders are
/// refused PAYMENT_PROVIDER_MISSING and nothing is stored.
#[tokio::test]
async fn a_payment_provider_plugs_in_through_the_contract_and_without_one_card_orders_are_refused() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use bss_billing::sandbox::SandboxPaymentProvider;
    use bss_proto::billing::order_service_client::OrderServiceClient;
    use bss_proto::billing::{CancelOrderRequest, ListOrdersRequest};
    use bss_proto::provider::payment_provider_service_server::PaymentProviderServiceServer;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let provider_url = format!("http://{}", listener.local_addr().expect("address"));
    let suite = TestApp::start_with(|config| config.payments = bss_suite::Payments::Provider(provider_url)).await;
    let books = bss_platform::config::DatabaseConfig::new(suite.database_url().to_owned());
    let books = bss_platform::db::connect(&books, "billing", "e2e-provider").await.expect("the provider's books");
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let served = PaymentProviderServiceServer::with_interceptor(SandboxPaymentProvider::new(books), move |request| {
        counted.fetch_add(1, Ordering::SeqCst);
        Ok(request)
    });
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(served)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );

    let (tenant_id, admin) = suite.tenant("Gateway Books", "EUR").await;
    let gateway = suite.gateway().await;
    create_product(&gateway, &admin, "WIDGET", "10.00", "tools").await;
    let account = create_account(&gateway, &admin, ordering_account("PLUGGED")).await;
    let customer = customer_user_token(tenant_id, create_user(&gateway, &admin, &account, "pay@plugged.example").await);
    save(
        &gateway,
        &customer,
        "",
        PaymentMethod { is_default: true, ..method(PaymentMethodKind::Card, "tok_visa", true, false) },
    )
    .await;
    let by_card = || order_request("", &[("WIDGET", "2")], PaymentType::CreditCard);

    let paid = place(&gateway, &customer, by_card()).await;
    let payment = paid.payment.clone().expect("payment");
    assert_eq!((paid.status, payment.status), (OrderStatus::Executed as i32, OrderPaymentStatus::Captured as i32));
    assert_eq!(amount(&payment.amount), "20.00");
    assert!(payment.capture_id.starts_with("sandbox_capture_"), "captured at the provider: {payment:?}");
    let after_payment = calls.load(Ordering::SeqCst);
    assert!(after_payment >= 2, "authorized and captured over the contract ({after_payment} calls)");

    let cancel =
        CancelOrderRequest { id: paid.id.clone(), reason: "changed my mind".to_owned(), request_id: String::new() };
    let cancelled = OrderServiceClient::new(gateway.clone()).cancel_order(authorized(cancel, &customer)).await;
    let refund = cancelled.expect("cancelled").into_inner().order.expect("order").payment.expect("payment");
    assert_eq!(refund.status, OrderPaymentStatus::Refunded as i32);
    assert!(calls.load(Ordering::SeqCst) > after_payment, "refunded at the provider");

    save(
        &gateway,
        &customer,
        "",
        PaymentMethod { is_default: true, ..method(PaymentMethodKind::Card, "tok_decline", true, false) },
    )
    .await;
    let declined = place(&gateway, &customer, by_card()).await;
    assert_eq!(declined.status, OrderStatus::Rejected as i32);
    assert!(declined.payment.expect("payment").decline_reason.contains("declined"), "the provider's reason");

    // No provider: refused before anything is stored.
    let bare = TestApp::start_with(|config| config.payments = bss_suite::Payments::None).await;
    let (tenant_id, admin) = bare.tenant("Cashless Books", "EUR").await;
    let gateway = bare.gateway().await;
    create_product(&gateway, &admin, "WIDGET", "10.00", "tools").await;
    let account = create_account(&gateway, &admin, ordering_account("CASHLESS")).await;
    bss_e2e::set_credit_terms(&gateway, &admin, &account, "1000", None).await;
    let customer =
        customer_user_token(tenant_id, create_user(&gateway, &admin, &account, "pay@cashless.example").await);
    save(
        &gateway,
        &customer,
        "",
        PaymentMethod { is_default: true, ..method(PaymentMethodKind::Card, "tok_visa", true, false) },
    )
    .await;
    let mut orders = OrderServiceClient::new(gateway.clone());
    let refused = orders.place_order(authorized(by_card(), &customer)).await.expect_err("no provider");
    assert_eq!((refused.code(), reason(&refused)), (Code::FailedPrecondition, "PAYMENT_PROVIDER_MISSING".to_owned()));
    let listed = ListOrdersRequest { account_id: account.clone(), ..ListOrdersRequest::default() };
    assert!(orders.list_orders(authorized(listed, &admin)).await.expect("orders").into_inner().orders.is_empty());
    let on_account = place(&gateway, &customer, order_request("", &[("WIDGET", "1")], PaymentType::OnAccount)).await;
    assert_eq!(on_account.status, OrderStatus::Executed as i32, "orders on account need no provider");
}
