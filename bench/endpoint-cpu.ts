// The notification endpoint's own CPU per delivery (issue 17, rows 7/7b): the server process's CPU time per
// request, 32 in flight, keep-alive, unique signed notifications, for a bare node:http + crypto.verify handler
// and the SDK endpoint with an inbox that stores nothing (`sdk`) or testkit's MemoryInbox (`memory`). Sides
// alternate, ROUNDS rounds; median. `sdk:<name>` runs a snapshot (`node snapshot.mjs <name>`). Not part of
// `pnpm bench`: `node run.mjs endpoint-cpu bare sdk:before sdk:after`.
import * as Http from "node:http"
import { loadavg } from "node:os"
import { notification } from "./src/Inputs.js"
import { drive, request, startChild } from "./src/Load.js"

const modes = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ["bare", "sdk", "memory"]
const ROUNDS = Number(process.env["ROUNDS"] ?? 5)
const PER_ROUND = Number(process.env["PER_ROUND"] ?? 4000)
const out = (line: string) => process.stdout.write(`${line}\n`)
const agent = new Http.Agent({ keepAlive: true, maxSockets: 32 })
let next = 0

// WITKEY_ENDPOINT_URL: drive a server started elsewhere (`node --cpu-prof …/EndpointCpuProcess.js sdk`).
const external = process.env["WITKEY_ENDPOINT_URL"]
const servers =
  external !== undefined
    ? [{ info: { url: external }, stop: async () => {} }]
    : await Promise.all(
        modes.map((mode) =>
          startChild<{ url: string }>(new URL("./src/servers/EndpointCpuProcess.ts", import.meta.url), [mode])
        )
      )
const cpuOf = async (url: string) =>
  Number((await request(url.replace("/alipay/notify", "/__cpu"), { agent })).body)
const round = async (url: string, count: number) => {
  const batch = Array.from({ length: count }, () => notification(next++))
  const post = (k: number) =>
    request(url, { agent, method: "POST", body: batch[k]!.body, contentType: batch[k]!.contentType }).then(
      (answer) => {
        if (answer.body !== "success") throw new Error(`answered ${answer.status} ${answer.body}`)
      }
    )
  const before = await cpuOf(url)
  const hz = await drive({ count }, 32, post)
  const after = await cpuOf(url)
  return { hz, cpu: (after - before) / count }
}
try {
  for (const s of servers) await round(s.info.url, 1000)
  const got = modes.map(() => ({ hz: [] as Array<number>, cpu: [] as Array<number> }))
  for (let r = 0; r < ROUNDS; r++)
    for (const [i, s] of servers.entries()) {
      const { hz, cpu } = await round(s.info.url, PER_ROUND)
      got[i]!.hz.push(hz)
      got[i]!.cpu.push(cpu)
    }
  const med = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
  out(
    `load average ${loadavg()
      .map((x) => x.toFixed(2))
      .join(" ")}`
  )
  for (const [i, mode] of modes.entries())
    out(
      `  ${mode.padEnd(8)} ${med(got[i]!.cpu).toFixed(1).padStart(7)} µs CPU/delivery  ${med(got[i]!.hz)
        .toFixed(0)
        .padStart(6)} /s   cpu rounds ${got[i]!.cpu.map((x) => x.toFixed(0)).join(" ")}`
    )
} finally {
  agent.destroy()
  for (const s of servers) await s.stop()
}
