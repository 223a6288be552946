//! The OpenAPI 3.1 document of the admin API, built from the same route tables the API is
//! served from and from the config models' own JSON Schemas, so it cannot drift from the code.
//! Served without authentication at `GET /zato/api/openapi.json` (it holds no secret).

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{Map, Value, json};
use zato_common::model::{
    AmqpChannel, AmqpDefinition, AmqpOutgoing, HttpChannel, Job, OutgoingRest, OutgoingSql,
    SecurityDefinition, Subscription, Topic, ZmqChannel, ZmqOutgoing,
};

use super::admin::{COLLECTIONS, SENDS};

/// The request body schema of the objects of a collection, by its services' prefix.
fn object_schema(services: &str, generator: &mut SchemaGenerator) -> Value {
    fn of<T: JsonSchema>(generator: &mut SchemaGenerator) -> Value {
        generator.subschema_for::<T>().to_value()
    }
    match services {
        "zato.channel.http" => of::<HttpChannel>(generator),
        "zato.security" => of::<SecurityDefinition>(generator),
        "zato.scheduler.job" => of::<Job>(generator),
        "zato.definition.amqp" => of::<AmqpDefinition>(generator),
        "zato.channel.amqp" => of::<AmqpChannel>(generator),
        "zato.outgoing.amqp" => of::<AmqpOutgoing>(generator),
        "zato.channel.zmq" => of::<ZmqChannel>(generator),
        "zato.outgoing.zmq" => of::<ZmqOutgoing>(generator),
        "zato.outgoing.rest" => of::<OutgoingRest>(generator),
        "zato.outgoing.sql" => of::<OutgoingSql>(generator),
        "zato.pubsub.topic" => of::<Topic>(generator),
        "zato.pubsub.subscription" => of::<Subscription>(generator),
        _ => json!({"type": "object"}),
    }
}

