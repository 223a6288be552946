//! The baselines of the outgoing benchmark (`scripts/bench-outgoing`): bare actix-web
//! handlers that make the same calls as the platform's services, with the same client
//! (reqwest) and driver (sqlx), and the upstream both call.
//!
//! ```sh
//! bare_outgoing upstream 127.0.0.1:18090                  # GET /item answers a small JSON document
//! bare_outgoing proxy 127.0.0.1:18091 http://127.0.0.1:18090/item postgres://postgres@127.0.0.1/test 2 10
//! ```
//!
//! The proxy's `/rest` GETs the upstream and answers its status and JSON body, as
//! `demo.rest` does; `/sql` runs `SELECT $1::int AS id, 'x'::text AS name` through a pool of
//! the given size and answers the rows, as `demo.sql.query` does. Both read the request body
//! as JSON first, as a channel does.

use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::{Value, json};
use sqlx::Row as _;

struct Baseline {
    client: reqwest::Client,
    upstream: String,
    pool: Option<sqlx::PgPool>,
}

async fn item() -> HttpResponse {
    HttpResponse::Ok()
        .json(json!({"id": 7, "name": "widget", "tags": ["a", "b"], "price": "12.50"}))
}

async fn rest(body: web::Bytes, state: web::Data<Baseline>) -> HttpResponse {
    if serde_json::from_slice::<Value>(&body).is_err() {
        return HttpResponse::BadRequest().finish();
    }
    let answer = match state.client.get(&state.upstream).send().await {
        Ok(answer) => answer,
        Err(e) => return HttpResponse::BadGateway().body(e.to_string()),
    };
    let status = answer.status().as_u16();
    match answer.bytes().await {
        Ok(bytes) => {
            let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            HttpResponse::Ok().json(json!({"status": status, "body": body}))
        }
        Err(e) => HttpResponse::BadGateway().body(e.to_string()),
    }
}

async fn sql(body: web::Bytes, state: web::Data<Baseline>) -> HttpResponse {
    if serde_json::from_slice::<Value>(&body).is_err() {
        return HttpResponse::BadRequest().finish();
    }
    let Some(pool) = &state.pool else {
        return HttpResponse::ServiceUnavailable().finish();
    };
    let rows = sqlx::query("SELECT $1::int AS id, 'x'::text AS name")
        .bind(1_i32)
        .fetch_all(pool)
        .await;
    match rows {
        Ok(rows) => {
            let rows: Vec<Value> = rows
                .iter()
                .map(|row| {
                    json!({"id": row.try_get::<i32, _>("id").ok(), "name": row.try_get::<String, _>("name").ok()})
                })
                .collect();
            HttpResponse::Ok().json(rows)
        }
        Err(e) => HttpResponse::BadGateway().body(e.to_string()),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or_else(|| default.to_owned());
    match arg(0, "upstream").as_str() {
        "upstream" => {
            HttpServer::new(|| App::new().route("/item", web::get().to(item)))
                .workers(1)
                .bind(arg(1, "127.0.0.1:18090"))?
                .run()
                .await?;
        }
        _ => {
            let workers: usize = arg(4, "2").parse()?;
            let pool_size: u32 = arg(5, "10").parse()?;
            let database = arg(3, "");
            let pool = if database.is_empty() {
                None
            } else {
                // Lazy, as the platform's pools are: connections open on the worker that
                // first needs one, so neither side pays for a socket on another runtime.
                Some(
                    sqlx::postgres::PgPoolOptions::new()
                        .max_connections(pool_size)
                        .connect_lazy(&database)?,
                )
            };
            let state = web::Data::new(Baseline {
                client: reqwest::Client::builder()
                    .pool_max_idle_per_host(64)
                    .build()?,
                upstream: arg(2, "http://127.0.0.1:18090/item"),
                pool,
            });
            HttpServer::new(move || {
                App::new()
                    .app_data(state.clone())
                    .route("/rest", web::post().to(rest))
                    .route("/sql", web::post().to(sql))
            })
            .workers(workers)
            .bind(arg(1, "127.0.0.1:18091"))?
            .run()
            .await?;
        }
    }
    Ok(())
}
