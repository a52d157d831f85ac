//! Shared harness of the credit API tests: the accounts and credit services
//! on a fresh database, clients, and builders.

use bss_credit::CreditConfig;
use bss_platform::auth::Role;
use bss_platform::events::EventLog;
use bss_proto::accounts as accounts_proto;
use bss_proto::accounts::account_service_client::AccountServiceClient;
use bss_proto::accounts::tenant_service_client::TenantServiceClient;
use bss_proto::billing::{self as billing_proto, BillingEvent};
use bss_proto::credit::credit_service_client::CreditServiceClient;
use bss_proto::credit::credit_settings_service_client::CreditSettingsServiceClient;
use bss_proto::credit::*;
use bss_proto::types::{Money, PaymentType};
use bss_testkit::{authorized, token};
use tonic::transport::Channel;
use uuid::Uuid;

use crate::kit::{Kit, listener};

#[allow(unused_imports)]
pub use bss_testkit::{reason, violated_fields};

pub struct TestApp {
    pub credit: CreditServiceClient<Channel>,
    pub settings: CreditSettingsServiceClient<Channel>,
    pub accounts: AccountServiceClient<Channel>,
    pub tenants: TenantServiceClient<Channel>,
    pub channel: Channel,
    /// The accounts service.
    pub accounts_channel: Channel,
    pub db: sqlx::PgPool,
    pub events: EventLog,
    /// The billing service's pool and event log: tests publish billing's
    /// events through its outbox as billing does.
    pub billing_db: sqlx::PgPool,
    pub billing_events: EventLog,
    _kit: Kit,
}

/// The accounts service and the credit service over one fresh database.
pub async fn spawn() -> TestApp {
    spawn_with(None).await
}

/// As [`spawn`], with credit asking the external credit check at `url`.
pub async fn spawn_with(credit_check_url: Option<String>) -> TestApp {
    spawn_configured(credit_check_url, |_| {}).await
}

/// As [`spawn_with`], with credit's platform configuration changed by
/// `adjust`.
pub async fn spawn_configured(
    credit_check_url: Option<String>,
    adjust: impl FnOnce(&mut bss_platform::config::PlatformConfig),
) -> TestApp {
    let kit = Kit::new().await;
    let accounts = kit.accounts(listener().await.0, bss_accounts::AccountsConfig::new(kit.platform())).await;
    let billing = kit.billing(listener().await.0, bss_billing::BillingConfig::new(kit.platform())).await;
    let mut platform = kit.platform();
    platform.database.max_connections = 32;
    adjust(&mut platform);
    let config = CreditConfig {
        accounts_url: Some(accounts.url()),
        billing_url: Some(billing.url()),
        credit_check_url,
        ..CreditConfig::new(platform)
    };
    let credit = kit.credit(listener().await.0, config).await;
    TestApp {
        credit: CreditServiceClient::new(credit.channel.clone()),
        settings: CreditSettingsServiceClient::new(credit.channel.clone()),
        accounts: AccountServiceClient::new(accounts.channel.clone()),
        tenants: TenantServiceClient::new(accounts.channel.clone()),
        channel: credit.channel,
        accounts_channel: accounts.channel,
        db: credit.db,
        events: credit.events.expect("credit publishes events"),
        billing_db: billing.db,
        billing_events: billing.events.expect("billing publishes events"),
        _kit: kit,
    }
}

impl TestApp {
    /// A tenant with `currency` as default, and its administrator's token.
    pub async fn tenant(&mut self, currency: &str) -> (Uuid, String) {
        crate::create_tenant(&self.accounts_channel, &format!("Books {}", Uuid::now_v7()), currency).await
    }

    /// An account of the tenant in its default currency.
    pub async fn account(&mut self, admin: &str) -> String {
        crate::create_account(&self.accounts_channel, admin, crate::unique(accounts_proto::Account::default())).await
    }

    /// An account with a limit of `limit` and the given out-of-credit action.
    pub async fn account_with_limit(&mut self, admin: &str, limit: &str, out_of_credit: CreditAction) -> String {
        let account_id = self.account(admin).await;
        let terms = CreditTerms {
            credit_limit: decimal(limit),
            policy: Some(CreditPolicy { out_of_credit_action: out_of_credit as i32, ..Default::default() }),
            ..Default::default()
        };
        self.change_terms(admin, &account_id, terms).await.expect("terms changed");
        account_id
    }

