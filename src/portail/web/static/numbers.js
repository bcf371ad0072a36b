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
