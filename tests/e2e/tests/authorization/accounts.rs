//! The accounts context in the authorization matrix.

use std::time::Duration;

use bss_platform::auth::Role;
use bss_proto::accounts::account_event_service_client::AccountEventServiceClient;
use bss_proto::accounts::account_service_client::AccountServiceClient;
use bss_proto::accounts::custom_field_service_client::CustomFieldServiceClient;
use bss_proto::accounts::group_service_client::GroupServiceClient;
use bss_proto::accounts::tenant_service_client::TenantServiceClient;
use bss_proto::accounts::user_service_client::UserServiceClient;
use bss_proto::accounts::*;
use bss_proto::types::PaymentType;
use bss_testkit::authorized;
use futures::StreamExt;
use tonic::Status;
use tonic::transport::Channel;
use uuid::Uuid;

use super::{Case, OtherTenant, Outcome, case, count_of_tenant, request};

const TENANTS: &str = "bss.accounts.v1.TenantService";
const ACCOUNTS: &str = "bss.accounts.v1.AccountService";
const USERS: &str = "bss.accounts.v1.UserService";
const GROUPS: &str = "bss.accounts.v1.GroupService";
const FIELDS: &str = "bss.accounts.v1.CustomFieldService";
const EVENTS: &str = "bss.accounts.v1.AccountEventService";

pub fn cases() -> Vec<Case> {
    use OtherTenant::*;
    let writer = Some(Role::BillingClerk);
    let reader = None;
    let platform = Some(Role::TenantAdmin);
    let tenant_admin_only = Some(Role::AccountManager);
    vec![
        case(TENANTS, "CreateTenant", platform, NotApplicable),
        case(TENANTS, "GetTenant", reader, NotFound),
        case(TENANTS, "ListTenants", platform, NotApplicable),
        // Only platform administrators; the matrix never calls as one here,
        // so the first tenant is never suspended.
        case(TENANTS, "SuspendTenant", platform, NotApplicable),
        case(TENANTS, "ReactivateTenant", platform, NotApplicable),
        // The first tenant's account is not another tenant's to name.
        case(TENANTS, "SetGuestAccount", tenant_admin_only, NotFound),
        case(TENANTS, "SetRegistrationProfile", tenant_admin_only, NotFound),
        // It sets the caller's own tenant's features.
        case(TENANTS, "SetResidentialFeatures", tenant_admin_only, NotApplicable),
        case(TENANTS, "SetCurrencySettings", tenant_admin_only, NotApplicable),
        case(TENANTS, "SetTimeZone", tenant_admin_only, NotApplicable),
        // Another tenant has no profile of the first tenant's.
        case(USERS, "RegisterUser", Some(Role::SalesRep), NotFound),
        case(ACCOUNTS, "CreateAccount", writer, NotApplicable),
        case(ACCOUNTS, "GetAccount", reader, NotFound),
        case(ACCOUNTS, "UpdateAccount", writer, NotFound),
        case(ACCOUNTS, "ListAccounts", reader, SeesNothing),
        case(ACCOUNTS, "DeleteAccount", writer, NotFound),
        case(ACCOUNTS, "CreateContact", writer, NotFound),
        case(ACCOUNTS, "ListContacts", reader, NotFound),
        case(ACCOUNTS, "UpdateContact", writer, NotFound),
        case(ACCOUNTS, "DeleteContact", writer, NotFound),
        case(ACCOUNTS, "CreateAddress", writer, NotFound),
        case(ACCOUNTS, "ListAddresses", reader, NotFound),
        case(ACCOUNTS, "UpdateAddress", writer, NotFound),
        case(ACCOUNTS, "DeleteAddress", writer, NotFound),
        case(ACCOUNTS, "ValidateAddress", reader, NotApplicable),
        case(ACCOUNTS, "SuspendAccount", writer, NotFound),
        case(ACCOUNTS, "ReactivateAccount", writer, NotFound),
        case(ACCOUNTS, "TerminateAccount", writer, NotFound),
        case(ACCOUNTS, "ListAccountHistory", reader, NotFound),
        case(ACCOUNTS, "SynchronizeAccount", writer, NotFound),
        case(ACCOUNTS, "ImportAccounts", writer, NotApplicable),
        case(ACCOUNTS, "ImportAccountsWithProgress", writer, NotApplicable),
        case(USERS, "CreateUser", writer, NotFound),
        case(USERS, "GetUser", reader, NotFound),
        case(USERS, "ListUsers", reader, NotFound),
        case(USERS, "AssignUser", writer, NotFound),
        case(USERS, "SwitchAccount", writer, NotFound),
        case(USERS, "ListSwitchableAccounts", reader, NotFound),
        case(USERS, "DeleteUser", writer, NotFound),
        case(GROUPS, "AddGroupMember", writer, NotFound),
        case(GROUPS, "RemoveGroupMember", writer, NotFound),
        case(GROUPS, "GetAccountGroup", reader, NotFound),
        case(FIELDS, "CreateCustomFieldDefinition", tenant_admin_only, NotApplicable),
        case(FIELDS, "ListCustomFieldDefinitions", reader, SeesNothing),
        case(FIELDS, "DeleteCustomFieldDefinition", tenant_admin_only, NotFound),
        case(EVENTS, "StreamEvents", reader, SeesNothing),
    ]
}

