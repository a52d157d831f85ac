//! Malformed input, as a test: for every unary RPC the gateway serves
//! (found by reflection, so a new RPC is covered without editing this
//! file), requests with random field values built from the message
//! descriptors (hostile texts, ids of real and unknown things, numbers at
//! their limits, unknown enum values, long lists), and random bytes. No
//! answer may be INTERNAL, UNKNOWN, UNAVAILABLE (which invites endless
//! retries), UNIMPLEMENTED (a reflected RPC the gateway cannot route) or
//! DEADLINE_EXCEEDED, and no call may drop its connection or hang.
//!
//! `make test` runs `BSS_FUZZ_CASES` (default 6) requests per RPC with a
//! fixed seed; `make fuzz` runs many more with a fresh seed. A failure
//! prints the seed: `BSS_FUZZ_SEED=<seed>` replays it.

#![allow(clippy::expect_used)]

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bss_e2e::TestApp;
use bss_e2e::raw::Raw;
use bss_gateway::rate_limit::Quota;
use bss_platform::auth::Role;
use futures::StreamExt;
use prost::Message;
use prost::bytes::Bytes;
use prost_reflect::{DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor, Value};
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

/// Calls in flight at once.
const CONCURRENCY: usize = 8;
/// A call not answered in this long hangs (the gateway's own deadline is
/// shorter, so a slow backend shows as DEADLINE_EXCEEDED first).
const HANG: Duration = Duration::from_secs(20);

/// SplitMix64: small, seedable, the same sequence on every machine.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Ids of things that exist, so some calls reach deep into the services.
struct Known {
    ids: Vec<String>,
}

fn random_uuid(random: &mut Random) -> String {
    uuid::Uuid::from_u64_pair(random.next(), random.next()).to_string()
}

fn text(random: &mut Random, field: &FieldDescriptor, known: &Known) -> String {
    let name = field.name();
    let ids = || known.ids.clone();
    let choice = random.below(10);
    if (name == "id" || name.ends_with("_id") || name.ends_with("_ids")) && choice < 5 {
        let mut candidates = ids();
        candidates.push(random_uuid(random));
        return random.pick(&candidates).clone();
    }
    if name.contains("date") && choice < 5 {
        return random
            .pick(&["2026-12-01", "2026-02-30", "0001-01-01", "9999-12-31", "2026-13-01", "today"])
            .to_string();
    }
    if (name.contains("amount") || name.contains("value") || name.contains("quantity") || name.contains("price"))
        && choice < 5
    {
        return random
            .pick(&[
                "0",
                "1",
                "-1",
                "10.005",
                "0.0000000001",
                "79228162514264337593543950335",
                "1e3",
                "NaN",
                " 5",
                "1,5",
            ])
            .to_string();
    }
    if name.contains("currency") && choice < 5 {
        return random.pick(&["EUR", "USD", "eur", "XXX", "EURO", ""]).to_string();
    }
    match random.below(16) {
        0 => String::new(),
        1 => "a".to_owned(),
        2 => "x".repeat(300),
        3 => "é".repeat(5_000),
        4 => random_uuid(random),
        5 => "a\u{0}b".to_owned(),
        6 => "'; DROP TABLE accounts; --".to_owned(),
        7 => "%_\\".to_owned(),
        8 => "🙂\u{202e}\u{feff}".to_owned(),
        9 => "-1".to_owned(),
        10 => "99999999999999999999999999999.99".to_owned(),
        11 => "../../etc/passwd".to_owned(),
        12 => " ".to_owned(),
        13 => random.pick(&known.ids).clone(),
        14 => "\u{7f}\u{1}\t\n".to_owned(),
        _ => format!("v{}", random.next()),
    }
}

