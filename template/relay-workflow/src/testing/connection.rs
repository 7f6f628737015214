//! The socket of a simulator, owned by a small driver task.
//!
//! The task reads continuously, so WebSocket pings from the workflow server are answered
//! (and close frames acknowledged) even while a test is busy elsewhere — as the real Relay
//! service would. Frames it reads are queued for the [`Simulator`](super::Simulator);
//! frames to send come in as commands.

use futures_util::{SinkExt, StreamExt};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub(super) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

type Done = oneshot::Sender<Result<(), tungstenite::Error>>;

enum Command {
    Send(Message, Done),
    Close(CloseFrame, Done),
    Disconnect,
}

/// Something the driver read from the socket.
pub(super) enum Inbound {
    /// A data, ping/pong or close message.
    Message(Message),
    /// Reading failed; nothing more will be read.
    Error(tungstenite::Error),
    /// The stream ended; nothing more will be read.
    End,
}

/// The handle the simulator keeps; dropping it drops the connection.
pub(super) struct Connection {
    commands: mpsc::UnboundedSender<Command>,
    inbound: mpsc::UnboundedReceiver<Inbound>,
}

/// Why a command got no answer: the driver is gone (the socket was dropped).
pub(super) struct Gone;

impl Connection {
    /// Hand `ws` to a new driver task.
    pub(super) fn spawn(ws: Ws) -> Connection {
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (inbound_tx, inbound) = mpsc::unbounded_channel();
        tokio::spawn(drive(ws, command_rx, inbound_tx));
        Connection { commands, inbound }
    }

    /// Send one message (waits until it is written).
    pub(super) async fn send(&self, msg: Message) -> Result<Result<(), tungstenite::Error>, Gone> {
        self.command(|done| Command::Send(msg, done)).await
    }

    /// Send a close frame (waits until it is written; the answer arrives through `recv`).
    pub(super) async fn close(
        &self,
        frame: CloseFrame,
    ) -> Result<Result<(), tungstenite::Error>, Gone> {
        self.command(|done| Command::Close(frame, done)).await
    }

    async fn command(
        &self,
        make: impl FnOnce(Done) -> Command,
    ) -> Result<Result<(), tungstenite::Error>, Gone> {
        let (done, result) = oneshot::channel();
        self.commands.send(make(done)).map_err(|_| Gone)?;
        result.await.map_err(|_| Gone)
    }

    /// The next thing read; [`Inbound::End`] forever once the connection is over.
    pub(super) async fn recv(&mut self) -> Inbound {
        self.inbound.recv().await.unwrap_or(Inbound::End)
    }

    /// Drop the TCP connection with a reset, without a close frame.
    pub(super) fn disconnect(self) {
        let _ = self.commands.send(Command::Disconnect);
    }
}

async fn drive(
    mut ws: Ws,
    mut commands: mpsc::UnboundedReceiver<Command>,
    inbound: mpsc::UnboundedSender<Inbound>,
) {
    let mut reading = true;
    loop {
        tokio::select! {
            msg = ws.next(), if reading => {
                let item = match msg {
                    Some(Ok(msg)) => Inbound::Message(msg),
                    Some(Err(e)) => {
                        reading = false;
                        Inbound::Error(e)
                    }
                    None => {
                        reading = false;
                        Inbound::End
                    }
                };
                let _ = inbound.send(item);
            }
            command = commands.recv() => match command {
                None => return,
                Some(Command::Send(msg, done)) => {
                    let _ = done.send(ws.send(msg).await);
                }
                Some(Command::Close(frame, done)) => {
                    let _ = done.send(ws.close(Some(frame)).await);
                }
                Some(Command::Disconnect) => {
                    if let MaybeTlsStream::Plain(tcp) = ws.get_ref() {
                        // A zero linger makes the drop send a reset instead of an orderly
                        // FIN. (`set_linger` is deprecated only because a *non-zero* linger
                        // blocks the thread on drop.)
                        #[allow(deprecated)]
                        let _ = tcp.set_linger(Some(Duration::ZERO));
                    }
                    return;
                }
            }
        }
    }
}
