//! The operator's CLI against a running suite, as an operator uses it: an
//! import from a CSV file with bad rows, then a billing run followed to the
//! end.

#![allow(clippy::expect_used)]

use std::path::PathBuf;
use std::process::Output;

use bss_e2e::{
    TestApp, amount, billing_balance, create_product, credit_settles, eur, order_request, place, set_credit_terms,
    subscription_request,
};
use bss_platform::auth::Role;
use bss_proto::accounts::account_service_client::AccountServiceClient;
use bss_proto::accounts::{Address, AddressType, CreateAddressRequest};
use bss_proto::billing::order_service_client::OrderServiceClient;
use bss_proto::billing::subscription_service_client::SubscriptionServiceClient;
use bss_proto::billing::{GetOrderRequest, OrderStatus};
use bss_proto::pricing::account_pricing_service_client::AccountPricingServiceClient;
use bss_proto::pricing::{AccountPrice, CreateAccountPriceRequest};
use bss_proto::types::PaymentType;
use bss_testkit::authorized;
use serde_json::Value;

/// The bssctl binary the workspace build made beside this test.
fn bssctl_path() -> PathBuf {
    let test = std::env::current_exe().expect("the test binary");
    let profile = test.parent().and_then(|deps| deps.parent()).expect("target/<profile>");
    let path = profile.join("bssctl");
    assert!(path.exists(), "{} is missing: build it first (make build, or cargo build -p bssctl)", path.display());
    path
}

async fn bssctl(suite: &TestApp, token: &str, args: &[&str]) -> Output {
    tokio::process::Command::new(bssctl_path())
        .args(["--gateway", &format!("http://{}", suite.endpoints.gateway), "--output", "json"])
        .args(args)
        .env("BSS_TOKEN", token)
        .output()
        .await
        .expect("bssctl runs")
}

fn document(output: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(&stdout).unwrap_or_else(|error| panic!("{error}: not one JSON document: {stdout}"))
}

