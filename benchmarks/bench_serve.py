"""How fast ``gpurec serve`` answers the page (run by hand, not by CI).

    python benchmarks/bench_serve.py            # needs Debian's chromium + chromium-driver and selenium
    python benchmarks/bench_serve.py --repeat 5

Figure (target from issue 15): the first result for a catalog model renders within 1 s of submitting.
A fresh ``gpurec serve --port 0`` process is started (its warm-up runs in the background, as for a
user), headless Chromium loads the page, and for each model the form is filled and submitted; the
page records ``performance.now()`` at the submit and when the table is in the DOM
(``window.gpurecTimings``), and again when the plot is drawn. The first model of a fresh server is
reported separately from the later ones. Medians of ``--repeat`` fresh servers.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys

MODELS = ("Qwen/Qwen3-32B", "meta-llama/Llama-3.1-70B", "deepseek-ai/DeepSeek-V3", "openai/gpt-oss-120b")


def one_server() -> list[tuple[str, float, float]]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    proc = subprocess.Popen([sys.executable, "-m", "gpurec_core", "serve", "--port", "0"], stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    url = proc.stdout.readline().split()[2]
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-dev-shm-usage", "--window-size=1400,1300"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    out = []
    try:
        browser.get(url)
        wait = WebDriverWait(browser, 120)
        wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "#engine option")) >= 3)
        for model in MODELS:
            field = browser.find_element(By.ID, "model")
            field.clear()
            field.send_keys(model)
            browser.execute_script("window.gpurecTimings = {}")
            browser.find_element(By.ID, "submit").click()
            wait.until(lambda b: b.execute_script("return window.gpurecTimings.plot !== undefined"))
            t = browser.execute_script("return window.gpurecTimings")
            out.append((model, t["table"] - t["submitted"], t["plot"] - t["submitted"]))
    finally:
        browser.quit()
        proc.terminate()
        proc.wait(timeout=20)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    runs = [one_server() for _ in range(args.repeat)]
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    for i, model in enumerate(MODELS):
        table = statistics.median(r[i][1] for r in runs)
        plot = statistics.median(r[i][2] for r in runs)
        first = " (first search of a fresh server)" if i == 0 else ""
        print(f"{model}: submit -> table {table:.0f} ms, -> plot {plot:.0f} ms{first}")


if __name__ == "__main__":
    main()
