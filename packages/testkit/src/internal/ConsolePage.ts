// The sandbox console's HTML, rendered from a snapshot of the sandbox's own state. Every value goes through
// `html`, which escapes it: parameters, receivers' answers and task ids are whatever someone sent.
import * as Charset from "@witkey/core/Charset"
import { Duration } from "effect"
import * as Fault from "../Fault.js"
import type {
  CallRecord,
  DeliveryAttempt,
  LedgerEntry,
  NotificationRecord,
  SignatureCheck,
  TaskRecord
} from "../Sandbox.js"
import { type Html, html } from "@witkey/console/Html"
import * as Wire from "./Wire.js"

export interface Action {
  readonly at: number
  readonly ok: boolean
  readonly text: string
}

export interface Snapshot {
  /** The sandbox clock's now, epoch milliseconds. */
  readonly now: number
  /** Sandbox time per wall time since the console started; undefined until it can be measured. */
  readonly speed: number | undefined
  readonly gatewayUrl: string
  readonly csrf: string
  readonly tasks: ReadonlyArray<TaskRecord>
  readonly calls: ReadonlyArray<CallRecord>
  readonly ledger: ReadonlyArray<LedgerEntry>
  readonly notifications: ReadonlyArray<NotificationRecord>
  readonly queued: {
    readonly answer: ReadonlyArray<Fault.AnswerFault>
    readonly notify: ReadonlyArray<Fault.NotifyFault>
  }
  readonly actions: ReadonlyArray<Action>
  readonly defaultPartner: string
  readonly defaultPlatformAccount: string
}

/** A fault the "inject" form offers, and the queue it goes to. */
export type FaultChoice = { readonly value: string; readonly label: string } & (
  | { readonly kind: "answer"; readonly fault: Fault.AnswerFault }
  | { readonly kind: "notify"; readonly fault: Fault.NotifyFault }
)

const answer = (value: string, label: string, fault: Fault.AnswerFault): FaultChoice => ({
  value,
  label,
  kind: "answer",
  fault
})
const notify = (value: string, label: string, fault: Fault.NotifyFault): FaultChoice => ({
  value,
  label,
  kind: "notify",
  fault
})

/** The faults the "inject" form offers. */
export const FAULT_CHOICES: ReadonlyArray<FaultChoice> = [
  answer("drop-hang", "Drop: never answer (payout applied)", Fault.drop({ mode: "hang" })),
  answer("drop-reset", "Drop: reset the connection (payout applied)", Fault.drop({ mode: "reset" })),
  answer("server-error", "HTTP 502 page (payout applied)", Fault.serverError(502)),
  answer("truncated", "Truncated answer", Fault.truncated),
  answer("unsigned", "Unsigned is_success=T", Fault.unsigned),
  answer("wrong-signature", "Signed by another key", Fault.wrongSignature),
  answer("reject", "is_success=F SYSTEM_ERROR (nothing paid)", Fault.reject("SYSTEM_ERROR")),
  answer("delay", "Answer after 5 s", Fault.delay("5 seconds")),
  notify("duplicate", "Deliver each first notification twice", Fault.duplicate),
  notify("late", "Deliver 10 minutes late", Fault.late("10 minutes")),
  notify("reorder", "Deliver the batch last-first", Fault.reorder),
  notify("malformed-content-type", "Alipay's malformed Content-Type", Fault.malformedContentType),
  notify("reissue", "Re-issue each event under a new notify_id after 1 hour", Fault.reissue("1 hour"))
]

/** Rows per list: a page stays small however long the sandbox runs (everything stays in `Sandbox` itself). */
const LIMIT = 200
const newest = (n: number) => (n > LIMIT ? `the newest ${LIMIT}` : "newest first")

const time = (ms: number) => new Date(ms).toISOString().replace("T", " ").slice(0, 19) + "Z"

