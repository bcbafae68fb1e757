/** BigQuery's rules for table options: time partitioning, clustering fields and labels. */
import { invalid, type BqField } from './bigquery-double-types.js';
import type { Json } from './bigquery-double-state.js';

/** Checks partitioning, clustering and labels of a table against its fields. */
export function validateTableOptions(fields: BqField[], body: Json, where: string): void {
  const partition = body.timePartitioning;
  if (partition) {
    if (!['DAY', 'HOUR', 'MONTH', 'YEAR'].includes(partition.type ?? 'DAY')) throw invalid(`Invalid time partitioning type ${partition.type}`);
    if (partition.field) {
      const field = fields.find((f) => f.name.toLowerCase() === String(partition.field).toLowerCase());
      if (!field) throw invalid(`The field specified for time partitioning can only be of type TIMESTAMP, DATE or DATETIME. The type found is: (no such field ${partition.field}) in ${where}`);
      if (!['TIMESTAMP', 'DATE', 'DATETIME'].includes(field.type) || field.mode === 'REPEATED') {
        throw invalid(`The field specified for time partitioning can only be of type TIMESTAMP, DATE or DATETIME. The type found is: ${field.type}.`);
      }
    }
  }
  const clustering = body.clustering?.fields as string[] | undefined;
  if (clustering) {
    if (clustering.length > 4) throw invalid('Too many clustering fields: at most 4 are allowed');
    for (const name of clustering) {
      const field = fields.find((f) => f.name.toLowerCase() === name.toLowerCase());
      if (!field) throw invalid(`The field specified for clustering cannot be found in the schema. Invalid field: ${name}.`);
      if (['FLOAT64', 'JSON'].includes(field.type) || field.mode === 'REPEATED') throw invalid(`Field ${name} of type ${field.type} is not supported for clustering.`);
    }
  }
  for (const [key, value] of Object.entries((body.labels ?? {}) as Record<string, string>)) {
    if (!/^[a-z][a-z0-9_-]{0,62}$/.test(key) || !/^[a-z0-9_-]{0,63}$/.test(String(value))) {
      throw invalid(`Invalid label ${key}: ${value}. Label keys and values can contain only lowercase letters, numeric characters, underscores and dashes.`);
    }
  }
}