fn scalar(random: &mut Random, field: &FieldDescriptor, known: &Known, depth: usize) -> Value {
    let any = random.next();
    match field.kind() {
        Kind::Bool => Value::Bool(random.chance(50)),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            Value::I32(*random.pick(&[0, 1, -1, 20, 500, 501, i32::MAX, i32::MIN, any as i32]))
        }
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
            Value::I64(*random.pick(&[0, 1, -1, 1_000, i64::MAX, i64::MIN, any as i64]))
        }
        Kind::Uint32 | Kind::Fixed32 => Value::U32(*random.pick(&[0, 1, u32::MAX, any as u32])),
        Kind::Uint64 | Kind::Fixed64 => Value::U64(*random.pick(&[0, 1, u64::MAX, any])),
        Kind::Float => Value::F32(*random.pick(&[0.0, -1.0, f32::NAN, f32::INFINITY, 1e30])),
        Kind::Double => Value::F64(*random.pick(&[0.0, -1.0, f64::NAN, f64::INFINITY, 1e300])),
        Kind::String => Value::String(text(random, field, known)),
        Kind::Bytes => {
            Value::Bytes(Bytes::from((0..random.below(64)).map(|_| random.next() as u8).collect::<Vec<_>>()))
        }
        Kind::Enum(descriptor) => {
            let numbers: Vec<i32> = descriptor.values().map(|value| value.number()).collect();
            if random.chance(15) {
                Value::EnumNumber(*random.pick(&[99, -1, 1_000_000]))
            } else {
                Value::EnumNumber(*random.pick(&numbers))
            }
        }
        Kind::Message(descriptor) => Value::Message(message(random, &descriptor, known, depth + 1)),
    }
}

/// A message with random values in some of its fields (one per oneof).
fn message(random: &mut Random, descriptor: &MessageDescriptor, known: &Known, depth: usize) -> DynamicMessage {
    let mut message = DynamicMessage::new(descriptor.clone());
    if depth > 3 {
        return message;
    }
    let mut oneofs_set = Vec::new();
    for field in descriptor.fields() {
        if random.chance(35) {
            continue;
        }
        if let Some(oneof) = field.containing_oneof() {
            if oneofs_set.contains(&oneof.name().to_owned()) {
                continue;
            }
            oneofs_set.push(oneof.name().to_owned());
        }
        let value = if field.is_map() {
            let Kind::Message(entry) = field.kind() else { continue };
            let (key_field, value_field) = (entry.map_entry_key_field(), entry.map_entry_value_field());
            let mut map = HashMap::new();
            for _ in 0..random.below(4) {
                let key = match scalar(random, &key_field, known, depth) {
                    Value::String(text) => MapKey::String(text),
                    Value::I32(number) => MapKey::I32(number),
                    Value::I64(number) => MapKey::I64(number),
                    Value::U32(number) => MapKey::U32(number),
                    Value::U64(number) => MapKey::U64(number),
                    Value::Bool(flag) => MapKey::Bool(flag),
                    _ => continue,
                };
                map.insert(key, scalar(random, &value_field, known, depth));
            }
            Value::Map(map)
        } else if field.is_list() {
            // A long list now and then, only of scalars near the top.
            let long = depth == 0 && !matches!(field.kind(), Kind::Message(_)) && random.chance(5);
            let count = if long { 300 } else { random.below(4) };
            Value::List((0..count).map(|_| scalar(random, &field, known, depth)).collect())
        } else {
            scalar(random, &field, known, depth)
        };
        message.set_field(&field, value);
    }
    message
}

/// A message's set fields, for a failure report (a DynamicMessage's own
/// Debug prints its whole descriptor pool).
fn show(message: &DynamicMessage) -> String {
    let fields: Vec<String> =
        message.fields().map(|(field, value)| format!("{}: {}", field.name(), show_value(value))).collect();
    format!("{{{}}}", fields.join(", "))
}

fn show_value(value: &Value) -> String {
    match value {
        Value::Message(message) => show(message),
        Value::List(items) => format!("[{} items: {}]", items.len(), items.first().map(show_value).unwrap_or_default()),
        Value::Map(entries) => format!("{{{} entries}}", entries.len()),
        Value::String(text) => format!("{:?}", text.chars().take(40).collect::<String>()),
        other => format!("{other:?}"),
    }
}

