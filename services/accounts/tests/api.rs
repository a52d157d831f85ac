//! AccountService and TenantService over real gRPC against a fresh Postgres
//! database per test.

use bss_platform::auth::Role;
use bss_proto::accounts::*;
use bss_proto::types::PaymentType;
use bss_testapp::accounts::*;
use bss_testkit::{authorized, platform_admin_token, sales_rep_token, token};
use tonic::Code;
use uuid::Uuid;

#[tokio::test]
async fn an_account_created_reads_back_with_its_defaults() {
    let mut app = spawn().await;
    let (tenant_id, admin) = app.tenant_admin().await;
    let definition = CustomFieldDefinition {
        key: "segment".to_owned(),
        label: "Segment".to_owned(),
        r#type: CustomFieldType::Choice as i32,
        choices: vec!["smb".to_owned(), "enterprise".to_owned()],
    };
    app.custom_fields
        .create_custom_field_definition(authorized(
            CreateCustomFieldDefinitionRequest { definition: Some(definition), request_id: String::new() },
            &admin,
        ))
        .await
        .expect("custom field defined");

    let created = app
        .create_account(
            &admin,
            Account {
                email: "ops@acme.example".to_owned(),
                payment_types: vec![PaymentType::OnAccount as i32, PaymentType::CreditCard as i32],
                custom_fields: [("segment".to_owned(), "smb".to_owned())].into(),
                ..account("ACME-1", "  Acme Pty Ltd ")
            },
        )
        .await
        .expect("created");
    assert!(created.warnings.is_empty());
    let created = created.account.expect("account");

    let read = app.get_account(&admin, &created.id).await.expect("read back");
    assert_eq!(read, created);
    assert_eq!(read.tenant_id, tenant_id.to_string());
    assert_eq!(read.name, "Acme Pty Ltd", "names are trimmed");
    assert_eq!(read.currency_code, "AUD", "currency defaults to the tenant's");
    assert_eq!(read.status, AccountStatus::Active as i32);
    assert_eq!(read.kind, AccountKind::Direct as i32);
    assert_eq!(read.profile, AccountProfile::Normal as i32);
    assert_eq!(read.is_active, Some(true));
    assert_eq!(read.created_by, "user:tenant_admin");
    assert_eq!(read.custom_fields.get("segment").map(String::as_str), Some("smb"));
    assert_eq!(read.payment_types, vec![PaymentType::OnAccount as i32, PaymentType::CreditCard as i32]);
}

#[tokio::test]
async fn bad_input_names_every_bad_field() {
    let mut app = spawn().await;
    let (_, admin) = app.tenant_admin().await;

    let status = app
        .create_account(
            &admin,
            Account {
                email: "not-an-email".to_owned(),
                currency_code: "EURO".to_owned(),
                payment_types: vec![PaymentType::Unspecified as i32],
                parent_account_id: "nope".to_owned(),
                ..account("has space", "")
            },
        )
        .await
        .expect_err("refused");
    let mut fields = violated_fields(&status);
    fields.sort();
    assert_eq!(
        fields,
        [
            "account.code",
            "account.currency_code",
            "account.email",
            "account.name",
            "account.parent_account_id",
            "account.payment_types"
        ]
    );
    assert_eq!(app.count_accounts().await, 0, "nothing is written");
}

#[tokio::test]
async fn callers_without_a_valid_token_are_unauthenticated() {
    let mut app = spawn().await;
    let (tenant_id, _) = app.tenant_admin().await;

    let missing =
        app.accounts.get_account(GetAccountRequest { id: Uuid::nil().to_string() }).await.expect_err("no token");
    assert_eq!(missing.code(), Code::Unauthenticated);

    let forged_issuer = bss_platform::auth::TokenIssuer::hs256("someone-elses-secret", bss_testkit::TEST_ISSUER, "bss");
    let forged = forged_issuer.mint(&bss_platform::auth::TokenSpec {
        subject: "mallory".to_owned(),
        tenant: Some(tenant_id.to_string()),
        roles: vec![Role::TenantAdmin],
        ttl: std::time::Duration::from_secs(60),
        ..Default::default()
    });
    let status = app.create_account(&forged, account("X", "X")).await.expect_err("forged");
    assert_eq!(status.code(), Code::Unauthenticated);

    let status = app.create_account("not.a.jwt", account("X", "X")).await.expect_err("garbage");
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(app.count_accounts().await, 0);
}

