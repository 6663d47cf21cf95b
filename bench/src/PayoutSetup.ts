/**
 * What row 5's studies (`payout.ts`, `cache.ts`) share: the fixed-answer server in its own process, the SDK's
 * client over `HttpTransport.layerNode` (keep-alive), one prepared request, and the baseline's pieces, a bare
 * node:http GET of its URL and the bare `crypto.sign` / `crypto.verify` of the same bytes as the SDK's.
 */
import * as Client from "@witkey/core/Client"
import type * as SignedRequest from "@witkey/core/SignedRequest"
import * as SigningString from "@witkey/core/SigningString"
import * as Transport from "@witkey/core/Transport"
import { HttpTransport } from "@witkey/node-http"
import { Context, Effect, Exit, Layer, Schedule, Scope } from "effect"
import * as crypto from "node:crypto"
import * as Http from "node:http"
import {
  dsaSign,
  gatewayPublicKey,
  PARTNER,
  partnerPrivateKey,
  responseBody,
  signer,
  verifier
} from "./Inputs.js"
import { startChild } from "./Load.js"

const TASK = "bench-task-e2e"

export interface PayoutSetup {
  readonly gateway: string
  readonly transport: Transport.Transport
  readonly client: Client.Client
  readonly input: Client.Input
  readonly prepared: SignedRequest.SignedRequest
  /** The server's answer as the transport returns it, made once: for decoding without a GET. */
  readonly answer: Transport.RawResponse
  /** The bare GET of `prepared.url`, the whole answer read; `done` once, with an error if it failed. */
  readonly get: (done: (error: Error | undefined) => void) => void
  readonly bareGet: () => Promise<void>
  /** `crypto.sign` of the prepared request's canonical bytes (cached KeyObject). */
  readonly sign: () => string
  /** `crypto.verify` of the answer's canonical bytes and signature; throws if it does not verify. */
  readonly verify: () => void
  readonly close: () => Promise<void>
}

export const payoutSetup = async (): Promise<PayoutSetup> => {
  const server = await startChild<{ readonly http: string }>(
    new URL("./servers/FixedAnswerProcess.ts", import.meta.url),
    [TASK]
  )
  const scope = Effect.runSync(Scope.make())
  const agent = new Http.Agent({ keepAlive: true, timeout: 4000 })
  const close = async () => {
    agent.destroy()
    await Effect.runPromise(Scope.close(scope, Exit.void))
    await server.stop()
  }
  try {
    const services = await Effect.runPromise(Layer.buildWithScope(HttpTransport.layerNode(), scope))
    const transport = Context.get(services, Transport.Transport)
    const gateway = `${server.info.http}/gateway.do`
    const client = Client.fromServices(
      { partner: PARTNER, gateway, retry: Schedule.stop },
      { signer, verifier, transport }
    )
    const input = { outerTaskId: TASK, transfers: ["s-1", "s-2"] }
    const prepared = await Effect.runPromise(client.prepare(input))
    const canonical = Buffer.from(prepared.canonical, "utf8")
    const answerBytes = SigningString.bytes([["outer_task_id", TASK]], "utf-8")
    const answerSign = Buffer.from(dsaSign(answerBytes), "base64")
    const get = (done: (error: Error | undefined) => void) => {
      const req = Http.request(prepared.url, { agent }, (res) => {
        const chunks: Array<Buffer> = []
        res.on("data", (chunk: Buffer) => chunks.push(chunk))
        res.on("end", () => done(Buffer.concat(chunks).length > 0 ? undefined : new Error("empty answer")))
      })
      req.on("error", done)
      req.end()
    }
    return {
      gateway,
      transport,
      client,
      input,
      prepared,
      answer: { status: 200, body: responseBody(TASK), contentType: "text/xml; charset=utf-8" },
      get,
      bareGet: () =>
        new Promise((resolve, reject) => get((error) => (error === undefined ? resolve() : reject(error)))),
      sign: () =>
        crypto.sign("sha1", canonical, { key: partnerPrivateKey, dsaEncoding: "der" }).toString("base64"),
      verify: () => {
        if (!crypto.verify("sha1", answerBytes, { key: gatewayPublicKey, dsaEncoding: "der" }, answerSign))
          throw new Error("the answer does not verify")
      },
      close
    }
  } catch (error) {
    await close()
    throw error
  }
}
