//! Every action over real sockets: one workflow sends each Relay action once, in a fixed
//! order, and a scripted simulator checks each frame exactly and answers it as Relay would.
#![cfg(feature = "testing")]

mod common;

use common::*;
use relay_workflow::prelude::*;
use relay_workflow::protocol::{NotificationPriority, NotificationSound, PushOptions};
use relay_workflow::testing::{AutoResponder, Simulator, TestServer, Trigger};
use relay_workflow::WorkflowServer;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::sync::mpsc;

const ANN: &str = "urn:relay-resource:name:device:Ann";
const CLEANING: &str = "urn:relay-resource:name:group:Cleaning";
const SECURITY: &str = "urn:relay-resource:name:group:security";
const NEW_GROUP: &str = "urn:relay-resource:id:group:g-1";
const IS_MEMBER: &str =
    "urn:relay-resource:name:group:security?device=urn%3Arelay-resource%3Aname%3Adevice%3ABob";

fn urn(s: &str) -> Urn {
    Urn::from_string_unchecked(s)
}

/// Calls every action once; reports each typed result as a line on `tx`.
fn every_action(tx: mpsc::UnboundedSender<String>) -> Workflow {
    Workflow::new().on_start(move |relay, _start| {
        let tx = tx.clone();
        async move {
            let bob = urn(BOB);
            let ix = urn(BOB_HELLO);
            let report = |line: String| {
                let _ = tx.send(line);
            };
            relay.start_interaction(&bob, "hello").await?;
            report(format!("say {}", relay.say(&ix, "Hi").await?));
            report(format!(
                "play {}",
                relay.play(&ix, "relay-static://emergency").await?
            ));
            relay.stop_playback(&ix).ids(["03"]).await?;
            report(format!("listen {}", relay.listen(&ix).await?.text));
            relay.vibrate(&ix, [100, 500, 500, 500, 500, 500]).await?;
            relay.flash(&ix, "0000FF").await?;
            relay
                .alert(
                    urn(CLEANING),
                    &bob,
                    "cleanup_alert",
                    "Cleanup needed in room 213",
                )
                .push_options(PushOptions {
                    priority: Some(NotificationPriority::High),
                    title: Some("Cleanup".into()),
                    body: Some("Room 213".into()),
                    sound: Some(NotificationSound::Default),
                })
                .await?;
            relay.cancel_alert(urn(CLEANING), "cleanup_alert").await?;
            relay.set_channel(&bob, "security").await?;
            relay.enable_home_channel(&bob).await?;
            report(format!(
                "battery {}",
                relay.get_device_battery(&ix).refresh(true).await?
            ));
            relay.enable_location(&ix).await?;
            relay.set_user_profile(&bob, "bob").await?;
            report(format!("call {}", relay.place_call(&bob, ANN).await?));
            relay.answer_call(ANN, "call-1").await?;
            relay.hangup_call(ANN, "call-1").await?;
            relay
                .register_for_calls(&bob, "sip:bob@example.com", "pw")
                .expires(3600)
                .await?;
            report(format!("inbox {}", relay.inbox_count(&bob).await?));
            relay.play_inbox_messages(&ix).await?;
            let group = relay.create_group("rendezvous-1").await?;
            report(format!("group {group}"));
            relay.add_group_members(&group, &bob).await?;
            report(format!(
                "members {:?}",
                relay.list_group_members(urn(SECURITY)).await?
            ));
            report(format!(
                "is_member {}",
                relay.is_group_member("security", "Bob").await?
            ));
            relay.remove_group_members(&group, &bob).await?;
            relay.delete_group(&group).await?;
            relay
                .set_timer("tick", Duration::from_secs(30))
                .interval()
                .await?;
            relay.clear_timer("tick").await?;
            relay.start_timer(60).await?;
            relay.stop_timer().await?;
            report(format!(
                "translate {}",
                relay.translate("hello", Lang::EnUs, Lang::FrFr).await?
            ));
            relay.log_user_message("workflow triggered", &bob).await?;
            relay.track_event("order", &json!({"id": 42})).await?;
            relay.set_var("tick_num", "1").await?;
            report(format!("var {:?}", relay.get_var("greeting").await?));
            relay.unset_var("tick_num").await?;
            let incident = relay.create_incident("Panic Alert", &bob).await?;
            report(format!("incident {incident}"));
            relay.resolve_incident(&incident, "handled").await?;
            report(format!(
                "sms {:?}",
                relay.sms("sms", "hi", "tel:+15555550100").await?
            ));
            relay.set_device_name(&bob, "Front desk").await?;
            relay.end_interaction(&ix).await?;
            report("done".into());
            relay.terminate().await?;
            Ok(())
        }
    })
}

