//! Admission of new connections: under load, the sessions already running come first.
//!
//! The accept loop takes the next connection from the kernel's listen backlog only when
//! fewer than [`STARTING_PER_WORKER`] per worker of the connections it admitted are still
//! *starting*: accepted, but their first event not yet received, and admitted less than
//! [`STARTING_WINDOW`] ago. Then it lets the work already queued go first: it yields, and
//! while a yield takes longer than [`BUSY_LAG`] to come back or tasks wait in the runtime's
//! global queue (they overflowed a worker's local queue), it yields again, at most
//! [`BUSY_YIELDS`] times. It counts rounds, never time: a runtime kept busy by a few long
//! polls (peers sending large events, say) costs each accept a few rounds, not a fixed
//! sleep, so new sessions keep starting at the pace they start.
//!
//! The second condition matters because a new session costs nothing until Relay answers
//! its `101` with the start event, one round trip later: a runtime that looks quiet for a
//! moment would otherwise let in hundreds of connections whose work then arrives all at
//! once, and every conversation in progress would wait behind it. The window bounds what
//! a connection that never sends its first event can hold up.
//!
//! A connection is never held back more than [`STARTING_WINDOW`] by the first condition (nor
//! [`MAX_ADMISSION_WAIT`] in all); an idle or lightly loaded server accepts at once. The
//! Heroku router allows 30 s for the `101`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Scheduling delay above which the runtime counts as busy.
const BUSY_LAG: Duration = Duration::from_micros(500);
/// Rounds of queued work the accept loop lets run before the next accept, at most, while
/// the runtime is busy.
const BUSY_YIELDS: usize = 8;
/// The longest a new connection waits in the backlog for a place among those starting.
const MAX_ADMISSION_WAIT: Duration = Duration::from_millis(250);
/// Connections admitted and still starting, per runtime worker, before the next waits.
const STARTING_PER_WORKER: usize = 16;
/// How long an admitted connection counts as starting at most.
const STARTING_WINDOW: Duration = Duration::from_millis(10);

/// The admission state the accept loop keeps. Its places are shared with the connections
/// through [`Starting`] tokens.
pub(crate) struct Admission {
    places: Arc<Places>,
    /// When the current holder of each place was admitted.
    admitted: Vec<Instant>,
    /// The generation of the latest admission (each admission has its own).
    generation: u64,
    /// How long an admitted connection counts as starting at most.
    window: Duration,
}

/// The places of connections still starting. Each place holds `generation << 1 | done`:
/// the generation of the connection admitted there, and whether it has started.
#[derive(Debug)]
struct Places {
    states: Box<[AtomicU64]>,
    started: Notify,
}

/// A connection's place among those starting, given back when the connection receives
/// its first event or ends (whichever comes first).
#[derive(Debug)]
pub(crate) struct Starting {
    places: Arc<Places>,
    index: usize,
    generation: u64,
}

impl Drop for Starting {
    fn drop(&mut self) {
        let busy = self.generation << 1;
        // A place taken over by a later connection (this one's window ran out) is left alone.
        if self.places.states[self.index]
            .compare_exchange(busy, busy | 1, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            self.places.started.notify_one();
        }
    }
}

impl Admission {
    /// Admission for a runtime with `workers` worker threads.
    pub(crate) fn new(workers: usize) -> Admission {
        Admission::with(STARTING_PER_WORKER * workers.max(1), STARTING_WINDOW)
    }

    fn with(n: usize, window: Duration) -> Admission {
        let now = Instant::now();
        Admission {
            places: Arc::new(Places {
                // Generation 0, started: every place free.
                states: (0..n).map(|_| AtomicU64::new(1)).collect(),
                started: Notify::new(),
            }),
            admitted: vec![now; n],
            generation: 0,
            window,
        }
    }

    /// Wait (bounded by [`MAX_ADMISSION_WAIT`]) until the next connection may be accepted,
    /// and take its place among those starting.
    pub(crate) async fn admit(&mut self) -> Starting {
        let began = Instant::now();
        let give_up = began + MAX_ADMISSION_WAIT;
        loop {
            let now = Instant::now();
            let free = self.free_place(now);
            if now >= give_up {
                // Waited long enough: take a free place, or else the oldest one.
                let index = free.unwrap_or_else(|| self.oldest());
                return self.take(index);
            }
            match free {
                Some(index) => {
                    for _ in 0..BUSY_YIELDS {
                        if quiet().await {
                            break;
                        }
                    }
                    return self.take(index);
                }
                None => {
                    // Wait for a connection to start or for the oldest one's window to end.
                    let until = (self.admitted[self.oldest()] + self.window).min(give_up);
                    let _ =
                        tokio::time::timeout_at(until.into(), self.places.started.notified()).await;
                }
            }
        }
    }

    /// Whether place `i` is free: its connection has started, or its window has ended.
    fn is_free(&self, i: usize, now: Instant) -> bool {
        self.places.states[i].load(Ordering::Acquire) & 1 == 1
            || now.saturating_duration_since(self.admitted[i]) >= self.window
    }

