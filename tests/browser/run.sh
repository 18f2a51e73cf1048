#!/usr/bin/env bash
# The browser tests (issue 14): the library compiled to wasm32 and run in headless Chromium through WebGPU on
# SwiftShader (Chromium's software GPU; lavapipe is not used by Chromium's WebGPU). Installs what it needs, then runs
# web/tests/native.rs (the native CPU run the browser must reproduce) and web/tests/browser.rs in the browser (an
# adapter, every WGSL file compiling, CPU training as native, GPU training steps as the CPU's), each check printing a
# BROWSER-CHECK line. Set GPU_MNIST_REQUIRE_GPU=1 (CI does) to fail, not skip, without a WebGPU
# adapter. The first run builds wasm-bindgen-cli (about 11 minutes on 2 cores); later runs take about a minute.
set -euo pipefail
cd "$(dirname "$0")/../.."

# The wasm target, and wasm-bindgen-cli at exactly Cargo.lock's wasm-bindgen version (its test runner drives the
# browser). Not --locked: with it, one of its pinned dependencies is missing from the registry.
rustup target add wasm32-unknown-unknown
version=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"$/\1/p')
if ! wasm-bindgen-test-runner --version 2>/dev/null | grep -qF "$version"; then
  cargo install wasm-bindgen-cli --version "$version"
fi

# Chromium and its WebDriver (Debian's packages).
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium chromium-driver >/dev/null
fi
echo "browser: $(chromium --version), $(wasm-bindgen-test-runner --version)"

# The native half: tests/native_cpu.json is this build's CPU run.
cargo test --release --locked -p gpu-mnist-web --test native

# The browser half, in headless Chromium with WebGPU on (web/webdriver.json holds the flags; do not add
# --enable-features=Vulkan: requestAdapter() then hangs).
export CHROMEDRIVER="$(command -v chromedriver)"
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
export WASM_BINDGEN_TEST_TIMEOUT=300
cargo test --locked -p gpu-mnist-web --target wasm32-unknown-unknown --test browser -- --nocapture 2>&1 | tee /tmp/gpu-mnist-browser.log
grep -q "test result: ok" /tmp/gpu-mnist-browser.log