/// The first tenant's objects every case aims at.
pub struct Fixture {
    tenant_id: Uuid,
    pub account_id: String,
    other_account_id: String,
    member_id: String,
    contact_id: String,
    address_id: String,
    user_id: String,
    rep_user_id: String,
}

fn mask(paths: &[&str]) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask { paths: paths.iter().map(|path| (*path).to_owned()).collect() })
}

fn account(code: &str, name: &str) -> Account {
    Account {
        code: code.to_owned(),
        name: name.to_owned(),
        sales_rep_id: "R1".to_owned(),
        enable_ordering: true,
        payment_types: vec![PaymentType::CreditCard as i32, PaymentType::OnAccount as i32],
        ..Account::default()
    }
}

fn address(address_type: AddressType) -> Address {
    Address {
        r#type: address_type as i32,
        lines: vec!["1 Main St".to_owned()],
        city: "Sydney".to_owned(),
        region: "NSW".to_owned(),
        postal_code: "2000".to_owned(),
        country_code: "AU".to_owned(),
        ..Address::default()
    }
}

impl Fixture {
    pub async fn set_up(channel: &Channel, tenant_id: Uuid, admin: &str) -> Fixture {
        let mut accounts = AccountServiceClient::new(channel.clone());
        let creator = accounts.clone();
        let create = |code: &'static str, name: &'static str| {
            let request = CreateAccountRequest { account: Some(account(code, name)), request_id: String::new() };
            let mut accounts = creator.clone();
            async move {
                accounts
                    .create_account(authorized(request, admin))
                    .await
                    .expect("account")
                    .into_inner()
                    .account
                    .expect("account")
                    .id
            }
        };
        let account_id = create("OWNED", "Owned Co").await;
        let other_account_id = create("OWNED-2", "Owned Two").await;
        let member_id = create("MEMBER", "Member Co").await;
        let contact = CreateContactRequest {
            account_id: account_id.clone(),
            contact: Some(Contact { first_name: "Ada".to_owned(), ..Contact::default() }),
            request_id: String::new(),
        };
        let contact_id = accounts
            .create_contact(authorized(contact, admin))
            .await
            .expect("contact")
            .into_inner()
            .contact
            .expect("contact")
            .id;
        let address = CreateAddressRequest {
            account_id: account_id.clone(),
            address: Some(address(AddressType::Billing)),
            request_id: String::new(),
        };
        let address_id = accounts
            .create_address(authorized(address, admin))
            .await
            .expect("address")
            .into_inner()
            .address
            .expect("address")
            .id;

        let users = UserServiceClient::new(channel.clone());
        let user = |email: &str, sales_rep_id: &str| {
            let request = CreateUserRequest {
                user: Some(User {
                    account_id: account_id.clone(),
                    email: email.to_owned(),
                    display_name: "Someone".to_owned(),
                    sales_rep_id: sales_rep_id.to_owned(),
                    ..User::default()
                }),
                request_id: String::new(),
            };
            let mut users = users.clone();
            async move {
                users.create_user(authorized(request, admin)).await.expect("user").into_inner().user.expect("user").id
            }
        };
        let user_id = user("ada@owned.example", "").await;
        let rep_user_id = user("rep@owned.example", "R1").await;

        let group = AddGroupMemberRequest {
            parent_account_id: account_id.clone(),
            member_account_id: member_id.clone(),
            funding: Some(Funding { scope: FundingScope::Full as i32, ..Funding::default() }),
            request_id: String::new(),
        };
        GroupServiceClient::new(channel.clone()).add_group_member(authorized(group, admin)).await.expect("group");
        let definition = CreateCustomFieldDefinitionRequest {
            definition: Some(CustomFieldDefinition {
                key: "tier".to_owned(),
                label: "Tier".to_owned(),
                r#type: CustomFieldType::Text as i32,
                choices: Vec::new(),
            }),
            request_id: String::new(),
        };
        CustomFieldServiceClient::new(channel.clone())
            .create_custom_field_definition(authorized(definition, admin))
            .await
            .expect("field");
        let profile = SetRegistrationProfileRequest {
            profile: "MATRIX".to_owned(),
            account_id: account_id.clone(),
            request_id: String::new(),
        };
        TenantServiceClient::new(channel.clone())
            .set_registration_profile(authorized(profile, admin))
            .await
            .expect("registration profile");
        Fixture { tenant_id, account_id, other_account_id, member_id, contact_id, address_id, user_id, rep_user_id }
    }

