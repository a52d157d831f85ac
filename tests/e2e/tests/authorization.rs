//! The authorization matrix: every RPC of every contract, called through the
//! gateway by a caller of another tenant (NOT_FOUND, or nothing of the
//! tenant's visible, and nothing changed), a caller without the role
//! (PERMISSION_DENIED), and callers with no or a bad token
//! (UNAUTHENTICATED). A method of the contracts without a case here fails
//! the test: each new RPC joins the matrix.

use bss_e2e::TestSuite;
use bss_platform::auth::Role;
use bss_proto::accounts::account_service_client::AccountServiceClient;
use bss_proto::accounts::tenant_service_client::TenantServiceClient;
use bss_proto::accounts::*;
use bss_testkit::authorized;
use tonic::transport::Channel;
use tonic::{Code, Status};
use uuid::Uuid;

/// What a caller of another tenant gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OtherTenant {
    /// The object is not found.
    NotFound,
    /// A listing that shows nothing of the first tenant.
    SeesNothing,
    /// Not tenant-scoped (platform administration).
    NotApplicable,
}

struct Case {
    method: &'static str,
    /// A role that may not make this call.
    denied: Option<Role>,
    other_tenant: OtherTenant,
}

const fn case(method: &'static str, denied: Option<Role>, other_tenant: OtherTenant) -> Case {
    Case { method, denied, other_tenant }
}

const ACCOUNTS: &str = "/bss.accounts.v1.AccountService/";
const TENANTS: &str = "/bss.accounts.v1.TenantService/";

fn cases() -> Vec<Case> {
    use OtherTenant::*;
    let writer_denied = Some(Role::BillingClerk);
    let reader_denied = None;
    let admin_denied = Some(Role::TenantAdmin);
    let mut cases = vec![
        case("CreateTenant", admin_denied, NotApplicable),
        case("GetTenant", reader_denied, NotFound),
        case("ListTenants", admin_denied, NotApplicable),
    ];
    for case in &mut cases {
        case.method = leak(format!("{TENANTS}{}", case.method));
    }
    let accounts = [
        ("CreateAccount", writer_denied, NotApplicable),
        ("GetAccount", reader_denied, NotFound),
        ("UpdateAccount", writer_denied, NotFound),
        ("ListAccounts", reader_denied, SeesNothing),
        ("DeleteAccount", writer_denied, NotFound),
        ("CreateContact", writer_denied, NotFound),
        ("ListContacts", reader_denied, NotFound),
        ("UpdateContact", writer_denied, NotFound),
        ("DeleteContact", writer_denied, NotFound),
        ("CreateAddress", writer_denied, NotFound),
        ("ListAddresses", reader_denied, NotFound),
        ("UpdateAddress", writer_denied, NotFound),
        ("DeleteAddress", writer_denied, NotFound),
    ];
    cases.extend(
        accounts.into_iter().map(|(name, denied, other)| case(leak(format!("{ACCOUNTS}{name}")), denied, other)),
    );
    cases
}

fn leak(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

/// The first tenant's objects every case aims at.
struct Fixture {
    tenant_id: Uuid,
    account_id: String,
    contact_id: String,
    address_id: String,
}

struct Clients {
    accounts: AccountServiceClient<Channel>,
    tenants: TenantServiceClient<Channel>,
}

fn mask(paths: &[&str]) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask { paths: paths.iter().map(|path| (*path).to_owned()).collect() })
}

