// The analyze tab: one chart from the chart form (its settings are in the page URL), drawn with
// Apache ECharts from the records API's group_by, so the chart always agrees with the API.
// The data also fill a table (the chart's text alternative) and a CSV link (the API's export
// of the same query). Without ECharts the table still fills.
(function () {
  "use strict";
  const el = document.getElementById("chart");
  if (!el) return; // a page answering an error (a bad filter in its URL) draws no chart
  const d = el.dataset;
  const cfg = JSON.parse(d.config);
  const types = JSON.parse(d.types);
  const text = JSON.parse(d.i18n);
  const labels = JSON.parse(d.labels || "{}"); // field name -> the label the publisher gave it
  const named = (field) => labels[field] || field;
  const status = document.getElementById("chart-status");
  const lang = document.documentElement.lang;
  // Numbers as the page's language writes them ("6 000" in French): ECharts writes English ("6,000").
  const numbers = new Intl.NumberFormat(lang);
  const number = (v) => (v === null || v === undefined || v === "-" ? "—" : numbers.format(v));
  // The Y values of a field's sum, mean… and the X values of a number field as the table writes
  // its cells ("80 000 €", numbers.js; data-units: routes.number_formats); a count is bare.
  const units = JSON.parse(d.units || "{}");
  const measured = (cfg.y === "count" || !cfg.yfield ? null : units[cfg.yfield]) || null;
  const inUnit = (text) => (measured && measured.unit && text !== "—" ? `${text}\u00a0${measured.unit}` : text);
  const yValue = (v) => (v === null || v === undefined || v === "-" ? "—" // tooltips, data table
    : measured ? window.portailNumber(Number(v), measured, lang) : number(v));
  const yTick = (v) => inUnit(number(v)); // the value axis: its unit, not the decimals of each tick
  const quote = (name) => "`" + name.replace(/[\\`]/g, "\\$&") + "`";
  // A pie draws one slice per X value: a series would cut each into several slices of the same name.
  const series = cfg.type === "pie" ? "" : cfg.series;

  // The columns of the chart's data, in the words the table shows: the X field, the series
  // field, the Y aggregate.
  function headers() {
    return [named(cfg.x)].concat(series ? [named(series)] : [],
      [cfg.y === "count" || !cfg.yfield ? text.count : `${text[cfg.y]} ${named(cfg.yfield)}`]);
  }

  // The records API's query; `names` are its output columns (x, s, y for the script to read).
  function query(names = { x: "x", s: "s", y: "y" }) {
    let x = quote(cfg.x);
    if (types[cfg.x] === "date" || types[cfg.x] === "datetime") {
      x = cfg.bucket === "year" ? `year(${x})` : `date_format(${x}, '${cfg.bucket === "month" ? "yyyy-MM" : "yyyy-MM-dd"}')`;
    }
    const y = cfg.y === "count" || !cfg.yfield ? "count(*)" : `${cfg.y}(${quote(cfg.yfield)})`;
    const group = [`${x} as ${quote(names.x)}`].concat(series ? [`${quote(series)} as ${quote(names.s)}`] : []).join(", ");
    return { select: `${y} as ${quote(names.y)}`, group_by: group, order_by: quote(names.x) };
  }
  // The CSV export names its columns as the table does (each name once: the API wants distinct ones).
  function exportQuery() {
    const seen = new Map();
    const names = headers().map((name) => {
      seen.set(name, (seen.get(name) || 0) + 1);
      return seen.get(name) > 1 ? `${name} (${seen.get(name)})` : name;
    });
    return query({ x: names[0], s: names[1], y: names[names.length - 1] });
  }
  function url(path, params) {
    return d.api + path + "?" + [new URLSearchParams(params).toString(), d.filters].filter(Boolean).join("&");
  }
  const shown = (field) => (v) => (v === null || v === undefined ? "—"
    : typeof v === "number" && units[field] ? window.portailNumber(v, units[field], lang) : String(v));
  // A date bucket as the table and the date facets write dates ("12 mars 2018", "1er mars 2018",
  // "mars 2018"; "March 12, 2018" in English): the API answers ISO text ("2018-03-12", "2018-03"),
  // which a French page showed as is. A year bucket is a number, shown as one.
  const dated = types[cfg.x] === "date" || types[cfg.x] === "datetime";
  const label = dated ? (v) => (v === null || v === undefined ? "—" : window.portailDate(v, lang)) // an X value
    : shown(cfg.x); // (36 mois, 2001: a year is never grouped)
  const seriesLabel = shown(series);

  function fillTable(rows) {
    const table = document.getElementById("chart-table");
    const head = table.createTHead().insertRow();
    headers().forEach((name) => {
      const th = document.createElement("th");
      th.scope = "col";
      th.textContent = name;
      head.appendChild(th);
    });
    const body = table.createTBody();
    rows.forEach((r) => {
      const row = body.insertRow();
      [label(r.x)].concat(series ? [seriesLabel(r.s)] : [], [yValue(Number(r.y))]).forEach((v) => { row.insertCell().textContent = v; });
    });
  }

  function option(rows) {
    const xs = [...new Set(rows.map((r) => label(r.x)))];
    const names = series ? [...new Set(rows.map((r) => seriesLabel(r.s)))].slice(0, 20) : [""];
    const kind = { column: "bar", bar: "bar", line: "line", area: "line", pie: "pie", scatter: "scatter" }[cfg.type] || "bar";
    // No ECharts aria: its English description would replace the page's localized aria-label
    // (the data table is the chart's text alternative).
    const base = { animation: false, tooltip: { trigger: kind === "pie" ? "item" : "axis", valueFormatter: yValue },
      legend: series ? { type: "scroll", bottom: 0 } : undefined, grid: { containLabel: true, left: 10, right: 20, bottom: 40 } };
    if (kind === "pie") {
      return Object.assign(base, { series: [{ type: "pie", radius: "65%", data: rows.map((r) => ({ name: label(r.x), value: Number(r.y) })) }] });
    }
    const drawn = names.map((name) => {
      const byX = new Map(rows.filter((r) => !series || seriesLabel(r.s) === name).map((r) => [label(r.x), Number(r.y)]));
      return { name: name, type: kind, areaStyle: cfg.type === "area" ? {} : undefined, stack: cfg.type === "area" && series ? "all" : undefined,
        data: xs.map((x) => (byX.has(x) ? byX.get(x) : null)) };
    });
    const category = { type: "category", data: xs };
    const value = { type: "value", axisLabel: { formatter: yTick } };
    return Object.assign(base, cfg.type === "bar" ? { xAxis: value, yAxis: category } : { xAxis: category, yAxis: value }, { series: drawn });
  }

  // Date bucketing applies to a date on the X axis only: offered when one is chosen.
  const xField = document.getElementById("c-x");
  const bucket = document.getElementById("c-bucket");
  function offerBucket() {
    const dated = types[xField.value] === "date" || types[xField.value] === "datetime";
    bucket.disabled = !dated;
    bucket.parentElement.hidden = !dated;
  }
  xField.addEventListener("change", offerBucket);
  // A pie has no series (see `series`): its select is off, so the form does not send one.
  const chartType = document.getElementById("c-type");
  const seriesField = document.getElementById("c-series");
  function offerSeries() {
    seriesField.disabled = chartType.value === "pie";
  }
  chartType.addEventListener("change", offerSeries);
  offerSeries();
  // A count is of records, not of a field: the numeric field is offered for the other aggregates only.
  const aggregate = document.getElementById("c-y");
  const yField = document.getElementById("c-yfield");
  function offerYField() {
    const counting = aggregate.value === "count";
    yField.disabled = counting || !yField.value;
    yField.parentElement.hidden = counting;
  }
  aggregate.addEventListener("change", offerYField);
  offerYField();
  // A setting left at none ("Séries : Aucune") is no parameter: the form sent `chart.series=`,
  // an empty one, into the page's URL (and its shared links).
  document.getElementById("chart-form").addEventListener("formdata", (event) => {
    const entries = [...event.formData.entries()];
    entries.forEach(([k]) => event.formData.delete(k)); // (a key's every value at once)
    entries.filter(([, v]) => v !== "").forEach(([k, v]) => event.formData.append(k, v));
  });

  async function draw() {
    const params = query();
    document.getElementById("dl-csv").href = url("/exports/csv", exportQuery());
    try {
      const response = await fetch(url("/records", Object.assign({ limit: 1000 }, params)));
      const body = await response.json();
      if (!response.ok) throw new Error(body.message || response.statusText);
      fillTable(body.results);
      if (!body.results.length) { // nothing matches the filters: say so where the chart would be
        status.textContent = text.no_data;
        el.hidden = true;
        el.dataset.state = "empty";
        return;
      }
      if (body.total_count > body.results.length) { // the API's total_count of a group_by counts the groups
        status.textContent = text.groups_cut.replace("{shown}", number(body.results.length))
          .replace("{total}", number(body.total_count));
        el.dataset.cut = "true";
      }
      if (typeof echarts === "undefined") return;
      const chart = echarts.init(el, null, { renderer: "canvas" });
      const opts = option(body.results);
      chart.setOption(opts);
      document.getElementById("dl-png").href = chart.getDataURL({ type: "png", pixelRatio: 2, backgroundColor: "#fff" });
      const box = document.createElement("div"); // an SVG twin, for the SVG download
      const svg = echarts.init(box, null, { renderer: "svg", width: el.clientWidth, height: el.clientHeight });
      svg.setOption(opts);
      document.getElementById("dl-svg").href = svg.getDataURL({ type: "svg" });
      svg.dispose();
      window.addEventListener("resize", () => chart.resize());
      el.dataset.state = "ready";
    } catch (error) {
      status.textContent = `${text.error}${text.colon} ${error.message}`; // "Error:", "Erreur :"
      el.dataset.state = "error";
    }
  }
  draw();
})();
