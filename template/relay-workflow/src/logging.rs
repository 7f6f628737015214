//! Logging that a peer can neither forge nor use to stop the server.
//!
//! * **Escaped at the formatter.** [`EscapedFields`] formats every message and field of
//!   every record (events and spans) with control characters written as visible text
//!   (`\n`, `\r`, `\t`, `\u{1b}`, …), so that no value, wherever it came from, can start a
//!   line of its own or colour the terminal. The formatter's own colours (on a terminal)
//!   are written around the fields, not through them.
//! * **Never blocking.** Records go through a bounded queue ([`LOG_QUEUE_LINES`] lines,
//!   [`LOG_QUEUE_BYTES`] bytes) to one thread that writes them to standard output. When the
//!   output does not keep up (a full pipe, a stalled terminal) lines are dropped and counted,
//!   and one line says how many once there is room again. Write errors (a closed pipe) lose
//!   the lines and nothing else: no retry, no panic, no message on standard error.
//! * **Refusals throttled.** [`Refusals`] logs each kind of refusal at most once per
//!   [`REFUSAL_LOG_INTERVAL`], with the count since the last such line, so that refused
//!   clients cannot flood the log.

use std::fmt::{self, Write as _};
use std::io::{self, Write as _};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::{FormatFields, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::MakeWriter;

/// Most log lines waiting for the writer thread; beyond it lines are dropped and counted.
pub(crate) const LOG_QUEUE_LINES: usize = 4096;
/// Most bytes of log lines waiting to be written (one line longer than this is still taken
/// when nothing else waits); beyond it lines are dropped and counted.
pub(crate) const LOG_QUEUE_BYTES: usize = 1024 * 1024;
/// How long `WorkflowServer::serve` waits, as it returns, for the queued lines to be written.
pub(crate) const EXIT_FLUSH: Duration = Duration::from_secs(1);
/// Each kind of refusal is logged at most once per this interval.
pub(crate) const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);
/// The writer thread keeps a buffer of at most this many bytes between writes.
const WRITE_BATCH_BYTES: usize = 64 * 1024;
/// How long the writer thread lets lines gather once the first one arrives: one write and
/// one wake-up for a burst of lines rather than one each.
const GATHER: Duration = Duration::from_millis(2);

/// Set up logging to standard output: one line per record, filtered by `RUST_LOG`
/// (default `info`), without colours when the output is not a terminal (as on Heroku).
/// Calling it twice, or after another subscriber was installed, is harmless.
///
/// Lines cannot be forged: control characters in messages and fields (newlines, ESC, …)
/// are written as visible escapes such as `\n` and `\u{1b}`. Logging never blocks the
/// server: lines go through a queue of at most 4096 lines and 1 MiB to a thread of their
/// own; when standard output does not keep up, lines are dropped and a line counts them,
/// and a closed output (`./app | head -1`) loses the lines, nothing else. As
/// [`WorkflowServer::serve`](crate::WorkflowServer::serve) returns it gives the queue up
/// to 1 s to be written. Refused connections (401, 503, accept errors) are logged at most
/// once per reason every 10 s, with the count since the last such line.
pub fn init_logging() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(io::stdout().is_terminal())
        .fmt_fields(EscapedFields)
        .with_writer(LogWriter)
        .log_internal_errors(false)
        .try_init();
}

// ---------------------------------------------------------------------------------------
// Escaping

/// Whether `c` must not reach a log line as it is: C0 and C1 controls (newline, CR, ESC,
/// …), DEL, Unicode line and paragraph separators, and the bidirectional overrides that
/// can make a line read differently from what it holds.
fn is_unsafe(c: char) -> bool {
    matches!(
        c,
        '\0'..='\x1f'
            | '\x7f'..='\u{9f}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}'
    )
}

/// A `fmt::Write` adapter that writes unsafe characters as visible escapes.
struct Escaping<W>(W);

impl<W: fmt::Write> fmt::Write for Escaping<W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut rest = s;
        while let Some((i, c)) = rest.char_indices().find(|&(_, c)| is_unsafe(c)) {
            self.0.write_str(&rest[..i])?;
            match c {
                '\n' => self.0.write_str("\\n")?,
                '\r' => self.0.write_str("\\r")?,
                '\t' => self.0.write_str("\\t")?,
                c => write!(self.0, "\\u{{{:x}}}", u32::from(c))?,
            }
            rest = &rest[i + c.len_utf8()..];
        }
        self.0.write_str(rest)
    }
}

