//! An account's exposure over time, read from every side: credit's day by
//! day history against credit's status now, billing's balance history and
//! the order and invoice that moved it.

use bss_e2e::{
    TestApp, amount, create_account, create_product, credit_settles, generate, order_request, ordering_account, place,
    set_credit_terms,
};
use bss_platform::time::{format_date, now};
use bss_proto::billing::ledger_service_client::LedgerServiceClient;
use bss_proto::billing::{GetBalanceHistoryRequest, OrderStatus};
use bss_proto::credit::credit_service_client::CreditServiceClient;
use bss_proto::credit::{ExposurePoint, GetExposureHistoryRequest};
use bss_proto::types::PaymentType;
use bss_testkit::authorized;
use chrono::Days;
use tonic::Code;
use tonic::transport::Channel;

async fn history(
    channel: &Channel,
    token: &str,
    request: GetExposureHistoryRequest,
) -> Result<Vec<ExposurePoint>, tonic::Status> {
    let answer = CreditServiceClient::new(channel.clone()).get_exposure_history(authorized(request, token)).await;
    answer.map(|answer| answer.into_inner().points)
}

fn request(
    account_id: &str,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
    time_zone: &str,
) -> GetExposureHistoryRequest {
    GetExposureHistoryRequest {
        account_id: account_id.to_owned(),
        from_date: format_date(from),
        to_date: format_date(to),
        time_zone: time_zone.to_owned(),
    }
}

/// A point as (date, balance, reserved, exposure, limit, available).
fn figures(point: &ExposurePoint) -> (String, &str, &str, &str, &str, &str) {
    (
        point.date.clone(),
        amount(&point.balance),
        amount(&point.reserved),
        amount(&point.exposure),
        amount(&point.credit_limit),
        amount(&point.available_credit),
    )
}

