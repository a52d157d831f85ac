//! The account lifecycle: active, suspended, terminated.
//!
//! ```text
//! active --suspend--> suspended --reactivate--> active
//! active | suspended --terminate--> terminated (final)
//! ```
//! A group parent's transition cascades to its members; a member suspended
//! with its parent is reactivated with it, not one suspended on its own.

use super::account::AccountStatus;
use super::error::AccountsError;

/// A lifecycle action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    Suspend,
    Reactivate,
    Terminate,
}

impl Transition {
    /// The status after the transition, or the rule that forbids it.
    pub fn apply(self, from: AccountStatus) -> Result<AccountStatus, AccountsError> {
        match (self, from) {
            (_, AccountStatus::Terminated) => Err(AccountsError::precondition(
                "ACCOUNT_TERMINATED",
                "the account is terminated; nothing can change its status",
            )),
            (Transition::Suspend, AccountStatus::Active) => Ok(AccountStatus::Suspended),
            (Transition::Suspend, AccountStatus::Suspended) => {
                Err(AccountsError::precondition("ACCOUNT_NOT_ACTIVE", "only an active account can be suspended"))
            }
            (Transition::Reactivate, AccountStatus::Suspended) => Ok(AccountStatus::Active),
            (Transition::Reactivate, AccountStatus::Active) => {
                Err(AccountsError::precondition("ACCOUNT_NOT_SUSPENDED", "only a suspended account can be reactivated"))
            }
            (Transition::Terminate, AccountStatus::Active | AccountStatus::Suspended) => Ok(AccountStatus::Terminated),
        }
    }

    /// The history action of the transition.
    pub fn action(self) -> &'static str {
        match self {
            Transition::Suspend => "SUSPENDED",
            Transition::Reactivate => "REACTIVATED",
            Transition::Terminate => "TERMINATED",
        }
    }

    /// Whether a group member in `status` follows its parent through this
    /// transition; `suspended_with_parent` says the member was suspended by
    /// the parent's cascade rather than on its own.
    pub fn cascades_to(self, status: AccountStatus, suspended_with_parent: bool) -> bool {
        match self {
            Transition::Suspend => status == AccountStatus::Active,
            Transition::Reactivate => status == AccountStatus::Suspended && suspended_with_parent,
            Transition::Terminate => status != AccountStatus::Terminated,
        }
    }
}

/// The history line text of a change that cascaded from a group parent.
pub fn cascade_reason(transition: Transition, parent_code: &str, reason: &str) -> String {
    let status = match transition {
        Transition::Suspend => "suspended",
        Transition::Reactivate => "reactivated",
        Transition::Terminate => "terminated",
    };
    format!("{status} with its group parent {parent_code}: {reason}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_machine_allows_only_its_arrows() {
        use AccountStatus::*;
        assert_eq!(Transition::Suspend.apply(Active).ok(), Some(Suspended));
        assert_eq!(Transition::Reactivate.apply(Suspended).ok(), Some(Active));
        assert_eq!(Transition::Terminate.apply(Active).ok(), Some(Terminated));
        assert_eq!(Transition::Terminate.apply(Suspended).ok(), Some(Terminated));
        for (transition, from, reason) in [
            (Transition::Suspend, Suspended, "ACCOUNT_NOT_ACTIVE"),
            (Transition::Reactivate, Active, "ACCOUNT_NOT_SUSPENDED"),
            (Transition::Reactivate, Terminated, "ACCOUNT_TERMINATED"),
            (Transition::Suspend, Terminated, "ACCOUNT_TERMINATED"),
            (Transition::Terminate, Terminated, "ACCOUNT_TERMINATED"),
        ] {
            let error = transition.apply(from).expect_err("forbidden");
            assert_eq!(error.reason(), reason);
        }
    }

    #[test]
    fn members_follow_their_parent_except_those_suspended_on_their_own() {
        use AccountStatus::*;
        assert!(Transition::Suspend.cascades_to(Active, false));
        assert!(!Transition::Suspend.cascades_to(Suspended, false));
        assert!(Transition::Reactivate.cascades_to(Suspended, true));
        assert!(!Transition::Reactivate.cascades_to(Suspended, false));
        assert!(Transition::Terminate.cascades_to(Suspended, false));
        assert!(!Transition::Terminate.cascades_to(Terminated, true));
    }
}
