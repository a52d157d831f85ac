//! Text Postgres cannot store never reaches SQL: a unary request whose
//! message holds a NUL character (U+0000) in any string field, at any depth,
//! is refused with INVALID_ARGUMENT naming each such field
//! (`order.lines[3].product`), before any handler runs.
//!
//! Every method of the contracts is known from the descriptor set the
//! reflection service serves; a new RPC is covered without any change here.
//! The check costs a scan for a zero byte; only a message holding one is
//! decoded against its descriptor (zero bytes also stand in empty
//! sub-messages and some numbers). Client-streaming calls are not buffered:
//! their handlers check each message's text with the shared input helpers.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use http_body_util::{BodyExt, Limited};
use prost_reflect::{DescriptorPool, DynamicMessage, MapKey, MessageDescriptor, Value};
use tower::{Layer, Service};

use crate::error::Violations;

/// The input message of every unary method of the contracts, by path
/// ("/bss.accounts.v1.AccountService/GetAccount").
#[derive(Clone, Debug)]
pub struct TextGuard {
    inputs: Arc<HashMap<String, MessageDescriptor>>,
    max_message_bytes: usize,
}

impl TextGuard {
    /// The guard of every unary method in `descriptor_set`; messages over
    /// `max_message_bytes` are refused as the server would refuse them.
    pub fn new(descriptor_set: &[u8], max_message_bytes: usize) -> TextGuard {
        let mut inputs = HashMap::new();
        match DescriptorPool::decode(descriptor_set) {
            Ok(pool) => {
                for service in pool.services() {
                    for method in service.methods().filter(|method| !method.is_client_streaming()) {
                        inputs.insert(format!("/{}/{}", service.full_name(), method.name()), method.input());
                    }
                }
            }
            Err(error) => tracing::error!(%error, "the contracts' descriptor set does not decode: text unchecked"),
        }
        TextGuard { inputs: Arc::new(inputs), max_message_bytes }
    }

    /// Whether calls to `path` are checked (unary methods of the contracts).
    pub fn guards(&self, path: &str) -> bool {
        self.inputs.contains_key(path)
    }

    /// The fields of a unary request body (gRPC-framed) holding a NUL
    /// character. A body that is not one uncompressed frame, or a message
    /// that does not decode, is left to the server to answer.
    pub fn check(&self, path: &str, body: &[u8]) -> Result<(), Violations> {
        let Some(descriptor) = self.inputs.get(path) else {
            return Ok(());
        };
        let Some((0, message)) = body.split_first().map(|(flag, rest)| (*flag, rest)) else {
            return Ok(());
        };
        let Some(message) = message.get(4..) else {
            return Ok(());
        };
        if !message.contains(&0) {
            return Ok(());
        }
        let Ok(decoded) = DynamicMessage::decode(descriptor.clone(), message) else {
            return Ok(());
        };
        let mut violations = Violations::new();
        nul_fields(&decoded, "", &mut violations);
        violations.into_result()
    }
}

/// Adds a violation for each string field of `message` (under `prefix`)
/// holding a NUL character.
fn nul_fields(message: &DynamicMessage, prefix: &str, violations: &mut Violations) {
    for (field, value) in message.fields() {
        let path = if prefix.is_empty() { field.name().to_owned() } else { format!("{prefix}.{}", field.name()) };
        nul_values(value, &path, violations);
    }
}

fn nul_values(value: &Value, path: &str, violations: &mut Violations) {
    const WHY: &str = crate::input::NUL_IN_TEXT;
    match value {
        Value::String(text) if text.contains('\0') => violations.add(path, WHY),
        Value::Message(message) => nul_fields(message, path, violations),
        Value::List(items) => {
            for (index, item) in items.iter().enumerate() {
                nul_values(item, &format!("{path}[{index}]"), violations);
            }
        }
        Value::Map(entries) => {
            for (key, item) in entries {
                let key = match key {
                    MapKey::String(key) => {
                        if key.contains('\0') {
                            violations.add(format!("{path}.key"), WHY);
                        }
                        key.replace('\0', "\\0")
                    }
                    other => format!("{other:?}"),
                };
                nul_values(item, &format!("{path}[{key}]"), violations);
            }
        }
        _ => {}
    }
}

