//! Address validation (built-in and external), custom fields, and managed
//! copies, over gRPC against Postgres.

use std::net::SocketAddr;

use bss_platform::auth::Role;
use bss_proto::accounts::*;
use bss_proto::provider as provider_wire;
use bss_proto::provider::address_validation_provider_service_server::{
    AddressValidationProviderService, AddressValidationProviderServiceServer,
};
use bss_testapp::accounts::*;
use bss_testkit::{authorized, token};
use tonic::Code;
use uuid::Uuid;

fn address(country: &str, city: &str, region: &str, postal_code: &str) -> Address {
    Address {
        r#type: AddressType::Delivery as i32,
        lines: vec!["10 Downing St".to_owned()],
        city: city.to_owned(),
        region: region.to_owned(),
        postal_code: postal_code.to_owned(),
        country_code: country.to_owned(),
        ..Address::default()
    }
}

fn status_of(validation: &Option<Box<AddressValidation>>) -> AddressValidationStatus {
    AddressValidationStatus::try_from(validation.as_ref().expect("validation").status).expect("status")
}

#[tokio::test]
async fn addresses_are_validated_when_new_or_changed_and_may_be_overridden() {
    let mut app = spawn().await;
    let (_, admin) = app.tenant_admin().await;
    let owner =
        app.create_account(&admin, account("V1", "Validated Co")).await.expect("account").account.expect("account");
    let create = |address: Address| CreateAddressRequest {
        account_id: owner.id.clone(),
        address: Some(address),
        request_id: String::new(),
    };

    let check = |address: Address| ValidateAddressRequest { address: Some(address) };
    let checked = app
        .accounts
        .validate_address(authorized(check(address("GB", "London", "", "sw1a2aa")), &admin))
        .await
        .expect("check")
        .into_inner();
    let validation = checked.validation.expect("validation");
    assert_eq!(validation.status, AddressValidationStatus::Corrected as i32);
    assert_eq!(validation.suggestion.expect("suggestion").postal_code, "SW1A 2AA");
    let listed = app
        .accounts
        .list_addresses(authorized(ListAddressesRequest { account_id: owner.id.clone(), ..Default::default() }, &admin))
        .await;
    assert!(listed.expect("list").into_inner().addresses.is_empty(), "checking saves nothing");

    let corrected = app
        .accounts
        .create_address(authorized(create(address("GB", "London", "", "sw1a2aa")), &admin))
        .await
        .expect("kept")
        .into_inner();
    let corrected = corrected.address.expect("address");
    assert_eq!(status_of(&corrected.validation), AddressValidationStatus::Corrected);
    assert_eq!(corrected.postal_code, "sw1a2aa", "stored as given, with the suggestion beside it");

    let status = app
        .accounts
        .create_address(authorized(create(address("US", "Springfield", "ZZ", "123")), &admin))
        .await
        .expect_err("invalid");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(reason(&status), "ADDRESS_INVALID");
    assert_eq!(violated_fields(&status), ["address.postal_code", "address.region"]);

    let overridden = Address { override_validation: true, ..address("US", "Springfield", "ZZ", "123") };
    let kept = app
        .accounts
        .create_address(authorized(create(overridden), &admin))
        .await
        .expect("overridden")
        .into_inner()
        .address
        .expect("address");
    let validation = kept.validation.as_ref().expect("validation");
    assert_eq!(validation.status, AddressValidationStatus::Invalid as i32);
    assert!(validation.overridden);

    // Changing only the primary flag does not run the validator again.
    let primary = UpdateAddressRequest {
        address: Some(Address { id: kept.id.clone(), is_primary: true, ..Address::default() }),
        update_mask: mask(&["is_primary"]),
        request_id: String::new(),
    };
    let unchanged = app
        .accounts
        .update_address(authorized(primary, &admin))
        .await
        .expect("primary")
        .into_inner()
        .address
        .expect("address");
    assert!(unchanged.validation.expect("validation").overridden, "the earlier result stays");

    // Changing the address runs it.
    let fixed = UpdateAddressRequest {
        address: Some(Address {
            id: kept.id.clone(),
            region: "IL".to_owned(),
            postal_code: "62701".to_owned(),
            ..Address::default()
        }),
        update_mask: mask(&["region", "postal_code"]),
        request_id: String::new(),
    };
    let fixed = app
        .accounts
        .update_address(authorized(fixed, &admin))
        .await
        .expect("fixed")
        .into_inner()
        .address
        .expect("address");
    assert_eq!(status_of(&fixed.validation), AddressValidationStatus::Valid);
}

