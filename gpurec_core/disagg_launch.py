"""Launch lines of a disaggregated deployment: every prefill and decode worker, and the router.

Each worker's layout is spelled with the engine's ``[launch]`` flags, as a single deployment's
launch line is (:meth:`gpurec_core.result.Recommendation.launch_command`); the KV transfer, the
ports, the config files and the router come from its ``[launch.disaggregated]`` table
(:class:`gpurec_core.models.LaunchFlags.Disaggregated`, with the sources of every flag), so a
third-party engine plugin declares its own. Hosts are placeholders, one per node:
``PREFILL_HOST_0``, ``PREFILL_HOST_1`` ... and ``DECODE_HOST_0`` ...; workers smaller than a node
share it (their own GPUs and ports), a worker larger than a node spans whole nodes.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Optional

from gpurec_core.errors import PluginError, WorkloadError
from gpurec_core.models import DisaggregatedDeployment, LaunchFlags, Pool
from gpurec_core.result import GPURecommendation, attention_dp_of, layout_args

#: Port of ``--dist-init-addr HEAD:PORT`` when one worker spans nodes with per-node launches
#: (SGLang docs/advanced_features/pd_disaggregation.md: ``--dist-init-addr ${prefill_master_ip}:5000``).
DIST_INIT_PORT = 5000

_PLACEHOLDER = re.compile(r"\{[a-z_]+\}")
#: Router words that stand for several words: one per worker (host, port) or the worker's router words.
_SPREAD = ("{prefill_hosts}", "{prefill_ports}", "{decode_hosts}", "{decode_ports}", "{prefill_workers}", "{decode_workers}")


@dataclass(frozen=True)
class _Worker:
    """One engine instance of a pool and where it runs."""

    role: str
    index: int
    hosts: tuple[str, ...]  # its nodes, the head first
    first_gpu: int  # its first GPU on a shared node
    slot: int  # workers before it on its node
    shares_node: bool  # other workers of the pool run on its node

    @property
    def head(self) -> str:
        return self.hosts[0]


def _place(pool: Pool) -> list[_Worker]:
    """Pack the pool's workers onto nodes of ``gpu.gpus_per_node`` GPUs: several per node when they fit."""
    gpus, per_node = pool.parallelism.total_gpus, pool.gpu.gpus_per_node
    prefix = f"{pool.role.upper()}_HOST_"
    if gpus >= per_node:
        nodes = -(-gpus // per_node)
        return [_Worker(pool.role, w, tuple(f"{prefix}{w * nodes + k}" for k in range(nodes)), 0, 0, False)
                for w in range(pool.workers)]
    per_host = per_node // gpus
    shares = pool.workers > 1 and per_host > 1
    return [_Worker(pool.role, w, (f"{prefix}{w // per_host}",), (w % per_host) * gpus, w % per_host, shares)
            for w in range(pool.workers)]


def _kv_link(deployment: DisaggregatedDeployment) -> str:
    """'nvlink' or 'network' (``DisaggregatedDeployment.link``, the rule the estimator uses too)."""
    return deployment.link


def _fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def _layout(flags: LaunchFlags, table: LaunchFlags.Disaggregated, pool: Pool) -> tuple[list[str], list[str]]:
    """The layout flags of one worker (as in a single deployment's launch line) and what has no flag."""
    par = pool.parallelism
    tp, pp, ep, dp = (par.tensor_parallel_size, par.pipeline_parallel_size, par.expert_parallel_size,
                      par.data_parallel_size)
    attention_dp = attention_dp_of(par)
    in_files = attention_dp > 1 and table.attention_dp_in_files and not flags.data_parallel
    if in_files:  # the attention-DP ranks are set in the engine's config file, not by a flag
        args, missing = layout_args(flags, tp, pp, ep, 1, tp_spans_dp=False)
        args[1] = str(tp * attention_dp)
        if tp > 1:
            missing.append(f"attention TP {tp} inside each of the {attention_dp} DP ranks")
    else:
        args, missing = layout_args(flags, tp, pp, ep, attention_dp, dp if attention_dp == 1 else 1,
                                    replicas_what="data-parallel ranks in one worker")

    def add(flag: Optional[str], value: Optional[str], what: str) -> None:
        if flag:
            args.extend([flag] if value is None else [flag, value])
        else:
            missing.append(what)
    if pool.max_batch is not None:
        ranks = attention_dp if table.max_batch_spans_attention_dp else 1
        add(table.max_batch, str(pool.max_batch * ranks), f"at most {pool.max_batch} running requests per DP rank")
    return args, missing


def _env_words(env: dict[str, str], values: dict[str, str]) -> list[str]:
    """``NAME=value`` words; the value is quoted on its own so the shell still reads an assignment."""
    return [f"{name}={shlex.quote(_fill(value, values))}" for name, value in env.items()]


def _worker_lines(flags: LaunchFlags, table: LaunchFlags.Disaggregated, model_id: str, pool: Pool,
                  worker: _Worker, common: list[str], env: dict[str, str], engine: str) -> list[str]:
    """The comment and command lines that start one worker (one line per node when it spans nodes)."""
    layout, missing = _layout(flags, table, pool)
    par = pool.parallelism
    values = _worker_values(table, pool, worker)
    gpu_env: dict[str, str] = {}
    select: list[str] = []
    if worker.shares_node:
        if table.base_gpu:
            select = [table.base_gpu, str(worker.first_gpu)]
        else:
            gpu_env = {"CUDA_VISIBLE_DEVICES": ",".join(str(worker.first_gpu + g) for g in range(par.total_gpus))}
    role_args = table.prefill_args if pool.role == "prefill" else table.decode_args
    base = [*flags.command, model_id, *layout, *common, *select]
    nodes = len(worker.hosts)
    where = worker.head if nodes == 1 else f"{nodes} nodes {worker.hosts[0]} .. {worker.hosts[-1]}"
    lines = [f"# {pool.role} worker {worker.index} ({GPURecommendation.layout_of(par)} on {pool.gpu.name}): {where}"]

    def node_env(host: str) -> list[str]:
        return _env_words({**env, **gpu_env}, {**values, "host": host})

    def command(host: str, extra: list[str]) -> str:
        own = [_fill(a, {**values, "host": host}) for a in (*table.worker_args, *role_args)]
        return " ".join([*node_env(host), shlex.join([*base, *own, *extra])])
    ranks = par.data_parallel_size if flags.data_parallel else 1  # DP ranks of the worker, split over its nodes
    per_node = ranks // nodes if ranks > 1 and ranks % nodes == 0 else 0
    if nodes > 1 and per_node and flags.data_parallel_local and flags.data_parallel_address:
        lines.append(f"# {ranks} DP ranks over {nodes} nodes, {per_node} per node: one line per node, "
                     "the router talks to the first")
        for k, host in enumerate(worker.hosts):
            extra = [flags.data_parallel_local, str(per_node), flags.data_parallel_address, worker.head]
            if k:
                extra = ([flags.headless] if flags.headless else []) + extra + [
                    flags.data_parallel_start_rank or "--data-parallel-start-rank", str(k * per_node)]
            lines.append(command(host, extra))
    elif nodes > 1 and flags.multi_node == "ray":
        lines.append(f"# one worker over {nodes} nodes: a Ray cluster (its workers keep the environment of `ray start`)")
        lines += [" ".join([*node_env(host), f"ray start --head --port=6379  # on {host}" if not k else
                            f"ray start --address={worker.head}:6379  # on {host}"]) for k, host in enumerate(worker.hosts)]
        lines.append(command(worker.head, [flags.ray_executor or "--distributed-executor-backend", "ray"]))
    elif nodes > 1 and flags.multi_node == "per_node" and flags.nnodes and flags.node_rank and flags.dist_init_addr:
        lines += [command(host, [flags.nnodes, str(nodes), flags.node_rank, str(k), flags.dist_init_addr,
                                 f"{worker.head}:{DIST_INIT_PORT}"]) for k, host in enumerate(worker.hosts)]
    else:
        if nodes > 1:
            missing.append(f"{nodes} nodes per worker")
        lines.append(command(worker.head, []))
    if missing:
        lines[-1] += f"  # also: {'; '.join(missing)} (no {engine} flag)"
    return lines


def _worker_values(table: LaunchFlags.Disaggregated, pool: Pool, worker: _Worker) -> dict[str, str]:
    values = {"host": worker.head,
              "port": str((table.prefill_port if pool.role == "prefill" else table.decode_port) + worker.slot)}
    if table.bootstrap_port is not None:
        values["bootstrap_port"] = str(table.bootstrap_port + worker.slot)
    if table.side_channel_port is not None:
        values["side_channel_port"] = str(table.side_channel_port + worker.first_gpu)
    return values


def _router_words(table: LaunchFlags.Disaggregated, pools: dict[str, tuple[Pool, list[_Worker]]],
                  values: dict[str, str]) -> list[str]:
    words: list[str] = []
    for word in table.router:
        if word in _SPREAD:
            role, what = word.strip("{}").split("_")
            pool, workers = pools[role]
            for worker in workers:
                worker_values = _worker_values(table, pool, worker)
                if what == "hosts":
                    words.append(worker.head)
                elif what == "ports":
                    words.append(worker_values["port"])
                else:
                    template = table.router_prefill if role == "prefill" else table.router_decode
                    words += [_fill(w, worker_values) for w in template]
        else:
            words.append(_fill(word, values))
    return words


def launch_disaggregated(deployment: DisaggregatedDeployment, model_id: str, max_model_len: int,
                         gpu_memory_utilization: float = 0.9) -> str:
    """The shell lines that start a disaggregated deployment on its engine: the config files to write
    (as comments), every prefill and decode worker, and the router clients talk to.

    Layout flags (TP, PP, EP, DP, attention DP, across nodes) are spelled as in a single deployment's
    launch line; the transfer flags, ports and router come from the engine's ``[launch.disaggregated]``
    table. What the engine has no flag for follows its command as a ``# also:`` comment. An engine
    without the table answers a :class:`WorkloadError`.
    """
    from gpurec_core.plugins import engine_info, list_engines

    if not isinstance(deployment, DisaggregatedDeployment):
        raise WorkloadError(f"deployment must be a DisaggregatedDeployment, got {type(deployment).__name__}")
    if not isinstance(model_id, str) or not model_id.strip() or not model_id.isprintable():
        raise WorkloadError(f"model_id must be a model name or path, got {model_id!r:.80}")
    if isinstance(max_model_len, bool) or not isinstance(max_model_len, int) or max_model_len < 1:
        raise WorkloadError(f"max_model_len must be a positive integer, got {max_model_len!r:.40}")
    if isinstance(gpu_memory_utilization, bool) or not isinstance(gpu_memory_utilization, (int, float)) \
            or not 0 < gpu_memory_utilization <= 1:
        raise WorkloadError(f"gpu_memory_utilization must be in (0, 1], got {gpu_memory_utilization!r:.40}")
    info = engine_info(deployment.engine)
    flags = info.launch
    if flags is None:
        raise WorkloadError(f"engine {info.name!r} (plugin {info.provided_by!r}) lists no launch command")
    table = flags.disaggregated
    if table is None:
        able = sorted(e.name for e in list_engines() if e.launch is not None and e.launch.disaggregated is not None)
        raise WorkloadError(
            f"engine {info.name!r} (plugin {info.provided_by!r}) lists no disaggregated launch; its plugin can add "
            f"one (LaunchFlags.disaggregated, the [launch.disaggregated] table), or plan the deployment on "
            f"{', '.join(able) or 'an engine that lists one'}")
    link = _kv_link(deployment)
    env = {**table.env, **(table.nvlink_env if link == "nvlink" else {})}
    def common(pool: Pool) -> list[str]:  # the fraction the pool's memory plan assumed, else the deployment's
        fraction = pool.memory_fraction if pool.memory_fraction is not None else gpu_memory_utilization
        return [flags.max_model_len, str(max_model_len), flags.memory_fraction, f"{fraction:g}"]
    pools = {pool.role: (pool, _place(pool)) for pool in (deployment.prefill, deployment.decode)}

    def heads(role: str) -> str:
        pool, workers = pools[role]
        return ", ".join(f'"{w.head}:{_worker_values(table, pool, w)["port"]}"' for w in workers)
    values = {"max_model_len": str(max_model_len), "prefill_urls": heads("prefill"), "decode_urls": heads("decode")}
    for role, (pool, _) in pools.items():
        values[f"{role}_count"] = str(pool.workers)
        values[f"{role}_attention_dp"] = "true" if attention_dp_of(pool.parallelism) > 1 else "false"

    def describe(pool: Pool) -> str:
        return (f"{pool.workers} x {GPURecommendation.layout_of(pool.parallelism)} on {pool.gpu.name} "
                f"({pool.gpus} GPU{'s' if pool.gpus > 1 else ''})")
    lines = [f"# disaggregated {model_id} on {info.name}: prefill {describe(deployment.prefill)}, "
             f"decode {describe(deployment.decode)}; KV cache over {link}",
             "# PREFILL_HOST_i / DECODE_HOST_j: the address of each node; run each command on the host it names"]
    lines += [f"# {note}" for note in table.notes]
    for name, content in table.files.items():
        lines.append(f"# write {name} first (sketch):")
        lines += [f"#   {_fill(line, values)}" for line in content]
    for role in ("prefill", "decode"):
        pool, workers = pools[role]
        for worker in workers:
            lines += _worker_lines(flags, table, model_id, pool, worker, common(pool), env, info.name)
    lines += ["# router: clients send requests here", shlex.join(_router_words(table, pools, values))]
    unknown = sorted({m for line in lines for m in _PLACEHOLDER.findall(line.replace(model_id, ""))})
    if unknown:
        raise PluginError(f"engine {info.name!r} (plugin {info.provided_by!r}): [launch.disaggregated] uses "
                          f"{', '.join(unknown)}, which it does not fill (see LaunchFlags.Disaggregated)")
    return "\n".join(lines)
