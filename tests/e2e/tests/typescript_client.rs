//! The TypeScript client package (clients/typescript), built by `make
//! console` (which `make test` runs), drives the suite from Node over gRPC
//! through the gateway: its order-to-cash scenario (tenant, account,
//! product, quote, order, invoice, payment, the balance billing and credit
//! hold, two refusals read in full, exact money).

use bss_e2e::{TestApp, repository_root};

#[tokio::test]
async fn the_typescript_client_runs_order_to_cash_in_node_over_grpc() {
    let suite = TestApp::start().await;
    let root = repository_root();
    let client = root.join("clients/typescript");
    assert!(
        client.join("dist/node.js").exists(),
        "the TypeScript client is not built: run `make console` (make test does)"
    );
    let output = tokio::process::Command::new("node")
        .arg(client.join("scenario/order-to-cash.mjs"))
        .arg(format!("http://{}", suite.endpoints.gateway))
        .arg(bss_testkit::platform_admin_token())
        .current_dir(&client)
        .output()
        .await
        .expect("node runs");
    assert!(
        output.status.success(),
        "the TypeScript scenario failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("typescript order-to-cash scenario passed"));
}
