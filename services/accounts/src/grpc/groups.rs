//! GroupService: parsed here, run by `app::groups`.

use bss_platform::error::Violations;
use bss_platform::idempotency::RequestKey;
use bss_platform::input::required_id;
use bss_proto::accounts::group_service_server::GroupService;
use bss_proto::accounts::*;
use tonic::{Request, Response, Status};

use super::{AccountsApi, READERS, WRITERS, authorize};
use crate::app::groups::Group;
use crate::domain::error::AccountsError;
use crate::wire::{funding_from_wire, funding_to_proto, parse_id};

fn group_to_proto(group: &Group) -> AccountGroup {
    AccountGroup {
        parent_account_id: group.parent_id.to_string(),
        members: group
            .members
            .iter()
            .map(|membership| GroupMember {
                account_id: membership.member_id.to_string(),
                funding: Some(funding_to_proto(&membership.funding)),
            })
            .collect(),
    }
}

#[tonic::async_trait]
impl GroupService for AccountsApi {
    async fn add_group_member(
        &self,
        request: Request<AddGroupMemberRequest>,
    ) -> Result<Response<AddGroupMemberResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let mut v = Violations::new();
            let parent_id = v.keep("parent_account_id", required_id(&request.parent_account_id));
            let member_id = v.keep("member_account_id", required_id(&request.member_account_id));
            let funding = v.keep("funding", funding_from_wire(request.funding.as_ref()));
            let (Some(parent_id), Some(member_id), Some(funding)) = (parent_id, member_id, funding) else {
                return Err(v.into());
            };
            let key = RequestKey::new(tenant_id, "AddGroupMember", &request.request_id, &request)?;
            self.add_member(&caller, tenant_id, key, (parent_id, member_id, funding), |group| AddGroupMemberResponse {
                group: Some(group_to_proto(group)),
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn remove_group_member(
        &self,
        request: Request<RemoveGroupMemberRequest>,
    ) -> Result<Response<RemoveGroupMemberResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let member_id = parse_id("member_account_id", &request.member_account_id)?;
            let key = RequestKey::new(tenant_id, "RemoveGroupMember", &request.request_id, &request)?;
            self.remove_member(&caller, tenant_id, key, member_id, |group| RemoveGroupMemberResponse {
                group: Some(group_to_proto(group)),
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn get_account_group(
        &self,
        request: Request<GetAccountGroupRequest>,
    ) -> Result<Response<GetAccountGroupResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, READERS)?;
        let account_id = parse_id("account_id", &request.get_ref().account_id).map_err(AccountsError::from)?;
        let group = self.group(&caller, tenant_id, account_id).await?;
        Ok(Response::new(GetAccountGroupResponse { group: Some(group_to_proto(&group)) }))
    }
}
