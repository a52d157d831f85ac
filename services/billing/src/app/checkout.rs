//! Payment at checkout: a card or PayPal order is paid at the payment
//! provider (`bss.provider.v1.PaymentProviderService`) before it is
//! executed, on the account's saved payment method; cancelling it refunds
//! the payment. Every call to the provider carries a reference derived from
//! the order's credit reference (itself from the caller's request id), so a
//! retried request takes the payment once.

use std::sync::Arc;

use bss_platform::client;
use bss_platform::money::money_to_wire;
use bss_platform::payment::PaymentType;
use bss_platform::time::now;
use bss_proto::credit::credit_service_client::CreditServiceClient;
use bss_proto::credit::{ListPaymentMethodsRequest, PaymentMethod, PaymentMethodKind};
use bss_proto::provider::payment_provider_service_client::PaymentProviderServiceClient;
use bss_proto::provider::payment_provider_service_server::PaymentProviderService;
use bss_proto::provider::*;
use rust_decimal::Decimal;
use tonic::transport::Channel;
use tonic::{Code, Request};
use uuid::Uuid;

use super::{Billing, PEER_TIMEOUT};
use crate::domain::checkout::{self as domain_checkout, TryState, try_reference};
use crate::domain::collection::{MethodKind, SavedMethod, Use, choose_method, method_kind};
use crate::domain::error::BillingError;
use crate::domain::order::{CardPayment, Order, PaymentStatus};
use crate::repo::{self, checkout};
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

/// The authorization of `amount` for `payer` with a method's token, under
/// `reference`'s authorize step.
fn authorize_request(
    (tenant_id, account_id): (Uuid, Uuid),
    token: &str,
    amount: &bss_proto::types::Money,
    reference: &str,
    description: String,
) -> AuthorizeRequest {
    AuthorizeRequest {
        tenant_id: tenant_id.to_string(),
        account_id: account_id.to_string(),
        payment_method_token: token.to_owned(),
        amount: Some(amount.clone()),
        reference: format!("{reference}:authorize"),
        description,
    }
}

/// The provider's answer to a refund: the refund's id, REFUND_DECLINED
/// when it refused, UNAVAILABLE when it asks to retry.
fn refund_id(refunded: RefundResponse) -> Result<String, BillingError> {
    match PaymentOutcome::try_from(refunded.outcome) {
        Ok(PaymentOutcome::Approved) => Ok(refunded.refund_id),
        Ok(PaymentOutcome::Declined) => Err(BillingError::precondition(
            "REFUND_DECLINED",
            format!("the payment provider refused the refund: {}", refunded.decline_reason),
        )),
        _ => Err(retry_later()),
    }
}

/// UNAVAILABLE: the provider asked for the same call again later.
fn retry_later() -> BillingError {
    BillingError::Unavailable { what: "payment provider", cause: "it asks to retry the payment".to_owned() }
}

/// What the provider made of a payment.
pub(crate) enum Charged {
    Captured { authorization_id: String, capture_id: String },
    Declined { authorization_id: String, reason: String },
}

/// A saved method as credit shows it, in billing's terms.
pub(crate) fn saved_method(method: &PaymentMethod) -> SavedMethod {
    SavedMethod {
        id: method.id.clone(),
        kind: match PaymentMethodKind::try_from(method.kind) {
            Ok(PaymentMethodKind::Wallet) => MethodKind::Wallet,
            _ => MethodKind::Card,
        },
        token_reference: method.token_reference.clone(),
        label: method.label.clone(),
        is_default: method.is_default,
        use_for_purchases: method.use_for_purchases,
        use_for_subscriptions: method.use_for_subscriptions,
        owner_user_id: Some(method.owner_user_id.clone()).filter(|owner| !owner.is_empty()),
    }
}

