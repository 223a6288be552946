//! `zato service deploy|build|list|get|undeploy|rollback`: services deployed at run time as
//! WebAssembly components.
//!
//! A `.wasm` file is uploaded as it is; a `.py` module is built into a component here first
//! (see [`python`]), so that the servers only ever take in components and never run a Python
//! toolchain themselves.

mod python;

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::{Map, Value, json};

use super::collection::escape_segment;
use crate::cli::{DeployArgs, ServiceAction};
use crate::client::{AdminClient, ClientError};
use crate::output::{Output, cell, table};

/// How long an upload may take, answer included. The server compiles the component before it
/// answers (tens of seconds for a Python one on a slow machine), after tens of megabytes
/// crossed what may be a slow link: far more than the other calls' minute.
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// The content type of a WebAssembly component.
const WASM_TYPE: &str = "application/wasm";

/// The first bytes of every WebAssembly binary.
const WASM_MAGIC: &[u8] = b"\0asm";

pub fn run(
    client: impl FnOnce() -> Result<AdminClient, ClientError>,
    out: Output,
    action: &ServiceAction,
) -> anyhow::Result<()> {
    match action {
        ServiceAction::Deploy(args) => deploy(&client()?, out, args),
        ServiceAction::Build { file, output } => build(out, file, output),
        ServiceAction::List => {
            let services = client()?.get("/services")?;
            out.show(&services, print_list);
            Ok(())
        }
        ServiceAction::Get { name } => {
            let service = client()?
                .get(&item_path(name))
                .with_context(|| format!("cannot get service '{name}'"))?;
            out.show(&service, print_service);
            Ok(())
        }
        ServiceAction::Undeploy { name } => {
            let answer = client()?
                .delete(&item_path(name))
                .with_context(|| format!("cannot undeploy service '{name}'"))?;
            out.show(&answer, |_| println!("undeployed service '{name}'"));
            Ok(())
        }
        ServiceAction::Rollback { name, version } => {
            let body = match version {
                Some(version) => json!({ "version": version }),
                None => json!({}),
            };
            let answer = client()?
                .post(&format!("{}/rollback", item_path(name)), Some(&body))
                .with_context(|| format!("cannot roll service '{name}' back"))?;
            out.show(&answer, |answer| print_rollback(name, answer));
            Ok(())
        }
    }
}

/// `/services/<name>`, the name escaped so that no name can reach another route.
fn item_path(name: &str) -> String {
    format!("/services/{}", escape_segment(name))
}

/// What kind of file is being deployed, by its extension.
#[derive(Debug, PartialEq, Eq)]
enum Source {
    Component,
    Python,
}

impl Source {
    fn of(file: &Path) -> anyhow::Result<Self> {
        match file.extension().and_then(|e| e.to_str()) {
            Some("wasm") => Ok(Self::Component),
            Some("py") => Ok(Self::Python),
            _ => anyhow::bail!(
                "{} is neither a WebAssembly component (.wasm) nor a Python service module (.py)",
                file.display()
            ),
        }
    }
}

fn deploy(client: &AdminClient, out: Output, args: &DeployArgs) -> anyhow::Result<()> {
    let file = &args.file;
    let bytes = match Source::of(file)? {
        Source::Component => {
            std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?
        }
        Source::Python => {
            let dir = python::BuildDir::create()?;
            let component = dir.path.join("service.wasm");
            if !out.json {
                eprintln!("building {} with componentize-py...", file.display());
            }
            python::build(file, &component)?;
            std::fs::read(&component).with_context(|| {
                format!("cannot read the component built from {}", file.display())
            })?
        }
    };
    check_component(file, &bytes)?;

    let mut query = Vec::new();
    if let Some(deadline_ms) = args.deadline_ms {
        query.push(format!("deadline_ms={deadline_ms}"));
    }
    if let Some(memory_mb) = args.memory_mb {
        query.push(format!("memory_mb={memory_mb}"));
    }
    let mut path = item_path(&args.name);
    if !query.is_empty() {
        path = format!("{path}?{}", query.join("&"));
    }
    if !out.json {
        eprintln!(
            "uploading {} (the server compiles it before it answers)...",
            size_text(bytes.len() as u64)
        );
    }
    let actor = actor_from(
        std::env::var("USER")
            .ok()
            .or_else(|| std::env::var("LOGNAME").ok()),
        hostname(),
    );
    let answer = client
        .upload(
            &path,
            WASM_TYPE,
            &bytes,
            &[("x-zato-actor", &actor)],
            UPLOAD_TIMEOUT,
        )
        .with_context(|| format!("cannot deploy service '{}'", args.name))?;
    out.show(&answer, |answer| print_deployed(&args.name, answer));
    Ok(())
}

