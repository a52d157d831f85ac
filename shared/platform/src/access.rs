//! One record per call, taken when the call ends: its RED metrics and its
//! access-log line.
//!
//! A gRPC call ends with its trailers, not with its response headers: a
//! unary answer's status and a stream's close both come in the trailers
//! (only a trailers-only error carries its status in the headers). So the
//! server wraps each response body in [`Observed`], which reads the status
//! from the trailers as they pass and records the call then; a call whose
//! body is dropped before its end (the client went away, the deadline
//! passed) is recorded as CANCELLED.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http_body::{Body, Frame, SizeHint};
use tonic::Code;

/// A call being served, recorded once when it is dropped: the body ends, or
/// the call is abandoned.
pub struct CallRecord {
    server: &'static str,
    path: String,
    started: Instant,
    span: tracing::Span,
    code: Option<Code>,
    message: Option<String>,
    deadline: Option<Duration>,
}

impl CallRecord {
    /// A call to `path` that `server` started serving at `started`, in
    /// `span` (which carries its request id and tenant); counted as started.
    pub fn start(server: &'static str, path: String, started: Instant, span: tracing::Span) -> CallRecord {
        let (service, method) = crate::metrics::method_labels(&path);
        crate::metrics::record_started(server, service, method);
        CallRecord { server, path, started, span, code: None, message: None, deadline: None }
    }

    /// The call's time limit: abandoned after it, it is DEADLINE_EXCEEDED.
    pub fn within(mut self, deadline: Option<Duration>) -> CallRecord {
        self.deadline = deadline;
        self
    }

    /// The call's status is known (from trailers or a trailers-only answer).
    pub fn set_code(&mut self, code: Code) {
        self.code = Some(code);
    }

    /// The call's status as `headers` (or trailers) carry it, with its
    /// message when it failed.
    fn set_status(&mut self, headers: &http::HeaderMap) -> bool {
        let Some(code) = status_in(headers) else { return false };
        self.code = Some(code);
        if code != Code::Ok {
            self.message =
                headers.get("grpc-message").and_then(|value| value.to_str().ok()).map(crate::server::percent_decode);
        }
        true
    }
}

impl Drop for CallRecord {
    fn drop(&mut self) {
        let elapsed = self.started.elapsed();
        let timed_out = self.deadline.is_some_and(|deadline| elapsed >= deadline);
        let code = self.code.unwrap_or(if timed_out { Code::DeadlineExceeded } else { Code::Cancelled });
        let (service, method) = crate::metrics::method_labels(&self.path);
        crate::metrics::record_handled(self.server, service, method, code, elapsed);
        self.span.record("rpc.grpc.status_code", code as i32);
        let _entered = self.span.enter();
        let duration_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let code = crate::metrics::code_name(code);
        let refusal = self.message.as_deref();
        // Probes and reflection would drown the calls an operator looks for.
        if crate::server::is_public_path(&self.path) {
            tracing::debug!(code, duration_us, refusal, "call");
        } else {
            tracing::info!(code, duration_us, refusal, "call");
        }
    }
}

/// The time limit of a call: the sooner of the server's own and the
/// client's `grpc-timeout` (digits and a unit: H, M, S, m, u, n).
pub fn deadline(server: Option<Duration>, headers: &http::HeaderMap) -> Option<Duration> {
    let client = headers.get("grpc-timeout").and_then(|value| value.to_str().ok()).and_then(|value| {
        let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
        let amount: u64 = digits.parse().ok()?;
        Some(match unit {
            "H" => Duration::from_secs(amount.saturating_mul(3600)),
            "M" => Duration::from_secs(amount.saturating_mul(60)),
            "S" => Duration::from_secs(amount),
            "m" => Duration::from_millis(amount),
            "u" => Duration::from_micros(amount),
            "n" => Duration::from_nanos(amount),
            _ => return None,
        })
    });
    match (server, client) {
        (Some(server), Some(client)) => Some(server.min(client)),
        (one, other) => one.or(other),
    }
}

/// The gRPC status in `headers` (`grpc-status`), if they carry one.
pub fn status_in(headers: &http::HeaderMap) -> Option<Code> {
    let value = headers.get("grpc-status")?.to_str().ok()?.parse::<i32>().ok()?;
    Some(Code::from(value))
}

pin_project_lite::pin_project! {
    /// A response body that records its call when it ends: at its trailers,
    /// at its last frame, or when it is dropped unfinished.
    pub struct Observed<B> {
        #[pin]
        inner: B,
        record: Option<CallRecord>,
    }
}

impl<B> Observed<B> {
    /// `inner`, the body of an answer whose headers are `headers`, recorded
    /// by `record` when it ends.
    pub fn new(inner: B, headers: &http::HeaderMap, mut record: CallRecord) -> Observed<B> {
        record.set_status(headers);
        Observed { inner, record: Some(record) }
    }
}

