//! Users of customer accounts, and sales representatives.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::account::Account;
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
    /// The user an import creates for a new account: it logs in with
    /// `email` and is named after the account's contact, else the account.
    pub fn for_account(account: &Account, email: Email, now: DateTime<Utc>) -> User {
        let fields = &account.fields;
        let display_name = match fields.contact_name.trim() {
            "" => fields.name.as_str().to_owned(),
            contact => contact.to_owned(),
        };
        User {
            id: Uuid::now_v7(),
            tenant_id: account.tenant_id,
            account_id: account.id,
            email,
            display_name,
            sales_rep_id: None,
            created_at: now,
            updated_at: now,
        }
    }

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::account::AccountFields;

    #[test]
    fn a_user_created_for_an_account_is_named_after_its_contact_else_the_account() {
        let email = Email::parse("buyer@acme.example").expect("email");
        let account = Account::new(
            Uuid::now_v7(),
            AccountFields::example(),
            "EUR".to_owned(),
            "import".to_owned(),
            true,
            Utc::now(),
        );
        let user = User::for_account(&account, email.clone(), account.created_at);
        assert_eq!(
            (user.account_id, user.tenant_id, user.display_name.as_str()),
            (account.id, account.tenant_id, "Acme")
        );
        assert_eq!(user.sales_rep_id, None);
        let with_contact = Account {
            fields: AccountFields { contact_name: " Jo Buyer ".to_owned(), ..AccountFields::example() },
            ..account
        };
        assert_eq!(User::for_account(&with_contact, email, with_contact.created_at).display_name, "Jo Buyer");
    }
}
