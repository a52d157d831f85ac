//! Payment at checkout: a card or PayPal order is paid at the payment
//! provider (`bss.provider.v1.PaymentProviderService`) before it is
//! executed, on the account's saved payment method; cancelling it refunds
//! the payment. Every call to the provider carries a reference derived from
//! the order's credit reference (itself from the caller's request id), so a
//! retried request takes the payment once.

use std::sync::Arc;

use bss_platform::client;
use bss_platform::money::money_to_wire;
use bss_proto::credit::GetPaymentPreferenceRequest;
use bss_proto::credit::credit_service_client::CreditServiceClient;
use bss_proto::provider::payment_provider_service_client::PaymentProviderServiceClient;
use bss_proto::provider::payment_provider_service_server::PaymentProviderService;
use bss_proto::provider::*;
use tonic::transport::Channel;
use tonic::{Code, Request};
use uuid::Uuid;

use super::{Billing, PEER_TIMEOUT};
use crate::domain::error::BillingError;
use crate::domain::order::{CardPayment, Order, PaymentStatus};
use crate::repo;
use crate::sandbox::SandboxPaymentProvider;

/// The payment gateway card and PayPal orders are paid through.
#[derive(Clone, Debug, Default)]
pub enum PaymentProvider {
    /// None configured: card and PayPal orders are refused
    /// (PAYMENT_PROVIDER_MISSING).
    #[default]
    None,
    /// The built-in sandbox (a gateway's test mode: it moves no money).
    Sandbox(Arc<SandboxPaymentProvider>),
    /// A gateway implementing the contract.
    External(Channel),
}

/// One call of the contract, to whichever provider is configured.
macro_rules! call {
    ($provider:expr, $method:ident, $request:expr) => {
        match $provider {
            PaymentProvider::None => Err(BillingError::precondition(
                "PAYMENT_PROVIDER_MISSING",
                "no payment provider is configured: card and PayPal orders cannot be paid",
            )),
            PaymentProvider::Sandbox(sandbox) => {
                PaymentProviderService::$method(sandbox.as_ref(), Request::new($request))
                    .await
                    .map(tonic::Response::into_inner)
                    .map_err(provider_error)
            }
            PaymentProvider::External(channel) => {
                let mut request = Request::new($request);
                request.set_timeout(PEER_TIMEOUT);
                PaymentProviderServiceClient::new(channel.clone())
                    .$method(request)
                    .await
                    .map(tonic::Response::into_inner)
                    .map_err(provider_error)
            }
        }
    };
}

/// A provider's error: a refusal of the request itself is the payment's
/// (PAYMENT_REFUSED, not retried); anything else is UNAVAILABLE.
fn provider_error(status: tonic::Status) -> BillingError {
    match status.code() {
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => BillingError::precondition(
            "PAYMENT_REFUSED",
            format!("the payment provider refused the payment: {}", status.message()),
        ),
        _ => BillingError::Unavailable { what: "payment provider", cause: status.message().to_owned() },
    }
}

/// The provider reference of one step of an order's payment: the tenant's,
/// unique per order reference (itself from the caller's request id).
fn reference(tenant_id: Uuid, order: &Order, step: &str) -> String {
    format!("{tenant_id}:{}:{step}", order.reference)
}

/// UNAVAILABLE: the provider asked for the same call again later.
fn retry_later() -> BillingError {
    BillingError::Unavailable { what: "payment provider", cause: "it asks to retry the payment".to_owned() }
}

impl Billing {
    /// The token of the account's saved payment method for purchases, as
    /// credit keeps it (PAYMENT_METHOD_MISSING when there is none).
    async fn payment_method(&self, tenant_id: Uuid, account_id: Uuid) -> Result<String, BillingError> {
        let missing = || {
            BillingError::precondition(
                "PAYMENT_METHOD_MISSING",
                format!("account {account_id} has no saved payment method for purchases"),
            )
        };
        let service = self.as_service(tenant_id)?;
        let channel = self.peer("credit", &self.peers.credit)?;
        let request = GetPaymentPreferenceRequest { account_id: account_id.to_string() };
        let answer = CreditServiceClient::new(channel)
            .get_payment_preference(client::request(request, &service, PEER_TIMEOUT))
            .await;
        match answer {
            Ok(answer) => match answer.into_inner().preference {
                Some(preference) if preference.use_for_purchases && !preference.card_token_reference.is_empty() => {
                    Ok(preference.card_token_reference)
                }
                _ => Err(missing()),
            },
            Err(status) if status.code() == Code::NotFound => Err(missing()),
            Err(status) => Err(client::service_peer_error("credit", status).into()),
        }
    }

