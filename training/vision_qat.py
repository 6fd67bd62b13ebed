"""Quantisation-aware fine-tuning of the int8 recognizer by distillation from the fp32 model.

The int8 graph ONNX Runtime's static quantiser writes (training/vision_quantize.py) is run in torch
exactly as its QDQ nodes say: per-output-channel symmetric int8 weights (absmax / 127), int32 biases
on the input scale times the weight scale, uint8 activations at the calibrated scales and zero points
of every tensor the quantiser chose. Rounding passes gradients straight through (STE). The float
weights and biases behind the int8 ones are fine-tuned so that the int8 model's class probabilities
match the fp32 model's on augmented views (no labels: the target is the fp32 model's own answer), then
written back into the same QDQ graph: what was trained is what ships. Views of the calibration photos
alone are learnt by heart; the recipe adds views of other photographs (models/food_recognizer/MODEL_CARD.md,
"Mobile bundle", has the figures).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import nn

logger = logging.getLogger(__name__)

INT8_MIN, INT8_MAX = -127, 127  # ONNX Runtime's symmetric int8 weight range
UINT8_MAX = 255
INT32_LIMIT = 2**31 - 1


class QatGraphError(RuntimeError):
    """The QDQ graph holds an operator or a pattern the torch interpreter does not run."""


@dataclass(frozen=True)
class QatConfig:
    """Distillation settings; the bundle's are in training/mobile_bundle.py (INT8_QAT_*)."""

    steps: int = 300
    batch: int = 16
    lr: float = 1e-3  # Adam, in int8 steps of each weight's initial grid
    bias_lr_ratio: float = 1000.0  # biases move in int32 steps (input scale x weight scale)
    gain_lr: float = 0.0  # per-channel multipliers of the weight scales (the int8 values stay); tried, worse
    train_weights: bool = True  # False: only biases (and gains) move
    mixture_weight: float = 1.0  # KL of the renormalised food-class mixture, beside the 1000-class KL
    schedule: str = "constant"  # or "cosine": every learning rate decays as cos toward 0 at the last step
    average_from: float = 1.0  # from this share of the steps on, the trained values are averaged (1: off)
    seed: int = 0


def _round_ste(x: torch.Tensor) -> torch.Tensor:
    return x + (torch.round(x) - x).detach()


def fake_quant_activation(x: torch.Tensor, scale: float, zero_point: int) -> torch.Tensor:
    """uint8 QuantizeLinear then DequantizeLinear (round half to even, saturating), gradient STE."""
    q = torch.clamp(_round_ste(x / scale) + zero_point, 0, UINT8_MAX)
    return (q - zero_point) * scale


def weight_scale(weight: torch.Tensor) -> torch.Tensor:
    """(C_out,) symmetric per-output-channel scale: absmax / 127, as ONNX Runtime computes it."""
    absmax = weight.detach().abs().reshape(weight.shape[0], -1).amax(dim=1)
    return torch.where(absmax > 0, absmax / INT8_MAX, torch.ones_like(absmax))


def layer_weight_scale(
    weight: torch.Tensor, bias: torch.Tensor | None, input_scale: float | None
) -> torch.Tensor:
    """The weight scale ONNX Runtime writes: absmax / 127, raised where the int32 bias on
    input_scale x weight_scale would overflow (its `_adjust_weight_scale_for_int32_bias`)."""
    scale = weight_scale(weight)  # 1 for an all-zero channel
    if bias is None or input_scale is None:
        return scale
    smallest = 1.0001 * 2.0 * bias.detach().abs() / (2.0 * INT32_LIMIT) / input_scale
    return torch.maximum(scale, smallest)


