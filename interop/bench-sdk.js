#!/usr/bin/env node
// Times ONDC's official Node SDK on the same 2 KiB body our criterion bench uses, so the README
// can put the two side by side. Run pinned to one core:
//   taskset -c 1 node interop/bench-sdk.js
// For each operation: 300 warm-up calls, then 21 samples of 200 calls; prints the median
// per-call time and the matching rate.
'use strict';
const fs = require('fs');
const path = require('path');
const _sodium = require('libsodium-wrappers');
const { createAuthorizationHeader, isHeaderValid } = require('ondc-crypto-sdk-nodejs');

const body = fs.readFileSync(path.join(__dirname, '../fixtures/bench/on_cancel-2KiB.json'), 'utf8');

async function time(name, fn) {
  for (let i = 0; i < 300; i++) await fn();
  const samples = [];
  for (let s = 0; s < 21; s++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 200; i++) await fn();
    samples.push(Number(process.hrtime.bigint() - t0) / 200 / 1000);
  }
  samples.sort((a, b) => a - b);
  const us = samples[10];
  console.log(`${name.padEnd(28)} ${us.toFixed(1).padStart(7)} µs/op ${Math.round(1e6 / us).toString().padStart(7)} ops/s`);
}

(async () => {
  await _sodium.ready;
  const { privateKey, publicKey } = _sodium.crypto_sign_keypair();
  const priv = _sodium.to_base64(privateKey, _sodium.base64_variants.ORIGINAL);
  const pub = _sodium.to_base64(publicKey, _sodium.base64_variants.ORIGINAL);
  const args = { body, privateKey: priv, subscriberId: 'seller.example.com', subscriberUniqueKeyId: '207' };
  const header = await createAuthorizationHeader(args);
  if (!(await isHeaderValid({ header, body, publicKey: pub }))) throw new Error('SDK refused its own header');
  console.log(`ondc-crypto-sdk-nodejs, node ${process.version}, body ${Buffer.byteLength(body)} bytes`);
  await time('createAuthorizationHeader', () => createAuthorizationHeader(args));
  await time('isHeaderValid', () => isHeaderValid({ header, body, publicKey: pub }));
})();
