//! One call to make: method, parameters, headers and body.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// A call through an outgoing REST connection. What it leaves out comes from the connection:
/// its method, its headers, its data format.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RestCall {
    /// Overrides the connection's method (`GET`, `POST`, ...).
    pub method: Option<String>,
    /// Fill the path's `{param}` segments; the ones left over go to the query string
    /// (an array as a repeated key, `null` left out).
    pub params: Map<String, Value>,
    /// Added to the connection's headers, overriding those of the same name.
    pub headers: BTreeMap<String, String>,
    /// Sent in the connection's data format; none: no body.
    pub body: Option<Value>,
}

impl RestCall {
    /// A call with this method and these parameters.
    pub fn new(method: &str, params: Map<String, Value>) -> Self {
        Self {
            method: Some(method.to_owned()),
            params,
            ..Self::default()
        }
    }

    /// With a body.
    pub fn with_body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    /// With one more header.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.insert(name.to_owned(), value.to_owned());
        self
    }
}
