//! Create, read, update, delete of one config kind, as five services:
//! `<prefix>.list`, `.get`, `.create`, `.edit`, `.delete`.

use std::marker::PhantomData;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use zato_broker::ConfigStore;
use zato_common::model::ConfigObject;

use crate::service::{Context, Request, Response, Service, ServiceError, ServiceRegistry};
use crate::worker_store::WorkerStore;

/// What the admin API needs to know about a config kind beyond [`ConfigObject`].
#[async_trait::async_trait]
pub trait AdminKind: ConfigObject {
    /// The services' name prefix, e.g. `zato.channel.http`.
    const SERVICES: &'static str;

    /// Checks against the cluster (the names it refers to exist, nothing else answers the
    /// same requests). `current` is the name of the object being replaced.
    async fn check(
        &self,
        _refs: &References<'_>,
        _current: Option<&str>,
    ) -> Result<(), ServiceError> {
        Ok(())
    }

    /// Why the object called `name` cannot be deleted now, if it cannot.
    async fn check_delete(_name: &str, _refs: &References<'_>) -> Result<(), ServiceError> {
        Ok(())
    }

    /// Adds what is not stored with the objects to their views (a job's run state).
    async fn annotate(_views: &mut [Value], _refs: &References<'_>) -> Result<(), ServiceError> {
        Ok(())
    }

    /// Whether an edit may leave out fields it keeps from the stored object (write-only
    /// secrets): only those kinds read the stored object first.
    const KEEPS_SECRETS: bool = false;

    /// On edit, before validation: takes from the stored object what an edit may leave out.
    fn keep_from(&mut self, _stored: &Self) -> Result<(), ServiceError> {
        Ok(())
    }

    /// The form that is stored (secrets hashed or sealed with the server's key).
    fn prepare(self, _refs: &References<'_>) -> Result<Self, ServiceError> {
        Ok(self)
    }

    /// What else storing the object takes, once it is stored (a subscription's group).
    async fn stored(&self, _refs: &References<'_>) -> Result<(), ServiceError> {
        Ok(())
    }

    /// Whether deleting an object takes more than removing it from the store: then the
    /// object is read first and handed to [`AdminKind::deleted`].
    const CLEANS_UP: bool = false;

    /// What else goes with a deleted object (a subscription's group and dead letters).
    async fn deleted(_object: Self, _refs: &References<'_>) -> Result<(), ServiceError> {
        Ok(())
    }

    /// The form that is shown (secrets removed).
    fn view(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// What reference checks can look at: this server's services and caches, and the store.
pub struct References<'a> {
    pub ctx: &'a Context<'a>,
    pub store: &'a WorkerStore,
    pub config: &'a ConfigStore,
}

impl References<'_> {
    /// Refuses a reference to a service this server does not have.
    pub fn require_service(&self, field: &str, service: &str) -> Result<(), ServiceError> {
        if self.ctx.invoke_target_missing(service) {
            return Err(ServiceError::BadRequest(format!(
                "{field}: no such service '{service}'"
            )));
        }
        Ok(())
    }

    /// Refuses a reference to a missing object of kind `T`.
    pub async fn require<T: ConfigObject>(
        &self,
        field: &str,
        name: &str,
    ) -> Result<(), ServiceError> {
        match self.config.get::<T>(name).await? {
            Some(_) => Ok(()),
            None => Err(ServiceError::BadRequest(format!(
                "{field}: no {} '{name}'",
                T::KIND.label()
            ))),
        }
    }

    /// Refuses to delete `name` while objects of kind `T` selected by `uses` refer to it.
    pub async fn refuse_if_used<T: ConfigObject>(
        &self,
        kind: &str,
        name: &str,
        uses: impl Fn(&T) -> bool + Send,
    ) -> Result<(), ServiceError> {
        let users: Vec<String> = self
            .config
            .list::<T>()
            .await?
            .iter()
            .filter(|o| uses(o))
            .map(|o| o.name().to_owned())
            .collect();
        if users.is_empty() {
            return Ok(());
        }
        Err(ServiceError::Conflict(format!(
            "{kind} '{name}' is used by {} {}; change them first",
            T::KIND.label(),
            users.join(", ")
        )))
    }
}

