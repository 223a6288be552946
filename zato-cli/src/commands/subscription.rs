//! `zato subscription list|get|create|edit|delete|seek|pull|ack|nack`.
//!
//! Pull, ack and nack go through the admin API, so an operator can look into a pull
//! subscription (or drain it) without its subscriber's credentials.

use std::time::Duration;

use anyhow::Context as _;
use serde_json::{Map, Value, json};

use super::collection::Collection;
use crate::cli::{PullArgs, SeekArgs, SubscriptionAction};
use crate::client::AdminClient;
use crate::output::{Output, cell, table};

/// What `get` and `list` add to a stored subscription.
const COMPUTED: &[&str] = &["figures"];

/// How much longer than the pull's own wait the answer may take to arrive.
const PULL_MARGIN: Duration = Duration::from_secs(30);

pub fn run(client: &AdminClient, out: Output, action: &SubscriptionAction) -> anyhow::Result<()> {
    let subscriptions = Collection::SUBSCRIPTION;
    match action {
        SubscriptionAction::Crud(crud) => subscriptions.run(client, out, crud),
        SubscriptionAction::Edit(args) => subscriptions.edit(client, out, args, COMPUTED),
        SubscriptionAction::Seek(args) => seek(client, out, args),
        SubscriptionAction::Pull(args) => pull(client, out, args),
        SubscriptionAction::Ack { name, ids } => {
            let answer = ack(client, name, ids)?;
            out.show(&answer, |answer| {
                println!("acknowledged {}", cell(answer.get("acknowledged")));
            });
            Ok(())
        }
        SubscriptionAction::Nack { name, ids } => {
            let answer = client
                .post(&action_path(name, "nack"), Some(&json!({"ids": ids})))
                .with_context(|| format!("cannot return messages of subscription '{name}'"))?;
            out.show(&answer, |answer| {
                println!("returned {}", cell(answer.get("returned")));
            });
            Ok(())
        }
    }
}

/// `/subscriptions/<name>/<action>`.
fn action_path(name: &str, action: &str) -> String {
    format!("{}/{action}", Collection::SUBSCRIPTION.item_path(name))
}

fn seek(client: &AdminClient, out: Output, args: &SeekArgs) -> anyhow::Result<()> {
    let name = &args.name;
    let target = &args.target;
    // clap lets exactly one of the three through.
    let request = match (target.to, target.time, &target.message_id) {
        (Some(end), _, _) => json!({"to": end.as_str()}),
        (None, Some(ms), _) => json!({"time_ms": ms}),
        (None, None, Some(id)) => json!({"message_id": id}),
        (None, None, None) => anyhow::bail!("give --to, --time or --message-id"),
    };
    let answer = client
        .post(&action_path(name, "seek"), Some(&request))
        .with_context(|| format!("cannot seek subscription '{name}'"))?;
    out.show(&answer, |answer| {
        println!(
            "subscription '{name}' now at {}, backlog {}",
            cell(answer.get("position")),
            cell(answer.get("backlog"))
        );
    });
    Ok(())
}

fn ack(client: &AdminClient, name: &str, ids: &[String]) -> anyhow::Result<Value> {
    client
        .post(&action_path(name, "ack"), Some(&json!({"ids": ids})))
        .with_context(|| format!("cannot acknowledge messages of subscription '{name}'"))
}

/// Prints what a pull gives and, with `--ack`, acknowledges it only then: a message is
/// never acknowledged unseen, and one printed but not acknowledged (the ack failed) comes
/// back at its deadline.
fn pull(client: &AdminClient, out: Output, args: &PullArgs) -> anyhow::Result<()> {
    let name = &args.name;
    let mut request = Map::new();
    if let Some(max) = args.max {
        request.insert("max".into(), max.into());
    }
    if let Some(wait_ms) = args.wait_ms {
        request.insert("wait_ms".into(), wait_ms.into());
    }
    let timeout = Duration::from_millis(args.wait_ms.unwrap_or(0)) + PULL_MARGIN;
    let answer = client
        .post_waiting(&action_path(name, "pull"), &Value::Object(request), timeout)
        .with_context(|| format!("cannot pull from subscription '{name}'"))?;
    let messages = answer
        .get("messages")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    out.show(&answer, |_| print_messages(&messages));
    if !args.ack || messages.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = messages
        .iter()
        .filter_map(|m| m.get("id").and_then(Value::as_str).map(str::to_owned))
        .collect();
    let acked = ack(client, name, &ids)?;
    let acknowledged = acked.get("acknowledged").and_then(Value::as_u64);
    let all = u64::try_from(ids.len()).ok();
    if out.json {
        // Standard output holds one JSON document; only a shortfall is worth a word.
        if acknowledged != all {
            eprintln!(
                "zato: acknowledged {} of {} (the others' ack deadline had passed)",
                cell(acked.get("acknowledged")),
                ids.len()
            );
        }
    } else {
        println!(
            "\nacknowledged {} of {}",
            cell(acked.get("acknowledged")),
            ids.len()
        );
    }
    Ok(())
}

fn print_messages(messages: &[Value]) {
    if messages.is_empty() {
        println!("(no messages)");
        return;
    }
    let rows: Vec<Vec<String>> = messages
        .iter()
        .map(|m| {
            vec![
                cell(m.get("id")),
                published_at(m.get("published_at_ms")),
                cell(m.get("deliveries")),
                cell(m.get("publisher")),
                cell(m.get("ordering_key")),
                cell(m.get("attributes")),
                cell(m.get("data")),
            ]
        })
        .collect();
    table(
        &[
            "id",
            "published",
            "deliveries",
            "publisher",
            "ordering_key",
            "attributes",
            "data",
        ],
        &rows,
    );
}

/// Milliseconds since the epoch as an RFC 3339 time (UTC); as they are if out of range.
fn published_at(value: Option<&Value>) -> String {
    value
        .and_then(Value::as_i64)
        .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        .map_or_else(|| cell(value), |t| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_times_read_as_rfc_3339() {
        assert_eq!(published_at(Some(&json!(1_500))), "1970-01-01T00:00:01.5Z");
        assert_eq!(published_at(None), "-");
        assert_eq!(published_at(Some(&json!("x"))), "x");
    }

    /// The name is one path segment, whatever it holds.
    #[test]
    fn action_paths_escape_the_name() {
        assert_eq!(action_path("a/b", "ack"), "/subscriptions/a%2Fb/ack");
    }
}
