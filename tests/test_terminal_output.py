"""What a person reads at a terminal: the verdict, 80 columns, units, the legend, launch lines, flags."""

import csv
import io
import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from gpurec_core import GPUSpec, recommend_gpus
from gpurec_core.cli import cli

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str, columns: int = 80):
    result = CliRunner().invoke(cli, list(args), env={"COLUMNS": str(columns)})
    return result


def test_readme_set_up_is_what_ci_runs_and_installs_no_example_plugin():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    set_up = next(line for line in readme.splitlines() if line.startswith("python3 -m venv"))
    assert set_up.replace(".venv", ".ci-venv") in ci  # verbatim apart from the venv's name
    assert "examples" not in set_up and "--upgrade pip" not in ci and "pip install -U pip" not in ci


def test_80_columns_start_with_the_verdict_and_fit():
    result = run("recommend", "Qwen/Qwen3-32B")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Recommended: TP") and " on " in lines[0] and " — " in lines[0]
    assert max(len(line) for line in lines) <= 80, max(lines, key=len)
    header = next(line for line in lines if "TTFT ms" in line)
    assert {"GPU", "Layout", "GPUs", "ITL ms", "Max tok/s", "$/h", "$/M out"} <= set(re.split(r"\s{2,}", header.strip()))
    assert "why not" not in header and "KV GiB/GPU" not in header  # --wide shows those


def test_wide_shows_every_column_and_numbers_are_right_aligned():
    result = run("recommend", "Qwen/Qwen3-32B", "--gpus", "H100,L4", "--wide", "--top", "0")
    header = next(line for line in result.stdout.splitlines() if "TTFT ms" in line)
    for column in ("Weights GiB/GPU", "KV GiB/GPU", "Max requests", "tok/s", "Fits", "why not"):
        assert column in header
    row = next(line for line in result.stdout.splitlines() if re.match(r"\s*\d+\s+H100", line))
    ttft_end = header.index("TTFT ms") + len("TTFT ms")
    assert row[ttft_end - 1] != " "  # the number ends under the header's end


def test_slo_columns_and_a_verdict_that_names_the_slos():
    result = run("recommend", "Qwen/Qwen3-32B", "--ttft-slo-ms", "200", "--itl-slo-ms", "20", "--top", "5")
    assert "SLO users" in result.stdout
    assert result.stdout.splitlines()[0].startswith("Recommended:")
    assert "meeting TTFT <= 200 ms and" in result.stdout.replace("\n", " ")
    nothing = run("recommend", "meta-llama/Llama-3.1-70B", "--gpus", "L4", "--itl-slo-ms", "1")
    assert nothing.stdout.startswith("Recommended: nothing meets ITL <= 1 ms")


def test_legend_in_help_and_explain():
    help_text = run("recommend", "--help").stdout
    assert "Max tok/s: output tokens/s when loaded" in help_text and "$/M out" in help_text
    explain = run("recommend", "Qwen/Qwen3-0.6B", "--gpus", "H100", "--top", "1", "--explain").stdout
    assert "Columns:" in explain and "TTFT ms: time to first token" in explain


def test_a_gpu_without_a_price_is_ranked_by_a_labelled_estimate():
    bare = GPUSpec(name="LAB_X", memory_gb=80, bandwidth_tb_s=3.35, bf16_tflops_dense=989, fp8_tflops_dense=1979,
                   interconnect="NVLink 4", interconnect_gb_s=900, architecture="Hopper")
    result = recommend_gpus("Qwen/Qwen3-8B", gpus=[bare, "H100"])
    lab = next(r for r in result if r.recommendation.gpu_spec.name == "LAB_X" and r.recommendation.model_fits)
    h100 = next(r for r in result if r.recommendation.gpu_spec.name == "H100" and r.recommendation.layout == "TP1")
    assert lab.cost.price_estimated and lab.cost.usd_per_million_output_tokens is not None
    assert "estimated: 3.35 TB/s x $" in lab.cost.price_basis and "median" in lab.cost.price_basis
    assert not h100.cost.price_estimated
    ranks = [r.recommendation.gpu_spec.name for r in result.filter_fitting_only()]
    assert ranks.index("LAB_X") < len(ranks) - 1 or ranks[-1] == "LAB_X"  # ranked by its $, not sunk by rule
    table = result.summary()
    assert "~" in table


