// keygen output loaded by OpenSSL; sign output verified by OpenSSL, with the private key as PEM and as its
// one-line Base64 body; key inspect on the one-line public key. In process, but for one sign by the real binary.
import { afterAll, assert, describe, it } from "@effect/vitest"
import * as Charset from "@witkey/core/Charset"
import { Effect } from "effect"
import { execFileSync } from "node:child_process"
import { readFileSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { keyPath, lastJson, removeTempDirs, run, runProcess, tempDir, TIMEOUT } from "./RunCli.js"

afterAll(removeTempDirs)

const openssl = (args: ReadonlyArray<string>) =>
  Effect.sync(() => {
    try {
      return { code: 0, output: execFileSync("openssl", args, { encoding: "utf8", stdio: "pipe" }) }
    } catch (error) {
      const e = error as { status?: number; stdout?: string; stderr?: string }
      return { code: e.status ?? -1, output: `${e.stdout ?? ""}${e.stderr ?? ""}` }
    }
  })

const pemBody = (pem: string) =>
  pem
    .split("\n")
    .filter((line) => line.trim() !== "" && !line.startsWith("-----"))
    .join("")

/** Signs with the CLI and checks the signature over the canonical string's bytes with `openssl dgst -sha1`. */
const signAndVerify = (
  dir: string,
  privateKey: string,
  publicKey: string,
  charset: string,
  runner: typeof run = run
) =>
  Effect.gen(function* () {
    const params = [
      ["service", "alipay.witkey.task.confirm.by.platform"],
      ["partner", "2088101012352995"],
      ["_input_charset", charset],
      ["outer_task_id", "任务-42"],
      ["transfer_detail", "稿件1~*~稿件2"],
      ["sign_type", "DSA"]
    ]
    const result = yield* runner([
      "sign",
      "--private-key",
      privateKey,
      "--charset",
      charset,
      ...params.flatMap(([n, v]) => ["--param", `${n}=${v}`]),
      "--json"
    ])
    assert.strictEqual(result.code, 0, result.stderr)
    const out = lastJson(result)
    assert.strictEqual(out["sign_type"], "DSA")
    assert.strictEqual(
      out["canonical"],
      `_input_charset=${charset}&outer_task_id=任务-42&partner=2088101012352995&service=alipay.witkey.task.confirm.by.platform&transfer_detail=稿件1~*~稿件2`
    )
    const message = join(dir, `message-${charset}.bin`)
    const signature = join(dir, `signature-${charset}.der`)
    writeFileSync(message, Charset.encode(String(out["canonical"]), charset === "gbk" ? "gbk" : "utf-8"))
    writeFileSync(signature, Buffer.from(String(out["sign"]), "base64"))
    const verified = yield* openssl(["dgst", "-sha1", "-verify", publicKey, "-signature", signature, message])
    assert.strictEqual(verified.code, 0, verified.output)
    assert.match(verified.output, /Verified OK/)
    // The same signature does not verify over other bytes: the check above is not vacuous.
    writeFileSync(message, "_input_charset=utf-8")
    const tampered = yield* openssl(["dgst", "-sha1", "-verify", publicKey, "-signature", signature, message])
    assert.notStrictEqual(tampered.code, 0)
  })

describe("keys", () => {
  it.effect(
    "keygen writes PKCS#8, SPKI and the one-line Base64 that OpenSSL reads; sign verifies with OpenSSL",
    () =>
      Effect.gen(function* () {
        const dir = join(tempDir("keygen"), "keys")
        const generated = yield* run(["keygen", "--out", dir, "--json"])
        assert.strictEqual(generated.code, 0, generated.stderr)
        const out = lastJson(generated)
        const privatePem = join(dir, "private_key.pem")
        const publicPem = join(dir, "public_key.pem")
        assert.strictEqual(out["private_key"], privatePem)
        assert.match(String(out["fingerprint"]), /^SHA256:/)
        assert.strictEqual(statSync(privatePem).mode & 0o077, 0)

        const priv = yield* openssl(["pkey", "-in", privatePem, "-noout", "-text"])
        assert.strictEqual(priv.code, 0, priv.output)
        assert.match(readFileSync(privatePem, "utf8"), /^-----BEGIN PRIVATE KEY-----\n/)
        const pub = yield* openssl(["pkey", "-pubin", "-in", publicPem, "-noout", "-text"])
        assert.strictEqual(pub.code, 0, pub.output)
        assert.match(pub.output, /\(1024 bit\)/)
        assert.match(readFileSync(publicPem, "utf8"), /^-----BEGIN PUBLIC KEY-----\n/)
        assert.match(pub.output, /Q:/)

        const text = readFileSync(join(dir, "public_key.txt"), "utf8")
        assert.strictEqual(text, `${pemBody(readFileSync(publicPem, "utf8"))}\n`)
        assert.strictEqual(text.trimEnd().includes("\n"), false)

        // Sign with the new key given as its one-line Base64 body, verify with OpenSSL and the new public key.
        const oneLine = join(dir, "private_key.txt")
        writeFileSync(oneLine, pemBody(readFileSync(privatePem, "utf8")))
        yield* signAndVerify(dir, oneLine, publicPem, "gbk")
      }),
    TIMEOUT
  )

  it.effect(
    "sign with the fixture key (PEM) verifies with OpenSSL (subprocess)",
    () =>
      signAndVerify(tempDir("sign"), keyPath("partner_private"), keyPath("partner_public"), "utf-8", (args) =>
        runProcess(args)
      ),
    TIMEOUT
  )

  it.effect(
    "key inspect says what a one-line public key is, and what is wrong with a truncated key",
    () =>
      Effect.gen(function* () {
        const dir = tempDir("inspect")
        const file = join(dir, "alipay.txt")
        writeFileSync(file, pemBody(readFileSync(keyPath("gateway_public"), "utf8")))
        const result = yield* run(["key", "inspect", "--json", file])
        assert.strictEqual(result.code, 0, result.stderr)
        const out = lastJson(result)
        assert.deepStrictEqual(
          [out["kind"], out["format"], out["modulus_bits"], out["divisor_bits"]],
          ["public", "base64-spki", 1024, 160]
        )
        const broken = join(dir, "broken.pem")
        writeFileSync(
          broken,
          readFileSync(keyPath("partner_private"), "utf8").split("\n").slice(0, 4).join("\n")
        )
        const refused = yield* run(["key", "inspect", "--json", broken])
        assert.strictEqual(refused.code, 1)
        const why = lastJson(refused)
        assert.deepStrictEqual([why["ok"], why["error"], why["reason"]], [false, "KeyError", "malformed"])
        assert.match(refused.stderr, /no matching END line/)
      }),
    TIMEOUT
  )
})
