/**
 * One GET on node:http / node:https, with Node's own events and nothing else on the success path: no
 * AbortSignal, no Error, no stream machinery (a platform client cost about 5 ms of CPU per call here, against
 * about 1 ms for a bare GET). Failures are classified by what provably happened to the request:
 *
 * - `unsent`: the request never left this process. Its socket never finished connecting (TCP, and for https
 *   the TLS handshake: Node writes the request only after both), or the error's code or system call proves it
 *   (`ECONNREFUSED`, a name lookup, a certificate refused).
 * - `sent`: anything else, including a reset before any answer byte on a reused keep-alive connection. The
 *   server may have closed that idle connection just before the request went out (then it never read it), or
 *   read it and failed afterwards: the two cannot be told apart, so it counts as "may have reached" and the
 *   client re-sends the identical request, which the gateway answers `already confirmed` if it did act.
 * - `answered`: the answer's head arrived, so the request reached the gateway.
 *
 * @internal
 */
import type * as Http from "node:http"
import type { Socket } from "node:net"
import * as Bytes from "./bytes.js"

/**
 * How far the exchange got: `Unsent`, no socket or one still connecting (or in its TLS handshake), nothing was
 * written; `Sent`, connected, the request is or may be on the wire; `Answered`, the answer's head arrived.
 */
export type Phase = 0 | 1 | 2
export const Unsent = 0 as const
export const Sent = 1 as const
export const Answered = 2 as const

export interface Answer {
  readonly status: number
  readonly body: Uint8Array
  readonly contentType: string | undefined
}

export type Failure =
  | { readonly _tag: "Error"; readonly phase: Phase; readonly error: unknown; readonly reused: boolean }
  | { readonly _tag: "TooLarge"; readonly declared: number | undefined }
  | { readonly _tag: "Timeout"; readonly phase: Phase }
  | { readonly _tag: "Truncated" }

/** Largest delay `setTimeout` honours (about 24.8 days); past it Node fires at once. */
export const MAX_TIMER_MILLIS = 2 ** 31 - 1

/** What a call reports once: an `Answer` when `ok`, a `Failure` otherwise. */
export type Done = (result: Answer | Failure, ok: boolean) => void

/** A GET in flight: `phase` is readable by a caller that times the exchange itself. */
export class Call {
  phase: Phase = Unsent
  private settled = false
  private timer: ReturnType<typeof setTimeout> | undefined = undefined
  private req: Http.ClientRequest | undefined = undefined
  private done: Done | undefined = undefined

  /** `timerMillis`: for the whole exchange, or undefined when the caller times it (a non-live Clock). */
  constructor(
    private readonly request: typeof Http.request,
    private readonly options: Http.RequestOptions,
    private readonly maxBytes: number,
    private readonly timerMillis: number | undefined
  ) {}

  /** Sends the GET; `done` is called once, unless the call is aborted first. */
  start(done: Done): void {
    this.done = done
    let req: Http.ClientRequest
    try {
      req = this.request(this.options)
    } catch (error) {
      // Thrown before a socket exists (an invalid header or path, an agent of the wrong protocol).
      this.finish({ _tag: "Error", phase: Unsent, error, reused: false }, false)
      return
    }
    this.req = req
    if (this.timerMillis !== undefined && this.timerMillis <= MAX_TIMER_MILLIS)
      this.timer = setTimeout(this.onTimeout, this.timerMillis)
    req.on("socket", this.onSocket)
    req.on("response", this.onResponse)
    // Stays attached for the request's life: a destroy after settling must not become an unhandled 'error'.
    req.on("error", this.onRequestError)
    req.end()
  }

  /** Interruption: the request is destroyed, its socket with it (never returned to the pool). */
  abort(): void {
    if (this.settled) return
    this.settled = true
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.req?.destroy()
  }

  private finish(result: Answer | Failure, ok: boolean): void {
    if (this.settled) return
    this.settled = true
    if (this.timer !== undefined) clearTimeout(this.timer)
    if (!ok) this.req?.destroy()
    const done = this.done!
    this.done = undefined
    this.req = undefined
    done(result, ok)
  }

  private readonly onTimeout = (): void => {
    this.timer = undefined
    this.finish({ _tag: "Timeout", phase: this.phase }, false)
  }

  private readonly onSocket = (socket: Socket): void => {
    // A pooled socket is connected already; a fresh one counts as sent only once connected (and, for TLS,
    // once the handshake is done: that is when Node flushes the request it buffered).
    // ('socket' is emitted a tick after a fresh socket is created: its TLS handshake cannot be done yet.)
    const encrypted = (socket as { encrypted?: boolean }).encrypted === true
    if (this.req!.reusedSocket || (!encrypted && !socket.connecting)) this.phase = Sent
    else socket.once(encrypted ? "secureConnect" : "connect", this.onConnect)
  }

  private readonly onConnect = (): void => {
    if (this.phase === Unsent) this.phase = Sent
  }

  private readonly onRequestError = (error: unknown): void => {
    this.finish({ _tag: "Error", phase: this.phase, error, reused: this.req?.reusedSocket === true }, false)
  }

  private readonly onResponse = (res: Http.IncomingMessage): void => {
    this.phase = Answered
    const { maxBytes } = this
    const declared = Bytes.declaredLength(res.headers["content-length"])
    if (declared !== undefined && declared > maxBytes) {
      this.finish({ _tag: "TooLarge", declared }, false)
      return
    }
    const chunks: Array<Buffer> = []
    let size = 0
    let ended = false
    res.on("data", (chunk: Buffer) => {
      size += chunk.length
      if (size > maxBytes) this.finish({ _tag: "TooLarge", declared: undefined }, false)
      else chunks.push(chunk)
    })
    res.on("end", () => {
      ended = true
      const body = Bytes.concat(chunks, size)
      chunks.length = 0
      this.finish({ status: res.statusCode ?? 0, body, contentType: res.headers["content-type"] }, true)
    })
    res.on("error", (error) => this.finish({ _tag: "Error", phase: Answered, error, reused: false }, false))
    // A connection closed before the declared length (or the last chunk) arrived.
    res.on("close", () => {
      if (!ended) this.finish({ _tag: "Truncated" }, false)
    })
  }
}
