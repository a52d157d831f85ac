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
use std::time::Instant;

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
}

impl CallRecord {
    /// A call to `path` that `server` started serving at `started`, in
    /// `span` (which carries its request id and tenant); counted as started.
    pub fn start(server: &'static str, path: String, started: Instant, span: tracing::Span) -> CallRecord {
        let (service, method) = crate::server::split_path(&path);
        crate::metrics::record_started(server, service, method);
        CallRecord { server, path, started, span, code: None }
    }

    /// The call's status is known (from trailers or a trailers-only answer).
    pub fn set_code(&mut self, code: Code) {
        self.code = Some(code);
    }
}

impl Drop for CallRecord {
    fn drop(&mut self) {
        let code = self.code.unwrap_or(Code::Cancelled);
        let elapsed = self.started.elapsed();
        let (service, method) = crate::server::split_path(&self.path);
        crate::metrics::record_handled(self.server, service, method, code, elapsed);
        self.span.record("rpc.grpc.status_code", code as i32);
        let _entered = self.span.enter();
        let duration_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        // Probes and reflection would drown the calls an operator looks for.
        if crate::server::is_public_path(&self.path) {
            tracing::debug!(code = ?code, duration_us, "call");
        } else {
            tracing::info!(code = ?code, duration_us, "call");
        }
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
        if let Some(code) = status_in(headers) {
            record.set_code(code);
        }
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
                    if let Some(mut record) = this.record.take() {
                        record.set_code(status_in(trailers).unwrap_or(Code::Unknown));
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
        let seen = handled("/s.S/Failed", |record| {
            let observed = Observed::new(
                body(vec![Frame::data(Bytes::from_static(b"x")), trailers(Code::NotFound)]),
                &http::HeaderMap::new(),
                record,
            );
            drain(observed);
        });
        assert_eq!(seen, vec![("Failed".to_owned(), "NotFound".to_owned())]);
    }

    #[test]
    fn a_trailers_only_answer_keeps_its_header_status_even_unpolled() {
        let mut headers = http::HeaderMap::new();
        headers.insert("grpc-status", http::HeaderValue::from(Code::InvalidArgument as i32));
        let seen = handled("/s.S/Refused", |record| drop(Observed::new(body(vec![]), &headers, record)));
        assert_eq!(seen, vec![("Refused".to_owned(), "InvalidArgument".to_owned())]);
    }

    #[test]
    fn a_stream_dropped_before_its_trailers_is_cancelled_and_counted_once() {
        let seen = handled("/s.S/Watch", |record| {
            let mut observed = Observed::new(
                body(vec![Frame::data(Bytes::from_static(b"a")), trailers(Code::Ok)]),
                &http::HeaderMap::new(),
                record,
            );
            futures::executor::block_on(observed.frame()).expect("a frame").expect("data");
            drop(observed);
        });
        assert_eq!(seen, vec![("Watch".to_owned(), "Canceled".to_owned())]);
    }

    #[test]
    fn an_abandoned_call_with_no_answer_is_cancelled() {
        let seen = handled("/s.S/Slow", drop);
        assert_eq!(seen, vec![("Slow".to_owned(), "Canceled".to_owned())]);
    }
}
