/**
 * Documents → positional rows. Columns start as the sampled schema and grow when a document
 * brings a field the sample did not have (schema evolution: the new column is appended, never
 * reordered), unless `source.columns` fixes the list.
 */
// @ts-nocheck

import { SchemaSampler } from '../../../src/core/infer.js';
import type { ColumnType, SourceColumn } from '../../../src/core/types.js';
import type { FirestoreValues, NestedMode } from './firestore-values.js';

/** Metadata column names; a document field with one of these names loads as `<name>_value`. */
export const METADATA = { id: 'document_id', path: 'document_path', extractedAt: '_extracted_at', missing: '_missing' } as const;
const RESERVED = new Set<string>(Object.values(METADATA));

/** What shapes the rows of one job. */
export interface RowOptions {
  readonly nested: NestedMode;
  /** Collection groups also carry the document's full path. */
  readonly withPath: boolean;
  /** Adds `_missing`: the fields absent from the document, apart from those present as null. */
  readonly keepMissing: boolean;
  /** `source.columns`: the only fields read, in this order. */
  readonly fields?: readonly string[];
}

/** A field name that no column name can carry: no letter or digit in any script. */
export function unusableFieldName(name: string): boolean {
  return !/[\p{L}\p{N}]/u.test(name);
}

/** The column a document field loads into (its own name unless it clashes with metadata). */
export function columnNameOf(field: string): string {
  let name = field;
  while (RESERVED.has(name)) name = `${name}_value`;
  return name;
}

/** Evidence about fields gathered from sampled documents. */
export class FieldSample {
  private readonly sampler = new SchemaSampler();
  private readonly kinds = new Map<string, Set<string>>();
  /** Fields left out because their names cannot become column names. */
  readonly unusable = new Set<string>();
  documents = 0;

  constructor(private readonly values: FirestoreValues) {}

  /** Notes every field of one document. */
  add(data: Record<string, unknown>): void {
    this.documents++;
    for (const [field, value] of Object.entries(data)) this.note(field, value);
  }

  /** Notes one field value. */
  note(field: string, value: unknown): void {
    if (unusableFieldName(field)) {
      this.unusable.add(field);
      return;
    }
    this.sampler.declare(field, this.values.typeOf(value));
    let kinds = this.kinds.get(field);
    if (!kinds) this.kinds.set(field, (kinds = new Set()));
    kinds.add(this.values.kindOf(value));
  }

  /** Kinds seen for a field (`timestamp`, `string`…), empty when never seen. */
  kindsOf(field: string): ReadonlySet<string> {
    return this.kinds.get(field) ?? new Set();
  }

  /** The inferred field columns, in first-seen order; fields seen only as null are STRING. */
  columns(): SourceColumn[] {
    return this.sampler.columns().map((column) => ({
      ...column,
      nullable: true,
      inferred: true,
      sourceType: [...this.kindsOf(column.name)].join('|'),
    }));
  }
}

/** A document as rows see it. */
export interface DocumentLike {
  readonly id: string;
  readonly path: string;
  data(): Record<string, unknown>;
}

/** The outcome of shaping one document: a row, or why it cannot load. */
export type ShapedDocument = { row: unknown[]; bytes: number; grew: boolean } | { reject: string };

/** Turns documents into rows along a growing list of columns. */
export class DocumentRows {
  readonly columns: SourceColumn[] = [];
  /** Column index of each field. */
  private readonly fieldIndex = new Map<string, number>();
  /** Field names in column order (for `_missing`). */
  private readonly fieldNames: string[] = [];
  private readonly fixed: boolean;
  private readonly missingIndex: number;
  private readonly extractedAtIndex: number;
  private readonly nestedType: ColumnType;

  constructor(
    private readonly values: FirestoreValues,
    sampled: readonly SourceColumn[],
    private readonly options: RowOptions,
    private readonly extractedAt: bigint,
  ) {
    this.nestedType = options.nested === 'json' ? 'JSON' : 'STRING';
    this.columns.push({ name: METADATA.id, type: 'STRING', nullable: false, sourceType: 'document id' });
    if (options.withPath) this.columns.push({ name: METADATA.path, type: 'STRING', nullable: false, sourceType: 'document path' });
    this.extractedAtIndex = this.columns.length;
    this.columns.push({ name: METADATA.extractedAt, type: 'TIMESTAMP', nullable: false, sourceType: 'extraction time' });
    this.missingIndex = options.keepMissing ? this.columns.length : -1;
    if (options.keepMissing) this.columns.push({ name: METADATA.missing, type: this.nestedType, nullable: false, sourceType: 'missing fields' });
    this.fixed = options.fields !== undefined;
    if (options.fields) {
      const byName = new Map(sampled.map((column) => [column.name, column]));
      for (const field of options.fields) {
        this.addField(field, byName.get(field) ?? { name: field, type: 'STRING', nullable: true, inferred: true, sourceType: 'not sampled' });
      }
    } else {
      for (const column of sampled) this.addField(column.name, column);
    }
  }

  private addField(field: string, column: SourceColumn): void {
    this.fieldIndex.set(field, this.columns.length);
    this.fieldNames.push(field);
    this.columns.push({ ...column, name: columnNameOf(field) });
  }

  /** Shapes one document; `grew` says this document added columns. */
  shape(document: DocumentLike): ShapedDocument {
    const data = document.data();
    const width = this.columns.length;
    if (!this.fixed) {
      for (const field in data) {
        if (unusableFieldName(field)) {
          return {
            reject: `field name ${JSON.stringify(field)} has no letter or digit, so no column name can carry it; rename the field, or list the fields to load in source.columns`,
          };
        }
      }
    }
    const row: unknown[] = new Array(width).fill(null);
    row[0] = document.id;
    if (this.options.withPath) row[1] = document.path;
    row[this.extractedAtIndex] = this.extractedAt;
    let bytes = document.id.length + 16;
    const take = (field: string, value: unknown) => {
      let index = this.fieldIndex.get(field);
      if (index === undefined) {
        const type = this.values.typeOf(value);
        // a late field seen only as null so far has no type yet: it joins at its first value
        if (type === undefined) return;
        index = this.columns.length;
        this.addField(field, { name: field, type, nullable: true, inferred: true, sourceType: this.values.kindOf(value) });
      }
      const raw = this.values.raw(value, this.columns[index].type);
      row[index] = raw;
      bytes += typeof raw === 'string' ? raw.length : raw instanceof Uint8Array ? raw.byteLength : 8;
    };
    if (this.fixed) {
      for (const field of this.fieldNames) if (field in data) take(field, data[field]);
    } else {
      for (const field in data) take(field, data[field]);
    }
    if (this.missingIndex >= 0) {
      const missing = this.fieldNames.filter((field) => !(field in data));
      const text = JSON.stringify(missing);
      row[this.missingIndex] = text;
      bytes += text.length;
    }
    return { row, bytes, grew: this.columns.length > width };
  }
}