/// Replace every string `"$ID"` in `v` with the request's `_id`.
fn with_id(v: &Value, id: &str) -> Value {
    match v {
        Value::String(s) if s == "$ID" => Value::String(id.to_owned()),
        Value::Array(a) => Value::Array(a.iter().map(|x| with_id(x, id)).collect()),
        Value::Object(o) => {
            Value::Object(o.iter().map(|(k, x)| (k.clone(), with_id(x, id))).collect())
        }
        other => other.clone(),
    }
}

#[tokio::test]
async fn every_action_sends_exactly_the_specified_frame() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = TestServer::start(WorkflowServer::new().workflow("all", every_action(tx))).await;
    let mut sim = Simulator::connect(&server.url("all"))
        .await
        .unwrap()
        .with_timeout(Duration::from_secs(5));
    sim.start(Trigger::phrase("all").device("Bob"))
        .await
        .unwrap();

    // (action, target, payload without _id/_type/_target, response payload or null for ack)
    let script: Vec<(&str, &[&str], Value, Value)> = vec![
        (
            "start_interaction",
            &[BOB],
            json!({"name":"hello"}),
            Value::Null,
        ),
        (
            "say",
            &[BOB_HELLO],
            json!({"text":"Hi","lang":"en-US"}),
            json!({"id":"$ID"}),
        ),
        (
            "play",
            &[BOB_HELLO],
            json!({"filename":"relay-static://emergency"}),
            json!({"id":"$ID"}),
        ),
        (
            "stop_playback",
            &[BOB_HELLO],
            json!({"ids":["03"]}),
            Value::Null,
        ),
        (
            "listen",
            &[BOB_HELLO],
            json!({"phrases":[],"transcribe":true,"timeout":60,"request_id":"$ID"}),
            Value::Null,
        ),
        (
            "vibrate",
            &[BOB_HELLO],
            json!({"pattern":[100,500,500,500,500,500]}),
            Value::Null,
        ),
        (
            "set_led",
            &[BOB_HELLO],
            json!({"effect":"flash","args":{"count":-1,"colors":{"ring":"0000FF"}}}),
            Value::Null,
        ),
        (
            "notification",
            &[CLEANING],
            json!({"originator":BOB,"type":"alert","name":"cleanup_alert",
                   "text":"Cleanup needed in room 213",
                   "push_opts":{"priority":"high","title":"Cleanup","body":"Room 213","sound":"default"}}),
            Value::Null,
        ),
        (
            "notification",
            &[CLEANING],
            json!({"type":"cancel","name":"cleanup_alert","push_opts":{}}),
            Value::Null,
        ),
        (
            "set_channel",
            &[BOB],
            json!({"channel_name":"security","suppress_tts":false,"disable_home_channel":false}),
            Value::Null,
        ),
        (
            "set_home_channel_state",
            &[BOB],
            json!({"enabled":true}),
            Value::Null,
        ),
        (
            "get_device_info",
            &[BOB_HELLO],
            json!({"query":"battery","refresh":true}),
            json!({"battery":75}),
        ),
        (
            "set_device_info",
            &[BOB_HELLO],
            json!({"field":"location_enabled","value":"true"}),
            Value::Null,
        ),
        (
            "set_user_profile",
            &[BOB],
            json!({"username":"bob","force":false}),
            Value::Null,
        ),
        (
            "call",
            &[BOB],
            json!({"uri":ANN}),
            json!({"call_id":"call-1"}),
        ),
        ("answer", &[ANN], json!({"call_id":"call-1"}), Value::Null),
        ("hangup", &[ANN], json!({"call_id":"call-1"}), Value::Null),
        (
            "register",
            &[BOB],
            json!({"uri":"sip:bob@example.com","password":"pw","expires":3600}),
            Value::Null,
        ),
        ("inbox_count", &[BOB], json!({}), json!({"count":"3"})),
        ("play_inbox_messages", &[BOB_HELLO], json!({}), Value::Null),
        (
            "create_group",
            &[],
            json!({"name":"rendezvous-1"}),
            json!({"uri":NEW_GROUP}),
        ),
        (
            "add_group_members",
            &[BOB],
            json!({"group_uri":NEW_GROUP}),
            Value::Null,
        ),
        (
            "group_query",
            &[],
            json!({"group_uri":SECURITY,"query":"list_members"}),
            json!({"member_uris":[BOB]}),
        ),
        (
            "group_query",
            &[],
            json!({"group_uri":IS_MEMBER,"query":"is_member"}),
            json!({"is_member":true}),
        ),
        (
            "remove_group_members",
            &[BOB],
            json!({"group_uri":NEW_GROUP}),
            Value::Null,
        ),
        ("delete_group", &[], json!({"uri":NEW_GROUP}), Value::Null),
        (
            "set_timer",
            &[],
            json!({"type":"interval","name":"tick","timeout":30,"timeout_type":"secs"}),
            Value::Null,
        ),
        ("clear_timer", &[], json!({"name":"tick"}), Value::Null),
        ("start_timer", &[], json!({"timeout":60}), Value::Null),
        ("stop_timer", &[], json!({}), Value::Null),
        (
            "translate",
            &[],
            json!({"text":"hello","from_lang":"en-US","to_lang":"fr-FR"}),
            json!({"text":"bonjour"}),
        ),
        (
            "log_analytics_event",
            &[],
            json!({"category":"default","content_type":"text/plain","content":"workflow triggered",
                   "device_uri":BOB}),
            Value::Null,
        ),
        (
            "log_analytics_event",
            &[],
            json!({"category":"order","content_type":"application/vnd.relay.event.parameters+json",
                   "content":"{\"id\":42}"}),
            Value::Null,
        ),
        (
            "set_var",
            &[],
            json!({"name":"tick_num","value":"1"}),
            json!({"name":"tick_num","value":"1","type":"string"}),
        ),
        (
            "get_var",
            &[],
            json!({"name":"greeting"}),
            json!({"value":"Hello"}),
        ),
        ("unset_var", &[], json!({"name":"tick_num"}), Value::Null),
        (
            "create_incident",
            &[],
            json!({"type":"Panic Alert","originator_uri":BOB}),
            json!({"incident_id":"inc_123"}),
        ),
        (
            "resolve_incident",
            &[],
            json!({"incident_id":"inc_123","reason":"handled"}),
            Value::Null,
        ),
        (
            "sms",
            &[],
            json!({"type":"sms","text":"hi","uri":"tel:+15555550100"}),
            json!({"message_id":"m-1"}),
        ),
        (
            "set_device_info",
            &[BOB],
            json!({"field":"label","value":"Front desk"}),
            Value::Null,
        ),
        ("end_interaction", &[BOB_HELLO], json!({}), Value::Null),
    ];

    for (i, (action, target, payload, response)) in script.iter().enumerate() {
        let req = sim
            .expect(action)
            .await
            .unwrap_or_else(|e| panic!("step {i} ({action}): {e}"));
        assert_eq!(req.target, *target, "step {i} ({action}) target");
        assert_eq!(
            Value::Object(req.payload.clone()),
            with_id(payload, &req.id),
            "step {i} ({action}) payload"
        );
        if response.is_null() {
            sim.ack(&req).await.unwrap();
        } else {
            sim.respond(&req, with_id(response, &req.id)).await.unwrap();
        }
        if *action == "listen" {
            sim.speech(&req.id, "yes", "hello").await.unwrap();
        }
    }
    let terminate = sim.expect("terminate").await.unwrap();
    assert!(terminate.payload.is_empty());
    sim.stop("normal").await.unwrap();
    sim.close().await.unwrap();

    let mut lines = Vec::new();
    while let Ok(Some(line)) = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
        let done = line == "done";
        lines.push(line);
        if done {
            break;
        }
    }
    let say_id = &lines[0]["say ".len()..];
    assert!(!say_id.is_empty());
    assert_eq!(
        lines[2..],
        [
            "listen yes",
            "battery 75",
            "call call-1",
            "inbox 3",
            &format!("group {NEW_GROUP}"),
            &format!("members [{BOB:?}]"),
            "is_member true",
            "translate bonjour",
            "var Some(\"Hello\")",
            "incident inc_123",
            "sms Some(\"m-1\")",
            "done",
        ]
    );
    server.shutdown().await;
}

