//! The actions that change the item itself: edit it (or its contact or company), change its
//! responsible (to a user, in turn, or to the least busy), delete it, and create from it (a lead
//! becomes contact, company and deal; a lost deal is copied to try again).

use reqwest::Method;
use serde_json::{Value, json};
use stagewright_tests::TestHost;

async fn add(host: &TestHost, method: &str, fields: Value) -> i64 {
    host.ok(method, json!({"fields": fields})).await.as_i64().unwrap()
}

/// Runs the robot on a new deal with `fields` and returns the deal and its finished run.
async fn run_on_new_deal(host: &TestHost, robot: &str, fields: Value) -> (i64, Value) {
    let deal = add(host, "crm.deal.add", fields).await;
    let run = host.finished_run(deal, robot).await;
    (deal, run)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn robots_edit_the_deal_and_its_contact() {
    let host = TestHost::start().await;
    let edit = host
        .add_robot(
            "NEW",
            "edit-item",
            json!({"fields": {"COMMENTS": "Checked {=Document:TITLE}", "OPPORTUNITY": "{=Document:OPPORTUNITY}0"}}),
        )
        .await;
    let tag_contact = host
        .add_robot_with(
            "NEW",
            "edit-item",
            json!({"target": "contact", "fields": {"COMMENTS": "Client of {=Document:TITLE}"}}),
            json!({"after_previous": true}),
        )
        .await;
    let carol = add(&host, "crm.contact.add", json!({"NAME": "Carol"})).await;
    let (deal, run) = run_on_new_deal(
        &host,
        &edit,
        json!({"TITLE": "Acme", "OPPORTUNITY": 42, "CONTACT_ID": carol}),
    )
    .await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let got = host.deal(deal).await;
    assert_eq!(got["COMMENTS"], "Checked Acme");
    assert_eq!(got["OPPORTUNITY"], "420.00");
    assert_eq!(host.finished_run(deal, &tag_contact).await["status"], "succeeded");
    let contact = host.ok("crm.contact.get", json!({"id": carol})).await;
    assert_eq!(contact["COMMENTS"], "Client of Acme");

    let (lonely, _) = run_on_new_deal(&host, &edit, json!({"TITLE": "Solo"})).await;
    let failed = host.finished_run(lonely, &tag_contact).await;
    assert_eq!(failed["status"], "failed");
    assert!(
        failed["error"].as_str().unwrap().contains("CONTACT_ID is empty"),
        "{failed}"
    );

    let broken = json!({"entity_type": "deal", "stage_id": "NEW", "plugin_id": "edit-item", "config": {"fields": {}}});
    let (status, body) = host.admin(Method::POST, "/api/v1/robots", Some(broken)).await;
    assert_eq!(status, 400, "no fields to set: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_deals_are_dealt_out_in_turn_or_to_the_least_busy() {
    let host = TestHost::start().await;
    let (ann, bob, cid) = (
        host.add_user("ann").await,
        host.add_user("bob").await,
        host.add_user("cid").await,
    );
    let in_turn = host
        .add_robot("NEW", "change-responsible", json!({"users": [ann, bob, cid]}))
        .await;
    let mut given = Vec::new();
    for n in 0..4 {
        let (deal, run) = run_on_new_deal(&host, &in_turn, json!({"TITLE": format!("Lead {n}")})).await;
        assert_eq!(run["status"], "succeeded", "{run}");
        given.push(
            host.deal(deal).await["ASSIGNED_BY_ID"]
                .as_str()
                .unwrap()
                .parse::<i64>()
                .unwrap(),
        );
    }
    assert_eq!(given, [ann, bob, cid, ann]);

    let least_busy = host
        .add_robot(
            "PREPARATION",
            "change-responsible",
            json!({"users": [ann, bob, cid], "distribution": "least_busy"}),
        )
        .await;
    let deal = add(&host, "crm.deal.add", json!({"TITLE": "Big one"})).await;
    host.finished_run(deal, &in_turn).await;
    host.move_deal(deal, "PREPARATION").await;
    let run = host.finished_run(deal, &least_busy).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(
        run["return_values"]["user_id"], bob,
        "other open deals: ann two, bob one, cid one; a tie goes to the first listed"
    );

    for config in [
        json!({"user_id": ann, "users": [bob]}),
        json!({"distribution": "least_busy"}),
    ] {
        let robot =
            json!({"entity_type": "deal", "stage_id": "NEW", "plugin_id": "change-responsible", "config": config});
        let (status, body) = host.admin(Method::POST, "/api/v1/robots", Some(robot)).await;
        assert_eq!(status, 400, "one of user_id and users: {body}");
        assert!(body["error_description"].as_str().unwrap().contains("oneOf"), "{body}");
    }
    let robot = json!({"entity_type": "deal", "stage_id": "NEW", "plugin_id": "change-responsible", "config": {"users": [ann], "distribution": "random"}});
    let (status, body) = host.admin(Method::POST, "/api/v1/robots", Some(robot)).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error_description"].as_str().unwrap().contains("distribution"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deals_due_at_the_same_moment_still_go_round_the_users() {
    let host = TestHost::start_with(|s| s.manual_clock = true).await;
    let users = [
        host.add_user("ann").await,
        host.add_user("bob").await,
        host.add_user("cid").await,
    ];
    let in_turn = host
        .add_robot_with(
            "NEW",
            "change-responsible",
            json!({"users": users}),
            json!({"timing": {"kind": "delay", "value": 10, "unit": "minutes"}}),
        )
        .await;
    let mut deals = Vec::new();
    for n in 0..6 {
        deals.push(add(&host, "crm.deal.add", json!({"TITLE": format!("Imported {n}")})).await);
    }
    host.advance_clock(11 * 60_000).await;
    let mut given = Vec::new();
    for deal in &deals {
        let run = host.finished_run(*deal, &in_turn).await;
        assert_eq!(run["status"], "succeeded", "{run}");
        given.push(run["return_values"]["user_id"].as_i64().unwrap());
    }
    for user in users {
        assert_eq!(
            given.iter().filter(|u| **u == user).count(),
            2,
            "six deals due together, claimed together, go round three users twice: {given:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_robot_deletes_a_deal_that_was_lost() {
    let host = TestHost::start().await;
    let delete = host.add_robot("LOSE", "delete-item", json!({})).await;
    let deal = host.add_deal("Spam").await;
    host.move_deal(deal, "LOSE").await;
    assert_eq!(host.finished_run(deal, &delete).await["status"], "succeeded");
    let (status, body) = host.rest("crm.deal.get", json!({"id": deal})).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("NOT_FOUND")), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_left_in_its_status_lets_later_robots_use_the_new_deal() {
    let host = TestHost::start().await;
    let convert = host
        .add_robot_on(
            "lead",
            "PROCESSED",
            "create-from-source",
            json!({"complete_lead": false, "create_company": false}),
            json!({}),
        )
        .await;
    let note = host
        .add_robot_on(
            "lead",
            "PROCESSED",
            "edit-item",
            json!({"fields": {"COMMENTS": format!("became deal {{={convert}:deal_id}}")}}),
            json!({"after_previous": true}),
        )
        .await;
    let lead = add(&host, "crm.lead.add", json!({"TITLE": "Call back", "NAME": "Dan"})).await;
    host.ok(
        "crm.lead.update",
        json!({"id": lead, "fields": {"STATUS_ID": "PROCESSED"}}),
    )
    .await;
    let made = host.finished_run_of("lead", lead, &convert).await["return_values"].clone();
    assert_eq!(host.finished_run_of("lead", lead, &note).await["status"], "succeeded");
    let after = host.ok("crm.lead.get", json!({"id": lead})).await;
    assert_eq!(after["STATUS_ID"], "PROCESSED", "{after}");
    assert_eq!(after["COMMENTS"], format!("became deal {}", made["deal_id"]));
    assert_eq!(after["CONTACT_ID"], made["contact_id"].to_string());
    assert_eq!(after["COMPANY_ID"], Value::Null, "{after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_becomes_contact_company_and_deal_and_a_lost_deal_is_tried_again() {
    let host = TestHost::start().await;
    let convert = host
        .add_robot_on(
            "lead",
            "PROCESSED",
            "create-from-source",
            json!({"stage_id": "PREPARATION"}),
            json!({}),
        )
        .await;
    let lead = add(
        &host,
        "crm.lead.add",
        json!({"TITLE": "Website enquiry", "NAME": "Carol", "LAST_NAME": "Smith", "COMPANY_TITLE": "Smith & Co",
               "EMAIL": [{"VALUE": "carol@smith.example", "VALUE_TYPE": "WORK"}], "OPPORTUNITY": 1500}),
    )
    .await;
    host.ok(
        "crm.lead.update",
        json!({"id": lead, "fields": {"STATUS_ID": "PROCESSED"}}),
    )
    .await;
    let run = host.finished_run_of("lead", lead, &convert).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let made = &run["return_values"];
    let deal = host.deal(made["deal_id"].as_i64().unwrap()).await;
    assert_eq!(deal["TITLE"], "Website enquiry");
    assert_eq!(deal["STAGE_ID"], "PREPARATION");
    assert_eq!(deal["OPPORTUNITY"], "1500.00");
    assert_eq!(deal["LEAD_ID"], lead.to_string());
    assert_eq!(deal["CONTACT_ID"], made["contact_id"].to_string());
    assert_eq!(deal["COMPANY_ID"], made["company_id"].to_string());
    let contact = host.ok("crm.contact.get", json!({"id": made["contact_id"]})).await;
    assert_eq!(
        (contact["NAME"].as_str(), contact["LAST_NAME"].as_str()),
        (Some("Carol"), Some("Smith"))
    );
    assert_eq!(contact["EMAIL"][0]["VALUE"], "carol@smith.example");
    assert_eq!(contact["COMPANY_ID"], made["company_id"].to_string());
    let company = host.ok("crm.company.get", json!({"id": made["company_id"]})).await;
    assert_eq!(company["TITLE"], "Smith & Co");
    let converted = host.ok("crm.lead.get", json!({"id": lead})).await;
    assert_eq!(converted["STATUS_ID"], "CONVERTED", "{converted}");
    assert_eq!(converted["CONTACT_ID"], made["contact_id"].to_string());
    assert_eq!(converted["COMPANY_ID"], made["company_id"].to_string());

    let again = host
        .add_robot(
            "LOSE",
            "create-from-source",
            json!({"stage_id": "NEW", "title": "Second try: {=Document:TITLE}"}),
        )
        .await;
    let lost = deal["ID"].as_str().unwrap().parse::<i64>().unwrap();
    host.move_deal(lost, "LOSE").await;
    let copied = host.finished_run(lost, &again).await;
    assert_eq!(copied["status"], "succeeded", "{copied}");
    let retry = host.deal(copied["return_values"]["deal_id"].as_i64().unwrap()).await;
    assert_eq!(retry["TITLE"], "Second try: Website enquiry");
    assert_eq!(retry["STAGE_ID"], "NEW");
    assert_eq!(retry["ORIGIN_ID"], lost.to_string());
    assert_eq!(retry["CONTACT_ID"], deal["CONTACT_ID"]);
    assert_eq!(retry["OPPORTUNITY"], "1500.00");

    let looping = host
        .add_robot("WON", "create-from-source", json!({"stage_id": "WON"}))
        .await;
    host.move_deal(lost, "WON").await;
    let refused = host.finished_run(lost, &looping).await;
    assert_eq!(refused["status"], "failed");
    assert!(
        refused["error"].as_str().unwrap().contains("be copied again"),
        "{refused}"
    );
}
