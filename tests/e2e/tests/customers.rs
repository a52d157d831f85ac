//! A customer's own user, through the gateway: its token (role
//! `customer_user`, its user id) acts only for its user's account. It reads
//! its account and addresses, quotes its prices, reads its contracts ("My
//! Items") showing no other account, places orders whose account is always
//! its own, and reads its enquiry; another customer's ids answer NOT_FOUND
//! everywhere, and once its account is not active every call is refused.

#![allow(clippy::expect_used)]

use bss_e2e::{
    TestApp, create_account, create_product, create_user, decimal, eur, generate, order_request, ordering_account,
};
use bss_platform::auth::Role;
use bss_proto::accounts::account_service_client::AccountServiceClient;
use bss_proto::accounts::group_service_client::GroupServiceClient;
use bss_proto::accounts::*;
use bss_proto::billing::invoice_service_client::InvoiceServiceClient;
use bss_proto::billing::ledger_service_client::LedgerServiceClient;
use bss_proto::billing::order_service_client::OrderServiceClient;
use bss_proto::billing::payment_service_client::PaymentServiceClient;
use bss_proto::billing::wallet_service_client::WalletServiceClient;
use bss_proto::billing::{
    GetAccountBalanceRequest, GetInvoiceRequest, GetOrderRequest, GetWalletRequest, ListInvoicesRequest,
    ListOrdersRequest, ListTransactionsRequest, ListWalletTransactionsRequest, OpenWalletRequest, OrderStatus,
    TopUpWalletRequest,
};
use bss_proto::pricing::catalog_service_client::CatalogServiceClient;
use bss_proto::pricing::contract_service_client::ContractServiceClient;
use bss_proto::pricing::quote_service_client::QuoteServiceClient;
use bss_proto::pricing::{
    Contract, ContractItem, CreateContractRequest, CreateProductRequest, GetContractRequest, GetProductRequest,
    ListContractsRequest, ListProductsRequest, ListProductsResponse, Product, ProductAvailability, QuoteLineRequest,
    QuoteRequest,
};
use bss_proto::types::PaymentType;
use bss_testkit::{authorized, customer_user_token, reason};
use prost_types::FieldMask;
use tonic::Code;
use tonic::transport::Channel;
use uuid::Uuid;

/// A product only a contract listing it sells; its id.
async fn contract_only_product(gateway: &Channel, admin: &str, code: &str) -> String {
    let product = Product {
        code: code.to_owned(),
        name: code.to_owned(),
        family: "deals".to_owned(),
        list_price: eur("9.00"),
        availability: ProductAvailability::ContractOnly as i32,
        ..Product::default()
    };
    let request = CreateProductRequest { product: Some(product), request_id: String::new() };
    let created = CatalogServiceClient::new(gateway.clone()).create_product(authorized(request, admin)).await;
    created.expect("product").into_inner().product.expect("product").id
}

/// A contract of `accounts` selling `product` at `price`.
async fn create_contract(gateway: &Channel, admin: &str, product: &str, price: &str, accounts: &[&str]) -> Contract {
    let today = chrono::Utc::now().date_naive();
    let contract = Contract {
        name: format!("Deal {}", Uuid::now_v7().simple()),
        currency_code: "EUR".to_owned(),
        start_date: bss_platform::time::format_date(today - chrono::Days::new(1)),
        expiry_date: bss_platform::time::format_date(today + chrono::Days::new(365)),
        items: vec![ContractItem { product_id: product.to_owned(), price: eur(price), breaks: vec![] }],
        account_ids: accounts.iter().map(|account| (*account).to_owned()).collect(),
        ..Contract::default()
    };
    let request = CreateContractRequest { contract: Some(contract), request_id: String::new() };
    let created = ContractServiceClient::new(gateway.clone()).create_contract(authorized(request, admin)).await;
    created.expect("contract").into_inner().contract.expect("contract")
}

fn quote(account_id: &str, product: &str, quantity: &str) -> QuoteRequest {
    QuoteRequest {
        account_id: account_id.to_owned(),
        lines: vec![QuoteLineRequest {
            product: product.to_owned(),
            quantity: decimal(quantity),
            ..Default::default()
        }],
        ..QuoteRequest::default()
    }
}

