"""Launch lines of disaggregated deployments (gpurec_core.disagg_launch): every prefill and decode
worker with the engine's documented disaggregation flags, its layout spelled as a single deployment's
launch line spells it, and the router; an engine without a ``[launch.disaggregated]`` table is refused."""

import shlex

import pytest

from gpurec_core import hookimpl
from gpurec_core.api import as_gpu
from gpurec_core.disagg_launch import launch_disaggregated
from gpurec_core.errors import PluginError, WorkloadError
from gpurec_core.models import DisaggregatedDeployment, EngineInfo, LaunchFlags, Parallelism, Pool
from gpurec_core.plugins import engine_info

MODEL = "deepseek-ai/DeepSeek-R1"


def deepseek_1p2d(engine: str, **decode) -> DisaggregatedDeployment:
    """DeepSeek-R1: prefill 1 worker of TP8 on H200, decode 2 workers of DP8 TP1 EP8 on H100."""
    prefill = Pool(role="prefill", gpu=as_gpu("H200"), parallelism=Parallelism(tensor_parallel_size=8), workers=1)
    decode = Pool(role="decode", gpu=as_gpu("H100"), workers=2, parallelism=Parallelism(
        tensor_parallel_size=1, data_parallel_size=8, expert_parallel_size=8), **decode)
    return DisaggregatedDeployment(prefill=prefill, decode=decode, engine=engine)


def commands(text: str) -> list[list[str]]:
    """The command lines, as words (comments and environment assignments dropped)."""
    out = []
    for line in text.splitlines():
        words = shlex.split(line, comments=True)
        while words and "=" in words[0] and not words[0].startswith("-"):
            words.pop(0)
        if words:
            out.append(words)
    return out


def has(words: list[str], *sequence: str) -> bool:
    """``sequence`` appears in ``words`` as consecutive words."""
    n = len(sequence)
    return any(tuple(words[i:i + n]) == sequence for i in range(len(words) - n + 1))


def test_vllm_nixl_workers_and_proxy():
    """vLLM docs/features/nixl_connector_usage.md: every worker runs `vllm serve` with
    --kv-transfer-config '{"kv_connector":"NixlConnector","kv_role":"kv_both"}', UCX_NET_DEVICES,
    VLLM_NIXL_SIDE_CHANNEL_HOST/PORT; the proxy is tests/v1/kv_connector/nixl_integration/toy_proxy_server.py
    with --prefiller-hosts/--prefiller-ports/--decoder-hosts/--decoder-ports; decode DP-EP is
    --data-parallel-size N --tensor-parallel-size 1 --enable-expert-parallel (run_accuracy_test.sh)."""
    text = launch_disaggregated(deepseek_1p2d("vllm"), MODEL, 8192)
    cmds = commands(text)
    workers = [c for c in cmds if c[:2] == ["vllm", "serve"]]
    routers = [c for c in cmds if "toy_proxy_server.py" in " ".join(c)]
    assert len(workers) == 3 and len(routers) == 1 and len(cmds) == 4
    for words in workers:
        assert words[2] == MODEL
        assert has(words, "--kv-transfer-config", '{"kv_connector":"NixlConnector","kv_role":"kv_both"}')
        assert has(words, "--max-model-len", "8192") and has(words, "--gpu-memory-utilization", "0.9")
    prefill, decode0, decode1 = workers
    assert has(prefill, "--tensor-parallel-size", "8") and has(prefill, "--port", "8100")
    assert "--enable-expert-parallel" not in prefill and "--data-parallel-size" not in prefill
    for words in (decode0, decode1):
        assert has(words, "--tensor-parallel-size", "1") and has(words, "--data-parallel-size", "8")
        assert "--enable-expert-parallel" in words and has(words, "--port", "8200")
    env_lines = [line for line in text.splitlines() if "vllm serve" in line]
    assert all("UCX_NET_DEVICES=all" in line and "VLLM_NIXL_SIDE_CHANNEL_PORT=5600" in line for line in env_lines)
    assert [line.split("VLLM_NIXL_SIDE_CHANNEL_HOST=")[1].split()[0] for line in env_lines] == [
        "PREFILL_HOST_0", "DECODE_HOST_0", "DECODE_HOST_1"]
    router = routers[0]
    assert has(router, "--prefiller-hosts", "PREFILL_HOST_0", "--prefiller-ports", "8100")
    assert has(router, "--decoder-hosts", "DECODE_HOST_0", "DECODE_HOST_1", "--decoder-ports", "8200", "8200")
    assert has(router, "--port", "8192")


