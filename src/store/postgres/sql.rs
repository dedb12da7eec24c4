//! The statements that change state, each written so that a change costs two round trips: one
//! that begins the transaction and reads (and locks) what the decision needs, one that writes
//! everything the decision chose and commits. Writes are one statement of data-modifying CTEs
//! over arrays, so no write waits for another's answer. A statement names only the tables its
//! change touches (opening and locking a table costs even when nothing is written to it), so
//! each shape of change has its own statement text, prepared once per connection.

/// The order of a transaction id, as last committed.
pub const ORDER_OF_TRANSACTION: &str = "SELECT o.body FROM gw_transactions t \
     JOIN gw_orders o ON o.id = t.order_id WHERE t.transaction_id = $1";

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

/// What an effect writes besides the order itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parts {
    /// Outbox entries (and their timeline lines): 5 parameters.
    pub outbox: bool,
    /// Notifications: 2 parameters.
    pub notifications: bool,
    /// Timers: 4 parameters.
    pub timers: bool,
}

impl Parts {
    /// How many parameters the effect takes: the order's body and id, then each part's.
    pub fn params(self) -> usize {
        2 + 5 * usize::from(self.outbox) + 2 * usize::from(self.notifications) + 4 * usize::from(self.timers)
    }
}

/// The CTEs that write an effect, parameters numbered from `$first` in [`Parts::params`]'s
/// order (body, order id; outbox message ids, order ids, statuses, due times, entries;
/// notification users, bodies; timer order ids, kinds, due times, bodies), each only `when`.
/// Timeline lines go in one INSERT in their order: `inbound` (a SELECT of `(n, order_id, seq,
/// message_id)` rows: the received message's line) first, then one per outbox entry.
fn effect(first: usize, parts: Parts, when: &str, inbound: Option<&str>) -> String {
    let mut next = first;
    let mut param = || {
        next += 1;
        format!("${}", next - 1)
    };
    let (body, order) = (param(), param());
    let mut ctes = vec![format!(
        "o AS (UPDATE gw_orders SET body = {body}, updated_at = now() WHERE id = {order} AND {when})"
    )];
    let mut lines = inbound.map(str::to_owned).into_iter().collect::<Vec<_>>();
    if parts.outbox {
        let (m, mo, ms, md, me) = (param(), param(), param(), param(), param());
        ctes.push(format!(
            "ob AS (INSERT INTO gw_outbox (message_id, order_id, status, next_attempt_at, entry) \
             SELECT * FROM unnest({m}::text[], {mo}::text[], {ms}::text[], {md}::timestamptz[], {me}::jsonb[]) \
             WHERE {when})"
        ));
        lines.push(format!(
            "SELECT n, {order}::text, NULL::bigint, m FROM unnest({m}::text[]) WITH ORDINALITY AS u(m, n) \
             WHERE {when}"
        ));
    }
    if parts.notifications {
        let (nu, nb) = (param(), param());
        ctes.push(format!(
            "nt AS (INSERT INTO gw_notifications (user_id, body) \
             SELECT * FROM unnest({nu}::text[], {nb}::jsonb[]) WHERE {when})"
        ));
    }
    if parts.timers {
        let (to, tk, td, tb) = (param(), param(), param(), param());
        ctes.push(format!(
            "ti AS (INSERT INTO gw_timers (order_id, kind, due_at, body) \
             SELECT * FROM unnest({to}::text[], {tk}::text[], {td}::timestamptz[], {tb}::jsonb[]) WHERE {when} \
             ON CONFLICT DO NOTHING)"
        ));
    }
    if !lines.is_empty() {
        ctes.push(format!(
            "tl AS (INSERT INTO gw_timeline (order_id, seq, message_id) \
             SELECT order_id, seq, message_id FROM ({}) AS lines (n, order_id, seq, message_id) ORDER BY n)",
            lines.join(" UNION ALL ")
        ));
    }
    ctes.join(", ")
}

/// Parameters of [`accept`] before the order line's and the effect's.
pub const ACCEPT_PARAMS: usize = 8;

/// An inbound message: its dedupe row (taking the next audit sequence number), then only if that
/// row is new its audit record, with `order_line` its line on the order's timeline (`$9`, the
/// order id), and the effect of `parts`. Returns the sequence number, or no row for a duplicate
/// (nothing written).
pub fn accept(order_line: bool, effect_parts: Option<Parts>) -> String {
    let mut ctes = vec![
        "d AS (INSERT INTO gw_dedupe (sender, action, message_id, seq, status, answer) \
         VALUES ($1, $2, $3, nextval('gw_audit_seq'), $4, $5) ON CONFLICT DO NOTHING RETURNING seq)"
            .to_owned(),
        "a AS (INSERT INTO gw_audit (seq, received_at, record, body) SELECT seq, $6, $7, $8 FROM d)"
            .to_owned(),
    ];
    let line = "SELECT 0::bigint, $9::text, seq, NULL::text FROM d";
    let first = ACCEPT_PARAMS + 1 + usize::from(order_line);
    match effect_parts {
        Some(parts) => ctes.push(effect(
            first,
            parts,
            "EXISTS (SELECT 1 FROM d)",
            order_line.then_some(line),
        )),
        None if order_line => {
            ctes.push("tl AS (INSERT INTO gw_timeline (order_id, seq) SELECT $9, seq FROM d)".to_owned())
        }
        None => {}
    }
    format!("WITH {} SELECT seq FROM d", ctes.join(", "))
}

/// An effect on its own (an order change, a fired timer).
pub fn effect_only(parts: Parts) -> String {
    format!("WITH {} SELECT 1", effect(1, parts, "TRUE", None))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every parameter a statement declares is used, in order, with nothing skipped (PostgreSQL
    /// cannot type a parameter it never sees).
    fn highest_param(sql: &str) -> usize {
        (1..100)
            .take_while(|i| sql.contains(&format!("${i}")))
            .last()
            .unwrap_or(0)
    }

    #[test]
    fn each_shape_numbers_its_parameters_densely() {
        let all = [false, true];
        for outbox in all {
            for notifications in all {
                for timers in all {
                    let parts = Parts {
                        outbox,
                        notifications,
                        timers,
                    };
                    assert_eq!(highest_param(&effect_only(parts)), parts.params(), "{parts:?}");
                    for line in all {
                        let want = ACCEPT_PARAMS + usize::from(line) + parts.params();
                        assert_eq!(
                            highest_param(&accept(line, Some(parts))),
                            want,
                            "{parts:?} {line}"
                        );
                    }
                }
            }
        }
        assert_eq!(highest_param(&accept(false, None)), ACCEPT_PARAMS);
        assert_eq!(highest_param(&accept(true, None)), ACCEPT_PARAMS + 1);
    }
}
