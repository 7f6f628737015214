//! End-to-end behaviour of a session over real sockets on 127.0.0.1: correlation,
//! waiting for events, bad input, failures of the peer and of handlers.
#![cfg(feature = "testing")]

mod common;

use common::*;
use relay_workflow::prelude::*;
use relay_workflow::testing::{AutoResponder, SimError, Simulator, TestServer, Trigger};
use relay_workflow::WorkflowServer;
use serde_json::json;
use std::time::Duration;
use tokio::sync::mpsc;

async fn serve(path: &str, workflow: Workflow) -> TestServer {
    TestServer::start(WorkflowServer::new().workflow(path, workflow)).await
}

/// A workflow whose start handler runs `probe` and reports its outcome on a channel.
fn probe<F, Fut, T>(f: F) -> (Workflow, mpsc::UnboundedReceiver<relay_workflow::Result<T>>)
where
    F: Fn(Relay) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = relay_workflow::Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let (tx, rx) = mpsc::unbounded_channel();
    let f = std::sync::Arc::new(f);
    let wf = Workflow::new().on_start(move |relay, _start| {
        let tx = tx.clone();
        let f = f.clone();
        async move {
            let _ = tx.send(f(relay).await);
            Ok(())
        }
    });
    (wf, rx)
}

async fn outcome<T>(
    rx: &mut mpsc::UnboundedReceiver<relay_workflow::Result<T>>,
) -> relay_workflow::Result<T> {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("the probe reported within 10 s")
        .expect("the probe channel stayed open")
}

#[tokio::test]
async fn hello_produces_exactly_the_expected_actions() {
    let server = serve("hellopath", hello()).await;
    let sim = Simulator::connect(&server.url("hellopath")).await.unwrap();
    let t = sim
        .run(
            AutoResponder::default()
                .device("Bob")
                .say_on_listen(["Alice"])
                .var("greeting", "Hi"),
        )
        .await
        .unwrap();
    assert_eq!(
        t.actions(),
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
        t.said(),
        ["What is your name?", "Hi Alice! You are using Bob."]
    );
    assert_eq!(t.requests[0].target, [BOB]);
    assert_eq!(t.requests[0].str("name"), Some("hello"));
    let listen = &t.requests[2];
    assert_eq!(listen.str("request_id"), Some(listen.id.as_str()));
    assert_eq!(listen.payload["transcribe"], json!(true));
    assert_eq!(t.requests[3].str("name"), Some("greeting"));
    assert_eq!(t.stop_reason.as_deref(), Some("normal"));
    server.shutdown().await;
}

#[tokio::test]
async fn scripted_conversation_with_events_before_responses() {
    // Relay may send the prompt or speech event before (or in the same read as) the
    // response; the waiter is registered before the request goes out, so nothing is lost.
    let server = serve("early", hello()).await;
    let mut sim = Simulator::connect(&server.url("early")).await.unwrap();
    sim.start(Trigger::phrase("hello").device("Bob"))
        .await
        .unwrap();
    let start = sim.expect("start_interaction").await.unwrap();
    sim.ack(&start).await.unwrap();
    sim.interaction("started", BOB_HELLO).await.unwrap();
    let say = sim.expect("say").await.unwrap();
    assert_eq!(say.target, [BOB_HELLO]);
    sim.prompt(&say.id, "started", BOB_HELLO).await.unwrap();
    sim.prompt(&say.id, "stopped", BOB_HELLO).await.unwrap();
    sim.respond(&say, json!({ "id": say.id })).await.unwrap();
    let listen = sim.expect("listen").await.unwrap();
    sim.speech(&listen.id, "Zoe", BOB_HELLO).await.unwrap();
    sim.ack(&listen).await.unwrap();
    let get = sim.expect("get_var").await.unwrap();
    sim.respond(&get, json!({})).await.unwrap();
    let say = sim.expect("say").await.unwrap();
    assert_eq!(say.str("text"), Some(greeting("Zoe").as_str()));
    server.shutdown().await;
}

