//! End-to-end tests of the simulated Relay server (`relay_workflow::testing`) against a
//! tiny fake workflow server written directly on tokio-tungstenite (module `fixture` at the
//! bottom), so they exercise the simulator alone, independent of the SDK's own server.
//!
//! Run with `cargo test --features testing --test simulator_fixture`.
#![cfg(feature = "testing")]

use fixture::Fixture;
use relay_workflow::testing::{
    device_urn, interaction_urn, AutoResponder, Reply, SimError, SimFrame, Simulator, Trigger,
};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SHORT: Duration = Duration::from_millis(300);

fn hello_urn(device: &str) -> String {
    interaction_urn("hello", &device_urn(device))
}

#[tokio::test]
async fn run_plays_the_hello_flow() {
    let mut fx = Fixture::start().await;
    let seen = Arc::new(Mutex::new(Vec::<SimFrame>::new()));
    let log = seen.clone();
    let sim = Simulator::connect(&fx.url("/hello")).await.unwrap();
    let transcript = sim
        .run(
            AutoResponder::default()
                .var("greeting", "Hi")
                .say_on_listen(["Alice"])
                .observer(move |f| log.lock().unwrap().push(f.clone())),
        )
        .await
        .unwrap();

    assert_eq!(
        transcript.actions(),
        [
            "start_interaction",
            "say",
            "listen",
            "get_var",
            "say",
            "end_interaction",
            "terminate"
        ]
    );
    assert_eq!(
        transcript.said(),
        ["What is your name?", "Hi Alice! You are using Bob."]
    );
    assert_eq!(transcript.stop_reason.as_deref(), Some("normal"));
    assert_eq!(transcript.close, Some((1000, String::new())));
    assert_eq!(
        transcript.event_names(),
        [
            "start",
            "interaction_lifecycle",
            "interaction_lifecycle",
            "prompt",
            "prompt",
            "speech",
            "prompt",
            "prompt",
            "interaction_lifecycle",
            "stop"
        ]
    );
    let interaction = hello_urn("Bob");
    assert_eq!(
        transcript.find("start_interaction")[0].target_one(),
        Some(device_urn("Bob").as_str())
    );
    for say in transcript.find("say") {
        assert_eq!(say.target_one(), Some(interaction.as_str()));
    }
    let listen = transcript.find("listen")[0];
    let speech = &transcript.events[5];
    assert_eq!(speech["request_id"], listen.id.as_str());
    assert_eq!(speech["text"], "Alice");
    assert_eq!(speech["source_uri"], interaction.as_str());
    assert_eq!(transcript.to_json()["close"]["code"], 1000);

    let seen = seen.lock().unwrap().clone();
    assert!(matches!(&seen[0], SimFrame::Sent(v) if v["_type"] == "wf_api_start_event"));
    let received = seen
        .iter()
        .filter(|f| matches!(f, SimFrame::Received(_)))
        .count();
    assert_eq!(received, 7);
    assert_eq!(
        fx.outcome().await,
        "hello done, stop \"normal\", then client closed Some(1000)"
    );
}

#[tokio::test]
async fn run_uses_the_device_and_default_greeting() {
    let fx = Fixture::start().await;
    let sim = Simulator::connect(&fx.url("/hello")).await.unwrap();
    let transcript = sim
        .run(
            AutoResponder::default()
                .device("Front Desk")
                .say_on_listen(["Zoë"]),
        )
        .await
        .unwrap();
    assert_eq!(transcript.said()[1], "Hello Zoë! You are using Front Desk.");
    assert_eq!(
        transcript.find("end_interaction")[0].target_one(),
        Some(hello_urn("Front Desk").as_str())
    );
}

