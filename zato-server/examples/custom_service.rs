//! A user's own server: the built-in services plus two of the user's, run as a binary.
//!
//! ```sh
//! ZATO_ADMIN_TOKEN=secret cargo run -p zato-server --example custom_service
//! # expose `demo.greet` on an HTTP channel, then call it:
//! curl -H 'Authorization: Bearer secret' -d '{"name": "greet", "url_path": "/greet/{who}", "service": "demo.greet"}' \
//!      http://127.0.0.1:17010/zato/api/channels/http
//! curl http://127.0.0.1:17010/greet/ada
//! ```
//!
//! In a crate of your own, depend on `zato-server` and `serde_json`, write a `main` like the
//! one below, and build it instead of the stock `zato-server` binary: every setting, channel
//! and admin route works the same.

use serde_json::json;
use zato_server::{Context, Request, Response, Server, ServerSettings, Service, ServiceError};

/// Greets whoever the URL names, and counts greetings in Redis through another service.
struct Greet;

#[zato_server::async_trait]
impl Service for Greet {
    async fn handle(&self, request: Request, ctx: &Context) -> Result<Response, ServiceError> {
        let who = request
            .path_params
            .get("who")
            .cloned()
            .or_else(|| request.payload["who"].as_str().map(str::to_owned))
            .ok_or_else(|| {
                ServiceError::BadRequest("say who to greet: /greet/{who} or {\"who\": ...}".into())
            })?;
        // In-process call to another service, sharing this request's cid.
        let count = ctx
            .invoke("demo.count", json!({"who": who}))
            .await?
            .into_json();
        // Any header the caller sent, by name in any case.
        let word = request.headers.get("x-greeting").unwrap_or("hello");
        Ok(Response::json(
            json!({"greeting": format!("{word}, {who}"), "times": count["times"]}),
        ))
    }
}

/// Counts how often each name was greeted, in the cluster's Redis.
struct Count;

#[zato_server::async_trait]
impl Service for Count {
    async fn handle(&self, request: Request, ctx: &Context) -> Result<Response, ServiceError> {
        let who = request.payload["who"]
            .as_str()
            .unwrap_or("nobody")
            .to_owned();
        let mut conn = ctx
            .redis()
            .conn()
            .await
            .map_err(|e| ServiceError::Unavailable(e.to_string()))?;
        let times: u64 = redis::cmd("HINCRBY")
            .arg(ctx.key("demo:greetings"))
            .arg(&who)
            .arg(1)
            .query_async(&mut conn)
            .await
            .map_err(|e| ServiceError::Unavailable(e.to_string()))?;
        Ok(Response::json(json!({"who": who, "times": times})))
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    zato_common::logging::init("info");
    let settings = ServerSettings::load(None)?;
    Server::new(settings)
        .service("demo.greet", Greet)
        .service("demo.count", Count)
        .run()
        .await?;
    Ok(())
}
