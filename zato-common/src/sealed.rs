//! Secrets that must be sent, sealed at rest.
//!
//! An incoming credential is checked, so it is stored as a hash (`SecurityDefinition`). A
//! credential a server sends to another system (an outgoing REST token, a database password)
//! must be recovered, so it cannot be hashed: it is sealed with AES-256-GCM, an authenticated
//! cipher, so a value in Redis can be neither read nor changed without the key. The key comes
//! from the members' settings (`secret_key`, `ZATO_SECRET_KEY`); `previous_secret_key`
//! still opens values sealed before a rotation.
//!
//! A sealed value reads `zato-sealed:v1:<key id>:<base64 nonce + ciphertext + tag>`: the key
//! id (the first bytes of the key's SHA-256) says which key sealed it, so a value sealed with
//! a key this member does not have is reported as such instead of as corrupt.

use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

use crate::Secret;

const PREFIX: &str = "zato-sealed:v1:";
/// Binds every sealed value to this format: a ciphertext cannot be replayed as anything else.
const AAD: &[u8] = b"zato-sealed:v1";
const KEY_LEN: usize = 32;

/// Why a secret could not be sealed or opened. No variant carries the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error(
        "this member has no secret key (set secret_key or ZATO_SECRET_KEY; `zato secrets new-key` makes one)"
    )]
    NoKey,
    #[error("the secret key must be {KEY_LEN} bytes in base64 (`zato secrets new-key` makes one)")]
    BadKey,
    #[error(
        "the secret was sealed with key {0}, which this member does not have (secret_key or previous_secret_key)"
    )]
    UnknownKey(String),
    #[error("the sealed secret is corrupt or was changed")]
    Corrupt,
    #[error("the system's random number generator failed")]
    Random,
    /// AES-GCM refuses only an input beyond what it can seal (about 64 GB).
    #[error("the secret is too long to seal")]
    TooLong,
}

/// One AES-256 key.
struct Key {
    id: String,
    key: LessSafeKey,
}

impl Key {
    fn parse(text: &str) -> Result<Self, SealError> {
        let text = text.trim();
        let bytes = STANDARD
            .decode(text)
            .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
            .map_err(|_| SealError::BadKey)?;
        if bytes.len() != KEY_LEN {
            return Err(SealError::BadKey);
        }
        let id = hex(&digest(&SHA256, &bytes).as_ref()[..4]);
        let key = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| SealError::BadKey)?;
        Ok(Self {
            id,
            key: LessSafeKey::new(key),
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The keys a member seals and opens secrets with.
#[derive(Default)]
pub struct Keyring {
    current: Option<Key>,
    previous: Option<Key>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current.as_ref().map(|k| &k.id))
            .field("previous", &self.previous.as_ref().map(|k| &k.id))
            .finish()
    }
}

impl Keyring {
    /// The keys from the settings; an empty one is absent, a malformed one an error.
    pub fn new(current: &Secret, previous: &Secret) -> Result<Self, SealError> {
        let parse = |s: &Secret| {
            (!s.expose().trim().is_empty())
                .then(|| Key::parse(s.expose()))
                .transpose()
        };
        Ok(Self {
            current: parse(current)?,
            previous: parse(previous)?,
        })
    }

    /// Whether secrets can be sealed here.
    pub fn can_seal(&self) -> bool {
        self.current.is_some()
    }

    /// The current key's id, for reports.
    pub fn key_id(&self) -> Option<&str> {
        self.current.as_ref().map(|k| k.id.as_str())
    }

    /// A new random key, in the form the settings take.
    pub fn generate_key() -> Result<String, SealError> {
        let mut bytes = [0u8; KEY_LEN];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| SealError::Random)?;
        Ok(STANDARD.encode(bytes))
    }

