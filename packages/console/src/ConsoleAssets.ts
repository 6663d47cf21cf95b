/**
 * The consoles' script, style sheet and icon, served as files (the sandbox's at `/console.js`, the receiver's
 * under its prefix) so that the Content-Security-Policy allows no inline script or style. Kept as strings so a
 * console works from any install (source or dist) without extra files to ship.
 *
 * @since 0.1.0
 */

/**
 * Refreshes the live part of the page (`#live`) every second from its `data-live` URL (a path the server wrote
 * into the page), else from `liveUrl`; forms outside it keep what is being typed.
 */
export const refreshScript = (liveUrl: string): string => `"use strict";
(function () {
  var live = document.getElementById("live");
  var status = document.getElementById("refresh");
  if (!live || !status) return;
  var url = live.getAttribute("data-live") || ${JSON.stringify(liveUrl)};
  var busy = false;
  function show(text) {
    if (status.textContent !== text) status.textContent = text;
  }
  function tick() {
    if (busy) return;
    busy = true;
    fetch(url, { cache: "no-store", credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (text) {
        live.innerHTML = text;
        show("refreshing every second");
      })
      .catch(function (error) {
        show("refresh failed: " + error.message);
      })
      .finally(function () {
        busy = false;
      });
  }
  setInterval(tick, 1000);
})();
`

/** The sandbox console's script (its live part is at `/console/live`). */
export const script: string = refreshScript("/console/live")

export const style = `:root { color-scheme: light; --line: #d0d7de; --muted: #57606a; --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; }
* { box-sizing: border-box; }
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1f2328; background: #f6f8fa; }
header { background: #24292f; color: #fff; padding: 10px 20px; display: flex; gap: 24px; align-items: baseline; flex-wrap: wrap; }
header h1 { font-size: 18px; margin: 0; }
header span { color: #d0d7de; }
header a { color: #fff; }
main { padding: 12px 20px 40px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; margin: 12px 0; }
h2 { font-size: 15px; margin: 4px 0 8px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: 4px 8px; border-top: 1px solid var(--line); }
th { color: var(--muted); font-weight: 600; }
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; }
pre { white-space: pre-wrap; word-break: break-all; margin: 0; max-height: 12em; overflow: auto; }
.ok { color: var(--ok); font-weight: 600; }
.bad { color: var(--bad); font-weight: 600; }
.warn { color: var(--warn); font-weight: 600; }
.muted { color: var(--muted); }
.message { background: #ddf4ff; border-color: #54aeff; }
.forms { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 12px; }
.forms section { margin: 0; }
label { display: block; margin: 4px 0; }
input[type=text], textarea, select { width: 100%; font: inherit; padding: 3px 6px; }
textarea { font-family: ui-monospace, monospace; font-size: 12px; }
button { font: inherit; padding: 3px 10px; cursor: pointer; }
ol.timeline { margin: 0; padding-left: 20px; }
ol.timeline li { margin: 2px 0; }
details summary { cursor: pointer; }
form.actions { display: inline; }
h2 form.actions { margin-left: 8px; }
nav a { margin-right: 12px; }
nav a.current { font-weight: 600; text-decoration: none; color: inherit; }
`

/** A browser asks for an icon; without one it logs a 404 on every page. */
export const icon = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#1677ff"/><path d="M4 8.5l2.5 2.5L12 5" stroke="#fff" stroke-width="2" fill="none"/></svg>`
