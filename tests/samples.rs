//! Every sample workflow, driven through the simulated Relay server.

use relay_samples::app;
use relay_workflow::testing::{AutoResponder, Simulator, TestServer};

#[tokio::test]
async fn hello_greets_by_name_and_device() {
    let server = TestServer::start(app()).await;
    let sim = Simulator::connect(&server.url("hellopath")).await.unwrap();
    let t = sim
        .run(
            AutoResponder::default()
                .device("Cam")
                .say_on_listen(["Dana"])
                .var("greeting", "Hey"),
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
        ["What is your name?", "Hey Dana! You are using Cam."]
    );
    server.shutdown().await;
}

mod capabilities {
    use relay_samples::app;
    use relay_workflow::testing::{
        device_urn, interaction_urn, AutoResponder, Reply, Simulator, TestServer, Trigger,
    };
    use serde_json::{json, Value};

    fn payload(req: &relay_workflow::testing::ReceivedRequest) -> Value {
        Value::Object(req.payload.clone())
    }

    #[tokio::test]
    async fn whereami_says_address_and_battery() {
        let server = TestServer::start(app()).await;
        let sim = Simulator::connect(&server.url("whereami")).await.unwrap();
        let t = sim
            .run(AutoResponder::default().device("Cam"))
            .await
            .unwrap();
        assert_eq!(
            t.said(),
            ["Cam, you are at 1 Fenton Main St, Cary, NC 27511, USA. Battery 75 percent."]
        );
        let refreshed: Vec<_> = t
            .find("get_device_info")
            .iter()
            .map(|r| (r.str("query"), r.payload["refresh"].clone()))
            .collect();
        assert_eq!(
            refreshed,
            [
                (Some("name"), json!(false)),
                (Some("location_enabled"), json!(false)),
                (Some("address"), json!(true)),
                (Some("battery"), json!(true)),
            ]
        );
        server.shutdown().await;
    }

    #[tokio::test]
    async fn whereami_turns_location_on_when_it_is_off() {
        let server = TestServer::start(app()).await;
        let sim = Simulator::connect(&server.url("whereami")).await.unwrap();
        let responder =
            AutoResponder::default()
                .device("Cam")
                .on("get_device_info", |req| match req.str("query") {
                    Some("location_enabled") => Reply::Respond(json!({"location_enabled": false})),
                    _ => Reply::Auto,
                });
        let t = sim.run(responder).await.unwrap();
        assert_eq!(
            t.said(),
            ["Cam, location was off. I turned it on; ask me again."]
        );
        let set = t.find("set_device_info");
        assert_eq!(set.len(), 1);
        assert_eq!(
            payload(set[0]),
            json!({"field": "location_enabled", "value": "true"})
        );
        server.shutdown().await;
    }

    #[tokio::test]
    async fn panic_alerts_the_team_until_someone_acknowledges() {
        let server = TestServer::start(app()).await;
        let bob = device_urn("Bob");
        let guards = "urn:relay-resource:name:group:Guards";
        let mut sim = Simulator::connect(&server.url("panic"))
            .await
            .unwrap()
            .auto_ack("set_var")
            .auto_ack("set_led")
            .auto_ack("vibrate");
        sim.start(Trigger::phrase("panic").device("Bob"))
            .await
            .unwrap();
        let incident = sim.expect("create_incident").await.unwrap();
        assert_eq!(
            payload(&incident),
            json!({"type": "Panic Alert", "originator_uri": bob})
        );
        sim.respond(&incident, json!({"incident_id": "inc_9"}))
            .await
            .unwrap();
        let start = sim.expect("start_interaction").await.unwrap();
        sim.ack(&start).await.unwrap();
        sim.interaction("started", "panic").await.unwrap();
        let group = sim.expect("get_var").await.unwrap();
        sim.respond(&group, json!({"value": "Guards"}))
            .await
            .unwrap();
        let alert = sim.expect("notification").await.unwrap();
        assert_eq!(alert.target, [guards]);
        assert_eq!(alert.str("type"), Some("alert"));
        assert_eq!(alert.str("text"), Some("Bob needs help"));
        sim.ack(&alert).await.unwrap();
        let say = sim.expect("say").await.unwrap();
        sim.respond(&say, json!({"id": say.id})).await.unwrap();
        sim.prompt(&say.id, "stopped", "panic").await.unwrap();
        let led = sim.transcript().find("set_led");
        assert_eq!(
            payload(led[0]),
            json!({"effect": "flash", "args": {"count": -1, "colors": {"ring": "FF0000"}}})
        );
        sim.send_event(
            "notification",
            json!({"source_uri": device_urn("Ann"), "name": "panic", "event": "ack_event",
                   "notification_state": {"acknowledged": [device_urn("Ann")]}}),
        )
        .await
        .unwrap();
        let rest = AutoResponder::default()
            .device("Bob")
            .var("interaction", &interaction_urn("panic", &bob))
            .var("group", "Guards")
            .var("incident", "inc_9");
        let t = sim.run(rest).await.unwrap();
        assert_eq!(t.said(), ["Ann is on the way."]);
        let cancel = t.find("notification");
        assert_eq!(
            (cancel[0].target.as_slice(), payload(cancel[0])),
            (
                [guards.to_owned()].as_slice(),
                json!({"type": "cancel", "name": "panic", "push_opts": {}})
            )
        );
        assert_eq!(
            payload(t.find("resolve_incident")[0]),
            json!({"incident_id": "inc_9", "reason": "acknowledged by Ann"})
        );
        assert_eq!(t.stop_reason.as_deref(), Some("normal"));
        server.shutdown().await;
    }

