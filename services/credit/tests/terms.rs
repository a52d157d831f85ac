//! Credit settings, ratings, override rules, credit terms with their
//! history, due dates and holds, over gRPC against Postgres.

use bss_proto::credit::*;
use bss_testapp::credit::*;
use bss_testkit::{authorized, token};
use tonic::Code;

#[tokio::test]
async fn settings_start_at_the_defaults_and_bad_settings_name_each_field() {
    let mut app = spawn().await;
    let (_, admin) = app.tenant("EUR").await;
    let settings = app
        .settings
        .get_credit_settings(authorized(GetCreditSettingsRequest {}, &admin))
        .await
        .expect("settings")
        .into_inner()
        .settings
        .expect("settings");
    assert_eq!((settings.default_credit_period_days, settings.max_credit_period_days), (30, 90));
    let policy = settings.default_policy.expect("policy");
    assert_eq!(policy.out_of_credit_action, CreditAction::Block as i32);
    assert_eq!(settings.update_time, None, "never updated");

    let bad = CreditSettings {
        default_credit_period_days: 120,
        min_credit_period_days: 0,
        max_credit_period_days: 90,
        default_credit_limit: decimal("lots"),
        default_policy: Some(CreditPolicy {
            on_hold_action: CreditAction::HoldForApproval as i32,
            out_of_terms_action: CreditAction::Warn as i32,
            // What a prepaid order shows, never a policy.
            out_of_credit_action: CreditAction::Prepaid as i32,
        }),
        notification_thresholds: ["90", "50"].into_iter().filter_map(decimal).collect(),
        reservation_ttl_seconds: 5,
        ..Default::default()
    };
    let refused = app
        .settings
        .update_credit_settings(authorized(
            UpdateCreditSettingsRequest { settings: Some(bad), request_id: String::new(), update_mask: None },
            &admin,
        ))
        .await
        .expect_err("bad settings");
    assert_eq!(refused.code(), Code::InvalidArgument);
    let mut fields = violated_fields(&refused);
    fields.sort();
    assert_eq!(
        fields,
        vec![
            "settings.default_credit_limit",
            "settings.default_credit_period_days",
            "settings.default_policy.on_hold_action",
            "settings.default_policy.out_of_credit_action",
            "settings.notification_thresholds[1]",
            "settings.reservation_ttl_seconds",
        ]
    );

    let good = settings_of(CreditAction::WarnCreditCardOnly);
    let stored = app
        .settings
        .update_credit_settings(authorized(
            UpdateCreditSettingsRequest {
                settings: Some(good),
                request_id: "settings-1".to_owned(),
                update_mask: None,
            },
            &admin,
        ))
        .await
        .expect("updated")
        .into_inner()
        .settings
        .expect("settings");
    assert_eq!(stored.default_credit_limit, decimal("500"));
    assert_eq!(stored.reservation_ttl_seconds, 604_800, "the default lifetime");
    assert!(stored.update_time.is_some());

    // A new account starts at the tenant's default limit and period.
    let account_id = app.account(&admin).await;
    let terms = app.terms(&admin, &account_id).await;
    assert_eq!((terms.credit_limit.clone(), terms.credit_period_days), (decimal("500"), 14));
    assert_eq!(terms.currency_code, "EUR");
}

