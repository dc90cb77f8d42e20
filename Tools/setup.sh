#!/usr/bin/env bash
# Installs what Tally needs on a fresh Debian machine (idempotent, non-interactive).
# Sourced by Tools/run and Tools/test; safe to run on its own.
set -euo pipefail

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"
    else echo "tally setup: need root (or sudo) to run: $*" >&2; return 1
    fi
}

need_packages=()
dpkg -s liblmdb-dev >/dev/null 2>&1 || need_packages+=(liblmdb-dev)
command -v pkg-config >/dev/null 2>&1 || need_packages+=(pkg-config)
if [ "${#need_packages[@]}" -gt 0 ]; then
    echo "tally setup: installing ${need_packages[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -qq
    as_root apt-get install -y -qq "${need_packages[@]}" >/dev/null
fi

# The definitions-schema agreement test runs Python's jsonschema and PyYAML with its libyaml
# binding (the pure-Python reader disagrees with libyaml, which Yams uses, on a few inputs).
if ! python3 -c 'import jsonschema; from yaml.cyaml import CParser' >/dev/null 2>&1; then
    echo "tally setup: installing python3 jsonschema and PyYAML" >&2
    python3 -m pip install --quiet jsonschema pyyaml 2>/dev/null \
        || { export DEBIAN_FRONTEND=noninteractive; as_root apt-get update -qq; as_root apt-get install -y -qq python3-jsonschema python3-yaml >/dev/null; }
fi

# The server's OpenAPI test validates live answers with openapi-schema-validator.
if ! python3 -c 'import openapi_schema_validator, openapi_spec_validator' >/dev/null 2>&1; then
    echo "tally setup: installing python3 openapi-schema-validator and openapi-spec-validator" >&2
    python3 -m pip install --quiet openapi-schema-validator openapi-spec-validator
fi

if ! command -v swift >/dev/null 2>&1; then
    for candidate in /opt/swift/usr/bin /usr/share/swift/usr/bin; do
        [ -x "$candidate/swift" ] && export PATH="$candidate:$PATH" && break
    done
fi
command -v swift >/dev/null 2>&1 || { echo "tally setup: the Swift 6 toolchain is required (swift not found)" >&2; exit 1; }
