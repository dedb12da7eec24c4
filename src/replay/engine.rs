//! The replay engine: runs a fixture against a gateway (started in-process on a temporary store,
//! or already running at a URL), playing every counterpart itself on loopback and checking the
//! gateway's signature on everything it receives.

use super::fixture::{Fixture, PartySpec, Step};
use super::jsonpath;
use crate::clock::SystemClock;
use crate::config::Settings;
use crate::protocol::{MessageId, SubscriberId, format_timestamp};
use crate::registry::RegistryRecord;
use crate::signing::{KeyId, PrivateKey, PublicKey, SignatureHeader, Signer, ValidityPolicy, verify};
use crate::startup::Application;
use crate::tokens::{Role, TokenKeys};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Which gateway to replay against.
#[derive(Debug)]
pub enum Target {
    /// Start one in-process per flow, on a temporary store.
    InProcess,
    /// A running gateway at `url`, whose settings (identity, registry, token secret) are `settings`.
    Remote {
        /// Base URL, e.g. `http://127.0.0.1:8080`.
        url: String,
        /// Its settings file, parsed.
        settings: Box<Settings>,
    },
}

/// How a step ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepOutcome {
    /// As expected.
    Passed,
    /// Not as expected; the detail says how (expected vs actual).
    Failed(String),
    /// Not run, because an earlier step failed.
    Skipped,
}

/// One step's result.
#[derive(Debug, Clone)]
pub struct StepReport {
    /// 1-based.
    pub index: usize,
    /// Its name.
    pub name: String,
    /// Its outcome.
    pub outcome: StepOutcome,
    /// How long it took.
    pub elapsed: Duration,
}

/// One arrow of the sequence diagram.
#[derive(Debug, Clone)]
pub struct TraceItem {
    /// The step it belongs to (0 = set-up).
    pub step: usize,
    /// Sender lane.
    pub from: String,
    /// Receiver lane.
    pub to: String,
    /// Label (action and answer).
    pub label: String,
    /// Whether it went as expected.
    pub ok: bool,
    /// The payload, pretty-printed.
    pub payload: String,
}

/// A flow's result.
#[derive(Debug, Clone)]
pub struct FlowReport {
    /// The fixture file.
    pub file: String,
    /// The flow's name.
    pub name: String,
    /// What it proves.
    pub description: String,
    /// Per step.
    pub steps: Vec<StepReport>,
    /// Who sent what to whom.
    pub trace: Vec<TraceItem>,
    /// The lanes, in order.
    pub lanes: Vec<String>,
    /// A set-up failure (before any step).
    pub setup_error: Option<String>,
}

impl FlowReport {
    /// Every step passed.
    pub fn passed(&self) -> bool {
        self.setup_error.is_none() && self.steps.iter().all(|s| s.outcome == StepOutcome::Passed)
    }
}

#[derive(Debug, Clone)]
struct Received {
    action: String,
    body: Value,
    signature: Result<(), String>,
}

struct Counterpart {
    received: Arc<Mutex<Vec<Received>>>,
    consumed: usize,
    nacks: Arc<AtomicUsize>,
    nack_as: Arc<Mutex<(u16, String, String)>>,
    handle: actix_web::dev::ServerHandle,
}

const GATEWAY_LANE: &str = "gateway";
const REST_LANE: &str = "platform/REST";

