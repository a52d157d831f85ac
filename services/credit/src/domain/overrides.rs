//! Override credit limit rules [S4]: for an event kind (order, subscription
//! activation, service request), the limit does not apply to accounts that
//! meet every condition the rule sets (an empty condition matches every
//! account).

use uuid::Uuid;

use super::account::Terms;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OverrideRule {
    pub id: Uuid,
    /// ORDER, SUBSCRIPTION_ACTIVATION or SERVICE_REQUEST.
    pub event_kind: String,
    pub classification: String,
    pub credit_rating: String,
    pub kyc_profile: String,
}

impl OverrideRule {
    /// Whether the rule lifts the limit of an account with `terms` for an
    /// event of `event_kind`.
    pub fn lifts(&self, event_kind: &str, terms: &Terms) -> bool {
        let condition = |wanted: &str, actual: &str| wanted.is_empty() || wanted == actual;
        self.event_kind == event_kind
            && condition(&self.classification, &terms.classification)
            && condition(&self.credit_rating, &terms.rating)
            && condition(&self.kyc_profile, &terms.kyc_profile)
    }
}

/// Whether any of the tenant's rules lifts the limit.
pub fn limit_lifted(rules: &[OverrideRule], event_kind: &str, terms: &Terms) -> bool {
    rules.iter().any(|rule| rule.lifts(event_kind, terms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::account::Settings;

    fn rule(event_kind: &str, classification: &str, credit_rating: &str, kyc_profile: &str) -> OverrideRule {
        OverrideRule {
            id: Uuid::nil(),
            event_kind: event_kind.into(),
            classification: classification.into(),
            credit_rating: credit_rating.into(),
            kyc_profile: kyc_profile.into(),
        }
    }

    fn terms(classification: &str, rating: &str, kyc_profile: &str) -> Terms {
        Terms {
            classification: classification.into(),
            rating: rating.into(),
            kyc_profile: kyc_profile.into(),
            ..Terms::defaults(&Settings::default())
        }
    }

    #[test]
    fn a_rule_lifts_the_limit_only_for_its_event_kind() {
        let activation = rule("SUBSCRIPTION_ACTIVATION", "", "", "");
        assert!(activation.lifts("SUBSCRIPTION_ACTIVATION", &terms("", "", "")));
        assert!(!activation.lifts("ORDER", &terms("", "", "")));
    }

    #[test]
    fn every_condition_set_must_match_and_an_empty_one_matches_anything() {
        let government = rule("ORDER", "GOVERNMENT", "A", "");
        assert!(government.lifts("ORDER", &terms("GOVERNMENT", "A", "anything")));
        assert!(!government.lifts("ORDER", &terms("GOVERNMENT", "B", "")), "the rating differs");
        assert!(!government.lifts("ORDER", &terms("RETAIL", "A", "")), "the classification differs");
        let kyc = rule("ORDER", "", "", "VERIFIED");
        assert!(kyc.lifts("ORDER", &terms("", "", "VERIFIED")));
        assert!(!kyc.lifts("ORDER", &terms("", "", "")));
        assert!(limit_lifted(&[government, kyc], "ORDER", &terms("", "", "VERIFIED")));
        assert!(!limit_lifted(&[], "ORDER", &terms("", "", "")));
    }
}
