//! UserService: parsed here, run by `app::users`.

use bss_platform::auth::Role;
use bss_platform::error::Violations;
use bss_platform::idempotency::RequestKey;
use bss_platform::input::required_id;
use bss_platform::paging::Page;
use bss_platform::time;
use bss_proto::accounts::user_service_server::UserService;
use bss_proto::accounts::*;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{ACCOUNT_READERS, AccountsApi, READERS, WRITERS, authorize};
use crate::app::users::Move;
use crate::domain::error::AccountsError;
use crate::domain::text::{Email, optional_text, required_text};
use crate::wire::{parse_id, user_to_proto};

/// Who may switch a sales representative's account: the managers, and the
/// sales representative itself.
const SWITCHERS: &[Role] = &[Role::TenantAdmin, Role::AccountManager, Role::Integration, Role::SalesRep];

/// A new user of a tenant's account.
fn new_user(tenant_id: Uuid, input: &bss_proto::accounts::User) -> Result<crate::domain::user::User, Violations> {
    let mut v = Violations::new();
    let account_id = v.keep("user.account_id", required_id(&input.account_id));
    let email = v.keep("user.email", Email::parse(&input.email));
    let display_name = v.keep("user.display_name", required_text(&input.display_name, 200));
    let sales_rep_id = v.keep("user.sales_rep_id", optional_text(&input.sales_rep_id, 64));
    let (Some(account_id), Some(email), Some(display_name), Some(sales_rep_id)) =
        (account_id, email, display_name, sales_rep_id)
    else {
        return Err(v);
    };
    let now = time::now();
    Ok(crate::domain::user::User {
        id: Uuid::now_v7(),
        tenant_id,
        account_id,
        email,
        display_name,
        sales_rep_id: Some(sales_rep_id).filter(|id| !id.is_empty()),
        created_at: now,
        updated_at: now,
    })
}

/// A user moving: the user's and the account's ids, parsed.
fn moving(user_id: &str, account_id: &str, how: Move) -> Result<(Uuid, Uuid, Move), AccountsError> {
    Ok((parse_id("user_id", user_id)?, parse_id("account_id", account_id)?, how))
}

/// Roles that may register a user through a registration profile: an
/// anonymous shopper signing up, and the tenant's staff and programs.
const REGISTRARS: &[Role] = &[Role::Guest, Role::TenantAdmin, Role::Integration];

#[tonic::async_trait]
impl UserService for AccountsApi {
    async fn register_user(
        &self,
        request: Request<RegisterUserRequest>,
    ) -> Result<Response<RegisterUserResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, REGISTRARS)?;
        let request = request.into_inner();
        let run = async {
            let mut v = Violations::new();
            let profile = v.keep("profile", bss_platform::input::code(&request.profile, 64));
            let email = v.keep("email", Email::parse(&request.email));
            let display_name = v.keep("display_name", optional_text(&request.display_name, 200));
            let (Some(profile), Some(email), Some(display_name)) = (profile, email, display_name) else {
                return Err(AccountsError::from(v));
            };
            // A name left empty is the email's.
            let display_name = if display_name.is_empty() { email.as_str().to_owned() } else { display_name };
            let key = RequestKey::new(tenant_id, "RegisterUser", &request.request_id, &request)?;
            self.register_user(&caller, (tenant_id, key), (profile, email, display_name), |user| RegisterUserResponse {
                user: Some(user_to_proto(user)),
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn create_user(&self, request: Request<CreateUserRequest>) -> Result<Response<CreateUserResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let user = new_user(tenant_id, &request.user.clone().unwrap_or_default())?;
            let key = RequestKey::new(tenant_id, "CreateUser", &request.request_id, &request)?;
            AccountsApi::create_user(self, &caller, key, user, |user| CreateUserResponse {
                user: Some(user_to_proto(user)),
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn get_user(&self, request: Request<GetUserRequest>) -> Result<Response<GetUserResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, ACCOUNT_READERS)?;
        let id = parse_id("id", &request.get_ref().id).map_err(AccountsError::from)?;
        let user = self.user(&caller, tenant_id, id).await?;
        Ok(Response::new(GetUserResponse { user: Some(user_to_proto(&user)) }))
    }

    async fn list_users(&self, request: Request<ListUsersRequest>) -> Result<Response<ListUsersResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, ACCOUNT_READERS)?;
        let request = request.into_inner();
        let run = async {
            let account_id = parse_id("account_id", &request.account_id)?;
            let page = Page::parse(request.page_size, &request.page_token, &request.account_id)?;
            let (users, next_page_token) = self.users(&caller, (tenant_id, account_id), &page).await?;
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
        let run = async {
            let target = moving(&request.user_id, &request.account_id, Move::Assign)?;
            let key = RequestKey::new(tenant_id, "AssignUser", &request.request_id, &request)?;
            self.move_user(&caller, tenant_id, key, target, |user| AssignUserResponse {
                user: Some(user_to_proto(user)),
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn switch_account(
        &self,
        request: Request<SwitchAccountRequest>,
    ) -> Result<Response<SwitchAccountResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, SWITCHERS)?;
        let request = request.into_inner();
        let run = async {
            let target = moving(&request.user_id, &request.account_id, Move::Switch)?;
            let key = RequestKey::new(tenant_id, "SwitchAccount", &request.request_id, &request)?;
            self.move_user(&caller, tenant_id, key, target, |user| SwitchAccountResponse {
                user: Some(user_to_proto(user)),
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn list_switchable_accounts(
        &self,
        request: Request<ListSwitchableAccountsRequest>,
    ) -> Result<Response<ListSwitchableAccountsResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, READERS)?;
        let request = request.into_inner();
        let run = async {
            let user_id = parse_id("user_id", &request.user_id)?;
            let page = Page::parse(request.page_size, &request.page_token, &request.user_id)?;
            let (accounts, next_page_token) = self.switchable(&caller, (tenant_id, user_id), &page).await?;
            Ok::<_, AccountsError>(ListSwitchableAccountsResponse {
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
        };
        Ok(Response::new(run.await?))
    }

    async fn delete_user(&self, request: Request<DeleteUserRequest>) -> Result<Response<DeleteUserResponse>, Status> {
        let (_, tenant_id) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let id = parse_id("id", &request.id)?;
            let key = RequestKey::new(tenant_id, "DeleteUser", &request.request_id, &request)?;
            self.delete_user(tenant_id, key, id, DeleteUserResponse {}).await
        };
        Ok(Response::new(run.await?))
    }
}
