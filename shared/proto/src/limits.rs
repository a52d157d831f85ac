//! The size limit of every generated server, set through one trait so a
//! service's server applies its configured limit to each service it adds
//! (see `bss_platform::server::GrpcServer::add_service`).

/// A generated gRPC server whose largest message, in and out, can be set.
pub trait MessageLimits {
    /// The server with messages of at most `bytes` each way.
    fn limited(self, bytes: usize) -> Self;
}

macro_rules! limits {
    ($($module:ident :: $server:ident),+ $(,)?) => {
        $(
            impl<T> MessageLimits for $module::$server<T> {
                fn limited(self, bytes: usize) -> Self {
                    self.max_decoding_message_size(bytes).max_encoding_message_size(bytes)
                }
            }
        )+
    };
}

use crate::accounts::{
    account_event_service_server, account_service_server, custom_field_service_server, group_service_server,
    tenant_service_server, user_service_server,
};
use crate::billing::{
    asset_service_server, billing_event_service_server, billing_settings_service_server, invoice_service_server,
    ledger_service_server, location_service_server, order_service_server, payment_service_server,
    subscription_service_server, usage_service_server, wallet_service_server,
};
use crate::credit::{credit_event_service_server, credit_service_server, credit_settings_service_server};
use crate::pricing::{
    account_pricing_service_server, catalog_service_server, contract_service_server, exchange_rate_service_server,
    pricelist_service_server, quote_service_server,
};
use crate::provider::{address_validation_provider_service_server, credit_check_provider_service_server};
use crate::resellersync::reseller_sync_service_server;

limits!(
    account_event_service_server::AccountEventServiceServer,
    account_service_server::AccountServiceServer,
    custom_field_service_server::CustomFieldServiceServer,
    group_service_server::GroupServiceServer,
    tenant_service_server::TenantServiceServer,
    user_service_server::UserServiceServer,
    billing_event_service_server::BillingEventServiceServer,
    billing_settings_service_server::BillingSettingsServiceServer,
    invoice_service_server::InvoiceServiceServer,
    ledger_service_server::LedgerServiceServer,
    location_service_server::LocationServiceServer,
    order_service_server::OrderServiceServer,
    payment_service_server::PaymentServiceServer,
    subscription_service_server::SubscriptionServiceServer,
    wallet_service_server::WalletServiceServer,
    usage_service_server::UsageServiceServer,
    asset_service_server::AssetServiceServer,
    credit_event_service_server::CreditEventServiceServer,
    credit_service_server::CreditServiceServer,
    credit_settings_service_server::CreditSettingsServiceServer,
    account_pricing_service_server::AccountPricingServiceServer,
    catalog_service_server::CatalogServiceServer,
    contract_service_server::ContractServiceServer,
    exchange_rate_service_server::ExchangeRateServiceServer,
    pricelist_service_server::PricelistServiceServer,
    quote_service_server::QuoteServiceServer,
    address_validation_provider_service_server::AddressValidationProviderServiceServer,
    credit_check_provider_service_server::CreditCheckProviderServiceServer,
    reseller_sync_service_server::ResellerSyncServiceServer,
);
