//! Trace context from the client continues through the gateway into the
//! service: the spans exported over OTLP (to an in-process receiver) form
//! one tree, client span -> gateway span -> service span, under one trace id.

use std::net::SocketAddr;
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

async fn start_receiver() -> (SocketAddr, Receiver) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let receiver = Receiver::default();
    let service = TraceServiceServer::new(receiver.clone());
    tokio::spawn(
        tonic::transport::Server::builder().add_service(service).serve_with_incoming(TcpListenerStream::new(listener)),
    );
    (address, receiver)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_runs_from_the_client_through_the_gateway_into_the_service() {
    let (collector, receiver) = start_receiver().await;
    let telemetry = bss_platform::telemetry::init(
        "bss-e2e",
        &TelemetryConfig { otlp_endpoint: Some(format!("http://{collector}")), ..TelemetryConfig::default() },
    )
    .expect("telemetry");
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
