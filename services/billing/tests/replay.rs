//! Every mutating RPC of billing, called straight (not through the
//! gateway), sent again with its request id: the same answer, whole, and no
//! second effect; the same id with another request: INVALID_ARGUMENT
//! `REQUEST_ID_REUSED`. The answers are compared field by field, so a
//! replay that decodes a stored answer as another message, or rebuilds it
//! from rows changed since, fails here.

#![allow(clippy::expect_used)]

use std::fmt::Debug;
use std::future::Future;

use bss_platform::auth::Role;
use bss_proto::billing::asset_service_client::AssetServiceClient;
use bss_proto::billing::invoice_service_client::InvoiceServiceClient;
use bss_proto::billing::ledger_service_client::LedgerServiceClient;
use bss_proto::billing::location_service_client::LocationServiceClient;
use bss_proto::billing::order_service_client::OrderServiceClient;
use bss_proto::billing::payment_service_client::PaymentServiceClient;
use bss_proto::billing::subscription_service_client::SubscriptionServiceClient;
use bss_proto::billing::wallet_service_client::WalletServiceClient;
use bss_proto::billing::*;
use bss_proto::types::PaymentType;
use bss_testapp::{TestApp, amount, create_product, decimal, eur, order_request, subscription_request, today};
use bss_testkit::authorized;
use tonic::transport::Channel;
use tonic::{Code, Response, Status};

/// Sends `request`, then the same again: one answer; then `changed` with
/// the same request id: refused. Returns the answer.
async fn once<Req, Resp, Fut>(what: &str, call: impl Fn(Req) -> Fut, request: Req, changed: Req) -> Resp
where
    Req: Clone,
    Resp: PartialEq + Debug,
    Fut: Future<Output = Result<Response<Resp>, Status>>,
{
    let first = call(request.clone()).await.unwrap_or_else(|status| panic!("{what}: {status:?}")).into_inner();
    let again = call(request).await.unwrap_or_else(|status| panic!("{what} again: {status:?}")).into_inner();
    assert_eq!(first, again, "{what}: the retry gets the first answer");
    let reused = call(changed).await.expect_err("another request with the same id");
    assert_eq!(
        (reused.code(), bss_testkit::reason(&reused).as_str()),
        (Code::InvalidArgument, "REQUEST_ID_REUSED"),
        "{what}: {reused:?}"
    );
    first
}

/// A call of billing's `$client` with a fresh client and the token, as a
/// future owning what it needs.
macro_rules! call {
    ($client:ident, $channel:expr, $method:ident, $token:expr) => {{
        let (channel, token) = ($channel.clone(), $token.clone());
        move |request| {
            let (mut client, token) = ($client::new(channel.clone()), token.clone());
            async move { client.$method(authorized(request, &token)).await }
        }
    }};
}

struct Books {
    billing: Channel,
    clerk: String,
    admin: String,
    account: String,
}

async fn books(app: &TestApp) -> Books {
    let books = app.books("Replay Books", "REPLAY", "100000").await;
    create_product(&books.gateway, &books.admin, "SUPPORT", "5.00", "services").await;
    let clerk = bss_testkit::token(books.tenant_id, &[Role::BillingClerk, Role::TenantAdmin]);
    Books {
        billing: bss_testkit::channel(app.endpoints.billing).await,
        clerk,
        admin: books.admin,
        account: books.account,
    }
}

fn with_id<T>(mut request: T, id: &str, set: impl FnOnce(&mut T, String)) -> T {
    set(&mut request, id.to_owned());
    request
}

