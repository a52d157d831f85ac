//! The price books this replica holds, one per tenant, each with the
//! version it was read at, and the accounts it has priced.
//!
//! Every pricing write bumps the tenant's version in its transaction, and
//! a trigger NOTIFYs the channel `pricing` when it commits (as it does when
//! an account's currency, sales rep or group parent changes in the read
//! model). While this replica LISTENs, a quote is answered from memory
//! with no database round trip: the book held is used when it is at least
//! the latest version heard of (and the version the caller asked for), an
//! account from memory until a notification names it. So a quote that
//! names no version is at most one notification's delay behind a write
//! that returned before it began (measured by `make bench`, P3-stale); one
//! that passes the version a write returned (`min_book_version`) never
//! sees older pricing, on any replica.
//!
//! While the listening connection is down (or silent: a heartbeat NOTIFY
//! must come back within [`SILENCE`]), every quote reads the tenant's
//! version and the account from the database first, as before the cache;
//! on reconnecting, the versions of every tenant are read again and the
//! accounts forgotten, so nothing missed meanwhile is trusted.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use bss_platform::error::Violations;
use bss_platform::shutdown::Shutdown;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use uuid::Uuid;

use crate::domain::book::{AccountFacts, PriceBook};
use crate::domain::error::PricingError;
use crate::repo;

/// The channel the triggers of migration 0006 notify.
pub const CHANNEL: &str = "pricing";
/// How often the listener pings itself through the channel.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// A listening connection that heard nothing (not even its own ping) for
/// this long is taken for dead: quotes read the database until it is back.
pub const SILENCE: Duration = Duration::from_secs(3);
/// Most accounts remembered per tenant; past it the memory starts over.
const MAX_ACCOUNTS: usize = 200_000;

/// A tenant's book as read at `version`.
#[derive(Debug)]
pub struct Loaded {
    pub version: i64,
    pub book: PriceBook,
}

/// What a notification on [`CHANNEL`] says.
#[derive(Debug, PartialEq)]
pub enum Change {
    /// The tenant's book reached this version.
    Book { tenant_id: Uuid, version: i64 },
    /// What pricing knows of the account changed.
    Account { tenant_id: Uuid, account_id: Uuid },
    /// A heartbeat (or a payload this build does not know): proof only
    /// that the connection still hears.
    Other,
}

impl Change {
    pub fn parse(payload: &str) -> Change {
        let mut words = payload.split(' ');
        let (kind, tenant, last) = (words.next(), words.next(), words.next());
        let Some(tenant_id) = tenant.and_then(|tenant| tenant.parse().ok()) else {
            return Change::Other;
        };
        match (kind, last) {
            (Some("book"), Some(version)) => match version.parse() {
                Ok(version) => Change::Book { tenant_id, version },
                Err(_) => Change::Other,
            },
            (Some("account"), Some(account)) => match account.parse() {
                Ok(account_id) => Change::Account { tenant_id, account_id },
                Err(_) => Change::Other,
            },
            _ => Change::Other,
        }
    }
}

#[derive(Default)]
struct Slot {
    current: RwLock<Option<Arc<Loaded>>>,
    /// One load per tenant at a time; the others wait for it.
    loading: tokio::sync::Mutex<()>,
    /// The newest version heard of (notified, or read from the database).
    latest: AtomicI64,
    /// Accounts as last read, and how many changes of accounts were heard
    /// of: an account read before a change it missed is not remembered.
    accounts: RwLock<(u64, HashMap<Uuid, AccountFacts>)>,
}

impl Slot {
    fn at_least(&self, version: i64) -> Option<Arc<Loaded>> {
        let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
        current.as_ref().filter(|loaded| loaded.version >= version).cloned()
    }

    /// The book held, when it is no older than anything heard of nor than
    /// `version`.
    fn fresh(&self, version: i64) -> Option<Arc<Loaded>> {
        self.at_least(version.max(self.latest.load(Ordering::Acquire)))
    }

    fn heard(&self, version: i64) {
        self.latest.fetch_max(version, Ordering::AcqRel);
    }

    /// Every one of `ids` from memory, or `None` when one is missing.
    fn remembered(&self, ids: &[Uuid]) -> Option<HashMap<Uuid, AccountFacts>> {
        let accounts = self.accounts.read().unwrap_or_else(PoisonError::into_inner);
        ids.iter().map(|id| accounts.1.get(id).map(|facts| (*id, facts.clone()))).collect()
    }

    fn changes_heard(&self) -> u64 {
        self.accounts.read().unwrap_or_else(PoisonError::into_inner).0
    }

    /// Remembers accounts read when `changes` changes had been heard of,
    /// unless another was heard of since.
    fn remember(&self, changes: u64, read: &HashMap<Uuid, AccountFacts>) {
        let mut accounts = self.accounts.write().unwrap_or_else(PoisonError::into_inner);
        if accounts.0 != changes {
            return;
        }
        if accounts.1.len() + read.len() > MAX_ACCOUNTS {
            accounts.1.clear();
        }
        accounts.1.extend(read.iter().map(|(id, facts)| (*id, facts.clone())));
    }

