//! The residential profile: the documents' residential customer "will only
//! have access to a limited number of features". Each tenant says which;
//! wherever a residential account would get more, the call is refused
//! (FAILED_PRECONDITION RESIDENTIAL_FEATURE, naming the feature).

use std::collections::BTreeSet;

use bss_platform::payment::PaymentType;

use super::account::{AccountFields, AccountProfile};

/// The stable reason of every refusal of a residential account's feature.
pub const REFUSED: &str = "RESIDENTIAL_FEATURE";

/// The stable reason of a feature set that takes away what residential
/// accounts still have.
pub const IN_USE: &str = "RESIDENTIAL_FEATURE_IN_USE";

/// A feature a residential account may be refused, by its stable name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Feature {
    SubAccounts,
    Groups,
    Contracts,
    PaymentTypes,
}

impl Feature {
    pub fn as_str(self) -> &'static str {
        match self {
            Feature::SubAccounts => "sub_accounts",
            Feature::Groups => "groups",
            Feature::Contracts => "contracts",
            Feature::PaymentTypes => "payment_types",
        }
    }
}

/// What a tenant's residential accounts may have.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResidentialFeatures {
    /// A parent (bill-to) account, or sub-accounts of its own.
    pub sub_accounts: bool,
    /// A group's parent or member.
    pub groups: bool,
    /// On a contract (pricing asks).
    pub contracts: bool,
    /// The payment types it may enable.
    pub payment_types: BTreeSet<PaymentType>,
}

impl Default for ResidentialFeatures {
    /// The documents' defaults: no sub-accounts or groups, no contracts,
    /// card or PayPal only.
    fn default() -> Self {
        ResidentialFeatures {
            sub_accounts: false,
            groups: false,
            contracts: false,
            payment_types: [PaymentType::CreditCard, PaymentType::PayPal].into(),
        }
    }
}

/// A feature refused, and why.
pub type Refusal = (Feature, String);

impl ResidentialFeatures {
    /// Whether judging an account with `fields` needs what is around it
    /// (a query): only when a residential account, or a child of one,
    /// could have what the set refuses.
    pub fn needs_surroundings(&self, fields: &AccountFields) -> bool {
        let residential = fields.profile == AccountProfile::Residential;
        (residential && (!self.sub_accounts || !self.groups))
            || (!self.sub_accounts && fields.parent_account_id.is_some())
    }

    /// What an account with `fields`, amid `around`, has beyond the set: a
    /// parent or children, a group, a payment type not allowed when it is
    /// residential; a residential parent when it is anyone's child.
    pub fn refusals(&self, fields: &AccountFields, around: &Surroundings) -> Vec<Refusal> {
        let mut refused = Vec::new();
        if !self.sub_accounts && around.parent_profile == Some(AccountProfile::Residential) {
            refused.push((
                Feature::SubAccounts,
                "its parent account is residential: it has no sub-accounts here".to_owned(),
            ));
        }
        if fields.profile != AccountProfile::Residential {
            return refused;
        }
        if !self.sub_accounts && fields.parent_account_id.is_some() {
            refused.push((Feature::SubAccounts, "a residential account has no parent account here".to_owned()));
        }
        if !self.sub_accounts && around.has_children {
            refused.push((Feature::SubAccounts, "a residential account has no sub-accounts here".to_owned()));
        }
        if !self.groups && around.in_group {
            refused.push((Feature::Groups, "a residential account is in no group here".to_owned()));
        }
        let beyond: Vec<&str> = fields
            .payment_types
            .iter()
            .filter(|kind| !self.payment_types.contains(kind))
            .map(|kind| kind.code())
            .collect();
        if !beyond.is_empty() {
            let allowed: Vec<&str> = self.payment_types.iter().map(|kind| kind.code()).collect();
            refused.push((
                Feature::PaymentTypes,
                format!("a residential account may enable {} only, not {}", allowed.join(", "), beyond.join(", ")),
            ));
        }
        refused
    }

