#!/usr/bin/env node
'use strict';

// Derives catalog/expected-entities.txt and catalog/expected-relations.txt
// from the fixture YAML, the way the catalog itself reads it: start at
// catalog/all.yaml and follow the `targets` of every `kind: Location` (type
// file, relative to the file declaring it).
//   expected-entities.txt   one ref per line: kind:namespace/name (kind lowercase)
//   expected-relations.txt  one relation per line: <source ref> <type> <target ref>,
//                           both directions, as the catalog emits them in each
//                           source entity's `relations` array
// Also lints the fixtures: every ref in a relation field must name an entity
// that exists (a typo would silently leave a relation dangling), every entity
// has a title and a description, and descriptions stay within the 200
// characters the catalog indexes for filters and fullTextFilterTerm.
//
//   node scripts/expected-entities.js                    check (exit 1 on drift or lint error)
//   node scripts/expected-entities.js --write            regenerate both files
//   node scripts/expected-entities.js --print            print entity refs to stdout
//   node scripts/expected-entities.js --print-relations  print relations to stdout
//
// Needs the `yaml` package from testbed/node_modules (run start.sh or npm ci).
// The catalog also creates one `location:default/generated-<sha1>` entity for
// the app-config location; its name depends on the absolute path, so it is
// not listed.

const fs = require('node:fs');
const path = require('node:path');

const testbed = path.resolve(__dirname, '..');
let YAML;
try {
  YAML = require(require.resolve('yaml', { paths: [testbed] }));
} catch {
  console.error('expected-entities: the "yaml" package is missing; run npm ci in testbed/ first');
  process.exit(2);
}

const root = path.join(testbed, 'catalog', 'all.yaml');
const outFile = path.join(testbed, 'catalog', 'expected-entities.txt');
const relFile = path.join(testbed, 'catalog', 'expected-relations.txt');

// Default kind for each relation field, per the Backstage catalog model.
const relationFields = {
  'spec.owner': 'group',
  'spec.system': 'system',
  'spec.domain': 'domain',
  'spec.subdomainOf': 'domain',
  'spec.subcomponentOf': 'component',
  'spec.dependsOn': null, // kind required in the ref
  'spec.dependencyOf': null,
  'spec.providesApis': 'api',
  'spec.consumesApis': 'api',
  'spec.parent': 'group',
  'spec.children': 'group',
  'spec.memberOf': 'group',
  'spec.members': 'user',
};

// field -> [relation from this entity, reverse relation from the target],
// after BuiltinKindsEntityProcessor (and the scaffolder entity model for
// Template owners).
const relationTypes = {
  'spec.owner': ['ownedBy', 'ownerOf'],
  'spec.system': ['partOf', 'hasPart'],
  'spec.domain': ['partOf', 'hasPart'],
  'spec.subdomainOf': ['partOf', 'hasPart'],
  'spec.subcomponentOf': ['partOf', 'hasPart'],
  'spec.dependsOn': ['dependsOn', 'dependencyOf'],
  'spec.dependencyOf': ['dependencyOf', 'dependsOn'],
  'spec.providesApis': ['providesApi', 'apiProvidedBy'],
  'spec.consumesApis': ['consumesApi', 'apiConsumedBy'],
  'spec.parent': ['childOf', 'parentOf'],
  'spec.children': ['parentOf', 'childOf'],
  'spec.memberOf': ['memberOf', 'hasMember'],
  'spec.members': ['hasMember', 'memberOf'],
};

function toRef(raw, defaultKind, defaultNamespace = 'default') {
  const m = /^(?:([^:/]+):)?(?:([^:/]+)\/)?([^:/]+)$/.exec(String(raw));
  if (!m) throw new Error(`malformed entity ref ${JSON.stringify(raw)}`);
  const kind = m[1] ?? defaultKind;
  if (!kind) throw new Error(`entity ref ${JSON.stringify(raw)} needs a kind`);
  return `${kind.toLowerCase()}:${(m[2] ?? defaultNamespace).toLowerCase()}/${m[3]}`;
}

function get(obj, dotted) {
  return dotted.split('.').reduce((o, k) => (o == null ? undefined : o[k]), obj);
}

