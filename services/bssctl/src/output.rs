//! What bssctl prints: one document per command, as JSON for scripts
//! (`--output json`), as CSV for spreadsheets (`--output csv`) or as
//! readable text with aligned tables (the default), and progress on stderr.
//!
//! Any message of the contracts prints through its descriptor
//! ([`message`]): every field by its proto name, enums by value name without
//! the enum's prefix, money as `{amount, currency_code}`, decimals as exact
//! strings, timestamps in RFC 3339.

use std::cell::RefCell;
use std::io::IsTerminal;
use std::sync::LazyLock;

use bss_proto::accounts::{Account, AccountStatus, Tenant};
use bss_proto::billing::BillingRun;
use bss_proto::types::PaymentType;
use indicatif::{ProgressBar, ProgressStyle};
use prost_reflect::{DescriptorPool, DynamicMessage, FieldDescriptor, Kind, ReflectMessage};
use serde_json::{Map, Value, json};
use tonic_types::StatusExt;

use crate::Failure;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// Readable: fields as `key: value` lines, lists as aligned tables.
    #[value(alias = "text")]
    Table,
    /// One JSON document.
    Json,
    /// The document's list (or the document as one row) as CSV with a
    /// header row.
    Csv,
}

/// Prints a command's document on stdout.
pub fn print(format: Output, document: &Value) {
    match format {
        Output::Json => println!("{document}"),
        Output::Table => print!("{}", text(document)),
        Output::Csv => {
            print!("{}", csv(document));
            // A CSV has no place for it: said beside.
            if let Some(token) = document.get(NEXT_PAGE_TOKEN).and_then(Value::as_str).filter(|token| !token.is_empty())
            {
                eprintln!("bssctl: more rows follow: run again with --page-token {token}");
            }
        }
    }
}

/// The field a list's answer carries (empty on its last page).
const NEXT_PAGE_TOKEN: &str = "next_page_token";

/// The rows of a document: a list's items (a document with a
/// `next_page_token` is a page of a list), a report's `rows` (an import's),
/// else the document itself as one row; columns in the order they first
/// appear. An empty list prints nothing (it has no rows to name the
/// columns).
pub fn csv(document: &Value) -> String {
    let fields = document.as_object();
    let listed = fields.filter(|fields| fields.contains_key(NEXT_PAGE_TOKEN)).and_then(|fields| {
        fields.iter().find_map(|(name, value)| value.as_array().filter(|_| name.as_str() != NEXT_PAGE_TOKEN))
    });
    let rows: Vec<&Value> = match listed.or_else(|| fields.and_then(|fields| fields.get("rows")?.as_array())) {
        Some(items) if items.is_empty() => return String::new(),
        Some(items) => items.iter().collect(),
        None => vec![document],
    };
    let mut columns: Vec<&str> = Vec::new();
    for row in &rows {
        for key in row.as_object().into_iter().flat_map(|fields| fields.keys()) {
            if !columns.contains(&key.as_str()) {
                columns.push(key);
            }
        }
    }
    let mut writer = ::csv::Writer::from_writer(Vec::new());
    let written = writer.write_record(&columns).and_then(|()| {
        rows.iter().try_for_each(|row| writer.write_record(columns.iter().map(|column| scalar(&row[*column]))))
    });
    match (written, writer.into_inner()) {
        (Ok(()), Ok(bytes)) => String::from_utf8_lossy(&bytes).into_owned(),
        _ => String::new(),
    }
}

/// The contracts' descriptors, for printing any of their messages.
static DESCRIPTORS: LazyLock<Option<DescriptorPool>> =
    LazyLock::new(|| DescriptorPool::decode(bss_proto::FILE_DESCRIPTOR_SET).ok());

/// Any message of the contracts as a document.
pub fn message<M: prost::Name>(message: &M) -> Value {
    let decoded = DESCRIPTORS
        .as_ref()
        .and_then(|pool| pool.get_message_by_name(&M::full_name()))
        .and_then(|descriptor| DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice()).ok());
    decoded.map(|message| dynamic(&message)).unwrap_or(Value::Null)
}

/// Each of `messages` as a document.
pub fn messages<M: prost::Name>(items: &[M]) -> Value {
    Value::Array(items.iter().map(message).collect())
}

