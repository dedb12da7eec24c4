//! The benchmark's network on loopback: the gateway binary as one or more child processes (the
//! nodes: the shipped settings but for the store, the port, the registry and the workers; several
//! nodes share one PostgreSQL database, subscriber id and keys, and so are one logical gateway),
//! the two registered peers whose keys sign the load (a seller on the retail leg and an LSP on
//! the logistics leg), and a seller endpoint that ACKs what the gateway sends and notes when
//! each retail transaction's `/cancel` arrived (and how many arrived more than once). Each
//! node's stderr goes to a file, read at the end for its ERROR and WARN lines.

use super::Options;
use super::error::BenchError;
use super::store::Store;
use crate::clock::{Clock, SystemClock};
use crate::protocol::MessageId;
use crate::signing::{KeyId, PrivateKey, Signer};
use crate::tokens::{Role, TokenKeys};
use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::json;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::PathBuf;
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

/// One gateway process.
struct Node {
    child: tokio::process::Child,
    pid: u32,
    /// Its stderr.
    log: PathBuf,
}

/// ERROR and WARN lines the gateway nodes logged.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct GatewayLog {
    /// ERROR lines, all nodes.
    pub errors: usize,
    /// WARN lines, all nodes.
    pub warnings: usize,
    /// The first few, each prefixed with its node.
    pub samples: Vec<String>,
}

/// ERROR and WARN lines kept verbatim.
const KEPT_LOG_LINES: usize = 10;
/// Lines of a node's stderr quoted when it fails to start.
const START_LOG_TAIL: usize = 15;

/// The running network.
pub struct Network {
    /// Each node's base URL (`http://127.0.0.1:PORT`), in node order.
    pub bases: Vec<String>,
    /// The gateway's subscriber id.
    pub gateway_id: String,
    /// The seller (retail BPP).
    pub seller: Peer,
    /// The LSP (logistics BPP).
    pub lsp: Peer,
    /// `/cancel` arrivals at the seller (the first of each transaction).
    pub arrivals: Arrivals,
    /// `/cancel`s the seller received for a transaction it already had one for.
    pub duplicates: Arc<AtomicUsize>,
    nodes: Vec<Node>,
    dir: tempfile::TempDir,
    tokens: TokenKeys,
    sink: actix_web::dev::ServerHandle,
    http: reqwest::Client,
}

