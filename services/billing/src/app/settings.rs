//! The tenant's billing settings: the bank account direct deposit orders
//! are paid into.

use bss_platform::etag;
use bss_platform::idempotency::RequestKey;
use prost::Message;
use uuid::Uuid;

use super::Billing;
use crate::domain::error::BillingError;
use crate::domain::settings::BankDetails;
use crate::repo::settings::{self, StoredSettings};

/// The tenant's settings: its bank details (empty until set), their etag
/// and when they last changed.
pub struct Settings {
    pub bank_details: BankDetails,
    pub etag: String,
    pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Settings {
    fn of(stored: Option<StoredSettings>) -> Settings {
        match stored {
            Some(stored) => Settings {
                bank_details: stored.bank_details,
                etag: etag::of_version(stored.version),
                updated_at: Some(stored.updated_at),
            },
            None => Settings { bank_details: BankDetails::default(), etag: etag::of_version(0), updated_at: None },
        }
    }
}

impl Billing {
    /// The tenant's billing settings.
    pub async fn billing_settings(&self, tenant_id: Uuid) -> Result<Settings, BillingError> {
        let mut connection = self.db.acquire().await?;
        Ok(Settings::of(settings::get(&mut connection, tenant_id, false).await?))
    }

    /// Changes the settings by `change` (the bank details as they are to
    /// what they become, checked), unless they changed since `expected`
    /// (ETAG_MISMATCH).
    pub async fn update_billing_settings<R: Message + Default>(
        &self,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        expected: &str,
        change: impl FnOnce(&BankDetails) -> Result<BankDetails, BillingError>,
        respond: impl FnOnce(&Settings) -> R,
    ) -> Result<R, BillingError> {
        self.write(key, async |tx| {
            let current = Settings::of(settings::get(tx, tenant_id, true).await?);
            etag::check("billing settings", expected, &current.etag)?;
            let bank_details = change(&current.bank_details)?;
            let saved = settings::save(tx, tenant_id, &bank_details).await?;
            Ok(respond(&Settings::of(Some(saved))))
        })
        .await
    }
}
