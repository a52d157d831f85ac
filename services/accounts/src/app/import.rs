//! Imports: accounts created or updated by external key, row by row, each
//! answered, none stopping the others.
//!
//! The request id is claimed in a transaction that stays open for the whole
//! import (a concurrent duplicate is ABORTED) and stores the answer at the
//! end. Rows are applied a chunk at a time: one transaction per chunk, each
//! row in its own savepoint, so a bad row never undoes or stops another and
//! a chunk costs one commit rather than one per row; existing accounts are
//! looked up per chunk.

use std::collections::HashMap;

use bss_platform::auth::{Caller, Role};
use bss_platform::error::Violations;
use bss_platform::idempotency::RequestKey;
use bss_platform::time;
use bss_proto::accounts::account_event::Payload;
use bss_proto::accounts::{AccountCreated, AccountUpdated};
use prost::Message;
use sqlx::{Acquire, PgConnection};
use uuid::Uuid;

use super::accounts::check_residential;
use super::users::insert_user;
use super::{Accounts, event, publish, record};
use crate::domain::account::{Account, AccountFields, Problem, duplicate_key, repeated_key, repeated_keys};
use crate::domain::custom_fields::{self, Definition};
use crate::domain::error::AccountsError;
use crate::domain::history::HistoryLine;
use crate::domain::tenant::Tenant;
use crate::domain::user::User;
use crate::repo;
use crate::wire::account_to_proto;

/// Rows whose existing accounts are looked up together.
const CHUNK: usize = 500;

/// A row that parsed: the account's values, its currency if given, and its
/// external key.
#[derive(Clone, Debug)]
pub struct ImportedAccount {
    pub fields: AccountFields,
    pub currency: Option<String>,
    pub external_key: String,
    /// Create a user of the account when the row creates it.
    pub create_user: bool,
}

/// What became of a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Updated,
    Rejected,
}

/// The answer for one row.
#[derive(Clone, Debug)]
pub struct RowResult {
    pub line: i64,
    pub outcome: Outcome,
    pub account_id: Option<Uuid>,
    pub problems: Vec<Problem>,
}

impl RowResult {
    pub fn rejected(line: i64, problems: Vec<Problem>) -> RowResult {
        RowResult { line, outcome: Outcome::Rejected, account_id: None, problems }
    }
}

/// Each violation as a problem with `reason`.
pub fn problems(violations: &Violations, reason: &str) -> Vec<Problem> {
    violations
        .iter()
        .map(|violation| Problem {
            reason: reason.to_owned(),
            message: violation.description.clone(),
            field: violation.field.clone(),
        })
        .collect()
}

/// Why a row failed, as the row's problems.
fn problems_of(error: &AccountsError) -> Vec<Problem> {
    match error {
        AccountsError::Invalid(violations) => problems(violations, "INVALID_ARGUMENT"),
        AccountsError::Platform(cause) => {
            tracing::error!(error = %cause, "an import row could not be stored");
            vec![Problem {
                reason: "INTERNAL".to_owned(),
                message: "the row could not be stored; the service logged the cause".to_owned(),
                field: String::new(),
            }]
        }
        AccountsError::Residential { reason, refused } => refused
            .iter()
            .map(|(feature, why)| Problem {
                reason: (*reason).to_owned(),
                message: why.clone(),
                field: feature.as_str().to_owned(),
            })
            .collect(),
        other => vec![Problem { reason: other.reason().to_owned(), message: other.to_string(), field: String::new() }],
    }
}

/// The custom fields of a row against the tenant's definitions.
fn check_custom_fields(row: &ImportedAccount, definitions: &[Definition]) -> Result<(), Vec<Problem>> {
    let mut violations = Violations::new();
    for (key, problem) in custom_fields::check_values(&row.fields.custom_fields, definitions) {
        violations.add(format!("account.custom_fields.{key}"), problem);
    }
    if violations.is_empty() { Ok(()) } else { Err(problems(&violations, "INVALID_ARGUMENT")) }
}