/// `text` with every unsafe character escaped (borrowed when there is none).
pub(crate) fn escape(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return text.into();
    }
    let mut out = String::with_capacity(text.len() + 16);
    let _ = Escaping(&mut out).write_str(text);
    out.into()
}

/// The field formatter of [`init_logging`]: fields as the default formatter writes them
/// (`message` without its name, then `name=value`, separated by spaces), every value
/// written through [`Escaping`].
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct EscapedFields;

impl<'w> FormatFields<'w> for EscapedFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut visitor = FieldVisitor {
            writer,
            empty: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct FieldVisitor<'w> {
    writer: Writer<'w>,
    empty: bool,
    result: fmt::Result,
}

impl FieldVisitor<'_> {
    fn field(&mut self, name: &str, value: &dyn fmt::Debug) -> fmt::Result {
        if !self.empty {
            self.writer.write_char(' ')?;
        }
        self.empty = false;
        if name != "message" {
            // Field names come from the program (they are `'static`), never from a peer.
            let name = name.strip_prefix("r#").unwrap_or(name);
            if self.writer.has_ansi_escapes() {
                write!(self.writer, "\x1b[3m{name}\x1b[0m\x1b[2m=\x1b[0m")?;
            } else {
                write!(self.writer, "{name}=")?;
            }
        }
        write!(Escaping(&mut self.writer), "{value:?}")
    }
}

impl Visit for FieldVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.record_debug(field, &format_args!("{value}"));
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        struct Chain<'a>(&'a (dyn std::error::Error + 'static));
        impl fmt::Display for Chain<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)?;
                let mut source = self.0.source();
                while let Some(e) = source {
                    write!(f, ": {e}")?;
                    source = e.source();
                }
                Ok(())
            }
        }
        self.record_debug(field, &format_args!("{}", Chain(value)));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `log.*` fields carry a `log` record's metadata, which the formatter writes itself.
        if self.result.is_ok() && !field.name().starts_with("log.") {
            self.result = self.field(field.name(), value);
        }
    }
}

// ---------------------------------------------------------------------------------------
// The queue and its writer thread

/// Where log lines wait for the writer thread: one buffer, bounded in lines and bytes. A
/// line is appended under a lock (no allocation of its own); the writer is woken only when
/// the buffer was empty, and lets a burst gather before it takes the whole buffer for one
/// write, so that a busy server wakes it a few hundred times a second, not once a line.
struct Queue {
    shared: Arc<Shared>,
    /// Lines in the buffer (not yet taken by the writer).
    lines: Arc<AtomicUsize>,
    /// Bytes in the buffer or being written.
    bytes: Arc<AtomicUsize>,
    /// Lines dropped since the last line that said so.
    dropped: AtomicU64,
    max_lines: usize,
    max_bytes: usize,
}

/// What the queue and its writer thread share.
struct Shared {
    state: Mutex<Pending>,
    wake: Condvar,
    /// Bytes written (or lost to a write error) so far, for `flush`.
    written: AtomicU64,
}

#[derive(Default)]
struct Pending {
    buf: Vec<u8>,
    /// Bytes queued so far.
    pushed: u64,
    /// Set when the queue is dropped: the writer writes what is left and ends.
    closed: bool,
}

impl Queue {
    /// A queue whose thread writes to `out`.
    fn start(
        out: Box<dyn io::Write + Send>,
        max_lines: usize,
        max_bytes: usize,
    ) -> io::Result<Queue> {
        let shared = Arc::new(Shared {
            state: Mutex::new(Pending::default()),
            wake: Condvar::new(),
            written: AtomicU64::new(0),
        });
        let lines = Arc::new(AtomicUsize::new(0));
        let bytes = Arc::new(AtomicUsize::new(0));
        let (sh, l, b) = (shared.clone(), lines.clone(), bytes.clone());
        std::thread::Builder::new()
            .name("relay-log-writer".into())
            .spawn(move || write_loop(&sh, out, &l, &b))?;
        Ok(Queue {
            shared,
            lines,
            bytes,
            dropped: AtomicU64::new(0),
            max_lines,
            max_bytes,
        })
    }

