/** The run's columns as an engine that fills a staging table itself must know them before it starts. */
import type { Column, EngineRequest, SourceColumn } from '../../src/core/connector.js';
import { resolveSchema } from '../../src/core/schema.js';

/** The run's columns and whether the target exists. */
export interface FittedColumns {
  readonly columns: Column[];
  readonly exists: boolean;
}

/**
 * The run's columns against the existing target, when the source's types fit it without
 * widening (an engine cannot stop half way to widen a column); undefined otherwise.
 */
export async function fitColumns(request: EngineRequest, source: readonly SourceColumn[]): Promise<FittedColumns | undefined> {
  const destination = request.destination.connector;
  const existing = await destination.describe(request.table);
  if (existing?.strategy && existing.strategy !== request.strategy) return undefined;
  const resolution = resolveSchema(source, existing?.columns, request.mapping, { canWiden: destination.capabilities.canWiden });
  if (resolution.mismatches.length || resolution.widened.length) return undefined;
  if (existing && existing.columns.some((c) => !c.nullable && !resolution.columns.some((r) => r.name.toLowerCase() === c.name.toLowerCase()))) return undefined;
  return { columns: resolution.columns, exists: existing !== undefined };
}

/**
 * For text formats, whose types are only sampled: the run's columns when the target exists and
 * already has every column of the files; its types then hold and the warehouse checks each value.
 */
export async function settledColumns(request: EngineRequest, source: readonly SourceColumn[]): Promise<FittedColumns | undefined> {
  const destination = request.destination.connector;
  const existing = await destination.describe(request.table);
  if (!existing || (existing.strategy && existing.strategy !== request.strategy)) return undefined;
  const resolution = resolveSchema(source, existing.columns, request.mapping, { canWiden: destination.capabilities.canWiden });
  if (resolution.added.length) return undefined;
  const byName = new Map(existing.columns.map((c) => [c.name.toLowerCase(), c]));
  const columns = resolution.columns.map((c) => ({ ...c, type: byName.get(c.name.toLowerCase())!.type, repeated: byName.get(c.name.toLowerCase())!.repeated }));
  if (columns.some((c) => c.repeated)) return undefined;
  if (existing.columns.some((c) => !c.nullable && !columns.some((r) => r.name.toLowerCase() === c.name.toLowerCase()))) return undefined;
  return { columns, exists: true };
}