/// One question to the reflection service, and its answer.
async fn ask(client: &mut ServerReflectionClient<Channel>, request: MessageRequest) -> Option<MessageResponse> {
    let request = ServerReflectionRequest { host: String::new(), message_request: Some(request) };
    let mut answers =
        client.server_reflection_info(futures::stream::iter([request])).await.expect("reflection").into_inner();
    answers.message().await.expect("an answer").expect("an answer").message_response
}

/// Every contract the gateway reflects, as a descriptor pool, with the
/// names of its services.
async fn reflected(gateway: Channel) -> (DescriptorPool, Vec<String>) {
    let mut client = ServerReflectionClient::new(gateway);
    let Some(MessageResponse::ListServicesResponse(list)) =
        ask(&mut client, MessageRequest::ListServices(String::new())).await
    else {
        panic!("a service list");
    };
    let services: Vec<String> = list.service.into_iter().map(|service| service.name).collect();
    // The file of each service, then every file they import, by name, as
    // grpcurl asks for them.
    let mut files: BTreeMap<String, prost_types::FileDescriptorProto> = BTreeMap::new();
    let mut wanted: Vec<MessageRequest> =
        services.iter().map(|service| MessageRequest::FileContainingSymbol(service.clone())).collect();
    while let Some(request) = wanted.pop() {
        let shown = format!("{request:?}");
        let Some(MessageResponse::FileDescriptorResponse(found)) = ask(&mut client, request).await else {
            panic!("no file for {shown}");
        };
        for bytes in found.file_descriptor_proto {
            let file = prost_types::FileDescriptorProto::decode(bytes.as_slice()).expect("a file descriptor");
            for import in &file.dependency {
                if !files.contains_key(import) {
                    wanted.push(MessageRequest::FileByFilename(import.clone()));
                }
            }
            files.insert(file.name().to_owned(), file);
        }
    }
    // Each file after the files it imports.
    let mut pool = DescriptorPool::new();
    while !files.is_empty() {
        let ready: Vec<String> = files
            .values()
            .filter(|file| file.dependency.iter().all(|import| pool.get_file_by_name(import).is_some()))
            .map(|file| file.name().to_owned())
            .collect();
        assert!(!ready.is_empty(), "reflection left out an imported file: {:?}", files.keys().collect::<Vec<_>>());
        for name in ready {
            let file = files.remove(&name).expect("a file");
            pool.add_file_descriptor_proto(file).expect("a consistent file");
        }
    }
    (pool, services)
}

/// `cases` requests for each unary RPC of `services`: the first random
/// bytes, the others random messages; each with one of `tokens`.
fn generate(
    pool: &DescriptorPool,
    services: &[String],
    known: &Known,
    tokens: &[String],
    seed: u64,
    cases: usize,
) -> Vec<(String, Vec<u8>, String, String)> {
    let mut random = Random(seed);
    let mut calls = Vec::new();
    for service in services {
        if service.starts_with("grpc.") {
            continue;
        }
        let descriptor = pool.get_service_by_name(service).expect("a reflected service");
        for method in descriptor.methods() {
            if method.is_client_streaming() || method.is_server_streaming() {
                continue;
            }
            let path = format!("/{service}/{}", method.name());
            for case in 0..cases {
                let (body, shown) = if case == 0 {
                    let bytes: Vec<u8> = (0..random.below(200)).map(|_| random.next() as u8).collect();
                    let shown = format!("{} random bytes", bytes.len());
                    (bytes, shown)
                } else {
                    let request = message(&mut random, &method.input(), known, 0);
                    let shown: String = show(&request).chars().take(600).collect();
                    (request.encode_to_vec(), shown)
                };
                let token = random.pick(tokens).clone();
                calls.push((path.clone(), body, shown, token));
            }
        }
    }
    calls
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|value| value.parse().ok()).unwrap_or(default)
}

