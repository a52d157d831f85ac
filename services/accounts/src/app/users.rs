//! Users of customer accounts, and sales representatives switching between
//! the accounts carrying their sales-rep id.

use bss_platform::auth::Caller;
use bss_platform::idempotency::RequestKey;
use bss_platform::paging::Page;
use bss_proto::accounts::UserAssigned;
use bss_proto::accounts::account_event::Payload;
use prost::Message;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{Accounts, publish, visibility};
use crate::domain::account::Account;
use crate::domain::error::AccountsError;
use crate::domain::text::Email;
use crate::domain::user::User;
use crate::repo;
use crate::repo::accounts::{Filter, Visibility};
use crate::wire::user_to_proto;

/// A user moving to another account: assigned by a manager, or a sales
/// representative switching (which must be a sales representative).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Move {
    Assign,
    Switch,
}

/// Stores a new user and publishes its assignment to its account.
pub(crate) async fn insert_user(tx: &mut PgConnection, caller: &Caller, user: &User) -> Result<User, AccountsError> {
    let user = repo::users::insert(tx, user).await?;
    let assigned = UserAssigned { user: Some(user_to_proto(&user)), previous_account_id: String::new() };
    publish(tx, user.tenant_id, caller, Payload::UserAssigned(assigned)).await?;
    Ok(user)
}

impl Accounts {
    /// Adds a user to its account (a sales representative only to an
    /// account carrying its sales-rep id).
    pub async fn create_user<R: Message + Default>(
        &self,
        caller: &Caller,
        key: Option<RequestKey>,
        user: User,
        respond: impl FnOnce(&User) -> R,
    ) -> Result<R, AccountsError> {
        self.write(key, async |tx| {
            let account = repo::accounts::get(tx, user.tenant_id, user.account_id, Visibility::All, true).await?;
            user.may_act_for(&account.fields.sales_rep_id)?;
            let user = insert_user(tx, caller, &user).await?;
            Ok(respond(&user))
        })
        .await
    }

    /// Registers a user through the tenant's registration profile
    /// `profile`: on the profile's generic account (NOT_FOUND for a profile
    /// the tenant does not have).
    pub async fn register_user<R: Message + Default>(
        &self,
        caller: &Caller,
        (tenant_id, key): (Uuid, Option<RequestKey>),
        (profile, email, display_name): (String, Email, String),
        respond: impl FnOnce(&User) -> R,
    ) -> Result<R, AccountsError> {
        let tenant = {
            let mut connection = self.db.acquire().await?;
            repo::tenants::get(&mut connection, tenant_id).await?
        };
        let account_id = *tenant
            .registration_profiles
            .get(&profile)
            .ok_or_else(|| AccountsError::not_found("registration profile", &profile))?;
        let at = bss_platform::time::now();
        let user = User {
            id: Uuid::now_v7(),
            tenant_id,
            account_id,
            email,
            display_name,
            sales_rep_id: None,
            created_at: at,
            updated_at: at,
        };
        self.write(key, async |tx| {
            // The profile's account may have gone since it was named.
            repo::accounts::get(tx, tenant_id, account_id, Visibility::All, true).await?;
            let user = insert_user(tx, caller, &user).await?;
            Ok(respond(&user))
        })
        .await
    }

    /// The user, when the caller may see it: a sales representative sees
    /// only users of its own accounts.
    pub async fn user(&self, caller: &Caller, tenant_id: Uuid, id: Uuid) -> Result<User, AccountsError> {
        let visibility = self.scope(caller, tenant_id).await?;
        let mut connection = self.db.acquire().await?;
        let user = repo::users::get(&mut connection, tenant_id, id, false).await?;
        repo::accounts::get(&mut connection, tenant_id, user.account_id, visibility, false)
            .await
            .map_err(|_| AccountsError::not_found("user", id))?;
        Ok(user)
    }

    /// A page of an account's users, if the caller may see the account.
    pub async fn users(
        &self,
        caller: &Caller,
        (tenant_id, account_id): (Uuid, Uuid),
        page: &Page,
    ) -> Result<(Vec<User>, String), AccountsError> {
        let list = async |connection: &mut PgConnection, page: &Page| {
            repo::users::list(connection, tenant_id, account_id, page.after_uuid()?, page.fetch_limit()).await
        };
        self.account_page(caller, (tenant_id, account_id), page, list, |user| user.id.as_bytes().to_vec()).await
    }

    /// Moves a user to another account.
    pub async fn move_user<R: Message + Default>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        (user_id, account_id, how): (Uuid, Uuid, Move),
        respond: impl FnOnce(&User) -> R,
    ) -> Result<R, AccountsError> {
        self.write(key, async |tx| {
            let user = repo::users::get(tx, tenant_id, user_id, true).await?;
            // A sales representative acts only for its own user and its own accounts.
            if let Some(limit) = caller.sales_rep_limit()
                && user.sales_rep_id.as_deref() != Some(limit)
            {
                return Err(AccountsError::not_found("user", user_id));
            }
            let account = repo::accounts::get(tx, tenant_id, account_id, visibility(caller), true).await?;
            if how == Move::Switch {
                user.sales_rep()?;
            }
            user.may_act_for(&account.fields.sales_rep_id)?;
            let moved = repo::users::assign(tx, &user, account_id).await?;
            let assigned =
                UserAssigned { user: Some(user_to_proto(&moved)), previous_account_id: user.account_id.to_string() };
            publish(tx, tenant_id, caller, Payload::UserAssigned(assigned)).await?;
            Ok(respond(&moved))
        })
        .await
    }

    /// A page of the accounts a sales representative may switch to: those
    /// carrying its sales-rep id.
    pub async fn switchable(
        &self,
        caller: &Caller,
        (tenant_id, user_id): (Uuid, Uuid),
        page: &Page,
    ) -> Result<(Vec<Account>, String), AccountsError> {
        let user = self.user(caller, tenant_id, user_id).await?;
        let filter = Filter { sales_rep_id: Some(user.sales_rep()?.to_owned()), ..Filter::default() };
        let mut connection = self.db.acquire().await?;
        let accounts = repo::accounts::list(
            &mut connection,
            tenant_id,
            &filter,
            Visibility::All,
            page.after_uuid()?,
            page.fetch_limit(),
        )
        .await?;
        Ok(page.finish(accounts, |account| account.id.as_bytes().to_vec()))
    }

    /// Deletes a user.
    pub async fn delete_user<R: Message + Default>(
        &self,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        id: Uuid,
        respond: R,
    ) -> Result<R, AccountsError> {
        self.write(key, async |tx| {
            let user = repo::users::get(tx, tenant_id, id, true).await?;
            repo::users::delete(tx, &user).await?;
            Ok(respond)
        })
        .await
    }
}
