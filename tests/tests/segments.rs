//! Repeat-sales segments on the manual clock: once a day the host makes one deal for each client
//! in a segment (a win about a month or a year ago, a last deal lost a year ago, a year without
//! activity), never twice, and none for a client with an open deal.

use reqwest::Method;
use serde_json::{Value, json};
use stagewright_tests::TestHost;

const DAY: i64 = 86_400_000;

async fn add(host: &TestHost, entity: &str, fields: Value) -> i64 {
    let id = host.ok(&format!("crm.{entity}.add"), json!({"fields": fields})).await;
    id.as_i64().unwrap_or_else(|| panic!("{entity} id, not {id}"))
}

/// A deal for a client, moved to `stage`.
async fn closed_deal(host: &TestHost, title: &str, client: Value, stage: &str) -> i64 {
    let mut fields = json!({"TITLE": title});
    fields
        .as_object_mut()
        .unwrap()
        .extend(client.as_object().unwrap().clone());
    let deal = add(host, "deal", fields).await;
    host.move_deal(deal, stage).await;
    deal
}

async fn add_segment(host: &TestHost, segment: Value) -> i64 {
    let (status, added) = host
        .admin(Method::POST, "/api/v1/repeat-sales/segments", Some(segment))
        .await;
    assert_eq!(status, 201, "{added}");
    added["id"].as_i64().unwrap()
}

/// A "Repeat sales" pipeline for the segments' deals.
async fn repeat_pipeline(host: &TestHost) -> i64 {
    let added = host
        .ok(
            "crm.category.add",
            json!({"entityTypeId": 2, "fields": {"name": "Repeat sales"}}),
        )
        .await;
    added["category"]["id"].as_i64().unwrap()
}

/// The segment deals: (title, CONTACT_ID, COMPANY_ID), by title.
async fn segment_deals(host: &TestHost, pipeline: i64) -> Vec<(String, String, String)> {
    let listed = host
        .ok(
            "crm.deal.list",
            json!({"filter": {"CATEGORY_ID": pipeline}, "order": {"TITLE": "ASC"}, "select": ["*"]}),
        )
        .await;
    listed
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            assert_eq!(d["SOURCE_ID"], "REPEAT_SALE", "{d}");
            let text = |name: &str| d[name].as_str().unwrap_or_default().to_string();
            (text("TITLE"), text("CONTACT_ID"), text("COMPANY_ID"))
        })
        .collect()
}

