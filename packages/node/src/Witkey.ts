/**
 * `Witkey`: the Promise API over the Effect API, for applications on Express, Koa, NestJS, node:http (or on
 * Effect 4, which cannot share Effect 3's runtime). One `ManagedRuntime` per instance holds core's `Client`
 * on `@witkey/node-http`'s transport; each call runs with `runPromiseExit`, and a typed failure is rethrown as
 * its `Error` class (never an Effect `FiberFailure`).
 *
 * ```ts
 * const wk = new Witkey({ partner, gateway, privateKeyFile, alipayPublicKeyFile })
 * const r = await wk.confirmByPlatform({ outerTaskId, transfers: ["s1", "s2"] })
 * app.post("/alipay/notify", wk.notificationListener({ inbox: { sqlite: "./inbox.db" }, handler }))
 * await wk.close()
 * ```
 *
 * Aborting: an `AbortSignal` interrupts the call. The rejection is always an `UnknownOutcomeError` with
 * reason `aborted`, never a bare `AbortError`: an abort while the request was on its way (or after an earlier
 * attempt may have reached the gateway) leaves the payout unknown, and treating it as "nothing happened" would
 * be the one mistake that loses track of money. `mayHaveReached` is false only when no attempt can have
 * reached the gateway (aborted before sending, or every attempt provably failed to connect); then nothing was
 * paid. Either way re-sending the identical call is safe.
 *
 * @since 0.1.0
 */
import * as NotificationReceiver from "@witkey/core/NotificationReceiver"
import * as Client from "@witkey/core/Client"
import type * as CoreNotification from "@witkey/core/Notification"
import * as Transport from "@witkey/core/Transport"
import * as HttpTransport from "@witkey/node-http/HttpTransport"
import type * as Http from "node:http"
import {
  Cause,
  Duration,
  Effect,
  ExecutionStrategy,
  Exit,
  Layer,
  ManagedRuntime,
  Option,
  Schedule,
  Scope
} from "effect"
import * as Configuration from "./Configuration.js"
import {
  ClosedError,
  ConfigurationError,
  GatewayRejectedError,
  InboxError,
  InvalidRequestError,
  SigningError,
  UnknownOutcomeError
} from "./Errors.js"
import * as Attempts from "./internal/Attempts.js"
import * as InboxDriver from "./internal/InboxDriver.js"
import * as NotificationListener from "./NotificationListener.js"

export type Options = Configuration.Options

/** A payout: the platform's task id and the transfer serials of its winners (at most 30). */
export interface ConfirmInput {
  readonly outerTaskId: string
  readonly transfers: ReadonlyArray<string>
  /** Where Alipay sends this payout's notifications; default the `notifyUrl` option. */
  readonly notifyUrl?: string | undefined
  /** Default the `charset` option. */
  readonly charset?: string | undefined
}

export interface CallOptions {
  /** Interrupts the call; see the module notes for what the rejection means. */
  readonly signal?: AbortSignal | undefined
}

export interface ConfirmResult {
  /**
   * `confirmed`: the gateway confirmed this request with a verified signature. `already_confirmed`: it says an
   * identical earlier confirm went through (PROTOCOL.md §7: reconcile with the notifications when the serials
   * differ from the earlier call's).
   */
  readonly status: "confirmed" | "already_confirmed"
  readonly outerTaskId: string
  /** How many times the identical signed request was sent. */
  readonly attempts: number
  /** The gateway's code, for `already_confirmed`. */
  readonly code?: string
  /** For `already_confirmed`: true when it answered a re-send after an attempt that may have reached the gateway. */
  readonly afterResend?: boolean
}

const CLOSED_ANSWER = new TextEncoder().encode("fail")

