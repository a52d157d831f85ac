//! Account groups: forming one checks every condition and names each one
//! broken; members join and leave with a history line and an event.

use bss_platform::auth::Caller;
use bss_platform::client;
use bss_platform::error::Violations;
use bss_platform::idempotency::RequestKey;
use bss_platform::input::required_id;
use bss_proto::accounts::account_event::Payload;
use bss_proto::accounts::group_service_server::GroupService;
use bss_proto::accounts::*;
use bss_proto::pricing::GetAccountPricingRequest;
use bss_proto::pricing::account_pricing_service_client::AccountPricingServiceClient;
use sqlx::PgConnection;
use tonic::{Code, Request, Response, Status};
use uuid::Uuid;

use super::accounts::visibility;
use super::convert::{funding_from_wire, funding_to_proto, parse_id};
use super::{AccountsApi, PEER_TIMEOUT, READERS, WRITERS, authorize, publish, record};
use crate::domain::account::Account;
use crate::domain::error::AccountsError;
use crate::domain::group::{Candidate, formation_violations};
use crate::domain::history::{FieldChange, HistoryLine};
use crate::repo;
use crate::repo::accounts::Visibility;
use crate::repo::groups::Membership;

impl AccountsApi {
    async fn add_member(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        request: AddGroupMemberRequest,
    ) -> Result<AddGroupMemberResponse, AccountsError> {
        let mut v = Violations::new();
        let parent_id = v.keep("parent_account_id", required_id(&request.parent_account_id));
        let member_id = v.keep("member_account_id", required_id(&request.member_account_id));
        let funding = v.keep("funding", funding_from_wire(request.funding.as_ref()));
        let (Some(parent_id), Some(member_id), Some(funding)) = (parent_id, member_id, funding) else {
            return Err(v.into());
        };
        // Asked before any row is locked: no lock waits on another service.
        let member_has_own_pricing = self.has_own_pricing(caller, member_id).await?;
        let key = RequestKey::new(tenant_id, "AddGroupMember", &request.request_id, &request)?;
        self.write(key, async |tx| {
            // Both accounts are locked, in id order, so concurrent formations of
            // the same accounts take turns.
            let locked = repo::accounts::lock_many(tx, tenant_id, &[parent_id, member_id]).await?;
            let find = |id: Uuid| {
                locked.iter().find(|account| account.id == id).ok_or_else(|| AccountsError::not_found("account", id))
            };
            let (parent, member) = (find(parent_id)?, find(member_id)?);
            let parent_candidate = self.candidate(tx, parent).await?;
            let member_candidate =
                Candidate { has_own_pricing: member_has_own_pricing, ..self.candidate(tx, member).await? };
            let broken = formation_violations(&parent_candidate, &member_candidate);
            if !broken.is_empty() {
                return Err(AccountsError::GroupRules(broken));
            }
            let membership = Membership { member_id, parent_id, funding: funding.clone() };
            repo::groups::insert(tx, tenant_id, &membership).await?;
            let parent_code = parent.fields.code.as_str().to_owned();
            let member_code = member.fields.code.as_str().to_owned();
            let joined = HistoryLine {
                action: "GROUP_JOINED",
                changes: vec![FieldChange::new("group_parent", String::new(), parent_code)],
                reason: format!("{} funding", funding.scope()),
            };
            record(tx, tenant_id, member_id, caller, &joined).await?;
            let added = HistoryLine {
                action: "GROUP_MEMBER_ADDED",
                changes: vec![FieldChange::new("group_member", String::new(), member_code)],
                reason: String::new(),
            };
            record(tx, tenant_id, parent_id, caller, &added).await?;
            let changed = GroupMembershipChanged {
                kind: ChangeKind::Created as i32,
                parent_account_id: parent_id.to_string(),
                member_account_id: member_id.to_string(),
                funding: Some(funding_to_proto(&funding)),
            };
            publish(tx, tenant_id, caller, Payload::GroupMembershipChanged(changed)).await?;
            let group = group_of(tx, tenant_id, parent_id).await?;
            let response = AddGroupMemberResponse { group: Some(group) };
            Ok(response)
        })
        .await
    }

    /// Whether pricing knows pricing of the account's own (no pricing
    /// service configured: none).
    async fn has_own_pricing(&self, caller: &Caller, account_id: Uuid) -> Result<bool, AccountsError> {
        let Some(channel) = &self.peers.pricing else {
            return Ok(false);
        };
        let request = GetAccountPricingRequest { account_id: account_id.to_string() };
        let request = client::request(request, caller, PEER_TIMEOUT);
        match AccountPricingServiceClient::new(channel.clone()).get_account_pricing(request).await {
            Ok(response) => Ok(response.into_inner().pricing.is_some_and(|pricing| pricing.has_own_pricing)),
            Err(status) if status.code() == Code::NotFound => Ok(false),
            Err(status) => Err(client::peer_error("pricing", status).into()),
        }
    }

