// The API tab: an Explore API v2.1 console. The form gives the URL (with the page's filters),
// a curl command, Python and JavaScript snippets, and sends the request to show the answer.
(function () {
  "use strict";
  const form = document.getElementById("console");
  const text = JSON.parse(form.dataset.i18n);
  const fixed = new URLSearchParams(form.dataset.filters);
  // The facets endpoint counts only the fields it is asked for: the console asks for the ones
  // the table's filters show, so its first answer is not an empty list.
  const facets = JSON.parse(form.dataset.facets || "[]");
  const $ = (id) => document.getElementById(id);
  // The page's filters (its search box as qv1, refine, exclude) ride along as they are, beside
  // the clauses the form writes.

  function address() {
    const endpoint = form.endpoint.value;
    const params = new URLSearchParams();
    if (endpoint) {
      const clauses = endpoint === "/facets" ? ["where"] : ["select", "where", "group_by", "order_by"];
      clauses.forEach((name) => { if (form[name].value.trim()) params.append(name, form[name].value.trim()); });
      if (endpoint === "/records" && form.limit.value !== "") params.append("limit", form.limit.value);
      if (endpoint === "/facets") facets.forEach((name) => params.append("facet", name));
      fixed.forEach((value, key) => params.append(key, value));
    }
    const query = params.toString();
    return location.origin + form.dataset.api + endpoint + (query ? "?" + query : "");
  }
  // "Copied" is of the URL that was copied: an edit since makes it a lie, the button says "Copy" again.
  const copyLabel = $("a-copy").textContent;
  function update() {
    const u = address();
    if ($("a-url").value !== u) $("a-copy").textContent = copyLabel;
    $("a-url").value = u;
    // A private portal's scripts send an API key (the page's own requests carry its session).
    const key = form.dataset.key;
    const header = key ? `Apikey ${key}` : "";
    $("a-curl").textContent = `curl ${header ? `-H 'Authorization: ${header}' ` : ""}'${u.replace(/'/g, "'\\''")}'`;
    $("a-python").textContent = `import requests\n\nresponse = requests.get(${JSON.stringify(u)}${header ? `, headers={"Authorization": ${JSON.stringify(header)}}` : ""})\nresponse.raise_for_status()\nprint(response.json())`;
    $("a-js").textContent = `const response = await fetch(${JSON.stringify(u)}${header ? `, {headers: {Authorization: ${JSON.stringify(header)}}}` : ""});\nconst data = await response.json();\nconsole.log(data);`;
  }
  async function run(event) {
    event.preventDefault();
    const out = $("a-response");
    out.textContent = "…";
    try {
      const response = await fetch(address());
      const type = response.headers.get("content-type") || "";
      const body = type.includes("json") ? JSON.stringify(await response.json(), null, 2) : (await response.text()).slice(0, 20000);
      out.textContent = `HTTP ${response.status}\n\n${body}`;
    } catch (error) {
      out.textContent = `${text.error}${text.colon} ${error.message}`; // "Error:", "Erreur :"
    }
  }
  async function copy() {
    const field = $("a-url");
    try {
      await navigator.clipboard.writeText(field.value);
    } catch (error) { // no clipboard permission: select the text for Ctrl+C
      field.select();
    }
    $("a-copy").textContent = text.copied;
  }
  form.addEventListener("input", update);
  form.addEventListener("change", update);
  form.addEventListener("submit", run);
  $("a-copy").addEventListener("click", copy);
  update();
  // Back to this page, the browser refills the fields after this script ran (or shows the page
  // from its cache): compute again, so the URL and the snippets match what the fields say.
  window.addEventListener("pageshow", update);
})();
