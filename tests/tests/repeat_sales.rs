//! Repeat sales as seeds 000–002 describe them, through the REST API on the manual clock: repeat
//! deals and repeat inquiries flagged as Bitrix24 flags them, the repeat-sales mode, deals moved
//! between pipelines, and the stage history of what happened.

use reqwest::Method;
use serde_json::{Value, json};
use stagewright_tests::TestHost;

async fn manual_host() -> TestHost {
    TestHost::start_with(|s| s.manual_clock = true).await
}

async fn add(host: &TestHost, entity: &str, fields: Value) -> i64 {
    let id = host.ok(&format!("crm.{entity}.add"), json!({"fields": fields})).await;
    id.as_i64().unwrap_or_else(|| panic!("{entity} id, not {id}"))
}

/// A deal's repeat flags: (IS_RETURN_CUSTOMER, IS_REPEATED_APPROACH).
async fn flags(host: &TestHost, deal: i64) -> (String, String) {
    let deal = host.deal(deal).await;
    let flag = |name: &str| {
        deal[name]
            .as_str()
            .unwrap_or_else(|| panic!("{name} in {deal}"))
            .to_string()
    };
    (flag("IS_RETURN_CUSTOMER"), flag("IS_REPEATED_APPROACH"))
}

fn yes_no(repeat: &str, inquiry: &str) -> (String, String) {
    (repeat.to_string(), inquiry.to_string())
}

