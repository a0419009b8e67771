'use strict';

// stagedoor testbed: a real Backstage backend (new backend system) assembled
// from npm packages. Plain CommonJS, no build step; run with `node src/index.js`
// from the testbed directory (config and catalog paths are relative to cwd).
// Config: ./app-config.yaml (+ app-config.local.yaml), or --config flags.

const { createBackend } = require('@backstage/backend-defaults');

const backend = createBackend();

// Catalog, with kind: Template support.
backend.add(require('@backstage/plugin-catalog-backend'));
backend.add(
  require('@backstage/plugin-catalog-backend-module-scaffolder-entity-model'),
);

// Scaffolder (default actions only: fetch:*, debug:*, catalog:*, fs:*).
backend.add(require('@backstage/plugin-scaffolder-backend'));

// TechDocs, built locally with mkdocs from the .venv on PATH.
backend.add(require('@backstage/plugin-techdocs-backend'));

// Search (in-memory Lunr) with catalog and TechDocs collators.
backend.add(require('@backstage/plugin-search-backend'));
backend.add(require('@backstage/plugin-search-backend-module-catalog'));
backend.add(require('@backstage/plugin-search-backend-module-techdocs'));

// Auth with the guest provider (user:default/guest), permissions allow-all.
backend.add(require('@backstage/plugin-auth-backend'));
backend.add(require('@backstage/plugin-auth-backend-module-guest-provider'));
backend.add(require('@backstage/plugin-permission-backend'));
backend.add(
  require('@backstage/plugin-permission-backend-module-allow-all-policy'),
);

// Events backend: only here so the catalog's event publisher finds a peer.
backend.add(require('@backstage/plugin-events-backend'));

// The official MCP plugin, POST /api/mcp-actions/v1 (the comparison baseline).
backend.add(require('@backstage/plugin-mcp-actions-backend'));

backend.start().catch(err => {
  console.error(err);
  process.exit(1);
});
