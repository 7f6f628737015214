//! Declaring a workflow: [`Workflow`] holds the handlers that run for each event, each
//! registered under the kind of event it handles (the `on_*` methods come from the event
//! table in `protocol/events.rs`) and found by that kind for every event a session receives.
//!
//! Acting in a running session is the [`Relay`] handle's part (`relay/`); the session driver
//! (`session.rs`) asks the workflow for the handler of each event and runs it.

use crate::protocol::events::event_table;
use crate::protocol::*;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

// Their home is `relay/`; named here too, where they were first, so that
// `relay_workflow::workflow::Relay` and friends keep working.
#[doc(no_inline)]
pub use crate::relay::{Action, AndWait, ListenAction, Playback, Relay, Utterance};

/// The error type handlers may return: any error, boxed. `?` converts SDK errors and your own.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What a handler returns. Returning an error logs it; the session goes on.
pub type HandlerResult = std::result::Result<(), BoxError>;

/// A handler's run, started and not yet polled.
pub(crate) type HandlerFuture = Pin<Box<dyn Future<Output = HandlerResult> + Send>>;

/// A handler, erased: `None` when the event is not the one it takes (never, as registered).
type HandlerFn = Arc<dyn Fn(Relay, Event) -> Option<HandlerFuture> + Send + Sync>;

/// A registered handler and the name it was registered under (`on_button`), for log lines.
#[derive(Clone)]
pub(crate) struct Registered {
    run: HandlerFn,
    name: &'static str,
}

impl Registered {
    /// The method it was registered with, e.g. `"on_interaction_started"`.
    pub(crate) fn name(&self) -> &'static str {
        self.name
    }

    /// Start the handler on `event` (not yet polled).
    pub(crate) fn start(&self, relay: Relay, event: Event) -> Option<HandlerFuture> {
        (self.run)(relay, event)
    }
}

/// What a handler is registered for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HandlerKey {
    /// Every event of a kind (without a more specific handler).
    Kind(EventKind),
    /// Interaction lifecycle events of one type.
    Interaction(Stage),
    /// Every event without a handler of its own (`on_event`).
    Any,
}

/// The number of handler slots: one per event kind, one per lifecycle stage, one for any.
const SLOTS: usize = EventKind::COUNT + Stage::COUNT + 1;

impl HandlerKey {
    /// The key's place in [`Workflow`]'s table.
    const fn slot(self) -> usize {
        match self {
            HandlerKey::Kind(kind) => kind.index(),
            HandlerKey::Interaction(stage) => EventKind::COUNT + stage as usize,
            HandlerKey::Any => EventKind::COUNT + Stage::COUNT,
        }
    }
}

/// A workflow: the handlers that run when Relay sends events.
///
/// A `Workflow` is a declaration; the server runs a fresh session of it for every
/// connection Relay opens. Each handler receives a [`Relay`] handle for that session and
/// the typed event. Handlers of one session run one at a time, in arrival order (as in
/// relay-js), while responses and awaited events keep flowing.
///
/// ```
/// use relay_workflow::prelude::*;
///
/// let hello = Workflow::new()
///     .on_start(|relay, start: StartEvent| async move {
///         let device = start.trigger.source_uri().ok_or(Error::MissingSourceUri)?.clone();
///         relay.start_interaction(&device, "hello").await?;
///         Ok(())
///     })
///     .on_interaction_started(|relay, event: InteractionLifecycleEvent| async move {
///         relay.say_and_wait(&event.source_uri, "Hello!").await?;
///         relay.end_interaction(&event.source_uri).await?;
///         Ok(())
///     })
///     .on_interaction_ended(|relay, _| async move {
///         relay.terminate().await?;
///         Ok(())
///     });
/// ```
///
/// # Never block in a handler
///
/// Handlers run on the async runtime's worker threads, one per CPU core, shared by every
/// session of the server. A handler that blocks its thread (`std::thread::sleep`, a CPU-heavy
/// loop, `std::fs`, a synchronous HTTP client or database driver) takes a worker away from
/// every other session for as long as it blocks: on a 2-core machine, two handlers that call
/// `std::thread::sleep` stall every session, pings included. Wait with `.await`
/// (`tokio::time::sleep`, async clients), and move blocking work to Tokio's blocking pool
/// with [`tokio::task::spawn_blocking`], awaiting its result:
///
/// ```
/// use relay_workflow::prelude::*;
///
/// /// Blocking work: CPU-heavy, or blocking I/O.
/// fn checksum(data: &[u8]) -> u64 {
///     data.iter().fold(0u64, |sum, b| sum.rotate_left(5) ^ u64::from(*b))
/// }
///
/// let workflow = Workflow::new().on_start(|relay, start: StartEvent| async move {
///     let device = start.trigger.source_uri().ok_or(Error::MissingSourceUri)?.clone();
///     let data = vec![7u8; 1 << 20];
///     // Runs on the blocking pool; this handler waits without holding a worker.
///     let sum = tokio::task::spawn_blocking(move || checksum(&data)).await?;
///     relay.start_interaction(&device, format!("checksum {sum:x}")).await?;
///     Ok(())
/// });
/// # drop(workflow);
/// ```
#[derive(Clone)]
pub struct Workflow {
    /// One slot per [`HandlerKey`], shared by every session of the workflow: a clone costs
    /// one reference count, finding a handler an index.
    handlers: Arc<[Option<Registered>; SLOTS]>,
}

