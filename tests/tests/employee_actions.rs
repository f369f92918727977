//! The actions for employees: create a task, schedule an activity, notify (the responsible, a
//! chosen user, the supervisor), as robots on deal stages, checked where the employee would look:
//! tasks.task.*, crm.activity.list and im.notify.get.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use stagewright_tests::TestHost;

const DAY: i64 = 86_400_000;

async fn manual_host() -> TestHost {
    TestHost::start_with(|s| s.manual_clock = true).await
}

fn iso(at_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(at_ms - at_ms % 1000)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%S+00:00")
        .to_string()
}

async fn add_deal(host: &TestHost, fields: Value) -> i64 {
    host.ok("crm.deal.add", json!({"fields": fields}))
        .await
        .as_i64()
        .unwrap()
}

/// Saving a robot with this config is refused with a clear error, and nothing is saved.
async fn refused(host: &TestHost, plugin_id: &str, config: Value, why: &str) {
    let robot = json!({"entity_type": "deal", "stage_id": "NEW", "plugin_id": plugin_id, "config": config});
    let (status, body) = host.admin(Method::POST, "/api/v1/robots", Some(robot)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error_description"].as_str().unwrap().contains(why), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_robot_sets_a_task_bound_to_the_deal_for_its_responsible() {
    let host = manual_host().await;
    let (ann, _) = host.add_employee("ann", 1).await;
    let (bob, _) = host.add_employee("bob", 1).await;
    let robot = host
        .add_robot(
            "NEW",
            "create-task",
            json!({"title": "Call {=Document:TITLE} back", "description": "Amount {=Document:OPPORTUNITY}", "deadline_after": {"value": 2, "unit": "days"}, "important": true,
                   "auditors": [bob, "{=Document:CREATED_BY_ID}"], "accomplices": [bob]}),
        )
        .await;
    let now = host.advance_clock(0).await;
    let deal = add_deal(
        &host,
        json!({"TITLE": "Acme", "OPPORTUNITY": 900, "ASSIGNED_BY_ID": ann}),
    )
    .await;
    let run = host.finished_run(deal, &robot).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let task_id = run["return_values"]["task_id"].as_i64().unwrap();

    let task = host.ok("tasks.task.get", json!({"taskId": task_id})).await["task"].clone();
    assert_eq!(task["title"], "Call Acme back");
    assert_eq!(task["description"], "Amount 900");
    assert_eq!(task["responsibleId"], ann.to_string());
    assert_eq!(task["createdBy"], ann.to_string());
    assert_eq!(task["priority"], "2");
    assert_eq!(task["deadline"], iso(now + 2 * DAY));
    assert_eq!(task["ufCrmTask"], json!([format!("D_{deal}")]));
    assert_eq!(task["auditors"], json!([bob.to_string(), "1"]));
    assert_eq!(task["accomplices"], json!([bob.to_string()]));
    let (status, refused_update) = host
        .rest(
            "tasks.task.update",
            json!({"taskId": task_id, "fields": {"AUDITORS": [bob, 999]}}),
        )
        .await;
    assert_eq!(status, 400, "{refused_update}");
    assert!(
        refused_update["error_description"]
            .as_str()
            .unwrap()
            .contains("user 999 does not exist")
    );
    let unchanged = host.ok("tasks.task.get", json!({"taskId": task_id})).await["task"].clone();
    assert_eq!(unchanged["auditors"], task["auditors"]);

    host.ok("user.update", json!({"ID": ann, "ACTIVE": "N"})).await;
    let orphan = add_deal(&host, json!({"TITLE": "Nobody's", "ASSIGNED_BY_ID": ann})).await;
    let failed = host.finished_run(orphan, &robot).await;
    assert_eq!(failed["status"], "failed");
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains(&format!("user {ann} is not active")),
        "{failed}"
    );
    let tasks = host.ok("tasks.task.list", json!({})).await["tasks"].clone();
    assert_eq!(
        tasks.as_array().unwrap().len(),
        1,
        "the failed run set no task: {tasks}"
    );

    refused(&host, "create-task", json!({"title": ""}), "title").await;
    refused(
        &host,
        "create-task",
        json!({"title": "x", "deadline_after": {"value": 1, "unit": "weeks"}}),
        "unit",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_robot_completes_the_deals_open_tasks_or_only_those_of_one_robot() {
    let host = TestHost::start().await;
    let call = host
        .add_robot("NEW", "create-task", json!({"title": "Call {=Document:TITLE}"}))
        .await;
    host.add_robot("NEW", "create-task", json!({"title": "Visit {=Document:TITLE}"}))
        .await;
    let only_calls = host
        .add_robot("PREPARATION", "complete-task", json!({"created_by_robot": call}))
        .await;
    let all = host.add_robot("WON", "complete-task", json!({})).await;
    let deal = add_deal(&host, json!({"TITLE": "Acme"})).await;
    let other = add_deal(&host, json!({"TITLE": "Globex"})).await;
    host.finished_runs(deal, 2).await;
    host.finished_runs(other, 2).await;
    let by_hand = host
        .ok(
            "tasks.task.add",
            json!({"fields": {"TITLE": "Send the contract", "RESPONSIBLE_ID": 1, "UF_CRM_TASK": [format!("D_{deal}")]}}),
        )
        .await["task"]["id"]
        .clone();
    let status_of = |title: String| {
        let host = &host;
        async move {
            let tasks = host.ok("tasks.task.list", json!({"filter": {"TITLE": title}})).await["tasks"].clone();
            assert_eq!(tasks.as_array().unwrap().len(), 1, "{tasks}");
            tasks[0]["status"].as_str().unwrap().to_string()
        }
    };

    host.move_deal(deal, "PREPARATION").await;
    let run = host.finished_run(deal, &only_calls).await;
    assert_eq!(
        (run["status"].as_str(), &run["return_values"]),
        (Some("succeeded"), &json!({"completed": 1})),
        "{run:#}"
    );
    assert_eq!(status_of("Call Acme".into()).await, "5");
    assert_eq!(
        status_of("Visit Acme".into()).await,
        "2",
        "another robot's task stays open"
    );
    let got = host.ok("tasks.task.get", json!({"taskId": by_hand})).await;
    assert_eq!(got["task"]["status"], "2", "a person's task stays open");

    host.move_deal(deal, "WON").await;
    let run = host.finished_run(deal, &all).await;
    assert_eq!(run["return_values"], json!({"completed": 2}), "{run:#}");
    assert_eq!(status_of("Visit Acme".into()).await, "5");
    let got = host.ok("tasks.task.get", json!({"taskId": by_hand})).await;
    assert_eq!(got["task"]["status"], "5");
    assert!(got["task"]["closedDate"].is_string(), "{got}");
    assert_eq!(
        status_of("Call Globex".into()).await,
        "2",
        "another deal's tasks stay open"
    );
    assert_eq!(status_of("Visit Globex".into()).await, "2");

    refused(
        &host,
        "complete-task",
        json!({"created_by_robot": "the call robot"}),
        "created_by_robot",
    )
    .await;
    refused(&host, "complete-task", json!({"robot": "r_1"}), "robot").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_robot_schedules_a_call_on_the_deal_timeline() {
    let host = manual_host().await;
    let robot = host
        .add_robot(
            "PREPARATION",
            "create-activity",
            json!({"type": "call", "subject": "Discuss {=Document:TITLE}", "deadline": "{=Document:CLOSEDATE}"}),
        )
        .await;
    let deal = add_deal(
        &host,
        json!({"TITLE": "Acme", "CLOSEDATE": "2031-05-04T10:00:00+00:00"}),
    )
    .await;
    host.move_deal(deal, "PREPARATION").await;
    let run = host.finished_run(deal, &robot).await;
    assert_eq!(run["status"], "succeeded", "{run}");

    let activities = host
        .ok(
            "crm.activity.list",
            json!({"filter": {"OWNER_TYPE_ID": 2, "OWNER_ID": deal}}),
        )
        .await;
    let call = &activities.as_array().unwrap()[0];
    assert_eq!(call["ID"], run["return_values"]["activity_id"].to_string());
    assert_eq!(call["TYPE_ID"], "2");
    assert_eq!(call["SUBJECT"], "Discuss Acme");
    assert_eq!(call["RESPONSIBLE_ID"], "1");
    assert_eq!(call["DEADLINE"], "2031-05-04T10:00:00+00:00");
    assert_eq!(call["COMPLETED"], "N");

    refused(&host, "create-activity", json!({"type": "fax", "subject": "x"}), "fax").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_reach_the_responsible_a_chosen_user_and_the_supervisor() {
    let host = manual_host().await;
    let (sales, (boss, boss_hook)) = host.add_sales_department("boss").await;
    let (ann, ann_hook) = host.add_employee("ann", sales).await;

    let to_responsible = host
        .add_robot("NEW", "notify", json!({"message": "New deal {=Document:TITLE}"}))
        .await;
    let to_supervisor = host
        .add_robot_with(
            "NEW",
            "notify",
            json!({"to": "supervisor", "message": "{=Document:TITLE} went to {=Document:ASSIGNED_BY_ID.NAME}"}),
            json!({"after_previous": true}),
        )
        .await;
    let deal = add_deal(&host, json!({"TITLE": "Acme", "ASSIGNED_BY_ID": ann})).await;
    host.finished_run(deal, &to_responsible).await;
    let sent = host.finished_run(deal, &to_supervisor).await;
    assert_eq!(sent["status"], "succeeded", "{sent}");
    assert_eq!(sent["return_values"]["user_id"], boss);

    let inbox = host.rest_via(&ann_hook, "im.notify.get", json!({})).await.1["result"].clone();
    assert_eq!(inbox["total_count"], 1);
    assert_eq!(inbox["total_unread_count"], 1);
    let note = &inbox["notifications"][0];
    assert_eq!(note["text"], "New deal Acme");
    assert_eq!(note["notify_read"], "N");
    assert_eq!(note["notify_module"], "crm");
    let boss_inbox = host.rest_via(&boss_hook, "im.notify.get", json!({})).await.1["result"].clone();
    assert_eq!(boss_inbox["notifications"][0]["text"], "Acme went to ann");

    let (status, read) = host
        .rest_via(&ann_hook, "im.notify.read", json!({"ID": note["id"]}))
        .await;
    assert_eq!(status, 200, "{read}");
    let inbox = host.rest_via(&ann_hook, "im.notify.get", json!({})).await.1["result"].clone();
    assert_eq!(inbox["total_unread_count"], 0);
    assert_eq!(inbox["notifications"][0]["notify_read"], "Y");

    // The head of the company (user 1, heading department 1) has no one above.
    let top = add_deal(&host, json!({"TITLE": "Top", "ASSIGNED_BY_ID": 1})).await;
    let failed = host.finished_run(top, &to_supervisor).await;
    assert_eq!(failed["status"], "failed");
    assert!(
        failed["error"].as_str().unwrap().contains("has no supervisor"),
        "{failed}"
    );

    refused(&host, "notify", json!({"message": "x", "to": "everyone"}), "everyone").await;
    refused(&host, "notify", json!({"message": "x", "to": "user"}), "user_id").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integrations_send_notifications_and_users_read_only_their_own() {
    let host = TestHost::start().await;
    let (ann, ann_hook) = host.add_employee("ann", 1).await;
    let first = host
        .ok(
            "im.notify.system.add",
            json!({"USER_ID": ann, "MESSAGE": "Backup done"}),
        )
        .await;
    let second = host
        .ok("im.notify.personal.add", json!({"USER_ID": ann, "MESSAGE": "Lunch?"}))
        .await;
    let inbox = host.rest_via(&ann_hook, "im.notify.get", json!({"LIMIT": 1})).await.1["result"].clone();
    assert_eq!(inbox["total_count"], 2);
    assert_eq!(inbox["notifications"][0]["id"], second, "newest first");
    assert_eq!(inbox["notifications"][0]["author_id"], 1);
    let older = host
        .rest_via(&ann_hook, "im.notify.get", json!({"LAST_ID": second}))
        .await
        .1["result"]
        .clone();
    assert_eq!(older["notifications"][0]["id"], first);
    assert_eq!(older["notifications"][0]["author_id"], 0);
    assert_eq!(
        host.ok("im.notify.get", json!({})).await["total_count"],
        0,
        "the administrator sees none of ann's"
    );
    host.rest_via(&ann_hook, "im.notify.read.all", json!({})).await;
    let inbox = host.rest_via(&ann_hook, "im.notify.get", json!({})).await.1["result"].clone();
    assert_eq!(inbox["total_unread_count"], 0);

    for (params, why) in [
        (json!({"USER_ID": 999, "MESSAGE": "x"}), "user 999 does not exist"),
        (json!({"USER_ID": ann, "MESSAGE": " "}), "empty"),
        (
            json!({"USER_ID": ann, "MESSAGE": "x", "COLOR": "red"}),
            "unknown field COLOR",
        ),
    ] {
        let (status, body) = host.rest("im.notify.personal.add", params).await;
        assert_eq!(status, 400, "{body}");
        assert!(body["error_description"].as_str().unwrap().contains(why), "{body}");
    }
    let inbox = host.rest_via(&ann_hook, "im.notify.get", json!({})).await.1["result"].clone();
    assert_eq!(inbox["total_count"], 2, "refused calls wrote nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_of_every_released_contract_version_loads_runs_and_is_listed_with_its_version() {
    let host = TestHost::start().await;
    // What each version's plugin returns from the call that version added.
    let releases = [
        ("0.1.0", json!({})),
        ("0.1.1", json!({"notification_id": 1})),
        ("0.1.2", json!({"woke_by": "timeout"})),
        ("0.1.3", json!({"absent": []})),
        ("0.1.4", json!({"next": 1})),
        ("0.1.5", json!({"completed": 0})),
    ];
    for (version, returns) in releases {
        let id = format!("contract-{}", version.replace('.', "-"));
        let (status, installed) = host.install(stagewright_tests::test_plugin(&id)).await;
        assert_eq!(status, 201, "{installed}");
        assert_eq!(installed["contract"], version, "{installed}");
        let robot = host.add_robot("NEW", &id, json!({})).await;
        let deal = host.add_deal(&format!("A {version} plugin")).await;
        let mut run = host.finished_run(deal, &robot).await;
        // The 0.1.2 plugin's wait ends at its own start: the scheduler's next round times it out.
        let deadline = Instant::now() + Duration::from_secs(30);
        while run["status"] == "parked" {
            assert!(Instant::now() < deadline, "the wait never timed out: {run:#}");
            tokio::time::sleep(Duration::from_millis(20)).await;
            run = host.finished_run(deal, &robot).await;
        }
        assert_eq!(run["status"], "succeeded", "{run:#}");
        assert_eq!(run["return_values"], returns, "{run:#}");
        assert_eq!(host.comments(deal).await, [format!("written by a {version} plugin")]);
        let (status, _) = host
            .admin(Method::DELETE, &format!("/api/v1/robots/{robot}"), None)
            .await;
        assert_eq!(status, 204);
    }
    let (_, listed) = host.admin(Method::GET, "/api/v1/plugins", None).await;
    let builtin = listed["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["manifest"]["id"] == "add-comment")
        .unwrap();
    assert_eq!(
        builtin["contract"], "0.1.5",
        "built-ins are built against the working contract"
    );
    assert_eq!(
        builtin["capabilities_in_words"],
        json!(["writes deals", "writes leads", "writes items of every smart process"])
    );
}
