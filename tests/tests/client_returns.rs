//! Client returns in the seeds' words, on the manual clock: repeat deals some days after a win
//! (seed 000) and lost deals that come back by loss reason, copied or transferred, a limited
//! number of times (seed 002).

use reqwest::Method;
use serde_json::{Value, json};
use stagewright_tests::TestHost;

const DAY: i64 = 86_400_000;

async fn manual_host() -> TestHost {
    TestHost::start_with(|s| s.manual_clock = true).await
}

async fn add(host: &TestHost, entity: &str, fields: Value) -> i64 {
    let id = host.ok(&format!("crm.{entity}.add"), json!({"fields": fields})).await;
    id.as_i64().unwrap_or_else(|| panic!("{entity} id, not {id}"))
}

async fn add_rule(host: &TestHost, rule: Value) -> i64 {
    let (status, added) = host.admin(Method::POST, "/api/v1/return-rules", Some(rule)).await;
    assert_eq!(status, 201, "{added}");
    added["id"].as_i64().unwrap()
}

/// A new deal pipeline: its id and its first stage.
async fn add_pipeline(host: &TestHost, name: &str) -> (i64, String) {
    let added = host
        .ok("crm.category.add", json!({"entityTypeId": 2, "fields": {"name": name}}))
        .await;
    let id = added["category"]["id"].as_i64().unwrap();
    (id, format!("C{id}:NEW"))
}