    /// Forgets `account` (every account for `None`).
    fn forget(&self, account: Option<Uuid>) {
        let mut accounts = self.accounts.write().unwrap_or_else(PoisonError::into_inner);
        accounts.0 += 1;
        match account {
            Some(id) => {
                accounts.1.remove(&id);
            }
            None => accounts.1.clear(),
        }
    }
}

pub struct Books {
    db: PgPool,
    slots: RwLock<HashMap<Uuid, Arc<Slot>>>,
    /// Whether the listener hears the channel, and has caught up since it
    /// (re)connected: only then is memory trusted without asking the
    /// database.
    listening: AtomicBool,
}

/// Reads of a book and accounts, by where they were answered from.
const READS: &str = "bss_pricing_book_reads_total";
/// 1 while the change listener hears the channel and memory is trusted.
const LISTENING: &str = "bss_pricing_change_listener_up";

impl Books {
    pub fn new(db: PgPool) -> Books {
        metrics::describe_counter!(
            READS,
            "Reads of a tenant's price book and accounts, by `from`: memory or database."
        );
        metrics::describe_gauge!(LISTENING, "1 while pricing's change listener hears and memory is trusted, else 0.");
        metrics::gauge!(LISTENING).set(0.0);
        Books { db, slots: RwLock::new(HashMap::new()), listening: AtomicBool::new(false) }
    }

    fn trust(&self, listening: bool) {
        self.listening.store(listening, Ordering::Release);
        metrics::gauge!(LISTENING).set(if listening { 1.0 } else { 0.0 });
    }

    async fn load(&self, slot: &Slot, tenant_id: Uuid, version: i64) -> Result<Arc<Loaded>, PricingError> {
        if let Some(loaded) = slot.at_least(version) {
            return Ok(loaded);
        }
        let _loading = slot.loading.lock().await;
        if let Some(loaded) = slot.at_least(version) {
            return Ok(loaded);
        }
        let (version, book) = repo::book::load(&self.db, tenant_id).await?;
        slot.heard(version);
        let loaded = Arc::new(Loaded { version, book });
        *slot.current.write().unwrap_or_else(PoisonError::into_inner) = Some(loaded.clone());
        tracing::debug!(%tenant_id, version, "price book loaded");
        Ok(loaded)
    }

    /// The tenant's current book (at least `min_version`) and what pricing
    /// knows of the accounts (those the stream has not brought are
    /// missing): from memory while listening, else from the database.
    /// INVALID_ARGUMENT when `min_version` is one the tenant's book never
    /// reached.
    pub async fn with_accounts(
        &self,
        tenant_id: Uuid,
        ids: &[Uuid],
        min_version: i64,
    ) -> Result<(Arc<Loaded>, HashMap<Uuid, AccountFacts>), PricingError> {
        let slot = self.slot(tenant_id);
        if self.listening.load(Ordering::Acquire)
            && let Some(loaded) = slot.fresh(min_version)
            && let Some(accounts) = slot.remembered(ids)
        {
            metrics::counter!(READS, "from" => "memory").increment(1);
            return Ok((loaded, accounts));
        }
        metrics::counter!(READS, "from" => "database").increment(1);
        let changes = slot.changes_heard();
        let (version, accounts) = repo::accounts::version_and_facts_of(&self.db, tenant_id, ids).await?;
        if version < min_version {
            let why =
                format!("the tenant's price book is at version {version}: pass a version a pricing write returned");
            return Err(Violations::single("min_book_version", why).into());
        }
        slot.heard(version);
        slot.remember(changes, &accounts);
        Ok((self.load(&slot, tenant_id, version).await?, accounts))
    }

    /// How many changes of the tenant's accounts this replica has heard
    /// of: taken before an account is read elsewhere, it guards
    /// [`Self::remember`].
    pub fn changes(&self, tenant_id: Uuid) -> u64 {
        self.slot(tenant_id).changes_heard()
    }

    /// Remembers accounts read elsewhere (from the accounts service, before
    /// the stream brought them) when `changes` were heard of, unless
    /// another change was heard of since.
    pub fn remember(&self, tenant_id: Uuid, changes: u64, read: &HashMap<Uuid, AccountFacts>) {
        self.slot(tenant_id).remember(changes, read);
    }

    /// What pricing knows of the account changed (this replica committed
    /// it).
    pub fn forget(&self, tenant_id: Uuid, account_id: Uuid) {
        self.slot(tenant_id).forget(Some(account_id));
    }

    /// Every account of the tenant may have changed.
    pub fn forget_tenant_accounts(&self, tenant_id: Uuid) {
        self.slot(tenant_id).forget(None);
    }

    /// A write of this replica committed the tenant's book at `version`.
    pub fn written(&self, tenant_id: Uuid, version: i64) {
        self.slot(tenant_id).heard(version);
    }