#[tokio::test]
async fn scripted_hello_flow() {
    let mut fx = Fixture::start().await;
    let frames = Arc::new(Mutex::new(0usize));
    let count = frames.clone();
    let mut sim = Simulator::connect(&fx.url("/hello"))
        .await
        .unwrap()
        .with_timeout(Duration::from_secs(3))
        .with_observer(move |_| *count.lock().unwrap() += 1);
    sim.start(Trigger::phrase("hello").device("Ann"))
        .await
        .unwrap();

    let req = sim.expect("start_interaction").await.unwrap();
    assert_eq!(req.target_one(), Some(device_urn("Ann").as_str()));
    assert_eq!(req.str("name"), Some("hello"));
    sim.ack(&req).await.unwrap();
    sim.interaction("started", "hello").await.unwrap();
    sim.interaction("resumed", &hello_urn("Ann")).await.unwrap();

    let say = sim.expect("wf_api_say_request").await.unwrap();
    assert_eq!(say.str("text"), Some("What is your name?"));
    assert_eq!(say.target_one(), Some(hello_urn("Ann").as_str()));
    sim.respond(&say, json!({ "id": say.id })).await.unwrap();
    sim.prompt(&say.id, "started", "hello").await.unwrap();
    sim.prompt(&say.id, "stopped", "hello").await.unwrap();

    let listen = sim.expect("listen").await.unwrap();
    assert_eq!(listen.payload["transcribe"], true);
    assert_eq!(listen.str("request_id"), Some(listen.id.as_str()));
    sim.ack(&listen).await.unwrap();
    sim.speech(&listen.id, "Alice", "hello").await.unwrap();

    let get_var = sim.next_request().await.unwrap();
    assert_eq!(get_var.action, "get_var");
    assert_eq!(get_var.target, Vec::<String>::new());
    sim.respond(&get_var, json!({ "value": "Howdy" }))
        .await
        .unwrap();

    let say = sim.expect("say").await.unwrap();
    assert_eq!(say.str("text"), Some("Howdy Alice! You are using Ann."));
    sim.respond(&say, json!({ "id": say.id })).await.unwrap();
    sim.prompt(&say.id, "stopped", "hello").await.unwrap();

    let end = sim.expect("end_interaction").await.unwrap();
    sim.ack(&end).await.unwrap();
    sim.interaction("ended", "hello").await.unwrap();
    sim.expect("terminate").await.unwrap();
    sim.stop("normal").await.unwrap();

    let transcript = sim.transcript().clone();
    assert_eq!(transcript.actions().len(), 7);
    assert_eq!(transcript.stop_reason.as_deref(), Some("normal"));
    assert_eq!(transcript.events.len(), 9);
    sim.close().await.unwrap();
    // 9 events + 6 responses sent, 7 requests received.
    assert_eq!(*frames.lock().unwrap(), 22);
    assert_eq!(
        fx.outcome().await,
        "hello done, stop \"normal\", then client closed Some(1000)"
    );
}

#[tokio::test]
async fn auto_ack_hides_uninteresting_requests() {
    let fx = Fixture::start().await;
    let mut sim = Simulator::connect(&fx.url("/hello"))
        .await
        .unwrap()
        .auto_ack("start_interaction");
    sim.start(Trigger::phrase("hello")).await.unwrap();
    sim.interaction("started", "hello").await.unwrap();
    let say = sim.expect("say").await.unwrap();
    assert_eq!(say.str("text"), Some("What is your name?"));
    assert_eq!(sim.transcript().actions(), ["start_interaction", "say"]);
}

#[tokio::test]
async fn run_continues_a_scripted_start() {
    let fx = Fixture::start().await;
    let mut sim = Simulator::connect(&fx.url("/hello")).await.unwrap();
    sim.start(Trigger::phrase("hello").device("Ann"))
        .await
        .unwrap();
    let req = sim.expect("start_interaction").await.unwrap();
    sim.ack(&req).await.unwrap();
    sim.interaction("started", "hello").await.unwrap();
    let transcript = sim
        .run(AutoResponder::default().device("Ann").say_on_listen(["Al"]))
        .await
        .unwrap();
    // The transcript covers the run: no second start event, only the later requests.
    assert_eq!(transcript.event_names()[0], "prompt");
    assert_eq!(
        transcript.actions(),
        [
            "say",
            "listen",
            "get_var",
            "say",
            "end_interaction",
            "terminate"
        ]
    );
    assert_eq!(transcript.said()[1], "Hello Al! You are using Ann.");
}

#[tokio::test]
async fn expect_mismatch_shows_the_frame() {
    let fx = Fixture::start().await;
    let mut sim = Simulator::connect(&fx.url("/hello")).await.unwrap();
    sim.start(Trigger::phrase("hello")).await.unwrap();
    let req = sim.expect("start_interaction").await.unwrap();
    sim.ack(&req).await.unwrap();
    sim.interaction("started", "hello").await.unwrap();
    let err = sim.expect("listen").await.unwrap_err();
    let SimError::Unexpected { expected, got } = &err else {
        panic!("wrong error: {err:?}")
    };
    assert!(expected.contains("`listen`"), "{expected}");
    let frame: Value = serde_json::from_str(got).unwrap();
    assert_eq!(frame["_type"], "wf_api_say_request");
    assert_eq!(frame["text"], "What is your name?");
    let message = err.to_string();
    assert!(
        message.starts_with(
            "expected a `listen` request (wf_api_listen_request), but the workflow sent {"
        ),
        "{message}"
    );
    assert!(message.contains("What is your name?"), "{message}");
}

