#!/usr/bin/env bash
# Builds the page (the library compiled to wasm32, bound to JavaScript by wasm-bindgen) and serves it on
# http://127.0.0.1:PORT/ with the MNIST files of assets/mnist beside it. Stop it with Ctrl-C.
#
#   bash web/serve.sh [--port 8000] [--build-only]
#
# Needs the wasm32 target and wasm-bindgen-cli at Cargo.lock's wasm-bindgen version (tests/browser/run.sh installs
# both), and python3 for the static file server (bound to 127.0.0.1 only; nothing is fetched from anywhere else).
set -euo pipefail
cd "$(dirname "$0")/.."
port=8000
build_only=0
while [ $# -gt 0 ]; do
  case "$1" in
    --port) port="${2:?--port needs a number}"; shift 2 ;;
    --port=*) port="${1#--port=}"; shift ;;
    --build-only) build_only=1; shift ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "web/serve.sh: unknown argument $1 (try --port N, --build-only)" >&2; exit 2 ;;
  esac
done
case "$port" in ''|*[!0-9]*) echo "web/serve.sh: --port $port is not a port number" >&2; exit 2 ;; esac

version=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"$/\1/p')
if ! wasm-bindgen --version 2>/dev/null | grep -qF "$version"; then
  echo "web/serve.sh: needs wasm-bindgen-cli $version: cargo install wasm-bindgen-cli --version $version" >&2
  exit 1
fi

# The wasm: release build of the web crate, then its JavaScript bindings into web/www/pkg (ignored by git).
cargo build --release --locked -p gpu-mnist-web --lib --target wasm32-unknown-unknown
wasm-bindgen --target web --no-typescript --out-dir web/www/pkg \
  target/wasm32-unknown-unknown/release/gpu_mnist_web.wasm
# The data beside the page: the embedded MNIST's own files, parsed in the browser by the library's IDX parser.
mkdir -p web/www/mnist
cp assets/mnist/*.gz web/www/mnist/
echo "built: web/www (wasm $(du -h web/www/pkg/gpu_mnist_web_bg.wasm | cut -f1))"
[ "$build_only" = 1 ] && exit 0

echo "serving http://127.0.0.1:$port/ (Ctrl-C stops it)"
exec python3 -m http.server "$port" --bind 127.0.0.1 --directory web/www
