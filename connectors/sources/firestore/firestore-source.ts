/**
 * The Firestore source: a collection (any path, subcollections included) or a collection
 * group, streamed as batches with bounded memory. The schema is inferred from a sample and
 * grows when later documents bring new fields; incremental runs follow a timestamp field up to
 * a high-water mark read at plan time, with documents sharing a boundary timestamp tracked by
 * path so none is lost or loaded twice.
 */
import type { CollectionReference, Query, QueryDocumentSnapshot } from '@google-cloud/firestore';
import type { CatalogEntry, PlanContext, ReadContext, SourceConnector, SourcePlan, SourceSample, WorkUnit } from '../../../src/core/connector.js';
import { ConfigError } from '../../../src/core/errors.js';
import { silentLogger as silentLog, type Logger } from '../../../src/core/log.js';
import { parseDuration, type JobSpec } from '../../../src/core/spec.js';
import { formatTimestamp } from '../../../src/core/time.js';
import type { RecordBatch, SourceColumn } from '../../../src/core/types.js';
import type { FirestoreHandle } from './firestore-client.js';
import {
  compareInstants,
  cursorState,
  formatInstant,
  instantFromMicros,
  parseInstant,
  readCursorState,
  type Instant,
} from './firestore-cursor.js';
import { firestoreError } from './firestore-errors.js';
import { DocumentRows, FieldSample, METADATA } from './firestore-rows.js';
import { FirestoreValues, timestampMicros, type NestedMode } from './firestore-values.js';

const DEFAULT_SAMPLE_SIZE = 100;
const BATCH_ROWS = 5000;
const BATCH_BYTES = 16 * 1024 * 1024;
const MAX_REJECT_TEXT = 100_000;
/** The earliest Firestore timestamp: `cursor >= MIN` selects documents whose cursor is a timestamp. */
const MIN_INSTANT: Instant = { seconds: -62_135_596_800, nanos: 0 };

/** A job's Firestore settings, validated. */
interface FirestoreJob {
  /** `collection users/u1/orders` or `collection group orders`. */
  readonly target: string;
  readonly collection?: string;
  readonly group?: string;
  readonly nested: NestedMode;
  readonly keepMissing: boolean;
  /** `source.columns` without the metadata names. */
  readonly fields?: readonly string[];
  readonly sampleSize: number;
  readonly cursor?: string;
}

/** What a unit reads: everything, or a cursor range. */
interface UnitParams {
  /** Microseconds: the one `_extracted_at` value of the run. */
  readonly extractedAt: string;
  readonly range?: {
    /** Inclusive; documents at exactly this value listed in `skipAtLower` were loaded already. */
    readonly lower: Instant;
    readonly skipAtLower: readonly string[];
    /** The high-water mark, inclusive; at exactly this value only `keepAtUpper` documents are read. */
    readonly upper: Instant;
    readonly keepAtUpper: readonly string[];
    /** `--until`, exclusive. */
    readonly until?: Instant;
  };
}

/** Reads a Firestore collection or collection group. */
export class FirestoreSource implements SourceConnector {
  /** `source.columns` is applied here, so that metadata columns stay and unlisted fields are never read. */
  readonly selectsColumns = true;
  private readonly samples = new Map<string, Promise<FieldSample>>();
  private readonly startedAt = BigInt(Date.now()) * 1000n;

  constructor(
    private readonly handle: FirestoreHandle,
    private readonly connection: string,
  ) {}

  async discover(job: JobSpec, log: Logger): Promise<SourceColumn[]> {
    const settings = this.settings(job);
    const sample = await this.sample(job, settings, log);
    return new DocumentRows(this.values(settings), sample.columns(), this.rowOptions(settings), this.startedAt).columns;
  }