/// Makes the call of `method` on the fixture with `token` (none: no
/// authorization header). Listings answer how many of the fixture tenant's
/// items they showed.
async fn invoke(method: &str, clients: &mut Clients, token: Option<&str>, fixture: &Fixture) -> Result<usize, Status> {
    fn request<T>(message: T, token: Option<&str>) -> tonic::Request<T> {
        match token {
            Some(token) => authorized(message, token),
            None => tonic::Request::new(message),
        }
    }
    let name = method.rsplit('/').next().unwrap_or_default();
    let account = || Account {
        code: format!("M-{}", Uuid::new_v4().simple()),
        name: format!("Matrix {}", Uuid::new_v4()),
        ..Account::default()
    };
    let contact = || Contact { first_name: "Mallory".to_owned(), ..Contact::default() };
    let address = || Address {
        r#type: AddressType::Other as i32,
        lines: vec!["1 Evil St".to_owned()],
        country_code: "AU".to_owned(),
        ..Address::default()
    };
    let accounts = &mut clients.accounts;
    let tenants = &mut clients.tenants;
    match (method.starts_with(TENANTS), name) {
        (true, "CreateTenant") => tenants
            .create_tenant(request(
                CreateTenantRequest {
                    tenant: Some(Tenant {
                        name: "Matrix".to_owned(),
                        default_currency: "EUR".to_owned(),
                        ..Tenant::default()
                    }),
                    request_id: String::new(),
                },
                token,
            ))
            .await
            .map(|_| 1),
        (true, "GetTenant") => {
            tenants.get_tenant(request(GetTenantRequest { id: fixture.tenant_id.to_string() }, token)).await.map(|_| 1)
        }
        (true, "ListTenants") => tenants
            .list_tenants(request(ListTenantsRequest::default(), token))
            .await
            .map(|response| response.into_inner().tenants.len()),
        (false, "CreateAccount") => accounts
            .create_account(request(
                CreateAccountRequest { account: Some(account()), request_id: String::new() },
                token,
            ))
            .await
            .map(|_| 1),
        (false, "GetAccount") => {
            accounts.get_account(request(GetAccountRequest { id: fixture.account_id.clone() }, token)).await.map(|_| 1)
        }
        (false, "UpdateAccount") => accounts
            .update_account(request(
                UpdateAccountRequest {
                    account: Some(Account {
                        id: fixture.account_id.clone(),
                        name: "Hijacked".to_owned(),
                        ..Account::default()
                    }),
                    update_mask: mask(&["name"]),
                    request_id: String::new(),
                },
                token,
            ))
            .await
            .map(|_| 1),
        (false, "ListAccounts") => {
            accounts.list_accounts(request(ListAccountsRequest::default(), token)).await.map(|response| {
                let owner = fixture.tenant_id.to_string();
                response.into_inner().accounts.iter().filter(|account| account.tenant_id == owner).count()
            })
        }
        (false, "DeleteAccount") => accounts
            .delete_account(request(
                DeleteAccountRequest { id: fixture.account_id.clone(), ..DeleteAccountRequest::default() },
                token,
            ))
            .await
            .map(|_| 1),
        (false, "CreateContact") => accounts
            .create_contact(request(
                CreateContactRequest {
                    account_id: fixture.account_id.clone(),
                    contact: Some(contact()),
                    request_id: String::new(),
                },
                token,
            ))
            .await
            .map(|_| 1),
        (false, "ListContacts") => accounts
            .list_contacts(request(
                ListContactsRequest { account_id: fixture.account_id.clone(), ..ListContactsRequest::default() },
                token,
            ))
            .await
            .map(|response| response.into_inner().contacts.len()),
        (false, "UpdateContact") => accounts
            .update_contact(request(
                UpdateContactRequest {
                    contact: Some(Contact {
                        id: fixture.contact_id.clone(),
                        first_name: "Hijacked".to_owned(),
                        ..Contact::default()
                    }),
                    update_mask: mask(&["first_name"]),
                    request_id: String::new(),
                },
                token,
            ))
            .await
            .map(|_| 1),
        (false, "DeleteContact") => accounts
            .delete_contact(request(
                DeleteContactRequest { id: fixture.contact_id.clone(), request_id: String::new() },
                token,
            ))
            .await
            .map(|_| 1),
        (false, "CreateAddress") => accounts
            .create_address(request(
                CreateAddressRequest {
                    account_id: fixture.account_id.clone(),
                    address: Some(address()),
                    request_id: String::new(),
                },
                token,
            ))
            .await
            .map(|_| 1),
        (false, "ListAddresses") => accounts
            .list_addresses(request(
                ListAddressesRequest { account_id: fixture.account_id.clone(), ..ListAddressesRequest::default() },
                token,
            ))
            .await
            .map(|response| response.into_inner().addresses.len()),
        (false, "UpdateAddress") => accounts
            .update_address(request(
                UpdateAddressRequest {
                    address: Some(Address {
                        id: fixture.address_id.clone(),
                        city: "Hijacked".to_owned(),
                        ..Address::default()
                    }),
                    update_mask: mask(&["city"]),
                    request_id: String::new(),
                },
                token,
            ))
            .await
            .map(|_| 1),
        (false, "DeleteAddress") => accounts
            .delete_address(request(
                DeleteAddressRequest { id: fixture.address_id.clone(), request_id: String::new() },
                token,
            ))
            .await
            .map(|_| 1),
        _ => Err(Status::unimplemented(format!("the matrix cannot call {method}"))),
    }
}

/// Everything the first tenant owns, as its administrator sees it.
async fn snapshot(clients: &mut Clients, admin: &str, fixture: &Fixture) -> String {
    let account = clients
        .accounts
        .get_account(authorized(GetAccountRequest { id: fixture.account_id.clone() }, admin))
        .await
        .expect("account")
        .into_inner();
    let contacts = clients
        .accounts
        .list_contacts(authorized(
            ListContactsRequest { account_id: fixture.account_id.clone(), ..Default::default() },
            admin,
        ))
        .await
        .expect("contacts")
        .into_inner();
    let addresses = clients
        .accounts
        .list_addresses(authorized(
            ListAddressesRequest { account_id: fixture.account_id.clone(), ..Default::default() },
            admin,
        ))
        .await
        .expect("addresses")
        .into_inner();
    let listed = clients
        .accounts
        .list_accounts(authorized(ListAccountsRequest::default(), admin))
        .await
        .expect("list")
        .into_inner();
    format!("{account:?}{contacts:?}{addresses:?}{}", listed.accounts.len())
}

