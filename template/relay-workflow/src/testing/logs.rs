//! Log capture scoped to one server under test: [`LogCapture`] keeps the lines logged inside
//! its span (a `TestServer` runs its whole server in one), and nothing logged by another
//! test, so a test cannot pass on another test's line.
//!
//! How: the first capture installs a process-wide `tracing` subscriber that formats every
//! record (every level, `trace` included) and files it under the capture whose span the
//! record was logged in, found through the span's parents. Tasks the server spawns carry its
//! span (`in_current_span` at the spawn sites), so their lines are filed too. Records logged
//! outside any capture's span are formatted and dropped.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;
use tracing::span::{Attributes, Id};
use tracing::Subscriber;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// Most bytes of log lines one capture keeps; beyond it the oldest lines are dropped (and
/// counted), so a flood cannot grow a test's memory without end.
pub const MAX_CAPTURED_BYTES: usize = 16 * 1024 * 1024;
/// How long [`LogCapture::wait_for`] waits for a line.
pub const LOG_WAIT: Duration = Duration::from_secs(5);
/// The span field that names a capture (its id); spans inside such a span inherit it.
const FIELD: &str = "relay_test_log";

/// The lines logged inside one capture's span, as they are written (without colours). Cheap
/// to clone: clones share the lines.
///
/// A [`TestServer`](super::TestServer) has one ([`logs`](super::TestServer::logs)); make
/// one yourself to capture what other code logs, with [`instrument`](Self::instrument):
///
/// ```no_run
/// # async fn f() {
/// use relay_workflow::testing::LogCapture;
/// let capture = LogCapture::new();
/// capture.instrument(async { tracing::info!("inside") }).await;
/// assert!(capture.contains("inside"));
/// # }
/// ```
///
/// When a test panics while it holds a capture (a `TestServer` included), the captured
/// lines are written to the test's output once, under a heading, as `cargo test` shows a
/// failing test's output.
///
/// Capturing needs the process-wide `tracing` subscriber this module installs on first use:
/// if the test installed another one before (`init_logging()`, `tracing_subscriber::fmt()
/// .init()`), nothing is captured, and [`wait_for`](Self::wait_for) says so when it fails.
#[derive(Clone)]
pub struct LogCapture {
    id: u64,
    shared: Arc<Shared>,
}

/// What the capture's handles share; the subscriber holds it weakly.
struct Shared {
    state: Mutex<State>,
    /// Woken on every line.
    arrived: tokio::sync::Notify,
    /// Whether the lines were written out for a panicking test already.
    shown: AtomicBool,
    /// What the lines belong to, for the heading ("the test server at 127.0.0.1:…").
    label: Mutex<String>,
}

#[derive(Default)]
struct State {
    lines: VecDeque<String>,
    bytes: usize,
    dropped: u64,
}

impl LogCapture {
    /// A new, empty capture, installing the capturing subscriber if it is not yet.
    pub fn new() -> LogCapture {
        let installed = install();
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        let shared = Arc::new(Shared {
            state: Mutex::default(),
            arrived: tokio::sync::Notify::new(),
            shown: AtomicBool::new(false),
            label: Mutex::new(format!("log capture {id}")),
        });
        if installed {
            let mut all = captures().lock().unwrap_or_else(|p| p.into_inner());
            all.retain(|_, weak| weak.strong_count() > 0);
            all.insert(id, Arc::downgrade(&shared));
        }
        LogCapture { id, shared }
    }

    /// Name what the lines belong to, for the heading shown when a test fails.
    pub(crate) fn label(&self, label: String) {
        *self.shared.label.lock().unwrap_or_else(|p| p.into_inner()) = label;
    }

    /// The span whose records (and those of the spans and tasks inside it) this capture
    /// keeps.
    pub fn span(&self) -> tracing::Span {
        tracing::info_span!("test", relay_test_log = self.id)
    }

    /// `future`, run inside [`span`](Self::span).
    pub fn instrument<F: std::future::Future>(
        &self,
        future: F,
    ) -> tracing::instrument::Instrumented<F> {
        tracing::Instrument::instrument(future, self.span())
    }

    /// Every line captured so far (the oldest may have been dropped past
    /// [`MAX_CAPTURED_BYTES`]).
    pub fn lines(&self) -> Vec<String> {
        self.state().lines.iter().cloned().collect()
    }

    /// Every line captured so far, one per line.
    pub fn text(&self) -> String {
        let state = self.state();
        let mut text = String::with_capacity(state.bytes + state.lines.len());
        for line in &state.lines {
            text.push_str(line);
            text.push('\n');
        }
        text
    }

    /// Whether a captured line contains `needle`.
    pub fn contains(&self, needle: &str) -> bool {
        self.find(needle).is_some()
    }

    /// The first captured line that contains `needle`.
    pub fn find(&self, needle: &str) -> Option<String> {
        self.state()
            .lines
            .iter()
            .find(|line| line.contains(needle))
            .cloned()
    }