    /// What the group rules need to know about an account.
    async fn candidate<'a>(
        &self,
        connection: &mut PgConnection,
        account: &'a Account,
    ) -> Result<Candidate<'a>, AccountsError> {
        let in_group = repo::groups::membership_of(connection, account.tenant_id, account.id).await?.is_some();
        let leads_group = !repo::groups::members_of(connection, account.tenant_id, account.id).await?.is_empty();
        let primary_contact_email =
            repo::groups::primary_contact_email(connection, account.tenant_id, account.id).await?;
        Ok(Candidate { account, leads_group, in_group, primary_contact_email, has_own_pricing: false })
    }

    async fn remove_member(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        request: RemoveGroupMemberRequest,
    ) -> Result<RemoveGroupMemberResponse, AccountsError> {
        let member_id = parse_id("member_account_id", &request.member_account_id)?;
        let key = RequestKey::new(tenant_id, "RemoveGroupMember", &request.request_id, &request)?;
        self.write(key, async |tx| {
            repo::accounts::get(tx, tenant_id, member_id, Visibility::All, true).await?;
            let membership = repo::groups::membership_of(tx, tenant_id, member_id)
                .await?
                .ok_or_else(|| AccountsError::not_found("group membership", member_id))?;
            repo::groups::delete(tx, tenant_id, member_id).await?;
            let left = HistoryLine {
                action: "GROUP_LEFT",
                changes: vec![FieldChange::new("group_parent", membership.parent_id.to_string(), String::new())],
                reason: String::new(),
            };
            record(tx, tenant_id, member_id, caller, &left).await?;
            let changed = GroupMembershipChanged {
                kind: ChangeKind::Deleted as i32,
                parent_account_id: membership.parent_id.to_string(),
                member_account_id: member_id.to_string(),
                funding: Some(funding_to_proto(&membership.funding)),
            };
            publish(tx, tenant_id, caller, Payload::GroupMembershipChanged(changed)).await?;
            let group = group_of(tx, tenant_id, membership.parent_id).await?;
            let response = RemoveGroupMemberResponse { group: Some(group) };
            Ok(response)
        })
        .await
    }

    async fn group(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        request: GetAccountGroupRequest,
    ) -> Result<GetAccountGroupResponse, AccountsError> {
        let account_id = parse_id("account_id", &request.account_id)?;
        let mut connection = self.db.acquire().await?;
        repo::accounts::get(&mut connection, tenant_id, account_id, visibility(caller), false).await?;
        let parent_id = match repo::groups::membership_of(&mut connection, tenant_id, account_id).await? {
            Some(membership) => membership.parent_id,
            None => account_id,
        };
        let group = group_of(&mut connection, tenant_id, parent_id).await?;
        if group.members.is_empty() {
            return Err(AccountsError::not_found("group of account", account_id));
        }
        Ok(GetAccountGroupResponse { group: Some(group) })
    }
}

async fn group_of(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    parent_id: Uuid,
) -> Result<AccountGroup, AccountsError> {
    let members = repo::groups::members_of(connection, tenant_id, parent_id).await?;
    Ok(AccountGroup {
        parent_account_id: parent_id.to_string(),
        members: members
            .iter()
            .map(|membership| GroupMember {
                account_id: membership.member_id.to_string(),
                funding: Some(funding_to_proto(&membership.funding)),
            })
            .collect(),
    })
}

#[tonic::async_trait]
impl GroupService for AccountsApi {
    async fn add_group_member(
        &self,
        request: Request<AddGroupMemberRequest>,
    ) -> Result<Response<AddGroupMemberResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, WRITERS)?;
        Ok(Response::new(self.add_member(&caller, tenant_id, request.into_inner()).await?))
    }

    async fn remove_group_member(
        &self,
        request: Request<RemoveGroupMemberRequest>,
    ) -> Result<Response<RemoveGroupMemberResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, WRITERS)?;
        Ok(Response::new(self.remove_member(&caller, tenant_id, request.into_inner()).await?))
    }

    async fn get_account_group(
        &self,
        request: Request<GetAccountGroupRequest>,
    ) -> Result<Response<GetAccountGroupResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, READERS)?;
        Ok(Response::new(self.group(&caller, tenant_id, request.into_inner()).await?))
    }
}