#[tokio::test]
async fn two_sessions_with_interleaved_prompt_events_each_finish() {
    let server = serve("pair", hello()).await;
    let mut a = Simulator::connect(&server.url("pair")).await.unwrap();
    let mut b = Simulator::connect(&server.url("pair")).await.unwrap();
    let a_int = BOB_HELLO;
    let b_int = "urn:relay-resource:name:interaction:hello?device=urn%3Arelay-resource%3Aname%3Adevice%3AAnn";
    a.start(Trigger::phrase("hello").device("Bob"))
        .await
        .unwrap();
    b.start(Trigger::phrase("hello").device("Ann"))
        .await
        .unwrap();
    for (sim, int) in [(&mut a, a_int), (&mut b, b_int)] {
        let r = sim.expect("start_interaction").await.unwrap();
        sim.ack(&r).await.unwrap();
        sim.interaction("started", int).await.unwrap();
    }
    let say_a = a.expect("say").await.unwrap();
    let say_b = b.expect("say").await.unwrap();
    a.respond(&say_a, json!({"id": say_a.id})).await.unwrap();
    b.respond(&say_b, json!({"id": say_b.id})).await.unwrap();
    // Each session first sees the *other* session's playback stop: it must not continue.
    a.prompt(&say_b.id, "stopped", a_int).await.unwrap();
    b.prompt(&say_a.id, "stopped", b_int).await.unwrap();
    // Nothing may follow a foreign stopped event (a short, bounded look).
    a = a.with_timeout(Duration::from_millis(300));
    assert!(matches!(
        a.next_request().await,
        Err(SimError::Timeout { .. })
    ));
    a = a.with_timeout(Duration::from_secs(5));
    a.prompt(&say_a.id, "stopped", a_int).await.unwrap();
    b.prompt(&say_b.id, "stopped", b_int).await.unwrap();
    for (sim, who) in [(&mut a, "Amy"), (&mut b, "Ben")] {
        let listen = sim.expect("listen").await.unwrap();
        sim.ack(&listen).await.unwrap();
        sim.speech(&listen.id, who, "x").await.unwrap();
        let get = sim.expect("get_var").await.unwrap();
        sim.respond(&get, json!({})).await.unwrap();
    }
    let final_a = a.expect("say").await.unwrap();
    let final_b = b.expect("say").await.unwrap();
    assert_eq!(final_a.str("text"), Some(greeting("Amy").as_str()));
    assert_eq!(final_b.str("text"), Some("Hello Ben! You are using Ann."));
    server.shutdown().await;
}

