// The receiver console's HTML, rendered from what the inbox and the payout journal return. Every value goes
// through `html`, which escapes it: task ids, error texts and bodies are whatever someone sent.
import type * as Inbox from "@witkey/core/Inbox"
import type * as PayoutJournal from "@witkey/core/PayoutJournal"
import { type Html, html } from "../Html.js"

export interface Action {
  readonly at: number
  readonly ok: boolean
  readonly text: string
}

export interface View {
  /** The console's path prefix, ending in `/`. */
  readonly prefix: string
  readonly now: number
  readonly csrf: string
  readonly status: Inbox.Status | undefined
  readonly unmask: boolean
  readonly entries: ReadonlyArray<Inbox.Entry>
  readonly counts: Readonly<Record<Inbox.Status, number>> | undefined
  readonly actions: ReadonlyArray<Action>
  readonly journal:
    | {
        readonly payouts: ReadonlyArray<PayoutJournal.Entry>
        /** The journal's rows that do not decode: never re-sent, each an alarm of the reconciliation. */
        readonly unreadable: ReadonlyArray<PayoutJournal.Unreadable>
        readonly reconciliation: PayoutJournal.Reconciliation
      }
    | undefined
}

export interface EntryView {
  readonly prefix: string
  readonly csrf: string
  readonly unmask: boolean
  readonly entry: Inbox.Entry
  readonly attempts: ReadonlyArray<Inbox.Attempt>
  /** The body decoded in the receiver's charset: its form fields, or why it does not decode. */
  readonly decoded:
    | {
        readonly _tag: "Fields"
        readonly charset: string
        readonly form: Readonly<Record<string, string>>
        /** The payload's payee id: masked wherever it shows (the decoded form, the bytes as sent). */
        readonly payees: ReadonlyArray<string>
      }
    | { readonly _tag: "Failed"; readonly message: string }
    | { readonly _tag: "Removed" }
  /** The body's bytes read in the receiver's charset (still percent-encoded, as sent). */
  readonly raw: string
  readonly actions: ReadonlyArray<Action>
}

export const STATUSES: ReadonlyArray<Inbox.Status> = [
  "failing",
  "exhausted",
  "failed_permanent",
  "processed",
  "resolved"
]

const time = (millis: number | undefined) =>
  millis === undefined
    ? ""
    : new Date(millis)
        .toISOString()
        .replace("T", " ")
        .replace(/\.\d+Z$/, "Z")

const statusClass = (status: Inbox.Status) =>
  status === "processed" || status === "resolved" ? "ok" : status === "failing" ? "warn" : "bad"

/** A payee id shown by its first and last four characters. */
export const mask = (id: string): string =>
  id.length <= 8 ? "*".repeat(id.length) : `${id.slice(0, 4)}${"*".repeat(id.length - 8)}${id.slice(-4)}`

/** `text` with every payee id in `payees` masked (unless `unmask`). */
export const masked = (text: string, payees: ReadonlyArray<string>, unmask: boolean): string =>
  unmask ? text : payees.reduce((t, id) => (id === "" ? t : t.split(id).join(mask(id))), text)

const query = (view: { readonly status?: Inbox.Status | undefined; readonly unmask: boolean }) => {
  const parts = [
    view.status === undefined ? undefined : `status=${view.status}`,
    view.unmask ? "unmask=1" : undefined
  ].filter((p) => p !== undefined)
  return parts.length === 0 ? "" : `?${parts.join("&")}`
}

/** One form per entry: Replay posts to `replay`, Resolve (for an unsettled entry) to `resolve` (`formaction`). */
const buttons = (prefix: string, csrf: string, entry: Inbox.Entry, back: string): Html =>
  html`<form class="actions" method="post" action="${prefix}replay">
    <input type="hidden" name="csrf" value="${csrf}" /><input type="hidden" name="back" value="${back}" />
    <button type="submit" name="notify_id" value="${entry.notifyId}">Replay</button>
    ${
      entry.status === "processed" || entry.status === "resolved"
        ? ""
        : html`<button type="submit" name="notify_id" value="${entry.notifyId}" formaction="${prefix}resolve">
            Resolve
          </button>`
    }
  </form>`

