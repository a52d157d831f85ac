//! The SANDBOX payment provider: a built-in stand-in for a payment
//! gateway's test mode, served as `bss.provider.v1.PaymentProviderService`
//! when `BSS_SANDBOX_PAYMENTS` is on (`make run` and the test suite turn it
//! on; a deployment plugs in a real gateway with `BSS_PAYMENT_PROVIDER_URL`).
//! It moves no money and forgets everything when the process stops.
//!
//! It answers by the payment method's token, as gateways' test cards do:
//! `tok_decline...` is declined, `tok_retry...` asks for a retry the first
//! time a reference uses it, any other token is approved. Every call is
//! idempotent by its reference, as the contract asks.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, PoisonError};

use bss_proto::provider::payment_provider_service_server::PaymentProviderService;
use bss_proto::provider::*;
use rust_decimal::Decimal;
use tonic::{Request, Response, Status};
use uuid::Uuid;

/// A token the sandbox declines.
const DECLINE: &str = "tok_decline";
/// A token the sandbox asks to retry once per reference.
const RETRY: &str = "tok_retry";

/// What the sandbox remembers of an authorization.
#[derive(Clone, Debug)]
struct Held {
    amount: Decimal,
    captured: Decimal,
    voided: bool,
}

/// What the sandbox remembers of a capture.
#[derive(Clone, Debug)]
struct Taken {
    amount: Decimal,
    refunded: Decimal,
}

#[derive(Debug, Default)]
struct Books {
    authorizations: HashMap<String, Held>,
    captures: HashMap<String, Taken>,
    /// Answers by reference: a repeated call answers the same.
    authorized: HashMap<String, AuthorizeResponse>,
    captured: HashMap<String, CaptureResponse>,
    refunded: HashMap<String, RefundResponse>,
    voided: HashMap<String, VoidResponse>,
    /// References a `tok_retry` token was told to retry.
    retried: HashSet<String>,
}

/// The sandbox payment provider.
#[derive(Debug, Default)]
pub struct SandboxPaymentProvider {
    books: Mutex<Books>,
}

fn amount_of(money: Option<&bss_proto::types::Money>) -> Result<Decimal, Status> {
    let amount = money.map(|money| money.amount.as_str()).unwrap_or_default();
    match amount.parse::<Decimal>() {
        Ok(amount) if amount > Decimal::ZERO => Ok(amount),
        _ => Err(Status::invalid_argument(format!("sandbox: the amount {amount:?} is not positive"))),
    }
}

fn declined(reason: &str) -> (i32, String) {
    (PaymentOutcome::Declined as i32, format!("sandbox: {reason}"))
}

impl Books {
    fn authorize(&mut self, request: &AuthorizeRequest, amount: Decimal) -> AuthorizeResponse {
        if let Some(answer) = self.authorized.get(&request.reference) {
            return answer.clone();
        }
        let token = request.payment_method_token.as_str();
        if token.starts_with(RETRY) && self.retried.insert(request.reference.clone()) {
            // Not remembered as the answer: the retry is approved.
            return AuthorizeResponse { outcome: PaymentOutcome::Retry as i32, ..AuthorizeResponse::default() };
        }
        let answer = if token.starts_with(DECLINE) {
            let (outcome, decline_reason) = declined("the card was declined (test token tok_decline)");
            AuthorizeResponse { outcome, decline_reason, ..AuthorizeResponse::default() }
        } else {
            let authorization_id = format!("sandbox_auth_{}", Uuid::now_v7().simple());
            self.authorizations
                .insert(authorization_id.clone(), Held { amount, captured: Decimal::ZERO, voided: false });
            AuthorizeResponse {
                outcome: PaymentOutcome::Approved as i32,
                authorization_id,
                ..AuthorizeResponse::default()
            }
        };
        self.authorized.insert(request.reference.clone(), answer.clone());
        answer
    }

    fn capture(&mut self, request: &CaptureRequest, amount: Decimal) -> CaptureResponse {
        if let Some(answer) = self.captured.get(&request.reference) {
            return answer.clone();
        }
        let answer = match self.authorizations.get_mut(&request.authorization_id) {
            Some(held) if !held.voided && held.captured + amount <= held.amount => {
                held.captured += amount;
                let capture_id = format!("sandbox_capture_{}", Uuid::now_v7().simple());
                self.captures.insert(capture_id.clone(), Taken { amount, refunded: Decimal::ZERO });
                CaptureResponse { outcome: PaymentOutcome::Approved as i32, capture_id, ..CaptureResponse::default() }
            }
            found => {
                let why = if found.is_some() { "more than the authorization holds" } else { "no such authorization" };
                let (outcome, decline_reason) = declined(why);
                CaptureResponse { outcome, decline_reason, ..CaptureResponse::default() }
            }
        };
        self.captured.insert(request.reference.clone(), answer.clone());
        answer
    }

