/** Firestore → BigQuery for large catalog loads: managed export, then one DATASTORE_BACKUP load job. */
import type { Engine } from '../../../src/core/connector.js';
import { firestoreExportEngine } from './firestore-export-engine.js';

/** The engine the registry asks. */
export function engine(): Engine {
  return firestoreExportEngine;
}