  async plan(context: PlanContext): Promise<SourcePlan> {
    const { job, log } = context;
    const settings = this.settings(job);
    const extractedAt = (BigInt(Date.now()) * 1000n).toString();
    const sample = await this.sample(job, settings, log);
    const base = this.base(settings);
    const notes = [`schema: ${sample.documents} documents sampled, ${sample.columns().length} fields`];
    if (sample.unusable.size) notes.push(`fields whose names have no letter or digit (their documents are rejected): ${[...sample.unusable].map((f) => JSON.stringify(f)).join(', ')}`);
    const strategy = job.load.strategy;
    if (strategy === 'catalog' || (strategy === 'merge' && !settings.cursor)) {
      const total = await this.count(base, 'count');
      const unit: WorkUnit = { id: settings.target, label: `${settings.target} (all documents)`, estimatedRows: total, params: { extractedAt } satisfies UnitParams };
      return { units: [unit], skipped: [], estimatedRows: total, estimateBasis: `count() of ${settings.target}`, estimateExact: true, ordered: false, notes: [`read: every document of ${settings.target}`, `documents: ${total} (count())`, ...notes] };
    }
    const cursor = settings.cursor;
    if (!cursor) {
      throw ConfigError.of(
        `job ${job.name}: a ${strategy} Firestore job needs load.cursor, a timestamp field such as updated_at`,
        'set load.cursor to a Timestamp field that every new or changed document gets, or use load.strategy: catalog',
      );
    }
    this.checkCursorKinds(job.name, cursor, sample);
    const high = await this.highWater(base, cursor);
    const total = await this.count(base, 'count');
    const withCursor = await this.count(base.where(cursor, '>=', this.timestamp(MIN_INSTANT)), 'count');
    const without = Math.max(0, total - withCursor);
    if (without > 0) {
      const message = `${without} of ${total} documents in ${settings.target} have no timestamp in ${cursor}: an ordered query cannot find them, so ${strategy} runs do not load them (strategy: catalog does)`;
      log.warn(message);
      notes.push(message);
    }
    if (!high) {
      return { units: [], skipped: [{ id: settings.target, reason: `no document has a timestamp in ${cursor}` }], estimatedRows: 0, ordered: true, notes: [`nothing to load: no document in ${settings.target} has a timestamp in ${cursor}`, ...notes] };
    }
    const state = context.fullRefresh ? undefined : readCursorState(context.state.cursor, cursor, job.name);
    let lower = MIN_INSTANT;
    let skipAtLower: readonly string[] = [];
    let until: Instant | undefined;
    let cursorAfter: unknown;
    if (context.window) {
      // a backfill reads its window and leaves the cursor where it is: no unit carries one
      if (context.window.since) lower = parseInstant(context.window.since, '--since');
      if (context.window.until) until = parseInstant(context.window.until, '--until');
    } else if (state) {
      lower = { seconds: state.seconds, nanos: state.nanos };
      skipAtLower = state.ids;
      if (strategy === 'merge' && job.load.lookback) {
        lower = instantFromMicros(timestampMicros({ seconds: lower.seconds, nanoseconds: lower.nanos }) - BigInt(parseDuration(job.load.lookback)) * 1000n);
        skipAtLower = [];
      }
    } else if (job.load.start !== undefined) {
      lower = parseInstant(job.load.start, 'load.start');
    }
    const range = `${cursor} from ${compareInstants(lower, MIN_INSTANT) === 0 ? 'the beginning' : formatInstant(lower)} to ${formatInstant(high)}`;
    notes.unshift(`high-water mark: ${formatInstant(high)} (newest ${cursor} at plan time; later changes wait for the next run)`);
    if (compareInstants(lower, high) > 0 || (until && compareInstants(until, lower) <= 0)) {
      return { units: [], skipped: [{ id: settings.target, reason: 'up to date' }], estimatedRows: 0, ordered: true, notes: [`nothing new: ${cursor} has nothing past ${formatInstant(lower)}`, ...notes] };
    }
    const atHigh = await this.pathsAt(base, cursor, high);
    if (!context.window) cursorAfter = cursorState(cursor, high, atHigh);
    const loaded = new Set(skipAtLower);
    if (compareInstants(lower, high) === 0 && atHigh.every((path) => loaded.has(path))) {
      return { units: [], skipped: [{ id: settings.target, reason: 'up to date' }], estimatedRows: 0, ordered: true, notes: [`nothing new: every document at ${cursor} = ${formatInstant(high)} is loaded`, ...notes] };
    }
    const query = this.rangeQuery(base, cursor, lower, high, until);
    const estimated = Math.max(0, (await this.count(query, 'count')) - loaded.size);
    const params: UnitParams = { extractedAt, range: { lower, skipAtLower, upper: high, keepAtUpper: atHigh, until } };
    const unit: WorkUnit = {
      id: `${settings.target}:${cursor}:${formatInstant(lower)}..${formatInstant(high)}`,
      label: `${settings.target} ${range}`,
      estimatedRows: estimated,
      cursorAfter,
      params,
    };
    const from = compareInstants(lower, MIN_INSTANT) === 0 ? `${cursor} is a timestamp` : `${cursor} >= ${formatInstant(lower)}`;
    notes.unshift(`read: ${settings.target} where ${from} and <= ${formatInstant(high)}${until ? ` and < ${formatInstant(until)}` : ''}, ordered by ${cursor}, document id`);
    notes.push(`documents: ${total} in ${settings.target}, about ${estimated} to read (count())`);
    const text = (instant: Instant) => formatTimestamp(timestampMicros({ seconds: instant.seconds, nanoseconds: instant.nanos }));
    const window = context.window
      ? { column: cursor, lower: context.window.since ? text(lower) : undefined, upper: until ? { value: text(until), inclusive: false } : { value: text(high), inclusive: true } }
      : undefined;
    return { units: [unit], skipped: [], estimatedRows: estimated, ordered: !context.window, notes, window };
  }

