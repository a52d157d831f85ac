//! The sync's API called straight (not through the gateway): links checked
//! rule by rule, another distributor's links and copies NOT_FOUND, every
//! list paged, CreateLink idempotent, and copies made from the customers'
//! first paid subscriptions listed page by page.

#![allow(clippy::expect_used)]

use std::time::{Duration, Instant};

use bss_platform::auth::Role;
use bss_proto::accounts::account_service_client::AccountServiceClient;
use bss_proto::accounts::tenant_service_client::TenantServiceClient;
use bss_proto::accounts::{Account, AccountKind, CreateTenantRequest, GetAccountRequest, Tenant};
use bss_proto::billing::subscription_service_client::SubscriptionServiceClient;
use bss_proto::resellersync::reseller_sync_service_client::ResellerSyncServiceClient;
use bss_proto::resellersync::*;
use bss_proto::types::PaymentType;
use bss_testapp::{TestApp, create_account, create_product, ordering_account, set_credit_terms, subscription_request};
use bss_testkit::{authorized, reason, violated_fields};
use tonic::Code;
use tonic::transport::Channel;

/// A reseller tenant under `parent`, with a tenant admin's token.
async fn reseller_tenant(gateway: &Channel, parent: uuid::Uuid, name: &str) -> (String, String) {
    let request = CreateTenantRequest {
        tenant: Some(Tenant {
            name: name.to_owned(),
            default_currency: "EUR".to_owned(),
            parent_tenant_id: parent.to_string(),
            ..Tenant::default()
        }),
        request_id: String::new(),
    };
    let tenant = TenantServiceClient::new(gateway.clone())
        .create_tenant(authorized(request, &bss_testkit::platform_admin_token()))
        .await
        .expect("reseller tenant")
        .into_inner()
        .tenant
        .expect("tenant");
    let admin = bss_testkit::token(tenant.id.parse().expect("id"), &[Role::TenantAdmin]);
    (tenant.id, admin)
}

/// The distributor's account of a reseller.
async fn tenant_reseller(gateway: &Channel, distributor: &str, code: &str) -> String {
    let account =
        Account { kind: AccountKind::Reseller as i32, name: format!("{code} Telecom"), ..ordering_account(code) };
    create_account(gateway, distributor, account).await
}

fn link_request(reseller_tenant: &str, tenant_reseller: &str, request_id: &str) -> CreateLinkRequest {
    CreateLinkRequest {
        link: Some(Link {
            reseller_tenant_id: reseller_tenant.to_owned(),
            tenant_reseller_account_id: tenant_reseller.to_owned(),
            responsible_user: "dana".to_owned(),
            ..Link::default()
        }),
        request_id: request_id.to_owned(),
    }
}

#[tokio::test]
async fn links_are_checked_rule_by_rule_listed_page_by_page_and_made_once() {
    let app = TestApp::start().await;
    let gateway = app.gateway().await;
    let mut sync = ResellerSyncServiceClient::new(bss_testkit::channel(app.endpoints.reseller_sync).await);
    let (distributor_id, distributor) = app.tenant("Distributor", "EUR").await;
    let (stranger_id, stranger) = app.tenant("Other Distributor", "EUR").await;

    let bad = CreateLinkRequest {
        link: Some(Link { reseller_tenant_id: "nope".to_owned(), ..Link::default() }),
        request_id: String::new(),
    };
    let refused = sync.create_link(authorized(bad, &distributor)).await.expect_err("bad input");
    assert_eq!(violated_fields(&refused), ["link.reseller_tenant_id", "link.tenant_reseller_account_id"]);

    let plain = create_account(&gateway, &distributor, ordering_account("PLAIN")).await;
    let (theirs, _) = reseller_tenant(&gateway, stranger_id, "Not Ours").await;
    let mut linked = Vec::new();
    for code in ["R1", "R2", "R3"] {
        let (reseller, _) = reseller_tenant(&gateway, distributor_id, code).await;
        let account = tenant_reseller(&gateway, &distributor, code).await;
        if code == "R1" {
            let refused = sync
                .create_link(authorized(link_request(&theirs, &account, ""), &distributor))
                .await
                .expect_err("a tenant under another distributor");
            assert_eq!(
                (refused.code(), reason(&refused).as_str()),
                (Code::FailedPrecondition, "NOT_A_RESELLER_TENANT")
            );
            let refused = sync
                .create_link(authorized(link_request(&reseller, &plain, ""), &distributor))
                .await
                .expect_err("not a reseller account");
            assert_eq!(
                (refused.code(), reason(&refused).as_str()),
                (Code::FailedPrecondition, "NOT_A_TENANT_RESELLER")
            );
        }
        let request = link_request(&reseller, &account, &format!("link-{code}"));
        let made = sync.create_link(authorized(request.clone(), &distributor)).await.expect("linked").into_inner();
        let again = sync.create_link(authorized(request, &distributor)).await.expect("the same again").into_inner();
        assert_eq!(made, again, "a retry gets the first answer");
        let link = made.link.expect("link");
        assert_eq!(
            (link.reseller_name.as_str(), link.responsible_user.as_str()),
            (format!("{code} Telecom").as_str(), "dana")
        );
        linked.push(link.reseller_tenant_id);
    }
    let twice = sync
        .create_link(authorized(
            link_request(&linked[0], &tenant_reseller(&gateway, &distributor, "R9").await, ""),
            &distributor,
        ))
        .await
        .expect_err("linked already");
    assert_eq!((twice.code(), reason(&twice).as_str()), (Code::AlreadyExists, "LINK_EXISTS"));

    let listed = bss_testkit::every_page(2, |page_token| {
        let (mut sync, distributor) = (sync.clone(), distributor.clone());
        async move {
            let list = ListLinksRequest { page_size: 2, page_token };
            let page = sync.list_links(authorized(list, &distributor)).await.expect("links").into_inner();
            (page.links.into_iter().map(|link| link.reseller_tenant_id).collect::<Vec<_>>(), page.next_page_token)
        }
    })
    .await;
    assert_eq!(listed, linked, "oldest first, each once");

    // Another distributor sees none of it.
    let theirs = sync.list_links(authorized(ListLinksRequest::default(), &stranger)).await.expect("links");
    assert!(theirs.into_inner().links.is_empty());
    let get = GetLinkRequest { reseller_tenant_id: linked[0].clone() };
    assert_eq!(sync.get_link(authorized(get, &stranger)).await.expect_err("not theirs").code(), Code::NotFound);
    let copies = ListCopiesRequest { reseller_tenant_id: linked[0].clone(), ..Default::default() };
    assert_eq!(sync.list_copies(authorized(copies, &stranger)).await.expect_err("not theirs").code(), Code::NotFound);
    let forged = ListSyncFailuresRequest { page_size: 0, page_token: "forged".to_owned() };
    let refused = sync.list_sync_failures(authorized(forged, &distributor)).await.expect_err("a token never given");
    assert_eq!(violated_fields(&refused), ["page_token"]);
    let retry = RetrySyncRequest { stream: "billing".to_owned(), sequence: 1 };
    assert_eq!(sync.retry_sync(authorized(retry, &distributor)).await.expect_err("no failure").code(), Code::NotFound);
}