def test_sglang_pd_workers_and_router():
    """SGLang docs/advanced_features/pd_disaggregation.md: `python -m sglang.launch_server --disaggregation-mode
    prefill|decode --disaggregation-transfer-backend mooncake`, the prefill's --disaggregation-bootstrap-port
    (server_arguments.md: default 8998) and `python -m sglang_router.launch_router --pd-disaggregation
    --prefill URL BOOTSTRAP_PORT --decode URL` (router.md); DP attention is --tp 8 --dp 8 --enable-dp-attention."""
    text = launch_disaggregated(deepseek_1p2d("sglang"), MODEL, 8192, 0.85)
    cmds = commands(text)
    workers = [c for c in cmds if c[:3] == ["python", "-m", "sglang.launch_server"]]
    routers = [c for c in cmds if c[:3] == ["python", "-m", "sglang_router.launch_router"]]
    assert len(workers) == 3 and len(routers) == 1 and len(cmds) == 4
    prefill, *decodes = workers
    assert has(prefill, "--model-path", MODEL) and has(prefill, "--tp", "8") and "--enable-dp-attention" not in prefill
    assert has(prefill, "--disaggregation-mode", "prefill") and has(prefill, "--disaggregation-bootstrap-port", "8998")
    assert has(prefill, "--host", "PREFILL_HOST_0") and has(prefill, "--port", "30000")
    for j, words in enumerate(decodes):
        assert has(words, "--disaggregation-mode", "decode") and has(words, "--host", f"DECODE_HOST_{j}")
        assert has(words, "--tp", "8") and has(words, "--dp", "8") and has(words, "--ep-size", "8")
        assert "--enable-dp-attention" in words and "--disaggregation-bootstrap-port" not in words
    for words in workers:
        assert has(words, "--disaggregation-transfer-backend", "mooncake")
        assert has(words, "--context-length", "8192") and has(words, "--mem-fraction-static", "0.85")
    router = routers[0]
    assert "--pd-disaggregation" in router
    assert has(router, "--prefill", "http://PREFILL_HOST_0:30000", "8998")
    assert has(router, "--decode", "http://DECODE_HOST_0:30001", "--decode", "http://DECODE_HOST_1:30001")
    assert "--disaggregation-ib-device" in text  # said as a note: mooncake auto-detects the NICs when unset


def test_trtllm_workers_config_sketch_and_disaggregated_server():
    """TensorRT-LLM examples/disaggregated/README.md and docs/source/features/disagg-serving.md: context and
    generation servers are `trtllm-serve MODEL --host --port --config FILE` whose YAML holds
    cache_transceiver_config; the router is `trtllm-serve disaggregated -c disagg_config.yaml` with
    context_servers / generation_servers; attention DP is enable_attention_dp with --tp_size/--ep_size over
    the instance (examples/serve/deepseek_r1_reasoning_parser.sh)."""
    text = launch_disaggregated(deepseek_1p2d("trtllm", max_batch=64), MODEL, 8192)
    cmds = commands(text)
    assert cmds[-1] == ["trtllm-serve", "disaggregated", "-c", "disagg_config.yaml"]
    workers = cmds[:-1]
    assert len(workers) == 3 and all(c[0] == "trtllm-serve" and c[1] == MODEL for c in workers)
    assert has(workers[0], "--tp_size", "8") and has(workers[0], "--config", "ctx_config.yaml")
    for words in workers[1:]:
        assert has(words, "--tp_size", "8") and has(words, "--ep_size", "8") and has(words, "--config", "gen_config.yaml")
        assert has(words, "--max_batch_size", "64")
    sketch = [line for line in text.splitlines() if line.startswith("#   ")]
    assert "#   cache_transceiver_config:" in sketch and "#     max_tokens_in_buffer: 8192" in sketch
    assert "#   enable_attention_dp: true" in sketch and "#   enable_attention_dp: false" in sketch
    assert '#     urls: ["DECODE_HOST_0:8002", "DECODE_HOST_1:8002"]' in sketch
    assert "#     num_instances: 2" in sketch and '#     urls: ["PREFILL_HOST_0:8001"]' in sketch
    assert "# also:" not in text  # attention DP is in the YAML, not missing


