//! ImportAccounts and ImportAccountsWithProgress: the stream of rows
//! gathered and each row parsed here; `app::import` applies them.

use std::panic::AssertUnwindSafe;

use bss_platform::error::Violations;
use bss_platform::fairness::Detach;
use bss_platform::idempotency::RequestKey;
use bss_platform::payment::PaymentType;
use bss_proto::accounts::*;
use futures::{FutureExt, Stream, StreamExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};
use tracing::Instrument;
use uuid::Uuid;

use super::{AccountsApi, WRITERS, authorize};
use crate::app::import::{ImportedAccount, Outcome, RowResult, problems};
use crate::domain::account::Problem;
use crate::domain::error::AccountsError;
use crate::wire::{account_fields, optional_currency, warning};

/// Most rows one import may carry.
const MAX_ROWS: usize = 100_000;

/// Every message of the stream (its rows and request id) as one request:
/// the first message's request id and every row.
async fn gather(
    mut stream: impl Stream<Item = Result<(Vec<ImportRow>, String), Status>> + Unpin,
) -> Result<ImportAccountsRequest, AccountsError> {
    let mut whole = ImportAccountsRequest::default();
    let mut first = true;
    while let Some(message) = stream.next().await {
        let (rows, request_id) = message.map_err(|status| match status.code() {
            tonic::Code::ResourceExhausted => AccountsError::MessageTooLarge(status.message().to_owned()),
            _ => Violations::single("rows", format!("the stream broke: {}", status.message())).into(),
        })?;
        if first {
            whole.request_id = request_id;
            first = false;
        }
        whole.rows.extend(rows);
        if whole.rows.len() > MAX_ROWS {
            return Err(Violations::single("rows", format!("at most {MAX_ROWS} rows per import")).into());
        }
    }
    Ok(whole)
}

/// Parses one row: the account's values, the payment type codes and the
/// external key.
fn parse_row(row: &ImportRow) -> Result<ImportedAccount, Vec<Problem>> {
    let input = row.account.clone().unwrap_or_default();
    let mut violations = Violations::new();
    if input.external_key.trim().is_empty() {
        violations.add("account.external_key", "an import updates by external key: it is required");
    }
    let payment_types = if row.payment_type_codes.trim().is_empty() {
        None
    } else {
        violations.keep("payment_type_codes", parse_payment_codes(&row.payment_type_codes))
    };
    let currency = optional_currency(&input.currency_code);
    let fields = account_fields(&bss_proto::accounts::Account { managed_by: None, ..input.clone() });
    let (mut fields, currency) = match (fields, currency) {
        (Ok(fields), Ok(currency)) if violations.is_empty() => (fields, currency),
        (fields, currency) => {
            violations.extend(fields.err().unwrap_or_default());
            violations.extend(currency.err().unwrap_or_default());
            return Err(problems(&violations, "INVALID_ARGUMENT"));
        }
    };
    if let Some(payment_types) = payment_types {
        fields.payment_types = payment_types;
    }
    Ok(ImportedAccount {
        external_key: input.external_key.trim().to_owned(),
        fields,
        currency,
        create_user: row.create_user,
    })
}

/// "AC, cc,DD": payment types by code, without repeats.
fn parse_payment_codes(codes: &str) -> Result<Vec<PaymentType>, String> {
    let mut types = Vec::new();
    for code in codes.split(',').filter(|code| !code.trim().is_empty()) {
        let payment_type = PaymentType::from_code(code)?;
        if !types.contains(&payment_type) {
            types.push(payment_type);
        }
    }
    Ok(types)
}

fn outcome_to_wire(outcome: Outcome) -> ImportOutcome {
    match outcome {
        Outcome::Created => ImportOutcome::Created,
        Outcome::Updated => ImportOutcome::Updated,
        Outcome::Rejected => ImportOutcome::Rejected,
    }
}

