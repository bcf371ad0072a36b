// A number as the table's cells write it (routes.number_text), for the map's popups and legend
// and the chart's values: the publisher's decimals, rounded half away from zero without "-0";
// else a fraction's 10 significant digits, and a whole number grouped from `group_from` (null:
// never, a year's or an identifier's); then the unit after a no-break space. `format` is a field's
// entry of data-units (routes.number_formats).
window.portailNumber = function (value, format, lang) {
  const options = format.decimals !== null && format.decimals !== undefined
    ? { minimumFractionDigits: format.decimals, maximumFractionDigits: format.decimals, signDisplay: "negative" }
    : !Number.isInteger(value) ? { maximumSignificantDigits: 10 }
    : { useGrouping: format.group_from !== null && format.group_from !== undefined && Math.abs(value) >= format.group_from };
  const written = value.toLocaleString(lang, options);
  return format.unit ? `${written}\u00a0${format.unit}` : written;
};
// A date as the table's cells write it (i18n.format_date): "12 mars 2018", "1er mars 2018",
// "March 12, 2018", and a month "mars 2018", for the chart's date buckets and the map's popups,
// which the API gives as ISO text ("2018-03-12", "2018-03"); anything else is returned as given.
window.portailDate = function (value, lang) {
  const iso = /^(\d{4})-(\d{2})(?:-(\d{2}))?$/.exec(String(value));
  if (!iso) return String(value);
  const day = new Date(Date.UTC(Number(iso[1]), Number(iso[2]) - 1, iso[3] ? Number(iso[3]) : 1));
  const options = iso[3] ? { day: "numeric", month: "long", year: "numeric", timeZone: "UTC" }
    : { month: "long", year: "numeric", timeZone: "UTC" };
  const first = lang.startsWith("fr") && iso[3] === "01"; // French writes the first day as an ordinal
  return new Intl.DateTimeFormat(lang, options).formatToParts(day)
    .map((part) => (first && part.type === "day" ? "1er" : part.value)).join("");
};
// An instant as the table's cells write it (i18n.format_datetime, read in the dataset's time zone):
// "12 mars 2018 à 14:05 CET", "March 12, 2018, 14:05 CET", the seconds only when there are some,
// for the map's popups, which the GeoJSON export gives as ISO text ("2018-03-12T13:05:00+00:00");
// one without an offset is UTC, as the API stores it. `zone` is the map's data-zone
// (routes.zone_names): the zone's name and its abbreviations by UTC offset in minutes, as Python
// names them ("CET"), which Intl does not ("UTC+1"). Anything else is returned as given.
window.portailMoment = function (value, lang, zone) {
  const text = String(value);
  const iso = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/.exec(text);
  const instant = iso ? new Date(iso[3] ? text : text + "Z") : null;
  if (!instant || Number.isNaN(instant.getTime())) return text;
  const parts = {};
  new Intl.DateTimeFormat("en-US", { timeZone: zone.name, year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23", timeZoneName: "longOffset" })
    .formatToParts(instant).forEach((part) => { parts[part.type] = part.value; });
  const offset = /GMT(?:([+-])(\d{2}):(\d{2}))?/.exec(parts.timeZoneName);
  const minutes = offset && offset[1] ? (offset[1] === "-" ? -1 : 1) * (60 * Number(offset[2]) + Number(offset[3])) : 0;
  const named = zone.names[minutes] // as Python names a zone it has no abbreviation for: "+04", "+0530"
    || (offset && offset[1] ? `${offset[1]}${offset[2]}${offset[3] === "00" ? "" : offset[3]}` : "UTC");
  const seconds = parts.second !== "00" || instant.getUTCMilliseconds() !== 0;
  const clock = `${parts.hour}:${parts.minute}${seconds ? ":" + parts.second : ""}`;
  const day = window.portailDate(`${parts.year}-${parts.month}-${parts.day}`, lang);
  return `${day}${lang.startsWith("fr") ? " à " : ", "}${clock} ${named}`;
};
