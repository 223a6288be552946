//! `zato.service.list`: every service of this server with its statistics, what kind it is
//! (built in, compiled in by the user's own server binary, or deployed at run time) and, for
//! deployed services, the version and each live server's state of it.

use serde_json::{Value, json};

use super::deployed::server_states;
use crate::service::{Context, Request, Response, Service, ServiceError, StatsSnapshot};

pub struct ListServices;

fn entry(name: &str, kind: &str, s: &StatsSnapshot) -> Value {
    json!({"name": name, "kind": kind, "calls": s.calls, "errors": s.errors,
           "mean_us": s.mean_us, "p50_us": s.p50_us, "p99_us": s.p99_us})
}

#[async_trait::async_trait]
impl Service for ListServices {
    async fn handle(&self, _request: Request, ctx: &Context) -> Result<Response, ServiceError> {
        let mut services: Vec<Value> = ctx
            .service_stats()
            .into_iter()
            .map(|(name, s)| {
                let kind = if name.starts_with("zato.") {
                    "built_in"
                } else {
                    "compiled_in"
                };
                entry(&name, kind, &s)
            })
            .collect();
        let deployed = ctx.deployed();
        let stats: std::collections::BTreeMap<String, StatsSnapshot> = deployed
            .stats()
            .into_iter()
            .map(|(name, stats)| (name, stats.snapshot()))
            .collect();
        for record in deployed.records_list() {
            let mut service = entry(
                &record.name,
                "deployed",
                &stats
                    .get(&record.name)
                    .cloned()
                    .unwrap_or_else(|| crate::service::ServiceStats::default().snapshot()),
            );
            service["version"] = json!(record.current.version);
            service["hash"] = json!(record.current.hash);
            service["is_active"] = json!(record.is_active);
            service["servers"] = server_states(ctx, &record.name).await?;
            services.push(service);
        }
        Ok(Response::json(Value::Array(services)))
    }
}
