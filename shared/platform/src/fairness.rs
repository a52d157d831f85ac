//! One tenant's storm slows that tenant, not the others: each tenant may
//! have a bounded number of calls in a server at once (its share); more of
//! its calls wait their turn, outside the server's own concurrency limit,
//! holding no database connection. A tenant's share defaults to half the
//! service's pool, so the other half stays for everyone else. Waiting is
//! bounded too: past [`QUEUE_FACTOR`] times its share, a tenant's calls are
//! refused at once (RESOURCE_EXHAUSTED, reason TENANT_BUSY, with a retry
//! delay).
//!
//! Work a call leaves running after it has answered (the producer of a
//! response stream) goes through [`Detach`]: it keeps the call's permit
//! until it is done, and the server waits for it when it shuts down.
//!
//! A call's tenant is the caller's (a service calling for a tenant counts
//! toward it); callers without one (platform administrators, the suite's
//! services reading every tenant's events) share one key per subject.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use http::{Request, Response};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::task::TaskTracker;
use tower::{Layer, Service, ServiceExt};

use crate::auth::{Caller, TenantScope};

/// How many calls of one tenant may wait, as a multiple of its share.
pub const QUEUE_FACTOR: usize = 16;

/// What one tenant holds in a server: its permits and how many wait.
#[derive(Debug)]
struct Share {
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
}

/// The shares of every tenant a server has served.
#[derive(Clone, Debug)]
pub struct Fairness {
    server: &'static str,
    per_tenant: usize,
    shares: Arc<Mutex<HashMap<String, Arc<Share>>>>,
    detached: TaskTracker,
}

impl Fairness {
    /// Each tenant may have `per_tenant` calls in `server` at once (at
    /// least one).
    pub fn new(server: &'static str, per_tenant: usize) -> Fairness {
        Fairness { server, per_tenant: per_tenant.max(1), shares: Arc::default(), detached: TaskTracker::new() }
    }

    /// The work calls left running ([`Detach`]), for the server to wait
    /// for at shutdown.
    pub fn detached(&self) -> TaskTracker {
        self.detached.clone()
    }

    /// Waits for a permit of `share`, counted among its waiting calls for
    /// as long as it waits (a call dropped while waiting, its client gone,
    /// leaves the count as it found it); `None` when too many wait already.
    async fn permit(&self, share: &Share) -> Option<OwnedSemaphorePermit> {
        if let Ok(permit) = share.permits.clone().try_acquire_owned() {
            return Some(permit);
        }
        let most_waiting = self.per_tenant * QUEUE_FACTOR;
        if share.waiting.fetch_add(1, Ordering::AcqRel) >= most_waiting {
            share.waiting.fetch_sub(1, Ordering::AcqRel);
            metrics::counter!("bss_tenant_calls_refused_total", "server" => self.server).increment(1);
            return None;
        }
        let _waiting = Waiting(&share.waiting);
        metrics::counter!("bss_tenant_calls_waited_total", "server" => self.server).increment(1);
        share.permits.clone().acquire_owned().await.ok()
    }

    fn share(&self, key: &str) -> Arc<Share> {
        let mut shares = self.shares.lock().unwrap_or_else(PoisonError::into_inner);
        if shares.len() > 10_000 {
            // Idle shares (nobody in, nobody waiting) are forgotten.
            let per_tenant = self.per_tenant;
            shares.retain(|_, share| {
                share.permits.available_permits() < per_tenant || share.waiting.load(Ordering::Relaxed) > 0
            });
        }
        shares
            .entry(key.to_owned())
            .or_insert_with(|| {
                Arc::new(Share { permits: Arc::new(Semaphore::new(self.per_tenant)), waiting: AtomicUsize::new(0) })
            })
            .clone()
    }
}

/// Lets a call's handler leave work running after it answers (the
/// producer of a response stream) as part of the call: the work holds the
/// call's tenant permit until it is done, so a tenant cannot escape its
/// share by streaming, and the server waits for it at shutdown. Found in
/// the request's extensions of every call with a caller.
#[derive(Clone, Debug)]
pub struct Detach {
    permit: Arc<Mutex<Option<OwnedSemaphorePermit>>>,
    tracker: TaskTracker,
}

impl Detach {
    /// Runs `work` after the call has answered, holding its permit (the
    /// first work spawned takes it; later ones run without).
    pub fn spawn(&self, work: impl Future<Output = ()> + Send + 'static) {
        let permit = self.permit.lock().unwrap_or_else(PoisonError::into_inner).take();
        self.tracker.spawn(async move {
            work.await;
            drop(permit);
        });
    }

    /// Runs `work` through the call's [`Detach`] (every call with a
    /// caller carries one), else on its own.
    pub fn spawn_in(detach: Option<&Detach>, work: impl Future<Output = ()> + Send + 'static) {
        match detach {
            Some(detach) => detach.spawn(work),
            None => {
                tokio::spawn(work);
            }
        }
    }
}