    /// Queue one line, or drop and count it when the queue is full. Never blocks on the
    /// output (only, briefly, on the buffer's lock).
    fn push(&self, line: &[u8]) {
        if self.dropped.load(Ordering::Relaxed) > 0 && self.has_room() {
            let n = self.dropped.swap(0, Ordering::Relaxed);
            if n > 0 && !self.enqueue(dropped_line(n).as_bytes()) {
                self.dropped.fetch_add(n, Ordering::Relaxed);
            }
        }
        if !self.enqueue(line) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn has_room(&self) -> bool {
        self.lines.load(Ordering::Relaxed) < self.max_lines
            && self.bytes.load(Ordering::Relaxed) < self.max_bytes
    }

    fn enqueue(&self, line: &[u8]) -> bool {
        let len = line.len();
        let mut pending = lock(&self.shared.state);
        let bytes = self.bytes.load(Ordering::Relaxed);
        if self.lines.load(Ordering::Relaxed) >= self.max_lines
            || (bytes > 0 && bytes + len > self.max_bytes)
        {
            return false;
        }
        let was_empty = pending.buf.is_empty();
        pending.buf.extend_from_slice(line);
        pending.pushed += len as u64;
        self.lines.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(len, Ordering::Relaxed);
        drop(pending);
        if was_empty {
            self.shared.wake.notify_one();
        }
        true
    }

    /// Wait up to `timeout` for every line queued so far to be written.
    async fn flush(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        let target = lock(&self.shared.state).pushed;
        loop {
            if self.shared.written.load(Ordering::Acquire) >= target {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        lock(&self.shared.state).closed = true;
        self.shared.wake.notify_one();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The line that says how many lines were dropped, in the formatter's layout.
fn dropped_line(n: u64) -> String {
    let mut line = String::new();
    let _ = SystemTime.format_time(&mut Writer::new(&mut line));
    let _ = writeln!(
        line,
        "  WARN relay_workflow::logging: {n} log line(s) dropped: the log output did not keep up (at most {LOG_QUEUE_LINES} lines or {LOG_QUEUE_BYTES} bytes wait to be written)"
    );
    line
}

/// The writer thread: waits for lines, lets a burst gather for [`GATHER`], then writes the
/// whole buffer at once, ignoring every write error (a closed pipe loses lines, nothing
/// more). Ends when the queue is dropped and nothing is left.
fn write_loop(
    shared: &Shared,
    mut out: Box<dyn io::Write + Send>,
    lines: &AtomicUsize,
    bytes: &AtomicUsize,
) {
    let mut batch = Vec::new();
    loop {
        let mut pending = lock(&shared.state);
        while pending.buf.is_empty() {
            if pending.closed {
                return;
            }
            pending = shared.wake.wait(pending).unwrap_or_else(|p| p.into_inner());
        }
        if !pending.closed {
            drop(pending);
            std::thread::sleep(GATHER);
            pending = lock(&shared.state);
        }
        std::mem::swap(&mut pending.buf, &mut batch);
        lines.store(0, Ordering::Relaxed);
        drop(pending);
        let _ = out.write_all(&batch);
        let _ = out.flush();
        bytes.fetch_sub(batch.len(), Ordering::Relaxed);
        shared
            .written
            .fetch_add(batch.len() as u64, Ordering::Release);
        batch.clear();
        batch.shrink_to(WRITE_BATCH_BYTES);
    }
}

/// Standard output for the writer thread: its own handle on the file descriptor, so that
/// nothing it writes waits in the standard library's buffer (which is flushed at exit).
fn stdout_handle() -> Box<dyn io::Write + Send> {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd;
        if let Ok(fd) = io::stdout().as_fd().try_clone_to_owned() {
            return Box::new(std::fs::File::from(fd));
        }
    }
    Box::new(io::stdout())
}

/// The queue of [`init_logging`] (`None` inside if its thread could not be started).
static QUEUE: OnceLock<Option<Queue>> = OnceLock::new();

/// The queue of [`init_logging`], started on first use (`None` if its thread could not
/// be started: records are then written directly, errors ignored).
fn global_queue() -> Option<&'static Queue> {
    QUEUE
        .get_or_init(|| Queue::start(stdout_handle(), LOG_QUEUE_LINES, LOG_QUEUE_BYTES).ok())
        .as_ref()
}

/// Wait up to `timeout` for the lines [`init_logging`] has queued to be written (at once
/// when it was not called).
pub(crate) async fn flush(timeout: Duration) {
    if let Some(Some(queue)) = QUEUE.get() {
        queue.flush(timeout).await;
    }
}

/// The `MakeWriter` of [`init_logging`]: each record (one `write` call with the whole
/// line) goes to the queue, which its first record starts (so that nothing is started
/// when another subscriber was installed first).
#[derive(Clone, Copy)]
struct LogWriter;

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> Self::Writer {
        *self
    }
}

impl io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match global_queue() {
            Some(queue) => queue.push(buf),
            None => {
                let _ = io::stdout().write_all(buf);
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Throttled refusal lines

/// Nanoseconds since the first call, plus one (so that 0 is never "now").
fn now_nanos() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    u64::try_from(epoch.elapsed().as_nanos())
        .unwrap_or(u64::MAX)
        .saturating_add(1)
}

/// What [`Throttle::hit_at`] says to do with one occurrence.
#[derive(Debug, PartialEq, Eq)]
enum Hit {
    /// Log a line now: this many occurrences since the last line (this one included).
    Log(u64),
    /// Counted; nothing is due until then, and nothing is yet waiting to report it: report
    /// the count after this delay.
    Arm(Duration),
    /// Counted; a line is already due to report it.
    Counted,
}

/// Lets one line through per interval and counts the occurrences in between. Lock-free:
/// one counter and the time the next line is allowed.
#[derive(Clone, Debug)]
pub(crate) struct Throttle(Arc<ThrottleState>);

#[derive(Debug)]
struct ThrottleState {
    interval: u64,
    /// Occurrences not yet reported.
    count: AtomicU64,
    /// When (in [`now_nanos`]) the next line is allowed.
    next: AtomicU64,
    /// Whether a timer will report the count.
    armed: AtomicBool,
}

impl Throttle {
    /// At most one line per `interval`.
    pub(crate) fn new(interval: Duration) -> Self {
        Throttle(Arc::new(ThrottleState {
            interval: u64::try_from(interval.as_nanos()).unwrap_or(u64::MAX),
            count: AtomicU64::new(0),
            next: AtomicU64::new(0),
            armed: AtomicBool::new(false),
        }))
    }

    /// Count one occurrence and log it with `log(count)`: now if a line is allowed, else
    /// from a timer when the interval is up (unless a later occurrence logs first). `log`
    /// gets the number of occurrences since the last line.
    pub(crate) fn note(&self, log: impl FnOnce(Repeats) + Send + 'static) {
        match self.hit_at(now_nanos()) {
            Hit::Log(n) => log(Repeats(n)),
            Hit::Counted => {}
            Hit::Arm(delay) => match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    let throttle = self.clone();
                    runtime.spawn(tracing::Instrument::in_current_span(async move {
                        tokio::time::sleep(delay).await;
                        throttle.0.armed.store(false, Ordering::Relaxed);
                        if let Some(n) = throttle.due_at(now_nanos()) {
                            log(Repeats(n));
                        }
                    }));
                }
                // No runtime: the next occurrence after the interval reports the count.
                Err(_) => self.0.armed.store(false, Ordering::Relaxed),
            },
        }
    }

    fn hit_at(&self, now: u64) -> Hit {
        let s = &self.0;
        s.count.fetch_add(1, Ordering::Relaxed);
        if let Some(n) = self.due_at(now) {
            return Hit::Log(n);
        }
        if s.armed.swap(true, Ordering::Relaxed) {
            return Hit::Counted;
        }
        let next = s.next.load(Ordering::Relaxed);
        // A little after the line is allowed, so that the timer never fires early.
        Hit::Arm(Duration::from_nanos(next.saturating_sub(now)) + Duration::from_millis(1))
    }

    /// The count to report, if a line is allowed now and something is waiting to be
    /// reported; the next line is then allowed one interval from now.
    fn due_at(&self, now: u64) -> Option<u64> {
        let s = &self.0;
        let next = s.next.load(Ordering::Relaxed);
        if now < next || s.count.load(Ordering::Relaxed) == 0 {
            return None;
        }
        s.next
            .compare_exchange(
                next,
                now.saturating_add(s.interval),
                Ordering::Relaxed,
                Ordering::Relaxed,
            )
            .ok()?;
        Some(s.count.swap(0, Ordering::Relaxed)).filter(|&n| n > 0)
    }
}

/// How many occurrences a throttled line stands for. Displays as nothing for one, else as
/// a note to end the line with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Repeats(pub(crate) u64);

impl fmt::Display for Repeats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 > 1 {
            write!(
                f,
                " [{} like this since the last such line; logged at most every {} s]",
                self.0,
                REFUSAL_LOG_INTERVAL.as_secs()
            )?;
        }
        Ok(())
    }
}

