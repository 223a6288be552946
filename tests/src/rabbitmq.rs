//! The machine's RabbitMQ, administered through `rabbitmqctl` (`scripts/test` installs it):
//! closing connections, stopping and starting the broker, and vhosts of a test's own.

use std::process::Command;
use std::time::Duration;

use crate::connector::{peer, unique_name};

/// How long [`rabbitmqctl`] keeps trying.
const ATTEMPTS: u32 = 40;

/// Runs `rabbitmqctl args`, again once a second while it fails, up to 40 times: a RabbitMQ
/// that is starting (after another test's `stop_app`, say) refuses its CLI for a while.
/// The error of the last attempt if none succeeded.
pub fn rabbitmqctl(args: &[&str]) -> Result<(), String> {
    let mut last = String::new();
    for attempt in 0..ATTEMPTS {
        match Command::new("rabbitmqctl").args(args).output() {
            Ok(output) if output.status.success() => return Ok(()),
            Ok(output) => {
                last = format!(
                    "{}: {}",
                    output.status,
                    String::from_utf8_lossy(&output.stderr).trim()
                );
            }
            Err(e) => last = format!("cannot run rabbitmqctl: {e}"),
        }
        if attempt == 0 {
            eprintln!("rabbitmqctl {args:?} failed ({last}); RabbitMQ may be restarting, retrying");
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    Err(format!("rabbitmqctl {args:?}: {last}"))
}

/// A vhost of the test's own (the `guest` user may do anything in it), deleted on drop: closing
/// "all" its connections touches only the test's.
pub struct Vhost {
    pub name: String,
}

impl Vhost {
    /// A new vhost named after `prefix`.
    pub fn create(prefix: &str) -> Self {
        let vhost = Self {
            name: unique_name(prefix),
        };
        if let Err(e) = rabbitmqctl(&["add_vhost", &vhost.name]) {
            panic!("{e}");
        }
        let grant = [
            "set_permissions",
            "-p",
            &vhost.name,
            "guest",
            ".*",
            ".*",
            ".*",
        ];
        if let Err(e) = rabbitmqctl(&grant) {
            panic!("{e}");
        }
        vhost
    }

    /// The `guest` user's AMQP URL of the vhost.
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:5672/{}", self.name)
    }

    /// A new durable queue named after `prefix` in the vhost (declared by pika); its name.
    pub fn declare_queue(&self, prefix: &str) -> String {
        let queue = unique_name(prefix);
        let declared = peer("amqp_peer.py", &["declare", &queue])
            .env("AMQP_URL", self.url())
            .status()
            .is_ok_and(|s| s.success());
        assert!(declared, "queue {queue} declared in {}", self.name);
        queue
    }

    /// Closes every connection of the vhost.
    pub fn close_connections(&self) -> Result<(), String> {
        rabbitmqctl(&[
            "close_all_connections",
            "--vhost",
            &self.name,
            "--limit",
            "1000",
            "closed by the test",
        ])
    }
}

impl Drop for Vhost {
    fn drop(&mut self) {
        if let Err(e) = rabbitmqctl(&["delete_vhost", &self.name]) {
            eprintln!("{e}: delete the vhost by hand");
        }
    }
}
