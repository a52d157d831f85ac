//! The sync's hands on the accounts service: it reads a reseller customer
//! and its copy, and carries out what `domain::copy` decides (as the
//! `integration` role, acting in one tenant at a time), each change with a
//! request id derived from what caused it. It runs before the event's
//! transaction and says what it did as a [`Step`] for the sync's own books:
//! no transaction stays open across a call to accounts.

use std::time::Duration;

use bss_platform::auth::{Caller, ServiceIdentity};
use bss_platform::client;
use bss_platform::events::HandlerError;
use bss_platform::peers;
use bss_proto::accounts::account_service_client::AccountServiceClient;
use bss_proto::accounts::*;
use sqlx::PgPool;
use tonic::transport::Channel;
use tonic::{Code, Status};
use uuid::Uuid;

use crate::domain::copy::{
    AddressStep, LOCKED_FIELDS, Link, MONEY_REASONS, Party, Place, Standing, address_steps, changed_fields, copy_kept,
    mirrored_status, request_ids, status_reason,
};
use crate::repo::{self, Step};

/// How long a call to accounts may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The copy of a reseller customer, as the distributor's books get it.
pub fn copy_of(link: &Link, source: &Account) -> Account {
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

/// What the copy rules look at of an account.
fn party(account: &Account) -> Party {
    Party {
        code: account.code.clone(),
        name: account.name.clone(),
        email: account.email.clone(),
        sync_options: account.sync_options.clone(),
    }
}

fn standing(status: i32) -> Standing {
    match AccountStatus::try_from(status) {
        Ok(AccountStatus::Active) => Standing::Active,
        Ok(AccountStatus::Suspended) => Standing::Suspended,
        Ok(AccountStatus::Terminated) => Standing::Terminated,
        _ => Standing::Other,
    }
}

fn place(address: &Address) -> Place {
    Place {
        lines: address.lines.clone(),
        city: address.city.clone(),
        region: address.region.clone(),
        postal_code: address.postal_code.clone(),
        country_code: address.country_code.clone(),
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

/// Whether a refused deletion was refused because the account holds money.
fn holds_money(refusal: &Status) -> bool {
    use tonic_types::StatusExt;
    refusal.code() == Code::FailedPrecondition
        && refusal.get_details_error_info().is_some_and(|info| MONEY_REASONS.contains(&info.reason.as_str()))
}

/// Every reason a refusal gives, one per precondition violation.
fn reasons(refusal: &Status) -> Vec<String> {
    use tonic_types::StatusExt;
    refusal
        .get_details_precondition_failure()
        .map(|failure| failure.violations.into_iter().map(|violation| violation.description).collect())
        .unwrap_or_default()
}

/// The sync's hands on the accounts service.
#[derive(Clone)]
pub struct Syncer {
    /// The sync's own books (read before the event's transaction).
    pub db: PgPool,
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

    fn distributor(&self) -> AccountServiceClient<Channel> {
        AccountServiceClient::new(self.distributor_accounts.clone())
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
    pub async fn source(&self, link: &Link, id: Uuid) -> Result<Option<(Account, Vec<Address>)>, HandlerError> {
        self.account(&self.accounts, link.reseller_tenant_id, id, true).await
    }

    /// Copies a reseller customer, once.
    pub async fn copy(&self, link: &Link, source_id: Uuid) -> Result<Step, HandlerError> {
        if repo::copy_of(&self.db, link.reseller_tenant_id, source_id).await?.is_some() {
            return Ok(Step::Nothing);
        }
        let Some((source, addresses)) = self.source(link, source_id).await? else {
            return Ok(Step::Nothing);
        };
        let distributor = link.distributor_tenant_id;
        let create =
            CreateAccountRequest { account: Some(copy_of(link, &source)), request_id: request_ids::copy(source_id) };
        let copy = self
            .distributor()
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
                request_id: request_ids::copied_address(&address.id),
            };
            let create = self.request(create, distributor)?;
            self.distributor().create_address(create).await.map_err(failure("copying an address"))?;
        }
        if standing(source.status) == Standing::Suspended {
            self.set_status(link, copy_id, Standing::Suspended, &format!("copy-{source_id}")).await?;
        }
        tracing::info!(reseller_tenant = %link.reseller_tenant_id, %source_id, %copy_id, "reseller customer copied");
        Ok(Step::Copied { source_id, copy_id })
    }

    async fn set_status(&self, link: &Link, copy_id: Uuid, status: Standing, cause: &str) -> Result<(), HandlerError> {
        let reason = status_reason(status, &link.reseller_name);
        let request_id = request_ids::status(copy_id, cause);
        let distributor = link.distributor_tenant_id;
        let result = match status {
            Standing::Suspended => {
                let suspend = SuspendAccountRequest { id: copy_id.to_string(), reason, request_id };
                self.distributor().suspend_account(self.request(suspend, distributor)?).await.map(|_| ())
            }
            Standing::Active => {
                let reactivate = ReactivateAccountRequest { id: copy_id.to_string(), reason, request_id };
                self.distributor().reactivate_account(self.request(reactivate, distributor)?).await.map(|_| ())
            }
            Standing::Terminated | Standing::Other => Ok(()),
        };
        result.map_err(failure("changing the copy's status"))
    }

    /// Brings a copy in step with its reseller customer (`cause` names the
    /// event, for request ids); deletes it when the customer is gone. The
    /// billing addresses are compared only when `addresses` is set (an
    /// address changed): an account's other events never change them.
    pub async fn keep_in_step(
        &self,
        link: &Link,
        source_id: Uuid,
        cause: &str,
        addresses: bool,
    ) -> Result<Step, HandlerError> {
        // Nothing is copied for customers without a paid subscription.
        let Some(copy_id) = repo::copy_of(&self.db, link.reseller_tenant_id, source_id).await? else {
            return Ok(Step::Nothing);
        };
        let distributor = link.distributor_tenant_id;
        // The customer and its copy are read at once.
        let (source, copy) = tokio::join!(
            self.account(&self.accounts, link.reseller_tenant_id, source_id, addresses),
            self.account(&self.distributor_accounts, distributor, copy_id, addresses),
        );
        let Some((source, source_addresses)) = source? else {
            return self.delete(link, source_id, copy_id).await;
        };
        let Some((copy, copy_addresses)) = copy? else {
            return Err(HandlerError::DeadLetter(format!("the copy {copy_id} of {source_id} is gone")));
        };
        let changed = changed_fields(&party(&source), &party(&copy));
        if !changed.is_empty() {
            let update = UpdateAccountRequest {
                account: Some(Account { id: copy_id.to_string(), ..copy_of(link, &source) }),
                update_mask: Some(prost_types::FieldMask {
                    paths: changed.iter().map(|field| (*field).to_owned()).collect(),
                }),
                request_id: request_ids::update(copy_id, cause),
            };
            let update = self.request(update, distributor)?;
            self.distributor().update_account(update).await.map_err(failure("updating the copy"))?;
        }
        if addresses {
            self.sync_addresses(link, copy_id, &source_addresses, &copy_addresses, cause).await?;
        }
        if let Some(status) = mirrored_status(standing(copy.status), standing(source.status)) {
            self.set_status(link, copy_id, status, cause).await?;
        }
        Ok(Step::Touched { source_id })
    }

    /// Deletes the copy of a customer that is gone, unless it holds money
    /// in the distributor's books: then it stays, set aside where operators
    /// see it, until that is settled (RetrySync then deletes it; posted
    /// transactions keep it for good, as the distributor's books need).
    async fn delete(&self, link: &Link, source_id: Uuid, copy_id: Uuid) -> Result<Step, HandlerError> {
        let delete = DeleteAccountRequest {
            id: copy_id.to_string(),
            etag: String::new(),
            request_id: request_ids::delete(copy_id),
        };
        match self.distributor().delete_account(self.request(delete, link.distributor_tenant_id)?).await {
            Ok(_) => {}
            Err(status) if status.code() == Code::NotFound => {}
            Err(status) if holds_money(&status) => {
                let kept = copy_kept(copy_id, source_id, &reasons(&status), status.message());
                return Err(HandlerError::DeadLetter(kept));
            }
            Err(status) => return Err(failure("deleting the copy")(status)),
        }
        tracing::info!(%source_id, %copy_id, "copy deleted with its reseller customer");
        Ok(Step::Deleted { source_id })
    }

    /// Makes the copy's billing addresses those of the customer, in order.
    async fn sync_addresses(
        &self,
        link: &Link,
        copy_id: Uuid,
        source: &[Address],
        copy: &[Address],
        cause: &str,
    ) -> Result<(), HandlerError> {
        let distributor = link.distributor_tenant_id;
        let places = |addresses: &[Address]| addresses.iter().map(place).collect::<Vec<_>>();
        for step in address_steps(&places(source), &places(copy)) {
            let mut accounts = self.distributor();
            let sent = match step {
                AddressStep::Update(index) => {
                    let update = UpdateAddressRequest {
                        address: Some(Address { id: copy[index].id.clone(), ..address_of(&source[index]) }),
                        update_mask: Some(prost_types::FieldMask {
                            paths: ["lines", "city", "region", "postal_code", "country_code"]
                                .iter()
                                .map(|path| (*path).to_owned())
                                .collect(),
                        }),
                        request_id: request_ids::address(copy_id, cause, index),
                    };
                    accounts.update_address(self.request(update, distributor)?).await.map(|_| ())
                }
                AddressStep::Create(index) => {
                    let create = CreateAddressRequest {
                        account_id: copy_id.to_string(),
                        address: Some(address_of(&source[index])),
                        request_id: request_ids::address(copy_id, cause, index),
                    };
                    accounts.create_address(self.request(create, distributor)?).await.map(|_| ())
                }
                AddressStep::Delete(index) => {
                    let delete = DeleteAddressRequest {
                        id: copy[index].id.clone(),
                        request_id: request_ids::address(copy_id, cause, index),
                    };
                    accounts.delete_address(self.request(delete, distributor)?).await.map(|_| ())
                }
            };
            sent.map_err(failure("an address"))?;
        }
        Ok(())
    }
}