/// Starts a counterpart server for one party at `bind` and returns its base URL.
fn start_counterpart(bind: (String, u16), gateway_key: PublicKey) -> std::io::Result<(Counterpart, String)> {
    let received = Arc::new(Mutex::new(Vec::new()));
    let nacks = Arc::new(AtomicUsize::new(0));
    let nack_as = Arc::new(Mutex::new((400, "CORE-ERROR".to_owned(), "31001".to_owned())));
    let (rec, nk, na) = (received.clone(), nacks.clone(), nack_as.clone());
    let server = HttpServer::new(move || {
        let (rec, nk, na) = (rec.clone(), nk.clone(), na.clone());
        App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
            let (rec, nk, na) = (rec.clone(), nk.clone(), na.clone());
            async move {
                let action = req.path().rsplit('/').next().unwrap_or_default().to_owned();
                let signature = match req.headers().get("authorization").and_then(|v| v.to_str().ok()) {
                    None => Err("no Authorization header".to_owned()),
                    Some(h) => match h.parse::<SignatureHeader>() {
                        Err(e) => Err(e.to_string()),
                        Ok(h) => verify(
                            &h,
                            &body,
                            &gateway_key,
                            SystemClock.unix_seconds_now(),
                            &ValidityPolicy::default(),
                        )
                        .map_err(|e| e.to_string()),
                    },
                };
                let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
                if let Ok(mut r) = rec.lock() {
                    r.push(Received {
                        action,
                        body,
                        signature,
                    });
                }
                let nack = nk
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
                if nack {
                    let (status, kind, code) =
                        na.lock()
                            .map(|g| g.clone())
                            .unwrap_or((400, "CORE-ERROR".into(), "31001".into()));
                    HttpResponse::build(
                        actix_web::http::StatusCode::from_u16(status)
                            .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST),
                    )
                    .json(json!({"message": {"ack": {"status": "NACK"}},
                        "error": {"type": kind, "code": code, "message": "scripted NACK"}}))
                } else {
                    HttpResponse::Ok().json(json!({"message": {"ack": {"status": "ACK"}}}))
                }
            }
        }))
    })
    .workers(1)
    .disable_signals()
    .bind(bind)?;
    let addr = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    Ok((
        Counterpart {
            received,
            consumed: 0,
            nacks,
            nack_as,
            handle,
        },
        format!("http://{addr}"),
    ))
}

trait NowSecs {
    fn unix_seconds_now(&self) -> i64;
}

impl NowSecs for SystemClock {
    fn unix_seconds_now(&self) -> i64 {
        crate::clock::Clock::unix_seconds(self)
    }
}

struct Gateway {
    base: String,
    id: SubscriberId,
    tokens: TokenKeys,
    _running: Option<(actix_web::dev::ServerHandle, tempfile::TempDir)>,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some((handle, _)) = &self._running {
            drop(handle.stop(false));
        }
    }
}

struct Flow<'f> {
    fx: &'f Fixture,
    keys: BTreeMap<String, PrivateKey>,
    counterparts: BTreeMap<String, Counterpart>,
    gateway: Gateway,
    http: reqwest::Client,
    bindings: HashMap<String, Value>,
    order: Option<Value>,
    trace: Vec<TraceItem>,
    step: usize,
}

/// Runs every fixture in `paths` (files, or directories of `*.json`), in order.
pub async fn run_paths(paths: &[PathBuf], target: &Target) -> Result<Vec<FlowReport>, String> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| format!("{}: {e}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "json"))
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(p.clone());
        }
    }
    if files.is_empty() {
        return Err("no fixture files found".into());
    }
    let mut reports = Vec::new();
    for f in files {
        let report = match Fixture::load(&f) {
            Ok(fx) => run_fixture(&fx, &f, target).await,
            Err(e) => FlowReport {
                file: f.display().to_string(),
                name: f.display().to_string(),
                description: String::new(),
                steps: vec![],
                trace: vec![],
                lanes: vec![],
                setup_error: Some(e.to_string()),
            },
        };
        reports.push(report);
    }
    Ok(reports)
}

