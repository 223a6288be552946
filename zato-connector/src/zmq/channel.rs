//! A ZeroMQ channel: a PULL or SUB socket whose every message is handed over to the servers.
//!
//! A multipart message's last frame is the body; the frames before it (a SUB topic, say) go
//! to `meta["zmq"]["frames"]` as text. A SUB socket with no prefixes subscribes to
//! everything; with prefixes it gets only messages whose first frame starts with one of them
//! (ZeroMQ matches the prefix against the first frame).
//!
//! ZeroMQ has no acknowledgements: a message is in the connector's hands once received, so
//! its hand-over is retried (with back-off) until Redis has it. Meanwhile the socket is not
//! read, which pushes back on the senders. Only a stop during a Redis outage loses the
//! message held at that moment; that is logged and counted.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};
use zato_broker::Backoff;
use zato_common::ChannelKind;
use zato_common::model::{ZmqChannel, ZmqInSocket};
use zeromq::{PullSocket, Socket, SocketEvent, SocketRecv, SubSocket, ZmqMessage};

use crate::connections::Link;
use crate::handoff::{Invocation, hand_over, payload};
use crate::metrics::Flow;
use crate::worker::Ctx;

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

/// Runs the channel until `cancel` fires.
pub async fn run(channel: ZmqChannel, ctx: Ctx, cancel: CancellationToken) {
    let link = ctx
        .connections
        .register("zmq_channel", &channel.name, channel.address.clone());
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    while !cancel.is_cancelled() {
        link.connecting();
        let error = match open(&channel).await {
            Ok((socket, monitor)) => {
                link.connected();
                backoff.reset();
                info!(channel = %channel.name, address = %channel.address, bind = channel.bind, "ZeroMQ channel open");
                match receive(&channel, &ctx, &cancel, &link, socket, monitor).await {
                    None => break,
                    Some(e) => e,
                }
            }
            Err(e) => e,
        };
        let delay = backoff.next_delay();
        warn!(channel = %channel.name, address = %channel.address, error = %error, ?delay, "ZeroMQ channel lost its peer; reopening");
        link.failed(&error);
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = cancel.cancelled() => break,
        }
    }
    info!(channel = %channel.name, "ZeroMQ channel stopped");
}

/// Receives until cancelled (`None`) or the socket must be reopened (`Some(why)`).
async fn receive(
    channel: &ZmqChannel,
    ctx: &Ctx,
    cancel: &CancellationToken,
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
                Ok(message) => deliver(channel, ctx, cancel, message).await,
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

/// Hands one message over, retrying until Redis has it or the channel stops.
async fn deliver(channel: &ZmqChannel, ctx: &Ctx, cancel: &CancellationToken, message: ZmqMessage) {
    let flow = &ctx.metrics.zmq_in;
    Flow::bump(&flow.received);
    let mut frames = message.into_vec();
    let Some(body) = frames.pop() else {
        return;
    };
    let body = match payload(channel.data_format, &body) {
        Ok(body) => body,
        Err(e) => {
            Flow::bump(&flow.invalid);
            warn!(channel = %channel.name, error = %e, "ZeroMQ message dropped");
            return;
        }
    };
    let before: Vec<Value> = frames
        .iter()
        .map(|f| Value::String(String::from_utf8_lossy(f).into_owned()))
        .collect();
    let meta = BTreeMap::from([(
        "zmq".to_owned(),
        json!({"socket_type": channel.socket_type, "frames": before}),
    )]);
    let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(2));
    loop {
        let invocation = Invocation {
            service: &channel.service,
            channel: ChannelKind::Zmq,
            channel_name: &channel.name,
            payload: body.clone(),
            meta: meta.clone(),
        };
        match hand_over(&ctx.broker, invocation).await {
            Ok(_) => {
                Flow::bump(&flow.done);
                return;
            }
            Err(e) => {
                Flow::bump(&flow.failed);
                warn!(channel = %channel.name, error = %e, "cannot hand the ZeroMQ message over; retrying");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(backoff.next_delay()) => {}
            () = cancel.cancelled() => {
                error!(channel = %channel.name, "stopped while Redis was unreachable: one ZeroMQ message lost");
                return;
            }
        }
    }
}
