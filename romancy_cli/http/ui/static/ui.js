// romancy's web page: live tables, countdowns and the action forms. Plain script, no build step;
// every value from the server is put in the page as text (textContent), never as markup.
"use strict";

const POLL_MS = 1000;

function showNotice(text, isError) {
  const notice = document.getElementById("notice");
  notice.textContent = text;
  notice.className = isError ? "notice error-text" : "notice";
  notice.hidden = false;
  clearTimeout(showNotice.timer);
  showNotice.timer = setTimeout(() => { notice.hidden = true; }, 6000);
}

async function getJson(url) {
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error((await response.json()).error || response.statusText);
  return response.json();
}

async function postJson(url, body) {
  const response = await fetch(url, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body),
  });
  const answer = await response.json();
  if (!response.ok) throw new Error(answer.error || response.statusText);
  return answer;
}

// -- times ---------------------------------------------------------------------------------

function localTimes(root) {
  for (const node of root.querySelectorAll("time[datetime]")) {
    const when = new Date(node.getAttribute("datetime"));
    if (!isNaN(when)) node.textContent = when.toLocaleString();
  }
}

function describe(seconds) {
  const parts = [];
  let left = Math.max(0, Math.round(seconds));
  for (const [unit, size] of [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]]) {
    if (left >= size || (unit === "s" && parts.length === 0)) {
      parts.push(Math.floor(left / size) + unit);
      left %= size;
    }
  }
  return parts.slice(0, 2).join(" ");
}

function tickCountdowns() {
  for (const node of document.querySelectorAll("[data-countdown]")) {
    const left = Number(node.dataset.countdown) - Date.now() / 1000;
    node.textContent = left > 0 ? "in " + describe(left) : "due now";
  }
}

// -- the instances table -----------------------------------------------------------------

function cell(row, text, className) {
  const td = row.insertCell();
  if (className) {
    const badge = document.createElement("span");
    badge.className = className;
    badge.textContent = text;
    td.appendChild(badge);
  } else {
    td.textContent = text;
  }
  return td;
}

function instanceRow(tbody, item) {
  const row = tbody.insertRow();
  const link = document.createElement("a");
  link.href = "/ui/instances/" + encodeURIComponent(item.instance_id);
  link.textContent = item.instance_id;
  row.insertCell().appendChild(link);
  cell(row, item.workflow);
  cell(row, item.status.replaceAll("_", " "), "st st-" + item.status);
  cell(row, item.waiting ? item.waiting.event_type || "timer" : "");
  const time = document.createElement("time");
  time.setAttribute("datetime", item.created_at);
  row.insertCell().appendChild(time);
}

function renderInstances(table, page) {
  const tbody = table.tBodies[0];
  tbody.replaceChildren();
  for (const item of page.instances) instanceRow(tbody, item);
  localTimes(tbody);
  document.getElementById("empty").hidden = page.instances.length > 0;
  let total = 0;
  for (const node of document.querySelectorAll("[data-count]")) {
    const status = node.dataset.count;
    if (status) { node.textContent = page.counts[status] || 0; total += page.counts[status] || 0; }
  }
  const all = document.querySelector('[data-count=""]');
  if (all) all.textContent = total;
  const older = document.getElementById("older");
  const params = givenParams(location.search);
  if (page.next) params.set("after", page.next);
  older.href = "?" + params.toString();
  older.hidden = !page.next;
}

// The filters that are set: an empty one means "any", which GET /instances says by leaving it out.
function givenParams(search) {
  const params = new URLSearchParams(search);
  for (const [key, value] of [...params]) if (!value.trim()) params.delete(key);
  return params;
}

// GET /instances for this page's filters, with the counts per status.
function pollUrl(table) {
  const params = givenParams(location.search);
  params.set("limit", table.dataset.limit);
  params.set("counts", "true");
  return table.dataset.poll + "?" + params.toString();
}

function watchInstances(table) {
  const form = document.getElementById("filters");
  const refresh = async () => {
    if (document.hidden) return;
    try {
      renderInstances(table, await getJson(pollUrl(table)));
    } catch (error) {
      showNotice("cannot refresh: " + error.message, true);
    }
  };
  const applyFilters = () => {
    const params = givenParams(new URLSearchParams(new FormData(form)));
    history.replaceState(null, "", "?" + params.toString());
    refresh();
  };
  form.addEventListener("submit", (event) => { event.preventDefault(); applyFilters(); });
  form.addEventListener("change", applyFilters);
  let typing;
  form.q.addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(applyFilters, 250); });
  setInterval(refresh, POLL_MS);
}

// -- one instance --------------------------------------------------------------------------

// Polls GET /instances/{id}; when the instance or its near misses changed, swaps in the server's
// rendering of that same answer.
async function refreshDetail(holder, force) {
  const current = holder.querySelector(".detail");
  const item = await getJson(holder.dataset.poll);
  const misses = item.near_misses.map((miss) => miss.seq).join(",");
  if (!force && item.status === current.dataset.status && item.updated_at === current.dataset.updated
      && misses === current.dataset.misses) return;
  const response = await fetch(holder.dataset.fragment, { credentials: "same-origin" });
  if (!response.ok) return;
  holder.innerHTML = await response.text();  // our own template's output, escaped by the server
  localTimes(holder);
  tickCountdowns();
}

function watchDetail(holder) {
  setInterval(() => {
    if (!document.hidden) refreshDetail(holder, false).catch((error) => showNotice("cannot refresh: " + error.message, true));
  }, POLL_MS);
}

// -- actions -------------------------------------------------------------------------------

function actionBody(form) {
  const kind = form.dataset.kind;
  if (kind === "event") {
    const text = form.elements.data.value.trim();
    const target = form.elements.instance;
    return { type: form.elements.type.value, data: text ? JSON.parse(text) : null,
             instance: target && target.checked ? target.value : null };
  }
  if (kind === "tick") return { advance: form.elements.advance.value };
  if (kind === "start") {
    const args = {};
    for (const input of form.querySelectorAll("[data-argument]")) args[input.name] = input.value;
    return { arguments: args, instance_id: form.elements.instance_id.value.trim() || null };
  }
  return {};
}

async function runAction(form) {
  if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
  let body;
  try {
    body = actionBody(form);
  } catch (error) {
    showNotice("the data is not valid JSON: " + error.message, true);
    return;
  }
  const button = form.querySelector("button");
  button.disabled = true;
  try {
    const answer = await postJson(form.dataset.action, body);
    if (form.dataset.kind === "start" || (form.dataset.kind === "trigger" && answer.instance_id)) {
      location.assign("/ui/instances/" + encodeURIComponent(answer.instance_id));
      return;
    }
    if (form.dataset.kind === "schedule") {
      location.reload();
      return;
    }
    if (form.dataset.kind === "trigger") {
      showNotice("slot " + answer.slot + " " + answer.status + ": the previous run has not ended (overlap policy)");
      return;
    }
    showNotice(form.dataset.kind === "event" ? "event sent: resumed " + answer.resumed.length + " instance(s)" : "done");
    const holder = document.getElementById("detail");
    if (holder) await refreshDetail(holder, true);
  } catch (error) {
    showNotice(error.message, true);
  } finally {
    button.disabled = false;
  }
}

document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-action]");
  if (!form) return;
  event.preventDefault();
  runAction(form);
});

document.addEventListener("DOMContentLoaded", () => {
  localTimes(document);
  tickCountdowns();
  setInterval(tickCountdowns, 1000);
  const table = document.getElementById("instances");
  if (table) watchInstances(table);
  const holder = document.getElementById("detail");
  if (holder) watchDetail(holder);
});
