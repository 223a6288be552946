//! The two systemd notifications every binary sends: `READY=1` and `WATCHDOG=1`.
//!
//! Written against the protocol (a datagram to the Unix socket named by `NOTIFY_SOCKET`,
//! which may be in the abstract namespace when it starts with `@`) rather than a library: it
//! is twenty lines, and outside systemd it does nothing.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// Sends `state` (e.g. `READY=1`) to systemd; false when not under systemd or it failed.
pub fn notify(state: &str) -> bool {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return false;
    };
    let Ok(socket) = UnixDatagram::unbound() else {
        return false;
    };
    let path = path.to_string_lossy().into_owned();
    let sent = match path.strip_prefix('@') {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
                .and_then(|addr| socket.send_to_addr(state.as_bytes(), &addr))
        }
        None => socket.send_to(state.as_bytes(), &path),
    };
    sent.is_ok()
}

/// Tells systemd the service is ready.
pub fn ready() -> bool {
    notify("READY=1")
}

/// Tells systemd the service is stopping.
pub fn stopping() -> bool {
    notify("STOPPING=1")
}

/// How often to ping the watchdog: half of `WATCHDOG_USEC`, if systemd set one for us.
pub fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID")
        && !pid.is_empty()
        && pid.parse::<u32>().ok() != Some(std::process::id())
    {
        return None;
    }
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}

/// Pings the watchdog.
pub fn watchdog() -> bool {
    notify("WATCHDOG=1")
}
