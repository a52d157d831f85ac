//! Trace context from the client continues through the gateway into the
//! service: the spans exported over OTLP (to an in-process receiver) form
//! one tree, client span -> gateway span -> service span, under one trace id.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bss_e2e::TestApp;
use bss_platform::config::TelemetryConfig;
use bss_proto::accounts::GetTenantRequest;
use bss_proto::accounts::tenant_service_client::TenantServiceClient;
use bss_testkit::authorized;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::trace::v1::Span;
use tokio_stream::wrappers::TcpListenerStream;

#[derive(Clone, Default)]
struct Receiver {
    spans: Arc<Mutex<Vec<Span>>>,
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let spans = request
            .into_inner()
            .resource_spans
            .into_iter()
            .flat_map(|resource| resource.scope_spans)
            .flat_map(|scope| scope.spans);
        self.spans.lock().expect("lock").extend(spans);
        Ok(tonic::Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

/// Spans of this process exported over OTLP to an in-process receiver,
/// until the returned guard is dropped (which flushes them).
async fn exporting() -> (Receiver, bss_platform::telemetry::Telemetry) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let receiver = Receiver::default();
    let service = TraceServiceServer::new(receiver.clone());
    tokio::spawn(
        tonic::transport::Server::builder().add_service(service).serve_with_incoming(TcpListenerStream::new(listener)),
    );
    let telemetry = bss_platform::telemetry::init(
        "bss-e2e",
        &TelemetryConfig { otlp_endpoint: Some(format!("http://{address}")), ..TelemetryConfig::default() },
    )
    .expect("telemetry");
    (receiver, telemetry)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_runs_from_the_client_through_the_gateway_into_the_service() {
    let (receiver, telemetry) = exporting().await;
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Traced Books", "EUR").await;

    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let client_span_id = "00f067aa0ba902b7";
    let mut request = authorized(GetTenantRequest { id: tenant_id.to_string() }, &admin);
    request.metadata_mut().insert("traceparent", format!("00-{trace_id}-{client_span_id}-01").parse().expect("ascii"));
    TenantServiceClient::new(suite.gateway().await).get_tenant(request).await.expect("traced call");

    drop(suite);
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(telemetry); // flushes the batch of spans to the receiver

    let spans = receiver.spans.lock().expect("lock").clone();
    let traced: Vec<&Span> = spans.iter().filter(|span| hex(&span.trace_id) == trace_id).collect();
    let gateway = traced
        .iter()
        .find(|span| hex(&span.parent_span_id) == client_span_id)
        .unwrap_or_else(|| panic!("no gateway span under the client's span; spans of the trace: {traced:#?}"));
    let service = traced
        .iter()
        .find(|span| span.parent_span_id == gateway.span_id)
        .unwrap_or_else(|| panic!("no service span under the gateway's span; spans of the trace: {traced:#?}"));
    assert_eq!(gateway.name, "bss.accounts.v1.TenantService/GetTenant");
    assert_eq!(service.name, "bss.accounts.v1.TenantService/GetTenant");
    assert_ne!(gateway.span_id, service.span_id);
}

/// The trace id of a W3C traceparent ("00-<trace>-<span>-<flags>").
fn trace_of(traceparent: &str) -> &str {
    traceparent.split('-').nth(1).unwrap_or_default()
}

/// `request` sent from a client span of trace `trace_id`.
fn with_trace<T>(trace_id: &str, mut request: tonic::Request<T>) -> tonic::Request<T> {
    let traceparent = format!("00-{trace_id}-00f067aa0ba902b7-01");
    request.metadata_mut().insert("traceparent", traceparent.parse().expect("ascii"));
    request
}

/// Every message of an event stream, read until it is quiet.
async fn drain<T>(mut stream: tonic::Streaming<T>) -> Vec<T> {
    let mut messages = Vec::new();
    while let Ok(Ok(Some(message))) = tokio::time::timeout(Duration::from_secs(1), stream.message()).await {
        messages.push(message);
    }
    messages
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_stream_carries_the_trace_of_the_request_that_made_the_change() {
    use bss_proto::accounts::account_event::Payload as AccountPayload;
    use bss_proto::accounts::account_event_service_client::AccountEventServiceClient;
    use bss_proto::billing::billing_event::Payload as BillingPayload;
    use bss_proto::billing::billing_event_service_client::BillingEventServiceClient;
    use bss_proto::credit::credit_event::Payload as CreditPayload;
    use bss_proto::credit::credit_event_service_client::CreditEventServiceClient;
    use bss_proto::types::PaymentType;

    let (receiver, telemetry) = exporting().await;
    let suite = TestApp::start().await;
    let gateway = suite.gateway().await;
    let (_, admin) = suite.tenant("Traced Events", "EUR").await;

    // Accounts: an account made under one trace.
    let account_trace = "11111111111111111111111111111111";
    let created = bss_proto::accounts::account_service_client::AccountServiceClient::new(gateway.clone())
        .create_account(with_trace(
            account_trace,
            authorized(
                bss_proto::accounts::CreateAccountRequest {
                    account: Some(bss_e2e::ordering_account("TRACED")),
                    request_id: String::new(),
                },
                &admin,
            ),
        ))
        .await
        .expect("account")
        .into_inner()
        .account
        .expect("account");
    // Credit: its terms changed under another.
    let credit_trace = "22222222222222222222222222222222";
    bss_proto::credit::credit_service_client::CreditServiceClient::new(gateway.clone())
        .change_credit_terms(with_trace(
            credit_trace,
            authorized(
                bss_proto::credit::ChangeCreditTermsRequest {
                    account_id: created.id.clone(),
                    terms: Some(bss_proto::credit::CreditTerms {
                        credit_limit: bss_e2e::decimal("1000"),
                        ..Default::default()
                    }),
                    reason: "opening".to_owned(),
                    request_id: String::new(),
                },
                &admin,
            ),
        ))
        .await
        .expect("terms");
    // Billing: an order placed under a third.
    let billing_trace = "33333333333333333333333333333333";
    let product = bss_e2e::create_product(&gateway, &admin, "TRACE-1", "10.00", "Tracing").await;
    bss_proto::billing::order_service_client::OrderServiceClient::new(gateway.clone())
        .place_order(with_trace(
            billing_trace,
            authorized(bss_e2e::order_request(&created.id, &[(&product, "1")], PaymentType::OnAccount), &admin),
        ))
        .await
        .expect("order");

    let after = |sequence| authorized(bss_proto::accounts::StreamEventsRequest { after_sequence: sequence }, &admin);
    let accounts = drain(
        AccountEventServiceClient::new(gateway.clone()).stream_events(after(0)).await.expect("stream").into_inner(),
    )
    .await;
    let account_created = accounts
        .iter()
        .filter_map(|message| message.event.clone())
        .find(|event| matches!(&event.payload, Some(AccountPayload::AccountCreated(c)) if c.account.as_ref().is_some_and(|a| a.id == created.id)))
        .expect("AccountCreated");
    assert_eq!(trace_of(&account_created.traceparent), account_trace);

    let credit = drain(
        CreditEventServiceClient::new(gateway.clone())
            .stream_events(authorized(bss_proto::credit::StreamEventsRequest { after_sequence: 0 }, &admin))
            .await
            .expect("stream")
            .into_inner(),
    )
    .await;
    let credit: Vec<_> = credit.into_iter().filter_map(|message| message.event).collect();
    let terms = credit
        .iter()
        .find(|event| matches!(event.payload, Some(CreditPayload::CreditTermsChanged(_))))
        .expect("CreditTermsChanged");
    assert_eq!(trace_of(&terms.traceparent), credit_trace);
    // The reservation billing asked for is made in the order's trace.
    let reserved = credit
        .iter()
        .find(|event| matches!(event.payload, Some(CreditPayload::ReservationChanged(_))))
        .expect("ReservationChanged");
    assert_eq!(trace_of(&reserved.traceparent), billing_trace);

    let billing = drain(
        BillingEventServiceClient::new(gateway.clone())
            .stream_events(authorized(bss_proto::billing::StreamEventsRequest { after_sequence: 0 }, &admin))
            .await
            .expect("stream")
            .into_inner(),
    )
    .await;
    let outcome = billing
        .into_iter()
        .filter_map(|message| message.event)
        .find(|event| matches!(event.payload, Some(BillingPayload::OrderOutcome(_))))
        .expect("OrderOutcome");
    assert_eq!(trace_of(&outcome.traceparent), billing_trace);

    // Each consumer applies an event in the trace of the request that made
    // it: pricing and reseller-sync the account, billing the credit terms,
    // credit and reseller-sync the order's outcome.
    drop(suite);
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(telemetry);
    let spans = receiver.spans.lock().expect("lock").clone();
    let applied_in = |trace_id: &str| {
        spans.iter().filter(|span| span.name == "apply event" && hex(&span.trace_id) == trace_id).count()
    };
    assert!(applied_in(account_trace) >= 2, "pricing and reseller-sync apply AccountCreated in its trace");
    assert!(applied_in(credit_trace) >= 1, "billing applies CreditTermsChanged in its trace");
    assert!(applied_in(billing_trace) >= 2, "credit and reseller-sync apply OrderOutcome in its trace");
}

/// `bss-suite run` as `make run` starts it, with the environment's
/// variables besides `DATABASE_URL`, and what its output says.
struct MakeRun {
    process: tokio::process::Child,
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    gateway: String,
    metrics: String,
    token: String,
}

/// bss-suite, beside the test binary.
fn suite_program() -> std::path::PathBuf {
    let test = std::env::current_exe().expect("the test binary");
    test.parent().and_then(|deps| deps.parent()).expect("target/<profile>").join("bss-suite")
}

impl MakeRun {
    async fn start(kit: &bss_e2e::Kit, variables: &[(&str, &str)]) -> MakeRun {
        use tokio::io::AsyncBufReadExt;
        let mut command = tokio::process::Command::new(suite_program());
        command.args(["run", "--base-port", "0", "--console-dir", "/nonexistent"]);
        // The kit's database, unless the variables name it another way.
        match variables
            .iter()
            .any(|(name, _)| name.starts_with("DATABASE_URL") || name.starts_with("BSS_DATABASE__URL"))
        {
            true => command.env_remove("DATABASE_URL"),
            false => command.env("DATABASE_URL", kit.database_url()),
        };
        let mut process = command
            .env("BSS_SANDBOX_IDP", "false")
            .envs(variables.iter().copied())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("bss-suite runs");
        let mut lines = tokio::io::BufReader::new(process.stdout.take().expect("its output")).lines();
        let (mut gateway, mut metrics, mut token, mut next_is_token) = (None, None, None, false);
        while let Some(line) = tokio::time::timeout(Duration::from_secs(120), lines.next_line())
            .await
            .expect("the suite starts")
            .expect("its output")
        {
            if next_is_token {
                token = Some(line.trim().to_owned());
                next_is_token = false;
            }
            next_is_token |= line.starts_with("Platform admin token");
            if let Some(address) = line.trim().strip_prefix("gateway").map(str::trim) {
                gateway = Some(address.to_owned());
            }
            if let Some(address) = line.trim().strip_prefix("metrics (HTTP)").map(str::trim) {
                metrics = Some(address.to_owned());
            }
            if line.contains("Ctrl-C stops everything.") {
                break;
            }
        }
        MakeRun {
            process,
            lines,
            gateway: gateway.expect("the gateway's address"),
            metrics: metrics.expect("the metrics address"),
            token: token.expect("a platform token"),
        }
    }
}

/// `make run` takes the settings the standalone services take, by the same
/// names: the server's limits, the pools', the gateway's rate limits, and
/// secrets (the database's address, the token secret) from files; `bss-suite
/// token` signs with the same secret.
#[tokio::test]
async fn make_run_takes_the_server_pool_rate_limit_and_secret_file_settings_the_services_take() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let kit = bss_e2e::Kit::new().await;
    let folder = std::env::temp_dir().join(format!("bss-make-run-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&folder).expect("folder");
    let secret = folder.join("hs256");
    std::fs::write(&secret, "a-secret-only-this-file-knows").expect("secret written");
    let database_url = folder.join("database-url");
    std::fs::write(&database_url, kit.database_url()).expect("address written");
    let variables = [
        ("DATABASE_URL_FILE", database_url.to_str().expect("utf-8")),
        ("BSS_AUTH__HS256_SECRET_FILE", secret.to_str().expect("utf-8")),
        ("BSS_SERVER__MAX_MESSAGE_BYTES", "4096"),
        ("BSS_DATABASE__MAX_CONNECTIONS", "3"),
        ("BSS_RATE_LIMIT__DEFAULT__REQUESTS_PER_SECOND", "1"),
        ("BSS_RATE_LIMIT__DEFAULT__BURST", "3"),
    ];
    let run = MakeRun::start(&kit, &variables).await;
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", run.gateway))
        .expect("url")
        .connect()
        .await
        .expect("up");
    let mut tenants = TenantServiceClient::new(channel);
    let list = || bss_proto::accounts::ListTenantsRequest { page_size: 10, ..Default::default() };

    // Tokens are verified with the file's secret (the printed token is
    // signed with it too); the development secret's are refused.
    let mint = |secret: &str, subject: &str| {
        bss_platform::auth::TokenIssuer::hs256(secret, "bss-dev", "bss").mint(&bss_platform::auth::TokenSpec {
            subject: subject.to_owned(),
            tenant: None,
            roles: vec![bss_platform::auth::Role::PlatformAdmin],
            sales_rep_id: None,
            user_id: None,
            ttl: Duration::from_secs(60),
        })
    };
    let development = mint(bss_platform::auth::DEVELOPMENT_HS256_SECRET, "dev");
    let refused = tenants.list_tenants(authorized(list(), &development)).await.expect_err("another secret");
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    let printed = tokio::process::Command::new(suite_program())
        .args(["token", "--roles", "platform_admin", "--subject", "printed"])
        .env("BSS_AUTH__HS256_SECRET_FILE", &secret)
        .output()
        .await
        .expect("bss-suite token runs");
    assert!(printed.status.success(), "{printed:?}");
    let printed = String::from_utf8(printed.stdout).expect("utf-8");
    tenants.list_tenants(authorized(list(), printed.trim())).await.expect("bss-suite token signs as make run verifies");

    // A caller of its own: three calls at once (the burst), then it waits,
    // one call a second.
    let probe = mint("a-secret-only-this-file-knows", "probe");
    let mut codes = Vec::new();
    for _ in 0..5 {
        let listed = tenants.list_tenants(authorized(list(), &probe)).await;
        codes.push(listed.map(|_| ()).map_err(|status| status.code()));
    }
    assert_eq!(codes.iter().filter(|code| code.is_ok()).count(), 3, "{codes:?}");
    assert!(codes.iter().skip(3).all(|code| *code == Err(tonic::Code::ResourceExhausted)), "{codes:?}");

    // A message over the server's limit is refused before any service reads it.
    let huge = bss_proto::accounts::Tenant {
        name: "x".repeat(8_000),
        default_currency: "EUR".to_owned(),
        ..Default::default()
    };
    let create = bss_proto::accounts::CreateTenantRequest { tenant: Some(huge), request_id: String::new() };
    let too_big = tenants.create_tenant(authorized(create, &run.token)).await.expect_err("too big");
    assert_eq!(too_big.code(), tonic::Code::ResourceExhausted, "{too_big:?}");
    let reason = tonic_types::StatusExt::get_error_details(&too_big).error_info().map(|info| info.reason.clone());
    assert_eq!(reason.as_deref(), Some("MESSAGE_TOO_LARGE"), "{too_big:?}");

    // Each service's pool is the size given (the sandbox provider's books
    // keep a pool of their own).
    let mut stream = tokio::net::TcpStream::connect(run.metrics.as_str()).await.expect("metrics port");
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: metrics\r\nConnection: close\r\n\r\n").await.expect("request");
    let mut scraped = String::new();
    stream.read_to_string(&mut scraped).await.expect("response");
    let sizes: Vec<&str> = scraped
        .lines()
        .filter(|line| line.starts_with("bss_db_pool_max_connections{") && !line.contains("sandbox"))
        .filter_map(|line| line.rsplit_once(' ').map(|(_, value)| value))
        .collect();
    assert!(sizes.len() >= 5 && sizes.iter().all(|size| *size == "3"), "{sizes:?}");

    std::fs::remove_dir_all(&folder).ok();
}

/// `bss-suite run` (what `make run` starts) exports its spans where
/// `OTEL_EXPORTER_OTLP_ENDPOINT` points, as the standalone services do, and
/// logs one line per call at every hop in the format the environment asks.
#[tokio::test]
async fn the_suite_as_make_run_starts_it_exports_spans_to_the_collector_the_environment_names() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let collector = listener.local_addr().expect("address");
    let receiver = Receiver::default();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(receiver.clone()))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    let kit = bss_e2e::Kit::new().await;
    let collector = format!("http://{collector}");
    let made = [("OTEL_EXPORTER_OTLP_ENDPOINT", collector.as_str()), ("BSS_TELEMETRY__LOG_FORMAT", "json")];
    let MakeRun { process: mut suite, mut lines, gateway, token, .. } = MakeRun::start(&kit, &made).await;
    let channel =
        tonic::transport::Channel::from_shared(format!("http://{gateway}")).expect("url").connect().await.expect("up");
    let listed = bss_proto::accounts::ListTenantsRequest { page_size: 10, ..Default::default() };
    let mut request = authorized(listed, &token);
    let request_id = format!("access-log-{}", uuid::Uuid::new_v4());
    request.metadata_mut().insert("x-request-id", request_id.parse().expect("ascii"));
    TenantServiceClient::new(channel).list_tenants(request).await.expect("listed");

    // One access line per hop at the default level: the gateway's and the
    // service's, each with the method, code, duration, request id and tenant.
    let mut hops = std::collections::BTreeMap::new();
    while hops.len() < 2 {
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .expect("the access lines are written")
            .expect("its output")
            .expect("a line");
        let Ok(entry) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
        let span = &entry["span"];
        if entry["fields"]["message"] == "call" && span["request_id"] == request_id.as_str() {
            assert_eq!(entry["level"], "INFO", "{line}");
            assert_eq!(entry["fields"]["code"], "OK", "{line}");
            assert!(entry["fields"]["duration_us"].as_u64().is_some_and(|us| us > 0), "{line}");
            assert_eq!(span["rpc.method"], "ListTenants", "{line}");
            assert_eq!(span["tenant"], "none", "a platform admin acts in no tenant: {line}");
            hops.insert(span["server"].as_str().expect("the hop").to_owned(), line);
        }
    }
    assert_eq!(hops.keys().map(String::as_str).collect::<Vec<_>>(), ["accounts", "gateway"]);

    // Spans leave in batches (every few seconds).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let name = "bss.accounts.v1.TenantService/ListTenants";
    while !receiver.spans.lock().expect("lock").iter().any(|span| span.name == name) {
        assert!(tokio::time::Instant::now() < deadline, "no {name} span reached the collector");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    suite.kill().await.expect("stopped");
}

/// `bss-suite with-postgres` (what `make test` and `make bench` run under)
/// passes over a Postgres that allows fewer connections than asked for, for
/// a private one that allows them; one that allows enough is used as it is.
#[tokio::test]
async fn with_postgres_starts_a_private_server_when_the_one_at_hand_allows_too_few_connections() {
    let at_hand = std::env::var("DATABASE_URL").expect("the tests run under with-postgres");
    let folder = std::env::temp_dir().join(format!("bss-with-postgres-{}", uuid::Uuid::new_v4()));
    let run = |min: &str| {
        tokio::process::Command::new(suite_program())
            .args(["with-postgres", "--data-dir", folder.to_str().expect("utf-8"), "--min-connections", min, "--"])
            .args(["sh", "-c", r#"echo "$DATABASE_URL"; psql "$DATABASE_URL" -Atc 'SHOW max_connections'"#])
            .output()
    };
    let enough = run("1").await.expect("with-postgres runs");
    assert!(enough.status.success(), "{enough:?}");
    let said = String::from_utf8_lossy(&enough.stdout).into_owned();
    assert_eq!(said.lines().next(), Some(at_hand.as_str()), "the Postgres at hand is enough: {said}");

    let allowed: u32 = said.lines().nth(1).and_then(|line| line.parse().ok()).expect("its max_connections");
    let asked = allowed + 50;
    let private = run(&asked.to_string()).await.expect("with-postgres runs");
    assert!(private.status.success(), "{private:?}");
    let said = String::from_utf8_lossy(&private.stdout).into_owned();
    assert_ne!(said.lines().next(), Some(at_hand.as_str()), "{said}");
    let granted: u32 = said.lines().nth(1).and_then(|line| line.parse().ok()).expect("its max_connections");
    assert!(granted >= asked, "the private server allows what was asked ({asked}): {said}");
    assert!(String::from_utf8_lossy(&private.stderr).contains("fewer than"), "{private:?}");
    std::fs::remove_dir_all(&folder).ok();
}
