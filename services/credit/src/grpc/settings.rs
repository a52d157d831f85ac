//! CreditSettingsService: the tenant's defaults, ratings and override rules.

use bss_platform::auth::authorize;
use bss_platform::error::Violations;
use bss_platform::fieldmask::writable_paths;
use bss_platform::idempotency::RequestKey;
use bss_platform::input::{code, optional_text, parse_id};
use bss_platform::money::{decimal_from_wire, decimal_to_wire};
use bss_platform::paging::Page;
use bss_proto::credit::credit_settings_service_server::CreditSettingsService;
use bss_proto::credit::*;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{CreditApi, MANAGERS, READERS};
use crate::domain::account::Rating;
use crate::domain::error::CreditError;
use crate::domain::overrides::OverrideRule as Rule;
use crate::wire::{settings_from_wire, settings_to_proto};

/// Longest rating code.
const MAX_CODE: usize = 40;
/// Longest rating name.
const MAX_NAME: usize = 200;

/// The stored code of an event kind (UNSPECIFIED means ORDER).
pub fn event_kind_code(value: i32) -> Result<&'static str, String> {
    match EventKind::try_from(value) {
        Ok(EventKind::Unspecified | EventKind::Order) => Ok("ORDER"),
        Ok(EventKind::SubscriptionActivation) => Ok("SUBSCRIPTION_ACTIVATION"),
        Ok(EventKind::ServiceRequest) => Ok("SERVICE_REQUEST"),
        Err(_) => Err(format!("{value} is not an event kind")),
    }
}

fn event_kind_from_code(code: &str) -> EventKind {
    match code {
        "SUBSCRIPTION_ACTIVATION" => EventKind::SubscriptionActivation,
        "SERVICE_REQUEST" => EventKind::ServiceRequest,
        _ => EventKind::Order,
    }
}

fn rating_to_proto(rating: &Rating) -> CreditRating {
    CreditRating {
        code: rating.code.clone(),
        name: rating.name.clone(),
        default_credit_limit: rating.default_limit.map(decimal_to_wire),
    }
}

fn rule_to_proto(rule: &Rule) -> OverrideRule {
    OverrideRule {
        id: rule.id.to_string(),
        event_kind: event_kind_from_code(&rule.event_kind) as i32,
        classification: rule.classification.clone(),
        credit_rating: rule.credit_rating.clone(),
        kyc_profile: rule.kyc_profile.clone(),
    }
}

/// The fields of the credit settings an update may name.
const SETTINGS_FIELDS: &[&str] = &[
    "default_credit_period_days",
    "min_credit_period_days",
    "max_credit_period_days",
    "default_credit_limit",
    "default_policy",
    "notification_thresholds",
    "auto_suspend_over_percent",
    "reservation_ttl_seconds",
    "held_order_ttl_seconds",
    "held_orders_credit_managers_only",
];

/// The stored settings with the fields `paths` names taken from `input`.
fn masked(mut stored: CreditSettings, input: CreditSettings, paths: &[&str]) -> CreditSettings {
    for path in paths {
        match *path {
            "default_credit_period_days" => stored.default_credit_period_days = input.default_credit_period_days,
            "min_credit_period_days" => stored.min_credit_period_days = input.min_credit_period_days,
            "max_credit_period_days" => stored.max_credit_period_days = input.max_credit_period_days,
            "default_credit_limit" => stored.default_credit_limit = input.default_credit_limit.clone(),
            "default_policy" => stored.default_policy = input.default_policy,
            "notification_thresholds" => stored.notification_thresholds = input.notification_thresholds.clone(),
            "auto_suspend_over_percent" => stored.auto_suspend_over_percent = input.auto_suspend_over_percent.clone(),
            "reservation_ttl_seconds" => stored.reservation_ttl_seconds = input.reservation_ttl_seconds,
            "held_order_ttl_seconds" => stored.held_order_ttl_seconds = input.held_order_ttl_seconds,
            "held_orders_credit_managers_only" => {
                stored.held_orders_credit_managers_only = input.held_orders_credit_managers_only;
            }
            _ => {}
        }
    }
    stored
}

#[tonic::async_trait]
impl CreditSettingsService for CreditApi {
    async fn get_credit_settings(
        &self,
        request: Request<GetCreditSettingsRequest>,
    ) -> Result<Response<GetCreditSettingsResponse>, Status> {
        let (_, tenant_id) = authorize(&request, READERS)?;
        let run = async {
            let settings = self.settings(tenant_id).await?;
            Ok::<_, CreditError>(GetCreditSettingsResponse { settings: Some(settings_to_proto(&settings)) })
        };
        Ok(Response::new(run.await?))
    }

