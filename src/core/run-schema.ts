/**
 * The columns of one run as batches arrive: names sanitized once, types reconciled with the
 * destination table, widened when a later value needs it, and a converter per batch shape.
 */
import { ConversionFailure, converterFor, defaultValue, type ValueConverter } from './convert.js';
import { ConfigError, SchemaError, megabytes } from './errors.js';
import { inferTextType, inferValueType, isCodeNumeral, widenType } from './infer.js';
import { knownNames, sanitizeNames } from './names.js';
import { describeMismatches, isCompatible, isWidening, type ColumnMismatch } from './schema.js';
import type { Column, ColumnType, SourceColumn, TimeRange, Value } from './types.js';

/** How one batch shape maps onto the run's columns. */
export interface BatchPlan {
  /** For each batch column: the index of its run column, or -1 when not selected. */
  readonly targets: Int32Array;
  readonly converters: (ValueConverter | undefined)[];
  /** The batch's source columns, to widen on failure. */
  readonly source: readonly SourceColumn[];
  /** REQUIRED run columns the batch has no column for: filled with their type's default. */
  readonly fills: readonly number[];
  /**
   * REQUIRED destination columns the batch has no column for, without `load.fill_required_defaults`:
   * a row of such a batch is refused (a batch without rows loads nothing that could break them).
   */
  readonly unfilled?: readonly Column[];
}

export interface RunSchemaOptions {
  readonly table: string;
  /** Columns of the existing destination table, if any. */
  readonly existing?: readonly Column[];
  /** Stored original → sanitized mapping. */
  readonly mapping: ReadonlyMap<string, string>;
  /** `source.columns`: original or sanitized names to keep. */
  readonly select?: readonly string[];
  readonly fillRequired: boolean;
  /** Whether the destination can change an existing column from one type to another. */
  readonly canWiden: (from: ColumnType, to: ColumnType) => boolean;
  /** The largest row the destination takes, in bytes of its values, and that limit's name. */
  readonly maxRow?: { readonly bytes: number; readonly name: string };
  /** The instants the destination's time columns hold. */
  readonly timeRange?: TimeRange;
}

/** Column types whose values are written exactly as read, and so may become STRING for a code. */
const CODE_HOLDERS = new Set<ColumnType>(['INT64', 'NUMERIC', 'BIGNUMERIC']);

/** A batch converted column by column (see `RunSchema.convertColumns`). */
export interface ColumnarResult {
  /** One vector per run column, in run-column order; null where the batch has no such column. */
  readonly columns: (ArrayLike<Value> | null)[];
  /** Rows that failed, in row order, with the column and reason of their first failure. */
  readonly failures: readonly { readonly row: number; readonly column: string; readonly reason: string }[];
  /** Set for each failed row: stages leave these rows out. */
  readonly skip?: Uint8Array;
}

/** Whether a vector of numbers goes into a column of `type` unchanged: what its converter would return. */
function passesThrough(vector: ArrayLike<unknown>, type: ColumnType): boolean {
  if (type === 'FLOAT64') return vector instanceof Float64Array || vector instanceof Float32Array || isSmallIntegers(vector);
  return type === 'INT64' && isSmallIntegers(vector);
}

function isSmallIntegers(vector: ArrayLike<unknown>): boolean {
  return vector instanceof Int32Array || vector instanceof Int16Array || vector instanceof Int8Array || vector instanceof Uint32Array || vector instanceof Uint16Array || vector instanceof Uint8Array;
}

/** Values shorter than this never make a row too large: only rows holding a longer one are measured. */
const LONG_VALUE = 1 << 20;

/** The converter of a placeholder column: empty stays NULL, a first value is handed back to decide the type. */
const awaitFirstValue: ValueConverter = (raw) => {
  if (raw === null || raw === undefined || raw === '') return null;
  throw new ConversionFailure('first value');
};

/**
 * The refusal of rows that have no column for REQUIRED destination columns: they could only load
 * with those columns filled (`load.fill_required_defaults`).
 */
