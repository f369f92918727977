//! Access permissions through HTTP and the board: every role level (none, own, department, all)
//! of every item action (read, add, update, delete) on every entity type (leads, deals,
//! contacts, companies, a smart process), and every automation-rules level (none, read,
//! update) on every type with stages. A user acts through their webhook, or through the board
//! signed in with a password; each cell is checked against the items of the user, a colleague
//! in the same department and someone in another department.

use reqwest::Method;
use reqwest::header::COOKIE;
use serde_json::{Value, json};
use stagewright_tests::TestHost;

/// One entity type as REST names it.
struct Kind {
    /// The role's key and the admin API's entity_type.
    key: String,
    /// `crm.deal` for the classic methods; `None` for crm.item.* with this entityTypeId.
    classic: Option<&'static str>,
    type_id: i64,
}

impl Kind {
    /// The field that names an item: contacts have a NAME, the others a TITLE.
    fn name_field(&self) -> &'static str {
        if self.key == "contact" { "NAME" } else { "TITLE" }
    }

    fn call(&self, action: &str, mut params: Value) -> (String, Value) {
        if let Some(title) = params
            .pointer_mut("/fields")
            .and_then(|f| f.as_object_mut())
            .and_then(|f| f.remove("TITLE"))
        {
            params["fields"][self.name_field()] = title;
        }
        match self.classic {
            Some(prefix) => (format!("{prefix}.{action}"), params),
            None => {
                params["entityTypeId"] = json!(self.type_id);
                if let Some(fields) = params.get_mut("fields") {
                    let upper = fields.as_object().cloned().unwrap_or_default();
                    *fields = upper
                        .into_iter()
                        .map(|(k, v)| {
                            (
                                if k == "ASSIGNED_BY_ID" {
                                    "assignedById".into()
                                } else {
                                    k.to_lowercase()
                                },
                                v,
                            )
                        })
                        .collect();
                }
                (format!("crm.item.{action}"), params)
            }
        }
    }
}

/// The cast: the user under test, a colleague in the same department, and an outsider.
struct Cast {
    user: i64,
    colleague: i64,
    outsider: i64,
    webhook: String,
}

const LEVELS: [&str; 4] = ["none", "own", "department", "all"];

fn allowed(level: &str, cast: &Cast, responsible: i64) -> bool {
    match level {
        "own" => responsible == cast.user,
        "department" => responsible == cast.user || responsible == cast.colleague,
        "all" => true,
        _ => false,
    }
}

async fn give_role(host: &TestHost, cast: &Cast, name: &str, permissions: Value) {
    let (status, role) = host
        .admin(
            Method::POST,
            "/api/v1/roles",
            Some(json!({"name": name, "permissions": permissions})),
        )
        .await;
    assert_eq!(status, 201, "{role}");
    let path = format!("/api/v1/users/{}/roles", cast.user);
    let (status, body) = host
        .admin(Method::PUT, &path, Some(json!({"role_ids": [role["id"]]})))
        .await;
    assert_eq!(status, 200, "{body}");
}

async fn add_as_admin(host: &TestHost, kind: &Kind, title: &str, responsible: i64) -> i64 {
    let (method, params) = kind.call(
        "add",
        json!({"fields": {"TITLE": title, "ASSIGNED_BY_ID": responsible}}),
    );
    let result = host.ok(&method, params).await;
    result
        .as_i64()
        .or_else(|| result["item"]["id"].as_i64())
        .expect("new id")
}

async fn cast(host: &TestHost) -> Cast {
    let sales = host.ok("department.add", json!({"NAME": "Sales", "PARENT": 1})).await;
    let support = host.ok("department.add", json!({"NAME": "Support", "PARENT": 1})).await;
    let mut ids = Vec::new();
    for (name, department) in [("ulla", &sales), ("vera", &sales), ("wim", &support)] {
        let user = json!({"EMAIL": format!("{name}@example.com"), "NAME": name, "UF_DEPARTMENT": [department]});
        ids.push(host.ok("user.add", user).await.as_i64().unwrap());
    }
    let (status, hook) = host
        .admin(Method::POST, "/api/v1/webhooks", Some(json!({"user_id": ids[0]})))
        .await;
    assert_eq!(status, 201);
    Cast {
        user: ids[0],
        colleague: ids[1],
        outsider: ids[2],
        webhook: hook["path"].as_str().unwrap().to_string(),
    }
}

