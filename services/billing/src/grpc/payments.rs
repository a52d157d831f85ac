//! PaymentService: payments settling invoices, and the account's balance.

use bss_platform::auth::authorize;
use bss_platform::error::Violations;
use bss_platform::idempotency::Opened;
use bss_platform::input::{parse_id, parse_optional_id, required_id};
use bss_platform::money::{Currency, amount_in, money_to_wire};
use bss_platform::time::{now, timestamp};
use bss_proto::billing::billing_event::Payload;
use bss_proto::billing::payment_service_server::PaymentService;
use bss_proto::billing::*;
use rust_decimal::Decimal;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{BillingApi, READERS, WRITERS, publish};
use crate::domain::error::BillingError;
use crate::domain::settle::allocate;
use crate::repo;

fn money(amount: Decimal, currency: Currency) -> bss_proto::types::Money {
    money_to_wire(currency.round(amount), currency)
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
            let amount = amount_in(&mut v, "payment.amount", input.amount.as_ref(), currency);
            if amount.is_some_and(|amount| amount <= Decimal::ZERO) {
                v.add("payment.amount.amount", "must be greater than zero");
            }
            if amount.is_some_and(|amount| currency.round(amount) != amount) {
                v.add("payment.amount.amount", format!("has more decimals than {} allows", currency.code));
            }
            let first = v.keep("invoice_id", parse_optional_id(&request.invoice_id));
            let (Some(amount), Some(first)) = (amount, first) else {
                return Err(v.into());
            };
            v.into_result()?;
            let (mut tx, pending) = match self.begin(tenant_id, "RecordPayment", &request.request_id, &request).await? {
                Opened::Replayed(response) => return Ok(response),
                Opened::Fresh(tx, pending) => (tx, pending),
            };
            let open = repo::lock_open_invoices(&mut tx, tenant_id, account_id).await?;
            if let Some(first) = first
                && !open.iter().any(|(invoice, _)| invoice.id == first)
            {
                return Err(BillingError::precondition(
                    "INVOICE_NOT_OPEN",
                    format!("invoice {first} is not a posted, unsettled invoice of the account"),
                ));
            }
            let invoices: Vec<_> = open.iter().map(|(invoice, _)| invoice.clone()).collect();
            let (allocations, unallocated) = allocate(amount, &invoices, first);
            let payment_id = Uuid::now_v7();
            let mut settled_in_full = Vec::new();
            let mut lines = Vec::with_capacity(allocations.len());
            for (invoice_id, paid) in &allocations {
                let settled = repo::settle(&mut tx, tenant_id, *invoice_id, *paid).await?;
                let number =
                    open.iter().find(|(invoice, _)| invoice.id == *invoice_id).map_or(0, |(_, number)| *number);
                if settled {
                    settled_in_full.push(*invoice_id);
                }
                lines.push(Allocation {
                    invoice_id: invoice_id.to_string(),
                    invoice_number: number,
                    amount: Some(money(*paid, currency)),
                    settled,
                });
            }
            let created_at = repo::insert_payment(
                &mut tx,
                tenant_id,
                payment_id,
                account_id,
                currency,
                amount,
                unallocated,
                &allocations,
            )
            .await?;
            let posted = PaymentPosted {
                payment_id: payment_id.to_string(),
                account_id: account_id.to_string(),
                amount: Some(money(amount, currency)),
            };
            publish(&mut tx, tenant_id, &caller, Payload::PaymentPosted(posted)).await?;
            for invoice_id in settled_in_full {
                let settled = InvoiceSettled { invoice_id: invoice_id.to_string(), account_id: account_id.to_string() };
                publish(&mut tx, tenant_id, &caller, Payload::InvoiceSettled(settled)).await?;
            }
            let response = RecordPaymentResponse {
                payment: Some(Payment {
                    id: payment_id.to_string(),
                    account_id: account_id.to_string(),
                    amount: Some(money(amount, currency)),
                    allocations: lines,
                    unallocated: Some(money(unallocated, currency)),
                    create_time: Some(timestamp(created_at)),
                }),
            };
            self.commit(tx, pending, &response).await?;
            Ok::<_, BillingError>(response)
        };
        Ok(Response::new(run.await?))
    }

    async fn get_account_balance(
        &self,
        request: Request<GetAccountBalanceRequest>,
    ) -> Result<Response<GetAccountBalanceResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, READERS)?;
        let run = async {
            let mut v = Violations::new();
            let account_id = v.keep("account_id", required_id(&request.get_ref().account_id));
            let Some(account_id) = account_id else {
                return Err(v.into());
            };
            let currency = self.account_currency(&caller, account_id).await?;
            let mut connection = self.db.acquire().await?;
            let (balance, outstanding, unsettled) =
                repo::balance(&mut connection, tenant_id, account_id, now().date_naive()).await?;
            Ok::<_, BillingError>(GetAccountBalanceResponse {
                balance: Some(money(balance, currency)),
                outstanding: Some(money(outstanding, currency)),
                unsettled: Some(money(unsettled, currency)),
            })
        };
        Ok(Response::new(run.await?))
    }
}
