"""Speculative decoding (MTP / EAGLE): draft passes, a verify step of 1 + k tokens, and a request
advancing its acceptance length per step (gpurec_core.speculative, gpurec_roofline.step.draft_pass_s,
gpurec_roofline.serving.serve)."""

from __future__ import annotations

import json
import statistics

import pytest

from gpurec_core import estimate_disaggregated, estimate_performance, recommend_gpus
from gpurec_core.errors import WorkloadError
from gpurec_core.speculative import default_acceptance_length
from gpurec_core.validate import validate_file

#: SemiAnalysis InferenceX golden_al_distribution/*.yaml @843c6254 (2026-08-21): the acceptance length
#: measured with SPEED-Bench's coding category on B300 with vLLM, for 1..8 draft tokens, per model and
#: thinking mode (the file named first in each key).
GOLDEN_CURVES = {
    ("dsv4_mtp", "on"): (1.79, 2.27, 2.49, 2.54, 2.55, 2.55, 2.54, 2.58),
    ("dsv4_mtp", "off"): (1.92, 2.61, 2.97, 3.00, 3.10, 3.16, 3.00, 3.11),
    ("glm5.2_mtp", "on"): (1.84, 2.50, 2.99, 3.33, 3.61, 3.78, 3.91, 4.06),
    ("kimik2.5_eagle3", "on"): (1.83, 2.43, 2.88, 3.24, 3.46, 3.62, 3.71, 3.77),
    ("kimik2.5_eagle3", "off"): (1.80, 2.33, 2.75, 3.06, 3.25, 3.43, 3.46, 3.51),
    ("minimaxm3_eagle3", "on"): (1.78, 2.38, 2.83, 3.11, 3.35, 3.45, 3.53, 3.74),
    ("minimaxm3_eagle3", "off"): (1.84, 2.52, 2.93, 3.41, 3.59, 3.57, 3.85, 4.06),
    ("minimaxm3_eagle3_gqa", "on"): (1.79, 2.39, 2.78, 3.02, 3.21, 3.30, 3.52, 3.51),
    ("minimaxm3_eagle3_gqa", "off"): (1.83, 2.46, 2.97, 3.29, 3.72, 3.76, 3.75, 3.93),
    ("qwen3.5_mtp", "on"): (1.93, 2.73, 3.39, 3.97, 4.41, 4.80, 5.04, 5.21),
    ("qwen3.5_mtp", "off"): (1.92, 2.70, 3.33, 3.83, 4.20, 4.48, 4.73, 4.71),
}

R1 = "deepseek-ai/DeepSeek-R1"
LLAMA_8B = "meta-llama/Llama-3.1-8B"


def _itl(model, gpu, tp=1, users=1, **spec):
    return estimate_performance(model, gpu, tensor_parallel_size=tp, input_length=1024, output_length=1024,
                                concurrency=users, **spec).inter_token_latency_ms


@pytest.mark.parametrize("drafts", range(1, 9))
def test_default_acceptance_is_the_median_of_inferencex_golden_curves(drafts):
    median = statistics.median(curve[drafts - 1] for curve in GOLDEN_CURVES.values())
    assert default_acceptance_length(drafts) == pytest.approx(median)


def test_default_acceptance_past_the_table_and_without_drafts():
    assert default_acceptance_length(0) == 1.0
    assert default_acceptance_length(12) == default_acceptance_length(8)  # the curves have flattened by 8


@pytest.mark.parametrize("accepted, measured_speedup", [
    # vLLM PR #12755 (DeepSeek MTP, R1, TP8, k = 1): acceptance 81-82.3 %, TPOT 55.47 -> 33.99 ms at 1 QPS.
    (1.82, 55.47 / 33.99),
    # SGLang PR #3582 (NextN for DeepSeek-V3/R1, 8 GPUs): ~1.9 accepted per step with one draft token,
    # 1.76x at batch size 1.
    (1.9, 1.76),
])
def test_one_user_mtp_speedup_of_deepseek_matches_the_engines_reports(accepted, measured_speedup):
    """At one user every step reads the weights once whatever it verifies, so the speedup is the
    acceptance length over the cost of the bigger verify step (twice the experts touched) and one
    draft pass; the engines' reports, made on 8-GPU Hopper nodes, are matched within 10 %."""
    plain = _itl(R1, "H200", tp=8)
    speculative = _itl(R1, "H200", tp=8, speculative_tokens=1, acceptance_length=accepted)
    assert plain / speculative == pytest.approx(measured_speedup, rel=0.10)