/// PAYMENT_METHOD_MISSING: the account has no saved method of the payment
/// type's kind opted in for `purpose`.
pub(crate) fn missing_method(account_id: Uuid, purpose: Use, payment_type: PaymentType) -> BillingError {
    let what = match purpose {
        Use::Purchases => "purchases",
        Use::Subscriptions => "subscriptions",
    };
    let kind = match method_kind(payment_type) {
        Some(MethodKind::Wallet) => "wallet",
        _ => "card",
    };
    BillingError::precondition(
        "PAYMENT_METHOD_MISSING",
        format!("account {account_id} has no saved {kind} opted in for {what}"),
    )
}

impl Billing {
    /// The saved payment methods `user` (a customer's user; `None`: the
    /// account itself) may pay with, as credit keeps them (asked as
    /// billing): the account's own and the user's own, each owner's default
    /// first.
    pub(crate) async fn saved_methods(
        &self,
        tenant_id: Uuid,
        account_id: Uuid,
        user: Option<Uuid>,
    ) -> Result<Vec<SavedMethod>, BillingError> {
        let service = self.as_service(tenant_id)?;
        let channel = self.peer("credit", &self.peers.credit)?;
        let request = ListPaymentMethodsRequest {
            account_id: account_id.to_string(),
            user_id: user.map(|user| user.to_string()).unwrap_or_default(),
            account_only: user.is_none(),
        };
        let answer = CreditServiceClient::new(channel)
            .list_payment_methods(client::request(request, &service, PEER_TIMEOUT))
            .await;
        match answer {
            Ok(answer) => Ok(answer.into_inner().methods.iter().map(saved_method).collect()),
            Err(status) if status.code() == Code::NotFound => Ok(Vec::new()),
            Err(status) => Err(client::service_peer_error("credit", status).into()),
        }
    }

    /// The saved method that pays for `purpose` with `payment_type` what
    /// `user` (a customer's user; `None`: the account) pays (see
    /// `choose_method`); PAYMENT_METHOD_MISSING when the account has none.
    pub(crate) async fn payment_method(
        &self,
        tenant_id: Uuid,
        account_id: Uuid,
        (purpose, payment_type, named): (Use, PaymentType, Option<&str>),
        user: Option<Uuid>,
    ) -> Result<SavedMethod, BillingError> {
        let methods = self.saved_methods(tenant_id, account_id, user).await?;
        let user = user.map(|user| user.to_string());
        choose_method(&methods, (purpose, method_kind(payment_type)), named, user.as_deref())
            .cloned()
            .ok_or_else(|| missing_method(account_id, purpose, payment_type))
    }

    /// Takes `amount` at the provider with a saved method's token:
    /// authorized, then captured (a declined capture releases its
    /// authorization). Each step's reference is `reference` and the step: a
    /// repeated call is answered as the first. A provider that asks to
    /// retry makes the call UNAVAILABLE.
    pub(crate) async fn charge(
        &self,
        (tenant_id, account_id): (Uuid, Uuid),
        token: &str,
        amount: bss_proto::types::Money,
        (reference, description): (&str, String),
    ) -> Result<Charged, BillingError> {
        let authorize = authorize_request((tenant_id, account_id), token, &amount, reference, description);
        let authorized = call!(&self.payments, authorize, authorize)?;
        match PaymentOutcome::try_from(authorized.outcome) {
            Ok(PaymentOutcome::Approved) => {}
            Ok(PaymentOutcome::Declined) => {
                return Ok(Charged::Declined { authorization_id: String::new(), reason: authorized.decline_reason });
            }
            _ => return Err(retry_later()),
        }
        let capture = CaptureRequest {
            authorization_id: authorized.authorization_id.clone(),
            amount: Some(amount),
            reference: format!("{reference}:capture"),
        };
        let captured = call!(&self.payments, capture, capture)?;
        match PaymentOutcome::try_from(captured.outcome) {
            Ok(PaymentOutcome::Approved) => {
                Ok(Charged::Captured { authorization_id: authorized.authorization_id, capture_id: captured.capture_id })
            }
            Ok(PaymentOutcome::Declined) => {
                // Nothing will be captured: the hold on the card goes.
                let void = VoidRequest {
                    authorization_id: authorized.authorization_id.clone(),
                    reference: format!("{reference}:void"),
                };
                if let Err(error) = call!(&self.payments, void, void) {
                    tracing::warn!(%error, %reference, "voiding a declined capture's authorization failed");
                }
                Ok(Charged::Declined { authorization_id: authorized.authorization_id, reason: captured.decline_reason })
            }
            _ => Err(retry_later()),
        }
    }

