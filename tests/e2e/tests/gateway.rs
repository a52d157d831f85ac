//! The gateway as clients meet it: one address for every contract, with
//! authentication, rate limits, deadlines, message size limits, request ids,
//! gRPC-Web, and mutual TLS towards the services.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use bss_e2e::TestApp;
use bss_gateway::rate_limit::{Quota, RateLimitConfig};
use bss_platform::auth::Claims;
use bss_platform::shutdown::Shutdown;
use bss_proto::accounts::account_service_client::AccountServiceClient;
use bss_proto::accounts::tenant_service_client::TenantServiceClient;
use bss_proto::accounts::*;
use bss_suite::SuiteTls;
use bss_testkit::authorized;
use http_body_util::{BodyExt, Full};
use prost::Message;
use prost::bytes::Bytes;
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_types::StatusExt;
use uuid::Uuid;

fn account(code: &str) -> Account {
    Account { code: code.to_owned(), name: format!("Company {code}"), ..Account::default() }
}

async fn health(channel: tonic::transport::Channel) -> i32 {
    HealthClient::new(channel)
        .check(HealthCheckRequest { service: String::new() })
        .await
        .expect("health answers")
        .into_inner()
        .status
}

#[tokio::test]
async fn reflection_lists_every_contract_and_health_is_serving() {
    use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;

    let suite = TestApp::start().await;
    assert_eq!(health(suite.gateway().await).await, ServingStatus::Serving as i32);

    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = ServerReflectionClient::new(suite.gateway().await)
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .expect("reflection v1alpha answers without a token")
        .into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) =
        responses.message().await.expect("message").expect("a response").message_response
    else {
        panic!("expected a service list");
    };
    let mut listed: Vec<String> = list.service.into_iter().map(|service| service.name).collect();
    listed.sort();
    let mut expected = bss_gateway::routing::contract_services();
    expected.push("grpc.health.v1.Health".to_owned());
    expected.sort();
    assert_eq!(listed, expected);
}