fn build(out: Output, file: &Path, output: &Path) -> anyhow::Result<()> {
    python::build(file, output)?;
    let size = std::fs::metadata(output)
        .with_context(|| format!("cannot read {}", output.display()))?
        .len();
    let report = json!({ "file": file.display().to_string(), "output": output.display().to_string(), "size": size });
    out.show(&report, |_| {
        println!(
            "built {} from {} ({})",
            output.display(),
            file.display(),
            size_text(size)
        );
    });
    Ok(())
}

/// Refuses what is not WebAssembly, and a core module, before tens of megabytes are sent
/// for the server to refuse. Anything else that claims to be a component is the server's to
/// judge: it knows the component versions it reads and the world it needs.
fn check_component(file: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if bytes.get(..4) != Some(WASM_MAGIC) {
        anyhow::bail!(
            "{} is not WebAssembly (it does not start with \\0asm)",
            file.display()
        );
    }
    // Bytes 6 and 7 are the layer: 0 for a core module, 1 for a component.
    if bytes.get(6..8) == Some(&[0, 0][..]) {
        anyhow::bail!(
            "{} is a core WebAssembly module, not a component of the zato:service world \
             (make one with `wasm-tools component new`, or build for wasm32-wasip2)",
            file.display()
        );
    }
    Ok(())
}

/// Who deploys, for the record's `deployed_by`: `user@host`, or as much of it as is known.
/// Only visible ASCII is kept: anything else is not a valid header value.
fn actor_from(user: Option<String>, host: Option<String>) -> String {
    let user = user.filter(|u| !u.trim().is_empty());
    let host = host.filter(|h| !h.trim().is_empty());
    let actor = match (user, host) {
        (Some(user), Some(host)) => format!("{user}@{host}"),
        (Some(user), None) => user,
        (None, Some(host)) => format!("zato-cli@{host}"),
        (None, None) => "zato-cli".into(),
    };
    actor
        .chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '_' })
        .take(200)
        .collect()
}

/// This machine's name, if it has one.
fn hostname() -> Option<String> {
    let mut buffer = [0u8; 256];
    // SAFETY: the buffer is valid for writes of its whole length, which is what is passed.
    let status = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
    if status != 0 {
        return None;
    }
    let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
    let name = String::from_utf8_lossy(buffer.get(..end)?)
        .trim()
        .to_owned();
    (!name.is_empty()).then_some(name)
}

fn print_deployed(name: &str, answer: &Value) {
    let version = cell(answer.get("version"));
    let first = answer.get("version").and_then(Value::as_u64) == Some(1);
    println!(
        "deployed service '{name}' version {version}{}",
        if first { " (first deployment)" } else { "" }
    );
    let load = match answer.get("load_ms") {
        Some(ms) if !ms.is_null() => {
            let cached = answer.get("from_cache").and_then(Value::as_bool) == Some(true);
            let from = if cached {
                " (compiled code from the server's cache)"
            } else {
                ""
            };
            format!("{} ms{from}", cell(Some(ms)))
        }
        _ => "-".into(),
    };
    print_fields(
        "  ",
        &[
            ("hash", cell(answer.get("hash"))),
            ("size", size_of(answer.get("size"))),
            ("load", load),
        ],
    );
}

fn print_rollback(name: &str, answer: &Value) {
    let target = answer.pointer("/service/current/rollback_of").map_or_else(
        || "the previous version".into(),
        |v| format!("version {}", cell(Some(v))),
    );
    println!(
        "service '{name}' rolled back to {target}, now version {}",
        cell(answer.get("version"))
    );
    print_fields(
        "  ",
        &[
            ("hash", cell(answer.get("hash"))),
            ("size", size_of(answer.get("size"))),
        ],
    );
}

/// `zato service list`: one row a service, then the deployed ones' failures in full (an
/// error is often a long line, which would widen every row of the table).
fn print_list(services: &Value) {
    let Some(services) = services.as_array() else {
        crate::output::print_json(services);
        return;
    };
    if services.is_empty() {
        println!("(none)");
        return;
    }
    let mut failures = Vec::new();
    let rows: Vec<Vec<String>> = services
        .iter()
        .map(|service| {
            let name = cell(service.get("name"));
            let version = service.get("version").and_then(Value::as_u64);
            let servers = servers_of(service)
                .map(|(member, state)| {
                    if let Some(error) = failure_of(state) {
                        failures.push(format!("{name} on {member}: {}", first_line(&error)));
                    }
                    format!("{member}: {}", state_text(state, version))
                })
                .collect::<Vec<_>>();
            vec![
                name.clone(),
                cell(service.get("kind")),
                cell(service.get("version")),
                cell(service.get("calls")),
                cell(service.get("errors")),
                micros_text(service.get("p99_us")),
                if servers.is_empty() {
                    "-".into()
                } else {
                    servers.join(", ")
                },
            ]
        })
        .collect();
    table(
        &[
            "name", "kind", "version", "calls", "errors", "p99", "servers",
        ],
        &rows,
    );
    if !failures.is_empty() {
        println!("\nfailed (`zato service get NAME` shows the whole error)");
        for failure in failures {
            println!("  {failure}");
        }
    }
}