    async fn update_credit_settings(
        &self,
        request: Request<UpdateCreditSettingsRequest>,
    ) -> Result<Response<UpdateCreditSettingsResponse>, Status> {
        let (_, tenant_id) = authorize(&request, MANAGERS)?;
        let request = request.into_inner();
        let run = async {
            let input = request.settings.clone().unwrap_or_default();
            let paths = match &request.update_mask {
                None => None,
                Some(mask) => Some(writable_paths(Some(mask), SETTINGS_FIELDS)?),
            };
            // A whole replacement is checked before the transaction: it
            // needs nothing stored.
            let whole = if paths.is_none() { Some(settings_from_wire(&input)?) } else { None };
            let key = RequestKey::new(tenant_id, "UpdateCreditSettings", &request.request_id, &request)?;
            let etag = input.etag.clone();
            let change = |current: &crate::domain::account::Settings| match (whole, paths) {
                (Some(whole), _) => Ok(whole),
                (None, paths) => {
                    let paths = paths.unwrap_or_default();
                    Ok(settings_from_wire(&masked(settings_to_proto(current), input, &paths))?)
                }
            };
            self.update_settings(tenant_id, key, &etag, change, |settings| UpdateCreditSettingsResponse {
                settings: Some(settings_to_proto(settings)),
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn create_credit_rating(
        &self,
        request: Request<CreateCreditRatingRequest>,
    ) -> Result<Response<CreateCreditRatingResponse>, Status> {
        let (_, tenant_id) = authorize(&request, MANAGERS)?;
        let request = request.into_inner();
        let run = async {
            let input = request.rating.clone().unwrap_or_default();
            let mut v = Violations::new();
            let code = v.keep("rating.code", code(&input.code, MAX_CODE));
            let name = v.keep("rating.name", optional_text(&input.name, MAX_NAME));
            let limit = match input.default_credit_limit.as_ref().filter(|limit| !limit.value.is_empty()) {
                None => Some(None),
                Some(limit) => decimal_from_wire(&mut v, "rating.default_credit_limit", Some(limit), None).map(Some),
            };
            let (Some(code), Some(name), Some(default_limit)) = (code, name, limit) else {
                return Err(v.into());
            };
            let key = RequestKey::new(tenant_id, "CreateCreditRating", &request.request_id, &request)?;
            let rating = Rating { code, name, default_limit };
            self.create_rating(tenant_id, key, rating, |rating| CreateCreditRatingResponse {
                rating: Some(rating_to_proto(rating)),
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn list_credit_ratings(
        &self,
        request: Request<ListCreditRatingsRequest>,
    ) -> Result<Response<ListCreditRatingsResponse>, Status> {
        let (_, tenant_id) = authorize(&request, READERS)?;
        let request = request.into_inner();
        let run = async {
            let page = Page::parse(request.page_size, &request.page_token, &ListCreditRatingsRequest::default())?;
            let ratings = self.ratings(tenant_id, (page.after_text()?, page.fetch_limit())).await?;
            let (ratings, next_page_token) = page.finish(ratings, |rating| rating.code.as_bytes().to_vec());
            Ok::<_, CreditError>(ListCreditRatingsResponse {
                ratings: ratings.iter().map(rating_to_proto).collect(),
                next_page_token,
            })
        };
        Ok(Response::new(run.await?))
    }

    async fn create_override_rule(
        &self,
        request: Request<CreateOverrideRuleRequest>,
    ) -> Result<Response<CreateOverrideRuleResponse>, Status> {
        let (_, tenant_id) = authorize(&request, MANAGERS)?;
        let request = request.into_inner();
        let run = async {
            let input = request.rule.clone().unwrap_or_default();
            let mut v = Violations::new();
            let event_kind = if input.event_kind == EventKind::Unspecified as i32 {
                v.add("rule.event_kind", "required");
                None
            } else {
                v.keep("rule.event_kind", event_kind_code(input.event_kind))
            };
            let classification = v.keep("rule.classification", optional_text(&input.classification, MAX_CODE));
            let credit_rating = v.keep("rule.credit_rating", optional_text(&input.credit_rating, MAX_CODE));
            let kyc_profile = v.keep("rule.kyc_profile", optional_text(&input.kyc_profile, MAX_CODE));
            let (Some(event_kind), Some(classification), Some(credit_rating), Some(kyc_profile)) =
                (event_kind, classification, credit_rating, kyc_profile)
            else {
                return Err(v.into());
            };
            let key = RequestKey::new(tenant_id, "CreateOverrideRule", &request.request_id, &request)?;
            let rule = Rule {
                id: Uuid::now_v7(),
                event_kind: event_kind.to_owned(),
                classification,
                credit_rating,
                kyc_profile,
            };
            self.create_rule(tenant_id, key, rule, |rule| CreateOverrideRuleResponse {
                rule: Some(rule_to_proto(rule)),
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn list_override_rules(
        &self,
        request: Request<ListOverrideRulesRequest>,
    ) -> Result<Response<ListOverrideRulesResponse>, Status> {
        let (_, tenant_id) = authorize(&request, READERS)?;
        let request = request.into_inner();
        let run = async {
            let page = Page::parse(request.page_size, &request.page_token, &ListOverrideRulesRequest::default())?;
            let rules = self.rules(tenant_id, (page.after_uuid()?, page.fetch_limit())).await?;
            let (rules, next_page_token) = page.finish(rules, |rule| rule.id.as_bytes().to_vec());
            Ok::<_, CreditError>(ListOverrideRulesResponse {
                rules: rules.iter().map(rule_to_proto).collect(),
                next_page_token,
            })
        };
        Ok(Response::new(run.await?))
    }

    async fn delete_override_rule(
        &self,
        request: Request<DeleteOverrideRuleRequest>,
    ) -> Result<Response<DeleteOverrideRuleResponse>, Status> {
        let (_, tenant_id) = authorize(&request, MANAGERS)?;
        let request = request.into_inner();
        let run = async {
            let id = parse_id("id", &request.id)?;
            let key = RequestKey::new(tenant_id, "DeleteOverrideRule", &request.request_id, &request)?;
            self.delete_rule(tenant_id, key, id, DeleteOverrideRuleResponse {}).await
        };
        Ok(Response::new(run.await?))
    }
}