fn dynamic(message: &DynamicMessage) -> Value {
    let text = |name: &str| message.get_field_by_name(name).and_then(|value| value.as_str().map(str::to_owned));
    match message.descriptor().full_name() {
        "bss.type.v1.Decimal" => return json!(text("value").unwrap_or_default()),
        "bss.type.v1.Money" => {
            return json!({ "amount": text("amount").unwrap_or_default(),
                           "currency_code": text("currency_code").unwrap_or_default() });
        }
        "google.protobuf.Timestamp" => {
            let number = |name: &str| {
                message.get_field_by_name(name).and_then(|value| value.as_i64().or(value.as_i32().map(i64::from)))
            };
            let timestamp = prost_types::Timestamp {
                seconds: number("seconds").unwrap_or_default(),
                nanos: number("nanos").unwrap_or_default() as i32,
            };
            return json!(timestamp.to_string());
        }
        _ => {}
    }
    // Every field, set or not, so the rows of a list share their columns;
    // a message field not set is null.
    let mut fields = Map::new();
    for field in message.descriptor().fields() {
        let value =
            if field.kind().as_message().is_some() && !field.is_list() && !field.is_map() && !message.has_field(&field)
            {
                Value::Null
            } else {
                field_value(&field, &message.get_field(&field))
            };
        fields.insert(field.name().to_owned(), value);
    }
    Value::Object(fields)
}

fn field_value(field: &FieldDescriptor, value: &prost_reflect::Value) -> Value {
    use prost_reflect::Value as V;
    match value {
        V::Bool(flag) => json!(flag),
        V::I32(number) => json!(number),
        V::I64(number) => json!(number),
        V::U32(number) => json!(number),
        V::U64(number) => json!(number),
        V::F32(number) => json!(number),
        V::F64(number) => json!(number),
        V::String(text) => json!(text),
        V::Bytes(bytes) => json!(bytes.iter().map(|byte| format!("{byte:02x}")).collect::<String>()),
        V::EnumNumber(number) => match field.kind() {
            Kind::Enum(descriptor) => {
                // Without the enum's prefix: PENDING, not HELD_ORDER_STATE_PENDING.
                let prefix = descriptor
                    .get_value(0)
                    .map(|zero| zero.name().trim_end_matches("UNSPECIFIED").to_owned())
                    .unwrap_or_default();
                let name = descriptor
                    .get_value(*number)
                    .map(|value| value.name().to_owned())
                    .unwrap_or_else(|| number.to_string());
                json!(name.strip_prefix(prefix.as_str()).unwrap_or(&name))
            }
            _ => json!(number),
        },
        V::Message(message) => dynamic(message),
        V::List(items) => Value::Array(items.iter().map(|item| field_value(field, item)).collect()),
        V::Map(entries) => {
            let value_field = field.kind().as_message().map(|entry| entry.map_entry_value_field());
            let mut object = Map::new();
            for (key, item) in entries {
                let rendered = match &value_field {
                    Some(value_field) => field_value(value_field, item),
                    None => Value::Null,
                };
                object.insert(map_key(key), rendered);
            }
            Value::Object(object)
        }
    }
}

fn map_key(key: &prost_reflect::MapKey) -> String {
    use prost_reflect::MapKey as K;
    match key {
        K::Bool(flag) => flag.to_string(),
        K::I32(number) => number.to_string(),
        K::I64(number) => number.to_string(),
        K::U32(number) => number.to_string(),
        K::U64(number) => number.to_string(),
        K::String(text) => text.clone(),
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
        Output::Table | Output::Csv => eprint!("bssctl: {}", text(&document["error"])),
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
            Value::Object(fields) if is_money(fields) => out.push_str(&format!("{key}: {}\n", scalar(value))),
            Value::Object(_) => out.push_str(&format!("{key}:\n{}", indent(&text(value)))),
            Value::String(text) if text.is_empty() => {}
            Value::Null => {}
            _ => out.push_str(&format!("{key}: {}\n", scalar(value))),
        }
    }
    out
}

fn indent(text: &str) -> String {
    text.lines().map(|line| format!("  {line}\n")).collect()
}