#[tokio::test]
async fn orders_and_subscriptions_are_placed_shipped_and_cancelled_once_per_request_id() {
    let app = TestApp::start().await;
    let Books { billing, clerk, account, .. } = books(&app).await;
    let place = call!(OrderServiceClient, billing, place_order, clerk);
    let order = |quantity: &str, available: &str, id: &str| {
        let mut request = order_request(&account, &[("WIDGET", quantity)], PaymentType::OnAccount);
        let order = request.order.as_mut().expect("order");
        order.lines[0].available_quantity = decimal(available);
        with_id(request, id, |request, id| request.request_id = id)
    };

    // Three back-ordered, then one shipped and one cancelled.
    let placed = once("PlaceOrder", &place, order("4", "1", "o-1"), order("5", "1", "o-1")).await;
    let placed = placed.order.expect("order");
    assert_eq!(placed.lines[0].backordered_quantity, decimal("3"));
    let ship = |quantity: &str| ShipBackOrderRequest {
        order_id: placed.id.clone(),
        line_number: 1,
        quantity: decimal(quantity),
        request_id: "ship-1".to_owned(),
    };
    let shipped =
        once("ShipBackOrder", call!(OrderServiceClient, billing, ship_back_order, clerk), ship("1"), ship("2"))
            .await
            .order
            .expect("order");
    assert_eq!(shipped.lines[0].backordered_quantity, decimal("2"));
    let cancel_back = |quantity: &str| CancelBackOrderRequest {
        order_id: placed.id.clone(),
        line_number: 1,
        quantity: decimal(quantity),
        reason: "discontinued".to_owned(),
        request_id: "cancel-back-1".to_owned(),
    };
    let cancelled_back = once(
        "CancelBackOrder",
        call!(OrderServiceClient, billing, cancel_back_order, clerk),
        cancel_back("1"),
        cancel_back("2"),
    )
    .await;
    assert_eq!(cancelled_back.order.expect("order").lines[0].backordered_quantity, decimal("1"));

    // A second order, cancelled whole.
    let second = once("PlaceOrder", &place, order("2", "2", "o-2"), order("3", "3", "o-2")).await.order.expect("order");
    let cancel = |reason: &str| CancelOrderRequest {
        id: second.id.clone(),
        reason: reason.to_owned(),
        request_id: "cancel-2".to_owned(),
    };
    let cancelled = once(
        "CancelOrder",
        call!(OrderServiceClient, billing, cancel_order, clerk),
        cancel("changed mind"),
        cancel("x"),
    )
    .await;
    assert_eq!(cancelled.order.expect("order").status, OrderStatus::Cancelled as i32);

    // A subscription, then cancelled.
    let subscribe = |quantity: &str| {
        let request = subscription_request(&account, "SUPPORT", quantity, PaymentType::OnAccount);
        with_id(request, "sub-1", |request, id| request.request_id = id)
    };
    let subscription = once(
        "CreateSubscription",
        call!(SubscriptionServiceClient, billing, create_subscription, clerk),
        subscribe("1"),
        subscribe("2"),
    )
    .await
    .subscription
    .expect("subscription");
    // Changed to three: once, and listed once in its history.
    let change = |quantity: &str| ChangeSubscriptionRequest {
        id: subscription.id.clone(),
        request_id: "change-1".to_owned(),
        quantity: decimal(quantity),
        ..Default::default()
    };
    let changed = once(
        "ChangeSubscription",
        call!(SubscriptionServiceClient, billing, change_subscription, clerk),
        change("3"),
        change("5"),
    )
    .await;
    assert_eq!(changed.subscription.expect("subscription").quantity, decimal("3"));
    let history = ListSubscriptionChangesRequest { id: subscription.id.clone(), ..Default::default() };
    let history = SubscriptionServiceClient::new(billing.clone())
        .list_subscription_changes(authorized(history, &clerk))
        .await
        .expect("history")
        .into_inner()
        .changes;
    assert_eq!(
        history.iter().map(|entry| entry.kind).collect::<Vec<_>>(),
        vec![SubscriptionChangeKind::Created as i32, SubscriptionChangeKind::Quantity as i32]
    );
    // Paused and resumed: once each.
    let pause =
        |request_id: &str| PauseSubscriptionRequest { id: subscription.id.clone(), request_id: request_id.to_owned() };
    let paused = once(
        "PauseSubscription",
        call!(SubscriptionServiceClient, billing, pause_subscription, clerk),
        pause("pause-1"),
        PauseSubscriptionRequest { id: placed.id.clone(), request_id: "pause-1".to_owned() },
    )
    .await;
    assert_eq!(paused.subscription.expect("subscription").status, SubscriptionStatus::Paused as i32);
    let resume = |id: &str| ResumeSubscriptionRequest { id: id.to_owned(), request_id: "resume-1".to_owned() };
    let resumed = once(
        "ResumeSubscription",
        call!(SubscriptionServiceClient, billing, resume_subscription, clerk),
        resume(&subscription.id),
        resume(&placed.id),
    )
    .await;
    assert_eq!(resumed.subscription.expect("subscription").status, SubscriptionStatus::Active as i32);
    let cancel_subscription = |id: &str| CancelSubscriptionRequest {
        id: id.to_owned(),
        request_id: "unsub-1".to_owned(),
        ..Default::default()
    };
    once(
        "CancelSubscription",
        call!(SubscriptionServiceClient, billing, cancel_subscription, clerk),
        cancel_subscription(&subscription.id),
        cancel_subscription(&placed.id),
    )
    .await;

    // Each once: the two orders, their reservations released or kept.
    let mut orders = OrderServiceClient::new(billing.clone());
    let list = ListOrdersRequest { account_id: account.clone(), ..ListOrdersRequest::default() };
    let listed = orders.list_orders(authorized(list, &clerk)).await.expect("orders").into_inner().orders;
    assert_eq!(listed.iter().map(|order| order.id.clone()).collect::<Vec<_>>(), vec![placed.id, second.id]);
}

