//! What a service answers.

use serde_json::Value;

/// A response body.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// Sent as `application/json`.
    Json(Value),
    /// Sent as it is, with the response's content type (`text/plain` by default).
    Text(String),
}

/// A service's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub body: Body,
    /// HTTP status for HTTP channels; ignored elsewhere.
    pub status: u16,
    pub content_type: Option<String>,
    pub headers: Vec<(String, String)>,
}

impl Response {
    /// A 200 JSON response.
    pub fn json(value: Value) -> Self {
        Self {
            body: Body::Json(value),
            status: 200,
            content_type: None,
            headers: Vec::new(),
        }
    }

    /// A 200 text response.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            body: Body::Text(text.into()),
            status: 200,
            content_type: None,
            headers: Vec::new(),
        }
    }

    /// The same response with another status.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// The body as JSON (text becomes a JSON string).
    pub fn into_json(self) -> Value {
        match self.body {
            Body::Json(value) => value,
            Body::Text(text) => Value::String(text),
        }
    }
}