#[tokio::test]
async fn another_tenants_account_is_not_found_and_untouched() {
    let mut app = spawn().await;
    let (_, admin) = app.tenant_admin().await;
    let other_tenant = app.create_tenant("Other Books", "EUR").await;
    let other_admin = token(other_tenant.id.parse().expect("uuid"), &[Role::TenantAdmin]);

    let created = app.create_account(&admin, account("A1", "Alpha")).await.expect("created").account.expect("account");

    let status = app.get_account(&other_admin, &created.id).await.expect_err("hidden");
    assert_eq!(status.code(), Code::NotFound);

    let update = UpdateAccountRequest {
        account: Some(Account { id: created.id.clone(), name: "Stolen".to_owned(), ..Account::default() }),
        update_mask: mask(&["name"]),
        request_id: String::new(),
    };
    let status = app.accounts.update_account(authorized(update, &other_admin)).await.expect_err("hidden");
    assert_eq!(status.code(), Code::NotFound);

    let delete = DeleteAccountRequest { id: created.id.clone(), ..DeleteAccountRequest::default() };
    let status = app.accounts.delete_account(authorized(delete, &other_admin)).await.expect_err("hidden");
    assert_eq!(status.code(), Code::NotFound);

    let listed = app
        .accounts
        .list_accounts(authorized(ListAccountsRequest::default(), &other_admin))
        .await
        .expect("list")
        .into_inner();
    assert!(listed.accounts.is_empty());

    assert_eq!(app.get_account(&admin, &created.id).await.expect("still there").name, "Alpha");
}

#[tokio::test]
async fn a_retry_with_the_same_request_id_returns_the_first_answer() {
    let mut app = spawn().await;
    let (_, admin) = app.tenant_admin().await;

    let first = app.create_account_with_id(&admin, account("R1", "Retry Co"), "req-1").await.expect("first");
    let again = app.create_account_with_id(&admin, account("R1", "Retry Co"), "req-1").await.expect("retry");
    assert_eq!(first, again);
    assert_eq!(app.count_accounts().await, 1);

    let status = app.create_account_with_id(&admin, account("R2", "Another Co"), "req-1").await.expect_err("reused id");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(reason(&status), "REQUEST_ID_REUSED");
    assert_eq!(app.count_accounts().await, 1);
}

#[tokio::test]
async fn a_concurrent_duplicate_is_aborted() {
    let mut app = spawn().await;
    let (tenant_id, admin) = app.tenant_admin().await;

    // Hold the lock the first call of "req-busy" would hold while it runs.
    let mut holder = app.db.acquire().await.expect("connection");
    let _: () =
        sqlx::query_scalar("SELECT pg_advisory_lock(hashtextextended('accounts' || ':' || $1::text || ':' || $2, 0))")
            .bind(tenant_id)
            .bind("req-busy")
            .fetch_one(&mut *holder)
            .await
            .expect("lock");

    let status =
        app.create_account_with_id(&admin, account("B1", "Busy Co"), "req-busy").await.expect_err("in progress");
    assert_eq!(status.code(), Code::Aborted);
    assert_eq!(reason(&status), "REQUEST_IN_PROGRESS");
    assert_eq!(app.count_accounts().await, 0);
}

#[tokio::test]
async fn names_and_codes_are_unique_in_the_tenant() {
    let mut app = spawn().await;
    let (_, admin) = app.tenant_admin().await;
    app.create_account(&admin, account("N1", "Northwind")).await.expect("created");

    let status = app.create_account(&admin, account("N2", "  NORTHWIND ")).await.expect_err("same name");
    assert_eq!(status.code(), Code::AlreadyExists);
    assert_eq!(reason(&status), "ACCOUNT_NAME_TAKEN");

    let status = app.create_account(&admin, account("N1", "Southwind")).await.expect_err("same code");
    assert_eq!(status.code(), Code::AlreadyExists);
    assert_eq!(reason(&status), "ACCOUNT_CODE_TAKEN");

    // Another tenant has its own name space.
    let other = app.create_tenant("Other", "EUR").await;
    let other_admin = token(other.id.parse().expect("uuid"), &[Role::TenantAdmin]);
    app.create_account(&other_admin, account("N1", "Northwind")).await.expect("other tenant");
}

