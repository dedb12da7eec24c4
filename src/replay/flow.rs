//! One flow being played: its parties (a loopback [`Counterpart`] for each one that receives),
//! the gateway it runs against (an in-process [`Harness`], or a running gateway), the bindings,
//! and the execution of each kind of step (send, receive, rest, expect_order, script), each adding
//! its arrows to the trace.

use super::compare::compare;
use super::counterpart::{Counterpart, Nack};
use super::error::ReplayError;
use super::fixture::{Fixture, PartySpec, ReceiveStep, RestStep, SendStep, Step};
use super::harness::Harness;
use super::jsonpath;
use super::report::TraceItem;
use super::run::Target;
use super::substitute::substitute;
use crate::clock::{Clock, SystemClock};
use crate::config::Settings;
use crate::protocol::{Action, MessageId, SubscriberId, check_context, format_timestamp};
use crate::registry::RegistryRecord;
use crate::signing::{KeyId, PrivateKey, Signer};
use crate::tokens::{Role, TokenKeys};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// The lane of the gateway in the sequence diagram.
pub const GATEWAY_LANE: &str = "gateway";
/// The lane of the platform's REST calls.
pub const REST_LANE: &str = "platform/REST";

/// How long a receive step waits unless it says otherwise.
const RECEIVE_WAIT_MS: u64 = 10_000;
/// How long `expect_order` polls the order view, and how often.
const ORDER_WAIT: Duration = Duration::from_secs(10);
const ORDER_POLL: Duration = Duration::from_millis(25);

/// The gateway a flow runs against.
struct Gateway {
    base: String,
    id: SubscriberId,
    /// The `keyId` it signs with: `{subscriber_id}|{unique_key_id}|ed25519`.
    key_id: String,
    tokens: TokenKeys,
    /// The `core_version`s it accepts; what it sends must be one of them.
    core_versions: Vec<String>,
    /// The in-process gateway, stopped with the flow; `None` for a running one.
    running: Option<Harness>,
}

impl Gateway {
    /// The gateway at `base` that runs with `settings` (not stopped by the flow).
    fn of(base: &str, settings: &Settings) -> Self {
        Self {
            base: base.to_owned(),
            id: settings.subscriber_id.clone(),
            key_id: settings.signer().key_id().to_string(),
            tokens: TokenKeys::hs256(settings.rest.token_secret.as_bytes()),
            core_versions: settings.protocol.core_versions.clone(),
            running: None,
        }
    }
}

/// A party's counterpart, and how far its receive steps have read.
struct Party {
    counterpart: Counterpart,
    /// Requests before this position were taken or skipped by a receive step.
    taken: usize,
}

/// Where a party's counterpart listens for a running gateway.
struct Listen {
    /// Host and port.
    addr: (String, u16),
    /// The registered `subscriber_url`, for error messages.
    url: String,
}

/// A flow in progress.
pub struct Flow<'f> {
    fx: &'f Fixture,
    keys: BTreeMap<String, PrivateKey>,
    parties: BTreeMap<String, Party>,
    gateway: Gateway,
    http: reqwest::Client,
    bindings: HashMap<String, Value>,
    order: Option<Value>,
    /// The arrows so far.
    pub trace: Vec<TraceItem>,
    /// The step being run (1-based; 0 during set-up).
    pub step: usize,
}

/// The registry record of `p`, served at `url`.
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

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// The value at `path` in `v`, for a `bind`: a path that finds nothing fails the step.
fn bound(v: &Value, name: &str, path: &str) -> Result<Value, ReplayError> {
    jsonpath::get(v, path)
        .map_err(|e| ReplayError::Fixture(e.to_string()))?
        .cloned()
        .ok_or_else(|| ReplayError::Fixture(format!("bind {name}: nothing at {path}")))
}

/// A buyer app (type `BAP`) only sends: against a running gateway no counterpart is started for
/// it (in-process, every party gets one, so that the registry has a URL for it).
fn is_buyer_app(p: &PartySpec) -> bool {
    p.kind.eq_ignore_ascii_case("BAP")
}