    fn refund(&mut self, request: &RefundRequest, amount: Decimal) -> RefundResponse {
        if let Some(answer) = self.refunded.get(&request.reference) {
            return answer.clone();
        }
        let answer = match self.captures.get_mut(&request.capture_id) {
            Some(taken) if taken.refunded + amount <= taken.amount => {
                taken.refunded += amount;
                let refund_id = format!("sandbox_refund_{}", Uuid::now_v7().simple());
                RefundResponse { outcome: PaymentOutcome::Approved as i32, refund_id, ..RefundResponse::default() }
            }
            found => {
                let why = if found.is_some() { "more than is left of the capture" } else { "no such capture" };
                let (outcome, decline_reason) = declined(why);
                RefundResponse { outcome, decline_reason, ..RefundResponse::default() }
            }
        };
        self.refunded.insert(request.reference.clone(), answer.clone());
        answer
    }

    fn void(&mut self, request: &VoidRequest) -> VoidResponse {
        if let Some(answer) = self.voided.get(&request.reference) {
            return *answer;
        }
        let outcome = match self.authorizations.get_mut(&request.authorization_id) {
            Some(held) if held.captured == Decimal::ZERO => {
                held.voided = true;
                PaymentOutcome::Approved
            }
            _ => PaymentOutcome::Declined,
        };
        let answer = VoidResponse { outcome: outcome as i32 };
        self.voided.insert(request.reference.clone(), answer);
        answer
    }
}

impl SandboxPaymentProvider {
    fn books(&self) -> std::sync::MutexGuard<'_, Books> {
        self.books.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[tonic::async_trait]
impl PaymentProviderService for SandboxPaymentProvider {
    async fn authorize(&self, request: Request<AuthorizeRequest>) -> Result<Response<AuthorizeResponse>, Status> {
        let request = request.into_inner();
        let amount = amount_of(request.amount.as_ref())?;
        Ok(Response::new(self.books().authorize(&request, amount)))
    }

    async fn capture(&self, request: Request<CaptureRequest>) -> Result<Response<CaptureResponse>, Status> {
        let request = request.into_inner();
        let amount = amount_of(request.amount.as_ref())?;
        Ok(Response::new(self.books().capture(&request, amount)))
    }

    async fn refund(&self, request: Request<RefundRequest>) -> Result<Response<RefundResponse>, Status> {
        let request = request.into_inner();
        let amount = amount_of(request.amount.as_ref())?;
        Ok(Response::new(self.books().refund(&request, amount)))
    }

    async fn void(&self, request: Request<VoidRequest>) -> Result<Response<VoidResponse>, Status> {
        Ok(Response::new(self.books().void(&request.into_inner())))
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    fn authorize(token: &str, reference: &str) -> AuthorizeRequest {
        AuthorizeRequest {
            payment_method_token: token.to_owned(),
            reference: reference.to_owned(),
            ..AuthorizeRequest::default()
        }
    }

    #[test]
    fn tokens_decide_and_every_call_answers_once_per_reference() {
        let mut books = Books::default();
        let approved = books.authorize(&authorize("tok_visa", "a1"), dec!(30));
        assert_eq!(approved.outcome, PaymentOutcome::Approved as i32);
        assert_eq!(books.authorize(&authorize("tok_visa", "a1"), dec!(30)), approved, "a repeat answers the same");
        let declined = books.authorize(&authorize("tok_decline_insufficient", "a2"), dec!(30));
        assert_eq!(declined.outcome, PaymentOutcome::Declined as i32);
        assert!(declined.decline_reason.starts_with("sandbox:"));
        let retry = books.authorize(&authorize("tok_retry", "a3"), dec!(30));
        assert_eq!(retry.outcome, PaymentOutcome::Retry as i32);
        assert_eq!(books.authorize(&authorize("tok_retry", "a3"), dec!(30)).outcome, PaymentOutcome::Approved as i32);

        let capture = |id: &str, reference: &str| CaptureRequest {
            authorization_id: id.to_owned(),
            reference: reference.to_owned(),
            ..CaptureRequest::default()
        };
        let taken = books.capture(&capture(&approved.authorization_id, "c1"), dec!(30));
        assert_eq!(taken.outcome, PaymentOutcome::Approved as i32);
        assert_eq!(books.capture(&capture(&approved.authorization_id, "c1"), dec!(30)), taken, "captured once");
        let more = books.capture(&capture(&approved.authorization_id, "c2"), dec!(0.01));
        assert_eq!(more.outcome, PaymentOutcome::Declined as i32, "never more than authorized");

        let refund = |reference: &str| RefundRequest {
            capture_id: taken.capture_id.clone(),
            reference: reference.to_owned(),
            ..RefundRequest::default()
        };
        assert_eq!(books.refund(&refund("r1"), dec!(30)).outcome, PaymentOutcome::Approved as i32);
        assert_eq!(books.refund(&refund("r1"), dec!(30)).outcome, PaymentOutcome::Approved as i32, "same answer");
        assert_eq!(books.refund(&refund("r2"), dec!(1)).outcome, PaymentOutcome::Declined as i32, "refunded whole");
        let void = VoidRequest { authorization_id: approved.authorization_id.clone(), reference: "v1".to_owned() };
        assert_eq!(books.void(&void).outcome, PaymentOutcome::Declined as i32, "a captured authorization stays");
    }
}