/** `fail` for a request this instance cannot handle (closed, or its inbox did not open): Alipay retries. */
const answerFail = (response: Http.ServerResponse, status: number) => {
  if (response.headersSent || response.destroyed) return
  response.writeHead(status, {
    "content-type": "text/plain",
    "content-length": CLOSED_ANSWER.length,
    connection: "close"
  })
  response.end(CLOSED_ANSWER)
}

const describe = (error: unknown): string =>
  error instanceof Error
    ? error.message
    : typeof error === "object" && error !== null
      ? String(error)
      : `${error}`

const isPositiveInteger = (value: unknown): boolean =>
  typeof value === "number" && Number.isInteger(value) && value > 0

const outerTaskIdOf = (input: unknown): string => {
  try {
    const id = (input as { outerTaskId?: unknown } | null | undefined)?.outerTaskId
    return typeof id === "string" ? id : ""
  } catch {
    return ""
  }
}

/** A finished call as its result, or its failure as the Error class a Promise user catches. */
const settle = (
  exit: Exit.Exit<Client.Outcome, Client.ConfirmError>,
  attempts: Attempts.Attempts,
  input: unknown,
  signal: AbortSignal | undefined
): ConfirmResult => {
  if (Exit.isSuccess(exit)) {
    const outcome = exit.value
    return outcome._tag === "Confirmed"
      ? { status: "confirmed", outerTaskId: outcome.outerTaskId, attempts: outcome.attempts }
      : {
          status: "already_confirmed",
          outerTaskId: outcome.outerTaskId,
          attempts: outcome.attempts,
          code: outcome.code,
          afterResend: outcome.afterResend
        }
  }
  const failure = Cause.failureOption(exit.cause)
  if (Option.isSome(failure)) {
    const e = failure.value
    switch (e._tag) {
      case "InvalidRequest":
        throw new InvalidRequestError(e.issues)
      case "GatewayRejected":
        throw new GatewayRejectedError(e.code, e.category)
      case "UnknownOutcome":
        throw new UnknownOutcomeError({
          reason: e.reason,
          mayHaveReached: e.mayHaveReached,
          attempts: e.attempts,
          outerTaskId: e.outerTaskId,
          code: e.code,
          message: e.message
        })
      case "SignError":
        throw new SigningError(`${e.message}; nothing was sent`)
    }
  }
  const mayHaveReached = attempts.reached
  const common = { mayHaveReached, attempts: attempts.sent, outerTaskId: outerTaskIdOf(input) }
  if (Cause.isInterruptedOnly(exit.cause))
    throw new UnknownOutcomeError({
      ...common,
      reason: "aborted",
      message: `the call was aborted after ${attempts.sent} attempt(s)`,
      cause: signal?.reason
    })
  // A defect (a bug) is only an unknown outcome once a request may have left; before, it is just the bug.
  const defect = Cause.squash(exit.cause)
  if (!mayHaveReached) throw defect
  throw new UnknownOutcomeError({
    ...common,
    reason: "defect",
    message: `the call failed unexpectedly (${describe(defect)})`,
    cause: defect
  })
}

export class Witkey {
  readonly partner: string
  readonly gateway: string
  readonly charset: string
  readonly #runtime: ManagedRuntime.ManagedRuntime<Client.Client, never>
  /** Holds the listeners' inboxes; closed by `close()`. */
  readonly #scope: Scope.CloseableScope
  /** Calls and notification requests still running: `close()` waits for them. */
  readonly #pending = new Set<Promise<unknown>>()
  #closing: Promise<void> | undefined

  /** Checks every option and reads the keys now: a wrong one throws a `ConfigurationError` here. */
  constructor(options: Options) {
    const config = Configuration.resolve(options)
    this.partner = config.partner
    this.gateway = config.gateway
    this.charset = config.charset
    const client = Layer.effect(
      Client.Client,
      Effect.map(Transport.Transport, (transport) =>
        Client.fromServices(
          {
            partner: config.partner,
            gateway: config.gateway,
            charset: config.charset,
            notifyUrl: config.notifyUrl,
            retry: Schedule.exponential("1 second").pipe(
              Schedule.intersect(Schedule.recurs(config.retries)),
              Schedule.asVoid
            )
          },
          { signer: config.signer, verifier: config.verifier, transport: Attempts.track(transport) }
        )
      )
    ).pipe(Layer.provide(HttpTransport.layerNode({ timeout: Duration.millis(config.timeout) })))
    this.#runtime = ManagedRuntime.make(client)
    this.#scope = Effect.runSync(Scope.make())
  }

