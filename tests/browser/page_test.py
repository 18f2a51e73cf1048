#!/usr/bin/python3
"""The page's tests (issue 14), in headless Chromium driven by WebDriver (Debian's python3-selenium, chromedriver):
the page built by `web/serve.sh --build-only` and served on 127.0.0.1 is used as a person would use it — the form, the
buttons, the digit pad's pointer events, the checkpoint download and upload — and what it shows is compared with
the native `gpu-mnist` binary:

1. a short run trained in the page (WebGPU) ends with the weights of the same run of `gpu-mnist train --backend cpu`
   within 1e-4, and its test loss within 1e-3 relative;
2. the checkpoint downloaded from the page loads in `gpu-mnist eval` with the test accuracy the page showed;
3. a digit drawn on the canvas, with a natively trained checkpoint loaded through the page's file input, gets the
   class and, within 1e-4, the probabilities `gpu-mnist predict` gives for the canvas saved as a PNG;
4. `gpu-mnist check`'s table run by the page's button passes on the browser's adapter;
5. Stop and Continue in the middle of an epoch change nothing (the weights of check 1 are those of the stopped run);
6. in a browser without WebGPU the page says what to do and trains the same run on the CPU reference in wasm.

It takes the two screenshots shown in the README (mid-training with curves; the digit pad with a prediction). Each
check prints a BROWSER-CHECK line. Without a WebGPU adapter the GPU checks fail if GPU_MNIST_REQUIRE_GPU=1 (CI),
and are skipped with a notice otherwise.

    /usr/bin/python3 tests/browser/page_test.py --binary target/release/gpu-mnist --shots OUT_DIR
"""

import argparse
import base64
import json
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service as ChromeService
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

ROOT = Path(__file__).resolve().parents[2]
PAGE_URL = None  # where the page is served, once it is
# The run trained in the page and natively: 784-32-10 ReLU, SGD with momentum, 3 epochs of the first 1000 digits.
RUN = dict(hidden='32', activation='relu', loss='xent', optimizer='momentum', lr='0.05', hypers='momentum=0.9',
           init='', schedule='linear', batch='32', epochs='3', samples='1000', dropout='0', seed='42')
NATIVE_FLAGS = ['--hidden', '32', '--activation', 'relu', '--loss', 'xent', '--optimizer', 'momentum', '--lr', '0.05',
                '--momentum', '0.9', '--lr-schedule', 'linear', '--batch-size', '32', '--epochs', '3', '--limit',
                '1000', '--seed', '42', '--dropout', '0']


def check(message):
    print(f'BROWSER-CHECK {message}', flush=True)


def fail(message):
    print(f'FAILED: {message}', flush=True)
    sys.exit(1)


def read_safetensors(path):
    """Every tensor of a safetensors file as a flat list of floats, by name (F32 only, as gpu-mnist writes)."""
    raw = Path(path).read_bytes()
    (n,) = struct.unpack('<Q', raw[:8])
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, t in header.items():
        if name == '__metadata__':
            continue
        begin, end = t['data_offsets']
        out[name] = struct.unpack(f'<{(end - begin) // 4}f', raw[8 + n + begin:8 + n + end])
    return out, header.get('__metadata__', {})


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def wait_for(driver, script, timeout, what):
    """Polls `script` (JavaScript returning a value) until it is truthy; fails naming `what` after `timeout` s."""
    end = time.time() + timeout
    while time.time() < end:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.2)
    status, ckinfo = driver.execute_script(
        "return ['status', 'ckinfo'].map(id => document.getElementById(id).textContent)")
    fail(f'{what}: not after {timeout} s (page status: {status}; checkpoint: {ckinfo})')


def fill(driver, field, value):
    el = driver.find_element(By.ID, field)
    if el.tag_name == 'select':
        Select(el).select_by_visible_text(value) if value else Select(el).select_by_index(0)
    else:
        el.clear()
        el.send_keys(value)


def run_native(binary, *args):
    done = subprocess.run([binary, *args], capture_output=True, text=True)
    if done.returncode != 0:
        fail(f'{binary} {" ".join(args)}: {done.stderr}')
    return done.stdout + done.stderr


