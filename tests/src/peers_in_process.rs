//! Broker-level members the broker tests run in the test process, on any Redis: a 1:all
//! member recording what it got, a producer of numbered 1:all messages, and a server that
//! answers requests. One copy each, for one Redis and for a Redis Cluster alike.

use std::sync::{Arc, Mutex};

use serde_json::json;
use zato_broker::{
    BroadcastConsumer, Broker, ConsumerHandle, Delivery, HandlerError, Queue, QueueConsumer,
    Router, Target,
};
use zato_common::Action;

/// The `seq` of every 1:all message a member applied, in order.
pub type Received = Arc<Mutex<Vec<u64>>>;

/// A 1:all member that records the `seq` of every `SchedulerJobExecute` it applies
/// (`u64::MAX` for one without).
pub fn all_member(broker: Broker, received: &Received) -> ConsumerHandle {
    let received = received.clone();
    let router = Router::new().route(Action::SchedulerJobExecute, move |d: Delivery| {
        let received = received.clone();
        async move {
            let seq = d.payload::<serde_json::Value>().unwrap_or_default()["seq"]
                .as_u64()
                .unwrap_or(u64::MAX);
            received.lock().expect("received").push(seq);
            Ok(())
        }
    });
    BroadcastConsumer::new(broker, router).spawn()
}

/// Publishes `{"seq": n}` to 1:all for every `n` of `range`, 100 at a time.
pub async fn publish_all(producer: &Broker, range: std::ops::Range<u64>) {
    let batch: Vec<_> = range
        .map(|seq| producer.envelope(Action::SchedulerJobExecute, json!({"seq": seq})))
        .collect();
    for chunk in batch.chunks(100) {
        producer
            .publish_many(Target::All, chunk)
            .await
            .expect("publish to 1:all");
    }
}

/// A 1:any consumer on `server` that answers every `ServiceInvoke` request with
/// `{"echo": <its payload>, "by": <the server's member name>}`.
pub fn echo_server(server: &Broker) -> ConsumerHandle {
    let replier = server.clone();
    let router = Router::new().route(Action::ServiceInvoke, move |d: Delivery| {
        let replier = replier.clone();
        async move {
            let answer = json!({"echo": d.envelope.payload, "by": replier.member()});
            replier
                .reply(&d.envelope, answer)
                .await
                .map_err(|e| HandlerError::Retry(e.to_string()))
        }
    });
    QueueConsumer::new(server.clone(), Queue::Server, router).spawn()
}