/// Why a connection or upgrade was refused. To add one: a variant here and its index in
/// [`Refusal::index`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// 401: the upgrade carried no secret.
    NoSecret,
    /// 401: the upgrade carried a wrong secret.
    WrongSecret,
    /// 503: `MAX_SESSIONS` sessions are running.
    AtCapacity,
    /// 503: the server is shutting down.
    ShuttingDown,
    /// `accept` failed (out of file descriptors and the like).
    AcceptError,
    /// `MAX_CONNECTING` connections had not started a session: the oldest was closed.
    Evicted,
}

impl Refusal {
    const COUNT: usize = 6;

    fn index(self) -> usize {
        match self {
            Refusal::NoSecret => 0,
            Refusal::WrongSecret => 1,
            Refusal::AtCapacity => 2,
            Refusal::ShuttingDown => 3,
            Refusal::AcceptError => 4,
            Refusal::Evicted => 5,
        }
    }
}

/// One [`Throttle`] per [`Refusal`], each at [`REFUSAL_LOG_INTERVAL`].
#[derive(Debug)]
pub(crate) struct Refusals([Throttle; Refusal::COUNT]);

impl Default for Refusals {
    fn default() -> Self {
        Refusals(std::array::from_fn(|_| Throttle::new(REFUSAL_LOG_INTERVAL)))
    }
}

