// Independent oracle for test_apis.py: reads the testbed's API fixtures (multi-document YAML
// on stdin) and prints, as JSON, what each API defines, using the reference parsers that ship
// in the testbed's node_modules (yaml, graphql-js, protobufjs) rather than anything in
// stagedoor. Usage: node spec_oracle.js <testbed dir> < testbed/catalog/apis/apis.yaml
'use strict';
const fs = require('fs');
const path = require('path');

const testbed = path.resolve(process.argv[2]);
const load = m => require(path.join(testbed, 'node_modules', m));
const YAML = load('yaml');
const graphql = load('graphql');
const protobuf = load('protobufjs');

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

function openapi(spec) {
  const operations = [];
  for (const [p, item] of Object.entries(spec.paths || {})) {
    for (const m of METHODS) {
      if (item[m]) operations.push({ method: m.toUpperCase(), path: p, operationId: item[m].operationId || null });
    }
  }
  const schemas = Object.keys((spec.components || {}).schemas || spec.definitions || {});
  return { title: spec.info.title, version: String(spec.info.version), operations, schemas };
}

function asyncapi(spec) {
  const operations = [];
  for (const [channel, item] of Object.entries(spec.channels || {})) {
    for (const action of ['publish', 'subscribe']) {
      if (item[action]) operations.push({ method: action, path: channel, operationId: item[action].operationId || null });
    }
  }
  const c = spec.components || {};
  const schemas = [...Object.keys(c.messages || {}), ...Object.keys(c.schemas || {})];
  return { title: spec.info.title, version: String(spec.info.version), operations, schemas };
}

function gql(sdl) {
  const schema = graphql.buildSchema(sdl);
  const roots = [['query', schema.getQueryType()], ['mutation', schema.getMutationType()],
    ['subscription', schema.getSubscriptionType()]];
  const operations = [];
  for (const [op, type] of roots) {
    if (!type) continue;
    for (const f of Object.values(type.getFields())) {
      operations.push({
        method: op,
        name: `${type.name}.${f.name}`,
        arguments: f.args.map(a => `${a.name}: ${a.type}` + (a.defaultValue === undefined ? '' : ` = ${a.defaultValue}`)),
        response: String(f.type),
      });
    }
  }
  const rootNames = new Set(roots.filter(([, t]) => t).map(([, t]) => t.name));
  const builtin = new Set(['String', 'Int', 'Float', 'Boolean', 'ID']);
  const schemas = Object.keys(schema.getTypeMap())
    .filter(n => !n.startsWith('__') && !builtin.has(n) && !rootNames.has(n));
  return { operations, schemas };
}

function proto(source) {
  const parsed = protobuf.parse(source, { keepCase: true });
  const operations = [];
  const schemas = [];
  const walk = (ns, prefix) => {
    for (const child of ns.nestedArray || []) {
      if (child instanceof protobuf.Service) {
        for (const m of child.methodsArray) {
          operations.push({
            name: `${child.name}.${m.name}`,
            request: m.requestType,
            response: m.responseType,
            clientStreaming: !!m.requestStream,
            serverStreaming: !!m.responseStream,
          });
        }
      } else if (child instanceof protobuf.Type || child instanceof protobuf.Enum) {
        schemas.push(prefix + child.name);
        if (child instanceof protobuf.Type) walk(child, `${prefix}${child.name}.`);
      } else {
        walk(child, prefix);
      }
    }
  };
  walk(parsed.root, '');
  return { title: parsed.package, operations, schemas };
}

const out = {};
for (const doc of YAML.parseAllDocuments(fs.readFileSync(0, 'utf8'))) {
  const e = doc.toJS();
  if (!e || e.kind !== 'API') continue;
  const ref = `api:${(e.metadata.namespace || 'default')}/${e.metadata.name}`;
  const def = e.spec.definition;
  let parsed;
  switch (e.spec.type) {
    case 'openapi': parsed = openapi(YAML.parse(def)); break;
    case 'asyncapi': parsed = asyncapi(YAML.parse(def)); break;
    case 'graphql': parsed = gql(def); break;
    case 'grpc': parsed = proto(def); break;
    default: parsed = {};
  }
  out[ref] = {
    type: e.spec.type, lifecycle: e.spec.lifecycle, owner: e.spec.owner, system: e.spec.system,
    title: e.metadata.title, description: e.metadata.description, definition: def, ...{ spec: parsed },
  };
}
process.stdout.write(JSON.stringify(out));
