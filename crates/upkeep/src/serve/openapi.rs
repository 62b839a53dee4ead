//! `GET /api/v1/openapi.json`: an `OpenAPI` 3.1 document written from the route table, so
//! every route the router serves is described (a test checks it). Written by hand rather
//! than derived (`utoipa`): the answers are the engine's types, which would each need a
//! schema derive in `upkeep-core`, a crate that knows nothing of HTTP.

use serde_json::{Map, Value, json};

use super::api::routes;

/// The error object every route answers a failure with (as `--json` errors).
fn error_schema() -> Value {
    json!({
        "type": "object",
        "required": ["error", "exit_code"],
        "properties": {
            "error": { "type": "string", "description": "The kind, as the command line's --json errors: usage, invalid-input, not-confirmed, unauthenticated, forbidden, not-found, unknown-module, unknown-target, lock, stale-plan, tag-moved, invalid-manifest, manifest, backup-refused, low-space, internal." },
            "exit_code": { "type": "integer", "description": "The exit code the command line gives the same error." },
            "message": { "type": "string" },
            "hint": { "type": ["string", "null"] },
            "plan": { "type": "object", "description": "With stale-plan: the plan now in force." },
            "plan_digest": { "type": "string", "description": "With stale-plan: its digest." }
        }
    })
}

/// The document.
#[expect(
    clippy::too_many_lines,
    reason = "one JSON literal per part of the document, read top to bottom"
)]
pub(crate) fn document() -> Value {
    let mut paths = Map::new();
    for route in routes() {
        let mut operation = json!({
            "summary": route.summary,
            "operationId": format!("{} {}", route.method, route.path),
            "responses": {
                "2XX": { "description": "Success (JSON, or text for /metrics and an event stream for events)." },
                "400": { "$ref": "#/components/responses/Error" },
                "401": { "$ref": "#/components/responses/Error" },
                "403": { "$ref": "#/components/responses/Error" },
                "404": { "$ref": "#/components/responses/Error" },
                "409": { "$ref": "#/components/responses/Error" },
                "422": { "$ref": "#/components/responses/Error" },
                "500": { "$ref": "#/components/responses/Error" }
            }
        });
        let parameters: Vec<Value> = route
            .path
            .split('/')
            .filter_map(|part| part.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
            .collect();
        if !parameters.is_empty() {
            operation["parameters"] = Value::Array(parameters);
        }
        match route.action {
            None => operation["security"] = json!([]),
            Some(action) => {
                operation["x-upkeep-action"] = json!(action.as_str());
                operation["x-upkeep-least-role"] = json!(action.least_role().as_str());
            }
        }
        if let Some(example) = route.body {
            let example: Value = serde_json::from_str(example).unwrap_or(Value::Null);
            operation["requestBody"] = json!({
                "required": false,
                "content": { "application/json": { "schema": { "type": "object" }, "example": example } }
            });
        }
        let item = paths
            .entry(route.path.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        item[route.method.as_str().to_ascii_lowercase()] = operation;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "upkeep",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "upkeep's HTTP API. Every route with an x-upkeep-least-role needs `Authorization: Bearer TOKEN` (`upkeep token create NAME --role ROLE`) or the web page's session cookie (with `X-CSRF-Token` on a state-changing request), and that least role (viewer < operator < owner); the routes with no security requirement authenticate as their summary says, or not at all (/healthz). The web page itself is served at / and /assets/."
        },
        "paths": paths,
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": { "Error": error_schema() },
            "responses": {
                "Error": {
                    "description": "The error, as the command line's --json error object.",
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
                }
            }
        },
        "security": [{ "bearer": [] }]
    })
}

#[cfg(test)]
mod tests {
    use super::super::api::routes;

    #[test]
    fn every_route_is_described_and_handled() {
        let document = super::document();
        for route in routes() {
            let method = route.method.as_str().to_ascii_lowercase();
            assert!(
                document["paths"][route.path][&method].is_object(),
                "{} {} is not in the OpenAPI document",
                route.method,
                route.path
            );
            assert!(
                super::super::api::handled(route),
                "{} {} has no handler",
                route.method,
                route.path
            );
        }
    }
}