#[tokio::test]
async fn resellers_sharing_a_parent_name_space_cannot_reuse_a_name() {
    let mut app = spawn().await;
    let platform = app.create_tenant("Platform", "EUR").await;
    let reseller = |name: &str| Tenant {
        name: name.to_owned(),
        default_currency: "EUR".to_owned(),
        parent_tenant_id: platform.id.clone(),
        name_uniqueness_scope: NameUniquenessScope::ParentTenant as i32,
        ..Tenant::default()
    };
    let first = app.create_tenant_with(reseller("Reseller One")).await;
    let second = app.create_tenant_with(reseller("Reseller Two")).await;
    let first_admin = token(first.id.parse().expect("uuid"), &[Role::TenantAdmin]);
    let second_admin = token(second.id.parse().expect("uuid"), &[Role::TenantAdmin]);

    app.create_account(&first_admin, account("C1", "Contoso")).await.expect("first reseller");
    let status = app.create_account(&second_admin, account("C1", "contoso")).await.expect_err("taken");
    assert_eq!(status.code(), Code::AlreadyExists);
    assert_eq!(reason(&status), "ACCOUNT_NAME_TAKEN");
}

#[tokio::test]
async fn a_duplicate_external_key_is_accepted_with_a_warning() {
    let mut app = spawn().await;
    let (_, admin) = app.tenant_admin().await;
    let with_key = |code: &str, name: &str| Account { external_key: "ERP-7".to_owned(), ..account(code, name) };
    let first = app.create_account(&admin, with_key("K1", "Keyed One")).await.expect("first");
    assert!(first.warnings.is_empty());
    let second = app.create_account(&admin, with_key("K2", "Keyed Two")).await.expect("second");
    let reasons: Vec<&str> = second.warnings.iter().map(|warning| warning.reason.as_str()).collect();
    assert_eq!(reasons, ["EXTERNAL_KEY_DUPLICATE"]);
}

#[tokio::test]
async fn updates_follow_the_mask_and_the_etag() {
    let mut app = spawn().await;
    let (_, admin) = app.tenant_admin().await;
    let created = app
        .create_account(&admin, Account { territory: "North".to_owned(), ..account("U1", "Update Co") })
        .await
        .expect("created")
        .account
        .expect("account");

    let update = |account: Account, paths: &[&str]| UpdateAccountRequest {
        account: Some(account),
        update_mask: mask(paths),
        request_id: String::new(),
    };
    let changed = app
        .accounts
        .update_account(authorized(
            update(
                Account {
                    id: created.id.clone(),
                    etag: created.etag.clone(),
                    name: "Renamed Co".to_owned(),
                    territory: "ignored, not in the mask".to_owned(),
                    ..Account::default()
                },
                &["name"],
            ),
            &admin,
        ))
        .await
        .expect("updated")
        .into_inner()
        .account
        .expect("account");
    assert_eq!(changed.name, "Renamed Co");
    assert_eq!(changed.territory, "North");
    assert_ne!(changed.etag, created.etag);

    let stale = update(
        Account {
            id: created.id.clone(),
            etag: created.etag.clone(),
            name: "Lost Update".to_owned(),
            ..Account::default()
        },
        &["name"],
    );
    let status = app.accounts.update_account(authorized(stale, &admin)).await.expect_err("stale");
    assert_eq!(status.code(), Code::Aborted);
    assert_eq!(reason(&status), "ETAG_MISMATCH");

    let currency = update(
        Account { id: created.id.clone(), currency_code: "USD".to_owned(), ..Account::default() },
        &["currency_code"],
    );
    let status = app.accounts.update_account(authorized(currency, &admin)).await.expect_err("fixed");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason(&status), "CURRENCY_IMMUTABLE");

    let unknown = update(Account { id: created.id.clone(), ..Account::default() }, &["status"]);
    let status = app.accounts.update_account(authorized(unknown, &admin)).await.expect_err("read-only");
    assert_eq!(violated_fields(&status), ["update_mask"]);

    let bad = update(
        Account { id: created.id.clone(), billing_email: "nope".to_owned(), ..Account::default() },
        &["billing_email"],
    );
    let status = app.accounts.update_account(authorized(bad, &admin)).await.expect_err("bad email");
    assert_eq!(violated_fields(&status), ["account.billing_email"]);

    assert_eq!(app.get_account(&admin, &created.id).await.expect("read").name, "Renamed Co");
}

