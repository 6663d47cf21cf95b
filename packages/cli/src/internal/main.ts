/**
 * The `witkey` executable's run through @effect/cli: everything but the help and version texts bin.ts prints
 * itself.
 *
 * Startup is kept short: deep `effect/*` imports instead of the `effect` barrel, each command's handler loaded
 * when it runs (see the *Command.ts modules), and only the platform services @effect/cli needs (FileSystem,
 * Path, Terminal), not NodeContext's process and worker services.
 *
 * @internal
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeTerminal from "@effect/platform-node/NodeTerminal"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Cli from "../Cli.js"

export const main = (argv: ReadonlyArray<string>): void =>
  Cli.run(argv).pipe(
    Effect.provide(Layer.mergeAll(NodeFileSystem.layer, NodePath.layer, NodeTerminal.layer)),
    NodeRuntime.runMain({
      disableErrorReporting: true,
      disablePrettyLogger: true,
      teardown: (exit, onExit) => {
        // 130 is the shell's convention for an interrupt (Ctrl-C); the run itself never fails otherwise.
        const code = Exit.isSuccess(exit) ? (exit.value as number) : 130
        process.exitCode = code
        onExit(code)
      }
    })
  )
