//! A server whose services call a REST API and a database through outgoing connections.
//!
//! ```sh
//! ZATO_ADMIN_TOKEN=secret ZATO_SECRET_KEY=$(zato secrets new-key) \
//!     cargo run -p zato-server --example integration
//! # define the connections (once per cluster; every server applies them live):
//! zato --token secret outgoing rest create --data \
//!     '{"name": "crm", "address": "https://crm.example.com", "path": "/customers/{id}",
//!       "security": {"type": "bearer", "token": "..."}}'
//! zato --token secret outgoing sql create --data \
//!     '{"name": "billing", "engine": "postgresql", "host": "127.0.0.1", "database": "billing",
//!       "username": "zato", "password": "..."}'
//! zato --token secret invoke demo.customer --payload '{"id": 7}'
//! ```
//!
//! `demo.customer` is what a user writes. The `demo.rest`, `demo.sql.*` services pass a
//! request straight to a connection, which the end-to-end tests and the benchmarks use.

use serde_json::{Value, json};
use zato_server::service::RestCall;
use zato_server::{Context, Request, Response, Server, ServerSettings, Service, ServiceError};

/// A customer from the CRM, with their open invoices from the billing database.
struct Customer;

#[zato_server::async_trait]
impl Service for Customer {
    async fn handle(&self, request: Request, ctx: &Context) -> Result<Response, ServiceError> {
        let id = request.payload["id"]
            .as_i64()
            .ok_or_else(|| ServiceError::BadRequest("expected {\"id\": <number>}".into()))?;
        // GET https://crm.example.com/customers/7 (the path template fills `{id}`).
        let customer = ctx.outgoing().rest("crm").get(json!({"id": id})).await?;
        if customer.status == 404 {
            return Err(ServiceError::NotFound(format!("no customer {id}")));
        }
        // Parameters are bound, never spliced into the SQL.
        let invoices = ctx
            .outgoing()
            .sql("billing")
            .query(
                "SELECT id, amount, due FROM invoices WHERE customer_id = $1 AND paid = false",
                &[json!(id)],
            )
            .await?;
        Ok(Response::json(
            json!({"customer": customer.body, "open_invoices": invoices}),
        ))
    }
}

/// `{"connection", "method", "params", "headers", "body"}`: one call through an outgoing REST
/// connection; answers the upstream's status, headers and body.
struct RestProxy;

#[zato_server::async_trait]
impl Service for RestProxy {
    async fn handle(&self, request: Request, ctx: &Context) -> Result<Response, ServiceError> {
        let p = &request.payload;
        let connection = text(p, "connection")?;
        let call = RestCall {
            method: p["method"].as_str().map(str::to_owned),
            params: p["params"].as_object().cloned().unwrap_or_default(),
            headers: serde_json::from_value(p["headers"].clone()).unwrap_or_default(),
            body: p.get("body").filter(|b| !b.is_null()).cloned(),
        };
        let response = ctx.outgoing().rest(connection).call(call).await?;
        Ok(Response::json(
            serde_json::to_value(response).map_err(ServiceError::internal)?,
        ))
    }
}

fn text<'a>(payload: &'a Value, field: &str) -> Result<&'a str, ServiceError> {
    payload[field]
        .as_str()
        .ok_or_else(|| ServiceError::BadRequest(format!("expected \"{field}\": \"...\"")))
}

fn params(payload: &Value) -> Vec<Value> {
    payload["params"].as_array().cloned().unwrap_or_default()
}

/// `{"connection", "sql", "params"}`: the rows.
struct SqlQuery;

#[zato_server::async_trait]
impl Service for SqlQuery {
    async fn handle(&self, request: Request, ctx: &Context) -> Result<Response, ServiceError> {
        let p = &request.payload;
        let rows = ctx
            .outgoing()
            .sql(text(p, "connection")?)
            .query(text(p, "sql")?, &params(p))
            .await?;
        Ok(Response::json(json!(rows)))
    }
}

/// `{"connection", "sql", "params"}`: the rows affected.
struct SqlExecute;

#[zato_server::async_trait]
impl Service for SqlExecute {
    async fn handle(&self, request: Request, ctx: &Context) -> Result<Response, ServiceError> {
        let p = &request.payload;
        let affected = ctx
            .outgoing()
            .sql(text(p, "connection")?)
            .execute(text(p, "sql")?, &params(p))
            .await?;
        Ok(Response::json(json!({"rows_affected": affected})))
    }
}

/// `{"connection", "statements": [{"sql", "params"}], "fail": bool}`: runs the statements in
/// one transaction and commits, unless `fail`, in which case the service fails after the
/// last statement and the transaction is rolled back with it.
struct SqlTransaction;

#[zato_server::async_trait]
impl Service for SqlTransaction {
    async fn handle(&self, request: Request, ctx: &Context) -> Result<Response, ServiceError> {
        let p = &request.payload;
        let mut tx = ctx
            .outgoing()
            .sql(text(p, "connection")?)
            .transaction()
            .await?;
        let mut affected = 0;
        for statement in p["statements"].as_array().into_iter().flatten() {
            affected += tx
                .execute(text(statement, "sql")?, &params(statement))
                .await?;
        }
        if p["fail"].as_bool() == Some(true) {
            return Err(ServiceError::BadRequest(
                "failing on purpose: nothing is committed".into(),
            ));
        }
        tx.commit().await?;
        Ok(Response::json(json!({"rows_affected": affected})))
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    zato_common::logging::init("info");
    let settings = ServerSettings::load(None)?;
    Server::new(settings)
        .service("demo.customer", Customer)
        .service("demo.rest", RestProxy)
        .service("demo.sql.query", SqlQuery)
        .service("demo.sql.execute", SqlExecute)
        .service("demo.sql.transaction", SqlTransaction)
        .run()
        .await?;
    Ok(())
}