/// The layer of [`TextGuard`] for a server's stack (after authentication).
#[derive(Clone, Debug)]
pub struct TextGuardLayer {
    guard: TextGuard,
}

impl TextGuardLayer {
    pub fn new(guard: TextGuard) -> TextGuardLayer {
        TextGuardLayer { guard }
    }
}

impl<S> Layer<S> for TextGuardLayer {
    type Service = TextGuardService<S>;
    fn layer(&self, inner: S) -> TextGuardService<S> {
        TextGuardService { inner, guard: self.guard.clone() }
    }
}

#[derive(Clone, Debug)]
pub struct TextGuardService<S> {
    inner: S,
    guard: TextGuard,
}

impl<S, ResBody> Service<Request<tonic::body::Body>> for TextGuardService<S>
where
    S: Service<Request<tonic::body::Body>, Response = Response<ResBody>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<ResBody>, Infallible>> + Send>>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, request: Request<tonic::body::Body>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        if !self.guard.guards(request.uri().path()) {
            return Box::pin(inner.call(request));
        }
        let guard = self.guard.clone();
        Box::pin(async move {
            const FRAME_HEADER: usize = 5;
            let (parts, body) = request.into_parts();
            let bytes = match Limited::new(body, guard.max_message_bytes + FRAME_HEADER).collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(error) if error.is::<http_body_util::LengthLimitError>() => {
                    let status = crate::error::with_reason(
                        tonic::Code::ResourceExhausted,
                        crate::error::PLATFORM_DOMAIN,
                        "MESSAGE_TOO_LARGE",
                        &format!("the request message is larger than {} bytes", guard.max_message_bytes),
                    );
                    return Ok(status.into_http());
                }
                Err(error) => return Ok(tonic::Status::cancelled(format!("reading the request: {error}")).into_http()),
            };
            if let Err(violations) = guard.check(parts.uri.path(), &bytes) {
                return Ok(crate::error::invalid_argument(&violations).into_http());
            }
            let body = tonic::body::Body::new(http_body_util::Full::new(bytes));
            inner.call(Request::from_parts(parts, body)).await
        })
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    fn framed(message: &impl Message) -> Vec<u8> {
        let encoded = message.encode_to_vec();
        let mut body = vec![0u8];
        body.extend((encoded.len() as u32).to_be_bytes());
        body.extend(encoded);
        body
    }

    fn guard() -> TextGuard {
        TextGuard::new(bss_proto::FILE_DESCRIPTOR_SET, 4 * 1024 * 1024)
    }

    #[test]
    fn every_unary_method_is_guarded_and_streams_are_not() {
        let guard = guard();
        assert!(guard.guards("/bss.accounts.v1.AccountService/GetAccount"));
        assert!(guard.guards("/bss.billing.v1.OrderService/PlaceOrder"));
        assert!(!guard.guards("/bss.accounts.v1.AccountService/ImportAccounts"), "client streaming");
        assert!(!guard.guards("/grpc.health.v1.Health/Check"));
    }

    #[test]
    fn a_nul_in_any_string_field_is_named_and_clean_text_passes() {
        use bss_proto::billing::{Order, OrderLine, PlaceOrderRequest};
        let guard = guard();
        let path = "/bss.billing.v1.OrderService/PlaceOrder";
        let line = |product: &str| OrderLine { product: product.to_owned(), ..OrderLine::default() };
        let request = PlaceOrderRequest {
            order: Some(Order {
                account_id: "a\0b".to_owned(),
                lines: vec![line("fine"), line(""), line("x\0")],
                ..Order::default()
            }),
            request_id: "\0".to_owned(),
            ..Default::default()
        };
        let violations = guard.check(path, &framed(&request)).expect_err("refused");
        let fields: Vec<&str> = violations.iter().map(|violation| violation.field.as_str()).collect();
        assert_eq!(fields, vec!["order.account_id", "order.lines[2].product", "request_id"]);
        let clean = PlaceOrderRequest {
            order: Some(Order { lines: vec![line("fine"), OrderLine::default()], ..Order::default() }),
            request_id: "r-1".to_owned(),
            ..Default::default()
        };
        assert!(guard.check(path, &framed(&clean)).is_ok(), "zero bytes of empty messages are not text");
        assert!(guard.check(path, &[0, 0, 0, 0, 3, 0xff, 0xff, 0xff]).is_ok(), "undecodable: the server answers");
    }
}
