// The billing console's pages: each fills #content from the REST API under <root>/api/v1,
// with the user's Airflow login (the UI's cookie). Changes carry If-Match: a change someone
// else made first is shown, never overwritten.
"use strict";

const app = document.getElementById("app");
const ROOT = app.dataset.root;
const UI = app.dataset.ui;
const MAY_CHANGE = app.dataset.mayChange === "true";
const CATALOGUE = JSON.parse(document.getElementById("catalogue").textContent);
const content = document.getElementById("content");
const notice = document.getElementById("notice");
const params = new URLSearchParams(location.search);

// --- helpers ---

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

async function api(method, path, { body, etag, query } = {}) {
  const url = new URL(`${ROOT}/api/v1${path}`, location.origin);
  for (const [k, v] of Object.entries(query || {})) if (v !== null && v !== undefined && v !== "") url.searchParams.set(k, v);
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (etag) headers["If-Match"] = etag;
  const response = await fetch(url, { method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { detail: text }; }
  return { status: response.status, ok: response.ok, data, etag: response.headers.get("ETag") };
}

function say(kind, ...message) {
  notice.className = kind;
  notice.replaceChildren(...message);
}

function failed(result, what) {
  const detail = (result.data && result.data.detail) || `HTTP ${result.status}`;
  say("error", `${what}: ${detail}`);
}

function uiLink(path, text) {
  return el("a", { href: `${UI}/${path}`, target: "_top" }, text);
}

function runLink(dagId, runId) {
  return runId ? uiLink(`dags/${encodeURIComponent(dagId)}/runs/${encodeURIComponent(runId)}`, runId) : el("span", { class: "muted" }, "—");
}

function taskLink(v) {
  if (!v.run_id) return el("span", { class: "muted" }, "not written by a task");
  const path = `dags/${encodeURIComponent(v.dag_id)}/runs/${encodeURIComponent(v.run_id)}/tasks/${encodeURIComponent(v.task_id)}` + (v.map_index >= 0 ? `/mapped/${v.map_index}` : "");
  return uiLink(path, `${v.task_id}${v.map_index >= 0 ? ` [${v.map_index}]` : ""} (log)`);
}

function badge(state) {
  return el("span", { class: `badge ${state}` }, state);
}

function table(columns, rows, rowClass) {
  return el("table", {},
    el("thead", {}, el("tr", {}, columns.map((c) => el("th", { class: c.num ? "num" : null, scope: "col" }, c.title)))),
    el("tbody", {}, rows.map((row) => el("tr", { class: rowClass ? rowClass(row) : null },
      columns.map((c) => { const cell = c.cell(row); return cell instanceof Node && cell.tagName === "TD" ? cell : el("td", { class: c.num ? "num" : null }, cell); })))));
}

function field(label, input, path) {
  if (input.type === "checkbox") return el("label", { class: "field check", dataset: { path } }, input, el("span", {}, label));
  return el("label", { class: "field", dataset: { path } }, el("span", {}, label), input);
}

function showProblems(form, problems) {
  form.querySelectorAll(".problem").forEach((p) => p.remove());
  form.querySelectorAll(".has-problem").forEach((p) => p.classList.remove("has-problem"));
  const unplaced = [];
  for (const problem of problems || []) {
    let target = null;
    let path = problem.path;
    while (path && !target) {  // the field itself, else the nearest enclosing one (a region, a location)
      target = form.querySelector(`[data-path="${CSS.escape(path)}"]`);
      path = path.replace(/(\.[^.[\]]+|\[\d+\])$/, "") === path ? "" : path.replace(/(\.[^.[\]]+|\[\d+\])$/, "");
    }
    if (target) {
      target.classList.add("has-problem");
      target.append(el("div", { class: "problem" }, problem.message));
    } else unplaced.push(`${problem.path}: ${problem.message}`);
  }
  return unplaced;
}

async function save(form, method, path, body, etag, comment, onSaved) {
  const result = await api(method, path, { body, etag, query: { comment } });
  if (result.ok) {
    showProblems(form, []);
    say("ok", `Saved as revision ${result.data.revision.number}` + (result.data.changed ? "" : " (nothing changed)") + ".");
    onSaved(result);
  } else if (result.status === 422) {
    const unplaced = showProblems(form, result.data.problems);
    say("error", `Not saved: ${result.data.problems.length} problem(s), shown next to their fields.` + (unplaced.length ? " " + unplaced.join("; ") : ""));
    const first = form.querySelector(".has-problem");
    if (first) { first.scrollIntoView({ block: "center" }); (first.querySelector("input, select") || first).focus({ preventScroll: true }); }
  } else if (result.status === 412) {
    say("warn", `Not saved: someone else changed the configuration first (revision ${result.data.current_revision} is current). `,
      "Your changes are still in the form; ", el("button", { class: "secondary", type: "button", onclick: () => location.reload() }, "reload"), " to see theirs.");
  } else if (result.status === 403) {
    say("error", `Not saved: ${result.data.detail}`);
  } else failed(result, "Not saved");
}

function changeBar(form, onSave) {
  const comment = el("input", { type: "text", name: "comment", placeholder: "why (kept with the revision)", maxlength: 2000 });
  const button = el("button", { type: "submit", disabled: !MAY_CHANGE }, "Save");
  form.addEventListener("submit", (event) => { event.preventDefault(); onSave(comment.value); });
  return el("div", { class: "toolbar" }, el("label", { class: "field" }, el("span", {}, "Comment"), comment), button,
    MAY_CHANGE ? null : el("span", { class: "muted" }, "Read only: saving needs a user who may change Airflow's configuration or variables (Op or Admin)."));
}

// --- Tenants ---

async function tenantsPage() {
  const result = await api("GET", "/console/tenants");
  if (!result.ok) return failed(result, "Tenants could not be read");
  const search = el("input", { type: "search", placeholder: "Search by name, id, Billable…", "aria-label": "Search tenants" });
  const holder = el("div");
  const columns = [
    { title: "Tenant", cell: (t) => el("a", { href: `${ROOT}/console/tenants/${t.tenant_id}` }, t.name) },
    { title: "Id", num: true, cell: (t) => t.tenant_id },
    { title: "Billable", cell: (t) => t.billable },
    { title: "Enabled", cell: (t) => (t.enabled ? "yes" : "no") },
    { title: "Transmission", cell: (t) => (t.online ? "online" : badge("offline")) },
    { title: "Production date", cell: (t) => t.production_date || "—" },
    { title: "Time zone", cell: (t) => t.time_zone },
    { title: "Last billed day", cell: (t) => (t.last_billed_day ? el("a", { href: `${ROOT}/console/results?tenant_id=${t.tenant_id}` }, t.last_billed_day) : "—") },
    { title: "Last run", cell: (t) => (t.last_run ? el("span", {}, badge(t.last_run.state), " ", runLink(t.last_run.dag_id, t.last_run.run_id)) : "—") },
    { title: "Open flags", num: true, cell: (t) => (t.open_flags ? el("a", { href: `${ROOT}/console/anomalies?tenant_id=${t.tenant_id}` }, t.open_flags) : "0") },
    { title: "Held", cell: (t) => (t.held.length ? el("span", {}, badge("held"), " ", t.held.map((p) => el("a", { href: `${ROOT}/console/files?tenant_id=${t.tenant_id}&period=${p}` }, p)).reduce((a, b) => [...a, ", ", b], []).slice(1)) : "—") },
  ];
  const draw = () => {
    const words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    const rows = result.data.filter((t) => words.every((w) => `${t.name} ${t.tenant_id} ${t.billable} ${t.time_zone}`.toLowerCase().includes(w)));
    holder.replaceChildren(table(columns, rows), el("p", { class: "muted" }, `${rows.length} of ${result.data.length} tenant(s)`));
  };
  search.addEventListener("input", draw);
  draw();
  content.replaceChildren(el("div", { class: "toolbar" }, search, MAY_CHANGE ? el("a", { href: `${ROOT}/console/tenants/new` }, "New tenant") : null), holder);
}

function textInput(name, value, extra = {}) {
  return el("input", { type: "text", name, value: value ?? "", ...extra });
}

// A field left blank is left out of the body: the configuration's default applies (the shared connection).
function given(name, text) {
  return text.trim() ? { [name]: text.trim() } : {};
}

function regionEditor(regions) {
  const list = el("div");
  const csv = (items) => (items || []).join(", ");
  const addLocation = (box, loc, path) => {
    const row = el("fieldset", { class: "location", dataset: { path } },
      el("legend", {}, "Location"),
      el("div", { class: "columns" },
        field("Code", textInput("code", loc.code), `${path}.code`),
        field("Name", textInput("name", loc.name), `${path}.name`),
        field("Switches (comma-separated)", textInput("switches", csv(loc.switches)), `${path}.switches`),
        field("GVP components (comma-separated)", textInput("gvp_components", csv(loc.gvp_components)), `${path}.gvp_components`),
        field("GVP Reporting Server connection", textInput("gvp_conn_id", loc.gvp_conn_id, { placeholder: "bds_gvp" }), `${path}.gvp_conn_id`),
        field("Enabled", el("input", { type: "checkbox", name: "enabled", checked: loc.enabled !== false }), `${path}.enabled`)),
      el("button", { type: "button", class: "secondary", onclick: () => { row.remove(); renumber(); } }, "Remove location"));
    box.append(row);
  };
  const addRegion = (region) => {
    const i = list.children.length;
    const locations = el("div", { class: "locations" });
    const box = el("fieldset", { class: "region", dataset: { path: `regions[${i}]` } },
      el("legend", {}, "Region"),
      el("div", { class: "columns" },
        field("Code", textInput("code", region.code), `regions[${i}].code`),
        field("Enabled", el("input", { type: "checkbox", name: "enabled", checked: region.enabled !== false }), `regions[${i}].enabled`)),
      locations,
      el("button", { type: "button", class: "secondary", onclick: () => { addLocation(locations, {}, ""); renumber(); } }, "Add location"), " ",
      el("button", { type: "button", class: "secondary", onclick: () => { box.remove(); renumber(); } }, "Remove region"));
    (region.locations || []).forEach((loc, j) => addLocation(locations, loc, `regions[${i}].locations[${j}]`));
    list.append(box);
  };
  // Paths follow the order on screen, as the API's problems do.
  const renumber = () => {
    [...list.children].forEach((box, i) => {
      box.dataset.path = `regions[${i}]`;
      box.querySelectorAll(":scope > .columns > [data-path]").forEach((f) => { f.dataset.path = `regions[${i}].${f.dataset.path.split(".").pop()}`; });
      [...box.querySelector(".locations").children].forEach((loc, j) => {
        loc.dataset.path = `regions[${i}].locations[${j}]`;
        loc.querySelectorAll("[data-path]").forEach((f) => { f.dataset.path = `regions[${i}].locations[${j}].${f.dataset.path.split(".").pop()}`; });
      });
    });
  };
  regions.forEach(addRegion);
  const read = () => [...list.children].map((box) => ({
    code: box.querySelector(":scope > .columns [name=code]").value,
    enabled: box.querySelector(":scope > .columns [name=enabled]").checked,
    locations: [...box.querySelector(".locations").children].map((loc) => ({
      code: loc.querySelector("[name=code]").value, name: loc.querySelector("[name=name]").value,
      enabled: loc.querySelector("[name=enabled]").checked,
      switches: loc.querySelector("[name=switches]").value.split(",").map((s) => s.trim()).filter(Boolean),
      gvp_components: loc.querySelector("[name=gvp_components]").value.split(",").map((s) => s.trim()).filter(Boolean),
      ...given("gvp_conn_id", loc.querySelector("[name=gvp_conn_id]").value),
    })),
  }));
  const node = el("div", { dataset: { path: "regions" } }, list,
    el("button", { type: "button", class: "secondary", onclick: () => { addRegion({ locations: [{}] }); renumber(); } }, "Add region"));
  return { node, read };
}

async function tenantPage() {
  const id = app.dataset.tenantId;
  const creating = !id;
  const result = creating ? await api("GET", "/configuration") : await api("GET", `/tenants/${id}`);
  if (!result.ok) return failed(result, creating ? "The configuration could not be read" : `Tenant ${id} could not be read`);
  let etag = result.etag || `"${result.data.number}"`;
  const t = creating ? { billable: "PureConnect", enabled: true, time_zone: "UTC", regions: [], metrics: {} } : result.data;
  document.querySelector("h1").textContent = creating ? "New tenant" : `Tenant ${t.name} (${t.tenant_id})`;
  const billable = el("select", { name: "billable" }, CATALOGUE.billable.map((b) => el("option", { value: b, selected: b === t.billable }, b)));
  const regions = regionEditor(t.regions || []);
  const metrics = CATALOGUE.metrics.map((m) => field(m.title, el("input", { type: "checkbox", name: `metric:${m.key}`, checked: (t.metrics || {})[m.key] === true }), `metrics.${m.key}`));
  const form = el("form", { novalidate: true },
    el("div", { class: "columns" },
      field("Tenant id (DBID)", el("input", { type: "number", name: "tenant_id", value: t.tenant_id ?? "", disabled: !creating, min: 1 }), "tenant_id"),
      field("Name", textInput("name", t.name), "name"),
      field("Billable", billable, "billable"),
      field("GARN", textInput("garn", t.garn), "garn"),
      field("Tier1 Account Id", textInput("tier1_account_id", t.tier1_account_id), "tier1_account_id"),
      field("Tier2 Account Id", textInput("tier2_account_id", t.tier2_account_id), "tier2_account_id"),
      field("Tier3 Account Id", textInput("tier3_account_id", t.tier3_account_id), "tier3_account_id"),
      field("Tier3 Account Name", textInput("tier3_account_name", t.tier3_account_name), "tier3_account_name"),
      field("External Id", textInput("external_id", t.external_id), "external_id"),
      field("Source Id", textInput("source_id", t.source_id), "source_id"),
      field("Time zone (IANA)", textInput("time_zone", t.time_zone), "time_zone"),
      field("Production date", el("input", { type: "date", name: "production_date", value: t.production_date || "" }), "production_date"),
      field("Enabled", el("input", { type: "checkbox", name: "enabled", checked: t.enabled !== false }), "enabled"),
      field("Online: its files are sent", el("input", { type: "checkbox", name: "online", checked: t.online !== false }), "online"),
      field("Info Mart connection", textInput("info_mart_conn_id", t.info_mart_conn_id, { placeholder: "bds_gim" }), "info_mart_conn_id"),
      field("Configuration connection", textInput("configuration_conn_id", t.configuration_conn_id, { placeholder: "bds_cme" }), "configuration_conn_id")),
    el("p", { class: "muted" }, "On premises, the account ids, External Id and Source Id stay blank. A blank connection is the shared one."),
    el("h2", {}, "Regions, locations, switches and GVP components"), regions.node,
    el("h2", {}, "Metrics"), el("div", { class: "columns", dataset: { path: "metrics" } }, metrics));
  const value = (name) => form.querySelector(`[name="${name}"]`);
  form.append(changeBar(form, (comment) => {
    const body = {
      tenant_id: Number(value("tenant_id").value) || value("tenant_id").value, name: value("name").value, billable: value("billable").value,
      garn: value("garn").value, tier1_account_id: value("tier1_account_id").value, tier2_account_id: value("tier2_account_id").value,
      tier3_account_id: value("tier3_account_id").value, tier3_account_name: value("tier3_account_name").value,
      external_id: value("external_id").value, source_id: value("source_id").value, time_zone: value("time_zone").value,
      production_date: value("production_date").value || null, enabled: value("enabled").checked, online: value("online").checked, regions: regions.read(),
      ...given("info_mart_conn_id", value("info_mart_conn_id").value), ...given("configuration_conn_id", value("configuration_conn_id").value),
      metrics: Object.fromEntries(CATALOGUE.metrics.map((m) => [m.key, value(`metric:${m.key}`).checked])),
    };
    if (creating) save(form, "POST", "/tenants", body, etag, comment, (r) => { location.href = `${ROOT}/console/tenants/${body.tenant_id}?saved=${r.data.revision.number}`; });
    else save(form, "PUT", `/tenants/${id}`, body, etag, comment, (r) => { etag = r.etag || `"${r.data.revision.number}"`; });
  }));
  if (params.get("saved")) say("ok", `Saved as revision ${params.get("saved")}.`);
  content.replaceChildren(form);
}

// --- Global Settings and Global Events ---

function schemaOf(schema, node) {
  return node && node.$ref ? schema.$defs[node.$ref.split("/").pop()] : node;
}

function human(key) {
  const text = key.replace(/_/g, " ").replace(/\bid\b/g, "id").replace(/\bkms\b/g, "KMS").replace(/\bgim\b/g, "Info Mart").replace(/\bgvp\b/g, "GVP");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function settingsFields(schema, node, values, path) {
  const nested = [], scalars = [];
  for (const [key, value] of Object.entries(values)) {
    const here = path ? `${path}.${key}` : key;
    const spec = schemaOf(schema, (node.properties || {})[key] || {});
    const choices = spec.enum || (spec.anyOf || []).flatMap((a) => schemaOf(schema, a).enum || []);
    const kinds = [spec.type, ...(spec.anyOf || []).map((a) => schemaOf(schema, a).type)];
    const numeric = kinds.includes("integer") || kinds.includes("number");
    const labelled = (input) => {
      const box = field(human(key), input, here);
      if (spec.description) box.append(el("div", { class: "muted" }, spec.description));
      return box;
    };
    if (value !== null && typeof value === "object" && !Array.isArray(value)) {
      nested.push(el("fieldset", { dataset: { path: here } }, el("legend", {}, human(key)), el("div", { class: "columns" }, settingsFields(schema, spec, value, here))));
    } else if (Array.isArray(value)) {  // a set of choices (approvals.hold_on): one box each
      const options = schemaOf(schema, spec.items || {}).enum || schemaOf(schema, (spec.items || {}).anyOf?.[0] || {}).enum || value;
      scalars.push(labelled(el("span", { class: "choices", dataset: { path: here, kind: "list" } },
        options.map((c) => el("label", {}, el("input", { type: "checkbox", name: `${here}:${c}`, value: c, checked: value.includes(c) }), ` ${c} `)))));
    } else if (typeof value === "boolean") {
      scalars.push(labelled(el("input", { type: "checkbox", name: here, checked: value, dataset: { kind: "boolean" } })));
    } else if (choices.length) {
      scalars.push(labelled(el("select", { name: here }, choices.map((c) => el("option", { value: c, selected: c === value }, c)))));
    } else if (typeof value === "number" || (value === null && numeric)) {  // blank: none, where none is allowed
      scalars.push(labelled(el("input", { type: "number", name: here, value: value ?? "", step: "any", dataset: { kind: "number", nullable: kinds.includes("null") } })));
    } else {
      scalars.push(labelled(textInput(here, value)));
    }
  }
  // At the top, the settings that belong to no group are the runs' own.
  return path ? [...scalars, ...nested] : [...nested, el("fieldset", {}, el("legend", {}, "Runs"), el("div", { class: "columns" }, scalars))];
}

function readSettings(form, values, path) {
  const out = {};
  for (const [key, value] of Object.entries(values)) {
    const here = path ? `${path}.${key}` : key;
    if (value !== null && typeof value === "object" && !Array.isArray(value)) out[key] = readSettings(form, value, here);
    else if (Array.isArray(value)) {
      const boxes = form.querySelector(`[data-path="${CSS.escape(here)}"][data-kind="list"]`).querySelectorAll("input[type=checkbox]");
      out[key] = [...boxes].filter((b) => b.checked).map((b) => b.value);
    } else {
      const input = form.querySelector(`[name="${CSS.escape(here)}"]`);
      const blank = input.dataset.nullable === "true" ? null : input.value;
      out[key] = input.type === "checkbox" ? input.checked : input.dataset.kind === "number" ? (input.value === "" ? blank : Number(input.value)) : input.value;
    }
  }
  return out;
}

async function settingsPage() {
  const result = await api("GET", "/settings");
  if (!result.ok) return failed(result, "The settings could not be read");
  let etag = result.etag;
  const schema = CATALOGUE.settings_schema;
  const form = el("form", { novalidate: true }, el("p", { class: "muted" }, "The billing server (where files are sent), the runs' timing, the sources' readiness and the anomaly thresholds."),
    settingsFields(schema, schema, result.data, ""));
  form.append(changeBar(form, (comment) => save(form, "PUT", "/settings", readSettings(form, result.data, ""), etag, comment, (r) => { etag = r.etag; })));
  content.replaceChildren(form);
}

async function eventsPage() {
  const result = await api("GET", "/events");
  if (!result.ok) return failed(result, "The events could not be read");
  let etag = result.etag;
  const box = el("input", { type: "checkbox", name: "billing_process_enabled", checked: result.data.billing_process_enabled });
  const form = el("form", { novalidate: true },
    field("Billing process enabled: the daily and monthly runs produce files", box, "billing_process_enabled"));
  form.append(changeBar(form, (comment) => save(form, "PUT", "/events", { billing_process_enabled: box.checked }, etag, comment, (r) => { etag = r.etag; })));
  content.replaceChildren(form);
}

// --- History ---

function shortValue(value) {
  if (value === null || value === undefined) return "—";
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return text.length > 160 ? text.slice(0, 157) + "…" : text;
}

async function historyPage() {
  const result = await api("GET", "/revisions", { query: { limit: 200 } });
  if (!result.ok) return failed(result, "The revisions could not be read");
  const revisions = result.data;
  const diffHolder = el("div");
  const pick = (name, number, checked) => el("input", { type: "radio", name, value: number, checked, "aria-label": `${name} revision ${number}` });
  const columns = [
    { title: "From", cell: (r) => pick("from", r.number, r.number === (revisions[1] || revisions[0] || {}).number) },
    { title: "To", cell: (r) => pick("to", r.number, r.number === (revisions[0] || {}).number) },
    { title: "Revision", num: true, cell: (r) => r.number },
    { title: "Time (UTC)", cell: (r) => r.created_at },
    { title: "Author", cell: (r) => r.author },
    { title: "Origin", cell: (r) => r.origin + (r.restored_from ? ` of ${r.restored_from}` : "") },
    { title: "Comment", cell: (r) => r.comment },
  ];
  const compare = async () => {
    const from = content.querySelector("input[name=from]:checked");
    const to = content.querySelector("input[name=to]:checked");
    if (!from || !to) return;
    const diff = await api("GET", `/revisions/${to.value}/diff`, { query: { against: from.value } });
    if (!diff.ok) return failed(diff, "The revisions could not be compared");
    diffHolder.replaceChildren(el("h2", {}, `From revision ${diff.data.from_revision} to ${diff.data.to_revision}`),
      diff.data.changes.length ? table([
        { title: "Tenant", cell: (c) => (c.tenant_id === null ? "settings" : c.tenant_id) },
        { title: "Field", cell: (c) => el("code", {}, c.path) },
        { title: "Change", cell: (c) => c.change },
        { title: "Before", cell: (c) => el("span", { class: "diff-old" }, shortValue(c.old)) },
        { title: "After", cell: (c) => el("span", { class: "diff-new" }, shortValue(c.new)) },
      ], diff.data.changes) : el("p", { class: "muted" }, "No difference."));
  };
  content.replaceChildren(el("div", { class: "toolbar" }, el("button", { type: "button", onclick: compare }, "Compare selected")),
    table(columns, revisions), diffHolder);
  if (revisions.length > 1) compare();
}

// --- Results ---

const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"];

async function tenantChooser(selected) {
  const result = await api("GET", "/console/tenants");
  const tenants = result.ok ? result.data : [];
  const select = el("select", { name: "tenant_id", "aria-label": "Tenant" },
    tenants.map((t) => el("option", { value: t.tenant_id, selected: String(t.tenant_id) === String(selected) }, `${t.name} (${t.tenant_id})`)));
  return { select, tenants };
}

async function resultsPage() {
  const { select, tenants } = await tenantChooser(params.get("tenant_id"));
  if (!tenants.length) return content.replaceChildren(el("p", { class: "muted" }, "No tenant is configured."));
  const start = el("input", { type: "date", name: "start", value: params.get("start") || "" });
  const end = el("input", { type: "date", name: "end", value: params.get("end") || "" });
  const holder = el("div");
  const go = (event) => {
    if (event) event.preventDefault();
    const query = new URLSearchParams({ tenant_id: select.value, ...(start.value && { start: start.value }), ...(end.value && { end: end.value }) });
    history.replaceState(null, "", `?${query}`);
    drawResults(holder, select.value, start, end);
  };
  content.replaceChildren(el("form", { class: "toolbar", onsubmit: go },
    field("Tenant", select, "tenant_id"), field("From", start, "start"), field("To", end, "end"), el("button", { type: "submit" }, "Show")), holder);
  go();
}

async function drawResults(holder, tenantId, start, end) {
  const result = await api("GET", `/ledger/tenants/${tenantId}/results`, { query: { start: start.value, end: end.value } });
  if (!result.ok) return failed(result, "The results could not be read");
  say("", "");
  const r = result.data;
  start.value = r.start; end.value = r.end;
  const missing = new Set(r.missing_days);
  const label = (s) => `${s.metric} ${s.region} ${s.count}`;
  const columns = [{ title: "Day", cell: (d) => (d.month ? `Month ${d.month}` : d.day) }, ...r.series.map((s) => ({
    title: label(s), num: true,
    cell: (d) => {
      if (d.month) return s.months[d.month] ?? "—";
      if (d.day in s.days) return el("td", { class: `num${s.peak_days[d.day.slice(0, 7)] === d.day ? " peak" : ""}`, title: s.peak_days[d.day.slice(0, 7)] === d.day ? "the month's peak day" : null }, s.days[d.day]);
      return missing.has(d.day) ? el("td", { class: "missing num" }, "missing") : el("td", { class: "num muted" }, "—");
    },
  }))];
  const months = [...new Set(r.series.flatMap((s) => Object.keys(s.months)))].sort();
  const rows = [...r.days.map((day) => ({ day })), ...months.map((month) => ({ month }))];
  const charts = el("div");
  holder.replaceChildren(
    el("p", { class: "muted" }, `${r.days.length} day(s); last billed day ${r.last_billed_day || "none"}; ${r.missing_days.length} missing day(s)` + (r.missing_days.length ? `: ${r.missing_days.join(", ")}` : "") + ". The month's peak day is in bold."),
    el("h2", {}, "Charts"), charts, el("h2", {}, "Counts"),
    r.series.length ? table(columns, rows, (d) => (d.month ? "month" : missing.has(d.day) ? "missing" : null)) : el("p", { class: "muted" }, "No billing file in this range."));
  const byMetric = {};
  for (const s of r.series) (byMetric[s.metric] ||= []).push(s);
  for (const [metric, series] of Object.entries(byMetric)) {
    const div = el("div", { class: "chart", dataset: { metric } });
    charts.append(div);
    const traces = [];
    series.forEach((s, i) => {
      // One colour per region and count: its daily line, its monthly value and its peak days.
      const color = PALETTE[i % PALETTE.length];
      const name = `${s.region} ${s.count}`;
      const common = { type: "scatter", legendgroup: name, line: { color }, marker: { color } };
      traces.push({ ...common, x: r.days, y: r.days.map((d) => (d in s.days ? s.days[d] : null)), name: `${name} daily`, mode: "lines+markers", connectgaps: false });
      const monthX = [], monthY = [];
      for (const [month, value] of Object.entries(s.months)) {
        const billed = Object.keys(s.days).filter((d) => d.startsWith(month)).sort();  // the month's value spans its billed days
        if (!billed.length) continue;
        monthX.push(billed[0], billed[billed.length - 1], null); monthY.push(value, value, null);
      }
      if (monthX.length) traces.push({ ...common, x: monthX, y: monthY, name: `${name} monthly`, mode: "lines", line: { color, dash: "dash" } });
      const peaks = Object.values(s.peak_days).filter((d) => r.days.includes(d));
      traces.push({ ...common, x: peaks, y: peaks.map((d) => s.days[d]), name: `${name} peak day`, mode: "markers", marker: { color, symbol: "star", size: 14 }, showlegend: false });
    });
    const shapes = r.missing_days.map((d) => ({ type: "rect", xref: "x", yref: "paper", x0: d, x1: d, y0: 0, y1: 1, line: { color: "rgba(197,48,48,.5)", width: 6 } }));
    Plotly.newPlot(div, traces, {
      title: { text: series[0].title }, height: 320, margin: { t: 40, r: 10, b: 40, l: 50 }, shapes,
      xaxis: { type: "date" }, yaxis: { rangemode: "tozero", title: { text: "count" } }, legend: { orientation: "h" },
    }, { displaylogo: false, responsive: true });
  }
}

// --- Anomalies ---

async function anomaliesPage() {
  const { select } = await tenantChooser(params.get("tenant_id"));
  select.prepend(el("option", { value: "", selected: !params.get("tenant_id") }, "every tenant"));
  const state = el("select", { name: "state", "aria-label": "Which flags" }, ["open", "acknowledged", "all"].map((s) => el("option", { value: s, selected: s === (params.get("state") || "open") }, s)));
  const holder = el("div");
  const draw = async () => {
    const result = await api("GET", "/ledger/anomalies", { query: { state: state.value, tenant_id: select.value, limit: 500 } });
    if (!result.ok) return failed(result, "The flags could not be read");
    holder.replaceChildren(el("p", { class: "muted" }, `${result.data.length} flag(s), newest first`), table([
      { title: "Period", cell: (f) => el("a", { href: `${ROOT}/console/files?tenant_id=${f.tenant_id}&period=${f.period}` }, f.period) },
      { title: "Tenant", num: true, cell: (f) => f.tenant_id },
      { title: "Flag", cell: (f) => el("span", { title: f.about }, f.kind) },
      { title: "What", cell: (f) => f.detail },
      { title: "Raised", cell: (f) => f.raised_at.slice(0, 19).replace("T", " ") },
      { title: "Acknowledged", cell: (f) => (f.acknowledged ? `${f.acknowledged.by}, ${f.acknowledged.at.slice(0, 19).replace("T", " ")}: ${f.acknowledged.comment}` : ackForm(f, draw)) },
    ], result.data));
  };
  for (const input of [select, state]) input.addEventListener("change", draw);
  content.replaceChildren(el("div", { class: "toolbar" }, field("Tenant", select, "tenant_id"), field("Flags", state, "state")), holder);
  draw();
}

function ackForm(flag, redraw) {
  const comment = el("input", { type: "text", placeholder: "comment", "aria-label": `comment on flag ${flag.id}`, maxlength: 2000 });
  const form = el("form", { class: "toolbar" }, comment, el("button", { type: "submit", disabled: !MAY_CHANGE }, "Acknowledge"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const result = await api("POST", `/ledger/anomalies/${flag.id}/acknowledge`, { body: { comment: comment.value } });
    if (!result.ok) return failed(result, "Not acknowledged");
    say("ok", `Acknowledged by ${result.data.by}.`);
    redraw();
  });
  return form;
}

// --- Files and transmission ---

async function filesPage() {
  const { select, tenants } = await tenantChooser(params.get("tenant_id"));
  if (!tenants.length) return content.replaceChildren(el("p", { class: "muted" }, "No tenant is configured."));
  const period = el("select", { name: "period", "aria-label": "Period" });
  const holder = el("div");
  const periods = async () => {
    const result = await api("GET", `/ledger/tenants/${select.value}/periods`);
    const wanted = params.get("period");
    const list = result.ok ? result.data : [];
    if (wanted && !list.includes(wanted)) list.unshift(wanted);
    period.replaceChildren(...list.map((p) => el("option", { value: p, selected: p === wanted }, p)));
  };
  const draw = async () => {
    if (!period.value) return holder.replaceChildren(el("p", { class: "muted" }, "No file for this tenant yet."));
    history.replaceState(null, "", `?tenant_id=${select.value}&period=${period.value}`);
    const result = await api("GET", `/ledger/tenants/${select.value}/files`, { query: { period: period.value } });
    if (!result.ok) return failed(result, "The files could not be read");
    const files = result.data.files.map((f) => fileCard(f, result.data.online));
    holder.replaceChildren(...(files.length ? files : [el("p", { class: "muted" }, "No file in this period.")]));
  };
  select.addEventListener("change", async () => { params.delete("period"); await periods(); draw(); });
  period.addEventListener("change", draw);
  content.replaceChildren(el("div", { class: "toolbar" }, field("Tenant", select, "tenant_id"), field("Period", period, "period")), holder);
  await periods();
  draw();
}

function versionBlock(v, online) {
  const state = v.state === "sent" ? el("span", {}, badge("sent"), ` and verified: ${v.s3_uri} at ${v.uploaded_at}`)
    : v.state === "failed" ? el("span", {}, badge("failed"), ` ${v.failure}`)
    : v.state === "held" ? el("span", {}, badge("held"), " for an approval: kept in the archive, not queued; bds_approvals asks whether to send it (Required Actions)")
    : v.state === "queued" && !online ? el("span", {}, badge("held"), " in the outbox: the tenant is offline; sent when it is online again")
    : v.state === "queued" ? el("span", {}, badge("queued"), " in the outbox, waiting for bds_transmit")
    : el("span", {}, badge("archived"), " kept in the archive, not sent");
  const download = `${ROOT}/api/v1/ledger/files/${encodeURIComponent(v.name)}/${v.sha256}`;
  return el("div", { class: v.current ? "file" : "file old", dataset: { sha256: v.sha256 } },
    el("div", {}, el("strong", {}, v.current ? "Current" : "Earlier version"), " · ", el("code", {}, v.name)),
    el("div", {}, `${v.rows} row(s), ${v.bytes} bytes · counts `, Object.entries(v.counts).map(([k, n]) => `${k} ${n}`).join(", ")),
    el("div", {}, "SHA-256 ", el("code", {}, v.sha256)),
    el("div", {}, `configuration revision ${v.config_revision ?? "—"} · written ${v.written_at.slice(0, 19).replace("T", " ")} by run `, runLink(v.dag_id, v.run_id), ", task ", taskLink(v)),
    el("div", {}, "State: ", state),
    v.changes && v.changes.length ? el("div", {}, "Restated from the version before: ", v.changes.map((c) => el("span", {}, `${c.count} `, el("span", { class: "diff-old" }, c.old ?? "—"), " → ", el("span", { class: "diff-new" }, c.new ?? "—"), " "))) : null,
    v.superseded_at ? el("div", { class: "muted" }, `Superseded ${v.superseded_at.slice(0, 19).replace("T", " ")}: ${v.superseded_reason || ""}`) : null,
    v.attempts.length ? el("details", {}, el("summary", {}, `${v.attempts.length} send attempt(s)`), el("ul", {}, v.attempts.map((a) => el("li", {}, `${a.at.slice(0, 19).replace("T", " ")} ${a.outcome}: ${a.detail}`)))) : null,
    el("div", {}, el("a", { href: download, download: v.name }, "Download")));
}

function fileCard(file, online) {
  return el("section", { dataset: { file: file.name } }, file.versions.map((v) => versionBlock(v, online)));
}

// --- start ---

const PAGES = { tenants: tenantsPage, tenant: tenantPage, settings: settingsPage, events: eventsPage, history: historyPage, results: resultsPage, anomalies: anomaliesPage, files: filesPage };
PAGES[app.dataset.page]().catch((error) => say("error", `This page failed: ${error}`));
