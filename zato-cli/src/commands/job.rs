//! `zato job list|create|get|delete|execute`.

use anyhow::Context as _;
use serde_json::Value;

use super::collection::Collection;
use crate::cli::JobAction;
use crate::client::AdminClient;
use crate::output::Output;

pub fn run(client: &AdminClient, out: Output, action: &JobAction) -> anyhow::Result<()> {
    let jobs = Collection::JOB;
    match action {
        JobAction::Crud(crud) => jobs.run(client, out, crud),
        JobAction::Execute { name } => {
            let answer = client
                .post(&format!("{}/execute", jobs.item_path(name)), None)
                .with_context(|| format!("cannot execute job '{name}'"))?;
            out.show(&answer, |answer| {
                let cid = answer.get("cid").and_then(Value::as_str).unwrap_or("-");
                println!("job '{name}' started, cid {cid}");
            });
            Ok(())
        }
    }
}
