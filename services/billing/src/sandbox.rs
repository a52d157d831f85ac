//! The SANDBOX payment provider: a built-in stand-in for a payment
//! gateway's test mode, served as `bss.provider.v1.PaymentProviderService`
//! when `BSS_SANDBOX_PAYMENTS` is on (`make run` and the test suite turn it
//! on; a deployment plugs in a real gateway with `BSS_PAYMENT_PROVIDER_URL`).
//! It moves no money. Its books (what it authorized and captured under
//! which reference, and its answer to each call) are kept in billing's
//! database, the `sandbox_*` tables, through a pool of their own, so a
//! restart forgets nothing: a capture taken before it is refunded after it.
//!
//! It answers by the payment method's token, as gateways' test cards do:
//! `tok_decline...` is declined, `tok_retry...` asks for a retry the first
//! time a reference uses it, `tok_capture_decline...` is authorized and its
//! capture declined, any other token is approved. Every call is
//! idempotent by its reference, as the contract asks: the first answer is
//! stored and a repeated call gets it (calls under one reference wait for
//! each other).

use bss_proto::provider::payment_provider_service_server::PaymentProviderService;
use bss_proto::provider::*;
use prost::Message;
use rust_decimal::Decimal;
use sqlx::{PgConnection, PgPool};
use tonic::{Request, Response, Status};
use uuid::Uuid;

/// A token the sandbox declines.
const DECLINE: &str = "tok_decline";
/// A token the sandbox asks to retry once per reference.
const RETRY: &str = "tok_retry";
/// A token whose authorization the sandbox approves and whose capture it
/// declines.
const CAPTURE_DECLINE: &str = "tok_capture_decline";

/// What the sandbox holds of an authorization.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
struct Held {
    amount: Decimal,
    captured: Decimal,
    voided: bool,
    declines_capture: bool,
}

/// What the sandbox holds of a capture.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
struct Taken {
    amount: Decimal,
    refunded: Decimal,
}

/// The first answer to an authorization with a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Authorized {
    /// Try again (not the reference's answer: the retry is approved).
    Retry,
    Declined,
    Approved,
}

/// How the sandbox answers an authorization with `token` under a
/// reference it told to retry before or not.
fn authorized(token: &str, retried_before: bool) -> Authorized {
    if token.starts_with(RETRY) && !retried_before {
        Authorized::Retry
    } else if token.starts_with(DECLINE) {
        Authorized::Declined
    } else {
        Authorized::Approved
    }
}

/// Why capturing `amount` of `held` is declined; `None`: it is captured.
fn capture_refusal(held: Option<&Held>, amount: Decimal) -> Option<&'static str> {
    match held {
        None => Some("no such authorization"),
        Some(held) if held.declines_capture => Some("the capture was declined (test token tok_capture_decline)"),
        Some(held) if held.voided => Some("the authorization was voided"),
        Some(held) if held.captured + amount > held.amount => Some("more than the authorization holds"),
        Some(_) => None,
    }
}

/// Why refunding `amount` of `taken` is declined; `None`: it is refunded.
fn refund_refusal(taken: Option<&Taken>, amount: Decimal) -> Option<&'static str> {
    match taken {
        None => Some("no such capture"),
        Some(taken) if taken.refunded + amount > taken.amount => Some("more than is left of the capture"),
        Some(_) => None,
    }
}

