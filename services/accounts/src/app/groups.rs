//! Account groups: forming one checks every condition and names each one
//! broken; members join and leave with a history line and an event.

use bss_platform::auth::Caller;
use bss_platform::client;
use bss_platform::idempotency::RequestKey;
use bss_proto::accounts::account_event::Payload;
use bss_proto::accounts::{ChangeKind, GroupMembershipChanged};
use bss_proto::pricing::GetAccountPricingRequest;
use bss_proto::pricing::account_pricing_service_client::AccountPricingServiceClient;
use prost::Message;
use sqlx::PgConnection;
use tonic::Code;
use uuid::Uuid;

use super::{Accounts, PEER_TIMEOUT, publish, record};
use crate::domain::account::Account;
use crate::domain::error::AccountsError;
use crate::domain::group::{Candidate, Funding, formation_violations};
use crate::domain::history::{FieldChange, HistoryLine};
use crate::repo;
use crate::repo::accounts::Visibility;
use crate::repo::groups::Membership;
use crate::wire::funding_to_proto;

/// A group: its parent and its members.
pub struct Group {
    pub parent_id: Uuid,
    pub members: Vec<Membership>,
}

fn membership_changed(kind: ChangeKind, membership: &Membership) -> Payload {
    Payload::GroupMembershipChanged(GroupMembershipChanged {
        kind: kind as i32,
        parent_account_id: membership.parent_id.to_string(),
        member_account_id: membership.member_id.to_string(),
        funding: Some(funding_to_proto(&membership.funding)),
    })
}

impl Accounts {
    /// Makes `member_id` a member of `parent_id`'s group, funded as
    /// `funding`, when both accounts meet every condition of a group.
    pub async fn add_member<R: Message + Default>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        (parent_id, member_id, funding): (Uuid, Uuid, Funding),
        respond: impl FnOnce(&Group) -> R,
    ) -> Result<R, AccountsError> {
        // Asked before any row is locked: no lock waits on another service.
        let member_has_own_pricing = self.has_own_pricing(caller, member_id).await?;
        let residential = self.tenants.get(&self.db, tenant_id).await?.residential.clone();
        self.write(key, async |tx| {
            // Both accounts are locked, in id order, so concurrent formations of
            // the same accounts take turns.
            let locked = repo::accounts::lock_many(tx, tenant_id, &[parent_id, member_id]).await?;
            let find = |id: Uuid| {
                locked.iter().find(|account| account.id == id).ok_or_else(|| AccountsError::not_found("account", id))
            };
            let (parent, member) = (find(parent_id)?, find(member_id)?);
            let parent_candidate = candidate(tx, parent).await?;
            let member_candidate =
                Candidate { has_own_pricing: member_has_own_pricing, ..candidate(tx, member).await? };
            let broken = formation_violations(&parent_candidate, &member_candidate);
            if !broken.is_empty() {
                return Err(AccountsError::GroupRules(broken));
            }
            let refused = residential.group_refusal([parent.fields.profile, member.fields.profile]);
            AccountsError::check_residential(refused.into_iter().collect())?;
            let membership = Membership { member_id, parent_id, funding };
            repo::groups::insert(tx, tenant_id, &membership).await?;
            let parent_code = parent.fields.code.as_str().to_owned();
            let member_code = member.fields.code.as_str().to_owned();
            let joined = HistoryLine {
                action: "GROUP_JOINED",
                changes: vec![FieldChange::new("group_parent", String::new(), parent_code)],
                reason: format!("{} funding", membership.funding.scope()),
            };
            record(tx, tenant_id, member_id, caller, &joined).await?;
            let added = HistoryLine {
                action: "GROUP_MEMBER_ADDED",
                changes: vec![FieldChange::new("group_member", String::new(), member_code)],
                reason: String::new(),
            };
            record(tx, tenant_id, parent_id, caller, &added).await?;
            publish(tx, tenant_id, caller, membership_changed(ChangeKind::Created, &membership)).await?;
            Ok(respond(&group_of(tx, tenant_id, parent_id).await?))
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

    /// Takes an account out of its group.
    pub async fn remove_member<R: Message + Default>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        member_id: Uuid,
        respond: impl FnOnce(&Group) -> R,
    ) -> Result<R, AccountsError> {
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
            publish(tx, tenant_id, caller, membership_changed(ChangeKind::Deleted, &membership)).await?;
            Ok(respond(&group_of(tx, tenant_id, membership.parent_id).await?))
        })
        .await
    }

    /// The group an account leads or belongs to, if the caller may see the
    /// account.
    pub async fn group(&self, caller: &Caller, tenant_id: Uuid, account_id: Uuid) -> Result<Group, AccountsError> {
        let visibility = self.scope(caller, tenant_id).await?;
        let mut connection = self.db.acquire().await?;
        repo::accounts::get(&mut connection, tenant_id, account_id, visibility, false).await?;
        let parent_id = match repo::groups::membership_of(&mut connection, tenant_id, account_id).await? {
            Some(membership) => membership.parent_id,
            None => account_id,
        };
        let group = group_of(&mut connection, tenant_id, parent_id).await?;
        if group.members.is_empty() {
            return Err(AccountsError::not_found("group of account", account_id));
        }
        Ok(group)
    }
}

/// What the group rules need to know about an account.
async fn candidate<'a>(connection: &mut PgConnection, account: &'a Account) -> Result<Candidate<'a>, AccountsError> {
    let in_group = repo::groups::membership_of(connection, account.tenant_id, account.id).await?.is_some();
    let leads_group = !repo::groups::members_of(connection, account.tenant_id, account.id).await?.is_empty();
    let primary_contact_email = repo::groups::primary_contact_email(connection, account.tenant_id, account.id).await?;
    Ok(Candidate { account, leads_group, in_group, primary_contact_email, has_own_pricing: false })
}

async fn group_of(connection: &mut PgConnection, tenant_id: Uuid, parent_id: Uuid) -> Result<Group, AccountsError> {
    Ok(Group { parent_id, members: repo::groups::members_of(connection, tenant_id, parent_id).await? })
}