    /// What a change of an account from `before` (none: a new account) to
    /// `after` adds beyond the set: what it had already (before the tenant
    /// narrowed the set, say) stays and blocks no other change; a payment
    /// type, a parent, or becoming residential amid sub-accounts or a group
    /// is judged when the change brings it.
    pub fn refusals_of_change(
        &self,
        before: Option<&AccountFields>,
        after: &AccountFields,
        around: &Surroundings,
    ) -> Vec<Refusal> {
        let Some(before) = before else {
            return self.refusals(after, around);
        };
        let became_residential =
            before.profile != AccountProfile::Residential && after.profile == AccountProfile::Residential;
        let parent_changed = before.parent_account_id != after.parent_account_id;
        let judged = AccountFields {
            payment_types: match became_residential {
                true => after.payment_types.clone(),
                false => {
                    after.payment_types.iter().filter(|kind| !before.payment_types.contains(kind)).copied().collect()
                }
            },
            parent_account_id: after.parent_account_id.filter(|_| became_residential || parent_changed),
            ..after.clone()
        };
        let around = Surroundings {
            has_children: around.has_children && became_residential,
            in_group: around.in_group && became_residential,
            parent_profile: around.parent_profile.filter(|_| parent_changed),
        };
        self.refusals(&judged, &around)
    }

    /// Whether accounts of `profiles` may form a group (its parent's and
    /// member's profiles).
    pub fn group_refusal(&self, profiles: [AccountProfile; 2]) -> Option<Refusal> {
        (!self.groups && profiles.contains(&AccountProfile::Residential))
            .then(|| (Feature::Groups, "a residential account is in no group here".to_owned()))
    }

    /// What this set takes away that residential accounts still have, given
    /// which of it they have now.
    pub fn taken_away(&self, in_use: &InUse) -> Vec<Refusal> {
        let mut taken = Vec::new();
        if !self.sub_accounts && in_use.sub_accounts > 0 {
            taken.push((
                Feature::SubAccounts,
                format!("{} residential accounts have a parent or sub-accounts", in_use.sub_accounts),
            ));
        }
        if !self.groups && in_use.groups > 0 {
            taken.push((Feature::Groups, format!("{} residential accounts are in a group", in_use.groups)));
        }
        let beyond: Vec<&str> = in_use
            .payment_types
            .iter()
            .filter(|(kind, _)| !self.payment_types.contains(kind))
            .map(|(kind, _)| kind.code())
            .collect();
        if !beyond.is_empty() {
            taken.push((Feature::PaymentTypes, format!("residential accounts enable {}", beyond.join(", "))));
        }
        taken
    }
}

/// What is around an account: other accounts name it as their parent, it
/// is in a group (as parent or member), its parent's profile.
#[derive(Clone, Copy, Debug, Default)]
pub struct Surroundings {
    pub has_children: bool,
    pub in_group: bool,
    pub parent_profile: Option<AccountProfile>,
}

/// What a tenant's residential accounts have now: how many have a parent
/// or sub-accounts, how many are in a group, and each payment type enabled
/// with how many enable it.
#[derive(Clone, Debug, Default)]
pub struct InUse {
    pub sub_accounts: i64,
    pub groups: i64,
    pub payment_types: Vec<(PaymentType, i64)>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::account::AccountFields;

    fn residential(payment_types: &[PaymentType], parent: bool) -> AccountFields {
        AccountFields {
            profile: AccountProfile::Residential,
            payment_types: payment_types.to_vec(),
            parent_account_id: parent.then(uuid::Uuid::now_v7),
            ..AccountFields::example()
        }
    }

    fn features(refused: Vec<Refusal>) -> Vec<Feature> {
        refused.into_iter().map(|(feature, _)| feature).collect()
    }

    #[test]
    fn by_default_a_residential_account_pays_by_card_or_paypal_and_stands_alone() {
        let set = ResidentialFeatures::default();
        let alone = Surroundings::default();
        let card = residential(&[PaymentType::CreditCard, PaymentType::PayPal], false);
        assert!(set.refusals(&card, &alone).is_empty());
        assert_eq!(
            features(set.refusals(&residential(&[PaymentType::OnAccount, PaymentType::CreditCard], true), &alone)),
            [Feature::SubAccounts, Feature::PaymentTypes]
        );
        let parent = Surroundings { has_children: true, ..alone };
        assert_eq!(features(set.refusals(&card, &parent)), [Feature::SubAccounts]);
        let grouped = Surroundings { in_group: true, ..alone };
        assert_eq!(features(set.refusals(&card, &grouped)), [Feature::Groups]);
        // A normal account under a residential one is refused too.
        let child = AccountFields { profile: AccountProfile::Normal, ..residential(&[], true) };
        let under_residential = Surroundings { parent_profile: Some(AccountProfile::Residential), ..alone };
        assert_eq!(features(set.refusals(&child, &under_residential)), [Feature::SubAccounts]);
        assert!(set.needs_surroundings(&child) && set.needs_surroundings(&card));
        assert!(!set.needs_surroundings(&AccountFields { profile: AccountProfile::Normal, ..card.clone() }));
        let refused = set.refusals(&residential(&[PaymentType::OnAccount], false), &alone);
        assert_eq!(refused[0].1, "a residential account may enable CC, PP only, not AC");
        assert_eq!(
            set.group_refusal([AccountProfile::Normal, AccountProfile::Residential]).map(|(f, _)| f),
            Some(Feature::Groups)
        );
        assert_eq!(set.group_refusal([AccountProfile::Normal, AccountProfile::Normal]), None);
    }