#[tokio::test]
async fn each_day_closes_with_the_exposure_credit_decided_with_and_billing_agrees_on_the_balance() {
    // "Today" (UTC) is read before and after the changes: start well clear
    // of midnight.
    let left = chrono::TimeDelta::days(1) - (now().time() - chrono::NaiveTime::MIN);
    if left < chrono::TimeDelta::minutes(2) {
        tokio::time::sleep((left + chrono::TimeDelta::seconds(5)).to_std().expect("positive")).await;
    }
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Exposure Books", "EUR").await;
    let clerk = bss_testkit::token(tenant_id, &[bss_platform::auth::Role::BillingClerk]);
    let channel = suite.gateway().await;
    let account_id = create_account(&channel, &admin, ordering_account("EXPOSED")).await;
    create_product(&channel, &admin, "WIDGET", "125.00", "TOOLS").await;
    set_credit_terms(&channel, &admin, &account_id, "1000", None).await;
    let today = now().date_naive();
    let yesterday = today.pred_opt().expect("date");
    let week = (today.checked_sub_days(Days::new(6)).expect("date"), today);

    // Credit began recording the account today: one point, nothing owed.
    let points = history(&channel, &clerk, request(&account_id, week.0, week.1, "")).await.expect("history");
    assert_eq!(
        points.iter().map(figures).collect::<Vec<_>>(),
        vec![(format_date(today), "0.00", "0.00", "0.00", "1000.00", "1000.00")]
    );

    // An order on account: credit reserves it, and today closes with it.
    let order = place(&channel, &clerk, order_request(&account_id, &[("WIDGET", "2")], PaymentType::OnAccount)).await;
    assert_eq!(order.status, OrderStatus::Executed as i32, "{order:?}");
    let status = credit_settles(&channel, &admin, &account_id, "0.00", "250.00").await;
    let points = history(&channel, &clerk, request(&account_id, week.0, week.1, "")).await.expect("history");
    let last = points.last().expect("today");
    assert_eq!(figures(last), (format_date(today), "0.00", "250.00", "250.00", "1000.00", "750.00"));
    assert_eq!(
        (&last.balance, &last.reserved, &last.exposure, &last.credit_limit, &last.available_credit),
        (&status.balance, &status.reserved, &status.exposure, &status.credit_limit, &status.available_credit),
        "the history's today is credit's status now"
    );

    // Invoiced and posted: the reservation is captured and the balance owed
    // instead; billing's own history closes today with the same balance.
    let invoices = generate(&channel, &clerk, &account_id, &format_date(today), true).await;
    assert_eq!(invoices.iter().map(|invoice| amount(&invoice.total)).collect::<Vec<_>>(), vec!["250.00"]);
    credit_settles(&channel, &admin, &account_id, "250.00", "0.00").await;
    set_credit_terms(&channel, &admin, &account_id, "2000", None).await;
    let points = history(&channel, &clerk, request(&account_id, week.0, week.1, "")).await.expect("history");
    assert_eq!(
        points.iter().map(figures).collect::<Vec<_>>(),
        vec![(format_date(today), "250.00", "0.00", "250.00", "2000.00", "1750.00")]
    );
    let billing = GetBalanceHistoryRequest {
        account_id: account_id.clone(),
        from_date: format_date(yesterday),
        to_date: format_date(today),
        time_zone: String::new(),
    };
    let billing = LedgerServiceClient::new(channel.clone()).get_balance_history(authorized(billing, &clerk)).await;
    let billing = billing.expect("billing's history").into_inner().points;
    assert_eq!(billing.last().map(|point| amount(&point.balance)), Some(amount(&points[0].balance)));

    // Days after today are left out; a zone fourteen hours ahead of UTC
    // counts the same records on its own days, ending with today there.
    let ahead = chrono::FixedOffset::east_opt(14 * 3600).expect("offset");
    let ahead_today = now().with_timezone(&ahead).date_naive();
    let future = request(&account_id, today, today.checked_add_days(Days::new(3)).expect("date"), "");
    let points = history(&channel, &clerk, future).await.expect("history");
    assert_eq!(points.iter().map(|point| point.date.clone()).collect::<Vec<_>>(), vec![format_date(today)]);
    let zoned = request(&account_id, week.0, ahead_today.checked_add_days(Days::new(1)).expect("date"), "Etc/GMT-14");
    let zoned = history(&channel, &clerk, zoned).await.expect("zoned history");
    assert_eq!(
        zoned.last().map(figures),
        Some((format_date(ahead_today), "250.00", "0.00", "250.00", "2000.00", "1750.00"))
    );

    // Bad ranges and zones are refused by field; another tenant's account
    // is not found.
    for (bad, field) in [
        (request(&account_id, today, yesterday, ""), "to_date"),
        (request(&account_id, today.checked_sub_days(Days::new(366)).expect("date"), today, ""), "to_date"),
        (request(&account_id, yesterday, today, "Mars/Olympus_Mons"), "time_zone"),
        (request(&account_id, yesterday, today, "posix/Europe/Paris"), "time_zone"),
        (
            GetExposureHistoryRequest {
                from_date: "yesterday".to_owned(),
                ..request(&account_id, yesterday, today, "")
            },
            "from_date",
        ),
    ] {
        let refused = history(&channel, &clerk, bad).await.expect_err("refused");
        assert_eq!(bss_testkit::violated_fields(&refused), vec![field]);
    }
    let (_, stranger) = suite.tenant("Elsewhere", "EUR").await;
    let refused = history(&channel, &stranger, request(&account_id, yesterday, today, "")).await.expect_err("hidden");
    assert_eq!(refused.code(), Code::NotFound);
}

#[tokio::test]
async fn racing_reservations_and_releases_leave_the_history_where_the_guarded_account_row_is() {
    use bss_proto::credit::{Decision, ReleaseReservationRequest};
    let suite = TestApp::start().await;
    let (_, admin) = suite.tenant("Racing Exposure", "EUR").await;
    let channel = suite.gateway().await;
    let account_id = create_account(&channel, &admin, ordering_account("RACED")).await;
    set_credit_terms(&channel, &admin, &account_id, "1000", None).await;

    // Forty orders at once, of 7.00 to 59.00 (together past the limit, so
    // some are held), every third approved one partly released and every
    // fifth released whole, each straight after its approval.
    let calls = (0..40u32).map(|n| {
        let (channel, admin, account_id) = (channel.clone(), admin.clone(), account_id.clone());
        tokio::spawn(async move {
            let mut credit = CreditServiceClient::new(channel);
            let amount = format!("{}.00", 7 + (n * 37) % 53);
            let request = bss_e2e::credit::order(&account_id, &amount, "EUR", PaymentType::OnAccount);
            let answer = credit.authorize_order(authorized(request, &admin)).await.expect("decided").into_inner();
            let Some(reservation) = answer.reservation.filter(|_| answer.decision == Decision::Approved as i32) else {
                return;
            };
            let release = match n % 15 {
                0 | 5 | 10 => Some(None),
                3 | 6 | 9 | 12 => Some(Some(bss_e2e::credit::money("2.50", "EUR"))),
                _ => None,
            };
            if let Some(amount) = release {
                let release =
                    ReleaseReservationRequest { reservation_id: reservation.id, request_id: String::new(), amount };
                credit.release_reservation(authorized(release, &admin)).await.expect("released");
            }
        })
    });
    for call in calls.collect::<Vec<_>>() {
        call.await.expect("the call ran");
    }

    let status = bss_e2e::credit_status(&channel, &admin, &account_id).await;
    let today = now().date_naive();
    let points = history(&channel, &admin, request(&account_id, today, today, "")).await.expect("history");
    let last = points.last().expect("today");
    assert_ne!(amount(&status.reserved), "0.00", "something stayed reserved");
    assert_eq!(
        (&last.balance, &last.reserved, &last.exposure, &last.available_credit),
        (&status.balance, &status.reserved, &status.exposure, &status.available_credit),
        "the history closes today where the account row is"
    );
}

