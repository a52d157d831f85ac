//! Users of customer accounts, and sales representatives switching between
//! the accounts carrying their sales-rep id.

use bss_platform::auth::{Caller, Role};
use bss_platform::error::Violations;
use bss_platform::idempotency::RequestKey;
use bss_platform::input::required_id;
use bss_platform::paging::Page;
use bss_platform::time;
use bss_proto::accounts::account_event::Payload;
use bss_proto::accounts::user_service_server::UserService;
use bss_proto::accounts::*;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::accounts::visibility;
use super::convert::{parse_id, user_to_proto};
use super::{AccountsApi, READERS, WRITERS, authorize, publish};
use crate::domain::error::AccountsError;
use crate::domain::text::{Email, optional_text, required_text};
use crate::domain::user::User;
use crate::repo;
use crate::repo::accounts::{Filter, Visibility};

impl AccountsApi {
    async fn create_user(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        request: CreateUserRequest,
    ) -> Result<CreateUserResponse, AccountsError> {
        let input = request.user.clone().unwrap_or_default();
        let mut v = Violations::new();
        let account_id = v.keep("user.account_id", required_id(&input.account_id));
        let email = v.keep("user.email", Email::parse(&input.email));
        let display_name = v.keep("user.display_name", required_text(&input.display_name, 200));
        let sales_rep_id = v.keep("user.sales_rep_id", optional_text(&input.sales_rep_id, 64));
        let (Some(account_id), Some(email), Some(display_name), Some(sales_rep_id)) =
            (account_id, email, display_name, sales_rep_id)
        else {
            return Err(v.into());
        };
        let key = RequestKey::new(tenant_id, "CreateUser", &request.request_id, &request)?;
        self.write(key, async |tx| {
            let account = repo::accounts::get(tx, tenant_id, account_id, Visibility::All, true).await?;
            let now = time::now();
            let user = User {
                id: Uuid::now_v7(),
                tenant_id,
                account_id,
                email,
                display_name,
                sales_rep_id: Some(sales_rep_id).filter(|id| !id.is_empty()),
                created_at: now,
                updated_at: now,
            };
            user.may_act_for(&account.fields.sales_rep_id)?;
            let user = user_to_proto(&repo::users::insert(tx, &user).await?);
            let assigned = UserAssigned { user: Some(user.clone()), previous_account_id: String::new() };
            publish(tx, tenant_id, caller, Payload::UserAssigned(assigned)).await?;
            let response = CreateUserResponse { user: Some(user) };
            Ok(response)
        })
        .await
    }

    /// The user, when the caller may see it: a sales representative sees
    /// only users of its own accounts.
    async fn visible_user(&self, caller: &Caller, tenant_id: Uuid, id: Uuid) -> Result<User, AccountsError> {
        let mut connection = self.db.acquire().await?;
        let user = repo::users::get(&mut connection, tenant_id, id, false).await?;
        repo::accounts::get(&mut connection, tenant_id, user.account_id, visibility(caller), false)
            .await
            .map_err(|_| AccountsError::not_found("user", id))?;
        Ok(user)
    }

    async fn move_user<R: prost::Message>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        moving: Move<'_, R>,
    ) -> Result<bss_proto::accounts::User, AccountsError> {
        let Move { method, user_id, account_id, request_id, request, switch } = moving;
        let user_id = parse_id("user_id", user_id)?;
        let account_id = parse_id("account_id", account_id)?;
        let key = RequestKey::new(tenant_id, method, request_id, request)?;
        // Both moves store an AssignUserResponse: the answer is the user.
        let moved = self
            .write(key, async |tx| {
                let user = repo::users::get(tx, tenant_id, user_id, true).await?;
                // A sales representative acts only for its own user and its own accounts.
                if let Some(limit) = caller.sales_rep_limit()
                    && user.sales_rep_id.as_deref() != Some(limit)
                {
                    return Err(AccountsError::not_found("user", user_id));
                }
                let account = repo::accounts::get(tx, tenant_id, account_id, visibility(caller), true).await?;
                if switch {
                    user.sales_rep()?;
                }
                user.may_act_for(&account.fields.sales_rep_id)?;
                let moved = user_to_proto(&repo::users::assign(tx, &user, account_id).await?);
                let assigned =
                    UserAssigned { user: Some(moved.clone()), previous_account_id: user.account_id.to_string() };
                publish(tx, tenant_id, caller, Payload::UserAssigned(assigned)).await?;
                Ok(AssignUserResponse { user: Some(moved) })
            })
            .await?;
        Ok(moved.user.unwrap_or_default())
    }

    async fn switchable(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        request: ListSwitchableAccountsRequest,
    ) -> Result<ListSwitchableAccountsResponse, AccountsError> {
        let user_id = parse_id("user_id", &request.user_id)?;
        let page = Page::parse(request.page_size, &request.page_token, &request.user_id)?;
        let user = self.visible_user(caller, tenant_id, user_id).await?;
        let sales_rep_id = user.sales_rep()?.to_owned();
        let filter = Filter { sales_rep_id: Some(sales_rep_id), ..Filter::default() };
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
        let (accounts, next_page_token) = page.finish(accounts, |account| account.id.as_bytes().to_vec());
        Ok(ListSwitchableAccountsResponse {
            accounts: accounts
                .iter()
                .map(|account| SwitchableAccount {
                    account_id: account.id.to_string(),
                    code: account.fields.code.as_str().to_owned(),
                    name: account.fields.name.as_str().to_owned(),
                })
                .collect(),
            next_page_token,
        })
    }
}

