//! Resources and bookings: a robot books a meeting room for a deal at the deal's date and writes
//! the booking to a field of the deal, a second deal for the same time is refused with the
//! booking in the way, and "cancel booking" frees the room again.

use reqwest::Method;
use serde_json::{Value, json};
use stagewright_tests::TestHost;

async fn bookings(host: &TestHost, resource: i64) -> Vec<Value> {
    host.ok("booking.v1.booking.list", json!({"filter": {"resourceId": resource}}))
        .await["booking"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_robot_books_a_room_for_the_deal_refuses_a_double_booking_and_frees_it_again() {
    let host = TestHost::start().await;
    let room = host
        .ok(
            "booking.v1.resource.add",
            json!({"fields": {"name": "Meeting room 2", "description": "Seats eight"}}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    host.ok(
        "crm.deal.userfield.add",
        json!({"fields": {"FIELD_NAME": "BOOKING", "USER_TYPE_ID": "string", "EDIT_FORM_LABEL": "Booking"}}),
    )
    .await;
    let book = host
        .add_robot(
            "NEW",
            "book-resource",
            json!({"resource_id": room, "start": "{=Document:BEGINDATE}", "duration_minutes": 90, "booking_field": "UF_CRM_BOOKING"}),
        )
        .await;
    let cancel = host
        .add_robot("LOSE", "cancel-booking", json!({"booking_field": "UF_CRM_BOOKING"}))
        .await;
    let deal = host
        .ok(
            "crm.deal.add",
            json!({"fields": {"TITLE": "Demo for Acme", "BEGINDATE": "2026-12-10T10:00:00+00:00"}}),
        )
        .await
        .as_i64()
        .unwrap();
    let run = host.finished_run(deal, &book).await;
    assert_eq!(run["status"], "succeeded", "{run:#}");
    let booking_id = run["return_values"]["booking_id"].as_i64().unwrap();
    assert_eq!(host.deal(deal).await["UF_CRM_BOOKING"], booking_id.to_string());
    let booked = host.ok("booking.v1.booking.get", json!({"id": booking_id})).await["booking"].clone();
    assert_eq!(booked["name"], "Demo for Acme");
    assert_eq!(booked["resourceIds"], json!([room]));
    assert_eq!(booked["crmItem"], format!("D_{deal}"));
    let from = booked["datePeriod"]["from"]["timestamp"].as_i64().unwrap();
    assert_eq!(
        booked["datePeriod"]["to"]["timestamp"].as_i64().unwrap() - from,
        90 * 60
    );

    let overlapping = host
        .ok(
            "crm.deal.add",
            json!({"fields": {"TITLE": "Demo for Globex", "BEGINDATE": "2026-12-10T11:00:00+00:00"}}),
        )
        .await
        .as_i64()
        .unwrap();
    let refused = host.finished_run(overlapping, &book).await;
    assert_eq!(refused["status"], "failed", "{refused:#}");
    let error = refused["error"].as_str().unwrap();
    assert!(
        error.contains(&format!("resource {room} is booked from 2026-12-10T10:00:00+00:00 to 2026-12-10T11:30:00+00:00 (booking {booking_id})")),
        "{error}"
    );
    assert_eq!(
        host.deal(overlapping).await["UF_CRM_BOOKING"],
        Value::Null,
        "a refused booking writes nothing"
    );
    assert_eq!(bookings(&host, room).await.len(), 1);
    let (status, body) = host
        .rest(
            "booking.v1.booking.add",
            json!({"fields": {"resourceIds": [room], "name": "By hand", "datePeriod": {"from": {"timestamp": from + 1800}, "to": {"timestamp": from + 3600}}}}),
        )
        .await;
    assert_eq!(status, 400, "the REST API refuses the double booking too: {body}");
    assert!(
        body["error_description"].as_str().unwrap().contains("is booked from"),
        "{body}"
    );

    host.move_deal(deal, "LOSE").await;
    let run = host.finished_run(deal, &cancel).await;
    assert_eq!(
        run["return_values"],
        json!({"booking_id": booking_id, "cancelled": true}),
        "{run:#}"
    );
    assert_eq!(
        host.deal(deal).await["UF_CRM_BOOKING"],
        Value::Null,
        "the field is cleared"
    );
    let all = bookings(&host, room).await;
    assert_eq!(all[0]["isCancelled"], true);

    let later = host
        .ok(
            "crm.deal.add",
            json!({"fields": {"TITLE": "Demo for Initech", "BEGINDATE": "2026-12-10T11:00:00+00:00"}}),
        )
        .await
        .as_i64()
        .unwrap();
    let run = host.finished_run(later, &book).await;
    assert_eq!(run["status"], "succeeded", "the freed room books again: {run:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bookings_and_robots_are_refused_and_change_nothing() {
    let host = TestHost::start().await;
    let room = host
        .ok("booking.v1.resource.add", json!({"fields": {"name": "Van"}}))
        .await["id"]
        .as_i64()
        .unwrap();
    let period = |from: i64, to: i64| json!({"from": {"timestamp": from}, "to": {"timestamp": to}});
    for (fields, why) in [
        (
            json!({"resourceIds": [room], "datePeriod": period(2000, 1000)}),
            "end after it starts",
        ),
        (
            json!({"resourceIds": [99], "datePeriod": period(1000, 2000)}),
            "resource 99",
        ),
        (
            json!({"resourceIds": [], "datePeriod": period(1000, 2000)}),
            "one resource",
        ),
        (json!({"resourceIds": [room]}), "datePeriod"),
    ] {
        let (status, body) = host.rest("booking.v1.booking.add", json!({"fields": fields})).await;
        assert_eq!(status, 400, "{body}");
        assert!(body["error_description"].as_str().unwrap().contains(why), "{body}");
    }
    let (status, body) = host
        .rest("booking.v1.resource.add", json!({"fields": {"name": " "}}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(bookings(&host, room).await, Vec::<Value>::new());

    let robot = json!({"entity_type": "deal", "stage_id": "NEW", "plugin_id": "book-resource", "config": {"start": "{=Document:BEGINDATE}"}});
    let (status, body) = host.admin(Method::POST, "/api/v1/robots", Some(robot)).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error_description"].as_str().unwrap().contains("resource_id"),
        "{body}"
    );
    let robot = json!({"entity_type": "deal", "stage_id": "NEW", "plugin_id": "cancel-booking", "config": {}});
    let (status, body) = host.admin(Method::POST, "/api/v1/robots", Some(robot)).await;
    assert_eq!(status, 400, "{body}");
}
