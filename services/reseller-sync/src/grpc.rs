//! The gRPC adapter of ResellerSyncService: each RPC authorizes the
//! caller, parses the request into the sync's own terms, calls its use case
//! on `app::ResellerSync` and converts the answer; what each error answers
//! is said here, once.

use bss_platform::auth::{Role, authorize};
use bss_platform::error::{Answer, Violations};
use bss_platform::idempotency::RequestKey;
use bss_platform::input::{optional_text, parse_id, required_id};
use bss_platform::paging::Page;
use bss_platform::time::timestamp;
use bss_proto::resellersync::reseller_sync_service_server::ResellerSyncService;
use bss_proto::resellersync::*;
use tonic::{Request, Response, Status};

use crate::app::health::Retried;
use crate::domain;
use crate::domain::error::SyncError;
use crate::domain::link::NewLink;

pub use crate::app::ResellerSync as SyncApi;

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

fn copy_to_proto(copy: &domain::copy::CopyRecord) -> Copy {
    Copy {
        reseller_account_id: copy.reseller_account_id.to_string(),
        copy_account_id: copy.copy_account_id.to_string(),
        create_time: Some(timestamp(copy.created_at)),
        update_time: Some(timestamp(copy.updated_at)),
    }
}

fn stream_to_proto(state: &domain::health::StreamState) -> StreamStatus {
    StreamStatus {
        stream: state.stream.clone(),
        position: state.position,
        last_event_time: state.last_event_at.map(timestamp),
        lag_millis: state.lag_millis(),
    }
}

fn failure_to_proto(failure: &domain::health::Failure) -> SyncFailure {
    SyncFailure {
        stream: failure.stream.clone(),
        sequence: failure.sequence,
        error: failure.error.clone(),
        attempts: failure.attempts,
        update_time: Some(timestamp(failure.updated_at)),
    }
}

/// The link a distributor asks for.
fn new_link(distributor: uuid::Uuid, input: &Link) -> Result<NewLink, Violations> {
    let mut v = Violations::new();
    let reseller = v.keep("link.reseller_tenant_id", required_id(&input.reseller_tenant_id));
    let tenant_reseller = v.keep("link.tenant_reseller_account_id", required_id(&input.tenant_reseller_account_id));
    let responsible_user = v.keep("link.responsible_user", optional_text(&input.responsible_user, 128));
    let sharing_rule = v.keep("link.sharing_rule", optional_text(&input.sharing_rule, 128));
    let (Some(reseller), Some(tenant_reseller), Some(responsible_user), Some(sharing_rule)) =
        (reseller, tenant_reseller, responsible_user, sharing_rule)
    else {
        return Err(v);
    };
    Ok(NewLink {
        reseller_tenant_id: reseller,
        distributor_tenant_id: distributor,
        tenant_reseller_account_id: tenant_reseller,
        responsible_user: responsible_user.to_owned(),
        sharing_rule: sharing_rule.to_owned(),
    })
}

#[tonic::async_trait]
impl ResellerSyncService for SyncApi {
    async fn create_link(&self, request: Request<CreateLinkRequest>) -> Result<Response<CreateLinkResponse>, Status> {
        let (_, distributor) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let new = new_link(distributor, &request.link.clone().unwrap_or_default())?;
            let key = RequestKey::new(distributor, "CreateLink", &request.request_id, &request)?;
            self.create_link(key, new, |link| CreateLinkResponse { link: Some(link_to_proto(link)) }).await
        };
        Ok(Response::new(run.await?))
    }

    async fn get_link(&self, request: Request<GetLinkRequest>) -> Result<Response<GetLinkResponse>, Status> {
        let (_, distributor) = authorize(&request, READERS)?;
        let request = request.into_inner();
        let run = async {
            let reseller = parse_id("reseller_tenant_id", &request.reseller_tenant_id)?;
            let link = self.link(distributor, reseller).await?;
            Ok::<_, SyncError>(GetLinkResponse { link: Some(link_to_proto(&link)) })
        };
        Ok(Response::new(run.await?))
    }

    async fn list_links(&self, request: Request<ListLinksRequest>) -> Result<Response<ListLinksResponse>, Status> {
        let (_, distributor) = authorize(&request, READERS)?;
        let request = request.into_inner();
        let run = async {
            let page = Page::parse(request.page_size, &request.page_token, &ListLinksRequest::default())?;
            let (links, next_page_token) = self.links(distributor, &page).await?;
            Ok::<_, SyncError>(ListLinksResponse { links: links.iter().map(link_to_proto).collect(), next_page_token })
        };
        Ok(Response::new(run.await?))
    }

    async fn list_copies(&self, request: Request<ListCopiesRequest>) -> Result<Response<ListCopiesResponse>, Status> {
        let (_, distributor) = authorize(&request, READERS)?;
        let request = request.into_inner();
        let run = async {
            let reseller = parse_id("reseller_tenant_id", &request.reseller_tenant_id)?;
            let link = self.link(distributor, reseller).await?;
            let filters = ListCopiesRequest { page_size: 0, page_token: String::new(), ..request.clone() };
            let page = Page::parse(request.page_size, &request.page_token, &filters)?;
            let (copies, next_page_token) = self.copies(&link, &page).await?;
            Ok::<_, SyncError>(ListCopiesResponse {
                copies: copies.iter().map(copy_to_proto).collect(),
                next_page_token,
            })
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
            let reseller = parse_id("reseller_tenant_id", &request.reseller_tenant_id)?;
            let link = self.link(distributor, reseller).await?;
            let source_id = parse_id("reseller_account_id", &request.reseller_account_id)?;
            let preview = self.preview(&link, source_id).await?;
            Ok::<_, SyncError>(PreviewCopyResponse {
                account: Some(preview.copy),
                billing_addresses: preview.billing_addresses,
                copied: preview.copied,
            })
        };
        Ok(Response::new(run.await?))
    }

    async fn get_sync_status(
        &self,
        request: Request<GetSyncStatusRequest>,
    ) -> Result<Response<GetSyncStatusResponse>, Status> {
        let (_, distributor) = authorize(&request, READERS)?;
        let status = self.status(distributor).await?;
        Ok(Response::new(GetSyncStatusResponse {
            streams: status.streams.iter().map(stream_to_proto).collect(),
            failures: status.failures,
        }))
    }

    async fn list_sync_failures(
        &self,
        request: Request<ListSyncFailuresRequest>,
    ) -> Result<Response<ListSyncFailuresResponse>, Status> {
        let (_, distributor) = authorize(&request, READERS)?;
        let request = request.into_inner();
        let run = async {
            let page = Page::parse(request.page_size, &request.page_token, &ListSyncFailuresRequest::default())?;
            let (failures, next_page_token) = self.failures(distributor, &page).await?;
            Ok::<_, SyncError>(ListSyncFailuresResponse {
                failures: failures.iter().map(failure_to_proto).collect(),
                next_page_token,
            })
        };
        Ok(Response::new(run.await?))
    }

    async fn retry_sync(&self, request: Request<RetrySyncRequest>) -> Result<Response<RetrySyncResponse>, Status> {
        let (_, distributor) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let response = match self.retry(distributor, &request.stream, request.sequence).await? {
            Retried::Applied => RetrySyncResponse { applied: true, error: String::new() },
            Retried::FailedAgain(error) => RetrySyncResponse { applied: false, error },
        };
        Ok(Response::new(response))
    }
}
