//! Configuration as a file, as a team keeping its automation in git uses it: export a server's
//! pipelines, stages, custom fields, smart processes, plugins, robots, triggers and settings;
//! import them into a fresh server, where they work; import again and nothing changes; a refused
//! file or a dry run changes nothing.

use reqwest::Method;
use serde_json::{Value, json};
use stagewright_tests::{TestHost, test_plugin};

async fn export(host: &TestHost) -> Value {
    let (status, file) = host.admin(Method::GET, "/api/v1/config", None).await;
    assert_eq!(status, 200, "{file}");
    file
}

async fn import(host: &TestHost, file: &Value, dry_run: bool) -> (u16, Value) {
    let path = format!("/api/v1/config/import?dry_run={dry_run}");
    host.admin(Method::POST, &path, Some(file.clone())).await
}

/// The changes of an import report as "action kind key" lines.
fn changes(report: &Value) -> Vec<String> {
    report["changes"]
        .as_array()
        .expect("a list of changes")
        .iter()
        .map(|c| {
            format!(
                "{} {} {}",
                c["action"].as_str().unwrap(),
                c["kind"].as_str().unwrap(),
                c["key"].as_str().unwrap()
            )
        })
        .collect()
}

/// A server an admin has set up: a wholesale pipeline with a review stage, a smart process, an
/// enumeration field, an uploaded plugin, robots (one with a condition, one of the uploaded
/// plugin), a trigger and a four-day week. Answers the review stage's id.
async fn set_up(host: &TestHost) -> String {
    let pipeline = host
        .ok(
            "crm.category.add",
            json!({"entityTypeId": 2, "fields": {"name": "Wholesale", "sort": 200}}),
        )
        .await["category"]["id"]
        .as_i64()
        .unwrap();
    host.ok(
        "crm.status.add",
        json!({"fields": {"ENTITY_ID": format!("DEAL_STAGE_{pipeline}"), "STATUS_ID": "REVIEW", "NAME": "Review", "SORT": 15, "COLOR": "#39A8EF"}}),
    )
    .await;
    let review = format!("C{pipeline}:REVIEW");
    host.ok(
        "crm.type.add",
        json!({"fields": {"title": "Contracts", "entityTypeId": 180}}),
    )
    .await;
    host.ok(
        "crm.deal.userfield.add",
        json!({"fields": {"FIELD_NAME": "CHANNEL", "USER_TYPE_ID": "enumeration", "LABEL": "Channel",
                          "LIST": [{"VALUE": "Web", "SORT": 10}, {"VALUE": "Phone", "SORT": 20}]}}),
    )
    .await;
    let (status, installed) = host.install(test_plugin("noop")).await;
    assert_eq!(status, 201, "{installed}");
    host.add_robot_on(
        "deal",
        &review,
        "add-comment",
        json!({"text": "Reviewing {=Document:TITLE}"}),
        json!({"name": "Review note", "condition": {"rules": [{"field": "OPPORTUNITY", "op": ">=", "value": "100"}]}}),
    )
    .await;
    host.add_robot_on(
        "deal",
        &review,
        "noop",
        json!({"n": 1}),
        json!({"after_previous": true}),
    )
    .await;
    let (status, trigger) = host
        .admin(
            Method::POST,
            "/api/v1/triggers",
            Some(json!({"entity_type": "deal", "stage_id": "WON", "trigger": {"kind": "webhook", "code": "paid"}})),
        )
        .await;
    assert_eq!(status, 201, "{trigger}");
    let rule =
        json!({"kind": "reactivation", "entity_type": "deal", "stage_id": "LOSE", "after_days": 30, "mode": "copy"});
    let (status, body) = host.admin(Method::POST, "/api/v1/return-rules", Some(rule)).await;
    assert_eq!(status, 201, "{body}");
    let segment = json!({"name": "A year on", "kind": "won_ago", "days": 365, "category_id": pipeline});
    let (status, body) = host
        .admin(Method::POST, "/api/v1/repeat-sales/segments", Some(segment))
        .await;
    assert_eq!(status, 201, "{body}");
    let calendar = json!({"work_days": [1, 2, 3, 4], "start": "08:00", "end": "17:00", "utc_offset_minutes": 120});
    let (status, body) = host.admin(Method::PUT, "/api/v1/calendar", Some(calendar)).await;
    assert_eq!(status, 200, "{body}");
    review
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configuration_moves_to_a_fresh_server_works_there_and_imports_again_as_no_change() {
    let source = TestHost::start().await;
    let review = set_up(&source).await;
    let file = export(&source).await;
    assert_eq!(file["format"], "stagewright-config/1");
    let noop = file["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "noop")
        .expect("the uploaded plugin is in the file");
    assert!(
        noop["component"].as_str().is_some_and(|c| c.len() > 1000),
        "it carries its component"
    );
    let builtin = file["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "add-comment")
        .unwrap();
    assert_eq!(builtin["component"], Value::Null, "a built-in plugin is the host's own");

    let target = TestHost::start().await;
    let (status, report) = import(&target, &file, false).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["dry_run"], false);
    let done = changes(&report);
    for expected in [
        "added plugin noop 1.0.0",
        "added smart process dynamic_180",
        &format!("added pipeline deal {}", review[1..].split(':').next().unwrap()),
        &format!("added stage {review}"),
        "added custom field deal UF_CRM_CHANNEL",
        "updated settings calendar",
        "added return rule 1",
        "added segment 1",
    ] {
        assert!(done.iter().any(|c| c == expected), "{expected} in {done:?}");
    }
    assert_eq!(
        done.iter().filter(|c| c.starts_with("added robot")).count(),
        2,
        "{done:?}"
    );
    assert_eq!(
        done.iter().filter(|c| c.starts_with("added trigger")).count(),
        1,
        "{done:?}"
    );
    assert!(!done.iter().any(|c| c.starts_with("deleted")), "{done:?}");

    assert_eq!(export(&target).await, file, "the target exports the file it imported");
    let (status, again) = import(&target, &file, false).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(changes(&again), Vec::<String>::new(), "a second import changes nothing");
    assert!(again["unchanged"].as_u64().unwrap() > 20, "{again}");

    let deal = target
        .ok("crm.deal.add", json!({"fields": {"TITLE": "Big order", "CATEGORY_ID": review[1..].split(':').next().unwrap(), "OPPORTUNITY": 500}}))
        .await
        .as_i64()
        .unwrap();
    target.move_deal(deal, &review).await;
    let robots = file["robots"].as_array().unwrap();
    let note = robots.iter().find(|r| r["name"] == "Review note").unwrap()["id"]
        .as_str()
        .unwrap();
    let run = target.finished_run(deal, note).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(target.comments(deal).await, vec!["Reviewing Big order"]);
    let noop_robot = robots.iter().find(|r| r["plugin_id"] == "noop").unwrap()["id"]
        .as_str()
        .unwrap();
    let echoed = target.finished_run(deal, noop_robot).await;
    assert_eq!(
        echoed["status"], "succeeded",
        "the uploaded plugin runs on the target: {echoed}"
    );
    let channel = target
        .ok(
            "crm.deal.userfield.list",
            json!({"filter": {"FIELD_NAME": "UF_CRM_CHANNEL"}}),
        )
        .await;
    let values: Vec<&str> = channel[0]["LIST"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["VALUE"].as_str().unwrap())
        .collect();
    assert_eq!(values, ["Web", "Phone"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_file_or_a_dry_run_changes_nothing_and_an_import_deletes_the_robots_it_leaves_out() {
    let host = TestHost::start().await;
    let review = set_up(&host).await;
    let before = export(&host).await;

    let mut broken = before.clone();
    broken["pipelines"].as_array_mut().unwrap().push(json!({
        "entity_type": "deal", "id": 7, "name": "Export", "sort": 300,
        "stages": [{"status_id": "C7:NEW", "name": "New", "sort": 10, "semantics": "P", "color": null},
                   {"status_id": "C7:WON", "name": "Won", "sort": 20, "semantics": "S", "color": null}]
    }));
    broken["robots"][0]["name"] = json!("Renamed");
    let mut stray = broken["robots"][0].clone();
    stray["id"] = json!("r_00000000000000aa");
    stray["stage_id"] = json!("C9:NOWHERE");
    broken["robots"].as_array_mut().unwrap().push(stray);
    let (status, refused) = import(&host, &broken, false).await;
    assert_eq!(status, 400, "{refused}");
    let reason = refused["error_description"].as_str().unwrap();
    assert!(
        reason.contains("robot r_00000000000000aa") && reason.contains("C9:NOWHERE"),
        "{reason}"
    );
    assert_eq!(
        export(&host).await,
        before,
        "a refused file changes nothing, not even its valid parts"
    );

    let (status, refused) = import(&host, &json!({"format": "stagewright-config/9"}), false).await;
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused["error_description"]
            .as_str()
            .unwrap()
            .contains("stagewright-config/1"),
        "{refused}"
    );

    let mut two_wins = before.clone();
    let wholesale = two_wins["pipelines"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|p| p["name"] == "Wholesale")
        .unwrap();
    let review_stage = wholesale["stages"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|s| s["status_id"] == review)
        .unwrap();
    review_stage["semantics"] = json!("S");
    let (status, refused) = import(&host, &two_wins, false).await;
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused["error_description"].as_str().unwrap().contains(&review),
        "{refused}"
    );

    let mut fewer = before.clone();
    let kept = fewer["robots"][1].clone();
    let dropped = fewer["robots"][0]["id"].as_str().unwrap().to_string();
    fewer["robots"] = json!([kept]);
    fewer["triggers"] = json!([]);
    let (status, planned) = import(&host, &fewer, true).await;
    assert_eq!(status, 200, "{planned}");
    assert_eq!(planned["dry_run"], true);
    let planned_changes = changes(&planned);
    assert!(
        planned_changes.contains(&format!("deleted robot {dropped}")),
        "{planned_changes:?}"
    );
    assert_eq!(
        planned_changes
            .iter()
            .filter(|c| c.starts_with("deleted trigger"))
            .count(),
        1
    );
    assert_eq!(export(&host).await, before, "a dry run changes nothing");

    let (status, done) = import(&host, &fewer, false).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(changes(&done), planned_changes, "the import does what the dry run said");
    let (_, robots) = host.admin(Method::GET, "/api/v1/robots", None).await;
    let ids: Vec<&str> = robots["robots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [kept["id"].as_str().unwrap()]);

    let mut no_rules = before.clone();
    no_rules["return_rules"] = json!([]);
    no_rules["robots"] = json!([kept]);
    no_rules["triggers"] = json!([]);
    let (status, done) = import(&host, &no_rules, false).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(changes(&done), ["deleted return rule 1"]);
    let (_, rules) = host.admin(Method::GET, "/api/v1/return-rules", None).await;
    assert_eq!(rules["rules"], json!([]));
    let (status, done) = import(&host, &before, false).await;
    assert_eq!(status, 200, "{done}");
    let (_, rules) = host.admin(Method::GET, "/api/v1/return-rules", None).await;
    assert_eq!(
        rules["rules"], before["return_rules"],
        "a rule comes back under its own id"
    );
    let rule =
        json!({"kind": "reactivation", "entity_type": "deal", "stage_id": "APOLOGY", "after_days": 7, "mode": "copy"});
    let (status, added) = host.admin(Method::POST, "/api/v1/return-rules", Some(rule)).await;
    assert_eq!(
        (status, added["id"].clone()),
        (201, json!(2)),
        "new rules are numbered after imported ones: {added}"
    );
    let (status, done) = import(&host, &fewer, false).await;
    assert_eq!(status, 200, "{done}");

    let (status, partial) = import(
        &host,
        &json!({"format": "stagewright-config/1", "settings": before["settings"]}),
        false,
    )
    .await;
    assert_eq!(status, 200, "{partial}");
    assert_eq!(
        changes(&partial),
        Vec::<String>::new(),
        "a file of settings alone leaves the robots alone"
    );
    let (_, robots) = host.admin(Method::GET, "/api/v1/robots", None).await;
    assert_eq!(robots["robots"].as_array().unwrap().len(), 1);
}
