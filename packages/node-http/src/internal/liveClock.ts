/**
 * Whether a Clock is the live one, so that a reader may set a plain `setTimeout` for its timeout instead of
 * `Effect.timeoutFail`, which forks a sleeping fiber per request (about 28 µs, BENCHMARKS.md row 7). Used by the
 * Node notification listener's body reader and by `HttpTransport.layerNode`.
 *
 * The live Clock is the one in Effect's public `DefaultServices.liveServices`, the Clock every runtime starts
 * with; compared by identity, not by its class (an Effect internal). Any other Clock (TestClock, a scaled clock,
 * the live Clock of a second copy of `effect`) is not recognised and gets Effect's timeout: always right, only
 * slower.
 *
 * @internal
 */
import { Clock, Context, DefaultServices } from "effect"

const liveClock: Clock.Clock = Context.get(DefaultServices.liveServices, Clock.Clock)

export const isLive = (clock: Clock.Clock): boolean => clock === liveClock
