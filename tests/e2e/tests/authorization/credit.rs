//! The credit context in the authorization matrix.

use std::time::Duration;

use bss_platform::auth::Role;
use bss_proto::credit::credit_event_service_client::CreditEventServiceClient;
use bss_proto::credit::credit_service_client::CreditServiceClient;
use bss_proto::credit::credit_settings_service_client::CreditSettingsServiceClient;
use bss_proto::credit::*;
use bss_proto::types::{Decimal, Money, PaymentType};
use bss_testkit::authorized;
use futures::StreamExt;
use tonic::Status;
use tonic::transport::Channel;
use uuid::Uuid;

use super::{Case, OtherTenant, Outcome, case, request};

const SETTINGS: &str = "bss.credit.v1.CreditSettingsService";
const CREDIT: &str = "bss.credit.v1.CreditService";
const EVENTS: &str = "bss.credit.v1.CreditEventService";

pub fn cases() -> Vec<Case> {
    use OtherTenant::*;
    let reader = Some(Role::SalesRep);
    let manager = Some(Role::BillingClerk);
    let order_checker = Some(Role::CreditManager);
    vec![
        case(SETTINGS, "GetCreditSettings", reader, NotApplicable),
        case(SETTINGS, "UpdateCreditSettings", manager, NotApplicable),
        case(SETTINGS, "CreateCreditRating", manager, NotApplicable),
        case(SETTINGS, "ListCreditRatings", reader, SeesNothing),
        case(SETTINGS, "CreateOverrideRule", manager, NotApplicable),
        case(SETTINGS, "ListOverrideRules", reader, SeesNothing),
        case(SETTINGS, "DeleteOverrideRule", manager, NotFound),
        case(CREDIT, "GetCreditTerms", reader, NotFound),
        case(CREDIT, "ChangeCreditTerms", manager, NotFound),
        case(CREDIT, "ListCreditTermsHistory", reader, NotFound),
        case(CREDIT, "ComputeDueDate", reader, NotFound),
        // Another tenant's account gets the caller's tenant defaults: its
        // terms are never read.
        case(CREDIT, "ComputeDueDates", reader, NotApplicable),
        case(CREDIT, "PutOnHold", manager, NotFound),
        case(CREDIT, "ReleaseHold", manager, NotFound),
        case(CREDIT, "GetCreditStatus", reader, NotFound),
        case(CREDIT, "GetExposureHistory", reader, NotFound),
        case(CREDIT, "AuthorizeOrder", order_checker, NotFound),
        case(CREDIT, "ReleaseReservation", order_checker, NotFound),
        case(CREDIT, "ListReservations", reader, NotFound),
        case(CREDIT, "ListHeldOrders", reader, SeesNothing),
        case(CREDIT, "ApproveHeldOrder", manager, NotFound),
        case(CREDIT, "RejectHeldOrder", manager, NotFound),
        case(CREDIT, "SetPaymentPreference", Some(Role::AccountManager), NotFound),
        case(CREDIT, "GetPaymentPreference", reader, NotFound),
        case(CREDIT, "SavePaymentMethod", Some(Role::AccountManager), NotFound),
        case(CREDIT, "UpdatePaymentMethod", Some(Role::AccountManager), NotFound),
        case(CREDIT, "RemovePaymentMethod", Some(Role::AccountManager), NotFound),
        case(CREDIT, "ListPaymentMethods", reader, NotFound),
        case(CREDIT, "CheckAccountsSettled", reader, SeesNothing),
        case(EVENTS, "StreamEvents", reader, SeesNothing),
    ]
}

fn money(amount: &str) -> Option<Money> {
    Some(Money { currency_code: "AUD".to_owned(), amount: amount.to_owned() })
}

fn decimal(value: &str) -> Option<Decimal> {
    Some(Decimal { value: value.to_owned() })
}

