//! The copy and keep-in-step rules, carried out on the accounts service as
//! the sync (the `integration` role, acting in one tenant at a time). Every
//! change has a request id derived from what caused it, so a replayed or
//! retried event changes nothing twice.

use std::time::Duration;

use bss_platform::auth::{Caller, ServiceIdentity};
use bss_platform::client;
use bss_platform::events::HandlerError;
use bss_platform::peers;
use bss_proto::accounts::account_service_client::AccountServiceClient;
use bss_proto::accounts::*;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use tonic::transport::Channel;
use tonic::{Code, Status};
use uuid::Uuid;

/// How long a call to accounts may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The fields of a copy only the sync changes.
pub const LOCKED_FIELDS: &[&str] = &["name", "code", "email", "sync_options", "billing_address"];

/// A link as stored.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct LinkRow {
    pub reseller_tenant_id: Uuid,
    pub distributor_tenant_id: Uuid,
    pub tenant_reseller_account_id: Uuid,
    pub reseller_name: String,
    pub separate_invoices: bool,
    pub currency_code: String,
    pub responsible_user: String,
    pub sharing_rule: String,
    pub created_at: DateTime<Utc>,
}

macro_rules! link_columns {
    () => {
        "reseller_tenant_id, distributor_tenant_id, tenant_reseller_account_id, reseller_name, separate_invoices,
         currency_code, responsible_user, sharing_rule, created_at"
    };
}
pub(crate) use link_columns;

pub async fn link(connection: &mut PgConnection, reseller_tenant_id: Uuid) -> Result<Option<LinkRow>, sqlx::Error> {
    sqlx::query_as(concat!("SELECT ", link_columns!(), " FROM reseller_sync.links WHERE reseller_tenant_id = $1"))
        .bind(reseller_tenant_id)
        .fetch_optional(connection)
        .await
}

/// The copy of a reseller customer, as the distributor's books get it.
pub fn copy_of(link: &LinkRow, source: &Account) -> Account {
    Account {
        code: source.code.clone(),
        name: source.name.clone(),
        email: source.email.clone(),
        enable_ordering: true,
        parent_account_id: link.tenant_reseller_account_id.to_string(),
        separate_invoices: link.separate_invoices,
        responsible_user: link.responsible_user.clone(),
        sharing_rule: link.sharing_rule.clone(),
        sync_options: source.sync_options.clone(),
        currency_code: link.currency_code.clone(),
        kind: source.kind,
        managed_by: Some(ManagedBy {
            tenant_reseller_account_id: link.tenant_reseller_account_id.to_string(),
            reseller_name: link.reseller_name.clone(),
            locked_fields: LOCKED_FIELDS.iter().map(|field| (*field).to_owned()).collect(),
        }),
        ..Account::default()
    }
}

/// The copy of a billing address (no ids, no validation state).
fn address_of(source: &Address) -> Address {
    Address {
        r#type: AddressType::Billing as i32,
        lines: source.lines.clone(),
        city: source.city.clone(),
        region: source.region.clone(),
        postal_code: source.postal_code.clone(),
        country_code: source.country_code.clone(),
        is_primary: source.is_primary,
        override_validation: true,
        ..Address::default()
    }
}

fn same_address(left: &Address, right: &Address) -> bool {
    (&left.lines, &left.city, &left.region, &left.postal_code, &left.country_code)
        == (&right.lines, &right.city, &right.region, &right.postal_code, &right.country_code)
}

/// The status text of a copy's history line.
pub fn status_reason(status: AccountStatus, reseller_name: &str) -> String {
    let status = match status {
        AccountStatus::Suspended => "Suspended",
        AccountStatus::Active => "Active",
        AccountStatus::Terminated => "Terminated",
        _ => "Unknown",
    };
    format!("Account's Status Changed to {status} due to changes on {reseller_name}")
}

/// A failure of accounts as the consumer treats it: the service being away
/// is retried; a refusal is set aside (visible, retryable).
fn failure(what: &str) -> impl Fn(Status) -> HandlerError + '_ {
    move |status| match status.code() {
        Code::Unavailable
        | Code::DeadlineExceeded
        | Code::Internal
        | Code::Unknown
        | Code::Aborted
        | Code::ResourceExhausted
        | Code::Cancelled => HandlerError::Retry(format!("{what}: {}", status.message())),
        _ => HandlerError::DeadLetter(format!("{what}: {:?} {}", status.code(), status.message())),
    }
}

