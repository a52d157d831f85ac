//! Automatic suspension: when exposure passes the limit by the tenant's
//! percentage, the change that did it records a suspension request in its
//! transaction; this worker then asks the accounts service to suspend the
//! account, as the credit service (role `integration`), with a request id
//! made from the request's, so a retry after a lost answer suspends once.

use bss_platform::auth::ServiceIdentity;
use bss_platform::client;
use bss_proto::accounts::SuspendAccountRequest;
use bss_proto::accounts::account_service_client::AccountServiceClient;
use sqlx::PgPool;
use tonic::Code;
use tonic::transport::Channel;

use crate::domain::error::CreditError;
use crate::repo;
use bss_platform::peers::PEER_TIMEOUT;

/// Requests handled per sweep.
const BATCH: i64 = 100;

/// The reason accounts records in the account's history.
pub const REASON: &str = "Credit: exposure passed the credit limit by the tenant's auto-suspend percentage";

pub struct Suspender {
    pub accounts: Channel,
    pub identity: ServiceIdentity,
}

impl Suspender {
    /// Carries out the pending suspension requests; returns how many were
    /// done. One accounts cannot answer stays pending for the next sweep.
    pub async fn run_due(&self, db: &PgPool) -> Result<usize, CreditError> {
        let mut connection = db.acquire().await?;
        let mut done = 0;
        for (tenant_id, id, account_id) in repo::pending_suspensions(&mut connection, BATCH).await? {
            let Some(caller) = self.identity.caller(Some(tenant_id)) else {
                return Err(CreditError::Unavailable {
                    what: "accounts",
                    cause: "credit has no service token".to_owned(),
                });
            };
            let request = SuspendAccountRequest {
                id: account_id.to_string(),
                reason: REASON.to_owned(),
                request_id: format!("credit-suspension-{id}"),
            };
            let outcome = match AccountServiceClient::new(self.accounts.clone())
                .suspend_account(client::request(request, &caller, PEER_TIMEOUT))
                .await
            {
                Ok(_) => "SUSPENDED",
                // Suspended or terminated already, or gone: nothing to do.
                Err(status) if matches!(status.code(), Code::FailedPrecondition | Code::NotFound) => "NOT_NEEDED",
                Err(status) => {
                    tracing::warn!(%account_id, error = %status.message(), "suspending an account failed; retrying");
                    continue;
                }
            };
            repo::suspension_done(&mut connection, tenant_id, id, outcome).await?;
            done += 1;
        }
        Ok(done)
    }
}