#[tokio::test]
async fn invoices_payments_and_the_ledger_move_once_per_request_id() {
    let app = TestApp::start().await;
    let Books { billing, clerk, admin, account } = books(&app).await;
    let mut orders = OrderServiceClient::new(billing.clone());
    let request = order_request(&account, &[("WIDGET", "10")], PaymentType::OnAccount);
    orders.place_order(authorized(request, &clerk)).await.expect("placed");

    // Invoices: a draft generated, voided, generated again and posted; a
    // manual draft created and posted.
    let generate = |post: bool, id: &str| GenerateInvoicesRequest {
        account_id: account.clone(),
        invoice_date: today(),
        post,
        request_id: id.to_owned(),
    };
    let generate_call = call!(InvoiceServiceClient, billing, generate_invoices, clerk);
    let drafts = once("GenerateInvoices", &generate_call, generate(false, "gen-1"), generate(true, "gen-1")).await;
    let draft = drafts.invoices.first().expect("a draft").clone();
    let void = |reason: &str| VoidInvoiceRequest {
        id: draft.id.clone(),
        reason: reason.to_owned(),
        request_id: "void-1".to_owned(),
    };
    once("VoidInvoice", call!(InvoiceServiceClient, billing, void_invoice, clerk), void("wrong"), void("other")).await;
    let posted = once("GenerateInvoices", &generate_call, generate(true, "gen-2"), generate(false, "gen-2")).await;
    let posted = posted.invoices.first().expect("an invoice").clone();
    assert_eq!((posted.status, amount(&posted.total)), (InvoiceStatus::Posted as i32, "100.00"));
    let manual =
        |price: &str| CreateInvoiceRequest { request_id: "manual-1".to_owned(), ..manual_request(&account, price) };
    let manual = once(
        "CreateInvoice",
        call!(InvoiceServiceClient, billing, create_invoice, clerk),
        manual("20.00"),
        manual("30.00"),
    )
    .await
    .invoice
    .expect("invoice");
    let post = |id: &str| PostInvoiceRequest { id: id.to_owned(), request_id: "post-1".to_owned() };
    once("PostInvoice", call!(InvoiceServiceClient, billing, post_invoice, clerk), post(&manual.id), post(&draft.id))
        .await;

    // Payments: 150 paid on 120 owed, 10 credited, the 40 of credit
    // refunded; then 20 more owed and written off.
    let pay = |paid: &str| RecordPaymentRequest {
        payment: Some(Payment { account_id: account.clone(), amount: eur(paid), ..Payment::default() }),
        invoice_id: String::new(),
        request_id: "pay-1".to_owned(),
    };
    once("RecordPayment", call!(PaymentServiceClient, billing, record_payment, clerk), pay("150.00"), pay("1.00"))
        .await;
    let note = |credited: &str| CreateCreditNoteRequest {
        account_id: account.clone(),
        amount: eur(credited),
        reason: "goodwill".to_owned(),
        invoice_id: String::new(),
        request_id: "note-1".to_owned(),
        ..CreateCreditNoteRequest::default()
    };
    once(
        "CreateCreditNote",
        call!(PaymentServiceClient, billing, create_credit_note, clerk),
        note("10.00"),
        note("2.00"),
    )
    .await;
    let refund = |refunded: &str| RefundCreditRequest {
        account_id: account.clone(),
        amount: eur(refunded),
        reason: "closing".to_owned(),
        request_id: "refund-1".to_owned(),
    };
    once("RefundCredit", call!(PaymentServiceClient, billing, refund_credit, clerk), refund("40.00"), refund("1.00"))
        .await;
    let mut invoices = InvoiceServiceClient::new(billing.clone());
    let owed_again = CreateInvoiceRequest { request_id: "manual-2".to_owned(), ..manual_request(&account, "20.00") };
    let owed_again = invoices.create_invoice(authorized(owed_again, &clerk)).await.expect("draft").into_inner();
    let post_again = PostInvoiceRequest { id: owed_again.invoice.expect("invoice").id, request_id: String::new() };
    invoices.post_invoice(authorized(post_again, &clerk)).await.expect("posted");
    let write_off = |reason: &str| WriteOffAccountRequest {
        account_id: account.clone(),
        reason: reason.to_owned(),
        request_id: "write-off-1".to_owned(),
    };
    let written = once(
        "WriteOffAccount",
        call!(PaymentServiceClient, billing, write_off_account, clerk),
        write_off("uncollectable"),
        write_off("other"),
    )
    .await;
    assert_eq!(amount(&written.write_off.expect("write-off").amount), "20.00");
    let mut payments = PaymentServiceClient::new(billing.clone());
    let balance = GetAccountBalanceRequest { account_id: account.clone() };
    let balance = payments.get_account_balance(authorized(balance, &clerk)).await.expect("balance").into_inner();
    assert_eq!(amount(&balance.balance), "0.00", "each movement once: 120 + 20 - 150 - 10 + 40 - 20");

    // The ledger: periods set once, one closed once; rebates run once.
    let settings = |frequency: PeriodFrequency| SetPeriodSettingsRequest {
        settings: Some(PeriodSettings {
            frequency: frequency as i32,
            first_period_start: "2026-01-01".to_owned(),
            create_time: None,
        }),
        request_id: "periods-1".to_owned(),
    };
    let set = once(
        "SetPeriodSettings",
        call!(LedgerServiceClient, billing, set_period_settings, admin),
        settings(PeriodFrequency::Monthly),
        settings(PeriodFrequency::Yearly),
    )
    .await;
    let period = set.period.expect("the first period");
    let close = |id: &str| ClosePeriodRequest { period_id: id.to_owned(), request_id: "close-1".to_owned() };
    let closed = once(
        "ClosePeriod",
        call!(LedgerServiceClient, billing, close_period, admin),
        close(&period.id),
        close(&account),
    )
    .await;
    assert_eq!(closed.closed.expect("closed").id, period.id);
    let rebates = |date: &str| RunRebatesRequest {
        period_date: date.to_owned(),
        account_id: account.clone(),
        request_id: "rebates-1".to_owned(),
    };
    once(
        "RunRebates",
        call!(LedgerServiceClient, billing, run_rebates, admin),
        rebates(&today()),
        rebates("2026-01-31"),
    )
    .await;
    let run = |post: bool| StartBillingRunRequest { invoice_date: today(), post, request_id: "run-1".to_owned() };
    once("StartBillingRun", call!(InvoiceServiceClient, billing, start_billing_run, clerk), run(true), run(false))
        .await;
}

