//! The billing context in the authorization matrix.

use std::time::Duration;

use bss_platform::auth::Role;
use bss_proto::billing::asset_service_client::AssetServiceClient;
use bss_proto::billing::billing_event_service_client::BillingEventServiceClient;
use bss_proto::billing::billing_settings_service_client::BillingSettingsServiceClient;
use bss_proto::billing::invoice_service_client::InvoiceServiceClient;
use bss_proto::billing::ledger_service_client::LedgerServiceClient;
use bss_proto::billing::location_service_client::LocationServiceClient;
use bss_proto::billing::order_service_client::OrderServiceClient;
use bss_proto::billing::payment_service_client::PaymentServiceClient;
use bss_proto::billing::subscription_service_client::SubscriptionServiceClient;
use bss_proto::billing::usage_service_client::UsageServiceClient;
use bss_proto::billing::wallet_service_client::WalletServiceClient;
use bss_proto::billing::*;
use bss_proto::types::{Decimal, Money};
use bss_testkit::authorized;
use futures::StreamExt;
use tonic::Status;
use tonic::transport::Channel;
use uuid::Uuid;

use super::{Case, OtherTenant, Outcome, case, request};

const INVOICES: &str = "bss.billing.v1.InvoiceService";
const ORDERS: &str = "bss.billing.v1.OrderService";
const SUBSCRIPTIONS: &str = "bss.billing.v1.SubscriptionService";
const PAYMENTS: &str = "bss.billing.v1.PaymentService";
const EVENTS: &str = "bss.billing.v1.BillingEventService";
const LEDGER: &str = "bss.billing.v1.LedgerService";
const SETTINGS: &str = "bss.billing.v1.BillingSettingsService";
const LOCATIONS: &str = "bss.billing.v1.LocationService";
const WALLETS: &str = "bss.billing.v1.WalletService";
const ASSETS: &str = "bss.billing.v1.AssetService";
const USAGE: &str = "bss.billing.v1.UsageService";
/// The first tenant's bank account holder.
const OWNER: &str = "Owner Books Pty Ltd";

/// Bank details held by `account_name`.
fn bank_details(account_name: &str) -> UpdateBillingSettingsRequest {
    UpdateBillingSettingsRequest {
        settings: Some(BillingSettings {
            bank_details: Some(BankDetails {
                account_name: account_name.to_owned(),
                account_number: "12345678".to_owned(),
                routing_code: "062-000".to_owned(),
                ..BankDetails::default()
            }),
            ..BillingSettings::default()
        }),
        update_mask: Some(prost_types::FieldMask { paths: vec!["bank_details".to_owned()] }),
        request_id: String::new(),
    }
}