fn error_responses(codes: &[u16]) -> Map<String, Value> {
    let descriptions = |code: u16| match code {
        400 => "invalid input; the message names the field",
        401 => "missing or wrong admin token",
        404 => "no such object or service",
        405 => "method not allowed",
        409 => "the name is taken, or the object is in use",
        413 => "body too large",
        429 => "too many failed admin logins from this address",
        502 => "the outside system refused it",
        503 => "the cluster's broker cannot be reached",
        504 => "the outside system did not answer in time",
        _ => "error",
    };
    codes
        .iter()
        .map(|code| {
            (
                code.to_string(),
                json!({"description": descriptions(*code),
                       "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}),
            )
        })
        .collect()
}

fn operation(
    summary: &str,
    ok: (u16, &str),
    body: Option<Value>,
    errors: &[u16],
    name_param: bool,
) -> Value {
    let mut responses = error_responses(errors);
    responses.insert(
        ok.0.to_string(),
        json!({"description": ok.1, "content": {"application/json": {"schema": {}}}}),
    );
    let mut op = json!({"summary": summary, "responses": responses});
    if let Some(schema) = body {
        op["requestBody"] =
            json!({"required": true, "content": {"application/json": {"schema": schema}}});
    }
    if name_param {
        op["parameters"] = json!([{"name": "name", "in": "path", "required": true,
                                   "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$"}}]);
    }
    op
}

/// The whole document.
pub fn document() -> Value {
    let mut settings = SchemaSettings::draft2020_12();
    settings.definitions_path = "/components/schemas".into();
    let mut generator = settings.into_generator();
    let common = [400, 401, 429, 503];
    let mut paths = Map::new();
    for (path, services) in COLLECTIONS {
        let schema = object_schema(services, &mut generator);
        let base = format!("/zato/api{path}");
        paths.insert(
            base.clone(),
            json!({
                "get": operation(&format!("List ({services}.list)"), (200, "the objects"), None, &common, false),
                "post": operation(&format!("Create ({services}.create)"), (201, "the object as stored"), Some(schema.clone()),
                                  &[400, 401, 409, 413, 429, 503], false),
            }),
        );
        paths.insert(
            format!("{base}/{{name}}"),
            json!({
                "get": operation(&format!("Get one ({services}.get)"), (200, "the object"), None, &[400, 401, 404, 429, 503], true),
                "put": operation(&format!("Replace or rename ({services}.edit)"), (200, "the object as stored"), Some(schema),
                                 &[400, 401, 404, 409, 413, 429, 503], true),
                "delete": operation(&format!("Delete ({services}.delete)"), (200, "what was deleted"), None,
                                    &[400, 401, 404, 409, 429, 503], true),
            }),
        );
    }
    for (path, service) in SENDS {
        paths.insert(
            format!("/zato/api{path}"),
            json!({"post": operation(service, (200, "done"), Some(json!({"type": "object"})),
                                     &[400, 401, 404, 413, 429, 502, 503, 504], true)}),
        );
    }
    let source = json!([{"name": "source", "in": "path", "required": true,
                         "schema": {"type": "string", "pattern": "^(server|connector|all|sub:[A-Za-z0-9._:-]{1,128})$"}}]);
    let mut list_letters = operation(
        "Dead letters of a source (zato.dlq.list)",
        (200, "the dead letters"),
        None,
        &[400, 401, 404, 429, 503],
        false,
    );
    list_letters["parameters"] = source.clone();
    let mut purge_letters = operation(
        "Delete a source's dead letters (zato.dlq.purge)",
        (200, "how many"),
        None,
        &[400, 401, 404, 429, 503],
        false,
    );
    purge_letters["parameters"] = source.clone();
    let mut replay_letters = operation(
        "Replay dead letters, all or by id (zato.dlq.replay)",
        (200, "replayed and skipped"),
        Some(
            json!({"type": "object", "properties": {"ids": {"type": "array", "items": {"type": "string"}}}}),
        ),
        &[400, 401, 404, 429, 503],
        false,
    );
    replay_letters["parameters"] = source;
    paths.insert(
        "/zato/api/dead-letters/{source}".into(),
        json!({"get": list_letters, "delete": purge_letters}),
    );
    paths.insert(
        "/zato/api/dead-letters/{source}/replay".into(),
        json!({"post": replay_letters}),
    );
    let any_body = json!({});
    paths.insert(
        "/zato/api/invoke/{service}".into(),
        json!({"post": service_op("Run a service on this server", (200, "the service's response"), &any_body)}),
    );
    paths.insert(
        "/zato/api/invoke-async/{service}".into(),
        json!({"post": service_op("Have any server run a service, at least once", (202, "the request's cid"), &any_body)}),
    );
    paths.insert(
        "/zato/api/services".into(),
        json!({"get": operation("Services: kind (built in, compiled in, deployed), statistics, and each live server's state of the deployed ones",
                                (200, "the services"), None, &common, false)}),
    );
    let mut deploy = operation(
        "Deploy a WebAssembly component of the zato:service world as a new version",
        (200, "the new version (201 for a first deployment)"),
        None,
        &[400, 401, 409, 413, 429, 503],
        true,
    );
    // Any content type is taken; `application/wasm` is what the CLI sends, octet-stream is
    // what generic clients (and schema-driven fuzzers) know how to send.
    deploy["requestBody"] = json!({"required": true, "description": "the component's bytes (application/wasm or application/octet-stream)",
                                   "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}});
    if let Some(parameters) = deploy["parameters"].as_array_mut() {
        for limit in ["deadline_ms", "memory_mb"] {
            parameters.push(json!({"name": limit, "in": "query", "required": false,
                                   "schema": {"type": "integer", "minimum": 1}}));
        }
    }
    paths.insert(
        "/zato/api/services/{name}".into(),
        json!({
            "post": deploy,
            "get": operation("A deployed service's record and each live server's state (zato.service.get)",
                             (200, "the record and states"), None, &[400, 401, 404, 429, 503], true),
            "delete": operation("Undeploy (zato.service.undeploy)", (200, "what was undeployed"), None,
                                &[400, 401, 404, 429, 503], true),
        }),
    );
    paths.insert(
        "/zato/api/services/{name}/rollback".into(),
        json!({"post": operation("Make an earlier version current again, as a new version (zato.service.rollback)",
                                 (200, "the new version"),
                                 Some(json!({"type": "object", "properties": {"version": {"type": "integer", "minimum": 1}}})),
                                 &[400, 401, 404, 409, 413, 429, 503], true)}),
    );
    paths.insert(
        "/zato/api/outgoing/reseal".into(),
        json!({"post": operation("Seal every outgoing secret again with the current key", (200, "what was sealed again"), None, &common, false)}),
    );
    paths.insert(
        "/zato/api/cluster".into(),
        json!({"get": operation("Members, leaders, queues, dead letters", (200, "the cluster"), None, &common, false)}),
    );
    let mut schemas = generator.take_definitions(true);
    schemas.insert(
        "Error".into(),
        json!({"type": "object", "required": ["error", "cid"],
               "properties": {"error": {"type": "string"}, "cid": {"type": "string"}}}),
    );
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Zato admin API", "version": env!("CARGO_PKG_VERSION")},
        "security": [{"admin": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"admin": {"type": "http", "scheme": "bearer"}},
        },
    })
}

fn service_op(summary: &str, ok: (u16, &str), body: &Value) -> Value {
    let mut op = operation(
        summary,
        ok,
        Some(body.clone()),
        &[400, 401, 404, 413, 429, 503],
        false,
    );
    op["parameters"] = json!([{"name": "service", "in": "path", "required": true,
                               "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$"}}]);
    op
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_table_entry_is_documented_with_its_schema() {
        let doc = document();
        for (path, _) in COLLECTIONS {
            assert!(
                doc["paths"][format!("/zato/api{path}")]["post"]["requestBody"].is_object(),
                "{path}"
            );
            assert!(
                doc["paths"][format!("/zato/api{path}/{{name}}")]["delete"].is_object(),
                "{path}"
            );
        }
        let schemas = &doc["components"]["schemas"];
        assert!(schemas["HttpChannel"]["properties"]["url_path"].is_object());
        assert!(schemas["Job"]["properties"]["interval"].is_object());
        let text = doc.to_string();
        assert!(
            !text.contains("$defs"),
            "every reference points into components"
        );
    }
}
