//! Entry points of the fuzz targets (`fuzz/`): everything a member parses from outside, fed
//! arbitrary bytes. Each must return, never panic. The same functions replay the kept corpus
//! in the ordinary test suite (`tests/tests/fuzz_corpus.rs`), so every input that once crashed
//! stays a test.

use jiff::Timestamp;

use crate::Envelope;
use crate::cron::{Cron, time_zone};
use crate::settings::{BrokerSettings, from_text};
use crate::url_path::UrlPath;

/// A broker envelope read from a stream entry.
pub fn envelope(data: &[u8]) {
    if let Ok(envelope) = Envelope::<serde_json::Value>::decode(data)
        && let Ok(encoded) = envelope.encode()
    {
        let _ = Envelope::<serde_json::Value>::decode(encoded.as_bytes());
    }
    if let Ok(envelope) = crate::RawEnvelope::decode(data) {
        let _ = envelope.payload_as::<serde_json::Value>();
    }
}

/// A settings file, with the variables after its first NUL byte (`NAME=value` lines).
pub fn settings(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (file, env) = text.split_once('\0').unwrap_or((&text, ""));
    let vars = env
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
    if let Ok(settings) = from_text::<BrokerSettings>(file, vars) {
        let _ = settings.validate();
    }
}

/// A channel's URL path template.
pub fn url_path(data: &[u8]) {
    if let Ok(path) = UrlPath::parse(&String::from_utf8_lossy(data)) {
        let again = UrlPath::parse(&path.to_string());
        assert_eq!(
            again.as_ref().ok(),
            Some(&path),
            "a parsed template prints back to itself"
        );
        let _ = path.shape();
    }
}

/// A cron expression, and its next instants in a zone with daylight saving time.
pub fn cron(data: &[u8]) {
    let Ok(cron) = Cron::parse(&String::from_utf8_lossy(data)) else {
        return;
    };
    let Ok(tz) = time_zone("Europe/Berlin") else {
        return;
    };
    let mut at = Timestamp::from_second(1_900_000_000).unwrap_or(Timestamp::UNIX_EPOCH);
    for _ in 0..3 {
        match cron.next_after(at, &tz) {
            Some(next) => {
                assert!(next > at, "next fires move forward");
                at = next;
            }
            None => break,
        }
    }
}
