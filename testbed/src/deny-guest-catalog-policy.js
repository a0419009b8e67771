'use strict';

// A permission policy for the "every call as the caller" tests: the guest user
// (user:default/guest) may read no catalog entity but Users (so `auth:who-am-i` still
// finds its own entity); every other principal, and every other permission, is
// allowed. Selected with TESTBED_POLICY=deny-guest-catalog. `load` is the release
// line's require (see index.js).

module.exports = load => {
  const { createBackendModule } = load('@backstage/backend-plugin-api');
  const { policyExtensionPoint } = load('@backstage/plugin-permission-node/alpha');

  const DENIED_USER = 'user:default/guest';

  class DenyGuestCatalogReads {
    async handle(request, user) {
      const permission = request.permission;
      if (
        user?.info?.userEntityRef === DENIED_USER &&
        permission.resourceType === 'catalog-entity' &&
        permission.attributes?.action === 'read'
      ) {
        // A conditional decision: the catalog applies it as a filter (IS_ENTITY_KIND is
        // one of the catalog's own permission rules).
        return {
          result: 'CONDITIONAL',
          pluginId: 'catalog',
          resourceType: 'catalog-entity',
          conditions: {
            rule: 'IS_ENTITY_KIND',
            resourceType: 'catalog-entity',
            params: { kinds: ['user'] },
          },
        };
      }
      return { result: 'ALLOW' };
    }
  }

  return createBackendModule({
    pluginId: 'permission',
    moduleId: 'stagedoor-deny-guest-catalog',
    register(reg) {
      reg.registerInit({
        deps: { policy: policyExtensionPoint },
        async init({ policy }) {
          policy.setPolicy(new DenyGuestCatalogReads());
        },
      });
    },
  });
};