pub fn cases() -> Vec<Case> {
    use OtherTenant::*;
    let reader = Some(Role::SalesRep);
    // A sales rep reads its accounts' enquiry: a guest reads none.
    let enquirer = Some(Role::Guest);
    let writer = Some(Role::CreditManager);
    vec![
        case(ORDERS, "PlaceOrder", Some(Role::CreditManager), NotFound),
        case(ORDERS, "GetOrder", enquirer, NotFound),
        case(ORDERS, "ListOrders", enquirer, NotFound),
        case(ORDERS, "ShipBackOrder", writer, NotFound),
        case(ORDERS, "CancelOrder", Some(Role::CreditManager), NotFound),
        case(ORDERS, "CancelBackOrder", Some(Role::CreditManager), NotFound),
        case(SUBSCRIPTIONS, "CreateSubscription", Some(Role::CreditManager), NotFound),
        case(SUBSCRIPTIONS, "GetSubscription", enquirer, NotFound),
        case(SUBSCRIPTIONS, "ListSubscriptions", enquirer, NotFound),
        case(SUBSCRIPTIONS, "CancelSubscription", Some(Role::CreditManager), NotFound),
        case(SUBSCRIPTIONS, "SetBillingAnchor", Some(Role::CreditManager), NotFound),
        case(SUBSCRIPTIONS, "GetBillingAnchor", enquirer, NotFound),
        case(SUBSCRIPTIONS, "ChangeSubscription", Some(Role::CreditManager), NotFound),
        case(SUBSCRIPTIONS, "ListSubscriptionChanges", enquirer, NotFound),
        case(SUBSCRIPTIONS, "PauseSubscription", Some(Role::CreditManager), NotFound),
        case(USAGE, "IngestUsage", Some(Role::CreditManager), NotFound),
        case(USAGE, "IngestUsageBatch", Some(Role::CreditManager), NotFound),
        case(USAGE, "GetCurrentUsage", enquirer, NotFound),
        case(SUBSCRIPTIONS, "ResumeSubscription", Some(Role::CreditManager), NotFound),
        case(INVOICES, "CreateInvoice", writer, NotFound),
        case(INVOICES, "PostInvoice", writer, NotFound),
        case(INVOICES, "GetInvoice", enquirer, NotFound),
        case(INVOICES, "ListInvoices", enquirer, NotFound),
        case(INVOICES, "GenerateInvoices", writer, NotFound),
        // Another tenant's run is its own tenant's.
        case(INVOICES, "StartBillingRun", writer, NotApplicable),
        case(INVOICES, "GetBillingRun", reader, NotFound),
        case(INVOICES, "VoidInvoice", writer, NotFound),
        case(PAYMENTS, "RecordPayment", writer, NotFound),
        case(PAYMENTS, "GetAccountBalance", enquirer, NotFound),
        case(PAYMENTS, "GetReceivablesAging", enquirer, NotFound),
        case(PAYMENTS, "CreateCreditNote", writer, NotFound),
        case(PAYMENTS, "WriteOffAccount", writer, NotFound),
        case(PAYMENTS, "RefundCredit", writer, NotFound),
        // Another tenant's settings are its own tenant's.
        case(LEDGER, "SetPeriodSettings", writer, NotApplicable),
        case(LEDGER, "GetPeriodSettings", reader, SeesNothing),
        case(LEDGER, "ListPeriods", reader, SeesNothing),
        case(LEDGER, "ClosePeriod", writer, NotFound),
        case(LEDGER, "RunRebates", writer, NotFound),
        case(LEDGER, "ListTransactions", enquirer, NotFound),
        case(LEDGER, "GetBalanceHistory", enquirer, NotFound),
        case(LEDGER, "CheckAccountsSettled", reader, SeesNothing),
        case(EVENTS, "StreamEvents", reader, SeesNothing),
        // Another tenant's settings are its own tenant's.
        case(SETTINGS, "UpdateBillingSettings", writer, NotApplicable),
        case(SETTINGS, "GetBillingSettings", reader, SeesNothing),
        // Another tenant's locations are its own tenant's.
        case(LOCATIONS, "CreateLocation", writer, NotApplicable),
        case(LOCATIONS, "ListLocations", Some(Role::Guest), SeesNothing),
        case(LOCATIONS, "ReceiveStock", writer, NotFound),
        case(LOCATIONS, "ListStock", Some(Role::Guest), NotFound),
        case(LOCATIONS, "AssignAccountLocation", writer, NotFound),
        case(LOCATIONS, "RemoveAccountLocation", writer, NotFound),
        case(LOCATIONS, "ListAccountLocations", Some(Role::Guest), NotFound),
        case(WALLETS, "OpenWallet", writer, NotFound),
        case(WALLETS, "GetWallet", enquirer, NotFound),
        case(WALLETS, "SetWalletPreferences", writer, NotFound),
        case(WALLETS, "TopUpWallet", writer, NotFound),
        case(WALLETS, "PayFromWallet", writer, NotFound),
        case(WALLETS, "PayOutWallet", writer, NotFound),
        case(WALLETS, "ListWalletTransactions", enquirer, NotFound),
        case(ASSETS, "ListAssets", enquirer, NotFound),
        case(ASSETS, "GetAsset", enquirer, NotFound),
        case(ASSETS, "RecordAssetSerial", writer, NotFound),
        case(ASSETS, "TransferAsset", writer, NotFound),
        case(ASSETS, "ReturnAssets", writer, NotFound),
        case(ASSETS, "ImportAsset", writer, NotFound),
    ]
}

fn draft(account_id: &str) -> CreateInvoiceRequest {
    CreateInvoiceRequest {
        invoice: Some(Invoice {
            account_id: account_id.to_owned(),
            lines: vec![InvoiceLine {
                description: "Matrix".to_owned(),
                quantity: Some(Decimal { value: "1".to_owned() }),
                unit_price: Some(Money { currency_code: "AUD".to_owned(), amount: "10.00".to_owned() }),
                ..InvoiceLine::default()
            }],
            ..Invoice::default()
        }),
        request_id: String::new(),
    }
}

/// The first tenant's billing every case aims at.
pub struct Fixture {
    tenant_id: String,
    account_id: String,
    invoice_id: String,
    order_id: String,
    subscription_id: String,
    run_id: String,
    period_id: String,
    location_id: String,
    asset_id: String,
}

fn subscription(account_id: &str) -> CreateSubscriptionRequest {
    CreateSubscriptionRequest {
        subscription: Some(Subscription {
            account_id: account_id.to_owned(),
            product: "OWNED-P".to_owned(),
            quantity: Some(Decimal { value: "1".to_owned() }),
            payment_type: bss_proto::types::PaymentType::CreditCard as i32,
            ..Subscription::default()
        }),
        request_id: String::new(),
        ..Default::default()
    }
}

