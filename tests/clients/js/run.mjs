// Drives Opendatasoft's own JS client (unmodified, from npm) against a Portail server and
// prints every response as one JSON object. Usage: node run.mjs <base-url> <dataset-id>
// tests/clients/test_js_client.py checks the data against values computed from the source file.
import client_package from '@opendatasoft/api-client'; // a CommonJS bundle

const { ApiClient, fromCatalog, field, string } = client_package;

const [base, dataset] = process.argv.slice(2);
const client = new ApiClient({ domain: base, hideDeprecatedWarning: true });
const records = () => fromCatalog().dataset(dataset).records();

const queries = {
  catalog: fromCatalog().datasets().limit(100),
  catalog_dataset: fromCatalog().dataset(dataset).itself(),
  first_page: records().select('id_livraison, annee, nb_logmt_total').orderBy('id_livraison').limit(20),
  filtered: records().where(`${field('annee')} >= 2010 and ${field('bs')} = ${string('RIVP')}`).limit(100),
  by_year: records().select('annee, sum(nb_logmt_total) as total, count(*) as n').groupBy('annee').orderBy('annee').limit(100),
  refined: records().refine('bs:RIVP').exclude('annee:2001').select('count(*) as n').limit(1),
  facets: fromCatalog().dataset(dataset).facets().facet('bs').facet('arrdt'),
  export_json: fromCatalog().dataset(dataset).export('json').where('arrdt = 12').select('id_livraison, nb_logmt_total'),
};

const out = {};
for (const [name, query] of Object.entries(queries)) {
  try {
    out[name] = { url: query.toString(), body: await client.get(query) };
  } catch (error) {
    out[name] = { url: query.toString(), error: `${error.name}: ${error.message}` };
  }
}
process.stdout.write(JSON.stringify(out));