fn order(account_id: &str, amount: &str) -> AuthorizeOrderRequest {
    AuthorizeOrderRequest {
        keep_until_invoiced: false,
        payers: Vec::new(),
        request_id: String::new(),
        account_id: account_id.to_owned(),
        order_reference: format!("SO-{}", Uuid::now_v7().simple()),
        amount: money(amount),
        payment_type: PaymentType::OnAccount as i32,
        event_kind: EventKind::Order as i32,
        prepay_over_limit: false,
    }
}

/// The first tenant's credit every case aims at.
pub struct Fixture {
    tenant_id: String,
    account_id: String,
    rule_id: String,
    reservation_id: String,
    held_order_id: String,
    method_id: String,
}

impl Fixture {
    pub async fn set_up(channel: &Channel, tenant_id: Uuid, admin: &str, account_id: &str) -> Fixture {
        let mut settings = CreditSettingsServiceClient::new(channel.clone());
        let rating =
            CreditRating { code: "GOLD".to_owned(), name: "Gold".to_owned(), default_credit_limit: decimal("1000") };
        settings
            .create_credit_rating(authorized(
                CreateCreditRatingRequest { rating: Some(rating), request_id: String::new() },
                admin,
            ))
            .await
            .expect("rating");
        let rule = OverrideRule { event_kind: EventKind::ServiceRequest as i32, ..OverrideRule::default() };
        let rule_id = settings
            .create_override_rule(authorized(
                CreateOverrideRuleRequest { rule: Some(rule), request_id: String::new() },
                admin,
            ))
            .await
            .expect("rule")
            .into_inner()
            .rule
            .expect("rule")
            .id;
        let mut credit = CreditServiceClient::new(channel.clone());
        let terms = CreditTerms {
            credit_rating: "GOLD".to_owned(),
            policy: Some(CreditPolicy {
                out_of_credit_action: CreditAction::HoldForApproval as i32,
                ..CreditPolicy::default()
            }),
            ..CreditTerms::default()
        };
        let change = ChangeCreditTermsRequest {
            account_id: account_id.to_owned(),
            terms: Some(terms),
            reason: "opening".to_owned(),
            request_id: String::new(),
        };
        credit.change_credit_terms(authorized(change, admin)).await.expect("terms");
        let preference = SetPaymentPreferenceRequest {
            account_id: account_id.to_owned(),
            preference: Some(PaymentPreference {
                card_token_reference: "tok_owner".to_owned(),
                use_for_purchases: true,
                ..PaymentPreference::default()
            }),
            request_id: String::new(),
        };
        credit.set_payment_preference(authorized(preference, admin)).await.expect("preference");
        let methods = ListPaymentMethodsRequest { account_id: account_id.to_owned(), ..Default::default() };
        let methods = credit.list_payment_methods(authorized(methods, admin)).await.expect("methods").into_inner();
        let method_id = methods.methods.first().expect("the preference's method").id.clone();
        let approved = credit.authorize_order(authorized(order(account_id, "100.00"), admin)).await.expect("approved");
        let reservation_id = approved.into_inner().reservation.expect("reservation").id;
        let held = credit.authorize_order(authorized(order(account_id, "5000.00"), admin)).await.expect("held");
        let held_order_id = held.into_inner().held_order.expect("held order").id;
        Fixture {
            method_id,
            tenant_id: tenant_id.to_string(),
            account_id: account_id.to_owned(),
            rule_id,
            reservation_id,
            held_order_id,
        }
    }

