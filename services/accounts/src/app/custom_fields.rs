//! The tenant's custom field definitions.

use bss_platform::idempotency::RequestKey;
use bss_platform::paging::Page;
use prost::Message;
use uuid::Uuid;

use super::Accounts;
use crate::domain::custom_fields::Definition;
use crate::domain::error::AccountsError;
use crate::repo;

impl Accounts {
    /// Defines a custom field of the tenant's accounts.
    pub async fn define_custom_field<R: Message + Default>(
        &self,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        definition: Definition,
        respond: impl FnOnce(&Definition) -> R,
    ) -> Result<R, AccountsError> {
        self.write(key, async |tx| {
            repo::custom_fields::insert(tx, tenant_id, &definition).await?;
            Ok(respond(&definition))
        })
        .await
    }

    /// A page of the tenant's custom field definitions, by key.
    pub async fn custom_fields(
        &self,
        tenant_id: Uuid,
        page: &Page,
    ) -> Result<(Vec<Definition>, String), AccountsError> {
        let mut connection = self.db.acquire().await?;
        let definitions =
            repo::custom_fields::page(&mut connection, tenant_id, page.after_text()?, page.fetch_limit()).await?;
        Ok(page.finish(definitions, |definition| definition.key.as_bytes().to_vec()))
    }

    /// Deletes the definition of `field`, once no account has a value for
    /// it (CUSTOM_FIELD_IN_USE).
    pub async fn delete_custom_field<R: Message + Default>(
        &self,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        field: &str,
        respond: R,
    ) -> Result<R, AccountsError> {
        self.write(key, async |tx| {
            if repo::custom_fields::in_use(tx, tenant_id, field).await? {
                return Err(AccountsError::precondition(
                    "CUSTOM_FIELD_IN_USE",
                    format!("accounts still have a value for {field:?}"),
                ));
            }
            if !repo::custom_fields::delete(tx, tenant_id, field).await? {
                return Err(AccountsError::not_found("custom field", field));
            }
            Ok(respond)
        })
        .await
    }
}