    /// Everything of the first tenant the matrix could touch, as its
    /// administrator sees it.
    pub async fn snapshot(&self, channel: &Channel, admin: &str) -> String {
        let mut accounts = AccountServiceClient::new(channel.clone());
        let mut parts = Vec::new();
        for id in [&self.account_id, &self.other_account_id, &self.member_id] {
            parts.push(format!(
                "{:?}",
                accounts
                    .get_account(authorized(GetAccountRequest { id: id.clone() }, admin))
                    .await
                    .map(|r| r.into_inner())
            ));
        }
        let contacts = ListContactsRequest { account_id: self.account_id.clone(), ..Default::default() };
        parts.push(format!("{:?}", accounts.list_contacts(authorized(contacts, admin)).await.map(|r| r.into_inner())));
        let addresses = ListAddressesRequest { account_id: self.account_id.clone(), ..Default::default() };
        parts
            .push(format!("{:?}", accounts.list_addresses(authorized(addresses, admin)).await.map(|r| r.into_inner())));
        let history = ListAccountHistoryRequest { account_id: self.account_id.clone(), ..Default::default() };
        parts.push(format!(
            "{:?}",
            accounts.list_account_history(authorized(history, admin)).await.map(|r| r.into_inner())
        ));
        let listed = accounts
            .list_accounts(authorized(ListAccountsRequest::default(), admin))
            .await
            .map(|r| r.into_inner().accounts.len());
        parts.push(format!("{listed:?}"));
        let mut users = UserServiceClient::new(channel.clone());
        let listed = ListUsersRequest { account_id: self.account_id.clone(), ..Default::default() };
        parts.push(format!("{:?}", users.list_users(authorized(listed, admin)).await.map(|r| r.into_inner())));
        let group = GetAccountGroupRequest { account_id: self.account_id.clone() };
        parts.push(format!(
            "{:?}",
            GroupServiceClient::new(channel.clone())
                .get_account_group(authorized(group, admin))
                .await
                .map(|r| r.into_inner())
        ));
        let fields = CustomFieldServiceClient::new(channel.clone())
            .list_custom_field_definitions(authorized(ListCustomFieldDefinitionsRequest::default(), admin))
            .await
            .map(|r| r.into_inner());
        parts.push(format!("{fields:?}"));
        parts.join("\n")
    }