async fn deal_ids(host: &TestHost, filter: Value) -> Vec<i64> {
    let listed = host
        .ok(
            "crm.deal.list",
            json!({"filter": filter, "order": {"ID": "ASC"}, "select": ["ID"]}),
        )
        .await;
    listed
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["ID"].as_str().unwrap().parse().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_deal_of_a_client_with_a_won_deal_is_a_repeat_deal() {
    let host = manual_host().await;
    let contact = add(&host, "contact", json!({"NAME": "Olga"})).await;
    let company = add(&host, "company", json!({"TITLE": "Olga's Bakery"})).await;
    let first = add(&host, "deal", json!({"TITLE": "First order", "CONTACT_ID": contact})).await;
    assert_eq!(
        flags(&host, first).await,
        yes_no("N", "N"),
        "a first deal is not a repeat deal"
    );
    assert_eq!(
        host.deal(first).await["IS_NEW"],
        "Y",
        "a deal in the first stage is new"
    );
    host.move_deal(first, "PREPARATION").await;
    assert_eq!(host.deal(first).await["IS_NEW"], "N");

    let while_open = add(
        &host,
        "deal",
        json!({"TITLE": "Second, first still open", "CONTACT_ID": contact}),
    )
    .await;
    assert_eq!(flags(&host, while_open).await, yes_no("N", "N"), "no won deal yet");

    host.move_deal(first, "WON").await;
    let again = add(&host, "deal", json!({"TITLE": "Comes back", "CONTACT_ID": contact})).await;
    assert_eq!(flags(&host, again).await, yes_no("Y", "N"), "the client has a won deal");
    let item = host.ok("crm.item.get", json!({"entityTypeId": 2, "id": again})).await;
    assert_eq!(item["item"]["isReturnCustomer"], "Y", "{item}");
    assert_eq!(item["item"]["isRepeatedApproach"], "N");
    assert_eq!(item["item"]["isNew"], "Y");
    assert_eq!(
        flags(&host, while_open).await,
        yes_no("N", "N"),
        "deals made before the win keep their flags"
    );

    let company_deal = add(&host, "deal", json!({"TITLE": "Company order", "COMPANY_ID": company})).await;
    host.move_deal(company_deal, "WON").await;
    let by_company = add(&host, "deal", json!({"TITLE": "Company again", "COMPANY_ID": company})).await;
    assert_eq!(
        flags(&host, by_company).await,
        yes_no("Y", "N"),
        "a company's won deal counts too"
    );

    let unlinked = add(&host, "deal", json!({"TITLE": "Who is it?"})).await;
    assert_eq!(flags(&host, unlinked).await, yes_no("N", "N"));
    host.ok(
        "crm.deal.update",
        json!({"id": unlinked, "fields": {"CONTACT_ID": contact}}),
    )
    .await;
    assert_eq!(
        flags(&host, unlinked).await,
        yes_no("Y", "N"),
        "linking the client marks the deal"
    );

    assert_eq!(
        deal_ids(&host, json!({"IS_RETURN_CUSTOMER": "Y"})).await,
        [again, by_company, unlinked]
    );
    assert_eq!(
        deal_ids(&host, json!({"IS_NEW": "Y", "IS_RETURN_CUSTOMER": "N"})).await,
        [while_open]
    );

    let described = host.ok("crm.deal.fields", json!({})).await;
    for field in ["IS_RETURN_CUSTOMER", "IS_REPEATED_APPROACH", "IS_NEW"] {
        assert_eq!(described[field]["isReadOnly"], true, "{field}: {}", described[field]);
    }
    let (status, refused) = host
        .rest(
            "crm.deal.update",
            json!({"id": first, "fields": {"IS_RETURN_CUSTOMER": "Y"}}),
        )
        .await;
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused["error_description"].as_str().unwrap().contains("read-only"),
        "{refused}"
    );
    assert_eq!(
        flags(&host, first).await,
        yes_no("N", "N"),
        "a refused update changes nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deal_from_a_repeat_lead_of_a_client_without_wins_is_a_repeat_inquiry() {
    let host = manual_host().await;
    let phone = json!([{"VALUE": "+7 900 111-22-33", "VALUE_TYPE": "WORK"}]);
    let contact = add(&host, "contact", json!({"NAME": "Pavel", "PHONE": phone})).await;
    let lead = add(&host, "lead", json!({"TITLE": "Calls again", "PHONE": phone})).await;
    let lead_read = host.ok("crm.lead.get", json!({"id": lead})).await;
    assert_eq!(lead_read["IS_RETURN_CUSTOMER"], "Y", "{lead_read}");
    assert_eq!(lead_read["CONTACT_ID"], contact.to_string());

    let inquiry = add(
        &host,
        "deal",
        json!({"TITLE": "From the lead", "LEAD_ID": lead, "CONTACT_ID": contact}),
    )
    .await;
    assert_eq!(
        flags(&host, inquiry).await,
        yes_no("N", "Y"),
        "a repeat lead, no won deal"
    );

    let stranger = add(
        &host,
        "lead",
        json!({"TITLE": "New caller", "PHONE": [{"VALUE": "+7 900 999-00-00"}]}),
    )
    .await;
    let fresh = add(&host, "deal", json!({"TITLE": "From a new lead", "LEAD_ID": stranger})).await;
    assert_eq!(
        flags(&host, fresh).await,
        yes_no("N", "N"),
        "a first-time lead is no repeat inquiry"
    );

    host.move_deal(inquiry, "WON").await;
    let bought_before = add(
        &host,
        "deal",
        json!({"TITLE": "Again", "LEAD_ID": lead, "CONTACT_ID": contact}),
    )
    .await;
    assert_eq!(
        flags(&host, bought_before).await,
        yes_no("Y", "N"),
        "once the client has won a deal, it is a repeat deal, not an inquiry"
    );
    assert_eq!(deal_ids(&host, json!({"IS_REPEATED_APPROACH": "Y"})).await, [inquiry]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turning_repeat_sales_off_stops_marking_new_leads_and_deals() {
    let host = manual_host().await;
    let (status, mode) = host.admin(Method::GET, "/api/v1/repeat-sales", None).await;
    assert_eq!(
        (status, &mode),
        (200, &json!({"enabled": true, "simple_crm": false})),
        "on by default, leads in use"
    );
    let phone = json!([{"VALUE": "+49 30 1234567"}]);
    let contact = add(&host, "contact", json!({"NAME": "Rita", "PHONE": phone})).await;
    let won = add(
        &host,
        "deal",
        json!({"TITLE": "Bought", "CONTACT_ID": contact, "STAGE_ID": "WON"}),
    )
    .await;
    let marked = add(&host, "deal", json!({"TITLE": "Marked", "CONTACT_ID": contact})).await;
    assert_eq!(flags(&host, marked).await, yes_no("Y", "N"));

    for bad in [
        json!({"enabled": "sometimes"}),
        json!({"enabled": false, "extra": 1}),
        json!([]),
    ] {
        let (status, refused) = host.admin(Method::PUT, "/api/v1/repeat-sales", Some(bad.clone())).await;
        assert_eq!(status, 400, "{bad}: {refused}");
        assert!(refused["error_description"].is_string(), "{refused}");
    }
    let (_, still) = host.admin(Method::GET, "/api/v1/repeat-sales", None).await;
    assert_eq!(
        still,
        json!({"enabled": true, "simple_crm": false}),
        "a refused change changes nothing"
    );

    let (status, off) = host
        .admin(Method::PUT, "/api/v1/repeat-sales", Some(json!({"enabled": false})))
        .await;
    assert_eq!((status, off), (200, json!({"enabled": false, "simple_crm": false})));
    let unmarked = add(&host, "deal", json!({"TITLE": "Not marked", "CONTACT_ID": contact})).await;
    assert_eq!(flags(&host, unmarked).await, yes_no("N", "N"));
    let lead = add(&host, "lead", json!({"TITLE": "Same phone", "PHONE": phone})).await;
    let lead = host.ok("crm.lead.get", json!({"id": lead})).await;
    assert_eq!(lead["IS_RETURN_CUSTOMER"], "N", "{lead}");
    assert_eq!(lead["CONTACT_ID"], Value::Null, "not linked to the matching contact");
    assert_eq!(flags(&host, marked).await, yes_no("Y", "N"), "flags already set stay");
    assert_eq!(flags(&host, won).await, yes_no("N", "N"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_simple_crm_a_repeat_lead_becomes_a_repeat_deal_and_other_leads_stay_leads() {
    let host = manual_host().await;
    let (status, mode) = host
        .admin(
            Method::PUT,
            "/api/v1/repeat-sales",
            Some(json!({"enabled": true, "simple_crm": true})),
        )
        .await;
    assert_eq!(status, 200, "{mode}");
    let phone = json!([{"VALUE": "+49 30 7654321"}]);
    let contact = add(&host, "contact", json!({"NAME": "Uli", "PHONE": phone})).await;
    let lead = add(
        &host,
        "lead",
        json!({"TITLE": "Wants more", "PHONE": phone, "OPPORTUNITY": 80, "CURRENCY_ID": "EUR"}),
    )
    .await;
    let lead = host.ok("crm.lead.get", json!({"id": lead})).await;
    assert_eq!(
        (&lead["IS_RETURN_CUSTOMER"], &lead["STATUS_ID"]),
        (&json!("Y"), &json!("CONVERTED")),
        "{lead}"
    );
    let lead_id: i64 = lead["ID"].as_str().unwrap().parse().unwrap();
    let deals = deal_ids(&host, json!({"LEAD_ID": lead_id})).await;
    assert_eq!(deals.len(), 1, "one deal from the repeat lead");
    let deal = host.deal(deals[0]).await;
    assert_eq!(deal["TITLE"], "Wants more");
    assert_eq!(deal["CONTACT_ID"], contact.to_string());
    assert_eq!(deal["OPPORTUNITY"], "80.00");
    assert_eq!(
        flags(&host, deals[0]).await,
        yes_no("N", "Y"),
        "a repeat inquiry: nothing won yet"
    );

    host.move_deal(deals[0], "WON").await;
    let again = add(&host, "lead", json!({"TITLE": "And again", "CONTACT_ID": contact})).await;
    let again_deal = deal_ids(&host, json!({"LEAD_ID": again})).await;
    assert_eq!(flags(&host, again_deal[0]).await, yes_no("Y", "N"), "now a repeat deal");

    let stranger = add(
        &host,
        "lead",
        json!({"TITLE": "New here", "PHONE": [{"VALUE": "+1 555 0100"}]}),
    )
    .await;
    let stranger = host.ok("crm.lead.get", json!({"id": stranger})).await;
    assert_eq!(stranger["STATUS_ID"], "NEW", "not a repeat lead: it stays a lead");
    assert!(deal_ids(&host, json!({"LEAD_ID": stranger["ID"]})).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_robot_condition_can_ask_for_repeat_deals() {
    let host = manual_host().await;
    let (status, robot) = host
        .admin(
            Method::POST,
            "/api/v1/robots",
            Some(json!({
                "entity_type": "deal", "stage_id": "NEW", "plugin_id": "add-comment",
                "config": {"text": "Welcome back"},
                "condition": {"rules": [{"field": "IS_RETURN_CUSTOMER", "op": "=", "value": "Y"}]}
            })),
        )
        .await;
    assert_eq!(status, 201, "{robot}");
    let robot = robot["id"].as_str().unwrap().to_string();
    let contact = add(&host, "contact", json!({"NAME": "Sami"})).await;
    let first = add(&host, "deal", json!({"TITLE": "First", "CONTACT_ID": contact})).await;
    let run = host.finished_run(first, &robot).await;
    assert_eq!(run["status"], "skipped", "{run}");
    host.move_deal(first, "WON").await;
    let repeat = add(&host, "deal", json!({"TITLE": "Repeat", "CONTACT_ID": contact})).await;
    let run = host.finished_run(repeat, &robot).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(host.comments(repeat).await, ["Welcome back"]);
    assert!(host.comments(first).await.is_empty());
}

/// A pipeline's id and its stages' ids, as crm.category.add and crm.status.list give them.
async fn add_pipeline(host: &TestHost, name: &str) -> (i64, Vec<String>) {
    let added = host
        .ok("crm.category.add", json!({"entityTypeId": 2, "fields": {"name": name}}))
        .await;
    let id = added["category"]["id"].as_i64().unwrap();
    let stages = host
        .ok(
            "crm.status.list",
            json!({"filter": {"ENTITY_ID": format!("DEAL_STAGE_{id}")}, "order": {"SORT": "ASC"}}),
        )
        .await;
    let stages = stages
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["STATUS_ID"].as_str().unwrap().to_string())
        .collect();
    (id, stages)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deal_moved_to_another_pipeline_leaves_its_robots_behind_and_the_stage_history_shows_each_step() {
    let host = manual_host().await;
    let (pipeline, stages) = add_pipeline(&host, "Repeat Sales").await;
    let first = stages[0].clone();
    assert_eq!(first, format!("C{pipeline}:NEW"));
    let (_, waiting) = host
        .admin(
            Method::POST,
            "/api/v1/robots",
            Some(
                json!({"entity_type": "deal", "stage_id": "PREPARATION", "plugin_id": "add-comment",
                "config": {"text": "never"}, "timing": {"kind": "delay", "value": 1, "unit": "days"}}),
            ),
        )
        .await;
    let greeting = host
        .add_robot(&first, "add-comment", json!({"text": "In Repeat Sales"}))
        .await;

    let start = host.advance_clock(0).await;
    let deal = host.add_deal("Moves around").await;
    host.advance_clock(3_600_000).await;
    host.move_deal(deal, "PREPARATION").await;
    host.advance_clock(3_600_000).await;
    let (status, wrong) = host
        .rest(
            "crm.deal.update",
            json!({"id": deal, "fields": {"CATEGORY_ID": pipeline, "STAGE_ID": "WON"}}),
        )
        .await;
    assert_eq!(status, 400, "a stage of another pipeline: {wrong}");
    assert_eq!(
        host.deal(deal).await["STAGE_ID"],
        "PREPARATION",
        "a refused move moves nothing"
    );
    host.ok(
        "crm.deal.update",
        json!({"id": deal, "fields": {"CATEGORY_ID": pipeline, "STAGE_ID": first}}),
    )
    .await;
    let moved = host.deal(deal).await;
    assert_eq!(
        (&moved["CATEGORY_ID"], &moved["STAGE_ID"]),
        (&json!(pipeline.to_string()), &json!(first))
    );
    assert_eq!(moved["IS_NEW"], "Y", "the first stage of the new pipeline");
    let waiting_id = waiting["id"].as_str().unwrap();
    let cancelled = host
        .runs(deal)
        .await
        .into_iter()
        .find(|r| r["robot_id"] == waiting_id)
        .expect("the old stage's robot was scheduled");
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    assert_eq!(host.finished_run(deal, &greeting).await["status"], "succeeded");
    assert_eq!(host.comments(deal).await, ["In Repeat Sales"]);
    host.advance_clock(3_600_000).await;
    host.move_deal(deal, &format!("C{pipeline}:WON")).await;

    let (status, history) = host
        .rest(
            "crm.stagehistory.list",
            json!({"entityTypeId": 2, "filter": {"OWNER_ID": deal}, "order": {"ID": "ASC"}}),
        )
        .await;
    assert_eq!(status, 200, "{history}");
    assert_eq!(history["total"], 4, "{history}");
    let items = history["result"]["items"].as_array().unwrap();
    let steps: Vec<(i64, i64, &str, &str)> = items
        .iter()
        .map(|e| {
            (
                e["TYPE_ID"].as_i64().unwrap(),
                e["CATEGORY_ID"].as_i64().unwrap(),
                e["STAGE_ID"].as_str().unwrap(),
                e["STAGE_SEMANTIC_ID"].as_str().unwrap(),
            )
        })
        .collect();
    let won = format!("C{pipeline}:WON");
    assert_eq!(
        steps,
        [
            (1, 0, "NEW", "P"),
            (2, 0, "PREPARATION", "P"),
            (5, pipeline, first.as_str(), "P"),
            (3, pipeline, won.as_str(), "S"),
        ]
    );
    assert!(items.iter().all(|e| e["OWNER_ID"] == deal));
    let times: Vec<&str> = items.iter().map(|e| e["CREATED_TIME"].as_str().unwrap()).collect();
    let mut sorted = times.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, times, "one hour between the steps: {times:?}");
    let created = chrono::DateTime::parse_from_rfc3339(times[0])
        .unwrap()
        .timestamp_millis();
    assert_eq!(created / 1000, start / 1000, "created at the clock's time");

    let (_, finals) = host
        .rest(
            "crm.stagehistory.list",
            json!({"entityTypeId": 2, "filter": {"TYPE_ID": 3}, "select": ["OWNER_ID", "STAGE_ID"]}),
        )
        .await;
    let finals = &finals["result"]["items"];
    assert_eq!(finals.as_array().unwrap().len(), 1, "{finals}");
    let keys: Vec<&String> = finals[0].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["ID", "OWNER_ID", "STAGE_ID"], "select narrows the fields");
    let (_, later) = host
        .rest(
            "crm.stagehistory.list",
            json!({"entityTypeId": 2, "filter": {">=CREATED_TIME": times[2]}, "order": {"ID": "DESC"}}),
        )
        .await;
    let later: Vec<&str> = later["result"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["STAGE_ID"].as_str().unwrap())
        .collect();
    assert_eq!(later, [won.as_str(), first.as_str()]);

    let lead = add(&host, "lead", json!({"TITLE": "A lead"})).await;
    host.ok(
        "crm.lead.update",
        json!({"id": lead, "fields": {"STATUS_ID": "IN_PROCESS"}}),
    )
    .await;
    let (_, leads) = host
        .rest(
            "crm.stagehistory.list",
            json!({"entityTypeId": 1, "filter": {"OWNER_ID": lead}}),
        )
        .await;
    let leads = leads["result"]["items"].as_array().unwrap();
    let statuses: Vec<(&Value, &Value)> = leads.iter().map(|e| (&e["TYPE_ID"], &e["STATUS_ID"])).collect();
    assert_eq!(
        statuses,
        [(&json!(1), &json!("NEW")), (&json!(2), &json!("IN_PROCESS"))]
    );
    assert!(
        leads[0].get("CATEGORY_ID").is_none() && leads[0]["STATUS_SEMANTIC_ID"] == "P",
        "{leads:?}"
    );

    for (params, why) in [
        (json!({"entityTypeId": 3}), "contacts have no stages"),
        (
            json!({"entityTypeId": 2, "filter": {"NOPE": 1}}),
            "an unknown filter field",
        ),
        (json!({"entityTypeId": 2, "order": {"ID": "UP"}}), "a wrong direction"),
        (
            json!({"entityTypeId": 2, "filter": {">CREATED_TIME": "yesterday"}}),
            "not a time",
        ),
    ] {
        let (status, refused) = host.rest("crm.stagehistory.list", params).await;
        assert_eq!(status, 400, "{why}: {refused}");
        assert!(refused["error_description"].is_string(), "{why}: {refused}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stage_history_shows_only_items_the_callers_role_may_read() {
    let host = manual_host().await;
    let seller = host.add_user("sven").await;
    let other = host.add_user("tove").await;
    let own = host.add_deal("Admin's").await;
    let mine = add(&host, "deal", json!({"TITLE": "Sven's", "ASSIGNED_BY_ID": seller})).await;
    let theirs = add(&host, "deal", json!({"TITLE": "Tove's", "ASSIGNED_BY_ID": other})).await;
    for deal in [own, mine, theirs] {
        host.move_deal(deal, "PREPARATION").await;
    }
    let (status, role) = host
        .admin(
            Method::POST,
            "/api/v1/roles",
            Some(json!({"name": "Own deals", "permissions": {"deal": {"read": "own"}}})),
        )
        .await;
    assert_eq!(status, 201, "{role}");
    let (status, _) = host
        .admin(
            Method::PUT,
            &format!("/api/v1/users/{seller}/roles"),
            Some(json!({"role_ids": [role["id"]]})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, hook) = host
        .admin(Method::POST, "/api/v1/webhooks", Some(json!({"user_id": seller})))
        .await;
    let webhook = hook["path"].as_str().unwrap();
    let (status, seen) = host
        .rest_via(webhook, "crm.stagehistory.list", json!({"entityTypeId": 2}))
        .await;
    assert_eq!(status, 200, "{seen}");
    let owners: Vec<&Value> = seen["result"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["OWNER_ID"])
        .collect();
    assert_eq!(
        owners,
        [&json!(mine), &json!(mine)],
        "only Sven's deal, created and moved"
    );
    let (status, refused) = host
        .rest_via(webhook, "crm.stagehistory.list", json!({"entityTypeId": 1}))
        .await;
    assert_eq!(status, 403, "no lead permission at all: {refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn robots_make_a_repeat_lead_from_a_won_deal_and_move_a_lost_deal_to_another_pipeline() {
    let host = manual_host().await;
    let (pipeline, stages) = add_pipeline(&host, "Reactivation").await;
    let lead_robot = host
        .add_robot(
            "WON",
            "create-repeat-lead",
            json!({"title": "Next order of {=Document:TITLE}"}),
        )
        .await;
    let mover = host
        .add_robot("LOSE", "change-pipeline", json!({"category_id": pipeline}))
        .await;
    let greeting = host
        .add_robot(&stages[0], "add-comment", json!({"text": "Back for another try"}))
        .await;
    let seller = host.add_user("ines").await;
    let contact = add(&host, "contact", json!({"NAME": "Jonas"})).await;

    let won = add(
        &host,
        "deal",
        json!({"TITLE": "Espresso machine", "CONTACT_ID": contact, "ASSIGNED_BY_ID": seller}),
    )
    .await;
    host.move_deal(won, "WON").await;
    let run = host.finished_run(won, &lead_robot).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let lead_id = run["return_values"]["lead_id"].as_i64().expect("the new lead's id");
    let lead = host.ok("crm.lead.get", json!({"id": lead_id})).await;
    assert_eq!(lead["TITLE"], "Next order of Espresso machine");
    assert_eq!(lead["CONTACT_ID"], contact.to_string());
    assert_eq!(lead["ASSIGNED_BY_ID"], seller.to_string(), "the deal's responsible");
    assert_eq!(lead["SOURCE_ID"], "REPEAT_SALE");
    assert_eq!(
        lead["IS_RETURN_CUSTOMER"], "Y",
        "a lead for an existing client is a repeat lead"
    );
    assert_eq!(lead["STATUS_ID"], "NEW");

    let nobody = host.add_deal("Walk-in").await;
    host.move_deal(nobody, "WON").await;
    let failed = host.finished_run(nobody, &lead_robot).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(
        failed["error"].as_str().unwrap().contains("no contact or company"),
        "{failed}"
    );

    let lost = add(&host, "deal", json!({"TITLE": "Too pricey", "CONTACT_ID": contact})).await;
    host.move_deal(lost, "LOSE").await;
    let moved = host.finished_run(lost, &mover).await;
    assert_eq!(moved["status"], "succeeded", "{moved}");
    assert_eq!(moved["return_values"]["previous_category_id"], 0);
    assert_eq!(moved["return_values"]["previous_stage_id"], "LOSE");
    let deal = host.deal(lost).await;
    assert_eq!(
        (&deal["CATEGORY_ID"], &deal["STAGE_ID"]),
        (&json!(pipeline.to_string()), &json!(stages[0])),
        "the first stage of the other pipeline"
    );
    assert_eq!(host.finished_run(lost, &greeting).await["status"], "succeeded");
    assert_eq!(host.comments(lost).await, ["Back for another try"]);
    let (_, history) = host
        .rest(
            "crm.stagehistory.list",
            json!({"entityTypeId": 2, "filter": {"OWNER_ID": lost}, "select": ["TYPE_ID"]}),
        )
        .await;
    let kinds: Vec<&Value> = history["result"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["TYPE_ID"])
        .collect();
    assert_eq!(
        kinds,
        [&json!(1), &json!(3), &json!(5)],
        "created, lost, moved to the other pipeline"
    );

    let (status, refused) = host
        .admin(
            Method::POST,
            "/api/v1/robots",
            Some(json!({"entity_type": "deal", "stage_id": "NEW", "plugin_id": "change-pipeline", "config": {}})),
        )
        .await;
    assert_eq!(status, 400, "a pipeline is required: {refused}");
}

fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pipeline_report_counts_what_happened_in_the_period() {
    let host = manual_host().await;
    let start = host.advance_clock(0).await;
    let (anna, bert) = (host.add_user("anna").await, host.add_user("bert").await);
    let contact = add(&host, "contact", json!({"NAME": "Carla"})).await;
    let deal = |title: &str, responsible: i64, client: Option<i64>| json!({"TITLE": title, "ASSIGNED_BY_ID": responsible, "CONTACT_ID": client});
    let first = add(&host, "deal", deal("First", anna, Some(contact))).await;
    host.move_deal(first, "WON").await;
    let lost = add(&host, "deal", deal("Lost", anna, None)).await;
    host.move_deal(lost, "LOSE").await;
    let repeat = add(&host, "deal", deal("Repeat", bert, Some(contact))).await;
    host.move_deal(repeat, "PREPARATION").await;
    host.move_deal(repeat, "NEW").await;
    host.move_deal(repeat, "WON").await;
    add(&host, "deal", deal("Still new", bert, None)).await;
    let end = host.advance_clock(86_400_000).await;
    add(&host, "deal", deal("After the period", bert, None)).await;

    let path = format!(
        "/api/v1/reports/pipeline?entity_type=deal&category_id=0&from={}&to={}",
        iso(start),
        iso(end)
    );
    let (status, report) = host.admin(Method::GET, &path, None).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["created"], 4, "{report}");
    assert_eq!((&report["won"], &report["lost"]), (&json!(2), &json!(1)));
    assert!((report["conversion"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-9);
    let stage = |id: &str| {
        let line = report["stages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["stage_id"] == id)
            .unwrap();
        (line["entered"].as_i64().unwrap(), line["now"].as_i64().unwrap())
    };
    assert_eq!(stage("NEW"), (4, 2), "the repeat deal came back to NEW: counted once");
    assert_eq!(stage("PREPARATION"), (1, 0));
    assert_eq!(stage("WON"), (2, 2));
    assert_eq!(stage("LOSE"), (1, 1));
    assert_eq!(
        report["by_responsible"],
        json!([
            {"user_id": anna, "won": 1, "lost": 1, "conversion": 0.5},
            {"user_id": bert, "won": 1, "lost": 0, "conversion": 1.0},
        ])
    );
    assert_eq!(
        (&report["repeat_deals"], &report["repeat_share"]),
        (&json!(1), &json!(0.25))
    );

    for (query, code) in [
        (
            format!("entity_type=deal&from={}&to={}", iso(end), iso(start)),
            "INVALID_ARG_VALUE",
        ),
        (
            format!("entity_type=deal&category_id=42&from={}&to={}", iso(start), iso(end)),
            "NOT_FOUND",
        ),
        (
            format!("entity_type=deal&from=yesterday&to={}", iso(end)),
            "INVALID_ARG_VALUE",
        ),
        (
            format!("entity_type=deal&from={}&to={}&pipeline=1", iso(start), iso(end)),
            "INVALID_ARG_VALUE",
        ),
        (
            format!("entity_type=contact&from={}&to={}", iso(start), iso(end)),
            "NOT_FOUND",
        ),
    ] {
        let (status, refused) = host
            .admin(Method::GET, &format!("/api/v1/reports/pipeline?{query}"), None)
            .await;
        assert_eq!(
            (status, refused["error"].as_str()),
            (400, Some(code)),
            "{query}: {refused}"
        );
        assert!(refused["error_description"].is_string(), "{refused}");
    }
}
