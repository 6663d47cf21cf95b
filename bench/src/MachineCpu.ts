/**
 * CPU readings of the whole machine from Linux `/proc`, for the HTTP rows' "where the time goes": on a
 * machine of two cores the load generator, the server under test and PostgreSQL's backends share the CPU, so
 * the server process's own CPU time per delivery does not say what a delivery costs in all, nor whether the
 * machine was busy or waiting. Both readings are `undefined` where `/proc` cannot be read (another OS).
 */
import { readdirSync, readFileSync } from "node:fs"

/** Linux's USER_HZ: `/proc` counts CPU time in ticks of 10 ms. */
const MICROS_PER_TICK = 10_000

/**
 * CPU time so far (user + system) of the PostgreSQL server's processes on this machine (`postgres` processes
 * readable by this user), µs; other clients of the same server count too. With the time of their ended
 * children: a backend that exits between two readings (a pool's idle connection, an autovacuum worker) moves
 * its time into the postmaster's, so the sum only grows. `undefined` without `/proc` or without a `postgres`
 * process in sight (a remote server, another PID namespace): never a made-up 0.
 */
export const postgresMicros = (): number | undefined => {
  let ticks = 0
  let found = false
  let pids: ReadonlyArray<string>
  try {
    pids = readdirSync("/proc")
  } catch {
    return undefined
  }
  for (const pid of pids) {
    if (!/^\d+$/.test(pid)) continue
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
      // The command name is in parentheses and may itself hold spaces or parentheses: the last `)` ends it.
      const end = stat.lastIndexOf(")")
      if (!stat.slice(0, end).includes("(postgres")) continue
      // After the name, counted from 0: utime 11, stime 12, cutime 13, cstime 14 (fields 14-17 in proc(5)).
      const fields = stat.slice(end + 2).split(" ")
      ticks += Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])
      found = true
    } catch {
      // The process ended meanwhile.
    }
  }
  return found ? ticks * MICROS_PER_TICK : undefined
}

export interface CpuTimes {
  /** Idle and I/O-wait ticks of every CPU. */
  readonly idle: number
  readonly total: number
}

/** The machine's CPU time so far (first line of `/proc/stat`), or `undefined` without it. */
export const machineTimes = (): CpuTimes | undefined => {
  try {
    const fields = readFileSync("/proc/stat", "utf8")
      .split("\n", 1)[0]!
      .trim()
      .split(/\s+/)
      // user nice system idle iowait irq softirq steal; guest and guest_nice, after them, are in user and nice.
      .slice(1, 9)
      .map(Number)
    return { idle: fields[3]! + fields[4]!, total: fields.reduce((a, b) => a + b, 0) }
  } catch {
    return undefined
  }
}

/** The share of the machine's CPU time that was idle between two readings, or NaN. */
export const idleShare = (before: CpuTimes | undefined, after: CpuTimes | undefined): number =>
  before === undefined || after === undefined || after.total === before.total
    ? Number.NaN
    : (after.idle - before.idle) / (after.total - before.total)
