/**
 * The HTTP rules both consoles share: the response headers (a strict Content-Security-Policy: scripts and
 * styles from the console itself only, no inline script), the Host check against DNS rebinding (a page on
 * another site that rebinds its name to loopback reads nothing), the Origin check and token comparison of a
 * console's POSTs (CSRF), and which addresses are loopback.
 *
 * @since 0.1.0
 */
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Crypto from "node:crypto"

export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
  "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

/** Every console response carries these. */
export const headers: Readonly<Record<string, string>> = {
  "content-security-policy": CONTENT_SECURITY_POLICY,
  "x-content-type-options": "nosniff",
  // Not `no-referrer`: with it Chromium sends `Origin: null` on form POSTs, and the Origin check needs the origin.
  "referrer-policy": "same-origin",
  "cache-control": "no-store",
  "x-frame-options": "DENY"
}

/** A 403 naming the console and why. */
export const refused = (console: string, why: string): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.text(`witkey ${console} console: refused: ${why}\n`, { status: 403, headers })

/** Whether an address (as given to `--host`) is loopback only. */
export const isLoopback = (host: string): boolean => {
  const h = host.toLowerCase().replace(/^\[|\]$/g, "")
  return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h)
}

/** Whether an address binds every interface. */
export const isWildcard = (host: string): boolean => host === "0.0.0.0" || host === "::" || host === ""

/** The `Host` values a server on `host:port` is reached by: the address itself, and loopback's names. */
export const hostsFor = (host: string, port: number): ReadonlyArray<string> | "any" => {
  if (isWildcard(host)) return "any"
  const named = host.includes(":") ? `[${host}]` : host
  return [...new Set([named, "127.0.0.1", "localhost", "[::1]"].map((h) => `${h.toLowerCase()}:${port}`))]
}

/** The Host check: the request names this server (or the server answers any name). */
export const hostAllowed = (
  hosts: ReadonlyArray<string> | "any",
  request: HttpServerRequest.HttpServerRequest
): boolean => hosts === "any" || hosts.includes((request.headers.host ?? "").toLowerCase())

/** The Origin check of a POST: present, and this server (a form on another site carries its own origin). */
export const sameOrigin = (request: HttpServerRequest.HttpServerRequest): boolean => {
  const origin = request.headers.origin
  return (
    origin !== undefined && origin.toLowerCase() === `http://${(request.headers.host ?? "").toLowerCase()}`
  )
}

/** Compares two secrets in time independent of where they differ. */
export const sameText = (a: string, b: string): boolean => {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && Crypto.timingSafeEqual(x, y)
}

/** A fresh per-process token: 32 random bytes, hex. */
export const randomToken = (): string => Crypto.randomBytes(32).toString("hex")
