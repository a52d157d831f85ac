//! The pricing error as a gRPC status: one exhaustive match.

use std::collections::HashMap;

use bss_platform::error::{failed_precondition, invalid_argument, not_found, unavailable, with_reason};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::domain::error::PricingError;

/// The ErrorInfo domain of this context.
pub const DOMAIN: &str = "pricing.bss";

impl From<PricingError> for Status {
    fn from(error: PricingError) -> Status {
        let reason = error.reason();
        let description = error.to_string();
        match error {
            PricingError::Invalid(violations) => invalid_argument(&violations),
            PricingError::NotFound { kind, id } => not_found(kind, &id),
            PricingError::AlreadyExists { .. } => with_reason(Code::AlreadyExists, DOMAIN, reason, &description),
            PricingError::Precondition { .. } => failed_precondition(DOMAIN, reason, "pricing", &description),
            PricingError::Lines(lines) => {
                let mut details = ErrorDetails::with_error_info(reason, DOMAIN, HashMap::new());
                for (line, rule, explanation) in &lines {
                    details.add_precondition_failure_violation(
                        *rule,
                        format!("lines[{}]", line - 1),
                        explanation.clone(),
                    );
                }
                let summary: Vec<&str> = lines.iter().map(|(_, _, explanation)| explanation.as_str()).collect();
                Status::with_error_details(Code::FailedPrecondition, summary.join("; "), details)
            }
            PricingError::Unavailable { what, cause } => unavailable(what, &cause),
            PricingError::Upstream(status) => status,
            PricingError::Platform(error) => error.into(),
        }
    }
}
