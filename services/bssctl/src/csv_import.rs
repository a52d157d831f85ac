//! `bssctl accounts import FILE.csv`: rows streamed to
//! `AccountService.ImportAccountsWithProgress` in batches, with the rows
//! sent and then the rows the suite has applied as progress, and a report
//! of every row the suite (or the CSV reader) rejected or warned about.

use std::collections::BTreeMap;
use std::path::Path;

use bss_proto::accounts::account_service_client::AccountServiceClient;
use bss_proto::accounts::{Account, ImportAccountsWithProgressRequest, ImportOutcome, ImportRow};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

use crate::output::{self, Progress};
use crate::{Client, Failure, Outcome};

/// The exit code of an import that finished with rejected rows.
const SOME_ROWS_REJECTED: u8 = 2;

/// The columns a file may have; `custom.<field>` adds custom fields.
const COLUMNS: &[&str] = &[
    "external_key",
    "code",
    "name",
    "email",
    "billing_email",
    "contact_name",
    "tax_number",
    "currency_code",
    "payment_types",
    "territory",
    "account_class",
    "sales_rep_id",
    "shipping_method",
    "enable_ordering",
    "country_code",
    "create_user",
];

/// One row's fate, as reported.
pub struct RowReport {
    pub line: i64,
    pub outcome: &'static str,
    pub account_id: String,
    pub problems: Vec<Value>,
}

pub async fn run(
    client: &Client,
    accounts: &mut AccountServiceClient<Channel>,
    file: &Path,
    batch_size: usize,
    request_id: String,
) -> Result<Outcome, Failure> {
    let (rows, unreadable) = read(file)?;
    let total = rows.len() + unreadable.len();

    let progress = Progress::new(client.output, "rows");
    let (sender, receiver) = mpsc::channel::<ImportAccountsWithProgressRequest>(1);
    let mut batches: Vec<Vec<ImportRow>> = Vec::new();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        batches.push(rows.by_ref().take(batch_size).collect());
    }
    let request = client.request(ReceiverStream::new(receiver))?;
    let call = accounts.import_accounts_with_progress(request);
    let feed = async {
        let mut sent = unreadable.len();
        progress.show(sent as u64, total as u64, "sent");
        for (index, batch) in batches.into_iter().enumerate() {
            sent += batch.len();
            let message = ImportAccountsWithProgressRequest {
                rows: batch,
                request_id: if index == 0 { request_id.clone() } else { String::new() },
            };
            if sender.send(message).await.is_err() {
                break; // The call ended early; its status tells why.
            }
            progress.show(sent as u64, total as u64, "sent");
        }
        drop(sender);
    };
    let (answer, ()) = tokio::join!(call, feed);
    // Then the rows the suite has applied, as it applies them.
    let mut answer = answer?.into_inner();
    let response = loop {
        let Some(message) = answer.message().await? else {
            return Err(Failure::Other("the import's answer ended without its result".into()));
        };
        let applied = unreadable.len() + message.rows_applied.max(0) as usize;
        progress.show(applied as u64, total as u64, "applied");
        if let Some(result) = message.result {
            break result;
        }
    };
    progress.finish();

    let mut reports: Vec<RowReport> = unreadable;
    for result in response.results {
        let outcome = match result.outcome() {
            ImportOutcome::Created => "CREATED",
            ImportOutcome::Updated => "UPDATED",
            _ => "REJECTED",
        };
        let problems = result
            .problems
            .iter()
            .map(|problem| json!({ "reason": problem.reason, "field": problem.field, "message": problem.message }))
            .collect();
        reports.push(RowReport { line: result.line, outcome, account_id: result.account_id, problems });
    }
    Ok(report(reports, json!({ "created": response.created, "updated": response.updated })))
}