/// A third-party validator: accepts only Australian addresses in Sydney.
#[derive(Default)]
struct SydneyOnly;

#[tonic::async_trait]
impl AddressValidationProviderService for SydneyOnly {
    async fn check_address(
        &self,
        request: tonic::Request<provider_wire::CheckAddressRequest>,
    ) -> Result<tonic::Response<provider_wire::CheckAddressResponse>, tonic::Status> {
        let address = request.into_inner().address.unwrap_or_default();
        let sydney = address.city.eq_ignore_ascii_case("sydney");
        let verdict = if sydney { provider_wire::CheckVerdict::Valid } else { provider_wire::CheckVerdict::Invalid };
        let problems = if sydney {
            Vec::new()
        } else {
            vec![bss_proto::types::Warning {
                reason: "NOT_SYDNEY".to_owned(),
                message: "we only deliver to Sydney".to_owned(),
                field: "city".to_owned(),
            }]
        };
        Ok(tonic::Response::new(provider_wire::CheckAddressResponse {
            verdict: verdict as i32,
            suggestion: None,
            problems,
            provider: "sydney-only".to_owned(),
        }))
    }
}

#[tokio::test]
async fn an_external_validator_can_be_configured() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let provider: SocketAddr = listener.local_addr().expect("address");
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(AddressValidationProviderServiceServer::new(SydneyOnly))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let mut app = spawn_with(|config| config.address_validator_url = Some(format!("http://{provider}"))).await;
    let (_, admin) = app.tenant_admin().await;
    let check = |city: &str| ValidateAddressRequest { address: Some(address("AU", city, "NSW", "2000")) };

    let sydney = app
        .accounts
        .validate_address(authorized(check("Sydney"), &admin))
        .await
        .expect("check")
        .into_inner()
        .validation
        .expect("v");
    assert_eq!((sydney.status, sydney.validator.as_str()), (AddressValidationStatus::Valid as i32, "sydney-only"));
    let perth = app
        .accounts
        .validate_address(authorized(check("Perth"), &admin))
        .await
        .expect("check")
        .into_inner()
        .validation
        .expect("v");
    assert_eq!(perth.status, AddressValidationStatus::Invalid as i32);
    assert_eq!(perth.problems[0].field, "address.city");
}