def fake_quant_weight(weight: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    scale = scale.reshape(-1, *([1] * (weight.dim() - 1)))
    return torch.clamp(_round_ste(weight / scale), INT8_MIN, INT8_MAX) * scale


def _attr(node: Any, name: str, default: Any) -> Any:
    import onnx

    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


class QdqModule(nn.Module):
    """The QDQ graph from its input up to the (dequantised) ImageNet logits, in torch.

    `weights`/`biases` hold the float values behind every int8 weight and int32 bias; with
    `quantize=False` they run in float (for checks). Tensors are addressed by their ONNX names.
    """

    def __init__(self, qdq_path: Path, logits: str, float_path: Path | None = None) -> None:
        super().__init__()
        import onnx
        from onnx import numpy_helper

        model = onnx.load(str(qdq_path))
        inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
        # The float values the quantiser rounded (`float_path`: the model it was given), so that writing
        # the module back unchanged reproduces its file; without it, the dequantised values.
        floats = (
            {i.name: numpy_helper.to_array(i) for i in onnx.load(str(float_path)).graph.initializer}
            if float_path is not None
            else {}
        )
        self.logits = logits
        self.quantize = True
        self.input_name = model.graph.input[0].name
        produced_by_q = {n.output[0]: n for n in model.graph.node if n.op_type == "QuantizeLinear"}
        self._steps: list[tuple[str, Any]] = []
        self._const: dict[str, torch.Tensor] = {}
        self.weights = nn.ParameterList()
        self.gains = nn.ParameterList()  # per output channel, multiplies the written weight scale
        self.biases = nn.ParameterList()
        self.weight_names: list[str] = []  # ONNX initializer prefix of each weight (<name>_quantized)
        self.bias_names: list[str] = []
        self._param_of: dict[str, tuple[str, int]] = {}  # DQ output -> ("w" | "b", index)
        self._act_scale: dict[str, tuple[float, int]] = {}  # fake-quantised tensor -> (scale, zero point)
        needed = self._needed(model, logits)
        for node in model.graph.node:
            if not (set(node.output) & needed):
                continue
            op = node.op_type
            if op == "DequantizeLinear" and node.input[0] in inits:
                q = inits[node.input[0]].astype(np.float64)
                scale = inits[node.input[1]].astype(np.float64)
                zero = (
                    inits[node.input[2]].astype(np.float64) if len(node.input) > 2 else np.zeros_like(scale)
                )
                shape = (-1,) + (1,) * (q.ndim - 1) if scale.ndim else ()
                # Trained in units of the grid it was written on (int8 or int32 steps), so one learning
                # rate suits layers whose weights differ in size by orders of magnitude.
                source = node.input[0].removesuffix("_quantized")
                if source in floats:
                    value = torch.tensor(
                        floats[source].astype(np.float64) / scale.reshape(shape), dtype=torch.float32
                    )
                else:
                    value = torch.tensor(q - zero.reshape(shape), dtype=torch.float32)
                unit = torch.tensor(scale.reshape(shape), dtype=torch.float32)
                if inits[node.input[0]].dtype == np.int32:
                    self._param_of[node.output[0]] = ("b", len(self.biases))
                    self.register_buffer(f"bias_unit_{len(self.biases)}", unit)
                    self.biases.append(nn.Parameter(value))
                    self.bias_names.append(node.input[0])
                else:
                    self._param_of[node.output[0]] = ("w", len(self.weights))
                    self.register_buffer(f"weight_unit_{len(self.weights)}", unit)
                    self.weights.append(nn.Parameter(value))
                    self.gains.append(nn.Parameter(torch.ones(value.shape[0])))
                    self.weight_names.append(node.input[0])
            elif op == "DequantizeLinear" and node.input[0] in produced_by_q:
                quant = produced_by_q[node.input[0]]
                act_scale = float(inits[quant.input[1]])
                act_zero = int(inits[quant.input[2]]) if len(quant.input) > 2 else 0
                self._act_scale[node.output[0]] = (act_scale, act_zero)
                self._steps.append(("fq", (quant.input[0], node.output[0])))
            elif op == "QuantizeLinear":
                continue  # run with its DequantizeLinear
            elif op in (
                "Transpose",
                "Cast",
                "Div",
                "Sub",
                "Add",
                "Mul",
                "Conv",
                "Gemm",
                "ReduceMean",
                "Clip",
            ):
                for name in node.input:
                    if name in inits and name not in self._const:
                        self._const[name] = torch.tensor(inits[name].astype(np.float32))
                self._steps.append((op, node))
            else:
                raise QatGraphError(f"no torch interpretation of {op} ({node.name}) before {logits}")
        for i, (name, value) in enumerate(self._const.items()):
            self.register_buffer(f"const_{i}", value)
            self._const[name] = getattr(self, f"const_{i}")

    def weight(self, index: int) -> torch.Tensor:
        """The float weight behind the index-th int8 weight."""
        return self.weights[index] * getattr(self, f"weight_unit_{index}")

    def bias(self, index: int) -> torch.Tensor:
        return self.biases[index] * getattr(self, f"bias_unit_{index}")

    @staticmethod
    def _needed(model: Any, target: str) -> set[str]:
        """Every tensor the target depends on."""
        producers = {o: n for n in model.graph.node for o in n.output}
        needed, stack = set(), [target]
        while stack:
            name = stack.pop()
            if name in needed or name not in producers:
                continue
            needed.add(name)
            stack.extend(producers[name].input)
        return needed

    def _param(self, name: str, env: dict[str, torch.Tensor]) -> torch.Tensor:
        if name in self._param_of:
            kind, index = self._param_of[name]
            return self.weight(index) if kind == "w" else self.bias(index)
        if name in env:
            return env[name]
        return self._const[name]

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        env: dict[str, torch.Tensor] = {self.input_name: image}
        for op, payload in self._steps:
            if op == "fq":
                src, dst = payload
                scale, zero = self._act_scale[dst]
                env[dst] = fake_quant_activation(env[src], scale, zero) if self.quantize else env[src]
                continue
            node = payload
            x = [self._param(i, env) if i else None for i in node.input]
            if op in ("Conv", "Gemm") and self.quantize:
                x[1:] = self._quantized_layer(node, x)
            env[node.output[0]] = self._run_op(op, node, x, env)
        return env[self.logits]

    def _run_op(self, op: str, node: Any, x: list[Any], env: dict[str, torch.Tensor]) -> torch.Tensor:
        if op == "Transpose":
            return x[0].permute(*_attr(node, "perm", None))
        if op == "Cast":
            return x[0].to(torch.float32)
        if op == "Div":
            return x[0] / x[1]
        if op == "Sub":
            return x[0] - x[1]
        if op == "Add":
            return x[0] + x[1]
        if op == "Mul":
            return x[0] * x[1]
        if op == "Clip":
            low = x[1] if len(x) > 1 and x[1] is not None else None
            high = x[2] if len(x) > 2 and x[2] is not None else None
            return torch.clamp(x[0], low, high)
        if op == "ReduceMean":
            axes = _attr(node, "axes", None)
            if axes is None and len(x) > 1:
                axes = [int(a) for a in x[1].tolist()]
            return x[0].mean(dim=tuple(axes), keepdim=bool(_attr(node, "keepdims", 1)))
        if op == "Gemm":
            b = x[1].t() if _attr(node, "transB", 0) else x[1]
            a = x[0].t() if _attr(node, "transA", 0) else x[0]
            out = a @ b
            return out + x[2] if len(x) > 2 else out
        if op == "Conv":
            pads = list(_attr(node, "pads", [0, 0, 0, 0]))
            h = F.pad(x[0], (pads[1], pads[3], pads[0], pads[2])) if any(pads) else x[0]
            bias = x[2] if len(x) > 2 else None
            return F.conv2d(
                h,
                x[1],
                bias,
                stride=tuple(_attr(node, "strides", [1, 1])),
                dilation=tuple(_attr(node, "dilations", [1, 1])),
                groups=int(_attr(node, "group", 1)),
            )
        raise QatGraphError(op)

    def _quantized_layer(self, node: Any, x: list[Any]) -> list[Any]:
        """Weight (and bias) of a Conv/Gemm on the int8 (int32) grids ONNX Runtime writes them on."""
        inputs = node.input
        input_scale = self._act_scale[inputs[0]][0] if inputs[0] in self._act_scale else None
        bias = x[2] if len(x) > 2 else None
        scale = layer_weight_scale(x[1], bias, input_scale)
        gain = self.gains[self._param_of[inputs[1]][1]]
        weight = fake_quant_weight(x[1], scale) * gain.reshape(-1, *([1] * (x[1].dim() - 1)))
        scale = scale * gain
        if bias is None:
            return [weight]
        if input_scale is None or inputs[2] not in self._param_of:
            return [weight, bias]
        bias_scale = input_scale * scale
        return [weight, torch.clamp(_round_ste(bias / bias_scale), -INT32_LIMIT, INT32_LIMIT) * bias_scale]


def write_qdq(module: QdqModule, qdq_path: Path, out_path: Path) -> None:
    """The QDQ graph of `qdq_path` with the module's weights and biases quantised into it."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(qdq_path))
    inits = {i.name: i for i in model.graph.initializer}
    dq = {n.input[0]: n for n in model.graph.node if n.op_type == "DequantizeLinear"}
    w_scale: dict[str, npt.NDArray[np.float32]] = {}
    layer_of = {n.input[1]: n for n in model.graph.node if n.op_type in ("Conv", "Gemm")}
    for index, name in enumerate(module.weight_names):
        w = module.weight(index)
        node = dq[name]
        layer = layer_of[node.output[0]]
        bias = module._param(layer.input[2], {}) if len(layer.input) > 2 else None
        input_scale = module._act_scale.get(layer.input[0], (None, 0))[0]
        grid = layer_weight_scale(w, bias, input_scale).detach().numpy().astype(np.float32)
        shape = (-1,) + (1,) * (w.dim() - 1)
        q = np.clip(np.round(w.detach().numpy() / grid.reshape(shape)), INT8_MIN, INT8_MAX).astype(np.int8)
        scale = (grid * module.gains[index].detach().numpy()).astype(np.float32)
        inits[name].CopyFrom(numpy_helper.from_array(q, name))
        inits[node.input[1]].CopyFrom(numpy_helper.from_array(scale, node.input[1]))
        w_scale[node.output[0]] = scale
    consumers = {
        i: n for n in model.graph.node if n.op_type in ("Conv", "Gemm") for i in n.input[2:3]
    }  # bias DQ output -> layer
    for index, name in enumerate(module.bias_names):
        b = module.bias(index)
        node = dq[name]
        layer = consumers[node.output[0]]
        in_scale = module._act_scale[layer.input[0]][0]
        scale = (in_scale * w_scale[layer.input[1]].astype(np.float64)).astype(np.float32)
        q = np.clip(
            np.round(b.detach().numpy().astype(np.float64) / scale), -INT32_LIMIT, INT32_LIMIT
        ).astype(np.int32)
        inits[name].CopyFrom(numpy_helper.from_array(q, name))
        inits[node.input[1]].CopyFrom(numpy_helper.from_array(scale, node.input[1]))
    onnx.save(model, str(out_path))


def distill(
    module: QdqModule,
    views: Callable[[np.random.Generator, int], npt.NDArray[np.uint8]],
    teacher: Callable[[npt.NDArray[np.uint8]], npt.NDArray[np.float32]],
    class_index: npt.NDArray[np.int64],
    config: QatConfig,
) -> list[float]:
    """Fine-tune `module` toward the teacher's logits on views(rng, batch); returns the loss per step.

    Loss: KL(fp32 || int8) of the 1000-class softmax plus `mixture_weight` times the KL of the food
    classes' probabilities renormalised to sum to one (what the carbohydrate mixture reads).
    """
    rng = np.random.default_rng(config.seed)
    torch.manual_seed(config.seed)
    trained: list[tuple[list[nn.Parameter], float]] = [
        (list(module.biases), config.lr * config.bias_lr_ratio)
    ]
    if config.train_weights:
        trained.append((list(module.weights), config.lr))
    if config.gain_lr:
        trained.append((list(module.gains), config.gain_lr))
    for parameter in module.parameters():
        parameter.requires_grad_(any(parameter is q for params, _ in trained for q in params))
    optimiser = torch.optim.Adam([{"params": params, "lr": lr} for params, lr in trained])
    if config.schedule not in ("constant", "cosine"):
        raise ValueError(f"unknown learning-rate schedule {config.schedule!r}: use 'constant' or 'cosine'")
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimiser,
        lambda step: (
            1.0 if config.schedule == "constant" else 0.5 * (1 + np.cos(np.pi * step / max(config.steps, 1)))
        ),
    )
    moving = [q for params, _ in trained for q in params]
    start_average = int(config.average_from * config.steps)
    averaged = [torch.zeros_like(q) for q in moving] if start_average < config.steps else []
    index = torch.from_numpy(np.asarray(class_index, dtype=np.int64))
    losses = []
    module.train()
    for step in range(config.steps):
        batch = views(rng, config.batch)
        target = torch.from_numpy(teacher(batch))
        logits = module(torch.from_numpy(batch))
        p_t = F.log_softmax(target, dim=1)
        p_s = F.log_softmax(logits, dim=1)
        loss = F.kl_div(p_s, p_t, log_target=True, reduction="batchmean")
        if config.mixture_weight:
            m_t = F.log_softmax(target[:, index], dim=1)
            m_s = F.log_softmax(logits[:, index], dim=1)
            loss = loss + config.mixture_weight * F.kl_div(m_s, m_t, log_target=True, reduction="batchmean")
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        scheduler.step()
        if step >= start_average:
            with torch.no_grad():
                for mean, q in zip(averaged, moving, strict=True):
                    mean += (q - mean) / (step - start_average + 1)
        losses.append(float(loss.detach()))
        if step % 20 == 0 or step == config.steps - 1:
            logger.info("qat step %d loss %.5f", step, losses[-1])
    if start_average < config.steps:
        with torch.no_grad():
            for mean, q in zip(averaged, moving, strict=True):
                q.copy_(mean)
    module.eval()
    return losses


def classifier_output(model: Any, op_type: str = "Gemm") -> str:
    """The output tensor of the graph's last `op_type` node (the ImageNet logits)."""
    nodes = [n for n in model.graph.node if n.op_type == op_type]
    if not nodes:
        raise QatGraphError(f"the graph has no {op_type} node")
    return str(nodes[-1].output[0])


def dequantized_output(model: Any, tensor: str) -> str:
    """The DequantizeLinear output that carries `tensor` after its QuantizeLinear (or `tensor` itself)."""
    graph = model.graph
    quant = next((n for n in graph.node if n.op_type == "QuantizeLinear" and n.input[0] == tensor), None)
    if quant is None:
        return tensor
    dq = next(n for n in graph.node if n.op_type == "DequantizeLinear" and n.input[0] == quant.output[0])
    return str(dq.output[0])


def teacher_logits(
    fp32_path: Path, images: npt.NDArray[np.uint8], input_name: str, batch: int = 16
) -> npt.NDArray[np.float32]:
    """(N, classes) logits of the fp32 model (its classifier's output) on `images`, by ONNX Runtime."""
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(fp32_path))
    name = classifier_output(model)
    model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return np.concatenate(
        [session.run([name], {input_name: images[i : i + batch]})[0] for i in range(0, len(images), batch)]
    )


