"""Write docs/processors.md from the processor registry (run after adding a processor;
tests/processors checks that the page lists every processor and parameter)."""

from pathlib import Path

import yaml

from portail.processors import REGISTRY
from portail.processors.base import COMMON_PARAMS

HEADER = """# Processors

A dataset's pipeline is an ordered list of processors run at every load, after the file is read
and typed and before the version is written. Set it with
`portail dataset pipeline <slug> --set pipeline.yaml` (or `PUT /api/management/v1/datasets/<slug>/pipeline`),
apply it with `portail dataset reload <slug>`. Each step reports its counts in the load report
(`portail dataset show <slug>`); a failing step never touches the published version.

Processors are relational rewrites run inside the engine (parallel, streaming, spilling), joins
with reference datasets included: see `src/portail/processors/base.py` for why. Enrichment
processors need the reference datasets: `portail refdata install [--from DIR]`.

Every step also takes:
"""

FOOTER = """## What the load report says

Each step adds its counts to the load report (`portail dataset show <slug> --json`, the
management API's load responses; the CLI prints them after a load): values `changed`,
`failed`, records `skipped` or `removed`, and for the enrichment steps (`admin_divisions`,
`geo_join`, `join_dataset`, `sirene`) codes `unmatched`, codes `remapped` or points `outside`
every polygon. Nothing is dropped silently: the first 100 unmatched records (or points outside)
are listed with their record under `unmatched_records` (`outside_records`), geo_shape fields
left out. With `on_error: fail`, any failed, unmatched or outside record fails the load and the
published version stays.

## Reference data

`portail refdata install [--from DIR] [--only communes,epci,departements,regions] [--mirror URL]`
installs the communes (COG, with EPCI, département, région, population and contour), the
former codes (`ref-commune-successeurs`), the EPCI with their contours (`ref-epci`), the
départements and régions. Without `--from` the official files are downloaded (or from a
mirror laid out like the reference folder, `PORTAIL_REFDATA_MIRROR`); the origin, SHA-256 and
size of every file are recorded with its vintage and licence. `portail refdata sirene FILE|URL`
loads the Sirene establishments stock (`StockEtablissement_utf8.zip`, streamed) for `sirene`.
"""


def main() -> None:
    lines = [HEADER]
    lines += [f"- `{k}`: {v}" for k, v in COMMON_PARAMS.items()] + [""]
    for spec in REGISTRY.values():
        lines += [f"## `{spec.name}`", "", spec.doc, "", "| parameter | meaning |", "|---|---|"]
        lines += [f"| `{k}` | {v} |" for k, v in spec.params.items()]
        lines += ["", "```yaml", yaml.safe_dump([spec.example], allow_unicode=True, sort_keys=False).strip(), "```", ""]
    lines.append(FOOTER)
    (Path(__file__).resolve().parents[1] / "docs" / "processors.md").write_text("\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    main()