#[tokio::test]
async fn an_operator_imports_accounts_from_csv_with_a_row_report_then_follows_a_billing_run() {
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Operated", "EUR").await;
    let clerk = bss_testkit::token(tenant_id, &[Role::BillingClerk]);
    let channel = suite.gateway().await;

    let folder = tempfile_folder();
    let csv = folder.join("accounts.csv");
    std::fs::write(
        &csv,
        "external_key,code,name,email,payment_types,enable_ordering\n\
         ERP-1,IMP1,First Import,first@example.com,\"AC,CC\",true\n\
         ERP-2,IMP2,,second@example.com,AC,true\n\
         ERP-3,IMP3,Third Import,third@example.com,AC,true\n\
         ERP-4,IMP4,too,many,fields,here,x\n",
    )
    .expect("csv written");

    // The bad rows are reported by line; the good ones are created.
    let imported = bssctl(&suite, &admin, &["accounts", "import", csv.to_str().expect("path")]).await;
    assert_eq!(imported.status.code(), Some(2), "rejected rows exit with 2: {imported:?}");
    let report = document(&imported);
    assert_eq!((report["created"].as_i64(), report["rejected"].as_i64()), (Some(2), Some(2)), "{report}");
    let rows = report["rows"].as_array().expect("rows");
    let by_line = |line: i64| rows.iter().find(|row| row["line"] == line).expect("a row of that line");
    assert_eq!(by_line(2)["outcome"], "CREATED");
    assert_eq!(by_line(4)["outcome"], "CREATED");
    let nameless = by_line(3);
    assert_eq!(nameless["outcome"], "REJECTED");
    assert!(
        nameless["problems"].as_array().expect("problems").iter().any(|problem| problem["field"] == "account.name"),
        "{nameless}"
    );
    let unreadable = by_line(5);
    assert_eq!(unreadable["outcome"], "REJECTED");
    assert_eq!(unreadable["problems"][0]["reason"], "CSV_UNREADABLE");
    let stderr = String::from_utf8_lossy(&imported.stderr);
    // Progress: the rows sent, then the rows the suite has applied.
    assert!(stderr.contains("4/4 rows: sent") && stderr.contains("4/4 rows: applied"), "progress on stderr: {stderr}");

    // The imported accounts are there, with their payment types.
    let listed = document(&bssctl(&suite, &admin, &["accounts", "list", "--name", "Import"]).await);
    let accounts = listed["accounts"].as_array().expect("accounts");
    assert_eq!(accounts.len(), 2);
    let first = accounts.iter().find(|account| account["code"] == "IMP1").expect("IMP1");
    assert_eq!(first["payment_types"], "ON_ACCOUNT,CREDIT_CARD");
    let page = document(&bssctl(&suite, &admin, &["accounts", "list", "--name", "Import", "--page-size", "1"]).await);
    let token = page["next_page_token"].as_str().expect("a next page");
    let second = ["accounts", "list", "--name", "Import", "--page-size", "1", "--page-token", token];
    let next = document(&bssctl(&suite, &admin, &second).await);
    assert_ne!(page["accounts"][0]["id"], next["accounts"][0]["id"], "the second page holds the other account");
    // The searches an index serves: the start of the code, of the name.
    let by_code = document(&bssctl(&suite, &admin, &["accounts", "list", "--code-prefix", "IMP"]).await);
    let codes: Vec<&str> =
        by_code["accounts"].as_array().expect("accounts").iter().filter_map(|a| a["code"].as_str()).collect();
    assert_eq!(codes.len(), 2, "{by_code}");
    assert!(codes.iter().all(|code| code.starts_with("IMP")), "{by_code}");
    let by_name = document(
        &bssctl(&suite, &admin, &["accounts", "list", "--name-prefix", "FIRST", "--code-prefix", "IMP"]).await,
    );
    assert_eq!(by_name["accounts"].as_array().expect("accounts").len(), 1, "{by_name}");
    assert_eq!(by_name["accounts"][0]["code"], "IMP1");
    let shown = bssctl(&suite, &admin, &["accounts", "get", first["id"].as_str().expect("id")]).await;
    assert_eq!(document(&shown)["external_key"], "ERP-1");

    // Both owe a subscription: a billing run invoices them, and bssctl
    // follows it to the end, reporting progress.
    let plan = create_product(&channel, &admin, "PLAN", "12.50", "").await;
    for account in accounts {
        let id = account["id"].as_str().expect("id");
        set_credit_terms(&channel, &admin, id, "1000", None).await;
        let request = subscription_request(id, "PLAN", "1", PaymentType::OnAccount);
        SubscriptionServiceClient::new(channel.clone())
            .create_subscription(authorized(request, &clerk))
            .await
            .expect("subscribed");
    }
    let run = bssctl(&suite, &clerk, &["billing", "run", "--post", "--request-id", "cli-run-1"]).await;
    assert!(run.status.success(), "{run:?}");
    let finished = document(&run);
    assert_eq!(finished["status"], "COMPLETED", "{finished}");
    assert_eq!((finished["accounts_total"].as_i64(), finished["invoices_created"].as_i64()), (Some(2), Some(2)));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("2/2 accounts"), "progress on stderr: {stderr}");

    // The same request id is the same run.
    let again = document(&bssctl(&suite, &clerk, &["billing", "run", "--post", "--request-id", "cli-run-1"]).await);
    assert_eq!(again["id"], finished["id"]);

    // The business system takes it all back as CSV: accounts, addresses,
    // account prices, orders and invoices, a row per line.
    let imp1 = first["id"].as_str().expect("id").to_owned();
    let address = Address {
        r#type: AddressType::Billing as i32,
        lines: vec!["1 George St".to_owned(), "Level 2".to_owned()],
        city: "Sydney".to_owned(),
        postal_code: "2000".to_owned(),
        country_code: "AU".to_owned(),
        override_validation: true,
        ..Address::default()
    };
    let request = CreateAddressRequest { account_id: imp1.clone(), address: Some(address), request_id: String::new() };
    AccountServiceClient::new(channel.clone()).create_address(authorized(request, &admin)).await.expect("address");
    let price = AccountPrice {
        account_id: imp1.clone(),
        product_id: plan.clone(),
        price: eur("11.00"),
        valid_from: "2026-01-01".to_owned(),
        ..AccountPrice::default()
    };
    let request = CreateAccountPriceRequest { account_price: Some(price), request_id: String::new() };
    AccountPricingServiceClient::new(channel.clone())
        .create_account_price(authorized(request, &admin))
        .await
        .expect("price");
    let order = order_request(&imp1, &[("PLAN", "2")], PaymentType::OnAccount);
    OrderServiceClient::new(channel.clone()).place_order(authorized(order, &clerk)).await.expect("ordered");
    let exported = |what: &'static str| {
        let file = folder.join(format!("{what}.csv"));
        let (suite, admin) = (&suite, &admin);
        async move {
            let output = bssctl(suite, admin, &["export", what, "--out", file.to_str().expect("path")]).await;
            assert!(output.status.success(), "{output:?}");
            assert!(String::from_utf8_lossy(&output.stderr).contains("2/2 accounts"), "progress: {output:?}");
            let mut reader = csv::Reader::from_path(&file).expect("csv");
            let header: Vec<String> = reader.headers().expect("header").iter().map(str::to_owned).collect();
            let rows: Vec<Vec<String>> =
                reader.records().map(|record| record.expect("record").iter().map(str::to_owned).collect()).collect();
            assert_eq!(document(&output)["rows"].as_u64(), Some(rows.len() as u64));
            (header, rows)
        }
    };
    let column = |header: &[String], name: &str| header.iter().position(|column| column == name).expect(name);

    let (header, rows) = exported("accounts").await;
    let mut keys: Vec<(String, String)> = rows
        .iter()
        .map(|row| (row[column(&header, "external_key")].clone(), row[column(&header, "payment_types")].clone()))
        .collect();
    keys.sort();
    assert_eq!(keys, vec![("ERP-1".to_owned(), "AC,CC".to_owned()), ("ERP-3".to_owned(), "AC".to_owned())]);

    let (header, rows) = exported("addresses").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (
            &rows[0][column(&header, "account_id")],
            &rows[0][column(&header, "lines")],
            &rows[0][column(&header, "type")]
        ),
        (&imp1, &"1 George St\nLevel 2".to_owned(), &"ADDRESS_TYPE_BILLING".to_owned())
    );

    let (header, rows) = exported("prices").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (&rows[0][column(&header, "product_id")], &rows[0][column(&header, "price")]),
        (&plan, &"11.00".to_owned())
    );

    let (header, rows) = exported("orders").await;
    assert_eq!(rows.len(), 1);
    let order_line = (&rows[0][column(&header, "quantity")], &rows[0][column(&header, "line_total")]);
    assert_eq!(order_line, (&"2".to_owned(), &"22.00".to_owned()), "at the account's price");

    let (header, rows) = exported("invoices").await;
    let mut invoiced: Vec<(String, String)> = rows
        .iter()
        .map(|row| (row[column(&header, "account_id")].clone(), row[column(&header, "line_total")].clone()))
        .collect();
    invoiced.sort();
    assert_eq!(invoiced.len(), 2, "one subscription line each: {invoiced:?}");
    assert!(invoiced.iter().all(|(_, total)| total == "12.50"), "{invoiced:?}");
    assert!(rows.iter().all(|row| row[column(&header, "price_rule")] == "PRICE_RULE_LIST_PRICE"));

    // Refusals are reported with their code, and exit 1.
    let refused = bssctl(&suite, &clerk, &["tenants", "list"]).await;
    assert_eq!(refused.status.code(), Some(1));
    assert_eq!(document(&refused)["error"]["code"], "PermissionDenied");
}