const actionList = (actions: ReadonlyArray<Action>): Html =>
  actions.length === 0
    ? html``
    : html`<section class="message" id="actions">
        <h2>Actions</h2>
        <ul>
          ${actions
            .slice()
            .reverse()
            .map((a) => html`<li class="${a.ok ? "" : "bad"}">${time(a.at)} ${a.text}</li>`)}
        </ul>
      </section>`

const entryRow = (view: View, entry: Inbox.Entry): Html => {
  const back = `${view.prefix}${query(view)}`
  return html`<tr data-notify-id="${entry.notifyId}">
    <td>
      <a
        class="mono"
        href="${view.prefix}entry?id=${encodeURIComponent(entry.notifyId)}${view.unmask ? "&unmask=1" : ""}"
        >${entry.notifyId}</a
      >
    </td>
    <td class="${statusClass(entry.status)} status">${entry.status}</td>
    <td>${entry.subType}</td>
    <td class="mono">
      ${entry.outerTaskId ?? ""}${entry.outerTransferNo === undefined ? "" : ` / ${entry.outerTransferNo}`}
    </td>
    <td>${entry.deliveries}</td>
    <td>${entry.failures}</td>
    <td>${time(entry.firstReceivedAt)}</td>
    <td>${time(entry.lastReceivedAt)}</td>
    <td><pre>${entry.lastError ?? entry.resolution ?? ""}</pre></td>
    <td>${buttons(view.prefix, view.csrf, entry, back)}</td>
  </tr>`
}

const outcomeText = (outcome: PayoutJournal.Outcome): string => {
  switch (outcome._tag) {
    case "Pending":
      return "pending"
    case "Confirmed":
      return `confirmed (key ${outcome.verifiedBy.keyId}, ${outcome.verifiedBy.status})`
    case "AlreadyConfirmed":
      return `already confirmed: ${outcome.code}${outcome.afterResend ? " after a re-send" : ""}`
    case "Rejected":
      return `rejected: ${outcome.code}`
    case "Unknown":
      return `unknown (${outcome.reason}): ${outcome.message}`
  }
}

const journalSections = (view: View): Html => {
  if (view.journal === undefined)
    return html`<section>
      <h2>Payouts</h2>
      <p class="muted">No payout journal is configured.</p>
    </section>`
  const { payouts, unreadable, reconciliation } = view.journal
  return html`<section id="payouts">
      <h2>Payouts (${payouts.length})</h2>
      ${
        unreadable.length === 0
          ? html``
          : html`<div id="unreadable-payouts">
              <p class="bad">
                ${unreadable.length} stored payout(s) do not decode: they are never re-sent, and what they
                sent and how they ended is not known. Compare them with Alipay's records by hand.
              </p>
              <table>
                <tr>
                  <th>Id</th>
                  <th>Task</th>
                  <th>Serials</th>
                  <th>Recorded</th>
                  <th>Stored outcome</th>
                  <th>Problem</th>
                </tr>
                ${unreadable.map(
                  (u) =>
                    html`<tr>
                      <td class="mono">${u.id}</td>
                      <td class="mono">${u.outerTaskId}</td>
                      <td class="mono">${u.transfers.join(", ")}</td>
                      <td>${time(u.recordedAt)}</td>
                      <td class="bad">${u.outcomeTag}</td>
                      <td>${u.problem}</td>
                    </tr>`
                )}
              </table>
            </div>`
      }
      <table>
        <tr>
          <th>Partner</th>
          <th>Task</th>
          <th>Serials</th>
          <th>Recorded</th>
          <th>Attempts</th>
          <th>Outcome</th>
        </tr>
        ${payouts.map(
          (p) =>
            html`<tr>
              <td class="mono">${p.partner}</td>
              <td class="mono">${p.outerTaskId}</td>
              <td class="mono">${p.transfers.join(", ")}</td>
              <td>${time(p.recordedAt)}</td>
              <td>
                <ol class="timeline">
                  ${p.attempts.map(
                    (a) =>
                      html`<li>
                        ${time(a.at)}
                        ${a.result ?? "(no result: the sender died)"}${a.mayHaveReached ? "" : " (never left)"}
                      </li>`
                  )}
                </ol>
              </td>
              <td
                class="${PayoutJournalOk(p.outcome) ? "ok" : p.outcome._tag === "Pending" ? "warn" : "bad"}"
              >
                ${outcomeText(p.outcome)}
              </td>
            </tr>`
        )}
      </table>
    </section>
    <section id="reconciliation">
      <h2>
        Reconciliation:
        ${reconciliation.alarms === 0 ? html`<span class="ok">no alarms</span>` : html`<span class="bad">${reconciliation.alarms} alarm(s)</span>`}
      </h2>
      <table>
        <tr>
          <th>Task</th>
          <th>Serial</th>
          <th>State</th>
          <th>Payouts</th>
          <th>Notification</th>
        </tr>
        ${reconciliation.serials.map(
          (s) =>
            html`<tr>
              <td class="mono">${s.outerTaskId}</td>
              <td class="mono">${s.serial}</td>
              <td class="${s.alarm ? "bad" : s.state === "settled" ? "ok" : "warn"}">${s.state}</td>
              <td>${s.payoutIds.length}</td>
              <td class="mono">${s.notifyId ?? ""}</td>
            </tr>`
        )}
      </table>
      ${reconciliation.alreadyPaidMismatches.map(
        (m) =>
          html`<p class="bad">
            ALREADY_PAID for task ${m.outerTaskId} (${m.transfers.join(", ")}) is doubtful: no notification
            for ${m.unnotified.join(", ")}
          </p>`
      )}
    </section>`
}

