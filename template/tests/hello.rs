//! Drives the hello workflow through a simulated Relay server, as Relay would over the
//! network, before anything is pushed to Heroku.

use {{crate_name}}::{app, HELLO_PATH};

use relay_workflow::testing::{AutoResponder, Simulator, TestServer};

#[tokio::test]
async fn hello_greets_the_user_by_name_on_their_device() {
    let server = TestServer::start(app()).await;
    let sim = Simulator::connect(&server.url(HELLO_PATH)).await.unwrap();
    let transcript = sim
        .run(
            AutoResponder::default()
                .device("Bob")
                .say_on_listen(["Alice"]),
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
        ["What is your name?", "Hello Alice! You are using Bob."]
    );
    assert_eq!(transcript.stop_reason.as_deref(), Some("normal"));
    server.shutdown().await;
}

#[tokio::test]
async fn hello_uses_the_greeting_variable() {
    let server = TestServer::start(app()).await;
    let sim = Simulator::connect(&server.url(HELLO_PATH)).await.unwrap();
    let transcript = sim
        .run(
            AutoResponder::default()
                .device("Front Desk")
                .say_on_listen(["Sam"])
                .var("greeting", "Howdy"),
        )
        .await
        .unwrap();

    assert_eq!(transcript.said()[1], "Howdy Sam! You are using Front Desk.");
    server.shutdown().await;
}