#[tokio::test]
async fn parents_must_exist_and_never_form_a_cycle() {
    let mut app = spawn().await;
    let (_, admin) = app.tenant_admin().await;
    let parent = app.create_account(&admin, account("P", "Parent")).await.expect("parent").account.expect("account");
    let child = app
        .create_account(&admin, Account { parent_account_id: parent.id.clone(), ..account("C", "Child") })
        .await
        .expect("child")
        .account
        .expect("account");

    let cycle = UpdateAccountRequest {
        account: Some(Account { id: parent.id.clone(), parent_account_id: child.id.clone(), ..Account::default() }),
        update_mask: mask(&["parent_account_id"]),
        request_id: String::new(),
    };
    let status = app.accounts.update_account(authorized(cycle, &admin)).await.expect_err("cycle");
    assert_eq!(reason(&status), "PARENT_CYCLE");

    let missing_parent = Account { parent_account_id: Uuid::now_v7().to_string(), ..account("O", "Orphan") };
    let status = app.create_account(&admin, missing_parent).await.expect_err("no parent");
    assert_eq!(violated_fields(&status), ["account.parent_account_id"]);

    let delete_parent = DeleteAccountRequest { id: parent.id.clone(), ..DeleteAccountRequest::default() };
    let status = app.accounts.delete_account(authorized(delete_parent, &admin)).await.expect_err("has child");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason(&status), "ACCOUNT_HAS_CHILDREN");

    let delete_child = DeleteAccountRequest { id: child.id.clone(), ..DeleteAccountRequest::default() };
    app.accounts.delete_account(authorized(delete_child, &admin)).await.expect("deleted");
    let status = app.get_account(&admin, &child.id).await.expect_err("gone");
    assert_eq!(status.code(), Code::NotFound);
}

#[tokio::test]
async fn listing_filters_and_pages_and_limits_sales_reps_to_their_accounts() {
    let mut app = spawn().await;
    let (tenant_id, admin) = app.tenant_admin().await;
    for index in 0..5 {
        let rep = if index % 2 == 0 { "rep-7" } else { "rep-9" };
        app.create_account(
            &admin,
            Account {
                sales_rep_id: rep.to_owned(),
                territory: if index < 3 { "North" } else { "South" }.to_owned(),
                ..account(&format!("L{index}"), &format!("Listed {index}"))
            },
        )
        .await
        .expect("created");
    }

    let mut seen = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = app
            .accounts
            .list_accounts(authorized(
                ListAccountsRequest { page_size: 2, page_token: page_token.clone(), ..ListAccountsRequest::default() },
                &admin,
            ))
            .await
            .expect("page")
            .into_inner();
        assert!(page.accounts.len() <= 2);
        seen.extend(page.accounts.into_iter().map(|account| account.code));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(seen, ["L0", "L1", "L2", "L3", "L4"], "oldest first, each once");

    let north = app
        .accounts
        .list_accounts(authorized(
            ListAccountsRequest {
                territory: "North".to_owned(),
                name: "listed".to_owned(),
                ..ListAccountsRequest::default()
            },
            &admin,
        ))
        .await
        .expect("filtered")
        .into_inner();
    assert_eq!(north.accounts.len(), 3);

    let rep = sales_rep_token(tenant_id, "rep-7");
    let mine = app
        .accounts
        .list_accounts(authorized(ListAccountsRequest::default(), &rep))
        .await
        .expect("rep list")
        .into_inner();
    let codes: Vec<&str> = mine.accounts.iter().map(|account| account.code.as_str()).collect();
    assert_eq!(codes, ["L0", "L2", "L4"]);

    let someone_elses = seen_account(&mut app, &admin, "L1").await;
    let status = app.get_account(&rep, &someone_elses).await.expect_err("another rep's account");
    assert_eq!(status.code(), Code::NotFound);

    let status = app
        .accounts
        .list_accounts(authorized(
            ListAccountsRequest { page_token: "garbage".to_owned(), ..ListAccountsRequest::default() },
            &admin,
        ))
        .await
        .expect_err("bad token");
    assert_eq!(violated_fields(&status), ["page_token"]);
}

