//! A client generated in Python from proto/ runs a scenario against the
//! suite through the gateway: create an account, read it back, see a field violation.

use bss_e2e::{TestApp, repository_root};

#[tokio::test]
async fn a_python_client_generated_from_the_contracts_works() {
    let suite = TestApp::start().await;
    let (_, token) = suite.tenant("Python Books", "EUR").await;

    let root = repository_root();
    let python = root.join(".venv/bin/python");
    assert!(
        python.exists() && root.join("tests/python/generated/bss").exists(),
        "the Python client is not generated: run `make python-env` (make test does)"
    );
    let output = tokio::process::Command::new(python)
        .arg(root.join("tests/python/accounts_scenario.py"))
        .arg(suite.endpoints.gateway.to_string())
        .arg(&token)
        .output()
        .await
        .expect("python runs");
    assert!(
        output.status.success(),
        "python scenario failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
