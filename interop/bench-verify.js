#!/usr/bin/env node
// The SDK side of `ondc-gateway bench`: times ONDC's isHeaderValid on the headers, bodies and
// public keys the benchmark sent to the gateway (a JSON array of {header, body, publicKey}),
// cycling over them for the given seconds after 300 warm-up calls, in this one process.
//   node interop/bench-verify.js headers.json 3
// Prints {"verifies_per_sec", "valid", "invalid", "node"} as JSON.
'use strict';
const fs = require('fs');
const _sodium = require('libsodium-wrappers');
const { isHeaderValid } = require('ondc-crypto-sdk-nodejs');

(async () => {
  await _sodium.ready;
  const sample = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const seconds = Number(process.argv[3] || 3);
  if (sample.length === 0) throw new Error('no headers given');
  for (let i = 0; i < 300; i++) await isHeaderValid(sample[i % sample.length]);
  let valid = 0;
  let invalid = 0;
  const t0 = process.hrtime.bigint();
  const until = t0 + BigInt(Math.round(seconds * 1e9));
  let n = 0;
  while (process.hrtime.bigint() < until) {
    for (let k = 0; k < 50; k++, n++) {
      if (await isHeaderValid(sample[n % sample.length])) valid++; else invalid++;
    }
  }
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(JSON.stringify({ verifies_per_sec: n / elapsed, valid, invalid, node: process.version }));
})().catch((e) => { console.error(e.stack || String(e)); process.exit(1); });
