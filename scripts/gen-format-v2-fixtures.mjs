#!/usr/bin/env node
// Writes test/fixtures/vault-format-v2/vault.yaml from the test build (run `npm run build`
// first). Everything in it is deterministic (fixed seeds, times and placeholder payloads, and
// Ed25519 signs deterministically), so running it again gives the same bytes: a difference
// means the format changed. vectors.json is made from vault.yaml with the shell pipeline of
// docs/decisions/0018-operation-log.md, not with this code.
import { writeFileSync } from 'node:fs';
import { fixtureLog } from '../dist/test/support/oplog.js';
import { serializeLog } from '../dist/src/store/op-log.js';

const { log } = await fixtureLog();
writeFileSync('test/fixtures/vault-format-v2/vault.yaml', serializeLog(log.lines));