impl<'f> Flow<'f> {
    /// Starts the counterparts and (in-process) the gateway, and binds `run`, `gateway` and
    /// `<party>.id`.
    pub async fn start(fx: &'f Fixture, target: &Target) -> Result<Flow<'f>, ReplayError> {
        let mut keys = BTreeMap::new();
        for (name, p) in &fx.parties {
            let key = match (&p.signing_private_key, target) {
                (Some(k), _) => PrivateKey::from_base64(k)
                    .map_err(|e| ReplayError::Fixture(format!("party {name}: {e}")))?,
                (None, Target::InProcess) => PrivateKey::generate(),
                (None, Target::Remote { .. }) => {
                    return Err(ReplayError::Fixture(format!(
                        "party {name}: a running gateway needs the party's registered key"
                    )));
                }
            };
            keys.insert(name.clone(), key);
        }
        let (gateway, parties) = match target {
            Target::InProcess => Self::in_process(fx, &keys).await?,
            Target::Remote { url, settings } => {
                let listen = Self::remote_addresses(fx, settings)?;
                let gateway_key = settings.signer().public_key();
                let mut parties = BTreeMap::new();
                for (name, Listen { addr, url }) in listen {
                    let counterpart = Counterpart::start_at(addr, gateway_key)
                        .map_err(|e| ReplayError::Fixture(format!("counterpart {name} at {url}: {e}")))?;
                    parties.insert(
                        name,
                        Party {
                            counterpart,
                            taken: 0,
                        },
                    );
                }
                let gateway = Gateway::of(url.trim_end_matches('/'), settings);
                (gateway, parties)
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
            parties,
            gateway,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()?,
            bindings,
            order: None,
            trace: vec![],
            step: 0,
        })
    }

    /// A counterpart on a free loopback port for every party, then a gateway whose registry
    /// names them all there.
    async fn in_process(
        fx: &Fixture,
        keys: &BTreeMap<String, PrivateKey>,
    ) -> Result<(Gateway, BTreeMap<String, Party>), ReplayError> {
        let gateway_key = PrivateKey::generate();
        let mut records = vec![];
        let mut parties = BTreeMap::new();
        for (name, p) in &fx.parties {
            let counterpart = Counterpart::start(gateway_key.public_key())
                .map_err(|e| ReplayError::Fixture(format!("cannot start counterpart {name}: {e}")))?;
            records.push(record(p, &keys[name], counterpart.url()));
            parties.insert(
                name.clone(),
                Party {
                    counterpart,
                    taken: 0,
                },
            );
        }
        let secret = MessageId::generate().to_string() + &MessageId::generate().to_string();
        let settings = format!(
            "subscriber_id = \"replay-gateway.local\"\nunique_key_id = \"replay-1\"\n\
             signing_private_key = \"{}\"\nsubscriber_url = \"http://127.0.0.1:0\"\n\
             [server]\nworkers = 1\n[outbox]\ninitial_backoff_ms = 100\nmax_backoff_ms = 400\n\
             [rest]\ntoken_secret = \"{secret}\"\n",
            gateway_key.to_base64_keypair(),
        );
        let running = Harness::start(&settings, &records, None).await?;
        let mut gateway = Gateway::of(running.url(), running.settings());
        gateway.running = Some(running);
        Ok((gateway, parties))
    }

    /// Where each party must listen: the `subscriber_url` the running gateway's registry file
    /// gives it (the buyer app too: the gateway answers it with `/on_cancel`, `/on_status` and
    /// `/on_update`).
    fn remote_addresses(fx: &Fixture, settings: &Settings) -> Result<BTreeMap<String, Listen>, ReplayError> {
        let registry: Vec<RegistryRecord> = match &settings.registry.file {
            Some(f) => serde_json::from_slice(
                &std::fs::read(f).map_err(|e| ReplayError::Fixture(format!("{}: {e}", f.display())))?,
            )
            .map_err(|e| ReplayError::Fixture(format!("{}: {e}", f.display())))?,
            None => vec![],
        };
        let mut out = BTreeMap::new();
        for (name, p) in &fx.parties {
            let rec = registry
                .iter()
                .find(|r| r.subscriber_id.as_str() == p.subscriber_id)
                .ok_or_else(|| {
                    ReplayError::Fixture(format!(
                        "party {name} ({}) is not in the gateway's registry",
                        p.subscriber_id
                    ))
                })?;
            let addr = host_port(&rec.subscriber_url).ok_or_else(|| {
                ReplayError::Fixture(format!("party {name}: cannot listen at {}", rec.subscriber_url))
            })?;
            out.insert(
                name.clone(),
                Listen {
                    addr,
                    url: rec.subscriber_url.clone(),
                },
            );
        }
        Ok(out)
    }

    /// Stops the counterparts (their ports are free for the next flow) and an in-process
    /// gateway.
    pub async fn shutdown(&mut self) {
        for p in self.parties.values() {
            p.counterpart.stop().await;
        }
        if let Some(gateway) = self.gateway.running.take() {
            // The flow's outcome is already decided; a store still held after the wait is
            // closed when its last holder ends, and its temporary directory goes with the
            // harness either way.
            let _ = gateway.stop().await;
        }
    }

    fn token(&self, sub: &str, role: Role) -> Result<String, ReplayError> {
        self.gateway
            .tokens
            .mint(sub, role, SystemClock.unix_seconds(), 600)
            .map_err(ReplayError::from)
    }

    /// Registers the fixture's order (step 0), if it has one.
    pub async fn register_order(&mut self) -> Result<(), ReplayError> {
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
            return Err(ReplayError::Fixture(format!(
                "registering the order: expected 201, got {status}: {body}"
            )));
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
    ) -> Result<(u16, Value), ReplayError> {
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|e| ReplayError::Fixture(format!("method {method:?}: {e}")))?;
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
            .map_err(|e| ReplayError::Fixture(format!("REST call failed: {}", e.without_url())))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::String(text))))
    }

    /// Runs one step: `Ok` when it went as expected, else every difference.
    pub async fn run_step(&mut self, step: &Step) -> Result<(), ReplayError> {
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
            if let Some(p) = self.parties.get(&s.party) {
                let nack = Nack::beckn(s.nack_status, &s.nack_type, &s.nack_code);
                p.counterpart.nack_next_with(s.nack_next, nack);
            }
            return Ok(());
        }
        Err(ReplayError::Fixture("empty step".into()))
    }

    fn fill_context(&self, body: &mut Value, party: &PartySpec, action: &str) -> Result<(), ReplayError> {
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
        let bpp_id = if is_buyer_app(party) {
            leg("bpp_id").unwrap_or(Value::Null)
        } else {
            json!(party.subscriber_id)
        };
        let bap_id = if is_buyer_app(party) {
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
            return Err(ReplayError::Fixture(
                "a send step's body must be a JSON object".into(),
            ));
        }
        let ctx = body
            .as_object_mut()
            .map(|o| o.entry("context").or_insert_with(|| json!({})))
            .ok_or_else(|| ReplayError::Fixture("no context".into()))?;
        let Some(ctx) = ctx.as_object_mut() else {
            return Err(ReplayError::Fixture("context must be an object".into()));
        };
        for (k, v) in defaults {
            ctx.entry(k.to_owned()).or_insert(v);
        }
        Ok(())
    }

    async fn send(&mut self, s: &SendStep) -> Result<(), ReplayError> {
        let party = &self.fx.parties[&s.from];
        let mut body = substitute(&s.body, &self.bindings)?;
        self.fill_context(&mut body, party, &s.action)?;
        let bytes = serde_json::to_vec(&body)?;
        let key_id: KeyId = format!("{}|{}|ed25519", party.subscriber_id, party.unique_key_id)
            .parse()
            .map_err(|e| ReplayError::Fixture(format!("party {}: {e}", s.from)))?;
        let signer = Signer::new(self.keys[&s.from].clone(), key_id);
        let now = SystemClock.unix_seconds();
        let header = signer.sign(&bytes, now, now + 300).to_string();
        let sent = if s.tamper {
            let mut t = body.clone();
            t["message"]["tampered"] = json!(true);
            serde_json::to_vec(&t)?
        } else {
            bytes
        };
        for (name, path) in &s.bind {
            let v = bound(&body, name, path)?;
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
            .map_err(|e| ReplayError::Fixture(format!("POST /{} failed: {}", s.action, e.without_url())))?;
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
            Err(ReplayError::Mismatch(problems.join("; ")))
        }
    }

    async fn receive(&mut self, r: &ReceiveStep) -> Result<(), ReplayError> {
        let timeout_ms = r.timeout_ms.unwrap_or(RECEIVE_WAIT_MS);
        let matches = substitute(&json!(r.matches), &self.bindings)?;
        let party = self
            .parties
            .get_mut(&r.to)
            .ok_or_else(|| ReplayError::Fixture(format!("no counterpart for {}", r.to)))?;
        let (at, msg) = party
            .counterpart
            .wait_next(&r.action, party.taken, Duration::from_millis(timeout_ms))
            .await
            .map_err(|e| {
                ReplayError::Mismatch(format!(
                    "expected /{} to {} within {timeout_ms} ms; it received {:?}",
                    r.action, r.to, e.got
                ))
            })?;
        party.taken = at + 1;
        let mut problems = vec![];
        match &msg.signature {
            Err(e) => problems.push(format!("gateway signature invalid: {e}")),
            Ok(()) if msg.key_id.as_deref() != Some(self.gateway.key_id.as_str()) => problems.push(format!(
                "signed as keyId {}, expected the gateway's {}",
                msg.key_id.as_deref().unwrap_or("none"),
                self.gateway.key_id
            )),
            Ok(()) => {}
        }
        // The context must be one the gateway would accept itself: the endpoint's action, an
        // accepted core_version, a well-formed timestamp and ttl, message_id ≠ transaction_id.
        if let Ok(action) = r.action.parse::<Action>()
            && let Err(e) = check_context(&msg.body, action, &self.gateway.core_versions)
        {
            problems.push(format!("context: {e}"));
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
            return Err(ReplayError::Mismatch(problems.join("; ")));
        }
        for (name, path) in &r.bind {
            let v = bound(&msg.body, name, path)?;
            self.bindings.insert(name.clone(), v);
        }
        Ok(())
    }

    async fn rest_step(&mut self, r: &RestStep) -> Result<(), ReplayError> {
        let role: Role = r.caller.role.parse().map_err(ReplayError::Token)?;
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
            return Err(ReplayError::Mismatch(problems.join("; ")));
        }
        for (name, p) in &r.bind {
            let v = bound(&answer, name, p)?;
            self.bindings.insert(name.clone(), v);
        }
        Ok(())
    }

    async fn expect_order(&mut self, m: &BTreeMap<String, Value>) -> Result<(), ReplayError> {
        let id = self
            .order
            .as_ref()
            .and_then(|o| o["order_id"].as_str())
            .ok_or_else(|| ReplayError::Fixture("the fixture registered no order".into()))?
            .to_owned();
        let token = self.token("replay-platform", Role::Platform)?;
        let expected = substitute(&json!(m), &self.bindings)?;
        // Polled: the view may still be catching up with asynchronous effects (deliveries,
        // retries), and the step passes as soon as it matches.
        let deadline = Instant::now() + ORDER_WAIT;
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
                    Err(ReplayError::Mismatch(problems.join("; ")))
                };
            }
            tokio::time::sleep(ORDER_POLL).await;
        }
    }
}