#[tokio::test]
async fn a_customer_user_acts_only_for_its_own_active_account() {
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Customer Books", "EUR").await;
    let gateway = suite.gateway().await;
    let widget = create_product(&gateway, &admin, "WIDGET", "10.00", "tools").await;
    let mine = create_account(&gateway, &admin, ordering_account("MINE")).await;
    let theirs = create_account(&gateway, &admin, ordering_account("THEIRS")).await;
    bss_e2e::set_credit_terms(&gateway, &admin, &mine, "1000", None).await;
    bss_e2e::set_credit_terms(&gateway, &admin, &theirs, "1000", None).await;
    let me = create_user(&gateway, &admin, &mine, "buyer@mine.example").await;
    let customer = customer_user_token(tenant_id, me);

    // Its account, and no other.
    let mut accounts = AccountServiceClient::new(gateway.clone());
    let own = accounts.get_account(authorized(GetAccountRequest { id: mine.clone() }, &customer)).await;
    assert_eq!(own.expect("own account").into_inner().account.expect("account").code, "MINE");
    let other = accounts.get_account(authorized(GetAccountRequest { id: theirs.clone() }, &customer)).await;
    assert_eq!(other.expect_err("another customer's").code(), Code::NotFound);
    let listed = accounts.list_accounts(authorized(ListAccountsRequest::default(), &customer)).await;
    let listed: Vec<String> = listed.expect("list").into_inner().accounts.into_iter().map(|a| a.id).collect();
    assert_eq!(listed, std::slice::from_ref(&mine), "a listing shows its own account only");
    let addresses = ListAddressesRequest { account_id: theirs.clone(), ..ListAddressesRequest::default() };
    let other = accounts.list_addresses(authorized(addresses, &customer)).await.expect_err("their addresses");
    assert_eq!(other.code(), Code::NotFound);
    let addresses = ListAddressesRequest { account_id: mine.clone(), ..ListAddressesRequest::default() };
    accounts.list_addresses(authorized(addresses, &customer)).await.expect("own addresses");
    // Staff calls stay staff's.
    let create = CreateAccountRequest { account: Some(ordering_account("NEW")), request_id: String::new() };
    let refused = accounts.create_account(authorized(create, &customer)).await.expect_err("not staff");
    assert_eq!((refused.code(), reason(&refused)), (Code::PermissionDenied, "MISSING_ROLE".to_owned()));

    // Its prices: the contract price where its contract has one; another
    // customer's quote is NOT_FOUND.
    let contract = create_contract(&gateway, &admin, &widget, "8.00", &[&mine, &theirs]).await;
    let their_deal = create_contract(&gateway, &admin, &widget, "7.00", &[&theirs]).await;
    let mut quotes = QuoteServiceClient::new(gateway.clone());
    let priced = quotes.quote(authorized(quote(&mine, "WIDGET", "2"), &customer)).await.expect("own quote");
    let line = priced.into_inner().lines.into_iter().next().expect("line");
    assert_eq!(bss_e2e::amount(&line.unit_price), "8.00");
    let other = quotes.quote(authorized(quote(&theirs, "WIDGET", "2"), &customer)).await.expect_err("their quote");
    assert_eq!(other.code(), Code::NotFound);

    // "My Items": its contracts, naming no other account.
    let mut contracts = ContractServiceClient::new(gateway.clone());
    let listed = contracts.list_contracts(authorized(ListContractsRequest::default(), &customer)).await;
    let listed = listed.expect("own contracts").into_inner().contracts;
    assert_eq!(listed.iter().map(|c| c.id.clone()).collect::<Vec<_>>(), std::slice::from_ref(&contract.id));
    assert_eq!(listed[0].account_ids, std::slice::from_ref(&mine), "the other customer on the contract is not shown");
    let other = contracts.get_contract(authorized(GetContractRequest { id: their_deal.id.clone() }, &customer)).await;
    assert_eq!(other.expect_err("their contract").code(), Code::NotFound);
    let theirs_named = ListContractsRequest { account_id: theirs.clone(), ..ListContractsRequest::default() };
    let other = contracts.list_contracts(authorized(theirs_named, &customer)).await.expect_err("their contracts");
    assert_eq!(other.code(), Code::NotFound);
    // The catalog it browses: the public products and the contract-only
    // ones its own contracts list, never another customer's deal.
    let ours_only = contract_only_product(&gateway, &admin, "OURS-ONLY").await;
    let theirs_only = contract_only_product(&gateway, &admin, "THEIRS-ONLY").await;
    create_contract(&gateway, &admin, &ours_only, "5.00", &[&mine]).await;
    create_contract(&gateway, &admin, &theirs_only, "5.00", &[&theirs]).await;
    let mut catalog = CatalogServiceClient::new(gateway.clone());
    let browse = |token: &str| authorized(ListProductsRequest::default(), token);
    let codes = |listed: ListProductsResponse| listed.products.into_iter().map(|p| p.code).collect::<Vec<_>>();
    let seen = codes(catalog.list_products(browse(&customer)).await.expect("browsed").into_inner());
    assert_eq!(seen, ["OURS-ONLY", "WIDGET"]);
    let everything = codes(catalog.list_products(browse(&admin)).await.expect("browsed").into_inner());
    assert_eq!(everything, ["OURS-ONLY", "THEIRS-ONLY", "WIDGET"], "staff see the whole catalog");
    let read = |id: &str| authorized(GetProductRequest { product: id.to_owned() }, &customer);
    catalog.get_product(read(&ours_only)).await.expect("listed by its contract");
    let hidden = catalog.get_product(read(&theirs_only)).await.expect_err("another customer's deal");
    assert_eq!(hidden.code(), Code::NotFound);
    // A member of its group without pricing of its own is priced as the
    // group's parent, and browses as it is priced: the parent's deal too.
    let branch = create_account(&gateway, &admin, ordering_account("BRANCH")).await;
    let add = AddGroupMemberRequest {
        parent_account_id: mine.clone(),
        member_account_id: branch.clone(),
        funding: Some(Funding { scope: FundingScope::Full as i32, ..Funding::default() }),
        request_id: String::new(),
    };
    GroupServiceClient::new(gateway.clone()).add_group_member(authorized(add, &admin)).await.expect("member");
    let member = customer_user_token(tenant_id, create_user(&gateway, &admin, &branch, "buyer@branch.example").await);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let seen = codes(catalog.list_products(browse(&member)).await.expect("browsed").into_inner());
        if seen == ["OURS-ONLY", "WIDGET"] {
            break;
        }
        assert_eq!(seen, ["WIDGET"], "never another customer's deal");
        assert!(tokio::time::Instant::now() < deadline, "pricing never priced the member as its parent");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let read = |id: &str| authorized(GetProductRequest { product: id.to_owned() }, &member);
    catalog.get_product(read(&ours_only)).await.expect("listed by its parent's contract");
    let priced = quotes.quote(authorized(quote(&branch, "OURS-ONLY", "1"), &member)).await.expect("quoted");
    assert_eq!(bss_e2e::amount(&priced.into_inner().lines[0].unit_price), "5.00", "what it browses it may buy");

    // Orders: always for its own account, whatever the request names.
    let mut orders = OrderServiceClient::new(gateway.clone());
    let order = orders
        .place_order(authorized(order_request("", &[("WIDGET", "3")], PaymentType::OnAccount), &customer))
        .await
        .expect("own order")
        .into_inner()
        .order
        .expect("order");
    assert_eq!((order.account_id.as_str(), order.status), (mine.as_str(), OrderStatus::Executed as i32));
    assert_eq!(bss_e2e::amount(&order.total), "24.00", "priced by its contract");
    let for_them = order_request(&theirs, &[("WIDGET", "1")], PaymentType::OnAccount);
    let refused = orders.place_order(authorized(for_them, &customer)).await.expect_err("an order for them");
    assert_eq!(refused.code(), Code::NotFound);
    let their_order =
        bss_e2e::place(&gateway, &admin, order_request(&theirs, &[("WIDGET", "1")], PaymentType::OnAccount)).await;

    // Every side reads the order back: the staff's view of billing and
    // credit, and the customer's own.
    let seen = orders.get_order(authorized(GetOrderRequest { id: order.id.clone() }, &admin)).await.expect("staff");
    assert_eq!(seen.into_inner().order.expect("order").account_id, mine);
    let status = bss_e2e::credit_status(&gateway, &admin, &mine).await;
    assert_eq!(bss_e2e::amount(&status.reserved), "24.00", "credit reserved the customer's order");
    let own_orders = ListOrdersRequest { account_id: mine.clone(), ..ListOrdersRequest::default() };
    let own_orders = orders.list_orders(authorized(own_orders, &customer)).await.expect("own orders").into_inner();
    assert_eq!(own_orders.orders.iter().map(|o| o.id.clone()).collect::<Vec<_>>(), std::slice::from_ref(&order.id));
    let other = orders.get_order(authorized(GetOrderRequest { id: their_order.id.clone() }, &customer)).await;
    assert_eq!(other.expect_err("their order").code(), Code::NotFound);
    let their_orders = ListOrdersRequest { account_id: theirs.clone(), ..ListOrdersRequest::default() };
    let other = orders.list_orders(authorized(their_orders, &customer)).await.expect_err("their orders");
    assert_eq!(other.code(), Code::NotFound);

    // Its enquiry: invoices, transactions and balance.
    let today = bss_e2e::today();
    let invoice = generate(&gateway, &admin, &mine, &today, true).await.into_iter().next().expect("invoice");
    let their_invoice = generate(&gateway, &admin, &theirs, &today, true).await.into_iter().next().expect("theirs");
    let mut invoices = InvoiceServiceClient::new(gateway.clone());
    let own_invoices = ListInvoicesRequest { account_id: mine.clone(), ..ListInvoicesRequest::default() };
    let own_invoices = invoices.list_invoices(authorized(own_invoices, &customer)).await.expect("own invoices");
    assert_eq!(
        own_invoices.into_inner().invoices.iter().map(|i| i.id.clone()).collect::<Vec<_>>(),
        std::slice::from_ref(&invoice.id)
    );
    invoices.get_invoice(authorized(GetInvoiceRequest { id: invoice.id.clone() }, &customer)).await.expect("own");
    let other = invoices.get_invoice(authorized(GetInvoiceRequest { id: their_invoice.id.clone() }, &customer)).await;
    assert_eq!(other.expect_err("their invoice").code(), Code::NotFound);
    let transactions = ListTransactionsRequest { account_id: mine.clone(), ..ListTransactionsRequest::default() };
    let mut ledger = LedgerServiceClient::new(gateway.clone());
    let transactions = ledger.list_transactions(authorized(transactions, &customer)).await;
    assert_eq!(transactions.expect("own transactions").into_inner().transactions.len(), 1);
    let mut payments = PaymentServiceClient::new(gateway.clone());
    let balance = payments
        .get_account_balance(authorized(GetAccountBalanceRequest { account_id: mine.clone() }, &customer))
        .await
        .expect("own balance")
        .into_inner();
    assert_eq!(bss_e2e::amount(&balance.balance), "24.00");
    let other =
        payments.get_account_balance(authorized(GetAccountBalanceRequest { account_id: theirs.clone() }, &customer));
    assert_eq!(other.await.expect_err("their balance").code(), Code::NotFound);
    // Its own wallet (the account's own: no id needed), never another's.
    let mut wallets = WalletServiceClient::new(gateway.clone());
    for account_id in [&mine, &theirs] {
        let open = OpenWalletRequest { account_id: account_id.clone(), ..OpenWalletRequest::default() };
        wallets.open_wallet(authorized(open, &admin)).await.expect("wallet");
    }
    let own = wallets.get_wallet(authorized(GetWalletRequest::default(), &customer)).await.expect("own wallet");
    assert_eq!(own.into_inner().wallet.expect("wallet").account_id, mine);
    let other = wallets.get_wallet(authorized(GetWalletRequest { account_id: theirs.clone() }, &customer)).await;
    assert_eq!(other.expect_err("their wallet").code(), Code::NotFound);
    let list = ListWalletTransactionsRequest { account_id: theirs.clone(), ..Default::default() };
    let other = wallets.list_wallet_transactions(authorized(list, &customer)).await;
    assert_eq!(other.expect_err("their wallet's transactions").code(), Code::NotFound);
    let top_up = TopUpWalletRequest {
        account_id: mine.clone(),
        amount: Some(bss_proto::types::Money { currency_code: "EUR".to_owned(), amount: "5.00".to_owned() }),
        reason: "self-service".to_owned(),
        request_id: String::new(),
    };
    let refused = wallets.top_up_wallet(authorized(top_up, &customer)).await.expect_err("staff only");
    assert_eq!(refused.code(), Code::PermissionDenied);

    // Is Active: once the account is not active, its users are refused at
    // every call, with the reason.
    let inactive = Account { id: mine.clone(), is_active: Some(false), ..Account::default() };
    let update = UpdateAccountRequest {
        account: Some(inactive),
        update_mask: Some(FieldMask { paths: vec!["is_active".to_owned()] }),
        request_id: String::new(),
    };
    accounts.update_account(authorized(update, &admin)).await.expect("deactivated");
    let refusals = [
        accounts.get_account(authorized(GetAccountRequest { id: mine.clone() }, &customer)).await.map(|_| ()),
        quotes.quote(authorized(quote(&mine, "WIDGET", "1"), &customer)).await.map(|_| ()),
        orders
            .place_order(authorized(order_request("", &[("WIDGET", "1")], PaymentType::OnAccount), &customer))
            .await
            .map(|_| ()),
        invoices
            .list_invoices(authorized(
                ListInvoicesRequest { account_id: mine.clone(), ..ListInvoicesRequest::default() },
                &customer,
            ))
            .await
            .map(|_| ()),
        contracts.list_contracts(authorized(ListContractsRequest::default(), &customer)).await.map(|_| ()),
        bss_proto::pricing::catalog_service_client::CatalogServiceClient::new(gateway.clone())
            .list_products(authorized(bss_proto::pricing::ListProductsRequest::default(), &customer))
            .await
            .map(|_| ()),
    ];
    for refused in refusals {
        let refused = refused.expect_err("an inactive account's user");
        assert_eq!((refused.code(), reason(&refused)), (Code::PermissionDenied, "ACCOUNT_INACTIVE".to_owned()));
    }
    let staff = accounts.get_account(authorized(GetAccountRequest { id: mine.clone() }, &admin)).await;
    assert_eq!(staff.expect("staff still reads it").into_inner().account.expect("account").is_active, Some(false));
}