@pytest.mark.parametrize("engine", ["vllm", "sglang", "trtllm"])
def test_layout_uses_the_engines_single_deployment_flags(engine):
    """The layout flags are the ones the engine's [launch] table spells (as in Recommendation.launch_command)."""
    flags = engine_info(engine).launch
    prefill, *decodes, _ = commands(launch_disaggregated(deepseek_1p2d(engine), MODEL, 4096))
    assert prefill[:len(flags.command)] == list(flags.command)
    assert has(prefill, flags.tensor_parallel, "8") and has(prefill, flags.max_model_len, "4096")
    assert all(flags.expert_parallel in words and has(words, flags.memory_fraction, "0.9") for words in decodes)


@pytest.mark.parametrize("engine", ["vllm", "sglang", "trtllm"])
def test_table_cites_the_docs(engine):
    source = engine_info(engine).launch.disaggregated.source
    expected = {"vllm": ["nixl_connector_usage.md", "toy_proxy_server.py", "run_accuracy_test.sh"],
                "sglang": ["pd_disaggregation.md", "server_arguments.md", "router.md"],
                "trtllm": ["examples/disaggregated/README.md", "disagg-serving.md", "serve.py"]}[engine]
    assert all(name in source for name in expected)


def test_small_workers_share_a_node_with_their_own_gpus_and_ports():
    """Two TP2 workers on one 8-GPU node: vLLM selects GPUs with CUDA_VISIBLE_DEVICES (run_accuracy_test.sh)
    and takes a side-channel port per GPU; SGLang uses --base-gpu-id (pd_disaggregation.md) and a bootstrap
    port per prefill server."""
    def deployment(engine):
        pool = Pool(role="prefill", gpu=as_gpu("H100"), parallelism=Parallelism(tensor_parallel_size=2), workers=2)
        decode = Pool(role="decode", gpu=as_gpu("H100"), parallelism=Parallelism(tensor_parallel_size=2), workers=1)
        return DisaggregatedDeployment(prefill=pool, decode=decode, engine=engine)
    vllm = launch_disaggregated(deployment("vllm"), MODEL, 4096)
    lines = [line for line in vllm.splitlines() if "vllm serve" in line]
    assert "CUDA_VISIBLE_DEVICES=0,1" in lines[0] and "CUDA_VISIBLE_DEVICES=2,3" in lines[1]
    assert "VLLM_NIXL_SIDE_CHANNEL_PORT=5600" in lines[0] and "VLLM_NIXL_SIDE_CHANNEL_PORT=5602" in lines[1]
    assert "CUDA_VISIBLE_DEVICES" not in lines[2]  # the decode worker is alone on its node
    assert has(commands(vllm)[-1], "--prefiller-hosts", "PREFILL_HOST_0", "PREFILL_HOST_0", "--prefiller-ports",
               "8100", "8101")
    sglang = commands(launch_disaggregated(deployment("sglang"), MODEL, 4096))
    assert has(sglang[0], "--base-gpu-id", "0") and has(sglang[1], "--base-gpu-id", "2")
    assert has(sglang[1], "--port", "30001") and has(sglang[1], "--disaggregation-bootstrap-port", "8999")
    assert has(sglang[-1], "--prefill", "http://PREFILL_HOST_0:30001", "8999")