function requiredError(missing: readonly Column[]): SchemaError {
  return new SchemaError(
    `${missing.map((column) => column.name).join(', ')} ${missing.length > 1 ? 'are' : 'is'} REQUIRED in the destination but the source has no such column`,
    'set load.fill_required_defaults: true to fill type defaults, or make the column NULLABLE',
  );
}

/** Thrown when a value converts under no type the column may widen to. */
export class CellFailure {
  constructor(
    readonly column: string,
    readonly reason: string,
  ) {}
}

export class RunSchema {
  /** The run's columns, in stage order. */
  readonly columns: Column[] = [];
  private readonly bySource = new Map<string, number>();
  private readonly existingByName = new Map<string, Column>();
  private readonly names = new Map<string, string>();
  private readonly plans = new Map<string, BatchPlan>();
  private readonly selected?: Set<string>;
  /** Run columns (by name) that staged a value spelled otherwise than in the source: they cannot become text. */
  private readonly respelled = new Set<string>();
  /** Run columns whose type is a placeholder: no value has been seen for them yet. */
  private readonly pending = new Set<number>();
  /** Filled REQUIRED run columns no batch has brought yet, by lowercased name. */
  private readonly unsourced = new Map<string, number>();
  /** Whether `source.columns` was checked against the first batch's columns. */
  private selectionChecked = false;
  /**
   * Per run column, where it first appears in plan order: the lowest unit that brings it (-1: a
   * filled REQUIRED column of the table), and its place among that unit's columns.
   */
  private readonly ranks: { unit: number; position: number }[] = [];
  private version = 0;

  constructor(private readonly options: RunSchemaOptions) {
    for (const column of options.existing ?? []) this.existingByName.set(column.name.toLowerCase(), column);
    for (const [original, sanitized] of knownNames(options.mapping, options.existing)) this.names.set(original, sanitized);
    if (options.select) this.selected = new Set(options.select);
    // Filled REQUIRED columns are the run's from the start: rows of every batch that lacks one,
    // before or after a batch that has it, get its type's default.
    if (options.fillRequired) {
      for (const column of options.existing ?? []) {
        if (column.nullable) continue;
        this.unsourced.set(column.name.toLowerCase(), this.columns.length);
        this.ranks.push({ unit: -1, position: this.columns.length });
        this.columns.push({ ...column, nullable: false });
      }
    }
  }

  /** Increases whenever columns are added, widened or reordered; the stage must then `evolve`. */
  get generation(): number {
    return this.version;
  }

  /**
   * The plan to convert batches shaped like `columns`, from the unit at `unit` in plan order,
   * adding or widening run columns.
   */
  planFor(columns: readonly SourceColumn[], unit = 0): BatchPlan {
    const key = columns.map((column) => `${column.name}\u0000${column.type}`).join('\u0001');
    const plan = this.plans.get(key) ?? this.newPlan(key, columns);
    this.rank(plan, unit);
    return plan;
  }

  private newPlan(key: string, columns: readonly SourceColumn[]): BatchPlan {
    this.nameColumns(columns);
    this.checkSelection(columns);
    const fresh = columns.filter((column) => !this.bySource.has(column.name) && this.isSelected(column.name));
    if (fresh.length) this.add(fresh);
    for (const column of columns) {
      const index = this.bySource.get(column.name);
      if (index !== undefined) this.reconcile(index, column);
    }
    const unfilled = this.options.fillRequired ? [] : this.unfilledRequired(columns);
    const plan = { ...this.buildPlan(columns), ...(unfilled.length ? { unfilled } : {}) };
    this.plans.set(key, plan);
    return plan;
  }

  /** Notes that `unit` brings the plan's columns, each at its place in the batch. */
  private rank(plan: BatchPlan, unit: number): void {
    const { targets } = plan;
    for (let i = 0; i < targets.length; i++) {
      const rank = this.ranks[targets[i]];
      if (rank && (unit < rank.unit || (unit === rank.unit && i < rank.position))) this.ranks[targets[i]] = { unit, position: i };
    }
  }