/// What a search box asks: accounts whose code, or whose name, starts with
/// what was typed (the name in any case), every page of them, in the
/// tenant asked for only; the characters LIKE treats as patterns are plain.
#[tokio::test]
async fn search_by_code_or_name_prefix() {
    let mut app = spawn().await;
    let (_, admin) = app.tenant_admin().await;
    let (_, other_admin) = app.tenant_admin().await;
    let codes = ["EU-1", "EU-2", "EU-10", "EU_3", "EV-1", "eu-4", "E", "EU.5", "EU-X"];
    let names = ["Acme Trading", "ACME Labs", "acmé", "Acne", "Bacme", "  Acme North", "Ac", "Acme%", "Zed"];
    for (code, name) in codes.iter().zip(names) {
        app.create_account(&admin, account(code, name)).await.expect("created");
    }
    app.create_account(&other_admin, account("EU-9", "Acme elsewhere")).await.expect("another tenant's");

    let search = |code_prefix: &str, name_prefix: &str, page_size: i32, page_token: String| ListAccountsRequest {
        code_prefix: code_prefix.to_owned(),
        name_prefix: name_prefix.to_owned(),
        page_size,
        page_token,
        ..ListAccountsRequest::default()
    };
    let found = |request: ListAccountsRequest| {
        let mut accounts = app.accounts.clone();
        let admin = admin.clone();
        async move {
            let mut all = Vec::new();
            let mut request = request;
            loop {
                let page =
                    accounts.list_accounts(authorized(request.clone(), &admin)).await.expect("searched").into_inner();
                all.extend(page.accounts.into_iter().map(|account| account.code));
                if page.next_page_token.is_empty() {
                    all.sort();
                    return all;
                }
                request.page_token = page.next_page_token;
            }
        }
    };
    assert_eq!(found(search("EU-", "", 2, String::new())).await, ["EU-1", "EU-10", "EU-2", "EU-X"]);
    assert_eq!(found(search("EU_", "", 0, String::new())).await, ["EU_3"], "an underscore is itself");
    assert_eq!(found(search("", "acme%", 0, String::new())).await, ["EU.5"], "a percent sign is itself");
    assert_eq!(found(search("eu", "", 0, String::new())).await, ["eu-4"], "codes keep their case");
    assert_eq!(
        found(search("", "ACME", 2, String::new())).await,
        ["EU-1", "EU-2", "EU.5", "eu-4"],
        "names in any case, trimmed; not Bacme, not acmé"
    );
    assert_eq!(found(search("", "acm\u{e9}", 0, String::new())).await, ["EU-10"]);
    assert_eq!(found(search("EU", "acme", 0, String::new())).await, ["EU-1", "EU-2", "EU.5"], "both must match");
    assert_eq!(found(search("EU-1", "", 0, String::new())).await, ["EU-1", "EU-10"]);
    let with_name = ListAccountsRequest { name: "acme".to_owned(), ..search("EU-", "", 1, String::new()) };
    assert_eq!(found(with_name).await, ["EU-1", "EU-2"], "a prefix and another filter, a page at a time");
    assert!(found(search("X", "", 0, String::new())).await.is_empty());
}

async fn seen_account(app: &mut TestApp, token: &str, code: &str) -> String {
    let listed = app
        .accounts
        .list_accounts(authorized(
            ListAccountsRequest { code: code.to_owned(), ..ListAccountsRequest::default() },
            token,
        ))
        .await
        .expect("list")
        .into_inner();
    listed.accounts.first().expect("account").id.clone()
}