/// `zato service get`: the record, its history and the servers' states.
fn print_service(answer: &Value) {
    let record = answer.get("service").unwrap_or(&Value::Null);
    let current = record.get("current").unwrap_or(&Value::Null);
    let rollback = current
        .get("rollback_of")
        .filter(|v| !v.is_null())
        .map(|v| format!(" (a rollback to version {})", cell(Some(v))))
        .unwrap_or_default();
    let active = match record.get("is_active").and_then(Value::as_bool) {
        Some(true) => "yes".into(),
        Some(false) => "no (deployed but not run)".into(),
        None => "-".into(),
    };
    print_fields(
        "",
        &[
            ("name", cell(record.get("name"))),
            (
                "version",
                format!("{}{rollback}", cell(current.get("version"))),
            ),
            ("hash", cell(current.get("hash"))),
            ("size", size_of(current.get("size"))),
            ("deployed by", cell(current.get("deployed_by"))),
            ("deployed at", time_of(current.get("deployed_at_ms"))),
            ("deadline", unit_of(record.get("deadline_ms"), "ms")),
            ("memory", unit_of(record.get("memory_mb"), "MB")),
            ("active", active),
        ],
    );

    println!("\nhistory");
    let history = record
        .get("history")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if history.is_empty() {
        println!("(none)");
    } else {
        let rows: Vec<Vec<String>> = history
            .iter()
            .map(|revision| {
                vec![
                    cell(revision.get("version")),
                    cell(revision.get("hash")).chars().take(12).collect(),
                    size_of(revision.get("size")),
                    cell(revision.get("deployed_by")),
                    time_of(revision.get("deployed_at_ms")),
                    cell(revision.get("rollback_of")),
                ]
            })
            .collect();
        table(
            &[
                "version",
                "hash",
                "size",
                "deployed by",
                "deployed at",
                "rollback of",
            ],
            &rows,
        );
    }

    println!("\nservers");
    let mut failures = Vec::new();
    let rows: Vec<Vec<String>> = servers_of(answer)
        .map(|(member, state)| {
            if let Some(error) = failure_of(state) {
                failures.push((member.clone(), error));
            }
            vec![
                member.clone(),
                cell(state.get("state")),
                cell(state.get("version")),
            ]
        })
        .collect();
    if rows.is_empty() {
        println!("(none)");
    } else {
        table(&["member", "state", "version"], &rows);
    }
    for (member, error) in failures {
        println!("\nfailed on {member}:");
        for line in error.lines() {
            println!("  {line}");
        }
    }
}

/// The `servers` object of a service (or of `get`'s answer): each member and its state.
fn servers_of(value: &Value) -> impl Iterator<Item = (&String, &Value)> {
    value
        .get("servers")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(Map::iter)
}

/// The error of a failed server's state.
fn failure_of(state: &Value) -> Option<String> {
    if state.get("state").and_then(Value::as_str) != Some("failed") {
        return None;
    }
    Some(match state.get("error").and_then(Value::as_str) {
        Some(error) if !error.trim().is_empty() => error.to_owned(),
        _ => "(no error given)".into(),
    })
}

