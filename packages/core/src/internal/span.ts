/**
 * Spans that cost nothing when nobody receives them. With no tracer installed, Effect 3 still records every
 * `Effect.withSpan` in its default in-memory tracer (about 15 µs a span here: a span object, its attributes, a
 * clock read, the fiber's context updated and restored), which nobody reads: on a payout that was four spans, a
 * sixth of the SDK's own CPU beside the signature (BENCHMARKS.md rows 1 and 5). So a span is made only when the
 * current tracer is not Effect's default one; with any tracer installed (`Layer.setTracer`, OpenTelemetry) the
 * spans, their names and attributes are exactly as before.
 *
 * The default tracer is the one in Effect's public `DefaultServices.liveServices`, the tracer every runtime
 * starts with; compared by identity. A second copy of `effect` has its own default, which is then taken for an
 * installed tracer: the spans are made, as before (always right, only slower).
 *
 * @internal
 */
import { Context, DefaultServices, Effect, Tracer } from "effect"

const defaultTracer: Tracer.Tracer = Context.get(DefaultServices.liveServices, Tracer.Tracer)

/** Whether `tracer` is Effect's default in-memory tracer, which no one reads. */
export const isDefaultTracer = (tracer: Tracer.Tracer): boolean => tracer === defaultTracer

/**
 * `Effect.withSpan(name, options)`, when a tracer other than Effect's default is installed; `self` unchanged
 * otherwise. `options` is a function so that its attributes are built only for a span that is made.
 */
export const withSpanIfTraced =
  (name: string, options?: () => Tracer.SpanOptions) =>
  <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.tracerWith((tracer) =>
      tracer === defaultTracer ? self : Effect.withSpan(self, name, options === undefined ? {} : options())
    )
