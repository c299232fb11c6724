//! Serving connections so that slow or idle clients cannot lock others out:
//! HTTP/1.1 (hyper) with
//! - a header-read timeout: a connection that has not sent a whole request
//!   head within [`crate::ProviderConfig::header_read_timeout`] of opening,
//!   or of its previous answer, is closed;
//! - a connection limit ([`limit`]): at most
//!   [`crate::ProviderConfig::max_connections`], and never more than three
//!   quarters of the process's open-files limit; at the limit a new
//!   connection takes the place of the one idle for longest;
//! - a bounded read buffer ([`MAX_HEAD_BYTES`]);
//! - the JSON error shape for hyper's own 400, 414 and 431 ([`auto_errors`]).
//!
//! The request timeout is a layer of the router (`http::router`). On
//! shutdown, connections waiting for a request close at once and those
//! answering one finish it.

mod auto_errors;
mod limit;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt as _;

use self::auto_errors::JsonAutoErrors;
use self::limit::{Connections, Slot};

/// Largest request head (request line and headers) read; a larger one is
/// answered 431. It leaves room for hyper's 64 KiB limit on the request
/// target (answered 414).
pub(crate) const MAX_HEAD_BYTES: usize = 96 * 1024;

/// Open files kept for the database, the models and outgoing webhooks: the
/// server takes at most the rest, three quarters of the limit.
const FILES_KEPT_BACK_PERCENT: u64 = 25;

/// How the connections are served.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// A connection must send a whole request head within this.
    pub header_read_timeout: Duration,
    /// Bounds the wait for a request in progress when its connection is
    /// asked to close.
    pub request_timeout: Duration,
    /// Most connections served at once.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    /// The provider's defaults.
    fn default() -> Self {
        Self {
            header_read_timeout: crate::DEFAULT_HEADER_READ_TIMEOUT,
            request_timeout: crate::DEFAULT_REQUEST_TIMEOUT,
            max_connections: crate::DEFAULT_MAX_CONNECTIONS,
        }
    }
}

impl ConnectionLimits {
    /// `max_connections`, lowered to three quarters of the open-files limit.
    pub fn effective_max_connections(&self) -> usize {
        match open_files_limit() {
            Some(files) => {
                let usable = files.saturating_mul(100 - FILES_KEPT_BACK_PERCENT) / 100;
                self.max_connections
                    .min(usize::try_from(usable).unwrap_or(usize::MAX))
                    .max(1)
            }
            None => self.max_connections.max(1),
        }
    }
}

#[cfg(unix)]
fn open_files_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile).current
}

#[cfg(not(unix))]
fn open_files_limit() -> Option<u64> {
    None
}

/// Serves `router` on `listener` until `shutdown` completes, then lets the
/// requests in progress finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send,
) {
    let max_connections = limits.effective_max_connections();
    if max_connections < limits.max_connections {
        tracing::info!(
            max_connections,
            "connection limit lowered to fit the open-files limit (ulimit -n)"
        );
    }
    let connections = Connections::new(max_connections);
    let stopping = CancellationToken::new();
    let tasks = TaskTracker::new();
    let mut accept_errors = AcceptErrors::default();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => {
                accept_errors.recovered();
                stream
            }
            Err(error) => {
                if accept_errors.failed(&error) {
                    // Out of file descriptors, most likely: let some close.
                    tokio::select! {
                        () = &mut shutdown => break,
                        () = tokio::time::sleep(Duration::from_millis(50)) => {}
                    }
                }
                continue;
            }
        };
        let slot = tokio::select! {
            () = &mut shutdown => break,
            slot = connections.admit() => slot,
        };
        tasks.spawn(serve_connection(
            stream,
            slot,
            router.clone(),
            limits,
            stopping.clone(),
        ));
    }
    drop(listener);
    stopping.cancel();
    tasks.close();
    tasks.wait().await;
}

/// Serves one connection until it ends, or until it is asked to close (to
/// make room, or at shutdown): then a connection that never sent a request
/// closes at once, and one that did finishes the request in progress.
async fn serve_connection(
    stream: TcpStream,
    slot: Slot,
    router: Router,
    limits: ConnectionLimits,
    stopping: CancellationToken,
) {
    // Answers are written whole, so small answers need not wait for Nagle.
    let _ = stream.set_nodelay(true);
    let activity = Arc::clone(slot.activity());
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let request_guard = activity.request();
        let router = router.clone();
        async move {
            let response = router.oneshot(request.map(Body::new)).await;
            drop(request_guard);
            response
        }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_header_size(MAX_HEAD_BYTES)
        .max_buf_size(MAX_HEAD_BYTES)
        // Each answer in one write, as `auto_errors` expects.
        .writev(false);
    let connection = builder.serve_connection(TokioIo::new(JsonAutoErrors::new(stream)), service);
    tokio::pin!(connection);
    let close = slot.activity().close_requested().clone();
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(error) = result {
                tracing::debug!(%error, "connection ended with an error");
            }
            return;
        }
        () = close.cancelled() => tracing::debug!("connection closed to make room for another"),
        () = stopping.cancelled() => {}
    }
    if !slot.activity().started_a_request() {
        return;
    }
    connection.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(limits.request_timeout, connection).await;
}

/// Logs failing accepts once, not once per retry, and says when they stop.
#[derive(Debug, Default)]
struct AcceptErrors {
    failures: u64,
}