/// A card order of one of the pricing fixture's product.
fn card_order(account_id: &str) -> PlaceOrderRequest {
    PlaceOrderRequest {
        order: Some(Order {
            account_id: account_id.to_owned(),
            lines: vec![OrderLine {
                product: "OWNED-P".to_owned(),
                quantity: Some(Decimal { value: "1".to_owned() }),
                ..OrderLine::default()
            }],
            payment_type: bss_proto::types::PaymentType::CreditCard as i32,
            ..Order::default()
        }),
        request_id: String::new(),
        ..Default::default()
    }
}

impl Fixture {
    pub async fn set_up(channel: &Channel, tenant_id: Uuid, admin: &str, account_id: &str) -> Fixture {
        let invoice_id = InvoiceServiceClient::new(channel.clone())
            .create_invoice(authorized(draft(account_id), admin))
            .await
            .expect("draft")
            .into_inner()
            .invoice
            .expect("invoice")
            .id;
        bss_e2e::save_card(channel, admin, account_id, "tok_visa").await;
        bss_e2e::save_subscription_card(channel, admin, account_id, "tok_visa").await;
        let order_id = OrderServiceClient::new(channel.clone())
            .place_order(authorized(card_order(account_id), admin))
            .await
            .expect("order")
            .into_inner()
            .order
            .expect("order")
            .id;
        let subscription_id = SubscriptionServiceClient::new(channel.clone())
            .create_subscription(authorized(subscription(account_id), admin))
            .await
            .expect("subscription")
            .into_inner()
            .subscription
            .expect("subscription")
            .id;
        let mut invoices = InvoiceServiceClient::new(channel.clone());
        let start = StartBillingRunRequest { invoice_date: String::new(), post: false, request_id: String::new() };
        let run = invoices.start_billing_run(authorized(start, admin)).await.expect("run").into_inner().run;
        let run_id = run.expect("run").id;
        // Finished before the matrix looks at the tenant's billing.
        loop {
            let get = GetBillingRunRequest { id: run_id.clone() };
            let run = invoices.get_billing_run(authorized(get, admin)).await.expect("run").into_inner().run;
            if run.expect("run").status != BillingRunStatus::Running as i32 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let settings = PeriodSettings {
            frequency: PeriodFrequency::Monthly as i32,
            first_period_start: "2026-01-01".to_owned(),
            create_time: None,
        };
        let set = SetPeriodSettingsRequest { settings: Some(settings), request_id: String::new() };
        let period = LedgerServiceClient::new(channel.clone()).set_period_settings(authorized(set, admin)).await;
        let period_id = period.expect("periods").into_inner().period.expect("period").id;
        // A transaction for the enquiry to show.
        let payment = RecordPaymentRequest {
            payment: Some(Payment {
                account_id: account_id.to_owned(),
                amount: Some(Money { currency_code: "AUD".to_owned(), amount: "5.00".to_owned() }),
                ..Payment::default()
            }),
            invoice_id: String::new(),
            request_id: String::new(),
        };
        PaymentServiceClient::new(channel.clone()).record_payment(authorized(payment, admin)).await.expect("payment");
        BillingSettingsServiceClient::new(channel.clone())
            .update_billing_settings(authorized(bank_details(OWNER), admin))
            .await
            .expect("bank details");
        let mut locations = LocationServiceClient::new(channel.clone());
        let location = Location {
            code: "MATRIX".to_owned(),
            name: "Matrix depot".to_owned(),
            kind: LocationKind::Physical as i32,
            ..Location::default()
        };
        let create = CreateLocationRequest { location: Some(location), request_id: String::new() };
        let location_id = locations.create_location(authorized(create, admin)).await.expect("location");
        let location_id = location_id.into_inner().location.expect("location").id;
        let assign = AssignAccountLocationRequest {
            account_id: account_id.to_owned(),
            location_id: location_id.clone(),
            primary: true,
            request_id: String::new(),
        };
        locations.assign_account_location(authorized(assign, admin)).await.expect("assigned");
        let receive = ReceiveStockRequest {
            location_id: location_id.clone(),
            product: "OWNED-P".to_owned(),
            quantity: Some(Decimal { value: "7".to_owned() }),
            request_id: String::new(),
        };
        locations.receive_stock(authorized(receive, admin)).await.expect("stock");
        let mut wallets = WalletServiceClient::new(channel.clone());
        let open = OpenWalletRequest { account_id: account_id.to_owned(), ..Default::default() };
        wallets.open_wallet(authorized(open, admin)).await.expect("wallet");
        let top_up = TopUpWalletRequest {
            account_id: account_id.to_owned(),
            amount: Some(Money { currency_code: "AUD".to_owned(), amount: "3.00".to_owned() }),
            reason: "matrix".to_owned(),
            request_id: String::new(),
        };
        wallets.top_up_wallet(authorized(top_up, admin)).await.expect("topped up");
        // An asset: the customer's own phone.
        let price = Money { currency_code: "AUD".to_owned(), amount: "100.00".to_owned() };
        bss_testapp::create_good(channel, admin, "OWNED-GOOD", Some(price), (true, 12)).await;
        let import = ImportAssetRequest {
            account_id: account_id.to_owned(),
            product: "OWNED-GOOD".to_owned(),
            serial_number: "MATRIX-1".to_owned(),
            request_id: String::new(),
        };
        let imported = AssetServiceClient::new(channel.clone()).import_asset(authorized(import, admin)).await;
        let asset_id = imported.expect("asset").into_inner().asset.expect("asset").id;
        Fixture {
            asset_id,
            location_id,
            period_id,
            tenant_id: tenant_id.to_string(),
            account_id: account_id.to_owned(),
            invoice_id,
            order_id,
            subscription_id,
            run_id,
        }
    }

    /// Everything of the first tenant's billing the matrix could touch.
    pub async fn snapshot(&self, channel: &Channel, admin: &str) -> String {
        let mut invoices = InvoiceServiceClient::new(channel.clone());
        let list = ListInvoicesRequest { account_id: self.account_id.clone(), ..Default::default() };
        let listed = invoices.list_invoices(authorized(list, admin)).await.map(|r| r.into_inner());
        let balance = GetAccountBalanceRequest { account_id: self.account_id.clone() };
        let balance = PaymentServiceClient::new(channel.clone()).get_account_balance(authorized(balance, admin)).await;
        let periods = LedgerServiceClient::new(channel.clone())
            .list_periods(authorized(ListPeriodsRequest::default(), admin))
            .await;
        let orders = ListOrdersRequest { account_id: self.account_id.clone(), ..Default::default() };
        let orders = OrderServiceClient::new(channel.clone()).list_orders(authorized(orders, admin)).await;
        let subscriptions = ListSubscriptionsRequest { account_id: self.account_id.clone(), ..Default::default() };
        let subscriptions =
            SubscriptionServiceClient::new(channel.clone()).list_subscriptions(authorized(subscriptions, admin)).await;
        let anchor = GetBillingAnchorRequest { account_id: self.account_id.clone() };
        let anchor =
            SubscriptionServiceClient::new(channel.clone()).get_billing_anchor(authorized(anchor, admin)).await;
        let settings = BillingSettingsServiceClient::new(channel.clone())
            .get_billing_settings(authorized(GetBillingSettingsRequest {}, admin))
            .await;
        let mut locations = LocationServiceClient::new(channel.clone());
        let stock = ListStockRequest { location_id: self.location_id.clone(), ..Default::default() };
        let stock = locations.list_stock(authorized(stock, admin)).await.map(|r| r.into_inner());
        let assigned = ListAccountLocationsRequest { account_id: self.account_id.clone() };
        let assigned = locations.list_account_locations(authorized(assigned, admin)).await.map(|r| r.into_inner());
        let mut wallets = WalletServiceClient::new(channel.clone());
        let wallet = GetWalletRequest { account_id: self.account_id.clone() };
        let wallet = wallets.get_wallet(authorized(wallet, admin)).await.map(|r| r.into_inner());
        let moves = ListWalletTransactionsRequest { account_id: self.account_id.clone(), ..Default::default() };
        let moves = wallets.list_wallet_transactions(authorized(moves, admin)).await.map(|r| r.into_inner());
        let held = ListAssetsRequest { account_id: self.account_id.clone(), include_past: true, ..Default::default() };
        let held = AssetServiceClient::new(channel.clone()).list_assets(authorized(held, admin)).await;
        let asset = GetAssetRequest { id: self.asset_id.clone() };
        let asset = AssetServiceClient::new(channel.clone()).get_asset(authorized(asset, admin)).await;
        let (held, asset) = (held.map(|r| r.into_inner()), asset.map(|r| r.into_inner()));
        let anchor = anchor.map(|r| r.into_inner().anchor_day);
        format!(
            "{anchor:?}\n{listed:?}\n{stock:?}\n{assigned:?}\n{wallet:?}\n{moves:?}\n{held:?}\n{asset:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
            periods.map(|r| r.into_inner()),
            balance.map(|r| r.into_inner()),
            orders.map(|r| r.into_inner()),
            subscriptions.map(|r| r.into_inner()),
            settings.map(|r| r.into_inner())
        )
    }

    pub async fn invoke(&self, method: &str, channel: Channel, token: Option<&str>) -> Outcome {
        let (service, name) = method.trim_start_matches('/').split_once('/').unwrap_or_default();
        let account_id = self.account_id.clone();
        match (service, name) {
            (ORDERS, "PlaceOrder") => {
                OrderServiceClient::new(channel).place_order(request(card_order(&account_id), token)).await.map(|_| 1)
            }
            (ORDERS, "ShipBackOrder") => {
                let ship = ShipBackOrderRequest {
                    order_id: self.order_id.clone(),
                    line_number: 1,
                    quantity: Some(Decimal { value: "1".to_owned() }),
                    request_id: String::new(),
                };
                OrderServiceClient::new(channel).ship_back_order(request(ship, token)).await.map(|_| 1)
            }
            (ORDERS, "CancelOrder") => {
                let cancel = CancelOrderRequest {
                    id: self.order_id.clone(),
                    reason: "matrix".to_owned(),
                    request_id: String::new(),
                };
                OrderServiceClient::new(channel).cancel_order(request(cancel, token)).await.map(|_| 1)
            }
            (ORDERS, "CancelBackOrder") => {
                let cancel = CancelBackOrderRequest {
                    order_id: self.order_id.clone(),
                    line_number: 1,
                    quantity: None,
                    reason: "matrix".to_owned(),
                    request_id: String::new(),
                };
                OrderServiceClient::new(channel).cancel_back_order(request(cancel, token)).await.map(|_| 1)
            }
            (INVOICES, "VoidInvoice") => {
                let void = VoidInvoiceRequest {
                    id: self.invoice_id.clone(),
                    reason: "matrix".to_owned(),
                    request_id: String::new(),
                };
                InvoiceServiceClient::new(channel).void_invoice(request(void, token)).await.map(|_| 1)
            }
            (PAYMENTS, "RefundCredit") => {
                let refund = RefundCreditRequest {
                    account_id,
                    amount: Some(Money { currency_code: "AUD".to_owned(), amount: "1.00".to_owned() }),
                    reason: "matrix".to_owned(),
                    request_id: String::new(),
                };
                PaymentServiceClient::new(channel).refund_credit(request(refund, token)).await.map(|_| 1)
            }
            (ORDERS, "GetOrder") => {
                let get = GetOrderRequest { id: self.order_id.clone() };
                OrderServiceClient::new(channel).get_order(request(get, token)).await.map(|_| 1)
            }
            (ORDERS, "ListOrders") => OrderServiceClient::new(channel)
                .list_orders(request(ListOrdersRequest { account_id, ..Default::default() }, token))
                .await
                .map(|r| r.into_inner().orders.iter().filter(|order| order.id == self.order_id).count()),
            (SUBSCRIPTIONS, "CreateSubscription") => SubscriptionServiceClient::new(channel)
                .create_subscription(request(subscription(&account_id), token))
                .await
                .map(|_| 1),
            (SUBSCRIPTIONS, "GetSubscription") => {
                let get = GetSubscriptionRequest { id: self.subscription_id.clone() };
                SubscriptionServiceClient::new(channel).get_subscription(request(get, token)).await.map(|_| 1)
            }
            (SUBSCRIPTIONS, "SetBillingAnchor") => {
                let set = SetBillingAnchorRequest { account_id, anchor_day: 28, request_id: String::new() };
                SubscriptionServiceClient::new(channel).set_billing_anchor(request(set, token)).await.map(|_| 1)
            }
            (SUBSCRIPTIONS, "GetBillingAnchor") => {
                let get = GetBillingAnchorRequest { account_id };
                SubscriptionServiceClient::new(channel).get_billing_anchor(request(get, token)).await.map(|_| 1)
            }
            (SUBSCRIPTIONS, "ListSubscriptions") => SubscriptionServiceClient::new(channel)
                .list_subscriptions(request(ListSubscriptionsRequest { account_id, ..Default::default() }, token))
                .await
                .map(|r| r.into_inner().subscriptions.iter().filter(|s| s.id == self.subscription_id).count()),
            (INVOICES, "CreateInvoice") => {
                InvoiceServiceClient::new(channel).create_invoice(request(draft(&account_id), token)).await.map(|_| 1)
            }
            (INVOICES, "PostInvoice") => {
                let post = PostInvoiceRequest { id: self.invoice_id.clone(), request_id: String::new() };
                InvoiceServiceClient::new(channel).post_invoice(request(post, token)).await.map(|_| 1)
            }
            (INVOICES, "GenerateInvoices") => {
                let generate = GenerateInvoicesRequest { account_id, ..Default::default() };
                InvoiceServiceClient::new(channel).generate_invoices(request(generate, token)).await.map(|_| 1)
            }
            (INVOICES, "StartBillingRun") => {
                let start = StartBillingRunRequest::default();
                InvoiceServiceClient::new(channel).start_billing_run(request(start, token)).await.map(|_| 1)
            }
            (INVOICES, "GetBillingRun") => {
                let get = GetBillingRunRequest { id: self.run_id.clone() };
                InvoiceServiceClient::new(channel).get_billing_run(request(get, token)).await.map(|_| 1)
            }
            (LEDGER, "SetPeriodSettings") => {
                let settings = PeriodSettings {
                    frequency: PeriodFrequency::Yearly as i32,
                    first_period_start: "2026-01-01".to_owned(),
                    create_time: None,
                };
                let set = SetPeriodSettingsRequest { settings: Some(settings), request_id: String::new() };
                LedgerServiceClient::new(channel).set_period_settings(request(set, token)).await.map(|_| 1)
            }
            // The first tenant's settings are monthly; the other tenant's,
            // when it has any, yearly.
            (LEDGER, "GetPeriodSettings") => LedgerServiceClient::new(channel)
                .get_period_settings(request(GetPeriodSettingsRequest {}, token))
                .await
                .map(|r| {
                    usize::from(r.into_inner().settings.is_some_and(|s| s.frequency == PeriodFrequency::Monthly as i32))
                }),
            (LOCATIONS, "CreateLocation") => {
                let location = Location {
                    code: format!("M{}", Uuid::now_v7().simple()),
                    name: "Matrix".to_owned(),
                    kind: LocationKind::Logical as i32,
                    ..Location::default()
                };
                let create = CreateLocationRequest { location: Some(location), request_id: String::new() };
                LocationServiceClient::new(channel).create_location(request(create, token)).await.map(|_| 1)
            }
            (LOCATIONS, "ListLocations") => LocationServiceClient::new(channel)
                .list_locations(request(ListLocationsRequest::default(), token))
                .await
                .map(|r| r.into_inner().locations.iter().filter(|l| l.id == self.location_id).count()),
            (LOCATIONS, "ReceiveStock") => {
                let receive = ReceiveStockRequest {
                    location_id: self.location_id.clone(),
                    product: "OWNED-P".to_owned(),
                    quantity: Some(Decimal { value: "1".to_owned() }),
                    request_id: String::new(),
                };
                LocationServiceClient::new(channel).receive_stock(request(receive, token)).await.map(|_| 1)
            }
            (LOCATIONS, "ListStock") => {
                let list = ListStockRequest { location_id: self.location_id.clone(), ..Default::default() };
                LocationServiceClient::new(channel).list_stock(request(list, token)).await.map(|_| 1)
            }
            (LOCATIONS, "AssignAccountLocation") => {
                let assign = AssignAccountLocationRequest {
                    account_id,
                    location_id: self.location_id.clone(),
                    primary: false,
                    request_id: String::new(),
                };
                LocationServiceClient::new(channel).assign_account_location(request(assign, token)).await.map(|_| 1)
            }
            (LOCATIONS, "RemoveAccountLocation") => {
                let remove = RemoveAccountLocationRequest {
                    account_id,
                    location_id: self.location_id.clone(),
                    request_id: String::new(),
                };
                LocationServiceClient::new(channel).remove_account_location(request(remove, token)).await.map(|_| 1)
            }
            (LOCATIONS, "ListAccountLocations") => LocationServiceClient::new(channel)
                .list_account_locations(request(ListAccountLocationsRequest { account_id }, token))
                .await
                .map(|_| 1),
            (SETTINGS, "UpdateBillingSettings") => BillingSettingsServiceClient::new(channel)
                .update_billing_settings(request(bank_details("Another Holder"), token))
                .await
                .map(|_| 1),
            // Counts the first tenant's bank details it sees.
            (SETTINGS, "GetBillingSettings") => BillingSettingsServiceClient::new(channel)
                .get_billing_settings(request(GetBillingSettingsRequest {}, token))
                .await
                .map(|r| {
                    let settings = r.into_inner().settings.unwrap_or_default();
                    usize::from(settings.bank_details.is_some_and(|bank| bank.account_name == OWNER))
                }),
            (LEDGER, "ListPeriods") => LedgerServiceClient::new(channel)
                .list_periods(request(ListPeriodsRequest::default(), token))
                .await
                .map(|r| r.into_inner().periods.iter().filter(|period| period.id == self.period_id).count()),
            (LEDGER, "ClosePeriod") => {
                let close = ClosePeriodRequest { period_id: self.period_id.clone(), request_id: String::new() };
                LedgerServiceClient::new(channel).close_period(request(close, token)).await.map(|_| 1)
            }
            (LEDGER, "RunRebates") => {
                let run =
                    RunRebatesRequest { period_date: "2026-11-01".to_owned(), account_id, request_id: String::new() };
                LedgerServiceClient::new(channel).run_rebates(request(run, token)).await.map(|_| 1)
            }
            (LEDGER, "CheckAccountsSettled") => {
                let check = CheckAccountsSettledRequest { purpose: 0, account_ids: vec![account_id] };
                LedgerServiceClient::new(channel)
                    .check_accounts_settled(request(check, token))
                    .await
                    .map(|r| r.into_inner().unsettled.len())
            }
            (SUBSCRIPTIONS, "ChangeSubscription") => {
                let change = ChangeSubscriptionRequest {
                    id: self.subscription_id.clone(),
                    quantity: bss_e2e::decimal("3"),
                    ..Default::default()
                };
                SubscriptionServiceClient::new(channel).change_subscription(request(change, token)).await.map(|_| 1)
            }
            (USAGE, "IngestUsage" | "IngestUsageBatch") => {
                let event = UsageEvent {
                    subscription_id: self.subscription_id.clone(),
                    metric: "api_calls".to_owned(),
                    time: Some(prost_types::Timestamp { seconds: 1_700_000_000, nanos: 0 }),
                    idempotency_key: "matrix-1".to_owned(),
                    ..Default::default()
                };
                let mut usage = UsageServiceClient::new(channel);
                match name {
                    "IngestUsage" => {
                        let batches = futures::stream::iter(vec![IngestUsageRequest { events: vec![event] }]);
                        usage.ingest_usage(request(batches, token)).await.map(|r| r.into_inner().accepted as usize)
                    }
                    _ => {
                        let batch = IngestUsageBatchRequest { events: vec![event] };
                        usage.ingest_usage_batch(request(batch, token)).await.map(|r| r.into_inner().accepted as usize)
                    }
                }
            }
            (USAGE, "GetCurrentUsage") => {
                let get = GetCurrentUsageRequest { subscription_id: self.subscription_id.clone() };
                UsageServiceClient::new(channel).get_current_usage(request(get, token)).await.map(|_| 1)
            }
            (SUBSCRIPTIONS, "PauseSubscription") => {
                let pause = PauseSubscriptionRequest { id: self.subscription_id.clone(), request_id: String::new() };
                SubscriptionServiceClient::new(channel).pause_subscription(request(pause, token)).await.map(|_| 1)
            }
            (SUBSCRIPTIONS, "ResumeSubscription") => {
                let resume = ResumeSubscriptionRequest { id: self.subscription_id.clone(), request_id: String::new() };
                SubscriptionServiceClient::new(channel).resume_subscription(request(resume, token)).await.map(|_| 1)
            }
            (SUBSCRIPTIONS, "ListSubscriptionChanges") => {
                let list = ListSubscriptionChangesRequest { id: self.subscription_id.clone(), ..Default::default() };
                SubscriptionServiceClient::new(channel)
                    .list_subscription_changes(request(list, token))
                    .await
                    .map(|r| r.into_inner().changes.len())
            }
            (SUBSCRIPTIONS, "CancelSubscription") => {
                let cancel = CancelSubscriptionRequest {
                    id: self.subscription_id.clone(),
                    request_id: String::new(),
                    ..Default::default()
                };
                SubscriptionServiceClient::new(channel).cancel_subscription(request(cancel, token)).await.map(|_| 1)
            }
            (LEDGER, "ListTransactions") => {
                let list = ListTransactionsRequest { account_id, ..Default::default() };
                LedgerServiceClient::new(channel)
                    .list_transactions(request(list, token))
                    .await
                    .map(|r| r.into_inner().transactions.len())
            }
            (INVOICES, "GetInvoice") => {
                let get = GetInvoiceRequest { id: self.invoice_id.clone() };
                InvoiceServiceClient::new(channel).get_invoice(request(get, token)).await.map(|_| 1)
            }
            (INVOICES, "ListInvoices") => {
                let list = ListInvoicesRequest { account_id, ..Default::default() };
                InvoiceServiceClient::new(channel)
                    .list_invoices(request(list, token))
                    .await
                    .map(|r| r.into_inner().invoices.iter().filter(|invoice| invoice.id == self.invoice_id).count())
            }
            (PAYMENTS, "RecordPayment") => {
                let pay = RecordPaymentRequest {
                    payment: Some(Payment {
                        account_id,
                        amount: Some(Money { currency_code: "AUD".to_owned(), amount: "1.00".to_owned() }),
                        ..Payment::default()
                    }),
                    invoice_id: String::new(),
                    request_id: String::new(),
                };
                PaymentServiceClient::new(channel).record_payment(request(pay, token)).await.map(|_| 1)
            }
            (ASSETS, "ListAssets") => {
                let list = ListAssetsRequest { account_id, include_past: true, ..Default::default() };
                AssetServiceClient::new(channel)
                    .list_assets(request(list, token))
                    .await
                    .map(|r| r.into_inner().assets.len())
            }
            (ASSETS, "GetAsset") => AssetServiceClient::new(channel)
                .get_asset(request(GetAssetRequest { id: self.asset_id.clone() }, token))
                .await
                .map(|_| 1),
            (ASSETS, "RecordAssetSerial") => {
                let serial = RecordAssetSerialRequest {
                    asset_id: self.asset_id.clone(),
                    serial_number: "MATRIX-2".to_owned(),
                    request_id: String::new(),
                };
                AssetServiceClient::new(channel).record_asset_serial(request(serial, token)).await.map(|_| 1)
            }
            (ASSETS, "TransferAsset") => {
                let transfer = TransferAssetRequest {
                    asset_id: self.asset_id.clone(),
                    to_account_id: account_id,
                    reason: "matrix".to_owned(),
                    request_id: String::new(),
                };
                AssetServiceClient::new(channel).transfer_asset(request(transfer, token)).await.map(|_| 1)
            }
            (ASSETS, "ReturnAssets") => {
                let back = ReturnAssetsRequest {
                    asset_ids: vec![self.asset_id.clone()],
                    location_id: self.location_id.clone(),
                    reason: "matrix".to_owned(),
                    request_id: String::new(),
                };
                AssetServiceClient::new(channel).return_assets(request(back, token)).await.map(|_| 1)
            }
            (ASSETS, "ImportAsset") => {
                let import = ImportAssetRequest {
                    account_id,
                    product: "OWNED-GOOD".to_owned(),
                    serial_number: "MATRIX-3".to_owned(),
                    request_id: String::new(),
                };
                AssetServiceClient::new(channel).import_asset(request(import, token)).await.map(|_| 1)
            }
            (WALLETS, "OpenWallet") => {
                let open = OpenWalletRequest { account_id, ..Default::default() };
                WalletServiceClient::new(channel).open_wallet(request(open, token)).await.map(|_| 1)
            }
            (WALLETS, "GetWallet") => WalletServiceClient::new(channel)
                .get_wallet(request(GetWalletRequest { account_id }, token))
                .await
                .map(|_| 1),
            (WALLETS, "SetWalletPreferences") => {
                let set = SetWalletPreferencesRequest { account_id, use_for_purchases: true, ..Default::default() };
                WalletServiceClient::new(channel).set_wallet_preferences(request(set, token)).await.map(|_| 1)
            }
            (WALLETS, "TopUpWallet") => {
                let top_up = TopUpWalletRequest {
                    account_id,
                    amount: Some(Money { currency_code: "AUD".to_owned(), amount: "1.00".to_owned() }),
                    reason: "matrix".to_owned(),
                    request_id: String::new(),
                };
                WalletServiceClient::new(channel).top_up_wallet(request(top_up, token)).await.map(|_| 1)
            }
            (WALLETS, "PayFromWallet") => {
                let pay = PayFromWalletRequest { account_id, ..Default::default() };
                WalletServiceClient::new(channel).pay_from_wallet(request(pay, token)).await.map(|_| 1)
            }
            (WALLETS, "PayOutWallet") => {
                let pay_out = PayOutWalletRequest { account_id, reason: "matrix".to_owned(), ..Default::default() };
                WalletServiceClient::new(channel).pay_out_wallet(request(pay_out, token)).await.map(|_| 1)
            }
            (WALLETS, "ListWalletTransactions") => {
                let list = ListWalletTransactionsRequest { account_id, ..Default::default() };
                WalletServiceClient::new(channel)
                    .list_wallet_transactions(request(list, token))
                    .await
                    .map(|r| r.into_inner().transactions.len())
            }
            (PAYMENTS, "GetAccountBalance") => PaymentServiceClient::new(channel)
                .get_account_balance(request(GetAccountBalanceRequest { account_id }, token))
                .await
                .map(|_| 1),
            (PAYMENTS, "GetReceivablesAging") => PaymentServiceClient::new(channel)
                .get_receivables_aging(request(
                    GetReceivablesAgingRequest { account_id, time_zone: String::new() },
                    token,
                ))
                .await
                .map(|r| r.into_inner().aging.len()),
            (LEDGER, "GetBalanceHistory") => {
                let history = GetBalanceHistoryRequest {
                    account_id,
                    from_date: "2026-01-01".to_owned(),
                    to_date: "2026-01-31".to_owned(),
                    time_zone: String::new(),
                };
                LedgerServiceClient::new(channel).get_balance_history(request(history, token)).await.map(|_| 1)
            }
            (PAYMENTS, "CreateCreditNote") => {
                let note = CreateCreditNoteRequest {
                    lines: Vec::new(),
                    whole_invoice: false,
                    account_id,
                    amount: Some(Money { currency_code: "AUD".to_owned(), amount: "1.00".to_owned() }),
                    reason: "matrix".to_owned(),
                    invoice_id: String::new(),
                    request_id: String::new(),
                };
                PaymentServiceClient::new(channel).create_credit_note(request(note, token)).await.map(|_| 1)
            }
            (PAYMENTS, "WriteOffAccount") => {
                let write_off =
                    WriteOffAccountRequest { account_id, reason: "matrix".to_owned(), request_id: String::new() };
                PaymentServiceClient::new(channel).write_off_account(request(write_off, token)).await.map(|_| 1)
            }
            (EVENTS, "StreamEvents") => {
                let mut events = BillingEventServiceClient::new(channel);
                let mut stream =
                    events.stream_events(request(StreamEventsRequest { after_sequence: 0 }, token)).await?.into_inner();
                let mut seen = 0;
                while let Ok(Some(message)) = tokio::time::timeout(Duration::from_millis(300), stream.next()).await {
                    if message?.event.unwrap_or_default().tenant_id == self.tenant_id {
                        seen += 1;
                    }
                }
                Ok(seen)
            }
            _ => Err(Status::unimplemented(format!("the matrix cannot call {method}"))),
        }
    }
}
