#!/usr/bin/env node
/**
 * The `witkey` executable.
 *
 * Startup is kept short (`witkey --help` loads only @effect/cli and the command definitions): deep `effect/*`
 * imports instead of the `effect` barrel, each command's handler loaded when it runs (see Cli.ts), and only the
 * platform services @effect/cli needs (FileSystem, Path, Terminal), not NodeContext's process and worker
 * services. internal/startup.ts comes first: it defers modules nothing needs at startup (fast-check, the
 * config-file parsers) and turns on Node's compile cache where there is one.
 *
 * @since 0.1.0
 */
// First: it must run before anything below loads effect or @effect/cli.
import "./internal/startup.js"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeTerminal from "@effect/platform-node/NodeTerminal"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Cli from "./Cli.js"

Cli.run(process.argv).pipe(
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