function collect() {
  const entities = new Map(); // ref -> {file, entity}
  const seenFiles = new Set();
  const queue = [root];
  while (queue.length) {
    const file = queue.shift();
    if (seenFiles.has(file)) continue;
    seenFiles.add(file);
    const docs = YAML.parseAllDocuments(fs.readFileSync(file, 'utf8'));
    for (const doc of docs) {
      if (doc.errors.length) throw new Error(`${file}: ${doc.errors[0].message}`);
      const entity = doc.toJS();
      if (!entity) continue;
      const ref = toRef(
        `${entity.kind}:${entity.metadata.namespace ?? 'default'}/${entity.metadata.name}`,
      );
      if (entities.has(ref)) {
        throw new Error(`${ref} defined twice (${entities.get(ref).file}, ${file})`);
      }
      entities.set(ref, { file, entity });
      if (entity.kind === 'Location') {
        const targets = [...(entity.spec.targets ?? []), ...(entity.spec.target ? [entity.spec.target] : [])];
        for (const t of targets) queue.push(path.resolve(path.dirname(file), t));
      }
    }
  }
  return entities;
}

function lint(entities) {
  const problems = [];
  for (const [ref, { file, entity }] of entities) {
    const rel = path.relative(testbed, file);
    if (!entity.metadata.title) problems.push(`${ref} (${rel}): no metadata.title`);
    if (!entity.metadata.description) problems.push(`${ref} (${rel}): no metadata.description`);
    else if (entity.metadata.description.length > 200) {
      problems.push(`${ref} (${rel}): description longer than 200 characters is not searchable`);
    }
    for (const [field, defaultKind] of Object.entries(relationFields)) {
      const value = get(entity, field);
      if (value === undefined) continue;
      for (const raw of Array.isArray(value) ? value : [value]) {
        let target;
        try {
          target = toRef(raw, defaultKind, entity.metadata.namespace ?? 'default');
        } catch (e) {
          problems.push(`${ref} (${rel}) ${field}: ${e.message}`);
          continue;
        }
        if (!entities.has(target)) problems.push(`${ref} (${rel}) ${field}: ${target} does not exist`);
      }
    }
  }
  return problems;
}

function relations(entities) {
  const out = new Set();
  for (const [ref, { entity }] of entities) {
    for (const [field, [forward, reverse]] of Object.entries(relationTypes)) {
      const value = get(entity, field);
      if (value === undefined) continue;
      for (const raw of Array.isArray(value) ? value : [value]) {
        const target = toRef(raw, relationFields[field], entity.metadata.namespace ?? 'default');
        out.add(`${ref} ${forward} ${target}`);
        out.add(`${target} ${reverse} ${ref}`);
      }
    }
  }
  return [...out].sort();
}

function checkFile(file, text, label) {
  const current = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  if (current === text) return true;
  const want = new Set(text.trim().split('\n'));
  const have = new Set(current.trim().split('\n').filter(Boolean));
  for (const r of want) if (!have.has(r)) console.error(`  missing from ${label}: ${r}`);
  for (const r of have) if (!want.has(r)) console.error(`  not in fixtures:   ${r}`);
  console.error(`expected-entities: catalog/${label} is stale; run node scripts/expected-entities.js --write`);
  return false;
}

function main() {
  const mode = process.argv[2] ?? '--check';
  const entities = collect();
  const problems = lint(entities);
  if (problems.length) {
    console.error(`expected-entities: ${problems.length} fixture problem(s):`);
    for (const p of problems) console.error(`  ${p}`);
    process.exit(1);
  }
  const text = `${[...entities.keys()].sort().join('\n')}\n`;
  const rels = relations(entities);
  const relText = `${rels.join('\n')}\n`;
  if (mode === '--print') {
    process.stdout.write(text);
  } else if (mode === '--print-relations') {
    process.stdout.write(relText);
  } else if (mode === '--write') {
    fs.writeFileSync(outFile, text);
    fs.writeFileSync(relFile, relText);
    console.log(`expected-entities: wrote ${entities.size} refs and ${rels.length} relations`);
  } else if (mode === '--check') {
    const ok = checkFile(outFile, text, 'expected-entities.txt') & checkFile(relFile, relText, 'expected-relations.txt');
    if (!ok) process.exit(1);
    console.log(`expected-entities: ok (${entities.size} refs, ${rels.length} relations)`);
  } else {
    console.error('usage: expected-entities.js [--check|--write|--print|--print-relations]');
    process.exit(2);
  }
}

main();