/// Runs one fixture.
pub async fn run_fixture(fx: &Fixture, file: &Path, target: &Target) -> FlowReport {
    // Lanes: REST, the gateway, then the parties in the order the steps first name them.
    let mut lanes = vec![REST_LANE.to_owned(), GATEWAY_LANE.to_owned()];
    let named = fx.steps.iter().filter_map(|s| {
        s.send
            .as_ref()
            .map(|x| &x.from)
            .or(s.receive.as_ref().map(|x| &x.to))
            .or(s.script.as_ref().map(|x| &x.party))
    });
    for party in named.chain(fx.parties.keys()) {
        if !lanes.contains(party) {
            lanes.push(party.clone());
        }
    }
    let mut report = FlowReport {
        file: file.display().to_string(),
        name: fx.name.clone(),
        description: fx.description.clone(),
        steps: vec![],
        trace: vec![],
        lanes,
        setup_error: None,
    };
    let mut flow = match Flow::start(fx, target).await {
        Ok(f) => f,
        Err(e) => {
            report.setup_error = Some(e);
            return report;
        }
    };
    if let Err(e) = flow.register_order().await {
        report.setup_error = Some(e);
        report.trace = std::mem::take(&mut flow.trace);
        flow.shutdown().await;
        return report;
    }
    let mut failed = false;
    for (i, step) in fx.steps.iter().enumerate() {
        flow.step = i + 1;
        if failed {
            report.steps.push(StepReport {
                index: i + 1,
                name: step.name.clone(),
                outcome: StepOutcome::Skipped,
                elapsed: Duration::ZERO,
            });
            continue;
        }
        let started = Instant::now();
        let outcome = match flow.run_step(step).await {
            Ok(()) => StepOutcome::Passed,
            Err(detail) => {
                failed = true;
                StepOutcome::Failed(detail)
            }
        };
        report.steps.push(StepReport {
            index: i + 1,
            name: step.name.clone(),
            outcome,
            elapsed: started.elapsed(),
        });
    }
    report.trace = std::mem::take(&mut flow.trace);
    flow.shutdown().await;
    report
}

fn record(p: &PartySpec, key: &PrivateKey, url: &str) -> Value {
    json!({
        "subscriber_id": p.subscriber_id, "ukId": p.unique_key_id, "type": p.kind,
        "domain": if p.leg == "logistics" { "ONDC:LOG10" } else { "ONDC:RET10" },
        "subscriber_url": url, "signing_public_key": key.public_key().to_base64(),
        "valid_from": "2024-01-01T00:00:00.000Z", "valid_until": "2099-01-01T00:00:00.000Z", "status": "SUBSCRIBED",
    })
}

/// `host` and `port` of an http URL.
fn host_port(url: &str) -> Option<(String, u16)> {
    let rest = url.strip_prefix("http://")?;
    let authority = rest.split('/').next()?;
    let (host, port) = authority.rsplit_once(':').unwrap_or((authority, "80"));
    Some((host.to_owned(), port.parse().ok()?))
}

