//! Suspend, reactivate, terminate (cascading to group members), the
//! history of an account, and provisioning synchronization.

use bss_platform::auth::{Caller, Role};
use bss_platform::client;
use bss_platform::idempotency::RequestKey;
use bss_platform::paging::Page;
use bss_proto::accounts::account_event::Payload;
use bss_proto::accounts::{AccountStatusChanged, AccountUpdated};
use bss_proto::billing::ledger_service_client::LedgerServiceClient;
use bss_proto::billing::{CheckAccountsSettledRequest, SettlementPurpose};
use bss_proto::credit::credit_service_client::CreditServiceClient;
use prost::Message;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{Accounts, PEER_TIMEOUT, publish, record};
use crate::domain::account::{Account, AccountStatus};
use crate::domain::error::AccountsError;
use crate::domain::history::{FieldChange, HistoryLine};
use crate::domain::lifecycle::{Transition, cascade_reason};
use crate::domain::managed;
use crate::repo;
use crate::repo::accounts::Visibility;
use crate::repo::history::StoredLine;
use crate::wire::{account_to_proto, status_wire};

impl Accounts {
    /// One lifecycle transition of an account, for `reason`, and, for a
    /// group parent, of the members that follow it; a history line and an
    /// event for each. `respond` gets the account and the members that
    /// followed.
    pub async fn transition<R: Message + Default>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        (id, reason): (Uuid, &str),
        transition: Transition,
        respond: impl FnOnce(&Account, &[Uuid]) -> R,
    ) -> Result<R, AccountsError> {
        self.write(key, async |tx| {
            let account = repo::accounts::get(tx, tenant_id, id, Visibility::All, true).await?;
            let verb = match transition {
                Transition::Suspend => "suspend",
                Transition::Reactivate => "reactivate",
                Transition::Terminate => "terminate",
            };
            managed::check_action(account.fields.managed_by.as_ref(), verb, caller.has_role(Role::Integration))?;
            let new_status = transition.apply(account.status)?;
            if transition == Transition::Reactivate
                && let Some(membership) = repo::groups::membership_of(tx, tenant_id, id).await?
            {
                let parent = repo::accounts::get(tx, tenant_id, membership.parent_id, Visibility::All, false).await?;
                if parent.status != AccountStatus::Active {
                    return Err(AccountsError::precondition(
                        "PARENT_SUSPENDED",
                        "a group member cannot be reactivated while its group parent is not active",
                    ));
                }
            }

            let member_ids: Vec<Uuid> = repo::groups::members_of(tx, tenant_id, id)
                .await?
                .into_iter()
                .map(|membership| membership.member_id)
                .collect();
            let members = repo::accounts::lock_many(tx, tenant_id, &member_ids).await?;
            let followers: Vec<Account> = members
                .into_iter()
                .filter(|member| transition.cascades_to(member.status, member.status_cause_account_id == Some(id)))
                .collect();
            if transition == Transition::Terminate {
                let mut accounts = vec![id];
                accounts.extend(followers.iter().map(|member| member.id));
                self.check_financially_settled(caller, &accounts, SettlementPurpose::Termination).await?;
            }

            let updated = change_status(tx, caller, &account, new_status, reason, None, transition).await?;
            let member_reason = cascade_reason(transition, account.fields.code.as_str(), reason);
            let mut cascaded = Vec::with_capacity(followers.len());
            for member in &followers {
                let member_status = transition.apply(member.status)?;
                change_status(tx, caller, member, member_status, &member_reason, Some(id), transition).await?;
                cascaded.push(member.id);
            }
            tracing::info!(account_id = %id, action = transition.action(), cascaded = followers.len(), "account status changed");
            Ok(respond(&updated, &cascaded))
        })
        .await
    }

    /// Terminating needs billing final for the accounts (no drafts, active
    /// subscriptions, held orders or uninvoiced charges); deleting also needs
    /// no money ever posted for them and nothing open in credit. Billing and
    /// credit answer; a suite without them has nothing to wait for.
    /// Refuses with every reason each reports.
    pub(crate) async fn check_financially_settled(
        &self,
        caller: &Caller,
        accounts: &[Uuid],
        purpose: SettlementPurpose,
    ) -> Result<(), AccountsError> {
        let mut held: Vec<(&'static str, String)> = Vec::new();
        let mut note = |account_id: &str, reason: &str, count: i64| {
            let reason = match reason {
                "INVOICES_NOT_POSTED" => "INVOICES_NOT_POSTED",
                "SUBSCRIPTIONS_ACTIVE" => "SUBSCRIPTIONS_ACTIVE",
                "ORDERS_NOT_FINAL" => "ORDERS_NOT_FINAL",
                "POSTED_TRANSACTIONS" => "POSTED_TRANSACTIONS",
                "RESERVATIONS_OPEN" => "RESERVATIONS_OPEN",
                "HELD_ORDERS_PENDING" => "HELD_ORDERS_PENDING",
                "WALLET_NOT_EMPTY" => "WALLET_NOT_EMPTY",
                "ASSETS_HELD" => "ASSETS_HELD",
                _ => "CHARGES_NOT_INVOICED",
            };
            held.push((reason, format!("account {account_id}: {reason} x{count}")));
        };
        let unavailable =
            |what: &'static str| move |status: tonic::Status| AccountsError::from(client::peer_error(what, status));
        for batch in accounts.chunks(1_000) {
            let ids: Vec<String> = batch.iter().map(Uuid::to_string).collect();
            if let Some(channel) = &self.peers.billing {
                let check = CheckAccountsSettledRequest { account_ids: ids.clone(), purpose: purpose as i32 };
                let answer = LedgerServiceClient::new(channel.clone())
                    .check_accounts_settled(client::request(check, caller, PEER_TIMEOUT))
                    .await
                    .map_err(unavailable("billing"))?;
                for item in answer.into_inner().unsettled {
                    note(&item.account_id, &item.reason, item.count);
                }
            }
            // Credit's reservations and held orders stand in the way of a
            // deletion; a termination waits for billing alone (a
            // reservation is captured as its invoice posts).
            if let Some(channel) = self.peers.credit.as_ref().filter(|_| purpose == SettlementPurpose::Deletion) {
                let check = bss_proto::credit::CheckAccountsSettledRequest { account_ids: ids };
                let answer = CreditServiceClient::new(channel.clone())
                    .check_accounts_settled(client::request(check, caller, PEER_TIMEOUT))
                    .await
                    .map_err(unavailable("credit"))?;
                for item in answer.into_inner().unsettled {
                    note(&item.account_id, &item.reason, item.count);
                }
            }
        }
        if held.is_empty() { Ok(()) } else { Err(AccountsError::MoneyHeld(held)) }
    }

    /// A page of an account's history, if the caller may see the account.
    pub async fn history(
        &self,
        caller: &Caller,
        (tenant_id, account_id): (Uuid, Uuid),
        page: &Page,
    ) -> Result<(Vec<StoredLine>, String), AccountsError> {
        let list = async |connection: &mut PgConnection, page: &Page| {
            repo::history::list(connection, tenant_id, account_id, page.after_i64()?, page.fetch_limit()).await
        };
        self.account_page(caller, (tenant_id, account_id), page, list, |line| line.id.to_be_bytes().to_vec()).await
    }

    /// Records that the account is synchronized with a provisioning
    /// `system` (one of its sync options from then on).
    pub async fn synchronize<R: Message + Default>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        (id, system): (Uuid, &str),
        respond: impl FnOnce(&Account) -> R,
    ) -> Result<R, AccountsError> {
        self.write(key, async |tx| {
            let account = repo::accounts::get(tx, tenant_id, id, Visibility::All, true).await?;
            managed::check_action(
                account.fields.managed_by.as_ref(),
                "synchronize",
                caller.has_role(Role::Integration),
            )?;
            let mut fields = account.fields.clone();
            if !fields.sync_options.iter().any(|option| option == system) {
                fields.sync_options.push(system.to_owned());
            }
            let tenant = self.tenants.get(&self.db, tenant_id).await?;
            let updated = repo::accounts::update(tx, &account, &fields, tenant.name_scope()).await?;
            let line = HistoryLine {
                action: "SYNCHRONIZED",
                changes: vec![FieldChange::new(
                    "sync_options",
                    account.fields.sync_options.join(","),
                    fields.sync_options.join(","),
                )],
                reason: format!("synchronized with {system}"),
            };
            record(tx, tenant_id, id, caller, &line).await?;
            let updated_event = AccountUpdated {
                account: Some(account_to_proto(&updated)),
                changed_fields: vec!["sync_options".to_owned()],
            };
            publish(tx, tenant_id, caller, Payload::AccountUpdated(updated_event)).await?;
            Ok(respond(&updated))
        })
        .await
    }
}

/// Sets a status with its history line and event.
async fn change_status(
    connection: &mut PgConnection,
    caller: &Caller,
    account: &Account,
    status: AccountStatus,
    reason: &str,
    cause: Option<Uuid>,
    transition: Transition,
) -> Result<Account, AccountsError> {
    let updated = repo::accounts::set_status(connection, account, status, reason, cause).await?;
    let line = HistoryLine {
        action: transition.action(),
        changes: vec![FieldChange::new("status", account.status.as_str(), status.as_str())],
        reason: reason.to_owned(),
    };
    record(connection, account.tenant_id, account.id, caller, &line).await?;
    let changed = AccountStatusChanged {
        account_id: account.id.to_string(),
        previous_status: status_wire(account.status),
        status: status_wire(status),
        reason: reason.to_owned(),
        cause_account_id: cause.map(|id| id.to_string()).unwrap_or_default(),
    };
    publish(connection, account.tenant_id, caller, Payload::AccountStatusChanged(changed)).await?;
    Ok(updated)
}
