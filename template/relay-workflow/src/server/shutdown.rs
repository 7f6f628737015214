//! Shutdown: the handle that refuses new sessions and drains the running ones within a
//! deadline, and the SIGTERM/SIGINT signal that starts it.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

/// After the deadline's 1001 close frames, how long the server waits for sessions to finish
/// closing (each has `session::FORCED_GRACE`, a little less).
const FORCED_CLOSE_WAIT: Duration = Duration::from_millis(1250);

/// Controls a running server's sessions: start the shutdown, count and drain sessions.
#[derive(Clone, Debug)]
pub struct ServerHandle {
    pub(super) shutdown: CancellationToken,
    pub(super) force_close: CancellationToken,
    pub(super) live: Arc<AtomicUsize>,
    pub(super) tracker: TaskTracker,
}

impl ServerHandle {
    /// Refuse new sessions from now on (503); running sessions go on.
    pub fn begin_shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Whether the shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.shutdown.is_cancelled()
    }

    /// Sessions currently connected.
    pub fn live_sessions(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// Begin the shutdown, wait up to `deadline` for sessions to finish, then close the
    /// remaining ones with 1001. Returns at most about 1.25 s after the deadline: each
    /// session gets one second for its close handshake and last writes, and a handler still
    /// running then is dropped.
    pub async fn drain(&self, deadline: Duration) {
        self.begin_shutdown();
        self.tracker.close();
        let running = self.live_sessions();
        if running > 0 {
            info!("shutting down: waiting up to {deadline:?} for {running} running session(s)");
        }
        if tokio::time::timeout(deadline, self.tracker.wait())
            .await
            .is_err()
        {
            let left = self.live_sessions();
            warn!("shutdown deadline reached: closing {left} session(s) with 1001");
            self.force_close.cancel();
            if tokio::time::timeout(FORCED_CLOSE_WAIT, self.tracker.wait())
                .await
                .is_err()
            {
                warn!("{} session(s) did not close in time", self.live_sessions());
            }
        }
    }
}

/// Completes on the first SIGTERM (Heroku) or SIGINT (Ctrl-C, `heroku local`).
///
/// The handlers are installed when this is called (before the server logs that it
/// listens), not when the future is first polled. On Unix, a second SIGTERM or SIGINT ends
/// the process at once, with status 128 + the signal's number (143, 130) and without
/// draining: the way out when a drain takes too long (Ctrl-C twice). That path writes
/// nothing, so the state of the log output (a closed or full pipe) cannot stop it. The
/// one log line of the first signal is written with any panic caught: no subscriber can
/// take the signal task down.
pub(super) fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let (mut term, mut int) = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::terminate()).ok(),
            signal(SignalKind::interrupt()).ok(),
        )
    };
    #[cfg(unix)]
    async fn next(signal: &mut Option<tokio::signal::unix::Signal>) {
        match signal {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending().await,
        }
    }
    async move {
        #[cfg(unix)]
        let name = tokio::select! {
            _ = next(&mut term) => "SIGTERM",
            _ = next(&mut int) => "SIGINT",
        };
        #[cfg(unix)]
        tokio::spawn(async move {
            let code = tokio::select! {
                _ = next(&mut term) => 128 + 15,
                _ = next(&mut int) => 128 + 2,
            };
            std::process::exit(code);
        });
        #[cfg(not(unix))]
        let name = {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
            "SIGINT"
        };
        let _ = std::panic::catch_unwind(|| {
            info!("{name} received: shutting down (send it again to exit at once)");
        });
    }
}
