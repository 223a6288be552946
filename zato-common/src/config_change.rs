//! The payload of every 1:all message that announces a configuration change.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ConfigKind;

/// One object created, edited, renamed or deleted.
///
/// The change is written to the config store and appended to the 1:all stream in one atomic
/// step, so the stream id of its message orders it against snapshots: a member that loaded a
/// snapshot taken at stream position P skips every change at or before P (it is in the
/// snapshot already; applying it again would briefly bring back older state).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigChange {
    pub kind: ConfigKind,
    pub name: String,
    /// On a rename: the name the object had before, which members must forget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_name: Option<String>,
    /// The object as stored; `None` when it was deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}
