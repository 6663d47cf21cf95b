// Test-only: a minimal gateway on a loopback server. It checks the partner's signature on every confirm, keeps
// paid serials (so a repeat answers WITKEY_OUTER_TRANSFER_ALREADY_PAID, as PROTOCOL.md §7 says), signs its
// successes with the gateway key, answers notify_verify, and follows a script of misbehaviours.
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import * as Protocol from "@witkey/core/Protocol"
import * as SigningString from "@witkey/core/SigningString"
import { Deferred, Effect } from "effect"
import * as Keys from "./Keys.js"

/** What the gateway does with the next confirm request. */
export type Behavior =
  /** pays and answers a signed T (the default for new serials) */
  | { readonly _tag: "Confirm" }
  /** answers F with this code (no payment) */
  | { readonly _tag: "Reject"; readonly code: string }
  /** receives the request and never answers */
  | { readonly _tag: "Hang" }
  /** answers this status and body (no payment) */
  | { readonly _tag: "Status"; readonly status: number; readonly body?: string }
  /** answers 200 with this exact body (no payment) */
  | { readonly _tag: "Raw"; readonly body: string; readonly contentType?: string }
  /** pays, then drops the connection without answering: the lost answer */
  | { readonly _tag: "PayThenDrop" }
  /** pays, declares a long body, sends part of it and drops the connection */
  | { readonly _tag: "PayThenTruncate" }

export type VerifyAnswer = "true" | "false" | "invalid" | "error"

export interface Received {
  /** The request target exactly as it arrived (path and raw query). */
  readonly target: string
  readonly service: string | undefined
  readonly params: ReadonlyMap<string, string>
}

export interface FakeGateway {
  readonly path: `/${string}`
  readonly script: Array<Behavior>
  readonly paid: Set<string>
  readonly received: Array<Received>
  readonly verifyAnswers: Map<string, VerifyAnswer>
  /** Completed when a request arrives; replace it with `expectArrival` before a step that waits for one. */
  arrived: Deferred.Deferred<void>
}

export type App = Effect.Effect<
  HttpServerResponse.HttpServerResponse,
  never,
  HttpServerRequest.HttpServerRequest
>

const utf8 = new TextDecoder("utf-8", { fatal: true })

/** Splits a raw query into decoded pairs (utf-8; the tests only use utf-8). */
export const parseQuery = (query: string): Array<readonly [string, string]> =>
  query === ""
    ? []
    : query.split("&").map((segment) => {
        const at = segment.indexOf("=")
        const bytes = (s: string) => {
          const out: Array<number> = []
          for (let i = 0; i < s.length; i++) {
            const c = s[i]!
            if (c === "%") {
              out.push(parseInt(s.slice(i + 1, i + 3), 16))
              i += 2
            } else if (c === "+") out.push(0x20)
            else out.push(c.charCodeAt(0))
          }
          return utf8.decode(new Uint8Array(out))
        }
        return at < 0
          ? ([bytes(segment), ""] as const)
          : ([bytes(segment.slice(0, at)), bytes(segment.slice(at + 1))] as const)
      })

const xml = (body: string) =>
  HttpServerResponse.text(`<?xml version="1.0" encoding="utf-8"?>${body}`, {
    contentType: "text/xml; charset=utf-8"
  })

/** A signed `is_success=T` for a task, as the gateway sends it. */
export const signedSuccess = (
  outerTaskId: string,
  options: { readonly signType?: string; readonly key?: Keys.KeyName } = {}
) => {
  const sign = Keys.sign(
    options.key ?? "gateway_private",
    SigningString.bytes([["outer_task_id", outerTaskId]], "utf-8")
  )
  return (
    `<alipay><is_success>T</is_success><request><param name="outer_task_id">${outerTaskId}</param></request>` +
    `<response><task_info><outer_task_id>${outerTaskId}</outer_task_id></task_info></response>` +
    `<sign>${sign}</sign><sign_type>${options.signType ?? "DSA"}</sign_type></alipay>`
  )
}

