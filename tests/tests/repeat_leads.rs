//! Repeat leads and their exception list: a lead whose phone or email belongs to a contact or
//! company is a repeat lead linked to that client, unless the value is on the exception list,
//! which admins keep through the admin API and the `add-to-exceptions` robot adds to.

use reqwest::Method;
use serde_json::{Value, json};
use stagewright_tests::TestHost;

async fn add(host: &TestHost, method: &str, fields: Value) -> i64 {
    host.ok(method, json!({"fields": fields})).await.as_i64().unwrap()
}

async fn lead(host: &TestHost, id: i64) -> Value {
    host.ok("crm.lead.get", json!({"id": id})).await
}

/// Creates a lead from `fields`; answers whether it is a repeat lead and its contact.
async fn new_lead(host: &TestHost, fields: Value) -> (String, Value) {
    let id = add(host, "crm.lead.add", fields).await;
    let got = lead(host, id).await;
    (
        got["IS_RETURN_CUSTOMER"].as_str().unwrap().to_string(),
        got["CONTACT_ID"].clone(),
    )
}

async fn exceptions(host: &TestHost) -> Vec<Value> {
    let (status, body) = host.admin(Method::GET, "/api/v1/exceptions", None).await;
    assert_eq!(status, 200, "{body}");
    body["exceptions"].as_array().unwrap().clone()
}

async fn add_robot(host: &TestHost, entity_type: &str, stage_id: &str, config: Value) -> String {
    host.add_robot_on(entity_type, stage_id, "add-to-exceptions", config, json!({}))
        .await
}

