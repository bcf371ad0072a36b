// The map tab: the records of the current filters on a MapLibre GL map.
// Few records in view (settings.map_detail_records): the API's GeoJSON export of the view, points clustered in the
// browser, shapes drawn, colour by a field, a popup per record. Many records: the records API
// groups them on the server (group_by=geo_cluster(field, zoom)), so a million points never
// reach the browser. Works without a basemap (offline): a plain background then.
(function () {
  "use strict";
  const el = document.getElementById("map");
  const d = el.dataset;
  const labels = JSON.parse(d.labels || "{}"); // field name -> the label the publisher gave it
  const text = JSON.parse(d.i18n);
  const status = document.getElementById("map-status");
  const colorBy = document.getElementById("color-by");
  const DETAIL = Number(d.detail); // up to this many records in view are drawn one by one
  const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"];
  const geo = "`" + d.geo + "`";
  const lang = document.documentElement.lang;
  const plurals = new Intl.PluralRules(lang);
  // "1 enregistrement affiché", "2 enregistrements affichés": the "_one" string for CLDR's "one" (0 and 1 in French)
  const counted = (n, key) => `${n.toLocaleString(lang)} ${text[plurals.select(n) === "one" ? key + "_one" : key]}`;

  const style = { version: 8, sources: {}, layers: [{ id: "background", type: "background", paint: { "background-color": "#eef2f6" } }] };
  if (d.tiles) {
    style.sources.basemap = { type: "raster", tiles: [d.tiles], tileSize: 256, attribution: d.attribution };
    style.layers.push({ id: "basemap", type: "raster", source: "basemap" });
  }
  const map = new maplibregl.Map({ container: el, style: style, center: [2.5, 46.6], zoom: 4.5 });
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }));
  map.getCanvas().setAttribute("aria-label", document.querySelector(".map-figure figcaption").textContent.trim());
  window.portailMap = map; // for tests and the curious

  function url(path, params) {
    const query = new URLSearchParams(params).toString();
    return d.api + path + "?" + [query, d.filters].filter(Boolean).join("&");
  }
  async function getJSON(address) {
    const response = await fetch(address);
    const body = await response.json();
    if (!response.ok) throw new Error(body.message || response.statusText);
    return body;
  }
  function viewWhere() {
    const b = map.getBounds();
    return `in_bbox(${geo}, ${b.getSouth()}, ${b.getWest()}, ${b.getNorth()}, ${b.getEast()})`;
  }

  let features = [];
  function colorExpression() {
    const name = colorBy.value;
    if (!name) return PALETTE[0];
    const values = features.map((f) => f.properties[name]).filter((v) => v !== null && v !== undefined);
    if (values.length && values.every((v) => typeof v === "number")) {
      const low = Math.min(...values), high = Math.max(...values);
      if (low === high) return PALETTE[0];
      return ["interpolate", ["linear"], ["to-number", ["get", name], low], low, "#fde725", (low + high) / 2, "#21918c", high, "#440154"];
    }
    const counts = new Map();
    values.forEach((v) => counts.set(String(v), (counts.get(String(v)) || 0) + 1));
    const top = [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, PALETTE.length).map((e) => e[0]);
    if (!top.length) return PALETTE[0];
    const match = ["match", ["to-string", ["get", name]]];
    top.forEach((v, i) => match.push(v, PALETTE[i]));
    match.push("#777777");
    return match;
  }
  function legend(color) { // the colours in words, under the map
    const list = document.getElementById("map-legend");
    list.replaceChildren();
    const entries = [];
    if (Array.isArray(color) && color[0] === "match") {
      for (let i = 2; i < color.length - 1; i += 2) entries.push([color[i + 1], color[i]]);
      entries.push([color[color.length - 1], text.other]);
    } else if (Array.isArray(color)) {
      entries.push([color[4], `${color[3].toLocaleString(lang)}`], [color[8], `${color[7].toLocaleString(lang)}`]);
    }
    entries.forEach(([swatch, label]) => {
      const item = document.createElement("li");
      const box = document.createElement("span");
      box.className = "swatch";
      box.style.background = swatch;
      item.append(box, label);
      list.appendChild(item);
    });
  }
  function paint() {
    const color = colorExpression();
    legend(color);
    if (map.getLayer("points")) map.setPaintProperty("points", "circle-color", color);
    if (map.getLayer("shapes")) map.setPaintProperty("shapes", "fill-color", color);
  }

  function setSource(id, data, options) {
    const source = map.getSource(id);
    if (source) source.setData(data);
    else map.addSource(id, Object.assign({ type: "geojson", data: data }, options || {}));
  }
  function ensureLayers() {
    if (map.getLayer("points")) return;
    map.addLayer({ id: "shapes", type: "fill", source: "records", filter: ["==", ["geometry-type"], "Polygon"],
      paint: { "fill-color": PALETTE[0], "fill-opacity": 0.45, "fill-outline-color": "#1a1a2e" } });
    map.addLayer({ id: "clusters", type: "circle", source: "records", filter: ["has", "point_count"],
      paint: { "circle-color": "#0b4f9c", "circle-opacity": 0.75, "circle-stroke-color": "#fff", "circle-stroke-width": 1,
        "circle-radius": ["step", ["get", "point_count"], 10, 20, 15, 200, 22, 2000, 30] } });
    map.addLayer({ id: "points", type: "circle", source: "records",
      filter: ["all", ["!", ["has", "point_count"]], ["==", ["geometry-type"], "Point"]],
      paint: { "circle-color": PALETTE[0], "circle-radius": 5, "circle-stroke-color": "#fff", "circle-stroke-width": 1 } });
    map.addLayer({ id: "server-clusters", type: "circle", source: "server",
      paint: { "circle-color": "#0b4f9c", "circle-opacity": 0.75, "circle-stroke-color": "#fff", "circle-stroke-width": 1,
        "circle-radius": ["interpolate", ["linear"], ["sqrt", ["get", "n"]], 1, 6, 100, 34] } });
  }

  async function refresh() {
    el.dataset.state = "loading";
    try {
      const inView = (await getJSON(url("/records", { limit: 0, where: viewWhere() }))).total_count;
      if (inView <= DETAIL) {
        const collection = await getJSON(url("/exports/geojson", { where: viewWhere() }));
        features = collection.features.filter((f) => f.geometry);
        setSource("records", { type: "FeatureCollection", features: features }, { cluster: d.geoType === "geo_point_2d", clusterRadius: 40, clusterMaxZoom: 14 });
        setSource("server", { type: "FeatureCollection", features: [] });
        status.textContent = counted(features.length, "points_shown");
        el.dataset.mode = "records";
      } else {
        const zoom = Math.max(0, Math.min(25, Math.round(map.getZoom())));
        const groups = await getJSON(url("/records", { select: "count(*) as n", group_by: `geo_cluster(${geo}, ${zoom}) as c`,
          where: viewWhere(), limit: 20000 }));
        const clusters = groups.results.filter((g) => g.c).map((g) => ({ type: "Feature", properties: { n: g.n },
          geometry: { type: "Point", coordinates: [g.c.cluster_centroid.lon, g.c.cluster_centroid.lat] } }));
        setSource("server", { type: "FeatureCollection", features: clusters });
        setSource("records", { type: "FeatureCollection", features: [] });
        features = [];
        status.textContent = `${counted(inView, "records")} · ${text.clusters_note}`;
        el.dataset.mode = "clusters";
      }
      ensureLayers();
      paint();
      el.dataset.state = "ready";
    } catch (error) {
      status.textContent = error.message;
      el.dataset.state = "error";
    }
  }

  function popup(event) {
    const feature = event.features[0];
    const table = document.createElement("table");
    const shown = Object.entries(feature.properties)
      .filter(([, value]) => value !== null && value !== undefined && value !== "" && typeof value !== "object");
    shown.slice(0, 12).forEach(([key, value]) => { // the whole record is in the table tab
      const row = table.insertRow();
      const th = document.createElement("th");
      th.scope = "row";
      th.textContent = labels[key] || key;
      row.appendChild(th);
      row.insertCell().textContent = value;
    });
    new maplibregl.Popup({ maxWidth: "22rem" }).setLngLat(event.lngLat).setDOMContent(table).addTo(map);
  }

  map.on("load", async () => {
    setSource("records", { type: "FeatureCollection", features: [] }, { cluster: d.geoType === "geo_point_2d", clusterRadius: 40, clusterMaxZoom: 14 });
    setSource("server", { type: "FeatureCollection", features: [] });
    ensureLayers();
    ["points", "shapes"].forEach((layer) => {
      map.on("click", layer, popup);
      map.on("mouseenter", layer, () => { map.getCanvas().style.cursor = "pointer"; });
      map.on("mouseleave", layer, () => { map.getCanvas().style.cursor = ""; });
    });
    map.on("click", "clusters", (e) => map.easeTo({ center: e.lngLat, zoom: map.getZoom() + 2 }));
    map.on("click", "server-clusters", (e) => map.easeTo({ center: e.lngLat, zoom: map.getZoom() + 2 }));
    try { // fit to the filtered extent
      const extent = (await getJSON(url("/records", { select: `bbox(${geo}) as b` }))).results[0];
      const ring = extent && extent.b && extent.b.geometry && extent.b.geometry.coordinates[0];
      if (ring) map.fitBounds([ring[0], ring[2]], { padding: 30, animate: false, maxZoom: 15 });
    } catch (error) { status.textContent = error.message; }
    map.on("moveend", refresh);
    refresh();
  });
  colorBy.addEventListener("change", paint);
})();