    /// Wait (at most [`LOG_WAIT`]) until a captured line contains `needle`; that line.
    ///
    /// # Panics
    /// If no line does within the time, saying whether the capture is working at all.
    pub async fn wait_for(&self, needle: &str) -> String {
        match self.wait_for_within(needle, LOG_WAIT).await {
            Some(line) => line,
            None => panic!(
                "no log line of {} contains {needle:?} within {LOG_WAIT:?}{}",
                self.shared.label.lock().unwrap_or_else(|p| p.into_inner()),
                if installed() {
                    ""
                } else {
                    " (nothing is captured: another tracing subscriber was installed first)"
                }
            ),
        }
    }

    /// Wait at most `limit` until a captured line contains `needle`: that line, or `None`.
    pub async fn wait_for_within(&self, needle: &str, limit: Duration) -> Option<String> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let mut arrived = pin!(self.shared.arrived.notified());
            arrived.as_mut().enable();
            if let Some(line) = self.find(needle) {
                return Some(line);
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return self.find(needle);
            }
        }
    }

    /// How many of the oldest lines were dropped past [`MAX_CAPTURED_BYTES`].
    pub fn dropped(&self) -> u64 {
        self.state().dropped
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Default for LogCapture {
    fn default() -> Self {
        LogCapture::new()
    }
}

impl fmt::Debug for LogCapture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state();
        f.debug_struct("LogCapture")
            .field("id", &self.id)
            .field("lines", &state.lines.len())
            .field("dropped", &state.dropped)
            .finish()
    }
}

impl Drop for LogCapture {
    /// During a test's panic, write the captured lines to its output, once per capture.
    fn drop(&mut self) {
        if std::thread::panicking() && !self.shared.shown.swap(true, Ordering::Relaxed) {
            let state = self.state();
            let label = self.shared.label.lock().unwrap_or_else(|p| p.into_inner());
            eprintln!("---- log of {label} ({} lines) ----", state.lines.len());
            if state.dropped > 0 {
                eprintln!("({} older lines dropped)", state.dropped);
            }
            for line in &state.lines {
                eprintln!("{line}");
            }
            eprintln!("---- end of the log of {label} ----");
        }
    }
}

impl Shared {
    fn push(&self, text: &str) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        for line in text.lines() {
            state.bytes += line.len();
            state.lines.push_back(line.to_owned());
        }
        while state.bytes > MAX_CAPTURED_BYTES {
            match state.lines.pop_front() {
                Some(old) => {
                    state.bytes -= old.len();
                    state.dropped += 1;
                }
                None => break,
            }
        }
        drop(state);
        self.arrived.notify_waiters();
    }
}

// ---------------------------------------------------------------------------------------
// The subscriber

fn captures() -> &'static Mutex<HashMap<u64, Weak<Shared>>> {
    static CAPTURES: OnceLock<Mutex<HashMap<u64, Weak<Shared>>>> = OnceLock::new();
    CAPTURES.get_or_init(Default::default)
}

static INSTALLED: OnceLock<bool> = OnceLock::new();

/// Install the capturing subscriber as the process's default, once; whether it is.
fn install() -> bool {
    *INSTALLED.get_or_init(|| {
        let subscriber = tracing_subscriber::registry().with(Tagger).with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(Filing),
        );
        tracing::subscriber::set_global_default(subscriber).is_ok()
    })
}

fn installed() -> bool {
    INSTALLED.get().copied().unwrap_or(false)
}

/// A span's capture id, kept in its extensions.
struct Tag(u64);

thread_local! {
    /// The capture of the record being formatted on this thread, set by [`Tagger`] just
    /// before the formatting layer writes it.
    static FILE_UNDER: std::cell::Cell<Option<u64>> = const { std::cell::Cell::new(None) };
}

/// Tags spans with their capture (their own field, or their parent's tag) and notes the
/// capture of each record for [`Filing`].
struct Tagger;

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Tagger {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut own = FindTag(None);
        attrs.record(&mut own);
        let tag = own.0.or_else(|| {
            span.parent()
                .and_then(|parent| parent.extensions().get::<Tag>().map(|t| t.0))
        });
        if let Some(tag) = tag {
            span.extensions_mut().insert(Tag(tag));
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        let tag = ctx
            .event_span(event)
            .and_then(|span| span.extensions().get::<Tag>().map(|t| t.0));
        FILE_UNDER.with(|f| f.set(tag));
    }
}

struct FindTag(Option<u64>);

impl tracing::field::Visit for FindTag {
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        if field.name() == FIELD {
            self.0 = Some(value);
        }
    }
    fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn fmt::Debug) {}
}

/// The formatting layer's writer: files each formatted record under its capture.
struct Filing;

impl<'a> MakeWriter<'a> for Filing {
    type Writer = FileWriter;
    fn make_writer(&'a self) -> FileWriter {
        FileWriter(FILE_UNDER.with(|f| f.get()))
    }
}

struct FileWriter(Option<u64>);

impl io::Write for FileWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(id) = self.0 {
            let shared = captures()
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&id)
                .and_then(Weak::upgrade);
            if let Some(shared) = shared {
                shared.push(&String::from_utf8_lossy(buf));
            }
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
