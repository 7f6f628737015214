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