#[tokio::test]
async fn roles_decide_who_may_write() {
    let mut app = spawn().await;
    let (tenant_id, _) = app.tenant_admin().await;
    let clerk = token(tenant_id, &[Role::BillingClerk]);
    let status = app.create_account(&clerk, account("X", "X")).await.expect_err("clerk cannot create");
    assert_eq!(status.code(), Code::PermissionDenied);

    let status = app
        .tenants
        .list_tenants(authorized(ListTenantsRequest::default(), &clerk))
        .await
        .expect_err("only platform admins list tenants");
    assert_eq!(status.code(), Code::PermissionDenied);

    let manager = token(tenant_id, &[Role::AccountManager]);
    app.create_account(&manager, account("M1", "Managed")).await.expect("manager creates");
}

#[tokio::test]
async fn an_account_keeps_exactly_one_primary_contact() {
    let mut app = spawn().await;
    let (_, admin) = app.tenant_admin().await;
    let owner =
        app.create_account(&admin, account("C1", "Contacts Co")).await.expect("account").account.expect("account");

    let add = |first_name: &str, is_primary: bool| CreateContactRequest {
        account_id: owner.id.clone(),
        contact: Some(Contact {
            first_name: first_name.to_owned(),
            email: format!("{}@contacts.example", first_name.to_lowercase()),
            roles: vec!["billing".to_owned()],
            is_primary,
            ..Contact::default()
        }),
        request_id: String::new(),
    };
    let ada = app.accounts.create_contact(authorized(add("Ada", false), &admin)).await.expect("ada").into_inner();
    let ada = ada.contact.expect("contact");
    assert!(ada.is_primary, "the first contact is primary");
    let bob = app.accounts.create_contact(authorized(add("Bob", true), &admin)).await.expect("bob").into_inner();
    let bob = bob.contact.expect("contact");
    assert!(bob.is_primary);

    let primaries = |contacts: &[Contact]| -> Vec<String> {
        contacts.iter().filter(|contact| contact.is_primary).map(|contact| contact.first_name.clone()).collect()
    };
    let list = ListContactsRequest { account_id: owner.id.clone(), ..ListContactsRequest::default() };
    let listed = app.accounts.list_contacts(authorized(list.clone(), &admin)).await.expect("list").into_inner();
    assert_eq!(primaries(&listed.contacts), ["Bob"]);

    let demote = UpdateContactRequest {
        contact: Some(Contact { id: bob.id.clone(), is_primary: false, ..Contact::default() }),
        update_mask: mask(&["is_primary"]),
        request_id: String::new(),
    };
    let status = app.accounts.update_contact(authorized(demote, &admin)).await.expect_err("keep one primary");
    assert_eq!(reason(&status), "PRIMARY_CONTACT_REQUIRED");

    let delete = DeleteContactRequest { id: bob.id.clone(), request_id: String::new() };
    app.accounts.delete_contact(authorized(delete, &admin)).await.expect("deleted");
    let listed = app.accounts.list_contacts(authorized(list, &admin)).await.expect("list").into_inner();
    assert_eq!(primaries(&listed.contacts), ["Ada"], "the oldest remaining contact is promoted");

    let bad = CreateContactRequest {
        account_id: owner.id.clone(),
        contact: Some(Contact { email: "bad".to_owned(), ..Contact::default() }),
        request_id: String::new(),
    };
    let status = app.accounts.create_contact(authorized(bad, &admin)).await.expect_err("bad contact");
    assert_eq!(violated_fields(&status), ["contact.first_name", "contact.email"]);
}

