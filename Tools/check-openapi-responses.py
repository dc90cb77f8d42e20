#!/usr/bin/env python3
"""Validates recorded HTTP responses against Schemas/openapi.yaml.

Usage: check-openapi-responses.py SPEC RECORDS.json

RECORDS is a JSON array of {"method", "path" (the OpenAPI path template), "status",
"content_type", "headers" (lowercase names), "body" (text)}. Fails (exit 1) on any response whose
operation, status or media type is undocumented (a 405 for a method the path does not serve is
checked against that path's documented 405; a 404 for an unknown path against the error envelope), whose required headers are missing, or whose JSON
body does not match its schema. Used by Tests/TallyServerTests/OpenAPITests.swift.
"""
import json
import sys

import yaml
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate as validate_spec


def deref(spec, node):
    """Follows a local $ref ('#/components/…') until a non-reference node."""
    while isinstance(node, dict) and "$ref" in node:
        target = spec
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def main():
    spec_path, records_path = sys.argv[1], sys.argv[2]
    with open(spec_path) as handle:
        spec = yaml.safe_load(handle)
    validate_spec(spec)
    with open(records_path) as handle:
        records = json.load(handle)
    failures = []
    for number, record in enumerate(records):
        where = f"#{number} {record['method']} {record['path']} -> {record['status']}"
        path_item = spec["paths"].get(record["path"])
        operation = (path_item or {}).get(record["method"].lower())
        if operation is None and path_item is not None and record["status"] == 405:
            # A method the path does not serve: documented by the path's 405 answers (with Allow).
            operation = next((op for op in path_item.values() if "405" in op.get("responses", {})), None)
        elif operation is None and path_item is None and record["status"] == 404:
            # A path the API does not have: the router's 404 is the error envelope.
            operation = {"responses": {"404": {"$ref": "#/components/responses/Error"}}}
        if operation is None:
            failures.append(f"{where}: operation not in the spec")
            continue
        response = operation.get("responses", {}).get(str(record["status"]))
        if response is None:
            failures.append(f"{where}: status not documented")
            continue
        response = deref(spec, response)
        for name, header in response.get("headers", {}).items():
            if deref(spec, header).get("required") and name.lower() not in record["headers"]:
                failures.append(f"{where}: required header {name} missing")
        media = (record.get("content_type") or "").split(";")[0].strip().lower()
        content = response.get("content", {})
        if media not in content:
            failures.append(f"{where}: media type {media!r} not documented (documented: {sorted(content)})")
            continue
        if media != "application/json":
            continue
        try:
            body = json.loads(record["body"])
        except ValueError as error:
            failures.append(f"{where}: body is not JSON: {error}")
            continue
        schema = dict(deref(spec, content[media].get("schema", {})))
        schema["components"] = spec.get("components", {})
        errors = sorted(OAS31Validator(schema).iter_errors(body), key=lambda e: list(e.path))
        for error in errors[:5]:
            failures.append(f"{where}: {'/'.join(map(str, error.path)) or '(root)'}: {error.message}")
    for failure in failures:
        print(failure)
    print(f"{len(records)} responses checked, {len(failures)} problems")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