  /**
   * Puts the run's columns in plan order, once every unit has been read: a unit's columns in its
   * own order, after those of the units before it, however the reads interleaved, so the same
   * files always make the same table. Moves the generation on when the order changed.
   */
  orderByPlan(): void {
    const order = this.columns.map((_column, index) => index);
    order.sort((a, b) => this.ranks[a].unit - this.ranks[b].unit || this.ranks[a].position - this.ranks[b].position || a - b);
    if (order.every((from, to) => from === to)) return;
    const moved = new Map(order.map((from, to) => [from, to]));
    const columns = order.map((from) => this.columns[from]);
    const ranks = order.map((from) => this.ranks[from]);
    this.columns.splice(0, columns.length, ...columns);
    this.ranks.splice(0, ranks.length, ...ranks);
    for (const [source, index] of this.bySource) this.bySource.set(source, moved.get(index)!);
    for (const [name, index] of this.unsourced) this.unsourced.set(name, moved.get(index)!);
    const pending = [...this.pending];
    this.pending.clear();
    for (const index of pending) this.pending.add(moved.get(index)!);
    this.plans.clear();
    this.version++;
  }

  /**
   * The run column each batch column loads into (undefined: not loaded), for a destination that
   * converts a file's values itself. Undefined while a column's type still awaits its first
   * value or a REQUIRED column needs the core's missing-value rules.
   */
  nativeTargets(plan: BatchPlan): (Column | undefined)[] | undefined {
    if (plan.fills.length || plan.unfilled) return undefined;
    const targets: (Column | undefined)[] = [];
    for (const target of plan.targets) {
      const column = target < 0 ? undefined : this.columns[target];
      if (column && (this.pending.has(target) || !column.nullable)) return undefined;
      targets.push(column);
    }
    return targets;
  }

  /**
   * Converts a batch held column by column into run-column vectors (null: a run column the batch
   * does not fill), as {@link convertRow} converts each of its rows: a row with a value that
   * fails under every type its column may take is listed in `failures` (first failure per row,
   * in row order) and marked in `skip`, and its other values are not converted. Vectors of
   * numbers whose converter would return them unchanged (an Int32Array into INT64, a
   * Float32Array into FLOAT64) are passed on as they are.
   */
  convertColumns(plan: BatchPlan, vectors: readonly ArrayLike<unknown>[], length: number): ColumnarResult {
    if (plan.unfilled && length) throw requiredError(plan.unfilled);
    const out: (ArrayLike<Value> | null)[] = new Array(this.columns.length).fill(null);
    const failures: { row: number; column: string; reason: string }[] = [];
    let skip: Uint8Array | undefined;
    const { targets } = plan;
    for (let i = 0; i < targets.length; i++) {
      const target = targets[i];
      if (target < 0) continue;
      const vector = vectors[i]!;
      if (!this.pending.has(target) && passesThrough(vector, this.columns[target].type)) {
        out[target] = vector as ArrayLike<Value>;
        continue;
      }
      const values: Value[] = new Array(length);
      for (let r = 0; r < length; r++) {
        if (skip?.[r]) {
          values[r] = null;
          continue;
        }
        const raw = vector[r];
        try {
          values[r] = plan.converters[i]!(raw);
        } catch (error) {
          if (!(error instanceof ConversionFailure)) throw error;
          try {
            values[r] = this.retryWider(plan, i, raw, error);
          } catch (failure) {
            if (!(failure instanceof CellFailure)) throw failure;
            (skip ??= new Uint8Array(length))[r] = 1;
            failures.push({ row: r, column: failure.column, reason: failure.reason });
            values[r] = null;
          }
        }
      }
      out[target] = values;
    }
    for (const index of plan.fills) out[index] = new Array<Value>(length).fill(defaultValue(this.columns[index].type));
    if (this.options.maxRow) this.checkColumnSizes(out, length, this.options.maxRow, (row, failure) => {
      (skip ??= new Uint8Array(length))[row] = 1;
      failures.push({ row, column: failure.column, reason: failure.reason });
    });
    if (failures.length > 1) failures.sort((a, b) => a.row - b.row);
    return { columns: out, failures, skip };
  }

