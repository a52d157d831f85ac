//! The SQL that finds the subscription periods to bill
//! (`billing.period_start`, `billing.bill_on`) and the rule it follows
//! (`domain::cycle::Schedule`) agree: over random cycles, anchors (or
//! none: the start's day), starts, timings, periods and cancellations, the
//! database gives every period the first day and the billing day the rule
//! gives it.

#![allow(clippy::expect_used)]

use bss_billing::domain::cycle::{AnchorDay, Cycle, Schedule, Timing};
use bss_testkit::TestDatabase;
use chrono::{Duration, NaiveDate};

#[tokio::test]
async fn the_database_bills_every_period_on_the_day_the_rule_says() {
    let database = TestDatabase::create().await;
    let config = bss_platform::config::DatabaseConfig::new(database.url());
    let pool = bss_platform::db::connect(&config, bss_billing::SCHEMA, "cycles-property").await.expect("pool");
    bss_platform::db::migrate(&pool, bss_billing::SCHEMA, bss_billing::migrator()).await.expect("migrated");

    let mut random = bss_testkit::seeded(0x00C1_C1E5_u64);
    let first = NaiveDate::from_ymd_opt(1999, 1, 1).expect("date");
    let (mut starts, mut anchors, mut months, mut arrears, mut indexes, mut ends) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut expected = Vec::new();
    for _ in 0..20_000 {
        let start = first + Duration::days(random(15_000) as i64);
        let cycle = Cycle::ALL[random(4) as usize];
        // A third without an anchor (the start's day), the rest any day.
        let anchor = (random(3) > 0).then(|| 1 + random(31) as i32);
        let timing = if random(2) == 0 { Timing::Advance } else { Timing::Arrears };
        let index = random(40) as u32;
        let end = (random(2) == 0).then(|| start + Duration::days(random(3_000) as i64));
        let schedule = Schedule {
            cycle,
            anchor: anchor.map_or(AnchorDay::of(start), |day| AnchorDay::new(day as u32).expect("anchor")),
            start,
        };
        let period_start = schedule.period(index).expect("period").start;
        let billed_on = schedule.billed_on(index, timing, end);
        starts.push(start);
        anchors.push(anchor);
        months.push(cycle.months() as i32);
        arrears.push(timing == Timing::Arrears);
        indexes.push(index as i32);
        ends.push(end);
        expected.push((period_start, billed_on));
    }
    // 'infinity' (never billed) reads as no date.
    let found: Vec<(NaiveDate, Option<NaiveDate>)> = sqlx::query_as(
        "SELECT billing.period_start(s, a, m, i),
                nullif(billing.bill_on(s, a, m, r, i, e), 'infinity'::date)
         FROM unnest($1::date[], $2::int[], $3::int[], $4::bool[], $5::int[], $6::date[]) WITH ORDINALITY
             AS c(s, a, m, r, i, e, n)
         ORDER BY n",
    )
    .bind(&starts)
    .bind(&anchors)
    .bind(&months)
    .bind(&arrears)
    .bind(&indexes)
    .bind(&ends)
    .fetch_all(&pool)
    .await
    .expect("the database's periods");
    assert_eq!(found.len(), expected.len());
    for (case, (found, expected)) in found.iter().zip(&expected).enumerate() {
        assert_eq!(
            found, expected,
            "start {} anchor {:?} every {} months, arrears {}, period {}, ends {:?}",
            starts[case], anchors[case], months[case], arrears[case], indexes[case], ends[case]
        );
    }

    // Never activated (a start at infinity): never billed.
    let never: Option<NaiveDate> =
        sqlx::query_scalar("SELECT nullif(billing.bill_on('infinity', 5, 3, true, 2, NULL), 'infinity'::date)")
            .fetch_one(&pool)
            .await
            .expect("infinity");
    assert_eq!(never, None);
}
