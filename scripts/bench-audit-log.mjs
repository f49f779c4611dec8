#!/usr/bin/env node
// Extends a real audit log to N events for `npm run bench`, keeping the hash chain valid:
// node scripts/bench-audit-log.mjs LOG N
import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';

const [path, total] = [process.argv[2], Number(process.argv[3])];
const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
let last = JSON.parse(lines.at(-1));
let prev = createHash('sha256').update(lines.at(-1)).digest('hex');
const fd = openSync(path, 'a');
let batch = [];
for (let seq = last.seq + 1; seq <= total; seq++) {
  const { log: _log, ...rest } = last;
  const e = { ...rest, seq, eventTime: new Date(Date.parse(last.eventTime) + 1000).toISOString(), prev };
  const line = JSON.stringify(e);
  batch.push(line);
  prev = createHash('sha256').update(line).digest('hex');
  last = e;
  if (batch.length === 10000) {
    writeSync(fd, batch.join('\n') + '\n');
    batch = [];
  }
}
if (batch.length) writeSync(fd, batch.join('\n') + '\n');
closeSync(fd);
