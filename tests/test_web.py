"""`gpurec serve` (issue 15): the JSON API answers with the CLI's --json schema and the CLI's one-line
errors, the server stops cleanly on SIGTERM, and a real headless Chromium (Debian's chromium and
chromium-driver, driven by Selenium) fills the form and gets the table, the plot and the row details.

The browser test saves a screenshot and the page's timings under ``$GPUREC_ARTIFACTS`` (default
``.artifacts/``); it is skipped, with the reason shown, where Chromium, its driver or Selenium is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from gpurec_core.web.server import make_server

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("GPUREC_ARTIFACTS", ROOT / ".artifacts"))


@pytest.fixture(scope="module")
def base_url():
    server = make_server("127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def get(url: str) -> tuple[int, object, dict]:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), dict(exc.headers)


#: The CLI as the in-process server sees the plugins in tests: the bundled ones only (conftest).
CLI_ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "GPUREC_DISABLE_PLUGIN_AUTOLOAD": "1"}


def cli_json(*args: str) -> object:
    done = subprocess.run([sys.executable, "-m", "gpurec_core", *args], capture_output=True, text=True, check=True,
                          env=CLI_ENV)
    return json.loads(done.stdout)


def test_recommend_answers_the_cli_json(base_url):
    """/api/recommend is `gpurec recommend --json` for the same options, valid against its schema."""
    import jsonschema

    status, data, headers = get(f"{base_url}/api/recommend?model=Qwen/Qwen3-8B&gpus=H100,L40S&input_length=2048"
                                "&output_length=256&top=3")
    assert status == 200 and headers["Content-Type"] == "application/json"
    jsonschema.validate(data, json.loads((ROOT / "docs" / "recommend.schema.json").read_text()))
    cli = cli_json("recommend", "Qwen/Qwen3-8B", "--gpus", "H100,L40S", "--input-length", "2048",
                   "--output-length", "256", "--top", "3", "--json")
    assert data == cli


def test_recommend_behind_dynamo_answers_the_cli_json(base_url):
    status, data, _ = get(f"{base_url}/api/recommend?model=Qwen/Qwen3-8B&gpus=H100&engine=trtllm&frontend=dynamo"
                          "&top=1")
    assert status == 200 and data["workload"]["frontend"] == "dynamo"
    assert data == cli_json("recommend", "Qwen/Qwen3-8B", "--gpus", "H100", "--engine", "trtllm", "--frontend",
                            "dynamo", "--top", "1", "--json")


def test_recommend_with_speculative_decoding_answers_the_cli_json(base_url):
    status, data, _ = get(f"{base_url}/api/recommend?model=Qwen/Qwen3-8B&gpus=H100&speculative_tokens=2"
                          "&acceptance_length=2.2&top=1")
    assert status == 200 and data["workload"]["speculative_tokens"] == 2 and data["workload"]["tokens_per_step"] == 2.2
    assert data == cli_json("recommend", "Qwen/Qwen3-8B", "--gpus", "H100", "--speculative-tokens", "2",
                            "--acceptance-length", "2.2", "--top", "1", "--json")


def test_model_and_gpus_answer_the_cli_json(base_url):
    status, data, _ = get(f"{base_url}/api/model?model=Qwen/Qwen3-30B-A3B&gpu=H100&tensor_parallel_size=2")
    assert status == 200
    assert data == cli_json("model", "Qwen/Qwen3-30B-A3B", "--gpu", "H100", "-tp", "2", "--json")
    status, gpus, _ = get(f"{base_url}/api/gpus")
    assert status == 200 and gpus == cli_json("gpus", "--json")
    # H100 SXM: 80 GB HBM3 at 3.35 TB/s (NVIDIA H100 datasheet)
    h100 = next(g for g in gpus if g["name"] == "H100")
    assert h100["bandwidth_tb_s"] == pytest.approx(3.35)


def test_bad_inputs_are_4xx_with_the_cli_message(base_url):
    """An unknown model is a 404 with the message the CLI prints after 'gpurec: error:'; a malformed
    number or an unknown parameter is a 400 naming it; no 500, no traceback."""
    status, data, _ = get(f"{base_url}/api/recommend?model=Qwen/Qwen3-32X")
    done = subprocess.run([sys.executable, "-m", "gpurec_core", "recommend", "Qwen/Qwen3-32X"], capture_output=True,
                          text=True, env=CLI_ENV)
    assert status == 404 and done.returncode == 2
    assert done.stderr.strip() == f"gpurec: error: {data['error']}"
    assert "Did you mean Qwen/Qwen3-32B" in data["error"]
    for query, needle in (("model=Qwen/Qwen3-8B&input_length=abc", "input_length must be a whole number"),
                          ("model=Qwen/Qwen3-8B&ttft_slo_ms=nan", "ttft_slo_ms must be a number"),
                          ("model=Qwen/Qwen3-8B&input_lenght=10", "unknown parameter 'input_lenght'"),
                          ("model=Qwen/Qwen3-8B&gpus=H1000", "H1000"),
                          ("model=Qwen/Qwen3-8B&input_length=0", "input_length"),
                          ("model=Qwen/Qwen3-8B&engine=nope", "nope"),
                          ("model=Qwen/Qwen3-8B&frontend=nginx", "frontend='nginx'"),
                          ("", "model is required")):
        status, data, _ = get(f"{base_url}/api/recommend?{query}")
        assert 400 <= status < 500 and needle in data["error"] and "\n" not in data["error"], (query, data)
    status, data, _ = get(f"{base_url}/api/nothing")
    assert status == 404 and "/api/recommend" in data["error"]
    status, data, _ = get(f"{base_url}/../../etc/passwd")
    assert status == 404


def test_curves_table_and_explain_follow_one_search(base_url):
    query = "model=meta-llama/Llama-3.1-8B&gpus=H100,A100&itl_slo_ms=20&top=4"
    _, data, _ = get(f"{base_url}/api/recommend?{query}")
    _, table, _ = get(f"{base_url}/api/table?{query}")
    _, curves, _ = get(f"{base_url}/api/curves?{query}")
    _, explain, _ = get(f"{base_url}/api/explain?{query}&rank=1")
    first = data["recommendations"][0]
    assert table["verdict"] == data["verdict"] and len(table["rows"]) == len(data["recommendations"]) == 4
    assert table["rows"][0][1] == first["gpu"] and table["rows"][0][2] == first["layout"]
    assert curves["itl_slo_ms"] == 20 and curves["curves"][0]["points"][0]["concurrency"] == 1
    assert explain["text"].startswith(f"Why {first['gpu']} {first['layout']}:")
    status, data, _ = get(f"{base_url}/api/explain?{query}&rank=9")
    assert status == 400 and "rank must be between 1 and 4" in data["error"]


def test_the_page_and_its_assets_come_from_this_server_only(base_url):
    for path in ("/", "/app.js", "/app.css"):
        with urllib.request.urlopen(base_url + path, timeout=10) as response:
            body = response.read().decode()
            assert response.status == 200
            assert "default-src 'self'" in response.headers["Content-Security-Policy"]
        assert "http://" not in body.replace("http://www.w3.org/2000/svg", "") and "https://" not in body


def test_serve_stops_cleanly_on_sigterm_and_ctrl_c():
    for sig in (signal.SIGTERM, signal.SIGINT):
        proc = subprocess.Popen([sys.executable, "-m", "gpurec_core", "serve", "--port", "0"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        line = proc.stdout.readline()
        assert line.startswith("gpurec serve: http://127.0.0.1:")
        url = line.split()[2]
        with urllib.request.urlopen(url + "api/options", timeout=30) as response:
            assert response.status == 200
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0 and "gpurec serve: stopped" in out and "Traceback" not in err


def test_a_port_in_use_is_one_line():
    server = make_server("127.0.0.1", 0)
    try:
        port = server.server_address[1]
        done = subprocess.run([sys.executable, "-m", "gpurec_core", "serve", "--port", str(port)], capture_output=True,
                              text=True, timeout=30)
        assert done.returncode != 0 and f"cannot listen on 127.0.0.1:{port}" in done.stderr
        assert "Traceback" not in done.stderr
    finally:
        server.server_close()


def _browser_or_skip():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.skip("headless Chromium not installed: `apt-get install chromium chromium-driver` "
                    f"(found chromium={chromium}, chromedriver={driver})")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium not installed: pip install -e '.[test]'")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1400,1900"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


def test_browser_fills_the_form_and_gets_table_plot_and_details(base_url):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    browser = _browser_or_skip()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        browser.get(base_url + "/")
        wait = WebDriverWait(browser, 60)
        wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "#engine option")) >= 3)
        browser.find_element(By.ID, "model").send_keys("meta-llama/Llama-3.1-70B")
        gpus = browser.find_element(By.NAME, "gpus")
        gpus.send_keys("H100,H200,B200,MI300X")
        for name, value in (("input_length", "2048"), ("output_length", "512"), ("itl_slo_ms", "30")):
            field = browser.find_element(By.NAME, name)
            field.clear()
            field.send_keys(value)
        browser.find_element(By.ID, "submit").click()
        wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, "#table tbody tr")))
        wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, "#plot polyline.curve")))
        wait.until(lambda b: b.find_element(By.ID, "explain").text.startswith("Why "))
        verdict = browser.find_element(By.ID, "verdict").text
        assert verdict.startswith("Recommended:")
        rows = browser.find_elements(By.CSS_SELECTOR, "#table tbody tr")
        assert rows and rows[0].find_elements(By.TAG_NAME, "td")[1].text in ("H100", "H200", "B200", "MI300X")
        assert "vllm serve meta-llama/Llama-3.1-70B" in browser.find_element(By.ID, "launch").text
        assert browser.find_elements(By.CSS_SELECTOR, "#plot line.slo")  # the ITL SLO line
        assert browser.find_elements(By.CSS_SELECTOR, "#memory .bar div")
        # the state is in the URL: reloading it reproduces the view
        url = browser.current_url
        assert "model=meta-llama%2FLlama-3.1-70B" in url and "itl_slo_ms=30" in url
        timings = browser.execute_script("return window.gpurecTimings")
        browser.save_screenshot(str(ARTIFACTS / "serve.png"))
        rows[1].click()
        wait.until(lambda b: b.find_element(By.ID, "detail-title").text.startswith("#2 "))
        # the plot is interactive: clicking the third candidate's curve selects its row
        browser.execute_script("document.querySelector('#plot polyline.curve[data-rank=\"3\"]')"
                               ".dispatchEvent(new MouseEvent('click', {bubbles: true}))")
        wait.until(lambda b: b.find_element(By.ID, "detail-title").text.startswith("#3 "))
        browser.get(url)
        wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, "#plot polyline.curve")))
        assert browser.find_element(By.ID, "verdict").text == verdict
        browser.find_element(By.ID, "model").clear()
        browser.find_element(By.ID, "model").send_keys("Qwen/Qwen3-32X")
        browser.find_element(By.ID, "submit").click()
        wait.until(lambda b: b.find_element(By.ID, "error").is_displayed())
        assert "Did you mean Qwen/Qwen3-32B" in browser.find_element(By.ID, "error").text
        (ARTIFACTS / "serve_timings.json").write_text(json.dumps(
            {"submit_to_table_ms": timings["table"] - timings["submitted"],
             "submit_to_plot_ms": timings["plot"] - timings["submitted"]}, indent=2))
    finally:
        browser.quit()


def test_other_methods_get_a_json_refusal(base_url):
    request = urllib.request.Request(base_url + "/api/recommend", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=10)
    assert info.value.code == 501 and "answers GET only" in json.loads(info.value.read())["error"]
