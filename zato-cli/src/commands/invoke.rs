//! `zato invoke SERVICE [--payload JSON] [--async]`.

use serde_json::Value;

use super::collection::escape_segment;
use crate::client::AdminClient;
use crate::input;
use crate::output::{Output, print_response};

pub fn run(
    client: &AdminClient,
    out: Output,
    service: &str,
    payload: Option<&str>,
    is_async: bool,
) -> anyhow::Result<()> {
    let payload = match payload {
        Some(text) => input::json("--payload", text)?,
        None => Value::Null,
    };
    let route = if is_async { "invoke-async" } else { "invoke" };
    let path = format!("/{route}/{}", escape_segment(service));
    let body = (!payload.is_null()).then_some(&payload);
    let answer = client.post(&path, body)?;
    out.show(&answer, |answer| {
        if is_async {
            let cid = answer.get("cid").and_then(Value::as_str).unwrap_or("-");
            println!("queued {service}, cid {cid}");
        } else {
            print_response(answer);
        }
    });
    Ok(())
}