def fine_tune_qdq(
    fp32_path: Path,
    qdq_path: Path,
    float_path: Path,
    images: npt.NDArray[np.uint8],
    out_path: Path,
    config: QatConfig,
) -> list[float]:
    """Distil the fp32 model into the int8 graph `qdq_path` (quantised from `float_path`) on `images`;
    write the fine-tuned int8 graph to `out_path`. Returns the training loss per step."""
    import onnx
    from onnx import numpy_helper

    qdq = onnx.load(str(qdq_path))
    fp32 = onnx.load(str(fp32_path))
    input_name = fp32.graph.input[0].name
    index = next((i for i in fp32.graph.initializer if i.name == "class_index"), None)
    class_index = (
        numpy_helper.to_array(index).astype(np.int64) if index is not None else np.zeros(0, np.int64)
    )
    targets = teacher_logits(fp32_path, images, input_name)
    module = QdqModule(qdq_path, dequantized_output(qdq, classifier_output(qdq)), float_path)
    chosen: list[npt.NDArray[np.int64]] = []

    def views(rng: np.random.Generator, n: int) -> npt.NDArray[np.uint8]:
        chosen.append(rng.choice(len(images), min(n, len(images)), replace=False))
        return images[chosen[-1]]

    def teacher(_batch: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        return targets[chosen[-1]]

    if not class_index.size:
        config = QatConfig(**{**config.__dict__, "mixture_weight": 0.0})
    losses = distill(module, views, teacher, class_index, config)
    write_qdq(module, qdq_path, out_path)
    return losses
