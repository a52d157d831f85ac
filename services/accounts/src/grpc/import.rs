//! ImportAccounts: accounts created or updated by external key from a
//! stream of rows, each answered, none stopping the others.
//!
//! The request id is claimed in a transaction that stays open for the whole
//! import (a concurrent duplicate is ABORTED) and stores the answer at the
//! end. Rows are applied one by one, each in its own statement or
//! transaction, so a bad row never undoes or stops another; existing
//! accounts are looked up per chunk of rows.

use std::collections::HashMap;

use bss_platform::auth::{Caller, Role};
use bss_platform::error::Violations;
use bss_platform::idempotency::RequestKey;
use bss_platform::payment::PaymentType;
use bss_platform::time;
use bss_proto::accounts::account_event::Payload;
use bss_proto::accounts::*;
use bss_proto::types::Warning;
use futures::StreamExt;
use prost::Message;
use tonic::Streaming;
use uuid::Uuid;

use super::accounts::duplicate_key_warning;
use super::convert::*;
use super::{AccountsApi, event, publish, record};
use crate::domain::account::{Account, AccountFields};
use crate::domain::custom_fields::{self, Definition};
use crate::domain::error::AccountsError;
use crate::domain::history::{HistoryLine, changed_fields};
use crate::domain::managed;
use crate::domain::tenant::Tenant;
use crate::repo;

/// Most rows one import may carry.
const MAX_ROWS: usize = 100_000;
/// Rows whose existing accounts are looked up together.
const CHUNK: usize = 500;

/// A row that parsed: its line, values and external key.
struct Candidate {
    line: i64,
    fields: AccountFields,
    currency: Option<String>,
    external_key: String,
}

impl AccountsApi {
    pub(crate) async fn import(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        mut stream: Streaming<ImportAccountsRequest>,
    ) -> Result<ImportAccountsResponse, AccountsError> {
        let mut whole = ImportAccountsRequest::default();
        let mut first = true;
        while let Some(message) = stream.next().await {
            let message = message.map_err(|status| match status.code() {
                tonic::Code::ResourceExhausted => AccountsError::MessageTooLarge(status.message().to_owned()),
                _ => Violations::single("rows", format!("the stream broke: {}", status.message())).into(),
            })?;
            if first {
                whole.request_id = message.request_id;
                first = false;
            }
            whole.rows.extend(message.rows);
            if whole.rows.len() > MAX_ROWS {
                return Err(Violations::single("rows", format!("at most {MAX_ROWS} rows per import")).into());
            }
        }
        // Read before the request id is claimed: the claim's transaction
        // holds one pooled connection for the whole import.
        let tenant = self.tenants.get(&self.db, tenant_id).await?;
        let definitions = repo::custom_fields::list(&mut *self.db.acquire().await?, tenant_id).await?;
        let key = RequestKey::new(tenant_id, "ImportAccounts", &whole.request_id, &whole)?;
        // The claim's transaction only holds the request id: each row is
        // applied in its own.
        let response = self
            .write(key, async |_claim| {
                let mut results = Vec::with_capacity(whole.rows.len());
                for (chunk_index, chunk) in whole.rows.chunks(CHUNK).enumerate() {
                    let mut candidates = Vec::with_capacity(chunk.len());
                    for (offset, row) in chunk.iter().enumerate() {
                        let position = (chunk_index * CHUNK + offset + 1) as i64;
                        let line = if row.line > 0 { row.line } else { position };
                        match parse_row(row, line, &definitions) {
                            Ok(candidate) => candidates.push(candidate),
                            Err(problems) => results.push(rejected(line, problems)),
                        }
                    }
                    let keys: Vec<String> = candidates.iter().map(|candidate| candidate.external_key.clone()).collect();
                    let mut existing = self.accounts_by_key(tenant_id, &keys).await?;
                    for candidate in candidates {
                        let result = self.apply_row(caller, &tenant, &candidate, &mut existing).await;
                        results.push(result);
                    }
                }
                results.sort_by_key(|result| result.line);

                let count = |outcome: ImportOutcome| {
                    results.iter().filter(|result| result.outcome == outcome as i32).count() as i32
                };
                let response = ImportAccountsResponse {
                    created: count(ImportOutcome::Created),
                    updated: count(ImportOutcome::Updated),
                    rejected: count(ImportOutcome::Rejected),
                    results,
                };
                Ok(response)
            })
            .await?;
        tracing::info!(
            created = response.created,
            updated = response.updated,
            rejected = response.rejected,
            "import finished"
        );
        Ok(response)
    }

    /// The tenant's accounts with these external keys, oldest first per key.
    async fn accounts_by_key(
        &self,
        tenant_id: Uuid,
        keys: &[String],
    ) -> Result<HashMap<String, Vec<Account>>, AccountsError> {
        let mut connection = self.db.acquire().await?;
        let accounts = repo::accounts::by_external_keys(&mut connection, tenant_id, keys).await?;
        let mut by_key: HashMap<String, Vec<Account>> = HashMap::new();
        for account in accounts {
            if let Some(key) = account.fields.external_key.clone() {
                by_key.entry(key).or_default().push(account);
            }
        }
        Ok(by_key)
    }