@pytest.mark.parametrize("model, gpu, tp", [(LLAMA_8B, "H100", 1), (R1, "H200", 8), ("Qwen/Qwen3-32B", "B200", 1),
                                            ("openai/gpt-oss-120b", "H100", 2)])
@pytest.mark.parametrize("users", [1, 16, 128])
def test_speculation_never_beats_its_acceptance_and_costs_time_when_nothing_is_accepted(model, gpu, tp, users):
    plain = _itl(model, gpu, tp, users)
    for drafts in (1, 3):
        accepted = default_acceptance_length(drafts)
        # a step verifies more tokens and drafts besides: it is never shorter than a plain step
        assert _itl(model, gpu, tp, users, speculative_tokens=drafts) >= plain / accepted * 0.999
        assert _itl(model, gpu, tp, users, speculative_tokens=drafts, acceptance_length=1.0) > plain


def test_breakdown_shows_the_draft_passes_and_tokens_per_step():
    estimate = estimate_performance(R1, "H200", tensor_parallel_size=8, input_length=1024, output_length=1024,
                                    concurrency=1, speculative_tokens=2, acceptance_length=2.4)
    breakdown = estimate.breakdown
    assert breakdown["tokens_per_decode_step"] == 2.4
    # Each draft pass reads at least DeepSeek-V3's bf16 lm_head, 129,280 x 7,168 x 2 bytes over TP 8
    # (config.json vocab_size and hidden_size), at the H200's 4.8 TB/s (datasheet).
    head_ms = 129_280 * 7_168 * 2 / 8 / 4.8e12 * 1e3
    assert breakdown["decode_step_draft"] > 2 * head_ms
    assert estimate.inter_token_latency_ms == pytest.approx(breakdown["decode_step_total"] / 2.4, rel=0.05)
    assert any("2 draft token(s) per step, 2.4 tokens accepted" in note for note in estimate.notes)
    plain = estimate_performance(R1, "H200", tensor_parallel_size=8, input_length=1024, output_length=1024)
    assert "decode_step_draft" not in plain.breakdown and "tokens_per_decode_step" not in plain.breakdown


@pytest.mark.parametrize("engine", ["vllm", "sglang"])
def test_a_prompt_runs_through_the_draft_module_once(engine):
    """The first draft pass of a step runs over every token the target ran, a prompt's included (vLLM
    EagleProposer.propose; SGLang's draft extend), so drafting adds one of DeepSeek-R1's 61 decoder
    layers (config.json num_hidden_layers) to a prompt's prefill, whatever the draft count."""
    def ttft(drafts):
        return estimate_performance(R1, "H200", tensor_parallel_size=8, input_length=8192, output_length=256,
                                    engine=engine, speculative_tokens=drafts).breakdown
    plain, one, three = ttft(0), ttft(1), ttft(3)
    prefill_ms = plain["ttft"] - plain["ttft_request_overhead"]
    assert 0.5 / 61 < (one["ttft"] - plain["ttft"]) / prefill_ms < 2 / 61
    assert three["ttft"] == pytest.approx(one["ttft"])


def test_disaggregated_prefill_workers_run_the_draft_module_over_each_prompt():
    def prefill_ms(drafts):
        return estimate_disaggregated(R1, "H200", prefill_tensor_parallel_size=8, decode_tensor_parallel_size=8,
                                      input_length=8192, output_length=256, engine="sglang",
                                      speculative_tokens=drafts).breakdown["prefill"]
    assert 0.5 / 61 < prefill_ms(2) / prefill_ms(0) - 1 < 2 / 61


def test_default_acceptance_is_noted_with_its_source():
    estimate = estimate_performance(LLAMA_8B, "H100", input_length=512, output_length=256, speculative_tokens=3)
    note = next(n for n in estimate.notes if "speculative decoding" in n)
    assert "2.93 tokens accepted per step" in note and "InferenceX" in note and "acceptance_length" in note


