// The viewer page's composition root: the token, the notifier connection, and the three views
// (studies, a series in the slice viewer, jobs), chosen by the address's hash:
// #/studies, #/study/{id}/series/{uid}, #/jobs.

import { setToken } from "./api.js";
import { initJobs, resetJobs } from "./jobs.js";
import { LiveHub } from "./live.js";
import { closeSeries, initSliceView, openSeries } from "./sliceview.js";
import { loadStudies, moreStudies, stopPolling } from "./studies.js";
import { initUpload } from "./upload.js";

const TOKEN_KEY = "dicompress.token";
const $ = (id) => document.getElementById(id);
const hub = new LiveHub();
let notifierUrl = null;
let token = null;

/** The token from `#token=...` (then kept in sessionStorage and wiped from the address bar). */
function takeToken() {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromHash) {
    sessionStorage.setItem(TOKEN_KEY, fromHash);
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

function useToken(value) {
  token = value;
  setToken(value);
  say("auth-message", token ? "token set (kept for this tab only)" : "no token: paste one");
  $("auth").open = !token;
  hub.stop();
  if (token) hub.start(notifierUrl, token, showConnection);
  resetJobs();
  route();
}

function showConnection(state, detail) {
  const pill = $("connection");
  pill.dataset.state = state;
  pill.textContent = detail ? `${state}: ${detail}` : state;
  document.body.dataset.reconnects = String(hub.reconnects);
}

/** Show the view the hash names. */
function route() {
  const hash = location.hash || "#/studies";
  const series = /^#\/study\/([0-9a-f-]{36})\/series\/([0-9.]+)$/.exec(hash);
  const name = series ? "series" : hash === "#/jobs" ? "jobs" : "studies";
  for (const view of ["studies", "series", "jobs"]) $(`${view}-view`).hidden = view !== name;
  for (const link of document.querySelectorAll("nav a")) {
    link.toggleAttribute("aria-current", link.getAttribute("href") === `#/${name}`);
  }
  document.body.dataset.view = name;
  if (name !== "series") closeSeries();
  if (name !== "studies") stopPolling();
  if (!token) return;
  if (name === "studies") loadStudies();
  if (name === "series") openSeries(series[1], series[2]);
}

function say(id, message, isError = false) {
  const element = $(id);
  element.textContent = message;
  element.classList.toggle("error", isError);
}

async function main() {
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = $("token-input").value.trim();
    $("token-input").value = "";
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    useToken(value || null);
  });
  $("forget-token").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    useToken(null);
  });
  $("refresh-studies").addEventListener("click", () => token && loadStudies());
  $("more-studies").addEventListener("click", () => token && moreStudies());
  initJobs(hub);
  initSliceView(hub);
  initUpload(() => token && location.hash !== "#/jobs" && loadStudies());
  window.addEventListener("hashchange", route);
  const config = await (await fetch("config.json")).json();
  notifierUrl = config.notifierUrl;
  useToken(takeToken());
  document.body.dataset.ready = "true";
}

main();
