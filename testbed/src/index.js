'use strict';

// stagedoor testbed: a real Backstage backend (new backend system) assembled
// from npm packages. Plain CommonJS, no build step; run with `node src/index.js`
// from the testbed directory (config and catalog paths are relative to cwd).
// Config: ./app-config.yaml (+ app-config.local.yaml), or --config flags.
//
// Two release lines share this file: the latest (packages in ./node_modules,
// pinned by ./package.json) and the previous one (TESTBED_LINE=previous:
// packages in ./previous/node_modules, pinned by ./previous/package.json).
// Plugins a line does not install are skipped.

const path = require('path');
const { createRequire } = require('module');

const line = process.env.TESTBED_LINE || 'latest';
const packageDir =
  line === 'latest'
    ? path.resolve(__dirname, '..')
    : path.resolve(__dirname, '..', line);
// Resolve only from this line's own node_modules: Node would otherwise walk up from
// previous/ into the latest line's node_modules.
const lineRequire = createRequire(path.join(packageDir, 'package.json'));
const ownModules = path.join(packageDir, 'node_modules') + path.sep;
const installed = name => {
  try {
    return lineRequire.resolve(name).startsWith(ownModules);
  } catch {
    return false;
  }
};
const load = name => {
  if (!installed(name)) {
    throw new Error(`${name} is not installed for the ${line} line (${ownModules})`);
  }
  return lineRequire(name);
};

const { createBackend } = load('@backstage/backend-defaults');

const backend = createBackend();
const added = [];
const add = name => {
  if (installed(name)) {
    backend.add(load(name));
    added.push(name.replace('@backstage/plugin-', ''));
  }
};

// Catalog, with kind: Template support.
add('@backstage/plugin-catalog-backend');
add('@backstage/plugin-catalog-backend-module-scaffolder-entity-model');

// Scaffolder (default actions only: fetch:*, debug:*, catalog:*, fs:*).
add('@backstage/plugin-scaffolder-backend');

// TechDocs, built locally with mkdocs from the .venv on PATH.
add('@backstage/plugin-techdocs-backend');

// Search (in-memory Lunr) with catalog and TechDocs collators.
add('@backstage/plugin-search-backend');
add('@backstage/plugin-search-backend-module-catalog');
add('@backstage/plugin-search-backend-module-techdocs');

// Auth with the guest provider (user:default/guest).
add('@backstage/plugin-auth-backend');
add('@backstage/plugin-auth-backend-module-guest-provider');

// Permissions: allow-all, or (TESTBED_POLICY=deny-guest-catalog) a policy that
// refuses catalog reads to user:default/guest and allows everything else.
add('@backstage/plugin-permission-backend');
if (process.env.TESTBED_POLICY === 'deny-guest-catalog') {
  backend.add(require('./deny-guest-catalog-policy')(load));
  added.push('policy:deny-guest-catalog');
} else {
  add('@backstage/plugin-permission-backend-module-allow-all-policy');
}

// Events backend: only here so the catalog's event publisher finds a peer.
add('@backstage/plugin-events-backend');

// Plugins that register Actions Registry actions on the latest line:
// notifications (+ signals, its live channel) and kubernetes (no cluster needed).
add('@backstage/plugin-signals-backend');
add('@backstage/plugin-notifications-backend');
add('@backstage/plugin-kubernetes-backend');

// The official MCP plugin, POST /api/mcp-actions/v1 (the comparison baseline).
add('@backstage/plugin-mcp-actions-backend');

console.log(`stagedoor testbed (${line} line): ${added.join(', ')}`);

backend.start().catch(err => {
  console.error(err);
  process.exit(1);
});