#[tokio::test]
async fn silence_is_a_timeout() {
    let fx = Fixture::start().await;
    let mut sim = Simulator::connect(&fx.url("/silent"))
        .await
        .unwrap()
        .with_timeout(Duration::from_millis(200));
    sim.start(Trigger::timer()).await.unwrap();
    let err = sim.expect("say").await.unwrap_err();
    assert!(
        matches!(&err, SimError::Timeout { after, .. } if *after == Duration::from_millis(200)),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "timed out after 200ms waiting for a `say` request (wf_api_say_request) \
         (nothing received from the workflow yet)"
    );
    let err = sim.expect_close().await.unwrap_err();
    assert!(matches!(err, SimError::Timeout { .. }), "{err:?}");
}

#[tokio::test]
async fn timeout_names_the_last_frame() {
    let fx = Fixture::start().await;
    let mut sim = Simulator::connect(&fx.url("/stall"))
        .await
        .unwrap()
        .with_timeout(SHORT);
    sim.start(Trigger::phrase("hello")).await.unwrap();
    let req = sim.expect("start_interaction").await.unwrap();
    sim.ack(&req).await.unwrap();
    let err = sim.next_request().await.unwrap_err().to_string();
    assert!(err.contains("a request from the workflow"), "{err}");
    assert!(
        err.contains("the last frame from the workflow was {\"_id\""),
        "{err}"
    );
}

#[tokio::test]
async fn connection_refused_is_a_connect_error() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let url = format!("ws://{addr}/hello");
    let err = Simulator::connect(&url).await.unwrap_err();
    let SimError::Connect { url: u, source } = &err else {
        panic!("wrong error: {err:?}")
    };
    assert_eq!(u, &url);
    assert!(
        source.to_string().to_lowercase().contains("refused"),
        "{source}"
    );
    assert!(err
        .to_string()
        .starts_with(&format!("could not connect to {url}: ")));
}

#[tokio::test]
async fn custom_error_reply_reaches_the_workflow() {
    let fx = Fixture::start().await;
    let sim = Simulator::connect(&fx.url("/hello")).await.unwrap();
    let transcript = sim
        .run(
            AutoResponder::default()
                .say_on_listen(["Alice"])
                .on("get_var", |req| {
                    assert_eq!(req.str("name"), Some("greeting"));
                    Reply::Error("variables are down".into())
                }),
        )
        .await
        .unwrap();
    assert_eq!(transcript.said()[1], "get_var failed: variables are down");
    assert_eq!(transcript.stop_reason.as_deref(), Some("normal"));
}

#[tokio::test]
async fn custom_reply_overrides_and_auto_falls_back() {
    let fx = Fixture::start().await;
    let sim = Simulator::connect(&fx.url("/hello")).await.unwrap();
    let transcript = sim
        .run(
            AutoResponder::default()
                .say_on_listen(["Alice"])
                .on("get_var", |_| Reply::Respond(json!({"value": "Yo"})))
                .on("say", |_| Reply::Auto),
        )
        .await
        .unwrap();
    assert_eq!(transcript.said()[1], "Yo Alice! You are using Bob.");
}

#[tokio::test]
async fn ignored_request_runs_into_the_overall_timeout() {
    let fx = Fixture::start().await;
    let sim = Simulator::connect(&fx.url("/hello")).await.unwrap();
    let err = sim
        .run(
            AutoResponder::default()
                .on("listen", |_| Reply::Ignore)
                .overall_timeout(SHORT),
        )
        .await
        .unwrap_err();
    let SimError::Timeout { waiting_for, .. } = &err else {
        panic!("wrong error: {err:?}")
    };
    assert!(
        waiting_for.ends_with("actions so far: [start_interaction, say, listen]"),
        "{waiting_for}"
    );
}