    #[tokio::test]
    async fn reminder_speaks_when_its_timer_fires() {
        let server = TestServer::start(app()).await;
        let mut sim = Simulator::connect(&server.url("reminder"))
            .await
            .unwrap()
            .auto_ack("set_var");
        sim.start(Trigger::phrase("reminder").device("Bob"))
            .await
            .unwrap();
        let seconds = sim.expect("get_var").await.unwrap();
        assert_eq!(seconds.str("name"), Some("seconds"));
        sim.respond(&seconds, json!({"value": "90"})).await.unwrap();
        let timer = sim.expect("set_timer").await.unwrap();
        assert_eq!(
            payload(&timer),
            json!({"type": "timeout", "name": "reminder", "timeout": 90, "timeout_type": "secs"})
        );
        sim.ack(&timer).await.unwrap();
        let log = sim.expect("log_analytics_event").await.unwrap();
        assert_eq!(log.str("content"), Some("reminder set for 90 s"));
        assert_eq!(log.str("device_uri"), Some(device_urn("Bob").as_str()));
        sim.ack(&log).await.unwrap();
        sim.send_event("timer_fired", json!({"name": "reminder"}))
            .await
            .unwrap();
        let rest = AutoResponder::default()
            .device("Bob")
            .var("device", &device_urn("Bob"))
            .var("message", "Drink some water");
        let t = sim.run(rest).await.unwrap();
        assert_eq!(t.said(), ["Drink some water"]);
        assert_eq!(
            t.actions(),
            [
                "get_var",
                "start_interaction",
                "get_var",
                "say",
                "end_interaction",
                "terminate"
            ]
        );
        server.shutdown().await;
    }

    #[tokio::test]
    async fn tally_counts_taps_until_a_double_tap() {
        let server = TestServer::start(app()).await;
        let mut sim = Simulator::connect(&server.url("tally")).await.unwrap();
        sim.start(Trigger::phrase("tally").device("Bob"))
            .await
            .unwrap();
        let start = sim.expect("start_interaction").await.unwrap();
        sim.ack(&start).await.unwrap();
        sim.interaction("started", "tally").await.unwrap();
        for taps in ["single", "single", "single", "double"] {
            sim.button("action", taps, "tally").await.unwrap();
        }
        let t = sim
            .run(AutoResponder::default().device("Bob"))
            .await
            .unwrap();
        assert_eq!(
            t.said(),
            [
                "Tap to count, double tap to finish.",
                "1",
                "2",
                "3",
                "Total 3."
            ]
        );
        let tracked = t.find("log_analytics_event");
        assert_eq!(tracked[0].str("content"), Some(r#"{"count":3}"#));
        assert_eq!(t.find("unset_var")[0].str("name"), Some("count"));
        assert_eq!(t.stop_reason.as_deref(), Some("normal"));
        server.shutdown().await;
    }
}