    fn free_place(&self, now: Instant) -> Option<usize> {
        (0..self.admitted.len()).find(|&i| self.is_free(i, now))
    }

    fn oldest(&self) -> usize {
        (0..self.admitted.len())
            .min_by_key(|&i| self.admitted[i])
            .unwrap_or(0)
    }

    fn take(&mut self, index: usize) -> Starting {
        self.generation += 1;
        self.places.states[index].store(self.generation << 1, Ordering::Release);
        self.admitted[index] = Instant::now();
        Starting {
            places: self.places.clone(),
            index,
            generation: self.generation,
        }
    }

    /// Connections admitted and still counted as starting (for tests).
    #[cfg(test)]
    fn starting(&self) -> usize {
        let now = Instant::now();
        (0..self.admitted.len())
            .filter(|&i| !self.is_free(i, now))
            .count()
    }
}

/// Let one round of queued work run; whether the runtime was quiet: the yield came back
/// within [`BUSY_LAG`] and no task waits in its global queue.
async fn quiet() -> bool {
    let asked = Instant::now();
    tokio::task::yield_now().await;
    asked.elapsed() < BUSY_LAG
        && tokio::runtime::Handle::current()
            .metrics()
            .global_queue_depth()
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Places that never time out, so that only starts free them.
    const FOREVER: Duration = Duration::from_secs(3600);

    #[test]
    fn places_scale_with_the_workers() {
        assert_eq!(Admission::new(1).admitted.len(), STARTING_PER_WORKER);
        assert_eq!(Admission::new(4).admitted.len(), 4 * STARTING_PER_WORKER);
        assert_eq!(Admission::new(0).admitted.len(), STARTING_PER_WORKER);
    }

    #[tokio::test]
    async fn an_idle_server_admits_at_once_and_places_come_back() {
        let mut a = Admission::with(STARTING_PER_WORKER, FOREVER);
        let mut held = Vec::new();
        for _ in 0..STARTING_PER_WORKER {
            let t0 = Instant::now();
            held.push(a.admit().await);
            assert!(t0.elapsed() < MAX_ADMISSION_WAIT);
        }
        assert_eq!(a.starting(), STARTING_PER_WORKER);
        // One connection starts: its place is free again, and the next admission takes it.
        let first = held.remove(0);
        let index = first.index;
        drop(first);
        assert_eq!(a.starting(), STARTING_PER_WORKER - 1);
        let next = a.admit().await;
        assert_eq!(next.index, index);
        assert_eq!(a.starting(), STARTING_PER_WORKER);
    }

    #[tokio::test]
    async fn connections_that_never_start_hold_a_place_only_for_the_window() {
        let mut a = Admission::with(STARTING_PER_WORKER, Duration::from_millis(20));
        let held: Vec<Starting> = {
            let mut v = Vec::new();
            for _ in 0..STARTING_PER_WORKER {
                v.push(a.admit().await);
            }
            v
        };
        // Every place is held by a silent connection: the next admission waits for the
        // oldest window to end, no longer (and well within the admission bound).
        let t0 = Instant::now();
        let next = a.admit().await;
        let waited = t0.elapsed();
        assert!(waited < MAX_ADMISSION_WAIT, "waited {waited:?}");
        // The place was taken over: the old token's late start leaves the new holder alone.
        let old = held.into_iter().find(|s| s.index == next.index).unwrap();
        drop(old);
        assert_eq!(
            a.places.states[next.index].load(Ordering::Acquire),
            next.generation << 1
        );
    }

    #[tokio::test]
    async fn a_start_wakes_a_waiting_admission() {
        let mut a = Admission::with(STARTING_PER_WORKER, FOREVER);
        let mut held = Vec::new();
        for _ in 0..STARTING_PER_WORKER {
            held.push(a.admit().await);
        }
        let one = held.pop().unwrap();
        let index = one.index;
        let release = tokio::spawn(async move {
            tokio::task::yield_now().await;
            drop(one);
        });
        let next = a.admit().await;
        release.await.unwrap();
        assert_eq!(next.index, index);
        drop(held);
    }

    #[test]
    fn a_busy_runtime_does_not_hold_admissions_back() {
        // Another task keeps the runtime busy: every poll of it blocks for a millisecond.
        // Admissions with free places take no more than a round or two of it each, however
        // long a round takes (waiting for the runtime to look quiet would take hundreds).
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let polls = Arc::new(AtomicU64::new(0));
            let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let busy = {
                let polls = polls.clone();
                let stop = stop.clone();
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(1));
                        polls.fetch_add(1, Ordering::Relaxed);
                        tokio::task::yield_now().await;
                    }
                })
            };
            tokio::task::yield_now().await;
            let mut a = Admission::with(STARTING_PER_WORKER, FOREVER);
            let before = polls.load(Ordering::Relaxed);
            for _ in 0..40 {
                drop(a.admit().await);
            }
            let rounds = polls.load(Ordering::Relaxed) - before;
            stop.store(true, Ordering::Relaxed);
            busy.await.unwrap();
            assert!(
                rounds <= 40 * (BUSY_YIELDS as u64 + 2),
                "40 admissions waited for {rounds} rounds of a busy task"
            );
        });
    }
}