/// Whether `held` may be voided: only while nothing of it is captured.
fn voidable(held: Option<&Held>) -> bool {
    held.is_some_and(|held| held.captured == Decimal::ZERO)
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

fn books_error(error: sqlx::Error) -> Status {
    Status::unavailable(format!("sandbox: its books cannot be read or written: {error}"))
}

/// A new id of the sandbox's, `kind` first.
fn new_id(kind: &str) -> String {
    format!("sandbox_{kind}_{}", Uuid::now_v7().simple())
}

/// The sandbox payment provider, its books in `db`.
#[derive(Clone, Debug)]
pub struct SandboxPaymentProvider {
    db: PgPool,
}

impl SandboxPaymentProvider {
    pub fn new(db: PgPool) -> SandboxPaymentProvider {
        SandboxPaymentProvider { db }
    }

    /// Answers `call` under `reference` once: the answer stored for it,
    /// else what `decide` makes (stored unless it says not to), with every
    /// other call under the reference waiting.
    async fn once<A: Message + Default>(
        &self,
        call: &str,
        reference: &str,
        decide: impl AsyncFnOnce(&mut PgConnection) -> Result<(A, bool), sqlx::Error>,
    ) -> Result<A, Status> {
        let mut tx = self.db.begin().await.map_err(books_error)?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('sandbox/' || $1 || '/' || $2, 0))")
            .bind(call)
            .bind(reference)
            .execute(&mut *tx)
            .await
            .map_err(books_error)?;
        let stored: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT answer FROM billing.sandbox_answers WHERE call = $1 AND reference = $2")
                .bind(call)
                .bind(reference)
                .fetch_optional(&mut *tx)
                .await
                .map_err(books_error)?;
        if let Some(stored) = stored {
            return A::decode(stored.as_slice()).map_err(|error| Status::internal(format!("sandbox: {error}")));
        }
        let (answer, remembered) = decide(&mut tx).await.map_err(books_error)?;
        if remembered {
            sqlx::query("INSERT INTO billing.sandbox_answers (call, reference, answer) VALUES ($1, $2, $3)")
                .bind(call)
                .bind(reference)
                .bind(answer.encode_to_vec())
                .execute(&mut *tx)
                .await
                .map_err(books_error)?;
        }
        tx.commit().await.map_err(books_error)?;
        Ok(answer)
    }
}

async fn held(tx: &mut PgConnection, id: &str) -> Result<Option<Held>, sqlx::Error> {
    sqlx::query_as(
        "SELECT amount, captured, voided, declines_capture FROM billing.sandbox_authorizations WHERE id = $1 FOR UPDATE",
    )
        .bind(id)
        .fetch_optional(tx)
        .await
}

#[tonic::async_trait]
impl PaymentProviderService for SandboxPaymentProvider {
    async fn authorize(&self, request: Request<AuthorizeRequest>) -> Result<Response<AuthorizeResponse>, Status> {
        let request = request.into_inner();
        let amount = amount_of(request.amount.as_ref())?;
        let answer = self
            .once("authorize", &request.reference, async |tx| {
                let retried_before = sqlx::query("SELECT 1 FROM billing.sandbox_retried WHERE reference = $1")
                    .bind(&request.reference)
                    .fetch_optional(&mut *tx)
                    .await?
                    .is_some();
                Ok(match authorized(&request.payment_method_token, retried_before) {
                    Authorized::Retry => {
                        sqlx::query("INSERT INTO billing.sandbox_retried (reference) VALUES ($1)")
                            .bind(&request.reference)
                            .execute(&mut *tx)
                            .await?;
                        (AuthorizeResponse { outcome: PaymentOutcome::Retry as i32, ..Default::default() }, false)
                    }
                    Authorized::Declined => {
                        let (outcome, decline_reason) = declined("the card was declined (test token tok_decline)");
                        (AuthorizeResponse { outcome, decline_reason, ..Default::default() }, true)
                    }
                    Authorized::Approved => {
                        let authorization_id = new_id("auth");
                        sqlx::query(
                            "INSERT INTO billing.sandbox_authorizations (id, reference, amount, declines_capture)
                             VALUES ($1, $2, $3, $4)",
                        )
                        .bind(&authorization_id)
                        .bind(&request.reference)
                        .bind(amount)
                        .bind(request.payment_method_token.starts_with(CAPTURE_DECLINE))
                        .execute(&mut *tx)
                        .await?;
                        let outcome = PaymentOutcome::Approved as i32;
                        (AuthorizeResponse { outcome, authorization_id, ..Default::default() }, true)
                    }
                })
            })
            .await?;
        Ok(Response::new(answer))
    }