  /** True once `close()` was called. */
  get closed(): boolean {
    return this.#closing !== undefined
  }

  #track<A>(promise: Promise<A>): Promise<A> {
    this.#pending.add(promise)
    const forget = () => void this.#pending.delete(promise)
    promise.then(forget, forget)
    return promise
  }

  /**
   * Pays a task's winners: validates, signs, sends (re-sending the identical request after a lost answer) and
   * verifies the answer. Resolves `confirmed` or `already_confirmed`; rejects with `InvalidRequestError`
   * (nothing sent), `GatewayRejectedError` (refused, nothing paid) or `UnknownOutcomeError` (may have paid:
   * re-send the identical call, or reconcile with the notifications).
   */
  confirmByPlatform(input: ConfirmInput, options: CallOptions = {}): Promise<ConfirmResult> {
    if (this.closed) return Promise.reject(new ClosedError())
    const signal = options?.signal
    const attempts = Attempts.make()
    // Checked here, not left to the runtime: on a built runtime a new fiber runs synchronously up to its first
    // request before it sees an interruption, so an already aborted signal would still send the payout.
    if (signal?.aborted === true)
      return Promise.reject(
        new UnknownOutcomeError({
          reason: "aborted",
          mayHaveReached: false,
          attempts: 0,
          outerTaskId: outerTaskIdOf(input),
          message: "the call was aborted before it started",
          cause: signal.reason
        })
      )
    const program = Effect.flatMap(Client.Client, (client) =>
      client.confirmByPlatform(input as Client.Input)
    ).pipe(Effect.locally(Attempts.current, attempts))
    return this.#track(
      this.#runtime
        .runPromiseExit(program, signal === undefined ? undefined : { signal })
        .then((exit) => settle(exit, attempts, input, signal))
    )
  }

  /**
   * A Node `(req, res)` listener for Alipay's notifications (node:http, Express before any body parser, Koa
   * through `ctx.req`/`ctx.res`). Each verified notification is checked with `notify_verify`, recorded in the
   * inbox, and handed to `handler` once per event; Alipay is answered `success` only after the inbox
   * committed. Throws `ConfigurationError` for unusable options; await `listener.ready` to know the inbox
   * opened.
   */
  notificationListener(options: NotificationListener.Options): NotificationListener.NotificationListener {
    if (this.closed) throw new ClosedError()
    if (typeof options !== "object" || options === null)
      throw new ConfigurationError("options", "give { inbox, handler }")
    const driver = InboxDriver.driverOf(options.inbox)
    if (driver !== "sqlite" && driver !== "postgres") throw new ConfigurationError("inbox", driver)
    if (typeof options.handler !== "function")
      throw new ConfigurationError("handler", "must be a function (notification) => Promise<void>")
    for (const name of ["maxBodyBytes", "readTimeout"] as const) {
      const value = options[name]
      if (value !== undefined && !isPositiveInteger(value))
        throw new ConfigurationError(name, `must be a whole number more than 0, got ${String(value)}`)
    }
    const userHandler = options.handler
    const inbox = options.inbox
    // The handler's rejection is its failure: the inbox rolls back, records it, and the answer is `fail`.
    const handler = (notification: CoreNotification.Notification) =>
      Effect.tryPromise({
        try: async () => userHandler(NotificationListener.toPlain(notification)),
        catch: (error) => (error instanceof Error ? error : new Error(`the handler threw ${describe(error)}`))
      })
    const endpointOptions = {
      ...(options.notifyVerify === undefined ? {} : { notifyVerify: options.notifyVerify }),
      ...(options.maxBodyBytes === undefined ? {} : { maxBodyBytes: options.maxBodyBytes }),
      ...(options.readTimeout === undefined ? {} : { readTimeout: Duration.millis(options.readTimeout) })
    }
    const scope = this.#scope
    // Each attempt to open the inbox gets a scope of its own, closed if it fails: nothing half-open is kept.
    const build = Effect.gen(function* () {
      const [Endpoint, inboxLayer] = yield* Effect.all([
        Effect.tryPromise({
          try: () => import("@witkey/node-http/NodeNotificationListener"),
          catch: (error) =>
            new InboxError(`the notification endpoint could not be loaded (${describe(error)})`)
        }),
        InboxDriver.layer(inbox)
      ])
      const attempt = yield* Scope.fork(scope, ExecutionStrategy.sequential)
      const context = yield* Layer.buildWithScope(inboxLayer, attempt).pipe(
        Effect.onError((cause) => Scope.close(attempt, Exit.failCause(cause))),
        Effect.mapError((error) => new InboxError(`inbox: ${describe(error)}`))
      )
      return yield* Endpoint.make(handler, endpointOptions).pipe(
        Effect.provide(context),
        // The receiver shares the instance's Client: its partner, gateway, charset, verifier and transport.
        Effect.provideServiceEffect(
          NotificationReceiver.NotificationReceiver,
          Effect.map(Client.Client, NotificationReceiver.fromClient)
        )
      )
    })
    let current: Promise<(request: Http.IncomingMessage, response: Http.ServerResponse) => void> | undefined
    const open = () =>
      // Tracked, so that close() waits for an inbox being opened before it closes the scope it opens in.
      (current ??= this.#track(this.#runtime.runPromiseExit(build)).then((exit) => {
        if (Exit.isSuccess(exit)) return exit.value
        current = undefined
        const failure = Cause.failureOption(exit.cause)
        throw Option.isSome(failure)
          ? failure.value
          : new InboxError(`inbox: ${describe(Cause.squash(exit.cause))}`)
      }))
    const ready = open().then(() => undefined)
    // `ready` is for the caller to await; unawaited, its failure must not crash the process.
    ready.catch(() => undefined)
    const runtime = this.#runtime
    const listener = (request: Http.IncomingMessage, response: Http.ServerResponse) => {
      if (this.closed) return answerFail(response, 503)
      this.#track(new Promise<void>((resolve) => response.once("close", resolve)))
      open().then(
        (run) => run(request, response),
        (error: unknown) => {
          runtime.runFork(
            Effect.logError("witkey notification listener: the inbox is not open; answered fail").pipe(
              Effect.annotateLogs({ detail: describe(error) })
            )
          )
          answerFail(response, 500)
        }
      )
    }
    return Object.assign(listener, { ready })
  }

  /**
   * Stops taking calls and notifications (new ones: `ClosedError`, or `fail` for Alipay, which delivers again),
   * waits for the running ones to finish, then closes the inboxes and the HTTP client.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      while (this.#pending.size > 0) await Promise.allSettled([...this.#pending])
      await Effect.runPromise(Scope.close(this.#scope, Exit.void))
      await this.#runtime.dispose()
    })()
    return this.#closing
  }

  /** What `util.inspect` (and so logging the instance) shows: never a key. */
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return `Witkey { partner: ${JSON.stringify(this.partner)}, gateway: ${JSON.stringify(this.gateway)}, charset: ${JSON.stringify(this.charset)}${this.closed ? ", closed" : ""} }`
  }

  toJSON(): { readonly partner: string; readonly gateway: string; readonly charset: string } {
    return { partner: this.partner, gateway: this.gateway, charset: this.charset }
  }
}