    pub async fn change_terms(
        &mut self,
        admin: &str,
        account_id: &str,
        terms: CreditTerms,
    ) -> Result<CreditTerms, tonic::Status> {
        self.credit
            .change_credit_terms(authorized(
                ChangeCreditTermsRequest {
                    account_id: account_id.to_owned(),
                    terms: Some(terms),
                    reason: "annual review".to_owned(),
                    request_id: String::new(),
                },
                admin,
            ))
            .await
            .map(|response| response.into_inner().terms.expect("terms"))
    }

    pub async fn authorize(
        &mut self,
        token: &str,
        account_id: &str,
        amount: &str,
        currency: &str,
        payment_type: PaymentType,
    ) -> Result<AuthorizeOrderResponse, tonic::Status> {
        self.credit
            .authorize_order(authorized(order(account_id, amount, currency, payment_type), token))
            .await
            .map(|response| response.into_inner())
    }

    pub async fn terms(&self, token: &str, account_id: &str) -> CreditTerms {
        self.credit
            .clone()
            .get_credit_terms(authorized(GetCreditTermsRequest { account_id: account_id.to_owned() }, token))
            .await
            .expect("terms")
            .into_inner()
            .terms
            .expect("terms")
    }

    pub async fn status(&self, token: &str, account_id: &str) -> CreditStatus {
        self.credit
            .clone()
            .get_credit_status(authorized(GetCreditStatusRequest { account_id: account_id.to_owned() }, token))
            .await
            .expect("status")
            .into_inner()
            .status
            .expect("status")
    }

    /// The suspension worker the service runs every few seconds.
    pub fn suspender(&self) -> bss_credit::suspensions::Suspender {
        bss_credit::suspensions::Suspender {
            accounts: self.accounts_channel.clone(),
            identity: bss_platform::auth::ServiceIdentity::new("credit", &bss_testkit::auth_config()),
        }
    }

    /// The types of the credit events of a tenant, in the order written.
    pub async fn event_types(&self, tenant_id: Uuid) -> Vec<String> {
        sqlx::query_scalar("SELECT event_type FROM credit.outbox WHERE tenant_id = $1 ORDER BY id")
            .bind(tenant_id)
            .fetch_all(&self.db)
            .await
            .expect("outbox")
    }

    /// Publishes billing events on billing's stream, each in its own
    /// transaction, as billing posts them.
    pub async fn publish_billing(&self, tenant_id: Uuid, payloads: Vec<billing_proto::billing_event::Payload>) {
        for payload in payloads {
            let mut tx = self.billing_db.begin().await.expect("tx");
            bss_platform::events::publish::<BillingEvent>(&mut tx, tenant_id, "billing", [payload])
                .await
                .expect("published");
            tx.commit().await.expect("committed");
        }
        self.billing_events.written();
    }

    /// Applies billing events to credit as its consumer does: each in its
    /// own transaction.
    pub async fn post(&self, tenant_id: Uuid, payloads: Vec<billing_proto::billing_event::Payload>) {
        for payload in payloads {
            let event = BillingEvent { tenant_id: tenant_id.to_string(), payload: Some(payload), ..Default::default() };
            let mut tx = self.db.begin().await.expect("tx");
            bss_credit::billing::apply(&mut tx, &event).await.expect("applied");
            tx.commit().await.expect("committed");
        }
    }
}

/// An order of `amount` with a fresh reference.
pub fn order(account_id: &str, amount: &str, currency: &str, payment_type: PaymentType) -> AuthorizeOrderRequest {
    AuthorizeOrderRequest {
        keep_until_invoiced: false,
        payers: Vec::new(),
        request_id: String::new(),
        account_id: account_id.to_owned(),
        order_reference: format!("SO-{}", Uuid::now_v7().simple()),
        amount: Some(money(amount, currency)),
        payment_type: payment_type as i32,
        event_kind: EventKind::Order as i32,
        prepay_over_limit: false,
    }
}

pub fn money(amount: &str, currency: &str) -> Money {
    Money { currency_code: currency.to_owned(), amount: amount.to_owned() }
}

pub fn decimal(value: &str) -> Option<bss_proto::types::Decimal> {
    Some(bss_proto::types::Decimal { value: value.to_owned() })
}

pub fn amount(money: &Option<Money>) -> &str {
    &money.as_ref().expect("money").amount
}

pub fn credit_manager(tenant_id: Uuid) -> String {
    token(tenant_id, &[Role::CreditManager])
}

pub fn account_manager(tenant_id: Uuid) -> String {
    token(tenant_id, &[Role::AccountManager])
}

pub fn billing_clerk(tenant_id: Uuid) -> String {
    token(tenant_id, &[Role::BillingClerk])
}
