//! The tenant's custom field definitions.

use bss_platform::auth::Role;
use bss_platform::error::Violations;
use bss_platform::idempotency::RequestKey;
use bss_platform::paging::Page;
use bss_proto::accounts::custom_field_service_server::CustomFieldService;
use bss_proto::accounts::*;
use tonic::{Request, Response, Status};

use super::convert::{definition_to_proto, field_type_from_wire};
use super::{AccountsApi, READERS, authorize};
use crate::domain::custom_fields::Definition;
use crate::domain::error::AccountsError;
use crate::repo;

#[tonic::async_trait]
impl CustomFieldService for AccountsApi {
    async fn create_custom_field_definition(
        &self,
        request: Request<CreateCustomFieldDefinitionRequest>,
    ) -> Result<Response<CreateCustomFieldDefinitionResponse>, Status> {
        let (_, tenant_id) = authorize(&request, &[Role::TenantAdmin])?;
        let request = request.into_inner();
        let run = async {
            let input = request.definition.clone().unwrap_or_default();
            let mut v = Violations::new();
            let field_type = v.keep("definition.type", field_type_from_wire(input.r#type));
            let definition = field_type.and_then(|field_type| {
                Definition::parse(&input.key, &input.label, field_type, &input.choices)
                    .map_err(|problems| {
                        for (field, problem) in problems {
                            v.add(format!("definition.{field}"), problem);
                        }
                    })
                    .ok()
            });
            let Some(definition) = definition.filter(|_| v.is_empty()) else {
                return Err(AccountsError::from(v));
            };
            let key = RequestKey::new(tenant_id, "CreateCustomFieldDefinition", &request.request_id, &request)?;
            self.write(key, async |tx| {
                repo::custom_fields::insert(tx, tenant_id, &definition).await?;
                let response =
                    CreateCustomFieldDefinitionResponse { definition: Some(definition_to_proto(&definition)) };
                Ok(response)
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn list_custom_field_definitions(
        &self,
        request: Request<ListCustomFieldDefinitionsRequest>,
    ) -> Result<Response<ListCustomFieldDefinitionsResponse>, Status> {
        let (_, tenant_id) = authorize(&request, READERS)?;
        let request = request.into_inner();
        let run = async {
            let page =
                Page::parse(request.page_size, &request.page_token, &ListCustomFieldDefinitionsRequest::default())?;
            let mut connection = self.db.acquire().await?;
            let definitions =
                repo::custom_fields::page(&mut connection, tenant_id, page.after_text()?, page.fetch_limit()).await?;
            let (definitions, next_page_token) =
                page.finish(definitions, |definition| definition.key.as_bytes().to_vec());
            Ok::<_, AccountsError>(ListCustomFieldDefinitionsResponse {
                definitions: definitions.iter().map(definition_to_proto).collect(),
                next_page_token,
            })
        };
        Ok(Response::new(run.await?))
    }

    async fn delete_custom_field_definition(
        &self,
        request: Request<DeleteCustomFieldDefinitionRequest>,
    ) -> Result<Response<DeleteCustomFieldDefinitionResponse>, Status> {
        let (_, tenant_id) = authorize(&request, &[Role::TenantAdmin])?;
        let request = request.into_inner();
        let run = async {
            let key = RequestKey::new(tenant_id, "DeleteCustomFieldDefinition", &request.request_id, &request)?;
            self.write(key, async |tx| {
                if repo::custom_fields::in_use(tx, tenant_id, &request.key).await? {
                    return Err(AccountsError::precondition(
                        "CUSTOM_FIELD_IN_USE",
                        format!("accounts still have a value for {:?}", request.key),
                    ));
                }
                if !repo::custom_fields::delete(tx, tenant_id, &request.key).await? {
                    return Err(AccountsError::not_found("custom field", &request.key));
                }
                let response = DeleteCustomFieldDefinitionResponse {};
                Ok(response)
            })
            .await
        };
        Ok(Response::new(run.await?))
    }
}
