//! One run of an app robot: the run POSTed to the app's handler the way Bitrix24 posts it
//! (`application/x-www-form-urlencoded`, PHP-style keys), under the rules every outbound request
//! of a run follows ([`Outbound::post`]). A handler that answers 2xx has the run; with
//! `USE_SUBSCRIPTION` the run then waits for `bizproc.event.send`.

use std::time::Instant;

use serde_json::{Map, Value};

use super::{ANSWER_WAKE, Registration};
use crate::clock::Millis;
use crate::model::EntityType;
use crate::runtime::bindings::stagewright::action::types as wit;
use crate::runtime::{HostPost, Limits, Outbound, RunEffects, RunLog, RunOutcome, RunResult, Unanswered, Wait};
use crate::store::Store;

/// Where the app reaches this host back, as Bitrix24's `auth[...]` fields name it.
#[derive(Debug, Clone, Default)]
pub struct Endpoint {
    /// The host's base URL (`https://crm.example.com:8080`); empty when it serves no HTTP (the
    /// plugin kit's scratch host).
    pub base_url: String,
}

/// Posts one run to the app's handler and says how the run ends, like a Wasm run's outcome.
pub async fn call(
    outbound: &Outbound,
    store: &Store,
    registration: &Registration,
    endpoint: &Endpoint,
    invocation: &wit::Invocation,
    limits: &Limits,
    now: Millis,
) -> RunOutcome {
    let started = Instant::now();
    let mut log = RunLog::new(limits.log_lines, limits.log_bytes);
    let (result, wait) = match post(outbound, store, registration, endpoint, invocation, &mut log, now).await {
        Ok(ended) => ended,
        Err(unanswered) => (
            RunResult::Failed {
                error: unanswered.reason,
                transient: unanswered.transient,
            },
            None,
        ),
    };
    RunOutcome {
        result,
        fuel_used: 0,
        memory_bytes: 0,
        duration: started.elapsed(),
        effects: RunEffects {
            staged: Vec::new(),
            logs: log.finish(),
            wait,
        },
    }
}

async fn post(
    outbound: &Outbound,
    store: &Store,
    registration: &Registration,
    endpoint: &Endpoint,
    invocation: &wit::Invocation,
    log: &mut RunLog,
    now: Millis,
) -> Result<(RunResult, Option<Wait>), Unanswered> {
    let database = |e: crate::model::CrmError| Unanswered {
        reason: format!("the host could not record the call: {e}"),
        transient: true,
    };
    let config: Map<String, Value> = serde_json::from_str(&invocation.config).unwrap_or_default();
    let token = {
        let mut tx = store.write().await.map_err(|e| database(e.into()))?;
        let token = super::record_call(&mut tx, &invocation.run_id, &registration.code, now)
            .await
            .map_err(|e| Unanswered {
                reason: e.to_string(),
                transient: true,
            })?;
        tx.commit().await.map_err(|e| database(e.into()))?;
        token
    };
    let form = form(registration, endpoint, invocation, &config, &token, now);
    let line = format!("HTTP POST {}", registration.handler);
    let post = HostPost {
        url: &registration.handler,
        content_type: "application/x-www-form-urlencoded",
        header: None,
        body: form,
        idempotency_key: &invocation.run_id,
    };
    let status = match outbound.post(store, post).await {
        Ok(status) => status,
        Err(unanswered) => {
            log.push("error", format!("{line}: {}", unanswered.reason));
            return Err(unanswered);
        }
    };
    log.push("info", format!("{line}: {status}"));
    if !status.is_success() {
        return Err(Unanswered {
            reason: format!("the app's handler answered {status}"),
            transient: status.is_server_error() || status == http::StatusCode::TOO_MANY_REQUESTS,
        });
    }
    if !registration.use_subscription {
        return Ok((RunResult::Succeeded(Value::Object(Map::new())), None));
    }
    let mut conn = store.pool().acquire().await.map_err(|e| database(e.into()))?;
    if let Some(answer) = super::early_answer(&mut conn, &invocation.run_id)
        .await
        .map_err(database)?
    {
        log.push("info", answer.log_message);
        let mut values = answer.values;
        values.insert("woke_by".into(), Value::from(ANSWER_WAKE));
        return Ok((RunResult::Succeeded(Value::Object(values)), None));
    }
    let until = now + registration.timeout_ms(&config);
    log.push(
        "info",
        format!(
            "waiting for the app's answer (bizproc.event.send) until {}",
            crate::model::rest_datetime(until)
        ),
    );
    let wait = Wait {
        until,
        wake_on: vec![ANSWER_WAKE.into()],
    };
    Ok((RunResult::Succeeded(Value::Object(Map::new())), Some(wait)))
}

/// The handler's form, field for field as Bitrix24 posts a robot's run.
fn form(
    registration: &Registration,
    endpoint: &Endpoint,
    invocation: &wit::Invocation,
    config: &Map<String, Value>,
    token: &str,
    now: Millis,
) -> String {
    let (class, type_name) =
        EntityType::parse(&invocation.item.ref_.entity_type).map_or(("", String::new()), document_type);
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("workflow_id", &invocation.run_id)
        .append_pair("code", &registration.code)
        .append_pair("document_id[0]", "crm")
        .append_pair("document_id[1]", class)
        .append_pair("document_id[2]", &format!("{type_name}_{}", invocation.item.ref_.id))
        .append_pair("document_type[0]", "crm")
        .append_pair("document_type[1]", class)
        .append_pair("document_type[2]", &type_name)
        .append_pair("event_token", token)
        .append_pair(
            "use_subscription",
            if registration.use_subscription { "Y" } else { "N" },
        )
        .append_pair(
            "timeout_duration",
            &(registration.timeout_ms(config) / 1000).to_string(),
        )
        .append_pair("ts", &(now / 1000).to_string());
    for (key, value) in registration.form_properties(config) {
        form.append_pair(&key, &value);
    }
    let domain = endpoint
        .base_url
        .split_once("://")
        .map_or(endpoint.base_url.as_str(), |(_, rest)| rest);
    let rest = format!("{}/rest/", endpoint.base_url);
    form.append_pair("auth[domain]", domain)
        .append_pair("auth[client_endpoint]", &rest)
        .append_pair("auth[server_endpoint]", &rest)
        .append_pair("auth[user_id]", &registration.auth_user_id.to_string())
        .append_pair("auth[scope]", "crm,bizproc")
        .append_pair("auth[status]", "L");
    form.finish()
}

/// Bitrix24's document class and type name of an entity type (`CCrmDocumentDeal`, `DEAL`).
fn document_type(entity_type: EntityType) -> (&'static str, String) {
    match entity_type {
        EntityType::Lead => ("CCrmDocumentLead", "LEAD".into()),
        EntityType::Deal => ("CCrmDocumentDeal", "DEAL".into()),
        EntityType::Contact => ("CCrmDocumentContact", "CONTACT".into()),
        EntityType::Company => ("CCrmDocumentCompany", "COMPANY".into()),
        EntityType::Dynamic(id) => (
            "Bitrix\\Crm\\Integration\\BizProc\\Document\\Dynamic",
            format!("DYNAMIC_{id}"),
        ),
    }
}
