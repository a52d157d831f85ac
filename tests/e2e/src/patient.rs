//! A well-behaved client, as the README asks clients to be: each attempt
//! has a deadline; UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED,
//! RESOURCE_EXHAUSTED and tonic's CANCELLED for an unsent call are retried with backoff and the same `request_id`;
//! anything else is the answer. Every status seen is counted, so a test can
//! assert that no call ever answered INTERNAL or UNKNOWN.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tonic::{Code, Status};

/// Longest a call is retried before the test calls it lost.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(90);
/// Deadline of one attempt.
pub const ATTEMPT_DEADLINE: Duration = Duration::from_secs(5);

/// The statuses the calls of one test answered, shared by its workers.
#[derive(Clone, Default)]
pub struct Seen {
    codes: Arc<Mutex<BTreeMap<String, u64>>>,
    broken: Arc<Mutex<Vec<String>>>,
}

impl Seen {
    fn record(&self, status: &Status) {
        use tonic_types::StatusExt;
        let reason = status.get_details_error_info().map(|info| info.reason).unwrap_or_default();
        let key =
            if reason.is_empty() { format!("{:?}", status.code()) } else { format!("{:?} {reason}", status.code()) };
        *self.codes.lock().expect("lock").entry(key).or_default() += 1;
        if matches!(status.code(), Code::Internal | Code::Unknown) {
            self.broken.lock().expect("lock").push(format!("{:?}: {}", status.code(), status.message()));
        }
    }

    /// How many times each code (with its reason) was answered.
    pub fn codes(&self) -> BTreeMap<String, u64> {
        self.codes.lock().expect("lock").clone()
    }

    /// Fails the test if any call answered INTERNAL or UNKNOWN.
    pub fn assert_no_internal_errors(&self) {
        let broken = self.broken.lock().expect("lock").clone();
        eprintln!("answers other than OK: {:?}", self.codes());
        assert!(broken.is_empty(), "calls answered INTERNAL or UNKNOWN: {broken:#?} (all answers: {:?})", self.codes());
    }

    /// Calls `call` (a fresh request each attempt, with the same request
    /// id) until it answers something other than a retryable status.
    pub async fn call<T, F, Fut>(&self, mut call: F) -> Result<T, Status>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        let started = tokio::time::Instant::now();
        let mut backoff = Duration::from_millis(25);
        loop {
            let answer = match tokio::time::timeout(ATTEMPT_DEADLINE + Duration::from_secs(1), call()).await {
                Ok(answer) => answer,
                Err(_) => Err(Status::deadline_exceeded("the attempt hung past its deadline")),
            };
            match answer {
                Ok(response) => return Ok(response.into_inner()),
                Err(status) => {
                    self.record(&status);
                    if !retryable(&status) {
                        return Err(status);
                    }
                    assert!(
                        started.elapsed() < GIVE_UP_AFTER,
                        "a call was lost: still {:?} after {GIVE_UP_AFTER:?}: {}",
                        status.code(),
                        status.message()
                    );
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            }
        }
    }

    /// As `call`, for a call that must succeed.
    pub async fn ok<T, F, Fut>(&self, what: &str, call: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        self.call(call).await.unwrap_or_else(|status| panic!("{what}: {:?} {}", status.code(), status.message()))
    }
}

fn retryable(status: &Status) -> bool {
    match status.code() {
        Code::Unavailable | Code::DeadlineExceeded | Code::Aborted | Code::ResourceExhausted => true,
        // tonic's own answer for a call it had not sent yet when the
        // server closed the connection (GOAWAY on shutdown): "operation was
        // canceled", with the transport error as its source. A server's
        // CANCELLED has no source.
        Code::Cancelled => std::error::Error::source(status).is_some(),
        _ => false,
    }
}

/// `message` with a token and the attempt's deadline, as a request.
pub fn request<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = bss_testkit::authorized(message, token);
    request.set_timeout(ATTEMPT_DEADLINE);
    request
}
