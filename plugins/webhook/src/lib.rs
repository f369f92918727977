//! Built-in action "webhook": calls another system over HTTP with the item's data, and returns
//! the response's status and JSON fields for later robots.
//!
//! The host decides where the request may go (public hosts only, unless an admin allowed an
//! internal network) and adds the run id as `Idempotency-Key`, so a retried run is recognisable
//! to the receiver. Redirects are followed here, each hop checked by the host again.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use stagewright_sdk::http::{self, HttpError, Request, Response};
use stagewright_sdk::{Action, ActionError, Capability, Context, Manifest, Value, json};

/// Redirects followed before giving up.
const MAX_REDIRECTS: usize = 5;
/// Characters of the response body kept as the `body` return value.
const MAX_BODY_RETURNED: usize = 16 * 1024;

/// The robot's configuration.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where to send it; templates allowed.
    url: String,
    /// The HTTP method.
    #[serde(default = "post")]
    method: String,
    /// Extra request headers (an `Authorization` token, a content type).
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// The request body as written; templates allowed. Without it, a JSON object with the
    /// item's `fields` (all, or those listed) is sent.
    body: Option<String>,
    /// The fields the default JSON body carries; all when absent.
    fields: Option<Vec<String>>,
    /// Seconds to wait to connect and then for the response to start.
    #[serde(default = "five")]
    timeout_seconds: u64,
    /// Whether to follow redirects (each target is checked by the host).
    #[serde(default = "yes")]
    follow_redirects: bool,
}

fn post() -> String {
    "POST".into()
}

fn five() -> u64 {
    5
}

fn yes() -> bool {
    true
}

/// Sends the request.
pub struct Webhook;

impl Action for Webhook {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new(
            "webhook",
            "Webhook",
            env!("CARGO_PKG_VERSION"),
            "Sends an HTTP request to another system with the item's data; the response's status and JSON fields become return values.",
        )
        .config_schema(json!({
            "type": "object",
            "required": ["url"],
            "additionalProperties": false,
            "properties": {
                "url": {"type": "string", "pattern": "^https?://", "title": "URL", "description": "An http:// or https:// address; templates allowed ({=Document:ID})."},
                "method": {"enum": ["GET", "POST", "PUT", "PATCH", "DELETE"], "default": "POST", "title": "Method"},
                "headers": {"type": "object", "additionalProperties": {"type": "string"}, "title": "Headers", "description": "Extra request headers, e.g. Authorization."},
                "body": {"type": "string", "title": "Body", "description": "The request body as written; templates allowed. Leave empty to send the item's fields as JSON."},
                "fields": {"type": "array", "items": {"type": "string"}, "title": "Fields", "description": "The fields the default JSON body carries; all when empty."},
                "timeout_seconds": {"type": "integer", "minimum": 1, "maximum": 30, "default": 5, "title": "Timeout", "description": "Seconds to wait for the connection and for the response to start (the host may cap it)."},
                "follow_redirects": {"type": "boolean", "default": true, "title": "Follow redirects"}
            }
        }))
        .returns_schema(json!({
            "type": "object",
            "properties": {
                "status": {"type": "integer", "title": "Response status"},
                "body": {"type": "string", "title": "Response body (first 16 KiB)"}
            },
            "additionalProperties": {"title": "json.NAME: a top-level field of a JSON object response"}
        }))
        .capability(Capability::Http("*".into()))
    }

    fn run(ctx: &Context, config: Config) -> Result<Value, ActionError> {
        let mut request = first_request(ctx, &config)?;
        let mut response = send(&request)?;
        for _ in 0..MAX_REDIRECTS {
            match redirect(&request, &response).filter(|_| config.follow_redirects) {
                Some(next) => {
                    request = next;
                    response = send(&request)?;
                }
                None => break,
            }
        }
        check_status(&request, &response)?;
        Ok(return_values(&response))
    }
}

