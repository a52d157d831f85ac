//! A private Postgres server in a folder of the checkout, started from the
//! machine's PostgreSQL binaries (as the `postgres` user when we are root,
//! since Postgres refuses to run as root).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::Command;

#[derive(Debug, thiserror::Error)]
pub enum PostgresError {
    #[error(
        "PostgreSQL server binaries (initdb, pg_ctl) not found; install them with `make deps` \
         (apt-get install -y postgresql) or set DATABASE_URL"
    )]
    BinariesMissing,
    #[error("{command} failed: {output}")]
    Command { command: String, output: String },
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

/// A running private server; `stop` shuts it down.
#[derive(Debug)]
pub struct LocalPostgres {
    bin_dir: PathBuf,
    data_dir: PathBuf,
    port: u16,
    as_root: bool,
    max_connections: u32,
}

/// Connections a private server allows unless asked for more.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 300;

impl LocalPostgres {
    /// Initializes `data_dir` when needed and starts a server on a free port.
    pub async fn start(data_dir: &Path) -> Result<LocalPostgres, PostgresError> {
        LocalPostgres::start_with(data_dir, DEFAULT_MAX_CONNECTIONS).await
    }

    /// As [`LocalPostgres::start`], allowing `max_connections`.
    pub async fn start_with(data_dir: &Path, max_connections: u32) -> Result<LocalPostgres, PostgresError> {
        let bin_dir = find_bin_dir().await.ok_or(PostgresError::BinariesMissing)?;
        let as_root = is_root().await;
        std::fs::create_dir_all(data_dir)?;
        let data_dir = data_dir.canonicalize()?;
        let postgres = LocalPostgres { bin_dir, data_dir, port: free_port()?, as_root, max_connections };
        if as_root {
            postgres.run("chown", &["-R", "postgres:postgres", &postgres.data_path()]).await?;
        }
        if !postgres.data_dir.join("PG_VERSION").exists() {
            let initdb = postgres.tool("initdb");
            postgres
                .run_as_owner(
                    &initdb,
                    &["-D", &postgres.data_path(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C"],
                )
                .await?;
        }
        if postgres.data_dir.join("postmaster.pid").exists() {
            // Left over from a run that was killed: stop it, then start ours.
            let pg_ctl = postgres.tool("pg_ctl");
            let _ = postgres.run_as_owner(&pg_ctl, &["-D", &postgres.data_path(), "-m", "immediate", "stop"]).await;
        }
        postgres.start_server().await?;
        Ok(postgres)
    }

    async fn start_server(&self) -> Result<(), PostgresError> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections={} -c shared_buffers=256MB",
            self.port,
            self.data_path(),
            self.max_connections
        );
        let log = self.data_dir.join("server.log").display().to_string();
        let pg_ctl = self.tool("pg_ctl");
        self.run_as_owner(&pg_ctl, &["-D", &self.data_path(), "-l", &log, "-o", &options, "-w", "-t", "60", "start"])
            .await
    }

    /// Stops the server as an operator would for a restart (fast: open
    /// sessions are ended), leaving it to `resume`.
    pub async fn halt(&self) -> Result<(), PostgresError> {
        let pg_ctl = self.tool("pg_ctl");
        self.run_as_owner(&pg_ctl, &["-D", &self.data_path(), "-m", "fast", "-w", "stop"]).await
    }

    /// Starts a halted server again, on the same port.
    pub async fn resume(&self) -> Result<(), PostgresError> {
        self.start_server().await
    }

    /// The URL of the server's `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    pub async fn stop(self) -> Result<(), PostgresError> {
        self.halt().await
    }

    fn data_path(&self) -> String {
        self.data_dir.display().to_string()
    }

    fn tool(&self, name: &str) -> String {
        self.bin_dir.join(name).display().to_string()
    }

    async fn run_as_owner(&self, program: &str, args: &[&str]) -> Result<(), PostgresError> {
        if self.as_root {
            let mut all = vec!["-u", "postgres", "--", program];
            all.extend_from_slice(args);
            self.run("runuser", &all).await
        } else {
            self.run(program, args).await
        }
    }

    async fn run(&self, program: &str, args: &[&str]) -> Result<(), PostgresError> {
        let output = Command::new(program).args(args).output().await?;
        if output.status.success() {
            return Ok(());
        }
        Err(PostgresError::Command {
            command: format!("{program} {}", args.join(" ")),
            output: format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)),
        })
    }
}

async fn find_bin_dir() -> Option<PathBuf> {
    if let Ok(output) = Command::new("pg_config").arg("--bindir").output().await {
        let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if dir.join("initdb").exists() {
            return Some(dir);
        }
    }
    let mut candidates: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| entry.ok().map(|entry| entry.path().join("bin")))
        .filter(|dir| dir.join("initdb").exists())
        .collect();
    candidates.sort();
    candidates.pop()
}

async fn is_root() -> bool {
    match Command::new("id").arg("-u").output().await {
        Ok(output) => String::from_utf8_lossy(&output.stdout).trim() == "0",
        Err(_) => false,
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Whether a Postgres server answers at `url` within a second.
/// How many connections the server at `url` allows, when it answers.
pub async fn max_connections(url: &str) -> Option<u32> {
    use sqlx::Connection;
    let mut connection =
        tokio::time::timeout(Duration::from_secs(1), sqlx::PgConnection::connect(url)).await.ok()?.ok()?;
    let allowed: Option<String> = sqlx::query_scalar("SHOW max_connections").fetch_one(&mut connection).await.ok();
    let _ = connection.close().await;
    allowed?.parse().ok()
}

pub async fn reachable(url: &str) -> bool {
    use sqlx::Connection;
    let attempt = tokio::time::timeout(Duration::from_secs(1), sqlx::PgConnection::connect(url)).await;
    match attempt {
        Ok(Ok(connection)) => {
            let _ = connection.close().await;
            true
        }
        _ => false,
    }
}
