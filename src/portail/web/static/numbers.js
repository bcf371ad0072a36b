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
