//! A ZeroMQ channel: a PULL or SUB socket whose every message is handed over to the servers.
//!
//! A multipart message's last frame is the body; the frames before it (a SUB topic, say) go
//! to `meta["zmq"]["frames"]` as text. A SUB socket with no prefixes subscribes to
//! everything; with prefixes it gets only messages whose first frame starts with one of them
//! (ZeroMQ matches the prefix against the first frame).
//!
//! ZeroMQ has no acknowledgements: a message is in the connector's hands once received.
//! Received messages queue for the channel's hand-over task (at most [`IN_FLIGHT`]), which
//! sends whatever has queued as one pipeline and retries it (with back-off) until Redis has
//! it, so a socket is read while earlier messages are on their way, in the order they came.
//! When the queue is full the socket is not read, which pushes back on the senders. Only a
//! stop during a Redis outage loses the messages held at that moment; that is logged and
//! counted.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};
use zato_broker::Backoff;
use zato_common::model::{ZmqChannel, ZmqInSocket};
use zato_common::{ChannelKind, ServiceInvocation};
use zeromq::{PullSocket, Socket, SocketEvent, SocketRecv, SubSocket, ZmqMessage};

use crate::connections::Link;
use crate::handoff::payload;
use crate::metrics::Flow;
use crate::reconnect::keep_connected;
use crate::worker::Ctx;

/// Most messages received and not yet in Redis, per channel.
pub const IN_FLIGHT: usize = 1024;

/// Most messages sent to Redis in one pipeline.
const HAND_OVER_BATCH: usize = 256;

type Invocation = ServiceInvocation<Box<RawValue>>;

enum InSocket {
    Pull(PullSocket),
    Sub(SubSocket),
}

impl InSocket {
    async fn recv(&mut self) -> zeromq::ZmqResult<ZmqMessage> {
        match self {
            InSocket::Pull(s) => s.recv().await,
            InSocket::Sub(s) => s.recv().await,
        }
    }
}

/// Opens the socket: subscribes (SUB), then binds or connects.
async fn open(channel: &ZmqChannel) -> Result<(InSocket, Monitor), String> {
    let fail = |e: zeromq::ZmqError| e.to_string();
    let (mut socket, monitor) = match channel.socket_type {
        ZmqInSocket::Pull => {
            let mut s = PullSocket::with_options(super::options());
            let m = s.monitor();
            (InSocket::Pull(s), Box::pin(m) as Monitor)
        }
        ZmqInSocket::Sub => {
            let mut s = SubSocket::with_options(super::options());
            let m = s.monitor();
            if channel.sub_prefixes.is_empty() {
                s.subscribe("").await.map_err(fail)?;
            }
            for prefix in &channel.sub_prefixes {
                s.subscribe(prefix).await.map_err(fail)?;
            }
            (InSocket::Sub(s), Box::pin(m) as Monitor)
        }
    };
    let address = channel.address.as_str();
    let attach = async {
        match (&mut socket, channel.bind) {
            (InSocket::Pull(s), true) => s.bind(address).await.map(drop),
            (InSocket::Pull(s), false) => s.connect(address).await,
            (InSocket::Sub(s), true) => s.bind(address).await.map(drop),
            (InSocket::Sub(s), false) => s.connect(address).await,
        }
    };
    match tokio::time::timeout(super::CONNECT_TIMEOUT * 2, attach).await {
        Ok(Ok(())) => Ok((socket, monitor)),
        Ok(Err(e)) => Err(fail(e)),
        Err(_) => Err(format!(
            "no connection to {address} within {:?}",
            super::CONNECT_TIMEOUT * 2
        )),
    }
}

/// The socket's monitor events (connected, disconnected, ...).
type Monitor = std::pin::Pin<Box<dyn futures_util::Stream<Item = SocketEvent> + Send>>;

/// Runs the channel until `cancel` fires, then hands over what it holds.
pub async fn run(channel: ZmqChannel, ctx: Ctx, cancel: CancellationToken) {
    let (queue, received) = mpsc::channel(IN_FLIGHT);
    let hand_over = tokio::spawn(hand_over(
        channel.name.clone(),
        ctx.clone(),
        cancel.clone(),
        received,
    ));
    receive_until_cancelled(&channel, &ctx, &cancel, &queue).await;
    drop(queue);
    let _ = hand_over.await;
    info!(channel = %channel.name, "ZeroMQ channel stopped");
}

