//! The floor of the benchmarks: a bare tokio WebSocket server that sends exactly the frames
//! of the hello workflow, with no SDK in between (no routing table, no handler tasks, no
//! correlation map, no timeouts). `bench/run` measures the per-request cost of the real
//! server against this one.
//!
//! ```text
//! PORT=8099 cargo run --release -p relay-tools --example echo_floor
//! ```
//!
//! Any path is served. Each connection is a small state machine reading one frame and
//! answering with the next request of the hello conversation:
//! start → `start_interaction`; lifecycle `started` → `say`; first prompt `stopped` →
//! `listen`; speech → `get_var`; its response → `say` the greeting; second prompt `stopped`
//! → `end_interaction`; lifecycle `ended` → `terminate`.

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use std::borrow::Cow;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(rename = "_type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow, default, rename = "type")]
    sub: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    source_uri: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    value: Option<Cow<'a, str>>,
    #[serde(default)]
    trigger: Option<Trigger>,
}

#[derive(Deserialize)]
struct Trigger {
    args: TriggerArgs,
}

#[derive(Deserialize)]
struct TriggerArgs {
    source_uri: String,
}

fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

fn main() -> std::io::Result<()> {
    let port = std::env::var("PORT").unwrap_or_else(|_| "8080".into());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = TcpListener::bind(format!("0.0.0.0:{port}")).await?;
        eprintln!("echo_floor listening on {}", listener.local_addr()?);
        loop {
            let (tcp, _) = listener.accept().await?;
            let _ = tcp.set_nodelay(true);
            tokio::spawn(connection(tcp));
        }
    })
}

async fn connection(tcp: TcpStream) {
    // The same 4 KiB read buffer as the SDK's server.
    let config = WebSocketConfig::default().read_buffer_size(4 * 1024);
    let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(tcp, Some(config)).await else {
        return;
    };
    let mut next_id: u64 = 0;
    let mut interaction = String::new();
    let mut name = String::new();
    let mut prompts_done = 0;
    while let Some(Ok(msg)) = ws.next().await {
        let Message::Text(text) = msg else {
            continue;
        };
        let Ok(frame) = serde_json::from_str::<Frame>(text.as_str()) else {
            continue;
        };
        next_id += 1;
        let id = format!("{next_id:032x}");
        let out = match frame.kind.as_ref() {
            "wf_api_start_event" => match &frame.trigger {
                Some(t) => format!(
                    "{{\"_id\":\"{id}\",\"_type\":\"wf_api_start_interaction_request\",\"_target\":{{\"uris\":[{}]}},\"name\":\"hello\"}}",
                    q(&t.args.source_uri)
                ),
                None => continue,
            },
            "wf_api_interaction_lifecycle_event" => match frame.sub.as_deref() {
                Some("started") => {
                    interaction = frame.source_uri.as_deref().unwrap_or_default().to_owned();
                    format!(
                        "{{\"_id\":\"{id}\",\"_type\":\"wf_api_say_request\",\"_target\":{{\"uris\":[{}]}},\"text\":\"What is your name?\",\"lang\":\"en-US\"}}",
                        q(&interaction)
                    )
                }
                Some("ended") => {
                    format!("{{\"_id\":\"{id}\",\"_type\":\"wf_api_terminate_request\"}}")
                }
                _ => continue,
            },
            "wf_api_prompt_event" if frame.sub.as_deref() == Some("stopped") => {
                prompts_done += 1;
                if prompts_done == 1 {
                    format!(
                        "{{\"_id\":\"{id}\",\"_type\":\"wf_api_listen_request\",\"_target\":{{\"uris\":[{}]}},\"phrases\":[],\"transcribe\":true,\"timeout\":60,\"alt_lang\":\"en-US\",\"request_id\":\"{id}\"}}",
                        q(&interaction)
                    )
                } else {
                    format!(
                        "{{\"_id\":\"{id}\",\"_type\":\"wf_api_end_interaction_request\",\"_target\":{{\"uris\":[{}]}}}}",
                        q(&interaction)
                    )
                }
            }
            "wf_api_speech_event" => {
                name = frame.text.as_deref().unwrap_or_default().to_owned();
                format!("{{\"_id\":\"{id}\",\"_type\":\"wf_api_get_var_request\",\"name\":\"greeting\"}}")
            }
            "wf_api_get_var_response" => {
                let greeting = frame.value.as_deref().unwrap_or("Hello");
                let text = format!("{greeting} {name}! You are using Bob.");
                format!(
                    "{{\"_id\":\"{id}\",\"_type\":\"wf_api_say_request\",\"_target\":{{\"uris\":[{}]}},\"text\":{},\"lang\":\"en-US\"}}",
                    q(&interaction),
                    q(&text)
                )
            }
            "wf_api_stop_event" => break,
            _ => continue,
        };
        if ws.send(Message::text(out)).await.is_err() {
            return;
        }
    }
    let _ = ws.close(None).await;
}