impl Network {
    /// Starts the seller endpoint and `options.nodes` gateway processes on `store`, and waits
    /// until every one answers.
    pub async fn start(options: &Options, store: &Store) -> Result<Self, BenchError> {
        let nodes = options.nodes.max(1);
        let seller = Peer::new("seller.bench.local", "seller-bench-1")?;
        let lsp = Peer::new("lsp.bench.local", "lsp-bench-1")?;
        let arrivals: Arrivals = Arc::default();
        let duplicates = Arc::new(AtomicUsize::new(0));
        let (sink, sink_url) = start_seller(arrivals.clone(), duplicates.clone())?;

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

        let ports = free_ports(nodes)?;
        let gateway_key = PrivateKey::generate();
        let secret = format!("{}{}", MessageId::generate(), MessageId::generate());
        let gateway_id = "bench-gateway.local".to_owned();
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
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(options.connections.max(REGISTER_CONCURRENCY))
            .timeout(Duration::from_secs(20))
            .build()
            .map_err(|e| BenchError::context("HTTP client", e))?;
        let mut net = Self {
            bases: ports.iter().map(|p| format!("http://127.0.0.1:{p}")).collect(),
            gateway_id: gateway_id.clone(),
            seller,
            lsp,
            arrivals,
            duplicates,
            nodes: Vec::new(),
            dir,
            tokens: TokenKeys::hs256(secret.as_bytes()),
            sink,
            http,
        };
        // One logical gateway: the same identity, keys, registry and store on every node, each
        // on its own port. It is reached at the first node's URL.
        for (i, port) in ports.iter().enumerate() {
            let config = net.dir.path().join(format!("gateway-{i}.toml"));
            let toml = format!(
                "subscriber_id = \"{gateway_id}\"\nunique_key_id = \"bench-1\"\nsigning_private_key = \"{}\"\n\
                 subscriber_url = \"http://127.0.0.1:{}\"\n[server]\nbind = \"127.0.0.1:{port}\"\nworkers = {}\n\
                 {}{retention}[registry]\nfile = \"{}\"\n[rest]\ntoken_secret = \"{secret}\"\n",
                gateway_key.to_base64_keypair(),
                ports[0],
                options.workers,
                store.config(),
                registry.display(),
            );
            std::fs::write(&config, toml).map_err(|e| BenchError::context("gateway config", e))?;
            let log = net.dir.path().join(format!("gateway-{i}.log"));
            // The gateway logs to stdout; both streams go to the file read for ERROR and WARN.
            let stderr =
                std::fs::File::create(&log).map_err(|e| BenchError::context("gateway log file", e))?;
            let stdout = stderr
                .try_clone()
                .map_err(|e| BenchError::context("gateway log file", e))?;
            let child = tokio::process::Command::new(&options.gateway_exe)
                .arg("serve")
                .arg("--config")
                .arg(&config)
                .env("RUST_LOG", &options.log)
                .env("NO_COLOR", "1")
                .stdin(std::process::Stdio::null())
                .stdout(stdout)
                .stderr(stderr)
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| {
                    BenchError::context(format!("cannot start {}", options.gateway_exe.display()), e)
                })?;
            let pid = child
                .id()
                .ok_or_else(|| BenchError::Failed(format!("gateway node {i} exited at once")))?;
            net.nodes.push(Node { child, pid, log });
        }
        for i in 0..nodes {
            net.wait_ready(i).await?;
        }
        Ok(net)
    }

    async fn wait_ready(&mut self, i: usize) -> Result<(), BenchError> {
        let deadline = Instant::now() + START_TIMEOUT;
        let url = format!("{}/healthz", self.bases[i]);
        let node = &mut self.nodes[i];
        loop {
            if let Ok(Some(status)) = node.child.try_wait() {
                return Err(BenchError::Failed(format!(
                    "gateway node {i} exited during start-up ({status}); its stderr ends:\n{}",
                    tail(&node.log, START_LOG_TAIL)
                )));
            }
            if let Ok(r) = self.http.get(&url).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(BenchError::Failed(format!(
                    "gateway node {i} did not answer {url} within {START_TIMEOUT:?}; its stderr ends:\n{}",
                    tail(&node.log, START_LOG_TAIL)
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The gateway processes' ids, in node order.
    pub fn pids(&self) -> Vec<u32> {
        self.nodes.iter().map(|n| n.pid).collect()
    }

    /// The base URL of node `i % nodes`.
    pub fn base(&self, i: usize) -> &str {
        &self.bases[i % self.bases.len()]
    }

    /// An HTTP client sized for the run.
    pub fn client(&self) -> &reqwest::Client {
        &self.http
    }

    /// Registers `n` orders (retail and logistics legs, fulfillment F1 picked up) through
    /// `POST /api/v1/orders`, `REGISTER_CONCURRENCY` at a time, each once. Order `i` goes to node
    /// `(i + 1) % nodes`: the load sends its calls for order `i` to node `i % nodes`, so with
    /// several nodes each order is acted on by a node other than the one that registered it.
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
            let bases = self.bases.clone();
            let (seller, lsp) = (self.seller.id.clone(), self.lsp.id.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(o) = orders.get(i) else { return Ok(()) };
                    let url = format!("{}/api/v1/orders", bases[(i + 1) % bases.len()]);
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

    /// Stops the gateway nodes and the seller endpoint, and reads what the nodes logged at ERROR
    /// and WARN; their configs and logs go with `self`.
    pub async fn stop(mut self) -> GatewayLog {
        for node in &mut self.nodes {
            // Our own children, by their handles.
            let _ = node.child.kill().await;
        }
        self.sink.stop(false).await;
        let mut log = GatewayLog::default();
        for (i, node) in self.nodes.iter().enumerate() {
            let text = std::fs::read_to_string(&node.log).unwrap_or_default();
            for line in text.lines().map(strip_ansi) {
                let level = match line.split_whitespace().nth(1) {
                    Some("ERROR") => &mut log.errors,
                    Some("WARN") => &mut log.warnings,
                    _ => continue,
                };
                *level += 1;
                if log.samples.len() < KEPT_LOG_LINES {
                    log.samples.push(format!("node {i}: {line}"));
                }
            }
        }
        log
    }
}

/// The last `n` lines of the file at `path`.
fn tail(path: &std::path::Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<String> = text.lines().map(strip_ansi).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// `line` without ANSI colour sequences (`ESC [ … letter`).
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `n` distinct ports the kernel just handed out on loopback (the nodes bind them a moment
/// later); held together until all are known, so no two are the same.
fn free_ports(n: usize) -> Result<Vec<u16>, BenchError> {
    let listeners = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| BenchError::context("no free port", e))?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<Result<_, _>>()
        .map_err(|e| BenchError::context("no free port", e))
}

/// The seller: ACKs everything and notes when each retail transaction's `/cancel` arrived first,
/// and how many arrived for a transaction that already had one.
fn start_seller(
    arrivals: Arrivals,
    duplicates: Arc<AtomicUsize>,
) -> Result<(actix_web::dev::ServerHandle, String), BenchError> {
    #[derive(serde::Deserialize)]
    struct Head {
        context: HeadContext,
    }
    #[derive(serde::Deserialize)]
    struct HeadContext {
        transaction_id: String,
    }
    let server = HttpServer::new(move || {
        let (arrivals, duplicates) = (arrivals.clone(), duplicates.clone());
        App::new().default_service(web::to(move |req: actix_web::HttpRequest, body: web::Bytes| {
            let at = Instant::now();
            let (arrivals, duplicates) = (arrivals.clone(), duplicates.clone());
            async move {
                if req.path().ends_with("/cancel")
                    && let Ok(head) = serde_json::from_slice::<Head>(&body)
                    && let Ok(mut a) = arrivals.lock()
                {
                    match a.entry(head.context.transaction_id) {
                        Entry::Occupied(_) => {
                            duplicates.fetch_add(1, Ordering::Relaxed);
                        }
                        Entry::Vacant(v) => {
                            v.insert(at);
                        }
                    }
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
