//! Bitrix24's REST dialect as its official SDKs speak it (b24pysdk, b24jssdk): ID-ordered fast
//! paging with `start=-1`, `batch` with `cmd` as an array or an object and its answer in PHP's
//! shapes, the query parameters the SDKs add, method names with and without `.json` and in any
//! case, and REST 3.0 paths refused the way REST 3.0 refuses an unknown method.

use serde_json::{Value, json};
use stagewright_tests::TestHost;

/// A host with `count` deals titled "Deal 1"…, half of them (the even ones) in PREPARATION.
async fn host_with_deals(count: usize) -> TestHost {
    let host = TestHost::start().await;
    for chunk in (1..=count).collect::<Vec<_>>().chunks(50) {
        let cmd: Vec<String> = chunk
            .iter()
            .map(|i| {
                let stage = if i % 2 == 0 { "PREPARATION" } else { "NEW" };
                format!("crm.deal.add?fields[TITLE]=Deal%20{i}&fields[STAGE_ID]={stage}")
            })
            .collect();
        let answer = host.ok("batch", json!({"halt": 1, "cmd": cmd})).await;
        assert_eq!(answer["result_error"], json!([]), "{answer}");
    }
    host
}

fn ids(rows: &Value) -> Vec<i64> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|row| row["ID"].as_str().unwrap().parse().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_minus_one_pages_by_id_without_total_or_next_as_the_sdks_walk() {
    let host = host_with_deals(130).await;
    let mut walked: Vec<i64> = Vec::new();
    let mut last = 0;
    loop {
        let (status, page) = host
            .rest(
                "crm.deal.list",
                json!({"order": {"ID": "ASC"}, "filter": {">ID": last, "STAGE_ID": "PREPARATION"},
                       "select": ["ID"], "start": -1}),
            )
            .await;
        assert_eq!(status, 200, "{page}");
        assert!(page.get("total").is_none() && page.get("next").is_none(), "{page}");
        let rows = ids(&page["result"]);
        walked.extend(&rows);
        if rows.len() < 50 {
            break;
        }
        last = *rows.last().unwrap();
    }
    let even: Vec<i64> = (1..=130).filter(|i| i % 2 == 0).collect();
    assert_eq!(walked, even, "every matching deal once, in ID order");

    let counted = host.rest("crm.deal.list", json!({"start": 100})).await.1;
    assert_eq!((counted["total"].as_i64(), counted.get("next")), (Some(130), None));
    assert_eq!(ids(&counted["result"]).len(), 30);
    let first = host.rest("crm.deal.list", json!({})).await.1;
    assert_eq!((first["total"].as_i64(), first["next"].as_i64()), (Some(130), Some(50)));

    let past_the_end = host.rest("crm.deal.list", json!({"start": 500})).await.1;
    assert_eq!(past_the_end["result"], json!([]));
    assert_eq!(past_the_end["total"], 130);
    assert!(past_the_end.get("next").is_none(), "{past_the_end}");

    let newest = host
        .ok(
            "crm.deal.list",
            json!({"order": {"ID": "DESC"}, "filter": {"<ID": 100}, "start": -1}),
        )
        .await;
    assert_eq!(ids(&newest)[..3], [99, 98, 97]);
    assert_eq!(ids(&newest).len(), 50);

    let items = host
        .rest(
            "crm.item.list",
            json!({"entityTypeId": 2, "order": {"id": "ASC"}, "filter": {">id": 120}, "start": -1}),
        )
        .await
        .1;
    assert!(items.get("total").is_none(), "{items}");
    let item_ids: Vec<i64> = items["result"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    assert_eq!(item_ids, (121..=130).collect::<Vec<_>>());

    let (status, refused) = host.rest("crm.deal.list", json!({"start": -2})).await;
    assert_eq!((status, refused["error"].as_str()), (400, Some("INVALID_ARG_VALUE")));
    assert_eq!(refused["error_description"], "START is not defined or invalid.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_list_method_takes_start_minus_one() {
    let host = host_with_deals(3).await;
    host.ok(
        "crm.activity.add",
        json!({"fields": {"OWNER_TYPE_ID": 2, "OWNER_ID": 1, "TYPE_ID": 2, "SUBJECT": "Call"}}),
    )
    .await;
    host.ok(
        "tasks.task.add",
        json!({"fields": {"TITLE": "Follow up", "RESPONSIBLE_ID": 1}}),
    )
    .await;
    for (method, params) in [
        ("crm.deal.list", json!({})),
        ("crm.lead.list", json!({})),
        ("crm.item.list", json!({"entityTypeId": 2})),
        ("crm.activity.list", json!({})),
        ("tasks.task.list", json!({})),
        ("user.get", json!({})),
        ("department.get", json!({})),
    ] {
        let mut params = params;
        params["start"] = json!(-1);
        let (status, answer) = host.rest(method, params).await;
        assert_eq!(status, 200, "{method}: {answer}");
        assert!(answer.get("total").is_none(), "{method}: {answer}");
        assert!(answer.get("next").is_none(), "{method}: {answer}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_takes_cmd_as_an_array_and_answers_in_the_same_shape() {
    let host = host_with_deals(60).await;
    let answer = host
        .ok(
            "batch",
            json!({"halt": 0, "cmd": [
                "crm.deal.list?order[ID]=ASC&start=-1&select[0]=ID",
                "crm.deal.list?filter[%3EID]=%24result%5B0%5D%5B49%5D%5BID%5D&order[ID]=ASC&start=-1",
                "crm.deal.get?id=$result[1][0][ID]",
                "crm.deal.list?start=50",
            ]}),
        )
        .await;
    let result = answer["result"].as_array().expect("a list for an array cmd");
    assert_eq!(result.len(), 4);
    assert_eq!(ids(&result[0]).len(), 50);
    assert_eq!(
        ids(&result[1]),
        (51..=60).collect::<Vec<_>>(),
        "the encoded reference resolved"
    );
    assert_eq!(result[2]["TITLE"], "Deal 51");
    assert_eq!(answer["result_error"], json!([]));
    assert_eq!(
        answer["result_total"],
        json!({"3": 60}),
        "only the counted list has a total"
    );
    assert_eq!(answer["result_next"], json!([]));
    let times = answer["result_time"].as_array().unwrap();
    assert_eq!(times.len(), 4);
    assert!(times[0]["date_start"].as_str().unwrap().ends_with("+00:00"), "{answer}");

    let failing = host
        .ok(
            "batch",
            json!({"halt": 0, "cmd": ["crm.deal.get?id=1", "crm.deal.get?id=999", "crm.deal.get?id=2"]}),
        )
        .await;
    assert_eq!(failing["result"]["0"]["TITLE"], "Deal 1", "{failing}");
    assert_eq!(failing["result"]["2"]["TITLE"], "Deal 2", "{failing}");
    assert_eq!(failing["result_error"]["1"]["error"], "NOT_FOUND", "{failing}");

    let halted = host
        .ok(
            "batch",
            json!({"halt": true, "cmd": ["crm.deal.get?id=999", "crm.deal.add?fields[TITLE]=Never"]}),
        )
        .await;
    assert_eq!(halted["result"], json!([]));
    assert_eq!(halted["result_error"][0]["error"], "NOT_FOUND", "{halted}");
    assert_eq!(
        host.rest("crm.deal.list", json!({})).await.1["total"],
        60,
        "halt stopped the add"
    );

    let unresolved = host
        .ok(
            "batch",
            json!({"halt": 1, "cmd": {"a": "crm.deal.get?id=$result[nothing][ID]"}}),
        )
        .await;
    assert_eq!(
        unresolved["result_error"]["a"]["error"], "INVALID_ARG_VALUE",
        "{unresolved}"
    );

    let (status, too_many) = host.rest("batch", json!({"cmd": vec!["crm.deal.list"; 51]})).await;
    assert_eq!(
        (status, too_many["error"].as_str()),
        (400, Some("ERROR_BATCH_LENGTH_EXCEEDED"))
    );
    let (status, not_a_list) = host.rest("batch", json!({"cmd": "crm.deal.list"})).await;
    assert_eq!(
        (status, not_a_list["error_description"].as_str()),
        (400, Some("Parameter 'cmd' must be array"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdks_query_parameters_method_spellings_and_rest_3_paths() {
    let host = host_with_deals(2).await;
    for method in [
        "crm.deal.get?bx24_request_id=1f0c&bx24_sdk_ver=2.1.0&bx24_sdk_type=b24-js-sdk",
        "crm.deal.get.json?bx24_request_id=1f0c",
        "crm.deal.Get.json",
        "CRM.DEAL.GET",
    ] {
        let (status, answer) = host.rest(method, json!({"id": 2})).await;
        assert_eq!(status, 200, "{method}: {answer}");
        assert_eq!(answer["result"]["TITLE"], "Deal 2", "{method}");
        assert!(answer["time"]["date_finish"].is_string(), "{method}: {answer}");
    }
    let batch = host
        .ok(
            "batch.json?bx24_sdk_type=b24-js-sdk",
            json!({"cmd": {"d": "crm.deal.get.json?id=1"}}),
        )
        .await;
    assert_eq!(batch["result"]["d"]["TITLE"], "Deal 1");

    let v3 = |token: &str| format!("{}/rest/api/1/{token}/tasks.task.list", host.server.base_url());
    let client = reqwest::Client::new();
    let answer = client
        .post(v3(&host.server.webhook_token))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 404);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(
        body["error"]["code"],
        "BITRIX_REST_V3_EXCEPTION_METHODNOTFOUNDEXCEPTION"
    );
    assert!(body["error"]["message"].as_str().unwrap().contains("REST 2"), "{body}");
    let refused = client.post(v3("wrong")).json(&json!({})).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "BITRIX_REST_V3_EXCEPTION_ACCESSDENIEDEXCEPTION");
}