/// A server's state for the list: `ready`, or `ready v2` when it runs another version than
/// the service's, as during a rollout.
fn state_text(state: &Value, service_version: Option<u64>) -> String {
    let text = cell(state.get("state"));
    match state.get("version").and_then(Value::as_u64) {
        Some(version) if Some(version) != service_version => format!("{text} v{version}"),
        _ => text,
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

/// Prints `label  value` lines, the values aligned, each line after `indent`.
fn print_fields(indent: &str, fields: &[(&str, String)]) {
    let width = fields
        .iter()
        .map(|(label, _)| label.len())
        .max()
        .unwrap_or(0);
    for (label, value) in fields {
        println!("{indent}{label:<width$}  {value}");
    }
}

fn size_of(value: Option<&Value>) -> String {
    match value.and_then(Value::as_u64) {
        Some(bytes) => format!("{} ({bytes} bytes)", size_text(bytes)),
        None => cell(value),
    }
}

/// A size as people read it: `17.9 MiB`.
fn size_text(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut size = bytes as f64 / 1024.0;
    let mut unit = 0;
    while size >= 1024.0 && unit + 1 < UNITS.len() {
        size /= 1024.0;
        unit += 1;
    }
    format!("{size:.1} {}", UNITS[unit])
}

/// A latency in microseconds as people read it: `850 us`, `1.2 ms`, `3.40 s`.
fn micros_text(value: Option<&Value>) -> String {
    let Some(us) = value.and_then(Value::as_f64) else {
        return cell(value);
    };
    if us < 1_000.0 {
        format!("{us:.0} us")
    } else if us < 1_000_000.0 {
        format!("{:.1} ms", us / 1_000.0)
    } else {
        format!("{:.2} s", us / 1_000_000.0)
    }
}

fn unit_of(value: Option<&Value>, unit: &str) -> String {
    match value {
        Some(v) if !v.is_null() => format!("{} {unit}", cell(Some(v))),
        _ => "-".into(),
    }
}

fn time_of(value: Option<&Value>) -> String {
    match value.and_then(Value::as_u64) {
        Some(ms) => utc_text(ms),
        None => cell(value),
    }
}

/// Milliseconds since the Unix epoch as `2025-12-01 14:27:03 UTC`.
fn utc_text(ms: u64) -> String {
    let secs = ms / 1000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`,
/// for days on or after the epoch), so that printing a date needs no calendar crate.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_told_apart_by_extension() {
        assert_eq!(
            Source::of(Path::new("a/hello.wasm")).ok(),
            Some(Source::Component)
        );
        assert_eq!(Source::of(Path::new("hello.py")).ok(), Some(Source::Python));
        let error = Source::of(Path::new("hello.txt"))
            .err()
            .map(|e| e.to_string());
        assert!(error.is_some_and(|e| e.contains("neither a WebAssembly component")));
    }

    #[test]
    fn only_components_are_uploaded() {
        let file = Path::new("x.wasm");
        let component = [0, b'a', b's', b'm', 0x0d, 0x00, 0x01, 0x00];
        assert!(check_component(file, &component).is_ok());
        let module = [0, b'a', b's', b'm', 0x01, 0x00, 0x00, 0x00];
        let error = check_component(file, &module).err().map(|e| e.to_string());
        assert!(error.is_some_and(|e| e.contains("core WebAssembly module")));
        let error = check_component(file, b"PK\x03\x04")
            .err()
            .map(|e| e.to_string());
        assert!(error.is_some_and(|e| e.contains("not WebAssembly")));
        assert!(check_component(file, b"").is_err());
    }

    #[test]
    fn the_actor_is_user_at_host_or_what_is_known() {
        let some = |s: &str| Some(s.to_owned());
        assert_eq!(actor_from(some("alice"), some("laptop")), "alice@laptop");
        assert_eq!(actor_from(some("alice"), None), "alice");
        assert_eq!(actor_from(None, some("ci-7")), "zato-cli@ci-7");
        assert_eq!(actor_from(None, None), "zato-cli");
        assert_eq!(actor_from(some(" "), None), "zato-cli");
        assert_eq!(actor_from(some("josé q"), some("h")), "jos__q@h");
    }

    #[test]
    fn names_are_escaped_into_one_segment() {
        assert_eq!(item_path("crm.get-customer"), "/services/crm.get-customer");
        assert_eq!(item_path("a/../b"), "/services/a%2F..%2Fb");
    }

    #[test]
    fn states_name_another_version_than_the_services() {
        let state = json!({"state": "ready", "version": 3});
        assert_eq!(state_text(&state, Some(3)), "ready");
        assert_eq!(state_text(&state, Some(4)), "ready v3");
        let failed = json!({"state": "failed", "version": 3, "error": "trap\nat line 2"});
        assert_eq!(failure_of(&failed).as_deref(), Some("trap\nat line 2"));
        assert_eq!(failure_of(&state), None);
        assert_eq!(
            failure_of(&json!({"state": "failed"})).as_deref(),
            Some("(no error given)")
        );
    }

    #[test]
    fn numbers_are_printed_for_people() {
        assert_eq!(size_text(512), "512 B");
        assert_eq!(size_text(18_362_466), "17.5 MiB");
        assert_eq!(micros_text(Some(&json!(850))), "850 us");
        assert_eq!(micros_text(Some(&json!(1300.0))), "1.3 ms");
        assert_eq!(micros_text(Some(&json!(3_400_000))), "3.40 s");
        assert_eq!(micros_text(None), "-");
        assert_eq!(utc_text(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc_text(1_764_599_223_000), "2025-12-01 14:27:03 UTC");
        assert_eq!(utc_text(951_782_400_000), "2000-02-29 00:00:00 UTC");
    }
}