#[tokio::test]
async fn custom_field_values_must_fit_their_definitions() {
    let mut app = spawn().await;
    let (tenant_id, admin) = app.tenant_admin().await;
    let define = |key: &str, field_type: CustomFieldType, choices: &[&str]| CreateCustomFieldDefinitionRequest {
        definition: Some(CustomFieldDefinition {
            key: key.to_owned(),
            label: key.to_owned(),
            r#type: field_type as i32,
            choices: choices.iter().map(|choice| (*choice).to_owned()).collect(),
        }),
        request_id: String::new(),
    };
    for request in [
        define("segment", CustomFieldType::Choice, &["smb", "enterprise"]),
        define("seats", CustomFieldType::Number, &[]),
        define("renewal", CustomFieldType::Date, &[]),
        define("vip", CustomFieldType::Boolean, &[]),
    ] {
        app.custom_fields.create_custom_field_definition(authorized(request, &admin)).await.expect("defined");
    }
    let status = app
        .custom_fields
        .create_custom_field_definition(authorized(define("vip", CustomFieldType::Text, &[]), &admin))
        .await
        .expect_err("twice");
    assert_eq!(reason(&status), "CUSTOM_FIELD_EXISTS");
    let manager = token(tenant_id, &[Role::AccountManager]);
    let status = app
        .custom_fields
        .create_custom_field_definition(authorized(define("x", CustomFieldType::Text, &[]), &manager))
        .await
        .expect_err("admins only");
    assert_eq!(status.code(), Code::PermissionDenied);

    let values =
        |pairs: &[(&str, &str)]| pairs.iter().map(|(key, value)| ((*key).to_owned(), (*value).to_owned())).collect();
    let good = Account {
        custom_fields: values(&[("segment", "smb"), ("seats", "25"), ("renewal", "2028-02-29"), ("vip", "true")]),
        ..account("CF1", "Fields Co")
    };
    let created = app.create_account(&admin, good).await.expect("fits").account.expect("account");
    assert_eq!(created.custom_fields.len(), 4);

    let bad = Account {
        custom_fields: values(&[
            ("segment", "galactic"),
            ("seats", "many"),
            ("renewal", "2027-02-29"),
            ("colour", "red"),
        ]),
        ..account("CF2", "Bad Fields Co")
    };
    let status = app.create_account(&admin, bad).await.expect_err("does not fit");
    assert_eq!(
        violated_fields(&status),
        [
            "account.custom_fields.colour",
            "account.custom_fields.renewal",
            "account.custom_fields.seats",
            "account.custom_fields.segment"
        ]
    );

    let delete = DeleteCustomFieldDefinitionRequest { key: "segment".to_owned(), request_id: String::new() };
    let status =
        app.custom_fields.delete_custom_field_definition(authorized(delete, &admin)).await.expect_err("in use");
    assert_eq!(reason(&status), "CUSTOM_FIELD_IN_USE");
    let listed = app
        .custom_fields
        .list_custom_field_definitions(authorized(ListCustomFieldDefinitionsRequest::default(), &admin))
        .await
        .expect("list");
    let keys: Vec<String> = listed.into_inner().definitions.into_iter().map(|definition| definition.key).collect();
    assert_eq!(keys, ["renewal", "seats", "segment", "vip"]);
    let client = app.custom_fields.clone();
    let paged = bss_testkit::every_page(3, |page_token| {
        let (mut client, admin) = (client.clone(), admin.clone());
        async move {
            let list = ListCustomFieldDefinitionsRequest { page_size: 3, page_token };
            let page = client.list_custom_field_definitions(authorized(list, &admin)).await.expect("page");
            let page = page.into_inner();
            (page.definitions.into_iter().map(|definition| definition.key).collect::<Vec<_>>(), page.next_page_token)
        }
    })
    .await;
    assert_eq!(paged, keys, "page by page, each once");
}