#[tokio::test]
async fn addresses_are_typed_validated_and_have_one_primary() {
    let mut app = spawn().await;
    let (_, admin) = app.tenant_admin().await;
    let owner =
        app.create_account(&admin, account("A1", "Addresses Co")).await.expect("account").account.expect("account");
    let address = |address_type: AddressType, country: &str| Address {
        r#type: address_type as i32,
        lines: vec!["1 George St".to_owned()],
        city: "Sydney".to_owned(),
        region: if country == "AU" { "NSW" } else { "" }.to_owned(),
        postal_code: "2000".to_owned(),
        country_code: country.to_owned(),
        ..Address::default()
    };
    let create = |address: Address| CreateAddressRequest {
        account_id: owner.id.clone(),
        address: Some(address),
        request_id: String::new(),
    };

    let billing = app
        .accounts
        .create_address(authorized(create(address(AddressType::Billing, "AU")), &admin))
        .await
        .expect("billing")
        .into_inner()
        .address
        .expect("address");
    assert!(billing.is_primary);

    let status = app
        .accounts
        .create_address(authorized(create(address(AddressType::Unspecified, "ZZ")), &admin))
        .await
        .expect_err("bad address");
    assert_eq!(violated_fields(&status), ["address.type", "address.country_code"]);

    let foreign_contact = Address { contact_id: Uuid::now_v7().to_string(), ..address(AddressType::Delivery, "AU") };
    let status =
        app.accounts.create_address(authorized(create(foreign_contact), &admin)).await.expect_err("unknown contact");
    assert_eq!(violated_fields(&status), ["address.contact_id"]);

    let delivery = app
        .accounts
        .create_address(authorized(
            create(Address { is_primary: true, ..address(AddressType::Delivery, "NZ") }),
            &admin,
        ))
        .await
        .expect("delivery")
        .into_inner()
        .address
        .expect("address");
    assert!(delivery.is_primary);

    let listed = app
        .accounts
        .list_addresses(authorized(
            ListAddressesRequest { account_id: owner.id.clone(), ..ListAddressesRequest::default() },
            &admin,
        ))
        .await
        .expect("list")
        .into_inner();
    let primary: Vec<&str> = listed
        .addresses
        .iter()
        .filter(|address| address.is_primary)
        .map(|address| address.country_code.as_str())
        .collect();
    assert_eq!(primary, ["NZ"]);

    let change = UpdateAddressRequest {
        address: Some(Address {
            id: billing.id.clone(),
            city: "Melbourne".to_owned(),
            region: "VIC".to_owned(),
            postal_code: "3000".to_owned(),
            ..Address::default()
        }),
        update_mask: mask(&["city", "region", "postal_code"]),
        request_id: String::new(),
    };
    let changed = app
        .accounts
        .update_address(authorized(change, &admin))
        .await
        .expect("updated")
        .into_inner()
        .address
        .expect("address");
    assert_eq!((changed.city.as_str(), changed.lines.len()), ("Melbourne", 1));
}

#[tokio::test]
async fn tenants_are_created_by_platform_admins_and_read_by_their_own_users() {
    let mut app = spawn().await;
    let status = app
        .tenants
        .create_tenant(authorized(
            CreateTenantRequest {
                tenant: Some(Tenant { name: String::new(), default_currency: "XYZ".to_owned(), ..Tenant::default() }),
                request_id: String::new(),
            },
            &platform_admin_token(),
        ))
        .await
        .expect_err("bad tenant");
    assert_eq!(violated_fields(&status), ["tenant.name", "tenant.default_currency"]);

    let (tenant_id, admin) = app.tenant_admin().await;
    let own = app
        .tenants
        .get_tenant(authorized(GetTenantRequest { id: tenant_id.to_string() }, &admin))
        .await
        .expect("own tenant")
        .into_inner();
    assert_eq!(own.tenant.expect("tenant").default_currency, "AUD");

    let other = app.create_tenant("Other", "EUR").await;
    let status = app
        .tenants
        .get_tenant(authorized(GetTenantRequest { id: other.id.clone() }, &admin))
        .await
        .expect_err("another tenant");
    assert_eq!(status.code(), Code::NotFound);

    let listed = app
        .tenants
        .list_tenants(authorized(ListTenantsRequest::default(), &platform_admin_token()))
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.tenants.len(), 2);
}