/// The reasons accounts gives for keeping an account that holds money.
const MONEY_REASONS: [&str; 7] = [
    "POSTED_TRANSACTIONS",
    "INVOICES_NOT_POSTED",
    "SUBSCRIPTIONS_ACTIVE",
    "ORDERS_NOT_FINAL",
    "CHARGES_NOT_INVOICED",
    "RESERVATIONS_OPEN",
    "HELD_ORDERS_PENDING",
];

/// Whether a refused deletion was refused because the account holds money.
fn holds_money(refusal: &Status) -> bool {
    use tonic_types::StatusExt;
    refusal.code() == Code::FailedPrecondition
        && refusal.get_details_error_info().is_some_and(|info| MONEY_REASONS.contains(&info.reason.as_str()))
}

/// Why a copy whose reseller customer was deleted stays: every reason the
/// distributor's books gave (a posted transaction, a draft, an open order).
pub fn copy_kept(copy_id: Uuid, source_id: Uuid, refusal: &Status) -> String {
    use tonic_types::StatusExt;
    let reasons: Vec<String> = refusal
        .get_details_precondition_failure()
        .map(|failure| failure.violations.into_iter().map(|violation| violation.description).collect())
        .unwrap_or_default();
    let reasons = if reasons.is_empty() { refusal.message().to_owned() } else { reasons.join("; ") };
    format!(
        "COPY_HOLDS_MONEY: reseller customer {source_id} was deleted, but its copy {copy_id} holds money in the \
         distributor's books ({reasons}); the copy stays until that is settled: retry this event then"
    )
}

/// The sync's hands on the accounts service.
#[derive(Clone)]
pub struct Syncer {
    /// The reseller side (its customers).
    pub accounts: Channel,
    /// The distributor side (the copies); the same service by default.
    pub distributor_accounts: Channel,
    pub identity: ServiceIdentity,
}

impl Syncer {
    fn caller(&self, tenant_id: Uuid) -> Result<Caller, HandlerError> {
        self.identity
            .caller(Some(tenant_id))
            .ok_or_else(|| HandlerError::Retry("the sync has no service token".to_owned()))
    }

    fn request<T>(&self, message: T, tenant_id: Uuid) -> Result<tonic::Request<T>, HandlerError> {
        Ok(client::request(message, &self.caller(tenant_id)?, TIMEOUT))
    }