/// One call among a share's waiting calls, until dropped.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Whose share a call uses.
fn key(caller: &Caller) -> String {
    match caller.tenant {
        TenantScope::One(tenant_id) => tenant_id.to_string(),
        TenantScope::None | TenantScope::Any => format!("caller:{}", caller.subject),
    }
}

fn busy() -> tonic::Status {
    use tonic_types::{ErrorDetails, StatusExt};
    let mut details = ErrorDetails::with_retry_info(Some(std::time::Duration::from_millis(100)));
    details.set_error_info("TENANT_BUSY", crate::error::PLATFORM_DOMAIN, HashMap::new());
    tonic::Status::with_error_details(
        tonic::Code::ResourceExhausted,
        "the tenant has too many calls waiting in this service; retry shortly",
        details,
    )
}

/// The layer of [`Fairness`] for a server's stack: after authentication,
/// before the server's own concurrency limit.
#[derive(Clone, Debug)]
pub struct FairnessLayer {
    fairness: Fairness,
}

impl FairnessLayer {
    pub fn new(fairness: Fairness) -> FairnessLayer {
        FairnessLayer { fairness }
    }
}

impl<S> Layer<S> for FairnessLayer {
    type Service = FairnessService<S>;
    fn layer(&self, inner: S) -> FairnessService<S> {
        FairnessService { inner, fairness: self.fairness.clone() }
    }
}

#[derive(Clone, Debug)]
pub struct FairnessService<S> {
    inner: S,
    fairness: Fairness,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for FairnessService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<ResBody>, S::Error>> + Send>>;

    /// Always ready: the inner service (the server's concurrency limit)
    /// is made ready inside the call, once the tenant's permit is held, so
    /// a tenant's waiting calls hold none of the server's slots.
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let mut inner = self.inner.clone();
        let fairness = self.fairness.clone();
        Box::pin(async move {
            // Health, reflection and refused calls carry no caller: not
            // counted.
            let Some(caller) = request.extensions().get::<Caller>() else {
                return inner.ready().await?.call(request).await;
            };
            let share = fairness.share(&key(caller));
            let Some(permit) = fairness.permit(&share).await else {
                return Ok(busy().into_http());
            };
            let held = Arc::new(Mutex::new(Some(permit)));
            let mut request = request;
            request.extensions_mut().insert(Detach { permit: held.clone(), tracker: fairness.detached.clone() });
            let response = inner.ready().await?.call(request).await;
            // Unless work the call left running took it.
            drop(held.lock().unwrap_or_else(PoisonError::into_inner).take());
            response
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_tenant_holds_at_most_its_share_and_its_queue_is_bounded() {
        let fairness = Fairness::new("test", 2);
        let busy = fairness.share("a");
        let first = busy.permits.clone().try_acquire_owned().expect("one");
        let second = busy.permits.clone().try_acquire_owned().expect("two");
        assert!(busy.permits.clone().try_acquire_owned().is_err(), "its share is two");
        let other = fairness.share("b");
        assert!(other.permits.clone().try_acquire_owned().is_ok(), "another tenant is not held back");
        drop((first, second));
        assert_eq!(fairness.share("a").permits.available_permits(), 2);
    }

    #[tokio::test]
    async fn work_a_call_leaves_running_holds_its_permit_and_is_waited_for() {
        let fairness = Fairness::new("test", 1);
        let share = fairness.share("a");
        let permit = fairness.permit(&share).await.expect("the share's one permit");
        let detach = Detach { permit: Arc::new(Mutex::new(Some(permit))), tracker: fairness.detached() };
        let (finish, finished) = tokio::sync::oneshot::channel::<()>();
        detach.spawn(async move {
            let _ = finished.await;
        });
        assert_eq!(share.permits.available_permits(), 0, "the detached work holds the call's permit");
        let tracker = fairness.detached();
        tracker.close();
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(20), tracker.wait()).await.is_err(),
            "shutdown waits for it"
        );
        finish.send(()).expect("the work waits");
        tracker.wait().await;
        assert_eq!(share.permits.available_permits(), 1, "its permit is back once it is done");
    }

    #[tokio::test]
    async fn a_call_dropped_while_it_waits_leaves_the_queue() {
        let fairness = Fairness::new("test", 1);
        let share = fairness.share("a");
        let held = fairness.permit(&share).await.expect("the share's one permit");
        for _ in 0..QUEUE_FACTOR * 3 {
            // A client gone while its call waited: the future is dropped.
            let waiting = tokio::time::timeout(std::time::Duration::from_millis(1), fairness.permit(&share)).await;
            assert!(waiting.is_err(), "it waits while the permit is held");
        }
        assert_eq!(share.waiting.load(Ordering::Acquire), 0, "no dropped call still counts as waiting");
        drop(held);
        assert!(fairness.permit(&share).await.is_some(), "the tenant is served again");
    }
}
