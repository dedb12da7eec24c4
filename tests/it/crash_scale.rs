//! Crash safety at scale with the real binary: 500 cascades of the three kinds (the buyer app
//! cancels, the seller cancels, the LSP cancels with RTO), played by loopback peers that answer
//! what they receive as the fixtures do, while the gateway is killed with SIGKILL at random
//! moments and restarted on the same store. Peers resend what got no answer, with the same
//! bytes, as a real peer would. At the end every cascade is Cancelled, every peer received each
//! message it expected under exactly one message_id (a resend after a crash keeps the id), no
//! escrow was refunded more than once, and every timeline holds what was sent and received.
//! The same run on two nodes sharing PostgreSQL, the peers alternating between them, one node
//! killed twice (once for good), checks that the nodes share orders, dedupe, timers and the
//! outbox, and that the survivor takes over what the dead node had claimed.

use crate::crash::{record, scratch_database, sign, start, write_gateway, write_gateway_on};
use ondc_gateway::replay::counterpart::{Counterpart, Received};
use ondc_gateway::signing::PrivateKey;
use ondc_gateway::tokens::{Role, TokenKeys};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, mpsc};

const CASCADES: usize = 500;
const KILLS: usize = 5;
const GATEWAY: &str = "bnp.crash.local";
/// How long the whole run may take before the test fails.
const WITHIN: Duration = Duration::from_secs(240);

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
enum Party {
    Buyer,
    Seller,
    Lsp,
}

impl Party {
    fn id(self) -> &'static str {
        match self {
            Self::Buyer => "buyer-app.dev.local",
            Self::Seller => "seller.dev.local",
            Self::Lsp => "lsp.dev.local",
        }
    }
}

/// One step of a peer's part in a cascade.
enum Step {
    /// The party sends the fixture's send step `n` (counted among send steps).
    Send(Party, &'static str, usize),
    /// The party waits for the gateway's `action`, binding its message_id to `bind`.
    Await(Party, &'static str, Option<&'static str>),
}

struct Kind {
    name: &'static str,
    fixture: &'static str,
    script: Vec<Step>,
    /// What each peer must have received, once each by message_id.
    expected: Vec<(Party, &'static str)>,
}

fn kinds() -> [Kind; 3] {
    use Step::*;
    [
        Kind {
            name: "buyer cancels",
            fixture: "02-buyer-cancels-without-logistics",
            script: vec![
                Send(Party::Buyer, "cancel", 0),
                Await(Party::Seller, "cancel", Some("cancel_mid")),
                Send(Party::Seller, "on_cancel", 1),
                Await(Party::Buyer, "on_cancel", None),
            ],
            expected: vec![(Party::Seller, "cancel"), (Party::Buyer, "on_cancel")],
        },
        Kind {
            name: "seller cancels",
            fixture: "05-seller-cancels",
            script: vec![
                Send(Party::Seller, "on_cancel", 0),
                Await(Party::Lsp, "cancel", Some("lsp_cancel_mid")),
                Send(Party::Lsp, "on_cancel", 1),
                Await(Party::Seller, "update", Some("update_mid")),
                Send(Party::Seller, "on_update", 2),
            ],
            expected: vec![(Party::Lsp, "cancel"), (Party::Seller, "update")],
        },
        Kind {
            name: "LSP cancels, RTO",
            fixture: "03-lsp-cancels-rto-delivered",
            script: vec![
                Send(Party::Lsp, "on_cancel", 0),
                Await(Party::Seller, "cancel", Some("cancel_mid")),
                Send(Party::Seller, "on_cancel", 1),
                Send(Party::Lsp, "on_status", 2),
                Await(Party::Seller, "update", Some("update_mid")),
                Send(Party::Seller, "on_update", 3),
            ],
            expected: vec![(Party::Seller, "cancel"), (Party::Seller, "update")],
        },
    ]
}

/// Replaces every `{{name}}` in the strings of `v`.
fn substitute(v: &Value, bindings: &HashMap<&str, String>) -> Value {
    match v {
        Value::String(s) => {
            let mut s = s.clone();
            for (k, val) in bindings {
                s = s.replace(&format!("{{{{{k}}}}}"), val);
            }
            Value::String(s)
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| substitute(x, bindings)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), substitute(x, bindings)))
                .collect(),
        ),
        other => other.clone(),
    }
}