  async *read(unit: WorkUnit, context: ReadContext): AsyncIterable<RecordBatch> {
    const settings = this.settings(context.job);
    const params = unit.params as UnitParams;
    const sample = await this.sample(context.job, settings, context.log);
    const values = this.values(settings);
    const rows = new DocumentRows(values, sample.columns(), this.rowOptions(settings), BigInt(params.extractedAt));
    const { sdk } = this.handle;
    const base = this.base(settings);
    const range = params.range;
    let query: Query = range ? this.rangeQuery(base, settings.cursor!, range.lower, range.upper, range.until) : base;
    if (settings.fields) {
      const paths = settings.fields.map((field) => new sdk.FieldPath(field));
      if (settings.cursor && range && !settings.fields.includes(settings.cursor)) paths.push(new sdk.FieldPath(...settings.cursor.split('.')));
      query = query.select(...paths);
    }
    const skipAtLower = new Set(range?.skipAtLower);
    const keepAtUpper = new Set(range?.keepAtUpper);
    const lower = range && this.timestamp(range.lower);
    const upper = range && this.timestamp(range.upper);

    let columns = rows.columns.slice();
    let batch: unknown[][] = [];
    let positions: string[] = [];
    let rejects: { position: string; reason: string; raw: string }[] = [];
    let bytes = 0;
    let yielded = false;
    let read = 0;
    let boundary = 0;
    const flush = (): RecordBatch => {
      const out: RecordBatch = { columns, rows: batch, positions, ...(rejects.length ? { rejects } : {}) };
      batch = [];
      positions = [];
      rejects = [];
      bytes = 0;
      yielded = true;
      return out;
    };

    const stream = query.stream() as AsyncIterable<QueryDocumentSnapshot>;
    try {
      for await (const document of stream) {
        if (context.signal.aborted) throw context.signal.reason ?? new Error('cancelled');
        read++;
        const path = document.ref.path;
        if (range) {
          const at = document.get(settings.cursor!) as unknown;
          if (at instanceof sdk.Timestamp) {
            if (skipAtLower.size && at.isEqual(lower!) && skipAtLower.has(path)) {
              boundary++;
              continue;
            }
            // written at the high-water mark after planning: the next run reads it
            if (at.isEqual(upper!) && !keepAtUpper.has(path)) {
              boundary++;
              continue;
            }
          }
        }
        let shaped;
        try {
          shaped = rows.shape({ id: document.id, path, data: () => document.data() });
        } catch (error) {
          shaped = { reject: `document could not be read: ${(error as Error).message}` };
        }
        if ('reject' in shaped) {
          rejects.push({ position: path, reason: shaped.reject, raw: this.rawText(values, document) });
          continue;
        }
        if (shaped.grew) {
          if (batch.length || rejects.length) yield flush();
          columns = rows.columns.slice();
        }
        batch.push(shaped.row);
        positions.push(path);
        bytes += shaped.bytes;
        if (batch.length >= BATCH_ROWS || bytes >= BATCH_BYTES) yield flush();
      }
    } catch (error) {
      if (context.signal.aborted) throw error;
      throw firestoreError(error, `reading ${settings.target}`, this.handle.where);
    }
    if (batch.length || rejects.length || !yielded) yield flush();
    context.log.debug(`${settings.target}: ${read} documents read, ${boundary} skipped at cursor boundaries`);
  }

  async close(): Promise<void> {
    await this.handle.db.terminate();
  }

  // ---------------------------------------------------------------------------------------------