#[tokio::test]
async fn run_stops_at_max_frames() {
    let fx = Fixture::start().await;
    let sim = Simulator::connect(&fx.url("/hello")).await.unwrap();
    let err = sim
        .run(AutoResponder::default().max_frames(2))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SimError::Protocol(m) if m.contains("more than 2 frames")),
        "{err:?}"
    );
}

#[tokio::test]
async fn events_and_answers_reach_the_workflow_verbatim() {
    let fx = Fixture::start().await;
    let mut sim = Simulator::connect(&fx.url("/echo"))
        .await
        .unwrap()
        .with_timeout(Duration::from_secs(3));
    sim.start(Trigger::nfc("04A1B2")).await.unwrap();

    // The echo workflow reports each frame it receives in a log_analytics_event request.
    async fn echoed(sim: &mut Simulator) -> (relay_workflow::testing::ReceivedRequest, Value) {
        let req = sim.expect("log_analytics_event").await.unwrap();
        let content = req.str("content").unwrap().to_owned();
        let frame = serde_json::from_str(&content).unwrap_or(Value::String(content));
        (req, frame)
    }

    sim.button("action", "double", "hello").await.unwrap();
    let (first, frame) = echoed(&mut sim).await;
    assert_eq!(
        frame,
        json!({"_type": "wf_api_button_event", "button": "action", "taps": "double",
               "source_uri": hello_urn("Bob")})
    );

    sim.progress(&first).await.unwrap();
    let (second, frame) = echoed(&mut sim).await;
    assert_eq!(
        frame,
        json!({"_id": first.id, "_type": "wf_api_progress_event"})
    );

    sim.fail(&first, "no such thing").await.unwrap();
    let (third, frame) = echoed(&mut sim).await;
    assert_eq!(
        frame,
        json!({"_id": first.id, "_type": "wf_api_error_response", "error": "no such thing"})
    );

    sim.respond(&second, json!({"a": 1, "_type": "wf_api_wrong_response"}))
        .await
        .unwrap();
    let (_, frame) = echoed(&mut sim).await;
    assert_eq!(
        frame,
        json!({"_id": second.id, "_type": "wf_api_wrong_response", "a": 1})
    );

    sim.ack(&third).await.unwrap();
    let (_, frame) = echoed(&mut sim).await;
    assert_eq!(
        frame,
        json!({"_id": third.id, "_type": "wf_api_log_analytics_event_response"})
    );

    let err = sim.respond(&third, json!([1, 2])).await.unwrap_err();
    assert!(matches!(err, SimError::Protocol(_)), "{err:?}");

    sim.send_event("timer_fired", json!({"name": "tick"}))
        .await
        .unwrap();
    let (_, frame) = echoed(&mut sim).await;
    assert_eq!(
        frame,
        json!({"_type": "wf_api_timer_fired_event", "name": "tick"})
    );

    sim.send_text("{not json").await.unwrap();
    let (_, frame) = echoed(&mut sim).await;
    assert_eq!(frame, json!("{not json"));

    sim.send_binary(vec![0, 1, 2, 3]).await.unwrap();
    let (_, frame) = echoed(&mut sim).await;
    assert_eq!(frame, json!("<binary 4 bytes>"));

    let t = sim.transcript();
    assert_eq!(
        t.event_names(),
        ["start", "button", "progress", "timer_fired"]
    );
    assert_eq!(t.events[0]["trigger"]["args"]["uid"], "04A1B2");
    sim.close().await.unwrap();
}

#[tokio::test]
async fn non_request_frames_are_protocol_errors() {
    let fx = Fixture::start().await;
    for (path, needle) in [
        (
            "/garbage",
            "a text frame that is not JSON: \"this is not json\"",
        ),
        ("/binary", "a binary frame (3 bytes)"),
        (
            "/notreq",
            "a frame that is not a request: {\"_id\":\"x\",\"_type\":\"wf_api_say_response\"}",
        ),
    ] {
        let mut sim = Simulator::connect(&fx.url(path)).await.unwrap();
        sim.start(Trigger::phrase("hello")).await.unwrap();
        let err = sim.next_request().await.unwrap_err();
        let SimError::Protocol(message) = &err else {
            panic!("{path}: wrong error {err:?}")
        };
        assert!(message.contains(needle), "{path}: {message}");

        let sim = Simulator::connect(&fx.url(path)).await.unwrap();
        let err = sim.run(AutoResponder::default()).await.unwrap_err();
        assert!(
            matches!(&err, SimError::Protocol(m) if m.contains(needle)),
            "{path}: {err:?}"
        );
    }
}