  /** {@link checkSize} for the rows of column vectors that hold a long value. */
  private checkColumnSizes(columns: readonly (ArrayLike<Value> | null)[], length: number, limit: { readonly bytes: number; readonly name: string }, fail: (row: number, failure: CellFailure) => void): void {
    const long = new Set<number>();
    for (const column of columns) {
      if (!column || ArrayBuffer.isView(column)) continue;
      for (let r = 0; r < length; r++) {
        const value = column[r];
        if ((typeof value === 'string' || value instanceof Uint8Array) && value.length > LONG_VALUE) long.add(r);
      }
    }
    for (const r of long) {
      try {
        this.checkSize(
          columns.map((column) => (column ? column[r]! : null)),
          limit,
        );
      } catch (error) {
        if (!(error instanceof CellFailure)) throw error;
        fail(r, error);
      }
    }
  }

  /**
   * Converts one row into run-column order. A value that fails under an inferred type widens
   * the column (and the caller must evolve the stage) when a wider type holds it.
   */
  convertRow(plan: BatchPlan, row: readonly unknown[]): Value[] {
    if (plan.unfilled) throw requiredError(plan.unfilled);
    const out: Value[] = new Array(this.columns.length).fill(null);
    const { targets, converters } = plan;
    for (let i = 0; i < targets.length; i++) {
      const target = targets[i];
      if (target < 0) continue;
      try {
        out[target] = converters[i]!(row[i]);
      } catch (error) {
        if (!(error instanceof ConversionFailure)) throw error;
        out[target] = this.retryWider(plan, i, row[i], error);
      }
    }
    for (const index of plan.fills) out[index] = defaultValue(this.columns[index].type);
    if (this.options.maxRow) this.checkSize(out, this.options.maxRow);
    return out;
  }

  /** Fails a row whose values the destination cannot take in one row, naming its largest value. */
  private checkSize(row: readonly Value[], limit: { readonly bytes: number; readonly name: string }): void {
    let long = false;
    for (const value of row) {
      if ((typeof value === 'string' || value instanceof Uint8Array) && value.length > LONG_VALUE) long = true;
    }
    if (!long) return;
    let total = 0;
    let largest = 0;
    let column = 0;
    row.forEach((value, i) => {
      // Bytes travel as base64: four characters for three bytes.
      const size =
        value === null ? 0 : typeof value === 'string' ? Buffer.byteLength(value) : value instanceof Uint8Array ? Math.ceil(value.length / 3) * 4 : String(value).length;
      total += size;
      if (size > largest) [largest, column] = [size, i];
    });
    if (total > limit.bytes) {
      const rest = total - largest > LONG_VALUE ? ` (the row: ${megabytes(total)} MB)` : '';
      throw new CellFailure(this.columns[column].source, `value of ${megabytes(largest)} MB${rest} exceeds ${limit.name}`);
    }
  }

  private retryWider(plan: BatchPlan, index: number, raw: unknown, failure: ConversionFailure): Value {
    const source = plan.source[index];
    const target = plan.targets[index];
    if (this.pending.delete(target)) {
      // The first value of a column the sample never saw a value for decides its type.
      this.setType(target, (typeof raw === 'string' ? inferTextType(raw, source) : inferValueType(raw)) ?? 'STRING');
      const converter = this.converterFor(source, this.columns[target]);
      (plan.converters as (ValueConverter | undefined)[])[index] = converter;
      return converter(raw);
    }
    const column = this.columns[target];
    if (source.inferred && raw !== null && raw !== undefined) {
      const seen = typeof raw === 'string' ? inferTextType(raw, source) : inferValueType(raw);
      const wider = widenType(column.type, seen);
      if (wider && wider !== column.type && (this.mayBecome(column, wider) || this.mayHoldCode(column, raw))) {
        this.setType(target, wider);
        const converter = this.converterFor(source, this.columns[target]);
        (plan.converters as (ValueConverter | undefined)[])[index] = converter;
        try {
          return converter(raw);
        } catch (again) {
          if (again instanceof ConversionFailure) throw new CellFailure(column.source, again.reason);
          throw again;
        }
      }
      const hint = this.existingByName.has(column.name.toLowerCase())
        ? `the destination column is ${column.type}; correct the value in the source, or allow bad rows with load.max_bad_records`
        : `inferred as ${column.type} from the sampled rows${this.respelled.has(column.name) ? ', and earlier values were staged as numbers spelled otherwise, so it cannot become text' : ''}; raise source.sample_size, or load the column as STRING`;
      throw new CellFailure(column.source, `${failure.reason} (${hint})`);
    }
    throw new CellFailure(column.source, failure.reason);
  }

