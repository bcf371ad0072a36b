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

FOOTER = """## Coming next

The Sirene
enrichment, `add_field` and `skip` (ODSQL expressions): their names are reserved.
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