    /// An account and, with `addresses`, its billing addresses (both read
    /// at once); None when it is gone.
    async fn account(
        &self,
        channel: &Channel,
        tenant_id: Uuid,
        id: Uuid,
        addresses: bool,
    ) -> Result<Option<(Account, Vec<Address>)>, HandlerError> {
        let caller = self.caller(tenant_id)?;
        let read_account = async {
            let account = peers::Accounts::new(Some(channel.clone())).account(&caller, id).await?;
            Ok::<_, HandlerError>(account)
        };
        let read_addresses = async {
            if !addresses {
                return Ok(Vec::new());
            }
            let list = ListAddressesRequest { account_id: id.to_string(), page_size: 500, page_token: String::new() };
            let list = self.request(list, tenant_id)?;
            let listed = AccountServiceClient::new(channel.clone())
                .list_addresses(list)
                .await
                .map_err(failure("reading addresses"))?
                .into_inner()
                .addresses;
            Ok(listed.into_iter().filter(|address| address.r#type == AddressType::Billing as i32).collect())
        };
        let (account, addresses): (_, Result<Vec<Address>, HandlerError>) = tokio::join!(read_account, read_addresses);
        match account? {
            Some(account) => Ok(Some((account, addresses?))),
            None => Ok(None),
        }
    }

    /// The reseller customer and its billing addresses; None when gone.
    pub async fn source(&self, link: &LinkRow, id: Uuid) -> Result<Option<(Account, Vec<Address>)>, HandlerError> {
        self.account(&self.accounts, link.reseller_tenant_id, id, true).await
    }

    /// Copies a reseller customer, once.
    pub async fn copy(&self, tx: &mut PgConnection, link: &LinkRow, source_id: Uuid) -> Result<(), HandlerError> {
        let copied: Option<Uuid> = sqlx::query_scalar(
            "SELECT copy_account_id FROM reseller_sync.copies WHERE reseller_tenant_id = $1 AND reseller_account_id = $2",
        )
        .bind(link.reseller_tenant_id)
        .bind(source_id)
        .fetch_optional(&mut *tx)
        .await?;
        if copied.is_some() {
            return Ok(());
        }
        let Some((source, addresses)) = self.source(link, source_id).await? else {
            return Ok(());
        };
        let distributor = link.distributor_tenant_id;
        let mut accounts = AccountServiceClient::new(self.distributor_accounts.clone());
        let create = CreateAccountRequest {
            account: Some(copy_of(link, &source)),
            request_id: format!("resellersync-copy-{source_id}"),
        };
        let copy = accounts
            .create_account(self.request(create, distributor)?)
            .await
            .map_err(failure("creating the copy"))?
            .into_inner()
            .account
            .unwrap_or_default();
        let copy_id: Uuid =
            copy.id.parse().map_err(|_| HandlerError::DeadLetter(format!("a copy id {:?}", copy.id)))?;
        for address in &addresses {
            let create = CreateAddressRequest {
                account_id: copy.id.clone(),
                address: Some(address_of(address)),
                request_id: format!("resellersync-address-{}", address.id),
            };
            accounts.create_address(self.request(create, distributor)?).await.map_err(failure("copying an address"))?;
        }
        if source.status == AccountStatus::Suspended as i32 {
            self.set_status(link, copy_id, AccountStatus::Suspended, &format!("copy-{source_id}")).await?;
        }
        sqlx::query(
            "INSERT INTO reseller_sync.copies (reseller_tenant_id, reseller_account_id, copy_account_id)
             VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(link.reseller_tenant_id)
        .bind(source_id)
        .bind(copy_id)
        .execute(&mut *tx)
        .await?;
        tracing::info!(reseller_tenant = %link.reseller_tenant_id, %source_id, %copy_id, "reseller customer copied");
        Ok(())
    }

    async fn set_status(
        &self,
        link: &LinkRow,
        copy_id: Uuid,
        status: AccountStatus,
        cause: &str,
    ) -> Result<(), HandlerError> {
        let mut accounts = AccountServiceClient::new(self.distributor_accounts.clone());
        let reason = status_reason(status, &link.reseller_name);
        let request_id = format!("resellersync-status-{copy_id}-{cause}");
        let distributor = link.distributor_tenant_id;
        let result = match status {
            AccountStatus::Suspended => {
                let suspend = SuspendAccountRequest { id: copy_id.to_string(), reason, request_id };
                accounts.suspend_account(self.request(suspend, distributor)?).await.map(|_| ())
            }
            AccountStatus::Active => {
                let reactivate = ReactivateAccountRequest { id: copy_id.to_string(), reason, request_id };
                accounts.reactivate_account(self.request(reactivate, distributor)?).await.map(|_| ())
            }
            _ => Ok(()),
        };
        result.map_err(failure("changing the copy's status"))
    }

    /// Brings a copy in step with its reseller customer (`cause` names the
    /// event, for request ids); deletes it when the customer is gone. The
    /// billing addresses are compared only when `addresses` is set (an
    /// address changed): an account's other events never change them.
    pub async fn keep_in_step(
        &self,
        tx: &mut PgConnection,
        link: &LinkRow,
        source_id: Uuid,
        cause: &str,
        addresses: bool,
    ) -> Result<(), HandlerError> {
        let copy_id: Option<Uuid> = sqlx::query_scalar(
            "SELECT copy_account_id FROM reseller_sync.copies
             WHERE reseller_tenant_id = $1 AND reseller_account_id = $2 FOR UPDATE",
        )
        .bind(link.reseller_tenant_id)
        .bind(source_id)
        .fetch_optional(&mut *tx)
        .await?;
        // Nothing is copied for customers without a paid subscription.
        let Some(copy_id) = copy_id else {
            return Ok(());
        };
        let distributor = link.distributor_tenant_id;
        let mut accounts = AccountServiceClient::new(self.distributor_accounts.clone());
        // The customer and its copy are read at once.
        let (source, copy) = tokio::join!(
            self.account(&self.accounts, link.reseller_tenant_id, source_id, addresses),
            self.account(&self.distributor_accounts, distributor, copy_id, addresses),
        );
        let Some((source, source_addresses)) = source? else {
            let delete = DeleteAccountRequest {
                id: copy_id.to_string(),
                etag: String::new(),
                request_id: format!("resellersync-delete-{copy_id}"),
            };
            match accounts.delete_account(self.request(delete, distributor)?).await {
                Ok(_) => {}
                Err(status) if status.code() == Code::NotFound => {}
                // The copy holds money in the distributor's books: it stays,
                // set aside where operators see it, until that is settled
                // (RetrySync then deletes it; posted transactions keep it
                // for good, as the distributor's books need).
                Err(status) if holds_money(&status) => {
                    return Err(HandlerError::DeadLetter(copy_kept(copy_id, source_id, &status)));
                }
                Err(status) => return Err(failure("deleting the copy")(status)),
            }
            sqlx::query("DELETE FROM reseller_sync.copies WHERE reseller_tenant_id = $1 AND reseller_account_id = $2")
                .bind(link.reseller_tenant_id)
                .bind(source_id)
                .execute(&mut *tx)
                .await?;
            tracing::info!(%source_id, %copy_id, "copy deleted with its reseller customer");
            return Ok(());
        };
        let Some((copy, copy_addresses)) = copy? else {
            return Err(HandlerError::DeadLetter(format!("the copy {copy_id} of {source_id} is gone")));
        };
        let wanted = copy_of(link, &source);
        let mut changed = Vec::new();
        if wanted.name != copy.name {
            changed.push("name");
        }
        if wanted.code != copy.code {
            changed.push("code");
        }
        if wanted.email != copy.email {
            changed.push("email");
        }
        if wanted.sync_options != copy.sync_options {
            changed.push("sync_options");
        }
        if !changed.is_empty() {
            let update = UpdateAccountRequest {
                account: Some(Account { id: copy_id.to_string(), ..wanted }),
                update_mask: Some(prost_types::FieldMask {
                    paths: changed.iter().map(|field| (*field).to_owned()).collect(),
                }),
                request_id: format!("resellersync-update-{copy_id}-{cause}"),
            };
            accounts.update_account(self.request(update, distributor)?).await.map_err(failure("updating the copy"))?;
        }
        if addresses {
            self.sync_addresses(link, copy_id, &source_addresses, &copy_addresses, cause).await?;
        }
        let (from, to) = (copy.status, source.status);
        if from != to && (to == AccountStatus::Suspended as i32 || to == AccountStatus::Active as i32) {
            let status = AccountStatus::try_from(to).unwrap_or(AccountStatus::Active);
            self.set_status(link, copy_id, status, cause).await?;
        }
        sqlx::query(
            "UPDATE reseller_sync.copies SET updated_at = now() WHERE reseller_tenant_id = $1 AND reseller_account_id = $2",
        )
        .bind(link.reseller_tenant_id)
        .bind(source_id)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    /// Makes the copy's billing addresses those of the customer, in order.
    async fn sync_addresses(
        &self,
        link: &LinkRow,
        copy_id: Uuid,
        source: &[Address],
        copy: &[Address],
        cause: &str,
    ) -> Result<(), HandlerError> {
        let distributor = link.distributor_tenant_id;
        let mut accounts = AccountServiceClient::new(self.distributor_accounts.clone());
        for index in 0..source.len().max(copy.len()) {
            let request_id = format!("resellersync-address-{copy_id}-{cause}-{index}");
            match (source.get(index), copy.get(index)) {
                (Some(wanted), Some(have)) if !same_address(wanted, have) => {
                    let update = UpdateAddressRequest {
                        address: Some(Address { id: have.id.clone(), ..address_of(wanted) }),
                        update_mask: Some(prost_types::FieldMask {
                            paths: ["lines", "city", "region", "postal_code", "country_code"]
                                .iter()
                                .map(|path| (*path).to_owned())
                                .collect(),
                        }),
                        request_id,
                    };
                    accounts.update_address(self.request(update, distributor)?).await.map_err(failure("an address"))?;
                }
                (Some(wanted), None) => {
                    let create = CreateAddressRequest {
                        account_id: copy_id.to_string(),
                        address: Some(address_of(wanted)),
                        request_id,
                    };
                    accounts.create_address(self.request(create, distributor)?).await.map_err(failure("an address"))?;
                }
                (None, Some(have)) => {
                    let delete = DeleteAddressRequest { id: have.id.clone(), request_id };
                    accounts.delete_address(self.request(delete, distributor)?).await.map_err(failure("an address"))?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}