  private isSelected(name: string): boolean {
    if (!this.selected) return true;
    return this.selected.has(name) || this.selected.has(this.nameOf(name));
  }

  private checkSelection(columns: readonly SourceColumn[]): void {
    if (!this.selected || this.selectionChecked) return;
    this.selectionChecked = true;
    const known = new Set<string>();
    for (const column of columns) known.add(column.name).add(this.nameOf(column.name));
    const unknown = [...this.selected].filter((name) => !known.has(name));
    if (unknown.length) {
      throw ConfigError.of(
        `source.columns: ${unknown.map((name) => `"${name}"`).join(', ')} not found in the source`,
        `the source's columns are: ${columns.map((column) => column.name).join(', ')}`,
      );
    }
  }

  /** REQUIRED destination columns a batch shaped like `columns` has no column for. */
  private unfilledRequired(columns: readonly SourceColumn[]): Column[] {
    const loaded = new Set(columns.filter((column) => this.isSelected(column.name)).map((column) => this.nameOf(column.name).toLowerCase()));
    return (this.options.existing ?? []).filter((column) => !column.nullable && !loaded.has(column.name.toLowerCase()));
  }

  /**
   * Names the columns of a batch not named yet, together (see {@link sanitizeNames}): a new name
   * meets the table's columns and the run's ignoring case, and two of the batch's columns never
   * share one.
   */
  private nameColumns(columns: readonly SourceColumn[]): void {
    if (columns.every((column) => this.names.has(column.name))) return;
    const existing = (this.options.existing ?? []).map((column) => column.name);
    for (const [original, name] of sanitizeNames(columns.map((column) => column.name), this.names, existing)) this.names.set(original, name);
  }

  /** The sanitized name of a source column of a batch already planned (stable across runs through the mapping). */
  private nameOf(original: string): string {
    return this.names.get(original)!;
  }

  private add(fresh: readonly SourceColumn[]): void {
    const mismatches: ColumnMismatch[] = [];
    const runColumns = new Map(this.columns.map((column, index) => [column.name.toLowerCase(), index]));
    let changed = false;
    for (const column of fresh) {
      const name = this.nameOf(column.name);
      const same = this.unsourced.has(name.toLowerCase()) ? undefined : runColumns.get(name.toLowerCase());
      if (same !== undefined) {
        // Another spelling of a column the run has (`Sale ID` after `sale_id`): the same column.
        this.bySource.set(column.name, same);
        continue;
      }
      changed = true;
      const existing = this.existingByName.get(name.toLowerCase());
      let type = column.type;
      let nullable = true;
      if (existing) {
        nullable = existing.nullable;
        // An inferred type is a guess from a sample: the table's type is the contract, and
        // values that do not convert to it become bad records naming the column.
        if (isCompatible(column.type, existing.type) || column.inferred) type = existing.type;
        else if (!this.mayBecome(existing, column.type)) {
          mismatches.push({ column: existing.name, source: column.name, sourceType: column.type, destinationType: existing.type });
        }
      }
      const filled = this.unsourced.get(name.toLowerCase());
      if (filled !== undefined) {
        // A filled REQUIRED column this batch has: its values from now on.
        this.unsourced.delete(name.toLowerCase());
        this.bySource.set(column.name, filled);
        this.columns[filled] = { ...this.columns[filled], source: column.name, type, sourceType: column.sourceType, repeated: column.repeated };
        continue;
      }
      if (column.unseen && !existing) this.pending.add(this.columns.length);
      this.bySource.set(column.name, this.columns.length);
      runColumns.set(name.toLowerCase(), this.columns.length);
      this.ranks.push({ unit: Number.POSITIVE_INFINITY, position: 0 });
      this.columns.push({ name: existing?.name ?? name, source: column.name, type, nullable, sourceType: column.sourceType, repeated: column.repeated });
    }
    if (mismatches.length) {
      throw new SchemaError(describeMismatches(this.options.table, mismatches), 'change the source type, load into a new table, or drop the destination table and use --full-refresh');
    }
    if (changed) this.version++;
  }