@pytest.mark.parametrize("spec, message", [
    (dict(acceptance_length=2.0), "needs speculative_tokens of 1 or more"),
    (dict(speculative_tokens=2, acceptance_length=3.5), r"exceeds 1 \+ speculative_tokens = 3"),
    (dict(speculative_tokens=17), "speculative_tokens"),
    (dict(speculative_tokens=2, acceptance_length=0.5), "acceptance_length"),
])
def test_impossible_speculation_is_a_workload_error(spec, message):
    with pytest.raises(WorkloadError, match=message):
        estimate_performance(LLAMA_8B, "H100", input_length=512, output_length=256, **spec)


def test_recommend_plans_speculation_for_aggregated_and_disaggregated_candidates():
    result = recommend_gpus(R1, input_length=1024, output_length=1024, gpus=["H200"], batch_size=16,
                            speculative_tokens=2, acceptance_length=2.4, disaggregated=True)
    assert any("speculative decoding with 2 draft token(s)" in n for n in result.notes)
    plain = recommend_gpus(R1, input_length=1024, output_length=1024, gpus=["H200"], batch_size=16,
                           disaggregated=True)
    layouts = {(r.recommendation.mode, r.recommendation.layout): r.performance for r in plain if r.performance}
    faster = {key: result_row.performance.inter_token_latency_ms < layouts[key].inter_token_latency_ms
              for result_row in result if result_row.performance
              and (key := (result_row.recommendation.mode, result_row.recommendation.layout)) in layouts}
    assert {mode for mode, _ in faster} == {"aggregated", "disaggregated"} and all(faster.values())


def test_validate_reads_speculative_columns(tmp_path):
    path = tmp_path / "spec.csv"
    path.write_text("model,engine,gpu,tp,isl,osl,concurrency,speculative_tokens,acceptance_length,metric,value\n"
                    f"{R1},vllm,H200,8,1024,1024,1,1,1.82,itl_ms,33.99\n"
                    f"{R1},vllm,H200,8,1024,1024,1,,,itl_ms,55.47\n")
    rows = validate_file(str(path)).rows
    assert rows[0].predicted == pytest.approx(_itl(R1, "H200", tp=8, speculative_tokens=1,
                                                       acceptance_length=1.82))
    assert rows[1].predicted == pytest.approx(_itl(R1, "H200", tp=8))
    assert "spec1 al1.82" in rows[0].config and "spec" not in rows[1].config
    assert (rows[0].speculative_tokens, rows[1].speculative_tokens) == (1, 0)
    from click.testing import CliRunner

    from gpurec_core.cli import cli

    printed = " ".join(CliRunner().invoke(cli, ["validate", str(path)], terminal_width=200).output.split())
    assert "1 row(s) read as speculative decoding (a speculative_tokens column)" in printed


def test_validate_refuses_a_fractional_draft_count(tmp_path):
    from gpurec_core.errors import MeasurementFileError

    path = tmp_path / "bad.csv"
    path.write_text("model,engine,gpu,tp,isl,osl,concurrency,speculative_tokens,metric,value\n"
                    f"{LLAMA_8B},vllm,H100,1,512,256,1,2.5,itl_ms,5\n")
    with pytest.raises(MeasurementFileError, match="speculative_tokens"):
        validate_file(str(path))


def test_launch_lines_turn_on_the_planned_speculation():
    """vLLM docs (features/spec_decode): MTP with the checkpoint's own layers, EAGLE-3 with a draft head's
    checkpoint; SGLang's EAGLE flags as NVIDIA/srt-slurm's H100 MTP recipe runs DeepSeek-R1."""
    r1 = recommend_gpus(R1, input_length=1024, output_length=1024, gpus=["H200"], speculative_tokens=2)[0]
    assert r1.deployment.mtp_layers  # DeepSeek-R1's config.json: num_nextn_predict_layers 1
    assert """--speculative-config '{"method": "mtp", "num_speculative_tokens": 2}'""" in r1.launch_command("vllm")
    assert ("--speculative-algorithm EAGLE --speculative-num-steps 2 --speculative-eagle-topk 1 "
            "--speculative-num-draft-tokens 3") in r1.launch_command("sglang")
    llama = recommend_gpus(LLAMA_8B, input_length=512, output_length=256, gpus=["H100"], speculative_tokens=3)[0]
    command = llama.launch_command("vllm")
    assert '"method": "eagle3", "model": "DRAFT_MODEL", "num_speculative_tokens": 3' in command
    assert command.startswith("# DRAFT_MODEL: an EAGLE-3 draft head trained for meta-llama/Llama-3.1-8B")
    assert "also: speculative decoding with 3 draft token(s) per step (no trtllm flag)" in llama.launch_command("trtllm")
    plain = recommend_gpus(LLAMA_8B, input_length=512, output_length=256, gpus=["H100"])[0]
    assert "speculative" not in plain.launch_command("vllm")


