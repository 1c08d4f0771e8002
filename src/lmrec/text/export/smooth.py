"""Activation smoothing (SmoothQuant, Xiao et al. 2023) of an fp32 ONNX transformer before int8 quantization.

int8 quantization gives each MatMul input row (lmrec, :mod:`lmrec.text.export.quantize`) or the whole input
tensor (onnxruntime's dynamic quantization) ONE scale, set by its largest value. Transformer activations have
a few input channels far larger than the rest (in MiniLM up to ~20x the median channel, in the LayerNorm
outputs and the GELU outputs), so the other channels keep only a few int8 levels.
Smoothing divides input channel ``j`` by ``s_j`` and multiplies the weight's row ``j`` by ``s_j``: ``X W`` is
unchanged in exact arithmetic, but the activation range is evened out across channels and moved onto the
weights, which are quantized per output channel and absorb it well. As in the paper,
``s_j = max|X_j| ** alpha / max|W_j| ** (1 - alpha)``, with two changes that mattered on MiniLM (measured,
see :mod:`lmrec.text.export.onnx`):

* ``s`` is floored at its median: only the outlier channels are scaled down, none is scaled up. Scaling small
  channels up widened the range instead (the GELU's negative tail, down to -0.17 in every channel, grows with
  ``1 / s``), and without the floor the result swung with ``alpha`` (with per-tensor scales 0.5 and 0.8 were
  worse than no smoothing, 0.65 better);
* ``s`` is rounded to a power of two, so the smoothed fp32 graph computes exactly the same products
  (scaling by 2^k is exact in floating point) and the file stays identical when another CPU gives slightly
  different calibration maxima.

``1 / s`` is one ``Mul`` by a constant inserted before each group of MatMuls sharing an input (Q/K/V, FFN
input, FFN output). SmoothQuant folds it into the preceding LayerNorm's gamma/beta, but that is exact only in
pre-LN models: in this post-LN BERT the LayerNorm output also feeds the residual connection, which must stay
unscaled, and the FFN output's input is the GELU output (nothing to fold into). The Mul costs no measurable
speed. The attention output projection is left as is: smoothing it (1 / s folded into the value projection's
columns) changed the cosine by less than 0.0002.

``max|X_j|`` comes from a calibration pass over :data:`CALIBRATION_TEXTS`, a fixed built-in list of varied
catalog-like texts (movies, products, books, news, queries), so the exported file does not depend on the
user's catalog, is exported once and cached, and is the same in every run. Calibrating on 128 catalog texts of
ML-100K and Amazon Scientific instead raised the mean cosine to fp32 by only 0.0001.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

# Varied texts in the shapes item templates produce: "title (year). genres", product titles with category
# paths and brands, book and news blurbs, short search queries. Written for lmrec; no dataset's texts.
CALIBRATION_TEXTS: tuple[str, ...] = (
    "The Long Summer (1994). Drama, Romance",
    "Midnight Express Train (1987). Action, Thriller",
    "A Dog Named Biscuit (2001). Children's, Comedy, Family",
    "Stars Over the Valley (1962). Western",
    "Deep Blue Horizon (1999). Adventure, Documentary",
    "The Haunting at Gray Manor (1979). Horror, Mystery",
    "Robots of the Red Planet (2015). Animation, Sci-Fi",
    "Love in Lisbon (2008). Comedy, Romance, Musical",
    "Nitrile examination gloves, powder free, box of 100, size large. Industrial & Scientific Lab Supplies "
    "Gloves. SafeHands.",
    "Borosilicate glass beaker set 50ml 100ml 250ml 500ml with graduations. Lab Glassware Beakers. LabPro.",
    "PLA 3D printer filament 1.75mm, 1kg spool, dimensional accuracy +/- 0.02 mm, black. Additive "
    "Manufacturing Products Filament.",
    "Digital caliper 0-150mm stainless steel with LCD display and inch/metric conversion. Measuring Tools.",
    "Stainless steel hex socket cap screws M6 x 20mm, pack of 50. Fasteners Screws. BoltWorks.",
    "Wireless noise cancelling over-ear headphones with 30-hour battery life and USB-C charging.",
    "Organic green tea, 100 tea bags, caffeine free herbal blend with mint and lemongrass. Grocery.",
    "Men's waterproof hiking boots, leather upper, rubber sole, size 10 wide. Shoes Outdoor.",
    "Cast iron skillet 12 inch, pre-seasoned, oven safe. Home & Kitchen Cookware. IronCook.",
    "Kids' wooden building blocks, 100 pieces in 8 colors with storage bag, ages 3+. Toys & Games.",
    "Anti-static ESD wrist strap with adjustable band and 6 ft grounding cord.",
    "pH meter with automatic temperature compensation, accuracy 0.01, for pools, aquariums and labs.",
    "Replacement HEPA filter for air purifier models AP-200 and AP-300, 2 pack.",
    "USB microscope 40x-1000x magnification with 8 LED lights and stand, compatible with Windows and Mac.",
    "A sweeping family saga set across three generations of fishermen on the coast of Norway.",
    "The definitive guide to Python programming: data structures, algorithms and testing, 3rd edition.",
    "In this thriller, a retired detective is pulled back into the case that ended her career.",
    "Cookbook: 150 quick vegetarian dinners ready in 30 minutes or less.",
    "City council approves new budget for public transport and road repairs.",
    "Scientists report a breakthrough in battery storage using sodium instead of lithium.",
    "Local team wins championship after dramatic overtime goal.",
    "Stock markets fall as inflation data surprises investors; central bank meets next week.",
    "Storm warning issued for the northern coast, with winds up to 120 km/h expected overnight.",
    "cheap running shoes",
    "funny movies from the 90s",
    "laboratory scale 0.001g",
    "best sci-fi novel",
    "soldering iron kit with temperature control",
    "Jazz Nights: Live at the Blue Room (Remastered). Music CDs Jazz.",
    "Classical piano favorites: Chopin, Debussy and Satie, performed by Anna Keller.",
    "Rock band's third studio album, featuring the single 'Electric Roads'.",
    "Fantasy role-playing video game for PC with open world, crafting and online co-op.",
    "Yoga mat, non-slip, 6mm thick, with carrying strap. Sports & Outdoors Fitness.",
    "Vitamin D3 2000 IU softgels, 365 count. Health & Household Supplements.",
    "Sterile cotton swabs 6 inch, individually wrapped, 200 count. Medical Supplies.",
    "Ultrasonic cleaner 2L with heater and digital timer for jewelry, glasses and lab parts.",
    "Tiny house living: building a home on wheels for under $30,000.",
    "Die Geschichte einer Reise durch die Alpen im Winter.",
    "Un film drôle et touchant sur une famille qui part en vacances.",
    "La casa de los espíritus, novela, edición de bolsillo.",
)


# bump when smooth_model computes different scales: the int8 file's cache name includes it
SMOOTHING_VERSION = 1


def calibration_absmax(
    fp32_path: Path, folder: Path, texts: Sequence[str] = CALIBRATION_TEXTS
) -> dict[str, np.ndarray]:
    """Per input channel, the largest ``|x|`` each weight MatMul's input reaches over ``texts``.

    Keys are the names of the MatMuls' input tensors. Each text runs alone (no padding tokens in the maxima)
    through onnxruntime with graph optimizations off, so the intermediate tensors are the exported ones.
    """
    import onnx
    import onnxruntime as ort
    from tokenizers import Tokenizer

    from lmrec.text.encoders._bucketed import truncating_tokenizer
    from lmrec.text.encoders._hf import folder_limits

    model = onnx.load(str(fp32_path))
    inputs = sorted({n.input[0] for n in weight_matmuls(model)})
    known = {o.name for o in model.graph.output}
    model.graph.output.extend(onnx.ValueInfoProto(name=n) for n in inputs if n not in known)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.intra_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    feeds = {i.name for i in session.get_inputs()}
    tok = truncating_tokenizer(Tokenizer.from_file(str(folder / "tokenizer.json")), folder_limits(folder)[0])
    out: dict[str, np.ndarray] = {}
    for text in texts:
        ids = np.asarray([tok.encode(text).ids], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
        if "token_type_ids" in feeds:
            feed["token_type_ids"] = np.zeros_like(ids)
        for name, value in zip(inputs, session.run(inputs, feed), strict=True):
            m = np.abs(value.reshape(-1, value.shape[-1])).max(0)
            out[name] = np.maximum(out[name], m) if name in out else m
    return out


def smooth_model(
    model: Any,
    absmax: dict[str, np.ndarray],
    alpha: float = 0.8,
    *,
    skip: Sequence[str] = (),
    skip_inputs_of: Sequence[str] = ("attention/output/dense/MatMul",),
    median_floor: bool = True,
) -> Any:
    """``model`` (an ``onnx.ModelProto``, changed in place and returned) with the input of its weight MatMuls
    smoothed: ``x / s`` through one inserted ``Mul`` per shared input, weight rows times ``s``.

    ``s = absmax ** alpha / max|W row| ** (1 - alpha)``, floored at its median (unless ``median_floor=False``,
    the paper's formula), rounded to a power of two.
    Inputs missing from ``absmax``, MatMuls named in ``skip`` (e.g. those left fp32) and MatMuls whose name
    ends with one of ``skip_inputs_of`` are left as they are, as are weights shared with other nodes.
    """
    from onnx import helper, numpy_helper

    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    groups: dict[str, list[Any]] = {}
    for node in weight_matmuls(model):
        groups.setdefault(node.input[0], []).append(node)
    uses: dict[str, int] = {}
    for n in graph.node:
        for i in n.input:
            uses[i] = uses.get(i, 0) + 1
    mul_after: dict[str, Any] = {}
    for x, nodes in groups.items():
        if (
            x not in absmax
            or any(n.name in skip or n.name.endswith(tuple(skip_inputs_of)) for n in nodes)
            or any(uses[n.input[1]] > 1 for n in nodes)
        ):
            continue
        weights = [numpy_helper.to_array(inits[n.input[1]]) for n in nodes]
        w_max = np.max([np.abs(w).max(1) for w in weights], axis=0)
        s = np.maximum(absmax[x], 1e-5) ** alpha / np.maximum(w_max, 1e-5) ** (1 - alpha)
        if median_floor:
            s = np.maximum(s, np.median(s))
        s = np.exp2(np.round(np.log2(s))).astype(np.float32)
        const = f"{x}_smooth_inv_scale"
        graph.initializer.append(numpy_helper.from_array(1.0 / s, const))
        mul_after[x] = helper.make_node("Mul", [x, const], [f"{x}_smoothed"], name=f"{x}_smooth_mul")
        for n, w in zip(nodes, weights, strict=True):
            n.input[0] = f"{x}_smoothed"
            inits[n.input[1]].CopyFrom(numpy_helper.from_array(w * s[:, None], n.input[1]))
    # each Mul right after the node producing its input: the node list stays topologically sorted
    ordered = [mul_after[x] for x in mul_after if x in {i.name for i in graph.input}]
    for n in graph.node:
        ordered.append(n)
        ordered += [mul_after[o] for o in n.output if o in mul_after]
    del graph.node[:]
    graph.node.extend(ordered)
    return model


def weight_matmuls(model: Any) -> list[Any]:
    """MatMul nodes whose second input is a 2-D initializer (the dense layers)."""
    dims = {i.name: len(i.dims) for i in model.graph.initializer}
    return [n for n in model.graph.node if n.op_type == "MatMul" and dims.get(n.input[1]) == 2]