def test_csv_holds_raw_numbers_with_units_in_the_header():
    result = run("recommend", "Qwen/Qwen3-8B", "--gpus", "H100", "--csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert {"ttft_ms", "itl_ms", "max_output_tok_s", "usd_per_hour", "usd_per_million_output_tokens",
            "kv_cache_gib_per_gpu"} <= set(rows[0])
    assert float(rows[0]["ttft_ms"]) > 0 and "ms" not in rows[0]["ttft_ms"] and "," not in rows[0]["max_output_tok_s"]
    markdown = run("recommend", "Qwen/Qwen3-8B", "--gpus", "H100", "--markdown").stdout
    assert "| TTFT ms |" in markdown and "---:" in markdown


def test_conflicting_output_flags_are_an_error():
    result = run("recommend", "Qwen/Qwen3-8B", "--json", "--csv")
    assert result.exit_code == 2 and "--json and --csv conflict" in result.stderr


def test_impossible_tensor_parallel_size_says_why():
    result = run("recommend", "Qwen/Qwen3-32B", "-tp", "3")
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert "\n" not in line and "num_attention_heads=64 is not divisible by 3" in line and "1, 2, 4, 8" in line
    too_wide = run("recommend", "Qwen/Qwen3-32B", "-tp", "16", "--gpus", "H100")
    assert too_wide.exit_code == 0 and "no GPU searched runs TP16 within one node" in too_wide.stdout.replace("\n", " ")
    assert too_wide.stdout.startswith("Recommended: nothing")


@pytest.mark.parametrize("engine, expected", [
    ("vllm", ["ray start --head --port=6379", "ray start --address=HEAD_IP:6379", "--distributed-executor-backend ray"]),
    ("sglang", ["--nnodes 2 --node-rank 0 --dist-init-addr HEAD_IP:20000",
                "--nnodes 2 --node-rank 1 --dist-init-addr HEAD_IP:20000"]),
])
def test_multi_node_layouts_launch_on_every_node(engine, expected):
    """DeepSeek-V3 on H100 needs TP8 x PP2: two nodes (vLLM docs: Ray cluster; SGLang docs: --nnodes)."""
    items = recommend_gpus("deepseek-ai/DeepSeek-V3", gpus=["H100"], engine=engine,
                           estimate_performance_flag=False).filter_fitting_only()
    item = next(i for i in items if i.recommendation.layout.startswith("TP8xPP2"))
    command = item.launch_command()
    for part in expected:
        assert part in command
    last = command.splitlines()[-1]
    assert shlex.split(last)[:2] in (["vllm", "serve"], ["python", "-m"])


def test_a_precision_that_needs_another_checkpoint_is_said():
    item = recommend_gpus("Qwen/Qwen3-32B", gpus=["H100"], precision="int8").filter_fitting_only()[0]
    assert item.launch_command().startswith("# int8 weights need a pre-quantized int8 checkpoint of Qwen/Qwen3-32B")
    fp8 = recommend_gpus("Qwen/Qwen3-32B", gpus=["H100"], precision="fp8").filter_fitting_only()[0]
    assert "--quantization fp8" in fp8.launch_command()  # a method name vLLM takes


def test_one_flag_vocabulary():
    long = run("recommend", "Qwen/Qwen3-8B", "--gpus", "H100", "--input-length", "2000", "--output-length", "100",
               "--json").stdout
    short = run("recommend", "Qwen/Qwen3-8B", "--gpu", "H100", "--input-len", "2000", "--output-len", "100",
                "--json").stdout
    assert long == short
    assert run("recommend", "Qwen/Qwen3-8B", "--gpus", "H100", "--dtype", "fp16", "--json").exit_code == 0
    conflict = run("recommend", "Qwen/Qwen3-8B", "--dtype", "fp16", "--precision", "fp8")
    assert conflict.exit_code == 2 and "conflict" in conflict.stderr
    model = run("model", "Qwen/Qwen3-8B", "--gpus", "H100", "--precision", "fp8")
    assert model.exit_code == 0, model.output