impl<B: Body> Body for Observed<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(context);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref() {
                    // Trailers are a call's last frame.
                    if let Some(mut record) = this.record.take()
                        && !record.set_status(trailers)
                    {
                        record.set_code(Code::Unknown);
                    }
                }
            }
            Poll::Ready(Some(Err(_))) => {
                if let Some(mut record) = this.record.take() {
                    record.set_code(Code::Unknown);
                }
            }
            Poll::Ready(None) => {
                // Ended without trailers: a trailers-only answer keeps the
                // status of its headers; anything else is not a gRPC ending.
                if let Some(mut record) = this.record.take()
                    && record.code.is_none()
                {
                    record.set_code(Code::Unknown);
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body_util::{BodyExt, StreamBody};

    type Frames = StreamBody<futures::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, std::convert::Infallible>>>>;

    fn body(frames: Vec<Frame<Bytes>>) -> Frames {
        StreamBody::new(futures::stream::iter(frames.into_iter().map(Ok).collect::<Vec<_>>()))
    }

    fn trailers(code: Code) -> Frame<Bytes> {
        let mut map = http::HeaderMap::new();
        map.insert("grpc-status", http::HeaderValue::from(code as i32));
        Frame::trailers(map)
    }

    /// The `handled` samples (method, code) the one call `run` made.
    fn handled(path: &str, run: impl FnOnce(CallRecord)) -> Vec<(String, String)> {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            run(CallRecord::start("test", path.to_owned(), Instant::now(), tracing::Span::none()))
        });
        let text = handle.render();
        let label = |line: &str, name: &str| {
            let start = line.find(&format!("{name}=\"")).map(|at| at + name.len() + 2)?;
            line[start..].split('"').next().map(str::to_owned)
        };
        let started = text.lines().filter(|line| line.starts_with("bss_grpc_server_started_total{")).count();
        assert_eq!(started, 1, "one call started: {text}");
        text.lines()
            .filter(|line| line.starts_with("bss_grpc_server_handled_total{"))
            .map(|line| {
                assert!(line.ends_with(" 1"), "counted once: {line}");
                (label(line, "grpc_method").unwrap_or_default(), label(line, "grpc_code").unwrap_or_default())
            })
            .collect()
    }

    fn drain<B: Body + Unpin>(mut body: B) {
        futures::executor::block_on(async move { while body.frame().await.is_some() {} });
    }

    #[test]
    fn the_code_is_read_from_the_trailers_when_the_body_ends() {
        let seen = handled("/bss.accounts.v1.AccountService/GetAccount", |record| {
            let observed = Observed::new(
                body(vec![Frame::data(Bytes::from_static(b"x")), trailers(Code::NotFound)]),
                &http::HeaderMap::new(),
                record,
            );
            drain(observed);
        });
        assert_eq!(seen, vec![("GetAccount".to_owned(), "NotFound".to_owned())]);
    }

    #[test]
    fn a_trailers_only_answer_keeps_its_header_status_even_unpolled() {
        let mut headers = http::HeaderMap::new();
        headers.insert("grpc-status", http::HeaderValue::from(Code::InvalidArgument as i32));
        let seen = handled("/bss.accounts.v1.AccountService/CreateAccount", |record| {
            drop(Observed::new(body(vec![]), &headers, record))
        });
        assert_eq!(seen, vec![("CreateAccount".to_owned(), "InvalidArgument".to_owned())]);
    }

    #[test]
    fn a_stream_dropped_before_its_trailers_is_cancelled_and_counted_once() {
        let seen = handled("/bss.accounts.v1.AccountEventService/StreamEvents", |record| {
            let mut observed = Observed::new(
                body(vec![Frame::data(Bytes::from_static(b"a")), trailers(Code::Ok)]),
                &http::HeaderMap::new(),
                record,
            );
            futures::executor::block_on(observed.frame()).expect("a frame").expect("data");
            drop(observed);
        });
        assert_eq!(seen, vec![("StreamEvents".to_owned(), "Canceled".to_owned())]);
    }

    #[test]
    fn an_abandoned_call_with_no_answer_is_cancelled() {
        let seen = handled("/bss.accounts.v1.AccountService/ListAccounts", drop);
        assert_eq!(seen, vec![("ListAccounts".to_owned(), "Canceled".to_owned())]);
    }

    #[test]
    fn a_call_abandoned_past_its_deadline_exceeded_it() {
        let seen = handled("/bss.accounts.v1.AccountService/UpdateAccount", |record| {
            drop(record.within(Some(Duration::ZERO)))
        });
        assert_eq!(seen, vec![("UpdateAccount".to_owned(), "DeadlineExceeded".to_owned())]);
        let seen = handled("/bss.accounts.v1.AccountService/DeleteAccount", |record| {
            drop(record.within(Some(Duration::from_secs(60))))
        });
        assert_eq!(seen, vec![("DeleteAccount".to_owned(), "Canceled".to_owned())], "the client left before it");
    }

    #[test]
    fn the_deadline_is_the_sooner_of_the_servers_and_the_clients() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(deadline(Some(Duration::from_secs(10)), &headers), Some(Duration::from_secs(10)));
        headers.insert("grpc-timeout", http::HeaderValue::from_static("250m"));
        assert_eq!(deadline(Some(Duration::from_secs(10)), &headers), Some(Duration::from_millis(250)));
        assert_eq!(deadline(None, &headers), Some(Duration::from_millis(250)));
        headers.insert("grpc-timeout", http::HeaderValue::from_static("2M"));
        assert_eq!(deadline(Some(Duration::from_secs(10)), &headers), Some(Duration::from_secs(10)));
        headers.insert("grpc-timeout", http::HeaderValue::from_static("x"));
        assert_eq!(deadline(None, &headers), None, "a malformed timeout is none");
    }
}
