//! What a service is handed.

use std::collections::BTreeMap;

use serde_json::Value;
use zato_common::ChannelKind;

use super::Headers;

/// One request to a service, whatever channel it came through.
#[derive(Debug, Clone)]
pub struct Request {
    /// Correlation id; answered in `X-Zato-CID` and carried to every service it calls.
    pub cid: String,
    pub channel: ChannelKind,
    /// The channel's (or job's) name.
    pub channel_name: Option<String>,
    /// JSON for `json` channels; a JSON string holding the body for `raw` ones.
    pub payload: Value,
    /// The HTTP headers the request came with (empty for other channels; AMQP headers are
    /// in `meta`).
    pub headers: Headers,
    /// `{name}` segments of the channel's URL path.
    pub path_params: BTreeMap<String, String>,
    /// The query string's parameters.
    pub query: BTreeMap<String, String>,
    /// Whatever else the channel knows (a job's scheduled instant, AMQP properties).
    pub meta: BTreeMap<String, Value>,
}

impl Request {
    /// A request with only a payload, from `channel`.
    pub fn new(cid: impl Into<String>, channel: ChannelKind, payload: Value) -> Self {
        Self {
            cid: cid.into(),
            channel,
            channel_name: None,
            payload,
            headers: Headers::default(),
            path_params: BTreeMap::new(),
            query: BTreeMap::new(),
            meta: BTreeMap::new(),
        }
    }
}

/// A new correlation id.
pub fn new_cid() -> String {
    zato_common::ids::new_cid()
}
