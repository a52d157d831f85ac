//! The lifecycle RPCs of AccountService (suspend, reactivate, terminate),
//! the history and provisioning synchronization: parsed here, run by
//! `app::lifecycle`.

use bss_platform::error::Violations;
use bss_platform::idempotency::RequestKey;
use bss_platform::paging::Page;
use bss_proto::accounts::*;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{AccountsApi, READERS, WRITERS, authorize};
use crate::domain::account::Account;
use crate::domain::error::AccountsError;
use crate::domain::lifecycle::Transition;
use crate::domain::text::required_text;
use crate::wire::{account_to_proto, history_to_proto, parse_id};

/// What every lifecycle request carries.
struct Lifecycle<'a> {
    method: &'static str,
    id: &'a str,
    reason: &'a str,
    request_id: &'a str,
}

/// Runs `transition` for a parsed lifecycle request; `respond` makes the
/// answer from the account and the members that followed it.
async fn transition<Q: prost::Message, R: prost::Message + Default>(
    api: &AccountsApi,
    request: Request<Q>,
    transition: Transition,
    fields: fn(&Q) -> Lifecycle<'_>,
    respond: impl FnOnce(Option<bss_proto::accounts::Account>, Vec<String>) -> R,
) -> Result<Response<R>, Status> {
    let (caller, tenant_id) = authorize(&request, WRITERS)?;
    let request = request.into_inner();
    let input = fields(&request);
    let run = async {
        let id = parse_id("id", input.id)?;
        let reason = required_text(input.reason, 500).map_err(|problem| Violations::single("reason", problem))?;
        let key = RequestKey::new(tenant_id, input.method, input.request_id, &request)?;
        let answer = |account: &Account, cascaded: &[Uuid]| {
            respond(Some(account_to_proto(account)), cascaded.iter().map(Uuid::to_string).collect())
        };
        api.transition(&caller, tenant_id, key, (id, &reason), transition, answer).await
    };
    Ok(Response::new(run.await?))
}

pub(super) async fn suspend_account(
    api: &AccountsApi,
    request: Request<SuspendAccountRequest>,
) -> Result<Response<SuspendAccountResponse>, Status> {
    let fields: fn(&SuspendAccountRequest) -> Lifecycle<'_> = |request| Lifecycle {
        method: "SuspendAccount",
        id: &request.id,
        reason: &request.reason,
        request_id: &request.request_id,
    };
    transition(api, request, Transition::Suspend, fields, |account, cascaded_account_ids| SuspendAccountResponse {
        account,
        cascaded_account_ids,
    })
    .await
}

pub(super) async fn reactivate_account(
    api: &AccountsApi,
    request: Request<ReactivateAccountRequest>,
) -> Result<Response<ReactivateAccountResponse>, Status> {
    let fields: fn(&ReactivateAccountRequest) -> Lifecycle<'_> = |request| Lifecycle {
        method: "ReactivateAccount",
        id: &request.id,
        reason: &request.reason,
        request_id: &request.request_id,
    };
    transition(api, request, Transition::Reactivate, fields, |account, cascaded_account_ids| {
        ReactivateAccountResponse { account, cascaded_account_ids }
    })
    .await
}

pub(super) async fn terminate_account(
    api: &AccountsApi,
    request: Request<TerminateAccountRequest>,
) -> Result<Response<TerminateAccountResponse>, Status> {
    let fields: fn(&TerminateAccountRequest) -> Lifecycle<'_> = |request| Lifecycle {
        method: "TerminateAccount",
        id: &request.id,
        reason: &request.reason,
        request_id: &request.request_id,
    };
    transition(api, request, Transition::Terminate, fields, |account, cascaded_account_ids| TerminateAccountResponse {
        account,
        cascaded_account_ids,
    })
    .await
}

pub(super) async fn list_account_history(
    api: &AccountsApi,
    request: Request<ListAccountHistoryRequest>,
) -> Result<Response<ListAccountHistoryResponse>, Status> {
    let (caller, tenant_id) = authorize(&request, READERS)?;
    let request = request.into_inner();
    let run = async {
        let account_id = parse_id("account_id", &request.account_id)?;
        let page = Page::parse(request.page_size, &request.page_token, &request.account_id)?;
        let (lines, next_page_token) = api.history(&caller, (tenant_id, account_id), &page).await?;
        Ok::<_, AccountsError>(ListAccountHistoryResponse {
            entries: lines.iter().map(history_to_proto).collect(),
            next_page_token,
        })
    };
    Ok(Response::new(run.await?))
}

pub(super) async fn synchronize_account(
    api: &AccountsApi,
    request: Request<SynchronizeAccountRequest>,
) -> Result<Response<SynchronizeAccountResponse>, Status> {
    let (caller, tenant_id) = authorize(&request, WRITERS)?;
    let request = request.into_inner();
    let run = async {
        let id = parse_id("id", &request.id)?;
        let system = required_text(&request.provisioning_system, 64)
            .map_err(|problem| Violations::single("provisioning_system", problem))?;
        let key = RequestKey::new(tenant_id, "SynchronizeAccount", &request.request_id, &request)?;
        api.synchronize(&caller, tenant_id, key, (id, &system), |account| SynchronizeAccountResponse {
            account: Some(account_to_proto(account)),
        })
        .await
    };
    Ok(Response::new(run.await?))
}