#[tokio::test]
async fn customers_with_a_first_paid_subscription_are_copied_and_listed_page_by_page() {
    let app = TestApp::start().await;
    let gateway = app.gateway().await;
    let mut sync = ResellerSyncServiceClient::new(bss_testkit::channel(app.endpoints.reseller_sync).await);
    let (distributor_id, distributor) = app.tenant("Distributor", "EUR").await;
    let (reseller, reseller_admin) = reseller_tenant(&gateway, distributor_id, "Reseller").await;
    let account = tenant_reseller(&gateway, &distributor, "ACME").await;
    sync.create_link(authorized(link_request(&reseller, &account, ""), &distributor)).await.expect("linked");
    create_product(&gateway, &reseller_admin, "PLAN", "10.00", "").await;

    let mut customers = Vec::new();
    for code in ["C1", "C2", "C3"] {
        let customer = create_account(&gateway, &reseller_admin, ordering_account(code)).await;
        set_credit_terms(&gateway, &reseller_admin, &customer, "1000", None).await;
        let subscription = subscription_request(&customer, "PLAN", "1", PaymentType::OnAccount);
        SubscriptionServiceClient::new(gateway.clone())
            .create_subscription(authorized(subscription, &reseller_admin))
            .await
            .expect("subscribed");
        customers.push(customer);
    }
    // One without a paid subscription is not copied.
    let unpaid = create_account(&gateway, &reseller_admin, ordering_account("C4")).await;

    let deadline = Instant::now() + Duration::from_secs(30);
    let copies = loop {
        let copies = bss_testkit::every_page(2, |page_token| {
            let (mut sync, distributor, reseller) = (sync.clone(), distributor.clone(), reseller.clone());
            async move {
                let list = ListCopiesRequest { reseller_tenant_id: reseller, page_size: 2, page_token };
                let page = sync.list_copies(authorized(list, &distributor)).await.expect("copies").into_inner();
                (page.copies, page.next_page_token)
            }
        })
        .await;
        if copies.len() >= customers.len() {
            break copies;
        }
        assert!(Instant::now() < deadline, "the sync never copied every customer: {copies:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut copied: Vec<String> = copies.iter().map(|copy| copy.reseller_account_id.clone()).collect();
    copied.sort();
    customers.sort();
    assert_eq!(copied, customers, "each paid customer once, the unpaid one not at all");

    // What accounts says of each copy in the distributor's books: its
    // customer's code, billed to the tenant reseller, managed by the sync.
    let mut accounts = AccountServiceClient::new(gateway.clone());
    for copy in &copies {
        let customer = GetAccountRequest { id: copy.reseller_account_id.clone() };
        let customer = accounts.get_account(authorized(customer, &reseller_admin)).await.expect("customer");
        let customer = customer.into_inner().account.expect("account");
        let held = GetAccountRequest { id: copy.copy_account_id.clone() };
        let held = accounts.get_account(authorized(held, &distributor)).await.expect("the copy, in accounts");
        let held = held.into_inner().account.expect("account");
        assert_eq!((held.code.as_str(), held.parent_account_id.as_str()), (customer.code.as_str(), account.as_str()));
        let managed = held.managed_by.expect("managed by the sync");
        assert_eq!(managed.tenant_reseller_account_id, account);
    }

    let preview =
        |id: &str| PreviewCopyRequest { reseller_tenant_id: reseller.clone(), reseller_account_id: id.to_owned() };
    let shown =
        sync.preview_copy(authorized(preview(&customers[0]), &distributor)).await.expect("preview").into_inner();
    assert!(shown.copied);
    let copy = shown.account.expect("the copy");
    assert_eq!(copy.parent_account_id, account, "billed to the tenant reseller");
    assert_eq!(
        copy.managed_by.expect("managed").locked_fields,
        ["name", "code", "email", "sync_options", "billing_address"]
    );
    let shown = sync.preview_copy(authorized(preview(&unpaid), &distributor)).await.expect("preview").into_inner();
    assert!(!shown.copied);
    let unknown = preview(&uuid::Uuid::now_v7().to_string());
    assert_eq!(sync.preview_copy(authorized(unknown, &distributor)).await.expect_err("no such").code(), Code::NotFound);
}
