//! `zato dlq list|replay|purge`: the dead-letter streams, straight from Redis: the servers',
//! the connector's, the broadcasts' and, with `--subscription`, a pub/sub subscription's.
//!
//! The admin API has no dead-letter routes yet, so this talks to the cluster's Redis through
//! the broker's own [`DeadLetters`], on a small runtime of its own.

use anyhow::Context as _;
use serde_json::{Value, json};
use zato_broker::{Broker, BrokerConfig, DEAD_LETTER_SOURCES, DeadLetters, subscription_source};
use zato_common::secret::url_without_password;
use zato_common::settings::BrokerSettings;

use crate::cli::{DlqAction, DlqSource, RedisArgs};
use crate::output::{Output, cell, table};

pub fn run(redis: &RedisArgs, out: Output, action: &DlqAction) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start a runtime")?;
    runtime.block_on(async {
        let broker = Broker::new(BrokerConfig {
            redis_url: redis.redis_url.clone(),
            cluster: redis.cluster.clone(),
            member: "zato-cli".into(),
            role: "cli".into(),
            settings: BrokerSettings {
                redis_ca_path: redis.redis_ca_path.clone().unwrap_or_default(),
                partitions: redis.partitions,
                ..BrokerSettings::default()
            },
        })
        .with_context(|| {
            format!(
                "cannot use Redis at {}",
                url_without_password(&redis.redis_url)
            )
        })?;
        let result = act(&DeadLetters::new(broker.clone()), out, action)
            .await
            .with_context(|| format!("cannot reach {}", url_without_password(&redis.redis_url)));
        broker.shutdown();
        result
    })
}

/// The sources an action is about: the one given, a subscription's (`sub:<name>`), or else
/// every fixed one (each subscription's are only ever named: there may be many).
fn sources(source: Option<DlqSource>, subscription: Option<&str>) -> Vec<String> {
    match (source, subscription) {
        (Some(source), _) => vec![source.as_str().to_owned()],
        (None, Some(subscription)) => vec![subscription_source(subscription)],
        (None, None) => DEAD_LETTER_SOURCES
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
    }
}

async fn act(dead: &DeadLetters, out: Output, action: &DlqAction) -> anyhow::Result<()> {
    match action {
        DlqAction::List {
            source,
            subscription,
            limit,
        } => {
            let mut letters = Vec::new();
            for source in sources(*source, subscription.as_deref()) {
                letters.extend(dead.list(&source, *limit).await?);
            }
            let value = serde_json::to_value(&letters)?;
            out.show(&value, |_| {
                if letters.is_empty() {
                    println!("(no dead letters)");
                    return;
                }
                let rows: Vec<Vec<String>> = letters
                    .iter()
                    .map(|l| {
                        vec![
                            l.source.clone(),
                            l.id.clone(),
                            l.deliveries.to_string(),
                            l.reason.clone(),
                            action_of(&l.raw),
                        ]
                    })
                    .collect();
                table(&["source", "id", "deliveries", "reason", "action"], &rows);
            });
        }
        DlqAction::Replay {
            source,
            subscription,
            ids,
        } => {
            let ids = (!ids.is_empty()).then_some(ids.as_slice());
            let mut report = serde_json::Map::new();
            for source in sources(*source, subscription.as_deref()) {
                let outcome = dead.replay(&source, ids).await?;
                report.insert(source, serde_json::to_value(outcome)?);
            }
            let value = Value::Object(report);
            out.show(&value, |value| {
                for (source, outcome) in value.as_object().into_iter().flatten() {
                    println!(
                        "{source}: replayed {}, skipped {} (not envelopes)",
                        cell(outcome.get("replayed")),
                        cell(outcome.get("skipped"))
                    );
                }
            });
        }
        DlqAction::Purge {
            source,
            subscription,
        } => {
            let mut report = serde_json::Map::new();
            for source in sources(*source, subscription.as_deref()) {
                let purged = dead.purge(&source).await?;
                report.insert(source, json!(purged));
            }
            let value = Value::Object(report);
            out.show(&value, |value| {
                for (source, count) in value.as_object().into_iter().flatten() {
                    println!("{source}: purged {}", cell(Some(count)));
                }
            });
        }
    }
    Ok(())
}

/// The action of a dead-lettered envelope, for the listing; `-` when it is not one.
fn action_of(raw: &str) -> String {
    serde_json::from_str::<Value>(raw)
        .ok()
        .and_then(|v| v.get("action").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| "-".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subscription_is_its_own_source() {
        assert_eq!(sources(None, Some("billing")), ["sub:billing"]);
        assert_eq!(sources(Some(DlqSource::Connector), None), ["connector"]);
        assert_eq!(sources(None, None), DEAD_LETTER_SOURCES);
    }
}