/// A user moving to another account: assigned by a manager, or a sales
/// representative switching (which must be a sales representative).
struct Move<'a, R> {
    method: &'static str,
    user_id: &'a str,
    account_id: &'a str,
    request_id: &'a str,
    request: &'a R,
    switch: bool,
}

/// Who may switch a sales representative's account: the managers, and the
/// sales representative itself.
const SWITCHERS: &[Role] = &[Role::TenantAdmin, Role::AccountManager, Role::Integration, Role::SalesRep];

#[tonic::async_trait]
impl UserService for AccountsApi {
    async fn create_user(&self, request: Request<CreateUserRequest>) -> Result<Response<CreateUserResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, WRITERS)?;
        Ok(Response::new(AccountsApi::create_user(self, &caller, tenant_id, request.into_inner()).await?))
    }

    async fn get_user(&self, request: Request<GetUserRequest>) -> Result<Response<GetUserResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, READERS)?;
        let id = parse_id("id", &request.get_ref().id).map_err(AccountsError::from)?;
        let user = self.visible_user(&caller, tenant_id, id).await?;
        Ok(Response::new(GetUserResponse { user: Some(user_to_proto(&user)) }))
    }

    async fn list_users(&self, request: Request<ListUsersRequest>) -> Result<Response<ListUsersResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, READERS)?;
        let request = request.into_inner();
        let run = async {
            let account_id = parse_id("account_id", &request.account_id)?;
            let page = Page::parse(request.page_size, &request.page_token, &request.account_id)?;
            let mut connection = self.db.acquire().await?;
            repo::accounts::get(&mut connection, tenant_id, account_id, visibility(&caller), false).await?;
            let users =
                repo::users::list(&mut connection, tenant_id, account_id, page.after_uuid()?, page.fetch_limit())
                    .await?;
            let (users, next_page_token) = page.finish(users, |user| user.id.as_bytes().to_vec());
            Ok::<_, AccountsError>(ListUsersResponse {
                users: users.iter().map(user_to_proto).collect(),
                next_page_token,
            })
        };
        Ok(Response::new(run.await?))
    }

    async fn assign_user(&self, request: Request<AssignUserRequest>) -> Result<Response<AssignUserResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let moving = Move {
            method: "AssignUser",
            user_id: &request.user_id,
            account_id: &request.account_id,
            request_id: &request.request_id,
            request: &request,
            switch: false,
        };
        let user = self.move_user(&caller, tenant_id, moving).await?;
        Ok(Response::new(AssignUserResponse { user: Some(user) }))
    }

    async fn switch_account(
        &self,
        request: Request<SwitchAccountRequest>,
    ) -> Result<Response<SwitchAccountResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, SWITCHERS)?;
        let request = request.into_inner();
        let moving = Move {
            method: "SwitchAccount",
            user_id: &request.user_id,
            account_id: &request.account_id,
            request_id: &request.request_id,
            request: &request,
            switch: true,
        };
        let user = self.move_user(&caller, tenant_id, moving).await?;
        Ok(Response::new(SwitchAccountResponse { user: Some(user) }))
    }

    async fn list_switchable_accounts(
        &self,
        request: Request<ListSwitchableAccountsRequest>,
    ) -> Result<Response<ListSwitchableAccountsResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, READERS)?;
        Ok(Response::new(self.switchable(&caller, tenant_id, request.into_inner()).await?))
    }

    async fn delete_user(&self, request: Request<DeleteUserRequest>) -> Result<Response<DeleteUserResponse>, Status> {
        let (_, tenant_id) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let id = parse_id("id", &request.id)?;
            let key = RequestKey::new(tenant_id, "DeleteUser", &request.request_id, &request)?;
            self.write(key, async |tx| {
                let user = repo::users::get(tx, tenant_id, id, true).await?;
                repo::users::delete(tx, &user).await?;
                let response = DeleteUserResponse {};
                Ok(response)
            })
            .await
        };
        Ok(Response::new(run.await?))
    }
}