impl Accounts {
    /// Applies every row (by line: parsed, or why not) and answers each, by
    /// line; `respond` makes the stored answer. `applied` hears the rows
    /// settled so far each time a chunk commits.
    pub async fn import<R: Message + Default>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        rows: Vec<(i64, Result<ImportedAccount, Vec<Problem>>)>,
        respond: impl FnOnce(&[RowResult]) -> R,
        applied: impl Fn(usize),
    ) -> Result<R, AccountsError> {
        // Read before the request id is claimed: the claim's transaction
        // holds one pooled connection for the whole import.
        let tenant = self.tenants.get(&self.db, tenant_id).await?;
        let definitions = repo::custom_fields::list(&mut *self.db.acquire().await?, tenant_id).await?;
        // The claim's transaction only holds the request id: each chunk of
        // rows is applied in its own, a savepoint per row.
        self.write(key, async |_claim| {
            let mut results = Vec::with_capacity(rows.len());
            for chunk in rows.chunks(CHUNK) {
                let mut candidates = Vec::with_capacity(chunk.len());
                for (line, row) in chunk {
                    match row.as_ref().map_err(Clone::clone).and_then(|row| {
                        check_custom_fields(row, &definitions)?;
                        Ok(row)
                    }) {
                        Ok(row) => candidates.push((*line, row)),
                        Err(problems) => results.push(RowResult::rejected(*line, problems)),
                    }
                }
                let keys: Vec<String> = candidates.iter().map(|(_, row)| row.external_key.clone()).collect();
                let mut existing = self.accounts_by_key(tenant_id, &keys).await?;
                // Accounts are locked in id order (rows of one key keep
                // theirs), so overlapping imports take turns, never deadlock.
                let first_id = |row: &ImportedAccount| {
                    existing.get(&row.external_key).and_then(|found| found.first()).map(|account| account.id)
                };
                candidates.sort_by_key(|(_, row)| first_id(row));
                let mut tx = self.db.begin().await?;
                for (line, row) in candidates {
                    results.push(self.apply_row(&mut tx, caller, &tenant, (line, row), &mut existing).await);
                }
                tx.commit().await?;
                applied(results.len());
            }
            results.sort_by_key(|result| result.line);
            // A key repeated in the file: applied in line order, each later
            // row updating what the first made, and said so.
            let keys: HashMap<i64, &str> = rows
                .iter()
                .filter_map(|(line, row)| row.as_ref().ok().map(|row| (*line, row.external_key.as_str())))
                .collect();
            let repeated = repeated_keys(keys.iter().map(|(line, key)| (*line, *key)));
            for result in results.iter_mut().filter(|result| result.outcome != Outcome::Rejected) {
                if let (Some(first), Some(key)) = (repeated.get(&result.line), keys.get(&result.line)) {
                    result.problems.push(repeated_key(key, *first));
                }
            }
            let count = |outcome| results.iter().filter(|result| result.outcome == outcome).count();
            tracing::info!(
                created = count(Outcome::Created),
                updated = count(Outcome::Updated),
                rejected = count(Outcome::Rejected),
                "import finished"
            );
            Ok(respond(&results))
        })
        .await
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

    /// Creates or updates the account of one row, in a savepoint of the
    /// chunk's transaction: a row that fails leaves nothing behind.
    async fn apply_row(
        &self,
        chunk: &mut PgConnection,
        caller: &Caller,
        tenant: &Tenant,
        (line, row): (i64, &ImportedAccount),
        existing: &mut HashMap<String, Vec<Account>>,
    ) -> RowResult {
        let matches = existing.get(&row.external_key).cloned().unwrap_or_default();
        let mut problems = Vec::new();
        if matches.len() > 1 {
            problems.push(duplicate_key(&row.external_key));
        }
        let outcome = async {
            let mut savepoint = chunk.begin().await?;
            let outcome = match matches.first() {
                Some(account) => {
                    (Outcome::Updated, update_from_row(&mut savepoint, caller, tenant, account, row).await?)
                }
                None => (Outcome::Created, create_from_row(&mut savepoint, caller, tenant, row).await?),
            };
            savepoint.commit().await?;
            Ok::<_, AccountsError>(outcome)
        }
        .await;
        match outcome {
            Ok((outcome, account)) => {
                let result = RowResult { line, outcome, account_id: Some(account.id), problems };
                let entry = existing.entry(row.external_key.clone()).or_default();
                match entry.iter_mut().find(|known| known.id == account.id) {
                    Some(known) => *known = account,
                    None => entry.push(account),
                }
                result
            }
            Err(error) => RowResult::rejected(line, problems_of(&error)),
        }
    }
}

async fn create_from_row(
    connection: &mut PgConnection,
    caller: &Caller,
    tenant: &Tenant,
    row: &ImportedAccount,
) -> Result<Account, AccountsError> {
    let country = row.fields.country_code.as_ref().map(|code| code.as_str());
    let currency = tenant.currency_for(row.currency.as_deref(), country, row.fields.managed_by.is_some())?;
    let mut account = Account::new(tenant.id, row.fields.clone(), currency, caller.subject.clone(), true, time::now());
    account.user_created = row.create_user;
    check_residential(connection, tenant, None, &account.fields).await?;
    let created =
        event(tenant.id, caller, Payload::AccountCreated(AccountCreated { account: Some(account_to_proto(&account)) }));
    repo::accounts::insert(&mut *connection, &account, tenant.name_scope(), None, Vec::new(), created.encode_to_vec())
        .await?;
    if row.create_user {
        let email = account.fields.email.clone().ok_or_else(|| {
            Violations::single("account.email", "a user created for the account logs in with its email")
        })?;
        insert_user(connection, caller, &User::for_account(&account, email, account.created_at)).await?;
    }
    Ok(account)
}

async fn update_from_row(
    connection: &mut PgConnection,
    caller: &Caller,
    tenant: &Tenant,
    account: &Account,
    row: &ImportedAccount,
) -> Result<Account, AccountsError> {
    account.check_currency(row.currency.as_deref())?;
    // What an import does not carry stays as it is.
    let fields = AccountFields {
        system_account: account.fields.system_account,
        sync_options: account.fields.sync_options.clone(),
        managed_by: account.fields.managed_by.clone(),
        ..row.fields.clone()
    };
    let changes = account.changes_to(&fields, caller.has_role(Role::Integration))?;
    if changes.is_empty() {
        return Ok(account.clone());
    }
    let current =
        repo::accounts::get(&mut *connection, account.tenant_id, account.id, repo::accounts::Visibility::All, true)
            .await?;
    check_residential(connection, tenant, Some(&current), &fields).await?;
    let updated = repo::accounts::update(connection, &current, &fields, tenant.name_scope()).await?;
    let updated = repo::accounts::mark_imported(connection, &updated).await?;
    let changed_fields: Vec<String> = changes.iter().map(|change| change.field.clone()).collect();
    let line = HistoryLine { action: "IMPORTED", changes, reason: String::new() };
    record(connection, account.tenant_id, account.id, caller, &line).await?;
    let update = AccountUpdated { account: Some(account_to_proto(&updated)), changed_fields };
    publish(connection, account.tenant_id, caller, Payload::AccountUpdated(update)).await?;
    Ok(updated)
}