fn import_response(results: &[RowResult]) -> ImportAccountsResponse {
    let count = |outcome| results.iter().filter(|result| result.outcome == outcome).count() as i32;
    ImportAccountsResponse {
        created: count(Outcome::Created),
        updated: count(Outcome::Updated),
        rejected: count(Outcome::Rejected),
        results: results
            .iter()
            .map(|result| ImportRowResult {
                line: result.line,
                outcome: outcome_to_wire(result.outcome) as i32,
                account_id: result.account_id.map(|id| id.to_string()).unwrap_or_default(),
                problems: result.problems.iter().map(warning).collect(),
            })
            .collect(),
    }
}

pub(super) async fn import_accounts(
    api: &AccountsApi,
    request: Request<Streaming<ImportAccountsRequest>>,
) -> Result<Response<ImportAccountsResponse>, Status> {
    let (caller, tenant_id) = authorize(&request, WRITERS)?;
    let run = async {
        let whole = gather(request.into_inner().map(|message| message.map(|m| (m.rows, m.request_id)))).await?;
        let (key, rows) = prepare(tenant_id, &whole)?;
        api.import(&caller, tenant_id, key, rows, import_response, |_| {}).await
    };
    Ok(Response::new(run.await?))
}

/// The answer of ImportAccountsWithProgress, as it goes.
pub(super) type ProgressStream = ReceiverStream<Result<ImportAccountsWithProgressResponse, Status>>;

/// Progress messages a slow reader has not taken yet; more are dropped (the
/// next one says as much), the last one never is.
const PROGRESS_BUFFER: usize = 16;

pub(super) async fn import_accounts_with_progress(
    api: &AccountsApi,
    request: Request<Streaming<ImportAccountsWithProgressRequest>>,
) -> Result<Response<ProgressStream>, Status> {
    let (caller, tenant_id) = authorize(&request, WRITERS)?;
    let detach = request.extensions().get::<Detach>().cloned();
    let whole = gather(request.into_inner().map(|message| message.map(|m| (m.rows, m.request_id)))).await?;
    let (key, rows) = prepare(tenant_id, &whole)?;
    let total = rows.len() as i32;
    let (sender, receiver) = mpsc::channel(PROGRESS_BUFFER);
    let api = api.clone();
    // The import goes on if the client stops listening (its answer is
    // stored under its request id for a retry to read), within the
    // tenant's share of the service and waited for at shutdown.
    let import = async move {
        // The last message's place, taken first: a client that stops
        // reading fills the buffer with progress (dropped), never holds
        // the answer and with it the tenant's permit.
        let Ok(last_place) = sender.clone().reserve_owned().await else {
            return;
        };
        let progress = sender;
        let applied = move |done: usize| {
            let message =
                ImportAccountsWithProgressResponse { rows_applied: done as i32, rows_total: total, result: None };
            let _ = progress.try_send(Ok(message));
        };
        let answer =
            AssertUnwindSafe(api.import(&caller, tenant_id, key, rows, import_response, applied)).catch_unwind().await;
        let last = match answer {
            Ok(answer) => answer
                .map(|result| ImportAccountsWithProgressResponse {
                    rows_applied: total,
                    rows_total: total,
                    result: Some(result),
                })
                .map_err(Status::from),
            // A bug: the stream still ends with an error, not as if it
            // had finished.
            Err(_) => Err(Status::internal("the import stopped on an internal error; rows it had applied stand")),
        };
        last_place.send(last);
    };
    Detach::spawn_in(detach.as_ref(), import.instrument(tracing::Span::current()));
    Ok(Response::new(ReceiverStream::new(receiver)))
}

/// The import's request key (the same for both RPCs, so a request id names
/// one import whichever carried it) and each row parsed, by line.
#[allow(clippy::type_complexity, reason = "rows by line, parsed or why not")]
fn prepare(
    tenant_id: Uuid,
    whole: &ImportAccountsRequest,
) -> Result<(Option<RequestKey>, Vec<(i64, Result<ImportedAccount, Vec<Problem>>)>), AccountsError> {
    let rows = whole
        .rows
        .iter()
        .enumerate()
        .map(|(index, row)| {
            let line = if row.line > 0 { row.line } else { index as i64 + 1 };
            (line, parse_row(row))
        })
        .collect();
    let key = RequestKey::new(tenant_id, "ImportAccounts", &whole.request_id, whole)?;
    Ok((key, rows))
}