#[tokio::test]
async fn a_managed_copy_keeps_its_locked_fields_and_reserved_actions_for_the_sync() {
    let mut app = spawn().await;
    let (tenant_id, admin) = app.tenant_admin().await;
    let sync = token(tenant_id, &[Role::Integration]);
    let reseller = app
        .create_account(&admin, Account { kind: AccountKind::Reseller as i32, ..account("TR", "Acme Telecom") })
        .await
        .expect("reseller");
    let reseller = reseller.account.expect("account");
    let managed_by = ManagedBy {
        tenant_reseller_account_id: reseller.id.clone(),
        reseller_name: "Acme Telecom".to_owned(),
        locked_fields: ["name", "code", "email", "billing_address", "sync_options"]
            .iter()
            .map(|field| (*field).to_owned())
            .collect(),
    };
    let copy = Account {
        managed_by: Some(managed_by.clone()),
        email: "c@copy.example".to_owned(),
        ..account("COPY-1", "Copied Customer")
    };

    let status = app.create_account(&admin, copy.clone()).await.expect_err("only the sync makes copies");
    assert_eq!(status.code(), Code::PermissionDenied);
    let copy = app.create_account(&sync, copy).await.expect("sync creates").account.expect("account");
    assert_eq!(copy.ribbon_text, "This account is managed by Acme Telecom Tenant Reseller");

    let update = |account: Account, paths: &[&str]| UpdateAccountRequest {
        account: Some(account),
        update_mask: mask(paths),
        request_id: String::new(),
    };
    let rename = Account { id: copy.id.clone(), name: "Renamed".to_owned(), ..Account::default() };
    let status =
        app.accounts.update_account(authorized(update(rename.clone(), &["name"]), &admin)).await.expect_err("locked");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason(&status), "FIELD_LOCKED");
    app.accounts.update_account(authorized(update(rename, &["name"]), &sync)).await.expect("the sync may");

    let unlocked = Account {
        id: copy.id.clone(),
        responsible_user: "dana".to_owned(),
        territory: "West".to_owned(),
        ..Account::default()
    };
    let edited = app
        .accounts
        .update_account(authorized(update(unlocked, &["responsible_user", "territory"]), &admin))
        .await
        .expect("unlocked fields");
    assert_eq!(edited.into_inner().account.expect("account").responsible_user, "dana");

    let reserved: Vec<(&str, tonic::Status)> = vec![
        (
            "suspend",
            app.accounts
                .suspend_account(authorized(
                    SuspendAccountRequest { id: copy.id.clone(), reason: "x".to_owned(), request_id: String::new() },
                    &admin,
                ))
                .await
                .expect_err("suspend"),
        ),
        (
            "delete",
            app.accounts
                .delete_account(authorized(DeleteAccountRequest { id: copy.id.clone(), ..Default::default() }, &admin))
                .await
                .expect_err("delete"),
        ),
        (
            "synchronize",
            app.accounts
                .synchronize_account(authorized(
                    SynchronizeAccountRequest {
                        id: copy.id.clone(),
                        provisioning_system: "pbx".to_owned(),
                        request_id: String::new(),
                    },
                    &admin,
                ))
                .await
                .expect_err("sync"),
        ),
    ];
    for (action, status) in reserved {
        assert_eq!(reason(&status), "MANAGED_BY_RESELLER", "{action}");
    }

    let contact = CreateContactRequest {
        account_id: copy.id.clone(),
        contact: Some(Contact { first_name: "Nia".to_owned(), ..Contact::default() }),
        request_id: String::new(),
    };
    app.accounts.create_contact(authorized(contact, &admin)).await.expect("contacts may be added");
    let billing = Address { r#type: AddressType::Billing as i32, ..address("AU", "Sydney", "NSW", "2000") };
    let billing_request =
        CreateAddressRequest { account_id: copy.id.clone(), address: Some(billing), request_id: String::new() };
    let status = app
        .accounts
        .create_address(authorized(billing_request.clone(), &admin))
        .await
        .expect_err("billing address locked");
    assert_eq!(reason(&status), "FIELD_LOCKED");
    app.accounts.create_address(authorized(billing_request, &sync)).await.expect("the sync sets it");

    let suspend = SuspendAccountRequest {
        id: copy.id.clone(),
        reason: "Account's Status Changed to Suspended due to changes on Acme Telecom".to_owned(),
        request_id: String::new(),
    };
    app.accounts.suspend_account(authorized(suspend, &sync)).await.expect("the sync suspends");
    let history = ListAccountHistoryRequest { account_id: copy.id.clone(), ..Default::default() };
    let lines =
        app.accounts.list_account_history(authorized(history, &admin)).await.expect("history").into_inner().entries;
    assert_eq!(lines[0].reason, "Account's Status Changed to Suspended due to changes on Acme Telecom");

    let unmanage = Account { id: copy.id.clone(), managed_by: None, ..Account::default() };
    let status = app
        .accounts
        .update_account(authorized(update(unmanage, &["managed_by"]), &admin))
        .await
        .expect_err("only the sync");
    assert_eq!(status.code(), Code::PermissionDenied);
    let _ = Uuid::nil();
}