const span = (ms: number) => {
  const s = Math.max(0, Math.round(ms / 1000))
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m ${s % 60}s`
  return `${Math.floor(m / 60)}h ${m % 60}m`
}

const clip = (text: string, max = 400) =>
  text.length > max ? `${text.slice(0, max)}… (${text.length} chars)` : text

const utf8 = (bytes: Uint8Array) => new TextDecoder().decode(bytes)

/** A gateway answer's text, in the charset its Content-Type names (else UTF-8, replacing what does not decode). */
const answerText = (body: Uint8Array, contentType: string | undefined) => {
  const label = /charset=([\w-]+)/i.exec(contentType ?? "")?.[1]?.toLowerCase()
  if (label !== undefined && (Charset.values as ReadonlyArray<string>).includes(label)) {
    const decoded = Charset.decode(body, label as Charset.Charset)
    if (decoded._tag === "Right") return decoded.right
  }
  return utf8(body)
}

export const describeFault = (fault: Fault.AnswerFault | Fault.NotifyFault | undefined): string => {
  if (fault === undefined) return ""
  switch (fault._tag) {
    case "Drop":
      return `Drop (${fault.mode}${fault.applied ? ", payout applied" : ", not processed"})`
    case "ServerError":
      return `ServerError ${fault.status}${fault.applied ? " (payout applied)" : " (not processed)"}`
    case "Reject":
      return `Reject ${fault.code}`
    case "Raw":
      return `Raw HTTP ${fault.response.status}`
    case "Delay":
      return `Delay ${Duration.format(fault.duration)}`
    case "Late":
      return `Late by ${Duration.format(fault.by)}`
    case "Reissue":
      return `Reissue after ${Duration.format(fault.after)}`
    default:
      return fault._tag
  }
}

const signature = (check: SignatureCheck) =>
  check._tag === "Verified"
    ? html`<span class="ok">verified</span>`
    : html`<span class="bad">not verified</span>: ${check.reason}`

const csrfField = (token: string) => html`<input type="hidden" name="csrf" value="${token}" />`

const tasksSection = (s: Snapshot) =>
  html`<section id="tasks">
    <h2>Tasks (${s.tasks.length})</h2>
    <table>
      <tr>
        <th>task</th>
        <th>partner</th>
        <th>transfers (serial, payee, amount)</th>
        <th>service fee</th>
        <th>registered</th>
      </tr>
      ${s.tasks.map(
        (t) =>
          html`<tr data-task="${t.outerTaskId}">
            <td class="mono">${t.outerTaskId}</td>
            <td class="mono">${t.partner}</td>
            <td>
              ${t.transfers.map(
                (x) =>
                  html`<div class="mono" data-serial="${x.serial}">
                    ${x.serial} · ${x.payeeUserId} · ${Wire.formatAmount(x.amount)} ·
                    ${x.paid ? html`<span class="ok">paid</span>` : html`<span class="muted">unpaid</span>`}
                  </div>`
              )}
            </td>
            <td class="mono">
              ${Wire.formatAmount(t.serviceFee)} (charge ${Wire.formatAmount(t.serviceCharge)}) to
              ${t.platformAccount} ·
              ${t.serviceFeePaid ? html`<span class="ok">paid</span>` : html`<span class="muted">unpaid</span>`}
            </td>
            <td>${time(t.registeredAt)}</td>
          </tr>`
      )}
    </table>
  </section>`

const attemptItem = (a: DeliveryAttempt) =>
  html`<li data-attempt="${a.attempt}">
    ${a.manual ? html`<b>resent by hand</b>` : html`attempt ${a.attempt}`}${a.copy > 1 ? ` (copy ${a.copy})` : ""}
    at ${time(a.at)} →
    ${
      a.result._tag === "Answered"
        ? html`HTTP ${a.result.status} <code>${clip(utf8(a.result.body), 200)}</code>`
        : html`<span class="bad">failed</span>: ${a.result.message}`
    }
    ${a.acknowledged ? html`<span class="ok">acknowledged</span>` : html`<span class="bad">not acknowledged</span>`}
    <span class="muted">(${a.answeredAt - a.at} ms)</span>
  </li>`

const stateClass = (state: NotificationRecord["state"]) =>
  state === "acknowledged" ? "ok" : state === "scheduled" ? "warn" : "bad"

const notificationsSection = (s: Snapshot) =>
  html`<section id="notifications">
    <h2>Notifications (${s.notifications.length}, ${newest(s.notifications.length)})</h2>
    <table>
      <tr>
        <th>notify_id</th>
        <th>event</th>
        <th>delivery</th>
        <th>timeline</th>
        <th></th>
      </tr>
      ${[...s.notifications]
        .reverse()
        .slice(0, LIMIT)
        .map(
          (n) =>
            html`<tr data-notify-id="${n.notifyId}" data-state="${n.state}">
              <td class="mono">
                ${n.notifyId}${n.reissueOf ? html`<br /><span class="muted">re-issue of ${n.reissueOf}</span>` : ""}
              </td>
              <td class="mono">
                ${n.subType}<br />${n.outerTaskId}${n.outerTransferNo ? ` / ${n.outerTransferNo}` : ""}
              </td>
              <td>
                <span class="${stateClass(n.state)}">${n.state}</span>
                ${n.fault ? html`<br />fault: ${describeFault(n.fault)}` : ""}
                <br /><span class="mono muted">${n.url ?? "no notify_url"}</span>
                ${
                  n.nextAttemptAt === undefined
                    ? ""
                    : html`<br />next attempt ${time(n.nextAttemptAt)} (in ${span(n.nextAttemptAt - s.now)}),
                        ${n.attemptsLeft} left`
                }
              </td>
              <td>
                ${
                  n.attempts.length === 0
                    ? html`<span class="muted">no attempt yet</span>`
                    : html`<ol class="timeline">
                        ${n.attempts.map(attemptItem)}
                      </ol>`
                }
              </td>
              <td>
                ${
                  n.url === undefined
                    ? ""
                    : html`<form method="post" action="/console/resend">
                        ${csrfField(s.csrf)}
                        <input type="hidden" name="notify_id" value="${n.notifyId}" />
                        <button type="submit">Resend now</button>
                      </form>`
                }
              </td>
            </tr>`
        )}
    </table>
  </section>`

const callsSection = (s: Snapshot) =>
  html`<section id="calls">
    <h2>Gateway requests (${s.calls.length}, ${newest(s.calls.length)})</h2>
    <table>
      <tr>
        <th>at</th>
        <th>request</th>
        <th>signature</th>
        <th>fault</th>
        <th>answer</th>
      </tr>
      ${[...s.calls]
        .reverse()
        .slice(0, LIMIT)
        .map(
          (c) =>
            html`<tr class="call">
              <td>${time(c.at)}</td>
              <td>
                <details>
                  <summary class="mono">
                    ${c.service ?? "(no service)"} ${c.params.find(([n]) => n === "outer_task_id")?.[1] ?? ""}
                  </summary>
                  <table>
                    ${c.params.map(
                      ([n, v]) =>
                        html`<tr>
                          <td class="mono">${n}</td>
                          <td class="mono">${clip(v)}</td>
                        </tr>`
                    )}
                  </table>
                  <pre>${clip(c.url, 2000)}</pre>
                </details>
              </td>
              <td>${signature(c.signature)}</td>
              <td>${describeFault(c.fault)}</td>
              <td>
                ${
                  c.result._tag === "Success"
                    ? html`<span class="ok">paid</span> ${c.result.paid.join(", ")}`
                    : c.result._tag === "Failure"
                      ? html`<span class="bad">${c.result.code}</span>`
                      : c.result._tag === "NotifyVerify"
                        ? html`notify_verify: ${c.result.answer}`
                        : html`<span class="muted">not processed</span>`
                }
                ${
                  c.response === undefined
                    ? html`<br /><span class="bad">no answer sent (dropped)</span>`
                    : html`<details>
                        <summary>HTTP ${c.response.status} ${c.response.contentType ?? ""}</summary>
                        <pre>${clip(answerText(c.response.body, c.response.contentType), 4000)}</pre>
                      </details>`
                }
              </td>
            </tr>`
        )}
    </table>
  </section>`

const ledgerSection = (s: Snapshot) =>
  html`<section id="ledger">
    <h2>Ledger (${s.ledger.length})</h2>
    <table>
      <tr>
        <th>paid at</th>
        <th>task</th>
        <th>what</th>
        <th>payee</th>
        <th>amount</th>
      </tr>
      ${s.ledger.map(
        (e) =>
          html`<tr>
            <td>${time(e.paidAt)}</td>
            <td class="mono">${e.outerTaskId}</td>
            <td class="mono">
              ${e._tag === "Transfer" ? `transfer ${e.serial}` : `service fee (charge ${Wire.formatAmount(e.serviceCharge)})`}
            </td>
            <td class="mono">${e.payeeUserId}</td>
            <td class="mono">${Wire.formatAmount(e.amount)}</td>
          </tr>`
      )}
    </table>
  </section>`

/** The part of the page that refreshes by itself. */
export const live = (s: Snapshot): Html =>
  html`<section id="clock">
      sandbox clock <b class="mono">${time(s.now)}</b> · speed
      <b id="speed"
        >${
          s.speed === undefined
            ? "measuring"
            : s.speed === 0
              ? "stopped (0×)"
              : `${s.speed >= 10 ? s.speed.toFixed(0) : s.speed.toFixed(1)}× real time`
        }</b
      >
      · queued faults:
      ${
        s.queued.answer.length + s.queued.notify.length === 0
          ? html`<span class="muted">none</span>`
          : [...s.queued.answer, ...s.queued.notify].map(
              (f) => html`<span class="warn">${describeFault(f)}</span> `
            )
      }
    </section>
    ${
      s.actions.length === 0
        ? ""
        : html`<section class="message" id="actions">
            <ul>
              ${[...s.actions]
                .reverse()
                .map((a) => html`<li class="${a.ok ? "" : "bad"}">${time(a.at)} ${a.text}</li>`)}
            </ul>
          </section>`
    }
    ${tasksSection(s)} ${notificationsSection(s)} ${callsSection(s)} ${ledgerSection(s)}`

/** The whole page: the forms (not refreshed, so typing survives) and the live part. */
export const page = (s: Snapshot): Html =>
  html`<html lang="en">
    <head>
      <meta charset="utf-8" />
      <title>witkey sandbox console</title>
      <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
      <link rel="stylesheet" href="/console.css" />
      <script src="/console.js" defer></script>
    </head>
    <body>
      <header>
        <h1>witkey sandbox console</h1>
        <span>gateway <code>${s.gatewayUrl}</code></span>
        <span id="refresh">loading</span>
      </header>
      <main>
        <div class="forms">
          <section>
            <h2>Inject the next fault</h2>
            <form method="post" action="/console/fault">
              ${csrfField(s.csrf)}
              <select name="fault">
                <optgroup label="the answer to the next confirm call">
                  ${FAULT_CHOICES.filter((c) => c.kind === "answer").map((c) => html`<option value="${c.value}">${c.label}</option>`)}
                </optgroup>
                <optgroup label="the next paid call's notifications">
                  ${FAULT_CHOICES.filter((c) => c.kind === "notify").map((c) => html`<option value="${c.value}">${c.label}</option>`)}
                </optgroup>
              </select>
              <button type="submit">Inject</button>
            </form>
          </section>
          <section>
            <h2>Register a task</h2>
            <form method="post" action="/console/task" id="register">
              ${csrfField(s.csrf)}
              <label>partner <input type="text" name="partner" value="${s.defaultPartner}" /></label>
              <label>outer_task_id <input type="text" name="outer_task_id" required /></label>
              <label
                >transfers, one a line: serial payee_user_id amount
                <textarea name="transfers" rows="3" required></textarea>
              </label>
              <label>service fee <input type="text" name="service_fee" value="0.00" /></label>
              <label
                >platform account
                <input type="text" name="platform_account" value="${s.defaultPlatformAccount}"
              /></label>
              <button type="submit">Register</button>
            </form>
          </section>
        </div>
        <div id="live">${live(s)}</div>
      </main>
    </body>
  </html>`