fn first_request(ctx: &Context, config: &Config) -> Result<Request, ActionError> {
    let method = config.method.to_ascii_uppercase();
    if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method.as_str()) {
        return Err(ActionError::InvalidConfig(format!(
            "method must be GET, POST, PUT, PATCH or DELETE, not {}",
            config.method
        )));
    }
    if !(1..=30).contains(&config.timeout_seconds) {
        return Err(ActionError::InvalidConfig("timeout_seconds must be 1 to 30".into()));
    }
    let body = match (&config.body, method.as_str()) {
        (Some(body), _) => body.clone().into_bytes(),
        (None, "GET" | "DELETE") => Vec::new(),
        (None, _) => default_body(ctx, config.fields.as_deref()).to_string().into_bytes(),
    };
    let mut headers: Vec<(String, String)> = config.headers.clone().into_iter().collect();
    let has_content_type = headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("content-type"));
    if !body.is_empty() && !has_content_type {
        let json = serde_json::from_slice::<Value>(&body).is_ok();
        let kind = if json {
            "application/json"
        } else {
            "text/plain; charset=utf-8"
        };
        headers.push(("content-type".into(), kind.into()));
    }
    Ok(Request {
        method,
        url: config.url.trim().to_string(),
        headers,
        body,
        timeout: Duration::from_secs(config.timeout_seconds),
    })
}

/// The item's reference and fields (all, or the listed ones that it has).
fn default_body(ctx: &Context, fields: Option<&[String]>) -> Value {
    let item = ctx.item();
    let all: Value = serde_json::from_str(&item.fields).unwrap_or_else(|_| json!({}));
    let chosen = match fields {
        Some(names) => names
            .iter()
            .filter_map(|name| all.get(name).map(|v| (name.clone(), v.clone())))
            .collect(),
        None => all,
    };
    json!({
        "entity_type": item.ref_.entity_type,
        "id": item.ref_.id,
        "fields": chosen,
    })
}

fn send(request: &Request) -> Result<Response, ActionError> {
    http::send(request).map_err(|e| match e {
        HttpError::Invalid(m) => ActionError::InvalidConfig(m),
        HttpError::Refused(m) => ActionError::Failed(format!(
            "{} {} refused by the host ({m}); the run log says why",
            request.method, request.url
        )),
        HttpError::Failed(m) => ActionError::Transient(format!("{} {}: {m}", request.method, request.url)),
    })
}

/// The request a 3xx response points to, if any: 303 (and 301/302 after a POST, as browsers do)
/// turns into a GET without a body; 307 and 308 repeat the request as it was.
fn redirect(request: &Request, response: &Response) -> Option<Request> {
    if !matches!(response.status, 301 | 302 | 303 | 307 | 308) {
        return None;
    }
    let location = response.header("location")?;
    let mut next = request.clone();
    next.url = absolute(&request.url, location);
    let becomes_get = response.status == 303 || (matches!(response.status, 301 | 302) && request.method == "POST");
    if becomes_get {
        next.method = "GET".into();
        next.body.clear();
        next.headers.retain(|(n, _)| !n.eq_ignore_ascii_case("content-type"));
    }
    Some(next)
}

/// A `Location` value made absolute against the URL it came from.
fn absolute(base: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.to_string();
    }
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let origin_end = base[scheme_end..].find('/').map_or(base.len(), |i| scheme_end + i);
    if let Some(path) = location.strip_prefix("//") {
        format!("{}{path}", &base[..scheme_end])
    } else if location.starts_with('/') {
        format!("{}{location}", &base[..origin_end])
    } else {
        let dir_end = base[origin_end..].rfind('/').map_or(base.len(), |i| origin_end + i);
        format!("{}/{location}", &base[..dir_end])
    }
}

/// 2xx succeeds; 429 and 5xx are worth another attempt later; anything else fails the run.
fn check_status(request: &Request, response: &Response) -> Result<(), ActionError> {
    if (200..300).contains(&response.status) {
        return Ok(());
    }
    let excerpt: String = String::from_utf8_lossy(&response.body).chars().take(200).collect();
    let message = format!(
        "{} {} answered {}: {excerpt}",
        request.method, request.url, response.status
    );
    if response.status == 429 || response.status >= 500 {
        Err(ActionError::Transient(message))
    } else {
        Err(ActionError::Failed(message))
    }
}

/// `status`, `body` (its first 16 KiB), and `json.NAME` for each top-level field of a JSON
/// object body.
fn return_values(response: &Response) -> Value {
    let text = String::from_utf8_lossy(&response.body);
    let mut values = json!({
        "status": response.status,
        "body": text.chars().take(MAX_BODY_RETURNED).collect::<String>(),
    });
    if let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(&response.body) {
        for (name, value) in fields {
            values[format!("json.{name}")] = value;
        }
    }
    values
}

stagewright_sdk::export_action!(Webhook);
