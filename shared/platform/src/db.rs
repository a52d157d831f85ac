//! The database: a pool whose connections live in the service's own schema,
//! and migrations that are safe when several replicas start at once.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgPool};

use crate::config::DatabaseConfig;
use crate::server::ReadinessCheck;

/// Connects a pool for `schema`, retrying an unreachable server until the
/// configured start-up timeout. Every connection has `search_path` set to the
/// schema; service queries are schema-qualified all the same.
pub async fn connect(
    config: &DatabaseConfig,
    schema: &'static str,
    application_name: &str,
) -> Result<PgPool, sqlx::Error> {
    let options = PgConnectOptions::from_str(config.url.expose())?.application_name(application_name).options([
        ("search_path", schema.to_owned()),
        ("statement_timeout", config.statement_timeout_ms.to_string()),
        // Money paths must survive a crash the moment they are acknowledged.
        ("synchronous_commit", "on".to_owned()),
    ]);
    let deadline = Instant::now() + Duration::from_millis(config.startup_timeout_ms);
    let mut delay = Duration::from_millis(200);
    loop {
        let attempt = PgPoolOptions::new()
            .max_connections(config.max_connections)
            // No ping before every use: it doubled the round trips of every
            // call. A connection that died while idle fails its next query
            // (UNAVAILABLE, which callers retry) and is discarded.
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_millis(config.acquire_timeout_ms))
            .connect_with(options.clone())
            .await;
        match attempt {
            Ok(pool) => {
                crate::metrics::register_pool(schema, application_name, &pool);
                return Ok(pool);
            }
            Err(error) if Instant::now() + delay < deadline && is_unavailable(&error) => {
                tracing::warn!(%error, retry_in_ms = delay.as_millis() as u64, "database not reachable yet");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            Err(error) => return Err(error),
        }
    }
}

/// Whether the database failed because it cannot be reached or serve right
/// now (down, restarting, a connection cut, the pool exhausted): the call
/// may succeed when retried. Other errors are the call's own.
pub fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db_error) => db_error.code().is_some_and(|code| {
            // Class 08: connection exceptions. admin_shutdown, crash_shutdown,
            // cannot_connect_now: the server is stopping or starting.
            // too_many_connections.
            code.starts_with("08") || matches!(code.as_ref(), "57P01" | "57P02" | "57P03" | "53300")
        }),
        _ => false,
    }
}

/// Runs the shared plumbing's migrations and then the service's own, each
/// with its own migrations table in `schema`. sqlx holds an advisory lock
/// while it migrates, so replicas starting together apply each migration
/// exactly once; the schema is created under that lock.
pub async fn migrate(
    pool: &PgPool,
    schema: &'static str,
    mut service_migrations: Migrator,
) -> Result<(), MigrateError> {
    // On a connection of its own: the pool's acquire timeout is sized for
    // calls (it may be a few milliseconds), not for a start on a busy
    // database.
    let mut connection = sqlx::PgConnection::connect_with(&pool.connect_options()).await?;
    let mut platform_migrations = sqlx::migrate!("./migrations");
    platform_migrations.create_schema(schema);
    platform_migrations.dangerous_set_table_name(format!("{schema}._platform_migrations"));
    platform_migrations.run(&mut connection).await?;

    service_migrations.create_schema(schema);
    service_migrations.dangerous_set_table_name(format!("{schema}._sqlx_migrations"));
    service_migrations.run(&mut connection).await?;
    connection.close().await?;
    Ok(())
}

/// A readiness check that asks the database for `SELECT 1`.
pub fn readiness(pool: PgPool) -> ReadinessCheck {
    Arc::new(move || {
        let pool = pool.clone();
        Box::pin(async move { sqlx::query("SELECT 1").execute(&pool).await.is_ok() })
    })
}

/// A transaction, waiting while the pool has no connection to give (a
/// small pool at startup, the database restarting): startup work retries
/// for about fifteen seconds rather than failing the service's start.
async fn begin_patiently(db: &PgPool) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
    let mut delay = Duration::from_millis(20);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match db.begin().await {
            Err(error) if is_unavailable(&error) && Instant::now() + delay < deadline => {
                tracing::warn!(%error, retry_in_ms = delay.as_millis() as u64, "no connection for startup work yet");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_millis(500));
            }
            other => return other,
        }
    }
}

/// Rewrites stored records batch by batch, each batch in one transaction:
/// `select` reads up to a batch of the records still to rewrite, locked
/// (`... LIMIT n FOR UPDATE`), each as `R`; `rewrite` turns one into
/// (tenant id, id, document); `update` stores a batch in one statement from
/// `unnest($1::uuid[], $2::uuid[], $3::jsonb[])` and must make the records
/// leave `select`. Returns how many were rewritten. Run at start, before a
/// service serves, it converts what an older release stored (wire
/// messages) into the service's own terms; a replica starting alongside
/// waits for the other's batch, so neither serves while a record is left.
pub async fn rewrite_batches<R>(
    db: &PgPool,
    select: &'static str,
    update: &'static str,
    rewrite: impl Fn(R) -> Result<(uuid::Uuid, uuid::Uuid, serde_json::Value), String>,
) -> Result<u64, crate::error::PlatformError>
where
    R: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    let mut rewritten = 0;
    loop {
        let mut tx = begin_patiently(db).await?;
        let rows: Vec<R> = sqlx::query_as(select).fetch_all(&mut *tx).await?;
        if rows.is_empty() {
            return Ok(rewritten);
        }
        let (mut tenants, mut ids, mut docs) = (Vec::new(), Vec::new(), Vec::new());
        for row in rows {
            let (tenant_id, id, doc) = rewrite(row).map_err(crate::error::PlatformError::Corrupt)?;
            tenants.push(tenant_id);
            ids.push(id);
            docs.push(doc);
        }
        sqlx::query(update).bind(&tenants).bind(&ids).bind(&docs).execute(&mut *tx).await?;
        rewritten += ids.len() as u64;
        tx.commit().await?;
    }
}

/// Time zone names Postgres's time zone database was found to know
/// (`pg_timezone_names` reads every zone file at each query; the names
/// asked for are few).
static KNOWN_TIME_ZONES: std::sync::LazyLock<std::sync::RwLock<std::collections::HashSet<String>>> =
    std::sync::LazyLock::new(Default::default);

/// Today in the IANA time zone `name` by Postgres's clock; INVALID_ARGUMENT
/// on `field` when Postgres's time zone database (`pg_timezone_names`)
/// does not know the name.
pub async fn today_in<E: From<crate::error::Violations> + From<sqlx::Error>>(
    connection: &mut sqlx::PgConnection,
    field: &str,
    name: &str,
) -> Result<chrono::NaiveDate, E> {
    use std::sync::PoisonError;
    let known = KNOWN_TIME_ZONES.read().unwrap_or_else(PoisonError::into_inner).contains(name);
    if !known {
        let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1)")
            .bind(name)
            .fetch_one(&mut *connection)
            .await?;
        if !exists {
            return Err(crate::input::unknown_time_zone(field, name).into());
        }
        KNOWN_TIME_ZONES.write().unwrap_or_else(PoisonError::into_inner).insert(name.to_owned());
    }
    Ok(sqlx::query_scalar("SELECT (now() AT TIME ZONE $1)::date").bind(name).fetch_one(connection).await?)
}