    pub async fn invoke(&self, method: &str, channel: Channel, token: Option<&str>) -> Outcome {
        let (service, name) = method.trim_start_matches('/').split_once('/').unwrap_or_default();
        match service {
            TENANTS => self.tenants(name, channel, token).await,
            USERS => self.users(name, channel, token).await,
            GROUPS => self.groups(name, channel, token).await,
            FIELDS => self.fields(name, channel, token).await,
            EVENTS => self.events(channel, token).await,
            ACCOUNTS => self.accounts(name, channel, token).await,
            _ => Err(Status::unimplemented(format!("the matrix cannot call {method}"))),
        }
    }

    async fn tenants(&self, name: &str, channel: Channel, token: Option<&str>) -> Outcome {
        let mut tenants = TenantServiceClient::new(channel);
        match name {
            "CreateTenant" => {
                let tenant =
                    Tenant { name: "Matrix".to_owned(), default_currency: "EUR".to_owned(), ..Tenant::default() };
                tenants
                    .create_tenant(request(
                        CreateTenantRequest { tenant: Some(tenant), request_id: String::new() },
                        token,
                    ))
                    .await
                    .map(|_| 1)
            }
            "GetTenant" => {
                tenants.get_tenant(request(GetTenantRequest { id: self.tenant_id.to_string() }, token)).await.map(|_| 1)
            }
            "SuspendTenant" => {
                let suspend = SuspendTenantRequest {
                    id: self.tenant_id.to_string(),
                    reason: "matrix".to_owned(),
                    request_id: String::new(),
                };
                tenants.suspend_tenant(request(suspend, token)).await.map(|_| 1)
            }
            "ReactivateTenant" => {
                let reactivate = ReactivateTenantRequest { id: self.tenant_id.to_string(), request_id: String::new() };
                tenants.reactivate_tenant(request(reactivate, token)).await.map(|_| 1)
            }
            "SetGuestAccount" => {
                let set = SetGuestAccountRequest {
                    account_id: self.account_id.clone(),
                    request_id: String::new(),
                    region: String::new(),
                };
                tenants.set_guest_account(request(set, token)).await.map(|_| 1)
            }
            "SetRegistrationProfile" => {
                let set = SetRegistrationProfileRequest {
                    profile: "HIJACK".to_owned(),
                    account_id: self.account_id.clone(),
                    request_id: String::new(),
                };
                tenants.set_registration_profile(request(set, token)).await.map(|_| 1)
            }
            "SetResidentialFeatures" => {
                let features = ResidentialFeatures {
                    payment_types: vec![bss_proto::types::PaymentType::CreditCard as i32],
                    ..ResidentialFeatures::default()
                };
                let set = SetResidentialFeaturesRequest { features: Some(features), request_id: String::new() };
                tenants.set_residential_features(request(set, token)).await.map(|_| 1)
            }
            "SetCurrencySettings" => {
                let set = SetCurrencySettingsRequest { multi_currency: true, ..SetCurrencySettingsRequest::default() };
                tenants.set_currency_settings(request(set, token)).await.map(|_| 1)
            }
            "SetTimeZone" => {
                let set = SetTimeZoneRequest { time_zone: "Europe/Paris".to_owned(), request_id: String::new() };
                tenants.set_time_zone(request(set, token)).await.map(|_| 1)
            }
            "ListTenants" => tenants
                .list_tenants(request(ListTenantsRequest::default(), token))
                .await
                .map(|r| r.into_inner().tenants.len()),
            _ => Err(Status::unimplemented(name.to_owned())),
        }
    }

