//! List, get, create and delete on one config collection of the admin API; every config
//! command (`channel`, `outgoing`, `amqp definition`, `security`, `job`, `topic`,
//! `subscription`) is one of these. Edit is here too, for the collections that offer it.

use anyhow::Context as _;
use serde_json::{Map, Value};

use crate::cli::{CreateArgs, Crud, EditArgs};
use crate::client::AdminClient;
use crate::input;
use crate::output::{Output, object_table, print_json};

/// One collection of the admin API.
#[derive(Debug, Clone, Copy)]
pub struct Collection {
    /// Under `/zato/api`, e.g. `/channels/http`.
    pub path: &'static str,
    /// What one object is called in messages, e.g. `HTTP channel`.
    pub noun: &'static str,
    /// The fields `list` shows as columns (`figures.depth` for a nested one).
    pub columns: &'static [&'static str],
}

impl Collection {
    pub const HTTP_CHANNEL: Self = Self {
        path: "/channels/http",
        noun: "HTTP channel",
        columns: &[
            "name",
            "method",
            "url_path",
            "service",
            "security",
            "is_active",
        ],
    };
    pub const AMQP_CHANNEL: Self = Self {
        path: "/channels/amqp",
        noun: "AMQP channel",
        columns: &[
            "name",
            "definition",
            "queue",
            "service",
            "consumers",
            "is_active",
        ],
    };
    pub const ZMQ_CHANNEL: Self = Self {
        path: "/channels/zmq",
        noun: "ZeroMQ channel",
        columns: &[
            "name",
            "address",
            "socket_type",
            "bind",
            "service",
            "is_active",
        ],
    };
    pub const AMQP_OUTGOING: Self = Self {
        path: "/outgoing/amqp",
        noun: "outgoing AMQP connection",
        columns: &["name", "definition", "exchange", "routing_key", "is_active"],
    };
    pub const ZMQ_OUTGOING: Self = Self {
        path: "/outgoing/zmq",
        noun: "outgoing ZeroMQ connection",
        columns: &["name", "address", "socket_type", "bind", "is_active"],
    };
    pub const REST_OUTGOING: Self = Self {
        path: "/outgoing/rest",
        noun: "outgoing REST connection",
        columns: &[
            "name",
            "address",
            "path",
            "method",
            "data_format",
            "is_active",
        ],
    };
    pub const SQL_OUTGOING: Self = Self {
        path: "/outgoing/sql",
        noun: "outgoing SQL connection",
        columns: &[
            "name",
            "engine",
            "host",
            "port",
            "database",
            "username",
            "is_active",
        ],
    };
    pub const AMQP_DEFINITION: Self = Self {
        path: "/amqp/definitions",
        noun: "AMQP definition",
        columns: &["name", "heartbeat", "prefetch", "is_active"],
    };
    pub const SECURITY: Self = Self {
        path: "/security",
        noun: "security definition",
        columns: &["name", "type", "username", "header"],
    };
    pub const JOB: Self = Self {
        path: "/jobs",
        noun: "job",
        columns: &[
            "name",
            "kind",
            "service",
            "is_active",
            "runs",
            "last_fire",
            "next_fire",
        ],
    };
    pub const TOPIC: Self = Self {
        path: "/topics",
        noun: "topic",
        columns: &[
            "name",
            "max_messages",
            "max_age_s",
            "when_full",
            "is_active",
            "figures.depth",
        ],
    };
    pub const SUBSCRIPTION: Self = Self {
        path: "/subscriptions",
        noun: "subscription",
        columns: &[
            "name",
            "topic",
            "delivery.kind",
            "start",
            "max_deliveries",
            "is_active",
            "figures.backlog",
        ],
    };

    /// Runs one action.
    pub fn run(&self, client: &AdminClient, out: Output, action: &Crud) -> anyhow::Result<()> {
        match action {
            Crud::List => {
                let items = client.get(self.path)?;
                out.show(&items, |items| object_table(items, self.columns));
            }
            Crud::Get { name } => {
                let item = client
                    .get(&self.item_path(name))
                    .with_context(|| format!("cannot get {} '{name}'", self.noun))?;
                print_json(&item);
            }
            Crud::Create(args) => {
                let object = Value::Object(object_of(args)?);
                let created = client
                    .post(self.path, Some(&object))
                    .with_context(|| format!("cannot create the {}", self.noun))?;
                out.show(&created, |created| {
                    let name = created
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    println!("created {} '{name}'", self.noun);
                });
            }
            Crud::Delete { name } => {
                let deleted = client
                    .delete(&self.item_path(name))
                    .with_context(|| format!("cannot delete {} '{name}'", self.noun))?;
                out.show(&deleted, |_| println!("deleted {} '{name}'", self.noun));
            }
        }
        Ok(())
    }

    /// Changes object `name`: its stored fields, less `computed` (what `get` adds to them,
    /// which the server would refuse back), with the changes over them, PUT whole, as the
    /// admin API replaces an object whole.
    pub fn edit(
        &self,
        client: &AdminClient,
        out: Output,
        args: &EditArgs,
        computed: &[&str],
    ) -> anyhow::Result<()> {
        let name = &args.name;
        let changes = match (&args.file, &args.data) {
            (Some(file), _) => input::object_from_file(file)?,
            (None, Some(data)) => input::object("--data", data)?,
            (None, None) => anyhow::bail!("nothing to change: give --file or --data"),
        };
        let path = self.item_path(name);
        let current = client
            .get(&path)
            .with_context(|| format!("cannot get {} '{name}'", self.noun))?;
        let Value::Object(mut object) = current else {
            anyhow::bail!(
                "the server did not answer {} '{name}' as an object",
                self.noun
            );
        };
        for field in computed {
            object.remove(*field);
        }
        object.extend(changes);
        let edited = client
            .put(&path, &Value::Object(object))
            .with_context(|| format!("cannot edit {} '{name}'", self.noun))?;
        out.show(&edited, |_| println!("edited {} '{name}'", self.noun));
        Ok(())
    }

    /// `/channels/http/<name>`, the name escaped so that no name can reach another route.
    pub fn item_path(&self, name: &str) -> String {
        format!("{}/{}", self.path, escape_segment(name))
    }
}

/// The object `create` sends: `--file` or `--data`, with the flags' fields over it.
pub fn object_of(args: &CreateArgs) -> anyhow::Result<Map<String, Value>> {
    let mut object = match (&args.file, &args.data) {
        (Some(file), _) => input::object_from_file(file)?,
        (None, Some(data)) => input::object("--data", data)?,
        (None, None) => Map::new(),
    };
    let flags = [
        ("name", &args.name),
        ("url_path", &args.path),
        ("service", &args.service),
        ("method", &args.method),
        ("security", &args.security),
    ];
    for (field, value) in flags {
        if let Some(value) = value {
            let value = if field == "method" {
                value.to_ascii_uppercase()
            } else {
                value.clone()
            };
            object.insert(field.to_owned(), Value::String(value));
        }
    }
    if object.is_empty() {
        anyhow::bail!("nothing to create: give --file, --data or the object's fields as flags");
    }
    Ok(object)
}

/// Percent-encodes what is not safe in one URL path segment.
pub fn escape_segment(segment: &str) -> String {
    let mut escaped = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            escaped.push(char::from(byte));
        } else {
            escaped.push_str(&format!("%{byte:02X}"));
        }
    }
    escaped
}
