/** Opening the ledger a config names: a local SQLite file, or one synchronised with GCS. */
// @ts-nocheck

import { existsSync } from 'node:fs';
import type { LoadedConfig } from '../core/config.js';
import type { Logger } from '../core/log.js';
import { Ledger } from './ledger.js';

/**
 * An open ledger; `close` writes it back where it lives. A ledger shared between machines (GCS)
 * also holds job locks where every machine sees them, and publishes its state on `sync`.
 */
export interface OpenLedger {
  readonly ledger: Ledger;
  lock?(job: string, runId: string, leaseMs: number): Promise<void>;
  renewLock?(job: string, runId: string, leaseMs: number): Promise<void>;
  unlock?(job: string, runId: string): Promise<void>;
  /** Publishes the ledger as it is now (before a destination commit, so another machine can reconcile). */
  sync?(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Opens the config's ledger. With `readOnly` a missing ledger is an empty in-memory one, so
 * that dry runs and inspections create no file.
 */
export async function openLedger(config: LoadedConfig, log: Logger, options: { readOnly?: boolean } = {}): Promise<OpenLedger> {
  const location = config.ledger;
  if (location.startsWith('gs://')) {
    const { openGcsLedger } = await import('./gcs-sync.js');
    return openGcsLedger(location, config, log, options);
  }
  if (options.readOnly && !existsSync(location)) {
    const ledger = Ledger.open(':memory:');
    return { ledger, close: async () => ledger.close() };
  }
  const ledger = Ledger.open(location);
  return { ledger, close: async () => ledger.close() };
}

/** Runs `action` with the config's ledger open, then writes it back. */
export async function withLedger<T>(config: LoadedConfig, log: Logger, action: (open: OpenLedger) => Promise<T>, options: { readOnly?: boolean } = {}): Promise<T> {
  const open = await openLedger(config, log, options);
  try {
    return await action(open);
  } finally {
    await open.close();
  }
}
