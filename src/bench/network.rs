//! The benchmark's network on loopback: the gateway binary as a child process (its own store in
//! a temporary directory, the shipped settings but for the port, the registry and the workers),
//! the two registered peers whose keys sign the load (a seller on the retail leg and an LSP on
//! the logistics leg), and a seller endpoint that ACKs what the gateway sends and notes when
//! each retail transaction's `/cancel` arrived.

use super::Options;
use super::error::BenchError;
use crate::clock::{Clock, SystemClock};
use crate::protocol::MessageId;
use crate::signing::{KeyId, PrivateKey, Signer};
use crate::tokens::{Role, TokenKeys};
use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::json;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long the gateway has to answer `/healthz` after it is started.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Concurrent REST registrations.
const REGISTER_CONCURRENCY: usize = 32;

/// A registered peer that signs what it sends.
pub struct Peer {
    /// Its subscriber id.
    pub id: String,
    /// Its signer (key and `keyId`).
    pub signer: Signer,
    /// Its public key, base64, as the registry publishes it.
    pub public_key: String,
}

impl Peer {
    fn new(id: &str, unique_key_id: &str) -> Result<Self, BenchError> {
        let key = PrivateKey::generate();
        let public_key = key.public_key().to_base64();
        let key_id: KeyId = format!("{id}|{unique_key_id}|ed25519")
            .parse()
            .map_err(|e| BenchError::context("key id", e))?;
        Ok(Self {
            id: id.to_owned(),
            signer: Signer::new(key, key_id),
            public_key,
        })
    }
}

/// An order registered through the REST API.
#[derive(Debug, Clone)]
pub struct Tracked {
    /// The retail order id.
    pub order_id: String,
    /// The retail transaction id (the seller's `/cancel` carries it).
    pub retail_txn: String,
    /// The LSP's order id.
    pub logistics_order_id: String,
    /// The logistics transaction id.
    pub logistics_txn: String,
}

/// When the seller received the `/cancel` of each retail transaction.
pub type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

/// The running network.
pub struct Network {
    /// The gateway's base URL.
    pub base: String,
    /// The gateway's subscriber id.
    pub gateway_id: String,
    /// The seller (retail BPP).
    pub seller: Peer,
    /// The LSP (logistics BPP).
    pub lsp: Peer,
    /// `/cancel` arrivals at the seller.
    pub arrivals: Arrivals,
    child: tokio::process::Child,
    pid: u32,
    dir: tempfile::TempDir,
    tokens: TokenKeys,
    sink: actix_web::dev::ServerHandle,
    http: reqwest::Client,
}