    /// Everything of the first tenant's credit the matrix could touch.
    pub async fn snapshot(&self, channel: &Channel, admin: &str) -> String {
        let mut parts = Vec::new();
        let mut settings = CreditSettingsServiceClient::new(channel.clone());
        parts.push(format!(
            "{:?}",
            settings.get_credit_settings(authorized(GetCreditSettingsRequest {}, admin)).await.map(|r| r.into_inner())
        ));
        parts.push(format!(
            "{:?}",
            settings
                .list_credit_ratings(authorized(ListCreditRatingsRequest::default(), admin))
                .await
                .map(|r| r.into_inner())
        ));
        parts.push(format!(
            "{:?}",
            settings
                .list_override_rules(authorized(ListOverrideRulesRequest::default(), admin))
                .await
                .map(|r| r.into_inner())
        ));
        let mut credit = CreditServiceClient::new(channel.clone());
        let account_id = self.account_id.clone();
        let terms =
            credit.get_credit_terms(authorized(GetCreditTermsRequest { account_id: account_id.clone() }, admin)).await;
        parts.push(format!("{:?}", terms.map(|r| r.into_inner())));
        let status = credit
            .get_credit_status(authorized(GetCreditStatusRequest { account_id: account_id.clone() }, admin))
            .await;
        parts.push(format!("{:?}", status.map(|r| r.into_inner())));
        let history = ListCreditTermsHistoryRequest { account_id: account_id.clone(), ..Default::default() };
        parts.push(format!(
            "{:?}",
            credit.list_credit_terms_history(authorized(history, admin)).await.map(|r| r.into_inner())
        ));
        let reservations = ListReservationsRequest { account_id, ..Default::default() };
        parts.push(format!(
            "{:?}",
            credit.list_reservations(authorized(reservations, admin)).await.map(|r| r.into_inner())
        ));
        let preference = GetPaymentPreferenceRequest { account_id: self.account_id.clone() };
        parts.push(format!(
            "{:?}",
            credit.get_payment_preference(authorized(preference, admin)).await.map(|r| r.into_inner())
        ));
        let methods = ListPaymentMethodsRequest { account_id: self.account_id.clone(), ..Default::default() };
        parts.push(format!(
            "{:?}",
            credit.list_payment_methods(authorized(methods, admin)).await.map(|r| r.into_inner())
        ));
        let held = credit.list_held_orders(authorized(ListHeldOrdersRequest::default(), admin)).await;
        parts.push(format!("{:?}", held.map(|r| r.into_inner())));
        parts.join("\n")
    }

    pub async fn invoke(&self, method: &str, channel: Channel, token: Option<&str>) -> Outcome {
        let (service, name) = method.trim_start_matches('/').split_once('/').unwrap_or_default();
        match service {
            SETTINGS => self.settings(name, channel, token).await,
            CREDIT => self.credit(name, channel, token).await,
            EVENTS => self.events(channel, token).await,
            _ => Err(Status::unimplemented(format!("the matrix cannot call {method}"))),
        }
    }

    async fn settings(&self, name: &str, channel: Channel, token: Option<&str>) -> Outcome {
        let mut settings = CreditSettingsServiceClient::new(channel);
        match name {
            "GetCreditSettings" => {
                settings.get_credit_settings(request(GetCreditSettingsRequest {}, token)).await.map(|_| 1)
            }
            "UpdateCreditSettings" => {
                let update = UpdateCreditSettingsRequest {
                    settings: Some(CreditSettings {
                        default_credit_period_days: 10,
                        max_credit_period_days: 20,
                        default_policy: Some(CreditPolicy {
                            on_hold_action: CreditAction::Block as i32,
                            out_of_terms_action: CreditAction::Block as i32,
                            out_of_credit_action: CreditAction::Block as i32,
                        }),
                        ..CreditSettings::default()
                    }),
                    request_id: String::new(),
                    update_mask: None,
                };
                settings.update_credit_settings(request(update, token)).await.map(|_| 1)
            }
            "CreateCreditRating" => {
                let rating = CreditRating {
                    code: format!("M{}", &Uuid::new_v4().simple().to_string()[..8]),
                    ..CreditRating::default()
                };
                let create = CreateCreditRatingRequest { rating: Some(rating), request_id: String::new() };
                settings.create_credit_rating(request(create, token)).await.map(|_| 1)
            }
            "ListCreditRatings" => settings
                .list_credit_ratings(request(ListCreditRatingsRequest::default(), token))
                .await
                .map(|r| r.into_inner().ratings.iter().filter(|rating| rating.code == "GOLD").count()),
            "CreateOverrideRule" => {
                let rule = OverrideRule { event_kind: EventKind::Order as i32, ..OverrideRule::default() };
                let create = CreateOverrideRuleRequest { rule: Some(rule), request_id: String::new() };
                settings.create_override_rule(request(create, token)).await.map(|_| 1)
            }
            "ListOverrideRules" => settings
                .list_override_rules(request(ListOverrideRulesRequest::default(), token))
                .await
                .map(|r| r.into_inner().rules.iter().filter(|rule| rule.id == self.rule_id).count()),
            "DeleteOverrideRule" => {
                let delete = DeleteOverrideRuleRequest { id: self.rule_id.clone(), request_id: String::new() };
                settings.delete_override_rule(request(delete, token)).await.map(|_| 1)
            }
            _ => Err(Status::unimplemented(name.to_owned())),
        }
    }