export const failure = (code: string) => `<alipay><is_success>F</is_success><error>${code}</error></alipay>`

export const make = (
  path: `/${string}` = "/gateway.do"
): Effect.Effect<{ readonly gateway: FakeGateway; readonly app: App }> =>
  Effect.gen(function* () {
    const gateway: FakeGateway = {
      path,
      script: [],
      paid: new Set(),
      received: [],
      verifyAnswers: new Map(),
      arrived: yield* Deferred.make<void>()
    }

    const confirm = (request: HttpServerRequest.HttpServerRequest, params: ReadonlyMap<string, string>) =>
      Effect.gen(function* () {
        const sign = params.get("sign") ?? ""
        if (params.get("sign_type") !== "DSA") return xml(failure("ILLEGAL_SIGN_TYPE"))
        const signed = SigningString.bytes(params, "utf-8")
        if (!Keys.verify("partner_public", signed, sign)) return xml(failure("ILLEGAL_SIGN"))
        const outerTaskId = params.get("outer_task_id") ?? ""
        const serials = (params.get("transfer_detail") ?? "").split(Protocol.DEFAULT_TRANSFER_SEPARATOR)
        const pay = () => serials.forEach((s) => gateway.paid.add(s))
        const behavior =
          gateway.script.shift() ??
          (serials.some((s) => gateway.paid.has(s))
            ? ({ _tag: "Reject", code: Protocol.ALREADY_PAID_CODE } as const)
            : ({ _tag: "Confirm" } as const))
        switch (behavior._tag) {
          case "Confirm":
            pay()
            return xml(signedSuccess(outerTaskId))
          case "Reject":
            return xml(failure(behavior.code))
          case "Hang":
            return yield* Effect.never
          case "Status":
            return HttpServerResponse.text(behavior.body ?? "gateway error", { status: behavior.status })
          case "Raw":
            return HttpServerResponse.text(behavior.body, { contentType: behavior.contentType ?? "text/xml" })
          case "PayThenDrop": {
            pay()
            NodeHttpServerRequest.toIncomingMessage(request).socket.destroy()
            return yield* Effect.never
          }
          case "PayThenTruncate": {
            pay()
            const response = NodeHttpServerRequest.toServerResponse(request)
            const body = Buffer.from(signedSuccess(outerTaskId))
            response.writeHead(200, { "content-type": "text/xml", "content-length": body.length })
            response.write(body.subarray(0, 40), () => response.destroy())
            return yield* Effect.never
          }
        }
      })

    const app: App = Effect.gen(function* () {
      const request = yield* HttpServerRequest.HttpServerRequest
      const at = request.url.indexOf("?")
      const params = new Map(parseQuery(at < 0 ? "" : request.url.slice(at + 1)))
      const service = params.get("service")
      gateway.received.push({ target: request.url, service, params })
      yield* Deferred.succeed(gateway.arrived, void 0)
      if (service === Protocol.NotifyVerify.service) {
        const answer = gateway.verifyAnswers.get(params.get("notify_id") ?? "") ?? "true"
        return answer === "error"
          ? HttpServerResponse.text("busy", { status: 503 })
          : HttpServerResponse.text(answer)
      }
      if (service === Protocol.SERVICE) return yield* confirm(request, params)
      return xml(failure("ILLEGAL_SERVICE"))
    })
    return { gateway, app }
  })

/** Resets the arrival signal before a step that waits for the next request. */
export const expectArrival = (gateway: FakeGateway): Effect.Effect<Deferred.Deferred<void>> =>
  Effect.map(Deferred.make<void>(), (d) => {
    gateway.arrived = d
    return d
  })

export const confirmRequests = (gateway: FakeGateway): ReadonlyArray<Received> =>
  gateway.received.filter((r) => r.service === Protocol.SERVICE)
