//! A TCP proxy for fault tests, placed between a service and what it talks
//! to (Postgres, another service): it adds latency, resets every open
//! connection at once, or refuses new ones, while the test drives load.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A running proxy; it stops when dropped.
pub struct Proxy {
    address: SocketAddr,
    shared: Arc<Shared>,
    resets: watch::Sender<u64>,
    accept: tokio::task::JoinHandle<()>,
}

struct Shared {
    target: SocketAddr,
    latency_ms: AtomicU64,
    refusing: AtomicBool,
    connections: AtomicU64,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.resets.send_modify(|generation| *generation += 1);
    }
}

impl Proxy {
    /// A proxy on a free local port forwarding to `target`.
    pub async fn start(target: SocketAddr) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let shared = Arc::new(Shared {
            target,
            latency_ms: AtomicU64::new(0),
            refusing: AtomicBool::new(false),
            connections: AtomicU64::new(0),
        });
        let (resets, _) = watch::channel(0u64);
        let accept = tokio::spawn(accept(listener, shared.clone(), resets.clone()));
        Ok(Proxy { address, shared, resets, accept })
    }

    /// Where clients connect.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Delays every chunk of bytes, each way, by `latency`.
    pub fn set_latency(&self, latency: Duration) {
        self.shared.latency_ms.store(latency.as_millis() as u64, Ordering::SeqCst);
    }

    /// Resets every open connection (a TCP RST to both ends).
    pub fn reset_all(&self) {
        self.resets.send_modify(|generation| *generation += 1);
    }

    /// While set, new connections are reset as soon as they are accepted.
    pub fn set_refusing(&self, refusing: bool) {
        self.shared.refusing.store(refusing, Ordering::SeqCst);
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::SeqCst)
    }
}

async fn accept(listener: TcpListener, shared: Arc<Shared>, resets: watch::Sender<u64>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        shared.connections.fetch_add(1, Ordering::SeqCst);
        if shared.refusing.load(Ordering::SeqCst) {
            abort(client);
            continue;
        }
        let shared = shared.clone();
        let mut reset = resets.subscribe();
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(shared.target).await else {
                abort(client);
                return;
            };
            // Linger 0: dropping a socket resets its connection.
            for stream in [&client, &server] {
                let _ = stream.set_nodelay(true);
                reset_on_drop(stream);
            }
            let (mut client_read, mut client_write) = client.into_split();
            let (mut server_read, mut server_write) = server.into_split();
            let upstream = pipe(&mut client_read, &mut server_write, &shared);
            let downstream = pipe(&mut server_read, &mut client_write, &shared);
            tokio::select! {
                _ = async { tokio::join!(upstream, downstream) } => {}
                _ = reset.changed() => {}
            }
        });
    }
}

/// Copies one way, chunk by chunk, each after the current latency; closes
/// the writing side when the reading side ends.
async fn pipe(from: &mut tokio::net::tcp::OwnedReadHalf, to: &mut tokio::net::tcp::OwnedWriteHalf, shared: &Shared) {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        let latency = shared.latency_ms.load(Ordering::SeqCst);
        if latency > 0 {
            tokio::time::sleep(Duration::from_millis(latency)).await;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

/// Closes a connection with a reset rather than an orderly FIN.
fn abort(stream: TcpStream) {
    reset_on_drop(&stream);
    drop(stream);
}

/// SO_LINGER of zero: closing sends a RST at once (a zero linger never
/// blocks, which is what the deprecation warns of).
#[allow(deprecated)]
fn reset_on_drop(stream: &TcpStream) {
    let _ = stream.set_linger(Some(Duration::ZERO));
}
