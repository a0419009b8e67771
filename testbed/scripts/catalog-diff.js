#!/usr/bin/env node
'use strict';

// Compares a live catalog with catalog/expected-entities.txt and
// catalog/expected-relations.txt. Reads a by-query response with the fields
// kind, metadata.namespace, metadata.name and relations on stdin:
//
//   curl -H "Authorization: Bearer $BACKSTAGE_TOKEN" \
//     "$BACKSTAGE_BASE_URL/api/catalog/entities/by-query?fields=kind,metadata.namespace,metadata.name,relations&limit=1000" |
//     node scripts/catalog-diff.js
//
// Prints `missing-entity <ref>`, `missing-relation <src> <type> <dst>` and
// `unexpected-entity <ref>` lines. It exits 0 when nothing is missing (extra
// entities are reported but tolerated) and 1 otherwise. The catalog's own
// `location:default/generated-<sha1>` entity for the app-config location is
// expected and never reported.

const fs = require('node:fs');
const path = require('node:path');

const catalogDir = path.resolve(__dirname, '..', 'catalog');
const lines = f => fs.readFileSync(path.join(catalogDir, f), 'utf8').split('\n').filter(Boolean);

let body = '';
process.stdin.on('data', d => (body += d));
process.stdin.on('end', () => {
  let items;
  try {
    items = JSON.parse(body).items;
    if (!Array.isArray(items)) throw new Error('no items');
  } catch (e) {
    console.log(`bad-response ${String(e.message).slice(0, 200)}`);
    process.exit(1);
  }
  const refs = new Set();
  const rels = new Set();
  for (const e of items) {
    const ref = `${e.kind.toLowerCase()}:${(e.metadata.namespace ?? 'default').toLowerCase()}/${e.metadata.name}`;
    refs.add(ref);
    for (const r of e.relations ?? []) rels.add(`${ref} ${r.type} ${r.targetRef}`);
  }
  const expectedRefs = lines('expected-entities.txt');
  const expectedRels = lines('expected-relations.txt');
  let missing = 0;
  for (const r of expectedRefs) if (!refs.has(r)) { console.log(`missing-entity ${r}`); missing++; }
  for (const r of expectedRels) if (!rels.has(r)) { console.log(`missing-relation ${r}`); missing++; }
  const known = new Set(expectedRefs);
  for (const r of refs) {
    if (!known.has(r) && !/^location:default\/generated-[0-9a-f]+$/.test(r)) console.log(`unexpected-entity ${r}`);
  }
  process.exit(missing ? 1 : 0);
});
