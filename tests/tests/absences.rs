//! The absence calendar: admins enter who is away when (vacation, sick leave, business trip),
//! and `change-responsible` with `skip_absent` deals items out past users absent at the
//! scheduler's clock, which the tests move.

use reqwest::Method;
use serde_json::{Value, json};
use stagewright_tests::TestHost;

const HOUR: i64 = 3_600_000;

async fn absence(host: &TestHost, user_id: i64, from: i64, to: i64) -> Value {
    let body = json!({"user_id": user_id, "from": from, "to": to, "kind": "vacation", "comment": "Alps"});
    let (status, added) = host.admin(Method::POST, "/api/v1/absences", Some(body)).await;
    assert_eq!(status, 201, "{added}");
    added
}

async fn responsible_of_new_deal(host: &TestHost, robot: &str, title: &str) -> (i64, Value) {
    let deal = host.add_deal(title).await;
    let run = host.finished_run(deal, robot).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let responsible = host.deal(deal).await["ASSIGNED_BY_ID"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    (responsible, run)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_and_least_busy_pass_over_absent_users() {
    let host = TestHost::start_with(|s| s.manual_clock = true).await;
    let (ann, bob, cid) = (
        host.add_user("ann").await,
        host.add_user("bob").await,
        host.add_user("cid").await,
    );
    let now = host.advance_clock(0).await;
    let away = absence(&host, bob, now - HOUR, now + 24 * HOUR).await;
    assert_eq!(
        (away["user_id"].as_i64(), away["kind"].as_str()),
        (Some(bob), Some("vacation"))
    );

    let in_turn = host
        .add_robot(
            "NEW",
            "change-responsible",
            json!({"users": [ann, bob, cid], "skip_absent": true}),
        )
        .await;
    let mut given = Vec::new();
    for n in 0..3 {
        given.push(responsible_of_new_deal(&host, &in_turn, &format!("Lead {n}")).await.0);
    }
    assert_eq!(given, [ann, cid, ann], "bob is away");

    host.advance_clock(25 * HOUR).await;
    let (back, _) = responsible_of_new_deal(&host, &in_turn, "Lead 3").await;
    assert_eq!(back, bob, "bob is back and it is his turn after ann");

    let now = host.advance_clock(0).await;
    absence(&host, bob, now, now + HOUR).await;
    let least_busy = host
        .add_robot(
            "PREPARATION",
            "change-responsible",
            json!({"users": [bob, cid, ann], "distribution": "least_busy", "skip_absent": true}),
        )
        .await;
    let deal = host.add_deal("Big one").await;
    host.finished_run(deal, &in_turn).await;
    host.move_deal(deal, "PREPARATION").await;
    let run = host.finished_run(deal, &least_busy).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(
        run["return_values"]["user_id"], cid,
        "open deals besides this one: ann two, bob one, cid one; bob, first on the tie, is away"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_everyone_is_away_the_responsible_stays_and_the_run_says_why() {
    let host = TestHost::start_with(|s| s.manual_clock = true).await;
    let (ann, bob) = (host.add_user("ann").await, host.add_user("bob").await);
    let now = host.advance_clock(0).await;
    absence(&host, ann, now, now + HOUR).await;
    absence(&host, bob, now - HOUR, now + 1).await;
    let robot = host
        .add_robot(
            "NEW",
            "change-responsible",
            json!({"users": [ann, bob], "skip_absent": true}),
        )
        .await;
    let deal = host
        .ok(
            "crm.deal.add",
            json!({"fields": {"TITLE": "Nobody in", "ASSIGNED_BY_ID": 1}}),
        )
        .await
        .as_i64()
        .unwrap();
    let run = host.finished_run(deal, &robot).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["return_values"], json!({"user_id": 1, "all_absent": true}));
    let said = run["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["message"].as_str().unwrap())
        .collect::<Vec<_>>();
    assert!(
        said.iter()
            .any(|m| m.contains(&format!("users {ann}, {bob} are all absent"))),
        "{said:?}"
    );
    assert_eq!(host.deal(deal).await["ASSIGNED_BY_ID"], "1");

    let single = host
        .add_robot(
            "PREPARATION",
            "change-responsible",
            json!({"user_id": ann, "skip_absent": true}),
        )
        .await;
    host.move_deal(deal, "PREPARATION").await;
    let run = host.finished_run(deal, &single).await;
    assert_eq!(run["return_values"], json!({"user_id": 1, "all_absent": true}), "{run}");

    host.advance_clock(HOUR).await;
    host.move_deal(deal, "NEW").await;
    let runs = host.finished_runs(deal, 3).await;
    let newest = runs.iter().find(|r| r["robot_id"] == robot).unwrap();
    assert_eq!(
        newest["return_values"],
        json!({"user_id": ann}),
        "both are back: {newest}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_absence_calendar_is_kept_through_the_admin_api() {
    let host = TestHost::start_with(|s| s.manual_clock = true).await;
    let ann = host.add_user("ann").await;
    let now = host.advance_clock(0).await;
    let trip = json!({"user_id": ann, "from": now, "to": now + HOUR, "kind": "business_trip"});
    let (status, added) = host.admin(Method::POST, "/api/v1/absences", Some(trip)).await;
    assert_eq!(status, 201, "{added}");
    assert_eq!(
        (added["from"].as_i64(), added["comment"].as_str()),
        (Some(now), Some(""))
    );

    for (query, count) in [
        (format!("?user_id={ann}"), 1),
        (format!("?user_id={ann}&at={now}"), 1),
        (format!("?at={}", now + HOUR), 0),
        (format!("?user_id={}", ann + 1), 0),
        (String::new(), 1),
    ] {
        let (status, body) = host.admin(Method::GET, &format!("/api/v1/absences{query}"), None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["absences"].as_array().unwrap().len(), count, "{query}: {body}");
    }

    for (body, expected) in [
        (
            json!({"user_id": ann, "from": now, "to": now, "kind": "vacation"}),
            "must end after it starts",
        ),
        (
            json!({"user_id": 999, "from": now, "to": now + 1, "kind": "vacation"}),
            "user 999 does not exist",
        ),
        (
            json!({"user_id": ann, "from": now, "to": now + 1, "kind": "party"}),
            "unknown variant `party`",
        ),
        (
            json!({"user_id": ann, "from": now, "to": now + 1, "kind": "vacation", "why": "x"}),
            "unknown field `why`",
        ),
    ] {
        let (status, answer) = host.admin(Method::POST, "/api/v1/absences", Some(body.clone())).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(
            answer["error_description"].as_str().unwrap().contains(expected),
            "{body}: {answer}"
        );
    }
    let (status, answer) = host.admin(Method::GET, "/api/v1/absences?at=soon", None).await;
    assert_eq!(status, 400, "{answer}");

    for id in ["999", "x"] {
        let (status, answer) = host
            .admin(Method::DELETE, &format!("/api/v1/absences/{id}"), None)
            .await;
        assert_eq!((status, answer["error"].as_str()), (404, Some("NOT_FOUND")), "{answer}");
    }
    let (status, _) = host
        .admin(Method::DELETE, &format!("/api/v1/absences/{}", added["id"]), None)
        .await;
    assert_eq!(status, 204);
    let (_, body) = host.admin(Method::GET, "/api/v1/absences", None).await;
    assert_eq!(body["absences"], json!([]));

    let robot = json!({"entity_type": "deal", "stage_id": "NEW", "plugin_id": "change-responsible", "config": {"users": [ann], "skip_absent": "yes"}});
    let (status, body) = host.admin(Method::POST, "/api/v1/robots", Some(robot)).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error_description"].as_str().unwrap().contains("skip_absent"),
        "{body}"
    );
}