#[tokio::test]
async fn a_wallet_is_opened_set_topped_up_and_pays_once_per_request_id() {
    let app = TestApp::start().await;
    let Books { billing, clerk, account, .. } = books(&app).await;
    let open = |purchases: bool| OpenWalletRequest {
        account_id: account.clone(),
        use_for_purchases: purchases,
        use_for_subscriptions: false,
        request_id: "wallet-1".to_owned(),
    };
    once("OpenWallet", call!(WalletServiceClient, billing, open_wallet, clerk), open(true), open(false)).await;
    let prefs = |subscriptions: bool| SetWalletPreferencesRequest {
        account_id: account.clone(),
        use_for_purchases: true,
        use_for_subscriptions: subscriptions,
        request_id: "prefs-1".to_owned(),
    };
    once(
        "SetWalletPreferences",
        call!(WalletServiceClient, billing, set_wallet_preferences, clerk),
        prefs(false),
        prefs(true),
    )
    .await;
    let top_up = |paid: &str| TopUpWalletRequest {
        account_id: account.clone(),
        amount: eur(paid),
        reason: "cash".to_owned(),
        request_id: "top-up-1".to_owned(),
    };
    let topped =
        once("TopUpWallet", call!(WalletServiceClient, billing, top_up_wallet, clerk), top_up("50.00"), top_up("5.00"))
            .await;
    assert_eq!(amount(&topped.transaction.expect("moved").balance_after), "50.00", "topped up once");
    let mut invoices = InvoiceServiceClient::new(billing.clone());
    let draft = invoices.create_invoice(authorized(manual_request(&account, "20.00"), &clerk)).await.expect("draft");
    let post = PostInvoiceRequest { id: draft.into_inner().invoice.expect("invoice").id, request_id: String::new() };
    invoices.post_invoice(authorized(post, &clerk)).await.expect("posted");
    let pay = |paid: &str| PayFromWalletRequest {
        account_id: account.clone(),
        amount: eur(paid),
        invoice_id: String::new(),
        request_id: "wallet-pay-1".to_owned(),
    };
    let paid =
        once("PayFromWallet", call!(WalletServiceClient, billing, pay_from_wallet, clerk), pay("20.00"), pay("10.00"))
            .await;
    assert_eq!(amount(&paid.transaction.expect("moved").balance_after), "30.00", "paid once");
    let pay_out = |paid: &str| PayOutWalletRequest {
        account_id: account.clone(),
        amount: eur(paid),
        reason: "closing".to_owned(),
        request_id: "pay-out-1".to_owned(),
    };
    let out = once(
        "PayOutWallet",
        call!(WalletServiceClient, billing, pay_out_wallet, clerk),
        pay_out("10.00"),
        pay_out("5.00"),
    )
    .await;
    assert_eq!(amount(&out.transaction.expect("moved").balance_after), "20.00", "paid out once");
}

