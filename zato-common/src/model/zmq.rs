//! ZeroMQ channels (incoming sockets) and outgoing connections.

use serde::{Deserialize, Serialize};

use super::validation::{ValidationError, check_name};
use super::{ConfigKind, ConfigObject, DataFormat, default_true};

/// Socket types a channel can receive on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum ZmqInSocket {
    Pull,
    Sub,
}

/// Socket types an outgoing connection can send on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum ZmqOutSocket {
    Push,
    Pub,
}

/// Receives on a ZeroMQ socket and hands every message to a service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ZmqChannel {
    pub name: String,
    /// `tcp://host:port` or `ipc://path`.
    pub address: String,
    pub socket_type: ZmqInSocket,
    /// Bind to the address (else connect to it).
    #[serde(default)]
    pub bind: bool,
    /// For SUB sockets: the prefixes to subscribe to; all messages when empty.
    #[serde(default)]
    pub sub_prefixes: Vec<String>,
    pub service: String,
    #[serde(default)]
    pub data_format: DataFormat,
    #[serde(default = "default_true")]
    pub is_active: bool,
}

/// Sends what services give it to a ZeroMQ socket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ZmqOutgoing {
    pub name: String,
    pub address: String,
    pub socket_type: ZmqOutSocket,
    #[serde(default)]
    pub bind: bool,
    #[serde(default = "default_true")]
    pub is_active: bool,
}

fn check_address(address: &str) -> Result<(), ValidationError> {
    let valid = match address.split_once("://") {
        Some(("tcp", rest)) => rest.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty() && (port == "*" || port.parse::<u16>().is_ok_and(|p| p > 0))
        }),
        Some(("ipc", rest)) => !rest.is_empty(),
        _ => false,
    };
    if valid {
        Ok(())
    } else {
        Err(ValidationError::new(
            "address",
            format!("'{address}' is not tcp://host:port or ipc://path"),
        ))
    }
}

impl ConfigObject for ZmqChannel {
    const KIND: ConfigKind = ConfigKind::ZmqChannel;

    fn name(&self) -> &str {
        &self.name
    }

    fn validate(&self) -> Result<(), ValidationError> {
        check_name("name", &self.name)?;
        check_address(&self.address)?;
        check_name("service", &self.service)?;
        if self.socket_type == ZmqInSocket::Pull && !self.sub_prefixes.is_empty() {
            return Err(ValidationError::new(
                "sub_prefixes",
                "are only for SUB sockets",
            ));
        }
        Ok(())
    }
}

impl ConfigObject for ZmqOutgoing {
    const KIND: ConfigKind = ConfigKind::ZmqOutgoing;

    fn name(&self) -> &str {
        &self.name
    }

    fn validate(&self) -> Result<(), ValidationError> {
        check_name("name", &self.name)?;
        check_address(&self.address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn addresses_are_checked() {
        for good in ["tcp://127.0.0.1:5555", "tcp://*:5555", "ipc:///tmp/x.sock"] {
            assert!(check_address(good).is_ok(), "{good}");
        }
        for bad in [
            "127.0.0.1:5555",
            "tcp://host",
            "tcp://:1",
            "udp://x:1",
            "tcp://h:0",
        ] {
            assert!(check_address(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn socket_types_are_upper_case_names() {
        let ch: ZmqChannel = serde_json::from_value(
            json!({"name": "z", "address": "tcp://127.0.0.1:1", "socket_type": "SUB", "sub_prefixes": ["a"], "service": "s"}),
        )
        .expect("parses");
        assert!(ch.validate().is_ok());
        let bad = serde_json::from_value::<ZmqOutgoing>(
            json!({"name": "z", "address": "tcp://a:1", "socket_type": "PULL"}),
        );
        assert!(bad.is_err(), "PULL is not an outgoing socket type");
    }
}
