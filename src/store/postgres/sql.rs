//! The statements that change state, each written so that a change costs two round trips: one
//! that begins the transaction and reads (and locks) what the decision needs, one that writes
//! everything the decision chose and commits. Writes are one statement of data-modifying CTEs
//! over arrays, so no write waits for another's answer.

use std::sync::LazyLock;

/// The order of a transaction id, locked for the change.
pub const LOCK_ORDER_OF_TRANSACTION: &str = "SELECT o.body FROM gw_transactions t \
     JOIN gw_orders o ON o.id = t.order_id WHERE t.transaction_id = $1 FOR UPDATE OF o";

/// An order, locked for the change.
pub const LOCK_ORDER: &str = "SELECT body FROM gw_orders WHERE id = $1 FOR UPDATE";

/// The first answer given to a message.
pub const FIRST_ANSWER: &str =
    "SELECT status, answer FROM gw_dedupe WHERE sender = $1 AND action = $2 AND message_id = $3";

/// A new order with its transaction ids, or nothing if the id or a transaction id is taken:
/// returns how many of each were inserted.
pub const INSERT_ORDER: &str = "WITH o AS ( \
       INSERT INTO gw_orders (id, body) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING id), \
     t AS ( \
       INSERT INTO gw_transactions (transaction_id, order_id) \
       SELECT x, $1 FROM unnest($3::text[]) AS x WHERE EXISTS (SELECT 1 FROM o) \
       ON CONFLICT DO NOTHING RETURNING 1) \
     SELECT (SELECT count(*) FROM o), (SELECT count(*) FROM t)";

/// Parameters of the effect part, in order from its first: the order's new body (NULL: none) and
/// id; outbox message ids, order ids, statuses, due times, entries; notification users and
/// bodies; timer order ids, kinds, due times, bodies.
const EFFECT_PARAMS: usize = 13;

/// The CTEs that write an effect, with parameters numbered from `$first`, each only `when`.
/// Timeline lines go in one INSERT in their order: `inbound` (`(rows, order)`: a SELECT of
/// `(seq)` rows, the received message's line, on order `order`) first, then one line per outbox
/// entry.
fn effect(first: usize, when: &str, inbound: Option<(&str, &str)>) -> String {
    let p = |i: usize| format!("${}", first + i);
    let inbound_lines = match inbound {
        Some((rows, order)) => format!(
            "SELECT 0::bigint AS n, {order}::text AS order_id, seq, NULL::text AS message_id \
             FROM ({rows}) AS r UNION ALL "
        ),
        None => String::new(),
    };
    format!(
        "o AS (UPDATE gw_orders SET body = {body}, updated_at = now() \
             WHERE id = {order} AND {body}::jsonb IS NOT NULL AND {when}), \
         ob AS (INSERT INTO gw_outbox (message_id, order_id, status, next_attempt_at, entry) \
             SELECT * FROM unnest({m}::text[], {mo}::text[], {ms}::text[], {md}::timestamptz[], {me}::jsonb[]) \
             WHERE {when}), \
         tl AS (INSERT INTO gw_timeline (order_id, seq, message_id) \
             SELECT order_id, seq, message_id FROM ( \
               {inbound_lines}\
               SELECT n, {order}::text AS order_id, NULL::bigint AS seq, m AS message_id \
               FROM unnest({m}::text[]) WITH ORDINALITY AS u(m, n) \
               WHERE {when}) AS lines ORDER BY n), \
         nt AS (INSERT INTO gw_notifications (user_id, body) \
             SELECT * FROM unnest({nu}::text[], {nb}::jsonb[]) WHERE {when}), \
         ti AS (INSERT INTO gw_timers (order_id, kind, due_at, body) \
             SELECT * FROM unnest({to}::text[], {tk}::text[], {td}::timestamptz[], {tb}::jsonb[]) WHERE {when} \
             ON CONFLICT DO NOTHING)",
        body = p(0),
        order = p(1),
        m = p(2),
        mo = p(3),
        ms = p(4),
        md = p(5),
        me = p(6),
        nu = p(7),
        nb = p(8),
        to = p(9),
        tk = p(10),
        td = p(11),
        tb = p(12),
    )
}

/// An inbound message: its dedupe row (taking the next audit sequence number), then only if
/// that row is new its audit record, its line on the order's timeline (`$9`, NULL if untracked)
/// and the effect. Returns the sequence number, or no row for a duplicate (nothing written).
pub static ACCEPT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH d AS ( \
           INSERT INTO gw_dedupe (sender, action, message_id, seq, status, answer) \
           VALUES ($1, $2, $3, nextval('gw_audit_seq'), $4, $5) ON CONFLICT DO NOTHING RETURNING seq), \
         a AS (INSERT INTO gw_audit (seq, received_at, record, body) SELECT seq, $6, $7, $8 FROM d), \
         {} \
         SELECT seq FROM d",
        effect(
            10,
            "EXISTS (SELECT 1 FROM d)",
            Some(("SELECT seq FROM d WHERE $9::text IS NOT NULL", "$9"))
        )
    )
});

/// Parameters of [`ACCEPT`] before the effect's.
pub const ACCEPT_PARAMS: usize = 9;

/// An effect on its own (an order change, a fired timer).
pub static EFFECT: LazyLock<String> = LazyLock::new(|| format!("WITH {} SELECT 1", effect(1, "TRUE", None)));

/// The parameter count of the effect part.
pub const fn effect_params() -> usize {
    EFFECT_PARAMS
}
