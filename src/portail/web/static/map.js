// The map tab: the records of the current filters on a MapLibre GL map.
// Few records in view (settings.map_detail_records): the API's GeoJSON export of the view, points clustered in the
// browser, shapes drawn, colour by a field, a popup per record. Many records: the records API
// groups them on the server (group_by=geo_cluster(field, zoom)), so a million points never
// reach the browser. Works without a basemap (offline): a plain background then.
(function () {
  "use strict";
  const el = document.getElementById("map");
  if (!el) return; // no map on the page: no records to show, or a filter refused
  const d = el.dataset;
  const labels = JSON.parse(d.labels || "{}"); // field name -> the label the publisher gave it
  const text = JSON.parse(d.i18n);
  // A number field's unit and decimals, as the publisher annotated them (routes.number_formats):
  // a popup writes its values as the table's cells do ("80 000 €", routes.number_text).
  const units = JSON.parse(d.units || "{}");
  const types = JSON.parse(d.types || "{}"); // field name -> its type (routes.dataset_page)
  const zone = JSON.parse(d.zone); // the dataset's time zone, in which instants are written (routes.zone_names)
  const status = document.getElementById("map-status");
  const colorBy = document.getElementById("color-by");
  const DETAIL = Number(d.detail); // up to this many records in view are drawn one by one
  const LOCATED = Number(d.located); // the filtered records that have a location (routes.dataset_page)
  const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"];
  const geo = "`" + d.geo + "`";
  const lang = document.documentElement.lang;
  const plurals = new Intl.PluralRules(lang);
  // "1 enregistrement affiché", "2 enregistrements affichés": the "_one" string for CLDR's "one" (0 and 1 in French)
  const counted = (n, key) => `${n.toLocaleString(lang)} ${text[plurals.select(n) === "one" ? key + "_one" : key]}`;
  // MapLibre's own strings (the popup's close button, the zoom buttons) in the page's language
  // (i18n.MAPLIBRE; none: its default, English), as every phrase of this script (data-i18n)
  const maplibreLocale = JSON.parse(d.locale || "{}");
  const CLUSTER_MAX_ZOOM = 14; // past it the browser draws every point, even piled on the same spot
  const FEW = 8; // a cluster this small lists its records at once: zooming would only scatter a handful
  const LIST_MAX = 50; // the most records one popup lists
  // Cluster circles' radii, read by their layers and by the count buttons drawn over them: the
  // browser's clusters step with their count ([radius, from, radius, from, …, radius]), the
  // server's grow with the square root of theirs, from 1 → 6 px to 100 → 34 px.
  const CLUSTER_STEPS = [10, 20, 15, 200, 22, 2000, 30];
  const SERVER_ROOTS = [1, 6, 100, 34];

  const style = { version: 8, sources: {}, layers: [{ id: "background", type: "background", paint: { "background-color": "#eef2f6" } }] };
  if (d.tiles) {
    style.sources.basemap = { type: "raster", tiles: [d.tiles], tileSize: 256, attribution: d.attribution };
    style.layers.push({ id: "basemap", type: "raster", source: "basemap" });
  }
  // The view in the page's URL (map.location=zoom,lat,lon, as Opendatasoft's location=): a reload,
  // the back button or a shared link reopened the map on all the records, wherever one had zoomed.
  function savedView() {
    const parts = (new URLSearchParams(location.search).get("map.location") || "").split(",");
    const [zoom, lat, lon] = parts.map(Number);  // Number("") is 0: "5,," opened the map on 0,0, off Africa
    if (parts.length !== 3 || parts.some((part) => part.trim() === "") || ![zoom, lat, lon].every(Number.isFinite)
        || Math.abs(lat) > 85 || Math.abs(lon) > 180) return null;
    return { zoom: Math.max(0, Math.min(22, zoom)), center: [lon, lat] };
  }
  const saved = savedView();
  const options = Object.assign({ container: el, style: style, center: [2.5, 46.6], zoom: 4.5 }, saved || {});
  if (Object.keys(maplibreLocale).length) options.locale = maplibreLocale;
  // On a touch screen one finger scrolls the page and two move the map (MapLibre says so, in the
  // page's language): the map, most of a phone's screen, took every drag and trapped the page.
  // Touch only, as MapLibre's own stylesheet tells them: on a desktop it would ask Ctrl for the wheel.
  if (window.matchMedia("(hover: none), (pointer: coarse)").matches) options.cooperativeGestures = true;
  // Asked for less motion (prefers-reduced-motion, RGAA 13.8): MapLibre already jumps where it would
  // ease (no move here is essential), and the 300 ms fade after each new view's data (a placement
  // fade, for labels this map does not draw) is dropped too: the map is redrawn once, not for 300 ms.
  if (window.matchMedia("(prefers-reduced-motion: reduce)").matches) options.fadeDuration = 0;
  const map = new maplibregl.Map(options);
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }));
  map.getCanvas().setAttribute("aria-label", document.querySelector(".map-figure figcaption").textContent.trim());
  window.portailMap = map; // for tests and the curious

  function url(path, params) {
    const query = new URLSearchParams(params).toString();
    return d.api + path + "?" + [query, d.filters].filter(Boolean).join("&");
  }
  async function getJSON(address, signal) {
    const response = await fetch(address, { signal: signal });
    const body = await response.json();
    if (!response.ok) throw new Error(body.message || response.statusText);
    return body;
  }
  // A refusal or a network failure named as one, in the page's language: the bare message (often
  // the API's English) read as the map's status; English writes no space before its colon.
  const failed = (error) => `${text.error}${text.colon} ${error.message}`;
  // A longitude brought back into -180…180: the map shows longitudes past ±180 (a view fitted
  // across the antimeridian, a world panned round), the records' are in -180…180.
  const wrapped = (lon) => ((lon + 180) % 360 + 360) % 360 - 180;
  // Degrees as ODSQL reads numbers: digits, never JavaScript's exponent ("1.4e-12", a view's edge
  // a hair off 0 or, wrapped, off ±360: "ODSQL query is malformed", the map an error); 1e-9° is 0.1 mm.
  const degrees = (value) => value.toFixed(9).replace(/\.?0+$/, "");
  // The view's records: a view across the antimeridian (New Caledonia to Wallis, 164° to 184°)
  // is two boxes in the records' longitudes, 164…180 and -180…-176 (one box 164…184 missed
  // Wallis); a view wider than the world is every longitude.
  function viewWhere() {
    const b = map.getBounds(), width = b.getEast() - b.getWest();
    const box = (west, east) => `in_bbox(${geo}, ${degrees(b.getSouth())}, ${degrees(west)}, ${degrees(b.getNorth())}, ${degrees(east)})`;
    if (width >= 360) return box(-180, 180);
    const west = wrapped(b.getWest()), east = west + width;
    return east <= 180 ? box(west, east) : `(${box(west, 180)} OR ${box(-180, east - 360)})`;
  }

  // The first view: the extent of the records' heaviest regions rather than of all of them. The
  // records grouped at zoom FIT_ZOOM (geo_cluster's 40 px there, some 14°: a country's size),
  // groups are taken heaviest first until they hold FIT_SHARE of the placed records, and the view
  // fits their extents: the communes' 148 overseas of 36,204 spanned the globe and mainland France
  // was one cluster at zoom 2. A city's records are one group (their own extent, no zoom-out), a
  // world's many (most of the world); the rest is a click away (#map-all) or a zoom-out.
  // That grouping reads every record (2 M points: 300-450 ms, bbox() alone 2-3 ms), so it runs
  // only when the records' whole extent is wider than GROUP_SPAN degrees, as far-flung records
  // are (the overseas departments): narrower, the extent is fitted as it is (a city, a region).
  const FIT_ZOOM = 2, FIT_SHARE = 0.95, GROUP_SPAN = 40;
  // Longitudes are on a circle: the Pacific's communes (Wallis -176°, Polynesia -150°, New Caledonia
  // +166°) span 344° from west to east, a box no phone can show (it opened on Africa, "0 enregistrement
  // affiché"), but 61° eastwards from New Caledonia across 180°. The smallest arc holding spans of
  // longitude is the circle less its largest empty gap; it starts in -180…180 and may end past
  // 180, which MapLibre shows (its world copies) and fitBounds fits. Spans: [west, east], east >= west.
  function arc(spans) {
    const sorted = spans.map(([west, east]) => [wrapped(west), wrapped(west) + east - west]).sort((a, b) => a[0] - b[0]);
    let reach = Math.max(...sorted.map((s) => s[1]));
    let gap = sorted[0][0] + 360 - reach, best = [sorted[0][0], reach]; // the gap across 180: no crossing
    reach = sorted[0][1];
    for (const [west, east] of sorted.slice(1)) { // a wider gap inside: the arc crosses 180 there
      if (west - reach > gap) { gap = west - reach; best = [west, reach + 360]; }
      reach = Math.max(reach, east);
    }
    return gap > 0 ? best : [-180, 180]; // spans all round: the world
  }
  // A box of records seen from an arc's start: its longitudes moved by 360° when it lies past 180
  // (on the arc's far side), so that boxes and their centres compare along the arc.
  function along(start, west) { const w = wrapped(west); return (w < start ? w + 360 : w) - west; }
  const corners = (ring) => [ring[0], ring[2]]; // a bbox() ring's south-west and north-east, as fitBounds takes them
  function extentOf(groups) { // the groups' bbox() rings' extent, along the smallest arc of longitude
    if (!groups.length) return null;
    const boxes = groups.map((g) => corners(g.b.geometry.coordinates[0]));
    const [west, east] = arc(boxes.map(([sw, ne]) => [sw[0], ne[0]]));
    return [[west, Math.min(...boxes.map((b) => b[0][1]))], [east, Math.max(...boxes.map((b) => b[1][1]))]];
  }
  const narrow = ([[west, south], [east, north]]) => east - west <= GROUP_SPAN && north - south <= GROUP_SPAN;
  async function boxExtent() { // every placed record's: bbox(), no grouping, in -180…180
    const row = (await getJSON(url("/records", { select: `bbox(${geo}) as b` }))).results[0];
    return row && row.b && row.b.geometry ? corners(row.b.geometry.coordinates[0]) : null;
  }
  async function placedGroups() { // the records grouped at FIT_ZOOM, heaviest first (the null group: no location)
    return (await getJSON(url("/records", { select: `count(*) as n, bbox(${geo}) as b`,
      group_by: `geo_cluster(${geo}, ${FIT_ZOOM}) as c`, limit: 20000 }))).results
      .filter((g) => g.c && g.b && g.b.geometry).sort((a, b) => b.n - a.n);
  }
  // Every placed record's extent. bbox() is the smallest arc when it spans at most 180° (the arc
  // across 180 is then 180° or more); wider, the records may lie on both sides of 180 (the
  // Pacific), and the groups' boxes say where the empty ocean is.
  async function wholeExtent() {
    const box = await boxExtent();
    return box && box[1][0] - box[0][0] > 180 ? extentOf(await placedGroups()) : box;
  }
  function heaviestOf(groups) {
    const placed = groups.reduce((sum, g) => sum + g.n, 0);
    let held = 0;
    const heaviest = groups.filter((g) => { const take = held < FIT_SHARE * placed; held += g.n; return take; });
    return { heaviest: extentOf(heaviest), whole: heaviest.length === groups.length };
  }
  async function extents() { // { heaviest, all, whole }: the first view, every record's, whether they are the same
    const box = await boxExtent();
    if (!box) return null;
    if (narrow(box)) return { heaviest: box, all: box, whole: true };
    const groups = await placedGroups();
    const all = extentOf(groups); // bbox()'s own box unless the arc crosses 180
    if (narrow(all)) return { heaviest: all, all: all, whole: true }; // New Caledonia and Wallis: 20° across 180
    return Object.assign({ all: all }, heaviestOf(groups));
  }
  const FIT = { padding: 30, maxZoom: 15 };
  const allButton = document.getElementById("map-all");
  const outsideNote = document.getElementById("map-outside");
  function offerAll(extent) { // #map-all shown, fitting every record (extent(): their corners) on a click
    if (!allButton.hidden) return; // offered already, by the heaviest regions
    allButton.hidden = false;
    allButton.addEventListener("click", async () => {
      try {
        const all = await extent();
        if (all) map.fitBounds(all, FIT);
        else status.textContent = text.no_records; // none located (any more): the click did nothing, silently
      } catch (error) { status.textContent = failed(error); }
    });
  }
  // Beside #map-all, how many located records the view leaves out (the records API's count in
  // view, asked anyway): "Voir tous les enregistrements" alone did not say whether one was missing.
  function tellOutside(inView) {
    const outside = LOCATED - inView;
    outsideNote.hidden = allButton.hidden || !(outside > 0);
    outsideNote.textContent = outsideNote.hidden ? "" : counted(outside, "map_outside");
  }

  // A few stray records (a commune's lat and lon swapped, a point left at 0,0, a homonym geocoded
  // across the country) made the first view theirs: fitted whole, a city's records were a dot in
  // a view of France, and the 95% share of the heaviest regions keeps a stray of twelve records.
  // ODSQL has no percentile of a point's coordinates, so the first view's own records, which
  // refresh asks anyway (the export's points, or the server's clusters at that zoom), are read
  // once in the browser: beyond Tukey's far fences (FENCE interquartile ranges past the quartiles,
  // at least MIN_FENCE degrees) in longitude or latitude a record is a stray, and when strays are
  // few (at most STRAY_SHARE of the records in view, or one among STRAY_ONE_FROM or more) the view
  // fits the others: among fewer, the quartiles are two or three of the records themselves, and
  // "one" was a quarter of four (a fifth museum in Versailles, four in Paris, left out). A server
  // cluster is a spot for records up to a cell away, so the range is widened by a cell: France's
  // five clusters at zoom 4 made a quartile range of 1.3° of latitude, and Corsica a stray.
  // No call more before the first view; the view's own calls once more only when strays were found.
  const FENCE = 3, MIN_FENCE = 0.1, STRAY_SHARE = 0.05, STRAY_ONE_FROM = 10;
  function quartile(items, key, q) { // items: { [key], n } sorted by key; weighted by n (a cluster's records)
    const total = items.reduce((sum, i) => sum + i.n, 0);
    let held = 0;
    return (items.find((i) => (held += i.n) >= q * total) || items[items.length - 1])[key];
  }
  function fences(items, key, cell) {
    const sorted = [...items].sort((a, b) => a[key] - b[key]);
    const low = quartile(sorted, key, 0.25), high = quartile(sorted, key, 0.75);
    const reach = Math.max(FENCE * (high - low + cell), MIN_FENCE);
    return [low - reach, high + reach];
  }
  // items: { lon, lat, n, box: [[west, south], [east, north]] }, spots up to `cell` degrees from
  // their records; the extent of all but a few strays, or null
  // Their longitudes are read along the smallest arc holding them (arc): Wallis at -176° is 17° east
  // of New Caledonia, not 342° west, and the kept records' box crosses 180 when they do.
  function withoutStrays(found, cell) {
    if (!found.length) return null;
    const start = arc(found.map((i) => [i.box[0][0], i.box[1][0]]))[0];
    const items = found.map((i) => { const shift = along(start, i.box[0][0]);
      return Object.assign({}, i, { lon: i.lon + shift, box: [[i.box[0][0] + shift, i.box[0][1]], [i.box[1][0] + shift, i.box[1][1]]] }); });
    const [west, east] = fences(items, "lon", cell), [south, north] = fences(items, "lat", cell);
    const kept = items.filter((i) => i.lon >= west && i.lon <= east && i.lat >= south && i.lat <= north);
    const count = (list) => list.reduce((sum, i) => sum + i.n, 0);
    const total = count(items), strays = total - count(kept);
    if (!strays || strays > Math.max(total >= STRAY_ONE_FROM ? 1 : 0, STRAY_SHARE * total)) return null;
    const edge = (k, j, pick) => pick(...kept.map((i) => i.box[k][j]));
    return [[edge(0, 0, Math.min), edge(0, 1, Math.min)], [edge(1, 0, Math.max), edge(1, 1, Math.max)]];
  }
  function featureItem(feature) { // a record's point, or its shape's box and the box's centre
    let west = Infinity, south = Infinity, east = -Infinity, north = -Infinity;
    const walk = (c) => { if (typeof c[0] === "number") { west = Math.min(west, c[0]); east = Math.max(east, c[0]);
      south = Math.min(south, c[1]); north = Math.max(north, c[1]); } else c.forEach(walk); };
    walk(feature.geometry.type === "GeometryCollection" ? feature.geometry.geometries.map((g) => g.coordinates) : feature.geometry.coordinates);
    return { lon: (west + east) / 2, lat: (south + north) / 2, n: 1, box: [[west, south], [east, north]] };
  }
  const cellOf = (zoom) => 40 * 360 / (256 * 2 ** zoom); // geo_cluster's 40 px cell at a zoom, in degrees
  function clusterItem(cluster, zoom) { // a server cluster's centroid, boxed by half its cell
    const half = cellOf(zoom) / 2, { lon, lat } = cluster.c.cluster_centroid;
    return { lon: lon, lat: lat, n: cluster.n, box: [[lon - half, Math.max(-85, lat - half)], [lon + half, Math.min(85, lat + half)]] };
  }
  let straysAsked = false; // the first view's records are to be read for strays (a first view of its own, not a kept one)
  let everyExtent = null; // every located record's corners, from the first view's bbox() or grouping

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
      for (let i = 2; i < color.length - 1; i += 2) entries.push([color[i + 1], written(colorBy.value, color[i])]);
      entries.push([color[color.length - 1], text.other]);
    } else if (Array.isArray(color)) {
      const bound = (v) => String(measured(colorBy.value, v));
      entries.push([color[4], bound(color[3])], [color[8], bound(color[7])]); // in the field's unit, as its popups
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
        "circle-radius": ["step", ["get", "point_count"], ...CLUSTER_STEPS] } });
    map.addLayer({ id: "points", type: "circle", source: "records",
      filter: ["all", ["!", ["has", "point_count"]], ["==", ["geometry-type"], "Point"]],
      paint: { "circle-color": PALETTE[0], "circle-radius": 5, "circle-stroke-color": "#fff", "circle-stroke-width": 1 } });
    map.addLayer({ id: "server-clusters", type: "circle", source: "server",
      paint: { "circle-color": "#0b4f9c", "circle-opacity": 0.75, "circle-stroke-color": "#fff", "circle-stroke-width": 1,
        "circle-radius": ["interpolate", ["linear"], ["sqrt", ["get", "n"]], ...SERVER_ROOTS] } });
  }

  // The server's clusters are counts of records of any values: a colour chosen then changed nothing
  // on the map until one zoomed in, and nothing said why. The status beside the select says so.
  let clustered = 0; // records in view, in clusters
  function clusteredStatus() {
    const note = colorBy.value ? text.clusters_color_note : text.clusters_note;
    status.textContent = `${counted(clustered, "records")} · ${note}`;
  }

  // One view's records at a time: each move cancels the calls of the view before it, whose
  // answers, arriving late (a whole-France grouping takes longest), drew France's clusters over
  // the commune one had zoomed to; and a move waits for the map to rest a moment (REST_MS), so
  // the + key pressed four times asks once, not four times.
  const REST_MS = 250;
  let asking = null; // the AbortController of the calls in flight
  let resting = 0;
  function moved() {
    el.dataset.state = "loading";
    clearTimeout(resting);
    if (asking) asking.abort();
    resting = setTimeout(refresh, REST_MS);
  }

  async function refresh() {
    el.dataset.state = "loading";
    if (asking) asking.abort();
    const mine = asking = new AbortController();
    const get = async (address) => {
      const body = await getJSON(address, mine.signal);
      mine.signal.throwIfAborted(); // answered, but after the map moved on
      return body;
    };
    try {
      const inView = (await get(url("/records", { limit: 0, where: viewWhere() }))).total_count;
      let items, cell = 0; // the view's records as withoutStrays reads them, and how far from their spots
      if (inView <= DETAIL) {
        const collection = await get(url("/exports/geojson", { where: viewWhere() }));
        features = collection.features.filter((f) => f.geometry);
        items = features.map(featureItem);
        setSource("records", { type: "FeatureCollection", features: features }, { cluster: d.geoType === "geo_point_2d", clusterRadius: 40, clusterMaxZoom: CLUSTER_MAX_ZOOM });
        setSource("server", { type: "FeatureCollection", features: [] });
        status.textContent = counted(features.length, "points_shown");
        el.dataset.mode = "records";
      } else {
        const zoom = Math.max(0, Math.min(25, Math.round(map.getZoom())));
        const groups = await get(url("/records", { select: "count(*) as n", group_by: `geo_cluster(${geo}, ${zoom}) as c`,
          where: viewWhere(), limit: 20000 }));
        items = groups.results.filter((g) => g.c).map((g) => clusterItem(g, zoom));
        cell = cellOf(zoom);
        const clusters = groups.results.filter((g) => g.c).map((g) => ({ type: "Feature", properties: { n: g.n },
          geometry: { type: "Point", coordinates: [g.c.cluster_centroid.lon, g.c.cluster_centroid.lat] } }));
        setSource("server", { type: "FeatureCollection", features: clusters });
        setSource("records", { type: "FeatureCollection", features: [] });
        features = [];
        clustered = inView;
        el.dataset.mode = "clusters";
        clusteredStatus();
      }
      ensureLayers();
      paint();
      const core = straysAsked && withoutStrays(items, cell);
      straysAsked = false;
      if (core) { // the others fitted: their view's records asked next (moveend), the strays a click away
        offerAll(async () => everyExtent || wholeExtent());
        map.fitBounds(core, Object.assign({ animate: false }, FIT), { firstView: true });
        return;
      }
      tellOutside(inView);
      el.dataset.state = "ready";
    } catch (error) {
      if (mine.signal.aborted) return; // a newer view's calls took over
      status.textContent = failed(error);
      el.dataset.state = "error";
    }
  }

  function measured(key, value) { // as the table's cells (numbers.js)
    return units[key] && typeof value === "number" ? window.portailNumber(value, units[key], lang) : value;
  }
  // A popup's or the legend's value as the table's cell writes it: a date "12 mars 2018", an instant
  // "12 mars 2018 à 14:05 CET" and a boolean "Oui" (the GeoJSON's "2018-03-12", "2018-03-12T13:05:00+00:00"
  // and true were shown as they came); the legend's values are the match expression's texts ("true").
  function written(key, value) {
    if (types[key] === "boolean" && (value === true || value === false || value === "true" || value === "false")) {
      return value === true || value === "true" ? text.yes : text.no;
    }
    if (types[key] === "date" && typeof value === "string") return window.portailDate(value, lang);
    if (types[key] === "datetime" && typeof value === "string") return window.portailMoment(value, lang, zone);
    return measured(key, value);
  }
  function recordTable(properties) {
    const table = document.createElement("table");
    const shown = Object.entries(properties)
      .filter(([, value]) => value !== null && value !== undefined && value !== "" && typeof value !== "object");
    shown.slice(0, 12).forEach(([key, value]) => { // the whole record is in the table tab
      const row = table.insertRow();
      const th = document.createElement("th");
      th.scope = "row";
      th.textContent = labels[key] || key;
      row.appendChild(th);
      row.insertCell().textContent = written(key, value);
    });
    return table;
  }
  // One record, or every record under the pointer: points on the same address pile up and the
  // top one alone would hide the others. `total` past the list: how many were left out.
  function showRecords(lngLat, records, total) {
    let content = recordTable(records[0].properties);
    if (records.length > 1) {
      content = document.createElement("div");
      content.className = "map-records";
      content.style.cssText = "max-height: 18rem; overflow: auto";
      const heading = document.createElement("p");
      heading.style.fontWeight = "bold";
      heading.textContent = `${counted(total, "records")} ${text.map_here}`;
      content.appendChild(heading);
      records.forEach((record) => {
        const table = recordTable(record.properties);
        table.style.cssText = "border-top: 1px solid #888; margin-top: .4rem";
        content.appendChild(table);
      });
      if (total > records.length) {
        const more = document.createElement("p");
        more.textContent = `… ${(total - records.length).toLocaleString(lang)} ${text.map_more}`;
        content.appendChild(more);
      }
    }
    new maplibregl.Popup({ maxWidth: "22rem" }).setLngLat(lngLat).setDOMContent(content).addTo(map);
  }
  function popup(event) {
    const seen = new Set();
    const records = event.features.filter((f) => { // a shape is cut into one feature per tile
      const key = JSON.stringify(f.properties);
      return !seen.has(key) && seen.add(key);
    });
    showRecords(event.lngLat, records.slice(0, LIST_MAX), records.length);
  }

  // A cluster's click: zoom in to where it splits; list its records when it is small or when its
  // records only part past the last clustered zoom (clicks on it would otherwise never reach a record).
  async function openCluster(feature) {
    const center = feature.geometry.coordinates;
    if (feature.layer.id === "server-clusters") { // grouped on the server: closer in, the browser takes over
      map.easeTo({ center: center, zoom: Math.min(map.getZoom() + 2, map.getMaxZoom()) });
      return;
    }
    const source = map.getSource("records");
    const id = feature.properties.cluster_id, n = feature.properties.point_count;
    let zoom;
    try {
      zoom = await source.getClusterExpansionZoom(id);
    } catch (error) { // a count button of the data before the last move: that cluster is gone
      map.easeTo({ center: center, zoom: Math.min(map.getZoom() + 2, map.getMaxZoom()) });
      return;
    }
    if (n <= FEW || (zoom > CLUSTER_MAX_ZOOM && n <= LIST_MAX) || zoom > map.getMaxZoom()) {
      showRecords(center, await source.getClusterLeaves(id, LIST_MAX, 0), n);
    } else {
      map.easeTo({ center: center, zoom: zoom });
    }
  }

  // Each cluster's count, as an HTML button over its circle: MapLibre's own text labels need
  // glyphs from a server, which offline portals do not have. Redrawn once the map is still.
  const counts = new Map(); // key -> maplibregl.Marker
  function radius(feature) { // as the cluster layers' circle-radius computes it
    if (feature.layer.id === "clusters") {
      let r = CLUSTER_STEPS[0];
      for (let i = 1; i < CLUSTER_STEPS.length; i += 2) if (feature.properties.point_count >= CLUSTER_STEPS[i]) r = CLUSTER_STEPS[i + 1];
      return r;
    }
    const [x0, r0, x1, r1] = SERVER_ROOTS;
    const root = Math.min(x1, Math.max(x0, Math.sqrt(feature.properties.n)));
    return r0 + (root - x0) * (r1 - r0) / (x1 - x0);
  }
  function countMarker(feature) {
    const n = feature.layer.id === "clusters" ? feature.properties.point_count : feature.properties.n;
    const label = n.toLocaleString(lang);
    // wide enough for its digits (bold 11 px: under 8 px each): a small server cluster's "306"
    // overflowed its 22 px circle, its outer digits white on the light map
    const size = Math.max(22, 2 * radius(feature), 8 * label.length + 6);
    const button = document.createElement("button");
    button.type = "button";
    button.className = "map-count";
    button.textContent = label;
    button.style.cssText = `width: ${size}px; height: ${size}px; border-radius: 50%; border: 1px solid #fff; padding: 0;
      background: #0b4f9c; color: #fff; font: bold 11px/1 system-ui, sans-serif; cursor: pointer`;
    button.addEventListener("click", () => openCluster(feature));
    const marker = new maplibregl.Marker({ element: button }).setLngLat(feature.geometry.coordinates).addTo(map);
    // after: Marker sets its own; the page language's colon ("12 records: zoom in", "12 enregistrements : zoomer")
    button.setAttribute("aria-label", `${counted(n, "records")}${text.colon} ${text.map_open}`);
    return marker;
  }
  function showCounts() {
    const inView = new Map();
    map.queryRenderedFeatures({ layers: ["clusters", "server-clusters"] }).forEach((f) => {
      // cluster_id alone is reused by new data
      const key = [f.layer.id, f.properties.cluster_id, f.properties.point_count || f.properties.n, ...f.geometry.coordinates].join(" ");
      if (!inView.has(key)) inView.set(key, f);
    });
    counts.forEach((marker, key) => { if (!inView.has(key)) { marker.remove(); counts.delete(key); } });
    inView.forEach((f, key) => { if (!counts.has(key)) counts.set(key, countMarker(f)); });
  }

  // Keyboard: the arrow keys move the map, Enter opens what lies at its centre (clusters are
  // buttons of their own; the table link under the map lists every record).
  function openAtCentre(event) {
    if (event.key !== "Enter") return;
    const c = map.project(map.getCenter());
    const box = [[c.x - 12, c.y - 12], [c.x + 12, c.y + 12]];
    const found = map.queryRenderedFeatures(box, { layers: ["clusters", "server-clusters", "points", "shapes"] });
    if (!found.length) return;
    event.preventDefault(); // else the same Enter presses the popup's close button, which takes the focus
    if (found[0].layer.id.endsWith("clusters")) openCluster(found[0]);
    else popup({ lngLat: map.getCenter(), features: found.filter((f) => !f.layer.id.endsWith("clusters")) });
  }

  map.on("load", async () => {
    setSource("records", { type: "FeatureCollection", features: [] }, { cluster: d.geoType === "geo_point_2d", clusterRadius: 40, clusterMaxZoom: CLUSTER_MAX_ZOOM });
    setSource("server", { type: "FeatureCollection", features: [] });
    ensureLayers();
    ["points", "shapes"].forEach((layer) => {
      map.on("click", layer, popup);
      map.on("mouseenter", layer, () => { map.getCanvas().style.cursor = "pointer"; });
      map.on("mouseleave", layer, () => { map.getCanvas().style.cursor = ""; });
    });
    ["clusters", "server-clusters"].forEach((layer) => map.on("click", layer, (e) => {
      if (!e.originalEvent.target.closest(".map-count")) openCluster(e.features[0]); // a count button opened it
    }));
    map.on("idle", showCounts);
    map.getCanvas().addEventListener("keydown", openAtCentre);
    // A kept view (map.location) asks nothing here: it may hide records, so #map-all is offered,
    // and their extent asked on its click (the grouping ran at each reload only to decide the button).
    // No located record: the button would fit nothing (it did nothing, without a word).
    if (saved) { if (LOCATED > 0) offerAll(wholeExtent); }
    else try { // fit to the filtered records' heaviest regions
      const extent = await extents();
      if (extent) map.fitBounds(extent.heaviest, Object.assign({ animate: false }, FIT));
      if (extent && !extent.whole) offerAll(async () => extent.all);
      everyExtent = extent && extent.all;
      straysAsked = Boolean(extent);
    } catch (error) { status.textContent = failed(error); }
    map.on("movestart", () => clearTimeout(resting)); // still moving: not at rest yet
    // the first view's own move (strays left out) is no view of the visitor's to keep in the URL;
    // a visitor's move before the first view's records came is theirs: no strays read in it
    map.on("moveend", (event) => { straysAsked = false; if (!event.firstView) keepView(); moved(); });
    refresh();
  });
  // The colour chosen goes into the page's URL (map.color=, which the page selects again), as the
  // chart's settings do: a reload, the back button or a shared link lost it, the map uncoloured.
  function withColor(address) {
    if (colorBy.value) address.searchParams.set("map.color", colorBy.value);
    else address.searchParams.delete("map.color");
    return address;
  }
  // The page's links and its search form, written before the choice, carry it too (as the server
  // writes them once it is in the URL): a search typed next, or the other language, keeps it.
  function keepColor() {
    history.replaceState(history.state, "", withColor(new URL(location.href)));
    document.querySelectorAll("#switch-lang, nav.tabs a, .active-filters a").forEach((link) => {
      link.href = withColor(new URL(link.href));
    });
    const search = document.querySelector(".filterbar form.search");
    let kept = search.querySelector("input[name='map.color']");
    if (!kept) {
      kept = Object.assign(document.createElement("input"), { type: "hidden", name: "map.color" });
      search.appendChild(kept);
    }
    kept.value = colorBy.value;
    kept.disabled = !colorBy.value; // no empty map.color= in the URL
  }
  // Written at each rest in the page's URL (replaced: one history entry, not one per move), in
  // its other language's link (the same view in English) and in the other tabs' links (coming back
  // to the map finds it); a reload's page writes it in those links as every map.* setting
  // (filters.VIEWS), but not in its filters' links: a filter changed fits the map to what it
  // leaves (filters.MAP_VIEW).
  function withView(address) {
    const c = map.getCenter().wrap(); // a world panned round: back in -180…180
    address.searchParams.set("map.location", [+map.getZoom().toFixed(2), +c.lat.toFixed(5), +c.lng.toFixed(5)].join(","));
    return address;
  }
  function keepView() {
    history.replaceState(history.state, "", withView(new URL(location.href)));
    document.querySelectorAll("#switch-lang, nav.tabs a").forEach((link) => { link.href = withView(new URL(link.href)); });
  }
  colorBy.addEventListener("change", () => {
    keepColor();
    paint();
    if (el.dataset.mode === "clusters") clusteredStatus();
  });
})();
