//! The one error type of the accounts context.

use bss_platform::error::{PlatformError, Violations};

#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    #[error("invalid request: {0}")]
    Invalid(Violations),
    /// An address the validator rejected, without an override.
    #[error("the address is not valid: {0}")]
    AddressInvalid(Violations),
    #[error("{kind} {id} not found")]
    NotFound { kind: &'static str, id: String },
    #[error("an account with this name already exists")]
    NameTaken,
    #[error("an account with this code already exists")]
    CodeTaken,
    #[error("a user with this email already exists")]
    UserEmailTaken,
    #[error("a custom field with this key is already defined")]
    CustomFieldExists,
    /// A rule of the domain forbids the call; `reason` names it.
    #[error("{description}")]
    Precondition { reason: &'static str, description: String },
    /// The group conditions that the parent and member break, each named.
    #[error("the accounts cannot form a group: {}", .0.iter().map(|(reason, _)| *reason).collect::<Vec<_>>().join(", "))]
    GroupRules(Vec<(&'static str, String)>),
    /// Money billing or credit still hold for the accounts (a posted
    /// transaction, a draft, an open order, reservation or subscription, an
    /// uninvoiced charge), each named: the account may not be deleted or
    /// terminated.
    #[error("billing and credit are not final for the account: {}", .0.iter().map(|(reason, _)| *reason).collect::<Vec<_>>().join(", "))]
    MoneyHeld(Vec<(&'static str, String)>),
    /// Features a tenant's residential accounts may not have (reason
    /// RESIDENTIAL_FEATURE), or a feature set that takes away what they
    /// have (RESIDENTIAL_FEATURE_IN_USE), each feature named.
    #[error("{}", .refused.iter().map(|(_, why)| why.as_str()).collect::<Vec<_>>().join("; "))]
    Residential { reason: &'static str, refused: Vec<crate::domain::residential::Refusal> },
    /// Fields of a managed copy that only the reseller sync may change.
    #[error("these fields are locked by the tenant reseller: {}", .0.join(", "))]
    FieldLocked(Vec<String>),
    /// Something only callers with the integration role may do.
    #[error("{0}")]
    IntegrationOnly(&'static str),
    /// A service this one depends on cannot answer.
    #[error("{what} is unavailable: {cause}")]
    Unavailable { what: &'static str, cause: String },
    /// A peer refused the call for the caller's own reasons: its answer
    /// goes back as it came.
    #[error("{0}")]
    Upstream(tonic::Status),
    /// A message of a stream is larger than the server takes.
    #[error("{0}")]
    MessageTooLarge(String),
    #[error(transparent)]
    Platform(#[from] PlatformError),
}

impl AccountsError {
    pub fn not_found(kind: &'static str, id: impl ToString) -> AccountsError {
        AccountsError::NotFound { kind, id: id.to_string() }
    }

    pub fn precondition(reason: &'static str, description: impl Into<String>) -> AccountsError {
        AccountsError::Precondition { reason, description: description.into() }
    }

    /// The stable UPPER_SNAKE reason clients branch on.
    pub fn reason(&self) -> &'static str {
        match self {
            AccountsError::Invalid(_) => "INVALID_ARGUMENT",
            AccountsError::AddressInvalid(_) => "ADDRESS_INVALID",
            AccountsError::NotFound { .. } => "NOT_FOUND",
            AccountsError::NameTaken => "ACCOUNT_NAME_TAKEN",
            AccountsError::CodeTaken => "ACCOUNT_CODE_TAKEN",
            AccountsError::UserEmailTaken => "USER_EMAIL_TAKEN",
            AccountsError::CustomFieldExists => "CUSTOM_FIELD_EXISTS",
            AccountsError::Precondition { reason, .. } => reason,
            AccountsError::Unavailable { .. } => "UNAVAILABLE",
            AccountsError::Upstream(_) => "UPSTREAM",
            AccountsError::MessageTooLarge(_) => "MESSAGE_TOO_LARGE",
            AccountsError::GroupRules(rules) => rules.first().map_or("GROUP_RULE", |(reason, _)| reason),
            AccountsError::MoneyHeld(held) => held.first().map_or("MONEY_HELD", |(reason, _)| reason),
            AccountsError::FieldLocked(_) => "FIELD_LOCKED",
            AccountsError::Residential { reason, .. } => reason,
            AccountsError::IntegrationOnly(_) => "INTEGRATION_ONLY",
            AccountsError::Platform(_) => "PLATFORM",
        }
    }
}

impl AccountsError {
    /// RESIDENTIAL_FEATURE for what is refused, if anything is.
    pub fn check_residential(refused: Vec<crate::domain::residential::Refusal>) -> Result<(), AccountsError> {
        match refused.is_empty() {
            true => Ok(()),
            false => Err(AccountsError::Residential { reason: crate::domain::residential::REFUSED, refused }),
        }
    }
}

impl From<Violations> for AccountsError {
    fn from(violations: Violations) -> AccountsError {
        AccountsError::Invalid(violations)
    }
}
