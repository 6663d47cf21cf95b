#!/usr/bin/env node
/**
 * The `witkey` executable.
 *
 * @since 0.1.0
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Effect, Exit } from "effect"
import * as Cli from "./Cli.js"

Cli.run(process.argv).pipe(
  Effect.provide(NodeContext.layer),
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
