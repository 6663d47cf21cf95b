/**
 * The options of `new Witkey(...)`, checked and turned into core's services synchronously, so that a wrong
 * key, partner, gateway or charset throws in the constructor (not as `fail` at the first notification). The
 * messages are the CLI's for the same mistake, with the option's name where the CLI names its flag; they
 * never quote a key.
 *
 * @since 0.1.0
 */
import type { Buffer } from "node:buffer"
import { readFileSync } from "node:fs"
import * as Charset from "@witkey/core/Charset"
import * as ConfirmRequest from "@witkey/core/ConfirmRequest"
import type * as Signer from "@witkey/core/Signer"
import type * as Verifier from "@witkey/core/Verifier"
import * as DsaSigner from "@witkey/crypto-dsa/DsaSigner"
import * as DsaVerifier from "@witkey/crypto-dsa/DsaVerifier"
import type * as KeyError from "@witkey/crypto-dsa/KeyError"
import { Cause, Effect, Exit, Option, Redacted } from "effect"
import { ConfigurationError } from "./Errors.js"

/** A key as users hold it: PEM text, the one-line Base64 body, or the bytes of either (or DER). */
export type Key = string | Buffer | Uint8Array

export interface Options {
  /** The Alipay partner id (PID): 16 digits starting with 2088. */
  readonly partner: string
  /** The gateway URL (absolute http or https); configuration, since there is no public test host. */
  readonly gateway: string
  /** The platform's DSA private key. Give this or `privateKeyFile`. */
  readonly privateKey?: Key | undefined
  /** The path of a file holding the private key (PEM, Base64 or DER). */
  readonly privateKeyFile?: string | undefined
  /** Alipay's DSA public key. Give this or `alipayPublicKeyFile`. */
  readonly alipayPublicKey?: Key | undefined
  /** The path of a file holding Alipay's public key. */
  readonly alipayPublicKeyFile?: string | undefined
  /** The `_input_charset`: `utf-8` (default), `gbk` or `gb2312`, any letter case. */
  readonly charset?: string | undefined
  /** Where Alipay sends the notifications of a payout that names none. */
  readonly notifyUrl?: string | undefined
  /** Milliseconds for each exchange with the gateway (connect, answer, body). Default 15000. */
  readonly timeout?: number | undefined
  /**
   * Re-sends of the byte-identical request after an answer that was lost or unreadable, 1 s, 2 s, 4 s, ... apart.
   * Default 3; 0 disables them.
   */
  readonly retries?: number | undefined
}

/** The checked options, with the keys already turned into services (the key material stays in them). */
export interface Resolved {
  readonly partner: string
  readonly gateway: string
  readonly charset: Charset.Charset
  readonly notifyUrl: string | undefined
  readonly timeout: number
  readonly retries: number
  readonly signer: Signer.Signer
  readonly verifier: Verifier.Verifier
}

const fail = (option: string, message: string): never => {
  throw new ConfigurationError(option, message)
}

const describeType = (value: unknown): string =>
  value === null ? "null" : Array.isArray(value) ? "an array" : typeof value

/** Runs a key check synchronously (node:crypto is synchronous); its KeyError becomes the CLI's message. */
const runKey = <A>(effect: Effect.Effect<A, KeyError.KeyError>, key: KeyInput): A => {
  const exit = Effect.runSyncExit(effect)
  if (Exit.isSuccess(exit)) return exit.value
  const failure = Cause.failureOption(exit.cause)
  if (Option.isNone(failure)) throw new ConfigurationError(key.where, "the key could not be read")
  const e = failure.value
  // Short text that is not a key is most often a file path given as the key itself (issue 14).
  const hint =
    e.reason === "malformed" &&
    key.fileOption !== undefined &&
    typeof key.input === "string" &&
    key.input.length < 200
      ? `; a file path? give it as ${key.fileOption}`
      : ""
  throw new ConfigurationError(key.where, `${e.message} [${e.reason}]${hint}`)
}

