//! An operator scrapes the metrics endpoint and finds the RED metrics of the
//! calls made, the pools, the outbox and the consumers.

#![allow(clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use bss_e2e::TestApp;
use bss_proto::accounts::account_service_client::AccountServiceClient;
use bss_proto::accounts::{Account, CreateAccountRequest, GetAccountRequest};
use bss_testkit::authorized;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Code;

/// `GET /metrics` over plain HTTP/1.1, as Prometheus scrapes it.
async fn scrape(address: SocketAddr) -> String {
    let mut stream = tokio::net::TcpStream::connect(address).await.expect("metrics port");
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: metrics\r\nConnection: close\r\n\r\n").await.expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("response");
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_owned()
}

/// The value of the sample of `metric` whose labels include every one of
/// `labels`.
fn sample(text: &str, metric: &str, labels: &[&str]) -> Option<f64> {
    text.lines().filter(|line| line.starts_with(&format!("{metric}{{"))).find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        labels.iter().all(|label| series.contains(label)).then(|| value.parse().ok())?
    })
}

#[tokio::test]
async fn the_metrics_endpoint_counts_calls_by_code_and_shows_pools_outbox_and_consumer_lag() {
    let suite = TestApp::start().await;
    let (_tenant, admin) = suite.tenant("Metrics", "EUR").await;
    let mut accounts = AccountServiceClient::new(suite.gateway().await);
    for code in ["M1", "M2", "M3"] {
        let account = Account { code: code.to_owned(), name: format!("Company {code}"), ..Account::default() };
        accounts
            .create_account(authorized(
                CreateAccountRequest { account: Some(account), request_id: String::new() },
                &admin,
            ))
            .await
            .expect("account");
    }
    let refused = accounts
        .get_account(authorized(GetAccountRequest { id: "not-a-uuid".to_owned() }, &admin))
        .await
        .expect_err("a malformed id");
    assert_eq!(refused.code(), Code::InvalidArgument);

    let created = [r#"server="accounts""#, r#"grpc_method="CreateAccount""#, r#"grpc_code="OK""#];
    let invalid = [r#"server="accounts""#, r#"grpc_method="GetAccount""#, r#"grpc_code="InvalidArgument""#];
    let through_gateway = [r#"server="gateway""#, r#"grpc_method="CreateAccount""#, r#"grpc_code="OK""#];
    let pricing_consumer = [r#"schema="pricing""#, r#"stream="accounts""#];

    // Pricing consumes the accounts stream in the background, and a scrape
    // reads the outbox before the consumers' gauges: wait until one scrape
    // shows both past the three accounts.
    let mut text = String::new();
    for _ in 0..100 {
        text = scrape(suite.endpoints.metrics).await;
        let at_least_three = |metric: &str, labels: &[&str]| sample(&text, metric, labels).is_some_and(|at| at >= 3.0);
        if at_least_three("consumer_position", &pricing_consumer)
            && at_least_three("outbox_latest_sequence", &[r#"schema="accounts""#])
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    assert_eq!(sample(&text, "grpc_server_handled_total", &created), Some(3.0), "{text}");
    assert_eq!(sample(&text, "grpc_server_handled_total", &invalid), Some(1.0));
    assert_eq!(sample(&text, "grpc_server_handled_total", &through_gateway), Some(3.0));
    let calls = [r#"server="accounts""#, r#"grpc_method="CreateAccount""#];
    assert_eq!(sample(&text, "grpc_server_started_total", &calls), Some(3.0));
    assert_eq!(sample(&text, "grpc_server_handling_seconds_count", &calls), Some(3.0));
    assert_eq!(sample(&text, "grpc_server_handling_seconds_bucket", &[calls[0], calls[1], r#"le="+Inf""#]), Some(3.0));

    let max = sample(&text, "db_pool_max_connections", &[r#"schema="accounts""#]).expect("pool size");
    assert_eq!(max, 6.0);
    let idle = sample(&text, "db_pool_connections", &[r#"schema="accounts""#, r#"state="idle""#]).expect("idle");
    let in_use = sample(&text, "db_pool_connections", &[r#"schema="accounts""#, r#"state="in_use""#]).expect("busy");
    assert!(idle <= max && in_use <= max);
    assert!(sample(&text, "outbox_latest_sequence", &[r#"schema="accounts""#]).expect("outbox") >= 3.0);
    assert!(sample(&text, "outbox_backlog_events", &[r#"schema="accounts""#]).is_some());
    assert!(sample(&text, "consumer_position", &pricing_consumer).expect("consumer position") >= 3.0);
    let lag = sample(&text, "consumer_lag_seconds", &pricing_consumer).expect("consumer lag");
    assert!((0.0..60.0).contains(&lag), "lag {lag}");
}