    async fn accounts(&self, name: &str, channel: Channel, token: Option<&str>) -> Outcome {
        let mut accounts = AccountServiceClient::new(channel);
        let random = || Uuid::new_v4().simple().to_string();
        let id = self.account_id.clone();
        match name {
            "CreateAccount" => {
                let account = account(&format!("M-{}", random()), &format!("Matrix {}", random()));
                accounts
                    .create_account(request(
                        CreateAccountRequest { account: Some(account), request_id: String::new() },
                        token,
                    ))
                    .await
                    .map(|_| 1)
            }
            "GetAccount" => accounts.get_account(request(GetAccountRequest { id }, token)).await.map(|_| 1),
            "UpdateAccount" => {
                let account = Account { id, name: "Hijacked".to_owned(), ..Account::default() };
                let update = UpdateAccountRequest {
                    account: Some(account),
                    update_mask: mask(&["name"]),
                    request_id: String::new(),
                };
                accounts.update_account(request(update, token)).await.map(|_| 1)
            }
            "ListAccounts" => accounts.list_accounts(request(ListAccountsRequest::default(), token)).await.map(|r| {
                count_of_tenant(r.into_inner().accounts.into_iter().map(|account| account.tenant_id), self.tenant_id)
            }),
            "DeleteAccount" => accounts
                .delete_account(request(
                    DeleteAccountRequest { id: self.other_account_id.clone(), ..Default::default() },
                    token,
                ))
                .await
                .map(|_| 1),
            "CreateContact" => {
                let contact = Contact { first_name: "Mallory".to_owned(), ..Contact::default() };
                let create = CreateContactRequest { account_id: id, contact: Some(contact), request_id: String::new() };
                accounts.create_contact(request(create, token)).await.map(|_| 1)
            }
            "ListContacts" => accounts
                .list_contacts(request(ListContactsRequest { account_id: id, ..Default::default() }, token))
                .await
                .map(|r| r.into_inner().contacts.len()),
            "UpdateContact" => {
                let contact =
                    Contact { id: self.contact_id.clone(), first_name: "Hijacked".to_owned(), ..Contact::default() };
                let update = UpdateContactRequest {
                    contact: Some(contact),
                    update_mask: mask(&["first_name"]),
                    request_id: String::new(),
                };
                accounts.update_contact(request(update, token)).await.map(|_| 1)
            }
            "DeleteContact" => accounts
                .delete_contact(request(
                    DeleteContactRequest { id: self.contact_id.clone(), request_id: String::new() },
                    token,
                ))
                .await
                .map(|_| 1),
            "CreateAddress" => {
                let create = CreateAddressRequest {
                    account_id: id,
                    address: Some(address(AddressType::Other)),
                    request_id: String::new(),
                };
                accounts.create_address(request(create, token)).await.map(|_| 1)
            }
            "ListAddresses" => accounts
                .list_addresses(request(ListAddressesRequest { account_id: id, ..Default::default() }, token))
                .await
                .map(|r| r.into_inner().addresses.len()),
            "UpdateAddress" => {
                let address = Address {
                    id: self.address_id.clone(),
                    city: "Newcastle".to_owned(),
                    ..address(AddressType::Billing)
                };
                let update = UpdateAddressRequest {
                    address: Some(address),
                    update_mask: mask(&["city"]),
                    request_id: String::new(),
                };
                accounts.update_address(request(update, token)).await.map(|_| 1)
            }
            "DeleteAddress" => accounts
                .delete_address(request(
                    DeleteAddressRequest { id: self.address_id.clone(), request_id: String::new() },
                    token,
                ))
                .await
                .map(|_| 1),
            "ValidateAddress" => accounts
                .validate_address(request(ValidateAddressRequest { address: Some(address(AddressType::Other)) }, token))
                .await
                .map(|_| 1),
            "SuspendAccount" => {
                let suspend = SuspendAccountRequest { id, reason: "matrix".to_owned(), request_id: String::new() };
                accounts.suspend_account(request(suspend, token)).await.map(|_| 1)
            }
            "ReactivateAccount" => {
                let reactivate =
                    ReactivateAccountRequest { id, reason: "matrix".to_owned(), request_id: String::new() };
                accounts.reactivate_account(request(reactivate, token)).await.map(|_| 1)
            }
            "TerminateAccount" => {
                let terminate = TerminateAccountRequest { id, reason: "matrix".to_owned(), request_id: String::new() };
                accounts.terminate_account(request(terminate, token)).await.map(|_| 1)
            }
            "ListAccountHistory" => accounts
                .list_account_history(request(
                    ListAccountHistoryRequest { account_id: id, ..Default::default() },
                    token,
                ))
                .await
                .map(|r| r.into_inner().entries.len()),
            "SynchronizeAccount" => {
                let sync = SynchronizeAccountRequest {
                    id,
                    provisioning_system: "matrix".to_owned(),
                    request_id: String::new(),
                };
                accounts.synchronize_account(request(sync, token)).await.map(|_| 1)
            }
            "ImportAccounts" => {
                let row = ImportRow {
                    line: 1,
                    account: Some(Account { external_key: "ERP-1".to_owned(), ..account("IMPORTED", "Imported Co") }),
                    payment_type_codes: String::new(),
                    create_user: false,
                };
                let message = ImportAccountsRequest { rows: vec![row], request_id: String::new() };
                accounts.import_accounts(request(futures::stream::iter([message]), token)).await.map(|_| 1)
            }
            "ImportAccountsWithProgress" => {
                let row = ImportRow {
                    line: 1,
                    account: Some(Account { external_key: "ERP-2".to_owned(), ..account("IMPORTING", "Importing Co") }),
                    payment_type_codes: String::new(),
                    create_user: false,
                };
                let message = ImportAccountsWithProgressRequest { rows: vec![row], request_id: String::new() };
                let answer = accounts.import_accounts_with_progress(request(futures::stream::iter([message]), token));
                let mut answer = answer.await?.into_inner();
                // The refusal of a call that started may come on the stream.
                while answer.message().await?.is_some() {}
                Ok(1)
            }
            _ => Err(Status::unimplemented(name.to_owned())),
        }
    }

