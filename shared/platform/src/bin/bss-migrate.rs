//! bss-migrate: creates a database afresh and applies the migrations of
//! each schema named, as the services do when they start; prints the
//! database's URL. `make sqlx-prepare` describes the checked queries
//! against it. It links no service, so it builds while their checked
//! queries wait to be described.
//!
//! Usage: DATABASE_URL=<a server's postgres database> bss-migrate <database> <schema>=<migrations dir>...
//!        DATABASE_URL=... bss-migrate --drop <database>

use std::process::ExitCode;

use sqlx::Connection;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match migrate().await {
        Ok(url) => {
            println!("{url}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("bss-migrate: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn migrate() -> Result<String, Box<dyn std::error::Error>> {
    let server = std::env::var("DATABASE_URL").map_err(|_| "set DATABASE_URL to a server's postgres database")?;
    let mut arguments = std::env::args().skip(1).peekable();
    let dropping = arguments.next_if(|argument| argument == "--drop").is_some();
    let database = arguments.next().ok_or("name the database")?;
    if database.is_empty() || !database.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err("the database name takes letters, digits and '_'".into());
    }
    let mut connection = sqlx::PgConnection::connect(&server).await?;
    let drop = format!("DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)");
    sqlx::query(sqlx::AssertSqlSafe(drop)).execute(&mut connection).await?;
    if dropping {
        connection.close().await?;
        return Ok(String::new());
    }
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{database}\""))).execute(&mut connection).await?;
    connection.close().await?;
    // The server's URL with the new database in place of its own, its
    // options (`?sslmode=...`) kept.
    let (address, options) = server.split_once('?').map_or((server.as_str(), None), |(a, o)| (a, Some(o)));
    let (base, _) =
        address.rsplit_once('/').filter(|(base, _)| base.contains("//")).ok_or("DATABASE_URL names no database")?;
    let url = match options {
        Some(options) => format!("{base}/{database}?{options}"),
        None => format!("{base}/{database}"),
    };
    for pair in arguments {
        let (schema, dir) = pair.split_once('=').ok_or("give each schema as <schema>=<migrations dir>")?;
        let schema: &'static str = Box::leak(schema.to_owned().into_boxed_str());
        let config = bss_platform::config::DatabaseConfig::new(url.clone());
        let db = bss_platform::db::connect(&config, schema, "bss-migrate").await?;
        let migrator = sqlx::migrate::Migrator::new(std::path::Path::new(dir)).await?;
        bss_platform::db::migrate(&db, schema, migrator).await?;
        db.close().await;
        eprintln!("bss-migrate: {schema} migrated from {dir}");
    }
    Ok(url)
}