impl Refusals {
    /// Count one refusal; `log` writes its line, now or when the interval is up.
    pub(crate) fn note(&self, why: Refusal, log: impl FnOnce(Repeats) + Send + 'static) {
        self.0[why.index()].note(log);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    const FORGED: &str = "\n2026-12-04T00:00:00Z INFO forged";
    const RED: &str = "\x1b[31m";

    /// Collects everything written, shared with the test.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// What one warning with hostile message, fields and span fields looks like.
    fn format_one(ansi: bool) -> String {
        let sink = Sink::default();
        let out = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter("trace")
            .with_ansi(ansi)
            .fmt_fields(EscapedFields)
            .with_writer(move || out.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let peer = format!("{{bad{FORGED}{RED}red\r\u{2028}\u{85}\u{202e}\x7f");
            let span = tracing::info_span!("session", path = %peer);
            let _entered = span.enter();
            let error = io::Error::other(peer.clone());
            tracing::warn!(
                frame = %peer,
                debug = ?peer,
                text = peer.as_str(),
                error = &error as &(dyn std::error::Error + 'static),
                "dropped {peer}"
            );
        });
        let bytes = sink.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn a_hostile_record_is_one_line_without_escape_bytes() {
        let line = format_one(false);
        assert_eq!(line.matches('\n').count(), 1, "{line:?}");
        assert!(line.ends_with('\n'));
        assert!(!line.contains('\x1b') && !line.contains('\r'), "{line:?}");
        for c in ['\u{2028}', '\u{85}', '\u{202e}', '\x7f'] {
            assert!(!line.contains(c), "{c:?} in {line:?}");
        }
        // Visible, in the message, the fields and the span's fields.
        assert!(line.contains("WARN"), "{line}");
        assert!(
            line.contains(r"dropped {bad\n2026-12-04T00:00:00Z INFO forged\u{1b}[31mred\r"),
            "{line}"
        );
        assert!(line.contains(r"frame={bad\n2026"), "{line}");
        assert!(line.contains(r#"debug="{bad\n2026"#), "{line}");
        assert!(line.contains(r#"text="{bad\n2026"#), "{line}");
        assert!(line.contains(r"error={bad\n2026"), "{line}");
        assert!(line.contains(r"session{path={bad\n2026"), "{line}");
        assert!(line.contains(r"\u{2028}\u{85}\u{202e}\u{7f}"), "{line}");
    }

    #[test]
    fn on_a_terminal_only_the_formatter_colours() {
        let line = format_one(true);
        assert_eq!(line.matches('\n').count(), 1, "{line:?}");
        // The formatter's own colours are there, the peer's are not.
        assert!(line.contains("\x1b[33m"), "no colour for WARN: {line:?}");
        assert!(!line.contains(RED), "{line:?}");
        assert!(line.contains(r"\u{1b}[31m"), "{line:?}");
    }

    #[test]
    fn escape_borrows_clean_text_and_escapes_the_rest() {
        assert!(matches!(
            escape("plain text, é ✓"),
            std::borrow::Cow::Borrowed(_)
        ));
        assert_eq!(escape("a\nb\tc\x1b\0"), r"a\nb\tc\u{1b}\u{0}");
    }

    /// An output that blocks until released, then fails or succeeds.
    struct Gate {
        open: Arc<(Mutex<bool>, std::sync::Condvar)>,
        out: Sink,
        fail: bool,
    }

    impl io::Write for Gate {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let (lock, cvar) = &*self.open;
            let mut open = lock.lock().unwrap();
            while !*open {
                open = cvar.wait(open).unwrap();
            }
            if self.fail {
                return Err(io::Error::from(io::ErrorKind::BrokenPipe));
            }
            self.out.write(buf)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn gate(fail: bool) -> (Gate, Arc<(Mutex<bool>, std::sync::Condvar)>, Sink) {
        let open = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let out = Sink::default();
        let g = Gate {
            open: open.clone(),
            out: out.clone(),
            fail,
        };
        (g, open, out)
    }

    fn release(open: &(Mutex<bool>, std::sync::Condvar)) {
        *open.0.lock().unwrap() = true;
        open.1.notify_all();
    }

    #[tokio::test]
    async fn a_stalled_output_drops_and_counts_then_says_so() {
        let (out, open, written) = gate(false);
        let queue = Queue::start(Box::new(out), 8, 1 << 20).unwrap();
        // The writer takes the first line and blocks on it; 8 more fill the queue.
        queue.push(b"line 0\n");
        for _ in 0..500 {
            if queue.lines.load(Ordering::Relaxed) == 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        for i in 1..100 {
            queue.push(format!("line {i}\n").as_bytes());
        }
        assert_eq!(queue.lines.load(Ordering::Relaxed), 8);
        let dropped = queue.dropped.load(Ordering::Relaxed);
        assert_eq!(dropped, 91);
        release(&open);
        assert!(queue.flush(Duration::from_secs(5)).await);
        queue.push(b"after\n");
        assert!(queue.flush(Duration::from_secs(5)).await);
        let text = String::from_utf8(written.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "line 0");
        let notice = lines
            .iter()
            .position(|l| l.contains(&format!("{dropped} log line(s) dropped")))
            .unwrap_or_else(|| panic!("no notice: {text}"));
        assert_eq!(lines[notice + 1], "after", "{text}");
        assert!(lines[notice].contains("  WARN relay_workflow::logging: "));
        assert_eq!(queue.dropped.load(Ordering::Relaxed), 0);
        assert_eq!(queue.bytes.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn the_byte_bound_holds_too() {
        let (out, open, written) = gate(false);
        let queue = Queue::start(Box::new(out), 1000, 300).unwrap();
        let line = [b'x'; 100];
        for _ in 0..50 {
            queue.push(&line);
        }
        // Bytes count until written: three lines fit, the fourth would pass 300 bytes.
        assert_eq!(queue.bytes.load(Ordering::Relaxed), 300);
        assert_eq!(queue.dropped.load(Ordering::Relaxed), 47);
        release(&open);
        assert!(queue.flush(Duration::from_secs(5)).await);
        queue.push(b"ok\n");
        assert!(queue.flush(Duration::from_secs(5)).await);
        // A line longer than the bound is taken when nothing else waits.
        queue.push(&[b'y'; 500]);
        assert!(queue.flush(Duration::from_secs(5)).await);
        let text = String::from_utf8(written.0.lock().unwrap().clone()).unwrap();
        assert!(text.contains("47 log line(s) dropped"), "{text}");
        assert!(text.contains("ok\n"), "{text}");
        assert!(text.ends_with(&"y".repeat(500)), "{text}");
        assert_eq!(queue.dropped.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn write_errors_lose_lines_and_nothing_else() {
        let (out, open, written) = gate(true);
        release(&open);
        let queue = Queue::start(Box::new(out), 8, 1 << 20).unwrap();
        for i in 0..1000 {
            queue.push(format!("line {i}\n").as_bytes());
            if i % 100 == 0 {
                assert!(queue.flush(Duration::from_secs(5)).await);
            }
        }
        assert!(queue.flush(Duration::from_secs(5)).await);
        assert!(written.0.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_flush_on_a_stalled_output_gives_up_in_time() {
        let (out, open, _written) = gate(false);
        let queue = Queue::start(Box::new(out), 8, 1 << 20).unwrap();
        for _ in 0..100 {
            queue.push(b"x\n");
        }
        let began = Instant::now();
        assert!(!queue.flush(Duration::from_millis(200)).await);
        assert!(began.elapsed() < Duration::from_secs(5));
        release(&open);
    }

    #[test]
    fn a_throttle_logs_the_first_then_one_line_per_interval_with_the_count() {
        let t = Throttle::new(Duration::from_secs(10));
        let s = 1_000_000_000;
        assert_eq!(t.hit_at(1), Hit::Log(1));
        assert_eq!(
            t.hit_at(2 * s),
            Hit::Arm(Duration::from_nanos(8 * s + 1) + Duration::from_millis(1))
        );
        for i in 0..98 {
            assert_eq!(t.hit_at(3 * s + i), Hit::Counted);
        }
        // The timer (armed above) reports the 99 at the end of the interval.
        assert_eq!(t.due_at(5 * s), None, "early");
        t.0.armed.store(false, Ordering::Relaxed);
        assert_eq!(t.due_at(10 * s + 1), Some(99));
        // Nothing more to report; the next occurrence waits for the next interval.
        assert_eq!(t.due_at(30 * s), None);
        assert!(matches!(t.hit_at(12 * s), Hit::Arm(_)));
        assert_eq!(t.hit_at(20 * s + 1), Hit::Log(2));
        // After a quiet interval, the next occurrence is logged at once.
        assert_eq!(t.hit_at(40 * s), Hit::Log(1));
    }

    #[test]
    fn a_throttle_loses_no_count_across_threads() {
        let t = Throttle::new(Duration::from_millis(1));
        let reported = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (t, reported) = (t.clone(), reported.clone());
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        if let Hit::Log(n) = t.hit_at(now_nanos()) {
                            reported.fetch_add(n, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        std::thread::sleep(Duration::from_millis(5));
        let rest = t.due_at(now_nanos()).unwrap_or(0);
        assert_eq!(reported.load(Ordering::Relaxed) + rest, 40_000);
    }

    #[tokio::test]
    async fn a_burst_is_reported_by_the_timer_once_the_interval_is_up() {
        let t = Throttle::new(Duration::from_millis(200));
        let lines = Arc::new(Mutex::new(Vec::new()));
        for _ in 0..500 {
            let lines = lines.clone();
            t.note(move |n| lines.lock().unwrap().push(n.0));
        }
        assert_eq!(*lines.lock().unwrap(), [1]);
        for _ in 0..100 {
            if lines.lock().unwrap().len() == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(*lines.lock().unwrap(), [1, 499]);
        assert_eq!(Repeats(1).to_string(), "");
        assert!(Repeats(499)
            .to_string()
            .contains("[499 like this since the last such line"));
    }
}
