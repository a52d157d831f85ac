//! PaymentService: converts the wire to payments, credit notes, refunds and
//! write-offs and back; the use cases are in `app::payments`.

use bss_platform::auth::authorize;
use bss_platform::error::Violations;
use bss_platform::idempotency::RequestKey;
use bss_platform::input::{parse_id, parse_optional_id, required_id, required_text, time_zone_name};
use bss_platform::money::{Currency, amount_in};
use bss_proto::billing::payment_service_server::PaymentService;
use bss_proto::billing::*;
use bss_proto::types::Money;
use rust_decimal::Decimal;
use tonic::{Request, Response, Status};

use super::{BillingApi, ENQUIRERS, WRITERS};
use crate::app::payments::{CreditNote, Credited};
use crate::domain::error::BillingError;
use crate::wire;

/// Longest reason of a credit note, refund or write-off.
pub(crate) const MAX_REASON: usize = 500;

/// A positive amount of `currency` at its minor unit.
pub(crate) fn positive_amount(
    v: &mut Violations,
    field: &str,
    amount: Option<&Money>,
    currency: Currency,
) -> Option<Decimal> {
    if amount.is_some_and(|money| money.amount.trim_start().starts_with('-')) {
        v.add(format!("{field}.amount"), "must be greater than zero");
        return None;
    }
    let amount = amount_in(v, field, amount, currency)?;
    if amount <= Decimal::ZERO {
        v.add(format!("{field}.amount"), "must be greater than zero");
        return None;
    }
    if currency.round(amount) != amount {
        v.add(format!("{field}.amount"), format!("has more decimals than {} allows", currency.code));
        return None;
    }
    Some(amount)
}

/// An optional positive amount: `Some(None)` when unset, `None` after a
/// violation.
pub(crate) fn optional_positive_amount(
    v: &mut Violations,
    field: &str,
    amount: Option<&Money>,
    currency: Currency,
) -> Option<Option<Decimal>> {
    match amount {
        None => Some(None),
        Some(_) => positive_amount(v, field, amount, currency).map(Some),
    }
}

/// The lines a credit note names: (line number, amount or `None` for all
/// of the line not credited yet); `None` after a violation.
fn credited_lines(
    v: &mut Violations,
    lines: &[CreditedLine],
    currency: Currency,
) -> Option<Vec<(i32, Option<Decimal>)>> {
    let mut parsed = Vec::with_capacity(lines.len());
    let mut bad = false;
    for (index, line) in lines.iter().enumerate() {
        if line.line_number < 1 {
            v.add(format!("lines[{index}].line_number"), "must be 1 or more");
            bad = true;
        } else if parsed.iter().any(|(number, _)| *number == line.line_number) {
            v.add(format!("lines[{index}].line_number"), "names a line twice");
            bad = true;
        }
        let amount = match &line.amount {
            None => None,
            Some(_) => {
                let amount = positive_amount(v, &format!("lines[{index}].amount"), line.amount.as_ref(), currency);
                bad |= amount.is_none();
                amount
            }
        };
        parsed.push((line.line_number, amount));
    }
    (!bad).then_some(parsed)
}

/// What a credit note request credits, each bad field named.
fn credited(request: &CreateCreditNoteRequest, currency: Currency) -> Result<(Credited, String), BillingError> {
    let mut v = Violations::new();
    let against_lines = request.whole_invoice || !request.lines.is_empty();
    let amount = if against_lines {
        if request.amount.is_some() {
            v.add("amount", "must be empty when crediting an invoice's lines: it is their sum");
        }
        if request.invoice_id.is_empty() {
            v.add("invoice_id", "is required when crediting an invoice's lines");
        }
        if request.whole_invoice && !request.lines.is_empty() {
            v.add("lines", "must be empty when crediting the whole invoice");
        }
        Some(None)
    } else {
        positive_amount(&mut v, "amount", request.amount.as_ref(), currency).map(Some)
    };
    let lines = credited_lines(&mut v, &request.lines, currency);
    let reason = v.keep("reason", required_text(&request.reason, MAX_REASON));
    let first = v.keep("invoice_id", parse_optional_id(&request.invoice_id));
    let (Some(amount), Some(reason), Some(first), Some(lines)) = (amount, reason, first, lines) else {
        return Err(v.into());
    };
    v.into_result()?;
    let credited = match (amount, first) {
        (Some(amount), first) => Credited::Amount { amount, first },
        (None, Some(invoice_id)) => {
            Credited::Lines { invoice_id, lines: if request.whole_invoice { None } else { Some(lines) } }
        }
        (None, None) => return Err(Violations::single("invoice_id", "is required").into()),
    };
    Ok((credited, reason))
}