def test_a_worker_across_nodes_runs_on_every_node():
    """A DP16 EP16 decode worker on 8-GPU nodes: vLLM head + --headless node (serving/data_parallel_deployment),
    SGLang --nnodes/--node-rank/--dist-init-addr per node (pd_disaggregation.md, DeepSeek Multi-Node)."""
    def deployment(engine):
        prefill = Pool(role="prefill", gpu=as_gpu("H100"), parallelism=Parallelism(tensor_parallel_size=8), workers=1)
        decode = Pool(role="decode", gpu=as_gpu("H100"), workers=1, parallelism=Parallelism(
            tensor_parallel_size=1, data_parallel_size=16, expert_parallel_size=16))
        return DisaggregatedDeployment(prefill=prefill, decode=decode, engine=engine)
    vllm = commands(launch_disaggregated(deployment("vllm"), MODEL, 4096))
    head, other = vllm[1], vllm[2]
    assert has(head, "--data-parallel-size", "16") and has(head, "--data-parallel-size-local", "8")
    assert "--headless" in other and has(other, "--data-parallel-start-rank", "8")
    assert has(other, "--data-parallel-address", "DECODE_HOST_0")
    assert has(vllm[-1], "--decoder-hosts", "DECODE_HOST_0", "--decoder-ports", "8200")  # the head only
    sglang = commands(launch_disaggregated(deployment("sglang"), MODEL, 4096))
    for rank, words in enumerate(sglang[1:3]):
        assert has(words, "--nnodes", "2", "--node-rank", str(rank), "--dist-init-addr", "DECODE_HOST_0:5000")
        assert has(words, "--host", f"DECODE_HOST_{rank}")
    assert len(sglang) == 4


def test_nvlink_link_sets_mooncake_nvlink_environment():
    """pd_disaggregation.md: NVLink transport for mooncake takes SGLANG_MOONCAKE_CUSTOM_MEM_POOL=True and
    MC_FORCE_MNNVL=True; over the network they are not set."""
    nvlink = deepseek_1p2d("sglang").model_copy(update={"kv_link": "nvlink"})
    assert all("MC_FORCE_MNNVL=True" in line for line in launch_disaggregated(nvlink, MODEL, 4096).splitlines()
               if "sglang.launch_server" in line)
    assert "MC_FORCE_MNNVL" not in launch_disaggregated(deepseek_1p2d("sglang"), MODEL, 4096)
    assert "over network" in launch_disaggregated(deepseek_1p2d("sglang"), MODEL, 4096).splitlines()[0]


def test_max_batch_per_rank_or_per_instance():
    """vLLM --max-num-seqs caps one DP rank's engine core; SGLang --max-running-requests counts the instance
    (each attention-DP rank takes value // attn_dp_size)."""
    vllm = commands(launch_disaggregated(deepseek_1p2d("vllm", max_batch=64), MODEL, 4096))
    sglang = commands(launch_disaggregated(deepseek_1p2d("sglang", max_batch=64), MODEL, 4096))
    assert has(vllm[1], "--max-num-seqs", "64") and has(sglang[1], "--max-running-requests", "512")
    assert "--max-num-seqs" not in vllm[0]  # the prefill pool sets no batch


def _engine_plugin(launch):
    class Plugin:
        @hookimpl
        def list_engines(self):
            return [EngineInfo(name="acme-serve", schedules_like="vllm", launch=launch)]
    return Plugin()


ACME_FLAGS = dict(command=("acme-serve", "--model"), tensor_parallel="--tp", expert_parallel="--ep",
                  expert_parallel_takes_size=True, data_parallel="--replicas", max_model_len="--max-len",
                  memory_fraction="--mem-fraction", source="test flags")