/// A fresh folder in the temp directory for this test's files.
fn tempfile_folder() -> PathBuf {
    let folder = std::env::temp_dir().join(format!("bssctl-e2e-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&folder).expect("temp folder");
    folder
}

#[tokio::test]
async fn an_operator_imports_what_the_business_system_keeps_and_every_service_shows_it() {
    use bss_e2e::{create_account, credit_status, ordering_account};
    use bss_proto::accounts::{Account, GetAccountRequest, ListAddressesRequest};
    use bss_proto::credit::GetCreditTermsRequest;
    use bss_proto::credit::credit_service_client::CreditServiceClient;
    use bss_proto::pricing::catalog_service_client::CatalogServiceClient;
    use bss_proto::pricing::quote_service_client::QuoteServiceClient;
    use bss_proto::pricing::{
        CreatePriceLevelRequest, GetAccountPricingRequest, PriceLevel, QuoteLineRequest, QuoteRequest,
    };

    let suite = TestApp::start().await;
    let (_, admin) = suite.tenant("Business Books", "EUR").await;
    let channel = suite.gateway().await;
    let keyed = |key: &str, code: &str| Account { external_key: key.to_owned(), ..ordering_account(code) };
    let first = create_account(&channel, &admin, keyed("ERP-A", "BIZ-A")).await;
    let second = create_account(&channel, &admin, keyed("ERP-B", "BIZ-B")).await;
    create_product(&channel, &admin, "WIDGET", "10.00", "").await;
    let level = PriceLevel { code: "B".to_owned(), currency_code: "EUR".to_owned(), ..PriceLevel::default() };
    let level = CatalogServiceClient::new(channel.clone())
        .create_price_level(authorized(
            CreatePriceLevelRequest { price_level: Some(level), request_id: String::new() },
            &admin,
        ))
        .await
        .expect("level")
        .into_inner()
        .price_level
        .expect("level");

    let folder = tempfile_folder();
    let file = |name: &str, text: &str| {
        let path = folder.join(name);
        std::fs::write(&path, text).expect("csv written");
        path.to_str().expect("path").to_owned()
    };
    let outcomes = |output: &Output| -> Vec<(i64, String, String)> {
        let report = document(output);
        report["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .map(|row| {
                let reason = row["problems"][0]["reason"].as_str().unwrap_or_default().to_owned();
                (
                    row["line"].as_i64().unwrap_or_default(),
                    row["outcome"].as_str().unwrap_or_default().to_owned(),
                    reason,
                )
            })
            .collect()
    };
    let row = |line: i64, outcome: &str, reason: &str| (line, outcome.to_owned(), reason.to_owned());

    // Addresses: by external key; an unknown key or type is that row's
    // problem only.
    let addresses = file(
        "addresses.csv",
        "external_key,type,line1,line2,city,postal_code,country_code,primary,override_validation\n\
         ERP-A,billing,1 George St,Level 2,Sydney,2000,AU,true,true\n\
         ERP-Z,billing,2 George St,,Sydney,2000,AU,true,true\n\
         ERP-A,moon,3 George St,,Sydney,2000,AU,false,true\n",
    );
    let imported = bssctl(&suite, &admin, &["import", "addresses", &addresses]).await;
    assert_eq!(imported.status.code(), Some(2), "{imported:?}");
    assert_eq!(
        outcomes(&imported),
        vec![row(2, "APPLIED", ""), row(3, "REJECTED", "ACCOUNT_UNKNOWN"), row(4, "REJECTED", "INVALID_ROW")]
    );
    let listed = AccountServiceClient::new(channel.clone())
        .list_addresses(authorized(
            ListAddressesRequest { account_id: first.clone(), ..ListAddressesRequest::default() },
            &admin,
        ))
        .await
        .expect("addresses")
        .into_inner()
        .addresses;
    let lines: Vec<Vec<String>> = listed.iter().map(|address| address.lines.clone()).collect();
    assert_eq!(lines, vec![vec!["1 George St".to_owned(), "Level 2".to_owned()]]);

    // Account prices, with quantity breaks: pricing quotes them.
    let prices = file(
        "prices.csv",
        "external_key,product,price,currency_code,forced,valid_from,breaks\n\
         ERP-A,WIDGET,8.50,EUR,false,2026-01-01,10:8.00\n",
    );
    let imported = bssctl(&suite, &admin, &["import", "prices", &prices]).await;
    assert_eq!(outcomes(&imported), vec![row(2, "APPLIED", "")], "{imported:?}");
    let quote = QuoteRequest {
        account_id: first.clone(),
        lines: vec![QuoteLineRequest {
            product: "WIDGET".to_owned(),
            quantity: Some(bss_proto::types::Decimal { value: "10".to_owned() }),
            ..QuoteLineRequest::default()
        }],
        ..QuoteRequest::default()
    };
    let quoted =
        QuoteServiceClient::new(channel.clone()).quote(authorized(quote, &admin)).await.expect("quoted").into_inner();
    assert_eq!(bss_e2e::amount(&quoted.lines[0].unit_price), "8.00", "the imported break applies");

    // The business fields: credit, pricing and accounts each take theirs;
    // run twice with one request id, the second changes nothing more.
    let business = file(
        "business.csv",
        "external_key,credit_limit,on_hold,hold_reason,price_level,discount_percent,payment_types\n\
         ERP-A,500,true,unpaid in the ERP,B,5,\"AC,DD\"\n\
         ERP-B,,,,NOPE,,\n",
    );
    for _ in 0..2 {
        let imported = bssctl(&suite, &admin, &["import", "business", &business, "--request-id", "erp-1"]).await;
        let report = document(&imported);
        assert_eq!(
            outcomes(&imported),
            vec![row(2, "APPLIED", ""), row(3, "REJECTED", "PRICE_LEVEL_UNKNOWN")],
            "{report}"
        );
    }
    let mut credit = CreditServiceClient::new(channel.clone());
    let terms = credit
        .get_credit_terms(authorized(GetCreditTermsRequest { account_id: first.clone() }, &admin))
        .await
        .expect("terms")
        .into_inner()
        .terms
        .expect("terms");
    assert_eq!(terms.credit_limit.map(|limit| limit.value), Some("500".to_owned()));
    let status = credit_status(&channel, &admin, &first).await;
    assert_eq!((status.on_hold, status.hold_reason.as_str()), (true, "unpaid in the ERP"));
    let pricing = AccountPricingServiceClient::new(channel.clone())
        .get_account_pricing(authorized(GetAccountPricingRequest { account_id: first.clone() }, &admin))
        .await
        .expect("pricing")
        .into_inner()
        .pricing
        .expect("pricing");
    assert_eq!(
        (pricing.price_level_id.as_str(), pricing.discount_percent.map(|discount| discount.value)),
        (level.id.as_str(), Some("5".to_owned()))
    );
    let account = AccountServiceClient::new(channel.clone())
        .get_account(authorized(GetAccountRequest { id: first.clone() }, &admin))
        .await
        .expect("account")
        .into_inner()
        .account
        .expect("account");
    assert_eq!(account.payment_types, vec![PaymentType::OnAccount as i32, PaymentType::DirectDeposit as i32]);
    let untouched = credit_status(&channel, &admin, &second).await;
    assert!(!untouched.on_hold, "a rejected row changes nothing");
}

#[tokio::test]
async fn a_create_run_again_makes_no_duplicate_unless_another_request_id_is_named() {
    let suite = TestApp::start().await;
    let platform = bss_testkit::platform_admin_token();
    let create = ["tenants", "create", "--name", "Rerun Books", "--currency", "EUR"];
    let first = document(&bssctl(&suite, &platform, &create).await);
    let again = document(&bssctl(&suite, &platform, &create).await);
    assert!(first["id"].as_str().is_some_and(|id| !id.is_empty()), "{first}");
    assert_eq!(again["id"], first["id"], "the same create, run again, answers with the first tenant");
    let mut other = create.to_vec();
    other.extend(["--request-id", "rerun-2"]);
    let named = document(&bssctl(&suite, &platform, &other).await);
    assert_ne!(named["id"], first["id"], "another request id creates again");
    let listed = document(&bssctl(&suite, &platform, &["tenants", "list"]).await);
    let reruns = listed["tenants"].as_array().expect("tenants").iter().filter(|tenant| tenant["name"] == "Rerun Books");
    assert_eq!(reruns.count(), 2);

    // An account create, and an import of the same file, run twice.
    let tenant_id: uuid::Uuid = first["id"].as_str().expect("an id").parse().expect("a tenant id");
    let admin = bss_testkit::token(tenant_id, &[Role::TenantAdmin]);
    let account = [
        "accounts",
        "create",
        "--code",
        "RERUN1",
        "--name",
        "Rerun One",
        "--payment-types",
        "AC,cc",
        "--enable-ordering",
    ];
    let created = document(&bssctl(&suite, &admin, &account).await);
    assert_eq!(document(&bssctl(&suite, &admin, &account).await)["id"], created["id"]);
    // It may order, on account or by card, as the flags said.
    assert_eq!(created["payment_types"], "ON_ACCOUNT,CREDIT_CARD");
    let read = bss_proto::accounts::GetAccountRequest { id: created["id"].as_str().expect("an id").to_owned() };
    let channel = suite.gateway().await;
    let read = AccountServiceClient::new(channel).get_account(authorized(read, &admin)).await.expect("read");
    assert!(read.into_inner().account.expect("the account").enable_ordering);
    let bad =
        bssctl(&suite, &admin, &["accounts", "create", "--code", "X1", "--name", "X", "--payment-types", "ZZ"]).await;
    assert_eq!(bad.status.code(), Some(1), "{bad:?}");
    let folder = tempfile_folder();
    let csv = folder.join("accounts.csv");
    std::fs::write(&csv, "external_key,code,name\nERP-9,RERUN2,Rerun Two\n").expect("written");
    let import = ["accounts", "import", csv.to_str().expect("path")];
    let imported = bssctl(&suite, &admin, &import).await;
    assert_eq!(imported.status.code(), Some(0), "{imported:?}");
    let again = bssctl(&suite, &admin, &import).await;
    assert_eq!(again.status.code(), Some(0), "{again:?}");
    let accounts = document(&bssctl(&suite, &admin, &["accounts", "list", "--page-size", "50"]).await);
    let codes: Vec<&str> = accounts["accounts"]
        .as_array()
        .expect("accounts")
        .iter()
        .filter_map(|account| account["code"].as_str())
        .collect();
    let mut sorted = codes.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, ["RERUN1", "RERUN2"]);
}

