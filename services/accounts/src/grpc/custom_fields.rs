//! CustomFieldService: parsed here, run by `app::custom_fields`.

use bss_platform::auth::Role;
use bss_platform::error::Violations;
use bss_platform::idempotency::RequestKey;
use bss_platform::paging::Page;
use bss_proto::accounts::custom_field_service_server::CustomFieldService;
use bss_proto::accounts::*;
use tonic::{Request, Response, Status};

use super::{AccountsApi, READERS, authorize};
use crate::domain::custom_fields::Definition;
use crate::domain::error::AccountsError;
use crate::wire::{definition_to_proto, field_type_from_wire};

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
            self.define_custom_field(tenant_id, key, definition, |definition| CreateCustomFieldDefinitionResponse {
                definition: Some(definition_to_proto(definition)),
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
            let (definitions, next_page_token) = self.custom_fields(tenant_id, &page).await?;
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
            self.delete_custom_field(tenant_id, key, &request.key, DeleteCustomFieldDefinitionResponse {}).await
        };
        Ok(Response::new(run.await?))
    }
}
