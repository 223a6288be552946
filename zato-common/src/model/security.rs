//! Security definitions that HTTP channels refer to by name.

use serde::{Deserialize, Serialize};

use super::validation::{ValidationError, check_name, check_not_empty};
use super::{ConfigKind, ConfigObject};
use crate::Secret;

/// How a caller proves who it is.
///
/// The secret fields hold what the user sent when the definition is created; the server
/// stores a hash in their place, so the config store never holds a secret in clear.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SecurityDefinition {
    /// HTTP basic authentication (RFC 7617).
    BasicAuth {
        name: String,
        username: String,
        password: Secret,
    },
    /// A key sent in a request header.
    Apikey {
        name: String,
        /// The header that carries the key, e.g. `X-API-Key`.
        header: String,
        key: Secret,
    },
}

impl ConfigObject for SecurityDefinition {
    const KIND: ConfigKind = ConfigKind::Security;

    fn name(&self) -> &str {
        match self {
            SecurityDefinition::BasicAuth { name, .. }
            | SecurityDefinition::Apikey { name, .. } => name,
        }
    }

    fn validate(&self) -> Result<(), ValidationError> {
        check_name("name", self.name())?;
        match self {
            SecurityDefinition::BasicAuth {
                username, password, ..
            } => {
                check_not_empty("username", username)?;
                if username.contains(':') {
                    return Err(ValidationError::new(
                        "username",
                        "must not contain ':' (RFC 7617)",
                    ));
                }
                check_not_empty("password", password.expose())
            }
            SecurityDefinition::Apikey { header, key, .. } => {
                let valid_header = !header.is_empty()
                    && header
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
                if !valid_header {
                    return Err(ValidationError::new(
                        "header",
                        "must be an HTTP header name such as X-API-Key",
                    ));
                }
                check_not_empty("key", key.expose())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn both_types_parse_and_validate() {
        let basic: SecurityDefinition = serde_json::from_value(
            json!({"name": "b", "type": "basic_auth", "username": "u", "password": "p"}),
        )
        .expect("basic");
        assert!(basic.validate().is_ok());
        let key: SecurityDefinition = serde_json::from_value(
            json!({"name": "k", "type": "apikey", "header": "X-API-Key", "key": "s3"}),
        )
        .expect("apikey");
        assert!(key.validate().is_ok());
        assert!(
            !format!("{key:?}").contains("s3"),
            "debug output hides the key"
        );
    }

    #[test]
    fn refuses_bad_definitions() {
        let bad: SecurityDefinition = serde_json::from_value(
            json!({"name": "b", "type": "basic_auth", "username": "a:b", "password": "p"}),
        )
        .expect("parses");
        assert_eq!(bad.validate().unwrap_err().field, "username");
        let bad: SecurityDefinition = serde_json::from_value(
            json!({"name": "k", "type": "apikey", "header": "X Key", "key": "s"}),
        )
        .expect("parses");
        assert_eq!(bad.validate().unwrap_err().field, "header");
        let unknown =
            serde_json::from_value::<SecurityDefinition>(json!({"name": "x", "type": "oauth"}));
        assert!(unknown.is_err());
    }
}
