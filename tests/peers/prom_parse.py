#!/usr/bin/env python3
"""Parses a Prometheus text exposition with the Prometheus project's own Python parser (not
written by this project) and prints it as JSON: a list of families, each with its name,
type, help and samples ({"name", "labels", "value"}). A malformed exposition fails here.

usage: prom_parse.py < exposition.txt
"""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families


def main():
    families = []
    for family in text_string_to_metric_families(sys.stdin.read()):
        families.append({
            "name": family.name,
            "type": family.type,
            "help": family.documentation,
            "samples": [{"name": s.name, "labels": s.labels, "value": s.value} for s in family.samples],
        })
    json.dump(families, sys.stdout)


if __name__ == "__main__":
    main()
