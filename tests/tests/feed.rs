//! The Activity Stream: a robot posts about a deal in the company feed, employees read and
//! comment on it through Bitrix24's REST methods, and the deal's timeline shows the post.

use reqwest::Method;
use serde_json::json;
use stagewright_tests::TestHost;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_robot_posts_about_the_deal_and_employees_read_and_comment_on_it() {
    let host = TestHost::start().await;
    let (sam, sam_hook) = host.add_employee("sam", 1).await;
    let robot = host
        .add_robot(
            "NEW",
            "add-feed-post",
            json!({"text": "We won {=Document:TITLE}: {=Document:OPPORTUNITY} to deliver"}),
        )
        .await;
    let deal = host
        .ok(
            "crm.deal.add",
            json!({"fields": {"TITLE": "Office chairs", "OPPORTUNITY": 1200, "ASSIGNED_BY_ID": sam}}),
        )
        .await
        .as_i64()
        .unwrap();
    let run = host.finished_run(deal, &robot).await;
    assert_eq!(run["status"], "succeeded", "{run:#}");
    let post_id = run["return_values"]["post_id"].as_i64().unwrap();

    let (status, feed) = host.rest_via(&sam_hook, "log.blogpost.get", json!({})).await;
    assert_eq!(status, 200, "{feed}");
    let post = &feed["result"][0];
    assert_eq!(post["ID"], post_id.to_string());
    assert_eq!(
        post["TITLE"], "Office chairs",
        "the item's title when the robot sets none"
    );
    assert_eq!(post["DETAIL_TEXT"], "We won Office chairs: 1200 to deliver");
    assert_eq!(post["AUTHOR_ID"], sam.to_string(), "from the deal's responsible");
    assert_eq!(post["CRM_ITEM"], format!("D_{deal}"));
    assert_eq!(post["NUM_COMMENTS"], "0");

    let (status, comment) = host
        .rest_via(
            &sam_hook,
            "log.blogcomment.add",
            json!({"POST_ID": post_id, "TEXT": "I'll book the van"}),
        )
        .await;
    assert_eq!(status, 200, "{comment}");
    let by_hand = host
        .ok(
            "log.blogpost.add",
            json!({"POST_TITLE": "Friday", "POST_MESSAGE": "Pizza at noon"}),
        )
        .await
        .as_i64()
        .unwrap();
    let one = host.ok("log.blogpost.get", json!({"POST_ID": post_id})).await;
    assert_eq!(one.as_array().unwrap().len(), 1);
    assert_eq!(one[0]["NUM_COMMENTS"], "1");
    assert_eq!(one[0]["COMMENTS"][0]["POST_TEXT"], "I'll book the van");
    assert_eq!(one[0]["COMMENTS"][0]["AUTHOR_ID"], sam.to_string());
    let all = host.ok("log.blogpost.get", json!({})).await;
    let ids: Vec<String> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["ID"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, [by_hand.to_string(), post_id.to_string()], "newest first");
    assert_eq!(all[0]["CRM_ITEM"], serde_json::Value::Null);

    let path = format!("/api/v1/timeline?entity_type=deal&item_id={deal}");
    let (status, timeline) = host.admin(Method::GET, &path, None).await;
    assert_eq!(status, 200, "{timeline}");
    let posted = timeline["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "feed_post")
        .expect("the post is on the deal's timeline");
    assert_eq!(posted["payload"]["post_id"], post_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_posts_and_comments_are_refused_and_change_nothing() {
    let host = TestHost::start().await;
    for (method, params, why) in [
        ("log.blogpost.add", json!({"POST_TITLE": "No text"}), "POST_MESSAGE"),
        ("log.blogpost.add", json!({"POST_MESSAGE": "  "}), "empty"),
        (
            "log.blogpost.add",
            json!({"POST_MESSAGE": "x", "USER_ID": 999}),
            "user 999",
        ),
        (
            "log.blogcomment.add",
            json!({"POST_ID": 42, "TEXT": "hello?"}),
            "post 42",
        ),
    ] {
        let (status, body) = host.rest(method, params).await;
        assert_eq!(status, 400, "{method}: {body}");
        assert!(
            body["error_description"].as_str().unwrap().contains(why),
            "{method}: {body}"
        );
    }
    assert_eq!(host.ok("log.blogpost.get", json!({})).await, json!([]));

    let robot = host
        .add_robot("NEW", "add-feed-post", json!({"text": "hi", "author_id": 999}))
        .await;
    let deal = host.add_deal("Ghost author").await;
    let run = host.finished_run(deal, &robot).await;
    assert_eq!(run["status"], "failed", "{run:#}");
    assert!(run["error"].as_str().unwrap().contains("user 999"), "{run:#}");
    assert_eq!(
        host.ok("log.blogpost.get", json!({})).await,
        json!([]),
        "a failed run posts nothing"
    );

    let robot =
        json!({"entity_type": "deal", "stage_id": "NEW", "plugin_id": "add-feed-post", "config": {"title": "no text"}});
    let (status, body) = host.admin(Method::POST, "/api/v1/robots", Some(robot)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error_description"].as_str().unwrap().contains("text"), "{body}");
}