/// bssctl's answer as JSON, after checking it succeeded.
async fn bssctl_ok(suite: &TestApp, token: &str, args: &[&str]) -> Value {
    let output = bssctl(suite, token, args).await;
    assert!(output.status.success(), "bssctl {args:?}: {output:?}");
    document(&output)
}

/// bssctl's answer in another format than JSON.
async fn bssctl_as(suite: &TestApp, token: &str, format: &str, args: &[&str]) -> String {
    let output = tokio::process::Command::new(bssctl_path())
        .args(["--gateway", &format!("http://{}", suite.endpoints.gateway), "--output", format])
        .args(args)
        .env("BSS_TOKEN", token)
        .output()
        .await
        .expect("bssctl runs");
    assert!(output.status.success(), "bssctl {args:?}: {output:?}");
    String::from_utf8(output.stdout).expect("utf-8")
}

#[tokio::test]
async fn an_operator_runs_an_account_from_catalog_to_cash_with_bssctl_and_every_service_agrees() {
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Run by hand", "EUR").await;
    let manager = bss_testkit::token(tenant_id, &[Role::CreditManager]);
    let clerk = bss_testkit::token(tenant_id, &[Role::BillingClerk]);
    let channel = suite.gateway().await;

    // A product, created once however often the command runs.
    let create =
        ["products", "create", "--code", "WIDGET", "--name", "Widget", "--price", "10.00", "--currency", "EUR"];
    let product = bssctl_ok(&suite, &admin, &create).await;
    assert_eq!(bssctl_ok(&suite, &admin, &create).await["id"], product["id"]);
    assert_eq!(product["list_price"], serde_json::json!({ "amount": "10.00", "currency_code": "EUR" }));
    assert_eq!(product["availability"], "PUBLIC");
    let product_id = product["id"].as_str().expect("an id").to_owned();
    let listed = bssctl_ok(&suite, &admin, &["products", "list"]).await;
    assert_eq!(listed["products"].as_array().map(Vec::len), Some(1), "{listed}");

    // An account that may order on account, with a limit of 20.00; an
    // order past it waits for a credit manager.
    let account =
        ["accounts", "create", "--code", "ACME", "--name", "Acme", "--payment-types", "AC", "--enable-ordering"];
    let account_id = bssctl_ok(&suite, &admin, &account).await["id"].as_str().expect("an id").to_owned();
    let set_terms = ["credit", "set-terms", &account_id, "--limit", "20", "--out-of-credit", "hold_for_approval"];
    let mut set_terms = set_terms.to_vec();
    set_terms.extend(["--reason", "opening"]);
    let terms = bssctl_ok(&suite, &manager, &set_terms).await;
    assert_eq!(terms["limit"]["amount"], "20.00", "{terms}");
    assert_eq!(terms["policy"]["out_of_credit_action"], "HOLD_FOR_APPROVAL", "{terms}");
    assert_eq!(bssctl_ok(&suite, &manager, &["credit", "terms", &account_id]).await["credit_limit"], "20");

    // Its own price wins, and the explained quote says why.
    let own = ["prices", "set-account", "--account", &account_id, "--product", &product_id, "--price", "8.00"];
    let mut own = own.to_vec();
    own.extend(["--currency", "EUR"]);
    bssctl_ok(&suite, &admin, &own).await;
    let prices = bssctl_ok(&suite, &admin, &["prices", "account", &account_id]).await;
    assert_eq!(prices["account_prices"][0]["price"]["amount"], "8.00", "{prices}");
    let quote = ["quote", &account_id, "--line", "WIDGET=3", "--explain"];
    let quoted = bssctl_ok(&suite, &admin, &quote).await;
    assert_eq!(
        (quoted["total"]["amount"].as_str(), quoted["lines"][0]["rule"].as_str()),
        (Some("24.00"), Some("ACCOUNT_PRICE"))
    );
    let candidates = quoted["lines"][0]["candidates"].as_array().expect("candidates");
    let list = candidates.iter().find(|candidate| candidate["rule"] == "LIST_PRICE").expect("the list price");
    assert_eq!((list["price"]["amount"].as_str(), list["won"].as_bool()), (Some("10.00"), Some(false)), "{quoted}");
    let table = bssctl_as(&suite, &admin, "table", &quote).await;
    assert!(table.contains("total: 24.00 EUR") && table.contains("line 1 (WIDGET) candidates"), "{table}");
    let winner = |line: &str| line.contains("true") && line.contains("ACCOUNT_PRICE") && line.contains("8.00 EUR");
    assert!(table.lines().any(winner), "{table}");

    // On hold, billing's order is refused for it; released, the hold is gone.
    bssctl_ok(&suite, &manager, &["credit", "hold", &account_id, "--reason", "call us"]).await;
    assert_eq!(bssctl_ok(&suite, &manager, &["credit", "status", &account_id]).await["on_hold"], true);
    let refused = place(&channel, &clerk, order_request(&account_id, &[("WIDGET", "1")], PaymentType::OnAccount)).await;
    assert_eq!((refused.status, refused.reasons[0].code.as_str()), (OrderStatus::Rejected as i32, "ACCOUNT_ON_HOLD"));
    let released = bssctl_ok(&suite, &manager, &["credit", "release", &account_id]).await;
    assert_eq!(released["status"]["on_hold"], false, "{released}");

    // Over its limit, an order waits; the credit manager sees it, approves
    // it, and billing executes it with credit's reservation.
    let held = place(&channel, &clerk, order_request(&account_id, &[("WIDGET", "3")], PaymentType::OnAccount)).await;
    let pending = bssctl_ok(&suite, &manager, &["held-orders", "list", "--state", "pending"]).await;
    let listed = pending["held_orders"].as_array().expect("held orders");
    assert_eq!(listed.len(), 1, "{pending} {held:?}");
    assert_eq!(
        (listed[0]["id"].as_str(), listed[0]["amount"]["amount"].as_str(), listed[0]["state"].as_str()),
        (Some(held.held_order_id.as_str()), Some("24.00"), Some("PENDING"))
    );
    let approved =
        bssctl_ok(&suite, &manager, &["held-orders", "approve", &held.held_order_id, "--note", "paid"]).await;
    assert_eq!(approved["held_order"]["state"], "APPROVED", "{approved}");
    wait_for_order(&channel, &clerk, &held.id, OrderStatus::Executed).await;
    credit_settles(&channel, &clerk, &account_id, "0.00", "24.00").await;

    // The limit raised to 100.00 (a second change of the same terms); an
    // order of 96.00 more is held, rejected, and billing rejects it.
    bssctl_ok(&suite, &manager, &["credit", "set-terms", &account_id, "--limit", "100", "--reason", "reviewed"]).await;
    let second = place(&channel, &clerk, order_request(&account_id, &[("WIDGET", "12")], PaymentType::OnAccount)).await;
    let rejected =
        bssctl_ok(&suite, &manager, &["held-orders", "reject", &second.held_order_id, "--note", "too much"]).await;
    assert_eq!(rejected["held_order"]["state"], "REJECTED", "{rejected}");
    wait_for_order(&channel, &clerk, &second.id, OrderStatus::Rejected).await;
    credit_settles(&channel, &clerk, &account_id, "0.00", "24.00").await;

    // A subscription, then a billing run: the order and the subscription's
    // first month on one invoice.
    let subscribe = ["subscriptions", "create", "--account", &account_id, "--product", "WIDGET"];
    let subscription = bssctl_ok(&suite, &clerk, &subscribe).await;
    assert_eq!(bssctl_ok(&suite, &clerk, &subscribe).await["id"], subscription["id"], "created once");
    assert_eq!(
        (subscription["status"].as_str(), subscription["unit_price"]["amount"].as_str()),
        (Some("ACTIVE"), Some("8.00"))
    );
    let subscriptions = bssctl_ok(&suite, &clerk, &["subscriptions", "list", "--account", &account_id]).await;
    assert_eq!(subscriptions["subscriptions"].as_array().map(Vec::len), Some(1));
    // Paused and resumed the same day: the month is owed as before.
    let subscription_id = subscription["id"].as_str().expect("an id");
    let paused = bssctl_ok(&suite, &clerk, &["subscriptions", "pause", subscription_id]).await;
    assert_eq!(paused["status"].as_str(), Some("PAUSED"), "{paused}");
    let resumed = bssctl_ok(&suite, &clerk, &["subscriptions", "resume", subscription_id]).await;
    assert_eq!(resumed["status"].as_str(), Some("ACTIVE"), "{resumed}");
    // An account's billing anchor, set and read back; a yearly plan billed
    // in arrears (nothing of it is billed by the run below).
    let set_anchor = ["subscriptions", "set-anchor", "--account", &account_id, "--day", "31"];
    let anchored = bssctl_ok(&suite, &clerk, &set_anchor).await;
    assert_eq!(anchored["anchor_day"].as_i64(), Some(31));
    let anchor = bssctl_ok(&suite, &clerk, &["subscriptions", "get-anchor", "--account", &account_id]).await;
    assert_eq!(anchor["anchor_day"].as_i64(), Some(31));
    let yearly = [
        "subscriptions",
        "create",
        "--account",
        &account_id,
        "--product",
        "WIDGET",
        "--cycle",
        "yearly",
        "--timing",
        "in-arrears",
        "--anchor-day",
        "1",
        "--term-periods",
        "3",
        "--auto-renew",
    ];
    let yearly = bssctl_ok(&suite, &clerk, &yearly).await;
    assert_eq!(
        (yearly["billing_cycle"].as_str(), yearly["billing_timing"].as_str(), yearly["billing_anchor_day"].as_i64()),
        (Some("YEARLY"), Some("IN_ARREARS"), Some(1)),
        "{yearly}"
    );
    assert_eq!((yearly["term_periods"].as_i64(), yearly["auto_renew"].as_bool()), (Some(3), Some(true)), "{yearly}");
    let yearly_id = yearly["id"].as_str().expect("an id");
    // Two of it from its next year, then cancelled: the change dropped.
    let change = ["subscriptions", "change", yearly_id, "--quantity", "2", "--at-period-end"];
    let changed = bssctl_ok(&suite, &clerk, &change).await;
    assert_eq!(
        (changed["change"]["kind"].as_str(), changed["change"]["status"].as_str()),
        (Some("QUANTITY"), Some("SCHEDULED")),
        "{changed}"
    );
    bssctl_ok(&suite, &clerk, &["subscriptions", "cancel", yearly_id]).await;
    let history = bssctl_ok(&suite, &clerk, &["subscriptions", "history", yearly_id]).await;
    let statuses: Vec<(&str, &str)> = history["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|entry| (entry["kind"].as_str().unwrap_or_default(), entry["status"].as_str().unwrap_or_default()))
        .collect();
    assert_eq!(
        statuses,
        vec![("CREATED", "APPLIED"), ("QUANTITY", "SUPERSEDED"), ("CANCELLED", "APPLIED"),],
        "{history}"
    );
    // A metered plan: an event recorded twice counts once; then cancelled.
    let metered = [
        "subscriptions",
        "create",
        "--account",
        &account_id,
        "--product",
        "WIDGET",
        "--meter",
        "api_calls=count:WIDGET:volume",
    ];
    let metered = bssctl_ok(&suite, &clerk, &metered).await;
    let metered_id = metered["id"].as_str().expect("an id");
    let record = ["subscriptions", "record", metered_id, "--metric", "api_calls", "--key", "call-1"];
    // int64 fields print as JSON strings (the proto3 JSON mapping).
    let count = |value: &serde_json::Value| value.as_i64().or_else(|| value.as_str()?.parse().ok());
    assert_eq!(count(&bssctl_ok(&suite, &clerk, &record).await["accepted"]), Some(1));
    assert_eq!(count(&bssctl_ok(&suite, &clerk, &record).await["duplicates"]), Some(1));
    let used = bssctl_ok(&suite, &clerk, &["subscriptions", "usage", metered_id]).await;
    assert_eq!(
        (used["metrics"][0]["metric"].as_str(), used["metrics"][0]["quantity"].as_str()),
        (Some("api_calls"), Some("1")),
        "{used}"
    );
    bssctl_ok(&suite, &clerk, &["subscriptions", "cancel", metered_id]).await;
    let weekly = ["subscriptions", "create", "--account", &account_id, "--product", "WIDGET", "--cycle", "weekly"];
    let refused = bssctl(&suite, &clerk, &weekly).await;
    assert!(!refused.status.success(), "a cycle that is not one");
    bssctl_ok(&suite, &clerk, &["billing", "run", "--post"]).await;
    let invoices =
        bssctl_ok(&suite, &clerk, &["invoices", "list", "--account", &account_id, "--status", "posted"]).await;
    let invoice = &invoices["invoices"][0];
    assert_eq!(
        (invoice["total"]["amount"].as_str(), invoice["status"].as_str()),
        (Some("32.00"), Some("POSTED")),
        "{invoices}"
    );
    let invoice_id = invoice["id"].as_str().expect("an id");
    assert_eq!(
        bssctl_ok(&suite, &clerk, &["invoices", "get", invoice_id]).await["lines"].as_array().map(Vec::len),
        Some(2)
    );
    let csv = bssctl_as(&suite, &clerk, "csv", &["invoices", "list", "--account", &account_id]).await;
    let mut rows = csv::Reader::from_reader(csv.as_bytes());
    let header: Vec<String> = rows.headers().expect("a header row").iter().map(str::to_owned).collect();
    let column = |name: &str| header.iter().position(|column| column == name).expect("the column");
    let rows: Vec<csv::StringRecord> = rows.records().collect::<Result<_, _>>().expect("rows");
    assert_eq!(rows.len(), 1, "{csv}");
    assert_eq!((&rows[0][column("id")], &rows[0][column("total")]), (invoice_id, "32.00 EUR"), "{csv}");

    // A payment of 20.00, recorded once however often it is sent with its
    // id: billing and credit both owe 12.00. Without an id bssctl records
    // nothing (two payments of one amount are told apart by it).
    let pay = ["payments", "record", "--account", &account_id, "--amount", "20.00", "--currency", "EUR"];
    let refused = bssctl(&suite, &clerk, &pay).await;
    assert!(!refused.status.success(), "a payment without its id is refused");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--request-id"), "{refused:?}");
    let pay = [&pay[..], &["--request-id", "bank-ref-0001"]].concat();
    let payment = bssctl_ok(&suite, &clerk, &pay).await;
    assert_eq!(bssctl_ok(&suite, &clerk, &pay).await["id"], payment["id"], "recorded once");
    let balance = bssctl_ok(&suite, &clerk, &["payments", "balance", &account_id]).await;
    assert_eq!(balance["balance"]["amount"], "12.00", "{balance}");
    assert_eq!(amount(&billing_balance(&channel, &clerk, &account_id).await.balance), "12.00");
    credit_settles(&channel, &clerk, &account_id, "12.00", "0.00").await;
    let status = bssctl_ok(&suite, &manager, &["credit", "status", &account_id]).await;
    assert_eq!(
        (status["balance"]["amount"].as_str(), status["available_credit"]["amount"].as_str()),
        (Some("12.00"), Some("88.00"))
    );
}

/// Waits until billing says the order has `status`.
async fn wait_for_order(channel: &tonic::transport::Channel, token: &str, id: &str, status: OrderStatus) {
    let mut orders = OrderServiceClient::new(channel.clone());
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let order = orders.get_order(authorized(GetOrderRequest { id: id.to_owned() }, token)).await;
        let order = order.expect("order").into_inner().order.expect("order");
        if order.status == status as i32 {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "the order never reached {status:?}: {order:?}");
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}