def test_engine_without_the_table_is_refused(register_plugin):
    register_plugin(_engine_plugin(LaunchFlags(**ACME_FLAGS)), "acme")
    with pytest.raises(WorkloadError, match="engine 'acme-serve' .*lists no disaggregated launch; .*sglang"):
        launch_disaggregated(deepseek_1p2d("acme-serve"), MODEL, 4096)


def test_engine_without_a_launcher_is_refused(register_plugin):
    register_plugin(_engine_plugin(None), "acme")
    with pytest.raises(WorkloadError, match="lists no launch command"):
        launch_disaggregated(deepseek_1p2d("acme-serve"), MODEL, 4096)


def test_third_party_engine_declares_its_own_table(register_plugin):
    table = LaunchFlags.Disaggregated(worker_args=("--role-port", "{port}"), prefill_args=("--prefill",),
                                      decode_args=("--decode",), prefill_port=9000, decode_port=9100,
                                      router=("acme-router", "{prefill_workers}", "{decode_workers}"),
                                      router_prefill=("--p", "{host}:{port}"), router_decode=("--d", "{host}:{port}"),
                                      source="test table")
    register_plugin(_engine_plugin(LaunchFlags(**ACME_FLAGS, disaggregated=table)), "acme")
    cmds = commands(launch_disaggregated(deepseek_1p2d("acme-serve"), MODEL, 4096))
    assert has(cmds[0], "--tp", "8", "--max-len", "4096") and "--prefill" in cmds[0]
    assert has(cmds[1], "--ep", "8", "--replicas", "8") and "--decode" in cmds[1]
    assert cmds[-1] == ["acme-router", "--p", "PREFILL_HOST_0:9000", "--d", "DECODE_HOST_0:9100",
                        "--d", "DECODE_HOST_1:9100"]


def test_unknown_placeholder_is_the_plugins_error(register_plugin):
    table = LaunchFlags.Disaggregated(prefill_port=9000, decode_port=9100, router=("acme-router", "{nowhere}"),
                                      source="test table")
    register_plugin(_engine_plugin(LaunchFlags(**ACME_FLAGS, disaggregated=table)), "acme")
    with pytest.raises(PluginError, match=r"\{nowhere\}"):
        launch_disaggregated(deepseek_1p2d("acme-serve"), MODEL, 4096)


@pytest.mark.parametrize("bad", [dict(max_model_len=0), dict(max_model_len=True), dict(gpu_memory_utilization=1.5),
                                 dict(model_id=" "), dict(model_id="a\nrm -rf /")])
def test_bad_arguments(bad):
    args = dict(deployment=deepseek_1p2d("vllm"), model_id=MODEL, max_model_len=4096)
    args.update(bad)
    with pytest.raises(WorkloadError):
        launch_disaggregated(**args)


def test_each_pool_starts_with_the_memory_fraction_its_plan_assumed():
    """A pool planned with SGLang's own default mem_fraction_static (its prefill on H200 and its decode on
    H100 have different ones) starts with that value; a pool without one takes the deployment's."""
    from gpurec_core import plan_memory

    fractions = {gpu: plan_memory(MODEL, gpu, tensor_parallel_size=8, engine="sglang").memory_fraction
                 for gpu in ("H200", "H100")}
    deployment = deepseek_1p2d("sglang", memory_fraction=fractions["H100"])
    deployment = deployment.model_copy(update={"prefill": deployment.prefill.model_copy(
        update={"memory_fraction": fractions["H200"]})})
    prefill, *decodes = [w for w in commands(launch_disaggregated(deployment, MODEL, 8192)) if "--port" in w
                         and "sglang.launch_server" in " ".join(w)]
    assert has(prefill, "--mem-fraction-static", f"{fractions['H200']:g}")
    assert all(has(words, "--mem-fraction-static", f"{fractions['H100']:g}") for words in decodes)
    assert fractions["H200"] != fractions["H100"]
    unplanned = commands(launch_disaggregated(deepseek_1p2d("sglang"), MODEL, 8192, 0.85))
    assert all(has(w, "--mem-fraction-static", "0.85") for w in unplanned if "sglang.launch_server" in " ".join(w))
