//! Validation errors and the checks shared by several kinds.

use std::fmt;

/// A refused field: which one, and why, in words a user can act on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ValidationError {
    /// The field at fault (`url_path`, `interval.seconds`, ...).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl ValidationError {
    /// A new error about `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for ValidationError {}

/// The longest name of an object or a service.
pub const MAX_NAME_LEN: usize = 128;

/// Names appear in admin API paths and Redis keys, so they are kept to a safe alphabet.
pub(crate) fn check_name(field: &str, value: &str) -> Result<(), ValidationError> {
    if value.is_empty() {
        return Err(ValidationError::new(field, "is required"));
    }
    if value.len() > MAX_NAME_LEN {
        return Err(ValidationError::new(
            field,
            format!("is longer than {MAX_NAME_LEN} characters"),
        ));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "._:-".contains(c);
    if let Some(bad) = value.chars().find(|c| !allowed(*c)) {
        return Err(ValidationError::new(
            field,
            format!(
                "'{value}' has the character {bad:?}; use letters, digits, '.', '_', ':' and '-'"
            ),
        ));
    }
    Ok(())
}

/// A field that must hold some text.
pub(crate) fn check_not_empty(field: &str, value: &str) -> Result<(), ValidationError> {
    if value.trim().is_empty() {
        return Err(ValidationError::new(field, "is required"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(check_name("name", "my.channel-1").is_ok());
        assert_eq!(check_name("name", "").unwrap_err().message, "is required");
        assert!(
            check_name("name", "a/b")
                .unwrap_err()
                .message
                .contains("'/'")
        );
        assert!(check_name("name", &"x".repeat(129)).is_err());
    }
}
