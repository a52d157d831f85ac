//! The operator's CLI against a running suite, as an operator uses it: an
//! import from a CSV file with bad rows, then a billing run followed to the
//! end.

#![allow(clippy::expect_used)]

use std::path::PathBuf;
use std::process::Output;

use bss_e2e::{TestApp, create_product, set_credit_terms, subscription_request};
use bss_platform::auth::Role;
use bss_proto::billing::subscription_service_client::SubscriptionServiceClient;
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
    assert!(stderr.contains("4/4 rows"), "progress on stderr: {stderr}");

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
    let shown = bssctl(&suite, &admin, &["accounts", "get", first["id"].as_str().expect("id")]).await;
    assert_eq!(document(&shown)["external_key"], "ERP-1");

    // Both owe a subscription: a billing run invoices them, and bssctl
    // follows it to the end, reporting progress.
    create_product(&channel, &admin, "PLAN", "12.50", "").await;
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
