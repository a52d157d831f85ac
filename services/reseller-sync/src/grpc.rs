//! ResellerSyncService: links, copies, the dry run, and the sync's health
//! (lag, failures, retries).

use std::sync::Arc;

use bss_platform::auth::{Role, authorize};
use bss_platform::error::{Answer, PlatformError, Violations};
use bss_platform::events::{HandlerError, Subscription};
use bss_platform::idempotency::{self, Opened, RequestKey};
use bss_platform::input::{optional_text, parse_id, required_id};
use bss_platform::peers;
use bss_platform::time::timestamp;
use bss_proto::accounts::{Account, AccountKind};
use bss_proto::resellersync::reseller_sync_service_server::ResellerSyncService;
use bss_proto::resellersync::*;
use chrono::{DateTime, Utc};
use prost::Message;
use sqlx::PgPool;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::feeds::{AccountsFeed, BillingFeed};
use crate::sync::{self, LinkRow, Syncer, link_columns};

/// The ErrorInfo domain of this context.
pub const DOMAIN: &str = "resellersync.bss";
const WRITERS: &[Role] = &[Role::TenantAdmin];
const READERS: &[Role] = &[Role::TenantAdmin, Role::Integration];

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("invalid request: {0}")]
    Invalid(Violations),
    #[error("{kind} {id} not found")]
    NotFound { kind: &'static str, id: String },
    #[error("{description}")]
    AlreadyExists { reason: &'static str, description: String },
    #[error("{description}")]
    Precondition { reason: &'static str, description: String },
    #[error("{what} is unavailable: {cause}")]
    Unavailable { what: &'static str, cause: String },
    /// A peer refused the call for the caller's own reasons: its answer
    /// goes back as it came.
    #[error("{0}")]
    Upstream(tonic::Status),
    #[error(transparent)]
    Platform(#[from] PlatformError),
}

impl From<Violations> for SyncError {
    fn from(violations: Violations) -> SyncError {
        SyncError::Invalid(violations)
    }
}

impl From<sqlx::Error> for SyncError {
    fn from(error: sqlx::Error) -> SyncError {
        SyncError::Platform(error.into())
    }
}

bss_platform::service_error!(SyncError, DOMAIN);

impl From<SyncError> for Answer {
    fn from(error: SyncError) -> Answer {
        let description = error.to_string();
        match error {
            SyncError::Invalid(violations) => Answer::Invalid(violations),
            SyncError::NotFound { kind, id } => Answer::NotFound { kind, id },
            SyncError::AlreadyExists { reason, .. } => Answer::AlreadyExists { reason, description },
            SyncError::Precondition { reason, .. } => Answer::refused(reason, "link", description),
            SyncError::Unavailable { what, cause } => Answer::Unavailable { what, cause },
            SyncError::Upstream(status) => Answer::Upstream(status),
            SyncError::Platform(error) => Answer::Platform(error),
        }
    }
}

fn precondition(reason: &'static str, description: String) -> SyncError {
    SyncError::Precondition { reason, description }
}

fn link_to_proto(link: &LinkRow) -> Link {
    Link {
        reseller_tenant_id: link.reseller_tenant_id.to_string(),
        distributor_tenant_id: link.distributor_tenant_id.to_string(),
        tenant_reseller_account_id: link.tenant_reseller_account_id.to_string(),
        reseller_name: link.reseller_name.clone(),
        separate_invoices: link.separate_invoices,
        currency_code: link.currency_code.clone(),
        responsible_user: link.responsible_user.clone(),
        sharing_rule: link.sharing_rule.clone(),
        create_time: Some(timestamp(link.created_at)),
    }
}

/// Everything the RPCs work with.
pub struct SyncApi {
    pub db: PgPool,
    pub syncer: Syncer,
    pub billing: Arc<BillingFeed>,
    pub accounts: Arc<AccountsFeed>,
}

impl SyncApi {
    /// The tenant reseller account of a new link, once the reseller tenant
    /// is known to sit under the distributor's and the account is a
    /// reseller account (FAILED_PRECONDITION naming the broken rule).
    async fn link_parties(
        &self,
        distributor: Uuid,
        reseller: Uuid,
        tenant_reseller: Uuid,
    ) -> Result<Account, SyncError> {
        let no_token =
            || SyncError::Unavailable { what: "accounts", cause: "the sync has no service token".to_owned() };
        let caller = self.syncer.identity.caller(Some(reseller)).ok_or_else(no_token)?;
        let accounts = peers::Accounts::new(Some(self.syncer.accounts.clone()));
        let Some(tenant) = accounts.tenant(&caller, reseller).await? else {
            return Err(precondition("NOT_A_RESELLER_TENANT", format!("tenant {reseller} does not exist")));
        };
        if tenant.parent_tenant_id != distributor.to_string() {
            return Err(precondition(
                "NOT_A_RESELLER_TENANT",
                format!("tenant {reseller} is not under the caller's tenant"),
            ));
        }
        let caller = self.syncer.identity.caller(Some(distributor)).ok_or_else(no_token)?;
        let distributor_accounts = peers::Accounts::new(Some(self.syncer.distributor_accounts.clone()));
        let Some(account) = distributor_accounts.account(&caller, tenant_reseller).await? else {
            return Err(precondition("NOT_A_TENANT_RESELLER", format!("account {tenant_reseller} does not exist")));
        };
        if account.kind != AccountKind::Reseller as i32 {
            return Err(precondition(
                "NOT_A_TENANT_RESELLER",
                format!("account {tenant_reseller} is not a reseller account"),
            ));
        }
        Ok(account)
    }

    /// The caller's link of a reseller tenant.
    async fn own_link(&self, distributor: Uuid, reseller_tenant: &str) -> Result<LinkRow, SyncError> {
        let reseller = parse_id("reseller_tenant_id", reseller_tenant)?;
        let mut connection = self.db.acquire().await?;
        match sync::link(&mut connection, reseller).await? {
            Some(link) if link.distributor_tenant_id == distributor => Ok(link),
            _ => Err(SyncError::NotFound { kind: "link", id: reseller.to_string() }),
        }
    }
}

#[tonic::async_trait]
impl ResellerSyncService for SyncApi {
    async fn create_link(&self, request: Request<CreateLinkRequest>) -> Result<Response<CreateLinkResponse>, Status> {
        let (_, distributor) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let input = request.link.clone().unwrap_or_default();
            let mut v = Violations::new();
            let reseller = v.keep("link.reseller_tenant_id", required_id(&input.reseller_tenant_id));
            let tenant_reseller =
                v.keep("link.tenant_reseller_account_id", required_id(&input.tenant_reseller_account_id));
            let responsible_user = v.keep("link.responsible_user", optional_text(&input.responsible_user, 128));
            let sharing_rule = v.keep("link.sharing_rule", optional_text(&input.sharing_rule, 128));
            let (Some(reseller), Some(tenant_reseller), Some(responsible_user), Some(sharing_rule)) =
                (reseller, tenant_reseller, responsible_user, sharing_rule)
            else {
                return Err(v.into());
            };
            let key = RequestKey::new(distributor, "CreateLink", &request.request_id, &request)?;
            if let Some(key) = &key {
                let mut connection = self.db.acquire().await?;
                if let Ok(response) = idempotency::resolve(&mut connection, key).await {
                    return Ok(response);
                }
            }
            // Accounts is asked first, with no transaction open: the reseller
            // tenant must sit under the distributor's, and the tenant
            // reseller must be a reseller account (asked with the sync's own
            // identity).
            let account = self.link_parties(distributor, reseller, tenant_reseller).await?;
            let (mut tx, pending) = match idempotency::open(&self.db, key).await? {
                Opened::Replayed(response) => return Ok(response),
                Opened::Fresh(tx, pending) => (tx, pending),
            };
            let link: Option<LinkRow> = sqlx::query_as(concat!(
                "INSERT INTO reseller_sync.links (reseller_tenant_id, distributor_tenant_id, tenant_reseller_account_id,
                     reseller_name, separate_invoices, currency_code, responsible_user, sharing_rule)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING RETURNING ",
                link_columns!()
            ))
            .bind(reseller)
            .bind(distributor)
            .bind(tenant_reseller)
            .bind(&account.name)
            .bind(account.separate_invoices)
            .bind(&account.currency_code)
            .bind(responsible_user)
            .bind(sharing_rule)
            .fetch_optional(&mut *tx)
            .await?;
            let link = link.ok_or_else(|| SyncError::AlreadyExists {
                reason: "LINK_EXISTS",
                description: format!("tenant {reseller} is linked already"),
            })?;
            let response = CreateLinkResponse { link: Some(link_to_proto(&link)) };
            pending.finish(&mut tx, &response).await?;
            tx.commit().await?;
            Ok::<_, SyncError>(response)
        };
        Ok(Response::new(run.await?))
    }

    async fn get_link(&self, request: Request<GetLinkRequest>) -> Result<Response<GetLinkResponse>, Status> {
        let (_, distributor) = authorize(&request, READERS)?;
        let link = self.own_link(distributor, &request.get_ref().reseller_tenant_id).await?;
        Ok(Response::new(GetLinkResponse { link: Some(link_to_proto(&link)) }))
    }

    async fn list_links(&self, request: Request<ListLinksRequest>) -> Result<Response<ListLinksResponse>, Status> {
        let (_, distributor) = authorize(&request, READERS)?;
        let links: Vec<LinkRow> = sqlx::query_as(concat!(
            "SELECT ",
            link_columns!(),
            " FROM reseller_sync.links WHERE distributor_tenant_id = $1 ORDER BY created_at"
        ))
        .bind(distributor)
        .fetch_all(&self.db)
        .await
        .map_err(SyncError::from)?;
        Ok(Response::new(ListLinksResponse { links: links.iter().map(link_to_proto).collect() }))
    }

    async fn list_copies(&self, request: Request<ListCopiesRequest>) -> Result<Response<ListCopiesResponse>, Status> {
        let (_, distributor) = authorize(&request, READERS)?;
        let link = self.own_link(distributor, &request.get_ref().reseller_tenant_id).await?;
        let rows: Vec<(Uuid, Uuid, DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(
            "SELECT reseller_account_id, copy_account_id, created_at, updated_at FROM reseller_sync.copies
             WHERE reseller_tenant_id = $1 ORDER BY created_at, reseller_account_id",
        )
        .bind(link.reseller_tenant_id)
        .fetch_all(&self.db)
        .await
        .map_err(SyncError::from)?;
        let copies = rows
            .into_iter()
            .map(|(source, copy, created, updated)| Copy {
                reseller_account_id: source.to_string(),
                copy_account_id: copy.to_string(),
                create_time: Some(timestamp(created)),
                update_time: Some(timestamp(updated)),
            })
            .collect();
        Ok(Response::new(ListCopiesResponse { copies }))
    }

    async fn preview_copy(
        &self,
        request: Request<PreviewCopyRequest>,
    ) -> Result<Response<PreviewCopyResponse>, Status> {
        let (_, distributor) = authorize(&request, READERS)?;
        let request = request.into_inner();
        let run = async {
            let link = self.own_link(distributor, &request.reseller_tenant_id).await?;
            let source_id = parse_id("reseller_account_id", &request.reseller_account_id)?;
            let source = self.syncer.source(&link, source_id).await.map_err(|error| match error {
                HandlerError::Retry(cause) | HandlerError::DeadLetter(cause) => {
                    SyncError::Unavailable { what: "accounts", cause }
                }
            })?;
            let (source, addresses) =
                source.ok_or(SyncError::NotFound { kind: "account", id: source_id.to_string() })?;
            let copied: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM reseller_sync.copies WHERE reseller_tenant_id = $1 AND reseller_account_id = $2)",
            )
            .bind(link.reseller_tenant_id)
            .bind(source_id)
            .fetch_one(&self.db)
            .await?;
            Ok::<_, SyncError>(PreviewCopyResponse {
                account: Some(sync::copy_of(&link, &source)),
                billing_addresses: addresses,
                copied,
            })
        };
        Ok(Response::new(run.await?))
    }

    async fn get_sync_status(
        &self,
        request: Request<GetSyncStatusRequest>,
    ) -> Result<Response<GetSyncStatusResponse>, Status> {
        let (_, distributor) = authorize(&request, READERS)?;
        let run = async {
            let rows: Vec<(String, i64, Option<DateTime<Utc>>, Option<DateTime<Utc>>)> = sqlx::query_as(
                "SELECT s.stream, coalesce(c.position, 0), t.occurred_at, t.applied_at
                 FROM (VALUES ('billing'), ('accounts')) s(stream)
                 LEFT JOIN reseller_sync.consumer_cursors c ON c.stream = s.stream
                 LEFT JOIN reseller_sync.stream_times t ON t.stream = s.stream
                 ORDER BY s.stream DESC",
            )
            .fetch_all(&self.db)
            .await?;
            let failures: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM reseller_sync.dead_letters d
                 JOIN reseller_sync.links l ON l.reseller_tenant_id = d.tenant_id
                 WHERE l.distributor_tenant_id = $1",
            )
            .bind(distributor)
            .fetch_one(&self.db)
            .await?;
            let streams = rows
                .into_iter()
                .map(|(stream, position, occurred, applied)| StreamStatus {
                    stream,
                    position,
                    last_event_time: occurred.map(timestamp),
                    lag_millis: match (occurred, applied) {
                        (Some(occurred), Some(applied)) => (applied - occurred).num_milliseconds().max(0),
                        _ => 0,
                    },
                })
                .collect();
            Ok::<_, SyncError>(GetSyncStatusResponse { streams, failures })
        };
        Ok(Response::new(run.await?))
    }

    async fn list_sync_failures(
        &self,
        request: Request<ListSyncFailuresRequest>,
    ) -> Result<Response<ListSyncFailuresResponse>, Status> {
        let (_, distributor) = authorize(&request, READERS)?;
        let rows: Vec<(String, i64, String, i32, DateTime<Utc>)> = sqlx::query_as(
            "SELECT d.stream, d.sequence, d.error, d.attempts, d.updated_at FROM reseller_sync.dead_letters d
             JOIN reseller_sync.links l ON l.reseller_tenant_id = d.tenant_id
             WHERE l.distributor_tenant_id = $1 ORDER BY d.stream, d.sequence",
        )
        .bind(distributor)
        .fetch_all(&self.db)
        .await
        .map_err(SyncError::from)?;
        let failures = rows
            .into_iter()
            .map(|(stream, sequence, error, attempts, updated)| SyncFailure {
                stream,
                sequence,
                error,
                attempts,
                update_time: Some(timestamp(updated)),
            })
            .collect();
        Ok(Response::new(ListSyncFailuresResponse { failures }))
    }

    async fn retry_sync(&self, request: Request<RetrySyncRequest>) -> Result<Response<RetrySyncResponse>, Status> {
        let (_, distributor) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let row: Option<(Vec<u8>,)> = sqlx::query_as(
                "SELECT d.payload FROM reseller_sync.dead_letters d
                 JOIN reseller_sync.links l ON l.reseller_tenant_id = d.tenant_id
                 WHERE d.stream = $1 AND d.sequence = $2 AND l.distributor_tenant_id = $3",
            )
            .bind(&request.stream)
            .bind(request.sequence)
            .bind(distributor)
            .fetch_optional(&self.db)
            .await?;
            let Some((payload,)) = row else {
                return Err(SyncError::NotFound {
                    kind: "sync failure",
                    id: format!("{}/{}", request.stream, request.sequence),
                });
            };
            let corrupt = |error: prost::DecodeError| SyncError::Platform(PlatformError::Corrupt(error.to_string()));
            let mut tx = self.db.begin().await?;
            let applied = if request.stream == "billing" {
                let event = bss_proto::billing::BillingEvent::decode(payload.as_slice()).map_err(corrupt)?;
                self.billing.apply(&mut tx, &event).await
            } else {
                let event = bss_proto::accounts::AccountEvent::decode(payload.as_slice()).map_err(corrupt)?;
                self.accounts.apply(&mut tx, &event).await
            };
            let response = match applied {
                Ok(()) => {
                    sqlx::query("DELETE FROM reseller_sync.dead_letters WHERE stream = $1 AND sequence = $2")
                        .bind(&request.stream)
                        .bind(request.sequence)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    RetrySyncResponse { applied: true, error: String::new() }
                }
                Err(HandlerError::Retry(error) | HandlerError::DeadLetter(error)) => {
                    drop(tx);
                    sqlx::query(
                        "UPDATE reseller_sync.dead_letters SET error = $3, attempts = attempts + 1, updated_at = now()
                         WHERE stream = $1 AND sequence = $2",
                    )
                    .bind(&request.stream)
                    .bind(request.sequence)
                    .bind(&error)
                    .execute(&self.db)
                    .await?;
                    RetrySyncResponse { applied: false, error }
                }
            };
            Ok::<_, SyncError>(response)
        };
        Ok(Response::new(run.await?))
    }
}
