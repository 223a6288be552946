//! Loads a component and calls it: `cargo run -p zato-wasm --example call_component -- FILE [PAYLOAD] [CALLS]`.

use std::time::{Duration, Instant};

use zato_wasm::*;

struct NoHost;

#[async_trait::async_trait]
impl ServiceHost for NoHost {
    async fn invoke(&self, _: String, payload: String) -> Result<Response, GuestError> {
        Ok(Response {
            status: 200,
            content_type: None,
            headers: vec![],
            body: Body::Json(payload),
        })
    }
    async fn invoke_async(&self, _: String, _: String) -> Result<String, GuestError> {
        Ok("cid".into())
    }
    async fn rest_call(&self, _: String, _: RestRequest) -> Result<RestResponse, GuestError> {
        Err(GuestError {
            kind: ErrorKind::NotFound,
            message: "no rest".into(),
        })
    }
    async fn sql_query(&self, _: String, _: String, _: String) -> Result<String, GuestError> {
        Ok("[]".into())
    }
    async fn sql_execute(&self, _: String, _: String, _: String) -> Result<u64, GuestError> {
        Ok(0)
    }
    async fn amqp_publish(
        &self,
        _: String,
        _: String,
        _: Option<String>,
        _: Vec<(String, String)>,
    ) -> Result<(), GuestError> {
        Ok(())
    }
    async fn zmq_send(&self, _: String, _: String) -> Result<(), GuestError> {
        Ok(())
    }
    async fn kv_get(&self, _: String) -> Result<Option<String>, GuestError> {
        Ok(None)
    }
    async fn kv_set(&self, _: String, _: String, _: Option<u64>) -> Result<(), GuestError> {
        Ok(())
    }
    async fn kv_delete(&self, _: String) -> Result<bool, GuestError> {
        Ok(false)
    }
    fn log(&self, level: Level, message: &str) {
        println!("log {level:?}: {message}");
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let bytes = std::fs::read(&args[1]).unwrap();
    let payload = args.get(2).cloned().unwrap_or_else(|| "{\"a\":1}".into());
    let calls: usize = args.get(3).and_then(|c| c.parse().ok()).unwrap_or(1);
    let runtime = Runtime::new(&RuntimeSettings {
        cache_dir: Some("/tmp/q/cache".into()),
        ..Default::default()
    })
    .unwrap();
    let started = Instant::now();
    let loaded = runtime.load(&bytes).unwrap();
    println!(
        "loaded in {:?} (cache: {})",
        started.elapsed(),
        loaded.from_cache()
    );
    let request = Request {
        cid: "c1".into(),
        channel: "http".into(),
        channel_name: None,
        payload,
        headers: vec![],
        path_params: vec![],
        query: vec![],
        meta: "{}".into(),
    };
    let limits = Limits {
        deadline: Duration::from_millis(1000),
        memory_bytes: 128 << 20,
    };
    let started = Instant::now();
    for _ in 0..calls {
        let out = loaded
            .call("test", &request, Box::new(NoHost), limits)
            .await;
        if calls == 1 {
            println!("{out:?}");
        }
    }
    println!("{calls} calls in {:?}", started.elapsed());
}
