//! Locations and stock, through the gateway, read back from every side: a
//! customer's own user orders from its account's primary location; what the
//! location holds ships, the rest waits as a back order that ships when
//! stock arrives; the location's surcharge is a line of its own; the order
//! and its invoice carry the account's addresses; credit reserves the
//! whole and releases it as the invoices post. Racing orders never take
//! more stock than there is, and a cancelled order gives its stock back to
//! the orders waiting for it.

#![allow(clippy::expect_used)]

use bss_e2e::{
    TestApp, amount, assign_location, create_account, create_good, create_location, create_product, create_user,
    credit_settles, decimal, eur, generate, order_request, ordering_account, place, receive_stock, set_credit_terms,
    stock_at, today,
};
use bss_proto::accounts::account_service_client::AccountServiceClient;
use bss_proto::accounts::{Address, AddressType, CreateAddressRequest};
use bss_proto::billing::asset_service_client::AssetServiceClient;
use bss_proto::billing::location_service_client::LocationServiceClient;
use bss_proto::billing::order_service_client::OrderServiceClient;
use bss_proto::billing::*;
use bss_proto::types::PaymentType;
use bss_testkit::{authorized, customer_user_token, reason};
use tonic::Code;
use tonic::transport::Channel;

async fn create_address(gateway: &Channel, admin: &str, account_id: &str, kind: AddressType, street: &str) -> String {
    let address = Address {
        r#type: kind as i32,
        lines: vec![street.to_owned()],
        city: "Sydney".to_owned(),
        region: "NSW".to_owned(),
        postal_code: "2000".to_owned(),
        country_code: "AU".to_owned(),
        override_validation: true,
        ..Address::default()
    };
    let request =
        CreateAddressRequest { account_id: account_id.to_owned(), address: Some(address), request_id: String::new() };
    let created = AccountServiceClient::new(gateway.clone()).create_address(authorized(request, admin)).await;
    created.expect("address").into_inner().address.expect("address").id
}

fn quantity(value: &Option<bss_proto::types::Decimal>) -> String {
    value.as_ref().map(|q| q.value.clone()).unwrap_or_default()
}