    fn slot(&self, tenant_id: Uuid) -> Arc<Slot> {
        if let Some(slot) = self.slots.read().unwrap_or_else(PoisonError::into_inner).get(&tenant_id) {
            return slot.clone();
        }
        self.slots.write().unwrap_or_else(PoisonError::into_inner).entry(tenant_id).or_default().clone()
    }

    fn apply(&self, change: Change) {
        match change {
            Change::Book { tenant_id, version } => self.slot(tenant_id).heard(version),
            Change::Account { tenant_id, account_id } => self.slot(tenant_id).forget(Some(account_id)),
            Change::Other => {}
        }
    }

    /// After (re)connecting: every tenant's version read again, every
    /// account forgotten; then memory is trusted.
    async fn catch_up(&self) -> Result<(), sqlx::Error> {
        for slot in self.slots.read().unwrap_or_else(PoisonError::into_inner).values() {
            slot.forget(None);
        }
        for (tenant_id, version) in repo::book::versions(&self.db).await? {
            self.slot(tenant_id).heard(version);
        }
        self.trust(true);
        Ok(())
    }

    /// Listens on [`CHANNEL`] until shutdown, reconnecting when the
    /// connection fails or falls silent; memory is trusted only while it
    /// hears.
    pub async fn listen(self: Arc<Self>, shutdown: Shutdown) {
        loop {
            if let Err(error) = self.hear(&shutdown).await {
                tracing::warn!(%error, "pricing's change listener stopped; quotes read the database until it is back");
            }
            self.trust(false);
            tokio::select! {
                _ = shutdown.wait() => return,
                _ = tokio::time::sleep(HEARTBEAT) => {}
            }
        }
    }

    /// One listening connection's life: Ok when shutting down.
    async fn hear(&self, shutdown: &Shutdown) -> Result<(), sqlx::Error> {
        let mut listener = PgListener::connect_with(&self.db).await?;
        listener.listen(CHANNEL).await?;
        self.catch_up().await?;
        let mut heard = tokio::time::Instant::now();
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        loop {
            tokio::select! {
                _ = shutdown.wait() => return Ok(()),
                notification = listener.try_recv() => match notification? {
                    Some(notification) => {
                        heard = tokio::time::Instant::now();
                        self.apply(Change::parse(notification.payload()));
                    }
                    None => return Err(sqlx::Error::PoolClosed),
                },
                _ = heartbeat.tick() => {
                    if heard.elapsed() > SILENCE {
                        return Err(sqlx::Error::Protocol("no notification heard, not even a heartbeat".to_owned()));
                    }
                    sqlx::query("SELECT pg_notify($1, 'ping')").bind(CHANNEL).execute(&self.db).await?;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TENANT: &str = "0190f5a0-0000-7000-8000-000000000001";
    const ACCOUNT: &str = "0190f5a0-0000-7000-8000-000000000002";

    #[test]
    fn notifications_read_as_the_triggers_write_them() {
        let tenant_id: Uuid = TENANT.parse().expect("uuid");
        assert_eq!(Change::parse(&format!("book {TENANT} 42")), Change::Book { tenant_id, version: 42 });
        let account_id = ACCOUNT.parse().expect("uuid");
        assert_eq!(Change::parse(&format!("account {TENANT} {ACCOUNT}")), Change::Account { tenant_id, account_id });
        for other in ["ping", "", &format!("book {TENANT} x"), &format!("account {TENANT} 7"), "book nope 1"] {
            assert_eq!(Change::parse(other), Change::Other, "{other:?}");
        }
    }

    fn facts(id: Uuid) -> AccountFacts {
        AccountFacts {
            id,
            currency: bss_platform::money::Currency::parse("EUR").expect("EUR"),
            sales_rep_id: String::new(),
            parent: None,
        }
    }

    #[test]
    fn an_account_read_before_a_change_it_missed_is_not_remembered() {
        let slot = Slot::default();
        let id = Uuid::now_v7();
        let read = HashMap::from([(id, facts(id))]);
        let before = slot.changes_heard();
        slot.forget(Some(Uuid::now_v7()));
        slot.remember(before, &read);
        assert!(slot.remembered(&[id]).is_none());
        slot.remember(slot.changes_heard(), &read);
        assert_eq!(slot.remembered(&[id]).map(|accounts| accounts.len()), Some(1));
        slot.forget(Some(id));
        assert!(slot.remembered(&[id]).is_none());
    }

    #[test]
    fn a_book_is_fresh_only_at_the_newest_version_heard_of_and_asked_for() {
        let slot = Slot::default();
        *slot.current.write().expect("unpoisoned") = Some(Arc::new(Loaded { version: 3, book: PriceBook::default() }));
        slot.heard(3);
        assert!(slot.fresh(0).is_some());
        assert!(slot.fresh(4).is_none(), "a caller asked for a newer version");
        slot.heard(4);
        assert!(slot.fresh(0).is_none(), "a newer version was notified");
        slot.heard(2);
        assert!(slot.fresh(0).is_none(), "an older notification does not go back");
    }
}