#[tonic::async_trait]
impl PaymentService for BillingApi {
    async fn record_payment(
        &self,
        request: Request<RecordPaymentRequest>,
    ) -> Result<Response<RecordPaymentResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let input = request.payment.clone().unwrap_or_default();
            let account_id = parse_id("payment.account_id", &input.account_id)?;
            let currency = self.account_currency(&caller, account_id).await?;
            let mut v = Violations::new();
            let amount = positive_amount(&mut v, "payment.amount", input.amount.as_ref(), currency);
            let first = v.keep("invoice_id", parse_optional_id(&request.invoice_id));
            let (Some(amount), Some(first)) = (amount, first) else {
                return Err(v.into());
            };
            let key = RequestKey::new(tenant_id, "RecordPayment", &request.request_id, &request)?;
            self.record_payment(&caller, tenant_id, key, (account_id, currency, amount, first), |payment| {
                RecordPaymentResponse { payment: Some(wire::payment(payment)) }
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn get_account_balance(
        &self,
        request: Request<GetAccountBalanceRequest>,
    ) -> Result<Response<GetAccountBalanceResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, ENQUIRERS)?;
        let run = async {
            let account_id =
                required_id(&request.get_ref().account_id).map_err(|error| Violations::single("account_id", error))?;
            let (currency, balance, outstanding, unsettled) = self.balance(&caller, tenant_id, account_id).await?;
            let wallet = self.wallet_of(tenant_id, account_id).await?;
            let money = |amount: Decimal| Some(wire::money_in(amount, currency));
            Ok::<_, BillingError>(GetAccountBalanceResponse {
                balance: money(balance),
                outstanding: money(outstanding),
                unsettled: money(unsettled),
                wallet_balance: wallet.and_then(|wallet| money(wallet.balance)),
            })
        };
        Ok(Response::new(run.await?))
    }

    async fn get_receivables_aging(
        &self,
        request: Request<GetReceivablesAgingRequest>,
    ) -> Result<Response<GetReceivablesAgingResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, ENQUIRERS)?;
        let request = request.into_inner();
        let run = async {
            let mut v = Violations::new();
            let account_id = v.keep("account_id", parse_optional_id(&request.account_id));
            let time_zone = v.keep("time_zone", time_zone_name(&request.time_zone));
            let (Some(account_id), Some(time_zone)) = (account_id, time_zone) else {
                return Err(v.into());
            };
            let (today, agings) = self.receivables_aging(&caller, tenant_id, account_id, &time_zone).await?;
            Ok::<_, BillingError>(GetReceivablesAgingResponse {
                aging: agings.iter().map(|(currency, aging)| wire::aging(aging, *currency)).collect(),
                as_of_date: bss_platform::time::format_date(today),
            })
        };
        Ok(Response::new(run.await?))
    }

    async fn create_credit_note(
        &self,
        request: Request<CreateCreditNoteRequest>,
    ) -> Result<Response<CreateCreditNoteResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let account_id = parse_id("account_id", &request.account_id)?;
            let currency = self.account_currency(&caller, account_id).await?;
            let (credit, reason) = credited(&request, currency)?;
            let key = RequestKey::new(tenant_id, "CreateCreditNote", &request.request_id, &request)?;
            let note = CreditNote { account_id, currency, credit, reason };
            self.create_credit_note(&caller, tenant_id, key, note, |note| CreateCreditNoteResponse {
                credit_note: Some(wire::adjustment(note)),
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn refund_credit(
        &self,
        request: Request<RefundCreditRequest>,
    ) -> Result<Response<RefundCreditResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let account_id = parse_id("account_id", &request.account_id)?;
            let currency = self.account_currency(&caller, account_id).await?;
            let mut v = Violations::new();
            let amount = positive_amount(&mut v, "amount", request.amount.as_ref(), currency);
            let reason = v.keep("reason", required_text(&request.reason, MAX_REASON));
            let (Some(amount), Some(reason)) = (amount, reason) else {
                return Err(v.into());
            };
            let key = RequestKey::new(tenant_id, "RefundCredit", &request.request_id, &request)?;
            self.refund_credit(&caller, tenant_id, key, (account_id, currency, amount, reason), |refund| {
                RefundCreditResponse { refund: Some(wire::adjustment(refund)) }
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn write_off_account(
        &self,
        request: Request<WriteOffAccountRequest>,
    ) -> Result<Response<WriteOffAccountResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let account_id = parse_id("account_id", &request.account_id)?;
            let reason =
                required_text(&request.reason, MAX_REASON).map_err(|error| Violations::single("reason", error))?;
            let currency = self.account_currency(&caller, account_id).await?;
            let key = RequestKey::new(tenant_id, "WriteOffAccount", &request.request_id, &request)?;
            self.write_off(&caller, tenant_id, key, (account_id, currency, reason), |write_off| {
                WriteOffAccountResponse { write_off: Some(wire::adjustment(write_off)) }
            })
            .await
        };
        Ok(Response::new(run.await?))
    }
}