  private settings(job: JobSpec): FirestoreJob {
    const { collection, collection_group: group } = job.source;
    const fix = 'give source.collection (a path such as users or users/u1/orders) or source.collection_group (a collection id such as orders)';
    if (!collection && !group) throw ConfigError.of(`job ${job.name}: a Firestore source needs source.collection or source.collection_group`, fix);
    if (job.source.table || job.source.query || job.source.pattern) {
      throw ConfigError.of(`job ${job.name}: source.table, source.query and source.pattern do not apply to Firestore (connection ${this.connection})`, fix);
    }
    let target: string;
    if (collection) {
      const segments = collection.split('/').filter(Boolean);
      if (segments.length % 2 === 0) {
        throw ConfigError.of(
          `job ${job.name}: source.collection "${collection}" is a document path (it has an even number of segments)`,
          'name a collection: users, or users/u1/orders for a subcollection',
        );
      }
      target = `collection ${segments.join('/')}`;
    } else {
      if (group!.includes('/')) throw ConfigError.of(`job ${job.name}: source.collection_group "${group}" must be a collection id, without /`, fix);
      target = `collection group ${group}`;
    }
    const metadata = new Set<string>(Object.values(METADATA));
    const fields = job.source.columns?.filter((name) => !metadata.has(name));
    return {
      target,
      collection: collection?.split('/').filter(Boolean).join('/'),
      group,
      nested: job.source.nested ?? 'string',
      keepMissing: job.source.keep_missing ?? false,
      fields,
      sampleSize: job.source.sample_size ?? DEFAULT_SAMPLE_SIZE,
      cursor: job.load.cursor,
    };
  }

  private rowOptions(settings: FirestoreJob) {
    return { nested: settings.nested, withPath: settings.group !== undefined, keepMissing: settings.keepMissing, fields: settings.fields };
  }

  private values(settings: FirestoreJob): FirestoreValues {
    return new FirestoreValues(this.handle.sdk, settings.nested);
  }

  private base(settings: FirestoreJob): CollectionReference | Query {
    const { db } = this.handle;
    return settings.collection ? db.collection(settings.collection) : db.collectionGroup(settings.group!);
  }

  /** The first `limit` documents as rows, shaped as a run shapes them. */
  async preview(job: JobSpec, limit: number): Promise<SourceSample> {
    const settings = this.settings(job);
    const sample = await this.sample(job, settings, silentLog);
    const rows = new DocumentRows(this.values(settings), sample.columns(), this.rowOptions(settings), this.startedAt);
    const out: unknown[][] = [];
    try {
      const snapshot = await this.base(settings).limit(limit).get();
      for (const document of snapshot.docs) {
        const shaped = rows.shape({ id: document.id, path: document.ref.path, data: () => document.data() });
        if (!('reject' in shaped)) out.push(shaped.row);
      }
    } catch (error) {
      throw firestoreError(error, `reading ${settings.target}`, this.handle.where);
    }
    const width = rows.columns.length;
    return { fields: rows.columns.map((column) => column.name), rows: out.map((row) => (row.length < width ? [...row, ...new Array(width - row.length).fill(null)] : row)) };
  }

  /** The earliest and latest timestamp of a field (documents without one are not counted). */
  async range(job: JobSpec, column: string): Promise<{ min: string; max: string } | undefined> {
    const settings = this.settings(job);
    const { sdk } = this.handle;
    const query = this.base(settings).where(column, '>=', this.timestamp(MIN_INSTANT));
    try {
      const [first, last] = await Promise.all([query.orderBy(column, 'asc').limit(1).get(), query.orderBy(column, 'desc').limit(1).get()]);
      const at = (snapshot: typeof first) => snapshot.docs[0]?.get(column) as unknown;
      const [min, max] = [at(first), at(last)];
      if (!(min instanceof sdk.Timestamp) || !(max instanceof sdk.Timestamp)) return undefined;
      return { min: min.toDate().toISOString(), max: max.toDate().toISOString() };
    } catch (error) {
      throw firestoreError(error, `reading the range of ${column} in ${settings.target}`, this.handle.where);
    }
  }

  async probe(): Promise<string> {
    const collections = await this.catalog();
    const names = collections.map((entry) => entry.name);
    return `${this.handle.where}; ${names.length} root collection(s)${names.length ? `: ${names.slice(0, 5).join(', ')}${names.length > 5 ? ', …' : ''}` : ''}`;
  }

  /** The root collections. */
  async catalog(): Promise<CatalogEntry[]> {
    try {
      const collections = await this.handle.db.listCollections();
      return collections.map((collection) => ({ name: collection.id, kind: 'collection' as const }));
    } catch (error) {
      throw firestoreError(error, 'listing the root collections', this.handle.where);
    }
  }

  private timestamp(instant: Instant) {
    return new this.handle.sdk.Timestamp(instant.seconds, instant.nanos);
  }