    /// Pays an order's total at the provider with `method` (the account's
    /// method for purchases). A declined payment is the order's answer (it is
    /// rejected); a provider that asks to retry makes the call UNAVAILABLE
    /// (nothing is stored, the retry pays once). Each try of the request is
    /// recorded first (see `domain::checkout`). The payment, and the try it
    /// was taken by (for [`Self::payment_unused`]).
    pub(crate) async fn take_payment(
        &self,
        tenant_id: Uuid,
        order: &Order,
        method: &SavedMethod,
    ) -> Result<(CardPayment, (String, i32)), BillingError> {
        let currency = repo::stored_currency(&order.currency)?;
        let base = format!("{tenant_id}:{}", order.reference);
        let tries = checkout::tries(&self.db, tenant_id, &base).await?;
        let (number, new) = domain_checkout::pay_as(&tries, order.total, now())?;
        let payer = (order.account_id, method.token_reference.as_str());
        let recorded = match new {
            true => checkout::start(&self.db, tenant_id, (&base, number), (order.total, currency.code), payer).await?,
            false => checkout::reclaim(&self.db, tenant_id, (&base, number)).await?,
        };
        if !recorded {
            // A racing retry recorded the try first, or the janitor is
            // giving it back: the retry after this one decides again.
            return Err(BillingError::Platform(bss_platform::error::PlatformError::RequestInProgress));
        }
        let this_try = (base.clone(), number);
        let charged = self
            .charge(
                (tenant_id, order.account_id),
                &method.token_reference,
                money_to_wire(order.total, currency),
                (&try_reference(&base, number), format!("order {}", order.id)),
            )
            .await;
        let state = match &charged {
            Ok(Charged::Captured { .. }) => TryState::Taken,
            Ok(Charged::Declined { .. }) => TryState::NotTaken,
            // The provider (or its absence) refused the request itself:
            // nothing was taken.
            Err(BillingError::Precondition { .. }) => TryState::NotTaken,
            // Not known (a retry asked for, an error): it may hold money
            // until a retry pays under it or the janitor gives it back.
            Err(_) => TryState::Unknown,
        };
        checkout::transition(&self.db, tenant_id, (&base, number), (&[TryState::Paying], state)).await?;
        let payment = |status, authorization_id, capture_id, decline_reason| CardPayment {
            status,
            amount: order.total,
            authorization_id,
            capture_id,
            refund_id: String::new(),
            decline_reason,
            from_wallet: false,
            refunded: Decimal::ZERO,
        };
        let payment = match charged? {
            Charged::Captured { authorization_id, capture_id } => {
                payment(PaymentStatus::Captured, authorization_id, capture_id, String::new())
            }
            Charged::Declined { authorization_id, reason } => {
                payment(PaymentStatus::Declined, authorization_id, String::new(), reason)
            }
        };
        Ok((payment, this_try))
    }

    /// Records that the order a try paid for could not be stored: the
    /// janitor gives its money back unless a retry pays under it first.
    /// (Best effort: a try left TAKEN is given back once no call can still
    /// store its order.)
    pub(crate) async fn payment_unused(&self, tenant_id: Uuid, (base, number): &(String, i32)) {
        let from = [TryState::Paying, TryState::Taken];
        if let Err(error) =
            checkout::transition(&self.db, tenant_id, (base, *number), (&from, TryState::Orphaned)).await
        {
            tracing::warn!(%error, reference = %base, "recording an unused payment failed");
        }
    }

