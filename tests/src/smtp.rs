//! A real SMTP server for the tests (mailin-embedded, the protocol implementation behind
//! production servers), on a free loopback port, keeping what it received for the test to read.

use std::io;
use std::net::{IpAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mailin_embedded::response::{self, Response};
use mailin_embedded::{Handler, Server, SslConfig};

/// One message as the server received it.
#[derive(Debug, Clone, Default)]
pub struct ReceivedMail {
    /// The envelope sender.
    pub from: String,
    /// The envelope recipients.
    pub to: Vec<String>,
    /// The message as sent: headers and body.
    pub data: String,
}

impl ReceivedMail {
    /// A header's value, by name, ignoring case.
    pub fn header(&self, name: &str) -> Option<String> {
        self.data.lines().take_while(|line| !line.is_empty()).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim().to_string())
        })
    }
}

#[derive(Clone)]
struct Recorder {
    received: Arc<Mutex<Vec<ReceivedMail>>>,
    refuse_next: Arc<AtomicUsize>,
    current: ReceivedMail,
}

impl Handler for Recorder {
    fn data_start(&mut self, _domain: &str, from: &str, _is8bit: bool, to: &[String]) -> Response {
        let refuse = self
            .refuse_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if refuse {
            return response::INTERNAL_ERROR;
        }
        self.current = ReceivedMail {
            from: from.to_string(),
            to: to.to_vec(),
            data: String::new(),
        };
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> io::Result<()> {
        self.current.data.push_str(&String::from_utf8_lossy(buf));
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let mail = std::mem::take(&mut self.current);
        self.received.lock().expect("mailbox").push(mail);
        response::OK
    }

    fn mail(&mut self, _ip: IpAddr, _domain: &str, _from: &str) -> Response {
        response::OK
    }
}

/// A running SMTP server; it serves until the test process ends.
pub struct MailServer {
    port: u16,
    received: Arc<Mutex<Vec<ReceivedMail>>>,
    refuse_next: Arc<AtomicUsize>,
}

impl MailServer {
    /// Starts a server on a free loopback port.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind an SMTP port");
        let port = listener.local_addr().expect("SMTP address").port();
        let recorder = Recorder {
            received: Arc::default(),
            refuse_next: Arc::default(),
            current: ReceivedMail::default(),
        };
        let (received, refuse_next) = (recorder.received.clone(), recorder.refuse_next.clone());
        let mut server = Server::new(recorder);
        server
            .with_name("mail.test")
            .with_ssl(SslConfig::None)
            .expect("plain SMTP")
            .with_num_threads(2)
            .with_tcp_listener(listener);
        std::thread::spawn(move || {
            if let Err(e) = server.serve() {
                panic!("the test SMTP server stopped: {e}");
            }
        });
        Self {
            port,
            received,
            refuse_next,
        }
    }

    /// The URL a host's `--smtp-url` takes.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Answers the next `n` messages with "451 try again later", as a busy server would.
    pub fn refuse_next(&self, n: usize) {
        self.refuse_next.store(n, Ordering::SeqCst);
    }

    /// Waits (up to 30 s) until at least `count` messages arrived; returns all that did.
    pub async fn wait_for(&self, count: usize) -> Vec<ReceivedMail> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let received = self.received.lock().expect("mailbox").clone();
            if received.len() >= count {
                return received;
            }
            assert!(
                Instant::now() < deadline,
                "{count} messages did not arrive: {received:#?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// What arrived so far.
    pub fn received(&self) -> Vec<ReceivedMail> {
        self.received.lock().expect("mailbox").clone()
    }
}