#[tokio::test]
async fn a_customer_token_must_name_a_user_of_the_tenant_and_an_account_without_payment_types_cannot_order() {
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Customer Rules", "EUR").await;
    let gateway = suite.gateway().await;
    create_product(&gateway, &admin, "WIDGET", "10.00", "tools").await;
    let mut accounts = AccountServiceClient::new(gateway.clone());

    // A token without a user id, and one naming no user of the tenant.
    let nameless = bss_testkit::token(tenant_id, &[Role::CustomerUser]);
    let refused = accounts.list_accounts(authorized(ListAccountsRequest::default(), &nameless)).await;
    let refused = refused.expect_err("no user id");
    assert_eq!((refused.code(), reason(&refused)), (Code::PermissionDenied, "USER_ID_MISSING".to_owned()));
    // A token holding two limited roles is refused: neither would limit it.
    let mixed = bss_testkit::issuer().mint(&bss_platform::auth::TokenSpec {
        subject: "mixed".to_owned(),
        tenant: Some(tenant_id.to_string()),
        roles: vec![Role::CustomerUser, Role::Guest],
        user_id: Some(Uuid::now_v7()),
        ttl: std::time::Duration::from_secs(60),
        ..bss_platform::auth::TokenSpec::default()
    });
    let refused = accounts.list_accounts(authorized(ListAccountsRequest::default(), &mixed)).await;
    let refused = refused.expect_err("two limits");
    assert_eq!((refused.code(), reason(&refused)), (Code::PermissionDenied, "ROLES_CONFLICT".to_owned()));
    let stranger = customer_user_token(tenant_id, Uuid::now_v7());
    let refused = accounts.list_accounts(authorized(ListAccountsRequest::default(), &stranger)).await;
    let refused = refused.expect_err("no such user");
    assert_eq!((refused.code(), reason(&refused)), (Code::PermissionDenied, "USER_UNKNOWN".to_owned()));

    // An account with no payment type enabled cannot order, whoever asks.
    let no_payment = ordering_account("NOPAY");
    let no_payment = create_account(&gateway, &admin, Account { payment_types: Vec::new(), ..no_payment }).await;
    let user = create_user(&gateway, &admin, &no_payment, "buyer@nopay.example").await;
    let customer = customer_user_token(tenant_id, user);
    let refused = OrderServiceClient::new(gateway.clone())
        .place_order(authorized(order_request("", &[("WIDGET", "1")], PaymentType::OnAccount), &customer))
        .await
        .expect_err("no payment type");
    assert_eq!((refused.code(), reason(&refused)), (Code::FailedPrecondition, "NO_PAYMENT_TYPE".to_owned()));
    let listed = ListOrdersRequest { account_id: no_payment.clone(), ..ListOrdersRequest::default() };
    let listed = OrderServiceClient::new(gateway.clone()).list_orders(authorized(listed, &admin)).await;
    assert!(listed.expect("orders").into_inner().orders.is_empty(), "nothing was stored");
}

#[tokio::test]
async fn a_direct_deposit_order_tells_its_customer_the_tenants_bank_details_amount_and_reference() {
    use bss_proto::billing::billing_settings_service_client::BillingSettingsServiceClient;
    use bss_proto::billing::{BankDetails, BillingSettings, GetBillingSettingsRequest, UpdateBillingSettingsRequest};
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Transfer Books", "EUR").await;
    let gateway = suite.gateway().await;
    create_product(&gateway, &admin, "WIDGET", "10.00", "tools").await;
    let payer = Account {
        payment_types: vec![PaymentType::DirectDeposit as i32, PaymentType::OnAccount as i32],
        ..ordering_account("TRANSFER")
    };
    let account = create_account(&gateway, &admin, payer).await;
    bss_e2e::set_credit_terms(&gateway, &admin, &account, "1000", None).await;
    let customer =
        customer_user_token(tenant_id, create_user(&gateway, &admin, &account, "pay@transfer.example").await);

    // The tenant's bank account, checked as it is set.
    let mut settings = BillingSettingsServiceClient::new(gateway.clone());
    let update = |iban: &str, etag: &str| UpdateBillingSettingsRequest {
        settings: Some(BillingSettings {
            bank_details: Some(BankDetails {
                account_name: "Transfer Books GmbH".to_owned(),
                bank_name: "Commerzbank".to_owned(),
                iban: iban.to_owned(),
                bic: "COBADEFFXXX".to_owned(),
                ..BankDetails::default()
            }),
            etag: etag.to_owned(),
            ..BillingSettings::default()
        }),
        update_mask: Some(FieldMask { paths: vec!["bank_details".to_owned()] }),
        request_id: String::new(),
    };
    let bad = settings.update_billing_settings(authorized(update("DE88370400440532013000", ""), &admin)).await;
    let bad = bad.expect_err("wrong check digits");
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert_eq!(bss_testkit::violated_fields(&bad), ["settings.bank_details.iban"]);
    let set = settings.update_billing_settings(authorized(update("DE89 3704 0044 0532 0130 00", ""), &admin)).await;
    let set = set.expect("bank details").into_inner().settings.expect("settings");
    let stale = settings.update_billing_settings(authorized(update("DE89370400440532013000", "\"0\""), &admin)).await;
    assert_eq!(stale.expect_err("stale etag").code(), Code::Aborted);
    let refused =
        settings.update_billing_settings(authorized(update("DE89370400440532013000", &set.etag), &customer)).await;
    assert_eq!(refused.expect_err("staff only").code(), Code::PermissionDenied);
    let read = settings.get_billing_settings(authorized(GetBillingSettingsRequest {}, &admin)).await;
    let bank = read.expect("settings").into_inner().settings.expect("settings").bank_details.expect("bank");
    assert_eq!(bank.iban, "DE89370400440532013000", "stored without spaces");

    // The customer's direct deposit order says how to pay it.
    let mut orders = OrderServiceClient::new(gateway.clone());
    let placed = orders
        .place_order(authorized(order_request("", &[("WIDGET", "3")], PaymentType::DirectDeposit), &customer))
        .await
        .expect("placed")
        .into_inner()
        .order
        .expect("order");
    assert_eq!(placed.status, OrderStatus::Executed as i32);
    let told = placed.payment_instructions.clone().expect("payment instructions");
    assert_eq!(bss_e2e::amount(&told.amount), "30.00");
    assert_eq!(told.reference, placed.id);
    let told_bank = told.bank_details.clone().expect("bank details");
    assert_eq!(
        (told_bank.account_name.as_str(), told_bank.iban.as_str()),
        ("Transfer Books GmbH", "DE89370400440532013000")
    );
    let read = orders.get_order(authorized(GetOrderRequest { id: placed.id.clone() }, &customer)).await;
    assert_eq!(read.expect("own order").into_inner().order.expect("order").payment_instructions, Some(told));
    // Credit reserved it like any order on credit.
    let status = bss_e2e::credit_status(&gateway, &admin, &account).await;
    assert_eq!(bss_e2e::amount(&status.reserved), "30.00");

    // An order on account is not paid by transfer.
    let on_account =
        bss_e2e::place(&gateway, &customer, order_request("", &[("WIDGET", "1")], PaymentType::OnAccount)).await;
    assert_eq!(on_account.payment_instructions, None);
}

