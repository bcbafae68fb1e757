/** The GCS-backed ledger. */
import type { LoadedConfig } from '../core/config.js';
import { ConfigError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { OpenLedger } from './open.js';

/** Opens a ledger kept at a gs:// URI. */
export async function openGcsLedger(location: string, _config: LoadedConfig, _log: Logger, _options: { readOnly?: boolean }): Promise<OpenLedger> {
  throw ConfigError.of(`ledger ${location}: a GCS-backed ledger is not available in this build`, 'use a local ledger path');
}
