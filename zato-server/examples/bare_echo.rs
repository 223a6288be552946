//! The baseline of the server benchmark: a bare actix-web handler that echoes the request
//! body as JSON, with the same worker count, built with the same dependencies.
//!
//! ```sh
//! cargo run --release -p zato-server --example bare_echo -- 127.0.0.1:18080 2
//! ```

use actix_web::{App, HttpResponse, HttpServer, web};

async fn echo(body: web::Bytes) -> HttpResponse {
    // Parse and serialize as the server's JSON channel does, so both do the same work.
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(value) => HttpResponse::Ok().json(value),
        Err(e) => HttpResponse::BadRequest().body(e.to_string()),
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let bind = args.next().unwrap_or_else(|| "127.0.0.1:18080".into());
    let workers = args.next().and_then(|w| w.parse().ok()).unwrap_or(2);
    HttpServer::new(|| App::new().default_service(web::to(echo)))
        .workers(workers)
        .bind(bind)?
        .run()
        .await
}