/// Moves the clock and waits (up to 30 s) for that day's run of the segments to finish; answers
/// how many deals it made.
async fn next_day_run(host: &TestHost, ms: i64) -> i64 {
    let now = host.advance_clock(ms).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (status, body) = host.admin(Method::GET, "/api/v1/repeat-sales/segment-runs", None).await;
        assert_eq!(status, 200, "{body}");
        let newest = &body["runs"][0];
        if newest["day"] == json!(now.div_euclid(DAY)) && !newest["finished_at"].is_null() {
            return newest["deals_created"].as_i64().unwrap();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the run of day {} did not finish: {body}",
            now.div_euclid(DAY)
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_make_one_deal_per_client_and_period_and_none_for_a_client_with_an_open_deal() {
    let host = TestHost::start_with(|s| s.manual_clock = true).await;
    let pipeline = repeat_pipeline(&host).await;
    let (seller, seller_hook) = host.add_employee("sara", 1).await;
    let segment =
        |name: &str, kind: &str, days: i64| json!({"name": name, "kind": kind, "days": days, "category_id": pipeline});
    let mut month = segment("Bought a month ago", "won_ago", 30);
    month["notify_manager"] = json!(true);
    add_segment(&host, month).await;
    let mut year = segment("Bought a year ago", "won_ago", 365);
    year["window_days"] = json!(14);
    add_segment(&host, year).await;
    add_segment(&host, segment("Lost a year ago", "lost_ago", 365)).await;
    add_segment(&host, segment("Quiet for a year", "inactive", 365)).await;

    let ann = add(&host, "contact", json!({"NAME": "Ann"})).await;
    let acme = add(&host, "company", json!({"TITLE": "Acme"})).await;
    let bob = add(&host, "contact", json!({"NAME": "Bob"})).await;
    let cid = add(&host, "contact", json!({"NAME": "Cid"})).await;
    let dee = add(&host, "contact", json!({"NAME": "Dee"})).await;
    let eve = add(&host, "contact", json!({"NAME": "Eve"})).await;
    let ann_deal = add(
        &host,
        "deal",
        json!({"TITLE": "Ann's beans", "CONTACT_ID": ann, "ASSIGNED_BY_ID": seller}),
    )
    .await;
    host.move_deal(ann_deal, "WON").await;
    closed_deal(
        &host,
        "Acme's grinder",
        json!({"COMPANY_ID": acme, "CONTACT_ID": bob}),
        "WON",
    )
    .await;
    closed_deal(&host, "Cid's kettle", json!({"CONTACT_ID": cid}), "WON").await;
    add(&host, "deal", json!({"TITLE": "Cid's open deal", "CONTACT_ID": cid})).await;
    closed_deal(&host, "Dee's filters", json!({"CONTACT_ID": dee}), "LOSE").await;
    closed_deal(&host, "Eve's mugs", json!({"CONTACT_ID": eve}), "WON").await;
    closed_deal(&host, "Eve's cups", json!({"CONTACT_ID": eve}), "LOSE").await;

    assert_eq!(next_day_run(&host, 30 * DAY).await, 2);
    let (ann, acme, dee, eve) = (ann.to_string(), acme.to_string(), dee.to_string(), eve.to_string());
    let bob = bob.to_string();
    let month_deals = segment_deals(&host, pipeline).await;
    assert_eq!(
        month_deals,
        [
            (
                "Bought a month ago: Acme's grinder".to_string(),
                bob.clone(),
                acme.clone()
            ),
            (
                "Bought a month ago: Ann's beans".to_string(),
                ann.clone(),
                String::new()
            ),
        ],
        "a company's deal is the company's; Cid has an open deal; Eve's last deal was lost"
    );
    let (_, inbox) = host.rest_via(&seller_hook, "im.notify.get", json!({})).await;
    let told = inbox["result"]["notifications"][0]["text"].as_str().unwrap();
    assert!(
        told.starts_with(&format!(
            "A repeat sale for the client of deal {ann_deal} \"Ann's beans\""
        )),
        "{told}"
    );

    let acme_deal = host
        .ok(
            "crm.deal.list",
            json!({"filter": {"CATEGORY_ID": pipeline, "COMPANY_ID": acme}}),
        )
        .await[0]["ID"]
        .clone();
    host.ok("crm.deal.delete", json!({"id": acme_deal})).await;
    assert_eq!(
        next_day_run(&host, DAY).await,
        0,
        "Acme's win is still in the window and it has no open deal, but it had its deal"
    );

    assert_eq!(next_day_run(&host, 335 * DAY).await, 3);
    let titles: Vec<String> = segment_deals(&host, pipeline)
        .await
        .into_iter()
        .map(|(title, _, _)| title)
        .collect();
    assert_eq!(
        titles,
        [
            "Bought a month ago: Ann's beans",
            "Bought a year ago: Acme's grinder",
            "Lost a year ago: Dee's filters",
            "Lost a year ago: Eve's cups",
        ],
        "one deal a client: Dee and Eve are quiet too, but got theirs from the segment before"
    );
    let _ = (dee, eve);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_quiet_for_a_year_gets_a_deal_and_an_activity_or_a_change_keeps_one_out() {
    let host = TestHost::start_with(|s| s.manual_clock = true).await;
    let pipeline = repeat_pipeline(&host).await;
    add_segment(
        &host,
        json!({"name": "Quiet", "kind": "inactive", "days": 365, "category_id": pipeline,
               "title": "Call again about {=Document:TITLE}"}),
    )
    .await;
    let hal = add(&host, "contact", json!({"NAME": "Hal"})).await;
    let jo = add(&host, "contact", json!({"NAME": "Jo"})).await;
    let kim = add(&host, "contact", json!({"NAME": "Kim"})).await;
    closed_deal(&host, "Hal's order", json!({"CONTACT_ID": hal}), "WON").await;
    let jo_deal = closed_deal(&host, "Jo's order", json!({"CONTACT_ID": jo}), "WON").await;
    let kim_deal = closed_deal(&host, "Kim's order", json!({"CONTACT_ID": kim}), "LOSE").await;

    assert_eq!(next_day_run(&host, 200 * DAY).await, 0);
    host.ok(
        "crm.activity.add",
        json!({"fields": {"OWNER_TYPE_ID": 2, "OWNER_ID": jo_deal, "TYPE_ID": 2, "SUBJECT": "Call Jo",
                          "RESPONSIBLE_ID": 1}}),
    )
    .await;
    host.ok(
        "crm.deal.update",
        json!({"id": kim_deal, "fields": {"COMMENTS": "Asked for a catalogue"}}),
    )
    .await;
    assert_eq!(next_day_run(&host, 166 * DAY).await, 1);
    assert_eq!(
        segment_deals(&host, pipeline).await,
        [(
            "Call again about Hal's order".to_string(),
            hal.to_string(),
            String::new()
        )]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_segment_that_cannot_work_is_refused_and_nothing_is_saved() {
    let host = TestHost::start().await;
    for (segment, error) in [
        (
            json!({"name": "Lost", "kind": "lost_ago", "days": 365, "window_days": 3}),
            "window_days is for won_ago segments",
        ),
        (
            json!({"name": "Year", "kind": "won_ago", "days": 365, "category_id": 999}),
            "999",
        ),
        (
            json!({"name": "Year", "kind": "won_ago", "days": 365, "category_id": 0, "target_stage_id": "WON"}),
            "stage WON is closed",
        ),
        (
            json!({"name": "Now", "kind": "inactive", "days": 0}),
            "days must be at least 1",
        ),
        (
            json!({"name": "Typo", "kind": "won_ago", "days": 30, "dayz": 1}),
            "dayz",
        ),
    ] {
        let (status, body) = host
            .admin(Method::POST, "/api/v1/repeat-sales/segments", Some(segment))
            .await;
        assert_eq!(status, 400, "{body}");
        assert!(body.to_string().contains(error), "{error} in {body}");
    }
    let (_, listed) = host.admin(Method::GET, "/api/v1/repeat-sales/segments", None).await;
    assert_eq!(listed["segments"], json!([]));

    let added = add_segment(&host, json!({"name": "Month", "kind": "won_ago", "days": 30})).await;
    let path = format!("/api/v1/repeat-sales/segments/{added}");
    let (status, turned_off) = host
        .admin(
            Method::PUT,
            &path,
            Some(json!({"name": "Month", "kind": "won_ago", "days": 30, "enabled": false})),
        )
        .await;
    assert_eq!(status, 200, "{turned_off}");
    let (_, listed) = host.admin(Method::GET, "/api/v1/repeat-sales/segments", None).await;
    assert_eq!(listed["segments"][0]["enabled"], false);
    assert_eq!(listed["segments"][0]["window_days"], Value::Null);
    let (status, _) = host.admin(Method::DELETE, &path, None).await;
    assert_eq!(status, 204);
    let (status, _) = host.admin(Method::DELETE, &path, None).await;
    assert_eq!(status, 404);
}
