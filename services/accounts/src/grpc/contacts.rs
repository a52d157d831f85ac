//! The contact and address RPCs of AccountService: parsed here, run by
//! `app::contacts`.

use bss_platform::fieldmask::writable_paths;
use bss_platform::idempotency::RequestKey;
use bss_platform::paging::Page;
use bss_proto::accounts::*;
use tonic::{Request, Response, Status};

use super::{ACCOUNT_READERS, AccountsApi, READERS, WRITERS, authorize};
use crate::domain::error::AccountsError;
use crate::wire::*;

pub(super) async fn create_contact(
    api: &AccountsApi,
    request: Request<CreateContactRequest>,
) -> Result<Response<CreateContactResponse>, Status> {
    let (caller, tenant_id) = authorize(&request, WRITERS)?;
    let request = request.into_inner();
    let run = async {
        let account_id = parse_id("account_id", &request.account_id)?;
        let fields = contact_fields(&request.contact.clone().unwrap_or_default())?;
        let key = RequestKey::new(tenant_id, "CreateContact", &request.request_id, &request)?;
        api.create_contact(&caller, (tenant_id, account_id), key, fields, |contact| CreateContactResponse {
            contact: Some(contact_to_proto(contact)),
        })
        .await
    };
    Ok(Response::new(run.await?))
}

pub(super) async fn list_contacts(
    api: &AccountsApi,
    request: Request<ListContactsRequest>,
) -> Result<Response<ListContactsResponse>, Status> {
    let (caller, tenant_id) = authorize(&request, ACCOUNT_READERS)?;
    let request = request.into_inner();
    let run = async {
        let account_id = parse_id("account_id", &request.account_id)?;
        let page = Page::parse(request.page_size, &request.page_token, &request.account_id)?;
        let (contacts, next_page_token) = api.contacts(&caller, (tenant_id, account_id), &page).await?;
        Ok::<_, AccountsError>(ListContactsResponse {
            contacts: contacts.iter().map(contact_to_proto).collect(),
            next_page_token,
        })
    };
    Ok(Response::new(run.await?))
}

pub(super) async fn update_contact(
    api: &AccountsApi,
    request: Request<UpdateContactRequest>,
) -> Result<Response<UpdateContactResponse>, Status> {
    let (caller, tenant_id) = authorize(&request, WRITERS)?;
    let request = request.into_inner();
    let run = async {
        let input = request.contact.clone().unwrap_or_default();
        let id = parse_id("contact.id", &input.id)?;
        let paths = writable_paths(request.update_mask.as_ref(), CONTACT_WRITABLE_PATHS)?;
        let key = RequestKey::new(tenant_id, "UpdateContact", &request.request_id, &request)?;
        let change = |contact: &crate::domain::contact::Contact| {
            let mut merged = contact_to_proto(contact);
            overlay_contact(&mut merged, &input, &paths);
            Ok(contact_fields(&merged)?)
        };
        api.update_contact(&caller, tenant_id, key, (id, &input.etag), change, |contact| UpdateContactResponse {
            contact: Some(contact_to_proto(contact)),
        })
        .await
    };
    Ok(Response::new(run.await?))
}

pub(super) async fn delete_contact(
    api: &AccountsApi,
    request: Request<DeleteContactRequest>,
) -> Result<Response<DeleteContactResponse>, Status> {
    let (caller, tenant_id) = authorize(&request, WRITERS)?;
    let request = request.into_inner();
    let run = async {
        let id = parse_id("id", &request.id)?;
        let key = RequestKey::new(tenant_id, "DeleteContact", &request.request_id, &request)?;
        api.delete_contact(&caller, tenant_id, key, id, DeleteContactResponse {}).await
    };
    Ok(Response::new(run.await?))
}

pub(super) async fn create_address(
    api: &AccountsApi,
    request: Request<CreateAddressRequest>,
) -> Result<Response<CreateAddressResponse>, Status> {
    let (caller, tenant_id) = authorize(&request, WRITERS)?;
    let request = request.into_inner();
    let run = async {
        let account_id = parse_id("account_id", &request.account_id)?;
        let input = request.address.clone().unwrap_or_default();
        let fields = address_fields(&input)?;
        let key = RequestKey::new(tenant_id, "CreateAddress", &request.request_id, &request)?;
        let new = (fields, input.override_validation);
        api.create_address(&caller, (tenant_id, account_id), key, new, |address| CreateAddressResponse {
            address: Some(address_to_proto(address)),
        })
        .await
    };
    Ok(Response::new(run.await?))
}

pub(super) async fn list_addresses(
    api: &AccountsApi,
    request: Request<ListAddressesRequest>,
) -> Result<Response<ListAddressesResponse>, Status> {
    let (caller, tenant_id) = authorize(&request, ACCOUNT_READERS)?;
    let request = request.into_inner();
    let run = async {
        let account_id = parse_id("account_id", &request.account_id)?;
        let page = Page::parse(request.page_size, &request.page_token, &request.account_id)?;
        let (addresses, next_page_token) = api.addresses(&caller, (tenant_id, account_id), &page).await?;
        Ok::<_, AccountsError>(ListAddressesResponse {
            addresses: addresses.iter().map(address_to_proto).collect(),
            next_page_token,
        })
    };
    Ok(Response::new(run.await?))
}

pub(super) async fn update_address(
    api: &AccountsApi,
    request: Request<UpdateAddressRequest>,
) -> Result<Response<UpdateAddressResponse>, Status> {
    let (caller, tenant_id) = authorize(&request, WRITERS)?;
    let request = request.into_inner();
    let run = async {
        let input = request.address.clone().unwrap_or_default();
        let id = parse_id("address.id", &input.id)?;
        let paths = writable_paths(request.update_mask.as_ref(), ADDRESS_WRITABLE_PATHS)?;
        let key = RequestKey::new(tenant_id, "UpdateAddress", &request.request_id, &request)?;
        let change = |address: &crate::domain::address::Address| {
            let mut merged = address_to_proto(address);
            overlay_address(&mut merged, &input, &paths);
            Ok(address_fields(&merged)?)
        };
        let target = (id, input.etag.as_str(), input.override_validation);
        api.update_address(&caller, tenant_id, key, target, change, |address| UpdateAddressResponse {
            address: Some(address_to_proto(address)),
        })
        .await
    };
    Ok(Response::new(run.await?))
}

pub(super) async fn delete_address(
    api: &AccountsApi,
    request: Request<DeleteAddressRequest>,
) -> Result<Response<DeleteAddressResponse>, Status> {
    let (caller, tenant_id) = authorize(&request, WRITERS)?;
    let request = request.into_inner();
    let run = async {
        let id = parse_id("id", &request.id)?;
        let key = RequestKey::new(tenant_id, "DeleteAddress", &request.request_id, &request)?;
        api.delete_address(&caller, tenant_id, key, id, DeleteAddressResponse {}).await
    };
    Ok(Response::new(run.await?))
}

pub(super) async fn validate_address(
    api: &AccountsApi,
    request: Request<ValidateAddressRequest>,
) -> Result<Response<ValidateAddressResponse>, Status> {
    authorize(&request, READERS)?;
    let input = request.into_inner().address.unwrap_or_default();
    // Only the address parts matter here; type defaults to "other".
    let input = Address { r#type: if input.r#type == 0 { AddressType::Other as i32 } else { input.r#type }, ..input };
    let fields = address_fields(&input).map_err(AccountsError::from)?;
    let check = api.check_address(&fields).await;
    Ok(Response::new(ValidateAddressResponse { validation: Some(validation_to_proto(&check, false)) }))
}
