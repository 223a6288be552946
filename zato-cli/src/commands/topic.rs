//! `zato topic list|get|create|edit|delete|publish`.
//!
//! Publishing here goes through the admin API, as publisher `admin`; applications publish
//! through `POST /zato/pubsub/topics/{name}` with their own credentials instead.

use anyhow::Context as _;
use serde_json::{Map, Value};

use super::collection::Collection;
use crate::cli::{TopicAction, TopicPublishArgs};
use crate::client::AdminClient;
use crate::input;
use crate::output::Output;

/// What `get` and `list` add to a stored topic.
const COMPUTED: &[&str] = &["figures"];

pub fn run(client: &AdminClient, out: Output, action: &TopicAction) -> anyhow::Result<()> {
    let topics = Collection::TOPIC;
    match action {
        TopicAction::Crud(crud) => topics.run(client, out, crud),
        TopicAction::Edit(args) => topics.edit(client, out, args, COMPUTED),
        TopicAction::Publish(args) => publish(client, out, args),
    }
}

fn publish(client: &AdminClient, out: Output, args: &TopicPublishArgs) -> anyhow::Result<()> {
    let topic = &args.topic;
    let mut request = Map::new();
    request.insert("data".into(), input::json("--data", &args.data)?);
    let attributes = input::pairs("--attribute", &args.attributes)?;
    if !attributes.is_empty() {
        request.insert("attributes".into(), Value::Object(attributes));
    }
    if let Some(key) = &args.ordering_key {
        request.insert("ordering_key".into(), Value::String(key.clone()));
    }
    if let Some(ms) = args.expires_in_ms {
        request.insert("expires_in_ms".into(), ms.into());
    }
    let path = format!("{}/publish", Collection::TOPIC.item_path(topic));
    let answer = client
        .post(&path, Some(&Value::Object(request)))
        .with_context(|| format!("cannot publish to topic '{topic}'"))?;
    out.show(&answer, |answer| {
        // The id alone, so that `id=$(zato topic publish ...)` works.
        println!(
            "{}",
            answer.get("id").and_then(Value::as_str).unwrap_or("-")
        );
    });
    Ok(())
}