    /// Seals `secret` with the current key. A value that is already sealed is kept as it is.
    pub fn seal(&self, secret: &Secret) -> Result<Secret, SealError> {
        if is_sealed(secret) {
            return Ok(secret.clone());
        }
        let key = self.current.as_ref().ok_or(SealError::NoKey)?;
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| SealError::Random)?;
        let mut data = secret.expose().as_bytes().to_vec();
        key.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(AAD),
                &mut data,
            )
            .map_err(|_| SealError::TooLong)?;
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&data);
        Ok(Secret::new(format!(
            "{PREFIX}{}:{}",
            key.id,
            URL_SAFE_NO_PAD.encode(sealed)
        )))
    }

    /// The secret inside a sealed value. A value that is not sealed is refused: a secret
    /// written to Redis by hand in clear must not be used as if it had been protected.
    pub fn open(&self, sealed: &Secret) -> Result<Secret, SealError> {
        let rest = sealed
            .expose()
            .strip_prefix(PREFIX)
            .ok_or(SealError::Corrupt)?;
        let (id, data) = rest.split_once(':').ok_or(SealError::Corrupt)?;
        let key = [&self.current, &self.previous]
            .into_iter()
            .flatten()
            .find(|k| k.id == id)
            .ok_or_else(|| {
                if self.current.is_none() && self.previous.is_none() {
                    SealError::NoKey
                } else {
                    SealError::UnknownKey(id.to_owned())
                }
            })?;
        let mut data = URL_SAFE_NO_PAD
            .decode(data)
            .map_err(|_| SealError::Corrupt)?;
        if data.len() < NONCE_LEN {
            return Err(SealError::Corrupt);
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&data[..NONCE_LEN]);
        let plain = key
            .key
            .open_within(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(AAD),
                &mut data,
                NONCE_LEN..,
            )
            .map_err(|_| SealError::Corrupt)?;
        String::from_utf8(plain.to_vec())
            .map(Secret::new)
            .map_err(|_| SealError::Corrupt)
    }

    /// Whether `sealed` was sealed with a key other than the current one (to re-seal after a
    /// rotation).
    pub fn is_stale(&self, sealed: &Secret) -> bool {
        let id = sealed
            .expose()
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split_once(':'))
            .map(|(id, _)| id);
        id.is_some() && id != self.key_id()
    }
}

/// Whether a stored value is sealed (rather than a secret in clear).
pub fn is_sealed(value: &Secret) -> bool {
    value.expose().starts_with(PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyring() -> Keyring {
        let key = Secret::new(Keyring::generate_key().expect("random"));
        Keyring::new(&key, &Secret::default()).expect("valid key")
    }

    #[test]
    fn seals_and_opens_without_showing_the_secret() {
        let keys = keyring();
        let sealed = keys.seal(&Secret::new("hunter2")).expect("sealed");
        assert!(is_sealed(&sealed));
        assert!(!sealed.expose().contains("hunter2"));
        assert_eq!(keys.open(&sealed).expect("opens").expose(), "hunter2");
        let again = keys.seal(&Secret::new("hunter2")).expect("sealed");
        assert_ne!(again, sealed, "every seal has its own nonce");
        assert_eq!(keys.seal(&sealed).expect("kept"), sealed);
    }

    #[test]
    fn a_changed_value_or_another_key_does_not_open() {
        let keys = keyring();
        let sealed = keys.seal(&Secret::new("hunter2")).expect("sealed");
        let mut text = sealed.expose().to_owned();
        let last = text.pop().expect("not empty");
        text.push(if last == 'A' { 'B' } else { 'A' });
        assert_eq!(keys.open(&Secret::new(text)), Err(SealError::Corrupt));
        let other = keyring();
        assert!(matches!(other.open(&sealed), Err(SealError::UnknownKey(_))));
        assert_eq!(Keyring::default().open(&sealed), Err(SealError::NoKey));
        assert_eq!(keys.open(&Secret::new("hunter2")), Err(SealError::Corrupt));
    }

    #[test]
    fn the_previous_key_still_opens_after_a_rotation() {
        let old = Secret::new(Keyring::generate_key().expect("random"));
        let new = Secret::new(Keyring::generate_key().expect("random"));
        let before = Keyring::new(&old, &Secret::default()).expect("valid");
        let sealed = before.seal(&Secret::new("pw")).expect("sealed");
        let after = Keyring::new(&new, &old).expect("valid");
        assert_eq!(after.open(&sealed).expect("opens").expose(), "pw");
        assert!(after.is_stale(&sealed));
        let resealed = after
            .seal(&after.open(&sealed).expect("opens"))
            .expect("sealed");
        assert!(!after.is_stale(&resealed));
    }

    #[test]
    fn malformed_keys_are_refused() {
        for bad in ["short", "!!!!", &STANDARD.encode([0u8; 16])] {
            assert_eq!(
                Keyring::new(&Secret::new(bad), &Secret::default()).err(),
                Some(SealError::BadKey)
            );
        }
        assert!(
            !Keyring::new(&Secret::default(), &Secret::default())
                .expect("empty")
                .can_seal()
        );
    }
}
