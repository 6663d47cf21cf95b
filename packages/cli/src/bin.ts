#!/usr/bin/env node
/**
 * The `witkey` executable.
 *
 * `witkey --help`, `witkey <command…> --help` and `witkey --version` print texts @effect/cli rendered ahead of
 * time (internal/HelpText.ts, held equal to its rendering by test/Startup.test.ts) without loading effect or
 * @effect/cli: a few tens of milliseconds instead of about half a second. Everything else runs through
 * @effect/cli (internal/main.ts), after internal/startup.ts has deferred the modules nothing needs at startup.
 *
 * @since 0.1.0
 */
// First: it must run before anything loads effect or @effect/cli.
import "./internal/startup.js"
import * as PlainConsole from "./PlainConsole.js"
import * as HelpText from "./internal/HelpText.js"

const known = HelpText.lookup(process.argv.slice(2))
// console.log, as @effect/cli's Console.log: it adds the newline and ignores a closed pipe (`witkey --help | head`).
if (known !== undefined)
  console.log(PlainConsole.plainFor(process.stdout) ? PlainConsole.strip(known) : known)
else void import("./internal/main.js").then((run) => run.main(process.argv))
