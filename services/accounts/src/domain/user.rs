//! Users of customer accounts, and sales representatives.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::error::AccountsError;
use super::text::Email;

#[derive(Clone, Debug)]
pub struct User {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub account_id: Uuid,
    pub email: Email,
    pub display_name: String,
    /// Set for a sales representative.
    pub sales_rep_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl User {
    /// Whether the user may act for an account carrying `account_sales_rep_id`:
    /// ordinary users may be assigned anywhere; a sales representative only
    /// to accounts carrying its own id.
    pub fn may_act_for(&self, account_sales_rep_id: &str) -> Result<(), AccountsError> {
        match &self.sales_rep_id {
            Some(own) if own != account_sales_rep_id => Err(AccountsError::precondition(
                "SALES_REP_MISMATCH",
                format!("the account belongs to another sales representative than {own}"),
            )),
            _ => Ok(()),
        }
    }

    /// A sales representative, or NOT_A_SALES_REP.
    pub fn sales_rep(&self) -> Result<&str, AccountsError> {
        self.sales_rep_id.as_deref().ok_or_else(|| {
            AccountsError::precondition("NOT_A_SALES_REP", "only a sales representative can switch accounts")
        })
    }
}
