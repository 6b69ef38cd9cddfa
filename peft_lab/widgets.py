"""Sliders for the notebooks: LoRA rank and alpha, adapter bottleneck, prefix length, memory.

The update logic is plain Python, each a ``*_view`` function (budget arithmetic only, no
training, well under 0.1 s) that returns numbers; the ``*_explorer`` / ``memory_calculator``
wrappers only lay out ipywidgets and render those numbers, and ``train_button`` puts a real
training run behind a button with a progress bar:

    from peft_lab import widgets
    widgets.rank_view(r=8, alpha=16, d=128, k=128)["share"]      # 0.125
    widgets.rank_explorer()                                      # sliders + live numbers
    widgets.train_button(lambda: pl.apply(pl.load_pretrained("cls", 2), pl.LoRAConfig(r=8)),
                         steps=100, lr=3e-3)
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from . import budget
from .budget.flops import linear_flops
from .checks import check_choice, check_positive, check_positive_int
from .i18n import t
from .methods import REGISTRY, SOFT_PROMPT_DESIGNS, AdapterConfig, soft_prompt_configs
from .methods.adapter import adapter_parameters
from .methods.lora import scaling

if TYPE_CHECKING:   # the widget builders import ipywidgets where used; the name is for their annotations
    import ipywidgets

MEMORY_METHODS = ("full", "lora", "qlora", "adapter", "prefix_tuning", "prompt_tuning", "bitfit")


# ----------------------------------------------------------------------------- the views (plain Python)

def rank_view(r: int, alpha: float, d: int = 128, k: int = 128) -> dict:
    """LoRA on one d×k layer: counts, share, the scaling α/r (and rsLoRA's α/√r), FLOPs ratios."""
    for name, v in (("r", r), ("d", d), ("k", k)):
        check_positive_int(name, v)
    check_positive("alpha", alpha)
    if r > min(d, k):
        raise ValueError(f"r={r} exceeds min(d, k) = {min(d, k)}; allowed: 1 ... {min(d, k)}")
    full, lora = linear_flops(d, k), linear_flops(d, k, r)
    return {"d": d, "k": k, "r": r, "alpha": alpha, "full": d * k, "lora": r * (d + k),
            "share": r * (d + k) / (d * k), "scaling": scaling(alpha, r), "rslora_scaling": scaling(alpha, r, use_rslora=True),
            "break_even_rank": d * k / (d + k), "forward_overhead": lora.forward / full.forward - 1,
            "step_ratio": lora.step / full.step}


def bottleneck_view(m: int, arch="tiny", placement: str = "houlsby") -> dict:
    """Adapters of width m on ``arch``: 2dm + d + m each, how many, the total and its share."""
    check_positive_int("m", m)
    arch = budget.get(arch)
    d = arch.d_model
    trainable = budget.count(arch, AdapterConfig(bottleneck=m, placement=placement))
    per_adapter = adapter_parameters(d, m)
    base = budget.count(arch)
    return {"m": m, "d": d, "placement": placement, "per_adapter": per_adapter,
            "adapters": trainable // per_adapter, "trainable": trainable, "base": base,
            "share": trainable / (base + trainable), "in_advice_band": d / 16 <= m <= d / 4}


def prefix_view(L: int, arch="tiny", encoder_hidden_size: int = 128) -> dict:
    """The four soft-prompt designs at length L on ``arch``: parameters trained and kept
    (after folding), and the context left for the text."""
    check_positive_int("L", L)
    arch = budget.get(arch)
    configs = soft_prompt_configs(L, encoder_hidden_size)
    designs = {d: {"trained": budget.count(arch, configs[d]), "kept": budget.count(arch, configs[d], folded=True)}
               for d in SOFT_PROMPT_DESIGNS}
    return {"L": L, "arch": arch.name, "designs": designs, "context_left": arch.max_len - L}


def method_config(arch, method: str, r: int = 8, bottleneck: int = 64, num_virtual_tokens: int = 20):
    """A sensible config of ``method`` for any preset (the method's own ``example``): LoRA on the
    attention's q and v (or the fused qkv) by role, so it works for GPT-2's ``c_attn`` as for LLaMA's ``q_proj``."""
    check_choice("method", method, MEMORY_METHODS)
    return REGISTRY[method].example(budget.get(arch), r=r, bottleneck=bottleneck, num_virtual_tokens=num_virtual_tokens)


def memory_view(model: str = "llama-7b", method: str = "lora", precision: str = "bf16", batch_size: int = 1,
                seq_len: int = 512, r: int = 8, gradient_checkpointing: bool = False) -> budget.MemoryReport:
    """Training memory of ``method`` on preset ``model`` (a ``budget.MemoryReport``, by part)."""
    return budget.training_memory(model, method_config(model, method, r=r), precision=precision,
                                  batch_size=batch_size, seq_len=seq_len,
                                  gradient_checkpointing=gradient_checkpointing)


def storage_view(model: str = "llama-7b", method: str = "lora", dtype: str = "bf16", n_tasks: int = 1,
                 r: int = 8) -> budget.StorageReport:
    """Checkpoint bytes of the base and one adapter, and of serving ``n_tasks`` tasks."""
    return budget.storage(model, method_config(model, method, r=r), dtype=dtype, n_tasks=n_tasks)


# ----------------------------------------------------------------------------- rendering (HTML)

def _table(rows: list[tuple[str, str]]) -> str:
    cells = "".join(f"<tr><td style='padding:2px 12px 2px 0'>{k}</td><td style='text-align:right'><b>{v}</b></td></tr>"
                    for k, v in rows)
    return f"<table style='font-size:14px'>{cells}</table>"


def render_rank(v: dict) -> str:
    return _table([(t("w_full_dw", d=v["d"], k=v["k"]), f"{v['full']:,}"), (t("w_lora_params"), f"{v['lora']:,}"),
                   (t("w_share"), f"{100 * v['share']:.3g}%"), (t("w_scaling"), f"{v['scaling']:.3g}"),
                   (t("w_rslora_scaling"), f"{v['rslora_scaling']:.3g}"),
                   (t("w_forward_overhead"), f"+{100 * v['forward_overhead']:.3g}%"),
                   (t("w_step_ratio"), f"{v['step_ratio']:.3f}"), (t("w_break_even"), f"{v['break_even_rank']:.3g}")])


def render_bottleneck(v: dict) -> str:
    advice = t("w_yes") if v["in_advice_band"] else t("w_no")
    return _table([(t("w_per_adapter", d=v["d"], m=v["m"]), f"{v['per_adapter']:,}"),
                   (t("w_adapters"), str(v["adapters"])), (t("trainable_params"), f"{v['trainable']:,}"),
                   (t("w_share"), f"{100 * v['share']:.3g}%"), (t("advice_band"), advice)])


def render_prefix(v: dict) -> str:
    rows = [(t(d), t("w_trained_kept", trained=f"{c['trained']:,}", kept=f"{c['kept']:,}"))
            for d, c in v["designs"].items()]
    return _table(rows + [(t("w_context_left"), str(v["context_left"]))])


def render_memory(report: budget.MemoryReport, storage: budget.StorageReport, cards=None) -> str:
    """The parts, the total, the adapter file and the serving cost; with ``cards`` (GiB) also
    which single GPU holds the total."""
    parts = [(t(p), budget.human_bytes(getattr(report, p)))
             for p in ("weights", "gradients", "optimizer_state", "activations")]
    rows = parts + [(t("w_total"), budget.human_bytes(report.total))]
    if cards:
        from .lessons.motivation import fits_label
        rows.append((t("mo_fits_on"), fits_label(report.total, cards)))
    return _table(rows + [(t("w_adapter_file"), budget.human_bytes(storage.adapter)),
                          (t("w_serving", n=storage.n_tasks), budget.human_bytes(storage.serving))])


# ----------------------------------------------------------------------------- the widgets

def show(output, fig) -> None:
    """Replace what ``output`` (an ``ipywidgets.Output``) shows by ``fig`` as a PNG, then close
    the figure. A PNG, not the Figure object: it renders the same in any kernel or none."""
    import io

    import matplotlib.pyplot as plt
    from IPython.display import Image
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    output.outputs = ()
    output.append_display_data(Image(data=buffer.getvalue(), format="png"))


def _explorer(controls: dict, update: Callable[..., str], figure: Callable[..., object] | None = None):
    """Controls above, an HTML view below (and a figure, if ``figure``), refreshed on every change.
    The returned VBox carries ``.controls``, ``.html``, ``.plot`` and ``.refresh()`` (for tests)."""
    import ipywidgets as w

    html, plot = w.HTML(), w.Output()

    def refresh(_=None) -> None:
        values = {name: c.value for name, c in controls.items()}
        try:
            html.value = update(**values)
        except ValueError as e:   # e.g. r > min(d, k): say why instead of failing
            html.value = f"<span style='color:#b00'>{e}</span>"
            plot.outputs = ()     # no stale figure under the error: it would show another setting
            return
        if figure is not None:
            show(plot, figure(**values))

    for c in controls.values():
        c.observe(refresh, names="value")
    box = w.VBox([w.HBox(list(controls.values())[:3]), w.HBox(list(controls.values())[3:]), html, plot])
    box.controls, box.html, box.plot, box.refresh = controls, html, plot, refresh
    refresh()
    return box


def _labelled(values, prefix: str = "") -> list[tuple[str, str]]:
    """Dropdown options that show each value's display name (``t(prefix + value)``) and keep the value."""
    return [(t(prefix + v), v) for v in values]


def _slider(label_key: str, value: int, lo: int, hi: int, step: int = 1):
    import ipywidgets as w
    return w.IntSlider(value=value, min=lo, max=hi, step=step, description=t(label_key), continuous_update=False,
                       style={"description_width": "initial"})


def rank_explorer(d: int = 128, k: int = 128, r: int = 8, alpha: float = 16, figure: bool = True,
                  results: dict | None = None) -> ipywidgets.VBox:
    """Sliders for r and α (and d, k): parameter counts, scaling and FLOPs; the diagram to scale.
    With ``results`` (the ``lora_rank`` sweep, ``load_results("lora_rank")``) the measured sweep is
    drawn below with the slider's r marked on it (``.sweep``, redrawn only when r changes)."""
    import ipywidgets as w
    from .plots.ch2_lora import lora_diagram
    controls = {"r": _slider("rank", r, 1, 64), "alpha": w.FloatSlider(value=alpha, min=1, max=128, step=1,
                                                                       description="α", continuous_update=False),
                "d": _slider("w_d", d, 8, 4096, 8), "k": _slider("w_k", k, 8, 4096, 8)}
    box = _explorer(controls, lambda **v: render_rank(rank_view(**v)),
                    (lambda r, alpha, d, k: lora_diagram(d, k, r)) if figure else None)
    box.sweep = None
    if results is not None:
        from .plots.ch2_lora import rank_sweep
        sweep = w.Output()

        def redraw(_=None) -> None:
            show(sweep, rank_sweep(results, mark=controls["r"].value))

        controls["r"].observe(redraw, names="value")
        redraw()
        box.sweep, box.children = sweep, (*box.children, sweep)
    return box


def bottleneck_explorer(arch="tiny", m: int = 32, sweep: dict | None = None) -> ipywidgets.VBox:
    """A slider for the bottleneck m and a placement choice: adapter parameters on ``arch``. With
    ``sweep`` (the ``adapter_bottleneck`` results, measured on the tiny model) its accuracy and parameter
    curves are drawn below with the slider's m marked (``plots.ch3_adapter.bottleneck_sweep(..., mark=m)``)."""
    import ipywidgets as w
    d = budget.get(arch).d_model
    controls = {"m": _slider("bottleneck", m, 1, d - 1),
                "placement": w.Dropdown(options=_labelled(("houlsby", "pfeiffer", "parallel"), "adapter_"),
                                        value="houlsby", description=t("w_placement"))}
    figure = None
    if sweep is not None:
        from .plots.ch3_adapter import bottleneck_sweep
        sweep_d = budget.get("tiny").d_model   # the sweeps in results/ train the shipped tiny model

        def figure(m, placement):   # the sweep measured Houlsby adapters: the mark shows where m sits on it
            return bottleneck_sweep(sweep, d_model=sweep_d, mark=m)
    return _explorer(controls, lambda m, placement: render_bottleneck(bottleneck_view(m, arch, placement)), figure)


def prefix_explorer(arch="tiny", L: int = 16, encoder_hidden_size: int = 128,
                    sweep: dict | None = None) -> ipywidgets.VBox:
    """A slider for the length L: what each soft-prompt design trains and keeps on ``arch``. With
    ``sweep`` (the ``prefix_length`` results, measured on the tiny model) its accuracy and parameter
    curves are drawn below with the slider's L marked (``plots.ch4_prompts.prefix_length_sweep(..., mark=L)``)."""
    top = budget.get(arch).max_len - 1
    controls = {"L": _slider("prefix_length", L, 1, min(top, 256))}
    figure = None
    if sweep is not None:
        from .plots.ch4_prompts import prefix_length_sweep

        def figure(L):   # the sweep was measured on the tiny model: the mark shows where L sits on it
            return prefix_length_sweep(sweep, mark=L)
    return _explorer(controls, lambda L: render_prefix(prefix_view(L, arch, encoder_hidden_size)), figure)


def memory_reports(model: str = "llama-7b", method: str = "lora", precision: str = "bf16", batch_size: int = 1,
                   seq_len: int = 512, r: int = 8, gradient_checkpointing: bool = False) -> list[budget.MemoryReport]:
    """The bars the memory calculator draws: full fine-tuning in the same setting (the reference;
    in bf16 when ``precision`` is a 4-bit base, which cannot be fully fine-tuned), then ``method``."""
    chosen = memory_view(model, method, precision, batch_size, seq_len, r, gradient_checkpointing)
    if method == "full":
        return [chosen]
    full = memory_view(model, "full", "bf16" if precision == "nf4" else precision, batch_size, seq_len, r,
                       gradient_checkpointing)
    return [full, chosen]


def memory_figure(model: str = "llama-7b", method: str = "lora", precision: str = "bf16", batch_size: int = 1,
                  seq_len: int = 512, r: int = 8, gradient_checkpointing: bool = False):
    """Stacked bars of :func:`memory_reports` (``plots.ch1_motivation.memory_breakdown``)."""
    from .plots.ch1_motivation import memory_breakdown
    return memory_breakdown(memory_reports(model, method, precision, batch_size, seq_len, r, gradient_checkpointing))


def memory_calculator(model: str = "llama-7b", method: str = "lora", figure: bool = True,
                      cards=None) -> ipywidgets.VBox:
    """Model, method, precision, batch, sequence length, gradient checkpointing and number of tasks
    -> training memory by part (numbers, and stacked bars beside full fine-tuning's), which GPU
    cards hold it (``cards`` in GiB, default ``lessons.motivation.CARDS_GIB``), the adapter file and
    the cost of serving n tasks (``budget.training_memory`` and ``budget.storage``)."""
    import ipywidgets as w
    from .lessons.motivation import CARDS_GIB
    cards = CARDS_GIB if cards is None else cards
    controls = {"model": w.Dropdown(options=sorted(budget.PRESETS), value=model, description=t("w_model")),
                "method": w.Dropdown(options=_labelled(MEMORY_METHODS), value=method, description=t("w_method")),
                "precision": w.Dropdown(options=_labelled(budget.PRECISIONS, "prec_"), value="bf16",
                                        description=t("w_precision")),
                "batch_size": _slider("w_batch", 1, 1, 64), "seq_len": _slider("w_seq_len", 512, 16, 4096, 16),
                "gradient_checkpointing": w.Checkbox(value=False, description=t("mo_gradient_checkpointing")),
                "n_tasks": _slider("n_tasks", 1, 1, 100)}

    def update(model, method, precision, batch_size, seq_len, gradient_checkpointing, n_tasks) -> str:
        report = memory_view(model, method, precision, batch_size, seq_len,   # too long: the error says so
                             gradient_checkpointing=gradient_checkpointing)
        dtype = "bf16" if precision in ("bf16", "mixed", "nf4") else "fp32"
        return render_memory(report, storage_view(model, method, dtype, n_tasks), cards)

    def draw(model, method, precision, batch_size, seq_len, gradient_checkpointing, n_tasks):
        return memory_figure(model, method, precision, batch_size, seq_len,
                             gradient_checkpointing=gradient_checkpointing)
    return _explorer(controls, update, draw if figure else None)


def train_button(make_model: Callable[..., object], task: str = "sentiment", fit: Callable | None = None,
                 sliders: dict[str, tuple[int, int, int]] | None = None, **fit_kwargs) -> ipywidgets.VBox:
    """A button that builds ``make_model()`` and trains it with ``pl.fit(model, task, **fit_kwargs)``
    (progress bar below), then shows the ``RunResult`` and its loss curve. ``.result`` holds the
    last RunResult; ``fit`` replaces ``pl.fit`` (tests).

    ``sliders`` puts integer sliders beside the button, ``{name: (value, min, max)}``; their values
    at the click are passed to ``make_model(**values)``, e.g. ``sliders={"r": (8, 1, 64)}`` with
    ``make_model=lambda r: pl.apply(base(), pl.LoRAConfig(r=r))`` trains at the chosen rank."""
    import ipywidgets as w
    from .methods.base import TrainingHook
    from .plots.ch6_practice import training_curves
    from .train import fit as pl_fit
    fit = fit or pl_fit
    steps = fit_kwargs.get("steps", 300)
    controls = {}
    for name, spec in (sliders or {}).items():
        if not (isinstance(spec, tuple) and len(spec) == 3 and all(isinstance(v, int) for v in spec)
                and spec[1] <= spec[0] <= spec[2]):
            raise ValueError(f"sliders[{name!r}]={spec!r} must be (value, min, max), integers with min <= value <= max")
        controls[name] = w.IntSlider(value=spec[0], min=spec[1], max=spec[2], description=name,
                                     continuous_update=False)
    button = w.Button(description=t("w_train"), button_style="primary", icon="play")
    progress = w.IntProgress(value=0, min=0, max=steps, description=t("step"))
    html, plot = w.HTML(), w.Output()

    class Progress(TrainingHook):
        def after_step(self, model, step):
            progress.value = step + 1

    def run(_=None) -> None:
        button.disabled, progress.value = True, 0
        html.value = t("w_training")
        try:
            model = make_model(**{name: c.value for name, c in controls.items()})
            result = fit(model, task, hooks=[Progress()], progress=False, **fit_kwargs)
        except (FloatingPointError, ValueError) as e:
            html.value = f"<span style='color:#b00'>{e}</span>"
            return
        finally:
            button.disabled = False
        box.result = result
        html.value = f"<pre>{result}</pre>"
        show(plot, training_curves([result]))

    button.on_click(run)
    box = w.VBox([w.HBox([*controls.values(), button, progress]), html, plot])
    box.button, box.progress, box.html, box.plot, box.result, box.run = button, progress, html, plot, None, run
    box.controls = controls
    return box


# ----------------------------------------------------------------------------- 05_comparison

DEFAULT_WEIGHTS = {"accuracy": 3, "memory": 1, "trainable_params": 1, "train_speed": 1, "latency": 1}


def recommend_explorer(results: dict, n_test: int, weights: dict | None = None, top: int = 6) -> ipywidgets.VBox:
    """A slider (0–5) per criterion of ``lessons.comparison.WEIGHTED`` -- accuracy, training memory,
    trainable parameters, step time, inference latency -- and the ranking those weights give on the
    measured ``results`` (``recommend``), with which top choices the data cannot tell apart
    (``lessons.comparison.ranking_with_noise``). All weights 0: the view says so instead of ranking."""
    import ipywidgets as w
    from .lessons.comparison import WEIGHTED, ranking_with_noise, render_ranking
    unknown = [c for c in (weights or {}) if c not in WEIGHTED]
    if unknown:
        raise ValueError(f"weights has unknown criteria {unknown}; allowed: {list(WEIGHTED)}")
    start = {**DEFAULT_WEIGHTS, **(weights or {})}
    controls = {c: w.IntSlider(value=start[c], min=0, max=5, description=t(f"crit_{c}").split("\n")[0],
                               continuous_update=False, style={"description_width": "initial"}) for c in WEIGHTED}
    return _explorer(controls, lambda **ws: render_ranking(ranking_with_noise(results, ws, n_test), top))


def decision_explorer(methods: dict, sizes: dict, n_test: int) -> ipywidgets.VBox:
    """The chapter's selection guide as four yes/no toggles (显存受限？多任务部署？推理延迟敏感？数据量小？):
    the methods each "yes" rules out, the measurement behind it, and the recommendation
    (``lessons.comparison.decide`` on ``methods`` = results/methods.json, ``sizes`` = results/train_size.json)."""
    import ipywidgets as w
    from .lessons.comparison import QUESTIONS, decide, render_decision
    controls = {key: w.ToggleButtons(options=[(t("w_no"), False), (t("w_yes"), True)], value=False,
                                     description=t(question),
                                     style={"description_width": "initial", "button_width": "48px"})
                for key, question in QUESTIONS.items()}
    return _explorer(controls, lambda **answers: render_decision(decide(methods, sizes, n_test, **answers)))
