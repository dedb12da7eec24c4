#!/usr/bin/env node
// Writes distinct signed callbacks for an independent load run (scripts/load-wrk), signed by
// ONDC's official SDK with the dev seller's key from config/dev-keys.json, so the gateway under
// load checks signatures it did not make itself.
//   node interop/wrk-requests.js COUNT > requests.tsv
// One request per line: path, TAB, Authorization header, TAB, the compact 2 KiB JSON body.
// Half are the seller's /on_status and half its unsolicited /on_cancel, each on a transaction
// of its own that the gateway does not track (so each is audited, deduped and ACKed, changing
// no order): the same untracked kinds `ondc-gateway bench` sends.
'use strict';
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const { createAuthorizationHeader } = require('ondc-crypto-sdk-nodejs');

const count = Number(process.argv[2] || 200000);
const keys = JSON.parse(fs.readFileSync(path.join(__dirname, '../config/dev-keys.json'), 'utf8'));
const seller = keys['seller.dev.local'];
const gateway = 'bnp-gateway.dev.local';
const BODY_BYTES = 2048;

function body(i, action) {
  const txn = `T-wrk-${crypto.randomUUID()}`;
  const now = new Date().toISOString();
  const order = action === 'on_cancel'
    ? { id: `O-wrk-${i}`, state: 'Cancelled',
        cancellation: { cancelled_by: 'seller.dev.local', reason: { id: '002' } },
        fulfillments: [{ id: 'F1', type: 'Delivery', state: { descriptor: { code: 'Cancelled' } } }] }
    : { id: `O-wrk-${i}`, state: 'In-progress',
        fulfillments: [{ id: 'F1', type: 'Delivery', state: { descriptor: { code: 'Order-picked-up' } } }] };
  const value = {
    context: {
      domain: 'ONDC:RET10', action, core_version: '1.2.5',
      bap_id: gateway, bap_uri: `https://${gateway}/ondc`,
      bpp_id: 'seller.dev.local', bpp_uri: 'https://seller.dev.local/ondc',
      transaction_id: txn, message_id: crypto.randomUUID(),
      timestamp: now, ttl: 'PT30S', city: 'std:080', country: 'IND',
    },
    message: { order, note: '' },
  };
  const bare = JSON.stringify(value).length;
  value.message.note = 'n'.repeat(Math.max(0, BODY_BYTES - bare));
  return JSON.stringify(value);
}

(async () => {
  const out = fs.createWriteStream(null, { fd: 1 });
  for (let i = 0; i < count; i++) {
    const action = i % 2 === 0 ? 'on_status' : 'on_cancel';
    const text = body(i, action);
    const header = await createAuthorizationHeader({
      body: text,
      privateKey: seller.signing_private_key,
      subscriberId: 'seller.dev.local',
      subscriberUniqueKeyId: seller.unique_key_id,
    });
    if (!out.write(`/${action}\t${header}\t${text}\n`)) {
      await new Promise((resolve) => out.once('drain', resolve));
    }
  }
  out.end();
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