const PayoutJournalOk = (outcome: PayoutJournal.Outcome) =>
  outcome._tag === "Confirmed" || outcome._tag === "AlreadyConfirmed"

/** The part of the page that refreshes itself. */
export const live = (view: View): Html =>
  html`${actionList(view.actions)}
    <section id="inbox">
      <h2>
        Inbox: ${view.status ?? "every state"}
        (${view.entries.length}${view.entries.length >= LIMIT ? ", the newest " + LIMIT : ""})
      </h2>
      <table>
        <tr>
          <th>notify_id</th>
          <th>Status</th>
          <th>Sub type</th>
          <th>Task / serial</th>
          <th>Deliveries</th>
          <th>Failures</th>
          <th>First</th>
          <th>Last</th>
          <th>Last error / resolution</th>
          <th></th>
        </tr>
        ${view.entries.map((e) => entryRow(view, e))}
      </table>
    </section>
    ${journalSections(view)}`

/** Rows per page: a page stays small however big the inbox grows. */
export const LIMIT = 1000

const chrome = (prefix: string, title: string, body: Html, unmask: boolean, toggle: string): Html =>
  html`<html lang="en">
    <head>
      <meta charset="utf-8" />
      <title>${title}</title>
      <link rel="stylesheet" href="${prefix}console.css" />
      <link rel="icon" href="${prefix}favicon.svg" />
      <script src="${prefix}console.js" defer></script>
    </head>
    <body>
      <header>
        <h1>witkey receiver console</h1>
        <span
          >payee ids ${unmask ? "shown" : "masked"} (<a href="${toggle}">${unmask ? "mask" : "show"}</a
          >)</span
        >
        <span id="refresh">loading</span>
      </header>
      <main>${body}</main>
    </body>
  </html>`

export const page = (view: View): Html => {
  const nav = html`<nav>
    <a
      class="${view.status === undefined ? "current" : ""}"
      href="${view.prefix}${view.unmask ? "?unmask=1" : ""}"
      >every state</a
    >
    ${STATUSES.map(
      (s) =>
        html`<a
          class="${view.status === s ? "current" : ""}"
          href="${view.prefix}${query({ status: s, unmask: view.unmask })}"
          >${s}${view.counts === undefined ? "" : ` (${view.counts[s]}${view.counts[s] >= LIMIT ? "+" : ""})`}</a
        >`
    )}
  </nav>`
  return chrome(
    view.prefix,
    "witkey receiver console",
    html`<section>${nav}</section>
      <div id="live" data-live="${view.prefix}live${query(view)}">${live(view)}</div>`,
    view.unmask,
    `${view.prefix}${query({ status: view.status, unmask: !view.unmask })}`
  )
}

