/**
 * Reads the raw bytes a verify command checks: a file, or stdin for `-`. Bytes, never text: signatures are
 * verified over the bytes as received.
 *
 * @since 0.1.0
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as CliError from "./CliError.js"

/** Stdin is bounded like a gateway body: anything larger is not an answer from it. */
const MAX_STDIN_BYTES = 16 * 1024 * 1024

const readStdin: Effect.Effect<Uint8Array, CliError.CliError> = Effect.async<Uint8Array, CliError.CliError>(
  (resume) => {
    const chunks: Array<Buffer> = []
    let size = 0
    const onData = (chunk: Buffer) => {
      size += chunk.length
      if (size > MAX_STDIN_BYTES) {
        cleanup()
        resume(Effect.fail(CliError.usage(`stdin: more than ${MAX_STDIN_BYTES} bytes`)))
      } else chunks.push(chunk)
    }
    const onEnd = () => {
      cleanup()
      resume(Effect.succeed(new Uint8Array(Buffer.concat(chunks))))
    }
    const onError = (error: Error) => {
      cleanup()
      resume(Effect.fail(CliError.usage(`stdin: ${error.message}`)))
    }
    const cleanup = () => {
      process.stdin.off("data", onData).off("end", onEnd).off("error", onError)
      process.stdin.pause()
    }
    process.stdin.on("data", onData).on("end", onEnd).on("error", onError)
    return Effect.sync(cleanup)
  }
)

export const read = (path: string): Effect.Effect<Uint8Array, CliError.CliError, FileSystem.FileSystem> =>
  path === "-"
    ? readStdin
    : Effect.flatMap(FileSystem.FileSystem, (fs) =>
        fs
          .readFile(path)
          .pipe(
            Effect.mapError((e) =>
              CliError.usage(
                `${path}: ${e._tag === "SystemError" && e.reason === "NotFound" ? "no such file" : e.message}`
              )
            )
          )
      )
