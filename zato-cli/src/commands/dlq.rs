//! `zato dlq list|replay|purge`: the dead-letter streams, straight from Redis.
//!
//! The admin API has no dead-letter routes yet, so this talks to the cluster's Redis through
//! the broker's own [`DeadLetters`], on a small runtime of its own.

use anyhow::Context as _;
use serde_json::{Value, json};
use zato_broker::{Broker, BrokerConfig, DEAD_LETTER_SOURCES, DeadLetters};
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

fn sources(source: Option<DlqSource>) -> Vec<&'static str> {
    match source {
        Some(source) => vec![source.as_str()],
        None => DEAD_LETTER_SOURCES.to_vec(),
    }
}

async fn act(dead: &DeadLetters, out: Output, action: &DlqAction) -> anyhow::Result<()> {
    match action {
        DlqAction::List { source, limit } => {
            let mut letters = Vec::new();
            for source in sources(*source) {
                letters.extend(dead.list(source, *limit).await?);
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
        DlqAction::Replay { source, ids } => {
            let ids = (!ids.is_empty()).then_some(ids.as_slice());
            let mut report = serde_json::Map::new();
            for source in sources(*source) {
                let outcome = dead.replay(source, ids).await?;
                report.insert(source.into(), serde_json::to_value(outcome)?);
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
        DlqAction::Purge { source } => {
            let mut report = serde_json::Map::new();
            for source in sources(*source) {
                report.insert(source.into(), json!(dead.purge(source).await?));
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