    async fn credit(&self, name: &str, channel: Channel, token: Option<&str>) -> Outcome {
        let mut credit = CreditServiceClient::new(channel);
        let account_id = self.account_id.clone();
        match name {
            "GetCreditTerms" => {
                credit.get_credit_terms(request(GetCreditTermsRequest { account_id }, token)).await.map(|_| 1)
            }
            "ChangeCreditTerms" => {
                let change = ChangeCreditTermsRequest {
                    account_id,
                    terms: Some(CreditTerms { unlimited: true, ..CreditTerms::default() }),
                    reason: "hijack".to_owned(),
                    request_id: String::new(),
                };
                credit.change_credit_terms(request(change, token)).await.map(|_| 1)
            }
            "ListCreditTermsHistory" => {
                let list = ListCreditTermsHistoryRequest { account_id, ..Default::default() };
                credit.list_credit_terms_history(request(list, token)).await.map(|_| 1)
            }
            "ComputeDueDate" => {
                let compute = ComputeDueDateRequest {
                    account_id,
                    invoice_date: "2026-11-23".to_owned(),
                    delivery_date: String::new(),
                };
                credit.compute_due_date(request(compute, token)).await.map(|_| 1)
            }
            "ComputeDueDates" => {
                let invoice = ComputeDueDateRequest {
                    account_id,
                    invoice_date: "2026-11-23".to_owned(),
                    delivery_date: String::new(),
                };
                let compute = ComputeDueDatesRequest { invoices: vec![invoice] };
                credit.compute_due_dates(request(compute, token)).await.map(|_| 1)
            }
            "PutOnHold" => {
                let hold = PutOnHoldRequest { account_id, reason: "hijack".to_owned(), request_id: String::new() };
                credit.put_on_hold(request(hold, token)).await.map(|_| 1)
            }
            "ReleaseHold" => credit
                .release_hold(request(ReleaseHoldRequest { account_id, request_id: String::new() }, token))
                .await
                .map(|_| 1),
            "GetCreditStatus" => {
                credit.get_credit_status(request(GetCreditStatusRequest { account_id }, token)).await.map(|_| 1)
            }
            "GetExposureHistory" => {
                let today = bss_platform::time::format_date(bss_platform::time::now().date_naive());
                let history = GetExposureHistoryRequest {
                    account_id,
                    from_date: today.clone(),
                    to_date: today,
                    time_zone: String::new(),
                };
                credit
                    .get_exposure_history(request(history, token))
                    .await
                    .map(|response| response.into_inner().points.len())
            }
            "AuthorizeOrder" => credit.authorize_order(request(order(&account_id, "1.00"), token)).await.map(|_| 1),
            "ReleaseReservation" => {
                let release = ReleaseReservationRequest {
                    amount: None,
                    reservation_id: self.reservation_id.clone(),
                    request_id: String::new(),
                };
                credit.release_reservation(request(release, token)).await.map(|_| 1)
            }
            "ListReservations" => {
                let list = ListReservationsRequest { account_id, ..Default::default() };
                credit.list_reservations(request(list, token)).await.map(|_| 1)
            }
            "ListHeldOrders" => credit
                .list_held_orders(request(ListHeldOrdersRequest::default(), token))
                .await
                .map(|r| r.into_inner().held_orders.iter().filter(|held| held.id == self.held_order_id).count()),
            "ApproveHeldOrder" => {
                let approve = ApproveHeldOrderRequest {
                    held_order_id: self.held_order_id.clone(),
                    note: "hijack".to_owned(),
                    request_id: String::new(),
                };
                credit.approve_held_order(request(approve, token)).await.map(|_| 1)
            }
            "RejectHeldOrder" => {
                let reject = RejectHeldOrderRequest {
                    held_order_id: self.held_order_id.clone(),
                    note: "hijack".to_owned(),
                    request_id: String::new(),
                };
                credit.reject_held_order(request(reject, token)).await.map(|_| 1)
            }
            "SetPaymentPreference" => {
                let set = SetPaymentPreferenceRequest {
                    account_id,
                    preference: Some(PaymentPreference {
                        card_token_reference: "tok_hijack".to_owned(),
                        ..PaymentPreference::default()
                    }),
                    request_id: String::new(),
                };
                credit.set_payment_preference(request(set, token)).await.map(|_| 1)
            }
            "SavePaymentMethod" => {
                let save = SavePaymentMethodRequest {
                    account_id,
                    method: Some(PaymentMethod {
                        kind: PaymentMethodKind::Card as i32,
                        token_reference: "tok_hijack".to_owned(),
                        is_default: true,
                        ..PaymentMethod::default()
                    }),
                    request_id: String::new(),
                };
                credit.save_payment_method(request(save, token)).await.map(|_| 1)
            }
            "UpdatePaymentMethod" => {
                let update = UpdatePaymentMethodRequest {
                    method: Some(PaymentMethod {
                        id: self.method_id.clone(),
                        label: "hijack".to_owned(),
                        ..Default::default()
                    }),
                    update_mask: Some(prost_types::FieldMask { paths: vec!["label".to_owned()] }),
                    request_id: String::new(),
                };
                credit.update_payment_method(request(update, token)).await.map(|_| 1)
            }
            "RemovePaymentMethod" => {
                let remove = RemovePaymentMethodRequest { id: self.method_id.clone(), request_id: String::new() };
                credit.remove_payment_method(request(remove, token)).await.map(|_| 1)
            }
            "ListPaymentMethods" => credit
                .list_payment_methods(request(ListPaymentMethodsRequest { account_id, ..Default::default() }, token))
                .await
                .map(|_| 1),
            "GetPaymentPreference" => credit
                .get_payment_preference(request(GetPaymentPreferenceRequest { account_id }, token))
                .await
                .map(|_| 1),
            "CheckAccountsSettled" => credit
                .check_accounts_settled(request(CheckAccountsSettledRequest { account_ids: vec![account_id] }, token))
                .await
                .map(|r| r.into_inner().unsettled.len()),
            _ => Err(Status::unimplemented(name.to_owned())),
        }
    }

    async fn events(&self, channel: Channel, token: Option<&str>) -> Outcome {
        let mut events = CreditEventServiceClient::new(channel);
        let mut stream =
            events.stream_events(request(StreamEventsRequest { after_sequence: 0 }, token)).await?.into_inner();
        let mut seen = 0;
        while let Ok(Some(message)) = tokio::time::timeout(Duration::from_millis(300), stream.next()).await {
            if message?.event.unwrap_or_default().tenant_id == self.tenant_id {
                seen += 1;
            }
        }
        Ok(seen)
    }
}
