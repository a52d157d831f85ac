//! Account groups: the conditions for forming one, and what the parent pays.

use super::account::{Account, AccountProfile, AccountStatus};

/// What the parent pays for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Funding {
    Full,
    Partial { product_ids: Vec<String>, product_types: Vec<String>, product_families: Vec<String> },
}

impl Funding {
    pub fn scope(&self) -> &'static str {
        match self {
            Funding::Full => "full",
            Funding::Partial { .. } => "partial",
        }
    }

    /// Partial funding names at least one product, type or family; each
    /// entry is 1 to 64 characters.
    pub fn partial(
        product_ids: &[String],
        product_types: &[String],
        product_families: &[String],
    ) -> Result<Funding, String> {
        let clean = |values: &[String]| -> Result<Vec<String>, String> {
            let mut cleaned: Vec<String> = Vec::new();
            for value in values {
                let value = value.trim();
                if value.is_empty() || value.chars().count() > 64 {
                    return Err("each product, type and family must be 1 to 64 characters".to_owned());
                }
                if !cleaned.iter().any(|existing| existing == value) {
                    cleaned.push(value.to_owned());
                }
            }
            Ok(cleaned)
        };
        let (product_ids, product_types, product_families) =
            (clean(product_ids)?, clean(product_types)?, clean(product_families)?);
        if product_ids.is_empty() && product_types.is_empty() && product_families.is_empty() {
            return Err("partial funding names at least one product, product type or product family".to_owned());
        }
        Ok(Funding::Partial { product_ids, product_types, product_families })
    }
}

/// An account as a candidate group parent or member, with what the rules
/// need to know about it.
#[derive(Clone, Debug)]
pub struct Candidate<'a> {
    pub account: &'a Account,
    /// It is the parent of a group.
    pub leads_group: bool,
    /// It is a member of a group.
    pub in_group: bool,
    /// Email of its primary contact, if any.
    pub primary_contact_email: Option<String>,
    /// It has pricing of its own (level, discount, pricelists, prices).
    pub has_own_pricing: bool,
}

impl Candidate<'_> {
    /// Who owns the account: its legal entity (tax number) when it has one,
    /// else the person of its primary contact. `None` when neither is known.
    pub fn owner(&self) -> Option<String> {
        let tax_number: String =
            self.account.fields.tax_number.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_uppercase();
        if !tax_number.is_empty() {
            return Some(format!("tax:{tax_number}"));
        }
        self.primary_contact_email.as_ref().map(|email| format!("email:{}", email.to_lowercase()))
    }
}

/// Every condition that `parent` and `member` break, each with its reason
/// and an explanation; empty when they may form (or extend) a group.
pub fn formation_violations(parent: &Candidate<'_>, member: &Candidate<'_>) -> Vec<(&'static str, String)> {
    let mut broken = Vec::new();
    let mut check = |fails: bool, reason: &'static str, description: &str| {
        if fails {
            broken.push((reason, description.to_owned()));
        }
    };
    check(parent.account.id == member.account.id, "SAME_ACCOUNT", "an account cannot be a member of its own group");
    check(parent.account.status != AccountStatus::Active, "PARENT_NOT_ACTIVE", "the parent account must be active");
    check(member.account.status != AccountStatus::Active, "MEMBER_NOT_ACTIVE", "the member account must be active");
    check(parent.in_group, "PARENT_IN_ANOTHER_GROUP", "the parent account is a member of another group");
    check(
        member.in_group || member.leads_group,
        "MEMBER_IN_ANOTHER_GROUP",
        "the member account is already a parent or member of a group",
    );
    check(parent.account.fields.system_account, "PARENT_IS_SYSTEM_ACCOUNT", "the parent is a system account");
    check(member.account.fields.system_account, "MEMBER_IS_SYSTEM_ACCOUNT", "the member is a system account");
    check(
        parent.account.currency_code != member.account.currency_code,
        "CURRENCY_MISMATCH",
        "the member must have the parent's currency",
    );
    let same_owner = matches!((parent.owner(), member.owner()), (Some(parent), Some(member)) if parent == member);
    check(same_owner, "SAME_OWNER", "the member must belong to another owner than the parent");
    check(
        member.account.fields.profile == AccountProfile::Normal && member.has_own_pricing,
        "MEMBER_HAS_OWN_PRICING",
        "a corporate member must not have pricing of its own",
    );
    broken
}