impl AcceptErrors {
    /// Records a failed accept; whether to wait before the next one (not
    /// for a connection that failed alone, which the next accept skips).
    fn failed(&mut self, error: &std::io::Error) -> bool {
        use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
        if matches!(
            error.kind(),
            ConnectionAborted | ConnectionRefused | ConnectionReset
        ) {
            return false;
        }
        if self.failures == 0 {
            tracing::error!(%error, "cannot accept connections; retrying");
        }
        self.failures += 1;
        true
    }

    fn recovered(&mut self) {
        if self.failures > 0 {
            tracing::info!(
                failed_attempts = self.failures,
                "accepting connections again"
            );
            self.failures = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use axum::routing::get;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::sync::oneshot;

    use super::*;

    /// A server of a one-route router on `127.0.0.1:0`; stops when the
    /// sender is dropped.
    async fn start(limits: ConnectionLimits) -> (SocketAddr, oneshot::Sender<()>) {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("loopback I/O works");
        let addr = listener.local_addr().expect("loopback I/O works");
        let router = Router::new().route("/", get(|| async { "hello" }));
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(serve(listener, router, limits, async move {
            let _ = stopped.await;
        }));
        (addr, stop)
    }

    /// Connections sending the start of a request head and never the rest.
    async fn half_open(addr: SocketAddr, count: usize) -> Vec<TcpStream> {
        let mut streams = Vec::with_capacity(count);
        for _ in 0..count {
            let mut stream = TcpStream::connect(addr).await.expect("loopback I/O works");
            stream
                .write_all(b"GET / HTTP/1.1\r\nHost: slow\r\nX-Never: ends")
                .await
                .expect("loopback I/O works");
            streams.push(stream);
        }
        streams
    }

    /// A whole request; the status line of its answer.
    async fn status_line(addr: SocketAddr) -> String {
        let mut stream = TcpStream::connect(addr).await.expect("loopback I/O works");
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: normal\r\nConnection: close\r\n\r\n")
            .await
            .expect("loopback I/O works");
        let mut answer = String::new();
        stream
            .read_to_string(&mut answer)
            .await
            .expect("loopback I/O works");
        answer.lines().next().unwrap_or_default().to_owned()
    }

    /// Reads until the server closes the connection.
    async fn closed_by_server(mut stream: TcpStream) {
        let mut sink = Vec::new();
        // A reset is a close too.
        let _ = stream.read_to_end(&mut sink).await;
    }

    /// How many half-open connections a test can open: 1,000 unless the
    /// open-files limit (for both ends, in this process) is lower.
    fn half_open_count() -> usize {
        let files = open_files_limit().map_or(1_000, |files| {
            usize::try_from(files.saturating_sub(200) / 2).unwrap_or(1_000)
        });
        let count = files.min(1_000);
        assert!(count >= 100, "ulimit -n is too low for this test: {files}");
        count
    }

    /// Issue 17: connections that never finish their headers stayed open
    /// for good (42 s and counting). They are closed once the header-read
    /// timeout has passed, well within 15 s, and the server still answers.
    #[tokio::test(start_paused = true)]
    async fn half_open_connections_are_closed_after_the_header_read_timeout() {
        let limits = ConnectionLimits {
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_mins(1),
            max_connections: 10_000,
        };
        let (addr, _stop) = start(limits).await;
        let count = half_open_count();
        let started = tokio::time::Instant::now();
        let streams = half_open(addr, count).await;
        futures::future::join_all(streams.into_iter().map(closed_by_server)).await;
        let waited = started.elapsed();
        assert!(
            waited >= limits.header_read_timeout && waited < Duration::from_secs(15),
            "{count} half-open connections closed after {waited:?}"
        );
        assert_eq!(status_line(addr).await, "HTTP/1.1 200 OK");
    }

    /// Issue 17: with 256 file descriptors, 350 half-open connections locked
    /// a normal request out. At the connection limit the oldest connection
    /// without a request makes room, so a normal request is served long
    /// before any header-read timeout (an hour here) frees a slot.
    #[tokio::test]
    async fn half_open_connections_beyond_the_limit_do_not_lock_a_request_out() {
        let limits = ConnectionLimits {
            header_read_timeout: Duration::from_hours(1),
            request_timeout: Duration::from_mins(1),
            max_connections: 64,
        };
        let (addr, _stop) = start(limits).await;
        let count = half_open_count();
        let streams = half_open(addr, count).await;
        assert_eq!(status_line(addr).await, "HTTP/1.1 200 OK");
        // All but the newest (at most the limit) were closed to make room.
        let made_room = count - limits.max_connections;
        futures::future::join_all(streams.into_iter().take(made_room).map(closed_by_server)).await;
    }

    /// Shutdown closes idle connections at once and lets a request in
    /// progress finish.
    #[tokio::test(start_paused = true)]
    async fn shutdown_closes_connections_waiting_for_a_request() {
        let limits = ConnectionLimits {
            header_read_timeout: Duration::from_hours(1),
            request_timeout: Duration::from_mins(1),
            max_connections: 16,
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = Router::new().route("/", get(|| async { "hello" }));
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, router, limits, async move {
            let _ = stopped.await;
        }));
        let streams = half_open(addr, 3).await;
        // The connections are being served before the stop.
        assert_eq!(status_line(addr).await, "HTTP/1.1 200 OK");
        stop.send(()).unwrap();
        server.await.unwrap();
        futures::future::join_all(streams.into_iter().map(closed_by_server)).await;
    }
}