struct Fixture {
    order: Value,
    sends: Vec<Value>,
}

fn fixture(name: &str) -> Fixture {
    let path = format!("{}/fixtures/flows/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let fx: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let sends = fx["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s.get("send").map(|s| s["body"].clone()))
        .collect();
    Fixture {
        order: fx["order"].clone(),
        sends,
    }
}

/// A context as the party would write it for order `run` (the fixture engine's defaults).
fn context(party: Party, action: &str, run: usize) -> Value {
    let (domain, txn) = match party {
        Party::Lsp => ("ONDC:LOG10", format!("TL-{run}")),
        _ => ("ONDC:RET10", format!("TR-{run}")),
    };
    let (bap, bpp) = match party {
        Party::Buyer => (party.id(), Party::Seller.id()),
        _ => (GATEWAY, party.id()),
    };
    json!({
        "domain": domain, "action": action, "core_version": "1.2.5",
        "bap_id": bap, "bap_uri": format!("https://{bap}/ondc"),
        "bpp_id": bpp, "bpp_uri": format!("https://{bpp}/ondc"),
        "transaction_id": txn, "message_id": crate::app::uuid(),
        "timestamp": ondc_gateway::protocol::format_timestamp(chrono::Utc::now()), "ttl": "PT30S",
        "city": "std:080", "country": "IND"
    })
}

/// The gateway as the peers see it: the nodes' addresses, behind no balancer but the peers'
/// own choice.
struct Target {
    bases: Vec<String>,
    http: reqwest::Client,
}