#[tokio::test]
async fn assets_are_imported_recorded_transferred_and_returned_once_per_request_id() {
    let app = TestApp::start().await;
    let books = app.books("Asset Replay", "ASSETS", "100000").await;
    let other = bss_testapp::create_account(&books.gateway, &books.admin, bss_testapp::ordering_account("OTHER")).await;
    let clerk = bss_testkit::token(books.tenant_id, &[Role::BillingClerk, Role::TenantAdmin]);
    let billing = bss_testkit::channel(app.endpoints.billing).await;
    bss_testapp::create_good(&books.gateway, &books.admin, "PHONE", eur("100.00"), (true, 12)).await;
    let import = |serial: &str| ImportAssetRequest {
        account_id: books.account.clone(),
        product: "PHONE".to_owned(),
        serial_number: serial.to_owned(),
        request_id: "import-1".to_owned(),
    };
    let imported =
        once("ImportAsset", call!(AssetServiceClient, billing, import_asset, clerk), import("SN-1"), import("SN-2"))
            .await
            .asset
            .expect("asset");
    // A good bought: its unit's serial recorded once.
    let order = order_request(&books.account, &[("PHONE", "1")], PaymentType::OnAccount);
    OrderServiceClient::new(billing.clone()).place_order(authorized(order, &clerk)).await.expect("placed");
    let list = ListAssetsRequest { account_id: books.account.clone(), ..ListAssetsRequest::default() };
    let listed = AssetServiceClient::new(billing.clone()).list_assets(authorized(list, &clerk)).await.expect("assets");
    let bought = listed.into_inner().assets.into_iter().find(|asset| !asset.customer_owned).expect("bought");
    let serial = |serial: &str| RecordAssetSerialRequest {
        asset_id: bought.id.clone(),
        serial_number: serial.to_owned(),
        request_id: "serial-1".to_owned(),
    };
    once(
        "RecordAssetSerial",
        call!(AssetServiceClient, billing, record_asset_serial, clerk),
        serial("SN-3"),
        serial("SN-4"),
    )
    .await;
    let transfer = |reason: &str| TransferAssetRequest {
        asset_id: imported.id.clone(),
        to_account_id: other.clone(),
        reason: reason.to_owned(),
        request_id: "transfer-1".to_owned(),
    };
    let moved = once(
        "TransferAsset",
        call!(AssetServiceClient, billing, transfer_asset, clerk),
        transfer("gift"),
        transfer("sold"),
    )
    .await;
    assert_eq!(moved.asset.expect("asset").account_id, other, "moved once");
    let location = Location {
        code: "DEPOT".to_owned(),
        name: "Depot".to_owned(),
        kind: LocationKind::Physical as i32,
        ..Location::default()
    };
    let create = CreateLocationRequest { location: Some(location), request_id: String::new() };
    let location = LocationServiceClient::new(billing.clone()).create_location(authorized(create, &clerk)).await;
    let location_id = location.expect("location").into_inner().location.expect("location").id;
    let back = |reason: &str| ReturnAssetsRequest {
        asset_ids: vec![bought.id.clone()],
        location_id: location_id.clone(),
        reason: reason.to_owned(),
        request_id: "return-1".to_owned(),
    };
    let returned =
        once("ReturnAssets", call!(AssetServiceClient, billing, return_assets, clerk), back("faulty"), back("other"))
            .await;
    assert_eq!(returned.assets[0].status, AssetStatus::Returned as i32);
    let stock = ListStockRequest { location_id, ..ListStockRequest::default() };
    let stock = LocationServiceClient::new(billing.clone()).list_stock(authorized(stock, &clerk)).await.expect("stock");
    let levels: Vec<String> = stock.into_inner().stock.iter().map(|level| amount_of(level.quantity.as_ref())).collect();
    assert_eq!(levels, vec!["1".to_owned()], "put back once");
}

fn amount_of(quantity: Option<&bss_proto::types::Decimal>) -> String {
    quantity.map(|quantity| quantity.value.clone()).unwrap_or_default()
}

fn manual_request(account: &str, price: &str) -> CreateInvoiceRequest {
    CreateInvoiceRequest {
        invoice: Some(Invoice {
            account_id: account.to_owned(),
            invoice_date: today(),
            lines: vec![InvoiceLine {
                description: "Setup".to_owned(),
                quantity: decimal("1"),
                unit_price: eur(price),
                ..InvoiceLine::default()
            }],
            ..Invoice::default()
        }),
        request_id: String::new(),
    }
}
