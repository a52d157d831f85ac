//! The SQL that aggregates a period's usage (`repo::usage::aggregate`) and
//! the rule it follows (`domain::usage::Aggregation::aggregate`) agree: over
//! random events (keys sent more than once, the same instant for several,
//! properties empty or not, keys and properties beyond ASCII), stored as
//! ingestion stores them (the first of a key kept), every aggregation of
//! random time windows is what the rule makes of the events kept in them.

#![allow(clippy::expect_used)]

use bss_billing::domain::usage::{Aggregation, UsageEvent};
use bss_billing::repo::usage::{NewEvent, aggregate, insert};
use bss_testkit::TestDatabase;
use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

#[tokio::test]
async fn the_database_aggregates_usage_as_the_rule_says() {
    let database = TestDatabase::create().await;
    let config = bss_platform::config::DatabaseConfig::new(database.url());
    let pool = bss_platform::db::connect(&config, bss_billing::SCHEMA, "usage-property").await.expect("pool");
    bss_platform::db::migrate(&pool, bss_billing::SCHEMA, bss_billing::migrator()).await.expect("migrated");
    let mut conn = pool.acquire().await.expect("connection");

    let mut random = bss_testkit::seeded(0x05A6_E000_u64);
    let names = ["", "", "alice", "Bob", "bob", "Álvaro", "zoë", "Zed"];
    let origin = DateTime::<Utc>::UNIX_EPOCH + Duration::days(20_000);
    let tenant_id = Uuid::now_v7();
    for round in 0..40 {
        let subscription_id = Uuid::now_v7();
        let metric = format!("metric.{round}");
        let mut kept: Vec<UsageEvent> = Vec::new();
        for _ in 0..8 {
            let batch: Vec<NewEvent> = (0..1 + random(60))
                .map(|_| NewEvent {
                    subscription_id,
                    metric: metric.clone(),
                    key: format!("{}{}", names[random(names.len() as u64) as usize], random(40)),
                    quantity: Decimal::new(random(100_000) as i64, random(4) as u32),
                    at: origin + Duration::seconds(random(500) as i64),
                    property: names[random(names.len() as u64) as usize].to_owned(),
                })
                .collect();
            insert(&mut conn, tenant_id, &batch).await.expect("stored");
            // The rule's view: the first event of each key is kept.
            for event in batch {
                if !kept.iter().any(|earlier| earlier.key == event.key) {
                    kept.push(UsageEvent {
                        key: event.key,
                        quantity: event.quantity,
                        at: event.at,
                        property: event.property,
                    });
                }
            }
        }
        for _ in 0..10 {
            let from = origin + Duration::seconds(random(500) as i64);
            let to = from + Duration::seconds(random(400) as i64);
            let inside: Vec<&UsageEvent> = kept.iter().filter(|event| event.at >= from && event.at < to).collect();
            for aggregation in Aggregation::ALL {
                let found = aggregate(&mut conn, (tenant_id, subscription_id), (&metric, aggregation), (from, to))
                    .await
                    .expect("aggregated");
                assert_eq!(
                    found,
                    (aggregation.aggregate(inside.iter().copied()), inside.len() as i64),
                    "round {round}, {aggregation:?} from {from} to {to}"
                );
            }
        }
    }
}