#[tokio::test]
async fn server_close_is_reported() {
    let fx = Fixture::start().await;
    let mut sim = Simulator::connect(&fx.url("/close")).await.unwrap();
    sim.start(Trigger::phrase("hello")).await.unwrap();
    assert_eq!(
        sim.expect_close().await.unwrap(),
        Some((4000, "bye".to_owned()))
    );
    // Once closed, every wait and send reports the close at once.
    let err = sim.next_request().await.unwrap_err();
    assert!(
        matches!(&err, SimError::Closed { code: Some(4000), reason } if reason == "bye"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "the workflow server closed the connection (close code 4000, reason \"bye\")"
    );
    assert!(matches!(
        sim.stop("normal").await,
        Err(SimError::Closed { .. })
    ));
    assert_eq!(sim.transcript().close, Some((4000, "bye".to_owned())));
    sim.close().await.unwrap();

    let mut sim = Simulator::connect(&fx.url("/close")).await.unwrap();
    sim.start(Trigger::phrase("hello")).await.unwrap();
    let err = sim.expect("say").await.unwrap_err();
    assert!(
        matches!(
            err,
            SimError::Closed {
                code: Some(4000),
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn run_returns_the_transcript_when_the_workflow_closes_without_stop() {
    let fx = Fixture::start().await;
    let sim = Simulator::connect(&fx.url("/close")).await.unwrap();
    let transcript = sim.run(AutoResponder::default()).await.unwrap();
    assert_eq!(transcript.stop_reason, None);
    assert_eq!(transcript.close, Some((4000, "bye".to_owned())));
    assert!(transcript.requests.is_empty());

    let sim = Simulator::connect(&fx.url("/drop")).await.unwrap();
    let transcript = sim.run(AutoResponder::default()).await.unwrap();
    assert_eq!((transcript.stop_reason, transcript.close), (None, None));
}

#[tokio::test]
async fn server_drop_is_reported() {
    let fx = Fixture::start().await;
    let mut sim = Simulator::connect(&fx.url("/drop")).await.unwrap();
    sim.start(Trigger::phrase("hello")).await.unwrap();
    let err = sim.next_request().await.unwrap_err();
    assert!(
        matches!(err, SimError::Closed { code: None, .. }),
        "{err:?}"
    );

    let mut sim = Simulator::connect(&fx.url("/drop")).await.unwrap();
    sim.start(Trigger::phrase("hello")).await.unwrap();
    assert_eq!(sim.expect_close().await.unwrap(), None);
}

#[tokio::test]
async fn close_is_polite_and_disconnect_is_not() {
    let mut fx = Fixture::start().await;
    let mut sim = Simulator::connect(&fx.url("/silent")).await.unwrap();
    sim.start(Trigger::phrase("hello")).await.unwrap();
    sim.close().await.unwrap();
    assert_eq!(fx.outcome().await, "client closed Some(1000)");

    let mut sim = Simulator::connect(&fx.url("/silent")).await.unwrap();
    sim.start(Trigger::phrase("hello")).await.unwrap();
    sim.disconnect();
    let outcome = fx.outcome().await;
    assert!(outcome.starts_with("error: "), "{outcome}");
}

#[tokio::test]
async fn pings_are_answered_while_the_test_is_busy_elsewhere() {
    let mut fx = Fixture::start().await;
    let mut sim = Simulator::connect(&fx.url("/pingidle")).await.unwrap();
    sim.start(Trigger::phrase("hello")).await.unwrap();
    // The test does not touch the simulator until the workflow has had its pong.
    assert_eq!(fx.outcome().await, "pong seen");
    assert_eq!(
        sim.expect_close().await.unwrap(),
        Some((1000, "pong".to_owned()))
    );
}

mod fixture {
    //! A tiny fake workflow server, written directly on tokio-tungstenite (no SDK), for testing
    //! the simulator. Each connection's path picks a behaviour:
    //!
    //! * `/hello`   — the hello flow (pings once and insists on the pong first)
    //! * `/silent`  — reads and never sends
    //! * `/stall`   — sends start_interaction after the start event, then nothing
    //! * `/garbage` — answers the start event with a text frame that is not JSON
    //! * `/binary`  — answers the start event with a binary frame
    //! * `/notreq`  — answers the start event with a response frame (not a request)
    //! * `/close`   — answers the start event by closing with 4000 "bye"
    //! * `/drop`    — answers the start event by dropping the TCP connection
    //! * `/echo`    — after the start event, reports every frame it receives back as a
    //!   `log_analytics_event` request whose `content` is the frame text
    //! * `/pingidle` — after the start event, pings, waits for the pong, closes with 1000 "pong"
    //!
    //! Each connection reports how it ended on a channel ([`Fixture::outcome`]).

    use futures_util::{SinkExt, StreamExt};
    use percent_encoding::percent_decode_str;
    use serde_json::{json, Value};
    use std::collections::VecDeque;
    use std::net::SocketAddr;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;
    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::mpsc;
    use tokio::time::timeout;
    use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::WebSocketStream;

    /// Every wait inside the fixture is bounded by this.
    const FIXTURE_WAIT: Duration = Duration::from_secs(10);

    /// A running fake workflow server.
    pub struct Fixture {
        pub addr: SocketAddr,
        outcomes: mpsc::UnboundedReceiver<String>,
        task: tokio::task::JoinHandle<()>,
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    impl Fixture {
        pub async fn start() -> Fixture {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let (tx, outcomes) = mpsc::unbounded_channel();
            let task = tokio::spawn(async move {
                while let Ok((tcp, _)) = listener.accept().await {
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        let outcome = match timeout(FIXTURE_WAIT, serve(tcp)).await {
                            Ok(Ok(done)) => done,
                            Ok(Err(e)) => format!("error: {e}"),
                            Err(_) => "error: fixture timed out".to_owned(),
                        };
                        let _ = tx.send(outcome);
                    });
                }
            });
            Fixture {
                addr,
                outcomes,
                task,
            }
        }

        pub fn url(&self, path: &str) -> String {
            format!("ws://{}{}", self.addr, path)
        }

        /// How the next connection ended (bounded wait).
        pub async fn outcome(&mut self) -> String {
            timeout(FIXTURE_WAIT, self.outcomes.recv())
                .await
                .expect("the fixture reported no outcome")
                .expect("fixture channel closed")
        }
    }

    type Ws = WebSocketStream<TcpStream>;

    async fn serve(tcp: TcpStream) -> Result<String, String> {
        let path = Arc::new(Mutex::new(String::new()));
        let seen = path.clone();
        // The error type (an HTTP response) is tungstenite's, not ours.
        #[allow(clippy::result_large_err)]
        let callback = move |req: &Request, resp: Response| {
            *seen.lock().unwrap() = req.uri().path().to_owned();
            Ok(resp)
        };
        let ws = tokio_tungstenite::accept_hdr_async(tcp, callback)
            .await
            .map_err(|e| e.to_string())?;
        let path = path.lock().unwrap().clone();
        let mut conn = Conn {
            ws,
            buffer: VecDeque::new(),
            next_id: 0,
            pong: false,
        };
        match path.as_str() {
            "/hello" => hello(&mut conn).await,
            "/silent" => conn.drain().await,
            "/stall" => {
                let start = conn.event(|e| is_event(e, "start")).await?;
                let source = source_of_start(&start);
                let id = conn.next_id();
                conn.send(request(
                    &id,
                    "start_interaction",
                    Some(&source),
                    json!({"name": "hello"}),
                ))
                .await?;
                conn.drain().await
            }
            "/garbage" => {
                conn.event(|e| is_event(e, "start")).await?;
                conn.ws
                    .send(Message::text("this is not json"))
                    .await
                    .map_err(|e| e.to_string())?;
                conn.drain().await
            }
            "/binary" => {
                conn.event(|e| is_event(e, "start")).await?;
                conn.ws
                    .send(Message::binary(vec![1u8, 2, 3]))
                    .await
                    .map_err(|e| e.to_string())?;
                conn.drain().await
            }
            "/notreq" => {
                conn.event(|e| is_event(e, "start")).await?;
                conn.send(json!({"_id": "x", "_type": "wf_api_say_response"}))
                    .await?;
                conn.drain().await
            }
            "/close" => {
                conn.event(|e| is_event(e, "start")).await?;
                let frame = CloseFrame {
                    code: CloseCode::from(4000),
                    reason: "bye".into(),
                };
                conn.ws
                    .close(Some(frame))
                    .await
                    .map_err(|e| e.to_string())?;
                conn.drain().await
            }
            "/drop" => {
                conn.event(|e| is_event(e, "start")).await?;
                drop(conn);
                Ok("dropped".to_owned())
            }
            "/echo" => echo(&mut conn).await,
            "/pingidle" => {
                conn.event(|e| is_event(e, "start")).await?;
                conn.ws
                    .send(Message::Ping(b"idle".to_vec().into()))
                    .await
                    .map_err(|e| e.to_string())?;
                conn.wait_pong().await?;
                let frame = CloseFrame {
                    code: CloseCode::Normal,
                    reason: "pong".into(),
                };
                conn.ws
                    .close(Some(frame))
                    .await
                    .map_err(|e| e.to_string())?;
                conn.drain().await?;
                Ok("pong seen".to_owned())
            }
            other => Err(format!("unknown fixture path {other}")),
        }
    }

    /// The hello workflow.
    async fn hello(conn: &mut Conn) -> Result<String, String> {
        let start = conn.event(|e| is_event(e, "start")).await?;
        let source = source_of_start(&start);
        let device = source
            .strip_prefix("urn:relay-resource:name:device:")
            .map(|n| percent_decode_str(n).decode_utf8_lossy().into_owned())
            .unwrap_or_else(|| "an unknown device".to_owned());

        // The simulator must answer pings transparently.
        conn.ws
            .send(Message::Ping(b"fixture".to_vec().into()))
            .await
            .map_err(|e| e.to_string())?;
        conn.wait_pong().await?;

        conn.call("start_interaction", Some(&source), json!({"name": "hello"}))
            .await?
            .map_err(|e| format!("start_interaction failed: {e}"))?;
        let started = conn
            .event(|e| is_event(e, "interaction_lifecycle") && e["type"] == "started")
            .await?;
        let interaction = started["source_uri"]
            .as_str()
            .unwrap_or_default()
            .to_owned();

        conn.say_and_wait(&interaction, "What is your name?")
            .await?;

        let listen_id = conn.next_id();
        conn.send(request(
            &listen_id,
            "listen",
            Some(&interaction),
            json!({"phrases": [], "transcribe": true, "timeout": 60, "request_id": listen_id}),
        ))
        .await?;
        conn.response(&listen_id)
            .await?
            .map_err(|e| format!("listen failed: {e}"))?;
        let speech = conn
            .event(|e| is_event(e, "speech") && e["request_id"] == listen_id.as_str())
            .await?;
        let name = speech["text"].as_str().unwrap_or_default().to_owned();

        let text = match conn
            .call("get_var", None, json!({"name": "greeting"}))
            .await?
        {
            Ok(resp) => {
                let greeting = resp["value"].as_str().unwrap_or("Hello");
                format!("{greeting} {name}! You are using {device}.")
            }
            Err(error) => format!("get_var failed: {error}"),
        };
        conn.say_and_wait(&interaction, &text).await?;

        conn.call("end_interaction", Some(&interaction), json!({}))
            .await?
            .map_err(|e| format!("end_interaction failed: {e}"))?;
        conn.event(|e| is_event(e, "interaction_lifecycle") && e["type"] == "ended")
            .await?;

        let id = conn.next_id();
        conn.send(json!({"_id": id, "_type": "wf_api_terminate_request"}))
            .await?;
        let stop = conn.event(|e| is_event(e, "stop")).await?;
        let end = conn.drain().await?;
        Ok(format!("hello done, stop {}, then {end}", stop["reason"]))
    }

    async fn echo(conn: &mut Conn) -> Result<String, String> {
        conn.event(|e| is_event(e, "start")).await?;
        loop {
            let content = match conn.ws.next().await {
                Some(Ok(Message::Text(t))) => t.as_str().to_owned(),
                Some(Ok(Message::Binary(b))) => format!("<binary {} bytes>", b.len()),
                Some(Ok(Message::Close(frame))) => {
                    let closed = format!("client closed {:?}", frame.map(|f| u16::from(f.code)));
                    conn.drain().await?;
                    return Ok(closed);
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Ok(format!("error: {e}")),
                None => return Ok("ended".into()),
            };
            let id = conn.next_id();
            conn.send(request(
                &id,
                "log_analytics_event",
                None,
                json!({"category": "echo", "content_type": "text/plain", "content": content}),
            ))
            .await?;
        }
    }

    pub fn is_event(e: &Value, name: &str) -> bool {
        e["_type"] == format!("wf_api_{name}_event").as_str()
    }

    fn source_of_start(start: &Value) -> String {
        start["trigger"]["args"]["source_uri"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    fn request(id: &str, action: &str, target: Option<&str>, payload: Value) -> Value {
        let mut frame = json!({"_id": id, "_type": format!("wf_api_{action}_request")});
        if let Some(t) = target {
            frame["_target"] = json!({"uris": [t]});
        }
        if let (Some(f), Value::Object(p)) = (frame.as_object_mut(), payload) {
            f.extend(p);
        }
        frame
    }

    struct Conn {
        ws: Ws,
        buffer: VecDeque<Value>,
        next_id: u32,
        pong: bool,
    }

    impl Conn {
        fn next_id(&mut self) -> String {
            self.next_id += 1;
            format!("fx{:04}", self.next_id)
        }

        async fn send(&mut self, frame: Value) -> Result<(), String> {
            self.ws
                .send(Message::text(frame.to_string()))
                .await
                .map_err(|e| format!("send failed: {e}"))
        }

        /// The next JSON frame from the simulator; `Value::Null` for a pong (pings are answered
        /// by tungstenite).
        async fn recv(&mut self) -> Result<Value, String> {
            loop {
                match self.ws.next().await {
                    Some(Ok(Message::Text(t))) => {
                        return serde_json::from_str(t.as_str())
                            .map_err(|e| format!("simulator sent bad JSON {t}: {e}"))
                    }
                    Some(Ok(Message::Pong(_))) => {
                        self.pong = true;
                        return Ok(Value::Null);
                    }
                    Some(Ok(Message::Close(f))) => {
                        return Err(format!("closed by simulator: {f:?}"))
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(format!("read failed: {e}")),
                    None => return Err("connection ended".into()),
                }
            }
        }

        async fn wait_pong(&mut self) -> Result<(), String> {
            while !self.pong {
                let frame = self.recv().await?;
                if !frame.is_null() {
                    self.buffer.push_back(frame);
                }
            }
            Ok(())
        }

        /// The first event matching `pred` (buffered ones first); others stay buffered.
        async fn event(&mut self, pred: impl Fn(&Value) -> bool) -> Result<Value, String> {
            if let Some(pos) = self.buffer.iter().position(&pred) {
                return Ok(self.buffer.remove(pos).unwrap_or_default());
            }
            loop {
                let frame = self.recv().await?;
                if pred(&frame) {
                    return Ok(frame);
                }
                if !frame.is_null() {
                    self.buffer.push_back(frame);
                }
            }
        }

        /// The answer to request `id`: `Ok(response)` or `Err(error text)`; progress is skipped.
        async fn response(&mut self, id: &str) -> Result<Result<Value, String>, String> {
            let frame = self
                .event(|f| f["_id"] == id && f["_type"] != "wf_api_progress_event")
                .await?;
            if frame["_type"] == "wf_api_error_response" {
                Ok(Err(frame["error"].as_str().unwrap_or_default().to_owned()))
            } else {
                Ok(Ok(frame))
            }
        }

        async fn call(
            &mut self,
            action: &str,
            target: Option<&str>,
            payload: Value,
        ) -> Result<Result<Value, String>, String> {
            let id = self.next_id();
            self.send(request(&id, action, target, payload)).await?;
            self.response(&id).await
        }

        async fn say_and_wait(&mut self, interaction: &str, text: &str) -> Result<(), String> {
            let resp = self
                .call(
                    "say",
                    Some(interaction),
                    json!({"text": text, "lang": "en-US"}),
                )
                .await?
                .map_err(|e| format!("say failed: {e}"))?;
            let id = resp["id"].as_str().unwrap_or_default().to_owned();
            self.event(|e| {
                is_event(e, "prompt") && e["type"] == "stopped" && e["id"] == id.as_str()
            })
            .await?;
            Ok(())
        }

        /// Read until the connection ends (answering a close frame); say how it ended.
        async fn drain(&mut self) -> Result<String, String> {
            let mut closed = None;
            loop {
                match self.ws.next().await {
                    Some(Ok(Message::Close(frame))) => {
                        closed = Some(format!(
                            "client closed {:?}",
                            frame.map(|f| u16::from(f.code))
                        ));
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Ok(closed.unwrap_or_else(|| format!("error: {e}"))),
                    None => return Ok(closed.unwrap_or_else(|| "ended".into())),
                }
            }
        }
    }
}
