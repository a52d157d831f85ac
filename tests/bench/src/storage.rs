//! S1: what the books weigh once the P-series has run, for the plan to
//! shard past one cluster (README, "Beyond one cluster"): the rows and the
//! bytes per row (heap, indexes and TOAST) of the largest tables of each
//! context. Information only: no goal.

use crate::summary::Entry;

/// How many tables are reported.
const LARGEST: i64 = 12;

pub async fn storage(database_url: &str) -> Vec<Entry> {
    let pool = sqlx::PgPool::connect(database_url).await.expect("bench database");
    sqlx::query("ANALYZE").execute(&pool).await.expect("analyze");
    let tables: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT n.nspname || '.' || c.relname, greatest(c.reltuples, 0)::bigint, pg_total_relation_size(c.oid)
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind = 'r' AND n.nspname IN ('accounts', 'pricing', 'credit', 'billing', 'reseller_sync')
         ORDER BY pg_total_relation_size(c.oid) DESC
         LIMIT $1",
    )
    .bind(LARGEST)
    .fetch_all(&pool)
    .await
    .expect("table sizes");
    pool.close().await;
    tables
        .into_iter()
        .map(|(table, rows, bytes)| {
            let per_row = bytes / rows.max(1);
            Entry::new(
                &format!("S1-{table}"),
                &format!("bytes per row of {table} (heap, indexes, TOAST)"),
                per_row as u64,
                "bytes/row",
                rows as u64,
                "rows",
            )
        })
        .collect()
}