#[tokio::test]
async fn a_customer_orders_from_its_location_and_its_back_order_ships_when_stock_arrives() {
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Stocked Books", "EUR").await;
    let gateway = suite.gateway().await;
    create_product(&gateway, &admin, "WIDGET", "10.00", "tools").await;
    create_product(&gateway, &admin, "SETUP", "20.00", "services").await;
    let account = create_account(&gateway, &admin, ordering_account("STOCKED")).await;
    let other = create_account(&gateway, &admin, ordering_account("ELSEWHERE")).await;
    set_credit_terms(&gateway, &admin, &account, "1000", None).await;
    let billing_address = create_address(&gateway, &admin, &account, AddressType::Billing, "1 Ledger Lane").await;
    let delivery_address = create_address(&gateway, &admin, &account, AddressType::Delivery, "9 Dock Road").await;
    let foreign_address = create_address(&gateway, &admin, &other, AddressType::Billing, "5 Other St").await;
    let customer =
        customer_user_token(tenant_id, create_user(&gateway, &admin, &account, "buyer@stocked.example").await);

    let sydney = create_location(&gateway, &admin, "SYD", Some("5.00")).await;
    let melbourne = create_location(&gateway, &admin, "MEL", None).await;
    let brisbane = create_location(&gateway, &admin, "BNE", None).await;
    assign_location(&gateway, &admin, &account, &sydney, true).await;
    assign_location(&gateway, &admin, &account, &melbourne, false).await;
    assert!(receive_stock(&gateway, &admin, &sydney, "WIDGET", "3").await.shipped.is_empty());

    // The customer sees its account's locations and their stock, and no
    // other location's.
    let mut locations = LocationServiceClient::new(gateway.clone());
    let own = locations.list_locations(authorized(ListLocationsRequest::default(), &customer)).await;
    let own: Vec<String> = own.expect("locations").into_inner().locations.into_iter().map(|l| l.code).collect();
    assert_eq!(own, ["MEL", "SYD"]);
    assert_eq!(
        stock_at(&gateway, &customer, &sydney).await.expect("own stock"),
        [("WIDGET".to_owned(), "3".to_owned())]
    );
    let hidden = stock_at(&gateway, &customer, &brisbane).await.expect_err("another location");
    assert_eq!(hidden.code(), Code::NotFound);
    let listed = ListAccountLocationsRequest::default();
    let assigned = locations.list_account_locations(authorized(listed, &customer)).await.expect("own account's");
    let assigned = assigned.into_inner().locations;
    assert_eq!(
        assigned.iter().map(|a| (a.location.as_ref().map(|l| l.code.as_str()), a.primary)).collect::<Vec<_>>(),
        [(Some("SYD"), true), (Some("MEL"), false)]
    );
    let refused = locations
        .receive_stock(authorized(
            ReceiveStockRequest {
                location_id: sydney.id.clone(),
                product: "WIDGET".to_owned(),
                quantity: decimal("100"),
                request_id: String::new(),
            },
            &customer,
        ))
        .await
        .expect_err("a customer receives no stock");
    assert_eq!(refused.code(), Code::PermissionDenied);

    // The order ships from the primary location: 3 of 5 widgets now, 2
    // back-ordered; the service ships whole; the surcharge is its own line.
    let order =
        place(&gateway, &customer, order_request("", &[("WIDGET", "5"), ("SETUP", "1")], PaymentType::OnAccount)).await;
    assert_eq!(order.status(), OrderStatus::Executed);
    assert_eq!(order.account_id, account);
    assert_eq!(order.location_id, sydney.id);
    assert_eq!(amount(&order.total), "75.00");
    let lines: Vec<(String, String, String, bool, String)> = order
        .lines
        .iter()
        .map(|line| {
            (
                line.product.clone(),
                quantity(&line.available_quantity),
                quantity(&line.backordered_quantity),
                line.surcharge,
                amount(&line.total).to_owned(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("WIDGET".to_owned(), "3".to_owned(), "2".to_owned(), false, "50.00".to_owned()),
            ("SETUP".to_owned(), String::new(), String::new(), false, "20.00".to_owned()),
            ("SYD".to_owned(), String::new(), String::new(), true, "5.00".to_owned()),
        ]
    );
    assert_eq!(order.billing_address_id, billing_address);
    assert_eq!(order.delivery_address_id, delivery_address);
    let delivery = order.delivery_address.as_ref().expect("delivery address");
    assert_eq!(delivery.lines, ["9 Dock Road"]);
    assert_eq!(stock_at(&gateway, &customer, &sydney).await.expect("stock"), [("WIDGET".to_owned(), "0".to_owned())]);
    // Credit reserved the whole order, back order and surcharge included.
    credit_settles(&gateway, &admin, &account, "0.00", "75.00").await;
    let mut orders = OrderServiceClient::new(gateway.clone());
    let back_orders = ListOrdersRequest { account_id: account.clone(), back_ordered_only: true, ..Default::default() };
    let waiting = orders.list_orders(authorized(back_orders.clone(), &customer)).await.expect("back orders");
    assert_eq!(waiting.into_inner().orders.len(), 1, "its enquiry shows the back order");

    // What shipped is invoiced now, to the billing address.
    let first = generate(&gateway, &admin, &account, &today(), true).await;
    assert_eq!(first.len(), 1);
    assert_eq!(amount(&first[0].total), "55.00");
    assert_eq!(first[0].billing_address.as_ref().map(|a| a.address_id.as_str()), Some(billing_address.as_str()));
    assert_eq!(first[0].billing_address.as_ref().map(|a| a.lines.clone()), Some(vec!["1 Ledger Lane".to_owned()]));
    credit_settles(&gateway, &admin, &account, "55.00", "20.00").await;

    // Stock arrives: the back order ships first, the rest is on hand.
    let received = receive_stock(&gateway, &admin, &sydney, "WIDGET", "4").await;
    let shipped: Vec<(String, i32, String)> =
        received.shipped.iter().map(|s| (s.order_id.clone(), s.line_number, quantity(&s.quantity))).collect();
    assert_eq!(shipped, [(order.id.clone(), 1, "2".to_owned())]);
    assert_eq!(received.stock.map(|s| quantity(&s.quantity)), Some("2".to_owned()));
    let shipped = orders.get_order(authorized(GetOrderRequest { id: order.id.clone() }, &customer)).await;
    let shipped = shipped.expect("order").into_inner().order.expect("order");
    assert_eq!(shipped.lines[0].backordered_quantity, None, "nothing waits any more");
    let waiting = orders.list_orders(authorized(back_orders, &customer)).await.expect("back orders");
    assert!(waiting.into_inner().orders.is_empty());
    let second = generate(&gateway, &admin, &account, &today(), true).await;
    assert_eq!(second.iter().map(|invoice| amount(&invoice.total).to_owned()).collect::<Vec<_>>(), ["20.00"]);
    credit_settles(&gateway, &admin, &account, "75.00", "0.00").await;

    // Refused: a location the account is not at, stock given by the caller
    // where the location decides, another account's address.
    let mut at_brisbane = order_request("", &[("WIDGET", "1")], PaymentType::OnAccount);
    at_brisbane.order.as_mut().expect("order").location_id = brisbane.id.clone();
    let refused = orders.place_order(authorized(at_brisbane, &customer)).await.expect_err("not its location");
    assert_eq!(refused.code(), Code::NotFound);
    let mut claimed = order_request("", &[("WIDGET", "1")], PaymentType::OnAccount);
    claimed.order.as_mut().expect("order").lines[0].available_quantity = decimal("1");
    let refused = orders.place_order(authorized(claimed, &customer)).await.expect_err("the location decides");
    assert_eq!(refused.code(), Code::InvalidArgument);
    let mut foreign = order_request("", &[("SETUP", "1")], PaymentType::OnAccount);
    foreign.order.as_mut().expect("order").billing_address_id = foreign_address;
    let refused = orders.place_order(authorized(foreign, &customer)).await.expect_err("another account's address");
    assert_eq!(refused.code(), Code::NotFound);

    // From the chosen location: no surcharge there, nothing in stock.
    let mut at_melbourne = order_request("", &[("WIDGET", "2")], PaymentType::OnAccount);
    at_melbourne.order.as_mut().expect("order").location_id = melbourne.id.clone();
    let from_melbourne = place(&gateway, &customer, at_melbourne).await;
    assert_eq!(amount(&from_melbourne.total), "20.00");
    assert_eq!(from_melbourne.lines.len(), 1);
    assert_eq!(
        quantity(&from_melbourne.lines[0].available_quantity),
        "",
        "MEL records no widget stock: it ships whole"
    );

    // The primary location cannot go while the account has another.
    let remove = RemoveAccountLocationRequest {
        account_id: account.clone(),
        location_id: sydney.id.clone(),
        request_id: String::new(),
    };
    let refused = locations.remove_account_location(authorized(remove, &admin)).await.expect_err("primary in use");
    assert_eq!((refused.code(), reason(&refused)), (Code::FailedPrecondition, "PRIMARY_LOCATION_IN_USE".to_owned()));
    let taken = CreateLocationRequest {
        location: Some(Location { code: "SYD".to_owned(), name: "Again".to_owned(), kind: 1, ..Location::default() }),
        request_id: String::new(),
    };
    let refused = locations.create_location(authorized(taken, &admin)).await.expect_err("code taken");
    assert_eq!((refused.code(), reason(&refused)), (Code::AlreadyExists, "LOCATION_CODE_TAKEN".to_owned()));
}

#[tokio::test]
async fn racing_orders_never_take_more_stock_than_there_is() {
    let suite = TestApp::start().await;
    let (_, admin) = suite.tenant("Racing Stock", "EUR").await;
    let gateway = suite.gateway().await;
    create_product(&gateway, &admin, "GADGET", "1.00", "tools").await;
    let account = create_account(&gateway, &admin, ordering_account("RACER")).await;
    set_credit_terms(&gateway, &admin, &account, "1000", None).await;
    let depot = create_location(&gateway, &admin, "DEPOT", None).await;
    assign_location(&gateway, &admin, &account, &depot, false).await;
    receive_stock(&gateway, &admin, &depot, "GADGET", "4").await;

    let placing = (0..10).map(|_| {
        let gateway = gateway.clone();
        let admin = admin.clone();
        let account = account.clone();
        tokio::spawn(async move {
            place(&gateway, &admin, order_request(&account, &[("GADGET", "1")], PaymentType::OnAccount)).await
        })
    });
    let mut placed = Vec::new();
    for order in placing {
        placed.push(order.await.expect("placed"));
    }
    let shipped: Vec<&Order> =
        placed.iter().filter(|order| quantity(&order.lines[0].available_quantity) == "1").collect();
    assert_eq!(shipped.len(), 4, "exactly the 4 in stock shipped");
    assert_eq!(placed.iter().filter(|order| order.lines[0].backordered_quantity.is_some()).count(), 6);
    assert_eq!(stock_at(&gateway, &admin, &depot).await.expect("stock"), [("GADGET".to_owned(), "0".to_owned())]);

    // A cancelled order gives back what it took, which ships the oldest
    // waiting back order at once.
    let mut waited: Vec<String> = placed
        .iter()
        .filter(|order| order.lines[0].backordered_quantity.is_some())
        .map(|order| order.id.clone())
        .collect();
    waited.sort();
    let cancel =
        CancelOrderRequest { id: shipped[0].id.clone(), reason: "changed mind".to_owned(), request_id: String::new() };
    OrderServiceClient::new(gateway.clone()).cancel_order(authorized(cancel, &admin)).await.expect("cancelled");
    assert_eq!(stock_at(&gateway, &admin, &depot).await.expect("stock"), [("GADGET".to_owned(), "0".to_owned())]);
    let back_orders = ListOrdersRequest { account_id: account.clone(), back_ordered_only: true, ..Default::default() };
    let listed = OrderServiceClient::new(gateway.clone()).list_orders(authorized(back_orders, &admin)).await;
    let still: Vec<String> = listed.expect("back orders").into_inner().orders.into_iter().map(|o| o.id).collect();
    assert_eq!(still, waited[1..], "the oldest waiting order shipped from the stock given back");

    // Stock received ships every order still waiting, oldest first, and
    // keeps what is left: 10 - 5.
    let received = receive_stock(&gateway, &admin, &depot, "GADGET", "10").await;
    let shipped: Vec<String> = received.shipped.iter().map(|s| s.order_id.clone()).collect();
    assert_eq!(shipped, waited[1..], "the oldest order first");
    assert_eq!(received.stock.map(|s| quantity(&s.quantity)), Some("5".to_owned()));
    // What credit reserved is still the ten orders but the cancelled one.
    credit_settles(&gateway, &admin, &account, "0.00", "9.00").await;
}

fn cancel_part(order_id: &str, quantity: &str, request_id: &str) -> CancelBackOrderRequest {
    CancelBackOrderRequest {
        order_id: order_id.to_owned(),
        line_number: 1,
        quantity: decimal(quantity),
        reason: "fewer are enough".to_owned(),
        request_id: request_id.to_owned(),
    }
}

fn refunded(order: &Order) -> (OrderPaymentStatus, String, String) {
    let payment = order.payment.as_ref().expect("paid at submission");
    (payment.status(), amount(&payment.refunded).to_owned(), amount(&order.lines[0].refunded).to_owned())
}

#[tokio::test]
async fn a_paid_back_order_cancelled_is_refunded_its_share_and_the_rest_when_the_order_goes() {
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Paid Stock", "EUR").await;
    let gateway = suite.gateway().await;
    create_product(&gateway, &admin, "GIZMO", "3.33", "tools").await;
    let account = create_account(&gateway, &admin, ordering_account("CARDS")).await;
    bss_e2e::save_card(&gateway, &admin, &account, "tok_visa").await;
    let customer = customer_user_token(tenant_id, create_user(&gateway, &admin, &account, "card@stock.example").await);
    let shop = create_location(&gateway, &admin, "SHOP", None).await;
    assign_location(&gateway, &admin, &account, &shop, true).await;
    receive_stock(&gateway, &admin, &shop, "GIZMO", "1").await;

    // 3 gizmos paid by card: one ships, two wait.
    let order = place(&gateway, &customer, order_request("", &[("GIZMO", "3")], PaymentType::CreditCard)).await;
    assert_eq!((order.status(), amount(&order.total)), (OrderStatus::Executed, "9.99"));
    assert_eq!(quantity(&order.lines[0].backordered_quantity), "2");
    let mut orders = OrderServiceClient::new(gateway.clone());
    let cancel_one = cancel_part(&order.id, "1", "cancel-one-gizmo");
    let cancelled = orders.cancel_back_order(authorized(cancel_one.clone(), &customer)).await.expect("cancelled");
    let cancelled = cancelled.into_inner().order.expect("order");
    assert_eq!(refunded(&cancelled), (OrderPaymentStatus::Captured, "3.33".to_owned(), "3.33".to_owned()));
    assert_eq!(quantity(&cancelled.lines[0].backordered_quantity), "1");
    // A retry refunds nothing more, and the order read back agrees.
    let again = orders.cancel_back_order(authorized(cancel_one, &customer)).await.expect("replayed");
    assert_eq!(refunded(&again.into_inner().order.expect("order")).1, "3.33");
    let read = GetOrderRequest { id: order.id.clone() };
    let read = orders.get_order(authorized(read, &admin)).await.expect("order").into_inner();
    assert_eq!(refunded(&read.order.expect("order")).1, "3.33");

    // Cancelling the order gives back what is still held: 9.99 in all.
    let cancel =
        CancelOrderRequest { id: order.id.clone(), reason: "changed mind".to_owned(), request_id: String::new() };
    let gone = orders.cancel_order(authorized(cancel, &customer)).await.expect("cancelled").into_inner();
    let gone = gone.order.expect("order");
    assert_eq!(refunded(&gone), (OrderPaymentStatus::Refunded, "9.99".to_owned(), "3.33".to_owned()));
    // The one that shipped is back on the shelf.
    assert_eq!(stock_at(&gateway, &admin, &shop).await.expect("stock"), [("GIZMO".to_owned(), "1".to_owned())]);
}

#[tokio::test]
async fn a_wallet_paid_back_order_cancelled_in_part_puts_its_share_back_in_the_wallet() {
    use bss_proto::billing::wallet_service_client::WalletServiceClient;
    let suite = TestApp::start().await;
    let (_, admin) = suite.tenant("Wallet Stock", "EUR").await;
    let gateway = suite.gateway().await;
    create_product(&gateway, &admin, "GIZMO", "3.33", "tools").await;
    let account = create_account(&gateway, &admin, ordering_account("SAVES")).await;
    set_credit_terms(&gateway, &admin, &account, "1", None).await;
    let shop = create_location(&gateway, &admin, "SHOP", None).await;
    assign_location(&gateway, &admin, &account, &shop, true).await;
    receive_stock(&gateway, &admin, &shop, "GIZMO", "1").await;
    let mut wallets = WalletServiceClient::new(gateway.clone());
    let open = OpenWalletRequest {
        account_id: account.clone(),
        use_for_purchases: true,
        use_for_subscriptions: false,
        request_id: String::new(),
    };
    wallets.open_wallet(authorized(open, &admin)).await.expect("opened");
    let top_up = TopUpWalletRequest {
        account_id: account.clone(),
        amount: eur("20.00"),
        reason: "prepaid".to_owned(),
        request_id: String::new(),
    };
    wallets.top_up_wallet(authorized(top_up, &admin)).await.expect("topped up");
    let balance = async |wallets: &mut WalletServiceClient<Channel>| {
        let get = GetWalletRequest { account_id: account.clone() };
        let wallet = wallets.get_wallet(authorized(get, &admin)).await.expect("wallet").into_inner().wallet;
        amount(&wallet.expect("wallet").balance).to_owned()
    };

    // 9.99 is past the limit of 1: the wallet pays it at submission; one
    // gizmo ships, two wait.
    let order = place(&gateway, &admin, order_request(&account, &[("GIZMO", "3")], PaymentType::OnAccount)).await;
    assert_eq!(order.payment.as_ref().map(|p| p.from_wallet), Some(true), "{order:?}");
    assert_eq!(quantity(&order.lines[0].backordered_quantity), "2");
    assert_eq!(balance(&mut wallets).await, "10.01");

    // One waiting gizmo cancelled: its 3.33 is back in the wallet at once,
    // as a refund of the order; credit holds nothing for it either way.
    let cancelled = OrderServiceClient::new(gateway.clone())
        .cancel_back_order(authorized(cancel_part(&order.id, "1", "wallet-part"), &admin))
        .await
        .expect("cancelled");
    let cancelled = cancelled.into_inner().order.expect("order");
    assert_eq!(refunded(&cancelled), (OrderPaymentStatus::Captured, "3.33".to_owned(), "3.33".to_owned()));
    assert_eq!(balance(&mut wallets).await, "13.34");
    let list = ListWalletTransactionsRequest { account_id: account.clone(), ..Default::default() };
    let moves = wallets.list_wallet_transactions(authorized(list, &admin)).await.expect("moves").into_inner();
    let newest = moves.transactions.first().expect("the refund");
    assert_eq!(
        (newest.kind(), amount(&newest.amount), amount(&newest.balance_after)),
        (WalletTransactionKind::OrderRefund, "3.33", "13.34")
    );
    credit_settles(&gateway, &admin, &account, "0.00", "0.00").await;
}

#[tokio::test]
async fn racing_cancellations_of_a_paid_order_give_back_what_was_taken_exactly_once() {
    let suite = TestApp::start().await;
    let (_, admin) = suite.tenant("Racing Refunds", "EUR").await;
    let gateway = suite.gateway().await;
    create_product(&gateway, &admin, "SPROCKET", "3.333333", "tools").await;
    let account = create_account(&gateway, &admin, ordering_account("RACING")).await;
    bss_e2e::save_card(&gateway, &admin, &account, "tok_visa").await;
    let depot = create_location(&gateway, &admin, "DEPOT", None).await;
    assign_location(&gateway, &admin, &account, &depot, true).await;
    receive_stock(&gateway, &admin, &depot, "SPROCKET", "1").await;
    // 13 sprockets at 3.333333 are 43.33 (rounded half away from zero):
    // one ships (3.33), twelve wait (40.00).
    let order = place(&gateway, &admin, order_request(&account, &[("SPROCKET", "13")], PaymentType::CreditCard)).await;
    assert_eq!((order.status(), amount(&order.total)), (OrderStatus::Executed, "43.33"));
    assert_eq!(quantity(&order.lines[0].backordered_quantity), "12");

    // Twelve cancellations of one sprocket each and a cancellation of the
    // whole order, all at once: every one either gives back its part or
    // is refused by a rule, and never does the provider refuse a refund
    // for more than is left of the capture.
    let mut racing = Vec::new();
    for n in 0..12 {
        let mut orders = OrderServiceClient::new(gateway.clone());
        let request = authorized(cancel_part(&order.id, "1", &format!("race-{n}")), &admin);
        racing.push(tokio::spawn(async move { orders.cancel_back_order(request).await.map(|_| ()) }));
    }
    let mut orders = OrderServiceClient::new(gateway.clone());
    let whole = CancelOrderRequest { id: order.id.clone(), reason: "race".to_owned(), request_id: "whole".to_owned() };
    let whole = authorized(whole, &admin);
    racing.push(tokio::spawn(async move { orders.cancel_order(whole).await.map(|_| ()) }));
    let mut given_back_by_parts = 0;
    let mut refused = Vec::new();
    for (n, outcome) in racing.into_iter().enumerate() {
        match outcome.await.expect("joined") {
            Ok(()) if n < 12 => given_back_by_parts += 1,
            Ok(()) => {}
            Err(status) => refused.push(status),
        }
    }
    for status in &refused {
        assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
        assert!(
            ["ORDER_NOT_EXECUTED", "NOTHING_BACK_ORDERED"].contains(&reason(status).as_str()),
            "refused by a rule, never by the provider: {status:?}"
        );
    }
    assert_eq!(given_back_by_parts + refused.len(), 12, "the whole order's cancellation always goes through");
    let read = GetOrderRequest { id: order.id.clone() };
    let read = OrderServiceClient::new(gateway.clone()).get_order(authorized(read, &admin)).await.expect("order");
    let read = read.into_inner().order.expect("order");
    assert_eq!((read.status(), quantity(&read.lines[0].cancelled_quantity)), (OrderStatus::Cancelled, "12".to_owned()));
    // Each sprocket cancelled alone gave back 3.33, the twelfth (had it
    // come) the 3.37 left of the 40.00 that waited; the order's
    // cancellation gave back the rest: 43.33 in all, once.
    let by_parts = match given_back_by_parts {
        12 => "40.00".to_owned(),
        k => format!("{}.{:02}", k * 333 / 100, k * 333 % 100),
    };
    let by_line = if given_back_by_parts == 0 { String::new() } else { by_parts };
    assert_eq!(refunded(&read), (OrderPaymentStatus::Refunded, "43.33".to_owned(), by_line));
}

/// (product code, quantity, status, current) of the assets an account
/// holds (and held, with `include_past`), oldest first.
async fn assets_of(
    gateway: &Channel,
    token: &str,
    account_id: &str,
    include_past: bool,
) -> Vec<(String, String, AssetStatus, bool)> {
    let list = ListAssetsRequest { account_id: account_id.to_owned(), include_past, ..ListAssetsRequest::default() };
    let listed = AssetServiceClient::new(gateway.clone()).list_assets(authorized(list, token)).await;
    listed
        .expect("assets")
        .into_inner()
        .assets
        .into_iter()
        .map(|asset| {
            let status = AssetStatus::try_from(asset.status).unwrap_or_default();
            (asset.product_code, asset.quantity.map(|q| q.value).unwrap_or_default(), status, asset.current)
        })
        .collect()
}

async fn listed_assets(gateway: &Channel, token: &str, account_id: &str) -> Vec<Asset> {
    let list = ListAssetsRequest { account_id: account_id.to_owned(), ..ListAssetsRequest::default() };
    let listed = AssetServiceClient::new(gateway.clone()).list_assets(authorized(list, token)).await;
    listed.expect("assets").into_inner().assets
}

#[tokio::test]
async fn goods_bought_become_assets_that_change_hands_go_back_to_stock_and_keep_their_history() {
    use AssetStatus::{Active, Cancelled, Returned};
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Asset Books", "EUR").await;
    let clerk = bss_testkit::token(tenant_id, &[bss_platform::auth::Role::BillingClerk]);
    let gateway = suite.gateway().await;
    create_good(&gateway, &admin, "PHONE", eur("100.00"), (true, 12)).await;
    create_good(&gateway, &admin, "CABLE", eur("5.00"), (false, 0)).await;
    create_product(&gateway, &admin, "SUPPORT", "20.00", "services").await;
    let buyer = create_account(&gateway, &admin, ordering_account("BUYER")).await;
    let friend = create_account(&gateway, &admin, ordering_account("FRIEND")).await;
    for account in [&buyer, &friend] {
        set_credit_terms(&gateway, &admin, account, "10000", None).await;
    }
    let mut assets = AssetServiceClient::new(gateway.clone());

    // Bought: a traceable good is an asset per unit under warranty from
    // today, another good one per line, a service none.
    let order = place(
        &gateway,
        &clerk,
        order_request(&buyer, &[("PHONE", "2"), ("CABLE", "3"), ("SUPPORT", "1")], PaymentType::OnAccount),
    )
    .await;
    assert_eq!(order.status, OrderStatus::Executed as i32, "{order:?}");
    let held = assets_of(&gateway, &clerk, &buyer, false).await;
    let phone = |status, current| ("PHONE".to_owned(), "1".to_owned(), status, current);
    assert_eq!(
        held,
        vec![phone(Active, true), phone(Active, true), ("CABLE".to_owned(), "3".to_owned(), Active, true)]
    );
    let bought = listed_assets(&gateway, &clerk, &buyer).await;
    let warranty_end = chrono::NaiveDate::parse_from_str(&today(), "%Y-%m-%d")
        .expect("today")
        .checked_add_months(chrono::Months::new(12))
        .and_then(|day| day.pred_opt())
        .expect("a year on");
    assert_eq!(bought[0].warranty_end_date, warranty_end.to_string());
    assert!(bought[2].warranty_end_date.is_empty(), "the cable has no warranty");
    assert!(bought.iter().all(|asset| asset.bought_by_account_id == buyer && asset.order_id == order.id));
    let (first, second, cable) = (bought[0].id.clone(), bought[1].id.clone(), bought[2].id.clone());

    // A serial number per unit of a traceable good, once, never twice in a
    // product.
    let serial = |asset_id: &str, serial: &str| RecordAssetSerialRequest {
        asset_id: asset_id.to_owned(),
        serial_number: serial.to_owned(),
        request_id: String::new(),
    };
    assets.record_asset_serial(authorized(serial(&first, "SN-1"), &clerk)).await.expect("recorded");
    let again = assets.record_asset_serial(authorized(serial(&first, "SN-9"), &clerk)).await.expect_err("once");
    assert_eq!(reason(&again), "SERIAL_RECORDED");
    let taken = assets.record_asset_serial(authorized(serial(&second, "SN-1"), &clerk)).await.expect_err("taken");
    assert_eq!((taken.code(), reason(&taken).as_str()), (Code::AlreadyExists, "SERIAL_TAKEN"));
    let bulk = assets.record_asset_serial(authorized(serial(&cable, "C-1"), &clerk)).await.expect_err("bulk");
    assert_eq!(reason(&bulk), "NOT_TRACEABLE");

    // Transferred: the new holder has it under the same warranty; the buyer
    // stays liable (its invoice, none for the new holder) and keeps it in
    // its history.
    let transfer = |asset_id: &str, to: &str| TransferAssetRequest {
        asset_id: asset_id.to_owned(),
        to_account_id: to.to_owned(),
        reason: "a gift".to_owned(),
        request_id: String::new(),
    };
    let moved = assets.transfer_asset(authorized(transfer(&first, &friend), &clerk)).await.expect("moved");
    let moved = moved.into_inner().asset.expect("asset");
    assert_eq!((moved.account_id.as_str(), moved.bought_by_account_id.as_str()), (friend.as_str(), buyer.as_str()));
    assert_eq!(
        (moved.warranty_end_date.as_str(), moved.serial_number.as_str()),
        (warranty_end.to_string().as_str(), "SN-1")
    );
    let same = assets.transfer_asset(authorized(transfer(&first, &friend), &clerk)).await.expect_err("same holder");
    assert_eq!(reason(&same), "SAME_OWNER");
    assert_eq!(assets_of(&gateway, &clerk, &friend, false).await, vec![phone(Active, true)]);
    let past = assets_of(&gateway, &clerk, &buyer, true).await;
    assert_eq!(past[0], phone(Active, false), "held before, by another now");
    assert_eq!(assets_of(&gateway, &clerk, &buyer, false).await.len(), 2);
    let invoices = generate(&gateway, &clerk, &buyer, &today(), true).await;
    assert_eq!(amount(&invoices[0].total), "235.00", "2 phones, 3 cables and support, all the buyer's");
    assert!(generate(&gateway, &clerk, &friend, &today(), true).await.is_empty(), "the new holder owes nothing");
    credit_settles(&gateway, &clerk, &buyer, "235.00", "0.00").await;
    credit_settles(&gateway, &clerk, &friend, "0.00", "0.00").await;
    let history = assets.get_asset(authorized(GetAssetRequest { id: first.clone() }, &clerk)).await.expect("asset");
    let kinds: Vec<(AssetEventKind, String, String)> = history
        .into_inner()
        .history
        .iter()
        .map(|event| {
            (
                AssetEventKind::try_from(event.kind).unwrap_or_default(),
                event.from_account_id.clone(),
                event.to_account_id.clone(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            (AssetEventKind::Bought, String::new(), buyer.clone()),
            (AssetEventKind::SerialRecorded, String::new(), String::new()),
            (AssetEventKind::Transferred, buyer.clone(), friend.clone()),
        ]
    );

    // Returned to a location's stock (a Stock In): the back order waiting
    // there ships first, and becomes its account's asset.
    let depot = create_location(&gateway, &admin, "DEPOT", None).await;
    let waiting = create_account(&gateway, &admin, ordering_account("WAITING")).await;
    set_credit_terms(&gateway, &admin, &waiting, "10000", None).await;
    assign_location(&gateway, &admin, &waiting, &depot, true).await;
    receive_stock(&gateway, &admin, &depot, "PHONE", "1").await;
    let short = place(&gateway, &clerk, order_request(&waiting, &[("PHONE", "2")], PaymentType::OnAccount)).await;
    assert_eq!(assets_of(&gateway, &clerk, &waiting, false).await, vec![phone(Active, true)], "one shipped");
    assets.record_asset_serial(authorized(serial(&second, "SN-2"), &clerk)).await.expect("recorded");
    let back = ReturnAssetsRequest {
        asset_ids: vec![second.clone(), cable.clone()],
        location_id: depot.id.clone(),
        reason: "faulty".to_owned(),
        request_id: "return-1".to_owned(),
    };
    let returned = assets.return_assets(authorized(back.clone(), &clerk)).await.expect("returned").into_inner();
    assert!(returned.assets.iter().all(|asset| asset.status == Returned as i32 && asset.location_id == depot.id));
    assert_eq!(returned.shipped.len(), 1);
    assert_eq!((returned.shipped[0].order_id.as_str(), returned.shipped[0].line_number), (short.id.as_str(), 1));
    let retried = assets.return_assets(authorized(back, &clerk)).await.expect("retried").into_inner();
    assert_eq!(retried, returned, "a retry returns nothing twice");
    assert_eq!(
        stock_at(&gateway, &admin, &depot).await.expect("stock"),
        vec![("CABLE".to_owned(), "3".to_owned()), ("PHONE".to_owned(), "0".to_owned())]
    );
    assert_eq!(assets_of(&gateway, &clerk, &waiting, false).await, vec![phone(Active, true), phone(Active, true)]);
    // The returned unit sold again takes its serial number again.
    let resold = listed_assets(&gateway, &clerk, &waiting).await.remove(1);
    assets.record_asset_serial(authorized(serial(&resold.id, "SN-2"), &clerk)).await.expect("the same unit");
    assert!(assets_of(&gateway, &clerk, &buyer, false).await.is_empty(), "the buyer holds nothing now");
    let again = ReturnAssetsRequest {
        asset_ids: vec![second.clone()],
        location_id: depot.id.clone(),
        reason: "again".to_owned(),
        request_id: String::new(),
    };
    let refused = assets.return_assets(authorized(again, &clerk)).await.expect_err("returned already");
    assert_eq!(reason(&refused), "ASSET_NOT_ACTIVE");

    // The customer's own item: imported, never returned to the tenant's
    // stock; a service is no asset.
    let import = |product: &str, serial: &str| ImportAssetRequest {
        account_id: friend.clone(),
        product: product.to_owned(),
        serial_number: serial.to_owned(),
        request_id: String::new(),
    };
    let own = assets.import_asset(authorized(import("PHONE", "OWN-1"), &clerk)).await.expect("imported");
    let own = own.into_inner().asset.expect("asset");
    assert!(own.customer_owned && own.bought_by_account_id.is_empty() && own.serial_number == "OWN-1");
    let keep = ReturnAssetsRequest {
        asset_ids: vec![own.id.clone()],
        location_id: depot.id.clone(),
        reason: "swap".to_owned(),
        request_id: String::new(),
    };
    let refused = assets.return_assets(authorized(keep, &clerk)).await.expect_err("the customer's own");
    assert_eq!(reason(&refused), "CUSTOMER_OWNED");
    let service = assets.import_asset(authorized(import("SUPPORT", "S-1"), &clerk)).await.expect_err("a service");
    assert_eq!(reason(&service), "NOT_A_PHYSICAL_GOOD");

    // Cancelled whole, an order takes its assets back, unless one moved.
    let cancel = |order_id: &str| CancelOrderRequest {
        id: order_id.to_owned(),
        reason: "not wanted".to_owned(),
        request_id: String::new(),
    };
    let mut orders = OrderServiceClient::new(gateway.clone());
    let cables = place(&gateway, &clerk, order_request(&buyer, &[("CABLE", "1")], PaymentType::OnAccount)).await;
    let cable_asset = listed_assets(&gateway, &clerk, &buyer).await.remove(0);
    assets.transfer_asset(authorized(transfer(&cable_asset.id, &friend), &clerk)).await.expect("moved");
    let refused = orders.cancel_order(authorized(cancel(&cables.id), &clerk)).await.expect_err("its asset moved");
    assert_eq!(reason(&refused), "ASSETS_MOVED");
    let phones = place(&gateway, &clerk, order_request(&buyer, &[("PHONE", "1")], PaymentType::OnAccount)).await;
    orders.cancel_order(authorized(cancel(&phones.id), &clerk)).await.expect("cancelled");
    let past = assets_of(&gateway, &clerk, &buyer, true).await;
    assert_eq!(past.last(), Some(&phone(Cancelled, false)), "{past:?}");
    assert!(assets_of(&gateway, &clerk, &buyer, false).await.is_empty());

    // A card order whose asset moved is neither cancelled nor refunded.
    bss_e2e::save_card(&gateway, &admin, &buyer, "tok_visa").await;
    let paid = place(&gateway, &clerk, order_request(&buyer, &[("PHONE", "1")], PaymentType::CreditCard)).await;
    let unit = listed_assets(&gateway, &clerk, &buyer).await.remove(0);
    assets.transfer_asset(authorized(transfer(&unit.id, &friend), &clerk)).await.expect("moved");
    let refused = orders.cancel_order(authorized(cancel(&paid.id), &clerk)).await.expect_err("its asset moved");
    assert_eq!(reason(&refused), "ASSETS_MOVED");
    let kept = orders.get_order(authorized(GetOrderRequest { id: paid.id.clone() }, &clerk)).await.expect("order");
    let payment = kept.into_inner().order.expect("order").payment.expect("payment");
    assert_eq!(payment.status, OrderPaymentStatus::Captured as i32, "not refunded");

    // A customer's own user sees what its account holds or held, the
    // history that names it, and no other account's ids.
    let user = bss_e2e::create_user(&gateway, &admin, &friend, "holder@friend.example").await;
    let customer = customer_user_token(tenant_id, user);
    let seen = assets.get_asset(authorized(GetAssetRequest { id: first.clone() }, &customer)).await.expect("held");
    let seen = seen.into_inner();
    let asset = seen.asset.expect("asset");
    assert_eq!(
        (asset.account_id.as_str(), asset.bought_by_account_id.as_str(), asset.order_id.as_str()),
        (friend.as_str(), "", "")
    );
    let entries: Vec<(i32, &str, &str, &str)> = seen
        .history
        .iter()
        .map(|event| (event.kind, event.from_account_id.as_str(), event.to_account_id.as_str(), event.actor.as_str()))
        .collect();
    assert_eq!(
        entries,
        vec![
            (AssetEventKind::SerialRecorded as i32, "", "", ""),
            (AssetEventKind::Transferred as i32, "", friend.as_str(), ""),
        ]
    );
    let never = assets.get_asset(authorized(GetAssetRequest { id: second.clone() }, &customer)).await;
    assert_eq!(never.expect_err("never its account's").code(), Code::NotFound);
    let own = ListAssetsRequest { include_past: true, ..ListAssetsRequest::default() };
    let own = assets.list_assets(authorized(own, &customer)).await.expect("its own").into_inner().assets;
    assert!(own.iter().all(|asset| asset.account_id == friend && asset.bought_by_account_id != buyer), "{own:?}");

    // An account whose history names an asset is never deleted, though it
    // never owed anything.
    let delete = bss_proto::accounts::DeleteAccountRequest {
        id: friend.clone(),
        etag: String::new(),
        request_id: String::new(),
    };
    let refused = AccountServiceClient::new(gateway.clone()).delete_account(authorized(delete, &admin)).await;
    let refused = refused.expect_err("it holds assets");
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(format!("{refused:?}").contains("ASSETS_HELD"), "{refused:?}");
}