    /// Creates or updates the account of one row.
    async fn apply_row(
        &self,
        caller: &Caller,
        tenant: &Tenant,
        candidate: &Candidate,
        existing: &mut HashMap<String, Vec<Account>>,
    ) -> ImportRowResult {
        let matches = existing.get(&candidate.external_key).cloned().unwrap_or_default();
        let mut warnings = Vec::new();
        if matches.len() > 1 {
            warnings.push(duplicate_key_warning(&candidate.external_key));
        }
        let outcome = match matches.first() {
            Some(account) => {
                self.update_from_row(caller, account, candidate).await.map(|updated| (ImportOutcome::Updated, updated))
            }
            None => {
                self.create_from_row(caller, tenant, candidate).await.map(|created| (ImportOutcome::Created, created))
            }
        };
        match outcome {
            Ok((outcome, account)) => {
                let result = ImportRowResult {
                    line: candidate.line,
                    outcome: outcome as i32,
                    account_id: account.id.to_string(),
                    problems: warnings,
                };
                let entry = existing.entry(candidate.external_key.clone()).or_default();
                match entry.iter_mut().find(|known| known.id == account.id) {
                    Some(known) => *known = account,
                    None => entry.push(account),
                }
                result
            }
            Err(error) => rejected(candidate.line, problems_of(&error)),
        }
    }

    async fn create_from_row(
        &self,
        caller: &Caller,
        tenant: &Tenant,
        candidate: &Candidate,
    ) -> Result<Account, AccountsError> {
        let currency = candidate.currency.clone().unwrap_or_else(|| tenant.default_currency.clone());
        let account =
            Account::new(tenant.id, candidate.fields.clone(), currency, caller.subject.clone(), true, time::now());
        let created = event(
            tenant.id,
            caller,
            Payload::AccountCreated(AccountCreated { account: Some(account_to_proto(&account)) }),
        );
        repo::accounts::insert(&self.db, &account, tenant.name_scope(), None, Vec::new(), created.encode_to_vec())
            .await?;
        Ok(account)
    }

    async fn update_from_row(
        &self,
        caller: &Caller,
        account: &Account,
        candidate: &Candidate,
    ) -> Result<Account, AccountsError> {
        if let Some(currency) = &candidate.currency
            && currency != &account.currency_code
        {
            return Err(AccountsError::precondition(
                "CURRENCY_IMMUTABLE",
                "the currency of an account is fixed at creation",
            ));
        }
        // What an import does not carry stays as it is.
        let fields = AccountFields {
            system_account: account.fields.system_account,
            sync_options: account.fields.sync_options.clone(),
            managed_by: account.fields.managed_by.clone(),
            ..candidate.fields.clone()
        };
        let changes = changed_fields(&account.fields, &fields);
        if changes.is_empty() {
            return Ok(account.clone());
        }
        let changed: Vec<&str> =
            changes.iter().map(|change| change.field.split('.').next().unwrap_or_default()).collect();
        managed::check_edit(account.fields.managed_by.as_ref(), &changed, caller.has_role(Role::Integration))?;
        let mut tx = self.db.begin().await?;
        let current =
            repo::accounts::get(&mut tx, account.tenant_id, account.id, repo::accounts::Visibility::All, true).await?;
        let tenant = self.tenants.get(&self.db, account.tenant_id).await?;
        let updated = repo::accounts::update(&mut tx, &current, &fields, tenant.name_scope()).await?;
        let changed_names: Vec<String> = changes.iter().map(|change| change.field.clone()).collect();
        record(
            &mut tx,
            account.tenant_id,
            account.id,
            caller,
            &HistoryLine { action: "IMPORTED", changes, reason: String::new() },
        )
        .await?;
        let update = AccountUpdated { account: Some(account_to_proto(&updated)), changed_fields: changed_names };
        publish(&mut tx, account.tenant_id, caller, Payload::AccountUpdated(update)).await?;
        tx.commit().await?;
        Ok(updated)
    }
}

/// Parses one row: the account's values, the payment type codes, the
/// external key, and the custom fields against their definitions.
fn parse_row(row: &ImportRow, line: i64, definitions: &[Definition]) -> Result<Candidate, Vec<Warning>> {
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
            return Err(warnings_of(&violations, "INVALID_ARGUMENT"));
        }
    };
    if let Some(payment_types) = payment_types {
        fields.payment_types = payment_types;
    }
    let problems = custom_fields::check_values(&fields.custom_fields, definitions);
    if !problems.is_empty() {
        let mut violations = Violations::new();
        for (key, problem) in problems {
            violations.add(format!("account.custom_fields.{key}"), problem);
        }
        return Err(warnings_of(&violations, "INVALID_ARGUMENT"));
    }
    Ok(Candidate { line, external_key: input.external_key.trim().to_owned(), fields, currency })
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

fn rejected(line: i64, problems: Vec<Warning>) -> ImportRowResult {
    ImportRowResult { line, outcome: ImportOutcome::Rejected as i32, account_id: String::new(), problems }
}

fn warnings_of(violations: &Violations, reason: &str) -> Vec<Warning> {
    violations
        .iter()
        .map(|violation| Warning {
            reason: reason.to_owned(),
            message: violation.description.clone(),
            field: violation.field.clone(),
        })
        .collect()
}

/// Why a row failed, as the row's problems.
fn problems_of(error: &AccountsError) -> Vec<Warning> {
    match error {
        AccountsError::Invalid(violations) => warnings_of(violations, "INVALID_ARGUMENT"),
        AccountsError::Platform(cause) => {
            tracing::error!(error = %cause, "an import row could not be stored");
            vec![Warning {
                reason: "INTERNAL".to_owned(),
                message: "the row could not be stored; the service logged the cause".to_owned(),
                field: String::new(),
            }]
        }
        other => vec![Warning { reason: other.reason().to_owned(), message: other.to_string(), field: String::new() }],
    }
}