    #[test]
    fn a_normal_account_is_never_limited_and_a_wider_set_allows_more() {
        let set = ResidentialFeatures::default();
        let everything =
            Surroundings { has_children: true, in_group: true, parent_profile: Some(AccountProfile::Normal) };
        let normal = AccountFields { profile: AccountProfile::Normal, ..residential(&[PaymentType::OnAccount], true) };
        assert!(set.refusals(&normal, &everything).is_empty());
        let wide = ResidentialFeatures {
            sub_accounts: true,
            groups: true,
            contracts: true,
            payment_types: PaymentType::ALL.into(),
        };
        let under_residential = Surroundings { parent_profile: Some(AccountProfile::Residential), ..everything };
        assert!(wide.refusals(&residential(&[PaymentType::OnAccount], true), &under_residential).is_empty());
        assert!(!wide.needs_surroundings(&residential(&[], true)));
        assert_eq!(wide.group_refusal([AccountProfile::Residential; 2]), None);
    }

    #[test]
    fn a_change_is_refused_only_what_it_adds() {
        let set = ResidentialFeatures::default();
        // Had on account and a parent before the set was narrowed: a name
        // change goes through; another such payment type does not.
        let before = residential(&[PaymentType::OnAccount], true);
        let renamed = AccountFields { tax_number: "T-1".to_owned(), ..before.clone() };
        let around = Surroundings { has_children: true, in_group: true, parent_profile: Some(AccountProfile::Normal) };
        assert!(set.refusals_of_change(Some(&before), &renamed, &around).is_empty());
        let more =
            AccountFields { payment_types: vec![PaymentType::OnAccount, PaymentType::DirectDeposit], ..before.clone() };
        let refused = set.refusals_of_change(Some(&before), &more, &around);
        assert_eq!(features(refused.clone()), [Feature::PaymentTypes]);
        assert!(refused[0].1.ends_with("not DD"), "{refused:?}");
        // Becoming residential is judged whole.
        let normal = AccountFields { profile: AccountProfile::Normal, ..before.clone() };
        assert_eq!(
            features(set.refusals_of_change(Some(&normal), &before, &around)),
            [Feature::SubAccounts, Feature::SubAccounts, Feature::Groups, Feature::PaymentTypes]
        );
        // A new parent is judged; a new account is judged whole.
        let moved = AccountFields { parent_account_id: Some(uuid::Uuid::now_v7()), ..before.clone() };
        assert_eq!(
            features(set.refusals_of_change(Some(&before), &moved, &Surroundings::default())),
            [Feature::SubAccounts]
        );
        assert_eq!(
            features(set.refusals_of_change(None, &before, &Surroundings::default())),
            [Feature::SubAccounts, Feature::PaymentTypes]
        );
    }

    #[test]
    fn a_set_that_takes_away_what_accounts_have_names_each_feature() {
        let in_use = InUse {
            sub_accounts: 0,
            groups: 2,
            payment_types: vec![(PaymentType::CreditCard, 3), (PaymentType::OnAccount, 1)],
        };
        let set = ResidentialFeatures::default();
        assert_eq!(features(set.taken_away(&in_use)), [Feature::Groups, Feature::PaymentTypes]);
        let enough = ResidentialFeatures {
            groups: true,
            payment_types: [PaymentType::CreditCard, PaymentType::OnAccount].into(),
            ..ResidentialFeatures::default()
        };
        assert!(enough.taken_away(&in_use).is_empty());
    }
}
