#!/usr/bin/env bash
# The browser tests (issue 14): the library compiled to wasm32 and run in headless Chromium through WebGPU on
# SwiftShader (Chromium's software GPU; lavapipe is not used by Chromium's WebGPU). Installs what it needs, then runs
# - web/tests/native.rs and session.rs: the native CPU run the browser must reproduce; the page's run loop natively;
# - web/tests/browser.rs in the browser (wasm-bindgen-test): an adapter, every WGSL file compiling, CPU training as
#   native, GPU training steps as the CPU's;
# - tests/browser/page_test.py: the page itself (web/www, built by web/serve.sh) used through WebDriver: training
#   against `gpu-mnist train`, its downloaded checkpoint in `gpu-mnist eval`, the digit pad against `gpu-mnist
#   predict`, the whole `gpu-mnist check` table; it takes the README's two screenshots (target/browser-screenshots).
# Each check prints a BROWSER-CHECK line. Set GPU_MNIST_REQUIRE_GPU=1 (CI does) to fail, not skip, without a WebGPU
# adapter. The first run builds wasm-bindgen-cli (about 5-11 minutes on 2 cores); later runs take about 5 minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."

# The wasm target, and wasm-bindgen-cli at exactly Cargo.lock's wasm-bindgen version (its test runner drives the
# browser). Not --locked: with it, one of its pinned dependencies is missing from the registry.
rustup target add wasm32-unknown-unknown
version=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"$/\1/p')
if ! wasm-bindgen-test-runner --version 2>/dev/null | grep -qF "$version"; then
  cargo install wasm-bindgen-cli --version "$version"
fi

# Chromium, its WebDriver and Selenium for the page's tests (Debian's packages; /usr/bin/python3 is Debian's).
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null \
  || ! /usr/bin/python3 -c 'import selenium' 2>/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium chromium-driver python3-selenium >/dev/null
fi
echo "browser: $(chromium --version), $(wasm-bindgen-test-runner --version)"

# The native half: tests/native_cpu.json is this build's CPU run.
cargo test --release --locked -p gpu-mnist-web --test native --test session

# The browser half, in headless Chromium with WebGPU on (web/webdriver.json holds the flags; do not add
# --enable-features=Vulkan: requestAdapter() then hangs).
export CHROMEDRIVER="$(command -v chromedriver)"
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
export WASM_BINDGEN_TEST_TIMEOUT=300
cargo test --locked -p gpu-mnist-web --target wasm32-unknown-unknown --test browser -- --nocapture 2>&1 | tee /tmp/gpu-mnist-browser.log
grep -q "test result: ok" /tmp/gpu-mnist-browser.log

# The page, as a person uses it, against the native binary.
cargo build --release --locked --bin gpu-mnist
bash web/serve.sh --build-only
/usr/bin/python3 tests/browser/page_test.py --binary target/release/gpu-mnist --shots target/browser-screenshots
