/**
 * Memory checks that cannot flake: instead of bounding RSS (which moves with the allocator and
 * the machine), a test holds weak references to what a stream already handed out and checks
 * that a full collection frees them. Figures go to `npm run bench:memory`.
 */
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
/** A full, synchronous garbage collection. */
export const collectGarbage = runInNewContext('gc') as () => void;

/** Weak references to the first values a stream yields, to check later that nothing keeps them. */
export class Released {
  private readonly refs: WeakRef<object>[] = [];
  constructor(private readonly keep = 3) {}

  /** Remembers `value` weakly if it is among the first ones. */
  track(value: object): void {
    if (this.refs.length < this.keep) this.refs.push(new WeakRef(value));
  }

  /** After a full collection, none of the tracked values is still reachable. */
  async assertReleased(what: string): Promise<void> {
    assert.ok(this.refs.length > 0, `nothing of ${what} was tracked`);
    await new Promise((resolve) => setImmediate(resolve));
    collectGarbage();
    const kept = this.refs.filter((ref) => ref.deref() !== undefined).length;
    assert.equal(kept, 0, `${kept} of the first ${this.refs.length} ${what} are still held: the reader keeps what it already handed out`);
  }
}