fn ids(list: &Value) -> Vec<i64> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|l| l["ID"].as_str().unwrap().parse().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_with_a_clients_phone_is_a_repeat_lead_until_a_robot_lists_the_phone() {
    let host = TestHost::start().await;
    let acme = add(&host, "crm.company.add", json!({"TITLE": "Acme"})).await;
    let dan = add(
        &host,
        "crm.contact.add",
        json!({"NAME": "Dan", "COMPANY_ID": acme,
               "PHONE": [{"VALUE": "+1 (555) 010-2000", "VALUE_TYPE": "MOBILE"}],
               "EMAIL": [{"VALUE": "Dan@Client.example"}]}),
    )
    .await;

    let by_phone = add(
        &host,
        "crm.lead.add",
        json!({"TITLE": "Call back", "PHONE": [{"VALUE": "+1 555 010 2000"}], "EMAIL": [{"VALUE": "spam@bots.example"}]}),
    )
    .await;
    let got = lead(&host, by_phone).await;
    assert_eq!(got["IS_RETURN_CUSTOMER"], "Y", "{got}");
    assert_eq!(got["CONTACT_ID"], dan.to_string(), "linked to the client");
    assert_eq!(got["COMPANY_ID"], acme.to_string(), "and to the client's company");

    let by_email = host
        .ok(
            "crm.item.add",
            json!({"entityTypeId": 1, "fields": {"title": "Mail", "email": [{"VALUE": "dan@client.EXAMPLE"}]}}),
        )
        .await;
    assert_eq!(by_email["item"]["isReturnCustomer"], "Y", "{by_email}");
    assert_eq!(by_email["item"]["contactId"], dan);
    let by_email = by_email["item"]["id"].as_i64().unwrap();

    let other = add(&host, "crm.contact.add", json!({"NAME": "Eve"})).await;
    let chosen = add(
        &host,
        "crm.lead.add",
        json!({"TITLE": "Referred", "CONTACT_ID": other, "PHONE": [{"VALUE": "+15550102000"}]}),
    )
    .await;
    let got = lead(&host, chosen).await;
    assert_eq!(
        (got["IS_RETURN_CUSTOMER"].as_str(), got["CONTACT_ID"].as_str()),
        (Some("Y"), Some(other.to_string().as_str())),
        "the contact the caller gave stays"
    );
    assert_eq!(
        new_lead(&host, json!({"TITLE": "New", "PHONE": [{"VALUE": "555 0199"}]})).await,
        ("N".into(), Value::Null)
    );

    let repeat = host
        .ok("crm.lead.list", json!({"filter": {"IS_RETURN_CUSTOMER": "Y"}}))
        .await;
    assert_eq!(ids(&repeat), [by_phone, by_email, chosen]);
    let new = host
        .ok("crm.lead.list", json!({"filter": {"IS_RETURN_CUSTOMER": "N"}}))
        .await;
    assert_eq!(ids(&new).len(), 1);
    let fields = host.ok("crm.lead.fields", json!({})).await;
    assert_eq!(fields["IS_RETURN_CUSTOMER"]["isReadOnly"], true, "{fields}");
    let (status, body) = host
        .rest(
            "crm.lead.update",
            json!({"id": by_email, "fields": {"IS_RETURN_CUSTOMER": "Y"}}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error_description"].as_str().unwrap().contains("read-only"),
        "{body}"
    );

    let robot = add_robot(&host, "lead", "JUNK", json!({"comment": "junk: {=Document:TITLE}"})).await;
    host.ok(
        "crm.lead.update",
        json!({"id": by_phone, "fields": {"STATUS_ID": "JUNK"}}),
    )
    .await;
    let run = host.finished_run_of("lead", by_phone, &robot).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["return_values"]["added"], 2);
    let listed = exceptions(&host).await;
    let values: Vec<(&str, &str)> = listed
        .iter()
        .map(|e| (e["kind"].as_str().unwrap(), e["value"].as_str().unwrap()))
        .collect();
    assert_eq!(values, [("phone", "+15550102000"), ("email", "spam@bots.example")]);
    for entry in &listed {
        assert_eq!(entry["comment"], "junk: Call back");
        assert_eq!(entry["run_id"], run["id"]);
        assert_eq!(
            (entry["entity_type"].as_str(), entry["item_id"].as_i64()),
            (Some("lead"), Some(by_phone))
        );
        assert_eq!(entry["added_by"], 0, "the automation");
    }
    assert_eq!(
        lead(&host, by_phone).await["IS_RETURN_CUSTOMER"],
        "Y",
        "a lead keeps its mark"
    );

    let again = add(
        &host,
        "crm.lead.add",
        json!({"TITLE": "Again", "PHONE": [{"VALUE": "+1 555 010-2000"}]}),
    )
    .await;
    let got = lead(&host, again).await;
    assert_eq!(
        (got["IS_RETURN_CUSTOMER"].as_str(), &got["CONTACT_ID"]),
        (Some("N"), &Value::Null),
        "a listed phone no longer makes a repeat lead: {got}"
    );
    assert_eq!(
        new_lead(
            &host,
            json!({"TITLE": "Mail again", "EMAIL": [{"VALUE": "dan@client.example"}]})
        )
        .await,
        ("Y".into(), json!(dan.to_string())),
        "the email is not listed"
    );

    host.ok("crm.lead.update", json!({"id": again, "fields": {"STATUS_ID": "JUNK"}}))
        .await;
    let run = host.finished_run_of("lead", again, &robot).await;
    assert_eq!(run["return_values"]["added"], 0, "already listed: {run}");
    assert_eq!(exceptions(&host).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_is_matched_against_clients_as_they_are_now() {
    let host = TestHost::start().await;
    let fay = add(
        &host,
        "crm.contact.add",
        json!({"NAME": "Fay", "EMAIL": [{"VALUE": "fay@old.example"}], "PHONE": [{"VALUE": "+49 30 1234567"}]}),
    )
    .await;
    let email_entry = host.ok("crm.contact.get", json!({"id": fay})).await["EMAIL"][0]["ID"].clone();
    host.ok(
        "crm.contact.update",
        json!({"id": fay, "fields": {"EMAIL": [{"ID": email_entry, "VALUE": "Fay@New.example"}]}}),
    )
    .await;
    assert_eq!(
        new_lead(
            &host,
            json!({"TITLE": "Old address", "EMAIL": [{"VALUE": "fay@old.example"}]})
        )
        .await,
        ("N".into(), Value::Null),
        "the address Fay no longer has"
    );
    assert_eq!(
        new_lead(
            &host,
            json!({"TITLE": "New address", "EMAIL": [{"VALUE": "FAY@new.example"}]})
        )
        .await,
        ("Y".into(), json!(fay.to_string())),
        "the address she has now, in any case"
    );
    assert_eq!(
        new_lead(
            &host,
            json!({"TITLE": "Phone", "PHONE": [{"VALUE": "+49 (30) 123-45-67"}]})
        )
        .await,
        ("Y".into(), json!(fay.to_string())),
        "an update of her email keeps her phone"
    );

    let globex = add(
        &host,
        "crm.company.add",
        json!({"TITLE": "Globex", "PHONE": [{"VALUE": "+44 20 7946 0000"}]}),
    )
    .await;
    let call = add(
        &host,
        "crm.lead.add",
        json!({"TITLE": "Globex calls", "PHONE": [{"VALUE": "+442079460000"}]}),
    )
    .await;
    assert_eq!(lead(&host, call).await["COMPANY_ID"], globex.to_string());
    host.ok("crm.company.delete", json!({"id": globex})).await;
    assert_eq!(
        new_lead(
            &host,
            json!({"TITLE": "Globex again", "PHONE": [{"VALUE": "+44 20 7946 0000"}]})
        )
        .await,
        ("N".into(), Value::Null),
        "a deleted company is no client"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_robot_on_a_deal_lists_its_clients_phones_and_emails() {
    let host = TestHost::start().await;
    let acme = add(
        &host,
        "crm.company.add",
        json!({"TITLE": "Acme", "PHONE": [{"VALUE": "+44 20 7946 0000"}]}),
    )
    .await;
    let dan = add(
        &host,
        "crm.contact.add",
        json!({"NAME": "Dan", "EMAIL": [{"VALUE": "desk@acme.example"}]}),
    )
    .await;
    let robot = add_robot(&host, "deal", "LOSE", json!({})).await;
    let deal = add(
        &host,
        "crm.deal.add",
        json!({"TITLE": "Switchboard", "CONTACT_ID": dan, "COMPANY_ID": acme}),
    )
    .await;
    host.move_deal(deal, "LOSE").await;
    let run = host.finished_run_of("deal", deal, &robot).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["return_values"]["added"], 2);
    let values: Vec<Value> = exceptions(&host)
        .await
        .iter()
        .map(|e| json!([e["kind"], e["value"], e["comment"]]))
        .collect();
    assert_eq!(
        values,
        [
            json!(["email", "desk@acme.example", ""]),
            json!(["phone", "+442079460000", ""])
        ]
    );
    let lead = add(
        &host,
        "crm.lead.add",
        json!({"TITLE": "Desk", "EMAIL": [{"VALUE": "desk@acme.example"}]}),
    )
    .await;
    assert_eq!(
        host.ok("crm.lead.get", json!({"id": lead})).await["IS_RETURN_CUSTOMER"],
        "N"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exception_list_refuses_bad_input_and_unknown_entries() {
    let host = TestHost::start().await;
    for (body, expected) in [
        (json!({"kind": "fax", "value": "555 0100"}), "unknown variant `fax`"),
        (
            json!({"kind": "phone", "value": "555 0100", "note": "x"}),
            "unknown field `note`",
        ),
        (json!({"kind": "phone", "value": "  "}), "the phone is empty"),
        (
            json!({"kind": "email", "value": "not an address"}),
            "is not a valid value",
        ),
        (json!({"value": "555 0100"}), "missing field `kind`"),
    ] {
        let (status, answer) = host.admin(Method::POST, "/api/v1/exceptions", Some(body.clone())).await;
        assert_eq!(status, 400, "{body}: {answer}");
        let description = answer["error_description"].as_str().unwrap();
        assert!(description.contains(expected), "{body}: {answer}");
    }
    assert!(exceptions(&host).await.is_empty(), "nothing was added");

    let entry = json!({"kind": "phone", "value": "+1 (555) 010-0100", "comment": "switchboard"});
    let (status, added) = host
        .admin(Method::POST, "/api/v1/exceptions", Some(entry.clone()))
        .await;
    assert_eq!(status, 201, "{added}");
    assert_eq!(
        (added["value"].as_str(), added["comment"].as_str()),
        (Some("+15550100100"), Some("switchboard"))
    );
    assert!(added["added_by"].as_i64().unwrap() > 0, "the admin's user: {added}");
    let (status, same) = host
        .admin(
            Method::POST,
            "/api/v1/exceptions",
            Some(json!({"kind": "phone", "value": "+1 555 010 0100"})),
        )
        .await;
    assert_eq!((status, &same["id"]), (200, &added["id"]), "already listed: {same}");

    for id in ["999", "abc"] {
        let (status, body) = host
            .admin(Method::DELETE, &format!("/api/v1/exceptions/{id}"), None)
            .await;
        assert_eq!((status, body["error"].as_str()), (404, Some("NOT_FOUND")), "{body}");
    }
    assert_eq!(exceptions(&host).await.len(), 1);
    let (status, _) = host
        .admin(Method::DELETE, &format!("/api/v1/exceptions/{}", added["id"]), None)
        .await;
    assert_eq!(status, 204);
    assert!(exceptions(&host).await.is_empty());

    for config in [json!({"comment": 5}), json!({"note": "x"})] {
        let robot =
            json!({"entity_type": "lead", "stage_id": "JUNK", "plugin_id": "add-to-exceptions", "config": config});
        let (status, body) = host.admin(Method::POST, "/api/v1/robots", Some(robot)).await;
        assert_eq!(status, 400, "{config}: {body}");
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("add-to-exceptions's schema"),
            "{body}"
        );
    }
}
