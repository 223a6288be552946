//! The demo objects: an HTTP channel to `zato.echo`, an interval job to `zato.record`, and an
//! outgoing REST connection `crm` (to that channel, standing in for a CRM) that the README's
//! Python service calls; created unless they exist (a second run finds them in Redis).

use serde_json::{Value, json};

use super::error::{QuickstartError, Result};
use crate::client::{AdminClient, ClientError};

pub const CHANNEL: &str = "demo-echo";
pub const JOB: &str = "demo-record";
pub const CRM: &str = "crm";

pub fn ensure(url: &str, token: &str) -> Result<()> {
    let client = AdminClient::new(url, Some(token), None).map_err(demo_error)?;
    ensure_one(
        &client,
        "/channels/http",
        CHANNEL,
        json!({"name": CHANNEL, "url_path": "/demo/echo", "service": "zato.echo"}),
    )?;
    ensure_one(
        &client,
        "/jobs",
        JOB,
        json!({"name": JOB, "service": "zato.record", "kind": "interval",
            "interval": {"seconds": 5}, "payload": {"key": "demo"}}),
    )?;
    ensure_one(
        &client,
        "/outgoing/rest",
        CRM,
        json!({"name": CRM, "address": url, "path": "/demo/echo"}),
    )
}

fn ensure_one(client: &AdminClient, path: &str, name: &str, object: Value) -> Result<()> {
    match client.get(&format!("{path}/{name}")) {
        Ok(_) => Ok(()),
        Err(ClientError::Api { status: 404, .. }) => client
            .post(path, Some(&object))
            .map(drop)
            .map_err(demo_error),
        Err(e) => Err(demo_error(e)),
    }
}

fn demo_error(error: ClientError) -> QuickstartError {
    QuickstartError::Demo(error.to_string())
}
