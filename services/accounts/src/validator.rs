//! The address validator: the built-in checks, or an external provider
//! (`bss.provider.v1.AddressValidationProviderService`) when one is
//! configured. An unreachable provider falls back to the built-in checks.

use std::time::Duration;

use bss_proto::provider as wire;
use bss_proto::provider::address_validation_provider_service_client::AddressValidationProviderServiceClient;
use tonic::transport::Channel;

use crate::domain::address_check::{self, AddressCheck, AddressParts, Verdict};

#[derive(Clone, Debug)]
pub enum AddressValidator {
    Builtin,
    External(Channel),
}

impl AddressValidator {
    pub async fn check(&self, address: &AddressParts) -> AddressCheck {
        let AddressValidator::External(channel) = self else {
            return address_check::check(address);
        };
        let mut request = tonic::Request::new(wire::CheckAddressRequest { address: Some(to_wire(address)) });
        request.set_timeout(Duration::from_secs(3));
        match AddressValidationProviderServiceClient::new(channel.clone()).check_address(request).await {
            Ok(response) => from_wire(response.into_inner()),
            Err(status) => {
                tracing::warn!(code = ?status.code(), message = status.message(), "address provider failed; using the built-in checks");
                address_check::check(address)
            }
        }
    }
}

fn to_wire(address: &AddressParts) -> wire::PostalAddress {
    wire::PostalAddress {
        lines: address.lines.clone(),
        city: address.city.clone(),
        region: address.region.clone(),
        postal_code: address.postal_code.clone(),
        country_code: address.country_code.clone(),
    }
}

fn from_wire(response: wire::CheckAddressResponse) -> AddressCheck {
    let problems = response.problems.into_iter().map(|problem| (problem.field, problem.message)).collect();
    let verdict = match wire::CheckVerdict::try_from(response.verdict) {
        Ok(wire::CheckVerdict::Valid) => Verdict::Valid,
        Ok(wire::CheckVerdict::Corrected) => {
            let suggestion = response.suggestion.unwrap_or_default();
            Verdict::Corrected(AddressParts {
                lines: suggestion.lines,
                city: suggestion.city,
                region: suggestion.region,
                postal_code: suggestion.postal_code,
                country_code: suggestion.country_code,
            })
        }
        _ => Verdict::Invalid,
    };
    let validator = if response.provider.is_empty() { "external".to_owned() } else { response.provider };
    AddressCheck { verdict, problems, validator }
}
