//! The admin board, as its users meet it: signing in over HTTP (sessions, cookies, CSRF), the
//! kanban board's columns and paging, and, in a real Chromium, the flows an admin goes through:
//! sign in, drag a deal, add a robot through its generated form, install a plugin after
//! reviewing it, and retry a failed run.

use reqwest::Method;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};
use stagewright_tests::browser::Browser;
use stagewright_tests::{TestHost, test_plugin};

/// A client that does not follow redirects, so the tests see the sign-in answers themselves.
fn http() -> reqwest::Client {
    stagewright_tests::http_client()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// A signed-in browser's cookie and CSRF token, as a script on a board page has them.
struct Session {
    cookie: String,
    csrf: String,
}

async fn sign_in(host: &TestHost, form: &[(&str, &str)]) -> reqwest::Response {
    http()
        .post(format!("{}/login", host.server.base_url()))
        .form(form)
        .send()
        .await
        .expect("sign in")
}

async fn session(host: &TestHost, form: &[(&str, &str)]) -> Session {
    let signed_in = host.board_session(form).await;
    Session {
        cookie: signed_in.cookie,
        csrf: signed_in.csrf,
    }
}

impl Session {
    async fn call(&self, host: &TestHost, method: Method, path: &str, body: Option<Value>, csrf: bool) -> (u16, Value) {
        let mut request = http()
            .request(method, format!("{}{path}", host.server.base_url()))
            .header(COOKIE, &self.cookie);
        if csrf {
            request = request.header("X-CSRF-Token", &self.csrf);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = request.send().await.unwrap();
        let status = answer.status().as_u16();
        let text = answer.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }
}

async fn set_password(host: &TestHost, user: i64, password: &str) -> u16 {
    let path = format!("/api/v1/users/{user}/password");
    host.admin(Method::PUT, &path, Some(json!({"password": password})))
        .await
        .0
}

#[tokio::test]
async fn a_user_signs_in_with_the_password_an_admin_set_and_the_session_needs_its_csrf_token() {
    let host = TestHost::start().await;
    let anna = host.add_user("anna").await;
    assert_eq!(
        set_password(&host, anna, "short").await,
        400,
        "too short a password is refused"
    );
    assert_eq!(
        sign_in(&host, &[("email", "anna@example.com"), ("password", "short")])
            .await
            .status(),
        401
    );
    assert_eq!(set_password(&host, anna, "correct horse battery").await, 204);

    let wrong = sign_in(&host, &[("email", "anna@example.com"), ("password", "wrong password")]).await;
    assert_eq!(wrong.status(), 401);
    assert!(
        wrong.headers().get(SET_COOKIE).is_none(),
        "no session for a wrong password"
    );
    assert!(wrong.text().await.unwrap().contains("The email or password is wrong."));

    let answer = sign_in(
        &host,
        &[("email", "ANNA@example.com"), ("password", "correct horse battery")],
    )
    .await;
    assert_eq!(answer.status(), 303);
    assert_eq!(answer.headers()[LOCATION], "/");
    let cookie = answer.headers()[SET_COOKIE].to_str().unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }

    let anna_session = session(
        &host,
        &[("email", "anna@example.com"), ("password", "correct horse battery")],
    )
    .await;
    let deal = host.add_deal("Office chairs").await;
    let update = json!({"id": deal, "fields": {"STAGE_ID": "PREPARATION"}});
    let (status, body) = anna_session
        .call(
            &host,
            Method::POST,
            "/rest/crm.deal.update.json",
            Some(update.clone()),
            false,
        )
        .await;
    assert_eq!((status, body["error"].as_str()), (403, Some("CSRF_TOKEN_MISSING")));
    assert_eq!(
        host.deal(deal).await["STAGE_ID"],
        "NEW",
        "a refused call changes nothing"
    );
    let (status, body) = anna_session
        .call(&host, Method::POST, "/rest/crm.deal.update.json", Some(update), true)
        .await;
    assert_eq!((status, &body["result"]), (200, &json!(true)));
    assert_eq!(host.deal(deal).await["STAGE_ID"], "PREPARATION");

    let (status, body) = anna_session.call(&host, Method::GET, "/api/v1/runs", None, true).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("ACCESS_DENIED")),
        "anna is no administrator"
    );
    let robots = "/api/v1/robots?entity_type=deal";
    let (status, body) = anna_session.call(&host, Method::GET, robots, None, true).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("ACCESS_DENIED")),
        "the Employee role sees no rules"
    );
    let plugins = http()
        .get(format!("{}/plugins", host.server.base_url()))
        .header(COOKIE, &anna_session.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(plugins.status(), 403);

    let admin = session(&host, &[("token", &host.server.admin_token)]).await;
    let (status, _) = admin.call(&host, Method::GET, "/api/v1/robots", None, false).await;
    assert_eq!(status, 200, "reading needs no CSRF token");
    let robot =
        json!({"entity_type": "deal", "stage_id": "WON", "plugin_id": "add-comment", "config": {"text": "won"}});
    let (status, _) = admin
        .call(&host, Method::POST, "/api/v1/robots", Some(robot.clone()), false)
        .await;
    assert_eq!(status, 403, "a change without the CSRF token is refused");
    let (status, _) = admin
        .call(&host, Method::POST, "/api/v1/robots", Some(robot), true)
        .await;
    assert_eq!(status, 201);

    let signed_out = http()
        .post(format!("{}/logout", host.server.base_url()))
        .header(COOKIE, &admin.cookie)
        .form(&[("csrf_token", admin.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_out.status(), 303);
    let (status, _) = admin.call(&host, Method::GET, "/api/v1/robots", None, false).await;
    assert_eq!(status, 401, "the session is over");
    let board = http()
        .get(format!("{}/board/deal/0", host.server.base_url()))
        .header(COOKIE, &admin.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        (board.status().as_u16(), &board.headers()[LOCATION]),
        (303, &"/login".parse().unwrap())
    );
}

#[tokio::test]
async fn each_column_shows_fifty_cards_its_count_and_amount_and_loads_the_rest_on_demand() {
    let host = TestHost::start().await;
    let commands: Vec<Value> = (1..=50)
        .map(|n| {
            json!(format!(
                "crm.deal.add?fields[TITLE]=Deal {n}&fields[OPPORTUNITY]=10&fields[STAGE_ID]=EXECUTING"
            ))
        })
        .collect();
    for _ in 0..3 {
        let cmd: serde_json::Map<String, Value> = commands
            .iter()
            .enumerate()
            .map(|(i, c)| (format!("c{i}"), c.clone()))
            .collect();
        host.ok("batch", json!({"cmd": cmd})).await;
    }
    host.ok(
        "crm.deal.add",
        json!({"fields": {"TITLE": "Special supply", "OPPORTUNITY": 99.5}}),
    )
    .await;
    let admin = session(&host, &[("token", &host.server.admin_token)]).await;
    let base = host.server.base_url();
    let page = |path: &'static str| {
        let (cookie, url) = (admin.cookie.clone(), format!("{base}{path}"));
        async move {
            let answer = http().get(url).header(COOKIE, cookie).send().await.unwrap();
            assert_eq!(answer.status(), 200, "{path}");
            answer.text().await.unwrap()
        }
    };
    let board = page("/board/deal/0").await;
    let executing = board.split(r#"data-stage="EXECUTING""#).nth(1).unwrap();
    let executing = executing.split(r#"<section class="column""#).next().unwrap();
    assert!(executing.contains(r#"title="Items">150<"#), "the count is of all 150");
    assert!(
        executing.contains(r#"title="Amount">1,500<"#),
        "the amount sums all 150"
    );
    assert_eq!(executing.matches(r#"<article class="card""#).count(), 50);
    assert!(executing.contains("Show 50 more"));
    let new = board.split(r#"data-stage="NEW""#).nth(1).unwrap();
    assert!(new.contains("Special supply") && new.contains("99.50"));

    let more = page("/board/deal/0/stage/EXECUTING?q=&responsible=&offset=100").await;
    assert_eq!(more.matches(r#"<article class="card""#).count(), 50);
    assert!(!more.contains("more</button>"), "the last page offers no more");
    assert!(
        more.contains(">Deal 50<") && !more.contains(">Deal 51<"),
        "oldest last: {more}"
    );

    let searched = page("/board/deal/0?q=special").await;
    assert_eq!(searched.matches(r#"<article class="card""#).count(), 1);
    assert!(searched.contains("Special supply"));
}

#[tokio::test]
async fn in_the_browser_an_admin_drags_a_deal_and_its_robot_comments_and_a_refused_move_snaps_back() {
    let host = TestHost::start().await;
    host.add_robot(
        "PREPARATION",
        "add-comment",
        json!({"text": "Documents needed for {=Document:TITLE}"}),
    )
    .await;
    let deal = host.add_deal("Laptops x40").await;
    host.add_deal("Printer fleet").await;
    let browser = Browser::open(&host).await;
    browser.sign_in_as_admin(&host).await;
    browser.goto("/board/deal/0").await;
    let card = format!(r#".card[data-id="{deal}"]"#);
    browser.find(&card).await;
    browser.screenshot("board").await;
    browser.resize(390, 844).await;
    browser.goto("/board/deal/0").await;
    browser.find(&card).await;
    browser.screenshot("board-phone").await;
    browser.resize(1280, 800).await;
    browser.goto("/board/deal/0").await;
    browser.find(&card).await;
    browser.drag(&card, r#".column[data-stage="PREPARATION"] .cards"#).await;
    browser
        .until(&format!(
            r#"document.querySelector('.column[data-stage="PREPARATION"] .card[data-id="{deal}"]:not(.saving)')"#
        ))
        .await;
    assert_eq!(host.deal(deal).await["STAGE_ID"], "PREPARATION");
    browser.goto(&format!("/items/deal/{deal}")).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let text = browser.find("ul.comments").await.text().await.unwrap();
        if text.contains("Documents needed for Laptops x40") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no comment on the item page: {text}"
        );
        browser.client.refresh().await.unwrap();
    }
    browser.screenshot("item").await;

    browser.goto("/board/deal/0").await;
    browser.find(&card).await;
    let stages = host
        .ok("crm.status.list", json!({"filter": {"ENTITY_ID": "DEAL_STAGE"}}))
        .await;
    let invoice = stages
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["STATUS_ID"] == "PREPAYMENT_INVOICE")
        .unwrap()["ID"]
        .clone();
    host.ok("crm.status.delete", json!({"id": invoice})).await;
    browser
        .drag(&card, r#".column[data-stage="PREPAYMENT_INVOICE"] .cards"#)
        .await;
    browser.until("document.querySelector('#toast .message.bad')").await;
    let message = browser.find("#toast .message.bad").await.text().await.unwrap();
    assert!(
        message.contains("PREPAYMENT_INVOICE"),
        "the API's error is shown: {message}"
    );
    browser
        .until(&format!(
            r#"document.querySelector('.column[data-stage="PREPARATION"] .card[data-id="{deal}"]:not(.saving)')"#
        ))
        .await;
    assert_eq!(
        host.deal(deal).await["STAGE_ID"],
        "PREPARATION",
        "the refused move changed nothing"
    );
    browser.close().await;
}

#[tokio::test]
async fn in_the_browser_an_admin_adds_a_robot_through_its_generated_form_and_it_runs() {
    let host = TestHost::start_with(|s| s.manual_clock = true).await;
    let browser = Browser::open(&host).await;
    browser.sign_in_as_admin(&host).await;
    browser.goto("/automation/deal/0").await;
    browser
        .find(r#"button[data-add-robot="NEW"]"#)
        .await
        .click()
        .await
        .unwrap();
    let dialog = browser.find("dialog[open]").await;
    dialog
        .find(fantoccini::Locator::Css("select[name=plugin_id]"))
        .await
        .unwrap()
        .select_by_value("add-comment")
        .await
        .unwrap();
    browser.find(r#"dialog [data-path="/text"] label"#).await;
    let label = browser
        .find(r#"dialog [data-path="/text"] label"#)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        label.starts_with("Comment"),
        "the field's title from the schema: {label}"
    );
    browser.find("dialog button[type=submit]").await.click().await.unwrap();
    browser
        .until(r#"document.querySelector('dialog [data-path="/text"]').classList.contains('has-error')"#)
        .await;
    let error = browser
        .find(r#"dialog [data-path="/text"] .field-error"#)
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(error, "This field is required.", "the API's refusal shown at its field");
    assert_eq!(
        host.admin(Method::GET, "/api/v1/robots", None).await.1["robots"],
        json!([])
    );

    let text = browser.find(r#"dialog [data-path="/text"] input"#).await;
    text.send_keys("Welcome, ").await.unwrap();
    browser
        .find(r#"dialog [data-path="/text"] .picker button"#)
        .await
        .click()
        .await
        .unwrap();
    browser.screenshot("robot-editor").await;
    browser
        .find(r#"dialog [data-template="{=Document:TITLE}"]"#)
        .await
        .click()
        .await
        .unwrap();
    browser
        .find("dialog select[name='timing.kind']")
        .await
        .select_by_value("delay")
        .await
        .unwrap();
    let amount = browser.find("dialog input[name='timing.value']").await;
    amount.clear().await.unwrap();
    amount.send_keys("2").await.unwrap();
    browser
        .find("dialog select[name='timing.unit']")
        .await
        .select_by_value("hours")
        .await
        .unwrap();
    browser.find("dialog button[type=submit]").await.click().await.unwrap();
    browser.find("li.robot").await;
    let card = browser.find("li.robot").await.text().await.unwrap();
    assert!(card.contains("Add comment") && card.contains("after 2 hours"), "{card}");
    browser.screenshot("automation").await;

    let robots = host.admin(Method::GET, "/api/v1/robots", None).await.1;
    let robot = &robots["robots"][0];
    assert_eq!(robot["config"], json!({"text": "Welcome, {=Document:TITLE}"}));
    assert_eq!(robot["timing"], json!({"kind": "delay", "value": 2, "unit": "hours"}));
    let deal = host.add_deal("Cloud migration").await;
    assert!(host.comments(deal).await.is_empty(), "due in 2 hours, not yet");
    host.advance_clock(2 * 3_600_000).await;
    host.finished_run(deal, robot["id"].as_str().unwrap()).await;
    assert_eq!(host.comments(deal).await, ["Welcome, Cloud migration"]);

    browser.goto("/test").await;
    browser
        .find("#simulate select[name=stage]")
        .await
        .select_by_value("deal/NEW")
        .await
        .unwrap();
    browser
        .find("#simulate input[name=item_id]")
        .await
        .send_keys(&deal.to_string())
        .await
        .unwrap();
    browser
        .find("#simulate button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    let simulated = browser.find("#simulation table").await.text().await.unwrap();
    assert!(
        simulated.contains("Welcome, Cloud migration"),
        "the settings resolved for the item: {simulated}"
    );
    browser.screenshot("test-mode").await;
    browser.close().await;
}

#[tokio::test]
async fn in_the_browser_an_admin_puts_a_bitrix24_apps_robot_on_a_stage_through_the_form_its_properties_made() {
    let host = TestHost::start().await;
    let registration = json!({
        "CODE": "quote", "HANDLER": "https://quotes.example.com/robot", "NAME": "Prepare a quote",
        "PROPERTIES": {
            "format": {"Name": "Document type", "Type": "select", "Options": {"pdf": "PDF", "docx": "Word"}, "Default": "pdf"},
            "amount": {"Name": "Amount", "Description": "What the quote is for", "Type": "double", "Required": "Y"},
            "urgent": {"Name": "Urgent", "Type": "bool"}
        },
        "RETURN_PROPERTIES": {"quote_id": {"Name": "Quote", "Type": "string"}}
    });
    assert_eq!(host.ok("bizproc.robot.add", registration).await, true);
    let browser = Browser::open(&host).await;
    browser.sign_in_as_admin(&host).await;
    browser.goto("/automation/deal/0").await;
    browser
        .find(r#"button[data-add-robot="NEW"]"#)
        .await
        .click()
        .await
        .unwrap();
    let dialog = browser.find("dialog[open]").await;
    dialog
        .find(fantoccini::Locator::Css("select[name=plugin_id]"))
        .await
        .unwrap()
        .select_by_value("app:quote")
        .await
        .unwrap();
    let options = browser
        .find(r#"dialog [data-path="/format"] select"#)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        options.contains("PDF") && options.contains("Word"),
        "the options' titles: {options}"
    );
    let amount = browser.find(r#"dialog [data-path="/amount"] input"#).await;
    amount.send_keys("{=Document:OPPORTUNITY}").await.unwrap();
    browser
        .find(r#"dialog [data-path="/urgent"] input[type=checkbox]"#)
        .await
        .click()
        .await
        .unwrap();
    browser.screenshot("app-robot-editor").await;
    browser.find("dialog button[type=submit]").await.click().await.unwrap();
    browser.find("li.robot").await;
    let card = browser.find("li.robot").await.text().await.unwrap();
    assert!(card.contains("Prepare a quote"), "{card}");
    let robots = host.admin(Method::GET, "/api/v1/robots", None).await.1["robots"].clone();
    assert_eq!(robots[0]["plugin_id"], "app:quote");
    assert_eq!(
        robots[0]["config"],
        json!({"format": "pdf", "amount": "{=Document:OPPORTUNITY}", "urgent": true, "timeout_duration": 86400})
    );
    browser.goto("/plugins").await;
    let row = browser
        .find(r#"tr[data-plugin="app:quote"]"#)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        row.contains("a Bitrix24 app's robot") && row.contains("calls quotes.example.com over HTTP"),
        "{row}"
    );
}

#[tokio::test]
async fn in_the_browser_an_admin_reviews_a_plugins_capabilities_before_installing_it() {
    let host = TestHost::start().await;
    let wasm = tempfile::Builder::new().suffix(".wasm").tempfile().unwrap();
    std::fs::write(wasm.path(), test_plugin("misbehave")).unwrap();
    let browser = Browser::open(&host).await;
    browser.sign_in_as_admin(&host).await;
    browser.goto("/plugins").await;
    browser
        .find("#plugin-file")
        .await
        .send_keys(wasm.path().to_str().unwrap())
        .await
        .unwrap();
    let review = browser.find("#plugin-review .review").await.text().await.unwrap();
    assert!(
        review.contains("misbehave 1.0.0") && review.contains("writes deals"),
        "{review}"
    );
    browser.screenshot("plugin-review").await;
    let installed = |plugins: Value| {
        plugins["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["manifest"]["id"] == "misbehave")
    };
    assert!(
        !installed(host.admin(Method::GET, "/api/v1/plugins", None).await.1),
        "nothing installed before confirming"
    );
    browser
        .find("#plugin-review button.primary")
        .await
        .click()
        .await
        .unwrap();
    browser.find(r#"tr[data-plugin="misbehave"]"#).await;
    assert!(installed(host.admin(Method::GET, "/api/v1/plugins", None).await.1));
    browser.screenshot("plugins").await;
    browser.close().await;
}

#[tokio::test]
async fn in_the_browser_an_admin_opens_a_failed_run_and_retries_it() {
    let host = TestHost::start().await;
    let robot = host
        .add_robot(
            "NEW",
            "add-comment",
            json!({"text": "For {=Document:COMPANY_ID.TITLE}"}),
        )
        .await;
    let deal = host.add_deal("Security audit").await;
    let run = host.finished_run(deal, &robot).await;
    assert_eq!(run["status"], "failed", "no company to name yet: {run}");
    let company = host.ok("crm.company.add", json!({"fields": {"TITLE": "Globex"}})).await;
    host.ok(
        "crm.deal.update",
        json!({"id": deal, "fields": {"COMPANY_ID": company}}),
    )
    .await;

    let browser = Browser::open(&host).await;
    browser.sign_in_as_admin(&host).await;
    browser.goto("/runs").await;
    browser.find("nav.quick a.failed").await.click().await.unwrap();
    browser
        .find(&format!(r#"a[href="/runs/{}"]"#, run["id"].as_str().unwrap()))
        .await
        .click()
        .await
        .unwrap();
    let error = browser.find(".run-error").await.text().await.unwrap();
    assert!(error.contains("COMPANY_ID"), "the run's error: {error}");
    browser.screenshot("run").await;
    browser.find("button[data-retry]").await.click().await.unwrap();
    browser
        .until("!document.querySelector('.run-error') || document.querySelector('.status-pending, .status-succeeded')")
        .await;
    let retried = host.finished_run(deal, &robot).await;
    assert_eq!(retried["status"], "succeeded", "{retried}");
    assert_eq!(host.comments(deal).await, ["For Globex"]);
    browser.goto("/runs").await;
    browser.find("table.runs .status-succeeded").await;
    browser.screenshot("runs").await;
    browser.close().await;
}

#[tokio::test]
async fn in_the_browser_a_user_whose_role_reads_automation_rules_sees_no_edit_controls_and_the_api_refuses() {
    let host = TestHost::start().await;
    host.add_robot("NEW", "add-comment", json!({"text": "hello"})).await;
    let viewer = host.add_user("rita").await;
    assert_eq!(set_password(&host, viewer, "a long password").await, 204);
    let role = json!({"name": "Deal watcher", "permissions": {"deal": {"read": "all", "automation": "read"}}});
    let (status, role) = host.admin(Method::POST, "/api/v1/roles", Some(role)).await;
    assert_eq!(status, 201);
    let path = format!("/api/v1/users/{viewer}/roles");
    host.admin(Method::PUT, &path, Some(json!({"role_ids": [role["id"]]})))
        .await;

    let admin = Browser::open(&host).await;
    admin.sign_in_as_admin(&host).await;
    admin.goto("/roles").await;
    admin
        .find(r#"form[data-role] tr[data-type="deal"] select[name=automation]"#)
        .await;
    admin.screenshot("roles").await;
    let role_id = role["id"].as_i64().unwrap();
    let form = format!(r#"form[data-role="{role_id}"]"#);
    admin
        .script(
            "document.querySelector(arguments[0] + ' tr[data-type=\"lead\"] select[name=read]').value = 'own';",
            vec![json!(form)],
        )
        .await;
    admin
        .find(&format!("{form} button[type=submit]"))
        .await
        .click()
        .await
        .unwrap();
    admin
        .until("document.querySelector('#toast').textContent.includes('Saved')")
        .await;
    let (_, roles) = host.admin(Method::GET, "/api/v1/roles", None).await;
    let saved = roles["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == role_id)
        .unwrap();
    assert_eq!(
        saved["permissions"]["lead"]["read"], "own",
        "saved from the page: {saved}"
    );
    admin.close().await;

    let browser = Browser::open(&host).await;
    browser.sign_in("rita@example.com", "a long password").await;
    browser.goto("/automation/deal/0").await;
    browser.find("li.robot").await;
    assert!(
        browser
            .all("button[data-add-robot], button[data-edit-robot], button[data-delete-robot]")
            .await
            .is_empty()
    );
    assert!(browser.find("p.notice").await.text().await.unwrap().contains("read"));
    let nav = browser.find("header.topbar nav").await.text().await.unwrap();
    assert!(
        !nav.contains("Plugins") && !nav.contains("Runs"),
        "admin pages are not offered: {nav}"
    );
    browser.screenshot("automation-read-only").await;
    let refused = browser
        .client
        .execute_async(
            r#"const done = arguments[0];
               Board.api("POST", "/api/v1/robots", {entity_type: "deal", stage_id: "NEW", plugin_id: "add-comment", config: {text: "x"}})
                 .then(() => done("created"), (e) => done(`${e.status} ${e.code}`));"#,
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(refused, json!("403 ACCESS_DENIED"));
    assert_eq!(
        host.admin(Method::GET, "/api/v1/robots", None).await.1["robots"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    browser.close().await;
}

#[tokio::test]
async fn in_the_browser_an_admin_reads_the_pipeline_report_and_turns_repeat_marking_off() {
    let host = TestHost::start().await;
    let contact = host.ok("crm.contact.add", json!({"fields": {"NAME": "Nora"}})).await;
    let deal = |title: &str| json!({"fields": {"TITLE": title, "CONTACT_ID": contact}});
    let first = host.ok("crm.deal.add", deal("First order")).await.as_i64().unwrap();
    host.move_deal(first, "WON").await;
    let repeat = host.ok("crm.deal.add", deal("Second order")).await.as_i64().unwrap();
    assert_eq!(host.deal(repeat).await["IS_RETURN_CUSTOMER"], "Y");
    let lost = host.add_deal("Lost one").await;
    host.move_deal(lost, "LOSE").await;

    let browser = Browser::open(&host).await;
    browser.sign_in_as_admin(&host).await;
    browser
        .find(r#"header.topbar a[href="/repeat-sales"]"#)
        .await
        .click()
        .await
        .unwrap();
    browser.find("dl.figures").await;
    let figures = browser
        .script(
            "return [...document.querySelectorAll('dl.figures div')].map(d => [d.querySelector('dt').textContent, d.querySelector('dd').textContent]);",
            vec![],
        )
        .await;
    assert_eq!(
        figures,
        json!([
            ["Created", "3"],
            ["Moved in", "0"],
            ["Won", "1"],
            ["Lost", "1"],
            ["Conversion", "50 %"],
            ["Repeat deals", "1 (33 %)"]
        ])
    );
    let first_stage = browser
        .script(
            "return [...document.querySelector('table.report tbody tr').children].map(c => c.textContent.trim());",
            vec![],
        )
        .await;
    assert_eq!(
        first_stage,
        json!(["New", "3", "1"]),
        "three deals entered New, one is still there"
    );
    browser.screenshot("repeat-sales").await;

    browser
        .script(
            "const f = document.querySelector('form[data-new-rule]').elements;
             f.stage.value = 'deal|LOSE'; f.after_days.value = '14'; f.max_count.value = '2'; f.notify.checked = true;",
            vec![],
        )
        .await;
    browser
        .find("form[data-new-rule] button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    let row = browser.find("table.return-rules tbody tr").await.text().await.unwrap();
    assert!(
        row.contains("Reactivation") && row.contains("Deal lost") && row.contains("after 14 days"),
        "{row}"
    );
    let (_, rules) = host.admin(Method::GET, "/api/v1/return-rules", None).await;
    let rule = &rules["rules"][0];
    assert_eq!(
        (
            &rule["kind"],
            &rule["stage_id"],
            &rule["after_days"],
            &rule["max_count"],
            &rule["notify_supervisor"]
        ),
        (
            &json!("reactivation"),
            &json!("LOSE"),
            &json!(14),
            &json!(2),
            &json!(true)
        ),
        "{rules}"
    );
    browser.screenshot("return-rules").await;
    browser.script("window.confirm = () => true;", vec![]).await;
    browser.find("button[data-delete-rule]").await.click().await.unwrap();
    browser.find("p.no-rules").await;
    let (_, rules) = host.admin(Method::GET, "/api/v1/return-rules", None).await;
    assert_eq!(rules, json!({"rules": []}), "deleted from the page");

    browser
        .script(
            "const f = document.querySelector('form[data-new-segment]').elements;
             f.name.value = 'Bought a year ago'; f.kind.value = 'won_ago'; f.days.value = '365';
             f.window_days.value = '14'; f.notify.checked = true;",
            vec![],
        )
        .await;
    browser
        .find("form[data-new-segment] button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    let row = browser.find("table.segments tbody tr").await.text().await.unwrap();
    assert!(
        row.contains("Bought a year ago") && row.contains("last deal won 365–379 days ago"),
        "{row}"
    );
    let (_, listed) = host.admin(Method::GET, "/api/v1/repeat-sales/segments", None).await;
    let segment = &listed["segments"][0];
    assert_eq!(
        (
            &segment["kind"],
            &segment["days"],
            &segment["window_days"],
            &segment["notify_manager"],
            &segment["enabled"]
        ),
        (&json!("won_ago"), &json!(365), &json!(14), &json!(true), &json!(true)),
        "{listed}"
    );
    browser.screenshot("segments").await;
    browser.find("input[data-toggle-segment]").await.click().await.unwrap();
    browser
        .until("document.querySelector('#toast').textContent.includes('Bought a year ago is off')")
        .await;
    let (_, listed) = host.admin(Method::GET, "/api/v1/repeat-sales/segments", None).await;
    assert_eq!(listed["segments"][0]["enabled"], false, "switched off from the page");
    browser.script("window.confirm = () => true;", vec![]).await;
    browser.find("button[data-delete-segment]").await.click().await.unwrap();
    browser.find("p.no-segments").await;
    let (_, listed) = host.admin(Method::GET, "/api/v1/repeat-sales/segments", None).await;
    assert_eq!(listed, json!({"segments": []}), "deleted from the page");

    browser
        .find("form[data-repeat-sales] input[name=enabled]")
        .await
        .click()
        .await
        .unwrap();
    browser
        .find("form[data-repeat-sales] button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    browser
        .until("document.querySelector('#toast').textContent.includes('off')")
        .await;
    let (_, mode) = host.admin(Method::GET, "/api/v1/repeat-sales", None).await;
    assert_eq!(mode, json!({"enabled": false, "simple_crm": false}));
    let third = host.ok("crm.deal.add", deal("Third order")).await.as_i64().unwrap();
    assert_eq!(host.deal(third).await["IS_RETURN_CUSTOMER"], "N", "marking is off");
    browser.goto("/repeat-sales").await;
    let checked = browser
        .script(
            "return document.querySelector('form[data-repeat-sales] input[name=enabled]').checked;",
            vec![],
        )
        .await;
    assert_eq!(checked, json!(false), "the page shows the saved mode");
    browser.close().await;
}

#[tokio::test]
async fn in_the_browser_an_admin_downloads_the_configuration_and_imports_a_file_after_reviewing_it() {
    let host = TestHost::start().await;
    let kept = host.add_robot("NEW", "add-comment", json!({"text": "kept"})).await;
    let dropped = host.add_robot("WON", "add-comment", json!({"text": "dropped"})).await;
    let (_, mut file) = host.admin(Method::GET, "/api/v1/config", None).await;
    file["robots"]
        .as_array_mut()
        .unwrap()
        .retain(|r| r["id"] == kept.as_str());
    let path = tempfile::Builder::new().suffix(".json").tempfile().unwrap();
    std::fs::write(path.path(), file.to_string()).unwrap();

    let browser = Browser::open(&host).await;
    browser.sign_in_as_admin(&host).await;
    browser.goto("/configuration").await;
    let summary = browser.find("#config-summary").await.text().await.unwrap();
    assert!(summary.contains("2 robots"), "{summary}");
    let downloaded = browser
        .script(
            "return fetch(document.getElementById('config-download').href).then((r) => r.json())",
            vec![],
        )
        .await;
    assert_eq!(
        downloaded["format"], "stagewright-config/1",
        "the link serves the file to the signed-in admin"
    );
    browser
        .find("#config-file")
        .await
        .send_keys(path.path().to_str().unwrap())
        .await
        .unwrap();
    let review = browser.find("#config-review .review").await.text().await.unwrap();
    assert!(review.contains(&format!("Delete robot {dropped}")), "{review}");
    let (_, robots) = host.admin(Method::GET, "/api/v1/robots", None).await;
    assert_eq!(
        robots["robots"].as_array().unwrap().len(),
        2,
        "nothing changed before confirming"
    );
    browser.screenshot("configuration").await;
    browser
        .find("#config-review button.primary")
        .await
        .click()
        .await
        .unwrap();
    browser
        .until("document.getElementById('config-summary').textContent.includes('1 robot,')")
        .await;
    let (_, robots) = host.admin(Method::GET, "/api/v1/robots", None).await;
    let ids: Vec<&str> = robots["robots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [kept.as_str()]);
    browser.close().await;
}