#[tokio::test]
async fn every_rpc_refuses_other_tenants_missing_roles_and_bad_tokens() {
    let suite = TestSuite::start().await;
    let (tenant_id, admin) = suite.tenant("Owner Books", "EUR").await;
    let (other_tenant, _) = suite.tenant("Other Books", "EUR").await;
    let channel = suite.gateway().await;
    let mut clients =
        Clients { accounts: AccountServiceClient::new(channel.clone()), tenants: TenantServiceClient::new(channel) };

    let account_id = clients
        .accounts
        .create_account(authorized(
            CreateAccountRequest {
                account: Some(Account { code: "OWNED".to_owned(), name: "Owned Co".to_owned(), ..Account::default() }),
                request_id: String::new(),
            },
            &admin,
        ))
        .await
        .expect("account")
        .into_inner()
        .account
        .expect("account")
        .id;
    let contact_id = clients
        .accounts
        .create_contact(authorized(
            CreateContactRequest {
                account_id: account_id.clone(),
                contact: Some(Contact { first_name: "Ada".to_owned(), ..Contact::default() }),
                request_id: String::new(),
            },
            &admin,
        ))
        .await
        .expect("contact")
        .into_inner()
        .contact
        .expect("contact")
        .id;
    let address_id = clients
        .accounts
        .create_address(authorized(
            CreateAddressRequest {
                account_id: account_id.clone(),
                address: Some(Address {
                    r#type: AddressType::Billing as i32,
                    lines: vec!["1 Main St".to_owned()],
                    country_code: "AU".to_owned(),
                    ..Address::default()
                }),
                request_id: String::new(),
            },
            &admin,
        ))
        .await
        .expect("address")
        .into_inner()
        .address
        .expect("address")
        .id;
    let fixture = Fixture { tenant_id, account_id, contact_id, address_id };
    let before = snapshot(&mut clients, &admin, &fixture).await;

    let cases = cases();
    let covered: Vec<&str> = cases.iter().map(|case| case.method).collect();
    let missing: Vec<String> = bss_gateway::routing::contract_methods()
        .into_iter()
        .map(|method| method.path)
        .filter(|path| !covered.contains(&path.as_str()))
        .collect();
    assert!(missing.is_empty(), "RPCs without a case in the authorization matrix: {missing:?}");

    let forged =
        bss_platform::auth::TokenIssuer::hs256("not-the-secret", bss_testkit::TEST_ISSUER, bss_testkit::TEST_AUDIENCE)
            .mint(&bss_platform::auth::TokenSpec {
                subject: "forger".to_owned(),
                tenant: Some(tenant_id.to_string()),
                roles: vec![Role::TenantAdmin, Role::PlatformAdmin],
                ttl: std::time::Duration::from_secs(60),
                ..Default::default()
            });
    let stranger = bss_testkit::token(other_tenant, &[Role::TenantAdmin, Role::Integration]);
    let platform_admin = bss_testkit::platform_admin_token();

    let mut failures = Vec::new();
    for case in &cases {
        for (who, token) in [("no token", None), ("forged token", Some(forged.as_str()))] {
            let outcome = invoke(case.method, &mut clients, token, &fixture).await;
            if !matches!(&outcome, Err(status) if status.code() == Code::Unauthenticated) {
                failures.push(format!("{} with {who}: {outcome:?}", case.method));
            }
        }

        let denied = match case.denied {
            Some(role) => bss_testkit::token(tenant_id, &[role]),
            None => bss_testkit::token(tenant_id, &[]),
        };
        let outcome = invoke(case.method, &mut clients, Some(&denied), &fixture).await;
        if !matches!(&outcome, Err(status) if status.code() == Code::PermissionDenied) {
            failures.push(format!("{} without the role: {outcome:?}", case.method));
        }
        if !case.method.starts_with(TENANTS) {
            let outcome = invoke(case.method, &mut clients, Some(&platform_admin), &fixture).await;
            if !matches!(&outcome, Err(status) if status.code() == Code::PermissionDenied) {
                failures.push(format!("{} as a platform admin without a tenant: {outcome:?}", case.method));
            }
        }

        let outcome = invoke(case.method, &mut clients, Some(&stranger), &fixture).await;
        let expected = match case.other_tenant {
            OtherTenant::NotFound => matches!(&outcome, Err(status) if status.code() == Code::NotFound),
            OtherTenant::SeesNothing => matches!(&outcome, Ok(0)),
            OtherTenant::NotApplicable => true,
        };
        if !expected {
            failures.push(format!("{} by another tenant: {outcome:?}", case.method));
        }
    }
    assert!(failures.is_empty(), "authorization failures:\n{}", failures.join("\n"));
    assert_eq!(snapshot(&mut clients, &admin, &fixture).await, before, "the first tenant's data changed");
}
