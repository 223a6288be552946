//! A fresh instance per call against reused instances, for one component: what decided that
//! deployed services reuse idle instances (docs/architecture.md, docs/benchmarks.md).
//!
//! ```sh
//! target/dist/zato service build tests/peers/wasm/echo.py -o /tmp/echo.wasm
//! cargo run --profile dist -p zato-wasm --example bench_instances -- /tmp/echo.wasm 2000
//! ```

use std::time::{Duration, Instant};

use anyhow::Context as _;
use zato_wasm::{
    Body, ErrorKind, GuestError, Level, Limits, Request, Response, RestRequest, RestResponse,
    Runtime, RuntimeSettings, ServiceHost,
};

/// A host with nothing behind it: the echo calls none of it.
struct NoHost;

fn nothing() -> GuestError {
    GuestError {
        kind: ErrorKind::NotFound,
        message: "the benchmark has no cluster".into(),
    }
}

#[async_trait::async_trait]
impl ServiceHost for NoHost {
    async fn invoke(&self, _: String, _: String) -> Result<Response, GuestError> {
        Err(nothing())
    }
    async fn invoke_async(&self, _: String, _: String) -> Result<String, GuestError> {
        Err(nothing())
    }
    async fn rest_call(&self, _: String, _: RestRequest) -> Result<RestResponse, GuestError> {
        Err(nothing())
    }
    async fn sql_query(&self, _: String, _: String, _: String) -> Result<String, GuestError> {
        Err(nothing())
    }
    async fn sql_execute(&self, _: String, _: String, _: String) -> Result<u64, GuestError> {
        Err(nothing())
    }
    async fn amqp_publish(
        &self,
        _: String,
        _: String,
        _: Option<String>,
        _: Vec<(String, String)>,
    ) -> Result<(), GuestError> {
        Err(nothing())
    }
    async fn zmq_send(&self, _: String, _: String) -> Result<(), GuestError> {
        Err(nothing())
    }
    async fn publish(
        &self,
        _: String,
        _: String,
        _: Vec<(String, String)>,
        _: Option<String>,
    ) -> Result<String, GuestError> {
        Err(nothing())
    }
    async fn kv_get(&self, _: String) -> Result<Option<String>, GuestError> {
        Err(nothing())
    }
    async fn kv_set(&self, _: String, _: String, _: Option<u64>) -> Result<(), GuestError> {
        Err(nothing())
    }
    async fn kv_delete(&self, _: String) -> Result<bool, GuestError> {
        Err(nothing())
    }
    fn log(&self, _: Level, _: &str) {}
}

/// Microseconds per call of `calls` calls with at most `idle` idle instances kept.
async fn per_call(bytes: &[u8], idle: usize, calls: u32) -> anyhow::Result<f64> {
    let runtime = Runtime::new(&RuntimeSettings {
        idle_instances: idle,
        ..RuntimeSettings::default()
    })?;
    let loaded = runtime.load(bytes)?;
    let request = Request {
        cid: "bench".into(),
        channel: "http".into(),
        channel_name: None,
        payload: r#"{"order": 1234, "note": "benchmark"}"#.into(),
        headers: Vec::new(),
        path_params: Vec::new(),
        query: Vec::new(),
        meta: "{}".into(),
    };
    let limits = Limits {
        deadline: Duration::from_secs(5),
        memory_bytes: 128 << 20,
    };
    let started = Instant::now();
    for _ in 0..calls {
        let response = loaded
            .call("bench", &request, Box::new(NoHost), limits)
            .await?
            .map_err(|e| anyhow::anyhow!("the service failed: {}", e.message))?;
        anyhow::ensure!(matches!(response.body, Body::Json(_)), "a JSON answer");
    }
    Ok(started.elapsed().as_secs_f64() * 1e6 / f64::from(calls))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .context("usage: bench_instances COMPONENT.wasm [CALLS]")?;
    let calls: u32 = args.next().map_or(Ok(2000), |c| c.parse())?;
    let bytes = std::fs::read(&path).with_context(|| format!("reading {path}"))?;
    let fresh = per_call(&bytes, 0, calls / 10).await?;
    let reused = per_call(&bytes, 8, calls).await?;
    println!("fresh instance per call: {fresh:.0} us per call");
    println!("reused instances:        {reused:.1} us per call");
    println!("reuse is {:.0}x faster", fresh / reused);
    Ok(())
}