impl<'f> Flow<'f> {
    async fn start(fx: &'f Fixture, target: &Target) -> Result<Flow<'f>, String> {
        let mut keys = BTreeMap::new();
        for (name, p) in &fx.parties {
            let key = match (&p.signing_private_key, target) {
                (Some(k), _) => PrivateKey::from_base64(k).map_err(|e| format!("party {name}: {e}"))?,
                (None, Target::InProcess) => PrivateKey::generate(),
                (None, Target::Remote { .. }) => {
                    return Err(format!(
                        "party {name}: a running gateway needs the party's registered key"
                    ));
                }
            };
            keys.insert(name.clone(), key);
        }
        let mut counterparts = BTreeMap::new();
        let gateway = match target {
            Target::InProcess => {
                let gateway_key = PrivateKey::generate();
                let mut records = vec![];
                for (name, p) in &fx.parties {
                    let (cp, url) = start_counterpart(("127.0.0.1".into(), 0), gateway_key.public_key())
                        .map_err(|e| format!("cannot start counterpart {name}: {e}"))?;
                    records.push(record(p, &keys[name], &url));
                    counterparts.insert(name.clone(), cp);
                }
                let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
                let registry = dir.path().join("registry.json");
                std::fs::write(&registry, serde_json::to_vec(&records).unwrap_or_default())
                    .map_err(|e| e.to_string())?;
                let secret = MessageId::generate().to_string() + &MessageId::generate().to_string();
                let toml = format!(
                    "subscriber_id = \"replay-gateway.local\"\nunique_key_id = \"replay-1\"\nsigning_private_key = \"{}\"\n\
                     subscriber_url = \"http://127.0.0.1:0\"\n[server]\nbind = \"127.0.0.1:0\"\nworkers = 1\n\
                     [store]\npath = \"{}\"\n[registry]\nfile = \"{}\"\n[outbox]\ninitial_backoff_ms = 100\nmax_backoff_ms = 400\n\
                     [rest]\ntoken_secret = \"{secret}\"\n",
                    gateway_key.to_base64_keypair(),
                    dir.path().join("data").display(),
                    registry.display()
                );
                let settings = Settings::from_toml(&toml).map_err(|e| e.to_string())?;
                let app = Application::build(&settings, Arc::new(SystemClock)).map_err(|e| e.to_string())?;
                let base = format!("http://127.0.0.1:{}", app.port());
                let handle = app.handle();
                tokio::spawn(app.run_until_stopped());
                Gateway {
                    base,
                    id: settings.subscriber_id.clone(),
                    tokens: TokenKeys::hs256(secret.as_bytes()),
                    _running: Some((handle, dir)),
                }
            }
            Target::Remote { url, settings } => {
                let registry: Vec<RegistryRecord> = match &settings.registry.file {
                    Some(f) => serde_json::from_slice(
                        &std::fs::read(f).map_err(|e| format!("{}: {e}", f.display()))?,
                    )
                    .map_err(|e| format!("{}: {e}", f.display()))?,
                    None => vec![],
                };
                let gateway_key = settings.signer().public_key();
                for (name, p) in &fx.parties {
                    if p.kind.eq_ignore_ascii_case("BAP") {
                        continue;
                    }
                    let rec = registry
                        .iter()
                        .find(|r| r.subscriber_id.as_str() == p.subscriber_id)
                        .ok_or_else(|| {
                            format!(
                                "party {name} ({}) is not in the gateway's registry",
                                p.subscriber_id
                            )
                        })?;
                    let bind = host_port(&rec.subscriber_url)
                        .ok_or_else(|| format!("party {name}: cannot listen at {}", rec.subscriber_url))?;
                    let (cp, _) = start_counterpart(bind, gateway_key)
                        .map_err(|e| format!("counterpart {name} at {}: {e}", rec.subscriber_url))?;
                    counterparts.insert(name.clone(), cp);
                }
                Gateway {
                    base: url.trim_end_matches('/').to_owned(),
                    id: settings.subscriber_id.clone(),
                    tokens: TokenKeys::hs256(settings.rest.token_secret.as_bytes()),
                    _running: None,
                }
            }
        };
        let mut bindings = HashMap::new();
        bindings.insert(
            "run".to_owned(),
            json!(MessageId::generate().as_str()[..8].to_owned()),
        );
        bindings.insert("gateway".to_owned(), json!(gateway.id.as_str()));
        for (name, p) in &fx.parties {
            bindings.insert(format!("{name}.id"), json!(p.subscriber_id));
        }
        Ok(Flow {
            fx,
            keys,
            counterparts,
            gateway,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .map_err(|e| e.to_string())?,
            bindings,
            order: None,
            trace: vec![],
            step: 0,
        })
    }

    /// Stops the counterparts (their ports are free for the next flow) and an in-process gateway.
    async fn shutdown(&mut self) {
        for cp in self.counterparts.values() {
            cp.handle.stop(false).await;
        }
        if let Some((handle, _)) = &self.gateway._running {
            handle.stop(false).await;
        }
    }

    fn token(&self, sub: &str, role: Role) -> Result<String, String> {
        self.gateway
            .tokens
            .mint(sub, role, crate::clock::Clock::unix_seconds(&SystemClock), 600)
            .map_err(|e| e.to_string())
    }

    async fn register_order(&mut self) -> Result<(), String> {
        let Some(order) = &self.fx.order else {
            return Ok(());
        };
        let order = substitute(order, &self.bindings)?;
        let token = self.token("replay-platform", Role::Platform)?;
        let (status, body) = self.rest("POST", "/api/v1/orders", &token, Some(&order)).await?;
        self.trace.push(TraceItem {
            step: 0,
            from: REST_LANE.into(),
            to: GATEWAY_LANE.into(),
            label: format!("POST /api/v1/orders → {status}"),
            ok: status == 201,
            payload: pretty(&order),
        });
        if status != 201 {
            return Err(format!(
                "registering the order: expected 201, got {status}: {body}"
            ));
        }
        self.order = Some(order);
        Ok(())
    }

    async fn rest(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), String> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.gateway.base))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| format!("REST call failed: {}", e.without_url()))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::String(text))))
    }

    async fn run_step(&mut self, step: &Step) -> Result<(), String> {
        if let Some(s) = &step.send {
            return self.send(s).await;
        }
        if let Some(r) = &step.receive {
            return self.receive(r).await;
        }
        if let Some(r) = &step.rest {
            return self.rest_step(r).await;
        }
        if let Some(m) = &step.expect_order {
            return self.expect_order(m).await;
        }
        if let Some(s) = &step.script {
            if let Some(cp) = self.counterparts.get(&s.party) {
                if let Ok(mut n) = cp.nack_as.lock() {
                    *n = (s.nack_status, s.nack_type.clone(), s.nack_code.clone());
                }
                cp.nacks.store(s.nack_next, Ordering::SeqCst);
            }
            return Ok(());
        }
        Err("empty step".into())
    }

    fn fill_context(&self, body: &mut Value, party: &PartySpec, action: &str) -> Result<(), String> {
        let order = self.order.as_ref();
        let leg = |k: &str| {
            order
                .and_then(|o| {
                    o[if party.leg == "logistics" {
                        "logistics"
                    } else {
                        "retail"
                    }]
                    .get(k)
                })
                .cloned()
        };
        let is_buyer_app = party.kind.eq_ignore_ascii_case("BAP");
        let bpp_id = if is_buyer_app {
            leg("bpp_id").unwrap_or(Value::Null)
        } else {
            json!(party.subscriber_id)
        };
        let bap_id = if is_buyer_app {
            json!(party.subscriber_id)
        } else {
            json!(self.gateway.id.as_str())
        };
        let defaults = [
            (
                "domain",
                leg("domain").unwrap_or(json!(if party.leg == "logistics" {
                    "ONDC:LOG10"
                } else {
                    "ONDC:RET10"
                })),
            ),
            ("action", json!(action)),
            ("core_version", json!("1.2.5")),
            ("bap_id", bap_id.clone()),
            (
                "bap_uri",
                json!(format!("https://{}/ondc", bap_id.as_str().unwrap_or_default())),
            ),
            ("bpp_id", bpp_id.clone()),
            (
                "bpp_uri",
                json!(format!("https://{}/ondc", bpp_id.as_str().unwrap_or_default())),
            ),
            (
                "transaction_id",
                leg("transaction_id").unwrap_or(json!(format!("T-{}", MessageId::generate()))),
            ),
            ("message_id", json!(MessageId::generate().as_str())),
            ("timestamp", json!(format_timestamp(chrono::Utc::now()))),
            ("ttl", json!("PT30S")),
            ("city", json!("std:080")),
            ("country", json!("IND")),
        ];
        if !body.is_object() {
            return Err("a send step's body must be a JSON object".into());
        }
        let ctx = body
            .as_object_mut()
            .map(|o| o.entry("context").or_insert_with(|| json!({})))
            .ok_or("no context")?;
        let Some(ctx) = ctx.as_object_mut() else {
            return Err("context must be an object".into());
        };
        for (k, v) in defaults {
            ctx.entry(k.to_owned()).or_insert(v);
        }
        Ok(())
    }

    async fn send(&mut self, s: &super::fixture::SendStep) -> Result<(), String> {
        let party = &self.fx.parties[&s.from];
        let mut body = substitute(&s.body, &self.bindings)?;
        self.fill_context(&mut body, party, &s.action)?;
        let bytes = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
        let key_id: KeyId = format!("{}|{}|ed25519", party.subscriber_id, party.unique_key_id)
            .parse()
            .map_err(|e| format!("party {}: {e}", s.from))?;
        let signer = Signer::new(self.keys[&s.from].clone(), key_id);
        let now = crate::clock::Clock::unix_seconds(&SystemClock);
        let header = signer.sign(&bytes, now, now + 300).to_string();
        let sent = if s.tamper {
            let mut t = body.clone();
            t["message"]["tampered"] = json!(true);
            serde_json::to_vec(&t).map_err(|e| e.to_string())?
        } else {
            bytes
        };
        for (name, path) in &s.bind {
            let v = jsonpath::get(&body, path)
                .map_err(|e| e.to_string())?
                .cloned()
                .ok_or(format!("bind {name}: nothing at {path}"))?;
            self.bindings.insert(name.clone(), v);
        }
        let resp = self
            .http
            .post(format!("{}/{}", self.gateway.base, s.action))
            .header("authorization", header)
            .header("content-type", "application/json")
            .body(sent)
            .send()
            .await
            .map_err(|e| format!("POST /{} failed: {}", s.action, e.without_url()))?;
        let status = resp.status().as_u16();
        let answer: Value = resp.json().await.unwrap_or(Value::Null);
        let code = answer["error"]["code"].as_str().map(str::to_owned);
        let (want_status, want_code) = match &s.expect {
            Some(e) => (e.status, e.nack_code.clone()),
            None => (200, None),
        };
        let ack = answer["message"]["ack"]["status"]
            .as_str()
            .unwrap_or("?")
            .to_owned();
        let mut problems = vec![];
        if status != want_status {
            problems.push(format!("status: expected {want_status}, got {status}"));
        }
        if want_status == 200 && want_code.is_none() && ack != "ACK" {
            problems.push(format!("answer: expected ACK, got {answer}"));
        }
        if let Some(c) = &want_code
            && code.as_deref() != Some(c)
        {
            problems.push(format!(
                "error.code: expected {c}, got {}",
                code.as_deref().unwrap_or("none")
            ));
        }
        self.trace.push(TraceItem {
            step: self.step,
            from: s.from.clone(),
            to: GATEWAY_LANE.into(),
            label: format!(
                "/{} → {status} {ack}{}",
                s.action,
                code.map(|c| format!(" {c}")).unwrap_or_default()
            ),
            ok: problems.is_empty(),
            payload: format!("{}\n\nanswer:\n{}", pretty(&body), pretty(&answer)),
        });
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    async fn receive(&mut self, r: &super::fixture::ReceiveStep) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_millis(r.timeout_ms.unwrap_or(10_000));
        let matches = substitute(&json!(r.matches), &self.bindings)?;
        loop {
            let cp = self
                .counterparts
                .get_mut(&r.to)
                .ok_or(format!("no counterpart for {}", r.to))?;
            let next = {
                let received = cp.received.lock().map_err(|_| "poisoned")?;
                received
                    .iter()
                    .enumerate()
                    .skip(cp.consumed)
                    .find(|(_, m)| m.action == r.action)
                    .map(|(i, m)| (i, m.clone()))
            };
            if let Some((i, msg)) = next {
                cp.consumed = i + 1;
                let mut problems = vec![];
                if let Err(e) = &msg.signature {
                    problems.push(format!("gateway signature invalid: {e}"));
                }
                problems.extend(compare(&msg.body, &matches));
                self.trace.push(TraceItem {
                    step: self.step,
                    from: GATEWAY_LANE.into(),
                    to: r.to.clone(),
                    label: format!(
                        "/{}{}",
                        r.action,
                        if msg.signature.is_ok() {
                            " (signed ✓)"
                        } else {
                            " (bad signature)"
                        }
                    ),
                    ok: problems.is_empty(),
                    payload: pretty(&msg.body),
                });
                if !problems.is_empty() {
                    return Err(problems.join("; "));
                }
                for (name, path) in &r.bind {
                    let v = jsonpath::get(&msg.body, path)
                        .map_err(|e| e.to_string())?
                        .cloned()
                        .ok_or(format!("bind {name}: nothing at {path}"))?;
                    self.bindings.insert(name.clone(), v);
                }
                return Ok(());
            }
            if Instant::now() >= deadline {
                let got: Vec<String> = cp
                    .received
                    .lock()
                    .map(|r| r.iter().map(|m| format!("/{}", m.action)).collect())
                    .unwrap_or_default();
                return Err(format!(
                    "expected /{} to {} within {} ms; it received {:?}",
                    r.action,
                    r.to,
                    r.timeout_ms.unwrap_or(10_000),
                    got
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn rest_step(&mut self, r: &super::fixture::RestStep) -> Result<(), String> {
        let role: Role = r
            .caller
            .role
            .parse()
            .map_err(|e: crate::tokens::TokenError| e.to_string())?;
        let token = self.token(&r.caller.sub, role)?;
        let path = substitute(&json!(r.path), &self.bindings)?
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let body = r
            .body
            .as_ref()
            .map(|b| substitute(b, &self.bindings))
            .transpose()?;
        let (status, answer) = self.rest(&r.method, &path, &token, body.as_ref()).await?;
        let want = r.status.unwrap_or(200);
        let mut problems = vec![];
        if status != want {
            problems.push(format!("status: expected {want}, got {status} ({answer})"));
        }
        problems.extend(compare(&answer, &substitute(&json!(r.matches), &self.bindings)?));
        self.trace.push(TraceItem {
            step: self.step,
            from: REST_LANE.into(),
            to: GATEWAY_LANE.into(),
            label: format!("{} {path} as {} → {status}", r.method, r.caller.role),
            ok: problems.is_empty(),
            payload: format!(
                "{}\n\nanswer:\n{}",
                body.as_ref().map(pretty).unwrap_or_default(),
                pretty(&answer)
            ),
        });
        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        for (name, p) in &r.bind {
            let v = jsonpath::get(&answer, p)
                .map_err(|e| e.to_string())?
                .cloned()
                .ok_or(format!("bind {name}: nothing at {p}"))?;
            self.bindings.insert(name.clone(), v);
        }
        Ok(())
    }

    async fn expect_order(&mut self, m: &BTreeMap<String, Value>) -> Result<(), String> {
        let id = self
            .order
            .as_ref()
            .and_then(|o| o["order_id"].as_str())
            .ok_or("the fixture registered no order")?
            .to_owned();
        let token = self.token("replay-platform", Role::Platform)?;
        let expected = substitute(&json!(m), &self.bindings)?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (status, view) = self
                .rest("GET", &format!("/api/v1/orders/{id}"), &token, None)
                .await?;
            let problems = if status == 200 {
                compare(&view, &expected)
            } else {
                vec![format!("GET order: {status}")]
            };
            if problems.is_empty() || Instant::now() >= deadline {
                self.trace.push(TraceItem {
                    step: self.step,
                    from: REST_LANE.into(),
                    to: GATEWAY_LANE.into(),
                    label: format!(
                        "GET /api/v1/orders/{id} (state {})",
                        view["state"].as_str().unwrap_or("?")
                    ),
                    ok: problems.is_empty(),
                    payload: pretty(&view),
                });
                return if problems.is_empty() {
                    Ok(())
                } else {
                    Err(problems.join("; "))
                };
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// Every `path: expected X, got Y` where `actual` differs from `expected` (a map of path → value).
fn compare(actual: &Value, expected: &Value) -> Vec<String> {
    let Some(map) = expected.as_object() else {
        return vec![];
    };
    let mut problems = vec![];
    for (path, want) in map {
        match jsonpath::get(actual, path) {
            Err(e) => problems.push(e.to_string()),
            Ok(got) if want == "*" && got.is_some() => {}
            Ok(Some(got)) if got == want => {}
            Ok(got) => problems.push(format!(
                "{path}: expected {want}, got {}",
                got.map_or("nothing".to_owned(), |g| g.to_string())
            )),
        }
    }
    problems
}

/// Replaces `{{name}}` in every string; a string that is only `{{name}}` becomes the bound value.
fn substitute(v: &Value, bindings: &HashMap<String, Value>) -> Result<Value, String> {
    Ok(match v {
        Value::String(s) => {
            if let Some(name) = s.strip_prefix("{{").and_then(|r| r.strip_suffix("}}"))
                && !name.contains("{{")
            {
                return bindings
                    .get(name)
                    .cloned()
                    .ok_or(format!("unbound placeholder {{{{{name}}}}}"));
            }
            let mut out = String::new();
            let mut rest = s.as_str();
            while let Some(start) = rest.find("{{") {
                let end = rest[start..]
                    .find("}}")
                    .ok_or(format!("unclosed placeholder in {s:?}"))?
                    + start;
                let name = &rest[start + 2..end];
                let value = bindings
                    .get(name)
                    .ok_or(format!("unbound placeholder {{{{{name}}}}}"))?;
                out.push_str(&rest[..start]);
                out.push_str(&value.as_str().map_or(value.to_string(), str::to_owned));
                rest = &rest[end + 2..];
            }
            out.push_str(rest);
            Value::String(out)
        }
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| substitute(x, bindings))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(o) => {
            let mut m = serde_json::Map::new();
            for (k, x) in o {
                m.insert(k.clone(), substitute(x, bindings)?);
            }
            Value::Object(m)
        }
        other => other.clone(),
    })
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// One line per step and a closing summary, as the `replay` subcommand prints them.
pub fn text_report(reports: &[FlowReport]) -> String {
    let mut out = String::new();
    let (mut passed, mut failed) = (0, 0);
    for r in reports {
        out.push_str(&format!(
            "{} {} ({})\n",
            if r.passed() { "PASS" } else { "FAIL" },
            r.name,
            r.file
        ));
        if let Some(e) = &r.setup_error {
            out.push_str(&format!("  ✗ set-up: {e}\n"));
        }
        for s in &r.steps {
            match &s.outcome {
                StepOutcome::Passed => out.push_str(&format!(
                    "  ✓ {:>2} {} ({} ms)\n",
                    s.index,
                    s.name,
                    s.elapsed.as_millis()
                )),
                StepOutcome::Failed(d) => {
                    out.push_str(&format!(
                        "  ✗ {:>2} {} ({} ms)\n",
                        s.index,
                        s.name,
                        s.elapsed.as_millis()
                    ));
                    for line in d.split("; ") {
                        out.push_str(&format!("       {line}\n"));
                    }
                }
                StepOutcome::Skipped => out.push_str(&format!("  - {:>2} {} (skipped)\n", s.index, s.name)),
            }
        }
        if r.passed() {
            passed += 1;
        } else {
            failed += 1;
        }
    }
    out.push_str(&format!("replay: {passed} passed, {failed} failed\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_substitute_whole_values_and_inside_strings() {
        let mut b = HashMap::new();
        b.insert("mid".to_owned(), json!("M-1"));
        b.insert("n".to_owned(), json!(3));
        let v = substitute(
            &json!({"a": "{{mid}}", "b": "x-{{mid}}-{{n}}", "c": ["{{n}}"]}),
            &b,
        )
        .unwrap();
        assert_eq!(v, json!({"a": "M-1", "b": "x-M-1-3", "c": [3]}));
        assert!(substitute(&json!("{{nope}}"), &b).is_err());
    }

    #[test]
    fn compare_names_each_differing_path() {
        let actual = json!({"state": "Cancelled", "legs": [{"s": "a"}]});
        assert!(compare(&actual, &json!({"$.state": "Cancelled", "$.legs[0].s": "*"})).is_empty());
        let p = compare(&actual, &json!({"$.state": "Created", "$.missing": 1}));
        assert_eq!(
            p,
            vec![
                "$.missing: expected 1, got nothing",
                "$.state: expected \"Created\", got \"Cancelled\""
            ]
        );
    }
}
