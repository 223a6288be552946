//! Security definitions as the server keeps them: secrets hashed, checks in constant time.
//!
//! A secret is stored as `sha256$<salt>$<digest>`, the SHA-256 of a random per-definition
//! salt followed by the secret. A fast hash is the right trade here: the check runs on every
//! request of a protected channel, and API keys are long random strings that a slow
//! password hash would not make any safer. Digests are compared in constant time.

use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};
use zato_common::Secret;
use zato_common::model::SecurityDefinition;

const SCHEME: &str = "sha256";

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthFailure {
    /// No credentials of the right kind (401, with this `WWW-Authenticate` challenge).
    Missing { challenge: String },
    /// Credentials that do not match (403).
    Wrong,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn digest(salt: &str, secret: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(salt.as_bytes());
    hasher.update(secret.as_bytes());
    hex(&hasher.finalize())
}

/// Hashes a secret for storage.
pub fn hash_secret(secret: &str) -> String {
    let salt = uuid::Uuid::new_v4().simple().to_string();
    format!("{SCHEME}${salt}${}", digest(&salt, secret))
}

/// Whether a stored value is already a hash (and not a secret in clear).
pub fn is_hashed(stored: &str) -> bool {
    let mut parts = stored.split('$');
    parts.next() == Some(SCHEME)
        && parts.next().is_some_and(|s| !s.is_empty())
        && parts.next().is_some_and(|d| d.len() == 64)
        && parts.next().is_none()
}

/// Compares without an early exit, so the time taken says nothing about where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    std::hint::black_box(a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y))) == 0
}

/// Whether `secret` matches the stored hash.
pub fn verify_secret(secret: &str, stored: &str) -> bool {
    let mut parts = stored.splitn(3, '$');
    let (Some(SCHEME), Some(salt), Some(expected)) = (parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    constant_time_eq(digest(salt, secret).as_bytes(), expected.as_bytes())
}

/// The definition with its secret replaced by a hash, for the config store.
pub fn seal(definition: SecurityDefinition) -> SecurityDefinition {
    match definition {
        SecurityDefinition::BasicAuth {
            name,
            username,
            password,
        } => SecurityDefinition::BasicAuth {
            name,
            username,
            password: Secret::new(hash_secret(password.expose())),
        },
        SecurityDefinition::Apikey { name, header, key } => SecurityDefinition::Apikey {
            name,
            header,
            key: Secret::new(hash_secret(key.expose())),
        },
    }
}

/// The definition as the admin API shows it: every field but the secret.
pub fn public_view(definition: &SecurityDefinition) -> Value {
    let mut value = serde_json::to_value(definition).unwrap_or(Value::Null);
    if let Some(object) = value.as_object_mut() {
        object.remove("password");
        object.remove("key");
    }
    value
}

/// Checks a request's credentials against a (sealed) definition; `header` looks up a
/// request header by (case-insensitive) name.
pub fn check<'h>(
    definition: &SecurityDefinition,
    header: impl Fn(&str) -> Option<&'h str>,
) -> Result<(), AuthFailure> {
    match definition {
        SecurityDefinition::BasicAuth {
            username, password, ..
        } => {
            let missing = || AuthFailure::Missing {
                challenge: "Basic realm=\"zato\", charset=\"UTF-8\"".into(),
            };
            let value = header("authorization").ok_or_else(missing)?;
            let encoded = value
                .strip_prefix("Basic ")
                .or_else(|| value.strip_prefix("basic "))
                .ok_or_else(missing)?;
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|_| AuthFailure::Wrong)?;
            let decoded = String::from_utf8(decoded).map_err(|_| AuthFailure::Wrong)?;
            let (user, pass) = decoded.split_once(':').ok_or(AuthFailure::Wrong)?;
            // Both compared, always, so timing does not tell which one was wrong.
            let user_ok = constant_time_eq(user.as_bytes(), username.as_bytes());
            let pass_ok = verify_secret(pass, password.expose());
            if user_ok & pass_ok {
                Ok(())
            } else {
                Err(AuthFailure::Wrong)
            }
        }
        SecurityDefinition::Apikey {
            header: name, key, ..
        } => {
            let given = header(&name.to_ascii_lowercase()).ok_or_else(|| AuthFailure::Missing {
                challenge: format!("ApiKey header=\"{name}\""),
            })?;
            if verify_secret(given, key.expose()) {
                Ok(())
            } else {
                Err(AuthFailure::Wrong)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, pass: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
        )
    }

    #[test]
    fn hashes_verify_and_never_hold_the_secret() {
        let stored = hash_secret("s3cret");
        assert!(is_hashed(&stored) && !stored.contains("s3cret"));
        assert!(verify_secret("s3cret", &stored));
        assert!(!verify_secret("s3cre", &stored));
        assert_ne!(hash_secret("s3cret"), stored, "salted");
        assert!(!verify_secret("x", "garbage"));
    }

    #[test]
    fn basic_auth_is_checked() {
        let def = seal(SecurityDefinition::BasicAuth {
            name: "b".into(),
            username: "alice".into(),
            password: Secret::new("pw"),
        });
        let good = basic("alice", "pw");
        assert_eq!(
            check(&def, |h| (h == "authorization").then_some(good.as_str())),
            Ok(())
        );
        let wrong = basic("alice", "nope");
        assert_eq!(
            check(&def, |h| (h == "authorization").then_some(wrong.as_str())),
            Err(AuthFailure::Wrong)
        );
        assert!(matches!(
            check(&def, |_| None),
            Err(AuthFailure::Missing { .. })
        ));
        assert_eq!(check(&def, |_| Some("Basic !!!")), Err(AuthFailure::Wrong));
        assert!(public_view(&def).get("password").is_none());
    }

    #[test]
    fn api_keys_are_checked() {
        let def = seal(SecurityDefinition::Apikey {
            name: "k".into(),
            header: "X-API-Key".into(),
            key: Secret::new("k3y"),
        });
        assert_eq!(check(&def, |h| (h == "x-api-key").then_some("k3y")), Ok(()));
        assert_eq!(
            check(&def, |h| (h == "x-api-key").then_some("k3")),
            Err(AuthFailure::Wrong)
        );
        assert!(
            matches!(check(&def, |_| None), Err(AuthFailure::Missing { challenge }) if challenge.contains("X-API-Key"))
        );
        let view = public_view(&def);
        assert_eq!(view["header"], "X-API-Key");
        assert!(view.get("key").is_none());
    }
}
