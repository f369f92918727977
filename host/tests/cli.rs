//! The `stagewright serve` command as a user runs it: what it prints works, and its database is
//! in WAL mode.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::Value;
use sqlx::Connection;

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn serve_prints_a_working_webhook_url_and_keeps_sqlite_in_wal_mode() {
    let data_dir = tempfile::tempdir().unwrap();
    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_stagewright"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = BufReader::new(child.0.stdout.take().unwrap());
    let mut webhook = None;
    let mut admin_token = None;
    for line in stdout.lines() {
        let line = line.unwrap();
        if let Some(token) = line.strip_prefix("Admin token:") {
            admin_token = token.split_whitespace().next().map(str::to_string);
        }
        if let Some(url) = line.strip_prefix("Webhook URL:") {
            webhook = Some(url.trim().to_string());
            break;
        }
    }
    let webhook = webhook.expect("a webhook URL is printed");
    assert!(webhook.starts_with("http://127.0.0.1:") && webhook.contains("/rest/1/") && webhook.ends_with('/'));
    assert_eq!(admin_token.expect("an admin token is printed").len(), 32);

    let client = client();
    let base = webhook.split("/rest/").next().unwrap();
    for (probe, status) in [("healthz", "ok"), ("readyz", "ready")] {
        let answer = client.get(format!("{base}/{probe}")).send().await.unwrap();
        assert_eq!(answer.status(), 200, "/{probe} needs no token");
        assert_eq!(answer.json::<Value>().await.unwrap()["status"], status);
    }
    let added: Value = client
        .post(format!("{webhook}crm.deal.add"))
        .json(&serde_json::json!({"fields": {"TITLE": "From the CLI"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(added["result"], 1);

    let db = data_dir.path().join("stagewright.db");
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let titles: Vec<String> = sqlx::query_scalar("SELECT json_extract(fields, '$.TITLE') FROM items")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(titles, vec!["From the CLI"]);
}

/// `stagewright serve` on `data_dir`, with its webhook URL once it listens.
fn serve(data_dir: &std::path::Path) -> (Child, String) {
    let (child, mut printed) = serve_printing(data_dir, &[]);
    let webhook = printed.remove("Webhook URL").expect("a webhook URL is printed");
    (child, webhook)
}

/// A client that drops idle connections well before the host's HTTP/1 idle close (hyper's 30 s
/// header-read timeout), so a request after a long pause never goes out on a connection the host
/// is closing at that moment ("connection closed before message completed").
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_idle_timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap()
}

fn stagewright(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_stagewright"))
        .args(args)
        .output()
        .unwrap()
}

#[tokio::test]
async fn a_backup_taken_while_serving_restores_into_a_new_data_directory() {
    let client = client();
    let (served, restored) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (host, webhook) = serve(served.path());
    for title in ["Before the backup", "Also before"] {
        let added: Value = client
            .post(format!("{webhook}crm.deal.add"))
            .json(&serde_json::json!({"fields": {"TITLE": title}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(added["result"].is_i64(), "{added}");
    }
    let file = served.path().join("backup.db");
    let data_dir = served.path().to_str().unwrap();
    let backup = stagewright(&["backup", "--data-dir", data_dir, "--to", file.to_str().unwrap()]);
    assert!(backup.status.success(), "{}", String::from_utf8_lossy(&backup.stderr));
    let again = stagewright(&["backup", "--data-dir", data_dir, "--to", file.to_str().unwrap()]);
    assert!(!again.status.success(), "a backup never overwrites a file");
    client
        .post(format!("{webhook}crm.deal.add"))
        .json(&serde_json::json!({"fields": {"TITLE": "After the backup"}}))
        .send()
        .await
        .unwrap();

    let in_use = stagewright(&["restore", "--data-dir", data_dir, "--from", file.to_str().unwrap()]);
    assert!(
        !in_use.status.success(),
        "a database a host serves from is not replaced"
    );
    assert!(String::from_utf8_lossy(&in_use.stderr).contains("in use"), "{in_use:?}");
    drop(host);

    let not_a_backup = served.path().join("notes.txt");
    std::fs::write(&not_a_backup, "not a database").unwrap();
    let refused = stagewright(&[
        "restore",
        "--data-dir",
        restored.path().to_str().unwrap(),
        "--from",
        not_a_backup.to_str().unwrap(),
    ]);
    assert!(!refused.status.success(), "only a Stagewright database is restored");

    let restore = stagewright(&[
        "restore",
        "--data-dir",
        restored.path().to_str().unwrap(),
        "--from",
        file.to_str().unwrap(),
    ]);
    assert!(restore.status.success(), "{}", String::from_utf8_lossy(&restore.stderr));
    let (_restored_host, webhook) = serve(restored.path());
    let listed: Value = client
        .post(format!("{webhook}crm.deal.list"))
        .json(&serde_json::json!({"select": ["TITLE"], "order": {"ID": "ASC"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let titles: Vec<&str> = listed["result"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["TITLE"].as_str())
        .collect();
    assert_eq!(
        titles,
        ["Before the backup", "Also before"],
        "the backup's deals, not the later one"
    );
}

/// `stagewright serve ARGS` on a fresh data directory; answers the child and what it printed
/// up to the webhook URL, by label ("Webhook URL", "Certificate", ...).
fn serve_printing(data_dir: &std::path::Path, args: &[&str]) -> (Child, std::collections::HashMap<String, String>) {
    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_stagewright"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = BufReader::new(child.0.stdout.take().unwrap());
    let mut printed = std::collections::HashMap::new();
    for line in stdout.lines().map_while(Result::ok) {
        if let Some(url) = line.strip_prefix("Stagewright is listening on ") {
            printed.insert("Listening".to_string(), url.trim().to_string());
        }
        if let Some((label, value)) = line.split_once(':') {
            let value = value.split_whitespace().next().unwrap_or_default().to_string();
            printed.insert(label.trim().to_string(), value);
        }
        if printed.contains_key("Certificate") || (line.starts_with("Board:") && !args.contains(&"--tls-self-signed")) {
            break;
        }
    }
    (child, printed)
}

/// One GET over TLS, trusting only `cert`, in HTTP/1.1 or (ALPN `h2`) HTTP/2; answers the
/// protocol the server spoke, the status and the body.
async fn https_get(url: &str, cert: &std::path::Path, http2: bool) -> (hyper::Version, u16, String) {
    use http_body_util::{BodyExt, Empty};
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};

    let uri: hyper::Uri = url.parse().unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for der in CertificateDer::pem_file_iter(cert).unwrap() {
        roots.add(der.unwrap()).unwrap();
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![if http2 { b"h2".to_vec() } else { b"http/1.1".to_vec() }];
    let host = uri.host().unwrap().to_string();
    let tcp = tokio::net::TcpStream::connect((host.as_str(), uri.port_u16().unwrap()))
        .await
        .unwrap();
    let name = ServerName::try_from(host.clone()).unwrap();
    let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("the certificate is trusted for the address it was made for");
    let io = hyper_util::rt::TokioIo::new(tls);
    let request = hyper::Request::get(uri.path())
        .header(hyper::header::HOST, host)
        .body(Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = if http2 {
        let (mut sender, connection) = hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io)
            .await
            .unwrap();
        tokio::spawn(connection);
        sender.send_request(request).await.unwrap()
    } else {
        let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await.unwrap();
        tokio::spawn(connection);
        sender.send_request(request).await.unwrap()
    };
    let (version, status) = (response.version(), response.status().as_u16());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (version, status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn serve_with_a_self_signed_certificate_speaks_https_in_http1_and_http2() {
    let data_dir = tempfile::tempdir().unwrap();
    let (_child, printed) = serve_printing(data_dir.path(), &["--tls-self-signed"]);
    let base = &printed["Listening"];
    assert!(base.starts_with("https://127.0.0.1:"), "{printed:?}");
    assert!(printed["Webhook URL"].starts_with("https://"), "{printed:?}");
    assert!(printed["Board"].starts_with("https://"), "{printed:?}");
    let cert = std::path::PathBuf::from(&printed["Certificate"]);
    assert_eq!(cert, data_dir.path().join("tls/cert.pem"));

    for (http2, version) in [(false, hyper::Version::HTTP_11), (true, hyper::Version::HTTP_2)] {
        let (spoken, status, body) = https_get(&format!("{base}/healthz"), &cert, http2).await;
        assert_eq!((spoken, status), (version, 200), "{body}");
        assert!(body.contains("\"ok\""), "{body}");
    }
    let webhook = &printed["Webhook URL"];
    let (_, status, body) = https_get(&format!("{webhook}crm.deal.fields.json"), &cert, true).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"TITLE\""), "{body}");

    let plain = reqwest::get(base.replace("https://", "http://") + "/healthz").await;
    assert!(
        plain.is_err() || !plain.unwrap().status().is_success(),
        "no plain HTTP on the TLS port"
    );
}

#[tokio::test]
async fn serve_refuses_a_certificate_file_that_is_not_there() {
    let data_dir = tempfile::tempdir().unwrap();
    let missing = data_dir.path().join("missing.pem");
    let missing = missing.to_str().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_stagewright"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            missing,
            "--tls-key",
            missing,
            "--data-dir",
        ])
        .arg(data_dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(error.contains("missing.pem"), "{error}");
}

#[tokio::test]
async fn serve_with_log_format_json_writes_one_json_object_per_line() {
    let data_dir = tempfile::tempdir().unwrap();
    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_stagewright"))
            .args(["--log-format", "json", "serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stderr = BufReader::new(child.0.stderr.take().unwrap());
    let line = stderr.lines().map_while(Result::ok).next().expect("a log line");
    let entry: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(entry["level"], "WARN", "{entry}");
    assert_eq!(entry["target"], "stagewright::server", "{entry}");
    assert!(
        entry["fields"]["message"]
            .as_str()
            .unwrap()
            .contains("no SMTP server configured"),
        "{entry}"
    );
    assert!(entry["timestamp"].is_string(), "{entry}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_export_writes_a_file_that_config_import_finds_already_applied() {
    let data = tempfile::tempdir().unwrap();
    let mut settings = stagewright::Settings::new(data.path().to_path_buf());
    settings.listen = "127.0.0.1:0".parse().unwrap();
    let server = stagewright::Server::start(settings).await.unwrap();
    let (url, token) = (server.base_url(), server.admin_token.clone());
    let file = data.path().join("automation.json");
    let config = move |args: Vec<String>| {
        let (url, token) = (url.clone(), token.clone());
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_stagewright"))
                .arg("config")
                .args(args)
                .args(["--url", &url, "--token", &token])
                .output()
                .unwrap()
        })
    };
    let exported = config(vec!["export".into(), "--to".into(), file.display().to_string()])
        .await
        .unwrap();
    assert!(
        exported.status.success(),
        "{}",
        String::from_utf8_lossy(&exported.stderr)
    );
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.ends_with("}\n"), "a pretty file with a final newline");
    let parsed: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(parsed["format"], "stagewright-config/1");
    assert!(
        parsed["pipelines"].as_array().is_some_and(|p| !p.is_empty()),
        "{parsed}"
    );

    let imported = config(vec!["import".into(), file.display().to_string(), "--dry-run".into()])
        .await
        .unwrap();
    let said = String::from_utf8_lossy(&imported.stdout);
    assert!(
        imported.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    assert!(
        said.starts_with("0 changed, ") && said.contains("(dry run: nothing was changed)"),
        "{said}"
    );

    std::fs::write(
        &file,
        r#"{"format": "stagewright-config/1", "robots": [{"id": "r_1"}]}"#,
    )
    .unwrap();
    let refused = config(vec!["import".into(), file.display().to_string()]).await.unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(why.contains("answered 400") && why.contains("missing field"), "{why}");
}