impl Network {
    /// Starts the seller endpoint and the gateway, and waits until the gateway answers.
    pub async fn start(options: &Options) -> Result<Self, BenchError> {
        let seller = Peer::new("seller.bench.local", "seller-bench-1")?;
        let lsp = Peer::new("lsp.bench.local", "lsp-bench-1")?;
        let arrivals: Arrivals = Arc::default();
        let (sink, sink_url) = start_seller(arrivals.clone())?;

        let dir = tempfile::tempdir().map_err(|e| BenchError::context("temporary directory", e))?;
        let record = |p: &Peer, kind: &str, domain: &str, url: &str| {
            let ukid = p.signer.key_id().unique_key_id.as_str().to_owned();
            json!({
                "subscriber_id": p.id, "ukId": ukid, "type": kind, "domain": domain,
                "subscriber_url": url, "signing_public_key": p.public_key,
                "valid_from": "2024-01-01T00:00:00.000Z", "valid_until": "2099-01-01T00:00:00.000Z",
                "status": "SUBSCRIBED",
            })
        };
        let registry = dir.path().join("registry.json");
        let records = json!([
            record(&seller, "BPP", "ONDC:RET10", &sink_url),
            record(&lsp, "BPP", "ONDC:LOG10", "http://127.0.0.1:9/lsp"),
        ]);
        std::fs::write(&registry, records.to_string())
            .map_err(|e| BenchError::context("registry file", e))?;

        let port = free_port()?;
        let gateway_key = PrivateKey::generate();
        let secret = format!("{}{}", MessageId::generate(), MessageId::generate());
        let gateway_id = "bench-gateway.local".to_owned();
        let config = dir.path().join("gateway.toml");
        // Everything else (durability, schemas, limits, outbox, deadlines) is the shipped default.
        let retention = options
            .retention_secs
            .map(|s| {
                format!(
                    "audit_retention_secs = {s}\nprune_interval_secs = {}\naudit_segment_bytes = {}\n",
                    (s / 6).max(1),
                    4 << 20
                )
            })
            .unwrap_or_default();
        let toml = format!(
            "subscriber_id = \"{gateway_id}\"\nunique_key_id = \"bench-1\"\nsigning_private_key = \"{}\"\n\
             subscriber_url = \"http://127.0.0.1:{port}\"\n[server]\nbind = \"127.0.0.1:{port}\"\nworkers = {}\n\
             [store]\npath = \"{}\"\n{retention}[registry]\nfile = \"{}\"\n[rest]\ntoken_secret = \"{secret}\"\n",
            gateway_key.to_base64_keypair(),
            options.workers,
            dir.path().join("data").display(),
            registry.display(),
        );
        std::fs::write(&config, toml).map_err(|e| BenchError::context("gateway config", e))?;

        let child = tokio::process::Command::new(&options.gateway_exe)
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .env("RUST_LOG", &options.log)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| BenchError::context(format!("cannot start {}", options.gateway_exe.display()), e))?;
        let pid = child
            .id()
            .ok_or_else(|| BenchError::Failed("the gateway exited at once".into()))?;
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(options.connections.max(REGISTER_CONCURRENCY))
            .timeout(Duration::from_secs(20))
            .build()
            .map_err(|e| BenchError::context("HTTP client", e))?;
        let mut net = Self {
            base: format!("http://127.0.0.1:{port}"),
            gateway_id,
            seller,
            lsp,
            arrivals,
            child,
            pid,
            dir,
            tokens: TokenKeys::hs256(secret.as_bytes()),
            sink,
            http,
        };
        net.wait_ready().await?;
        Ok(net)
    }

    async fn wait_ready(&mut self) -> Result<(), BenchError> {
        let deadline = Instant::now() + START_TIMEOUT;
        let url = format!("{}/healthz", self.base);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(BenchError::Failed(format!(
                    "the gateway exited during start-up ({status})"
                )));
            }
            if let Ok(r) = self.http.get(&url).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(BenchError::Failed(format!(
                    "the gateway did not answer {url} within {START_TIMEOUT:?}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The gateway's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The gateway's store directory.
    pub fn store_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// An HTTP client sized for the run.
    pub fn client(&self) -> &reqwest::Client {
        &self.http
    }

    /// Registers `n` orders (retail and logistics legs, fulfillment F1 picked up) through
    /// `POST /api/v1/orders`, `REGISTER_CONCURRENCY` at a time.
    pub async fn register_orders(&self, n: usize) -> Result<Vec<Tracked>, BenchError> {
        let token = self
            .tokens
            .mint("bench-platform", Role::Platform, SystemClock.unix_seconds(), 3600)
            .map_err(|e| BenchError::context("the platform token", e))?;
        let run = &MessageId::generate().to_string()[..8];
        let orders: Arc<Vec<Tracked>> = Arc::new(
            (0..n)
                .map(|i| Tracked {
                    order_id: format!("O-{run}-{i}"),
                    retail_txn: format!("TR-{run}-{i}"),
                    logistics_order_id: format!("L-{run}-{i}"),
                    logistics_txn: format!("TL-{run}-{i}"),
                })
                .collect(),
        );
        let next = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..REGISTER_CONCURRENCY.min(n) {
            let (orders, next, http, token) =
                (orders.clone(), next.clone(), self.http.clone(), token.clone());
            let url = format!("{}/api/v1/orders", self.base);
            let (seller, lsp) = (self.seller.id.clone(), self.lsp.id.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(o) = orders.get(i) else { return Ok(()) };
                    let body = json!({
                        "order_id": o.order_id, "customer_id": "cust-bench", "provider_id": "prov-bench",
                        "state": "In-progress", "escrow": {"currency": "INR", "value": "540.00"},
                        "retail": {"domain": "ONDC:RET10", "transaction_id": o.retail_txn, "bpp_id": seller,
                            "bpp_uri": "http://127.0.0.1:9/seller",
                            "fulfillments": [{"id": "F1", "type": "Delivery", "state": "Order-picked-up"}]},
                        "logistics": {"domain": "ONDC:LOG10", "order_id": o.logistics_order_id,
                            "transaction_id": o.logistics_txn, "bpp_id": lsp, "bpp_uri": "http://127.0.0.1:9/lsp",
                            "linked_fulfillment_id": "F1"},
                    });
                    let resp = http
                        .post(&url)
                        .bearer_auth(&token)
                        .json(&body)
                        .send()
                        .await
                        .map_err(|e| BenchError::context(format!("registering {}", o.order_id), e))?;
                    if resp.status().as_u16() != 201 {
                        let status = resp.status();
                        let text = resp.text().await.unwrap_or_default();
                        return Err(BenchError::Failed(format!("registering {}: {status}: {text}", o.order_id)));
                    }
                }
            }));
        }
        for t in tasks {
            t.await
                .map_err(|e| BenchError::context("a registration task", e))??;
        }
        Arc::try_unwrap(orders)
            .map_err(|_| BenchError::Failed("registration tasks still hold the orders".into()))
    }

    /// Stops the gateway and the seller endpoint; the temporary store goes with `self`.
    pub async fn stop(mut self) {
        // Our own child, by its handle.
        let _ = self.child.kill().await;
        self.sink.stop(false).await;
    }
}

/// A port the kernel just handed out on loopback (the gateway binds it a moment later).
fn free_port() -> Result<u16, BenchError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| BenchError::context("no free port", e))
}

/// The seller: ACKs everything and notes when each retail transaction's `/cancel` arrived.
fn start_seller(arrivals: Arrivals) -> Result<(actix_web::dev::ServerHandle, String), BenchError> {
    #[derive(serde::Deserialize)]
    struct Head {
        context: HeadContext,
    }
    #[derive(serde::Deserialize)]
    struct HeadContext {
        transaction_id: String,
    }
    let server = HttpServer::new(move || {
        let arrivals = arrivals.clone();
        App::new().default_service(web::to(move |req: actix_web::HttpRequest, body: web::Bytes| {
            let at = Instant::now();
            let arrivals = arrivals.clone();
            async move {
                if req.path().ends_with("/cancel")
                    && let Ok(head) = serde_json::from_slice::<Head>(&body)
                    && let Ok(mut a) = arrivals.lock()
                {
                    a.entry(head.context.transaction_id).or_insert(at);
                }
                HttpResponse::Ok()
                    .content_type("application/json")
                    .body(r#"{"message":{"ack":{"status":"ACK"}}}"#)
            }
        }))
    })
    .workers(1)
    .disable_signals()
    .bind(("127.0.0.1", 0))
    .map_err(|e| BenchError::context("seller endpoint", e))?;
    let addr = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    Ok((handle, format!("http://{addr}")))
}

/// Bytes under `dir`, by file length.
pub fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