    async fn users(&self, name: &str, channel: Channel, token: Option<&str>) -> Outcome {
        let mut users = UserServiceClient::new(channel);
        match name {
            "RegisterUser" => {
                let register = RegisterUserRequest {
                    profile: "MATRIX".to_owned(),
                    email: format!("{}@matrix.example", Uuid::new_v4().simple()),
                    display_name: String::new(),
                    request_id: String::new(),
                };
                users.register_user(request(register, token)).await.map(|_| 1)
            }
            "CreateUser" => {
                let user = User {
                    account_id: self.account_id.clone(),
                    email: format!("{}@matrix.example", Uuid::new_v4().simple()),
                    display_name: "M".to_owned(),
                    ..User::default()
                };
                users
                    .create_user(request(CreateUserRequest { user: Some(user), request_id: String::new() }, token))
                    .await
                    .map(|_| 1)
            }
            "GetUser" => users.get_user(request(GetUserRequest { id: self.user_id.clone() }, token)).await.map(|_| 1),
            "ListUsers" => users
                .list_users(request(
                    ListUsersRequest { account_id: self.account_id.clone(), ..Default::default() },
                    token,
                ))
                .await
                .map(|r| r.into_inner().users.len()),
            "AssignUser" => {
                let assign = AssignUserRequest {
                    user_id: self.user_id.clone(),
                    account_id: self.other_account_id.clone(),
                    request_id: String::new(),
                };
                users.assign_user(request(assign, token)).await.map(|_| 1)
            }
            "SwitchAccount" => {
                let switch = SwitchAccountRequest {
                    user_id: self.rep_user_id.clone(),
                    account_id: self.other_account_id.clone(),
                    request_id: String::new(),
                };
                users.switch_account(request(switch, token)).await.map(|_| 1)
            }
            "ListSwitchableAccounts" => users
                .list_switchable_accounts(request(
                    ListSwitchableAccountsRequest { user_id: self.rep_user_id.clone(), ..Default::default() },
                    token,
                ))
                .await
                .map(|r| r.into_inner().accounts.len()),
            "DeleteUser" => users
                .delete_user(request(DeleteUserRequest { id: self.user_id.clone(), request_id: String::new() }, token))
                .await
                .map(|_| 1),
            _ => Err(Status::unimplemented(name.to_owned())),
        }
    }