/// Opens the socket and receives from it until `cancel` fires, reopening it when it fails.
async fn receive_until_cancelled(
    channel: &ZmqChannel,
    ctx: &Ctx,
    cancel: &CancellationToken,
    queue: &mpsc::Sender<Invocation>,
) {
    let link = ctx
        .connections
        .register("zmq_channel", &channel.name, channel.address.clone());
    keep_connected(&link, cancel, |_| async {
        let (socket, monitor) = open(channel).await?;
        link.connected();
        info!(channel = %channel.name, address = %channel.address, bind = channel.bind, "ZeroMQ channel open");
        receive(channel, ctx, cancel, queue, &link, socket, monitor)
            .await
            .map_or(Ok(()), Err)
    })
    .await;
}

/// Receives until cancelled (`None`) or the socket must be reopened (`Some(why)`).
async fn receive(
    channel: &ZmqChannel,
    ctx: &Ctx,
    cancel: &CancellationToken,
    queue: &mpsc::Sender<Invocation>,
    link: &Link,
    mut socket: InSocket,
    mut monitor: Monitor,
) -> Option<String> {
    // A connecting PULL socket does not reconnect by itself: reopen it when its peer goes.
    let reopen_on_disconnect = !channel.bind && channel.socket_type == ZmqInSocket::Pull;
    loop {
        tokio::select! {
            () = cancel.cancelled() => return None,
            message = socket.recv() => match message {
                Ok(message) => {
                    let Some(invocation) = invocation(channel, ctx, message) else { continue };
                    tokio::select! {
                        sent = queue.send(invocation) => if sent.is_err() { return None },
                        () = cancel.cancelled() => return None,
                    }
                }
                Err(e) => return Some(format!("receive failed: {e}")),
            },
            event = monitor.next() => match event {
                Some(SocketEvent::Disconnected(_)) if reopen_on_disconnect => {
                    return Some("peer disconnected".to_owned());
                }
                Some(SocketEvent::Disconnected(_)) if !channel.bind => link.failed("peer disconnected; the socket reconnects by itself"),
                Some(SocketEvent::Connected(..)) => link.connected(),
                Some(_) => {}
                None => std::future::pending::<()>().await,
            },
        }
    }
}

/// The invocation a message becomes; `None` (counted) when its body is not what the channel
/// takes.
fn invocation(channel: &ZmqChannel, ctx: &Ctx, message: ZmqMessage) -> Option<Invocation> {
    let flow = &ctx.metrics.zmq_in;
    Flow::bump(&flow.received);
    let mut frames = message.into_vec();
    let Some(body) = frames.pop() else {
        // A message of no frames at all: nothing to hand over, counted like a bad body.
        Flow::bump(&flow.invalid);
        warn!(channel = %channel.name, "empty ZeroMQ message dropped");
        return None;
    };
    let body = match payload(channel.data_format, &body) {
        Ok(body) => body,
        Err(e) => {
            Flow::bump(&flow.invalid);
            warn!(channel = %channel.name, error = %e, "ZeroMQ message dropped");
            return None;
        }
    };
    let before: Vec<Value> = frames
        .iter()
        .map(|f| Value::String(String::from_utf8_lossy(f).into_owned()))
        .collect();
    Some(
        ServiceInvocation::new(&channel.service, ChannelKind::Zmq, body)
            .with_channel_name(&channel.name)
            .with_meta(
                "zmq",
                json!({"socket_type": channel.socket_type, "frames": before}),
            ),
    )
}

/// Sends what was received to Redis, whatever has queued as one pipeline, each batch retried
/// until Redis has it. Ends when the receiving side is gone and the queue is empty, or, once
/// `cancel` fired, at the first failure (what it then holds is lost, logged and counted).
async fn hand_over(
    channel: String,
    ctx: Ctx,
    cancel: CancellationToken,
    mut received: mpsc::Receiver<Invocation>,
) {
    let flow = &ctx.metrics.zmq_in;
    let mut batch = Vec::with_capacity(HAND_OVER_BATCH);
    let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(2));
    while received.recv_many(&mut batch, HAND_OVER_BATCH).await > 0 {
        loop {
            match ctx.broker.invoke_many(&batch).await {
                Ok(()) => {
                    Flow::add(&flow.done, batch.len() as u64);
                    backoff.reset();
                    break;
                }
                Err(e) => {
                    Flow::add(&flow.failed, batch.len() as u64);
                    warn!(%channel, error = %e, count = batch.len(), "cannot hand ZeroMQ messages over; retrying");
                }
            }
            if cancel.is_cancelled() {
                received.close();
                let lost = batch.len() + received.len();
                Flow::add(&flow.lost, lost as u64);
                error!(%channel, lost, "stopped while Redis was unreachable: ZeroMQ messages lost");
                return;
            }
            tokio::select! {
                () = tokio::time::sleep(backoff.next_delay()) => {}
                () = cancel.cancelled() => {}
            }
        }
        batch.clear();
    }
}