    async fn capture(&self, request: Request<CaptureRequest>) -> Result<Response<CaptureResponse>, Status> {
        let request = request.into_inner();
        let amount = amount_of(request.amount.as_ref())?;
        let answer = self
            .once("capture", &request.reference, async |tx| {
                let held = held(tx, &request.authorization_id).await?;
                if let Some(why) = capture_refusal(held.as_ref(), amount) {
                    let (outcome, decline_reason) = declined(why);
                    return Ok((CaptureResponse { outcome, decline_reason, ..Default::default() }, true));
                }
                sqlx::query("UPDATE billing.sandbox_authorizations SET captured = captured + $2 WHERE id = $1")
                    .bind(&request.authorization_id)
                    .bind(amount)
                    .execute(&mut *tx)
                    .await?;
                let capture_id = new_id("capture");
                sqlx::query(
                    "INSERT INTO billing.sandbox_captures (id, authorization_id, reference, amount)
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(&capture_id)
                .bind(&request.authorization_id)
                .bind(&request.reference)
                .bind(amount)
                .execute(&mut *tx)
                .await?;
                Ok((
                    CaptureResponse { outcome: PaymentOutcome::Approved as i32, capture_id, ..Default::default() },
                    true,
                ))
            })
            .await?;
        Ok(Response::new(answer))
    }

    async fn refund(&self, request: Request<RefundRequest>) -> Result<Response<RefundResponse>, Status> {
        let request = request.into_inner();
        let amount = amount_of(request.amount.as_ref())?;
        let answer = self
            .once("refund", &request.reference, async |tx| {
                let taken: Option<Taken> =
                    sqlx::query_as("SELECT amount, refunded FROM billing.sandbox_captures WHERE id = $1 FOR UPDATE")
                        .bind(&request.capture_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                if let Some(why) = refund_refusal(taken.as_ref(), amount) {
                    let (outcome, decline_reason) = declined(why);
                    return Ok((RefundResponse { outcome, decline_reason, ..Default::default() }, true));
                }
                sqlx::query("UPDATE billing.sandbox_captures SET refunded = refunded + $2 WHERE id = $1")
                    .bind(&request.capture_id)
                    .bind(amount)
                    .execute(&mut *tx)
                    .await?;
                let refund_id = new_id("refund");
                Ok((RefundResponse { outcome: PaymentOutcome::Approved as i32, refund_id, ..Default::default() }, true))
            })
            .await?;
        Ok(Response::new(answer))
    }

    async fn void(&self, request: Request<VoidRequest>) -> Result<Response<VoidResponse>, Status> {
        let request = request.into_inner();
        let answer = self
            .once("void", &request.reference, async |tx| {
                let held = held(tx, &request.authorization_id).await?;
                if !voidable(held.as_ref()) {
                    return Ok((VoidResponse { outcome: PaymentOutcome::Declined as i32 }, true));
                }
                sqlx::query("UPDATE billing.sandbox_authorizations SET voided = true WHERE id = $1")
                    .bind(&request.authorization_id)
                    .execute(&mut *tx)
                    .await?;
                Ok((VoidResponse { outcome: PaymentOutcome::Approved as i32 }, true))
            })
            .await?;
        Ok(Response::new(answer))
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    #[test]
    fn tokens_decide_an_authorization_and_a_retry_token_is_approved_the_second_time() {
        assert_eq!(authorized("tok_visa", false), Authorized::Approved);
        assert_eq!(authorized("tok_decline_insufficient", false), Authorized::Declined);
        assert_eq!(authorized("tok_retry", false), Authorized::Retry);
        assert_eq!(authorized("tok_retry", true), Authorized::Approved);
        assert_eq!(authorized("tok_retry_decline", true), Authorized::Approved, "a retry token is not a decline");
        assert_eq!(authorized("tok_capture_decline", false), Authorized::Approved, "its capture is what fails");
    }

    #[test]
    fn never_more_is_captured_than_held_nor_refunded_than_captured() {
        let held = Held { amount: dec!(30), captured: dec!(10), voided: false, declines_capture: false };
        assert_eq!(capture_refusal(Some(&held), dec!(20)), None);
        assert!(capture_refusal(Some(&held), dec!(20.01)).is_some());
        assert!(capture_refusal(Some(&Held { voided: true, ..held.clone() }), dec!(1)).is_some());
        assert!(capture_refusal(None, dec!(1)).is_some());
        let declining = Held { declines_capture: true, captured: dec!(0), ..held.clone() };
        assert!(capture_refusal(Some(&declining), dec!(1)).is_some(), "its test token declines every capture");
        assert!(voidable(Some(&declining)), "and its authorization may be voided");
        let taken = Taken { amount: dec!(30), refunded: dec!(29.99) };
        assert_eq!(refund_refusal(Some(&taken), dec!(0.01)), None);
        assert!(refund_refusal(Some(&taken), dec!(0.02)).is_some());
        assert!(refund_refusal(None, dec!(1)).is_some());
        assert!(!voidable(Some(&held)), "a captured authorization stays");
        assert!(voidable(Some(&Held { captured: dec!(0), ..held })));
        assert!(!voidable(None));
    }
}