#[tokio::test]
async fn bad_frames_are_logged_and_dropped_and_the_session_goes_on() {
    let server = serve("bad", hello()).await;
    let mut sim = Simulator::connect(&server.url("bad")).await.unwrap();
    sim.send_text("{this is not json").await.unwrap();
    sim.send_text("[1, 2, 3]").await.unwrap();
    sim.send_text(r#"{"no_type": true}"#).await.unwrap();
    sim.send_text(r#"{"_type": "wf_api_button_event", "taps": 5}"#)
        .await
        .unwrap();
    sim.send_binary(vec![0, 159, 146, 150]).await.unwrap();
    sim.send_text(r#"{"_type": "wf_api_from_the_future_event", "x": 1}"#)
        .await
        .unwrap();
    sim.send_text(r#"{"_id": "nobody", "_type": "wf_api_say_response", "id": "nobody"}"#)
        .await
        .unwrap();
    sim.send_text(r#"{"_id": "nobody", "_type": "wf_api_error_response", "error": "x"}"#)
        .await
        .unwrap();
    sim.send_text(r#"{"_id": "nobody", "_type": "wf_api_progress_event"}"#)
        .await
        .unwrap();
    // After all that, the workflow still runs normally.
    sim.start(Trigger::phrase("hello").device("Bob"))
        .await
        .unwrap();
    let r = sim.expect("start_interaction").await.unwrap();
    sim.ack(&r).await.unwrap();
    server
        .wait_for_log("dropped a malformed frame: frame is not JSON")
        .await;
    server
        .wait_for_log("dropped a malformed frame: frame is JSON but not an object")
        .await;
    server
        .wait_for_log("dropped a malformed frame: frame has no string _type")
        .await;
    server
        .wait_for_log("cannot decode wf_api_button_event")
        .await;
    server.wait_for_log("ignored a binary frame").await;
    server
        .wait_for_log("event=wf_api_from_the_future_event")
        .await;
    server
        .wait_for_log("dropped a response to an unknown, answered or expired request")
        .await;
    server.shutdown().await;
}

#[tokio::test]
async fn unknown_events_reach_the_unknown_handler_with_their_raw_json() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let wf = Workflow::new().on_unknown(move |_relay, e: UnknownEvent| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(e);
            Ok(())
        }
    });
    let server = serve("unknown", wf).await;
    let mut sim = Simulator::connect(&server.url("unknown")).await.unwrap();
    sim.send_event("shiny_new", json!({"color": "teal", "n": [1, 2]}))
        .await
        .unwrap();
    let e = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e.event_type, "wf_api_shiny_new_event");
    assert_eq!(e.raw["color"], json!("teal"));
    assert_eq!(e.raw["n"], json!([1, 2]));
    server.shutdown().await;
}

#[tokio::test]
async fn error_response_becomes_a_typed_error_with_relays_message() {
    let (wf, mut rx) = probe(|relay| async move { relay.get_var("missing").await });
    let server = serve("err", wf).await;
    let mut sim = Simulator::connect(&server.url("err")).await.unwrap();
    sim.start(Trigger::phrase("x")).await.unwrap();
    let r = sim.expect("get_var").await.unwrap();
    sim.fail(&r, "variable store unavailable").await.unwrap();
    match outcome(&mut rx).await {
        Err(Error::Relay { action, message }) => {
            assert_eq!(action, "get_var");
            assert_eq!(message, "variable store unavailable");
        }
        other => panic!("expected a Relay error, got {other:?}"),
    }
    server.shutdown().await;
}

#[tokio::test]
async fn progress_events_keep_a_slow_request_alive() {
    let (wf, mut rx) = probe(|relay| async move {
        relay
            .get_var("slow")
            .response_timeout(Duration::from_millis(1500))
            .await
    });
    let server = serve("progress", wf).await;
    let mut sim = Simulator::connect(&server.url("progress")).await.unwrap();
    sim.start(Trigger::phrase("x")).await.unwrap();
    let r = sim.expect("get_var").await.unwrap();
    // 3 × 0.9 s = 2.7 s in all, well past the 1.5 s timeout, but never 1.5 s without news.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(900)).await;
        sim.progress(&r).await.unwrap();
    }
    sim.respond(&r, json!({"value": "finally"})).await.unwrap();
    assert_eq!(outcome(&mut rx).await.unwrap().as_deref(), Some("finally"));
    server.shutdown().await;
}

#[tokio::test]
async fn an_unanswered_request_times_out_and_a_late_answer_is_dropped() {
    let (wf, mut rx) = probe(|relay| async move {
        relay
            .get_var("never")
            .response_timeout(Duration::from_millis(300))
            .await
    });
    let server = serve("timeout", wf).await;
    let mut sim = Simulator::connect(&server.url("timeout")).await.unwrap();
    sim.start(Trigger::phrase("x")).await.unwrap();
    let r = sim.expect("get_var").await.unwrap();
    match outcome(&mut rx).await {
        Err(Error::Timeout {
            action: "get_var",
            after,
        }) => {
            assert_eq!(after, Duration::from_millis(300))
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    sim.respond(&r, json!({"value": "too late"})).await.unwrap();
    server.wait_for_log(&format!("id=\"{}\"", r.id)).await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_duplicated_response_is_dropped() {
    let (wf, mut rx) = probe(|relay| async move {
        let first = relay.get_var("a").await?;
        let second = relay.get_var("b").await?;
        Ok((first, second))
    });
    let server = serve("dup", wf).await;
    let mut sim = Simulator::connect(&server.url("dup")).await.unwrap();
    sim.start(Trigger::phrase("x")).await.unwrap();
    let a = sim.expect("get_var").await.unwrap();
    sim.respond(&a, json!({"value": "1"})).await.unwrap();
    sim.respond(&a, json!({"value": "1 again"})).await.unwrap();
    let b = sim.expect("get_var").await.unwrap();
    sim.respond(&b, json!({"value": "2"})).await.unwrap();
    let (first, second) = outcome(&mut rx).await.unwrap();
    assert_eq!(
        (first.as_deref(), second.as_deref()),
        (Some("1"), Some("2"))
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_peer_that_vanishes_mid_request_fails_the_call_at_once() {
    let (wf, mut rx) = probe(|relay| async move {
        let started = std::time::Instant::now();
        // A long timeout: only the closed connection can end this call quickly.
        let r = relay
            .get_var("x")
            .response_timeout(Duration::from_secs(60))
            .await;
        Ok((r, started.elapsed()))
    });
    let server = serve("vanish", wf).await;
    let mut sim = Simulator::connect(&server.url("vanish")).await.unwrap();
    sim.start(Trigger::phrase("x")).await.unwrap();
    sim.expect("get_var").await.unwrap();
    sim.disconnect();
    let (result, elapsed) = outcome(&mut rx).await.unwrap();
    assert!(
        matches!(result, Err(Error::Closed { action: "get_var" })),
        "{result:?}"
    );
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn a_failing_handler_is_logged_under_the_name_it_was_registered_with() {
    let wf = Workflow::new()
        .on_interaction_lifecycle(|_relay, _event| async move { Err("lifecycle-6f1".into()) })
        .on_interaction_started(|_relay, _event| async move { Err("started-6f1".into()) })
        .on_event(|_relay, _event| async move { Err("any-6f1".into()) });
    let server = serve("named", wf).await;
    let mut sim = Simulator::connect(&server.url("named")).await.unwrap();
    sim.interaction("started", BOB_HELLO).await.unwrap();
    sim.interaction("suspended", BOB_HELLO).await.unwrap();
    sim.start(Trigger::phrase("x")).await.unwrap();
    let started = server.wait_for_log("handler failed: started-6f1").await;
    assert!(
        started.contains("handler=on_interaction_started"),
        "{started}"
    );
    let lifecycle = server.wait_for_log("handler failed: lifecycle-6f1").await;
    assert!(
        lifecycle.contains("handler=on_interaction_lifecycle"),
        "{lifecycle}"
    );
    let any = server.wait_for_log("handler failed: any-6f1").await;
    assert!(any.contains("handler=on_event"), "{any}");
    server.shutdown().await;
}

#[tokio::test]
async fn a_panicking_handler_is_logged_and_the_session_and_server_live_on() {
    let wf = Workflow::new()
        .on_start(|_relay, _start| async move {
            panic!("boom in on_start");
        })
        .on_button(|relay, button: ButtonEvent| async move {
            relay.say(&button.source_uri, "still here").await?;
            Ok(())
        });
    let server = serve("panic", wf).await;
    let mut sim = Simulator::connect(&server.url("panic")).await.unwrap();
    sim.start(Trigger::phrase("x")).await.unwrap();
    server
        .wait_for_log("handler panicked: boom in on_start; the session goes on")
        .await;
    sim.button("action", "single", BOB_HELLO).await.unwrap();
    let say = sim.expect("say").await.unwrap();
    assert_eq!(say.str("text"), Some("still here"));
    // A second connection to the same server works too.
    let mut other = Simulator::connect(&server.url("panic")).await.unwrap();
    other.button("action", "double", BOB_HELLO).await.unwrap();
    assert_eq!(
        other.expect("say").await.unwrap().str("text"),
        Some("still here")
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_failed_playback_is_an_error() {
    let (wf, mut rx) = probe(|relay| async move { relay.say_and_wait(BOB_HELLO, "hi").await });
    let server = serve("failed", wf).await;
    let mut sim = Simulator::connect(&server.url("failed")).await.unwrap();
    sim.start(Trigger::phrase("x")).await.unwrap();
    let say = sim.expect("say").await.unwrap();
    sim.respond(&say, json!({"id": say.id})).await.unwrap();
    sim.prompt(&say.id, "failed", BOB_HELLO).await.unwrap();
    assert!(matches!(
        outcome(&mut rx).await,
        Err(Error::PlaybackFailed { .. })
    ));
    server.shutdown().await;
}

#[tokio::test]
async fn a_bad_target_fails_before_anything_is_sent() {
    let (wf, mut rx) = probe(|relay| async move { relay.say("not a urn", "hi").await });
    let server = serve("target", wf).await;
    let mut sim = Simulator::connect(&server.url("target")).await.unwrap();
    sim.start(Trigger::phrase("x")).await.unwrap();
    assert!(matches!(outcome(&mut rx).await, Err(Error::Urn(_))));
    server.shutdown().await;
}

#[tokio::test]
async fn terminate_completes_on_the_stop_event() {
    let (wf, mut rx) = probe(|relay| async move { relay.terminate().await });
    let server = serve("term", wf).await;
    let mut sim = Simulator::connect(&server.url("term")).await.unwrap();
    sim.start(Trigger::phrase("x")).await.unwrap();
    sim.expect("terminate").await.unwrap();
    sim.stop("normal").await.unwrap();
    outcome(&mut rx).await.unwrap();
    // The server closes the finished session itself.
    let close = sim.expect_close().await.unwrap();
    assert_eq!(close.map(|(code, _)| code), Some(1000));
    server.shutdown().await;
}
