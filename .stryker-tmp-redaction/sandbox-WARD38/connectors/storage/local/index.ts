/** The `local` connection type: a folder on this machine as an object store. */
// @ts-nocheck

import { isAbsolute, resolve } from 'node:path';
import type { ConnectorFactories } from '../../../src/core/connector.js';
import { ConfigError } from '../../../src/core/errors.js';
import { LocalStore } from './local-store.js';

/** Factories of the `local` connection type. */
export const store: NonNullable<ConnectorFactories['store']> = async (context) => {
  const config = context.config;
  if (config.type !== 'local' || !config.path) {
    throw ConfigError.of(`connection ${context.name}: a local connection needs path`, 'add path: ./data (a folder)');
  }
  const root = isAbsolute(config.path) ? resolve(config.path) : resolve(context.baseDir, config.path);
  return new LocalStore(root, context.name);
};