def browser(downloads):
    options = webdriver.ChromeOptions()
    for flag in ['--headless=new', '--no-sandbox', '--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader',
                 '--enable-unsafe-swiftshader', '--window-size=1500,1150']:
        options.add_argument(flag)
    options.binary_location = '/usr/bin/chromium'
    options.add_experimental_option('prefs', {'download.default_directory': str(downloads),
                                              'download.prompt_for_download': False})
    service = ChromeService(executable_path=os.environ.get('CHROMEDRIVER', '/usr/bin/chromedriver'))
    return webdriver.Chrome(options=options, service=service)


def train_in_page(driver, binary, work, shots):
    """Checks 1 and 2, and the first screenshot."""
    for field, value in RUN.items():
        fill(driver, field, value)
    started = time.time()
    driver.find_element(By.ID, 'train').click()
    # Mid-training: after the first epoch, while the next one trains.
    wait_for(driver, 'const r = window.gpuMnistReport; return r && r.history.length >= 2 && r.phase === "training" '
             '&& r.samples > 0', 600, 'the page training its third epoch')
    driver.save_screenshot(str(shots / 'training.png'))
    # Stop mid-epoch, then Continue: the run must end exactly as an uninterrupted one (checked below).
    driver.find_element(By.ID, 'stop').click()
    wait_for(driver, 'return window.gpuMnistIdle', 120, 'the page stopping')
    stopped = driver.execute_script('return window.gpuMnistReport')
    driver.find_element(By.ID, 'continue').click()
    check(f'page stop and continue: stopped in epoch {stopped["epoch"] + 1} at {stopped["samples"]} of '
          f'{stopped["total"]} samples, continued')
    wait_for(driver, 'return window.gpuMnistIdle && window.gpuMnistReport && window.gpuMnistReport.finished', 600,
             'the page finishing its run')
    report = driver.execute_script('return window.gpuMnistReport')
    seconds = time.time() - started
    last = report['history'][-1]
    check(f'page training: {report["epochs"]} epochs of {report["total"]} digits on WebGPU in {seconds:.1f} s '
          f'({report["samples_per_sec"]:.0f} samples/s), test loss {last["test_loss"]:.6f}, '
          f'test accuracy {100 * last["test_acc"]:.2f}%')

    # The page's checkpoint, downloaded by its button.
    driver.find_element(By.ID, 'download').click()
    page_ck = work / 'downloads' / 'gpu-mnist-page.safetensors'
    end = time.time() + 60
    while not page_ck.exists() and time.time() < end:
        time.sleep(0.2)
    if not page_ck.exists():
        fail(f'the download button wrote no {page_ck}')

    # The same run natively, on the CPU reference.
    native_ck = work / 'native.safetensors'
    metrics = work / 'native.jsonl'
    run_native(binary, 'train', '--backend', 'cpu', *NATIVE_FLAGS, '--save', str(native_ck), '--metrics',
               str(metrics), '-q')
    native_last = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()][-1]
    got, _ = read_safetensors(page_ck)
    want, _ = read_safetensors(native_ck)
    weights = [k for k in want if not k.startswith('optimizer')]
    worst, outside, count = 0.0, [], 0
    for name in weights:
        for i, (g, w) in enumerate(zip(got[name], want[name])):
            count += 1
            worst = max(worst, abs(g - w))
            if not abs(g - w) <= 1e-4 + 1e-4 * abs(w):
                outside.append((name, i, g, w))
    steps = 3 * (1000 // 32 + 1)
    check(f'page weights vs native CPU: {count} parameters after {steps} steps, largest difference {worst:.2e}')
    if outside:
        fail(f'{len(outside)} parameters outside 1e-4 of the native run, first {outside[:5]}')
    rel = abs(last['test_loss'] - native_last['test_loss']) / abs(native_last['test_loss'])
    check(f'page test loss {last["test_loss"]:.6f} vs native {native_last["test_loss"]:.6f}: relative {rel:.2e}')
    if rel > 1e-3:
        fail('the page\'s test loss is not within 1e-3 of the native run\'s')

    # The downloaded checkpoint in `gpu-mnist eval`.
    out = run_native(binary, 'eval', '--model', str(page_ck))
    m = re.search(r'test loss [0-9.]+ acc ([0-9.]+)%', out)
    if not m:
        fail(f'no accuracy in gpu-mnist eval\'s output: {out}')
    shown = f'{100 * last["test_acc"]:.2f}'
    check(f'downloaded checkpoint in gpu-mnist eval: {m.group(1)}% (the page showed {shown}%)')
    if f'{float(m.group(1)):.2f}' != shown:
        fail(f'gpu-mnist eval gives {m.group(1)}%, the page showed {shown}%')


def digit_pad(driver, binary, work, shots):
    """Check 3, and the second screenshot."""
    pad_ck = work / 'pad.safetensors'
    run_native(binary, 'train', '--backend', 'cpu', '--hidden', '64', '--limit', '10000', '--epochs', '2',
               '--save', str(pad_ck), '-q')
    driver.find_element(By.ID, 'upload').send_keys(str(pad_ck))
    wait_for(driver, 'return window.gpuMnistLoaded', 120, 'the page loading the native checkpoint')
    driver.find_element(By.ID, 'clear').click()
    pad = driver.find_element(By.ID, 'pad')
    # A 7: a bar, then the stroke down, through the page's own pointer handlers (offsets from the pad's centre).
    actions = ActionChains(driver, duration=20)
    actions.move_to_element_with_offset(pad, -70, -85).click_and_hold()
    for x, y in [(-30, -88), (10, -90), (50, -88), (75, -85), (60, -50), (40, -10), (22, 30), (8, 70), (0, 100)]:
        actions.move_to_element_with_offset(pad, x, y)
    actions.release().perform()
    time.sleep(0.5)
    wait_for(driver, 'return window.gpuMnistPredicting === false && window.gpuMnistPrediction', 60,
             'a prediction of the drawn digit')
    ranked = driver.execute_script('return window.gpuMnistPrediction')
    png = base64.b64decode(driver.execute_script(
        'return document.getElementById("pad").toDataURL("image/png").split(",")[1]'))
    canvas = work / 'canvas.png'
    canvas.write_bytes(png)
    driver.save_screenshot(str(shots / 'digit-pad.png'))
    out = run_native(binary, 'predict', '--model', str(pad_ck), '--top', '10', '--decimals', '6', str(canvas))
    line = next((l for l in out.splitlines() if l.startswith(str(canvas))), '')
    native = [(int(c), float(p) / 100) for c, p in re.findall(r'(\d) ([0-9.]+)%', line.split('(', 1)[-1])]
    if len(native) != 10:
        fail(f'gpu-mnist predict printed no ten classes: {out}')
    page_class, native_class = ranked[0][0], native[0][0]
    page_p = dict((int(c), p) for c, p in ranked)
    worst = max(abs(page_p[c] - p) for c, p in native)
    check(f'digit pad: the page says {page_class} ({100 * ranked[0][1]:.2f}%), gpu-mnist predict on the canvas '
          f'as PNG says {native_class} ({100 * native[0][1]:.2f}%); largest probability difference {worst:.1e}')
    if page_class != native_class or worst > 1e-4:
        fail(f'the page ({ranked}) and gpu-mnist predict ({native}) differ')


def kernel_checks(driver):
    """Check 4: gpu-mnist check's table, run by the page's button."""
    started = time.time()
    driver.find_element(By.ID, 'checks').click()
    result = wait_for(driver, 'return window.gpuMnistChecks', 1200, 'the kernel check table')
    rows = driver.execute_script(
        'return [...document.querySelectorAll("#checktable tbody tr")].filter(r => r.cells.length === 4)'
        '.map(r => [...r.cells].map(c => c.textContent))')
    for family, passed, worst, seconds in rows:
        check(f'kernel check {family}: {passed} passed, largest |got - want| {worst} ({seconds} s)')
    check(f'kernel check table: {result["passed"]} of {result["rows"]} comparisons passed on the browser\'s adapter '
          f'in {time.time() - started:.0f} s')
    listed = driver.execute_script('return [...document.querySelectorAll("#checktable pre")]'
                                   '.reduce((n, p) => n + p.textContent.split("\\n").length, 0)')
    if listed != result['rows']:
        fail(f'the page lists {listed} comparisons of the {result["rows"]} it ran')
    if result.get('error') or result['families'] != result['of']:
        fail(f'the kernel check table stopped after {result["families"]} of {result["of"]} families: '
             f'{result.get("error")}')
    if result['rows'] == 0 or result['passed'] != result['rows']:
        summary = driver.execute_script('return document.getElementById("checksummary").textContent')
        fail(f'kernel checks failed in the browser: {result}: {summary}')


def without_webgpu(binary, work):
    """A browser without WebGPU: the page says what to do and trains on the CPU reference compiled to wasm, the same
    run as natively."""
    options = webdriver.ChromeOptions()
    for flag in ['--headless=new', '--no-sandbox', '--disable-webgpu', '--window-size=1500,1150']:
        options.add_argument(flag)
    options.binary_location = '/usr/bin/chromium'
    service = ChromeService(executable_path=os.environ.get('CHROMEDRIVER', '/usr/bin/chromedriver'))
    driver = webdriver.Chrome(options=options, service=service)
    try:
        driver.get(PAGE_URL)
        wait_for(driver, 'return window.gpuMnistReady', 180, 'the page loading without WebGPU')
        shown = driver.execute_script('const e = document.getElementById("nowebgpu"); return !e.hidden && '
                                      'e.textContent')
        if not shown or driver.execute_script('return !document.getElementById("checks").disabled'):
            fail('without WebGPU the page shows no notice, or offers the GPU checks')
        for field, value in RUN.items():
            fill(driver, field, value)
        started = time.time()
        driver.find_element(By.ID, 'train').click()
        wait_for(driver, 'return window.gpuMnistIdle && window.gpuMnistReport && window.gpuMnistReport.finished', 600,
                 'the page finishing its run on the CPU reference')
        last = driver.execute_script('return window.gpuMnistReport')['history'][-1]
        native = [json.loads(line) for line in (work / 'native.jsonl').read_text().splitlines() if line.strip()][-1]
        notice = ' '.join(shown.split()).split('. ')[0]
        check(f'page without WebGPU: notice shown ("{notice}."), 3 epochs on the CPU reference '
              f'(wasm) in {time.time() - started:.1f} s, test loss {last["test_loss"]:.6f} (native '
              f'{native["test_loss"]:.6f})')
        if abs(last['test_loss'] - native['test_loss']) > 1e-3 * abs(native['test_loss']):
            fail('the page on the CPU reference does not train the native run')
    finally:
        driver.quit()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--binary', default=str(ROOT / 'target/release/gpu-mnist'))
    parser.add_argument('--shots', default=str(ROOT / 'target/browser-screenshots'))
    parser.add_argument('--parts', default='train,pad,checks,nogpu', help='which checks to run (all by default)')
    args = parser.parse_args()
    shots = Path(args.shots)
    shots.mkdir(parents=True, exist_ok=True)
    require_gpu = os.environ.get('GPU_MNIST_REQUIRE_GPU') == '1'
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / 'downloads').mkdir()
        port = free_port()
        server = subprocess.Popen([sys.executable, '-m', 'http.server', str(port), '--bind', '127.0.0.1',
                                   '--directory', str(ROOT / 'web/www')], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        driver = None
        try:
            time.sleep(0.5)
            driver = browser(work / 'downloads')
            global PAGE_URL
            PAGE_URL = f'http://127.0.0.1:{port}/'
            driver.get(PAGE_URL)
            wait_for(driver, 'return window.gpuMnistReady', 180, 'the page loading its wasm and data')
            adapter = driver.find_element(By.ID, 'adapter').text
            check(f'page adapter: {adapter}')
            if not driver.execute_script('return !document.getElementById("checks").disabled'):
                if require_gpu:
                    fail(f'GPU_MNIST_REQUIRE_GPU=1 and the page found no WebGPU adapter: {adapter}')
                print(f'skipped: the page found no WebGPU adapter ({adapter})')
                return
            parts = args.parts.split(',')
            if 'train' in parts:
                train_in_page(driver, args.binary, work, shots)
            if 'pad' in parts:
                digit_pad(driver, args.binary, work, shots)
            if 'checks' in parts:
                kernel_checks(driver)
            if 'nogpu' in parts and (work / 'native.jsonl').exists():
                without_webgpu(args.binary, work)
            logs = driver.get_log('browser')
            errors = [e for e in logs if e.get('level') == 'SEVERE']
            if errors:
                print('browser console errors:', *errors, sep='\n  ')
        finally:
            if driver:
                driver.quit()
            server.terminate()
    print(f'page tests: ok (screenshots in {shots})')


if __name__ == '__main__':
    main()