/// Posts `body` signed by `party` until it is answered 200, resending the same bytes through
/// refused connections, timeouts and 5xx answers (a node is being killed), first to node
/// `prefer`, then to the next node after each failure, as a load balancer would.
async fn deliver(
    t: &Target,
    keys: &HashMap<Party, PrivateKey>,
    party: Party,
    action: &str,
    body: &[u8],
    prefer: usize,
) -> u32 {
    let auth = sign(&keys[&party], party.id(), body);
    let deadline = Instant::now() + WITHIN;
    let mut resends = 0;
    loop {
        let base = &t.bases[(prefer + resends as usize) % t.bases.len()];
        let sent = t
            .http
            .post(format!("{base}/{action}"))
            .header("authorization", &auth)
            .header("content-type", "application/json")
            .body(body.to_vec())
            .send()
            .await;
        match sent {
            Ok(r) if r.status() == 200 => return resends,
            // 408 (the head or body not read in time under load) and 429 are worth a resend.
            Ok(r) if r.status().is_client_error() && ![408, 429].contains(&r.status().as_u16()) => {
                panic!(
                    "/{action} from {party:?} refused: {} {}",
                    r.status(),
                    r.text().await.unwrap_or_default()
                )
            }
            _ => {}
        }
        assert!(Instant::now() < deadline, "/{action} from {party:?} never ACKed");
        resends += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What one cascade's peers received, by (party, action): message_ids with copies.
type Seen = BTreeMap<(Party, String), BTreeMap<String, usize>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_kills_during_500_cascades_lose_nothing_and_repeat_nothing() {
    // One node on the embedded store, killed and restarted five times.
    run(Backend::Sled, &[(0, true); KILLS]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_postgres_share_500_cascades_and_one_dies_without_loss() {
    // Two nodes on one database, the peers alternating between them; the second node is killed,
    // comes back, and is killed again for good: the first takes over what it held.
    run(Backend::Postgres { nodes: 2 }, &[(1, true), (1, false)]).await;
}

enum Backend {
    Sled,
    Postgres { nodes: usize },
}

/// The nodes' settings files and ports, on one store.
async fn nodes(
    backend: &Backend,
    dir: &std::path::Path,
    key: &PrivateKey,
    records: &Value,
) -> Vec<(PathBuf, u16)> {
    match backend {
        Backend::Sled => vec![write_gateway(dir, key, records.clone(), "max_attempts = 10000\n")],
        Backend::Postgres { nodes } => {
            let url = scratch_database("gw_crash").await;
            // A claim lapses soon after a node dies; an attempt takes at most 5 s.
            let store =
                format!("kind = \"postgres\"\nurl = \"{url}\"\npool_size = 8\noutbox_lease_secs = 10\n");
            (0..*nodes)
                .map(|i| {
                    let node_dir = dir.join(format!("node-{i}"));
                    std::fs::create_dir_all(&node_dir).unwrap();
                    write_gateway_on(
                        &node_dir,
                        key,
                        records.clone(),
                        "max_attempts = 10000\nrequest_timeout_ms = 5000\n",
                        &store,
                    )
                })
                .collect()
        }
    }
}

/// Plays 500 cascades against `backend` while the killer does `kills`: (which node, whether it
/// is started again).
async fn run(backend: Backend, kills_planned: &[(usize, bool)]) {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let gateway_key = PrivateKey::generate();
    let keys: HashMap<Party, PrivateKey> = [Party::Buyer, Party::Seller, Party::Lsp]
        .into_iter()
        .map(|p| (p, PrivateKey::generate()))
        .collect();
    let peers: HashMap<Party, Counterpart> = keys
        .keys()
        .map(|p| (*p, Counterpart::start(gateway_key.public_key()).unwrap()))
        .collect();
    let records = json!([
        record(
            Party::Buyer.id(),
            "BAP",
            &keys[&Party::Buyer],
            peers[&Party::Buyer].url()
        ),
        record(
            Party::Seller.id(),
            "BPP",
            &keys[&Party::Seller],
            peers[&Party::Seller].url()
        ),
        record(
            Party::Lsp.id(),
            "BPP",
            &keys[&Party::Lsp],
            peers[&Party::Lsp].url()
        ),
    ]);
    let nodes = nodes(&backend, dir.path(), &gateway_key, &records).await;
    let mut gateways = Vec::new();
    for (config, port) in &nodes {
        gateways.push(Arc::new(Mutex::new(Some(start(config, *port).await))));
    }
    let target = Arc::new(Target {
        bases: nodes
            .iter()
            .map(|(_, port)| format!("http://127.0.0.1:{port}"))
            .collect(),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap(),
    });
    // The node that is never killed answers the final questions.
    let survivor = target.bases[0].clone();
    let platform = TokenKeys::hs256(crate::app::TOKEN_SECRET.as_bytes())
        .mint("p", Role::Platform, chrono::Utc::now().timestamp(), 3600)
        .unwrap();
    let kinds = Arc::new(kinds());
    let fixtures: Arc<Vec<Fixture>> = Arc::new(kinds.iter().map(|k| fixture(k.fixture)).collect());

    // Every order registered first, on the nodes in turn.
    for run in 0..CASCADES {
        let order = substitute(
            &fixtures[run % 3].order,
            &HashMap::from([("run", run.to_string())]),
        );
        let r = target
            .http
            .post(format!(
                "{}/api/v1/orders",
                target.bases[run % target.bases.len()]
            ))
            .bearer_auth(&platform)
            .json(&order)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    }

    // Each peer's arrivals are routed to their cascade by transaction id.
    let mut inboxes = HashMap::new();
    let mut routes: HashMap<String, mpsc::UnboundedSender<(Party, Received)>> = HashMap::new();
    for run in 0..CASCADES {
        let (tx, rx) = mpsc::unbounded_channel();
        routes.insert(format!("TR-{run}"), tx.clone());
        routes.insert(format!("TL-{run}"), tx);
        inboxes.insert(run, rx);
    }
    let routes = Arc::new(routes);
    let peers = Arc::new(peers);
    for party in [Party::Buyer, Party::Seller, Party::Lsp] {
        let (peers, routes) = (peers.clone(), routes.clone());
        tokio::spawn(async move {
            let mut next = 0;
            loop {
                let Ok(r) = peers[&party]
                    .wait_until("anything", WITHIN, |all| all.get(next).cloned())
                    .await
                else {
                    return;
                };
                next += 1;
                let txn = r.body["context"]["transaction_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                if let Some(tx) = routes.get(&txn) {
                    let _ = tx.send((party, r));
                }
            }
        });
    }

    // The killer: SIGKILL at random moments while the cascades run, restart on the same store.
    let mut seed = u64::from(std::process::id()) ^ chrono::Utc::now().timestamp_micros() as u64;
    println!("crash at scale: seed {seed}");
    let killer = {
        let gateways = gateways.clone();
        let nodes = nodes.clone();
        let kills = kills_planned.to_vec();
        tokio::spawn(async move {
            let mut done = 0;
            for (node, restart) in kills {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let pause = 300 + (seed >> 33) % 1200;
                tokio::time::sleep(Duration::from_millis(pause)).await;
                let mut g = gateways[node].lock().await;
                if let Some(mut gone) = g.take() {
                    let _ = gone.child.kill();
                    let _ = gone.child.wait();
                    done += 1;
                }
                if restart {
                    *g = Some(start(&nodes[node].0, nodes[node].1).await);
                }
            }
            done
        })
    };

    // The cascades, all at once.
    let resends = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for (run, mut inbox) in inboxes {
        let (kinds, fixtures, target, keys, resends) = (
            kinds.clone(),
            fixtures.clone(),
            target.clone(),
            keys.clone(),
            resends.clone(),
        );
        tasks.spawn(async move {
            let kind = &kinds[run % 3];
            let fx = &fixtures[run % 3];
            let mut bindings: HashMap<&str, String> =
                HashMap::from([("run", run.to_string()), ("gateway", GATEWAY.to_owned())]);
            let mut seen: Seen = BTreeMap::new();
            let mut sent_ids = vec![];
            let note = |seen: &mut Seen, (party, r): (Party, Received)| {
                let id = r.body["context"]["message_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                assert!(
                    r.signature_ok(),
                    "a message to {party:?} failed its signature check"
                );
                *seen
                    .entry((party, r.action.clone()))
                    .or_default()
                    .entry(id.clone())
                    .or_default() += 1;
                (party, r.action, id)
            };
            for step in &kind.script {
                match step {
                    Step::Send(party, action, n) => {
                        let mut body = substitute(&fx.sends[*n], &bindings);
                        let mut ctx = context(*party, action, run);
                        if let Some(given) = body["context"].as_object() {
                            for (k, v) in given {
                                ctx[k] = v.clone();
                            }
                        }
                        sent_ids.push(ctx["message_id"].as_str().unwrap().to_owned());
                        body["context"] = ctx;
                        let bytes = serde_json::to_vec(&body).unwrap();
                        // The peers take turns among the nodes, so one cascade crosses them.
                        let n = deliver(&target, &keys, *party, action, &bytes, run + sent_ids.len()).await;
                        resends.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                    }
                    Step::Await(party, action, bind) => loop {
                        let arrival = tokio::time::timeout(WITHIN, inbox.recv())
                            .await
                            .unwrap_or_else(|_| panic!("cascade {run} ({}) waited for /{action}", kind.name))
                            .unwrap();
                        let (p, a, id) = note(&mut seen, arrival);
                        if p == *party && a == *action {
                            if let Some(bind) = bind {
                                bindings.insert(bind, id);
                            }
                            break;
                        }
                    },
                }
            }
            (run, inbox, seen, sent_ids)
        });
    }
    let mut done = vec![];
    while let Some(r) = tasks.join_next().await {
        done.push(r.unwrap());
    }
    let kills = killer.await.unwrap();
    let kills_planned = kills_planned.len();
    let played = started.elapsed();

    // Settle: resends of what was delivered just before a kill may still arrive; wait until
    // every outbound message of every order is delivered, then read what else came.
    let http = &target.http;
    let deadline = Instant::now() + WITHIN;
    let mut failures = vec![];
    let mut copies = 0usize;
    let mut received = 0usize;
    for (run, mut inbox, mut seen, sent_ids) in done {
        let kind = &kinds[run % 3];
        let (view, timeline) = loop {
            let get = |path: String| {
                let http = http.clone();
                let token = platform.clone();
                async move {
                    http.get(path)
                        .bearer_auth(token)
                        .send()
                        .await
                        .unwrap()
                        .json::<Value>()
                        .await
                        .unwrap()
                }
            };
            let view = get(format!("{survivor}/api/v1/orders/O-{run}")).await;
            let timeline = get(format!("{survivor}/api/v1/orders/O-{run}/timeline")).await;
            let settled = view["state"] == "Cancelled"
                && timeline["messages"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|l| l["direction"] == "out")
                    .all(|l| l["status"] == "delivered");
            if settled || Instant::now() > deadline {
                break (view, timeline);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        while let Ok(arrival) = inbox.try_recv() {
            let (party, r) = arrival;
            let id = r.body["context"]["message_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            *seen.entry((party, r.action)).or_default().entry(id).or_default() += 1;
        }
        let mut problems = vec![];
        if view["state"] != "Cancelled" {
            problems.push(format!("state {}", view["state"]));
        }
        // `held` is what the customer paid in; a second refund would push the refund and the
        // charges past it.
        let money = |k: &str| -> f64 { view["escrow"][k].as_str().unwrap_or("0").parse().unwrap() };
        let (held, refunded, charged) = (money("held"), money("refunded"), money("charged"));
        if refunded + charged > held || held != 540.0 {
            problems.push(format!(
                "escrow held {held}, refunded {refunded}, charged {charged}"
            ));
        }
        for expected in &kind.expected {
            let ids = seen
                .get(&(expected.0, expected.1.to_owned()))
                .map_or(0, BTreeMap::len);
            if ids != 1 {
                problems.push(format!("{expected:?} under {ids} message_ids"));
            }
        }
        for ((party, action), ids) in &seen {
            if ids.len() > 1 {
                problems.push(format!("{party:?} got /{action} under {} message_ids", ids.len()));
            }
            received += ids.len();
            copies += ids.values().sum::<usize>() - ids.len();
        }
        let lines = timeline["messages"].as_array().unwrap();
        let inbound: HashSet<&str> = lines
            .iter()
            .filter(|l| l["direction"] == "in")
            .filter_map(|l| l["message_id"].as_str())
            .collect();
        for id in &sent_ids {
            if !inbound.contains(id.as_str()) {
                problems.push(format!("sent {id} not in the timeline"));
            }
        }
        let outbound = lines.iter().filter(|l| l["direction"] == "out").count();
        let distinct_out: usize = seen.values().map(BTreeMap::len).sum();
        if outbound != distinct_out {
            problems.push(format!(
                "timeline has {outbound} outbound lines, peers got {distinct_out} messages"
            ));
        }
        if !problems.is_empty() {
            failures.push(format!("O-{run} ({}): {}", kind.name, problems.join("; ")));
        }
    }
    println!(
        "crash at scale: {CASCADES} cascades on {} node(s), {kills} × SIGKILL, played in {:.1} s, settled in {:.1} s; \
         peers received {received} messages ({copies} extra copies under the same message_id), \
         peers resent {} times; {} cascades with a problem",
        target.bases.len(),
        played.as_secs_f64(),
        started.elapsed().as_secs_f64(),
        resends.load(std::sync::atomic::Ordering::Relaxed),
        failures.len()
    );
    assert_eq!(kills, kills_planned);
    assert!(
        failures.is_empty(),
        "{} cascades:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