/// Each (reason, subject) a FAILED_PRECONDITION names.
fn refused_features(status: &tonic::Status) -> Vec<(String, String)> {
    use tonic_types::StatusExt;
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    let failure = status.get_details_precondition_failure().expect("PreconditionFailure");
    failure.violations.into_iter().map(|violation| (violation.r#type, violation.subject)).collect()
}

fn refused(features: &[&str]) -> Vec<(String, String)> {
    features.iter().map(|feature| ("RESIDENTIAL_FEATURE".to_owned(), (*feature).to_owned())).collect()
}

#[tokio::test]
async fn a_residential_account_has_only_the_features_its_tenant_allows() {
    use bss_proto::types::PaymentType;
    let mut app = spawn().await;
    let (tenant_id, admin) = app.tenant_admin().await;
    let tenant = bss_testapp::read_tenant(&app.tenants, &admin, tenant_id).await;
    let defaults = tenant.residential_features.expect("features");
    assert_eq!((defaults.sub_accounts, defaults.groups, defaults.contracts), (false, false, false));
    assert_eq!(defaults.payment_types, [PaymentType::CreditCard as i32, PaymentType::Paypal as i32]);

    let residential = |code: &str, payment_types: &[PaymentType]| Account {
        profile: AccountProfile::Residential as i32,
        payment_types: payment_types.iter().map(|kind| *kind as i32).collect(),
        ..account(code, &format!("Home {code}"))
    };
    // By default: card or PayPal only, nothing else created.
    let before = app.count_accounts().await;
    let status = app.create_account(&admin, residential("R0", &[PaymentType::OnAccount])).await.expect_err("AC");
    assert_eq!(refused_features(&status), refused(&["payment_types"]));
    assert_eq!(app.count_accounts().await, before, "nothing half-written");
    let home = app.create_account(&admin, residential("R1", &[PaymentType::CreditCard])).await.expect("card");
    let home = home.account.expect("account");
    let business = app.create_account(&admin, account("B1", "Business")).await.expect("normal");
    let business = business.account.expect("account");

    // No sub-accounts either way, no group.
    let child = Account { parent_account_id: home.id.clone(), ..account("C1", "Child") };
    let status = app.create_account(&admin, child).await.expect_err("under a residential account");
    assert_eq!(refused_features(&status), refused(&["sub_accounts"]));
    let under = UpdateAccountRequest {
        account: Some(Account { parent_account_id: business.id.clone(), ..home.clone() }),
        update_mask: mask(&["parent_account_id"]),
        ..UpdateAccountRequest::default()
    };
    let status = app.accounts.update_account(authorized(under, &admin)).await.expect_err("a parent");
    assert_eq!(refused_features(&status), refused(&["sub_accounts"]));
    let join = AddGroupMemberRequest {
        parent_account_id: business.id.clone(),
        member_account_id: home.id.clone(),
        funding: Some(Funding { scope: FundingScope::Full as i32, ..Funding::default() }),
        request_id: String::new(),
    };
    let status = app.groups.add_group_member(authorized(join.clone(), &admin)).await.expect_err("a group");
    assert_eq!(refused_features(&status), refused(&["groups"]));
    // An import row is answered the same way, and the others go in.
    let rows = vec![
        ImportRow {
            line: 1,
            account: Some(Account { external_key: "H-2".to_owned(), ..residential("R2", &[]) }),
            payment_type_codes: "AC".to_owned(),
            create_user: false,
        },
        ImportRow {
            line: 2,
            account: Some(Account { external_key: "H-3".to_owned(), ..residential("R3", &[]) }),
            payment_type_codes: "PP".to_owned(),
            create_user: false,
        },
    ];
    let answer = app.import_rows(&admin, rows).await;
    assert_eq!((answer.created, answer.rejected), (1, 1));
    let problem = &answer.results[0].problems[0];
    assert_eq!((problem.reason.as_str(), problem.field.as_str()), ("RESIDENTIAL_FEATURE", "payment_types"));

    // A tenant that allows more: groups and on-account payment.
    let set = |features: ResidentialFeatures| SetResidentialFeaturesRequest {
        features: Some(features),
        request_id: String::new(),
    };
    let wider = ResidentialFeatures {
        groups: true,
        payment_types: vec![PaymentType::CreditCard as i32, PaymentType::Paypal as i32, PaymentType::OnAccount as i32],
        ..defaults.clone()
    };
    let tenant = app.tenants.set_residential_features(authorized(set(wider.clone()), &admin)).await.expect("wider");
    let features = tenant.into_inner().tenant.expect("tenant").residential_features.expect("features");
    assert!(features.groups && !features.sub_accounts);
    app.groups.add_group_member(authorized(join, &admin)).await.expect("groups allowed now");
    let on_account = UpdateAccountRequest {
        account: Some(Account { payment_types: vec![PaymentType::OnAccount as i32], ..home.clone() }),
        update_mask: mask(&["payment_types"]),
        ..UpdateAccountRequest::default()
    };
    app.accounts.update_account(authorized(on_account, &admin)).await.expect("on account allowed now");

    // Taking back what accounts have (R1 is in a group and pays on
    // account) is refused, each feature named.
    let status =
        app.tenants.set_residential_features(authorized(set(defaults.clone()), &admin)).await.expect_err("in use");
    let in_use: Vec<(String, String)> = ["groups", "payment_types"]
        .iter()
        .map(|feature| ("RESIDENTIAL_FEATURE_IN_USE".to_owned(), (*feature).to_owned()))
        .collect();
    assert_eq!(refused_features(&status), in_use);
    let empty = ResidentialFeatures { payment_types: vec![], ..wider };
    let status = app.tenants.set_residential_features(authorized(set(empty), &admin)).await.expect_err("empty");
    assert_eq!(status.code(), Code::InvalidArgument);
    // Only a tenant admin sets it.
    let manager = token(tenant_id, &[Role::AccountManager]);
    let status = app.tenants.set_residential_features(authorized(set(defaults), &manager)).await.expect_err("manager");
    assert_eq!(status.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn an_accounts_currency_follows_its_tenants_multi_currency_setting_and_its_country() {
    let mut app = spawn().await;
    let tenant = app.create_tenant("Single", "AUD").await;
    assert!(!tenant.multi_currency, "a new tenant is single-currency, as the documents have it");
    let admin = token(tenant.id.parse().expect("tenant id"), &[Role::TenantAdmin]);
    let in_currency = |code: &str, currency: &str, country: &str| Account {
        currency_code: currency.to_owned(),
        country_code: country.to_owned(),
        ..account(code, &format!("Currency {code}"))
    };
    // Single-currency: every account in AUD; another is refused.
    let status = app.create_account(&admin, in_currency("U1", "USD", "")).await.expect_err("USD");
    assert_eq!(refused_features(&status), [("MULTI_CURRENCY_OFF".to_owned(), "account".to_owned())]);
    let nz = app.create_account(&admin, in_currency("N1", "", "NZ")).await.expect("single").account.expect("account");
    assert_eq!((nz.currency_code.as_str(), nz.country_code.as_str()), ("AUD", "NZ"));

    // Multi-currency with a country map: a New Zealander takes NZD unless it
    // asks; an account of a country without a currency takes the default.
    let settings = |multi_currency: bool| SetCurrencySettingsRequest {
        multi_currency,
        currency_by_country: [("NZ".to_owned(), "NZD".to_owned())].into(),
        request_id: String::new(),
    };
    let changed = app.tenants.set_currency_settings(authorized(settings(true), &admin)).await.expect("multi");
    let changed = changed.into_inner().tenant.expect("tenant");
    assert!(changed.multi_currency);
    assert_eq!(changed.currency_by_country.get("NZ").map(String::as_str), Some("NZD"));
    let kiwi = app.create_account(&admin, in_currency("N2", "", "NZ")).await.expect("NZ").account.expect("account");
    assert_eq!(kiwi.currency_code, "NZD");
    let asked = app.create_account(&admin, in_currency("N3", "USD", "NZ")).await.expect("asked");
    assert_eq!(asked.account.expect("account").currency_code, "USD");
    let french = app.create_account(&admin, in_currency("F1", "", "FR")).await.expect("FR").account.expect("account");
    assert_eq!(french.currency_code, "AUD");
    let row = ImportRow {
        line: 1,
        account: Some(Account { external_key: "K-1".to_owned(), ..in_currency("N4", "", "NZ") }),
        payment_type_codes: String::new(),
        create_user: false,
    };
    let answer = app.import_rows(&admin, vec![row]).await;
    let imported = app.get_account(&admin, &answer.results[0].account_id).await.expect("imported");
    assert_eq!(imported.currency_code, "NZD", "an import takes the country's currency too");

    // Back to single-currency only while no account is in another currency.
    let status =
        app.tenants.set_currency_settings(authorized(settings(false), &admin)).await.expect_err("accounts in NZD");
    assert_eq!(refused_features(&status), [("MULTI_CURRENCY_IN_USE".to_owned(), "account".to_owned())]);
    let bad = SetCurrencySettingsRequest {
        currency_by_country: [("Nowhere".to_owned(), "NZD".to_owned())].into(),
        ..settings(true)
    };
    let status = app.tenants.set_currency_settings(authorized(bad, &admin)).await.expect_err("bad country");
    assert_eq!(status.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn an_import_creates_a_user_for_a_new_account_when_asked_and_marks_when_it_last_changed_it() {
    let mut app = spawn().await;
    let (_, admin) = app.tenant_admin().await;
    let row = |line: i64, key: &str, code: &str, email: &str, create_user: bool| ImportRow {
        line,
        account: Some(Account {
            external_key: key.to_owned(),
            email: email.to_owned(),
            contact_name: "Jo Buyer".to_owned(),
            ..account(code, &format!("Imported {code}"))
        }),
        payment_type_codes: String::new(),
        create_user,
    };
    let answer = app
        .import_rows(
            &admin,
            vec![
                row(1, "K-1", "U1", "jo@buyer.example", true),
                row(2, "K-2", "U2", "", true),
                row(3, "K-3", "U3", "no-user@buyer.example", false),
            ],
        )
        .await;
    assert_eq!((answer.created, answer.rejected), (2, 1));
    assert_eq!(answer.results[1].problems[0].field, "account.email", "a user needs the account's email");
    let first = answer.results[0].account_id.clone();
    let third = answer.results[2].account_id.clone();

    let with_user = app.get_account(&admin, &first).await.expect("account");
    assert!(with_user.user_created_for_account);
    let imported_at = with_user.last_import_time.expect("imported");
    let users = app
        .users
        .list_users(authorized(ListUsersRequest { account_id: first.clone(), ..Default::default() }, &admin))
        .await
        .expect("users")
        .into_inner()
        .users;
    let users: Vec<(&str, &str)> = users.iter().map(|user| (user.email.as_str(), user.display_name.as_str())).collect();
    assert_eq!(users, [("jo@buyer.example", "Jo Buyer")]);
    let without = app.get_account(&admin, &third).await.expect("account");
    assert!(!without.user_created_for_account);

    // A change made through the API leaves "Last Updated"; an import that
    // changes the account moves it; one that changes nothing leaves it.
    let renamed = UpdateAccountRequest {
        account: Some(Account { name: "Renamed by hand".to_owned(), ..with_user.clone() }),
        update_mask: mask(&["name"]),
        ..UpdateAccountRequest::default()
    };
    let by_hand = app.accounts.update_account(authorized(renamed, &admin)).await.expect("renamed");
    let by_hand = by_hand.into_inner().account.expect("account");
    assert_eq!(by_hand.last_import_time, Some(imported_at));
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let again = app.import_rows(&admin, vec![row(1, "K-1", "U1", "jo@buyer.example", true)]).await;
    assert_eq!(again.updated, 1);
    let reimported = app.get_account(&admin, &first).await.expect("account");
    let later = reimported.last_import_time.expect("imported");
    assert!((later.seconds, later.nanos) > (imported_at.seconds, imported_at.nanos), "moved by the import");
    assert_eq!(reimported.name, "Imported U1");
    let unchanged = app.import_rows(&admin, vec![row(1, "K-1", "U1", "jo@buyer.example", true)]).await;
    assert_eq!(unchanged.updated, 1);
    let same = app.get_account(&admin, &first).await.expect("account");
    assert_eq!(same.last_import_time, Some(later), "an import that changes nothing leaves it");
    let users = app
        .users
        .list_users(authorized(ListUsersRequest { account_id: first, ..Default::default() }, &admin))
        .await
        .expect("users")
        .into_inner()
        .users;
    assert_eq!(users.len(), 1, "an update creates no second user");
}

#[tokio::test]
async fn a_tenant_reads_dates_in_the_time_zone_it_sets_and_an_unknown_one_is_refused() {
    let mut app = spawn().await;
    let tenant = app.create_tenant("Zoned", "AUD").await;
    assert_eq!(tenant.time_zone, "UTC", "a new tenant reads dates in UTC");
    let tenant_id: Uuid = tenant.id.parse().expect("tenant id");
    let admin = token(tenant_id, &[Role::TenantAdmin]);

    // Set once per request id: a retry answers as the first time and
    // changes nothing made since; read back as the tenant's own GetTenant says.
    let set = SetTimeZoneRequest { time_zone: "Australia/Sydney".to_owned(), request_id: "tz-1".to_owned() };
    let changed = app.tenants.set_time_zone(authorized(set.clone(), &admin)).await.expect("set");
    assert_eq!(changed.into_inner().tenant.expect("tenant").time_zone, "Australia/Sydney");
    let paris = SetTimeZoneRequest { time_zone: "Europe/Paris".to_owned(), request_id: String::new() };
    app.tenants.set_time_zone(authorized(paris, &admin)).await.expect("set again");
    let again = app.tenants.set_time_zone(authorized(set, &admin)).await.expect("the first request retried");
    assert_eq!(again.into_inner().tenant.expect("tenant").time_zone, "Australia/Sydney", "the first answer");
    let read = app.tenants.get_tenant(authorized(GetTenantRequest { id: tenant.id.clone() }, &admin)).await;
    assert_eq!(read.expect("read").into_inner().tenant.expect("tenant").time_zone, "Europe/Paris", "not set twice");

    // A name the time zone database does not know, or not a name at all.
    for bad in ["Mars/Olympus_Mons", "Europe/Paris; DROP TABLE", "posix/Asia/Tokyo", ""] {
        let set = SetTimeZoneRequest { time_zone: bad.to_owned(), request_id: String::new() };
        let status = app.tenants.set_time_zone(authorized(set, &admin)).await.expect_err(bad);
        assert_eq!(bss_testkit::violated_fields(&status), vec!["time_zone"], "{bad}");
    }
    let read = app.tenants.get_tenant(authorized(GetTenantRequest { id: tenant.id.clone() }, &admin)).await;
    assert_eq!(read.expect("read").into_inner().tenant.expect("tenant").time_zone, "Europe/Paris", "unchanged");

    // Given at creation, checked the same way.
    let zoned = Tenant {
        time_zone: "Europe/Paris".to_owned(),
        ..Tenant { name: "Paris".to_owned(), default_currency: "EUR".to_owned(), ..Tenant::default() }
    };
    assert_eq!(app.create_tenant_with(zoned).await.time_zone, "Europe/Paris");
    let unknown = Tenant {
        time_zone: "Europe/Atlantis".to_owned(),
        name: "Atlantis".to_owned(),
        default_currency: "EUR".to_owned(),
        ..Tenant::default()
    };
    let request = CreateTenantRequest { tenant: Some(unknown), request_id: String::new() };
    let status = app
        .tenants
        .create_tenant(authorized(request, &bss_testkit::platform_admin_token()))
        .await
        .expect_err("unknown");
    assert_eq!(bss_testkit::violated_fields(&status), vec!["tenant.time_zone"]);
}
