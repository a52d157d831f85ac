//! The Python client package (clients/python), generated from the
//! contracts and installed into .venv by `make python-env`, runs against
//! the suite through the gateway: the accounts scenario (create, read back,
//! a field violation) and its order-to-cash example (tenant, account,
//! product, quote, order, invoice, payment, the balance billing and credit
//! hold, two refusals read in full).

use bss_e2e::{TestApp, repository_root};

async fn run_python(script: &str, arguments: &[String]) {
    let root = repository_root();
    let python = root.join(".venv/bin/python");
    assert!(
        python.exists() && root.join("clients/python/src/bss").exists(),
        "the Python client is not generated and installed: run `make python-env` (make test does)"
    );
    let output = tokio::process::Command::new(python)
        .arg(root.join(script))
        .args(arguments)
        .output()
        .await
        .expect("python runs");
    assert!(
        output.status.success(),
        "{script} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("scenario passed"), "{script} ran to its end");
}

#[tokio::test]
async fn the_python_client_creates_and_reads_an_account_and_names_a_bad_field() {
    let suite = TestApp::start().await;
    let (_, token) = suite.tenant("Python Books", "EUR").await;
    run_python("tests/python/accounts_scenario.py", &[suite.endpoints.gateway.to_string(), token]).await;
}

#[tokio::test]
async fn the_python_client_runs_order_to_cash_and_reads_every_side() {
    let suite = TestApp::start().await;
    let token = bss_testkit::platform_admin_token();
    run_python("clients/python/examples/order_to_cash.py", &[suite.endpoints.gateway.to_string(), token]).await;
}
