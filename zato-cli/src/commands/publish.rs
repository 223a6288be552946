//! `zato publish amqp NAME BODY` and `zato send zmq NAME BODY`: through an outgoing
//! connection, which the active connector holds.

use anyhow::Context as _;
use serde_json::{Map, Value};

use super::collection::Collection;
use crate::client::AdminClient;
use crate::input;
use crate::output::Output;

pub fn publish_amqp(
    client: &AdminClient,
    out: Output,
    name: &str,
    body: &str,
    routing_key: Option<&str>,
    headers: &[String],
) -> anyhow::Result<()> {
    let mut request = Map::new();
    request.insert("body".into(), input::body(body));
    if let Some(key) = routing_key {
        request.insert("routing_key".into(), Value::String(key.to_owned()));
    }
    let headers = input::pairs("--header", headers)?;
    if !headers.is_empty() {
        request.insert("headers".into(), Value::Object(headers));
    }
    let path = format!("{}/publish", Collection::AMQP_OUTGOING.item_path(name));
    let answer = client
        .post(&path, Some(&Value::Object(request)))
        .with_context(|| format!("cannot publish through '{name}'"))?;
    out.show(&answer, |_| println!("published through '{name}'"));
    Ok(())
}

pub fn send_zmq(client: &AdminClient, out: Output, name: &str, body: &str) -> anyhow::Result<()> {
    let request = serde_json::json!({"body": input::body(body)});
    let path = format!("{}/send", Collection::ZMQ_OUTGOING.item_path(name));
    let answer = client
        .post(&path, Some(&request))
        .with_context(|| format!("cannot send through '{name}'"))?;
    out.show(&answer, |_| println!("sent through '{name}'"));
    Ok(())
}