def test_model_table_shows_readable_numbers():
    text = run("model", "Qwen/Qwen3-0.6B", "--gpu", "H100", columns=200).stdout
    budget = next(line for line in text.splitlines() if "budget_gib" in line)
    assert re.search(r"budget_gib\s*│\s*71\.27\s", budget), budget


def test_at_least_30_bundled_gpus_have_a_dated_sourced_price():
    from gpurec_core.plugins import gpu_catalog

    bundled = [s for s in gpu_catalog().specs if s.provided_by == "toml-catalog"]
    priced = [s for s in bundled if s.price_usd_per_hour is not None]
    assert len(bundled) == 47 and len(priced) >= 30  # 45 GPUs and accelerators, 2 TPUs (unpriced ones: docs/gpus.md)
    for spec in priced:
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", spec.price_date or ""), spec.name
        source = spec.sources.get("price_usd_per_hour", "")
        assert "$" in source and re.search(r"\d{4}-\d{2}", source), (spec.name, source)  # the figure and its date
    for spec in (s for s in bundled if s.price_usd_per_hour is None):
        assert "pric" in spec.notes.lower(), spec.name  # the notes say why it has none


@pytest.mark.parametrize("engine, expected", [
    # vLLM docs, serving/data_parallel_deployment: every node runs vllm serve with the DP sizes and the
    # head's address; the others are --headless with their first rank; EP = TP x DP with --enable-expert-parallel.
    ("vllm", ["--enable-expert-parallel --data-parallel-size 16", "--data-parallel-size-local 8 --data-parallel-address HEAD_IP",
              "--headless", "--data-parallel-start-rank 8"]),
    # SGLang server arguments: --tp counts every GPU under DP attention (--tp 8 --dp 8 --enable-dp-attention),
    # --ep-size, one command per node.
    ("sglang", ["--tp 16 --ep-size 16 --dp 16 --enable-dp-attention", "--nnodes 2 --node-rank 1"]),
])
def test_wide_ep_launch_spans_the_dp_ranks(engine, expected):
    """DeepSeek-V3 with attention DP16 and EP16 over two 8-GPU H100 nodes."""
    items = recommend_gpus("deepseek-ai/DeepSeek-V3", gpus=["H100"], engine=engine,
                           estimate_performance_flag=False).filter_fitting_only()
    item = next(i for i in items if i.recommendation.layout == "DP16 TP1 EP16")
    assert item.recommendation.total_gpus == 16 and item.recommendation.nodes == 2
    command = item.launch_command()
    for part in expected:
        assert part in command, command


def test_a_resorted_result_does_not_call_its_first_row_the_cheapest():
    """After sort_by_performance the summary's first line names the order (the user guide's second
    example), not 'cheapest per output token', which belongs to the default ranking."""
    from gpurec_core import recommend_gpus

    result = recommend_gpus("meta-llama/Llama-3.1-70B", input_length=2048, output_length=1024, precision="fp8")
    assert result.summary(1).startswith("Recommended:") and "cheapest per output token" in result.summary(1)
    fitting = result.filter_fitting_only()
    fitting.sort_by_performance()
    first = fitting.recommendations[0]
    line = fitting.summary(1).splitlines()[0]
    assert line.startswith(f"Sorted by TTFT: {first.recommendation.layout} on {first.recommendation.gpu_spec.name}")
    assert "cheapest" not in line
    fitting.sort_by_cost()
    assert fitting.summary(1).startswith("Sorted by cost:")


def test_the_header_names_routed_experts_stored_in_their_own_format():
    """DeepSeek-V4's checkpoint stores its routed experts in MXFP4 beside FP8 weights (config.json expert_dtype
    "fp4"): the workload line says both."""
    from gpurec_core import recommend_gpus
    from gpurec_core.formatting import workload_line

    result = recommend_gpus("deepseek-ai/DeepSeek-V4-Pro", gpus=["B200"], estimate_performance_flag=False)
    assert "fp8 weights (routed experts mxfp4)" in workload_line(result)
