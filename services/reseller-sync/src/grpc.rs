//! ResellerSyncService: links, copies, the dry run, and the sync's health
//! (lag, failures, retries).

use std::sync::Arc;

use bss_platform::auth::{Role, authorize};
use bss_platform::error::{Answer, PlatformError, Violations};
use bss_platform::events::{HandlerError, Subscription};
use bss_platform::idempotency::{self, RequestKey};
use bss_platform::input::{optional_text, parse_id, required_id};
use bss_platform::paging::{Page, text_and_number, time_and_id};
use bss_platform::peers;
use bss_platform::time::timestamp;
use bss_proto::accounts::{Account, AccountKind};
use bss_proto::resellersync::reseller_sync_service_server::ResellerSyncService;
use bss_proto::resellersync::*;
use chrono::Utc;
use prost::Message;
use sqlx::PgPool;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::domain::error::{SyncError, precondition};
use crate::feeds::{AccountsFeed, BillingFeed};
use crate::sync::{self, Syncer};
use crate::{domain, repo};

/// The ErrorInfo domain of this context.
pub const DOMAIN: &str = "resellersync.bss";
const WRITERS: &[Role] = &[Role::TenantAdmin];
const READERS: &[Role] = &[Role::TenantAdmin, Role::Integration];

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

fn link_to_proto(link: &domain::copy::Link) -> Link {
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
    async fn own_link(&self, distributor: Uuid, reseller_tenant: &str) -> Result<domain::copy::Link, SyncError> {
        let reseller = parse_id("reseller_tenant_id", reseller_tenant)?;
        match repo::link(&self.db, reseller).await? {
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
            let link = domain::copy::Link {
                reseller_tenant_id: reseller,
                distributor_tenant_id: distributor,
                tenant_reseller_account_id: tenant_reseller,
                reseller_name: account.name.clone(),
                separate_invoices: account.separate_invoices,
                currency_code: account.currency_code.clone(),
                responsible_user: responsible_user.to_owned(),
                sharing_rule: sharing_rule.to_owned(),
                created_at: Utc::now(),
            };
            idempotency::once::<_, SyncError>(&self.db, key, async |tx| {
                let link = repo::insert_link(tx, &link).await?.ok_or_else(|| SyncError::AlreadyExists {
                    reason: "LINK_EXISTS",
                    description: format!("tenant {reseller} is linked already"),
                })?;
                Ok(CreateLinkResponse { link: Some(link_to_proto(&link)) })
            })
            .await
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
        let request = request.into_inner();
        let run = async {
            let page = Page::parse(request.page_size, &request.page_token, &ListLinksRequest::default())?;
            let links = repo::links_of(&self.db, distributor, page.after_time_and_id()?, page.fetch_limit()).await?;
            let (links, next_page_token) =
                page.finish(links, |link| time_and_id(link.created_at, link.reseller_tenant_id));
            Ok::<_, SyncError>(ListLinksResponse { links: links.iter().map(link_to_proto).collect(), next_page_token })
        };
        Ok(Response::new(run.await?))
    }

    async fn list_copies(&self, request: Request<ListCopiesRequest>) -> Result<Response<ListCopiesResponse>, Status> {
        let (_, distributor) = authorize(&request, READERS)?;
        let request = request.into_inner();
        let run = async {
            let link = self.own_link(distributor, &request.reseller_tenant_id).await?;
            let filters = ListCopiesRequest { page_size: 0, page_token: String::new(), ..request.clone() };
            let page = Page::parse(request.page_size, &request.page_token, &filters)?;
            let rows =
                repo::copies(&self.db, link.reseller_tenant_id, page.after_time_and_id()?, page.fetch_limit()).await?;
            let (rows, next_page_token) = page.finish(rows, |(source, _, created, _)| time_and_id(*created, *source));
            let copies = rows
                .into_iter()
                .map(|(source, copy, created, updated)| Copy {
                    reseller_account_id: source.to_string(),
                    copy_account_id: copy.to_string(),
                    create_time: Some(timestamp(created)),
                    update_time: Some(timestamp(updated)),
                })
                .collect();
            Ok::<_, SyncError>(ListCopiesResponse { copies, next_page_token })
        };
        Ok(Response::new(run.await?))
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
            let copied = repo::copy_of(&self.db, link.reseller_tenant_id, source_id).await?.is_some();
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
            let rows = repo::streams(&self.db).await?;
            let failures = repo::failure_count(&self.db, distributor).await?;
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
        let request = request.into_inner();
        let run = async {
            let page = Page::parse(request.page_size, &request.page_token, &ListSyncFailuresRequest::default())?;
            let rows = repo::failures(&self.db, distributor, page.after_text_and_number()?, page.fetch_limit()).await?;
            let (rows, next_page_token) =
                page.finish(rows, |(stream, sequence, ..)| text_and_number(stream, *sequence));
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
            Ok::<_, SyncError>(ListSyncFailuresResponse { failures, next_page_token })
        };
        Ok(Response::new(run.await?))
    }

    async fn retry_sync(&self, request: Request<RetrySyncRequest>) -> Result<Response<RetrySyncResponse>, Status> {
        let (_, distributor) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let payload = repo::failure_payload(&self.db, distributor, &request.stream, request.sequence).await?;
            let Some(payload) = payload else {
                return Err(SyncError::NotFound {
                    kind: "sync failure",
                    id: format!("{}/{}", request.stream, request.sequence),
                });
            };
            let corrupt = |error: prost::DecodeError| SyncError::Platform(PlatformError::Corrupt(error.to_string()));
            // The calls to accounts first, then one transaction for what
            // they did and the failure's removal.
            let applied = if request.stream == "billing" {
                let event = bss_proto::billing::BillingEvent::decode(payload.as_slice()).map_err(corrupt)?;
                retry(&self.db, &*self.billing, &event).await?
            } else {
                let event = bss_proto::accounts::AccountEvent::decode(payload.as_slice()).map_err(corrupt)?;
                retry(&self.db, &*self.accounts, &event).await?
            };
            let response = match applied {
                Ok(mut tx) => {
                    repo::forget_failure(&mut tx, &request.stream, request.sequence).await?;
                    tx.commit().await?;
                    RetrySyncResponse { applied: true, error: String::new() }
                }
                Err(error) => {
                    repo::failed_again(&self.db, &request.stream, request.sequence, &error).await?;
                    RetrySyncResponse { applied: false, error }
                }
            };
            Ok::<_, SyncError>(response)
        };
        Ok(Response::new(run.await?))
    }
}

/// Applies a set-aside event again, as its consumer would: its calls
/// first, then its transaction, left open for the caller to finish; the
/// error when it fails again.
async fn retry<S: Subscription>(
    db: &PgPool,
    feed: &S,
    event: &S::Event,
) -> Result<Result<sqlx::Transaction<'static, sqlx::Postgres>, String>, SyncError> {
    let prepared = match feed.prepare(event).await {
        Ok(prepared) => prepared,
        Err(HandlerError::Retry(error) | HandlerError::DeadLetter(error)) => return Ok(Err(error)),
    };
    let mut tx = db.begin().await?;
    match feed.apply(&mut tx, event, prepared).await {
        Ok(()) => Ok(Ok(tx)),
        Err(HandlerError::Retry(error) | HandlerError::DeadLetter(error)) => Ok(Err(error)),
    }
}
