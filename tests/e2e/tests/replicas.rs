//! Replicas of a service starting at once over a fresh database, as a
//! Kubernetes rollout starts them: each migration is applied exactly once
//! and every replica comes up.

#![allow(clippy::expect_used)]

use bss_platform::shutdown::Shutdown;
use bss_testkit::TestDatabase;

#[tokio::test]
async fn four_replicas_starting_together_apply_each_migration_once_and_all_start() {
    let database = TestDatabase::create().await;
    let config = bss_billing::BillingConfig::new(bss_testkit::platform_config(database.url()));
    let start = || async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("port");
        bss_billing::App::build(&config, listener, Shutdown::new()).await
    };
    let replicas = futures::future::join_all((0..4).map(|_| start())).await;
    for replica in &replicas {
        assert!(replica.is_ok(), "a replica failed to start: {:?}", replica.as_ref().err());
    }

    let pool = sqlx::PgPool::connect(database.url()).await.expect("database");
    let count = |folder: &str| {
        std::fs::read_dir(bss_e2e::repository_root().join(folder))
            .expect("migrations folder")
            .filter(|entry| entry.as_ref().is_ok_and(|entry| entry.path().extension().is_some_and(|ext| ext == "sql")))
            .count() as i64
    };
    let migrations = count("services/billing/migrations");
    let (applied, versions): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(DISTINCT version) FROM billing._sqlx_migrations WHERE success")
            .fetch_one(&pool)
            .await
            .expect("migrations table");
    assert_eq!((applied, versions), (migrations, migrations));
    let platform: i64 = sqlx::query_scalar("SELECT count(*) FROM billing._platform_migrations WHERE success")
        .fetch_one(&pool)
        .await
        .expect("platform migrations table");
    assert_eq!(platform, count("shared/platform/migrations"));
}
