//! URL path templates of HTTP channels and outgoing REST connections: `/customers/{id}/orders`.
//!
//! A template is parsed once, when a channel is defined, so that a bad one is refused with a
//! clear message at the admin API and the server's router only ever sees valid segments.

use std::fmt;

/// One `/`-separated piece of a template.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// Matched literally.
    Static(String),
    /// `{name}`: matches any one non-empty segment and binds it to `name`.
    Param(String),
}

/// A parsed, valid URL path template.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UrlPath {
    segments: Vec<Segment>,
}

/// Why a template is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlPathError {
    #[error("must start with '/'")]
    NoLeadingSlash,
    #[error("must not contain an empty segment ('//') or end with '/'")]
    EmptySegment,
    #[error("segment '{0}' mixes text and braces; a parameter is a whole segment like '{{id}}'")]
    MixedSegment(String),
    #[error(
        "parameter name '{0}' is not valid: use letters, digits and '_', not starting with a digit"
    )]
    BadParamName(String),
    #[error("parameter '{0}' appears twice")]
    DuplicateParam(String),
    #[error("segment '{0}' has a character that is not allowed in a URL path")]
    BadCharacter(String),
    #[error("is longer than {max} bytes")]
    TooLong { max: usize },
}

impl UrlPath {
    /// The longest template accepted.
    pub const MAX_LEN: usize = 1024;

    /// Parses and validates a template.
    pub fn parse(template: &str) -> Result<Self, UrlPathError> {
        if template.len() > Self::MAX_LEN {
            return Err(UrlPathError::TooLong { max: Self::MAX_LEN });
        }
        let rest = template
            .strip_prefix('/')
            .ok_or(UrlPathError::NoLeadingSlash)?;
        if rest.is_empty() {
            return Ok(Self { segments: vec![] });
        }
        let mut segments = Vec::new();
        for raw in rest.split('/') {
            let segment = Self::parse_segment(raw)?;
            if let Segment::Param(name) = &segment
                && segments.contains(&segment)
            {
                return Err(UrlPathError::DuplicateParam(name.clone()));
            }
            segments.push(segment);
        }
        Ok(Self { segments })
    }

    fn parse_segment(raw: &str) -> Result<Segment, UrlPathError> {
        if raw.is_empty() {
            return Err(UrlPathError::EmptySegment);
        }
        if let Some(name) = raw.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
            let mut chars = name.chars();
            let valid = chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
            return if valid {
                Ok(Segment::Param(name.to_owned()))
            } else {
                Err(UrlPathError::BadParamName(name.to_owned()))
            };
        }
        if raw.contains(['{', '}']) {
            return Err(UrlPathError::MixedSegment(raw.to_owned()));
        }
        // RFC 3986 pchar: unreserved, sub-delims, ':', '@' and percent-encodings.
        let allowed = |c: char| c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@%".contains(c);
        if !raw.chars().all(allowed) {
            return Err(UrlPathError::BadCharacter(raw.to_owned()));
        }
        Ok(Segment::Static(raw.to_owned()))
    }

    /// The segments, in order.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The names of the parameters, in order.
    pub fn params(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Param(name) => Some(name.as_str()),
            Segment::Static(_) => None,
        })
    }

    /// The template with every parameter name replaced by `{}`: two channels whose shapes are
    /// equal would answer the same requests, so the shape is what must be unique.
    pub fn shape(&self) -> String {
        let mut shape = String::new();
        for segment in &self.segments {
            shape.push('/');
            match segment {
                Segment::Static(text) => shape.push_str(text),
                Segment::Param(_) => shape.push_str("{}"),
            }
        }
        if shape.is_empty() {
            shape.push('/');
        }
        shape
    }
}

impl fmt::Display for UrlPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.segments.is_empty() {
            return f.write_str("/");
        }
        for segment in &self.segments {
            match segment {
                Segment::Static(text) => write!(f, "/{text}")?,
                Segment::Param(name) => write!(f, "/{{{name}}}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_static_and_parametric_segments() {
        let path = UrlPath::parse("/customers/{id}/orders").expect("valid");
        assert_eq!(
            path.segments(),
            &[
                Segment::Static("customers".into()),
                Segment::Param("id".into()),
                Segment::Static("orders".into())
            ]
        );
        assert_eq!(path.params().collect::<Vec<_>>(), ["id"]);
        assert_eq!(path.to_string(), "/customers/{id}/orders");
        assert_eq!(path.shape(), "/customers/{}/orders");
        assert_eq!(UrlPath::parse("/").expect("root").to_string(), "/");
    }

    #[test]
    fn refuses_bad_templates_with_the_reason() {
        let cases = [
            ("customers", UrlPathError::NoLeadingSlash),
            ("/a//b", UrlPathError::EmptySegment),
            ("/a/", UrlPathError::EmptySegment),
            ("/a/x{id}", UrlPathError::MixedSegment("x{id}".into())),
            ("/a/{1x}", UrlPathError::BadParamName("1x".into())),
            ("/a/{}", UrlPathError::BadParamName(String::new())),
            ("/{id}/{id}", UrlPathError::DuplicateParam("id".into())),
            ("/a b", UrlPathError::BadCharacter("a b".into())),
        ];
        for (template, expected) in cases {
            assert_eq!(UrlPath::parse(template), Err(expected), "{template}");
        }
        assert!(UrlPath::parse(&format!("/{}", "a".repeat(2000))).is_err());
    }
}