    async fn groups(&self, name: &str, channel: Channel, token: Option<&str>) -> Outcome {
        let mut groups = GroupServiceClient::new(channel);
        match name {
            "AddGroupMember" => {
                let add = AddGroupMemberRequest {
                    parent_account_id: self.account_id.clone(),
                    member_account_id: self.other_account_id.clone(),
                    funding: Some(Funding { scope: FundingScope::Full as i32, ..Funding::default() }),
                    request_id: String::new(),
                };
                groups.add_group_member(request(add, token)).await.map(|_| 1)
            }
            "RemoveGroupMember" => {
                let remove =
                    RemoveGroupMemberRequest { member_account_id: self.member_id.clone(), request_id: String::new() };
                groups.remove_group_member(request(remove, token)).await.map(|_| 1)
            }
            "GetAccountGroup" => groups
                .get_account_group(request(GetAccountGroupRequest { account_id: self.account_id.clone() }, token))
                .await
                .map(|_| 1),
            _ => Err(Status::unimplemented(name.to_owned())),
        }
    }

    async fn fields(&self, name: &str, channel: Channel, token: Option<&str>) -> Outcome {
        let mut fields = CustomFieldServiceClient::new(channel);
        match name {
            "CreateCustomFieldDefinition" => {
                let definition = CustomFieldDefinition {
                    key: "matrix".to_owned(),
                    label: "Matrix".to_owned(),
                    r#type: CustomFieldType::Text as i32,
                    choices: Vec::new(),
                };
                let create =
                    CreateCustomFieldDefinitionRequest { definition: Some(definition), request_id: String::new() };
                fields.create_custom_field_definition(request(create, token)).await.map(|_| 1)
            }
            "ListCustomFieldDefinitions" => fields
                .list_custom_field_definitions(request(ListCustomFieldDefinitionsRequest::default(), token))
                .await
                .map(|r| r.into_inner().definitions.iter().filter(|definition| definition.key == "tier").count()),
            "DeleteCustomFieldDefinition" => fields
                .delete_custom_field_definition(request(
                    DeleteCustomFieldDefinitionRequest { key: "tier".to_owned(), request_id: String::new() },
                    token,
                ))
                .await
                .map(|_| 1),
            _ => Err(Status::unimplemented(name.to_owned())),
        }
    }

    /// Reads the stream for a moment: how many of the first tenant's events
    /// it showed.
    async fn events(&self, channel: Channel, token: Option<&str>) -> Outcome {
        let mut events = AccountEventServiceClient::new(channel);
        let mut stream =
            events.stream_events(request(StreamEventsRequest { after_sequence: 0 }, token)).await?.into_inner();
        let mut tenants = Vec::new();
        while let Ok(Some(message)) = tokio::time::timeout(Duration::from_millis(300), stream.next()).await {
            tenants.push(message?.event.unwrap_or_default().tenant_id);
        }
        Ok(count_of_tenant(tenants.into_iter(), self.tenant_id))
    }
}