#[tokio::test]
async fn calls_need_a_valid_token_before_they_are_forwarded() {
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Gateway Books", "EUR").await;
    let mut accounts = AccountServiceClient::new(suite.gateway().await);

    let created = accounts
        .create_account(authorized(
            CreateAccountRequest { account: Some(account("OK1")), request_id: String::new() },
            &admin,
        ))
        .await
        .expect("a valid token is forwarded")
        .into_inner();
    assert_eq!(created.account.expect("account").tenant_id, tenant_id.to_string());

    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    let claims = |mutate: &dyn Fn(&mut Claims)| {
        let mut claims = Claims {
            sub: "user".to_owned(),
            tenant: Some(tenant_id.to_string()),
            roles: vec!["tenant_admin".to_owned()],
            sales_rep_id: None,
            user_id: None,
            iss: bss_testkit::TEST_ISSUER.to_owned(),
            aud: bss_testkit::TEST_AUDIENCE.into(),
            exp: now + 600,
            nbf: now,
            iat: now,
        };
        mutate(&mut claims);
        bss_testkit::issuer().sign(&claims)
    };
    let none_alg = {
        use base64::Engine;
        let encode = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let body = serde_json::json!({"sub": "user", "tenant": tenant_id.to_string(), "roles": ["tenant_admin"],
            "iss": bss_testkit::TEST_ISSUER, "aud": bss_testkit::TEST_AUDIENCE, "exp": now + 600, "nbf": now});
        format!("{}.{}.", encode(br#"{"alg":"none","typ":"JWT"}"#), encode(body.to_string().as_bytes()))
    };
    let refused = [
        ("expired", claims(&|claims| claims.exp = now - 60)),
        ("not yet valid", claims(&|claims| claims.nbf = now + 600)),
        ("wrong audience", claims(&|claims| claims.aud = "another-system".into())),
        ("wrong issuer", claims(&|claims| claims.iss = "evil".to_owned())),
        ("alg none", none_alg),
        ("garbage", "not-a-token".to_owned()),
    ];
    for (case, token) in refused {
        let request = CreateAccountRequest {
            account: Some(account(&format!("X-{}", case.replace(' ', "-")))),
            request_id: String::new(),
        };
        let status = accounts.create_account(authorized(request, &token)).await.expect_err(case);
        assert_eq!(status.code(), Code::Unauthenticated, "{case}");
    }
    let status = accounts
        .create_account(CreateAccountRequest { account: Some(account("NOAUTH")), request_id: String::new() })
        .await
        .expect_err("no token");
    assert_eq!(status.code(), Code::Unauthenticated);

    let listed =
        accounts.list_accounts(authorized(ListAccountsRequest::default(), &admin)).await.expect("list").into_inner();
    assert_eq!(listed.accounts.len(), 1, "only the authenticated call created an account");
}

#[tokio::test]
async fn the_request_id_is_returned_and_made_when_absent() {
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Ids", "EUR").await;
    let mut tenants = TenantServiceClient::new(suite.gateway().await);

    let mut request = authorized(GetTenantRequest { id: tenant_id.to_string() }, &admin);
    request.metadata_mut().insert("x-request-id", "client-chosen-42".parse().expect("ascii"));
    let response = tenants.get_tenant(request).await.expect("tenant");
    assert_eq!(response.metadata().get("x-request-id").expect("echoed"), "client-chosen-42");

    let response =
        tenants.get_tenant(authorized(GetTenantRequest { id: tenant_id.to_string() }, &admin)).await.expect("tenant");
    let made = response.metadata().get("x-request-id").expect("made").to_str().expect("ascii");
    assert!(Uuid::parse_str(made).is_ok(), "{made}");
}

#[tokio::test]
async fn a_tenant_over_its_rate_limit_is_told_when_to_retry() {
    let suite = TestApp::start_with(|config| {
        config.rate_limit =
            RateLimitConfig { default: Quota { requests_per_second: 1, burst: 3 }, tenants: BTreeMap::new() };
    })
    .await;
    let (tenant_id, admin) = suite.tenant("Busy", "EUR").await;
    let (other_id, other_admin) = suite.tenant("Quiet", "EUR").await;
    let mut tenants = TenantServiceClient::new(suite.gateway().await);

    for _ in 0..3 {
        tenants
            .get_tenant(authorized(GetTenantRequest { id: tenant_id.to_string() }, &admin))
            .await
            .expect("within the burst");
    }
    let status = tenants
        .get_tenant(authorized(GetTenantRequest { id: tenant_id.to_string() }, &admin))
        .await
        .expect_err("over the limit");
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(status.get_details_error_info().expect("error info").reason, "RATE_LIMITED");
    let retry = status.get_details_retry_info().expect("retry info").retry_delay.expect("a delay");
    assert!(retry > Duration::ZERO && retry <= Duration::from_secs(1), "{retry:?}");

    tenants
        .get_tenant(authorized(GetTenantRequest { id: other_id.to_string() }, &other_admin))
        .await
        .expect("another tenant has its own budget");
}

#[tokio::test]
async fn deadlines_and_message_sizes_are_enforced_at_the_gateway() {
    let suite = TestApp::start().await;
    let (_, admin) = suite.tenant("Limits", "EUR").await;
    let mut accounts = AccountServiceClient::new(suite.gateway().await);

    // The deadline travels as grpc-timeout; the client itself does not wait
    // for it, so it is the gateway that must enforce it.
    let mut hurried = authorized(ListAccountsRequest::default(), &admin);
    hurried.metadata_mut().insert("grpc-timeout", "1n".parse().expect("ascii"));
    let status = accounts.list_accounts(hurried).await.expect_err("no time at all");
    // tonic's server answers an expired grpc-timeout with CANCELLED ("Timeout
    // expired"); clients in other languages report DEADLINE_EXCEEDED from
    // their own timer. Either way the gateway ended the call at the deadline.
    assert!(matches!(status.code(), Code::Cancelled | Code::DeadlineExceeded), "{status:?}");
    assert!(status.message().to_lowercase().contains("timeout") || status.message().contains("deadline"), "{status:?}");

    let huge = Account { custom_fields: [("blob".to_owned(), "x".repeat(5 * 1024 * 1024))].into(), ..account("HUGE") };
    let status = accounts
        .create_account(authorized(CreateAccountRequest { account: Some(huge), request_id: String::new() }, &admin))
        .await
        .expect_err("too large");
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(status.get_details_error_info().expect("error info").reason, "MESSAGE_TOO_LARGE");
}

/// One gRPC-Web frame: flag byte, big-endian length, payload.
fn grpc_web_frame(flag: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![flag];
    frame.extend((payload.len() as u32).to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

#[tokio::test]
async fn a_browser_can_call_through_grpc_web() {
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Web Books", "JPY").await;
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let body = grpc_web_frame(0, &GetTenantRequest { id: tenant_id.to_string() }.encode_to_vec());
    let request =
        http::Request::post(format!("http://{}/bss.accounts.v1.TenantService/GetTenant", suite.endpoints.gateway))
            .header("content-type", "application/grpc-web+proto")
            .header("x-grpc-web", "1")
            .header("authorization", format!("Bearer {admin}"))
            .body(Full::new(Bytes::from(body)))
            .expect("request");
    let response = client.request(request).await.expect("HTTP/1.1 answer");
    assert_eq!(response.status(), http::StatusCode::OK);
    let bytes = response.into_body().collect().await.expect("body").to_bytes();

    let mut rest = &bytes[..];
    let mut message = None;
    let mut trailers = String::new();
    while rest.len() >= 5 {
        let length = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        let payload = &rest[5..5 + length];
        if rest[0] & 0x80 == 0 {
            message = Some(GetTenantResponse::decode(payload).expect("a GetTenantResponse"));
        } else {
            trailers = String::from_utf8_lossy(payload).into_owned();
        }
        rest = &rest[5 + length..];
    }
    assert!(trailers.contains("grpc-status:0"), "{trailers}");
    assert_eq!(message.expect("a message").tenant.expect("tenant").default_currency, "JPY");
}

/// A CA, a server certificate for "localhost" and a client certificate, as
/// PEM files in a temporary folder.
fn certificates(folder: &std::path::Path) -> SuiteTls {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("key")).expect("ca");
    let leaf = |names: Vec<String>| {
        let key = KeyPair::generate().expect("key");
        let cert = CertificateParams::new(names).expect("params").signed_by(&key, &ca).expect("signed");
        (cert.pem(), key.serialize_pem())
    };
    let (server_cert, server_key) = leaf(vec!["localhost".to_owned()]);
    let (client_cert, client_key) = leaf(vec!["gateway.bss".to_owned()]);
    let write = |name: &str, pem: &str| {
        let path = folder.join(name);
        std::fs::write(&path, pem).expect("write pem");
        path
    };
    SuiteTls {
        ca_file: write("ca.pem", &ca.pem()),
        server_cert_file: write("server.pem", &server_cert),
        server_key_file: write("server.key", &server_key),
        client_cert_file: write("client.pem", &client_cert),
        client_key_file: write("client.key", &client_key),
        server_name: "localhost".to_owned(),
    }
}

#[tokio::test]
async fn the_gateway_reaches_the_services_over_mutual_tls() {
    let folder = std::env::temp_dir().join(format!("bss-tls-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&folder).expect("folder");
    let tls = certificates(&folder);
    let suite = TestApp::start_with(|config| config.tls = Some(tls.clone())).await;

    let (tenant_id, admin) = suite.tenant("TLS Books", "EUR").await;
    let mut tenants = TenantServiceClient::new(suite.gateway().await);
    tenants
        .get_tenant(authorized(GetTenantRequest { id: tenant_id.to_string() }, &admin))
        .await
        .expect("through the gateway, over mutual TLS");
    assert_eq!(health(suite.gateway().await).await, ServingStatus::Serving as i32);

    // Around the gateway: plaintext is refused, and so is TLS without a
    // client certificate.
    let plaintext = tonic::transport::Endpoint::from_shared(format!("http://{}", suite.endpoints.accounts))
        .expect("uri")
        .connect()
        .await;
    if let Ok(channel) = plaintext {
        let mut direct = TenantServiceClient::new(channel);
        assert!(direct.get_tenant(authorized(GetTenantRequest { id: tenant_id.to_string() }, &admin)).await.is_err());
    }
    let ca = tonic::transport::Certificate::from_pem(std::fs::read(&tls.ca_file).expect("ca"));
    let anonymous =
        tonic::transport::Endpoint::from_shared(format!("https://localhost:{}", suite.endpoints.accounts.port()))
            .expect("uri")
            .tls_config(tonic::transport::ClientTlsConfig::new().ca_certificate(ca))
            .expect("tls")
            .connect()
            .await;
    if let Ok(channel) = anonymous {
        let mut direct = TenantServiceClient::new(channel);
        assert!(direct.get_tenant(authorized(GetTenantRequest { id: tenant_id.to_string() }, &admin)).await.is_err());
    }
    std::fs::remove_dir_all(&folder).ok();
}

/// The health of one service name at the gateway.
async fn health_of(channel: tonic::transport::Channel, service: &str) -> i32 {
    let request = HealthCheckRequest { service: service.to_owned() };
    HealthClient::new(channel).check(request).await.expect("health answers").into_inner().status
}

/// One context down does not take the gateway down: the gateway stays
/// SERVING (so its pods stay in the load balancer), reports each context's
/// services as their backend answers, serves the contexts that are up, and
/// refuses a down context's calls at once (UNAVAILABLE CONTEXT_UNAVAILABLE,
/// not after the deadline, even when the backend hangs); a backend that
/// comes back is served again.
#[tokio::test]
async fn one_context_down_leaves_the_gateway_ready_and_its_calls_refused_at_once() {
    use bss_proto::credit::GetCreditStatusRequest;
    use bss_proto::credit::credit_service_client::CreditServiceClient;
    use bss_proto::pricing::ListProductsRequest;
    use bss_proto::pricing::catalog_service_client::CatalogServiceClient;

    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Partial Books", "EUR").await;
    // Credit: nothing listens. Pricing: a port that accepts connections and
    // answers nothing (a hung process) until a pricing service starts on it.
    let closed: SocketAddr = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr");
    let hung = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("port");
    let pricing_address = hung.local_addr().expect("addr");
    let backends = BTreeMap::from([
        ("accounts".to_owned(), format!("http://{}", suite.endpoints.accounts)),
        ("pricing".to_owned(), format!("http://{pricing_address}")),
        ("credit".to_owned(), format!("http://{closed}")),
    ]);
    let config =
        bss_gateway::GatewayConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), bss_testkit::auth_config(), backends);
    let shutdown = Shutdown::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("port");
    let gateway = bss_gateway::App::build(&config, listener, shutdown.clone()).await.expect("gateway starts");
    let address = gateway.local_addr().expect("bound");
    tokio::spawn(gateway.run_until_stopped());
    let channel = bss_testkit::channel(address).await;

    // Its own health, and each context's once the gateway asked them.
    assert_eq!(health(channel.clone()).await, ServingStatus::Serving as i32, "the gateway stays ready");
    let serving = |status: i32| status == ServingStatus::Serving as i32;
    let mut seen = (false, false, false);
    for _ in 0..100 {
        seen = (
            serving(health_of(channel.clone(), "bss.accounts.v1.AccountService").await),
            serving(health_of(channel.clone(), "bss.pricing.v1.CatalogService").await),
            serving(health_of(channel.clone(), "bss.credit.v1.CreditService").await),
        );
        if seen == (true, false, false) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(seen, (true, false, false), "accounts serving, pricing (hung) and credit (down) not");

    // Accounts is served; pricing and credit are refused at once, each
    // naming its context.
    let read = GetTenantRequest { id: tenant_id.to_string() };
    TenantServiceClient::new(channel.clone()).get_tenant(authorized(read, &admin)).await.expect("accounts served");
    let products = || authorized(ListProductsRequest::default(), &admin);
    let refused = CatalogServiceClient::new(channel.clone()).list_products(products()).await.expect_err("hung");
    assert_eq!((refused.code(), bss_testkit::reason(&refused)), (Code::Unavailable, "CONTEXT_UNAVAILABLE".to_owned()));
    assert!(refused.message().contains("pricing"), "{refused:?}");
    let status = GetCreditStatusRequest { account_id: Uuid::now_v7().to_string() };
    let refused = CreditServiceClient::new(channel.clone()).get_credit_status(authorized(status, &admin)).await;
    let refused = refused.expect_err("down");
    assert_eq!((refused.code(), bss_testkit::reason(&refused)), (Code::Unavailable, "CONTEXT_UNAVAILABLE".to_owned()));
    assert!(refused.message().contains("credit"), "{refused:?}");
    assert_eq!(health(channel.clone()).await, ServingStatus::Serving as i32, "and still ready");

    // Pricing starts on its port: the gateway serves it again.
    let pricing_config = bss_pricing::PricingConfig {
        accounts_url: Some(format!("http://{}", suite.endpoints.accounts)),
        ..bss_pricing::PricingConfig::new(bss_testkit::platform_config(suite.database_url()))
    };
    let pricing = bss_pricing::App::build(&pricing_config, hung, shutdown.clone()).await.expect("pricing starts");
    tokio::spawn(pricing.run_until_stopped());
    let mut back = false;
    for _ in 0..100 {
        back = serving(health_of(channel.clone(), "bss.pricing.v1.CatalogService").await);
        if back {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "pricing reported SERVING again");
    CatalogServiceClient::new(channel).list_products(products()).await.expect("pricing served again");
    shutdown.trigger();
}

/// The gateway binary serves on a thread per core, each with a listener of
/// its own on one port: calls over many connections (spread over the
/// threads by the kernel) are all forwarded, a tenant's rate limit is one
/// for the whole gateway whichever thread its calls reach, and a shutdown
/// stops every thread.
#[tokio::test]
async fn a_gateway_on_several_threads_serves_one_port_with_one_rate_limit() {
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Threaded", "EUR").await;
    let peer = |address: SocketAddr| format!("http://{address}");
    let backends = BTreeMap::from([
        ("accounts".to_owned(), peer(suite.endpoints.accounts)),
        ("pricing".to_owned(), peer(suite.endpoints.pricing)),
    ]);
    let mut config =
        bss_gateway::GatewayConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), bss_testkit::auth_config(), backends);
    const BURST: u32 = 6;
    config.rate_limit =
        RateLimitConfig { default: Quota { requests_per_second: 1, burst: BURST }, tenants: BTreeMap::new() };
    config.server.drain_delay_ms = 0;
    let shutdown = Shutdown::new();
    let gateway = bss_gateway::Threads::start(&config, 2, shutdown.clone()).expect("the gateway starts");
    let address = gateway.local_addr();
    assert_ne!(address.port(), 0);

    // Twice the burst, each call on a connection of its own.
    let began = std::time::Instant::now();
    let mut answered = 0;
    let mut limited = 0;
    for _ in 0..2 * BURST {
        let mut tenants = TenantServiceClient::new(bss_testkit::channel(address).await);
        match tenants.get_tenant(authorized(GetTenantRequest { id: tenant_id.to_string() }, &admin)).await {
            Ok(answer) => {
                assert_eq!(answer.into_inner().tenant.expect("tenant").id, tenant_id.to_string());
                answered += 1;
            }
            Err(status) => {
                assert_eq!(status.get_details_error_info().expect("error info").reason, "RATE_LIMITED");
                limited += 1;
            }
        }
    }
    // One token comes back each second, so a slow run may see more; a
    // budget per thread would answer all of them.
    let refilled = u32::try_from(began.elapsed().as_secs()).expect("seconds") + 1;
    assert!(
        answered >= BURST && answered <= BURST + refilled && answered < 2 * BURST,
        "{answered} answered, {limited} limited in {:?}: one budget",
        began.elapsed()
    );

    shutdown.trigger();
    tokio::task::spawn_blocking(move || gateway.join()).await.expect("joined").expect("every thread stopped cleanly");
    assert!(tokio::net::TcpStream::connect(address).await.is_err(), "nothing listens any more");
}