async fn inbox(host: &TestHost, hook: &str) -> Vec<String> {
    let (_, got) = host.rest_via(hook, "im.notify.get", json!({})).await;
    got["result"]["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["text"].as_str().unwrap().to_string())
        .collect()
}

async fn returns_of(host: &TestHost, deal: i64) -> Vec<Value> {
    let path = format!("/api/v1/returns?entity_type=deal&item_id={deal}");
    let (status, body) = host.admin(Method::GET, &path, None).await;
    assert_eq!(status, 200, "{body}");
    body["returns"].as_array().unwrap().clone()
}

/// The deals of a pipeline, oldest first.
async fn deals_in(host: &TestHost, category: i64) -> Vec<Value> {
    let listed = host
        .ok(
            "crm.deal.list",
            json!({"filter": {"CATEGORY_ID": category}, "order": {"ID": "ASC"}, "select": ["*"]}),
        )
        .await;
    listed.as_array().unwrap().clone()
}

/// Moves the clock and waits (up to 30 s) until the workers have carried out every return that
/// became due.
async fn advance(host: &TestHost, ms: i64) {
    let now = host.advance_clock(ms).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (_, body) = host.admin(Method::GET, "/api/v1/returns", None).await;
        let waiting = body["returns"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["status"] == "pending" && r["due_at"].as_i64().unwrap() <= now);
        if !waiting {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "returns due by {now} were not carried out: {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_won_deal_brings_a_repeat_deal_in_repeat_sales_after_x_days_with_that_pipelines_robots() {
    let host = manual_host().await;
    let (pipeline, first) = add_pipeline(&host, "Repeat Sales").await;
    let task = host
        .add_robot(&first, "create-task", json!({"title": "Offer {=Document:TITLE}"}))
        .await;
    let (seller, seller_hook) = host.add_employee("sara", 1).await;
    add_rule(
        &host,
        json!({"kind": "repeat_deal", "entity_type": "deal", "stage_id": "WON", "after_days": 30,
               "category_id": pipeline, "title": "Repeat: {=Document:TITLE}", "notify_manager": true,
               "postpone_on_loss_days": 10}),
    )
    .await;
    let contact = add(&host, "contact", json!({"NAME": "Pia"})).await;
    let won = add(
        &host,
        "deal",
        json!({"TITLE": "Coffee beans", "CONTACT_ID": contact, "ASSIGNED_BY_ID": seller, "OPPORTUNITY": 120}),
    )
    .await;
    host.move_deal(won, "WON").await;
    let pending = returns_of(&host, won).await;
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0]["status"], "pending");

    advance(&host, 29 * DAY).await;
    assert!(deals_in(&host, pipeline).await.is_empty(), "not before 30 days");
    advance(&host, DAY).await;
    let repeat = deals_in(&host, pipeline).await;
    assert_eq!(repeat.len(), 1, "{repeat:?}");
    let repeat = &repeat[0];
    assert_eq!(repeat["TITLE"], "Repeat: Coffee beans");
    assert_eq!(repeat["STAGE_ID"], first);
    assert_eq!(repeat["SOURCE_ID"], "REPEAT_SALE");
    assert_eq!(repeat["ORIGIN_ID"], won.to_string(), "linked to its parent");
    assert_eq!(repeat["CONTACT_ID"], contact.to_string());
    assert_eq!(repeat["ASSIGNED_BY_ID"], seller.to_string(), "the same responsible");
    assert_eq!(repeat["IS_RETURN_CUSTOMER"], "Y", "the client has a won deal");
    let repeat_id: i64 = repeat["ID"].as_str().unwrap().parse().unwrap();
    let done = &returns_of(&host, won).await[0];
    assert_eq!(
        (&done["status"], &done["result_id"]),
        (&json!("done"), &json!(repeat_id))
    );
    assert_eq!(host.finished_run(repeat_id, &task).await["status"], "succeeded");
    let tasks = host.ok("tasks.task.list", json!({})).await["tasks"].clone();
    assert_eq!(tasks[0]["title"], "Offer Repeat: Coffee beans", "{tasks}");
    assert_eq!(
        inbox(&host, &seller_hook).await,
        [format!(
            "A repeat deal for the client of deal {won} \"Coffee beans\" is deal {repeat_id}."
        )]
    );

    let again = add(&host, "deal", json!({"TITLE": "Second bag", "CONTACT_ID": contact})).await;
    host.move_deal(again, "WON").await;
    let due = returns_of(&host, again).await[0]["due_at"].as_i64().unwrap();
    let other = add(&host, "deal", json!({"TITLE": "Grinder", "CONTACT_ID": contact})).await;
    host.move_deal(other, "LOSE").await;
    let postponed = returns_of(&host, again).await[0]["due_at"].as_i64().unwrap();
    assert_eq!(
        postponed - due,
        10 * DAY,
        "a loss postpones the client's next repeat deal"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_deals_come_back_by_loss_reason_as_copies_and_a_transfer_moves_the_deal_itself() {
    let host = manual_host().await;
    host.ok(
        "crm.status.add",
        json!({"fields": {"ENTITY_ID": "DEAL_STAGE", "STATUS_ID": "PRICE", "NAME": "Too expensive", "SORT": 75, "SEMANTICS": "F"}}),
    )
    .await;
    let (pipeline, first) = add_pipeline(&host, "Reactivation").await;
    let policy = |stage: &str, days: i64, mode: &str| {
        json!({"kind": "reactivation", "entity_type": "deal", "stage_id": stage, "after_days": days,
               "mode": mode, "category_id": pipeline})
    };
    add_rule(&host, policy("PRICE", 30, "copy")).await;
    add_rule(&host, policy("LOSE", 14, "copy")).await;
    add_rule(&host, policy("APOLOGY", 7, "transfer")).await;
    let price = add(&host, "deal", json!({"TITLE": "Lost for price"})).await;
    let delivery = add(&host, "deal", json!({"TITLE": "Lost for delivery"})).await;
    let moved = add(&host, "deal", json!({"TITLE": "Comes back itself"})).await;
    host.move_deal(price, "PRICE").await;
    host.move_deal(delivery, "LOSE").await;
    host.move_deal(moved, "APOLOGY").await;
    let reopened = add(&host, "deal", json!({"TITLE": "Reopened by hand"})).await;
    host.move_deal(reopened, "LOSE").await;
    host.move_deal(reopened, "EXECUTING").await;

    let titles =
        |deals: Vec<Value>| -> Vec<String> { deals.iter().map(|d| d["TITLE"].as_str().unwrap().to_string()).collect() };
    advance(&host, 7 * DAY).await;
    assert_eq!(titles(deals_in(&host, pipeline).await), ["Comes back itself"]);
    let transferred = host.deal(moved).await;
    assert_eq!(
        (&transferred["CATEGORY_ID"], &transferred["STAGE_ID"]),
        (&json!(pipeline.to_string()), &json!(first)),
        "the deal itself moved"
    );
    advance(&host, 7 * DAY).await;
    assert_eq!(
        titles(deals_in(&host, pipeline).await),
        ["Comes back itself", "Lost for delivery"]
    );
    assert_eq!(
        host.deal(delivery).await["STAGE_ID"],
        "LOSE",
        "a copy leaves the lost deal as it was"
    );
    advance(&host, 15 * DAY).await;
    assert_eq!(
        titles(deals_in(&host, pipeline).await).len(),
        2,
        "price returns after a month"
    );
    advance(&host, DAY).await;
    let back = deals_in(&host, pipeline).await;
    assert_eq!(
        titles(back.clone()),
        ["Comes back itself", "Lost for delivery", "Lost for price"]
    );
    assert_eq!(back[2]["ORIGIN_ID"], price.to_string());
    let dropped = &returns_of(&host, reopened).await[0];
    assert_eq!(
        (&dropped["status"], &dropped["reason"]),
        (&json!("cancelled"), &json!("the item left the stage")),
        "reopened by hand before the return"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_third_loss_with_a_limit_of_two_does_not_return_and_the_head_of_department_is_told() {
    let host = manual_host().await;
    let (sales, (_, boss_hook)) = host.add_sales_department("bo").await;
    let (seller, seller_hook) = host.add_employee("sam", sales).await;
    add_rule(
        &host,
        json!({"kind": "reactivation", "entity_type": "deal", "stage_id": "LOSE", "after_days": 1,
               "max_count": 2, "notify_manager": true, "notify_supervisor": true}),
    )
    .await;
    let mut deal = add(&host, "deal", json!({"TITLE": "Fickle", "ASSIGNED_BY_ID": seller})).await;
    let mut chain = vec![deal];
    for _ in 0..3 {
        host.move_deal(deal, "LOSE").await;
        advance(&host, DAY).await;
        let listed = host
            .ok(
                "crm.deal.list",
                json!({"filter": {"ORIGIN_ID": deal.to_string()}, "select": ["ID"]}),
            )
            .await;
        match listed.as_array().unwrap().first() {
            Some(copy) => {
                deal = copy["ID"].as_str().unwrap().parse().unwrap();
                chain.push(deal);
            }
            None => break,
        }
    }
    assert_eq!(chain.len(), 3, "two returns, then none: {chain:?}");
    let last = &returns_of(&host, chain[2]).await[0];
    assert_eq!(last["status"], "skipped", "{last}");
    assert!(last["reason"].as_str().unwrap().contains("2 times"), "{last}");
    assert_eq!(host.deal(chain[2]).await["STAGE_ID"], "LOSE");
    let told = format!("deal {} \"Fickle\" is back in work as deal {}.", chain[0], chain[1]);
    assert!(inbox(&host, &seller_hook).await.contains(&told), "the manager is told");
    assert!(
        inbox(&host, &boss_hook).await.contains(&told),
        "and the head of department"
    );
    assert_eq!(inbox(&host, &boss_hook).await.len(), 2, "once per return");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deal_returns_on_the_date_its_manager_set_to_the_head_of_department() {
    let host = manual_host().await;
    host.ok(
        "crm.deal.userfield.add",
        json!({"fields": {"FIELD_NAME": "RETURN_ON", "USER_TYPE_ID": "date", "LABEL": "Call back on"}}),
    )
    .await;
    let (sales, (boss, _)) = host.add_sales_department("bea").await;
    let (seller, _) = host.add_employee("sid", sales).await;
    add_rule(
        &host,
        json!({"kind": "reactivation", "entity_type": "deal", "stage_id": "LOSE", "date_field": "UF_CRM_RETURN_ON",
               "mode": "transfer", "target_stage_id": "PREPARATION", "responsible": {"kind": "head"}}),
    )
    .await;
    let now = host.advance_clock(0).await;
    let on = chrono::DateTime::from_timestamp_millis(now + 3 * DAY)
        .unwrap()
        .format("%Y-%m-%d")
        .to_string();
    let deal = add(
        &host,
        "deal",
        json!({"TITLE": "Call in spring", "ASSIGNED_BY_ID": seller, "UF_CRM_RETURN_ON": on}),
    )
    .await;
    let without = add(&host, "deal", json!({"TITLE": "No date", "ASSIGNED_BY_ID": seller})).await;
    host.move_deal(deal, "LOSE").await;
    host.move_deal(without, "LOSE").await;
    assert!(returns_of(&host, without).await.is_empty(), "no date, no return");
    advance(&host, 2 * DAY).await;
    assert_eq!(host.deal(deal).await["STAGE_ID"], "LOSE");
    advance(&host, 2 * DAY).await;
    let back = host.deal(deal).await;
    assert_eq!(back["STAGE_ID"], "PREPARATION", "{back}");
    assert_eq!(
        back["ASSIGNED_BY_ID"],
        boss.to_string(),
        "given to the head of department"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_that_cannot_work_is_refused_and_nothing_is_saved() {
    let host = manual_host().await;
    let base = json!({"kind": "reactivation", "entity_type": "deal", "stage_id": "LOSE", "after_days": 7});
    let with = |changes: Value| {
        let mut rule = base.clone();
        for (key, value) in changes.as_object().unwrap() {
            rule[key] = value.clone();
        }
        rule
    };
    for (rule, why) in [
        (with(json!({"stage_id": "WON"})), "a reactivation on a success stage"),
        (with(json!({"kind": "repeat_deal"})), "a repeat deal on a failure stage"),
        (
            with(json!({"kind": "repeat_deal", "stage_id": "WON", "mode": "transfer"})),
            "a repeat deal moved",
        ),
        (with(json!({"stage_id": "NOPE"})), "an unknown stage"),
        (with(json!({"date_field": "TITLE"})), "both a delay and a date"),
        (
            with(json!({"after_days": null, "date_field": "TITLE"})),
            "a field that is no date",
        ),
        (with(json!({"target_stage_id": "WON"})), "back into a closed stage"),
        (with(json!({"category_id": 99})), "an unknown pipeline"),
        (with(json!({"entity_type": "contact"})), "contacts have no stages"),
        (
            with(json!({"responsible": {"kind": "distribution", "users": []}})),
            "nobody to distribute to",
        ),
        (with(json!({"title": "{=Now}"})), "a title template that is not a field"),
        (with(json!({"colour": "red"})), "an unknown field"),
    ] {
        let (status, refused) = host.admin(Method::POST, "/api/v1/return-rules", Some(rule)).await;
        assert_eq!(status, 400, "{why}: {refused}");
        assert!(refused["error_description"].is_string(), "{why}: {refused}");
    }
    let (_, listed) = host.admin(Method::GET, "/api/v1/return-rules", None).await;
    assert_eq!(listed, json!({"rules": []}));
    let id = add_rule(&host, base.clone()).await;
    let (_, listed) = host.admin(Method::GET, "/api/v1/return-rules", None).await;
    assert_eq!(listed["rules"][0]["id"], id);
    assert_eq!(listed["rules"][0]["responsible"], json!({"kind": "same"}));
    let deal = host.add_deal("Lost").await;
    host.move_deal(deal, "LOSE").await;
    let path = format!("/api/v1/return-rules/{id}");
    let due = returns_of(&host, deal).await[0]["due_at"].clone();
    let mut longer = base.clone();
    longer["max_count"] = json!(3);
    let (status, replaced) = host.admin(Method::PUT, &path, Some(longer)).await;
    assert_eq!((status, &replaced["max_count"]), (200, &json!(3)), "{replaced}");
    let pending = &returns_of(&host, deal).await[0];
    assert_eq!((&pending["status"], &pending["due_at"]), (&json!("pending"), &due));
    let (status, refused) = host
        .admin(Method::PUT, &path, Some(with(json!({"stage_id": "WON"}))))
        .await;
    assert_eq!(status, 400, "{refused}");
    let (_, listed) = host.admin(Method::GET, "/api/v1/return-rules", None).await;
    assert_eq!(listed["rules"][0]["max_count"], 3, "a refused change changes nothing");
    let (status, missing) = host
        .admin(Method::PUT, "/api/v1/return-rules/999", Some(base.clone()))
        .await;
    assert_eq!(status, 404, "{missing}");
    let (status, moved) = host
        .admin(Method::PUT, &path, Some(with(json!({"stage_id": "APOLOGY"}))))
        .await;
    assert_eq!(status, 200, "{moved}");
    let cancelled = &returns_of(&host, deal).await[0];
    assert_eq!(
        (&cancelled["status"], &cancelled["reason"]),
        (&json!("cancelled"), &json!("the rule moved to another stage"))
    );
    host.move_deal(deal, "NEW").await;
    host.move_deal(deal, "APOLOGY").await;
    let (status, _) = host.admin(Method::DELETE, &path, None).await;
    assert_eq!(status, 204);
    let left: Vec<Value> = returns_of(&host, deal)
        .await
        .into_iter()
        .map(|r| r["status"].clone())
        .collect();
    assert_eq!(left, [json!("cancelled")], "its pending return went with it");
    let (status, _) = host
        .admin(Method::DELETE, &format!("/api/v1/return-rules/{id}"), None)
        .await;
    assert_eq!(status, 404);
}