#[tokio::test]
async fn health_says_serving_and_reflection_lists_the_services() {
    let app = spawn().await;
    let channel = bss_testkit::channel(app.address).await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    for service in ["", "bss.accounts.v1.AccountService", "liveness"] {
        let status = health
            .check(tonic_health::pb::HealthCheckRequest { service: service.to_owned() })
            .await
            .expect("health answers without a token")
            .into_inner()
            .status;
        assert_eq!(status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32, "{service:?}");
    }

    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;
    let mut reflection = ServerReflectionClient::new(channel);
    let request = tonic_reflection::pb::v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .expect("reflection v1alpha answers")
        .into_inner();
    let response = responses.message().await.expect("message").expect("a response");
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("expected a service list");
    };
    let names: Vec<String> = list.service.into_iter().map(|service| service.name).collect();
    assert!(names.contains(&"bss.accounts.v1.AccountService".to_owned()), "{names:?}");
    assert!(names.contains(&"bss.accounts.v1.TenantService".to_owned()), "{names:?}");
}

#[tokio::test]
async fn two_people_never_overwrite_each_others_contact_or_address_unseen() {
    let mut app = spawn().await;
    let (_, admin) = app.tenant_admin().await;
    let owner = app.create_account(&admin, account("E1", "Etag Co")).await.expect("account").account.expect("account");
    let contact = Contact { first_name: "Ada".to_owned(), ..Contact::default() };
    let add = CreateContactRequest { account_id: owner.id.clone(), contact: Some(contact), request_id: String::new() };
    let read = app.accounts.create_contact(authorized(add, &admin)).await.expect("contact").into_inner().contact;
    let read = read.expect("contact");
    let rename = |first_name: &str, etag: &str| UpdateContactRequest {
        contact: Some(Contact {
            id: read.id.clone(),
            first_name: first_name.to_owned(),
            etag: etag.to_owned(),
            ..Contact::default()
        }),
        update_mask: mask(&["first_name"]),
        request_id: String::new(),
    };
    // Two people read the contact; the first edit wins, the second is told.
    let first = app.accounts.update_contact(authorized(rename("Ada Lovelace", &read.etag), &admin)).await;
    let first = first.expect("the first edit").into_inner().contact.expect("contact");
    assert_ne!(first.etag, read.etag, "an edit moves the etag");
    let second = app.accounts.update_contact(authorized(rename("Ada Byron", &read.etag), &admin)).await;
    let refused = second.expect_err("made against what the first edit replaced");
    assert_eq!((refused.code(), reason(&refused).as_str()), (Code::Aborted, "ETAG_MISMATCH"));
    let unconditional = app.accounts.update_contact(authorized(rename("Ada Byron", ""), &admin)).await;
    assert_eq!(unconditional.expect("no etag: unconditional").into_inner().contact.expect("c").first_name, "Ada Byron");
    let listed = ListContactsRequest { account_id: owner.id.clone(), ..ListContactsRequest::default() };
    let listed = app.accounts.list_contacts(authorized(listed, &admin)).await.expect("list").into_inner().contacts;
    assert_eq!(listed[0].first_name, "Ada Byron", "the refused edit left nothing");

    let address = Address {
        r#type: AddressType::Billing as i32,
        lines: vec!["1 George St".to_owned()],
        city: "Sydney".to_owned(),
        region: "NSW".to_owned(),
        postal_code: "2000".to_owned(),
        country_code: "AU".to_owned(),
        ..Address::default()
    };
    let add = CreateAddressRequest { account_id: owner.id.clone(), address: Some(address), request_id: String::new() };
    let read = app.accounts.create_address(authorized(add, &admin)).await.expect("address").into_inner().address;
    let read = read.expect("address");
    let move_to = |city: &str, etag: &str| UpdateAddressRequest {
        address: Some(Address {
            id: read.id.clone(),
            city: city.to_owned(),
            etag: etag.to_owned(),
            ..Address::default()
        }),
        update_mask: mask(&["city"]),
        request_id: String::new(),
    };
    let first = app.accounts.update_address(authorized(move_to("Newcastle", &read.etag), &admin)).await;
    assert_eq!(first.expect("the first edit").into_inner().address.expect("address").city, "Newcastle");
    let second = app.accounts.update_address(authorized(move_to("Wollongong", &read.etag), &admin)).await;
    let refused = second.expect_err("stale");
    assert_eq!((refused.code(), reason(&refused).as_str()), (Code::Aborted, "ETAG_MISMATCH"));
}