const attemptRow = (a: Inbox.Attempt): Html =>
  html`<tr>
    <td>${time(a.at)}</td>
    <td>${a.source}</td>
    <td>${a.verification}</td>
    <td class="mono">${a.verifiedBy ?? ""}</td>
    <td>${a.notifyVerify ?? ""}</td>
    <td
      class="${a.outcome === "processed" || a.outcome === "resolved" ? "ok" : a.outcome === "duplicate" || a.outcome === "already_processed" ? "muted" : "bad"}"
    >
      ${a.outcome}
    </td>
    <td><pre>${a.error ?? ""}</pre></td>
    <td>${a.durationMillis} ms</td>
  </tr>`

/** One entry's live part: its state, its attempts, its body. */
export const entryLive = (view: EntryView): Html => {
  const e = view.entry
  const payees = view.decoded._tag === "Fields" ? view.decoded.payees : []
  const m = (text: string) => masked(text, payees, view.unmask)
  const back = `${view.prefix}entry?id=${encodeURIComponent(e.notifyId)}${view.unmask ? "&unmask=1" : ""}`
  return html`${actionList(view.actions)}
    <section>
      <h2>
        ${e.notifyId}:
        <span class="${statusClass(e.status)} status">${e.status}</span>
        ${buttons(view.prefix, view.csrf, e, back)}
      </h2>
      <p>
        ${e.subType}, task
        <span class="mono">${e.outerTaskId ?? ""}</span
        >${e.outerTransferNo === undefined ? "" : html`, serial <span class="mono">${e.outerTransferNo}</span>`};
        ${e.deliveries} deliveries, ${e.failures} failed runs; first ${time(e.firstReceivedAt)}, last
        ${time(e.lastReceivedAt)}${e.processedAt === undefined ? "" : `; processed ${time(e.processedAt)}`}${e.resolution === undefined ? "" : `; resolved: ${e.resolution}`}
      </p>
      ${e.lastError === undefined ? "" : html`<pre class="bad">${e.lastError}</pre>`}
    </section>
    <section id="attempts">
      <h2>Attempts (${view.attempts.length})</h2>
      <table>
        <tr>
          <th>Time</th>
          <th>Source</th>
          <th>Verification</th>
          <th>Verified by</th>
          <th>notify_verify</th>
          <th>Outcome</th>
          <th>Error</th>
          <th>Duration</th>
        </tr>
        ${view.attempts.map(attemptRow)}
      </table>
    </section>
    <section id="body">
      <h2>Body${e.contentType === undefined ? "" : html` <span class="muted">(${e.contentType})</span>`}</h2>
      ${
        view.decoded._tag === "Removed"
          ? html`<p class="muted">The body was erased or pruned.</p>`
          : view.decoded._tag === "Failed"
            ? html`<p class="bad">${view.decoded.message}</p>`
            : html`<p class="muted">Decoded in ${view.decoded.charset}:</p>
                <table>
                  ${Object.entries(view.decoded.form).map(
                    ([name, value]) =>
                      html`<tr>
                        <th class="mono">${name}</th>
                        <td><pre>${m(value)}</pre></td>
                      </tr>`
                  )}
                </table>`
      }
      ${
        view.decoded._tag === "Removed"
          ? ""
          : html`<details>
              <summary>As sent</summary>
              <pre>${m(view.raw)}</pre>
            </details>`
      }
    </section>`
}

export const entryPage = (view: EntryView): Html =>
  chrome(
    view.prefix,
    `witkey: ${view.entry.notifyId}`,
    html`<section>
        <nav><a href="${view.prefix}${view.unmask ? "?unmask=1" : ""}">back to the inbox</a></nav>
      </section>
      <div
        id="live"
        data-live="${view.prefix}entry/live?id=${encodeURIComponent(view.entry.notifyId)}${view.unmask ? "&unmask=1" : ""}"
      >
        ${entryLive(view)}
      </div>`,
    view.unmask,
    `${view.prefix}entry?id=${encodeURIComponent(view.entry.notifyId)}${view.unmask ? "" : "&unmask=1"}`
  )