#[tokio::test]
async fn a_card_order_is_paid_before_it_is_executed_declined_cards_reject_it_and_a_cancellation_refunds_it() {
    use bss_proto::billing::{CancelOrderRequest, OrderPaymentStatus, PlaceOrderRequest};
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Card Checkout", "EUR").await;
    let gateway = suite.gateway().await;
    create_product(&gateway, &admin, "WIDGET", "10.00", "tools").await;
    let account = create_account(&gateway, &admin, ordering_account("CARDHOLDER")).await;
    bss_e2e::set_credit_terms(&gateway, &admin, &account, "1000", None).await;
    let customer = customer_user_token(tenant_id, create_user(&gateway, &admin, &account, "pay@card.example").await);
    let mut orders = OrderServiceClient::new(gateway.clone());
    let card_order = |request_id: &str| PlaceOrderRequest {
        request_id: request_id.to_owned(),
        ..order_request("", &[("WIDGET", "2")], PaymentType::CreditCard)
    };
    let own_orders = || ListOrdersRequest { account_id: account.clone(), ..ListOrdersRequest::default() };

    // No saved payment method: refused before anything is stored.
    let refused = orders.place_order(authorized(card_order(""), &customer)).await.expect_err("no card");
    assert_eq!((refused.code(), reason(&refused)), (Code::FailedPrecondition, "PAYMENT_METHOD_MISSING".to_owned()));

    // Approved: captured, then executed; credit reserved nothing.
    bss_e2e::save_card(&gateway, &admin, &account, "tok_visa").await;
    let paid = orders.place_order(authorized(card_order("card-1"), &customer)).await.expect("paid");
    let paid = paid.into_inner().order.expect("order");
    assert_eq!(paid.status, OrderStatus::Executed as i32);
    let payment = paid.payment.clone().expect("payment");
    assert_eq!(payment.status, OrderPaymentStatus::Captured as i32);
    assert_eq!(bss_e2e::amount(&payment.amount), "20.00");
    assert!(payment.capture_id.starts_with("sandbox_capture_"), "{payment:?}");
    let again = orders.place_order(authorized(card_order("card-1"), &customer)).await.expect("retried");
    assert_eq!(again.into_inner().order.expect("order").payment, Some(payment.clone()), "paid once");
    let status = bss_e2e::credit_status(&gateway, &admin, &account).await;
    assert_eq!(bss_e2e::amount(&status.reserved), "0.00", "a card order reserves nothing");

    // Declined: the order is rejected with the provider's reason.
    bss_e2e::save_card(&gateway, &admin, &account, "tok_decline_insufficient_funds").await;
    let declined = orders.place_order(authorized(card_order("card-2"), &customer)).await.expect("answered");
    let declined = declined.into_inner().order.expect("order");
    assert_eq!(declined.status, OrderStatus::Rejected as i32);
    let refusal = declined.payment.expect("payment");
    assert_eq!(refusal.status, OrderPaymentStatus::Declined as i32);
    assert!(refusal.decline_reason.contains("declined"), "{refusal:?}");

    // A provider asking to retry: UNAVAILABLE and nothing stored; the
    // retry with the same request id pays once.
    bss_e2e::save_card(&gateway, &admin, &account, "tok_retry_visa").await;
    let before = orders.list_orders(authorized(own_orders(), &admin)).await.expect("orders").into_inner().orders.len();
    let busy = orders.place_order(authorized(card_order("card-3"), &customer)).await.expect_err("retry later");
    assert_eq!(busy.code(), Code::Unavailable);
    let after = orders.list_orders(authorized(own_orders(), &admin)).await.expect("orders").into_inner().orders.len();
    assert_eq!(before, after, "nothing was stored");
    let retried = orders.place_order(authorized(card_order("card-3"), &customer)).await.expect("paid on retry");
    let retried = retried.into_inner().order.expect("order");
    assert_eq!(retried.payment.expect("payment").status, OrderPaymentStatus::Captured as i32);

    // A request id another request used refunds nothing.
    let reused = CancelOrderRequest {
        id: paid.id.clone(),
        reason: "changed my mind".to_owned(),
        request_id: "card-1".to_owned(),
    };
    let refused = orders.cancel_order(authorized(reused, &customer)).await.expect_err("the order's request id");
    assert_eq!(reason(&refused), "REQUEST_ID_REUSED");
    let still = orders.get_order(authorized(GetOrderRequest { id: paid.id.clone() }, &admin)).await.expect("read");
    assert_eq!(still.into_inner().order.expect("order").payment, Some(payment.clone()), "still captured");

    // Cancelling the paid order refunds it, once.
    let cancel = CancelOrderRequest {
        id: paid.id.clone(),
        reason: "changed my mind".to_owned(),
        request_id: "cancel-card-1".to_owned(),
    };
    let cancelled = orders.cancel_order(authorized(cancel.clone(), &customer)).await.expect("cancelled");
    let cancelled = cancelled.into_inner().order.expect("order");
    assert_eq!(cancelled.status, OrderStatus::Cancelled as i32);
    let refund = cancelled.payment.clone().expect("payment");
    assert_eq!(
        (refund.status, refund.capture_id.as_str()),
        (OrderPaymentStatus::Refunded as i32, payment.capture_id.as_str())
    );
    assert!(refund.refund_id.starts_with("sandbox_refund_"));
    let replayed = orders.cancel_order(authorized(cancel, &customer)).await.expect("replayed");
    assert_eq!(replayed.into_inner().order.expect("order").payment, Some(refund.clone()));
    let read = orders.get_order(authorized(GetOrderRequest { id: paid.id.clone() }, &admin)).await.expect("staff");
    assert_eq!(read.into_inner().order.expect("order").payment, Some(refund));
}

#[tokio::test]
async fn a_sales_rep_reads_its_accounts_enquiry_and_its_user_acts_for_the_account_it_switched_to() {
    use bss_proto::accounts::user_service_client::UserServiceClient;
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Rep Books", "EUR").await;
    let gateway = suite.gateway().await;
    create_product(&gateway, &admin, "WIDGET", "10.00", "tools").await;
    let of_rep = |code: &str, rep: &str| Account { sales_rep_id: rep.to_owned(), ..ordering_account(code) };
    let first = create_account(&gateway, &admin, of_rep("REP-A", "R7")).await;
    let second = create_account(&gateway, &admin, of_rep("REP-B", "R7")).await;
    let elsewhere = create_account(&gateway, &admin, of_rep("REP-C", "R9")).await;
    for account in [&first, &second, &elsewhere] {
        bss_e2e::set_credit_terms(&gateway, &admin, account, "1000", None).await;
    }
    let rep = bss_testkit::sales_rep_token(tenant_id, "R7");

    // The rep orders for its account and reads the order, the account's
    // orders and its balance back; another rep's account is NOT_FOUND.
    let order = bss_e2e::place(&gateway, &rep, order_request(&first, &[("WIDGET", "2")], PaymentType::OnAccount)).await;
    let mut orders = OrderServiceClient::new(gateway.clone());
    let read = orders.get_order(authorized(GetOrderRequest { id: order.id.clone() }, &rep)).await.expect("its order");
    assert_eq!(bss_e2e::amount(&read.into_inner().order.expect("order").total), "20.00");
    let listed = ListOrdersRequest { account_id: first.clone(), ..ListOrdersRequest::default() };
    let listed = orders.list_orders(authorized(listed, &rep)).await.expect("its orders").into_inner().orders;
    assert_eq!(listed.iter().map(|o| o.id.clone()).collect::<Vec<_>>(), std::slice::from_ref(&order.id));
    let other_order =
        bss_e2e::place(&gateway, &admin, order_request(&elsewhere, &[("WIDGET", "1")], PaymentType::OnAccount)).await;
    let refused = orders.get_order(authorized(GetOrderRequest { id: other_order.id.clone() }, &rep)).await;
    assert_eq!(refused.expect_err("another rep's order").code(), Code::NotFound);
    let theirs = ListOrdersRequest { account_id: elsewhere.clone(), ..ListOrdersRequest::default() };
    assert_eq!(orders.list_orders(authorized(theirs, &rep)).await.expect_err("theirs").code(), Code::NotFound);
    let mut payments = PaymentServiceClient::new(gateway.clone());
    let balance = |account: &str| authorized(GetAccountBalanceRequest { account_id: account.to_owned() }, &rep);
    payments.get_account_balance(balance(&first)).await.expect("its balance");
    let refused = payments.get_account_balance(balance(&elsewhere)).await.expect_err("another rep's balance");
    assert_eq!(refused.code(), Code::NotFound);
    // Every other part of another rep's account's enquiry is NOT_FOUND too.
    let invoices = ListInvoicesRequest { account_id: elsewhere.clone(), ..ListInvoicesRequest::default() };
    let refused = InvoiceServiceClient::new(gateway.clone()).list_invoices(authorized(invoices, &rep)).await;
    assert_eq!(refused.expect_err("their invoices").code(), Code::NotFound);
    let transactions = ListTransactionsRequest { account_id: elsewhere.clone(), ..ListTransactionsRequest::default() };
    let refused = LedgerServiceClient::new(gateway.clone()).list_transactions(authorized(transactions, &rep)).await;
    assert_eq!(refused.expect_err("their transactions").code(), Code::NotFound);
    let wallet = GetWalletRequest { account_id: elsewhere.clone() };
    let refused = WalletServiceClient::new(gateway.clone()).get_wallet(authorized(wallet, &rep)).await;
    assert_eq!(refused.expect_err("their wallet").code(), Code::NotFound);
    let subscriptions = bss_proto::billing::ListSubscriptionsRequest {
        account_id: elsewhere.clone(),
        ..bss_proto::billing::ListSubscriptionsRequest::default()
    };
    let refused = bss_proto::billing::subscription_service_client::SubscriptionServiceClient::new(gateway.clone())
        .list_subscriptions(authorized(subscriptions, &rep))
        .await;
    assert_eq!(refused.expect_err("their subscriptions").code(), Code::NotFound);
    let mine = ListInvoicesRequest { account_id: first.clone(), ..ListInvoicesRequest::default() };
    InvoiceServiceClient::new(gateway.clone()).list_invoices(authorized(mine, &rep)).await.expect("its invoices");

    // The rep's own user (a customer_user token with its user id) acts
    // for the account the user is on, and after a switch for the new one.
    let user = User {
        account_id: first.clone(),
        email: "rep7@books.example".to_owned(),
        display_name: "Rep 7".to_owned(),
        sales_rep_id: "R7".to_owned(),
        ..User::default()
    };
    let mut users = UserServiceClient::new(gateway.clone());
    let created =
        users.create_user(authorized(CreateUserRequest { user: Some(user), request_id: String::new() }, &admin));
    let user_id: Uuid = created.await.expect("rep user").into_inner().user.expect("user").id.parse().expect("uuid");
    let acting = customer_user_token(tenant_id, user_id);
    let on_first =
        bss_e2e::place(&gateway, &acting, order_request("", &[("WIDGET", "1")], PaymentType::OnAccount)).await;
    assert_eq!(on_first.account_id, first);
    let switch =
        SwitchAccountRequest { user_id: user_id.to_string(), account_id: second.clone(), request_id: String::new() };
    users.switch_account(authorized(switch, &admin)).await.expect("switched");
    let on_second =
        bss_e2e::place(&gateway, &acting, order_request("", &[("WIDGET", "1")], PaymentType::OnAccount)).await;
    assert_eq!(on_second.account_id, second, "the same token now acts for the account switched to");
    let before = orders.get_order(authorized(GetOrderRequest { id: on_first.id.clone() }, &acting)).await;
    assert_eq!(before.expect_err("the first account's, no longer its own").code(), Code::NotFound);
    // Credit reads the same: the second account holds its order's
    // reservation, the first its two orders'.
    bss_e2e::credit_settles(&gateway, &admin, &second, "0.00", "10.00").await;
    bss_e2e::credit_settles(&gateway, &admin, &first, "0.00", "30.00").await;
}