  /** Widens a run column when a batch brings a type it cannot hold. */
  private reconcile(index: number, source: SourceColumn): void {
    if (source.unseen) return;
    if (this.pending.delete(index)) {
      this.setType(index, source.type);
      return;
    }
    const column = this.columns[index];
    const type = source.type;
    if (isCompatible(type, column.type)) return;
    const wider = isCompatible(column.type, type) ? type : widenType(column.type, type);
    if (wider && isCompatible(type, wider) && this.mayBecome(column, wider)) {
      this.setType(index, wider);
      return;
    }
    // Another file's sample guessed differently: keep the established type, convert per value.
    if (source.inferred) return;
    throw new SchemaError(
      describeMismatches(this.options.table, [{ column: column.name, source: column.source, sourceType: type, destinationType: column.type }]),
      'change the source type, or load into a new table',
    );
  }

  /**
   * Whether an established column may change to `type`: only widenings that keep every value's
   * meaning (integers to wider numbers), and on an existing table only those the destination
   * can apply. A column never turns into STRING because one value did not fit.
   */
  private mayBecome(column: Column, type: ColumnType): boolean {
    if (!isWidening(column.type, type)) return false;
    const existing = this.existingByName.get(column.name.toLowerCase());
    return !existing || existing.type === type || (isWidening(existing.type, type) && this.options.canWiden(existing.type, type));
  }

  /**
   * Whether an integer or decimal column may become STRING for a code (`07030`) that a later row
   * brought, when every value it staged so far reads back as spelled in the source (codes never
   * convert, and a value staged in another spelling marks the column). FLOAT64 values, and those
   * of a marked column, would come back in another spelling (`1.50` as `1.5`, `1.0` as `1`):
   * those columns set such a row aside instead.
   */
  private mayHoldCode(column: Column, raw: unknown): boolean {
    if (typeof raw !== 'string' || !isCodeNumeral(raw.trim()) || !CODE_HOLDERS.has(column.type) || this.respelled.has(column.name)) return false;
    const existing = this.existingByName.get(column.name.toLowerCase());
    return !existing || existing.type === 'STRING' || this.options.canWiden(existing.type, 'STRING');
  }

  /** Changes a run column's type; every batch shape is planned again, so none converts to the old one. */
  private setType(index: number, type: ColumnType): void {
    this.columns[index] = { ...this.columns[index], type };
    this.plans.clear();
    this.version++;
  }

  private converterFor(source: SourceColumn, column: Column): ValueConverter {
    const convert = this.typedConverter(source, column);
    if (!source.inferred || !CODE_HOLDERS.has(column.type)) return convert;
    // Values of a column that may still become text for a code must read back as spelled: one
    // staged in another spelling (`1.0` as 1, `1.5e3` as 1500, `+0.10` as 0.10) rules that out.
    const name = column.name;
    return (raw) => {
      const value = convert(raw);
      if (typeof raw === 'string' && value !== null && !this.respelled.has(name) && (typeof value === 'string' ? value : String(value)) !== raw) this.respelled.add(name);
      return value;
    };
  }

  private typedConverter(source: SourceColumn, column: Column): ValueConverter {
    return converterFor(column.type, {
      from: source.type,
      inferred: source.inferred,
      dateFormat: source.dateFormat,
      decimalComma: source.decimalComma,
      range: this.options.timeRange,
      required: !column.nullable,
      fillRequired: this.options.fillRequired,
    });
  }

  private buildPlan(columns: readonly SourceColumn[]): BatchPlan {
    const targets = new Int32Array(columns.length).fill(-1);
    const converters: (ValueConverter | undefined)[] = [];
    columns.forEach((column, i) => {
      const index = this.bySource.get(column.name);
      if (index === undefined) return;
      targets[i] = index;
      converters[i] = this.pending.has(index) ? awaitFirstValue : this.converterFor(column, this.columns[index]);
    });
    const targeted = new Set(targets);
    const fills = this.columns.flatMap((column, index) => (!column.nullable && !targeted.has(index) ? [index] : []));
    return { targets, converters, source: columns, fills };
  }
}
