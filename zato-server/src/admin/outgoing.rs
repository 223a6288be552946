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
use super::crud::{References, name_of};
use crate::service::{Context, Request, Response, Service, ServiceError};

/// Seals every secret that is not sealed yet.
fn seal_all<'a>(
    secrets: impl IntoIterator<Item = &'a mut Secret>,
    keyring: &Keyring,
) -> Result<(), ServiceError> {
    for secret in secrets {
        if !secret.is_empty() {
            // The server's configuration, not the request, is what is missing: a conflict
            // with its state, which retrying the same request will not fix.
            *secret = keyring
                .seal(secret)
                .map_err(|e| ServiceError::Conflict(format!("secrets cannot be stored: {e}")))?;
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

/// Where a REST connection's credentials go: its scheme, host and port, and the header an
/// API key travels in.
fn rest_destination(rest: &OutgoingRest) -> (String, Option<String>) {
    let authority = rest
        .address
        .split_once("://")
        .map(|(scheme, rest)| format!("{scheme}://{}", rest.split('/').next().unwrap_or_default()))
        .unwrap_or_default()
        .to_ascii_lowercase();
    let header = match &rest.security {
        Some(RestSecurity::Apikey { header, .. }) => Some(header.to_ascii_lowercase()),
        _ => None,
    };
    (authority, header)
}

/// A stored secret is kept by an edit that leaves it out only while it would go where it
/// went before: otherwise anyone allowed to edit could point the connection at a server of
/// their own and read the secret there.
fn refuse_new_destination(field: &str, moved: bool) -> Result<(), ServiceError> {
    if moved {
        return Err(ServiceError::BadRequest(format!(
            "{field}: the connection now goes elsewhere, so its secret is not kept: give it again"
        )));
    }
    Ok(())
}

#[async_trait::async_trait]
impl AdminKind for OutgoingRest {
    const SERVICES: &'static str = "zato.outgoing.rest";
    const KEEPS_SECRETS: bool = true;

    fn keep_from(&mut self, stored: &Self) -> Result<(), ServiceError> {
        let moved = rest_destination(self) != rest_destination(stored);
        let same_type = |a: &RestSecurity, b: &RestSecurity| {
            std::mem::discriminant(a) == std::mem::discriminant(b)
        };
        if let (Some(given), Some(kept)) = (self.security.as_mut(), stored.security.as_ref())
            && same_type(given, kept)
        {
            let mut kept = kept.clone();
            for (new, old) in given.secrets_mut().zip(kept.secrets_mut()) {
                if new.is_empty() {
                    refuse_new_destination("security", moved)?;
                    *new = old.clone();
                }
            }
        }
        let key_missing = self
            .tls
            .client_key_pem
            .as_ref()
            .is_none_or(Secret::is_empty);
        if self.tls.client_cert_pem.is_some() && key_missing && stored.tls.client_key_pem.is_some()
        {
            refuse_new_destination("tls.client_key_pem", moved)?;
            self.tls.client_key_pem = stored.tls.client_key_pem.clone();
        }
        Ok(())
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

    const KEEPS_SECRETS: bool = true;

    fn keep_from(&mut self, stored: &Self) -> Result<(), ServiceError> {
        if self.password.is_empty() && !stored.password.is_empty() {
            let destination = |s: &OutgoingSql| {
                (
                    s.engine,
                    s.host.to_ascii_lowercase(),
                    s.port(),
                    s.username.clone(),
                )
            };
            refuse_new_destination("password", destination(self) != destination(stored))?;
            self.password = stored.password.clone();
        }
        Ok(())
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

/// `zato.outgoing.rest.ping`: calls the connection's ping method and path from this server.
pub struct PingRest;

#[async_trait::async_trait]
impl Service for PingRest {
    async fn handle(&self, request: Request, ctx: &Context) -> Result<Response, ServiceError> {
        let name = name_of(&request.payload)?;
        let started = Instant::now();
        let response = ctx.outgoing().rest(&name).ping().await?;
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
        let name = name_of(&request.payload)?;
        let took = ctx.outgoing().sql(&name).ping().await?;
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

/// Seals every secret sealed with an older key again with the current one; whether any was.
fn reseal_all<'a>(
    secrets: impl IntoIterator<Item = &'a mut Secret>,
    keyring: &Keyring,
) -> Result<bool, zato_common::sealed::SealError> {
    let mut changed = false;
    for secret in secrets {
        if keyring.is_stale(secret) {
            *secret = keyring.seal(&keyring.open(secret)?)?;
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
            return Err(ServiceError::Conflict(
                zato_common::sealed::SealError::NoKey.to_string(),
            ));
        }
        let config = ConfigStore::new(ctx.broker().clone());
        let mut resealed = Vec::new();
        // One that does not open (sealed with a key this server lacks) is reported, and the
        // others are still sealed again.
        let mut failed = Vec::new();
        for mut rest in config.list::<OutgoingRest>().await? {
            let id = format!("outgoing_rest/{}", rest.name);
            match reseal_all(rest.secrets_mut(), keyring) {
                Ok(true) => {
                    config.update(&rest.name.clone(), &rest).await?;
                    resealed.push(id);
                }
                Ok(false) => {}
                Err(e) => failed.push(json!({"object": id, "error": e.to_string()})),
            }
        }
        for mut sql in config.list::<OutgoingSql>().await? {
            let id = format!("outgoing_sql/{}", sql.name);
            match reseal_all([&mut sql.password], keyring) {
                Ok(true) => {
                    config.update(&sql.name.clone(), &sql).await?;
                    resealed.push(id);
                }
                Ok(false) => {}
                Err(e) => failed.push(json!({"object": id, "error": e.to_string()})),
            }
        }
        Ok(Response::json(json!({
            "key_id": keyring.key_id(),
            "resealed": resealed,
            "failed": failed,
        })))
    }
}
