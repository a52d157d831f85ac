//! The pricing error as its caller is answered: one exhaustive match.

use bss_platform::error::{Answer, Rule};

use crate::domain::contract::RESIDENTIAL_FEATURE;
use crate::domain::error::PricingError;

/// The ErrorInfo domain of this context.
pub const DOMAIN: &str = "pricing.bss";

bss_platform::service_error!(PricingError, DOMAIN);

impl From<PricingError> for Answer {
    fn from(error: PricingError) -> Answer {
        let reason = error.reason();
        let description = error.to_string();
        match error {
            PricingError::Invalid(violations) => Answer::Invalid(violations),
            PricingError::NotFound { kind, id } => Answer::NotFound { kind, id },
            PricingError::AlreadyExists { .. } => Answer::AlreadyExists { reason, description },
            // Named as accounts names a residential account's feature.
            PricingError::Precondition { reason: RESIDENTIAL_FEATURE, .. } => {
                Answer::refused(reason, "contracts", description)
            }
            PricingError::Precondition { .. } => Answer::refused(reason, "pricing", description),
            PricingError::Lines(lines) => {
                let summary: Vec<&str> = lines.iter().map(|(_, _, explanation)| explanation.as_str()).collect();
                let description = summary.join("; ");
                let rules = lines
                    .into_iter()
                    .map(|(line, rule, explanation)| Rule {
                        reason: rule.to_owned(),
                        subject: format!("lines[{}]", line - 1),
                        description: explanation,
                    })
                    .collect();
                Answer::Refused { reason, rules, description }
            }
            PricingError::Unavailable { what, cause } => Answer::Unavailable { what, cause },
            PricingError::Upstream(status) => Answer::Upstream(status),
            PricingError::Platform(error) => Answer::Platform(error),
        }
    }
}
