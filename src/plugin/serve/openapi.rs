//! The OpenAPI 3 document served at `/openapi.json`: the endpoints with the Go JSON names the InterLink API
//! server really uses (not the outdated snake_case plugin spec). Kubernetes objects are referenced, not
//! inlined.

use serde_json::{Value, json};

use crate::plugin::config::AppConfig;

fn k8s(kind: &str) -> Value {
    json!({"type": "object", "description": format!("Kubernetes core/v1 {kind}, standard JSON encoding")})
}

fn nullable_array(items: Value) -> Value {
    json!({"type": ["array", "null"], "items": items})
}

/// Builds the document.
pub fn document(app: &AppConfig) -> Value {
    let error = json!({"$ref": "#/components/schemas/Error"});
    let error_responses = json!({
        "400": {"description": "Malformed request; `field` names the offending JSON path", "content": {"application/json": {"schema": error}}},
        "413": {"description": "Body above app.max_body_bytes", "content": {"application/json": {"schema": error}}},
        "422": {"description": "The pod references objects the request does not carry, or the remote cluster rejected an object as invalid", "content": {"application/json": {"schema": error}}},
        "502": {"description": "Remote cluster failure; `reason` is the Kubernetes reason", "content": {"application/json": {"schema": error}}},
        "504": {"description": "Remote cluster did not answer in time", "content": {"application/json": {"schema": error}}}
    });
    let status_op = |method: &str| {
        json!({
            "summary": format!("Statuses of the given pods ({method}; the InterLink API server sends GET with a body). An empty array is the ping."),
            "requestBody": {"required": true, "content": {"application/json": {"schema": nullable_array(k8s("Pod"))}}},
            "responses": {"200": {"description": "One entry per requested pod", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/PodStatus"}}}}}},
        })
    };
    let logs_op = |method: &str| {
        json!({
            "summary": format!("Container logs ({method}; the InterLink API server sends GET with a body); streamed while Opts.Follow"),
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/LogStruct"}}}},
            "responses": {"200": {"description": "Raw log bytes", "content": {"text/plain": {"schema": {"type": "string"}}}}},
        })
    };
    let mut create_responses = error_responses.clone();
    create_responses["200"] = json!({"description": "Created", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CreateStruct"}}}});
    let mut delete_responses = error_responses.clone();
    delete_responses["200"] = json!({"description": "Deleted, or already gone", "content": {"application/json": {"schema": {"type": "string"}}}});
    json!({
        "openapi": "3.1.0",
        "info": {"title": app.name, "description": app.description, "version": app.version},
        "paths": {
            "/create": {"post": {"summary": "Offload a pod to the remote cluster (all or nothing)",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RetrievedPodData"}}}},
                "responses": create_responses}},
            "/delete": {"post": {"summary": "Delete the remote pod and every object created for it (idempotent)",
                "requestBody": {"required": true, "content": {"application/json": {"schema": k8s("Pod")}}},
                "responses": delete_responses}},
            "/status": {"get": status_op("GET"), "post": status_op("POST")},
            "/getLogs": {"get": logs_op("GET"), "post": logs_op("POST")},
            "/healthz": {"get": {"summary": "Process is up", "responses": {"200": {"description": "ok"}}}},
            "/readyz": {"get": {"summary": "Remote cluster reachable and status cache synced", "responses": {"200": {"description": "ready"}, "503": {"description": "not ready"}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "OpenMetrics text"}}}}
        },
        "components": {"schemas": {
            "Error": {"type": "object", "required": ["error"], "properties": {
                "error": {"type": "string"}, "field": {"type": "string"}, "reason": {"type": "string"}}},
            "RetrievedPodData": {"type": "object", "required": ["pod"], "properties": {
                "pod": k8s("Pod"),
                "container": nullable_array(json!({"$ref": "#/components/schemas/RetrievedContainer"})),
                "jobConfig": {"type": "object", "description": "ignored"},
                "jobScript": {"type": "string", "description": "ignored"}}},
            "RetrievedContainer": {"type": "object", "properties": {
                "name": {"type": "string"},
                "configMaps": nullable_array(k8s("ConfigMap")),
                "projectedvolumemaps": nullable_array(k8s("ConfigMap")),
                "secrets": nullable_array(k8s("Secret")),
                "emptyDirs": nullable_array(json!({"type": "string"})),
                "persistentVolumeClaims": nullable_array(k8s("PersistentVolumeClaim"))}},
            "CreateStruct": {"type": "object", "required": ["PodUID", "PodJID"], "properties": {
                "PodUID": {"type": "string"}, "PodJID": {"type": "string"}}},
            "PodStatus": {"type": "object", "required": ["name", "UID", "namespace", "JID", "containers", "initContainers"], "properties": {
                "name": {"type": "string"}, "UID": {"type": "string"}, "namespace": {"type": "string"}, "JID": {"type": "string"},
                "containers": {"type": "array", "items": k8s("ContainerStatus")},
                "initContainers": {"type": "array", "items": k8s("ContainerStatus")}}},
            "LogStruct": {"type": "object", "required": ["Namespace", "PodUID", "PodName"], "properties": {
                "Namespace": {"type": "string"}, "PodUID": {"type": "string"}, "PodName": {"type": "string"},
                "ContainerName": {"type": "string"},
                "Opts": {"type": "object", "properties": {
                    "Tail": {"type": "integer"}, "Bytes": {"type": "integer"}, "Timestamps": {"type": "boolean"},
                    "Follow": {"type": "boolean"}, "Previous": {"type": "boolean"}, "SinceSeconds": {"type": "integer"},
                    "SinceTime": {"type": ["string", "null"], "format": "date-time", "description": "0001-01-01T00:00:00Z = unset"}}}}}
        }}
    })
}