/// The helper variants (LED shapes, cancels, getters, …) against the automatic responder:
/// the exact payloads they produce and the typed values they return.
#[tokio::test]
async fn helpers_produce_their_documented_payloads() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let wf = Workflow::new()
        .on_start(|relay, start: StartEvent| async move {
            let device = start.trigger.source_uri().ok_or(Error::MissingSourceUri)?;
            relay.start_interaction(device, "hello").await?;
            Ok(())
        })
        .on_interaction_started(move |relay, event: InteractionLifecycleEvent| {
            let tx = tx.clone();
            async move {
                let ix = event.source_uri;
                let bob = urn(BOB);
                let report = |line: String| {
                    let _ = tx.send(line);
                };
                relay.switch_led_on(&ix, 3, "#ff0000").await?;
                relay.switch_all_leds_on(&ix, "00FF00").await?;
                relay.switch_all_leds_off(&ix).await?;
                relay.rainbow(&ix).rotations(2).await?;
                relay.rotate(&ix, "FFFFFF").await?;
                relay.breathe(&ix, "0000FF").count(4).await?;
                relay.broadcast(&bob, &bob, "b", "text").await?;
                relay.notify(&bob, &bob, "n", "text").await?;
                relay.cancel_broadcast(&bob, "b").await?;
                relay.cancel_notification(&bob, "n").await?;
                report(format!("name {}", relay.get_device_name(&ix).await?));
                report(format!("id {}", relay.get_device_id(&ix).await?));
                report(format!("type {}", relay.get_device_type(&ix).await?));
                report(format!("address {}", relay.get_device_address(&ix).await?));
                let c = relay.get_device_coordinates(&ix).await?;
                report(format!("latlong {} {}", c.latitude, c.longitude));
                report(format!(
                    "indoor {}",
                    relay.get_device_indoor_location(&ix).await?
                ));
                report(format!("user {}", relay.get_device_username(&ix).await?));
                report(format!(
                    "location {}",
                    relay.get_device_location_enabled(&ix).await?
                ));
                relay.disable_location(&ix).await?;
                relay.disable_home_channel(&bob).await?;
                relay.unregister_for_calls(&bob).await?;
                relay.set_timer("fine", Duration::from_millis(1500)).await?;
                relay
                    .set_timer("coarse", Duration::from_secs(120))
                    .timeout_type(relay_workflow::protocol::TimeoutType::Mins)
                    .await?;
                relay.set_vars([("n", "2.5"), ("i", "7")]).await?;
                report(format!("number {:?}", relay.get_number_var("n").await?));
                report(format!("int {:?}", relay.get_int_var("i").await?));
                let bad = relay.get_int_var("n").await.unwrap_err();
                report(format!("bad int: {bad}"));
                relay.set_var("flags", "a, b,c").await?;
                report(format!("array {:?}", relay.get_array_var("flags").await?));
                relay.set_var("on", "TRUE").await?;
                report(format!("bool {:?}", relay.get_bool_var("on").await?));
                report(format!("unset {:?}", relay.get_bool_var("missing").await?));
                relay.unset_vars(["n", "i"]).await?;
                let bad = relay.switch_led_on(&ix, 13, "red").await.unwrap_err();
                report(format!("bad led: {bad}"));
                let bad = relay
                    .answer_call(&bob, CallEvent::default())
                    .await
                    .unwrap_err();
                report(format!("bad call: {bad}"));
                relay.end_interaction(&ix).await?;
                Ok(())
            }
        })
        .on_interaction_ended(|relay, _| async move {
            relay.terminate().await?;
            Ok(())
        });
    let server = TestServer::start(WorkflowServer::new().workflow("helpers", wf)).await;
    let t = Simulator::connect(&server.url("helpers"))
        .await
        .unwrap()
        .run(AutoResponder::default().device("Bob"))
        .await
        .unwrap();
    let payloads = |action: &str| -> Vec<Value> {
        t.find(action)
            .iter()
            .map(|r| Value::Object(r.payload.clone()))
            .collect()
    };
    assert_eq!(
        payloads("set_led"),
        [
            json!({"effect":"static","args":{"colors":{"3":"ff0000"}}}),
            json!({"effect":"static","args":{"colors":{"ring":"00FF00"}}}),
            json!({"effect":"off","args":{}}),
            json!({"effect":"rainbow","args":{"rotations":2}}),
            json!({"effect":"rotate","args":{"rotations":-1,"colors":{"1":"FFFFFF"}}}),
            json!({"effect":"breathe","args":{"count":4,"colors":{"ring":"0000FF"}}}),
        ]
    );
    assert_eq!(
        payloads("notification"),
        [
            json!({"type":"broadcast","name":"b","originator":BOB,"text":"text","push_opts":{}}),
            json!({"type":"notify","name":"n","originator":BOB,"text":"text","push_opts":{}}),
            json!({"type":"cancel","name":"b","push_opts":{}}),
            json!({"type":"cancel","name":"n","push_opts":{}}),
        ]
    );
    let queries: Vec<_> = t
        .find("get_device_info")
        .iter()
        .map(|r| r.payload.clone())
        .map(|p| (p["query"].clone(), p["refresh"].clone()))
        .collect();
    assert_eq!(
        queries,
        [
            "name",
            "id",
            "type",
            "address",
            "latlong",
            "indoor_location",
            "username",
            "location_enabled"
        ]
        .map(|q| (json!(q), json!(false)))
    );
    assert_eq!(
        payloads("set_device_info"),
        [json!({"field":"location_enabled","value":"false"})]
    );
    assert_eq!(
        payloads("set_home_channel_state"),
        [json!({"enabled":false})]
    );
    assert_eq!(payloads("register"), [json!({"expires":0})]);
    assert_eq!(
        payloads("set_timer"),
        [
            json!({"type":"timeout","name":"fine","timeout":1500,"timeout_type":"ms"}),
            json!({"type":"timeout","name":"coarse","timeout":2,"timeout_type":"mins"}),
        ]
    );
    let mut unset: Vec<_> = t.find("unset_var").iter().map(|r| r.str("name")).collect();
    unset.sort();
    assert_eq!(unset, [Some("i"), Some("n")]);
    assert_eq!(t.stop_reason.as_deref(), Some("normal"));

    let mut lines = Vec::new();
    while let Ok(Some(line)) = tokio::time::timeout(Duration::from_millis(500), rx.recv()).await {
        lines.push(line);
    }
    assert_eq!(
        lines[..14],
        [
            "name Bob",
            "id 990007560023456",
            "type relay2",
            "address 1 Fenton Main St, Cary, NC 27511, USA",
            "latlong 35.7796 -78.6382",
            "indoor Lobby",
            "user bob",
            "location true",
            "number Some(2.5)",
            "int Some(7)",
            "bad int: workflow variable \"n\" is \"2.5\", which is not a whole number; \
             set it to a whole number (relay workflow … --arg n=…) or read it with get_var",
            "array Some([\"a\", \"b\", \"c\"])",
            "bool Some(true)",
            "unset None",
        ]
    );
    assert!(
        lines[14].starts_with("bad led: set_led: colour \"red\""),
        "{}",
        lines[14]
    );
    assert!(
        lines[15].starts_with("bad call: answer: the call event has no call_id"),
        "{}",
        lines[15]
    );
    server.shutdown().await;
}

/// Relay's inbox count is a numeric string; junk is an error naming the action, not a zero.
#[tokio::test]
async fn inbox_count_rejects_a_count_that_is_not_a_number() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let wf = Workflow::new().on_start(move |relay, _| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(relay.inbox_count(BOB).await);
            Ok(())
        }
    });
    let server = TestServer::start(WorkflowServer::new().workflow("inbox", wf)).await;
    let mut sim = Simulator::connect(&server.url("inbox")).await.unwrap();
    sim.start(Trigger::phrase("inbox").device("Bob"))
        .await
        .unwrap();
    let req = sim.expect("inbox_count").await.unwrap();
    sim.respond(&req, json!({"count": "three"})).await.unwrap();
    let result = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    let message = result.unwrap_err().to_string();
    assert!(
        message.contains("inbox_count") && message.contains("\"three\""),
        "{message}"
    );
    sim.close().await.unwrap();
    server.shutdown().await;
}
