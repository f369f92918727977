//! Custom fields (`crm.*.userfield.*`) as an admin defines them and integrations then use them:
//! typed values, lists, filters, mandatory fields, and removal.

use serde_json::{Value, json};
use stagewright_tests::TestHost;

async fn add_field(host: &TestHost, entity: &str, fields: Value) -> i64 {
    host.ok(&format!("crm.{entity}.userfield.add"), json!({"fields": fields}))
        .await
        .as_i64()
        .expect("userfield.add answers the id")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_fields_of_every_type_take_checked_values() {
    let host = TestHost::start().await;
    let types = [
        ("NOTE", "string", json!("Call after lunch"), json!("Call after lunch")),
        ("SEATS", "integer", json!("12"), json!("12")),
        ("RATE", "double", json!(0.75), json!("0.75")),
        ("VIP", "boolean", json!("Y"), json!("1")),
        ("SIGNED", "date", json!("2026-03-01"), json!("2026-03-01")),
        (
            "CALL_AT",
            "datetime",
            json!("2026-03-01T10:30:00+02:00"),
            json!("2026-03-01T08:30:00+00:00"),
        ),
        ("OWNER", "employee", json!(1), json!("1")),
        ("BUDGET", "money", json!("1500|eur"), json!("1500.00|EUR")),
        (
            "SITE",
            "url",
            json!("https://example.com/a"),
            json!("https://example.com/a"),
        ),
        ("PARENT", "crm", json!("D_1"), json!("D_1")),
    ];
    for (name, kind, _, _) in &types {
        add_field(
            &host,
            "deal",
            json!({"FIELD_NAME": name, "USER_TYPE_ID": kind, "LABEL": name}),
        )
        .await;
    }
    let mut fields = serde_json::Map::new();
    fields.insert("TITLE".into(), json!("Custom"));
    for (name, _, input, _) in &types {
        fields.insert(format!("UF_CRM_{name}"), input.clone());
    }
    let id = host.ok("crm.deal.add", json!({"fields": fields})).await;
    let deal = host.deal(id.as_i64().unwrap()).await;
    for (name, kind, _, shown) in &types {
        assert_eq!(deal[format!("UF_CRM_{name}")], *shown, "{kind} field {name}");
    }

    let description = host.ok("crm.deal.fields", json!({})).await;
    assert_eq!(description["UF_CRM_BUDGET"]["type"], "money");
    assert_eq!(description["UF_CRM_BUDGET"]["isDynamic"], true);

    let wrong = [
        ("UF_CRM_SEATS", json!("many")),
        ("UF_CRM_RATE", json!("high")),
        ("UF_CRM_VIP", json!("maybe")),
        ("UF_CRM_SIGNED", json!("01.03.2026")),
        ("UF_CRM_CALL_AT", json!("soon")),
        ("UF_CRM_OWNER", json!(-3)),
        ("UF_CRM_BUDGET", json!("1500")),
        ("UF_CRM_SITE", json!("javascript:alert(1)")),
        ("UF_CRM_PARENT", json!("X_1")),
        ("UF_CRM_NOTE", json!(["two", "values"])),
        ("UF_CRM_UNKNOWN", json!("x")),
    ];
    for (name, value) in wrong {
        let (status, body) = host
            .rest(
                "crm.deal.update",
                json!({"id": id, "fields": {name: value, "TITLE": "Changed"}}),
            )
            .await;
        assert_eq!(status, 400, "{name} = {value}: {body}");
    }
    assert_eq!(
        host.deal(id.as_i64().unwrap()).await,
        deal,
        "refused updates change nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enumerations_multiple_values_and_lists() {
    let host = TestHost::start().await;
    let field = add_field(
        &host,
        "deal",
        json!({
            "FIELD_NAME": "UF_CRM_SIZE", "USER_TYPE_ID": "enumeration", "EDIT_FORM_LABEL": {"en": "Size", "de": "Größe"},
            "LIST": [{"VALUE": "Small", "SORT": 10}, {"VALUE": "Large", "SORT": 20, "DEF": "Y"}],
        }),
    )
    .await;
    let got = host.ok("crm.deal.userfield.get", json!({"id": field})).await;
    assert_eq!(got["FIELD_NAME"], "UF_CRM_SIZE");
    assert_eq!(got["ENTITY_ID"], "CRM_DEAL");
    assert_eq!(got["EDIT_FORM_LABEL"], "Size");
    let list = got["LIST"].as_array().unwrap();
    assert_eq!(
        list.iter().map(|i| i["VALUE"].as_str().unwrap()).collect::<Vec<_>>(),
        ["Small", "Large"]
    );
    assert_eq!(list[1]["DEF"], "Y");
    let (small, large) = (list[0]["ID"].clone(), list[1]["ID"].clone());

    add_field(
        &host,
        "deal",
        json!({"FIELD_NAME": "TAGS", "USER_TYPE_ID": "string", "MULTIPLE": "Y"}),
    )
    .await;
    let a = host
        .ok(
            "crm.deal.add",
            json!({"fields": {"TITLE": "A", "UF_CRM_SIZE": small, "UF_CRM_TAGS": ["x", "y"]}}),
        )
        .await;
    host.ok(
        "crm.deal.add",
        json!({"fields": {"TITLE": "B", "UF_CRM_SIZE": large, "UF_CRM_TAGS": "z"}}),
    )
    .await;
    let (status, body) = host
        .rest(
            "crm.deal.add",
            json!({"fields": {"TITLE": "C", "UF_CRM_SIZE": 999_999}}),
        )
        .await;
    assert_eq!(status, 400, "a value outside the list is refused: {body}");

    let found = host
        .ok(
            "crm.deal.list",
            json!({"filter": {"UF_CRM_SIZE": small}, "select": ["TITLE", "UF_*"]}),
        )
        .await;
    assert_eq!(found.as_array().unwrap().len(), 1);
    assert_eq!(found[0]["TITLE"], "A");
    assert_eq!(found[0]["UF_CRM_TAGS"], json!(["x", "y"]));
    let plain = host.ok("crm.deal.list", json!({"select": ["*"]})).await;
    assert!(
        plain[0].get("UF_CRM_SIZE").is_none(),
        "`*` leaves custom fields out, as in Bitrix24"
    );
    let (status, _) = host
        .rest("crm.deal.list", json!({"filter": {"UF_CRM_TAGS": "x"}}))
        .await;
    assert_eq!(status, 400, "multiple-value fields are not filterable");

    host.ok(
        "crm.deal.userfield.update",
        json!({"id": field, "fields": {"LIST": [{"ID": small, "VALUE": "Tiny"}, {"VALUE": "Medium", "SORT": 15}, {"ID": large, "DEL": "Y"}]}}),
    )
    .await;
    let got = host.ok("crm.deal.userfield.get", json!({"id": field})).await;
    let values: Vec<&str> = got["LIST"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["VALUE"].as_str().unwrap())
        .collect();
    assert_eq!(values, ["Tiny", "Medium"]);

    let listed = host
        .ok(
            "crm.deal.userfield.list",
            json!({"filter": {"USER_TYPE_ID": "enumeration"}}),
        )
        .await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(host.deal(a.as_i64().unwrap()).await["UF_CRM_SIZE"], small);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mandatory_fields_are_required_and_deleted_fields_disappear() {
    let host = TestHost::start().await;
    let field = add_field(
        &host,
        "contact",
        json!({"FIELD_NAME": "REGION", "USER_TYPE_ID": "string", "MANDATORY": "Y"}),
    )
    .await;
    let (status, body) = host.rest("crm.contact.add", json!({"fields": {"NAME": "Ann"}})).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error_description"].as_str().unwrap().contains("UF_CRM_REGION"),
        "{body}"
    );
    let id = host
        .ok(
            "crm.contact.add",
            json!({"fields": {"NAME": "Ann", "UF_CRM_REGION": "North"}}),
        )
        .await;
    let (status, _) = host
        .rest(
            "crm.contact.update",
            json!({"id": id, "fields": {"UF_CRM_REGION": null}}),
        )
        .await;
    assert_eq!(status, 400, "a mandatory field cannot be cleared");
    host.ok("crm.contact.update", json!({"id": id, "fields": {"NAME": "Anna"}}))
        .await;

    assert_eq!(
        host.ok("crm.contact.userfield.delete", json!({"id": field})).await,
        true
    );
    let contact = host.ok("crm.contact.get", json!({"id": id})).await;
    assert!(contact.get("UF_CRM_REGION").is_none(), "{contact}");
    let (status, body) = host.rest("crm.contact.userfield.get", json!({"id": field})).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("NOT_FOUND")));
    host.ok("crm.contact.add", json!({"fields": {"NAME": "Bob"}})).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_field_definitions_are_refused_and_change_nothing() {
    let host = TestHost::start().await;
    add_field(
        &host,
        "lead",
        json!({"FIELD_NAME": "SOURCE2", "USER_TYPE_ID": "string"}),
    )
    .await;
    let bad = [
        json!({"USER_TYPE_ID": "string"}),
        json!({"FIELD_NAME": "X"}),
        json!({"FIELD_NAME": "SOURCE2", "USER_TYPE_ID": "string"}),
        json!({"FIELD_NAME": "THIS_NAME_IS_FAR_TOO_LONG", "USER_TYPE_ID": "string"}),
        json!({"FIELD_NAME": "BAD-NAME", "USER_TYPE_ID": "string"}),
        json!({"FIELD_NAME": "FILE", "USER_TYPE_ID": "file"}),
        json!({"FIELD_NAME": "FLAGS", "USER_TYPE_ID": "boolean", "MULTIPLE": "Y"}),
        json!({"FIELD_NAME": "ODD", "USER_TYPE_ID": "string", "COLOUR": "red"}),
        json!({"FIELD_NAME": "LISTED", "USER_TYPE_ID": "string", "LIST": [{"VALUE": "a"}]}),
    ];
    for fields in bad {
        let (status, body) = host.rest("crm.lead.userfield.add", json!({"fields": fields})).await;
        assert_eq!(status, 400, "{fields}: {body}");
    }
    let listed = host.ok("crm.lead.userfield.list", json!({})).await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    let (status, _) = host
        .rest(
            "crm.lead.userfield.update",
            json!({"id": listed[0]["ID"], "fields": {"USER_TYPE_ID": "integer"}}),
        )
        .await;
    assert_eq!(status, 400, "the type is fixed once the field exists");
}
