//! `zato outgoing amqp|zmq|rest|sql list|get|create|delete|ping` and
//! `zato secrets new-key|reseal`.

use anyhow::Context as _;
use serde_json::Value;
use zato_common::sealed::Keyring;

use super::collection::Collection;
use crate::cli::{OutgoingAction, OutgoingKind, SecretsAction};
use crate::client::{AdminClient, ClientError};
use crate::output::Output;

pub fn run(
    client: &AdminClient,
    out: Output,
    kind: OutgoingKind,
    action: &OutgoingAction,
) -> anyhow::Result<()> {
    let collection = match kind {
        OutgoingKind::Amqp => Collection::AMQP_OUTGOING,
        OutgoingKind::Zmq => Collection::ZMQ_OUTGOING,
        OutgoingKind::Rest => Collection::REST_OUTGOING,
        OutgoingKind::Sql => Collection::SQL_OUTGOING,
    };
    match action {
        OutgoingAction::Crud(crud) => collection.run(client, out, crud),
        OutgoingAction::Ping { name } => {
            if matches!(kind, OutgoingKind::Amqp | OutgoingKind::Zmq) {
                anyhow::bail!(
                    "ping is for REST and SQL connections; the connector's health shows AMQP and ZeroMQ ones"
                );
            }
            let answer = client
                .post(&format!("{}/ping", collection.item_path(name)), None)
                .with_context(|| format!("ping of {} '{name}' failed", collection.noun))?;
            out.show(&answer, |answer| {
                let took = answer.get("took_ms").and_then(Value::as_f64).unwrap_or(0.0);
                match answer.get("status").and_then(Value::as_u64) {
                    Some(status) => println!("'{name}' answered {status} in {took:.1} ms"),
                    None => println!("'{name}' answered in {took:.1} ms"),
                }
            });
            Ok(())
        }
    }
}

pub fn secrets(
    client: impl FnOnce() -> Result<AdminClient, ClientError>,
    out: Output,
    action: &SecretsAction,
) -> anyhow::Result<()> {
    match action {
        SecretsAction::NewKey => {
            println!("{}", Keyring::generate_key()?);
            Ok(())
        }
        SecretsAction::Reseal => {
            let answer = client()?
                .post("/outgoing/reseal", None)
                .context("cannot seal the secrets again")?;
            out.show(&answer, |answer| {
                let resealed = answer["resealed"].as_array().map_or(0, Vec::len);
                println!(
                    "{resealed} connection(s) sealed again with key {}",
                    answer["key_id"].as_str().unwrap_or("-")
                );
            });
            Ok(())
        }
    }
}