  private rangeQuery(base: Query, cursor: string, lower: Instant, upper: Instant, until?: Instant): Query {
    let query = base.where(cursor, '>=', this.timestamp(lower)).where(cursor, '<=', this.timestamp(upper));
    if (until) query = query.where(cursor, '<', this.timestamp(until));
    return query.orderBy(cursor).orderBy(this.handle.sdk.FieldPath.documentId());
  }

  /** The sampled schema of a job, read once per source instance. */
  private sample(job: JobSpec, settings: FirestoreJob, log: Logger): Promise<FieldSample> {
    const key = JSON.stringify([job.name, settings.collection, settings.group, settings.fields, settings.sampleSize, settings.nested]);
    let sample = this.samples.get(key);
    if (!sample) {
      sample = this.takeSample(settings, log);
      this.samples.set(key, sample);
      sample.catch(() => this.samples.delete(key));
    }
    return sample;
  }

  private async takeSample(settings: FirestoreJob, log: Logger): Promise<FieldSample> {
    const sample = new FieldSample(this.values(settings));
    const base = this.base(settings);
    try {
      for await (const document of base.limit(settings.sampleSize).stream() as AsyncIterable<QueryDocumentSnapshot>) {
        const data = document.data();
        if (!settings.fields) sample.add(data);
        else {
          sample.documents++;
          for (const field of settings.fields) if (field in data) sample.note(field, data[field]);
        }
      }
      // a listed field the first documents lack: look at documents that have it
      for (const field of settings.fields ?? []) {
        if (sample.kindsOf(field).size) continue;
        const having = base.orderBy(new this.handle.sdk.FieldPath(field)).limit(settings.sampleSize);
        for await (const document of having.stream() as AsyncIterable<QueryDocumentSnapshot>) {
          const value = document.get(new this.handle.sdk.FieldPath(field)) as unknown;
          if (value !== undefined) sample.note(field, value);
        }
        if (!sample.kindsOf(field).size) log.warn(`${settings.target}: no document has field ${field} (source.columns); it loads as an empty STRING column`);
      }
    } catch (error) {
      throw firestoreError(error, `sampling ${settings.target}`, this.handle.where);
    }
    if (sample.unusable.size) {
      log.warn(`${settings.target}: field names ${[...sample.unusable].map((f) => JSON.stringify(f)).join(', ')} have no letter or digit; documents with them are rejected as bad records`);
    }
    return sample;
  }

  private checkCursorKinds(job: string, cursor: string, sample: FieldSample): void {
    const kinds = new Set(sample.kindsOf(cursor));
    kinds.delete('null');
    if (kinds.size && !kinds.has('timestamp')) {
      throw ConfigError.of(
        `job ${job}: load.cursor ${cursor} holds ${[...kinds].join('/')} values in the sampled documents, not timestamps`,
        'choose a Timestamp field (Firestore type timestamp, e.g. written with FieldValue.serverTimestamp()) as load.cursor',
      );
    }
  }

  private async count(query: Query, doing: string): Promise<number> {
    try {
      return Number((await query.count().get()).data().count);
    } catch (error) {
      throw firestoreError(error, doing, this.handle.where);
    }
  }

  /** The newest timestamp in the cursor field, read before anything else. */
  private async highWater(base: Query, cursor: string): Promise<Instant | undefined> {
    try {
      const snapshot = await base.where(cursor, '>=', this.timestamp(MIN_INSTANT)).orderBy(cursor, 'desc').limit(1).get();
      const value = snapshot.docs[0]?.get(cursor) as unknown;
      if (!(value instanceof this.handle.sdk.Timestamp)) return undefined;
      return { seconds: value.seconds, nanos: value.nanoseconds };
    } catch (error) {
      throw firestoreError(error, `reading the newest ${cursor}`, this.handle.where);
    }
  }

  /** Paths of the documents whose cursor is exactly `at`. */
  private async pathsAt(base: Query, cursor: string, at: Instant): Promise<string[]> {
    const paths: string[] = [];
    try {
      for await (const document of base.where(cursor, '==', this.timestamp(at)).select().stream() as AsyncIterable<QueryDocumentSnapshot>) {
        paths.push(document.ref.path);
      }
    } catch (error) {
      throw firestoreError(error, `listing documents at ${cursor} = ${formatInstant(at)}`, this.handle.where);
    }
    return paths;
  }

  private rawText(values: FirestoreValues, document: QueryDocumentSnapshot): string {
    let text: string;
    try {
      text = JSON.stringify(values.plain(document.data()));
    } catch {
      text = '';
    }
    return text.length > MAX_REJECT_TEXT ? `${text.slice(0, MAX_REJECT_TEXT)}…` : text;
  }
}
