//! A workflow server on a random loopback port, for tests, with its own log capture.

use super::LogCapture;
use crate::server::{ServeError, WorkflowServer};
use std::net::SocketAddr;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A [`WorkflowServer`] running in this process on `127.0.0.1:<random port>`.
///
/// The server runs inside the span of a [`LogCapture`] of its own: [`logs`](Self::logs) and
/// [`wait_for_log`](Self::wait_for_log) see what this server logged (at every level), and
/// nothing logged by another test. When the test panics, the server's lines are written to
/// the test's output.
///
/// ```no_run
/// # async fn f(app: relay_workflow::WorkflowServer) {
/// use relay_workflow::testing::TestServer;
/// let server = TestServer::start(app).await;
/// let url = server.url("hellopath"); // ws://127.0.0.1:<port>/hellopath
/// server.shutdown().await;
/// # }
/// ```
#[derive(Debug)]
pub struct TestServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ServeError>>>,
    logs: LogCapture,
}

impl TestServer {
    /// Bind `127.0.0.1:0` and serve `server` in the background.
    ///
    /// Unless the server sets its own, the shutdown deadline is 1 s (not 25 s), so that
    /// [`shutdown`](Self::shutdown) does not keep a test waiting on a connected simulator.
    ///
    /// # Panics
    /// If no loopback port can be bound.
    pub async fn start(mut server: WorkflowServer) -> TestServer {
        if server.settings.shutdown_deadline.is_none() {
            server.settings.shutdown_deadline = Some(std::time::Duration::from_secs(1));
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let logs = LogCapture::new();
        logs.label(format!("the test server at {addr}"));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(logs.instrument(server.serve_with(listener, async {
            let _ = stopped.await;
        })));
        TestServer {
            addr,
            stop: Some(stop),
            task: Some(task),
            logs,
        }
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What this server has logged (clone it to read it after [`shutdown`](Self::shutdown)).
    pub fn logs(&self) -> &LogCapture {
        &self.logs
    }

    /// Wait (at most 5 s) until a line this server logged contains `needle`; that line.
    ///
    /// # Panics
    /// If none does within the time.
    pub async fn wait_for_log(&self, needle: &str) -> String {
        self.logs.wait_for(needle).await
    }

    /// `ws://127.0.0.1:<port>/<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("ws://{}/{}", self.addr, path.trim_start_matches('/'))
    }

    /// `http://127.0.0.1:<port>/<path>`.
    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}/{}", self.addr, path.trim_start_matches('/'))
    }

    /// Shut down as on SIGTERM and wait until the server has drained.
    ///
    /// # Panics
    /// If the server ended with an error.
    pub async fn shutdown(mut self) {
        self.begin_shutdown();
        if let Some(task) = self.task.take() {
            task.await
                .expect("server task panicked")
                .expect("server failed");
        }
    }

    /// Signal the shutdown (as SIGTERM would) without waiting for it.
    pub fn begin_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Wait for a shutdown begun with [`begin_shutdown`](Self::begin_shutdown) to finish.
    pub async fn finished(mut self) -> Result<(), ServeError> {
        match self.task.take() {
            Some(task) => task
                .await
                .unwrap_or_else(|e| Err(ServeError::Io(std::io::Error::other(e)))),
            None => Ok(()),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}
