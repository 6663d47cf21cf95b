/**
 * A one-shot result handed from one fiber to another, with `Deferred`'s rules: the first completion wins and
 * later ones are ignored, and awaiting a completed signal answers at once with its exit. Its cost is what
 * differs: `Deferred.make` copies Effect's prototype into every new deferred (about 7 µs each here, measured
 * in a tight loop), and PostgreSQL's group commit made three per delivery and one round of hand-offs per
 * handler (`pgBatch.ts`). A signal is a plain object and an `Effect.async` (about 2 µs).
 *
 * One waiter at a time: in `pgBatch.ts` and `GroupCommit.ts` (SQLite) each signal has exactly one reader (the
 * delivery's fiber, or its batch's worker). A second concurrent await is a defect, not a silent hang. The wait
 * cannot be interrupted.
 *
 * @internal
 */
import { Effect, Exit } from "effect"

const twoReaders = Effect.dieMessage("Signal: awaited by two fibers at once")

export class Signal<A, E = never> {
  private exit: Exit.Exit<A, E> | undefined = undefined
  private waiter: ((effect: Effect.Effect<A, E>) => void) | undefined = undefined

  /** Completes the signal with `exit` and wakes its waiter; false (and nothing changes) if it was complete. */
  done(exit: Exit.Exit<A, E>): boolean {
    if (this.exit !== undefined) return false
    this.exit = exit
    const waiter = this.waiter
    if (waiter !== undefined) {
      this.waiter = undefined
      waiter(exit)
    }
    return true
  }

  succeed(value: A): boolean {
    return this.done(Exit.succeed(value))
  }

  fail(error: E): boolean {
    return this.done(Exit.fail(error))
  }

  /** Whether it is complete. */
  get isDone(): boolean {
    return this.exit !== undefined
  }

  /**
   * The signal's exit, once complete. Uninterruptible (every wait in `pgBatch.ts` and `GroupCommit.ts` is
   * inside an uninterruptible region anyway): an interruptible wait would need a canceler, and Effect wraps an
   * `async` that has one in about ten more steps.
   */
  readonly await: Effect.Effect<A, E> = Effect.uninterruptible(
    Effect.suspend(() => {
      if (this.exit !== undefined) return this.exit
      if (this.waiter !== undefined) return twoReaders
      // Checked again where the waiter is registered: the fiber can yield between the check above and this
      // callback (after its operation budget), and a completion in that gap would otherwise wake nobody.
      return Effect.async<A, E>((resume) => {
        if (this.exit !== undefined) resume(this.exit)
        else if (this.waiter !== undefined) resume(twoReaders)
        else this.waiter = resume
      })
    })
  )
}