    /// Pays an order's total at the provider: authorized, then captured.
    /// A declined payment is the order's answer (it is rejected); a
    /// provider that asks to retry makes the call UNAVAILABLE (nothing is
    /// stored, the retry pays once).
    pub(crate) async fn take_payment(&self, tenant_id: Uuid, order: &Order) -> Result<CardPayment, BillingError> {
        let token = self.payment_method(tenant_id, order.account_id).await?;
        let currency = repo::stored_currency(&order.currency)?;
        let amount = Some(money_to_wire(order.total, currency));
        let authorize = AuthorizeRequest {
            tenant_id: tenant_id.to_string(),
            account_id: order.account_id.to_string(),
            payment_method_token: token,
            amount: amount.clone(),
            reference: reference(tenant_id, order, "authorize"),
            description: format!("order {}", order.id),
        };
        let authorized = call!(&self.payments, authorize, authorize)?;
        let declined = |reason: String, authorization_id: String| CardPayment {
            status: PaymentStatus::Declined,
            amount: order.total,
            authorization_id,
            capture_id: String::new(),
            refund_id: String::new(),
            decline_reason: reason,
        };
        match PaymentOutcome::try_from(authorized.outcome) {
            Ok(PaymentOutcome::Approved) => {}
            Ok(PaymentOutcome::Declined) => return Ok(declined(authorized.decline_reason, String::new())),
            _ => return Err(retry_later()),
        }
        let capture = CaptureRequest {
            authorization_id: authorized.authorization_id.clone(),
            amount,
            reference: reference(tenant_id, order, "capture"),
        };
        let captured = call!(&self.payments, capture, capture)?;
        match PaymentOutcome::try_from(captured.outcome) {
            Ok(PaymentOutcome::Approved) => Ok(CardPayment {
                status: PaymentStatus::Captured,
                amount: order.total,
                authorization_id: authorized.authorization_id,
                capture_id: captured.capture_id,
                refund_id: String::new(),
                decline_reason: String::new(),
            }),
            Ok(PaymentOutcome::Declined) => {
                // Nothing will be captured: the hold on the card goes.
                let void = VoidRequest {
                    authorization_id: authorized.authorization_id.clone(),
                    reference: reference(tenant_id, order, "void"),
                };
                if let Err(error) = call!(&self.payments, void, void) {
                    tracing::warn!(%error, order_id = %order.id, "voiding a declined capture's authorization failed");
                }
                Ok(declined(captured.decline_reason, authorized.authorization_id))
            }
            _ => Err(retry_later()),
        }
    }

    /// Gives back what a cancelled order's payment took (REFUND_DECLINED
    /// when the provider refuses); the payment as it is afterwards.
    pub(crate) async fn refund_payment(
        &self,
        tenant_id: Uuid,
        order: &Order,
        payment: &CardPayment,
    ) -> Result<CardPayment, BillingError> {
        let currency = repo::stored_currency(&order.currency)?;
        let refund = RefundRequest {
            capture_id: payment.capture_id.clone(),
            amount: Some(money_to_wire(payment.amount, currency)),
            reference: reference(tenant_id, order, "refund"),
        };
        let refunded = call!(&self.payments, refund, refund)?;
        match PaymentOutcome::try_from(refunded.outcome) {
            Ok(PaymentOutcome::Approved) => {
                Ok(CardPayment { status: PaymentStatus::Refunded, refund_id: refunded.refund_id, ..payment.clone() })
            }
            Ok(PaymentOutcome::Declined) => Err(BillingError::precondition(
                "REFUND_DECLINED",
                format!("the payment provider refused the refund: {}", refunded.decline_reason),
            )),
            _ => Err(retry_later()),
        }
    }
}
