//! Email from robots through the outbox to a real SMTP server the test starts: the seed scenario
//! (a deal drives its contract through a smart process and the invoice email carries the
//! contract's number and amount), retries when the server is busy, and clear failures.

use reqwest::Method;
use serde_json::{Value, json};
use stagewright_tests::TestHost;
use stagewright_tests::smtp::MailServer;

async fn host_with_mail(mail: &MailServer) -> TestHost {
    let url = mail.url();
    TestHost::start_with(move |s| {
        s.manual_clock = true;
        s.mail.smtp_url = Some(url);
        s.mail.from = "Sales <sales@example.com>".into();
    })
    .await
}

async fn outbox(host: &TestHost, query: &str) -> Vec<Value> {
    let (status, body) = host.admin(Method::GET, &format!("/api/v1/outbox{query}"), None).await;
    assert_eq!(status, 200, "{body}");
    body["messages"].as_array().unwrap().clone()
}

/// Waits (up to 30 s) until the outbox entry has `status` after `attempts` delivery attempts.
async fn outbox_entry(host: &TestHost, id: &str, status: &str, attempts: i64) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let entry = outbox(host, "").await.into_iter().find(|m| m["id"] == id);
        if let Some(entry) = entry.filter(|m| m["status"] == status && m["attempts"] == attempts) {
            return entry;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "message {id} never became {status} after {attempts} attempts"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn client(host: &TestHost, email: &str) -> i64 {
    host.ok(
        "crm.contact.add",
        json!({"fields": {"NAME": "Carol", "EMAIL": [{"VALUE": email}]}}),
    )
    .await
    .as_i64()
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_scenario_emails_the_client_the_contract_number_and_amount() {
    let mail = MailServer::start();
    let host = host_with_mail(&mail).await;
    let spa = host.ok("crm.type.add", json!({"fields": {"title": "Contracts"}})).await["type"].clone();
    let type_id = spa["entityTypeId"].as_i64().unwrap();
    let category = host.ok("crm.category.list", json!({"entityTypeId": type_id})).await["categories"][0]["id"]
        .as_i64()
        .unwrap();
    let stage = |s: &str| format!("DT{type_id}_{category}:{s}");
    host.ok(
        "crm.status.add",
        json!({"fields": {"ENTITY_ID": "DEAL_STAGE", "STATUS_ID": "CONTRACT", "NAME": "Contract signing", "SORT": 35}}),
    )
    .await;
    let find = json!({"TITLE": "Contract for deal {=Document:ID}"});
    host.add_robot(
        "CONTRACT",
        "create-spa-item",
        json!({"entity_type_id": type_id, "title": "Contract for deal {=Document:ID}", "stage_id": stage("PREPARATION"), "opportunity": "{=Document:OPPORTUNITY}"}),
    )
    .await;
    let get = host
        .add_robot(
            "FINAL_INVOICE",
            "get-spa-item",
            json!({"entity_type_id": type_id, "filter": find, "select": ["OPPORTUNITY"]}),
        )
        .await;
    let send = host
        .add_robot_with(
            "FINAL_INVOICE",
            "send-email",
            json!({"subject": "Invoice for contract {={get}:ID}".replace("{get}", &get),
                   "body": "Dear {=Document:CONTACT_ID.NAME}, please pay {={get}:OPPORTUNITY} for contract {={get}:ID}.".replace("{get}", &get)}),
            json!({"after_previous": true}),
        )
        .await;
    host.add_robot(
        "WON",
        "edit-spa-item",
        json!({"entity_type_id": type_id, "filter": find, "fields": {"STAGE_ID": stage("SUCCESS")}}),
    )
    .await;

    let carol = client(&host, "carol@client.example").await;
    let deal = host
        .ok(
            "crm.deal.add",
            json!({"fields": {"TITLE": "Office fit-out", "OPPORTUNITY": 4200, "CONTACT_ID": carol}}),
        )
        .await
        .as_i64()
        .unwrap();
    host.move_deal(deal, "CONTRACT").await;
    host.finished_runs(deal, 1).await;
    let contracts = host.ok("crm.item.list", json!({"entityTypeId": type_id})).await["items"].clone();
    let contract = contracts[0].clone();
    assert_eq!(contract["stageId"], stage("PREPARATION"));
    let number = contract["id"].as_i64().unwrap();

    host.move_deal(deal, "FINAL_INVOICE").await;
    let sent = host.finished_run(deal, &send).await;
    assert_eq!(sent["status"], "succeeded", "{sent}");
    let message_id = sent["return_values"]["message_id"].as_str().unwrap().to_string();
    let received = mail.wait_for(1).await;
    let email = &received[0];
    assert_eq!(email.to, ["carol@client.example"]);
    assert_eq!(email.from, "sales@example.com");
    assert_eq!(
        email.header("Subject").unwrap(),
        format!("Invoice for contract {number}")
    );
    assert_eq!(
        email.header("Message-ID").unwrap(),
        format!("<{message_id}@stagewright>")
    );
    assert!(
        email
            .data
            .contains(&format!("Dear Carol, please pay 4200.00 for contract {number}.")),
        "{}",
        email.data
    );
    let entry = outbox_entry(&host, &message_id, "sent", 1).await;
    assert_eq!(entry["run_id"], sent["id"]);

    host.move_deal(deal, "WON").await;
    host.finished_runs(deal, 4).await;
    let contract = host
        .ok("crm.item.get", json!({"entityTypeId": type_id, "id": number}))
        .await["item"]
        .clone();
    assert_eq!(contract["stageId"], stage("SUCCESS"));
    assert_eq!(mail.received().len(), 1, "one email, however the run went");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_mail_server_gets_the_message_again_later_and_bad_recipients_fail_the_run() {
    let mail = MailServer::start();
    let host = host_with_mail(&mail).await;
    let send = host
        .add_robot(
            "NEW",
            "send-email",
            json!({"subject": "Welcome", "body": "Hello {=Document:TITLE}"}),
        )
        .await;
    mail.refuse_next(1);
    let carol = client(&host, "carol@client.example").await;
    let deal = host
        .ok(
            "crm.deal.add",
            json!({"fields": {"TITLE": "Acme", "CONTACT_ID": carol}}),
        )
        .await
        .as_i64()
        .unwrap();
    let run = host.finished_run(deal, &send).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let id = run["return_values"]["message_id"].as_str().unwrap().to_string();
    let waiting = outbox_entry(&host, &id, "queued", 1).await;
    assert!(waiting["last_error"].as_str().unwrap().contains("451"), "{waiting}");
    assert!(mail.received().is_empty());

    host.advance_clock(30_000).await;
    let received = mail.wait_for(1).await;
    assert!(received[0].data.contains("Hello Acme"), "{}", received[0].data);
    let sent = outbox_entry(&host, &id, "sent", 2).await;
    assert!(sent["sent_at"].is_i64(), "{sent}");

    let nobody = host.add_deal("No client").await;
    let failed = host.finished_run(nobody, &send).await;
    assert_eq!(failed["status"], "failed");
    assert!(
        failed["error"].as_str().unwrap().contains("no email address"),
        "{failed}"
    );

    let bad = host
        .add_robot(
            "PREPARATION",
            "send-email",
            json!({"to": "address", "addresses": ["not an address"], "subject": "x", "body": "y"}),
        )
        .await;
    host.move_deal(nobody, "PREPARATION").await;
    let failed = host.finished_run(nobody, &bad).await;
    assert_eq!(failed["status"], "failed");
    assert!(
        failed["error"].as_str().unwrap().contains("not an email address"),
        "{failed}"
    );
    assert_eq!(outbox(&host, "").await.len(), 1, "failed runs queue nothing");
    assert_eq!(outbox(&host, "?status=sent").await.len(), 1);

    let robot =
        json!({"entity_type": "deal", "stage_id": "NEW", "plugin_id": "send-email", "config": {"subject": "x"}});
    let (status, body) = host.admin(Method::POST, "/api/v1/robots", Some(robot)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error_description"].as_str().unwrap().contains("body"), "{body}");
}
