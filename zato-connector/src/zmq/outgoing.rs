//! An outgoing ZeroMQ connection: one PUSH or PUB socket kept open, fed by services' sends.
//!
//! One task owns the socket and takes sends in order from a queue, so the socket is never
//! shared and never opened per message. A send with no peer (the crate fails such a send at
//! once) is retried until the publish timeout: for a connecting socket by reconnecting
//! (its peer may have restarted; the crate does not reconnect PUSH sockets), for a bound one
//! by waiting for a peer. PUB is fire-and-forget by design: with no subscriber the message
//! is dropped by ZeroMQ and the send still counts as done.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use zato_common::model::{ZmqOutSocket, ZmqOutgoing};
use zeromq::{PubSocket, PushSocket, Socket, SocketSend, ZmqMessage};

use crate::connections::Link;
use crate::error::SendError;
use crate::worker::Ctx;

/// How long a stopping socket is kept open, so that what was just sent leaves it (the crate
/// has no linger).
const LINGER: Duration = Duration::from_millis(200);

enum OutSocket {
    Push(PushSocket),
    Pub(PubSocket),
}

impl OutSocket {
    async fn open(outgoing: &ZmqOutgoing) -> Result<Self, String> {
        let address = outgoing.address.as_str();
        let attach = async {
            match outgoing.socket_type {
                ZmqOutSocket::Push => {
                    let mut s = PushSocket::with_options(super::options());
                    if outgoing.bind {
                        s.bind(address).await?;
                    } else {
                        s.connect(address).await?;
                    }
                    Ok(OutSocket::Push(s))
                }
                ZmqOutSocket::Pub => {
                    let mut s = PubSocket::with_options(super::options());
                    if outgoing.bind {
                        s.bind(address).await?;
                    } else {
                        s.connect(address).await?;
                    }
                    Ok(OutSocket::Pub(s))
                }
            }
        };
        match tokio::time::timeout(super::CONNECT_TIMEOUT * 2, attach).await {
            Ok(Ok(socket)) => Ok(socket),
            Ok(Err(e)) => Err(zeromq::ZmqError::to_string(&e)),
            Err(_) => Err(format!("no connection to {address}")),
        }
    }

    async fn send(&mut self, message: ZmqMessage) -> zeromq::ZmqResult<()> {
        match self {
            OutSocket::Push(s) => s.send(message).await,
            OutSocket::Pub(s) => s.send(message).await,
        }
    }
}

type Request = (Vec<u8>, oneshot::Sender<Result<(), SendError>>);

/// What sends go through.
#[derive(Clone)]
pub struct Sender {
    name: String,
    tx: mpsc::Sender<Request>,
}

impl Sender {
    /// Sends one message; `Ok` once the socket took it.
    pub async fn send(&self, body: Vec<u8>) -> Result<(), SendError> {
        let (done_tx, done_rx) = oneshot::channel();
        let stopped = || SendError::Failed(format!("outgoing '{}' stopped", self.name));
        self.tx.send((body, done_tx)).await.map_err(|_| stopped())?;
        done_rx.await.unwrap_or_else(|_| Err(stopped()))
    }
}

/// Starts the socket's task; returns the sender and the task's future, which ends soon
/// after `cancel` fires.
pub fn start(
    outgoing: ZmqOutgoing,
    ctx: Ctx,
    cancel: CancellationToken,
    timeout: Duration,
) -> (Sender, impl Future<Output = ()> + Send + 'static) {
    let (tx, rx) = mpsc::channel(1024);
    let sender = Sender {
        name: outgoing.name.clone(),
        tx,
    };
    (sender, run(outgoing, ctx, cancel, rx, timeout))
}

async fn run(
    outgoing: ZmqOutgoing,
    ctx: Ctx,
    cancel: CancellationToken,
    mut rx: mpsc::Receiver<Request>,
    timeout: Duration,
) {
    let link = ctx
        .connections
        .register("zmq_outgoing", &outgoing.name, outgoing.address.clone());
    let mut socket: Option<OutSocket> = None;
    let mut backoff = crate::reconnect::backoff();
    let mut retry_at = Instant::now();
    loop {
        if socket.is_none() && Instant::now() >= retry_at {
            socket = reopen(&outgoing, &link).await;
            if socket.is_some() {
                backoff.reset();
            } else {
                retry_at = Instant::now() + backoff.next_delay();
            }
        }
        tokio::select! {
            () = cancel.cancelled() => break,
            request = rx.recv() => {
                let Some((body, done)) = request else { break };
                let result = send(&outgoing, &link, &mut socket, body, timeout, &cancel).await;
                let _ = done.send(result);
            }
            () = tokio::time::sleep_until(retry_at), if socket.is_none() => {}
        }
    }
    if socket.is_some() {
        tokio::time::sleep(LINGER).await;
    }
    info!(outgoing = %outgoing.name, "ZeroMQ outgoing connection stopped");
}

async fn reopen(outgoing: &ZmqOutgoing, link: &Link) -> Option<OutSocket> {
    link.connecting();
    match OutSocket::open(outgoing).await {
        Ok(socket) => {
            link.connected();
            info!(outgoing = %outgoing.name, address = %outgoing.address, bind = outgoing.bind, "ZeroMQ outgoing socket open");
            Some(socket)
        }
        Err(e) => {
            warn!(outgoing = %outgoing.name, address = %outgoing.address, error = %e, "cannot open the ZeroMQ outgoing socket");
            link.failed(&e);
            None
        }
    }
}

/// Sends one message, retrying until `timeout`.
async fn send(
    outgoing: &ZmqOutgoing,
    link: &Link,
    socket: &mut Option<OutSocket>,
    body: Vec<u8>,
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<(), SendError> {
    let deadline = Instant::now() + timeout;
    let mut message = ZmqMessage::from(body);
    let mut last_error;
    loop {
        if socket.is_none() {
            *socket = reopen(outgoing, link).await;
        }
        if let Some(open) = socket.as_mut() {
            match open.send(message).await {
                Ok(()) => return Ok(()),
                Err(zeromq::ZmqError::ReturnToSender {
                    reason,
                    message: back,
                }) => {
                    // Nobody to send to: a connecting socket whose peer went away is
                    // reopened; a bound one waits for a peer.
                    last_error = reason.to_owned();
                    message = back;
                    if !outgoing.bind {
                        *socket = None;
                        link.failed(reason);
                    }
                }
                Err(e) => {
                    return Err(SendError::Failed(format!("send failed: {e}")));
                }
            }
        } else {
            last_error = format!("cannot open the socket to {}", outgoing.address);
        }
        if Instant::now() >= deadline {
            return Err(SendError::Failed(format!(
                "{last_error} (to {} for {timeout:?})",
                outgoing.address
            )));
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(50)) => {}
            () = cancel.cancelled() => return Err(SendError::Failed("outgoing connection stopped".into())),
        }
    }
}
