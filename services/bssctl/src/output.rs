//! What bssctl prints: one JSON document per command (`--output json`) or
//! the same as readable text, and progress on stderr.

use std::cell::Cell;
use std::io::IsTerminal;

use bss_proto::accounts::{Account, AccountStatus, Tenant};
use bss_proto::billing::BillingRun;
use bss_proto::types::PaymentType;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use tonic_types::StatusExt;

use crate::Failure;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Text,
    Json,
}

/// Prints a command's document on stdout.
pub fn print(format: Output, document: &Value) {
    match format {
        Output::Json => println!("{document}"),
        Output::Text => print!("{}", text(document)),
    }
}

/// Prints why a command failed: the status code, its message, the
/// `google.rpc` reason and each field violation.
pub fn print_failure(format: Output, failure: &Failure) {
    let document = match failure {
        Failure::Call(status) => json!({ "error": status_document(status) }),
        Failure::Other(message) => json!({ "error": { "message": message } }),
    };
    match format {
        Output::Json => println!("{document}"),
        Output::Text => eprint!("bssctl: {}", text(&document["error"])),
    }
}

/// A refusal as a document: the status code, its message, the
/// `google.rpc` reason and each field violation.
pub fn status_document(status: &tonic::Status) -> Value {
    let details = status.get_error_details();
    let violations: Vec<Value> = details
        .bad_request()
        .map(|bad| {
            bad.field_violations
                .iter()
                .map(|violation| json!({ "field": violation.field, "description": violation.description }))
                .collect()
        })
        .unwrap_or_default();
    let reason = details.error_info().map(|info| info.reason.clone()).unwrap_or_default();
    let mut error = json!({ "code": format!("{:?}", status.code()), "message": status.message(), "reason": reason });
    if !violations.is_empty() {
        error["field_violations"] = Value::Array(violations);
    }
    error
}

/// A document as text: scalars as `key: value` lines, lists of objects as
/// tables.
pub fn text(document: &Value) -> String {
    let mut out = String::new();
    let Value::Object(fields) = document else {
        return format!("{}\n", scalar(document));
    };
    for (key, value) in fields {
        match value {
            Value::Array(items) if items.is_empty() => out.push_str(&format!("{key}: 0\n")),
            Value::Array(items) if items.iter().all(Value::is_object) => {
                out.push_str(&format!("{key}: {}\n", items.len()));
                out.push_str(&table(items));
            }
            Value::Object(_) => out.push_str(&format!("{key}:\n{}", indent(&text(value)))),
            Value::String(text) if text.is_empty() => {}
            _ => out.push_str(&format!("{key}: {}\n", scalar(value))),
        }
    }
    out
}

fn indent(text: &str) -> String {
    text.lines().map(|line| format!("  {line}\n")).collect()
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Array(items) => items.iter().map(scalar).collect::<Vec<_>>().join("; "),
        Value::Object(fields) => {
            fields.iter().map(|(key, value)| format!("{key}={}", scalar(value))).collect::<Vec<_>>().join(" ")
        }
        other => other.to_string(),
    }
}

/// Rows with the columns of the first one, aligned.
fn table(items: &[Value]) -> String {
    let Some(Value::Object(first)) = items.first() else {
        return String::new();
    };
    let columns: Vec<&String> = first.keys().collect();
    let rows: Vec<Vec<String>> =
        items.iter().map(|item| columns.iter().map(|column| scalar(&item[column.as_str()])).collect()).collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(index, column)| rows.iter().map(|row| row[index].len()).chain([column.len()]).max().unwrap_or(0))
        .collect();
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> =
            cells.iter().zip(&widths).map(|(cell, width)| format!("{cell:<width$}", width = *width)).collect();
        format!("  {}\n", padded.join("  ").trim_end())
    };
    let mut out = line(columns.iter().map(|column| column.as_str()).collect());
    for row in &rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// A timestamp in RFC 3339, or empty.
pub fn time(timestamp: Option<&prost_types::Timestamp>) -> String {
    timestamp.map(ToString::to_string).unwrap_or_default()
}

pub fn tenant(tenant: &Tenant) -> Value {
    json!({ "id": tenant.id, "name": tenant.name, "default_currency": tenant.default_currency,
            "parent_tenant_id": tenant.parent_tenant_id, "create_time": time(tenant.create_time.as_ref()) })
}

pub fn account(account: &Account) -> Value {
    let status = AccountStatus::try_from(account.status).map(|status| status.as_str_name()).unwrap_or_default();
    let payment_types: Vec<&str> = account
        .payment_types
        .iter()
        .filter_map(|payment_type| PaymentType::try_from(*payment_type).ok())
        .map(|payment_type| payment_type.as_str_name().trim_start_matches("PAYMENT_TYPE_"))
        .collect();
    json!({ "id": account.id, "code": account.code, "name": account.name, "external_key": account.external_key,
            "status": status.trim_start_matches("ACCOUNT_STATUS_"), "email": account.email,
            "currency_code": account.currency_code, "payment_types": payment_types.join(","),
            "parent_account_id": account.parent_account_id })
}

pub fn billing_run(run: &BillingRun) -> Value {
    json!({ "id": run.id, "invoice_date": run.invoice_date, "post": run.post,
            "status": run.status().as_str_name().trim_start_matches("BILLING_RUN_STATUS_"),
            "accounts_total": run.accounts_total, "accounts_done": run.accounts_done,
            "invoices_created": run.invoices_created, "error": run.error,
            "create_time": time(run.create_time.as_ref()), "complete_time": time(run.complete_time.as_ref()) })
}

/// Progress of a long command on stderr: a bar on a terminal, otherwise a
/// line each time it moves (logs and scripts read those).
pub struct Progress {
    bar: Option<ProgressBar>,
    last: Cell<Option<(u64, u64)>>,
    unit: &'static str,
}

impl Progress {
    pub fn new(format: Output, unit: &'static str) -> Progress {
        let bar = (format == Output::Text && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(0);
            if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} {prefix} {msg} ({elapsed})") {
                bar.set_style(style);
            }
            bar.set_prefix(unit);
            bar
        });
        Progress { bar, last: Cell::new(None), unit }
    }

    pub fn show(&self, done: u64, total: u64, message: &str) {
        match &self.bar {
            Some(bar) => {
                bar.set_length(total);
                bar.set_position(done);
                bar.set_message(message.to_owned());
            }
            None if self.last.get() != Some((done, total)) => {
                eprintln!("{done}/{total} {}: {message}", self.unit);
            }
            None => {}
        }
        self.last.set(Some((done, total)));
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}
