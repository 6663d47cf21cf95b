/** The handler of `SandboxCommand`, loaded when the command runs. @internal */
import type * as Command from "@effect/cli/Command"
import type * as PlatformError from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as ConfirmRequest from "@witkey/core/ConfirmRequest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as CliError from "../CliError.js"
import * as CommonOptions from "../CommonOptions.js"
import * as Output from "../Output.js"
import * as SandboxCommand from "../SandboxCommand.js"

/** The example tasks: `sandbox-task-<i>` with two winners `sandbox-task-<i>-a` and `-b`. */
export const exampleTasks = (count: number, partner: string, platformAccount: string) =>
  Array.from({ length: count }, (_, index) => {
    const id = `sandbox-task-${index + 1}`
    return {
      partner,
      outerTaskId: id,
      transfers: [
        {
          serial: `${id}-a`,
          payeeUserId: `20881021225${String(24000 + index * 2).padStart(5, "0")}`,
          amount: "120.00"
        },
        {
          serial: `${id}-b`,
          payeeUserId: `20881021225${String(24001 + index * 2).padStart(5, "0")}`,
          amount: "80.50"
        }
      ],
      serviceFee: "30.00",
      platformAccount
    }
  })

export const run = (values: Command.Command.ParseConfig<typeof SandboxCommand.options>) =>
  Effect.gen(function* () {
    if (values.tasks < 0 || values.tasks > 1000) return yield* CliError.usage("--tasks must be 0 to 1000")
    const notifyUrl = Option.getOrUndefined(values.notifyUrl)
    if (notifyUrl !== undefined) {
      const issues = ConfirmRequest.checkNotifyUrl(notifyUrl, "--notify-url")
      if (issues.length > 0) return yield* CliError.usage(`--notify-url: ${issues[0]!.message}`)
    }
    const [Sandbox, SandboxServer, TestKeys] = yield* Effect.promise(() =>
      Promise.all([
        import("@witkey/testkit/Sandbox"),
        import("@witkey/testkit/SandboxServer"),
        import("@witkey/testkit/TestKeys")
      ])
    )
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const ioError = (e: PlatformError.PlatformError) =>
      CliError.usage(
        `--out ${Option.getOrElse(values.out, () => "(temporary)")}: ${CommonOptions.ioReason(e)}`
      )
    yield* Effect.gen(function* () {
      const dir = Option.isSome(values.out)
        ? values.out.value
        : yield* fs.makeTempDirectoryScoped({ prefix: "witkey-sandbox-" }).pipe(Effect.mapError(ioError))
      yield* fs.makeDirectory(dir, { recursive: true }).pipe(Effect.mapError(ioError))
      const alipayPublicKey = path.join(dir, SandboxCommand.ALIPAY_PUBLIC_KEY_FILE)
      const privateKey = path.join(dir, SandboxCommand.PARTNER_PRIVATE_KEY_FILE)
      yield* fs.writeFileString(alipayPublicKey, TestKeys.gatewayPublicKeyPem).pipe(Effect.mapError(ioError))
      yield* fs
        .writeFileString(privateKey, TestKeys.partnerPrivateKeyPem, { mode: 0o600 })
        .pipe(Effect.mapError(ioError))
      const partner = TestKeys.partnerId
      const tasks = exampleTasks(values.tasks, partner, TestKeys.platformUserId)
      const sandbox = yield* Sandbox.make({
        partners: [{ partner, publicKey: TestKeys.partnerPublicKeyPem, notifyUrl }],
        tasks
      }).pipe(Effect.mapError((e) => CliError.usage(e.message)))
      const server = yield* SandboxServer.make({ port: values.port, host: values.host }).pipe(
        Effect.provideService(Sandbox.Sandbox, sandbox),
        Effect.mapError((e) =>
          CliError.failure(`cannot listen on ${values.host}:${values.port}: ${e.message}`)
        )
      )
      const example = tasks[0]
      yield* Output.result(
        values.json,
        {
          url: server.url,
          console: server.consoleUrl,
          gateway: server.gatewayUrl,
          alipay_public_key: alipayPublicKey,
          partner,
          private_key: privateKey,
          tasks: tasks.map((t) => ({
            outer_task_id: t.outerTaskId,
            transfers: t.transfers.map((x) => x.serial)
          }))
        },
        () => [
          "witkey sandbox: a gateway for alipay.witkey.task.confirm.by.platform (test keys only)",
          ...Output.table([
            ["url", server.url],
            ["console", server.consoleUrl ?? "off"],
            ["gateway", server.gatewayUrl],
            ["alipay public key", alipayPublicKey],
            ["partner", partner],
            ["private key", privateKey],
            ...tasks.map(
              (t) =>
                [`task ${t.outerTaskId}`, `transfers ${t.transfers.map((x) => x.serial).join(", ")}`] as const
            )
          ]),
          ...(example === undefined
            ? []
            : [
                "",
                "try:",
                `  witkey confirm --gateway ${server.gatewayUrl} --partner ${partner} --private-key ${privateKey} --alipay-public-key ${alipayPublicKey} --task ${example.outerTaskId} ${example.transfers.map((t) => `--transfer ${t.serial}`).join(" ")}${notifyUrl === undefined ? "" : ` --notify-url ${notifyUrl}`}`
              ]),
          "",
          "Ctrl-C to stop"
        ]
      )
      return yield* Effect.never
    }).pipe(Effect.scoped)
  })