/// (number, amount, state) of the checkout tries of the order request
/// whose credit reference is `reference`, once none is still settling.
async fn settled_tries(database: &sqlx::PgPool, reference: &str) -> Vec<(i32, String, String)> {
    for _ in 0..100 {
        let tries: Vec<(i32, String, String)> = sqlx::query_as(
            "SELECT number, amount::text, state FROM billing.checkout_tries
             WHERE reference LIKE '%:' || $1 ORDER BY number",
        )
        .bind(reference)
        .fetch_all(database)
        .await
        .expect("tries");
        let settled =
            |(_, _, state): &(i32, String, String)| ["USED", "GIVEN_BACK", "NOT_TAKEN"].contains(&state.as_str());
        if !tries.is_empty() && tries.iter().all(settled) {
            return tries;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the checkout tries of {reference} never settled");
}

#[tokio::test]
async fn a_card_payment_whose_order_was_not_stored_is_used_by_the_retry_or_given_back() {
    use bss_proto::billing::{CancelOrderRequest, OrderPaymentStatus, PlaceOrderRequest};
    let suite = TestApp::start().await;
    let (_, admin) = suite.tenant("Unstored Checkout", "EUR").await;
    let gateway = suite.gateway().await;
    let gadget = create_product(&gateway, &admin, "GADGET", "10.00", "tools").await;
    let account = create_account(&gateway, &admin, ordering_account("UNSTORED")).await;
    bss_e2e::save_card(&gateway, &admin, &account, "tok_visa").await;
    let database = sqlx::PgPool::connect(suite.database_url()).await.expect("database");
    // The database refuses to store this account's orders after the card
    // was charged (a statement timeout, as a slow database gives).
    let refuse = format!(
        "CREATE OR REPLACE FUNCTION billing.refuse_order() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
             RAISE EXCEPTION 'injected' USING ERRCODE = '57014'; END $$;
         CREATE TRIGGER refuse_order BEFORE INSERT ON billing.orders FOR EACH ROW
             WHEN (NEW.account_id = '{account}') EXECUTE FUNCTION billing.refuse_order();"
    );
    let recover = "DROP TRIGGER refuse_order ON billing.orders";
    let mut orders = OrderServiceClient::new(gateway.clone());
    let order = |request_id: &str| PlaceOrderRequest {
        request_id: request_id.to_owned(),
        ..order_request(&account, &[("GADGET", "1")], PaymentType::CreditCard)
    };

    // Two calls of one request at once: one pays and stores the order, the
    // other replays it or is told to retry; one payment, the order's.
    let (mut one, mut other) = (orders.clone(), orders.clone());
    let (first, second) = tokio::join!(
        one.place_order(authorized(order("unstored-0"), &admin)),
        other.place_order(authorized(order("unstored-0"), &admin)),
    );
    let mut stored = Vec::new();
    for outcome in [first, second] {
        match outcome {
            Ok(placed) => stored.push(placed.into_inner().order.expect("order")),
            Err(status) => assert_eq!(status.code(), Code::Aborted, "{status:?}"),
        }
    }
    assert!(!stored.is_empty() && stored.iter().all(|order| order.id == stored[0].id), "one order");
    let tries = settled_tries(&database, &stored[0].reference).await;
    assert_eq!(tries, [(1, "10.00".to_owned(), "USED".to_owned())]);

    // A retry at the same price stores the order with the payment taken
    // once: 10.00 is held by the order, anything else went back.
    sqlx::raw_sql(sqlx::AssertSqlSafe(refuse.clone())).execute(&database).await.expect("fault");
    let failed = orders.place_order(authorized(order("unstored-1"), &admin)).await.expect_err("not stored");
    assert_eq!(failed.code(), Code::Aborted, "{failed:?}");
    sqlx::raw_sql(recover).execute(&database).await.expect("recovered");
    // Told to retry later while billing's janitor is giving the first try's
    // money back (it may claim the try between the retry reading it and
    // paying under it), the client retries.
    let mut retries = 0;
    let placed = loop {
        match orders.place_order(authorized(order("unstored-1"), &admin)).await {
            Ok(placed) => break placed.into_inner(),
            Err(status) if reason(&status) == "REQUEST_IN_PROGRESS" && retries < 50 => retries += 1,
            Err(status) => panic!("stored: {status:?}"),
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let placed = placed.order.expect("order");
    let payment = placed.payment.clone().expect("paid");
    assert_eq!((payment.status(), bss_e2e::amount(&payment.amount)), (OrderPaymentStatus::Captured, "10.00"));
    let again = orders.place_order(authorized(order("unstored-1"), &admin)).await.expect("replayed").into_inner();
    assert_eq!(again.order.and_then(|o| o.payment), Some(payment.clone()), "paid once");
    let tries = settled_tries(&database, &placed.reference).await;
    let used: Vec<_> = tries.iter().filter(|(_, _, state)| state == "USED").collect();
    assert_eq!(used.len(), 1, "{tries:?}");
    assert_eq!(used[0].1, "10.00");
    assert!(tries.iter().all(|(_, _, state)| state == "USED" || state == "GIVEN_BACK"), "{tries:?}");
    // The provider holds the order's 10.00: cancelling refunds it whole.
    let cancel = CancelOrderRequest { id: placed.id.clone(), reason: "test".to_owned(), request_id: String::new() };
    let cancelled = orders.cancel_order(authorized(cancel, &admin)).await.expect("refunded").into_inner();
    let refunded = cancelled.order.and_then(|o| o.payment).expect("payment");
    assert_eq!((refunded.status(), bss_e2e::amount(&refunded.refunded)), (OrderPaymentStatus::Refunded, "10.00"));

    // Priced again before its retry, the request is another one (credit
    // refuses the request id for it); the payment its first try took is
    // given back by billing's janitor all the same.
    sqlx::raw_sql(sqlx::AssertSqlSafe(refuse)).execute(&database).await.expect("fault");
    let failed = orders.place_order(authorized(order("unstored-2"), &admin)).await.expect_err("not stored");
    assert_eq!(failed.code(), Code::Aborted, "{failed:?}");
    sqlx::raw_sql(recover).execute(&database).await.expect("recovered");
    let product = Product { id: gadget, list_price: eur("12.00"), ..Product::default() };
    let repriced = bss_proto::pricing::UpdateProductRequest {
        product: Some(product),
        update_mask: Some(FieldMask { paths: vec!["list_price".to_owned()] }),
        request_id: String::new(),
    };
    CatalogServiceClient::new(gateway.clone()).update_product(authorized(repriced, &admin)).await.expect("repriced");
    let refused = orders.place_order(authorized(order("unstored-2"), &admin)).await.expect_err("priced again");
    assert_eq!((refused.code(), reason(&refused)), (Code::InvalidArgument, "REQUEST_ID_REUSED".to_owned()));
    let reference: (String,) = sqlx::query_as(
        "SELECT reference FROM billing.checkout_tries WHERE reference LIKE '%unstored-2%' AND number = 1",
    )
    .fetch_one(&database)
    .await
    .expect("the first try");
    let reference = reference.0.split_once(':').map(|(_, rest)| rest.to_owned()).expect("tenant:reference");
    let tries = settled_tries(&database, &reference).await;
    assert_eq!(tries, [(1, "10.00".to_owned(), "GIVEN_BACK".to_owned())]);
    // The provider's books say the same: the try's capture of 10.00 was
    // refunded whole.
    let held: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.amount::text, c.refunded::text FROM billing.sandbox_authorizations a
         JOIN billing.sandbox_captures c ON c.authorization_id = a.id WHERE a.reference LIKE '%:' || $1 || ':authorize'",
    )
    .bind(&reference)
    .fetch_all(&database)
    .await
    .expect("the provider's books");
    assert_eq!(held, [("10.00".to_owned(), "10.00".to_owned())]);
}

/// One customer user's story through the gateway, read back from every
/// side. It signs in (the token its tenant's identity provider issues
/// names its user), sees its own prices, pays by card (approved, then
/// declined), by direct deposit (told the bank details) and on account
/// (short of stock: a back order that ships when stock arrives), subscribes,
/// reads its own enquiry (invoices with its billing address, a payment, a
/// credit note, its balance), finds every id of another customer NOT_FOUND,
/// and once its account is made inactive is refused at every call.
#[tokio::test]
async fn a_customer_users_story_from_sign_in_to_its_enquiry() {
    use bss_e2e::{
        assign_location, billing_balance, create_good, create_location, credit_settles, place, receive_stock,
        set_credit_terms, stock_at, subscription_request,
    };
    use bss_proto::billing::location_service_client::LocationServiceClient;
    use bss_proto::billing::subscription_service_client::SubscriptionServiceClient;
    use bss_proto::billing::{
        CancelOrderRequest, CancelSubscriptionRequest, CreateCreditNoteRequest, GetSubscriptionRequest,
        ListLocationsRequest, ListSubscriptionsRequest, OrderPaymentStatus, Payment, RecordPaymentRequest,
        SubscriptionStatus, TransactionKind,
    };
    use bss_proto::credit::credit_service_client::CreditServiceClient;
    use bss_proto::credit::{ListPaymentMethodsRequest, PaymentMethod, PaymentMethodKind, SavePaymentMethodRequest};

    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Story Books", "EUR").await;
    let gateway = suite.gateway().await;

    // The staff's side: a good sold at 8.00 by contract (10.00 listed), a
    // support plan at 5.00, the customer's account with three payment
    // types, its billing address, its warehouse with 3 widgets, the
    // tenant's bank account; another customer beside it.
    let widget = create_good(&gateway, &admin, "WIDGET", eur("10.00"), (false, 0)).await;
    create_product(&gateway, &admin, "SUPPORT", "5.00", "services").await;
    let payer = Account {
        payment_types: vec![
            PaymentType::OnAccount as i32,
            PaymentType::CreditCard as i32,
            PaymentType::DirectDeposit as i32,
            PaymentType::RunningQuote as i32,
        ],
        ..ordering_account("STORY")
    };
    let mine = create_account(&gateway, &admin, payer).await;
    let theirs = create_account(&gateway, &admin, ordering_account("NEIGHBOUR")).await;
    set_credit_terms(&gateway, &admin, &mine, "1000", None).await;
    set_credit_terms(&gateway, &admin, &theirs, "1000", None).await;
    create_contract(&gateway, &admin, &widget, "8.00", &[&mine]).await;
    let billing_address = Address {
        r#type: AddressType::Billing as i32,
        lines: vec!["1 Ledger Lane".to_owned()],
        city: "Berlin".to_owned(),
        postal_code: "10115".to_owned(),
        country_code: "DE".to_owned(),
        override_validation: true,
        ..Address::default()
    };
    let create =
        CreateAddressRequest { account_id: mine.clone(), address: Some(billing_address), request_id: String::new() };
    AccountServiceClient::new(gateway.clone()).create_address(authorized(create, &admin)).await.expect("address");
    let warehouse = create_location(&gateway, &admin, "BER", None).await;
    let their_warehouse = create_location(&gateway, &admin, "HAM", None).await;
    assign_location(&gateway, &admin, &mine, &warehouse, true).await;
    assign_location(&gateway, &admin, &theirs, &their_warehouse, true).await;
    receive_stock(&gateway, &admin, &warehouse, "WIDGET", "3").await;
    set_bank_details(&gateway, &admin).await;

    // Signing in: the token names the tenant, the role and its user.
    let user = create_user(&gateway, &admin, &mine, "buyer@story.example").await;
    let customer = customer_user_token(tenant_id, user);
    let mut accounts = AccountServiceClient::new(gateway.clone());
    let listed = accounts.list_accounts(authorized(ListAccountsRequest::default(), &customer)).await;
    let listed: Vec<String> = listed.expect("its accounts").into_inner().accounts.into_iter().map(|a| a.id).collect();
    assert_eq!(listed, std::slice::from_ref(&mine), "it acts for its own account");

    // Its prices: the contract's, not the list price.
    let mut quotes = QuoteServiceClient::new(gateway.clone());
    let priced = quotes.quote(authorized(quote(&mine, "WIDGET", "2"), &customer)).await.expect("quoted").into_inner();
    assert_eq!((bss_e2e::amount(&priced.lines[0].unit_price), bss_e2e::amount(&priced.total)), ("8.00", "16.00"));

    // By card, approved: its own card, captured before the order executes;
    // one widget leaves the warehouse; credit reserves nothing.
    let mut credit = CreditServiceClient::new(gateway.clone());
    let save = |token_reference: &str| SavePaymentMethodRequest {
        account_id: String::new(),
        method: Some(PaymentMethod {
            kind: PaymentMethodKind::Card as i32,
            token_reference: token_reference.to_owned(),
            label: format!("card {token_reference}"),
            is_default: true,
            use_for_purchases: true,
            ..PaymentMethod::default()
        }),
        request_id: String::new(),
    };
    credit.save_payment_method(authorized(save("tok_visa"), &customer)).await.expect("its card");
    let mut orders = OrderServiceClient::new(gateway.clone());
    let by_card = |request_id: &str| bss_proto::billing::PlaceOrderRequest {
        request_id: request_id.to_owned(),
        ..order_request("", &[("WIDGET", "1")], PaymentType::CreditCard)
    };
    let paid = orders.place_order(authorized(by_card("story-card-1"), &customer)).await.expect("paid");
    let paid = paid.into_inner().order.expect("order");
    assert_eq!((paid.account_id.as_str(), paid.status), (mine.as_str(), OrderStatus::Executed as i32));
    let payment = paid.payment.clone().expect("payment");
    assert_eq!((payment.status, bss_e2e::amount(&payment.amount)), (OrderPaymentStatus::Captured as i32, "8.00"));
    assert_eq!(
        stock_at(&gateway, &customer, &warehouse).await.expect("stock"),
        [("WIDGET".to_owned(), "2".to_owned())]
    );
    assert_eq!(bss_e2e::amount(&bss_e2e::credit_status(&gateway, &admin, &mine).await.reserved), "0.00");

    // Its request ids are its own: another user of the account sending the
    // same request with the same id is refused, never handed this order.
    let colleague = customer_user_token(tenant_id, create_user(&gateway, &admin, &mine, "clerk@story.example").await);
    let reused = orders.place_order(authorized(by_card("story-card-1"), &colleague)).await.expect_err("not its id");
    assert_eq!((reused.code(), reason(&reused)), (Code::InvalidArgument, "REQUEST_ID_REUSED".to_owned()));
    let replayed = orders.place_order(authorized(by_card("story-card-1"), &customer)).await.expect("its own retry");
    assert_eq!(replayed.into_inner().order.expect("order").id, paid.id, "its retry gets its order");

    // By card, declined: rejected with the provider's reason; nothing
    // leaves the warehouse.
    credit.save_payment_method(authorized(save("tok_decline_insufficient_funds"), &customer)).await.expect("card");
    let declined = orders.place_order(authorized(by_card("story-card-2"), &customer)).await.expect("answered");
    let declined = declined.into_inner().order.expect("order");
    assert_eq!(declined.status, OrderStatus::Rejected as i32);
    let refusal = declined.payment.expect("payment");
    assert_eq!(refusal.status, OrderPaymentStatus::Declined as i32);
    assert!(refusal.decline_reason.contains("declined"), "{refusal:?}");
    assert_eq!(
        stock_at(&gateway, &customer, &warehouse).await.expect("stock"),
        [("WIDGET".to_owned(), "2".to_owned())]
    );

    // By card, authorized but its capture declined: rejected with the
    // reason, and the hold on the card released (the provider's books show
    // the authorization voided).
    credit.save_payment_method(authorized(save("tok_capture_decline"), &customer)).await.expect("card");
    let uncaptured = orders.place_order(authorized(by_card("story-card-4"), &customer)).await.expect("answered");
    let uncaptured = uncaptured.into_inner().order.expect("order");
    let refusal = uncaptured.payment.expect("payment");
    assert_eq!(
        (uncaptured.status, refusal.status),
        (OrderStatus::Rejected as i32, OrderPaymentStatus::Declined as i32)
    );
    assert!(refusal.decline_reason.contains("capture was declined"), "{refusal:?}");
    let books = sqlx::PgPool::connect(suite.database_url()).await.expect("the sandbox's books");
    let held: Vec<(bool, rust_decimal::Decimal)> =
        sqlx::query_as("SELECT voided, captured FROM billing.sandbox_authorizations WHERE declines_capture")
            .fetch_all(&books)
            .await
            .expect("authorizations");
    assert_eq!(held, [(true, rust_decimal::Decimal::ZERO)], "voided, nothing captured");
    assert_eq!(
        stock_at(&gateway, &customer, &warehouse).await.expect("stock"),
        [("WIDGET".to_owned(), "2".to_owned())]
    );

    // A running quote: recorded as a quote, never dispatched (the stock and
    // the account's assets stay as they were), never reserved, and never
    // invoiced (the invoice below holds only the transfer and the order on
    // account).
    let assets = || bss_proto::billing::ListAssetsRequest { account_id: mine.clone(), ..Default::default() };
    let mut asset_service = bss_proto::billing::asset_service_client::AssetServiceClient::new(gateway.clone());
    let owned = asset_service.list_assets(authorized(assets(), &customer)).await.expect("its assets").into_inner();
    assert_eq!(
        owned.assets.iter().map(|a| quantity(&a.quantity)).collect::<Vec<_>>(),
        ["1"],
        "the card order's widget"
    );
    let quoted = place(&gateway, &customer, order_request("", &[("WIDGET", "2")], PaymentType::RunningQuote)).await;
    assert_eq!((quoted.status, bss_e2e::amount(&quoted.total)), (OrderStatus::RunningQuote as i32, "16.00"));
    assert_eq!(
        stock_at(&gateway, &customer, &warehouse).await.expect("stock"),
        [("WIDGET".to_owned(), "2".to_owned())]
    );
    let still = asset_service.list_assets(authorized(assets(), &customer)).await.expect("its assets").into_inner();
    assert_eq!(still.assets.len(), 1, "a quote ships nothing");
    assert_eq!(bss_e2e::amount(&bss_e2e::credit_status(&gateway, &admin, &mine).await.reserved), "0.00");

    // By direct deposit: executed on credit, and told where to transfer.
    let transfer = place(&gateway, &customer, order_request("", &[("WIDGET", "1")], PaymentType::DirectDeposit)).await;
    let told = transfer.payment_instructions.clone().expect("payment instructions");
    assert_eq!((bss_e2e::amount(&told.amount), told.reference.as_str()), ("8.00", transfer.id.as_str()));
    assert_eq!(told.bank_details.expect("bank").iban, "DE89370400440532013000");

    // On account, short of stock: one widget ships, two wait.
    let short = place(&gateway, &customer, order_request("", &[("WIDGET", "3")], PaymentType::OnAccount)).await;
    assert_eq!(short.status, OrderStatus::Executed as i32);
    let line = &short.lines[0];
    assert_eq!((quantity(&line.available_quantity), quantity(&line.backordered_quantity)), ("1", "2"));
    assert_eq!(bss_e2e::amount(&short.total), "24.00");
    assert_eq!(
        stock_at(&gateway, &customer, &warehouse).await.expect("stock"),
        [("WIDGET".to_owned(), "0".to_owned())]
    );
    let back_orders = || ListOrdersRequest { account_id: mine.clone(), back_ordered_only: true, ..Default::default() };
    let waiting = orders.list_orders(authorized(back_orders(), &customer)).await.expect("its back orders");
    assert_eq!(
        waiting.into_inner().orders.iter().map(|o| o.id.clone()).collect::<Vec<_>>(),
        std::slice::from_ref(&short.id)
    );
    // Credit holds the transfer and the order on account: 8.00 + 24.00.
    credit_settles(&gateway, &admin, &mine, "0.00", "32.00").await;
    // Stock arrives; the back order ships.
    let arrived = receive_stock(&gateway, &admin, &warehouse, "WIDGET", "2").await;
    assert_eq!(arrived.shipped.iter().map(|s| s.order_id.clone()).collect::<Vec<_>>(), std::slice::from_ref(&short.id));
    let waiting = orders.list_orders(authorized(back_orders(), &customer)).await.expect("its back orders");
    assert!(waiting.into_inner().orders.is_empty(), "nothing waits any more");

    // A subscription: for its own account whatever it names; another's is
    // NOT_FOUND; it lists, reads and cancels its own.
    let mut subscriptions = SubscriptionServiceClient::new(gateway.clone());
    let subscribe = |account: &str| subscription_request(account, "SUPPORT", "1", PaymentType::OnAccount);
    let subscribed = subscriptions.create_subscription(authorized(subscribe(""), &customer)).await.expect("subscribed");
    let subscribed = subscribed.into_inner().subscription.expect("subscription");
    assert_eq!((subscribed.account_id.as_str(), subscribed.status), (mine.as_str(), SubscriptionStatus::Active as i32));
    assert_eq!(bss_e2e::amount(&subscribed.unit_price), "5.00");
    let refused = subscriptions.create_subscription(authorized(subscribe(&theirs), &customer)).await;
    assert_eq!(refused.expect_err("for another account").code(), Code::NotFound);
    let their_subscription = subscriptions.create_subscription(authorized(subscribe(&theirs), &admin)).await;
    let their_subscription = their_subscription.expect("theirs").into_inner().subscription.expect("subscription");
    let own = ListSubscriptionsRequest { account_id: mine.clone(), ..ListSubscriptionsRequest::default() };
    let own = subscriptions.list_subscriptions(authorized(own, &customer)).await.expect("its subscriptions");
    assert_eq!(
        own.into_inner().subscriptions.iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
        std::slice::from_ref(&subscribed.id)
    );
    let cancel =
        |id: &str| CancelSubscriptionRequest { id: id.to_owned(), request_id: String::new(), ..Default::default() };
    let refused = subscriptions.cancel_subscription(authorized(cancel(&their_subscription.id), &customer)).await;
    assert_eq!(refused.expect_err("another's").code(), Code::NotFound);
    let read = GetSubscriptionRequest { id: their_subscription.id.clone() };
    assert_eq!(
        subscriptions.get_subscription(authorized(read, &customer)).await.expect_err("another's").code(),
        Code::NotFound
    );
    let cancelled = subscriptions.cancel_subscription(authorized(cancel(&subscribed.id), &customer)).await;
    let cancelled = cancelled.expect("its own").into_inner().subscription.expect("subscription");
    assert_eq!(cancelled.status, SubscriptionStatus::Cancelled as i32);

    // Its enquiry, after the staff's billing run, a payment and a credit
    // note: every figure it reads is the one billing and credit hold.
    // One invoice: the transfer (8.00) and the order on account (3 x
    // 8.00); the card order was paid at checkout and is not invoiced, and
    // the subscription cancelled on its first day was never charged.
    let invoices = generate(&gateway, &admin, &mine, &bss_e2e::today(), true).await;
    let invoiced: Vec<(&str, Vec<String>)> = invoices
        .iter()
        .map(|i| (bss_e2e::amount(&i.total), i.billing_address.as_ref().map(|a| a.lines.clone()).unwrap_or_default()))
        .collect();
    assert_eq!(invoiced, [("32.00", vec!["1 Ledger Lane".to_owned()])], "billed to its billing address");
    let first = invoices.first().expect("an invoice").id.clone();
    let mut payments = PaymentServiceClient::new(gateway.clone());
    let pay = RecordPaymentRequest {
        payment: Some(Payment { account_id: mine.clone(), amount: eur("10.00"), ..Payment::default() }),
        invoice_id: first.clone(),
        request_id: String::new(),
    };
    payments.record_payment(authorized(pay, &admin)).await.expect("payment");
    let note = CreateCreditNoteRequest {
        account_id: mine.clone(),
        amount: eur("2.00"),
        reason: "a scratched widget".to_owned(),
        ..CreateCreditNoteRequest::default()
    };
    payments.create_credit_note(authorized(note, &admin)).await.expect("credit note");
    let listed = ListTransactionsRequest { account_id: mine.clone(), ..ListTransactionsRequest::default() };
    let listed = LedgerServiceClient::new(gateway.clone()).list_transactions(authorized(listed, &customer)).await;
    let kinds: Vec<(i32, String)> = listed
        .expect("its transactions")
        .into_inner()
        .transactions
        .iter()
        .map(|t| (t.kind, bss_e2e::amount(&t.amount).to_owned()))
        .collect();
    let expected = [
        (TransactionKind::Invoice as i32, "32.00".to_owned()),
        (TransactionKind::Payment as i32, "-10.00".to_owned()),
        (TransactionKind::CreditNote as i32, "-2.00".to_owned()),
    ];
    assert_eq!(kinds, expected);
    // 32.00 - 10.00 - 2.00, as the customer, the staff and credit read it.
    let balance = GetAccountBalanceRequest { account_id: mine.clone() };
    let own_balance = payments.get_account_balance(authorized(balance, &customer)).await.expect("its balance");
    assert_eq!(bss_e2e::amount(&own_balance.into_inner().balance), "20.00");
    assert_eq!(bss_e2e::amount(&billing_balance(&gateway, &admin, &mine).await.balance), "20.00", "the staff's");
    credit_settles(&gateway, &admin, &mine, "20.00", "0.00").await;

    // Another customer's ids: NOT_FOUND everywhere.
    let their_order = place(&gateway, &admin, order_request(&theirs, &[("WIDGET", "1")], PaymentType::OnAccount)).await;
    let their_invoice =
        generate(&gateway, &admin, &theirs, &bss_e2e::today(), true).await.into_iter().next().expect("theirs");
    let not_found = [
        orders.get_order(authorized(GetOrderRequest { id: their_order.id.clone() }, &customer)).await.map(|_| ()),
        InvoiceServiceClient::new(gateway.clone())
            .get_invoice(authorized(GetInvoiceRequest { id: their_invoice.id.clone() }, &customer))
            .await
            .map(|_| ()),
        stock_at(&gateway, &customer, &their_warehouse).await.map(|_| ()),
        accounts.get_account(authorized(GetAccountRequest { id: theirs.clone() }, &customer)).await.map(|_| ()),
        orders
            .cancel_order(authorized(
                CancelOrderRequest {
                    id: their_order.id.clone(),
                    reason: "not mine".to_owned(),
                    request_id: String::new(),
                },
                &customer,
            ))
            .await
            .map(|_| ()),
    ];
    for refused in not_found {
        assert_eq!(refused.expect_err("another customer's").code(), Code::NotFound);
    }

    // Is Active: made inactive, its user is refused at every call, with the
    // reason; nothing it asked for was done.
    let inactive = UpdateAccountRequest {
        account: Some(Account { id: mine.clone(), is_active: Some(false), ..Account::default() }),
        update_mask: Some(FieldMask { paths: vec!["is_active".to_owned()] }),
        request_id: String::new(),
    };
    accounts.update_account(authorized(inactive, &admin)).await.expect("deactivated");
    let own_orders = || ListOrdersRequest { account_id: mine.clone(), ..ListOrdersRequest::default() };
    let before = orders.list_orders(authorized(own_orders(), &admin)).await.expect("orders").into_inner().orders.len();
    let refusals = [
        accounts.get_account(authorized(GetAccountRequest { id: mine.clone() }, &customer)).await.map(|_| ()),
        accounts
            .list_addresses(authorized(
                ListAddressesRequest { account_id: mine.clone(), ..Default::default() },
                &customer,
            ))
            .await
            .map(|_| ()),
        quotes.quote(authorized(quote(&mine, "WIDGET", "1"), &customer)).await.map(|_| ()),
        orders
            .place_order(authorized(order_request("", &[("WIDGET", "1")], PaymentType::OnAccount), &customer))
            .await
            .map(|_| ()),
        orders.place_order(authorized(by_card("story-card-3"), &customer)).await.map(|_| ()),
        orders.get_order(authorized(GetOrderRequest { id: short.id.clone() }, &customer)).await.map(|_| ()),
        orders.list_orders(authorized(own_orders(), &customer)).await.map(|_| ()),
        orders
            .cancel_order(authorized(
                CancelOrderRequest {
                    id: transfer.id.clone(),
                    reason: "inactive".to_owned(),
                    request_id: String::new(),
                },
                &customer,
            ))
            .await
            .map(|_| ()),
        subscriptions.create_subscription(authorized(subscribe(""), &customer)).await.map(|_| ()),
        subscriptions
            .list_subscriptions(authorized(
                ListSubscriptionsRequest { account_id: mine.clone(), ..Default::default() },
                &customer,
            ))
            .await
            .map(|_| ()),
        InvoiceServiceClient::new(gateway.clone())
            .get_invoice(authorized(GetInvoiceRequest { id: first.clone() }, &customer))
            .await
            .map(|_| ()),
        LedgerServiceClient::new(gateway.clone())
            .list_transactions(authorized(
                ListTransactionsRequest { account_id: mine.clone(), ..ListTransactionsRequest::default() },
                &customer,
            ))
            .await
            .map(|_| ()),
        payments
            .get_account_balance(authorized(GetAccountBalanceRequest { account_id: mine.clone() }, &customer))
            .await
            .map(|_| ()),
        WalletServiceClient::new(gateway.clone())
            .get_wallet(authorized(GetWalletRequest::default(), &customer))
            .await
            .map(|_| ()),
        LocationServiceClient::new(gateway.clone())
            .list_locations(authorized(ListLocationsRequest::default(), &customer))
            .await
            .map(|_| ()),
        stock_at(&gateway, &customer, &warehouse).await.map(|_| ()),
        credit
            .list_payment_methods(authorized(
                ListPaymentMethodsRequest { account_id: mine.clone(), ..Default::default() },
                &customer,
            ))
            .await
            .map(|_| ()),
        credit.save_payment_method(authorized(save("tok_visa"), &customer)).await.map(|_| ()),
        ContractServiceClient::new(gateway.clone())
            .list_contracts(authorized(ListContractsRequest::default(), &customer))
            .await
            .map(|_| ()),
        CatalogServiceClient::new(gateway.clone())
            .list_products(authorized(ListProductsRequest::default(), &customer))
            .await
            .map(|_| ()),
    ];
    for (index, refused) in refusals.into_iter().enumerate() {
        let refused = refused.expect_err("an inactive account's user");
        assert_eq!(
            (refused.code(), reason(&refused)),
            (Code::PermissionDenied, "ACCOUNT_INACTIVE".to_owned()),
            "call {index}: {refused:?}"
        );
    }
    let after = orders.list_orders(authorized(own_orders(), &admin)).await.expect("orders").into_inner().orders;
    assert_eq!(after.len(), before, "nothing was ordered");
    let transfer_now = after.iter().find(|o| o.id == transfer.id).expect("the transfer order");
    assert_eq!(transfer_now.status, OrderStatus::Executed as i32, "nothing was cancelled");
}

fn quantity(value: &Option<bss_proto::types::Decimal>) -> &str {
    value.as_ref().map_or("", |q| q.value.as_str())
}

/// The tenant's bank account for direct deposits.
async fn set_bank_details(gateway: &Channel, admin: &str) {
    use bss_proto::billing::billing_settings_service_client::BillingSettingsServiceClient;
    use bss_proto::billing::{BankDetails, BillingSettings, UpdateBillingSettingsRequest};
    let update = UpdateBillingSettingsRequest {
        settings: Some(BillingSettings {
            bank_details: Some(BankDetails {
                account_name: "Story Books GmbH".to_owned(),
                bank_name: "Commerzbank".to_owned(),
                iban: "DE89370400440532013000".to_owned(),
                bic: "COBADEFFXXX".to_owned(),
                ..BankDetails::default()
            }),
            ..BillingSettings::default()
        }),
        update_mask: Some(FieldMask { paths: vec!["bank_details".to_owned()] }),
        request_id: String::new(),
    };
    BillingSettingsServiceClient::new(gateway.clone())
        .update_billing_settings(authorized(update, admin))
        .await
        .expect("bank");
}