#[tokio::test]
async fn no_unary_rpc_answers_random_input_with_a_server_error_or_hangs() {
    // No rate limit: every call should reach the services.
    let suite = TestApp::start_with(|config| {
        config.rate_limit.default = Quota { requests_per_second: 1_000_000, burst: 1_000_000 };
    })
    .await;
    let gateway = suite.gateway().await;
    let (tenant, admin) = suite.tenant("Fuzz Books", "EUR").await;
    let account = bss_e2e::create_account(&gateway, &admin, bss_e2e::ordering_account("FUZZ1")).await;
    let product = bss_e2e::create_product(&gateway, &admin, "FUZZ", "10.00", "tools").await;
    // Not the tenant's own id: a platform admin's SuspendTenant would
    // leave the rest of the run refused.
    let known = Known { ids: vec![account, product, "WIDGET".to_owned(), "FUZZ".to_owned()] };
    // Mostly a tenant admin, who may call nearly everything, so most calls
    // reach the services' own checks.
    let tokens = [
        admin.clone(),
        admin.clone(),
        admin.clone(),
        bss_testkit::platform_admin_token(),
        bss_testkit::sales_rep_token(tenant, "rep-1"),
        bss_testkit::token(tenant, &[Role::BillingClerk]),
    ];

    let seed = env_number("BSS_FUZZ_SEED", 0xB55);
    let cases = env_number("BSS_FUZZ_CASES", 6) as usize;
    let (pool, services) = reflected(gateway.clone()).await;
    // Built on a thread of its own: encoding deep random messages needs
    // more stack than a test thread has in a debug build.
    let calls = std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(move || generate(&pool, &services, &known, &tokens, seed, cases))
        .expect("a thread")
        .join()
        .expect("the requests");
    let total = calls.len();
    assert!(total > 100 * cases, "the gateway reflects every contract ({total} calls)");

    let answers: Vec<(Option<Code>, Option<String>)> = futures::stream::iter(calls)
        .map(|(path, body, shown, token)| {
            let gateway = gateway.clone();
            async move {
                let mut grpc = tonic::client::Grpc::new(gateway);
                let mut request = bss_testkit::authorized(body, &token);
                request.set_timeout(Duration::from_secs(10));
                let answer = tokio::time::timeout(HANG, async {
                    grpc.ready().await.map_err(|error| Status::unavailable(format!("not ready: {error}")))?;
                    let path = path.parse().expect("a path");
                    grpc.unary(request, path, Raw).await
                })
                .await;
                let (code, failure) = match answer {
                    Err(_) => (None, Some(format!("hung past {HANG:?}"))),
                    Ok(Ok(_)) => (Some(Code::Ok), None),
                    Ok(Err(status)) if std::error::Error::source(&status).is_some() => {
                        (None, Some(format!("connection failed: {status:?}")))
                    }
                    Ok(Err(status)) => match status.code() {
                        Code::Internal
                        | Code::Unknown
                        | Code::Unavailable
                        | Code::Unimplemented
                        | Code::DeadlineExceeded
                        | Code::DataLoss
                        | Code::Cancelled => {
                            (Some(status.code()), Some(format!("{:?}: {}", status.code(), status.message())))
                        }
                        code => (Some(code), None),
                    },
                };
                (code, failure.map(|failure| format!("{path} {failure}\n    request: {shown}")))
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let mut codes: BTreeMap<String, usize> = BTreeMap::new();
    for (code, _) in &answers {
        *codes.entry(format!("{code:?}")).or_default() += 1;
    }
    let failures: Vec<String> = answers.into_iter().filter_map(|(_, failure)| failure).collect();
    eprintln!("answers: {codes:?}");
    // Most calls got past the gateway's checks into a service: the
    // services' own answers are what this test is about.
    let turned_away = codes.get("Some(Unauthenticated)").copied().unwrap_or(0)
        + codes.get("Some(PermissionDenied)").copied().unwrap_or(0);
    assert!(turned_away * 2 < total, "most calls reach the services: {codes:?}");
    eprintln!("{total} calls with seed {seed}: {} failed", failures.len());
    assert!(
        failures.is_empty(),
        "{} of {total} calls failed (replay with BSS_FUZZ_SEED={seed}):\n{}",
        failures.len(),
        failures.iter().take(25).cloned().collect::<Vec<_>>().join("\n")
    );
}
