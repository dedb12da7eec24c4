-- The gateway's state on PostgreSQL: one table per entity, shared by every node.
-- Applied once, in a transaction, by `ondc-gateway migrate` or at start-up.

-- Orders, as the decision step sees them (JSON of `Order`), with the transaction ids that
-- lead to them (the retail one and, once known, the logistics one).
CREATE TABLE gw_orders (
    id          text PRIMARY KEY,
    body        jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE gw_transactions (
    transaction_id  text PRIMARY KEY,
    order_id        text NOT NULL REFERENCES gw_orders (id)
);

-- Every accepted inbound message, byte for byte, with the answer it got. `seq` is the audit
-- sequence number (from 1), taken by the dedupe row first. `record` holds the metadata as JSON
-- text (written once, read rarely: not worth jsonb's parsing); `body` the exact bytes.
CREATE SEQUENCE gw_audit_seq;
CREATE TABLE gw_audit (
    seq          bigint PRIMARY KEY DEFAULT nextval('gw_audit_seq'),
    received_at  timestamptz NOT NULL,
    record       text NOT NULL,
    body         bytea NOT NULL
);
CREATE INDEX gw_audit_received ON gw_audit (received_at);

-- One row per (sender, action, message_id): the unique key is what makes two nodes that
-- receive the same message give one effect and the same answer.
CREATE TABLE gw_dedupe (
    sender       text NOT NULL,
    action       text NOT NULL,
    message_id   text NOT NULL,
    seq          bigint NOT NULL,
    status       integer NOT NULL,
    answer       text NOT NULL,
    PRIMARY KEY (sender, action, message_id)
);
CREATE INDEX gw_dedupe_seq ON gw_dedupe (seq);

-- Messages to deliver. A node claims due rows (FOR UPDATE SKIP LOCKED) by moving
-- `next_attempt_at` one lease ahead; if it dies, the row falls due again for another node.
CREATE TABLE gw_outbox (
    message_id       text PRIMARY KEY,
    order_id         text NOT NULL,
    status           text NOT NULL,
    next_attempt_at  timestamptz NOT NULL,
    lease_owner      text,
    entry            jsonb NOT NULL
);
CREATE INDEX gw_outbox_due ON gw_outbox (next_attempt_at) WHERE status = 'pending';

-- An order's timeline: references to audit records (`seq`) and outbox entries (`message_id`).
-- Reads show the newest lines up to the bound; older ones are removed in the background.
CREATE TABLE gw_timeline (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id    text NOT NULL,
    seq         bigint,
    message_id  text
);
CREATE INDEX gw_timeline_order ON gw_timeline (order_id, id);

CREATE TABLE gw_notifications (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id  text NOT NULL,
    body     jsonb NOT NULL
);
CREATE INDEX gw_notifications_user ON gw_notifications (user_id, id);

-- Deadlines; firing one deletes its row, so only one node fires it.
CREATE TABLE gw_timers (
    order_id  text NOT NULL,
    kind      text NOT NULL,
    due_at    timestamptz NOT NULL,
    body      jsonb NOT NULL,
    PRIMARY KEY (order_id, kind, due_at)
);
CREATE INDEX gw_timers_due ON gw_timers (due_at);

-- The registry cache (opaque bytes under a key).
CREATE TABLE gw_registry (
    key    text PRIMARY KEY,
    value  bytea NOT NULL
);

-- One row per node: the group flush makes one synchronous commit here, which makes every
-- asynchronously committed change before it durable.
-- Rows of nodes gone for a day are removed at start-up.
CREATE TABLE gw_flush (
    node     text PRIMARY KEY,
    n        bigint NOT NULL,
    touched  timestamptz NOT NULL
);
