//! A tenant's credit settings, credit ratings and override rules.

use bss_platform::idempotency::RequestKey;
use prost::Message;
use uuid::Uuid;

use super::Credit;
use crate::domain::account::{Rating, Settings};
use crate::domain::error::CreditError;
use crate::domain::overrides::OverrideRule;
use crate::repo;

impl Credit {
    /// The tenant's settings, or the defaults.
    pub async fn settings(&self, tenant_id: Uuid) -> Result<Settings, CreditError> {
        let mut connection = self.db.acquire().await?;
        repo::settings(&mut connection, tenant_id).await
    }

    /// Replaces the tenant's settings by what `change` makes of the current
    /// ones, unless they moved past the etag the change was made against
    /// (ABORTED ETAG_MISMATCH). The answer, made by `respond` of the
    /// settings stored, is what a retry gets.
    pub async fn update_settings<R: Message + Default>(
        &self,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        etag: &str,
        change: impl FnOnce(&Settings) -> Result<Settings, CreditError>,
        respond: impl FnOnce(&Settings) -> R,
    ) -> Result<R, CreditError> {
        self.write(key, async |tx| {
            let current = repo::lock_settings(tx, tenant_id).await?;
            current.check_etag(etag)?;
            let mut settings = change(&current)?;
            settings.updated_at = Some(repo::put_settings(tx, tenant_id, &settings).await?);
            let response = respond(&settings);
            Ok(response)
        })
        .await
    }

    /// Creates a credit rating (ALREADY_EXISTS CREDIT_RATING_EXISTS for a
    /// code the tenant has).
    pub async fn create_rating<R: Message + Default>(
        &self,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        rating: Rating,
        respond: impl FnOnce(&Rating) -> R,
    ) -> Result<R, CreditError> {
        self.write(key, async |tx| {
            repo::create_rating(tx, tenant_id, &rating).await?;
            let response = respond(&rating);
            Ok(response)
        })
        .await
    }

    /// The tenant's ratings by code after `after`, at most `limit`.
    pub async fn ratings(
        &self,
        tenant_id: Uuid,
        (after, limit): (Option<String>, i64),
    ) -> Result<Vec<Rating>, CreditError> {
        let mut connection = self.db.acquire().await?;
        repo::ratings(&mut connection, tenant_id, after, limit).await
    }

    /// Creates an override rule.
    pub async fn create_rule<R: Message + Default>(
        &self,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        rule: OverrideRule,
        respond: impl FnOnce(&OverrideRule) -> R,
    ) -> Result<R, CreditError> {
        self.write(key, async |tx| {
            repo::create_rule(tx, tenant_id, &rule).await?;
            let response = respond(&rule);
            Ok(response)
        })
        .await
    }

    /// The tenant's override rules in id order after `after`, at most
    /// `limit`.
    pub async fn rules(
        &self,
        tenant_id: Uuid,
        (after, limit): (Option<Uuid>, i64),
    ) -> Result<Vec<OverrideRule>, CreditError> {
        let mut connection = self.db.acquire().await?;
        repo::rules_page(&mut connection, tenant_id, after, limit).await
    }

    /// Deletes an override rule (NOT_FOUND when there is none).
    pub async fn delete_rule<R: Message + Default>(
        &self,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        id: Uuid,
        respond: R,
    ) -> Result<R, CreditError> {
        self.write(key, async |tx| {
            if !repo::delete_rule(tx, tenant_id, id).await? {
                return Err(CreditError::not_found("override rule", id));
            }
            Ok(respond)
        })
        .await
    }
}