#[tokio::test]
async fn a_day_ends_at_its_zones_midnight_across_a_clock_change_and_carries_its_figures_to_quiet_days() {
    use bss_proto::credit::PutOnHoldRequest;
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Paris Exposure", "EUR").await;
    let channel = suite.gateway().await;
    let account_id = create_account(&channel, &admin, ordering_account("PARIS")).await;
    set_credit_terms(&channel, &admin, &account_id, "500", None).await;

    // Credit's record of the account, written by hand around Paris's
    // clock change (2026-03-29 01:00 UTC, from UTC+1 to UTC+2).
    let database = sqlx::PgPool::connect(suite.database_url()).await.expect("the database");
    let account: uuid::Uuid = account_id.parse().expect("an id");
    sqlx::query("DELETE FROM credit.exposure_history WHERE tenant_id = $1 AND account_id = $2")
        .bind(tenant_id)
        .bind(account)
        .execute(&database)
        .await
        .expect("cleared");
    for (bucket, balance) in [
        ("2026-03-28 21:45:00+00", "10"), // 22:45 in Paris, Mar 28
        ("2026-03-28 23:00:00+00", "20"), // midnight in Paris: Mar 29 there, still Mar 28 in UTC
        ("2026-03-29 21:45:00+00", "30"), // 23:45 in Paris (summer time), Mar 29
        ("2026-03-29 22:00:00+00", "40"), // midnight in Paris: Mar 30 there
    ] {
        sqlx::query(
            "INSERT INTO credit.exposure_history (tenant_id, account_id, bucket, balance, reserved, credit_limit, unlimited)
             VALUES ($1, $2, $3::timestamptz, $4::numeric, 5, 500, false)",
        )
        .bind(tenant_id)
        .bind(account)
        .bind(bucket)
        .bind(balance)
        .execute(&database)
        .await
        .expect("recorded");
    }
    let day = |text: &str| chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("a date");
    let exposures = |points: Vec<ExposurePoint>| {
        points.iter().map(|point| (point.date.clone(), amount(&point.exposure).to_owned())).collect::<Vec<_>>()
    };
    let expected = |pairs: &[(&str, &str)]| {
        pairs.iter().map(|(date, exposure)| ((*date).to_owned(), (*exposure).to_owned())).collect::<Vec<_>>()
    };

    // In Paris: nothing before the first record; each day closes with its
    // last figures before its own midnight; a quiet day keeps the last.
    let paris = request(&account_id, day("2026-03-27"), day("2026-03-31"), "Europe/Paris");
    let paris = history(&channel, &admin, paris).await.expect("history");
    assert_eq!(
        exposures(paris),
        expected(&[("2026-03-28", "15.00"), ("2026-03-29", "35.00"), ("2026-03-30", "45.00"), ("2026-03-31", "45.00")])
    );
    // In UTC the same records close other days.
    let utc = history(&channel, &admin, request(&account_id, day("2026-03-27"), day("2026-03-31"), "")).await;
    assert_eq!(
        exposures(utc.expect("history")),
        expected(&[("2026-03-28", "25.00"), ("2026-03-29", "45.00"), ("2026-03-30", "45.00"), ("2026-03-31", "45.00")])
    );

    // A change of the account that moves no figure records nothing.
    let hold =
        PutOnHoldRequest { account_id: account_id.clone(), reason: "dispute".to_owned(), request_id: String::new() };
    CreditServiceClient::new(channel.clone()).put_on_hold(authorized(hold, &admin)).await.expect("on hold");
    let recorded: i64 =
        sqlx::query_scalar("SELECT count(*) FROM credit.exposure_history WHERE tenant_id = $1 AND account_id = $2")
            .bind(tenant_id)
            .bind(account)
            .fetch_one(&database)
            .await
            .expect("counted");
    assert_eq!(recorded, 4);
}