async fn kinds(host: &TestHost) -> Vec<Kind> {
    let spa = host.ok("crm.type.add", json!({"fields": {"title": "Contracts"}})).await;
    let spa_id = spa["type"]["entityTypeId"].as_i64().unwrap();
    let mut kinds: Vec<Kind> = [("lead", 1), ("deal", 2), ("contact", 3), ("company", 4)]
        .into_iter()
        .map(|(key, type_id)| Kind {
            key: key.into(),
            classic: Some(match key {
                "lead" => "crm.lead",
                "deal" => "crm.deal",
                "contact" => "crm.contact",
                _ => "crm.company",
            }),
            type_id,
        })
        .collect();
    kinds.push(Kind {
        key: format!("dynamic_{spa_id}"),
        classic: None,
        type_id: spa_id,
    });
    kinds
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_level_of_every_item_action_on_every_entity_type_is_enforced() {
    let host = TestHost::start().await;
    let cast = cast(&host).await;
    let kinds = kinds(&host).await;
    let people = [cast.user, cast.colleague, cast.outsider];
    let mut wrong = Vec::new();
    let mut cells = 0;
    for kind in &kinds {
        let mut existing = Vec::new();
        for person in people {
            existing.push((person, add_as_admin(&host, kind, &format!("of {person}"), person).await));
        }
        for action in ["read", "add", "update", "delete"] {
            for level in LEVELS {
                let role = format!("{} {action} {level}", kind.key);
                give_role(&host, &cast, &role, json!({kind.key.clone(): {action: level}})).await;
                for (index, person) in people.into_iter().enumerate() {
                    let expected = allowed(level, &cast, person);
                    let (status, detail) = match action {
                        "read" => {
                            let (method, params) = kind.call("get", json!({"id": existing[index].1}));
                            let (status, body) = host.rest_via(&cast.webhook, &method, params).await;
                            (status, body)
                        }
                        "add" => {
                            let params = json!({"fields": {"TITLE": "new", "ASSIGNED_BY_ID": person}});
                            let (method, params) = kind.call("add", params);
                            host.rest_via(&cast.webhook, &method, params).await
                        }
                        "update" => {
                            let params =
                                json!({"id": existing[index].1, "fields": {"TITLE": format!("changed by {role}")}});
                            let (method, params) = kind.call("update", params);
                            host.rest_via(&cast.webhook, &method, params).await
                        }
                        _ => {
                            let target = add_as_admin(&host, kind, "to delete", person).await;
                            let (method, params) = kind.call("delete", json!({"id": target}));
                            let answer = host.rest_via(&cast.webhook, &method, params).await;
                            let (method, params) = kind.call("get", json!({"id": target}));
                            let still_there = host.rest(&method, params).await.0 == 200;
                            if still_there == expected {
                                wrong.push(format!("{role} on {person}'s item: deleted {}", !still_there));
                            }
                            answer
                        }
                    };
                    cells += 1;
                    let denied = status == 403 && detail["error"] == "ACCESS_DENIED";
                    if (status == 200) != expected || (!expected && !denied) {
                        wrong.push(format!("{role} on {person}'s item: {status} {detail}"));
                    }
                }
                if action == "read" {
                    // Reading comes first: the type holds only the three items yet.
                    let (method, params) = kind.call("list", json!({}));
                    let (status, body) = host.rest_via(&cast.webhook, &method, params).await;
                    let visible = people.iter().filter(|p| allowed(level, &cast, **p)).count();
                    let listed = body["result"]
                        .as_array()
                        .or_else(|| body["result"]["items"].as_array())
                        .map(Vec::len);
                    let expected = if level == "none" {
                        (403, None)
                    } else {
                        (200, Some(visible))
                    };
                    if (status, listed) != expected {
                        wrong.push(format!(
                            "{role}: list answered {status} with {listed:?} items, not {expected:?}"
                        ));
                    }
                }
            }
        }
    }
    assert_eq!(cells, 5 * 4 * 4 * 3);
    assert!(
        wrong.is_empty(),
        "{} of {cells} cells wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// Signs a user in to the board with a password; answers the cookie and the page's CSRF token.
async fn board_session(host: &TestHost, user: i64, email: &str) -> (String, String) {
    let path = format!("/api/v1/users/{user}/password");
    host.admin(Method::PUT, &path, Some(json!({"password": "a long password"})))
        .await;
    let session = host
        .board_session(&[("email", email), ("password", "a long password")])
        .await;
    (session.cookie, session.csrf)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automation_rules_are_hidden_read_only_or_editable_as_the_role_says_on_the_api_and_the_board() {
    let host = TestHost::start().await;
    let cast = cast(&host).await;
    let kinds = kinds(&host).await;
    let (cookie, csrf) = board_session(&host, cast.user, "ulla@example.com").await;
    let http = reqwest::Client::new();
    let base = host.server.base_url();
    let mut wrong = Vec::new();
    let mut cells = 0;
    for kind in kinds
        .iter()
        .filter(|k| matches!(k.key.as_str(), "lead" | "deal") || k.classic.is_none())
    {
        let (category, stage) = first_stage(&host, kind).await;
        for level in ["none", "read", "update"] {
            let role = format!("{} rules {level}", kind.key);
            let permissions = json!({kind.key.clone(): {"read": "all", "automation": level}});
            give_role(&host, &cast, &role, permissions).await;
            let list = http
                .get(format!("{base}/api/v1/robots?entity_type={}", kind.key))
                .header(COOKIE, &cookie)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16();
            let robot = json!({"entity_type": kind.key, "stage_id": stage, "plugin_id": "write-log", "config": {"message": "hi"}});
            let add = http
                .post(format!("{base}/api/v1/robots"))
                .header(COOKIE, &cookie)
                .header("X-CSRF-Token", &csrf)
                .json(&robot)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16();
            let page = http
                .get(format!("{base}/automation/{}/{category}", kind.key))
                .header(COOKIE, &cookie)
                .send()
                .await
                .unwrap();
            let page_status = page.status().as_u16();
            let editable = page.text().await.unwrap().contains("data-add-robot");
            let seen = (list, add, page_status, editable);
            let expected = match level {
                "none" => (403, 403, 403, false),
                "read" => (200, 403, 200, false),
                _ => (200, 201, 200, true),
            };
            cells += 1;
            if seen != expected {
                wrong.push(format!(
                    "{role}: (list, add, page, edit controls) = {seen:?}, not {expected:?}"
                ));
            }
        }
    }
    assert_eq!(cells, 3 * 3);
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let (status, body) = host.rest_via(&cast.webhook, "crm.deal.list", json!({})).await;
    assert_eq!(
        (status, &body["error"]),
        (403, &json!("ACCESS_DENIED")),
        "the last role reads only the smart process"
    );
    let admin_only = http
        .get(format!("{base}/api/v1/runs"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(admin_only, 403, "runs are the administrators'");
}

/// A type's default pipeline and its first stage.
async fn first_stage(host: &TestHost, kind: &Kind) -> (i64, String) {
    let (category, entity) = match kind.key.as_str() {
        "lead" => (0, "STATUS".to_string()),
        "deal" => (0, "DEAL_STAGE".to_string()),
        _ => {
            let listed = host
                .ok("crm.category.list", json!({"entityTypeId": kind.type_id}))
                .await;
            let category = listed["categories"][0]["id"].as_i64().unwrap();
            (category, format!("DYNAMIC_{}_STAGE_{category}", kind.type_id))
        }
    };
    let stages = host
        .ok("crm.status.list", json!({"filter": {"ENTITY_ID": entity}}))
        .await;
    let stage = stages[0]["STATUS_ID"]
        .as_str()
        .unwrap_or_else(|| panic!("no stages of {entity}: {stages}"));
    (category, stage.to_string())
}
