//! A real browser for the board's tests: Debian's Chromium, headless, driven through its
//! chromedriver over WebDriver. Each [`Browser`] runs a chromedriver of its own on a free
//! loopback port, so tests run side by side.
//!
//! With `STAGEWRIGHT_SCREENSHOTS=DIR` set, [`Browser::screenshot`] saves PNGs there (the README's
//! pictures in docs/img come from `STAGEWRIGHT_SCREENSHOTS=docs/img cargo test --test board`).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::TestHost;

/// How long a page has to show what a test waits for.
const PATIENCE: Duration = Duration::from_secs(20);

/// A headless Chromium window of 1280×800.
pub struct Browser {
    /// The WebDriver session.
    pub client: Client,
    /// The host's base URL.
    base: String,
    driver: Child,
}

impl Browser {
    /// Starts chromedriver and a browser session on `host`'s board.
    pub async fn open(host: &TestHost) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs (apt-get install chromium chromium-driver)");
        let mut options = json!({"args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,800"]});
        if std::path::Path::new("/usr/bin/chromium").exists() {
            options["binary"] = json!("/usr/bin/chromium");
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".into(), options);
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let deadline = Instant::now() + PATIENCE;
        let client = loop {
            match ClientBuilder::new(connector.clone())
                .capabilities(capabilities.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(client) => break client,
                Err(_) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(100)).await,
                Err(e) => panic!("no WebDriver session: {e}"),
            }
        };
        Self {
            client,
            base: host.server.base_url(),
            driver,
        }
    }

    /// Opens a board path ("/plugins").
    pub async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .expect("page loads");
    }

    /// Signs in on the sign-in page with an email and password.
    pub async fn sign_in(&self, email: &str, password: &str) {
        self.goto("/login").await;
        self.find("input[name=email]")
            .await
            .send_keys(email)
            .await
            .expect("type");
        self.find("input[name=password]")
            .await
            .send_keys(password)
            .await
            .expect("type");
        self.find("form button.primary").await.click().await.expect("submit");
        self.find("header.topbar .who").await;
    }

    /// Signs in with the host's admin token.
    pub async fn sign_in_as_admin(&self, host: &TestHost) {
        self.goto("/login").await;
        self.find("details summary").await.click().await.expect("open");
        self.find("input[name=token]")
            .await
            .send_keys(&host.server.admin_token)
            .await
            .expect("type");
        self.find("details button").await.click().await.expect("submit");
        self.find("header.topbar .who").await;
    }

    /// The first element matching a CSS selector, waiting for it to appear.
    pub async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css} on the page: {e}"))
    }

    /// Every element matching a CSS selector now.
    pub async fn all(&self, css: &str) -> Vec<Element> {
        self.client.find_all(Locator::Css(css)).await.expect("find")
    }

    /// Runs a script in the page; `arguments[0..]` are `args`.
    pub async fn script(&self, script: &str, args: Vec<Value>) -> Value {
        self.client.execute(script, args).await.expect("script runs")
    }

    /// Waits until a JavaScript expression is true in the page.
    pub async fn until(&self, expression: &str) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let script = format!("return !!({expression});");
            if self.client.execute(&script, vec![]).await.ok() == Some(Value::Bool(true)) {
                return;
            }
            assert!(Instant::now() < deadline, "the page never showed: {expression}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Drags the element matching `from` onto the one matching `to`, with the events a person's
    /// drag fires (WebDriver's own pointer actions do not start HTML5 drag and drop).
    pub async fn drag(&self, from: &str, to: &str) {
        let script = r#"
            const [from, to] = [document.querySelector(arguments[0]), document.querySelector(arguments[1])];
            const data = new DataTransfer();
            const fire = (el, type) => el.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: data }));
            fire(from, "dragstart");
            fire(to, "dragenter");
            fire(to, "dragover");
            fire(to, "drop");
            fire(from, "dragend");
            return true;"#;
        assert_eq!(self.script(script, vec![json!(from), json!(to)]).await, json!(true));
    }

    /// Saves the window as `NAME.png` in `STAGEWRIGHT_SCREENSHOTS`, when it is set.
    pub async fn screenshot(&self, name: &str) {
        let Some(dir) = std::env::var_os("STAGEWRIGHT_SCREENSHOTS").map(PathBuf::from) else {
            return;
        };
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::create_dir_all(&dir).expect("screenshot directory");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
    }

    /// Resizes the window (390×844 is a phone).
    pub async fn resize(&self, width: u32, height: u32) {
        self.client.set_window_size(width, height).await.expect("resize");
    }
}

impl Browser {
    /// Ends the session, which closes Chromium, and stops chromedriver.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

/// Stops chromedriver, whatever way the test ended.
impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