pub fn scalar(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        Value::Object(fields) if is_money(fields) => {
            format!("{} {}", scalar(&fields["amount"]), scalar(&fields["currency_code"]))
        }
        Value::Array(items) => items.iter().map(scalar).collect::<Vec<_>>().join("; "),
        Value::Object(fields) => {
            fields.iter().map(|(key, value)| format!("{key}={}", scalar(value))).collect::<Vec<_>>().join(" ")
        }
        other => other.to_string(),
    }
}

/// `{amount, currency_code}`: shown as `12.50 EUR`.
fn is_money(fields: &Map<String, Value>) -> bool {
    fields.len() == 2 && fields.contains_key("amount") && fields.contains_key("currency_code")
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
    last: RefCell<Option<(u64, u64, String)>>,
    unit: &'static str,
}

impl Progress {
    pub fn new(format: Output, unit: &'static str) -> Progress {
        let bar = (format == Output::Table && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(0);
            if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} {prefix} {msg} ({elapsed})") {
                bar.set_style(style);
            }
            bar.set_prefix(unit);
            bar
        });
        Progress { bar, last: RefCell::new(None), unit }
    }

    pub fn show(&self, done: u64, total: u64, message: &str) {
        let now = Some((done, total, message.to_owned()));
        match &self.bar {
            Some(bar) => {
                bar.set_length(total);
                bar.set_position(done);
                bar.set_message(message.to_owned());
            }
            None if *self.last.borrow() != now => {
                eprintln!("{done}/{total} {}: {message}", self.unit);
            }
            None => {}
        }
        self.last.replace(now);
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use bss_proto::credit::{HeldOrder, HeldOrderState};
    use bss_proto::types::Money;

    use super::*;

    fn held_order() -> HeldOrder {
        HeldOrder {
            id: "h1".to_owned(),
            amount: Some(Money { currency_code: "EUR".to_owned(), amount: "24.00".to_owned() }),
            state: HeldOrderState::Pending as i32,
            create_time: Some(prost_types::Timestamp { seconds: 1_796_349_314, nanos: 0 }),
            ..HeldOrder::default()
        }
    }

    #[test]
    fn a_message_prints_by_proto_name_with_enums_unprefixed_money_exact_and_unset_messages_null() {
        let document = message(&held_order());
        assert_eq!(document["state"], "PENDING");
        assert_eq!(document["amount"], json!({ "amount": "24.00", "currency_code": "EUR" }));
        assert_eq!(document["create_time"], "2026-12-04T01:55:14Z");
        assert_eq!(document["decide_time"], Value::Null);
        assert_eq!(document["reasons"], json!([]));
        let text = text(&json!({ "held_orders": [document] }));
        assert!(text.contains("24.00 EUR") && text.contains("PENDING"), "{text}");
    }

    #[test]
    fn csv_has_a_header_and_a_row_per_item_of_the_list_quoted_where_needed() {
        let mut second = held_order();
        second.note = "paid, by transfer".to_owned();
        let document = json!({ "held_orders": messages(&[held_order(), second]), "next_page_token": "" });
        let written = csv(&document);
        let mut reader = ::csv::Reader::from_reader(written.as_bytes());
        let header: Vec<String> = reader.headers().expect("header").iter().map(str::to_owned).collect();
        let rows: Vec<::csv::StringRecord> = reader.records().collect::<Result<_, _>>().expect("rows");
        assert_eq!(rows.len(), 2, "{written}");
        let note = header.iter().position(|column| column == "note").expect("note");
        let amount = header.iter().position(|column| column == "amount").expect("amount");
        assert_eq!((&rows[1][note], &rows[1][amount]), ("paid, by transfer", "24.00 EUR"));
        // A document that is no list is one row, even with lists inside.
        assert_eq!(csv(&json!({ "on_hold": true })), "on_hold\ntrue\n");
        let invoice = json!({ "id": "i-1", "lines": [{ "product": "WIDGET" }, { "product": "GADGET" }] });
        assert_eq!(csv(&invoice).lines().count(), 2, "{}", csv(&invoice));
        // An empty page of a list has no rows.
        assert_eq!(csv(&json!({ "held_orders": [], "next_page_token": "" })), "");
    }
}