impl Default for Workflow {
    fn default() -> Self {
        Workflow {
            handlers: Arc::new(std::array::from_fn(|_| None)),
        }
    }
}

impl fmt::Debug for Workflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = self
            .handlers
            .iter()
            .flatten()
            .map(Registered::name)
            .collect();
        f.debug_struct("Workflow")
            .field("handlers", &names)
            .finish()
    }
}

/// The `on_*` method of every event in the event table that has one.
macro_rules! on_events {
    ($(
        $(#[$doc:meta])*
        $variant:ident($payload:ty) = $wire:literal $(| $alias:literal)* => $name:literal
            $( $(#[$handler_doc:meta])* fn $handler:ident )?;
    )*) => {
        impl Workflow {
            $($(
                $(#[$handler_doc])*
                pub fn $handler<F, Fut>(self, handler: F) -> Self
                where
                    F: Fn(Relay, $payload) -> Fut + Send + Sync + 'static,
                    Fut: Future<Output = HandlerResult> + Send + 'static,
                {
                    self.register(
                        HandlerKey::Kind(EventKind::$variant),
                        stringify!($handler),
                        |event| match event {
                            Event::$variant(e) => Some(e),
                            _ => None,
                        },
                        handler,
                    )
                }
            )?)*
        }
    };
}

event_table!(on_events);

/// The interaction lifecycle types with a handler of their own: the [`Stage`] enum and
/// the `on_interaction_*` methods.
macro_rules! on_interaction {
    ($( $(#[$doc:meta])* $method:ident => $stage:ident; )*) => {
        /// An interaction lifecycle type with a handler of its own.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        enum Stage {
            $( $stage, )*
        }

        impl Stage {
            const COUNT: usize = [$( Stage::$stage ),*].len();

            fn of(kind: &LifecycleType) -> Option<Stage> {
                match kind {
                    $( LifecycleType::$stage => Some(Stage::$stage), )*
                    _ => None,
                }
            }
        }

        impl Workflow {
            $(
                $(#[$doc])*
                pub fn $method<F, Fut>(self, handler: F) -> Self
                where
                    F: Fn(Relay, InteractionLifecycleEvent) -> Fut + Send + Sync + 'static,
                    Fut: Future<Output = HandlerResult> + Send + 'static,
                {
                    self.register(
                        HandlerKey::Interaction(Stage::$stage),
                        stringify!($method),
                        |event| match event {
                            Event::InteractionLifecycle(e) => Some(e),
                            _ => None,
                        },
                        handler,
                    )
                }
            )*
        }
    };
}

on_interaction! {
    /// The interaction exists: interaction actions may now target `event.source_uri`.
    on_interaction_started => Started;
    /// The interaction became the device's active channel (also right after start).
    on_interaction_resumed => Resumed;
    /// The user navigated away from the interaction.
    on_interaction_suspended => Suspended;
    /// The interaction ended (after `end_interaction`).
    on_interaction_ended => Ended;
    /// The interaction failed; `event.reason` says why.
    on_interaction_failed => Failed;
}

impl Workflow {
    /// A workflow with no handlers yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn register<E, F, Fut>(
        mut self,
        key: HandlerKey,
        name: &'static str,
        extract: fn(Event) -> Option<E>,
        handler: F,
    ) -> Self
    where
        E: Send + 'static,
        F: Fn(Relay, E) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let run: HandlerFn = Arc::new(move |relay, event| {
            let event = extract(event)?;
            Some(Box::pin(handler(relay, event)) as HandlerFuture)
        });
        Arc::make_mut(&mut self.handlers)[key.slot()] = Some(Registered { run, name });
        self
    }

    /// Handle any event that has no handler of its own (including unknown event types).
    pub fn on_event<F, Fut>(self, handler: F) -> Self
    where
        F: Fn(Relay, Event) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult> + Send + 'static,
    {
        self.register(HandlerKey::Any, "on_event", Some, handler)
    }

    /// An event type this SDK does not know; the raw JSON is kept.
    pub fn on_unknown<F, Fut>(self, handler: F) -> Self
    where
        F: Fn(Relay, UnknownEvent) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult> + Send + 'static,
    {
        self.register(
            HandlerKey::Kind(EventKind::Unknown),
            "on_unknown",
            |event| match event {
                Event::Unknown(e) => Some(e),
                _ => None,
            },
            handler,
        )
    }

    /// The handler registered for `event`, if any: the one for its interaction lifecycle
    /// type, else the one for its kind, else `on_event`'s.
    pub(crate) fn handler(&self, event: &Event) -> Option<&Registered> {
        let slots = &*self.handlers;
        if let Event::InteractionLifecycle(e) = event {
            if let Some(stage) = Stage::of(&e.kind) {
                if let Some(handler) = &slots[HandlerKey::Interaction(stage).slot()] {
                    return Some(handler);
                }
            }
        }
        slots[HandlerKey::Kind(event.kind()).slot()]
            .as_ref()
            .or(slots[HandlerKey::Any.slot()].as_ref())
    }

    /// Whether the workflow has a handler for `event`.
    pub(crate) fn handles(&self, event: &Event) -> bool {
        self.handler(event).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay::tests::Recorder;
    use futures_util::FutureExt;
    use serde_json::{json, Map, Value};
    use std::sync::Mutex;

    /// What the handlers saw: the method that ran and the payload it got (as `Debug`).
    type Seen = Arc<Mutex<Vec<(&'static str, String)>>>;

    /// Registers a recording handler with every `on_*` method of the event table.
    macro_rules! register_table {
        ($(
            $(#[$doc:meta])*
            $variant:ident($payload:ty) = $wire:literal $(| $alias:literal)* => $name:literal
                $( $(#[$handler_doc:meta])* fn $handler:ident )?;
        )*) => {
            fn register_table(mut workflow: Workflow, seen: &Seen) -> Workflow {
                $($(
                    let s = seen.clone();
                    workflow = workflow.$handler(move |_relay, e| {
                        s.lock().unwrap().push((stringify!($handler), format!("{e:?}")));
                        async { Ok(()) }
                    });
                )?)*
                workflow
            }
        };
    }
    event_table!(register_table);

    /// A recording handler for every lifecycle type, unknown events and any event.
    fn register_rest(workflow: Workflow, seen: &Seen) -> Workflow {
        fn record<E: fmt::Debug>(
            seen: &Seen,
            name: &'static str,
        ) -> impl Fn(Relay, E) -> futures_util::future::Ready<HandlerResult> {
            let seen = seen.clone();
            move |_relay, e| {
                seen.lock().unwrap().push((name, format!("{e:?}")));
                futures_util::future::ready(Ok(()))
            }
        }
        workflow
            .on_interaction_started(record(seen, "on_interaction_started"))
            .on_interaction_resumed(record(seen, "on_interaction_resumed"))
            .on_interaction_suspended(record(seen, "on_interaction_suspended"))
            .on_interaction_ended(record(seen, "on_interaction_ended"))
            .on_interaction_failed(record(seen, "on_interaction_failed"))
            .on_unknown(record(seen, "on_unknown"))
            .on_event(record(seen, "on_event"))
    }

    fn relay() -> Relay {
        Relay::new(Arc::new(Recorder::default()))
    }

    /// Run the handler `workflow` has for `event`; which handler it was, and what it saw.
    fn dispatch(workflow: &Workflow, seen: &Seen, event: Event) -> Option<(&'static str, String)> {
        let handler = workflow.handler(&event)?;
        assert!(workflow.handles(&event));
        let name = handler.name();
        let future = handler
            .start(relay(), event)
            .expect("the handler takes the event");
        future
            .now_or_never()
            .expect("the handler finished")
            .expect("the handler succeeded");
        let mut seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1, "exactly one handler ran: {seen:?}");
        let (ran, payload) = seen.remove(0);
        assert_eq!(
            ran, name,
            "the handler is logged by the name it was registered with"
        );
        Some((ran, payload))
    }

    /// An event of `kind` with default fields.
    fn event_of(kind: EventKind) -> Event {
        let event_type = kind.event_type().unwrap_or("wf_api_battery_event");
        Event::decode(event_type, Map::new()).unwrap()
    }

    fn lifecycle(kind: &str) -> Event {
        let object = json!({"type": kind, "source_uri": "urn:relay-resource:name:interaction:x?device=urn:relay-resource:name:device:Bob"});
        let Value::Object(object) = object else {
            unreachable!()
        };
        Event::decode("wf_api_interaction_lifecycle_event", object).unwrap()
    }

    #[test]
    fn a_handler_registered_for_a_kind_gets_exactly_that_event() {
        let seen = Seen::default();
        let workflow = register_rest(register_table(Workflow::new(), &seen), &seen);
        for &kind in EventKind::ALL {
            let event = event_of(kind);
            assert_eq!(event.kind(), kind);
            let debug = format!("{event:?}");
            let (ran, payload) = dispatch(&workflow, &seen, event).unwrap();
            if kind == EventKind::Progress {
                // No handler of its own (progress events never reach handlers): `on_event`.
                assert_eq!(ran, "on_event");
                assert_eq!(payload, debug);
                continue;
            }
            assert_eq!(ran, format!("on_{}", kind.name()), "{kind:?}");
            assert_eq!(debug, format!("{kind:?}({payload})"), "{kind:?}");
        }
    }

    #[test]
    fn lifecycle_types_go_to_their_own_handler_first() {
        let seen = Seen::default();
        let all = register_rest(register_table(Workflow::new(), &seen), &seen);
        for stage in ["started", "resumed", "suspended", "ended", "failed"] {
            let (ran, payload) = dispatch(&all, &seen, lifecycle(stage)).unwrap();
            assert_eq!(ran, format!("on_interaction_{stage}"));
            let kind = format!("kind: {}", capitalize(stage));
            assert!(payload.contains(&kind), "{payload}");
        }
        // A type without a handler of its own goes to the lifecycle handler.
        let (ran, _) = dispatch(&all, &seen, lifecycle("paused")).unwrap();
        assert_eq!(ran, "on_interaction_lifecycle");

        // Without the specific handlers, every type goes to the lifecycle handler.
        let general = register_table(Workflow::new(), &seen);
        for stage in ["started", "resumed", "suspended", "ended", "failed", ""] {
            let (ran, _) = dispatch(&general, &seen, lifecycle(stage)).unwrap();
            assert_eq!(ran, "on_interaction_lifecycle");
        }

        // A specific handler alone takes its type only.
        let started = Workflow::new().on_interaction_started(|_, _| async { Ok(()) });
        assert!(started.handles(&lifecycle("started")));
        assert!(!started.handles(&lifecycle("ended")));
        assert!(!started.handles(&event_of(EventKind::Start)));
    }

    fn capitalize(s: &str) -> String {
        let mut c = s.chars();
        c.next()
            .map(|f| f.to_uppercase().chain(c).collect())
            .unwrap_or_default()
    }

    #[test]
    fn on_event_takes_what_has_no_handler_of_its_own() {
        let seen = Seen::default();
        let s = seen.clone();
        let workflow =
            Workflow::new()
                .on_button(|_, _| async { Ok(()) })
                .on_event(move |_relay, e: Event| {
                    s.lock().unwrap().push(("on_event", e.name().to_owned()));
                    async { Ok(()) }
                });
        for &kind in EventKind::ALL {
            let event = event_of(kind);
            let name = event.name().to_owned();
            let handler = workflow.handler(&event).unwrap();
            if kind == EventKind::Button {
                assert_eq!(handler.name(), "on_button");
                continue;
            }
            assert_eq!(handler.name(), "on_event");
            let (_, seen_name) = dispatch(&workflow, &seen, event).unwrap();
            assert_eq!(seen_name, name);
        }
    }

    #[test]
    fn an_empty_workflow_handles_nothing_and_a_later_registration_wins() {
        let empty = Workflow::new();
        for &kind in EventKind::ALL {
            assert!(!empty.handles(&event_of(kind)));
        }
        assert!(!empty.handles(&lifecycle("started")));
        assert_eq!(format!("{empty:?}"), "Workflow { handlers: [] }");

        let seen = Seen::default();
        let (first, second) = (seen.clone(), seen.clone());
        let workflow = Workflow::new()
            .on_stop(move |_, _| {
                first.lock().unwrap().push(("on_stop", "first".into()));
                async { Ok(()) }
            })
            .on_stop(move |_, _| {
                second.lock().unwrap().push(("on_stop", "second".into()));
                async { Ok(()) }
            })
            .on_start(|_, _| async { Ok(()) });
        assert_eq!(
            dispatch(&workflow, &seen, event_of(EventKind::Stop)),
            Some(("on_stop", "second".into()))
        );
        assert_eq!(
            format!("{workflow:?}"),
            r#"Workflow { handlers: ["on_start", "on_stop"] }"#
        );
        // A clone shares the table; registering on it leaves the original as it was.
        let more = workflow.clone().on_button(|_, _| async { Ok(()) });
        assert!(more.handles(&event_of(EventKind::Button)));
        assert!(!workflow.handles(&event_of(EventKind::Button)));
    }
}
