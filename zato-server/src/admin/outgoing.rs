//! Admin rules of outgoing REST and SQL connections: their secrets are sealed with the
//! server's key before they are stored, never shown, and kept when an edit leaves them out;
//! `ping` tells whether the other side answers; `reseal` seals every secret again with the
//! current key after a rotation.

use std::time::Instant;

use serde_json::{Value, json};
use zato_broker::ConfigStore;
use zato_common::Secret;
use zato_common::model::{OutgoingRest, OutgoingSql, RestSecurity};
use zato_common::sealed::Keyring;

use super::AdminKind;
use super::crud::References;
use crate::service::{Context, Request, Response, Service, ServiceError};

/// Seals every secret that is not sealed yet.
fn seal_all<'a>(
    secrets: impl IntoIterator<Item = &'a mut Secret>,
    keyring: &Keyring,
) -> Result<(), ServiceError> {
    for secret in secrets {
        if !secret.is_empty() {
            *secret = keyring
                .seal(secret)
                .map_err(|e| ServiceError::Unavailable(format!("secrets cannot be stored: {e}")))?;
        }
    }
    Ok(())
}

/// The view with the secrets' fields removed: they are write-only.
fn without(mut view: Value, pointers: &[&str]) -> Value {
    for pointer in pointers {
        let (parent, field) = pointer.rsplit_once('/').unwrap_or(("", pointer));
        if let Some(Value::Object(map)) = view.pointer_mut(parent) {
            map.remove(field);
        }
    }
    view
}

#[async_trait::async_trait]
impl AdminKind for OutgoingRest {
    const SERVICES: &'static str = "zato.outgoing.rest";

    fn keep_from(&mut self, stored: &Self) {
        let same_type = |a: &RestSecurity, b: &RestSecurity| {
            std::mem::discriminant(a) == std::mem::discriminant(b)
        };
        if let (Some(given), Some(kept)) = (self.security.as_mut(), stored.security.as_ref())
            && same_type(given, kept)
        {
            let mut kept = kept.clone();
            for (new, old) in given.secrets_mut().zip(kept.secrets_mut()) {
                if new.is_empty() {
                    *new = old.clone();
                }
            }
        }
        if self.tls.client_cert_pem.is_some() && self.tls.client_key_pem.is_none() {
            self.tls.client_key_pem = stored.tls.client_key_pem.clone();
        }
    }

    fn prepare(mut self, refs: &References<'_>) -> Result<Self, ServiceError> {
        seal_all(self.secrets_mut(), &refs.store.outgoing().keyring)?;
        Ok(self)
    }

    fn view(&self) -> Value {
        without(
            serde_json::to_value(self).unwrap_or(Value::Null),
            &[
                "/security/password",
                "/security/key",
                "/security/token",
                "/tls/client_key_pem",
            ],
        )
    }
}

#[async_trait::async_trait]
impl AdminKind for OutgoingSql {
    const SERVICES: &'static str = "zato.outgoing.sql";

    fn keep_from(&mut self, stored: &Self) {
        if self.password.is_empty() {
            self.password = stored.password.clone();
        }
    }

    fn prepare(mut self, refs: &References<'_>) -> Result<Self, ServiceError> {
        seal_all([&mut self.password], &refs.store.outgoing().keyring)?;
        Ok(self)
    }

    fn view(&self) -> Value {
        without(
            serde_json::to_value(self).unwrap_or(Value::Null),
            &["/password"],
        )
    }
}

fn name_of(request: &Request) -> Result<&str, ServiceError> {
    request.payload["name"]
        .as_str()
        .ok_or_else(|| ServiceError::BadRequest("expected {\"name\": ...}".into()))
}

/// `zato.outgoing.rest.ping`: calls the connection's ping method and path from this server.
pub struct PingRest;

#[async_trait::async_trait]
impl Service for PingRest {
    async fn handle(&self, request: Request, ctx: &Context) -> Result<Response, ServiceError> {
        let name = name_of(&request)?;
        let started = Instant::now();
        let response = ctx.outgoing().rest(name).ping().await?;
        Ok(Response::json(json!({
            "name": name,
            "ok": true,
            "status": response.status,
            "took_ms": started.elapsed().as_secs_f64() * 1000.0,
            "member": ctx.member(),
        })))
    }
}

/// `zato.outgoing.sql.ping`: `SELECT 1` through the connection's pool on this server.
pub struct PingSql;

#[async_trait::async_trait]
impl Service for PingSql {
    async fn handle(&self, request: Request, ctx: &Context) -> Result<Response, ServiceError> {
        let name = name_of(&request)?;
        let took = ctx.outgoing().sql(name).ping().await?;
        Ok(Response::json(json!({
            "name": name,
            "ok": true,
            "took_ms": took.as_secs_f64() * 1000.0,
            "member": ctx.member(),
        })))
    }
}

/// `zato.outgoing.reseal`: seals every stored secret of the outgoing connections again with
/// this server's current key (after a rotation, with the old key as `previous_secret_key`).
pub struct Reseal;

fn reseal_all<'a>(
    secrets: impl IntoIterator<Item = &'a mut Secret>,
    keyring: &Keyring,
) -> Result<bool, ServiceError> {
    let mut changed = false;
    for secret in secrets {
        if keyring.is_stale(secret) {
            let opened = keyring
                .open(secret)
                .map_err(|e| ServiceError::Unavailable(e.to_string()))?;
            *secret = keyring
                .seal(&opened)
                .map_err(|e| ServiceError::Unavailable(e.to_string()))?;
            changed = true;
        }
    }
    Ok(changed)
}

#[async_trait::async_trait]
impl Service for Reseal {
    async fn handle(&self, _request: Request, ctx: &Context) -> Result<Response, ServiceError> {
        let keyring = &ctx.outgoing_connections().keyring;
        if !keyring.can_seal() {
            return Err(ServiceError::Unavailable(
                zato_common::sealed::SealError::NoKey.to_string(),
            ));
        }
        let config = ConfigStore::new(ctx.broker().clone());
        let mut resealed = Vec::new();
        for mut rest in config.list::<OutgoingRest>().await? {
            if reseal_all(rest.secrets_mut(), keyring)? {
                config.update(&rest.name.clone(), &rest).await?;
                resealed.push(format!("outgoing_rest/{}", rest.name));
            }
        }
        for mut sql in config.list::<OutgoingSql>().await? {
            if reseal_all([&mut sql.password], keyring)? {
                config.update(&sql.name.clone(), &sql).await?;
                resealed.push(format!("outgoing_sql/{}", sql.name));
            }
        }
        Ok(Response::json(json!({
            "key_id": keyring.key_id(),
            "resealed": resealed,
        })))
    }
}