interface KeyInput {
  readonly input: string | Uint8Array
  /** The option (and file) named in errors. */
  readonly where: string
  /** The file option to suggest, when the key came as a value. */
  readonly fileOption: string | undefined
}

/** The key's bytes or text, from the value or the file; never echoed in a message. */
const keyInput = (value: unknown, file: unknown, valueOption: string, fileOption: string): KeyInput => {
  if (value !== undefined && file !== undefined)
    return fail(valueOption, `give ${valueOption} or ${fileOption}, not both`)
  if (file !== undefined) {
    if (typeof file !== "string" || file.length === 0)
      return fail(fileOption, `must be a file path, got ${describeType(file)}`)
    try {
      return { input: readFileSync(file), where: `${fileOption} ${file}`, fileOption: undefined }
    } catch (error) {
      const code = (error as { code?: unknown }).code
      return fail(
        `${fileOption} ${file}`,
        `cannot read the key file (${typeof code === "string" ? code : "error"}) [unreadable_file]`
      )
    }
  }
  if (value === undefined)
    return fail(
      valueOption,
      `no key was given: give ${valueOption} (PEM, the Base64 body, or a Buffer) or ${fileOption} [missing]`
    )
  if (typeof value !== "string" && !(value instanceof Uint8Array))
    return fail(valueOption, `must be PEM text, the Base64 body or a Buffer, got ${describeType(value)}`)
  return { input: value, where: valueOption, fileOption }
}

const isHttpUrl = (value: string): boolean => {
  try {
    const url = new URL(value)
    return url.protocol === "http:" || url.protocol === "https:"
  } catch {
    return false
  }
}

const nonNegativeInteger = (value: unknown, option: string, fallback: number): number => {
  if (value === undefined) return fallback
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0)
    return fail(option, `must be a whole number, 0 or more, got ${String(value)}`)
  return value
}

/** Checks every option; throws `ConfigurationError` for the first one that cannot be used. */
export const resolve = (options: Options): Resolved => {
  if (typeof options !== "object" || options === null)
    return fail("options", `must be an object, got ${describeType(options)}`)
  const { partner, gateway } = options
  if (typeof partner !== "string") return fail("partner", `must be a string, got ${describeType(partner)}`)
  const partnerIssues = ConfirmRequest.checkPartner(partner)
  if (partnerIssues.length > 0) return fail("partner", partnerIssues[0]!.message)
  if (typeof gateway !== "string" || !isHttpUrl(gateway))
    return fail("gateway", "the gateway URL is not an absolute http(s) URL")
  const charsetName = options.charset ?? "utf-8"
  const charset = typeof charsetName === "string" ? Charset.parse(charsetName) : undefined
  if (charset === undefined)
    return fail(
      "charset",
      `"${String(charsetName)}" is not one of ${Charset.values.join(", ")} (any letter case)`
    )
  const notifyUrl = options.notifyUrl
  if (notifyUrl !== undefined) {
    const issues =
      typeof notifyUrl === "string"
        ? ConfirmRequest.checkNotifyUrl(notifyUrl, "notifyUrl")
        : [{ message: `must be a string, got ${describeType(notifyUrl)}` }]
    if (issues.length > 0) return fail("notifyUrl", issues[0]!.message)
  }
  const timeout = nonNegativeInteger(options.timeout, "timeout", 15_000)
  if (timeout === 0) return fail("timeout", "must be more than 0 milliseconds")
  const retries = nonNegativeInteger(options.retries, "retries", 3)
  const privateKey = keyInput(options.privateKey, options.privateKeyFile, "privateKey", "privateKeyFile")
  const signer = runKey(DsaSigner.make({ privateKey: Redacted.make(privateKey.input) }), privateKey)
  const publicKey = keyInput(
    options.alipayPublicKey,
    options.alipayPublicKeyFile,
    "alipayPublicKey",
    "alipayPublicKeyFile"
  )
  const verifier = runKey(DsaVerifier.make({ publicKey: Redacted.make(publicKey.input) }), publicKey)
  return { partner, gateway, charset, notifyUrl, timeout, retries, signer, verifier }
}
