//! The board's stylesheet and scripts, compiled into the binary: nothing is fetched at run time.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Each asset: its name under `/assets/`, content type and contents.
const ASSETS: &[(&str, &str, &str)] = &[
    ("board.css", "text/css; charset=utf-8", include_str!("assets/board.css")),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/app.js"),
    ),
    (
        "kanban.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/kanban.js"),
    ),
    (
        "automation.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/automation.js"),
    ),
    (
        "configuration.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/configuration.js"),
    ),
    (
        "plugins.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/plugins.js"),
    ),
    (
        "testmode.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/testmode.js"),
    ),
    (
        "roles.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/roles.js"),
    ),
    (
        "repeat_sales.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/repeat_sales.js"),
    ),
];

/// `GET /assets/{file}`.
pub async fn serve(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, body)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                // Small files, checked again on each load, so a new build's are used at once.
                (header::CACHE_CONTROL, "no-cache"),
            ],
            *body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}
