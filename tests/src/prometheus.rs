//! `/metrics` as Prometheus reads it: scraped, then parsed by the Prometheus project's own
//! Python parser (`tests/peers/prom_parse.py`), so a test checks what a real scrape would
//! make of the exposition, not the text this project wrote.

use std::io::Write;
use std::process::Stdio;

use serde::Deserialize;

use crate::connector::peer;
use crate::server::send;

/// One metric family.
#[derive(Debug, Clone, Deserialize)]
pub struct Family {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub help: String,
    pub samples: Vec<Sample>,
}

/// One sample of a family.
#[derive(Debug, Clone, Deserialize)]
pub struct Sample {
    pub name: String,
    pub labels: std::collections::BTreeMap<String, String>,
    pub value: f64,
}

/// A whole scrape.
#[derive(Debug, Clone)]
pub struct Scrape(pub Vec<Family>);

impl Scrape {
    /// Scrapes `<url>/metrics` and parses it; panics if either fails.
    pub fn of(url: &str) -> Self {
        let answer = send("GET", &format!("{url}/metrics"), &[], None)
            .unwrap_or_else(|| panic!("{url}/metrics did not answer"));
        assert_eq!(answer.status, 200, "{}", answer.body);
        Self(parse(&answer.body))
    }

    /// The family called `name` (without the `_total` of counters, as the parser names it).
    pub fn family(&self, name: &str) -> Option<&Family> {
        self.0.iter().find(|f| f.name == name)
    }

    /// The value of the sample `name` whose labels include every one of `labels`.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.0
            .iter()
            .flat_map(|f| &f.samples)
            .find(|s| {
                s.name == name
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).is_some_and(|l| l == v))
            })
            .map(|s| s.value)
    }
}

fn parse(exposition: &str) -> Vec<Family> {
    let mut child = peer("prom_parse.py", &[])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs tests/peers/prom_parse.py");
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(exposition.as_bytes())
            .expect("exposition written to the parser");
    }
    let out = child.wait_with_output().expect("the parser ends");
    assert!(
        out.status.success(),
        "the Prometheus parser refused the exposition: {}\n{exposition}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the parser's JSON")
}