def test_disaggregated_launch_says_where_the_speculative_flags_go():
    result = recommend_gpus(R1, input_length=1024, output_length=1024, gpus=["H200"], speculative_tokens=1,
                            disaggregated=True)
    split = next(r for r in result if r.recommendation.disaggregated is not None)
    command = split.launch_command()
    assert command.startswith("# speculative decoding, 1 draft token(s) per step: add --speculative-config")


def test_validate_reads_speculative_columns_of_disaggregated_rows(tmp_path):
    from gpurec_core.api import estimate_disaggregated

    path = tmp_path / "xpyd.csv"
    header = ("model,engine,gpu,isl,osl,concurrency,prefill_workers,prefill_tp,decode_workers,decode_tp,"
              "speculative_tokens,acceptance_length,metric,value\n")
    path.write_text(header + f"{R1},sglang,H100,1024,1024,4,1,16,2,16,2,1.5,itl_ms,9.794\n"
                             f"{R1},sglang,H100,1024,1024,4,1,16,2,16,,,itl_ms,9.794\n")
    rows = validate_file(str(path)).rows
    layout = dict(input_length=1024, output_length=1024, concurrency=4, prefill_tensor_parallel_size=16,
                  decode_workers=2, decode_tensor_parallel_size=16, engine="sglang")
    speculative = estimate_disaggregated(R1, "H100", speculative_tokens=2, acceptance_length=1.5, **layout)
    assert rows[0].predicted == pytest.approx(speculative.inter_token_latency_ms, rel=1e-6)
    assert rows[1].predicted > rows[0].predicted
    assert "spec2 al1.5" in rows[0].config and "spec" not in rows[1].config


@pytest.mark.parametrize("engine", ["vllm", "sglang", "trtllm"])
def test_memory_plan_holds_the_draft_module(engine):
    """DeepSeek-V3's model card: the checkpoint's 14B MTP module holds one more block of the model besides a
    copy of the embedding and output head (2 x 129,280 x 7,168 parameters, config.json), which vLLM shares with
    the target; at fp8 over TP 8 that block is about 12.1e9 / 8 bytes. gpurec loads one mean layer of the
    model (its 3 dense layers make the mean a little lighter than the MoE block) and one more layer of MLA
    cache, (512 + 64) x 2 bytes per token (DeepSeek-V2 paper's (d_c + d_h^R) per layer, bf16)."""
    from gpurec_core.api import plan_memory

    plain = plan_memory(R1, "H200", tensor_parallel_size=8, max_model_len=4096, engine=engine)
    drafting = plan_memory(R1, "H200", tensor_parallel_size=8, max_model_len=4096, engine=engine,
                           speculative_tokens=1)
    block = (14e9 - 2 * 129_280 * 7_168) / 8
    assert (drafting.weights_gib - plain.weights_gib) * 2**30 == pytest.approx(block, rel=0.15)
    assert drafting.kv_bytes_per_token - plain.kv_bytes_per_token == (512 + 64) * 2
    assert drafting.kv_cache_tokens < plain.kv_cache_tokens


def test_model_command_plans_the_draft_module_and_says_so():
    from click.testing import CliRunner

    from gpurec_core.cli import cli

    args = ["model", R1, "--gpu", "H200", "-tp", "8", "--max-model-len", "4096", "--json"]
    plain = json.loads(CliRunner().invoke(cli, args).output)
    drafting = json.loads(CliRunner().invoke(cli, [*args, "--speculative-tokens", "1"]).output)
    assert drafting["memory_plan"]["kv_bytes_per_token"] - plain["memory_plan"]["kv_bytes_per_token"] == (512 + 64) * 2
    assert any("draft module is planned as one mean decoder layer" in n for n in drafting["memory_plan"]["notes"])


def test_explain_prints_tokens_per_step_as_a_count():
    from click.testing import CliRunner

    from gpurec_core.cli import cli

    result = CliRunner().invoke(cli, ["recommend", LLAMA_8B, "--gpus", "H100", "--speculative-tokens", "3",
                                      "--explain", "--top", "1"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "tokens_per_decode_step: 2.930\n" in result.output and "decode_step_draft: " in result.output