/// The outcome of an import: `counts`, then how many rows were rejected and
/// every row by line (as text, only the rows with problems); exit code 2
/// when any was rejected.
pub fn report(mut reports: Vec<RowReport>, counts: Value) -> Outcome {
    reports.sort_by_key(|report| report.line);
    let rejected = reports.iter().filter(|report| report.outcome == "REJECTED").count();
    let rows: Vec<Value> = reports
        .iter()
        .map(|report| {
            json!({ "line": report.line, "outcome": report.outcome, "account_id": report.account_id,
                    "problems": report.problems })
        })
        .collect();
    let with_problems: Vec<Value> = rows
        .iter()
        .filter(|row| row["problems"].as_array().is_some_and(|problems| !problems.is_empty()))
        .cloned()
        .collect();
    let mut document = counts.clone();
    document["rejected"] = json!(rejected);
    let mut text = counts;
    text["rejected"] = json!(rejected);
    text["rows with problems"] = Value::Array(with_problems);
    document["rows"] = Value::Array(rows);
    Outcome { document, code: if rejected > 0 { SOME_ROWS_REJECTED } else { 0 }, text: Some(output::text(&text)) }
}

/// The file's rows, and a report for each line the CSV reader could not
/// read (those are never sent). An unknown column fails the whole import
/// before anything is sent.
fn read(file: &Path) -> Result<(Vec<ImportRow>, Vec<RowReport>), Failure> {
    let (records, unreadable) = records(file, COLUMNS, true)?;
    Ok((records.iter().map(|(line, values)| row(*line, values)).collect(), unreadable))
}

/// A CSV record: its line, and its value by column.
pub type Record = (i64, BTreeMap<String, String>);

/// A CSV file's records with a header row: (line, value by column), and a
/// report for each line that could not be read. A column not in `columns`
/// (nor, when `custom`, a `custom.<field>`) fails the whole file.
pub fn records(file: &Path, columns: &[&str], custom: bool) -> Result<(Vec<Record>, Vec<RowReport>), Failure> {
    let failure = |error: csv::Error| Failure::Other(format!("{}: {error}", file.display()));
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_path(file).map_err(failure)?;
    let headers: Vec<String> = reader.headers().map_err(failure)?.iter().map(str::to_owned).collect();
    if let Some(unknown) =
        headers.iter().find(|header| !(columns.contains(&header.as_str()) || custom && header.starts_with("custom.")))
    {
        return Err(Failure::Other(format!(
            "{}: unknown column {unknown:?}; the columns are {}{}",
            file.display(),
            columns.join(", "),
            if custom { " and custom.<field>" } else { "" }
        )));
    }
    let mut rows = Vec::new();
    let mut unreadable = Vec::new();
    for record in reader.records() {
        match record {
            Ok(record) => {
                let line = record.position().map_or(0, |position| position.line() as i64);
                rows.push((line, headers.iter().cloned().zip(record.iter().map(str::to_owned)).collect()));
            }
            Err(error) => {
                let line = error.position().map_or(0, |position| position.line() as i64);
                unreadable.push(RowReport {
                    line,
                    outcome: "REJECTED",
                    account_id: String::new(),
                    problems: vec![json!({ "reason": "CSV_UNREADABLE", "field": "", "message": error.to_string() })],
                });
            }
        }
    }
    Ok((rows, unreadable))
}

/// One CSV record as an import row.
fn row(line: i64, values: &BTreeMap<String, String>) -> ImportRow {
    let get = |column: &str| values.get(column).cloned().unwrap_or_default();
    let custom_fields = values
        .iter()
        .filter_map(|(column, value)| Some((column.strip_prefix("custom.")?.to_owned(), value.clone())))
        .filter(|(_, value)| !value.is_empty())
        .collect();
    let account = Account {
        external_key: get("external_key"),
        code: get("code"),
        name: get("name"),
        email: get("email"),
        billing_email: get("billing_email"),
        contact_name: get("contact_name"),
        tax_number: get("tax_number"),
        currency_code: get("currency_code"),
        territory: get("territory"),
        account_class: get("account_class"),
        sales_rep_id: get("sales_rep_id"),
        shipping_method: get("shipping_method"),
        enable_ordering: yes(&get("enable_ordering")),
        country_code: get("country_code"),
        custom_fields,
        ..Account::default()
    };
    ImportRow {
        line,
        account: Some(account),
        payment_type_codes: get("payment_types"),
        create_user: yes(&get("create_user")),
    }
}

/// A CSV yes/no cell: true, yes or 1 (any case).
pub fn yes(value: &str) -> bool {
    matches!(value.trim().to_ascii_lowercase().as_str(), "true" | "yes" | "1")
}