    /// The janitor's round: what tries took for orders that were never
    /// stored is given back (see `domain::checkout::unused`), at most 50 a
    /// round; the number given back.
    pub async fn give_back_unused_payments(&self) -> Result<usize, BillingError> {
        let claimed = checkout::claim_unused(&self.db, 50).await?;
        let mut given = 0;
        for unused in &claimed {
            let reference = try_reference(&unused.reference, unused.number);
            let given_back = async {
                let amount = money_to_wire(unused.amount, repo::stored_currency(&unused.currency)?);
                let payer = (unused.tenant_id, unused.account_id);
                self.give_back_try(payer, &unused.token_reference, &reference, amount).await?;
                let claimed = (&[TryState::GivingBack][..], TryState::GivenBack);
                checkout::transition(&self.db, unused.tenant_id, (&unused.reference, unused.number), claimed).await
            };
            match given_back.await {
                Ok(_) => given += 1,
                // Left GIVING_BACK: claimed again once its claim is old.
                Err(error) => tracing::warn!(%error, %reference, "giving back an unused payment failed"),
            }
        }
        Ok(given)
    }

    /// Gives back what an earlier try under `reference` took, as the
    /// provider answers it again: its authorization released, or (captured)
    /// its capture refunded whole. Every step repeats the earlier try's
    /// references, so a repeat does it once.
    async fn give_back_try(
        &self,
        (tenant_id, account_id): (Uuid, Uuid),
        token: &str,
        reference: &str,
        amount: bss_proto::types::Money,
    ) -> Result<(), BillingError> {
        let approved = |outcome: i32| matches!(PaymentOutcome::try_from(outcome), Ok(PaymentOutcome::Approved));
        let description = "an earlier try, given back".to_owned();
        let authorize = authorize_request((tenant_id, account_id), token, &amount, reference, description);
        let authorized = match call!(&self.payments, authorize, authorize) {
            Ok(authorized) => authorized,
            // The provider refuses the request itself: it holds nothing.
            Err(BillingError::Precondition { .. }) => return Ok(()),
            Err(other) => return Err(other),
        };
        if !approved(authorized.outcome) {
            return Ok(());
        }
        let void = VoidRequest {
            authorization_id: authorized.authorization_id.clone(),
            reference: format!("{reference}:void"),
        };
        if approved(call!(&self.payments, void, void)?.outcome) {
            return Ok(());
        }
        let capture = CaptureRequest {
            authorization_id: authorized.authorization_id,
            amount: Some(amount.clone()),
            reference: format!("{reference}:capture"),
        };
        let captured = call!(&self.payments, capture, capture)?;
        if !approved(captured.outcome) {
            return Err(retry_later());
        }
        let refund = RefundRequest {
            capture_id: captured.capture_id,
            amount: Some(amount),
            reference: format!("{reference}:give-back"),
        };
        refund_id(call!(&self.payments, refund, refund)?).map(|_| ())
    }

    /// Gives back `amount` of an order's payment at the provider
    /// (REFUND_DECLINED when the provider refuses); the refund's id. `step`
    /// makes the provider's reference: a repeated step refunds once.
    pub(crate) async fn refund_payment(
        &self,
        tenant_id: Uuid,
        order: &Order,
        (payment, amount, step): (&CardPayment, Decimal, &str),
    ) -> Result<String, BillingError> {
        let currency = repo::stored_currency(&order.currency)?;
        let refund = RefundRequest {
            capture_id: payment.capture_id.clone(),
            amount: Some(money_to_wire(amount, currency)),
            reference: reference(tenant_id, order, step),
        };
        refund_id(call!(&self.payments, refund, refund)?)
    }
}