#[tokio::test]
async fn credit_terms_changes_check_the_period_range_and_rating_and_keep_history() {
    let mut app = spawn().await;
    let (tenant_id, admin) = app.tenant("AUD").await;
    let account_id = app.account(&admin).await;
    app.settings
        .create_credit_rating(authorized(
            CreateCreditRatingRequest {
                rating: Some(CreditRating {
                    code: "GOLD".to_owned(),
                    name: "Gold".to_owned(),
                    default_credit_limit: decimal("25000"),
                }),
                request_id: String::new(),
            },
            &admin,
        ))
        .await
        .expect("rating");
    let manager = credit_manager(tenant_id);

    let out_of_range = app
        .change_terms(&manager, &account_id, CreditTerms { credit_period_days: 120, ..Default::default() })
        .await
        .expect_err("period out of range");
    assert_eq!(
        (out_of_range.code(), reason(&out_of_range).as_str()),
        (Code::FailedPrecondition, "CREDIT_PERIOD_OUT_OF_RANGE")
    );

    let unknown = app
        .change_terms(&manager, &account_id, CreditTerms { credit_rating: "PLATINUM".to_owned(), ..Default::default() })
        .await
        .expect_err("unknown rating");
    assert_eq!(reason(&unknown), "CREDIT_RATING_UNKNOWN");

    let bad = app
        .change_terms(
            &manager,
            &account_id,
            CreditTerms {
                credit_limit: decimal("x"),
                payment_terms: Some(PaymentTerms {
                    kind: PaymentTermsKind::DayOfMonth as i32,
                    day_of_month: 32,
                    days: 0,
                }),
                credit_period_days: -1,
                ..Default::default()
            },
        )
        .await
        .expect_err("bad terms");
    let mut fields = violated_fields(&bad);
    fields.sort();
    assert_eq!(fields, vec!["terms.credit_limit", "terms.credit_period_days", "terms.payment_terms.day_of_month"]);

    // The rating's default limit applies when no limit is given.
    let gold = app
        .change_terms(
            &manager,
            &account_id,
            CreditTerms {
                credit_rating: "GOLD".to_owned(),
                payment_terms: Some(PaymentTerms {
                    kind: PaymentTermsKind::DayOfNextMonth as i32,
                    day_of_month: 31,
                    days: 0,
                }),
                credit_period_days: 45,
                ..Default::default()
            },
        )
        .await
        .expect("changed");
    assert_eq!((gold.credit_limit.clone(), gold.credit_period_days), (decimal("25000"), 45));
    let negative = app
        .change_terms(&manager, &account_id, CreditTerms { credit_limit: decimal("-100"), ..Default::default() })
        .await
        .expect("a negative limit: must pay ahead");
    assert_eq!(negative.credit_limit, decimal("-100"));

    let history = app
        .credit
        .list_credit_terms_history(authorized(
            ListCreditTermsHistoryRequest { account_id: account_id.clone(), ..Default::default() },
            &admin,
        ))
        .await
        .expect("history")
        .into_inner()
        .changes;
    assert_eq!(history.len(), 2, "one line per change, the refused ones left none");
    assert_eq!(history[0].after.as_ref().expect("after").credit_limit, decimal("-100"), "newest first");
    assert_eq!(history[0].before.as_ref().expect("before").credit_limit, decimal("25000"));
    assert_eq!((history[1].reason.as_str(), history[1].actor.is_empty()), ("annual review", false));

    // A sales rep or an account manager may not change terms.
    let denied = app
        .change_terms(
            &token(tenant_id, &[bss_platform::auth::Role::AccountManager]),
            &account_id,
            CreditTerms::default(),
        )
        .await
        .expect_err("not a credit manager");
    assert_eq!(denied.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn due_dates_follow_the_accounts_payment_terms() {
    let mut app = spawn().await;
    let (_, admin) = app.tenant("EUR").await;
    let account_id = app.account(&admin).await;
    let due = |invoice: &str, delivery: &str| {
        let request = ComputeDueDateRequest {
            account_id: account_id.clone(),
            invoice_date: invoice.to_owned(),
            delivery_date: delivery.to_owned(),
        };
        let mut credit = app.credit.clone();
        let admin = admin.clone();
        async move {
            credit.compute_due_date(authorized(request, &admin)).await.map(|response| response.into_inner().due_date)
        }
    };
    assert_eq!(due("2028-01-31", "").await.expect("due"), "2028-03-01", "the default 30-day period");
    let bad = due("2028-02-30", "soon").await.expect_err("bad dates");
    let mut fields = violated_fields(&bad);
    fields.sort();
    assert_eq!(fields, vec!["delivery_date", "invoice_date"]);

    for (kind, days, day, invoice, delivery, expected) in [
        (PaymentTermsKind::NetDays, 10, 0, "2026-12-25", "", "2027-01-04"),
        (PaymentTermsKind::DayOfMonth, 0, 31, "2026-04-10", "", "2026-04-30"),
        (PaymentTermsKind::DaysAfterEndOfMonth, 15, 0, "2028-02-10", "", "2028-03-15"),
        (PaymentTermsKind::DayOfNextMonth, 0, 30, "2027-01-31", "", "2027-02-28"),
        (PaymentTermsKind::CashOnDelivery, 0, 0, "2026-11-23", "2026-11-30", "2026-11-30"),
    ] {
        let terms = CreditTerms {
            payment_terms: Some(PaymentTerms { kind: kind as i32, days, day_of_month: day }),
            ..Default::default()
        };
        app.change_terms(&admin, &account_id, terms).await.expect("terms");
        let mut credit = app.credit.clone();
        let answer = credit
            .compute_due_date(authorized(
                ComputeDueDateRequest {
                    account_id: account_id.clone(),
                    invoice_date: invoice.to_owned(),
                    delivery_date: delivery.to_owned(),
                },
                &admin,
            ))
            .await
            .expect("due")
            .into_inner();
        assert_eq!(answer.due_date, expected, "{kind:?}");
        assert_eq!(answer.payment_terms.expect("terms").kind, kind as i32);
    }
}

#[tokio::test]
async fn a_hold_is_put_and_released_with_its_reason_and_other_tenants_see_nothing() {
    let mut app = spawn().await;
    let (tenant_id, admin) = app.tenant("EUR").await;
    let (_, stranger) = app.tenant("EUR").await;
    let account_id = app.account(&admin).await;
    let manager = credit_manager(tenant_id);
    let held = app
        .credit
        .put_on_hold(authorized(
            PutOnHoldRequest {
                account_id: account_id.clone(),
                reason: "disputed invoice".to_owned(),
                request_id: "hold-1".to_owned(),
            },
            &manager,
        ))
        .await
        .expect("on hold")
        .into_inner()
        .status
        .expect("status");
    assert!(held.on_hold);
    assert_eq!(held.hold_reason, "disputed invoice");

    let missing_reason = app
        .credit
        .put_on_hold(authorized(PutOnHoldRequest { account_id: account_id.clone(), ..Default::default() }, &manager))
        .await
        .expect_err("reason required");
    assert_eq!(violated_fields(&missing_reason), vec!["reason"]);

    let hidden = app
        .credit
        .get_credit_status(authorized(GetCreditStatusRequest { account_id: account_id.clone() }, &stranger))
        .await
        .expect_err("another tenant's account");
    assert_eq!(hidden.code(), Code::NotFound);

    let released = app
        .credit
        .release_hold(authorized(
            ReleaseHoldRequest { account_id: account_id.clone(), request_id: String::new() },
            &manager,
        ))
        .await
        .expect("released")
        .into_inner()
        .status
        .expect("status");
    assert!(!released.on_hold);
    assert_eq!(released.hold_reason, "");
}

#[tokio::test]
async fn override_rules_are_created_listed_and_deleted() {
    let mut app = spawn().await;
    let (_, admin) = app.tenant("EUR").await;
    let missing_kind = app
        .settings
        .create_override_rule(authorized(
            CreateOverrideRuleRequest { rule: Some(OverrideRule::default()), request_id: String::new() },
            &admin,
        ))
        .await
        .expect_err("kind required");
    assert_eq!(violated_fields(&missing_kind), vec!["rule.event_kind"]);
    let rule = app
        .settings
        .create_override_rule(authorized(
            CreateOverrideRuleRequest {
                rule: Some(OverrideRule {
                    event_kind: EventKind::ServiceRequest as i32,
                    classification: "GOVERNMENT".to_owned(),
                    ..Default::default()
                }),
                request_id: String::new(),
            },
            &admin,
        ))
        .await
        .expect("rule")
        .into_inner()
        .rule
        .expect("rule");
    let listed = app
        .settings
        .list_override_rules(authorized(ListOverrideRulesRequest::default(), &admin))
        .await
        .expect("list")
        .into_inner()
        .rules;
    assert_eq!(listed, vec![rule.clone()]);
    app.settings
        .delete_override_rule(authorized(
            DeleteOverrideRuleRequest { id: rule.id.clone(), request_id: String::new() },
            &admin,
        ))
        .await
        .expect("deleted");
    let again = app
        .settings
        .delete_override_rule(authorized(DeleteOverrideRuleRequest { id: rule.id, request_id: String::new() }, &admin))
        .await
        .expect_err("gone");
    assert_eq!(again.code(), Code::NotFound);
}

#[tokio::test]
async fn two_credit_managers_never_overwrite_each_others_terms_unseen() {
    let mut app = spawn().await;
    let (tenant_id, admin) = app.tenant("EUR").await;
    let account_id = app.account_with_limit(&admin, "1000", CreditAction::Block).await;
    let read = |app: &TestApp| {
        let mut credit = app.credit.clone();
        let account_id = account_id.clone();
        let token = credit_manager(tenant_id);
        async move {
            credit
                .get_credit_terms(authorized(GetCreditTermsRequest { account_id }, &token))
                .await
                .expect("terms")
                .into_inner()
                .terms
                .expect("terms")
        }
    };
    let first_read = read(&app).await;
    let second_read = read(&app).await;
    assert!(!first_read.etag.is_empty());
    assert_eq!(first_read.etag, second_read.etag);

    // An order moves the exposure, not the terms: the etag holds.
    let clerk = billing_clerk(tenant_id);
    app.authorize(&clerk, &account_id, "100", "EUR", bss_proto::types::PaymentType::OnAccount).await.expect("order");
    assert_eq!(read(&app).await.etag, first_read.etag);

    // The first manager raises the limit with the etag it read.
    let manager = credit_manager(tenant_id);
    // Terms read carry the limit twice (`limit` and the older bare
    // `credit_limit`): an edit changes `limit` and leaves the other out.
    let eur =
        |amount: &str| Some(bss_proto::types::Money { amount: amount.to_owned(), currency_code: "EUR".to_owned() });
    let raised = CreditTerms { limit: eur("2000"), credit_limit: None, ..first_read.clone() };
    let stored = app.change_terms(&manager, &account_id, raised).await.expect("first change");
    assert_eq!(amount_of(&stored.credit_limit), "2000");
    assert_ne!(stored.etag, first_read.etag);

    // The second, from the terms it read before, is refused and changes nothing.
    let lowered = CreditTerms { limit: eur("500"), credit_limit: None, ..second_read };
    let refused = app.change_terms(&manager, &account_id, lowered).await.expect_err("stale etag");
    assert_eq!(refused.code(), Code::Aborted, "{refused:?}");
    assert_eq!(reason(&refused), "ETAG_MISMATCH");
    let now = read(&app).await;
    assert_eq!((amount_of(&now.credit_limit), now.etag.clone()), ("2000".to_owned(), stored.etag.clone()));

    // Read again, the change goes through; without an etag it always does.
    let lowered = CreditTerms { limit: eur("500"), credit_limit: None, ..now };
    assert_eq!(amount_of(&app.change_terms(&manager, &account_id, lowered).await.expect("fresh").credit_limit), "500");
    let blind = CreditTerms { limit: eur("700"), credit_limit: None, etag: String::new(), ..read(&app).await };
    assert_eq!(amount_of(&app.change_terms(&manager, &account_id, blind).await.expect("blind").credit_limit), "700");
}

fn amount_of(decimal: &Option<bss_proto::types::Decimal>) -> String {
    decimal.as_ref().map(|decimal| decimal.value.clone()).unwrap_or_default()
}

#[tokio::test]
async fn two_administrators_never_overwrite_each_others_settings_unseen() {
    let mut app = spawn().await;
    let (_, admin) = app.tenant("EUR").await;
    let read = |app: &TestApp| {
        let mut settings = app.settings.clone();
        let admin = admin.clone();
        async move {
            settings
                .get_credit_settings(authorized(GetCreditSettingsRequest {}, &admin))
                .await
                .expect("settings")
                .into_inner()
                .settings
                .expect("settings")
        }
    };
    let update = |app: &TestApp, settings: CreditSettings| {
        let mut client = app.settings.clone();
        let admin = admin.clone();
        async move {
            client
                .update_credit_settings(authorized(
                    UpdateCreditSettingsRequest {
                        settings: Some(settings),
                        request_id: String::new(),
                        update_mask: None,
                    },
                    &admin,
                ))
                .await
                .map(|response| response.into_inner().settings.expect("settings"))
        }
    };
    let first = read(&app).await;
    let second = read(&app).await;
    assert_eq!(first.etag, second.etag);

    let stored =
        update(&app, CreditSettings { default_credit_limit: decimal("250"), ..first }).await.expect("first update");
    assert_ne!(stored.etag, second.etag);
    let refused =
        update(&app, CreditSettings { default_credit_limit: decimal("900"), ..second }).await.expect_err("stale etag");
    assert_eq!(refused.code(), Code::Aborted, "{refused:?}");
    assert_eq!(reason(&refused), "ETAG_MISMATCH");
    let now = read(&app).await;
    assert_eq!(now.default_credit_limit, stored.default_credit_limit, "the stale update changed nothing");
    assert_eq!(now.etag, stored.etag);
    let again = update(&app, CreditSettings { default_credit_limit: decimal("900"), ..now }).await.expect("read again");
    assert_ne!(again.etag, stored.etag);
}

#[tokio::test]
async fn ratings_and_override_rules_are_listed_page_by_page_each_once() {
    let mut app = spawn().await;
    let (_, admin) = app.tenant("EUR").await;
    for code in ["GOLD", "BRONZE", "SILVER"] {
        let rating = CreditRating { code: code.to_owned(), name: code.to_lowercase(), ..CreditRating::default() };
        let create = CreateCreditRatingRequest { rating: Some(rating), request_id: String::new() };
        app.settings.create_credit_rating(authorized(create, &admin)).await.expect("rating");
    }
    let mut rules = Vec::new();
    for classification in ["GOVERNMENT", "CHARITY", "SCHOOL"] {
        let rule = OverrideRule {
            event_kind: EventKind::ServiceRequest as i32,
            classification: classification.to_owned(),
            ..Default::default()
        };
        let create = CreateOverrideRuleRequest { rule: Some(rule), request_id: String::new() };
        let created = app.settings.create_override_rule(authorized(create, &admin)).await.expect("rule");
        rules.push(created.into_inner().rule.expect("rule").id);
    }

    let settings = app.settings.clone();
    let ratings = bss_testkit::every_page(2, |page_token| {
        let (mut settings, admin) = (settings.clone(), admin.clone());
        async move {
            let list = ListCreditRatingsRequest { page_size: 2, page_token };
            let page = settings.list_credit_ratings(authorized(list, &admin)).await.expect("ratings").into_inner();
            (page.ratings.into_iter().map(|rating| rating.code).collect::<Vec<_>>(), page.next_page_token)
        }
    })
    .await;
    assert_eq!(ratings, ["BRONZE", "GOLD", "SILVER"], "by code, each once");
    let listed = bss_testkit::every_page(1, |page_token| {
        let (mut settings, admin) = (settings.clone(), admin.clone());
        async move {
            let list = ListOverrideRulesRequest { page_size: 1, page_token };
            let page = settings.list_override_rules(authorized(list, &admin)).await.expect("rules").into_inner();
            (page.rules.into_iter().map(|rule| rule.id).collect::<Vec<_>>(), page.next_page_token)
        }
    })
    .await;
    assert_eq!(listed, rules, "oldest first, each once");

    let negative = ListOverrideRulesRequest { page_size: -1, page_token: String::new() };
    let refused = app.settings.list_override_rules(authorized(negative, &admin)).await.expect_err("negative size");
    assert_eq!(bss_testkit::violated_fields(&refused), ["page_size"]);
}

#[tokio::test]
async fn an_update_of_some_settings_keeps_the_others_and_names_bad_paths() {
    let mut app = spawn().await;
    let (_, admin) = app.tenant("EUR").await;
    let whole = settings_of(CreditAction::Warn);
    let update = |settings: CreditSettings, paths: &[&str]| UpdateCreditSettingsRequest {
        settings: Some(settings),
        request_id: String::new(),
        update_mask: Some(prost_types::FieldMask { paths: paths.iter().map(|path| (*path).to_owned()).collect() }),
    };
    app.settings.update_credit_settings(authorized(update(whole.clone(), &["*"]), &admin)).await.expect("all of it");

    // Only the limit: everything else (even what the request leaves empty)
    // keeps its stored value.
    let limit_only = CreditSettings { default_credit_limit: decimal("750"), ..CreditSettings::default() };
    let stored = app
        .settings
        .update_credit_settings(authorized(update(limit_only.clone(), &["default_credit_limit"]), &admin))
        .await
        .expect("the limit")
        .into_inner()
        .settings
        .expect("settings");
    assert_eq!(stored.default_credit_limit, decimal("750"));
    assert_eq!(
        (
            stored.default_credit_period_days,
            stored.max_credit_period_days,
            stored.default_policy,
            stored.notification_thresholds
        ),
        (14, 60, whole.default_policy, whole.notification_thresholds.clone())
    );

    // The merged settings are checked whole: a period out of the stored
    // range names its field; an unknown or output-only path names the mask.
    let refused = app
        .settings
        .update_credit_settings(authorized(
            update(
                CreditSettings { default_credit_period_days: 90, ..Default::default() },
                &["default_credit_period_days"],
            ),
            &admin,
        ))
        .await
        .expect_err("out of the stored range");
    assert_eq!(violated_fields(&refused), ["settings.default_credit_period_days"]);
    for paths in [&["etag"][..], &["update_time"], &["nonsense"], &[]] {
        let refused = app
            .settings
            .update_credit_settings(authorized(update(limit_only.clone(), paths), &admin))
            .await
            .expect_err("not a writable path");
        assert_eq!(violated_fields(&refused), ["update_mask"], "{paths:?}");
    }
    let read = app.settings.get_credit_settings(authorized(GetCreditSettingsRequest::default(), &admin)).await;
    assert_eq!(read.expect("read").into_inner().settings.expect("settings").default_credit_limit, decimal("750"));
}

#[tokio::test]
async fn a_limit_is_money_in_the_accounts_currency_given_once() {
    let mut app = spawn().await;
    let (tenant_id, admin) = app.tenant("EUR").await;
    let account_id = app.account(&admin).await;
    let manager = credit_manager(tenant_id);
    let money = |amount: &str, currency: &str| {
        Some(bss_proto::types::Money { amount: amount.to_owned(), currency_code: currency.to_owned() })
    };

    let changed = app
        .change_terms(&manager, &account_id, CreditTerms { limit: money("1500.50", "EUR"), ..Default::default() })
        .await
        .expect("a limit as money");
    assert_eq!(changed.limit, money("1500.50", "EUR"));
    assert_eq!(changed.credit_limit, decimal("1500.50"), "the bare number says the same");
    let status = app.status(&admin, &account_id).await;
    assert_eq!(status.credit_limit.map(|limit| limit.amount), Some("1500.50".to_owned()));

    let bare = app
        .change_terms(&manager, &account_id, CreditTerms { credit_limit: decimal("900"), ..Default::default() })
        .await
        .expect("a bare limit, as before");
    assert_eq!(bare.limit, money("900.00", "EUR"), "in the currency's minor unit");

    for (terms, field) in [
        (CreditTerms { limit: money("100", "USD"), ..Default::default() }, "terms.limit.currency_code"),
        (CreditTerms { limit: money("100.001", "EUR"), ..Default::default() }, "terms.limit.amount"),
        (CreditTerms { limit: money("100", "EUR"), credit_limit: decimal("101"), ..Default::default() }, "terms.limit"),
    ] {
        let refused = app.change_terms(&manager, &account_id, terms).await.expect_err("refused");
        assert_eq!(violated_fields(&refused), [field]);
    }
    let read = app.terms(&admin, &account_id).await;
    assert_eq!(read.limit, money("900.00", "EUR"), "nothing refused was stored");
    // Terms read and sent back whole carry both, in agreement.
    let again = app.change_terms(&manager, &account_id, CreditTerms { etag: String::new(), ..read }).await;
    assert_eq!(again.expect("both, the same").limit, money("900.00", "EUR"));
}

/// Settings with periods of 7 to 60 days (14 by default), a default limit
/// of 500, thresholds at 50 and 90 %, and `out_of_terms` as the default
/// out-of-terms action.
fn settings_of(out_of_terms: CreditAction) -> CreditSettings {
    CreditSettings {
        default_credit_period_days: 14,
        min_credit_period_days: 7,
        max_credit_period_days: 60,
        default_credit_limit: decimal("500"),
        default_policy: Some(CreditPolicy {
            on_hold_action: CreditAction::Block as i32,
            out_of_terms_action: out_of_terms as i32,
            out_of_credit_action: CreditAction::HoldForApproval as i32,
        }),
        notification_thresholds: ["50", "90"].into_iter().filter_map(decimal).collect(),
        ..Default::default()
    }
}

#[tokio::test]
async fn history_and_held_reasons_stored_as_wire_messages_are_converted_and_read_back_the_same() {
    use prost::Message;

    let mut app = spawn().await;
    let (tenant_id, admin) = app.tenant("EUR").await;
    let (clerk, manager) = (billing_clerk(tenant_id), credit_manager(tenant_id));
    let account_id = app.account_with_limit(&admin, "100", CreditAction::HoldForApproval).await;
    let on_account = bss_proto::types::PaymentType::OnAccount;
    let held = app.authorize(&clerk, &account_id, "250", "EUR", on_account).await.expect("decided");
    let held_order = held.held_order.expect("held");
    let history = ListCreditTermsHistoryRequest { account_id: account_id.clone(), ..Default::default() };
    let read_history = |app: &TestApp| {
        let mut credit = app.credit.clone();
        let (history, manager) = (history.clone(), manager.clone());
        async move { credit.list_credit_terms_history(authorized(history, &manager)).await.expect("history").into_inner() }
    };
    let listed = read_history(&app).await;
    let change = listed.changes.first().cloned().expect("the change of terms");
    let pending = ListHeldOrdersRequest { state: HeldOrderState::Pending as i32, ..Default::default() };
    let read_held = |app: &TestApp| {
        let mut credit = app.credit.clone();
        let (pending, manager) = (pending.clone(), manager.clone());
        async move { credit.list_held_orders(authorized(pending, &manager)).await.expect("held").into_inner() }
    };
    assert_eq!(read_held(&app).await.held_orders, vec![held_order.clone()]);

    // As an older release stored them: encoded wire messages.
    let (before, after) = (change.before.clone().expect("before"), change.after.clone().expect("after"));
    sqlx::query("UPDATE credit.terms_history SET change = NULL, before = $2, after = $3 WHERE account_id = $1")
        .bind(account_id.parse::<uuid::Uuid>().expect("id"))
        .bind(before.encode_to_vec())
        .bind(after.encode_to_vec())
        .execute(&app.db)
        .await
        .expect("encoded history");
    let reasons: Vec<Vec<u8>> = held_order.reasons.iter().map(Message::encode_to_vec).collect();
    sqlx::query("UPDATE credit.held_orders SET reasons_doc = NULL, reasons = $2 WHERE id = $1")
        .bind(held_order.id.parse::<uuid::Uuid>().expect("id"))
        .bind(&reasons)
        .execute(&app.db)
        .await
        .expect("encoded reasons");
    let converted =
        bss_credit::repo::convert_stored(&app.db, bss_credit::wire::stored_terms, bss_credit::wire::stored_reason);
    assert_eq!(converted.await.expect("converted"), 2, "one change of terms, one held order");
    assert_eq!(read_history(&app).await, listed, "the history reads back field by field");
    assert_eq!(read_held(&app).await.held_orders, vec![held_order], "and the held order");
}