#[derive(Clone, Copy)]
enum Op {
    List,
    Get,
    Create,
    Edit,
    Delete,
}

struct Crud<T> {
    op: Op,
    store: Arc<WorkerStore>,
    kind: PhantomData<fn() -> T>,
}

/// Registers the five services of kind `T`.
pub fn register<T: AdminKind>(registry: &mut ServiceRegistry, store: &Arc<WorkerStore>) {
    for (suffix, op) in [
        ("list", Op::List),
        ("get", Op::Get),
        ("create", Op::Create),
        ("edit", Op::Edit),
        ("delete", Op::Delete),
    ] {
        registry.register(
            format!("{}.{suffix}", T::SERVICES),
            Crud::<T> {
                op,
                store: store.clone(),
                kind: PhantomData,
            },
        );
    }
}

/// A payload as the type a service takes; a refusal naming `what` and the field otherwise.
pub(super) fn parse<T: DeserializeOwned>(value: Value, what: &str) -> Result<T, ServiceError> {
    serde_json::from_value(value)
        .map_err(|e| ServiceError::BadRequest(format!("invalid {what}: {e}")))
}

pub(super) fn name_of(payload: &Value) -> Result<String, ServiceError> {
    payload
        .get("name")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| ServiceError::BadRequest("expected {\"name\": ...}".into()))
}

#[async_trait::async_trait]
impl<T: AdminKind> Service for Crud<T> {
    async fn handle(&self, request: Request, ctx: &Context) -> Result<Response, ServiceError> {
        let config = ConfigStore::new(ctx.broker().clone());
        let refs = References {
            ctx,
            store: &self.store,
            config: &config,
        };
        let kind = T::KIND.as_str();
        match self.op {
            Op::List => {
                let objects = config.list::<T>().await?;
                let mut views: Vec<Value> = objects.iter().map(T::view).collect();
                T::annotate(&mut views, &refs).await?;
                Ok(Response::json(Value::Array(views)))
            }
            Op::Get => {
                let name = name_of(&request.payload)?;
                match config.get::<T>(&name).await? {
                    Some(object) => {
                        let mut views = [object.view()];
                        T::annotate(&mut views, &refs).await?;
                        let [view] = views;
                        Ok(Response::json(view))
                    }
                    None => Err(ServiceError::NotFound(format!(
                        "{kind} '{name}' does not exist"
                    ))),
                }
            }
            Op::Create => {
                let object: T = parse(request.payload, kind)?;
                object
                    .validate()
                    .map_err(|e| ServiceError::BadRequest(format!("invalid {kind}: {e}")))?;
                object.check(&refs, None).await?;
                let object = object.prepare(&refs)?;
                config.create(&object).await?;
                object.stored(&refs).await?;
                Ok(Response::json(object.view()).with_status(201))
            }
            Op::Edit => {
                let name = name_of(&request.payload)?;
                let mut object: T = parse(
                    request
                        .payload
                        .get("object")
                        .cloned()
                        .unwrap_or(Value::Null),
                    kind,
                )?;
                if T::KEEPS_SECRETS {
                    match config.get::<T>(&name).await {
                        Ok(Some(stored)) => object.keep_from(&stored)?,
                        // Nothing to keep: the edit must give every field (and a stored
                        // object this build cannot read can still be replaced).
                        Ok(None) | Err(zato_broker::BrokerError::Corrupt { .. }) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                object
                    .validate()
                    .map_err(|e| ServiceError::BadRequest(format!("invalid {kind}: {e}")))?;
                object.check(&refs, Some(&name)).await?;
                let object = object.prepare(&refs)?;
                config.update(&name, &object).await?;
                object.stored(&refs).await?;
                Ok(Response::json(object.view()))
            }
            Op::Delete => {
                let name = name_of(&request.payload)?;
                T::check_delete(&name, &refs).await?;
                let stored = match T::CLEANS_UP {
                    true => config.get::<T>(&name).await.ok().flatten(),
                    false => None,
                };
                config.delete(T::KIND, &name).await?;
                if let Some(object) = stored {
                    T::deleted(object, &refs).await?;
                }
                Ok(Response::json(json!({"deleted": name})))
            }
        }
    }
}
