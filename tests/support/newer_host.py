"""Stand-ins for what ComfyUI hosts newer than the tested 0.3.64 do differently (read from the 0.38.x source:
comfy/model_management.py, comfy/ops.py, comfy/model_patcher.py), so CI covers them without such a host.

- Cancel: InterruptProcessingException derives from BaseException, and every comfy.ops layer calls
  throw_exception_if_processing_interrupted() at the start of its forward (which clears the flag, then raises).
- Dynamic VRAM: comfy.ops Linear is created with weight and bias None and Embedding with a meta weight; only
  load_state_dict fills them (with assign=True, the given tensors themselves).
- ModelPatcher.clone(disable_dynamic=...): a dynamic patcher's clone with disable_dynamic=True is a plain one.
"""
from __future__ import annotations

import torch
from torch import nn


class InterruptProcessingException(BaseException):
    """As the newest host declares it: no Exception, so `except Exception` lets it through."""


class ModelManagement:
    """comfy.model_management's Cancel API as the newest host has it; `raised` keeps the interrupts it raised."""

    InterruptProcessingException = InterruptProcessingException

    def __init__(self) -> None:
        self.interrupted = False
        self.raised: list[BaseException] = []

    def interrupt_current_processing(self, value: bool = True) -> None:
        self.interrupted = value

    def processing_interrupted(self) -> bool:
        return self.interrupted

    def throw_exception_if_processing_interrupted(self) -> None:
        if self.interrupted:
            self.interrupted = False
            self.raised.append(InterruptProcessingException())
            raise self.raised[-1]

    def check_in_every_layer(self, model: nn.Module) -> None:
        """Every leaf layer checks for Cancel before its forward, as comfy.ops layers do."""
        for module in model.modules():
            if not list(module.children()):
                module.register_forward_pre_hook(lambda *_: self.throw_exception_if_processing_interrupted())


def _filled(tensor: torch.Tensor, assign: bool) -> nn.Parameter:
    return nn.Parameter(tensor if assign else tensor.clone(), requires_grad=False)


class EmptyLinear(nn.Linear):
    """comfy.ops.disable_weight_init.Linear under dynamic VRAM: nothing allocated until load_state_dict."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None, dtype=None):
        nn.Module.__init__(self)
        self.in_features, self.out_features = in_features, out_features
        self.weight, self.bias = None, None

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs):
        assign = local_metadata.get("assign_to_params_buffers", False)
        for key, value in state_dict.items():
            if not key.startswith(prefix):
                continue
            name = key[len(prefix):]
            if name in ("weight", "bias"):
                setattr(self, name, _filled(value, assign))
            elif "." not in name:
                unexpected_keys.append(key)
        if self.weight is None:
            missing_keys.append(prefix + "weight")


class EmptyEmbedding(nn.Embedding):
    """comfy.ops.disable_weight_init.Embedding under dynamic VRAM: a meta weight (shape only) until load_state_dict."""

    def __init__(self, num_embeddings: int, embedding_dim: int, *args, device=None, dtype=None, **kwargs):
        nn.Module.__init__(self)
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx, self.max_norm, self.norm_type, self.scale_grad_by_freq, self.sparse = None, None, 2.0, False, False
        self.weight = nn.Parameter(torch.empty(num_embeddings, embedding_dim, device="meta", dtype=dtype), requires_grad=False)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs):
        if prefix + "weight" in state_dict:
            self.weight = _filled(state_dict[prefix + "weight"], local_metadata.get("assign_to_params_buffers", False))
        else:
            missing_keys.append(prefix + "weight")


class EmptyLayerOps:
    """An `ops` namespace whose Linear and Embedding are created empty; the other layers are torch's."""

    Linear, Embedding, LayerNorm, Conv2d = EmptyLinear, EmptyEmbedding, nn.LayerNorm, nn.Conv2d


class LegacyPatcher:
    """0.3.64's ModelPatcher: clone() takes no disable_dynamic and shares the model."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    def clone(self) -> "LegacyPatcher":
        return LegacyPatcher(self.model)


class DynamicPatcher:
    """The newest host's ModelPatcherDynamic: clone(disable_dynamic=True) is a plain patcher of a model the loader
    builds again (the host's cached_patcher_init, here `reload`); without a reload it raises as the host does."""

    def __init__(self, model: nn.Module, reload=None) -> None:
        self.model, self.reload = model, reload

    def clone(self, disable_dynamic: bool = False, model_override=None, force_deepcopy: bool = False):
        if not disable_dynamic:
            return DynamicPatcher(self.model, self.reload)
        if self.reload is None:
            raise RuntimeError("Cannot create non-dynamic delegate: cached_patcher_init is not initialized.")
        return LegacyPatcher(self.reload())


class LegacyCLIP:
    """0.3.64's comfy.sd.CLIP: clone() shares the patcher's model, which is cond_stage_model."""

    def __init__(self, patcher) -> None:
        self.patcher, self.cond_stage_model = patcher, patcher.model

    def clone(self) -> "LegacyCLIP":
        return LegacyCLIP(self.patcher.clone())


class DynamicCLIP(LegacyCLIP):
    """The newest comfy.sd.CLIP: clone(disable_dynamic=...) clones the patcher but keeps the old cond_stage_model."""

    def clone(self, disable_dynamic: bool = False) -> "DynamicCLIP":
        clone = DynamicCLIP(self.patcher.clone(disable_dynamic=disable_dynamic))
        clone.cond_stage_model = self.cond_stage_model
        return clone
